"""Where the elements of a small part are, with the namespaces in scope at each one.

A part may bind a namespace to any prefix, on the root or on any element, and
bind a prefix again lower down: Excel declares everything on the root, openpyxl
with lxml declares ``xmlns:r`` on each ``<sheet>``, the Open XML SDK writes
SpreadsheetML as ``x:sheet``. crmbook edits the bookkeeping parts (workbook,
relationships, content types) by splicing bytes, so it needs, for the element it
edits, its namespace and the prefixes valid *there*. This module gets both from
expat (the standard library's parser, no DTDs and no entities accepted) in one
pass: byte offsets of every element and the bindings in scope at each one.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from dataclasses import dataclass

from crmbook.ooxml.xmltext import TAG_RE

__all__ = ["Node", "attribute_prefix", "element_prefix", "scan"]

XML_NS = "http://www.w3.org/XML/1998/namespace"


@dataclass(slots=True)
class Node:
    """One element of a part: its expanded name, its extent and the namespaces in scope on it."""

    uri: str  # its namespace ("" for none)
    local: str  # its local name
    qname: bytes  # the name as written (``x:sheet``)
    start: int  # offset of "<"
    tag_end: int  # offset just after the start tag's ">"
    end: int  # offset just after its end tag (== tag_end for <x/>)
    scope: dict[str, str]  # prefix ("" for the default namespace) -> namespace, in scope on this element
    parent: int  # index of the parent in the scan (-1 for the root)
    attrs: bytes  # the raw attribute text of the start tag

    @property
    def empty(self) -> bool:
        return self.end == self.tag_end


class _Refused(ValueError):
    pass


def _refuse(*_: object) -> None:
    raise _Refused("the part declares a DTD or entities, which crmbook refuses")


def scan(data: bytes) -> list[Node]:
    """Every element of ``data`` in document order. Raises ValueError when it is not well-formed
    namespaced XML (an unbound prefix, a DTD, bad syntax)."""
    nodes: list[Node] = []
    open_: list[int] = []
    scopes: list[dict[str, str]] = [{"xml": XML_NS}]
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse

    def start(name: str, attributes: dict[str, str]) -> None:
        scope = scopes[-1]
        declared = {k: v for k, v in attributes.items() if k == "xmlns" or k.startswith("xmlns:")}
        if declared:
            scope = dict(scope)
            for key, value in declared.items():
                prefix = key[6:]
                if prefix and not value:
                    raise ValueError(f"prefix {prefix!r} is bound to an empty namespace")
                scope[prefix] = value
        prefix, _, local = name.rpartition(":")
        if prefix and prefix not in scope:
            raise ValueError(f"unbound prefix {prefix!r} on <{name}>")
        for key in attributes:
            if ":" in key and not key.startswith("xmlns:") and key.partition(":")[0] not in scope:
                raise ValueError(f"unbound prefix on attribute {key!r} of <{name}>")
        at = parser.CurrentByteIndex
        m = TAG_RE.match(data, at)
        if m is None:
            raise ValueError(f"cannot locate the start tag of <{name}>")
        node = Node(
            scope.get(prefix, ""),
            local,
            name.encode(),
            at,
            m.end(),
            m.end() if m.group(5) else -1,
            scope,
            open_[-1] if open_ else -1,
            m.group(4),
        )
        open_.append(len(nodes))
        nodes.append(node)
        scopes.append(scope)

    def end(_name: str) -> None:
        index = open_.pop()
        scopes.pop()
        node = nodes[index]
        if node.end < 0:
            close = data.index(b">", parser.CurrentByteIndex) + 1
            node.end = close

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ValueError(f"not well-formed XML ({exc})") from exc
    return nodes


def element_prefix(node: Node, uri: str) -> bytes | None:
    """The prefix (with its colon; ``b""`` for the default namespace) that names an element of ``uri``
    inside ``node``: ``node``'s own prefix when it is bound to ``uri``, else any prefix bound to it."""
    own = node.qname.rpartition(b":")[0].decode()
    if node.scope.get(own, "") == uri and (own or node.scope.get("", "") == uri):
        return own.encode() + b":" if own else b""
    if node.scope.get("", "") == uri:
        return b""
    return next((p.encode() + b":" for p, u in sorted(node.scope.items()) if p and u == uri), None)


def attribute_prefix(node: Node, uri: str) -> str | None:
    """A prefix bound to ``uri`` inside ``node`` (attributes need one: the default namespace does not
    apply to them), or None."""
    return next((p for p, u in sorted(node.scope.items()) if p and p != "xml" and u == uri), None)
