"""Highlights as crmbook-owned conditional formatting: compressed ranges, user formats untouched."""

from __future__ import annotations

import re

from crmbook.ooxml.highlights import compress_sqref, highlight_edits, split_sqref
from crmbook.ooxml.sheetxml import SheetXml
from crmbook.ooxml.xmltext import MAIN_NS, apply_edits

USER_CF = (
    b'<conditionalFormatting sqref="C2:C9"><cfRule type="cellIs" dxfId="0" priority="7" operator="greaterThan">'
    b"<formula>5</formula></cfRule></conditionalFormatting>"
)
VALIDATION = b'<dataValidations count="1"><dataValidation type="list" sqref="D2"><formula1>"a,b"</formula1></dataValidation></dataValidations>'


def sheet(tail: bytes) -> bytes:
    return (
        f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1"/></sheetData>'.encode()
        + tail
        + b'<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
    )


def dxf(severity: str) -> int:
    return {"error": 10, "warning": 11, "info": 12}[severity]


def highlight(xml: bytes, cells: dict[str, set[tuple[int, int]]]) -> bytes:
    return apply_edits(xml, highlight_edits(SheetXml(xml), cells, dxf))


def test_compress_runs_and_rectangles() -> None:
    assert compress_sqref([(5, 2), (6, 2), (7, 2), (9, 2)]) == ["B5:B7", "B9"]
    assert compress_sqref([(5, 2), (6, 2), (5, 3), (6, 3), (5, 5)]) == ["B5:C6", "E5"]
    assert compress_sqref([(1, 1), (1, 1)]) == ["A1"]
    assert compress_sqref([]) == []


def test_split_sqref_by_count_and_length() -> None:
    ranges = [f"A{r}" for r in range(1, 2001, 2)]
    chunks = split_sqref(ranges, max_ranges=300, max_chars=100_000)
    assert [len(c.split()) for c in chunks] == [300, 300, 300, 100]
    assert all(len(c) <= 50 for c in split_sqref(ranges, max_chars=50))
    assert " ".join(split_sqref(ranges, max_chars=50)) == " ".join(ranges)


def test_user_cf_kept_and_crmbook_cf_placed_after_it_with_higher_priority_numbers() -> None:
    out = highlight(sheet(USER_CF + VALIDATION), {"error": {(3, 2), (4, 2)}})
    assert USER_CF + b'<conditionalFormatting sqref="B3:B4">' in out
    assert b'priority="8"' in out
    assert b'dxfId="10"' in out
    assert b'<formula>"crmbook-error"&lt;&gt;""</formula>' in out
    assert out.index(b"crmbook-error") < out.index(b"<dataValidations")


def test_rerun_replaces_crmbook_marks_so_fixed_problems_lose_theirs() -> None:
    first = highlight(sheet(USER_CF), {"error": {(3, 2)}, "warning": {(5, 5)}})
    second = highlight(first, {"warning": {(6, 6)}})
    assert USER_CF in second
    assert b"crmbook-error" not in second
    assert second.count(b"crmbook-warning") == 1
    assert b'sqref="F6"' in second and b'sqref="E5"' not in second
    cleared = highlight(second, {})
    assert cleared == sheet(USER_CF)


def test_without_any_cf_the_marks_go_before_later_elements() -> None:
    out = highlight(sheet(VALIDATION), {"info": {(1, 1)}})
    assert out.index(b"crmbook-info") < out.index(b"<dataValidations")
    bare = highlight(sheet(b""), {"info": {(1, 1)}})
    assert bare.index(b"crmbook-info") < bare.index(b"<pageMargins")


def test_the_most_severe_mark_wins_on_a_cell() -> None:
    out = highlight(sheet(b""), {"error": {(2, 2)}, "warning": {(2, 2), (3, 3)}})
    sqrefs = dict(re.findall(rb'sqref="([^"]+)"><cfRule type="expression" dxfId="(\d+)"', out))
    assert sqrefs == {b"B2": b"10", b"C3": b"11"}


def test_long_highlight_lists_are_split_into_several_elements() -> None:
    cells = {(r, 2) for r in range(2, 4000, 2)}
    out = highlight(sheet(b""), {"error": cells})
    assert out.count(b"<conditionalFormatting") >= 2
    refs = set()
    for sqref in re.findall(rb'sqref="([^"]+)"', out):
        refs |= set(sqref.decode().split())
    assert len(refs) == len(cells)
