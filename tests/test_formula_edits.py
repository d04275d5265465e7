"""A user's formula column is not edits: a refresh logs a formula cell when its formula changes, not
when its result does (Excel or LibreOffice recalculated, ``=TODAY()-H5`` moved a day, a formula reads
a cell the refresh wrote), and gives today's updated date only to customers people changed."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine as pc

from crmbook.ooxml.formulas import remembered_formula, sheet_formulas, shown_formula
from crmbook.ooxml.package import open_package
from crmbook.refresh import refresh
from crmbook.template import create_workbook
from tests.conftest import TODAY, soffice_convert
from tests.producers import FORMULA_HEADER, FORMULA_SHEET, excel_style

NOW = dt.datetime(2026, 11, 22, 9, 30)
LATER = dt.datetime(2026, 11, 23, 9, 30)
TOMORROW = dt.date(2026, 11, 23)
DAYS = "距首次接触天数"  # =TODAY()-H2: days since first contact
SHARE = "提成"  # =X2*0.1 on the won amount, which the refresh itself writes


def _headers(book: Path, sheet: str) -> list[Any]:
    return [c.value for c in openpyxl.load_workbook(book, read_only=True)[sheet][1]]


def _letter(book: Path, sheet: str, header: str) -> str:
    return openpyxl.utils.get_column_letter(_headers(book, sheet).index(header) + 1)


def _with_formula_columns(book: Path, rows: int) -> None:
    """Two formula columns on 客户, as staff add them (openpyxl writes each cell's own formula)."""
    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    first = openpyxl.utils.get_column_letter(headers.index("首次接触日期") + 1)
    won = openpyxl.utils.get_column_letter(headers.index("成交金额") + 1)
    col = ws.max_column + 1
    ws.cell(1, col, DAYS)
    ws.cell(1, col + 1, SHARE)
    for r in range(2, rows + 2):
        ws.cell(r, col, f"=TODAY()-{first}{r}")
        ws.cell(r, col + 1, f"={won}{r}*0.1")
    wb.save(book)


def _sheet_part(book: Path, sheet: str) -> str:
    with open_package(book) as pkg:
        return pkg.sheet_parts()[sheet]


def _rewrite_part(book: Path, part: str, change: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(book) as z:
        items = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            z.writestr(info, change(data) if info.filename == part else data)


_FORMULA_CELL = re.compile(rb"<c\b([^>]*?)>(<f\b[^>]*?(?:/>|>.*?</f>))(?:<v>[^<]*</v>|<v\s*/>)?</c>", re.S)


def recalculated(book: Path, sheet: str, result: Callable[[int], float]) -> None:
    """Every formula cell of ``sheet`` shows another result, as after a recalculation in Excel (the
    formulas themselves stay): ``result(n)`` for the n-th one."""
    count = iter(range(1_000_000))

    def change(data: bytes) -> bytes:
        def cell(m: re.Match[bytes]) -> bytes:
            attrs = re.sub(rb'\s+t="[^"]*"', b"", m.group(1))  # a number now
            return b"<c" + attrs + b">" + m.group(2) + b"<v>%r</v></c>" % result(next(count))

        return _FORMULA_CELL.sub(cell, data)

    _rewrite_part(book, _sheet_part(book, sheet), change)
    assert next(count) > 0, "the sheet holds formulas"


def _retyped(book: Path, sheet: str, ref: str, old: bytes, new: bytes) -> None:
    """The formula of cell ``ref`` typed anew: its text ``old`` becomes ``new``."""

    def change(data: bytes) -> bytes:
        m = re.search(rb'<c r="' + ref.encode() + rb'"[^>]*>.*?</c>', data, re.S)
        assert m is not None and old in m.group(0), ref
        return data[: m.start()] + m.group(0).replace(old, new) + data[m.end() :]

    _rewrite_part(book, _sheet_part(book, sheet), change)


def _log(book: Path) -> list[list[Any]]:
    rows = pc.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("变更记录").to_python()
    return [r for r in rows[1:] if any(v not in ("", None) for v in r)]


def _updated(book: Path) -> dict[str, Any]:
    wb = pc.CalamineWorkbook.from_path(str(book))
    rows = wb.get_sheet_by_name("客户").to_python()
    at = rows[0].index("最后更新日期")
    return {r[0]: r[at] for r in rows[1:] if r[0]}


@pytest.fixture
def formula_book(tmp_path: Path) -> Path:
    book = create_workbook(tmp_path / "crm.xlsx", sample=30, seed=7, today=TODAY)
    _with_formula_columns(book, 30)
    refresh(book, today=TODAY, now=NOW)  # the formulas remembered
    return book


def test_a_recalculated_formula_column_is_not_logged_nor_dates_its_customers(formula_book: Path) -> None:
    log, updated = _log(formula_book), _updated(formula_book)
    recalculated(formula_book, "客户", lambda n: 1000 + n)  # Excel recalculated: every result moved
    refresh(formula_book, today=TOMORROW, now=LATER)
    assert _log(formula_book) == log  # nothing people did
    assert _updated(formula_book) == updated
    recalculated(formula_book, "客户", lambda n: 0.5 * n)
    refresh(formula_book, today=TOMORROW, now=LATER)
    assert _log(formula_book) == log
    assert _updated(formula_book) == updated


def test_a_formula_typed_anew_is_logged_and_dates_its_customer(formula_book: Path) -> None:
    log, updated = _log(formula_book), _updated(formula_book)
    share = _letter(formula_book, "客户", SHARE)
    won = _letter(formula_book, "客户", "成交金额")
    _retyped(formula_book, "客户", f"{share}5", f"{won}5*0.1".encode(), f"{won}5*0.2".encode())
    recalculated(formula_book, "客户", lambda n: n)
    refresh(formula_book, today=TOMORROW, now=LATER)
    new = _log(formula_book)[len(log) :]
    rows = pc.CalamineWorkbook.from_path(str(formula_book)).get_sheet_by_name("客户").to_python()
    record = rows[4][0]
    assert [(r[2], r[3], r[4], r[5]) for r in new] == [(record, SHARE, f"={won}5*0.1", f"={won}5*0.2")]
    after = _updated(formula_book)
    assert after[record] == TOMORROW
    assert {k: v for k, v in after.items() if k != record} == {
        k: v for k, v in updated.items() if k != record
    }


def test_a_value_typed_over_a_formula_and_a_formula_over_a_value_are_logged(formula_book: Path) -> None:
    log = _log(formula_book)
    days = _letter(formula_book, "客户", DAYS)
    first = _letter(formula_book, "客户", "首次接触日期")

    def typed(data: bytes) -> bytes:  # the formula of row 3 replaced by 42
        m = re.search(rb'<c r="' + f"{days}3".encode() + rb'"[^>]*>.*?</c>', data, re.S)
        assert m is not None
        return data[: m.start()] + f'<c r="{days}3"><v>42</v></c>'.encode() + data[m.end() :]

    _rewrite_part(formula_book, _sheet_part(formula_book, "客户"), typed)
    refresh(formula_book, today=TOMORROW, now=LATER)
    rows = pc.CalamineWorkbook.from_path(str(formula_book)).get_sheet_by_name("客户").to_python()
    new = _log(formula_book)[len(log) :]
    assert [(r[2], r[3], r[4], r[5]) for r in new] == [(rows[2][0], DAYS, f"=TODAY()-{first}3", "42")]
    log = _log(formula_book)

    def formula_again(data: bytes) -> bytes:
        return data.replace(
            f'<c r="{days}3"><v>42</v></c>'.encode(), f'<c r="{days}3"><f>40+2</f><v>42</v></c>'.encode()
        )

    _rewrite_part(formula_book, _sheet_part(formula_book, "客户"), formula_again)
    refresh(formula_book, today=TOMORROW, now=LATER)
    new = _log(formula_book)[len(log) :]
    assert [(r[2], r[3], r[4], r[5]) for r in new] == [(rows[2][0], DAYS, "42", "=40+2")]


def test_shared_formulas_as_excel_writes_them_are_remembered_cell_by_cell(tmp_path: Path) -> None:
    """Excel's shared formulas (on the opportunities sheet: its snapshot is taken in the second process)."""
    canonical = create_workbook(tmp_path / "canonical.xlsx", sample=20, seed=3, today=TODAY)
    book = excel_style(canonical, tmp_path / "excel.xlsx")
    with open_package(book) as pkg:
        data = pkg.read(pkg.sheet_parts()[FORMULA_SHEET])
    assert b't="shared"' in data and b'<f t="shared" si="0"/>' in data.replace(b" />", b"/>")
    refresh(book, today=TODAY, now=NOW)
    log = _log(book)
    recalculated(book, FORMULA_SHEET, lambda n: 3.5 * n)
    refresh(book, today=TOMORROW, now=LATER)
    assert _log(book) == log
    # a cell of the shared formula typed anew (it becomes a formula of its own)
    amount = _letter(book, FORMULA_SHEET, "预计金额")
    col = _letter(book, FORMULA_SHEET, FORMULA_HEADER)

    def own(data: bytes) -> bytes:
        m = re.search(rb'<c r="' + f"{col}4".encode() + rb'"[^>]*>.*?</c>', data, re.S)
        assert m is not None and b'si="0"' in m.group(0)
        return (
            data[: m.start()] + f'<c r="{col}4"><f>{amount}4*1.06</f><v>1</v></c>'.encode() + data[m.end() :]
        )

    _rewrite_part(book, _sheet_part(book, FORMULA_SHEET), own)
    refresh(book, today=TOMORROW, now=LATER)
    new = _log(book)[len(log) :]
    assert [(r[1], r[3], r[4], r[5]) for r in new] == [
        (FORMULA_SHEET, FORMULA_HEADER, f"={amount}4*1.13", f"={amount}4*1.06")
    ]


def test_a_snapshot_of_results_left_by_an_earlier_version_logs_no_flood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before formulas were remembered as formulas, snapshots held their results: the first refresh
    after the upgrade takes a formula cell whose old snapshot holds a value for no edit."""
    import crmbook.edit
    import crmbook.snapshot

    book = create_workbook(tmp_path / "crm.xlsx", sample=30, seed=7, today=TODAY)
    _with_formula_columns(book, 30)
    recalculated(book, "客户", lambda n: n)
    with monkeypatch.context() as earlier:  # what the version before wrote: results, format 2
        earlier.setattr(crmbook.edit, "learn_formulas", lambda book, inflated: None, raising=False)
        earlier.setattr(crmbook.snapshot, "FORMAT", 2)
        refresh(book, today=TODAY, now=NOW)
    log, updated = _log(book), _updated(book)
    recalculated(book, "客户", lambda n: 7 * n + 1)
    refresh(book, today=TOMORROW, now=LATER)
    assert _log(book) == log
    assert _updated(book) == updated
    recalculated(book, "客户", lambda n: 9 * n + 1)  # and from then on, formulas are remembered
    refresh(book, today=TOMORROW, now=LATER)
    assert _log(book) == log
    assert _updated(book) == updated


RECALCULATE_ON_LOAD = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


def _saved_by_libreoffice(book: Path, outdir: Path) -> Path:
    """``book`` opened in LibreOffice set to recalculate every formula on load (as people set it, and
    as it asks them), and saved as xlsx."""
    profile = outdir / "lo-profile" / "user"
    profile.mkdir(parents=True)
    (profile / "registrymodifications.xcu").write_text(RECALCULATE_ON_LOAD, encoding="utf-8")
    return soffice_convert(book, "xlsx:Calc MS Excel 2007 XML", outdir)


@pytest.mark.libreoffice
def test_a_book_recalculated_by_libreoffice_after_a_refresh_logs_nothing(tmp_path: Path) -> None:
    """LibreOffice saves the formulas with results it calculated; a formula reading the won amount the
    refresh wrote shows another result after its next save."""
    book = create_workbook(tmp_path / "crm.xlsx", sample=30, seed=7, today=TODAY)
    _with_formula_columns(book, 30)
    wb = openpyxl.load_workbook(book)  # the won amounts left empty: the refresh works them out
    ws = wb["客户"]
    won = [c.value for c in ws[1]].index("成交金额") + 1
    for r in range(2, ws.max_row + 1):
        ws.cell(r, won).value = None
    wb.save(book)
    book = _saved_by_libreoffice(book, tmp_path / "saved")
    assert sheet_formulas(zipfile.ZipFile(book).read(_sheet_part(book, "客户")))
    refresh(book, today=TODAY, now=NOW)
    log, updated = _log(book), _updated(book)
    before = _column(book, SHARE)
    book = _saved_by_libreoffice(book, tmp_path / "again")
    assert _column(book, SHARE) != before, "LibreOffice recalculated the formulas reading the won amount"
    refresh(book, today=TOMORROW, now=LATER)
    assert [r for r in _log(book)[len(log) :] if r[3] in (SHARE, DAYS)] == []
    assert _updated(book) == updated


def _column(book: Path, header: str) -> list[Any]:
    rows = pc.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("客户").to_python()
    at = rows[0].index(header)
    return [r[at] for r in rows[1:]]


def test_a_collect_after_a_recalculation_logs_only_what_the_rep_did(tmp_path: Path) -> None:
    from crmbook.team_collect import collect
    from crmbook.team_split import split
    from tests.test_team import edit_in_excel

    book = create_workbook(tmp_path / "crm.xlsx", sample=40, seed=4, today=TODAY)
    _with_formula_columns(book, 40)
    refresh(book, today=TODAY, now=NOW)
    rows = pc.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("客户").to_python()
    owner = rows[0].index("负责人")
    rep, record = rows[1][owner], rows[1][0]
    split(book, tmp_path / "team", today=TODAY, now=NOW)
    log, updated = _log(book), _updated(book)
    recalculated(book, "客户", lambda n: 100 + n)  # the lead's Excel recalculated since
    edit_in_excel(tmp_path / "team" / f"{rep}.xlsx", [("客户", record, "备注", "改过了")])
    collect([tmp_path / "team" / f"{rep}.xlsx"], book, today=TOMORROW, now=LATER)
    new = _log(book)[len(log) :]
    assert [(r[2], r[3]) for r in new] == [(record, "备注")]
    after = _updated(book)
    assert after[record] == TOMORROW
    assert {k: v for k, v in after.items() if k != record} == {
        k: v for k, v in updated.items() if k != record
    }


def test_a_formula_is_remembered_alike_on_any_row_it_moves_to() -> None:
    """Rows inserted above a record or a sort move its formula (Excel rewrites =X5*0.1 on row 5 into
    =X6*0.1 on row 6): it is remembered the same; shown on the record's row."""
    at_5 = remembered_formula("X5*0.1+$A$1+SUM(H$2:H5)", "Y5", (5, 25))
    at_6 = remembered_formula("X6*0.1+$A$1+SUM(H$2:H6)", "Y6", (6, 25))
    assert at_5 == at_6
    assert shown_formula(at_5, 9) == "=X9*0.1+$A$1+SUM(H$2:H9)"
    assert remembered_formula("X5*0.2", "Y5", (5, 25)) != at_5
    shared_child = remembered_formula("X5*0.1+$A$1+SUM(H$2:H5)", "Y5", (6, 25))  # a shared formula's cell
    assert shared_child == at_6
    far = remembered_formula("A1*2", "B600000", (600_000, 2))  # reaches past the top when moved
    assert shown_formula(far, 600_001) == "=A1*2"
