"""The canonical workbook as `crmbook new` creates it."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import python_calamine as pc

from crmbook.errors import InputError, WorkbookFileError
from crmbook.schema import load_schema
from crmbook.template import create_workbook
from tests.conftest import TODAY, soffice_convert


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_sheets_headers_tables_and_validations(tmp_path: Path, lang: str) -> None:
    schema = load_schema()
    path = create_workbook(tmp_path / "crm.xlsx", lang=lang)  # type: ignore[arg-type]
    wb = openpyxl.load_workbook(path)
    expected = [s.label(lang) for s in schema.sheets] + [  # type: ignore[arg-type]
        schema.config_sheet_name("lists", lang),  # type: ignore[arg-type]
        schema.config_sheet_name("settings", lang),  # type: ignore[arg-type]
    ]
    assert wb.sheetnames == expected
    for spec in schema.sheets:
        ws = wb[spec.label(lang)]  # type: ignore[arg-type]
        assert [c.value for c in ws[1]] == [c.label(lang) for c in spec.columns]  # type: ignore[arg-type]
        assert list(ws.tables) == [spec.table]
        assert ws.tables[spec.table].ref.startswith("A1:")
        assert ws.freeze_panes in ("B2", "C2")
        for i, col in enumerate(spec.columns, start=1):
            if col.required or col.owned:
                assert ws.cell(1, i).comment is not None, col.key
        formulas = {dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
        for col in spec.columns:
            if col.list:
                # The file format stores formulas without "=" (Gnumeric drops a list that has one).
                assert f"crm_list_{col.list}" in formulas
        assert not any(f.startswith("=") for f in formulas)
        for i, col in enumerate(spec.columns, start=1):
            if col.type == "date":
                assert ws.cell(2, i).number_format == "yyyy-mm-dd"
            if col.type == "amount":
                assert "#,##0" in ws.cell(2, i).number_format
    for key in schema.lists:
        name = wb.defined_names[f"crm_list_{key}"]
        assert "OFFSET(" in name.attr_text and "COUNTA(" in name.attr_text
    settings = wb[schema.config_sheet_name("settings", lang)]  # type: ignore[arg-type]
    labels = [settings.cell(r, 1).value for r in range(1, settings.max_row + 1)]
    assert schema.setting("id_pattern_customers").label(lang) in labels  # type: ignore[arg-type]
    assert schema.reps[0].name in labels


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_refuses_to_overwrite_and_rejects_other_extensions(tmp_path: Path) -> None:
    path = tmp_path / "crm.xlsx"
    path.write_bytes(b"mine")
    with pytest.raises(WorkbookFileError, match="already exists"):
        create_workbook(path)
    assert path.read_bytes() == b"mine"
    with pytest.raises(InputError, match="install-buttons"):
        create_workbook(tmp_path / "crm.xlsm")
    with pytest.raises(InputError):
        create_workbook(tmp_path / "crm.ods")


def test_a_sample_a_sheet_cannot_hold_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """About ten follow-ups a customer: past ~107,000 customers the follow-ups took rows past Excel's
    1,048,576 and `crmbook new --sample` wrote a workbook Excel cannot open. Here with a sheet of 101 rows."""
    import crmbook.template

    monkeypatch.setattr(crmbook.template, "MAX_ROW", 101, raising=False)
    with pytest.raises(
        InputError, match=r"--sample 20: the sheet 跟进记录 would get .* choose at most \d+ customers"
    ):
        create_workbook(tmp_path / "crm.xlsx", sample=20, today=TODAY)
    assert not (tmp_path / "crm.xlsx").exists()
    create_workbook(tmp_path / "crm.xlsx", sample=5, today=TODAY)  # ~50 follow-ups fit


def test_sample_workbook_reads_back(sample_master: Path) -> None:
    wb = pc.CalamineWorkbook.from_path(str(sample_master))
    customers = wb.get_sheet_by_name("客户").to_python()
    assert len(customers) > 100
    assert customers[0][:2] == ["客户编号", "客户名称"]


def test_a_user_added_list_item_is_accepted(tmp_path: Path) -> None:
    """Lists live in the workbook: an industry typed below the list is valid from then on."""
    from crmbook.reader import read_book
    from crmbook.validate import validate

    path = create_workbook(tmp_path / "crm.xlsx")
    wb = openpyxl.load_workbook(path)
    lists = wb["列表"]
    col = next(c.column for c in lists[1] if c.value == "所属行业")
    last = max(r for r in range(1, 60) if lists.cell(r, col).value)
    lists.cell(last + 1, col, "互联网+")
    wb["客户"].append(
        [
            "C2026000001",
            "杭州某某网络有限公司",
            "企业客户",
            "互联网+",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "13800138000",
        ]
    )
    wb.save(path)
    book, _ = read_book(path, today=TODAY)
    assert "互联网+" in book.lists["industry"]
    assert not [i for i in validate(book) if i.code == "not-in-list"]


@pytest.mark.libreoffice
def test_libreoffice_opens_the_template(tmp_path: Path, sample_master: Path) -> None:
    out = soffice_convert(sample_master, "xlsx", tmp_path)
    assert pc.CalamineWorkbook.from_path(str(out)).sheet_names[:6] == [
        "客户",
        "联系人",
        "跟进记录",
        "销售机会",
        "列表",
        "设置",
    ]
