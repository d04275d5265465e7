"""Shared fixtures: sample workbooks made once per session, copied per test."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
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
