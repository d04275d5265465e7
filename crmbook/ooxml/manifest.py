"""Minimal text edits to the package's bookkeeping parts.

``workbook.xml`` lists the sheets, ``*.rels`` parts link parts together and
``[Content_Types].xml`` types them. crmbook adds and removes single entries
in them and leaves every other byte alone, so the user's defined names,
calculation settings and extension data survive untouched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from crmbook.ooxml import nsscan
from crmbook.ooxml.nsscan import Node, attribute_prefix, element_prefix
from crmbook.ooxml.xmltext import (
    MAIN_NS,
    REL_NS,
    TAG_RE,
    Edit,
    apply_edits,
    attr,
    escape_attr,
    escape_text,
    remove_attr,
    set_attr,
)

__all__ = [
    "CT",
    "RT",
    "add_override",
    "add_relationship",
    "add_sheet",
    "fix_active_tab",
    "new_relationships",
    "next_rid",
    "override_type",
    "remove_overrides",
    "remove_relationships",
    "set_code_name",
    "set_filter_range",
    "set_full_calc_on_load",
    "set_refresh_on_load",
    "set_sheet_state",
]

PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class RT:
    """Relationship types crmbook creates."""

    WORKSHEET = f"{_DOC}/worksheet"
    DRAWING = f"{_DOC}/drawing"
    CHART = f"{_DOC}/chart"
    HYPERLINK = f"{_DOC}/hyperlink"
    STYLES = f"{_DOC}/styles"
    CALC_CHAIN = f"{_DOC}/calcChain"
    PIVOT_CACHE = f"{_DOC}/pivotCacheDefinition"


class CT:
    """Content types crmbook registers."""

    WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    DRAWING = "application/vnd.openxmlformats-officedocument.drawing+xml"
    CHART = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
    STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"


@functools.lru_cache(maxsize=16)
def scan(data: bytes) -> tuple[Node, ...]:
    """:func:`crmbook.ooxml.nsscan.scan` of a bookkeeping part, remembered for the last few parts: a
    workbook gets many entries added one after another, each edit looking at the part as the last one
    left it (the nodes are only read, never changed)."""
    return tuple(nsscan.scan(data))


def _nodes(data: bytes, uri: str, name: str) -> list[Node]:
    """Every element ``name`` of namespace ``uri`` in ``data``, whatever prefix names it."""
    return [n for n in scan(data) if n.local == name and n.uri == uri]


def _one(nodes: Iterable[Node], uri: str, name: str) -> Node:
    found = next((n for n in nodes if n.local == name and n.uri == uri), None)
    if found is None:
        raise ValueError(f"no <{name}> element")
    return found


def _child_name(parent: Node, uri: str, name: str) -> tuple[bytes, bytes]:
    """The qualified name for a new ``name`` element of ``uri`` inside ``parent``, and the namespace
    declaration it needs (empty when a binding in scope serves)."""
    prefix = element_prefix(parent, uri)
    if prefix is not None:
        return prefix + name.encode(), b""
    return name.encode(), f' xmlns="{escape_attr(uri)}"'.encode()


def _append_child(data: bytes, parent: Node, text: bytes) -> bytes:
    """``data`` with ``text`` added as the last child of ``parent``."""
    if parent.empty:
        tag = data[parent.start : parent.tag_end][:-2].rstrip() + b">"
        return data[: parent.start] + tag + text + b"</" + parent.qname + b">" + data[parent.end :]
    at = data.rindex(b"</", parent.tag_end, parent.end)
    return data[:at] + text + data[at:]


# -- relationships --------------------------------------------------------------------


def new_relationships() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{PKG_REL_NS}"></Relationships>'
    ).encode()


def next_rid(data: bytes | None, taken: Iterable[str] = ()) -> str:
    """A relationship Id not used in ``data`` nor in ``taken``."""
    used = set(taken)
    if data:
        used |= {attr(n.attrs, "Id") or "" for n in _nodes(data, PKG_REL_NS, "Relationship")}
    n = len(used) + 1
    while f"rId{n}" in used:
        n += 1
    return f"rId{n}"


def add_relationship(data: bytes | None, rid: str, rtype: str, target: str, external: bool = False) -> bytes:
    """``data`` (or a new rels part) with one more relationship."""
    data = data or new_relationships()
    root = _one(scan(data), PKG_REL_NS, "Relationships")
    name, declare = _child_name(root, PKG_REL_NS, "Relationship")
    mode = b' TargetMode="External"' if external else b""
    text = (
        b"<"
        + name
        + f' Id="{escape_attr(rid)}" Type="{escape_attr(rtype)}" Target="{escape_attr(target)}"'.encode()
        + mode
        + declare
        + b"/>"
    )
    return _append_child(data, root, text)


def remove_relationships(data: bytes, ids: set[str]) -> bytes:
    edits = [
        Edit(n.start, n.end, b"")
        for n in _nodes(data, PKG_REL_NS, "Relationship")
        if attr(n.attrs, "Id") in ids
    ]
    return apply_edits(data, edits)


# -- content types ----------------------------------------------------------------------


def add_override(data: bytes, part: str, content_type: str) -> bytes:
    """``[Content_Types].xml`` with an Override for ``part`` (replacing one that exists)."""
    data = remove_overrides(data, {part})
    root = _one(scan(data), CT_NS, "Types")
    name, declare = _child_name(root, CT_NS, "Override")
    text = (
        b"<"
        + name
        + f' PartName="/{escape_attr(part)}" ContentType="{escape_attr(content_type)}"'.encode()
        + declare
        + b"/>"
    )
    return _append_child(data, root, text)


def override_type(data: bytes, part: str) -> str | None:
    """The content type an Override gives ``part``, or None."""
    wanted = "/" + part.lstrip("/").casefold()
    for n in _nodes(data, CT_NS, "Override"):
        if (attr(n.attrs, "PartName") or "").casefold() == wanted:
            return attr(n.attrs, "ContentType")
    return None


def remove_overrides(data: bytes, parts: set[str]) -> bytes:
    wanted = {"/" + p.lstrip("/").casefold() for p in parts}
    edits = [
        Edit(n.start, n.end, b"")
        for n in _nodes(data, CT_NS, "Override")
        if (attr(n.attrs, "PartName") or "").casefold() in wanted
    ]
    return apply_edits(data, edits)


# -- workbook.xml -----------------------------------------------------------------------


def add_sheet(data: bytes, name: str, sheet_id: int, rid: str, state: str = "visible") -> bytes:
    """``workbook.xml`` with a new ``<sheet>`` at the end of ``<sheets>``."""
    sheets = _one(scan(data), MAIN_NS, "sheets")
    qname, declare = _child_name(sheets, MAIN_NS, "sheet")
    rel = attribute_prefix(sheets, REL_NS)
    if rel is None:  # bound nowhere in scope (or only on siblings): declared on the new element
        rel = "r"
        declare += f' xmlns:r="{REL_NS}"'.encode()
    state_attr = f' state="{state}"' if state != "visible" else ""
    text = (
        b"<"
        + qname
        + f' name="{escape_attr(name)}" sheetId="{sheet_id}"{state_attr} {rel}:id="{escape_attr(rid)}"'.encode()
        + declare
        + b"/>"
    )
    return _append_child(data, sheets, text)


def set_sheet_state(data: bytes, name: str, state: str) -> bytes:
    """``workbook.xml`` with sheet ``name`` shown, hidden or very hidden."""
    for n in _nodes(data, MAIN_NS, "sheet"):
        if attr(n.attrs, "name") != name:
            continue
        tag = data[n.start : n.tag_end]
        new = remove_attr(tag, "state") if state == "visible" else set_attr(tag, "state", state)
        return data[: n.start] + new + data[n.tag_end :]
    raise ValueError(f"no sheet named {name!r}")


def fix_active_tab(data: bytes, states: list[str]) -> bytes:
    """Point ``activeTab``/``firstSheet`` at a visible sheet when they point at a hidden one."""
    visible = [i for i, s in enumerate(states) if s == "visible"]
    if not visible:
        return data
    for n in _nodes(data, MAIN_NS, "workbookView"):
        tag = data[n.start : n.tag_end]
        new = tag
        for key in ("activeTab", "firstSheet"):
            value = attr(n.attrs, key)
            if value and value.isdigit() and int(value) < len(states) and states[int(value)] != "visible":
                new = set_attr(new, key, str(visible[0]))
        if new != tag:
            return data[: n.start] + new + data[n.tag_end :]
    return data


_FILTER_NAME = "_xlnm._FilterDatabase"
_AFTER_WORKBOOK_PR = ("workbookProtection", "bookViews", "sheets")
# The children of <workbook> in the order CT_Workbook requires, from definedNames on.
_AFTER_DEFINED_NAMES = (
    "calcPr",
    "oleSize",
    "customWorkbookViews",
    "pivotCaches",
    "smartTagPr",
    "smartTagTypes",
    "webPublishing",
    "fileRecoveryPr",
    "webPublishObjects",
    "extLst",
)


def _insert_in_workbook(data: bytes, nodes: list[Node], text_for: bytes, later: tuple[str, ...]) -> bytes:
    """``data`` with ``text_for`` put among the children of ``<workbook>`` before the first of ``later``."""
    root = _one(nodes, MAIN_NS, "workbook")
    index = nodes.index(root)
    for n in nodes:
        if n.parent == index and n.uri == MAIN_NS and n.local in later:
            return data[: n.start] + text_for + data[n.start :]
    return _append_child(data, root, text_for)


def set_filter_range(data: bytes, sheet_index: int, formula: str | None) -> bytes:
    """``workbook.xml`` with the hidden autofilter name of one sheet set to ``formula`` (None: removed).

    Excel recreates the name on save; LibreOffice only shows an autofilter that has it.
    """
    for n in _nodes(data, MAIN_NS, "definedName"):
        if attr(n.attrs, "name") == _FILTER_NAME and attr(n.attrs, "localSheetId") == str(sheet_index):
            data = data[: n.start] + data[n.end :]
            break
    if formula is None:
        return data
    nodes = scan(data)
    existing = next((n for n in nodes if n.uri == MAIN_NS and n.local == "definedNames"), None)
    holder = existing or _one(nodes, MAIN_NS, "workbook")
    qname, declare = _child_name(holder, MAIN_NS, "definedName")
    name = (
        b"<"
        + qname
        + f' name="{_FILTER_NAME}" localSheetId="{sheet_index}" hidden="1"'.encode()
        + declare
        + b">"
        + escape_text(formula).encode()
        + b"</"
        + qname
        + b">"
    )
    if existing is not None:
        return _append_child(data, existing, name)
    block_name, block_declare = _child_name(holder, MAIN_NS, "definedNames")
    if block_declare:  # the names inherit the block's default namespace
        name = name.replace(declare, b"")
    block = b"<" + block_name + block_declare + b">" + name + b"</" + block_name + b">"
    return _insert_in_workbook(data, nodes, block, _AFTER_DEFINED_NAMES)


def set_full_calc_on_load(data: bytes) -> bytes:
    """``workbook.xml`` asking the spreadsheet program to recalculate every formula when it opens it.

    Excel drops ``fullCalcOnLoad`` when it saves; crmbook sets it again whenever it writes cells
    that the user's formulas may depend on, so no formula shows a result computed from old values.
    """
    nodes = scan(data)
    calc = next((n for n in nodes if n.uri == MAIN_NS and n.local == "calcPr"), None)
    if calc is not None:
        if attr(calc.attrs, "fullCalcOnLoad") in ("1", "true"):
            return data
        tag = data[calc.start : calc.tag_end]
        return data[: calc.start] + set_attr(tag, "fullCalcOnLoad", "1") + data[calc.tag_end :]
    root = _one(nodes, MAIN_NS, "workbook")
    qname, declare = _child_name(root, MAIN_NS, "calcPr")
    text = b"<" + qname + b' fullCalcOnLoad="1"' + declare + b"/>"
    return _insert_in_workbook(data, nodes, text, _AFTER_DEFINED_NAMES[1:])


def set_refresh_on_load(data: bytes, sheets: set[str]) -> bytes:
    """A pivot cache definition (``pivotCacheDefinition*.xml``) asking the spreadsheet program to refresh
    the pivot table when it opens the workbook, when its source is on one of ``sheets`` (or a name:
    a table or defined name); else ``data`` as it is.

    Like ``fullCalcOnLoad`` for formulas: a pivot table over a sheet crmbook wrote cells into would
    otherwise show its totals from before (Excel keeps the cache until someone clicks Refresh)."""
    root = TAG_RE.search(data)
    if root is None or root.group(3) != b"pivotCacheDefinition":
        return data
    source = _WORKSHEET_SOURCE.search(data, root.end(), root.end() + 4096)
    if source is None:
        return data  # not a worksheet source (an external connection, a consolidation)
    sheet = attr(source.group(1), "sheet")
    if sheet is not None and sheet not in sheets:
        return data
    if attr(root.group(4), "refreshOnLoad") in ("1", "true"):
        return data
    return data[: root.start()] + set_attr(root.group(0), "refreshOnLoad", "1") + data[root.end() :]


_WORKSHEET_SOURCE = re.compile(rb"<(?:[\w.-]+:)?worksheetSource\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)/?>")


def set_code_name(data: bytes, code_name: str) -> bytes:
    """``workbook.xml`` whose ``workbookPr`` has a ``codeName`` (one it has is kept)."""
    nodes = scan(data)
    pr = next((n for n in nodes if n.uri == MAIN_NS and n.local == "workbookPr"), None)
    if pr is not None:
        if attr(pr.attrs, "codeName"):
            return data
        tag = data[pr.start : pr.tag_end]
        return data[: pr.start] + set_attr(tag, "codeName", code_name) + data[pr.tag_end :]
    root = _one(nodes, MAIN_NS, "workbook")
    qname, declare = _child_name(root, MAIN_NS, "workbookPr")
    text = b"<" + qname + f' codeName="{escape_attr(code_name)}"'.encode() + declare + b"/>"
    return _insert_in_workbook(data, nodes, text, _AFTER_WORKBOOK_PR)
