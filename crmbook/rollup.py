"""Derived customer columns: last follow-up, next due date, counts and amounts.

``next_due`` is the earlier of (a) the last follow-up plus the cadence of the
customer's level (A 7 days, B 14, C 30 by default; from ``created`` or
``first_contact`` when there is no follow-up yet) and (b) the earliest
``next_date`` of a follow-up not marked done. Lost customers have none.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from crmbook.book import Book, Settings
from crmbook.changeset import CellWrite

__all__ = ["DERIVED_COLUMNS", "customer_rollup", "derived_writes"]

DERIVED_COLUMNS = ("last_followup", "next_due", "followup_count", "open_pipeline", "won_amount")


def _empty(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(index=index, columns=list(DERIVED_COLUMNS))


def _lookup(ids: pd.Series, by_id: pd.Series) -> pd.Series:
    """``by_id`` values for each customer ID (missing where there is none; safe on empty sheets)."""
    if by_id.empty:
        return pd.Series(np.nan, index=ids.index)
    return ids.map(by_id)


def customer_rollup(typed: dict[str, pd.DataFrame], settings: Settings, today: dt.date) -> pd.DataFrame:
    customers = typed.get("customers")
    if customers is None or customers.empty:
        return _empty(pd.Index([], name="row"))
    ids = customers["customer_id"]
    fups = typed.get("followups", pd.DataFrame(columns=["customer_id", "time", "done", "next_date"]))
    opps = typed.get(
        "opportunities", pd.DataFrame(columns=["customer_id", "stage", "expected_amount", "actual_amount"])
    )
    by_customer = fups.groupby("customer_id")
    last = by_customer["time"].max()
    count = by_customer.size()
    pending = (
        fups[fups["done"].ne(True) & fups["next_date"].notna()].groupby("customer_id")["next_date"].min()
    )
    open_mask = ~opps["stage"].isin(["won", "lost"])
    open_amount = opps[open_mask].groupby("customer_id")["expected_amount"].sum(min_count=1)
    won_amount = opps[opps["stage"] == "won"].groupby("customer_id")["actual_amount"].sum(min_count=1)
    out = pd.DataFrame(index=customers.index)
    out["last_followup"] = pd.to_datetime(_lookup(ids, last))
    out["followup_count"] = _lookup(ids, count).fillna(0).astype(int)
    out["open_pipeline"] = pd.to_numeric(_lookup(ids, open_amount))
    out["won_amount"] = pd.to_numeric(_lookup(ids, won_amount))
    cadence = customers["level"].map(lambda lv: settings.cadence_days(lv) if isinstance(lv, str) else None)
    cadence = pd.to_numeric(cadence, errors="coerce").fillna(settings.cadence_days("C") or 30)
    base = out["last_followup"].fillna(customers["created"]).fillna(customers["first_contact"])
    base = base.fillna(pd.Timestamp(today))
    due = base.dt.normalize() + pd.to_timedelta(cadence, unit="D")
    planned = pd.to_datetime(_lookup(ids, pending))
    due = due.where(planned.isna() | (due <= planned), planned)
    out["next_due"] = due.where(customers["status"] != "lost")
    return out


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return round(float(value), 2)
    return value


def _same(old: object, new: object) -> bool:
    if old is None or new is None:
        return old is None and new is None
    if isinstance(old, dt.datetime):
        old = old.date()
    if isinstance(old, int | float) and isinstance(new, int | float):
        return abs(float(old) - float(new)) < 0.005
    return old == new


def derived_writes(book: Book, rollup: pd.DataFrame) -> list[CellWrite]:
    """Writes for the derived columns, only where the cell differs from the new value."""
    table = book.tables.get("customers")
    if table is None:
        return []
    writes = []
    for key in DERIVED_COLUMNS:
        col = table.col(key)
        if col is None or key not in rollup:
            continue
        current = (
            dict(zip(table.data.index.tolist(), table.data[key].tolist(), strict=True))
            if key in table.data.columns
            else {}
        )
        column = rollup[key]
        if column.dtype.kind == "M":  # date-times to dates in C (NaT: None), as _cell would
            values = column.to_numpy(dtype="datetime64[D]").tolist()
        else:
            values = [_cell(v) for v in column.tolist()]
        for row, new in zip(rollup.index.tolist(), values, strict=True):
            if not _same(current.get(row), new):
                writes.append(CellWrite(table.sheet_name, int(row), col, new))
    return writes
