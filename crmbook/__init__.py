"""crmbook: a sales team's Excel workbook as a real CRM.

The public API is small; the CLI (``crmbook``) is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from crmbook.book import Book, Settings, Table
from crmbook.check import CheckResult, check_workbook
from crmbook.errors import (
    CrmbookError,
    InputError,
    WorkbookChangedError,
    WorkbookFileError,
    WorkbookLockedError,
)
from crmbook.issues import Issue, Report
from crmbook.reader import read_book
from crmbook.schema import load_schema

__all__ = [
    "Book",
    "CheckResult",
    "CrmbookError",
    "InputError",
    "Issue",
    "Report",
    "Settings",
    "Table",
    "WorkbookChangedError",
    "WorkbookFileError",
    "WorkbookLockedError",
    "__version__",
    "check_workbook",
    "load_schema",
    "read_book",
]
