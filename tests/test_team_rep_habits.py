"""What reps really do to their files between a split and a collect, and what collect makes of it.

Each test is a habit seen in real use: a follow-up row copied and pasted, two copies of one file
passed around, a column deleted, a hidden sheet shown and deleted in LibreOffice, a deletion the
lead accepts. Rep files are edited the way a spreadsheet program saves them (openpyxl load and
save), as in ``test_team.py``, whose helpers these tests share.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from crmbook.team_collect import collect
from tests.test_team import NOW, TODAY, assert_valid_workbook, edit_in_excel, grid, team  # noqa: F401


def _rows(path: Path, sheet: str) -> list[list[object]]:
    return [r for r in grid(path, sheet)[1:] if any(v not in (None, "") for v in r)]


def test_a_pasted_follow_up_at_the_time_of_another_collects(
    team: tuple[Path, Path],  # noqa: F811
    sample_master: Path,
) -> None:
    """A rep copies a follow-up row and pastes it below for another of their customers: a new
    record whose time equals one already in the canonical workbook (it used to stop the collect
    with a traceback once the refresh took its snapshot)."""
    book, folder = team
    zhang = folder / "张伟.xlsx"
    followups = grid(zhang, "跟进记录")
    header, first = followups[0], followups[1]
    customers = [r[0] for r in _rows(zhang, "客户")]
    other = next(c for c in customers if c != first[1])
    pasted = [None, other, *first[2:]]  # no ID: the rep leaves the pasted one's ID out
    assert isinstance(first[header.index("跟进时间")], dt.datetime)
    before = len(_rows(book, "跟进记录"))
    edit_in_excel(zhang, [], append={"跟进记录": [pasted]})

    result = collect([zhang], book, today=TODAY, now=NOW)

    assert result.written and result.plan is not None
    assert result.plan.outcomes[0].created == {"followups": 1}
    after = _rows(book, "跟进记录")
    assert len(after) == before + 1
    time_col = header.index("跟进时间")
    same_time = [r for r in after if r[time_col] == first[time_col]]
    assert sorted(r[1] for r in same_time) == sorted([first[1], other])
    assert_valid_workbook(book, baseline=sample_master)
