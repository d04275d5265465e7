"""Hostile and broken workbooks: a clear one-line error or a safe result, never a traceback or a hang."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.reader import read_book
from crmbook.refresh import refresh
from tests.conftest import TODAY

FIXTURE_XLS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "superstore.xls"


def _rewrite_part(
    src: Path, dst: Path, part: str, data: bytes, *, compress: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(
                item.filename,
                data if item.filename == part else zin.read(item.filename),
                compress_type=compress,
            )
    return dst


def _check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_xml_bomb_in_a_sheet_part(sample_book: Path, tmp_path: Path) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>'
    )
    bad = _rewrite_part(sample_book, tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", bomb)
    code, _ = _check(bad)
    assert code in (0, 1)  # read safely (entities not expanded) or refused with a message
    with pytest.raises(Exception) as info:
        refresh(bad, today=TODAY)
    assert "bomb.xlsx" in str(info.value)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_zip_bomb_is_refused_before_inflating(sample_book: Path, tmp_path: Path) -> None:
    huge = b"<x/>" + b" " * (600 * 2**20)
    bad = _rewrite_part(sample_book, tmp_path / "zipbomb.xlsx", "docProps/core.xml", huge)
    code, out = _check(bad)
    assert code == 1 and "zip bomb" in out


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_bombs_given_to_import_are_refused_in_one_line(sample_book: Path, tmp_path: Path) -> None:
    """The legacy file of an import is as untrusted as a workbook: an XML bomb in a sheet and a part
    inflating to 600 MiB are refused before anything expands, with one line naming the file."""
    xml_bomb = _rewrite_part(
        sample_book,
        tmp_path / "bomb.xlsx",
        "xl/worksheets/sheet1.xml",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>',
    )
    zip_bomb = _rewrite_part(
        sample_book, tmp_path / "zipbomb.xlsx", "xl/worksheets/sheet1.xml", b"<x/>" + b" " * (600 * 2**20)
    )
    into = sample_book
    for bad, says in [(xml_bomb, "uses XML entities of its own"), (zip_bomb, "refusing (zip bomb?)")]:
        result = CliRunner().invoke(cli, ["import", str(bad), "--into", str(into), "--dry-run"])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"crmbook: error: {bad}") and says in lines[0]


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_truncated_zip(sample_book: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.xlsx"
    bad.write_bytes(sample_book.read_bytes()[:5000])
    code, out = _check(bad)
    assert code == 1 and "cut.xlsx" in out


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_xls_renamed_to_xlsx_and_back(sample_book: Path, tmp_path: Path) -> None:
    if not FIXTURE_XLS.exists():
        pytest.skip("shared fixture superstore.xls not present")
    fake = tmp_path / "legacy.xlsx"
    shutil.copyfile(FIXTURE_XLS, fake)
    code, out = _check(fake)
    assert code == 1 and ".xls" in out and "legacy.xlsx" in out
    back = tmp_path / "modern.xls"
    shutil.copyfile(sample_book, back)
    code, _ = _check(back)
    assert code == 0  # content decides: it is a real workbook


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_encrypted_workbook(tmp_path: Path) -> None:
    # An OLE compound file whose directory names an EncryptionInfo stream, as Excel writes encrypted books.
    import struct

    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9)
    struct.pack_into("<H", header, 0x20, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    header[0x4C : 0x4C + 4 * 109] = struct.pack("<109I", 0, *([0xFFFFFFFF] * 108))
    fat = struct.pack("<128I", 0xFFFFFFFD, 0xFFFFFFFE, *([0xFFFFFFFF] * 126))
    entries = bytearray(512)
    for i, name in enumerate(("Root Entry", "EncryptionInfo")):
        raw = name.encode("utf-16-le") + b"\x00\x00"
        entries[i * 128 : i * 128 + len(raw)] = raw
        struct.pack_into("<H", entries, i * 128 + 64, len(raw))
    bad = tmp_path / "secret.xlsx"
    bad.write_bytes(bytes(header) + fat + bytes(entries))
    code, out = _check(bad)
    assert code == 1 and "encrypted" in out.lower()


@pytest.mark.broken_workbooks  # an OpenDocument file named .xlsx
def test_a_spreadsheet_in_libreoffice_format_is_named_with_what_to_do(
    sample_book: Path, tmp_path: Path
) -> None:
    from tests.conftest import soffice_convert

    ods = soffice_convert(sample_book, "ods", tmp_path / "lo")
    renamed = tmp_path / "crm-from-libreoffice.xlsx"
    shutil.copyfile(ods, renamed)
    for path in (ods, renamed):
        for args in (["check", str(path)], ["import", str(path), "--into", str(sample_book), "--dry-run"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code != 0 and "Traceback" not in result.output, args
            assert path.name in result.output and "OpenDocument" in result.output, args
            assert "Excel 2007-365 (.xlsx)" in result.output, args


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_csv_and_junk_named_xlsx(tmp_path: Path) -> None:
    csv = tmp_path / "export.xlsx"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    assert _check(csv)[0] == 1


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_long_cells_formulas_errors_and_merged_data(sample_book: Path) -> None:
    wb = openpyxl.load_workbook(sample_book)
    ws = wb["客户"]
    col = {c.value: c.column for c in ws[1]}
    notes, source = col["备注"], col["来源说明"]
    ws.cell(2, notes, "备" * 32767)
    ws.cell(3, notes, "=1/0")
    ws.cell(4, source, "#N/A")
    ws.merge_cells(start_row=5, start_column=notes, end_row=6, end_column=notes)
    wb.save(sample_book)
    book, _ = read_book(sample_book, today=TODAY)
    assert len(book.tables["customers"].data.at[2, "notes"]) == 32767
    result = refresh(sample_book, today=TODAY)
    assert result.written
    # A real error cell (t="e") reads as empty; a formula without a cached value too.
    after, _ = read_book(sample_book, today=TODAY)
    assert after.tables["customers"].data.at[4, "source_detail"] is None
    assert after.tables["customers"].data.at[3, "notes"] is None


@pytest.mark.parametrize("header", ["邮箱", "主联系电话", "所属行业"])
def test_a_cell_as_long_as_excel_allows_in_a_checked_column_is_an_issue_not_a_failure(
    sample_book: Path, header: str
) -> None:
    """A 32,767-character e-mail, phone or industry is a problem of that cell: the refresh names it, its
    message quotes the value's start, and the Issues sheet and the Dashboard (whose charts group by
    industry) are written, a label too long for a cell cut."""
    wb = openpyxl.load_workbook(sample_book)
    ws = wb["客户"]
    col = next(c.column for c in ws[1] if c.value == header)
    ws.cell(5, col, "甲" * 32767)
    wb.save(sample_book)
    result = refresh(sample_book, today=TODAY)
    assert result.written
    mine = [i for i in result.plan.report.issues if i.sheet == "客户" and i.row == 5 and i.col == col]
    assert mine, [(i.code, i.col) for i in result.plan.report.issues if i.row == 5]
    wb = openpyxl.load_workbook(sample_book, read_only=True)
    for sheet in ("问题清单", "看板"):
        longest = max(
            (len(str(v)) for row in wb[sheet].iter_rows(values_only=True) for v in row if v), default=0
        )
        assert longest <= 32767
    # a message names the cell and quotes the start of the value only
    assert all(len(i.message("zh")) < 400 for i in mine)


def test_a_phone_excel_took_for_a_number_is_quoted_as_typed(sample_book: Path) -> None:
    """02161234567 typed into a General cell becomes the number 2161234567: the Issues sheet quotes it
    as that number, not as 2161234567.0."""
    wb = openpyxl.load_workbook(sample_book)
    ws = wb["客户"]
    col = next(c.column for c in ws[1] if c.value == "主联系电话")
    ws.cell(5, col, 2161234567)
    wb.save(sample_book)
    refresh(sample_book, today=TODAY)
    wb = openpyxl.load_workbook(sample_book, read_only=True)
    texts = [str(v) for row in wb["问题清单"].iter_rows(values_only=True) for v in row if v is not None]
    assert "2161234567" in texts and not any("2161234567.0" in t for t in texts)


def test_duplicate_and_blank_headers(tmp_path: Path) -> None:
    from crmbook.schema import load_schema

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet("客户")
    ws.append(["客户编号", None, "客户名称", "主联系电话", "电话号码", "主联系电话", None])
    ws.append(["C1", "x", "甲公司", "13800138000", "13900139000", "13700137000", "y"])
    for spec in load_schema().sheets[1:]:
        wb.create_sheet(spec.zh).append([c.zh for c in spec.columns])
    path = tmp_path / "dups.xlsx"
    wb.save(path)
    code, out = _check(path)
    assert code == 1 and "主联系电话" in out


def test_a_value_in_the_last_of_1048576_rows(sample_book: Path) -> None:
    """A stray value in Excel's last row: read, flagged and refreshed, without filling a million rows."""
    from crmbook.changeset import CellWrite, Changeset
    from crmbook.ooxml import apply_changeset

    stray = Changeset(cell_writes=[CellWrite("客户", 1_048_576, 2, "最后一行的客户")])
    sample_book.write_bytes(apply_changeset(sample_book, stray))
    book, _ = read_book(sample_book, today=TODAY)
    customers = book.tables["customers"].data
    assert customers.index[-1] == 1_048_576 and len(customers) < 200
    result = refresh(sample_book, today=TODAY)
    assert result.written
    flagged = {(i.row, i.code) for i in result.plan.report.issues if i.sheet == "客户"}
    assert (1_048_576, "no-way-to-reach") in flagged
