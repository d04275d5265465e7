"""Cell references, Excel date serials and the <c> elements crmbook writes."""

from __future__ import annotations

import datetime as dt

import pytest

from crmbook.ooxml.cells import cell_ref, cell_xml, col_letter, col_number, excel_serial, split_ref


@pytest.mark.parametrize(
    ("col", "letters"), [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"), (703, "AAA"), (16384, "XFD")]
)
def test_column_letters_both_ways(col: int, letters: str) -> None:
    assert col_letter(col) == letters
    assert col_number(letters) == col
    assert col_number(letters.lower()) == col


def test_refs() -> None:
    assert cell_ref(7, 2) == "B7"
    assert split_ref("$AB$12") == (12, 28)
    with pytest.raises(ValueError):
        split_ref("B")
    with pytest.raises(ValueError):
        col_letter(0)


@pytest.mark.parametrize(
    ("value", "serial"),
    [
        (dt.date(1900, 1, 1), 1),
        (dt.date(1900, 2, 28), 59),
        (dt.date(1900, 3, 1), 61),  # Excel's fictitious 1900-02-29 is serial 60
        (dt.date(2024, 5, 1), 45413),
        (dt.datetime(2024, 5, 1, 6, 0), 45413.25),
        (dt.datetime(2024, 5, 1, 6, 0, tzinfo=dt.UTC), 45413.25),
    ],
)
def test_serials_in_the_1900_system(value: dt.date, serial: float) -> None:
    assert excel_serial(value) == serial


def test_serials_in_the_1904_system_and_out_of_range() -> None:
    assert excel_serial(dt.date(1904, 1, 2), date1904=True) == 1
    assert excel_serial(dt.date(2024, 5, 1), date1904=True) == 45413 - 1462
    assert excel_serial(dt.date(1899, 1, 1)) is None


def test_values_excel_cannot_hold_become_text() -> None:
    assert 't="inlineStr"' in cell_xml("A1", float("nan"), 0)
    assert "1899-01-01" in cell_xml("A1", dt.date(1899, 1, 1), 0)
    with pytest.raises(ValueError, match="32767"):
        cell_xml("A1", "x" * 32_768, 0)


def test_empty_value_keeps_only_the_style() -> None:
    assert cell_xml("C3", None, 4) == '<c r="C3" s="4"/>'
    assert cell_xml("C3", 3, 0) == '<c r="C3"><v>3</v></c>'
