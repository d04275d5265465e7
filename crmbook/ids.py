"""ID patterns and ID assignment.

A pattern is text with tokens: ``{yyyy}``, ``{yy}``, ``{mm}``, ``{dd}``,
``{yyyymm}``, ``{yyyymmdd}`` (the date the ID is assigned), ``{customer_id}``
(child sheets only) and exactly one ``{seq:N}``. The sequence counts
separately per *scope* — the rendered ID without its sequence: per year in
``C{yyyy}{seq:6}``, per day in ``O{yyyymmdd}{seq:3}``, per customer in
``FLLW{customer_id}{seq:4}``. A number is never reused: the next one is
above both the highest on the sheet and the high-water mark remembered in
the workbook's state sheet. ``{seq:N}`` is the sequence's least width: when a
scope has used all N digits (999 deals on one day with ``{seq:3}``) its
sequence goes on with N+1 digits (``O20261122999`` is followed by
``O202611221000``), so no record is ever left without an ID; an ID with more
digits than N still follows the pattern. Date tokens are the day the ID is
assigned, for typed and imported records alike. Existing IDs never change;
duplicated or malformed ones are reported.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from crmbook.book import Book, Table
from crmbook.errors import InputError
from crmbook.issues import Issue
from crmbook.names import name_key

__all__ = [
    "CHILD_SHEETS",
    "IdAssignment",
    "IdPattern",
    "assign_sheet_ids",
    "child_sheet_ids",
    "customer_ids_and_references",
    "run_id_step",
]

_TOKEN = re.compile(r"\{([a-z_]+)(?::(\d+))?\}")
_DATE_TOKENS = {"yyyy": "%Y", "yy": "%y", "mm": "%m", "dd": "%d", "yyyymm": "%Y%m", "yyyymmdd": "%Y%m%d"}


@dataclass(frozen=True)
class IdPattern:
    text: str
    parts: tuple[
        tuple[str, str | int], ...
    ]  # ("lit", text) | ("date", strftime) | ("seq", width) | ("customer_id", 0)

    @classmethod
    def parse(cls, text: str) -> IdPattern:
        parts: list[tuple[str, str | int]] = []
        pos = 0
        for m in _TOKEN.finditer(text):
            if m.start() > pos:
                parts.append(("lit", text[pos : m.start()]))
            name, width = m.group(1), m.group(2)
            if name == "seq":
                if width is None or not 1 <= int(width) <= 12:
                    raise InputError(
                        f"ID pattern {text!r}: write the sequence as {{seq:N}} with N from 1 to 12"
                    )
                parts.append(("seq", int(width)))
            elif name in _DATE_TOKENS:
                parts.append(("date", _DATE_TOKENS[name]))
            elif name == "customer_id":
                parts.append(("customer_id", 0))
            else:
                raise InputError(
                    f"ID pattern {text!r}: unknown token {{{name}}} (use yyyy, yy, mm, dd, yyyymm, yyyymmdd, customer_id, seq:N)"
                )
            pos = m.end()
        if pos < len(text):
            parts.append(("lit", text[pos:]))
        if "{" in "".join(str(v) for k, v in parts if k == "lit"):
            raise InputError(f"ID pattern {text!r}: an unclosed or malformed {{token}}")
        if sum(1 for k, _ in parts if k == "seq") != 1:
            raise InputError(f"ID pattern {text!r}: it needs exactly one {{seq:N}}")
        return cls(text, tuple(parts))

    @property
    def width(self) -> int:
        return next(int(v) for k, v in self.parts if k == "seq")

    @property
    def needs_customer(self) -> bool:
        return any(k == "customer_id" for k, _ in self.parts)

    def _render(self, date: dt.date, seq: str, customer_id: str | None) -> str:
        out = []
        for kind, value in self.parts:
            if kind == "lit":
                out.append(str(value))
            elif kind == "date":
                out.append(date.strftime(str(value)))
            elif kind == "customer_id":
                out.append(customer_id or "")
            else:
                out.append(seq)
        return "".join(out)

    def render(self, date: dt.date, seq: int, customer_id: str | None = None) -> str:
        return self._render(date, f"{seq:0{self.width}d}", customer_id)

    def scope(self, date: dt.date, customer_id: str | None = None) -> str:
        return self._render(date, "#", customer_id)

    def scope_customer(self, scope: str) -> str | None:
        """The customer ID in ``scope`` (as :meth:`scope` writes it), or None when the pattern has none."""
        if not self.needs_customer:
            return None
        found = _compiled_scope(self).fullmatch(scope)
        return None if found is None else found.group("customer")

    def _scope_regex_text(self) -> str:
        pieces = self._regex_pieces()
        pieces[self._seq_index] = "#"
        at = next(i for i, (kind, _) in enumerate(self.parts) if kind == "customer_id")
        pieces[at] = "(?P<customer>.+)"
        return "".join(pieces)

    def regex(self) -> re.Pattern[str]:
        return _compiled(self)

    def _regex_pieces(self) -> list[str]:
        """One regular expression per part; the sequence's is its digits alone."""
        out = []
        for kind, value in self.parts:
            if kind == "lit":
                out.append(re.escape(str(value)))
            elif kind == "date":
                digits = len(dt.date(2000, 1, 1).strftime(str(value)))
                out.append(rf"\d{{{digits}}}")
            elif kind == "customer_id":
                out.append(r".+")
            else:  # at least its width: a full scope's sequence grows a digit
                out.append(rf"\d{{{value},}}")
        return out

    def _regex_text(self) -> str:
        pieces = self._regex_pieces()
        at = self._seq_index
        return "^" + "".join(pieces[:at]) + f"(?P<seq>{pieces[at]})" + "".join(pieces[at + 1 :]) + "$"

    def _lines_regex_text(self) -> str:
        """Whole lines in four groups: the text before the sequence, the digits a grown sequence has
        beyond its width (usually none), the sequence's last ``width`` digits, the text after.

        Right after a customer ID (which matches as much as it can) the grown digits are always
        none: they are left out of the expression rather than tried at every split of the line."""
        pieces = self._regex_pieces()
        at = self._seq_index
        after_customer = at > 0 and self.parts[at - 1][0] == "customer_id"
        grown = "" if after_customer else r"\d*"
        seq = rf"({grown})(\d{{{self.width}}})"
        return "^(" + "".join(pieces[:at]) + f"){seq}(" + "".join(pieces[at + 1 :]) + ")$"

    @property
    def _seq_index(self) -> int:
        return next(i for i, (kind, _) in enumerate(self.parts) if kind == "seq")

    def match(self, id_text: str) -> tuple[str, int] | None:
        """(scope, seq) of an ID written by this pattern, or None."""
        m = self._match(id_text)
        if m is None:
            return None
        start, end = m.span("seq")
        return f"{id_text[:start]}#{id_text[end:]}", int(id_text[start:end])

    @cached_property
    def _match(self) -> Callable[[str], re.Match[str] | None]:
        """The compiled pattern's match, bound once (a refresh matches every existing ID)."""
        return self.regex().match

    def highest(self, id_texts: list[str]) -> dict[str, int] | None:
        """The highest sequence number in each scope among ``id_texts`` (none empty, none repeated),
        or None unless every one of them is written by this pattern.

        One search over the IDs joined by newlines instead of a match per ID (100,000 IDs in a
        few milliseconds); the sequences of a pattern have a fixed width, so the highest is also
        the greatest as text, unless a full scope's sequence grew digits (compared as numbers).
        """
        joined = "\n".join(id_texts)
        if joined.count("\n") != len(id_texts) - 1:  # an ID with a line break in it
            return None
        found = _compiled_lines(self).findall(joined)
        if len(found) != len(id_texts):
            return None
        greatest: dict[tuple[str, str], str] = {}
        grown: list[tuple[str, str, int]] = []
        for before, extra, seq, after in found:
            if extra:  # a grown sequence (rare): compared as a number below
                grown.append((before, after, int(extra + seq)))
            elif seq > greatest.get((before, after), ""):
                greatest[(before, after)] = seq
        top = {f"{before}#{after}": int(seq) for (before, after), seq in greatest.items()}
        for before, after, number in grown:
            scope = f"{before}#{after}"
            top[scope] = max(top.get(scope, 0), number)
        return top


@lru_cache(maxsize=64)
def _compiled(pattern: IdPattern) -> re.Pattern[str]:
    return re.compile(pattern._regex_text())


@lru_cache(maxsize=64)
def _compiled_scope(pattern: IdPattern) -> re.Pattern[str]:
    return re.compile(pattern._scope_regex_text())


@lru_cache(maxsize=64)
def _compiled_lines(pattern: IdPattern) -> re.Pattern[str]:
    return re.compile(pattern._lines_regex_text(), re.MULTILINE)


@dataclass
class IdAssignment:
    """What the ID step writes: (sheet key, Excel row, schema column key, value)."""

    writes: list[tuple[str, int, str, str]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    high_water: dict[str, int] = field(default_factory=dict)
    ids_assigned: int = 0
    refs_filled: int = 0
    # The highest sequence in each scope among the IDs the sheets hold, new ones included (by
    # high-water key, as ``high_water``): the state remembers only the scopes it numbered in.
    held: dict[str, int] = field(default_factory=dict)

    def followed_by(self, rest: IdAssignment) -> IdAssignment:
        """This assignment and ``rest`` (numbered on from this one's high water) as one."""
        return IdAssignment(
            writes=self.writes + rest.writes,
            issues=self.issues + rest.issues,
            high_water=rest.high_water,
            ids_assigned=self.ids_assigned + rest.ids_assigned,
            refs_filled=self.refs_filled + rest.refs_filled,
            held={**self.held, **rest.held},
        )

    def cell_writes(self, book: Book) -> list[tuple[str, int, int, str]]:
        out = []
        for sheet_key, row, column, value in self.writes:
            col = book.tables[sheet_key].col(column)
            if col is not None:
                out.append((sheet_key, row, col, value))
        return out


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _with_content(table: Table, rows: list[int]) -> list[int]:
    """Those of ``rows`` holding something in a column people type (crmbook's own columns aside)."""
    if not rows:
        return []
    owned = [c.key for c in table.spec.columns if c.owned]
    data = table.data.loc[rows].drop(columns=[c for c in owned if c in table.data.columns])
    return [int(r) for r in data.index[data.notna().any(axis=1)]]


def _scan_ids(
    table: Table, pattern: IdPattern, rows: list[int], texts: list[str], result: IdAssignment
) -> dict[str, int]:
    """The highest sequence per scope among the IDs ``texts`` (of ``rows``), reporting repeated and
    malformed ones: the way for a sheet whose IDs are not all fine (see :meth:`IdPattern.highest`)."""
    id_col = table.spec.id_column
    seen: dict[str, int] = {}
    top: dict[str, int] = {}
    for row, text in zip(rows, texts, strict=True):
        if not text:
            continue
        first = seen.setdefault(text, row)
        if first != row:
            result.issues.append(
                Issue(
                    "duplicate-id",
                    table.sheet_name,
                    row,
                    table.col(id_col),
                    id_col,
                    text,
                    {"first_row": first},
                )
            )
            continue
        m = pattern.match(text)
        if m is None:
            result.issues.append(
                Issue(
                    "malformed-id",
                    table.sheet_name,
                    row,
                    table.col(id_col),
                    id_col,
                    text,
                    {"pattern": pattern.text},
                )
            )
            continue
        scope, seq = m
        if seq > top.get(scope, 0):
            top[scope] = seq
    return top


def _assign_sheet(book: Book, key: str, result: IdAssignment, today: dt.date) -> None:
    table = book.tables.get(key)
    if table is None or not table.has(table.spec.id_column):
        return
    id_col = table.spec.id_column
    pattern = IdPattern.parse(book.settings.id_pattern(key))
    rows = [int(r) for r in table.data.index]
    texts = [v.strip() if type(v) is str else _text(v) for v in table.data[id_col].tolist()]
    present = [text for text in texts if text]
    fine = pattern.highest(present) if len(set(present)) == len(present) else None
    top = fine if fine is not None else _scan_ids(table, pattern, rows, texts, result)
    rows = _with_content(table, [r for r, text in zip(rows, texts, strict=True) if not text])
    new_ids: dict[int, str] = {}
    parents = (
        dict(zip(rows, table.data.loc[rows, "customer_id"].tolist(), strict=True))
        if pattern.needs_customer and "customer_id" in table.data
        else None
    )
    taken: set[str] | None = None  # the sheet's IDs, when a new one could repeat one of them
    grown: set[str] = set()
    for row in rows:
        customer_id = _text(parents[row]) if parents is not None else None
        if pattern.needs_customer and not customer_id:
            result.issues.append(
                Issue("id-needs-customer", table.sheet_name, row, table.col(id_col), id_col, None)
            )
            continue
        scope = pattern.scope(today, customer_id)
        hw_key = f"{key}:{scope}"
        seq = max(result.high_water.get(hw_key, 0), top.get(scope, 0)) + 1
        value = pattern.render(today, seq, customer_id)
        full = seq >= 10**pattern.width  # the scope is full: its sequence grows a digit
        if taken is None and (full or pattern.needs_customer):
            taken = set(present) | set(new_ids.values())
        if taken is not None:
            while value in taken:  # {customer_id}{seq} reads two ways once a sequence grew
                seq += 1
                value = pattern.render(today, seq, customer_id)
        if full and scope not in grown:
            grown.add(scope)
            result.issues.append(
                Issue(
                    "id-grown",
                    table.sheet_name,
                    row,
                    table.col(id_col),
                    id_col,
                    value,
                    {"pattern": pattern.text, "width": pattern.width, "scope": scope},
                )
            )
        result.high_water[hw_key] = seq
        top[scope] = seq
        new_ids[row] = value
        if taken is not None:
            taken.add(value)
        result.writes.append((key, row, id_col, value))
        result.ids_assigned += 1
    if new_ids:
        _fill(table, id_col, new_ids)
    result.held.update((f"{key}:{scope}", seq) for scope, seq in top.items())


def _fill(table: Table, key: str, values: dict[int, str]) -> None:
    """``values`` (row -> value) into column ``key`` of ``table``'s frame, as a new column: the
    arrays the frame shares with other frames are not written to."""
    column = table.data[key].copy()
    column.loc[list(values)] = list(values.values())
    table.data[key] = column


def _fold(value: object) -> str:
    return unicodedata.normalize("NFKC", _text(value)).replace(" ", "")


def _resolve_refs(book: Book, result: IdAssignment) -> None:
    customers = book.tables.get("customers")
    if customers is None or "name" not in customers.data:
        return
    known: list[tuple[str, str]] = []
    exact: dict[str, list[str]] = {}
    for name, cid in zip(customers.data["name"], customers.data.get("customer_id", []), strict=False):
        cid = _text(cid)
        if not cid or name is None:
            continue
        known.append((name, cid))
        exact.setdefault(_fold(name), []).append(cid)
    by_key: dict[str, list[str]] | None = None  # normalised names, built only when an exact match fails

    def loose(name: object) -> list[str]:
        nonlocal by_key
        if by_key is None:
            by_key = {}
            for known_name, cid in known:
                by_key.setdefault(name_key(known_name), []).append(cid)
        return by_key.get(name_key(name), [])

    for key in ("contacts", "followups", "opportunities"):
        table = book.tables.get(key)
        if table is None or not table.has("customer_id") or "customer_name" not in table.data:
            continue
        empty = table.data["customer_id"].isna() & table.data["customer_name"].notna()
        filled: dict[int, str] = {}
        names = table.data.loc[empty, "customer_name"]
        for row, name in zip(names.index, names.tolist(), strict=True):
            matches = exact.get(_fold(name)) or loose(name)
            col = table.col("customer_id")
            if len(set(matches)) == 1:
                filled[int(row)] = matches[0]
                result.writes.append((key, int(row), "customer_id", matches[0]))
                result.refs_filled += 1
            else:
                code = "ambiguous-customer" if matches else "unknown-customer-name"
                result.issues.append(
                    Issue(
                        code,
                        table.sheet_name,
                        int(row),
                        col,
                        "customer_id",
                        name,
                        {"count": len(set(matches))},
                    )
                )
        if filled:
            _fill(table, "customer_id", filled)


def assign_sheet_ids(book: Book, key: str, high_water: dict[str, int], today: dt.date) -> IdAssignment:
    """IDs for the empty ID cells of one sheet only (an import numbers its new customers first)."""
    result = IdAssignment(high_water=dict(high_water))
    _assign_sheet(book, key, result, today)
    return result


CHILD_SHEETS = ("contacts", "followups", "opportunities")  # numbered after customers and references


def customer_ids_and_references(book: Book, high_water: dict[str, int], today: dt.date) -> IdAssignment:
    """The first part of :func:`run_id_step`: customer IDs, then customer references by name."""
    result = IdAssignment(high_water=dict(high_water))
    _assign_sheet(book, "customers", result, today)
    _resolve_refs(book, result)
    return result


def child_sheet_ids(book: Book, high_water: dict[str, int], today: dt.date) -> IdAssignment:
    """The rest of :func:`run_id_step`: the IDs of the sheets in :data:`CHILD_SHEETS`, numbered on
    from ``high_water`` (the first part's). They depend on no other sheet's new IDs."""
    result = IdAssignment(high_water=dict(high_water))
    for key in CHILD_SHEETS:
        _assign_sheet(book, key, result, today)
    return result


def run_id_step(book: Book, high_water: dict[str, int], today: dt.date) -> IdAssignment:
    """Customer IDs, then customer references by name, then the other sheets' IDs.

    Writes into ``book``'s frames as it goes, so each stage sees the previous one's IDs.
    """
    first = customer_ids_and_references(book, high_water, today)
    return first.followed_by(child_sheet_ids(book, first.high_water, today))
