"""The surgical file engine: apply a :class:`~crmbook.changeset.Changeset` to an .xlsx/.xlsm package.

An openpyxl load and save of a large book takes tens of seconds and drops
the charts, images and form controls it does not model. This engine
rebuilds the zip instead, changing only what the changeset asks for: the
touched rows of user sheets, crmbook's conditional formats and sheets, and
single entries in the workbook's bookkeeping parts. Everything else is
copied byte for byte. :func:`open_package` is the safe way in for any code
that needs the raw parts of a workbook.
"""

from __future__ import annotations

from crmbook.ooxml.package import Limits, Package, open_package
from crmbook.ooxml.writer import Patcher, apply_changeset, inflate_sheets

__all__ = ["Limits", "Package", "Patcher", "apply_changeset", "inflate_sheets", "open_package"]
