"""The Duplicates sheet (重复客户): candidate groups with evidence and a decision column.

Decisions typed into the sheet (合并 / 不是重复 / 稍后) are read back on the
next refresh (:func:`read_decisions`) so they survive the rebuild.
"""

from __future__ import annotations

from typing import Any

from crmbook.book import Book
from crmbook.changeset import ListValidation, OwnedSheet, SheetCell
from crmbook.dedupe import DuplicateResult
from crmbook.issues import column_letter
from crmbook.issues_sheet import cell_link
from crmbook.schema import Lang, load_schema
from crmbook.values import shown_text

__all__ = ["DECISIONS", "build_duplicates_sheet", "read_decisions", "read_survivors"]

DECISIONS = {
    "zh": {"merge": "合并", "not_duplicate": "不是重复", "later": "稍后"},
    "en": {"merge": "Merge", "not_duplicate": "Not a duplicate", "later": "Later"},
}
WORDS = {
    "zh": {
        "title": "重复客户",
        "hint": "在“处理”列选择：合并 / 不是重复 / 稍后（选择“不是重复”后，这组客户不会再被提示）；"
        "要保留另一条记录，把“保留”移到那一行。然后运行 crmbook merge。",
        "headers": (
            "组",
            "得分",
            "客户编号",
            "客户名称",
            "电话",
            "负责人",
            "建档日期",
            "建议保留",
            "证据",
            "处理",
        ),
        "keep": "保留",
        "phone": "电话相同",
        "name": "名称相似度",
        "contact": "同一联系人",
        "email_domain": "同一邮箱域名",
        "email": "邮箱相同",
        "wechat": "微信相同",
        "weak_name": "名称不足以识别（只有姓氏和称呼，或占位名称）",
        "address": "地址相似度",
        "none": "没有发现疑似重复的客户。",
    },
    "en": {
        "title": "Duplicates",
        "hint": "Choose in the Decision column: Merge / Not a duplicate / Later ('Not a duplicate' is remembered); "
        "to keep another record, move 'keep' to its row. Then run crmbook merge.",
        "headers": (
            "Group",
            "Score",
            "Customer ID",
            "Name",
            "Phone",
            "Owner",
            "Created",
            "Keep",
            "Evidence",
            "Decision",
        ),
        "keep": "keep",
        "phone": "same phone",
        "name": "name similarity",
        "contact": "same contact",
        "email_domain": "same e-mail domain",
        "email": "same e-mail",
        "wechat": "same WeChat",
        "weak_name": "the name identifies no one (a surname and honorific, or a placeholder)",
        "address": "address similarity",
        "none": "No likely duplicates found.",
    },
}
DECISION_COLUMN = 10


def _evidence(evidence: dict[str, Any], lang: Lang) -> str:
    w = WORDS[lang]
    parts = []
    if "phone" in evidence:
        parts.append(f"{w['phone']} {evidence['phone']}")
    for key in ("email", "wechat"):
        if key in evidence:
            parts.append(f"{w[key]} {evidence[key]}")
    if evidence.get("weak_name"):
        parts.append(w["weak_name"])
    else:
        parts.append(f"{w['name']} {float(evidence.get('name', 0)):.0%}")
    if "contact" in evidence:
        parts.append(f"{w['contact']} {evidence['contact']}")
    if "email_domain" in evidence:
        parts.append(f"{w['email_domain']} {evidence['email_domain']}")
    if "address" in evidence:
        parts.append(f"{w['address']} {float(evidence['address']):.0%}")
    return ("；" if lang == "zh" else "; ").join(parts)


def _text(v: Any) -> str | None:
    """A cell as the sheet shows it (:func:`crmbook.values.shown_text`), None for none."""
    return shown_text(v) or None


def shown_as(value: Any) -> str:
    """``value`` compared as the Duplicates sheet shows it (blank for none, whole numbers without ".0")."""
    text = shown_text(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def read_members(grid: list[list[Any]]) -> dict[str, tuple[str, str]]:
    """Customer ID -> (name, phone) as the Duplicates sheet showed them when the groups were found."""
    out: dict[str, tuple[str, str]] = {}
    for cells in grid[3:]:
        cells = [*cells, *([None] * (DECISION_COLUMN - len(cells)))]
        customer = str(cells[2]).strip() if cells[2] is not None else ""
        if customer and not customer.startswith("#"):
            out[customer] = (shown_as(cells[3]), shown_as(cells[4]))
    return out


def build_duplicates_sheet(
    book: Book, result: DuplicateResult, *, previous_decisions: dict[frozenset[str], str] | None = None
) -> OwnedSheet:
    lang = book.lang
    w = WORDS[lang]
    decisions = previous_decisions or {}
    table = book.tables.get("customers")
    rows: list[list[SheetCell | None]] = [
        [SheetCell(w["title"], "title")],
        [SheetCell(w["hint"], "subtitle")],
        [SheetCell(h, "header") for h in w["headers"]],
    ]
    for g, cluster in enumerate(sorted(result.clusters, key=lambda c: -c.score), start=1):
        key = frozenset(i for i in cluster.ids if i)
        decision = DECISIONS[lang].get(decisions.get(key, ""), None)
        for n, row in enumerate(cluster.rows):
            data = table.data.loc[row] if table is not None else {}
            pair = next(
                (p for p in cluster.pairs if row in (p.row_a, p.row_b) and row != cluster.survivor), None
            )
            link = (
                cell_link(table.sheet_name, f"{column_letter(table.col('name') or 1)}{row}")
                if table is not None
                else None
            )
            rows.append(
                [
                    SheetCell(g, "integer") if n == 0 else None,
                    SheetCell(cluster.score, "percent") if n == 0 else None,
                    SheetCell(_text(data.get("customer_id")) or f"#{row}", "link", link),
                    SheetCell(_text(data.get("name"))),
                    SheetCell(_text(data.get("phone"))),
                    SheetCell(_text(data.get("owner"))),
                    SheetCell(data.get("created"), "date"),
                    SheetCell(w["keep"] if row == cluster.survivor else None),
                    SheetCell(_evidence(pair.evidence, lang) if pair else None, "wrap"),
                    SheetCell(decision) if n == 0 else None,
                ]
            )
    if not result.clusters:
        rows.append([SheetCell(w["none"])])
    last = max(len(rows), 4)
    validations = [
        ListValidation(f"J4:J{last}", tuple(DECISIONS[lang][k] for k in ("merge", "not_duplicate", "later"))),
        ListValidation(f"H4:H{last}", (w["keep"],)),
    ]
    return OwnedSheet(
        name=load_schema().owned_sheet_name("duplicates", lang),
        rows=rows,
        widths={1: 6, 2: 8, 3: 16, 4: 32, 5: 20, 6: 10, 7: 12, 8: 8, 9: 44, 10: 12},
        freeze="A4",
        tab_color="7030A0",
        validations=validations,
    )


def read_decisions(grid: list[list[Any]], lang: Lang) -> dict[frozenset[str], str]:
    """Decisions typed in a Duplicates sheet grid, keyed by the group's customer IDs."""
    words = {v: k for d in DECISIONS.values() for k, v in d.items()}
    out: dict[frozenset[str], str] = {}
    group: list[str] = []
    decision: str | None = None

    def close() -> None:
        if group and decision:
            out[frozenset(group)] = decision

    for cells in grid[3:]:
        cells = [*cells, *([None] * (DECISION_COLUMN - len(cells)))]
        if cells[0] is not None:  # a new group starts
            close()
            group, decision = [], None
            text = str(cells[DECISION_COLUMN - 1] or "").strip()
            decision = words.get(text)
        if cells[2] is not None and not str(cells[2]).startswith("#"):
            group.append(str(cells[2]).strip())
    close()
    return out


def read_survivors(grid: list[list[Any]]) -> dict[frozenset[str], str]:
    """The record marked keep (保留) in each group, keyed by the group's customer IDs."""
    keep_words = {WORDS[lang]["keep"].casefold() for lang in WORDS}
    out: dict[frozenset[str], str] = {}
    group: list[str] = []
    kept: str | None = None
    for cells in [*grid[3:], [0]]:  # a sentinel closes the last group
        cells = [*cells, *([None] * (DECISION_COLUMN - len(cells)))]
        if cells[0] is not None:
            if group and kept:
                out[frozenset(group)] = kept
            group, kept = [], None
        customer = str(cells[2]).strip() if cells[2] is not None else ""
        if customer and not customer.startswith("#"):
            group.append(customer)
            if str(cells[7] or "").strip().casefold() in keep_words:
                kept = customer
    return out
