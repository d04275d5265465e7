"""Kill crmbook (SIGKILL) at random moments while it refreshes: the workbook is always before or after."""

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
RECORD_SHEETS = ("客户", "联系人", "跟进记录", "销售机会")
RUN = "import sys, datetime as dt\nfrom crmbook.refresh import refresh\nrefresh(sys.argv[1], today=dt.date(2026, 11, 22), lock_timeout=30)\n"


def _records(path: Path) -> list[list[list[object]]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return [wb.get_sheet_by_name(s).to_python() for s in RECORD_SHEETS]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_refresh_killed_at_random_moments(tmp_path: Path) -> None:
    from crmbook.template import create_workbook

    sample_master = create_workbook(tmp_path / "master" / "crm.xlsx", sample=30, seed=5)
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(sample_master, book)
    before = _records(book)
    done = tmp_path / "done.xlsx"
    shutil.copyfile(sample_master, done)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, str(done)], check=True, timeout=120)
    full = time.perf_counter() - started
    after = _records(done)
    rng = random.Random(20261122)
    tried = survived = completed = 0
    deadline = time.monotonic() + BUDGET_SECONDS
    while tried < KILLS and time.monotonic() < deadline:
        shutil.copyfile(sample_master, book)
        for leftover in tmp_path.glob(".~crmbook-*"):
            leftover.unlink()
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN, str(book)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
        backups = (
            list((tmp_path / ".crmbook-backups").glob("*.xlsx"))
            if (tmp_path / ".crmbook-backups").exists()
            else []
        )
        for b in backups:
            assert _records(b) == before  # backups are whole copies of the previous version
            b.unlink()
    print(
        f"\ncrash safety: {tried} kills tried, {survived} survived ({completed} after the write, {survived - completed} before)"
    )
    assert tried >= min(KILLS, 10)
    assert survived == tried
