"""``crmbook report``: the monthly report workbook (and PDF) for the sales meeting.

Reads the canonical workbook (never writes it), computes :mod:`crmbook.measures`
for the period and writes a separate workbook with openpyxl: one sheet per
topic with a title, the period and generation time, formatted tables, native
charts and print setup (landscape, one page wide). The Summary carries a
narrative rendered from a Jinja2 template the team can edit.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from crmbook.measures import Measures, Period, compute_measures
from crmbook.reader import read_book
from crmbook.schema import Lang, load_schema

__all__ = ["ReportResult", "default_report_path", "write_report"]

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
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")


@dataclass
class ReportResult:
    out_path: Path
    pdf_path: Path | None
    measures: Measures


def default_report_path(book_path: str | os.PathLike[str], period: Period) -> Path:
    p = Path(book_path)
    tag = period.label() if period.is_month else f"{period.start:%Y%m%d}_{period.end:%Y%m%d}"
    return p.with_name(f"{p.stem}-report-{tag}.xlsx")


def _money(value: float, lang: Lang) -> str:
    if lang == "zh" and abs(value) >= 10_000:
        return f"¥{value / 10_000:,.1f}万"
    return f"¥{value:,.0f}"


def _narrative(m: Measures, lang: Lang, folder: Path) -> str:
    name = f"report_narrative.{lang}.j2"
    custom = folder / name  # a team's own wording, kept next to its workbook
    source = custom.read_text("utf-8") if custom.exists() else _packaged(name)
    now, before = m.kpis["won_amount"]
    churn_days = len(m.churn)
    overdue_a = int(m.overdue.loc[m.overdue["level"] == "A", "customers"].sum()) if not m.overdue.empty else 0
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
    return (
        env.from_string(source)
        .render(
            period=m.period.label(),
            won_amount_text=_money(now, lang),
            won_amount_change=(now - before) / before if before else None,
            wins=m.kpis["wins"][0],
            new_customers=m.kpis["new_customers"][0],
            followups=m.kpis["followups"][0],
            key_rate=m.kpis["key_followup_rate"][0],
            key_alert=m.notes["key_alert"],
            overdue_a=overdue_a,
            churn=churn_days,
        )
        .strip()
    )


def _packaged(name: str) -> str:
    from importlib import resources

    return resources.files("workbook_templates").joinpath(name).read_text("utf-8")


class _Sheet:
    """Writes one report sheet top to bottom."""

    def __init__(
        self, wb: Workbook, title: str, m: Measures, lang: Lang, scope: str, generated: dt.datetime
    ) -> None:
        self.ws: Worksheet = wb.create_sheet(title)
        self.lang = lang
        self.ws["A1"] = title
        self.ws["A1"].font = Font(size=16, bold=True, color="1F4E78")
        w = T[lang]
        self.ws["A2"] = (
            f"{w['period']}: {m.period.label()}    {w['scope']}: {scope}    {w['generated']}: {generated:%Y-%m-%d %H:%M}"
        )
        self.ws["A2"].font = Font(size=9, color="7F7F7F")
        self.row = 4
        self.widths: dict[int, float] = {}
        self.ws.page_setup.orientation = "landscape"
        self.ws.page_setup.fitToWidth = 1
        self.ws.page_setup.fitToHeight = 0
        self.ws.sheet_properties.pageSetUpPr.fitToPage = True
        self.ws.print_options.horizontalCentered = True
        self.first_table: int | None = None

    def note(self, text: str, *, bold: bool = False) -> None:
        cell = self.ws.cell(self.row, 1, text)
        cell.font = Font(bold=bold)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if len(text) > 40:  # a paragraph: spread it over the table's width
            self.ws.merge_cells(start_row=self.row, start_column=1, end_row=self.row, end_column=6)
            self.ws.row_dimensions[self.row].height = 15 * (1 + len(text) // 60)
        self.row += 2 if not bold else 1

    def table(self, headers: list[str], rows: list[list[Any]], formats: list[str | None]) -> tuple[int, int]:
        """Write a header and rows; returns (first data row, last data row)."""
        if self.first_table is None:
            self.first_table = self.row
            self.ws.freeze_panes = self.ws.cell(self.row + 1, 1)
        for c, h in enumerate(headers, start=1):
            cell = self.ws.cell(self.row, c, h)
            cell.font, cell.fill = Font(bold=True, color="FFFFFF"), HEADER_FILL
            self.widths[c] = max(self.widths.get(c, 8), len(str(h)) * 2 + 2)
        first = self.row + 1
        for r, values in enumerate(rows, start=first):
            for c, (v, fmt) in enumerate(zip(values, formats, strict=True), start=1):
                if isinstance(v, float) and pd.isna(v):
                    v = None
                if isinstance(v, pd.Timestamp):
                    v = v.to_pydatetime()
                cell = self.ws.cell(r, c, v)
                if fmt:
                    cell.number_format = FORMATS[fmt]
                self.widths[c] = max(self.widths.get(c, 8), min(40, len(str(v or "")) * 2 + 2))
        last = first + len(rows) - 1
        self.row = last + 3
        return first, last

    def chart(self, chart: Any, anchor_col: int = 9) -> None:
        chart.width, chart.height = 16, 7.5
        self.ws.add_chart(chart, f"{get_column_letter(anchor_col)}4")

    def finish(self) -> None:
        for c, width in self.widths.items():
            self.ws.column_dimensions[get_column_letter(c)].width = width
        self.ws.print_area = f"A1:{get_column_letter(max(self.widths or {1: 0}) + 9)}{max(self.row, 30)}"


def _labels(list_key: str, keys: pd.Series, lang: Lang, none: str) -> list[str]:
    items = {i.key: i.label(lang) for i in load_schema().lists[list_key].items}
    return [items.get(k, k) or none for k in keys]


def _straight(chart: LineChart) -> None:
    """Draw lines point to point; openpyxl smooths them by default, which invents values between months."""
    for series in chart.series:
        series.smooth = False


def _bar(
    title: str,
    ws: Worksheet,
    cats: tuple[int, int, int],
    data: tuple[int, int, int],
    *,
    horizontal: bool = False,
) -> BarChart:
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.title = title
    chart.add_data(
        Reference(ws, min_col=data[1], min_row=data[0] - 1, max_row=data[2]), titles_from_data=True
    )
    chart.set_categories(Reference(ws, min_col=cats[1], min_row=cats[0], max_row=cats[2]))
    if horizontal:
        chart.y_axis.scaling.orientation = "minMax"
        chart.x_axis.scaling.orientation = "maxMin"  # first stage on top: a funnel
    return chart


def build_report(
    m: Measures, lang: Lang, *, scope: str, generated: dt.datetime, folder: Path, redact: bool = False
) -> Workbook:
    w = T[lang]
    wb = Workbook()
    wb.remove(wb.active)
    none = w["none"]

    def sheet(key: str) -> _Sheet:
        return _Sheet(wb, w[key], m, lang, scope, generated)

    s = sheet("summary")
    rows = []
    for key in m.kpis:
        now, before = m.kpis[key]
        change = (now - before) / before if (now is not None and before) else None
        rows.append([w[key], now, before, change])
    first, _ = s.table(
        [w["measure"], w["this"], w["previous"], w["change"]], rows, [None, None, None, "percent"]
    )
    for i, key in enumerate(m.kpis):
        for col in (2, 3):
            s.ws.cell(first + i, col).number_format = FORMATS[KPI_FORMATS[key]]
    rate = m.kpis["key_followup_rate"][0]
    if rate is not None and rate < m.notes["key_alert"]:
        i = list(m.kpis).index("key_followup_rate")
        s.ws.cell(first + i, 5, f"{w['alert']} {m.notes['key_alert']:.0%}").font = Font(
            color="C00000", bold=True
        )
    s.note(w["no_data"] if m.empty else _narrative(m, lang, folder))
    s.ws.column_dimensions["A"].width = 36
    s.finish()

    s = sheet("funnel")
    f = m.funnel
    a, b = s.table(
        [w["stage"], w["count"], w["amount"], w["reached"], w["conversion"]],
        [
            [lab, c, amt, r, conv]
            for lab, c, amt, r, conv in zip(
                _labels("stage", f["stage"], lang, none),
                f["count"],
                f["amount"],
                f["reached"],
                f["conversion"],
                strict=True,
            )
        ],
        [None, "integer", "amount", "integer", "percent"],
    )
    if f["count"].sum():
        s.chart(_bar(w["funnel"], s.ws, (a, 1, b - 1), (a, 4, b - 1), horizontal=True))
    else:
        s.note(w["no_data"])
    s.finish()

    s = sheet("sources")
    src = m.sources
    a, b = s.table(
        [w["source"], w["customers_n"], w["new_n"], w["won_customers"], w["win_rate"], w["won_amount"]],
        [
            list(r)
            for r in zip(
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
    )
    if len(src):
        s.chart(_bar(w["sources"], s.ws, (a, 1, b), (a, 2, b)))
    else:
        s.note(w["no_data"])
    s.finish()

    s = sheet("reps")
    r = m.reps
    a, b = s.table(
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
    )
    if len(r):
        bars = _bar(w["reps"], s.ws, (a, 1, b), (a, 5, b))
        line = LineChart()
        line.add_data(Reference(s.ws, min_col=6, min_row=a - 1, max_row=b), titles_from_data=True)
        _straight(line)  # a target is a level, not a curve
        bars += line
        s.chart(bars)
    s.finish()

    s = sheet("customers")
    anchor = 6
    for key in ("status", "level", "industry"):
        d = getattr(m, key)
        a, b = s.table(
            [w[key], w["count"], w["share"]],
            [
                list(x)
                for x in zip(
                    _labels(key if key != "status" else "status", d["key"], lang, none),
                    d["count"],
                    d["share"],
                    strict=True,
                )
            ],
            [None, "integer", "percent"],
        )
        if d["count"].sum():
            chart: Any = PieChart() if key == "status" else BarChart()
            chart.title = w[key]
            chart.add_data(Reference(s.ws, min_col=2, min_row=a - 1, max_row=b), titles_from_data=True)
            chart.set_categories(Reference(s.ws, min_col=1, min_row=a, max_row=b))
            chart.width, chart.height = 14, 7
            s.ws.add_chart(chart, f"F{anchor}")
            anchor += 16
    s.finish()

    s = sheet("pipeline")
    p = m.pipeline
    a, b = s.table(
        [w["month"], w["deals"], w["amount"], w["weighted"]],
        [list(x) for x in p.itertuples(index=False)],
        [None, "integer", "amount", "amount"],
    )
    if len(p):
        s.chart(_bar(w["pipeline"], s.ws, (a, 1, b), (a, 4, b)))
    else:
        s.note(w["no_data"])
    s.finish()

    s = sheet("followup")
    s.note(w["overdue"], bold=True)
    o = m.overdue
    s.table(
        [w["level"], w["owner"], w["customers_n"]],
        [list(x) for x in o.itertuples(index=False)],
        [None, None, "integer"],
    )
    s.note(w["churn"], bold=True)
    ch = m.churn.head(200)
    s.table(
        [w["customer_id"], w["name"], w["level"], w["owner"], w["last"], w["days"]],
        [list(x) for x in ch.itertuples(index=False)],
        [None, None, None, None, "date", "integer"],
    )
    s.finish()

    s = sheet("lost")
    s.note(w["lost_customers"], bold=True)
    s.table(
        [w["customer_id"], w["name"], w["owner"], w["reason"]],
        [list(x) for x in m.lost_customers.itertuples(index=False)],
        [None, None, None, None],
    )
    s.note(w["lost_deals"], bold=True)
    s.table(
        [w["opportunity_id"], w["customer_id"], w["name"], w["owner"], w["amount"], w["reason"]],
        [list(x) for x in m.lost_deals.itertuples(index=False)],
        [None, None, None, None, "amount", None],
    )
    if m.lost_customers.empty and m.lost_deals.empty:
        s.note(w["no_data"])
    s.finish()

    s = sheet("trend")
    t = m.trend
    a, b = s.table(
        [w["trend_month"], w["new_customers"], w["followups"], w["wins"], w["won_amount"]],
        [list(x) for x in t.itertuples(index=False)],
        [None, "integer", "integer", "integer", "amount"],
    )
    line = LineChart()
    line.title = w["trend"]
    line.add_data(Reference(s.ws, min_col=2, max_col=4, min_row=a - 1, max_row=b), titles_from_data=True)
    line.set_categories(Reference(s.ws, min_col=1, min_row=a, max_row=b))
    _straight(line)
    s.chart(line, anchor_col=7)
    s.finish()
    if redact:
        _redact(wb)
    wb.properties.creator = "crmbook"
    return wb


def _redact(wb: Workbook) -> None:
    """Mask phone, ID and card numbers and e-mails wherever the report shows text (see :mod:`crmbook.redact`)."""
    from crmbook.redact import redact_text

    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and not cell.value.startswith("="):
                    cell.value = redact_text(cell.value)


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
    overwrite: bool = True,
    generated_at: dt.datetime | None = None,
) -> ReportResult:
    """Write the report workbook for ``period`` (and its PDF); the canonical workbook is only read."""
    from crmbook.safe_save import write_new_file

    book, _ = read_book(book_path)
    chosen: Lang = lang or ("en" if str(book.settings.get("report_language")) == "en" else book.lang)
    measures = compute_measures(book, period, owner=owner, team=team)
    scope = owner or team or T[chosen]["all"]
    target = Path(out_path) if out_path else default_report_path(book_path, period)
    wb = build_report(
        measures,
        chosen,
        scope=scope,
        generated=generated_at or dt.datetime.now(),
        folder=Path(book_path).parent,
        redact=redact,
    )
    buffer = io.BytesIO()
    wb.save(buffer)
    write_new_file(target, buffer.getvalue(), overwrite=overwrite)
    pdf_path = None
    if pdf:
        from crmbook.libreoffice import convert

        pdf_path = convert(target, "pdf", target.parent)
    return ReportResult(target, pdf_path, measures)
