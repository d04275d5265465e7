"""Minimal text edits to the package's bookkeeping parts.

``workbook.xml`` lists the sheets, ``*.rels`` parts link parts together and
``[Content_Types].xml`` types them. crmbook adds and removes single entries
in them and leaves every other byte alone, so the user's defined names,
calculation settings and extension data survive untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from crmbook.ooxml.xmltext import (
    REL_NS,
    TAG_RE,
    Edit,
    apply_edits,
    attr,
    escape_attr,
    find_element,
    remove_attr,
    root_prefix,
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
    "set_filter_range",
    "set_sheet_state",
]

PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class RT:
    """Relationship types crmbook creates."""

    WORKSHEET = f"{_DOC}/worksheet"
    DRAWING = f"{_DOC}/drawing"
    CHART = f"{_DOC}/chart"
    HYPERLINK = f"{_DOC}/hyperlink"
    STYLES = f"{_DOC}/styles"
    CALC_CHAIN = f"{_DOC}/calcChain"


class CT:
    """Content types crmbook registers."""

    WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    DRAWING = "application/vnd.openxmlformats-officedocument.drawing+xml"
    CHART = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
    STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"


def _elements(data: bytes, name: str) -> list[tuple[int, int, int, bytes]]:
    """(start, start tag end, end, attrs) of every element ``name`` (any prefix)."""
    out = []
    for m in TAG_RE.finditer(data):
        if m.group(1) or m.group(3) != name.encode():
            continue
        end = m.end()
        if not m.group(5):
            close = data.find(b"</" + (m.group(2) or b"") + m.group(3) + b">", end)
            end = close + len(m.group(2) or b"") + len(m.group(3)) + 3
        out.append((m.start(), m.end(), end, m.group(4)))
    return out


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
        used |= {attr(a, "Id") or "" for _, _, _, a in _elements(data, "Relationship")}
    n = len(used) + 1
    while f"rId{n}" in used:
        n += 1
    return f"rId{n}"


def add_relationship(data: bytes | None, rid: str, rtype: str, target: str, external: bool = False) -> bytes:
    """``data`` (or a new rels part) with one more relationship."""
    mode = ' TargetMode="External"' if external else ""
    prefix = root_prefix(data).decode() if data else ""
    text = (
        f'<{prefix}Relationship Id="{escape_attr(rid)}" Type="{escape_attr(rtype)}" '
        f'Target="{escape_attr(target)}"{mode}/>'
    ).encode()
    return _insert_before_close_of(data or new_relationships(), "Relationships", text)


def remove_relationships(data: bytes, ids: set[str]) -> bytes:
    edits = [Edit(s, e, b"") for s, _, e, a in _elements(data, "Relationship") if attr(a, "Id") in ids]
    return apply_edits(data, edits)


# -- content types ----------------------------------------------------------------------


def add_override(data: bytes, part: str, content_type: str) -> bytes:
    """``[Content_Types].xml`` with an Override for ``part`` (replacing one that exists)."""
    data = remove_overrides(data, {part})
    prefix = root_prefix(data).decode()
    text = f'<{prefix}Override PartName="/{escape_attr(part)}" ContentType="{escape_attr(content_type)}"/>'
    return _insert_before_close_of(data, "Types", text.encode())


def override_type(data: bytes, part: str) -> str | None:
    """The content type an Override gives ``part``, or None."""
    wanted = "/" + part.lstrip("/").casefold()
    for _, _, _, a in _elements(data, "Override"):
        if (attr(a, "PartName") or "").casefold() == wanted:
            return attr(a, "ContentType")
    return None


def remove_overrides(data: bytes, parts: set[str]) -> bytes:
    wanted = {"/" + p.lstrip("/").casefold() for p in parts}
    edits = [
        Edit(s, e, b"")
        for s, _, e, a in _elements(data, "Override")
        if (attr(a, "PartName") or "").casefold() in wanted
    ]
    return apply_edits(data, edits)


# -- workbook.xml -----------------------------------------------------------------------


def _rel_prefix(data: bytes) -> str | None:
    m = re.search(rb"xmlns:([\w.\-]+)\s*=\s*[\"']" + re.escape(REL_NS.encode()) + rb"[\"']", data)
    return m.group(1).decode() if m else None


def add_sheet(data: bytes, name: str, sheet_id: int, rid: str, state: str = "visible") -> bytes:
    """``workbook.xml`` with a new ``<sheet>`` at the end of ``<sheets>``."""
    prefix = root_prefix(data).decode()
    rel = _rel_prefix(data)
    declare = "" if rel else f' xmlns:r="{REL_NS}"'
    state_attr = f' state="{state}"' if state != "visible" else ""
    text = (
        f'<{prefix}sheet name="{escape_attr(name)}" sheetId="{sheet_id}"{state_attr} '
        f'{rel or "r"}:id="{escape_attr(rid)}"{declare}/>'
    )
    return _insert_before_close_of(data, "sheets", text.encode())


def _insert_before_close_of(data: bytes, name: str, text: bytes) -> bytes:
    prefix = root_prefix(data)
    found = find_element(data, prefix, name)
    if found is None:
        raise ValueError(f"no <{name}> element")
    if found.empty:
        tag = data[found.start : found.tag_end][:-2].rstrip() + b">"
        closing = b"</" + prefix + name.encode() + b">"
        return data[: found.start] + tag + text + closing + data[found.end :]
    at = data.rindex(b"</", found.tag_end, found.end)
    return data[:at] + text + data[at:]


def set_sheet_state(data: bytes, name: str, state: str) -> bytes:
    """``workbook.xml`` with sheet ``name`` shown, hidden or very hidden."""
    for start, tag_end, _, attrs in _elements(data, "sheet"):
        if attr(attrs, "name") != name:
            continue
        tag = data[start:tag_end]
        new = remove_attr(tag, "state") if state == "visible" else set_attr(tag, "state", state)
        return data[:start] + new + data[tag_end:]
    raise ValueError(f"no sheet named {name!r}")


def fix_active_tab(data: bytes, states: list[str]) -> bytes:
    """Point ``activeTab``/``firstSheet`` at a visible sheet when they point at a hidden one."""
    visible = [i for i, s in enumerate(states) if s == "visible"]
    if not visible:
        return data
    for start, tag_end, _, attrs in _elements(data, "workbookView"):
        tag = data[start:tag_end]
        new = tag
        for key in ("activeTab", "firstSheet"):
            value = attr(attrs, key)
            if value and value.isdigit() and int(value) < len(states) and states[int(value)] != "visible":
                new = set_attr(new, key, str(visible[0]))
        if new != tag:
            return data[:start] + new + data[tag_end:]
    return data


_FILTER_NAME = "_xlnm._FilterDatabase"
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


def set_filter_range(data: bytes, sheet_index: int, formula: str | None) -> bytes:
    """``workbook.xml`` with the hidden autofilter name of one sheet set to ``formula`` (None: removed).

    Excel recreates the name on save; LibreOffice only shows an autofilter that has it.
    """
    prefix = root_prefix(data)
    for start, _, end, attrs in _elements(data, "definedName"):
        if attr(attrs, "name") == _FILTER_NAME and attr(attrs, "localSheetId") == str(sheet_index):
            data = data[:start] + data[end:]
            break
    if formula is None:
        return data
    p = prefix.decode()
    name = (
        f'<{p}definedName name="{_FILTER_NAME}" localSheetId="{sheet_index}" hidden="1">'
        f"{formula.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</{p}definedName>"
    ).encode()
    if find_element(data, prefix, "definedNames") is not None:
        return _insert_before_close_of(data, "definedNames", name)
    block = f"<{p}definedNames>".encode() + name + f"</{p}definedNames>".encode()
    root = find_element(data, prefix, "workbook")
    if root is None:
        raise ValueError("no <workbook> element")
    for later in _AFTER_DEFINED_NAMES:
        found = find_element(data, prefix, later, root.tag_end, root.end)
        if found is not None:
            return data[: found.start] + block + data[found.start :]
    at = data.rindex(b"</", root.tag_end, root.end)
    return data[:at] + block + data[at:]
