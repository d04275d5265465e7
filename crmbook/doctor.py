"""``crmbook doctor``: can this machine run the workbook's buttons, and is the workbook ready for them?

Each check is a small function returning a :class:`Finding` (ok or not, what was found, what to do);
the CLI prints them and exits 1 when any failed. Nothing is changed.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finding", "check_machine", "check_workbook", "expected_xlwings_version"]

MACROS = ("CrmbookRefresh", "CrmbookFindDuplicates", "CrmbookMonthlyReport")


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""


def expected_xlwings_version() -> str:
    """The xlwings version of the VBA module crmbook puts into workbooks (macros/xlwings.bas)."""
    from importlib import resources

    text = resources.files("macros").joinpath("xlwings.bas").read_text("cp1252")
    m = re.search(r"^'Version: (\S+)", text, re.MULTILINE)
    return m.group(1) if m else "?"


def check_machine(interpreter: str | None = None) -> list[Finding]:
    """xlwings installed in the expected version, and crmbook importable from the buttons' interpreter."""
    findings = []
    wanted = expected_xlwings_version()
    try:
        import xlwings

        version = xlwings.__version__
        findings.append(
            Finding(
                version == wanted,
                f"xlwings {version} is installed (the workbook's VBA module is {wanted})",
                "" if version == wanted else f'pip install "xlwings=={wanted}"',
            )
        )
    except ImportError:
        findings.append(
            Finding(False, "xlwings is not installed", f'pip install "crmbook[excel]" (xlwings {wanted})')
        )
    python = interpreter or sys.executable
    expanded = os.path.expandvars(python)
    if not Path(expanded).exists():
        findings.append(
            Finding(
                False,
                f"interpreter {python} does not exist",
                "set INTERPRETER_WIN / INTERPRETER_MAC on the xlwings.conf sheet",
            )
        )
        return findings
    try:
        probe = subprocess.run(
            [expanded, "-c", "import crmbook.xl, xlwings; print(xlwings.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as exc:
        findings.append(
            Finding(
                False, f"cannot start {python}: {exc}", "point the xlwings.conf sheet at a working Python"
            )
        )
        return findings
    if probe.returncode == 0:
        findings.append(Finding(True, f"{python} imports crmbook.xl and xlwings {probe.stdout.strip()}"))
    else:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        findings.append(
            Finding(
                False,
                f"{python} cannot import crmbook.xl ({last})",
                f'{python} -m pip install "crmbook[excel]"',
            )
        )
    return findings


def check_workbook(path: str | os.PathLike[str]) -> tuple[list[Finding], str | None]:
    """Macros present and bound to the buttons; the interpreter the xlwings.conf sheet names (or None)."""
    from crmbook.buttons import CONF_SHEET

    p = Path(path)
    findings = []
    if p.suffix.lower() != ".xlsm":
        return [
            Finding(False, f"{p.name} is not macro-enabled (.xlsm)", f"crmbook install-buttons {p.name}")
        ], None
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
            project = z.read("xl/vbaProject.bin") if "xl/vbaProject.bin" in names else None
            vml = "".join(
                z.read(n).decode("utf-8", "replace") for n in names if n.startswith("xl/drawings/vmlDrawing")
            )
    except (OSError, zipfile.BadZipFile) as exc:
        return [Finding(False, f"{p.name} cannot be opened ({exc})", "restore a backup copy")], None
    if project is None:
        return [Finding(False, "the workbook has no VBA project", f"crmbook install-buttons {p.name}")], None
    modules = _module_sources(project)
    crmbook_module = modules.get("crmbook", "")
    have = set(re.findall(r"^Public Sub (\w+)\(\)", crmbook_module, re.MULTILINE))
    findings.append(
        Finding(
            set(MACROS) <= have,
            f"macros in the crmbook module: {', '.join(sorted(have)) or 'none'}",
            "" if set(MACROS) <= have else f"crmbook install-buttons {p.name} -o {p.name} --force",
        )
    )
    findings.append(
        Finding(
            "xlwings" in modules,
            "the xlwings module (RunPython) is in the project",
            "" if "xlwings" in modules else "crmbook install-buttons again",
        )
    )
    bound = re.findall(r"<x:FmlaMacro>\[0\]!(\w+)</x:FmlaMacro>", vml)
    findings.append(
        Finding(
            bool(bound) and set(bound) <= have,
            f"buttons bound to: {', '.join(bound) or 'none'}",
            "" if bound else "crmbook refresh draws the buttons on the dashboard",
        )
    )
    interpreter = _conf_interpreter(p, CONF_SHEET)
    findings.append(
        Finding(
            interpreter is not None,
            f"{CONF_SHEET} sheet names the interpreter: {interpreter}",
            "" if interpreter else "crmbook install-buttons --interpreter …",
        )
    )
    return findings, interpreter


def _module_sources(project: bytes) -> dict[str, str]:
    from crmbook.vba import read_modules

    try:
        return read_modules(project)
    except (ValueError, KeyError, struct.error):
        return {}


def _conf_interpreter(path: Path, sheet: str) -> str | None:
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_path(str(path))
    if sheet not in wb.sheet_names:
        return None
    key = (
        "INTERPRETER_WIN"
        if sys.platform == "win32"
        else "INTERPRETER_MAC"
        if sys.platform == "darwin"
        else None
    )
    for row in wb.get_sheet_by_name(sheet).to_python():
        if row and str(row[0]).upper() in ((key,) if key else ("INTERPRETER_WIN", "INTERPRETER_MAC")):
            return str(row[1]) or None
    return None
