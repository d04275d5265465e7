"""The formulas a user typed in a sheet, as text (what calamine's values do not keep).

A merge empties the rows of merged-away customers and keeps their cells to give back on undo; a cell
that held a formula must come back as that formula, not as the number it showed. A refresh remembers a
formula cell by its formula, not by its result: a result that moved (Excel recalculated ``=TODAY()-H5``)
is no edit. Excel stores a column of like formulas once (a shared formula on the first cell,
``<f t="shared" si="0"/>`` on the others): each cell's own formula is the first one moved to its place,
as Excel does.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Mapping

from crmbook.ooxml.cells import col_letter, split_ref
from crmbook.ooxml.package import open_package
from crmbook.ooxml.sheetxml import SheetXml
from crmbook.ooxml.xmltext import attr, unescape

__all__ = [
    "is_remembered_formula",
    "may_hold_formulas",
    "moved_formula",
    "remembered_formula",
    "row_formulas",
    "sheet_formulas",
    "shown_formula",
]


def _cell_re(prefix: bytes) -> re.Pattern[bytes]:
    p = re.escape(prefix)
    return re.compile(rb"<" + p + rb"c\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(?:/>|>(.*?)</" + p + rb"c>)", re.S)


def _formula_re(prefix: bytes) -> re.Pattern[bytes]:
    p = re.escape(prefix)
    return re.compile(rb"<" + p + rb"f\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(?:/>|>(.*?)</" + p + rb"f>)", re.S)


def _shared_masters(data: bytes, prefix: bytes) -> dict[str, tuple[str, str]]:
    """Shared-formula index -> (the master cell, its formula text)."""
    masters: dict[str, tuple[str, str]] = {}
    cells, formulas = _cell_re(prefix), _formula_re(prefix)
    for m in cells.finditer(data):
        body = m.group(2)
        if not body or (b't="shared"' not in body and b"t='shared'" not in body):
            continue
        f = formulas.search(body)
        if f is None or not f.group(2):
            continue
        index = attr(f.group(1), "si")
        ref = attr(m.group(1), "r")
        if index is not None and ref and index not in masters:
            masters[index] = (ref, unescape(f.group(2)))
    return masters


def row_formulas(
    path: str | os.PathLike[str],
    sheet: str,
    rows: Iterable[int],
    inflated: Mapping[str, bytes] | None = None,
) -> dict[tuple[int, int], str]:
    """(row, column) -> formula text (without "=") of each formula cell in ``rows`` of ``sheet``.

    ``inflated``: worksheet parts already read (part name -> XML, see
    :func:`crmbook.ooxml.inflate_sheets`); a part among them is not read from the file again, nor
    looked through when they were found to hold no formula."""
    wanted = set(rows)
    if not wanted:
        return {}
    with open_package(path) as pkg:
        part = pkg.sheet_parts().get(sheet)
        if part is None or part not in pkg:
            return {}
        if part in getattr(inflated, "without_formulas", ()):
            return {}
        data = inflated[part] if inflated and part in inflated else pkg.read(part)
    if not may_hold_formulas(data):  # the common case, found at the speed of a byte search
        return {}
    located = SheetXml(data)
    prefix = located.prefix
    index = located.rows()
    cells, formulas = _cell_re(prefix), _formula_re(prefix)
    found: dict[tuple[int, int], str] = {}
    masters: dict[str, tuple[str, str]] | None = None
    for row in sorted(wanted & set(index.position)):
        start, end = located.row_span(index.position[row], row)
        for m in cells.finditer(data, start, end):
            body, ref = m.group(2), attr(m.group(1), "r")
            if not body or not ref:
                continue
            f = formulas.search(body)
            if f is None:
                continue
            kind = attr(f.group(1), "t") or "normal"
            if kind == "normal" and f.group(2):
                found[split_ref(ref)] = unescape(f.group(2))
            elif kind == "shared":
                if f.group(2):
                    found[split_ref(ref)] = unescape(f.group(2))
                    continue
                if masters is None:
                    masters = _shared_masters(data, prefix)
                master = masters.get(attr(f.group(1), "si") or "")
                if master is not None:
                    from openpyxl.formula.translate import Translator

                    moved = Translator("=" + master[1], origin=master[0]).translate_formula(ref)
                    found[split_ref(ref)] = moved[1:]
    return found


_FOLLOWS_TAG = frozenset(b" \t\r\n>/")  # what may follow an element's name in its start tag
_F = ord("f")


_ANY_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")  # a cell's <f>, under any prefix


def _formula_tags(data: bytes, prefix: bytes | None, start: int = 0) -> Iterator[int]:
    """The offset of each formula's start tag (``<f``, under the sheet's ``prefix``; None: under
    any; in order when the prefix is given).

    A sheet's XML without formulas holds few ``f`` bytes (no element or attribute of ``sheetData``
    but the formula and ``customFormat`` has one): they are found at the speed of a byte search
    (``memchr``), 0.01 s for the four record sheets of the M book (118 MB), where a search for a
    longer text takes 0.12 s and a regular expression 0.43 s. Where ``f`` is common (text in
    English: more than one in 2,000 bytes), the tag itself is searched for."""
    tag = b"<" + (prefix or b"") + b"f"
    size = len(tag)
    at, seen = data.find(b"f", start), 0
    while at >= 0 and (seen < 1_000 or seen * 2_000 < at - start):
        if data[at + 1 : at + 2] and data[at + 1] in _FOLLOWS_TAG:
            if data[at - size + 1 : at + 1] == tag:
                yield at - size + 1
            elif prefix is None and data[at - 1 : at] == b":":  # under some prefix
                opening = data.rfind(b"<", max(at - 256, 0), at)
                if opening >= 0 and _ANY_FORMULA.match(data, opening):
                    yield opening
        seen += 1
        at = data.find(b"f", at + 1)
    if at < 0:
        return
    for needle in (tag, b":f") if prefix is None else (tag,):
        found = data.find(needle, max(at - size, 0))
        while found >= 0:
            end = found + len(needle)
            if data[end : end + 1] and data[end] in _FOLLOWS_TAG:
                if needle == tag:
                    yield found
                else:
                    opening = data.rfind(b"<", max(found - 256, 0), found)
                    if opening >= 0 and _ANY_FORMULA.match(data, opening):
                        yield opening
            found = data.find(needle, end)


def may_hold_formulas(data: bytes, prefix: bytes | None = None) -> bool:
    """Whether the worksheet part ``data`` holds a formula start tag, under the sheet's ``prefix``
    (None: under any); the common answer, no, at the speed of a byte search."""
    return next(_formula_tags(data, prefix), None) is not None


def pieces_may_hold_formulas(pieces: Iterable[bytes]) -> bool:
    """:func:`may_hold_formulas` (under any prefix) of a part given in pieces (``Package.pieces``): a tag
    cut between two pieces is found too."""
    tail = b""
    for piece in pieces:
        if may_hold_formulas(tail + piece):
            return True
        tail = piece[-_OVERLAP:]
    return False


_OVERLAP = 512  # more than a formula's start tag under the longest prefix looked back for (256 bytes)


def sheet_formulas(data: bytes, prefix: bytes = b"") -> dict[tuple[int, int], tuple[str, str]]:
    """(row, column) -> (its formula text without "=", where it stood as Excel sees it: the cell's
    own reference, or for a cell of a shared formula the master's) of each formula cell in ``data``.

    Only the cells around each formula tag are looked at: a sheet with a column of formulas is not
    parsed whole. A cell of a shared formula is given the master's text and reference: moving it to
    its own cell is left to :func:`remembered_formula` (a column of them moves alike, once)."""
    cells, formulas = _cell_re(prefix), _formula_re(prefix)
    cell_tag = b"<" + prefix + b"c"
    found: dict[tuple[int, int], tuple[str, str]] = {}
    children: list[tuple[tuple[int, int], str]] = []  # cells of shared formulas: (cell, index)
    masters: dict[str, tuple[str, str]] = {}
    done = -1
    for at in _formula_tags(data, prefix):
        if at < done:
            continue
        start = data.rfind(cell_tag, 0, at)
        while start >= 0 and data[start + len(cell_tag)] not in _FOLLOWS_TAG:
            start = data.rfind(cell_tag, 0, start)
        m = cells.match(data, start) if start >= 0 else None
        if m is None or m.end() <= at:
            continue
        done = m.end()
        ref = attr(m.group(1), "r")
        f = formulas.search(m.group(2) or b"")
        if not ref or f is None:
            continue  # a cell without its reference: kept by its value, as before
        try:
            cell = split_ref(ref)
        except ValueError:
            continue
        text = unescape(f.group(2)) if f.group(2) else ""
        if attr(f.group(1), "t") == "shared":
            index = attr(f.group(1), "si") or ""
            if not text:
                children.append((cell, index))
                continue
            masters.setdefault(index, (text, ref))
        found[cell] = (text, ref)
    for cell, index in children:
        found[cell] = masters.get(index, ("", ""))
    return found


ANCHOR = 1 << 19  # the row a remembered formula is moved to: 524,288, halfway down a sheet
FORMULA = "\x1f="  # a remembered formula: moved to ANCHOR, in its own column
FORMULA_AS_IS = "\x1f!"  # one that cannot be moved there (it reaches past a sheet's edge): as it stood


@functools.lru_cache(maxsize=65_536)
def _moved(text: str, origin: str, column: str, row: int) -> str | None:
    from openpyxl.formula.translate import Translator

    try:
        return Translator("=" + text, origin=origin).translate_formula(f"{column}{row}")[1:]
    except Exception:  # past a sheet's edge, or a formula the tokenizer cannot take apart: as it is
        return None


def moved_formula(text: str, origin: str, cell: tuple[int, int]) -> str | None:
    """The formula ``text`` (as it stands at ``origin``, its own cell or a shared formula's master)
    moved to ``cell`` (row, column) as Excel moves a copied formula: relative references follow,
    absolute ones (``$X$5``) and references to other sheets stay. None when it cannot be moved there
    (a reference would fall off the sheet, or the tokenizer cannot take it apart)."""
    return _moved(text, origin, col_letter(cell[1]), cell[0])


def remembered_formula(text: str, origin: str, cell: tuple[int, int]) -> str:
    """How a snapshot remembers the formula ``text`` (as it stands at ``origin``) of ``cell`` (row,
    column): moved to row :data:`ANCHOR` of its column, as Excel moves a copied formula, and marked.
    A record's formula stays the same when rows are inserted above it or the sheet is sorted (Excel
    then rewrites ``=X5*0.1`` on row 5 into ``=X6*0.1`` on row 6); one that is typed anew differs."""
    column = col_letter(cell[1])
    own = f"{column}{cell[0]}"
    if origin != own and origin.rstrip("0123456789") == column:
        # a cell of a shared formula in its master's column: moved down the column like the master,
        # once for them all
        anchored = _moved(text, origin, column, ANCHOR)
        if anchored is not None:
            return FORMULA + anchored
    here = text if origin == own else _moved(text, origin, column, cell[0])
    if here is None:  # a shared formula that cannot be moved to this cell: its master's as it is
        return FORMULA_AS_IS + text
    anchored = _moved(here, own, column, ANCHOR)
    return FORMULA_AS_IS + here if anchored is None else FORMULA + anchored


def is_remembered_formula(value: object) -> bool:
    return type(value) is str and value[:1] == "\x1f" and value[:2] in (FORMULA, FORMULA_AS_IS)


def shown_formula(value: object, row: int | None) -> object:
    """A remembered formula as people read it (``=X6*0.2`` on row 6), other values as they are."""
    if not is_remembered_formula(value):
        return value
    assert isinstance(value, str)
    text = value[2:]
    if value[:2] == FORMULA and row is not None:
        text = _moved(text, f"A{ANCHOR}", "A", row) or text
    return "=" + text
