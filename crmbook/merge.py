"""Merging duplicate customers without losing anything, and undoing a merge exactly.

A group to merge comes from the Duplicates sheet (decision 合并 / Merge; the row
marked 保留 / keep survives) or, with ``auto_threshold``, from every candidate
group scoring at least that much that nobody marked otherwise. For each group:

* the survivor's fields take the merged values: per field a rule from the
  ``merge_rules`` setting (default: the newest non-empty value by updated, then
  created date; phones and e-mails combined; the earliest first-contact date);
* every contact, follow-up and deal of a merged-away customer is re-pointed to
  the survivor (customer ID, and customer name where the sheet has one);
* the merged-away rows are emptied on the customer sheet — not deleted, so row
  numbers, formulas and links elsewhere keep pointing where they did — and kept
  whole on the Merged archive sheet (合并存档);
* the merge is recorded in the state sheet (section ``merge``) with every value
  it replaced, and on the Change log.

:func:`undo_merge` writes every one of those values back, cell for cell, after
checking that nobody edited them since (it refuses rather than overwrite).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crmbook.book import Book, Table, written_over
from crmbook.changelog import Change, build_changelog_sheet
from crmbook.changeset import CellWrite, Changeset, Formula, OwnedSheet, SheetCell
from crmbook.dedupe import find_duplicates
from crmbook.duplicates_sheet import read_decisions, read_members, read_survivors, shown_as
from crmbook.edit import editing
from crmbook.errors import InputError, WorkbookFileError
from crmbook.phones import phone_keys
from crmbook.schema import Lang, load_schema, normalize_label
from crmbook.snapshot import snapshot_sheet, with_writes
from crmbook.state import State, decode_value, encode_value, state_sheet, undoable_record
from crmbook.wording import counted

__all__ = [
    "MergeGroup",
    "MergePlan",
    "MergeResult",
    "format_merge_summary",
    "merge",
    "parse_merge_rules",
    "plan_merge",
    "plan_undo_merge",
    "undo_merge",
]

RULES = ("newest", "longest", "earliest", "latest", "combine")
SECTION = "merge"
CHILD_SHEETS = ("contacts", "followups", "opportunities")
SEPARATOR = "；"


# ------------------------------------------------------------------ values in the state sheet


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or (isinstance(value, str) and not value.strip())
    )


def _same(a: Any, b: Any) -> bool:
    if _blank(a) and _blank(b):
        return True
    if isinstance(a, dt.datetime) and not isinstance(b, dt.datetime) and isinstance(b, dt.date):
        return a == dt.datetime(b.year, b.month, b.day)
    if isinstance(b, dt.datetime) and not isinstance(a, dt.datetime) and isinstance(a, dt.date):
        return b == dt.datetime(a.year, a.month, a.day)
    return bool(a == b)


# ------------------------------------------------------------------ survivorship


def parse_merge_rules(text: str | None) -> dict[str, str]:
    """``"notes=longest; first_contact=earliest"`` -> {field key: rule}; labels in either language work."""
    customers = load_schema().sheet("customers")
    by_label = {normalize_label(t): c.key for c in customers.columns for t in (c.key, c.zh, c.en)}
    rules: dict[str, str] = {}
    for part in re.split(r"[;；\n]", text or ""):
        if not part.strip():
            continue
        name, sep, rule = part.partition("=") if "=" in part else part.partition("＝")
        key = by_label.get(normalize_label(name))
        rule = rule.strip().lower()
        if not sep or key is None or rule not in RULES:
            raise InputError(
                f"Settings › merge_rules: cannot read {part.strip()!r}; write field=rule, the rule one of "
                f"{', '.join(RULES)}, for example 'notes=longest; first_contact=earliest'"
            )
        rules[key] = rule
    return rules


def _recency(table: Table, rows: list[int]) -> list[int]:
    """``rows`` newest first: by updated date, then created date, then the lower row last."""

    def stamp(row: int, key: str) -> pd.Timestamp:
        value = table.data.at[row, key] if key in table.data.columns else None
        parsed = pd.to_datetime(value, errors="coerce") if not _blank(value) else pd.NaT
        return parsed if not pd.isna(parsed) else pd.Timestamp.min

    return sorted(rows, key=lambda r: (stamp(r, "updated"), stamp(r, "created"), r), reverse=True)


def _combine(field_key: str, values: list[Any]) -> Any:
    seen: set[Any] = set()
    parts: list[str] = []
    for value in values:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a phone number typed as a number
        for piece in (
            re.split(r"[;；,，/、\n]", str(value)) if field_key in ("phone", "email") else [str(value)]
        ):
            piece = piece.strip()
            if not piece:
                continue
            key: Any = phone_keys(piece) or piece if field_key == "phone" else piece.casefold()
            if key in seen:
                continue
            seen.add(key)
            parts.append(piece)
    return SEPARATOR.join(parts) if parts else None


def merged_value(rule: str, field_key: str, values_newest_first: list[Any]) -> Any:
    """The value a survivor keeps for one field, from the group's values (newest record first)."""
    present = [v for v in values_newest_first if not _blank(v)]
    if not present:
        return None
    if rule == "combine":
        return _combine(field_key, present)
    if rule == "longest":
        return max(present, key=lambda v: len(str(v)))  # the first (newest) of equal length
    if rule in ("earliest", "latest"):
        dated = [(pd.to_datetime(v, errors="coerce"), v) for v in present]
        dated = [(d, v) for d, v in dated if not pd.isna(d)]
        if dated:
            pick = min if rule == "earliest" else max
            return pick(dated, key=lambda dv: dv[0])[1]
    return present[0]


# ------------------------------------------------------------------ planning


@dataclass
class MergeGroup:
    merge_id: str
    survivor_id: str
    survivor_row: int
    merged_ids: list[str]
    merged_rows: list[int]
    score: float | None
    source: str  # "decision" (the Duplicates sheet) or "auto"
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (before, after)
    children: list[tuple[str, int, str, Any, Any]] = field(
        default_factory=list
    )  # sheet, row, field, old, new


@dataclass
class MergePlan:
    changeset: Changeset
    groups: list[MergeGroup]
    skipped: list[str]  # why a decided group could not be merged
    lang: Lang


def _customer_rows(table: Table) -> dict[str, int]:
    ids: dict[str, int] = {}
    if "customer_id" in table.data.columns:
        for row, value in table.data["customer_id"].items():
            if not _blank(value):
                ids.setdefault(str(value).strip(), int(row))
    return ids


def _next_ids(state: State, today: dt.date, count: int) -> list[str]:
    prefix = f"M{today:%Y%m%d}-"
    used = [
        int(k[len(prefix) :])
        for k in state.extra.get(SECTION, {})
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    ]
    start = max(used, default=0) + 1
    return [f"{prefix}{n:03d}" for n in range(start, start + count)]


def _groups_to_merge(
    book: Book, state: State, auto_threshold: float | None, rows: dict[str, int]
) -> tuple[list[tuple[list[str], str | None, float | None, str]], list[str]]:
    """(customer IDs, chosen survivor ID, score, source) per group, and the decided groups skipped;
    ``rows``: customer ID -> row (:func:`_customer_rows`)."""
    lang = book.lang
    grid = book.duplicates_grid or []
    decisions = read_decisions(grid, lang) if grid else {}
    survivors = read_survivors(grid) if grid else {}
    shown = read_members(grid) if grid else {}
    customers = book.tables["customers"]
    groups: list[tuple[list[str], str | None, float | None, str]] = []
    skipped: list[str] = []
    taken: set[str] = set()
    for ids, decision in decisions.items():
        if decision != "merge":
            continue
        changed = _changed_since_found(customers, rows, sorted(ids), shown, lang)
        if changed:  # the group was decided on what the sheet showed: no longer what is there
            skipped.append(
                f"{'/'.join(sorted(ids))}: {changed} since the duplicates were found; run crmbook dedupe "
                "(or refresh) again, check the group and mark it again"
            )
            taken |= ids
            continue
        groups.append((sorted(ids), survivors.get(ids), None, "decision"))
        taken |= ids
    if auto_threshold is not None:
        decided = {i for ids in decisions for i in ids}
        result = find_duplicates(book, not_duplicates=frozenset(state.not_duplicates))
        table = book.tables["customers"]
        for cluster in result.clusters:
            ids = [i for i in cluster.ids if i]
            if cluster.score < auto_threshold or len(ids) < 2 or set(ids) & (taken | decided):
                continue
            survivor = table.data.at[cluster.survivor, "customer_id"]
            groups.append(
                (sorted(ids), None if _blank(survivor) else str(survivor).strip(), cluster.score, "auto")
            )
            taken |= set(ids)
    return groups, skipped


def _changed_since_found(
    table: Table, rows: dict[str, int], ids: list[str], shown: dict[str, tuple[str, str]], lang: Lang
) -> str:
    """What changed in the name or phone of the group's customers since the Duplicates sheet showed
    them ("C2026000106 客户名称 华信科技 → 华为技术有限公司"), "" when nothing did; ``rows``: customer ID ->
    row (:func:`_customer_rows`)."""
    changes = []
    for cid in ids:
        if cid not in shown or cid not in rows:
            continue  # a member gone from the sheet is reported by the merge itself
        for key, was in zip(("name", "phone"), shown[cid], strict=True):
            now = shown_as(table.data.at[rows[cid], key]) if key in table.data.columns else ""
            if now != was:
                label = table.spec.column(key).label(lang)
                changes.append(f"{cid} {label} {was or '(empty)'} → {now or '(empty)'}")
    return "; ".join(changes)


def plan_merge(
    book: Book, *, auto_threshold: float | None = None, now: dt.datetime | None = None
) -> MergePlan:
    """Compute the merges the Duplicates sheet (and ``auto_threshold``) ask for; touch no file."""
    now = now or dt.datetime.now()
    table = book.tables.get("customers")
    if table is None or not table.has("customer_id"):
        raise InputError("the customer sheet has no customer ID column; run crmbook refresh first")
    if auto_threshold is not None and not 0 < auto_threshold <= 1:
        raise InputError("--auto-threshold is a score between 0 and 1, for example 0.95")
    state = copy.deepcopy(book.state) if book.state is not None else State()
    rules = {**parse_merge_rules(load_schema().setting("merge_rules").default)}
    rules.update(parse_merge_rules(book.settings.get("merge_rules")))
    frames = {k: t.data.copy() for k, t in book.tables.items()}
    rows_by_id = _customer_rows(table)
    wanted, skipped = _groups_to_merge(book, state, auto_threshold, rows_by_id)
    merge_ids = _next_ids(state, book.today, len(wanted))
    formulas = _row_formulas(
        book, table, [rows_by_id[i] for ids, *_ in wanted for i in ids if i in rows_by_id]
    )
    changeset = Changeset()
    groups: list[MergeGroup] = []
    used: set[str] = set()
    for (ids, chosen, score, source), merge_id in zip(wanted, merge_ids, strict=True):
        missing = [i for i in ids if i not in rows_by_id]
        if missing or len(ids) < 2 or used & set(ids):
            skipped.append(
                f"{'/'.join(ids)}: "
                + (
                    f"{', '.join(missing)} no longer on the customer sheet"
                    if missing
                    else "already merged in this run"
                )
            )
            continue
        used |= set(ids)
        rows = [rows_by_id[i] for i in ids]
        survivor_id = chosen if chosen in ids else None
        if survivor_id is None:
            survivor_id = str(
                table.data.at[_recency(table, rows)[-1], "customer_id"]
            ).strip()  # the oldest record
        survivor_row = rows_by_id[survivor_id]
        merged_ids = [i for i in ids if i != survivor_id]
        group = MergeGroup(
            merge_id,
            survivor_id,
            survivor_row,
            merged_ids,
            [rows_by_id[i] for i in merged_ids],
            score,
            source,
        )
        _plan_fields(table, group, rules, rows, formulas.get(survivor_row, {}), changeset)
        _plan_children(book, group, changeset)
        _plan_archive(table, group, changeset)
        groups.append(group)
        state.extra.setdefault(SECTION, {})[merge_id] = _record(table, group, formulas, now)
    _apply(frames, book, changeset)
    _finish(book, state, frames, groups, changeset, now, undo=False)
    return MergePlan(changeset, groups, skipped, book.lang)


def _plan_fields(
    table: Table,
    group: MergeGroup,
    rules: dict[str, str],
    rows: list[int],
    formulas: dict[str, str],
    changeset: Changeset,
) -> None:
    """The survivor's fields as the rules merge them; ``formulas``: the survivor's formula cells (column
    key -> text), which keep their formula (it works on the merged fields; its result is no value to
    replace)."""
    owned = {c.key for c in table.spec.columns if c.owned}
    order = _recency(table, rows)
    for key in table.data.columns:
        if key in owned or key == "customer_id" or key in formulas:
            continue
        col = table.columns.get(key) or table.extra_columns.get(key)
        if col is None:
            continue
        values = [table.data.at[r, key] for r in order]
        before = table.data.at[group.survivor_row, key]
        after = merged_value(rules.get(key, "newest"), key, values)
        if isinstance(before, str) and isinstance(after, str) and before.strip() == after.strip():
            continue  # the same text but for spaces around it (a name retyped with a trailing space)
        if not _same(before, after):
            group.fields[key] = (before, after)
            changeset.cell_writes.append(CellWrite(table.sheet_name, group.survivor_row, col, after))


def _plan_children(book: Book, group: MergeGroup, changeset: Changeset) -> None:
    """The merged-away customers' records re-pointed to the survivor, and every record of the group
    showing the customer's name given the survivor's name as the merge leaves it."""
    customers = book.tables["customers"].data
    if "name" in group.fields:
        survivor_name = group.fields["name"][1]  # the survivorship rule changed it
    else:
        survivor_name = customers.at[group.survivor_row, "name"] if "name" in customers else None
    for key in CHILD_SHEETS:
        child = book.tables.get(key)
        if child is None or not child.has("customer_id"):
            continue
        ids = child.data["customer_id"].map(lambda v: "" if _blank(v) else str(v).strip())
        for row in child.data.index[ids.isin([*group.merged_ids, group.survivor_id])]:
            old = child.data.at[row, "customer_id"]
            if ids[row] != group.survivor_id:
                group.children.append((key, int(row), "customer_id", old, group.survivor_id))
                changeset.cell_writes.append(
                    CellWrite(child.sheet_name, int(row), child.col("customer_id"), group.survivor_id)
                )  # type: ignore[arg-type]
            if (
                child.has("customer_name")
                and not _blank(child.data.at[row, "customer_name"])
                and not _blank(survivor_name)
            ):
                old_name = child.data.at[row, "customer_name"]
                if not _same(old_name, survivor_name):
                    group.children.append((key, int(row), "customer_name", old_name, survivor_name))
                    changeset.cell_writes.append(
                        CellWrite(child.sheet_name, int(row), child.col("customer_name"), survivor_name)
                    )  # type: ignore[arg-type]


def _row_cells(table: Table, row: int) -> dict[str, Any]:
    return {k: table.data.at[row, k] for k in table.data.columns if not _blank(table.data.at[row, k])}


def _plan_archive(table: Table, group: MergeGroup, changeset: Changeset) -> None:
    for row in group.merged_rows:
        for key in _row_cells(table, row):
            col = table.columns.get(key) or table.extra_columns.get(key)
            if col is not None:
                changeset.cell_writes.append(CellWrite(table.sheet_name, row, col, None))


def _row_formulas(book: Book, table: Table, rows: list[int]) -> dict[int, dict[str, str]]:
    """row -> {column key: formula text} of the formula cells in ``rows`` (the values hold their results)."""
    from crmbook.ooxml.formulas import row_formulas

    keys = {col: key for key, col in {**table.columns, **table.extra_columns}.items()}
    try:
        found = row_formulas(book.path, table.sheet_name, rows)
    except (WorkbookFileError, ValueError):
        return {}  # the values are kept; the writer reports a sheet it cannot patch
    out: dict[int, dict[str, str]] = {}
    for (row, col), text in found.items():
        if col in keys:
            out.setdefault(row, {})[keys[col]] = text
    return out


def _record(
    table: Table, group: MergeGroup, formulas: dict[int, dict[str, str]], now: dt.datetime
) -> dict[str, Any]:
    """What the state sheet keeps of one merge: enough to undo it exactly (a formula as a formula);
    ``formulas``: row -> the formula cells of the group's rows (:func:`_row_formulas`)."""
    return {
        "time": now.isoformat(timespec="seconds"),
        "source": group.source,
        "score": group.score,
        "survivor": {"id": group.survivor_id, "row": group.survivor_row},
        "fields": {k: [encode_value(b), encode_value(a)] for k, (b, a) in group.fields.items()},
        "merged": [
            {
                "id": mid,
                "row": row,
                "cells": {k: encode_value(v) for k, v in _row_cells(table, row).items()},
                **({"formulas": formulas[row]} if row in formulas else {}),
            }
            for mid, row in zip(group.merged_ids, group.merged_rows, strict=True)
        ],
        "children": [[s, r, f, encode_value(o), encode_value(n)] for s, r, f, o, n in group.children],
        "undone": None,
    }


# ------------------------------------------------------------------ undo


@dataclass
class UndoPlan:
    changeset: Changeset
    merge_id: str
    restored: int
    lang: Lang


def plan_undo_merge(book: Book, merge_id: str, *, now: dt.datetime | None = None) -> UndoPlan:
    """The writes that give back what merge ``merge_id`` changed; refuses if any of it was edited since."""
    now = now or dt.datetime.now()
    state = copy.deepcopy(book.state) if book.state is not None else State()
    record = undoable_record(state, SECTION, "merge", merge_id)
    table = book.tables["customers"]
    survivor_row = int(record["survivor"]["row"])
    conflicts: list[str] = []
    changeset = Changeset()

    def current(t: Table, row: int, key: str) -> Any:
        return t.data.at[row, key] if row in t.data.index and key in t.data.columns else None

    def column(t: Table, key: str) -> int | None:
        return t.columns.get(key) or t.extra_columns.get(key)

    def header(t: Table, key: str) -> str:
        """The column's header as the workbook shows it, its cell named: 客户名称 (B17)."""
        labels = {c.key: c.label(book.lang) for c in t.spec.columns}
        return labels.get(key, key)

    if current(table, survivor_row, "customer_id") != record["survivor"]["id"]:
        conflicts.append(
            f"row {survivor_row} of {table.sheet_name} no longer holds {record['survivor']['id']}"
        )
    for key, (before, after) in record["fields"].items():
        if not _same(current(table, survivor_row, key), decode_value(after)):
            col = column(table, key)
            where = f" ({_letter(col)}{survivor_row})" if col is not None else ""
            conflicts.append(
                f"{record['survivor']['id']} {header(table, key)}{where} was edited since the merge"
            )
        col = column(table, key)
        if col is not None:
            changeset.cell_writes.append(CellWrite(table.sheet_name, survivor_row, col, decode_value(before)))
    for merged in record["merged"]:
        row = int(merged["row"])
        if row in table.data.index:
            conflicts.append(
                f"row {row} of {table.sheet_name}, emptied by the merge, has been typed in since"
            )
        formulas = merged.get("formulas", {})
        for key, value in merged["cells"].items():
            col = column(table, key)
            if col is None:
                conflicts.append(f"column {key!r} of {table.sheet_name} is gone")
                continue
            shown = decode_value(value)
            restored = (
                Formula(formulas[key], shown if not isinstance(shown, dt.date) else None)
                if key in formulas
                else shown
            )
            changeset.cell_writes.append(CellWrite(table.sheet_name, row, col, restored))
    for sheet_key, row, key, old, new in record["children"]:
        child = book.tables.get(sheet_key)
        if child is None or column(child, key) is None:
            conflicts.append(f"the {sheet_key} sheet or its {key} column is gone")
            continue
        if not _same(current(child, int(row), key), decode_value(new)):
            conflicts.append(f"{child.sheet_name} row {row} {header(child, key)} was edited since the merge")
        changeset.cell_writes.append(
            CellWrite(child.sheet_name, int(row), column(child, key), decode_value(old))
        )  # type: ignore[arg-type]
    if conflicts:
        shown = "; ".join(conflicts[:5]) + (f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise InputError(
            f"cannot undo {merge_id} without overwriting later edits: {shown}. "
            "Put those cells back as the merge left them, or fix the records by hand."
        )
    record["undone"] = now.isoformat(timespec="seconds")
    frames = {k: t.data.copy() for k, t in book.tables.items()}
    _apply(frames, book, changeset)
    group = MergeGroup(
        merge_id,
        record["survivor"]["id"],
        survivor_row,
        [m["id"] for m in record["merged"]],
        [int(m["row"]) for m in record["merged"]],
        record.get("score"),
        record.get("source", ""),
    )
    _finish(book, state, frames, [group], changeset, now, undo=True)
    return UndoPlan(changeset, merge_id, len(record["merged"]), book.lang)


# ------------------------------------------------------------------ shared by merge and undo


def _apply(frames: dict[str, pd.DataFrame], book: Book, changeset: Changeset) -> None:
    """Mirror the record-sheet writes into copies of the frames (blank rows dropped, like the reader)."""
    by_sheet = {t.sheet_name: (k, t) for k, t in book.tables.items()}
    for w in changeset.cell_writes:
        if w.sheet not in by_sheet:
            continue
        key, table = by_sheet[w.sheet]
        name = next((k for k, c in {**table.columns, **table.extra_columns}.items() if c == w.col), None)
        if name is None:
            continue
        frame = frames[key]
        if w.row not in frame.index:
            frame.loc[w.row] = [None] * len(frame.columns)
        frame.at[w.row, name] = w.value.shown if isinstance(w.value, Formula) else w.value
    for key, frame in frames.items():
        frames[key] = frame[frame.notna().any(axis=1)].sort_index() if len(frame.columns) else frame


def _finish(
    book: Book,
    state: State,
    frames: dict[str, pd.DataFrame],
    groups: list[MergeGroup],
    changeset: Changeset,
    now: dt.datetime,
    *,
    undo: bool,
) -> None:
    """Archive sheet, change-log entries, state and snapshots, so the next refresh logs nothing twice."""
    if not groups:
        return
    schema = load_schema()
    lang = book.lang
    kind = "unmerged" if undo else "merged"
    changes = [
        Change("customers", merged_id, "", merged_id, g.survivor_id, kind, None)
        for g in groups
        for merged_id in g.merged_ids
    ]
    changeset.owned_sheets.append(
        build_changelog_sheet(schema.owned_sheet_name("changelog", lang), book.changelog, changes, lang, now)
    )
    changeset.owned_sheets.append(archive_sheet(book, state, lang))
    if book.state is not None:
        # The snapshots take in the merge's own writes only: edits people made since the last refresh
        # are left for the refresh that follows to log and date.
        for key, table in book.tables.items():
            written = _written_fields(table, changeset)
            if key in state.snapshots and written:
                after = copy.copy(table)
                after.data = frames[key]
                written_over(after, changeset.cell_writes)  # formulas an undo gives back
                snapshot = with_writes(state.snapshots[key], table, after, written)
                state.snapshots[key] = snapshot
                changeset.owned_sheets.append(snapshot_sheet(key, snapshot))
    changeset.owned_sheets.append(state_sheet(state))


def _written_fields(table: Table, changeset: Changeset) -> dict[int, set[str]]:
    """Excel row -> the fields of ``table`` the changeset writes."""
    by_col = {col: name for name, col in {**table.columns, **table.extra_columns}.items()}
    out: dict[int, set[str]] = {}
    for w in changeset.cell_writes:
        if w.sheet == table.sheet_name and w.col in by_col:
            out.setdefault(w.row, set()).add(by_col[w.col])
    return out


ARCHIVE_HEADERS = {
    "zh": ("合并编号", "合并时间", "并入客户", "原行号"),
    "en": ("Merge ID", "Merged at", "Merged into", "Former row"),
}


def archive_sheet(book: Book, state: State, lang: Lang) -> OwnedSheet:
    """Every merged-away record still merged, whole: the merge, the survivor, its former row, every cell."""
    table = book.tables["customers"]
    keys = [k for k, _ in sorted({**table.columns, **table.extra_columns}.items(), key=lambda kv: kv[1])]
    labels = [table.spec.column(k).label(lang) if k in table.columns else k for k in keys]
    rows: list[list[SheetCell | None]] = [[SheetCell(h, "header") for h in (*ARCHIVE_HEADERS[lang], *labels)]]
    for merge_id, record in sorted(state.extra.get(SECTION, {}).items()):
        if record.get("undone"):
            continue
        for merged in record["merged"]:
            cells = [
                SheetCell(merge_id),
                SheetCell(dt.datetime.fromisoformat(record["time"]), "datetime"),
                SheetCell(record["survivor"]["id"]),
                SheetCell(int(merged["row"]), "integer"),
            ]
            for key in keys:
                value = decode_value(merged["cells"].get(key))
                style = (
                    "datetime"
                    if isinstance(value, dt.datetime)
                    else "date"
                    if isinstance(value, dt.date)
                    else "text"
                )
                cells.append(SheetCell(value, style))
            rows.append(cells)
    return OwnedSheet(
        name=load_schema().owned_sheet_name("merged", lang),
        rows=rows,
        widths={1: 16, 2: 17, 3: 16, 4: 8},
        freeze="A2",
        autofilter=f"A1:{_letter(len(rows[0]))}{len(rows)}",
        tab_color="7F7F7F",
    )


def _letter(n: int) -> str:
    from crmbook.issues import column_letter

    return column_letter(n)


# ------------------------------------------------------------------ files


@dataclass
class MergeResult:
    path: str
    groups: list[MergeGroup]
    skipped: list[str]
    written: bool
    backup_path: str | None
    undone: str | None = None


def merge(
    path: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    auto_threshold: float | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> MergeResult:
    """Apply the merge decisions of the workbook at ``path`` in place (safely, with a backup)."""
    with editing(path, today, lock_timeout=lock_timeout) as edit:
        plan = plan_merge(edit.book, auto_threshold=auto_threshold, now=now)
        written = bool(plan.groups) and not dry_run
        backup = edit.save(plan.changeset) if written else None
    return MergeResult(edit.path, plan.groups, plan.skipped, written, backup)


def undo_merge(
    path: str | os.PathLike[str],
    merge_id: str,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> MergeResult:
    """Give back what merge ``merge_id`` changed, cell for cell."""
    with editing(path, today, lock_timeout=lock_timeout) as edit:
        plan = plan_undo_merge(edit.book, merge_id, now=now)
        backup = edit.save(plan.changeset)
    return MergeResult(edit.path, [], [], True, backup, undone=merge_id)


def format_merge_summary(result: MergeResult, lang: Lang = "en") -> list[str]:
    """Lines the CLI prints after a merge or an undo."""
    if result.undone:
        return [
            f"{result.path}: undid merge {result.undone}; the merged-away customers and their records are back"
        ]
    lines = []
    for g in result.groups:
        children = len({(s, r) for s, r, f, _, _ in g.children if f == "customer_id"})
        lines.append(
            f"{g.merge_id}: {', '.join(g.merged_ids)} merged into {g.survivor_id} "
            f"({counted(len(g.fields), 'field')} updated, "
            f"{children} contacts/follow-ups/deals re-pointed)"
        )
    lines += [f"skipped {s}" for s in result.skipped]
    if not result.groups:
        return [
            *lines,
            f"{result.path}: nothing to merge (choose 合并 / Merge on the Duplicates sheet, or use --auto-threshold)",
        ]
    verb = "merged" if result.written else "would merge"
    lines.append(
        f"{result.path}: {verb} {counted(len(result.groups), 'group')}"
        + (
            f"; undo one with: crmbook undo-merge {result.path} {result.groups[0].merge_id}"
            if result.groups and result.written
            else ""
        )
    )
    return lines
