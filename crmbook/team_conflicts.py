"""The 冲突 / Conflicts sheet of ``crmbook collect``: what it lists, and the decisions people type on it.

Each conflict a collect found (a cell changed differently by a rep and in the canonical workbook, a
record the rep deleted, a record the lead deleted that the rep edited) is kept in the state sheet with
the collect that found it (:mod:`crmbook.team_state`); the sheet is rebuilt from there on every
collect, resolve and undo, with the decisions typed in its 处理 / Decision column carried over and
what ``crmbook collect --resolve`` did about each (:func:`crmbook.team_collect.plan_resolve`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from crmbook.changeset import ListValidation, OwnedSheet, SheetCell
from crmbook.schema import Lang, load_schema
from crmbook.state import State, decode_value
from crmbook.team_state import COLLECT_SECTION, RESOLVE_SECTION

__all__ = [
    "DECISIONS",
    "DELETED_BY_REP",
    "DELETED_IN_BOOK",
    "FIELD",
    "KEEP_BOOK",
    "TAKE_REP",
    "all_conflicts",
    "conflicts_sheet",
    "decision_of",
    "read_conflict_decisions",
]

FIELD, DELETED_BY_REP, DELETED_IN_BOOK = "field", "deleted_by_rep", "deleted_in_book"
TAKE_REP, KEEP_BOOK = "rep", "book"
DECISIONS = {
    "zh": {TAKE_REP: "采用代表的值", KEEP_BOOK: "保留总表的值"},
    "en": {TAKE_REP: "Take rep's value", KEEP_BOOK: "Keep canonical value"},
}
KIND_TEXT = {
    "zh": {FIELD: "两边都改了", DELETED_BY_REP: "代表删除了记录", DELETED_IN_BOOK: "总表已删除该记录"},
    "en": {
        FIELD: "changed on both sides",
        DELETED_BY_REP: "deleted by the rep",
        DELETED_IN_BOOK: "deleted in the canonical book",
    },
}
HEADERS = {
    "zh": (
        "冲突编号",
        "工作表",
        "记录编号",
        "字段",
        "拆分时的值",
        "代表的值",
        "总表的值",
        "代表",
        "时间",
        "来源文件",
        "类型",
        "处理",
        "状态",
    ),
    "en": (
        "Conflict",
        "Sheet",
        "Record ID",
        "Field",
        "Split value",
        "Rep's value",
        "Canonical value",
        "Rep",
        "When",
        "File",
        "Kind",
        "Decision",
        "Status",
    ),
}
DECISION_COL = 12  # 1-based column of the decision on the Conflicts sheet


def all_conflicts(state: State) -> Iterable[tuple[str, list[Any]]]:
    for collect_id, record in sorted(state.extra.get(COLLECT_SECTION, {}).items()):
        if record.get("undone"):
            continue
        for entry in record.get("conflicts", []):
            yield collect_id, entry


def decision_of(text: Any) -> str | None:
    folded = str(text or "").strip().casefold()
    for lang_words in DECISIONS.values():
        for key, word in lang_words.items():
            if folded and folded == word.casefold():
                return key
    return None


def read_conflict_decisions(grid: list[list[Any]] | None) -> dict[str, str]:
    """Conflict number -> the decision typed on the Conflicts sheet (as written, either language)."""
    out: dict[str, str] = {}
    for row in (grid or [])[1:]:
        if len(row) >= DECISION_COL and row[0] not in (None, "") and row[DECISION_COL - 1] not in (None, ""):
            out[str(row[0]).strip()] = str(row[DECISION_COL - 1]).strip()
    return out


def _status(resolved: dict[str, Any] | None, lang: Lang) -> str | None:
    if not resolved:
        return None
    when = str(resolved.get("time", ""))[:16].replace("T", " ")
    note = resolved.get("note")
    if lang == "zh":
        done = {TAKE_REP: "已采用代表的值", KEEP_BOOK: "已保留总表的值"}.get(
            resolved.get("decision", ""), "已处理"
        )
    else:
        done = {TAKE_REP: "rep's value applied", KEEP_BOOK: "canonical value kept"}.get(
            resolved.get("decision", ""), "done"
        )
    return f"{done} {when}" + (f"；{note}" if note and lang == "zh" else f"; {note}" if note else "")


def _cell(value: Any) -> SheetCell:
    value = decode_value(value)
    if isinstance(value, dt.datetime):
        return SheetCell(value, "datetime")
    if isinstance(value, dt.date):
        return SheetCell(value, "date")
    if isinstance(value, bool) or value is None:
        return SheetCell(value)
    if isinstance(value, int | float):
        return SheetCell(value)
    return SheetCell(str(value)[:32000], "wrap")


def conflicts_sheet(state: State, decisions: dict[str, str], lang: Lang) -> OwnedSheet:
    """Every conflict of the collects not undone, with its decision and what was done about it."""
    schema = load_schema()
    resolved = state.extra.get(RESOLVE_SECTION, {})
    rows: list[list[SheetCell | None]] = [[SheetCell(h, "header") for h in HEADERS[lang]]]
    for _, entry in all_conflicts(state):
        number, kind, sheet_key, record, name, base, rep, book, who, when, file, *_ = entry
        spec = schema.sheet(sheet_key)
        try:
            label = spec.column(name).label(lang) if name else ""
        except KeyError:
            label = name
        if kind == DELETED_BY_REP:
            rep = "（已删除）" if lang == "zh" else "(deleted)"
        if kind == DELETED_IN_BOOK:
            book = "（已删除）" if lang == "zh" else "(deleted)"
        rows.append(
            [
                SheetCell(number),
                SheetCell(spec.label(lang)),
                SheetCell(record),
                SheetCell(label or None),
                _cell(base),
                _cell(rep),
                _cell(book),
                SheetCell(who),
                SheetCell(dt.datetime.fromisoformat(when), "datetime"),
                SheetCell(file),
                SheetCell(KIND_TEXT[lang][kind]),
                SheetCell(decisions.get(number) or None),
                SheetCell(_status(resolved.get(number), lang)),
            ]
        )
    last = max(len(rows), 2)
    return OwnedSheet(
        name=schema.owned_sheet_name("conflicts", lang),
        rows=rows,
        widths={
            1: 18,
            2: 10,
            3: 22,
            4: 14,
            5: 24,
            6: 24,
            7: 24,
            8: 10,
            9: 17,
            10: 18,
            11: 16,
            12: 16,
            13: 28,
        },
        freeze="A2",
        autofilter=f"A1:M{len(rows)}",
        tab_color="C00000",
        validations=[ListValidation(f"L2:L{last + 200}", tuple(DECISIONS[lang].values()))],
    )
