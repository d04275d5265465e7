"""Property tests of the team merge: random edits, insertions and deletions on the canonical book and on two
rep files between a split and a collect.

Afterwards every change made on one side only is present, every conflicting pair is on the Conflicts list
with the split, rep and canonical values, no typed value is lost (each is in the canonical book, on the
Conflicts list or in the deletions listed for confirmation), IDs are unique (the reps and the lead all
create a record with the same ID text, the way each file's own numbering would), collecting the same
work again changes nothing, and collect then undo gives back the canonical book cell for cell.

The pure plans run on in-memory books (files would make each example seconds long); the file round trip
is in tests/test_team.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmbook.book import Book
from crmbook.state import State, decode_value
from crmbook.team_collect import RepWork, plan_collect, plan_undo_collect, same_value
from crmbook.team_conflicts import DELETED_BY_REP, DELETED_IN_BOOK, FIELD
from crmbook.team_split import RepPart, plan_split
from crmbook.team_state import SplitMemo
from tests.builders import TODAY, make_book

REPS = ("张伟", "李娜")
NOW = dt.datetime(2026, 11, 22, 18, 0)
SHEETS = ("customers", "contacts", "followups")
FIELDS = {
    "customers": ("level", "notes", "email", "owner"),
    "contacts": ("title", "wechat"),
    "followups": ("subject", "feedback"),
}
IDENTITY = {"customers": "name", "contacts": "name", "followups": "content"}
VALUES = st.sampled_from(["甲", "乙", "丙", None])


def canonical_book(customers: int) -> Book:
    cust, cont, fol = [], [], []
    for i in range(customers):
        cid = f"C2026{i + 1:06d}"
        cust.append(
            {
                "customer_id": cid,
                "name": f"客户{i}",
                "phone": f"13800{i:06d}",
                "owner": REPS[i % 2],
                "level": "A",
                "notes": f"备注{i}",
            }
        )
        cont.append(
            {
                "contact_id": f"P2026{i + 1:06d}",
                "customer_id": cid,
                "name": f"联系人{i}",
                "mobile": "1390000" + f"{i:04d}",
                "title": "经理",
            }
        )
        fol.append(
            {"followup_id": f"FLLW{cid}0001", "customer_id": cid, "content": f"拜访{i}", "subject": "初访"}
        )
    book = make_book(customers=cust, contacts=cont, followups=fol)
    book.state = State()
    return book


def _rows(part_frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if v is None or v != v else v) for k, v in r.items()} for r in part_frame.to_dict("records")
    ]


def rep_work(split_id: str, part: RepPart, digest: str) -> RepWork:
    book = make_book(**{k: _rows(f) for k, f in part.frames.items() if k in SHEETS})
    base = {}
    for key, frame in part.frames.items():
        id_col = book.tables[key].spec.id_column
        ids = frame[id_col].map(lambda v: "" if v is None else str(v).strip())
        base[key] = frame.drop(columns=[id_col]).set_axis(ids.tolist())
    memo = SplitMemo(split_id, part.rep, "crm.xlsx", NOW.isoformat(), [], base)
    return RepWork(f"{part.rep}.xlsx", memo, book, digest, NOW)


op = st.one_of(
    st.tuples(st.just("edit"), st.sampled_from(SHEETS), st.integers(0, 40), st.integers(0, 3), VALUES),
    st.tuples(st.just("insert"), st.sampled_from(SHEETS), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(SHEETS), st.integers(0, 40)),
)


def apply_ops(book: Book, ops: list[tuple[Any, ...]], side: str, owner: str | None) -> None:
    """Edit ``book``'s frames as a person would: change cells, add records (with the ID the file's own
    numbering gives: the same text on every side), delete records."""
    counter = 0
    for o in ops:
        kind, key = o[0], o[1]
        table = book.tables[key]
        data = table.data
        rows = list(data.index)
        if kind == "edit" and rows:
            row = rows[o[2] % len(rows)]
            name = FIELDS[key][o[3] % len(FIELDS[key])]
            if name == "owner" and side != "lead":
                continue
            data.at[row, name] = o[4]
        elif kind == "delete" and rows:
            table.data = data.drop(index=rows[o[2] % len(rows)])
        elif kind == "insert":
            counter += 1
            customers = book.tables["customers"].data
            cids = [c for c in customers["customer_id"].tolist() if c]
            if key != "customers" and not cids:
                continue
            values: dict[str, Any] = {IDENTITY[key]: f"{side}新{key}{counter}"}
            with_id = o[3]
            if key == "customers":
                values.update(
                    phone=f"1370000{counter:04d}", owner=owner or REPS[0], notes=f"{side}备注{counter}"
                )
                values["customer_id"] = f"C2026{90 + counter:06d}" if with_id else None
            else:
                values["customer_id"] = cids[o[2] % len(cids)]
                id_col = table.spec.id_column
                values[id_col] = f"X{90 + counter:04d}" if with_id else None
                if key == "contacts":
                    values["mobile"] = f"1360000{counter:04d}"
            new_row = (max(rows) if rows else table.header_row) + 1
            frame = pd.DataFrame([values], index=[new_row]).reindex(columns=data.columns).astype(object)
            table.data = pd.concat([data.astype(object), frame.where(frame.notna(), None)])


def id_of(table: Any, row: int) -> str:
    v = table.data.at[row, table.spec.id_column]
    return "" if v is None else str(v).strip()


def by_id(table: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in table.data.index:
        out.setdefault(id_of(table, row), int(row))
    return out


def apply_writes(book: Book, writes: list[Any]) -> None:
    by_sheet = {t.sheet_name: t for t in book.tables.values()}
    for w in writes:
        t = by_sheet.get(w.sheet)
        if t is None or w.row == t.header_row:
            continue
        name = next((k for k, c in {**t.columns, **t.extra_columns}.items() if c == w.col), None)
        if name is None:
            continue
        if w.row not in t.data.index:
            empty = pd.DataFrame([{}], index=[w.row]).reindex(columns=t.data.columns).astype(object)
            t.data = pd.concat([t.data.astype(object), empty.where(empty.notna(), None)])
        t.data[name] = t.data[name].astype(object)
        t.data.at[w.row, name] = w.value


def frames_copy(book: Book) -> Book:
    out = copy.copy(book)
    out.tables = {k: copy.copy(t) for k, t in book.tables.items()}
    for t in out.tables.values():
        t.data = t.data.copy()
    return out


@settings(
    max_examples=int(os.environ.get("CRMBOOK_TEAM_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    customers=st.integers(2, 6),
    lead=st.lists(op, max_size=8),
    rep_ops=st.tuples(st.lists(op, max_size=8), st.lists(op, max_size=8)),
)
def test_collect_keeps_every_change_and_undo_is_identity(
    customers: int, lead: list[tuple[Any, ...]], rep_ops: tuple[list[Any], list[Any]]
) -> None:
    split = plan_split(canonical_book(customers), now=NOW)
    canon = split.book
    canon.state = split.state
    works = [rep_work(split.split_id, part, f"digest-{part.rep}") for part in split.parts]
    reps_before = {w.memo.rep: frames_copy(w.book) for w in works}
    for work, ops in zip(works, rep_ops, strict=False):
        apply_ops(work.book, ops, work.memo.rep, work.memo.rep)
    apply_ops(canon, lead, "lead", None)
    before = frames_copy(canon)

    plan = plan_collect(canon, works, now=NOW, with_refresh=False)
    after = plan.book
    record = (
        after.state.extra["collect"][plan.collect_id] if after.state and plan.changed else {"conflicts": []}
    )
    conflicts = record["conflicts"]
    by_cell = {(c[2], c[3], c[4]): c for c in conflicts if c[1] in (FIELD, DELETED_IN_BOOK)}
    deletions = {(c[2], c[3]) for c in conflicts if c[1] == DELETED_BY_REP}

    for work in works:
        rep = work.memo.rep
        for key in SHEETS:
            base = work.memo.base[key]
            rep_t, canon_t, after_t = work.book.tables[key], before.tables[key], after.tables[key]
            rep_rows, canon_rows, after_rows = by_id(rep_t), by_id(canon_t), by_id(after_t)
            fields = [f for f in FIELDS[key] if f in base.columns]
            for rid in base.index:
                if rid not in rep_rows:  # deleted by the rep: listed for confirmation, never deleted
                    if rid in canon_rows:
                        assert (key, rid) in deletions
                        assert rid in after_rows
                    continue
                for name in fields:
                    b = base.at[rid, name]
                    r = rep_t.data.at[rep_rows[rid], name]
                    if rid not in canon_rows:  # deleted by the lead; the rep's edits are listed
                        if not same_value(b, r):
                            entry = by_cell[(key, rid, name)]
                            assert same_value(decode_value(entry[6]), r)
                        continue
                    c = canon_t.data.at[canon_rows[rid], name]
                    now_value = after_t.data.at[after_rows[rid], name]
                    if same_value(r, b) or same_value(c, r):
                        assert same_value(now_value, c), (key, rid, name, b, r, c, now_value)
                    elif same_value(c, b):
                        assert same_value(now_value, r), (key, rid, name, b, r, c, now_value)
                    else:  # a conflict: the canonical value stays, all three are listed
                        assert same_value(now_value, c)
                        entry = by_cell[(key, rid, name)]
                        assert [
                            same_value(decode_value(entry[i]), v) for i, v in ((5, b), (6, r), (7, c))
                        ] == [True] * 3
            # New records of the rep: present, with a final ID of their own, their values kept.
            before_ids = set(by_id(reps_before[rep].tables[key]))
            created_ids = record.get("team", {}).get(f"{split.split_id}\t{rep}", {}).get("created_ids", {})
            for row in rep_t.data.index:
                rid = id_of(rep_t, row)
                if rid and rid in before_ids:
                    continue
                identity = rep_t.data.at[row, IDENTITY[key]]
                matches = after_t.data.index[after_t.data[IDENTITY[key]] == identity].tolist()
                assert len(matches) == 1, (key, identity)
                final = id_of(after_t, matches[0])
                if key != "followups" or after_t.data.at[matches[0], "customer_id"] is not None:
                    assert final, (key, identity)
                if rid and final:
                    assert created_ids.get(f"{key}\t{rid}") == final
                if key != "customers":
                    ref = rep_t.data.at[row, "customer_id"]
                    final_ref = created_ids.get(f"customers\t{ref}", ref)
                    assert after_t.data.at[matches[0], "customer_id"] == final_ref

    # IDs unique on every sheet.
    for key in SHEETS:
        ids = [i for i in (id_of(after.tables[key], r) for r in after.tables[key].data.index) if i]
        assert len(ids) == len(set(ids)), key
    # Nothing the lead typed was changed but by a rep's one-sided change (checked above); rows only added.
    assert set(before.tables["customers"].data.index) <= set(after.tables["customers"].data.index)

    if not plan.changed:
        return
    # The same work collected again (the file saved once more, unchanged) changes nothing.
    again = [RepWork(w.path, w.memo, w.book, w.digest + "-resaved", NOW) for w in works]
    second = plan_collect(frames_copy(after), again, now=NOW, with_refresh=False)
    assert second.changeset.cell_writes == []
    assert second.book.state.extra["collect"][second.collect_id]["conflicts"] == []

    # Undo gives back the canonical book cell for cell.
    undo = plan_undo_collect(after, plan.collect_id, {}, now=NOW)
    undone = frames_copy(after)
    apply_writes(undone, undo.changeset.cell_writes)
    for key in SHEETS:
        table, old = undone.tables[key], before.tables[key]
        owned = {c.key for c in table.spec.columns if c.owned} - {table.spec.id_column}
        names = [n for n in old.data.columns if n not in owned]
        for row in table.data.index:
            if row in old.data.index:
                for name in names:
                    if name == table.spec.id_column and old.data.at[row, name] is None:
                        continue  # an empty ID is filled by the refresh that every write includes
                    assert same_value(table.data.at[row, name], old.data.at[row, name]), (key, row, name)
            else:
                assert all(table.data.at[row, n] is None for n in names if n in table.data.columns), (
                    key,
                    row,
                )


def test_the_scenario_of_the_docs_on_plain_data() -> None:
    """One customer edited on both sides differently, one on one side, one deleted by the rep."""
    split = plan_split(canonical_book(4), now=NOW)
    canon = split.book
    canon.state = split.state
    work = rep_work(split.split_id, split.parts[0], "d1")  # 张伟: customers 0 and 2
    rt, ct = work.book.tables["customers"], canon.tables["customers"]
    rt.data.at[2, "level"] = "B"  # both sides, differently
    ct.data.at[2, "level"] = "C"
    rt.data.at[2, "notes"] = "代表改的备注"  # one side
    rt.data = rt.data.drop(index=3)  # the rep deleted customer 2
    plan = plan_collect(canon, [work], now=NOW, with_refresh=False)
    after = plan.book.tables["customers"].data
    assert after.at[2, "level"] == "C" and after.at[2, "notes"] == "代表改的备注"
    conflicts = plan.book.state.extra["collect"][plan.collect_id]["conflicts"]
    kinds = sorted((c[1], c[3], c[4]) for c in conflicts)
    assert kinds == [(DELETED_BY_REP, "C2026000003", ""), (FIELD, "C2026000001", "level")]
    outcome = plan.outcomes[0]
    assert (outcome.applied, outcome.conflicts, outcome.deleted) == (1, 1, 1)
    assert canon.today == TODAY
