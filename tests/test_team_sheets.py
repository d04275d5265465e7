"""A rep file's record sheets written whole: every cell as the surgical writer's cell_xml writes it."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from crmbook.book import Table
from crmbook.ooxml.cells import cell_xml, col_letter
from crmbook.schema import load_schema
from crmbook.team_sheets import render_records, sheet_template

TEMPLATE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<dimension ref="A1:E3"/><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row>'
    b'<row r="2"><c r="A2" s="3"/><c r="C2" s="7"/><c r="D2" s="8"/></row>'
    b'<row r="3"><c r="A3" s="3"/><c r="C3" s="7"/><c r="D3" s="8"/></row>'
    b"</sheetData></worksheet>"
)

COLUMNS = {
    # plain texts (one go), texts needing care (cell by cell), dates in a date column, a mixed column,
    # dates in a column without a date format (left to the writer), numbers, an empty column
    "plain": ["客户一", "A & B <Co>", "", None, "x" * 100],
    "careful": ["  padded ", "tab\there", "_x0041_ looks escaped", "line\nbreak", "plain"],
    "when": [
        dt.datetime(2026, 11, 22, 9, 30),
        dt.date(2026, 11, 22),
        None,
        dt.datetime(1900, 1, 1),
        dt.datetime(2026, 11, 22, 9, 30),
    ],
    "mixed": [1, 2.5, "三", True, dt.datetime(1899, 12, 1)],
    "undated": [dt.date(2026, 1, 2), None, "text", 3, None],
    "empty": [None] * 5,
}


def _table() -> Table:
    spec = load_schema().sheet("customers")
    data = pd.DataFrame(COLUMNS, dtype=object, index=pd.RangeIndex(2, 7, name="row"))
    data = data.where(data.notna(), None)
    return Table(spec, "客户", 1, {k: i for i, k in enumerate(COLUMNS, start=1)}, {}, data)


def test_every_record_cell_is_what_the_writer_would_write() -> None:
    table = _table()
    template = sheet_template(TEMPLATE)
    xml, later = render_records(template, table, set(), {3}, date1904=False)
    text = xml.decode()
    cells = dict(re.findall(r'<c r="([A-Z]+[0-9]+)"(.*?(?:/>|</c>))', text, re.S))
    for col, (name, values) in enumerate(COLUMNS.items(), start=1):
        letter = col_letter(col)
        style = template.styles.get(letter, 0)
        for row, value in enumerate(values, start=2):
            ref = f"{letter}{row}"
            if value is None:
                assert ref not in cells or cells[ref] in (f' s="{style}"/>',)
            elif isinstance(value, dt.date) and col != 3:
                assert ref not in cells
                assert (row, col, value) in [(w.row, w.col, w.value) for w in later]
            else:
                assert f'<c r="{ref}"{cells[ref]}' == cell_xml(ref, value, style), (name, row)
    assert len(later) == 2  # the two dates outside the date column
    assert '<dimension ref="A1:F6"/>' in text
