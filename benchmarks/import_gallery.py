"""How right the proposed import mapping is on the gallery of hand-kept spreadsheets.

Generates the gallery (tests/import_gallery.py: garage, call-centre, shop and address-book lists,
a ledger with follow-ups and deals linked by name, a monthly sales sheet, CRM exports, a CSV without
a header), imports each file into an empty workbook as a dry run with the proposed mapping, and
prints per file the share of source rows that became the right records on the right sheets:

    python benchmarks/import_gallery.py            # the table
    python benchmarks/import_gallery.py --wrong    # also every row that is not right, and the dry run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.import_gallery import format_scores, score_gallery


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wrong", action="store_true", help="list the rows that are not right")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scores = score_gallery(Path(folder))
    for line in format_scores(scores):
        print(line)
    if args.wrong:
        for s in scores:
            if s.wrong:
                print(f"\n== {s.file}: {len(s.wrong)} rows not right")
                for w in s.wrong[:8]:
                    print("  " + w)
                for line in s.summary:
                    print("   | " + line)


if __name__ == "__main__":
    main()
