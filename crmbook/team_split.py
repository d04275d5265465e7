"""``crmbook split``: one workbook per rep, cut from the canonical workbook.

Each rep file is built from the template (:func:`crmbook.template.build_workbook`, so it has the
canonical workbook's tables, dropdowns, formats and hints) and the records of the rep's customers
(customers whose owner is the rep, with every contact, follow-up and deal of theirs), the user's
own extra columns of those sheets, the Lists and Settings as the canonical workbook has them (the
reps block holds the rep alone), and what was split (:mod:`crmbook.team_state`), in very hidden
sheets. Then the ordinary refresh builds the rep's dashboard, reminders and issues; a macro-enabled
canonical workbook gives macro-enabled rep files with the buttons (:func:`crmbook.buttons.install_buttons`).
The user's own extra sheets, cell formatting and charts are not carried: they hold other reps'
customers as often as not.

The canonical workbook is changed only to remember the split (its state sheet) and to fill IDs
still empty: collect matches records by ID, so every record needs one before it leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crmbook.book import Book, Settings, Table, copy_book
from crmbook.changeset import CellWrite, Changeset, OwnedSheet, SheetCell
from crmbook.dedupe import CustomerFeatures
from crmbook.errors import InputError
from crmbook.ids import IdAssignment, IdPattern, child_sheet_ids, customer_ids_and_references
from crmbook.schema import Lang, Rep, Schema, load_schema, normalize_label
from crmbook.state import State, state_sheet
from crmbook.team_state import (
    SPLIT_SECTION,
    SPLIT_SHEET,
    SplitMemo,
    base_sheet_name,
    formula_sheet_name,
    id_text,
    id_texts,
    memo_rows,
    next_id,
)
from crmbook.wording import counted, records

if TYPE_CHECKING:
    from crmbook.team_sheets import SheetTemplate

__all__ = ["RepPart", "SplitPlan", "SplitResult", "plan_split", "redacted_fields", "rep_file_name", "split"]

CHILD_SHEETS = ("contacts", "followups", "opportunities")
KEEP_ALWAYS = {"customer_id", "owner"}  # what collect needs to match records and owners


@dataclass
class RepPart:
    """One rep's share of the canonical workbook."""

    rep: str
    frames: dict[str, pd.DataFrame]  # sheet key -> the rep's records (schema keys and user columns)
    extra: dict[str, list[str]]  # sheet key -> user column headers carried

    def counts(self) -> dict[str, int]:
        return {k: len(f) for k, f in self.frames.items()}


@dataclass
class SplitPlan:
    split_id: str
    changeset: Changeset  # for the canonical workbook: IDs filled, the split remembered
    parts: list[RepPart]
    redacted: list[str]
    ids_assigned: int
    unowned: int  # customers without an owner (they stay with the lead)
    orphans: dict[str, int]  # sheet key -> records whose customer is not known
    state: State
    book: Book = field(repr=False)
    customer_features: CustomerFeatures | None = field(default=None, repr=False)  # of the book's customers
    customer_scopes: dict[str, str] = field(default_factory=dict, repr=False)  # see customer_scopes()


def redacted_fields(book: Book, schema: Schema | None = None) -> list[str]:
    """The field keys the ``split_redact`` setting lists (by key or label in either language)."""
    schema = schema or load_schema()
    text = str(book.settings.get("split_redact") or "")
    by_label: dict[str, str] = {}
    labels_of: dict[str, set[str]] = {}  # a field's key -> its labels, folded
    for spec in schema.sheets:
        for col in spec.columns:
            for label in (col.key, col.zh, col.en):
                by_label.setdefault(normalize_label(label), col.key)
                labels_of.setdefault(col.key, set()).add(normalize_label(label))
    user_columns: dict[str, str] = {}  # the user's own columns of the record sheets, by their header
    for k in ("customers", *CHILD_SHEETS):
        if k in book.tables:
            for header in book.tables[k].extra_columns:
                user_columns.setdefault(normalize_label(str(header)), str(header))
    out: list[str] = []
    for piece in re.split(r"[;；,，、\n]", text):
        if not piece.strip():
            continue
        folded = normalize_label(piece)
        key = by_label.get(folded)
        # A user's own column of that header (a 备注 or 地址 column added to 联系人) is left out too.
        named = labels_of.get(key, set()) | {folded} if key is not None else {folded}
        headers = [header for f, header in user_columns.items() if f in named]
        if key is None and not headers:
            raise InputError(
                f"Settings › split_redact names {piece.strip()!r}, which is no field of the workbook nor a "
                "column of its record sheets; list fields by their header, separated by semicolons"
            )
        if key is not None and (
            key in KEEP_ALWAYS
            or any(
                c.key == key and (c.required or c.key == s.id_column)
                for s in schema.sheets
                for c in s.columns
            )
        ):
            raise InputError(
                f"Settings › split_redact names {piece.strip()!r}: a rep file cannot work without it "
                "(IDs, customer IDs, owners and required fields are always carried)"
            )
        for name in [key, *headers] if key is not None else headers:
            if name not in out:
                out.append(name)
    return out


def _carried_columns(table: Table, redacted: list[str]) -> list[str]:
    """The frame columns a rep file carries for ``table``: its schema fields (not crmbook's derived
    ones, not redacted ones) and the user's columns, ID first."""
    owned = {c.key for c in table.spec.columns if c.owned} - {table.spec.id_column}
    keys = [
        c.key
        for c in table.spec.columns
        if c.key in table.data.columns and c.key not in owned and c.key not in redacted
    ]
    return keys + [c for c in table.extra_columns if str(c) not in redacted]


def _name_children_by_their_customer(carried: dict[str, pd.DataFrame], cids: pd.Series) -> None:
    """A contact's, follow-up's or deal's 客户名称 in the rep files is the name of the customer its
    客户编号 names: a name typed for another customer (a record moved to this customer by its ID, a
    slip) would carry that customer, another rep's as often as not, into the rep's file."""
    customers = carried["customers"]
    if "name" not in customers.columns:
        return
    named = (cids != "").to_numpy() & customers["name"].notna().to_numpy()
    name_of = pd.Series(customers["name"].to_numpy()[named], index=cids.to_numpy()[named])
    name_of = name_of[~name_of.index.duplicated()]
    for key, frame in carried.items():
        if key == "customers" or "customer_name" not in frame.columns or "customer_id" not in frame.columns:
            continue
        theirs = _id_column(frame["customer_id"]).map(name_of)
        typed = frame["customer_name"]
        other = (theirs.notna() & typed.notna()).to_numpy()
        other[other] = [
            str(a).strip() != str(b).strip() for a, b in zip(typed[other], theirs[other], strict=True)
        ]
        if other.any():
            frame = carried[key] = frame.copy()
            frame.loc[other, "customer_name"] = theirs[other]


def _held_ids_high_water(ids: IdAssignment) -> dict[str, int]:
    """The high water after ``ids``, raised to every ID the book holds: a number a rep file carries
    is never given again by the canonical workbook, even when the lead deletes that record meanwhile."""
    out = dict(ids.high_water)
    for hw_key, seq in ids.held.items():
        if seq > out.get(hw_key, 0):
            out[hw_key] = seq
    return out


def _id_column(column: pd.Series) -> pd.Series:
    return pd.Series(id_texts(column.tolist()), index=column.index, dtype=object)


def _positions_by(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The positions of each label, in order."""
    codes, uniques = pd.factorize(labels)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {str(u): order[bounds[i] : bounds[i + 1]] for i, u in enumerate(uniques)}


def _reps_in_order(book: Book, owners: Iterable[str]) -> list[str]:
    present = set(owners)
    known = [r.name for r in book.settings.reps if r.name in present]
    return known + sorted(present - set(known))


def _state_to_change(state: State | None) -> State:
    """A copy of ``state`` whose high-water marks and split records a split may change; the rest
    (snapshots, other sections: large, and left as they are) shared, not copied."""
    if state is None:
        return State()
    extra = dict(state.extra)
    extra[SPLIT_SECTION] = dict(extra.get(SPLIT_SECTION, {}))
    return dataclasses.replace(state, high_water=dict(state.high_water), extra=extra)


def plan_split(
    book: Book,
    *,
    redact: bool = False,
    now: dt.datetime | None = None,
    customer_features: CustomerFeatures | None = None,
) -> SplitPlan:
    """Every rep's share of ``book`` and what the canonical workbook must remember; touches no file.

    ``customer_features``: the duplicate search's reading of ``book``'s customers, when already worked
    out; each rep's refresh then takes its share of them instead of parsing its customers again."""
    now = now or dt.datetime.now()
    schema = load_schema()
    redacted = redacted_fields(book, schema) if redact else []
    state = _state_to_change(book.state)
    after = copy_book(book)
    first = customer_ids_and_references(after, state.high_water, book.today)
    rest = child_sheet_ids(after, first.high_water, book.today)
    ids = first.followed_by(rest)
    state.high_water = _held_ids_high_water(ids)
    writes = [
        CellWrite(after.tables[k].sheet_name, row, col, value)
        for k, row, col, value in ids.cell_writes(after)
    ]
    customers = after.tables["customers"]
    if "owner" not in customers.data.columns:
        raise InputError(f"{book.path}: the {customers.sheet_name} sheet has no owner column to split by")
    owners = _id_column(customers.data["owner"])
    cids = _id_column(customers.data["customer_id"]) if "customer_id" in customers.data else owners.map(str)
    no_owner = (owners == "").to_numpy()
    unowned = int(customers.data[no_owner].notna().any(axis=1).sum())
    split_id = next_id(state, SPLIT_SECTION, "S", book.today)
    child_refs = {
        k: _id_column(after.tables[k].data["customer_id"])
        for k in CHILD_SHEETS
        if k in after.tables and "customer_id" in after.tables[k].data.columns
    }
    known_ids = set(cids[cids != ""])
    owned = ~no_owner & (cids != "").to_numpy()
    owner_of = pd.DataFrame({"id": cids[owned], "rep": owners[owned]}).drop_duplicates()
    # Each sheet's rows grouped by rep in one pass: a record goes to its customer's owner.
    rows_of: dict[str, dict[str, np.ndarray]] = {"customers": _positions_by(owners.to_numpy(dtype=object))}
    orphans: dict[str, int] = {}
    for key, refs in child_refs.items():
        records = pd.DataFrame({"id": refs.to_numpy(dtype=object), "at": np.arange(len(refs))})
        placed = records.merge(owner_of, on="id", how="inner", sort=False)  # keeps the records' order
        by_rep = _positions_by(placed["rep"].to_numpy(dtype=object))
        rows_of[key] = {rep: placed["at"].to_numpy()[at] for rep, at in by_rep.items()}
        unknown = (~refs.isin(known_ids)).to_numpy()
        orphans[key] = int(after.tables[key].data[unknown].notna().any(axis=1).sum())
    # The columns carried, taken once per sheet: each rep's rows are then a plain row selection.
    carried = {
        k: t.data[_carried_columns(t, redacted)]
        for k, t in after.tables.items()
        if k == "customers" or k in CHILD_SHEETS
    }
    _name_children_by_their_customer(carried, cids)
    empty = np.zeros(0, dtype=np.intp)
    parts: list[RepPart] = []
    for rep in _reps_in_order(book, owners[owners != ""]):
        frames = {"customers": carried["customers"].take(rows_of["customers"][rep])}
        extra = {"customers": [c for c in customers.extra_columns if str(c) not in redacted]}
        for key in CHILD_SHEETS:
            table = after.tables.get(key)
            if table is None:
                continue
            frames[key] = carried[key].take(rows_of.get(key, {}).get(rep, empty))
            extra[key] = [c for c in table.extra_columns if str(c) not in redacted]
        parts.append(RepPart(rep, frames, extra))
    state.extra.setdefault(SPLIT_SECTION, {})[split_id] = {
        "time": now.isoformat(timespec="seconds"),
        "by": "owner",
        "redacted": redacted,
        "reps": {p.rep: p.counts() for p in parts},
    }
    changeset = Changeset(cell_writes=writes, owned_sheets=[state_sheet(state)])
    return SplitPlan(
        split_id,
        changeset,
        parts,
        redacted,
        ids.ids_assigned,
        unowned,
        orphans,
        state,
        after,
        customer_features,
        customer_scopes(after, state.high_water),
    )


FEATURE_FIELDS = ("name", "phone", "email", "address")  # what :func:`crmbook.dedupe.customer_features` reads


def rep_features(plan: SplitPlan, part: RepPart) -> CustomerFeatures | None:
    """The share of ``plan``'s customer features that is ``part``'s customers, on the rows the rep file
    gives them (2, 3, … in order); None when unknown or when a field they read is redacted."""
    features = plan.customer_features
    frame = part.frames.get("customers")
    if features is None or frame is None or set(FEATURE_FIELDS) & set(plan.redacted):
        return None
    rows = list(range(2, 2 + len(frame)))
    old = [int(r) for r in frame.index]
    per_row = (f.name for f in dataclasses.fields(CustomerFeatures) if f.name != "rows")
    return CustomerFeatures(
        rows=rows,
        **{name: {r: getattr(features, name)[o] for r, o in zip(rows, old, strict=True)} for name in per_row},
    )


# ------------------------------------------------------------------ one rep's workbook


def _rep_schema(schema: Schema, book: Book, redacted: list[str]) -> Schema:
    """The schema of a rep file: the canonical workbook's fields, less the redacted ones."""
    sheets = []
    for spec in schema.sheets:
        table = book.tables.get(spec.key)
        present = set(table.data.columns) if table is not None else set()
        columns = tuple(
            c for c in spec.columns if (c.key in present or c.required or c.owned) and c.key not in redacted
        )
        sheets.append(dataclasses.replace(spec, columns=columns))
    return dataclasses.replace(schema, sheets=tuple(sheets))


@dataclass
class RepTemplate:
    """The empty rep workbook every rep file of a split starts from, and where things are in it."""

    data: bytes
    schema: Schema
    sheet_names: list[str]
    extra: dict[str, list[str]]  # sheet key -> user column headers, after the schema's columns
    list_columns: dict[str, tuple[int, int]]  # list key -> (column, last row the template filled)
    reps_row: int  # the reps block's header row on the Settings sheet
    reps_rows: int  # rep rows the template wrote below it


def build_template(book: Book, redacted: list[str]) -> RepTemplate:
    """The template workbook (:func:`crmbook.template.build_workbook`) with the fields of the canonical
    workbook ``book`` but the ``redacted`` ones, its user columns on each record sheet, inside the
    sheet's Excel table. It depends on nothing :func:`plan_split` works out."""
    from openpyxl.utils import get_column_letter

    from crmbook.template import FILLS, HEADER_FONT, build_workbook, workbook_bytes

    lang: Lang = book.lang
    schema = _rep_schema(load_schema(), book, redacted)
    wb = build_workbook(lang=lang, schema=schema)
    for ws in wb.worksheets:  # a list formula is stored without its "=" (Excel repairs one with it)
        for dv in ws.data_validations.dataValidation:
            if dv.formula1 and str(dv.formula1).startswith("="):
                dv.formula1 = str(dv.formula1)[1:]
    extra = {
        spec.key: [c for c in book.tables[spec.key].extra_columns if str(c) not in redacted]
        if spec.key in book.tables
        else []
        for spec in schema.sheets
    }
    for spec in schema.sheets:
        if not extra[spec.key]:
            continue
        ws = wb[spec.label(lang)]
        first = len(spec.columns) + 1
        for i, header in enumerate(extra[spec.key], start=first):
            head = ws.cell(1, i, header)
            head.font, head.fill = HEADER_FONT, FILLS["normal"]
            ws.column_dimensions[get_column_letter(i)].width = max(12, len(str(header)) * 2)
        ws.tables[spec.table].ref = f"A1:{get_column_letter(first + len(extra[spec.key]) - 1)}2"
    lists_ws = wb[schema.config_sheet_name("lists", lang)]
    list_columns: dict[str, tuple[int, int]] = {}
    for c in range(1, lists_ws.max_column + 1):
        key = next((k for k, s in schema.lists.items() if s.label(lang) == lists_ws.cell(1, c).value), None)
        if key is not None:
            list_columns[key] = (c, len(schema.lists[key].items) + 1)
    return RepTemplate(
        workbook_bytes(wb),
        schema,
        list(wb.sheetnames),
        extra,
        list_columns,
        len(schema.settings) + 3,
        len(schema.reps),
    )


def rep_book(plan: SplitPlan, part: RepPart, template: RepTemplate, path: str) -> Book:
    """The rep's workbook as crmbook would read it once the records are in: what its refresh plans on."""
    book = plan.book
    lang: Lang = book.lang
    tables: dict[str, Table] = {}
    # Each table has its sheet's whole spec, as reading the rep file gives it: a field the file lacks
    # (left out by --redact, or missing in the canonical workbook) is a column the sheet does not have.
    whole = {spec.key: spec for spec in load_schema().sheets}
    for spec in template.schema.sheets:
        frame = part.frames.get(spec.key)
        columns = {c.key: i for i, c in enumerate(spec.columns, start=1)}
        extras = {h: len(columns) + i for i, h in enumerate(template.extra[spec.key], start=1)}
        names = [*columns, *extras]
        formulas: dict[str, dict[int, tuple[str, str]]] = {}
        if frame is None:
            data = pd.DataFrame(columns=names, dtype=object)
        else:
            data = frame.reindex(columns=names).astype(object)
            data = data.where(data.notna(), None)
            formulas = rep_formulas(book.tables.get(spec.key), frame, {**columns, **extras})
        data.index = pd.RangeIndex(2, 2 + len(data), name="row")
        table = Table(whole.get(spec.key, spec), spec.label(lang), 1, columns, extras, data)
        table.formulas = formulas
        tables[spec.key] = table
    mine = next((r for r in book.settings.reps if r.name == part.rep), Rep(part.rep, "", 0.0))
    return Book(
        path=path,
        lang=lang,
        tables=tables,
        settings=Settings(values=dict(book.settings.values), reps=[mine]),
        lists={k: list(v) for k, v in book.lists.items()},
        sheet_names=list(template.sheet_names),
        state=State(high_water=rep_high_water(plan, part)),
        today=book.today,
    )


def rep_formulas(
    canonical: Table | None, frame: pd.DataFrame, placed: dict[str, int]
) -> dict[str, dict[int, tuple[str, str]]]:
    """The formula cells of ``frame``'s records (indexed by their canonical Excel rows, in the rep
    file's order) as the rep file holds them: field -> {rep row: (the formula moved there, as Excel
    moves a copied formula, and its cell)}; ``placed``: the rep file's column of each field.

    Only the fields ``frame`` carries and only the records' cells (a formula filled down past the
    data is not carried). None at all when a column of the canonical sheet stands elsewhere in the
    rep file (a field left out by --redact before it, or the user's columns reordered): a formula's
    references would then read other columns, so the cells arrive as the results they showed."""
    if canonical is None or not canonical.formulas:
        return {}
    if any(placed.get(f) != c for f, c in {**canonical.columns, **canonical.extra_columns}.items()):
        return {}
    from crmbook.ooxml.cells import cell_ref
    from crmbook.ooxml.formulas import moved_formula

    owned = _owned(canonical)
    position = {int(r): i for i, r in enumerate(frame.index.tolist())}
    out: dict[str, dict[int, tuple[str, str]]] = {}
    for name, cells in canonical.formulas.items():
        col = placed.get(name)
        if col is None or name in owned or name not in frame.columns:
            continue
        for row, (text, origin) in cells.items():
            i = position.get(row)
            if i is None:
                continue
            moved = moved_formula(text, origin, (2 + i, col))
            if moved is not None:  # one whose reference would fall off the sheet: its result
                out.setdefault(name, {})[2 + i] = (moved, cell_ref(2 + i, col))
    return out


def formula_memo(table: Table) -> pd.DataFrame | None:
    """What the hidden formula sheet of a rep file holds for ``table`` (the rep's records, formulas on
    the rep's rows): the ID column, then each field holding a formula, as a snapshot remembers it
    (:func:`crmbook.ooxml.formulas.remembered_formula`; None where a record's cell holds a value)."""
    from crmbook.ooxml.formulas import remembered_formula

    if not table.formulas:
        return None
    id_col = table.spec.id_column
    rows = table.data.index.tolist()
    out = {id_col: table.data[id_col].tolist() if id_col in table.data.columns else [None] * len(rows)}
    for name, cells in table.formulas.items():
        col = table.columns.get(name) or table.extra_columns[name]
        out[name] = [remembered_formula(*cells[row], (row, col)) if row in cells else None for row in rows]
    return pd.DataFrame(out, index=table.data.index, dtype=object)


def with_formulas(table: Table, name: str, values: list[Any]) -> list[Any]:
    """``values`` (column ``name`` of ``table``'s records, on rows 2, 3, …) with each formula cell's
    value a :class:`crmbook.changeset.Formula` (its result kept as the cell's cached value)."""
    cells = table.formulas.get(name)
    if not cells:
        return values
    from crmbook.changeset import Formula

    out = list(values)
    for row, (text, _) in cells.items():
        shown = _cell(out[row - 2])
        out[row - 2] = Formula(text, shown if isinstance(shown, str | int | float | bool) else None)
    return out


def customer_scopes(book: Book, high_water: dict[str, int]) -> dict[str, str]:
    """The customer ID of each ID sequence of ``high_water`` counted per customer
    (``FLLW{customer_id}{seq:4}``), by its key."""
    patterns = {key: IdPattern.parse(book.settings.id_pattern(key)) for key in book.tables}
    out = {}
    for hw_key in high_water:
        sheet_key, _, scope = hw_key.partition(":")
        pattern = patterns.get(sheet_key)
        customer = None if pattern is None else pattern.scope_customer(scope)
        if customer is not None:
            out[hw_key] = customer
    return out


def rep_high_water(plan: SplitPlan, part: RepPart) -> dict[str, int]:
    """The ID sequences a rep file goes on from: every one, but of those counted per customer only
    the rep's customers'. The rep's refresh numbers nothing under another customer, and their IDs
    are provisional anyway (collect gives the final ones)."""
    customers = part.frames.get("customers")
    mine = set() if customers is None else {id_text(v) for v in customers["customer_id"].tolist()}
    scoped = plan.customer_scopes
    return {k: seq for k, seq in plan.state.high_water.items() if k not in scoped or scoped[k] in mine}


def _owned_cell(value: Any) -> SheetCell:
    value = _cell(value)
    if isinstance(value, dt.datetime):
        return SheetCell(value, "datetime" if value.time() != dt.time(0) else "date")
    if isinstance(value, dt.date):
        return SheetCell(value, "date")
    return SheetCell(value)


def _hidden(name: str, rows: list[list[Any]]) -> OwnedSheet:
    grid: list[list[SheetCell | None]] = [
        [None if v is None else _owned_cell(v) for v in row] for row in rows
    ]
    return OwnedSheet(name=name, rows=grid, hidden="veryHidden")


def rep_changeset(
    plan: SplitPlan,
    part: RepPart,
    template: RepTemplate,
    book: Book,
    book_name: str,
    now: dt.datetime,
    *,
    records: bool = True,
) -> Changeset:
    """Everything that turns the template into the rep's file: the records (unless ``records`` is
    false: :mod:`crmbook.team_sheets` wrote them), the Lists and Settings as the lead has them, what was
    split (hidden), and the refresh of it all (dashboard, reminders, issues)."""
    from crmbook.refresh import plan_refresh

    lang: Lang = book.lang
    changeset = Changeset()
    writes = changeset.cell_writes
    for table in book.tables.values():
        data = table.data
        if data.empty:
            continue
        owned = _owned(table)
        rows = data.index.tolist()
        for name, col in {**table.columns, **table.extra_columns}.items():
            if name in owned or not records:
                continue
            for row, v in zip(rows, with_formulas(table, name, data[name].tolist()), strict=True):
                if v is not None:
                    writes.append(CellWrite(table.sheet_name, row, col, _cell(v)))
        changeset.table_rows[table.sheet_name] = rows[-1]
    settings_sheet = template.schema.config_sheet_name("settings", lang)
    for r, spec in enumerate(template.schema.settings, start=2):
        value = book.settings.get(spec.key)
        if value is not None and value != spec.default_for(lang):
            writes.append(CellWrite(settings_sheet, r, 2, value))
    rep = book.settings.reps[0]
    for n in range(template.reps_rows):
        row = template.reps_row + 1 + n
        values = (rep.name, rep.team or None, rep.target) if n == 0 else (None, None, None)
        writes += [CellWrite(settings_sheet, row, c, v) for c, v in enumerate(values, start=1)]
    lists_sheet = template.schema.config_sheet_name("lists", lang)
    for key, (col, last) in template.list_columns.items():
        items = book.lists.get(key, [])
        if items == template.schema.lists[key].labels(lang):
            continue
        for r in range(2, max(last, len(items) + 1) + 1):
            writes.append(CellWrite(lists_sheet, r, col, items[r - 2] if r - 2 < len(items) else None))
    memo = SplitMemo(plan.split_id, part.rep, book_name, now.isoformat(timespec="seconds"), plan.redacted)
    changeset.owned_sheets.append(_hidden(SPLIT_SHEET, [["key", "value"], *memo.meta_rows()]))
    for spec in template.schema.sheets:
        frame = part.frames.get(spec.key)
        if frame is not None:
            changeset.owned_sheets.append(
                _hidden(base_sheet_name(spec.key), memo_rows(frame, spec.id_column))
            )
            formulas = formula_memo(book.tables[spec.key]) if spec.key in book.tables else None
            if formulas is not None:
                changeset.owned_sheets.append(
                    _hidden(formula_sheet_name(spec.key), memo_rows(formulas, spec.id_column))
                )
    refresh = plan_refresh(book, now=now, customer_features=rep_features(plan, part))
    changeset.add(refresh.changeset)
    return changeset


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


# ------------------------------------------------------------------ files

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def rep_file_name(rep: str, suffix: str) -> str:
    name = _UNSAFE.sub("_", rep).strip(" .") or "rep"
    return f"{name}{suffix}"


@dataclass
class RepFileResult:
    rep: str
    path: Path
    counts: dict[str, int]
    encrypted: bool


@dataclass
class SplitResult:
    path: str
    split_id: str
    files: list[RepFileResult]
    unowned: int
    orphans: dict[str, int]
    ids_assigned: int
    redacted: list[str]
    backup_path: str | None
    lang: Lang
    seconds: float = 0.0
    spaced_passwords: list[str] = field(
        default_factory=list
    )  # reps whose password starts or ends with a space


@dataclass(frozen=True)
class RepFileJob:
    """What every rep file of one split is made from (see :func:`rep_files`)."""

    plan: SplitPlan
    template: RepTemplate
    source: Path  # the template, written
    sheets: RecordSheets  # the template's parts, read
    book_name: str  # the canonical workbook's file name (remembered in each rep file)
    macro: bool
    now: dt.datetime
    passwords: dict[str, str] | None


def rep_files(job: RepFileJob, parts: list[RepPart], targets: list[Path], work: Path) -> Iterator[bytes]:
    """The finished file of each of ``parts`` (to be written at ``targets``), one after the other:
    checked like every workbook crmbook writes (:func:`crmbook.safe_save.self_check`), then
    encrypted with the rep's password when the split has passwords. ``work``: a folder of its own
    for the drafts. Pure but for that folder: :func:`split` runs it for every other rep in a second
    process (:func:`crmbook.parallel.beside_each`), each process making one rep file at a time."""
    from crmbook.parallel import in_place
    from crmbook.safe_save import self_check
    from crmbook.team_crypt import encrypt

    work.mkdir(exist_ok=True)
    with in_place():  # the two processes already keep both cores busy
        for part, target in zip(parts, targets, strict=True):
            data = _rep_file_bytes(job, part, work)
            self_check(target, data, replaces=False)
            yield data if job.passwords is None else encrypt(data, job.passwords[part.rep])


def _rep_file_bytes(job: RepFileJob, part: RepPart, work: Path) -> bytes:
    """The rep's workbook: the template patched by the surgical writer (with the buttons when the
    canonical workbook has macros); ``work``: a folder for the drafts."""
    from crmbook.buttons import install_buttons
    from crmbook.ooxml import apply_changeset

    book = rep_book(job.plan, part, job.template, str(job.source))
    draft = work / "records.xlsx"
    later = _write_records(job.sheets, draft, book)
    changeset = rep_changeset(job.plan, part, job.template, book, job.book_name, job.now, records=False)
    changeset.cell_writes[:0] = later
    data = apply_changeset(draft, changeset, lang=book.lang)
    if not job.macro:
        return data
    draft = work / "rep.xlsx"
    draft.write_bytes(data)
    target = work / "rep.xlsm"
    target.unlink(missing_ok=True)
    install_buttons(draft, target, today=book.today)
    return target.read_bytes()


def _owned(table: Table) -> set[str]:
    return {c.key for c in table.spec.columns if c.owned} - {table.spec.id_column}


@dataclass(frozen=True)
class RecordSheets:
    """The template package as every rep file's records go into it (read once for all of them): each
    record sheet cut up for :func:`crmbook.team_sheets.render_records`, every other part as stored."""

    sheets: dict[str, tuple[str, SheetTemplate]]  # sheet name -> (part name, its template)
    stored: list[tuple[str, zipfile.ZipInfo, bytes]]  # (part name, entry, compressed bytes), in order

    @classmethod
    def of(cls, source: Path, sheet_names: Iterable[str]) -> RecordSheets:
        from crmbook.ooxml.package import open_package
        from crmbook.team_sheets import sheet_template

        with open_package(source) as pkg:
            parts = pkg.sheet_parts()
            sheets = {name: (parts[name], sheet_template(pkg.read(parts[name]))) for name in sheet_names}
            stored = [(name, *pkg.raw(name)) for name in pkg.names]
        return cls(sheets, stored)


def _write_records(sheets: RecordSheets, draft: Path, book: Book) -> list[CellWrite]:
    """``draft``: the template with ``book``'s records in its record sheets (written whole, see
    :mod:`crmbook.team_sheets`); the cell writes left to the surgical writer."""
    from crmbook.ooxml.zipout import ZipAssembler
    from crmbook.team_sheets import render_records

    later: list[CellWrite] = []
    replaced: dict[str, bytes] = {}
    for table in book.tables.values():
        part, template = sheets.sheets[table.sheet_name]
        dates = {c for k, c in table.columns.items() if table.spec.column(k).type in ("date", "datetime")}
        xml, left = render_records(template, table, _owned(table), dates)
        replaced[part] = xml
        later += left
    out = ZipAssembler()
    for name, info, raw in sheets.stored:
        if name in replaced:
            out.add(name, replaced[name], info.date_time)
        else:
            out.copy(info, raw)
    draft.write_bytes(out.finish())
    return later


def split(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    by: str = "owner",
    passwords: dict[str, str] | None = None,
    redact: bool = False,
    force: bool = False,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> SplitResult:
    """Write one workbook per rep into ``out_dir`` and remember the split in the canonical workbook."""
    from crmbook.edit import editing
    from crmbook.parallel import beside, beside_each, in_place
    from crmbook.refresh import HeadStart, cyclic_gc_paused
    from crmbook.safe_save import write_new_file

    started = time.perf_counter()
    if by != "owner":
        raise InputError(f"--by {by}: crmbook splits by owner (the 负责人 Owner column of the customers)")
    now = now or dt.datetime.now()
    folder = Path(out_dir)
    spath = os.fspath(path)
    with (
        HeadStart() as head_start,
        cyclic_gc_paused(),
        editing(spath, today, lock_timeout=lock_timeout, on_table=head_start.table_read) as edit,
    ):
        features = head_start.customer_features()  # (its thread done before a second process starts)
        redacted = redacted_fields(edit.book) if redact else []
        with beside(build_template, edit.book, redacted) as making_template:  # on a second core meanwhile
            plan = plan_split(edit.book, redact=redact, now=now, customer_features=features)
            template = making_template.result()
        if not plan.parts:
            raise InputError(
                f"{spath}: no customer has an owner (负责人 / Owner); fill the owners, then split"
            )
        suffix = ".xlsm" if edit.book.macro_enabled else ".xlsx"
        names = _unique_names([rep_file_name(p.rep, suffix) for p in plan.parts])
        targets = [folder / n for n in names]
        if passwords is not None:
            missing = [p.rep for p in plan.parts if p.rep not in passwords]
            if missing:
                raise InputError(
                    f"the password file has no password for {', '.join(missing)}; add a line per rep "
                    "(name,password) and run again"
                )
        existing = [str(t) for t in targets if t.exists()]
        if existing and not force:
            raise InputError(
                f"{', '.join(existing[:5])}{' …' if len(existing) > 5 else ''} already exist: collect them "
                "first (crmbook collect), or use --force to replace them"
            )
        folder.mkdir(parents=True, exist_ok=True)
        files: list[RepFileResult] = []
        with tempfile.TemporaryDirectory(dir=folder, prefix=".crmbook-split-") as tmp:
            source = Path(tmp) / "template.xlsx"
            source.write_bytes(template.data)
            sheets = RecordSheets.of(source, [spec.label(plan.book.lang) for spec in template.schema.sheets])
            job = RepFileJob(
                plan, template, source, sheets, Path(spath).name, suffix == ".xlsm", now, passwords
            )
            # Every other rep file is made beside (on a second core) from now on, the others here once
            # the canonical workbook remembers the split; they are written in order.
            odd = slice(1, None, 2)
            with beside_each(rep_files, job, plan.parts[odd], targets[odd], Path(tmp) / "beside") as beside:
                with in_place():
                    backup = edit.save(plan.changeset)
                mine = rep_files(job, plan.parts[::2], targets[::2], Path(tmp) / "here")
                for n, (part, target) in enumerate(zip(plan.parts, targets, strict=True)):
                    data = beside.next() if n % 2 else next(mine)
                    write_new_file(target, data, overwrite=force, checked=True)
                    files.append(RepFileResult(part.rep, target, part.counts(), passwords is not None))
    return SplitResult(
        spath,
        plan.split_id,
        files,
        plan.unowned,
        plan.orphans,
        plan.ids_assigned,
        plan.redacted,
        backup,
        edit.book.lang,
        time.perf_counter() - started,
        [f.rep for f in files if passwords and passwords[f.rep] != passwords[f.rep].strip()],
    )


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        folded = name.casefold()
        seen[folded] = seen.get(folded, 0) + 1
        if seen[folded] > 1:
            stem, _, ext = name.rpartition(".")
            name = f"{stem}_{seen[folded]}.{ext}"
        out.append(name)
    return out


def format_split_summary(result: SplitResult) -> list[str]:
    schema = load_schema()
    zh = result.lang == "zh"
    lines = []
    for f in result.files:
        counts = (
            "，".join(f"{schema.sheet(k).label(result.lang)} {n}" for k, n in f.counts.items())
            if zh
            else ", ".join(records(n, k) for k, n in f.counts.items())
        )
        lock = (" (加密)" if zh else " (encrypted)") if f.encrypted else ""
        lines.append(f"  {f.path}{lock}: {counts}")
    if result.ids_assigned:
        lines.append(
            f"  {counted(result.ids_assigned, 'empty ID')} filled in {result.path} first (collect matches records by ID)"
        )
    if result.unowned:
        one = result.unowned == 1
        lines.append(
            f"  {records(result.unowned, 'customers')} {'has' if one else 'have'} no owner and "
            f"{'stays' if one else 'stay'} with the lead"
        )
    for key, n in result.orphans.items():
        if n:
            lines.append(
                f"  {records(n, key)} {'names' if n == 1 else 'name'} no known customer and "
                f"{'stays' if n == 1 else 'stay'} with the lead"
            )
    for rep in result.spaced_passwords:
        lines.append(
            f"  note: {rep}'s password begins or ends with a space (the password file's line for {rep}, after "
            "the comma): Excel asks for it with that space; if it was not meant, take it out of the file and "
            "split again with --force"
        )
    if result.redacted:
        labels = ", ".join(result.redacted)
        lines.append(f"  left out of every rep file (--redact): {labels}")
    lines.append(
        f"{result.path}: split {result.split_id} wrote {counted(len(result.files), 'rep file')} in {result.seconds:.1f} s; "
        f"bring them back with: crmbook collect {Path(result.files[0].path).parent}/* --into {result.path}"
    )
    return lines
