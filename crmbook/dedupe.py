"""Duplicate customers: candidates by blocking, scores with evidence, clusters that do not chain.

The teams' rule is "a customer is unique by name + phone". Candidates come
from blocks that share an identity phone number (switchboards shared by
many records and 400/800 numbers are not identity), the same name key
(legal form, region and punctuation removed; see :mod:`crmbook.names`) or
the same trade-name + industry bigram key; never all pairs. A pair scores:

* 0.55 for an equal phone, plus 0.45 × name similarity (0 when the names are
  known to be different companies: another branch, region or industry);
* 0.9 for an equal name key without a shared phone when a contact person,
  company e-mail domain or the address (words ≥ 0.9 alike, numbers not
  different) also matches; a name alone scores 0.5 (shown for review, below
  the default merge threshold);
* +0.1 (capped at 1) for a shared contact person or e-mail domain, or a
  matching address;
* names in Latin letters (people, Western firms) with an address each are
  scored otherwise by a logistic model over the name's words in any order,
  the address's words and its numbers (:data:`ADDRESS_MODEL`, fitted on the
  public FEBRL person data): an equal name at a clearly different address is
  not listed. Family members share homes and firms share buildings, so a
  name less than 90% alike stops at 0.9: listed for review, never merged
  without one at the default threshold;
* a Chinese name at least 75% alike at the same address (all numbers equal)
  scores 0.5 + 0.5 × similarity, at most 0.9 (below the default merge
  threshold): Chinese companies keep registered, office and warehouse
  addresses, so an address never counts against them.

Blocks also join records that share, for Latin names, a name word and an
address number, two address numbers (house number and postcode), or an
address's first word and a number; for Chinese addresses, the street and
building words and a number. A trade-name or address key only blocks; it
never decides alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import pandas as pd

from crmbook.addresses import Address, address_similarity, parse_address
from crmbook.book import Book, Table
from crmbook.names import (
    CompanyName,
    email_domain,
    name_similarity,
    normalize_email,
    normalize_person_name,
    parse_company_name,
    token_similarity,
)
from crmbook.phones import COMMON_SWITCHBOARD_THRESHOLD, phone_keys, shared_numbers
from crmbook.snapshot import user_fields

__all__ = [
    "CandidatePair",
    "Cluster",
    "CustomerFeatures",
    "DuplicateResult",
    "address_model_score",
    "customer_features",
    "find_duplicates",
]

MAX_BLOCK = 50
WINDOW = 8  # see _block_pairs
REVIEW_THRESHOLD = 0.5
CLUSTER_LINK = 0.7
# Weights of the name-and-address model (name words, address words, address numbers, intercept),
# a logistic regression fitted on FEBRL's febrl2 set and then frozen; febrl1 and febrl3 are held
# out to evaluate it. `python benchmarks/febrl_eval.py --fit` refits and prints them.
ADDRESS_MODEL = (10.8, 22.3, 7.1, -26.5)
UNKNOWN_NUMBERS = 0.5  # the numbers' similarity when either address has none
ADDRESS_AGREES = 0.9  # address words this similar corroborate an equal name like a shared contact
REVIEW_ONLY_CAP = 0.9  # see the module docstring
SAME_NAME = 0.9  # below this, a name at a shared address is a household member or a neighbour firm
SIMILAR_CHINESE_NAME = 0.75  # a Chinese name this alike at the same address is worth a review
# A weak name (王先生, Mr. Wang, 客户1) with a phone, e-mail or WeChat in common: grouped for review,
# never merged at the default threshold (the name adds nothing to the shared number).
WEAK_NAME_SCORE = 0.75


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


@dataclass(frozen=True)
class CustomerFeatures:
    """What matching reads from each customer row's own cells: its name, phone numbers, e-mail
    domain and address, parsed (the costly part of a search). It needs nothing but the customers
    sheet as people typed it, so a refresh works it out while the rest of the book is still read."""

    rows: list[int]
    names: dict[int, CompanyName]
    phones: dict[int, frozenset[str]]
    domains: dict[int, str | None]
    addresses: dict[int, Address | None]
    emails: dict[int, str | None] = field(default_factory=dict)


def customer_features(data: pd.DataFrame) -> CustomerFeatures:
    """The :class:`CustomerFeatures` of the customer rows in ``data``."""
    rows = [int(r) for r in data.index]

    def per_row(key: str, parse):  # type: ignore[no-untyped-def]
        return {r: parse(v) for r, v in zip(rows, _column(data, key), strict=True)}

    return CustomerFeatures(
        rows=rows,
        names=per_row("name", lambda v: parse_company_name(_str(v))),
        phones=per_row("phone", phone_keys),
        domains=per_row("email", email_domain),
        addresses=per_row("address", lambda v: parse_address(_str(v) or None)),
        emails=per_row("email", normalize_email),
    )


@dataclass(frozen=True)
class _Customers:
    """What matching knows of each customer row."""

    names: dict[int, CompanyName]
    ids: dict[int, str]
    phones: dict[int, frozenset[str]]
    domains: dict[int, str | None]
    addresses: dict[int, Address | None]
    contacts: dict[str, set[str]]
    common_phones: frozenset[str]
    ways: dict[int, frozenset[str]]  # e-mail addresses and WeChat IDs shared with a few others


def _column(data: pd.DataFrame, key: str) -> pd.Series:
    return data[key] if key in data else pd.Series(None, index=data.index, dtype=object)


def _customers(book: Book, data: pd.DataFrame, features: CustomerFeatures | None) -> _Customers:
    rows = [int(r) for r in data.index]
    if features is None or features.rows != rows:
        features = customer_features(data)
    contacts: dict[str, set[str]] = defaultdict(set)
    ctable = book.tables.get("contacts")
    if ctable is not None and {"customer_id", "name"} <= set(ctable.data.columns):
        for cid, person in zip(ctable.data["customer_id"], ctable.data["name"], strict=True):
            if _str(cid) and _str(person):
                contacts[_str(cid)].add(normalize_person_name(person))
    ids = {r: _str(v) for r, v in zip(rows, _column(data, "customer_id"), strict=True)}
    ways = _shared_ways(rows, ids, features.emails, ctable)
    return _Customers(
        names=features.names,
        ids=ids,
        phones=features.phones,
        domains=features.domains,
        addresses=features.addresses,
        contacts=contacts,
        common_phones=shared_numbers(features.phones.values()),
        ways=ways,
    )


_SPACES_AROUND_LINES = re.compile(r"[ \t\u3000]*\n[ \t\u3000]*")


def _shared_ways(
    rows: list[int], ids: dict[int, str], emails: dict[int, str | None], contacts: Table | None
) -> dict[int, frozenset[str]]:
    """Per customer row, its e-mail address and its contacts' WeChat IDs that one to three other
    customers have too (on five or more customers they are an agency's, not identity)."""
    pairs = {(r, "e:" + email) for r, email in emails.items() if email}
    if contacts is not None and {"customer_id", "wechat"} <= set(contacts.data.columns):
        frame = contacts.data[["customer_id", "wechat"]].dropna()
        customer_rows = frame["customer_id"].map({cid: r for r, cid in ids.items() if cid})
        known = customer_rows.notna()
        texts = [v if type(v) is str else _str(v) for v in frame["wechat"][known].tolist()]
        # WeChat IDs folded (spaces around, case) in one pass over their joined text
        joined = _SPACES_AROUND_LINES.sub("\n", "\n".join(texts)).strip(" \t\u3000").lower()
        lines = joined.split("\n")
        if len(lines) == len(texts):  # no line breaks inside an ID
            seen = Counter(lines)
            rows_of = customer_rows[known].astype(int).tolist()
            pairs.update(
                (row, "w:" + text)
                for row, text in zip(rows_of, lines, strict=True)
                if text and seen[text] > 1
            )
    counts = Counter(way for _, way in pairs)
    shared: dict[int, set[str]] = defaultdict(set)
    for row, way in pairs:
        if 2 <= counts[way] < COMMON_SWITCHBOARD_THRESHOLD:
            shared[row].add(way)
    ways = dict.fromkeys(rows, frozenset())
    ways.update((row, frozenset(w)) for row, w in shared.items())
    return ways


def _block_keys(
    name: CompanyName, phones: frozenset[str], ways: frozenset[str], address: Address | None
) -> list[str]:
    keys = ["p:" + p for p in phones] + ["i:" + w for w in ways]
    if name.weak:  # no evidence in the name: only a phone, e-mail or WeChat in common pairs it
        return keys
    keys.append("n:" + name.key)
    trade = name.trade_name + name.industry
    if len(trade) >= 3:
        keys.append("t:" + trade[:2] + trade[-2:])
    if address is None:
        return keys
    numbers = sorted(address.numbers)[:4]
    if address.chinese:  # the same street, building and number
        return keys + [f"aw:{address.words}|{n}" for n in numbers]
    keys += [f"a:{word}|{n}" for word in name.tokens if len(word) >= 2 for n in numbers]
    keys += [f"aa:{x}|{y}" for x, y in combinations(numbers, 2)]
    if address.first_word:
        keys += [f"aw:{address.first_word}|{n}" for n in numbers]
    return keys


def find_duplicates(
    book: Book,
    *,
    not_duplicates: frozenset[tuple[str, str]] = frozenset(),
    threshold: float = REVIEW_THRESHOLD,
    features: CustomerFeatures | None = None,
) -> DuplicateResult:
    """Candidate duplicate pairs among the customers and the clusters they form.

    ``features``: :func:`customer_features` of this book's customers sheet, when already worked
    out (they depend only on the cells people typed, not on IDs); computed here otherwise.
    """
    table = book.tables.get("customers")
    if table is None or "name" not in table.data:
        return DuplicateResult([], [])
    data = table.data
    known = _customers(book, data, features)
    blocks: dict[str, list[int]] = defaultdict(list)
    for r, name in known.names.items():
        if name.key:
            ways = known.ways[r]
            for key in _block_keys(name, known.phones[r] - known.common_phones, ways, known.addresses[r]):
                blocks[key].append(r)
    seen: set[tuple[int, int]] = set()
    pairs: list[CandidatePair] = []
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:  # huge blocks are common words, not identity
            continue
        for a, b in _block_pairs(sorted(set(members)), known):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            pair = _score(a, b, known)
            if pair is None or pair.score < threshold:
                continue
            if tuple(sorted((known.ids[a], known.ids[b]))) in not_duplicates:
                continue
            pairs.append(pair)
    return DuplicateResult(pairs, _clusters(pairs, data[user_fields(table)]), compared=len(seen))


def _block_pairs(members: list[int], known: _Customers) -> Iterator[tuple[int, int]]:
    """Every pair of a small block; in a bigger one, each record with its next WINDOW by spelling.

    Bigger blocks are common name keys (many different firms called 华信科技); comparing within a
    window of neighbours in the order of the names' folded spelling keeps the cost linear in the
    number of customers and still meets the variants that spell a name almost alike.
    """
    if len(members) <= WINDOW + 1:
        yield from combinations(members, 2)
        return
    ordered = sorted(members, key=lambda r: (known.names[r].folded, r))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 : i + 1 + WINDOW]:
            yield (a, b) if a < b else (b, a)


def address_model_score(name: float, words: float, numbers: float | None) -> float:
    """The name-and-address model's probability that two records are one customer."""
    w_name, w_words, w_numbers, intercept = ADDRESS_MODEL
    numbers = UNKNOWN_NUMBERS if numbers is None else numbers
    return 1.0 / (1.0 + math.exp(-(intercept + w_name * name + w_words * words + w_numbers * numbers)))


def _score(a: int, b: int, known: _Customers) -> CandidatePair | None:
    na, nb = known.names[a], known.names[b]
    ida, idb = known.ids[a], known.ids[b]
    similarity = name_similarity(na, nb)
    shared_phone = sorted((known.phones[a] & known.phones[b]) - known.common_phones)
    shared_way = sorted(known.ways[a] & known.ways[b])
    evidence: dict[str, Any] = {"name": round(similarity, 2)}
    if shared_way:
        evidence["email" if shared_way[0].startswith("e:") else "wechat"] = shared_way[0][2:]
    if na.weak or nb.weak:  # 王先生, Mr. Wang, 客户1: a phone, e-mail or WeChat in common decides alone
        if not (shared_phone or shared_way) or _other_surnames(na, nb):
            return None
        if shared_phone:
            evidence["phone"] = shared_phone[0]
        evidence["weak_name"] = True
        return CandidatePair(a, b, ida, idb, WEAK_NAME_SCORE, evidence)
    same_person = known.contacts.get(ida, set()) & known.contacts.get(idb, set()) if ida and idb else set()
    domain = known.domains[a]
    same_domain = domain is not None and domain == known.domains[b]
    address_a, address_b = known.addresses[a], known.addresses[b]
    words, numbers = address_similarity(address_a, address_b) if address_a and address_b else (0.0, None)
    same_address = words >= ADDRESS_AGREES and numbers != 0.0
    if same_person:
        evidence["contact"] = sorted(same_person)[0]
    if same_domain:
        evidence["email_domain"] = domain
    if address_a and address_b:
        evidence["address"] = round(words, 2)
    corroborated = bool(same_person or same_domain or same_address)
    # Personal and Western names with an address each: the name-and-address model decides.
    address_decides = bool(address_a and address_b and na.latin and nb.latin)
    if shared_phone or shared_way:
        if shared_phone:
            evidence["phone"] = shared_phone[0]
        if similarity == 0.0:
            # different companies sharing a number (an agency, a switchboard), or names that say so
            # (a branch, the same brand in another city or industry)
            return None
        score = 0.55 + 0.45 * similarity
    elif na.key == nb.key and similarity > 0 and (corroborated or not address_decides):
        score = 0.5 + (0.4 if corroborated else 0.0)
    elif address_decides:
        name = token_similarity(na, nb)
        evidence.update(name=round(name, 3), address_numbers=numbers)
        score = address_model_score(name, words, numbers)
        if name < SAME_NAME:
            score = min(score, REVIEW_ONLY_CAP)
            evidence["review_only"] = True
        return CandidatePair(a, b, ida, idb, round(score, 3), evidence)
    elif same_address and numbers == 1.0 and similarity >= SIMILAR_CHINESE_NAME:
        score = min(0.5 + 0.5 * similarity, REVIEW_ONLY_CAP)
        evidence["review_only"] = True
        return CandidatePair(a, b, ida, idb, round(score, 3), evidence)
    else:
        return None
    if corroborated:
        score += 0.1
    return CandidatePair(a, b, ida, idb, round(min(score, 1.0), 3), evidence)


def _surname(name: CompanyName) -> str:
    return name.surname or (name.folded[:1] if name.is_person else "")


def _other_surnames(a: CompanyName, b: CompanyName) -> bool:
    """True when both names show a surname and they differ (王先生 and 李女士 sharing a phone)."""
    sa, sb = _surname(a), _surname(b)
    return bool(sa and sb and sa != sb)


def _clusters(pairs: list[CandidatePair], data: pd.DataFrame) -> list[Cluster]:
    """Connected components of strong links, split so every member links to the cluster's centre."""
    if not pairs:
        return []
    ids = dict(zip(data.index, _column(data, "customer_id").map(_str), strict=True))
    rank = dict(
        zip(
            data.index,
            zip(data.notna().sum(axis=1), _column(data, "created").map(_str), strict=True),
            strict=True,
        )
    )

    def survivor(rows: list[int]) -> int:
        """The most complete record (in the columns people type), the most recently created on a tie."""
        return max(rows, key=rank.__getitem__)

    # A review-only link (a household member, a neighbour firm) never joins a group: choosing Merge
    # for the group must not take it along. It is listed on its own once neither record is grouped.
    strong = [p for p in pairs if p.score >= CLUSTER_LINK and not p.evidence.get("review_only")]
    strong_set = {id(p) for p in strong}
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
                Cluster(members, [ids[m] for m in members], score, survivor(members), member_pairs)
            )
    # Weaker pairs (review only) stay pairs: each its own two-member cluster.
    for p in pairs:
        if id(p) not in strong_set and p.row_a not in done and p.row_b not in done:
            clusters.append(
                Cluster([p.row_a, p.row_b], [p.id_a, p.id_b], p.score, survivor([p.row_a, p.row_b]), [p])
            )
    return clusters
