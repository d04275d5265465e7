"""The Refresh button's engine (crmbook.xl through xlwings) against the CLI's file engine.

xlwings' remote (JSON) engine builds a book from the payload an Excel client sends and records every
write as an action. These tests build that payload from a workbook file, run ``crmbook.xl.refresh()``
unchanged on it, replay the recorded actions onto the payload's values with a small interpreter, and
compare every sheet with what ``crmbook refresh`` writes into the same file: the two engines may never
drift apart. The remote engine needs a licence key; its ``noncommercial`` key is used here, in the
tests only.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

# The remote engine reads the key when xlwings is imported: set it first (here, in the tests only).
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
xw = pytest.importorskip("xlwings")
pc = pytest.importorskip("python_calamine")

from crmbook import xl  # noqa: E402
from crmbook.refresh import refresh  # noqa: E402
from crmbook.template import create_workbook  # noqa: E402

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$")
HYPERLINK = re.compile(r'^=HYPERLINK\("(?:[^"]|"")*","((?:[^"]|"")*)"\)$')
TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 9, 30)


def _iso(value: Any) -> Any:
    """A cell value as an Excel client puts it in the payload (dates as ISO text ending in Z)."""
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat() + "Z"
    return None if value == "" else value


def _payload(path: Path) -> dict[str, Any]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    sheets = []
    for name in wb.sheet_names:
        values = [
            [_iso(v) for v in row] for row in wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        ]
        sheets.append({"name": name, "values": values or [[None]], "pictures": [], "tables": []})
    return {
        "client": "Microsoft Excel",
        "version": xw.__version__,  # the VBA client sends the installed version; they must be equal
        "book": {"name": path.name, "active_sheet_index": 0, "selection": "A1"},
        "names": [],
        "sheets": sheets,
    }


def _replay(payload: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, list[list[Any]]]:
    """The sheets' values after ``actions`` (formats, colours, links and messages change no value)."""
    sheets = [{"name": s["name"], "values": [list(r) for r in s["values"]]} for s in payload["sheets"]]
    for a in actions:
        func = a["func"]
        if func == "addSheet":
            index, name = a["args"]
            sheets.insert(index, {"name": name, "values": []})
        elif func == "setValues":
            grid = sheets[a["sheet_position"]]["values"]
            for i, row in enumerate(a["values"]):
                r = a["start_row"] + i
                while len(grid) <= r:
                    grid.append([])
                for j, value in enumerate(row):
                    c = a["start_column"] + j
                    grid[r].extend([None] * (c + 1 - len(grid[r])))
                    link = HYPERLINK.match(value) if isinstance(value, str) else None
                    grid[r][c] = link.group(1).replace('""', '"') if link else value  # what Excel shows
        elif func in ("sheetClear", "sheetClearContents"):
            sheets[a["sheet_position"]]["values"] = []
        elif func in ("rangeClear", "rangeClearContents", "sheetDelete", "setSheetName"):
            raise AssertionError(f"the live refresh used {func}; teach this interpreter what it means")
    return {s["name"]: s["values"] for s in sheets}


def _value(v: Any) -> Any:
    if v == "" or v is None:
        return None
    if isinstance(v, str) and ISO.match(v):  # a date as the payload and the actions carry it
        v = dt.datetime.fromisoformat(v.removesuffix("Z"))
    if isinstance(v, dt.datetime):
        return v.date() if v.time() == dt.time(0) else v.replace(microsecond=0)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, float):
        return round(v, 9)
    return v


def _normal(grid: list[list[Any]]) -> list[list[Any]]:
    rows = [[_value(v) for v in row] for row in grid]
    rows = [r[: max((i + 1 for i, v in enumerate(r) if v is not None), default=0)] for r in rows]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _file_sheets(path: Path) -> dict[str, list[list[Any]]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return {n: wb.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in wb.sheet_names}


def _both_engines(book: Path, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    payload = _payload(book)
    live_book = xw.Book(json=copy.deepcopy(payload))  # the engine changes the payload it is given
    live_book.set_mock_caller()  # so xl.refresh() finds it through xw.Book.caller(), as a button would
    with pytest.MonkeyPatch.context() as excel:
        _excel_formulas(excel, book)
        result = xl.refresh(today=TODAY, now=NOW)
    actions = live_book.json()["actions"]
    assert result is not None, [a["args"] for a in actions if a["func"] == "alert"]
    by_file = tmp_path / "by-file.xlsx"
    shutil.copyfile(book, by_file)
    refresh(by_file, today=TODAY, now=NOW)
    return _replay(payload, actions), _file_sheets(by_file), actions


def _assert_same(live: dict[str, Any], files: dict[str, Any]) -> None:
    assert list(live) == list(files), "the engines left different sheets, or in another order"
    for name in files:
        assert _normal(live[name]) == _normal(files[name]), f"sheet {name!r} differs between the engines"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_live_refresh_equals_the_file_refresh_on_the_sample(tmp_path: Path, lang: str) -> None:
    book = create_workbook(tmp_path / "crm.xlsx", sample=60, seed=21, today=TODAY, lang=lang)  # type: ignore[arg-type]
    live, files, actions = _both_engines(Path(book), tmp_path)
    _assert_same(live, files)
    alerts = [a for a in actions if a["func"] == "alert"]
    assert len(alerts) == 1 and ("新编号" in alerts[0]["args"][0] or "IDs assigned" in alerts[0]["args"][0])


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_live_refresh_equals_the_file_refresh_on_hostile_cells(tmp_path: Path) -> None:
    """Formulas, error values typed as text, 32,767-character cells, formula-looking text, merged cells."""
    import openpyxl

    book = Path(create_workbook(tmp_path / "crm.xlsx", sample=25, seed=4, today=TODAY))
    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    ws.cell(2, 18).value = "长" * 32767
    ws.cell(3, 14).value = "邮" * 32767  # not an e-mail: the Issues sheet quotes it, cut
    ws.cell(3, 18).value = "#N/A"
    ws.cell(4, 18).value = "=1+1 不是公式"
    ws.cell(5, 13).value = "+86 138 0013 8000 / 021-6123 4567 转 8"
    ws.cell(6, 11).value = "2024年5月1日"
    ws.cell(7, 11).value = "5月1日"
    ws.merge_cells(start_row=8, start_column=18, end_row=9, end_column=18)
    wb.save(book)
    live, files, _ = _both_engines(book, tmp_path)
    _assert_same(live, files)


def test_live_refresh_equals_the_file_refresh_after_edits(tmp_path: Path) -> None:
    """A book refreshed before, then edited (fixed problems, new rows, removed IDs): the messy case."""
    import openpyxl

    book = Path(create_workbook(tmp_path / "crm.xlsx", sample=40, seed=8, today=TODAY))
    refresh(book, today=TODAY, now=NOW - dt.timedelta(days=1))
    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    ws.cell(3, 13).value = "不是电话"
    ws.cell(4, 2).value = None
    ws.cell(5, 1).value = None
    ws.append(
        ["", "新加的客户有限公司", None, None, None, None, None, None, None, None, None, None, "13900001111"]
    )
    wb.save(book)
    live, files, _ = _both_engines(book, tmp_path)
    _assert_same(live, files)


def test_live_writes_grow_with_blocks_not_cells(tmp_path: Path) -> None:
    """One call per contiguous run of changed cells (and per owned column and sheet), never per cell."""
    from crmbook.reader import read_book

    figures = []
    for size in (30, 300):
        book = Path(create_workbook(tmp_path / f"crm{size}.xlsx", sample=size, seed=2, today=TODAY))
        crm, _ = read_book(book)
        own = {
            (t.sheet_name, c)
            for t in crm.tables.values()
            for k, c in t.columns.items()
            if t.spec.column(k).owned and k != t.spec.id_column
        }
        live_book = xw.Book(json=_payload(book))
        result = xl.refresh(live_book, today=TODAY, now=NOW)
        assert result is not None
        actions = live_book.json()["actions"]
        writes = [a for a in actions if a["func"] == "setValues"]
        cells = sum(len(a["values"]) * len(a["values"][0]) for a in writes)
        columns: dict[tuple[str, int], list[int]] = {}
        for w in result.plan.changeset.cell_writes:
            columns.setdefault((w.sheet, w.col), []).append(w.row)
        blocks = sum(1 if key in own else len(list(xl._runs(sorted(rows)))) for key, rows in columns.items())
        assert len(writes) == blocks + len(result.plan.changeset.owned_sheets)
        figures.append((size, len(actions), len(writes), cells, len(result.plan.changeset.cell_writes)))
    print(
        "\nlive refresh (customers, actions, value writes, cells written, record-sheet cells changed):",
        figures,
    )
    assert all(cells > 5 * writes for _, _, writes, cells, _ in figures)  # blocks, not single cells


def test_a_failure_is_a_message_box_and_the_book_is_left_alone(tmp_path: Path) -> None:
    payload = {
        "client": "Microsoft Excel",
        "version": xw.__version__,
        "book": {"name": "notes.xlsm", "active_sheet_index": 0, "selection": "A1"},
        "names": [],
        "sheets": [{"name": "Sheet1", "values": [["just", "notes"]], "pictures": [], "tables": []}],
    }
    live_book = xw.Book(json=payload)
    assert xl.refresh(live_book, today=TODAY, now=NOW) is None
    actions = live_book.json()["actions"]
    assert [a["func"] for a in actions] == ["alert"]
    assert "Traceback" not in actions[0]["args"][0] and "crmbook" in actions[0]["args"][0]


def test_the_button_keeps_what_the_change_log_lets_go_beside_the_saved_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    import openpyxl

    import crmbook.changelog as changelog

    book = Path(create_workbook(tmp_path / "crm.xlsx", sample=40, seed=8, today=TODAY))
    refresh(book, today=TODAY, now=NOW - dt.timedelta(days=1))
    wb = openpyxl.load_workbook(book)
    notes = [c.value for c in wb["客户"][1]].index("备注") + 1
    for row in range(2, 12):
        wb["客户"].cell(row, notes).value = f"第{row}行改了"
    wb.save(book)
    refresh(book, today=TODAY, now=NOW - dt.timedelta(hours=1))  # 10 entries on the Change log
    wb = openpyxl.load_workbook(book)
    for row in range(12, 15):
        wb["客户"].cell(row, notes).value = f"第{row}行改了"
    wb.save(book)
    monkeypatch.setattr(changelog, "MAX_LOG_ROWS", 8)  # 10 + 3 entries: the oldest go
    payload = _payload(book)
    payload["book"]["name"] = str(book)  # a saved workbook: Excel gives its full name
    live_book = xw.Book(json=payload)
    live_book.set_mock_caller()
    assert xl.refresh(today=TODAY, now=NOW) is not None
    archives = list((tmp_path / ".crmbook-backups").glob("crm.changelog.*.csv"))
    assert len(archives) == 1
    rows = list(csv.reader(archives[0].read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:4] == ["时间", "工作表", "记录编号", "字段"]
    assert [r[5] for r in rows[1:]][:5] == [f"第{row}行改了" for row in range(2, 7)]  # the oldest first


def _excel_formulas(monkeypatch: pytest.MonkeyPatch, book: Path) -> None:
    """The remote engine answers ``Range.formula`` as desktop Excel does, from ``book``: a formula
    cell's formula ("=..."), any other cell's constant (the remote engine itself cannot tell)."""
    import openpyxl
    from xlwings.pro import _xlremote

    wb = openpyxl.load_workbook(book)  # reads a shared formula's cells each as its own formula
    grids = {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}

    def formula(self: Any) -> Any:
        grid = grids.get(self.sheet.name, [])
        (r1, c1), (r2, c2) = self.arg1, self.arg2 or self.arg1
        cells = [
            [
                grid[r - 1][c - 1] if r - 1 < len(grid) and c - 1 < len(grid[r - 1]) else None
                for c in range(c1, c2 + 1)
            ]
            for r in range(r1, r2 + 1)
        ]
        return tuple(
            tuple("" if v is None else v if isinstance(v, str) else str(v) for v in row) for row in cells
        )

    monkeypatch.setattr(_xlremote.Range, "formula", property(formula), raising=False)


def test_the_button_takes_a_recalculated_formula_column_for_no_edit_as_the_file_refresh_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_formula_edits import SHARE, _with_formula_columns, recalculated

    book = Path(create_workbook(tmp_path / "crm.xlsx", sample=30, seed=7, today=TODAY))
    _with_formula_columns(book, 30)
    refresh(book, today=TODAY, now=NOW)  # the file engine remembered the formulas
    recalculated(book, "客户", lambda n: 1000 + n)
    _excel_formulas(monkeypatch, book)
    live_book = xw.Book(json=_payload(book))
    result = xl.refresh(live_book, today=TODAY + dt.timedelta(days=1), now=NOW + dt.timedelta(days=1))
    assert result is not None and result.plan is not None
    assert result.plan.changes == []
    ws = openpyxl_sheet(book)
    headers = [c.value for c in ws[1]]
    updated = headers.index("最后更新日期") + 1
    assert not [w for w in result.plan.changeset.cell_writes if w.sheet == "客户" and w.col == updated]
    # a formula typed anew is an edit there too, shown as its formula
    col = headers.index(SHARE) + 1
    formula = ws.cell(5, col).value
    _excel_formulas(
        monkeypatch, _with_cell(book, tmp_path / "typed.xlsx", 5, col, formula.replace("0.1", "0.2"))
    )
    result = xl.refresh(xw.Book(json=_payload(book)), today=TODAY + dt.timedelta(days=1), now=NOW)
    assert result is not None
    assert [(c.field, c.old, c.new) for c in result.plan.changes] == [
        (SHARE, formula, formula.replace("0.1", "0.2"))
    ]


def openpyxl_sheet(book: Path) -> Any:
    import openpyxl

    return openpyxl.load_workbook(book)["客户"]


def _with_cell(book: Path, to: Path, row: int, col: int, value: Any) -> Path:
    import openpyxl

    wb = openpyxl.load_workbook(book)
    wb["客户"].cell(row, col).value = value
    wb.save(to)
    return to


def test_the_button_still_refreshes_when_excel_fails_to_give_the_formulas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excel failing the one call that gives a sheet's formulas (a COM error on a huge range) loses only
    the finer comparison: the refresh goes on, comparing values as it did before."""

    from xlwings.pro import _xlremote

    def failing(self: Any) -> Any:
        raise RuntimeError("(-2147352567, 'Exception occurred.', (0, 'Microsoft Excel', None))")

    monkeypatch.setattr(_xlremote.Range, "formula", property(failing), raising=False)
    book = Path(create_workbook(tmp_path / "crm.xlsx", sample=10, seed=3, today=TODAY))
    result = xl.refresh(xw.Book(json=_payload(book)), today=TODAY, now=NOW)
    assert result is not None and result.plan is not None
    assert {"看板", "问题清单"} <= {s.name for s in result.plan.changeset.owned_sheets}
