"""Changing a workbook in place: shared by every command that writes (refresh, merge, import, undo).

:func:`editing` holds the run lock, remembers what the file looked like, reads the book (refusing
one whose record sheets or headers are missing: a change would have nowhere to go) and offers
:meth:`Editing.save`, which patches the file surgically and replaces it safely (backup, atomic
replace, refusal when someone saved it since it was read).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmbook.book import Book, Table
from crmbook.changeset import CellWrite, Changeset, OwnedSheet
from crmbook.errors import CrmbookError, WorkbookFileError

if TYPE_CHECKING:
    from crmbook.ooxml import Patcher
    from crmbook.ooxml.writer import PreparedCells

__all__ = ["Editing", "editing", "learn_formulas", "read_for_edit", "save_changeset"]


def read_for_edit(
    path: str | os.PathLike[str],
    today: dt.date | None = None,
    *,
    on_table: Callable[[Table], None] | None = None,
) -> tuple[Book, list[Any]]:
    """The book at ``path`` and its structural issues; raises when a record sheet or header is missing.

    ``on_table``: see :func:`crmbook.reader.read_book`."""
    from crmbook.reader import read_book

    book, structural = read_book(path, today=today, on_table=on_table)
    missing = [i for i in structural if i.code in ("missing-sheet", "missing-header")]
    if missing:
        raise WorkbookFileError(
            os.fspath(path), "; ".join(i.message("en") for i in missing) + " Run crmbook check for details."
        )
    return book, structural


def save_changeset(
    path: str | os.PathLike[str],
    changeset: Changeset,
    book: Book,
    before: Any,
    inflated: Mapping[str, bytes] | None = None,
    patcher: Patcher | None = None,
) -> str | None:
    """Apply ``changeset`` to the file and replace it safely; the backup's path (None without one).

    ``inflated``: sheet parts of the file already read (see :func:`crmbook.ooxml.inflate_sheets`);
    ``patcher``: one already holding part of the work (see :class:`crmbook.ooxml.Patcher`).
    """
    from crmbook.log_archive import write_log_archive
    from crmbook.ooxml import apply_changeset
    from crmbook.safe_save import ensure_unchanged, save_workbook_bytes

    try:
        ensure_unchanged(path, before)
        if patcher is not None:
            data = patcher.apply(changeset)
        else:
            data = apply_changeset(path, changeset, lang=book.lang, inflated=inflated)
    except WorkbookFileError:
        ensure_unchanged(path, before)  # saved by someone else while crmbook patched it
        raise
    finally:
        if patcher is not None:
            patcher.close()
    backup_dir = book.settings.get("backup_dir") or ".crmbook-backups"
    write_log_archive(path, changeset, book.lang, backup_dir)  # what leaves the Change log: first
    saved = save_workbook_bytes(
        path,
        data,
        expected=before,
        backup_dir=backup_dir,
        keep=int(book.settings.get("backup_keep") or 10),
    )
    return str(saved.backup_path) if saved.backup_path else None


def learn_formulas(book: Book, inflated: Mapping[str, bytes]) -> None:
    """Tell each record table of ``book`` which of its cells hold a formula (``Table.formulas``), from
    the sheets' XML ``inflated`` already (:func:`crmbook.ooxml.inflate_sheets`; a sheet it does not
    hold, too big to keep beside the others, is looked through again in pieces, and read whole only
    when it holds a formula). A sheet without any formula, the common case, costs a byte search."""
    from crmbook.ooxml.formulas import may_hold_formulas, pieces_may_hold_formulas, sheet_formulas
    from crmbook.ooxml.package import open_package
    from crmbook.ooxml.sheetxml import SheetXml, SheetXmlError
    from crmbook.snapshot import learn_formulas as learn

    names: Mapping[str, str] = getattr(inflated, "names", {})
    shapes: Mapping[str, Any] = getattr(inflated, "shapes", {})
    without: Collection[str] = getattr(inflated, "without_formulas", ())  # told while they were read

    def learn_from(table: Table, data: bytes, part: str) -> None:
        if part in without or not may_hold_formulas(data):  # under any prefix
            return
        try:
            prefix = shapes[part].prefix if part in shapes else SheetXml(data).prefix
        except SheetXmlError:
            return  # a sheet crmbook cannot patch: its values stand (saving reports it)
        learn(table, sheet_formulas(data, prefix))

    missing = []
    for table in book.tables.values():
        part = names.get(table.sheet_name)
        if part is not None and part in inflated:
            learn_from(table, inflated[part], part)
        else:
            missing.append(table)
    if not missing or not book.path:
        return
    try:
        with open_package(book.path) as pkg:
            parts = pkg.sheet_parts()
            for table in missing:
                part = parts.get(table.sheet_name)
                # looked through piece by piece first: a sheet too big to be read ahead is held whole
                # only when it holds a formula
                if part is not None and part in pkg and pieces_may_hold_formulas(pkg.pieces(part)):
                    learn_from(table, pkg.read(part), part)
    except (CrmbookError, OSError, ValueError):
        return  # the values stand; saving reports what is wrong with the file


@dataclass
class Editing:
    """A workbook read under the run lock, to be changed and saved once."""

    path: str
    book: Book
    structural: list[Any]
    before: Any  # the file's fingerprint when it was read
    inflated: Mapping[str, bytes] = field(default_factory=dict)  # record sheet parts, read beside the book
    _patcher: Patcher | None = field(default=None, init=False, repr=False)

    # Letting the file engine start on the cell writes :meth:`save` will make (see
    # :class:`crmbook.ooxml.Patcher`): a refresh prepares them while it still plans.
    def _patching(self) -> Patcher:
        from crmbook.ooxml import Patcher

        if self._patcher is None:
            self._patcher = Patcher(self.path, lang=self.book.lang, inflated=self.inflated)
        return self._patcher

    def prepare(self, cell_writes: list[CellWrite]) -> None:
        """Work out the edits of ``cell_writes`` (final for their sheets) now."""
        self._patching().prepare(cell_writes)

    def prepare_owned(self, owned_sheets: list[OwnedSheet]) -> None:
        """Render now the crmbook-owned sheets :meth:`save` will write (the same objects, unchanged)."""
        self._patching().prepare_owned(owned_sheets)

    def ahead(self, cell_writes: list[CellWrite]) -> PreparedCells:
        """The edits of ``cell_writes`` as plain data, for :meth:`adopt`; may run in another process."""
        from crmbook.ooxml import Patcher

        if not cell_writes:
            return {}
        try:
            with Patcher(self.path, lang=self.book.lang, inflated=self.inflated) as patcher:
                return patcher.ahead(cell_writes)
        except CrmbookError:
            return {}  # only a head start: saving reports what is wrong with the file

    def adopt(self, prepared: PreparedCells) -> None:
        """Use edits :meth:`ahead` worked out."""
        self._patching().adopt(prepared)

    def save(self, changeset: Changeset) -> str | None:
        """Write ``changeset`` into the file safely; the backup's path (None without one)."""
        patcher, self._patcher = self._patcher, None
        return save_changeset(self.path, changeset, self.book, self.before, self.inflated, patcher)

    def close(self) -> None:
        """Let go of anything :meth:`prepare` holds open."""
        if self._patcher is not None:
            self._patcher.close()
            self._patcher = None


@contextmanager
def editing(
    path: str | os.PathLike[str],
    today: dt.date | None = None,
    *,
    lock_timeout: float = 10.0,
    on_table: Callable[[Table], None] | None = None,
) -> Iterator[Editing]:
    """Lock ``path`` against other crmbook runs, read it, and yield what a command needs to change it.

    ``on_table`` is called with each record table as soon as it is read (see
    :func:`crmbook.reader.read_book`)."""
    from crmbook.filetype import require_workbook
    from crmbook.ooxml import inflate_sheets
    from crmbook.reader import record_sheet_names
    from crmbook.safe_save import Fingerprint, run_lock

    spath = os.fspath(path)
    require_workbook(spath)  # a wrong name is told as such before a lock is taken beside it
    with run_lock(spath, timeout=lock_timeout):
        before = Fingerprint.of(spath)
        # The record sheets' XML, which the writer will patch, is inflated while calamine reads the
        # values (zlib works without the interpreter lock); the thread is done before the plan starts.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmbook-inflate") as pool:
            inflated = pool.submit(inflate_sheets, spath, record_sheet_names)
            book, structural = read_for_edit(spath, today, on_table=on_table)
        edit = Editing(spath, book, structural, before, inflated.result())
        learn_formulas(book, edit.inflated)
        try:
            yield edit
        finally:
            edit.close()
