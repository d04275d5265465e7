"""The row splicer: cells written into hand-written worksheet XML, everything else left as it was."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from crmbook.changeset import CellValue
from crmbook.ooxml.cells import cell_ref, split_ref
from crmbook.ooxml.sheetxml import SheetXml, SheetXmlError, patch_cells
from crmbook.ooxml.xmltext import MAIN_NS, apply_edits

NS = {"m": MAIN_NS}


def sheet(rows: str, head: str = '<dimension ref="A1:C5"/>', tail: str = "", prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    decl = f'xmlns:{prefix}="{MAIN_NS}"' if prefix else f'xmlns="{MAIN_NS}"'
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {decl}>'
        f"{head}<{p}sheetData>{rows}</{p}sheetData>{tail}</{p}worksheet>"
    ).encode()


def keep_style(value: CellValue, style: int) -> int:
    return style


def patch(xml: bytes, writes: dict[tuple[int, int], CellValue], date1904: bool = False) -> bytes:
    located = SheetXml(xml)
    result = patch_cells(located, writes, keep_style, date1904=date1904)
    return apply_edits(xml, result.edits)


def cells(xml: bytes) -> list[tuple[str, str | None, str | None]]:
    """(ref, style, text or value) of every cell, in document order."""
    root = ET.fromstring(xml)
    out = []
    for c in root.iter(f"{{{MAIN_NS}}}c"):
        t = c.find("m:is/m:t", NS)
        v = c.find("m:v", NS)
        out.append(
            (c.get("r", ""), c.get("s"), t.text if t is not None else (v.text if v is not None else None))
        )
    return out


def row_numbers(xml: bytes) -> list[str]:
    return [r.get("r", "") for r in ET.fromstring(xml).iter(f"{{{MAIN_NS}}}row")]


def test_cell_inserted_between_others_keeps_neighbours_bytes() -> None:
    row = '<row r="2" spans="1:3"><c r="A2" s="4" t="s"><v>0</v></c><c r="C2"><v>7</v></c></row>'
    xml = sheet(row)
    out = patch(xml, {(2, 2): "new"})
    assert [c[0] for c in cells(out)] == ["A2", "B2", "C2"]
    assert b'<c r="A2" s="4" t="s"><v>0</v></c>' in out
    assert b'<c r="C2"><v>7</v></c>' in out
    assert cells(out)[1] == ("B2", None, "new")


def test_new_rows_go_between_existing_rows_in_order() -> None:
    xml = sheet('<row r="1"><c r="A1"><v>1</v></c></row><row r="5"><c r="A5"><v>5</v></c></row>')
    out = patch(xml, {(3, 1): "x", (4, 2): "y", (9, 1): "z"})
    assert row_numbers(out) == ["1", "3", "4", "5", "9"]
    assert [c[0] for c in cells(out)] == ["A1", "A3", "B4", "A5", "A9"]


def test_rows_into_an_empty_sheet_data_element() -> None:
    xml = sheet("").replace(b"<sheetData></sheetData>", b"<sheetData/>")
    out = patch(xml, {(2, 1): "a", (1, 1): "b"})
    assert row_numbers(out) == ["1", "2"]
    assert b"<sheetData/>" not in out


def test_untouched_rows_are_byte_identical() -> None:
    rows = "".join(f'<row r="{r}" spans="1:2"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 50))
    xml = sheet(rows, head='<dimension ref="A1:C60"/>')
    out = patch(xml, {(20, 2): "x"})
    cut = xml.index(b'<row r="20"')
    assert out[:cut] == xml[:cut]
    tail = xml.index(b'<row r="21"')
    assert out.endswith(xml[tail:])


@pytest.mark.parametrize(
    "text",
    [
        'a<b & c>"d"',
        "  leading and trailing  ",
        "two\nlines",
        "tab\there",
        "_x0041_ stays literal",
        "bell\x07",
    ],
)
def test_inline_strings_escape_and_round_trip(text: str) -> None:
    out = patch(sheet('<row r="1"/>'), {(1, 1): text})
    root = ET.fromstring(out)
    t = root.find(".//m:is/m:t", NS)
    assert t is not None
    stored = t.text or ""
    # Excel decodes _xHHHH_ escapes; undo them the same way to compare.
    import re

    decoded = re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), stored)
    assert decoded == text
    preserve = t.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    assert preserve == (text != text.strip() or "\n" in text)


def test_numbers_booleans_and_dates() -> None:
    out = patch(
        sheet('<row r="1"/>'),
        {
            (1, 1): 42,
            (1, 2): 2.5,
            (1, 3): True,
            (1, 4): dt.date(2024, 5, 1),
            (1, 5): dt.datetime(2024, 5, 1, 18, 0),
        },
    )
    values = [c[2] for c in cells(out)]
    assert values == ["42", "2.5", "1", "45413", "45413.75"]
    assert b't="b"' in out


def test_dates_in_a_1904_workbook() -> None:
    out = patch(sheet('<row r="1"/>'), {(1, 1): dt.date(2024, 5, 1)}, date1904=True)
    assert cells(out)[0][2] == str(45413 - 1462)


def test_overwriting_a_formula_removes_it_and_reports_it() -> None:
    xml = sheet('<row r="3"><c r="A3"><f>SUM(B1:B2)</f><v>3</v></c><c r="B3"><f>1+1</f><v>2</v></c></row>')
    located = SheetXml(xml)
    result = patch_cells(located, {(3, 1): "fixed"}, keep_style)
    out = apply_edits(xml, result.edits)
    assert result.formulas_removed
    assert b"SUM(" not in out
    assert b"<f>1+1</f>" in out


def test_writing_an_empty_cell_reports_no_formula() -> None:
    xml = sheet('<row r="3"><c r="B3"><f>1+1</f><v>2</v></c></row>')
    assert not patch_cells(SheetXml(xml), {(3, 1): "x"}, keep_style).formulas_removed


@pytest.mark.parametrize("filler_rows", [0, 400])  # a small sheet is searched whole, a big one row by row
def test_overwriting_a_shared_formula_master_keeps_the_others_calculating(filler_rows: int) -> None:
    rows = (
        '<row r="2"><c r="C2"><f t="shared" ref="C2:C4" si="0">A2*2</f><v>2</v></c></row>'
        '<row r="3"><c r="C3"><f t="shared" si="0"/><v>4</v></c></row>'
        '<row r="4"><c r="C4"><f t="shared" si="0"/><v>6</v></c></row>'
    ) + "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(10, 10 + filler_rows))
    out = patch(sheet(rows), {(2, 3): "x"})
    assert b"<f>A3*2</f>" in out
    assert b"<f>A4*2</f>" in out
    assert b'si="0"' not in out


def test_existing_style_kept_else_row_then_column_style() -> None:
    head = '<dimension ref="A1:C5"/><cols><col min="2" max="3" width="9" style="7" customWidth="1"/></cols>'
    rows = '<row r="1" s="5" customFormat="1"><c r="A1" s="3"/></row><row r="2"><c r="A2"><v>1</v></c></row>'
    out = patch(sheet(rows, head=head), {(1, 1): "a", (1, 2): "b", (2, 2): "c", (2, 4): "d"})
    styles = {ref: s for ref, s, _ in cells(out)}
    assert styles == {"A1": "3", "B1": "5", "A2": None, "B2": "7", "D2": None}


def test_style_resolver_sees_the_base_style() -> None:
    seen: list[tuple[CellValue, int]] = []

    def resolve(value: CellValue, style: int) -> int:
        seen.append((value, style))
        return 99 if isinstance(value, dt.date) else style

    xml = sheet('<row r="1"><c r="A1" s="2"/></row>')
    out = apply_edits(xml, patch_cells(SheetXml(xml), {(1, 1): dt.date(2024, 1, 1)}, resolve).edits)
    assert seen == [(dt.date(2024, 1, 1), 2)]
    assert cells(out)[0][1] == "99"


def test_dimension_grows_only_when_needed() -> None:
    xml = sheet('<row r="1"><c r="A1"><v>1</v></c></row>')
    assert b'<dimension ref="A1:E9"/>' in patch(xml, {(9, 5): "x"})
    assert b'<dimension ref="A1:C5"/>' in patch(xml, {(2, 2): "x"})


def test_spans_hint_dropped_when_a_cell_falls_outside() -> None:
    xml = sheet('<row r="1" spans="2:3"><c r="B1"><v>1</v></c></row>')
    assert b"spans" not in patch(xml, {(1, 5): "x"})
    assert b'spans="2:3"' in patch(xml, {(1, 3): "x"})


def resolved_cells(xml: bytes) -> list[tuple[str, str | None]]:
    """(ref, value) of every cell, with implicit row and column positions worked out as Excel does."""
    out = []
    row_number = 0
    for row in ET.fromstring(xml).iter(f"{{{MAIN_NS}}}row"):
        row_number = int(row.get("r") or row_number + 1)
        col = 0
        for c in row.iter(f"{{{MAIN_NS}}}c"):
            col = split_ref(c.get("r", ""))[1] if c.get("r") else col + 1
            t = c.find("m:is/m:t", NS)
            v = c.find("m:v", NS)
            out.append(
                (cell_ref(row_number, col), t.text if t is not None else (v.text if v is not None else None))
            )
    return out


def test_rows_and_cells_without_r_attributes() -> None:
    rows = "<row><c><v>1</v></c><c><v>2</v></c></row><row><c><v>3</v></c></row>"
    out = patch(sheet(rows), {(2, 2): "x", (1, 2): "y", (1, 4): "z", (3, 1): "new"})
    assert resolved_cells(out) == [
        ("A1", "1"),
        ("B1", "y"),
        ("D1", "z"),
        ("A2", "3"),
        ("B2", "x"),
        ("A3", "new"),
    ]
    assert b"<sheetData><row><c><v>1</v></c><c r=" in out  # the untouched implicit cell is copied as it was


def test_prefixed_namespace() -> None:
    xml = sheet('<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row>', head="", prefix="x")
    out = patch(xml, {(1, 2): "b", (2, 1): "c"})
    assert b'<x:c r="B1" t="inlineStr"><x:is><x:t>b</x:t></x:is></x:c>' in out
    assert b'<x:row r="2">' in out
    root = ET.fromstring(out)
    assert [c.get("r") for c in root.iter(f"{{{MAIN_NS}}}c")] == ["A1", "B1", "A2"]


def test_comments_and_dtds_are_refused() -> None:
    with pytest.raises(SheetXmlError, match="comments"):
        SheetXml(sheet("<!-- hi --><row r='1'/>"))
    with pytest.raises(SheetXmlError, match="DTD"):
        SheetXml(b'<!DOCTYPE x [<!ENTITY a "b">]>' + sheet(""))


def test_rows_out_of_order_are_refused() -> None:
    with pytest.raises(SheetXmlError, match="out of order"):
        patch(sheet('<row r="5"/><row r="2"/>'), {(3, 1): "x"})


def test_cells_right_of_the_last_cell_are_appended_without_touching_the_row() -> None:
    rich = '<c r="B1" t="inlineStr"><is><r><rPr><color rgb="FFFF0000"/></rPr><t>red</t></r></is></c>'
    rows = (
        '<row r="1" spans="1:2"><c r="A1" s="3"><v>1</v></c>' + rich + "</row>"
        '<row r="2"><c r="A2"><v>2</v></c><c r="B2"/></row>'
        '<row r="3"><c><v>3</v></c></row>'
    )
    xml = sheet(rows)
    out = patch(xml, {(1, 4): "d1", (1, 3): "c1", (2, 5): 5, (3, 2): "b3"})
    assert resolved_cells(out) == [
        ("A1", "1"),
        ("B1", None),
        ("C1", "c1"),
        ("D1", "d1"),
        ("A2", "2"),
        ("B2", None),
        ("E2", "5"),
        ("A3", "3"),
        ("B3", "b3"),
    ]
    assert ('<c r="A1" s="3"><v>1</v></c>' + rich).encode() in out  # the row's own cells, byte for byte
    assert b'<row r="1">' in out  # the spans hint no longer covers the row


def test_rows_found_one_after_another_or_by_a_full_scan() -> None:
    xml = sheet('<row r="2"><c r="A2"><v>1</v></c></row><row spans="1:2" r="5"><c r="A5"><v>2</v></c></row>')
    located = SheetXml(xml)
    found = located.locate([2])
    assert found is not None and found.position == {2: xml.index(b'<row r="2"')}
    assert located.locate([2, 5]) is None  # r is not the first attribute of row 5: not found that way
    assert located.locate([3]) is None  # absent rows are left to the full scan, which knows where to put them
    out = patch(xml, {(5, 2): "x", (3, 1): "new", (2, 2): "y"})
    assert resolved_cells(out) == [("A2", "1"), ("B2", "y"), ("A3", "new"), ("A5", "2"), ("B5", "x")]


def test_exclamation_marks_in_text_are_not_declarations() -> None:
    shouting = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>买!!</t></is></c></row>' for r in range(1, 800)
    )
    SheetXml(sheet(shouting))  # 1,598 "!" and no "<!"
    with pytest.raises(SheetXmlError, match="comments"):
        SheetXml(sheet(shouting + "<!-- late -->"))


@pytest.mark.parametrize("prefix", ["", "x"])
def test_rows_spliced_or_taken_apart_come_out_the_same(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Writes into cells that are there, between cells (a gap in the middle of a row), left and right of
    every cell, next to rich text (whose ``<color>`` and ``<charset>`` start like a cell), empty cells
    and cells without a reference: splicing gives the bytes taking the row apart gives."""
    import random

    from crmbook.ooxml import sheetxml

    p = f"{prefix}:" if prefix else ""
    rich = (
        f'<{p}is><{p}r><{p}rPr><{p}color rgb="FFFF0000"/><{p}charset val="134"/></{p}rPr>'
        f"<{p}t>红</{p}t></{p}r></{p}is>"
    )

    def cell(r: int, c: int) -> str:
        kind = rng.random()
        if kind < 0.15:
            return f'<{p}c r="{cell_ref(r, c)}" s="{c}" t="inlineStr">{rich}</{p}c>'
        if kind < 0.25:
            return f'<{p}c r="{cell_ref(r, c)}" s="{c}"/>'
        if kind < 0.28:
            return f"<{p}c><{p}v>{c}</{p}v></{p}c>"  # no reference: the row is taken apart
        return f'<{p}c r="{cell_ref(r, c)}" s="{c}"><{p}v>{c}</{p}v></{p}c>'

    rng = random.Random(3)
    rows, writes = [], {}
    for r in range(1, 400):
        cols = sorted(rng.sample(range(1, 9), rng.randint(0, 6)))
        cells = "".join(cell(r, c) for c in cols)
        spans = ' spans="2:5"' if rng.random() < 0.3 else ""
        rows.append(
            f'<{p}row r="{r}"{spans}>{cells}</{p}row>' if cols or rng.random() < 0.5 else f'<{p}row r="{r}"/>'
        )
        for c in rng.sample(range(1, 10), rng.randint(0, 4)):
            writes[(r, c)] = rng.choice(["text", 7, dt.date(2026, 1, 2), None])
    xml = sheet("".join(rows), prefix=prefix)
    spliced = patch(xml, writes)
    monkeypatch.setattr(sheetxml._RowWriter, "_spliced", lambda *args: None)
    assert spliced == patch(xml, writes)
