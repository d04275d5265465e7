"""Native charts for crmbook-owned sheets: chart parts built with openpyxl, drawing parts by hand.

openpyxl's chart classes know the DrawingML chart schema well, so the chart
part comes from them; only its serialisation is used, never its workbook
writer. Series point at ranges of the owned sheet itself, so Excel and
LibreOffice draw them from the cells crmbook wrote. A funnel is a
horizontal bar chart with the first stage on top.
"""

from __future__ import annotations

from crmbook.changeset import ChartSpec
from crmbook.ooxml.cells import col_letter, split_ref
from crmbook.ooxml.xmltext import escape_attr
from crmbook.schema import Lang

__all__ = ["EMU_PER_CM", "PALETTE", "chart_title", "chart_xml", "drawing_xml", "range_formula"]

# The team's colours, in the order series (or a pie's slices) take them: the dashboard's and the report's.
PALETTE = ("1F4E78", "2E75B6", "70AD47", "ED7D31", "FFC000", "7F6084", "5B9BD5", "A5A5A5")
TITLE_COLOUR = "1F4E78"

EMU_PER_CM = 360_000
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_LANG_TAGS = {"zh": "zh-CN", "en": "en-US"}


def range_formula(sheet: str, first_row: int, col: int, last_row: int) -> str:
    """``'Sheet'!$B$2:$B$9`` for one column range of ``sheet`` (always quoted)."""
    letter = col_letter(col)
    quoted = "'" + sheet.replace("'", "''") + "'"
    return f"{quoted}!${letter}${first_row}:${letter}${last_row}"


def chart_title(text: str, size: int = 11) -> object:
    """A chart title in ``size``-point bold navy (renderers default to 18 points, too big for a half page)."""
    from openpyxl.chart.text import RichText, Text
    from openpyxl.chart.title import Title
    from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties, RegularTextRun

    props = CharacterProperties(sz=size * 100, b=True, solidFill=TITLE_COLOUR)
    paragraph = Paragraph(pPr=ParagraphProperties(defRPr=props), r=[RegularTextRun(rPr=props, t=text)])
    return Title(tx=Text(rich=RichText(p=[paragraph])), overlay=False)


def chart_xml(spec: ChartSpec, sheet: str, lang: Lang = "zh") -> bytes:
    """The chart part for ``spec``, whose data lives on owned sheet ``sheet``."""
    from openpyxl.chart import BarChart, LineChart, PieChart
    from openpyxl.chart.data_source import AxDataSource, NumDataSource, NumRef, StrRef
    from openpyxl.chart.label import DataLabelList
    from openpyxl.chart.marker import DataPoint
    from openpyxl.chart.series import Series, SeriesLabel
    from openpyxl.chart.shapes import GraphicalProperties
    from openpyxl.xml.functions import Element, tostring

    chart: PieChart | BarChart | LineChart
    if spec.kind == "pie":
        chart = PieChart()
        chart.dataLabels = DataLabelList(
            showPercent=True, showVal=False, showCatName=False, showSerName=False
        )
    elif spec.kind == "line":
        chart = LineChart()
    else:
        chart = BarChart()
        chart.type = "col" if spec.kind == "column" else "bar"
        if spec.kind == "funnel":
            chart.x_axis.scaling.orientation = "maxMin"
            chart.gapWidth = 40
    categories = range_formula(sheet, *spec.categories)
    for i, source in enumerate(spec.series):
        series = Series(
            idx=i,
            order=i,
            val=NumDataSource(numRef=NumRef(f=range_formula(sheet, *source))),
            cat=AxDataSource(strRef=StrRef(f=categories)),
        )
        if i < len(spec.series_titles):
            series.tx = SeriesLabel(v=spec.series_titles[i])
        if spec.kind == "pie":  # a colour per slice
            first, _, last = spec.categories
            for n in range(last - first + 1):
                point = DataPoint(idx=n)
                point.graphicalProperties.solidFill = PALETTE[n % len(PALETTE)]
                series.dPt.append(point)
        else:
            colour = PALETTE[i % len(PALETTE)]
            series.spPr = GraphicalProperties(solidFill=colour)
            series.spPr.line.solidFill = colour
        if spec.kind in ("funnel", "bar") and len(spec.series) == 1:  # the number on each bar
            series.dLbls = DataLabelList(
                showVal=True, showLegendKey=False, showCatName=False, showSerName=False, showPercent=False
            )
        chart.series.append(series)
    chart.title = chart_title(spec.title) if spec.title else None
    chart.roundedCorners = False
    if not isinstance(chart, PieChart):
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        if len(spec.series) < 2:
            chart.legend = None
    tree = chart._write()
    tree.insert(0, Element("lang", val=_LANG_TAGS[lang]))
    return _DECLARATION + tostring(tree)


def drawing_xml(charts: list[tuple[ChartSpec, str]]) -> bytes:
    """A drawing part anchoring each (chart, relationship Id) at its cell."""
    anchors = []
    for n, (spec, rid) in enumerate(charts, start=1):
        row, col = split_ref(spec.anchor)
        cx, cy = round(spec.width_cm * EMU_PER_CM), round(spec.height_cm * EMU_PER_CM)
        anchors.append(
            "<xdr:oneCellAnchor>"
            f"<xdr:from><xdr:col>{col - 1}</xdr:col><xdr:colOff>0</xdr:colOff>"
            f"<xdr:row>{row - 1}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>"
            f'<xdr:ext cx="{cx}" cy="{cy}"/>'
            '<xdr:graphicFrame macro="">'
            f'<xdr:nvGraphicFramePr><xdr:cNvPr id="{n + 1}" name="{escape_attr(spec.title or f"Chart {n}")}"/>'
            "<xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr>"
            '<xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm>'
            '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/chart">'
            f'<c:chart r:id="{rid}"/></a:graphicData></a:graphic>'
            "</xdr:graphicFrame><xdr:clientData/></xdr:oneCellAnchor>"
        )
    return (
        _DECLARATION.decode()
        + '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        + "".join(anchors)
        + "</xdr:wsDr>"
    ).encode()
