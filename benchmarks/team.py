"""Team benchmark: split the canonical book for 20 reps and collect their work back. Figures, never pass/fail.

The book of ``benchmarks/run.py`` (``benchmarks/books/book-<size>.xlsx``, generated when missing) gets
its customers shared among 20 reps and one refresh (not timed): that is the canonical workbook. Then,
in rounds (every task once per round, each in a fresh interpreter, so peak memory is its own):

  refresh  crmbook refresh of the canonical workbook (the yardstick: goal, split and collect each
           under 2x of it)
  split    crmbook split into 20 rep files
  collect  crmbook collect of the 20 rep files after each rep edited 5% of the cells their file
           carries (and the lead 0.5% of the canonical ones, some of them the same cells: conflicts);
           the edits are made once, beforehand, with the surgical writer, and are not timed

    python benchmarks/team.py                  # M, 3 runs
    python benchmarks/team.py --sizes S --runs 1
    python benchmarks/team.py --edits valid    # every edit a valid value of its column

The edits (``--edits``): ``rough`` (the default, the goal's yardstick) changes each value the blunt way:
text gets "（改）" appended (list values and phone numbers then fail validation), an empty cell gets
"改" whatever its column, numbers grow, dates move a day; about a third of the edited cells then
have an issue. ``valid`` edits as a careful rep would: another value of the column's list, another
mobile number or e-mail, a date a day earlier, a number, text with "（改）" appended; customer names
on the contacts, follow-ups and deals are left alone. Comparing the two tells what the issues cost.

Prints the median wall time, CPU time and the peak memory of each task and the ratios split / refresh and
collect / refresh (medians of the rounds' own ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import TODAY, ensure_book  # noqa: E402

REPS = 20
EDIT_SHARE = 0.05
LEAD_SHARE = 0.005

TASKS = {
    "refresh": """
        from crmbook.refresh import refresh
        t0 = time.perf_counter()
        refresh(BOOK, today=TODAY)
    """,
    "split": """
        from crmbook.team_split import split
        t0 = time.perf_counter()
        split(BOOK, OUT, today=TODAY, force=True)
    """,
    "collect": """
        from crmbook.team_collect import collect
        t0 = time.perf_counter()
        collect(REP_FILES, BOOK, today=TODAY)
    """,
}


def _changed(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool) or value is None:
        return "改"
    if isinstance(value, int | float):
        return value + rng.randint(1, 9)
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(days=1)
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    return f"{value}（改）"


def _valid_change(value: Any, column: Any, lists: dict[str, list[str]], rng: random.Random) -> Any:
    """``value`` changed into another valid value of ``column`` (a schema column; None for a user column)."""
    kind = column.type if column is not None else "text"
    if kind in ("list", "yesno"):
        return rng.choice([v for v in lists.get(column.list, []) if v != value] or [value])
    if kind == "phone":
        return f"139{rng.randint(10**7, 10**8 - 1)}"
    if kind == "email":
        return f"rep{rng.randint(1, 10**6)}@example.com"
    if kind == "url":
        return f"https://example.com/{rng.randint(1, 999)}"
    if kind in ("date", "datetime"):
        if isinstance(value, dt.date):
            return value - dt.timedelta(days=1)
        return TODAY - dt.timedelta(days=rng.randint(20, 50))
    if kind in ("integer", "amount"):
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
        return number + rng.randint(1, 9)
    if kind == "percent":
        return rng.choice([0.1, 0.3, 0.5, 0.7, 0.9])
    return f"{value}（改）" if isinstance(value, str) and value else "改"


def _edit(path: Path, share: float, seed: int, skip_owner: bool = True, edits: str = "rough") -> int:
    """Change ``share`` of the user cells of every record sheet of ``path`` (surgical writer); how many.
    ``edits``: "rough" or "valid" (see the module's docstring)."""
    from crmbook.changeset import CellWrite, Changeset
    from crmbook.ooxml import apply_changeset
    from crmbook.reader import read_book

    rng = random.Random(seed)
    book, _ = read_book(path, today=TODAY)
    writes = []
    for table in book.tables.values():
        owned = {c.key for c in table.spec.columns if c.owned} | {table.spec.id_column, "customer_id"}
        if skip_owner:
            owned.add("owner")
        if edits == "valid":
            owned.add("customer_name")  # a reference by name: reps do not retype it
        names = [n for n in table.data.columns if n not in owned]
        columns = {**table.columns, **table.extra_columns}
        specs = {c.key: c for c in table.spec.columns}
        for row in table.data.index:
            for name in names:
                if rng.random() < share:
                    value = table.data.at[row, name]
                    if edits == "valid":
                        new = _valid_change(value, specs.get(name), book.lists, rng)
                    else:
                        new = _changed(value, rng)
                    writes.append(CellWrite(table.sheet_name, int(row), columns[name], new))
    path.write_bytes(apply_changeset(path, Changeset(cell_writes=writes), lang=book.lang))
    return len(writes)


def prepare(size: str, folder: Path, edits: str = "rough") -> tuple[Path, Path, list[Path]]:
    """The canonical workbook (20 reps, refreshed) and the rep files of a split of it, edited
    (``edits``: "rough" or "valid", see the module's docstring)."""
    from crmbook.changeset import CellWrite, Changeset
    from crmbook.ooxml import apply_changeset
    from crmbook.reader import read_book
    from crmbook.refresh import refresh
    from crmbook.team_split import split

    canonical = folder / "crm.xlsx"
    shutil.copyfile(ensure_book(size), canonical)
    book, _ = read_book(canonical, today=TODAY)
    table = book.tables["customers"]
    reps = [f"代表{n:02d}" for n in range(1, REPS + 1)]
    col = table.col("owner")
    assert col is not None
    writes = [
        CellWrite(table.sheet_name, int(r), col, reps[i % REPS]) for i, r in enumerate(table.data.index)
    ]
    canonical.write_bytes(apply_changeset(canonical, Changeset(cell_writes=writes), lang=book.lang))
    refresh(canonical, today=TODAY)
    base = folder / "base.xlsx"
    shutil.copyfile(canonical, base)
    result = split(canonical, folder / "team", today=TODAY)
    edited = sum(_edit(f.path, EDIT_SHARE, seed=n, edits=edits) for n, f in enumerate(result.files))
    lead = _edit(canonical, LEAD_SHARE, seed=999, edits=edits)
    print(
        f"# prepared: {len(result.files)} rep files, {edited:,} rep cells and {lead:,} lead cells edited "
        f"({edits} edits)"
    )
    for leftover in folder.glob(".crmbook-backups"):
        shutil.rmtree(leftover)
    return base, canonical, [f.path for f in result.files]


def run_task(task: str, book: Path, folder: Path, rep_files: list[Path]) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB, CPU seconds) of one run in a fresh interpreter, on a copy of ``book``
    (the CPU time counts the processes it forks too: less sensitive to other jobs than wall time)."""
    target = folder / f"run-{task}.xlsx"
    shutil.copyfile(book, target)
    out = folder / f"out-{task}"
    code = (
        "import time, sys, datetime\n"
        f"sys.path.insert(0, {str(HERE.parent)!r})\n"
        f"BOOK = {str(target)!r}\nOUT = {str(out)!r}\nREP_FILES = {[str(p) for p in rep_files]!r}\n"
        "TODAY = datetime.date(2026, 11, 22)\n"
        + textwrap.dedent(TASKS[task])
        + "\nprint(time.perf_counter() - t0)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"task {task} failed:\n{stderr[-3000:]}")
    target.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(folder / ".crmbook-backups", ignore_errors=True)
    cpu = usage.ru_utime + usage.ru_stime
    return float(stdout.strip().splitlines()[-1]), usage.ru_maxrss / 1024, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--edits", choices=("rough", "valid"), default="rough")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory(prefix="crmbook-team-bench-") as tmp:
            folder = Path(tmp)
            base, canonical, rep_files = prepare(size, folder, args.edits)
            books = {"refresh": base, "split": base, "collect": canonical}
            print(f"\n== {size}: {REPS} reps, {base.stat().st_size / 2**20:.1f} MiB canonical workbook ==")
            runs: dict[str, list[tuple[float, float, float]]] = {t: [] for t in TASKS}
            for _ in range(args.runs):
                for task in TASKS:
                    runs[task].append(run_task(task, books[task], folder, rep_files))
            for task, results in runs.items():
                secs = statistics.median(r[0] for r in results)
                rss = max(r[1] for r in results)
                cpu = statistics.median(r[2] for r in results)
                print(
                    f"{task:>8}: median {secs:8.2f} s   peak {rss:7.0f} MiB   runs {[round(r[0], 2) for r in results]}"
                    f"   CPU {cpu:.2f} s (whole run, interpreter start included)"
                )
            for task in ("split", "collect"):
                ratios = [a[0] / b[0] for a, b in zip(runs[task], runs["refresh"], strict=True)]
                print(
                    f"  ratio {task} / refresh: {statistics.median(ratios):.2f}   (rounds {[round(x, 2) for x in ratios]})"
                )


if __name__ == "__main__":
    main()
