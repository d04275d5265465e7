"""A rep file's record sheets written whole: the template's sheets filled with the rep's records.

Patching cell by cell (what every other crmbook write does, to keep what people typed around the
cells it changes) costs tens of microseconds a cell; a rep file is new, and the M workbook's 20 rep
files hold two million cells. Here each record sheet of the template (:func:`crmbook.team_split.build_template`)
keeps everything but its rows: the header row stays, the records become rows 2, 3, … (every cell in
its column's format, text as inline strings, see :func:`crmbook.ooxml.cells.cell_xml`), and the
template's formatted empty rows below stay ready for typing. The sheet's Excel table is grown over the
records afterwards by the ordinary writer (``Changeset.table_rows``), which also writes the few values
this leaves to it (a date in a column without a date format needs a format of its own).
Pure: bytes in, bytes out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from crmbook.book import Table
from crmbook.changeset import CellWrite
from crmbook.ooxml.cells import MAX_TEXT, cell_xml, col_letter, serial_text
from crmbook.ooxml.xmltext import escape_text

__all__ = ["SheetTemplate", "render_records", "sheet_template"]

_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>(.*?)</sheetData>", re.S)
_ROW = re.compile(rb'<row r="(\d+)"[^>]*?(?:/>|>.*?</row>)', re.S)
_STYLED = re.compile(rb'<c r="([A-Z]+)\d+" s="(\d+)"')
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"\s*/>')


@dataclass(frozen=True)
class SheetTemplate:
    head: bytes  # the part up to its header row, included
    rows: tuple[tuple[int, bytes], ...]  # the template's rows below the header (formatted, empty)
    tail: bytes  # from </sheetData> on
    styles: dict[str, int]  # column letters -> the cell format of the template's formatted rows


def sheet_template(xml: bytes) -> SheetTemplate:
    """Cut a template record sheet (written by openpyxl: no prefix, header on row 1) into its parts."""
    m = _SHEET_DATA.search(xml)
    if m is None:
        raise ValueError("the template sheet has no <sheetData>")
    body = m.group(1) or b""
    rows = [(int(r.group(1)), r.group(0)) for r in _ROW.finditer(body)]
    header = [x for r, x in rows if r == 1]
    below = tuple((r, x) for r, x in rows if r > 1)
    styles: dict[str, int] = {}
    for _, x in below[:1]:
        styles = {c.group(1).decode(): int(c.group(2)) for c in _STYLED.finditer(x)}
    head = xml[: m.start()] + b"<sheetData>" + b"".join(header)
    return SheetTemplate(head, below, b"</sheetData>" + xml[m.end() :], styles)


def _text_cell(ref: str, s: str, text: str, style: int) -> str:
    if len(text) <= MAX_TEXT and text.isprintable() and "_x" not in text and text == text.strip():
        return f'<c r="{ref}"{s} t="inlineStr"><is><t>{escape_text(text)}</t></is></c>'
    return cell_xml(ref, text, style)


def _plain_texts(texts: list[str]) -> list[str] | None:
    """``texts`` escaped for ``<t>`` at once, when every one can be written as it is (printable, not
    too long, not reading like an escape, no spaces around it); None when some cannot."""
    if not texts or max(map(len, texts)) > MAX_TEXT or not "".join(texts).isprintable():
        return None
    joined = "\n".join(texts)  # printable texts hold no line break: it only separates them here
    if "_x" in joined or joined[:1] == " " or joined[-1:] == " " or " \n" in joined or "\n " in joined:
        return None
    return escape_text(joined).split("\n")


def _column_cells(
    letter: str, style: int, rows: list[int], values: list[object], date_columns: bool, date1904: bool
) -> tuple[list[str], list[tuple[int, object]]]:
    """The ``<c>`` of each value of one column (an empty string for no cell); and the (row, value)
    of each date the column's format does not show (left to the writer)."""
    s = f' s="{style}"' if style else ""
    kinds = set(map(type, values))
    if kinds <= {str, type(None)}:  # a text column: its texts checked and escaped in one go
        escaped = _plain_texts([v for v in values if v is not None])  # type: ignore[misc]
        if escaped is not None or str not in kinds:
            texts = iter(escaped or ())
            return [
                (f'<c r="{letter}{row}"{s}/>' if style else "")
                if value is None
                else f'<c r="{letter}{row}"{s} t="inlineStr"><is><t>{next(texts)}</t></is></c>'
                for row, value in zip(rows, values, strict=True)
            ], []
    if date_columns and kinds <= {dt.datetime, dt.date, type(None)}:  # each day or time worked out once
        serials = {v: serial_text(v, date1904) for v in set(values) - {None}}  # type: ignore[arg-type]
        if None not in serials.values():
            return [
                (f'<c r="{letter}{row}"{s}/>' if style else "")
                if value is None
                else f'<c r="{letter}{row}"{s}><v>{serials[value]}</v></c>'
                for row, value in zip(rows, values, strict=True)
            ], []
    cells: list[str] = []
    later: list[tuple[int, object]] = []
    for row, value in zip(rows, values, strict=True):
        if value is None:
            cells.append(f'<c r="{letter}{row}"{s}/>' if style else "")
        elif type(value) is str:
            cells.append(_text_cell(f"{letter}{row}", s, value, style))
        elif isinstance(value, dt.date) and not date_columns:
            later.append((row, value))
            cells.append("")
        else:
            cells.append(cell_xml(f"{letter}{row}", value, style, date1904=date1904))
    return cells, later


def render_records(
    template: SheetTemplate, table: Table, skip: set[str], date_columns: set[int], *, date1904: bool = False
) -> tuple[bytes, list[CellWrite]]:
    """The sheet part with ``table``'s records as rows 2, 3, …; and the writes left to the writer.

    ``skip``: columns not written (crmbook's derived ones: the refresh fills them); ``date_columns``:
    the column numbers whose format shows a date."""
    data = table.data
    n = len(data)
    rows = list(range(2, n + 2))
    later: list[CellWrite] = []
    columns: list[list[str]] = []
    placed = sorted({**table.columns, **table.extra_columns}.items(), key=lambda item: item[1])
    last_col = max((c for _, c in placed), default=1)
    for name, col in placed:
        letter = col_letter(col)
        values = data[name].tolist() if name in data.columns and name not in skip else [None] * n
        if name in table.formulas and name not in skip:
            from crmbook.team_split import with_formulas

            values = with_formulas(table, name, values)
        cells, dates = _column_cells(
            letter, template.styles.get(letter, 0), rows, values, col in date_columns, date1904
        )
        columns.append(cells)
        later += [CellWrite(table.sheet_name, row, col, value) for row, value in dates]
    body = "".join(
        f'<row r="{r}">{"".join(cells)}</row>'
        for r, cells in zip(rows, zip(*columns, strict=True), strict=True)
    )
    kept = b"".join(x for r, x in template.rows if r > n + 1)
    head = template.head
    last_row = max(n + 1, template.rows[-1][0] if template.rows else 1)
    head = _DIMENSION.sub(f'<dimension ref="A1:{col_letter(last_col)}{last_row}"/>'.encode(), head, count=1)
    return head + body.encode("utf-8") + kept + template.tail, later
