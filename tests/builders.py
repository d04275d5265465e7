"""Build small :class:`~crmbook.book.Book` objects from row dicts, for testing the pure steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from crmbook.book import Book, Settings, Table
from crmbook.schema import Lang, load_schema

TODAY = dt.date(2026, 11, 22)


def make_table(key: str, rows: list[dict[str, Any]], lang: Lang = "zh") -> Table:
    """Columns in schema order from column 1, header on row 1, records from row 2."""
    spec = load_schema().sheet(key)
    keys = [c.key for c in spec.columns]
    extra = [k for r in rows for k in r if k not in keys]
    extra = list(dict.fromkeys(extra))
    names = keys + extra
    data = pd.DataFrame([[r.get(k) for k in names] for r in rows], columns=names, dtype=object)
    data.index = pd.RangeIndex(2, 2 + len(rows), name="row")
    data = data.astype(object).where(data.notna(), None)
    columns = {k: i for i, k in enumerate(keys, start=1)}
    extras = {k: len(keys) + i for i, k in enumerate(extra, start=1)}
    return Table(spec, spec.label(lang), 1, columns, extras, data)


def make_book(
    *,
    customers: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    followups: list[dict[str, Any]] | None = None,
    opportunities: list[dict[str, Any]] | None = None,
    lang: Lang = "zh",
    settings: Settings | None = None,
    lists: dict[str, list[str]] | None = None,
    today: dt.date = TODAY,
) -> Book:
    schema = load_schema()
    given = {
        "customers": customers,
        "contacts": contacts,
        "followups": followups,
        "opportunities": opportunities,
    }
    tables = {k: make_table(k, rows or [], lang) for k, rows in given.items()}
    all_lists = {k: s.labels(lang) for k, s in schema.lists.items()}
    all_lists.update(lists or {})
    return Book(
        path="test.xlsx",
        lang=lang,
        tables=tables,
        settings=settings or Settings.defaults(lang),
        lists=all_lists,
        sheet_names=[t.sheet_name for t in tables.values()],
        today=today,
    )
