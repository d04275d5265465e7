"""The Dashboard sheet (看板): headline figures computed by crmbook, and native charts.

Every number is a value crmbook computed (no formulas), labelled in the
workbook's language. Charts read ranges of the dashboard's own cells.
Laid out for the screen (tables left, charts right) and for the printer:
A4 landscape, one page wide, a header and footer, and page breaks placed
(:mod:`crmbook.report_pages`) so no chart and no table is cut. Early in a
month, before anything happened in it, the last full month stands beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

import pandas as pd

from crmbook.book import Book
from crmbook.changeset import Button, ChartSpec, OwnedSheet, SheetCell
from crmbook.issue_summary import SummaryLine
from crmbook.issues_sheet import SUMMARY_FIRST_ROW, cell_link
from crmbook.report_pages import POINTS_PER_CM, Paper, column_points, page_breaks
from crmbook.schema import Lang, load_schema

__all__ = ["build_dashboard", "dashboard_figures"]

WORDS = {
    "zh": {
        "title": "客户看板",
        "generated": "更新时间",
        "headline": "本月概况（{month}）",
        "last_month": "上月（{month}）",
        "page": "第 &P 页，共 &N 页",
        "new": "新增客户",
        "followups": "跟进次数",
        "wins": "成交单数",
        "won_amount": "成交金额",
        "pipeline": "在谈金额",
        "weighted": "加权预测",
        "key_rate": "A级客户跟进率",
        "alert_line": "警戒线",
        "below": "低于警戒线",
        "ok": "达标",
        "issues": "数据问题",
        "errors": "错误",
        "warnings": "警告",
        "duplicates": "疑似重复客户（对）",
        "quality": "数据问题摘要（详见问题清单）",
        "quality_more": "另有 {n} 类问题，见问题清单",
        "to_issues": "怎么改 →",
        "by_status": "客户状态",
        "by_level": "客户等级",
        "by_source": "客户来源",
        "by_industry": "所属行业",
        "funnel": "销售漏斗（机会数）",
        "stage": "阶段",
        "count": "数量",
        "amount": "金额",
        "weekly": "近 8 周各销售跟进次数",
        "week": "周",
        "customers": "客户数",
        "none": "（空）",
    },
    "en": {
        "title": "Dashboard",
        "generated": "Updated",
        "headline": "This month ({month})",
        "last_month": "Last month ({month})",
        "page": "Page &P of &N",
        "new": "New customers",
        "followups": "Follow-ups",
        "wins": "Deals won",
        "won_amount": "Won amount",
        "pipeline": "Open pipeline",
        "weighted": "Weighted forecast",
        "key_rate": "A-customer follow-up rate",
        "alert_line": "Alert line",
        "below": "below the line",
        "ok": "on track",
        "issues": "Data issues",
        "errors": "Errors",
        "warnings": "Warnings",
        "duplicates": "Possible duplicate pairs",
        "quality": "Data issues at a glance (see Issues)",
        "quality_more": "{n} more kinds of problem: see Issues",
        "to_issues": "How to fix →",
        "by_status": "Status",
        "by_level": "Level",
        "by_source": "Source",
        "by_industry": "Industry",
        "funnel": "Sales funnel (deals)",
        "stage": "Stage",
        "count": "Count",
        "amount": "Amount",
        "weekly": "Follow-ups per rep, last 8 weeks",
        "week": "Week",
        "customers": "Customers",
        "none": "(empty)",
    },
}


def _month_mask(series: pd.Series, today: dt.date) -> pd.Series:
    start = pd.Timestamp(today.replace(day=1))
    return (series >= start) & (series < start + pd.offsets.MonthBegin(1))


def _last_month(today: dt.date) -> dt.date:
    """A day in the last full month before ``today``'s."""
    return today.replace(day=1) - dt.timedelta(days=1)


def _month_figures(created: pd.Series, f: pd.DataFrame, o: pd.DataFrame, day: dt.date) -> dict[str, Any]:
    """New customers, follow-ups, wins and won amount of ``day``'s calendar month."""
    won = o[(o["stage"] == "won") & _month_mask(o["close_date"], day)]
    return {
        "new_customers": int(_month_mask(created, day).sum()),
        "followups": int(_month_mask(f["time"], day).sum()),
        "wins": len(won),
        "won_amount": float(won["actual_amount"].sum()),
    }


def _counts(series: pd.Series, list_key: str, lang: str, none: str) -> list[tuple[str, int]]:
    spec = load_schema().lists[list_key]
    counts = series.fillna("∅").value_counts()
    out = [(i.label(lang), int(counts.get(i.key, 0))) for i in spec.items]  # type: ignore[arg-type]
    known = {i.key for i in spec.items}
    out += [(none if k == "∅" else str(k), int(v)) for k, v in counts.items() if k not in known]
    return out


def dashboard_figures(book: Book, typed: dict[str, pd.DataFrame], rollup: pd.DataFrame) -> dict[str, Any]:
    """The numbers the dashboard shows, as plain data (tests read these)."""
    lang = book.lang
    none = WORDS[lang]["none"]
    c = typed.get(
        "customers",
        pd.DataFrame(columns=["created", "first_contact", "status", "level", "source", "industry"]),
    )
    f = typed.get("followups", pd.DataFrame(columns=["time", "owner"]))
    o = typed.get(
        "opportunities",
        pd.DataFrame(columns=["stage", "close_date", "actual_amount", "expected_amount", "probability"]),
    )
    created = c["created"].fillna(c["first_contact"])
    month = _month_figures(created, f, o, book.today)
    # Nothing yet this month (the 1st, a quiet start): the last full month stands beside it.
    last_full = _month_figures(created, f, o, _last_month(book.today)) if not any(month.values()) else None
    open_deals = o[~o["stage"].isin(["won", "lost"])]
    default_p = open_deals["stage"].map(
        lambda s: book.settings.default_probability(s) if isinstance(s, str) else None
    )
    probability = open_deals["probability"].fillna(pd.to_numeric(default_p, errors="coerce")).fillna(0)
    a_customers = c[(c["level"] == "A") & (c["status"] != "lost")]
    cadence = book.settings.cadence_days("A") or 7
    last = (
        rollup.loc[a_customers.index, "last_followup"]
        if len(a_customers)
        else pd.Series(dtype="datetime64[ns]")
    )
    recent = (last >= pd.Timestamp(book.today) - pd.Timedelta(days=cadence)).sum()
    key_rate = float(recent) / len(a_customers) if len(a_customers) else None
    stages = [i.key for i in load_schema().lists["stage"].items]
    stage_label = {i.key: i.label(lang) for i in load_schema().lists["stage"].items}
    funnel = [
        (stage_label[s], int((o["stage"] == s).sum()), float(o.loc[o["stage"] == s, "expected_amount"].sum()))
        for s in stages
    ]
    week_start = pd.Timestamp(book.today) - pd.Timedelta(days=book.today.weekday())
    weeks = [week_start - pd.Timedelta(weeks=k) for k in range(7, -1, -1)]
    recent_f = f[f["time"] >= weeks[0]]
    reps = sorted({str(x) for x in recent_f["owner"].dropna()})[:8]
    weekly = []
    for w in weeks:
        in_week = recent_f[(recent_f["time"] >= w) & (recent_f["time"] < w + pd.Timedelta(weeks=1))]
        weekly.append((f"{w:%m-%d}", [int((in_week["owner"] == r).sum()) for r in reps]))
    return {
        **month,
        "last_month": last_full,
        "open_pipeline": float(open_deals["expected_amount"].sum()),
        "weighted_forecast": float((open_deals["expected_amount"].fillna(0) * probability / 100).sum()),
        "key_rate": key_rate,
        "key_alert": float(book.settings.get("key_followup_alert") or 80) / 100,
        "by_status": _counts(c["status"], "status", lang, none),
        "by_level": _counts(c["level"], "level", lang, none),
        "by_source": _counts(c["source"], "source", lang, none),
        "by_industry": _counts(c["industry"], "industry", lang, none),
        "funnel": funnel,
        "reps": reps,
        "weekly": weekly,
    }


def build_dashboard(
    book: Book,
    typed: dict[str, pd.DataFrame],
    rollup: pd.DataFrame,
    *,
    issue_counts: dict[str, int],
    duplicate_pairs: int,
    generated_at: dt.datetime,
    issue_summary: list[SummaryLine] | None = None,
) -> OwnedSheet:
    w = WORDS[book.lang]
    fig = dashboard_figures(book, typed, rollup)
    rows: list[list[SheetCell | None]] = []

    def add(*cells: SheetCell | None) -> int:
        rows.append(list(cells))
        return len(rows)

    add(SheetCell(w["title"], "title"))
    add(SheetCell(f"{w['generated']} {generated_at:%Y-%m-%d %H:%M}", "subtitle"))
    add()
    last = fig["last_month"]
    beside = (
        [SheetCell(w["last_month"].format(month=f"{_last_month(book.today):%Y-%m}"), "header")]
        if last
        else []
    )
    add(
        SheetCell(w["headline"].format(month=f"{book.today:%Y-%m}"), "header"),
        SheetCell(None, "header"),
        *beside,
    )
    for key, word, style in (
        ("new_customers", "new", "integer"),
        ("followups", "followups", "integer"),
        ("wins", "wins", "integer"),
        ("won_amount", "won_amount", "amount"),
    ):
        add(SheetCell(w[word]), SheetCell(fig[key], style), *([SheetCell(last[key], style)] if last else []))
    add(SheetCell(w["pipeline"]), SheetCell(fig["open_pipeline"], "amount"))
    add(SheetCell(w["weighted"]), SheetCell(fig["weighted_forecast"], "amount"))
    rate, alert = fig["key_rate"], fig["key_alert"]
    below = rate is not None and rate < alert
    add(
        SheetCell(w["key_rate"]),
        SheetCell(rate, "percent"),
        SheetCell(
            f"{w['alert_line']} {alert:.0%}: {w['below'] if below else w['ok']}",
            "error" if below else "subtitle",
        ),
    )
    add(
        SheetCell(w["issues"]),
        SheetCell(
            f"{w['errors']} {issue_counts.get('error', 0)} / {w['warnings']} {issue_counts.get('warning', 0)}"
        ),
    )
    add(SheetCell(w["duplicates"]), SheetCell(duplicate_pairs, "integer"))
    quality = _quality_block(add, w, book.lang, issue_summary or [])
    charts: list[ChartSpec] = []

    def block(title: str, items: list[tuple[str, int]]) -> tuple[int, int]:
        add()
        add(SheetCell(title, "header"), SheetCell(w["customers"], "header"))
        first = len(rows) + 1
        for label, n in items:
            add(SheetCell(label), SheetCell(n, "integer"))
        return first, len(rows)

    s0, s1 = block(w["by_status"], fig["by_status"])
    charts.append(ChartSpec("pie", w["by_status"], "E4", (s0, 1, s1), ((s0, 2, s1),), (w["customers"],)))
    blocks = [*([quality] if quality else []), (s0, s1)]
    blocks.append(block(w["by_level"], fig["by_level"]))
    blocks.append(block(w["by_source"], fig["by_source"]))
    blocks.append(block(w["by_industry"], fig["by_industry"]))
    add()
    add(SheetCell(w["funnel"], "header"), SheetCell(w["count"], "header"), SheetCell(w["amount"], "header"))
    f0 = len(rows) + 1
    for label, n, amount in fig["funnel"]:
        add(SheetCell(label), SheetCell(n, "integer"), SheetCell(amount, "amount"))
    blocks.append((f0, len(rows)))
    charts.append(ChartSpec("funnel", w["funnel"], "E20", (f0, 1, f0 + 3), ((f0, 2, f0 + 3),), (w["count"],)))
    add()
    add(SheetCell(w["weekly"], "header"), *[SheetCell(r, "header") for r in fig["reps"]])
    k0 = len(rows) + 1
    for label, counts in fig["weekly"]:
        add(SheetCell(label), *[SheetCell(n, "integer") for n in counts])
    blocks.append((k0, len(rows)))
    if fig["reps"]:
        series = tuple((k0, 2 + i, len(rows)) for i in range(len(fig["reps"])))
        charts.append(ChartSpec("column", w["weekly"], "E36", (k0, 1, len(rows)), series, tuple(fig["reps"])))
    # Column D separates the tables from the charts; the weekly table runs on into it, one rep a column.
    widths = {1: 26, 2: 16, 3: 22, 4: 10}
    charts, breaks = _laid_out(charts, widths, len(rows), [(a - 1, b) for a, b in blocks])
    team = str(book.settings.get("team_name") or "")
    return OwnedSheet(
        name=load_schema().owned_sheet_name("dashboard", book.lang),
        rows=rows,
        widths=widths,
        charts=charts,
        tab_color="1F4E78",
        buttons=dashboard_buttons(book.lang) if book.macro_enabled else [],
        row_breaks=tuple(breaks),
        header=(team.replace("&", "&&"), w["title"], f"{w['generated']} {generated_at:%Y-%m-%d %H:%M}"),
        footer=("", "", w["page"]),
    )


QUALITY_LINES = 8  # summary lines the dashboard shows; the Issues sheet has them all


def _quality_block(
    add: Any, w: dict[str, str], lang: Lang, summary: list[SummaryLine]
) -> tuple[int, int] | None:
    """The Issues sheet's summary, biggest kinds first: what, how many, and a link to its fix.
    Returns the block's first and last row (None when there is nothing to show)."""
    if not summary:
        return None
    issues_sheet = load_schema().owned_sheet_name("issues", lang)
    add()
    first = add(SheetCell(w["quality"], "header"), SheetCell(None, "header"), SheetCell(None, "header"))
    last = first
    for i, line in enumerate(summary[:QUALITY_LINES]):
        head = line.column_label or line.sheet
        target = cell_link(issues_sheet, f"H{SUMMARY_FIRST_ROW + i}")
        last = add(
            SheetCell(
                f"{head}{'：' if lang == 'zh' else ': '}{line.subject(lang)}",
                line.level if line.level != "info" else "text",
            ),
            SheetCell(line.count, "integer"),
            SheetCell(w["to_issues"], "link", target),
        )
    if len(summary) > QUALITY_LINES:
        last = add(SheetCell(w["quality_more"].format(n=len(summary) - QUALITY_LINES), "subtitle"))
    return first, last


# How owned sheets print (crmbook/ooxml/owned.py): A4 landscape, one page wide, these margins (inches).
PRINT_MARGINS = {"left": 0.7, "right": 0.7, "top": 0.75, "bottom": 0.75}
CHART_CM = (14.0, 5.6)  # width, height of each chart: two beside the first page's tables
ROW_POINTS = 15.0
TITLE_POINTS = 22.0  # the title's larger font makes its row taller


def _laid_out(
    charts: list[ChartSpec], widths: dict[int, float], n_rows: int, tables: list[tuple[int, int]]
) -> tuple[list[ChartSpec], list[int]]:
    """Charts stacked in column E, each moved to the next page when it would be cut, and the page breaks
    that keep each table whole (rows after which a page starts)."""
    width, height = Paper("a4").size
    printable_w = width - (PRINT_MARGINS["left"] + PRINT_MARGINS["right"]) * 72
    printable_h = height - (PRINT_MARGINS["top"] + PRINT_MARGINS["bottom"]) * 72
    content = sum(column_points(x) for x in widths.values()) + CHART_CM[0] * POINTS_PER_CM
    scale = min(1.0, printable_w / content)
    page_h = printable_h * 0.97 / scale
    chart_rows = math.ceil(CHART_CM[1] * POINTS_PER_CM / ROW_POINTS)
    total = n_rows + (chart_rows + 2) * (len(charts) + 1)
    heights = [TITLE_POINTS if r == 1 else ROW_POINTS for r in range(1, total + 1)]
    breaks = page_breaks(heights, tables, page_h)
    placed, row = [], 4
    for spec in charts:
        page_end = next((b for b in breaks if b >= row), total)
        if row + chart_rows - 1 > page_end:
            row = page_end + 2
        placed.append(replace(spec, anchor=f"E{row}", width_cm=CHART_CM[0], height_cm=CHART_CM[1]))
        row += chart_rows + 1
    last = max(n_rows, row)
    return placed, [b for b in breaks if b < last]


BUTTONS = {
    "zh": ("刷新", "查重", "生成月报"),
    "en": ("Refresh", "Find duplicates", "Monthly report"),
}
MACROS = ("CrmbookRefresh", "CrmbookFindDuplicates", "CrmbookMonthlyReport")  # in macros/crmbook.bas


def dashboard_buttons(lang: Lang) -> list[Button]:
    """Refresh, Find duplicates and Monthly report, side by side above the charts."""
    return [
        Button(label, macro, col=5 + 3 * i, row=1, cols=2, rows=1)
        for i, (label, macro) in enumerate(zip(BUTTONS[lang], MACROS, strict=True))
    ]
