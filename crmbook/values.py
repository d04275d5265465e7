"""Reading what people type: dates, amounts and percentages in every usual form.

Each parser returns the value and, when it cannot read it, the reason, so
validation and import can say what is wrong instead of guessing. A date
without a year is a problem ("no year"), never a guess.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EXCEL_ERRORS",
    "Parsed",
    "is_blank",
    "is_excel_error",
    "looks_like_formula_injection",
    "parse_amount",
    "parse_date",
    "parse_datetime",
    "parse_percent",
    "shown_text",
    "unit_scale",
]

EXCEL_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!", "#CALC!", "#GETTING_DATA"}
)
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


@dataclass(frozen=True)
class Parsed:
    value: Any
    problem: str | None = (
        None  # None when ok: "no year", "error value", "not a date", "not a number", "out of range"
    )

    @property
    def ok(self) -> bool:
        return self.problem is None


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def shown_text(value: object) -> str:
    """A cell as text: blank for none, a whole number without ".0" (an ID or a phone Excel took for a
    number: 2161234567.0 is shown 2161234567)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_excel_error(value: object) -> bool:
    return isinstance(value, str) and value.strip().upper() in EXCEL_ERRORS


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


_YMD = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]+(\d{1,2})[:：时](\d{2})(?:[:：分](\d{2}))?秒?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
# An Excel serial stored as text (a CSV of a date column formatted General): 1954-10-03 .. 2119-01-05.
_SERIAL_TEXT = re.compile(r"^[2-7]\d{4}(?:\.\d+)?$")
TWO_DIGIT_YEAR_PIVOT = 30  # as Excel reads them: 3/5/29 is 2029, 3/5/30 is 1930
_NO_YEAR = re.compile(
    r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]+\d{1,2}[:：时]\d{2}(?:[:：分]\d{2})?秒?)?$"
)


def parse_datetime(value: object, *, dayfirst: bool = False) -> Parsed:
    """A date or date-time as :class:`datetime.datetime` (see :func:`parse_date`)."""
    if isinstance(value, dt.datetime):
        return Parsed(value)
    if isinstance(value, dt.date):
        return Parsed(dt.datetime(value.year, value.month, value.day))
    if isinstance(value, bool) or is_blank(value):
        return Parsed(None, "empty" if not isinstance(value, bool) else "not a date")
    if isinstance(value, int | float):
        if 1 <= value < 2958466:  # Excel serials 1900-01-01 .. 9999-12-31
            return Parsed(EXCEL_EPOCH + dt.timedelta(days=float(value)))
        return Parsed(None, "not a date")
    text = _norm(str(value))
    if is_excel_error(text):
        return Parsed(None, "error value")
    try:
        m = _YMD.match(text)
        if m:
            y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
            return Parsed(dt.datetime(y, mo, d, h, mi, s))
        m = _COMPACT.match(text)
        if m:
            return Parsed(dt.datetime(int(m[1]), int(m[2]), int(m[3])))
        m = _DMY.match(text)
        if m:
            a, b, y = int(m[1]), int(m[2]), int(m[3])
            if len(m[3]) == 2:
                y += 2000 if y < TWO_DIGIT_YEAR_PIVOT else 1900
            # 05.03.2024 is written where the day comes first (Germany, Russia …), whatever else is.
            day, month = (a, b) if dayfirst or "." in text else (b, a)
            if month > 12 >= day:  # unambiguous the other way round (13/5/2024)
                day, month = month, day
            return Parsed(dt.datetime(y, month, day, int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)))
        if _SERIAL_TEXT.match(text):
            return Parsed(EXCEL_EPOCH + dt.timedelta(days=float(text)))
    except ValueError:
        return Parsed(None, "not a date")
    if _NO_YEAR.match(text):
        return Parsed(None, "no year")
    return Parsed(None, "not a date")


def parse_date(value: object, *, dayfirst: bool = False) -> Parsed:
    """Real dates, Excel serials (as numbers or as text), 2024-05-01, 2024/5/1, 2024.5.1, 2024年5月1日,
    20240501, 5/1/2024, 5/1/24 (a two-digit year as Excel reads it: 00-29 are 2000-2029)."""
    parsed = parse_datetime(value, dayfirst=dayfirst)
    return Parsed(parsed.value.date(), None) if parsed.ok else parsed


_UNITS = {"亿": 100_000_000, "万": 10_000, "千": 1_000, "k": 1_000, "w": 10_000}
_AMOUNT = re.compile(
    r"^([-+]?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+)\s*(亿|万|千|k|w)?\s*(元|人民币|rmb|yuan)?$", re.IGNORECASE
)


# The units a column's header can state its numbers in (金额（万元）, Amount (k)), as what one stands for.
_SCALES = {
    "亿": 100_000_000, "百万": 1_000_000, "万": 10_000, "千": 1_000, "k": 1_000, "w": 10_000,
    "thousand": 1_000, "thousands": 1_000, "'000": 1_000, "000": 1_000, "m": 1_000_000, "mn": 1_000_000,
    "million": 1_000_000, "millions": 1_000_000,
}  # fmt: skip
_SCALE_TEXT = re.compile(r"^(亿|百万|万|千|k|w|thousands?|'?000|mn?|millions?)(?:元|人民币|rmb|cny|yuan)?$")


def unit_scale(unit: object) -> int | None:
    """What one unit stands for in yuan: 10000 for "万" or "万元", 1000 for "千元" or "k", a whole
    number as it is (10000); None for anything else (元 is no scale: 1)."""
    if isinstance(unit, bool):
        return None
    if isinstance(unit, int | float):
        return int(unit) if float(unit).is_integer() and unit >= 1 else None
    text = _norm(str(unit)).lower().replace(" ", "")
    if text in ("", "元", "yuan", "rmb", "cny", "1"):
        return 1 if text else None
    if text.replace(",", "").isdigit():
        return int(text.replace(",", "")) or None
    m = _SCALE_TEXT.match(text)
    if m is None:
        m = _SCALE_TEXT.match(text.lstrip("0123456789"))  # 10k, 10千元: ten thousands
        count = text[: len(text) - len(text.lstrip("0123456789"))]
        return int(count) * _SCALES[m[1]] if m and count and int(count) else None
    return _SCALES[m[1]]


def parse_amount(value: object, *, scale: int = 1) -> Parsed:
    """Yuan from 120000, "120,000.00", "¥120,000.00", "12.5万", "50万元", "1.2亿".

    ``scale``: what one of the column's numbers stands for (10000 in a column headed 金额（万元）): a
    plain number is multiplied by it; a value that states its own unit ("12.5万", "3k", "8000元") is
    read in that unit, never scaled twice.
    """
    if isinstance(value, bool):
        return Parsed(None, "not a number")
    if isinstance(value, int | float):
        if is_blank(value):
            return Parsed(None, "empty")
        return Parsed(float(value) if scale == 1 else round(float(value) * scale, 2))
    if is_blank(value):
        return Parsed(None, "empty")
    text = _norm(str(value)).replace("¥", "").replace("￥", "").replace(" ", "")
    if is_excel_error(text):
        return Parsed(None, "error value")
    m = _AMOUNT.match(text)
    if not m:
        return Parsed(None, "not a number")
    own_unit = m[2] or m[3]
    number = float(m[1].replace(",", "")) * (_UNITS.get((m[2] or "").lower(), 1) if own_unit else scale)
    return Parsed(round(number, 2))


def parse_percent(value: object) -> Parsed:
    """0–100 from "60%", 60 or 0.6 (a bare number between 0 and 1 exclusive is a fraction)."""
    if isinstance(value, bool):
        return Parsed(None, "not a number")
    if isinstance(value, str):
        text = _norm(value)
        if is_excel_error(text):
            return Parsed(None, "error value")
        if text.endswith("%"):
            parsed = parse_amount(text[:-1])
            number = parsed.value
        else:
            parsed = parse_amount(text)
            number = parsed.value
        if not parsed.ok:
            return parsed
    elif isinstance(value, int | float) and not is_blank(value):
        number = float(value)
    else:
        return Parsed(None, "empty")
    if 0 < number < 1 and not (isinstance(value, str) and value.strip().endswith("%")):
        number *= 100
    if not 0 <= number <= 100:
        return Parsed(number, "out of range")
    return Parsed(number)


_SAFE_SIGNED = re.compile(r"^[+-]?[\d\s().\-]+$")


def looks_like_formula_injection(text: object) -> bool:
    """Text that a spreadsheet would run as a formula (=, +, -, @ first) and is not a plain number/phone."""
    if not isinstance(text, str) or not text:
        return False
    s = text.lstrip()
    return s[:1] in ("=", "@") or (s[:1] in ("+", "-") and not _SAFE_SIGNED.match(s))
