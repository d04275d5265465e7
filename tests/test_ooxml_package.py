"""Opening packages safely: clear errors for files that are not workbooks, caps on inflation."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from crmbook.errors import WorkbookFileError
from crmbook.ooxml import Limits, open_package

SUPERSTORE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "superstore.xls"


def make_book(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("客户").write("A1", "编号")
    wb.add_worksheet("Hidden").hide()
    wb.add_worksheet("Notes")
    wb.close()
    return path


def rewrite(src: Path, dst: Path, changes: dict[str, bytes | None]) -> Path:
    """Copy a package, replacing (or with None: dropping) some parts and adding others."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            if name in changes:
                data = changes.pop(name)
                if data is not None:
                    zout.writestr(name, data)
            else:
                zout.writestr(name, zin.read(name))
        for name, data in changes.items():
            if data is not None:
                zout.writestr(name, data)
    return dst


def ole_file(streams: list[str]) -> bytes:
    """A minimal compound file: header, one FAT sector, one directory sector naming ``streams``."""
    free, end, fat_sect = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 4096, end, 0, end, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([free] * 108))
    fat = struct.pack("<128I", fat_sect, end, *([free] * 126))
    directory = bytearray(512)
    for i, name in enumerate(["Root Entry", *streams][:4]):
        encoded = name.encode("utf-16-le") + b"\0\0"
        directory[i * 128 : i * 128 + len(encoded)] = encoded
        struct.pack_into("<HB", directory, i * 128 + 64, len(encoded), 5 if i == 0 else 2)
    return bytes(header) + fat + bytes(directory)


def test_names_sheets_and_states(tmp_path: Path) -> None:
    with open_package(make_book(tmp_path / "b.xlsx")) as pkg:
        assert "[Content_Types].xml" in pkg.names
        assert list(pkg.sheet_parts()) == ["客户", "Hidden", "Notes"]
        assert pkg.sheet_parts()["客户"] == "xl/worksheets/sheet1.xml"
        assert pkg.sheet_state("Hidden") == "hidden"
        assert pkg.sheet_state("Notes") == "visible"
        assert pkg.read("XL/WORKBOOK.XML").startswith(b"<?xml")  # part names are case-insensitive
        info, raw = pkg.raw("xl/workbook.xml")
        assert info.compress_size == len(raw)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_text_file_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    path.write_text("name,phone\n")
    with pytest.raises(WorkbookFileError, match=r"not an \.xlsx/\.xlsm workbook"):
        open_package(path)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_missing_empty_and_folder(tmp_path: Path) -> None:
    with pytest.raises(WorkbookFileError, match="does not exist"):
        open_package(tmp_path / "nope.xlsx")
    (tmp_path / "empty.xlsx").write_bytes(b"")
    with pytest.raises(WorkbookFileError, match="empty"):
        open_package(tmp_path / "empty.xlsx")
    with pytest.raises(WorkbookFileError, match="folder"):
        open_package(tmp_path)


@pytest.mark.skipif(not SUPERSTORE.exists(), reason="shared fixture superstore.xls not present")
def test_legacy_xls_is_named_with_the_fix() -> None:
    with pytest.raises(WorkbookFileError, match=r"legacy \.xls.*save it as an Excel Workbook"):
        open_package(SUPERSTORE)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_encrypted_workbook_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "locked.xlsx"
    path.write_bytes(ole_file(["EncryptionInfo", "EncryptedPackage"]))
    with pytest.raises(WorkbookFileError, match=r"password-encrypted.*remove the password"):
        open_package(path)
    other = tmp_path / "old.xls"
    other.write_bytes(ole_file(["Workbook"]))
    with pytest.raises(WorkbookFileError, match="legacy"):
        open_package(other)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_truncated_zip(tmp_path: Path) -> None:
    data = make_book(tmp_path / "b.xlsx").read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(WorkbookFileError, match="damaged or incomplete"):
        open_package(cut)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_corrupt_part_is_reported_when_read(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename)
    for i in range(start, start + info.compress_size):
        data[i] ^= 0x5A
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(bytes(data))
    with (
        open_package(bad) as pkg,
        pytest.raises(WorkbookFileError, match=r"damaged: part xl/worksheets/sheet1\.xml"),
    ):
        pkg.read("xl/worksheets/sheet1.xml")


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_zip_bomb_caps(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    bomb = rewrite(src, tmp_path / "bomb.xlsx", {"xl/media/zeros.bin": bytes(3 * 2**20)})
    with pytest.raises(WorkbookFileError, match="zip bomb"):
        open_package(bomb, Limits(max_total=2 * 2**20))
    with (
        open_package(bomb, Limits(max_part=2**20)) as pkg,
        pytest.raises(WorkbookFileError, match="zip bomb"),
    ):
        pkg.read("xl/media/zeros.bin")
    with open_package(bomb, Limits(ratio_floor=2**20, max_ratio=100)) as pkg:
        with pytest.raises(WorkbookFileError, match="times its compressed size"):
            pkg.read("xl/media/zeros.bin")
        assert pkg.read("xl/workbook.xml")


def test_dtd_in_a_part_is_refused_naming_it(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    with zipfile.ZipFile(src) as zf:
        workbook = zf.read("xl/workbook.xml")
    evil = workbook.replace(
        b"<workbook ", b'<!DOCTYPE workbook [<!ENTITY lol "lol">]>\n<workbook ', 1
    ).replace(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n', b"")
    bad = rewrite(src, tmp_path / "dtd.xlsx", {"xl/workbook.xml": b'<?xml version="1.0"?>\n' + evil})
    with pytest.raises(WorkbookFileError, match=r"xl/workbook\.xml declares a DTD"):
        open_package(bad)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_zip_that_is_not_a_spreadsheet(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("hello.txt", "hi")
    path = tmp_path / "other.xlsx"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(WorkbookFileError, match=r"not an \.xlsx/\.xlsm workbook"):
        open_package(path)


def test_a_part_that_is_not_what_its_entry_declares_is_refused(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    name = "xl/worksheets/sheet1.xml"
    with open_package(src) as pkg:
        whole = pkg.read(name)
        info = pkg._info(name)
        info.file_size = len(whole) - 10  # the entry says less than the stream holds
        with pytest.raises(WorkbookFileError, match="inflates beyond its declared size"):
            pkg.read(name)
        info.file_size, info.CRC = len(whole), info.CRC ^ 1
        with pytest.raises(WorkbookFileError, match=r"damaged: part .*checksum"):
            pkg.read(name)


def test_a_part_is_given_in_pieces_as_read_whole_and_never_past_its_declared_size(tmp_path: Path) -> None:
    src = make_book(tmp_path / "b.xlsx")
    name = "xl/worksheets/sheet1.xml"
    stored = rewrite(src, tmp_path / "stored.xlsx", {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zout:
        for entry in zin.namelist():
            zout.writestr(entry, zin.read(entry))
    for book in (src, stored):
        with open_package(book) as pkg:
            whole = pkg.read(name)
            pieces = list(pkg.pieces(name, size=100))
            assert b"".join(pieces) == whole and len(pieces) == -(-len(whole) // 100)
            assert all(len(p) == 100 for p in pieces[:-1])
            pkg._info(name).file_size = len(whole) - 10  # the entry says less than the stream holds
            with pytest.raises(WorkbookFileError, match=r"inflates beyond its declared size|is damaged"):
                list(pkg.pieces(name, size=100))
