"""Problems as data.

Every check in crmbook (structure, validation, duplicates, import) reports
:class:`Issue` records into a :class:`Report` instead of raising at the first
bad row. Each issue has a stable ``code``; its message comes from the
:data:`CATALOG` in the workbook's language, filled from ``params``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from crmbook.schema import Lang

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

__all__ = ["CATALOG", "QUOTED_CHARS", "SEVERITIES", "Issue", "Report", "message", "quoted"]

# code -> (severity, Chinese template, English template). Templates use
# str.format fields taken from Issue.params (plus {value}).
CATALOG: dict[str, tuple[Severity, str, str]] = {
    # structure (crmbook check)
    "not-a-workbook": (
        "error",
        "不是 Excel 工作簿（{detail}）。请用 Excel 另存为 .xlsx 后重试。",
        "Not an Excel workbook ({detail}). Save it as .xlsx from Excel and try again.",
    ),
    "encrypted": (
        "error",
        "工作簿设置了打开密码。请在 Excel 中“文件 > 信息 > 保护工作簿 > 用密码进行加密”清除密码后另存，再重试。",
        "The workbook is password-encrypted. In Excel use File > Info > Protect Workbook > "
        "Encrypt with Password, clear the password, save, and try again.",
    ),
    "missing-config-sheet": (
        "warning",
        "缺少工作表“{expected}”：crmbook 按标准设置和列表继续，表格里的下拉列表没有可选项。请从备份恢复该工作表，"
        "或从 crmbook new 新建的模板中复制过来。",
        "Missing sheet '{expected}': crmbook goes on with its standard settings and lists, and the "
        "dropdowns offer nothing. Restore the sheet from a backup, or copy it from a template made by "
        "crmbook new.",
    ),
    "missing-sheet": (
        "error",
        "缺少工作表“{expected}”（也接受：{accepted}）。请恢复该工作表，或用 crmbook new 新建模板对照。",
        "Missing sheet '{expected}' (also accepted: {accepted}). Restore it, or compare with a "
        "template made by crmbook new.",
    ),
    "missing-column": (
        "error",
        "工作表“{sheet}”缺少必填列“{expected}”（可用表头：{accepted}）。请在表头行加上这一列。",
        "Sheet '{sheet}' has no required column '{expected}' (accepted headers: {accepted}). "
        "Add the column to the header row.",
    ),
    "duplicate-column": (
        "error",
        "工作表“{sheet}”中有两列都表示“{expected}”（第 {first} 列和第 {second} 列）。请删除或改名其中一列。",
        "Sheet '{sheet}' has two columns for '{expected}' (columns {first} and {second}). "
        "Delete or rename one of them.",
    ),
    "missing-header": (
        "error",
        "工作表“{sheet}”找不到表头行（前 {scanned} 行中没有可识别的列名）。",
        "Sheet '{sheet}' has no recognisable header row in its first {scanned} rows.",
    ),
    "missing-optional-column": (
        "info",
        "工作表“{sheet}”没有“{expected}”列；需要时可在表头行添加。",
        "Sheet '{sheet}' has no '{expected}' column; add it to the header row if you need it.",
    ),
    "bad-setting": (
        "warning",
        "设置“{setting}”的值“{value}”无效，已改用默认值“{default}”。",
        "Setting '{setting}' has an invalid value '{value}'; using the default '{default}'.",
    ),
    # IDs and references (refresh)
    "duplicate-id": (
        "error",
        "编号“{value}”与第 {first_row} 行重复。编号不会被自动改写：请给其中一条记录清空编号，刷新后会分配新编号。",
        "ID '{value}' repeats the one on row {first_row}. IDs are never rewritten: clear one of them and Refresh assigns a new ID.",
    ),
    "malformed-id": (
        "warning",
        "编号“{value}”不符合当前编号规则“{pattern}”。编号已保留；如需统一，请在“设置”中调整规则。",
        "ID '{value}' does not follow the current pattern '{pattern}'. It is kept; adjust the pattern in Settings if needed.",
    ),
    "id-needs-customer": (
        "warning",
        "这条记录还没有客户编号，无法按规则生成编号。请填写客户编号或客户名称。",
        "This record has no customer ID yet, so its ID cannot be generated. Fill in the customer ID or name.",
    ),
    "id-grown": (
        "info",
        "编号规则“{pattern}”在“{scope}”范围内的 {width} 位序号已用完，之后的编号多一位（如 {value}）。编号仍然唯一；如希望位数一致，请在“设置”中加长序号位数。",
        "The {width}-digit sequence of pattern '{pattern}' is used up in scope '{scope}': the IDs after it have one digit more (like {value}). They stay unique; give the pattern more digits in Settings for IDs of one width.",
    ),
    "ambiguous-customer": (
        "warning",
        "客户名称“{value}”对应 {count} 个客户，无法确定。请直接填写客户编号。",
        "Customer name '{value}' matches {count} customers. Fill in the customer ID instead.",
    ),
    "unknown-customer-name": (
        "error",
        "找不到名为“{value}”的客户。请检查客户名称，或先在“客户”表中添加该客户。",
        "No customer is called '{value}'. Check the name, or add the customer first.",
    ),
    # validation
    "excel-error": (
        "warning",
        "“{column_label}”是 Excel 错误值 {value}。请修正公式或改为实际数值。",
        "'{column_label}' holds the Excel error {value}. Fix the formula or type the value.",
    ),
    "missing-required": (
        "error",
        "“{column_label}”必填，请补上。",
        "'{column_label}' is required: fill it in.",
    ),
    "no-way-to-reach": (
        "error",
        "没有任何联系方式：请至少填写一项（{fields}）。",
        "No way to reach this record: fill in at least one of {fields}.",
    ),
    "unknown-field-setting": (
        "warning",
        "设置“{setting}”中的“{value}”不是 crmbook 认识的字段。请写成“工作表.列名”，如 客户.所属行业。",
        "Setting '{setting}' names '{value}', which is no field crmbook knows. Write it as Sheet.Column, e.g. Customers.Industry.",
    ),
    "bad-date": (
        "error",
        "“{column_label}”不是可识别的日期：{value}。请写成 2026-10-08 这样的格式。",
        "'{column_label}' is not a date crmbook can read: {value}. Write it like 2026-10-08.",
    ),
    "date-no-year": (
        "error",
        "“{column_label}”的日期“{value}”缺少年份，crmbook 不会猜测。请补上年份。",
        "'{column_label}' has a date without a year ('{value}'); crmbook does not guess. Add the year.",
    ),
    "bad-number": (
        "error",
        "“{column_label}”不是金额：{value}。请填写数字（单位：元），如 125000 或 12.5万。",
        "'{column_label}' is not an amount: {value}. Type a number in yuan, e.g. 125000.",
    ),
    "negative-amount": (
        "warning",
        "“{column_label}”是负数：{value}。金额应为 0 或正数；退款或折让请另行记录。",
        "'{column_label}' is negative: {value}. An amount is 0 or more; record a refund or discount apart.",
    ),
    "bad-percent": (
        "error",
        "“{column_label}”应为 0 到 100 之间的百分比：{value}。",
        "'{column_label}' must be a percentage from 0 to 100: {value}.",
    ),
    "bad-email": (
        "warning",
        "“{column_label}”不是有效的邮箱地址：{value}。",
        "'{column_label}' is not a valid e-mail address: {value}.",
    ),
    "bad-url": (
        "warning",
        "“{column_label}”不像网址：{value}。",
        "'{column_label}' does not look like a web address: {value}.",
    ),
    "bad-phone": (
        "error",
        "“{column_label}”中有无法识别的号码：{fragment}。手机写 11 位，座机带区号（如 021-61234567），国外号码以 + 和国家代码开头（如 +1 415 555 0100）；多个号码用；分隔。",
        "'{column_label}' has a number crmbook cannot read: {fragment}. Mobiles have 11 digits; landlines need the area code (021-61234567); a number abroad starts with + and its country code (+1 415 555 0100); separate several with ;.",
    ),
    "list-alias": (
        "warning",
        "“{column_label}”的“{value}”可识别为“{suggestion}”，请改为列表中的标准写法。",
        "'{column_label}' value '{value}' means '{suggestion}': use the list's wording.",
    ),
    "not-in-list": (
        "warning",
        "“{column_label}”的“{value}”不在列表中。请从下拉列表选择，或在“列表”工作表中添加该项。",
        "'{column_label}' value '{value}' is not in the list. Pick from the dropdown, or add it on the Lists sheet.",
    ),
    "unknown-customer": (
        "error",
        "客户编号“{value}”不存在。请核对编号，或先在“客户”表中添加该客户。",
        "Customer ID '{value}' does not exist. Check it, or add the customer first.",
    ),
    "primary-contact-count": (
        "warning",
        "客户 {customer} 有 {count} 位主要对接人，应当恰好一位。请只保留一位为“是”。",
        "Customer {customer} has {count} primary contacts; there should be exactly one. Keep one marked.",
    ),
    "no-primary-contact": (
        "warning",
        "客户 {customer} 有 {contacts} 位联系人，但没有标记主要对接人。请把其中一位的“主要对接人”设为“是”。",
        "Customer {customer} has {contacts} contacts and none is marked primary. Mark one of them as the primary contact.",
    ),
    "lost-without-reason": (
        "error",
        "客户状态为流失客户，请填写流失原因。",
        "The customer is lost: fill in the lost reason.",
    ),
    "won-without-amount": (
        "error",
        "销售机会已成交，请填写实际成交金额。",
        "The deal is won: fill in the actual amount.",
    ),
    "closed-without-date": (
        "error",
        "销售机会已关闭（成交或失败），请填写关闭时间。",
        "The deal is closed (won or lost): fill in the close date.",
    ),
    "closed-without-reason": (
        "warning",
        "销售机会已关闭，请填写赢单/输单原因。",
        "The deal is closed: fill in the win/loss reason.",
    ),
    "closed-without-contract": (
        "error",
        "跟进记录标记为已成交，请填写合同编号。",
        "The follow-up says the deal closed: fill in the contract number.",
    ),
    "probability-stage-mismatch": (
        "warning",
        "成交概率 {value}% 与销售阶段不符（该阶段默认 {default}%）。",
        "Probability {value}% does not fit the stage (its default is {default}%).",
    ),
    "future-date": (
        "error",
        "“{column_label}”不能晚于今天：{value}。",
        "'{column_label}' cannot be in the future: {value}.",
    ),
    "sensitive-id-number": (
        "error",
        "“{column_label}”中有身份证号码（{value}）。不得保存身份证号，请删除。",
        "'{column_label}' holds a national ID number ({value}). Never store ID numbers: delete it.",
    ),
    "sensitive-bank-card": (
        "warning",
        "“{column_label}”中像是银行卡号（{value}）。请勿保存银行卡号。",
        "'{column_label}' looks like a bank card number ({value}). Do not store card numbers.",
    ),
    "home-address": (
        "warning",
        "地址像是个人住址：{value}。请只填写公司办公地址。",
        "The address looks like a home address: {value}. Store the office address only.",
    ),
}


QUOTED_CHARS = 200  # a value a message quotes is cut after this many characters ("…" marks the cut)


def quoted(value: Any) -> Any:
    """``value`` as a message quotes it: a text longer than QUOTED_CHARS cut ("…" marks the cut)."""
    if isinstance(value, str) and len(value) > QUOTED_CHARS:
        return value[:QUOTED_CHARS] + "…"
    return value


def message(code: str, lang: Lang, params: dict[str, Any]) -> str:
    """The message for ``code`` in ``lang``, filled from ``params`` (a long value quoted in part: a
    message names the cell, it need not repeat a whole note)."""
    _, zh, en = CATALOG[code]
    template = zh if lang == "zh" else en
    try:
        return template.format(**{k: quoted(v) for k, v in params.items()})
    except (KeyError, IndexError):  # a template field the caller did not give
        return template


@dataclass(frozen=True)
class Issue:
    """One problem: where it is, what the value was, and which rule it broke.

    ``sheet`` is the sheet name as it appears in the workbook (or a file name
    for file-level problems); ``row`` and ``col`` are 1-based Excel
    coordinates, ``column`` the schema key or header text.
    """

    code: str
    sheet: str = ""
    row: int | None = None
    col: int | None = None
    column: str = ""
    value: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # None: the catalog's severity

    @property
    def level(self) -> Severity:
        return self.severity or CATALOG[self.code][0]

    def message(self, lang: Lang = "zh") -> str:
        return message(self.code, lang, {"value": self.value, **self.params})

    @property
    def cell(self) -> str:
        """The A1 reference, or '' when the issue is not about one cell."""
        if self.row is None or self.col is None:
            return ""
        return f"{column_letter(self.col)}{self.row}"

    def location(self) -> str:
        parts = [p for p in (self.sheet, self.cell or (f"row {self.row}" if self.row else "")) if p]
        return "!".join(parts)

    def to_dict(self, lang: Lang = "zh") -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.level
        d["cell"] = self.cell
        d["message"] = self.message(lang)
        d["value"] = _jsonable(self.value)
        d["params"] = {k: _jsonable(v) for k, v in self.params.items()}
        return d


def column_letter(col: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class Report:
    """The issues a run found, in the order found."""

    issues: list[Issue] = field(default_factory=list)

    def add(self, issue: Issue) -> None:
        self.issues.append(issue)

    def extend(self, issues: list[Issue] | Report) -> None:
        self.issues.extend(issues.issues if isinstance(issues, Report) else issues)

    def counts(self) -> dict[Severity, int]:
        c = Counter(i.level for i in self.issues)
        return {s: c.get(s, 0) for s in SEVERITIES}

    @property
    def has_errors(self) -> bool:
        return any(i.level == "error" for i in self.issues)

    def to_json(self, lang: Lang = "zh") -> str:
        """The counts, the summary (one line per kind of problem, see crmbook.issue_summary) and
        every issue."""
        from crmbook.issue_summary import summarize

        return json.dumps(
            {
                "counts": self.counts(),
                "summary": [line.to_dict(lang) for line in summarize(self.issues, lang=lang)],
                "issues": [i.to_dict(lang) for i in self.issues],
            },
            ensure_ascii=False,
            indent=2,
        )
