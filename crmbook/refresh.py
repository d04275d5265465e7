"""Refresh: validate, assign IDs, flag duplicates, roll up, write the report sheets back.

:func:`plan_refresh` is pure: a :class:`~crmbook.book.Book` in, a
:class:`RefreshPlan` (changeset + report) out. :func:`refresh` reads the
file, plans, and hands the changeset to the file engine, which patches the
workbook surgically and saves it safely. The Excel button runs the same
:func:`plan_refresh` and applies the same changeset through xlwings.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import itertools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from crmbook.book import Book
from crmbook.changelog import Change, build_changelog_sheet, diff_table, updated_writes
from crmbook.changeset import CellWrite, Changeset, OwnedSheet
from crmbook.dashboard import build_dashboard
from crmbook.dedupe import DuplicateResult, find_duplicates
from crmbook.duplicates_sheet import build_duplicates_sheet, read_decisions
from crmbook.ids import run_id_step
from crmbook.issues import Issue, Report
from crmbook.issues_sheet import build_issues_sheet, highlights_for
from crmbook.parallel import beside
from crmbook.reminders import build_reminders
from crmbook.rollup import customer_rollup, derived_writes
from crmbook.schema import Lang, load_schema
from crmbook.snapshot import same, snapshot_sheet, take_snapshot
from crmbook.state import State, state_sheet
from crmbook.typed import typed_tables
from crmbook.validate import IssuesBySheet, in_sheet_order, validate_cells, validate_typed

__all__ = ["RefreshPlan", "RefreshResult", "WritePreparer", "plan_refresh", "refresh"]


@dataclass
class RefreshPlan:
    """Everything one refresh would change, and what it found."""

    changeset: Changeset
    report: Report
    lang: Lang = "zh"
    ids_assigned: int = 0
    refs_filled: int = 0
    duplicate_pairs: int = 0
    duplicate_clusters: int = 0
    changes: list[Change] = field(default_factory=list)
    derived_cells: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "ids_assigned": self.ids_assigned,
            "customer_refs_filled": self.refs_filled,
            "issues": self.report.counts(),
            "duplicate_pairs": self.duplicate_pairs,
            "duplicate_groups": self.duplicate_clusters,
            "changed_cells": sum(1 for c in self.changes if c.kind == "changed"),
            "derived_cells": self.derived_cells,
            "user_cells_written": len(self.changeset.cell_writes),
        }


@dataclass
class RefreshResult:
    path: str
    plan: RefreshPlan
    written: bool
    seconds: float
    backup_path: str | None = None


def _apply_to_frames(book: Book, writes: list[CellWrite]) -> None:
    """Mirror cell writes into the book's frames so later steps see the new values.

    Writes are grouped by column so each column is assigned once, not cell by cell.
    """
    by_sheet = {t.sheet_name: t for t in book.tables.values()}
    grouped: dict[tuple[str, int], dict[int, Any]] = {}
    for w in writes:
        grouped.setdefault((w.sheet, w.col), {})[w.row] = w.value
    for (sheet, col), values in grouped.items():
        table = by_sheet.get(sheet)
        if table is None:
            continue
        key = next((k for k, c in table.columns.items() if c == col), None)
        if key is None:
            continue
        rows = [r for r in values if r in table.data.index]
        if not rows:
            continue
        column = table.data[key].astype(object)
        column.loc[rows] = pd.Series([values[r] for r in rows], index=rows, dtype=object)
        table.data[key] = column


def _working_copy(state: State | None) -> State:
    """A copy of ``state`` this run may change; snapshots are shared, they are only ever replaced."""
    if state is None:
        return State()
    return State(
        high_water=dict(state.high_water),
        not_duplicates=set(state.not_duplicates),
        last_refresh=state.last_refresh,
        extra=copy.deepcopy(state.extra),
        snapshots=dict(state.snapshots),
    )


def plan_refresh(
    book: Book,
    structural: list[Issue] | None = None,
    *,
    now: dt.datetime | None = None,
    preparer: WritePreparer | None = None,
) -> RefreshPlan:
    """Compute a refresh of ``book`` without touching any file.

    The book's frames are not modified (the plan works on a copy). ``preparer``, when given, is
    handed each sheet's cell writes as soon as they are final, so the file engine can start patching
    while the plan goes on (see :class:`WritePreparer`).
    """
    now = now or dt.datetime.now()
    schema = load_schema()
    book = copy.copy(book)
    book.tables = {k: copy.copy(t) for k, t in book.tables.items()}
    for t in book.tables.values():
        t.data = t.data.copy()
    state = _working_copy(book.state)
    lang = book.lang
    report = Report()
    report.extend(list(structural or []))
    changeset = Changeset()

    # 1. IDs and customer references (customers first, then references, then children).
    id_step = run_id_step(book, state.high_water, book.today)
    id_writes = [
        CellWrite(book.tables[sheet_key].sheet_name, row, col, value)
        for sheet_key, row, col, value in id_step.cell_writes(book)
    ]
    _apply_to_frames(book, id_writes)
    changeset.cell_writes.extend(id_writes)
    state.high_water = dict(id_step.high_water)
    report.extend(id_step.issues)

    # 2a and 3 need only the records with their IDs: they run beside 2b, 4 and 5 (on a second core).
    decisions = read_decisions(book.duplicates_grid, lang) if book.duplicates_grid else {}
    for group, decision in decisions.items():
        if decision == "not_duplicate":
            state.not_duplicates.update(tuple(sorted(p)) for p in itertools.combinations(sorted(group), 2))
    # Only the customers sheet gets more writes below (derived columns, updated dates).
    customers_sheet = book.tables["customers"].sheet_name if "customers" in book.tables else None
    final = [w for w in id_writes if w.sheet != customers_sheet]
    ahead = (preparer.ahead, final) if preparer is not None and final else None
    with beside(_cells_and_duplicates, book, frozenset(state.not_duplicates), decisions, ahead) as rest:
        # 2b. Validation of typed values, on the values as they will be after this refresh.
        typed = typed_tables(book)
        typed_issues = validate_typed(book, typed)

        # 4. Roll-ups into the derived customer columns.
        rollup = customer_rollup(typed, book.settings, book.today)
        derived = derived_writes(book, rollup)
        changeset.cell_writes.extend(derived)
        _apply_to_frames(book, derived)

        # 5. What people changed since the last refresh (derived columns are not in snapshots).
        changes: list[Change] = []
        snapshots = []
        for key, table in book.tables.items():
            snapshot, previous = take_snapshot(table), state.snapshots.get(key)
            if book.state is not None and previous is not None:
                changes += diff_table(table, previous, snapshot)
            if book.state is None or not same(previous, snapshot):
                snapshots.append(snapshot_sheet(key, snapshot))
        if book.state is not None:
            updated = updated_writes(book, changes, book.today)
            changeset.cell_writes.extend(updated)
            _apply_to_frames(book, updated)

        reminders = build_reminders(book, typed, rollup)
        if preparer is not None:  # every cell write is known: nothing below adds one
            preparer.prepare([w for w in changeset.cell_writes if w.sheet == customers_sheet])
        cell_issues, dups, duplicates_sheet, prepared = rest.result()
    if preparer is not None and prepared is not None:
        preparer.adopt(prepared)
    report.extend(in_sheet_order(book, cell_issues, typed_issues))

    # 6. The sheets crmbook owns.
    state.last_refresh = now.isoformat(timespec="seconds")
    issue_list = report.issues
    changeset.highlights.extend(highlights_for(issue_list))
    changeset.highlight_sheets.update(t.sheet_name for t in book.tables.values())
    changeset.owned_sheets += [
        build_dashboard(
            book,
            typed,
            rollup,
            issue_counts=report.counts(),
            duplicate_pairs=len(dups.pairs),
            generated_at=now,
        ),
        build_issues_sheet(issue_list, lang, generated_at=now, sheet_order=book.sheet_names),
        reminders,
        duplicates_sheet,
        build_changelog_sheet(schema.owned_sheet_name("changelog", lang), book.changelog, changes, lang, now),
        state_sheet(state),
        *snapshots,
    ]
    return RefreshPlan(
        changeset=changeset,
        report=report,
        lang=lang,
        ids_assigned=id_step.ids_assigned,
        refs_filled=id_step.refs_filled,
        duplicate_pairs=len(dups.pairs),
        duplicate_clusters=len(dups.clusters),
        changes=changes,
        derived_cells=len(derived),
    )


def _cells_and_duplicates(
    book: Book,
    not_duplicates: frozenset[tuple[str, str]],
    decisions: dict[frozenset[str], str],
    ahead: tuple[Callable[[list[CellWrite]], Any], list[CellWrite]] | None,
) -> tuple[IssuesBySheet, DuplicateResult, OwnedSheet, Any]:
    """2a. Validation of the cells as people typed them.

    3. Duplicates (decisions the user already typed survive the rebuild).

    And the file engine's head start on the sheets whose writes are final (``ahead``).
    None of them reads the columns steps 4 and 5 write (derived and updated dates), so the result
    is the same whether it runs in a child process, at once, or after those steps.
    """
    dups = find_duplicates(book, not_duplicates=not_duplicates)
    issues = validate_cells(book)
    duplicates_sheet = build_duplicates_sheet(book, dups, previous_decisions=decisions)
    return issues, dups, duplicates_sheet, (ahead[0](ahead[1]) if ahead is not None else None)


class WritePreparer(Protocol):
    """What lets the file engine start patching before a refresh plan is done
    (:class:`crmbook.edit.Editing`): cell writes go to it sheet by sheet once they are final."""

    def ahead(self, writes: list[CellWrite]) -> Any:
        """Work on ``writes`` anywhere, a child process included; a picklable result for :meth:`adopt`."""

    def adopt(self, prepared: Any) -> None:
        """Take in what :meth:`ahead` worked out."""

    def prepare(self, writes: list[CellWrite]) -> None:
        """Work on ``writes`` here."""


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the duration of one run.

    A refresh allocates millions of short-lived objects that reference counting frees;
    the cycle collector keeps scanning them anyway (10-20% of a refresh on the M book,
    measured with benchmarks/run.py). It is switched back on, as it was, afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def refresh(
    path: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    lock_timeout: float = 10.0,
) -> RefreshResult:
    """Refresh the workbook at ``path`` in place (surgically, atomically, with a backup)."""
    from crmbook.edit import editing

    started = time.perf_counter()
    with editing(path, today, lock_timeout=lock_timeout) as edit, cyclic_gc_paused():
        plan = plan_refresh(edit.book, edit.structural, now=now, preparer=None if dry_run else edit)
        backup = None if dry_run else edit.save(plan.changeset)
    return RefreshResult(edit.path, plan, not dry_run, time.perf_counter() - started, backup)
