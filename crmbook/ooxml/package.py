"""Reading an .xlsx/.xlsm package safely.

A workbook is a zip of XML parts. Users email these around, so crmbook
treats each one as untrusted: the inflated size of every part and of the
whole package is capped (zip bombs), XML is parsed with :mod:`defusedxml`
(no DTDs, no entity expansion), and every failure becomes a
:class:`~crmbook.errors.WorkbookFileError` that says what to do. Legacy
.xls files and password-encrypted workbooks (both OLE compound files) are
recognised and named as such.
"""

from __future__ import annotations

import os
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Literal
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from isal import isal_zlib

from crmbook.errors import WorkbookFileError

__all__ = ["Limits", "Package", "SheetState", "open_package", "parse_xml"]

SheetState = Literal["visible", "hidden", "veryHidden"]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
STRICT_OFFICE_DOCUMENT = "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument"
SPREADSHEET_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKBOOK_TYPES = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
)
XLSB_TYPE = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
MiB = 2**20
CHUNK = MiB


@dataclass(frozen=True)
class Limits:
    """Caps on what a package may inflate to.

    ``max_ratio`` applies to parts larger than ``ratio_floor``: real sheet XML
    deflates 5-20x; a part that claims hundreds of times its compressed size
    at that scale is a bomb.
    """

    max_total: int = 8192 * MiB  # a full 1,048,576-row sheet is legitimately ~1-2 GiB of XML
    max_part: int = 4096 * MiB
    max_ratio: float = 250.0
    ratio_floor: int = 16 * MiB
    max_parts: int = 20_000


def parse_xml(data: bytes, part: str, path: str = "") -> Element:
    """Parse one part with defusedxml; any failure names the part."""
    try:
        return fromstring(data)
    except DefusedXmlException as exc:
        raise WorkbookFileError(
            path, f"part {part} declares a DTD or entities, which crmbook refuses"
        ) from exc
    except (ParseError, ValueError) as exc:
        raise WorkbookFileError(path, f"part {part} is not well-formed XML ({exc})") from exc


def _ole_stream_names(fh: IO[bytes]) -> set[str]:
    """Names in the directory of an OLE compound file (best effort; empty when unreadable)."""
    try:
        fh.seek(0)
        header = fh.read(512)
        shift = struct.unpack_from("<H", header, 0x1E)[0]
        if shift not in (9, 12):
            return set()
        size = 1 << shift
        n_fat, first_dir = struct.unpack_from("<II", header, 0x2C)
        first_difat, n_difat = struct.unpack_from("<II", header, 0x44)

        def sector(n: int) -> bytes:
            fh.seek((n + 1) * size)
            return fh.read(size)

        fat_sectors = [s for s in struct.unpack_from("<109I", header, 0x4C) if s < 0xFFFFFFFA]
        next_difat = first_difat
        for _ in range(n_difat):
            if next_difat >= 0xFFFFFFFA:
                break
            entries = struct.unpack(f"<{size // 4}I", sector(next_difat))
            fat_sectors += [s for s in entries[:-1] if s < 0xFFFFFFFA]
            next_difat = entries[-1]
        fat: list[int] = []
        for s in fat_sectors[:n_fat]:
            fat += struct.unpack(f"<{size // 4}I", sector(s))
        names: set[str] = set()
        current, seen = first_dir, 0
        while current < len(fat) and seen < 10_000:
            block = sector(current)
            for off in range(0, len(block) - 127, 128):
                length = struct.unpack_from("<H", block, off + 64)[0]
                if 2 <= length <= 64:
                    names.add(block[off : off + length - 2].decode("utf-16-le", "replace"))
            current, seen = fat[current], seen + 1
        return names
    except (struct.error, OSError, ValueError):
        return set()


def _ole_error(path: str, fh: IO[bytes]) -> WorkbookFileError:
    if "EncryptionInfo" in _ole_stream_names(fh):
        return WorkbookFileError(
            path,
            "is password-encrypted. Open it in Excel, remove the password (File > Info > Protect Workbook > "
            "Encrypt with Password, clear it), save, and run crmbook again.",
        )
    return WorkbookFileError(
        path,
        "is a legacy .xls workbook. Open it in Excel and save it as an Excel Workbook (.xlsx), "
        "or as .xlsm if it has macros.",
    )


class Package:
    """An opened workbook package: part names in zip order and capped reads.

    Use :func:`open_package` to create one; close it (or use ``with``) when done.
    """

    def __init__(self, path: str, fh: IO[bytes], zf: zipfile.ZipFile, limits: Limits) -> None:
        self.path = path
        self._fh = fh
        self._zip = zf
        self.limits = limits
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            if info.filename in self.infos:
                raise WorkbookFileError(path, f"is damaged: part {info.filename} appears twice")
            self.infos[info.filename] = info
        self.names: list[str] = list(self.infos)
        self._by_folded = {n.casefold(): n for n in self.names}
        self.workbook_part = ""
        self._sheets: list[tuple[str, str, SheetState]] = []

    # -- context manager ----------------------------------------------------------
    def __enter__(self) -> Package:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._fh.close()

    # -- parts -------------------------------------------------------------------
    def find(self, name: str) -> str | None:
        """The stored name of part ``name`` (part names are case-insensitive), or None."""
        name = name.lstrip("/")
        return name if name in self.infos else self._by_folded.get(name.casefold())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def _info(self, name: str) -> zipfile.ZipInfo:
        stored = self.find(name)
        if stored is None:
            raise WorkbookFileError(self.path, f"is damaged: part {name} is missing")
        return self.infos[stored]

    def inflated_size(self, name: str) -> int:
        """The size one part declares for its inflated bytes."""
        return self._info(name).file_size

    def read(self, name: str) -> bytes:
        """The inflated bytes of one part, read in chunks under the size caps."""
        info = self._info(name)
        limits = self.limits
        if info.file_size > limits.max_part:
            raise self._bomb(info.filename, f"inflates to {info.file_size / MiB:.0f} MiB")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            1, info.compress_size
        ):
            ratio = info.file_size / max(1, info.compress_size)
            raise self._bomb(info.filename, f"inflates {ratio:.0f} times its compressed size")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            return self._inflate(info)
        chunks: list[bytes] = []
        total = 0
        try:
            with self._zip.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    total += len(chunk)
                    if total > limits.max_part or total > info.file_size:
                        raise self._bomb(info.filename, "inflates beyond its declared size")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise WorkbookFileError(
                self.path,
                f"is damaged: part {info.filename} cannot be read ({exc}). Open and re-save it in Excel.",
            ) from exc
        except NotImplementedError as exc:
            raise WorkbookFileError(
                self.path, f"part {info.filename} uses a compression Excel does not write ({exc})"
            ) from exc
        return b"".join(chunks)

    def pieces(self, name: str, size: int = 16 * MiB) -> Iterator[bytes]:
        """The inflated bytes of one part, ``size`` bytes at a time (the last piece shorter), without
        holding them all: for a look through a part too big to keep (see :meth:`read` for the whole)."""
        info = self._info(name)
        total = 0
        try:
            if info.compress_type == zipfile.ZIP_DEFLATED:
                _, compressed = self.raw(info.filename)
                inflater = isal_zlib.decompressobj(-15)
                while not inflater.eof:  # (inflated bytes may wait inside after the last input)
                    piece = inflater.decompress(compressed, size)
                    compressed = inflater.unconsumed_tail
                    if not piece:
                        raise self._damaged(info, "its deflate stream is cut short")
                    total += len(piece)
                    if total > info.file_size:
                        raise self._bomb(info.filename, "inflates beyond its declared size")
                    yield piece
                return
            with self._zip.open(info) as stream:
                while piece := stream.read(size):
                    total += len(piece)
                    if total > info.file_size:
                        raise self._bomb(info.filename, "inflates beyond its declared size")
                    yield piece
        except (isal_zlib.error, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise self._damaged(info, str(exc)) from exc

    def head(self, name: str, size: int = 4096) -> bytes:
        """The first ``size`` inflated bytes of one part (the elements a sheet starts with), without
        inflating the rest."""
        info = self._info(name)
        try:
            if info.compress_type == zipfile.ZIP_DEFLATED:
                _, compressed = self.raw(info.filename)
                return isal_zlib.decompressobj(-15).decompress(compressed, size)
            with self._zip.open(info) as stream:
                return stream.read(size)
        except (isal_zlib.error, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise self._damaged(info, str(exc)) from exc

    def _inflate(self, info: zipfile.ZipInfo) -> bytes:
        """A deflated part's bytes, inflated by ISA-L (about twice as fast as zlib) and never beyond
        the size the part declares (already within the caps), checked against its CRC."""
        _, compressed = self.raw(info.filename)
        inflater = isal_zlib.decompressobj(-15)
        try:
            data = inflater.decompress(compressed, info.file_size + 1)
        except isal_zlib.error as exc:
            raise self._damaged(info, str(exc)) from exc
        if len(data) > info.file_size or inflater.unconsumed_tail:
            raise self._bomb(info.filename, "inflates beyond its declared size")
        if not inflater.eof or len(data) != info.file_size or isal_zlib.crc32(data) != info.CRC:
            raise self._damaged(info, "its size or checksum does not match")
        return data

    def _damaged(self, info: zipfile.ZipInfo, why: str) -> WorkbookFileError:
        return WorkbookFileError(
            self.path,
            f"is damaged: part {info.filename} cannot be read ({why}). Open and re-save it in Excel.",
        )

    def raw(self, name: str) -> tuple[zipfile.ZipInfo, bytes]:
        """A part's zip entry and its compressed bytes, exactly as stored (for copying unchanged)."""
        info = self._info(name)
        try:
            self._fh.seek(info.header_offset)
            header = self._fh.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise WorkbookFileError(self.path, f"is damaged: bad local header for part {info.filename}")
            name_len, extra_len = struct.unpack_from("<HH", header, 26)
            self._fh.seek(info.header_offset + 30 + name_len + extra_len)
            data = self._fh.read(info.compress_size)
        except OSError as exc:
            raise WorkbookFileError(self.path, f"cannot be read ({exc})") from exc
        if len(data) != info.compress_size:
            raise WorkbookFileError(self.path, f"is damaged or truncated: part {info.filename} is cut short")
        return info, data

    def xml(self, name: str) -> Element:
        """Parse one part (read under the caps) with defusedxml."""
        return parse_xml(self.read(name), self._info(name).filename, self.path)

    def _bomb(self, part: str, what: str) -> WorkbookFileError:
        return WorkbookFileError(
            self.path, f"refused: part {part} {what}, beyond crmbook's limits (a zip bomb or a damaged file)"
        )

    # -- relationships and sheets ---------------------------------------------------
    def rels(self, part: str) -> list[tuple[str, str, str, str]]:
        """(Id, Type, resolved target, TargetMode) for each relationship of ``part`` ("" for the package)."""
        folder, base = posixpath.split(part)
        rels_name = posixpath.join(folder, "_rels", base + ".rels")
        if rels_name not in self:
            return []
        root = self.xml(rels_name)
        out = []
        for rel in root.iter(f"{{{PKG_REL}}}Relationship"):
            mode = rel.get("TargetMode", "Internal")
            target = rel.get("Target", "")
            resolved = target if mode == "External" else resolve_target(part, target)
            out.append((rel.get("Id", ""), rel.get("Type", ""), resolved, mode))
        return out

    def _load_workbook(self) -> None:
        if "[Content_Types].xml" not in self:
            raise WorkbookFileError(self.path, "is not an .xlsx/.xlsm workbook (no [Content_Types].xml)")
        office = [r for r in self.rels("") if r[1] in (OFFICE_DOCUMENT, STRICT_OFFICE_DOCUMENT)]
        if not office:
            raise WorkbookFileError(self.path, "is not an .xlsx/.xlsm workbook (no main document part)")
        if office[0][1] == STRICT_OFFICE_DOCUMENT:
            raise WorkbookFileError(
                self.path, "is saved as Strict Open XML; save it in Excel as a normal Excel Workbook (.xlsx)"
            )
        part = office[0][2]
        ctype = content_type_of(self.xml("[Content_Types].xml"), part)
        if ctype and ctype.startswith(XLSB_TYPE):
            raise WorkbookFileError(
                self.path, "is an .xlsb binary workbook; save it in Excel as .xlsx or .xlsm"
            )
        if ctype not in WORKBOOK_TYPES or part not in self:
            raise WorkbookFileError(
                self.path, "is not an .xlsx/.xlsm workbook (its main part is not a workbook)"
            )
        self.workbook_part = self.find(part) or part
        targets = {rid: target for rid, _, target, _ in self.rels(self.workbook_part)}
        root = self.xml(self.workbook_part)
        for sheet in root.iter(f"{{{SPREADSHEET_MAIN}}}sheet"):
            rid = sheet.get(f"{{{DOC_REL_NS}}}id", "")
            target = targets.get(rid)
            if target is None:
                raise WorkbookFileError(self.path, f"is damaged: sheet {sheet.get('name')!r} has no part")
            raw_state = sheet.get("state", "visible")
            state: SheetState = (
                "hidden"
                if raw_state == "hidden"
                else "veryHidden"
                if raw_state == "veryHidden"
                else "visible"
            )
            self._sheets.append((sheet.get("name", ""), self.find(target) or target, state))

    def sheet_parts(self) -> dict[str, str]:
        """Sheet name -> part name, in workbook (tab) order. Chart sheets included."""
        return {name: part for name, part, _ in self._sheets}

    def sheet_state(self, name: str) -> SheetState:
        for sheet_name, _, state in self._sheets:
            if sheet_name == name:
                return state
        raise KeyError(name)


def resolve_target(source_part: str, target: str) -> str:
    """The part name a relationship target of ``source_part`` points to."""
    target = unquote(target)
    if target.startswith("/"):
        return posixpath.normpath(target).lstrip("/")
    folder = posixpath.dirname(source_part)
    return posixpath.normpath(posixpath.join(folder, target)).lstrip("/")


def content_type_of(types: Element, part: str) -> str | None:
    """The content type ``[Content_Types].xml`` gives ``part`` (override first, then extension)."""
    wanted = "/" + part.lstrip("/")
    for override in types.iter(f"{{{CT_NS}}}Override"):
        if override.get("PartName", "").casefold() == wanted.casefold():
            return override.get("ContentType")
    base = posixpath.basename(part)
    ext = base.rpartition(".")[2].casefold() if "." in base else ""
    for default in types.iter(f"{{{CT_NS}}}Default"):
        if default.get("Extension", "").casefold() == ext:
            return default.get("ContentType")
    return None


def open_package(path: str | os.PathLike[str], limits: Limits | None = None) -> Package:
    """Open ``path`` as a workbook package, or raise :class:`WorkbookFileError` saying why not."""
    spath = os.fspath(path)
    limits = limits or Limits()
    try:
        fh = open(spath, "rb")  # noqa: SIM115 - owned by the Package, closed by Package.close()
    except FileNotFoundError as exc:
        raise WorkbookFileError(spath, "does not exist") from exc
    except IsADirectoryError as exc:
        raise WorkbookFileError(spath, "is a folder, not a workbook") from exc
    except OSError as exc:
        raise WorkbookFileError(spath, f"cannot be opened ({exc.strerror or exc})") from exc
    try:
        return _open(spath, fh, limits)
    except BaseException:
        fh.close()
        raise


def _open(path: str, fh: IO[bytes], limits: Limits) -> Package:
    head = fh.read(8)
    if not head:
        raise WorkbookFileError(path, "is empty (0 bytes)")
    if head == OLE_MAGIC:
        raise _ole_error(path, fh)
    fh.seek(0)
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as exc:
        if head.startswith(b"PK"):
            raise WorkbookFileError(
                path, "is damaged or incomplete (the zip is truncated or corrupt); restore a backup copy"
            ) from exc
        raise WorkbookFileError(path, "is not an .xlsx/.xlsm workbook (it is not a zip package)") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise WorkbookFileError(path, f"is damaged or incomplete ({exc})") from exc
    try:
        infos = zf.infolist()
        if len(infos) > limits.max_parts:
            raise WorkbookFileError(path, f"refused: {len(infos)} parts is beyond crmbook's limit")
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_total:
            raise WorkbookFileError(
                path,
                f"refused: it inflates to {declared / MiB:.0f} MiB, beyond crmbook's limit of "
                f"{limits.max_total / MiB:.0f} MiB (a zip bomb or a damaged file)",
            )
        if any(i.flag_bits & 0x1 for i in infos):
            raise WorkbookFileError(path, "has zip-encrypted parts, which Excel never writes")
        package = Package(path, fh, zf, limits)
        package._load_workbook()
        return package
    except BaseException:
        zf.close()
        raise
