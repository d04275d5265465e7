"""``crmbook collect``: every rep's work back into the canonical workbook, by a three-way merge per cell.

For each cell of each record a rep file carries, three values meet: the value when the file was split
(remembered in the rep file, see :mod:`crmbook.team_state`), the rep's value now and the canonical
value now. A change on one side only is applied (the rep's is written; the canonical one stays); the
same change on both sides is applied once; different changes are **conflicts**, listed on the 冲突
Conflicts sheet with the three values, the rep, the file and a decision column, while the canonical
value stays. A record the rep deleted is listed there too, for confirmation, and never deleted
silently. Records a rep created come in with the canonical workbook's next IDs (the rep file's IDs
are provisional): every customer ID on the rep's contacts, follow-ups and deals is rewritten to the
final one, and follow-up IDs built from a customer ID are numbered under the final one.

What one collect did is remembered in the state sheet (section ``collect``) in the form import undo
reads (:func:`crmbook.importer.plan_undo_import` gives it back), with the rep cells it saw, so the
same file collected twice changes nothing and a file collected again after more work brings only the
new work. :func:`plan_resolve` applies the decisions typed on the Conflicts sheet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from crmbook.book import Book, Table, copy_book, written_over
from crmbook.changelog import KINDS, MAX_LOG_ROWS, Change, entry_rows, log_room
from crmbook.changeset import CellWrite, Changeset, Formula, OwnedSheet, SheetCell
from crmbook.dedupe import CustomerFeatures
from crmbook.errors import InputError, WorkbookFileError
from crmbook.ids import CHILD_SHEETS, assign_sheet_ids, customer_ids_and_references
from crmbook.importer import row_digests, with_formulas
from crmbook.ooxml.cells import cell_ref, col_letter
from crmbook.ooxml.formulas import is_remembered_formula, moved_formula, remembered_formula, shown_formula
from crmbook.refresh import HeadStart, RefreshPlan, WritePreparer, cyclic_gc_paused, plan_refresh
from crmbook.schema import Lang, load_schema
from crmbook.state import State, decode_value, encode_value, working_copy
from crmbook.team_conflicts import (
    DELETED_BY_REP,
    DELETED_IN_BOOK,
    FIELD,
    KEEP_BOOK,
    TAKE_REP,
    all_conflicts,
    conflicts_sheet,
    decision_of,
    read_conflict_decisions,
)
from crmbook.team_state import (
    COLLECT_SECTION,
    RECORD_SHEETS,
    RESOLVE_SECTION,
    SPLIT_SECTION,
    SPLIT_SHEET,
    History,
    SplitMemo,
    base_sheet_name,
    cell_key,
    formula_sheet_name,
    history_of,
    id_text,
    id_texts,
    next_id,
    read_memo,
    rep_key,
)
from crmbook.values import shown_text
from crmbook.wording import counted, records

__all__ = [
    "CollectPlan",
    "CollectResult",
    "RepWork",
    "collect",
    "conflicts_sheet",
    "format_collect_summary",
    "plan_collect",
    "plan_resolve",
    "plan_undo_collect",
    "read_rep_file",
    "rep_file_paths",
    "resolve",
    "same_value",
    "undo_collect",
]

# ------------------------------------------------------------------ values


def _norm(value: Any) -> Any:
    """A cell value as compared: empty is None, a midnight datetime is a date, numbers are floats."""
    if type(value) is str:  # most cells
        return value if value.strip() else None
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date()
        return value.replace(microsecond=0)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return value


def same_value(a: Any, b: Any) -> bool:
    return bool(_norm(a) == _norm(b))


def _blank(value: Any) -> bool:
    return _norm(value) is None


class RepFormula(str):
    """A formula cell of a rep file as collect compares it: the text is the formula as a snapshot
    remembers it (:func:`crmbook.ooxml.formulas.remembered_formula`, the same wherever the record
    stands), so a result Excel recalculated compares equal and a formula typed anew does not; with
    the formula as written (``text`` at ``origin``), the rep's cell and the result it showed."""

    text: str
    origin: str
    shown: Any

    @classmethod
    def of(cls, text: str, origin: str, cell: tuple[int, int], shown: Any) -> RepFormula:
        out = cls(remembered_formula(text, origin, cell))
        out.text, out.origin, out.shown = text, origin, _plain(shown)
        return out

    def at(self, cell: tuple[int, int]) -> str | None:
        """The formula moved to ``cell`` (row, column) of the canonical workbook; None when it cannot be."""
        return moved_formula(self.text, self.origin, cell)

    def written(self, cell: tuple[int, int]) -> tuple[Any, Any]:
        """What writing it into ``cell`` writes (a :class:`crmbook.changeset.Formula`, or the result
        when the formula cannot be moved there) and the value the cell then holds as read."""
        text = self.at(cell)
        shown = self.shown
        if text is None:
            return shown, shown
        cached = shown if isinstance(shown, str | int | float | bool) else None  # a date: none
        return Formula(text, cached), cached


def _rep_formulas(rep_table: Table, rep_data: pd.DataFrame) -> pd.DataFrame:
    """``rep_data`` with each formula cell of the rep's records a :class:`RepFormula`."""
    placed = {**rep_table.columns, **rep_table.extra_columns}
    out = rep_data
    at = {int(r): i for i, r in enumerate(rep_data.index.tolist())}
    for name, cells in rep_table.formulas.items():
        col = placed.get(name)
        found = [(at[row], f) for row, f in cells.items() if row in at]
        if col is None or name not in rep_data.columns or not found:
            continue
        if out is rep_data:
            out = rep_data.copy()
        column = out[name].to_numpy(dtype=object, copy=True)
        rows = rep_data.index.tolist()
        for i, (text, origin) in found:
            column[i] = RepFormula.of(text, origin, (int(rows[i]), col), column[i])
        out[name] = pd.Series(column, index=out.index, dtype=object)
    return out


def _split_formulas(base: pd.DataFrame, formulas: pd.DataFrame) -> pd.DataFrame:
    """The values as split (``base``, by ID) with each formula cell's the formula it held (``formulas``)."""
    out = base.copy()
    for name in formulas.columns:
        if name not in out.columns:
            continue
        marks = formulas[name].to_numpy(dtype=object)
        held = np.array([m is not None for m in marks], dtype=bool)
        if held.any():
            column = out[name].to_numpy(dtype=object, copy=True)
            column[held] = marks[held]
            out[name] = pd.Series(column, index=out.index, dtype=object)
    return out


def _formulas_as_split(
    rep_table: Table, rep_data: pd.DataFrame, rep_ids: pd.Series, base: pd.DataFrame, formulas: pd.DataFrame
) -> pd.DataFrame:
    """``rep_data`` with each cell the split wrote a formula into (``formulas``, by record as ``base``)
    that still holds one (``rep_table.formulas``) given its value as split (``base``): for a sheet whose
    columns the rep moved, where a formula cannot be compared by its text."""
    position = {rid: i for i, rid in enumerate(base.index)}
    at = {int(row): i for i, row in enumerate(rep_data.index.tolist())}
    out = rep_data
    for name, cells in rep_table.formulas.items():
        if name not in formulas.columns or name not in base.columns or name not in rep_data.columns:
            continue
        marks, split = formulas[name].to_numpy(dtype=object), base[name].to_numpy(dtype=object)
        kept = [
            (at[row], position[rid])
            for row in cells
            if row in at and (rid := rep_ids.iat[at[row]]) in position and marks[position[rid]] is not None
        ]
        if not kept:
            continue
        if out is rep_data:
            out = rep_data.copy()
        column = out[name].to_numpy(dtype=object, copy=True)
        for i, p in kept:
            column[i] = split[p]
        out[name] = pd.Series(column, index=out.index, dtype=object)
    return out


def _aligned(table: Table, rep_table: Table) -> bool:
    """Whether each column of the rep's sheet the canonical sheet has stands at the same place in both:
    a formula then reads the same fields in both, moved from row to row only."""
    placed = {**table.columns, **table.extra_columns}
    return all(placed.get(f, c) == c for f, c in {**rep_table.columns, **rep_table.extra_columns}.items())


def _shown_at(value: Any, cell: tuple[int, int]) -> Any:
    """A value as the Conflicts sheet shows it: a formula as its text on the canonical ``cell``."""
    if isinstance(value, RepFormula):
        text = value.at(cell)
        return value.shown if text is None else "=" + text
    if is_remembered_formula(value):
        return shown_formula(value, cell[0])
    return value


def _remembered_at(value: Any, cell: tuple[int, int]) -> str | None:
    """A formula as a snapshot remembers it on the canonical ``cell`` (the same wherever its record
    stands later: see :func:`crmbook.ooxml.formulas.remembered_formula`); None for a value, a text
    that only starts with "=" among them."""
    if isinstance(value, RepFormula):
        text = value.at(cell)
        return None if text is None else remembered_formula(text, cell_ref(*cell), cell)
    return value if is_remembered_formula(value) else None


# ------------------------------------------------------------------ rep files


@dataclass
class RepWork:
    """A rep file as collect reads it."""

    path: str
    memo: SplitMemo
    book: Book
    digest: str  # of the workbook package (decrypted)
    when: dt.datetime  # when the file was last saved
    saved: str = ""  # when the program that saved it last says it did (:func:`saved_at`)

    def release(self) -> None:
        """Let go of the file's records and split values (what the merge reads); the rest stays."""
        self.book.tables = {}
        self.memo.base = {}


def read_rep_file(
    path: str | os.PathLike[str], passwords: dict[str, str] | None = None, today: dt.date | None = None
) -> RepWork:
    """Read a rep file made by ``crmbook split`` (decrypting it with its rep's password when needed)."""

    from crmbook.edit import learn_formulas
    from crmbook.team_crypt import decrypt, is_encrypted

    spath = os.fspath(path)
    try:
        data = Path(spath).read_bytes()
        when = dt.datetime.fromtimestamp(Path(spath).stat().st_mtime).replace(microsecond=0)
    except OSError as exc:
        raise WorkbookFileError(spath, f"cannot be read ({exc.strerror})") from None
    if is_encrypted(data):
        stem = Path(spath).stem
        candidates = (
            [passwords[stem]] if passwords and stem in passwords else list((passwords or {}).values())
        )
        if not candidates:
            decrypt(data, None, spath)  # raises: no password given
        last: WorkbookFileError | None = None
        for password in candidates:
            try:
                data = decrypt(data, password, spath)
                break
            except WorkbookFileError as exc:
                last = exc
        else:
            assert last is not None
            if passwords and stem not in passwords:
                raise WorkbookFileError(
                    spath,
                    f"none of the passwords in the password file opens it, and it has no line for {stem} "
                    "(the file's name); add a line for this file's rep (name,password)",
                )
            raise last
    digest = hashlib.sha256(data).hexdigest()[:24]
    with tempfile.TemporaryDirectory(prefix="crmbook-collect-") as tmp:
        plain = Path(tmp) / (Path(spath).stem + (".xlsm" if b"vbaProject.bin" in data else ".xlsx"))
        plain.write_bytes(data)
        try:
            book, wb = _read_records(plain, today)
            saved = saved_at(plain) or when.astimezone(dt.UTC).isoformat(timespec="seconds")
        except WorkbookFileError as exc:
            raise WorkbookFileError(spath, str(exc).split(": ", 1)[-1]) from None
        try:
            names = set(wb.sheet_names)
            meta = wb.get_sheet_by_name(SPLIT_SHEET).to_python() if SPLIT_SHEET in names else None
            grids = {
                key: wb.get_sheet_by_name(base_sheet_name(key)).to_python(skip_empty_area=False)
                for key in RECORD_SHEETS
                if base_sheet_name(key) in names
            }
            formula_grids = {
                key: wb.get_sheet_by_name(formula_sheet_name(key)).to_python(skip_empty_area=False)
                for key in RECORD_SHEETS
                if formula_sheet_name(key) in names
            }
        finally:
            wb.close()
        learn_formulas(book, {})  # the rep's formula cells (calamine gives results only); none: a byte search
    sheets = [k for k in RECORD_SHEETS if k in book.tables]
    memo = read_memo(
        _nones(meta),
        {k: _nones(g) for k, g in grids.items()},
        spath,
        sheets,
        {k: _nones(g) for k, g in formula_grids.items()},
    )
    if memo is None:
        raise WorkbookFileError(
            spath,
            f"has no record of a split (no hidden sheet {SPLIT_SHEET}): a workbook not made by crmbook "
            "split comes in with crmbook import; a rep file whose hidden _crmbook_split sheets were "
            "deleted cannot be merged: ask for the file again (a copy from before they were deleted)",
        )
    for key in sheets:
        table = book.tables[key]
        id_col = table.spec.id_column
        if id_col not in table.columns and key in memo.base and len(memo.base[key]):
            header = table.spec.column(id_col).label(book.lang)
            raise WorkbookFileError(
                spath,
                f"the {table.sheet_name} sheet has no {header} column: collect matches each record by its "
                f"ID, so without it every record would read as deleted and added again; put the column "
                "back (Excel's Undo, or a copy of the file from before it was deleted) and collect again",
            )
    book.path = spath
    return RepWork(spath, memo, book, digest, when, saved)


CORE_PROPERTIES = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"


def saved_at(path: Path) -> str:
    """When the workbook was last saved, as the program that saved it wrote it down (the package's
    ``dcterms:modified``: Excel, WPS, LibreOffice and openpyxl write it), in UTC ISO text to the second;
    "" when it does not say. Unlike the file's own time, a copy sent over a chat program or by e-mail
    keeps it."""
    from crmbook.ooxml.package import open_package

    with open_package(path) as pkg:
        parts = [target for _, kind, target, _ in pkg.rels("") if kind == CORE_PROPERTIES]
        if not parts or parts[0] not in pkg:
            return ""
        found = pkg.xml(parts[0]).find("{http://purl.org/dc/terms/}modified")
    try:
        moment = dt.datetime.fromisoformat((found.text or "").strip()) if found is not None else None
    except ValueError:
        return ""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def _read_records(path: Path, today: dt.date | None) -> tuple[Book, Any]:
    """The record sheets, Settings and Lists of a rep file (not what its own refreshes remembered:
    collect does not need it), and the open calamine workbook for the hidden split sheets."""
    from crmbook.filetype import require_workbook
    from crmbook.reader import CalamineSource, open_calamine, read_book_from, sheets_of_a_book
    from crmbook.snapshot import snapshot_sheet_name
    from crmbook.state import STATE_SHEET

    schema = load_schema()
    require_workbook(path)
    wb = open_calamine(path)
    source = CalamineSource(wb, str(path))
    remembered = {STATE_SHEET, *(snapshot_sheet_name(s.key) for s in schema.sheets)}
    remembered |= {n for key in ("changelog", "duplicates") for n in schema.owned_sheets[key].values()}
    source.sheet_names = [n for n in source.sheet_names if n not in remembered]
    source.read_ahead(sheets_of_a_book(source.sheet_names, schema))
    book, structural = read_book_from(source, str(path), today=today, macro_enabled=path.suffix == ".xlsm")
    missing = [i for i in structural if i.code in ("missing-sheet", "missing-header")]
    if missing:
        wb.close()
        raise WorkbookFileError(str(path), "; ".join(i.message("en") for i in missing))
    return book, wb


def read_rep_files(
    paths: Iterable[str | os.PathLike[str]], passwords: dict[str, str] | None, today: dt.date | None
) -> list[RepWork]:
    """Every rep file, two at a time (calamine reads without Python's interpreter lock)."""
    from concurrent.futures import ThreadPoolExecutor

    ordered = sorted({os.fspath(p) for p in paths})
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="crmbook-rep-file") as pool:
        return list(pool.map(lambda p: read_rep_file(p, passwords, today), ordered))


def _nones(grid: list[list[Any]] | None) -> list[list[Any]] | None:
    """calamine gives empty cells as ''; the base sheets' empty values are None."""
    if grid is None:
        return None
    return [[None if v == "" else v for v in row] for row in grid]


# ------------------------------------------------------------------ the plan


@dataclass
class RepOutcome:
    path: str
    rep: str
    split_id: str
    applied: int = 0
    same: int = 0
    conflicts: int = 0
    deleted: int = 0
    created: dict[str, int] = field(default_factory=dict)
    renumbered: list[tuple[str, str, str]] = field(default_factory=list)  # (sheet, provisional, final)
    notices: list[str] = field(default_factory=list)
    skipped: bool = False


@dataclass
class CollectPlan:
    collect_id: str
    changeset: Changeset
    outcomes: list[RepOutcome]
    refresh: RefreshPlan | None
    lang: Lang
    book: Book = field(repr=False)  # the canonical book after the collect (before the refresh)

    @property
    def changed(self) -> bool:
        return any(o.applied or o.created or o.conflicts or o.deleted for o in self.outcomes)


class _Column:
    """One column of a canonical sheet as the collect changes it: the values as read (an array, taken
    when first asked for) and the values written since, by Excel row."""

    __slots__ = ("at", "col", "formulas", "name", "pending", "read", "table", "written")

    def __init__(self, table: Table, name: str, at: dict[int, int]) -> None:
        self.table = table
        self.name = name
        self.at = at  # Excel row -> position in the frame as read
        self.read: Any = None
        self.col: int | None = None  # the column number, once written to
        self.written: dict[int, Any] = {}
        self.pending: dict[int, Any] = {}  # written, not yet in the frame
        self.formulas: dict[int, str] = {}  # the formulas written (as RepFormula compares), by Excel row

    def formula(self, row: int) -> str | None:
        """The cell's formula as a snapshot remembers it (see :class:`RepFormula`); None: a value."""
        if row in self.written:
            return self.formulas.get(row)
        return self.table.remembered_formula(self.name, row)

    def current(self, row: int) -> Any:
        written = self.written
        if row in written:
            return written[row]
        read = self.read
        if read is None:
            if self.name not in self.table.data.columns:
                return None
            read = self.read = self.table.data[self.name].to_numpy(dtype=object)
        i = self.at.get(row)
        return None if i is None or i >= len(read) else read[i]


class _Merger:
    """The writes of one collect into copies of the canonical book's frames."""

    def __init__(self, after: Book, state: State, collect_id: str, now: dt.datetime) -> None:
        self.after = after
        self.state = state
        self.collect_id = collect_id
        self.now = now
        self.writes: list[CellWrite] = []
        self.updated: dict[tuple[str, int, str], list[Any]] = {}
        self.created: dict[str, list[int]] = {}
        self.new_columns: dict[str, list[list[Any]]] = {}
        self.conflicts: list[list[Any]] = []
        self.logged: dict[tuple[str, str, str], tuple[str, Any, Any, str]] = {}  # -> (kind, old, new, who)
        self.table_rows: dict[str, int] = {}
        self._rows: dict[str, dict[str, int]] = {}  # sheet key -> record ID -> Excel row
        self._at: dict[str, dict[int, int]] = {}  # sheet key -> Excel row -> position in the frame
        self._columns: dict[tuple[str, str], _Column] = {}  # (sheet key, field) -> the column
        self._new: dict[str, dict[int, dict[str, Any]]] = {}  # sheet key -> rows added, not yet in the frame
        self._children: dict[str, dict[str, int]] | None = None

    # -- reading the canonical book as the collect changes it (dicts: a frame cell by cell is slow)

    def children(self) -> dict[str, dict[str, int]]:
        """Customer ID -> how many records of each other sheet name it (:func:`_children_of`), taken
        once, when a rep's deletion of a customer is first listed."""
        if self._children is None:
            self._children = _children_of(self.after)
        return self._children

    def rows(self, table: Table) -> dict[str, int]:
        if table.key not in self._rows:
            self._rows[table.key] = _id_rows(table)
        return self._rows[table.key]

    def cells(self, table: Table, name: str) -> _Column:
        """Column ``name`` of ``table`` as the collect changes it."""
        key = table.key
        column = self._columns.get((key, name))
        if column is None:
            at = self._at.get(key)
            if at is None:
                at = self._at[key] = dict(zip(table.data.index.tolist(), range(len(table.data)), strict=True))
            column = self._columns[(key, name)] = _Column(table, name, at)
        return column

    def current(self, table: Table, row: int, name: str) -> Any:
        return self.cells(table, name).current(row)

    def flush(self, table: Table) -> None:
        """Put the values written and the rows added into ``table``'s frame (one step per column)."""
        for (sheet_key, name), cells in self._columns.items():
            values = cells.pending
            if sheet_key != table.key or not values:
                continue
            column = table.data[name].to_numpy(dtype=object, copy=True)
            at = table.data.index.get_indexer(list(values))
            assert (at >= 0).all(), "a value written to a row the frame does not have"
            column[at] = list(values.values())
            # as a Series of objects: a bare array of datetimes would become datetime64 (Timestamps)
            table.data[name] = pd.Series(column, index=table.data.index, dtype=object)
            cells.pending = {}
        new = self._new.pop(table.key, {})
        if new:
            # the values as they are (types inferred would turn date-times into Timestamps, whole
            # numbers beside blanks into floats), None where a row has none
            columns = list(table.data.columns)
            rows = [[values.get(c) for c in columns] for values in new.values()]
            frame = pd.DataFrame(rows, index=list(new), columns=columns, dtype=object)
            table.data = pd.concat([table.data.astype(object), frame]) if len(table.data) else frame

    # -- cells

    def column(self, table: Table, name: str) -> int:
        cells = self.cells(table, name)
        if cells.col is None:
            col = table.col(name) if name in table.columns else table.extra_columns.get(name)
            if col is None:
                col = table.add_extra_column(name)
                self.writes.append(CellWrite(table.sheet_name, table.header_row, col, name))
                self.new_columns.setdefault(table.key, []).append([col, name])
            cells.col = col
        return cells.col

    def set(
        self, cells: _Column, row: int, value: Any, record: str, who: str, old: Any, encoded: Any
    ) -> None:
        """Write ``value`` (``encoded``: :func:`_encoded`) into ``cells`` at ``row``, over ``old`` (the
        cell's :meth:`_Column.current` value)."""
        table, name = cells.table, cells.name
        sheet_key = table.key
        col = self.column(table, name)
        written, shown = value, value
        cells.formulas.pop(row, None)
        if isinstance(value, RepFormula):  # a formula comes in as a formula, moved to this row
            written, value = value.written((row, col))  # ``value``: the cell as read after (its result)
            encoded = _encoded(value)
            if isinstance(written, Formula):
                cells.formulas[row] = str(shown)
                shown = "=" + written.text
                # undo compares it as a formula: its result moves with every recalculation
                encoded = {"formula": remembered_formula(written.text, cell_ref(row, col), (row, col))}
            else:
                shown = value
        self.writes.append(CellWrite(table.sheet_name, row, col, written))
        cells.written[row] = value
        cells.pending[row] = value
        key = (sheet_key, row, name)
        before = self.updated.get(key)
        if before is None:
            self.updated[key] = [_encoded(old), encoded]
        else:
            before[1] = encoded
        log_key = (sheet_key, record, name)
        first = self.logged.get(log_key)
        self.logged[log_key] = ("changed", old if first is None else first[1], shown, who)

    def append(self, table: Table, values: dict[str, Any]) -> int:
        start = int(table.data.index.max()) if len(table.data) else table.header_row
        row = table.next_free_row(max(start, self.table_rows.get(table.key, 0)), self.after.path)
        held = dict(values)
        for name, value in values.items():
            col = self.column(table, name)
            if isinstance(value, RepFormula):  # a formula comes in as a formula, moved to this row
                value, held[name] = value.written((row, col))
            self.writes.append(CellWrite(table.sheet_name, row, col, value))
        self._new.setdefault(table.key, {})[row] = held
        self.created.setdefault(table.key, []).append(row)
        self.table_rows[table.key] = row
        return row

    def conflict(
        self, kind: str, sheet_key: str, record: str, name: str, base: Any, rep: Any, book: Any, work: RepWork
    ) -> None:
        number = f"{self.collect_id}.{len(self.conflicts) + 1}"
        formulas: dict[str, str | None] = {"rep": None, "book": None}  # which sides are formulas
        if any(isinstance(v, RepFormula) or is_remembered_formula(v) for v in (base, rep, book)):
            table = self.after.tables.get(sheet_key)
            row = None if table is None else self.rows(table).get(record)
            col = None if table is None else table.columns.get(name) or table.extra_columns.get(name)
            cell = (row or 1, col or 1)
            formulas = {"rep": _remembered_at(rep, cell), "book": _remembered_at(book, cell)}
            base, rep, book = _shown_at(base, cell), _shown_at(rep, cell), _shown_at(book, cell)
        self.conflicts.append(
            [
                number,
                kind,
                sheet_key,
                record,
                name,
                encode_value(_plain(base)),
                encode_value(_plain(rep)),
                encode_value(_plain(book)),
                work.memo.rep,
                work.when.isoformat(timespec="seconds"),
                Path(work.path).name,
                formulas,
            ]
        )


def _plain(value: Any) -> Any:
    if type(value) is str:
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encoded(value: Any) -> Any:
    """A cell value as the state sheet's JSON keeps it (:func:`crmbook.state.encode_value`); a rep's
    formula as it compares (:class:`RepFormula`)."""
    if type(value) is str:
        return value
    return str(value) if isinstance(value, str) else encode_value(_plain(value))


def _record_text(table: Table, row: int, lang: Lang, current: Any) -> str:
    parts = []
    for name in table.data.columns:
        value = current(table, row, name)
        if _blank(value):
            continue
        try:
            label = table.spec.column(name).label(lang)
        except KeyError:
            label = name
        value = _plain(value)
        shown = value.isoformat() if isinstance(value, dt.date) else shown_text(value)
        parts.append(f"{label}={shown}")
    return "｜".join(parts)


def _id_rows(table: Table) -> dict[str, int]:
    ids = id_texts(table.data[table.spec.id_column].tolist())
    out: dict[str, int] = {}
    for rid, row in zip(ids, table.data.index.tolist(), strict=True):
        if rid and rid not in out:
            out[rid] = int(row)
    return out


def _cells_at(frame: pd.DataFrame, rows: np.ndarray, fields: list[str]) -> np.ndarray:
    """The values of ``frame`` at row positions ``rows`` and columns ``fields``, as objects."""
    return frame.to_numpy(dtype=object)[np.ix_(rows, frame.columns.get_indexer(fields))]


def _row_digest(values: dict[str, Any]) -> str:
    items = sorted((k, str(encode_value(_plain(v)))) for k, v in values.items() if not _blank(v))
    return hashlib.sha1(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _merge_rep(
    m: _Merger, work: RepWork, outcome: RepOutcome, history: History, lang: Lang
) -> dict[str, Any]:
    """Three-way merge of one rep file into ``m``'s frames; what the collect remembers of it."""
    after, state = m.after, m.state
    who = f"{work.memo.rep} · {Path(work.path).name}"
    seen: dict[str, Any] = {}
    created_ids: dict[str, str] = {}
    customer_map = {k.split("\t", 1)[1]: v for k, v in history.created.items() if k.startswith("customers\t")}

    def three_way(
        table: Table,
        sheet_key: str,
        rep_id: str,
        book_id: str,
        name: str,
        base: Any,
        rep: Any,
        rows: dict[str, int],
        by_formula: bool = False,
    ) -> None:
        base_seen, rep_seen = _norm(base), _norm(rep)  # each value normalised once (same_value)
        if base_seen == rep_seen:
            return
        encoded = seen[cell_key(sheet_key, rep_id, name)] = _encoded(rep)
        row = rows.get(book_id)
        if row is None:
            m.conflict(DELETED_IN_BOOK, sheet_key, book_id, name, base, rep, None, work)
            outcome.conflicts += 1
            return
        cells = m.cells(table, name)
        current = cells.current(row)
        # where the split wrote formulas, a canonical formula cell compares by its formula too
        compared = (cells.formula(row) or current) if by_formula else current
        current_seen = _norm(compared)
        if current_seen == rep_seen:
            outcome.same += 1
        elif current_seen == base_seen:
            m.set(cells, row, rep, book_id, who, current, encoded)
            outcome.applied += 1
        else:
            m.conflict(FIELD, sheet_key, book_id, name, base, rep, compared, work)
            outcome.conflicts += 1

    for key in RECORD_SHEETS:
        table = after.tables.get(key)
        rep_table = work.book.tables.get(key)
        base = work.memo.base.get(key)
        if table is None or rep_table is None or base is None:
            if base is not None and len(base) and rep_table is None:
                outcome.notices.append(
                    f"the {key} sheet is missing from the rep file: its records were not read"
                )
            continue
        spec = table.spec
        id_col = spec.id_column
        owned = {c.key for c in spec.columns if c.owned} - {id_col}
        rep_data = rep_table.data
        if key != "customers" and "customer_id" in rep_data.columns and customer_map:
            rep_data = rep_data.copy()
            rep_data["customer_id"] = rep_data["customer_id"].map(
                lambda v: customer_map.get(id_text(v), v) if not _blank(v) else v
            )
        rep_ids = (
            pd.Series(id_texts(rep_data[id_col].tolist()), index=rep_data.index, dtype=object)
            if id_col in rep_data.columns
            else pd.Series("", index=rep_data.index)
        )
        duplicate = rep_ids.duplicated() & (rep_ids != "")
        rep_rows = {
            rid: int(row)
            for rid, row, dup in zip(rep_ids, rep_data.index, duplicate, strict=True)
            if rid and not dup
        }
        fields = [f for f in base.columns if f in rep_data.columns and f not in owned]
        gone = [f for f in base.columns if f not in rep_data.columns and f not in owned]
        if gone:
            known = {c.key: c.label(lang) for c in spec.columns}
            labels = [known.get(f, f) for f in gone]
            outcome.notices.append(
                f"the {rep_table.sheet_name} sheet has no {', '.join(labels)} column "
                "(deleted in the rep file): its values were left as they are"
            )
        new_user_columns = [c for c in rep_table.extra_columns if c not in base.columns]
        # A field left out by --redact that the rep typed back in comes in as a column the rep added
        # does: a value typed where the canonical workbook has none is written, one where it has
        # another goes on 冲突; a blank cell is no deletion (the rep never saw the canonical value).
        new_user_columns += [
            f
            for f in work.memo.redacted
            if f not in base.columns
            and f in rep_data.columns
            and f not in owned
            and f not in new_user_columns
        ]
        rows = m.rows(table)
        had_columns = set(table.extra_columns)
        # Formula cells: the rep's compare by their formulas (a result Excel recalculated is no edit, a
        # formula typed is one, and comes in as a formula), and so do the split's and the canonical
        # ones where the split wrote formulas. On a sheet whose columns stand elsewhere than in the
        # canonical workbook (the rep inserted or moved one) a formula would read other fields: there
        # the other cells compare by their values, and a cell the split wrote a formula into that
        # still holds one reads as split (its recalculated result never goes over the lead's formula).
        formulas = work.memo.formulas.get(key)
        by_formula = False
        if (rep_table.formulas or formulas is not None) and _aligned(table, rep_table):
            rep_data = _rep_formulas(rep_table, rep_data)
            if formulas is not None:
                base = _split_formulas(base, formulas)
                by_formula = True
        elif formulas is not None and rep_table.formulas:
            rep_data = _formulas_as_split(rep_table, rep_data, rep_ids, base, formulas)

        # 1. The records as split.
        in_rep = np.fromiter((rid in rep_rows for rid in base.index), dtype=bool, count=len(base))
        present = base.index[in_rep].tolist()
        if present and fields:  # rep and split values of the same record and field side by side
            rep_at = rep_data.index.get_indexer([rep_rows[rid] for rid in present])
            r = _cells_at(rep_data, rep_at, fields)
            b = _cells_at(base, np.flatnonzero(in_rep), fields)
            at_i, at_j = np.nonzero(r != b)  # row by row, each row's columns in order
            both_blank = pd.isna(r[at_i, at_j]) & pd.isna(b[at_i, at_j])  # None and NaN: no change
            at_i, at_j = at_i[~both_blank], at_j[~both_blank]
            if history.seen:
                candidates = set(zip(at_i.tolist(), at_j.tolist(), strict=True))
                index = {rid: i for i, rid in enumerate(present)}
                columns = {f: j for j, f in enumerate(fields)}
                for ck in history.seen:
                    sk, rid, name = ck.split("\t", 2)
                    if sk == key and rid in index and name in columns:
                        candidates.add((index[rid], columns[name]))
                ordered = sorted(candidates)
                at_i = np.array([i for i, _ in ordered], dtype=np.intp)
                at_j = np.array([j for _, j in ordered], dtype=np.intp)
            for i, j, split_value, rep_value in zip(
                at_i.tolist(), at_j.tolist(), b[at_i, at_j].tolist(), r[at_i, at_j].tolist(), strict=True
            ):
                rid, name = present[i], fields[j]
                if history.seen:
                    split_value = history.base_value(key, rid, name, split_value)
                three_way(table, key, rid, rid, name, split_value, rep_value, rows, by_formula)
        for name in new_user_columns:
            for rid in present:
                value = rep_data.at[rep_rows[rid], name]
                if not _blank(value):
                    three_way(
                        table,
                        key,
                        rid,
                        rid,
                        name,
                        history.base_value(key, rid, name, None),
                        value,
                        rows,
                        by_formula,
                    )
        for rid in base.index:
            if rid in rep_rows or cell_key(key, rid, "") in history.seen:
                continue
            seen[cell_key(key, rid, "")] = "deleted"
            row = rows.get(rid)
            if row is not None:
                text = _record_text(table, row, lang, m.current)
                if key == "customers" and (named := m.children().get(rid)):  # shown before the lead decides
                    listed = "、".join(f"{sheet} {n}" for sheet, n in named.items())
                    text += f"｜{'仍关联' if lang == 'zh' else 'still named by'}：{listed}"
                m.conflict(DELETED_BY_REP, key, rid, "", None, None, text, work)
                outcome.deleted += 1

        # 2. Records an earlier collect of this file created.
        earlier = {k.split("\t", 1)[1]: v for k, v in history.created.items() if k.startswith(f"{key}\t")}
        for provisional, final in earlier.items():
            if provisional.startswith("#") or provisional not in rep_rows:
                continue
            rep_row = rep_rows[provisional]
            for name in [*fields, *new_user_columns]:
                base_value = history.base_value(key, provisional, name, None)
                three_way(
                    table,
                    key,
                    provisional,
                    final,
                    name,
                    base_value,
                    rep_data.at[rep_row, name],
                    rows,
                    by_formula,
                )

        # 3. New records: their IDs are provisional.
        carried = [c for c in rep_data.columns if c != id_col and c not in owned]
        has_owner = any(c.key == "owner" for c in spec.columns)
        added: list[tuple[str, int]] = []
        split_ids = set(base.index)
        for rid, row, dup in zip(rep_ids, rep_data.index, duplicate, strict=True):
            if rid and not dup and (rid in split_ids or rid in earlier):
                continue
            values = {c: _plain(rep_data.at[row, c]) for c in carried}
            values = {c: v for c, v in values.items() if not _blank(v)}
            if not values:
                continue
            provisional = rid if rid and not dup else f"#{_row_digest(values)}"
            if provisional in earlier or f"{key}\t{provisional}" in created_ids:
                continue
            # A record the rep typed without an owner is the rep's (else the next split would keep a
            # new customer with the lead, out of the rep's file); what collect remembers of it is what
            # the rep typed, so a later collect of the file reads no change of owner.
            owned_by = {"owner": work.memo.rep} if has_owner and work.memo.rep else {}
            added.append((provisional, m.append(table, {**owned_by, **values})))
            for name, value in values.items():
                seen[cell_key(key, provisional, name)] = _encoded(value)
        if added:
            m.flush(table)
            if key != "customers":  # a new record naming its customer by name only gets the ID first
                refs = customer_ids_and_references(after, state.high_water, after.today)
                state.high_water = refs.high_water
                m.writes += [CellWrite(*after_cell(after, w)) for w in refs.cell_writes(after)]
            ids = assign_sheet_ids(after, key, state.high_water, after.today)
            state.high_water = ids.high_water
            m.writes += [
                CellWrite(table.sheet_name, row, col, v) for _, row, col, v in ids.cell_writes(after)
            ]
            for provisional, row in added:
                final = id_text(table.data.at[row, id_col])
                created_ids[f"{key}\t{provisional}"] = final
                m.logged[(key, final or f"#{row}", "")] = ("added", None, None, who)
                if provisional != final and not provisional.startswith("#"):
                    outcome.renumbered.append((key, provisional, final))
                if key == "customers" and not provisional.startswith("#") and final:
                    customer_map[provisional] = final
            outcome.created[key] = len(added)
        for name, col in table.extra_columns.items():
            if name not in had_columns:
                outcome.notices.append(
                    f"a new column {name} on the {rep_table.sheet_name} sheet (added in the rep file): "
                    f"added to the canonical workbook's {table.sheet_name} sheet as column {col_letter(col)}"
                )
    return {
        "file": str(work.path),
        "rep": work.memo.rep,
        "split_id": work.memo.split_id,
        "digest": work.digest,
        "saved": work.saved,
        "seen": orjson.dumps(seen).decode("utf-8"),  # one text: copied and saved as it is
        "created_ids": created_ids,
    }


def after_cell(book: Book, write: tuple[str, int, int, Any]) -> tuple[str, int, int, Any]:
    """An ID step's write (sheet key, row, column, value) as a cell of the named sheet."""
    sheet_key, row, col, value = write
    return book.tables[sheet_key].sheet_name, row, col, value


def _local(saved: str) -> str:
    """A save time (UTC ISO text) as this computer's local time."""
    return dt.datetime.fromisoformat(saved).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _latest_split(state: State, rep: str) -> str | None:
    splits = state.extra.get(SPLIT_SECTION, {})
    mine = [k for k, v in splits.items() if rep in v.get("reps", {})]
    return max(mine) if mine else None


def _same_split(made: Any, split_at: str, rep: str) -> bool:
    """Whether a rep file whose memo says ``split_at`` and ``rep`` is of the split the canonical
    workbook remembers as ``made`` (the split IDs of two workbooks split the same day are the same).
    What cannot be read (an older record, a time a spreadsheet program rewrote) is no refusal."""
    if not isinstance(made, dict):
        return True
    reps = made.get("reps")
    if isinstance(reps, dict) and reps and rep not in reps:
        return False
    try:
        return dt.datetime.fromisoformat(str(made["time"])) == dt.datetime.fromisoformat(split_at)
    except (KeyError, TypeError, ValueError):
        return True


def plan_collect(
    book: Book,
    works: list[RepWork],
    *,
    now: dt.datetime | None = None,
    decisions: dict[str, str] | None = None,
    with_refresh: bool = True,
    customer_features: CustomerFeatures | None = None,
    preparer: WritePreparer | None = None,
    release_works: bool = False,
    inflated: Mapping[str, bytes] | None = None,
) -> CollectPlan:
    """Everything collecting ``works`` into ``book`` would do; writes no file (it reads the formulas of
    the cells it writes over from the workbook, for undo).

    ``customer_features``: the duplicate search's reading of ``book``'s customers, when already worked
    out (see :class:`crmbook.refresh.HeadStart`): the rows the collect changes are read again.
    ``preparer``: the file engine's head start (see :class:`crmbook.refresh.WritePreparer`), given
    the writes of the merge and of the refresh that follows it as soon as they are final.
    ``release_works``: let go of each rep file's records once merged (:meth:`RepWork.release`), as
    :func:`collect` does: the refresh then starts from a smaller process (a few hundred MiB less at
    the peak for 20 rep files of the M book). ``inflated``: the record sheets' XML already read
    (:attr:`crmbook.edit.Editing.inflated`), where the formulas of the cells written over are looked for."""
    now = now or dt.datetime.now()
    lang = book.lang
    state = working_copy(book.state)
    splits = state.extra.get(SPLIT_SECTION, {})
    for work in works:
        if work.memo.split_id not in splits:
            raise WorkbookFileError(
                work.path,
                f"was made by split {work.memo.split_id} of {work.memo.book or 'another workbook'}, which "
                f"{book.path} does not know; collect it into the workbook it was split from",
            )
        made = splits[work.memo.split_id]
        if not _same_split(made, work.memo.split_at, work.memo.rep):
            raise WorkbookFileError(
                work.path,
                f"was made by split {work.memo.split_id} of {work.memo.book or 'another workbook'} at "
                f"{work.memo.split_at.replace('T', ' ')} for {work.memo.rep}; {book.path}'s split "
                f"{work.memo.split_id} was made at {str(made.get('time', '?')).replace('T', ' ')}: "
                "the file is another workbook's (split IDs count per workbook and day); collect it into "
                "the workbook it was split from",
            )
    seen_paths: dict[tuple[str, str], str] = {}
    for work in works:
        key = (work.memo.split_id, work.memo.rep)
        if key in seen_paths:
            raise InputError(
                f"{seen_paths[key]} and {work.path} are both {work.memo.rep}'s file of split "
                f"{work.memo.split_id}; collect one of them (the newer one)"
            )
        seen_paths[key] = work.path
    collect_id = next_id(state, COLLECT_SECTION, "G", book.today)
    after = copy_book(book)
    merger = _Merger(after, state, collect_id, now)
    outcomes: list[RepOutcome] = []
    team: dict[str, Any] = {}
    for work in works:
        memo = work.memo
        outcome = RepOutcome(work.path, memo.rep, memo.split_id)
        history = history_of(state, memo.split_id, memo.rep)
        latest = _latest_split(state, memo.rep)
        if latest and latest != memo.split_id:
            outcome.notices.append(
                f"from split {memo.split_id} ({memo.split_at[:10]}), older than {memo.rep}'s latest split "
                f"{latest}: merged against its own split values"
            )
        if work.digest in history.digests:
            outcome.skipped = True
            outcome.notices.append(
                f"already collected unchanged in {history.digests[work.digest]}: nothing to do"
            )
            outcomes.append(outcome)
            continue
        if history.latest is not None and work.saved and work.saved < history.latest[0]:
            saved, name, taken_by = history.latest
            raise InputError(
                f"{work.path} is an older copy of {memo.rep}'s file: saved {_local(work.saved)}, before "
                f"{name} (saved {_local(saved)}), which collect {taken_by} already took; collecting it "
                f"would undo {memo.rep}'s later work. Collect {memo.rep}'s newest copy only; if this one "
                "holds work the newer one lacks, type that work into the newest copy and collect it"
            )
        team[rep_key(memo.split_id, memo.rep)] = _merge_rep(merger, work, outcome, history, lang)
        outcomes.append(outcome)
        if release_works:
            work.release()
    for table in after.tables.values():
        merger.flush(table)
    written_over(after, merger.writes)  # the formulas the reps' values are written into are gone
    record = {
        "time": now.isoformat(timespec="seconds"),
        "sources": [w.path for w in works],
        "created": {
            k: [[r, d] for r, d in row_digests(after.tables[k], rows).items()]
            for k, rows in merger.created.items()
        },
        "new_columns": merger.new_columns,
        "updated": with_formulas(
            book,
            [[k, row, name, old, new] for (k, row, name), (old, new) in merger.updated.items()],
            inflated,
        ),
        "rejects": [],
        "counts": {
            o.rep: {
                "applied": o.applied,
                "conflicts": o.conflicts,
                "deleted": o.deleted,
                "created": o.created,
            }
            for o in outcomes
        },
        "undone": None,
        "team": team,
        "conflicts": merger.conflicts,
    }
    if any(not o.skipped for o in outcomes):
        state.extra.setdefault(COLLECT_SECTION, {})[collect_id] = record
    after.state = state
    changeset = Changeset(cell_writes=list(merger.writes))
    for key, rows in merger.created.items():
        changeset.table_rows[after.tables[key].sheet_name] = max(rows)
    for key, columns in merger.new_columns.items():
        changeset.table_columns[after.tables[key].sheet_name] = [(col, name) for col, name in columns]
    refresh = None
    if with_refresh:
        features = None
        if customer_features is not None and "customers" in after.tables:
            features = _features_after(customer_features, after.tables["customers"], merger)
        customers = after.tables["customers"].sheet_name if "customers" in after.tables else None
        ahead = None if preparer is None else _AfterMerge(preparer, merger.writes, customers, lang)
        refresh = plan_refresh(after, now=now, customer_features=features, preparer=ahead)
        changeset.add(refresh.changeset)
        _attribute_changes(changeset, refresh, book, merger.logged, lang, now)
        changeset.owned_sheets.append(conflicts_sheet(state, decisions or {}, lang))
    return CollectPlan(collect_id, changeset, outcomes, refresh, lang, after)


class _AfterMerge:
    """The file engine's head start (:class:`crmbook.refresh.WritePreparer`) for the refresh that
    follows the merge. The collect's changeset holds the merge's writes, then the refresh's: each sheet's
    are prepared as the merge's followed by the refresh's, once the refresh's are final (the customers
    sheet's in :meth:`prepare`, every other sheet's, which get only IDs from the refresh, in
    :meth:`ahead`). The Change log is not rendered ahead: the collect marks its entries afterwards
    (:func:`_attribute_changes`)."""

    def __init__(
        self, preparer: WritePreparer, merged: list[CellWrite], customers: str | None, lang: Lang
    ) -> None:
        self.preparer = preparer
        self.merged = merged
        self.customers = customers  # the customers sheet's name
        self.changelog = load_schema().owned_sheet_name("changelog", lang)

    def ahead(self, writes: list[CellWrite]) -> Any:
        return self.preparer.ahead([w for w in self.merged if w.sheet != self.customers] + writes)

    def adopt(self, prepared: Any) -> None:
        self.preparer.adopt(prepared)

    def prepare(self, writes: list[CellWrite]) -> None:
        self.preparer.prepare([w for w in self.merged if w.sheet == self.customers] + writes)

    def prepare_owned(self, owned_sheets: list[OwnedSheet]) -> None:
        self.preparer.prepare_owned([s for s in owned_sheets if s.name != self.changelog])


MATCHED_FIELDS = ("name", "phone", "email", "address")  # what CustomerFeatures reads


def _features_after(features: CustomerFeatures, table: Table, merger: _Merger) -> CustomerFeatures:
    """``features`` of the customers as the collect leaves them: rows it changed or added read again."""
    from crmbook.dedupe import customer_features

    changed = {row for (key, row, name) in merger.updated if key == "customers" and name in MATCHED_FIELDS}
    changed |= set(merger.created.get("customers", []))
    rows = [int(r) for r in table.data.index]
    if not changed:
        return dataclasses.replace(features, rows=rows)
    again = customer_features(table.data.loc[sorted(changed)])
    per_row = (f.name for f in dataclasses.fields(CustomerFeatures) if f.name != "rows")
    return CustomerFeatures(
        rows=rows, **{name: {**getattr(features, name), **getattr(again, name)} for name in per_row}
    )


def _attribute_changes(
    changeset: Changeset,
    refresh: RefreshPlan,
    book: Book,
    logged: dict[tuple[str, str, str], tuple[str, Any, Any, str]],
    lang: Lang,
    now: dt.datetime,
) -> None:
    """The Change log the refresh wrote, with each cell the collect wrote and each record it added
    marked with the rep and the file it came from (and listed when the refresh could not see it: a
    workbook never refreshed has nothing to compare with)."""
    name = load_schema().owned_sheet_name("changelog", lang)
    sheet = next((s for s in changeset.owned_sheets if s.name == name), None)
    if sheet is None or not logged:
        return

    kinds: dict[tuple[str, str], SheetCell] = {}  # one cell for each kind and rep file (cells are immutable)

    def kind(change_kind: str, who: str) -> SheetCell:
        cell = kinds.get((change_kind, who))
        if cell is None:
            text = KINDS[lang][change_kind]
            cell = kinds[(change_kind, who)] = SheetCell(
                f"{text}（收集：{who}）" if lang == "zh" else f"{text} (collected: {who})"
            )
        return cell

    theirs = refresh.changes
    seen: set[tuple[str, str, str]] = set()
    if theirs and len(sheet.rows) > len(theirs):  # the refresh's own entries are its last rows
        for cells, c in zip(sheet.rows[-len(theirs) :], theirs, strict=True):
            key = (c.sheet_key, c.record, c.field)
            if key in logged:
                cells[6] = kind(c.kind, logged[key][3])
                seen.add(key)
    missing = [(k, v) for k, v in logged.items() if k not in seen]
    if not missing:
        return
    ours = [
        Change(sheet_key, record, field_name, _plain(old), _plain(new), change_kind, None)
        for (sheet_key, record, field_name), (change_kind, old, new, _) in missing
    ]
    rows = entry_rows(ours, lang, now)
    for cells, change, (_, (_, _, _, who)) in zip(rows, ours, missing, strict=True):
        cells[6] = kind(change.kind, who)
        cells[4], cells[5] = SheetCell(_shown(change.old)), SheetCell(_shown(change.new))
    kept = sheet.kept.count if sheet.kept is not None else 0
    limit = MAX_LOG_ROWS
    if kept + len(sheet.rows) - 1 + len(rows) > MAX_LOG_ROWS:  # the oldest entries go: written whole
        sheet.rows, sheet.kept = sheet.whole_rows(), None
        kept = 0
        limit = max(MAX_LOG_ROWS - log_room(), min(len(rows), MAX_LOG_ROWS))  # room for the next runs
    entries = sheet.rows[1:] + rows
    gone = max(len(entries) - limit, 0)
    sheet.dropped += [[cell.value if cell else None for cell in row] for row in entries[:gone]]
    sheet.rows = sheet.rows[:1] + entries[gone:]
    sheet.autofilter = f"A1:G{kept + len(sheet.rows)}"


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ------------------------------------------------------------------ resolve and undo


@dataclass
class ResolvePlan:
    changeset: Changeset
    applied: int
    kept: int
    refused: list[str]
    pending: int
    notices: list[str] = field(default_factory=list)


def plan_resolve(book: Book, decisions: dict[str, str], *, now: dt.datetime | None = None) -> ResolvePlan:
    """Apply the decisions typed on the Conflicts sheet; a conflict whose cell changed since is left open."""
    now = now or dt.datetime.now()
    lang = book.lang
    state = working_copy(book.state)
    resolved = state.extra.setdefault(RESOLVE_SECTION, {})
    after = copy_book(book)
    writes: list[CellWrite] = []
    applied = kept = pending = 0
    refused: list[str] = []
    deleted_customers: list[str] = []
    stamp = now.isoformat(timespec="seconds")
    for _, entry in all_conflicts(state):
        number, kind, sheet_key, record, name, _base, rep, current_then, *_ = entry
        # which sides were formulas, as remembered (an older crmbook did not say: its "=…" were)
        formulas: dict[str, str | None] | None = entry[11] if len(entry) > 11 else None
        if number in resolved:
            continue
        decision = decision_of(decisions.get(number))
        if decision is None:
            pending += 1
            if decisions.get(number):
                refused.append(f"{number}: {decisions[number]!r} is not a decision; pick one from the list")
            continue
        if decision == KEEP_BOOK:
            resolved[number] = {"decision": KEEP_BOOK, "time": stamp}
            kept += 1
            continue
        table = after.tables.get(sheet_key)
        row = _id_rows(table).get(record) if table is not None else None
        if kind == DELETED_IN_BOOK or table is None or row is None:
            refused.append(
                f"{number}: {record} is no longer in the workbook; type the rep's value into a new record by hand"
            )
            continue
        if kind == FIELD:
            col = table.col(name) if name in table.columns else table.extra_columns.get(name)
            current = table.data.at[row, name] if name in table.data.columns else None
            then = decode_value(current_then)
            formula = table.formulas.get(name, {}).get(row) if col is not None else None
            if formula is not None and (
                formulas is not None or (isinstance(then, str) and then.startswith("="))
            ):
                # a formula cell, listed as its formula (a moved result is no change since)
                own = moved_formula(formula[0], formula[1], (row, col or 1))
                current = current if own is None else "=" + own
            if formulas is not None and (formula is not None or formulas["book"] is not None):
                # compared as remembered, so a record the lead moved (a sort, a row put in above) is
                # the same cell with the same formula
                unchanged = table.remembered_formula(name, row) == formulas["book"]
            else:
                unchanged = same_value(current, then)
            if not unchanged:
                refused.append(
                    f"{number}: {record} {name} was changed since the collect (now {_plain(current)!r}); decide again"
                )
                continue
            if col is None:
                refused.append(f"{number}: the {name} column is gone from {table.sheet_name}")
                continue
            value = decode_value(rep)
            written: Any = value
            if formulas is not None and formulas["rep"] is not None:  # the rep's formula, on the record's row
                written, value = Formula(str(shown_formula(formulas["rep"], row))[1:]), None
            elif formulas is None and isinstance(value, str) and value.startswith("=") and len(value) > 1:
                written, value = Formula(value[1:]), None  # an older collect's "=…": its formulas
            writes.append(CellWrite(table.sheet_name, row, col, written))
            table.data[name] = table.data[name].astype(object)
            table.data.at[row, name] = value
            resolved[number] = {
                "decision": TAKE_REP,
                "time": stamp,
                "row": row,
                "old": encode_value(_plain(current)),
            }
        else:  # the rep deleted the record: empty its row, keep what it held
            if sheet_key == "customers":
                deleted_customers.append(record)
            values = {
                n: encode_value(_plain(table.data.at[row, n]))
                for n in table.data.columns
                if not _blank(table.data.at[row, n])
            }
            for n in values:
                col = table.columns.get(n) or table.extra_columns.get(n)
                if col is not None:
                    writes.append(CellWrite(table.sheet_name, row, col, None))
            table.data = table.data.drop(index=row)
            resolved[number] = {
                "decision": TAKE_REP,
                "time": stamp,
                "row": row,
                "values": values,
                "note": "记录已删除" if lang == "zh" else "record deleted",
            }
        applied += 1
    after.state = state
    written_over(after, writes)
    changeset = Changeset(cell_writes=writes)
    refresh = plan_refresh(after, now=now)
    changeset.add(refresh.changeset)
    changeset.owned_sheets.append(conflicts_sheet(state, decisions, lang))
    children = _children_of(after) if deleted_customers else {}
    notices = [
        f"customer {customer} is deleted; still naming it: "
        + ", ".join(f"{n} on {sheet}" for sheet, n in children[customer].items())
        + " (the refresh lists them as errors): delete them too, or give them another customer"
        for customer in deleted_customers
        if children.get(customer)
    ]
    return ResolvePlan(changeset, applied, kept, refused, pending, notices)


def _children_of(book: Book) -> dict[str, dict[str, int]]:
    """Customer ID -> sheet name -> how many records of that sheet name the customer."""
    out: dict[str, dict[str, int]] = {}
    for key in CHILD_SHEETS:
        table = book.tables.get(key)
        if table is None or "customer_id" not in table.data.columns:
            continue
        for customer in id_texts(table.data["customer_id"].tolist()):
            if customer:
                named = out.setdefault(customer, {})
                named[table.sheet_name] = named.get(table.sheet_name, 0) + 1
    return out


def plan_undo_collect(
    book: Book, collect_id: str, decisions: dict[str, str], *, now: dt.datetime | None = None
) -> Any:
    """Give back what collect ``collect_id`` changed (import undo's machinery); refused over later edits."""
    from crmbook.importer import plan_undo_import

    now = now or dt.datetime.now()
    record = (book.state.extra.get(COLLECT_SECTION, {}) if book.state else {}).get(collect_id)
    if record is not None and not record.get("undone"):
        resolved = book.state.extra.get(RESOLVE_SECTION, {}) if book.state else {}
        applied = [
            e[0] for e in record.get("conflicts", []) if resolved.get(e[0], {}).get("decision") == TAKE_REP
        ]
        if applied:
            raise InputError(
                f"cannot undo {collect_id}: its conflicts {', '.join(applied[:5])} were resolved with the rep's "
                "value since (crmbook collect --resolve): undo is refused over later edits; change those "
                "records back by hand instead"
            )
    undo = plan_undo_import(book, collect_id, now=now, section=COLLECT_SECTION, what="collect")
    state = working_copy(book.state)
    state.extra[COLLECT_SECTION][collect_id]["undone"] = now.isoformat(timespec="seconds")
    undo.changeset.owned_sheets.append(conflicts_sheet(state, decisions, book.lang))
    return undo


# ------------------------------------------------------------------ files


@dataclass
class CollectResult:
    path: str
    plan: CollectPlan | None
    written: bool
    backup_path: str | None
    seconds: float = 0.0
    resolve: ResolvePlan | None = None
    undo: Any = None


def collect(
    paths: list[str | os.PathLike[str]],
    into: str | os.PathLike[str],
    *,
    passwords: dict[str, str] | None = None,
    dry_run: bool = False,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> CollectResult:
    """Collect the rep files ``paths`` into the canonical workbook ``into`` (or only plan it)."""
    from crmbook.edit import editing

    started = time.perf_counter()
    target = os.fspath(into)
    paths = rep_file_paths(paths, target)
    for p in paths:
        if Path(p).resolve() == Path(target).resolve():
            raise InputError(
                f"{target}: collecting a workbook into itself; name the rep files and --into the canonical one"
            )
    with (
        cyclic_gc_paused(),  # the rep files' reading too
        HeadStart() as head_start,
    ):
        works = read_rep_files(paths, passwords, today)
        if not works:
            raise InputError("no rep files to collect")
        with editing(target, today, lock_timeout=lock_timeout, on_table=head_start.table_read) as edit:
            decisions = read_conflict_decisions(edit.book.conflicts_grid)
            plan = plan_collect(
                edit.book,
                works,
                now=now,
                decisions=decisions,
                with_refresh=not dry_run,
                customer_features=head_start.customer_features(),
                preparer=None if dry_run else edit,
                release_works=True,
                inflated=edit.inflated,
            )
            written = not dry_run and plan.changed
            backup = edit.save(plan.changeset) if written else None
    return CollectResult(target, plan, written, backup, time.perf_counter() - started)


def rep_file_paths(paths: Iterable[str | os.PathLike[str]], into: str | os.PathLike[str]) -> list[str]:
    """``paths``, each folder among them replaced by the workbooks in it (.xlsx and .xlsm, in name order):
    not the canonical workbook ``into``, nor hidden files or the lock files Excel and LibreOffice leave
    beside an open workbook (``~$…``, ``.~lock…``); nor, folder or not, Excel's lock files (``team/*.xlsx``
    names one whenever a rep file is open in Excel) and the report of a rep file named with it
    (``张伟-report-2026-11.xlsx`` and ``.pdf`` beside ``张伟.xlsx``)."""
    out: list[str] = []
    canonical = Path(into).resolve()
    for path in map(Path, paths):
        if not path.is_dir():
            if not path.name.startswith("~$"):
                out.append(os.fspath(path))
            continue
        found = sorted(
            f
            for f in path.iterdir()
            if f.suffix.lower() in (".xlsx", ".xlsm")
            and not f.name.startswith(("~$", "."))
            and f.is_file()
            and f.resolve() != canonical
        )
        if not found:
            raise InputError(
                f"{path}: this folder holds no rep files (.xlsx or .xlsm); name the files, or the folder "
                "crmbook split wrote them to"
            )
        out += [os.fspath(f) for f in found]
    return _without_reports(out)


# The name crmbook report gives the report of a workbook beside it: 张伟-report-2026-11.xlsx (.pdf with --pdf),
# -2026-W48, -2026-11-30 or -20261001_20261231, then the rep or team of --owner or --team (-张伟).
_REPORT_NAME = re.compile(
    r"(?P<stem>.+?)-report-(\d{4}-\d{2}(-\d{2})?|\d{4}-W\d{2}|\d{8}_\d{8})(-.+)?\.(xlsx|pdf)", re.IGNORECASE
)


def _without_reports(paths: list[str]) -> list[str]:
    """``paths`` without the reports of rep files among them (``crmbook report team/张伟.xlsx`` writes
    team/张伟-report-2026-11.xlsx beside it, which ``team`` or ``team/*`` then names too)."""
    named = {Path(p).resolve() for p in paths}
    out = []
    for p in paths:
        match = _REPORT_NAME.fullmatch(Path(p).name)
        if match and any(
            (Path(p).parent / f"{match['stem']}{ext}").resolve() in named for ext in (".xlsx", ".xlsm")
        ):
            continue
        out.append(p)
    return out


def resolve(
    into: str | os.PathLike[str],
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> CollectResult:
    """Apply the decisions on the Conflicts sheet of ``into``."""
    from crmbook.edit import editing

    target = os.fspath(into)
    with editing(target, today, lock_timeout=lock_timeout) as edit:
        decisions = read_conflict_decisions(edit.book.conflicts_grid)
        plan = plan_resolve(edit.book, decisions, now=now)
        written = bool(plan.applied or plan.kept)
        backup = edit.save(plan.changeset) if written else None
    return CollectResult(target, None, written, backup, resolve=plan)


def undo_collect(
    into: str | os.PathLike[str],
    collect_id: str,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> CollectResult:
    """Give back what collect ``collect_id`` changed."""
    from crmbook.edit import editing

    target = os.fspath(into)
    with editing(target, today, lock_timeout=lock_timeout) as edit:
        decisions = read_conflict_decisions(edit.book.conflicts_grid)
        undo = plan_undo_collect(edit.book, collect_id, decisions, now=now)
        backup = edit.save(undo.changeset)
    return CollectResult(target, None, True, backup, undo=undo)


def format_collect_summary(result: CollectResult) -> list[str]:
    """The lines the CLI prints."""
    lines: list[str] = []
    if result.undo is not None:
        u = result.undo
        return [
            f"{result.path}: undid collect {u.import_id}: {counted(u.removed, 'record')} removed, "
            f"{counted(u.restored, 'value')} restored"
        ]
    if result.resolve is not None:
        r = result.resolve
        lines += [f"  not applied: {line}" for line in r.refused]
        lines += [f"  note: {line}" for line in r.notices]
        lines.append(
            f"{result.path}: {counted(r.applied, 'decision')} applied, {counted(r.kept, 'canonical value')} "
            f"kept, {counted(r.pending, 'conflict')} still open"
        )
        return lines
    plan = result.plan
    assert plan is not None
    schema = load_schema()
    total_conflicts = 0
    for o in plan.outcomes:
        created = ", ".join(records(n, k).replace(" ", " new ", 1) for k, n in o.created.items())
        lines.append(
            f"  {o.path} ({o.rep}, split {o.split_id}): {counted(o.applied, 'cell')} applied, {o.same} already "
            f"the same, {counted(o.conflicts, 'conflict')}, {counted(o.deleted, 'deletion')} to confirm"
            + (f", {created}" if created else "")
        )
        for notice in o.notices:
            lines.append(f"    note: {notice}")
        for sheet_key, provisional, final in o.renumbered[:5]:
            lines.append(f"    {schema.sheet(sheet_key).label('en')} {provisional} → {final}")
        if len(o.renumbered) > 5:
            lines.append(f"    … and {len(o.renumbered) - 5} more new IDs (the Change log lists them)")
        total_conflicts += o.conflicts + o.deleted
    sheet = schema.owned_sheet_name("conflicts", plan.lang)
    if result.written:
        lines.append(
            f"{result.path}: collected {counted(len(plan.outcomes), 'rep file')} as {plan.collect_id} in {result.seconds:.1f} s"
            + (
                f"; {total_conflicts} conflicts and deletions {'waits' if total_conflicts == 1 else 'wait'} on the {sheet} sheet: pick a decision, then run "
                f"crmbook collect --resolve {result.path}"
                if total_conflicts
                else ""
            )
            + f"; undo with: crmbook collect --undo {result.path} {plan.collect_id}"
        )
    else:
        verb = "would collect" if plan.changed else "nothing new to collect from"
        lines.append(
            f"{result.path}: {verb} {counted(len(plan.outcomes), 'rep file')} (dry run: nothing was written)"
            if plan.changed
            else f"{result.path}: {verb} {counted(len(plan.outcomes), 'rep file')}"
        )
    return lines
