"""The ``crmbook`` command line: a thin layer over the library.

Each command calls one library function, prints a short summary, and maps
:class:`~crmbook.errors.CrmbookError` to a one-line message. Exit codes:
0 success, 1 the workbook has problems (errors found), 2 the command could
not run (bad file, bad option, workbook locked or changed), 3 crmbook itself
failed (a bug: one line, and the details in a crash report to send).
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from crmbook import __version__
from crmbook.errors import CrmbookError
from crmbook.issues import Issue, Report
from crmbook.schema import Lang
from crmbook.wording import counted

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PROBLEMS, EXIT_FAILED, EXIT_BUG = 0, 1, 2, 3


def handle_errors(func: F) -> F:
    """Turn library errors into one clean line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CrmbookError as exc:
            click.echo(f"crmbook: error: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            click.echo("crmbook: interrupted; the workbook was not changed", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # a wrong option or argument: click says so (exit code 2)
        except Exception as exc:  # a bug in crmbook, not something the user did: say so, keep the details
            report = _crash_report(exc)
            click.echo(
                f"crmbook: internal error ({type(exc).__name__}: {exc}); this is a fault in crmbook, not in "
                "your files. crmbook writes a workbook all at once, so it is as it was before this run or "
                f"as this run left it. Please send the crash report {report} to whoever looks after crmbook",
                err=True,
            )
            sys.exit(EXIT_BUG)

    return wrapper  # type: ignore[return-value]


def _crash_report(exc: BaseException) -> str:
    """The traceback of ``exc`` with the command and the versions, in a file of its own (its path)."""
    import platform
    import tempfile
    import traceback

    text = (
        f"crmbook {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"command: {' '.join(sys.argv)}\n\n" + "".join(traceback.format_exception(exc))
    )
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", prefix="crmbook-crash-", suffix=".txt", delete=False
    ) as fh:
        fh.write(text)
    return fh.name


def format_issue(issue: Issue, lang: Lang) -> str:
    where = issue.location()
    value = "" if issue.value is None else f" (value: {issue.value!r})"
    return f"  {issue.level:<7} {issue.code:<24} {where}: {issue.message(lang)}{value}"


def print_report(report: Report, lang: Lang, limit: int | None = 50) -> None:
    shown = report.issues if limit is None else report.issues[:limit]
    for issue in shown:
        click.echo(format_issue(issue, lang))
    if limit is not None and len(report.issues) > limit:
        click.echo(f"  … and {len(report.issues) - limit} more (use --all or --json to see every issue)")


LANG_OPTION = click.option(
    "--lang", type=click.Choice(["zh", "en"]), default=None, help="Label language (default: the workbook's)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmbook")
def cli() -> None:
    """crmbook: your sales team's Excel workbook as a real CRM."""


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Label language."
)
@click.option("--sample", type=click.IntRange(min=0), default=0, help="Fill with N sample customers.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed for the sample data.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the sample data ends on (default: today).",
)
@click.option(
    "--force", is_flag=True, help="Replace an existing file (its previous version is backed up first)."
)
@handle_errors
def new(path: Path, lang: Lang, sample: int, seed: int, today: dt.datetime | None, force: bool) -> None:
    """Create the canonical workbook at PATH (optionally with sample data)."""
    from crmbook.template import create_workbook

    day = today.date() if today else None
    what = f" with {sample} sample customers" if sample else ""
    if path.suffix.lower() == ".xlsm":
        from crmbook.buttons import install_buttons

        if path.exists() and not force:
            raise click.UsageError(f"{path} exists; use --force to replace it (it is backed up first)")
        draft = path.with_name(f".~crmbook-new-{path.stem}.xlsx")
        draft.unlink(missing_ok=True)
        try:
            create_workbook(draft, lang=lang, sample=sample, seed=seed, today=day)
            install_buttons(draft, path, overwrite=force, today=day)
        finally:
            draft.unlink(missing_ok=True)
        click.echo(
            f"created {path}{what}, macro-enabled, with the Refresh, Find duplicates and Monthly report buttons"
        )
        return
    if force and path.exists():
        from crmbook.safe_save import run_lock, save_workbook_bytes

        draft = path.with_name(f".~crmbook-new-{path.name}")
        draft.unlink(missing_ok=True)
        try:
            create_workbook(draft, lang=lang, sample=sample, seed=seed, today=day)
            with run_lock(path):
                saved = save_workbook_bytes(path, draft.read_bytes(), expected=None)
        finally:
            draft.unlink(missing_ok=True)
        backup = f" (previous version backed up to {saved.backup_path})" if saved.backup_path else ""
        click.echo(f"created {path}{what}{backup}")
        return
    out = create_workbook(path, lang=lang, sample=sample, seed=seed, today=day)
    click.echo(f"created {out}{what}")


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@LANG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every issue, not only the first 50.")
@handle_errors
def check(path: Path, lang: Lang | None, as_json: bool, show_all: bool) -> None:
    """Check that PATH is a crmbook workbook crmbook can read.

    Exit code 0 when it is readable, 1 when it has structural errors.
    """
    from crmbook.check import check_workbook

    result = check_workbook(path)
    lang = lang or (result.book.lang if result.book else "zh")
    if as_json:
        click.echo(result.report.to_json(lang))
    else:
        counts = result.report.counts()
        if result.book is not None:
            records = ", ".join(f"{k} {n}" for k, n in result.record_counts().items())
            click.echo(f"{path}: {records}")
        print_report(result.report, lang, None if show_all else 50)
        status = "readable" if result.readable else "NOT readable"
        click.echo(
            f"{path}: {status} ({counted(counts['error'], 'error')}, {counted(counts['warning'], 'warning')})"
        )
    sys.exit(EXIT_OK if result.readable else EXIT_PROBLEMS)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every issue as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every issue, not one line per kind of problem.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for another crmbook run on the same workbook.",
)
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, hidden=True)
@handle_errors
def refresh(
    path: Path, dry_run: bool, as_json: bool, show_all: bool, wait: float, today: dt.datetime | None
) -> None:
    """Validate PATH, fill IDs, flag duplicates, and rebuild the dashboard,
    issues, reminders, duplicates and change-log sheets.

    Exit code 0 when the workbook has no errors, 1 when it has, 2 when the
    refresh could not run.
    """
    import json

    from crmbook.refresh import refresh as run_refresh

    result = run_refresh(path, dry_run=dry_run, today=today.date() if today else None, lock_timeout=wait)
    plan = result.plan
    summary = {**plan.summary(), "seconds": round(result.seconds, 3), "written": result.written}
    if as_json:
        issues = json.loads(plan.report.to_json("en"))["issues"]
        lines = [line.to_dict("en") for line in plan.issue_summary]
        click.echo(
            json.dumps(
                {"summary": summary, "issue_summary": lines, "issues": issues}, ensure_ascii=False, indent=2
            )
        )
    else:
        if show_all:
            print_report(plan.report, plan.lang, None)
        else:  # one line per kind of problem, with its fix (the Issues sheet's summary)
            for line in plan.issue_summary:
                click.echo(f"  {line.level:<7} {line.code:<24} {line.text(plan.lang)}")
        counts = plan.report.counts()
        verb = "would change" if dry_run else "refreshed"
        click.echo(
            f"{path}: {verb}: {counted(plan.ids_assigned, 'ID')} assigned, "
            f"{counted(plan.refs_filled, 'customer reference')} filled, {counted(counts['error'], 'error')}, "
            f"{counted(counts['warning'], 'warning')}, {counted(plan.duplicate_pairs, 'duplicate pair')}, "
            f"{counted(summary['changed_cells'], 'cell')} changed since last refresh ({result.seconds:.1f} s)"
        )
        if dry_run:
            click.echo(
                f"dry run: {counted(len(plan.changeset.cell_writes), 'cell')} and "
                f"{counted(len(plan.changeset.owned_sheets), 'crmbook sheet')} would be written; nothing was saved"
            )
        elif result.backup_path:
            click.echo(f"backup of the previous version: {result.backup_path}")
    sys.exit(EXIT_PROBLEMS if plan.report.has_errors else EXIT_OK)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--month", help="The month to report, YYYY-MM (default: last month).")
@click.option("--week", help="An ISO week to report, e.g. 2026-W48 (Monday to Sunday).")
@click.option("--day", help="One day to report, YYYY-MM-DD.")
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), help="Start of any other period.")
@click.option(
    "--to", "end", type=click.DateTime(formats=["%Y-%m-%d"]), help="End of that period (inclusive)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Report workbook to write."
)
@click.option("--owner", help="One rep's scorecard: only their customers, follow-ups and deals.")
@click.option("--per-rep", is_flag=True, help="Add one page per rep to the team report.")
@click.option("--team", help="Only the reps of this team (Settings sheet).")
@click.option("--pdf", is_flag=True, help="Also write a PDF of the report (needs LibreOffice).")
@click.option("--redact", is_flag=True, help="Mask phone numbers, for wider circulation.")
@LANG_OPTION
@handle_errors
def report(
    path: Path,
    month: str | None,
    week: str | None,
    day: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    output: Path | None,
    owner: str | None,
    per_rep: bool,
    team: str | None,
    pdf: bool,
    redact: bool,
    lang: Lang | None,
) -> None:
    """Write the report workbook for PATH: a month (default: last month), a week, a day or any range
    (the workbook itself is not changed). The previous period is compared: the month, week or day
    before, or the range of the same length just before."""
    from crmbook.errors import InputError
    from crmbook.measures import Period
    from crmbook.report import write_report

    if (start is None) != (end is None):
        raise InputError("give both --from and --to, or use --month, --week or --day")
    if sum(x is not None for x in (month, week, day, start)) > 1:
        raise InputError("give one period: --month, --week, --day or --from/--to")
    if start is not None and end is not None:
        if end < start:
            raise InputError("--to is before --from")
        period = Period(start.date(), end.date())
    elif week is not None:
        period = Period.week(week)
    elif day is not None:
        period = Period.day(day)
    else:
        if month is None:
            last = dt.date.today().replace(day=1) - dt.timedelta(days=1)
            month = f"{last:%Y-%m}"
        period = Period.month(month)
    result = write_report(
        path,
        period=period,
        out_path=output,
        owner=owner,
        team=team,
        lang=lang,
        pdf=pdf,
        redact=redact,
        per_rep=per_rep,
    )
    click.echo(f"wrote {result.out_path}" + (f" and {result.pdf_path}" if result.pdf_path else ""))


TODAY_OPTION = click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, hidden=True)
WAIT_OPTION = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for another crmbook run on the same workbook.",
)


def _refresh_after(path: Path, today: dt.datetime | None, wait: float) -> None:
    """Refresh after a merge or an undo, so the derived columns and crmbook's sheets match the records."""
    from crmbook.refresh import refresh as run_refresh

    result = run_refresh(path, today=today.date() if today else None, lock_timeout=wait)
    counts = result.plan.report.counts()
    click.echo(
        f"{path}: refreshed: {counted(counts['error'], 'error')}, {counted(counts['warning'], 'warning')}, "
        f"{counted(result.plan.duplicate_pairs, 'duplicate pair')}"
    )
    sys.exit(EXIT_PROBLEMS if result.plan.report.has_errors else EXIT_OK)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be merged; write nothing.")
@click.option(
    "--auto-threshold",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=None,
    help="Also merge, without review, every group scoring at least this (0-1, e.g. 0.95).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the merges as JSON.")
@WAIT_OPTION
@TODAY_OPTION
@handle_errors
def merge(
    path: Path,
    dry_run: bool,
    auto_threshold: float | None,
    as_json: bool,
    wait: float,
    today: dt.datetime | None,
) -> None:
    """Merge the duplicate groups marked 合并 / Merge on PATH's Duplicates sheet, then refresh.

    Related contacts, follow-ups and deals follow the survivor; merged-away rows are kept whole on the
    Merged archive sheet; each merge can be undone with crmbook undo-merge.
    """
    import json

    from crmbook.merge import format_merge_summary
    from crmbook.merge import merge as run_merge

    result = run_merge(
        path,
        dry_run=dry_run,
        auto_threshold=auto_threshold,
        today=today.date() if today else None,
        lock_timeout=wait,
    )
    if as_json:
        groups = [
            {
                "merge_id": g.merge_id,
                "survivor": g.survivor_id,
                "merged": g.merged_ids,
                "score": g.score,
                "source": g.source,
                "fields": sorted(g.fields),
                "records_repointed": len({(s, r) for s, r, *_ in g.children}),
            }
            for g in result.groups
        ]
        click.echo(
            json.dumps(
                {"written": result.written, "groups": groups, "skipped": result.skipped},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for line in format_merge_summary(result):
            click.echo(line)
    if result.written:
        _refresh_after(path, today, wait)


@cli.command("undo-merge")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("merge_id")
@WAIT_OPTION
@TODAY_OPTION
@handle_errors
def undo_merge(path: Path, merge_id: str, wait: float, today: dt.datetime | None) -> None:
    """Undo merge MERGE_ID on PATH: the merged-away customers and their records come back, cell for cell."""
    from crmbook.merge import format_merge_summary
    from crmbook.merge import undo_merge as run_undo

    result = run_undo(path, merge_id, today=today.date() if today else None, lock_timeout=wait)
    for line in format_merge_summary(result):
        click.echo(line)
    _refresh_after(path, today, wait)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@WAIT_OPTION
@TODAY_OPTION
@handle_errors
def dedupe(path: Path, wait: float, today: dt.datetime | None) -> None:
    """Find duplicate customers in PATH and list them on the Duplicates sheet (a full refresh).

    Then choose 合并 / 不是重复 / 稍后 for each group on that sheet and run crmbook merge.
    """
    from crmbook.refresh import refresh as run_refresh

    result = run_refresh(path, today=today.date() if today else None, lock_timeout=wait)
    plan = result.plan
    groups, pairs = counted(plan.duplicate_clusters, "group"), counted(plan.duplicate_pairs, "pair")
    click.echo(
        f"{path}: {groups} of likely duplicates ({pairs}) "
        "on the Duplicates sheet; decide each group there, then run crmbook merge"
    )
    sys.exit(EXIT_OK)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .csv or .xlsx file to write.",
)
@click.option(
    "--sheet",
    "sheets",
    multiple=True,
    type=click.Choice(["customers", "contacts", "followups", "opportunities"]),
    help="A record sheet to export (repeat for several; default all, or customers for CSV).",
)
@click.option(
    "--redact", is_flag=True, help="Mask phone, ID and card numbers and e-mails, for wider circulation."
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@LANG_OPTION
@handle_errors
def export(
    path: Path, output: Path, sheets: tuple[str, ...], redact: bool, force: bool, lang: Lang | None
) -> None:
    """Export PATH's record sheets to a CSV or a plain workbook (PATH is not changed)."""
    from crmbook.export import export_book
    from crmbook.reader import read_book

    book, _ = read_book(path)
    chosen = list(sheets) or (["customers"] if output.suffix.lower() == ".csv" else None)
    result = export_book(book, output, sheets=chosen, redact=redact, lang=lang, overwrite=force)
    counts = ", ".join(f"{name} {n}" for name, n in result.sheets.items())
    click.echo(f"wrote {result.path} ({counts} records{', redacted' if redact else ''})")


@cli.command("import")
@click.argument("paths", nargs=-1)
@click.option(
    "--into",
    "into",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The canonical workbook to import into.",
)
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Use this mapping file (TOML) instead of the proposed mapping.",
)
@click.option(
    "--write-mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the mapping (proposed, or --mapping's) to this file for editing; implies --dry-run.",
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would be created, updated, merged and rejected; write nothing."
)
@click.option(
    "--dayfirst",
    is_flag=True,
    default=None,
    help="Read 5/1/2024 as 5 January (default: as the mapping says, else month first).",
)
@click.option(
    "--sheet", "sheets", multiple=True, help="Import only this sheet of the legacy file (repeat for several)."
)
@click.option(
    "--undo", "undo", is_flag=True, help="Undo an import: crmbook import --undo crm.xlsx IMPORT_ID."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when the terminal is interactive).",
)
@WAIT_OPTION
@TODAY_OPTION
@handle_errors
def import_(
    paths: tuple[str, ...],
    into: Path | None,
    mapping_path: Path | None,
    write_mapping: Path | None,
    dry_run: bool,
    dayfirst: bool | None,
    sheets: tuple[str, ...],
    undo: bool,
    as_json: bool,
    progress: bool | None,
    wait: float,
    today: dt.datetime | None,
) -> None:
    """Import a legacy spreadsheet (.xlsx, .xlsm, .xls, .csv) into a crmbook workbook.

    \b
      crmbook import legacy.xlsx --into crm.xlsx --dry-run
      crmbook import legacy.xlsx --into crm.xlsx --write-mapping legacy.toml
      crmbook import legacy.xlsx --into crm.xlsx --mapping legacy.toml
      crmbook import --undo crm.xlsx IMPORT_ID
    """
    import json

    from crmbook import importer
    from crmbook.mapping import load_mapping, propose_mapping, save_mapping

    day = today.date() if today else None
    if undo:
        if into is not None and len(paths) == 1:  # crmbook collect --undo --into crm.xlsx G20261201-001
            paths = (str(into), *paths)
        if len(paths) != 2:
            raise click.UsageError(
                "--undo takes the workbook and the import ID: crmbook import --undo crm.xlsx I20261130-001"
            )
        result = importer.undo_import(paths[0], paths[1], today=day, lock_timeout=wait)
        for line in importer.format_import_summary(result):
            click.echo(line)
        return
    if len(paths) != 1 or into is None:
        raise click.UsageError(
            "name one legacy file and the workbook: crmbook import legacy.xlsx --into crm.xlsx"
        )
    source = paths[0]
    mapping = load_mapping(mapping_path) if mapping_path else None
    if write_mapping is not None:
        from crmbook.legacy import read_legacy
        from crmbook.reader import read_book

        if mapping is None:
            book, _ = read_book(into, today=day)
            mapping = propose_mapping(
                read_legacy(source, list(sheets) or None),
                lang=book.lang,
                known_customers=importer.known_customer_names(book),
            )
        save_mapping(mapping, write_mapping)
        click.echo(
            f"wrote the mapping to {write_mapping}; edit it, then import with --mapping {write_mapping}"
        )
        dry_run = True
    if mapping is not None and dayfirst is not None:
        mapping.dayfirst = dayfirst
    show = sys.stderr.isatty() if progress is None else progress
    bar = _ProgressBar() if show and not as_json else None
    try:
        result = importer.import_file(
            source,
            into,
            mapping,
            dry_run=dry_run,
            sheets=sheets or None,
            today=day,
            lock_timeout=wait,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    plan = result.plan
    assert plan is not None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "import_id": plan.import_id if result.written else None,
                    "written": result.written,
                    "source_rows": plan.source_rows,
                    "outcomes": {k: o.counts() for k, o in plan.outcomes.items()},
                    "rejects": [vars(r) for r in plan.rejects],
                    "kept_as_typed": plan.problems,
                    "not_imported": plan.not_imported,
                    "mapping": [
                        {
                            "source_sheet": t.source_sheet,
                            "target": t.target,
                            "columns": t.columns,
                            "reasons": t.reasons,
                            "check": t.doubts,
                        }
                        for t in (result.mapping.tables if result.mapping is not None else [])
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for line in importer.format_import_summary(result):
            click.echo(line)
    if plan.all_rejected:
        click.echo(
            f"crmbook: error: nothing to import: every one of the {plan.source_rows} source rows was rejected "
            f"({plan.main_reason()}); check the mapping with --dry-run or --write-mapping",
            err=True,
        )
        sys.exit(EXIT_PROBLEMS)
    if result.written and plan.refresh is not None and plan.refresh.report.has_errors:
        errors = plan.refresh.report.counts()["error"]
        if not as_json:
            click.echo(
                f"{result.path}: the refreshed workbook has {counted(errors, 'error')} (listed on the Issues "
                f"sheet; crmbook refresh --dry-run {result.path} prints them)"
            )
        sys.exit(EXIT_PROBLEMS)


class _ProgressBar:
    """click's progress bar on stderr, opened when the import knows how many rows it has."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, advance: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="importing rows", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(advance)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@cli.command("install-buttons")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .xlsm to write (default: PATH with .xlsm).",
)
@click.option(
    "--interpreter",
    "interpreter_win",
    help="Python for the buttons on Windows (default: %LOCALAPPDATA%\\Programs\\Python\\Python311\\python.exe, or this Python when run on Windows).",
)
@click.option(
    "--interpreter-mac",
    help="Python for the buttons on macOS (default: /usr/local/bin/python3, or this Python when run on a Mac).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@TODAY_OPTION
@handle_errors
def install_buttons_command(
    path: Path,
    output: Path | None,
    interpreter_win: str | None,
    interpreter_mac: str | None,
    force: bool,
    today: dt.datetime | None,
) -> None:
    """Turn PATH into a macro-enabled workbook with Refresh, Find duplicates and Monthly report buttons.

    Writes crm.xlsm next to crm.xlsx (the .xlsx is left as it is); everything in the workbook survives.
    The buttons run crmbook through xlwings: install it where the interpreter is (pip install
    "crmbook[excel]"); the xlwings.conf sheet says which Python to start.
    """
    from crmbook.buttons import install_buttons

    result = install_buttons(
        path,
        output,
        interpreter_win=interpreter_win,
        interpreter_mac=interpreter_mac,
        overwrite=force,
        today=today.date() if today else None,
    )
    click.echo(
        f"wrote {result.path}: buttons 刷新 Refresh, 查重 Find duplicates, 生成月报 Monthly report on the dashboard; "
        f"the Python they start is on the xlwings.conf sheet"
    )


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--interpreter", help="The Python the buttons start (default: the one the workbook names, else this one)."
)
@handle_errors
def doctor(path: Path | None, interpreter: str | None) -> None:
    """Check this machine (and the workbook PATH) for the Excel buttons, and say what to fix."""
    from crmbook.doctor import check_machine, check_workbook

    findings = []
    named = None
    if path is not None:
        book_findings, named = check_workbook(path)
        findings += book_findings
    findings += check_machine(interpreter or (named if named and "%" not in named else None))
    for f in findings:
        click.echo(
            f"  {'ok ' if f.ok else 'FIX'}  {f.what}" + (f"\n       -> {f.fix}" if f.fix and not f.ok else "")
        )
    failed = sum(1 for f in findings if not f.ok)
    click.echo("everything the buttons need is in place" if not failed else f"{failed} thing(s) to fix")
    sys.exit(EXIT_PROBLEMS if failed else EXIT_OK)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--by",
    type=click.Choice(["owner"]),
    default="owner",
    show_default=True,
    help="Cut the workbook by owner.",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder for the rep files (team/张伟.xlsx, ...).",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A CSV of rep,password: encrypt each rep's file with that rep's password.",
)
@click.option("--redact", is_flag=True, help="Leave out the fields the Settings row 拆分时隐去的字段 lists.")
@click.option("--force", is_flag=True, help="Replace rep files that already exist in the folder.")
@WAIT_OPTION
@TODAY_OPTION
@handle_errors
def split(
    path: Path,
    by: str,
    out_dir: Path,
    password_file: Path | None,
    redact: bool,
    force: bool,
    wait: float,
    today: dt.datetime | None,
) -> None:
    """Write one workbook per rep (their customers, contacts, follow-ups, deals; Lists and Settings).

    \b
      crmbook split crm.xlsx --by owner -o team/
      crmbook split crm.xlsx -o team/ --password-file reps.csv --redact
    """
    from crmbook.team_crypt import read_passwords
    from crmbook.team_split import format_split_summary
    from crmbook.team_split import split as split_book

    passwords = read_passwords(password_file) if password_file else None
    result = split_book(
        path,
        out_dir,
        by=by,
        passwords=passwords,
        redact=redact,
        force=force,
        today=today.date() if today else None,
        lock_timeout=wait,
    )
    for line in format_split_summary(result):
        click.echo(line)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--into", type=click.Path(dir_okay=False, path_type=Path), help="The canonical workbook to collect into."
)
@click.option("--dry-run", is_flag=True, help="Show what would be applied and what conflicts; write nothing.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV of rep,password the files were encrypted with.",
)
@click.option(
    "--resolve",
    "resolve_",
    is_flag=True,
    help="Apply the decisions on the Conflicts sheet: --resolve crm.xlsx.",
)
@click.option("--undo", is_flag=True, help="Undo a collect: crmbook collect --undo crm.xlsx COLLECT_ID.")
@WAIT_OPTION
@TODAY_OPTION
@handle_errors
def collect(
    paths: tuple[str, ...],
    into: Path | None,
    dry_run: bool,
    password_file: Path | None,
    resolve_: bool,
    undo: bool,
    wait: float,
    today: dt.datetime | None,
) -> None:
    """Bring the reps' files back into the canonical workbook (three-way merge per cell).

    \b
      crmbook collect team/*.xlsx --into crm.xlsx --dry-run
      crmbook collect team/*.xlsx --into crm.xlsx [--password-file reps.csv]
      crmbook collect team --into crm.xlsx        (every workbook in the folder)
      crmbook collect --resolve crm.xlsx
      crmbook collect --undo crm.xlsx G20261201-001
    """
    from crmbook import team_collect
    from crmbook.team_crypt import read_passwords

    day = today.date() if today else None
    if undo:
        if into is not None and len(paths) == 1:  # crmbook collect --undo --into crm.xlsx G20261201-001
            paths = (str(into), *paths)
        if len(paths) != 2:
            raise click.UsageError(
                "--undo takes the workbook and the collect ID: crmbook collect --undo crm.xlsx G20261201-001"
            )
        result = team_collect.undo_collect(paths[0], paths[1], today=day, lock_timeout=wait)
    elif resolve_:
        named = [*paths, *([str(into)] if into is not None else [])]
        if len({str(Path(p).resolve()) for p in named}) != 1:
            raise click.UsageError(
                "--resolve applies the decisions typed on the canonical workbook's 冲突 sheet and reads no "
                "rep file: crmbook collect --resolve crm.xlsx"
            )
        result = team_collect.resolve(named[0], today=day, lock_timeout=wait)
    else:
        if into is None or not paths:
            raise click.UsageError(
                "name the rep files and the canonical workbook: crmbook collect team/*.xlsx --into crm.xlsx"
            )
        passwords = read_passwords(password_file) if password_file else None
        result = team_collect.collect(
            list(paths), into, passwords=passwords, dry_run=dry_run, today=day, lock_timeout=wait
        )
    for line in team_collect.format_collect_summary(result):
        click.echo(line)
    plan = result.plan
    if result.written and plan is not None and plan.refresh is not None and plan.refresh.report.has_errors:
        sys.exit(EXIT_PROBLEMS)


def main() -> None:
    cli(prog_name="crmbook")


if __name__ == "__main__":
    main()
