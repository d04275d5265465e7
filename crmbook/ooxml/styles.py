"""crmbook's formats in ``styles.xml``, appended once and found again on the next run.

Cell formats (``cellXfs``) and conditional-format styles (``dxfs``) are
referenced by index, so crmbook may only append. Before appending a number
format, font, fill, border, cell format or dxf it looks for an existing one
that is the same element (compared as parsed XML, so attribute order and
whitespace do not matter) and reuses it: a second run with the same styles
appends nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from crmbook.ooxml.package import parse_xml
from crmbook.ooxml.xmltext import (
    MAIN_NS,
    Edit,
    apply_edits,
    escape_attr,
    find_element,
    main_prefix,
    remove_attr,
    set_attr,
    with_prefix,
)
from crmbook.ooxml.xmltext import (
    Element as Located,
)

__all__ = ["DXF_COLORS", "STYLE_SPECS", "StyleSpec", "Styles", "is_date_format", "minimal_styles"]

# Containers crmbook appends to, in the order CT_Stylesheet requires.
_ORDER = (
    "numFmts",
    "fonts",
    "fills",
    "borders",
    "cellStyleXfs",
    "cellXfs",
    "cellStyles",
    "dxfs",
    "tableStyles",
    "colors",
    "extLst",
)
_CHILD = {
    "numFmts": "numFmt",
    "fonts": "font",
    "fills": "fill",
    "borders": "border",
    "cellXfs": "xf",
    "dxfs": "dxf",
}
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10}
_BUILTIN_DATES = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
_DATE_TOKENS = re.compile(r"[dmyhs]", re.IGNORECASE)
_NOT_TOKENS = re.compile(r'"[^"]*"|\\.|\[(?!(?:h+|m+|s+)\])[^\]]*\]|_.|\*.')
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def is_date_format(code: str) -> bool:
    """Whether a number format code shows a date or time (quoted text, escapes and [colors] ignored)."""
    return bool(_DATE_TOKENS.search(_NOT_TOKENS.sub("", code)))


@dataclass(frozen=True)
class StyleSpec:
    """How one named crmbook style looks."""

    bold: bool = False
    underline: bool = False
    size_delta: float = 0.0  # points added to the workbook's default font size
    color: str | None = None  # font colour RRGGBB
    fill: str | None = None  # solid fill RRGGBB
    border_bottom: str | None = None  # thin bottom border colour RRGGBB
    number_format: str = "General"
    wrap: bool = False
    vertical: str | None = None


STYLE_SPECS: dict[str, StyleSpec] = {
    "title": StyleSpec(bold=True, size_delta=5, color="1F3864"),
    "subtitle": StyleSpec(size_delta=-1, color="7F7F7F"),
    "header": StyleSpec(bold=True, color="1F3864", fill="DDEBF7", border_bottom="8EA9DB", vertical="center"),
    "text": StyleSpec(),
    "wrap": StyleSpec(wrap=True, vertical="top"),
    "integer": StyleSpec(number_format="#,##0"),
    "amount": StyleSpec(number_format='"¥"#,##0'),
    "percent": StyleSpec(number_format="0.0%"),
    "date": StyleSpec(number_format=DATE_FORMAT),
    "datetime": StyleSpec(number_format=DATETIME_FORMAT),
    "link": StyleSpec(underline=True, color="0563C1"),
    "error": StyleSpec(color="C00000"),
    "warning": StyleSpec(color="C65911"),
    "kpi": StyleSpec(bold=True, size_delta=9, color="1F3864"),
}

# Conditional-format styles for highlights: (font colour or None, fill colour).
DXF_COLORS: dict[str, tuple[str | None, str]] = {
    "error": ("9C0006", "FFC7CE"),
    "warning": (None, "FFE699"),
    "info": (None, "DDEBF7"),
}


def minimal_styles() -> bytes:
    """A styles part for a package that has none (Excel requires one to show formats)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<styleSheet xmlns="{MAIN_NS}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '<dxfs count="0"/></styleSheet>'
    ).encode()


def _canon(el: Element) -> tuple[object, ...]:
    return (
        el.tag,
        tuple(sorted(el.attrib.items())),
        (el.text or "").strip(),
        tuple(_canon(child) for child in el),
    )


def _rgb(color: str) -> str:
    return "FF" + color.upper()


class Styles:
    """The styles part of one workbook, with crmbook's additions pending until :meth:`to_bytes`."""

    def __init__(self, data: bytes, part: str = "xl/styles.xml", path: str = "") -> None:
        self.data = data
        self.part = part
        root = parse_xml(data, part, path)
        self._prefix = main_prefix(data)
        self._existing: dict[str, list[tuple[object, ...]]] = {}
        for container in _CHILD:
            found = root.find(f"{{{MAIN_NS}}}{container}")
            self._existing[container] = [_canon(c) for c in found] if found is not None else []
        self._has_cell_style_xfs = len(root.findall(f"{{{MAIN_NS}}}cellStyleXfs/*")) > 0
        self._pending: dict[str, list[tuple[str, tuple[object, ...]]]] = {c: [] for c in _CHILD}
        self._formats: dict[int, str] = {}
        for fmt in root.iterfind(f"{{{MAIN_NS}}}numFmts/{{{MAIN_NS}}}numFmt"):
            try:
                self._formats[int(fmt.get("numFmtId", ""))] = fmt.get("formatCode", "")
            except ValueError:
                continue
        self._xf_formats = [
            int(xf.get("numFmtId", "0") or 0) for xf in root.iterfind(f"{{{MAIN_NS}}}cellXfs/{{{MAIN_NS}}}xf")
        ]
        base = root.find(f"{{{MAIN_NS}}}fonts/{{{MAIN_NS}}}font")
        self._base_font = self._font_basics(base)
        self._named: dict[str, int] = {}

    # -- reading ---------------------------------------------------------------------
    @staticmethod
    def _font_basics(font: Element | None) -> dict[str, str]:
        basics = {"sz": "11", "name": "Calibri"}
        if font is not None:
            for key in ("sz", "name", "family", "charset", "scheme"):
                child = font.find(f"{{{MAIN_NS}}}{key}")
                if child is not None and child.get("val"):
                    basics[key] = child.get("val", "")
        return basics

    def is_date_style(self, xf: int) -> bool:
        """Whether cell format ``xf`` shows numbers as dates."""
        if not 0 <= xf < len(self._xf_formats):
            return False
        fmt = self._xf_formats[xf]
        return fmt in _BUILTIN_DATES or (fmt in self._formats and is_date_format(self._formats[fmt]))

    @property
    def changed(self) -> bool:
        return any(self._pending.values())

    # -- appending ---------------------------------------------------------------------
    def _index(self, container: str, xml: str) -> int:
        """Index of an element equal to ``xml`` in ``container``, appending it when there is none."""
        wrapped = f'<{container} xmlns="{MAIN_NS}">{xml}</{container}>'.encode()
        canon = _canon(parse_xml(wrapped, self.part)[0])
        existing = self._existing[container]
        if canon in existing:
            return existing.index(canon)
        pending = self._pending[container]
        for i, (_, other) in enumerate(pending):
            if other == canon:
                return len(existing) + i
        pending.append((xml, canon))
        return len(existing) + len(pending) - 1

    def number_format(self, code: str) -> int:
        if code in _BUILTIN_FORMATS:
            return _BUILTIN_FORMATS[code]
        for fmt_id, existing in self._formats.items():
            if existing == code and fmt_id >= 164:
                return fmt_id
        fmt_id = max([163, *self._formats]) + 1
        self._formats[fmt_id] = code
        self._pending["numFmts"].append(
            (f'<numFmt numFmtId="{fmt_id}" formatCode="{escape_attr(code)}"/>', ())
        )
        return fmt_id

    def _font(self, spec: StyleSpec) -> int:
        if not (spec.bold or spec.underline or spec.size_delta or spec.color):
            return 0
        base = self._base_font
        size = float(base["sz"]) + spec.size_delta
        parts = ["<font>", "<b/>" if spec.bold else "", "<u/>" if spec.underline else ""]
        parts.append(f'<sz val="{size:g}"/>')
        if spec.color:
            parts.append(f'<color rgb="{_rgb(spec.color)}"/>')
        parts.append(f'<name val="{escape_attr(base["name"])}"/>')
        for key in ("family", "charset", "scheme"):
            if key in base:
                parts.append(f'<{key} val="{escape_attr(base[key])}"/>')
        parts.append("</font>")
        return self._index("fonts", "".join(parts))

    def _fill(self, color: str | None) -> int:
        if color is None:
            return 0
        rgb = _rgb(color)
        return self._index(
            "fills",
            f'<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/><bgColor indexed="64"/></patternFill></fill>',
        )

    def _border(self, color: str | None) -> int:
        if color is None:
            return 0
        return self._index(
            "borders",
            f'<border><left/><right/><top/><bottom style="thin"><color rgb="{_rgb(color)}"/></bottom><diagonal/></border>',
        )

    def _xf(self, fmt: int, font: int, fill: int, border: int, alignment: str = "") -> int:
        xf_id = ' xfId="0"' if self._has_cell_style_xfs else ""
        applies = "".join(
            f' apply{name}="1"'
            for name, used in (
                ("NumberFormat", fmt),
                ("Font", font),
                ("Fill", fill),
                ("Border", border),
                ("Alignment", alignment),
            )
            if used
        )
        head = f'<xf numFmtId="{fmt}" fontId="{font}" fillId="{fill}" borderId="{border}"{xf_id}{applies}'
        xml = f"{head}>{alignment}</xf>" if alignment else f"{head}/>"
        index = self._index("cellXfs", xml)
        if index == len(self._xf_formats):
            self._xf_formats.append(fmt)
        return index

    def named(self, name: str) -> int:
        """The cell format index of crmbook style ``name`` (one of :data:`crmbook.changeset.STYLES`)."""
        if name not in self._named:
            spec = STYLE_SPECS[name]
            align = ""
            if spec.wrap or spec.vertical:
                wrap = ' wrapText="1"' if spec.wrap else ""
                vertical = f' vertical="{spec.vertical}"' if spec.vertical else ""
                align = f"<alignment{vertical}{wrap}/>"
            self._named[name] = self._xf(
                self.number_format(spec.number_format),
                self._font(spec),
                self._fill(spec.fill),
                self._border(spec.border_bottom),
                align,
            )
        return self._named[name]

    def date_variant(self, xf: int, with_time: bool = False) -> int:
        """A cell format like ``xf`` that shows dates: ``xf`` itself when it does already."""
        cache = self.__dict__.setdefault("_date_variants", {})
        if (xf, with_time) not in cache:
            cache[(xf, with_time)] = self._date_variant(xf, with_time)
        return cache[(xf, with_time)]  # type: ignore[no-any-return]

    def _date_variant(self, xf: int, with_time: bool) -> int:
        if self.is_date_style(xf):
            return xf
        fmt = self.number_format(DATETIME_FORMAT if with_time else DATE_FORMAT)
        existing = len(self._existing["cellXfs"])
        pending = self._pending["cellXfs"]
        raw = self._xf_text(xf) if xf < existing else None
        if xf >= existing and xf - existing < len(pending):
            raw = pending[xf - existing][0].encode()
        if raw is None:
            return self._xf(fmt, 0, 0, 0)
        tag_end = raw.index(b">") + 1
        tag = raw[:tag_end]
        tag = set_attr(set_attr(tag, "numFmtId", str(fmt)), "applyNumberFormat", "1")
        tag = remove_attr(tag, "quotePrefix")
        index = self._index("cellXfs", (tag + raw[tag_end:]).decode("utf-8"))
        if index == len(self._xf_formats):
            self._xf_formats.append(fmt)
        return index

    def _xf_text(self, index: int) -> bytes | None:
        """The raw text of existing cell format ``index`` (with the part's prefix removed)."""
        container = find_element(self.data, self._prefix, "cellXfs")
        if container is None or container.empty:
            return None
        p = re.escape(self._prefix)
        pattern = re.compile(
            rb"<" + p + rb"xf\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(?:/>|>.*?</" + p + rb"xf>)", re.S
        )
        for i, m in enumerate(pattern.finditer(self.data, container.tag_end, container.end)):
            if i == index:
                raw = m.group()
                return (
                    raw.replace(b"<" + self._prefix, b"<").replace(b"</" + self._prefix, b"</")
                    if self._prefix
                    else raw
                )
        return None

    def dxf(self, severity: str) -> int:
        """The dxf index of crmbook's highlight for ``severity``."""
        font_color, fill = DXF_COLORS[severity]
        font = f'<font><color rgb="{_rgb(font_color)}"/></font>' if font_color else ""
        rgb = _rgb(fill)
        return self._index(
            "dxfs",
            f'<dxf>{font}<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/><bgColor rgb="{rgb}"/>'
            "</patternFill></fill></dxf>",
        )

    # -- writing -------------------------------------------------------------------------
    def _prefixed(self, xml: str) -> bytes:
        """New element text in the part's namespace prefix."""
        return with_prefix(xml, self._prefix)

    def to_bytes(self) -> bytes:
        """The styles part with every pending addition in place (the input bytes when there is none)."""
        if not self.changed:
            return self.data
        edits: list[Edit] = []
        p = self._prefix
        root = find_element(self.data, p, "styleSheet")
        if root is None:
            raise ValueError("styles part has no styleSheet element")
        for container, pending in self._pending.items():
            if not pending:
                continue
            count = len(self._existing[container]) + len(pending)
            new = b"".join(self._prefixed(xml) for xml, _ in pending)
            found = find_element(self.data, p, container, root.tag_end, root.end)
            if found is None:
                opening = self._prefixed(f'<{container} count="{count}">')
                closing = self._prefixed(f"</{container}>")
                at = self._insertion_point(container, root)
                edits.append(Edit(at, at, opening + new + closing))
                continue
            tag = set_attr(self.data[found.start : found.tag_end], "count", str(count))
            if found.empty:
                tag = tag[:-2].rstrip() + b">"
                edits.append(Edit(found.start, found.end, tag + new + self._prefixed(f"</{container}>")))
            else:
                edits.append(Edit(found.start, found.tag_end, tag))
                closing_at = self.data.rindex(b"</", found.tag_end, found.end)
                edits.append(Edit(closing_at, closing_at, new))
        return apply_edits(self.data, edits)

    def _insertion_point(self, container: str, root: Located) -> int:
        later = _ORDER[_ORDER.index(container) + 1 :]
        for name in later:
            found = find_element(self.data, self._prefix, name, root.tag_end, root.end)
            if found is not None:
                return found.start
        return self.data.rindex(b"</", root.tag_end, root.end)
