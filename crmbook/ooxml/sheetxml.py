"""Writing cells into a user's worksheet part by splicing only the rows touched.

A data sheet can be 100k rows and 40 MB of XML. :class:`SheetXml` finds row
boundaries with one regular-expression pass over the raw bytes; in the
``<row>`` elements that gain a value only the written cells are replaced or put
in (a row whose cells are out of order, or hold shared formulas, is taken apart
and rebuilt, cell by cell), keeping every other cell's bytes as they were. Rows
are never renumbered, so tables, validations and names that point at them stay
valid.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from crmbook.changeset import CellValue
from crmbook.ooxml.cells import MAX_COL, cell_ref, cell_xml, col_letter, col_number, split_ref
from crmbook.ooxml.xmltext import (
    TAG_RE,
    Edit,
    Element,
    attr,
    find_element,
    main_prefix,
    remove_attr,
    set_attr,
    unescape,
    with_prefix,
)

__all__ = ["CellPatch", "SheetXml", "SheetXmlError", "StyleResolver", "patch_cells"]

# (value, style index the cell would have) -> style index to write
StyleResolver = Callable[[CellValue, int], int]

_R_ATTR = re.compile(rb"(?:^|\s)r\s*=\s*[\"'](\d+)[\"']")
_ROW_TAG = re.compile(rb"<[^>]*?(/?)>")
_CELL_COLUMN = re.compile(rb"(?:^|\s)r\s*=\s*[\"'](?:\$?)([A-Za-z]{1,3})\$?\d+[\"']")
_SPACE = (b" ", b"\t", b"\n", b"\r")


@functools.lru_cache(maxsize=4096)
def _column(letters: bytes) -> int:
    return col_number(letters.decode("ascii"))


class SheetXmlError(ValueError):
    """The worksheet part has a shape crmbook does not patch (reported as a file error)."""


def _declares(data: bytes) -> bool:
    """Whether ``data`` holds ``<!`` (a DTD, comment or CDATA), looked for through the rarer ``!``."""
    at, seen = data.find(b"!"), 0
    while at >= 0:
        if data[at - 1 : at] == b"<":
            return True
        seen += 1
        if seen > 1_000:  # text full of exclamation marks: one plain search is quicker
            return b"<!" in data
        at = data.find(b"!", at + 1)
    return False


@dataclass
class _Rows:
    numbers: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)  # row number -> offset of its <row> tag


@dataclass(frozen=True)
class SheetShape:
    """What locating a worksheet part found: its prefix, root and ``sheetData``. Given back to
    :class:`SheetXml` with the same bytes, it locates them without looking again (the bytes may have
    been located in another process: see crmbook.parallel)."""

    prefix: bytes
    root: Element
    sheet_data: Element


_LEADING_R = re.compile(rb'\s+r="(\d+)"')  # a row's number, right after "<row"


class SheetXml:
    """A worksheet part located for patching: its prefix, ``sheetData`` and row starts."""

    def __init__(self, data: bytes, shape: SheetShape | None = None) -> None:
        self._rows: _Rows | None = None
        if shape is not None:  # these bytes were located before
            self.data, self.prefix, self.root, self.sheet_data = (
                data,
                shape.prefix,
                shape.root,
                shape.sheet_data,
            )
            return
        if _declares(data):
            if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
                raise SheetXmlError("declares a DTD or entities, which crmbook refuses")
            raise SheetXmlError(
                "contains XML comments or CDATA, which crmbook does not patch; re-save it in Excel"
            )
        self.data = data
        try:
            self.prefix = p = main_prefix(data)
        except ValueError as exc:
            raise SheetXmlError(
                f"binds XML namespaces in a way crmbook cannot patch ({exc}); re-save it in Excel"
            ) from exc
        head = TAG_RE.search(data, data.find(b"<" + p + b"worksheet"))
        open_data = re.compile(rb"<" + re.escape(p) + rb"sheetData\b([^>]*?)(/?)>").search(data)
        close_root = data.rfind(b"</" + p + b"worksheet>")
        if head is None or head.group(3) != b"worksheet" or open_data is None or close_root < 0:
            raise SheetXmlError("is not a worksheet (no sheetData)")
        self.root = Element("worksheet", head.start(), head.end(), close_root + len(p) + 12, head.group(4))
        if open_data.group(2):
            data_end = open_data.end()
        else:
            close_data = data.rfind(b"</" + p + b"sheetData>", open_data.end(), close_root)  # near the end
            if close_data < 0:
                raise SheetXmlError("is cut short (sheetData is not closed)")
            data_end = close_data + len(p) + 12
        self.sheet_data = Element(
            "sheetData", open_data.start(), open_data.end(), data_end, open_data.group(1)
        )

    @property
    def shape(self) -> SheetShape:
        return SheetShape(self.prefix, self.root, self.sheet_data)

    @property
    def sheet_data_close(self) -> int:
        """Offset of ``</sheetData>`` (or of ``<sheetData/>`` itself when it is empty)."""
        if self.sheet_data.empty:
            return self.sheet_data.start
        return self.sheet_data.end - len(b"</" + self.prefix + b"sheetData>")

    def last_row_number(self) -> int | None:
        """The number of the last row in ``sheetData`` (0 when it holds none); None when that row's
        start tag does not begin with its number (``<row r="N"``, as crmbook, Excel and LibreOffice
        write it)."""
        last = self.data.rfind(b"<" + self._tag("row") + b" ", self.sheet_data.tag_end, self.sheet_data_close)
        if last < 0:
            return 0
        number = _LEADING_R.match(self.data, last + len(self.prefix) + 4)
        return int(number.group(1)) if number else None

    def _tag(self, name: str) -> bytes:
        return self.prefix + name.encode()

    def rows(self) -> _Rows:
        """Where each row starts. One regular-expression pass; rows without ``r`` are counted."""
        if self._rows is not None:
            return self._rows
        rows = _Rows()
        start, end = self.sheet_data.tag_end, self.sheet_data_close
        if not self.sheet_data.empty:
            row = re.escape(self._tag("row"))
            numbered = re.compile(rb"<" + row + rb"\s(?:[^>]*?\s)?r=[\"'](\d+)[\"']")
            found = list(numbered.finditer(self.data, start, end))
            if len(found) == self.data.count(b"<" + self._tag("row"), start, end):
                rows.numbers = [int(m.group(1)) for m in found]
                rows.starts = [m.start() for m in found]
            else:
                previous = 0
                for m in re.compile(rb"<" + row + rb"\b([^>]*?)/?>").finditer(self.data, start, end):
                    r = _R_ATTR.search(m.group(1))
                    previous = int(r.group(1)) if r else previous + 1
                    rows.numbers.append(previous)
                    rows.starts.append(m.start())
        for before, after in zip(rows.numbers, rows.numbers[1:], strict=False):
            if after <= before:
                raise SheetXmlError(f"has rows out of order (row {after} after row {before})")
        rows.position = dict(zip(rows.numbers, rows.starts, strict=True))
        self._rows = rows
        return rows

    def locate(self, wanted: list[int]) -> _Rows | None:
        """Where the rows ``wanted`` (ascending) start, when each is written ``<row r="N"`` after the one
        before it: a forward search per row, one quick pass over the data instead of a full scan.
        None when a row is not found that way (absent, or written otherwise): use :meth:`rows`.
        """
        if self._rows is not None:
            return self._rows
        rows = _Rows()
        opening = b"<" + self._tag("row") + b' r="'
        at, end = self.sheet_data.tag_end, self.sheet_data_close
        find = self.data.find
        for number in wanted:
            at = find(opening + str(number).encode() + b'"', at, end)
            if at < 0:
                return None
            rows.numbers.append(number)
            rows.starts.append(at)
            rows.position[number] = at
            at += len(opening)
        return rows

    def row_tag(self, start: int, row: int) -> tuple[int, bool]:
        """(offset after the start tag, whether the row is an empty element) of row ``row`` at ``start``."""
        m = _ROW_TAG.match(self.data, start)
        if m is None:
            raise SheetXmlError(f"row {row} has a malformed tag")
        return m.end(), bool(m.group(1))

    def row_span(self, start: int, row: int) -> tuple[int, int]:
        """(start, end) of the element of row ``row`` starting at ``start``."""
        return start, self.row_bounds(start, row)[1]

    def row_bounds(self, start: int, row: int) -> tuple[int, int, bool]:
        """(offset after the start tag, offset after the element, whether it is an empty element) of
        row ``row`` starting at ``start``."""
        tag_end, empty = self.row_tag(start, row)
        if empty:
            return tag_end, tag_end, True
        close = b"</" + self._tag("row") + b">"
        end = self.data.find(close, tag_end, self.sheet_data_close)
        if end < 0:
            raise SheetXmlError(f"row {row} is not closed")
        return tag_end, end + len(close), False

    def column_styles(self) -> list[tuple[int, int, int]]:
        """(first col, last col, style) for each ``<col>`` with a style."""
        cols = find_element(self.data, self.prefix, "cols", 0, self.sheet_data.start)
        if cols is None:
            return []
        out = []
        pattern = re.compile(rb"<" + re.escape(self._tag("col")) + rb"\b([^>]*?)/?>")
        for m in pattern.finditer(self.data, cols.tag_end, cols.end):
            style = attr(m.group(1), "style")
            if style and style != "0":
                out.append((int(attr(m.group(1), "min") or 0), int(attr(m.group(1), "max") or 0), int(style)))
        return out

    def dimension_edit(self, cells: list[tuple[int, int]]) -> Edit | None:
        """Grow ``<dimension ref>`` to cover ``cells`` (row, col); None when it already does or is absent."""
        dim = find_element(self.data, self.prefix, "dimension", 0, self.sheet_data.start)
        if dim is None or not cells:
            return None
        ref = attr(dim.attrs, "ref") or "A1"
        try:
            corners = [split_ref(part) for part in ref.split(":")]
        except ValueError:
            return None
        rows = [r for r, _ in corners]
        cols = [c for _, c in corners]
        empty_sheet = ref == "A1" and not self.rows().numbers
        if empty_sheet:
            rows, cols = [], []
        rows += [r for r, _ in cells]
        cols += [c for _, c in cells]
        new = f"{cell_ref(min(rows), min(cols))}:{cell_ref(max(rows), max(cols))}"
        if new == ref or (len(corners) == 1 and new == f"{ref}:{ref}"):
            return None
        tag = self.data[dim.start : dim.tag_end]
        return Edit(dim.start, dim.tag_end, set_attr(tag, "ref", new))


@dataclass
class CellPatch:
    """The outcome of patching cells into one sheet (and the shape of the sheet it was worked out on)."""

    edits: list[Edit]
    formulas_removed: bool = False
    shape: SheetShape | None = None


@dataclass
class _SharedGroup:
    master: str
    formula: str
    first_row: int
    last_row: int


_STYLE_ATTR = re.compile(rb"(?:^|\s)s\s*=\s*[\"'](\d+)[\"']")


def _style_of(attrs: bytes) -> int:
    m = _STYLE_ATTR.search(attrs)
    return int(m.group(1)) if m else 0


class _RowWriter:
    """Rebuilds rows of one sheet with the cells written into them."""

    def __init__(
        self,
        sheet: SheetXml,
        writes: Mapping[int, Mapping[int, CellValue]],
        resolve: StyleResolver,
        date1904: bool,
    ) -> None:
        self.sheet = sheet
        self.writes = writes
        self.resolve = resolve
        self.date1904 = date1904
        p = re.escape(sheet.prefix)
        self.cell_re = re.compile(rb"<" + p + rb"c\b([^>]*?)(?:/>|>(.*?)</" + p + rb"c>)", re.S)
        self.formula_re = re.compile(rb"<" + p + rb"f\b([^>]*?)(?:/>|>(.*?)</" + p + rb"f>)", re.S)
        self.col_styles = sheet.column_styles()
        self.shared: dict[str, _SharedGroup] = {}
        self.formulas_removed = False
        self.cell_open = b"<" + sheet.prefix + b'c r="'
        self.cell_tag = b"<" + sheet.prefix + b"c"
        self.ref_opens: dict[int, bytes] = {}
        self.tails: dict[tuple[type, CellValue, int], bytes] = {}

    def base_style(self, row_attrs: bytes, col: int) -> int:
        """The style an empty cell shows: the row's (when custom) or the column's."""
        if b"customFormat" in row_attrs and attr(row_attrs, "customFormat") in ("1", "true"):
            return _style_of(row_attrs)
        for first, last, style in self.col_styles:
            if first <= col <= last:
                return style
        return 0

    def cells(self, start: int, end: int) -> Iterator[tuple[int, re.Match[bytes], bool]]:
        """(column, match, has explicit r) for each cell between ``start`` and ``end``, lazily."""
        col = 0
        for m in self.cell_re.finditer(self.sheet.data, start, end):
            ref = _CELL_COLUMN.search(m.group(1))
            col = _column(ref.group(1)) if ref else col + 1
            yield col, m, ref is not None

    def find_shared_masters(self, row: int, at: int) -> None:
        start, end = self.sheet.row_span(at, row)
        if self.sheet.data.find(b"shared", start, end) < 0:
            return
        for col, m, _ in self.cells(self.sheet.row_tag(at, row)[0], end):
            if col not in self.writes.get(row, {}) or not m.group(2):
                continue
            f = self.formula_re.search(m.group(2))
            if (
                f is None
                or attr(f.group(1), "t") != "shared"
                or not attr(f.group(1), "ref")
                or not f.group(2)
            ):
                continue
            rng = attr(f.group(1), "ref") or ""
            corners = [split_ref(part) for part in rng.split(":")]
            self.shared[attr(f.group(1), "si") or ""] = _SharedGroup(
                cell_ref(row, col), unescape(f.group(2)), corners[0][0], corners[-1][0]
            )

    def ref_open(self, col: int) -> bytes:
        """``<c r="`` and the letters of column ``col``."""
        opening = self.ref_opens.get(col)
        if opening is None:
            opening = self.ref_opens[col] = self.cell_open + col_letter(col).encode()
        return opening

    def new_cell(self, row: int, col: int, value: CellValue, style: int) -> bytes:
        """The XML of cell (``row``, ``col``)."""
        return self.cell_bytes(self.ref_open(col) + b"%d" % row, col, value, style)

    def cell_bytes(self, ref: bytes, col: int, value: CellValue, style: int) -> bytes:
        """The XML of the cell ``ref`` (``<c r="`` and its reference) of column ``col``."""
        style = self.resolve(value, style)
        key = (value.__class__, value, style)
        tail = self.tails.get(key)
        if tail is None:  # the cell's XML after its reference, the same for the same value and format
            name = col_letter(col) + "1"
            xml = with_prefix(cell_xml(name, value, style, date1904=self.date1904), self.sheet.prefix)
            tail = self.tails[key] = xml[len(self.cell_open) + len(name) :]
        return ref + tail

    def _dependent(self, row: int, col: int, m: re.Match[bytes], explicit: bool) -> bytes:
        """A cell kept as it is, except an explicit ``r`` and orphaned shared formulas made plain."""
        text = m.group()
        if not explicit:
            tag_len = text.index(b">") + 1
            text = set_attr(text[:tag_len], "r", cell_ref(row, col)) + text[tag_len:]
        if self.shared and m.group(2):
            f = self.formula_re.search(text)
            si = attr(f.group(1), "si") if f and attr(f.group(1), "t") == "shared" else None
            if f is not None and si in self.shared and not f.group(2):
                from openpyxl.formula.translate import Translator

                group = self.shared[si]
                moved = Translator("=" + group.formula, origin=group.master).translate_formula(
                    cell_ref(row, col)
                )
                plain = (
                    b"<" + self.sheet.prefix + b"f>" + _escape(moved[1:]) + b"</" + self.sheet.prefix + b"f>"
                )
                text = text[: f.start()] + plain + text[f.end() :]
        return text

    def rebuild(self, row: int, at: int) -> list[Edit]:
        """The edits writing into existing row ``row`` (its element starting at offset ``at``).

        Usually only the written cells are replaced or put in (see :meth:`_spliced`); else the
        row is replaced: cells are copied as slices; only written cells, the cell right after an
        inserted one (which needs an explicit ``r`` if it had none) and orphaned shared formulas
        are rebuilt. Scanning stops once every write is placed.
        """
        sheet, data = self.sheet, self.sheet.data
        start = at
        tag_end, end, empty = sheet.row_bounds(at, row)
        tag = data[start:tag_end]
        row_attrs = tag[len(b"<" + sheet.prefix + b"row") : -1].rstrip(b"/")
        pending = dict(sorted(self.writes.get(row, {}).items()))
        scan_all = bool(self.shared) and data.find(b"shared", start, end) >= 0
        if pending and not empty and not scan_all:
            spliced = self._spliced(row, (start, tag_end, end), tag, row_attrs, pending)
            if spliced is not None:
                return spliced
        parts: list[bytes] = []
        pos = last_cell_end = tag_end
        inserted: list[int] = []
        for col, m, explicit in self.cells(tag_end, end) if not empty else ():
            last_cell_end = m.end()
            before = [c for c in pending if c < col]
            if not (before or col in pending or scan_all):
                if not pending:
                    break
                continue
            parts.append(data[pos : m.start()])
            for new_col in before:
                parts.append(
                    self.new_cell(row, new_col, pending.pop(new_col), self.base_style(row_attrs, new_col))
                )
                inserted.append(new_col)
            if col in pending:
                if self.formula_re.search(m.group(2) or b""):
                    self.formulas_removed = True
                parts.append(self.new_cell(row, col, pending.pop(col), _style_of(m.group(1))))
            elif scan_all or (before and not explicit):
                parts.append(self._dependent(row, col, m, explicit))
            else:
                parts.append(m.group())
            pos = m.end()
        if pending:
            parts.append(data[pos:last_cell_end])
            pos = last_cell_end
            for new_col, value in pending.items():
                parts.append(self.new_cell(row, new_col, value, self.base_style(row_attrs, new_col)))
                inserted.append(new_col)
        if empty:
            tag = tag[:-2].rstrip() + b">"
            rest = b"</" + sheet.prefix + b"row>"
        else:
            rest = data[pos:end]
        tag = _widen_spans(tag, inserted)
        return [Edit(start, end, tag + b"".join(parts) + rest)]

    def _last_column(self, start: int, end: int) -> int:
        """The column of the last cell between ``start`` and ``end``; a huge number when unknown."""
        data, opening = self.sheet.data, b"<" + self.sheet.prefix + b"c"
        last = data.rfind(opening, start, end)
        after = last + len(opening)
        if last >= 0 and data[after : after + 1] in (b" ", b"\t", b"\n", b"\r"):  # not a <color> child
            ref = _CELL_COLUMN.search(data[after : data.find(b">", after, end)])
            if ref is not None:
                return _column(ref.group(1))
        return MAX_COL + 1

    def _cell_after(self, at: int, end: int, col: int) -> int | None:
        """Where the first cell right of column ``col`` starts, from ``at`` on (``end`` when there is
        none); None when a cell on the way has no reference or is column ``col`` itself."""
        data, opening = self.sheet.data, self.cell_tag
        find, size = data.find, len(opening)
        while (at := find(opening, at, end)) >= 0:
            after = data[at + size : at + size + 1]
            if after not in _SPACE:  # <color> and <charset> in rich text; a cell without attributes
                if after in (b">", b"/"):
                    return None
                at += size
                continue
            ref = _CELL_COLUMN.search(data, at + size, find(b">", at, end))
            if ref is None:
                return None
            found = _column(ref.group(1))
            if found > col:
                return at
            if found == col:
                return None
            at += size
        return end

    def _spliced(
        self,
        row: int,
        span: tuple[int, int, int],
        tag: bytes,
        row_attrs: bytes,
        pending: dict[int, CellValue],
    ) -> list[Edit] | None:
        """The row's edits when every write replaces a cell found by its reference or goes in before
        the first cell right of it (the other cells are not scanned past, nor copied: edits of
        neighbouring cells are one edit; the row's start tag, when its ``spans`` go, one of its
        own). None when the row must be taken apart (cells out of order or without references).
        """
        start, tag_end, end = span
        data, p = self.sheet.data, self.sheet.prefix
        find = data.find
        close = end - len(b"</" + p + b"row>")
        cell_close = b"</" + p + b"c>"
        formula_open = b"<" + p + b"f"
        edits: list[Edit] = []
        run: list[bytes] = []  # the text of the edit being made, from run_start to after_cell
        run_start = -1
        appended: list[int] = []
        inserted: list[int] = []
        formulas = False
        after_cell = tag_end
        number = b"%d" % row
        for col, value in pending.items():  # in column order, so each cell lies after the one before
            ref = self.ref_open(col) + number
            at = find(ref + b'"', after_cell, close)
            if at >= 0:
                tag_close = find(b">", at, close)
                if tag_close < 0:
                    return None
                if data[tag_close - 1] == 47:  # "/>": an empty cell
                    cell_end = tag_close + 1
                else:
                    content_end = find(cell_close, tag_close, close)
                    if content_end < 0:
                        return None
                    cell_end = content_end + len(cell_close)
                    if find(formula_open, tag_close, content_end) >= 0:
                        formulas |= self.formula_re.search(data, tag_close, content_end) is not None
                if at != after_cell and run:
                    edits.append(Edit(run_start, after_cell, b"".join(run)))
                    run = []
                if not run:
                    run_start = at
                run.append(self.cell_bytes(ref, col, value, _style_of(data[at + len(ref) : tag_close])))
                after_cell = cell_end
                continue
            if after_cell > tag_end and find(ref + b'"', tag_end, after_cell) >= 0:
                return None  # there, but not after the cells before it: cells out of order
            at = self._cell_after(after_cell, close, col)
            if at is None:
                return None
            if at == close:
                if col <= self._last_column(tag_end, close):
                    return None
                appended.append(col)
                continue
            if at != after_cell and run:
                edits.append(Edit(run_start, after_cell, b"".join(run)))
                run = []
            if not run:
                run_start = after_cell = at
            run.append(self.cell_bytes(ref, col, value, self.base_style(row_attrs, col)))
            inserted.append(col)
        if run:
            edits.append(Edit(run_start, after_cell, b"".join(run)))
        if appended:
            cells = [
                self.new_cell(row, col, pending[col], self.base_style(row_attrs, col)) for col in appended
            ]
            edits.append(Edit(close, close, b"".join(cells)))
        widened = _widen_spans(tag, inserted + appended)
        if widened != tag:
            edits.insert(0, Edit(start, tag_end, widened))
        self.formulas_removed |= formulas
        return edits

    def new_row(self, row: int) -> bytes:
        cells = b"".join(
            self.new_cell(row, col, value, self.base_style(b"", col))
            for col, value in sorted(self.writes[row].items())
        )
        p = self.sheet.prefix
        return b"<" + p + b'row r="' + str(row).encode() + b'">' + cells + b"</" + p + b"row>"


def _escape(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def _widen_spans(tag: bytes, inserted: list[int]) -> bytes:
    """Drop the optional ``spans`` hint when a new cell falls outside it."""
    if not inserted:
        return tag
    spans = attr(tag, "spans")
    if not spans:
        return tag
    covered = []
    for part in spans.split():
        first, _, last = part.partition(":")
        if first.isdigit() and last.isdigit():
            covered.append((int(first), int(last)))
    if all(any(a <= c <= b for a, b in covered) for c in inserted):
        return tag
    return remove_attr(tag, "spans")


def patch_cells(
    sheet: SheetXml,
    writes: Mapping[tuple[int, int], CellValue],
    resolve: StyleResolver,
    *,
    date1904: bool = False,
) -> CellPatch:
    """Edits that put ``writes`` ((row, col) -> value) into ``sheet``; see the module docstring."""
    by_row: dict[int, dict[int, CellValue]] = {}
    for (row, col), value in writes.items():
        by_row.setdefault(row, {})[col] = value
    rows = sheet.locate(sorted(by_row)) or sheet.rows()
    writer = _RowWriter(sheet, by_row, resolve, date1904)
    # A shared formula matters only where a written cell holds its master: each written row is
    # looked at (find_shared_masters), after one search of the whole sheet unless they are few.
    few = len(by_row) * 4096 < len(sheet.data)
    if few or sheet.data.find(b"shared", sheet.sheet_data.tag_end, sheet.sheet_data_close) >= 0:
        for row in by_row:
            if row in rows.position:
                writer.find_shared_masters(row, rows.position[row])
    if writer.shared:  # every row a shared formula reaches is rebuilt: they are all needed
        rows = sheet.rows()
    touched = {r for r in by_row if r in rows.position}
    for group in writer.shared.values():
        touched.update(r for r in rows.position if group.first_row <= r <= group.last_row)
    edits = [edit for row in sorted(touched) for edit in writer.rebuild(row, rows.position[row])]
    inserts: dict[int, list[bytes]] = {}
    for row in sorted(r for r in by_row if r not in rows.position):
        after = bisect.bisect_right(rows.numbers, row)
        at = rows.starts[after] if after < len(rows.numbers) else sheet.sheet_data_close
        inserts.setdefault(at, []).append(writer.new_row(row))
    for at, new_rows in inserts.items():
        if sheet.sheet_data.empty:
            p = sheet.prefix
            edits.append(
                Edit(
                    sheet.sheet_data.start,
                    sheet.sheet_data.end,
                    b"<" + p + b"sheetData>" + b"".join(new_rows) + b"</" + p + b"sheetData>",
                )
            )
        else:
            edits.append(Edit(at, at, b"".join(new_rows)))
    dimension = sheet.dimension_edit(list(writes))
    if dimension is not None:
        edits.append(dimension)
    return CellPatch(edits, writer.formulas_removed, sheet.shape)
