"""Phone numbers: every number in a cell, as E.164, with its kind.

Numbers are found with :class:`phonenumbers.PhoneNumberMatcher` (region CN unless the import's
Settings say otherwise; ``+CC`` always wins; a landline written without its trunk 0 is never given
an area code)
rather than by splitting on spaces, after full-width forms are folded and
extensions (转801, 分机801, ext 801, a trailing -801 after a landline) are
taken out. 400/800 and 95xxx service numbers are not identity; numbers that
appear on many records (switchboards) can be left out with
:func:`shared_numbers`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType

__all__ = [
    "COMMON_SWITCHBOARD_THRESHOLD",
    "PhoneCell",
    "PhoneNumber",
    "format_phone",
    "parse_phone_cell",
    "phone_keys",
    "shared_numbers",
]

COMMON_SWITCHBOARD_THRESHOLD = 5

_EXTENSION = re.compile(r"(?:转|分机号?|ext\.?|x)\s*[:：]?\s*(\d{1,6})", re.IGNORECASE)
_LANDLINE_DASH_EXT = re.compile(r"(\b0\d{2,3}[-\s]?\d{7,8})-(\d{1,6})\b")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s\-().]{4,}\d")
_PLAIN_MOBILE = re.compile(r"^(?:\+?86[-\s]?)?(1[3-9]\d{9})$")
_PLAIN_LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})$")


@dataclass(frozen=True)
class PhoneNumber:
    raw: str
    e164: str
    kind: str  # mobile | landline | service | other
    extension: str = ""


@dataclass(frozen=True)
class PhoneCell:
    numbers: tuple[PhoneNumber, ...]
    unparsed: tuple[str, ...]  # digit-bearing fragments that are not valid numbers

    @property
    def ok(self) -> bool:
        return bool(self.numbers) and not self.unparsed


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _kind(number: phonenumbers.PhoneNumber, t: int | None = None) -> str:
    """mobile, landline, service or other; ``t`` is the number's type when already known."""
    national = str(number.national_number)
    if national.startswith(("400", "800")) or (national.startswith(("95", "96")) and len(national) <= 6):
        return "service"
    if t is None:
        t = phonenumbers.number_type(number)
    if t == PhoneNumberType.MOBILE:
        return "mobile"
    if t in (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return "landline"
    if t in (PhoneNumberType.TOLL_FREE, PhoneNumberType.SHARED_COST, PhoneNumberType.PREMIUM_RATE):
        return "service"
    return "other"


def _fast_path(text: str) -> PhoneCell | None:
    """The common shapes (a bare mobile, 021-61234567) without the matcher."""
    compact = text.replace(" ", "")
    m = _PLAIN_MOBILE.match(compact)
    if m:
        return PhoneCell((PhoneNumber(text, "+86" + m.group(1), "mobile"),), ())
    m = _PLAIN_LANDLINE.match(compact)
    if m and not m.group(1).startswith(("040", "080")):
        number = phonenumbers.parse(m.group(1) + m.group(2), "CN")
        t = phonenumbers.number_type(number)  # UNKNOWN exactly when the number is not valid
        if t != PhoneNumberType.UNKNOWN:
            e164 = f"+{number.country_code}{number.national_number}"
            return PhoneCell((PhoneNumber(text, e164, _kind(number, t)),), ())
    return None


def _placed(raw: str, number: phonenumbers.PhoneNumber, region: str) -> bool:
    """False for a landline written without its trunk 0 or country code (9354089929 is not 0935-4089929):
    crmbook never invents an area code."""
    if _kind(number) != "landline":
        return True
    first = next((ch for ch in raw if ch.isdigit() or ch == "+"), "")
    return first in ("+", "0")


@lru_cache(maxsize=200_000)
def _parse(text: str, region: str = "CN") -> PhoneCell:
    if not text:
        return PhoneCell((), ())
    fast = _fast_path(text) if region == "CN" else None
    if fast is not None:
        return fast
    extensions: list[str] = []

    def take_ext(m: re.Match[str]) -> str:
        extensions.append(m.group(1))
        return " "

    cleaned = _EXTENSION.sub(take_ext, text)
    cleaned = _LANDLINE_DASH_EXT.sub(lambda m: (extensions.append(m.group(2)), m.group(1))[1], cleaned)
    cleaned = re.sub(r"\b0086", "+86", cleaned)
    numbers: list[PhoneNumber] = []
    spans: list[tuple[int, int]] = []
    for match in PhoneNumberMatcher(cleaned, region, leniency=phonenumbers.Leniency.VALID):
        number = match.number
        if not _placed(match.raw_string, number, region):
            continue
        ext = extensions.pop(0) if extensions and _kind(number) == "landline" else ""
        numbers.append(
            PhoneNumber(
                match.raw_string,
                phonenumbers.format_number(number, PhoneNumberFormat.E164),
                _kind(number),
                ext,
            )
        )
        spans.append((match.start, match.end))
    rest = list(cleaned)
    for start, end in spans:
        rest[start:end] = [" "] * (end - start)
    leftovers = tuple(
        f.strip() for f in _DIGIT_RUN.findall("".join(rest)) if sum(ch.isdigit() for ch in f) >= 5
    )
    return PhoneCell(tuple(numbers), leftovers)


def parse_phone_cell(value: object, region: str = "CN", *, cached: bool = True) -> PhoneCell:
    """Every phone number in a cell (several may be separated by ；, ;, /, 、, spaces or lines).

    ``region`` is where a number without ``+`` and a country code is dialled (ISO 3166 code, CN by
    default); a number that cannot be placed there is left in :attr:`PhoneCell.unparsed`.
    ``cached=False`` for text read once (an import's cells), which would only crowd the cache.
    """
    if not cached:
        return _parse.__wrapped__(_text(value), region)
    return _parse(_text(value), region) if region != "CN" else _parse(_text(value))


def phone_keys(value: object) -> frozenset[str]:
    """E.164 of the identity-bearing numbers of a cell (no service numbers, no extensions)."""
    return frozenset(
        n.e164 for n in parse_phone_cell(value).numbers if n.kind in ("mobile", "landline", "other")
    )


def shared_numbers(
    keys_per_record: Iterable[frozenset[str]], threshold: int = COMMON_SWITCHBOARD_THRESHOLD
) -> frozenset[str]:
    """Numbers on at least ``threshold`` records: switchboards and agencies, not identity."""
    counts: Counter[str] = Counter()
    for keys in keys_per_record:
        counts.update(keys)
    return frozenset(k for k, c in counts.items() if c >= threshold)


def format_phone(number: PhoneNumber, style: str = "national") -> str:
    parsed = phonenumbers.parse(number.e164)
    fmt = PhoneNumberFormat.E164 if style == "e164" else PhoneNumberFormat.NATIONAL
    text = phonenumbers.format_number(parsed, fmt)
    return f"{text} 转{number.extension}" if number.extension else text
