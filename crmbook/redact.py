"""Masking personal data in what crmbook hands out (reports, exports) for wider circulation.

Phone numbers are found with ``phonenumbers``' matcher (mobile and landline, any
separators, +86 or not) and keep only their first three and last four digits:
``138****8000``, ``021-****5678``. National ID numbers keep the region and the
last digit; bank card numbers their last four; e-mail addresses their first
character and domain. The text around them is kept as it is, and so are the digits the lenient phone
search also takes that are something else: a date, an amount (1310000 元), digits glued to letters (an
ID, a company's credit code).
"""

from __future__ import annotations

import re

import phonenumbers

from crmbook.validate import luhn, valid_national_id

__all__ = ["redact_text"]

_ID18 = re.compile(r"(?<!\d)(\d{6})(\d{11})([\dXx])(?!\d)")
_CARD = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_DIGIT = re.compile(r"\d")


def _mask_digits(text: str, keep_first: int, keep_last: int) -> str:
    """Replace the digits of ``text`` by ``*`` except the first and last few; separators stay."""
    positions = [m.start() for m in _DIGIT.finditer(text)]
    hidden = set(positions[keep_first : len(positions) - keep_last])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def _mask_ids(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        whole = m.group(0)
        return f"{m[1]}{'*' * 11}{m[3]}" if valid_national_id(whole) else whole

    return _ID18.sub(mask, text)


def _kept_digits(number: phonenumbers.PhoneNumber, digits: int) -> int:
    """How many leading digits stay visible: prefixes plus 3 of a mobile, or the area code of a landline."""
    national = len(str(number.national_number))
    prefix = max(0, digits - national)  # country code, trunk 0
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE:
        return prefix + 3
    return prefix + max(phonenumbers.length_of_geographical_area_code(number), 2)


_DATE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}")
_AMOUNT_AFTER = re.compile(r"\s*(?:元|块|万|千|亿|RMB|CNY|USD)", re.IGNORECASE)
_AMOUNT_BEFORE = ("¥", "￥", "$", "RMB", "CNY")


def _not_a_phone(text: str, start: int, end: int) -> bool:
    """Digits a lenient phone search takes that are something else: glued to letters (an ID such as
    C2026000013, a company's credit code 91310000MA1FL0001X), a date (2026-11-30), an amount
    (1310000 元, ¥1310000)."""
    before, after = text[start - 1 : start], text[end : end + 1]
    if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()):
        return True
    if _DATE.fullmatch(text[start:end].strip()):
        return True
    return bool(_AMOUNT_AFTER.match(text, end)) or text[:start].rstrip().endswith(_AMOUNT_BEFORE)


def _mask_phones(text: str) -> str:
    matches = list(phonenumbers.PhoneNumberMatcher(text, "CN", leniency=phonenumbers.Leniency.POSSIBLE))
    for m in reversed(matches):
        if _not_a_phone(text, m.start, m.end):
            continue
        span = text[m.start : m.end]
        digits = sum(ch.isdigit() for ch in span)
        keep_first = min(_kept_digits(m.number, digits), max(0, digits - 4))
        text = text[: m.start] + _mask_digits(span, keep_first, 4) + text[m.end :]
    return text


def redact_text(text: str) -> str:
    """``text`` with phone, national ID, bank card numbers and e-mail addresses masked."""
    if not any(ch.isdigit() for ch in text) and "@" not in text:
        return text
    text = _mask_ids(text)
    text = _CARD.sub(
        lambda m: "*" * (len(m[0]) - 4) + m[0][-4:] if luhn(m[0]) and m[0][0] not in "01" else m[0], text
    )
    text = _mask_phones(text)
    return _EMAIL.sub(lambda m: f"{m[1]}***{m[2]}", text)
