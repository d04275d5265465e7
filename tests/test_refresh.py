"""Refresh end to end on the sample workbook, checked cell by cell."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine as pc
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.reader import read_book
from crmbook.refresh import refresh
from crmbook.sample import SAMPLE_PROBLEMS
from tests.conftest import TODAY, render_page, soffice_convert

NOW = dt.datetime(2026, 11, 22, 9, 30)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _grid(path: Path, sheet: str) -> list[list[object]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return wb.get_sheet_by_name(sheet).to_python()


def test_refresh_fills_ids_and_lists_every_planted_problem(sample_book: Path) -> None:
    before, _ = read_book(sample_book, today=TODAY)
    empty_ids = {k: int(t.data[t.spec.id_column].isna().sum()) for k, t in before.tables.items()}
    assert all(n > 0 for n in empty_ids.values())
    result = refresh(sample_book, today=TODAY, now=NOW)
    assert result.written and result.backup_path and Path(result.backup_path).exists()
    after, _ = read_book(sample_book, today=TODAY)
    for key, table in after.tables.items():
        assert table.data[table.spec.id_column].isna().sum() == 0, key
        old = before.tables[key].data
        # Existing IDs are unchanged; every user cell other than empty IDs and references is as it was.
        kept = old[table.spec.id_column].dropna()
        assert (table.data.loc[kept.index, table.spec.id_column] == kept).all()
        for col in old.columns:
            if (
                col in (table.spec.id_column, "customer_id") or table.spec.column(col).owned
                if col in table.columns
                else False
            ):
                continue
            assert old[col].equals(table.data[col]), (key, col)
    codes = {i.code for i in result.plan.report.issues}
    expected = {p["code"] for p in SAMPLE_PROBLEMS} - {"duplicate"}
    assert expected <= codes
    assert result.plan.duplicate_pairs >= 1
    issues = _grid(sample_book, "问题清单")
    assert issues[4][:4] == ["级别", "代码", "工作表", "数量"]  # the summary first
    summarized = {row[1] for row in issues[5 : 5 + len(result.plan.issue_summary)]}
    assert expected <= summarized
    header = 5 + len(result.plan.issue_summary) + 2  # then every cell
    assert issues[header][:4] == ["级别", "代码", "工作表", "行"]
    listed = {row[1] for row in issues[header + 1 :]}
    assert expected <= listed


def test_issue_links_and_highlights_point_at_the_cells(sample_book: Path) -> None:
    refresh(sample_book, today=TODAY, now=NOW)
    wb = openpyxl.load_workbook(sample_book)
    ws = wb["问题清单"]
    links = [c.hyperlink.location for row in ws.iter_rows(min_row=5) for c in row if c.hyperlink is not None]
    assert links and all("!" in link for link in links)
    target = next(link for link in links if link.startswith("'客户'!"))
    cell = target.split("!")[1]
    cf_ranges = " ".join(str(r.sqref) for r in wb["客户"].conditional_formatting)
    assert cell in cf_ranges or any(cell[0] in part for part in cf_ranges.split())


def test_second_refresh_changes_nothing_the_user_wrote(sample_book: Path) -> None:
    first = refresh(sample_book, today=TODAY, now=NOW)
    second = refresh(sample_book, today=TODAY, now=NOW)
    assert second.plan.changeset.cell_writes == []
    assert [i.code for i in second.plan.report.issues] == [i.code for i in first.plan.report.issues]
    backup = Path(second.backup_path or "")
    for sheet in ("客户", "联系人", "跟进记录", "销售机会"):
        assert _grid(backup, sheet) == _grid(sample_book, sheet)
    assert second.plan.changes == []


def _sheet_states(path: Path) -> dict[str, str]:
    names = {"Visible": "visible", "Hidden": "hidden", "VeryHidden": "veryHidden"}
    wb = pc.CalamineWorkbook.from_path(str(path))
    try:
        return {m.name: names[str(m.visible).rsplit(".", 1)[-1]] for m in wb.sheets_metadata}
    finally:
        wb.close()


@pytest.mark.parametrize("program", ["gnumeric", "libreoffice"])
def test_crmbook_data_sheets_a_spreadsheet_program_showed_are_hidden_again(
    sample_book: Path, tmp_path: Path, program: str
) -> None:
    """Gnumeric shows every very hidden sheet, LibreOffice makes them merely hidden: the next refresh
    hides crmbook's data sheets again, the ones it does not rewrite (snapshots of sheets nobody
    changed) too."""
    from tests.producers import gnumeric_resave, libreoffice_resave

    refresh(sample_book, today=TODAY)
    resave = gnumeric_resave if program == "gnumeric" else libreoffice_resave
    saved = resave(sample_book, tmp_path / f"{program}.xlsx")
    shown = {n: s for n, s in _sheet_states(saved).items() if n.startswith("_crmbook")}
    assert shown and any(s != "veryHidden" for s in shown.values())
    refresh(saved, today=TODAY)
    after = _sheet_states(saved)
    assert {n: after[n] for n in shown} == dict.fromkeys(shown, "veryHidden")
    assert all(s == "visible" for n, s in after.items() if not n.startswith("_crmbook"))


@pytest.mark.parametrize("sheet", ["列表", "设置"])
def test_a_deleted_lists_or_settings_sheet_is_reported(sample_book: Path, sheet: str) -> None:
    """Without the Lists sheet the dropdowns offer nothing; without Settings, crmbook's defaults
    rule. Both go on, and both are said, by check and by refresh."""
    wb = openpyxl.load_workbook(sample_book)
    del wb[sheet]
    wb.save(sample_book)
    checked = CliRunner().invoke(cli, ["check", str(sample_book)])
    assert (
        checked.exit_code == 0 and "missing-config-sheet" in checked.output and f"“{sheet}”" in checked.output
    )
    result = refresh(sample_book, today=TODAY)
    said = [i for i in result.plan.report.issues if i.code == "missing-config-sheet"]
    assert [i.params["expected"] for i in said] == [sheet] and said[0].level == "warning"


def test_records_typed_below_the_table_join_it(sample_book: Path, sample_master: Path) -> None:
    """LibreOffice does not widen an Excel table when a row is typed under it, as Excel does: the next
    refresh does, so sorting or filtering the table takes the new records along."""
    wb = openpyxl.load_workbook(sample_book)
    ws = wb["客户"]
    table = next(iter(ws.tables.values()))
    last = int(table.ref.split(":")[1].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    ws.cell(last + 1, 2, "表格下方新增有限公司")
    ws.cell(last + 1, 13, "13812345678")
    wb.save(sample_book)
    refresh(sample_book, today=TODAY)
    table = next(iter(openpyxl.load_workbook(sample_book)["客户"].tables.values()))
    assert table.ref.endswith(str(last + 1)) and table.autoFilter.ref == table.ref
    from tests.test_team import assert_valid_workbook

    assert_valid_workbook(sample_book, baseline=sample_master)


def test_user_edit_goes_to_the_change_log_and_updates_the_date(sample_book: Path) -> None:
    refresh(sample_book, today=TODAY, now=NOW)
    book, _ = read_book(sample_book, today=TODAY)
    customers = book.tables["customers"]
    row = int(customers.data.index[5])
    col = customers.col("notes")
    wb = openpyxl.load_workbook(sample_book)  # a colleague edits and saves in a spreadsheet program
    wb["客户"].cell(row, col, "改为季度回访")
    wb.save(sample_book)
    later = NOW + dt.timedelta(hours=2)
    result = refresh(sample_book, today=TODAY, now=later)
    changes = [c for c in result.plan.changes if c.kind == "changed"]
    assert [(c.field, c.new) for c in changes] == [("notes", "改为季度回访")]
    log = _grid(sample_book, "变更记录")
    assert log[0][:4] == ["时间", "工作表", "记录编号", "字段"]
    assert log[-1][2:6] == [
        customers.data.at[row, "customer_id"],
        "备注",
        customers.data.at[row, "notes"] or "",
        "改为季度回访",
    ]
    updated = read_book(sample_book, today=TODAY)[0].tables["customers"].data.at[row, "updated"]
    assert updated in (TODAY, dt.datetime(2026, 11, 22))


def test_the_change_log_grows_without_its_entries_being_read(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each refresh adds its entries under the earlier ones, which stay as the workbook holds them:
    they are counted, not read (a team's change log holds 100,000 entries)."""
    from crmbook import reader

    refresh(sample_book, today=TODAY, now=NOW)
    book, _ = read_book(sample_book, today=TODAY)
    customers = book.tables["customers"]
    rows = [int(r) for r in customers.data.index[3:5]]
    col = customers.col("notes")

    def never(self: object) -> list[list[object]]:
        raise AssertionError("the change log's entries were read")

    for n, row in enumerate(rows, start=1):
        wb = openpyxl.load_workbook(sample_book)
        wb["客户"].cell(row, col, f"第{n}次修改")
        wb.save(sample_book)
        monkeypatch.setattr(reader._SheetRows, "__call__", never)
        before = _grid(sample_book, "变更记录")
        refresh(sample_book, today=TODAY, now=NOW + dt.timedelta(hours=n))
        log = _grid(sample_book, "变更记录")
        assert log[: len(before)] == before
        assert [entry[5] for entry in log[len(before) :]] == [f"第{n}次修改"]
    assert [entry[5] for entry in log[-2:]] == ["第1次修改", "第2次修改"]


def test_dry_run_writes_nothing(sample_book: Path) -> None:
    digest = _sha(sample_book)
    result = refresh(sample_book, today=TODAY, now=NOW, dry_run=True)
    assert not result.written
    assert result.plan.ids_assigned > 0
    assert _sha(sample_book) == digest
    assert not (sample_book.parent / ".crmbook-backups").exists()


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_cli_exit_codes_and_json(sample_book: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["refresh", str(sample_book), "--json", "--today", "2026-11-22"])
    assert result.exit_code == 1  # the sample has errors on purpose
    data = json.loads(result.output)
    assert data["summary"]["ids_assigned"] > 0 and data["summary"]["issues"]["error"] > 0
    assert {"code", "sheet", "row", "cell", "message"} <= set(data["issues"][0])
    clean = tmp_path / "clean.xlsx"
    assert runner.invoke(cli, ["new", str(clean)]).exit_code == 0
    assert runner.invoke(cli, ["refresh", str(clean)]).exit_code == 0
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really")
    result = runner.invoke(cli, ["refresh", str(broken)])
    assert result.exit_code == 2 and "broken.xlsx" in result.output and "Traceback" not in result.output


def test_refresh_refuses_a_workbook_open_in_excel(sample_book: Path) -> None:
    lock = sample_book.with_name("~$" + sample_book.name)
    lock.write_bytes(b"owner")
    digest = _sha(sample_book)
    result = CliRunner().invoke(cli, ["refresh", str(sample_book)])
    assert result.exit_code == 2 and "open in Excel" in result.output
    assert _sha(sample_book) == digest


def test_user_chart_and_sheet_survive_a_refresh(sample_book: Path) -> None:
    # Images, buttons and macros are covered part by part in test_fidelity.py (an XlsxWriter witness).
    from openpyxl.chart import BarChart, Reference

    wb = openpyxl.load_workbook(sample_book)
    ws = wb.create_sheet("我的分析")
    for r in range(1, 6):
        ws.append([f"m{r}", r * 3])
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=5))
    ws.add_chart(chart, "D2")
    wb.save(sample_book)
    with zipfile.ZipFile(sample_book) as z:
        before = {
            n: z.read(n) for n in z.namelist() if n.startswith(("xl/charts/", "xl/media/", "xl/drawings/"))
        }
    refresh(sample_book, today=TODAY, now=NOW)
    with zipfile.ZipFile(sample_book) as z:
        after = set(z.namelist())
        for name, data in before.items():
            assert name in after and z.read(name) == data, name


@pytest.mark.libreoffice
def test_libreoffice_opens_the_refreshed_book_and_renders_the_dashboard(tmp_path: Path) -> None:
    from pypdf import PdfReader

    from crmbook.template import create_workbook

    small = create_workbook(tmp_path / "small.xlsx", sample=12, seed=3, today=TODAY)
    refresh(small, today=TODAY, now=NOW)
    recalculated = soffice_convert(small, "xlsx", tmp_path / "xlsx")
    assert pc.CalamineWorkbook.from_path(str(recalculated)).sheet_names[:4] == [
        "客户",
        "联系人",
        "跟进记录",
        "销售机会",
    ]
    pdf = soffice_convert(small, "pdf", tmp_path)
    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 5
    page = next(i for i, p in enumerate(reader.pages) if "客户看板" in (p.extract_text() or ""))
    render_page(pdf, page + 1, "refresh-dashboard", dpi=60)
