"""The changeset: everything a crmbook run wants to change in a workbook.

Pure steps produce it; an engine applies it. The file engine
(:mod:`crmbook.ooxml`) patches the OOXML package surgically; the live engine
(:mod:`crmbook.xl`) applies the same structure through xlwings. Keep it plain
data: no openpyxl, no xlwings, no file paths.

Coordinates are 1-based Excel rows and columns on a sheet named as it is in
the workbook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Formula:
    """A formula to write into a cell: its text as the file format stores it (without the leading "=")
    and the value it last showed (kept as the cell's cached result until the next recalculation)."""

    text: str
    shown: str | int | float | bool | None = None


CellValue = str | int | float | bool | dt.date | dt.datetime | Formula | None
Severity = Literal["error", "warning", "info"]

# Named cell styles crmbook uses on the sheets it writes. Every engine maps
# these names to its own formatting; nothing else may be used.
STYLES = (
    "title",  # large bold sheet title
    "subtitle",  # grey small text under the title
    "header",  # table header: bold, filled
    "text",
    "wrap",  # text that wraps
    "integer",  # #,##0
    "amount",  # ¥#,##0
    "percent",  # 0.0%
    "date",  # yyyy-mm-dd
    "datetime",  # yyyy-mm-dd hh:mm
    "link",  # blue underlined (hyperlink cells)
    "error",  # red text
    "warning",  # amber text
    "kpi",  # large bold number
)

__all__ = [
    "STYLES",
    "Button",
    "CellValue",
    "CellWrite",
    "Changeset",
    "ChartSpec",
    "Formula",
    "Highlight",
    "ListValidation",
    "OwnedSheet",
    "Severity",
    "SheetCell",
]


@dataclass(frozen=True, slots=True)
class CellWrite:
    """Put ``value`` into one user-sheet cell (an empty ID cell, a derived column)."""

    sheet: str
    row: int
    col: int
    value: CellValue


@dataclass(frozen=True, slots=True)
class Highlight:
    """Mark a user-sheet cell as having a problem of ``severity``."""

    sheet: str
    row: int
    col: int
    severity: Severity


@dataclass(frozen=True, slots=True)
class SheetCell:
    """One cell of a crmbook-owned sheet."""

    value: CellValue
    style: str = "text"
    link: str | None = None  # internal target such as "'客户'!B7"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}")


@dataclass(frozen=True)
class ChartSpec:
    """A native chart on an owned sheet, fed by ranges of that same sheet.

    ``categories`` and each of ``series`` are ranges like ``(first_row, col,
    last_row)`` (1-based). ``series_titles`` name each series. ``anchor`` is
    the top-left cell, e.g. ``"H3"``.
    """

    kind: Literal["pie", "bar", "column", "line", "funnel"]
    title: str
    anchor: str
    categories: tuple[int, int, int]
    series: tuple[tuple[int, int, int], ...]
    series_titles: tuple[str, ...] = ()
    width_cm: float = 15.0
    height_cm: float = 7.5


@dataclass(frozen=True)
class ListValidation:
    """A dropdown on a range of an owned sheet (e.g. ``"J4:J80"``); items must not contain commas."""

    ref: str
    items: tuple[str, ...]

    def __post_init__(self) -> None:
        if any("," in item for item in self.items):
            raise ValueError("dropdown items cannot contain commas")


@dataclass(frozen=True)
class Button:
    """A push button bound to a VBA macro (in macro-enabled workbooks), placed over a block of cells.

    ``col`` and ``row`` are the 1-based top-left cell; the button spans ``cols`` x ``rows`` cells.
    """

    label: str
    macro: str  # a public Sub of the workbook's VBA project, e.g. "CrmbookRefresh"
    col: int
    row: int
    cols: int = 2
    rows: int = 2


@dataclass(frozen=True)
class KeptRows:
    """The rows an owned sheet already holds under its header, from an earlier run, kept as they are:
    the sheet only grows (a change log of 100,000 entries is not written again on every refresh)."""

    count: int  # rows under the header (the last one's number, less the header's)
    values: Callable[[], list[list[CellValue]]]  # those with a value, as the workbook holds them
    cell: Callable[[int, CellValue], SheetCell]  # (column index, value) -> the cell it is written as

    def cells(self) -> list[list[SheetCell | None]]:
        cell = self.cell
        return [[cell(i, v) for i, v in enumerate(row)] for row in self.values()]


@dataclass
class OwnedSheet:
    """A sheet crmbook rebuilds from scratch on every run.

    ``rows`` is a grid; ``None`` entries are empty cells. The sheet is placed
    after ``after`` (a sheet name) when it does not exist yet.

    With ``kept``, the sheet grows instead: ``rows`` holds its header and the rows that follow the kept
    ones. An engine adds them under the rows the workbook's sheet holds when those are the kept ones
    (as many, crmbook's own), and otherwise writes it whole (:meth:`whole_rows`).
    """

    name: str
    rows: list[list[SheetCell | None]]
    widths: dict[int, float] = field(default_factory=dict)
    freeze: str | None = None  # top-left cell of the scrolling area, e.g. "A2"
    charts: list[ChartSpec] = field(default_factory=list)
    hidden: Literal[False, "hidden", "veryHidden"] = False
    tab_color: str | None = None  # "RRGGBB"
    autofilter: str | None = None  # e.g. "A3:H40"
    validations: list[ListValidation] = field(default_factory=list)  # dropdowns people pick from
    buttons: list[Button] = field(default_factory=list)  # macro buttons (macro-enabled workbooks only)
    # Printing: rows after which a new page starts, and the page header and footer as (left, centre,
    # right) texts with Excel's codes (&P page, &N pages).
    row_breaks: tuple[int, ...] = ()
    header: tuple[str, str, str] | None = None
    footer: tuple[str, str, str] | None = None
    kept: KeptRows | None = None
    # Rows that leave the sheet for good (the Change log's oldest entries, past its limit): their
    # values, kept in a file beside the workbook before it is saved (see crmbook.log_archive).
    dropped: list[list[CellValue]] = field(default_factory=list)

    def whole_rows(self) -> list[list[SheetCell | None]]:
        """Every row of the sheet, the kept ones included."""
        if self.kept is None:
            return self.rows
        return [*self.rows[:1], *self.kept.cells(), *self.rows[1:]]


@dataclass
class Changeset:
    """What one run changes.

    ``highlights`` is the complete set for each sheet listed in
    ``highlight_sheets``: engines clear crmbook's previous highlights on those
    sheets and apply these, so a fixed problem loses its mark.
    """

    cell_writes: list[CellWrite] = field(default_factory=list)
    highlights: list[Highlight] = field(default_factory=list)
    highlight_sheets: set[str] = field(default_factory=set)
    owned_sheets: list[OwnedSheet] = field(default_factory=list)
    table_rows: dict[str, int] = field(
        default_factory=dict
    )  # sheet -> last row its Excel table must cover (rows appended by an import)
    # sheet -> (column, header) of each user column an import or a collect added right of the sheet's
    # Excel table, which the table takes in; header None: an undo removed the column, the table lets
    # it go (see crmbook.ooxml.tables)
    table_columns: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    # sheet -> its last record row: the sheet's Excel table takes in records typed right below it (a
    # program that does not widen tables as Excel does), when it is the sheet's only table and has no
    # totals row; else it is left as it is
    table_reach: dict[str, int] = field(default_factory=dict)
    # sheet -> "veryHidden" (or another state) for sheets whose visibility is set without rewriting
    # them: crmbook's hidden data that a spreadsheet program showed (Gnumeric shows every sheet)
    sheet_states: dict[str, str] = field(default_factory=dict)

    def add(self, other: Changeset) -> None:
        """What ``other`` changes too, after this changeset's own (a refresh run after an import)."""
        self.cell_writes += other.cell_writes
        self.highlights += other.highlights
        self.highlight_sheets |= other.highlight_sheets
        self.owned_sheets += other.owned_sheets
        for sheet, row in other.table_rows.items():
            self.table_rows[sheet] = max(row, self.table_rows.get(sheet, row))
        for sheet, columns in other.table_columns.items():
            self.table_columns.setdefault(sheet, []).extend(columns)
        for sheet, row in other.table_reach.items():
            self.table_reach[sheet] = max(row, self.table_reach.get(sheet, row))
        self.sheet_states.update(other.sheet_states)

    def is_empty(self) -> bool:
        return not (self.cell_writes or self.highlights or self.highlight_sheets or self.owned_sheets)
