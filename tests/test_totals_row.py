"""A totals row (合计) of a user's Excel table is not a record, and rows imported into the table go inside
it, above the totals row, which moves down with its formulas."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.reader import read_book
from crmbook.template import create_workbook
from tests.conftest import TODAY
from tests.legacy_corpus import make_corpus


def _with_totals_row(path: Path) -> tuple[int, int]:
    """Give the customers table a totals row, as Excel's Table Design > Total Row does: (its row, the
    amount column)."""
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    table = next(iter(ws.tables.values()))
    first, _, last = table.ref.partition(":")
    last_col = "".join(ch for ch in last if ch.isalpha())
    totals = 1 + max(r for r in range(2, ws.max_row + 1) if ws.cell(r, 2).value is not None)
    table.ref = f"{first}:{last_col}{totals}"
    table.totalsRowCount = 1
    table.autoFilter.ref = f"{first}:{last_col}{totals - 1}"
    ws.cell(totals, 2, "合计")
    table.tableColumns[1].totalsRowLabel = "合计"
    table.tableColumns[0].totalsRowFunction = "count"
    ws.cell(totals, 1, f"=SUBTOTAL(103,{table.displayName}[{table.tableColumns[0].name}])")
    wb.save(path)
    return totals, 1


def test_totals_row_is_not_a_record_and_imports_go_above_it(tmp_path: Path) -> None:
    book = create_workbook(tmp_path / "crm.xlsx", sample=30, seed=3, today=TODAY)
    totals, _ = _with_totals_row(book)
    read, _ = read_book(book, today=TODAY)
    customers = read.tables["customers"].data
    assert totals not in customers.index
    assert "合计" not in set(customers["name"].dropna())

    ledger = make_corpus(tmp_path / "legacy").ledger
    out = CliRunner().invoke(
        cli, ["import", str(ledger), "--into", str(book), "--no-progress", "--today", "2026-11-22"]
    )
    assert out.exit_code in (0, 1), out.output

    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    table = next(iter(ws.tables.values()))
    last = int("".join(ch for ch in table.ref.split(":")[1] if ch.isdigit()))
    assert last > totals  # the table grew
    assert ws.cell(last, 2).value == "合计"  # the totals row is its last row again, moved down
    assert str(ws.cell(last, 1).value).startswith("=SUBTOTAL(103,")
    assert all(ws.cell(r, 2).value not in (None, "合计") for r in range(totals, last))  # imported rows inside
    assert all(ws.cell(r, c).value is None for r in range(last + 1, ws.max_row + 1) for c in (1, 2))
    read, _ = read_book(book, today=TODAY)
    assert "合计" not in set(read.tables["customers"].data["name"].dropna())
    with zipfile.ZipFile(book) as z:
        assert z.testzip() is None


def test_a_sum_row_typed_under_the_records_is_not_a_record_and_imports_stop_above_it(tmp_path: Path) -> None:
    """No Excel table totals row: people type 合计 under the list, with =SUM in the amount columns. It gets
    no ID and crmbook writes nothing over its sums; an import, whose rows would go below it, outside its
    sums, is refused with what to do, and writes nothing."""
    book = create_workbook(tmp_path / "crm.xlsx", sample=30, seed=3, today=TODAY)
    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    last = max(r for r in range(2, ws.max_row + 1) if ws.cell(r, 2).value is not None)
    total = last + 2  # a blank line between, as often
    ws.cell(total, 2, "合计")
    sums = {}
    for label in ("跟进次数", "在谈金额", "成交金额"):
        letter = openpyxl.utils.get_column_letter(headers.index(label) + 1)
        sums[letter] = ws[f"{letter}{total}"].value = f"=SUM({letter}2:{letter}{last})"
    wb.save(book)
    runner = CliRunner()
    out = runner.invoke(cli, ["refresh", str(book), "--today", str(TODAY)])
    assert out.exit_code in (0, 1), out.output
    assert f"第 {total} 行" not in out.output  # no issue of that row
    ws = openpyxl.load_workbook(book)["客户"]
    assert ws.cell(total, 1).value is None
    assert {letter: ws[f"{letter}{total}"].value for letter in sums} == sums
    customers = read_book(book, today=TODAY)[0].tables["customers"]
    assert total not in customers.data.index and customers.totals_below == [total]
    legacy = tmp_path / "legacy.csv"
    legacy.write_text("客户名称,主联系电话\n新客户科技有限公司,13912345678\n", encoding="utf-8")
    before = book.read_bytes()
    out = runner.invoke(cli, ["import", str(legacy), "--into", str(book), "--today", str(TODAY)])
    assert out.exit_code == 2 and str(book) in out.output and f"客户 row {total} totals" in out.output
    assert "Traceback" not in out.output and book.read_bytes() == before
