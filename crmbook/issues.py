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

__all__ = ["CATALOG", "SEVERITIES", "Issue", "Report", "message"]

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
}


def message(code: str, lang: Lang, params: dict[str, Any]) -> str:
    """The message for ``code`` in ``lang``, filled from ``params``."""
    _, zh, en = CATALOG[code]
    template = zh if lang == "zh" else en
    try:
        return template.format(**params)
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
        return json.dumps(
            {"counts": self.counts(), "issues": [i.to_dict(lang) for i in self.issues]},
            ensure_ascii=False,
            indent=2,
        )
