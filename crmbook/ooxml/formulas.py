"""The formulas a user typed in given rows of a sheet, as text (what calamine's values do not keep).

A merge empties the rows of merged-away customers and keeps their cells to give back on undo; a cell
that held a formula must come back as that formula, not as the number it showed. Excel stores a
column of like formulas once (a shared formula on the first cell, ``<f t="shared" si="0"/>`` on the
others): each cell's own formula is the first one moved to its place, as Excel does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from crmbook.ooxml.cells import split_ref
from crmbook.ooxml.package import open_package
from crmbook.ooxml.sheetxml import SheetXml
from crmbook.ooxml.xmltext import attr, unescape

__all__ = ["row_formulas"]


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


_ANY_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")  # a cell's <f>, under any prefix


def has_formula(data: bytes) -> bool:
    """Whether the worksheet part ``data`` may hold a formula cell (False: surely none), told at the
    speed of a byte search (conditional formats' ``<formula>`` do not count)."""
    return _ANY_FORMULA.search(data) is not None


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
    if not has_formula(data):  # the common case, found at the speed of a byte search
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
