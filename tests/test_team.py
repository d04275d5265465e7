"""A team on one canonical workbook: split, reps work in Excel, collect, conflicts, resolve, undo.

Rep files are edited the way a person's spreadsheet program saves them (openpyxl load and save, as
Excel rewrites the whole package); the lead's edits to the canonical workbook go through the surgical
writer (the lead keeps working in crmbook's book). Every workbook written is checked against the
ECMA-376 schemas and Excel's repair triggers with ``<repo>/../shared/ooxml`` when a Python with lxml is
at hand (``CRMBOOK_OOXML_PYTHON``, else this one).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine as pc
from click.testing import CliRunner

from crmbook.changeset import CellWrite, Changeset
from crmbook.cli import cli
from crmbook.errors import CrmbookError, WorkbookFileError
from crmbook.ids import IdPattern
from crmbook.measures import Period, compute_measures
from crmbook.ooxml import apply_changeset
from crmbook.reader import read_book
from crmbook.refresh import refresh
from crmbook.report import write_report
from crmbook.team_collect import collect, read_rep_file, rep_file_paths, resolve, undo_collect
from crmbook.team_split import split

TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 17, 30)
RECORD_SHEETS = ("客户", "联系人", "跟进记录", "销售机会")
OOXML = Path(__file__).resolve().parents[1].parent / "shared" / "ooxml"


def _ooxml_python() -> str | None:
    python = os.environ.get("CRMBOOK_OOXML_PYTHON") or sys.executable
    ok = subprocess.run([python, "-c", "import lxml"], capture_output=True).returncode == 0
    return python if ok and OOXML.exists() else None


def _integrity_problems(python: str, path: Path) -> set[str]:
    out = subprocess.run([python, str(OOXML / "integrity.py"), str(path)], capture_output=True, text=True)
    return {line.split(" | ", 1)[1] for line in out.stdout.splitlines() if " | " in line}


def assert_valid_workbook(path: Path, baseline: Path | None = None) -> None:
    """ECMA-376 schemas and Excel's repair triggers (see <repo>/../shared/ooxml/README.md). With
    ``baseline`` (the file as it was given), only problems crmbook added count: the canonical
    workbook of ``crmbook new`` carries list formulas written with a leading "=" (from its template)."""
    python = _ooxml_python()
    if python is None:  # the checks need lxml, which the test environment does not install on purpose
        return
    schema = subprocess.run(
        [python, str(OOXML / "validate.py"), str(OOXML / "xsd"), str(path)], capture_output=True, text=True
    )
    assert schema.returncode == 0, schema.stdout[-3000:]
    problems = _integrity_problems(python, path)
    if baseline is not None:
        problems -= _integrity_problems(python, baseline)
    assert not problems, sorted(problems)[:20]


def grid(path: Path, sheet: str) -> list[list[Any]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    try:
        return wb.get_sheet_by_name(sheet).to_python()
    finally:
        wb.close()


def records(path: Path) -> list[list[list[Any]]]:
    return [grid(path, s) for s in RECORD_SHEETS]


def col(path: Path, sheet: str, header: str) -> int:
    return grid(path, sheet)[0].index(header) + 1


def row_of(path: Path, sheet: str, record_id: str) -> int:
    for r, cells in enumerate(grid(path, sheet), start=1):
        if cells and str(cells[0]) == record_id:
            return r
    raise AssertionError(f"{record_id} not on {sheet}")


def value(path: Path, sheet: str, record_id: str, header: str) -> Any:
    return grid(path, sheet)[row_of(path, sheet, record_id) - 1][col(path, sheet, header) - 1]


def edit_in_excel(
    path: Path,
    edits: list[tuple[str, str, str, Any]],
    append: dict[str, list[list[Any]]] | None = None,
    delete: list[tuple[str, str]] | None = None,
) -> None:
    """A rep's session in a spreadsheet program: cells typed (sheet, record ID, header, value), rows
    added below the data, rows deleted (the rows below move up), the whole file saved again."""
    wb = openpyxl.load_workbook(path, keep_vba=path.suffix == ".xlsm")
    for sheet, record_id, header, new in edits:
        ws = wb[sheet]
        headers = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            if row[0].value == record_id:
                row[headers.index(header)].value = new
                break
        else:
            raise AssertionError(f"{record_id} not on {sheet}")
    for sheet, rows in (append or {}).items():
        ws = wb[sheet]
        last = max(r for r in range(1, ws.max_row + 1) if any(c.value is not None for c in ws[r]))
        for n, cells in enumerate(rows, start=1):
            for c, v in enumerate(cells, start=1):
                ws.cell(last + n, c).value = v
        _resize_table(ws, len(rows))
    for sheet, record_id in delete or []:
        ws = wb[sheet]
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, 1).value == record_id:
                ws.delete_rows(r)
                _resize_table(ws, -1)
                break
    wb.save(path)


def _resize_table(ws: Any, by: int) -> None:
    """Grow or shrink the sheet's table by ``by`` rows, with its autofilter, as Excel does."""
    table = next(iter(ws.tables.values()))
    start, end = table.ref.split(":")
    letters = "".join(ch for ch in end if ch.isalpha())
    table.ref = f"{start}:{letters}{int(end[len(letters) :]) + by}"
    if table.autoFilter is not None:
        table.autoFilter.ref = table.ref


def lead_edits(path: Path, edits: list[tuple[str, str, str, Any]]) -> None:
    writes = [CellWrite(s, row_of(path, s, rid), col(path, s, h), v) for s, rid, h, v in edits]
    path.write_bytes(apply_changeset(path, Changeset(cell_writes=writes)))


def customers_of(path: Path, rep: str) -> list[str]:
    g = grid(path, "客户")
    owner = g[0].index("负责人")
    return [str(r[0]) for r in g[1:] if r and r[owner] == rep]


@pytest.fixture
def team(sample_book: Path, tmp_path: Path) -> tuple[Path, Path]:
    split(sample_book, tmp_path / "team", today=TODAY, now=NOW)
    return sample_book, tmp_path / "team"


def test_split_gives_each_rep_their_customers_with_everything_of_theirs(
    team: tuple[Path, Path], sample_master: Path
) -> None:
    book, folder = team
    canonical, _ = read_book(book, today=TODAY)
    reps = sorted(p.stem for p in folder.glob("*.xlsx"))
    owners = sorted({str(v) for v in canonical.tables["customers"].data["owner"] if v})
    assert reps == owners
    total = {k: 0 for k in ("customers", "contacts", "followups", "opportunities")}
    for path in sorted(folder.glob("*.xlsx")):
        rep_book, structural = read_book(path, today=TODAY)
        assert not [i for i in structural if i.code in ("missing-sheet", "missing-header")]
        mine = set(customers_of(book, path.stem))
        assert set(rep_book.tables["customers"].data["customer_id"]) == mine
        assert set(rep_book.tables["customers"].data["owner"]) == {path.stem}
        for key in ("contacts", "followups", "opportunities"):
            refs = set(rep_book.tables[key].data["customer_id"])
            assert refs <= mine
        for key in total:
            total[key] += len(rep_book.tables[key].data)
        # Lists and Settings as the lead has them; the reps block holds the rep alone.
        assert rep_book.lists == canonical.lists
        assert rep_book.settings.values["team_name"] == canonical.settings.values["team_name"]
        assert [r.name for r in rep_book.settings.reps] == [path.stem]
        # Their own dashboard, reminders, issues, and what was split, hidden.
        names = pc.CalamineWorkbook.from_path(str(path)).sheet_names
        assert {"看板", "待跟进", "问题清单", "_crmbook_split", "_crmbook_split_customers"} <= set(names)
        memo = read_rep_file(path, today=TODAY).memo
        assert memo.rep == path.stem and set(memo.base["customers"].index) == mine
        assert_valid_workbook(path)
    owned = canonical.tables["customers"].data["owner"].map(lambda v: bool(v))
    assert total["customers"] == int(owned.sum())
    # A rep file works on its own: refresh, and the rep's monthly report.
    zhang = folder / "张伟.xlsx"
    assert refresh(zhang, today=TODAY).written
    report = write_report(
        zhang, period=Period.month("2026-11"), out_path=folder / "report.xlsx", owner="张伟"
    )
    assert report.out_path.exists() and not report.measures.empty
    assert_valid_workbook(book, baseline=sample_master)


def test_the_report_of_a_rep_file_is_that_reps_scorecard(team: tuple[Path, Path]) -> None:
    """crmbook report 张伟.xlsx: 张伟's scorecard, the same figures as the lead's --owner 张伟, even when a
    colleague's name is on a follow-up of his customers (no row for her, her follow-up not his)."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    followup = str(grid(zhang, "跟进记录")[1][0])
    edit_in_excel(zhang, [("跟进记录", followup, "跟进人", "李娜")])
    assert refresh(zhang, today=TODAY).written
    nov = Period.month("2026-11")
    mine = write_report(zhang, period=nov, out_path=folder.parent / "rep.xlsx")
    assert mine.measures.notes["scope"] == "张伟" and list(mine.measures.reps["rep"]) == ["张伟"]
    sheet = openpyxl.load_workbook(mine.out_path)["概览"]
    assert sheet.oddHeader.center.text == "个人业绩卡 · 张伟 · 概览" and sheet["A2"].value.endswith("张伟")
    # The lead's scorecard of 张伟 from the canonical workbook, with the same follow-up logged by 李娜.
    edit_in_excel(book, [("跟进记录", followup, "跟进人", "李娜")])
    lead = write_report(book, period=nov, out_path=folder.parent / "lead.xlsx", owner="张伟")
    assert mine.measures.kpis == lead.measures.kpis
    assert mine.measures.overdue.equals(lead.measures.overdue)
    # A customer the rep adds in the file without typing an owner, with its follow-up: theirs.
    headers = grid(zhang, "客户")[0]
    customer = {"客户名称": "新客户有限公司", "客户状态": "潜在客户", "建档日期": dt.datetime(2026, 11, 20)}
    f_headers = grid(zhang, "跟进记录")[0]
    followup = {"客户名称": "新客户有限公司", "跟进时间": dt.datetime(2026, 11, 21, 10), "跟进方式": "电话"}
    edit_in_excel(
        zhang,
        [],
        append={
            "客户": [[customer.get(h) for h in headers]],
            "跟进记录": [[followup.get(h) for h in f_headers]],
        },
    )
    refresh(zhang, today=TODAY)
    more = write_report(zhang, period=nov, out_path=folder.parent / "rep2.xlsx").measures.kpis
    assert more["new_customers"][0] == mine.measures.kpis["new_customers"][0] + 1
    assert more["followups"][0] == mine.measures.kpis["followups"][0] + 1


def test_the_report_of_a_rep_file_beside_it_is_not_taken_for_a_rep_file(team: tuple[Path, Path]) -> None:
    """crmbook report team/张伟.xlsx [--pdf] writes team/张伟-report-2026-11.xlsx (and .pdf): the collect the
    split suggests (crmbook collect team/* --into crm.xlsx) and the folder's collect leave them out."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    report = write_report(zhang, period=Period.month("2026-11"))
    assert report.out_path == folder / "张伟-report-2026-11.xlsx"
    (folder / "张伟-report-2026-11.pdf").write_bytes(b"%PDF-1.4")
    scorecard = write_report(zhang, period=Period.month("2026-11"), owner="张伟")  # named, explicitly
    assert scorecard.out_path == folder / "张伟-report-2026-11-张伟.xlsx"
    reps = sorted(str(p) for p in folder.glob("*.xlsx") if "-report-" not in p.name)
    assert rep_file_paths([str(folder)], book) == reps
    assert rep_file_paths(sorted(str(p) for p in folder.iterdir()), book) == reps
    alone = folder.parent / "elsewhere"  # a report named without its rep file stays named (and refused)
    alone.mkdir()
    shutil.copyfile(report.out_path, alone / report.out_path.name)
    assert rep_file_paths([str(alone)], book) == [str(alone / report.out_path.name)]
    runner = CliRunner()
    ok = runner.invoke(
        cli, ["collect", *sorted(str(p) for p in folder.iterdir()), "--into", str(book), "--dry-run"]
    )
    assert ok.exit_code == 0, ok.output


def test_a_month_of_work_comes_back_with_conflicts_listed(
    team: tuple[Path, Path], sample_master: Path
) -> None:
    book, folder = team
    zhang, li = folder / "张伟.xlsx", folder / "李娜.xlsx"
    a, b, c = customers_of(book, "张伟")[:3]
    d = customers_of(book, "李娜")[0]
    edit_in_excel(
        zhang,
        [
            ("客户", a, "来源说明", "张伟改的来源说明"),  # one side only
            ("客户", b, "备注", "张伟写的备注"),  # both sides, differently
            ("客户", b, "客户来源", "行业展会"),  # both sides, the same
        ],
        append={
            "客户": [
                [
                    "C2026999001",
                    "张伟新客户有限公司",
                    "企业客户",
                    None,
                    None,
                    None,
                    None,
                    "B",
                    "意向客户",
                    "张伟",
                    None,
                    None,
                    "13912345678",
                ]
            ],
            "跟进记录": [
                [
                    "FLLWC20269990010001",
                    "C2026999001",
                    "张伟新客户有限公司",
                    dt.datetime(2026, 11, 20, 10, 0),
                    "电话",
                    "张伟",
                    "初次电话",
                    "介绍产品",
                ]
            ],
        },
        delete=[("客户", c)],
    )
    edit_in_excel(li, [("客户", d, "备注", "李娜的备注")])
    lead_edits(book, [("客户", b, "备注", "组长写的备注"), ("客户", b, "客户来源", "行业展会")])
    before_level = value(book, "客户", a, "来源说明")

    dry = collect([zhang, li], book, dry_run=True, today=TODAY, now=NOW)
    assert not dry.written and dry.plan is not None and dry.plan.changed
    assert value(book, "客户", a, "来源说明") == before_level

    result = collect([zhang, li], book, today=TODAY, now=NOW)
    assert result.written and result.plan is not None
    assert value(book, "客户", a, "来源说明") == "张伟改的来源说明"
    assert value(book, "客户", b, "备注") == "组长写的备注"  # the canonical value stays
    assert value(book, "客户", b, "客户来源") == "行业展会"
    assert value(book, "客户", d, "备注") == "李娜的备注"
    assert row_of(book, "客户", c)  # deleted by the rep: still here, listed
    # The new customer got the canonical book's next ID and its follow-up points at it.
    g = grid(book, "客户")
    new = [r for r in g if r[1] == "张伟新客户有限公司"]
    assert len(new) == 1 and new[0][0] != "C2026999001" and new[0][0].startswith("C2026")
    fu = [r for r in grid(book, "跟进记录") if r[6:8] == ["初次电话", "介绍产品"]]
    assert len(fu) == 1 and fu[0][1] == new[0][0] and fu[0][0] == f"FLLW{new[0][0]}0001"
    conflicts = grid(book, "冲突")
    assert conflicts[0][:8] == [
        "冲突编号",
        "工作表",
        "记录编号",
        "字段",
        "拆分时的值",
        "代表的值",
        "总表的值",
        "代表",
    ]
    field_rows = [r for r in conflicts[1:] if r[10] == "两边都改了"]
    assert len(field_rows) == 1
    assert field_rows[0][2:8] == [
        b,
        "备注",
        read_rep_file(zhang, today=TODAY).memo.base["customers"].at[b, "notes"] or "",
        "张伟写的备注",
        "组长写的备注",
        "张伟",
    ]
    assert field_rows[0][9] == "张伟.xlsx"
    deleted = [r for r in conflicts[1:] if r[10] == "代表删除了记录"]
    assert [r[2] for r in deleted] == [c]
    log = grid(book, "变更记录")
    mine = [r for r in log if r[2] == a and r[3] == "来源说明"]
    assert mine and "张伟" in mine[-1][6] and "张伟.xlsx" in mine[-1][6]
    assert any(r[2] == new[0][0] and "新增" in r[6] and "张伟" in r[6] for r in log)
    # The lead's monthly report counts the collected follow-up.
    canonical, _ = read_book(book, today=TODAY)
    m = compute_measures(canonical, Period.month("2026-11"), owner="张伟")
    assert m.kpis["followups"][0] >= 1
    assert_valid_workbook(book, baseline=sample_master)

    # Collecting the same files again changes nothing.
    stamp = book.read_bytes()
    again = collect([zhang, li], book, today=TODAY, now=NOW)
    assert not again.written and book.read_bytes() == stamp

    # Decisions: take the rep's note, confirm the deletion.
    no_field, no_deleted = field_rows[0][0], deleted[0][0]
    writes = [
        CellWrite("冲突", row_of(book, "冲突", no_field), 12, "采用代表的值"),
        CellWrite("冲突", row_of(book, "冲突", no_deleted), 12, "采用代表的值"),
    ]
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=writes)))
    resolved = resolve(book, today=TODAY, now=NOW)
    assert resolved.resolve is not None and resolved.resolve.applied == 2
    assert value(book, "客户", b, "备注") == "张伟写的备注"
    assert c not in [str(r[0]) for r in grid(book, "客户")]
    statuses = {r[0]: r[12] for r in grid(book, "冲突")[1:]}
    assert statuses[no_field].startswith("已采用代表的值") and statuses[no_deleted].startswith(
        "已采用代表的值"
    )
    assert_valid_workbook(book, baseline=sample_master)


def test_undo_gives_back_exactly_what_one_collect_changed(team: tuple[Path, Path]) -> None:
    book, folder = team
    zhang = folder / "张伟.xlsx"
    a, b = customers_of(book, "张伟")[:2]
    edit_in_excel(
        zhang,
        [("客户", a, "客户等级", "D"), ("客户", b, "备注", "新备注")],
        append={"联系人": [[None, a, None, "王经理", "经理", "13700001111"]]},
    )
    before = records(book)
    result = collect([zhang], book, today=TODAY, now=NOW)
    assert result.plan is not None
    collect_id = result.plan.collect_id
    assert records(book) != before
    # Refused over a later edit, naming the cell.
    lead_edits(book, [("客户", a, "客户等级", "C")])
    with pytest.raises(CrmbookError, match="edited since the collect"):
        undo_collect(book, collect_id, today=TODAY, now=NOW)
    lead_edits(book, [("客户", a, "客户等级", "D")])
    undo_collect(book, collect_id, today=TODAY, now=NOW)
    after = records(book)
    for old, new in zip(before, after, strict=True):  # derived columns and dates aside
        width = 18
        assert [r[:width] for r in old] == [r[:width] for r in new][: len(old)]
        assert all(not any(v not in ("", None) for v in r[:width]) for r in new[len(old) :])
    # Undone: the same file can be collected again and brings the same work.
    again = collect([zhang], book, today=TODAY, now=NOW)
    assert again.written and value(book, "客户", a, "客户等级") == "D"


def test_a_new_split_gives_every_rep_the_merged_state(team: tuple[Path, Path], tmp_path: Path) -> None:
    book, folder = team
    zhang, li = folder / "张伟.xlsx", folder / "李娜.xlsx"
    a = customers_of(book, "张伟")[0]
    d = customers_of(book, "李娜")[0]
    edit_in_excel(zhang, [("客户", a, "备注", "十一月张伟")])
    edit_in_excel(li, [("客户", d, "备注", "十一月李娜")])
    lead_edits(book, [("客户", d, "负责人", "张伟")])  # reassigned meanwhile: 李娜's edit still counts
    collect([zhang, li], book, today=TODAY, now=NOW)
    assert value(book, "客户", d, "备注") == "十一月李娜"
    split(book, tmp_path / "december", today=TODAY, now=NOW + dt.timedelta(days=9))
    december = tmp_path / "december" / "张伟.xlsx"
    assert value(december, "客户", a, "备注") == "十一月张伟"
    assert value(december, "客户", d, "备注") == "十一月李娜"
    # A file from the older split is recognised and merged against its own split values.
    edit_in_excel(li, [("客户", d, "客户等级", "D")])
    late = collect([li], book, today=TODAY, now=NOW)
    assert late.plan is not None
    notes = " ".join(late.plan.outcomes[0].notices)
    assert "older than" in notes
    assert value(book, "客户", d, "客户等级") == "D"


def test_a_folder_collects_the_rep_files_in_it(team: tuple[Path, Path], tmp_path: Path) -> None:
    """``crmbook collect team --into crm.xlsx``: every workbook in the folder, not the canonical one kept
    there too, nor the lock file of a rep file open in Excel, nor other files."""
    book, folder = team
    reps = sorted(p.name for p in folder.glob("*.xlsx"))
    canonical = folder / "crm.xlsx"
    shutil.copyfile(book, canonical)
    (folder / "~$张伟.xlsx").write_bytes(b"\x00" * 165)  # Excel's owner file beside an open workbook
    (folder / "notes.txt").write_text("月底收齐", encoding="utf-8")
    result = collect([folder], canonical, dry_run=True, today=TODAY, now=NOW)
    assert result.plan is not None and len(reps) >= 2
    assert sorted(Path(o.path).name for o in result.plan.outcomes) == reps
    out = CliRunner().invoke(cli, ["collect", str(folder), "--into", str(canonical), "--dry-run"])
    assert out.exit_code == 0 and f"from {len(reps)} rep files" in out.output, out.output
    # team/*.xlsx, as the shell gives it, names the lock file too: left out the same.
    named = sorted(str(p) for p in folder.glob("*.xlsx") if p != canonical)
    assert any(Path(p).name.startswith("~$") for p in named)
    result = collect(named, canonical, dry_run=True, today=TODAY, now=NOW)
    assert result.plan is not None
    assert sorted(Path(o.path).name for o in result.plan.outcomes) == reps
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CrmbookError, match="holds no rep files"):
        collect([empty], canonical, today=TODAY, now=NOW)


def test_a_file_of_another_workbook_is_refused(
    team: tuple[Path, Path], tmp_path: Path, sample_master: Path
) -> None:
    _, folder = team
    other = tmp_path / "other.xlsx"
    shutil.copyfile(sample_master, other)
    with pytest.raises(WorkbookFileError, match="does not know"):
        collect([folder / "张伟.xlsx"], other, today=TODAY, now=NOW)
    with pytest.raises(WorkbookFileError, match="not made by crmbook split"):
        collect([sample_master], other, today=TODAY, now=NOW)
    # Split the same day, the other workbook's split has the same ID: the time of the split tells.
    split(other, tmp_path / "other-team", today=TODAY, now=NOW + dt.timedelta(minutes=5))
    with pytest.raises(WorkbookFileError, match="the file is another workbook's"):
        collect([folder / "张伟.xlsx"], other, today=TODAY, now=NOW)
    assert collect([tmp_path / "other-team" / "张伟.xlsx"], other, today=TODAY, now=NOW).plan is not None


def test_encrypted_rep_files_round_trip_and_a_wrong_password_names_the_file(
    sample_book: Path, tmp_path: Path
) -> None:
    canonical, _ = read_book(sample_book, today=TODAY)
    reps = sorted({str(v) for v in canonical.tables["customers"].data["owner"] if v})
    passwords = tmp_path / "reps.csv"
    passwords.write_text("销售代表,密码\n" + "".join(f"{r},pw-{r}-2026\n" for r in reps), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "split",
            str(sample_book),
            "-o",
            str(tmp_path / "team"),
            "--password-file",
            str(passwords),
            "--today",
            "2026-11-22",
        ],
    )
    assert out.exit_code == 0, out.output
    zhang = tmp_path / "team" / "张伟.xlsx"
    assert zhang.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted Office file
    # The rep opens it with the password, works, saves it encrypted again.
    import io

    import msoffcrypto

    office = msoffcrypto.OfficeFile(io.BytesIO(zhang.read_bytes()))
    office.load_key(password="pw-张伟-2026")
    plain = tmp_path / "plain.xlsx"
    with plain.open("wb") as fh:
        office.decrypt(fh)
    a = customers_of(sample_book, "张伟")[0]
    edit_in_excel(plain, [("客户", a, "备注", "加密文件里的备注")])
    assert_valid_workbook(plain)
    from crmbook.team_crypt import encrypt

    zhang.write_bytes(encrypt(plain.read_bytes(), "pw-张伟-2026"))
    # No password file: a clear error naming the file, exit code 2.
    out = runner.invoke(cli, ["collect", str(zhang), "--into", str(sample_book), "--today", "2026-11-22"])
    assert (
        out.exit_code == 2
        and str(zhang) in out.output
        and "password" in out.output
        and "Traceback" not in out.output
    )
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("张伟,not-it\n", encoding="utf-8")
    out = runner.invoke(
        cli,
        [
            "collect",
            str(zhang),
            "--into",
            str(sample_book),
            "--password-file",
            str(wrong),
            "--today",
            "2026-11-22",
        ],
    )
    assert out.exit_code == 2 and str(zhang) in out.output and "does not open it" in out.output
    out = runner.invoke(
        cli,
        [
            "collect",
            str(zhang),
            "--into",
            str(sample_book),
            "--password-file",
            str(passwords),
            "--today",
            "2026-11-22",
        ],
    )
    assert out.exit_code in (0, 1), out.output
    assert "collected 1 rep file as G20261122-001" in out.output
    assert value(sample_book, "客户", a, "备注") == "加密文件里的备注"


def test_a_password_file_without_the_reps_line_says_so(sample_book: Path, tmp_path: Path) -> None:
    canonical, _ = read_book(sample_book, today=TODAY)
    reps = sorted({str(v) for v in canonical.tables["customers"].data["owner"] if v})
    passwords = {r: f"pw-{r}" for r in reps}
    split(sample_book, tmp_path / "team", passwords=passwords, today=TODAY, now=NOW)
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("".join(f"{r},pw-{r}\n" for r in reps if r != "张伟"), encoding="utf-8")
    zhang = tmp_path / "team" / "张伟.xlsx"
    out = CliRunner().invoke(
        cli, ["collect", str(zhang), "--into", str(sample_book), "--password-file", str(lacking)]
    )
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert f"{zhang}: none of the passwords in the password file opens it" in out.output
    assert "no line for 张伟" in out.output


def test_a_password_with_a_space_around_it_is_pointed_out(sample_book: Path, tmp_path: Path) -> None:
    """ "张伟, zw-2026" (a space after the comma, as people type) gives 张伟 the password " zw-2026":
    the split says so, since the rep would be told "zw-2026" and Excel would refuse it."""
    canonical, _ = read_book(sample_book, today=TODAY)
    reps = sorted({str(v) for v in canonical.tables["customers"].data["owner"] if v})
    passwords = tmp_path / "reps.csv"
    passwords.write_text(
        "".join(f"{r}, pw-{r}\n" if r == "张伟" else f"{r},pw-{r}\n" for r in reps), encoding="utf-8"
    )
    out = CliRunner().invoke(
        cli, ["split", str(sample_book), "-o", str(tmp_path / "team"), "--password-file", str(passwords)]
    )
    assert out.exit_code == 0, out.output
    notes = [line for line in out.output.splitlines() if "begins or ends with a space" in line]
    assert len(notes) == 1 and "张伟's password" in notes[0]


def test_redact_leaves_the_listed_fields_out_and_collect_leaves_them_alone(
    sample_book: Path, tmp_path: Path
) -> None:
    split(sample_book, tmp_path / "team", redact=True, today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    headers = grid(zhang, "客户")[0]
    assert "地址" not in headers and "备注" not in headers and "客户名称" in headers
    base = read_rep_file(zhang, today=TODAY).memo.base["customers"]
    assert "address" not in base.columns and "notes" not in base.columns and "name" in base.columns
    a = customers_of(sample_book, "张伟")[0]
    notes = value(sample_book, "客户", a, "备注")
    edit_in_excel(zhang, [("客户", a, "客户等级", "B")])
    collect([zhang], sample_book, today=TODAY, now=NOW)
    assert value(sample_book, "客户", a, "备注") == notes and value(sample_book, "客户", a, "客户等级") == "B"


def test_a_redacted_rep_files_refresh_does_not_ask_for_the_columns_the_lead_left_out(
    sample_book: Path, tmp_path: Path
) -> None:
    split(sample_book, tmp_path / "team", redact=True, today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    missing = [
        i.column
        for i in refresh(zhang, today=TODAY).plan.report.issues
        if i.code == "missing-optional-column"
    ]
    assert "address" not in missing and "notes" not in missing
    # A column the rep deletes themselves is still told.
    wb = openpyxl.load_workbook(zhang)
    ws = wb["客户"]
    ws.cell(1, [c.value for c in ws[1]].index("所属行业") + 1).value = "随便"
    next(c for c in next(iter(ws.tables.values())).tableColumns if c.name == "所属行业").name = "随便"
    wb.save(zhang)
    assert "industry" in [i.column for i in refresh(zhang, today=TODAY).plan.report.issues]


def test_a_redacted_column_typed_back_in_comes_in_as_a_column_the_rep_added(
    sample_book: Path, tmp_path: Path
) -> None:
    a, b, c = customers_of(sample_book, "张伟")[:3]
    lead_edits(sample_book, [("客户", b, "地址", None)])
    address = value(sample_book, "客户", a, "地址")
    split(sample_book, tmp_path / "team", redact=True, today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    # The rep adds an 地址 column to the 客户 table and types an address for two of their customers.
    from openpyxl.worksheet.table import TableColumn

    wb = openpyxl.load_workbook(zhang)
    ws = wb["客户"]
    at = ws.max_column + 1
    ws.cell(1, at).value = "地址"
    ws.cell(row_of(zhang, "客户", a), at).value = "代表填的地址"
    ws.cell(row_of(zhang, "客户", b), at).value = "总表没有的地址"
    table = next(iter(ws.tables.values()))
    start, end = table.ref.split(":")
    table.ref = f"{start}:{openpyxl.utils.get_column_letter(at)}{''.join(ch for ch in end if ch.isdigit())}"
    table.autoFilter.ref = table.ref
    table.tableColumns.append(TableColumn(id=len(table.tableColumns) + 1, name="地址"))
    wb.save(zhang)
    c_address = value(sample_book, "客户", c, "地址")
    result = collect([zhang], sample_book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.outcomes[0].conflicts == 1
    # Where the canonical workbook has an address the rep never saw: kept, both on 冲突.
    assert value(sample_book, "客户", a, "地址") == address
    conflict = next(r for r in grid(sample_book, "冲突")[1:] if r[2] == a)
    assert conflict[3] == "地址" and conflict[5] == "代表填的地址" and conflict[6] == address
    # Where it has none: written. A cell the rep left blank is no deletion.
    assert value(sample_book, "客户", b, "地址") == "总表没有的地址"
    assert value(sample_book, "客户", c, "地址") == c_address


def test_a_record_naming_another_reps_customer_carries_its_own_customers_name(
    sample_book: Path, tmp_path: Path
) -> None:
    mine, theirs = customers_of(sample_book, "张伟")[0], customers_of(sample_book, "李娜")[0]
    my_name, their_name = (value(sample_book, "客户", c, "客户名称") for c in (mine, theirs))
    g = grid(sample_book, "联系人")
    contact = next(str(r[0]) for r in g[1:] if r and str(r[g[0].index("客户编号")]) == mine)
    # The contact was moved to 张伟's customer by its ID; its 客户名称 still names 李娜's customer.
    lead_edits(sample_book, [("联系人", contact, "客户名称", their_name)])
    split(sample_book, tmp_path / "team", today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    assert value(zhang, "联系人", contact, "客户名称") == my_name
    with zipfile.ZipFile(zhang) as z:
        assert not [n for n in z.namelist() if their_name.encode() in z.read(n)]
    assert read_rep_file(zhang, today=TODAY).memo.base["contacts"].at[contact, "customer_name"] == my_name
    # Collected untouched, the canonical workbook keeps what it has.
    collect([zhang], sample_book, today=TODAY, now=NOW)
    assert value(sample_book, "联系人", contact, "客户名称") == their_name


def test_a_field_left_out_or_missing_in_the_canonical_workbook_splits(
    sample_book: Path, tmp_path: Path
) -> None:
    # Fields the rep file's refresh reads (a way to reach, a list column, an amount, a date), left out
    # by --redact: the rep file is the one a refresh of it gives, without them.
    left_out = "地址; 备注; 微信; 客户等级; 预计金额; 实际成交金额; 销售阶段; 跟进时间; 建档日期"
    lead_edits(sample_book, [("设置", "拆分时隐去的字段", "值", left_out)])
    split(sample_book, tmp_path / "team", redact=True, today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    assert "微信" not in grid(zhang, "联系人")[0] and "手机" in grid(zhang, "联系人")[0]
    assert "客户等级" not in grid(zhang, "客户")[0] and "预计金额" not in grid(zhang, "销售机会")[0]
    assert_valid_workbook(zhang)
    issues = [r for r in grid(zhang, "问题清单") if r and r[0] in ("错误", "警告")]
    shutil.copyfile(zhang, tmp_path / "again.xlsx")
    refresh(tmp_path / "again.xlsx", today=TODAY)
    assert [r for r in grid(tmp_path / "again.xlsx", "问题清单") if r and r[0] in ("错误", "警告")] == issues
    # A column deleted from the canonical workbook's sheet, the same without --redact.
    wb = openpyxl.load_workbook(sample_book)
    for sheet, header in (("联系人", "微信"), ("客户", "建档日期")):
        ws = wb[sheet]
        ws.delete_cols([c.value for c in ws[1]].index(header) + 1)
        table = next(iter(ws.tables.values()))
        table.tableColumns = [c for c in table.tableColumns if c.name != header]
        start, end = table.ref.split(":")
        last = openpyxl.utils.get_column_letter(len(table.tableColumns))
        table.ref = f"{start}:{last}{''.join(ch for ch in end if ch.isdigit())}"
        table.autoFilter.ref = table.ref
    wb.save(sample_book)
    split(sample_book, tmp_path / "team2", today=TODAY, now=NOW)
    assert "微信" not in grid(tmp_path / "team2" / "张伟.xlsx", "联系人")[0]
    assert "建档日期" not in grid(tmp_path / "team2" / "张伟.xlsx", "客户")[0]


def test_a_macro_workbook_gives_macro_rep_files(tmp_path: Path) -> None:
    from crmbook.buttons import install_buttons
    from crmbook.template import create_workbook

    xlsx = create_workbook(tmp_path / "crm.xlsx", sample=12, seed=3, today=TODAY)
    install_buttons(xlsx, tmp_path / "crm.xlsm", today=TODAY)
    result = split(tmp_path / "crm.xlsm", tmp_path / "team", today=TODAY, now=NOW)
    assert result.files and all(f.path.suffix == ".xlsm" for f in result.files)
    for f in result.files:
        with zipfile.ZipFile(f.path) as zf:
            assert "xl/vbaProject.bin" in zf.namelist()
        assert read_book(f.path, today=TODAY)[0].macro_enabled
        assert_valid_workbook(f.path)


def test_cli_summary_and_refusal_to_overwrite_rep_files(sample_book: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["split", str(sample_book), "--by", "owner", "-o", str(tmp_path / "team"), "--today", "2026-11-22"]
    out = runner.invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "split S20261122-001 wrote" in out.output and "张伟.xlsx" in out.output
    out = runner.invoke(cli, args)
    assert out.exit_code == 2 and "already exist" in out.output and "--force" in out.output
    out = runner.invoke(cli, [*args, "--force"])
    assert out.exit_code == 0 and "split S20261122-002" in out.output
    files = sorted(str(p) for p in (tmp_path / "team").glob("*.xlsx"))
    out = runner.invoke(
        cli, ["collect", *files, "--into", str(sample_book), "--dry-run", "--today", "2026-11-22"]
    )
    assert out.exit_code == 0 and "nothing new to collect" in out.output
    out = runner.invoke(cli, ["collect", "--undo", str(sample_book), "G20261122-009"])
    assert out.exit_code == 2 and "no collect 'G20261122-009'" in out.output


def test_rep_files_are_the_same_made_in_one_process_or_two(
    sample_book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every other rep file is made in a second process where there is one; the files are the same.
    made = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("CRMBOOK_WORKERS", workers)
        book = tmp_path / workers / "crm.xlsx"
        book.parent.mkdir()
        shutil.copyfile(sample_book, book)
        split(book, tmp_path / f"team-{workers}", today=TODAY, now=NOW)
        made[workers] = {
            p.name: {
                n: zipfile.ZipFile(p).read(n)
                for n in zipfile.ZipFile(p).namelist()
                if n != "docProps/core.xml"
            }
            for p in sorted((tmp_path / f"team-{workers}").glob("*.xlsx"))
        }
    assert len(made["1"]) >= 3
    assert made["1"] == made["2"]


def test_a_rep_file_goes_on_from_the_sequences_of_its_own_customers(team: tuple[Path, Path]) -> None:
    book, folder = team
    canonical, _ = read_book(book, today=TODAY)
    pattern = canonical.settings.id_pattern("followups")
    assert "{customer_id}" in pattern  # counted per customer
    per_customer = {k for k in canonical.state.high_water if k.startswith("followups:")}
    carried: set[str] = set()
    for path in sorted(folder.glob("*.xlsx")):
        rep, _ = read_book(path, today=TODAY)
        mine = set(rep.tables["customers"].data["customer_id"])
        keys = set(rep.state.high_water)
        theirs = {k for k in keys if k.startswith("followups:")}
        assert theirs and all(any(cid in k for cid in mine) for k in theirs)
        assert {k: rep.state.high_water[k] for k in theirs} == {
            k: canonical.state.high_water[k] for k in theirs
        }
        # the sequences counted per year or day go on from the canonical workbook's everywhere
        others = {k for k in canonical.state.high_water if not k.startswith("followups:")}
        assert others <= keys
        carried |= theirs
    owned = {str(c) for c, o in canonical.tables["customers"].data[["customer_id", "owner"]].values if o}
    scoped = IdPattern.parse(pattern)
    assert carried == {k for k in per_customer if scoped.scope_customer(k.partition(":")[2]) in owned}


def _edit_in_libreoffice_format(ods: Path, sheet: str, old: str, new: str) -> None:
    """Change the first cell of ``sheet`` whose whole text is ``old`` into ``new``, in LibreOffice's own
    format (the sheet's content as LibreOffice wrote it; only that text changes)."""
    with zipfile.ZipFile(ods) as z:
        entries = [(info, z.read(info.filename)) for info in z.infolist()]
    content = next(data for info, data in entries if info.filename == "content.xml").decode("utf-8")
    start = content.index(f'<table:table table:name="{sheet}"')
    at = content.index(f"<text:p>{old}</text:p>", start)
    content = content[:at] + f"<text:p>{new}</text:p>" + content[at + len(f"<text:p>{old}</text:p>") :]
    with zipfile.ZipFile(ods, "w") as z:
        for info, data in entries:  # mimetype first and stored, as ODF wants
            data = content.encode("utf-8") if info.filename == "content.xml" else data
            z.writestr(
                info, data, zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
            )


def test_a_rep_file_saved_by_libreoffice_in_its_own_format_and_back_collects_only_the_edit(
    tmp_path: Path,
) -> None:
    """A rep works in LibreOffice: saves the file (as .xlsx), later keeps it as .ods for a while, then
    saves it back as .xlsx. On the way LibreOffice breaks long texts of mixed scripts into lines (the
    split values crmbook keeps in hidden cells are JSON of up to 30,000 characters); the collect still
    reads them, and only the cell the rep changed comes back."""
    from crmbook.template import create_workbook
    from tests.conftest import soffice_convert

    book = create_workbook(tmp_path / "crm.xlsx", sample=300, seed=11, today=TODAY)
    customers = read_book(book, today=TODAY)[0].tables["customers"]
    owner = customers.col("owner")
    assert owner is not None  # one rep for all 300 customers: split values of 30,000 characters
    everyone = [CellWrite("客户", int(r), owner, "张伟") for r in customers.data.index]
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=everyone)))
    rep_file = split(book, tmp_path / "team", today=TODAY, now=NOW).files[0].path
    customer, name = grid(rep_file, "客户")[1][:2]

    saved = soffice_convert(rep_file, "xlsx:Calc MS Excel 2007 XML", tmp_path / "saved")
    ods = soffice_convert(saved, "ods", tmp_path / "ods")
    _edit_in_libreoffice_format(ods, "客户", name, f"{name}（分公司）")
    back = soffice_convert(ods, "xlsx:Calc MS Excel 2007 XML", tmp_path / "back")
    hidden = [
        n for n in pc.CalamineWorkbook.from_path(str(back)).sheet_names if n.startswith("_crmbook_split_")
    ]
    assert any(
        "\n" in str(cell) for n in hidden for row in grid(back, n) for cell in row
    )  # broken into lines
    shutil.copyfile(back, rep_file)

    result = collect([rep_file], book, today=TODAY, now=NOW)
    assert result.plan is not None
    [outcome] = result.plan.outcomes
    assert (outcome.applied, outcome.conflicts, outcome.deleted, outcome.created) == (1, 0, 0, {})
    assert value(book, "客户", customer, "客户名称") == f"{name}（分公司）"


def test_the_summaries_count_in_good_english() -> None:
    """One of a thing is singular in the lines split and collect print ("1 conflict", "1 new follow-up")."""
    from crmbook.team_collect import CollectPlan, CollectResult, RepOutcome, format_collect_summary

    outcome = RepOutcome("team/张伟.xlsx", "张伟", "S20261130-001", applied=1, same=0, conflicts=1)
    outcome.deleted = 1
    outcome.created = {"customers": 1, "followups": 1, "opportunities": 2}
    plan = CollectPlan("G20261130-001", Changeset(), [outcome], None, "en", None)
    lines = format_collect_summary(CollectResult("crm.xlsx", plan, True, None, 1.0))
    assert lines[0].endswith(
        "1 cell applied, 0 already the same, 1 conflict, 1 deletion to confirm, 1 new customer, "
        "1 new follow-up, 2 new opportunities"
    )
    assert "collected 1 rep file as G20261130-001" in lines[-1]
    assert "2 conflicts and deletions wait on the" in lines[-1]


def _archived(folder: Path) -> list[list[str]]:
    """The Change log entries kept in files when the log let them go, oldest first."""
    import csv

    files = sorted(folder.glob("crm.changelog.*.csv"))
    return [
        row for f in files for row in list(csv.reader(f.read_text(encoding="utf-8-sig").splitlines()))[1:]
    ]


def test_entries_the_change_log_lets_go_are_kept_in_a_file_beside_the_workbook(
    sample_book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crmbook.changelog as changelog
    import crmbook.team_collect as team_collect

    for module in (changelog, team_collect):  # a log of 40 entries, so that a few runs fill it
        monkeypatch.setattr(module, "MAX_LOG_ROWS", 40)
    refresh(sample_book, today=TODAY)
    backups = tmp_path / ".crmbook-backups"
    customers = [str(r[0]) for r in grid(sample_book, "客户")[1:16]]
    typed = []
    for n in range(4):  # 15 changes a refresh: the log passes 40 on the third
        lead_edits(sample_book, [("客户", c, "备注", f"第{n}次") for c in customers])
        refresh(sample_book, today=TODAY)
        typed += [(c, "备注", f"第{n}次") for c in customers]
    assert _archived(backups), "the log let entries go and kept none"
    # A collect that fills the log lets go of the oldest the same way.
    split(sample_book, tmp_path / "team", today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    mine = customers_of(sample_book, "张伟")[:30]
    edit_in_excel(zhang, [("客户", c, "备注", "代表改的") for c in mine])
    collect([zhang], sample_book, today=TODAY, now=NOW)
    typed += [(c, "备注", "代表改的") for c in mine]
    log = grid(sample_book, "变更记录")[1:]
    assert len(log) <= 40
    entries = [tuple("" if v is None else str(v) for v in r[2:6]) for r in _archived(backups) + log]
    assert [t for t in typed if (t[0], t[1], t[2]) not in {(e[0], e[1], e[3]) for e in entries}] == []
    assert len(entries) == len(set(entries))  # each once: on the sheet or in a file
    assert not list(backups.glob("crm.changelog.*.csv.*"))  # no temporary file left behind


def test_a_collect_into_a_workbook_never_refreshed_keeps_what_its_log_lets_go_too(
    sample_book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crmbook.changelog as changelog
    import crmbook.team_collect as team_collect

    for module in (changelog, team_collect):
        monkeypatch.setattr(module, "MAX_LOG_ROWS", 20)
    split(sample_book, tmp_path / "team", today=TODAY, now=NOW)  # never refreshed: the collect logs its own
    zhang = tmp_path / "team" / "张伟.xlsx"
    mine = customers_of(sample_book, "张伟")[:30]
    edit_in_excel(zhang, [("客户", c, "备注", "代表改的") for c in mine])
    collect([zhang], sample_book, today=TODAY, now=NOW)
    log = grid(sample_book, "变更记录")[1:]
    archived = _archived(tmp_path / ".crmbook-backups")
    assert len(mine) > 20 and len(log) == 20 and len(archived) == len(mine) - 20
    assert sorted(str(r[2]) for r in archived + log) == sorted(mine)
