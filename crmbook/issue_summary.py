"""The issues summary: one line per kind of problem, with the fix that clears them all at once.

A refresh on a real book finds hundreds of problems that are a handful of causes: the same list
value typed down a column, follow-up times typed without a year, contacts imported without a
primary flag. :func:`summarize` groups issues by (code, sheet, column), and by value where the value
is the problem (a list value, an Excel error, a customer name or ID): each :class:`SummaryLine` has
the count, the first cells (for links) and the fix in the workbook's language. At most
:data:`VALUES_PER_COLUMN` values of one column get lines of their own (the most frequent: a value typed
a hundred times is one fix worth a line, wherever it first appears); the rest share one line. The
Issues sheet, the Dashboard's data-quality block and ``--json`` show these lines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from crmbook.issues import Issue, Severity, quoted
from crmbook.schema import Lang, load_schema

__all__ = ["VALUES_PER_COLUMN", "VALUE_CODES", "SummaryLine", "summarize"]

# Codes whose problem is the value itself: each distinct value gets a line (the fix is per value).
VALUE_CODES = frozenset(
    {
        "not-in-list",
        "list-alias",
        "excel-error",
        "ambiguous-customer",
        "unknown-customer-name",
        "unknown-customer",
    }
)
VALUES_PER_COLUMN = 5
FIRST_CELLS = 3
_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class SummaryLine:
    """All the issues of one code on one sheet and column (and one value, for :data:`VALUE_CODES`)."""

    code: str
    level: Severity
    sheet: str
    column: str  # schema key ("" for issues about a sheet or the workbook)
    column_label: str
    value: Any = None  # the value in common; None when the cells' values differ
    other_values: int = 0  # > 0: the line gathers this many values beyond VALUES_PER_COLUMN
    count: int = 0
    first: list[Issue] = field(default_factory=list)  # the first few issues, in sheet order

    @property
    def cells(self) -> list[str]:
        """A1 references of the first few cells (those issues that are about a cell)."""
        return [i.cell for i in self.first if i.cell][:FIRST_CELLS]

    @property
    def rows(self) -> list[int]:
        return [i.row for i in self.first if i.row is not None]

    def subject(self, lang: Lang) -> str:
        """The value in common ("'IT/互联网'"), or what the problem is ("dates without a year")."""
        zh = lang == "zh"
        if self.other_values:
            return f"另外 {self.other_values} 个值" if zh else f"{self.other_values} other values"
        if self.value is not None:
            value = quoted(self.value)
            return f"“{value}”" if zh else f"'{value}'"
        return _TITLES.get(self.code, {}).get(lang) or self.code

    @property
    def book_lang(self) -> Lang:
        """The language of the workbook's own names (sheets, headers, lists): the sheet's."""
        return "en" if any(self.sheet == spec.en != spec.zh for spec in load_schema().sheets) else "zh"

    def label(self, lang: Lang) -> str:
        """The column's header as the workbook writes it (the way to reach, in ``lang``, for
        no-way-to-reach): names of the workbook's things stay in its language, as in the messages."""
        if self.code == "no-way-to-reach":
            return REACH_LABEL[lang]
        return _column_label(self.first[0], self.book_lang) if self.first else self.column_label

    def what(self, lang: Lang) -> str:
        """What and how many: 所属行业：“IT/互联网” × 56 / Industry: 'IT/互联网' × 56."""
        head = self.label(lang) or self.sheet
        return f"{head}{'：' if lang == 'zh' else ': '}{self.subject(lang)} × {self.count}"

    def fix(self, lang: Lang) -> str:
        """What clears every issue of the line at once, in ``lang``."""
        first = self.first[0]
        if self.other_values:
            return _OTHER_VALUES[lang]
        template = _FIXES.get(self.code, {}).get(lang)
        if template is None:
            return first.message(lang)
        try:
            return template.format(**{k: quoted(v) for k, v in self._fields(lang).items()})
        except (KeyError, IndexError):  # a field the issue did not carry
            return first.message(lang)

    def where(self, lang: Lang) -> str:
        """Where the first ones are: "（客户 第 5、14、23… 行）" / " (rows 5, 14, 23… of Customers)"."""
        rows = self.rows[:FIRST_CELLS]
        if not rows:
            return ""
        more = "…" if self.count > len(rows) else ""
        if lang == "zh":
            return f"（{self.sheet} 第 {'、'.join(map(str, rows))}{more} 行）"
        return f" ({'rows' if more or len(rows) > 1 else 'row'} {', '.join(map(str, rows))}{more} of {self.sheet})"

    def text(self, lang: Lang) -> str:
        """The line as one sentence: what, the fix, and where the first ones are."""
        return f"{self.what(lang)} — {self.fix(lang)}{self.where(lang)}"

    def _fields(self, lang: Lang) -> dict[str, Any]:
        first = self.first[0]
        params = {"value": self.value if self.value is not None else first.value, **first.params}
        schema = load_schema()
        params["column_label"] = self.label(lang)
        params["sheet"] = self.sheet
        book = self.book_lang
        params["lists"] = schema.config_sheet_name("lists", book)
        params["settings"] = schema.config_sheet_name("settings", book)
        list_key = _list_of(self.sheet, self.column)
        params["list"] = schema.lists[list_key].label(book) if list_key else self.label(lang)
        params["instead"] = ""
        if self.code == "not-in-list" and list_key and isinstance(self.value, str):
            closest = _closest_item(list_key, self.value, book)
            if closest:
                params["instead"] = f"（如“{closest}”）" if lang == "zh" else f" (such as {closest})"
        params["field"] = f"{self.sheet}.{self.label(lang)}"
        params["reach_field"] = f"{self.sheet}.{REACH_LABEL[book]}"
        params["optional"] = schema.setting("optional_fields").label(book)
        return params

    def to_dict(self, lang: Lang = "zh") -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.level,
            "sheet": self.sheet,
            "column": self.column,
            "column_label": self.label(lang),
            "value": None if self.value is None else str(self.value),
            "other_values": self.other_values,
            "count": self.count,
            "cells": self.cells,
            "rows": self.rows,
            "what": self.what(lang),
            "fix": self.fix(lang),
            "text": self.text(lang),
        }


_TITLES: dict[str, dict[str, str]] = {
    "date-no-year": {"zh": "日期缺少年份", "en": "dates without a year"},
    "bad-date": {"zh": "无法识别的日期", "en": "dates crmbook cannot read"},
    "bad-number": {"zh": "不是金额", "en": "not amounts"},
    "bad-percent": {"zh": "不是百分比", "en": "not percentages"},
    "bad-phone": {"zh": "无法识别的号码", "en": "numbers crmbook cannot read"},
    "bad-email": {"zh": "无效邮箱", "en": "invalid e-mail addresses"},
    "bad-url": {"zh": "不像网址", "en": "not web addresses"},
    "missing-required": {"zh": "未填写", "en": "empty"},
    "no-way-to-reach": {"zh": "全部为空", "en": "all empty"},
    "no-primary-contact": {"zh": "多位联系人但未标记主要对接人", "en": "no primary contact among several"},
    "primary-contact-count": {"zh": "主要对接人不止一位", "en": "more than one primary contact"},
    "sensitive-id-number": {"zh": "身份证号码", "en": "national ID numbers"},
    "sensitive-bank-card": {"zh": "银行卡号", "en": "bank card numbers"},
    "home-address": {"zh": "个人住址", "en": "home addresses"},
    "future-date": {"zh": "日期晚于今天", "en": "dates in the future"},
    "duplicate-id": {"zh": "重复的编号", "en": "repeated IDs"},
    "malformed-id": {"zh": "不符合编号规则", "en": "IDs not following the pattern"},
    "id-needs-customer": {"zh": "缺少客户编号，无法生成编号", "en": "no customer ID to number them by"},
    "id-grown": {"zh": "编号序号加了一位", "en": "ID sequence grew a digit"},
    "lost-without-reason": {"zh": "流失客户未填流失原因", "en": "lost customers without a reason"},
    "won-without-amount": {"zh": "已成交未填金额", "en": "won deals without an amount"},
    "negative-amount": {"zh": "金额为负数", "en": "negative amounts"},
    "missing-config-sheet": {"zh": "缺少设置或列表工作表", "en": "a Settings or Lists sheet missing"},
    "closed-without-date": {"zh": "已关闭未填关闭时间", "en": "closed deals without a date"},
    "closed-without-reason": {"zh": "已关闭未填原因", "en": "closed deals without a reason"},
    "closed-without-contract": {"zh": "已成交未填合同编号", "en": "closed without a contract number"},
    "probability-stage-mismatch": {"zh": "概率与阶段不符", "en": "probability not fitting the stage"},
    "excel-error": {"zh": "Excel 错误值", "en": "Excel errors"},
    "unknown-customer": {"zh": "不存在的客户编号", "en": "customer IDs that do not exist"},
    "unknown-customer-name": {"zh": "找不到的客户名称", "en": "customer names not found"},
    "ambiguous-customer": {"zh": "对应多个客户的名称", "en": "names of several customers"},
    "missing-sheet": {"zh": "缺少工作表", "en": "a sheet missing"},
    "missing-column": {"zh": "缺少必填列", "en": "a required column missing"},
    "missing-optional-column": {"zh": "没有这一列", "en": "no such column"},
    "duplicate-column": {"zh": "两列表示同一字段", "en": "two columns for one field"},
    "missing-header": {"zh": "找不到表头行", "en": "no header row"},
    "bad-setting": {"zh": "无效的设置值", "en": "invalid settings"},
    "unknown-field-setting": {"zh": "设置中不认识的字段", "en": "fields crmbook does not know"},
    "not-a-workbook": {"zh": "不是工作簿", "en": "not a workbook"},
    "encrypted": {"zh": "工作簿已加密", "en": "an encrypted workbook"},
    "not-in-list": {"zh": "不在列表中的值", "en": "values not in the list"},
    "list-alias": {"zh": "列表值的别称", "en": "other names of list values"},
}
_FIXES: dict[str, dict[str, str]] = {
    "not-in-list": {
        "zh": "在“{lists}”的“{list}”列表中加上“{value}”，或把这些单元格改为列表中的值{instead}",
        "en": "add '{value}' to the {list} list on {lists}, or change these cells to a value of the list{instead}",
    },
    "list-alias": {
        "zh": "把该列中的“{value}”全部替换为“{suggestion}”（选中该列后 Ctrl+H）",
        "en": "replace '{value}' with '{suggestion}' in the column (select it, then Ctrl+H)",
    },
    "date-no-year": {
        "zh": "补上年份，如 2026-03-05 14:30；crmbook 不会猜年份",
        "en": "add the year, e.g. 2026-03-05 14:30; crmbook does not guess it",
    },
    "bad-date": {"zh": "改成 2026-10-08 这样的日期", "en": "write them like 2026-10-08"},
    "missing-required": {
        "zh": "填写“{column_label}”；若不需要，在“{settings}”的“{optional}”中写上 {field}",
        "en": "fill in '{column_label}'; if the team does not need it, list {field} under {optional} on {settings}",
    },
    "no-way-to-reach": {
        "zh": "每条至少填写一项（{fields}）；若不需要，在“{settings}”的“{optional}”中写上 {reach_field}",
        "en": "fill in at least one of {fields}; if the team does not need it, list {reach_field} under {optional} on {settings}",
    },
    "no-primary-contact": {
        "zh": "每个客户选一位联系人，把“主要对接人”设为“是”（只有一位联系人的客户不必标记）",
        "en": "mark one contact per customer as primary (a customer's only contact needs no mark)",
    },
    "primary-contact-count": {
        "zh": "每个客户只保留一位“主要对接人”为“是”",
        "en": "keep one primary contact per customer",
    },
    "sensitive-id-number": {
        "zh": "删除身份证号码，不要保存",
        "en": "delete the ID numbers; never store them",
    },
    "sensitive-bank-card": {
        "zh": "删除银行卡号，不要保存",
        "en": "delete the card numbers; never store them",
    },
    "bad-phone": {
        "zh": "手机写 11 位，座机带区号（如 021-61234567），国外号码以 + 和国家代码开头，多个号码用；分隔",
        "en": "mobiles have 11 digits, landlines need the area code (021-61234567), a number abroad starts "
        "with + and its country code; separate several with ;",
    },
}
_OTHER_VALUES = {
    "zh": "逐个查看下方的单元格清单（可按“代码”筛选）",
    "en": "see the cells in the list below (filter it by code)",
}


def _list_of(sheet: str, column: str) -> str | None:
    for spec in load_schema().sheets:
        if sheet in (spec.zh, spec.en):
            for col in spec.columns:
                if col.key == column:
                    return col.list
    return None


def _closest_item(list_key: str, value: str, lang: Lang) -> str | None:
    """The list item ``value`` most likely means (by its words and aliases), or None."""
    from rapidfuzz import fuzz

    best, best_score = None, 0.0
    for item in load_schema().lists[list_key].items:
        for text in (item.zh, item.en, *item.aliases):
            score = fuzz.partial_ratio(value.lower(), text.lower())
            if score > best_score:
                best, best_score = item.label(lang), score
    return best if best_score >= 60 else None


REACH_LABEL = {"zh": "联系方式", "en": "Way to reach"}


def _column_label(issue: Issue, lang: Lang) -> str:
    if issue.code == "no-way-to-reach":
        return REACH_LABEL[lang]
    for spec in load_schema().sheets:
        if issue.sheet in (spec.zh, spec.en):
            for col in spec.columns:
                if col.key == issue.column:
                    return col.label(lang)
    return str(issue.params.get("column_label") or issue.column)


def summarize(
    issues: list[Issue], sheet_order: list[str] | None = None, lang: Lang = "zh"
) -> list[SummaryLine]:
    """The summary lines of ``issues``: errors first, then warnings and notes, the biggest first (lines
    gathering other values last of their severity)."""
    order = {name: i for i, name in enumerate(sheet_order or [])}
    ranked = sorted(issues, key=lambda i: (order.get(i.sheet, len(order)), i.sheet, i.row or 0, i.col or 0))
    own_lines = _own_lines(ranked)  # the values with a line of their own
    lines: dict[tuple[Any, ...], SummaryLine] = {}
    others: dict[tuple[str, str, str], set[Any]] = {}  # the values gathered on the "other values" line
    for issue in ranked:
        base = (issue.code, issue.sheet, issue.column)
        value: Any = None
        other = False
        if issue.code in VALUE_CODES:
            value = _hashable(issue.value)
            if value not in own_lines[base]:
                other = True
                others.setdefault(base, set()).add(value)
        key = (*base, "other") if other else (*base, value)
        line = lines.get(key)
        if line is None:
            line = lines[key] = SummaryLine(
                issue.code,
                issue.level,
                issue.sheet,
                issue.column,
                _column_label(issue, lang),
                None if other else value,
            )
        line.count += 1
        if len(line.first) < FIRST_CELLS:
            line.first.append(issue)
    for base, values in others.items():
        lines[(*base, "other")].other_values = len(values)
    # The biggest first; a line gathering other values (a pointer to the list below) after the lines of
    # its severity that name their value.
    return sorted(lines.values(), key=lambda line: (_ORDER[line.level], line.other_values > 0, -line.count))


def _own_lines(ranked: list[Issue]) -> dict[tuple[str, str, str], set[Any]]:
    """Per (code, sheet, column) of :data:`VALUE_CODES`: the values that get a line of their own, the
    :data:`VALUES_PER_COLUMN` most frequent (between equally frequent ones, the first in sheet order)."""
    counts: dict[tuple[str, str, str], Counter[Any]] = {}
    for issue in ranked:
        if issue.code in VALUE_CODES:
            counts.setdefault((issue.code, issue.sheet, issue.column), Counter())[_hashable(issue.value)] += 1
    return defaultdict(
        set,
        {base: {v for v, _ in values.most_common(VALUES_PER_COLUMN)} for base, values in counts.items()},
    )


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return str(value)
    return value
