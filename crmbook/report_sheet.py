"""One report section as a sheet laid out on the pages it prints on.

A :class:`Sheet` is written top to bottom (headings, tables, paragraphs, charts
placed over cells), then :meth:`Sheet.finish` sets the column widths, the scale
that fits the page's width, the page breaks that keep each table and chart
whole (:mod:`crmbook.report_pages`), the print area, the repeated header row of
a table running over a page, and the page header and footer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from crmbook.measures import Measures
from crmbook.report_pages import (
    MARGINS,
    POINTS_PER_CM,
    Paper,
    chars_for_points,
    column_points,
    display_width,
    page_breaks,
)
from crmbook.report_words import T
from crmbook.schema import Lang

__all__ = ["FORMATS", "Context", "Sheet", "figure_text", "sheet_name"]

FORMATS = {
    "amount": "¥#,##0",
    "percent": "0.0%",
    "integer": "#,##0",
    "number": "#,##0.0",
    "date": "yyyy-mm-dd",
}
NAVY, UP, DOWN, GREY, TILE = "1F4E78", "2E7D32", "C00000", "7F7F7F", "F2F5F9"
HEADER_FILL = PatternFill("solid", fgColor=NAVY)
TILE_FILL = PatternFill("solid", fgColor=TILE)
RULE = Border(bottom=Side(style="thin", color="D9D9D9"))
ROW_PT = 14.0  # every table row
TEXT_LIMIT = 40  # display width of a text cell before it is cut (the full text goes in a comment)
SAFETY = 0.97  # page height used, so a renderer's rounding never pushes a row over
LONG_TABLE = 28  # a table of this many rows (total included) is not kept on one page: it may run over


def figure_text(value: Any, kind: str) -> str:
    """A figure as the tiles and alerts write it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "amount":
        return f"¥{value:,.0f}"
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "number":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


@dataclass
class Context:
    m: Measures
    lang: Lang
    paper: Paper
    team: str
    scope: str
    title: str  # the report's title: 销售月报, 个人业绩卡 · 张伟, ...
    generated: dt.datetime

    @property
    def w(self) -> dict[str, str]:
        return T[self.lang]


@dataclass
class _Chart:
    chart: Any
    row: int
    col: int
    height_cm: float
    span: int = 1  # columns the chart is as wide as


class Sheet:
    """One report section: written top to bottom, then laid out on pages by :meth:`finish`."""

    def __init__(self, wb: Workbook, title: str, ctx: Context) -> None:
        self.ws: Worksheet = wb.create_sheet(sheet_name(title, wb))
        self.ctx = ctx
        self.title = title
        self.heights: dict[int, float] = {}
        self.widths: dict[int, float] = {}  # characters
        self.fill: int | None = None  # a column widened to the page's right edge (charts beside tables)
        self.charts: list[_Chart] = []
        self.keeps: list[tuple[int, int]] = []
        self.repeat: int | None = None  # header row of a table running over a page, printed atop each
        self.tables: list[tuple[int, int]] = []  # (header row, last row) of each table
        # Wrapped text: row, column, columns, rows, text.
        self._wrap: list[tuple[int, int, int, int, str]] = []
        w = ctx.w
        self._put(1, 1, title, Font(size=16, bold=True, color=NAVY), height=24)
        m = ctx.m
        sub = (
            f"{w['period']}: {m.period.label()}  ·  {w['compare']} {m.previous.label()}  ·  "
            f"{w['scope']}: {ctx.scope}"
        )
        self._put(2, 1, sub, Font(size=9, color=GREY), height=15)
        self.heights[3] = 8
        self.row = 4

    def _put(
        self, row: int, col: int, value: Any, font: Font | None = None, *, height: float | None = None
    ) -> Any:
        cell = self.ws.cell(row, col, value)
        if font is not None:
            cell.font = font
        if height is not None:
            self.heights[row] = height
        return cell

    def heading(self, text: str, col: int = 1) -> None:
        self._put(self.row, col, text, Font(size=12, bold=True, color=NAVY), height=20)
        self.row += 1

    def paragraph(
        self,
        text: str,
        *,
        col: int = 1,
        cols: int = 6,
        rows: int = 1,
        colour: str = "000000",
        bold: bool = False,
    ) -> int:
        """Text wrapped across ``cols`` columns and ``rows`` rows (which share the height it needs);
        returns its first row."""
        row = self.row
        cell = self._put(row, col, text, Font(size=10, color=colour, bold=bold))
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if cols > 1 or rows > 1:
            self.ws.merge_cells(
                start_row=row, start_column=col, end_row=row + rows - 1, end_column=col + cols - 1
            )
        self._wrap.append((row, col, cols, rows, text))
        self.row += rows
        return row

    def table(
        self,
        headers: list[str],
        rows: list[list[Any]],
        formats: list[str | None],
        *,
        row: int | None = None,
        col: int = 1,
        total: list[Any] | None = None,
    ) -> tuple[int, int]:
        """A header and rows (and a total row), numbers right-aligned under right-aligned headers;
        returns (header row, last row). Text wider than a column can be is cut, the whole in a comment."""
        top = self.row if row is None else row
        for c, (h, fmt) in enumerate(zip(headers, formats, strict=True), start=col):
            cell = self.ws.cell(top, c, h)
            cell.font, cell.fill = Font(bold=True, color="FFFFFF", size=10), HEADER_FILL
            cell.alignment = _align(fmt, c > col, vertical="center")
            self._fit(c, display_width(str(h)))
        self.heights[top] = 18
        body = [*rows, total] if total is not None else rows
        for r, values in enumerate(body, start=top + 1):
            is_total = total is not None and r == top + len(body)
            for c, (v, fmt) in enumerate(zip(values, formats, strict=True), start=col):
                if isinstance(v, float) and pd.isna(v):
                    v = None
                if isinstance(v, pd.Timestamp):
                    v = v.to_pydatetime()
                if v is pd.NaT:
                    v = None
                shown = _shown(v, fmt)
                if fmt is None and isinstance(v, str) and display_width(v) > TEXT_LIMIT:
                    cut = _cut(v, TEXT_LIMIT - 1) + "…"
                    cell = self.ws.cell(r, c, cut)
                    cell.comment = Comment(v, "crmbook", width=240, height=60)
                    shown = cut
                else:
                    cell = self.ws.cell(r, c, v)
                if fmt in FORMATS:
                    cell.number_format = FORMATS[fmt]
                cell.alignment = _align(fmt, c > col)
                cell.border = RULE
                cell.font = Font(size=10, bold=is_total)
                self._fit(c, display_width(shown))
        last = top + len(body)
        self.tables.append((top, last))
        if len(body) < LONG_TABLE:
            self.keeps.append((top - 1 if top > 4 and self.ws.cell(top - 1, col).value else top, last))
        if row is None:
            self.row = last + 2
        return top, last

    def _fit(self, col: int, width: int) -> None:
        self.widths[col] = max(self.widths.get(col, 6), min(TEXT_LIMIT, width) + 2)

    def chart(self, chart: Any, *, row: int, col: int, height_cm: float = 7.5, span: int = 1) -> int:
        """Place ``chart`` over ``span`` columns from (row, col), tall enough for ``height_cm`` in table rows;
        returns the last row it covers. Both corners are tied to cells, so the chart stays inside them on
        any renderer, whatever its font makes of the column widths."""
        self.charts.append(_Chart(chart, row, col, height_cm, span))
        return row + math.ceil(height_cm * POINTS_PER_CM / ROW_PT) - 1

    def beside(
        self,
        headers: list[str],
        rows: list[list[Any]],
        formats: list[str | None],
        chart: Any,
        *,
        height_cm: float = 7.5,
        total: list[Any] | None = None,
    ) -> tuple[int, int]:
        """A table with its chart to the right, reaching the page's right edge; the two stay on one page."""
        top = self.row
        first, last = self.table(headers, rows, formats, total=total)
        col = max(len(headers) + 2, self.fill or 0)  # charts of one sheet share the column they fill
        self.widths.setdefault(len(headers) + 1, 2)
        self.fill = col
        end = self.chart(chart, row=top, col=col, height_cm=height_cm) if chart is not None else last
        heading = top - 1 if top > 4 and self.ws.cell(top - 1, 1).value else top
        self.keeps.append((heading, max(last, end)))
        self.row = max(last, end) + 2
        return first, last

    def finish(self, *, one_page: bool = False) -> int:
        """Widths, scale, page breaks, print area, header and footer; returns the number of pages."""
        ws, paper, ctx = self.ws, self.ctx.paper, self.ctx
        if self.fill is not None:
            used = sum(column_points(self.widths.get(c, 8.43)) for c in range(1, self.fill))
            room = paper.printable_width - used - 4
            self.widths[self.fill] = max(chars_for_points(max(room, 11 * POINTS_PER_CM)), 10)
        for c, width in self.widths.items():
            ws.column_dimensions[get_column_letter(c)].width = width
        last_col = max([*self.widths, *(ch.col + ch.span - 1 for ch in self.charts), 1])
        width_pt = sum(column_points(self.widths.get(c, 8.43)) for c in range(1, last_col + 1))
        for row, col, cols, rows, text in self._wrap:
            share = self._text_height(col, cols, text) / rows
            for r in range(row, row + rows):
                self.heights[r] = max(self.heights.get(r, ROW_PT), share)
        last_row = max([ws.max_row, *(self._chart_end(ch) for ch in self.charts)])
        heights = [self.heights.get(r, ROW_PT) for r in range(1, last_row + 1)]
        for r, h in enumerate(heights, start=1):  # every row's height is set: renderers agree on them
            ws.row_dimensions[r].height = h
        scale = min(100, math.floor(100 * paper.printable_width / width_pt))
        if one_page:
            scale = min(scale, math.floor(100 * paper.printable_height * SAFETY / sum(heights)))
        page_height = paper.printable_height * SAFETY * 100 / scale
        keeps = [*self.keeps, *((ch.row, self._chart_end(ch)) for ch in self.charts)]
        breaks = [] if one_page else page_breaks(heights, keeps, page_height)
        for b in breaks:
            ws.row_breaks.append(Break(id=b))
        split = [top for top, last in self.tables if any(top <= b < last for b in breaks)]
        if self.repeat is None and split:
            self.repeat = split[0]  # a table running onto the next page: its header printed there too
        _page_setup(ws, ctx, self.title, scale, one_page=one_page)
        ws.print_area = f"A1:{get_column_letter(last_col)}{last_row}"
        if self.repeat is not None:
            ws.print_title_rows = f"{self.repeat}:{self.repeat}"
        for ch in self.charts:
            # A chart beside a table starts on its header row; when that row is printed atop the next pages,
            # LibreOffice prints the chart's top strip there too: such a chart starts a row lower.
            first = ch.row + 1 if ch.row == self.repeat else ch.row
            ch.chart.anchor = _anchor(first, ch.col, self._chart_end(ch), ch.col + ch.span - 1)
            ws.add_chart(ch.chart)
        ws.sheet_view.showGridLines = False
        return len(breaks) + 1

    def _text_height(self, col: int, cols: int, text: str) -> float:
        points = sum(column_points(self.widths.get(c, 8.43)) for c in range(col, col + cols))
        per_line = max(1, int(points / 5.6))  # half-width characters of a 10-point font per line
        lines = sum(max(1, math.ceil(display_width(part) / per_line)) for part in text.split("\n"))
        return lines * 14 + 4

    def _chart_end(self, ch: _Chart) -> int:
        """The last row the chart covers: as many table rows as its height needs."""
        return ch.row + math.ceil(ch.height_cm * POINTS_PER_CM / ROW_PT) - 1


def _anchor(first_row: int, first_col: int, last_row: int, last_col: int) -> Any:
    """A two-cell anchor filling the cells (first_row, first_col) to (last_row, last_col), inset a little."""
    from openpyxl.drawing.spreadsheet_drawing import AnchorMarker, TwoCellAnchor

    inset = 38_100  # 3 points, in EMU
    return TwoCellAnchor(
        editAs="twoCell",
        _from=AnchorMarker(col=first_col - 1, colOff=inset, row=first_row - 1, rowOff=inset),
        to=AnchorMarker(col=last_col, colOff=0, row=last_row, rowOff=0),
    )


def _align(fmt: str | None, indented: bool, vertical: str | None = None) -> Alignment:
    """Numbers right, text left (a little in from a number column to its left); headers like their values."""
    if fmt in (None, "date"):
        return Alignment(horizontal="left", indent=1 if indented else 0, vertical=vertical)
    return Alignment(horizontal="right", vertical=vertical)


def _shown(value: Any, fmt: str | None) -> str:
    """A cell's text as printed, to size its column."""
    if value is None:
        return ""
    if fmt in ("amount", "percent", "integer", "number") and isinstance(value, int | float):
        return figure_text(value, fmt)
    return str(value)[:10] if fmt == "date" else str(value)


def _cut(text: str, width: int) -> str:
    out, used = [], 0
    for ch in text:
        used += display_width(ch)
        if used > width:
            break
        out.append(ch)
    return "".join(out)


def sheet_name(title: str, wb: Workbook) -> str:
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31]
    base, n = name, 2
    while name in wb.sheetnames:
        name = f"{base[:28]} {n}"
        n += 1
    return name


def _page_setup(ws: Worksheet, ctx: Context, section: str, scale: int, *, one_page: bool) -> None:
    """Paper, margins, scale, header (team, report, period) and footer (generated at, page X of Y)."""
    paper, w = ctx.paper, ctx.w
    ws.page_setup.paperSize = paper.code
    ws.page_setup.orientation = "landscape" if paper.landscape else "portrait"
    # Fit to the page's width (to one page for the summary): each renderer scales by its own font metrics.
    # The breaks were placed for Excel's metrics; a renderer whose font is wider scales down further,
    # which only leaves more room on each page.
    ws.page_setup.scale = scale
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if one_page else 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    for side, inches in MARGINS.items():
        setattr(ws.page_margins, side, inches)
    ws.print_options.horizontalCentered = False
    ws.oddHeader.left.text = _literal(ctx.team)
    ws.oddHeader.center.text = _literal(f"{ctx.title} · {section}")
    ws.oddHeader.right.text = ctx.m.period.label()
    ws.oddFooter.left.text = f"{w['generated']} {ctx.generated:%Y-%m-%d %H:%M}"
    ws.oddFooter.right.text = w["page"]
    for part in (
        ws.oddHeader.left,
        ws.oddHeader.center,
        ws.oddHeader.right,
        ws.oddFooter.left,
        ws.oddFooter.right,
    ):
        part.size, part.color = 9, "595959"
    ws.oddHeader.center.font = "-,Bold"


def _literal(text: str) -> str:
    """``text`` in a page header or footer, its ampersands doubled (a single one starts a code, like &P)."""
    return text.replace("&", "&&")
