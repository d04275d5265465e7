"""Byte-level XML helpers for editing parts without re-serialising them.

Re-serialising a part through a DOM renames namespace prefixes, drops the
``mc:Ignorable`` bookkeeping Excel relies on and rewrites every byte of a
14 MB sheet. crmbook instead finds the few elements it changes with regular
expressions over the raw bytes and splices new text in. Everything here is
pure: bytes in, bytes or positions out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "MAIN_NS",
    "Edit",
    "Element",
    "apply_edits",
    "attr",
    "escape_attr",
    "escape_text",
    "find_element",
    "main_prefix",
    "remove_attr",
    "root_prefix",
    "set_attr",
    "top_level_elements",
    "unescape",
    "with_prefix",
]

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

# A start, end or empty-element tag, skipping quoted attribute values (which
# may legally contain ">"). Group 1: "/" for an end tag; 2: prefix with ":";
# 3: local name; 4: attributes; 5: "/" for an empty element.
TAG_RE = re.compile(rb"<(/?)([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(/?)>")
_ATTR_RE = re.compile(rb"(?:^|(?<=\s))([\w.\-]+(?::[\w.\-]+)?)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


@dataclass(frozen=True)
class Edit:
    """Replace ``data[start:end]`` with ``text`` (an insertion when start == end)."""

    start: int
    end: int
    text: bytes


@dataclass(frozen=True)
class Element:
    """Where one element sits in a part: its start tag and its whole extent."""

    name: str  # local name
    start: int  # offset of "<"
    tag_end: int  # offset just after the start tag's ">"
    end: int  # offset just after the element's end tag (== tag_end for <x/>)
    attrs: bytes  # the raw attribute text of the start tag

    @property
    def empty(self) -> bool:
        return self.end == self.tag_end


def apply_edits(data: bytes, edits: Iterable[Edit]) -> bytes:
    """Apply non-overlapping edits (in any order) and return the new bytes."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    view = memoryview(data)  # slices of a view are not copies: the bytes are copied once, by join
    out: list[bytes | memoryview] = []
    pos = 0
    for edit in ordered:
        if edit.start < pos:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        out.append(view[pos : edit.start])
        out.append(edit.text)
        pos = edit.end
    out.append(view[pos:])
    return b"".join(out)


def escape_text(text: str) -> str:
    """Escape character data (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attr(text: str) -> str:
    """Escape an attribute value for double quotes, keeping whitespace characters as they are."""
    return (
        escape_text(text)
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def unescape(raw: bytes) -> str:
    """Decode XML character data or an attribute value (entities and character references)."""
    return html.unescape(raw.decode("utf-8"))


def attr(attrs: bytes, name: str) -> str | None:
    """The unescaped value of attribute ``name`` in raw attribute text, or None."""
    key = name.encode()
    for m in _ATTR_RE.finditer(attrs):
        if m.group(1) == key:
            value = m.group(2) if m.group(2) is not None else m.group(3)
            return unescape(value)
    return None


def set_attr(tag: bytes, name: str, value: str) -> bytes:
    """Return start tag ``tag`` with attribute ``name`` set (replaced in place, or appended)."""
    key = name.encode()
    new = key + b'="' + escape_attr(value).encode() + b'"'
    for m in _ATTR_RE.finditer(tag):
        if m.group(1) == key:
            return tag[: m.start()] + new + tag[m.end() :]
    close = len(tag) - (2 if tag.endswith(b"/>") else 1)
    return tag[:close].rstrip() + b" " + new + tag[close:]


def remove_attr(tag: bytes, name: str) -> bytes:
    """Return start tag ``tag`` without attribute ``name``."""
    key = name.encode()
    for m in _ATTR_RE.finditer(tag):
        if m.group(1) == key:
            start = m.start()
            while start > 0 and tag[start - 1 : start].isspace():
                start -= 1
            return tag[:start] + tag[m.end() :]
    return tag


def with_prefix(xml: str, prefix: bytes) -> bytes:
    """Element text written for the default namespace, moved to ``prefix`` (e.g. ``b"x:"``)."""
    if not prefix:
        return xml.encode()
    p = prefix.decode()
    return re.sub(r"<(/?)(?=[A-Za-z])", lambda m: f"<{m.group(1)}{p}", xml).encode()


def root_prefix(data: bytes) -> bytes:
    """The namespace prefix of the root element, with its colon (``b""`` for the default namespace)."""
    for m in TAG_RE.finditer(data):
        if m.group(1):
            continue
        return m.group(2) or b""
    raise ValueError("no root element")


_XMLNS_RE = re.compile(rb"xmlns(?::([A-Za-z_][\w.\-]*))?\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def main_prefix(data: bytes, uri: str = MAIN_NS) -> bytes:
    """The prefix (with its colon) that names namespace ``uri`` everywhere in the part, for splicing.

    Byte-level splicing finds elements by the name they are written with, which is only the same as
    finding them by namespace when one prefix is bound to ``uri`` throughout: the root element's,
    bound there and never bound again to another namespace, with no second prefix for ``uri``
    anywhere. Every producer crmbook knows writes its parts so (Excel, openpyxl, XlsxWriter,
    LibreOffice and Gnumeric the default namespace, the Open XML SDK ``x:``). Raises ValueError for a
    part that binds otherwise; a scan for ``xmlns``, cheap even on a big sheet, tells.
    """
    root = root_prefix(data)
    own = root[:-1]
    bound_at_root = False
    pos = data.find(b"xmlns")
    first_tag = TAG_RE.search(data)
    root_end = first_tag.end() if first_tag is not None else 0
    while pos >= 0:
        m = _XMLNS_RE.match(data, pos)
        if m is not None and data[pos - 1 : pos].isspace():
            prefix = m.group(1) or b""
            value = unescape(m.group(2) if m.group(2) is not None else m.group(3))
            if prefix == own and value == uri and pos < root_end:
                bound_at_root = True
            elif prefix == own and value != uri:
                raise ValueError(
                    f"the namespace prefix {own.decode()!r} is bound again to {value!r} inside it"
                )
            elif prefix != own and value == uri:
                raise ValueError(
                    f"it names its main namespace with two prefixes ({own.decode()!r} and {prefix.decode()!r})"
                )
        pos = data.find(b"xmlns", pos + 5)
    if not bound_at_root:
        raise ValueError(f"its root element is not in the namespace {uri}")
    return root


def _matching_end(data: bytes, m: re.Match[bytes], limit: int) -> int:
    """Offset just after the end tag of the element whose start tag is ``m``."""
    if m.group(5):
        return m.end()
    prefix, name = m.group(2) or b"", m.group(3)
    depth = 1
    pattern = re.compile(rb"<(/?)" + re.escape(prefix + name) + rb"\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(/?)>")
    for inner in pattern.finditer(data, m.end(), limit):
        if inner.group(2):
            continue
        depth += -1 if inner.group(1) else 1
        if depth == 0:
            return inner.end()
    raise ValueError(f"unclosed element <{name.decode()}>")


def top_level_elements(data: bytes, start: int, end: int) -> Iterator[Element]:
    """The elements directly inside ``data[start:end]`` (which must hold only whole elements and text)."""
    pos = start
    while True:
        m = TAG_RE.search(data, pos, end)
        if m is None:
            return
        if m.group(1):
            raise ValueError(f"unexpected end tag </{m.group(3).decode()}>")
        stop = _matching_end(data, m, end)
        yield Element(m.group(3).decode(), m.start(), m.end(), stop, m.group(4))
        pos = stop


def find_element(
    data: bytes, prefix: bytes, name: str, start: int = 0, end: int | None = None
) -> Element | None:
    """The first element ``prefix:name`` in ``data[start:end]``, whatever its depth."""
    limit = len(data) if end is None else end
    pattern = re.compile(rb"<" + re.escape(prefix + name.encode()) + rb"(?=[\s/>])")
    m0 = pattern.search(data, start, limit)
    if m0 is None:
        return None
    m = TAG_RE.match(data, m0.start(), limit)
    if m is None:
        raise ValueError(f"malformed <{name}> tag")
    return Element(name, m.start(), m.end(), _matching_end(data, m, limit), m.group(4))
