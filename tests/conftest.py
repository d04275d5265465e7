"""Shared fixtures: sample workbooks made once per session, copied per test."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crmbook.template import create_workbook

TODAY = dt.date(2026, 11, 22)
ARTEFACTS = Path(__file__).parent / "artefacts"


@pytest.fixture(scope="session")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("master") / "crm.xlsx"
    return create_workbook(path, sample=120, seed=7, today=TODAY)


@pytest.fixture
def sample_book(sample_master: Path, tmp_path: Path) -> Path:
    target = tmp_path / "crm.xlsx"
    shutil.copyfile(sample_master, target)
    return target


def soffice_convert(src: Path, fmt: str, outdir: Path) -> Path:
    """Convert with LibreOffice headless (private profile, bounded time); skip when it is missing."""
    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("CI"):
            pytest.fail("soffice is missing on CI: .ci/run installs libreoffice-calc-nogui")
        pytest.skip("LibreOffice (soffice) is not installed")
    profile = outdir / "lo-profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            fmt,
            "--outdir",
            str(outdir),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    out = outdir / f"{src.stem}.{fmt.split(':')[0]}"
    assert out.exists(), f"LibreOffice did not write {out.name}"
    return out


def render_page(pdf: Path, page: int, name: str, dpi: int = 60) -> Path | None:
    """Render one PDF page (1-based) to ``tests/artefacts/<name>.png`` for a person to look at."""
    if shutil.which("pdftoppm") is None:
        return None
    ARTEFACTS.mkdir(exist_ok=True)
    target = ARTEFACTS / name
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(pdf),
            str(target),
        ],
        check=True,
        timeout=60,
    )
    out = target.with_suffix(".png")
    assert out.stat().st_size > 3000
    return out


# -- every workbook the suite writes is checked against the standard ----------------------------------
#
# At the end of the session every .xlsx/.xlsm under the session's temporary folder goes through
# ../shared/ooxml/validate.py (ECMA-376 schemas) and integrity.py (what Excel repairs), in a few
# batched subprocess calls; any problem fails the run. Nothing to opt in to: a test that writes a
# workbook under tmp_path is covered. A test that writes workbooks broken on purpose (hostile or
# corrupt inputs) says so with @pytest.mark.broken_workbooks (its tmp_path is left out) or by
# calling deliberately_broken(path). crmbook's backup copies (.crmbook-backups) are copies of files
# already covered, and are left out. The validator needs lxml: CRMBOOK_OOXML_PYTHON names a Python
# that has it when the suite runs without (the no-lxml CI environment sets it).

OOXML = Path(__file__).resolve().parents[2] / "shared" / "ooxml"
_BROKEN: set[Path] = set()
_BROKEN_DIRS: set[Path] = set()
_BATCH = 100


def deliberately_broken(path: Path) -> Path:
    """Leave ``path`` (a workbook written broken on purpose) out of the session's validation."""
    _BROKEN.add(Path(path).resolve())
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "broken_workbooks: the test writes workbooks broken on purpose under its tmp_path"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> object:
    if item.get_closest_marker("broken_workbooks") is not None:
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        if tmp is not None:
            _BROKEN_DIRS.add(Path(tmp).resolve())
    return (yield)


def _ooxml_python() -> str | None:
    chosen = os.environ.get("CRMBOOK_OOXML_PYTHON")
    if chosen:
        return chosen
    try:
        import lxml  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def _written_workbooks(root: Path) -> list[Path]:
    found = []
    for path in sorted([*root.rglob("*.xlsx"), *root.rglob("*.xlsm")]):
        resolved = path.resolve()
        if ".crmbook-backups" in path.parts or path.name.startswith((".~", "~$")):
            continue
        if resolved in _BROKEN or any(resolved.is_relative_to(d) for d in _BROKEN_DIRS):
            continue
        if path.is_file() and not _encrypted(path):
            found.append(path)
    return found


def _encrypted(path: Path) -> bool:
    """A password-protected workbook is an OLE compound file around the encrypted package: the
    checkers cannot open it (the tests that write one decrypt it and check the package inside)."""
    with path.open("rb") as f:
        return f.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _run_checks(python: str, files: list[Path]) -> tuple[list[str], int]:
    """Problem lines from both checkers over ``files``, and how many files were checked."""
    problems: list[str] = []
    for i in range(0, len(files), _BATCH):
        batch = [str(f) for f in files[i : i + _BATCH]]
        runs = [
            subprocess.Popen(
                [python, str(OOXML / "validate.py"), str(OOXML / "xsd"), *batch],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
            subprocess.Popen(
                [python, str(OOXML / "integrity.py"), *batch],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        ]
        for run in runs:
            out, _ = run.communicate(timeout=1800)
            lines = [
                line
                for line in out.splitlines()
                if (" | " in line and not line.startswith(("SUMMARY", "INTEGRITY")))
                or (line.startswith("INTEGRITY") and "crashed" in line)
            ]
            problems += lines
            if run.returncode and not lines:
                problems.append(f"{run.args[1]} exited {run.returncode}: {out.strip()[-2000:]}")
    return problems, len(files)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or exitstatus not in (0, 1):
        return
    try:
        root = factory.getbasetemp()
    except (OSError, ValueError):
        return
    files = _written_workbooks(root)
    if not files:
        say("ooxml: no workbook written by the tests to validate")
        return
    if not (OOXML / "validate.py").is_file():
        if os.environ.get("CI"):
            say(f"ooxml: {OOXML} is missing on CI: the workbooks cannot be validated")
            session.exitstatus = 1
        else:
            say(f"ooxml: skipped, {OOXML} is absent ({len(files)} workbooks not validated)")
        return
    python = _ooxml_python()
    if python is None:
        message = "ooxml: the validator needs lxml; set CRMBOOK_OOXML_PYTHON to a Python that has it"
        say(message)
        if os.environ.get("CI"):
            session.exitstatus = 1
        return
    problems, count = _run_checks(python, files)
    say(f"ooxml: {count} workbooks written by the tests validated against ECMA-376 and integrity checks")
    if problems:
        for line in problems[:200]:
            say(f"ooxml problem: {line}")
        say(f"ooxml: {len(problems)} problems in the workbooks the tests wrote")
        session.exitstatus = 1
