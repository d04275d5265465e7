"""crmbook: a sales team's Excel workbook as a real CRM.

The public API is small; the CLI (``crmbook``) is a thin layer over it.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

# openpyxl serialises differently when lxml is importable (namespace declarations on each element
# rather than on the root). crmbook's workbooks must not depend on what else is installed, so it asks
# openpyxl for its standard-library writer, which openpyxl reads from this variable when first imported.
os.environ.setdefault("OPENPYXL_LXML", "False")

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
from crmbook.refresh import RefreshPlan, RefreshResult, plan_refresh, refresh
from crmbook.schema import load_schema
from crmbook.template import create_workbook

__all__ = [
    "Book",
    "CheckResult",
    "CrmbookError",
    "InputError",
    "Issue",
    "RefreshPlan",
    "RefreshResult",
    "Report",
    "Settings",
    "Table",
    "WorkbookChangedError",
    "WorkbookFileError",
    "WorkbookLockedError",
    "__version__",
    "check_workbook",
    "create_workbook",
    "load_schema",
    "plan_refresh",
    "read_book",
    "refresh",
]
