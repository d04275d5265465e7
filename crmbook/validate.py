"""Validation: every rule, every row, as data.

Each rule is a small function ``(table, context) -> Iterator[Issue]``
listed in :data:`RULES`; :func:`validate` runs them all over a book whose
frames already hold this refresh's IDs and customer references. Nothing
stops at the first bad row. The rules on cells as typed (:data:`CELL_RULES`)
and those on typed values (:data:`TYPED_RULES`) can run apart: a refresh runs
the first beside the steps that build the typed view.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmbook.book import Book, Table
from crmbook.issues import Issue
from crmbook.phones import parse_phone_cell
from crmbook.required import REACH, Requirements, requirements
from crmbook.schema import Lang, Schema, load_schema, normalize_label
from crmbook.snapshot import user_fields
from crmbook.typed import typed_table
from crmbook.values import EXCEL_ERRORS, is_excel_error, parse_amount, parse_datetime, parse_percent

__all__ = [
    "CELL_RULES",
    "NOT_IN_FUTURE",
    "RULES",
    "TYPED_RULES",
    "Context",
    "IssuesBySheet",
    "in_sheet_order",
    "validate",
    "validate_cells",
    "validate_typed",
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_URL = re.compile(r"^(https?://)?([\w-]+\.)+[a-z]{2,}(/\S*)?$", re.IGNORECASE)
_ID18 = re.compile(r"(?<!\d)(\d{17}[\dXx])(?!\d)")
_LONG_DIGITS = re.compile(r"\d{13}")
_CODE = re.compile(r"[0-9A-Za-z_\-]+")  # a digit run inside one of these with letters is a code
_HOME = re.compile(r"小区|家庭住址|住宅|\d+号楼.*\d+室|\d+栋.*单元|\d+单元.*\d+室")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
NOT_IN_FUTURE = {"first_contact", "created", "time", "close_date", "added"}


@dataclass
class Context:
    book: Book
    schema: Schema
    lang: Lang
    today: dt.date
    customer_ids: frozenset[str]
    typed: dict[str, pd.DataFrame]
    requirements: Requirements
    _texts: dict[tuple[str, str], ColumnText] = field(default_factory=dict)

    def column_text(self, table: Table, key: str) -> ColumnText:
        """The text cells of one column, joined once for every rule that searches them."""
        found = self._texts.get((table.key, key))
        if found is None:
            found = self._texts[(table.key, key)] = ColumnText.of(_present(table, key))
        return found


@dataclass(frozen=True)
class ColumnText:
    """A column's distinct texts joined with newlines, for rules that search them all in one pass
    (in no particular order: a text that repeats down the column is searched once)."""

    column: pd.Series
    joined: str

    @classmethod
    def of(cls, column: pd.Series) -> ColumnText:
        distinct = set(column.tolist())
        distinct.discard(None)
        try:  # the common case, only text: joined without a Python-level loop
            joined = "\n".join(distinct)
        except TypeError:  # numbers or dates among them
            joined = "\n".join([v for v in distinct if type(v) is str])
        return cls(column, joined)

    def matching(self, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
        """(row, text) of the text cells where ``pattern`` occurs.

        The joined text is searched in one pass, which is many times faster than a search
        per cell; ``pattern`` must not match a newline. Cells are told apart only when it occurs.
        """
        if pattern.search(self.joined) is None:
            return []
        return [
            (int(row), v)
            for row, v in zip(self.column.index.tolist(), self.column.tolist(), strict=True)
            if type(v) is str and pattern.search(v)
        ]


def _issue(table: Table, code: str, row: Any, key: str, value: Any, ctx: Context, **params: Any) -> Issue:
    col = table.spec.column(key) if key in {c.key for c in table.spec.columns} else None
    label = col.label(ctx.lang) if col else key
    return Issue(
        code, table.sheet_name, int(row), table.col(key), key, value, {"column_label": label, **params}
    )


def _present(table: Table, key: str) -> pd.Series:
    return (
        table.data[key]
        if key in table.data.columns
        else pd.Series(None, index=table.data.index, dtype=object)
    )


def rule_excel_errors(table: Table, ctx: Context) -> Iterator[Issue]:
    typed_by_people = set(user_fields(table))  # crmbook rewrites its derived columns in this refresh
    for key in table.columns:
        if key not in typed_by_people or "#" not in ctx.column_text(table, key).joined:
            continue  # every Excel error value starts with "#"
        values = _present(table, key)
        for row, value in values[values.isin(EXCEL_ERRORS)].items():
            yield _issue(table, "excel-error", row, key, value, ctx)


_BLANK_LINE = re.compile(r"^\s*$", re.MULTILINE)


def _blank(values: pd.Series, text: ColumnText | None = None) -> np.ndarray:
    """Empty cells and cells of spaces only. ``text`` (the column's :class:`ColumnText`) lets a
    column without any text of spaces only be told by its missing values alone (the common case)."""
    blank = values.isna().to_numpy()
    if text is not None and _BLANK_LINE.search(text.joined) is None:
        return blank
    return blank | np.array([type(v) is str and not v.strip() for v in values.tolist()], dtype=bool)


def rule_required(table: Table, ctx: Context) -> Iterator[Issue]:
    """The required columns (schema and Settings) and a way to reach (see crmbook.required)."""
    needed = ctx.requirements.of(table.key)
    if table.key == "customers":  # reported once, with the customers
        settings_sheet = ctx.schema.config_sheet_name("settings", ctx.lang)
        for setting, text in ctx.requirements.unknown:
            label = ctx.schema.setting(setting).label(ctx.lang)
            yield Issue(
                "unknown-field-setting", settings_sheet, None, None, setting, text, {"setting": label}
            )
    for col in table.spec.columns:
        if col.key not in needed or not table.has(col.key):
            continue
        values = _present(table, col.key)
        for row in values.index[_blank(values, ctx.column_text(table, col.key))]:
            yield _issue(table, "missing-required", row, col.key, None, ctx)
    if REACH in needed:
        yield from _unreachable(table, ctx)


def _unreachable(table: Table, ctx: Context) -> Iterator[Issue]:
    """Records with none of the sheet's reach columns filled in (customers: nor any contact's). A sheet
    without any of those columns (a rep file they were all left out of, see ``crmbook split --redact``)
    has nothing to fill in: no record is flagged."""
    keys = [k for k in table.spec.reach if table.has(k)]
    contacts = ctx.book.tables.get("contacts")
    through_contacts = table.key == "customers" and contacts is not None
    if not keys and not (through_contacts and any(contacts.has(k) for k in contacts.spec.reach)):
        return
    unreachable = np.ones(len(table.data), dtype=bool)
    for key in keys:
        unreachable &= _blank(_present(table, key), ctx.column_text(table, key))
    labels = [table.spec.column(k).label(ctx.lang) for k in table.spec.reach]
    if through_contacts:
        ways = [k for k in contacts.spec.reach if contacts.has(k)]
        labels += [
            contacts.spec.label(ctx.lang)
            + ":"
            + "/".join(contacts.spec.column(k).label(ctx.lang) for k in contacts.spec.reach)
        ]
        if ways and unreachable.any() and contacts.has("customer_id"):
            reachable = np.zeros(len(contacts.data), dtype=bool)
            for key in ways:
                reachable |= ~_blank(_present(contacts, key), ctx.column_text(contacts, key))
            through = {str(v).strip() for v in contacts.data["customer_id"][reachable].dropna().tolist()}
            ids = _present(table, "customer_id")
            unreachable &= ~ids.map(lambda v: v is not None and str(v).strip() in through).to_numpy(bool)
    at = keys[0] if keys else table.spec.reach[0]
    for row in table.data.index[unreachable]:
        yield _issue(
            table,
            "no-way-to-reach",
            row,
            at,
            None,
            ctx,
            fields=("、" if ctx.lang == "zh" else ", ").join(labels),
        )


_ALREADY_TYPED = {
    "date": (dt.date, dt.datetime),
    "datetime": (dt.date, dt.datetime),
    "amount": (int, float),
}


_CHECKED_TYPES = {"date", "datetime", "amount", "percent", "email", "url", "phone"}


Fault = tuple[str, dict[str, Any]]  # an issue code and its message's parameters


def _date_fault(v: Any) -> Fault | None:
    if isinstance(v, dt.date) or is_excel_error(v):
        return None
    parsed = parse_datetime(v)
    if parsed.ok:
        return None
    return ("date-no-year" if parsed.problem == "no year" else "bad-date"), {}


def _amount_fault(v: Any) -> Fault | None:
    if (isinstance(v, int | float) and not isinstance(v, bool)) or is_excel_error(v):
        return None
    return None if parse_amount(v).ok else ("bad-number", {})


def _percent_fault(v: Any) -> Fault | None:
    return None if is_excel_error(v) or parse_percent(v).ok else ("bad-percent", {})


_EMAIL_SEPARATORS = re.compile(r"[;；,，、\s]+")  # several addresses in one cell (a merge joins them with ；)


def _email_fault(v: Any) -> Fault | None:
    addresses = [a for a in _EMAIL_SEPARATORS.split(str(v).strip()) if a]
    return None if addresses and all(_EMAIL.match(a) for a in addresses) else ("bad-email", {})


def _url_fault(v: Any) -> Fault | None:
    return None if _URL.match(str(v).strip()) else ("bad-url", {})


def _phone_fault(v: Any) -> Fault | None:
    if is_excel_error(v):
        return None
    cell = parse_phone_cell(v)
    if cell.numbers and not cell.unparsed:
        return None
    return "bad-phone", {"fragment": " ".join(cell.unparsed) or str(v)}


# What is wrong with one cell of a column of each checked type (None: nothing).
_FAULT_OF: dict[str, Callable[[Any], Fault | None]] = {
    "date": _date_fault,
    "datetime": _date_fault,
    "amount": _amount_fault,
    "percent": _percent_fault,
    "email": _email_fault,
    "url": _url_fault,
    "phone": _phone_fault,
}


def _faults(values: pd.Series, fault_of: Callable[[Any], Fault | None]) -> Iterator[tuple[int, Any, Fault]]:
    """(row, value, fault) of each cell of ``values`` with a fault, in order; a value that repeats
    down the column (of the same type) is looked at once, and the cells are gone through only
    when some value has a fault."""
    cells = values.tolist()
    try:
        # In the order they come, which is about the order they lie in memory: quicker to go through.
        distinct = dict.fromkeys(zip(map(type, cells), cells, strict=True))
    except TypeError:  # an unhashable value: every cell is looked at
        found = ((row, v, fault_of(v)) for row, v in zip(values.index.tolist(), cells, strict=True))
        yield from ((row, v, fault) for row, v, fault in found if fault is not None)
        return
    faulty = {key: fault for key in distinct if (fault := fault_of(key[1])) is not None}
    if faulty:
        for row, v in zip(values.index.tolist(), cells, strict=True):
            fault = faulty.get((type(v), v))
            if fault is not None:
                yield row, v, fault


def rule_types(table: Table, ctx: Context) -> Iterator[Issue]:
    for col in table.spec.columns:
        if not table.has(col.key) or col.owned or col.type not in _CHECKED_TYPES:
            continue
        values = _present(table, col.key).dropna()
        typed_as = _ALREADY_TYPED.get(col.type)
        if typed_as and set(map(type, values.tolist())) <= set(typed_as):  # every cell a real date/number
            continue
        for row, v, (code, params) in _faults(values, _FAULT_OF[col.type]):
            yield _issue(table, code, row, col.key, v, ctx, **params)


def rule_lists(table: Table, ctx: Context) -> Iterator[Issue]:
    for col in table.spec.columns:
        if col.list is None or not table.has(col.key):
            continue
        spec = ctx.schema.lists[col.list]
        allowed = {str(v).strip() for v in ctx.book.lists.get(col.list, spec.labels(ctx.lang))}
        lookup = spec.lookup()
        column = _present(table, col.key)
        distinct = set(column.tolist())
        distinct.discard(None)
        if all(type(v) is str for v in distinct):  # few distinct texts: each checked once
            wrong = {v for v in distinct if not (v.strip() in allowed or is_excel_error(v))}
            if not wrong:
                continue
            values = column[column.isin(wrong)]
        else:
            values = column.dropna()
        for row, v in values.items():
            text = str(v).strip()
            if text in allowed or is_excel_error(v):
                continue
            key = lookup.get(normalize_label(text))
            if key is not None:
                yield _issue(
                    table,
                    "list-alias",
                    row,
                    col.key,
                    v,
                    ctx,
                    suggestion=spec.item_by_key(key).label(ctx.lang),
                )
            else:
                yield _issue(
                    table, "not-in-list", row, col.key, v, ctx, choices="、".join(sorted(allowed))[:200]
                )


def rule_references(table: Table, ctx: Context) -> Iterator[Issue]:
    if table.key == "customers" or not table.has("customer_id"):
        return
    values = _present(table, "customer_id").dropna()
    # Each distinct reference is looked up once (a customer has many follow-ups); isin also takes 1
    # for 1.0, so each cell it picks is checked as it is.
    known = ctx.customer_ids
    unknown = {v for v in set(values.tolist()) if (text := str(v).strip()) and text not in known}
    for row, v in values[values.isin(unknown)].items():
        if str(v).strip() not in known:
            yield _issue(table, "unknown-customer", row, "customer_id", v, ctx)


def rule_primary_contact(table: Table, ctx: Context) -> Iterator[Issue]:
    if table.key != "contacts" or not table.has("primary") or not table.has("customer_id"):
        return
    typed = ctx.typed[table.key]
    primary = typed["primary"].eq(True)
    per_customer = primary.groupby(typed["customer_id"])
    marked, contacts = per_customer.sum(), per_customer.size()
    # A customer's only contact is its primary contact: only several marked, or none of several, is wrong.
    several = marked[marked >= 2]
    unmarked = marked[(marked == 0) & (contacts >= 2)]
    for row in typed.index[primary & typed["customer_id"].isin(several.index)]:
        cid = typed.at[row, "customer_id"]
        yield _issue(
            table,
            "primary-contact-count",
            row,
            "primary",
            table.data.at[row, "primary"],
            ctx,
            count=int(several[cid]),
            customer=cid,
        )
    first_rows = typed[typed["customer_id"].isin(unmarked.index)].groupby("customer_id").head(1)
    for row, cid in first_rows["customer_id"].items():
        yield _issue(
            table,
            "no-primary-contact",
            row,
            "primary",
            table.data.at[row, "primary"],
            ctx,
            contacts=int(contacts[cid]),
            customer=cid,
        )


def rule_negative_amounts(table: Table, ctx: Context) -> Iterator[Issue]:
    """An amount below zero (a minus typed by mistake: it would lower the pipeline and the sales)."""
    typed = ctx.typed[table.key]
    for col in table.spec.columns:
        if col.type != "amount" or col.owned or col.key not in typed.columns:
            continue
        amounts = pd.to_numeric(typed[col.key], errors="coerce")
        for row in typed.index[amounts < 0]:
            yield _issue(table, "negative-amount", row, col.key, table.data.at[row, col.key], ctx)


def rule_status(table: Table, ctx: Context) -> Iterator[Issue]:
    typed = ctx.typed[table.key]
    if table.key == "customers" and table.has("status"):
        lost = typed["status"] == "lost"
        for row in typed.index[lost & typed["lost_reason"].isna()]:
            yield _issue(table, "lost-without-reason", row, "lost_reason", None, ctx)
    if table.key == "opportunities" and table.has("stage"):
        won = typed["stage"] == "won"
        closed = typed["stage"].isin(["won", "lost"])
        for row in typed.index[won & typed["actual_amount"].isna()]:
            yield _issue(table, "won-without-amount", row, "actual_amount", None, ctx)
        for row in typed.index[closed & typed["close_date"].isna()]:
            yield _issue(table, "closed-without-date", row, "close_date", None, ctx)
        for row in typed.index[closed & typed["win_loss_reason"].isna()]:
            yield _issue(table, "closed-without-reason", row, "win_loss_reason", None, ctx)
        if table.has("probability"):
            for row, stage, p in zip(typed.index, typed["stage"], typed["probability"], strict=True):
                if pd.isna(p) or not isinstance(stage, str):
                    continue
                default = ctx.book.settings.default_probability(stage)
                bad = (stage == "won" and p != 100) or (stage == "lost" and p != 0)
                bad = bad or (
                    stage not in ("won", "lost")
                    and (p in (0, 100) or (default is not None and abs(p - default) > 30))
                )
                if bad:
                    yield _issue(
                        table,
                        "probability-stage-mismatch",
                        row,
                        "probability",
                        table.data.at[row, "probability"],
                        ctx,
                        default=default,
                    )
    if table.key == "followups" and table.has("deal_closed"):
        closed = typed["deal_closed"].eq(True)
        for row in typed.index[closed & typed["contract_no"].isna()]:
            yield _issue(table, "closed-without-contract", row, "contract_no", None, ctx)


def rule_future_dates(table: Table, ctx: Context) -> Iterator[Issue]:
    typed = ctx.typed[table.key]
    limit = pd.Timestamp(ctx.today) + pd.Timedelta(days=1)
    for key in NOT_IN_FUTURE:
        if key in typed.columns and table.has(key):
            for row in typed.index[typed[key] >= limit]:
                yield _issue(table, "future-date", row, key, table.data.at[row, key], ctx)


def valid_national_id(text: str) -> bool:
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == text[17].upper()


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_numbers(text: str) -> list[str]:
    """The bank card numbers in ``text``: runs of 13 to 19 digits bounded by other characters
    (not part of a code with letters such as the shop code S201607011234567), not starting with
    0 or 1 (no card does), with a valid Luhn check digit."""
    return [
        t for t in _CODE.findall(text) if 13 <= len(t) <= 19 and t.isdigit() and t[0] not in "01" and luhn(t)
    ]


def rule_sensitive(table: Table, ctx: Context) -> Iterator[Issue]:
    phone_cols = {c.key for c in table.spec.columns if c.type in ("phone", "id", "ref")}
    for key in user_fields(table):
        if key in phone_cols:
            continue
        candidates = ctx.column_text(table, key).matching(_LONG_DIGITS)
        for row, text in candidates:
            if any(valid_national_id(m) for m in _ID18.findall(text)):
                yield _issue(table, "sensitive-id-number", row, key, "…" + text[-4:], ctx)
            elif card_numbers(text):
                yield _issue(table, "sensitive-bank-card", row, key, "…" + text[-4:], ctx)
    if table.key == "customers" and table.has("address"):
        for row, v in table.data["address"].dropna().items():
            if _HOME.search(str(v)):
                yield _issue(table, "home-address", row, "address", v, ctx)


Rule = Callable[[Table, Context], Iterator[Issue]]

# Rules on the cells as people typed them: they need only the records (with this refresh's IDs).
CELL_RULES: list[Rule] = [
    rule_excel_errors,
    rule_required,
    rule_types,
    rule_lists,
    rule_references,
    rule_sensitive,
]
# Rules on typed values (dates, numbers, list keys): they need crmbook.typed's view of each table.
TYPED_RULES: list[Rule] = [rule_primary_contact, rule_status, rule_negative_amounts, rule_future_dates]
RULES: list[Rule] = CELL_RULES + TYPED_RULES

IssuesBySheet = dict[str, list[Issue]]  # record sheet key -> its issues, in rule order


def _context(book: Book, typed: dict[str, pd.DataFrame]) -> Context:
    customers = book.tables.get("customers")
    ids: frozenset[str] = frozenset()
    if customers is not None and "customer_id" in customers.data:
        ids = frozenset(str(v).strip() for v in customers.data["customer_id"].dropna())
    schema = load_schema()
    return Context(book, schema, book.lang, book.today, ids, typed, requirements(book.settings, schema))


def _run(book: Book, rules: list[Rule], ctx: Context, sheets: Collection[str] | None = None) -> IssuesBySheet:
    return {
        key: [i for rule in rules for i in rule(table, ctx)]
        for key, table in book.tables.items()
        if sheets is None or key in sheets
    }


def validate_cells(book: Book, sheets: Collection[str] | None = None) -> IssuesBySheet:
    """The issues :data:`CELL_RULES` find, sheet by sheet (only ``sheets``' record sheet keys, when
    given: each sheet's cell issues depend on no other sheet's but the customers' IDs)."""
    return _run(book, CELL_RULES, _context(book, {}), sheets)


def validate_typed(book: Book, typed: dict[str, pd.DataFrame]) -> IssuesBySheet:
    """The issues :data:`TYPED_RULES` find, sheet by sheet (``typed`` from crmbook.typed)."""
    return _run(book, TYPED_RULES, _context(book, typed))


def in_sheet_order(book: Book, *found: IssuesBySheet) -> list[Issue]:
    """Issues found in parts, as one list: sheet by sheet, then in the order of the parts."""
    return [i for key in book.tables for part in found for i in part.get(key, [])]


def validate(book: Book, typed: dict[str, pd.DataFrame] | None = None) -> list[Issue]:
    """Every issue of every record sheet, in sheet order then rule order.

    ``typed`` (from :func:`crmbook.typed.typed_tables`) is computed when not given.
    """
    if typed is None:
        typed = {k: typed_table(t) for k, t in book.tables.items()}
    return in_sheet_order(book, validate_cells(book), validate_typed(book, typed))
