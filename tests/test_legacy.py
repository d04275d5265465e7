"""Reading legacy files (the first half of the import): header found, encodings, merged headers."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from crmbook.errors import InputError
from crmbook.legacy import read_legacy
from crmbook.mapping import load_mapping, propose_mapping, save_mapping

FIXTURE_XLS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "superstore.xls"


def test_title_rows_merged_two_row_header_and_subtotals(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户台账"
    ws.append(["2024 年客户台账（华东区）"])
    ws.append([None])
    ws.append(["基本信息", None, "联系方式", None, "客户级别"])
    ws.append(["公司名称", "所属行业", "联系电话", "邮箱", None])
    ws.merge_cells("A3:B3")
    ws.merge_cells("C3:D3")
    ws.merge_cells("E3:E4")
    ws.append(["上海华信科技有限公司", "制造业", "138 0013 8000", "a@huaxin.cn", "A类（重点客户）"])
    ws.append(["北京恒达贸易有限公司", "批发零售", "010-61234567", "b@hengda.cn", "潜力客户"])
    ws.append(["合计", None, None, None, None])
    path = tmp_path / "ledger.xlsx"
    wb.save(path)
    (sheet,) = read_legacy(path)
    assert sheet.header_row == 4
    assert sheet.headers == ["公司名称", "所属行业", "联系电话", "邮箱", "客户级别"]
    assert [r for r, _ in sheet.rows] == [5, 6, 7]
    assert sheet.skipped == [(7, "subtotal")]
    mapping = propose_mapping([sheet]).tables[0]
    assert mapping.target == "customers"
    assert mapping.columns == {
        "公司名称": "name",
        "所属行业": "industry",
        "联系电话": "phone",
        "邮箱": "email",
        "客户级别": "level",
    }
    assert mapping.values["level"] == {"A类（重点客户）": "A", "潜力客户": "B"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("客户名称,电话,备注\n华信科技,13800138000,老客户\n".encode(encoding))
    (sheet,) = read_legacy(path)
    assert sheet.headers == ["客户名称", "电话", "备注"]
    assert sheet.rows == [(2, ["华信科技", "13800138000", "老客户"])]


def test_broken_encoding_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes("客户名称,电话\n".encode() + b"\xff\xfe\xfa\xfb,1\n" * 3)
    with pytest.raises(InputError, match=r"broken\.csv.*encoding"):
        read_legacy(path)


def test_content_sniffing_finds_a_phone_column(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    rows = ["名称,号码"] + [f"公司{i},1380013800{i}" for i in range(5)]
    path.write_text("\n".join(rows), encoding="utf-8")
    (sheet,) = read_legacy(path)
    assert propose_mapping([sheet]).tables[0].columns["号码"] == "phone"


def test_mapping_round_trips_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text("公司名称,客户等级\n甲公司,A类（重点客户）\n乙公司,重点客户\n", encoding="utf-8")
    mapping = propose_mapping(read_legacy(path))
    saved = save_mapping(mapping, tmp_path / "map.toml")
    assert load_mapping(saved) == mapping
    saved.write_text(saved.read_text("utf-8").replace('"level"', '"nonsense"'), encoding="utf-8")
    with pytest.raises(InputError, match="nonsense"):
        load_mapping(saved)


def test_superstore_xls_reads() -> None:
    if not FIXTURE_XLS.exists():
        pytest.skip("shared fixture superstore.xls not present")
    sheets = {s.sheet: s for s in read_legacy(FIXTURE_XLS)}
    assert len(sheets["Orders"].rows) == 9994
    assert sheets["People"].headers == ["S.No.", "Person", "Region"]


def test_a_csv_line_with_more_values_than_headers_keeps_them(tmp_path: Path) -> None:
    """A value past the header row's names (an extra comma on one line) is carried in a column named
    by its position, not dropped."""
    source = tmp_path / "extra.csv"
    source.write_text(
        "公司名称,联系电话\n甲公司,13812345678\n乙公司,13812345679,多出来的值\n", encoding="utf-8"
    )
    (sheet,) = read_legacy(source)
    assert sheet.headers == ["公司名称", "联系电话", "列3"]
    assert [values for _, values in sheet.rows] == [
        ["甲公司", "13812345678", None],
        ["乙公司", "13812345679", "多出来的值"],
    ]
