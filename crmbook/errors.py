"""The exceptions crmbook raises.

One base class, with two branches: problems with what the user gave us
(:class:`InputError`) and problems with a workbook file on disk
(:class:`WorkbookFileError`). The CLI turns any :class:`CrmbookError` into a
one-line message and a non-zero exit code; anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "CrmbookError",
    "FaultyOutputError",
    "InputError",
    "WorkbookChangedError",
    "WorkbookFileError",
    "WorkbookLockedError",
]


class CrmbookError(Exception):
    """Base class: a failure the user can act on, with a readable message."""


class InputError(CrmbookError):
    """A value, option or file content the user supplied is not usable."""


class WorkbookFileError(CrmbookError):
    """A workbook cannot be read or written (missing, not a workbook, encrypted, ...)."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class WorkbookLockedError(WorkbookFileError):
    """The workbook is open in Excel or being written by another crmbook run."""


class WorkbookChangedError(WorkbookFileError):
    """The workbook changed on disk after crmbook read it."""


class FaultyOutputError(WorkbookFileError):
    """crmbook built a workbook with a fault and did not save it (a bug in crmbook, to report)."""
