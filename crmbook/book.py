"""What crmbook knows about a workbook after reading it: plain data, no I/O.

A :class:`Book` holds one :class:`Table` per record sheet, the team's
:class:`Settings` and the dropdown lists as they are in the Lists sheet.
The pure steps (validate, assign IDs, dedupe, roll up) take these and
return issues and changesets.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from crmbook.changeset import Formula
from crmbook.schema import Lang, Rep, Schema, SheetSpec, load_schema

if TYPE_CHECKING:
    from crmbook.state import State

__all__ = ["Book", "Settings", "Table", "copy_book", "written_over"]


@dataclass
class Table:
    """One record sheet.

    ``data`` has one row per record, indexed by the record's Excel row number
    (1-based), with a column per schema key found on the sheet plus one per
    column crmbook does not know (named by its header text, kept as it is).
    Empty cells are ``None``; other values are as Excel stores them (str,
    int, float, bool, ``datetime.date``/``datetime.datetime``, or an error
    text such as ``"#N/A"``).
    """

    spec: SheetSpec
    sheet_name: str
    header_row: int
    columns: dict[str, int]  # schema key -> 1-based column number
    extra_columns: dict[str, int]  # header text of a user column -> column number
    data: pd.DataFrame
    # Rows under the records that total them (合计 typed in their first cell, no ID): not records, but
    # new records appended below the data would land under them, outside their sums.
    totals_below: list[int] = field(default_factory=list)
    # The cells under the header that hold a formula: field -> {Excel row: (its text without "=", the
    # cell it stands at as written: its own, or a shared formula's master)}; ``data`` holds their
    # results. Empty when the book was read without looking (crmbook.snapshot.learn_formulas tells it).
    formulas: dict[str, dict[int, tuple[str, str]]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.spec.key

    def col(self, key: str) -> int | None:
        """The column number of a schema field, or None when the sheet lacks it."""
        return self.columns.get(key)

    def has(self, key: str) -> bool:
        return key in self.columns

    def next_free_row(self, after: int, path: str) -> int:
        """The row for a new record below row ``after``; refused when a totals row sits under the
        records (the new record would go below it, outside its sums); ``path``: the workbook's."""
        if self.totals_below:
            from crmbook.errors import WorkbookFileError

            row = min(self.totals_below)
            raise WorkbookFileError(
                path,
                f"sheet {self.sheet_name} row {row} totals the records above it: new records would go below it, "
                "outside its sums. Make it the Excel table's total row (click in the table, Table Design › "
                "Total Row: crmbook keeps that row under the records) or move it above the header row, "
                "then run again",
            )
        return after + 1

    def field_at(self, col: int) -> str | None:
        """The schema key or user column header of column ``col``, or None."""
        return next((k for k, c in {**self.columns, **self.extra_columns}.items() if c == col), None)

    def remembered_formula(self, name: str, row: int) -> str | None:
        """The formula of field ``name`` on ``row`` as a snapshot remembers it (the same wherever its
        record stands: :func:`crmbook.ooxml.formulas.remembered_formula`); None when the cell holds a value."""
        found = self.formulas.get(name, {}).get(row)
        col = self.columns.get(name) or self.extra_columns.get(name)
        if found is None or col is None:
            return None
        from crmbook.ooxml.formulas import remembered_formula

        return remembered_formula(found[0], found[1], (row, col))

    def written_over(self, cells: Mapping[str, Mapping[int, Any]]) -> None:
        """Take in what is written into ``cells`` (field -> {row: value}): a value ends a formula there,
        a formula (:class:`crmbook.changeset.Formula`, an undo giving one back) starts one. The
        table's map is replaced, not changed (a copy of the table shares it)."""
        formulas = {f: rows for f, rows in cells.items() if any(type(v) is Formula for v in rows.values())}
        hit = {
            f: rows
            for f, rows in cells.items()
            if f in self.formulas and not self.formulas[f].keys().isdisjoint(rows)
        }
        if not formulas and not hit:
            return
        from crmbook.ooxml.cells import cell_ref

        after = {f: dict(rows) for f, rows in self.formulas.items()}
        for f, rows in {**hit, **formulas}.items():
            col = self.columns.get(f) or self.extra_columns.get(f)
            for row, value in rows.items():
                if type(value) is Formula and col is not None:
                    after.setdefault(f, {})[row] = (value.text, cell_ref(row, col))
                else:
                    after.get(f, {}).pop(row, None)
        self.formulas = after

    def add_extra_column(self, name: str) -> int:
        """A new user column ``name`` after the last one (empty in every record); its column number.
        The caller writes its header."""
        col = max([*self.columns.values(), *self.extra_columns.values()], default=0) + 1
        self.extra_columns[name] = col
        self.data[name] = pd.Series([None] * len(self.data), index=self.data.index, dtype=object)
        return col


@dataclass
class Settings:
    """The Settings sheet, with schema defaults for anything missing or invalid."""

    values: dict[str, Any]
    reps: list[Rep] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def id_pattern(self, sheet_key: str) -> str:
        return str(self.values[f"id_pattern_{sheet_key}"])

    def cadence_days(self, level: str) -> int | None:
        value = self.values.get(f"cadence_{level}")
        return int(value) if value is not None else None

    def default_probability(self, stage_key: str) -> float | None:
        value = self.values.get(f"probability_{stage_key}")
        return float(value) if value is not None else None

    def rep_target(self, name: str) -> float | None:
        for rep in self.reps:
            if rep.name == name:
                return rep.target
        return None

    @classmethod
    def defaults(cls, lang: Lang = "zh", schema: Schema | None = None) -> Settings:
        schema = schema or load_schema()
        return cls(
            values={s.key: s.default_for(lang) for s in schema.settings},
            reps=list(schema.reps),
        )


@dataclass
class EarlierRows:
    """The rows a sheet crmbook keeps holds under its header (the change log's earlier entries): how
    many (the last row's number, less the header's), and their values, read only when asked for (the
    change log of a team's workbook holds 100,000 entries, which a run that only adds to it never reads)."""

    count: int
    read: Callable[[], list[list[Any]]] = field(repr=False)  # the rows with a value, in order
    _values: list[list[Any]] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, rows: list[list[Any]]) -> EarlierRows:
        return cls(len(rows), list, rows)

    def values(self) -> list[list[Any]]:
        if self._values is None:
            self._values = self.read()
        return self._values


@dataclass
class Book:
    """A workbook as crmbook read it."""

    path: str
    lang: Lang
    tables: dict[str, Table]
    settings: Settings
    lists: dict[str, list[str]]  # list key -> labels in the Lists sheet (user additions included)
    sheet_names: list[str]
    state: State | None = None  # what earlier refreshes remembered (None: never refreshed)
    changelog: EarlierRows = field(default_factory=lambda: EarlierRows.of([]))  # earlier change-log entries
    duplicates_grid: list[list[Any]] = field(default_factory=list)  # the Duplicates sheet as last written
    conflicts_grid: list[list[Any]] = field(
        default_factory=list
    )  # the Conflicts sheet (team collect), if any
    today: dt.date = field(default_factory=dt.date.today)
    macro_enabled: bool = False  # an .xlsm with crmbook's VBA project: the dashboard carries the buttons

    def table(self, key: str) -> Table:
        return self.tables[key]


def written_over(book: Book | Table, writes: Iterable[Any]) -> None:
    """Take in the record cells (of ``book``, or of one table) ``writes`` (cell writes: ``sheet``,
    ``row``, ``col``, ``value``) write (see :meth:`Table.written_over`): cheap when no formula is
    there or written."""
    tables = (
        {book.sheet_name: book}
        if isinstance(book, Table)
        else {t.sheet_name: t for t in book.tables.values()}
    )
    cells: dict[str, dict[str, dict[int, Any]]] = {}
    for w in writes:
        table = tables.get(w.sheet)
        if table is not None and (table.formulas or type(w.value) is Formula):
            name = table.field_at(w.col)
            if name is not None:
                cells.setdefault(w.sheet, {}).setdefault(name, {})[w.row] = w.value
    for sheet, written in cells.items():
        tables[sheet].written_over(written)


def copy_book(book: Book) -> Book:
    """A copy of ``book`` whose tables' frames and user-column maps can be changed without changing
    ``book``'s (an import, a split or a collect works out the book after it this way)."""
    after = copy.copy(book)
    after.tables = {k: copy.copy(t) for k, t in book.tables.items()}
    for t in after.tables.values():
        t.data = t.data.copy()
        t.extra_columns = dict(t.extra_columns)
    return after
