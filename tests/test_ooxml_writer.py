"""apply_changeset on small real packages: owned sheets replaced in place, bookkeeping kept consistent."""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import openpyxl
import pytest
import xlsxwriter

from crmbook.changeset import CellWrite, Changeset, ChartSpec, Highlight, OwnedSheet, SheetCell
from crmbook.errors import InputError
from crmbook.ooxml import apply_changeset, open_package
from crmbook.ooxml.package import content_type_of, parse_xml
from crmbook.ooxml.zipout import ZipAssembler

PNG = (
    b"\x89PNG\r\n\x1a\n"
    + struct.pack(">I", 13)
    + b"IHDR"
    + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    + struct.pack(">I", zlib.crc32(b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)))
    + struct.pack(">I", len(zlib.compress(b"\0\xff\0\0")))
    + b"IDAT"
    + zlib.compress(b"\0\xff\0\0")
    + struct.pack(">I", zlib.crc32(b"IDAT" + zlib.compress(b"\0\xff\0\0")))
    + struct.pack(">I", 0)
    + b"IEND"
    + struct.pack(">I", zlib.crc32(b"IEND"))
)


def make_book(path: Path, *, date_1904: bool = False) -> Path:
    """客户 (data), 看板 (an old dashboard with an image and a chart), Notes."""
    wb = xlsxwriter.Workbook(str(path), {"date_1904": date_1904})
    data = wb.add_worksheet("客户")
    data.write_row(0, 0, ["编号", "名称", "金额"])
    for r in range(1, 6):
        data.write_row(r, 1, [f"客户{r}", r * 100])
    data.write_formula("D2", "=C2*2", None, 200)
    board = wb.add_worksheet("看板")
    board.write_column(0, 0, ["a", "b"])
    board.write_column(0, 1, [1, 2])
    png = path.with_suffix(".png")
    png.write_bytes(PNG)
    board.insert_image("D2", str(png))
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "='看板'!$B$1:$B$2"})
    board.insert_chart("D10", chart)
    wb.add_worksheet("Notes").write("A1", "keep me")
    wb.close()
    return path


def dashboard(
    name: str = "看板", hidden: Literal[False, "hidden", "veryHidden"] = False, tab_color: str | None = None
) -> OwnedSheet:
    rows: list[list[SheetCell | None]] = [[SheetCell("状态", "header"), SheetCell("数量", "header")]]
    rows += [[SheetCell(s, link="'客户'!B2"), SheetCell(n, "integer")] for s, n in (("潜在", 3), ("成交", 5))]
    charts = [ChartSpec("pie", "状态", "D2", (2, 1, 3), ((2, 2, 3),))]
    return OwnedSheet(name, rows, charts=charts, hidden=hidden, tab_color=tab_color)


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def check_integrity(data: bytes) -> None:
    """Every relationship target exists and every part has a content type."""
    contents = parts(data)
    types = parse_xml(contents["[Content_Types].xml"], "[Content_Types].xml")
    for name in contents:
        if name != "[Content_Types].xml":
            assert content_type_of(types, name), f"{name} has no content type"
    for name, body in contents.items():
        if not name.endswith(".rels"):
            continue
        source_dir = posixpath.dirname(posixpath.dirname(name))
        for rel in parse_xml(body, name):
            if rel.get("TargetMode") == "External":
                continue
            target = posixpath.normpath(posixpath.join(source_dir, rel.get("Target", ""))).lstrip("/")
            assert target in contents, f"{name} points at missing {target}"


def apply(path: Path, changeset: Changeset, out: Path | None = None) -> Path:
    out = out or path.with_name(path.stem + "-out.xlsx")
    out.write_bytes(apply_changeset(path, changeset))
    return out


def test_empty_changeset_copies_every_part_as_stored(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    out = apply(src, Changeset())
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        for x, y in zip(a.infolist(), b.infolist(), strict=True):
            assert (x.CRC, x.compress_size, x.file_size) == (y.CRC, y.compress_size, y.file_size)


def test_owned_sheet_replaced_in_place_with_its_old_drawing_gone(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    out = apply(src, Changeset(owned_sheets=[dashboard()]))
    check_integrity(out.read_bytes())
    with open_package(out) as pkg:
        assert list(pkg.sheet_parts()) == ["客户", "看板", "Notes"]
        assert pkg.sheet_parts()["看板"] == "xl/worksheets/sheet2.xml"
        charts = [n for n in pkg.names if n.startswith("xl/charts/")]
        assert charts == ["xl/charts/chart1.xml"]
        assert not [n for n in pkg.names if n.startswith("xl/media/")]
        assert b"'\xe7\x9c\x8b\xe6\x9d\xbf'!$B$2:$B$3" in pkg.read("xl/charts/chart1.xml")
    before, after = parts(src.read_bytes()), parts(out.read_bytes())
    assert after["xl/worksheets/sheet3.xml"] == before["xl/worksheets/sheet3.xml"]
    assert after["xl/worksheets/sheet1.xml"] == before["xl/worksheets/sheet1.xml"]
    board = openpyxl.load_workbook(out)["看板"]
    assert board["A2"].value == "潜在"
    assert board["A2"].hyperlink.location == "'客户'!B2"


def test_applying_the_same_changeset_again_changes_nothing(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    changeset = Changeset(
        cell_writes=[CellWrite("客户", 2, 1, "C001"), CellWrite("客户", 3, 1, dt.date(2024, 5, 1))],
        highlights=[Highlight("客户", 4, 2, "error")],
        highlight_sheets={"客户"},
        owned_sheets=[dashboard(), dashboard("Extra", hidden="veryHidden", tab_color="C00000")],
    )
    once = apply(src, changeset)
    twice = apply(once, changeset, tmp_path / "twice.xlsx")
    assert once.read_bytes() == twice.read_bytes()
    check_integrity(twice.read_bytes())


def test_new_owned_sheets_go_at_the_end_with_fresh_ids(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    link = OwnedSheet("Links", [[SheetCell("site", "link", link="https://example.com/a?b=1&c=2")]])
    out = apply(src, Changeset(owned_sheets=[link, dashboard("Hidden", hidden="hidden")]))
    check_integrity(out.read_bytes())
    with open_package(out) as pkg:
        assert list(pkg.sheet_parts()) == ["客户", "看板", "Notes", "Links", "Hidden"]
        assert pkg.sheet_state("Hidden") == "hidden"
        rels = pkg.rels(pkg.sheet_parts()["Links"])
        assert rels[0][2:] == ("https://example.com/a?b=1&c=2", "External")
    wb = openpyxl.load_workbook(out)
    assert wb["Links"]["A1"].hyperlink.target == "https://example.com/a?b=1&c=2"
    ids = [
        s.get("sheetId")
        for s in parse_xml(parts(out.read_bytes())["xl/workbook.xml"], "wb").iter()
        if s.get("sheetId")
    ]
    assert len(set(ids)) == len(ids) == 5


def test_hiding_the_active_sheet_moves_the_active_tab(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    wb = openpyxl.load_workbook(src)
    wb.active = 1
    wb.save(src)
    out = apply(src, Changeset(owned_sheets=[dashboard(hidden="veryHidden")]))
    assert openpyxl.load_workbook(out).active.title == "客户"


def test_formula_overwrite_drops_the_calc_chain(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    with_chain = tmp_path / "chain.xlsx"
    contents = parts(src.read_bytes())
    contents["xl/calcChain.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><c r="D2" i="1"/></calcChain>'
    )
    contents["xl/_rels/workbook.xml.rels"] = contents["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'calcChain" Target="calcChain.xml"/></Relationships>',
    )
    contents["[Content_Types].xml"] = contents["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/calcChain.xml" '
        b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>',
    )
    with zipfile.ZipFile(with_chain, "w") as zf:
        for name, body in contents.items():
            zf.writestr(name, body)
    kept = parts(apply(with_chain, Changeset(cell_writes=[CellWrite("客户", 2, 1, "C1")])).read_bytes())
    assert "xl/calcChain.xml" in kept
    dropped = apply(with_chain, Changeset(cell_writes=[CellWrite("客户", 2, 4, 5)]), tmp_path / "d.xlsx")
    assert "xl/calcChain.xml" not in parts(dropped.read_bytes())
    check_integrity(dropped.read_bytes())
    assert b"calcChain" not in parts(dropped.read_bytes())["xl/_rels/workbook.xml.rels"]


def test_dates_follow_the_1904_system(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx", date_1904=True)
    out = apply(src, Changeset(cell_writes=[CellWrite("客户", 2, 5, dt.date(2024, 5, 1))]))
    cell = openpyxl.load_workbook(out)["客户"]["E2"]
    assert cell.value == dt.datetime(2024, 5, 1)
    assert cell.is_date


@pytest.mark.parametrize(
    ("changeset", "message"),
    [
        (Changeset(cell_writes=[CellWrite("Nope", 1, 1, "x")]), "no sheet named 'Nope'"),
        (Changeset(highlight_sheets={"Nope"}), "no sheet named 'Nope'"),
        (Changeset(cell_writes=[CellWrite("客户", 0, 1, "x")]), "out of range"),
        (  # records added to a full sheet (an import into 1,000,000 follow-ups): say so, and what to do
            Changeset(cell_writes=[CellWrite("客户", 1_048_577, 1, "x")]),
            r"sheet '客户' is full: an Excel sheet ends at row 1,048,576 and this needs row 1,048,577; "
            "move older records to an archive workbook",
        ),
        (Changeset(owned_sheets=[OwnedSheet("a/b", [])]), "invalid sheet name"),
        (Changeset(owned_sheets=[OwnedSheet("x" * 32, [])]), "invalid sheet name"),
        (Changeset(owned_sheets=[OwnedSheet("A", []), OwnedSheet("a", [])]), "appears twice"),
        (
            Changeset(cell_writes=[CellWrite("看板", 1, 1, "x")], owned_sheets=[dashboard()]),
            "generated by crmbook",
        ),
    ],
)
def test_changesets_that_do_not_fit_are_input_errors(
    tmp_path: Path, changeset: Changeset, message: str
) -> None:
    src = make_book(tmp_path / "b.xlsx")
    with pytest.raises(InputError, match=message):
        apply_changeset(src, changeset, lang="en")


def test_messages_follow_the_language(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    with pytest.raises(InputError, match="没有名为“Nope”的工作表"):
        apply_changeset(src, Changeset(cell_writes=[CellWrite("Nope", 1, 1, "x")]), lang="zh")


def test_package_without_styles_gets_one(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    contents = parts(src.read_bytes())
    del contents["xl/styles.xml"]
    for name in ("xl/_rels/workbook.xml.rels", "[Content_Types].xml"):
        contents[name] = re.sub(rb"<[^<>]*styles[^<>]*/>", b"", contents[name])
        assert b"styles" not in contents[name]
    bare = tmp_path / "bare.xlsx"
    with zipfile.ZipFile(bare, "w") as zf:
        for name, body in contents.items():
            zf.writestr(name, body)
    out = apply(bare, Changeset(owned_sheets=[dashboard("New")]))
    check_integrity(out.read_bytes())
    assert "xl/styles.xml" in parts(out.read_bytes())
    assert openpyxl.load_workbook(out)["New"]["A1"].font.b


def test_zip_assembler_copies_stored_streams() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.xml", "<a>" + "x" * 1000 + "</a>")
        zf.writestr("b/图.png", PNG, compress_type=zipfile.ZIP_STORED)
    out = ZipAssembler()
    with zipfile.ZipFile(buffer) as zf:
        for info in zf.infolist():
            raw_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            raw = buffer.getvalue()[raw_start : raw_start + info.compress_size]
            out.copy(info, raw)
    out.add("c.xml", b"<c/>")
    with zipfile.ZipFile(io.BytesIO(out.finish())) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["a.xml", "b/图.png", "c.xml"]
        assert zf.read("b/图.png") == PNG
        assert zf.read("c.xml") == b"<c/>"


def test_owned_autofilter_gets_its_hidden_name_and_loses_it_with_the_filter(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    rows: list[list[SheetCell | None]] = [[SheetCell("h", "header")], [SheetCell("v")]]
    filtered = apply(src, Changeset(owned_sheets=[OwnedSheet("Issues", rows, autofilter="A1:A2")]))
    wb = openpyxl.load_workbook(filtered)
    assert wb["Issues"].auto_filter.ref == "A1:A2"
    workbook_xml = parts(filtered.read_bytes())["xl/workbook.xml"]
    assert b'localSheetId="3" hidden="1">\'Issues\'!$A$1:$A$2</definedName>' in workbook_xml
    again = apply(filtered, Changeset(owned_sheets=[OwnedSheet("Issues", rows)]), tmp_path / "again.xlsx")
    assert b"_FilterDatabase" not in parts(again.read_bytes())["xl/workbook.xml"]
    assert openpyxl.load_workbook(again)["Issues"].auto_filter.ref is None


def test_an_image_shared_with_a_user_sheet_survives_replacing_the_owned_sheet(tmp_path: Path) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(PNG)
    src = tmp_path / "shared.xlsx"
    wb = xlsxwriter.Workbook(str(src))
    wb.add_worksheet("客户").insert_image("B2", str(image))
    wb.add_worksheet("看板").insert_image("B2", str(image))
    wb.close()
    assert [n for n in parts(src.read_bytes()) if n.startswith("xl/media/")] == ["xl/media/image1.png"]
    out = apply(src, Changeset(owned_sheets=[dashboard()]))
    check_integrity(out.read_bytes())
    after = parts(out.read_bytes())
    assert after["xl/media/image1.png"] == PNG
    assert "xl/drawings/drawing1.xml" in after  # the user's drawing, untouched
    assert after["xl/drawings/drawing1.xml"] == parts(src.read_bytes())["xl/drawings/drawing1.xml"]


def test_unusable_values_are_input_errors_not_crashes(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    with pytest.raises(InputError, match="32767"):
        apply_changeset(src, Changeset(cell_writes=[CellWrite("客户", 2, 1, "x" * 40_000)]), lang="en")
    bad_chart = OwnedSheet(
        "C", [[SheetCell(1)]], charts=[ChartSpec("bar", "t", "A1", (1, 0, 2), ((1, 1, 2),))]
    )
    with pytest.raises(InputError, match="cannot build sheet 'C'"):
        apply_changeset(src, Changeset(owned_sheets=[bad_chart]), lang="en")


def test_sheets_inflated_ahead_give_the_same_workbook(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read and located ahead: the writer looks through none of them again, and writes the same bytes."""
    from crmbook.ooxml import inflate_sheets, sheetxml
    from crmbook.reader import read_book, record_sheet_names
    from crmbook.refresh import plan_refresh

    book, structural = read_book(sample_book, today=dt.date(2026, 11, 22))
    plan = plan_refresh(book, structural, now=dt.datetime(2026, 11, 22, 9))
    inflated = inflate_sheets(sample_book, record_sheet_names)
    with open_package(sample_book) as pkg:
        parts = pkg.sheet_parts()
        assert inflated == {parts[t.sheet_name]: pkg.read(parts[t.sheet_name]) for t in book.tables.values()}
    assert set(inflated.shapes) == set(inflated)
    located: list[bytes] = []
    real_prefix = sheetxml.main_prefix
    monkeypatch.setattr(sheetxml, "main_prefix", lambda data: located.append(data) or real_prefix(data))
    ahead = apply_changeset(sample_book, plan.changeset, inflated=inflated)
    assert located == []  # no record sheet located again
    assert ahead == apply_changeset(sample_book, plan.changeset)
    assert len(located) == len(inflated)  # without them, each record sheet is located
    assert inflate_sheets(sample_book, record_sheet_names, at_most=1000) == {}  # too big to hold: not read
    assert inflate_sheets(sample_book.with_name("missing.xlsx"), record_sheet_names) == {}


def test_cell_edits_worked_out_ahead_give_the_same_workbook(tmp_path: Path) -> None:
    from crmbook.ooxml import Patcher

    book = make_book(tmp_path / "b.xlsx")
    texts = [CellWrite("客户", r, 1, f"C{r:03d}") for r in range(2, 7)]
    dates = [CellWrite("客户", 2, 5, dt.date(2026, 11, 22))]  # column E has no date format yet
    changeset = Changeset(
        cell_writes=[*texts, *dates],
        highlights=[Highlight("客户", 3, 2, "error")],
        owned_sheets=[dashboard()],
    )
    expected = apply_changeset(book, changeset)
    with Patcher(book) as patcher:  # prepared here, dates included
        patcher.prepare(changeset.cell_writes)
        assert patcher.apply(changeset) == expected
    with Patcher(book) as elsewhere:
        assert set(elsewhere.ahead(texts)) == {"客户"}
        assert elsewhere.ahead(dates) == {}  # needs a new cell format: left to the patcher that saves
        assert elsewhere.ahead([CellWrite("nowhere", 1, 1, "x")]) == {}  # a failed head start is no start
        prepared = elsewhere.ahead(texts)
    with Patcher(book) as patcher:  # worked out elsewhere for other writes than the final ones: not used
        patcher.adopt(prepared)
        assert patcher.apply(changeset) == expected
    with Patcher(book) as patcher:
        patcher.adopt(prepared)
        text_only = Changeset(cell_writes=texts)
        assert patcher.apply(text_only) == apply_changeset(book, text_only)


def test_owned_sheets_rendered_ahead_give_the_same_workbook(tmp_path: Path) -> None:
    from crmbook.ooxml import Patcher

    book = make_book(tmp_path / "b.xlsx")
    listing = OwnedSheet(
        "待跟进",
        [
            [SheetCell("客户", "header"), SheetCell("到期", "header"), SheetCell("备注", "header")],
            [
                SheetCell("甲", link="'客户'!B2"),
                SheetCell(dt.date(2026, 11, 1), "date"),
                SheetCell('<c r="A1" s="1000002">'),
            ],
            [SheetCell("乙"), SheetCell(dt.datetime(2026, 11, 2, 9, 30), "date"), SheetCell(None, "wrap")],
            [SheetCell(3, "integer"), SheetCell(dt.datetime(2026, 11, 3), "date"), None],
        ],
    )
    dates = [CellWrite("客户", 2, 5, dt.date(2026, 11, 22))]  # a new cell format, added before the owned ones
    changeset = Changeset(cell_writes=dates, owned_sheets=[dashboard(), listing])
    expected = apply_changeset(book, changeset)
    with Patcher(book) as patcher:
        patcher.prepare_owned(changeset.owned_sheets)  # before the cell writes add their format
        assert len(patcher._build.rendered) == 2
        assert patcher.apply(changeset) == expected
        assert not patcher._build.rendered  # both were used
    with Patcher(book) as patcher:  # rendered ahead, then the changeset holds other sheets: not used
        patcher.prepare_owned([dashboard(), listing])
        assert patcher.apply(changeset) == expected


@pytest.mark.parametrize("workers", ["1", ""])
def test_a_big_owned_sheet_is_written_the_same_in_one_process_or_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """Its first rows are rendered in a second process (where the system allows one) while the user
    sheets are patched; its cell formats are settled first, in either case: the same bytes."""
    from crmbook.ooxml import writer

    monkeypatch.setattr(writer, "ROWS_BESIDE", 50)
    book = make_book(tmp_path / "b.xlsx")
    log = OwnedSheet(
        "变更日志",
        [[SheetCell("时间", "header"), SheetCell("记录", "header")]]
        + [
            [SheetCell(dt.datetime(2026, 11, 1 + n % 20, n % 24, 30), "datetime"), SheetCell(f"C{n}")]
            for n in range(200)
        ],
    )
    changeset = Changeset(
        cell_writes=[CellWrite("客户", 2, 5, dt.date(2026, 11, 22))], owned_sheets=[dashboard(), log]
    )
    monkeypatch.setenv("CRMBOOK_WORKERS", "1")
    expected = apply_changeset(book, changeset)
    monkeypatch.setenv("CRMBOOK_WORKERS", workers)
    assert apply_changeset(book, changeset) == expected
    sheet = openpyxl.load_workbook(io.BytesIO(expected))["变更日志"]
    assert sheet["A201"].value == dt.datetime(2026, 11, 20, 7, 30) and sheet["B201"].value == "C199"
    assert sheet["A2"].number_format != sheet["B2"].number_format  # a date-time format


def _change_log(rows: list[list[object]], kept: list[list[object]] | None = None) -> OwnedSheet:
    """A two-column log sheet of ``rows``; with ``kept``, one that grows under those (KeptRows)."""
    from crmbook.changeset import KeptRows

    cells = [[SheetCell(v, "datetime" if i == 0 else "text") for i, v in enumerate(r)] for r in rows]
    return OwnedSheet(
        "变更日志",
        [[SheetCell("时间", "header"), SheetCell("记录", "header")], *cells],
        autofilter=f"A1:B{1 + len(rows) + len(kept or [])}",
        kept=None
        if kept is None
        else KeptRows(
            len(kept),
            lambda: kept,  # type: ignore[arg-type,return-value]
            lambda i, v: SheetCell(v, "datetime" if i == 0 else "text"),
        ),
    )


@pytest.mark.parametrize("workers", ["1", ""])
def test_the_new_rows_of_a_big_growing_sheet_are_written_the_same_in_one_process_or_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The Change log after a collect: thousands of new rows under the kept ones, the first of them
    rendered in a second process (where the system allows one), numbered on from the kept rows."""
    from crmbook.ooxml import writer

    log = _change_log
    first = [[dt.datetime(2026, 11, 1, 9, 30), f"C{n}"] for n in range(3)]
    then = [[dt.datetime(2026, 11, 2, n % 24, 0), f"D{n}"] for n in range(300)]
    written = apply(make_book(tmp_path / "b.xlsx"), Changeset(owned_sheets=[log(first)]), tmp_path / "1.xlsx")
    monkeypatch.setattr(writer, "ROWS_BESIDE", 50)
    monkeypatch.setenv("CRMBOOK_WORKERS", "1")
    expected = apply_changeset(written, Changeset(owned_sheets=[log(then, kept=first)]))
    monkeypatch.setenv("CRMBOOK_WORKERS", workers)
    assert apply_changeset(written, Changeset(owned_sheets=[log(then, kept=first)])) == expected
    rows = list(openpyxl.load_workbook(io.BytesIO(expected))["变更日志"].iter_rows(values_only=True))
    assert rows[1:] == [tuple(r) for r in first + then]


def test_an_owned_sheet_with_kept_rows_grows_under_them(tmp_path: Path) -> None:
    """The rows it already holds stay byte for byte; only the new ones are written (and the sheet's
    dimension and filter grow). When the sheet does not end with the kept rows it is written whole."""
    book = make_book(tmp_path / "b.xlsx")
    log = _change_log

    first = [[dt.datetime(2026, 11, 1, 9, 30), f"C{n}"] for n in range(3)]
    then = [[dt.datetime(2026, 11, 2, 10, 0), "C7"], [dt.datetime(2026, 11, 2, 10, 0), "C8 & <co>"]]
    written = apply(book, Changeset(owned_sheets=[log(first)]), tmp_path / "1.xlsx")
    grown = apply(written, Changeset(owned_sheets=[log(then, kept=first)]), tmp_path / "2.xlsx")
    whole = apply(written, Changeset(owned_sheets=[log(first + then)]), tmp_path / "3.xlsx")

    def sheet_xml(path: Path) -> bytes:
        with open_package(path) as pkg:
            return pkg.read(pkg.sheet_parts()["变更日志"])

    before, after = sheet_xml(written), sheet_xml(grown)
    close = before.index(b"</sheetData>")
    assert after.startswith(before[:close].replace(b'ref="A1:B4"', b'ref="A1:B6"'))
    values = [[c.value for c in row] for row in openpyxl.load_workbook(grown)["变更日志"].iter_rows()]
    assert values == [[c.value for c in row] for row in openpyxl.load_workbook(whole)["变更日志"].iter_rows()]
    assert values[-1] == [dt.datetime(2026, 11, 2, 10, 0), "C8 & <co>"]
    assert b'<autoFilter ref="A1:B6"/>' in after
    # kept rows the sheet does not end with (someone deleted one): written whole, nothing lost
    again = apply(
        written, Changeset(owned_sheets=[log(then, kept=[*first, [None, "C9"]])]), tmp_path / "4.xlsx"
    )
    values = [[c.value for c in row] for row in openpyxl.load_workbook(again)["变更日志"].iter_rows()]
    assert [v[1] for v in values] == ["记录", "C0", "C1", "C2", "C9", "C7", "C8 & <co>"]
