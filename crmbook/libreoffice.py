"""LibreOffice headless, for PDFs of report workbooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from crmbook.errors import CrmbookError

__all__ = ["INSTALL_HINT", "convert", "find_soffice"]

INSTALL_HINT = (
    "LibreOffice is needed for PDFs. Install it: Windows/macOS from https://www.libreoffice.org/download, "
    "Debian/Ubuntu with `sudo apt-get install libreoffice-calc-nogui`; then run the command again."
)


def find_soffice() -> str | None:
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for candidate in (
        r"C:\Program Files\LibreOffice\program\soffice.exe",
        "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    ):
        if os.path.exists(candidate):
            return candidate
    return None


def convert(
    src: str | os.PathLike[str], fmt: str, outdir: str | os.PathLike[str], *, timeout: float = 300
) -> Path:
    """Convert ``src`` to ``fmt`` ("pdf", "xlsx") into ``outdir`` with a private LibreOffice profile."""
    soffice = find_soffice()
    if soffice is None:
        raise CrmbookError(INSTALL_HINT)
    source = Path(src)
    with tempfile.TemporaryDirectory(prefix="crmbook-lo-") as profile:
        try:
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={Path(profile).as_uri()}",
                    "--headless",
                    "--convert-to",
                    fmt,
                    "--outdir",
                    str(outdir),
                    str(source),
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise CrmbookError(
                f"{source}: LibreOffice did not finish converting to {fmt} within {timeout:.0f} s"
            ) from exc
        except subprocess.CalledProcessError as exc:
            raise CrmbookError(
                f"{source}: LibreOffice could not convert it to {fmt} ({exc.stderr.decode(errors='replace')[-300:]})"
            ) from exc
    out = Path(outdir) / f"{source.stem}.{fmt}"
    if not out.exists():
        raise CrmbookError(f"{source}: LibreOffice wrote no {fmt} file")
    return out
