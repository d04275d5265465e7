"""crmbook's memory inside the workbook.

What refresh must remember between runs lives in very hidden sheets of the
workbook itself, so it travels with the file when it is emailed:

* ``_crmbook``: rows of (section, key, value-as-JSON) — ID sequence high-water
  marks, pairs confirmed as "not a duplicate", the time of the last refresh, and
  the sections other modules own (what a merge, an import or a collect did, for
  undo). A value longer than one cell holds is stored packed: ``zlib:`` and its
  JSON text compressed and base64-encoded (what a collect of a whole team
  remembers is some 16 MB of JSON, 2 MB packed), cut into cells like any long value.
* ``_crmbook_snap_<sheet>``: the snapshot of what people typed, which the
  change log compares with (see :mod:`crmbook.snapshot`).

This module converts between those grids and plain Python data; it does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from isal import isal_zlib

from crmbook.changeset import OwnedSheet, SheetCell
from crmbook.snapshot import Snapshots

__all__ = [
    "STATE_SHEET",
    "State",
    "decode_value",
    "encode_value",
    "state_sheet",
    "undoable_record",
    "without_line_breaks",
]

STATE_SHEET = "_crmbook"


def is_data_sheet(name: str) -> bool:
    """Whether sheet ``name`` holds crmbook's own data (state, snapshots, what a split gave): very
    hidden, never for people to edit."""
    return name.casefold().startswith(STATE_SHEET)


FORMAT_VERSION = 1
CHUNK_CHARS = 30_000  # a cell holds at most 32,767 characters; longer values continue on more rows
CONTINUED = "…+"  # key suffix of a continuation row: "<key>…+1", "<key>…+2", …
PACKED = "zlib:"  # a packed value's prefix (no JSON text starts so)
MAX_UNPACKED = 1 << 30  # a packed value never legitimately inflates past 1 GiB


def pack(text: str) -> str:
    """A JSON text longer than a cell, packed (see the module's docstring); a shorter one as it is."""
    if len(text) <= CHUNK_CHARS:
        return text
    return PACKED + base64.b64encode(isal_zlib.compress(text.encode("utf-8"), 1)).decode("ascii")


def unpack(text: str) -> str:
    """The JSON text of a stored value; ValueError when a packed one is damaged.

    Line breaks are dropped first: neither the JSON crmbook writes nor a packed value holds one, and
    LibreOffice breaks a long text of mixed scripts into lines when it saves a workbook in its own
    format (.ods) and back."""
    text = without_line_breaks(text)
    if not text.startswith(PACKED):
        return text
    try:
        inflater = isal_zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(text[len(PACKED) :], validate=True), MAX_UNPACKED)
    except (binascii.Error, isal_zlib.error) as exc:
        raise ValueError(f"damaged packed value: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("damaged packed value")
    return raw.decode("utf-8")


def without_line_breaks(text: str) -> str:
    """``text`` without the line breaks a spreadsheet program put into a long cell of JSON or base64
    (neither holds one of its own: a line break in a JSON string is written as ``\\n``)."""
    return text.replace("\r", "").replace("\n", "") if "\n" in text or "\r" in text else text


@dataclass
class State:
    """Everything refresh remembers, as plain data."""

    high_water: dict[str, int] = field(default_factory=dict)  # "sheet:scope" -> last sequence number used
    not_duplicates: set[tuple[str, str]] = field(default_factory=set)  # sorted customer-ID pairs
    last_refresh: str | None = None
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # sections other modules own
    snapshots: Snapshots = field(default_factory=Snapshots)  # sheet key -> what people had typed

    @classmethod
    def from_grids(
        cls, state_grid: list[list[Any]] | None, snapshot_grids: dict[str, list[list[Any]]]
    ) -> State:
        state = cls()
        texts: dict[tuple[str, str], list[str]] = {}
        for cells in (state_grid or [])[1:]:
            if len(cells) < 3 or cells[0] is None or cells[1] is None or cells[2] is None:
                continue
            section, key = str(cells[0]), str(cells[1])
            base, sep, _ = key.rpartition(CONTINUED)
            if sep and (section, base) in texts:
                texts[(section, base)].append(str(cells[2]))
            else:
                texts[(section, key)] = [str(cells[2])]
        for (section, key), parts in texts.items():
            try:
                value = _loads(unpack("".join(parts)))
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
        state.snapshots = Snapshots(grids=snapshot_grids)  # each decoded when first compared with
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
                text = pack(_dumps(value))
                chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [text]
                out.append([section, key, chunks[0]])
                out += [[section, f"{key}{CONTINUED}{n}", chunk] for n, chunk in enumerate(chunks[1:], 1)]
        return out


def _dumps(value: Any) -> str:
    """``value`` as compact JSON text: orjson (a collect's record is some 16 MB of it: several times
    quicker), or the standard library for what orjson does not write (a NaN, an integer past 64 bits,
    a key that is not text, a value that is not JSON: written as its text)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, default=str)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or an integer past 64 bits, which the standard library reads
        return json.loads(text)


def state_sheet(state: State) -> OwnedSheet:
    rows: list[list[SheetCell | None]] = [[SheetCell(h, "header") for h in ("section", "key", "value")]]
    rows += [[SheetCell(v) for v in row] for row in state.rows()]
    return OwnedSheet(name=STATE_SHEET, rows=rows, hidden="veryHidden", widths={1: 14, 2: 40, 3: 60})


def encode_value(value: Any) -> Any:
    """A cell value as JSON that decodes to the same Python value (dates keep their type)."""
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, float) and value != value:  # NaN
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "datetime" in value:
            return dt.datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return dt.date.fromisoformat(value["date"])
    return value


def undoable_record(state: State, section: str, what: str, record_id: str) -> dict[str, Any]:
    """The record of merge or import ``record_id``; a clear error when it is unknown or already undone."""
    from crmbook.errors import InputError

    records = state.extra.get(section, {})
    record = records.get(record_id)
    if record is None:
        known = ", ".join(sorted(k for k, v in records.items() if not v.get("undone"))) or "none"
        raise InputError(f"no {what} {record_id!r} in this workbook ({what}s that can be undone: {known})")
    if record.get("undone"):
        raise InputError(f"{what} {record_id} was already undone on {record['undone']}")
    return record  # type: ignore[no-any-return]


def working_copy(state: State | None, *, sections: bool = True) -> State:
    """A copy of ``state`` a run may change: its sections copied, its snapshots shared (they are only
    ever replaced, never changed in place). ``sections=False``: the other modules' sections shared too,
    for a run that only reads them (a refresh: a collect's section holds lists of 100,000 entries)."""
    if state is None:
        return State()
    return State(
        high_water=dict(state.high_water),
        not_duplicates=set(state.not_duplicates),
        last_refresh=state.last_refresh,
        extra=_copied(state.extra) if sections else state.extra,
        snapshots=Snapshots.of(state.snapshots),
    )


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _copied(value: Any) -> Any:
    """A deep copy of JSON-like data (a collect's section holds lists of 100,000 entries): dicts and
    lists rebuilt, plain values shared; anything else through :func:`copy.deepcopy`."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: _copied(v) for k, v in value.items()}
    if kind is list:
        if all(type(v) in _SCALARS for v in value):
            return list(value)
        return [_copied(v) for v in value]
    return copy.deepcopy(value)
