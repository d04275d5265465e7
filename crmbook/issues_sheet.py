"""The Issues sheet (问题清单): the summary (one line per kind of problem, with the fix that clears
them all), then every problem with a link to its cell; and the highlights, per cell."""

from __future__ import annotations

import datetime as dt

from crmbook.changeset import Highlight, OwnedSheet, SheetCell
from crmbook.issue_summary import FIRST_CELLS, SummaryLine, summarize
from crmbook.issues import Issue
from crmbook.schema import Lang, load_schema
from crmbook.values import shown_text
from crmbook.wording import counted

__all__ = [
    "MAX_ROWS",
    "SUMMARY_FIRST_ROW",
    "build_issues_sheet",
    "cell_link",
    "highlights_for",
    "summary_rows",
]

MAX_ROWS = 20_000
SUMMARY_FIRST_ROW = 6  # title, time, counts, the summary's title and header come first
SEVERITY_WORDS = {
    "zh": {"error": "错误", "warning": "警告", "info": "提示"},
    "en": {"error": "Error", "warning": "Warning", "info": "Info"},
}
WORDS = {
    "zh": {
        "title": "问题清单",
        "generated": "生成时间",
        "summary": "错误 {error} 个，警告 {warning} 个，提示 {info} 个",
        "headers": ("级别", "代码", "工作表", "行", "列", "单元格", "值", "说明"),
        "summary_title": "摘要：每行一类问题，附一次改完的办法",
        "summary_headers": (
            "级别",
            "代码",
            "工作表",
            "数量",
            "列",
            "单元格",
            "值",
            "一次改完的办法",
            "单元格",
            "单元格",
        ),
        "cells_title": "全部问题（逐个单元格，可按代码筛选）",
        "more": "另有 {n} 个问题未列出（crmbook refresh --json 可导出全部）",
        "none": "没有发现问题。",
    },
    "en": {
        "title": "Issues",
        "generated": "Generated",
        "summary": "{errors}, {warnings}, {notes}",
        "headers": ("Severity", "Code", "Sheet", "Row", "Column", "Cell", "Value", "Message"),
        "summary_title": "Summary: one line per kind of problem, with the fix that clears them all",
        "summary_headers": (
            "Severity",
            "Code",
            "Sheet",
            "Count",
            "Column",
            "Cell",
            "Value",
            "The fix for all of them",
            "Cell",
            "Cell",
        ),
        "cells_title": "Every problem, cell by cell (filter by code)",
        "more": "{n} more issues not listed (crmbook refresh --json lists them all)",
        "none": "No problems found.",
    },
}
_ORDER = {"error": 0, "warning": 1, "info": 2}


def _counted(counts: dict[str, int]) -> dict[str, str]:
    """The English summary's counts with their nouns ("1 error, 3 warnings, 0 notes")."""
    nouns = {"errors": ("error", "error"), "warnings": ("warning", "warning"), "notes": ("info", "note")}
    return {key: counted(counts.get(level, 0), noun) for key, (level, noun) in nouns.items()}


def cell_link(sheet: str, cell: str) -> str:
    return "'" + sheet.replace("'", "''") + "'!" + cell


def _column_label(issue: Issue, lang: Lang) -> str:
    label = issue.params.get("column_label")
    if label:
        return str(label)
    for spec in load_schema().sheets:
        for col in spec.columns:
            if col.key == issue.column:
                return col.label(lang)
    return issue.column


def _link(issue: Issue) -> SheetCell:
    cell = issue.cell
    return SheetCell(cell or None, "link" if cell else "text", cell_link(issue.sheet, cell) if cell else None)


def _level_cell(level: str, lang: Lang) -> SheetCell:
    return SheetCell(SEVERITY_WORDS[lang][level], level if level != "info" else "text")


def summary_rows(summary: list[SummaryLine], lang: Lang) -> list[list[SheetCell | None]]:
    """One row per summary line: severity, code, sheet, count, column, the first cells as links
    (columns F, I, J), the value in common (or what the problem is) and the fix."""
    rows: list[list[SheetCell | None]] = []
    for line in summary:
        links = [_link(i) for i in line.first if i.cell][:FIRST_CELLS]
        rows.append(
            [
                _level_cell(line.level, lang),
                SheetCell(line.code),
                SheetCell(line.sheet or None),
                SheetCell(line.count, "integer"),
                SheetCell(line.column_label or None),
                links[0] if links else None,
                SheetCell(line.subject(lang)[:200]),
                SheetCell(line.fix(lang) + line.where(lang), "wrap"),
                *links[1:],
            ]
        )
    return rows


def build_issues_sheet(
    issues: list[Issue],
    lang: Lang,
    *,
    generated_at: dt.datetime,
    sheet_order: list[str] | None = None,
    summary: list[SummaryLine] | None = None,
) -> OwnedSheet:
    """The sheet: counts, the summary (``summary``, or worked out from ``issues``), then each issue."""
    words = WORDS[lang]
    order = {name: i for i, name in enumerate(sheet_order or [])}
    ranked = sorted(
        issues,
        key=lambda i: (_ORDER[i.level], order.get(i.sheet, len(order)), i.sheet, i.row or 0, i.col or 0),
    )
    if summary is None:
        summary = summarize(issues, sheet_order, lang)
    counts = {s: sum(1 for i in issues if i.level == s) for s in _ORDER}
    rows: list[list[SheetCell | None]] = [
        [SheetCell(words["title"], "title")],
        [SheetCell(f"{words['generated']} {generated_at:%Y-%m-%d %H:%M}", "subtitle")],
        [SheetCell(words["summary"].format(**counts, **_counted(counts)), "subtitle")],
    ]
    if summary:
        rows.append([SheetCell(words["summary_title"], "subtitle")])
        rows.append([SheetCell(h, "header") for h in words["summary_headers"]])
        rows += summary_rows(summary, lang)
        rows.append([])
        rows.append([SheetCell(words["cells_title"], "subtitle")])
    rows.append([SheetCell(h, "header") for h in words["headers"]])
    header_row = len(rows)
    for issue in ranked[:MAX_ROWS]:
        value = shown_text(issue.value)
        rows.append(
            [
                _level_cell(issue.level, lang),
                SheetCell(issue.code),
                SheetCell(issue.sheet),
                SheetCell(issue.row),
                SheetCell(_column_label(issue, lang)),
                _link(issue),
                SheetCell(value[:200] or None),
                SheetCell(issue.message(lang), "wrap"),
            ]
        )
    if not ranked:
        rows.append([SheetCell(words["none"])])
    if len(ranked) > MAX_ROWS:
        rows.append([SheetCell(words["more"].format(n=len(ranked) - MAX_ROWS), "warning")])
    last = header_row + min(len(ranked), MAX_ROWS)
    return OwnedSheet(
        name=load_schema().owned_sheet_name("issues", lang),
        rows=rows,
        widths={1: 8, 2: 24, 3: 12, 4: 7, 5: 14, 6: 9, 7: 24, 8: 70, 9: 9, 10: 9},
        freeze="A4" if summary else "A5",
        autofilter=f"A{header_row}:H{last}" if ranked else None,
        tab_color="C00000",
    )


def highlights_for(issues: list[Issue]) -> list[Highlight]:
    """One highlight per problem cell; an error outranks a warning on the same cell."""
    best: dict[tuple[str, int, int], str] = {}
    for issue in issues:
        if issue.row is None or issue.col is None or issue.level == "info":
            continue
        key = (issue.sheet, issue.row, issue.col)
        if best.get(key) != "error":
            best[key] = issue.level
    return [Highlight(s, r, c, sev) for (s, r, c), sev in best.items()]  # type: ignore[arg-type]
