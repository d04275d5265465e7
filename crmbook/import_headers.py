"""What a legacy column holds: by its header (a synonym table) and by its values (sniffing).

The synonym table (``workbook_templates/import_headers.toml``) names, per concept (a customer's name,
a person's name, a mobile, a deal's value …), the headers people type and CRMs export, in Chinese and
English. :func:`concept_of` folds a header (case, spaces, punctuation) and tries it as it is, then
without a 客户/customer prefix and without a 名称/姓名/号码/No. suffix. :func:`sniff` judges a column
by its values: phones, e-mails, dates, amounts, IDs, people's names, company names, dated notes.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from crmbook.schema import normalize_label
from crmbook.values import unit_scale

__all__ = [
    "concept_of",
    "distinct_share",
    "fold_header",
    "header_scale",
    "known_headers",
    "looks_like_person",
    "looks_like_value",
    "sniff",
]

SAMPLE = 200
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_PREFIXES = ("客户", "customer", "client", "客戶")
_SUFFIXES = ("名称", "姓名", "全称", "名", "号码", "号", "no", "number", "元", "rmb", "cny")


def fold_header(text: object) -> str:
    """``" Mobile No. "`` → ``mobileno``; ``"Person - Name"`` → ``personname``; ``客户名称*`` → ``客户名称``."""
    return _NON_WORD.sub("", normalize_label(str(text)))


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    text = resources.files("workbook_templates").joinpath("import_headers.toml").read_text("utf-8")
    data = tomllib.loads(text)
    out: dict[str, str] = {}
    for concept, headers in data["concepts"].items():
        for header in headers:
            out.setdefault(fold_header(header), concept)
    return out


def known_headers() -> frozenset[str]:
    """Every folded header of the synonym table (to find a header row)."""
    return frozenset(_table())


_BRACKETED = re.compile(r"[（(【\[][^（）()【】\[\]]*[）)】\]]")
_SCALED = re.compile(r"万|千|亿|百万|(?<![a-z])k\b|thousand|million|'?000\b", re.IGNORECASE)


AMOUNT_CONCEPTS = ("amount", "actual_amount")
# An amount header that states the unit of its numbers: 金额（万元）, 预计金额(万), 合同额/万元, Amount (k),
# 销售额 百万元, Amount in thousands.
_UNIT_TAIL = re.compile(
    r"^(?P<head>.*?\S)\s*(?:[（(【\[]\s*(?P<a>[^（）()【】\[\]]+?)\s*[）)】\]]|[/／|｜,，:：]\s*(?P<b>[^/／]+?)"
    r"|\s+in\s+(?P<c>\w+)|\s*(?P<d>(?:万|千|亿|百万)元?))\s*$",
    re.IGNORECASE,
)
_CURRENCY = re.compile(r"^(?:rmb|cny|¥|￥|人民币)\s*|\s*(?:rmb|cny|人民币)$", re.IGNORECASE)


def header_scale(header: object) -> tuple[str, int, str] | None:
    """(the header without its unit, what one unit stands for, the unit as written) when an amount
    header states a unit bigger than the yuan: ``金额（万元）`` → (金额, 10000, 万元); else None."""
    m = _UNIT_TAIL.match(unicodedata.normalize("NFKC", str(header)).strip(" *\n\t"))
    if m is None:
        return None
    unit = next(g for g in (m["a"], m["b"], m["c"], m["d"]) if g is not None).strip()
    scale = unit_scale(_CURRENCY.sub("", unit))
    if scale is None or scale == 1 or concept_of(m["head"]) not in AMOUNT_CONCEPTS:
        return None
    return m["head"], scale, unit


@lru_cache(maxsize=4096)
def concept_of(header: str) -> str | None:
    """The concept a header names, or None."""
    table = _table()
    folded = fold_header(header)
    if not folded:
        return None
    if folded in table:
        return table[folded]
    scaled = header_scale(header)
    if scaled is not None:
        return concept_of(scaled[0])  # 金额（万元）: an amount, in 万元 (the mapping scales its numbers)
    hint = _BRACKETED.search(str(header))
    if hint and not _SCALED.search(hint.group(0)):
        # 客户等级(A/B/C), 电话（手机）: the header without its hint; never 单价（万元/台） or another
        # unit header_scale does not read, whose numbers would be read as yuan.
        return concept_of(_BRACKETED.sub("", str(header)))
    candidates = [folded]
    for prefix in _PREFIXES:
        if folded.startswith(prefix) and len(folded) > len(prefix):
            candidates.append(folded[len(prefix) :])
    for text in list(candidates):
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                candidates.append(text[: -len(suffix)])
    for text in candidates[1:]:
        if text in table:
            return table[text]
    return None


# ------------------------------------------------------------------ values

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONEISH = re.compile(r"^[+(（]?\d[\d\s\-()（）./]{5,18}\d$")
_DATEISH = re.compile(r"^\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}|^\d{1,2}/\d{1,2}/\d{4}")
_WEAK_NAME = re.compile(r"^[\u4e00-\u9fff]{1,2}(先生|女士|小姐|总|老师|经理|师傅|阿姨|姐|哥|工|老板)$")
_ENGLISH_PERSON = re.compile(r"^[A-Z][a-z]+(?:[ .'-][A-Z][a-z]+){1,2}$")
_COMPANY_WORDS = re.compile(
    r"(公司|店|厂|行|中心|集团|商贸|超市|工作室|事务所|医院|诊所|学校|酒店|餐厅|门诊|分部|营业部|"
    r"\b(?:ltd|limited|inc|llc|co|corp|corporation|company|gmbh|pvt|plc|llp|group|traders|industries|"
    r"enterprises|studio|systems|solutions|labs?)\b)",
    re.IGNORECASE,
)
_HISTORY_ENTRY = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?\s*[:：]")
_AMOUNT_TEXT = re.compile(r"^[¥￥$]?\s*-?[\d,]+(\.\d+)?\s*(万|亿|元|万元|k|K)?$")


def looks_like_person(value: object) -> bool:
    """A person's name: 张伟, 欧阳娜娜, 王先生, Priya Sharma (not a company, not a phone)."""
    from crmbook.names import parse_company_name

    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text or _COMPANY_WORDS.search(text):
        return False
    if _WEAK_NAME.match(text) or _ENGLISH_PERSON.match(text):
        return True
    return parse_company_name(text).is_person


def _is_phone(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        number = float(value)
        return number.is_integer() and 1_000_000 <= abs(number) < 10**15
    return bool(_PHONEISH.match(str(value).strip()))


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date) or bool(isinstance(value, str) and _DATEISH.match(value.strip()))


def _is_amount(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return bool(_AMOUNT_TEXT.match(str(value).strip()))


def looks_like_value(cell: object) -> bool:
    """A cell that holds data rather than a column label: a date, a phone, an e-mail, a big number."""
    if isinstance(cell, dt.date):
        return True
    if isinstance(cell, str):
        text = cell.strip()
        return bool(
            _EMAIL.match(text) or _PHONEISH.match(text) or _DATEISH.match(text) or _AMOUNT_TEXT.match(text)
        )
    return _is_phone(cell)


def sniff(values: Sequence[Any]) -> tuple[str | None, float]:
    """(kind, share) of a column judged by its values: phone, email, date, history, person, company,
    amount, id or text; None when there are fewer than two values."""
    sample = [v for v in values if v is not None and str(v).strip()][:SAMPLE]
    if len(sample) < 2:
        return None, 0.0
    n = len(sample)
    texts = [v for v in sample if isinstance(v, str)]

    def share(test: Any, among: Sequence[Any] = sample) -> float:
        return sum(1 for v in among if test(v)) / n

    checks: list[tuple[str, float]] = [
        ("email", share(lambda v: bool(_EMAIL.match(str(v).strip())))),
        ("history", share(lambda v: isinstance(v, str) and bool(_HISTORY_ENTRY.search(v)))),
        ("date", share(_is_date)),
        ("phone", share(_is_phone)),
        ("person", share(looks_like_person, texts)),
        ("company", share(lambda v: bool(_COMPANY_WORDS.search(v)), texts)),
    ]
    for kind, part in checks:
        if part >= (0.6 if kind == "history" else 0.8 if kind in ("email", "date", "phone") else 0.7):
            return kind, part
    if share(_is_amount) >= 0.9:
        return "amount", share(_is_amount)
    return "text", 1.0


def distinct_share(values: Sequence[Any]) -> tuple[float, int]:
    """(distinct values / non-empty values, non-empty values) of a column."""
    present = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return (len(set(present)) / len(present) if present else 1.0), len(present)
