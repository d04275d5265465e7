"""Cells as SpreadsheetML text: A1 references, Excel date serials, ``<c>`` elements.

Strings are written as inline strings (``t="inlineStr"``) so the shared
string table never has to be rewritten; dates become serial numbers in the
workbook's date system.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re

from crmbook.changeset import CellValue, Formula
from crmbook.ooxml.xmltext import escape_text

__all__ = [
    "MAX_COL",
    "MAX_LINKS",
    "MAX_ROW",
    "MAX_TEXT",
    "cell_ref",
    "cell_xml",
    "clip_text",
    "col_letter",
    "col_number",
    "excel_serial",
    "is_date_value",
    "serial_text",
    "split_ref",
]

MAX_ROW = 1_048_576
MAX_COL = 16_384
MAX_TEXT = 32_767
MAX_LINKS = 65_530  # hyperlinks per worksheet: past it Excel repairs the file and drops them all

_REF_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_FIRST_REAL_1900 = dt.datetime(1900, 3, 1)  # before this Excel counts the fictitious 1900-02-29
# Characters XML 1.0 cannot carry; Excel stores them as _xHHHH_ escapes.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile("_(x[0-9A-Fa-f]{4}_)")
_NEEDS_ESCAPES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")


@functools.lru_cache(maxsize=1024)
def col_letter(col: int) -> str:
    """1 -> "A", 28 -> "AB"."""
    if not 1 <= col <= MAX_COL:
        raise ValueError(f"column {col} out of range")
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_number(letters: str) -> int:
    """ "A" -> 1, "ab" -> 28."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def cell_ref(row: int, col: int) -> str:
    return f"{col_letter(col)}{row}"


def split_ref(ref: str) -> tuple[int, int]:
    """ "B5" (or "$B$5") -> (row 5, column 2)."""
    m = _REF_RE.match(ref.strip())
    if m is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    return int(m.group(2)), col_number(m.group(1))


def clip_text(value: CellValue) -> CellValue:
    """``value`` as a visible sheet of crmbook's shows it: a text longer than a cell holds (a report
    quoting a user's overlong cell: an issue's value, a dashboard label) cut, "…" marking the cut."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[: MAX_TEXT - 1] + "…"
    return value


def is_date_value(value: object) -> bool:
    return isinstance(value, dt.date)


def excel_serial(value: dt.date | dt.datetime, date1904: bool = False) -> float | None:
    """The serial number Excel stores for a date or datetime, or None when Excel cannot show it."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
    moment = moment.replace(tzinfo=None)
    epoch = _EPOCH_1904 if date1904 else _EPOCH_1900
    delta = moment - epoch
    serial = delta.days + delta.seconds / 86_400 + delta.microseconds / 86_400e6
    if not date1904 and moment < _FIRST_REAL_1900:
        serial -= 1
    if serial < (0 if date1904 else 1):
        return None
    return int(serial) if serial.is_integer() else serial


def serial_text(value: dt.date | dt.datetime, date1904: bool = False) -> str | None:
    """The ``<v>`` text of a date cell (as :func:`cell_xml` writes it), or None when Excel cannot show it."""
    serial = excel_serial(value, date1904)
    return None if serial is None else _number(serial)


def _xml_string(text: str) -> str:
    """Text for a ``<t>`` element: escaped, with XML-illegal characters as Excel's _xHHHH_ escapes."""
    # The common case, checked in C first: every character printable (no control characters) and no
    # text that reads like an escape.
    if ("_x" not in text and text.isprintable()) or _NEEDS_ESCAPES.search(text) is None:
        return escape_text(text)
    text = _LOOKS_ESCAPED.sub(r"_x005F_\1", text)
    text = _ILLEGAL_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return escape_text(text)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _formula_xml(ref: str, s: str, formula: Formula) -> str:
    f = f"<f>{escape_text(formula.text)}</f>"
    shown = formula.shown
    if shown is None or (isinstance(shown, float) and not math.isfinite(shown)):
        return f'<c r="{ref}"{s}>{f}</c>'
    if isinstance(shown, bool):
        return f'<c r="{ref}"{s} t="b">{f}<v>{int(shown)}</v></c>'
    if isinstance(shown, int | float):
        return f'<c r="{ref}"{s}>{f}<v>{_number(shown)}</v></c>'
    return f'<c r="{ref}"{s} t="str">{f}<v>{_xml_string(str(shown))}</v></c>'


def cell_xml(ref: str, value: CellValue, style: int, *, date1904: bool = False) -> str:
    """One ``<c>`` element for ``value`` at ``ref`` with cell format ``style`` (0: none).

    Dates must already have a date style; see :meth:`~crmbook.ooxml.styles.Styles.date_variant`.
    Values Excel cannot store (NaN, infinity, dates before 1900) are written as text.
    """
    s = f' s="{style}"' if style else ""
    if value is None:
        return f'<c r="{ref}"{s}/>'
    if isinstance(value, Formula):
        return _formula_xml(ref, s, value)
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return cell_xml(ref, str(value), style, date1904=date1904)
        return f'<c r="{ref}"{s}><v>{_number(value)}</v></c>'
    if isinstance(value, dt.date):
        serial = serial_text(value, date1904)
        if serial is None:
            return cell_xml(ref, value.isoformat(), style, date1904=date1904)
        return f'<c r="{ref}"{s}><v>{serial}</v></c>'
    text = str(value)
    if len(text) > MAX_TEXT:
        raise ValueError(f"text for {ref} is longer than Excel's {MAX_TEXT} characters")
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{_xml_string(text)}</t></is></c>'
