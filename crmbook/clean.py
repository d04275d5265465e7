"""Cleaning one legacy value for one crmbook column.

Pure functions: a raw value from a legacy file and the target column's type
in, the value crmbook stores and a problem (or None) out. A value that cannot
be cleaned is kept as it was typed, so nothing is lost, and the problem says
why; refresh then flags the cell like any other bad value.

* dates: real dates, Excel serials, ``2024.5.1``, ``2024年5月1日``,
  ``2024/05/01``, ``5/1/2024`` (day-first or month-first as the mapping says);
  a date without a year is kept as text and flagged, never guessed;
* amounts: ``12.5万``, ``¥120,000.00``, ``50万元`` to yuan; a plain number of a column kept in 万元
  (the mapping's ``scale``) times 10,000, a value with its own unit as it says;
* percentages: ``60%``, ``0.6`` and ``60`` all to 60;
* phones: every number in the cell, written ``13812345678`` or
  ``010-12345678``, several joined with ``；``;
* text: full-width letters, digits and spaces folded, outer spaces trimmed;
* list values: through the mapping's value map, then the list's labels and
  aliases in either language.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers

from crmbook.phones import PhoneNumber, parse_phone_cell
from crmbook.schema import Column, Lang, Schema, normalize_label
from crmbook.values import is_blank, parse_amount, parse_date, parse_datetime, parse_percent

__all__ = ["Cleaned", "clean_text", "clean_value", "compact_phone", "split_history"]

PHONE_SEPARATOR = "；"
# Full-width letters, digits, @ . - _ + and the ideographic space; Chinese punctuation such as （）
# and ，stays as people write it in company names and notes.
_FOLDED = frozenset(
    [chr(c) for c in range(0xFF10, 0xFF1A)]
    + [chr(c) for c in range(0xFF21, 0xFF3B)]
    + [chr(c) for c in range(0xFF41, 0xFF5B)]
    + list("＠．－＿＋\u3000")
)
_SPACES = re.compile(r"[ \t\u3000\u00a0]+")
# A text clean_text leaves as it is: no full-width form, no space at either end, no run of spaces.
_CLEAN = re.compile(
    r"(?:[^\s\uff10-\uff19\uff21-\uff3a\uff41-\uff5a＠．－＿＋\u3000\u00a0](?: (?! ))?)*(?<! )"
)


@dataclass(frozen=True)
class Cleaned:
    value: Any
    problem: str | None = None


def clean_text(value: Any) -> Any:
    """Full-width letters and digits folded (ＡＢＣ１２３ → ABC123), runs of spaces made one, ends trimmed.

    Chinese punctuation stays; numbers stay numbers
    (a whole float becomes an int: an ID typed into a number cell).
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if not isinstance(value, str):
        return value
    if _CLEAN.fullmatch(value):
        return value  # nothing to fold: the same string, not a copy
    folded = "".join(unicodedata.normalize("NFKC", ch) if ch in _FOLDED else ch for ch in value)
    folded = _SPACES.sub(" ", folded).strip()
    return folded


def compact_phone(number: PhoneNumber) -> str:
    """``13812345678`` for a Chinese mobile, ``010-12345678`` for a landline, else international."""
    parsed = phonenumbers.parse(number.e164)
    if parsed.country_code != 86:
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    else:
        national = str(parsed.national_number)
        area = phonenumbers.length_of_geographical_area_code(parsed)
        text = f"0{national[:area]}-{national[area:]}" if number.kind == "landline" and area else national
    return f"{text} 转{number.extension}" if number.extension else text


def _unplaced(fragments: tuple[str, ...], region: str) -> str:
    digits = [sum(ch.isdigit() for ch in f) for f in fragments]
    if digits and max(digits) <= 8:
        return "a local number without its area code: kept as typed (add the area code)"
    return (
        f"not a number crmbook can place in region {region} (Settings): kept as typed "
        "(write it with + and its country code)"
    )


def _clean_phone(raw: Any, region: str = "CN") -> Cleaned:
    cell = parse_phone_cell(raw, region, cached=False)  # each legacy cell is read once
    if isinstance(raw, float) and raw.is_integer():
        raw = str(int(raw))  # 2326202.0: a number typed into a number cell, kept as its digits
    if not cell.numbers:
        if cell.unparsed:
            return Cleaned(str(clean_text(raw)), _unplaced(cell.unparsed, region))
        return Cleaned(str(clean_text(raw)), "not a phone number")
    text = PHONE_SEPARATOR.join(dict.fromkeys(compact_phone(n) for n in cell.numbers))
    if cell.unparsed:
        # Keep what could not be read, after the numbers that could.
        text += PHONE_SEPARATOR + PHONE_SEPARATOR.join(cell.unparsed)
        return Cleaned(text, f"{', '.join(cell.unparsed)}: {_unplaced(cell.unparsed, region)}")
    return Cleaned(text)


def _clean_list(raw: Any, col: Column, value_map: dict[str, str], lang: Lang, schema: Schema) -> Cleaned:
    text = str(clean_text(raw))
    for candidate in (str(raw).strip(), text):
        if candidate in value_map:
            return Cleaned(value_map[candidate])
    if col.list is None:
        return Cleaned(text)
    spec = schema.lists[col.list]
    key = spec.lookup().get(normalize_label(text))
    if key is not None:
        return Cleaned(spec.item_by_key(key).label(lang))
    return Cleaned(text, f"not in the {spec.label(lang)} list (add it to the mapping's value map)")


def clean_value(
    raw: Any,
    col: Column,
    *,
    value_map: dict[str, str] | None = None,
    dayfirst: bool = False,
    lang: Lang = "zh",
    schema: Schema,
    region: str = "CN",
    scale: int = 1,
) -> Cleaned:
    """The value to store in column ``col`` for legacy value ``raw`` (never None for a non-blank raw).

    ``scale``: for an amount, what one of the column's numbers stands for (10000 in a 万元 column)."""
    if is_blank(raw):
        return Cleaned(None)
    kind = col.type
    if kind in ("date", "datetime"):
        parsed = (parse_date if kind == "date" else parse_datetime)(raw, dayfirst=dayfirst)
        if parsed.ok:
            value = parsed.value
            if isinstance(value, dt.datetime) and value.time() == dt.time(0) and kind == "datetime":
                return Cleaned(value)
            return Cleaned(value)
        problem = "a date without a year" if parsed.problem == "no year" else "not a date"
        return Cleaned(clean_text(raw), problem)
    if kind == "amount":
        parsed = parse_amount(raw, scale=scale)
        return Cleaned(parsed.value) if parsed.ok else Cleaned(clean_text(raw), "not an amount")
    if kind == "percent":
        parsed = parse_percent(raw)
        return Cleaned(parsed.value) if parsed.ok else Cleaned(clean_text(raw), "not a percentage")
    if kind == "phone":
        return _clean_phone(raw, region)
    if kind in ("list", "yesno"):
        return _clean_list(raw, col, value_map or {}, lang, schema)
    if kind == "email":
        return Cleaned(str(clean_text(raw)).replace(" ", ""))
    value = clean_text(raw)
    if kind in ("id", "ref") and not isinstance(value, str):
        value = str(value)
    return Cleaned(value)


_HISTORY_DATE = re.compile(
    r"(\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?|\d{1,2}/\d{1,2}/\d{4})\s*[:：]?\s*"
)


def split_history(text: Any, *, dayfirst: bool = False) -> list[tuple[dt.datetime | None, str]]:
    """``"2025-02-01: 更换灯泡; 2025-03-07: 更换电瓶"`` → [(2025-02-01, 更换灯泡), (2025-03-07, 更换电瓶)].

    Text before the first date becomes an entry without a date; nothing is dropped.
    """
    if is_blank(text):
        return []
    s = str(text)
    marks = list(_HISTORY_DATE.finditer(s))
    out: list[tuple[dt.datetime | None, str]] = []
    head = s[: marks[0].start()] if marks else s
    if head.strip(" ;；,，\n\t"):
        out.append((None, head.strip(" ;；,，\n\t")))
    for i, m in enumerate(marks):
        body = s[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(s)]
        parsed = parse_datetime(m.group(1), dayfirst=dayfirst)
        entry = body.strip(" ;；,，\n\t")
        if parsed.ok:
            out.append((parsed.value, entry or m.group(1)))
        else:
            out.append((None, (m.group(0) + body).strip(" ;；,，\n\t")))
    return out
