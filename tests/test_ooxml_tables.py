"""An Excel table takes in a user column added right of it and lets it go again (crmbook.ooxml.tables)."""

from __future__ import annotations

import pytest

from crmbook.ooxml.tables import narrowed_table_xml, widened_table_xml

# as Excel writes a table part (default namespace, an autofilter, a column with a format of its own)
EXCEL = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    '<table xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" id="1" name="Customers" '
    'displayName="Customers" ref="A1:C40" totalsRowShown="0"><autoFilter ref="A1:C40"/>'
    '<tableColumns count="3"><tableColumn id="1" name="客户编号"/><tableColumn id="2" name="客户名称"/>'
    '<tableColumn id="5" name="备注" dataDxfId="3"/></tableColumns>'
    '<tableStyleInfo name="TableStyleMedium2" showFirstColumn="0" showLastColumn="0" '
    'showRowStripes="1" showColumnStripes="0"/></table>'
).encode()
# as another program writes it: a prefix, a filter set on a column
PREFIXED = (
    '<x:table xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" id="2" name="T" '
    'displayName="T" ref="B3:C9"><x:autoFilter ref="B3:C9"><x:filterColumn colId="1"><x:filters>'
    '<x:filter val="A"/></x:filters></x:filterColumn></x:autoFilter><x:tableColumns count="2">'
    '<x:tableColumn id="1" name="甲"/><x:tableColumn id="2" name="乙"/></x:tableColumns></x:table>'
).encode()


def test_a_column_right_of_the_table_is_taken_in_and_let_go_again() -> None:
    wide = widened_table_xml(EXCEL, 4, "微信号 & QQ")
    assert b'ref="A1:D40"' in wide and b'<autoFilter ref="A1:D40"/>' in wide
    assert b'<tableColumns count="4">' in wide
    assert '<tableColumn id="6" name="微信号 &amp; QQ"/></tableColumns>'.encode() in wide  # a new, unused ID
    assert narrowed_table_xml(wide, 4) == EXCEL


def test_a_prefixed_table_keeps_its_prefix_and_a_filter_on_the_column_goes_with_it() -> None:
    wide = widened_table_xml(PREFIXED, 4, "丙")
    assert b'ref="B3:D9"' in wide and '<x:tableColumn id="3" name="丙"/></x:tableColumns>'.encode() in wide
    assert b'<x:tableColumns count="3">' in wide
    back = narrowed_table_xml(wide, 4)
    assert back == PREFIXED
    # the filter on the table's last column (乙, colId 1) goes when that column does
    narrow = narrowed_table_xml(PREFIXED, 3)
    assert b"filterColumn" not in narrow and b'ref="B3:B9"' in narrow and b'count="1"' in narrow


@pytest.mark.parametrize(
    ("col", "name"),
    [
        (5, "微信号"),  # not right beside the table: a gap between
        (4, "客户名称"),  # a name the table already has
        (4, "客户名称".upper()),
        (4, "两行\n标题"),  # Excel would need it written _x000a_
        (4, " 空格"),
        (4, ""),
    ],
)
def test_a_column_the_table_cannot_take_leaves_it_as_it_is(col: int, name: str) -> None:
    assert widened_table_xml(EXCEL, col, name) is EXCEL


def test_only_the_table_s_last_column_is_let_go() -> None:
    assert narrowed_table_xml(EXCEL, 2) is EXCEL
    one = widened_table_xml(
        b'<table ref="A1:A2" id="1"><tableColumns count="1"><tableColumn id="1" name="a"/></tableColumns></table>',
        2,
        "b",
    )
    assert narrowed_table_xml(narrowed_table_xml(one, 2), 1) == narrowed_table_xml(one, 2)  # never empty


def test_a_calculated_last_column_goes_whole() -> None:
    table = (
        b'<table ref="A1:C5" id="1"><tableColumns count="3"><tableColumn id="1" name="a"/>'
        b'<tableColumn id="2" name="b"/><tableColumn id="3" name="c"><calculatedColumnFormula>'
        b"Table1[[#This Row],[a]]*2</calculatedColumnFormula></tableColumn></tableColumns></table>"
    )
    assert narrowed_table_xml(table, 3) == (
        b'<table ref="A1:B5" id="1"><tableColumns count="2"><tableColumn id="1" name="a"/>'
        b'<tableColumn id="2" name="b"/></tableColumns></table>'
    )
