"""The self-check before a save refuses a faulty package and leaves the file on disk as it was;
``crmbook new`` writes the same workbook whether or not lxml is installed."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from crmbook.errors import FaultyOutputError
from crmbook.ooxml import selfcheck
from crmbook.ooxml.selfcheck import check_package
from crmbook.safe_save import save_workbook_bytes, write_new_file


def _rezip(src: Path, change: dict[str, bytes | None]) -> bytes:
    """``src``'s package with parts replaced (or removed, for None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in change:
                data = change.pop(info.filename)
                if data is not None:
                    zout.writestr(info.filename, data)
            else:
                zout.writestr(info, zin.read(info))
        for name, data in change.items():
            assert data is not None
            zout.writestr(name, data)
    return out.getvalue()


def _workbook_xml(src: Path) -> bytes:
    with zipfile.ZipFile(src) as z:
        return z.read("xl/workbook.xml")


def test_a_sound_package_passes(sample_book: Path) -> None:
    assert check_package(sample_book.read_bytes(), str(sample_book)) == []
    assert check_package(sample_book.read_bytes()) == []


def test_an_unbound_prefix_is_refused_and_the_file_kept(sample_book: Path) -> None:
    before = sample_book.read_bytes()
    xml = _workbook_xml(sample_book).replace(
        b"<sheets>", b'<sheets><sheet name="x" sheetId="99" r:id="rId99"/>', 1
    )
    xml = xml.replace(b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"', b"")
    broken = _rezip(sample_book, {"xl/workbook.xml": xml})
    with pytest.raises(FaultyOutputError) as caught:
        save_workbook_bytes(sample_book, broken, expected=None)
    message = str(caught.value)
    assert str(sample_book) in message
    assert "part xl/workbook.xml" in message and "unbound prefix" in message
    assert "was not changed" in message and "please report it" in message
    assert sample_book.read_bytes() == before
    assert not list(sample_book.parent.glob(".~crmbook-*"))  # no temporary file left


def test_a_dangling_relationship_is_refused(sample_book: Path) -> None:
    broken = _rezip(sample_book, {"xl/worksheets/sheet1.xml": None})
    faults = check_package(broken, str(sample_book))
    assert any(f.part == "xl/_rels/workbook.xml.rels" and "sheet1.xml" in f.problem for f in faults)


def test_a_part_without_content_type_is_refused(tmp_path: Path, sample_book: Path) -> None:
    broken = _rezip(sample_book, {"xl/extra.bin": b"\0\1"})
    with pytest.raises(FaultyOutputError, match=r"part xl/extra\.bin: has no content type"):
        write_new_file(tmp_path / "new.xlsx", broken)
    assert not (tmp_path / "new.xlsx").exists()


@pytest.mark.broken_workbooks
def test_faults_the_previous_version_had_are_not_crmbooks(tmp_path: Path, sample_book: Path) -> None:
    old = tmp_path / "old.xlsx"
    old.write_bytes(_rezip(sample_book, {"xl/extra.bin": b"\0"}))  # the user's file already had it
    assert check_package(old.read_bytes(), str(old)) == []
    assert [f.part for f in check_package(old.read_bytes())] == ["xl/extra.bin"]


def test_spliced_text_is_checked(sample_book: Path) -> None:
    with zipfile.ZipFile(sample_book) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    data = _rezip(
        sample_book, {"xl/worksheets/sheet1.xml": sheet + b"\n"}
    )  # changed: only the splices are parsed
    root = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    assert (
        check_package(data, str(sample_book), {"xl/worksheets/sheet1.xml": (root, [b'<row r="2"/>'])}) == []
    )
    faults = check_package(data, str(sample_book), {"xl/worksheets/sheet1.xml": (root, [b'<x:row r="2"/>'])})
    assert faults and "unbound prefix" in faults[0].problem


@pytest.mark.broken_workbooks
def test_parsing_shared_with_a_second_core_finds_the_same_faults(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with zipfile.ZipFile(sample_book) as z:
        names = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")][:4]
        parts = {n: z.read(n) for n in names}
    # Two parts cut short, two spliced, one of them badly: whichever process parses a part, each fault
    # is found, in the package's order.
    broken = {names[0]: parts[names[0]][:-20], names[2]: parts[names[2]][:-20]}
    broken.update({n: parts[n] + b"\n" for n in names[1::2]})
    data = _rezip(sample_book, broken)
    root = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    spliced = {names[1]: (root, [b'<row r="2"/>']), names[3]: (root, [b'<x:row r="2"/>'])}
    alone = check_package(data, str(sample_book), spliced)
    monkeypatch.setattr(selfcheck, "_SHARED", 0)  # shared from the first byte
    shared = check_package(data, str(sample_book), spliced)
    assert shared == alone and [f.part for f in shared] == [names[0], names[2], names[3]]


def _new(tmp_path: Path, name: str, *, block_lxml: bool) -> Path:
    target = tmp_path / name
    code = (
        "import sys; sys.modules['lxml'] = None\n" if block_lxml else ""
    ) + "from crmbook.cli import main\nmain()"
    env = {k: v for k, v in os.environ.items() if k != "OPENPYXL_LXML"}
    subprocess.run(
        [sys.executable, "-c", code, "new", str(target), "--sample", "40", "--today", "2026-11-22"],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    return target


def test_new_writes_the_same_workbook_with_and_without_lxml(tmp_path: Path) -> None:
    pytest.importorskip("lxml", reason="the environment with lxml runs this comparison")
    with_lxml = _new(tmp_path, "with.xlsx", block_lxml=False)
    without = _new(tmp_path, "without.xlsx", block_lxml=True)
    stamp = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>")
    with zipfile.ZipFile(with_lxml) as a, zipfile.ZipFile(without) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            x, y = a.read(name), b.read(name)
            if name == "docProps/core.xml":
                x, y = stamp.sub(b"", x), stamp.sub(b"", y)
            assert x == y, name
