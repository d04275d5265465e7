"""Export and redaction: personal data masked, formula-looking text never becomes a formula."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.redact import redact_text
from crmbook.validate import luhn
from tests.builders import make_book


def _card() -> str:
    base = "622202123456789012"
    return next(base + str(d) for d in range(10) if luhn(base + str(d)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13800138000", "138****8000"),
        ("+86 138 0013 8000", "+86 138 **** 8000"),
        ("0755-86013388转801", "0755-****3388转801"),
        ("010-12345678；13900139000", "010-****5678；139****9000"),
        ("身份证 11010519491231002X", "身份证 110105***********X"),
        ("zhang.wei@hx-tech.cn", "z***@hx-tech.cn"),
        ("编号 C2026000013 订单 2026112200001", "编号 C2026000013 订单 2026112200001"),
        ("没有号码", "没有号码"),
        # what a lenient phone search also takes, left as it is: dates, amounts, a credit code
        ("2026-11-30 回访，报价 1310000 元", "2026-11-30 回访，报价 1310000 元"),
        ("2026/3/5 打电话 13900139000", "2026/3/5 打电话 139****9000"),
        ("¥1310000", "¥1310000"),
        ("统一社会信用代码 91310000MA1FL0001X", "统一社会信用代码 91310000MA1FL0001X"),
        ("座机 61234567", "座机 61**4567"),  # a local number without its area code is still masked
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_bank_cards_keep_their_last_four() -> None:
    card = _card()
    assert redact_text(f"卡号 {card}") == f"卡号 {'*' * (len(card) - 4)}{card[-4:]}"


def _book_with_hostile_text(tmp_path: Path) -> Path:
    from crmbook.changeset import CellWrite, Changeset
    from crmbook.ooxml import apply_changeset
    from crmbook.template import create_workbook

    path = create_workbook(tmp_path / "crm.xlsx", sample=5, seed=2)
    writes = [
        CellWrite("客户", 2, 18, '=HYPERLINK("http://evil","点我")'),
        CellWrite("客户", 3, 18, "@SUM(1+1)"),
        CellWrite("客户", 4, 13, "13800138000"),
    ]
    path.write_bytes(apply_changeset(path, Changeset(cell_writes=writes)))
    return path


def test_csv_export_is_redacted_and_formula_safe(tmp_path: Path) -> None:
    book = _book_with_hostile_text(tmp_path)
    out = tmp_path / "customers.csv"
    result = CliRunner().invoke(cli, ["export", str(book), "-o", str(out), "--redact"])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header = rows[0]
    notes, phone, cid = header.index("备注"), header.index("主联系电话"), header.index("客户编号")
    assert rows[1][notes] == '\'=HYPERLINK("http://evil","点我")'
    assert rows[2][notes] == "'@SUM(1+1)"
    assert rows[3][phone] == "138****8000"
    assert all(r[cid].startswith("C") and "*" not in r[cid] for r in rows[1:])
    assert len(rows) == 1 + 5
    again = CliRunner().invoke(cli, ["export", str(book), "-o", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_xlsx_export_stores_formula_looking_text_as_text(tmp_path: Path) -> None:
    book = _book_with_hostile_text(tmp_path)
    out = tmp_path / "all.xlsx"
    result = CliRunner().invoke(cli, ["export", str(book), "-o", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["客户", "联系人", "跟进记录", "销售机会"]
    ws = wb["客户"]
    header = [c.value for c in ws[1]]
    assert header[:2] == ["Customer ID", "Customer name"]
    cell = ws.cell(2, header.index("Notes") + 1)
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    assert ws.cell(4, header.index("Main phone") + 1).value == "13800138000"


def test_export_errors_are_clear(tmp_path: Path) -> None:
    book = _book_with_hostile_text(tmp_path)
    bad = CliRunner().invoke(cli, ["export", str(book), "-o", str(tmp_path / "x.txt")])
    assert bad.exit_code == 2 and "export writes .csv or .xlsx" in bad.output
    two = CliRunner().invoke(
        cli,
        ["export", str(book), "-o", str(tmp_path / "x.csv"), "--sheet", "customers", "--sheet", "contacts"],
    )
    assert two.exit_code == 2 and "a CSV file holds one sheet" in two.output


def test_table_rows_mask_only_personal_columns() -> None:
    from crmbook.export import table_rows

    book = make_book(customers=[{"customer_id": "C2026000013", "name": "甲", "phone": "13800138000"}])
    header, rows = table_rows(book.tables["customers"], "zh", redact=True)
    record = dict(zip(header, rows[0], strict=True))
    assert record["客户编号"] == "C2026000013" and record["主联系电话"] == "138****8000"
