"""An Excel table's part (``xl/tables/tableN.xml``) following the rows and columns crmbook adds.

Rows: records appended below a table (an import, a collect, a merge's undo) or typed right under it
join it: its ``ref`` and its autofilter's reach the last new row (:func:`grown_table_xml`); a totals
row (合计, :func:`totals_rows`) stays the table's last row, moved below them by the writer.

Columns: when an import or a collect adds a user column (a header nobody planned for, a column a rep
added), it goes right of the sheet's last column, which is the table's last column in a workbook
crmbook made. Outside the table, the column would not sort or filter with the rows: sorting the
table by its filter buttons would leave the new column's values beside other records. So the
table's ``ref`` and its autofilter's reach one column further and a ``<tableColumn>`` named as the
header cell is appended (:func:`widened_table_xml`; Excel requires the two to be equal; a name that
cannot be written as it is, or one the table already has, leaves the table as it is). An undo that
removes the column again lets it go (:func:`narrowed_table_xml`): the last ``<tableColumn>`` is
dropped, with a filter set on it.

Every other byte of the part stays.
"""

from __future__ import annotations

import re

from crmbook.ooxml.cells import col_letter, col_number
from crmbook.ooxml.xmltext import Edit, apply_edits, attr, escape_attr, set_attr

_TABLE_TAG = re.compile(rb"<(?:\w+:)?table\b[^>]*>")
_AUTOFILTER_TAG = re.compile(rb"<(?:\w+:)?autoFilter\b[^>]*?/?>")
_COLUMNS_TAG = re.compile(rb"<((?:\w+:)?)tableColumns\b[^>]*>")
_COLUMN_TAG = re.compile(rb"<(?:\w+:)?tableColumn\b[^>]*?(/?)>")
_REF = re.compile(r"^([A-Z]+)(\d+):([A-Z]+)(\d+)$")


def _span(data: bytes) -> tuple[re.Match[bytes], re.Match[str]] | None:
    """The table's start tag and its ``ref`` (first column, first row, last column, last row)."""
    table = _TABLE_TAG.search(data)
    if table is None:
        return None
    ref = _REF.match(attr(table.group(0), "ref") or "")
    if ref is None or attr(table.group(0), "headerRowCount") == "0":
        return None
    return table, ref


def _columns(data: bytes, start: int) -> tuple[re.Match[bytes], list[re.Match[bytes]], int] | None:
    """The ``<tableColumns>`` start tag, the start tag of each ``<tableColumn>`` and where the list ends."""
    opening = _COLUMNS_TAG.search(data, start)
    if opening is None:
        return None
    close = data.find(b"</" + opening.group(1) + b"tableColumns>", opening.end())
    if close < 0:
        return None
    return opening, list(_COLUMN_TAG.finditer(data, opening.end(), close)), close


def _reach(tag: bytes, last_column: str) -> bytes:
    """Start tag ``tag`` (the table's or its autofilter's) with its ``ref`` ending in ``last_column``."""
    ref = _REF.match(attr(tag, "ref") or "")
    if ref is None:
        return tag
    return set_attr(tag, "ref", f"{ref[1]}{ref[2]}:{last_column}{ref[4]}")


def totals_rows(data: bytes) -> tuple[int, int] | None:
    """(first row of the totals rows, their count) of a table part that has a totals row, else None."""
    m = _TABLE_TAG.search(data)
    if m is None:
        return None
    count = attr(m.group(0), "totalsRowCount") or "0"
    parts = _REF.match(attr(m.group(0), "ref") or "")
    if parts is None or not count.isdigit() or int(count) == 0:
        return None
    return int(parts[4]) - int(count) + 1, int(count)


def grown_table_xml(data: bytes, last_row: int) -> bytes:
    """A table part whose data rows reach down to ``last_row`` (its autofilter too): a table without a
    totals row ends there; one with a totals row has it right below (see ``crmbook.ooxml.writer``, which moves it)."""
    m = _TABLE_TAG.search(data)
    if m is None:
        return data
    tag = m.group(0)
    ref = attr(tag, "ref")
    totals = totals_rows(data)
    parts = _REF.match(ref or "")
    if parts is None:
        return data
    count = totals[1] if totals else 0
    old_last = int(parts[4]) - count  # the last data row
    if old_last >= last_row:
        return data
    new_ref = f"{parts[1]}{parts[2]}:{parts[3]}{last_row + count}"
    edits = [Edit(m.start(), m.end(), set_attr(tag, "ref", new_ref))]
    f = _AUTOFILTER_TAG.search(data, m.end())
    if f is not None:
        fref = _REF.match(attr(f.group(0), "ref") or "")
        if fref is not None and int(fref[4]) == old_last:
            edits.append(
                Edit(
                    f.start(), f.end(), set_attr(f.group(0), "ref", f"{fref[1]}{fref[2]}:{fref[3]}{last_row}")
                )
            )
    return apply_edits(data, edits)


def widened_table_xml(data: bytes, col: int, name: str) -> bytes:
    """The table part with column ``col`` (right beside its last column; header ``name``) taken in;
    ``data`` as it is when the table ends elsewhere or ``name`` cannot be a column name of it."""
    span = _span(data)
    if span is None or not name or not name.isprintable() or "_x" in name or name != name.strip():
        return data
    table, ref = span
    if col_number(ref[3]) != col - 1:
        return data
    found = _columns(data, table.end())
    if found is None:
        return data
    opening, columns, close = found
    names = {(attr(c.group(0), "name") or "").casefold() for c in columns}
    ids = [int(i) for c in columns if (i := attr(c.group(0), "id") or "").isdigit()]
    if name.casefold() in names or len(ids) != len(columns):
        return data
    letter = col_letter(col)
    edits = [Edit(table.start(), table.end(), _reach(table.group(0), letter))]
    autofilter = _AUTOFILTER_TAG.search(data, table.end(), opening.start())
    if autofilter is not None:
        edits.append(Edit(autofilter.start(), autofilter.end(), _reach(autofilter.group(0), letter)))
    edits.append(
        Edit(opening.start(), opening.end(), set_attr(opening.group(0), "count", str(len(columns) + 1)))
    )
    new = (
        f'<{opening.group(1).decode()}tableColumn id="{max(ids, default=0) + 1}" name="{escape_attr(name)}"/>'
    )
    edits.append(Edit(close, close, new.encode()))
    return apply_edits(data, edits)


def narrowed_table_xml(data: bytes, col: int) -> bytes:
    """The table part without its last column, when that is column ``col`` (an undo removes it);
    ``data`` as it is otherwise. A filter set on that column goes with it."""
    span = _span(data)
    if span is None:
        return data
    table, ref = span
    if col_number(ref[3]) != col or col_number(ref[1]) >= col:
        return data
    found = _columns(data, table.end())
    if found is None or len(found[1]) < 2:
        return data
    opening, columns, close = found
    last = columns[-1]
    if last.group(1):  # <tableColumn .../>
        end = last.end()
    else:  # with children (a calculated column's formula): up to its end tag
        prefix = opening.group(1)
        end = data.find(b"</" + prefix + b"tableColumn>", last.end(), close)
        if end < 0:
            return data
        end += len(b"</" + prefix + b"tableColumn>")
    letter = col_letter(col - 1)
    edits = [Edit(table.start(), table.end(), _reach(table.group(0), letter))]
    autofilter = _AUTOFILTER_TAG.search(data, table.end(), opening.start())
    if autofilter is not None:
        edits.append(Edit(autofilter.start(), autofilter.end(), _reach(autofilter.group(0), letter)))
        if not autofilter.group(0).endswith(b"/>"):
            filtered = re.compile(
                rb"<((?:\w+:)?)filterColumn\b[^>]*\bcolId=\"" + str(len(columns) - 1).encode() + rb"\"[^>]*?"
                rb"(?:/>|>.*?</\1filterColumn>)",
                re.DOTALL,
            ).search(data, autofilter.end(), opening.start())
            if filtered is not None:
                edits.append(Edit(filtered.start(), filtered.end(), b""))
    edits.append(
        Edit(opening.start(), opening.end(), set_attr(opening.group(0), "count", str(len(columns) - 1)))
    )
    edits.append(Edit(last.start(), end, b""))
    return apply_edits(data, edits)
