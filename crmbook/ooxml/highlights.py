"""Problem highlights as conditional formatting that crmbook owns.

Changing a user's cell styles to mark a problem would lose the style they
chose and leave marks behind once the problem is fixed. Instead each
severity is one ``<conditionalFormatting>`` whose rule is always true and
says whose it is (``"crmbook-error"<>""``). Every run removes crmbook's rules
from the sheet and adds the current ones; the user's own conditional
formats are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from crmbook.ooxml.cells import cell_ref
from crmbook.ooxml.sheetxml import SheetXml
from crmbook.ooxml.xmltext import Edit, escape_text, top_level_elements, unescape

__all__ = [
    "SEVERITY_ORDER",
    "compress_sqref",
    "crmbook_formula",
    "highlight_edits",
    "split_sqref",
]

SEVERITY_ORDER = ("error", "warning", "info")
MAX_SQREF_RANGES = 512
MAX_SQREF_CHARS = 8000
# Worksheet children that CT_Worksheet places after conditionalFormatting.
_AFTER_CF = frozenset(
    [
        "dataValidations",
        "hyperlinks",
        "printOptions",
        "pageMargins",
        "pageSetup",
        "headerFooter",
        "rowBreaks",
        "colBreaks",
        "customProperties",
        "cellWatches",
        "ignoredErrors",
        "smartTags",
        "drawing",
        "legacyDrawing",
        "legacyDrawingHF",
        "drawingHF",
        "picture",
        "oleObjects",
        "controls",
        "webPublishItems",
        "tableParts",
        "extLst",
    ]
)
_PRIORITY = re.compile(rb"\bpriority\s*=\s*[\"'](\d+)[\"']")


def crmbook_formula(severity: str) -> str:
    """The always-true rule formula that marks a conditional format as crmbook's."""
    return f'"crmbook-{severity}"<>""'


_OWN_FORMULAS = frozenset(crmbook_formula(s) for s in SEVERITY_ORDER)


def compress_sqref(cells: Iterable[tuple[int, int]]) -> list[str]:
    """(row, col) cells as few A1 ranges: runs down each column, then equal runs side by side merged."""
    by_col: dict[int, list[int]] = {}
    for row, col in set(cells):
        by_col.setdefault(col, []).append(row)
    runs: dict[tuple[int, int], list[int]] = {}  # (first row, last row) -> columns
    for col, rows in by_col.items():
        rows.sort()
        first = last = rows[0]
        for row in rows[1:]:
            if row == last + 1:
                last = row
                continue
            runs.setdefault((first, last), []).append(col)
            first = last = row
        runs.setdefault((first, last), []).append(col)
    boxes: list[tuple[int, int, int, int]] = []  # first row, first col, last row, last col
    for (first, last), cols in runs.items():
        cols.sort()
        start = end = cols[0]
        for col in cols[1:]:
            if col == end + 1:
                end = col
                continue
            boxes.append((first, start, last, end))
            start = end = col
        boxes.append((first, start, last, end))
    out = []
    for r1, c1, r2, c2 in sorted(boxes):
        top_left = cell_ref(r1, c1)
        out.append(top_left if (r1, c1) == (r2, c2) else f"{top_left}:{cell_ref(r2, c2)}")
    return out


def split_sqref(
    ranges: list[str], max_ranges: int = MAX_SQREF_RANGES, max_chars: int = MAX_SQREF_CHARS
) -> list[str]:
    """Space-separated sqref strings, each within Excel's comfortable size."""
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for rng in ranges:
        if current and (len(current) >= max_ranges or length + 1 + len(rng) > max_chars):
            chunks.append(" ".join(current))
            current, length = [], 0
        length += len(rng) + (1 if current else 0)
        current.append(rng)
    if current:
        chunks.append(" ".join(current))
    return chunks


def _is_crmbook(data: bytes, prefix: bytes) -> bool:
    p = re.escape(prefix)
    pattern = re.compile(rb"<" + p + rb"formula>(.*?)</" + p + rb"formula>", re.S)
    return any(unescape(m.group(1)).strip() in _OWN_FORMULAS for m in pattern.finditer(data))


def highlight_edits(
    sheet: SheetXml,
    cells: Mapping[str, Iterable[tuple[int, int]]],
    dxf_for: Callable[[str], int],
) -> list[Edit]:
    """Edits replacing crmbook's conditional formats on ``sheet`` with ones for ``cells`` (severity -> cells).

    A cell marked with several severities keeps only the most severe.
    """
    data, p = sheet.data, sheet.prefix
    tail_start = sheet.sheet_data.end
    tail_end = sheet.root.end - len(b"</" + p + b"worksheet>")
    edits: list[Edit] = []
    last_user_cf: int | None = None
    first_own_cf: int | None = None
    first_after: int | None = None
    priorities = [0]
    for el in top_level_elements(data, tail_start, tail_end):
        body = data[el.start : el.end]
        if el.name == "conditionalFormatting" and _is_crmbook(body, p):
            edits.append(Edit(el.start, el.end, b""))
            first_own_cf = el.start if first_own_cf is None else first_own_cf
            continue
        if el.name == "conditionalFormatting":
            last_user_cf = el.end
        if el.name in ("conditionalFormatting", "extLst"):
            priorities += [int(m.group(1)) for m in _PRIORITY.finditer(body)]
        if el.name in _AFTER_CF and first_after is None:
            first_after = el.start
    if last_user_cf is not None:
        at = last_user_cf
    elif first_own_cf is not None:
        at = first_own_cf
    else:
        at = first_after if first_after is not None else tail_end
    new = _conditional_formats(cells, dxf_for, max(priorities), p)
    if new:
        edits.append(Edit(at, at, new))
    return edits


def _conditional_formats(
    cells: Mapping[str, Iterable[tuple[int, int]]], dxf_for: Callable[[str], int], after: int, prefix: bytes
) -> bytes:
    seen: set[tuple[int, int]] = set()
    parts: list[str] = []
    pre = prefix.decode()
    priority = after
    for severity in SEVERITY_ORDER:
        mine = set(cells.get(severity, ())) - seen
        seen |= mine
        if not mine:
            continue
        dxf = dxf_for(severity)
        formula = escape_text(crmbook_formula(severity))
        for sqref in split_sqref(compress_sqref(mine)):
            priority += 1
            parts.append(
                f'<{pre}conditionalFormatting sqref="{sqref}">'
                f'<{pre}cfRule type="expression" dxfId="{dxf}" priority="{priority}">'
                f"<{pre}formula>{formula}</{pre}formula></{pre}cfRule></{pre}conditionalFormatting>"
            )
    return "".join(parts).encode()
