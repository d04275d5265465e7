"""The change log: which cells people changed between two refreshes.

Refresh compares each record's user-entered values with the snapshot the
previous refresh left in the workbook (see :mod:`crmbook.state`), records
every changed field, new record and deleted record, and marks changed
customers' ``updated`` date. A formula cell changes when its formula does (the
log shows it, ``=X5*0.2``), not when its result does. The Change log sheet keeps earlier entries and
appends the new ones.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from crmbook.book import Book, EarlierRows, Table
from crmbook.changeset import CellWrite, KeptRows, OwnedSheet, SheetCell
from crmbook.ooxml.formulas import shown_formula
from crmbook.schema import Lang, load_schema
from crmbook.snapshot import Snapshot, compare

__all__ = ["Change", "build_changelog_sheet", "diff_table", "entry_rows", "updated_writes"]

MAX_LOG_ROWS = 200_000


def log_room() -> int:
    """Entries freed beyond the need when the oldest go: a log at its limit is written whole once per
    this many entries, not on every refresh that logs a change (200,000 entries: 1.4 s -> 9 s)."""
    return MAX_LOG_ROWS // 10


HEADERS = {
    "zh": ("时间", "工作表", "记录编号", "字段", "原值", "新值", "类型"),
    "en": ("Time", "Sheet", "Record ID", "Field", "Old value", "New value", "Kind"),
}
KINDS = {
    "zh": {"changed": "修改", "added": "新增", "deleted": "删除", "merged": "合并", "unmerged": "撤销合并"},
    "en": {
        "changed": "changed",
        "added": "added",
        "deleted": "deleted",
        "merged": "merged",
        "unmerged": "merge undone",
    },
}


class Change(NamedTuple):  # a tuple: a collect of a team makes 100,000 of them
    sheet_key: str
    record: str
    field: str  # schema key or user column header; "" for a whole record
    old: Any
    new: Any
    kind: str  # changed | added | deleted | merged | unmerged
    row: int | None  # Excel row now (None for deleted records)


def diff_table(table: Table, old: Snapshot, new: Snapshot) -> list[Change]:
    """Changes between the previous refresh's snapshot and the table's current one."""
    rows = table.data.index.tolist()
    diff = compare(old, new)
    changes = [  # a formula shown as it reads on the record's row now (=X6*0.2)
        Change(
            table.key,
            new.keys[c.index],
            c.field,
            shown_formula(c.old, rows[c.index]),
            shown_formula(c.new, rows[c.index]),
            "changed",
            rows[c.index],
        )
        for c in diff.changed
    ]
    changes += [
        Change(table.key, new.keys[i], "", None, None, "added", rows[i])
        for i in diff.added
        if not new.keys[i].startswith("#")
    ]
    changes += [
        Change(table.key, key, "", None, None, "deleted", None)
        for key in diff.deleted
        if not key.startswith("#")
    ]
    return changes


def updated_writes(book: Book, changes: list[Change], today: dt.date) -> list[CellWrite]:
    """Set the customers' ``updated`` date where their content changed or they are new."""
    table = book.tables.get("customers")
    if table is None or table.col("updated") is None:
        return []
    col = table.col("updated")
    assert col is not None
    rows = sorted({c.row for c in changes if c.sheet_key == "customers" and c.row is not None})
    current = table.data["updated"] if "updated" in table.data.columns else None
    writes = []
    for row in rows:
        if current is not None and current.get(row) in (
            today,
            dt.datetime(today.year, today.month, today.day),
        ):
            continue
        writes.append(CellWrite(table.sheet_name, row, col, today))
    return writes


def _label(sheet_key: str, field: str, lang: Lang) -> tuple[str, str]:
    spec = load_schema().sheet(sheet_key)
    try:
        field_label = spec.column(field).label(lang) if field else ""
    except KeyError:
        field_label = field  # a user column: its header text
    return spec.label(lang), field_label


_ISO_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::00|(:\d\d))$")


def _shown(value: Any) -> str | None:
    """A snapshot value as people read it: ``2026-11-22 10:30`` rather than ISO ``…T10:30:00``."""
    if value is None:
        return None
    text = str(value)
    m = _ISO_DATETIME.match(text)
    return f"{m[1]} {m[2]}{m[3] or ''}" if m else text


def _kept_cell(column: int, value: Any) -> SheetCell:
    """A cell of an earlier entry, as :func:`build_changelog_sheet` writes it."""
    return SheetCell(value, "datetime" if column == 0 and isinstance(value, dt.datetime) else "text")


def entry_rows(changes: list[Change], lang: Lang, when: dt.datetime) -> list[list[SheetCell | None]]:
    """The Change log's rows for ``changes``, logged at ``when`` (to the minute)."""
    # The cells every entry of a sheet, field or kind shares are made once (cells are immutable).
    stamp = SheetCell(when.replace(second=0, microsecond=0), "datetime")
    kinds = {kind: SheetCell(text) for kind, text in KINDS[lang].items()}
    labels: dict[tuple[str, str], tuple[SheetCell, SheetCell]] = {}
    rows: list[list[SheetCell | None]] = []
    for c in changes:
        label = labels.get((c.sheet_key, c.field))
        if label is None:
            sheet_label, field_label = _label(c.sheet_key, c.field, lang)
            label = labels[(c.sheet_key, c.field)] = (SheetCell(sheet_label), SheetCell(field_label or None))
        record = c.record
        if record[-2:] == ".0" and record[:-2].isdigit():  # an ID typed as a number: shown as typed
            record = record[:-2]
        rows.append(
            [
                stamp,
                label[0],
                SheetCell(record),
                label[1],
                SheetCell(_shown(c.old)),
                SheetCell(_shown(c.new)),
                kinds[c.kind],
            ]
        )
    return rows


def build_changelog_sheet(
    name: str,
    previous_rows: EarlierRows | list[list[Any]],
    changes: list[Change],
    lang: Lang,
    when: dt.datetime,
) -> OwnedSheet:
    """Earlier entries followed by this refresh's; past MAX_LOG_ROWS the oldest dropped, a tenth more
    than needed (:func:`log_room`), so the next refreshes append again.

    While none is dropped, the earlier entries are kept as the workbook holds them (:class:`KeptRows`,
    not even read): the sheet only grows by this run's entries."""
    previous = previous_rows if isinstance(previous_rows, EarlierRows) else EarlierRows.of(previous_rows)
    rows: list[list[SheetCell | None]] = [[SheetCell(h, "header") for h in HEADERS[lang]]]
    new_count = min(len(changes), MAX_LOG_ROWS)
    grows = previous.count + new_count <= MAX_LOG_ROWS  # (the writer writes it whole where it cannot grow)
    kept = KeptRows(previous.count, _PaddedValues(previous), _kept_cell) if grows else None
    room = MAX_LOG_ROWS - log_room() - new_count  # the oldest go, room made for the next runs' entries
    dropped: list[list[Any]] = []
    if not grows and previous.count:  # written whole
        earlier = _padded(previous.values())
        stay = max(room, 0)
        dropped = earlier[: len(earlier) - stay]
        rows += [[_kept_cell(i, v) for i, v in enumerate(row)] for row in earlier[len(earlier) - stay :]]
    first_new = len(rows)
    rows += entry_rows(changes, lang, when)
    if len(changes) > MAX_LOG_ROWS:  # more than the log holds in one run: the first of them go too
        gone = len(changes) - MAX_LOG_ROWS
        dropped += [
            [cell.value if cell else None for cell in row] for row in rows[first_new : first_new + gone]
        ]
        del rows[first_new : first_new + gone]
    total = len(rows) + (kept.count if kept is not None else 0)
    return OwnedSheet(
        name=name,
        rows=rows,
        widths={1: 17, 2: 12, 3: 22, 4: 16, 5: 28, 6: 28, 7: 8},
        freeze="A2",
        autofilter=f"A1:G{total}",
        tab_color="7F7F7F",
        kept=kept,
        dropped=dropped,
    )


def _padded(rows: list[list[Any]]) -> list[list[Any]]:
    return [[*old[:7], *([None] * (7 - len(old[:7])))] for old in rows]


@dataclass(frozen=True)
class _PaddedValues:
    """The values of the earlier entries, seven to a row (a class: picklable)."""

    previous: EarlierRows

    def __call__(self) -> list[list[Any]]:
        return _padded(self.previous.values())
