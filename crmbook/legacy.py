"""Reading the spreadsheets teams bring when they migrate.

Legacy files are .xlsx/.xlsm/.xls workbooks or CSV text in UTF-8, GB18030 or Windows-1252,
with title rows above the header, notes and blank lines, merged header
cells, two-row headers and subtotal rows. :func:`read_legacy` returns, per
sheet, the header it found and every row below it with its source row
number, so the import can account for each one.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_calamine as calamine

from crmbook.errors import InputError, WorkbookFileError
from crmbook.filetype import sniff
from crmbook.import_headers import concept_of, fold_header, known_headers, looks_like_value
from crmbook.schema import load_schema, normalize_label

__all__ = ["LegacySheet", "decode_csv", "find_header_row", "read_legacy"]

HEADER_SCAN_ROWS = 30
MAX_CSV_BYTES = 512 * 2**20
SUBTOTAL_MARKERS = ("合计", "小计", "总计", "总额合计", "total", "subtotal", "grand total")


@dataclass
class LegacySheet:
    """One table found in a legacy file."""

    file: str
    sheet: str
    header_row: int  # 1-based row of the (lower) header row
    headers: list[str]  # one per column; "" for a column without a header
    rows: list[tuple[int, list[Any]]]  # (source row number, values) for every non-blank row below the header
    skipped: list[tuple[int, str]] = field(
        default_factory=list
    )  # (row, reason) for rows that are not records
    encoding: str | None = None  # for CSV
    headerless: bool = False  # no header row: the columns are named 列1, 列2 … and judged by their values


def _western(data: bytes) -> bool:
    """True for Windows-1252 text (a CSV saved by a Western European Excel: Müller, café), not GBK.

    A GBK character is two bytes, and the second byte of the common ones (GB2312) is 0xA1 or more;
    an accented Latin letter is one byte followed by a plain letter, space or punctuation.
    """
    chinese = western = 0
    i = 0
    while i < len(data):
        if data[i] < 0x80:
            i += 1
        elif i + 1 < len(data) and data[i + 1] >= 0xA1:
            chinese, i = chinese + 1, i + 2
        else:
            western, i = western + 1, i + 1
    return western > chinese


def decode_csv(data: bytes, path: str = "") -> tuple[str, str]:
    """Text and encoding of a CSV: UTF-8 (with or without BOM), Windows-1252 when its accented
    letters say so, else GB18030.

    Raises :class:`InputError` naming the file when neither decodes cleanly.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _western(data):
        return data.decode("cp1252", errors="replace"), "cp1252"
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: cannot tell the text encoding (not UTF-8, not GB18030/GBK; first bad byte on line {line}). "
            "Open it in Excel and save it as 'CSV UTF-8', or as .xlsx, and import that."
        ) from exc


def _read_csv(path: str) -> tuple[list[list[Any]], str]:
    size = os.path.getsize(path)
    if size > MAX_CSV_BYTES:
        raise InputError(
            f"{path}: {size / 2**20:.0f} MiB is larger than crmbook imports at once (512 MiB); split it"
        )
    text, encoding = decode_csv(Path(path).read_bytes(), path)
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [
        [cell if cell.strip() != "" else None for cell in row]
        for row in csv.reader(io.StringIO(text), dialect)
    ]
    return rows, encoding


def _read_workbook(
    path: str,
) -> list[tuple[str, list[list[Any]], list[tuple[tuple[int, int], tuple[int, int]]]]]:
    from crmbook.filetype import sniff
    from crmbook.reader import check_sizes, open_calamine, read_grid

    if sniff(path) in ("xlsx", "xlsm"):
        check_sizes(path)  # a zip bomb is refused before anything inflates it
    wb = open_calamine(path)
    out = []
    try:
        for meta in wb.sheets_metadata:
            if str(meta.typ) != str(calamine.SheetTypeEnum.WorkSheet):
                continue
            grid = read_grid(wb, meta.name, path)  # an XML bomb or a damaged sheet: a clear error
            try:
                merged = list(wb.get_sheet_by_name(meta.name).merged_cell_ranges or [])
            except (calamine.CalamineError, calamine.XmlError, ValueError) as exc:
                raise WorkbookFileError(path, f"sheet '{meta.name}' cannot be read ({exc})") from exc
            out.append((meta.name, grid, merged))
    finally:
        wb.close()
    return out


def _known_labels() -> set[str]:
    """Every schema label and alias, and every header of the import synonym table (folded)."""
    schema = load_schema()
    labels = set(known_headers())
    for spec in schema.sheets:
        for col in spec.columns:
            labels |= {fold_header(t) for t in col.match_labels}
    return labels


def _known(text: str, known: set[str]) -> bool:
    return fold_header(text) in known or concept_of(text) is not None


def _row_score(cells: list[Any], known: set[str]) -> float:
    texts = [c for c in cells if isinstance(c, str) and c.strip()]
    if len(texts) < 2:
        return 0.0
    numbers = sum(1 for c in cells if isinstance(c, int | float) and not isinstance(c, bool))
    matched = sum(1 for t in texts if _known(t, known))
    return matched * 3 + len(texts) - numbers * 2


def find_header_row(grid: list[list[Any]]) -> int | None:
    """0-based index of the header row: the text-rich row naming the most known columns.

    None when there is none: no row names a known column and the best candidate holds values
    (phones, dates, e-mails) rather than labels; the sheet is then read without a header.
    """
    known = _known_labels()
    best, best_score = None, 0.0
    for i, cells in enumerate(grid[:HEADER_SCAN_ROWS]):
        score = _row_score(cells, known)
        if score > best_score:
            best, best_score = i, score
    if best is not None:
        cells = grid[best]
        named = any(isinstance(c, str) and c.strip() and _known(c, known) for c in cells)
        if not named and any(looks_like_value(c) for c in cells if c is not None):
            return None
    return best


def _fill_merged(grid: list[list[Any]], merged: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
    """Copy a merged cell's value into every cell it covers (header rows only matter)."""
    for (r0, c0), (r1, c1) in merged:
        if r0 >= len(grid) or r0 > HEADER_SCAN_ROWS:
            continue
        value = grid[r0][c0] if c0 < len(grid[r0]) else None
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            row = grid[r]
            row.extend([None] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                if row[c] is None:
                    row[c] = value


def _is_lower_header(grid: list[list[Any]], h: int, known: set[str]) -> bool:
    """True when the row below row ``h`` is the lower row of a two-row header: under a group title
    merged across columns (联系方式 over 手机/座机/微信) it names known columns, and elsewhere it
    repeats row ``h`` (the labels merged down over both rows)."""
    if h + 1 >= len(grid):
        return False
    upper, lower = grid[h], grid[h + 1]
    new_labels = 0
    for c, low in enumerate(lower):
        if low is None:
            continue
        if not isinstance(low, str) or looks_like_value(low):
            return False
        up = upper[c] if c < len(upper) else None
        if low == up:
            continue
        # A group title: merged across (filled into each cell) or typed once over blank cells.
        after = upper[c + 1] if c + 1 < len(upper) else None
        group = up is None or after in (None, up) or (c > 0 and upper[c - 1] == up)
        if not group or not _known(low, known):
            return False
        new_labels += 1
    return new_labels >= 2


def _combine_headers(upper: list[Any] | None, lower: list[Any]) -> list[str]:
    """A two-row header: the lower label, else the upper (a merged group title) one."""
    width = max(len(lower), len(upper or []))
    out = []
    for c in range(width):
        low = lower[c] if c < len(lower) else None
        up = upper[c] if upper is not None and c < len(upper) else None
        text = low if low is not None else up
        out.append("" if text is None else str(text).strip())
    return out


def _is_subtotal(values: list[Any]) -> bool:
    texts = [normalize_label(v) for v in values if isinstance(v, str)]
    return any(t.startswith(marker) or t == marker for t in texts for marker in SUBTOTAL_MARKERS)


def _table_from_grid(
    file: str, sheet: str, grid: list[list[Any]], encoding: str | None
) -> LegacySheet | None:
    if all(all(v is None for v in row) for row in grid):
        return None
    h = find_header_row(grid)
    if h is None:
        return _headerless(file, sheet, grid, encoding)
    known = _known_labels()
    upper = None
    if _is_lower_header(grid, h, known):
        upper, h = grid[h], h + 1  # the row found is the upper row of a two-row header
    elif h > 0:
        above = grid[h - 1]
        # A group title row: few texts that are not column labels themselves, over a full header row.
        texts = [c for c in above if isinstance(c, str) and c.strip()]
        if texts and _row_score(above, known) < _row_score(grid[h], known):
            upper = above
    headers = _combine_headers(upper, grid[h])
    # A row with more values than the header row has names (a CSV line with an extra comma-separated
    # value): the values past the header keep a column of their own, named by position, not dropped.
    width = max(
        (
            len(row) - next((n for n, v in enumerate(reversed(row)) if v is not None), len(row))
            for row in grid[h + 1 :]
        ),
        default=0,
    )
    headers += [f"列{c + 1}" for c in range(len(headers), width)]
    rows: list[tuple[int, list[Any]]] = []
    skipped: list[tuple[int, str]] = []
    for i in range(h + 1, len(grid)):
        values = list(grid[i][: len(headers)]) + [None] * (len(headers) - len(grid[i][: len(headers)]))
        if all(v is None for v in values):
            continue
        if _is_subtotal(values):
            skipped.append((i + 1, "subtotal"))
        rows.append((i + 1, values))
    return LegacySheet(file, sheet, h + 1, headers, rows, skipped, encoding)


def _headerless(file: str, sheet: str, grid: list[list[Any]], encoding: str | None) -> LegacySheet:
    """A sheet without a header row: every non-blank row is a record; columns are 列1, 列2 …"""
    width = max(len(row) for row in grid)
    while width and all(len(row) < width or row[width - 1] is None for row in grid):
        width -= 1
    headers = [f"列{c + 1}" for c in range(width)]
    rows: list[tuple[int, list[Any]]] = []
    skipped: list[tuple[int, str]] = []
    for i, row in enumerate(grid):
        values = list(row[:width]) + [None] * (width - len(row[:width]))
        if all(v is None for v in values):
            continue
        if _is_subtotal(values):
            skipped.append((i + 1, "subtotal"))
        rows.append((i + 1, values))
    return LegacySheet(file, sheet, 0, headers, rows, skipped, encoding, headerless=True)


def read_legacy(path: str | os.PathLike[str], sheets: list[str] | None = None) -> list[LegacySheet]:
    """Every table in a legacy file (one per worksheet that has a header row; one for a CSV)."""
    spath = os.fspath(path)
    if not os.path.exists(spath):
        raise InputError(f"{spath}: no such file")
    kind = sniff(spath)
    name = os.path.basename(spath)
    if kind == "csv" or (kind == "not-workbook" and Path(spath).suffix.lower() in (".csv", ".txt", ".tsv")):
        grid, encoding = _read_csv(spath)
        if sheets and Path(spath).stem not in sheets:
            raise InputError(
                f"{spath}: a CSV file has one sheet, {Path(spath).stem!r}; leave out --sheet {sheets[0]!r}"
            )
        table = _table_from_grid(name, Path(spath).stem, grid, encoding)
        return [table] if table else []
    if kind not in ("xlsx", "xlsm", "xls"):
        from crmbook.filetype import require_workbook

        require_workbook(spath)  # raises the clear message for encrypted / not a workbook
        raise InputError(f"{spath}: not a spreadsheet crmbook can import (.xlsx, .xlsm, .xls or .csv)")
    out = []
    found = _read_workbook(spath)
    missing = [s for s in sheets or [] if s not in {name for name, _, _ in found}]
    if missing:
        names = ", ".join(repr(name) for name, _, _ in found)
        raise InputError(f"{spath}: has no sheet {missing[0]!r} (its sheets: {names}); check --sheet")
    for sheet_name, grid, merged in found:
        if sheets and sheet_name not in sheets:
            continue
        _fill_merged(grid, merged)
        table = _table_from_grid(name, sheet_name, grid, None)
        if table is not None:
            out.append(table)
    return out
