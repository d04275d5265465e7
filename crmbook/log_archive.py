"""The Change log's oldest entries, kept in a file when the log lets them go.

The Change log holds at most :data:`crmbook.changelog.MAX_LOG_ROWS` entries; past that its oldest go
(:func:`crmbook.changelog.build_changelog_sheet`). Before the workbook that no longer holds them is
saved, they are written to a CSV beside it, in the backups folder (``.crmbook-backups/crm.changelog.
20261207-151800.csv``: the log's own columns, UTF-8 for Excel), which crmbook never prunes: the Change
log is the team's record of who changed what, and none of it is lost.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from crmbook.changelog import HEADERS
from crmbook.changeset import Changeset
from crmbook.schema import Lang

__all__ = ["archive_name", "dropped_entries", "write_log_archive"]


def dropped_entries(changeset: Changeset) -> list[list[object]]:
    """The rows the changeset's sheets let go, oldest first."""
    return [row for sheet in changeset.owned_sheets for row in sheet.dropped]


def archive_name(workbook: str | os.PathLike[str], when: dt.datetime) -> str:
    return f"{Path(workbook).stem}.changelog.{when.strftime('%Y%m%d-%H%M%S-%f')}.csv"


def write_log_archive(
    workbook: str | os.PathLike[str],
    changeset: Changeset,
    lang: Lang,
    folder: str | os.PathLike[str] = ".crmbook-backups",
    when: dt.datetime | None = None,
) -> Path | None:
    """Write the entries ``changeset`` lets go of the Change log of ``workbook`` into a new CSV in
    ``folder`` (relative to the workbook's folder); its path, None when none go."""
    from crmbook.export import csv_bytes
    from crmbook.safe_save import write_new_file

    rows = dropped_entries(changeset)
    if not rows:
        return None
    target = Path(folder)
    if not target.is_absolute():
        target = Path(workbook).parent / target
    target.mkdir(parents=True, exist_ok=True)
    path = target / archive_name(workbook, when or dt.datetime.now())
    write_new_file(path, csv_bytes(list(HEADERS[lang]), rows))
    return path
