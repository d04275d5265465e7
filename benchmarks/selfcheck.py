"""The cost of the self-check before saving (crmbook.safe_save.self_check), as a share of a refresh.

Figures, never pass/fail: each run copies the benchmark book, refreshes it in this process and adds up
the time spent in the self-check; the ratio is taken run by run, so a shared machine's load moves both
sides of it. ``--again`` measures the everyday refresh (of a book refreshed before) instead of the
first one (every ID written, so every record sheet spliced).

    python benchmarks/selfcheck.py --size M --runs 3 [--again]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

import crmbook.safe_save as safe_save
from crmbook.refresh import refresh


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="M", choices=list(run.SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--again", action="store_true")
    args = parser.parse_args()
    book = run.ensure_book(args.size)
    spent: list[float] = []
    check = safe_save.self_check

    def timed(*a: object, **k: object) -> None:
        started = time.perf_counter()
        try:
            check(*a, **k)  # type: ignore[arg-type]
        finally:
            spent.append(time.perf_counter() - started)

    safe_save.self_check = timed  # type: ignore[assignment]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.runs):
            work = Path(folder) / f"run{i}.xlsx"
            shutil.copyfile(book, work)
            if args.again:
                refresh(work, today=run.TODAY)
            spent.clear()
            started = time.perf_counter()
            refresh(work, today=run.TODAY)
            total = time.perf_counter() - started
            rows.append((total, sum(spent)))
            print(
                f"run {i + 1}: refresh {total:.2f} s, self-check {sum(spent):.3f} s ({sum(spent) / total:.1%})"
            )
    print(
        f"{args.size} {'again' if args.again else 'first'} refresh: median {statistics.median(r for r, _ in rows):.2f} s, "
        f"self-check median {statistics.median(c for _, c in rows):.3f} s, "
        f"ratio median {statistics.median(c / r for r, c in rows):.1%} (budget 5%)"
    )


if __name__ == "__main__":
    main()
