"""Rendering owned sheets: panes, styles per value, links, empty rows."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from crmbook.changeset import CellValue, OwnedSheet, SheetCell
from crmbook.ooxml.owned import render_owned_sheet
from crmbook.ooxml.xmltext import MAIN_NS

M = f"{{{MAIN_NS}}}"


def styler(style: str, value: CellValue) -> int:
    return {"text": 0, "header": 1, "date": 2}.get(style, 9) + (10 if isinstance(value, dt.date) else 0)


@pytest.mark.parametrize(
    ("freeze", "pane"),
    [
        ("A2", {"ySplit": "1", "activePane": "bottomLeft"}),
        ("B1", {"xSplit": "1", "activePane": "topRight"}),
        ("C4", {"xSplit": "2", "ySplit": "3", "activePane": "bottomRight"}),
    ],
)
def test_frozen_panes(freeze: str, pane: dict[str, str]) -> None:
    root = ET.fromstring(render_owned_sheet(OwnedSheet("s", [], freeze=freeze), styler).xml)
    found = root.find(f"{M}sheetViews/{M}sheetView/{M}pane")
    assert found is not None
    assert {k: found.get(k) for k in pane} == pane
    assert found.get("state") == "frozen" and found.get("topLeftCell") == freeze


def test_cells_rows_and_styles() -> None:
    rows: list[list[SheetCell | None]] = [
        [SheetCell("名称", "header"), None, SheetCell(None, "header")],
        [],
        [SheetCell(dt.date(2024, 5, 1)), SheetCell(3.5)],
    ]
    root = ET.fromstring(render_owned_sheet(OwnedSheet("s", rows, widths={2: 12.5}), styler).xml)
    cells = [(c.get("r"), c.get("s")) for c in root.iter(f"{M}c")]
    assert cells == [("A1", "1"), ("C1", "1"), ("A3", "10"), ("B3", None)]
    assert [r.get("r") for r in root.iter(f"{M}row")] == ["1", "3"]
    assert root.find(f"{M}dimension").get("ref") == "A1:C3"  # type: ignore[union-attr]
    col = root.find(f"{M}cols/{M}col")
    assert col is not None and (col.get("min"), col.get("width")) == ("2", "12.5")


def test_repeated_values_are_written_as_each_cell_alone_would_be() -> None:
    """Values equal across types (1, 1.0, True) or formats stay apart; every cell is what
    :func:`cell_xml` writes for it."""
    from crmbook.ooxml.cells import cell_xml, col_letter

    values: list[CellValue] = [1, 1.0, True, "1", dt.date(2024, 5, 1), dt.datetime(2024, 5, 1), "a&b", None]
    # texts the short way of writing a text cell must leave to cell_xml
    values += [" lead", "trail ", "a\nb", "tab\t", "x_x0041_y", "\u3000全角", "", "<&>", "ctl\x01", "é"]
    rows: list[list[SheetCell | None]] = [
        [SheetCell(v, style) for v in values] for style in ("text", "date", "text")
    ]
    shared = rows[0]  # the same cell objects in later rows too (the change log shares its labels)
    rows += [shared, [None, *shared[1:]]]
    xml = render_owned_sheet(OwnedSheet("s", rows), styler).xml.decode()
    for r, row in enumerate(rows, start=1):
        for c, cell in enumerate(row, start=1):
            if cell is None:
                continue
            ref = f"{col_letter(c)}{r}"
            assert cell_xml(ref, cell.value, styler(cell.style, cell.value)) in xml


def test_a_text_too_long_for_excel_is_cut_on_a_sheet_people_read_and_refused_in_crmbook_s_data() -> None:
    rows: list[list[SheetCell | None]] = [[SheetCell("ok")], [None, SheetCell("长" * 40_000)]]
    with pytest.raises(ValueError, match="B2"):  # a hidden sheet holds crmbook's data: never cut
        render_owned_sheet(OwnedSheet("s", rows, hidden="veryHidden"), styler)
    shown = ET.fromstring(render_owned_sheet(OwnedSheet("s", rows), styler).xml)
    text = shown.find(f"{M}sheetData/{M}row[2]/{M}c/{M}is/{M}t")
    assert text is not None and text.text == "长" * 32_766 + "…"


def test_internal_links_need_no_relationship_and_web_links_get_one() -> None:
    rows: list[list[SheetCell | None]] = [
        [SheetCell("看客户", link="'客户'!B7"), SheetCell("web", link="https://example.com/?a=1&b=2")]
    ]
    rendered = render_owned_sheet(OwnedSheet("s", rows), styler, drawing_rid="rId1")
    root = ET.fromstring(rendered.xml)
    links = root.findall(f"{M}hyperlinks/{M}hyperlink")
    assert links[0].get("location") == "'客户'!B7" and links[0].get("display") == "看客户"
    rid = links[1].get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")
    assert rid == "rId2"  # rId1 is the drawing's
    assert rendered.relationships[0][0] == "rId2"
    assert rendered.relationships[0][2:] == ("https://example.com/?a=1&b=2", True)
    children = [el.tag.removeprefix(M) for el in root]
    assert children.index("hyperlinks") < children.index("pageMargins") < children.index("drawing")


def test_a_sheet_gets_no_more_links_than_excel_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Excel holds 65,530 hyperlinks per sheet and, past them, repairs the file and drops every link: the
    待跟进 sheet of a ledger of 100,000 customers just imported has a link on each of its 100,000 rows.
    Here the limit is 3 links."""
    import crmbook.ooxml.owned

    monkeypatch.setattr(crmbook.ooxml.owned, "MAX_LINKS", 3, raising=False)
    rows: list[list[SheetCell | None]] = [[SheetCell("打开", "link", f"'客户'!B{r}")] for r in range(2, 7)]
    root = ET.fromstring(render_owned_sheet(OwnedSheet("s", rows), styler).xml)
    links = root.findall(f"{M}hyperlinks/{M}hyperlink")
    assert [link.get("location") for link in links] == ["'客户'!B2", "'客户'!B3", "'客户'!B4"]
    assert len(root.findall(f"{M}sheetData/{M}row")) == 5  # every row still written


def test_rows_rendered_in_pieces_join_into_the_sheet_one_rendering_gives() -> None:
    from crmbook.ooxml.owned import RenderedRows, render_rows

    rows: list[list[SheetCell | None]] = [[SheetCell("编号", "header"), SheetCell("时间", "header")]]
    rows += [
        [
            SheetCell(f"R{n}", link=f"'客户'!A{n}" if n % 3 == 0 else None),
            SheetCell(dt.date(2026, 1, 1 + n % 28)),
        ]
        for n in range(1, 40)
    ]
    sheet = OwnedSheet("s", rows, autofilter="A1:B40")
    whole = render_owned_sheet(sheet, styler)
    for cut in (0, 1, 17, 40):
        pieces = [render_rows(sheet, styler, 0, cut), render_rows(sheet, styler, cut)]
        assert render_owned_sheet(sheet, styler, rows=RenderedRows.joined(pieces)).xml == whole.xml


def test_style_keys_ask_what_one_rendering_asks_in_its_order() -> None:
    from crmbook.ooxml.owned import StandInStyles, style_keys

    rows: list[list[SheetCell | None]] = [
        [SheetCell("a", "header"), None, SheetCell(dt.datetime(2026, 1, 1, 9, 30), "date")],
        [SheetCell(dt.date(2026, 1, 1), "date"), SheetCell(3, "integer"), SheetCell(dt.datetime(2026, 1, 2))],
        [SheetCell("b", "header"), SheetCell(dt.datetime(2026, 1, 2), "date")],
    ]
    asked = StandInStyles()
    render_owned_sheet(OwnedSheet("s", rows), asked)
    assert [(s, k) for s, k, _ in style_keys(OwnedSheet("s", rows))] == list(asked._asked)
