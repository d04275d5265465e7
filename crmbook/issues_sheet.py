"""The Issues sheet (问题清单): every problem with a link to its cell, and the highlights."""

from __future__ import annotations

import datetime as dt

from crmbook.changeset import Highlight, OwnedSheet, SheetCell
from crmbook.issues import Issue
from crmbook.schema import Lang, load_schema

__all__ = ["MAX_ROWS", "build_issues_sheet", "cell_link", "highlights_for"]

MAX_ROWS = 20_000
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
        "more": "另有 {n} 个问题未列出（crmbook refresh --json 可导出全部）",
        "none": "没有发现问题。",
    },
    "en": {
        "title": "Issues",
        "generated": "Generated",
        "summary": "{error} errors, {warning} warnings, {info} notes",
        "headers": ("Severity", "Code", "Sheet", "Row", "Column", "Cell", "Value", "Message"),
        "more": "{n} more issues not listed (crmbook refresh --json lists them all)",
        "none": "No problems found.",
    },
}
_ORDER = {"error": 0, "warning": 1, "info": 2}


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


def build_issues_sheet(
    issues: list[Issue], lang: Lang, *, generated_at: dt.datetime, sheet_order: list[str] | None = None
) -> OwnedSheet:
    words = WORDS[lang]
    order = {name: i for i, name in enumerate(sheet_order or [])}
    ranked = sorted(
        issues,
        key=lambda i: (_ORDER[i.level], order.get(i.sheet, len(order)), i.sheet, i.row or 0, i.col or 0),
    )
    counts = {s: sum(1 for i in issues if i.level == s) for s in _ORDER}
    rows: list[list[SheetCell | None]] = [
        [SheetCell(words["title"], "title")],
        [SheetCell(f"{words['generated']} {generated_at:%Y-%m-%d %H:%M}", "subtitle")],
        [SheetCell(words["summary"].format(**counts), "subtitle")],
        [SheetCell(h, "header") for h in words["headers"]],
    ]
    for issue in ranked[:MAX_ROWS]:
        value = "" if issue.value is None else str(issue.value)
        cell = issue.cell
        rows.append(
            [
                SheetCell(
                    SEVERITY_WORDS[lang][issue.level], issue.level if issue.level != "info" else "text"
                ),
                SheetCell(issue.code),
                SheetCell(issue.sheet),
                SheetCell(issue.row),
                SheetCell(_column_label(issue, lang)),
                SheetCell(
                    cell or None, "link" if cell else "text", cell_link(issue.sheet, cell) if cell else None
                ),
                SheetCell(value[:200] or None),
                SheetCell(issue.message(lang), "wrap"),
            ]
        )
    if not ranked:
        rows.append([SheetCell(words["none"])])
    if len(ranked) > MAX_ROWS:
        rows.append([SheetCell(words["more"].format(n=len(ranked) - MAX_ROWS), "warning")])
    last = 4 + min(len(ranked), MAX_ROWS)
    return OwnedSheet(
        name=load_schema().owned_sheet_name("issues", lang),
        rows=rows,
        widths={1: 8, 2: 24, 3: 12, 4: 7, 5: 14, 6: 9, 7: 24, 8: 70},
        freeze="A5",
        autofilter=f"A4:H{last}" if ranked else None,
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
