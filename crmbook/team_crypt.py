"""Rep files with a password: standard Office encryption (ECMA-376 agile, what Excel and WPS use).

:func:`read_passwords` reads the lead's password file (a CSV of rep, password); :func:`encrypt` and
:func:`decrypt` go through msoffcrypto-tool. A wrong or missing password is an error naming the file.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from crmbook.errors import InputError, WorkbookFileError

__all__ = ["decrypt", "encrypt", "is_encrypted", "read_passwords"]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEADER_WORDS = {"销售代表", "代表", "负责人", "姓名", "rep", "name", "owner", "sales rep"}


def read_passwords(path: str | os.PathLike[str]) -> dict[str, str]:
    """rep -> password from a CSV file (UTF-8, with or without BOM, or GB18030); a header row is optional."""
    spath = os.fspath(path)
    try:
        raw = Path(spath).read_bytes()
    except OSError as exc:
        raise InputError(f"{spath}: cannot read the password file ({exc.strerror})") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise InputError(f"{spath}: not a CSV text file; save it as CSV UTF-8")
    out: dict[str, str] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if n == 1 and cells[0].casefold() in HEADER_WORDS:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise InputError(
                f"{spath}: line {n} needs two columns, the rep's name and the password (found {row!r})"
            )
        if cells[0] in out:
            raise InputError(f"{spath}: line {n} gives {cells[0]} a second password; keep one")
        out[cells[0]] = row[1]  # the password as typed (spaces count)
    if not out:
        raise InputError(f"{spath}: no passwords in it; write one line per rep: name,password")
    return out


def is_encrypted(data: bytes) -> bool:
    return data[:8] == OLE_MAGIC


def encrypt(data: bytes, password: str) -> bytes:
    """``data`` (an .xlsx or .xlsm package) encrypted with ``password``."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def decrypt(data: bytes, password: str | None, path: str) -> bytes:
    """The package inside an encrypted workbook; a clear error for a missing or wrong password."""
    import msoffcrypto
    from msoffcrypto.exceptions import DecryptionError, FileFormatError, InvalidKeyError

    if password is None:
        raise WorkbookFileError(
            path,
            "is protected with a password; give the password file with --password-file "
            "(one line per rep: name,password)",
        )
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password=password)
        out = io.BytesIO()
        office.decrypt(out)
    except (InvalidKeyError, DecryptionError):
        raise WorkbookFileError(
            path, "the password in the password file does not open it; check that rep's line"
        ) from None
    except (FileFormatError, ValueError, OSError) as exc:
        raise WorkbookFileError(path, f"is encrypted in a way crmbook cannot open ({exc})") from None
    return out.getvalue()
