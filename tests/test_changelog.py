"""Change detection between refreshes and the state that carries it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import pytest

from crmbook.book import Table
from crmbook.changelog import build_changelog_sheet, diff_table
from crmbook.schema import load_schema
from crmbook.snapshot import Snapshot, compare, decode_snapshot, snapshot_sheet, take_snapshot
from crmbook.state import State


def _table(rows: dict[int, dict[str, object]]) -> Table:
    spec = load_schema().sheet("customers")
    cols = ["customer_id", "name", "phone", "updated", "我的列"]
    data = pd.DataFrame(
        [[r.get(c) for c in cols] for r in rows.values()], columns=cols, index=list(rows), dtype=object
    )
    return Table(
        spec, "客户", 1, {"customer_id": 1, "name": 2, "phone": 3, "updated": 4}, {"我的列": 5}, data
    )


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
    changes = diff_table(after, take_snapshot(before), take_snapshot(after))
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
    assert diff_table(t, take_snapshot(t), take_snapshot(t)) == []


def test_a_snapshot_takes_equal_values_of_other_types_each_as_it_is() -> None:
    """A Timestamp equals the datetime it stands for, and True equals 1: a column holding both
    (pandas' Timestamp in a frame, say, beside a datetime read from the file) is remembered cell by
    cell all the same."""
    moment = dt.datetime(2026, 3, 25, 15, 11)
    t = _table(
        {
            2: {"customer_id": "C1", "name": "甲", "phone": 1, "我的列": moment},
            3: {"customer_id": "C2", "name": "乙", "phone": True, "我的列": pd.Timestamp(moment)},
        }
    )
    snap = take_snapshot(t)
    assert snap.columns["我的列"] == ["2026-03-25T15:11:00", "2026-03-25T15:11:00"]
    assert snap.columns["phone"] == [1, True]
    sheet = snapshot_sheet("customers", snap)
    assert decode_snapshot([[c.value if c else None for c in row] for row in sheet.rows]) == snap


def test_state_round_trip_through_grids() -> None:
    state = State(
        high_water={"customers:C2026": 12}, not_duplicates={("C1", "C2")}, last_refresh="2026-11-22T10:00:00"
    )
    state.extra["imports"] = {"IMP1": {"created": ["C3"]}}
    grid = [["section", "key", "value"], *state.rows()]
    t = _table({2: {"customer_id": "C1", "name": "甲"}})
    snap = snapshot_sheet("customers", take_snapshot(t))
    snap_grid = [[c.value if c else None for c in row] for row in snap.rows]
    back = State.from_grids(grid, {"customers": snap_grid})
    assert back.high_water == state.high_water
    assert back.not_duplicates == state.not_duplicates
    assert back.last_refresh == state.last_refresh
    assert back.extra == state.extra
    assert back.snapshots["customers"] == take_snapshot(t)


def test_long_state_values_are_packed_and_read_back() -> None:
    from crmbook.state import CHUNK_CHARS, PACKED

    updated = [["customers", row, "name", f"旧名称{row}", f"新名称{row}"] for row in range(2, 20_000)]
    state = State(high_water={"customers:C2026": 12})
    state.extra["collect"] = {"G20261122-001": {"updated": updated, "undone": None}}
    state.extra["imports"] = {"IMP1": {"created": ["C3"]}}
    rows = state.rows()
    collect_rows = [r for r in rows if r[0] == "collect"]
    assert collect_rows[0][2].startswith(PACKED)  # long: packed, cut into cells
    assert all(len(r[2]) <= CHUNK_CHARS for r in rows)
    assert sum(len(r[2]) for r in collect_rows) < len(json.dumps(updated, ensure_ascii=False)) / 4
    assert next(r for r in rows if r[0] == "imports")[2] == '{"created":["C3"]}'  # short: readable JSON
    back = State.from_grids([["section", "key", "value"], *rows], {})
    assert back.extra == state.extra


def test_state_values_broken_into_lines_by_a_spreadsheet_program_read_the_same() -> None:
    """LibreOffice, saving a workbook as .ods and back, breaks a long text of mixed scripts into lines
    (a line break about every 16,000 characters); JSON and packed values never hold one of their own."""
    state = State(high_water={"customers:C2026": 12})
    state.extra["collect"] = {
        "G1": {"updated": [["customers", r, "name", f"旧{r}", f"新{r}"] for r in range(3000)]}
    }
    state.extra["imports"] = {"IMP1": {"names": [f"客户{n}有限公司" for n in range(900)], "note": "a\nb"}}
    rows = state.rows()
    assert any(r[2].startswith("zlib:") for r in rows) and any(len(r[2]) > 16_000 for r in rows)
    broken = [
        [a, b, c[:7] + "\n" + c[7:9000] + "\r\n" + c[9000:]] if len(c) > 9000 else [a, b, c]
        for a, b, c in rows
    ]
    back = State.from_grids([["section", "key", "value"], *broken], {})
    assert back.extra == state.extra and back.high_water == state.high_water


def test_a_damaged_packed_state_value_is_skipped() -> None:
    from crmbook.state import PACKED

    grid = [
        ["section", "key", "value"],
        ["collect", "G1", PACKED + "not base64!"],
        ["collect", "G2", PACKED + "eJzLSM3JyQcABiwCFQ=="],  # valid zlib, not JSON
        ["imports", "IMP1", '{"created": ["C3"]}'],
    ]
    back = State.from_grids(grid, {})
    assert back.extra == {"imports": {"IMP1": {"created": ["C3"]}}}


def test_changelog_keeps_earlier_entries() -> None:
    t = _table({2: {"customer_id": "C1", "name": "甲公司"}})
    snap = Snapshot(["C1"], {"customer_id": ["C1"], "name": ["甲"]})
    changes = diff_table(t, snap, take_snapshot(t))
    earlier = [[dt.datetime(2026, 11, 1, 9, 0), "客户", "C9", "客户名称", "a", "b", "修改"]]
    sheet = build_changelog_sheet("变更记录", earlier, changes, "zh", dt.datetime(2026, 11, 22, 10, 30, 15))
    values = [[c.value if c else None for c in row] for row in sheet.whole_rows()]
    assert values[0][0] == "时间"
    assert values[1][2] == "C9"
    assert values[2][1:] == ["客户", "C1", "客户名称", "甲", "甲公司", "修改"]
    assert values[2][0] == dt.datetime(2026, 11, 22, 10, 30)
    # the earlier entry is kept as the workbook holds it: the sheet grows by this run's entries
    assert sheet.kept is not None and sheet.kept.count == 1 and len(sheet.rows) == 2
    assert sheet.autofilter == "A1:G3"


def test_a_changelog_past_its_limit_drops_the_oldest_and_is_written_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import crmbook.changelog as changelog

    monkeypatch.setattr(changelog, "MAX_LOG_ROWS", 3)
    t = _table({2: {"customer_id": "C1", "name": "甲公司"}})
    changes = diff_table(t, Snapshot(["C1"], {"customer_id": ["C1"], "name": ["甲"]}), take_snapshot(t))
    earlier = [
        [dt.datetime(2026, 11, n, 9, 0), "客户", f"C{n}", "客户名称", "a", "b", "修改"] for n in (1, 2, 3)
    ]
    sheet = build_changelog_sheet("变更记录", earlier, changes, "zh", dt.datetime(2026, 11, 22, 10, 30))
    assert sheet.kept is None
    assert [row[2].value for row in sheet.rows[1:]] == ["C2", "C3", "C1"]  # type: ignore[union-attr]
    assert sheet.autofilter == "A1:G4"
    assert sheet.dropped == earlier[:1]  # kept in a file beside the workbook (crmbook.log_archive)


def test_a_changelog_at_its_limit_makes_room_and_grows_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit the oldest tenth goes at once: the refreshes after it append again instead of
    each writing the whole log (200,000 entries: 9 s a refresh instead of 1.4 s)."""
    import crmbook.changelog as changelog

    monkeypatch.setattr(changelog, "MAX_LOG_ROWS", 20)
    t = _table({2: {"customer_id": "C1", "name": "甲公司"}})
    changes = diff_table(t, Snapshot(["C1"], {"customer_id": ["C1"], "name": ["甲"]}), take_snapshot(t))
    earlier = [
        [dt.datetime(2026, 11, 1, 9, 0), "客户", f"C{n}", "客户名称", "a", "b", "修改"] for n in range(20)
    ]
    when = dt.datetime(2026, 11, 22, 10, 30)
    sheet = build_changelog_sheet("变更记录", earlier, changes, "zh", when)
    assert sheet.kept is None  # written whole, with room for the next entries
    ids = [row[2].value for row in sheet.rows[1:]]  # type: ignore[union-attr]
    assert ids == [f"C{n}" for n in range(3, 20)] + ["C1"] and len(ids) == 18
    assert [row[2] for row in sheet.dropped] == ["C0", "C1", "C2"]
    earlier = [[c.value if c else None for c in row] for row in sheet.rows[1:]]
    again = build_changelog_sheet("变更记录", earlier, changes, "zh", when)
    assert again.kept is not None and again.kept.count == 18 and len(again.rows) == 2  # grows again


def test_snapshot_is_compact_chunked_and_survives_damage() -> None:
    rows = {
        r: {
            "customer_id": f"C{r}",
            "name": hashlib.sha256(str(r).encode()).hexdigest() * 3,
            "phone": 13800000000 + r,
        }
        for r in range(2, 2002)
    }
    t = _table(rows)
    sheet = snapshot_sheet("customers", take_snapshot(t))
    grid = [[c.value if c else None for c in row] for row in sheet.rows]
    assert len(grid) > 2 and all(len(row[0]) <= 30_000 for row in grid[1:])
    assert decode_snapshot(grid) == take_snapshot(t)
    damaged = [grid[0], [grid[1][0][:-7] + "!!!!!!!"], *grid[2:]]
    assert decode_snapshot(damaged) is None
    assert decode_snapshot([grid[0], ["bm90IGEgemxpYiBzdHJlYW0="]]) is None  # base64 of "not a zlib stream"
    assert decode_snapshot([]) is None


def test_snapshot_refuses_a_decompression_bomb(monkeypatch) -> None:
    import crmbook.snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "MAX_INFLATED", 1000)
    t = _table({r: {"customer_id": f"C{r}", "name": "x" * 900} for r in range(2, 50)})
    grid = [
        [c.value if c else None for c in row] for row in snapshot_sheet("customers", take_snapshot(t)).rows
    ]
    assert decode_snapshot(grid) is None


def test_format_1_snapshots_are_still_read() -> None:
    grid = [["record", "values"], ["C1", '{"customer_id": "C1", "name": "甲"}']]
    t = _table({2: {"customer_id": "C1", "name": "甲公司"}})
    old = decode_snapshot(grid)
    assert old is not None
    changes = diff_table(t, old, take_snapshot(t))
    assert [(c.field, c.old, c.new) for c in changes] == [("name", "甲", "甲公司")]


def test_long_text_is_remembered_by_hash() -> None:
    t1 = _table({2: {"customer_id": "C1", "name": "甲" * 5000}})
    t2 = _table({2: {"customer_id": "C1", "name": "甲" * 4999 + "乙"}})
    changes = diff_table(t2, take_snapshot(t1), take_snapshot(t2))
    assert [c.field for c in changes] == ["name"]
    assert len(str(changes[0].old)) < 300


def test_datetimes_are_compared_and_shown_in_minutes() -> None:
    before = _table(
        {2: {"customer_id": "C1", "name": "甲", "updated": None, "我的列": dt.datetime(2026, 1, 2, 9, 30)}}
    )
    after = _table({2: {"customer_id": "C1", "name": "甲", "我的列": dt.datetime(2026, 1, 2, 10, 0)}})
    changes = diff_table(after, take_snapshot(before), take_snapshot(after))
    assert [(c.old, c.new) for c in changes] == [("2026-01-02T09:30:00", "2026-01-02T10:00:00")]
    sheet = build_changelog_sheet("变更记录", [], changes, "zh", dt.datetime(2026, 11, 22, 10, 30))
    assert [c.value for c in sheet.rows[1][4:6]] == ["2026-01-02 09:30", "2026-01-02 10:00"]
    old = decode_snapshot(
        [["record", "values"], ["C1", '{"customer_id": "C1", "name": "甲", "我的列": "2026-01-02 09:30"}']]
    )
    assert old is not None and diff_table(before, old, take_snapshot(before)) == []


def test_snapshot_date_times_any_year_to_the_second() -> None:
    from crmbook.snapshot import _json_column

    column = [
        dt.datetime(2026, 11, 22, 10, 30, 5, 999),
        None,
        dt.datetime(1600, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59),
    ]
    assert _json_column(column) == ["2026-11-22T10:30:05", None, "1600-01-01T00:00:00", "9999-12-31T23:59:00"]
    assert _json_column([dt.datetime(2026, 1, 2, 3, 4, 5), None]) == ["2026-01-02T03:04:05", None]


def test_grown_snapshots_compare_as_any_others() -> None:
    import random

    rng = random.Random(7)
    values = [None, "a", "b", "2026-01-01T00:00:00", 3, 3.5]
    for _ in range(500):
        keys = [f"K{i}" for i in range(rng.randint(1, 8))]
        old = Snapshot(
            keys, {f: [rng.choice(values) for _ in keys] for f in rng.sample(["f1", "f2", "f3"], 2)}
        )
        added = [f"N{i}" for i in range(rng.randint(0, 3))]
        new = Snapshot(
            keys + added,
            {
                f: [
                    v if rng.random() < 0.8 else rng.choice(values)
                    for v in old.columns.get(f, [None] * len(keys))
                ]
                + [rng.choice(values) for _ in added]
                for f in rng.sample(["f1", "f2", "f3"], 2)
            },
        )
        reordered = Snapshot(old.keys[::-1], {f: v[::-1] for f, v in old.columns.items()})  # compared by key
        assert compare(old, new) == compare(reordered, new)


def test_snapshots_hold_any_number_a_cell_can() -> None:
    t = _table(
        {2: {"customer_id": "C1", "name": "甲", "phone": 1e300}, 3: {"customer_id": "C2", "name": 2**70}}
    )
    snap = take_snapshot(t)
    grid = [[c.value if c else None for c in row] for row in snapshot_sheet("customers", snap).rows]
    assert decode_snapshot(grid) == snap  # past orjson's 64-bit integers: written by the json module


def test_snapshots_written_with_json_extensions_are_read() -> None:
    import base64
    import zlib

    raw = b'{"format":2,"keys":["C1"],"columns":{"phone":[Infinity]}}'
    grid = [["crmbook snapshot v2"], [base64.b64encode(zlib.compress(raw)).decode()]]
    # format 2: formula cells were remembered by their results
    assert decode_snapshot(grid) == Snapshot(["C1"], {"phone": [float("inf")]}, formulas=False)


def test_date_times_are_remembered_to_the_second_as_iso_text() -> None:
    import random

    from crmbook.snapshot import _json_column

    rng = random.Random(5)
    start = dt.datetime(1, 1, 1)
    values = [
        start + dt.timedelta(seconds=rng.randrange(315_000_000_000), microseconds=rng.randrange(10**6))
        for _ in range(2000)
    ]
    values[::7] = [None] * len(values[::7])
    expected = [None if v is None else v.replace(microsecond=0).isoformat() for v in values]
    assert _json_column(values) == expected
    aware = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert _json_column([aware]) == ["2025-12-31T16:00:00"]  # as before: in UTC


def test_dates_are_remembered_as_iso_text_any_year() -> None:
    import random

    from crmbook.snapshot import _json_column

    rng = random.Random(7)
    values: list[dt.date | None] = [dt.date.fromordinal(rng.randrange(1, 3_652_059)) for _ in range(2000)]
    values[::5] = [None] * len(values[::5])
    assert _json_column(values) == [None if v is None else v.isoformat() for v in values]


def test_an_id_typed_as_a_number_is_logged_as_typed() -> None:
    """An ID typed as a number reads as 2024000002.0; the Change log names the record 2024000002."""
    before = _table({2: {"customer_id": 2024000002.0, "name": "甲"}})
    after = _table({2: {"customer_id": 2024000002.0, "name": "甲公司"}})
    changes = diff_table(after, take_snapshot(before), take_snapshot(after))
    sheet = build_changelog_sheet("变更记录", [], changes, "zh", dt.datetime(2026, 11, 22, 10, 0))
    assert [row[2].value for row in sheet.rows[1:] if row and row[2]] == ["2024000002"]


def test_one_run_with_more_changes_than_the_log_holds_lets_its_first_go_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import crmbook.changelog as changelog

    monkeypatch.setattr(changelog, "MAX_LOG_ROWS", 2)
    t = _table({n: {"customer_id": f"C{n}", "name": f"新{n}"} for n in range(2, 6)})
    before = Snapshot(
        [f"C{n}" for n in range(2, 6)], {"customer_id": [f"C{n}" for n in range(2, 6)], "name": ["旧"] * 4}
    )
    changes = diff_table(t, before, take_snapshot(t))
    earlier = [[dt.datetime(2026, 11, 1, 9, 0), "客户", "C0", "客户名称", "a", "b", "修改"]]
    sheet = build_changelog_sheet("变更记录", earlier, changes, "zh", dt.datetime(2026, 11, 22, 10, 30))
    assert [row[2].value for row in sheet.rows[1:]] == ["C4", "C5"]  # type: ignore[union-attr]
    assert [row[2] for row in sheet.dropped] == ["C0", "C2", "C3"]
    assert sheet.dropped[1][4:6] == ["旧", "新2"]
