"""Building the workbook's VBA project (``vbaProject.bin``) from the ``.bas`` files in ``macros/``.

The project is *source-only*: it holds each module's source text, compressed
as MS-OVBA prescribes, and no compiled p-code (the ``_VBA_PROJECT`` stream
says version 0xFFFF), so Excel compiles the modules when it opens the
workbook. Nothing in it is a binary nobody can rebuild: ``crmbook
install-buttons`` builds it from ``macros/*.bas`` every time.

Three parts, each small and pure:

* :func:`compress` / :func:`decompress`: the MS-OVBA (2.4.1) compression;
* :func:`compound_file`: an OLE compound file (MS-CFB, version 3, 512-byte
  sectors, mini stream for streams under 4096 bytes);
* :func:`build_vba_project`: the ``PROJECT``, ``PROJECTwm``,
  ``VBA/_VBA_PROJECT``, ``VBA/dir`` and module streams (MS-OVBA 2.3).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

__all__ = [
    "Module",
    "build_vba_project",
    "compound_file",
    "compress",
    "decompress",
    "document_module",
    "encrypt_project_data",
]

CHUNK = 4096


# ------------------------------------------------------------------ MS-OVBA compression


def _bit_count(difference: int) -> int:
    """Bits of a copy token's offset for a position ``difference`` bytes into the chunk (at least 4)."""
    return max((difference - 1).bit_length(), 4)


def _compress_chunk(data: bytes) -> bytes:
    out = bytearray()
    pos = 0
    heads: dict[bytes, list[int]] = {}
    n = len(data)
    while pos < n:
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= n:
                break
            bits = _bit_count(pos)
            max_length = (0xFFFF >> bits) + 3
            best_len, best_at = 0, 0
            if pos + 3 <= n:
                for candidate in reversed(heads.get(data[pos : pos + 3], [])[-64:]):
                    length = 0
                    limit = min(max_length, n - pos)
                    while length < limit and data[candidate + length] == data[pos + length]:
                        length += 1
                    if length > best_len:
                        best_len, best_at = length, candidate
                        if length == limit:
                            break
            step = best_len if best_len >= 3 else 1
            if best_len >= 3:
                token = ((pos - best_at - 1) << (16 - bits)) | (best_len - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
            else:
                out.append(data[pos])
            for i in range(pos, min(pos + step, n - 2)):
                heads.setdefault(data[i : i + 3], []).append(i)
            pos += step
        out[flag_at] = flags
    return bytes(out)


def compress(data: bytes) -> bytes:
    """A CompressedContainer (MS-OVBA 2.4.1.1) holding ``data``."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), CHUNK):
        raw = data[start : start + CHUNK]
        packed = _compress_chunk(raw)
        if len(packed) > CHUNK and len(raw) == CHUNK:
            out += struct.pack("<H", 0x3000 | (CHUNK + 2 - 3)) + raw  # stored as is
        else:
            if len(packed) + 2 > CHUNK + 2:
                raise ValueError("a final chunk that does not compress; pad the source text")
            out += struct.pack("<H", 0xB000 | (len(packed) + 2 - 3)) + packed
    return bytes(out)


def decompress(data: bytes) -> bytes:
    """The bytes a CompressedContainer holds (raises ValueError on a malformed one)."""
    if not data or data[0] != 1:
        raise ValueError("not an MS-OVBA compressed container (signature byte is not 1)")
    out = bytearray()
    pos = 1
    while pos < len(data):
        (header,) = struct.unpack_from("<H", data, pos)
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0x7 != 0b011:
            raise ValueError(f"bad chunk signature at byte {pos}")
        chunk_end = min(pos + size, len(data))
        pos += 2
        start = len(out)
        if not header & 0x8000:
            out += data[pos : pos + CHUNK]
            pos += CHUNK
            continue
        while pos < chunk_end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= chunk_end:
                    break
                if not flags & (1 << bit):
                    out.append(data[pos])
                    pos += 1
                    continue
                (token,) = struct.unpack_from("<H", data, pos)
                pos += 2
                bits = _bit_count(len(out) - start)
                offset = (token >> (16 - bits)) + 1
                length = (token & (0xFFFF >> bits)) + 3
                if offset > len(out) - start:
                    raise ValueError("copy token reaches before the chunk")
                for _ in range(length):
                    out.append(out[-offset])
    return bytes(out)


# ------------------------------------------------------------------ MS-CFB compound file

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] | None = None
    index: int = 0
    start: int = ENDOFCHAIN
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    red: bool = False


def _order(name: str) -> tuple[int, str]:
    return (len(name), name.upper())


def _tree(siblings: list[_Entry], depth: int, deepest: int) -> int:
    """Root index of a balanced binary search tree over sorted ``siblings`` (red-black coloured)."""
    if not siblings:
        return NOSTREAM
    mid = len(siblings) // 2
    node = siblings[mid]
    node.left = _tree(siblings[:mid], depth + 1, deepest)
    node.right = _tree(siblings[mid + 1 :], depth + 1, deepest)
    node.red = depth == deepest and depth > 0
    return node.index


def _height(n: int) -> int:
    """Depth (0-based) of the deepest level of a median-split tree of ``n`` nodes."""
    return max(n.bit_length() - 1, 0)


def _chain(fat: list[int], first: int, count: int) -> None:
    for i in range(count):
        fat[first + i] = first + i + 1 if i + 1 < count else ENDOFCHAIN


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An OLE compound file holding ``streams`` (paths such as ``"VBA/dir"``; storages are implied)."""
    root = _Entry("Root Entry", 5, children=[])
    for path, data in streams.items():
        parent = root
        *folders, leaf = path.split("/")
        for folder in folders:
            assert parent.children is not None
            found = next((c for c in parent.children if c.name == folder and c.kind == 1), None)
            if found is None:
                found = _Entry(folder, 1, children=[])
                parent.children.append(found)
            parent = found
        assert parent.children is not None
        parent.children.append(_Entry(leaf, 2, data))
    entries: list[_Entry] = []

    def number(entry: _Entry) -> None:
        entry.index = len(entries)
        entries.append(entry)
        for child in entry.children or []:
            number(child)

    number(root)
    for entry in entries:
        if entry.children:
            ordered = sorted(entry.children, key=lambda e: _order(e.name))
            deepest = _height(len(ordered))
            # A tree that is not perfect gets its deepest level red, so every path has the same black count.
            perfect = len(ordered) + 1 == 1 << (deepest + 1)
            entry.child = _tree(ordered, 0, -1 if perfect else deepest)

    small = [e for e in entries if e.kind == 2 and len(e.data) < CUTOFF]
    big = [e for e in entries if e.kind == 2 and len(e.data) >= CUTOFF]
    mini_stream = bytearray()
    minifat: list[int] = []
    for e in small:
        sectors = -(-len(e.data) // MINI) if e.data else 0
        if sectors:
            e.start = len(minifat)
            _chain_list(minifat, sectors)
            mini_stream += e.data.ljust(sectors * MINI, b"\0")
    root.data = bytes(mini_stream)

    def sectors_of(size: int) -> int:
        return -(-size // SECTOR)

    dir_sectors = sectors_of(len(entries) * 128)
    minifat_sectors = sectors_of(len(minifat) * 4)
    content = [sectors_of(len(root.data))] + [sectors_of(len(e.data)) for e in big]
    body = dir_sectors + minifat_sectors + sum(content)
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < body + fat_sectors:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("the VBA project is too large for a compound file without DIFAT sectors")
    total = fat_sectors + body
    fat = [FREESECT] * (fat_sectors * SECTOR // 4)
    for i in range(fat_sectors):
        fat[i] = FATSECT
    at = fat_sectors
    dir_start = at
    _chain(fat, at, dir_sectors)
    at += dir_sectors
    minifat_start = at if minifat_sectors else ENDOFCHAIN
    _chain(fat, at, minifat_sectors)
    at += minifat_sectors
    root.start = at if root.data else ENDOFCHAIN
    _chain(fat, at, content[0])
    at += content[0]
    for e, count in zip(big, content[1:], strict=True):
        e.start = at
        _chain(fat, at, count)
        at += count
    assert at == total

    header = bytearray(SECTOR)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", header, 24, 0x003E, 0x0003, 0xFFFE, 9, 6)
    struct.pack_into(
        "<IIIIIIIII",
        header,
        40,
        0,  # directory sectors (0 in version 3)
        fat_sectors,
        dir_start,
        0,  # transaction signature
        CUTOFF,
        minifat_start,
        minifat_sectors,
        ENDOFCHAIN,  # first DIFAT sector
        0,
    )
    difat = list(range(fat_sectors)) + [FREESECT] * (109 - fat_sectors)
    struct.pack_into("<109I", header, 76, *difat)

    directory = bytearray()
    for e in entries:
        raw = e.name.encode("utf-16-le")
        record = bytearray(128)
        record[0 : len(raw)] = raw
        size = len(e.data) if e.kind != 1 else 0
        struct.pack_into(
            "<HBBIII", record, 64, len(raw) + 2, e.kind, 0 if e.red else 1, e.left, e.right, e.child
        )
        struct.pack_into("<IQ", record, 116, e.start if e.kind != 1 else 0, size)
        directory += record
    while len(directory) % SECTOR:
        unused = bytearray(128)
        struct.pack_into("<III", unused, 68, NOSTREAM, NOSTREAM, NOSTREAM)
        directory += unused

    out = bytearray(header)
    out += struct.pack(f"<{len(fat)}I", *fat)
    out += directory
    if minifat_sectors:
        table = minifat + [FREESECT] * (minifat_sectors * SECTOR // 4 - len(minifat))
        out += struct.pack(f"<{len(table)}I", *table)
    for data in [root.data] + [e.data for e in big]:
        out += data.ljust(sectors_of(len(data)) * SECTOR, b"\0")
    return bytes(out)


def _chain_list(table: list[int], count: int) -> None:
    first = len(table)
    table.extend(first + i + 1 if i + 1 < count else ENDOFCHAIN for i in range(count))


# ------------------------------------------------------------------ the VBA project


@dataclass(frozen=True)
class Module:
    name: str
    source: str  # the .bas / .cls text, "Attribute VB_Name = …" lines included
    document: bool = False  # ThisWorkbook and the sheets: document modules
    is_class: bool = False  # a class module (.cls)


DOCUMENT_ATTRIBUTES = (
    'Attribute VB_Name = "{name}"\r\n'
    'Attribute VB_Base = "{base}"\r\n'
    "Attribute VB_GlobalNameSpace = False\r\n"
    "Attribute VB_Creatable = False\r\n"
    "Attribute VB_PredeclaredId = True\r\n"
    "Attribute VB_Exposed = True\r\n"
    "Attribute VB_TemplateDerived = False\r\n"
    "Attribute VB_Customizable = True\r\n"
)
WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"  # Excel's Workbook class
WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"  # Excel's Worksheet class


def document_module(name: str, *, workbook: bool) -> Module:
    """The (empty) module behind ThisWorkbook or a worksheet."""
    base = WORKBOOK_BASE if workbook else WORKSHEET_BASE
    return Module(name, DOCUMENT_ATTRIBUTES.format(name=name, base=base), document=True)


def encrypt_project_data(data: bytes, project_id: str, seed: int) -> str:
    """MS-OVBA 2.4.3.2 data encryption, as the CMG, DPB and GC values of the PROJECT stream use it."""
    version = 2
    key = 0
    for ch in project_id.encode("latin-1"):
        key = (key + ch) & 0xFF
    seed &= 0xFF
    out = bytearray([seed, version ^ seed, key ^ seed])
    unencrypted_byte1, encrypted_byte1, encrypted_byte2 = key, out[2], out[1]
    ignored_length = (seed & 6) // 2
    for _ in range(ignored_length):
        byte = 0x07 ^ ((encrypted_byte2 + unencrypted_byte1) & 0xFF)
        out.append(byte)
        encrypted_byte2, encrypted_byte1, unencrypted_byte1 = encrypted_byte1, byte, 0x07
    for byte_in in struct.pack("<I", len(data)) + data:
        byte = byte_in ^ ((encrypted_byte2 + unencrypted_byte1) & 0xFF)
        out.append(byte)
        encrypted_byte2, encrypted_byte1, unencrypted_byte1 = encrypted_byte1, byte, byte_in
    return out.hex().upper()


def _record(record_id: int, data: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(data)) + data


def _dir_stream(modules: list[Module], codepage: str) -> bytes:
    enc = codepage
    out = bytearray()
    out += _record(0x0001, struct.pack("<I", 1))  # SysKind: Win32 (Excel opens it on every platform)
    out += _record(0x0002, struct.pack("<I", 0x0409))  # LCID
    out += _record(0x0014, struct.pack("<I", 0x0409))  # LCID for invoking
    out += _record(0x0003, struct.pack("<H", 1252))  # code page of the MBCS strings
    out += _record(0x0004, b"VBAProject")
    out += _record(0x0005, b"") + _record(0x0040, b"")  # doc string, and its Unicode twin
    out += _record(0x0006, b"") + _record(0x003D, b"")  # help file path, twice
    out += _record(0x0007, struct.pack("<I", 0))  # help context
    out += _record(0x0008, struct.pack("<I", 0))  # library flags
    out += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # version (the size field says 4; 6 bytes follow)
    out += _record(0x000C, b"") + _record(0x003C, b"")  # constants
    out += _record(0x000F, struct.pack("<H", len(modules)))
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # project cookie
    for m in modules:
        name = m.name.encode(enc)
        wide = m.name.encode("utf-16-le")
        out += _record(0x0019, name) + _record(0x0047, wide)
        out += _record(0x001A, name) + _record(0x0032, wide)  # stream name
        out += _record(0x001C, b"") + _record(0x0048, b"")  # doc string
        out += _record(0x0031, struct.pack("<I", 0))  # source starts at byte 0: no p-code cache
        out += _record(0x001E, struct.pack("<I", 0))  # help context
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # cookie
        out += _record(0x0022 if m.document or m.is_class else 0x0021, b"")  # document/class or procedural
        out += _record(0x002B, b"")  # module terminator
    out += _record(0x0010, b"")  # dir terminator
    return bytes(out)


def _project_stream(modules: list[Module], project_id: str, rng: random.Random) -> bytes:
    lines = [f'ID="{project_id}"']
    for m in modules:
        if m.document:
            lines.append(f"Document={m.name}/&H00000000")
        else:
            lines.append(f"Class={m.name}" if m.is_class else f"Module={m.name}")
    unprotected = encrypt_project_data(struct.pack("<I", 0), project_id, rng.randrange(256))
    no_password = encrypt_project_data(bytes([0]), project_id, rng.randrange(256))
    visible = encrypt_project_data(bytes([0xFF]), project_id, rng.randrange(256))
    lines += [
        'Name="VBAProject"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{unprotected}"',
        f'DPB="{no_password}"',
        f'GC="{visible}"',
        "",
        "[Host Extender Info]",
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
        "",
        "[Workspace]",
    ]
    lines += [f"{m.name}=0, 0, 0, 0, C" for m in modules]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _projectwm(modules: list[Module]) -> bytes:
    out = bytearray()
    for m in modules:
        out += m.name.encode("cp1252") + b"\0" + m.name.encode("utf-16-le") + b"\0\0"
    return bytes(out + b"\0\0")


def build_vba_project(
    modules: list[Module], *, project_id: str = "{5A2D8C31-7C4B-4E1D-9F5E-2B1C6A7D8E90}"
) -> bytes:
    """``vbaProject.bin`` holding ``modules`` as source only (Excel compiles them on open)."""
    names = [m.name for m in modules]
    if len(set(n.casefold() for n in names)) != len(names):
        raise ValueError(f"two VBA modules with one name: {names}")
    for m in modules:
        if not m.name.isascii() or not m.name.replace("_", "").isalnum() or len(m.name) > 31:
            raise ValueError(f"VBA module name {m.name!r} must be ASCII letters, digits or _ (at most 31)")
    rng = random.Random(project_id)  # the same sources give the same bytes
    streams = {
        "PROJECT": _project_stream(modules, project_id, rng),
        "PROJECTwm": _projectwm(modules),
        "VBA/_VBA_PROJECT": bytes([0xCC, 0x61, 0xFF, 0xFF, 0x00, 0x00, 0x00]),
        "VBA/dir": compress(_dir_stream(modules, "cp1252")),
    }
    for m in modules:
        text = m.source.replace("\r\n", "\n").replace("\n", "\r\n")
        streams[f"VBA/{m.name}"] = compress(text.encode("cp1252"))
    return compound_file(streams)


# ------------------------------------------------------------------ reading a project back


def read_compound_file(data: bytes) -> dict[str, bytes]:
    """Every stream of an OLE compound file, by path (``"VBA/dir"``); raises ValueError if malformed."""
    if data[:8] != bytes.fromhex("D0CF11E0A1B11AE1"):
        raise ValueError("not an OLE compound file")
    shift, mini_shift = struct.unpack_from("<HH", data, 30)
    size, mini = 1 << shift, 1 << mini_shift
    (n_fat, dir_start, _, cutoff, minifat_start, n_minifat, difat_start, n_difat) = struct.unpack_from(
        "<8I", data, 44
    )
    fat_sectors = [s for s in struct.unpack_from("<109I", data, 76) if s != FREESECT]
    while difat_start not in (ENDOFCHAIN, FREESECT) and n_difat:
        entries = struct.unpack_from(f"<{size // 4}I", data, size + difat_start * size)
        fat_sectors += [s for s in entries[:-1] if s != FREESECT]
        difat_start, n_difat = entries[-1], n_difat - 1

    def sector(n: int) -> bytes:
        return data[size + n * size : size + (n + 1) * size]

    fat = [v for s in fat_sectors[:n_fat] for v in struct.unpack(f"<{size // 4}I", sector(s))]

    def chain(start: int) -> bytes:
        out, seen = bytearray(), set()
        while start not in (ENDOFCHAIN, FREESECT) and start < len(fat) and start not in seen:
            seen.add(start)
            out += sector(start)
            start = fat[start]
        return bytes(out)

    directory = chain(dir_start)
    entries = []
    for i in range(len(directory) // 128):
        raw = directory[i * 128 : (i + 1) * 128]
        name_len, kind, _, left, right, child = struct.unpack_from("<HBBIII", raw, 64)
        start, length = struct.unpack_from("<IQ", raw, 116)
        name = raw[: max(name_len - 2, 0)].decode("utf-16-le", "replace")
        entries.append((name, kind, left, right, child, start, length))
    if not entries:
        raise ValueError("the compound file has no directory")
    mini_stream = chain(entries[0][5])
    minifat_bytes = chain(minifat_start) if n_minifat else b""
    minifat = list(
        struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes[: len(minifat_bytes) // 4 * 4])
    )

    def mini_chain(start: int, length: int) -> bytes:
        out, seen = bytearray(), set()
        while start not in (ENDOFCHAIN, FREESECT) and start < len(minifat) and start not in seen:
            seen.add(start)
            out += mini_stream[start * mini : (start + 1) * mini]
            start = minifat[start]
        return bytes(out[:length])

    streams: dict[str, bytes] = {}

    def walk(index: int, folder: str, depth: int = 0) -> None:
        if index == NOSTREAM or index >= len(entries) or depth > 64:
            return
        name, kind, left, right, child, start, length = entries[index]
        walk(left, folder, depth + 1)
        walk(right, folder, depth + 1)
        if kind == 2:
            body = mini_chain(start, length) if length < cutoff else chain(start)[:length]
            streams[f"{folder}{name}"] = body
        elif kind == 1:
            walk(child, f"{folder}{name}/", depth + 1)

    walk(entries[0][4], "")
    return streams


def read_modules(project: bytes) -> dict[str, str]:
    """Module name -> source text of a ``vbaProject.bin`` (any project, compiled or source-only)."""
    streams = read_compound_file(project)
    folder = next((p.rsplit("/", 1)[0] + "/" for p in streams if p.lower().endswith("/dir")), "VBA/")
    dir_stream = decompress(streams[f"{folder}dir"])
    modules: list[list[object]] = []
    pos = 0
    while pos + 6 <= len(dir_stream):
        record_id, length = struct.unpack_from("<HI", dir_stream, pos)
        if record_id == 0x0009:
            length = 6  # PROJECTVERSION: its size field says 4, six bytes follow
        body = dir_stream[pos + 6 : pos + 6 + length]
        pos += 6 + length
        if record_id == 0x0019:
            modules.append([body.decode("cp1252"), 0])
        elif record_id == 0x001A and modules:
            modules[-1][0] = body.decode("cp1252")
        elif record_id == 0x0031 and modules:
            modules[-1][1] = struct.unpack("<I", body)[0]
        elif record_id == 0x0010:
            break
    out = {}
    for stream_name, offset in modules:
        data = streams.get(f"{folder}{stream_name}")
        if data is not None:
            out[str(stream_name)] = decompress(data[int(offset) :]).decode("cp1252", "replace")  # type: ignore[call-overload]
    return out
