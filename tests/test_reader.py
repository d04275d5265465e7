"""Reading: columns found by header text wherever they are, user columns kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from crmbook.errors import WorkbookFileError
from crmbook.reader import read_book
from crmbook.schema import load_schema


def _write(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def _minimal_sheets(customers: list[list[object]]) -> dict[str, list[list[object]]]:
    schema = load_schema()
    sheets = {"客户": customers}
    for key in ("contacts", "followups", "opportunities"):
        spec = schema.sheet(key)
        sheets[spec.zh] = [[c.zh for c in spec.columns]]
    return sheets


def test_columns_found_by_header_in_any_order_and_language(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "b.xlsx",
        _minimal_sheets(
            [
                ["客户台账 2026", None, None, None],  # a title row above the header
                [None, None, None, None],
                ["Main phone", "我的备注列", "客户名称", "客户编号", "公司网址"],
                ["13800138000", "keep me", "上海华信科技有限公司", "C2026000001", "www.a.cn"],
                [None, None, None, None, None],  # blank rows are not records
                [13900139000, None, "北京某某", None, None],
            ]
        ),
    )
    book, issues = read_book(path)
    t = book.tables["customers"]
    assert t.header_row == 3
    assert t.columns["phone"] == 1 and t.columns["name"] == 3 and t.columns["customer_id"] == 4
    assert t.extra_columns == {"我的备注列": 2, "公司网址": 5}
    assert list(t.data.index) == [4, 6]
    assert t.data.loc[4, "我的备注列"] == "keep me"
    assert t.data.loc[6, "phone"] == 13900139000
    assert t.data.loc[6, "customer_id"] is None
    assert not [i for i in issues if i.level == "error"]


def test_missing_required_column_names_sheet_and_accepted_headers(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.xlsx", _minimal_sheets([["客户编号", "主联系电话"], ["C1", "13800138000"]]))
    _, issues = read_book(path)
    missing = [i for i in issues if i.code == "missing-column"]
    assert [i.column for i in missing] == ["name"]
    msg = missing[0].message("zh")
    assert "客户" in msg and "客户名称" in msg and "公司名称" in msg
    assert "Customer name" in missing[0].message("en")


def test_two_columns_for_one_field_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "b.xlsx",
        _minimal_sheets([["客户编号", "客户名称", "主联系电话", "Main phone"], ["C1", "甲", "1", "2"]]),
    )
    _, issues = read_book(path)
    dup = [i for i in issues if i.code == "duplicate-column"]
    assert len(dup) == 1 and dup[0].params["first"] == "C" and dup[0].params["second"] == "D"


def test_exact_label_beats_alias(tmp_path: Path) -> None:
    # "电话" is an alias of the main phone; a column headed exactly 主联系电话 wins the field.
    path = _write(
        tmp_path / "b.xlsx",
        _minimal_sheets([["客户编号", "客户名称", "电话", "主联系电话"], ["C1", "甲", "x", "13800138000"]]),
    )
    book, issues = read_book(path)
    t = book.tables["customers"]
    assert t.columns["phone"] == 4
    assert t.extra_columns["电话"] == 3
    assert not [i for i in issues if i.code == "duplicate-column"]


def test_dates_numbers_as_text_and_error_values_read(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    _write(path, _minimal_sheets([["客户编号", "客户名称", "主联系电话", "建档日期", "首次接触日期"]]))
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    ws.append(["C1", "甲", "13800138000", dt.date(2026, 1, 5), "2026年1月6日"])
    ws.append(["C2", "乙", "13800138001", "=1/0", "2026/01/07"])
    wb.save(path)
    book, _ = read_book(path)
    data = book.tables["customers"].data
    assert data.loc[2, "created"] in (dt.date(2026, 1, 5), dt.datetime(2026, 1, 5))
    assert data.loc[2, "first_contact"] == "2026年1月6日"


def test_english_workbook_detected(tmp_path: Path) -> None:
    schema = load_schema()
    sheets = {s.en: [[c.en for c in s.columns]] for s in schema.sheets}
    sheets["Customers"].append(["C1", "Acme Ltd"])
    book, issues = read_book(_write(tmp_path / "en.xlsx", sheets))
    assert book.lang == "en"
    assert book.tables["customers"].data.loc[2, "name"] == "Acme Ltd"
    assert not [i for i in issues if i.level == "error"]


def test_missing_sheet_reported(tmp_path: Path) -> None:
    sheets = _minimal_sheets([["客户编号", "客户名称", "主联系电话"]])
    del sheets["跟进记录"]
    _, issues = read_book(_write(tmp_path / "b.xlsx", sheets))
    assert [i.params["expected"] for i in issues if i.code == "missing-sheet"] == ["跟进记录"]


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_not_a_workbook(tmp_path: Path) -> None:
    bad = tmp_path / "notes.xlsx"
    bad.write_text("hello", encoding="utf-8")
    with pytest.raises(WorkbookFileError, match=r"notes\.xlsx"):
        read_book(bad)


def test_sheets_read_side_by_side_give_the_same_book(sample_book: Path) -> None:
    from crmbook.reader import CalamineSource, open_calamine, read_book_from, sheets_of_a_book

    def read(ahead: bool):  # type: ignore[no-untyped-def]
        wb = open_calamine(sample_book)
        source = CalamineSource(wb, str(sample_book))
        if ahead:
            source.read_ahead(sheets_of_a_book(source.sheet_names, load_schema()))
            assert len(source._ahead) >= 4  # the record sheets at least
        try:
            return read_book_from(source, str(sample_book), today=dt.date(2026, 11, 22))
        finally:
            wb.close()

    (one_by_one, issues), (side_by_side, issues_ahead) = read(False), read(True)
    assert issues == issues_ahead
    assert one_by_one.settings == side_by_side.settings and one_by_one.lists == side_by_side.lists
    for key, table in one_by_one.tables.items():
        assert table.data.equals(side_by_side.tables[key].data)


@pytest.mark.parametrize("ragged", [False, True])
def test_table_built_from_any_grid_shape(ragged: bool) -> None:
    """Rectangular grids (calamine's, xlwings') and ragged ones give the same records: blanks ("" or
    None) become None, rows with nothing in the wanted columns go, a column past a row's end is empty."""
    from crmbook.reader import HeaderMatch, build_table

    spec = load_schema().sheet("customers")
    grid = [
        ["客户编号", "客户名称", "备注", ""],
        ["C1", "甲公司", "", ""],
        ["", None, "", "x"],  # only the unnamed column D: dropped
        [None, "  ", "note", ""],
        ["", "", "", ""],
    ]
    if ragged:
        grid = [row[: 2 if i == 1 else 4] for i, row in enumerate(grid)] + [["C9"]]
    match = HeaderMatch(row=1, columns={"customer_id": 1, "name": 2}, extra={"备注": 3, "past": 9})
    table = build_table(spec, "客户", grid, match)
    records = table.data.to_dict("index")
    expected = {
        2: {"customer_id": "C1", "name": "甲公司", "备注": None, "past": None},
        4: {"customer_id": None, "name": "  ", "备注": "note", "past": None},
    }
    if ragged:
        expected[6] = {"customer_id": "C9", "name": None, "备注": None, "past": None}
    assert records == expected
    assert list(table.data.index) == list(expected) and table.data.index.name == "row"
    assert all(dtype.kind == "O" for dtype in table.data.dtypes)
