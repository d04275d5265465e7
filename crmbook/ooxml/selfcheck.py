"""The last look at a package before it replaces anything on disk.

crmbook edits packages part by part, by splicing bytes; a slip there (a prefix
used where it is not bound, a relationship to a part it deleted) would leave a
workbook that Excel, LibreOffice and openpyxl refuse. Before a save, this check
takes the bytes about to be written and, when a previous version exists, that
version, and finds:

* every XML part crmbook wrote or changed that is not well-formed namespaced XML
  (every prefix bound);
* every relationship that points to a part that is not in the package;
* every part that has no content type.

Parts copied unchanged (same name, CRC and size as before) are not parsed again,
and a fault the previous version already had (a dangling relationship of the
user's) is not crmbook's and is not reported. The check costs a parse of the
parts crmbook wrote or changed: the small bookkeeping parts and its own sheets
whole; of a big record sheet it spliced (``SplicedPackage``), only the text it
put in, parsed within the sheet's root start tag, since every other byte is the
previous version's. From 8 MB to parse on, the parts are shared out with a second core (a first refresh
of the 10,000-customer book parses 15 MB, two thirds of it the sheets crmbook owns).
"""

from __future__ import annotations

import io
import posixpath
import xml.parsers.expat as expat
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from crmbook.ooxml.xmltext import TAG_RE

__all__ = ["Fault", "check_package"]

_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fault:
    """One thing wrong with a package: the part and what is wrong with it."""

    part: str
    problem: str

    def __str__(self) -> str:
        return f"part {self.part}: {self.problem}"


def _well_formed(data: bytes) -> str | None:
    """None, or why ``data`` is not well-formed namespaced XML."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        return f"is not well-formed XML ({exc})"
    return None


def _elements(data: bytes, uri: str, local: str) -> list[dict[str, str]]:
    """The attributes of every element ``{uri}local`` in ``data`` (empty when it does not parse)."""
    found: list[dict[str, str]] = []
    wanted = f"{uri}}}{local}"
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == wanted:
            found.append(attrs)

    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except expat.ExpatError:
        return []
    return found


def _source(rels: str) -> str:
    folder, base = posixpath.split(rels)
    return posixpath.join(posixpath.dirname(folder), base.removesuffix(".rels"))


def _target(source: str, target: str) -> str:
    target = unquote(target).partition("#")[0]
    if target.startswith("/"):
        return posixpath.normpath(target).lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target)).lstrip("/")


def _extension(name: str) -> str:
    base = posixpath.basename(name)
    return base.rpartition(".")[2].casefold() if "." in base else ""


class _Package:
    """The parts of one zip, read on demand."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zip = zf
        self.infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
        self.folded = {n.casefold() for n in self.infos}

    def read(self, name: str) -> bytes:
        return self.zip.read(self.infos[name])

    def dangling(self, rels_parts: Iterable[str]) -> set[tuple[str, str]]:
        """(rels part, target) of each internal relationship whose target is not in the package."""
        out = set()
        for rels in rels_parts:
            source = _source(rels) if rels != "_rels/.rels" else ""
            for rel in _elements(self.read(rels), _PKG_REL, "Relationship"):
                if rel.get("TargetMode", "Internal") == "External":
                    continue
                target = _target(source, rel.get("Target", ""))
                if target.casefold() not in self.folded:
                    out.add((rels, target))
        return out

    def untyped(self) -> set[str]:
        """The parts ``[Content_Types].xml`` gives no content type."""
        if "[Content_Types].xml" not in self.infos:
            return set(self.infos)
        data = self.read("[Content_Types].xml")
        overrides = {o.get("PartName", "").casefold() for o in _elements(data, _CT, "Override")}
        defaults = {d.get("Extension", "").casefold() for d in _elements(data, _CT, "Default")}
        return {
            name
            for name in self.infos
            if name != "[Content_Types].xml"
            and ("/" + name).casefold() not in overrides
            and _extension(name) not in defaults
        }


def _fragments_well_formed(root_tag: bytes, texts: list[bytes]) -> str | None:
    """None, or why the texts spliced into a part are not well-formed there: they are parsed inside the
    part's root start tag (which holds its namespace declarations), fed to one parser in turn. A text
    that is a lone start tag (an attribute changed on an element with content) is closed for the parse."""
    m = TAG_RE.fullmatch(root_tag)
    if m is None or m.group(1):
        return "has no root element crmbook can find"
    qname = (m.group(2) or b"") + m.group(3)
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    pending: list[bytes] = [root_tag[:-2] + b">" if m.group(5) else root_tag]
    size = 0
    try:
        for text in texts:
            pending.append(text)
            size += len(text)
            # A lone start tag: one "<", not an empty element (rows and cells always hold more).
            if text.count(b"<", 0, 2) == 1 and text.find(b"<", 1) < 0 and not text.endswith(b"/>"):
                lone = TAG_RE.fullmatch(text)
                if lone is not None and not lone.group(1):
                    pending.append(b"</" + (lone.group(2) or b"") + lone.group(3) + b">")
            if size > _CHUNK:  # fed in chunks: no copy of everything at once, few calls
                parser.Parse(b"".join(pending), False)
                pending, size = [], 0
        pending.append(b"</" + qname + b">")
        parser.Parse(b"".join(pending), True)
    except expat.ExpatError as exc:
        return f"has text spliced in that is not well-formed XML ({exc})"
    return None


_Job = tuple[str, tuple[bytes, list[bytes]] | None, int]  # part, the texts spliced into it (or None), size
_SHARED = 8 << 20  # bytes to parse from which the parsing is shared with a second core


def _parse_faults(new: _Package, jobs: list[_Job]) -> list[Fault]:
    """The faults of parsing ``jobs``, in their order. From :data:`_SHARED` bytes on, the parts are
    shared out by size between this process and one beside it (crmbook.parallel): a first refresh of
    the 10,000-customer book parses 15 MB."""
    if sum(size for _, _, size in jobs) < _SHARED:
        return _parsed(new, jobs)
    from crmbook.parallel import beside

    halves: tuple[list[_Job], list[_Job]] = ([], [])
    loads = [0, 0]
    for job in sorted(jobs, key=lambda job: -job[2]):  # the biggest first, each to the lighter half
        lighter = loads.index(min(loads))
        halves[lighter].append(job)
        loads[lighter] += job[2]
    with beside(_parsed, new, halves[1]) as other:
        found = _parsed(new, halves[0]) + other.result()
    order = {name: i for i, (name, _, _) in enumerate(jobs)}
    return sorted(found, key=lambda fault: order[fault.part])


def _parsed(new: _Package, jobs: list[_Job]) -> list[Fault]:
    faults = []
    for name, texts, _ in jobs:
        why = _fragments_well_formed(*texts) if texts is not None else _well_formed(new.read(name))
        if why:
            faults.append(Fault(name, why))
    return faults


def check_package(
    data: bytes, before: str | None = None, spliced: Mapping[str, tuple[bytes, list[bytes]]] | None = None
) -> list[Fault]:
    """What is wrong with the package ``data`` that its previous version (the file ``before``) did not
    already have; every part counts as changed when there is none. For a part in ``spliced`` (root
    start tag, texts put in) only the texts put in are parsed: the rest of it is the previous version's."""
    try:
        new = _Package(zipfile.ZipFile(io.BytesIO(data)))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [Fault("(the zip)", f"is not a readable zip ({exc})")]
    old: _Package | None = None
    if before is not None:
        try:
            old = _Package(zipfile.ZipFile(before))
        except (zipfile.BadZipFile, OSError, ValueError):
            old = None
    try:
        return _faults(new, old, spliced or {})
    finally:
        new.zip.close()
        if old is not None:
            old.zip.close()


def _faults(
    new: _Package, old: _Package | None, spliced: Mapping[str, tuple[bytes, list[bytes]]]
) -> list[Fault]:
    def unchanged(name: str) -> bool:
        if old is None or name not in old.infos:
            return False
        a, b = new.infos[name], old.infos[name]
        return a.CRC == b.CRC and a.file_size == b.file_size

    # What to parse: the texts spliced into a part whose previous version is there, or the part whole.
    jobs: list[_Job] = []
    for name in (name for name in new.infos if not unchanged(name)):
        if name in spliced and old is not None and name in old.infos:
            jobs.append((name, spliced[name], sum(map(len, spliced[name][1]))))
        elif name.casefold().endswith(_XML_SUFFIXES):
            jobs.append((name, None, new.infos[name].file_size))
    faults = _parse_faults(new, jobs)
    rels_parts = [n for n in new.infos if n.endswith(".rels")]
    dangling = new.dangling(rels_parts)
    if old is not None and dangling:
        dangling -= old.dangling([n for n in old.infos if n.endswith(".rels")])
    faults += [
        Fault(rels, f"has a relationship to {target}, which is not in the package")
        for rels, target in sorted(dangling)
    ]
    untyped = new.untyped()
    if old is not None and untyped:
        untyped -= old.untyped()
    faults += [Fault(name, "has no content type in [Content_Types].xml") for name in sorted(untyped)]
    return faults
