"""Chart and drawing parts for owned sheets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from crmbook.changeset import ChartSpec
from crmbook.ooxml.charts import chart_xml, drawing_xml, range_formula

C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
XDR = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"


def spec(kind: str, series: int = 1) -> ChartSpec:
    return ChartSpec(
        kind,  # type: ignore[arg-type]
        "阶段",
        "E3",
        (2, 1, 6),
        tuple((2, 2 + i, 6) for i in range(series)),
        tuple(f"S{i}" for i in range(series)),
    )


def test_range_formula_quotes_every_sheet_name() -> None:
    assert range_formula("客户看板", 2, 2, 9) == "'客户看板'!$B$2:$B$9"
    assert range_formula("it's", 1, 28, 3) == "'it''s'!$AB$1:$AB$3"


@pytest.mark.parametrize(
    ("kind", "plot", "direction"),
    [
        ("pie", "pieChart", None),
        ("bar", "barChart", "bar"),
        ("column", "barChart", "col"),
        ("line", "lineChart", None),
    ],
)
def test_each_kind_builds_its_plot(kind: str, plot: str, direction: str | None) -> None:
    root = ET.fromstring(chart_xml(spec(kind), "看板", "zh"))
    assert root.find(f"{C}lang").get("val") == "zh-CN"  # type: ignore[union-attr]
    assert root.find(f"{C}roundedCorners").get("val") == "0"  # type: ignore[union-attr]
    chart = root.find(f".//{C}{plot}")
    assert chart is not None
    if direction:
        assert chart.find(f"{C}barDir").get("val") == direction  # type: ignore[union-attr]
    ser = chart.find(f"{C}ser")
    assert ser is not None
    assert ser.find(f"{C}val/{C}numRef/{C}f").text == "'看板'!$B$2:$B$6"  # type: ignore[union-attr]
    assert ser.find(f"{C}cat/{C}strRef/{C}f").text == "'看板'!$A$2:$A$6"  # type: ignore[union-attr]
    assert ser.find(f"{C}tx/{C}v").text == "S0"  # type: ignore[union-attr]


def test_funnel_is_a_horizontal_bar_with_the_first_stage_on_top() -> None:
    root = ET.fromstring(chart_xml(spec("funnel"), "看板", "en"))
    assert root.find(f".//{C}barDir").get("val") == "bar"  # type: ignore[union-attr]
    assert root.find(f".//{C}catAx/{C}scaling/{C}orientation").get("val") == "maxMin"  # type: ignore[union-attr]
    assert root.find(f"{C}lang").get("val") == "en-US"  # type: ignore[union-attr]


def test_legend_only_when_it_tells_series_apart() -> None:
    assert ET.fromstring(chart_xml(spec("column"), "s")).find(f".//{C}legend") is None
    assert ET.fromstring(chart_xml(spec("column", 2), "s")).find(f".//{C}legend") is not None
    assert ET.fromstring(chart_xml(spec("pie"), "s")).find(f".//{C}legend") is not None


def test_drawing_anchors_each_chart_at_its_cell_and_size() -> None:
    root = ET.fromstring(
        drawing_xml([(spec("pie"), "rId1"), (ChartSpec("bar", "b", "B20", (1, 1, 2), ((1, 2, 2),)), "rId2")])
    )
    anchors = root.findall(f"{XDR}oneCellAnchor")
    assert [(a.find(f"{XDR}from/{XDR}col").text, a.find(f"{XDR}from/{XDR}row").text) for a in anchors] == [  # type: ignore[union-attr]
        ("4", "2"),
        ("1", "19"),
    ]
    assert anchors[0].find(f"{XDR}ext").get("cx") == str(15 * 360_000)  # type: ignore[union-attr]
    ids = [a.find(f".//{XDR}cNvPr").get("id") for a in anchors]  # type: ignore[union-attr]
    assert len(set(ids)) == 2
