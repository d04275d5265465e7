"""SIGKILL during ``crmbook collect`` leaves the canonical workbook as before or as after, like every write.

The pattern of tests/test_crash_safety.py: collect runs in a subprocess killed after a random delay,
many times over; after every kill the workbook opens, its record sheets equal the version before or
after, the killed run's lock and temporary file do not block the next run, and a backup is a whole
copy of the version before.
"""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import openpyxl
import pytest

from tests.test_crash_safety import BUDGET_SECONDS, HEADER, KILLS, _kill_repeatedly, _report

COLLECT = (
    HEADER
    + "from crmbook.team_collect import collect\n"
    + "collect(sys.argv[2:], sys.argv[1], today=dt.date(2026, 11, 22), lock_timeout=30)\n"
)


def _work_in(path: Path) -> None:
    """A rep's edits: a cell changed on every customer, a customer added."""
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    notes = headers.index("备注") + 1
    last = 1
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, 1).value:
            ws.cell(r, notes).value = f"{path.stem}的备注 {r}"
            last = r
    ws.cell(last + 1, 2).value = f"{path.stem}的新客户有限公司"
    ws.cell(last + 1, headers.index("主联系电话") + 1).value = "13912340000"
    wb.save(path)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_collect_killed_at_random_moments(tmp_path: Path) -> None:
    from crmbook.team_split import split
    from crmbook.template import create_workbook

    today = dt.date(2026, 11, 22)
    master = create_workbook(tmp_path / "master" / "crm.xlsx", sample=30, seed=8, today=today)
    result = split(master, tmp_path / "team", today=today)
    reps = [f.path for f in result.files]
    for path in reps:
        _work_in(path)
    folder = tmp_path / "kill"
    folder.mkdir()
    extra = tuple(str(p) for p in reps)
    _report("collect", *_kill_repeatedly(master, folder, COLLECT, KILLS // 2, BUDGET_SECONDS / 2, extra))
