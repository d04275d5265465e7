"""The canonical workbook as other programs write it, for the producers gallery (tests/test_gallery.py).

Each producer takes the workbook ``crmbook new`` wrote and gives the same book as another program
serialises it: openpyxl with lxml (namespace declarations on each ``<sheet>``), XlsxWriter, a re-save
by LibreOffice or by Gnumeric, Excel's way (every namespace on the root, ``mc:Ignorable="x14ac xr xr2
xr3"``, ``xr:uid``, ``x14ac:dyDescent``, a calcChain, a user formula column as shared formulas, shared
or inline strings) and the Open XML SDK's way (SpreadsheetML under an ``x:`` prefix).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import soffice_convert

M = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
EXCEL_SHEET_ROOT = (
    f'<worksheet xmlns="{M}" xmlns:r="{R}" xmlns:mc="{MC}" mc:Ignorable="x14ac xr xr2 xr3" '
    'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" '
    'xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" '
    'xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2" '
    'xmlns:xr3="http://schemas.microsoft.com/office/spreadsheetml/2016/revision3" '
    'xr:uid="{{00000000-0001-0000-{n:04d}-000000000000}}">'
)
EXCEL_WORKBOOK_ROOT = (
    f'<workbook xmlns="{M}" xmlns:r="{R}" xmlns:mc="{MC}" mc:Ignorable="x15 xr xr6 xr10 xr2" '
    'xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main" '
    'xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" '
    'xmlns:xr6="http://schemas.microsoft.com/office/spreadsheetml/2016/revision6" '
    'xmlns:xr10="http://schemas.microsoft.com/office/spreadsheetml/2016/revision10" '
    'xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2">'
    '<fileVersion appName="xl" lastEdited="7" lowestEdited="7" rupBuild="27328"/>'
)
FORMULA_SHEET = "销售机会"
FORMULA_HEADER = "含税金额"


def _rewrite(
    src: Path, dst: Path, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes]
) -> Path:
    """``src`` with each part passed through ``change`` (None drops it) and ``extra`` parts added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in extra.items():
            zout.writestr(name, data)
    return dst


def openpyxl_stdlib(canonical: Path, dst: Path) -> Path:
    """openpyxl without lxml: what ``crmbook new`` writes."""
    return Path(shutil.copyfile(canonical, dst))


def openpyxl_lxml(canonical: Path, dst: Path) -> Path:
    """``crmbook new`` with openpyxl told to use lxml (as it does on its own where lxml is installed)."""
    pytest.importorskip("lxml", reason="openpyxl serialises with lxml only where lxml is installed")
    env = {**os.environ, "OPENPYXL_LXML": "True"}
    code = "from crmbook.cli import main\nmain()"
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "new",
            str(dst),
            "--sample",
            "40",
            "--seed",
            "5",
            "--today",
            "2026-11-22",
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    with zipfile.ZipFile(dst) as z:
        assert b"<sheet xmlns:r=" in z.read("xl/workbook.xml")  # really lxml's serialisation
    return dst


def xlsxwriter_book(canonical: Path, dst: Path) -> Path:
    """The same sheets, values, number formats, column widths and named lists, written by XlsxWriter."""
    import openpyxl
    import xlsxwriter

    src = openpyxl.load_workbook(canonical)
    out = xlsxwriter.Workbook(str(dst))
    formats: dict[str, object] = {}
    for ws in src.worksheets:
        target = out.add_worksheet(ws.title)
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                fmt = None
                if cell.number_format != "General":
                    fmt = formats.setdefault(
                        cell.number_format, out.add_format({"num_format": cell.number_format})
                    )
                if isinstance(cell.value, dt.datetime | dt.date):
                    fmt = fmt or formats.setdefault(
                        "yyyy-mm-dd", out.add_format({"num_format": "yyyy-mm-dd"})
                    )
                    target.write_datetime(cell.row - 1, cell.column - 1, cell.value, fmt)
                else:
                    target.write(cell.row - 1, cell.column - 1, cell.value, fmt)
    for name, defined in src.defined_names.items():
        out.define_name(name, "=" + defined.attr_text)
    out.close()
    return dst


def libreoffice_resave(canonical: Path, dst: Path) -> Path:
    folder = dst.parent / "lo-out"
    folder.mkdir(exist_ok=True)
    made = soffice_convert(canonical, "xlsx:Calc MS Excel 2007 XML", folder)
    return Path(shutil.move(made, dst))


def gnumeric_resave(canonical: Path, dst: Path) -> Path:
    ssconvert = shutil.which("ssconvert")
    if ssconvert is None:
        if os.environ.get("CI"):
            pytest.fail("ssconvert is missing on CI: .ci/run installs gnumeric")
        pytest.skip("Gnumeric (ssconvert) is not installed")
    subprocess.run(
        [ssconvert, "--export-type=Gnumeric_Excel:xlsx2", str(canonical), str(dst)],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "HOME": str(dst.parent)},
    )
    return dst


def _with_formula_column(canonical: Path, dst: Path) -> tuple[Path, str, int, int]:
    """A copy with a user column of formulas on the opportunities sheet: (path, column letter, first
    and last row)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    wb = openpyxl.load_workbook(canonical)
    ws = wb[FORMULA_SHEET]
    headers = [c.value for c in ws[1]]
    amount = get_column_letter(headers.index("预计金额") + 1)
    col = ws.max_column + 1
    letter = get_column_letter(col)
    ws.cell(1, col, FORMULA_HEADER)
    last = ws.max_row
    for r in range(2, last + 1):
        ws.cell(r, col, f"={amount}{r}*1.13")
    wb.save(dst)
    return dst, letter, 2, last


def excel_style(canonical: Path, dst: Path, *, inline_strings: bool = False) -> Path:
    """The book as Excel saves it: root-declared namespaces, mc:Ignorable, xr:uid, dyDescent, shared
    formulas with a calcChain, calcPr without fullCalcOnLoad (Excel drops it), shared or inline strings."""
    base, letter, first, last = _with_formula_column(canonical, dst.with_name(dst.stem + "-base.xlsx"))
    with zipfile.ZipFile(base) as z:
        workbook = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        sst = z.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in z.namelist() else ""
    strings = [
        html.unescape("".join(re.findall(r"<t[^>]*>([^<]*)</t>", si)))
        for si in re.findall(r"<si>(.*?)</si>", sst, re.S)
    ]
    sheet_names = re.findall(r'<sheet [^>]*name="([^"]+)"[^>]*r:id="(rId\d+)"', workbook)
    targets = dict(re.findall(r'Id="(rId\d+)"[^>]*Target="/?(?:xl/)?([^"]+)"', rels))
    targets.update({k: v for v, k in re.findall(r'Target="/?(?:xl/)?([^"]+)"[^>]*Id="(rId\d+)"', rels)})
    formula_part = "xl/" + targets[dict(sheet_names)[FORMULA_SHEET]]
    formula_sheet_id = [name for name, _ in sheet_names].index(FORMULA_SHEET) + 1

    def sheet(name: str, xml: str, n: int) -> str:
        xml = re.sub(r"<worksheet [^>]*>", EXCEL_SHEET_ROOT.format(n=n), xml, count=1)
        xml = re.sub(r"<row ([^>]*?)(/?)>", r'<row \1 x14ac:dyDescent="0.25"\2>', xml)
        if inline_strings:
            xml = re.sub(
                r'<c ([^>]*?)t="s"([^>]*)><v>(\d+)</v></c>',
                lambda m: (
                    f'<c {m[1]}t="inlineStr"{m[2]}><is><t xml:space="preserve">'
                    f"{html.escape(strings[int(m[3])], quote=False)}</t></is></c>"
                ),
                xml,
            )
        if name == formula_part:
            cell = re.compile(rf'<c r="{letter}(\d+)"([^>]*)><f>([^<]*)</f>(?:<v\s*/>|<v>[^<]*</v>)?</c>')

            def shared(m: re.Match[str]) -> str:
                row = int(m[1])
                f = (
                    f'<f t="shared" ref="{letter}{first}:{letter}{last}" si="0">{m[3]}</f>'
                    if row == first
                    else '<f t="shared" si="0"/>'
                )
                return f'<c r="{letter}{row}"{m[2]}>{f}<v>0</v></c>'

            xml, n = cell.subn(shared, xml)
            assert n == last - first + 1, n
        return xml

    calc_chain = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<calcChain xmlns="{M}">'
        + "".join(
            f'<c r="{letter}{r}" i="{formula_sheet_id}"/>' if r == first else f'<c r="{letter}{r}"/>'
            for r in range(first, last + 1)
        )
        + "</calcChain>"
    )
    counter = iter(range(1, 1000))

    def change(name: str, data: bytes) -> bytes | None:
        text = data.decode("utf-8")
        if name == "xl/workbook.xml":
            text = re.sub(r"<workbook [^>]*>", EXCEL_WORKBOOK_ROOT, text, count=1)
            text = re.sub(r' xmlns:r="[^"]*"(?= name=| sheetId=)', "", text)
            text = re.sub(r"<calcPr[^>]*/>", '<calcPr calcId="191029"/>', text)
            return text.encode()
        if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
            return sheet(name, text, next(counter)).encode()
        if name == "xl/_rels/workbook.xml.rels":
            return text.replace(
                "</Relationships>",
                '<Relationship Id="rId900" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                'relationships/calcChain" Target="calcChain.xml"/></Relationships>',
            ).encode()
        if name == "[Content_Types].xml":
            return text.replace(
                "</Types>",
                '<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.spreadsheetml.calcChain+xml"/></Types>',
            ).encode()
        return data

    _rewrite(base, dst, change, {"xl/calcChain.xml": calc_chain.encode()})
    base.unlink()
    return dst


def excel_inline_strings(canonical: Path, dst: Path) -> Path:
    return excel_style(canonical, dst, inline_strings=True)


_UNPREFIXED = re.compile(r"<(/?)([A-Za-z_][\w.\-]*)(?=[\s/>])")


def openxml_sdk(canonical: Path, dst: Path) -> Path:
    """SpreadsheetML parts under an ``x:`` prefix, as the Open XML SDK writes them."""

    def change(name: str, data: bytes) -> bytes | None:
        spreadsheetml = name in ("xl/workbook.xml", "xl/styles.xml", "xl/sharedStrings.xml") or (
            name.startswith("xl/worksheets/sheet") and name.endswith(".xml")
        )
        if not spreadsheetml:
            return data
        text = data.decode("utf-8")
        assert f'xmlns="{M}"' in text, name
        text = _UNPREFIXED.sub(lambda m: f"<{m[1]}x:{m[2]}", text)
        text = text.replace(f'xmlns="{M}"', f'xmlns:x="{M}"')
        return text.encode()

    return _rewrite(canonical, dst, change, {})


WPS_IMAGE_HEADER = "名片"
WPS_IMAGE_PARTS = ("xl/cellimages.xml", "xl/_rels/cellimages.xml.rels", "xl/media/image1.png")
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63fccfc0500f000485018084a98c210000000049454e44ae426082"
)


def wps_images_in_cells(canonical: Path, dst: Path, rows: tuple[int, ...] = (2, 3, 4)) -> Path:
    """Pictures placed in cells by WPS 表格 (嵌入单元格图片), as it saves them: a 名片 column of the customers
    sheet whose cells hold ``=_xlfn.DISPIMG("ID_…",1)`` with the text ``=DISPIMG("ID_…",1)`` as their
    value, and the pictures in the workbook-level ``xl/cellimages.xml`` (WPS's own namespace, content
    type and relationship type) with its relationships and media."""
    import openpyxl
    from openpyxl.worksheet.table import TableColumn

    ids = [f"ID_{n:032X}" for n in range(1, len(rows) + 1)]
    wb = openpyxl.load_workbook(canonical)
    ws = wb["客户"]
    col = ws.max_column + 1
    ws.cell(1, col).value = WPS_IMAGE_HEADER
    for row, image in zip(rows, ids, strict=True):
        ws.cell(row, col).value = f'=_xlfn.DISPIMG("{image}",1)'
    table = next(iter(ws.tables.values()))
    start, end = table.ref.split(":")
    table.ref = f"{start}:{openpyxl.utils.get_column_letter(col)}{''.join(c for c in end if c.isdigit())}"
    table.autoFilter.ref = table.ref
    table.tableColumns.append(TableColumn(id=len(table.tableColumns) + 1, name=WPS_IMAGE_HEADER))
    saved = dst.with_name(dst.stem + "-openpyxl.xlsx")
    wb.save(saved)
    sheet = "xl/worksheets/sheet1.xml"  # the customers sheet, the first
    pictures = "".join(
        f'<etc:cellImage><xdr:pic><xdr:nvPicPr><xdr:cNvPr id="{n + 2}" name="{image}" descr="名片"/>'
        '<xdr:cNvPicPr><a:picLocks noChangeAspect="1"/></xdr:cNvPicPr></xdr:nvPicPr><xdr:blipFill>'
        '<a:blip r:embed="rId1"/><a:stretch><a:fillRect/></a:stretch></xdr:blipFill><xdr:spPr><a:xfrm>'
        '<a:off x="0" y="0"/><a:ext cx="1143000" cy="685800"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/>'
        "</a:prstGeom></xdr:spPr></xdr:pic></etc:cellImage>"
        for n, image in enumerate(ids)
    )
    extra = {
        "xl/cellimages.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<etc:cellImages '
            'xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
            f'xmlns:r="{R}" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            f'xmlns:etc="http://www.wps.cn/officeDocument/2017/etCustomData">{pictures}</etc:cellImages>'
        ).encode(),
        "xl/_rels/cellimages.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{R}/image" Target="media/image1.png"/></Relationships>'
        ).encode(),
        "xl/media/image1.png": _PNG,
    }

    def change(name: str, data: bytes) -> bytes | None:
        text = data.decode("utf-8") if name.endswith((".xml", ".rels")) else None
        if name == "xl/_rels/workbook.xml.rels":
            assert text is not None
            return text.replace(
                "</Relationships>",
                '<Relationship Id="rIdWps1" Type="http://www.wps.cn/officeDocument/2020/cellImage" '
                'Target="cellimages.xml"/></Relationships>',
            ).encode()
        if name == "[Content_Types].xml":
            assert text is not None
            if 'Extension="png"' not in text:
                text = text.replace(
                    "<Default ", '<Default Extension="png" ContentType="image/png"/><Default ', 1
                )
            return text.replace(
                "</Types>",
                '<Override PartName="/xl/cellimages.xml" '
                'ContentType="application/vnd.wps-officedocument.cellimage+xml"/></Types>',
            ).encode()
        if name == sheet:
            assert text is not None
            text, found = re.subn(
                r'<c r="([A-Z]+\d+)"([^>]*)><f>(_xlfn\.DISPIMG\(([^<]*)\))</f>(?:<v\s*/>|<v></v>)?</c>',
                lambda m: f'<c r="{m[1]}"{m[2]} t="str"><f>{m[3]}</f><v>=DISPIMG({m[4]})</v></c>',
                text,
            )
            assert found == len(ids), found
            return text.encode()
        return data

    try:
        return _rewrite(saved, dst, change, extra)
    finally:
        saved.unlink()


PRODUCERS: dict[str, Callable[[Path, Path], Path]] = {
    "openpyxl": openpyxl_stdlib,
    "openpyxl-lxml": openpyxl_lxml,
    "xlsxwriter": xlsxwriter_book,
    "libreoffice": libreoffice_resave,
    "gnumeric": gnumeric_resave,
    "excel": excel_style,
    "excel-inline-strings": excel_inline_strings,
    "openxml-sdk": openxml_sdk,
    "wps-images-in-cells": wps_images_in_cells,
}
