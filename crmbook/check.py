"""``crmbook check``: can crmbook work with this workbook?

Reports structural problems as issues: a file that is not a workbook or is
encrypted, a missing record sheet, a missing required column (with the
headers that would be accepted), two columns claiming the same field, and
Settings values that could not be used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from crmbook.book import Book
from crmbook.errors import WorkbookFileError
from crmbook.issues import Issue, Report
from crmbook.reader import read_book

__all__ = ["CheckResult", "check_workbook"]


@dataclass
class CheckResult:
    path: str
    report: Report
    book: Book | None  # None when the file could not be read at all

    @property
    def readable(self) -> bool:
        return self.book is not None and not self.report.has_errors

    def record_counts(self) -> dict[str, int]:
        if self.book is None:
            return {}
        return {key: len(t.data) for key, t in self.book.tables.items()}


def _file_issue(path: str, exc: WorkbookFileError) -> Issue:
    text = str(exc)
    detail = text.split(": ", 1)[1] if ": " in text else text
    code = "encrypted" if "encrypt" in detail.lower() else "not-a-workbook"
    return Issue(code, sheet=os.path.basename(path), params={"detail": detail})


def check_workbook(path: str | os.PathLike[str]) -> CheckResult:
    """Read ``path`` and collect every structural problem (never raises for a bad file)."""
    spath = os.fspath(path)
    report = Report()
    try:
        book, issues = read_book(spath)
    except WorkbookFileError as exc:
        report.add(_file_issue(spath, exc))
        return CheckResult(spath, report, None)
    report.extend(issues)
    return CheckResult(spath, report, book)
