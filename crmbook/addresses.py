"""Postal addresses for matching: the words of an address and its numbers, compared apart.

People write the same address in many ways: 上海市浦东新区张江路88号3楼 and 浦东张江路88号3F,
"7 wallaby place, delmar" and "7 wallaby pl delmar". Two parts survive those variations
best when compared separately:

* the **words**: everything but the numbers, folded (NFKC, simplified characters, lower
  case). A Chinese address also loses its leading province, city and district, which one
  writer includes and the next leaves out, and the unit words (号, 楼, 室, 单元, F); Latin
  words are compared as a set of tokens, so their order does not matter.
* the **numbers**: house, building, room and postcode numbers, compared as a set.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from crmbook.names import DISTRICTS, split_leading_region, to_simplified

__all__ = ["Address", "address_similarity", "parse_address"]

_TOKENS = re.compile(r"\d+|[^\W\d_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")
_DISTRICTS = frozenset(d for ds in DISTRICTS.values() for d in ds)
_DISTRICT_LENGTHS = sorted({len(d) for d in _DISTRICTS}, reverse=True)
_UNIT_WORDS = re.compile(r"[号楼室层栋座幢弄f]|单元")  # 88号3楼301室 and 88号3F301 are one place


@dataclass(frozen=True)
class Address:
    words: str
    numbers: frozenset[str]
    first_word: str  # the street's first word, for blocking Latin addresses ("" for Chinese ones)
    chinese: bool


@lru_cache(maxsize=500_000)
def parse_address(value: object) -> Address | None:
    """The words and numbers of an address; None for an empty cell."""
    if value is None:
        return None
    text = to_simplified(unicodedata.normalize("NFKC", str(value))).lower()
    tokens = _TOKENS.findall(text)
    numbers = frozenset(t.lstrip("0") or "0" for t in tokens if t.isdigit())
    words = [t for t in tokens if not t.isdigit()]
    if not words and not numbers:
        return None
    if _CJK.search(text):
        joined = _UNIT_WORDS.sub("", "".join(words))
        joined = split_leading_region(joined)[1] or joined
        district = _leading_district(joined)
        joined = joined[len(district) :].removeprefix("区").removeprefix("县")
        return Address(joined, numbers, "", True)
    return Address(" ".join(sorted(words)), numbers, words[0] if words else "", False)


def _leading_district(text: str) -> str:
    """The longest district name ``text`` starts with (and is longer than), or ""."""
    for length in _DISTRICT_LENGTHS:
        if len(text) > length and text[:length] in _DISTRICTS:
            return text[:length]
    return ""


def address_similarity(a: Address, b: Address) -> tuple[float, float | None]:
    """(words 0..1, numbers 0..1 or None when either address has no number)."""
    if a.chinese or b.chinese:
        words = fuzz.ratio(a.words, b.words) / 100.0
    else:
        words = fuzz.token_set_ratio(a.words, b.words) / 100.0
    if not a.numbers or not b.numbers:
        return words, None
    return words, len(a.numbers & b.numbers) / max(len(a.numbers), len(b.numbers))
