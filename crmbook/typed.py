"""Typed views of the record tables, for roll-ups and reports.

The reader keeps cells as Excel stores them, so validation can quote the
exact value. Calculations want types: this module turns each table into a
DataFrame with dates as ``datetime64``, numbers as ``float64``, list values
as their schema item key (``status == "won"`` whatever the language or
alias), and yes/no as booleans. Unreadable values become missing; validation
is where they are reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from crmbook.book import Book, Table
from crmbook.schema import ListSpec, load_schema, normalize_label

__all__ = ["to_datetime", "to_number", "typed_table", "typed_tables"]

_NUMERIC_TYPES = {"amount", "percent", "integer"}


# A date before 1677 or after 2262 (a typo such as 20240501 typed as a serial) does not fit pandas:
# it becomes NaT here, and validation reports the cell.
_FIRST, _LAST = dt.date(1677, 9, 22), dt.date(2262, 4, 10)


def _fits(v: dt.date) -> bool:
    day = v.date() if isinstance(v, dt.datetime) else v
    return _FIRST <= day <= _LAST


def _date_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, int | float) and not isinstance(v, bool) and 1 <= v < 2958466:
        return dt.datetime(1899, 12, 30) + dt.timedelta(days=float(v))
    if isinstance(v, str):
        from crmbook.values import parse_datetime

        parsed = parse_datetime(v)
        return parsed.value if parsed.ok else None
    return None


def to_datetime(series: pd.Series) -> pd.Series:
    """Dates and datetimes typed or written as text -> ``datetime64[ns]`` (NaT when unreadable)."""
    raw = series.tolist()
    kinds = set(map(type, raw)) - {type(None)}
    if len(kinds) == 1 and kinds <= {dt.date, dt.datetime}:  # the common case: real dates of one kind
        present = [v for v in raw if v is not None]
        inside = not present or (_fits(min(present)) and _fits(max(present)))
        values = raw if inside else [v if v is None or _fits(v) else None for v in raw]
        return pd.Series(pd.to_datetime(values), index=series.index, dtype="datetime64[ns]")
    values = [_date_value(v) for v in raw]
    values = [v if v is None or _fits(v) else None for v in values]
    return pd.Series(pd.to_datetime(values, errors="coerce"), index=series.index, dtype="datetime64[ns]")


def _number_value(v: Any) -> float:
    if v is None or isinstance(v, bool):
        return np.nan
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        from crmbook.values import parse_amount

        parsed = parse_amount(v)
        return float(parsed.value) if parsed.ok and parsed.value is not None else np.nan
    return np.nan


def to_number(series: pd.Series) -> pd.Series:
    """Numbers, numbers stored as text and amounts like 12.5万 -> float64 (NaN when unreadable)."""
    return pd.Series(
        np.array([_number_value(v) for v in series.tolist()], dtype="float64"), index=series.index, copy=False
    )


def _list_keys(series: pd.Series, spec: ListSpec) -> pd.Series:
    lookup = spec.lookup()
    values = series.tolist()
    keys: dict[Any, Any] = {None: None}
    for v in dict.fromkeys(values):  # few distinct values, in order of appearance: fold each once
        if v not in keys:
            text = str(v).strip()
            keys[v] = lookup.get(normalize_label(text), text)
    return _objects(list(map(keys.__getitem__, values)), series.index)


def _objects(values: list[Any], index: pd.Index) -> pd.Series:
    """A Series of Python objects; filling a numpy array first is several times faster than
    handing pandas the list."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, index=index, copy=False)


def _texts(values: list[object]) -> list[str | None]:
    """Cells as stripped text, blanks as None. A column of texts only (the common case) is stripped
    once per distinct text: names, owners and references repeat down a column."""
    distinct = dict.fromkeys(values)
    if all(type(v) is str or v is None for v in distinct):  # no 1 and 1.0 that a dict would take as one
        for v in distinct:
            distinct[v] = (v.strip() or None) if v is not None else None
        return list(map(distinct.__getitem__, values))
    return [
        (v.strip() or None) if type(v) is str else None if v is None else (str(v).strip() or None)
        for v in values
    ]


def typed_table(table: Table, columns: Collection[str] | None = None) -> pd.DataFrame:
    """One table with schema columns typed; user columns are left out, and so are the schema
    columns not in ``columns``, when given (a caller that calculates with few columns need not pay
    for the others)."""
    schema = load_schema()
    out: dict[str, pd.Series] = {}
    for col in table.spec.columns:
        if columns is not None and col.key not in columns:
            continue
        if col.key not in table.data.columns:
            out[col.key] = pd.Series([None] * len(table.data), index=table.data.index, dtype=object)
            if col.type in ("date", "datetime"):
                out[col.key] = out[col.key].astype("datetime64[ns]")
            elif col.type in _NUMERIC_TYPES:
                out[col.key] = out[col.key].astype("float64")
            continue
        s = table.data[col.key]
        if col.type in ("date", "datetime"):
            out[col.key] = to_datetime(s)
        elif col.type in _NUMERIC_TYPES:
            out[col.key] = to_number(s)
        elif col.type in ("list", "yesno") and col.list:
            keys = _list_keys(s, schema.lists[col.list])
            out[col.key] = keys.map({"yes": True, "no": False}) if col.type == "yesno" else keys
        else:
            out[col.key] = _objects(_texts(s.tolist()), s.index)
    return pd.DataFrame(out, index=table.data.index, copy=False)  # the columns are new: no copy needed


def typed_tables(book: Book, columns: Mapping[str, Collection[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Every record table of ``book``, typed (see :func:`typed_table`); ``columns``, when given: the
    columns to type, by sheet key."""
    return {
        key: typed_table(t, None if columns is None else columns.get(key, ()))
        for key, t in book.tables.items()
    }
