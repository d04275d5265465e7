"""Importing legacy spreadsheets into the canonical workbook, and undoing an import.

The steps, each a pure function over plain data until the one save:

1. :func:`crmbook.import_records.build_records` turns each mapped source table (:mod:`crmbook.legacy`
   read it, :mod:`crmbook.mapping` says what goes where) into records for one
   crmbook sheet: values cleaned (:mod:`crmbook.clean`), constants, composed
   values and look-ups from other sheets filled in, rows grouped when the
   mapping says so, a visit-history column split into dated follow-ups.
   A source row that yields no record anywhere becomes a *reject* with its
   reason and raw values — nothing is dropped silently.
2. :func:`plan_import` matches the records against the workbook: a customer
   whose business key (normalised name + a shared phone by default) matches
   an existing one *updates* it, otherwise it is *created*; records with the
   same key inside the file are *merged* into one; contacts, follow-ups and
   deals find their customer by the same source row, a source key, an ID or
   the customer's name (normalised as dedupe does). New customers get their
   IDs at once, so their children can point at them. Then the ordinary
   refresh runs on the result, so validation, IDs, duplicates (near
   duplicates land on the Duplicates sheet for review) and the dashboard are
   part of the same single, atomic save.
3. What the import did is remembered in the state sheet (section
   ``import``): the rows it created (with a fingerprint of what it wrote),
   every value it replaced, the rejects. :func:`plan_undo_import` empties the
   created rows and writes the replaced values back, after checking nobody
   edited them since.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import os
from array import array
from collections import abc, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

from crmbook.book import Book, Table, copy_book, written_over
from crmbook.changeset import CellWrite, Changeset, Formula, OwnedSheet, SheetCell
from crmbook.clean import PHONE_SEPARATOR, clean_text
from crmbook.edit import editing
from crmbook.errors import InputError, WorkbookFileError
from crmbook.ids import assign_sheet_ids
from crmbook.import_links import CustomerNames
from crmbook.import_records import COMBINED, Origin, Record, Reject, build_records, distinct, raw_text
from crmbook.legacy import LegacySheet
from crmbook.mapping import DEFAULT_KEYS, Mapping, TableMapping
from crmbook.names import known_different, name_key, parse_company_name
from crmbook.phones import phone_keys
from crmbook.refresh import RefreshPlan, plan_refresh
from crmbook.schema import Lang, SheetSpec, load_schema
from crmbook.state import State, decode_value, encode_value, undoable_record
from crmbook.values import is_blank
from crmbook.wording import counted

__all__ = [
    "ImportPlan",
    "ImportResult",
    "Record",
    "Reject",
    "build_records",
    "format_import_summary",
    "import_file",
    "plan_import",
    "plan_undo_import",
    "undo_import",
]

SECTION = "import"
CHILD_SHEETS = ("contacts", "followups", "opportunities")
SAMPLE = 3

Progress = Callable[[int, int], None]  # (rows just done, rows in all)
T = TypeVar("T")


# ------------------------------------------------------------------ matching


def _folded(value: Any) -> str:
    value = clean_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat()
    return "" if is_blank(value) else str(value).casefold()


def _keys(get: Callable[[str], Any], key_fields: list[str]) -> list[tuple[str, ...]]:
    """Every key of a record: one per phone number when a phone is part of the key."""
    keys: list[tuple[str, ...]] = [()]
    for name in key_fields:
        value = get(name)
        if name in COMBINED and name != "email":
            options = sorted(phone_keys(value)) or [""]
        elif name == "name" and get("__sheet__") == "customers":
            options = [name_key(value) if not is_blank(value) else ""]
        else:
            options = [_folded(value)]
        keys = [(*k, o) for k in keys for o in options]
    return [k for k in keys if any(k)]


def _other_firm(a: Any, b: Any) -> bool:
    """True when two customer names with one key are known to be different firms (上海… and 苏州…)."""
    if is_blank(a) or is_blank(b):
        return False
    return known_different(parse_company_name(a), parse_company_name(b))


def _same(a: Any, b: Any) -> bool:
    if is_blank(a) and is_blank(b):
        return True
    if isinstance(a, dt.date) or isinstance(b, dt.date):
        return _folded(a) == _folded(b)
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b)


def _combined(old: Any, new: Any) -> Any:
    """Phones and e-mails of both, each once (a number written two ways counts once)."""
    if is_blank(old):
        return new
    parts = [p.strip() for p in str(old).replace(";", PHONE_SEPARATOR).split(PHONE_SEPARATOR) if p.strip()]
    seen = {frozenset(phone_keys(p)) or p.casefold() for p in parts}
    for piece in str(new).split(PHONE_SEPARATOR):
        piece = piece.strip()
        key = frozenset(phone_keys(piece)) or piece.casefold()
        if piece and key not in seen:
            parts.append(piece)
            seen.add(key)
    return PHONE_SEPARATOR.join(parts)


def _fold_into(target: Record, other: Record, spec: SheetSpec, lang: Lang) -> None:
    """Merge an incoming record into another with the same key; differing values go to the notes."""
    kept: list[str] = []
    for name, value in other.fields.items():
        current = target.fields.get(name)
        if is_blank(current):
            target.fields[name] = value
        elif name in COMBINED:
            target.fields[name] = _combined(current, value)
        elif not _same(current, value) and name != "notes":
            kept.append(f"{spec.column(name).label(lang)}：{value}")
        elif name == "notes" and not _same(current, value):
            kept.append(str(value))
    for name, value in other.extra.items():
        current = target.extra.get(name)
        target.extra[name] = value if is_blank(current) else distinct([current, value])
    if kept:
        head = "导入合并（" if lang == "zh" else "Merged on import ("
        tail = "）：" if lang == "zh" else "): "
        lines = [] if is_blank(target.fields.get("notes")) else [str(target.fields["notes"])]
        target.fields["notes"] = "\n".join([*lines, f"{head}{other.where()}{tail}" + "；".join(kept)])
    target.origins += other.origins
    target.problems += other.problems


# ------------------------------------------------------------------ the plan


@dataclass
class SheetOutcome:
    created: list[Record] = field(default_factory=list)
    updated: list[Record] = field(default_factory=list)
    unchanged: list[Record] = field(default_factory=list)
    merged: list[Record] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    totals: dict[str, int] | None = None  # the counts, once the lists are trimmed to samples

    def counts(self) -> dict[str, int]:
        if self.totals is not None:
            return dict(self.totals)
        return {k: len(getattr(self, k)) for k in ("created", "updated", "unchanged", "merged", "rejected")}

    def trim(self, keep: int) -> None:
        """Keep only the first ``keep`` records of each kind (and the counts): the rest are written."""
        self.totals = self.counts()
        for kind in ("created", "updated", "unchanged", "merged"):
            del getattr(self, kind)[keep:]


@dataclass
class ImportPlan:
    import_id: str
    changeset: Changeset
    outcomes: dict[str, SheetOutcome]
    rejects: list[Reject]
    problems: list[str]
    not_imported: list[str]  # source sheets the mapping does not use
    refresh: RefreshPlan | None
    lang: Lang
    source_rows: int = 0

    @property
    def changed(self) -> bool:
        return any(o.created or o.updated for o in self.outcomes.values())

    @property
    def all_rejected(self) -> bool:
        """Every source row was rejected: there is nothing to import."""
        return bool(self.rejects) and not any(
            o.created or o.updated or o.unchanged or o.merged for o in self.outcomes.values()
        )

    def main_reason(self) -> str:
        """The commonest reject reason, with how many rows it stopped."""
        counts: dict[str, int] = defaultdict(int)
        for reject in self.rejects:
            counts[reject.reason] += 1
        reason, n = max(counts.items(), key=lambda item: item[1])
        return f"{reason} ({n} of {len(self.rejects)} rows)" if len(counts) > 1 else reason


class _Writer:
    """Collects the import's writes into copies of the book's frames and a changeset."""

    def __init__(self, book: Book, lang: Lang) -> None:
        self.book = book
        self.lang = lang
        self.writes: list[CellWrite] = []
        self.created: dict[str, list[int]] = defaultdict(list)
        self.updated: list[list[Any]] = []
        self.new_columns: dict[str, list[list[Any]]] = defaultdict(list)
        # Created rows not yet in the frame, column by column: sheet -> (rows, {column: (positions, values)}).
        self.pending: dict[str, tuple[list[int], dict[str, tuple[array[int], list[Any]]]]] = {}
        self.free: dict[str, int] = {}  # sheet key -> next free row

    def next_row(self, table: Table) -> int:
        """The first row below the data (and below the rows this import already added)."""
        if table.key not in self.free:
            self.free[table.key] = table.next_free_row(
                int(table.data.index.max()) if len(table.data) else table.header_row, self.book.path
            )
        row = self.free[table.key]
        self.free[table.key] += 1
        return row

    def column(self, table: Table, name: str, *, extra: bool) -> int:
        if not extra:
            col = table.col(name)
            assert col is not None
            return col
        col = table.extra_columns.get(name)
        if col is None:
            col = table.add_extra_column(name)
            self.writes.append(CellWrite(table.sheet_name, table.header_row, col, name))
            self.new_columns[table.key].append([col, name])
        return col

    def create(self, table: Table, record: Record) -> int:
        row = self.next_row(table)
        values: dict[str, Any] = {}
        for name, value in record.fields.items():
            if table.col(name) is None:
                continue  # the workbook lacks that column; refresh reports it
            values[name] = value
            self.writes.append(CellWrite(table.sheet_name, row, table.col(name), value))  # type: ignore[arg-type]
        for name, value in record.extra.items():
            col = self.column(table, name, extra=True)
            values[name] = value
            self.writes.append(CellWrite(table.sheet_name, row, col, value))
        rows, columns = self.pending.setdefault(table.key, ([], {}))
        for name, value in values.items():
            positions, column = columns.setdefault(name, (array("l"), []))
            positions.append(len(rows))
            column.append(value)
        rows.append(row)
        self.created[table.key].append(row)
        return row

    def update(self, table: Table, row: int, record: Record) -> bool:
        changed = False
        items = [(n, v, False) for n, v in record.fields.items()] + [
            (n, v, True) for n, v in record.extra.items()
        ]
        for name, value, extra in items:
            if not extra and table.col(name) is None:
                continue
            col = self.column(table, name, extra=extra)
            old = table.data.at[row, name] if name in table.data.columns else None
            new = _combined(old, value) if name in COMBINED else value
            if _same(old, new):
                continue
            self.writes.append(CellWrite(table.sheet_name, row, col, new))
            table.data.at[row, name] = new
            self.updated.append([table.key, row, name, encode_value(old), encode_value(new)])
            changed = True
        return changed

    def flush(self, table: Table) -> None:
        """Append the created rows to the table's frame (one concat per sheet)."""
        rows, columns = self.pending.pop(table.key, ([], {}))
        if not rows:
            return
        data: dict[str, list[Any]] = {}
        for name in table.data.columns:
            cells: list[Any] = [None] * len(rows)  # empty cells are None, as the reader gives them
            positions, values = columns.pop(name, (array("l"), []))
            for i, value in zip(positions, values, strict=True):
                cells[i] = value
            data[name] = cells
        frame = pd.DataFrame(data, index=rows, columns=table.data.columns, dtype=object)
        del data
        table.data = pd.concat([table.data.astype(object), frame]) if len(table.data) else frame


def _digest_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        value = value.date()  # a date cell reads back as a date or a midnight datetime
    return encode_value(clean_text(value) if isinstance(value, float) else value)


def row_digests(table: Table, rows: list[int]) -> dict[int, str]:
    """A fingerprint per row of what people could edit (not IDs, not crmbook's columns). A formula cell
    counts by its formula as a snapshot remembers it, not by the result a recalculation moves."""
    skip = {c.key for c in table.spec.columns if c.owned} | {table.spec.id_column}
    names = sorted(n for n in table.data.columns if n not in skip)
    present = [r for r in rows if r in table.data.index]
    frame = table.data.loc[present, names] if present else None
    out = {r: hashlib.sha1(b"[]").hexdigest()[:12] for r in rows}
    if frame is None:
        return out
    columns = [frame[n].tolist() for n in names]
    formula_fields = [n for n in names if table.formulas.get(n)]
    for i, row in enumerate(present):
        cells = [
            [n, _digest_value(col[i])] for n, col in zip(names, columns, strict=True) if not is_blank(col[i])
        ]
        if formula_fields:  # a formula showing nothing (no result cached) is there all the same
            held = {n: f for n in formula_fields if (f := table.remembered_formula(n, row)) is not None}
            cells = sorted([c for c in cells if c[0] not in held] + [[n, f] for n, f in held.items()])
        text = json.dumps(cells, ensure_ascii=False, default=str)
        out[row] = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return out


def with_formulas(
    book: Book, updated: list[list[Any]], inflated: abc.Mapping[str, bytes] | None = None
) -> list[list[Any]]:
    """``updated`` ([sheet key, row, field, old, new] per cell written over) with, after the entries of
    cells that held a formula, its text: undo writes it back as that formula, not as the value it showed.
    ``inflated``: the record sheets' XML already read (:attr:`crmbook.edit.Editing.inflated`)."""
    from crmbook.ooxml.formulas import row_formulas

    rows: dict[str, set[int]] = defaultdict(set)
    for key, row, *_ in updated:
        rows[key].add(int(row))
    found: dict[tuple[str, int, str], str] = {}
    for key, wanted in rows.items():
        table = book.tables.get(key)
        if table is None:
            continue
        names = {col: name for name, col in {**table.columns, **table.extra_columns}.items()}
        try:
            texts = row_formulas(book.path, table.sheet_name, wanted, inflated)
        except (WorkbookFileError, ValueError):
            continue  # the values are kept; the writer reports a sheet it cannot patch
        for (row, col), text in texts.items():
            if col in names:
                found[(key, row, names[col])] = text
    formula_of = ((entry, found.get((entry[0], int(entry[1]), entry[2]))) for entry in updated)
    return [entry if text is None else [*entry, text] for entry, text in formula_of]


def _next_import_id(state: State, today: dt.date) -> str:
    prefix = f"I{today:%Y%m%d}-"
    used = [
        int(k[len(prefix) :])
        for k in state.extra.get(SECTION, {})
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(used, default=0) + 1:03d}"


def plan_import(
    book: Book,
    sources: list[LegacySheet],
    mapping: Mapping,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    with_refresh: bool = True,
    keep_records: bool = True,
    inflated: abc.Mapping[str, bytes] | None = None,
) -> ImportPlan:
    """Everything importing ``sources`` into ``book`` would do; touches no file.

    With ``keep_records=False`` the outcomes keep only a few sample records of each kind (and the
    counts): what a real import needs, in far less memory than the records of a large file.
    ``inflated``: the record sheets' XML already read (:attr:`crmbook.edit.Editing.inflated`), where the
    formulas of the cells written over are looked for.
    """
    now = now or dt.datetime.now()
    schema = load_schema()
    lang = book.lang
    sheets = {s.sheet: s for s in sources}
    region, region_problem = phone_region(book)
    for tm in mapping.tables:
        if tm.target not in book.tables:
            raise WorkbookFileError(book.path, f"has no {tm.target} sheet; run crmbook check")
    ordered = sorted(mapping.tables, key=lambda t: t.target != "customers")
    built: list[tuple[TableMapping, list[Record]]] = []
    histories: list[Record] = []
    total = sum(len(sheets[t.source_sheet].rows) for t in mapping.tables if t.source_sheet in sheets)
    step = (lambda n: progress(n, total)) if progress else None
    why: dict[Origin, str] = {}
    for tm in ordered:
        records, split, reasons = build_records(
            tm, sheets, schema=schema, lang=lang, dayfirst=mapping.dayfirst, progress=step, region=region
        )
        built.append((tm, records))
        histories += split
        for origin, reason in reasons.items():
            why.setdefault(origin, reason)
    used = {o for _, records in built for r in records for o in r.origins} | {
        o for r in histories for o in r.origins
    }
    mapped_sheets = {tm.source_sheet for tm in mapping.tables}
    lookup_sheets = {
        str(v.get("sheet")) for tm in mapping.tables for v in dict(tm.options.get("lookups", {})).values()
    }
    outcomes: dict[str, SheetOutcome] = defaultdict(SheetOutcome)
    rejects: list[Reject] = []
    source_rows = 0
    for name in mapped_sheets:
        sheet = sheets[name]
        target = next(tm.target for tm in mapping.tables if tm.source_sheet == name)
        for row, values in sheet.rows:
            source_rows += 1
            origin = (sheet.file, sheet.sheet, row)
            if origin not in used:
                reject = Reject(
                    sheet.file,
                    sheet.sheet,
                    row,
                    why.get(origin, "no record"),
                    raw_text(sheet.headers, values),
                )
                rejects.append(reject)
                outcomes[target].rejected.append(reject)
    not_imported = [s.sheet for s in sources if s.sheet not in mapped_sheets | lookup_sheets]

    state = copy.deepcopy(book.state) if book.state is not None else State()
    import_id = _next_import_id(state, book.today)
    after = copy_book(book)
    writer = _Writer(after, lang)
    problems = [f"{r.where()}: {p}" for _, records in built for r in records for p in r.problems]
    if region_problem:
        problems.insert(0, region_problem)

    # Customers: update on a business-key match, merge same-key records, create the rest.
    by_origin: dict[Origin, tuple[str, Any]] = {}  # source row -> ("row", existing row) | ("new", record)
    by_source_key: dict[str, tuple[str, Any]] = {}
    customers = after.tables["customers"]
    new_customers: list[tuple[Record, int]] = []
    matched: dict[int, Record] = {}  # existing row -> the incoming record that updates it
    for tm, records in built:
        if tm.target != "customers":
            continue
        key_fields = tm.key or DEFAULT_KEYS["customers"]
        existing = _index_existing(customers, key_fields)
        incoming: dict[tuple[str, ...], Record] = {}
        for record in records:
            ref: tuple[str, Any]
            keys = _keys(
                lambda k, r=record: "customers" if k == "__sheet__" else r.fields.get(k, r.extra.get(k)),
                key_fields,
            )
            name = record.fields.get("name")
            twin = next((incoming[k] for k in keys if k in incoming), None)
            if twin is not None and _other_firm(name, twin.fields.get("name")):
                twin = None
            match = next((existing[k] for k in keys if k in existing), None)
            if (
                match is not None
                and "name" in customers.data
                and _other_firm(name, customers.data.at[match, "name"])
            ):
                match = None
            if twin is not None:
                _fold_into(twin, record, customers.spec, lang)
                outcomes["customers"].merged.append(record)
                ref = by_origin[twin.origins[0]]
            elif match is not None and match in matched:
                _fold_into(matched[match], record, customers.spec, lang)  # two rows for one existing record
                outcomes["customers"].merged.append(record)
                ref = ("row", match)
            elif match is not None:
                matched[match] = record
                ref = ("row", match)
            else:
                ref = ("new", record)
                new_customers.append((record, -1))
                for k in keys:
                    incoming[k] = record
            for origin in record.origins:
                by_origin[origin] = ref
            if record.source_key is not None:
                by_source_key.setdefault(str(record.source_key), ref)
    for row, record in matched.items():
        (
            outcomes["customers"].updated
            if writer.update(customers, row, record)
            else outcomes["customers"].unchanged
        ).append(record)
    # Records merged into a new customer were folded before it was written: write them now.
    created_rows: dict[int, int] = {}
    for record, _ in new_customers:
        row = writer.create(customers, record)
        created_rows[id(record)] = row
        outcomes["customers"].created.append(record)
    writer.flush(customers)
    id_step = assign_sheet_ids(after, "customers", state.high_water, book.today)
    state.high_water = dict(id_step.high_water)
    for sheet_key, row, col, value in id_step.cell_writes(after):
        writer.writes.append(CellWrite(after.tables[sheet_key].sheet_name, row, col, value))

    def customer_id_of(ref: tuple[str, Any]) -> Any:
        row = ref[1] if ref[0] == "row" else created_rows[id(ref[1])]
        return customers.data.at[row, "customer_id"], customers.data.at[
            row, "name"
        ] if "name" in customers.data else None

    ids = (
        {str(v).strip(): int(r) for r, v in customers.data["customer_id"].items() if not is_blank(v)}
        if customers.has("customer_id")
        else {}
    )

    linked_people: list[tuple[int, Any]] = []  # (customer row, contact name) of contacts linked so far

    def customer_names() -> CustomerNames:
        """Every customer by name (built once, and only when a child names its customer)."""
        found = CustomerNames(
            [(int(r), str(v)) for r, v in customers.data["name"].items() if not is_blank(v)]
            if "name" in customers.data
            else [],
            {int(r): phone_keys(v) for r, v in customers.data["phone"].items() if not is_blank(v)}
            if "phone" in customers.data
            else {},
        )
        contacts = after.tables.get("contacts")
        if contacts is not None and {"customer_id", "name"} <= set(contacts.data.columns):
            for cid, person in zip(contacts.data["customer_id"], contacts.data["name"], strict=True):
                if not is_blank(cid) and str(cid).strip() in ids:
                    found.add_person(ids[str(cid).strip()], person)
        for row, person in linked_people:
            found.add_person(row, person)
        return found

    names = _Lazy(customer_names)

    # Children: find the customer, then update on a key match or create.
    source_of_customers = {tm.source_sheet for tm, _ in built if tm.target == "customers"}
    children = [(tm.target, tm, r) for tm, records in built if tm.target != "customers" for r in records]
    children += [(r.target, None, r) for r in histories]
    indexes: dict[str, dict[tuple[str, ...], int]] = {}
    incoming_children: dict[str, dict[tuple[str, ...], Record]] = defaultdict(dict)
    matched_children: dict[tuple[str, int], Record] = {}
    for target, tm, record in children:
        table = after.tables.get(target)
        if table is None:
            raise WorkbookFileError(book.path, f"has no {target} sheet; run crmbook check")
        link = record.link or _default_link(record, tm, source_of_customers)
        found, reason = _find_customer(link, by_origin, by_source_key, ids, names, record)
        if found is None:
            file, sheet, row = record.origins[0]
            raw = (
                raw_text(*record.row_values) if record.row_values else _record_text(record, table.spec, lang)
            )
            reject = Reject(file, sheet, row, reason, raw)
            rejects.append(reject)
            outcomes[target].rejected.append(reject)
            continue
        row_ref = found if isinstance(found, tuple) else ("row", found)
        cid, cname = customer_id_of(row_ref)
        if target == "contacts" and not is_blank(record.fields.get("name")):
            customer_row = row_ref[1] if row_ref[0] == "row" else created_rows[id(row_ref[1])]
            linked_people.append((int(customer_row), record.fields["name"]))
            if names.value is not None:
                names.value.add_person(int(customer_row), record.fields["name"])
        record.fields["customer_id"] = cid
        record.customer = cname
        if table.col("customer_name") is not None and not is_blank(cname):
            record.fields.setdefault("customer_name", cname)
        key_fields = (tm.key if tm is not None else None) or DEFAULT_KEYS[target]
        if target not in indexes:
            indexes[target] = _index_existing(table, key_fields)
        keys = _keys(lambda k, r=record: r.fields.get(k, r.extra.get(k)), key_fields)
        twin = next((incoming_children[target][k] for k in keys if k in incoming_children[target]), None)
        match = next((indexes[target][k] for k in keys if k in indexes[target]), None)
        if twin is not None:
            _fold_into(twin, record, table.spec, lang)
            outcomes[target].merged.append(record)
        elif match is not None and (target, match) in matched_children:
            _fold_into(matched_children[(target, match)], record, table.spec, lang)
            outcomes[target].merged.append(record)
        elif match is not None:
            matched_children[(target, match)] = record
        else:
            for k in keys:
                incoming_children[target][k] = record
            outcomes[target].created.append(record)
    for (target, row), record in matched_children.items():
        table = after.tables[target]
        (
            outcomes[target].updated if writer.update(table, row, record) else outcomes[target].unchanged
        ).append(record)
    if "contacts" in outcomes and "contacts" in after.tables:
        _mark_primary(after.tables["contacts"], outcomes["contacts"].created, lang)
    for target in CHILD_SHEETS:
        table = after.tables.get(target)
        if table is None:
            continue
        for record in outcomes[target].created if target in outcomes else []:
            writer.create(table, record)
        writer.flush(table)

    # What undo needs, the rejects, and one refresh over the result.
    record_of_import = {
        "time": now.isoformat(timespec="seconds"),
        "sources": sorted({s.file for s in sources}),
        "created": {
            k: [[r, d] for r, d in row_digests(after.tables[k], rows).items()]
            for k, rows in writer.created.items()
        },
        "new_columns": dict(writer.new_columns),
        "updated": with_formulas(book, writer.updated, inflated),
        "rejects": [[r.file, r.sheet, r.row, r.reason, r.raw] for r in rejects],
        # Source texts the value maps replaced with a list label, so they stay findable.
        "value_maps": [
            [tm.source_sheet, tm.target, k, v] for tm in mapping.tables for k, v in tm.values.items()
        ],
        "counts": {k: o.counts() for k, o in outcomes.items()},
        "undone": None,
    }
    state.extra.setdefault(SECTION, {})[import_id] = record_of_import
    after.state = state
    changeset = Changeset(cell_writes=writer.writes)
    for key, rows in writer.created.items():
        changeset.table_rows[after.tables[key].sheet_name] = max(rows)
    for key, columns in writer.new_columns.items():
        changeset.table_columns[after.tables[key].sheet_name] = [(col, name) for col, name in columns]
    # What only the matching needed goes before the refresh, which needs the room.
    del built, histories, by_origin, by_source_key, new_customers, matched, names
    for shared in (created_rows, ids, linked_people):  # the closures above hold these: emptied instead
        shared.clear()
    del children, indexes, incoming_children, matched_children, why, used
    # The matching loops' last values: every new customer's record, a whole sheet's records.
    records = incoming = existing = record = None  # type: ignore[assignment]
    if not keep_records:
        for outcome in outcomes.values():
            outcome.trim(SAMPLE)
        del sources, sheets  # the legacy rows (the caller handed them over)
        sheet = None  # type: ignore[assignment]  # the last one the rejects loop looked at
    refresh = None
    if with_refresh:
        written_over(after, writer.writes)  # the formulas imported values are written into are gone
        refresh = plan_refresh(after, now=now)
        changeset.add(refresh.changeset)
        changeset.owned_sheets.append(rejects_sheet(state, lang))
    return ImportPlan(
        import_id, changeset, dict(outcomes), rejects, problems, not_imported, refresh, lang, source_rows
    )


def _mark_primary(contacts: Table, created: list[Record], lang: Lang) -> None:
    """A customer's first contact, when it had none and the file marks none, is its primary contact."""
    if not contacts.has("primary") or not contacts.has("customer_id"):
        return
    has_contacts = {str(v).strip() for v in contacts.data["customer_id"] if not is_blank(v)}
    marked = {str(r.fields.get("customer_id")) for r in created if not is_blank(r.fields.get("primary"))}
    yes = load_schema().lists["yes_no"].item_by_key("yes").label(lang)
    for record in created:
        cid = str(record.fields.get("customer_id"))
        if cid not in has_contacts and cid not in marked:
            record.fields["primary"] = yes
            marked.add(cid)


def phone_region(book: Book) -> tuple[str, str | None]:
    """(the region numbers without a country code are read in, a problem with the setting or None)."""
    import phonenumbers

    value = book.settings.get("phone_region")
    text = "" if is_blank(value) else str(value).strip().upper()
    if not text:
        return "CN", None
    if text in phonenumbers.SUPPORTED_REGIONS:
        return text, None
    label = load_schema().setting("phone_region").label(book.lang)
    return "CN", f"Settings {label} = {value!r} is not a region code (CN, HK, IN, US …); CN was used"


def known_customer_names(book: Book) -> frozenset[str]:
    """The name keys of the workbook's customers (for the proposal: are a file's customers known?)."""
    table = book.tables.get("customers")
    if table is None or "name" not in table.data:
        return frozenset()
    return frozenset(name_key(v) for v in table.data["name"] if not is_blank(v))


def _record_text(record: Record, spec: SheetSpec, lang: Lang) -> str:
    parts = [f"{spec.column(k).label(lang)}={v}" for k, v in record.fields.items() if not is_blank(v)]
    parts += [f"{k}={v}" for k, v in record.extra.items() if not is_blank(v)]
    return "｜".join(parts)


def _index_existing(table: Table, key_fields: list[str]) -> dict[tuple[str, ...], int]:
    index: dict[tuple[str, ...], int] = {}
    if table.data.empty:
        return index
    columns = {k: table.data[k].tolist() for k in key_fields if k in table.data.columns}
    for i, row in enumerate(table.data.index):
        for key in _keys(
            lambda k, i=i: table.key if k == "__sheet__" else (columns[k][i] if k in columns else None),
            key_fields,
        ):
            index.setdefault(key, int(row))
    return index


def _default_link(record: Record, tm: TableMapping | None, customer_sheets: set[str]) -> tuple[str, Any]:
    if not is_blank(record.fields.get("customer_id")):
        return ("id", record.fields["customer_id"])
    if not is_blank(record.fields.get("customer_name")):
        return ("name", record.fields["customer_name"])
    if tm is not None and tm.source_sheet in customer_sheets:
        return ("row", record.origins[0])
    if tm is not None and "customer_name" in tm.columns.values():
        return ("name", None)  # the column is mapped, this row's cell is empty
    return ("none", None)


def _find_customer(
    link: tuple[str, Any],
    by_origin: dict[Origin, tuple[str, Any]],
    by_source_key: dict[str, tuple[str, Any]],
    ids: dict[str, int],
    names: _Lazy[CustomerNames],
    record: Record,
) -> tuple[tuple[str, Any] | int | None, str]:
    kind, value = link
    if kind == "row":
        ref = by_origin.get(value)
        return (ref, "") if ref else (None, "its source row made no customer")
    if kind == "none":
        return None, "no customer: map a customer ID or customer name column"
    if is_blank(value):
        return (
            None,
            f"the customer cell ({'customer ID' if kind in ('key', 'id') else 'customer name'}) is empty",
        )
    text = str(value).strip()
    if kind in ("key", "id"):
        if kind == "id" and text in ids:
            return ids[text], ""
        if text in by_source_key:
            return by_source_key[text], ""
        return None, f"no customer with ID {text!r} in the workbook or the file"
    phones = frozenset().union(*(phone_keys(record.fields.get(k)) for k in ("phone", "mobile")))
    people = [v for v in (*record.fields.values(), *record.extra.values()) if isinstance(v, str)]
    found = names.get().find(text, phones, people)
    return found.row, found.reason


class _Lazy(Generic[T]):
    """A value made on first use."""

    def __init__(self, make: Callable[[], T]) -> None:
        self.make = make
        self.value: T | None = None

    def get(self) -> T:
        if self.value is None:
            self.value = self.make()
        return self.value


# ------------------------------------------------------------------ the rejects sheet

REJECT_HEADERS = {
    "zh": ("导入编号", "导入时间", "源文件", "源工作表", "源行号", "原因", "原始内容"),
    "en": ("Import ID", "Imported at", "Source file", "Source sheet", "Source row", "Reason", "Raw values"),
}


def _already_rejected(state: State | None, rejects: list[Reject]) -> bool:
    """Every one of ``rejects`` is on the rejects sheet already, from an earlier import not undone
    (the 合计 row of a ledger imported again next month)."""
    if state is None:
        return False
    earlier = {
        tuple(r)
        for record in state.extra.get(SECTION, {}).values()
        if not record.get("undone")
        for r in record.get("rejects", [])
    }
    return all((r.file, r.sheet, r.row, r.reason, r.raw) in earlier for r in rejects)


def rejects_sheet(state: State, lang: Lang) -> OwnedSheet:
    """Every source row an import could not use (imports not undone), with the reason and its raw values."""
    rows: list[list[SheetCell | None]] = [[SheetCell(h, "header") for h in REJECT_HEADERS[lang]]]
    for import_id, record in sorted(state.extra.get(SECTION, {}).items()):
        if record.get("undone"):
            continue
        when = dt.datetime.fromisoformat(record["time"])
        for file, sheet, row, reason, raw in record.get("rejects", []):
            rows.append(
                [
                    SheetCell(import_id),
                    SheetCell(when, "datetime"),
                    SheetCell(file),
                    SheetCell(sheet),
                    SheetCell(int(row), "integer"),
                    SheetCell(reason, "wrap"),
                    SheetCell(str(raw)[:32000], "wrap"),
                ]
            )
    return OwnedSheet(
        name=load_schema().owned_sheet_name("import_rejects", lang),
        rows=rows,
        widths={1: 15, 2: 17, 3: 24, 4: 14, 5: 8, 6: 40, 7: 80},
        freeze="A2",
        autofilter=f"A1:G{len(rows)}",
        tab_color="C00000",
    )


# ------------------------------------------------------------------ undo


@dataclass
class UndoImportPlan:
    changeset: Changeset
    import_id: str
    removed: int
    restored: int


def plan_undo_import(
    book: Book,
    import_id: str,
    *,
    now: dt.datetime | None = None,
    section: str = SECTION,
    what: str = "import",
) -> UndoImportPlan:
    """Empty the rows import ``import_id`` created and put back what it replaced; refuse over later edits.

    ``section`` and ``what``: the state section and the word for another command that remembers what it
    did the same way (``crmbook collect``)."""
    now = now or dt.datetime.now()
    state = copy.deepcopy(book.state) if book.state is not None else State()
    record = undoable_record(state, section, what, import_id)
    after = copy_book(book)
    conflicts: list[str] = []
    writes: list[CellWrite] = []
    created_ids: set[str] = set()
    created_rows: dict[str, set[int]] = {
        k: {int(r) for r, _ in rows} for k, rows in record["created"].items()
    }
    for key, rows in record["created"].items():
        table = after.tables.get(key)
        if table is None:
            conflicts.append(f"the {key} sheet is gone")
            continue
        current = row_digests(table, [int(r) for r, _ in rows])
        for row, digest in rows:
            row = int(row)
            if row not in table.data.index or current[row] != digest:
                conflicts.append(f"{table.sheet_name} row {row} was edited since the {what}")
                continue
            if key == "customers" and table.has("customer_id"):
                cid = table.data.at[row, "customer_id"]
                if not is_blank(cid):
                    created_ids.add(str(cid).strip())
            for name in table.data.columns:
                value = table.data.at[row, name]
                col = table.columns.get(name) or table.extra_columns.get(name)
                if col is not None and (not is_blank(value) or row in table.formulas.get(name, {})):
                    writes.append(CellWrite(table.sheet_name, row, col, None))
            table.data = table.data.drop(index=row)
    for key in CHILD_SHEETS:
        table = after.tables.get(key)
        if table is None or not table.has("customer_id") or not created_ids:
            continue
        refs = table.data["customer_id"].map(lambda v: "" if is_blank(v) else str(v).strip())
        for row in table.data.index[refs.isin(created_ids)]:
            conflicts.append(
                f"{table.sheet_name} row {row} refers to {refs[row]}, a customer this {what} created"
            )
    for key, row, name, old, new, *formula in record["updated"]:
        table = after.tables.get(key)
        col = None if table is None else table.columns.get(name) or table.extra_columns.get(name)
        if table is None or col is None:
            conflicts.append(f"the {key} sheet or its {name} column is gone")
            continue
        current = table.data.at[int(row), name] if int(row) in table.data.index else None
        if isinstance(new, dict) and "formula" in new:  # a formula written: compared as one
            unchanged = table.remembered_formula(name, int(row)) == new["formula"]  # not its result
        else:
            unchanged = _same(current, decode_value(new))
        if not unchanged:
            conflicts.append(f"{table.sheet_name} row {row} {name} was edited since the {what}")
            continue
        shown = decode_value(old)
        restored = Formula(formula[0], None if isinstance(shown, dt.date) else shown) if formula else shown
        writes.append(CellWrite(table.sheet_name, int(row), col, restored))
        table.data.at[int(row), name] = shown
    columns_removed: dict[str, list[tuple[int, str | None]]] = {}  # sheet -> new columns taken away
    for key, columns in record.get("new_columns", {}).items():
        table = after.tables.get(key)
        if table is None:
            continue
        for col, name in columns:
            if name in table.data.columns and table.data[name].map(is_blank).all():
                writes.append(CellWrite(table.sheet_name, table.header_row, int(col), None))
                table.data = table.data.drop(columns=[name])
                table.extra_columns.pop(name, None)
                columns_removed.setdefault(table.sheet_name, []).append((int(col), None))
    if conflicts:
        shown = "; ".join(conflicts[:5]) + (f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise InputError(
            f"cannot undo {import_id} without overwriting later edits: {shown}. "
            f"Put those cells back as the {what} left them, or remove the records by hand."
        )
    record["undone"] = now.isoformat(timespec="seconds")
    after.state = state
    changeset = Changeset(cell_writes=writes, table_columns=columns_removed)
    written_over(after, writes)  # formulas given back are formulas again
    refresh = plan_refresh(after, now=now)
    changeset.add(refresh.changeset)
    changeset.owned_sheets.append(rejects_sheet(state, book.lang))
    removed = sum(len(v) for v in created_rows.values())
    return UndoImportPlan(changeset, import_id, removed, len(record["updated"]))


# ------------------------------------------------------------------ files


@dataclass
class ImportResult:
    path: str
    plan: ImportPlan | None
    written: bool
    backup_path: str | None
    seconds: float = 0.0
    undo: UndoImportPlan | None = None
    dry_run: bool = False
    mapping: Mapping | None = None  # the mapping used (proposed or given)


def fit_mapping(mapping: Mapping, tables: list[LegacySheet]) -> Mapping:
    """``mapping`` for ``tables``: a mapping of one source sheet reads the one sheet of another file.

    A CSV's sheet is named after its file, so the mapping written for ``客户-2026-02.csv`` names the
    sheet ``客户-2026-02``; next month's export, ``客户-2026-03.csv``, is the same kind of file and its
    one sheet is the one the mapping means. With several sheets on either side the names decide.
    """
    names = {tm.source_sheet for tm in mapping.tables}
    lookups = [v for tm in mapping.tables for v in dict(tm.options.get("lookups", {})).values()]
    if len(tables) != 1 or len(names) != 1 or tables[0].sheet in names or lookups:
        return mapping
    sheet = tables[0].sheet
    return dataclasses.replace(
        mapping, tables=[dataclasses.replace(tm, source_sheet=sheet) for tm in mapping.tables]
    )


def import_file(
    source: str | os.PathLike[str],
    into: str | os.PathLike[str],
    mapping: Mapping | None = None,
    *,
    dry_run: bool = False,
    sheets: Iterable[str] | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the legacy file ``source`` into the workbook ``into`` (or only plan it, with ``dry_run``)."""
    import time

    from crmbook.legacy import read_legacy
    from crmbook.mapping import propose_mapping

    started = time.perf_counter()
    spath, target = os.fspath(source), os.fspath(into)
    if Path(spath).resolve() == Path(target).resolve():
        raise InputError(f"{spath}: importing a workbook into itself; name another file with --into")
    tables = read_legacy(spath, list(sheets) if sheets else None)
    if not tables:
        raise InputError(f"{spath}: every sheet is empty; is it the right file?")
    with editing(target, today, lock_timeout=lock_timeout) as edit:
        used = fit_mapping(mapping, tables) if mapping else None
        used = used or propose_mapping(
            tables, lang=edit.book.lang, known_customers=known_customer_names(edit.book)
        )
        if mapping is None and all(t.headerless for t in tables) and not any(t.columns for t in used.tables):
            raise InputError(
                f"{spath}: has no header row, and no column holds what crmbook recognises (names, phones, "
                "e-mails); is it the right file? If it is, add a header row naming the columns"
            )
        handed = [tables]  # plan_import holds the only reference, and lets go of it before its refresh
        del tables
        plan = plan_import(
            edit.book,
            handed.pop(),
            used,
            now=now,
            progress=progress,
            with_refresh=not dry_run,
            keep_records=dry_run,
            inflated=edit.inflated,
        )
        new_rejects = bool(plan.rejects) and not _already_rejected(edit.book.state, plan.rejects)
        written = not dry_run and (plan.changed or (new_rejects and not plan.all_rejected))
        backup = edit.save(plan.changeset) if written else None
    return ImportResult(
        target, plan, written, backup, time.perf_counter() - started, dry_run=dry_run, mapping=used
    )


def undo_import(
    path: str | os.PathLike[str],
    import_id: str,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> ImportResult:
    """Remove what import ``import_id`` created and restore what it updated."""
    with editing(path, today, lock_timeout=lock_timeout) as edit:
        undo = plan_undo_import(edit.book, import_id, now=now)
        backup = edit.save(undo.changeset)
    return ImportResult(edit.path, None, True, backup, undo=undo)


def format_import_summary(result: ImportResult, *, samples: int = SAMPLE) -> list[str]:
    """The preview and summary lines the CLI prints."""
    if result.undo is not None:
        u = result.undo
        return [
            f"{result.path}: undid import {u.import_id}: {counted(u.removed, 'record')} removed, "
            f"{counted(u.restored, 'value')} restored"
        ]
    plan = result.plan
    assert plan is not None
    schema = load_schema()
    lines = []
    for key in ("customers", "contacts", "followups", "opportunities"):
        outcome = plan.outcomes.get(key)
        if outcome is None:
            continue
        label = schema.sheet(key).label(plan.lang)
        counts = outcome.counts()
        lines.append(f"{label}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for kind in ("created", "updated", "merged"):
            for record in getattr(outcome, kind)[:samples]:
                shown = "｜".join(
                    str(v) for k, v in record.fields.items() if k in ("name", "content", "phone", "mobile")
                ) + (f" → {record.customer}" if record.customer is not None else "")
                lines.append(f"  {kind:<9} {record.where()}: {shown[:80]}")
            if len(getattr(outcome, kind)) > samples:
                lines.append(f"  … and {len(getattr(outcome, kind)) - samples} more {kind}")
        for reject in outcome.rejected[:samples]:
            lines.append(f"  rejected  {reject.file} › {reject.sheet} › row {reject.row}: {reject.reason}")
        if len(outcome.rejected) > samples:
            lines.append(
                f"  … and {len(outcome.rejected) - samples} more rejected (all on the Import rejects sheet)"
            )
    grouped = _grouped_problems(plan.problems)
    for problem in grouped[:10]:
        lines.append(f"  kept as typed: {problem}")
    if len(grouped) > 10:
        lines.append(
            f"  … and {len(grouped) - 10} more kinds of values kept as typed (refresh lists them on the Issues sheet)"
        )
    for name in plan.not_imported:
        lines.append(f"  not imported: sheet {name!r} (no table for it in the mapping)")
    lines = _mapping_lines(result) + lines
    n = plan.source_rows
    rows = counted(n, "source row")
    nothing = "would import nothing" if result.dry_run else "nothing imported"
    if result.written:
        lines.append(
            f"{result.path}: imported {rows} ({len(plan.rejects)} rejected"
            + (", listed on the Import rejects sheet" if plan.rejects else "")
            + f") in {result.seconds:.1f} s; undo with: crmbook import --undo {result.path} {plan.import_id}"
        )
    elif n == 0:
        lines.append(f"{result.path}: {nothing}: the file has headers but no rows of data under them")
    elif plan.all_rejected:
        lines.append(f"{result.path}: {nothing}: all {rows} rejected; {plan.main_reason()}")
    elif result.dry_run and plan.changed:
        lines.append(f"{result.path}: would import {rows} ({len(plan.rejects)} rejected)")
    else:
        already = (
            "is already in the workbook as it is" if n == 1 else "are already in the workbook as they are"
        )
        lines.append(f"{result.path}: {nothing}: the {rows} {already}")
    return lines


def _grouped_problems(problems: list[str]) -> list[str]:
    """The same value kept as typed for the same reason on many rows: one line, with its first row and a count."""
    groups: dict[str, list[str]] = {}
    for problem in problems:
        where, _, what = problem.partition(": ")
        groups.setdefault(what or where, []).append(where)
    return [
        f"{wheres[0]}: {what}" + (f" (and {len(wheres) - 1} more rows)" if len(wheres) > 1 else "")
        for what, wheres in groups.items()
    ]


def _given_rules(table: TableMapping, lang: Lang) -> list[str]:
    """The scales and won-row copies of a mapping file, as the dry run shows them."""
    from crmbook.values import unit_scale

    spec = load_schema().sheet(table.target)
    lines = []
    for header, unit in dict(table.options.get("scale", {})).items():
        key = table.columns.get(str(header))
        label = spec.column(key).label(lang) if key else "?"
        lines.append(f"{header} → {label} ×{unit_scale(unit) or 1:,} (the mapping's scale)")
    for key, source in dict(table.options.get("when_won", {})).items():
        lines.append(
            f"on a won row without one, {spec.column(str(key)).label(lang)} is its "
            f"{spec.column(str(source)).label(lang)} (the mapping's when_won)"
        )
    return lines


def _unscaled(table: TableMapping, lang: Lang) -> list[str]:
    """Amount columns of a mapping file whose header states a unit (金额（万元）) the mapping gives no scale."""
    from crmbook.import_headers import header_scale

    spec = load_schema().sheet(table.target)
    scales = {str(h) for h in dict(table.options.get("scale", {}))}
    out = []
    for header, key in table.columns.items():
        scaled = header_scale(header) if spec.column(key).type == "amount" else None
        if scaled is not None and header not in scales:
            out.append(
                f"{header} says its numbers are in {scaled[2]}, but the mapping gives it no scale, so they "
                f'are read as yuan; if they are in {scaled[2]}, add scale = {{ "{header}" = {scaled[1]} }} '
                "to its table"
            )
    return out


def _mapping_lines(result: ImportResult) -> list[str]:
    """Why the proposed mapping is what it is (dry run), and what it is unsure of (always)."""
    lines: list[str] = []
    tables = result.mapping.tables if result.mapping is not None else []
    proposed = any(table.reasons for table in tables)  # else a mapping file, which says nothing of why
    for table in tables:
        if result.dry_run and table.reasons:
            lines.append(f"mapping of {table.source_sheet!r}:")
            lines += [f"  {reason}" for reason in table.reasons]
        elif (
            result.dry_run and not proposed and (table.options.get("scale") or table.options.get("when_won"))
        ):
            lines.append(f"mapping of {table.source_sheet!r} ({table.target}):")
            lines += [f"  {line}" for line in _given_rules(table, result.plan.lang if result.plan else "zh")]
        if not proposed:
            lines += [
                f"  check: {line}" for line in _unscaled(table, result.plan.lang if result.plan else "zh")
            ]
        if result.dry_run:
            for key, value_map in table.values.items():
                pairs = [f"{a} → {b}" for a, b in value_map.items()]
                shown = ", ".join(pairs[:8]) + (f", … ({len(pairs) - 8} more)" if len(pairs) > 8 else "")
                lines.append(f"  values of {table.target}.{key}: {shown}")
        lines += [f"  check: {doubt}" for doubt in table.doubts]
    return lines
