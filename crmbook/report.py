"""``crmbook report``: the sales report workbook (and PDF), designed to be printed and handed on.

Reads the canonical workbook (never writes it), computes :mod:`crmbook.measures`
for a month, week, day or any range and writes a separate workbook with
openpyxl: a one-page summary (headline tiles, the 12-month trend and the funnel,
alerts and a narrative from a Jinja2 template the team can edit), then one
section per topic with formatted tables and native charts. Every sheet is laid
out on the page it prints on (:mod:`crmbook.report_pages`): paper and margins,
a header and footer, a scale that fits the width and page breaks that never cut
a chart or a table. ``--pdf`` adds a PDF with a bookmark per section.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.chart.marker import DataPoint
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from crmbook.book import Book
from crmbook.measures import Measures, Period, compute_measures
from crmbook.ooxml.charts import PALETTE, chart_title
from crmbook.reader import read_book
from crmbook.report_pages import (
    MARGINS,
    POINTS_PER_CM,
    Paper,
    chars_for_points,
    column_points,
    display_width,
    page_breaks,
    parse_paper,
)
from crmbook.schema import Lang, load_schema

__all__ = ["SECTIONS", "ReportResult", "T", "build_report", "default_report_path", "write_report"]

T = {
    "zh": {
        "summary": "概览",
        "funnel": "销售漏斗",
        "sources": "客户来源",
        "reps": "销售业绩",
        "customers": "客户分布",
        "pipeline": "商机预测",
        "followup": "跟进情况",
        "lost": "流失分析",
        "trend": "趋势",
        "period": "统计期间",
        "generated": "生成时间",
        "scope": "范围",
        "all": "全部",
        "measure": "指标",
        "this": "本期",
        "previous": "上期",
        "change": "变化",
        "new_customers": "新增客户",
        "followups": "跟进次数",
        "wins": "成交单数",
        "won_amount": "成交金额",
        "conversion_rate": "转化率（本期新客户中已成交）",
        "average_deal": "客单价",
        "repurchase_rate": "复购率",
        "followups_per_win": "每单跟进次数",
        "key_followup_rate": "A级客户跟进率",
        "weighted_pipeline": "加权商机金额",
        "alert": "低于警戒线",
        "stage": "阶段",
        "count": "数量",
        "amount": "金额",
        "reached": "到达该阶段",
        "conversion": "阶段转化率",
        "source": "来源",
        "customers_n": "客户数",
        "new_n": "本期新增",
        "won_customers": "成交客户",
        "win_rate": "成交率",
        "rep": "销售",
        "target": "目标",
        "attainment": "完成率",
        "status": "客户状态",
        "level": "客户等级",
        "industry": "所属行业",
        "share": "占比",
        "month": "预计成交月份",
        "deals": "机会数",
        "weighted": "加权金额",
        "owner": "负责人",
        "overdue": "逾期未跟进客户（按等级和负责人）",
        "churn": "流失风险客户",
        "customer_id": "客户编号",
        "opportunity_id": "机会编号",
        "name": "名称",
        "last": "最近跟进",
        "days": "未跟进天数",
        "lost_customers": "本期流失客户",
        "lost_deals": "本期丢单",
        "reason": "原因",
        "trend_month": "月份",
        "no_data": "本期无数据",
        "none": "（空）",
        "target_line": "目标",
        "report_month": "销售月报",
        "report_week": "销售周报",
        "report_day": "销售日报",
        "report_range": "销售报告",
        "scorecard": "个人业绩卡",
        "previous_month": "上月",
        "previous_week": "上周",
        "previous_day": "前一天",
        "previous_range": "上期",
        "compare": "对比",
        "page": "第 &P 页，共 &N 页",
        "alerts": "提醒",
        "story": "小结",
        "flat": "持平",
        "pts": "个百分点",
        "vs": "较",
        "alert_line": "警戒线",
        "of_target": "完成",
        "key_ok": "A级客户跟进率 {rate}，达到 {line} 警戒线",
        "key_low": "A级客户跟进率 {rate}，低于 {line} 警戒线",
        "overdue_line": "逾期未跟进客户 {n} 家（其中A级 {a} 家）",
        "churn_line": "流失风险客户 {n} 家（超过 {days} 天未跟进）",
        "reps_low": "低于目标 80% 的销售：{names}",
        "reps_ok": "所有销售均达到目标的 80%",
        "no_amount": "{n} 单已成交但未填实际成交金额",
        "trend_chart": "近 12 个月成交金额",
        "amount_axis": "金额（元）",
        "count_axis": "数量",
        "funnel_chart": "销售漏斗（到达各阶段的机会数）",
        "pipeline_chart": "按预计成交月份的加权商机",
        "sources_chart": "各来源成交金额",
        "reps_chart": "各销售成交金额与目标",
        "trend_counts": "近 12 个月客户与跟进",
        "kpis_all": "全部指标",
        "overdue_by": "逾期未跟进（按负责人和等级）",
        "total": "合计",
        "top": "（共 {n} 条，列出前 {k} 条）",
        "per_rep": "个人业绩",
        "offset": "留白",
        "chart_data": "图表数据",
        "top_n": "{what}（前 {n}）",
    },
    "en": {
        "summary": "Summary",
        "funnel": "Funnel",
        "sources": "Sources",
        "reps": "Reps",
        "customers": "Customers",
        "pipeline": "Pipeline",
        "followup": "Follow-up",
        "lost": "Lost",
        "trend": "Trend",
        "period": "Period",
        "generated": "Generated",
        "scope": "Scope",
        "all": "everyone",
        "measure": "Measure",
        "this": "This period",
        "previous": "Previous",
        "change": "Change",
        "new_customers": "New customers",
        "followups": "Follow-ups",
        "wins": "Deals won",
        "won_amount": "Won amount",
        "conversion_rate": "Conversion (new customers now won)",
        "average_deal": "Average deal",
        "repurchase_rate": "Repurchase rate",
        "followups_per_win": "Follow-ups per win",
        "key_followup_rate": "A-customer follow-up rate",
        "weighted_pipeline": "Weighted pipeline",
        "alert": "below the alert line",
        "stage": "Stage",
        "count": "Count",
        "amount": "Amount",
        "reached": "Reached",
        "conversion": "Stage conversion",
        "source": "Source",
        "customers_n": "Customers",
        "new_n": "New",
        "won_customers": "Won customers",
        "win_rate": "Win rate",
        "rep": "Rep",
        "target": "Target",
        "attainment": "Attainment",
        "status": "Status",
        "level": "Level",
        "industry": "Industry",
        "share": "Share",
        "month": "Expected close",
        "deals": "Deals",
        "weighted": "Weighted",
        "owner": "Owner",
        "overdue": "Overdue customers by level and owner",
        "churn": "Churn-risk customers",
        "customer_id": "Customer ID",
        "opportunity_id": "Opportunity ID",
        "name": "Name",
        "last": "Last follow-up",
        "days": "Days since",
        "lost_customers": "Customers lost in the period",
        "lost_deals": "Deals lost in the period",
        "reason": "Reason",
        "trend_month": "Month",
        "no_data": "No data for this period",
        "none": "(empty)",
        "target_line": "Target",
        "report_month": "Monthly sales report",
        "report_week": "Weekly sales report",
        "report_day": "Daily sales report",
        "report_range": "Sales report",
        "scorecard": "Scorecard",
        "previous_month": "last month",
        "previous_week": "last week",
        "previous_day": "the day before",
        "previous_range": "the previous period",
        "compare": "compared with",
        "page": "Page &P of &N",
        "alerts": "Alerts",
        "story": "In short",
        "flat": "flat",
        "pts": " pts",
        "vs": "vs",
        "alert_line": "Alert line",
        "of_target": "attained",
        "key_ok": "A-customer follow-up rate {rate}, at or above the {line} line",
        "key_low": "A-customer follow-up rate {rate}, below the {line} line",
        "overdue_line": "{n} customers overdue for a follow-up ({a} of them A-level)",
        "churn_line": "{n} customers at risk of churn (no follow-up for over {days} days)",
        "reps_low": "Reps below 80% of target: {names}",
        "reps_ok": "Every rep is at 80% of target or above",
        "no_amount": "Won deals without an actual amount: {n}",
        "trend_chart": "Won amount, last 12 months",
        "amount_axis": "Amount (CNY)",
        "count_axis": "Count",
        "funnel_chart": "Sales funnel (deals reaching each stage)",
        "pipeline_chart": "Weighted pipeline by expected close month",
        "sources_chart": "Won amount by source",
        "reps_chart": "Won amount and target by rep",
        "trend_counts": "Customers and follow-ups, last 12 months",
        "kpis_all": "All measures",
        "overdue_by": "Overdue follow-ups by owner and level",
        "total": "Total",
        "top": " ({n} in all, the first {k} listed)",
        "per_rep": "Rep",
        "offset": "offset",
        "chart_data": "chart data",
        "top_n": "{what} (top {n})",
    },
}
FORMATS = {
    "amount": "¥#,##0",
    "percent": "0.0%",
    "integer": "#,##0",
    "number": "#,##0.0",
    "date": "yyyy-mm-dd",
}
KPI_FORMATS = {
    "new_customers": "integer",
    "followups": "integer",
    "wins": "integer",
    "won_amount": "amount",
    "conversion_rate": "percent",
    "average_deal": "amount",
    "repurchase_rate": "percent",
    "followups_per_win": "number",
    "key_followup_rate": "percent",
    "weighted_pipeline": "amount",
}
TILES = (
    "won_amount",
    "wins",
    "new_customers",
    "followups",
    "average_deal",
    "conversion_rate",
    "key_followup_rate",
    "weighted_pipeline",
)
SECTIONS = ("summary", "funnel", "reps", "sources", "customers", "followup", "lost", "trend")
NAVY, UP, DOWN, GREY, TILE = "1F4E78", "2E7D32", "C00000", "7F7F7F", "F2F5F9"
HEADER_FILL = PatternFill("solid", fgColor=NAVY)
TILE_FILL = PatternFill("solid", fgColor=TILE)
RULE = Border(bottom=Side(style="thin", color="D9D9D9"))
ROW_PT = 14.0  # every table row
LIST_LIMIT = 20  # long lists print their first rows; the count says how many there are
TEXT_LIMIT = 40  # display width of a text cell before it is cut (the full text goes in a comment)
SAFETY = 0.97  # page height used, so a renderer's rounding never pushes a row over


@dataclass
class ReportResult:
    out_path: Path
    pdf_path: Path | None
    measures: Measures
    pages: dict[str, int] = field(default_factory=dict)  # section title -> pages it prints on


def default_report_path(book_path: str | os.PathLike[str], period: Period) -> Path:
    p = Path(book_path)
    return p.with_name(f"{p.stem}-report-{period.tag()}.xlsx")


def _money(value: float, lang: Lang) -> str:
    if lang == "zh" and abs(value) >= 10_000:
        return f"¥{value / 10_000:,.1f}万"
    return f"¥{value:,.0f}"


def _text(value: Any, kind: str) -> str:
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


def change_of(now: Any, before: Any, kind: str) -> float | None:
    """The change a tile shows: relative for counts and amounts, in points (0.01 = 1 point) for rates."""
    if now is None or before is None:
        return None
    if kind == "percent":
        return float(now) - float(before)
    return (float(now) - float(before)) / abs(float(before)) if before else None


def _change_text(change: float | None, kind: str, w: dict[str, str]) -> tuple[str, str]:
    """Arrow, size and colour of a change; under half a percent (or point) it is flat."""
    if change is None:
        return "", GREY
    if abs(change) < 0.005:
        return f"— {w['flat']}", GREY
    arrow, colour = ("▲", UP) if change > 0 else ("▼", DOWN)
    size = f"{abs(change) * 100:.1f}{w['pts']}" if kind == "percent" else f"{abs(change):.1%}"
    return f"{arrow} {size}", colour


def _narrative(m: Measures, lang: Lang, folder: Path) -> str:
    name = f"report_narrative.{lang}.j2"
    custom = folder / name  # a team's own wording, kept next to its workbook
    source = custom.read_text("utf-8") if custom.exists() else _packaged(name)
    now, before = m.kpis["won_amount"]
    overdue_a = int(m.overdue.loc[m.overdue["level"] == "A", "customers"].sum()) if not m.overdue.empty else 0
    change = (now - before) / before if before else None
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
    return (
        env.from_string(source)
        .render(
            period=m.period.label(),
            period_kind=m.period.kind,
            previous_name=T[lang][f"previous_{m.period.kind}"],
            won_amount_text=_money(now, lang),
            won_amount_change=change,
            won_amount_flat=change is not None and abs(change) < 0.005,
            wins=m.kpis["wins"][0],
            new_customers=m.kpis["new_customers"][0],
            followups=m.kpis["followups"][0],
            key_rate=m.kpis["key_followup_rate"][0],
            key_alert=m.notes["key_alert"],
            overdue_a=overdue_a,
            churn=len(m.churn),
        )
        .strip()
    )


def _packaged(name: str) -> str:
    from importlib import resources

    return resources.files("workbook_templates").joinpath(name).read_text("utf-8")


@dataclass
class _Context:
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


class _Sheet:
    """One report section: written top to bottom, then laid out on pages by :meth:`finish`."""

    def __init__(self, wb: Workbook, title: str, ctx: _Context) -> None:
        self.ws: Worksheet = wb.create_sheet(_sheet_name(title, wb))
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
        if len(body) < 28:
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
        for ch in self.charts:
            ch.chart.anchor = _anchor(ch.row, ch.col, self._chart_end(ch), ch.col + ch.span - 1)
            ws.add_chart(ch.chart)
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
        return _text(value, fmt)
    return str(value)[:10] if fmt == "date" else str(value)


def _cut(text: str, width: int) -> str:
    out, used = [], 0
    for ch in text:
        used += display_width(ch)
        if used > width:
            break
        out.append(ch)
    return "".join(out)


def _sheet_name(title: str, wb: Workbook) -> str:
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31]
    base, n = name, 2
    while name in wb.sheetnames:
        name = f"{base[:28]} {n}"
        n += 1
    return name


def _page_setup(ws: Worksheet, ctx: _Context, section: str, scale: int, *, one_page: bool) -> None:
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


def _style(chart: Any) -> None:
    """One look for every chart: the palette in series order, axes shown, legend below."""
    chart.roundedCorners = False
    if isinstance(chart, PieChart):
        return
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    if chart.legend is not None:
        chart.legend.position = "b"


def _title(text: str) -> Any:
    return chart_title(text)


def _colour(series: Any, colour: str | None) -> None:
    gp = series.graphicalProperties
    if colour is None:
        gp.noFill = True
        gp.line.noFill = True
    else:
        gp.solidFill = colour
        gp.line.solidFill = colour


def _labels_on(series: Any, fmt: str | None = None, position: str | None = None) -> None:
    series.dLbls = DataLabelList(
        showVal=True, showLegendKey=False, showCatName=False, showSerName=False, showPercent=False
    )
    if fmt:
        series.dLbls.numFmt = fmt
    if position:
        series.dLbls.dLblPos = position


def _axis_amount(axis: Any, top: float) -> None:
    axis.number_format = '¥#,##0.0,,"M"' if top >= 1_000_000 else "¥#,##0"
    axis.numFmt.sourceLinked = False


def _bars(
    title: str,
    ws: Worksheet,
    cats: tuple[int, int, int],
    data: list[tuple[int, int, int]],
    *,
    horizontal: bool = False,
    y_title: str | None = None,
    x_title: str | None = None,
    fmt: str | None = None,
    labels: bool = True,
) -> BarChart:
    """A bar chart of data columns (header row just above ``first``); categories from ``cats``."""
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.title = _title(title)
    chart.gapWidth = 60
    for i, (first, col, last) in enumerate(data):
        chart.add_data(Reference(ws, min_col=col, min_row=first - 1, max_row=last), titles_from_data=True)
        _colour(chart.series[-1], PALETTE[i % len(PALETTE)])
        if labels:
            _labels_on(chart.series[-1], fmt, "outEnd")
    chart.set_categories(Reference(ws, min_col=cats[1], min_row=cats[0], max_row=cats[2]))
    chart.x_axis.tickLblSkip = 1  # every category named
    if horizontal:
        chart.x_axis.scaling.orientation = "maxMin"  # first category on top
    if len(data) < 2:
        chart.legend = None
    _style(chart)
    if y_title:
        chart.y_axis.title = y_title
    if x_title:
        chart.x_axis.title = x_title
    return chart


def _ranked(d: pd.DataFrame) -> pd.DataFrame:
    """A distribution largest first, the empty value last."""
    return pd.concat(
        [d[d["key"] != ""].sort_values("count", ascending=False, kind="stable"), d[d["key"] == ""]]
    )


def _labels(list_key: str, keys: pd.Series, lang: Lang, none: str) -> list[str]:
    items = {i.key: i.label(lang) for i in load_schema().lists[list_key].items}
    return [items.get(k, k) or none for k in keys]


def _funnel_chart(data: Worksheet, first: int, last: int, title: str) -> BarChart:
    """A funnel: stacked horizontal bars, an invisible offset series centring the visible one, stages top
    to bottom, the count on each bar and the conversion from the stage above in its label."""
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap, chart.gapWidth = "bar", "stacked", 100, 30
    chart.title = title
    for col, colour in ((2, None), (3, PALETTE[0])):
        chart.add_data(Reference(data, min_col=col, min_row=first - 1, max_row=last), titles_from_data=True)
        _colour(chart.series[-1], colour)
    _labels_on(chart.series[1], "#,##0", "ctr")
    chart.series[1].dLbls.txPr = _white_text()
    chart.set_categories(Reference(data, min_col=1, min_row=first, max_row=last))
    chart.x_axis.scaling.orientation = "maxMin"  # the first stage on top
    chart.y_axis.delete = True  # widths, not values, are what a funnel shows
    chart.y_axis.majorGridlines = None
    chart.legend = None
    chart.title = _title(title)
    chart.roundedCorners = False
    chart.x_axis.delete = False
    return chart


def _white_text() -> Any:
    from openpyxl.chart.text import RichText
    from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties

    props = CharacterProperties(sz=900, b=True, solidFill="FFFFFF")
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), endParaRPr=props)])


def _chart_data(wb: Workbook, ctx: _Context) -> tuple[Worksheet, int, int]:
    """A hidden sheet with what only charts need: the funnel's stage labels (with the conversion from the
    stage above) and its offsets. Returns (sheet, first row, last row)."""
    w, m = ctx.w, ctx.m
    ws = wb.create_sheet(_sheet_name(w["chart_data"], wb))
    ws.sheet_state = "hidden"
    f = m.funnel[m.funnel["stage"] != "lost"]
    names = _labels("stage", f["stage"], ctx.lang, w["none"])
    reached = [int(x or 0) for x in f["reached"]]
    top = max(reached, default=0)
    ws.append([w["stage"], w["offset"], w["reached"]])
    for name, n, conv in zip(names, reached, f["conversion"], strict=True):
        label = (
            name
            if conv is None or pd.isna(conv)
            else f"{name}（↓{conv:.0%}）"
            if ctx.lang == "zh"
            else f"{name} (↓{conv:.0%})"
        )
        ws.append([label, (top - n) / 2, n])
    return ws, 2, 1 + len(reached)


def _summary(
    wb: Workbook,
    ctx: _Context,
    folder: Path,
    trend_ref: tuple[Worksheet, int, int],
    funnel_ref: tuple[Worksheet, int, int],
) -> _Sheet:
    """One page: eight headline tiles, the 12-month trend and the funnel, the alerts and the narrative."""
    w, m, paper = ctx.w, ctx.m, ctx.paper
    s = _Sheet(wb, w["summary"], ctx)
    _tiles(s, m)
    trend_ws, t0, t1 = trend_ref
    top = float(m.trend["won_amount"].max() or 0)
    trend = _bars(
        w["trend_chart"], trend_ws, (t0, 1, t1), [(t0, 5, t1)], y_title=w["amount_axis"], labels=False
    )
    _axis_amount(trend.y_axis, top)
    tall = 7.0 if paper.landscape else 9.5  # a portrait page has the height to spare
    s.chart(trend, row=s.row, col=1, height_cm=tall, span=7)
    f_ws, f0, f1 = funnel_ref
    end = s.chart(_funnel_chart(f_ws, f0, f1, w["funnel_chart"]), row=s.row, col=9, height_cm=tall, span=7)
    s.row = end + 1
    s.heights[s.row] = 6
    s.row += 1
    top_row = s.row
    s.heading(w["alerts"])
    alerts = _alerts(m, w)
    for text, colour in alerts:
        s.paragraph(text, cols=7, colour=colour)
    s.row = top_row
    s.heading(w["story"], col=9)
    s.paragraph(w["no_data"] if m.empty else _narrative(m, ctx.lang, folder), col=9, cols=7, rows=len(alerts))
    return s


def _tiles(s: _Sheet, m: Measures) -> None:
    """Eight headline tiles in two rows of four over a grid of 16 columns filling the page's width: the
    figure, its change with an arrow and colour and the previous value, and the target where there is one."""
    w, paper = s.ctx.w, s.ctx.paper
    gap = 1.0
    tile = (paper.printable_width - 4 * column_points(gap) - 6) / 12
    for k in range(4):
        for c in range(3):
            s.widths[4 * k + c + 1] = chars_for_points(tile)
        s.widths[4 * k + 4] = gap
    target = float(m.reps["target"].sum()) if len(m.reps) else 0.0
    row = s.row
    for i, key in enumerate(TILES):
        r, c = row + 5 * (i // 4), 4 * (i % 4) + 1
        now, before = m.kpis[key]
        kind = KPI_FORMATS[key]
        change, colour = _change_text(change_of(now, before, kind), kind, w)
        if before is not None:
            change = f"{change}  {w['previous']} {_text(before, kind)}".strip()
        extra = ""
        if key == "won_amount" and target:
            extra = (
                f"{w['target']} {_text(target, 'amount')} · {w['of_target']} {_text(now / target, 'percent')}"
            )
        elif key == "key_followup_rate":
            extra = f"{w['alert_line']} {m.notes['key_alert']:.0%}"
        value_colour = (
            DOWN if key == "key_followup_rate" and now is not None and now < m.notes["key_alert"] else NAVY
        )
        lines = (
            (w[key], Font(size=9, color=GREY), 16),
            ("—" if now is None else now, Font(size=18, bold=True, color=value_colour), 28),
            (change, Font(size=9, bold=True, color=colour), 14),
            (extra, Font(size=9, color=GREY), 14),
        )
        for j, (value, font, height) in enumerate(lines):
            cell = s._put(r + j, c, value, font, height=height)
            if j == 1:
                cell.number_format = FORMATS[kind]
                cell.alignment = Alignment(horizontal="left", vertical="center")
            s.ws.merge_cells(start_row=r + j, start_column=c, end_row=r + j, end_column=c + 2)
            for cc in range(c, c + 3):
                s.ws.cell(r + j, cc).fill = TILE_FILL
        s.heights[r + 4] = 8
    s.row = row + 10
    s.heights[s.row] = 6
    s.row += 1


def _alerts(m: Measures, w: dict[str, str]) -> list[tuple[str, str]]:
    """The lines a lead acts on: A-level follow-up rate, overdue and churn-risk customers, reps behind target."""
    out: list[tuple[str, str]] = []
    rate, line = m.kpis["key_followup_rate"][0], m.notes["key_alert"]
    if rate is not None:
        low = rate < line
        out.append(
            (
                w["key_low" if low else "key_ok"].format(rate=f"{rate:.1%}", line=f"{line:.0%}"),
                DOWN if low else UP,
            )
        )
    overdue = int(m.overdue["customers"].sum()) if len(m.overdue) else 0
    a = int(m.overdue.loc[m.overdue["level"] == "A", "customers"].sum()) if len(m.overdue) else 0
    out.append((w["overdue_line"].format(n=overdue, a=a), DOWN if a else GREY))
    out.append(
        (
            w["churn_line"].format(n=len(m.churn), days=m.notes.get("churn_days", 90)),
            DOWN if len(m.churn) else GREY,
        )
    )
    with_target = m.reps[m.reps["target"] > 0]
    low_reps = with_target[with_target["attainment"].fillna(0) < 0.8]
    if len(with_target):
        if len(low_reps):
            names = "、".join(
                f"{r} {a:.0%}" for r, a in zip(low_reps["rep"], low_reps["attainment"].fillna(0), strict=True)
            )
            out.append((w["reps_low"].format(names=names), DOWN))
        else:
            out.append((w["reps_ok"], UP))
    if m.notes.get("won_without_amount"):
        out.append((w["no_amount"].format(n=m.notes["won_without_amount"]), DOWN))
    return out


def build_report(
    m: Measures,
    lang: Lang,
    *,
    scope: str,
    generated: dt.datetime,
    folder: Path,
    redact: bool = False,
    paper: Paper | None = None,
    team: str = "",
    title: str | None = None,
    rep_pages: list[Measures] | None = None,
) -> tuple[Workbook, dict[str, int]]:
    """The report workbook and the pages each section prints on."""
    w = T[lang]
    ctx = _Context(
        m, lang, paper or Paper("a4"), team, scope, title or w[f"report_{m.period.kind}"], generated
    )
    wb = Workbook()
    wb.remove(wb.active)
    none = w["none"]
    sheets: dict[str, _Sheet] = {}
    # The summary comes first but draws on the trend and funnel sections' cells: those are written first
    # and the sheets put in reading order at the end.
    trend = _trend(wb, ctx)
    data, f0, f1 = _chart_data(wb, ctx)
    t = trend.ws
    sheets["summary"] = _summary(wb, ctx, folder, (t, trend.first, trend.last), (data, f0, f1))

    s = _Sheet(wb, w["funnel"], ctx)
    f = m.funnel
    chart = _funnel_chart(data, f0, f1, w["funnel_chart"]) if f["count"].sum() else None
    s.beside(
        [w["stage"], w["count"], w["amount"], w["reached"], w["conversion"]],
        [
            list(x)
            for x in zip(
                _labels("stage", f["stage"], lang, none),
                f["count"],
                f["amount"],
                f["reached"],
                f["conversion"],
                strict=True,
            )
        ],
        [None, "integer", "amount", "integer", "percent"],
        chart,
        height_cm=5.0,
    )
    s.heading(w["pipeline"])
    p = m.pipeline
    p_rows = [list(x) for x in p.itertuples(index=False)]
    top = s.row
    chart = None
    if len(p):
        chart = _bars(
            w["pipeline_chart"],
            s.ws,
            (top + 1, 1, top + len(p)),
            [(top + 1, 4, top + len(p))],
            y_title=w["amount_axis"],
            labels=False,
        )
        _axis_amount(chart.y_axis, float(p["weighted"].max()))
    if p_rows:
        s.beside(
            [w["month"], w["deals"], w["amount"], w["weighted"]],
            p_rows,
            [None, "integer", "amount", "amount"],
            chart,
            height_cm=5.5,
            total=[w["total"], int(p["deals"].sum()), float(p["amount"].sum()), float(p["weighted"].sum())],
        )
    else:
        s.paragraph(w["no_data"])
    sheets["funnel"] = s

    s = _Sheet(wb, w["reps"], ctx)
    r = m.reps
    if len(r):
        top = s.row
        chart = _bars(
            w["reps_chart"],
            s.ws,
            (top + 1, 1, top + len(r)),
            [(top + 1, 5, top + len(r))],
            y_title=w["amount_axis"],
            labels=False,
        )
        line = LineChart()
        line.add_data(Reference(s.ws, min_col=6, min_row=top, max_row=top + len(r)), titles_from_data=True)
        _colour(line.series[0], PALETTE[3])
        line.series[0].smooth = False  # a target is a level, not a curve
        chart += line
        chart.legend = chart.legend or _legend()
        _axis_amount(chart.y_axis, float(max(r["won_amount"].max(), r["target"].max())))
        s.beside(
            [
                w["rep"],
                w["followups"],
                w["new_customers"],
                w["wins"],
                w["won_amount"],
                w["target"],
                w["attainment"],
            ],
            [list(x) for x in r.itertuples(index=False)],
            [None, "integer", "integer", "integer", "amount", "amount", "percent"],
            chart,
            total=[
                w["total"],
                int(r["followups"].sum()),
                int(r["new_customers"].sum()),
                int(r["wins"].sum()),
                float(r["won_amount"].sum()),
                float(r["target"].sum()),
                float(r["won_amount"].sum() / r["target"].sum()) if r["target"].sum() else None,
            ],
        )
    else:
        s.paragraph(w["no_data"])
    sheets["reps"] = s

    s = _Sheet(wb, w["sources"], ctx)
    src = m.sources
    if len(src):
        top = s.row
        chart = _bars(
            w["sources_chart"],
            s.ws,
            (top + 1, 1, top + len(src)),
            [(top + 1, 6, top + len(src))],
            y_title=w["amount_axis"],
            labels=False,
        )
        _axis_amount(chart.y_axis, float(src["won_amount"].max()))
        s.beside(
            [w["source"], w["customers_n"], w["new_n"], w["won_customers"], w["win_rate"], w["won_amount"]],
            [
                list(x)
                for x in zip(
                    _labels("source", src["key"], lang, none),
                    src["customers"],
                    src["new_customers"],
                    src["won_customers"],
                    src["win_rate"],
                    src["won_amount"],
                    strict=True,
                )
            ],
            [None, "integer", "integer", "integer", "percent", "amount"],
            chart,
        )
    else:
        s.paragraph(w["no_data"])
    sheets["sources"] = s

    s = _Sheet(wb, w["customers"], ctx)
    top, bottom = s.row, s.row
    shown = {
        key: _ranked(getattr(m, key)) if key == "industry" else getattr(m, key)
        for key in ("status", "level", "industry")
    }
    for k, key in enumerate(("status", "level", "industry")):
        d = shown[key]
        col = 4 * k + 1
        _, b = s.table(
            [w[key], w["count"], w["share"]],
            [list(x) for x in zip(_labels(key, d["key"], lang, none), d["count"], d["share"], strict=True)],
            [None, "integer", "percent"],
            row=top,
            col=col,
        )
        s.widths.setdefault(col + 3, 2)
        bottom = max(bottom, b)
    row = bottom + 2
    for k, key in enumerate(("status", "level", "industry")):
        d = shown[key]
        if not d["count"].sum():
            continue
        col = 4 * k + 1
        n = min(len(d), 8)  # the largest eight: more bars than that do not fit a third of a page
        chart = (
            PieChart()
            if key == "status"
            else _bars(
                w[key] if n == len(d) else w["top_n"].format(what=w[key], n=n),
                s.ws,
                (top + 1, col, top + n),
                [(top + 1, col + 1, top + n)],
                horizontal=True,
                fmt="#,##0",
            )
        )
        if key != "status":
            chart.y_axis.delete = True  # each bar carries its number
            chart.y_axis.majorGridlines = None
        if key == "status":
            chart.title = _title(w[key])
            chart.add_data(
                Reference(s.ws, min_col=col + 1, min_row=top, max_row=top + len(d)), titles_from_data=True
            )
            chart.set_categories(Reference(s.ws, min_col=col, min_row=top + 1, max_row=top + len(d)))
            for i in range(len(d)):
                point = DataPoint(idx=i)
                point.graphicalProperties.solidFill = PALETTE[i % len(PALETTE)]
                chart.series[0].dPt.append(point)
            chart.dataLabels = DataLabelList(
                showPercent=True, showVal=False, showCatName=False, showSerName=False, showLegendKey=False
            )
            _style(chart)
            chart.legend.position = "r"
        end = s.chart(chart, row=row, col=col, height_cm=5.0, span=3)
    s.keeps.append((top, end if d["count"].sum() else bottom))
    s.row = bottom + 2
    sheets["customers"] = s

    s = _Sheet(wb, w["followup"], ctx)
    s.heading(w["overdue_by"])
    o = m.overdue
    levels = [i.key for i in load_schema().lists["level"].items]
    owners = sorted(set(o["owner"]))
    grid = [
        [
            owner or none,
            *(int(o[(o["owner"] == owner) & (o["level"] == lv)]["customers"].sum()) for lv in levels),
            int(o[o["owner"] == owner]["customers"].sum()),
        ]
        for owner in owners
    ]
    level_names = _labels("level", pd.Series(levels), lang, none)
    totals = [
        w["total"],
        *(int(o[o["level"] == lv]["customers"].sum()) for lv in levels),
        int(o["customers"].sum()),
    ]
    top = s.row
    _, b1 = s.table(
        [w["owner"], *level_names, w["total"]],
        grid,
        [None, *(["integer"] * (len(levels) + 1))],
        total=totals if grid else None,
    )
    col = len(levels) + 4
    s.widths.setdefault(col - 1, 2)
    s.row = top
    ch = m.churn
    n = len(ch)
    s.heading(w["churn"] + (w["top"].format(n=n, k=LIST_LIMIT) if n > LIST_LIMIT else ""), col=col)
    s.table(
        [w["customer_id"], w["name"], w["level"], w["owner"], w["last"], w["days"]],
        [list(x) for x in ch.head(LIST_LIMIT).itertuples(index=False)],
        [None, None, None, None, "date", "integer"],
        col=col,
    )
    s.row = max(s.row, b1 + 2)
    sheets["followup"] = s

    s = _Sheet(wb, w["lost"], ctx)
    lc, ld = m.lost_customers, m.lost_deals.sort_values("expected_amount", ascending=False)
    s.heading(w["lost_customers"] + (w["top"].format(n=len(lc), k=12) if len(lc) > 12 else ""))
    s.table(
        [w["customer_id"], w["name"], w["owner"], w["reason"]],
        [list(x) for x in lc.head(12).itertuples(index=False)],
        [None, None, None, None],
    )
    s.heading(w["lost_deals"] + (w["top"].format(n=len(ld), k=12) if len(ld) > 12 else ""))
    s.table(
        [w["opportunity_id"], w["customer_id"], w["name"], w["owner"], w["amount"], w["reason"]],
        [list(x) for x in ld.head(12).itertuples(index=False)],
        [None, None, None, None, "amount", None],
    )
    if lc.empty and ld.empty:
        s.paragraph(w["no_data"])
    sheets["lost"] = s
    sheets["trend"] = trend
    for rm in rep_pages or []:
        sheets[f"rep:{rm.notes['owner']}"] = _rep_page(wb, ctx, rm)

    pages = {}
    for key, sheet in sheets.items():
        pages[sheet.ws.title] = sheet.finish(one_page=key == "summary" or key.startswith("rep:"))
    order = [sheets[k].ws for k in sheets]
    wb._sheets = [*order, *(ws for ws in wb.worksheets if ws not in order)]
    wb.active = 0
    if redact:
        _redact(wb)
    wb.properties.creator = "crmbook"
    wb.properties.title = f"{ctx.title} {m.period.label()}"
    return wb, pages


def _legend() -> Any:
    from openpyxl.chart.legend import Legend

    legend = Legend()
    legend.position = "b"
    return legend


class _Trend(_Sheet):
    first: int
    last: int


def _trend(wb: Workbook, ctx: _Context) -> _Trend:
    """Twelve months and every measure of the period: the cells the summary's trend chart reads."""
    w, m = ctx.w, ctx.m
    s = _Trend(wb, w["trend"], ctx)
    t = m.trend
    top = s.row
    s.first, s.last = top + 1, top + len(t)
    chart = _bars(
        w["trend_counts"],
        s.ws,
        (s.first, 1, s.last),
        [(s.first, 2, s.last), (s.first, 4, s.last)],
        y_title=w["count_axis"],
        labels=False,
    )
    line = LineChart()  # follow-ups run ten times the others: their own axis, on the right
    line.add_data(Reference(s.ws, min_col=3, min_row=top, max_row=s.last), titles_from_data=True)
    _colour(line.series[0], PALETTE[3])
    line.series[0].smooth = False  # straight from month to month: no invented values in between
    line.y_axis.axId = 200
    line.y_axis.title = w["followups"]
    line.y_axis.crosses = "max"
    line.y_axis.delete = False
    line.y_axis.majorGridlines = None
    line.y_axis.scaling.min = 0  # from zero, like the bars: a small wobble is not a swing
    chart += line
    chart.legend = _legend()
    s.beside(
        [w["trend_month"], w["new_customers"], w["followups"], w["wins"], w["won_amount"]],
        [list(x) for x in t.itertuples(index=False)],
        [None, "integer", "integer", "integer", "amount"],
        chart,
        height_cm=7.0,
    )
    s.heading(w["kpis_all"])
    rows = []
    for key in m.kpis:
        now, before = m.kpis[key]
        rows.append(
            [
                w[key],
                _text(now, KPI_FORMATS[key]),
                _text(before, KPI_FORMATS[key]),
                _change_text(change_of(now, before, KPI_FORMATS[key]), KPI_FORMATS[key], w)[0],
            ]
        )
    s.table([w["measure"], w["this"], w["previous"], w["change"]], rows, [None, "text", "text", "text"])
    return s


def _rep_page(wb: Workbook, ctx: _Context, rm: Measures) -> _Sheet:
    """One rep on one page: their headline tiles (against their target) and their won amount over 12 months."""
    w = ctx.w
    rep_ctx = _Context(rm, ctx.lang, ctx.paper, ctx.team, rm.notes["owner"], ctx.title, ctx.generated)
    s = _Sheet(wb, f"{w['per_rep']} · {rm.notes['owner']}", rep_ctx)
    _tiles(s, rm)
    t = rm.trend
    top = s.row
    t0, t1 = s.table(
        [w["trend_month"], w["wins"], w["won_amount"]],
        [[x.month, x.wins, x.won_amount] for x in t.itertuples(index=False)],
        [None, "integer", "amount"],
    )
    chart = _bars(
        w["trend_chart"], s.ws, (t0 + 1, 1, t1), [(t0 + 1, 3, t1)], labels=False, y_title=w["amount_axis"]
    )
    _axis_amount(chart.y_axis, float(t["won_amount"].max() or 0))
    end = s.chart(chart, row=top, col=5, height_cm=(t1 - top + 1) * ROW_PT / POINTS_PER_CM, span=11)
    s.keeps.append((top, max(t1, end)))
    s.row = max(t1, end) + 2
    return s


def _redact(wb: Workbook) -> None:
    """Mask phone, ID and card numbers and e-mails wherever the report shows text (see :mod:`crmbook.redact`)."""
    from crmbook.redact import redact_text

    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and not cell.value.startswith("="):
                    cell.value = redact_text(cell.value)
                if cell.comment is not None:
                    cell.comment = Comment(redact_text(cell.comment.text), "crmbook")


def _owners(book: Book, m: Measures) -> list[str]:
    """The reps who get a page: those on the Settings sheet, then anyone else with records in the report."""
    known = [r.name for r in book.settings.reps]
    return [*[n for n in known if n in set(m.reps["rep"])], *[n for n in m.reps["rep"] if n not in known]]


def write_report(
    book_path: str | os.PathLike[str],
    *,
    period: Period,
    out_path: str | os.PathLike[str] | None = None,
    owner: str | None = None,
    team: str | None = None,
    lang: Lang | None = None,
    pdf: bool = False,
    redact: bool = False,
    per_rep: bool = False,
    overwrite: bool = True,
    generated_at: dt.datetime | None = None,
) -> ReportResult:
    """Write the report workbook for ``period`` (and its PDF); the canonical workbook is only read."""
    from crmbook.safe_save import write_new_file

    book, _ = read_book(book_path)
    chosen: Lang = lang or ("en" if str(book.settings.get("report_language")) == "en" else book.lang)
    w = T[chosen]
    from crmbook.typed import typed_tables

    typed = typed_tables(book)
    measures = compute_measures(book, period, owner=owner, team=team, typed=typed)
    scope = owner or team or w["all"]
    rep_pages = []
    if per_rep and not owner:
        for name in _owners(book, measures):
            rm = compute_measures(book, period, owner=name, typed=typed)
            rm.notes["owner"] = name
            rep_pages.append(rm)
    title = f"{w['scorecard']} · {owner}" if owner else None
    target = Path(out_path) if out_path else default_report_path(book_path, period)
    wb, pages = build_report(
        measures,
        chosen,
        scope=scope,
        generated=generated_at or dt.datetime.now(),
        folder=Path(book_path).parent,
        redact=redact,
        paper=parse_paper(book.settings.get("report_paper")),
        team=str(book.settings.get("team_name") or ""),
        title=title,
        rep_pages=rep_pages,
    )
    buffer = io.BytesIO()
    wb.save(buffer)
    write_new_file(target, buffer.getvalue(), overwrite=overwrite)
    pdf_path = None
    if pdf:
        from crmbook.libreoffice import convert

        pdf_path = convert(target, "pdf", target.parent)  # LibreOffice bookmarks each sheet by its name
    return ReportResult(target, pdf_path, measures, pages)
