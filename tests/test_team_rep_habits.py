"""What reps really do to their files between a split and a collect, and what collect makes of it.

Each test is a habit seen in real use: a follow-up row copied and pasted, two copies of one file
passed around, a column deleted, a hidden sheet shown and deleted in LibreOffice, a deletion the
lead accepts. Rep files are edited the way a spreadsheet program saves them (openpyxl load and
save), as in ``test_team.py``, whose helpers these tests share.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.table import TableColumn

from crmbook.changeset import CellWrite, Changeset
from crmbook.errors import InputError, WorkbookFileError
from crmbook.ooxml import apply_changeset
from crmbook.team_collect import collect, resolve, undo_collect
from tests.test_team import (  # noqa: F401
    NOW,
    TODAY,
    assert_valid_workbook,
    customers_of,
    edit_in_excel,
    grid,
    lead_edits,
    team,
    value,
)


def _rows(path: Path, sheet: str) -> list[list[object]]:
    return [r for r in grid(path, sheet)[1:] if any(v not in (None, "") for v in r)]


def test_a_pasted_follow_up_at_the_time_of_another_collects(
    team: tuple[Path, Path],  # noqa: F811
    sample_master: Path,
) -> None:
    """A rep copies a follow-up row and pastes it below for another of their customers: a new
    record whose time equals one already in the canonical workbook (it used to stop the collect
    with a traceback once the refresh took its snapshot)."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    followups = grid(zhang, "跟进记录")
    header, first = followups[0], followups[1]
    customers = [r[0] for r in _rows(zhang, "客户")]
    other = next(c for c in customers if c != first[1])
    pasted = [None, other, *first[2:]]  # no ID: the rep leaves the pasted one's ID out
    assert isinstance(first[header.index("跟进时间")], dt.datetime)
    before = len(_rows(book, "跟进记录"))
    edit_in_excel(zhang, [], append={"跟进记录": [pasted]})

    result = collect([zhang], book, today=TODAY, now=NOW)

    assert result.written and result.plan is not None
    assert result.plan.outcomes[0].created == {"followups": 1}
    after = _rows(book, "跟进记录")
    assert len(after) == before + 1
    time_col = header.index("跟进时间")
    same_time = [r for r in after if r[time_col] == first[time_col]]
    assert sorted(r[1] for r in same_time) == sorted([first[1], other])
    assert_valid_workbook(book, baseline=sample_master)


def _saved_as_of(path: Path, moment: str) -> None:
    """Write ``moment`` as the time the file was last saved (``dcterms:modified``), as the program
    that saves a workbook does."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + moment.encode(), data)
            zout.writestr(info, data)


def test_an_older_copy_of_a_rep_file_is_refused_after_a_newer_one(
    team: tuple[Path, Path],  # noqa: F811
) -> None:
    """Two copies of one rep file go round (a chat program, e-mail): the newer one is collected, then
    the older one. Its values differ from what the newer copy gave, so it would read as the rep's
    latest work and undo it: it is refused, naming both copies, until the newer one's collect is
    undone."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    a, b = [r[0] for r in _rows(zhang, "客户")][:2]
    older, newer = folder.parent / "张伟-旧.xlsx", folder.parent / "张伟-新.xlsx"
    shutil.copyfile(zhang, older)
    edit_in_excel(older, [("客户", a, "客户等级", "A"), ("客户", b, "备注", "第一版备注")])
    _saved_as_of(older, "2026-11-20T09:00:00Z")
    shutil.copyfile(older, newer)
    edit_in_excel(newer, [("客户", a, "客户等级", "B"), ("客户", b, "备注", "第二版备注")])
    _saved_as_of(newer, "2026-11-21T09:00:00Z")

    first = collect([newer], book, today=TODAY, now=NOW)
    assert first.plan is not None and first.plan.outcomes[0].applied == 2
    taken = book.read_bytes()
    with pytest.raises(InputError, match="older copy of 张伟's file") as refused:
        collect([older], book, today=TODAY, now=NOW)
    assert "张伟-新.xlsx" in str(refused.value) and first.plan.collect_id in str(refused.value)
    with pytest.raises(InputError, match="older copy"):
        collect([older], book, dry_run=True, today=TODAY, now=NOW)
    assert book.read_bytes() == taken
    assert value(book, "客户", a, "客户等级") == "B" and value(book, "客户", b, "备注") == "第二版备注"

    # The newer copy's collect undone, the older one is the latest work again.
    undo_collect(book, first.plan.collect_id, today=TODAY, now=NOW)
    again = collect([older], book, today=TODAY, now=NOW)
    assert again.written and value(book, "客户", a, "客户等级") == "A"


def _table_to_column(ws: Any, last_column: Callable[[int], int]) -> Any:
    """The sheet's Excel table (and its autofilter) made to end at ``last_column(its last column)``."""
    table = next(iter(ws.tables.values()))
    first, last = table.ref.split(":")
    letters = "".join(ch for ch in last if ch.isalpha())
    end = get_column_letter(last_column(column_index_from_string(letters)))
    table.ref = f"{first}:{end}{last[len(letters) :]}"
    if table.autoFilter is not None:
        table.autoFilter.ref = table.ref
    return table


def _delete_column(path: Path, sheet: str, header: str) -> None:
    """The rep selects a column of the sheet and deletes it (the Excel table shrinks with it)."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    at = [c.value for c in ws[1]].index(header) + 1
    ws.delete_cols(at)
    table = _table_to_column(ws, lambda last: last - 1)
    table.tableColumns = [c for c in table.tableColumns if c.name != header]
    for n, column in enumerate(table.tableColumns, start=1):
        column.id = n
    wb.save(path)


def _delete_sheet(path: Path, sheet: str) -> None:
    """The rep shows a hidden sheet (LibreOffice: Sheet › Show Sheet) and deletes it."""
    wb = openpyxl.load_workbook(path)
    del wb[sheet]
    wb.save(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: _delete_column(p, "客户", "客户编号"), "the 客户 sheet has no 客户编号 column"),
        (
            lambda p: _delete_sheet(p, "_crmbook_split_customers"),
            "the hidden sheet _crmbook_split_customers .what was split. is missing",
        ),
    ],
    ids=["ID column deleted", "hidden split sheet deleted"],
)
def test_a_rep_file_without_what_collect_matches_by_is_refused(
    team: tuple[Path, Path],  # noqa: F811
    damage: Callable[[Path], None],
    message: str,
) -> None:
    """Without its IDs, every record of the sheet would read as deleted and added again; without the
    split values, every edit as unchanged: either way the rep's work would be lost or doubled, so the
    file is refused, named, with what to do."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    a = _rows(zhang, "客户")[0][0]
    edit_in_excel(zhang, [("客户", a, "客户等级", "A")])
    damage(zhang)
    stamp = book.read_bytes()
    with pytest.raises(WorkbookFileError, match=message) as refused:
        collect([zhang], book, dry_run=True, today=TODAY, now=NOW)
    assert str(zhang) in str(refused.value)
    with pytest.raises(WorkbookFileError, match=message):
        collect([zhang], book, today=TODAY, now=NOW)
    assert book.read_bytes() == stamp


def test_a_column_the_rep_deleted_is_named_and_its_values_stay(
    team: tuple[Path, Path],  # noqa: F811
) -> None:
    book, folder = team
    zhang = folder / "张伟.xlsx"
    a, b = [r[0] for r in _rows(zhang, "客户")][:2]
    notes_before = {c: value(book, "客户", c, "备注") for c in (a, b)}
    assert any(notes_before.values())
    edit_in_excel(zhang, [("客户", a, "来源说明", "张伟改的来源说明")])
    _delete_column(zhang, "客户", "备注")

    result = collect([zhang], book, today=TODAY, now=NOW)

    assert result.plan is not None
    outcome = result.plan.outcomes[0]
    assert outcome.applied == 1 and outcome.deleted == 0
    assert (
        "the 客户 sheet has no 备注 column (deleted in the rep file): its values were left as they are"
        in (outcome.notices)
    )
    assert value(book, "客户", a, "来源说明") == "张伟改的来源说明"
    assert {c: value(book, "客户", c, "备注") for c in (a, b)} == notes_before


def test_a_customer_the_rep_deleted_shows_what_still_names_it_before_and_after_the_decision(
    team: tuple[Path, Path],  # noqa: F811
) -> None:
    """A rep deletes a customer's row and leaves its contacts and follow-ups. The deletion waits on
    冲突 with how many records still name the customer; taking the rep's side says what is left
    naming a customer no longer there."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    named = {
        sheet: Counter(str(r[1]) for r in _rows(book, sheet)) for sheet in ("联系人", "跟进记录", "销售机会")
    }
    customer = next(
        c for c in (r[0] for r in _rows(zhang, "客户")) if named["联系人"][c] and named["跟进记录"][c]
    )
    edit_in_excel(zhang, [], delete=[("客户", customer)])
    collected = collect([zhang], book, today=TODAY, now=NOW)
    assert collected.plan is not None and collected.plan.outcomes[0].deleted == 1

    conflicts = grid(book, "冲突")
    header = conflicts[0]
    row = next(r for r in conflicts[1:] if r[header.index("记录编号")] == customer)
    listed = "、".join(f"{sheet} {n[customer]}" for sheet, n in named.items() if n[customer])
    assert row[header.index("总表的值")].endswith(f"｜仍关联：{listed}")

    decide = [CellWrite("冲突", conflicts.index(row) + 1, header.index("处理") + 1, "采用代表的值")]
    book.write_bytes(apply_changeset(book, Changeset(cell_writes=decide)))
    resolved = resolve(book, today=TODAY, now=NOW)
    assert resolved.resolve is not None and resolved.resolve.applied == 1
    still = ", ".join(f"{n[customer]} on {sheet}" for sheet, n in named.items() if n[customer])
    assert resolved.resolve.notices == [
        f"customer {customer} is deleted; still naming it: {still} (the refresh lists them as errors): "
        "delete them too, or give them another customer"
    ]
    assert customer not in [r[0] for r in _rows(book, "客户")]
    assert sum(1 for r in _rows(book, "跟进记录") if r[1] == customer) == named["跟进记录"][customer]


def _add_column(path: Path, sheet: str, header: str, values: dict[str, object]) -> None:
    """The rep types a header right of the table and values under it (Excel widens the table)."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    at = len([c for c in ws[1] if c.value is not None]) + 1
    ws.cell(1, at).value = header
    for row in ws.iter_rows(min_row=2):
        if row[0].value in values:
            ws.cell(row[0].row, at).value = values[row[0].value]
    table = _table_to_column(ws, lambda last: at)
    table.tableColumns.append(TableColumn(id=len(table.tableColumns) + 1, name=header))
    wb.save(path)


def test_a_column_the_rep_added_comes_in_and_is_named(
    team: tuple[Path, Path],  # noqa: F811
    sample_master: Path,
) -> None:
    book, folder = team
    zhang = folder / "张伟.xlsx"
    a, b = [r[0] for r in _rows(zhang, "客户")][:2]
    _add_column(zhang, "客户", "拜访次数", {a: 3, b: 5})

    result = collect([zhang], book, today=TODAY, now=NOW)

    assert result.plan is not None
    notices = result.plan.outcomes[0].notices
    header = grid(book, "客户")[0]
    letter = get_column_letter(header.index("拜访次数") + 1)
    assert notices == [
        "a new column 拜访次数 on the 客户 sheet (added in the rep file): added to the canonical "
        f"workbook's 客户 sheet as column {letter}"
    ]
    assert value(book, "客户", a, "拜访次数") == 3 and value(book, "客户", b, "拜访次数") == 5
    # inside the Excel table: sorting or filtering it takes the new column's values with their rows
    table = _customers_table(book)
    assert table.ref.split(":")[1].rstrip("0123456789") == letter
    assert [c.name for c in table.tableColumns][-1] == "拜访次数"
    assert_valid_workbook(book, baseline=sample_master)

    # Undone, the column and the table's hold on it go.
    undo_collect(book, result.plan.collect_id, today=TODAY, now=NOW)
    assert "拜访次数" not in grid(book, "客户")[0]
    table = _customers_table(book)
    assert table.ref.split(":")[1].rstrip("0123456789") == get_column_letter(header.index("拜访次数"))
    assert "拜访次数" not in [c.name for c in table.tableColumns]
    assert_valid_workbook(book, baseline=sample_master)


def _customers_table(path: Path) -> Any:
    return next(iter(openpyxl.load_workbook(path)["客户"].tables.values()))


def test_a_customer_the_rep_adds_without_an_owner_comes_in_as_the_reps(
    team: tuple[Path, Path],  # noqa: F811
    sample_master: Path,
) -> None:
    """A rep adds a customer and its follow-up and leaves 负责人 / 跟进人 empty: collect makes the
    rep their owner (the next split gives the customer back to the rep, not to the lead), and a
    later collect of the file, edited again, does not read the empty cell as an owner deleted."""
    from crmbook.team_split import split

    book, folder = team
    zhang = folder / "张伟.xlsx"
    customers = grid(zhang, "客户")[0]
    followups = grid(zhang, "跟进记录")[0]
    new_customer = [None] * len(customers)
    new_customer[customers.index("客户名称")] = "嘉兴无主贸易有限公司"
    new_customer[customers.index("客户类型")] = "企业"
    new_follow_up = [None] * len(followups)
    new_follow_up[followups.index("客户名称")] = "嘉兴无主贸易有限公司"
    new_follow_up[followups.index("跟进时间")] = dt.datetime(2026, 11, 20, 10, 0)
    new_follow_up[followups.index("跟进方式")] = "电话"
    edit_in_excel(zhang, [], append={"客户": [new_customer], "跟进记录": [new_follow_up]})

    collect([zhang], book, today=TODAY, now=NOW)

    def owner_of(sheet: str, name_header: str, owner_header: str) -> list[object]:
        rows = grid(book, sheet)
        header = rows[0]
        return [
            r[header.index(owner_header)]
            for r in rows[1:]
            if r[header.index(name_header)] == "嘉兴无主贸易有限公司"
        ]

    assert owner_of("客户", "客户名称", "负责人") == ["张伟"]
    assert owner_of("跟进记录", "客户名称", "跟进人") == ["张伟"]
    assert_valid_workbook(book, baseline=sample_master)

    some_customer = next(r[0] for r in _rows(zhang, "客户") if r[0])
    edit_in_excel(zhang, [("客户", some_customer, "备注", "再次编辑")])
    again = collect([zhang], book, today=TODAY, now=NOW)
    assert again.plan is not None and again.plan.outcomes[0].conflicts == 0
    assert owner_of("客户", "客户名称", "负责人") == ["张伟"]

    split(book, folder.parent / "next", today=TODAY, now=NOW)
    assert "嘉兴无主贸易有限公司" in [
        r[customers.index("客户名称")] for r in _rows(folder.parent / "next" / "张伟.xlsx", "客户")
    ]


def test_a_users_own_column_listed_in_split_redact_is_left_out(sample_book: Path, tmp_path: Path) -> None:
    from crmbook.team_collect import read_rep_file
    from crmbook.team_split import split

    mine = customers_of(sample_book, "张伟")
    _add_column(sample_book, "客户", "身份证号", {c: f"11010119900307{n:04d}" for n, c in enumerate(mine)})
    lead_edits(sample_book, [("设置", "拆分时隐去的字段", "值", "地址; 备注; 身份证号")])
    split(sample_book, tmp_path / "team", redact=True, today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    assert "身份证号" not in grid(zhang, "客户")[0]
    assert "身份证号" not in read_rep_file(zhang, today=TODAY).memo.base["customers"].columns
    with zipfile.ZipFile(zhang) as z:
        assert not [n for n in z.namelist() if b"110101199003070000" in z.read(n)]
    edit_in_excel(zhang, [("客户", mine[0], "客户等级", "A")])
    result = collect([zhang], sample_book, today=TODAY, now=NOW)
    assert result.plan is not None and not any("身份证号" in n for n in result.plan.outcomes[0].notices)
    assert value(sample_book, "客户", mine[0], "身份证号") == "110101199003070000"
    assert value(sample_book, "客户", mine[0], "客户等级") == "A"


def test_a_users_own_column_named_as_a_redacted_field_is_left_out_too(
    sample_book: Path, tmp_path: Path
) -> None:
    from crmbook.team_split import split

    contacts = [str(r[0]) for r in grid(sample_book, "联系人")[1:] if r and r[0]]
    # The lead added a 备注 column to 联系人; Settings › split_redact says "address; notes" (the default).
    _add_column(sample_book, "联系人", "备注", {c: f"联系人的备注{c}" for c in contacts})
    split(sample_book, tmp_path / "team", redact=True, today=TODAY, now=NOW)
    zhang = tmp_path / "team" / "张伟.xlsx"
    assert "备注" not in grid(zhang, "联系人")[0] and "备注" not in grid(zhang, "客户")[0]
    with zipfile.ZipFile(zhang) as z:
        assert not [n for n in z.namelist() if "联系人的备注".encode() in z.read(n)]
