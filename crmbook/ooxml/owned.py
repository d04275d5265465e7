"""Rendering a crmbook-owned sheet (:class:`~crmbook.changeset.OwnedSheet`) as worksheet XML.

Owned sheets are rebuilt from scratch on every run, so they are generated
directly: inline strings, numbers and date serials, crmbook's named styles,
column widths, a frozen pane, an autofilter, a tab colour and hyperlinks.
Internal links (``'客户'!B7``) need no relationship; web and mail links get
one. Charts are drawn by a drawing part the caller links as ``drawing_rid``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from crmbook.changeset import CellValue, OwnedSheet
from crmbook.ooxml.cells import cell_ref, cell_xml, col_letter, split_ref
from crmbook.ooxml.manifest import RT
from crmbook.ooxml.xmltext import MAIN_NS, REL_NS, escape_attr, escape_text

__all__ = ["RenderedSheet", "SheetStyler", "StandInStyles", "render_owned_sheet"]

# (crmbook style name, value) -> cell format index; for a value that is not a date the index depends
# on the style name only (dates pick a date or date-time variant), so it is asked once per name.
SheetStyler = Callable[[str, CellValue], int]

_EXTERNAL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class StandInStyles:
    """A :data:`SheetStyler` handing out stand-in indices, so a sheet can be rendered before the
    workbook's cell formats are settled (while other work still adds some).

    :meth:`settle` puts the real indices in, asking the real styler for each (style, kind of value)
    in the order the rendering first met them: the order a rendering with the real styler would have
    asked, so the styles part gains the same formats in the same order and the XML comes out the same.
    """

    FIRST = 1_000_000  # above any real index (Excel holds at most 64,000 cell formats)
    _IN_CELL = re.compile(rb'(<c r="[A-Z]{1,3}[0-9]+") s="(1[0-9]{6})"')  # cell text cannot hold "<c"

    def __init__(self) -> None:
        self._asked: dict[tuple[str, bool | None], int] = {}  # (style, with time / None: not a date)

    def __call__(self, style: str, value: CellValue) -> int:
        kind = None
        if isinstance(value, dt.date):
            kind = isinstance(value, dt.datetime) and value.time() != dt.time(0)
        return self._asked.setdefault((style, kind), self.FIRST + len(self._asked))

    def settle(self, xml: bytes, styler: SheetStyler) -> bytes:
        """``xml`` rendered with these stand-ins, with the indices ``styler`` gives instead."""
        real = {}
        for (style, kind), stand_in in self._asked.items():
            sample = None if kind is None else dt.datetime(2000, 1, 1, 12) if kind else dt.date(2000, 1, 1)
            index = styler(style, sample)
            real[b"%d" % stand_in] = b' s="%d"' % index if index else b""  # format 0 is written as no s=
        parts = self._IN_CELL.split(xml)  # text, cell start, stand-in, text, ...: no call per cell
        parts[2::3] = [real[stand_in] for stand_in in parts[2::3]]
        return b"".join(parts)


@dataclass
class RenderedSheet:
    """A generated worksheet part and the relationships it needs: (Id, type, target, external)."""

    xml: bytes
    relationships: list[tuple[str, str, str, bool]] = field(default_factory=list)


def _pane(freeze: str) -> str:
    row, col = split_ref(freeze)
    x, y = col - 1, row - 1
    if not (x or y):
        return ""
    pane = "bottomRight" if x and y else ("bottomLeft" if y else "topRight")
    splits = (f' xSplit="{x}"' if x else "") + (f' ySplit="{y}"' if y else "")
    return (
        f'<pane{splits} topLeftCell="{freeze}" activePane="{pane}" state="frozen"/>'
        f'<selection pane="{pane}" activeCell="{freeze}" sqref="{freeze}"/>'
    )


def _row_xml(number: int, cells: list[str]) -> str:
    return f'<row r="{number}">{"".join(cells)}</row>' if cells else ""


def render_owned_sheet(
    sheet: OwnedSheet,
    styler: SheetStyler,
    *,
    drawing_rid: str | None = None,
    legacy_rid: str | None = None,
    date1904: bool = False,
) -> RenderedSheet:
    """The worksheet XML for ``sheet``; ``drawing_rid`` links its charts' drawing part."""
    relationships: list[tuple[str, str, str, bool]] = []
    taken = {r for r in (drawing_rid, legacy_rid) if r}
    rows_xml: list[bytes] = []  # each row encoded at once: a 100k-row sheet is never held as one str
    links: list[str] = []
    max_row = max_col = 0
    letters = [""] + [col_letter(c) for c in range(1, max(map(len, sheet.rows), default=0) + 1)]
    named: dict[str, int] = {}  # style name -> index, for values that are not dates
    # A cell's XML after its reference, by (type, value, format): report sheets repeat many values.
    tails: dict[tuple[type, CellValue, int], str] = {}
    for r, row in enumerate(sheet.rows, start=1):
        cells = []
        for c, cell in enumerate(row, start=1):
            if cell is None:
                continue
            ref = f"{letters[c]}{r}"
            value = cell.value
            if isinstance(value, dt.date):
                style = styler(cell.style, value)
            else:
                style = named.get(cell.style, -1)
                if style < 0:
                    style = named[cell.style] = styler(cell.style, value)
            tail = tails.get((value.__class__, value, style))
            if tail is None:
                xml = cell_xml(ref, value, style, date1904=date1904)  # '<c r="{ref}' and the tail
                tail = tails[(value.__class__, value, style)] = xml[6 + len(ref) :]
            cells.append(f'<c r="{ref}{tail}')
            max_col = max(max_col, c)
            if cell.link:
                links.append(_hyperlink(ref, cell.link, value, relationships, taken))
        if cells:
            max_row = r
            rows_xml.append(_row_xml(r, cells).encode())

    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">',
    ]
    landscape = bool(sheet.charts)
    sheet_pr = f'<tabColor rgb="FF{sheet.tab_color.upper()}"/>' if sheet.tab_color else ""
    if landscape:
        sheet_pr += '<pageSetUpPr fitToPage="1"/>'
    if sheet_pr:
        parts.append(f"<sheetPr>{sheet_pr}</sheetPr>")
    dimension = f"A1:{cell_ref(max_row, max_col)}" if max_row else "A1"
    parts.append(f'<dimension ref="{dimension}"/>')
    pane = _pane(sheet.freeze) if sheet.freeze else ""
    parts.append(f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>')
    parts.append('<sheetFormatPr defaultRowHeight="15"/>')
    if sheet.widths:
        cols = "".join(
            f'<col min="{c}" max="{c}" width="{w:g}" customWidth="1"/>'
            for c, w in sorted(sheet.widths.items())
        )
        parts.append(f"<cols>{cols}</cols>")
    parts.append("<sheetData>")
    head = "".join(parts).encode()
    parts = ["</sheetData>"]
    if sheet.autofilter:
        parts.append(f'<autoFilter ref="{escape_attr(sheet.autofilter)}"/>')
    if sheet.validations:
        parts.append(_validations_xml(sheet))
    if links:
        parts.append(f"<hyperlinks>{''.join(links)}</hyperlinks>")
    parts.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>')
    if landscape:
        parts.append('<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>')
    if sheet.header or sheet.footer:
        parts.append(_header_footer_xml(sheet.header, sheet.footer))
    if sheet.row_breaks:
        brks = "".join(f'<brk id="{r}" max="16383" man="1"/>' for r in sheet.row_breaks)
        n = len(sheet.row_breaks)
        parts.append(f'<rowBreaks count="{n}" manualBreakCount="{n}">{brks}</rowBreaks>')
    if drawing_rid:
        parts.append(f'<drawing r:id="{drawing_rid}"/>')
    if legacy_rid:
        parts.append(f'<legacyDrawing r:id="{legacy_rid}"/>')  # the VML part holding the buttons
    parts.append("</worksheet>")
    tail = "".join(parts).encode()
    xml = b"".join([head, *rows_xml, tail])
    return RenderedSheet(xml, relationships)


def _header_footer_xml(header: tuple[str, str, str] | None, footer: tuple[str, str, str] | None) -> str:
    """``<headerFooter>``: each of (left, centre, right) behind Excel's &L, &C and &R codes."""

    def codes(parts: tuple[str, str, str]) -> str:
        return escape_text("".join(f"&{k}{t}" for k, t in zip("LCR", parts, strict=True) if t))

    inner = (f"<oddHeader>{codes(header)}</oddHeader>" if header else "") + (
        f"<oddFooter>{codes(footer)}</oddFooter>" if footer else ""
    )
    return f"<headerFooter>{inner}</headerFooter>"


def _list_formula(items: tuple[str, ...]) -> str:
    """The inline list of a dropdown: ``"a,b,c"`` with quotes doubled."""
    joined = ",".join(items).replace('"', '""')
    return f'"{joined}"'


def _validations_xml(sheet: OwnedSheet) -> str:
    """``<dataValidations>``: one list dropdown per validation."""
    rules = "".join(
        f'<dataValidation type="list" allowBlank="1" showErrorMessage="1" sqref="{escape_attr(v.ref)}">'
        f"<formula1>{escape_text(_list_formula(v.items))}</formula1></dataValidation>"
        for v in sheet.validations
    )
    return f'<dataValidations count="{len(sheet.validations)}">{rules}</dataValidations>'


def _display(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _hyperlink(
    ref: str, link: str, value: CellValue, relationships: list[tuple[str, str, str, bool]], taken: set[str]
) -> str:
    display = escape_attr(_display(value))
    if _EXTERNAL.match(link):
        n = len(taken) + 1
        while f"rId{n}" in taken:
            n += 1
        rid = f"rId{n}"
        taken.add(rid)
        relationships.append((rid, RT.HYPERLINK, link, True))
        return f'<hyperlink ref="{ref}" r:id="{rid}" display="{display}"/>'
    location = escape_attr(link.removeprefix("#"))
    return f'<hyperlink ref="{ref}" location="{location}" display="{display}"/>'
