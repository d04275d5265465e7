"""Snapshots of what people typed, so the next refresh can tell what changed.

A snapshot holds, per record sheet, each record's key (its ID, or ``#<row>``
while it has none) and the values of the columns people type, column by
column. It is stored in the workbook itself, in a very hidden sheet
``_crmbook_snap_<sheet>``: the snapshot as compact JSON, zlib-compressed,
base64-encoded and cut into cells of at most 30,000 characters (Excel's cell
limit is 32,767). Keeping it columnar and compressed makes it cheap to write
and read even for 100,000 records, and it travels with the workbook when the
file is emailed.

Long texts (over ``LONG_TEXT`` characters) are remembered by a prefix and a
hash: a change is still detected, and a hostile cell cannot bloat the state.

A cell that holds a formula is remembered by its formula (moved to one row of
its column, so that rows inserted above it or a sort change nothing; see
:func:`crmbook.ooxml.formulas.remembered_formula`), not by the result it shows:
a result that moved (Excel recalculated) is nothing people typed. Snapshots of
format 2 remembered results: a formula cell whose old snapshot holds a value is
not taken for an edit.

This module converts between tables, snapshots and cell grids; it does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import math
import operator
import re
from collections.abc import Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
from isal import isal_zlib

from crmbook.book import Table
from crmbook.changeset import OwnedSheet, SheetCell
from crmbook.ooxml.formulas import is_remembered_formula, remembered_formula

__all__ = [
    "SNAPSHOT_PREFIX",
    "Snapshot",
    "Snapshots",
    "decode_snapshot",
    "encode_snapshot",
    "learn_formulas",
    "record_keys",
    "snapshot_sheet",
    "snapshot_sheet_name",
    "take_snapshot",
    "user_fields",
    "with_writes",
]

SNAPSHOT_PREFIX = "_crmbook_snap_"
FORMAT = 3  # 3: formula cells by their formula; 2 (and 1) by their results
CHUNK = 30_000
LONG_TEXT = 1000
MAX_INFLATED = 1 << 30  # a snapshot never legitimately inflates past 1 GiB
HEADER = "crmbook snapshot v2"


def snapshot_sheet_name(sheet_key: str) -> str:
    return f"{SNAPSHOT_PREFIX}{sheet_key}"


@dataclass(frozen=True)
class Snapshot:
    """Record keys and, per field, the JSON-ready value of each record (same order as ``keys``)."""

    keys: list[str]
    columns: dict[str, list[Any]]
    formulas: bool = True  # formula cells remembered by their formula (format 3), not their results

    def value(self, index: int, field: str) -> Any:
        column = self.columns.get(field)
        return None if column is None else column[index]


class Snapshots(MutableMapping[str, Snapshot]):
    """Sheet key -> the snapshot the last refresh left, each decoded from its sheet's cells
    (:func:`decode_snapshot`) the first time it is asked for, in the process that asks: a refresh
    compares the follow-ups' (the biggest) in its second process, which then works on objects of
    its own instead of copying the pages of the parent's one by one as it reads them."""

    def __init__(
        self,
        snapshots: Mapping[str, Snapshot] | None = None,
        grids: Mapping[str, list[list[Any]]] | None = None,
    ) -> None:
        self._decoded: dict[str, Snapshot] = dict(snapshots or {})
        self._grids: dict[str, list[list[Any]]] = dict(grids or {})  # not decoded yet

    @classmethod
    def of(cls, snapshots: Mapping[str, Snapshot]) -> Snapshots:
        """A copy of ``snapshots`` (what is not decoded yet stays so)."""
        if isinstance(snapshots, Snapshots):
            return cls(snapshots._decoded, snapshots._grids)
        return cls(snapshots)

    def _decode(self, key: str) -> None:
        grid = self._grids.pop(key, None)
        if grid is not None:
            snapshot = decode_snapshot(grid)
            if snapshot is not None:  # a damaged one: as if there were none
                self._decoded[key] = snapshot

    def only(self, keys: Collection[str]) -> Snapshots:
        """The snapshots of ``keys`` alone, none decoded for it."""
        return Snapshots(
            {k: v for k, v in self._decoded.items() if k in keys},
            {k: v for k, v in self._grids.items() if k in keys},
        )

    def __getitem__(self, key: str) -> Snapshot:
        self._decode(key)
        return self._decoded[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._decode(key)
        return key in self._decoded

    def __setitem__(self, key: str, snapshot: Snapshot) -> None:
        self._grids.pop(key, None)
        self._decoded[key] = snapshot

    def __delitem__(self, key: str) -> None:
        self._decode(key)
        del self._decoded[key]

    def __iter__(self) -> Iterator[str]:
        for key in list(self._grids):
            self._decode(key)
        return iter(self._decoded)

    def __len__(self) -> int:
        return len(list(iter(self)))


# ------------------------------------------------------------------ from a table


def user_fields(table: Table) -> list[str]:
    """The columns people type: schema columns crmbook does not compute, plus user columns."""
    owned = {c.key for c in table.spec.columns if c.owned and c.key != table.spec.id_column}
    return [c for c in table.data.columns if c not in owned]


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return int(v) if v.is_integer() else v
    if isinstance(v, bool | int):
        return v
    return str(v)


def _long_text(v: str) -> str:
    return f"{v[:200]}…#{hashlib.sha1(v.encode()).hexdigest()[:16]}"


_PLAIN_TEXT = {str, type(None)}
_DATETIMES = {dt.datetime, type(None)}
_DATES = {dt.date, type(None)}


def _json_column(values: list[Any]) -> list[Any]:
    """A column's cells as JSON-ready values (text passes through; others converted once per value)."""
    distinct: Collection[Any]
    try:
        distinct = set(values)  # cells repeat down a column: each value looked at once
    except TypeError:  # an unhashable value
        distinct = values
    types = set(map(type, distinct))
    if types <= _PLAIN_TEXT and max(map(len, filter(None, distinct)), default=0) <= LONG_TEXT:
        return values  # the common case: short text and blanks, nothing to convert
    # Equal values of other types are one distinct value (a Timestamp and the datetime it equals,
    # True and 1): the types of every cell.
    types = set(map(type, values))
    if types <= _DATETIMES:  # a column of date-times: converted in C in one go
        # orjson writes a date-time without time zone as ISO text, to the second with this option;
        # anything else (a time zone, a year before 1000) is longer than 19 characters or shorter.
        texts = orjson.loads(orjson.dumps(values, option=orjson.OPT_OMIT_MICROSECONDS))
        if set(map(len, filter(None, texts))) <= {19}:
            return texts  # type: ignore[no-any-return]
        try:  # pandas converts datetime objects in C, several times faster than numpy's own loop
            seconds = pd.to_datetime(pd.Series(values, dtype=object)).to_numpy(dtype="datetime64[s]")
        except (ValueError, OverflowError):  # beyond pandas' years 1677-2262
            seconds = np.array(values, dtype="datetime64[s]")
        texts = np.datetime_as_string(seconds, unit="s").tolist()
        return [None if v is None else t for v, t in zip(values, texts, strict=True)]
    if types <= _DATES:  # a column of dates: orjson writes them as isoformat does, in C
        texts = orjson.loads(orjson.dumps(values))
        if set(map(len, filter(None, texts))) <= {10}:
            return texts  # type: ignore[no-any-return]
    cache: dict[Any, Any] = {}
    out = []
    append = out.append
    for v in values:
        if v is None:
            append(None)
        elif type(v) is str:
            append(v if len(v) <= LONG_TEXT else _long_text(v))
        else:
            key = (v.__class__, v)  # True and 1 are equal keys, and written apart
            try:
                converted = cache[key]
            except KeyError:
                converted = cache[key] = _json_value(v)
            except TypeError:  # unhashable: convert directly
                converted = _json_value(v)
            append(converted)
    return out


def record_keys(table: Table) -> list[str]:
    """The key each record is remembered by: its ID, or ``#<row>`` while it has none."""
    id_col = table.spec.id_column
    if id_col not in table.data.columns:
        return [f"#{r}" for r in table.data.index]
    values = table.data[id_col].tolist()
    if set(map(type, values)) == {str}:  # the common case: every record has its ID
        keys = [v.strip() for v in values]
        if all(keys):
            return keys
    out = []
    for r, v in zip(table.data.index.tolist(), values, strict=True):
        if type(v) is str:
            text = v.strip()
        else:
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
        out.append(text or f"#{r}")
    return out


def _formula(table: Table, field: str, row: int) -> str | None:
    """How a snapshot remembers the formula of ``table``'s cell (``row``, ``field``); None: no formula."""
    found = table.formulas.get(field, {}).get(row)
    col = table.columns.get(field) or table.extra_columns.get(field)
    if found is None or col is None:
        return None
    return remembered_formula(found[0], found[1], (row, col))


def take_snapshot(table: Table) -> Snapshot:
    columns = {f: _json_column(table.data[f].tolist()) for f in user_fields(table)}
    for f, cells in table.formulas.items():  # the formula cells: by their formula, not their result
        if f in columns and cells:
            column = columns[f] = list(columns[f])
            rows = list(cells)
            for i, row in zip(table.data.index.get_indexer(rows).tolist(), rows, strict=True):
                if i >= 0:  # a record's (a formula filled down past the records is none)
                    column[i] = _formula(table, f, row)
    return Snapshot(keys=record_keys(table), columns=columns)


def learn_formulas(table: Table, cells: Mapping[tuple[int, int], tuple[str, str]]) -> None:
    """Tell ``table`` which of its records' cells hold a formula (:attr:`Table.formulas`): ``cells``
    maps (row, column) to the formula's text and the cell it stands at as written (its own, or a
    shared formula's master: see :func:`crmbook.ooxml.formulas.sheet_formulas`). Rows that are no
    records yet count too: a formula filled down past the data stays one when a record is added there.
    The header row does not."""
    fields = {col: name for name, col in {**table.columns, **table.extra_columns}.items()}
    found: dict[str, dict[int, tuple[str, str]]] = {}
    for (row, col), formula in sorted(cells.items()):
        name = fields.get(col)
        if name is not None and row > table.header_row:
            found.setdefault(name, {})[row] = formula
    table.formulas = found


def with_writes(
    previous: Snapshot,
    before: Table,
    after: Table,
    written: Mapping[int, set[str]],
) -> Snapshot:
    """``previous`` with only what one run wrote taken in: ``written`` holds, by Excel row, the fields
    the run wrote into ``before``'s frame, which made ``after``'s. A record the run emptied goes, one
    it wrote whole (an undo giving it back) comes in, a written field takes its new value; everything
    else stays as ``previous`` remembers it. So edits people made since the last refresh stay out of
    the snapshot, for the next refresh to log them (and date them) as it would have. A cell ``after``
    knows as a formula (:attr:`Table.formulas`: one an undo gives back) is taken in as its formula."""
    fields = user_fields(after)
    keys = list(previous.keys)
    columns = {f: list(previous.columns.get(f) or [None] * len(keys)) for f in fields}
    position = {k: i for i, k in enumerate(keys)}
    keys_before = dict(zip(before.data.index.tolist(), record_keys(before), strict=True))
    keys_after = dict(zip(after.data.index.tolist(), record_keys(after), strict=True))
    gone: set[int] = set()
    for row, names in written.items():
        values = {f: after.data.at[row, f] for f in fields} if row in keys_after else {}
        present = {f for f, v in values.items() if not (v is None or (isinstance(v, float) and v != v))}
        was = position.get(keys_before.get(row, ""))
        if not present:  # emptied: the record is no longer there
            if was is not None:
                gone.add(was)
            continue
        now = position.get(keys_after[row])
        if now is not None:
            for f in names & set(fields):
                columns[f][now] = _formula(after, f, row) or _json_column([values[f]])[0]
        elif present <= names:  # written whole: it comes in
            position[keys_after[row]] = len(keys)
            keys.append(keys_after[row])
            for f in fields:
                columns[f].append(_formula(after, f, row) or _json_column([values[f]])[0])
    if gone:
        kept = [i for i in range(len(keys)) if i not in gone]
        keys = [keys[i] for i in kept]
        columns = {f: [column[i] for i in kept] for f, column in columns.items()}
    return Snapshot(keys=keys, columns=columns, formulas=previous.formulas)


# ------------------------------------------------------------------ comparing


class FieldChange(NamedTuple):
    index: int  # position in the newer snapshot
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class SnapshotDiff:
    added: list[int]  # positions in the newer snapshot
    deleted: list[str]  # keys only the older snapshot has
    changed: list[FieldChange]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.deleted or self.changed)


def _aligned(column: list[Any] | None, positions: np.ndarray) -> np.ndarray:
    """``column`` reordered by ``positions`` (-1 gives None), as an object array."""
    size = len(positions)
    if column is None:
        return np.full(size, None, dtype=object)
    padded = np.empty(len(column) + 1, dtype=object)
    padded[:-1] = column
    padded[-1] = None
    return padded[positions]


def _picked(column: list[Any], positions: list[int]) -> np.ndarray:
    return np.fromiter(map(column.__getitem__, positions), dtype=object, count=len(positions))


def compare(old: Snapshot, new: Snapshot) -> SnapshotDiff:
    """What changed from ``old`` to ``new``, field by field, without a Python loop per cell.

    In the everyday case every record the two have in common sits at the same position in both (the
    same records in the same order, some added at the end, some that got their ID since): a column
    nobody edited is then found equal in one comparison of lists."""
    if new.keys[: len(old.keys)] == old.keys and len(set(old.keys)) == len(old.keys):
        positions = np.arange(len(new.keys))  # the common case: no lookup of keys
        positions[len(old.keys) :] = -1
        deleted: list[str] = []
    else:
        index = pd.Index(old.keys, dtype=object)
        if index.has_duplicates:  # duplicated IDs: compare with the last record holding that key
            last = {k: i for i, k in enumerate(old.keys)}
            positions = np.array([last.get(k, -1) for k in new.keys], dtype=np.int64)
        else:
            positions = index.get_indexer(pd.Index(new.keys, dtype=object))
        deleted = sorted(set(old.keys) - set(new.keys))
    known = positions >= 0
    at = np.flatnonzero(known)
    in_place = bool(np.array_equal(positions[at], at))  # each record known to both at the same position
    added = [int(i) for i in np.flatnonzero(~known)]
    fields = sorted(set(old.columns) | set(new.columns))
    found: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # field, positions, old, new values
    for n, field in enumerate(fields):
        before_list, now_list = old.columns.get(field), new.columns.get(field)
        if in_place and before_list is not None and now_list is not None:
            if before_list == now_list[: len(before_list)]:  # every known record: the same value
                continue
            size = min(len(before_list), len(now_list))
            differs = np.fromiter(map(operator.ne, before_list, now_list), dtype=bool, count=size)
            where = np.flatnonzero(differs & known[:size])
            picked = where.tolist()
            found.append((n, where, _picked(before_list, picked), _picked(now_list, picked)))
            continue
        before = _aligned(before_list, positions[at])
        now = _aligned(now_list, at)
        differs = np.flatnonzero(before != now)
        found.append((n, at[differs], before[differs], now[differs]))
    changed: list[FieldChange] = []
    if any(len(where) for _, where, _, _ in found):
        positions_changed = np.concatenate([where for _, where, _, _ in found])
        field_numbers = np.concatenate([np.full(len(where), n) for n, where, _, _ in found])
        old_values = np.concatenate([b for _, _, b, _ in found])
        new_values = np.concatenate([v for _, _, _, v in found])
        order = np.lexsort((field_numbers, positions_changed))  # by position, then field
        changed = [
            FieldChange(i, fields[f], b, v)
            for i, f, b, v in zip(
                positions_changed[order].tolist(),
                field_numbers[order].tolist(),
                old_values[order].tolist(),
                new_values[order].tolist(),
                strict=True,
            )
        ]
        if not old.formulas:  # an older snapshot holds the results of formula cells: no edit
            changed = [c for c in changed if not is_remembered_formula(c.new) or is_remembered_formula(c.old)]
    return SnapshotDiff(added, deleted, changed)


def same(a: Snapshot | None, b: Snapshot) -> bool:
    return a is not None and a.keys == b.keys and a.columns == b.columns


# ------------------------------------------------------------------ in the workbook


def encode_snapshot(snapshot: Snapshot) -> list[str]:
    """The snapshot as base64 text chunks of at most ``CHUNK`` characters."""
    payload = {
        "format": FORMAT if snapshot.formulas else 2,
        "keys": snapshot.keys,
        "columns": snapshot.columns,
    }
    try:  # orjson writes the same compact JSON several times quicker
        raw = orjson.dumps(payload)
    except TypeError:  # orjson stops at integers past 64 bits (a huge whole number in a cell)
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    # A zlib stream, from ISA-L: several times quicker than zlib itself at the same size.
    text = base64.b64encode(isal_zlib.compress(raw, 1)).decode("ascii")
    return [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]


def decode_snapshot(grid: list[list[Any]]) -> Snapshot | None:
    """The snapshot stored in a snapshot sheet's cells, or None when it is missing or damaged.

    A damaged snapshot only means the next change log starts afresh; it never stops a refresh.
    """
    if not grid or not grid[0] or grid[0][0] != HEADER:
        return _decode_rows(grid)
    text = "".join(str(row[0]) for row in grid[1:] if row and row[0] is not None)
    try:
        inflater = isal_zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(text, validate=True), MAX_INFLATED)
        if inflater.unconsumed_tail:
            return None
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:  # what orjson does not take (integers past 64 bits, NaN)
            payload = json.loads(raw)
        keys = [str(k) for k in payload["keys"]]
        columns = {str(f): list(v) for f, v in payload["columns"].items()}
        formulas = int(payload.get("format") or 0) >= FORMAT
    except (binascii.Error, isal_zlib.error, ValueError, KeyError, TypeError, AttributeError):
        return None
    if any(len(v) != len(keys) for v in columns.values()):
        return None
    return Snapshot(keys, columns, formulas)


_FORMAT1_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d)(:\d\d)?$")


def _format1_datetime(value: Any) -> Any:
    """Format 1 wrote date-times as ``2026-11-22 10:30``; today's snapshots use ISO with seconds."""
    m = _FORMAT1_DATETIME.match(value) if isinstance(value, str) else None
    return f"{m[1]}T{m[2]}{m[3] or ':00'}" if m else value


def _decode_rows(grid: list[list[Any]]) -> Snapshot | None:
    """Format 1: one row per record, (key, the record's values as a JSON object)."""
    if not grid or not grid[0] or grid[0][0] != "record":
        return None
    keys: list[str] = []
    records: list[dict[str, Any]] = []
    for cells in grid[1:]:
        if len(cells) < 2 or cells[0] is None or cells[1] is None:
            continue
        try:
            record = json.loads(str(cells[1]))
        except ValueError:
            continue
        if isinstance(record, dict):
            keys.append(str(cells[0]))
            records.append({f: _format1_datetime(v) for f, v in record.items()})
    fields = sorted({f for r in records for f in r})
    return Snapshot(keys, {f: [r.get(f) for r in records] for f in fields}, formulas=False)


def snapshot_sheet(sheet_key: str, snapshot: Snapshot) -> OwnedSheet:
    rows: list[list[SheetCell | None]] = [[SheetCell(HEADER, "header")]]
    rows += [[SheetCell(chunk)] for chunk in encode_snapshot(snapshot)]
    return OwnedSheet(name=snapshot_sheet_name(sheet_key), rows=rows, hidden="veryHidden", widths={1: 80})
