"""Refresh: validate, assign IDs, flag duplicates, roll up, write the report sheets back.

:func:`plan_refresh` is pure: a :class:`~crmbook.book.Book` in, a
:class:`RefreshPlan` (changeset + report) out. :func:`refresh` reads the
file, plans, and hands the changeset to the file engine, which patches the
workbook surgically and saves it safely. The Excel button runs the same
:func:`plan_refresh` and applies the same changeset through xlwings.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import gc
import itertools
import operator
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from crmbook.book import Book, Table, written_over
from crmbook.changelog import Change, build_changelog_sheet, diff_table, updated_writes
from crmbook.changeset import CellWrite, Changeset, OwnedSheet
from crmbook.dashboard import build_dashboard
from crmbook.dedupe import CustomerFeatures, customer_features, find_duplicates
from crmbook.duplicates_sheet import build_duplicates_sheet, read_decisions
from crmbook.ids import CHILD_SHEETS, IdAssignment, child_sheet_ids, customer_ids_and_references
from crmbook.issue_summary import SummaryLine, summarize
from crmbook.issues import Issue, Report
from crmbook.issues_sheet import build_issues_sheet, highlights_for
from crmbook.parallel import beside_each
from crmbook.phones import parse_phone_cell
from crmbook.reminders import build_reminders
from crmbook.rollup import customer_rollup, derived_writes
from crmbook.schema import Lang, load_schema
from crmbook.snapshot import Snapshot, same, snapshot_sheet, take_snapshot
from crmbook.state import is_data_sheet, state_sheet, working_copy
from crmbook.typed import typed_tables
from crmbook.validate import NOT_IN_FUTURE, IssuesBySheet, in_sheet_order, validate_cells, validate_typed

__all__ = ["HeadStart", "RefreshPlan", "RefreshResult", "WritePreparer", "plan_refresh", "refresh"]


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
    issue_summary: list[SummaryLine] = field(default_factory=list)  # the Issues sheet's first block

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
    written_over(book, writes)  # a formula a value is written into is one no longer
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


def _own_frames(book: Book) -> Book:
    """``book`` with frames of its own: a step may replace their columns (the ID step,
    :func:`_apply_to_frames`) without changing ``book``'s. Columns are never written into, so the
    arrays themselves are shared, not copied."""
    book = copy.copy(book)
    book.tables = {k: copy.copy(t) for k, t in book.tables.items()}
    for t in book.tables.values():
        t.data = t.data.copy(deep=False)
    return book


def plan_refresh(
    book: Book,
    structural: list[Issue] | None = None,
    *,
    now: dt.datetime | None = None,
    preparer: WritePreparer | None = None,
    customer_features: CustomerFeatures | Callable[[], CustomerFeatures | None] | None = None,
) -> RefreshPlan:
    """Compute a refresh of ``book`` without touching any file.

    The book's frames are not modified (the plan works on a copy). ``preparer``, when given, is
    handed each sheet's cell writes as soon as they are final, so the file engine can start patching
    while the plan goes on (see :class:`WritePreparer`). ``customer_features``: the duplicate
    search's reading of the customers sheet, when already worked out, or what gives it once it is
    (:meth:`HeadStart.customer_features`), asked before the second process starts.
    """
    now = now or dt.datetime.now()
    schema = load_schema()
    book = _own_frames(book)
    state = working_copy(book.state, sections=False)  # a refresh changes no module's section
    lang = book.lang
    report = Report()
    report.extend(list(structural or []))
    changeset = Changeset()

    # 1 for the other sheets (their own IDs, which no step here needs), 2a, 3 and 5 for every sheet but
    # customers need only the records with their customers' IDs: they run beside 2b, 4 and 5 for
    # customers (on a second core), once the customers' IDs and references are there.
    decisions = read_decisions(book.duplicates_grid, lang) if book.duplicates_grid else {}
    for group, decision in decisions.items():
        if decision == "not_duplicate":
            state.not_duplicates.update(tuple(sorted(p)) for p in itertools.combinations(sorted(group), 2))
    # Only the customers sheet gets more writes here (derived columns, updated dates).
    customers_sheet = book.tables["customers"].sheet_name if "customers" in book.tables else None
    # 1. IDs and customer references: customers first, then references.
    id_step = customer_ids_and_references(book, state.high_water, book.today)  # into the frames too
    id_writes = _id_cell_writes(book, id_step)
    changeset.cell_writes.extend(id_writes)
    report.extend(id_step.issues)
    # The head start's thread is done before the second process starts: a lock a working thread holds
    # at the fork (phonenumbers loads a region's metadata under one) would stay held in the child.
    features = customer_features() if callable(customer_features) else customer_features
    beside_args = (book, id_step, state.snapshots, None if preparer is None else preparer.ahead)
    with beside_each(_beside_steps, *beside_args) as rest:
        # 3. Duplicates (decisions the user already typed survive the rebuild).
        dups = find_duplicates(book, not_duplicates=frozenset(state.not_duplicates), features=features)
        duplicates_sheet = build_duplicates_sheet(book, dups, previous_decisions=decisions)
        # 2a for the customers sheet (the other sheets' is beside), on the cells as people typed them.
        customer_cell_issues = validate_cells(book, {"customers"})

        # 2b. Validation of typed values, on the values as they will be after this refresh.
        typed = typed_tables(book, CALCULATED)
        typed_issues = validate_typed(book, typed)

        # 4. Roll-ups into the derived customer columns.
        rollup = customer_rollup(typed, book.settings, book.today)
        derived = derived_writes(book, rollup)
        changeset.cell_writes.extend(derived)
        _apply_to_frames(book, derived)

        # 5. What people changed since the last refresh (derived columns are not in snapshots): the
        # customers whose content changed get today's updated date.
        refreshed_before = book.state is not None
        remembered = {
            key: remember(table, state.snapshots, refreshed_before)
            for key, table in book.tables.items()
            if key not in CHILD_SHEETS
        }
        if "customers" in remembered:
            updated = updated_writes(book, remembered["customers"].changes, book.today)
            changeset.cell_writes.extend(updated)
            _apply_to_frames(book, updated)

        reminders = build_reminders(book, typed, rollup)
        # Owned sheets already final, rendered while the child may still be at work.
        final_owned = [reminders, duplicates_sheet]
        if preparer is not None:  # every cell write is known: nothing below adds one
            preparer.prepare([w for w in changeset.cell_writes if w.sheet == customers_sheet])
            preparer.prepare_owned(final_owned)
        found: BesideSteps = rest.next()
        changeset.cell_writes[len(id_writes) : len(id_writes)] = found.id_writes  # in the ID step's order
        state.high_water = dict(found.ids.high_water)
        report.extend(found.ids.issues)
        report.extend(in_sheet_order(book, {**found.cell_issues, **customer_cell_issues}, typed_issues))
        remembered.update(found.remembered)
        # 5 for the other sheets the child numbered, now that their IDs are here.
        later = {t.sheet_name: key for key, t in book.tables.items() if key not in remembered}
        _apply_to_frames(book, [w for w in found.id_writes if w.sheet in later])
        remembered.update(
            {key: remember(book.tables[key], state.snapshots, refreshed_before) for key in later.values()}
        )
        changes = [c for key in book.tables for c in remembered[key].changes]
        snapshots = [remembered[key].sheet for key in book.tables if remembered[key].sheet is not None]

        # 6. The sheets crmbook owns.
        state.last_refresh = now.isoformat(timespec="seconds")
        issue_list = report.issues
        issue_summary = summarize(issue_list, book.sheet_names, lang)
        changeset.highlights.extend(highlights_for(issue_list))
        changeset.highlight_sheets.update(t.sheet_name for t in book.tables.values())
        # crmbook's data sheets a spreadsheet program showed (Gnumeric shows them all) are hidden again,
        # the ones not rewritten here too
        changeset.sheet_states.update({n: "veryHidden" for n in book.sheet_names if is_data_sheet(n)})
        # records typed below a sheet's Excel table (LibreOffice does not widen it) join the table
        changeset.table_reach.update(
            {t.sheet_name: int(t.data.index.max()) for t in book.tables.values() if len(t.data)}
        )
        changeset.owned_sheets += [
            build_dashboard(
                book,
                typed,
                rollup,
                issue_counts=report.counts(),
                duplicate_pairs=len(dups.pairs),
                generated_at=now,
                issue_summary=issue_summary,
            ),
            build_issues_sheet(
                issue_list, lang, generated_at=now, sheet_order=book.sheet_names, summary=issue_summary
            ),
            reminders,
            duplicates_sheet,
            build_changelog_sheet(
                schema.owned_sheet_name("changelog", lang), book.changelog, changes, lang, now
            ),
            state_sheet(state),
            *snapshots,
        ]
        if preparer is not None:
            # Rendered while the child still works out the other sheets' cell edits (its last step).
            preparer.prepare_owned(
                [s for s in changeset.owned_sheets if all(s is not f for f in final_owned)]
            )
            preparer.adopt(rest.next())
    return RefreshPlan(
        changeset=changeset,
        report=report,
        lang=lang,
        ids_assigned=id_step.ids_assigned + found.ids.ids_assigned,
        refs_filled=id_step.refs_filled,
        duplicate_pairs=len(dups.pairs),
        duplicate_clusters=len(dups.clusters),
        changes=changes,
        derived_cells=len(derived),
        issue_summary=issue_summary,
    )


# The columns the steps calculate with (roll-ups, reminders, the dashboard, rules on typed values,
# the dates that cannot lie in the future among them): the others need no typed view.
CALCULATED = {
    sheet: frozenset(keys) | NOT_IN_FUTURE
    for sheet, keys in {
        "customers": {"customer_id", "name", "owner", "lost_reason", "level", "status", "source", "industry"},
        "contacts": {"customer_id", "primary"},
        "followups": {"customer_id", "owner", "contract_no", "done", "deal_closed", "next_date"},
        "opportunities": {
            "customer_id",
            "win_loss_reason",
            "stage",
            "probability",
            "expected_amount",
            "actual_amount",
        },
    }.items()
}

# Step 5 for these sheets runs beside the plan's own steps (it may, for any sheet but customers: only
# the customers sheet gets writes after the IDs); for the other sheets the child numbers, it runs here
# once their IDs are back, while the child works out the cell edits (the plan's steps keep both busy).
REMEMBERED_BESIDE = frozenset({"followups", "opportunities"})


@dataclass(frozen=True)
class Remembered:
    """Step 5 for one sheet: what people changed since the last refresh, and the snapshot sheet
    to write (None when the snapshot is the one already in the workbook)."""

    changes: list[Change]
    sheet: OwnedSheet | None


def remember(table: Table, previous: dict[str, Snapshot], refreshed_before: bool) -> Remembered:
    """Take ``table``'s snapshot and compare it with the one the last refresh left (``previous``)."""
    snapshot, before = take_snapshot(table), previous.get(table.key)
    changes = diff_table(table, before, snapshot) if refreshed_before and before is not None else []
    unchanged = refreshed_before and same(before, snapshot)
    return Remembered(changes, None if unchanged else snapshot_sheet(table.key, snapshot))


def _id_cell_writes(book: Book, ids: IdAssignment) -> list[CellWrite]:
    return [
        CellWrite(book.tables[sheet_key].sheet_name, row, col, value)
        for sheet_key, row, col, value in ids.cell_writes(book)
    ]


@dataclass(frozen=True)
class BesideSteps:
    """What :func:`_beside_steps` found."""

    ids: IdAssignment  # the IDs of the sheets in crmbook.ids.CHILD_SHEETS
    id_writes: list[CellWrite]
    cell_issues: IssuesBySheet
    remembered: dict[str, Remembered]  # the sheets in REMEMBERED_BESIDE

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as columns of plain values: the 100,000 changes and 30,000 issues of a refresh after
        a team's collect unpickle several times faster as lists than object by object (the process that
        waits for them does the unpickling)."""
        return (
            _steps_from_columns,
            (
                self.ids,
                list(zip(*map(_WRITE_FIELDS, self.id_writes), strict=True)),
                {
                    key: list(zip(*map(_ISSUE_FIELDS, found), strict=True))
                    for key, found in self.cell_issues.items()
                },
                {key: (list(zip(*r.changes, strict=True)), r.sheet) for key, r in self.remembered.items()},
            ),
        )


_WRITE_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(CellWrite)))
_ISSUE_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Issue)))


def _steps_from_columns(
    ids: IdAssignment,
    id_writes: list[tuple[Any, ...]],
    cell_issues: dict[str, list[tuple[Any, ...]]],
    remembered: dict[str, tuple[list[tuple[Any, ...]], OwnedSheet | None]],
) -> BesideSteps:
    def rows(make: Callable[..., Any], columns: list[tuple[Any, ...]]) -> list[Any]:
        return list(map(make, *columns)) if columns else []

    return BesideSteps(
        ids,
        rows(CellWrite, id_writes),
        {key: rows(Issue, columns) for key, columns in cell_issues.items()},
        {key: Remembered(rows(Change, columns), sheet) for key, (columns, sheet) in remembered.items()},
    )


def _beside_steps(
    book: Book,
    customer_ids: IdAssignment,
    previous: dict[str, Snapshot],
    ahead: Callable[[list[CellWrite]], Any] | None,
) -> Iterator[Any]:
    """1. IDs of the other sheets, after the customers' and references (``customer_ids``, already in
    ``book``'s frames), on frames of its own: ``book``'s are not written to.

    2a. Validation of the cells as people typed them, on every sheet but customers.

    5. Snapshots and changes of the sheets in :data:`REMEMBERED_BESIDE`.

    All of them as one :class:`BesideSteps`; then, with ``ahead``, the file engine's head start on
    the sheets whose writes are final (all but customers). None of them reads the columns steps 4 and
    5 write on the customers sheet (derived and updated dates), and no step of the plan's own reads
    the IDs numbered here, so the results are the same whether they are worked out in a child
    process, at once, or after those steps.
    """
    book = _own_frames(book)
    ids = child_sheet_ids(book, customer_ids.high_water, book.today)
    id_writes = _id_cell_writes(book, ids)
    issues = validate_cells(book, book.tables.keys() - {"customers"})
    refreshed_before = book.state is not None
    remembered = {
        key: remember(table, previous, refreshed_before)
        for key, table in book.tables.items()
        if key in REMEMBERED_BESIDE
    }
    yield BesideSteps(ids, id_writes, issues, remembered)
    if ahead is not None:
        customers_sheet = book.tables["customers"].sheet_name if "customers" in book.tables else None
        final = [w for w in _id_cell_writes(book, customer_ids) if w.sheet != customers_sheet] + id_writes
        yield ahead(final)


def _parse_phones(table: Table) -> None:
    """Parse each phone cell of ``table`` once; what :func:`parse_phone_cell` parsed it keeps."""
    for col in table.spec.columns:
        if col.type == "phone" and col.key in table.data:
            for value in set(table.data[col.key].dropna().tolist()):
                parse_phone_cell(value)


class HeadStart:
    """Work a refresh starts while the book is still being read.

    The follow-ups sheet, the biggest, is the last one read; calamine parses it without holding Python's
    interpreter lock, on one core, and the other sheets are read well before it is done. A thread
    works on the core calamine leaves free: the duplicate search's reading of the customers (names,
    phones and addresses parsed, see :func:`crmbook.dedupe.customer_features`), then the phone
    numbers of every other sheet read by then (parsed once: :func:`crmbook.phones.parse_phone_cell`
    remembers them for validation). That core also reads the smaller sheets: more work here (typing
    the sheets as they arrive was measured) only makes the read longer.

    Give :meth:`table_read` to the reader; :meth:`customer_features`
    waits for the thread (None when there was nothing to start, or it failed: the duplicate search
    then does the work itself).
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmbook-head-start")
        self._features: Future[CustomerFeatures] | None = None

    def table_read(self, table: Table) -> None:
        if table.key == "customers" and self._features is None:
            self._features = self._pool.submit(customer_features, table.data)
        else:
            self._pool.submit(_parse_phones, table)

    def customer_features(self) -> CustomerFeatures | None:
        self._pool.shutdown(wait=True)
        try:
            return self._features.result() if self._features is not None else None
        except Exception:  # the duplicate search works them out again and reports what is wrong
            return None

    def __enter__(self) -> HeadStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class WritePreparer(Protocol):
    """What lets the file engine start patching before a refresh plan is done
    (:class:`crmbook.edit.Editing`): cell writes go to it sheet by sheet once they are final."""

    def ahead(self, writes: list[CellWrite]) -> Any:
        """Work on ``writes`` anywhere, a child process included; a picklable result for :meth:`adopt`."""

    def adopt(self, prepared: Any) -> None:
        """Take in what :meth:`ahead` worked out."""

    def prepare(self, writes: list[CellWrite]) -> None:
        """Work on ``writes`` here."""

    def prepare_owned(self, owned_sheets: list[OwnedSheet]) -> None:
        """Render ``owned_sheets`` here (the changeset's own, not changed after)."""


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the duration of one run.

    A refresh allocates millions of short-lived objects that reference counting frees;
    the cycle collector keeps scanning them anyway (10-20% of a refresh on the M book,
    measured with benchmarks/run.py). It is switched back on, as it was, afterwards, with what the
    run allocated and kept (the plan, caches) moved to the oldest generation as they are: the first
    collection after switching it on would otherwise scan them all (300,000 objects, 0.08 s on the
    M book) only to keep them. A process that froze objects of its own (``gc.freeze``) keeps them
    frozen: then nothing is moved.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()  # every tracked object to the permanent generation ...
                gc.unfreeze()  # ... and from there to the oldest one: no scan either way
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
    with (
        HeadStart() as head_start,
        cyclic_gc_paused(),
        editing(path, today, lock_timeout=lock_timeout, on_table=head_start.table_read) as edit,
    ):
        plan = plan_refresh(
            edit.book,
            edit.structural,
            now=now,
            preparer=None if dry_run else edit,
            customer_features=head_start.customer_features,  # waited for after the ID step
        )
        backup = None if dry_run else edit.save(plan.changeset)
    return RefreshResult(edit.path, plan, not dry_run, time.perf_counter() - started, backup)
