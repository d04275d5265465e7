"""What a team split remembers, in the rep's file and in the canonical workbook.

A **rep file** (written by ``crmbook split``) carries, in very hidden sheets crmbook owns:

* ``_crmbook_split``: (key, value) rows: the split ID, the rep, the canonical workbook's file name, when
  the split was made and the fields left out (``--redact``);
* ``_crmbook_split_<sheet>`` for each record sheet: the records as they were split, ID first, one column
  per field carried. This is the *base* of the three-way merge ``crmbook collect`` makes (split value,
  rep's value now, canonical value now). A formula cell's value there is the result it showed;
* ``_crmbook_formulas_<sheet>``, for a record sheet whose cells the split wrote as formulas: the same
  records, ID first, and for each field holding a formula the formula of each record's cell as a
  snapshot remembers it (:func:`crmbook.ooxml.formulas.remembered_formula`, None where the cell held
  none). Collect compares those cells formula to formula: a result Excel recalculated is no edit. A rep
  file made before formulas were carried has no such sheet: its formula cells compare by their results.

The **canonical workbook** remembers, in its state sheet (:mod:`crmbook.state`): each split
(section ``team_split``), each collect (section ``collect``, in the form import undo reads, see
:func:`crmbook.importer.plan_undo_import`, plus the rep cells it saw, the provisional IDs it replaced
and its conflicts) and each decision applied by ``crmbook collect --resolve`` (section ``team_resolve``).

This module converts between those grids and plain data; it does no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from crmbook.state import State, decode_value, encode_value, without_line_breaks
from crmbook.values import shown_text

__all__ = [
    "COLLECT_SECTION",
    "RESOLVE_SECTION",
    "SPLIT_SECTION",
    "SPLIT_SHEET",
    "History",
    "SplitMemo",
    "base_sheet_name",
    "formula_sheet_name",
    "history_of",
    "id_text",
    "id_texts",
    "memo_rows",
    "next_id",
    "read_memo",
]

SPLIT_SHEET = "_crmbook_split"
SPLIT_SECTION = "team_split"
COLLECT_SECTION = "collect"
RESOLVE_SECTION = "team_resolve"
FORMAT = 1
RECORD_SHEETS = ("customers", "contacts", "followups", "opportunities")


def base_sheet_name(sheet_key: str) -> str:
    return f"{SPLIT_SHEET}_{sheet_key}"


FORMULA_SHEET = "_crmbook_formulas"


def formula_sheet_name(sheet_key: str) -> str:
    """The hidden sheet of the formulas a split wrote on record sheet ``sheet_key`` (31 characters at most)."""
    return f"{FORMULA_SHEET}_{sheet_key}"


@dataclass
class SplitMemo:
    """What a rep file says about the split that made it."""

    split_id: str
    rep: str
    book: str  # the canonical workbook's file name at the split
    split_at: str  # ISO time
    redacted: list[str] = field(default_factory=list)  # field keys left out
    base: dict[str, pd.DataFrame] = field(default_factory=dict)  # sheet key -> values as split, by ID
    # sheet key -> the formula cells as split, by ID: field -> remembered formula (None: a value)
    formulas: dict[str, pd.DataFrame] = field(default_factory=dict)

    def meta_rows(self) -> list[list[Any]]:
        return [
            ["format", FORMAT],
            ["split_id", self.split_id],
            ["rep", self.rep],
            ["book", self.book],
            ["split_at", self.split_at],
            ["redacted", json.dumps(self.redacted, ensure_ascii=False)],
        ]


CHUNK = 30_000  # characters per cell (a cell holds at most 32,767)


def memo_rows(frame: pd.DataFrame, id_column: str) -> list[list[Any]]:
    """A base sheet's rows: (field, part, JSON list of that field's values, one per record), the ID
    column first; long lists continue on more rows. One cell per field and 30,000 characters keeps a
    rep file small and quick to write and read, whatever the number of records."""
    columns = [id_column, *[c for c in frame.columns if c != id_column]]
    out: list[list[Any]] = [["field", "part", "values"]]
    for name in columns:
        values = _encoded(frame[name].tolist()) if name in frame else []
        text = orjson.dumps(values).decode("utf-8")
        for n, start in enumerate(range(0, max(len(text), 1), CHUNK)):
            out.append([name, n, text[start : start + CHUNK]])
    return out


_AS_IS = {str, int, float, bool, type(None)}  # orjson writes these as encode_value would (NaN as null)


def _encoded(values: list[Any]) -> list[Any]:
    """``values`` ready for JSON (:func:`crmbook.state.encode_value`); a column of plain values as it is."""
    if set(map(type, values)) <= _AS_IS:
        return values
    done: dict[Any, Any] = {}  # each distinct value (a column of dates repeats them) encoded once
    out = []
    for v in values:
        key = (v.__class__, v)  # True, 1 and 1.0 are equal keys, and encoded apart
        try:
            out.append(done[key])
        except KeyError:
            out.append(done.setdefault(key, encode_value(_plain(v))))
        except TypeError:  # unhashable
            out.append(encode_value(_plain(v)))
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def id_text(value: Any) -> str:
    """A cell as the text of a record ID or key: empty for a blank cell, whole floats without ".0"."""
    return shown_text(value).strip()


def id_texts(values: list[Any]) -> list[str]:
    """:func:`id_text` of each value (texts, most IDs, without a call each)."""
    return [v.strip() if type(v) is str else id_text(v) for v in values]


def _base_frame(grid: list[list[Any]]) -> pd.DataFrame | None:
    """The records as split from a base sheet's rows (see :func:`memo_rows`), by ID; None if damaged."""
    parts: dict[str, list[tuple[int, str]]] = {}
    columns: dict[str, list[Any]] = {}
    try:
        for row in grid[1:]:
            if len(row) < 3 or row[0] is None:
                continue
            part = int(row[1]) if row[1] is not None else 0
            parts.setdefault(str(row[0]), []).append((part, str(row[2] or "")))
        for name, chunks in parts.items():
            text = without_line_breaks("".join(chunk for _, chunk in sorted(chunks)))
            values = orjson.loads(text)
            if not isinstance(values, list):
                return None
            if "{" in text:  # dates are {"date": ...} objects; a list without "{" holds none
                values = [decode_value(v) if type(v) is dict else v for v in values]
            columns[name] = values
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        return None
    # one block of objects filled column by column (far quicker than a frame built from lists);
    # JSON has no NaN: blanks are None
    cells = np.empty((lengths.pop(), len(columns)), dtype=object)
    for j, values in enumerate(columns.values()):
        cells[:, j] = np.fromiter(values, dtype=object, count=len(values))
    return pd.DataFrame(cells, columns=list(columns), dtype=object, copy=False)


def _meta(meta_grid: list[list[Any]] | None) -> dict[str, Any]:
    return {str(r[0]): r[1] for r in meta_grid or [] if len(r) >= 2 and r[0] is not None}


def redacted_in(meta_grid: list[list[Any]] | None) -> list[str]:
    """The fields a split left out of a rep file (``--redact``), from its hidden split sheet."""
    try:
        return [str(k) for k in json.loads(str(_meta(meta_grid).get("redacted") or "[]"))]
    except (ValueError, TypeError):
        return []


def read_memo(
    meta_grid: list[list[Any]] | None,
    base_grids: dict[str, list[list[Any]]],
    path: str,
    record_sheets: Iterable[str] = (),
    formula_grids: dict[str, list[list[Any]]] | None = None,
) -> SplitMemo | None:
    """The memo of a rep file from its hidden sheets; None when the file was not made by a split.
    ``record_sheets``: the keys of the record sheets the file has, each of which a split gave a hidden
    sheet of what was split (without it, the rep's work on that sheet could not be told apart).
    ``formula_grids``: the hidden sheets of the formulas split wrote (:func:`formula_sheet_name`), by
    sheet key; one that cannot be read, or does not match what was split, is left out (its cells then
    compare by their results, as a rep file made before formulas were carried does)."""
    from crmbook.errors import WorkbookFileError
    from crmbook.schema import load_schema

    meta = _meta(meta_grid)
    if "split_id" not in meta or "rep" not in meta:
        return None
    redacted = redacted_in(meta_grid)
    missing = [base_sheet_name(k) for k in record_sheets if k not in base_grids]
    if missing:
        raise WorkbookFileError(
            path,
            f"the hidden sheet {', '.join(missing)} (what was split) is missing: without it the rep's work "
            "on that sheet cannot be told apart; ask for the file again (a copy from before the sheet "
            "was deleted) or collect the rep's records by hand",
        )
    schema = load_schema()
    base: dict[str, pd.DataFrame] = {}
    for key, grid in base_grids.items():
        if not grid:
            continue
        frame = _base_frame(grid)
        ids = None
        if frame is not None and len(frame.columns) and frame.columns[0] == schema.sheet(key).id_column:
            ids = pd.Series(id_texts(frame.iloc[:, 0].tolist()))
        if frame is None or ids is None or (ids == "").any() or ids.duplicated().any():
            raise WorkbookFileError(
                path,
                f"the hidden sheet {base_sheet_name(key)} (what was split) is damaged; "
                "ask for the file again or collect the rep's records by hand",
            )
        base[key] = frame.iloc[:, 1:].set_axis(ids.tolist())
    formulas: dict[str, pd.DataFrame] = {}
    for key, grid in (formula_grids or {}).items():
        frame = _base_frame(grid) if grid and key in base else None
        if frame is None or not len(frame.columns) or frame.columns[0] != schema.sheet(key).id_column:
            continue
        if id_texts(frame.iloc[:, 0].tolist()) != base[key].index.tolist():
            continue
        formulas[key] = frame.iloc[:, 1:].set_axis(base[key].index)
    return SplitMemo(
        split_id=id_text(meta["split_id"]),
        rep=id_text(meta["rep"]),
        book=id_text(meta.get("book")),
        split_at=id_text(meta.get("split_at")),
        redacted=redacted,
        base=base,
        formulas=formulas,
    )


def next_id(state: State, section: str, letter: str, today: dt.date) -> str:
    """The next ID of a split (``S20261201-001``) or a collect (``G20261201-001``)."""
    prefix = f"{letter}{today:%Y%m%d}-"
    used = [
        int(k[len(prefix) :])
        for k in state.extra.get(section, {})
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(used, default=0) + 1:03d}"


_SEP = "\t"


def cell_key(sheet_key: str, record: str, field_name: str) -> str:
    return f"{sheet_key}{_SEP}{record}{_SEP}{field_name}"


def split_cell_key(key: str) -> tuple[str, str, str]:
    sheet_key, record, field_name = key.split(_SEP, 2)
    return sheet_key, record, field_name


def rep_key(split_id: str, rep: str) -> str:
    return f"{split_id}{_SEP}{rep}"


@dataclass
class History:
    """What earlier collects (not undone) took from one rep file of one split."""

    seen: dict[str, Any] = field(default_factory=dict)  # cell key -> rep's value at the last collect
    created: dict[str, str] = field(default_factory=dict)  # "sheet\tprovisional ID" -> final ID
    digests: dict[str, str] = field(default_factory=dict)  # file content hash -> collect ID
    # the latest save time of a file taken (UTC ISO text), that file's name and the collect that took it
    latest: tuple[str, str, str] | None = None

    def base_value(self, sheet_key: str, record: str, field_name: str, split_value: Any) -> Any:
        key = cell_key(sheet_key, record, field_name)
        return decode_value(self.seen[key]) if key in self.seen else split_value


_COLLECT_ID = re.compile(r"^G(\d{8})-(\d+)$")


def _order(collect_id: str) -> tuple[str, int]:
    m = _COLLECT_ID.match(collect_id)
    return (m.group(1), int(m.group(2))) if m else (collect_id, 0)


def history_of(state: State, split_id: str, rep: str) -> History:
    """The collects of ``rep``'s file from split ``split_id``, oldest first, folded into one."""
    out = History()
    key = rep_key(split_id, rep)
    for collect_id in sorted(state.extra.get(COLLECT_SECTION, {}), key=_order):
        record = state.extra[COLLECT_SECTION][collect_id]
        if record.get("undone"):
            continue
        team = record.get("team", {}).get(key)
        if not team:
            continue
        seen = team.get("seen", {})
        out.seen.update(orjson.loads(seen) if isinstance(seen, str) else seen)
        out.created.update(team.get("created_ids", {}))
        if team.get("digest"):
            out.digests[team["digest"]] = collect_id
        saved = team.get("saved") or ""
        if saved and (out.latest is None or saved > out.latest[0]):
            out.latest = (saved, Path(str(team.get("file", ""))).name, collect_id)
    return out
