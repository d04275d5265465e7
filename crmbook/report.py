"""``crmbook report``: the sales report workbook (and PDF), designed to be printed and handed on.

Reads the canonical workbook (never writes it), computes :mod:`crmbook.measures`
for a month, week, day or any range and writes a separate workbook with
openpyxl: a one-page summary (headline tiles, the 12-month trend and the funnel,
alerts and a narrative from a Jinja2 template the team can edit), then one
section per topic with formatted tables and native charts. Every sheet is laid
out on the page it prints on (:mod:`crmbook.report_sheet`, with the page
arithmetic of :mod:`crmbook.report_pages`): paper and margins, a header and
footer, a scale that fits the width and page breaks that never cut a chart or a
table. Charts come from :mod:`crmbook.report_charts`, words from
:mod:`crmbook.report_words`. ``--pdf`` adds a PDF with a bookmark per section.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import LineChart, PieChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.chart.marker import DataPoint, Marker
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from crmbook.book import Book
from crmbook.measures import Measures, Period, compute_measures
from crmbook.ooxml.charts import PALETTE, chart_title
from crmbook.reader import read_book
from crmbook.report_charts import (
    amount_axis,
    bar_chart,
    colour_series,
    funnel_chart,
    legend_below,
    style_chart,
    whole_steps,
)
from crmbook.report_pages import (
    POINTS_PER_CM,
    Paper,
    chars_for_points,
    column_points,
    parse_paper,
)
from crmbook.report_sheet import (
    DOWN,
    FORMATS,
    GREY,
    LONG_TABLE,
    NAVY,
    ROW_PT,
    TILE_FILL,
    UP,
    Context,
    Sheet,
    figure_text,
    sheet_name,
)
from crmbook.report_words import T
from crmbook.schema import Lang, load_schema
from crmbook.wording import counted

__all__ = ["SECTIONS", "ReportResult", "T", "build_report", "default_report_path", "write_report"]

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
LIST_LIMIT = 20  # long lists print their first rows; the count says how many there are


@dataclass
class ReportResult:
    out_path: Path
    pdf_path: Path | None
    measures: Measures
    pages: dict[str, int] = field(default_factory=dict)  # section title -> pages it prints on


def default_report_path(book_path: str | os.PathLike[str], period: Period, scope: str | None = None) -> Path:
    """Where the report of ``book_path`` goes without -o: beside it, named after the period, and after
    the rep or team (``scope``) of a scorecard or a team's report (crm-report-2026-11-张伟.xlsx), so
    one does not replace another."""
    from crmbook.team_split import rep_file_name

    p = Path(book_path)
    return p.with_name(
        f"{p.stem}-report-{period.tag()}" + (rep_file_name(f"-{scope}", ".xlsx") if scope else ".xlsx")
    )


def _money(value: float, lang: Lang) -> str:
    if lang == "zh" and abs(value) >= 10_000:
        return f"¥{value / 10_000:,.1f}万"
    return f"¥{value:,.0f}"


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


def _ranked(d: pd.DataFrame) -> pd.DataFrame:
    """A distribution largest first, the empty value last."""
    return pd.concat(
        [d[d["key"] != ""].sort_values("count", ascending=False, kind="stable"), d[d["key"] == ""]]
    )


def _labels(list_key: str, keys: pd.Series, lang: Lang, none: str) -> list[str]:
    items = {i.key: i.label(lang) for i in load_schema().lists[list_key].items}
    return [items.get(k, k) or none for k in keys]


def _chart_data(wb: Workbook, ctx: Context) -> tuple[Worksheet, int, int]:
    """A hidden sheet with what only charts need: the funnel's stage labels (with the conversion from the
    stage above) and its offsets. Returns (sheet, first row, last row)."""
    w, m = ctx.w, ctx.m
    ws = wb.create_sheet(sheet_name(w["chart_data"], wb))
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
    ctx: Context,
    folder: Path,
    trend_ref: tuple[Worksheet, int, int],
    funnel_ref: tuple[Worksheet, int, int],
) -> Sheet:
    """One page: eight headline tiles, the 12-month trend and the funnel, the alerts and the narrative."""
    w, m, paper = ctx.w, ctx.m, ctx.paper
    s = Sheet(wb, w["summary"], ctx)
    _tiles(s, m)
    trend_ws, t0, t1 = trend_ref
    top = float(m.trend["won_amount"].max() or 0)
    trend = bar_chart(
        w["trend_chart"], trend_ws, (t0, 1, t1), [(t0, 5, t1)], y_title=w["amount_axis"], labels=False
    )
    amount_axis(trend.y_axis, top)
    tall = 7.0 if paper.landscape else 9.5  # a portrait page has the height to spare
    s.chart(trend, row=s.row, col=1, height_cm=tall, span=7)
    f_ws, f0, f1 = funnel_ref
    end = s.chart(funnel_chart(f_ws, f0, f1, w["funnel_chart"]), row=s.row, col=9, height_cm=tall, span=7)
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


def _tiles(s: Sheet, m: Measures) -> None:
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
            change = f"{change}  {w['previous']} {figure_text(before, kind)}".strip()
        extra = ""
        if key == "won_amount" and target:
            extra = f"{w['target']} {figure_text(target, 'amount')} · {w['of_target']} {figure_text(now / target, 'percent')}"
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
    out.append(
        (
            w["overdue_line"].format(n=overdue, a=a, customers=counted(overdue, "customer")),
            DOWN if a else GREY,
        )
    )
    out.append(
        (
            w["churn_line"].format(
                n=len(m.churn), days=m.notes["churn_days"], customers=counted(len(m.churn), "customer")
            ),
            DOWN if len(m.churn) else GREY,
        )
    )
    with_target = m.reps[m.reps["target"] > 0]
    low_reps = with_target[with_target["attainment"].fillna(0) < 0.8]
    if len(with_target):
        if len(low_reps):
            names = w["list_separator"].join(
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
    ctx = Context(
        m, lang, paper or Paper("a4"), team, scope, title or w[f"report_{m.period.kind}"], generated
    )
    wb = Workbook()
    wb.remove(wb.active)
    none = w["none"]
    sheets: dict[str, Sheet] = {}
    # The summary comes first but draws on the trend and funnel sections' cells: those are written first
    # and the sheets put in reading order at the end.
    trend = _trend(wb, ctx)
    data, f0, f1 = _chart_data(wb, ctx)
    t = trend.ws
    sheets["summary"] = _summary(wb, ctx, folder, (t, trend.first, trend.last), (data, f0, f1))

    s = Sheet(wb, w["funnel"], ctx)
    f = m.funnel
    chart = funnel_chart(data, f0, f1, w["funnel_chart"]) if f["count"].sum() else None
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
        chart = bar_chart(
            w["pipeline_chart"],
            s.ws,
            (top + 1, 1, top + len(p)),
            [(top + 1, 4, top + len(p))],
            y_title=w["amount_axis"],
            labels=False,
        )
        amount_axis(chart.y_axis, float(p["weighted"].max()))
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

    s = Sheet(wb, w["reps"], ctx)
    r = m.reps
    if len(r):
        top = s.row
        chart = bar_chart(
            w["reps_chart"],
            s.ws,
            (top + 1, 1, top + len(r)),
            [(top + 1, 5, top + len(r))],
            y_title=w["amount_axis"],
            labels=False,
        )
        line = LineChart()
        line.add_data(Reference(s.ws, min_col=6, min_row=top, max_row=top + len(r)), titles_from_data=True)
        colour_series(line.series[0], PALETTE[3])
        line.series[0].smooth = False  # a target is a level, not a curve
        if len(r) == 1:  # one rep (a scorecard): a line of one point draws nothing, a mark does
            line.series[0].marker = Marker(symbol="dash", size=40)
            line.series[0].marker.graphicalProperties = GraphicalProperties(solidFill=PALETTE[3])
            line.series[0].marker.graphicalProperties.line.solidFill = PALETTE[3]
        chart += line
        chart.legend = chart.legend or legend_below()
        amount_axis(chart.y_axis, float(max(r["won_amount"].max(), r["target"].max())))
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

    s = Sheet(wb, w["sources"], ctx)
    src = m.sources
    if len(src):
        top = s.row
        chart = bar_chart(
            w["sources_chart"],
            s.ws,
            (top + 1, 1, top + len(src)),
            [(top + 1, 6, top + len(src))],
            y_title=w["amount_axis"],
            labels=False,
        )
        amount_axis(chart.y_axis, float(src["won_amount"].max()))
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

    s = Sheet(wb, w["customers"], ctx)
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
            else bar_chart(
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
            chart.title = chart_title(w[key])
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
            style_chart(chart)
            chart.legend.position = "r"
        end = s.chart(chart, row=row, col=col, height_cm=5.0, span=3)
    s.keeps.append((top, end if d["count"].sum() else bottom))
    s.row = bottom + 2
    sheets["customers"] = s

    s = Sheet(wb, w["followup"], ctx)
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
    if len(grid) + 1 < LONG_TABLE:  # the churn-risk list beside the overdue table
        col = len(levels) + 4
        s.widths.setdefault(col - 1, 2)
        s.row = top
    else:  # a table this long may run onto another page, its header row atop it: the list goes below,
        col = 1  # or its heading would sit in that repeated row, over nothing
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

    s = Sheet(wb, w["lost"], ctx)
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


class _Trend(Sheet):
    first: int
    last: int


def _trend(wb: Workbook, ctx: Context) -> _Trend:
    """Twelve months and every measure of the period: the cells the summary's trend chart reads."""
    w, m = ctx.w, ctx.m
    s = _Trend(wb, w["trend"], ctx)
    t = m.trend
    top = s.row
    s.first, s.last = top + 1, top + len(t)
    chart = bar_chart(
        w["trend_counts"],
        s.ws,
        (s.first, 1, s.last),
        [(s.first, 2, s.last), (s.first, 4, s.last)],
        y_title=w["count_axis"],
        labels=False,
    )
    line = LineChart()  # follow-ups run ten times the others: their own axis, on the right
    line.add_data(Reference(s.ws, min_col=3, min_row=top, max_row=s.last), titles_from_data=True)
    colour_series(line.series[0], PALETTE[3])
    line.series[0].smooth = False  # straight from month to month: no invented values in between
    line.y_axis.axId = 200
    line.y_axis.title = w["followups"]
    line.y_axis.crosses = "max"
    line.y_axis.delete = False
    line.y_axis.majorGridlines = None
    line.y_axis.scaling.min = 0  # from zero, like the bars: a small wobble is not a swing
    whole_steps(chart.y_axis, float(max(t["new_customers"].max(), t["wins"].max()) or 0))
    whole_steps(line.y_axis, float(t["followups"].max() or 0))
    chart += line
    chart.legend = legend_below()
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
                figure_text(now, KPI_FORMATS[key]),
                figure_text(before, KPI_FORMATS[key]),
                _change_text(change_of(now, before, KPI_FORMATS[key]), KPI_FORMATS[key], w)[0],
            ]
        )
    s.table([w["measure"], w["this"], w["previous"], w["change"]], rows, [None, "text", "text", "text"])
    return s


def _rep_page(wb: Workbook, ctx: Context, rm: Measures) -> Sheet:
    """One rep on one page: their headline tiles (against their target) and their won amount over 12 months."""
    w = ctx.w
    rep_ctx = Context(rm, ctx.lang, ctx.paper, ctx.team, rm.notes["owner"], ctx.title, ctx.generated)
    s = Sheet(wb, f"{w['per_rep']} · {rm.notes['owner']}", rep_ctx)
    _tiles(s, rm)
    t = rm.trend
    top = s.row
    t0, t1 = s.table(
        [w["trend_month"], w["wins"], w["won_amount"]],
        [[x.month, x.wins, x.won_amount] for x in t.itertuples(index=False)],
        [None, "integer", "amount"],
    )
    chart = bar_chart(
        w["trend_chart"], s.ws, (t0 + 1, 1, t1), [(t0 + 1, 3, t1)], labels=False, y_title=w["amount_axis"]
    )
    amount_axis(chart.y_axis, float(t["won_amount"].max() or 0))
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


def _is_report(sheet_names: list[str]) -> bool:
    """A workbook with the report's sections (one of its sheets, English 客户分布, is named Customers)."""
    return sum(T[lang][key] in sheet_names for lang in ("zh", "en") for key in SECTIONS) >= 4


def _check_target(target: Path, book_path: Path) -> None:
    """The report goes to a workbook of its own: never over the workbook it is made from, nor over another
    workbook of customer records (a rep's file), nor under a name that is not a workbook's."""
    from crmbook.errors import InputError
    from crmbook.reader import open_calamine, record_sheet_names

    if target.suffix.lower() != ".xlsx":
        raise InputError(
            f"-o {target}: the report is an Excel workbook, name it .xlsx (--pdf writes its PDF beside it)"
        )
    if not target.exists():
        return
    if book_path.exists() and target.resolve() == book_path.resolve():
        raise InputError(
            f"-o {target} is the workbook the report is made from, which the report would replace; "
            "name another file (or leave -o out)"
        )
    try:
        wb = open_calamine(target, known_xlsx=True)
        try:
            names = list(wb.sheet_names)
        finally:
            wb.close()
    except Exception:  # not a workbook crmbook can read: nothing of the user's to lose by the report
        return
    if record_sheet_names(names) and not _is_report(names):
        raise InputError(
            f"-o {target} holds customer records (sheets {', '.join(record_sheet_names(names))}), which the "
            "report would replace; name another file"
        )


def _require_records(book: Book, structural: list[Any]) -> None:
    """The report counts customers, follow-ups and deals: a workbook without one of those sheets (a report
    crmbook wrote, given by mistake for the workbook it was made from) is refused, saying so."""
    from crmbook.errors import WorkbookFileError

    needed = ("customers", "followups", "opportunities")
    if all(k in book.tables for k in needed):
        return
    if _is_report(book.sheet_names):
        raise WorkbookFileError(
            book.path,
            "is a report crmbook wrote, not a customer workbook; give the workbook it was made from "
            "(crm.xlsx for crm-report-2026-11.xlsx)",
        )
    missing = [i for i in structural if i.code in ("missing-sheet", "missing-header")]
    raise WorkbookFileError(
        book.path, "; ".join(i.message("en") for i in missing) + " Run crmbook check for details."
    )


def _rep_of_file(book: Book) -> str | None:
    """The rep whose file this is, when ``crmbook split`` made it (its hidden sheet names the rep) and the
    rep is still on its Settings sheet or owns a record in it; None for a canonical workbook."""
    from crmbook.reader import open_calamine
    from crmbook.team_state import SPLIT_SHEET, id_text

    if SPLIT_SHEET not in book.sheet_names:
        return None
    wb = open_calamine(book.path, known_xlsx=True)
    try:
        grid = wb.get_sheet_by_name(SPLIT_SHEET).to_python()
    finally:
        wb.close()
    meta = {str(r[0]): r[1] for r in grid if len(r) >= 2 and r[0] not in (None, "")}
    rep = id_text(meta.get("rep"))
    customers = book.tables.get("customers")
    owners = {r.name for r in book.settings.reps}
    if customers is not None and "owner" in customers.data:
        owners |= {str(v).strip() for v in customers.data["owner"].dropna()}
    return rep if rep and rep in owners else None


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
    from crmbook.errors import InputError
    from crmbook.safe_save import write_new_file

    if owner and team:
        raise InputError(
            "--owner makes one rep's scorecard and --team a team's report: give one of them "
            "(a rep of the team has a page of their own in the team's report with --per-rep)"
        )
    if owner and per_rep:
        raise InputError(
            "--per-rep adds a page per rep to a team's report; a scorecard (--owner) is one rep's already"
        )
    if out_path:
        _check_target(Path(out_path), Path(book_path))
    book, structural = read_book(book_path)
    _require_records(book, structural)
    from crmbook.typed import typed_tables

    typed = typed_tables(book)
    named = owner or team  # in the report's file name: a rep's own file (below) is theirs already
    if owner is None and team is None:
        owner = _rep_of_file(book)  # a rep's own file (crmbook split): that rep's scorecard
        if owner:  # what the rep typed in it without an owner is theirs too (a customer, its follow-ups)
            for key in ("customers", "followups", "opportunities"):
                if key in typed and "owner" in typed[key]:
                    typed[key] = typed[key].assign(owner=typed[key]["owner"].fillna(owner))
    chosen: Lang = lang or ("en" if str(book.settings.get("report_language")) == "en" else book.lang)
    w = T[chosen]
    measures = compute_measures(book, period, owner=owner, team=team, typed=typed)
    if owner:
        owner = measures.notes["scope"]
    elif team:
        team = measures.notes["scope"]
    if out_path:
        target = Path(out_path)
    else:
        target = default_report_path(book_path, period, measures.notes["scope"] if named else None)
        _check_target(target, Path(book_path))
    scope = owner or team or w["all"]
    rep_pages = []
    if per_rep and not owner:
        for name in _owners(book, measures):
            rm = compute_measures(book, period, owner=name, typed=typed)
            rm.notes["owner"] = name
            rep_pages.append(rm)
    title = f"{w['scorecard']} · {owner}" if owner else None
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
