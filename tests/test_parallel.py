"""One step beside another: same results with and without a child process."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from crmbook.ids import run_id_step
from crmbook.parallel import beside, beside_each, forking_allowed
from crmbook.reader import read_book
from crmbook.refresh import plan_refresh, refresh
from crmbook.state import STATE_SHEET, State

needs_fork = pytest.mark.skipif(not forking_allowed(), reason="no second core or no fork here")


def _whose_pid() -> int:
    return os.getpid()


def _square(n: int) -> int:
    return n * n


def _fails() -> int:
    raise RuntimeError("boom")


def _child_dies() -> int:
    if os.getpid() != PARENT:
        os._exit(3)
    return 7


PARENT = os.getpid()


@needs_fork
def test_the_step_runs_in_another_process_and_returns_its_result() -> None:
    with beside(_whose_pid) as step:
        assert step.result() != os.getpid()
    with beside(_square, 12) as step:
        assert step.result() == 144


def test_without_workers_the_step_runs_at_once_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMBOOK_WORKERS", "1")
    assert not forking_allowed()
    seen = []
    with beside(seen.append, "now") as step:
        assert seen == ["now"]  # before the parent goes on, so it sees the data as it was
        assert step.result() is None
    assert beside(_whose_pid).result() == os.getpid()


@needs_fork
def test_a_failing_or_dying_child_is_replaced_by_the_parent() -> None:
    with beside(_child_dies) as step:
        assert step.result() == 7
    with beside(_fails) as step, pytest.raises(RuntimeError, match="boom"):
        step.result()  # the parent's own run raises the error, as it would without a child


@needs_fork
def test_leaving_the_block_early_stops_the_child() -> None:
    with pytest.raises(KeyError), beside(_square, 3) as step:
        pid = step._pid
        raise KeyError("the parent's own step failed")
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: nothing left behind


def test_a_refresh_plans_the_same_with_and_without_a_second_core(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sample_book
    now = dt.datetime(2026, 11, 22, 9, 0)

    def plan(workers: str):  # type: ignore[no-untyped-def]
        monkeypatch.setenv("CRMBOOK_WORKERS", workers)
        book, structural = read_book(path, today=now.date())
        return plan_refresh(book, structural, now=now)

    for _ in ("first refresh", "a book refreshed before"):
        alone, beside_it = plan("1"), plan("2")
        assert alone.summary() == beside_it.summary()
        assert alone.duplicate_pairs > 0
        assert alone.changeset == beside_it.changeset
        assert alone.report.issues == beside_it.report.issues
        refresh(path, now=now)


@needs_fork
def test_a_refresh_writes_the_same_file_with_and_without_a_second_core(
    sample_book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2026, 11, 22, 9, 0)
    written = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("CRMBOOK_WORKERS", workers)
        copy = tmp_path / f"crm-{workers}.xlsx"
        shutil.copyfile(sample_book, copy)
        refresh(copy, now=now, today=now.date())
        written[workers] = copy.read_bytes()
    assert written["1"] == written["2"]  # the cell edits worked out in the child are the parent's own


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_plan_numbers_records_as_the_id_step_in_one_go(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The plan numbers the contacts, follow-ups and deals beside its own steps: the writes, issues,
    counts and high-water marks are those of the ID step run in one go, in its order."""
    monkeypatch.setenv("CRMBOOK_WORKERS", workers)
    today = dt.date(2026, 11, 22)
    book, structural = read_book(sample_book, today=today)
    plan = plan_refresh(book, structural, now=dt.datetime(2026, 11, 22, 9, 0))
    one_go = run_id_step(book, {}, today)  # on the reader's frames (the plan worked on a copy)
    expected = [
        (book.tables[k].sheet_name, row, col, value) for k, row, col, value in one_go.cell_writes(book)
    ]
    got = [(w.sheet, w.row, w.col, w.value) for w in plan.changeset.cell_writes[: len(expected)]]
    assert got == expected and one_go.ids_assigned > 0 and one_go.refs_filled > 0
    assert (plan.ids_assigned, plan.refs_filled) == (one_go.ids_assigned, one_go.refs_filled)
    id_codes = {i.code for i in one_go.issues}
    assert [i for i in plan.report.issues if i.code in id_codes] == one_go.issues
    written = next(s for s in plan.changeset.owned_sheets if s.name == STATE_SHEET)
    grid = [[cell.value if cell is not None else None for cell in row] for row in written.rows]
    assert State.from_grids(grid, {}).high_water == one_go.high_water


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_plan_leaves_the_book_it_was_given_as_it_was(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The plan numbers, fills references and derived cells on frames of its own; the caller's frames
    (whose arrays it shares) keep their blanks, on a first refresh and on a book refreshed before."""
    monkeypatch.setenv("CRMBOOK_WORKERS", workers)
    now = dt.datetime(2026, 11, 22, 9, 0)
    for first in (True, False):
        book, structural = read_book(sample_book, today=now.date())
        before = {key: table.data.copy() for key, table in book.tables.items()}
        plan = plan_refresh(book, structural, now=now)
        assert bool(plan.changeset.cell_writes) == first  # IDs, references, derived cells
        for key, table in book.tables.items():
            assert table.data.equals(before[key]), key
        refresh(sample_book, now=now)


def _slow() -> int:
    import time

    time.sleep(30)
    return 1


@needs_fork
def test_an_interrupted_wait_stops_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object) -> bytes:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), beside(_slow) as step:
        pid = step._pid
        monkeypatch.setattr(os, "fdopen", interrupted)  # Ctrl-C while the parent waits for the child
        step.result()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_the_head_start_reads_the_customers_as_the_duplicate_search_would(sample_book: Path) -> None:
    from crmbook.dedupe import customer_features
    from crmbook.phones import _parse, parse_phone_cell
    from crmbook.refresh import HeadStart

    _parse.cache_clear()
    with HeadStart() as head_start:
        book, _ = read_book(sample_book, on_table=head_start.table_read)
        features = head_start.customer_features()
    assert features is not None
    assert features == customer_features(book.tables["customers"].data)
    mobiles = set(book.tables["contacts"].data["mobile"].dropna())
    before = _parse.cache_info()
    for value in mobiles:
        parse_phone_cell(value)
    assert mobiles and _parse.cache_info().misses == before.misses  # the contacts' numbers were parsed


def test_a_plan_with_a_head_start_is_the_plan_without(sample_book: Path) -> None:
    from crmbook.refresh import HeadStart

    now = dt.datetime(2026, 11, 22, 9, 0)
    with HeadStart() as head_start:
        book, structural = read_book(sample_book, today=now.date(), on_table=head_start.table_read)
        features = head_start.customer_features()
    with_it = plan_refresh(book, structural, now=now, customer_features=features)
    without = plan_refresh(book, structural, now=now)
    assert with_it.duplicate_pairs > 0
    assert with_it.changeset == without.changeset
    assert with_it.report.issues == without.report.issues


def test_a_failed_head_start_only_loses_the_head_start(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    refresh_module = importlib.import_module("crmbook.refresh")  # the package's `refresh` is the function

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(refresh_module, "customer_features", broken)
    with refresh_module.HeadStart() as head_start:
        read_book(sample_book, on_table=head_start.table_read)
        assert head_start.customer_features() is None
    result = refresh(sample_book, dry_run=True)
    assert result.plan.duplicate_pairs > 0


def _steps(n: int):  # type: ignore[no-untyped-def]
    yield os.getpid()
    yield n * n
    if os.getpid() != PARENT:
        os._exit(3)  # the child dies before its last result
    yield n + 1


@needs_fork
def test_steps_send_each_result_and_the_parent_takes_over_when_the_child_dies() -> None:
    with beside_each(_steps, 5) as steps:
        assert steps.next() != os.getpid()  # sent by the child
        assert steps.next() == 25
        assert steps.next() == 6  # the child died: the parent ran the steps afresh and skipped two


def test_without_workers_the_steps_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMBOOK_WORKERS", "1")
    with beside_each(_steps, 3) as steps:
        assert [steps.next(), steps.next(), steps.next()] == [os.getpid(), 9, 4]


def test_what_a_refresh_keeps_is_not_scanned_when_the_collector_is_back_on() -> None:
    import gc

    from crmbook.refresh import cyclic_gc_paused

    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        kept = [[i] for i in range(50_000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 1_000  # nothing left for the next young collection to scan
    assert gc.is_tracked(kept[0])
    assert any(obj is kept for obj in gc.get_objects(generation=2))


def test_objects_a_process_froze_stay_frozen() -> None:
    import gc

    from crmbook.refresh import cyclic_gc_paused

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with cyclic_gc_paused():
            pass
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()


def _deflated_size(data: bytes) -> tuple[int, int]:
    """(the process that deflated ``data``, the size it came to) after at most a few seconds."""
    from crmbook.ooxml import zipout

    return os.getpid(), len(zipout._deflating(data).result(timeout=5)[1])


@needs_fork
def test_a_child_deflates_in_the_background_after_its_parent_did() -> None:
    # The parent's deflating threads are not in the child: a pool inherited from it would take the work
    # and never do it (the child would time out, and the parent would have to do the step itself).
    data = b"<row/>" * 200_000
    _, here = _deflated_size(data)  # the parent's pool now exists, with its threads
    with beside(_deflated_size, data) as step:
        whose, size = step.result()
    assert whose != os.getpid() and size == here


@needs_fork
def test_steps_started_in_place_run_in_this_process() -> None:
    from crmbook.parallel import in_place

    with in_place():
        assert not forking_allowed()
        with beside(_whose_pid) as step:
            assert step.result() == os.getpid()
    assert forking_allowed()


@needs_fork
def test_a_spliced_package_comes_back_from_a_child_as_its_bytes() -> None:
    # A result that does not unpickle makes the parent do the step again itself: it must unpickle.
    from crmbook.ooxml.writer import SplicedPackage

    def spliced() -> bytes:
        return SplicedPackage(b"PK package", {"xl/worksheets/sheet1.xml": (b"<worksheet>", [b"<c/>"])})

    with beside(_pid_and, spliced) as step:
        whose, data = step.result()
    assert whose != os.getpid() and data == b"PK package"


def _pid_and(make: Any) -> tuple[int, Any]:
    return os.getpid(), make()


def test_the_second_process_starts_once_the_head_start_thread_is_done(
    sample_book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread still at work when the process forks may hold a lock the child then waits for forever
    (phonenumbers loads a region's metadata under one): a refresh hung so. The plan asks for the head
    start's result, which waits for its thread, before it starts the second process."""
    import importlib

    refresh_module = importlib.import_module("crmbook.refresh")  # the package names a function refresh
    events: list[str] = []
    started = refresh_module.beside_each

    def beside_each(*args: Any) -> Any:
        events.append("fork")
        return started(*args)

    def features() -> None:
        events.append("head start done")

    monkeypatch.setattr(refresh_module, "beside_each", beside_each)
    book, structural = read_book(sample_book, today=dt.date(2026, 11, 22))
    plan_refresh(book, structural, customer_features=features)
    assert events == ["head start done", "fork"]


def test_what_the_second_process_finds_comes_back_as_it_was(sample_book: Path) -> None:
    """The child's findings travel as columns (BesideSteps.__reduce__): IDs and their writes, issues
    and the changes people made come back equal, in order."""
    import pickle

    from crmbook.changeset import CellWrite, Changeset
    from crmbook.ids import customer_ids_and_references
    from crmbook.ooxml import apply_changeset
    from crmbook.refresh import _beside_steps, _own_frames
    from crmbook.state import working_copy

    now = dt.datetime(2026, 11, 22, 9, 0)
    refresh(sample_book, now=now)
    book, _ = read_book(sample_book, today=now.date())
    followups = book.tables["followups"]
    subject, contact_id = followups.col("subject"), book.tables["contacts"].col("contact_id")
    assert subject is not None and contact_id is not None
    edits = [
        CellWrite(followups.sheet_name, int(row), subject, f"改 {n}")
        for n, row in enumerate(followups.data.index[:40])
    ]
    contacts = book.tables["contacts"]
    edits.append(CellWrite(contacts.sheet_name, int(contacts.data.index[0]), contact_id, None))
    sample_book.write_bytes(apply_changeset(sample_book, Changeset(cell_writes=edits), lang=book.lang))
    book, _ = read_book(sample_book, today=now.date())
    own = _own_frames(book)
    state = working_copy(own.state, sections=False)
    first = customer_ids_and_references(own, state.high_water, own.today)
    found = next(_beside_steps(own, first, state.snapshots, None))
    assert found.id_writes and any(found.cell_issues.values())
    assert len(found.remembered["followups"].changes) >= 40
    assert pickle.loads(pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)) == found
