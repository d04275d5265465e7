"""Duplicate customers: candidates by blocking, scores with evidence, clusters that do not chain.

The teams' rule is "a customer is unique by name + phone". Candidates come
from blocks that share an identity phone number (switchboards shared by
many records and 400/800 numbers are not identity), the same name key
(legal form, region and punctuation removed; see :mod:`crmbook.names`) or
the same trade-name + industry bigram key; never all pairs. A pair scores:

* 0.55 for an equal phone, plus 0.45 × name similarity (0 when the names are
  known to be different companies: another branch, region or industry);
* 0.5 + 0.5 × similarity for an equal name key without a shared phone only
  when a contact person or company e-mail domain also matches; a name alone
  scores 0.5 (shown for review, below the default merge threshold);
* +0.1 (capped at 1) for a shared contact person or e-mail domain.

A trade-name key only blocks; it never decides alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import pandas as pd

from crmbook.book import Book
from crmbook.names import email_domain, name_similarity, normalize_person_name, parse_company_name
from crmbook.phones import phone_keys, shared_numbers

__all__ = ["CandidatePair", "Cluster", "DuplicateResult", "find_duplicates"]

MAX_BLOCK = 50
REVIEW_THRESHOLD = 0.5
CLUSTER_LINK = 0.7


@dataclass(frozen=True)
class CandidatePair:
    row_a: int
    row_b: int
    id_a: str
    id_b: str
    score: float
    evidence: dict[str, Any]


@dataclass
class Cluster:
    rows: list[int]
    ids: list[str]
    score: float
    survivor: int
    pairs: list[CandidatePair] = field(default_factory=list)


@dataclass
class DuplicateResult:
    pairs: list[CandidatePair]
    clusters: list[Cluster]
    compared: int = 0


def _str(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()


def find_duplicates(
    book: Book,
    *,
    not_duplicates: frozenset[tuple[str, str]] = frozenset(),
    threshold: float = REVIEW_THRESHOLD,
) -> DuplicateResult:
    table = book.tables.get("customers")
    if table is None or "name" not in table.data:
        return DuplicateResult([], [])
    data = table.data
    rows = [int(r) for r in data.index]
    names = {r: parse_company_name(_str(v)) for r, v in zip(rows, data["name"], strict=True)}
    ids = {
        r: _str(v)
        for r, v in zip(rows, data.get("customer_id", pd.Series(None, index=data.index)), strict=True)
    }
    phones = {
        r: phone_keys(v)
        for r, v in zip(rows, data.get("phone", pd.Series(None, index=data.index)), strict=True)
    }
    domains = {
        r: email_domain(v)
        for r, v in zip(rows, data.get("email", pd.Series(None, index=data.index)), strict=True)
    }
    common = shared_numbers(phones.values())
    contacts: dict[str, set[str]] = defaultdict(set)
    ctable = book.tables.get("contacts")
    if ctable is not None and {"customer_id", "name"} <= set(ctable.data.columns):
        for cid, person in zip(ctable.data["customer_id"], ctable.data["name"], strict=True):
            if _str(cid) and _str(person):
                contacts[_str(cid)].add(normalize_person_name(person))
    blocks: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if not names[r].key:
            continue
        for p in phones[r] - common:
            blocks["p:" + p].append(r)
        blocks["n:" + names[r].key].append(r)
        trade = names[r].trade_name + names[r].industry
        if len(trade) >= 3:
            blocks["t:" + trade[:2] + trade[-2:]].append(r)
    seen: set[tuple[int, int]] = set()
    pairs: list[CandidatePair] = []
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:  # huge blocks are common words, not identity
            continue
        for a, b in combinations(sorted(set(members)), 2):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            pair = _score(a, b, names, ids, phones, domains, contacts, common)
            if pair is None or pair.score < threshold:
                continue
            if tuple(sorted((ids[a], ids[b]))) in not_duplicates:
                continue
            pairs.append(pair)
    return DuplicateResult(pairs, _clusters(pairs, data), compared=len(seen))


def _score(a: int, b: int, names, ids, phones, domains, contacts, common) -> CandidatePair | None:  # type: ignore[no-untyped-def]
    na, nb = names[a], names[b]
    similarity = name_similarity(na, nb)
    shared_phone = sorted((phones[a] & phones[b]) - common)
    evidence: dict[str, Any] = {"name": round(similarity, 2)}
    same_person = contacts.get(ids[a], set()) & contacts.get(ids[b], set()) if ids[a] and ids[b] else set()
    same_domain = domains[a] is not None and domains[a] == domains[b]
    if same_person:
        evidence["contact"] = sorted(same_person)[0]
    if same_domain:
        evidence["email_domain"] = domains[a]
    if shared_phone:
        evidence["phone"] = shared_phone[0]
        if similarity == 0.0 and na.key != nb.key:
            return None  # a shared number between different companies (an agency, a switchboard)
        score = 0.55 + 0.45 * similarity
    elif na.key == nb.key and similarity > 0:
        score = 0.5 + (0.4 if (same_person or same_domain) else 0.0)
    else:
        return None
    if same_person or same_domain:
        score += 0.1
    return CandidatePair(a, b, ids[a], ids[b], round(min(score, 1.0), 3), evidence)


def _clusters(pairs: list[CandidatePair], data: pd.DataFrame) -> list[Cluster]:
    """Connected components of strong links, split so every member links to the cluster's centre."""
    strong = [p for p in pairs if p.score >= CLUSTER_LINK]
    links: dict[int, dict[int, CandidatePair]] = defaultdict(dict)
    for p in strong:
        links[p.row_a][p.row_b] = p
        links[p.row_b][p.row_a] = p
    clusters: list[Cluster] = []
    done: set[int] = set()
    for p in sorted(strong, key=lambda p: -p.score):
        for start in (p.row_a, p.row_b):
            if start in done:
                continue
            centre = start
            members = [centre] + [m for m in sorted(links[centre]) if m not in done]
            if len(members) < 2:
                continue
            done.update(members)
            member_pairs = [links[centre][m] for m in members[1:]]
            score = min(x.score for x in member_pairs)
            clusters.append(
                Cluster(
                    members,
                    [_str(data.at[m, "customer_id"]) if "customer_id" in data else "" for m in members],
                    score,
                    _survivor(members, data),
                    member_pairs,
                )
            )
    # Weaker pairs (review only) stay pairs: each its own two-member cluster.
    for p in pairs:
        if p.score < CLUSTER_LINK and p.row_a not in done and p.row_b not in done:
            clusters.append(
                Cluster(
                    [p.row_a, p.row_b], [p.id_a, p.id_b], p.score, _survivor([p.row_a, p.row_b], data), [p]
                )
            )
    return clusters


def _survivor(rows: list[int], data: pd.DataFrame) -> int:
    """The most complete record, the most recently created on a tie."""

    def rank(r: int) -> tuple[int, str]:
        filled = int(data.loc[r].notna().sum())
        created = _str(data.at[r, "created"]) if "created" in data else ""
        return filled, created

    return max(rows, key=rank)
