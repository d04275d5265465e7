"""The issues summary: one line per kind of problem, the fix for all of them, the first cells."""

from __future__ import annotations

import datetime as dt
import json

from crmbook.issue_summary import VALUES_PER_COLUMN, summarize
from crmbook.issues import Report
from crmbook.issues_sheet import build_issues_sheet, highlights_for
from crmbook.validate import validate
from tests.builders import make_book

OK = {"customer_id": "C1", "name": "上海华信科技有限公司", "phone": "13800138000"}


def _book(n: int = 60):  # type: ignore[no-untyped-def]
    customers = [
        {
            **OK,
            "customer_id": f"C{i}",
            "name": f"客户公司{i}有限公司",
            "industry": "IT/互联网" if i % 2 else "交通运输",
            "source": ["抖音", "小红书", "快手", "知乎", "B站", "微博", "豆瓣", "闲鱼"][i % 8]
            if i < 16
            else None,
        }
        for i in range(n)
    ]
    followups = [
        {"customer_id": f"C{i}", "content": "电话", "time": f"{1 + i % 12}月{1 + i % 28}日"} for i in range(n)
    ]
    return make_book(customers=customers, followups=followups)


def test_one_line_per_value_where_the_value_is_the_problem_and_per_column_otherwise() -> None:
    issues = validate(_book())
    lines = summarize(issues, ["客户", "跟进记录"])
    assert sum(line.count for line in lines) == len(issues)
    keyed = {(line.code, line.column, line.value): line for line in lines}
    assert keyed[("not-in-list", "industry", "IT/互联网")].count == 30
    assert keyed[("list-alias", "industry", "交通运输")].count == 30
    no_year = keyed[("date-no-year", "time", None)]
    assert no_year.count == 60 and no_year.cells == ["D2", "D3", "D4"]  # the first three, in sheet order
    # Sources: five values get lines of their own, the other three share one.
    sources = [line for line in lines if line.column == "source"]
    assert len(sources) == VALUES_PER_COLUMN + 1
    other = next(line for line in sources if line.other_values)
    assert other.other_values == 3 and other.count == 6 and other.value is None
    assert lines[0].level == "error"  # errors first


def test_the_most_frequent_values_get_lines_of_their_own_wherever_they_first_appear() -> None:
    # Seven sources typed once each at the top of the sheet, then 快手 forty times further down: 快手
    # is the fix worth a line; two of the values typed once share the "other values" line.
    once = ["抖音", "小红书", "知乎", "B站", "微博", "豆瓣", "闲鱼"]
    customers = [
        {**OK, "customer_id": f"C{i}", "name": f"客户公司{i}有限公司", "source": source}
        for i, source in enumerate(once + ["快手"] * 40)
    ]
    lines = [line for line in summarize(validate(make_book(customers=customers))) if line.column == "source"]
    by_value = {line.value: line for line in lines if not line.other_values}
    assert by_value["快手"].count == 40 and lines[0].value == "快手"
    assert set(by_value) == {"快手", *once[:4]}  # then the first in sheet order among equals
    other = lines[-1]  # after the lines naming their value
    assert other.other_values == 3 and other.count == 3 and other.first[0].value == "微博"


def test_the_fix_clears_all_of_them_in_both_languages() -> None:
    lines = {(line.code, line.value): line for line in summarize(validate(_book()))}
    it = lines[("not-in-list", "IT/互联网")]
    assert it.text("zh").startswith("所属行业：“IT/互联网” × 30 — 在“列表”的“所属行业”列表中加上“IT/互联网”")
    assert "（如“信息技术”）" in it.text("zh")
    assert it.text("en").startswith(
        "所属行业: 'IT/互联网' × 30 — add 'IT/互联网' to the 所属行业 list on 列表"
    )
    assert it.text("en").endswith("(rows 3, 5, 7… of 客户)")
    alias = lines[("list-alias", "交通运输")]
    assert "“物流运输”" in alias.fix("zh") and "'物流运输'" in alias.fix("en")
    no_year = lines[("date-no-year", None)]
    assert no_year.text("en").startswith("跟进时间: dates without a year × 60 — add the year")
    assert no_year.text("zh").startswith("跟进时间：日期缺少年份 × 60 — 补上年份")


def test_the_issues_sheet_shows_the_summary_then_every_cell_and_highlights_stay_per_cell() -> None:
    issues = validate(_book())
    sheet = build_issues_sheet(
        issues, "zh", generated_at=dt.datetime(2026, 11, 22, 9), sheet_order=["客户", "跟进记录"]
    )
    values = [[c.value if c else None for c in row] for row in sheet.rows]
    assert values[3] == ["摘要：每行一类问题，附一次改完的办法"]
    assert values[4][:8] == ["级别", "代码", "工作表", "数量", "列", "单元格", "值", "一次改完的办法"]
    lines = summarize(issues, ["客户", "跟进记录"])
    header = 5 + len(lines) + 2  # 0-based: the summary, a blank row, the list's title
    assert values[header][:4] == ["级别", "代码", "工作表", "行"]
    assert len(values) - header - 1 == len(issues)
    assert sheet.autofilter == f"A{header + 1}:H{header + 1 + len(issues)}"
    links = [c.link for c in sheet.rows[5] if c is not None and c.link]
    assert links == [f"'{lines[0].sheet}'!{cell}" for cell in lines[0].cells]
    assert len(highlights_for(issues)) == len({(i.sheet, i.row, i.col) for i in issues})


def test_json_carries_the_summary() -> None:
    data = json.loads(Report(validate(_book())).to_json("en"))
    assert {"counts", "summary", "issues"} <= set(data)
    first = data["summary"][0]
    assert {"code", "severity", "sheet", "column", "value", "count", "cells", "rows", "fix", "text"} <= set(
        first
    )
    assert sum(line["count"] for line in data["summary"]) == len(data["issues"])


def test_the_english_counts_line_says_one_error_not_one_errors() -> None:
    from crmbook.issues import Issue

    issues = [
        Issue("bad-phone", "Customers", 2, 13, "phone", "12"),
        Issue("bad-phone", "Customers", 3, 13, "phone", "13", severity="warning"),
    ]
    sheet = build_issues_sheet(issues, "en", generated_at=dt.datetime(2026, 11, 30, 9, 0))
    assert sheet.rows[2][0].value == "1 error, 1 warning, 0 notes"
    zh = build_issues_sheet(issues, "zh", generated_at=dt.datetime(2026, 11, 30, 9, 0))
    assert zh.rows[2][0].value == "错误 1 个，警告 1 个，提示 0 个"


def test_every_kind_of_issue_has_a_title_in_both_languages_never_its_code() -> None:
    from crmbook.issue_summary import SummaryLine
    from crmbook.issues import CATALOG, Issue

    for code, (level, _, _) in CATALOG.items():
        line = SummaryLine(code, level, "客户", "address", "地址", count=2, first=[Issue(code, sheet="客户")])
        for lang in ("zh", "en"):
            assert line.subject(lang) != code, (code, lang)
