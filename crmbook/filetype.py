"""What kind of file did the user give us? Decided by content, not by extension.

An ``.xls`` renamed to ``.xlsx`` (or the reverse), a password-encrypted
workbook (an OLE compound file holding ``EncryptionInfo``), a spreadsheet in
LibreOffice's own format (OpenDocument, ``.ods``), a CSV and a file that is no
spreadsheet at all each get a clear message.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Literal

from crmbook.errors import WorkbookFileError
from crmbook.ooxml.package import OLE_MAGIC, _ole_stream_names

__all__ = ["FileKind", "describe_mismatch", "require_workbook", "sniff"]

FileKind = Literal["xlsx", "xlsm", "xls", "ods", "csv", "encrypted", "not-workbook"]
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

TEXT_EXTENSIONS = {".csv", ".txt", ".tsv"}
_EXPECTED = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls", ".csv": "csv"}


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
            return True
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is fine.
            if exc.start >= len(head) - 4:
                return True
    return False


def sniff(path: str | os.PathLike[str]) -> FileKind:
    """The kind of file at ``path`` (which must exist and be readable)."""
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(65536)
        if head.startswith(OLE_MAGIC):
            return "encrypted" if "EncryptionInfo" in _ole_stream_names(fh) else "xls"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(p) as zf:
                names = set(zf.namelist())
                if (
                    "mimetype" in names
                    and zf.getinfo("mimetype").file_size < 100
                    and zf.read("mimetype").strip().startswith(_ODS_MIMETYPE)  # .ods and its templates
                ):
                    return "ods"
        except (zipfile.BadZipFile, OSError, ValueError):
            return "not-workbook"
        if "xl/workbook.xml" not in names and not any(n.endswith("/workbook.xml") for n in names):
            return "not-workbook"
        return "xlsm" if "xl/vbaProject.bin" in names else "xlsx"
    if head and p.suffix.lower() in TEXT_EXTENSIONS and _looks_like_text(head):
        return "csv"
    return "not-workbook"


def describe_mismatch(path: str | os.PathLike[str], kind: FileKind) -> str | None:
    """A one-line explanation when the extension says one thing and the content another."""
    suffix = Path(path).suffix.lower()
    expected = _EXPECTED.get(suffix)
    if expected is None or expected == kind or {expected, kind} == {"xlsx", "xlsm"}:
        return None
    if kind == "xls":
        return (
            f"is really an old .xls workbook despite its {suffix} name; open it in Excel and save it as .xlsx"
        )
    if kind in ("xlsx", "xlsm") and suffix == ".xls":
        return f"is really an .{kind} workbook despite its .xls name; rename it to .{kind}"
    return None


def require_workbook(path: str | os.PathLike[str]) -> FileKind:
    """Check that ``path`` is an .xlsx/.xlsm crmbook can open; raise a clear error otherwise."""
    p = Path(path)
    if not p.exists():
        raise WorkbookFileError(p, "no such file; check the name and folder")
    if p.is_dir():
        raise WorkbookFileError(p, "is a folder, not a workbook")
    if p.stat().st_size == 0:
        raise WorkbookFileError(p, "is empty (0 bytes); restore it from a backup")
    try:
        kind = sniff(p)
    except OSError as exc:
        raise WorkbookFileError(p, f"cannot be opened ({exc.strerror or exc})") from exc
    if kind in ("xlsx", "xlsm"):
        return kind
    if kind == "encrypted":
        raise WorkbookFileError(
            p,
            "is password-encrypted. In Excel use File > Info > Protect Workbook > Encrypt with Password, "
            "clear the password, save, and run crmbook again.",
        )
    if kind == "xls":
        hint = describe_mismatch(p, kind) or "is a legacy .xls workbook"
        raise WorkbookFileError(
            p,
            f"{hint}. Save it as .xlsx from Excel, or bring its data in with crmbook import (which reads .xls).",
        )
    if kind == "ods":
        raise WorkbookFileError(
            p,
            "is a spreadsheet in LibreOffice's own format (OpenDocument, .ods). Open it in LibreOffice (or "
            'WPS) and save it as an Excel workbook (File > Save As, type "Excel 2007-365 (.xlsx)"), then '
            "run crmbook again on the .xlsx.",
        )
    if kind == "csv":
        raise WorkbookFileError(p, "is a CSV text file, not a workbook; bring it in with crmbook import")
    raise WorkbookFileError(p, "is not an Excel workbook (.xlsx/.xlsm); it may be damaged or of another type")
