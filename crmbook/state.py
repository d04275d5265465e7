"""crmbook's memory inside the workbook.

What refresh must remember between runs lives in very hidden sheets of the
workbook itself, so it travels with the file when it is emailed:

* ``_crmbook``: rows of (section, key, value-as-JSON) — ID sequence high-water
  marks, pairs confirmed as "not a duplicate", the time of the last refresh.
* ``_crmbook_snap_<sheet>``: one row per record, (record key, the record's
  user-entered values as JSON) — the snapshot the change log compares with.

This module converts between those grids and plain Python data; it does no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crmbook.book import Table
from crmbook.changeset import OwnedSheet, SheetCell

__all__ = [
    "STATE_SHEET",
    "State",
    "record_key",
    "record_values",
    "snapshot_sheet",
    "snapshot_sheet_name",
    "state_sheet",
]

STATE_SHEET = "_crmbook"
SNAPSHOT_PREFIX = "_crmbook_snap_"
FORMAT_VERSION = 1
LONG_TEXT = 1000


def snapshot_sheet_name(sheet_key: str) -> str:
    return f"{SNAPSHOT_PREFIX}{sheet_key}"


@dataclass
class State:
    """Everything refresh remembers, as plain data."""

    high_water: dict[str, int] = field(default_factory=dict)  # "sheet:scope" -> last sequence number used
    not_duplicates: set[tuple[str, str]] = field(default_factory=set)  # sorted customer-ID pairs
    last_refresh: str | None = None
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # sections other modules own
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet key -> record key -> JSON

    @classmethod
    def from_grids(
        cls, state_grid: list[list[Any]] | None, snapshot_grids: dict[str, list[list[Any]]]
    ) -> State:
        state = cls()
        for cells in (state_grid or [])[1:]:
            if len(cells) < 3 or cells[0] is None or cells[1] is None or cells[2] is None:
                continue
            section, key = str(cells[0]), str(cells[1])
            try:
                value = json.loads(str(cells[2]))
            except ValueError:
                continue
            if section == "high_water" and isinstance(value, int | float):
                state.high_water[key] = int(value)
            elif section == "not_duplicate" and isinstance(value, list) and len(value) == 2:
                a, b = sorted(str(v) for v in value)
                state.not_duplicates.add((a, b))
            elif section == "meta" and key == "last_refresh":
                state.last_refresh = str(value)
            elif section != "meta":
                state.extra.setdefault(section, {})[key] = value
        for sheet_key, grid in snapshot_grids.items():
            snap: dict[str, str] = {}
            for cells in grid[1:]:
                if len(cells) >= 2 and cells[0] is not None and cells[1] is not None:
                    snap[str(cells[0])] = str(cells[1])
            state.snapshots[sheet_key] = snap
        return state

    def rows(self) -> list[list[Any]]:
        """(section, key, JSON) rows for the state sheet, in a stable order."""
        out: list[list[Any]] = [
            ["meta", "format", json.dumps(FORMAT_VERSION)],
            ["meta", "last_refresh", json.dumps(self.last_refresh)],
        ]
        out += [["high_water", k, json.dumps(v)] for k, v in sorted(self.high_water.items())]
        out += [
            ["not_duplicate", f"{a}|{b}", json.dumps([a, b], ensure_ascii=False)]
            for a, b in sorted(self.not_duplicates)
        ]
        for section in sorted(self.extra):
            for key, value in sorted(self.extra[section].items()):
                out.append([section, key, json.dumps(value, ensure_ascii=False, default=str)])
        return out


def state_sheet(state: State) -> OwnedSheet:
    rows: list[list[SheetCell | None]] = [[SheetCell(h, "header") for h in ("section", "key", "value")]]
    rows += [[SheetCell(v) for v in row] for row in state.rows()]
    return OwnedSheet(name=STATE_SHEET, rows=rows, hidden="veryHidden", widths={1: 14, 2: 40, 3: 60})


# ------------------------------------------------------------------ snapshots


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S") if v.second else v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return int(v) if v.is_integer() else v
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int):
        return v
    return str(v)


def user_fields(table: Table) -> list[str]:
    """The columns people type: schema columns crmbook does not compute, plus user columns."""
    owned = {c.key for c in table.spec.columns if c.owned and c.key != table.spec.id_column}
    return [c for c in table.data.columns if c not in owned]


def _json_column(values: list[Any]) -> list[Any]:
    """A column's cells as JSON-ready values (text passes through; dates and numbers converted once each)."""
    cache: dict[Any, Any] = {}
    out = []
    for v in values:
        if v is None or type(v) is str:
            # Long texts are remembered by a prefix and a hash, so a record fits in one cell.
            out.append(
                v
                if v is None or len(v) <= LONG_TEXT
                else f"{v[:200]}…#{hashlib.sha1(v.encode()).hexdigest()[:16]}"
            )
            continue
        try:
            converted = cache[v]
        except KeyError:
            converted = cache[v] = _json_value(v)
        except TypeError:  # unhashable: convert directly
            converted = _json_value(v)
        out.append(converted)
    return out


def record_values(table: Table) -> pd.Series:
    """Each record's user-entered values as canonical JSON, indexed by Excel row."""
    fields = user_fields(table)
    columns = [_json_column(table.data[f].tolist()) for f in fields]
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
    out = (
        [
            dumps({f: v for f, v in zip(fields, row, strict=True) if v is not None})
            for row in zip(*columns, strict=True)
        ]
        if columns
        else ["{}"] * len(table.data)
    )
    return pd.Series(out, index=table.data.index, dtype=object)


def record_key(table: Table) -> pd.Series:
    """The key a record is remembered by: its ID, or ``#<row>`` while it has none."""
    id_col = table.spec.id_column
    ids = table.data[id_col] if id_col in table.data.columns else pd.Series(None, index=table.data.index)
    return pd.Series(
        [
            str(v).strip() if v is not None and str(v).strip() else f"#{r}"
            for r, v in zip(table.data.index, ids, strict=True)
        ],
        index=table.data.index,
        dtype=object,
    )


def snapshot_sheet(sheet_key: str, keys: pd.Series, values: pd.Series) -> OwnedSheet:
    rows: list[list[SheetCell | None]] = [[SheetCell("record", "header"), SheetCell("values", "header")]]
    rows += [[SheetCell(k), SheetCell(v)] for k, v in zip(keys.tolist(), values.tolist(), strict=True)]
    return OwnedSheet(
        name=snapshot_sheet_name(sheet_key), rows=rows, hidden="veryHidden", widths={1: 24, 2: 80}
    )
