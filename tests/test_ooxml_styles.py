"""crmbook's styles are appended to styles.xml once and found again on the next run."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from crmbook.changeset import STYLES
from crmbook.ooxml.styles import STYLE_SPECS, Styles, is_date_format, minimal_styles
from crmbook.ooxml.xmltext import MAIN_NS

M = f"{{{MAIN_NS}}}"


def counts(data: bytes) -> dict[str, int]:
    root = ET.fromstring(data)
    out = {}
    for name in ("numFmts", "fonts", "fills", "borders", "cellXfs", "dxfs"):
        el = root.find(M + name)
        out[name] = len(el) if el is not None else 0
        if el is not None:
            assert el.get("count") == str(len(el)), name
    return out


def use_everything(styles: Styles) -> dict[str, int]:
    out = {name: styles.named(name) for name in STYLES}
    for severity in ("error", "warning", "info"):
        out[severity + "-dxf"] = styles.dxf(severity)
    return out


def test_every_named_style_has_a_spec() -> None:
    assert set(STYLE_SPECS) == set(STYLES)


def test_second_run_appends_nothing_and_finds_the_same_indexes() -> None:
    first = Styles(minimal_styles())
    indexes = use_everything(first)
    data = first.to_bytes()
    assert counts(data)["cellXfs"] > 1
    second = Styles(data)
    assert use_everything(second) == indexes
    assert not second.changed
    assert second.to_bytes() == data


def test_equal_elements_match_whatever_their_attribute_order() -> None:
    styles = Styles(minimal_styles())
    index = styles.named("integer")
    data = styles.to_bytes()
    reordered = data.replace(
        b'<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>',
        b'<xf applyNumberFormat="1" xfId="0" borderId="0" fillId="0" fontId="0" numFmtId="3" />',
    )
    assert reordered != data
    assert Styles(reordered).named("integer") == index


def test_text_style_reuses_the_default_format() -> None:
    assert Styles(minimal_styles()).named("text") == 0


def test_date_variant_keeps_the_font_and_adds_a_date_format() -> None:
    styles = Styles(minimal_styles())
    bold = styles.named("title")
    dated = styles.date_variant(bold)
    assert styles.is_date_style(dated) and not styles.is_date_style(bold)
    assert styles.date_variant(dated) == dated
    root = ET.fromstring(styles.to_bytes())
    xfs = root.find(M + "cellXfs")
    assert xfs is not None
    assert xfs[dated].get("fontId") == xfs[bold].get("fontId")
    assert Styles(styles.to_bytes()).date_variant(bold) == dated


def test_builtin_date_formats_need_no_variant() -> None:
    data = minimal_styles().replace(
        b'<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>',
        b'<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        b'<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>',
    )
    styles = Styles(data)
    assert styles.date_variant(1) == 1
    assert not styles.changed


@pytest.mark.parametrize(
    ("code", "is_date"),
    [
        ("yyyy-mm-dd", True),
        ('[$-804]yyyy"年"m"月"d"日"', True),
        ("h:mm", True),
        ("[h]:mm", True),
        ("#,##0", False),
        ('"days: "0', False),
        ("[Red]0.00", False),
        ("0.00E+00", False),
        ("General", False),
    ],
)
def test_date_format_detection(code: str, is_date: bool) -> None:
    assert is_date_format(code) is is_date


def test_missing_containers_are_created_in_schema_order() -> None:
    data = minimal_styles().replace(b'<dxfs count="0"/>', b"")
    styles = Styles(data)
    styles.dxf("error")
    styles.number_format("0.0%")
    out = styles.to_bytes()
    names = [el.tag.removeprefix(M) for el in ET.fromstring(out)]
    assert names == ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs"]
    assert counts(out)["dxfs"] == 1


def test_prefixed_styles_part() -> None:
    data = (
        f'<x:styleSheet xmlns:x="{MAIN_NS}"><x:fonts count="1"><x:font><x:sz val="11"/></x:font></x:fonts>'
        '<x:fills count="1"><x:fill><x:patternFill patternType="none"/></x:fill></x:fills>'
        '<x:borders count="1"><x:border/></x:borders>'
        '<x:cellXfs count="1"><x:xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></x:cellXfs></x:styleSheet>'
    ).encode()
    styles = Styles(data)
    header = styles.named("header")
    out = styles.to_bytes()
    assert b"<font>" not in out and b"<x:font><x:b/>" in out
    assert Styles(out).named("header") == header
