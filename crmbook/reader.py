"""Reading a canonical workbook into a :class:`~crmbook.book.Book`.

Values come from python-calamine (fast, read-only); columns are found by
header text in either language or an alias, wherever the user moved them.
Structural problems (missing sheet, missing required column, two columns for
one field) are returned as issues by :func:`inspect_structure`;
:func:`read_book` raises :class:`~crmbook.errors.WorkbookFileError` only for
files it cannot read at all.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import python_calamine as calamine

from crmbook.book import Book, EarlierRows, Settings, Table
from crmbook.errors import WorkbookFileError
from crmbook.issues import Issue, column_letter
from crmbook.schema import Lang, Rep, Schema, SheetSpec, load_schema, normalize_label
from crmbook.snapshot import snapshot_sheet_name
from crmbook.state import STATE_SHEET, State
from crmbook.team_state import SPLIT_SHEET, redacted_in

__all__ = ["HEADER_SCAN_ROWS", "Structure", "inspect_structure", "open_calamine", "read_book", "read_grid"]

HEADER_SCAN_ROWS = 20

Grid = list[list[Any]]


# ------------------------------------------------------------------ low level


# A full 1,048,576-row sheet is legitimately 1-2 GiB of XML; bombs are caught by their ratio.
MAX_PART_BYTES = 4 * 2**30
MAX_TOTAL_BYTES = 8 * 2**30
MAX_RATIO = 250


def check_sizes(path: str | os.PathLike[str]) -> None:
    """Refuse zip bombs before anything inflates them (declared sizes and compression ratios)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise WorkbookFileError(path, f"is damaged or truncated ({exc}); restore it from a backup") from exc
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_PART_BYTES or (info.file_size > 16 * 2**20 and ratio > MAX_RATIO):
            raise WorkbookFileError(
                path,
                f"part {info.filename} would inflate to {info.file_size / 2**20:,.0f} MiB; refusing (zip bomb?)",
            )
    if total > MAX_TOTAL_BYTES:
        raise WorkbookFileError(
            path, f"would inflate to {total / 2**20:,.0f} MiB in all; refusing (zip bomb?)"
        )


def _open(path: str | os.PathLike[str]) -> calamine.CalamineWorkbook:
    from crmbook.filetype import require_workbook

    require_workbook(path)  # an .xlsx or .xlsm package, or a clear error
    check_sizes(path)
    return open_calamine(path, known_xlsx=True)


def open_calamine(path: str | os.PathLike[str], *, known_xlsx: bool = False) -> calamine.CalamineWorkbook:
    """Open any spreadsheet calamine reads (.xlsx, .xlsm, .xls), with clear errors. ``known_xlsx``: the
    file is known to be an .xlsx or .xlsm package named so; calamine then reads it from its path,
    without first copying the whole file into memory (each sheet read ahead opens the file anew)."""
    try:
        if known_xlsx and os.fspath(path).lower().endswith((".xlsx", ".xlsm")):
            return calamine.CalamineWorkbook.from_path(os.fspath(path))
        # From a file object, so the format is read from the content whatever the extension says.
        with open(path, "rb") as fh:
            return calamine.CalamineWorkbook.from_filelike(fh)
    except calamine.PasswordError as exc:
        raise WorkbookFileError(
            path, "is password-encrypted; remove the password in Excel and retry"
        ) from exc
    except (calamine.CalamineError, calamine.ZipError, calamine.XmlError, OSError, ValueError) as exc:
        raise WorkbookFileError(
            path, f"cannot be read as a workbook ({exc}). Open and re-save it in Excel."
        ) from exc


def read_grid(wb: calamine.CalamineWorkbook, sheet_name: str, path: str = "", *, raw: bool = False) -> Grid:
    """All cells of one sheet from A1, empty cells as ``None`` (as ``""`` with ``raw``)."""
    try:
        rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except (calamine.CalamineError, calamine.XmlError, ValueError) as exc:
        if "entity" in str(exc):
            raise WorkbookFileError(
                path,
                f"sheet '{sheet_name}' uses XML entities of its own, which crmbook never expands (an XML "
                "bomb?); refused. If the file is genuine, open it and save it again in Excel",
            ) from exc
        raise WorkbookFileError(path, f"sheet '{sheet_name}' cannot be read ({exc})") from exc
    if raw:
        return rows
    return [[None if v == "" else v for v in row] for row in rows]


def _clean(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ------------------------------------------------------------------ header matching


@dataclass
class HeaderMatch:
    row: int  # 1-based
    columns: dict[str, int]  # schema key -> column number
    extra: dict[str, int]  # user header text -> column number
    duplicates: list[tuple[str, int, int]] = field(default_factory=list)  # key, first col, second col


def _label_index(spec: SheetSpec) -> dict[str, str]:
    index: dict[str, str] = {}
    # Exact labels win over aliases: two columns may share an alias ("电话").
    for col in spec.columns:
        for text in (col.zh, col.en, col.key):
            index.setdefault(normalize_label(text), col.key)
    for col in spec.columns:
        for text in col.aliases:
            index.setdefault(normalize_label(text), col.key)
    return index


def field_labels(spec: SheetSpec) -> frozenset[str]:
    """Every header (folded by :func:`crmbook.schema.normalize_label`) read as one of the sheet's fields:
    labels and aliases ("Deal ID" is 机会编号). A user column must not be headed so."""
    return frozenset(_label_index(spec))


def _exact_labels(spec: SheetSpec) -> dict[str, str]:
    return {normalize_label(t): c.key for c in spec.columns for t in (c.zh, c.en, c.key)}


def match_header_row(
    spec: SheetSpec, cells: Sequence[Any], labels: tuple[dict[str, str], dict[str, str]] | None = None
) -> HeaderMatch:
    """Map the cells of one header row to schema keys (``labels``: :func:`_label_index` and
    :func:`_exact_labels` of ``spec``, when worked out already)."""
    index, exact = labels or (_label_index(spec), _exact_labels(spec))
    columns: dict[str, int] = {}
    via_alias: dict[str, int] = {}
    extra: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    for i, cell in enumerate(cells, start=1):
        if cell is None or str(cell).strip() == "":
            continue
        folded = normalize_label(cell)
        key = index.get(folded)
        if key is None:
            extra.setdefault(str(cell).strip(), i)
            continue
        if key in columns:
            if key in via_alias and folded in exact:  # an exact label beats an alias claim
                extra.setdefault(str(cells[columns[key] - 1]).strip(), columns[key])
                columns[key] = i
                via_alias.pop(key)
            else:
                duplicates.append((key, columns[key], i))
            continue
        columns[key] = i
        if folded not in exact:
            via_alias[key] = i
    return HeaderMatch(row=0, columns=columns, extra=extra, duplicates=duplicates)


def find_header(spec: SheetSpec, grid: Grid) -> HeaderMatch | None:
    """The row among the first rows that names the most schema columns."""
    best: HeaderMatch | None = None
    labels = (_label_index(spec), _exact_labels(spec))  # once for all the rows scanned
    for r, cells in enumerate(grid[:HEADER_SCAN_ROWS], start=1):
        m = match_header_row(spec, cells, labels)
        if len(m.columns) >= 2 and (best is None or len(m.columns) > len(best.columns)):
            m.row = r
            best = m
    return best


# ------------------------------------------------------------------ structure


@dataclass
class Structure:
    """Where each record sheet and its columns are, and what is wrong with them."""

    lang: Lang
    sheet_names: list[str]
    record_sheets: dict[str, str]  # schema key -> sheet name
    headers: dict[str, HeaderMatch]
    issues: list[Issue]


def _find_sheet(spec_labels: frozenset[str], names: list[str]) -> str | None:
    for name in names:
        if normalize_label(name) in spec_labels:
            return name
    return None


def detect_lang(sheet_names: list[str], schema: Schema) -> Lang:
    zh = sum(1 for s in schema.sheets if s.zh in sheet_names)
    en = sum(1 for s in schema.sheets if s.en in sheet_names)
    return "en" if en > zh else "zh"


def inspect_structure(
    wb: calamine.CalamineWorkbook | GridSource,
    path: str,
    schema: Schema,
    grids: dict[str, Grid],
    on_header: Callable[[SheetSpec, str, HeaderMatch], None] | None = None,
) -> Structure:
    """Where the record sheets and their columns are. ``on_header`` is called for each record sheet
    as soon as its header is found (sheets already read first, when ``wb`` reads ahead)."""
    source = CalamineSource(wb, path) if isinstance(wb, calamine.CalamineWorkbook) else wb
    names = list(source.sheet_names)
    lang = detect_lang(names, schema)
    found = {spec.key: _find_sheet(spec.match_labels, names) for spec in schema.sheets}
    as_ready = getattr(source, "as_ready", lambda sheets: iter(sheets))
    missing = [spec for spec in schema.sheets if found[spec.key] is None]
    spec_of = {name: spec for spec in schema.sheets if (name := found[spec.key]) is not None}
    issues_of: dict[str, list[Issue]] = {}
    matches: dict[str, HeaderMatch] = {}
    for spec in itertools.chain(missing, (spec_of[name] for name in as_ready(list(spec_of)))):
        issues_of[spec.key] = issues = []
        name = found[spec.key]
        if name is None:
            issues.append(
                Issue(
                    "missing-sheet",
                    sheet=os.path.basename(path),
                    params={
                        "expected": spec.label(lang),
                        "accepted": "、".join(dict.fromkeys((spec.zh, spec.en, *spec.aliases))),
                    },
                )
            )
            continue
        grid = grids.setdefault(name, source.grid(name, raw=True))
        match = find_header(spec, grid)
        if match is None:
            issues.append(
                Issue("missing-header", sheet=name, params={"sheet": name, "scanned": HEADER_SCAN_ROWS})
            )
            continue
        matches[spec.key] = match
        if on_header is not None:
            on_header(spec, name, match)
        for key, first, second in match.duplicates:
            col = spec.column(key)
            issues.append(
                Issue(
                    "duplicate-column",
                    sheet=name,
                    row=match.row,
                    col=second,
                    column=key,
                    params={
                        "sheet": name,
                        "expected": col.label(lang),
                        "first": column_letter(first),
                        "second": column_letter(second),
                    },
                )
            )
        for col in spec.columns:
            if col.key in match.columns:
                continue
            code = (
                "missing-column" if (col.required or col.key == spec.id_column) else "missing-optional-column"
            )
            issues.append(
                Issue(
                    code,
                    sheet=name,
                    row=match.row,
                    column=col.key,
                    params={
                        "sheet": name,
                        "expected": col.label(lang),
                        "accepted": "、".join(dict.fromkeys((col.zh, col.en, *col.aliases))),
                    },
                )
            )
    keys = [spec.key for spec in schema.sheets]  # back in the schema's order
    record_sheets = {key: name for key in keys if (name := found[key]) is not None}
    headers = {key: matches[key] for key in keys if key in matches}
    return Structure(lang, names, record_sheets, headers, [i for key in keys for i in issues_of[key]])


# ------------------------------------------------------------------ tables, settings, lists


def _cell_array(body: Grid, positions: list[int]) -> np.ndarray:
    """The cells of ``body`` at column ``positions`` (0-based) as a 2-D object array; a position past
    a row's end is a missing cell (None)."""
    width = len(body[0]) if body else 0
    if body and all(len(row) == width for row in body):  # a rectangular grid (any reader's): one pass
        cells = np.fromiter(  # quicker than filling an array from the lists (no shape to work out)
            itertools.chain.from_iterable(body), dtype=object, count=len(body) * width
        ).reshape(len(body), width)
        if positions == list(range(width)):
            return cells
        inside = [j for j, p in enumerate(positions) if p < width]
        array = np.full((len(body), len(positions)), None, dtype=object)
        array[:, inside] = cells[:, [positions[j] for j in inside]]
        return array
    array = np.empty((len(body), len(positions)), dtype=object)
    for i, row in enumerate(body):
        array[i] = [row[p] if p < len(row) else None for p in positions]
    return array


def build_table(
    spec: SheetSpec, sheet_name: str, grid: Grid, match: HeaderMatch, totals: Iterable[int] = ()
) -> Table:
    """Records below the header row: every non-empty row, keyed by Excel row number. ``totals`` are
    the totals rows of the user's Excel tables on the sheet (合计): not records."""
    wanted = {**match.columns, **match.extra}
    names = list(wanted)
    body = grid[match.row :]
    rows = pd.RangeIndex(match.row + 1, match.row + 1 + len(body), name="row")
    totals = list(totals)
    if names:  # blanks ("" or missing) become None; rows with nothing left (or totals rows) are dropped
        values = _cell_array(body, [wanted[n] - 1 for n in names])
        blank = values == ""
        blank |= values == None  # noqa: E711  (elementwise: the cells that are None)
        values[blank] = None
        # A row is a record when a field of the sheet is filled: one with values in the user's own
        # columns alone is not (a column of formulas filled down past the data shows 0 there).
        known = [i for i, n in enumerate(names) if n in match.columns] or list(range(len(names)))
        keep = ~blank[:, known].all(axis=1)
        if totals:
            keep &= ~rows.isin(totals)
        if not keep.all():
            values, rows = values[keep], rows[keep]
        frame = pd.DataFrame(values, index=rows, columns=pd.Index(names), dtype=object)
    else:
        frame = pd.DataFrame(index=rows[:0], columns=pd.Index(names), dtype=object)
    below = _totals_below(frame, wanted, spec.id_column)
    return Table(
        spec=spec,
        sheet_name=sheet_name,
        header_row=match.row,
        columns=dict(match.columns),
        extra_columns=dict(match.extra),
        data=frame.drop(index=below) if below else frame,
        totals_below=below,
    )


def _totals_below(frame: pd.DataFrame, columns: dict[str, int], id_key: str) -> list[int]:
    """The last rows of ``frame`` that total the records above them, as people add one under a list:
    no ID, 合计 / 总计 / 小计 / Total in their first filled cell and nothing but numbers (their sums) in
    the others. They are not records: crmbook gives them no ID and writes nothing over their sums."""
    from crmbook.legacy import SUBTOTAL_MARKERS

    markers = {normalize_label(m) for m in SUBTOTAL_MARKERS}
    order = sorted(frame.columns, key=lambda n: columns[n])
    found: list[int] = []
    for row in reversed(frame.index.tolist()):
        if id_key in frame.columns and frame.at[row, id_key] is not None:
            break
        first, *others = [v for v in (frame.at[row, n] for n in order) if v is not None] or [None]
        if not (isinstance(first, str) and normalize_label(first) in markers):
            break
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in others):
            break
        found.append(int(row))
    return sorted(found)


def _coerce_setting(raw: Any, default: Any) -> tuple[Any, bool]:
    """The setting value in the default's type; (value, ok)."""
    if raw is None:
        return default, True
    if isinstance(default, bool):
        return str(raw).strip().lower() in {"1", "true", "yes", "是", "y"}, True
    if isinstance(default, int | float) and not isinstance(default, bool):
        try:
            number = float(str(raw).replace(",", "").replace("%", "").strip())
        except ValueError:
            return default, False
        return (int(number) if isinstance(default, int) and number.is_integer() else number), True
    return str(raw).strip(), True


def read_settings(
    grid: Grid | None, schema: Schema, lang: Lang, sheet_name: str
) -> tuple[Settings, list[Issue]]:
    """Settings rows are (label, value, note); the reps block has its own header row."""
    settings = Settings.defaults(lang, schema)
    issues: list[Issue] = []
    if grid is None:
        return settings, issues
    by_label = {normalize_label(t): s for s in schema.settings for t in (s.zh, s.en, s.key)}
    rep_header = {normalize_label(labels[0]) for labels in schema.reps_headers.values()}
    reps: list[Rep] | None = None
    for r, cells in enumerate(grid, start=1):
        first = cells[0] if cells else None
        if first is None:
            continue
        folded = normalize_label(first)
        if folded in rep_header:
            reps = []
            continue
        if reps is not None:
            name = str(first).strip()
            team = str(cells[1]).strip() if len(cells) > 1 and cells[1] is not None else ""
            target, ok = _coerce_setting(cells[2] if len(cells) > 2 else None, 0.0)
            reps.append(Rep(name, team, float(target) if ok else 0.0))
            continue
        spec = by_label.get(folded)
        if spec is None:
            continue
        raw = cells[1] if len(cells) > 1 else None
        default = spec.default_for(lang)
        value, ok = _coerce_setting(raw, default)
        if not ok:
            issues.append(
                Issue(
                    "bad-setting",
                    sheet=sheet_name,
                    row=r,
                    col=2,
                    column=spec.key,
                    value=raw,
                    params={"setting": spec.label(lang), "default": default},
                )
            )
        settings.values[spec.key] = value
    if reps is not None:
        settings.reps = reps
    return settings, issues


def read_lists(grid: Grid | None, schema: Schema, lang: Lang) -> dict[str, list[str]]:
    """Each list as the Lists sheet holds it now (user additions included)."""
    lists = {key: spec.labels(lang) for key, spec in schema.lists.items()}
    if not grid:
        return lists
    header = grid[0]
    by_label = {normalize_label(t): key for key, s in schema.lists.items() for t in (s.zh, s.en, s.key)}
    for c, cell in enumerate(header):
        key = by_label.get(normalize_label(cell)) if cell is not None else None
        if key is None:
            continue
        items = [str(row[c]).strip() for row in grid[1:] if c < len(row) and row[c] is not None]
        lists[key] = [i for i in items if i]
    return lists


def _rows_with_values(grid: Grid) -> list[list[Any]]:
    return [row for row in grid if any(v is not None for v in row)]


@dataclass(frozen=True)
class _SheetRows:
    """The rows with a value under the header of sheet ``name`` of the file at ``path``, read anew."""

    path: str
    name: str

    def __call__(self) -> list[list[Any]]:
        wb = open_calamine(self.path)
        try:
            return _rows_with_values(read_grid(wb, self.name, self.path)[1:])
        finally:
            wb.close()


class GridSource(Protocol):
    """Where a book's sheets come from: a file (python-calamine) or a workbook open in Excel (xlwings)."""

    sheet_names: list[str]

    def grid(self, name: str, *, raw: bool = False) -> Grid:
        """All cells of sheet ``name`` from A1; empty cells ``None`` (or ``""`` with ``raw``)."""
        ...


def _sheet_sizes(path: str) -> dict[str, int]:
    """Sheet name -> bytes of its XML, for .xlsx/.xlsm files (empty for anything else)."""
    from crmbook.ooxml.package import open_package

    try:
        with open_package(path) as pkg:
            return {name: pkg.inflated_size(part) for name, part in pkg.sheet_parts().items() if part in pkg}
    except (WorkbookFileError, OSError, KeyError, ValueError):
        return {}


class CalamineSource:
    def __init__(self, wb: calamine.CalamineWorkbook, path: str) -> None:
        self.wb = wb
        self.path = path
        self.sheet_names = list(wb.sheet_names)
        self._ahead: dict[str, Future[Grid]] = {}  # raw grids being read by read_ahead, handed out once

    def grid(self, name: str, *, raw: bool = False) -> Grid:
        reading = self._ahead.pop(name, None)
        if reading is None:
            return read_grid(self.wb, name, self.path, raw=raw)
        rows = reading.result()
        return rows if raw else [[None if v == "" else v for v in row] for row in rows]

    def earlier_rows(self, name: str) -> EarlierRows | None:
        """The rows of sheet ``name`` under its header, counted from the file's XML (the last row's
        number) and read when asked for; None when the sheet cannot be counted so."""
        from crmbook.ooxml.package import open_package
        from crmbook.ooxml.sheetxml import SheetXml, SheetXmlError

        try:
            with open_package(self.path) as pkg:
                data = pkg.read(pkg.sheet_parts()[name])
            sheet = SheetXml(data)
        except (WorkbookFileError, OSError, KeyError, ValueError, SheetXmlError):
            return None
        last = sheet.last_row_number()
        if last is None:
            return None
        return EarlierRows(max(0, last - 1), _SheetRows(self.path, name)) if last else EarlierRows.of([])

    def as_ready(self, names: list[str]) -> Iterator[str]:
        """``names`` in the order :meth:`grid` can give them: those not being read ahead first, then
        the others as their reads end."""
        reading = {self._ahead[n]: n for n in names if n in self._ahead}
        yield from (n for n in names if n not in self._ahead)
        yield from (reading[f] for f in as_completed(reading))

    def read_ahead(self, names: Iterable[str]) -> None:
        """Start reading several sheets side by side, each on its own thread with its own handle on
        the file; :meth:`grid` waits for the sheet it is asked for.

        calamine parses a sheet without holding Python's interpreter lock, so on a machine with
        more than one core the big record sheets are read at the same time (the M sample book:
        2.4 s one after another, 1.6 s on two cores), and the small sheets read first can be
        worked on while the biggest is still being read. The file is only read, never written.
        """
        todo = [n for n in dict.fromkeys(names) if n in self.sheet_names and n not in self._ahead]
        cores = os.cpu_count() or 1
        if len(todo) < 2 or cores < 2 or not os.path.isfile(self.path):
            return
        sizes = _sheet_sizes(self.path)
        # The biggest starts first, on a core of its own; the others share the second core, the smallest
        # first: settings, lists and the customers are worked on while the biggest is still being read.
        todo.sort(key=lambda n: sizes.get(n, 0))
        todo.insert(0, todo.pop())

        def read(name: str) -> Grid:
            wb = open_calamine(self.path, known_xlsx=bool(sizes))
            try:
                return read_grid(wb, name, self.path, raw=True)
            finally:
                wb.close()

        pool = ThreadPoolExecutor(max_workers=min(len(todo), cores), thread_name_prefix="crmbook-read")
        self._ahead.update((name, pool.submit(read, name)) for name in todo)
        pool.shutdown(wait=False)  # the threads end once every sheet is read


def _sniff(path: str) -> str:
    from crmbook.filetype import sniff

    return sniff(path)


def read_book(
    path: str | os.PathLike[str],
    *,
    today: dt.date | None = None,
    on_table: Callable[[Table], None] | None = None,
) -> tuple[Book, list[Issue]]:
    """Read every record sheet, the settings and the lists; return the book and structural issues.

    ``on_table`` is called with each record table as soon as it is built, while bigger sheets may
    still be being read (see :func:`read_book_from`)."""
    spath = os.fspath(path)
    wb = _open(spath)
    try:
        source = CalamineSource(wb, spath)
        source.read_ahead(sheets_of_a_book(source.sheet_names, load_schema()))
        return read_book_from(
            source,
            spath,
            today=today,
            macro_enabled=_sniff(spath) == "xlsm",
            on_table=on_table,
            totals_rows=table_totals_rows(spath, record_sheet_names(source.sheet_names)),
        )
    finally:
        wb.close()


def table_totals_rows(path: str, sheets: list[str]) -> dict[str, set[int]]:
    """The rows of ``sheets`` that are totals rows of an Excel table (sheet name -> row numbers)."""
    from crmbook.ooxml.package import open_package

    found: dict[str, set[int]] = {}
    try:
        with open_package(path) as pkg:
            parts = pkg.sheet_parts()
            for sheet in sheets:
                part = parts.get(sheet)
                if part is None or part not in pkg:
                    continue
                for _, rtype, target, mode in pkg.rels(part):
                    if mode == "External" or not rtype.endswith("/table") or target not in pkg:
                        continue
                    table = pkg.xml(target)
                    count = table.get("totalsRowCount", "0")
                    last = (table.get("ref") or "").rpartition(":")[2].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ$")
                    if count.isdigit() and int(count) > 0 and last.isdigit():
                        found.setdefault(sheet, set()).update(
                            range(int(last) - int(count) + 1, int(last) + 1)
                        )
    except (WorkbookFileError, OSError, ValueError):
        return {}  # the calamine read reports what is wrong with the file
    return found


def record_sheet_names(names: list[str]) -> list[str]:
    """The record sheets (customers, contacts, follow-ups, opportunities) among ``names``."""
    found = [_find_sheet(spec.match_labels, names) for spec in load_schema().sheets]
    return [n for n in found if n is not None]


def _config_sheet(config_key: str, names: list[str], schema: Schema) -> str | None:
    """The Settings or Lists sheet among ``names``, in either language."""
    return _find_sheet(
        frozenset(normalize_label(v) for v in schema.config_sheets[config_key].values()), names
    )


def sheets_of_a_book(names: list[str], schema: Schema) -> list[str]:
    """The sheets :func:`read_book_from` reads: record sheets, settings and lists, what the last
    refresh remembered (state and snapshots) and the Duplicates and Conflicts sheets (the change log
    is counted, its entries read only when needed: :meth:`CalamineSource.earlier_rows`)."""
    lang = detect_lang(names, schema)
    records = record_sheet_names(names)
    config = [_config_sheet(key, names, schema) for key in schema.config_sheets]
    snapshots = [snapshot_sheet_name(spec.key) for spec in schema.sheets]
    owned = [schema.owned_sheet_name(key, lang) for key in ("duplicates", "conflicts")]  # not the change log
    wanted = [*records, *config, STATE_SHEET, SPLIT_SHEET, *snapshots, *owned]
    return [n for n in wanted if n is not None and n in names]


def read_book_from(
    source: GridSource,
    path: str,
    *,
    today: dt.date | None = None,
    macro_enabled: bool = False,
    on_table: Callable[[Table], None] | None = None,
    totals_rows: dict[str, set[int]] | None = None,
) -> tuple[Book, list[Issue]]:
    """The book held by ``source`` (a file's sheets, or the sheets of a workbook open in Excel).
    ``totals_rows`` (sheet -> rows) are the totals rows of Excel tables, which are not records.

    ``on_table`` is called with each record table as soon as it is built: sheets already read come
    first, so a caller can start working on them while the source still reads the biggest one. It
    must not change the table.
    """
    schema = load_schema()
    names = list(source.sheet_names)
    lang = detect_lang(names, schema)

    # The small sheets first: the biggest record sheet may still be being read meanwhile.
    def grid_of(config_key: str) -> tuple[str | None, Grid | None]:
        name = _config_sheet(config_key, names, schema)
        return name, (source.grid(name) if name else None)

    settings_name, settings_grid = grid_of("settings")
    lists_name, lists_grid = grid_of("lists")
    # Without them crmbook goes on with its standard settings and lists, and says so: the dropdowns
    # of a workbook whose Lists sheet was deleted offer nothing.
    config_issues = [
        Issue(
            "missing-config-sheet",
            sheet=os.path.basename(path),
            params={"expected": schema.config_sheet_name(key, lang)},
        )
        for key, name in (("settings", settings_name), ("lists", lists_name))
        if name is None
    ]
    state = None
    if STATE_SHEET in names:
        snapshot_grids = {
            spec.key: source.grid(snapshot_sheet_name(spec.key))
            for spec in schema.sheets
            if snapshot_sheet_name(spec.key) in names
        }
        state = State.from_grids(source.grid(STATE_SHEET), snapshot_grids)
    duplicates_name = schema.owned_sheet_name("duplicates", lang)
    duplicates_grid = source.grid(duplicates_name) if duplicates_name in names else []
    conflicts_name = schema.owned_sheet_name("conflicts", lang)
    conflicts_grid = source.grid(conflicts_name) if conflicts_name in names else []
    settings, setting_issues = read_settings(settings_grid, schema, lang, settings_name or "")

    grids: dict[str, Grid] = {}
    built: dict[str, Table] = {}

    def build(spec: SheetSpec, name: str, match: HeaderMatch) -> None:
        totals = (totals_rows or {}).get(name, ())
        built[spec.key] = build_table(
            spec, name, grids.pop(name), match, totals
        )  # the grid is not needed after
        if on_table is not None:
            on_table(built[spec.key])

    structure = inspect_structure(source, path, schema, grids, on_header=build)
    changelog_name = schema.owned_sheet_name("changelog", lang)
    changelog = EarlierRows.of([])
    if changelog_name in names:  # only counted where it can be (its entries are read when needed)
        counted = source.earlier_rows(changelog_name) if isinstance(source, CalamineSource) else None
        changelog = counted or EarlierRows.of(_rows_with_values(source.grid(changelog_name)[1:]))
    tables = {key: built[key] for key in structure.headers}
    if state is not None:  # what was remembered of a sheet that is gone (or lost its header) is not used
        state.snapshots = state.snapshots.only(tables.keys())
    book = Book(
        path=path,
        lang=lang,
        tables=tables,
        settings=settings,
        lists=read_lists(lists_grid, schema, lang),
        sheet_names=names,
        state=state,
        changelog=changelog,
        duplicates_grid=duplicates_grid,
        conflicts_grid=conflicts_grid,
        today=today or dt.date.today(),
        macro_enabled=macro_enabled,
    )
    # A rep file's fields the lead left out (split --redact) are not missing columns to add.
    redacted = set(redacted_in(source.grid(SPLIT_SHEET))) if SPLIT_SHEET in names else set()
    structure_issues = [
        i for i in structure.issues if not (i.code == "missing-optional-column" and i.column in redacted)
    ]
    return book, structure_issues + config_issues + setting_issues
