"""The command line, as a user runs it: exact exit codes, one-line errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmbook import __version__
from crmbook.cli import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_new_then_check(runner: CliRunner, tmp_path: Path) -> None:
    book = tmp_path / "crm.xlsx"
    result = runner.invoke(cli, ["new", str(book), "--sample", "30", "--today", "2026-11-22"])
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    result = runner.invoke(cli, ["check", str(book)])
    assert result.exit_code == 0, result.output
    assert "readable" in result.output


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_new_refuses_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    book = tmp_path / "crm.xlsx"
    book.write_bytes(b"precious")
    result = runner.invoke(cli, ["new", str(book)])
    assert result.exit_code == 2
    assert result.output.startswith("crmbook: error:")
    assert "Traceback" not in result.output
    assert book.read_bytes() == b"precious"


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_check_not_a_workbook(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "notes.xlsx"
    bad.write_text("just text", encoding="utf-8")
    result = runner.invoke(cli, ["check", str(bad)])
    assert result.exit_code == 1
    assert "notes.xlsx" in result.output
    assert "Traceback" not in result.output


def test_check_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["check", str(tmp_path / "nope.xlsx")])
    assert result.exit_code == 1
    assert "nope.xlsx" in result.output


def test_check_json(runner: CliRunner, tmp_path: Path) -> None:
    import json

    book = tmp_path / "crm.xlsx"
    assert runner.invoke(cli, ["new", str(book), "--lang", "en"]).exit_code == 0
    result = runner.invoke(cli, ["check", str(book), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["counts"]["error"] == 0


def test_a_fault_in_crmbook_is_one_line_exit_3_and_a_crash_report(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here: a check that fails in a way crmbook did not plan) is not the user's doing: it is
    named as crmbook's fault, with exit code 3 (not 1, "the workbook has problems"), and the details
    go to a crash report instead of a traceback on the screen."""
    book = tmp_path / "crm.xlsx"
    assert runner.invoke(cli, ["new", str(book)]).exit_code == 0
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the crash report goes

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("Type is not JSON serializable: Timestamp")

    monkeypatch.setattr("crmbook.check.check_workbook", broken)
    result = runner.invoke(cli, ["check", str(book)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "crmbook: internal error (TypeError: Type is not JSON serializable: Timestamp); this is a fault in crmbook"
    )
    report = Path(lines[0].split("crash report ", 1)[1].split(" ", 1)[0])
    assert report.parent == tmp_path and "TypeError" in report.read_text("utf-8")
    assert "command: " in report.read_text("utf-8")


@pytest.mark.parametrize(
    "command",
    [
        ["refresh", "{missing}"],
        ["refresh", "--dry-run", "{missing}"],
        ["dedupe", "{missing}"],
        ["merge", "--dry-run", "{missing}"],
        ["split", "{missing}", "-o", "{folder}"],
        ["report", "{missing}", "-o", "{folder}/r.xlsx"],
        ["export", "{missing}", "-o", "{folder}/x.csv"],
        ["import", "--undo", "{missing}", "I20261130-001"],
        ["collect", "--resolve", "{missing}"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_workbook_name_that_does_not_exist_is_one_line(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "no-such" / "crm.xlsx"
    args = [a.format(missing=missing, folder=tmp_path) for a in command]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"crmbook: error: {missing}: no such file; check the name and folder"


@pytest.mark.parametrize(
    "args",
    [
        ["collect", "--resolve", "a.xlsx", "b.xlsx"],
        ["collect", "team.xlsx"],
        ["split", "crm.xlsx", "-o", "team", "--by", "team"],
    ],
    ids=["resolve with two files", "collect without --into", "split by another column"],
)
def test_a_wrong_option_is_a_usage_error_not_a_fault(runner: CliRunner, args: list[str]) -> None:
    """A wrong combination of options is the user's to fix: click's usage error, exit code 2, never
    taken for a fault in crmbook (exit code 3)."""
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output


def test_collect_resolve_and_undo_take_the_canonical_workbook_as_into_too(tmp_path: Path) -> None:
    """crmbook collect --resolve --into crm.xlsx works as crmbook collect --resolve crm.xlsx; with rep
    files named as well, --resolve says it reads none (it resolved the rep file instead)."""
    book = tmp_path / "crm.xlsx"
    runner = CliRunner()
    assert runner.invoke(cli, ["new", str(book)]).exit_code == 0
    rep = tmp_path / "team" / "张伟.xlsx"
    mixed = runner.invoke(cli, ["collect", str(rep), "--into", str(book), "--resolve"])
    assert mixed.exit_code == 2 and "reads no rep file" in mixed.output
    nothing = runner.invoke(cli, ["collect", "--resolve"])
    assert nothing.exit_code == 2 and "crmbook collect --resolve crm.xlsx" in nothing.output
    resolved = runner.invoke(cli, ["collect", "--resolve", "--into", str(book)])
    assert resolved.exit_code == 0, resolved.output
    assert "0 decisions applied" in resolved.output
    undo = runner.invoke(cli, ["collect", "--undo", "--into", str(book), "G20261201-001"])
    assert undo.exit_code == 2 and "G20261201-001" in undo.output and "Traceback" not in undo.output
    bare = runner.invoke(cli, ["collect", "--into", str(book)])
    assert bare.exit_code == 2 and "name the rep files" in bare.output
