"""Refresh the generated real-world book (tests/realworld.py) and print what a user would see.

    python benchmarks/real_world.py [--keep BOOK.xlsx] [--summary-rows 30]

Prints the counts (issues by severity and code, duplicate pairs and groups, records left without an
ID) and the first rows of the Issues summary, so a change's before and after can be compared.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from realworld import TODAY, write_real_world_book

from crmbook.reader import read_book
from crmbook.refresh import refresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="keep the refreshed book here")
    parser.add_argument("--summary-rows", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "real-world.xlsx"
        write_real_world_book(path)
        result = refresh(path, today=TODAY)
        plan = result.plan
        book, _ = read_book(path, today=TODAY)
        without = {
            key: int(table.data[table.spec.id_column].isna().sum())
            for key, table in book.tables.items()
            if table.spec.id_column in table.data
        }
        counts = plan.report.counts()
        print(f"issues: {sum(counts.values())} ({counts['error']} errors, {counts['warning']} warnings)")
        for (code, level), n in Counter((i.code, i.level) for i in plan.report.issues).most_common():
            print(f"  {code:28} {level:8} {n}")
        print(f"duplicate pairs: {plan.duplicate_pairs}, groups: {plan.duplicate_clusters}")
        print(f"records without an ID: {sum(without.values())} {without}")
        summary = getattr(plan, "issue_summary", None)
        if summary is not None:
            print(f"Issues summary: {len(summary)} rows")
            for line in summary[: args.summary_rows]:
                print("  " + line.text("zh"))
                print("  " + line.text("en"))
        if args.keep:
            shutil.copyfile(path, args.keep)


if __name__ == "__main__":
    main()
