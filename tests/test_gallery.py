"""The producers gallery: the canonical workbook as each program writes it goes through every command.

For each producer (tests/producers.py) the book is refreshed, merged, the merge undone, a legacy ledger
imported, the buttons installed and the monthly report written. Every workbook this writes is validated
against ECMA-376 and the integrity checks at the end of the session (tests/conftest.py); here each result
must load in openpyxl, the last one must convert in LibreOffice, and what the user typed must survive.
"""

from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.template import create_workbook
from tests.conftest import TODAY, soffice_convert
from tests.legacy_corpus import make_corpus
from tests.producers import (
    FORMULA_HEADER,
    FORMULA_SHEET,
    PRODUCERS,
    WPS_IMAGE_HEADER,
    WPS_IMAGE_PARTS,
    M,
    wps_images_in_cells,
)

DAY = ["--today", "2026-11-22"]


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_workbook(
        tmp_path_factory.mktemp("gallery") / "canonical.xlsx", sample=40, seed=5, today=TODAY
    )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("gallery-legacy")).ledger


def _run(*args: str) -> str:
    out = CliRunner().invoke(cli, [*args])
    assert out.exit_code in (0, 1), f"crmbook {' '.join(args)} exited {out.exit_code}:\n{out.output}"
    return out.output


def _loads(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():  # Gnumeric writes no cellStyles; openpyxl says so and uses its own
        warnings.filterwarnings("ignore", "Workbook contains no default style", UserWarning)
        wb = openpyxl.load_workbook(path)
    assert wb.sheetnames
    return wb


def _part(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(name)


def _wps_images(path: Path) -> tuple[dict[str, bytes], list[str]]:
    """The picture parts of a WPS book with pictures in cells, and the 名片 column's formulas."""
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in WPS_IMAGE_PARTS}
        assert b"http://www.wps.cn/officeDocument/2020/cellImage" in z.read("xl/_rels/workbook.xml.rels")
        assert b"/xl/cellimages.xml" in z.read("[Content_Types].xml")
    ws = _loads(path)["客户"]
    col = [c.value for c in ws[1]].index(WPS_IMAGE_HEADER) + 1
    formulas = [str(ws.cell(r, col).value) for r in range(2, ws.max_row + 1) if ws.cell(r, col).value]
    assert formulas and all(f.startswith("=_xlfn.DISPIMG(") for f in formulas), formulas
    return parts, formulas


@pytest.mark.libreoffice
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_every_command_on_every_producers_book(
    producer: str, canonical: Path, ledger: Path, tmp_path: Path
) -> None:
    book = PRODUCERS[producer](canonical, tmp_path / "crm.xlsx")
    _loads(book)
    pictures = _wps_images(book) if producer == "wps-images-in-cells" else None

    _run("refresh", str(book), *DAY)
    wb = _loads(book)
    assert "看板" in wb.sheetnames and "问题清单" in wb.sheetnames
    assert wb["客户"]["B2"].value  # what the user typed is there
    workbook_xml = _part(book, "xl/workbook.xml")
    assert b'fullCalcOnLoad="1"' in workbook_xml  # cells formulas read changed: recalculated on open
    if producer.startswith("excel"):
        assert b'mc:Ignorable="x15 xr xr6 xr10 xr2"' in workbook_xml
        sheet = _loads(book)[FORMULA_SHEET]
        col = [c.value for c in sheet[1]].index(FORMULA_HEADER) + 1
        assert [sheet.cell(r, col).value for r in (2, 3)] == [f"=F{r}*1.13" for r in (2, 3)] or all(
            str(sheet.cell(r, col).value).startswith("=") for r in (2, 3)
        )
    if producer == "openxml-sdk":
        assert f'xmlns:x="{M}"'.encode() in workbook_xml

    output = _run("merge", str(book), "--auto-threshold", "0.6", *DAY)
    _loads(book)
    if "undo-merge" in output:
        merge_id = output.split("undo-merge ")[1].split()[1]
        _run("undo-merge", str(book), merge_id, *DAY)
        _loads(book)

    _run("import", str(ledger), "--into", str(book), "--no-progress", *DAY)
    _loads(book)
    if pictures is not None:  # refreshed, merged, unmerged, imported into: the pictures are all there
        assert _wps_images(book) == pictures

    xlsm = tmp_path / "crm.xlsm"
    _run("install-buttons", str(book), "-o", str(xlsm))
    _loads(xlsm)

    report = tmp_path / "report.xlsx"
    _run("report", str(book), "--month", "2026-10", "-o", str(report))
    _loads(report)

    converted = soffice_convert(xlsm, "ods", tmp_path / "lo")  # LibreOffice opens it
    assert converted.stat().st_size > 1000
    shutil.rmtree(tmp_path / "lo", ignore_errors=True)


def test_pictures_wps_placed_in_cells_stay_through_a_split_and_collect(
    canonical: Path, tmp_path: Path
) -> None:
    book = wps_images_in_cells(canonical, tmp_path / "crm.xlsx")
    _run("refresh", str(book), *DAY)
    pictures = _wps_images(book)
    _run("split", str(book), "-o", str(tmp_path / "team"), *DAY)
    rep = next((tmp_path / "team").glob("*.xlsx"))
    wb = _loads(rep)
    ws = wb["客户"]
    header = [c.value for c in ws[1]]
    ws.cell(2, header.index("客户等级") + 1).value = "A"  # the rep edits their first customer
    wb.save(rep)
    output = _run("collect", str(tmp_path / "team"), "--into", str(book), *DAY)
    assert "1 cell applied" in output, output
    assert _wps_images(book) == pictures
