"""Reading a workbook in order to change it, and saving a changeset into it: shared by every command that writes.

:func:`read_for_edit` refuses a workbook whose record sheets or headers are missing (the change
would have nowhere to go); :func:`save_changeset` patches the file surgically and replaces it
safely (backup, atomic replace, refusal when someone saved it since ``before`` was taken).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from crmbook.book import Book
from crmbook.changeset import Changeset
from crmbook.errors import WorkbookFileError

__all__ = ["read_for_edit", "save_changeset"]


def read_for_edit(path: str | os.PathLike[str], today: dt.date | None = None) -> tuple[Book, list[Any]]:
    """The book at ``path`` and its structural issues; raises when a record sheet or header is missing."""
    from crmbook.reader import read_book

    book, structural = read_book(path, today=today)
    missing = [i for i in structural if i.code in ("missing-sheet", "missing-header")]
    if missing:
        raise WorkbookFileError(
            os.fspath(path), "; ".join(i.message("en") for i in missing) + " Run crmbook check for details."
        )
    return book, structural


def save_changeset(path: str | os.PathLike[str], changeset: Changeset, book: Book, before: Any) -> str | None:
    """Apply ``changeset`` to the file and replace it safely; the backup's path (None without one)."""
    from crmbook.ooxml import apply_changeset
    from crmbook.safe_save import ensure_unchanged, save_workbook_bytes

    ensure_unchanged(path, before)
    try:
        data = apply_changeset(path, changeset, lang=book.lang)
    except WorkbookFileError:
        ensure_unchanged(path, before)  # saved by someone else while crmbook patched it
        raise
    saved = save_workbook_bytes(
        path,
        data,
        expected=before,
        backup_dir=book.settings.get("backup_dir") or ".crmbook-backups",
        keep=int(book.settings.get("backup_keep") or 10),
    )
    return str(saved.backup_path) if saved.backup_path else None
