"""Refresh on the generated real-world book (tests/realworld.py): what a new user sees after an import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.reader import read_book
from crmbook.refresh import RefreshResult, refresh
from tests.realworld import DEALS, TODAY, write_real_world_book


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], RefreshResult]:
    path = tmp_path_factory.mktemp("real-world") / "ledger.xlsx"
    planted = write_real_world_book(path)
    shutil.copyfile(path, path.with_name("before.xlsx"))
    return path, planted, refresh(path, today=TODAY)


def test_every_record_gets_an_id_even_10000_deals_on_one_day(refreshed: Any) -> None:
    path, _, result = refreshed
    book, _ = read_book(path, today=TODAY)
    for key, table in book.tables.items():
        ids = table.data[table.spec.id_column]
        assert ids.notna().all(), key
        assert ids.is_unique, key
    deals = book.tables["opportunities"].data["opportunity_id"]
    assert len(deals) == DEALS and deals.str.startswith("O20261122").all()
    assert {"O20261122999", "O202611221000", "O2026112210000"} <= set(deals)
    assert "id-overflow" not in {i.code for i in result.plan.report.issues}


def test_the_issues_summary_fits_on_one_screen(refreshed: Any) -> None:
    _, _, result = refreshed
    summary = result.plan.issue_summary
    assert 0 < len(summary) <= 30
    assert sum(line.count for line in summary) == len(result.plan.report.issues)
    lines = {line.text("zh") for line in summary} | {line.text("en") for line in summary}
    assert any(t.startswith("所属行业：“IT/互联网” × 56 — ") and "信息技术" in t for t in lines)
    assert "跟进时间: dates without a year × 167 — add the year" in "\n".join(lines)
    assert "跟进时间：日期缺少年份 × 167 — 补上年份" in "\n".join(lines)


def test_no_false_card_or_id_number_warnings(refreshed: Any) -> None:
    _, planted, result = refreshed
    found = {(i.code, i.row) for i in result.plan.report.issues if i.code.startswith("sensitive-")}
    assert found == {
        ("sensitive-bank-card", planted["card_row"] + 2),
        ("sensitive-id-number", planted["id_row"] + 2),
    }


def test_only_records_with_no_way_to_reach_are_flagged(refreshed: Any) -> None:
    _, planted, result = refreshed
    rows = [i.row for i in result.plan.report.issues if i.code in ("no-way-to-reach", "missing-required")]
    assert rows == [r + 2 for r in planted["unreachable"]]
    assert "primary-contact-count" not in {i.code for i in result.plan.report.issues}


def test_the_duplicate_list_holds_only_pairs_with_real_evidence(refreshed: Any) -> None:
    path, planted, result = refreshed
    book, _ = read_book(path, today=TODAY)
    from crmbook.dedupe import find_duplicates

    found = {(p.row_a - 2, p.row_b - 2) for p in find_duplicates(book).pairs}
    assert found == set(planted["duplicate_pairs"])
    assert result.plan.duplicate_pairs == len(planted["duplicate_pairs"])


def test_the_issues_sheet_and_dashboard_start_with_the_summary(refreshed: Any) -> None:
    import openpyxl

    path, _, result = refreshed
    wb = openpyxl.load_workbook(path)
    ws = wb["问题清单"]
    summary = result.plan.issue_summary
    assert ws["A5"].value == "级别" and ws["H5"].value == "一次改完的办法"
    first = summary[0]
    assert ws["B6"].value == first.code and ws["D6"].value == first.count
    assert ws["F6"].hyperlink.location == f"'{first.sheet}'!{first.cells[0]}"
    header = 6 + len(summary) + 2
    assert ws.cell(header, 4).value == "行" and ws.auto_filter.ref.startswith(f"A{header}:H")
    per_cell = ws.max_row - header
    assert per_cell == len(result.plan.report.issues)
    dashboard = wb["看板"]
    texts = [c.value for row in dashboard.iter_rows(max_col=3) for c in row if isinstance(c.value, str)]
    assert "数据问题摘要（详见问题清单）" in texts
    assert "所属行业：“IT/互联网”" in texts


def test_json_output_carries_the_summary(refreshed: Any) -> None:
    path, _, _ = refreshed
    fresh = path.with_name("json.xlsx")
    shutil.copyfile(path.with_name("before.xlsx"), fresh)
    out = CliRunner().invoke(cli, ["refresh", str(fresh), "--json", "--dry-run", "--today", "2026-11-22"])
    data = json.loads(out.output)
    summary = data["issue_summary"]
    assert 0 < len(summary) <= 30
    industry = next(s for s in summary if s["value"] == "IT/互联网")
    assert industry["count"] == 56 and industry["code"] == "not-in-list" and len(industry["cells"]) == 3
    assert "信息技术" in industry["fix"] and industry["text"].startswith("所属行业: 'IT/互联网' × 56")


def test_the_settings_sheet_changes_what_is_required_end_to_end(sample_book: Path) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(sample_book)
    ws = wb["设置"]
    rows = {r[0].value: r for r in ws.iter_rows() if r[0].value}
    rows["必填字段"][1].value = "客户.企业官网"
    rows["选填字段"][1].value = "跟进记录.跟进内容；客户.联系方式"
    wb.save(sample_book)
    before, _ = read_book(sample_book, today=TODAY)
    no_site = int(before.tables["customers"].data["website"].isna().sum())
    issues = refresh(sample_book, today=TODAY, dry_run=True).plan.report.issues
    required = [(i.sheet, i.column) for i in issues if i.code == "missing-required"]
    assert required == [("客户", "website")] * no_site and no_site > 0
    assert not [i for i in issues if i.code in ("no-way-to-reach", "unknown-field-setting")]
