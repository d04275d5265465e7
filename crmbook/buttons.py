"""Turning a workbook into the macro-enabled ``.xlsm`` with the Refresh, Find duplicates and Monthly report buttons.

:func:`install_buttons` writes a *new* ``crm.xlsm`` next to ``crm.xlsx`` (the original is
not touched), with:

* ``xl/vbaProject.bin`` built from ``macros/*.bas`` (:mod:`crmbook.vba`): the ``crmbook``
  module with the three button macros, xlwings' standalone ``xlwings`` module (BSD
  licence) that provides ``RunPython``, and the document modules of ThisWorkbook and
  each worksheet (their code names are set in the workbook where missing);
* the workbook's content type switched to macro-enabled, and the project linked;
* an ``xlwings.conf`` sheet with the settings xlwings reads (interpreter per platform,
  ``PYTHONPATH``, ``ADD_WORKBOOK_TO_PYTHONPATH``);
* then a refresh, which draws the buttons on the dashboard sheet (every later refresh
  draws them again: the dashboard of a macro-enabled workbook carries them).

Every other part of the package is copied as it was: sheets, formatting, comments,
charts, other buttons.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from crmbook.changeset import Changeset, OwnedSheet, SheetCell
from crmbook.errors import InputError, WorkbookFileError
from crmbook.ooxml import manifest
from crmbook.ooxml.package import open_package
from crmbook.ooxml.xmltext import attr, find_element, main_prefix, set_attr
from crmbook.ooxml.zipout import ZipAssembler
from crmbook.vba import Module, build_vba_project, document_module

__all__ = ["CONF_SHEET", "InstallResult", "conf_sheet", "install_buttons", "macro_modules", "vba_project"]

CONF_SHEET = "xlwings.conf"
CT_MACRO_WORKBOOK = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CT_VBA = "application/vnd.ms-office.vbaProject"
RT_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
VBA_PART = "xl/vbaProject.bin"
DEFAULT_INTERPRETER_WIN = r"%LOCALAPPDATA%\Programs\Python\Python311\python.exe"
DEFAULT_INTERPRETER_MAC = "/usr/local/bin/python3"
# crmbook's macros; xlwings' standalone module (BSD, provides RunPython); the Dictionary class it needs
# on macOS (MIT, Tim Hall's VBA-Dictionary, as xlwings ships it in its standalone quickstart).
MACRO_FILES = ("crmbook.bas", "xlwings.bas", "Dictionary.cls")


def macro_modules() -> list[Module]:
    """The standard modules from ``macros/`` (as shipped with crmbook)."""
    folder = resources.files("macros")
    modules = []
    for name in MACRO_FILES:
        text = folder.joinpath(name).read_bytes().decode("cp1252")
        m = re.match(r'Attribute VB_Name = "([^"]+)"', text)
        if m is None:
            raise WorkbookFileError(name, 'does not start with Attribute VB_Name = "…"')
        modules.append(Module(m.group(1), text, is_class=name.endswith(".cls")))
    return modules


def vba_project(code_names: list[str]) -> bytes:
    """``vbaProject.bin`` for a workbook whose worksheets have ``code_names``."""
    documents = [document_module("ThisWorkbook", workbook=True)]
    documents += [document_module(name, workbook=False) for name in code_names]
    return build_vba_project(documents + macro_modules())


def conf_sheet(interpreter_win: str | None = None, interpreter_mac: str | None = None) -> OwnedSheet:
    """The ``xlwings.conf`` sheet: key in column A, value in column B, from A1 down (as xlwings reads it)."""
    if interpreter_win is None and sys.platform == "win32":
        interpreter_win = sys.executable
    if interpreter_mac is None and sys.platform == "darwin":
        interpreter_mac = sys.executable
    rows = [
        ("INTERPRETER_WIN", interpreter_win or DEFAULT_INTERPRETER_WIN),
        ("INTERPRETER_MAC", interpreter_mac or DEFAULT_INTERPRETER_MAC),
        ("PYTHONPATH", ""),
        ("ADD_WORKBOOK_TO_PYTHONPATH", "False"),
        ("SHOW CONSOLE", "False"),
    ]
    return OwnedSheet(
        name=CONF_SHEET,
        rows=[[SheetCell(k), SheetCell(v or None)] for k, v in rows],
        widths={1: 30, 2: 70},
        tab_color="7F7F7F",
    )


def _with_code_name(sheet_xml: bytes, code_name: str) -> tuple[bytes, str]:
    """The sheet XML with a ``codeName`` on its ``sheetPr`` (kept if it has one), and that name."""
    try:
        prefix = main_prefix(sheet_xml)
        root = find_element(sheet_xml, prefix, "worksheet")
        if root is None:
            raise ValueError("no <worksheet> element")
        found = find_element(sheet_xml, prefix, "sheetPr", root.tag_end, root.end)
    except ValueError as exc:
        raise WorkbookFileError("", f"a worksheet part cannot be patched ({exc})") from exc
    if found is not None:
        existing = attr(found.attrs, "codeName")
        if existing:
            return sheet_xml, existing
        tag = set_attr(sheet_xml[found.start : found.tag_end], "codeName", code_name)
        return sheet_xml[: found.start] + tag + sheet_xml[found.tag_end :], code_name
    tag = b"<" + prefix + b'sheetPr codeName="' + code_name.encode() + b'"/>'
    return sheet_xml[: root.tag_end] + tag + sheet_xml[root.tag_end :], code_name


def enable_macros(path: str | os.PathLike[str]) -> bytes:
    """The package at ``path`` as a macro-enabled workbook carrying crmbook's VBA project."""
    with open_package(path) as pkg:
        sheets = pkg.sheet_parts()
        outputs: dict[str, bytes] = {}
        code_names: list[str] = []
        taken = {"thisworkbook"}
        for n, (name, part) in enumerate(sheets.items(), start=1):
            del name
            candidate = f"Sheet{n}"
            while candidate.casefold() in taken:
                candidate += "_"
            patched, code_name = _with_code_name(pkg.read(part), candidate)
            taken.add(code_name.casefold())
            code_names.append(code_name)
            if patched != pkg.read(part):
                outputs[part] = patched
        workbook_part = pkg.workbook_part
        outputs[workbook_part] = manifest.set_code_name(pkg.read(workbook_part), "ThisWorkbook")
        types = pkg.read("[Content_Types].xml")
        types = manifest.add_override(types, workbook_part, CT_MACRO_WORKBOOK)
        types = manifest.add_override(types, VBA_PART, CT_VBA)
        outputs["[Content_Types].xml"] = types
        rels_part = f"{os.path.dirname(workbook_part)}/_rels/{os.path.basename(workbook_part)}.rels"
        rels = pkg.read(rels_part)
        if not any(t == RT_VBA for _, t, _, _ in pkg.rels(workbook_part)):
            rels = manifest.add_relationship(rels, manifest.next_rid(rels), RT_VBA, "vbaProject.bin")
        outputs[rels_part] = rels
        outputs[VBA_PART] = vba_project(code_names)
        out = ZipAssembler()
        for name in pkg.names:
            if name in outputs:
                out.add(name, outputs.pop(name), pkg.infos[name].date_time)
            else:
                info, raw = pkg.raw(name)
                out.copy(info, raw)
        for name, data in outputs.items():
            out.add(name, data)
        return out.finish()


@dataclass
class InstallResult:
    path: Path
    refreshed: bool


def install_buttons(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str] | None = None,
    *,
    interpreter_win: str | None = None,
    interpreter_mac: str | None = None,
    overwrite: bool = False,
    today: dt.date | None = None,
) -> InstallResult:
    """Write ``target`` (default: ``source`` with ``.xlsm``) with crmbook's buttons and macros."""
    from crmbook.ooxml import apply_changeset
    from crmbook.reader import read_book
    from crmbook.refresh import refresh
    from crmbook.safe_save import Fingerprint, run_lock, save_workbook_bytes, write_new_file

    src = Path(source)
    dest = Path(target) if target is not None else src.with_suffix(".xlsm")
    if dest.suffix.lower() != ".xlsm":
        raise InputError(
            f"{dest}: a workbook with buttons must be saved as .xlsm (Excel will not run macros otherwise)"
        )
    book, structural = read_book(src, today=today)
    missing = [i for i in structural if i.code in ("missing-sheet", "missing-header")]
    if missing:
        raise WorkbookFileError(
            src, "is not a crmbook workbook: " + "; ".join(i.message("en") for i in missing)
        )
    same = dest.resolve() == src.resolve()
    with run_lock(dest, timeout=10):
        before = Fingerprint.of(dest) if same else None
        data = enable_macros(src)
        if same:
            save_workbook_bytes(dest, data, expected=before)
        else:
            write_new_file(dest, data, overwrite=overwrite)
        conf = Changeset(owned_sheets=[conf_sheet(interpreter_win, interpreter_mac)])
        save_workbook_bytes(
            dest, apply_changeset(dest, conf, lang=book.lang), expected=Fingerprint.of(dest), backup_dir=None
        )
    # The refresh adds crmbook's sheets and draws the buttons; then every sheet gets its code name and
    # its document module in the project (Excel expects one per sheet).
    refresh(dest, today=today)
    with run_lock(dest, timeout=10):
        save_workbook_bytes(dest, enable_macros(dest), expected=Fingerprint.of(dest), backup_dir=None)
    return InstallResult(dest, True)
