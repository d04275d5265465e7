"""Page geometry of the report: paper, margins, column widths in points and where pages break.

Excel and LibreOffice print a sheet from its column widths (in characters of
the default font, Calibri 11: 7 pixels a character plus 5 pixels of padding),
its row heights (points), the paper, the margins and the scale. The report
sets all of them explicitly, so the same arithmetic tells where each page
ends, and page breaks are placed so a chart or a table is never cut.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MARGINS",
    "Paper",
    "chars_for_points",
    "column_points",
    "display_width",
    "page_breaks",
    "parse_paper",
]

POINTS_PER_INCH = 72.0
POINTS_PER_CM = 72 / 2.54
# Inches, as Excel stores them: left, right, top, bottom, header, footer.
MARGINS = {"left": 0.4, "right": 0.4, "top": 0.75, "bottom": 0.7, "header": 0.3, "footer": 0.3}
_PAPERS = {"a4": (9, 595.28, 841.89), "letter": (1, 612.0, 792.0)}  # Excel's paperSize code, width, height


@dataclass(frozen=True)
class Paper:
    name: str  # "a4" or "letter"
    landscape: bool = True

    @property
    def code(self) -> int:
        return _PAPERS[self.name][0]

    @property
    def size(self) -> tuple[float, float]:
        """(width, height) in points, as the page is turned."""
        _, w, h = _PAPERS[self.name]
        return (h, w) if self.landscape else (w, h)

    @property
    def printable_width(self) -> float:
        return self.size[0] - (MARGINS["left"] + MARGINS["right"]) * POINTS_PER_INCH

    @property
    def printable_height(self) -> float:
        return self.size[1] - (MARGINS["top"] + MARGINS["bottom"]) * POINTS_PER_INCH


def parse_paper(value: object) -> Paper:
    """The Settings value ``report_paper``: "A4 横向 / A4 landscape" (default), "A4 纵向 / A4 portrait", "Letter"."""
    text = str(value or "").strip().lower()
    name = "letter" if "letter" in text or "信纸" in text else "a4"
    portrait = any(word in text for word in ("portrait", "纵向", "竖"))
    return Paper(name, landscape=not portrait)


def column_points(width: float) -> float:
    """The printed width of a column ``width`` characters wide (Excel's rule for a 7-pixel font)."""
    pixels = math.trunc(((256 * width + math.trunc(128 / 7)) / 256) * 7)
    return pixels * 0.75


def chars_for_points(points: float) -> float:
    """The column width (characters) that prints ``points`` wide, rounded down to what Excel stores."""
    return max(0.0, math.floor((points / 0.75 - 5) / 7 * 256) / 256)


def display_width(text: str) -> int:
    """Characters as a grid of half-widths: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def page_breaks(heights: list[float], keep: Iterable[tuple[int, int]], page_height: float) -> list[int]:
    """The rows (1-based) after which a new page starts.

    ``heights[r - 1]`` is the height of row r; each (first, last) of ``keep`` stays on one page when it
    fits on one, otherwise starts on a fresh page and runs on. Rows never overflow a page.
    """
    starts: dict[int, int] = {}
    for first, last in keep:
        starts[first] = max(starts.get(first, first), last)
    breaks: list[int] = []
    used = 0.0
    for row, height in enumerate(heights, start=1):
        last = starts.get(row)
        if last is not None and used:
            block = sum(heights[row - 1 : last])
            if used + block > page_height and block <= page_height:
                breaks.append(row - 1)
                used = 0.0
        if used and used + height > page_height:
            breaks.append(row - 1)
            used = 0.0
        used += height
    return breaks
