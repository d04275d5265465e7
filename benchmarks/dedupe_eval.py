"""Duplicate detection: accuracy on a generated Chinese customer set, and speed at 10k, 100k and 1M records.

The generated set has known duplicates written the ways people write them (legal form varied,
the city in brackets, full-width letters, traditional characters, spaces, the phone reformatted
or replaced by the same contact person or company e-mail domain) and hard non-duplicates (a
branch office, the same trade name in another city, the same brand in another industry).
Precision, recall and F1 are over record pairs: a pair is predicted when crmbook lists it on
the Duplicates sheet (score ≥ 0.5), and merged without review at ``--auto`` (default 0.95).

    python benchmarks/dedupe_eval.py                         # accuracy on 2,000 companies, speed at 10k and 100k
    python benchmarks/dedupe_eval.py --sizes 10000,100000,1000000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dedupe_corpus import book_of, generate  # noqa: E402


def accuracy(companies: int, auto: float) -> None:
    from crmbook.dedupe import find_duplicates

    records, truth = generate(companies)
    started = time.perf_counter()
    result = find_duplicates(book_of(records))
    seconds = time.perf_counter() - started
    for label, cut in (
        ("listed for review (score >= 0.5)", 0.5),
        (f"merged without review (score >= {auto})", auto),
    ):
        predicted = {tuple(sorted((p.row_a - 2, p.row_b - 2))) for p in result.pairs if p.score >= cut}
        tp = len(predicted & truth)
        precision = tp / len(predicted) if predicted else 1.0
        recall = tp / len(truth) if truth else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(
            f"  {label:<42} precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  ({len(predicted)} pairs, {len(truth)} true)"
        )
    hard = sum(1 for r in records if str(r["entity"]).startswith("hard"))
    print(
        f"  {len(records):,} records ({hard} hard non-duplicates), {result.compared:,} pairs compared, {seconds:.2f} s"
    )


def _timed(size: int) -> tuple[float, float, int, int]:
    code = (
        "import sys, time, resource\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from tests.dedupe_corpus import generate, book_of\n"
        "from crmbook.dedupe import find_duplicates\n"
        "records, _ = generate(int(int(sys.argv[1]) / 1.23), seed=3)\n"
        "book = book_of(records[: int(sys.argv[1])])\n"
        "t = time.perf_counter(); r = find_duplicates(book); s = time.perf_counter() - t\n"
        "print(s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, len(r.pairs), r.compared)\n"
    )
    from pathlib import Path

    out = subprocess.run(
        [sys.executable, "-c", code, str(size), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, mib, listed, compared = out.stdout.split()
    return float(seconds), float(mib), int(listed), int(compared)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--auto", type=float, default=0.95)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"== accuracy on a generated Chinese set of {args.companies:,} companies ==")
    accuracy(args.companies, args.auto)
    print("== speed: find_duplicates on generated customers (median of runs, peak memory of the process) ==")
    previous = None
    for size in (int(s) for s in args.sizes.split(",")):
        runs = [_timed(size) for _ in range(args.runs)]
        secs = statistics.median(r[0] for r in runs)
        mib = max(r[1] for r in runs)
        growth = (
            f"   x{secs / previous[1]:.1f} time for x{size / previous[0]:.0f} records" if previous else ""
        )
        print(
            f"  {size:>9,} records: median {secs:7.2f} s   peak {mib:6.0f} MiB   runs {[round(r[0], 2) for r in runs]}{growth}"
        )
        print(f"             {runs[0][3]:,} pairs compared, {runs[0][2]:,} listed")
        previous = (size, secs)


if __name__ == "__main__":
    main()
