"""Change detection between refreshes and the state that carries it."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from crmbook.book import Table
from crmbook.changelog import build_changelog_sheet, diff_table
from crmbook.schema import load_schema
from crmbook.state import State, record_key, record_values, snapshot_sheet


def _table(rows: dict[int, dict[str, object]]) -> Table:
    spec = load_schema().sheet("customers")
    cols = ["customer_id", "name", "phone", "updated", "我的列"]
    data = pd.DataFrame(
        [[r.get(c) for c in cols] for r in rows.values()], columns=cols, index=list(rows), dtype=object
    )
    return Table(
        spec, "客户", 1, {"customer_id": 1, "name": 2, "phone": 3, "updated": 4}, {"我的列": 5}, data
    )


def _snapshot(table: Table) -> dict[str, str]:
    return dict(zip(record_key(table).tolist(), record_values(table).tolist(), strict=True))


def test_changed_added_deleted() -> None:
    before = _table(
        {
            2: {"customer_id": "C1", "name": "甲", "phone": "13800138000"},
            3: {"customer_id": "C2", "name": "乙", "phone": "13800138001", "我的列": "x"},
            4: {"customer_id": "C3", "name": "丙", "phone": "13800138002"},
        }
    )
    after = _table(
        {
            2: {
                "customer_id": "C1",
                "name": "甲公司",
                "phone": "13800138000",
                "updated": dt.date(2026, 1, 1),
            },
            3: {"customer_id": "C2", "name": "乙", "phone": "13800138001", "我的列": "y"},
            5: {"customer_id": "C4", "name": "丁", "phone": "13800138003"},
        }
    )
    changes = diff_table(after, record_key(after), record_values(after), _snapshot(before))
    summary = {(c.record, c.field, c.kind, c.old, c.new) for c in changes}
    assert summary == {
        ("C1", "name", "changed", "甲", "甲公司"),
        ("C2", "我的列", "changed", "x", "y"),
        ("C4", "", "added", None, None),
        ("C3", "", "deleted", None, None),
    }
    # crmbook's own derived column ("updated") is not a user change.
    assert not [c for c in changes if c.field == "updated"]


def test_no_edits_no_changes() -> None:
    t = _table(
        {2: {"customer_id": "C1", "name": "甲", "phone": 13800138000.0, "updated": dt.date(2026, 1, 2)}}
    )
    assert diff_table(t, record_key(t), record_values(t), _snapshot(t)) == []


def test_state_round_trip_through_grids() -> None:
    state = State(
        high_water={"customers:C2026": 12}, not_duplicates={("C1", "C2")}, last_refresh="2026-11-22T10:00:00"
    )
    state.extra["imports"] = {"IMP1": {"created": ["C3"]}}
    grid = [["section", "key", "value"], *state.rows()]
    t = _table({2: {"customer_id": "C1", "name": "甲"}})
    snap = snapshot_sheet("customers", record_key(t), record_values(t))
    snap_grid = [[c.value if c else None for c in row] for row in snap.rows]
    back = State.from_grids(grid, {"customers": snap_grid})
    assert back.high_water == state.high_water
    assert back.not_duplicates == state.not_duplicates
    assert back.last_refresh == state.last_refresh
    assert back.extra == state.extra
    assert back.snapshots["customers"] == _snapshot(t)


def test_changelog_keeps_earlier_entries() -> None:
    t = _table({2: {"customer_id": "C1", "name": "甲公司"}})
    snap = {"C1": '{"customer_id": "C1", "name": "甲"}'}
    changes = diff_table(t, record_key(t), record_values(t), snap)
    earlier = [[dt.datetime(2026, 11, 1, 9, 0), "客户", "C9", "客户名称", "a", "b", "修改"]]
    sheet = build_changelog_sheet("变更记录", earlier, changes, "zh", dt.datetime(2026, 11, 22, 10, 30, 15))
    values = [[c.value if c else None for c in row] for row in sheet.rows]
    assert values[0][0] == "时间"
    assert values[1][2] == "C9"
    assert values[2][1:] == ["客户", "C1", "客户名称", "甲", "甲公司", "修改"]
    assert values[2][0] == dt.datetime(2026, 11, 22, 10, 30)
