"""Editing the bookkeeping parts and sheets is namespace-correct for every way a producer serialises them.

Each variant is a part as some program writes it: Excel (everything declared on the root, ``mc:Ignorable``
with its extension namespaces), openpyxl with lxml (``xmlns:r`` on each ``<sheet>``), the Open XML SDK
(SpreadsheetML as ``x:``), the relationships namespace under another prefix or declared again lower
down, single quotes, CRLF line ends, a byte-order mark, an XML declaration with or without
``standalone``. After each edit the part must parse with every prefix bound, and the edit must be there
when read by namespace (what Excel does); the bytes crmbook did not mean to change stay as they were.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from crmbook.ooxml import manifest
from crmbook.ooxml.manifest import CT_NS, PKG_REL_NS
from crmbook.ooxml.sheetxml import SheetXml, SheetXmlError
from crmbook.ooxml.styles import Styles
from crmbook.ooxml.xmltext import MAIN_NS, REL_NS, main_prefix

M = MAIN_NS
R = REL_NS
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
X14AC = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"
XR = "http://schemas.microsoft.com/office/spreadsheetml/2014/revision"
XR2 = "http://schemas.microsoft.com/office/spreadsheetml/2015/revision2"
XR3 = "http://schemas.microsoft.com/office/spreadsheetml/2016/revision3"
X15 = "http://schemas.microsoft.com/office/spreadsheetml/2010/11/main"

DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

WORKBOOKS = {
    "excel": DECL + f'<workbook xmlns="{M}" xmlns:r="{R}" xmlns:mc="{MC}" mc:Ignorable="x15 xr xr6 xr10 xr2" '
    f'xmlns:x15="{X15}" xmlns:xr="{XR}" xmlns:xr6="http://schemas.microsoft.com/office/spreadsheetml/2016/revision6" '
    f'xmlns:xr10="http://schemas.microsoft.com/office/spreadsheetml/2016/revision10" xmlns:xr2="{XR2}">'
    '<fileVersion appName="xl" lastEdited="7" lowestEdited="7" rupBuild="27328"/>'
    '<workbookPr defaultThemeVersion="166925"/>'
    '<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
    '<mc:Choice Requires="x15"><x15ac:absPath url="C:\\Users\\a\\" '
    'xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"/></mc:Choice></mc:AlternateContent>'
    '<xr:revisionPtr revIDLastSave="0" documentId="8_{1}" xr6:coauthVersionLast="47" xr6:coauthVersionMax="47" '
    'xr10:uidLastSave="{00000000-0000-0000-0000-000000000000}"/>'
    '<bookViews><workbookView xWindow="-120" yWindow="-120" windowWidth="29040" windowHeight="15840" '
    'xr2:uid="{ABCDEF00-0000-0000-0000-000000000000}"/></bookViews>'
    '<sheets><sheet name="客户" sheetId="1" r:id="rId1"/></sheets>'
    '<calcPr calcId="191029"/>'
    '<extLst><ext uri="{140A7094-0E35-4892-8432-C4D2E57EDEB5}" xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main">'
    '<x15:workbookPr chartTrackingRefBase="1"/></ext></extLst></workbook>',
    "openpyxl-lxml": f'<workbook xmlns="{M}"><workbookPr/><bookViews><workbookView/></bookViews>'
    f'<sheets><sheet xmlns:r="{R}" name="客户" sheetId="1" state="visible" r:id="rId1"/></sheets>'
    '<definedNames/><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>',
    "openxml-sdk": f'<?xml version="1.0" encoding="utf-8"?><x:workbook xmlns:r="{R}" xmlns:x="{M}">'
    "<x:bookViews><x:workbookView/></x:bookViews>"
    '<x:sheets><x:sheet name="客户" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>',
    "other-rel-prefix": f'<workbook xmlns="{M}" xmlns:rel="{R}"><sheets><sheet name="客户" sheetId="1" '
    'rel:id="rId1"/></sheets></workbook>',
    "r-redeclared": f"<workbook xmlns='{M}' xmlns:r='urn:not-relationships'>\r\n"
    f"<sheets xmlns:r='{R}'>\r\n<sheet name='客户' sheetId='1' r:id='rId1'/>\r\n</sheets>\r\n</workbook>",
    "bom-crlf-single-quotes": "\ufeff<?xml version='1.0' encoding='UTF-8'?>\r\n"
    f"<x:workbook xmlns:x='{M}'>\r\n<x:sheets>\r\n<x:sheet name='客户' sheetId='1' "
    f"xmlns:r='{R}' r:id='rId1'/>\r\n</x:sheets>\r\n</x:workbook>\r\n",
    "empty-sheets": f'<workbook xmlns="{M}" xmlns:r="{R}"><sheets/></workbook>',
}


def _parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # raises on an unbound prefix


def _sheets(data: bytes) -> list[tuple[str | None, str | None, str | None]]:
    root = _parse(data)
    return [(s.get("name"), s.get(f"{{{R}}}id"), s.get("state")) for s in root.iter(f"{{{M}}}sheet")]


@pytest.mark.parametrize("variant", list(WORKBOOKS))
def test_add_sheet_uses_the_bindings_in_scope(variant: str) -> None:
    data = WORKBOOKS[variant].encode()
    before = _sheets(data)
    out = manifest.add_sheet(data, "看板", 7, "rId9", state="hidden")
    assert _sheets(out) == [*before, ("看板", "rId9", "hidden")]
    assert out.startswith(data[: data.index(b"<sheets") if b"<sheets" in data else data.index(b"<x:sheets")])
    if variant == "excel":  # the extension namespaces and mc:Ignorable are kept exactly
        assert (
            out.replace(
                b'<sheet name="\xe7\x9c\x8b\xe6\x9d\xbf" sheetId="7" state="hidden" r:id="rId9"/>', b""
            )
            == data
        )


@pytest.mark.parametrize("variant", list(WORKBOOKS))
def test_workbook_edits_stay_namespace_correct(variant: str) -> None:
    data = WORKBOOKS[variant].encode()
    out = manifest.add_sheet(data, "问题清单", 8, "rId10")
    out = manifest.set_sheet_state(out, "问题清单", "veryHidden")
    out = manifest.set_filter_range(out, 1, "'问题清单'!$A$1:$C$9")
    out = manifest.set_full_calc_on_load(out)
    out = manifest.set_code_name(out, "ThisWorkbook")
    root = _parse(out)
    names = [(d.get("name"), d.get("localSheetId"), d.text) for d in root.iter(f"{{{M}}}definedName")]
    assert ("_xlnm._FilterDatabase", "1", "'问题清单'!$A$1:$C$9") in names
    calc = root.find(f"{{{M}}}calcPr")
    assert calc is not None and calc.get("fullCalcOnLoad") == "1"
    assert root.find(f"{{{M}}}workbookPr") is not None
    assert root.find(f"{{{M}}}workbookPr").get("codeName") in ("ThisWorkbook",)  # type: ignore[union-attr]
    order = [child.tag.split("}")[1] for child in root if child.tag.startswith(f"{{{M}}}")]
    schema_order = ["fileVersion", "workbookPr", "bookViews", "sheets", "definedNames", "calcPr", "extLst"]
    assert [t for t in schema_order if t in order] == [t for t in order if t in schema_order]
    assert _sheets(out)[-1] == ("问题清单", "rId10", "veryHidden")


RELS = {
    "default": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PKG_REL_NS}">'
    '<Relationship Id="rId1" Type="t" Target="worksheets/sheet1.xml"/></Relationships>',
    "prefixed": f"<p:Relationships xmlns:p='{PKG_REL_NS}'>\r\n<p:Relationship Id='rId1' Type='t' "
    "Target='worksheets/sheet1.xml'/>\r\n</p:Relationships>",
    "empty": f'<Relationships xmlns="{PKG_REL_NS}"/>',
}


@pytest.mark.parametrize("variant", list(RELS))
def test_relationships_edits(variant: str) -> None:
    data = RELS[variant].encode()
    rid = manifest.next_rid(data)
    out = manifest.add_relationship(data, rid, "t2", "worksheets/sheet2.xml")
    got = {r.get("Id"): r.get("Target") for r in _parse(out).iter(f"{{{PKG_REL_NS}}}Relationship")}
    assert got[rid] == "worksheets/sheet2.xml"
    out = manifest.remove_relationships(out, {rid})
    assert out == data or (variant == "empty" and rid not in out.decode())


TYPES = {
    "default": f'<Types xmlns="{CT_NS}"><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="wb"/></Types>',
    "prefixed-bom": "\ufeff" + f"<ct:Types xmlns:ct='{CT_NS}'>\r\n<ct:Override PartName='/xl/workbook.xml' "
    "ContentType='wb'/>\r\n</ct:Types>",
}


@pytest.mark.parametrize("variant", list(TYPES))
def test_content_types_edits(variant: str) -> None:
    data = TYPES[variant].encode()
    out = manifest.add_override(data, "xl/worksheets/sheet9.xml", "ws")
    _parse(out)
    assert manifest.override_type(out, "xl/worksheets/sheet9.xml") == "ws"
    assert manifest.override_type(out, "xl/workbook.xml") == "wb"
    assert manifest.remove_overrides(out, {"xl/worksheets/sheet9.xml"}) == data


def _sheet(open_root: str, prefix: str = "") -> bytes:
    p = prefix
    return (
        f"{open_root}<{p}dimension ref='A1:B2'/><{p}sheetData><{p}row r='1'><{p}c r='A1' t='inlineStr'>"
        f"<{p}is><{p}t>名称</{p}t></{p}is></{p}c></{p}row></{p}sheetData></{p}worksheet>"
    ).encode()


SHEETS_OK = {
    "default": (_sheet(f'<worksheet xmlns="{M}" xmlns:r="{R}">'), b""),
    "excel": (
        _sheet(
            f'<worksheet xmlns="{M}" xmlns:r="{R}" xmlns:mc="{MC}" mc:Ignorable="x14ac xr xr2 xr3" '
            f'xmlns:x14ac="{X14AC}" xmlns:xr="{XR}" xmlns:xr2="{XR2}" xmlns:xr3="{XR3}" xr:uid="{{0}}">'
        ),
        b"",
    ),
    "x-prefix": (_sheet(f"<x:worksheet xmlns:x='{M}'>", "x:"), b"x:"),
    "same-prefix-again": (
        _sheet(f'<worksheet xmlns="{M}">').replace(b"<sheetData>", f'<sheetData xmlns="{M}">'.encode()),
        b"",
    ),
}
SHEETS_REFUSED = {
    "default-rebound": _sheet(f'<worksheet xmlns="{M}">').replace(
        b"<sheetData>", b'<sheetData xmlns="urn:other">'
    ),
    "second-prefix": _sheet(f'<worksheet xmlns="{M}" xmlns:y="{M}">'),
    "root-not-main": _sheet('<worksheet xmlns="urn:other">'),
}


@pytest.mark.parametrize("variant", list(SHEETS_OK))
def test_splicing_finds_the_spreadsheetml_prefix(variant: str) -> None:
    data, prefix = SHEETS_OK[variant]
    assert main_prefix(data) == prefix
    assert SheetXml(data).prefix == prefix


@pytest.mark.parametrize("variant", list(SHEETS_REFUSED))
def test_splicing_refuses_what_it_would_get_wrong(variant: str) -> None:
    with pytest.raises(SheetXmlError, match="namespaces"):
        SheetXml(SHEETS_REFUSED[variant])


def test_styles_of_an_open_xml_sdk_part_get_prefixed_additions() -> None:
    data = (
        f"<x:styleSheet xmlns:x='{M}'><x:fonts count='1'><x:font><x:sz val='11'/></x:font></x:fonts>"
        "<x:fills count='2'><x:fill><x:patternFill patternType='none'/></x:fill><x:fill>"
        "<x:patternFill patternType='gray125'/></x:fill></x:fills><x:borders count='1'><x:border/></x:borders>"
        "<x:cellXfs count='1'><x:xf numFmtId='0' fontId='0' fillId='0' borderId='0'/></x:cellXfs></x:styleSheet>"
    ).encode()
    styles = Styles(data)
    styles.named("header")
    styles.dxf("error")
    out = styles.to_bytes()
    root = _parse(out)
    assert len(root.findall(f"{{{M}}}cellXfs/{{{M}}}xf")) == 2
    assert len(root.findall(f"{{{M}}}dxfs/{{{M}}}dxf")) == 1
