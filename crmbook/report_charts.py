"""The report's charts: openpyxl chart objects in one style and one palette.

Bars and columns with a title, axis titles where the unit needs saying and
numbers on the bars where the reader needs them; the funnel as stacked
horizontal bars whose first, invisible series centres the visible one.
"""

from __future__ import annotations

from typing import Any

from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.worksheet.worksheet import Worksheet

from crmbook.ooxml.charts import PALETTE, chart_title

__all__ = [
    "amount_axis",
    "bar_chart",
    "colour_series",
    "funnel_chart",
    "label_values",
    "legend_below",
    "style_chart",
    "whole_steps",
]


def style_chart(chart: Any) -> None:
    """One look for every chart: the palette in series order, axes shown, legend below."""
    chart.roundedCorners = False
    if isinstance(chart, PieChart):
        return
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    if chart.legend is not None:
        chart.legend.position = "b"


def colour_series(series: Any, colour: str | None) -> None:
    gp = series.graphicalProperties
    if colour is None:
        gp.noFill = True
        gp.line.noFill = True
    else:
        gp.solidFill = colour
        gp.line.solidFill = colour


def label_values(series: Any, fmt: str | None = None, position: str | None = None) -> None:
    series.dLbls = DataLabelList(
        showVal=True, showLegendKey=False, showCatName=False, showSerName=False, showPercent=False
    )
    if fmt:
        series.dLbls.numFmt = fmt
    if position:
        series.dLbls.dLblPos = position


def amount_axis(axis: Any, top: float) -> None:
    axis.number_format = '¥#,##0.0,,"M"' if top >= 1_000_000 else "¥#,##0"
    axis.numFmt.sourceLinked = False
    if top <= 0:  # nothing in the period: one step from ¥0, not fractions shown as ¥0 ¥0 ¥1 ¥1
        whole_steps(axis, 0)


def whole_steps(axis: Any, top: float) -> None:
    """An axis of small counts (a quiet month) in steps of one from zero: a spreadsheet's own scale
    would step by fractions, each shown rounded (1, 1, 0)."""
    if top < 5:
        axis.scaling.min = 0
        axis.scaling.max = max(1, int(top))
        axis.majorUnit = 1


def bar_chart(
    title: str,
    ws: Worksheet,
    cats: tuple[int, int, int],
    data: list[tuple[int, int, int]],
    *,
    horizontal: bool = False,
    y_title: str | None = None,
    x_title: str | None = None,
    fmt: str | None = None,
    labels: bool = True,
) -> BarChart:
    """A bar chart of data columns (header row just above ``first``); categories from ``cats``."""
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.title = chart_title(title)
    chart.gapWidth = 60
    for i, (first, col, last) in enumerate(data):
        chart.add_data(Reference(ws, min_col=col, min_row=first - 1, max_row=last), titles_from_data=True)
        colour_series(chart.series[-1], PALETTE[i % len(PALETTE)])
        if labels:
            label_values(chart.series[-1], fmt, "outEnd")
    chart.set_categories(Reference(ws, min_col=cats[1], min_row=cats[0], max_row=cats[2]))
    chart.x_axis.tickLblSkip = 1  # every category named
    if horizontal:
        chart.x_axis.scaling.orientation = "maxMin"  # first category on top
        # Eight names stacked in a third of a page: at the default 10 points LibreOffice drops every other
        # one as overlapping (tickLblSkip or not); at 8 points each bar keeps its name.
        chart.x_axis.txPr = _small_text()
    if len(data) < 2:
        chart.legend = None
    style_chart(chart)
    if y_title:
        chart.y_axis.title = y_title
    if x_title:
        chart.x_axis.title = x_title
    return chart


def funnel_chart(data: Worksheet, first: int, last: int, title: str) -> BarChart:
    """A funnel: stacked horizontal bars, an invisible offset series centring the visible one, stages top
    to bottom, the count on each bar and the conversion from the stage above in its label."""
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap, chart.gapWidth = "bar", "stacked", 100, 30
    chart.title = title
    for col, colour in ((2, None), (3, PALETTE[0])):
        chart.add_data(Reference(data, min_col=col, min_row=first - 1, max_row=last), titles_from_data=True)
        colour_series(chart.series[-1], colour)
    label_values(chart.series[1], "#,##0", "ctr")
    chart.series[1].dLbls.txPr = _white_text()
    chart.set_categories(Reference(data, min_col=1, min_row=first, max_row=last))
    chart.x_axis.scaling.orientation = "maxMin"  # the first stage on top
    chart.y_axis.delete = True  # widths, not values, are what a funnel shows
    chart.y_axis.majorGridlines = None
    chart.legend = None
    chart.title = chart_title(title)
    chart.roundedCorners = False
    chart.x_axis.delete = False
    return chart


def _white_text() -> Any:
    from openpyxl.chart.text import RichText
    from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties

    props = CharacterProperties(sz=900, b=True, solidFill="FFFFFF")
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), endParaRPr=props)])


def _small_text() -> Any:
    from openpyxl.chart.text import RichText
    from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties

    props = CharacterProperties(sz=800)
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), endParaRPr=props)])


def legend_below() -> Any:
    from openpyxl.chart.legend import Legend

    legend = Legend()
    legend.position = "b"
    return legend
