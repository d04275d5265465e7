"""Applying a :class:`~crmbook.changeset.Changeset` to a workbook package, surgically.

The new package is the old one with as few bytes changed as possible:

* every part crmbook does not change is copied as stored (same compressed
  bytes, CRC and position in the zip);
* a user sheet that gains values or highlights gets only its written cells
  (in the ``<row>`` elements touched) and its conditional formatting rewritten;
* crmbook-owned sheets are generated, replacing the previous version (and
  its drawing and chart parts) in place or added at the end;
* ``workbook.xml``, its relationships, ``[Content_Types].xml`` and
  ``styles.xml`` get single entries added, changed or removed.

The caller writes the returned bytes to disk (see ``crmbook.safe_save``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import posixpath
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from xml.etree.ElementTree import Element

from crmbook.changeset import CellValue, CellWrite, Changeset, OwnedSheet
from crmbook.errors import InputError, WorkbookFileError
from crmbook.ooxml import manifest
from crmbook.ooxml.buttons import CT_VML, RT_VML, buttons_vml
from crmbook.ooxml.cells import MAX_COL, MAX_ROW, MAX_TEXT, col_letter, split_ref
from crmbook.ooxml.charts import chart_xml, drawing_xml
from crmbook.ooxml.formulas import may_hold_formulas
from crmbook.ooxml.highlights import SEVERITY_ORDER, highlight_edits
from crmbook.ooxml.manifest import CT, RT
from crmbook.ooxml.owned import (
    KnownStyles,
    RenderedRows,
    RenderedSheet,
    StandInStyles,
    render_owned_sheet,
    render_rows,
    style_keys,
    with_code_name,
)
from crmbook.ooxml.package import MiB, Package, content_type_of, open_package, parse_xml
from crmbook.ooxml.sheetxml import CellPatch, SheetShape, SheetXml, SheetXmlError, patch_cells
from crmbook.ooxml.styles import Styles, minimal_styles
from crmbook.ooxml.tables import grown_table_xml, narrowed_table_xml, totals_rows, widened_table_xml
from crmbook.ooxml.xmltext import MAIN_NS, TAG_RE, Edit, apply_edits, find_element, set_attr
from crmbook.ooxml.zipout import ZipAssembler
from crmbook.parallel import Beside, beside, forking_allowed
from crmbook.schema import Lang

__all__ = ["Patcher", "PreparedCells", "SplicedPackage", "apply_changeset", "inflate_sheets"]

_BAD_NAME_CHARS = re.compile(r"[\[\]:*?/\\]")
_CODE_NAME = re.compile(rb"<(?:[\w.-]+:)?sheetPr\b[^>]*?\scodeName\s*=\s*[\"']([^\"']*)[\"']")

# An owned sheet of more rows than this that was not rendered ahead has its first rows rendered in a
# second process (when the system allows one) while this one patches the user sheets and renders
# the rest: the change log a team's collect writes holds some 100,000 rows, rendered in a second.
ROWS_BESIDE = 20_000
SHARE_BESIDE = 0.6  # of its rows: this process also has the user sheets to patch meanwhile


def _say(lang: Lang, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def rels_name(part: str) -> str:
    """The relationships part of ``part`` (``""`` is the package itself)."""
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def _source_of(rels: str) -> str:
    folder, base = posixpath.split(rels)
    return posixpath.join(posixpath.dirname(folder), base.removesuffix(".rels"))


def _relative(source: str, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


def _filter_formula(sheet: str, ref: str | None) -> str | None:
    """``'Sheet'!$A$3:$H$40`` for an autofilter range, or None."""
    if not ref:
        return None
    corners = [split_ref(part) for part in ref.split(":")]
    absolute = ":".join(f"${col_letter(c)}${r}" for r, c in corners)
    return "'" + sheet.replace("'", "''") + "'!" + absolute


_ROW_NUMBER = re.compile(rb"(<(?:\w+:)?(?:row|c)\b[^>]*?\sr=[\"'])([A-Z]*)(\d+)([\"'])")


def _moved_totals(data: bytes, first: int, count: int, last_row: int) -> bytes | None:
    """Sheet XML with its ``count`` totals rows from ``first`` moved to just below ``last_row``; None
    when a cell with a value lies between (the rows cannot move without renumbering it)."""
    sheet_xml = SheetXml(data)
    rows = sheet_xml.rows()
    spans = {
        n: sheet_xml.row_span(rows.position[n], n) for n in rows.numbers if first <= n <= last_row + count
    }
    p = re.escape(sheet_xml.prefix)
    holds_value = re.compile(rb"<" + p + rb"(?:v|is|f)\b")
    for n, (start, end) in spans.items():
        if n >= first + count and holds_value.search(data, start, end):
            return None
    totals = [spans[n] for n in range(first, first + count) if n in spans]
    if not totals:
        return None
    text = _renumber_rows(data[totals[0][0] : totals[-1][1]], last_row + 1 - first)
    after = [rows.position[n] for n in rows.numbers if n > last_row + count]
    at = after[0] if after else sheet_xml.sheet_data_close
    gone = [Edit(start, end, b"") for n, (start, end) in spans.items() if n < first + count or n > last_row]
    return apply_edits(data, [*gone, Edit(at, at, text)])


def _renumber_rows(xml: bytes, shift: int) -> bytes:
    """Row elements (and their cells) moved down by ``shift`` rows."""
    return _ROW_NUMBER.sub(lambda m: m[1] + m[2] + str(int(m[3]) + shift).encode() + m[4], xml)


def apply_changeset(
    src: str | os.PathLike[str],
    changeset: Changeset,
    *,
    lang: Lang = "zh",
    inflated: Mapping[str, bytes] | None = None,
) -> bytes:
    """The bytes of ``src`` with ``changeset`` applied; ``src`` itself is never written.

    ``lang`` is the workbook's language: it picks the language of messages
    about an unusable changeset and the editing language of new charts.
    ``inflated`` holds parts of ``src`` already read (see :func:`inflate_sheets`).
    Raises :class:`WorkbookFileError` for a file crmbook cannot patch and
    :class:`InputError` for a changeset that does not fit the workbook.
    """
    with Patcher(src, lang=lang, inflated=inflated) as patcher:
        return patcher.apply(changeset)


class SplicedPackage(bytes):
    """The bytes of a patched package, knowing which parts were spliced and with what.

    ``spliced`` maps each part crmbook patched by splicing (a user sheet) to its root start tag and
    the texts it put in: the self-check before saving (:mod:`crmbook.ooxml.selfcheck`) parses those
    instead of the whole part, whose other bytes are the user's, copied.
    """

    spliced: dict[str, tuple[bytes, list[bytes]]]

    def __new__(cls, data: bytes, spliced: dict[str, tuple[bytes, list[bytes]]]) -> SplicedPackage:
        made = super().__new__(cls, data)
        made.spliced = spliced
        return made

    def __reduce__(self) -> tuple[type[bytes], tuple[bytes]]:
        # Sent to another process (crmbook.parallel) as plain bytes: what was spliced is only for the
        # self-check, in the process that patched it.
        return bytes, (bytes(self),)


# Cell edits worked out ahead, per sheet: the writes they make and the patch (see Patcher.ahead).
PreparedCells = dict[str, tuple[dict[tuple[int, int], CellValue], CellPatch]]


def _by_cell(cell_writes: Iterable[CellWrite]) -> dict[tuple[int, int], CellValue]:
    """The values ``cell_writes`` (of one sheet) leave in each cell: the last write to a cell wins."""
    return {(w.row, w.col): w.value for w in cell_writes}


class Patcher:
    """:func:`apply_changeset` in two steps, for a caller with time to spare before its changeset is done.

    :meth:`prepare` works out the edits of the user-sheet cell writes already known (the costly part
    of patching a big sheet), :meth:`prepare_owned` renders owned sheets already built; :meth:`apply`
    applies the whole changeset, using the prepared edits of every sheet whose writes turned out the
    same (and the owned sheets rendered ahead) and working out the others. Preparing is only ever
    a head start: prepared for the writes the changeset makes, :meth:`apply` returns the bytes
    :func:`apply_changeset` would (prepared for other writes, a cell format it added for their dates
    may stay in the styles part, unused), and a preparation that fails is dropped (:meth:`apply`
    reports the problem). The package stays open until :meth:`close`.
    """

    def __init__(
        self, src: str | os.PathLike[str], *, lang: Lang = "zh", inflated: Mapping[str, bytes] | None = None
    ) -> None:
        self._pkg = open_package(src)
        try:
            self._build = self._guarded(lambda: _Build(self._pkg, lang, inflated or {}))
        except BaseException:
            self._pkg.close()
            raise

    def _guarded(self, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except ValueError as exc:  # a part whose shape crmbook cannot patch (encoding, missing elements)
            raise WorkbookFileError(
                self._pkg.path, f"cannot be patched ({exc}). Open and re-save it in Excel."
            ) from exc

    def prepare(self, cell_writes: Iterable[CellWrite]) -> None:
        """Work out now the edits that ``cell_writes`` (final for their sheets) will need."""
        try:
            self._guarded(lambda: self._build.prepare_cells(cell_writes))
        except (InputError, WorkbookFileError):
            self._build.prepared.clear()

    def ahead(self, cell_writes: Iterable[CellWrite]) -> PreparedCells:
        """The edits ``cell_writes`` will need, as plain data another :class:`Patcher` of the same file
        can :meth:`adopt` (this one may live in another process). A sheet whose writes need a cell
        format the workbook lacks (a date in a column without a date format) is left out: only the
        patcher that applies the changeset may add one.
        """
        try:
            return self._guarded(lambda: self._build.cell_edits(cell_writes))  # type: ignore[no-any-return]
        except (InputError, WorkbookFileError):
            return {}

    def prepare_owned(self, owned_sheets: Iterable[OwnedSheet]) -> None:
        """Render now the crmbook-owned sheets the changeset will hold (the very same objects, not
        changed after): :meth:`apply` then only puts their cell formats in."""
        try:
            self._guarded(lambda: self._build.render_owned_ahead(owned_sheets))
        except (InputError, WorkbookFileError):
            self._build.rendered.clear()

    def adopt(self, prepared: PreparedCells) -> None:
        """Use edits :meth:`ahead` worked out (on the same file)."""
        try:
            self._guarded(lambda: self._build.adopt(prepared))
        except (InputError, WorkbookFileError):
            self._build.prepared.clear()

    def apply(self, changeset: Changeset) -> bytes:
        """The bytes of the package with ``changeset`` applied (see :func:`apply_changeset`)."""
        return self._guarded(lambda: self._build.run(changeset))

    def close(self) -> None:
        self._pkg.close()

    def __enter__(self) -> Patcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InflatedSheets(dict[str, bytes]):
    """Worksheet parts read ahead (part -> XML), where each one's rows are (part -> its
    :class:`SheetShape`, for those crmbook can patch), and which of them hold no formula at all."""

    def __init__(
        self, parts: Mapping[str, bytes] | None = None, names: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(parts or {})
        self.names = dict(names or {})  # sheet name -> its part, for the parts read
        self.shapes: dict[str, SheetShape] = {}
        for part, data in self.items():
            try:
                self.shapes[part] = SheetXml(data).shape
            except SheetXmlError:
                continue  # patching it reports what is wrong
        self.without_formulas = frozenset(part for part, data in self.items() if not may_hold_formulas(data))


def inflate_sheets(
    src: str | os.PathLike[str], pick: Callable[[list[str]], list[str]], *, at_most: int = 512 * MiB
) -> InflatedSheets:
    """The worksheet parts of the sheets ``pick`` chooses among ``src``'s sheet names, located.

    For :func:`apply_changeset`: reading them while something else runs (a refresh reads them
    beside its calamine read, zlib inflating without the interpreter lock) takes them off the
    writer's path, and so does locating them (a look at every byte of a big sheet, done once).
    Empty when they would hold more than ``at_most`` bytes in all, or cannot be read (the writer
    then reads them itself and reports what is wrong).
    """
    try:
        with open_package(src) as pkg:
            parts = pkg.sheet_parts()
            found = [parts[name] for name in pick(list(parts)) if name in parts and parts[name] in pkg]
            if sum(pkg.inflated_size(part) for part in found) > at_most:
                return InflatedSheets()
            names = {name: part for name, part in parts.items() if part in found}
            return InflatedSheets({part: pkg.read(part) for part in found}, names)
    except (WorkbookFileError, OSError, ValueError):
        return InflatedSheets()


class _Build:
    """One application of a changeset: the parts changed so far and the package they came from."""

    def __init__(self, pkg: Package, lang: Lang, inflated: Mapping[str, bytes]) -> None:
        self.pkg = pkg
        self.lang = lang
        self.inflated = inflated
        self.shapes = inflated.shapes if isinstance(inflated, InflatedSheets) else {}
        self.outputs: dict[str, bytes] = {}
        self.zip = ZipAssembler()  # deflates finished parts in the background while the rest is built
        self.deleted: set[str] = set()
        self.workbook_part = pkg.workbook_part
        self.workbook = pkg.read(self.workbook_part)
        root = parse_xml(self.workbook, self.workbook_part, pkg.path)
        pr = root.find(f"{{{MAIN_NS}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        self.sheet_ids = [int(s.get("sheetId", "0") or 0) for s in root.iter(f"{{{MAIN_NS}}}sheet")]
        self.wb_rels_name = rels_name(self.workbook_part)
        self.wb_rels = pkg.read(self.wb_rels_name)
        self.content_types = pkg.read("[Content_Types].xml")
        self.originals = {
            self.workbook_part: self.workbook,
            pkg.find(self.wb_rels_name) or self.wb_rels_name: self.wb_rels,
            pkg.find("[Content_Types].xml") or "[Content_Types].xml": self.content_types,
        }
        self.types_root: Element = parse_xml(self.content_types, "[Content_Types].xml", pkg.path)
        self.sheets = pkg.sheet_parts()
        self.states = {name: pkg.sheet_state(name) for name in self.sheets}
        self.styles_part = next(
            (target for _, rtype, target, _ in pkg.rels(self.workbook_part) if rtype == RT.STYLES), None
        )
        stored = pkg.find(self.styles_part) if self.styles_part else None
        if stored:
            self.styles = Styles(pkg.read(stored), stored, pkg.path)
            self.styles_part = stored
        else:
            self.styles = Styles(minimal_styles(), "xl/styles.xml", pkg.path)
        self.formulas_removed = False
        self.spliced: dict[str, tuple[bytes, list[bytes]]] = {}  # see SplicedPackage
        self.appended: dict[str, tuple[bytes, list[bytes]]] = {}  # owned sheets grown (the same form)
        self.moved: dict[str, bytes] = {}  # sheet -> its XML with table totals rows moved (move_totals)
        self.new_types: dict[str, str] = {}  # part -> content type, registered at the end
        self.prepared: PreparedCells = {}  # sheet -> its cell writes and their edits, worked out ahead
        # id(owned sheet) -> (the sheet, its drawing and VML relationship ids, its XML with stand-in
        # cell formats, the stand-ins): owned sheets rendered ahead (see render_owned_ahead)
        self.rendered: dict[
            int, tuple[OwnedSheet, tuple[str | None, str | None], RenderedSheet, StandInStyles]
        ] = {}
        # id(owned sheet) -> (the sheet, how many of its first rows, their rendering in a second
        # process): see start_rendering_beside
        self.beside_rows: dict[int, tuple[OwnedSheet, int, Beside[RenderedRows]]] = {}

    # -- checks ---------------------------------------------------------------------------
    def fail(self, zh: str, en: str) -> InputError:
        return InputError(_say(self.lang, zh, en))

    def _worksheet_part(self, sheet: str) -> str:
        part = self.sheets.get(sheet)
        if part is None:
            raise self.fail(
                f"工作簿中没有名为“{sheet}”的工作表", f"the workbook has no sheet named {sheet!r}"
            )
        if content_type_of(self.types_root, part) != CT.WORKSHEET:
            raise self.fail(f"“{sheet}”不是普通工作表（图表或宏表）", f"sheet {sheet!r} is not a worksheet")
        return part

    def _check_cell(self, sheet: str, row: int, col: int) -> None:
        if row > MAX_ROW and 1 <= col <= MAX_COL:  # records added past the last row a sheet has
            raise self.fail(
                f"“{sheet}”已满：Excel 工作表最多 {MAX_ROW:,} 行，这次需要写到第 {row:,} 行；"
                "请把旧记录移到另一个存档工作簿，然后再运行一次",
                f"sheet {sheet!r} is full: an Excel sheet ends at row {MAX_ROW:,} and this needs row {row:,}; "
                "move older records to an archive workbook, then run this again",
            )
        if not (1 <= row <= MAX_ROW and 1 <= col <= MAX_COL):
            raise self.fail(
                f"“{sheet}”中的单元格位置超出范围：第 {row} 行第 {col} 列",
                f"cell out of range on {sheet!r}: row {row}, column {col}",
            )

    def _check_owned(self, owned: list[OwnedSheet], user_sheets: set[str]) -> None:
        seen: set[str] = set()
        for sheet in owned:
            name = sheet.name
            if (
                not name
                or len(name) > 31
                or _BAD_NAME_CHARS.search(name)
                or name[0] == "'"
                or name[-1] == "'"
            ):
                raise self.fail(
                    f"工作表名称无效：“{name}”（最多 31 个字符，不能含 [ ] : * ? / \\）",
                    f"invalid sheet name {name!r} (at most 31 characters, none of [ ] : * ? / \\)",
                )
            key = name.casefold()
            if key in seen:
                raise self.fail(f"工作表“{name}”重复生成", f"owned sheet {name!r} appears twice")
            seen.add(key)
            if key in {s.casefold() for s in user_sheets}:
                raise self.fail(
                    f"“{name}”由 crmbook 生成，不能同时写入单元格或标记",
                    f"sheet {name!r} is generated by crmbook and cannot also get cell writes or highlights",
                )
            for chart in sheet.charts:
                try:
                    split_ref(chart.anchor)
                except ValueError as exc:
                    raise self.fail(
                        f"图表位置无效：{chart.anchor!r}", f"invalid chart anchor {chart.anchor!r}"
                    ) from exc

    # -- user sheets ------------------------------------------------------------------------
    def _resolve_style(self, value: CellValue, base: int) -> int:
        if isinstance(value, dt.date):
            with_time = isinstance(value, dt.datetime) and value.time() != dt.time(0)
            return self.styles.date_variant(base, with_time)
        return base

    def _writes_by_sheet(
        self, cell_writes: Iterable[CellWrite]
    ) -> dict[str, dict[tuple[int, int], CellValue]]:
        writes: dict[str, dict[tuple[int, int], CellValue]] = defaultdict(dict)
        for w in cell_writes:
            writes[w.sheet][(w.row, w.col)] = w.value
        for sheet, cells in writes.items():  # checked sheet by sheet: a big changeset has few sheets
            self._check_writes(sheet, cells)
        return writes

    def _check_writes(self, sheet: str, cells: dict[tuple[int, int], CellValue]) -> None:
        """Raise when a write of ``sheet`` (cell -> value) lies outside the sheet or is too long."""
        if not all(1 <= row <= MAX_ROW and 1 <= col <= MAX_COL for row, col in cells):
            row, col = next((r, c) for r, c in cells if not (1 <= r <= MAX_ROW and 1 <= c <= MAX_COL))
            self._check_cell(sheet, row, col)
        long = [v for v in cells.values() if isinstance(v, str) and len(v) > MAX_TEXT]
        if long:
            row, _ = next(cell for cell, v in cells.items() if v is long[0])
            raise self.fail(
                f"“{sheet}”第 {row} 行的文本超过 Excel 的 {MAX_TEXT} 个字符上限",
                f"text for {sheet!r} row {row} is longer than Excel's {MAX_TEXT} characters",
            )

    def _patched_cells(
        self, sheet: str, part: str, data: bytes, writes: dict[tuple[int, int], CellValue]
    ) -> tuple[SheetXml, CellPatch]:
        try:
            located = self._located(part, data)
            return located, patch_cells(located, writes, self._resolve_style, date1904=self.date1904)
        except (SheetXmlError, ValueError) as exc:
            raise WorkbookFileError(self.pkg.path, f"sheet {sheet!r} ({part}) {exc}") from exc

    def _located(self, part: str, data: bytes) -> SheetXml:
        """``data`` (the XML of ``part``) located, without a second look when it was read ahead."""
        return SheetXml(data, self.shapes.get(part) if data is self.inflated.get(part) else None)

    def _sheet_size(self, sheet: str) -> int:
        return self.pkg.inflated_size(self._worksheet_part(sheet))

    def _sheet_data(self, sheet: str) -> tuple[str, bytes]:
        part = self._worksheet_part(sheet)
        return part, self.inflated.get(part) or self.pkg.read(part)

    def _sheet_to_patch(self, sheet: str) -> tuple[str, bytes, bytes]:
        """(part, the XML the sheet's edits apply to, the part's bytes before any change)."""
        part, data = self._sheet_data(sheet)
        return part, self.moved.get(sheet, data), data

    def prepare_cells(self, cell_writes: Iterable[CellWrite]) -> None:
        for sheet, writes in self._writes_by_sheet(cell_writes).items():
            part, data = self._sheet_data(sheet)
            self.prepared[sheet] = (writes, self._patched_cells(sheet, part, data, writes)[1])

    def cell_edits(self, cell_writes: Iterable[CellWrite]) -> PreparedCells:
        found: PreparedCells = {}
        for sheet, writes in self._writes_by_sheet(cell_writes).items():
            part, data = self._sheet_data(sheet)
            patch = self._patched_cells(sheet, part, data, writes)[1]
            if self.styles.changed:  # its offsets and style numbers are this styles part's own
                break
            found[sheet] = (writes, patch)
        return found

    def adopt(self, prepared: PreparedCells) -> None:
        for sheet in prepared:
            self._worksheet_part(sheet)  # a sheet of this workbook
        self.prepared.update(prepared)

    def patch_user_sheets(self, changeset: Changeset) -> None:
        writes: dict[str, list[CellWrite]] = defaultdict(list)
        for w in changeset.cell_writes:
            writes[w.sheet].append(w)
        marks: dict[str, dict[str, set[tuple[int, int]]]] = defaultdict(lambda: defaultdict(set))
        for h in changeset.highlights:
            self._check_cell(h.sheet, h.row, h.col)
            if h.severity not in SEVERITY_ORDER:
                raise self.fail(f"未知的严重程度：{h.severity!r}", f"unknown severity {h.severity!r}")
            marks[h.sheet][h.severity].add((h.row, h.col))
        clear = set(changeset.highlight_sheets) | set(marks)
        # The biggest sheet first: it is deflated on a background thread while the others are patched.
        for sheet in sorted(set(writes) | clear, key=lambda name: (-self._sheet_size(name), name)):
            # A sheet's XML is only held while it is patched (the record sheets of a big book are not
            # all held at once unless they were inflated ahead).
            part, data, original = self._sheet_to_patch(sheet)
            prepared = self.prepared.get(sheet) if data is original else None
            edits: list[Edit] = []
            # A sheet's writes by cell are only held while it is patched (a big import's take the most room).
            sheet_writes = _by_cell(writes.pop(sheet)) if sheet in writes else None
            if prepared is not None and sheet_writes is not None and prepared[0] == sheet_writes:
                located, patch = None, prepared[1]  # its writes were checked when it was prepared
            else:
                if sheet_writes is not None:
                    self._check_writes(sheet, sheet_writes)
                located, patch = (
                    self._patched_cells(sheet, part, data, sheet_writes)
                    if sheet_writes is not None
                    else (None, None)
                )
            del sheet_writes
            if patch is not None:
                edits += patch.edits
                self.formulas_removed |= patch.formulas_removed
            if sheet in clear:
                try:
                    # A sheet whose cell edits were worked out ahead, or that was read ahead, is
                    # not located again.
                    shape = patch.shape if patch is not None else None
                    if located is None:
                        located = SheetXml(data, shape) if shape is not None else self._located(part, data)
                    edits += highlight_edits(located, marks.get(sheet, {}), self.styles.dxf)
                except (SheetXmlError, ValueError) as exc:
                    raise WorkbookFileError(self.pkg.path, f"sheet {sheet!r} ({part}) {exc}") from exc
            patched = apply_edits(data, edits)
            if patched != original:
                self.outputs[part] = patched
                if data is original:  # a sheet whose totals rows moved is checked whole
                    root = TAG_RE.search(data)
                    self.spliced[part] = (root.group(0) if root else b"", [e.text for e in edits if e.text])
                self.zip.deflate_ahead(patched)

    # -- owned sheets -----------------------------------------------------------------------
    def _in_use(self, name: str) -> bool:
        folded = name.casefold()
        if any(n.casefold() == folded for n in self.outputs):
            return True
        stored = self.pkg.find(name)
        return stored is not None and stored not in self.deleted

    def _free_name(self, pattern: str) -> str:
        n = 1
        while self._in_use(pattern.format(n)):
            n += 1
        return pattern.format(n)

    def _delete_dependents(self, part: str) -> None:
        """Delete ``part``'s relationships and the parts only they reach (its old drawing, charts, images).

        A part also referenced from elsewhere (an image two sheets share) is kept, with what it reaches.
        """
        candidates: set[str] = set()
        stack = [part]
        while stack:
            for _, _, target, mode in self.pkg.rels(stack.pop()):
                stored = self.pkg.find(target) if mode != "External" else None
                if stored and stored not in candidates and stored != part:
                    candidates.add(stored)
                    stack.append(stored)
        kept: set[str] = set()
        if candidates:
            for name in self.pkg.names:
                source = _source_of(name)
                if name.endswith(".rels") and name not in self.deleted and source not in candidates | {part}:
                    kept |= {
                        self.pkg.find(t) for _, _, t, m in self.pkg.rels(source) if m != "External"
                    } & candidates
            stack = list(kept)
            while stack:
                for _, _, target, mode in self.pkg.rels(stack.pop()):
                    stored = self.pkg.find(target) if mode != "External" else None
                    if stored in candidates and stored not in kept:
                        kept.add(stored)
                        stack.append(stored)
        gone = candidates - kept
        self.deleted |= gone | {n for n in (self.pkg.find(rels_name(p)) for p in gone | {part}) if n}

    def _add_buttons(self, owned: OwnedSheet) -> str | None:
        """Write the VML part of ``owned``'s macro buttons; its name."""
        if not owned.buttons:
            return None
        part = self._free_name("xl/drawings/vmlDrawing{}.vml")
        block = 1 + sum(1 for n in [*self.pkg.names, *self.outputs] if n.endswith(".vml"))
        self.outputs[part] = buttons_vml(owned.buttons, block)
        self.new_types[part] = CT_VML
        return part

    def _add_charts(self, owned: OwnedSheet, sheet_name: str) -> str | None:
        """Write the drawing and chart parts of ``owned``; the drawing part's name."""
        if not owned.charts:
            return None
        drawing = self._free_name("xl/drawings/drawing{}.xml")
        self.outputs[drawing] = b""  # reserve the name while the charts are numbered
        anchors = []
        drawing_rels: bytes | None = None
        for i, spec in enumerate(owned.charts, start=1):
            chart = self._free_name("xl/charts/chart{}.xml")
            self.outputs[chart] = chart_xml(spec, sheet_name, self.lang)
            self.new_types[chart] = CT.CHART
            rid = f"rId{i}"
            drawing_rels = manifest.add_relationship(drawing_rels, rid, RT.CHART, _relative(drawing, chart))
            anchors.append((spec, rid))
        self.outputs[drawing] = drawing_xml(anchors)
        assert drawing_rels is not None
        self.outputs[rels_name(drawing)] = drawing_rels
        self.new_types[drawing] = CT.DRAWING
        return drawing

    def render_owned_ahead(self, owned_sheets: Iterable[OwnedSheet]) -> None:
        """Render ``owned_sheets`` now, with stand-in cell formats (see :class:`StandInStyles`);
        :meth:`write_owned_sheet` settles them. A sheet that cannot be rendered is left for it."""
        for owned in owned_sheets:
            if owned.kept is not None:  # grows: its new rows are rendered when it is written
                continue
            rids = ("rId1" if owned.charts else None, "rId2" if owned.buttons else None)
            styles = StandInStyles()
            try:
                rendered = render_owned_sheet(
                    owned, styles, drawing_rid=rids[0], legacy_rid=rids[1], date1904=self.date1904
                )
            except ValueError:
                continue  # write_owned_sheet reports it
            self.rendered[id(owned)] = (owned, rids, rendered, styles)

    def start_rendering_beside(self, owned_sheets: Iterable[OwnedSheet]) -> None:
        """For each big owned sheet not rendered ahead (see :data:`ROWS_BESIDE`): settle the cell formats
        it needs now, first (in every process and on every system: the same styles part), and start
        rendering its first rows in a second process where the system allows one;
        :meth:`write_owned_sheet` renders the rest and joins them."""
        for owned in owned_sheets:
            if len(owned.rows) <= ROWS_BESIDE or id(owned) in self.rendered:
                continue
            formats = {(style, kind): self._styler(style, value) for style, kind, value in style_keys(owned)}
            if forking_allowed():
                # A sheet that grows (KeptRows) renders only its new rows, under its kept ones; its
                # header, row 0, is already in the workbook.
                start, number = (0, None) if owned.kept is None else (1, owned.kept.count + 2)
                first = start + int((len(owned.rows) - start) * SHARE_BESIDE)
                rows = functools.partial(render_rows, date1904=self.date1904, first_number=number)
                handle = beside(rows, owned, KnownStyles(formats), start, first)
                self.beside_rows[id(owned)] = (owned, first, handle)

    def stop_rendering_beside(self) -> None:
        for _, _, handle in self.beside_rows.values():
            handle.__exit__(None, None, None)
        self.beside_rows.clear()

    def _rows_beside(self, owned: OwnedSheet, first_number: int | None = None) -> RenderedRows | None:
        """The rows of ``owned`` to render when its first ones are being rendered in a second process
        (:meth:`start_rendering_beside`): those from there, the rest rendered here (``first_number``: the
        row number of the first of all, for a sheet that grows); None when none are."""
        started = self.beside_rows.pop(id(owned), None)
        if started is None or started[0] is not owned:
            return None
        _, first, handle = started
        number = None if first_number is None else first_number + first - 1
        rest = render_rows(owned, self._styler, first, date1904=self.date1904, first_number=number)
        with handle:
            return RenderedRows.joined([handle.result(), rest])

    def _styler(self, style: str, value: CellValue) -> int:
        return self._resolve_style(value, self.styles.named(style))

    def _append_owned(self, owned: OwnedSheet) -> bool:
        """Add the rows of ``owned`` that follow its kept ones (:class:`KeptRows`) under those the
        workbook's sheet holds; False, changing nothing, when that sheet does not end with them."""
        kept = owned.kept
        name = {n.casefold(): n for n in self.sheets}.get(owned.name.casefold())
        if kept is None or name is None or owned.charts or owned.buttons or owned.validations:
            return False
        part = self._worksheet_part(name)
        if part in self.outputs or self.states[name] != (owned.hidden or "visible"):
            return False
        data = self.pkg.read(part)
        try:
            sheet = SheetXml(data)
        except SheetXmlError:
            return False
        close = sheet.sheet_data_close
        if sheet.last_row_number() != kept.count + 1:  # the header and the kept rows
            return False
        added = self._rows_beside(owned, kept.count + 2)
        if added is None:
            added = render_rows(owned, self._styler, 1, date1904=self.date1904, first_number=kept.count + 2)
        if added.links:  # would need the sheet's hyperlinks element: written whole instead
            return False
        edits = [Edit(close, close, added.xml)]
        grown = sheet.dimension_edit([(added.max_row, added.max_col)]) if added.max_row else None
        if grown is not None:
            edits.append(grown)
        if owned.autofilter:
            found = find_element(data, sheet.prefix, "autoFilter", close, len(data))
            if found is None:
                return False
            tag = data[found.start : found.tag_end]
            edits.append(Edit(found.start, found.tag_end, set_attr(tag, "ref", owned.autofilter)))
        self.workbook = manifest.set_filter_range(
            self.workbook, list(self.sheets).index(name), _filter_formula(name, owned.autofilter)
        )
        grown_data = apply_edits(data, edits)
        self.outputs[part] = grown_data
        root = TAG_RE.search(data)
        self.appended[part] = (root.group(0) if root else b"", [e.text for e in edits if e.text])
        self.zip.deflate_ahead(grown_data)
        return True

    def _code_name(self, part: str) -> str | None:
        """The VBA code name on the sheet part's ``sheetPr``, read from its first bytes."""
        if part not in self.pkg:
            return None
        found = _CODE_NAME.search(self.pkg.head(part))
        return found.group(1).decode() if found else None

    def write_owned_sheet(self, owned: OwnedSheet) -> None:
        if owned.kept is not None:
            if self._append_owned(owned):
                return
            owned = dataclasses.replace(owned, rows=owned.whole_rows(), kept=None)
        existing = {name.casefold(): name for name in self.sheets}
        state = owned.hidden or "visible"
        name = existing.get(owned.name.casefold())
        code_name = None
        if name is not None:
            part = self._worksheet_part(name)
            code_name = self._code_name(part)
            self._delete_dependents(part)
            if self.states[name] != state:
                self.workbook = manifest.set_sheet_state(self.workbook, name, state)
        else:
            name = owned.name
            part = self._free_name("xl/worksheets/sheet{}.xml")
            rid = manifest.next_rid(self.wb_rels)
            target = _relative(self.workbook_part, part)
            self.wb_rels = manifest.add_relationship(self.wb_rels, rid, RT.WORKSHEET, target)
            sheet_id = max([0, *self.sheet_ids]) + 1
            self.sheet_ids.append(sheet_id)
            self.workbook = manifest.add_sheet(self.workbook, name, sheet_id, rid, state)
            self.new_types[part] = CT.WORKSHEET
            self.sheets[name] = part
        self.states[name] = state
        self.workbook = manifest.set_filter_range(
            self.workbook, list(self.sheets).index(name), _filter_formula(name, owned.autofilter)
        )
        try:
            drawing = self._add_charts(owned, name)
            drawing_rid = "rId1" if drawing else None
            vml = self._add_buttons(owned)
            legacy_rid = "rId2" if vml else None
            ahead = self.rendered.pop(id(owned), None)
            if ahead is not None and ahead[0] is owned and ahead[1] == (drawing_rid, legacy_rid):
                rendered = RenderedSheet(ahead[3].settle(ahead[2].xml, self._styler), ahead[2].relationships)
            else:
                rendered = render_owned_sheet(
                    owned,
                    self._styler,
                    drawing_rid=drawing_rid,
                    legacy_rid=legacy_rid,
                    date1904=self.date1904,
                    rows=self._rows_beside(owned),
                )
        except ValueError as exc:
            raise self.fail(f"无法生成工作表“{name}”：{exc}", f"cannot build sheet {name!r}: {exc}") from exc
        if code_name:
            rendered = RenderedSheet(with_code_name(rendered.xml, code_name), rendered.relationships)
        self.outputs[part] = rendered.xml
        self.zip.deflate_ahead(rendered.xml)
        relationships = list(rendered.relationships)
        if drawing:
            relationships.insert(0, ("rId1", RT.DRAWING, _relative(part, drawing), False))
        if vml:
            relationships.insert(1 if drawing else 0, ("rId2", RT_VML, _relative(part, vml), False))
        if relationships:
            rels: bytes | None = None
            for rid, rtype, target, external in relationships:
                rels = manifest.add_relationship(rels, rid, rtype, target, external)
            assert rels is not None
            self.outputs[rels_name(part)] = rels

    # -- bookkeeping parts -------------------------------------------------------------------
    def _drop_calc_chain(self) -> None:
        """Excel rebuilds the calculation chain; a stale one naming a removed formula is an error."""
        for rid, rtype, target, _ in self.pkg.rels(self.workbook_part):
            stored = self.pkg.find(target)
            if rtype == RT.CALC_CHAIN and stored:
                self.wb_rels = manifest.remove_relationships(self.wb_rels, {rid})
                self.deleted.add(stored)

    def _register_content_types(self) -> None:
        """Overrides for new parts, none for deleted ones; a part deleted and re-created keeps its entry."""
        gone = self.deleted - set(self.outputs)
        if gone:
            self.content_types = manifest.remove_overrides(self.content_types, gone)
        for part, content_type in self.new_types.items():
            if manifest.override_type(self.content_types, part) != content_type:
                self.content_types = manifest.add_override(self.content_types, part, content_type)

    def finish_bookkeeping(self) -> None:
        if self.formulas_removed:
            self._drop_calc_chain()
        if self.styles.changed:
            if self.styles_part is None:
                self.styles_part = (
                    "xl/styles.xml"
                    if not self._in_use("xl/styles.xml")
                    else self._free_name("xl/styles{}.xml")
                )
                rid = manifest.next_rid(self.wb_rels)
                target = _relative(self.workbook_part, self.styles_part)
                self.wb_rels = manifest.add_relationship(self.wb_rels, rid, RT.STYLES, target)
                self.new_types[self.styles_part] = CT.STYLES
            self.outputs[self.styles_part] = self.styles.to_bytes()
        self._register_content_types()
        if self.spliced:  # cells the user's formulas may read changed: recalculate them all on open
            self.workbook = manifest.set_full_calc_on_load(self.workbook)
            self._refresh_pivots_on_load()
        self.workbook = manifest.fix_active_tab(self.workbook, [self.states[n] for n in self.sheets])
        for (name, original), data in zip(
            self.originals.items(), (self.workbook, self.wb_rels, self.content_types), strict=True
        ):
            if data != original:
                self.outputs[name] = data

    def _refresh_pivots_on_load(self) -> None:
        """The user's pivot tables over the sheets whose cells crmbook wrote are refreshed on opening."""
        written = {name for name, part in self.sheets.items() if part in self.spliced}
        for _, rtype, target, _ in self.pkg.rels(self.workbook_part):
            part = self.pkg.find(target)
            if rtype != RT.PIVOT_CACHE or part is None or part in self.outputs:
                continue
            data = self.pkg.read(part)
            patched = manifest.set_refresh_on_load(data, written)
            if patched != data:
                self.outputs[part] = patched

    def assemble(self) -> bytes:
        out = self.zip
        # Parts are handed over one by one: each rewritten part's XML is let go once it is deflated.
        pending, self.outputs = self.outputs, {}
        for name in self.pkg.names:
            if name in pending:
                out.add(name, pending.pop(name), self.pkg.infos[name].date_time)
            elif name not in self.deleted:
                info, raw = self.pkg.raw(name)
                out.copy(info, raw)
        for name in list(pending):
            out.add(name, pending.pop(name))
        return out.finish()

    # -- tables that grow -------------------------------------------------------------------
    def move_totals(self, table_rows: dict[str, int]) -> None:
        """Move the totals row (合计) of a table down below the rows appended into it.

        Rows appended to a table with a totals row go inside the table, from the totals row's place
        on: the totals rows are taken out and written again, unchanged but for their row numbers,
        right below the last appended row (their formulas name the table's columns, not cells).
        Refused when cells with values lie below the table, in the way.
        """
        for sheet, last_row in table_rows.items():
            for table_part in self._table_parts(sheet):
                totals = totals_rows(self.pkg.read(table_part))
                if totals is None or last_row < totals[0]:
                    continue
                first, count = totals
                data = self.moved.get(sheet) or self._sheet_data(sheet)[1]
                moved = _moved_totals(data, first, count, last_row)
                if moved is None:
                    raise self.fail(
                        f"“{sheet}”的表格有汇总行，其下方还有内容：新行无法放进表格。请先移开表格下方的内容。",
                        f"the table on {sheet!r} has a totals row with cells below it, so new rows cannot go "
                        "into the table; move what is below the table first",
                    )
                self.moved[sheet] = moved

    def grow_tables(self, table_rows: dict[str, int]) -> None:
        """Extend the Excel table on each sheet so it covers rows appended below it.

        Only a table whose last data row is at or above the new rows grows (its ``ref`` and its
        autofilter's; with its totals row, moved by :meth:`move_totals`, below them).
        """
        for sheet, last_row in table_rows.items():
            for table_part in self._table_parts(sheet):
                data = self.outputs.get(table_part) or self.pkg.read(table_part)
                grown = grown_table_xml(data, last_row)
                if grown != data:
                    self.outputs[table_part] = grown

    def reach_tables(self, table_reach: dict[str, int]) -> None:
        """The Excel table on each sheet takes in the records typed right below it, when it is the
        sheet's only table and has no totals row (the records would lie past it)."""
        for sheet, last_row in table_reach.items():
            parts = self._table_parts(sheet)
            if len(parts) != 1:
                continue
            data = self.outputs.get(parts[0]) or self.pkg.read(parts[0])
            if totals_rows(data) is None:
                grown = grown_table_xml(data, last_row)
                if grown != data:
                    self.outputs[parts[0]] = grown

    def reshape_tables(self, table_columns: dict[str, list[tuple[int, str | None]]]) -> None:
        """The Excel table on each sheet takes in the user columns added right of it, or lets go of
        those an undo removed (see :mod:`crmbook.ooxml.tables`)."""
        for sheet, columns in table_columns.items():
            removing = any(header is None for _, header in columns)
            for table_part in self._table_parts(sheet):
                data = original = self.outputs.get(table_part) or self.pkg.read(table_part)
                # added left to right, each right beside the table; removed right to left
                for col, header in sorted(columns, key=lambda c: c[0], reverse=removing):
                    data = (
                        narrowed_table_xml(data, col)
                        if header is None
                        else widened_table_xml(data, col, header)
                    )
                if data != original:
                    self.outputs[table_part] = data

    def set_sheet_states(self, states: dict[str, str]) -> None:
        """Show or hide sheets the changeset does not rewrite (a name the workbook lacks is passed over)."""
        existing = {name.casefold(): name for name in self.sheets}
        for wanted, state in states.items():
            name = existing.get(wanted.casefold())
            if name is not None and self.states[name] != state:
                self.workbook = manifest.set_sheet_state(self.workbook, name, state)
                self.states[name] = state

    def _table_parts(self, sheet: str) -> list[str]:
        """The table parts of worksheet ``sheet``."""
        out = []
        for _, rel_type, target, mode in self.pkg.rels(self._worksheet_part(sheet)):
            if mode == "External" or not rel_type.endswith("/table"):
                continue
            table_part = self.pkg.find(target)
            if table_part is not None:
                out.append(table_part)
        return out

    def run(self, changeset: Changeset) -> bytes:
        user_sheets = {w.sheet for w in changeset.cell_writes} | {h.sheet for h in changeset.highlights}
        user_sheets |= set(changeset.highlight_sheets)
        self._check_owned(changeset.owned_sheets, user_sheets)
        self.start_rendering_beside(changeset.owned_sheets)
        try:
            self.move_totals(changeset.table_rows)
            self.patch_user_sheets(changeset)
            self.grow_tables(changeset.table_rows)
            self.reach_tables(changeset.table_reach)
            self.reshape_tables(changeset.table_columns)
            for owned in changeset.owned_sheets:
                self.write_owned_sheet(owned)
            self.set_sheet_states(changeset.sheet_states)
        finally:
            self.stop_rendering_beside()
        self.finish_bookkeeping()
        return SplicedPackage(self.assemble(), {**self.spliced, **self.appended})
