"""Exporting record sheets to CSV or a plain workbook, optionally with personal data masked.

The canonical workbook is only read. CSV is written as UTF-8 with a byte-order
mark (so Excel shows Chinese text correctly), and any text that a spreadsheet
would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is prefixed with an apostrophe, so opening the export can never
run it. In an ``.xlsx`` export such text is stored as a text cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from crmbook.book import Book, Table
from crmbook.errors import InputError
from crmbook.redact import redact_text
from crmbook.schema import Lang
from crmbook.values import looks_like_formula_injection

__all__ = ["ExportResult", "csv_bytes", "export_book", "table_rows"]

FORMATS = (".csv", ".xlsx")
# Columns whose text may hold personal data; IDs, dates, list values and amounts are kept as they are.
# User columns crmbook does not know are masked too.
REDACTED_TYPES = frozenset({"phone", "email", "text", "longtext"})


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sheets: dict[str, int]  # sheet name -> records written


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def table_rows(table: Table, lang: Lang, *, redact: bool = False) -> tuple[list[str], list[list[Any]]]:
    """The header (schema labels in ``lang``, user columns as typed) and the records of ``table``."""
    order = sorted(
        [(col, key, True) for key, col in table.columns.items()]
        + [(col, header, False) for header, col in table.extra_columns.items()]
    )
    header = [table.spec.column(key).label(lang) if known else key for _, key, known in order]
    keys = [key for _, key, _ in order]
    masked = [
        redact and (not known or table.spec.column(key).type in REDACTED_TYPES) for _, key, known in order
    ]
    rows = []
    for record in table.data[keys].itertuples(index=False, name=None):
        rows.append(
            [
                redact_text(v) if mask and isinstance(v, str) else _plain(v)
                for v, mask in zip(record, masked, strict=True)
            ]
        )
    return header, rows


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if not value.second else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if isinstance(value, str) and looks_like_formula_injection(text) else text


def csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    """A CSV Excel opens right (UTF-8 with a BOM), text that would run as a formula quoted with '."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_cell(h) for h in header])
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_bytes(sheets: list[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    wb = Workbook(write_only=True)
    for name, header, rows in sheets:
        ws = wb.create_sheet(name)
        ws.append(header)
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(ws, value)
                if isinstance(value, str):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
                elif isinstance(value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            ws.append(cells)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def export_book(
    book: Book,
    out_path: str | os.PathLike[str],
    *,
    sheets: list[str] | None = None,
    redact: bool = False,
    lang: Lang | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write the record sheets ``sheets`` (schema keys; default all) of ``book`` to ``out_path``."""
    from crmbook.safe_save import write_new_file

    target = Path(out_path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{target}: export writes .csv or .xlsx files, not {suffix or 'a file without extension'}"
        )
    chosen = sheets or list(book.tables)
    unknown = [s for s in chosen if s not in book.tables]
    if unknown:
        raise InputError(f"no record sheet {', '.join(unknown)!s}; choose from {', '.join(book.tables)}")
    if suffix == ".csv" and len(chosen) != 1:
        raise InputError(
            "a CSV file holds one sheet: add --sheet customers (or contacts, followups, opportunities)"
        )
    language = lang or book.lang
    written = []
    for key in chosen:
        table = book.tables[key]
        header, rows = table_rows(table, language, redact=redact)
        written.append((table.sheet_name, header, rows))
    data = csv_bytes(*written[0][1:]) if suffix == ".csv" else _xlsx_bytes(written)
    write_new_file(target, data, overwrite=overwrite)
    return ExportResult(target, {name: len(rows) for name, _, rows in written})
