"""Property tests: whatever people type, refresh only fills what is empty and is idempotent.

Random edits (text, numbers, dates, blanks, formula-looking text, values from the lists) go into a
small sample book through the surgical writer, as a person typing in Excel would leave them; then
refresh runs twice and the record sheets are read back with python-calamine.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import python_calamine as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmbook.changeset import CellWrite, Changeset
from crmbook.ooxml import apply_changeset
from crmbook.refresh import refresh
from crmbook.schema import load_schema
from crmbook.template import create_workbook
from tests.conftest import TODAY

SHEETS = {spec.key: spec for spec in load_schema().sheets}
NOW = dt.datetime(2026, 11, 22, 9, 0)


@pytest.fixture(scope="module")
def small_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prop") / "crm.xlsx"
    return create_workbook(path, sample=12, seed=3, today=TODAY)


def _grids(path: Path) -> dict[str, list[list[object]]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    return {key: wb.get_sheet_by_name(spec.label("zh")).to_python() for key, spec in SHEETS.items()}


values = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30),
    st.sampled_from(
        ["=1+1", "+86 138 0013 8000", "-3", "@sum(A1)", "成交", "A", "12.5万", "2026/10/08", "是"]
    ),
    st.integers(min_value=-(10**9), max_value=10**12),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)),
    st.none(),
)
edit = st.tuples(st.sampled_from(sorted(SHEETS)), st.integers(0, 40), st.integers(0, 40), values)


def _user_columns(spec) -> set[int]:  # type: ignore[no-untyped-def]
    """1-based columns people type (crmbook-owned derived columns excluded; ID columns included)."""
    return {i for i, c in enumerate(spec.columns, start=1) if not c.owned or c.key == spec.id_column}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=st.lists(edit, min_size=1, max_size=25))
def test_refresh_only_fills_empty_cells_and_is_idempotent(
    small_book: Path, tmp_path: Path, edits: list[tuple[str, int, int, object]]
) -> None:
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(small_book, book)
    before_edit = _grids(book)
    changes = Changeset()
    for key, row_pick, col_pick, value in edits:
        spec = SHEETS[key]
        columns = sorted(_user_columns(spec))
        rows = len(before_edit[key])
        row = 2 + row_pick % rows  # an existing record or the row just below the last
        if isinstance(value, str) and not value:
            value = None
        changes.cell_writes.append(CellWrite(spec.label("zh"), row, columns[col_pick % len(columns)], value))  # type: ignore[arg-type]
    book.write_bytes(apply_changeset(book, changes))
    typed = _grids(book)

    refresh(book, today=TODAY, now=NOW)
    once = _grids(book)
    for key, spec in SHEETS.items():
        id_col = next(i for i, c in enumerate(spec.columns) if c.key == spec.id_column)
        for r, row in enumerate(typed[key]):
            for c, value in enumerate(row):
                if c + 1 not in _user_columns(spec):
                    continue
                after = once[key][r][c] if r < len(once[key]) and c < len(once[key][r]) else ""
                if c == id_col and value == "":
                    continue  # refresh may fill an empty ID
                if c == 1 and key != "customers" and value == "":
                    continue  # and a customer ID found by the customer's name
                assert after == value, f"{key} row {r + 1} column {c + 1}: {value!r} became {after!r}"

    refresh(book, today=TODAY, now=NOW)
    assert _grids(book) == once, "a second refresh changed the record sheets"
