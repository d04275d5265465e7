"""Fidelity: a user's workbook full of things crmbook does not model survives a surgical write.

The witness is built with XlsxWriter (not openpyxl, whose own load/save
would be the thing under suspicion): a macro-enabled book whose data sheet
has an empty ID column, a user column, a chart, an image, a form button
bound to a macro, comments, conditional formatting, a validation, a defined
name, a hidden column and merged cells, plus a user sheet. After crmbook
fills IDs, writes a date, highlights cells and adds two owned sheets, every
part it had no reason to touch must be byte-identical, and LibreOffice must
still open and render the result.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
import python_calamine as calamine
import xlsxwriter
from pypdf import PdfReader

from crmbook.changeset import CellWrite, Changeset, ChartSpec, Highlight, OwnedSheet, SheetCell
from crmbook.ooxml import apply_changeset, open_package

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
DATA = "xl/worksheets/sheet1.xml"
EDITABLE = {DATA, "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/styles.xml"}
# The real VBA project is built elsewhere (macros/); the engine only has to carry these bytes through.
VBA_PLACEHOLDER = b"crmbook test placeholder, not a real VBA project\0" + bytes(range(256)) * 4
FIRST_EMPTY_ID = 12
LAST_ROW = 21
DATE_ROW = 5


def png(width: int = 24, height: int = 16) -> bytes:
    """A small solid-colour RGB PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\0" + b"\x1f\x38\x64" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def build_witness(folder: Path) -> Path:
    path = folder / "witness.xlsm"
    (folder / "vbaProject.bin").write_bytes(VBA_PLACEHOLDER)
    (folder / "logo.png").write_bytes(png())
    wb = xlsxwriter.Workbook(str(path))
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7"})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0"})
    red = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
    ws = wb.add_worksheet("客户")
    ws.write_row(
        0, 0, ["客户编号", "客户名称", "首次接触日期", "预计金额", "客户等级", "内部", "我的备注"], bold
    )
    for r in range(2, LAST_ROW + 1):
        if r < FIRST_EMPTY_ID:
            ws.write_string(r - 1, 0, f"C2024{r:06d}")
        ws.write_string(r - 1, 1, f"客户{r}有限公司")
        if r != DATE_ROW:
            ws.write_datetime(r - 1, 2, dt.datetime(2024, 1, 1) + dt.timedelta(days=r), date)
        ws.write_number(r - 1, 3, r * 4500, money)
        ws.write_string(r - 1, 4, "ABC"[r % 3])
        ws.write_string(r - 1, 5, "x")
        ws.write_string(r - 1, 6, f"备注 {r}")
    ws.set_column("F:F", None, None, {"hidden": True})
    ws.set_column("A:A", 14)
    ws.set_column("B:B", 18)
    ws.set_column("C:C", 13)
    ws.merge_range("I1:J1", "合并标题", bold)
    ws.conditional_format("D2:D21", {"type": "cell", "criteria": ">", "value": 50000, "format": red})
    ws.data_validation("E2:E21", {"validate": "list", "source": ["A", "B", "C"]})
    ws.write_comment("B2", "重点客户，每周跟进")
    ws.write_comment("D3", "含税")
    ws.insert_image("L2", str(folder / "logo.png"))
    ws.insert_button("L8", {"macro": "refresh_crm", "caption": "刷新 Refresh", "width": 120})
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"name": "预计金额", "categories": "='客户'!$B$2:$B$8", "values": "='客户'!$D$2:$D$8"})
    ws.insert_chart("L12", chart)
    wb.define_name("客户名单", "='客户'!$B$2:$B$21")
    notes = wb.add_worksheet("备注")
    notes.write("A1", "用户自己的工作表")
    wb.add_vba_project(str(folder / "vbaProject.bin"))
    wb.close()
    return path


def changeset() -> Changeset:
    writes = [CellWrite("客户", r, 1, f"C2024{r:06d}") for r in range(FIRST_EMPTY_ID, LAST_ROW + 1)]
    writes.append(CellWrite("客户", DATE_ROW, 3, dt.date(2024, 5, 1)))
    marks = [
        Highlight("客户", 3, 2, "error"),
        Highlight("客户", 4, 2, "error"),
        Highlight("客户", 7, 4, "warning"),
    ]
    statuses = [("潜在客户", 8), ("意向客户", 5), ("成交客户", 4), ("流失客户", 3)]
    rows: list[list[SheetCell | None]] = [
        [SheetCell("客户看板 Dashboard", "title")],
        [SheetCell("生成于 2026-11-22", "subtitle")],
        [SheetCell("客户状态", "header"), SheetCell("客户数", "header"), SheetCell("示例", "header")],
    ]
    rows += [
        [
            SheetCell(name, "link", link=f"'客户'!B{i + 2}"),
            SheetCell(n, "integer"),
            SheetCell(dt.date(2024, 5, i + 1)),
        ]
        for i, (name, n) in enumerate(statuses)
    ]
    board = OwnedSheet(
        "客户看板",
        rows,
        widths={1: 16, 2: 10, 3: 12},
        freeze="A4",
        charts=[ChartSpec("pie", "客户状态分布", "E3", (4, 1, 7), ((4, 2, 7),), ("客户数",), 12, 7)],
        tab_color="1F3864",
    )
    state = OwnedSheet(
        "_crmbook",
        [[SheetCell("meta"), SheetCell("last_refresh"), SheetCell('"2026-11-22"')]],
        hidden="veryHidden",
    )
    return Changeset(writes, marks, {"客户"}, [board, state])


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def outside(sheet_xml: bytes, rows: set[int]) -> bytes:
    """The sheet without the given rows and without any conditional formatting."""
    out = re.sub(rb"<conditionalFormatting\b.*?</conditionalFormatting>", b"", sheet_xml, flags=re.S)
    for r in rows:
        out = re.sub(rb'<row r="' + str(r).encode() + rb'"[^>]*?(?:/>|>.*?</row>)', b"", out, flags=re.S)
    return out


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("fidelity")
    src = build_witness(folder)
    out = folder / "patched.xlsm"
    out.write_bytes(apply_changeset(src, changeset()))
    return src, out


def test_untouched_parts_are_byte_identical(witness: tuple[Path, Path]) -> None:
    src, out = witness
    before, after = parts(src.read_bytes()), parts(out.read_bytes())
    assert list(after)[: len(before)] == list(before), "original part order kept, new parts at the end"
    for name, body in before.items():
        if name not in EDITABLE:
            assert after[name] == body, f"{name} changed"
    assert after["xl/vbaProject.bin"] == VBA_PLACEHOLDER


def test_data_sheet_changes_only_in_touched_rows_and_conditional_formats(witness: tuple[Path, Path]) -> None:
    src, out = witness
    before, after = parts(src.read_bytes())[DATA], parts(out.read_bytes())[DATA]
    touched = set(range(FIRST_EMPTY_ID, LAST_ROW + 1)) | {DATE_ROW}
    assert outside(after, touched) == outside(before, touched)
    user_cf = re.findall(rb"<conditionalFormatting\b.*?</conditionalFormatting>", before, flags=re.S)
    assert user_cf and all(cf in after for cf in user_cf)
    assert after.count(b"crmbook-error") == 1 and after.count(b"crmbook-warning") == 1
    for r in range(2, FIRST_EMPTY_ID):
        if r != DATE_ROW:
            row = re.search(rb'<row r="' + str(r).encode() + rb'".*?</row>', before, flags=re.S)
            assert row is not None and row.group() in after


def test_written_cells_read_back(witness: tuple[Path, Path]) -> None:
    _, out = witness
    grid = calamine.CalamineWorkbook.from_path(str(out)).get_sheet_by_name("客户").to_python()
    assert [row[0] for row in grid[1:LAST_ROW]] == [f"C2024{r:06d}" for r in range(2, LAST_ROW + 1)]
    assert grid[DATE_ROW - 1][2] == dt.date(2024, 5, 1)
    wb = openpyxl.load_workbook(out, keep_vba=True)
    ws = wb["客户"]
    assert ws.cell(FIRST_EMPTY_ID, 1).value == f"C2024{FIRST_EMPTY_ID:06d}"
    assert ws.cell(DATE_ROW, 3).value == dt.datetime(2024, 5, 1)
    assert ws.cell(DATE_ROW, 3).is_date
    assert ws.column_dimensions["F"].hidden
    assert "I1:J1" in {str(r) for r in ws.merged_cells.ranges}
    assert "客户名单" in wb.defined_names
    assert ws.data_validations.dataValidation[0].formula1 == '"A,B,C"'
    assert wb.sheetnames == ["客户", "备注", "客户看板", "_crmbook"]
    assert wb["_crmbook"].sheet_state == "veryHidden"
    board = wb["客户看板"]
    assert board["A4"].hyperlink.location == "'客户'!B2"
    assert board.freeze_panes == "A4"
    assert board.sheet_properties.tabColor.rgb == "FF1F3864"
    assert board["C4"].is_date


def test_user_objects_are_still_referenced(witness: tuple[Path, Path]) -> None:
    _, out = witness
    with open_package(out) as pkg:
        workbook_rels = {
            rtype.rsplit("/", 1)[-1]: target for _, rtype, target, _ in pkg.rels(pkg.workbook_part)
        }
        assert workbook_rels["vbaProject"] == "xl/vbaProject.bin"
        sheet_rels = {rtype.rsplit("/", 1)[-1]: target for _, rtype, target, _ in pkg.rels(DATA)}
        assert {"drawing", "vmlDrawing", "comments"} <= set(sheet_rels)
        drawing_rels = {
            rtype.rsplit("/", 1)[-1]: target for _, rtype, target, _ in pkg.rels(sheet_rels["drawing"])
        }
        assert pkg.read(drawing_rels["image"]).startswith(b"\x89PNG")
        assert b"<c:barChart>" in pkg.read(drawing_rels["chart"])
        assert b"refresh_crm" in pkg.read(sheet_rels["vmlDrawing"])
        assert "重点客户".encode() in pkg.read(sheet_rels["comments"])
        types = pkg.read("[Content_Types].xml")
        assert b"application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types
        assert b"vnd.ms-office.vbaProject" in types


def test_second_run_does_not_grow_styles(witness: tuple[Path, Path], tmp_path: Path) -> None:
    src, out = witness
    again = tmp_path / "again.xlsm"
    again.write_bytes(apply_changeset(out, changeset()))
    first, second = parts(out.read_bytes()), parts(again.read_bytes())
    assert len(first["xl/styles.xml"]) > len(parts(src.read_bytes())["xl/styles.xml"])
    assert second["xl/styles.xml"] == first["xl/styles.xml"]
    assert second == first


def _soffice(args: list[str], profile: Path) -> None:
    cmd = ["soffice", "--headless", f"-env:UserInstallation=file://{profile}", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_and_renders_the_result(witness: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = witness
    profile = tmp_path / "lo"
    _soffice(["--convert-to", "pdf", "--outdir", str(tmp_path), str(out)], profile)
    pdf = tmp_path / "patched.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 1
    texts = [page.extract_text() or "" for page in reader.pages]
    assert any("C2024000012" in t for t in texts)
    board_pages = [i for i, t in enumerate(texts) if "客户看板" in t and "潜在客户" in t]
    assert board_pages, "the owned dashboard sheet is printed"

    recalculated = tmp_path / "recalc"
    _soffice(["--convert-to", "xlsx", "--outdir", str(recalculated), str(out)], profile)
    grid = calamine.CalamineWorkbook.from_path(str(recalculated / "patched.xlsx")).get_sheet_by_name("客户")
    assert grid.to_python()[LAST_ROW - 1][0] == f"C2024{LAST_ROW:06d}"

    if shutil.which("pdftoppm"):
        ARTEFACTS.mkdir(exist_ok=True)
        page = board_pages[0] + 1
        target = ARTEFACTS / "fidelity-dashboard"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", str(page), "-l", str(page), str(pdf), str(target)],
            check=True,
            timeout=60,
        )
        assert list(ARTEFACTS.glob("fidelity-dashboard*.png"))
