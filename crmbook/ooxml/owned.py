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

from crmbook.changeset import CellValue, OwnedSheet, SheetCell
from crmbook.ooxml.cells import MAX_LINKS, MAX_TEXT, cell_ref, cell_xml, clip_text, col_letter, split_ref
from crmbook.ooxml.manifest import RT
from crmbook.ooxml.xmltext import MAIN_NS, REL_NS, escape_attr, escape_text

__all__ = [
    "RenderedRows",
    "RenderedSheet",
    "SheetStyler",
    "StandInStyles",
    "render_owned_sheet",
    "render_rows",
    "with_code_name",
]

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
        return self._asked.setdefault((style, _kind(value)), self.FIRST + len(self._asked))

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


def _kind(value: CellValue) -> bool | None:
    """What a cell format depends on besides its style name: None for a value that is not a date,
    else whether it shows a time of day."""
    if isinstance(value, dt.date):
        return isinstance(value, dt.datetime) and value.time() != dt.time(0)
    return None


def style_keys(sheet: OwnedSheet) -> list[tuple[str, bool | None, CellValue]]:
    """Each (style name, kind of value, a value of that kind) the cells of ``sheet`` ask for, in the order
    they first do: a :data:`SheetStyler` asked for each in turn leaves the cell formats one rendering of
    the sheet would."""
    seen: dict[tuple[str, bool | None], CellValue] = {}
    for row in sheet.rows:
        for cell in row:
            if cell is not None:
                value = cell.value
                key = (cell.style, None if type(value) is str else _kind(value))  # most cells hold text
                if key not in seen:
                    seen[key] = value
    return [(style, kind, value) for (style, kind), value in seen.items()]


class KnownStyles:
    """A :data:`SheetStyler` that only looks up formats already settled (:func:`style_keys`): one a
    second process can use."""

    def __init__(self, formats: dict[tuple[str, bool | None], int]) -> None:
        self.formats = formats

    def __call__(self, style: str, value: CellValue) -> int:
        return self.formats[(style, _kind(value))]


@dataclass
class RenderedSheet:
    """A generated worksheet part and the relationships it needs: (Id, type, target, external)."""

    xml: bytes
    relationships: list[tuple[str, str, str, bool]] = field(default_factory=list)


def with_code_name(xml: bytes, code_name: str) -> bytes:
    """A sheet :func:`render_owned_sheet` wrote, with the VBA code name its part had before (a
    macro-enabled workbook's VBA project has a module of that name for the sheet)."""
    attribute = f' codeName="{escape_attr(code_name)}"'.encode()
    at = xml.find(b"<sheetPr")
    if at >= 0 and at < xml.find(b"<dimension"):
        return xml[: at + 8] + attribute + xml[at + 8 :]
    root = xml.index(b">", xml.index(b"<worksheet")) + 1
    return xml[:root] + b"<sheetPr" + attribute + b"/>" + xml[root:]


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


@dataclass
class RenderedRows:
    """Some rows of an owned sheet as XML (``<row>`` elements), with the links of their cells
    (reference, target, shown value) and the last row and column that hold a cell."""

    xml: bytes
    links: list[tuple[str, str, CellValue]] = field(default_factory=list)
    max_row: int = 0
    max_col: int = 0

    @staticmethod
    def joined(pieces: list[RenderedRows]) -> RenderedRows:
        """Pieces rendered apart (rows in order), as one."""
        return RenderedRows(
            b"".join(p.xml for p in pieces),
            [link for p in pieces for link in p.links],
            max((p.max_row for p in pieces), default=0),
            max((p.max_col for p in pieces), default=0),
        )


def render_rows(
    sheet: OwnedSheet,
    styler: SheetStyler,
    start: int = 0,
    stop: int | None = None,
    *,
    date1904: bool = False,
    first_number: int | None = None,
) -> RenderedRows:
    """Rows ``start`` to ``stop`` (positions in ``sheet.rows``, the first row is 0) as XML: rendered apart
    and joined (:meth:`RenderedRows.joined`), pieces give the bytes one rendering of all rows gives.
    ``first_number``: the row number of the first of them (``start + 1`` unless given)."""
    rows_xml: list[bytes] = []  # each row encoded at once: a 100k-row sheet is never held as one str
    links: list[tuple[str, str, CellValue]] = []
    max_row = max_col = 0
    rows = sheet.rows[start:stop]
    letters = [""] + [col_letter(c) for c in range(1, max(map(len, rows), default=0) + 1)]
    opens = [f'<c r="{letter}' for letter in letters]
    named: dict[str, int] = {}  # style name -> index, for values that are not dates
    # A cell's XML after its reference (the same wherever it sits), by the cell (sheets share one
    # cell object between rows: a label, a time stamp) and by (type, value, format): report sheets
    # repeat many values.
    by_cell: dict[int, str] = {}  # id() of cells of ``rows``, which hold them while this runs
    tails: dict[tuple[type, CellValue, int], str] = {}
    clip = not sheet.hidden  # a sheet people read shows an overlong text cut; crmbook's data never is
    for r, row in enumerate(rows, start=start + 1 if first_number is None else first_number):
        cells = []
        number = str(r)
        last = 0
        for c, cell in enumerate(row, start=1):
            if cell is None:
                continue
            tail = by_cell.get(id(cell))
            if tail is None:
                ref = f"{letters[c]}{r}"
                tail = by_cell[id(cell)] = _cell_tail(cell, ref, styler, named, tails, date1904, clip)
            cells.append(f"{opens[c]}{number}{tail}")
            last = c
            if cell.link:
                links.append((f"{letters[c]}{r}", cell.link, cell.value))
        if cells:
            max_row = r
            max_col = max(max_col, last)
            rows_xml.append(f'<row r="{number}">{"".join(cells)}</row>'.encode())
    return RenderedRows(b"".join(rows_xml), links, max_row, max_col)


def _cell_tail(
    cell: SheetCell,
    ref: str,
    styler: SheetStyler,
    named: dict[str, int],
    tails: dict[tuple[type, CellValue, int], str],
    date1904: bool,
    clip: bool = False,
) -> str:
    """The XML of ``cell`` (at ``ref``) after its reference: ``<c r="`` and ``ref`` left out; with
    ``clip``, a text too long for a cell cut (:func:`crmbook.ooxml.cells.clip_text`)."""
    value = cell.value
    if isinstance(value, dt.date):
        style = styler(cell.style, value)
    else:
        style = named.get(cell.style, -1)
        if style < 0:
            style = named[cell.style] = styler(cell.style, value)
    key = (value.__class__, value, style)
    tail = tails.get(key)
    if tail is None:
        if (
            value.__class__ is str
            and len(value) <= MAX_TEXT
            and value.isprintable()  # no line break, tab or other space than " "
            and "_x" not in value
            and value[:1] != " "
            and value[-1:] != " "
        ):  # the common case, as cell_xml writes it
            s = f' s="{style}"' if style else ""
            tail = f'"{s} t="inlineStr"><is><t>{escape_text(value)}</t></is></c>'
        else:
            shown = clip_text(value) if clip else value
            tail = cell_xml(ref, shown, style, date1904=date1904)[6 + len(ref) :]
        tails[key] = tail
    return tail


def render_owned_sheet(
    sheet: OwnedSheet,
    styler: SheetStyler,
    *,
    drawing_rid: str | None = None,
    legacy_rid: str | None = None,
    date1904: bool = False,
    rows: RenderedRows | None = None,
) -> RenderedSheet:
    """The worksheet XML for ``sheet``; ``drawing_rid`` links its charts' drawing part. ``rows``: its
    rows already rendered (:func:`render_rows`), with the cell formats ``styler`` gives."""
    relationships: list[tuple[str, str, str, bool]] = []
    taken = {r for r in (drawing_rid, legacy_rid) if r}
    if rows is None:
        rows = render_rows(sheet, styler, date1904=date1904)
    max_row, max_col = rows.max_row, rows.max_col
    # The first MAX_LINKS links only (待跟进 of 60,000 customers has more): Excel drops them all otherwise.
    links = [
        _hyperlink(ref, link, value, relationships, taken) for ref, link, value in rows.links[:MAX_LINKS]
    ]

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
    return RenderedSheet(b"".join([head, rows.xml, tail]), relationships)


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
