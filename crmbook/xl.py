"""crmbook inside Excel: what the dashboard buttons run, through xlwings.

The VBA macros in ``macros/crmbook.bas`` call ``crmbook.xl.refresh()``,
``crmbook.xl.dedupe()`` and ``crmbook.xl.monthly_report()`` with xlwings'
RunPython. Each attaches to the open workbook (``xw.Book.caller()``), reads
every sheet in one bulk read (:class:`XlwingsSource`), runs exactly the
pipeline ``crmbook refresh`` runs (:func:`crmbook.refresh.plan_refresh`), and
applies the same :class:`~crmbook.changeset.Changeset` through Excel itself
(:func:`apply_live`), in blocks: one call per run of contiguous cells, one
per crmbook-owned sheet, never one per cell. Nothing is saved or reopened;
the user saves as usual.

Progress shows in Excel's status bar; the run ends with a message box
summarising IDs assigned, issues and duplicates. Any failure becomes a
readable message box; the plan is computed before the first write, so a bad
workbook is left as it was.

Differences from the file engine, by design: problem cells are marked with a
fill colour (xlwings has no conditional formats), and charts are drawn only by
desktop Excel (xlwings' remote engine, used in the tests, cannot draw them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from crmbook.changeset import CellValue, Changeset, Formula, OwnedSheet
from crmbook.errors import CrmbookError
from crmbook.ooxml.cells import cell_ref, clip_text
from crmbook.wording import counted

__all__ = ["LiveResult", "XlwingsSource", "apply_live", "dedupe", "monthly_report", "refresh"]

FILL = {"error": "#FFC7CE", "warning": "#FFEB9C", "info": "#DDEBF7"}  # the file engine's colours
NUMBER_FORMATS = {
    "integer": "#,##0",
    "amount": "¥#,##0",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
STATE_SHEETS = re.compile(r"^_crmbook")


# ------------------------------------------------------------------ reading


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()  # a date cell: what the file reader gives for it
    if value == "":
        return None
    return value


def _last_cell(sheet: Any) -> tuple[int, int]:
    try:
        last = sheet.used_range.last_cell
        return int(last.row), int(last.column)
    except NotImplementedError:  # xlwings' remote engine keeps the sheet's values in its payload
        values = sheet.impl.api.get("values") or [[]]
        return len(values), max((len(r) for r in values), default=0)


class XlwingsSource:
    """The sheets of a workbook open in Excel, each read in one call (a :class:`~crmbook.reader.GridSource`)."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self.sheet_names = [s.name for s in book.sheets]
        self.grids: dict[str, list[list[Any]]] = {}  # each sheet is read once

    def grid(self, name: str, *, raw: bool = False) -> list[list[Any]]:
        if name not in self.grids:
            sheet = self.book.sheets[name]
            rows, cols = _last_cell(sheet)
            values = sheet.range((1, 1), (rows, cols)).options(ndim=2).value if rows and cols else []
            self.grids[name] = [[_cell(v) for v in row] for row in values]
        return [list(row) for row in self.grids[name]]

    def formulas(self, name: str) -> dict[tuple[int, int], tuple[str, str]]:
        """(row, column) -> (formula text without "=", the cell's reference) of each formula cell of
        sheet ``name`` (as :func:`crmbook.ooxml.formulas.sheet_formulas` gives them from the file), in
        one more call: ``Range.formula`` of the sheet's cells, which gives a formula cell's formula
        and any other cell's constant. Empty where the engine cannot tell (xlwings' remote engine
        raises NotImplementedError, or Excel fails the call): there the values stand, results of formulas
        included."""
        sheet = self.book.sheets[name]
        rows, cols = _last_cell(sheet)
        if not rows or not cols:
            return {}
        try:
            texts = sheet.range((1, 1), (rows, cols)).formula
        except Exception:  # the remote engine's NotImplementedError, or Excel failing the call: only
            return {}  # the finer comparison is lost, and the refresh goes on as it did before it
        if isinstance(texts, str):  # a single cell
            texts = ((texts,),)
        found: dict[tuple[int, int], tuple[str, str]] = {}
        for r, row in enumerate(texts or (), start=1):
            for c, text in enumerate(row, start=1):
                if isinstance(text, str) and text.startswith("=") and len(text) > 1:
                    found[(r, c)] = (text[1:], cell_ref(r, c))
        return found


# ------------------------------------------------------------------ writing


def _runs(rows: list[int]) -> Iterator[tuple[int, int]]:
    """Contiguous runs (first, last) of sorted row numbers."""
    start = prev = rows[0]
    for r in rows[1:]:
        if r != prev + 1:
            yield start, prev
            start = r
        prev = r
    yield start, prev


@dataclass
class LiveResult:
    actions: int  # xlwings calls that change the workbook
    plan: Any = None


def _write_cells(
    xbook: Any, changeset: Changeset, current: dict[str, list[list[Any]]], own: dict[str, set[int]]
) -> int:
    """One call per contiguous run of a column; each of crmbook's own columns in one call.

    In crmbook's own (derived) columns the rows between changed cells are written back with the
    values they hold, so the column is one block; people's columns are only written where a cell
    changes (a formula there must not be replaced by its value).
    """
    calls = 0
    by_column: dict[tuple[str, int], dict[int, CellValue]] = defaultdict(dict)
    for w in changeset.cell_writes:  # a formula is written as Excel takes one typed: "=..."
        by_column[(w.sheet, w.col)][w.row] = "=" + w.value.text if isinstance(w.value, Formula) else w.value
    for (sheet, col), cells in by_column.items():
        target = xbook.sheets[sheet]
        rows = sorted(cells)
        if col in own.get(sheet, set()):
            grid = current.get(sheet, [])

            def held(r: int, grid: list[list[Any]] = grid, col: int = col) -> Any:
                return grid[r - 1][col - 1] if r - 1 < len(grid) and col - 1 < len(grid[r - 1]) else None

            block = [[cells[r] if r in cells else held(r)] for r in range(rows[0], rows[-1] + 1)]
            target.range((rows[0], col), (rows[-1], col)).value = block
            calls += 1
            continue
        for first, last in _runs(rows):
            target.range((first, col), (last, col)).value = [[cells[r]] for r in range(first, last + 1)]
            calls += 1
    return calls


def _highlight(xbook: Any, changeset: Changeset, previous: dict[str, set[tuple[int, int]]]) -> int:
    calls = 0
    wanted: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    marked: set[tuple[str, int, int]] = set()
    for h in changeset.highlights:
        wanted[(h.sheet, h.col, h.severity)].append(h.row)
        marked.add((h.sheet, h.row, h.col))
    for sheet, cells in previous.items():  # marks of problems fixed since: cleared
        if sheet not in changeset.highlight_sheets:
            continue
        by_col: dict[int, list[int]] = defaultdict(list)
        for row, col in cells:
            if (sheet, row, col) not in marked:
                by_col[col].append(row)
        for col, rows in by_col.items():
            for first, last in _runs(sorted(rows)):
                try:
                    xbook.sheets[sheet].range((first, col), (last, col)).color = None
                except ValueError:  # the remote engine cannot clear a colour; it paints white
                    xbook.sheets[sheet].range((first, col), (last, col)).color = "#FFFFFF"
                calls += 1
    for (sheet, col, severity), rows in wanted.items():
        for first, last in _runs(sorted(set(rows))):
            xbook.sheets[sheet].range((first, col), (last, col)).color = FILL[severity]
            calls += 1
    return calls


def _owned_sheet(xbook: Any, owned: OwnedSheet) -> int:
    names = {s.name.casefold(): s.name for s in xbook.sheets}
    calls = 0
    if owned.name.casefold() in names:
        sheet = xbook.sheets[names[owned.name.casefold()]]
        sheet.clear()  # cells and formats; shapes such as the buttons stay
        if owned.charts:
            calls += _optional(lambda: [chart.delete() for chart in list(sheet.charts)])  # redrawn below
    else:
        sheet = xbook.sheets.add(owned.name, after=xbook.sheets[len(xbook.sheets) - 1])
    calls += 1
    whole = owned.whole_rows()  # written whole through Excel
    width = max((len(r) for r in whole), default=0)
    if whole and width:
        # a sheet people read shows an overlong text cut (crmbook's hidden data is never too long)
        shown = _shown if owned.hidden else lambda c: clip_text(_shown(c))
        grid = [[shown(c) for c in row] + [None] * (width - len(row)) for row in whole]
        sheet.range((1, 1), (len(grid), width)).value = grid
        calls += 1
    styles: dict[tuple[int, str], list[int]] = defaultdict(list)
    for r, row in enumerate(whole, start=1):
        for c, cell in enumerate(row, start=1):
            if cell is not None and cell.style in NUMBER_FORMATS:
                styles[(c, cell.style)].append(r)
    for (col, style), rows in styles.items():
        for first, last in _runs(rows):
            sheet.range((first, col), (last, col)).number_format = NUMBER_FORMATS[style]
            calls += 1
    if owned.freeze:
        sheet.freeze_panes.freeze_at(owned.freeze)
        calls += 1
    calls += _optional(lambda: _widths(sheet, owned))
    if owned.hidden:
        calls += _optional(lambda: setattr(sheet, "visible", False))
    for chart in owned.charts:
        calls += _optional(lambda chart=chart: _chart(sheet, chart))
    return calls


def _shown(cell: Any) -> Any:
    """The value written for an owned-sheet cell; a link becomes a HYPERLINK formula in the same block."""
    if cell is None:
        return None
    if cell.link and cell.value is not None:
        target = f"#{cell.link}".replace('"', '""')
        text = str(cell.value).replace('"', '""')
        return f'=HYPERLINK("{target}","{text}")'
    return cell.value


def _optional(step: Any) -> int:
    """Run a step the remote engine may not support (widths, hiding, charts); 1 if it ran."""
    try:
        step()
    except NotImplementedError:
        return 0
    return 1


def _widths(sheet: Any, owned: OwnedSheet) -> None:
    for col, width in owned.widths.items():
        sheet.range((1, col)).column_width = width


CHART_TYPES = {
    "pie": "pie",
    "bar": "bar_clustered",
    "column": "column_clustered",
    "line": "line",
    "funnel": "bar_clustered",
}


def _chart(sheet: Any, spec: Any) -> None:
    first, col, last = spec.categories
    anchor = sheet.range(spec.anchor)
    chart = sheet.charts.add(anchor.left, anchor.top, spec.width_cm * 28.35, spec.height_cm * 28.35)
    series_cols = [c for _, c, _ in spec.series]
    chart.set_source_data(sheet.range((first - 1, col), (last, max(series_cols))))
    chart.chart_type = CHART_TYPES[spec.kind]


def apply_live(
    xbook: Any,
    changeset: Changeset,
    previous_marks: dict[str, set[tuple[int, int]]] | None = None,
    current: dict[str, list[list[Any]]] | None = None,
    own_columns: dict[str, set[int]] | None = None,
) -> int:
    """Apply ``changeset`` to the open workbook through xlwings; the number of calls that changed it.

    ``current`` holds the sheets as read and ``own_columns`` the columns crmbook owns on each sheet,
    so that each of those is written in one block.
    """
    calls = _write_cells(xbook, changeset, current or {}, own_columns or {})
    calls += _highlight(xbook, changeset, previous_marks or {})
    for owned in changeset.owned_sheets:
        calls += _owned_sheet(xbook, owned)
    shown = {s.name.casefold(): s for s in xbook.sheets}
    for name, state in changeset.sheet_states.items():
        sheet = shown.get(name.casefold())
        if sheet is not None and state != "visible":
            calls += _optional(lambda sheet=sheet: setattr(sheet, "visible", False))
    return calls


# ------------------------------------------------------------------ the buttons


def _status(xbook: Any, text: str | bool) -> None:
    with contextlib.suppress(NotImplementedError):  # the remote engine has no status bar
        xbook.app.status_bar = text


def _say(xbook: Any, text: str) -> None:
    with contextlib.suppress(NotImplementedError):
        xbook.app.alert(text, title="crmbook")


def _previous_marks(source: XlwingsSource, lang: str) -> dict[str, set[tuple[int, int]]]:
    """The cells the last refresh marked, from its Issues sheet (sheet, row, column letter)."""
    from crmbook.ooxml.cells import col_number
    from crmbook.schema import load_schema

    name = load_schema().owned_sheet_name("issues", lang)  # type: ignore[arg-type]
    if name not in source.sheet_names:
        return {}
    marks: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for row in source.grid(name)[4:]:  # title, time, summary, header; then sheet in C, cell in F
        if len(row) < 6 or row[2] not in source.sheet_names:
            continue
        m = re.match(r"^\$?([A-Z]{1,3})\$?(\d+)$", str(row[5] or ""))
        if m:
            marks[str(row[2])].add((int(m.group(2)), col_number(m.group(1))))
    return marks


def _caller(book: Any) -> Any:
    if book is not None:
        return book
    import xlwings as xw

    return xw.Book.caller()


def refresh(
    book: Any = None, *, today: dt.date | None = None, now: dt.datetime | None = None
) -> LiveResult | None:
    """What the Refresh button does: ``crmbook refresh`` on the open workbook, through Excel."""
    from crmbook.log_archive import write_log_archive
    from crmbook.reader import read_book_from
    from crmbook.refresh import plan_refresh
    from crmbook.snapshot import learn_formulas

    xbook = _caller(book)
    try:
        _status(xbook, "crmbook: reading the workbook…")
        source = XlwingsSource(xbook)
        path = getattr(xbook, "fullname", "") or xbook.name
        crm, structural = read_book_from(
            source, path, today=today, macro_enabled=os.fspath(path).lower().endswith(".xlsm")
        )
        missing = [i for i in structural if i.code in ("missing-sheet", "missing-header")]
        if missing:
            raise CrmbookError("; ".join(i.message(crm.lang) for i in missing))
        for table in crm.tables.values():  # a formula's result that moved is no edit (as in the file engine)
            learn_formulas(table, source.formulas(table.sheet_name))
        _status(xbook, "crmbook: checking every row…")
        plan = plan_refresh(crm, structural, now=now)
        marks = _previous_marks(source, crm.lang)
        _status(xbook, "crmbook: writing…")
        own = {
            t.sheet_name: {
                c for k, c in t.columns.items() if t.spec.column(k).owned and k != t.spec.id_column
            }
            for t in crm.tables.values()
        }
        if os.path.isabs(os.fspath(path)):  # a saved workbook: what leaves its Change log is kept beside it
            write_log_archive(
                path, plan.changeset, crm.lang, crm.settings.get("backup_dir") or ".crmbook-backups"
            )
        calls = apply_live(xbook, plan.changeset, marks, source.grids, own)
        counts = plan.report.counts()
        if crm.lang == "zh":
            text = (
                f"刷新完成：新编号 {plan.ids_assigned} 个，错误 {counts['error']} 个，"
                f"警告 {counts['warning']} 个，疑似重复 {plan.duplicate_pairs} 对。请保存工作簿。"
            )
        else:
            text = (
                f"Refreshed: {counted(plan.ids_assigned, 'ID')} assigned, {counted(counts['error'], 'error')}, "
                f"{counted(counts['warning'], 'warning')}, {counted(plan.duplicate_pairs, 'possible duplicate pair')}. "
                "Save the workbook."
            )
        _say(xbook, text)
        return LiveResult(calls, plan)
    except CrmbookError as exc:
        _say(xbook, f"crmbook: {exc}")
    except Exception as exc:  # a button must never show a traceback
        _say(xbook, f"crmbook could not refresh this workbook: {type(exc).__name__}: {exc}")
    finally:
        _status(xbook, False)
    return None


def dedupe(book: Any = None, **kwargs: Any) -> LiveResult | None:
    """What the Find duplicates button does: the refresh rebuilds the Duplicates sheet with every group."""
    return refresh(book, **kwargs)


def monthly_report(book: Any = None, *, month: str | None = None) -> str | None:
    """What the Monthly report button does: last month's report workbook next to this one (needs it saved)."""
    from crmbook.measures import Period
    from crmbook.report import write_report

    xbook = _caller(book)
    try:
        path = getattr(xbook, "fullname", "")
        if not path or not os.path.exists(path):
            raise CrmbookError("save the workbook first: the report is made from the saved file")
        first = dt.date.today().replace(day=1) - dt.timedelta(days=1)
        period = Period.month(month or f"{first:%Y-%m}")
        _status(xbook, "crmbook: building the report…")
        result = write_report(path, period=period)
        _say(xbook, f"crmbook: {result.path}")
        return str(result.path)
    except CrmbookError as exc:
        _say(xbook, f"crmbook: {exc}")
    except Exception as exc:
        _say(xbook, f"crmbook could not build the report: {type(exc).__name__}: {exc}")
    finally:
        _status(xbook, False)
    return None
