"""The lead's formula columns in the rep files: split writes them as formulas on the rep's rows, and
collect tells a result Excel recalculated (no edit) from a formula or a value the rep typed (an edit).

The canonical book has a formula column on 客户 (``=TODAY()-K2``, each cell its own formula, as
openpyxl writes them) and one on 销售机会 (``=F2*1.13``, one shared formula, as Excel writes them)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine as pc
from openpyxl.worksheet.table import TableColumn

from crmbook.changeset import CellWrite, Changeset, Formula
from crmbook.ooxml import apply_changeset
from crmbook.team_collect import collect, read_rep_file, resolve, undo_collect
from crmbook.team_split import split
from crmbook.template import create_workbook
from tests.conftest import soffice_convert
from tests.producers import FORMULA_HEADER, excel_style
from tests.test_formula_edits import recalculated
from tests.test_team import assert_valid_workbook, edit_in_excel, grid, row_of

TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 17, 30)
DAYS = "距首次接触天数"  # =TODAY()-K2 on 客户
TAXED = FORMULA_HEADER  # 含税金额: =F2*1.13 on 销售机会


@pytest.fixture(scope="module")
def formula_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formula-master")
    plain = create_workbook(folder / "plain.xlsx", sample=120, seed=7, today=TODAY)
    wb = openpyxl.load_workbook(plain)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    first = openpyxl.utils.get_column_letter(headers.index("首次接触日期") + 1)
    col = ws.max_column + 1
    ws.cell(1, col, DAYS)
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, 1).value:
            ws.cell(r, col, f"=TODAY()-{first}{r}")
    wb.save(plain)
    return excel_style(plain, folder / "crm.xlsx")


@pytest.fixture
def team(formula_master: Path, tmp_path: Path) -> tuple[Path, Path]:
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(formula_master, book)
    split(book, tmp_path / "team", today=TODAY, now=NOW)
    return book, tmp_path / "team"


def _letter(path: Path, sheet: str, header: str) -> str:
    return openpyxl.utils.get_column_letter(grid(path, sheet)[0].index(header) + 1)


def _formulas(path: Path, sheet: str, header: str) -> dict[str, Any]:
    """Record ID -> what the cell of ``header`` holds as written (a formula's text, "=" first)."""
    ws = openpyxl.load_workbook(path)[sheet]
    headers = [c.value for c in ws[1]]
    at = headers.index(header)
    return {str(r[0].value): r[at].value for r in ws.iter_rows(min_row=2) if r[0].value}


def _rows(path: Path, sheet: str) -> dict[str, int]:
    return {str(r[0]): n for n, r in enumerate(grid(path, sheet), start=1) if n > 1 and r and r[0]}


def _log(path: Path) -> list[list[Any]]:
    rows = pc.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("变更记录").to_python()
    return [r for r in rows[1:] if any(v not in ("", None) for v in r)]


def _expected(path: Path, sheet: str, template: str, letter: str) -> dict[str, str]:
    """Each record's formula ``template`` (``{}``: a column's reference) on the record's own row."""
    return {rid: "=" + template.format(f"{letter}{row}") for rid, row in _rows(path, sheet).items()}


def test_split_writes_the_leads_formulas_on_the_reps_rows(team: tuple[Path, Path], tmp_path: Path) -> None:
    book, folder = team
    zhang = folder / "张伟.xlsx"
    first, amount = _letter(zhang, "客户", "首次接触日期"), _letter(zhang, "销售机会", "预计金额")
    days = _formulas(zhang, "客户", DAYS)
    taxed = _formulas(zhang, "销售机会", TAXED)
    assert days and days == _expected(zhang, "客户", "TODAY()-{}", first)
    assert taxed and taxed == _expected(zhang, "销售机会", "{}*1.13", amount)
    # the records sit on other rows than in the canonical workbook: the formulas moved with them
    assert _rows(zhang, "客户") != {rid: n for rid, n in _rows(book, "客户").items() if rid in days}
    # no formula below the records (the canonical workbook's rows of other reps' records)
    ws = openpyxl.load_workbook(zhang)["销售机会"]
    below = [c.value for row in ws.iter_rows(min_row=len(taxed) + 2) for c in row]
    assert not any(isinstance(v, str) and v.startswith("=") for v in below)
    assert_valid_workbook(zhang)
    # Recalculated in LibreOffice: a result follows the amount the rep typed.
    deal = next(iter(taxed))
    edit_in_excel(zhang, [("销售机会", deal, "预计金额", 5000)])
    out = soffice_convert(zhang, "xlsx", tmp_path / "lo")
    row = _rows(out, "销售机会")[deal]
    assert grid(out, "销售机会")[row - 1][grid(out, "销售机会")[0].index(TAXED)] == pytest.approx(5650)


def test_a_recalculated_result_is_no_edit_and_the_number_it_reads_comes_in(
    team: tuple[Path, Path], tmp_path: Path
) -> None:
    """The rep changes an amount; LibreOffice recalculates the file (every 含税金额 and, a day later,
    every 距首次接触天数 shows another result): collect writes the amount only, logs it only."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    deal = next(iter(_formulas(zhang, "销售机会", TAXED)))
    before_days, before_taxed = _formulas(book, "客户", DAYS), _formulas(book, "销售机会", TAXED)
    edit_in_excel(zhang, [("销售机会", deal, "预计金额", 5000)])
    recalc = soffice_convert(zhang, "xlsx", tmp_path / "lo")
    shutil.copyfile(recalc, zhang)
    recalculated(zhang, "客户", lambda n: 1000.0 + n)  # and Excel's TODAY() a day on, say
    assert read_rep_file(zhang, today=TODAY).memo.formulas.keys() == {"customers", "opportunities"}
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None
    (outcome,) = result.plan.outcomes
    assert (outcome.applied, outcome.conflicts) == (1, 0)
    after = grid(book, "销售机会")
    assert after[row_of(book, "销售机会", deal) - 1][after[0].index("预计金额")] == 5000
    assert _formulas(book, "客户", DAYS) == before_days  # the lead's formulas, untouched
    assert _formulas(book, "销售机会", TAXED) == before_taxed
    logged = [(r[3], r[4]) for r in _log(book) if r[1] in ("销售机会", "客户")]
    assert [f for _, f in logged if f in (TAXED, DAYS)] == []
    assert_valid_workbook(book)


def test_a_formula_or_a_value_the_rep_typed_comes_in_and_undo_gives_the_formulas_back(
    team: tuple[Path, Path],
) -> None:
    book, folder = team
    zhang = folder / "张伟.xlsx"
    customer = next(iter(_formulas(zhang, "客户", DAYS)))
    deal, other = list(_formulas(zhang, "销售机会", TAXED))[:2]
    rep_first = _letter(zhang, "客户", "首次接触日期")
    rep_row = _rows(zhang, "客户")[customer]
    headers = grid(zhang, "销售机会")[0]
    amount, new_row = _letter(zhang, "销售机会", "预计金额"), len(_rows(zhang, "销售机会")) + 2
    typed = {"客户编号": customer, "机会名称": "新机会", "预计金额": 100, TAXED: f"={amount}{new_row}*1.2"}
    edit_in_excel(
        zhang,
        [
            ("客户", customer, DAYS, f"=TODAY()-{rep_first}{rep_row}+1"),  # a formula typed anew
            ("销售机会", deal, TAXED, 999),  # a value over the formula
        ],
        append={"销售机会": [[typed.get(h) for h in headers]]},  # a new deal, its formula too
    )
    before = {s: _formulas(book, s, h) for s, h in (("客户", DAYS), ("销售机会", TAXED))}
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.outcomes[0].applied == 2
    days, taxed = _formulas(book, "客户", DAYS), _formulas(book, "销售机会", TAXED)
    first = _letter(book, "客户", "首次接触日期")
    assert days[customer] == f"=TODAY()-{first}{row_of(book, '客户', customer)}+1"  # on the canonical row
    assert taxed[deal] == 999
    (added,) = [k for k in taxed if k not in before["销售机会"]]
    book_amount = _letter(book, "销售机会", "预计金额")
    assert taxed[added] == f"={book_amount}{row_of(book, '销售机会', added)}*1.2"
    assert {k: v for k, v in days.items() if k != customer} == {
        k: v for k, v in before["客户"].items() if k != customer
    }
    assert taxed[other] == before["销售机会"][other]
    logged = {(r[2], r[3]) for r in _log(book)}
    assert (deal, TAXED) in logged and (customer, DAYS) in logged
    assert_valid_workbook(book)
    # Undo: the lead's formulas back as formulas.
    undo_collect(book, result.plan.collect_id, today=TODAY, now=NOW)
    assert _formulas(book, "客户", DAYS) == before["客户"]
    assert _formulas(book, "销售机会", TAXED) == before["销售机会"]
    assert_valid_workbook(book)


def test_a_rep_file_of_an_older_crmbook_still_compares_results(team: tuple[Path, Path]) -> None:
    """A rep file made before formulas were carried holds their results and no formula memo: a result
    as split is no change, the amount the rep typed comes in, the lead's formulas stay."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    deal = next(iter(_formulas(zhang, "销售机会", TAXED)))
    wb = openpyxl.load_workbook(zhang)
    values = openpyxl.load_workbook(zhang, data_only=True)
    for name in list(wb.sheetnames):
        if name.startswith("_crmbook_formulas_"):
            del wb[name]
    for sheet in ("客户", "销售机会"):
        for row, cached in zip(wb[sheet].iter_rows(), values[sheet].iter_rows(), strict=True):
            for cell, shown in zip(row, cached, strict=True):
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.value = shown.value
    wb.save(zhang)
    edit_in_excel(zhang, [("销售机会", deal, "预计金额", 5000)])
    before = _formulas(book, "销售机会", TAXED)
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.outcomes[0].applied == 1
    assert _formulas(book, "销售机会", TAXED) == before


def test_a_formula_changed_on_both_sides_is_a_conflict(team: tuple[Path, Path]) -> None:
    """The lead typed other formulas, the rep a value over one and another formula in the other: two
    conflicts, the lead's formulas stay, shown on 冲突 as formulas are read; a result that moved on the
    rep's side is none. Taking the rep's formula writes it as a formula."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    customer, second, calm = list(_formulas(zhang, "客户", DAYS))[:3]
    col = grid(book, "客户")[0].index(DAYS) + 1
    first = _letter(book, "客户", "首次接触日期")
    ours = {c: f"TODAY()-{first}{row_of(book, '客户', c)}-7" for c in (customer, second)}
    writes = [CellWrite("客户", row_of(book, "客户", c), col, Formula(f)) for c, f in ours.items()]
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=writes)))
    rep_first = _letter(zhang, "客户", "首次接触日期")
    theirs = f"=TODAY()-{rep_first}{_rows(zhang, '客户')[second]}+3"
    edit_in_excel(zhang, [("客户", customer, DAYS, 12), ("客户", second, DAYS, theirs)])
    recalculated(zhang, "客户", lambda n: 2000.0 + n)
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None
    assert (result.plan.outcomes[0].applied, result.plan.outcomes[0].conflicts) == (0, 2)
    days = _formulas(book, "客户", DAYS)
    assert days[customer] == "=" + ours[customer] and days[second] == "=" + ours[second]
    assert days[calm].startswith("=TODAY()-")
    conflicts = {r[2]: r for r in grid(book, "冲突")[1:]}
    assert 12 in conflicts[customer] and "=" + ours[customer] in conflicts[customer]
    row = row_of(book, "客户", second)
    assert f"=TODAY()-{first}{row}+3" in conflicts[second]
    # The rep's formula taken: written as a formula.
    decision = CellWrite("冲突", row_of(book, "冲突", conflicts[second][0]), 12, "采用代表的值")
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=[decision])))
    assert resolve(book, today=TODAY, now=NOW).resolve.applied == 1  # type: ignore[union-attr]
    assert _formulas(book, "客户", DAYS)[second] == f"=TODAY()-{first}{row}+3"
    assert_valid_workbook(book)


def test_a_rep_who_moved_the_columns_never_sends_a_result_over_the_leads_formula(
    team: tuple[Path, Path],
) -> None:
    """The rep inserted a column of their own in the middle of 客户 (every column right of it moves),
    then the file was recalculated: the formulas cannot be compared by their text there, and the
    results they show now go nowhere; the rep's value edits still come in."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    customer = next(iter(_formulas(zhang, "客户", DAYS)))
    before = _formulas(book, "客户", DAYS)
    wb = openpyxl.load_workbook(zhang)
    ws = wb["客户"]
    ws.insert_cols(3)
    ws.cell(1, 3, "我的备注")
    for table in ws.tables.values():  # the sheet's table widens, as Excel widens it
        first, top, last, bottom = openpyxl.utils.range_boundaries(table.ref)
        table.ref = f"{table.ref.split(':')[0]}:{openpyxl.utils.get_column_letter(last + 1)}{bottom}"
        table.autoFilter = None
        table.tableColumns = [
            TableColumn(id=n, name=str(ws.cell(top, c).value))
            for n, c in enumerate(range(first, last + 2), start=1)
        ]
    wb.save(zhang)
    edit_in_excel(zhang, [("客户", customer, "备注", "改过的备注")])
    recalculated(zhang, "客户", lambda n: 1000.0 + n)
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None
    assert _formulas(book, "客户", DAYS) == before  # the lead's formulas, untouched
    assert [r for r in _log(book) if r[4] == DAYS] == []
    notes = grid(book, "客户")
    assert notes[row_of(book, "客户", customer) - 1][notes[0].index("备注")] == "改过的备注"
    assert_valid_workbook(book)


def _type_text(path: Path, sheet: str, record_id: str, header: str, text: str) -> None:
    """Text typed with Excel's leading apostrophe ('=见附件报价): a text cell that starts with "="."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    at = [c.value for c in ws[1]].index(header)
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == record_id)
    row[at].value = text
    row[at].data_type, row[at].quotePrefix = "s", True
    wb.save(path)


def _take_reps_value(book: Path, record_id: str) -> Any:
    """Type the decision "采用代表的值" for the conflict of ``record_id`` and run resolve."""
    conflicts = {r[2]: r for r in grid(book, "冲突")[1:]}
    decision = CellWrite("冲突", row_of(book, "冲突", conflicts[record_id][0]), 12, "采用代表的值")
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=[decision])))
    return resolve(book, today=TODAY, now=NOW).resolve


def test_a_text_that_starts_with_an_equals_sign_stays_text_when_the_reps_side_is_taken(
    team: tuple[Path, Path],
) -> None:
    """The rep typed '=见附件报价 (text, not a formula) into a note the lead changed too: the conflict
    shows the text, and taking the rep's side writes that text, never a formula Excel would answer
    with #NAME?."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    customer = next(iter(_formulas(zhang, "客户", DAYS)))
    col = grid(book, "客户")[0].index("备注") + 1
    lead = CellWrite("客户", row_of(book, "客户", customer), col, "总部已联系")
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=[lead])))
    _type_text(zhang, "客户", customer, "备注", "=见附件报价")
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.outcomes[0].conflicts == 1
    assert "=见附件报价" in {r[2]: r for r in grid(book, "冲突")[1:]}[customer]
    resolved = _take_reps_value(book, customer)
    assert resolved is not None and (resolved.applied, resolved.refused) == (1, [])
    cell = openpyxl.load_workbook(book)["客户"].cell(row_of(book, "客户", customer), col)
    assert (cell.value, cell.data_type) == ("=见附件报价", "s")
    assert_valid_workbook(book)


def test_a_formula_conflict_is_resolved_on_the_records_row_after_the_lead_moved_it(
    team: tuple[Path, Path],
) -> None:
    """Between the collect and the decision the lead deletes a customer above the conflicting one
    (Excel moves the rows below up, their formulas with them): the lead's formula did not change, so
    the rep's formula is taken, and it reads the record's new row, not the row it stood on."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    rows = _rows(book, "客户")
    second = next(c for c in _formulas(zhang, "客户", DAYS) if rows[c] > 3)
    col = grid(book, "客户")[0].index(DAYS) + 1
    first = _letter(book, "客户", "首次接触日期")
    ours = CellWrite("客户", rows[second], col, Formula(f"TODAY()-{first}{rows[second]}-7"))
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=[ours])))
    rep_first = _letter(zhang, "客户", "首次接触日期")
    edit_in_excel(zhang, [("客户", second, DAYS, f"=TODAY()-{rep_first}{_rows(zhang, '客户')[second]}+3")])
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.outcomes[0].conflicts == 1
    # The lead deletes the customer on row 2; every formula below moves up a row, as in Excel.
    gone = next(rid for rid, n in _rows(book, "客户").items() if n == 2)
    edit_in_excel(book, [], delete=[("客户", gone)])
    wb = openpyxl.load_workbook(book)
    ws = wb["客户"]
    for cell in next(ws.iter_cols(min_col=col, max_col=col, min_row=2)):
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.value = cell.value.replace(f"{first}{cell.row + 1}", f"{first}{cell.row}")
    wb.save(book)
    row = row_of(book, "客户", second)
    assert row == rows[second] - 1 and _formulas(book, "客户", DAYS)[second] == f"=TODAY()-{first}{row}-7"
    resolved = _take_reps_value(book, second)
    assert resolved is not None and (resolved.applied, resolved.refused) == (1, [])
    assert _formulas(book, "客户", DAYS)[second] == f"=TODAY()-{first}{row}+3"
    assert_valid_workbook(book)


def test_undo_gives_the_formulas_back_after_the_canonical_workbook_was_recalculated(
    team: tuple[Path, Path],
) -> None:
    """The rep typed a formula over the lead's and added a deal with its formula; once collected, the
    lead opens the canonical workbook and Excel recalculates it (every formula shows another result):
    the cells still hold what the collect wrote, so undo gives everything back instead of refusing
    them as edited since."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    customer = next(iter(_formulas(zhang, "客户", DAYS)))
    rep_first = _letter(zhang, "客户", "首次接触日期")
    headers = grid(zhang, "销售机会")[0]
    amount, new_row = _letter(zhang, "销售机会", "预计金额"), len(_rows(zhang, "销售机会")) + 2
    typed = {"客户编号": customer, "机会名称": "新机会", "预计金额": 100, TAXED: f"={amount}{new_row}*1.2"}
    edit_in_excel(
        zhang,
        [("客户", customer, DAYS, f"=TODAY()-{rep_first}{_rows(zhang, '客户')[customer]}+1")],
        append={"销售机会": [[typed.get(h) for h in headers]]},
    )
    before = {s: _formulas(book, s, h) for s, h in (("客户", DAYS), ("销售机会", TAXED))}
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.outcomes[0].applied == 1
    assert result.plan.outcomes[0].created == {"opportunities": 1}
    (added,) = [k for k in _formulas(book, "销售机会", TAXED) if k not in before["销售机会"]]
    added_row = row_of(book, "销售机会", added)
    recalculated(book, "客户", lambda n: 3000.0 + n)
    recalculated(book, "销售机会", lambda n: 4000.0 + n)
    undo_collect(book, result.plan.collect_id, today=TODAY, now=NOW)
    assert _formulas(book, "客户", DAYS) == before["客户"]
    assert _formulas(book, "销售机会", TAXED) == before["销售机会"]
    # the added deal is gone, its formula with it (a formula showing nothing is still a cell to empty)
    assert [c.value for c in openpyxl.load_workbook(book)["销售机会"][added_row]] == [None] * len(headers)
    assert_valid_workbook(book)
