"""crmbook benchmarks: figures and ratios, never pass/fail.

Generates S, M and L books with the sample generator (cached under
``benchmarks/books/``), then times each task in a fresh subprocess (so peak
memory is the task's own) and prints the median of several runs, plus
ratios taken within the same run. Runs go in rounds (every task once per
round) and a ratio is the median of the rounds' own ratios, so the drift of
a shared machine's load moves both sides of it:

    python benchmarks/run.py                      # S and M, every task, 3 runs
    python benchmarks/run.py --sizes S,M,L --runs 3 --tasks read,write,refresh

Tasks:
  calamine   python-calamine reads every record sheet (the floor for reading)
  read       crmbook.read_book (targets: within 1.5x of calamine on M)
  openpyxl   openpyxl load + save of the whole book (what crmbook avoids)
  write      surgical write: 1% of ID cells + one crmbook-owned sheet with a chart, saved safely
             (target: at least 10x faster than openpyxl on M)
  refresh    crmbook refresh end to end on a book never refreshed before (IDs, every derived cell and
             the first snapshot are written) (targets on M: within 2x of calamine, 10x faster than
             openpyxl; S under one second)
  again      the everyday case: refresh of a book refreshed before, after people edited 1% of the
             customers and added 1% new follow-ups (the preparation is not timed)
  report     the monthly report workbook, without PDF (target on M: under 10 s)
  pdf        the PDF of that report through LibreOffice headless, timed separately
  report-pdf the monthly report workbook and its PDF, as `crmbook report --pdf` makes them (target on M:
             under 30 s)
  import-empty  crmbook import of 100,000 generated legacy rows (a GB18030 CSV customer ledger with
             contact, level, source and date columns) into an empty workbook (target: figures only;
             rows per second printed)
  import     the same file into this size's book
  import-bar the same as import, with the progress bar drawn (to a terminal stand-in); the ratio
             import-bar / import is the bar's cost (target: at most 1.05)
  CRMBOOK_IMPORT_ROWS changes the 100,000.

Each task's CPU time (every thread, and the child processes it waited for) is printed beside its wall
time, and each ratio of wall times beside the same ratio of CPU times: the wall ratio is the goal, the
CPU ratio tells how much work a task does, which a busy host hardly changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOOKS = HERE / "books"
SIZES = {"S": 1_000, "M": 10_000, "L": 100_000}
TODAY = dt.date(2026, 11, 22)

# Each task: (imports, timed body). Imports happen before the clock starts.
SETUP = {
    "calamine": "import python_calamine as pc",
    "read": "from crmbook.reader import read_book",
    "openpyxl": "import openpyxl",
    "write": "import crmbook.ooxml, crmbook.reader, crmbook.safe_save",
    "refresh": "import crmbook.refresh, crmbook.ooxml, crmbook.reader, crmbook.safe_save",
    "again": "import crmbook.refresh, crmbook.ooxml, crmbook.reader, crmbook.safe_save",
    "report": "import crmbook.report",
    "pdf": "import crmbook.report, crmbook.libreoffice",
    "report-pdf": "import crmbook.report, crmbook.libreoffice",
    "import-empty": "import crmbook.importer",
    "import": "import crmbook.importer",
    "import-bar": "import crmbook.importer, click, io",
}
TASKS = {
    "calamine": """
        wb = pc.CalamineWorkbook.from_path(PATH)
        for name in wb.sheet_names[:4]:
            wb.get_sheet_by_name(name).to_python()
    """,
    "read": """
        from crmbook.reader import read_book
        read_book(PATH)
    """,
    "openpyxl": """
        import openpyxl
        wb = openpyxl.load_workbook(PATH)
        wb.save(PATH)
    """,
    "write": """
        import random
        from crmbook.changeset import Changeset, CellWrite, OwnedSheet, SheetCell, ChartSpec
        from crmbook.ooxml import apply_changeset
        from crmbook.reader import read_book
        from crmbook.safe_save import Fingerprint, save_workbook_bytes
        before = Fingerprint.of(PATH)
        book, _ = read_book(PATH)
        cs = Changeset()
        rng = random.Random(1)
        for key in ("customers", "followups"):
            t = book.tables[key]
            rows = list(t.data.index)
            col = t.col(t.spec.id_column)
            for r in rng.sample(rows, max(1, len(rows) // 100)):
                cs.cell_writes.append(CellWrite(t.sheet_name, r, col, f"BENCH{r}"))
        rows = [[SheetCell("Status", "header"), SheetCell("Customers", "header")]]
        rows += [[SheetCell(f"s{i}"), SheetCell(i * 7, "integer")] for i in range(1, 9)]
        cs.owned_sheets.append(OwnedSheet("Bench", rows, charts=[ChartSpec("pie", "Status", "D2", (2, 1, 9), ((2, 2, 9),))]))
        data = apply_changeset(PATH, cs)
        save_workbook_bytes(PATH, data, expected=before, backup_dir=None)
    """,
    "refresh": """
        import datetime as dt
        from crmbook.refresh import refresh
        refresh(PATH, today=dt.date(2026, 11, 22))
    """,
    "report": """
        import datetime as dt
        from crmbook.measures import Period
        from crmbook.report import write_report
        write_report(PATH, period=Period.month("2026-10"), out_path=PATH + ".report.xlsx")
    """,
    "report-pdf": """
        import datetime as dt
        from crmbook.measures import Period
        from crmbook.report import write_report
        write_report(PATH, period=Period.month("2026-10"), out_path=PATH + ".report.xlsx", pdf=True)
    """,
}

# Untimed preparation, run after the imports and before the clock starts.
PREPARE = {
    "again": """
        import datetime as dt, random
        from crmbook.changeset import Changeset, CellWrite
        from crmbook.ooxml import apply_changeset
        from crmbook.reader import read_book
        from crmbook.refresh import refresh
        refresh(PATH, today=dt.date(2026, 11, 22))
        book, _ = read_book(PATH)
        cs, rng = Changeset(), random.Random(2)
        customers, followups = book.tables["customers"], book.tables["followups"]
        for r in rng.sample(list(customers.data.index), max(1, len(customers.data) // 100)):
            cs.cell_writes.append(CellWrite(customers.sheet_name, r, customers.col("phone"), "139" + str(r).zfill(8)))
        last = int(followups.data.index.max())
        ids = customers.data["customer_id"].tolist()
        for i in range(max(1, len(followups.data) // 100)):
            row = last + 1 + i
            cs.cell_writes.append(CellWrite(followups.sheet_name, row, followups.col("customer_id"), ids[i % len(ids)]))
            cs.cell_writes.append(CellWrite(followups.sheet_name, row, followups.col("time"), dt.datetime(2026, 11, 21, 10)))
            cs.cell_writes.append(CellWrite(followups.sheet_name, row, followups.col("content"), "电话回访"))
        edited = apply_changeset(PATH, cs)
        with open(PATH, "wb") as f:
            f.write(edited)
    """,
}
PREPARE["pdf"] = """
    from pathlib import Path
    from crmbook.measures import Period
    from crmbook.report import write_report
    REPORT = Path(PATH + ".report.xlsx")
    write_report(PATH, period=Period.month("2026-10"), out_path=REPORT)
"""
TASKS["again"] = TASKS["refresh"]
TASKS["pdf"] = """
    from crmbook.libreoffice import convert
    convert(REPORT, "pdf", REPORT.parent)
"""

TASKS["import-empty"] = """
    crmbook.importer.import_file(LEGACY, PATH, today=TODAY)
"""
TASKS["import"] = TASKS["import-empty"]
PREPARE["import-bar"] = """
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    screen = Terminal()
    bar = None
    def progress(advance, total):
        global bar
        if bar is None:
            bar = click.progressbar(length=total, label="importing rows", file=screen)
            bar.__enter__()
        bar.update(advance)
"""
TASKS["import-bar"] = """
    crmbook.importer.import_file(LEGACY, PATH, today=TODAY, progress=progress)
    bar.__exit__(None, None, None)
    assert screen.getvalue()
"""
IMPORT_ROWS = int(os.environ.get("CRMBOOK_IMPORT_ROWS", "100000"))

# Tasks that modify the book run on a fresh copy each time.
MUTATING = {"openpyxl", "write", "refresh", "again", "import-empty", "import", "import-bar"}


def ensure_legacy(rows: int) -> Path:
    """A legacy customer ledger of ``rows`` rows as Excel on Chinese Windows saves CSV (GB18030)."""
    import csv
    import io
    import random

    BOOKS.mkdir(exist_ok=True)
    path = BOOKS / f"legacy-{rows}.csv"
    if path.exists():
        return path
    rng = random.Random(1)
    cities = ["上海", "北京", "深圳", "杭州", "广州", "成都", "苏州", "武汉", "南京", "重庆"]
    trades = ["华信", "恒达", "海川", "云帆", "南方", "天府", "精密", "光谷", "金陵", "山城", "滨海", "海润"]
    forms = ["科技有限公司", "贸易有限公司", "电子股份有限公司", "物流有限公司", "软件有限责任公司"]
    out = [["公司名称", "联系电话", "客户级别", "客户来源", "首次接触", "联系人", "备注"]]
    for i in range(rows):
        phone = "13" + "".join(rng.choice("0123456789") for _ in range(9))
        y, m, d = rng.randint(2018, 2025), rng.randint(1, 12), rng.randint(1, 28)
        out.append(
            [
                f"{rng.choice(cities)}{rng.choice(trades)}{i:06d}{rng.choice(forms)}",
                phone if i % 4 else f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
                rng.choice(["A类（重点客户）", "重点客户", "B", "潜力客户", "C", ""]),
                rng.choice(["老客户介绍", "展会", "线上", "陌拜", ""]),
                f"{y}年{m}月{d}日" if i % 3 else f"{y}/{m:02d}/{d:02d}",
                rng.choice(["张伟", "王芳", "李娜", "刘洋"]),
                "老客户，注意回访" if i % 5 == 0 else "",
            ]
        )
    text = io.StringIO()
    csv.writer(text).writerows(out)
    path.write_bytes(text.getvalue().encode("gb18030"))
    return path


def ensure_empty() -> Path:
    path = BOOKS / "book-empty.xlsx"
    if not path.exists():
        from crmbook.template import create_workbook

        create_workbook(path)
    return path


def ensure_book(size: str) -> Path:
    BOOKS.mkdir(exist_ok=True)
    path = BOOKS / f"book-{size}.xlsx"
    if not path.exists():
        from crmbook.template import create_workbook

        started = time.perf_counter()
        create_workbook(path, sample=SIZES[size], seed=11, today=TODAY)
        print(f"# generated {path.name} ({SIZES[size]:,} customers) in {time.perf_counter() - started:.1f} s")
    return path


def run_task(task: str, book: Path) -> tuple[float, float, float]:
    """(seconds inside the task, peak RSS in MiB, CPU seconds inside the task) for one run in a fresh
    interpreter. The CPU time counts every thread and every child process the task waited for (the
    refresh's second core, LibreOffice): a busy host stretches wall times, much less the work done."""
    if task == "import-empty":
        book = ensure_empty()
    target = book
    if task in MUTATING:
        target = book.with_name(f"{book.stem}-{task}{book.suffix}")
        shutil.copyfile(book, target)
    code = (
        f"import time, sys, datetime, resource\n{SETUP[task]}\nPATH = sys.argv[1]\n"
        + f"LEGACY = {str(ensure_legacy(IMPORT_ROWS))!r}\nTODAY = datetime.date(2026, 11, 22)\n"
        + textwrap.dedent(PREPARE.get(task, ""))
        + "\ndef cpu():\n    k = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        + "    return time.process_time() + k.ru_utime + k.ru_stime\n"
        + "\nc0, t0 = cpu(), time.perf_counter()\n"
        + textwrap.dedent(TASKS[task])
        + "\nprint(time.perf_counter() - t0, cpu() - c0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"task {task} failed on {book.name}:\n{err[-2000:]}")
    if task in MUTATING:
        target.unlink(missing_ok=True)
        for leftover in target.parent.glob(f".~crmbook-{target.name}*"):
            leftover.unlink()
    seconds, cpu = (float(x) for x in out.strip().splitlines()[-1].split())
    return seconds, usage.ru_maxrss / 1024, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="S,M")
    parser.add_argument("--tasks", default="calamine,read,openpyxl,write,refresh,again,report")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for size in args.sizes.split(","):
        book = ensure_book(size)
        mib = book.stat().st_size / 2**20
        print(f"\n== {size}: {SIZES[size]:,} customers, {mib:.1f} MiB ==")
        results[size] = {}
        tasks = args.tasks.split(",")
        # Rounds: every task once per round, so a ratio compares runs made minutes apart at most
        # (a shared machine's load drifts); ratios are the median of the rounds' own ratios.
        runs: dict[str, list[tuple[float, float, float]]] = {task: [] for task in tasks}
        for _ in range(args.runs):
            for task in tasks:
                runs[task].append(run_task(task, book))
        for task in tasks:
            secs = statistics.median(r[0] for r in runs[task])
            rss = max(r[1] for r in runs[task])
            cpu = statistics.median(r[2] for r in runs[task])
            results[size][task] = {"seconds": secs, "peak_mib": rss, "cpu_seconds": cpu}
            print(
                f"{task:>9}: median {secs:8.3f} s   CPU {cpu:7.3f} s   peak {rss:7.0f} MiB   "
                f"runs {[round(r[0], 3) for r in runs[task]]}"
                + (f"   {IMPORT_ROWS / secs:,.0f} rows/s" if task.startswith("import") else "")
            )
        for task, floor, label in (
            ("read", "calamine", "read / calamine read"),
            ("refresh", "calamine", "refresh / calamine read"),
            ("again", "calamine", "repeat refresh / calamine read"),
            ("openpyxl", "write", "openpyxl load+save / surgical write"),
            ("openpyxl", "refresh", "openpyxl load+save / refresh"),
            ("openpyxl", "again", "openpyxl load+save / repeat refresh"),
            ("import-bar", "import", "import with progress bar / without"),
        ):
            if task in runs and floor in runs:
                pairs = list(zip(runs[task], runs[floor], strict=True))
                ratios = [a[0] / b[0] for a, b in pairs]
                cpu_ratio = statistics.median(a[2] / b[2] for a, b in pairs)
                results[size][f"{task}/{floor}"] = {
                    "ratio": statistics.median(ratios),
                    "cpu_ratio": cpu_ratio,
                }
                print(
                    f"  ratio {label}: {statistics.median(ratios):.2f}"
                    f"   (rounds {[round(x, 2) for x in ratios]}; of CPU time {cpu_ratio:.2f})"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
