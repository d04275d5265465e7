"""Finding the customer a follow-up, deal or contact names, the way people write the name.

A hand-kept ledger names its customers in every spelling: the full registered name, without the
legal form (上海安泰建材), with 市 (上海市安泰建材有限公司), with the city in brackets
(安泰建材（上海）有限公司), a branch by its short name (安泰建材宁波分公司). :class:`CustomerNames`
finds the one customer such a name means, in this order:

1. the exact name after folding (full-width, traditional characters, case, spaces, punctuation);
2. the duplicate-detection key (:func:`crmbook.names.name_key`) among customers whose names are not
   known to differ (another region, branch or industry: :func:`crmbook.names.known_different`);
3. the loose key: the same trade name (字号) where region, industry and branch do not contradict;
4. among several candidates left, the one sharing a phone number with the row, else the one whose
   contact person the row names.

Only a name that still fits several customers is ambiguous; the reason lists the candidates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from crmbook.names import CITIES, PROVINCES, CompanyName, fold_text, known_different, parse_company_name

__all__ = ["CustomerNames", "Found"]

_BRANCH_MARKERS = ("分公司", "分店", "办事处", "营业部", "分厂", "分部")
_PLACES = sorted(set(PROVINCES) | set(CITIES), key=len, reverse=True)
SHOWN = 4


@dataclass(frozen=True)
class _Parsed:
    name: CompanyName  # the firm (for a branch: its parent)
    branch: str  # "" or the branch's place (宁波) / text


def _parse(text: str) -> _Parsed:
    folded = fold_text(text)
    for marker in _BRANCH_MARKERS:
        pos = folded.find(marker)
        if pos > 0:
            head = folded[:pos]
            place = next((p for p in _PLACES if head.endswith(p) and len(head) > len(p)), "")
            parent = head[: len(head) - len(place)] if place else head
            return _Parsed(parse_company_name(parent), place or head[-4:])
    return _Parsed(parse_company_name(text), "")


def _compatible(a: _Parsed, b: _Parsed) -> bool:
    """Nothing in the two names says they are different customers."""
    if a.branch != b.branch:
        return False
    x, y = a.name, b.name
    if not x.trade_name or x.trade_name != y.trade_name:
        return False
    if x.region and y.region and x.region != y.region:
        return False
    return not (x.industry and y.industry and x.industry != y.industry)


@dataclass(frozen=True)
class Found:
    row: int | None
    reason: str = ""


class CustomerNames:
    """The customers of a workbook (and of the file being imported), found by name."""

    def __init__(self, names: Iterable[tuple[int, str]], phones: dict[int, frozenset[str]]) -> None:
        self.names: dict[int, str] = {}
        self.phones = phones
        self.exact: dict[str, set[int]] = defaultdict(set)
        self.keys: dict[str, set[int]] = defaultdict(set)
        self.trades: dict[str, set[int]] = defaultdict(set)
        self.parsed: dict[int, _Parsed] = {}
        self.people: dict[int, set[str]] = {}
        for row, name in names:
            self.names[row] = name
            parsed = _parse(name)
            self.parsed[row] = parsed
            self.exact[fold_text(name)].add(row)
            self.keys[parsed.name.key + "|" + parsed.branch].add(row)
            if parsed.name.trade_name:
                self.trades[parsed.name.trade_name].add(row)

    def add_person(self, row: int, name: object) -> None:
        """A contact person of the customer at ``row`` (to tell apart customers of the same name)."""
        if name is not None and str(name).strip():
            self.people.setdefault(row, set()).add(fold_text(name))

    def find(self, text: str, phones: frozenset[str] = frozenset(), people: Iterable[object] = ()) -> Found:
        """The one customer ``text`` names, or why there is none.

        ``phones`` (E.164) and ``people`` (texts of the same row, such as a contact person's name) tell
        apart customers the name alone cannot.
        """
        steps = [lambda: self.exact.get(fold_text(text), set())]
        parsed = _parse(text)

        def by_key() -> set[int]:
            rows = self.keys.get(parsed.name.key + "|" + parsed.branch, set())
            return {r for r in rows if not known_different(parsed.name, self.parsed[r].name)}

        def loose() -> set[int]:
            rows = self.trades.get(parsed.name.trade_name, set()) if parsed.name.trade_name else set()
            return {r for r in rows if _compatible(parsed, self.parsed[r])}

        steps += [by_key, loose]
        candidates: set[int] = set()
        for step in steps:
            candidates = step()
            if len(candidates) == 1:
                return Found(next(iter(candidates)))
            if candidates:
                break
        if not candidates:
            return Found(None, f"no customer named {text!r} in the workbook or the file")
        if phones:
            sharing = {r for r in candidates if self.phones.get(r, frozenset()) & phones}
            if len(sharing) == 1:
                return Found(next(iter(sharing)))
        if people:
            folded = {fold_text(p) for p in people}
            knowing = {r for r in candidates if self.people.get(r, set()) & folded}
            if len(knowing) == 1:
                return Found(next(iter(knowing)))
        shown = sorted(self.names[r] for r in candidates)
        more = f" and {len(shown) - SHOWN} more" if len(shown) > SHOWN else ""
        return Found(
            None,
            f"{len(candidates)} customers could be {text!r}: {'、'.join(shown[:SHOWN])}{more}; "
            "write the name in full or map a customer ID column",
        )
