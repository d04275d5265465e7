"""A user's formulas survive crmbook: undo-merge gives a formula back as a formula; shared formulas are
read cell by cell as Excel moves them."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.ooxml.formulas import row_formulas
from crmbook.template import create_workbook
from tests.conftest import TODAY, soffice_convert
from tests.producers import FORMULA_HEADER, FORMULA_SHEET, excel_style

DAY = ["--today", "2026-11-22"]
USER_COLUMN = "名称长度"


def _with_user_formulas(path: Path, tmp_path: Path) -> Path:
    """The book with a user column of formulas, saved with their results by a spreadsheet program
    (LibreOffice, recalculating), as a book a team uses holds them."""
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    col = ws.max_column + 1
    ws.cell(1, col, USER_COLUMN)
    for r in range(2, ws.max_row + 1):
        ws.cell(r, col, f"=LEN(B{r})")
    wb.save(path)
    return soffice_convert(path, "xlsx:Calc MS Excel 2007 XML", tmp_path / "saved")


def _log(book: Path) -> list[tuple[object, ...]]:
    return list(openpyxl.load_workbook(book, read_only=True)["变更记录"].iter_rows(values_only=True))


@pytest.mark.libreoffice
def test_undo_merge_gives_a_formula_back_as_a_formula(tmp_path: Path) -> None:
    book = _with_user_formulas(
        create_workbook(tmp_path / "crm.xlsx", sample=60, seed=4, today=TODAY), tmp_path
    )
    assert openpyxl.load_workbook(book, data_only=True)["客户"].cell(2, 1).value is not None
    runner = CliRunner()
    assert runner.invoke(cli, ["refresh", str(book), *DAY]).exit_code in (0, 1)
    out = runner.invoke(cli, ["merge", str(book), "--auto-threshold", "0.6", *DAY])
    assert out.exit_code in (0, 1) and "undo-merge" in out.output, out.output
    merge_id = out.output.split("undo-merge ")[1].split()[1]
    ws = openpyxl.load_workbook(book)["客户"]
    col = [c.value for c in ws[1]].index(USER_COLUMN) + 1
    emptied = [
        r for r in range(2, ws.max_row + 1) if ws.cell(r, 2).value is None and ws.cell(r, col).value is None
    ]
    assert emptied, "the merge empties the merged-away rows"
    logged = len(_log(book))
    undo = runner.invoke(cli, ["undo-merge", str(book), merge_id, *DAY])
    assert undo.exit_code in (0, 1), undo.output
    ws = openpyxl.load_workbook(book)["客户"]
    for r in emptied:
        assert ws.cell(r, col).value == f"=LEN(B{r})"
    cached = openpyxl.load_workbook(book, data_only=True)["客户"]
    assert all(isinstance(cached.cell(r, col).value, int) for r in emptied)  # the value it showed is kept
    # the formulas given back are remembered as formulas: neither the undo nor the next refresh logs them
    assert runner.invoke(cli, ["refresh", str(book), *DAY]).exit_code in (0, 1)
    assert [row for row in _log(book)[logged:] if row[3] == USER_COLUMN] == []
    with zipfile.ZipFile(book) as z:
        assert b'fullCalcOnLoad="1"' in z.read("xl/workbook.xml")


def test_shared_formulas_are_read_per_cell(tmp_path: Path) -> None:
    canonical = create_workbook(tmp_path / "canonical.xlsx", sample=10, seed=2, today=dt.date(2026, 11, 22))
    book = excel_style(canonical, tmp_path / "excel.xlsx")
    ws = openpyxl.load_workbook(book)[FORMULA_SHEET]
    col = [c.value for c in ws[1]].index(FORMULA_HEADER) + 1
    amount = [c.value for c in ws[1]].index("预计金额") + 1
    letter = openpyxl.utils.get_column_letter(amount)
    found = row_formulas(book, FORMULA_SHEET, [2, 3, 5])
    assert found == {(r, col): f"{letter}{r}*1.13" for r in (2, 3, 5)}


def _formula_column(book: Path, rows: int) -> str:
    """The customers sheet with a user column of formulas (=LEN(B2) …) right of its last column, as
    a spreadsheet program saves it; its letter."""
    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    col = ws.max_column + 1
    ws.cell(1, col, USER_COLUMN)
    for r in range(2, rows + 2):
        ws.cell(r, col, f"=LEN(B{r})")
    wb.save(book)
    return openpyxl.utils.get_column_letter(col)


def _formula_at(book: Path, ref: str) -> object:
    return openpyxl.load_workbook(book)["客户"][ref].value


def test_collect_undo_gives_a_formula_back_as_a_formula(tmp_path: Path) -> None:
    from tests.test_team import edit_in_excel

    book = create_workbook(tmp_path / "crm.xlsx", sample=40, seed=4, today=TODAY)
    runner = CliRunner()
    assert runner.invoke(cli, ["refresh", str(book), *DAY]).exit_code in (0, 1)
    letter = _formula_column(book, 40)
    ws = openpyxl.load_workbook(book)["客户"]
    owner = [c.value for c in ws[1]].index("负责人")
    rep, record = ws.cell(2, owner + 1).value, ws.cell(2, 1).value
    split = runner.invoke(cli, ["split", str(book), "-o", str(tmp_path / "team"), *DAY])
    assert split.exit_code == 0, split.output
    edit_in_excel(tmp_path / "team" / f"{rep}.xlsx", [("客户", record, USER_COLUMN, 77)])
    out = runner.invoke(cli, ["collect", str(tmp_path / "team" / f"{rep}.xlsx"), "--into", str(book), *DAY])
    assert out.exit_code in (0, 1) and "collect --undo" in out.output, out.output
    assert _formula_at(book, f"{letter}2") == 77  # the rep's value, typed over the formula
    collect_id = out.output.split("collect --undo ")[1].split()[1]
    undo = runner.invoke(cli, ["collect", "--undo", str(book), collect_id, *DAY])
    assert undo.exit_code in (0, 1), undo.output
    assert _formula_at(book, f"{letter}2") == "=LEN(B2)"


def test_import_undo_gives_a_formula_back_as_a_formula(tmp_path: Path) -> None:
    book = create_workbook(tmp_path / "crm.xlsx", sample=40, seed=4, today=TODAY)
    letter = _formula_column(book, 40)
    ws = openpyxl.load_workbook(book)["客户"]
    headers = [c.value for c in ws[1]]
    name, phone = ws.cell(3, 2).value, ws.cell(3, headers.index("主联系电话") + 1).value
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(f"客户名称,主联系电话,{USER_COLUMN}\n{name},{phone},高\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(cli, ["import", str(legacy), "--into", str(book), *DAY])
    assert out.exit_code in (0, 1) and "import --undo" in out.output, out.output
    assert _formula_at(book, f"{letter}3") == "高"  # the customer matched and was updated
    import_id = out.output.split("import --undo ")[1].split()[1]
    undo = runner.invoke(cli, ["import", "--undo", str(book), import_id, *DAY])
    assert undo.exit_code in (0, 1), undo.output
    assert _formula_at(book, f"{letter}3") == "=LEN(B3)"


def test_a_formula_column_filled_down_past_the_records_adds_no_records(tmp_path: Path) -> None:
    """People fill a formula column down past the data, ready for the next records (=X25*0.1 shows 0 on
    an empty row): those rows are not customers, get no ID and no issue, and the table keeps its size."""
    from crmbook.changeset import CellWrite, Changeset, Formula
    from crmbook.ooxml import apply_changeset
    from crmbook.reader import read_book

    book = create_workbook(tmp_path / "crm.xlsx", sample=20, seed=4, today=TODAY)
    customers = read_book(book, today=TODAY)[0].tables["customers"]
    last, col = int(customers.data.index.max()), max(customers.columns.values()) + 1
    won = openpyxl.utils.get_column_letter(customers.col("won_amount"))
    writes = [CellWrite("客户", 1, col, "佣金")] + [
        CellWrite("客户", r, col, Formula(f"{won}{r}*0.1", 0)) for r in range(2, last + 40)
    ]
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=writes)))
    table_before = openpyxl.load_workbook(book)["客户"].tables["Customers"].ref
    out = CliRunner().invoke(cli, ["refresh", str(book), *DAY])
    assert out.exit_code in (0, 1), out.output
    ws = openpyxl.load_workbook(book)["客户"]
    assert [r for r in range(last + 1, last + 40) if ws.cell(r, 1).value is not None] == []
    assert ws.tables["Customers"].ref == table_before
    assert f"第 {last + 1} 行" not in out.output
    assert len(read_book(book, today=TODAY)[0].tables["customers"].data) == len(customers.data)


def test_a_sheet_without_formulas_is_told_by_a_byte_search_and_any_prefix_is_seen() -> None:
    from crmbook.ooxml.formulas import may_hold_formulas

    english = b"<c><is><t>" + b"office staff of " * 2_000 + b"</t></is></c>"  # past the byte search
    for cell in (
        b'<c r="A1"><f>B1*2</f></c>',
        b'<x:c r="A1"><x:f t="shared" si="0"/></x:c>',
        b"<f\n>B1</f>",
        english + b'<c r="A1"><f>B1*2</f></c>',
        english + b'<x:c r="A1"><x:f>B1*2</x:f></x:c>',
    ):
        assert may_hold_formulas(cell), cell[-40:]
    assert may_hold_formulas(b'<x:c r="A1"><x:f>B1*2</x:f></x:c>', b"x:")
    assert not may_hold_formulas(b'<x:c r="A1"><x:f>B1*2</x:f></x:c>', b"")
    for other in (
        b"<formula1>A1</formula1>",
        b"<font/>",
        b"<fill><patternFill/></fill>",
        b"<cfRule><formula>1</formula>",
    ):
        assert not may_hold_formulas(other), other
        assert not may_hold_formulas(english + other), other


def test_formulas_are_looked_for_in_the_sheets_already_read(tmp_path: Path) -> None:
    """A collect or import hands the record sheets its editor read to the formula lookup: their bytes
    are used instead of the file's, and a sheet found to hold no formula is not looked through."""
    from crmbook.ooxml import inflate_sheets
    from crmbook.ooxml.package import open_package

    book = create_workbook(tmp_path / "crm.xlsx", sample=5, seed=1, today=TODAY)
    letter = _formula_column(book, 3)
    inflated = inflate_sheets(book, lambda names: [n for n in names if n in ("客户", "联系人")])
    with open_package(book) as pkg:
        customers, contacts = pkg.sheet_parts()["客户"], pkg.sheet_parts()["联系人"]
    assert customers not in inflated.without_formulas and contacts in inflated.without_formulas
    col = openpyxl.utils.column_index_from_string(letter)
    assert row_formulas(book, "客户", [2, 3], inflated) == {(2, col): "LEN(B2)", (3, col): "LEN(B3)"}

    inflated[customers] = inflated[customers].replace(b"LEN(B3)", b"LEN(C3)")  # as read, not as on disk
    assert row_formulas(book, "客户", [3], inflated) == {(3, col): "LEN(C3)"}
    inflated[contacts] = b"<not read/>"  # a sheet without formulas is never looked through
    assert row_formulas(book, "联系人", [2], inflated) == {}


def test_a_sheet_too_big_to_read_ahead_is_looked_through_in_pieces(tmp_path: Path, monkeypatch) -> None:
    """When the record sheets are too big to be read ahead, the formula lookup goes through each one in
    pieces: a formula tag cut between two pieces is found, and a sheet without any is never held whole."""
    from crmbook.edit import learn_formulas
    from crmbook.ooxml.formulas import pieces_may_hold_formulas
    from crmbook.ooxml.package import Package, open_package
    from crmbook.ooxml.writer import InflatedSheets
    from crmbook.reader import read_book

    data = b'<row r="2"><c r="B2"><v>1</v></c><c r="C2"><x:f>B2*2</x:f><v>2</v></c></row>'
    cut = data.index(b"<x:f") + 3
    assert pieces_may_hold_formulas([data[:cut], data[cut:]])
    assert not pieces_may_hold_formulas([b"<formula1>A1</formula1>" * 50, b"<cfRule><formula>1</formula>"])

    book_path = create_workbook(tmp_path / "crm.xlsx", sample=5, seed=1, today=TODAY)
    letter = _formula_column(book_path, 3)
    book, _ = read_book(book_path, today=TODAY)
    read_whole: list[str] = []
    real_read = Package.read
    monkeypatch.setattr(Package, "read", lambda pkg, name: read_whole.append(name) or real_read(pkg, name))
    learn_formulas(book, InflatedSheets())  # nothing read ahead
    formulas = book.tables["customers"].formulas[USER_COLUMN]
    assert {r: f for r, (f, _) in formulas.items()} == {r: f"LEN(B{r})" for r in (2, 3, 4)}
    assert book.tables["customers"].col(USER_COLUMN) is None  # a user column: found by its letter
    assert book.tables["customers"].extra_columns[USER_COLUMN] == openpyxl.utils.column_index_from_string(
        letter
    )
    with open_package(book_path) as pkg:
        customers = pkg.sheet_parts()["客户"]
    assert [n for n in read_whole if "worksheets" in n] == [customers]  # the one sheet with formulas
    assert all(not t.formulas for k, t in book.tables.items() if k != "customers")
