"""Kill crmbook (SIGKILL) at random moments while it writes: the workbook is always before or after.

Refresh, merge and import each run in a subprocess that is killed after a random delay, many times over. After
every kill the workbook opens, its record sheets equal the version before or the version after, a later
run is not blocked by the killed run's lock or temporary file, and any backup is a whole copy of the
version before. ``CRMBOOK_KILLS`` and ``CRMBOOK_KILL_SECONDS`` bound each test (defaults 120 kills, 80 s
for refresh; half that for merge and for import).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import python_calamine as pc

from crmbook.safe_save import run_lock

KILLS = int(os.environ.get("CRMBOOK_KILLS", "120"))
BUDGET_SECONDS = float(os.environ.get("CRMBOOK_KILL_SECONDS", "80"))
MIN_KILLS = 10
RECORD_SHEETS = ("客户", "联系人", "跟进记录", "销售机会")
HEADER = "import sys, datetime as dt\n"
REFRESH = HEADER + (
    "from crmbook.refresh import refresh\nrefresh(sys.argv[1], today=dt.date(2026, 11, 22), lock_timeout=30)\n"
)
IMPORT = (
    HEADER
    + "from crmbook.importer import import_file\n"
    + "import_file(sys.argv[2], sys.argv[1], today=dt.date(2026, 11, 22), lock_timeout=30)\n"
)
MERGE = (
    HEADER
    + "from crmbook.merge import merge\nmerge(sys.argv[1], today=dt.date(2026, 11, 22), lock_timeout=30)\n"
)


def _records(path: Path) -> list[list[list[object]]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return [wb.get_sheet_by_name(s).to_python() for s in RECORD_SHEETS]


def _kill_repeatedly(
    master: Path, folder: Path, code: str, kills: int, budget: float, extra: tuple[str, ...] = ()
) -> tuple[int, int, int]:
    """(kills tried, survived, runs that had finished writing) for ``code`` run on copies of ``master``."""
    book = folder / "crm.xlsx"
    shutil.copyfile(master, book)
    before = _records(book)
    done = folder / "done.xlsx"
    shutil.copyfile(master, done)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(done), *extra], check=True, timeout=120)
    full = time.perf_counter() - started
    after = _records(done)
    assert after != before, "the run changes nothing, so the test could not tell before from after"
    rng = random.Random(20261122)
    tried = survived = completed = 0
    deadline = time.monotonic() + budget
    # The time budget is soft: on a busy machine each run is slower, and at least MIN_KILLS are tried.
    while tried < kills and (time.monotonic() < deadline or tried < min(kills, MIN_KILLS)):
        shutil.copyfile(master, book)
        for leftover in folder.glob(".~crmbook-*"):
            leftover.unlink()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(book), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        tried += 1
        state = _records(book)  # the workbook still opens
        assert state in (before, after), (
            f"kill #{tried}: record sheets are neither the old nor the new version"
        )
        survived += 1
        completed += state == after
        # A later run is not blocked by the killed run's lock or temporary file.
        with run_lock(book, timeout=2):
            pass
        backups = folder / ".crmbook-backups"
        for b in backups.glob("*.xlsx") if backups.exists() else []:
            assert _records(b) == before  # backups are whole copies of the previous version
            b.unlink()
    return tried, survived, completed


def _report(what: str, tried: int, survived: int, completed: int) -> None:
    print(
        f"\ncrash safety ({what}): {tried} kills tried, {survived} survived "
        f"({completed} after the write, {survived - completed} before)"
    )
    assert tried >= min(KILLS // 2, MIN_KILLS)
    assert survived == tried


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_refresh_killed_at_random_moments(tmp_path: Path) -> None:
    from crmbook.template import create_workbook

    master = create_workbook(tmp_path / "master" / "crm.xlsx", sample=30, seed=5)
    _report("refresh", *_kill_repeatedly(master, tmp_path, REFRESH, KILLS, BUDGET_SECONDS))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_merge_killed_at_random_moments(tmp_path: Path) -> None:
    from crmbook.changeset import CellWrite, Changeset
    from crmbook.ooxml import apply_changeset
    from crmbook.reader import read_book
    from crmbook.refresh import refresh
    from crmbook.template import create_workbook

    master = create_workbook(tmp_path / "master" / "crm.xlsx", sample=60, seed=4)
    refresh(master)
    book, _ = read_book(master)
    starts = [
        r + 1 for r, row in enumerate(book.duplicates_grid) if r >= 3 and row and row[0] not in (None, "")
    ]
    assert starts, "the sample book has no duplicate group to merge"
    decisions = Changeset(cell_writes=[CellWrite("重复客户", r, 10, "合并") for r in starts])
    master.write_bytes(apply_changeset(master, decisions))
    _report("merge", *_kill_repeatedly(master, tmp_path, MERGE, KILLS // 2, BUDGET_SECONDS / 2))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_import_killed_at_random_moments(tmp_path: Path) -> None:
    from crmbook.refresh import refresh
    from crmbook.template import create_workbook
    from tests.legacy_corpus import make_corpus

    corpus = make_corpus(tmp_path / "legacy")
    master = create_workbook(tmp_path / "master" / "crm.xlsx", sample=30, seed=6)
    refresh(master)
    extra = (str(corpus.ledger),)
    _report("import", *_kill_repeatedly(master, tmp_path, IMPORT, KILLS // 2, BUDGET_SECONDS / 2, extra))
