"""Merging duplicates: survivorship, nothing lost, an exact undo, the decision dropdown."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import python_calamine as pc
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crmbook.changeset import CellWrite, Changeset, Formula
from crmbook.cli import cli
from crmbook.errors import InputError, WorkbookLockedError
from crmbook.merge import merge, merged_value, parse_merge_rules, undo_merge
from crmbook.ooxml import apply_changeset
from crmbook.reader import read_book
from crmbook.refresh import refresh
from crmbook.template import create_workbook
from tests.conftest import TODAY

RECORD_SHEETS = ("客户", "联系人", "跟进记录", "销售机会")
NOW = dt.datetime(2026, 11, 22, 10, 0)


def _grids(path: Path) -> dict[str, list[list[object]]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return {s: wb.get_sheet_by_name(s).to_python() for s in RECORD_SHEETS}


def _decide(path: Path, decision: str = "合并", groups: list[bool] | None = None) -> int:
    """Type ``decision`` into the Duplicates sheet for every group (or those ``groups`` selects)."""
    book, _ = read_book(path, today=TODAY)
    starts = [
        r + 1 for r, row in enumerate(book.duplicates_grid) if r >= 3 and row and row[0] not in (None, "")
    ]
    chosen = [r for i, r in enumerate(starts) if groups is None or groups[i % len(groups)]]
    writes = [CellWrite("重复客户", r, 10, decision) for r in chosen]
    path.write_bytes(apply_changeset(path, Changeset(cell_writes=writes)))
    return len(chosen)


def _type(path: Path, row: int, key: str, value: object) -> None:
    """Someone types ``value`` into field ``key`` of the customer at ``row``."""
    book, _ = read_book(path, today=TODAY)
    customers = book.tables["customers"]
    col = customers.col(key) or customers.extra_columns[key]
    path.write_bytes(apply_changeset(path, Changeset(cell_writes=[CellWrite("客户", int(row), col, value)])))


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = create_workbook(tmp_path_factory.mktemp("merge") / "crm.xlsx", sample=60, seed=4, today=TODAY)
    refresh(path, today=TODAY, now=NOW)
    return path


@pytest.fixture
def book_path(refreshed: Path, tmp_path: Path) -> Path:
    target = tmp_path / "crm.xlsx"
    shutil.copyfile(refreshed, target)
    return target


def test_survivorship_rules() -> None:
    newest_first = [None, "新备注", "很长很长的旧备注"]
    assert merged_value("newest", "notes", newest_first) == "新备注"
    assert merged_value("longest", "notes", newest_first) == "很长很长的旧备注"
    dates = [dt.date(2026, 3, 1), None, dt.date(2025, 1, 9)]
    assert merged_value("earliest", "first_contact", dates) == dt.date(2025, 1, 9)
    assert merged_value("latest", "first_contact", dates) == dt.date(2026, 3, 1)
    phones = ["13800138000", "+86 138-0013-8000；021-62345678", 13900139000.0]
    assert merged_value("combine", "phone", phones) == "13800138000；021-62345678；13900139000"
    emails = ["a@x.cn", "A@X.cn, b@y.cn"]
    assert merged_value("combine", "email", emails) == "a@x.cn；b@y.cn"
    assert merged_value("newest", "notes", [None, " "]) is None


def test_merge_rules_setting() -> None:
    assert parse_merge_rules("备注=longest；first_contact = earliest") == {
        "notes": "longest",
        "first_contact": "earliest",
    }
    with pytest.raises(InputError, match="merge_rules"):
        parse_merge_rules("notes=biggest")


def test_merge_keeps_every_record_and_undo_gives_back_every_cell(book_path: Path) -> None:
    assert _decide(book_path) >= 1
    before = _grids(book_path)
    book, _ = read_book(book_path, today=TODAY)
    children = {k: len(book.tables[k].data) for k in ("contacts", "followups", "opportunities")}

    result = merge(book_path, today=TODAY, now=NOW)
    assert result.written and result.groups
    after, _ = read_book(book_path, today=TODAY)
    customers = after.tables["customers"].data
    ids = set(customers["customer_id"])
    for group in result.groups:
        assert group.survivor_id in ids and not set(group.merged_ids) & ids
    for key, count in children.items():
        data = after.tables[key].data
        assert len(data) == count, f"{key}: a record was lost"
        gone = {i for g in result.groups for i in g.merged_ids}
        assert not set(data["customer_id"].dropna()) & gone, (
            f"{key}: a record still points to a merged-away customer"
        )
    assert len(customers) == len(book.tables["customers"].data) - sum(
        len(g.merged_ids) for g in result.groups
    )
    # every record of a group that shows its customer's name shows the survivor's, as merged
    names = dict(zip(customers["customer_id"], customers["name"], strict=True))
    for key in children:
        data = after.tables[key].data
        if "customer_name" in data:
            for group in result.groups:
                shown = data.loc[data["customer_id"] == group.survivor_id, "customer_name"].dropna()
                assert set(shown) <= {names[group.survivor_id]}, (key, group.survivor_id, set(shown))
    wb = openpyxl.load_workbook(book_path)
    archive = [[c.value for c in row] for row in wb["合并存档"].iter_rows()]
    archived = {row[0]: row for row in archive[1:]}
    assert {g.merge_id for g in result.groups} == set(archived)
    first = result.groups[0]
    row = archived[first.merge_id]
    assert row[2] == first.survivor_id and row[3] == first.merged_rows[0] and first.merged_ids[0] in row
    log = [[c.value for c in r] for r in wb["变更记录"].iter_rows()]
    assert any(r[2] == first.merged_ids[0] and r[6] == "合并" for r in log)

    for group in result.groups:
        undo_merge(book_path, group.merge_id, today=TODAY, now=NOW)
    assert _grids(book_path) == before
    wb = openpyxl.load_workbook(book_path)
    assert wb["合并存档"].max_row == 1  # only the header: nothing is merged any more


def _first_pair(book_path: Path) -> tuple[str, str, pd.DataFrame]:
    """The first group on the Duplicates sheet: the customer it keeps (保留), another member, and the
    customers' records."""
    book, _ = read_book(book_path, today=TODAY)
    grid = book.duplicates_grid
    first = next(r for r in range(3, len(grid)) if grid[r] and grid[r][0] not in (None, ""))
    group = [grid[first], *[row for row in grid[first + 1 :] if row and row[0] in (None, "")][:1]]
    keep = next(row[2] for row in group if row[7] == "保留")
    other = next(row[2] for row in group if row[2] != keep)
    return keep, other, book.tables["customers"].data


def test_a_value_that_differs_only_by_spaces_around_it_leaves_the_survivor_as_it_is(book_path: Path) -> None:
    """The newer duplicate's name is the survivor's with a trailing space: the survivor keeps its own
    name, and its contacts, follow-ups and deals keep showing it (they were all given the spaced one)."""
    keep, other, customers = _first_pair(book_path)
    ids = customers["customer_id"]
    name = customers.loc[ids == keep, "name"].iloc[0]
    _type(book_path, int(customers.index[ids == other][0]), "name", name + " ")
    refresh(book_path, today=TODAY, now=NOW)  # the retyped record is now the newest
    assert _decide(book_path) >= 1
    result = merge(book_path, today=TODAY, now=NOW)
    merged = next(g for g in result.groups if g.survivor_id == keep)
    assert "name" not in merged.fields
    after, _ = read_book(book_path, today=TODAY)
    data = after.tables["customers"].data
    assert data.loc[data["customer_id"] == keep, "name"].iloc[0] == name
    for key in ("contacts", "followups", "opportunities"):
        shown = after.tables[key].data
        assert set(shown.loc[shown["customer_id"] == keep, "customer_name"].dropna()) <= {name}, key


def test_both_records_notes_are_kept_by_a_merge(book_path: Path) -> None:
    """Two duplicates, each with a note: the survivor keeps both (the default merge_rules combine notes;
    the newest alone would hide the older one in the archive sheet)."""
    keep, other, customers = _first_pair(book_path)
    ids = customers["customer_id"]
    _type(book_path, int(customers.index[ids == keep][0]), "notes", "年底有采购预算")
    _type(book_path, int(customers.index[ids == other][0]), "notes", "关注售后服务")
    refresh(book_path, today=TODAY, now=NOW)
    assert _decide(book_path) >= 1
    merge(book_path, today=TODAY, now=NOW)
    after, _ = read_book(book_path, today=TODAY)
    data = after.tables["customers"].data
    notes = str(data.loc[data["customer_id"] == keep, "notes"].iloc[0])
    assert sorted(notes.split("；")) == sorted(["年底有采购预算", "关注售后服务"])


def test_the_survivors_formula_stays_a_formula(book_path: Path) -> None:
    """A user column of formulas (=ROW()*10, saved with their results) on two duplicates: the newer
    one's result does not replace the older survivor's formula, and undo gives the merged-away row its
    formula back."""
    keep, other, customers = _first_pair(book_path)
    pair = [keep, other]
    rows = {cid: int(customers.index[customers["customer_id"] == cid][0]) for cid in pair}
    older = min(pair, key=lambda cid: customers.at[rows[cid], "created"])
    col = len(pc.CalamineWorkbook.from_path(str(book_path)).get_sheet_by_name("客户").to_python()[0]) + 1
    writes = [CellWrite("客户", 1, col, "评分")] + [
        CellWrite("客户", r, col, Formula("ROW()*10", r * 10)) for r in rows.values()
    ]
    book_path.write_bytes(apply_changeset(book_path, Changeset(cell_writes=writes)))
    refresh(book_path, today=TODAY, now=NOW)  # both changed today: the later created is the newest
    grid = read_book(book_path, today=TODAY)[0].duplicates_grid
    keeps = [
        CellWrite("重复客户", r + 1, 8, "保留" if row[2] == older else None)
        for r, row in enumerate(grid)
        if row and row[2] in pair
    ]
    book_path.write_bytes(apply_changeset(book_path, Changeset(cell_writes=keeps)))
    assert _decide(book_path) >= 1
    result = merge(book_path, today=TODAY, now=NOW)
    merge_id = next(g.merge_id for g in result.groups if g.survivor_id == older)
    letter = openpyxl.utils.get_column_letter(col)
    ws = openpyxl.load_workbook(book_path)["客户"]
    assert ws[f"{letter}{rows[older]}"].value == "=ROW()*10"
    undo_merge(book_path, merge_id, today=TODAY, now=NOW)
    ws = openpyxl.load_workbook(book_path)["客户"]
    assert [ws[f"{letter}{r}"].value for r in rows.values()] == ["=ROW()*10"] * 2


def test_undo_refuses_to_overwrite_a_later_edit(book_path: Path) -> None:
    _decide(book_path)
    result = merge(book_path, today=TODAY, now=NOW)
    group = result.groups[0]
    book, _ = read_book(book_path, today=TODAY)
    customers = book.tables["customers"]
    name_col = customers.col("name")
    assert name_col is not None
    edit = Changeset(cell_writes=[CellWrite("客户", group.merged_rows[0], name_col, "新客户")])
    book_path.write_bytes(apply_changeset(book_path, edit))
    with pytest.raises(InputError, match="has been typed in since"):
        undo_merge(book_path, group.merge_id, today=TODAY)
    with pytest.raises(InputError, match="no merge 'M1'"):
        undo_merge(book_path, "M1", today=TODAY)


def test_a_group_whose_customer_changed_since_it_was_found_is_not_merged(book_path: Path) -> None:
    """The lead marked a group on the Duplicates sheet; someone then retyped one of its customers as
    another company. Merging on the old decision would fold two companies into one: the group is
    skipped, saying what changed, and the workbook keeps both."""
    _decide(book_path)
    book, _ = read_book(book_path, today=TODAY)
    grid = book.duplicates_grid
    first = next(r for r, row in enumerate(grid) if r >= 3 and row and row[0] not in (None, ""))
    member = str(grid[first][2])
    customers = book.tables["customers"]
    row = next(r for r in customers.data.index if customers.data.at[r, "customer_id"] == member)
    old_name = customers.data.at[row, "name"]
    _type(book_path, row, "name", "另一家公司有限公司")

    result = merge(book_path, today=TODAY, now=NOW)

    assert all(member not in (g.survivor_id, *g.merged_ids) for g in result.groups)
    said = [s for s in result.skipped if member in s]  # one line for the group: the change, what to do
    assert len(said) == 1
    assert f"{member} 客户名称 {old_name} → 另一家公司有限公司 since the duplicates were found" in said[0]
    assert "run crmbook dedupe (or refresh) again" in said[0]
    after, _ = read_book(book_path, today=TODAY)
    ids = set(after.tables["customers"].data["customer_id"].dropna())
    assert member in ids


def _log(path: Path) -> list[list[object]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return wb.get_sheet_by_name("变更记录").to_python()


def test_edits_made_before_a_merge_or_its_undo_still_reach_the_change_log(book_path: Path) -> None:
    """People edit, then merge (which refreshes), then undo: the edits made in between are logged and
    dated by the refresh as if no merge had run; the merge's own writes are logged once, as the merge."""
    assert _decide(book_path) >= 1
    book, _ = read_book(book_path, today=TODAY)
    customers = book.tables["customers"]
    grouped = {str(v) for row in book.duplicates_grid[3:] if len(row) > 2 and row[2] for v in [row[2]]}
    other = next(r for r in customers.data.index if customers.data.at[r, "customer_id"] not in grouped)
    other_id = customers.data.at[other, "customer_id"]
    _type(book_path, other, "notes", "合并前写的备注")

    result = merge(book_path, today=TODAY, now=NOW)
    refresh(book_path, today=TODAY, now=NOW)
    log = _log(book_path)
    mine = [r for r in log if r[2] == other_id and r[3] == "备注"]
    assert len(mine) == 1 and mine[0][5] == "合并前写的备注"
    after, _ = read_book(book_path, today=TODAY)
    data = after.tables["customers"].data
    assert data.loc[data["customer_id"] == other_id, "updated"].iloc[0] == TODAY
    merged = {i for g in result.groups for i in g.merged_ids}
    assert all(r[6] == "合并" for r in log if r[2] in merged)  # logged as the merge, not as deletions

    _type(book_path, other, "notes", "撤销前改的备注")
    undo_merge(book_path, result.groups[0].merge_id, today=TODAY, now=NOW)
    refresh(book_path, today=TODAY, now=NOW)
    log = _log(book_path)
    assert [r[5] for r in log if r[2] == other_id and r[3] == "备注"][-1] == "撤销前改的备注"
    back = set(result.groups[0].merged_ids)
    assert not [r for r in log if r[2] in back and r[6] in ("新增", "删除")]  # the undo's own, once


def test_auto_threshold_and_later_decisions(book_path: Path) -> None:
    groups = _decide(book_path, "稍后")
    assert merge(book_path, today=TODAY, now=NOW, auto_threshold=0.5).groups == []  # "later" is respected
    shutil.copyfile(book_path, book_path.with_name("other.xlsx"))
    other = book_path.with_name("other.xlsx")
    _decide(other, "")  # no decisions
    dry = merge(other, today=TODAY, now=NOW, auto_threshold=0.99, dry_run=True)
    assert not dry.written and all(g.source == "auto" and (g.score or 0) >= 0.99 for g in dry.groups)
    assert len(dry.groups) <= groups
    with pytest.raises(InputError, match="between 0 and 1"):
        merge(other, today=TODAY, auto_threshold=5)


def test_not_a_duplicate_is_remembered(book_path: Path) -> None:
    _decide(book_path, "不是重复")
    first = refresh(book_path, today=TODAY, now=NOW)
    assert first.plan.duplicate_clusters == 0
    again = refresh(book_path, today=TODAY, now=NOW)
    assert again.plan.duplicate_clusters == 0


def test_merge_refuses_a_workbook_open_in_excel(book_path: Path) -> None:
    _decide(book_path)
    (book_path.parent / "~$crm.xlsx").write_bytes(b"lock")
    with pytest.raises(WorkbookLockedError, match="open in Excel"):
        merge(book_path, today=TODAY)


def test_cli_merge_then_undo(book_path: Path) -> None:
    _decide(book_path)
    before = _grids(book_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["merge", str(book_path), "--today", "2026-11-22"])
    assert out.exit_code in (0, 1), out.output
    assert "merged into" in out.output and "undo-merge" in out.output
    merge_id = out.output.split("undo-merge ")[1].split()[1]
    undo = runner.invoke(cli, ["undo-merge", str(book_path), merge_id, "--today", "2026-11-22"])
    assert undo.exit_code in (0, 1), undo.output
    restored = _grids(book_path)
    # Refresh ran after each step: crmbook's own derived columns may differ; what people typed may not.
    book, _ = read_book(book_path, today=TODAY)
    table = book.tables["customers"]
    owned = {table.columns[c.key] - 1 for c in table.spec.columns if c.owned and c.key in table.columns}
    for sheet in RECORD_SHEETS:
        for r, (a, b) in enumerate(zip(before[sheet], restored[sheet], strict=True)):
            keep = [i for i in range(max(len(a), len(b))) if sheet != "客户" or i not in owned]
            assert [a[i] for i in keep] == [b[i] for i in keep], f"{sheet} row {r + 1}"


def test_decision_dropdown_survives_libreoffice(refreshed: Path, tmp_path: Path) -> None:
    from tests.conftest import soffice_convert

    wb = openpyxl.load_workbook(refreshed)
    rules = wb["重复客户"].data_validations.dataValidation
    assert any(r.type == "list" and "合并" in (r.formula1 or "") and "J4" in str(r.sqref) for r in rules)
    converted = soffice_convert(refreshed, "xlsx", tmp_path)
    lo_rules = openpyxl.load_workbook(converted)["重复客户"].data_validations.dataValidation
    assert any("不是重复" in (r.formula1 or "") for r in lo_rules)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), pick=st.lists(st.booleans(), min_size=1, max_size=4))
def test_merge_then_undo_is_the_identity(tmp_path: Path, seed: int, pick: list[bool]) -> None:
    path = create_workbook(tmp_path / f"p{uuid.uuid4().hex}.xlsx", sample=25, seed=seed, today=TODAY)
    refresh(path, today=TODAY, now=NOW)
    assume(_decide(path, "合并", pick) > 0)  # Unsatisfiable (a failure) if no example had a group to merge
    before = _grids(path)
    result = merge(path, today=TODAY, now=NOW)
    for group in reversed(result.groups):
        undo_merge(path, group.merge_id, today=TODAY, now=NOW)
    assert _grids(path) == before


def test_undo_names_the_edited_cell_by_its_header(book_path: Path) -> None:
    """An undo refused over a later edit of a field the merge set names it as the workbook does."""
    _decide(book_path)
    result = merge(book_path, today=TODAY, now=NOW)
    group = next((g for g in result.groups if g.fields), None)
    if group is None:
        pytest.skip("no merge of the sample set a field")
    key = next(iter(group.fields))
    _type(book_path, group.survivor_row, key, "后来改的")
    book, _ = read_book(book_path, today=TODAY)
    label = book.tables["customers"].spec.column(key).label("zh")
    with pytest.raises(
        InputError, match=f"{group.survivor_id} {label} \\([A-Z]+{group.survivor_row}\\) was edited"
    ):
        undo_merge(book_path, group.merge_id, today=TODAY)


def test_a_merge_with_nothing_marked_says_so(book_path: Path) -> None:
    result = CliRunner().invoke(cli, ["merge", str(book_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"{book_path}: nothing to merge (choose 合并 / Merge on the Duplicates sheet, or use --auto-threshold)"
    )
