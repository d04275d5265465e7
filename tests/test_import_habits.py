"""crmbook import on the files people keep by hand: two-row headers over merged cells, firms of
several cities without phones, dates typed the way Excel and people write them, the words teams use
for a customer's level. Each builder makes the file the way a person or another program does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl

from crmbook.importer import import_file
from crmbook.reader import read_book
from crmbook.template import create_workbook

TODAY = dt.date(2024, 12, 31)
NOW = dt.datetime(2024, 12, 31, 9, 0)


def _rows(book: Path, sheet: str) -> list[dict[str, Any]]:
    data, _ = read_book(book, today=TODAY)
    frame = data.tables[sheet].data
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _deals_tsv(path: Path) -> Path:
    """A deals list saved as tab-separated text: the same trade name in two cities, no phone column."""
    lines = ["客户名称\t项目名称\t金额\t阶段"]
    for i, city in enumerate(["上海", "苏州", "成都"]):
        lines.append(f"{city}华信科技有限公司\t项目{i + 1}期\t{i + 1}万\t商务谈判")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_firms_of_two_cities_with_one_trade_name_are_two_customers(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    result = import_file(_deals_tsv(tmp_path / "商机.csv"), book, today=TODAY, now=NOW)
    assert result.plan is not None and not result.plan.rejects, result.plan and result.plan.rejects
    customers = sorted(r["name"] for r in _rows(book, "customers") if r["name"])
    assert customers == ["上海华信科技有限公司", "成都华信科技有限公司", "苏州华信科技有限公司"]
    deals = {r["name"]: r["customer_name"] for r in _rows(book, "opportunities") if r["name"]}
    assert deals == {
        "项目1期": "上海华信科技有限公司",
        "项目2期": "苏州华信科技有限公司",
        "项目3期": "成都华信科技有限公司",
    }


def _ledger_two_row_header(path: Path, merged: bool = True) -> Path:
    """客户台账 as a team keeps it: a title row, then a two-row header whose group title 联系方式
    stands over 手机 / 座机 / 微信 and whose other labels are merged down over both rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户台账"
    ws.append(["2024年客户台账（销售一部）"])
    ws.append(["序号", "客户名称（全称）", "联系人", "联系方式", None, None, "所属行业"])
    ws.append([None, None, None, "手机", "座机", "微信", None])
    if merged:
        ws.merge_cells("A1:G1")
        for c in "ABCG":
            ws.merge_cells(f"{c}2:{c}3")
        ws.merge_cells("D2:F2")
    firms = ["上海华信科技有限公司", "北京恒达贸易有限公司", "深圳瑞丰电子有限公司"]
    for i, firm in enumerate(firms):
        ws.append(
            [
                i + 1,
                firm,
                ["王伟", "李娜", "张强"][i],
                f"1381234567{i}",
                f"021-6234567{i}",
                f"wx_{i}",
                "制造业",
            ]
        )
    wb.save(path)
    return path


def test_a_two_row_header_over_merged_cells_is_read_as_one_header(tmp_path: Path) -> None:
    for merged in (True, False):
        book = Path(create_workbook(tmp_path / f"crm-{merged}.xlsx"))
        source = _ledger_two_row_header(tmp_path / f"客户台账-{merged}.xlsx", merged)
        result = import_file(source, book, today=TODAY, now=NOW)
        assert result.plan is not None and not result.plan.rejects, result.plan and result.plan.rejects
        customers = [r for r in _rows(book, "customers") if r["name"]]
        assert [r["name"] for r in customers] == [
            "上海华信科技有限公司",
            "北京恒达贸易有限公司",
            "深圳瑞丰电子有限公司",
        ]
        assert [r["phone"] for r in customers] == ["021-62345670", "021-62345671", "021-62345672"]
        contacts = [r for r in _rows(book, "contacts") if r["name"]]
        assert [(r["name"], r["mobile"], r["wechat"]) for r in contacts] == [
            ("王伟", "13812345670", "wx_0"),
            ("李娜", "13812345671", "wx_1"),
            ("张强", "13812345672", "wx_2"),
        ]


def _excel_us_csv(path: Path) -> Path:
    """A person list saved by Excel as "CSV UTF-8" on a US-locale machine: a BOM, CRLF, m/d/yy dates."""
    rows = [
        "客户,电话,登记日期",
        "王先生,13812345670,3/5/24",
        "李女士,13812345671,12/31/23 14:05",
        "赵先生,13812345672,1/2/99",
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n")
    return path


def test_dates_with_a_two_digit_year_are_read_as_excel_reads_them(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    result = import_file(_excel_us_csv(tmp_path / "个人客户.csv"), book, today=TODAY, now=NOW)
    assert result.plan is not None and not result.plan.problems, result.plan and result.plan.problems
    created = {r["name"]: r["created"] for r in _rows(book, "customers") if r["name"]}
    assert created == {
        "王先生": dt.date(2024, 3, 5),
        "李女士": dt.date(2023, 12, 31),
        "赵先生": dt.date(1999, 1, 2),
    }


def _team_ledger(path: Path) -> Path:
    """A sales team's ledger in its own words: 公司/个人, 客户等级 as 重要/一般, 负责销售."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["客户名称", "公司/个人", "电话", "客户等级", "负责销售"])
    ws.append(["上海华信科技有限公司", "公司", "13812345670", "重要", "张三"])
    ws.append(["王先生", "个人", "13812345671", "一般", "李四"])
    ws.append(["北京恒达贸易有限公司", "公司", "13812345672", "一般客户", "张三"])
    wb.save(path)
    return path


def test_a_teams_own_words_for_type_level_and_rep_are_understood(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    result = import_file(_team_ledger(tmp_path / "台账.xlsx"), book, today=TODAY, now=NOW)
    assert result.plan is not None and not result.plan.problems, result.plan and result.plan.problems
    got = [
        (r["name"], r["customer_type"], r["level"], r["owner"]) for r in _rows(book, "customers") if r["name"]
    ]
    assert got == [
        ("上海华信科技有限公司", "企业客户", "A", "张三"),
        ("王先生", "个人客户", "C", "李四"),
        ("北京恒达贸易有限公司", "企业客户", "C", "张三"),
    ]


def _write_csv(path: Path, rows: list[str], encoding: str) -> Path:
    """``rows`` as the lines of a CSV file in ``encoding``, ended by CRLF as Excel saves them."""
    path.write_bytes("\r\n".join(rows).encode(encoding) + b"\r\n")
    return path


def _gb18030_export(path: Path) -> Path:
    """A GB18030 CSV whose date column was formatted General before it was saved: serial numbers."""
    rows = [
        "Company Name,Tel.,录入时间",
        "上海华信科技有限公司,13812345670,45352",
        "北京恒达贸易有限公司,13812345671,45000.75",
    ]
    return _write_csv(path, rows, "gb18030")


def test_excel_serial_numbers_saved_as_text_are_dates(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    result = import_file(_gb18030_export(tmp_path / "客户列表.csv"), book, today=TODAY, now=NOW)
    assert result.plan is not None and not result.plan.problems, result.plan and result.plan.problems
    created = {r["name"]: r["created"] for r in _rows(book, "customers") if r["name"]}
    assert created == {
        "上海华信科技有限公司": dt.date(2024, 3, 1),
        "北京恒达贸易有限公司": dt.date(2023, 3, 15),
    }


def _european_csv(path: Path) -> Path:
    """A German Excel's "CSV (semicolon)": Windows-1252, semicolons, CRLF."""
    rows = [
        "Company Name;Contact Person;Tel.",
        "Müller GmbH;Jürgen Weiß;+49 30 1234560",
        "Café Rossi S.p.A.;Zoë Bianchi;+39 02 1234567",
    ]
    return _write_csv(path, rows, "cp1252")


def test_a_western_european_csv_keeps_its_accented_letters(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx", lang="en"))
    import_file(_european_csv(tmp_path / "kunden.csv"), book, today=TODAY, now=NOW)
    assert [r["name"] for r in _rows(book, "customers") if r["name"]] == ["Müller GmbH", "Café Rossi S.p.A."]
    assert [r["name"] for r in _rows(book, "contacts") if r["name"]] == ["Jürgen Weiß", "Zoë Bianchi"]


def _dotted_dates_csv(path: Path) -> Path:
    """A European export: dates written day.month.year, the day 12 or less on most rows."""
    rows = [
        "Company Name;Tel.;Created",
        "Schmidt AG;+49 30 1234561;01.03.2024",
        "Novak s.r.o.;+420 2 2123 4567;12.11.2023",
    ]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    return path


def test_dates_written_with_dots_are_day_first(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx", lang="en"))
    import_file(_dotted_dates_csv(tmp_path / "export.csv"), book, today=TODAY, now=NOW)
    created = {r["name"]: r["created"] for r in _rows(book, "customers") if r["name"]}
    assert created == {"Schmidt AG": dt.date(2024, 3, 1), "Novak s.r.o.": dt.date(2023, 11, 12)}


def _with_instructions_sheet(path: Path) -> Path:
    """A template handed round the team: a 说明 sheet of instructions first, the customers second."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    for line in ["填表说明", "1. 客户名称请写全称", "2. 电话写手机"]:
        ws.append([line])
    data = wb.create_sheet("客户")
    data.append(["客户名称", "电话"])
    data.append(["上海华信科技有限公司", "13812345670"])
    data.append(["北京恒达贸易有限公司", "13812345671"])
    wb.save(path)
    return path


def test_an_instructions_sheet_beside_the_data_is_not_imported_row_by_row(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    result = import_file(_with_instructions_sheet(tmp_path / "客户.xlsx"), book, today=TODAY, now=NOW)
    assert result.plan is not None
    assert result.plan.rejects == []
    assert result.plan.not_imported == ["说明"]
    assert [r["name"] for r in _rows(book, "customers") if r["name"]] == [
        "上海华信科技有限公司",
        "北京恒达贸易有限公司",
    ]


def _followup_rows(path: Path) -> Path:
    """One row per follow-up, the same customer on several rows, its contact on each."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "跟进明细"
    ws.append(["客户名称", "联系人", "跟进日期", "跟进方式", "跟进内容"])
    for k in range(3):
        ws.append(["上海华信科技有限公司", "王伟", f"2024年3月{k + 1}日", "电话", f"第{k + 1}次沟通"])
    wb.save(path)
    return path


def test_the_dry_run_says_a_follow_up_sheets_person_is_on_each_follow_up(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    result = import_file(_followup_rows(tmp_path / "跟进.xlsx"), book, dry_run=True, today=TODAY, now=NOW)
    assert result.mapping is not None
    reasons = [r for t in result.mapping.tables for r in t.reasons if r.startswith("联系人")]
    assert reasons == ["联系人 → 姓名: the person on each follow-up is the customer's contact"]


def _ledger_with_total(path: Path) -> Path:
    """A monthly ledger ending with its 合计 row, imported again next month as it is."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append(["客户名称", "电话", "金额"])
    ws.append(["上海华信科技有限公司", "13812345670", 100])
    ws.append(["北京恒达贸易有限公司", "13812345671", 200])
    ws.append(["合计", None, 300])
    wb.save(path)
    return path


def test_importing_a_ledger_again_does_not_record_its_total_row_again(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    source = _ledger_with_total(tmp_path / "台账.xlsx")
    first = import_file(source, book, today=TODAY, now=NOW)
    assert first.written and first.plan is not None and len(first.plan.rejects) == 1
    again = import_file(source, book, today=TODAY, now=NOW)
    assert not again.written
    wb = openpyxl.load_workbook(book, read_only=True)
    rejects = wb["导入拒绝"]
    assert sum(1 for row in rejects.iter_rows(min_row=2, values_only=True) if any(row)) == 1
    wb.close()


def _headers_with_hints(path: Path) -> Path:
    """Headers typed with a hint in brackets, on a second line (Alt+Enter): 客户等级(A/B/C), 金额（万元）."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["客户名称", "联系电话\n（手机）", "客户等级\n(A/B/C)", "金额（万元）"])
    ws.append(["上海华信科技有限公司", "13812345670", "A", 12.5])
    ws.append(["北京恒达贸易有限公司", "13812345671", "B", 3])
    wb.save(path)
    return path


def test_a_hint_in_brackets_after_a_header_does_not_hide_what_it_names(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    import_file(_headers_with_hints(tmp_path / "客户.xlsx"), book, today=TODAY, now=NOW)
    got = [(r["name"], r["phone"], r["level"]) for r in _rows(book, "customers") if r["name"]]
    assert got == [("上海华信科技有限公司", "13812345670", "A"), ("北京恒达贸易有限公司", "13812345671", "B")]
    # 万元 is a unit; a customer has no amount field, so the numbers stay as typed in a column of their own.
    wb = openpyxl.load_workbook(book, read_only=True)
    (first_row,) = wb["客户"].iter_rows(max_row=1)  # to the end, so the sheet's file closes
    header = [c.value for c in first_row]
    assert "金额（万元）" in header
    wb.close()


# ------------------------------------------------------------------ amounts kept in 万元, won deals


def _deals_in_wan(path: Path) -> Path:
    """A deals ledger as a sales team keeps it in Excel: a title row, amounts in 万元 (the unit in the
    header, full-width brackets), the stage as the team says it (赢单, 输单), one amount column for
    every stage, and a won deal typed with its own unit (8.8万)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "商机台账"
    ws.append(["2024年商机台账（销售一部）"])
    ws.append(["客户名称", "项目名称", "销售阶段", "金额（万元）", "成交日期", "负责人"])
    ws.append(["上海华信科技有限公司", "ERP升级", "商务谈判", 12.5, dt.date(2025, 1, 20), "张伟"])
    ws.append(["北京恒达贸易有限公司", "仓储系统", "赢单", "8.8万", dt.date(2024, 12, 10), "李娜"])
    ws.append(["深圳瑞丰电子有限公司", "年度维保", "方案提交", 1.15, dt.date(2025, 2, 1), "张伟"])
    ws.append(["杭州远景网络有限公司", "数据平台", "输单", 30, dt.date(2024, 11, 1), "李娜"])
    ws.append(["苏州新程机械有限公司", "产线改造", "赢单", 20, dt.date(2024, 12, 20), "张伟"])
    ws.append(["南京博远软件有限公司", "OA定制", "需求分析", "待定", None, "李娜"])
    ws.append(["合计", None, None, 72.45, None, None])
    ws.merge_cells("A1:F1")
    wb.save(path)
    return path


def _dry_run(source: Path, book: Path) -> str:
    """What ``crmbook import source --into book --dry-run`` prints."""
    from crmbook.importer import format_import_summary

    return "\n".join(format_import_summary(import_file(source, book, dry_run=True, today=TODAY, now=NOW)))


def _deals(book: Path) -> dict[str, tuple[Any, ...]]:
    keys = ("stage", "expected_amount", "actual_amount", "close_date")
    return {r["name"]: tuple(r[k] for k in keys) for r in _rows(book, "opportunities") if r["name"]}


def test_amounts_in_wan_yuan_are_imported_as_yuan_and_won_deals_get_their_actual_amount(
    tmp_path: Path,
) -> None:
    from crmbook.importer import undo_import
    from crmbook.measures import Period, compute_measures

    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    source = _deals_in_wan(tmp_path / "商机.xlsx")
    preview = _dry_run(source, book)
    assert "金额（万元） → 预计金额 ×10,000: a deal's value" in preview
    assert "金额（万元）: its numbers are in 万元, so 12.5 is 125,000" in preview
    assert (
        "on a row whose stage is 成交: 金额（万元） is also its 实际成交金额, 成交日期 is also its 关闭时间"
        in preview
    )

    assert "kept as typed: 商机.xlsx › 商机台账 › row 8: 金额（万元） = '待定': not an amount" in preview

    result = import_file(source, book, today=TODAY, now=NOW)
    assert result.written and result.plan is not None
    assert [(r.row, r.reason) for r in result.plan.rejects] == [(9, "subtotal row")]
    won = dt.date(2024, 12, 10)
    assert _deals(book) == {
        "ERP升级": ("商务谈判", 125000, None, None),
        "仓储系统": ("成交", 88000, 88000, won),  # 8.8万 is read as it says, not ×10,000 again
        "年度维保": ("方案提交", 11500, None, None),
        "数据平台": ("失败", 300000, None, None),
        "产线改造": ("成交", 200000, 200000, dt.date(2024, 12, 20)),
        "OA定制": ("需求分析", "待定", None, None),  # kept as typed; refresh flags it
    }
    # Refresh does not flag the won deals, and the month's report counts their revenue.
    assert result.plan.refresh is not None
    codes = {(i.code, i.row) for i in result.plan.refresh.report.issues}
    assert not {c for c in codes if c[0] == "won-without-amount"}
    assert {c for c in codes if c[0] == "bad-number"} == {("bad-number", 7)}  # only 待定
    data, _ = read_book(book, today=TODAY)
    measures = compute_measures(data, Period.month("2024-12"))
    assert measures.kpis["won_amount"][0] == 288000
    assert measures.kpis["wins"][0] == 2

    again = import_file(source, book, today=TODAY, now=NOW)
    assert not again.written and again.plan is not None and not again.plan.changed
    assert again.plan.outcomes["opportunities"].counts()["unchanged"] == 6
    assert _deals(book)["ERP升级"][1] == 125000
    wb = openpyxl.load_workbook(book, read_only=True)
    rejects = [row for row in wb["导入拒绝"].iter_rows(min_row=2, values_only=True) if any(row)]
    wb.close()
    assert len(rejects) == 1 and "金额（万元）=72.45" in str(rejects[0][6])  # the raw value, as typed

    undo_import(book, result.plan.import_id, today=TODAY, now=NOW)
    assert _deals(book) == {}
    wb = openpyxl.load_workbook(book, read_only=True)
    assert not any(any(row) for row in wb["导入拒绝"].iter_rows(min_row=2, values_only=True))
    wb.close()


def _deals_csv_gb18030(path: Path) -> Path:
    """Deals saved by Excel on Chinese Windows (GB18030): a title line, the expected amount in 万 with
    half-width brackets, the won amount in 千元 with full-width ones."""
    rows = [
        "客户商机明细（2024年12月）,,,,",
        "客户名称,机会名称,阶段,预计金额(万),成交金额（千元）",
        "上海华信科技有限公司,ERP升级,商务谈判,12.5,",
        "北京恒达贸易有限公司,仓储系统,赢单,30,298",
        "杭州远景网络有限公司,数据平台,输单,5,",
    ]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("gb18030"))
    return path


def test_an_expected_and_an_actual_amount_column_in_their_units_each_go_where_they_say(
    tmp_path: Path,
) -> None:
    from crmbook.importer import undo_import

    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    source = _deals_csv_gb18030(tmp_path / "商机明细.csv")
    preview = _dry_run(source, book)
    assert "预计金额(万) → 预计金额 ×10,000" in preview
    assert "成交金额（千元） → 实际成交金额 ×1,000" in preview
    assert "is also its 实际成交金额" not in preview  # the file has its own actual amount

    result = import_file(source, book, today=TODAY, now=NOW)
    assert result.plan is not None and not result.plan.rejects
    assert _deals(book) == {
        "ERP升级": ("商务谈判", 125000, None, None),
        "仓储系统": ("成交", 300000, 298000, None),
        "数据平台": ("失败", 50000, None, None),
    }
    wb = openpyxl.load_workbook(book, read_only=True)
    (first_row,) = wb["销售机会"].iter_rows(max_row=1)  # to the end, so the sheet's file closes
    header = [c.value for c in first_row]
    wb.close()
    assert "预计金额(万)" not in header and "成交金额（千元）" not in header  # not kept as user columns too

    again = import_file(source, book, today=TODAY, now=NOW)
    assert not again.written
    undo_import(book, result.plan.import_id, today=TODAY, now=NOW)
    assert _deals(book) == {}


def test_a_won_row_of_a_deals_list_with_one_amount_column_gets_its_actual_amount(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    source = tmp_path / "商机.csv"
    source.write_text(
        "客户名称\t项目名称\t金额\t阶段\n"
        "上海华信科技有限公司\t项目1期\t3万\t商务谈判\n"
        "苏州华信科技有限公司\t项目2期\t¥45,000\t已成交\n",
        encoding="utf-8",
    )
    result = import_file(source, book, today=TODAY, now=NOW)
    assert result.plan is not None and result.plan.refresh is not None
    assert _deals(book) == {
        "项目1期": ("商务谈判", 30000, None, None),
        "项目2期": ("成交", 45000, 45000, None),  # no date column: refresh asks for the close date
    }
    codes = {i.code for i in result.plan.refresh.report.issues}
    assert "won-without-amount" not in codes and "closed-without-date" in codes


def test_an_english_export_in_thousands_with_closed_won_deals(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm-en.xlsx", lang="en"))
    source = tmp_path / "deals.csv"
    source.write_text(
        "Opportunity Name,Account Name,Stage,Amount (k),Close Date\n"
        "Orion - Q1 order,Orion Industries Inc.,Negotiation/Review,12.5,2025-01-31\n"
        "Vega - Service contract,Vega Industries Inc.,Closed Won,40,2024-12-05\n"
        "Lyra - Add-on licences,Lyra Industries Inc.,Closed Lost,3,2024-11-30\n",
        encoding="utf-8-sig",
    )
    result = import_file(source, book, today=TODAY, now=NOW)
    assert result.plan is not None and not result.plan.rejects
    assert _deals(book) == {
        "Orion - Q1 order": ("Negotiation", 12500, None, None),
        "Vega - Service contract": ("Won", 40000, 40000, dt.date(2024, 12, 5)),
        "Lyra - Add-on licences": ("Lost", 3000, None, None),
    }


def test_a_mapping_file_states_or_overrides_a_columns_scale(tmp_path: Path) -> None:
    import tomllib

    from click.testing import CliRunner

    from crmbook.cli import cli

    runner = CliRunner()
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    source = _deals_in_wan(tmp_path / "商机.xlsx")
    mapping = tmp_path / "商机.toml"
    done = runner.invoke(
        cli, ["import", str(source), "--into", str(book), "--write-mapping", str(mapping), "--dry-run"]
    )
    assert done.exit_code == 0, done.output
    text = mapping.read_text(encoding="utf-8")
    table = next(t for t in tomllib.loads(text)["tables"] if t["target"] == "opportunities")
    assert table["scale"] == {"金额（万元）": 10000}
    assert table["when_won"] == {"actual_amount": "expected_amount", "close_date": "expected_close"}

    # This team's 金额（万元） column was in yuan after all: scale 1 reads the numbers as they are.
    mapping.write_text(text.replace('"金额（万元）" = 10000', '"金额（万元）" = 1'), encoding="utf-8")
    preview = runner.invoke(
        cli, ["import", str(source), "--into", str(book), "--mapping", str(mapping), "--dry-run"]
    )
    assert preview.exit_code == 0, preview.output
    assert "金额（万元） → 预计金额 ×1 (the mapping's scale)" in preview.output
    done = runner.invoke(cli, ["import", str(source), "--into", str(book), "--mapping", str(mapping)])
    assert done.exit_code in (0, 1), done.output
    assert _deals(book)["ERP升级"][1] == 12.5

    # A header without its unit: the mapping says the column is in 万.
    plain = tmp_path / "plain.xlsx"
    wb = openpyxl.load_workbook(source)
    wb.active["D2"] = "金额"
    wb.save(plain)
    book2 = Path(create_workbook(tmp_path / "crm2.xlsx"))
    mapping.write_text(
        text.replace('"金额（万元）" = 10000', '"金额" = "万"').replace('"金额（万元）"', '"金额"'),
        encoding="utf-8",
    )
    done = runner.invoke(cli, ["import", str(plain), "--into", str(book2), "--mapping", str(mapping)])
    assert done.exit_code in (0, 1), done.output
    assert _deals(book2)["ERP升级"][1] == 125000

    # A mapping written by hand without the scale: the numbers are read as yuan, and a check line says so.
    book3 = Path(create_workbook(tmp_path / "crm3.xlsx"))
    mapping.write_text(text.replace('"金额（万元）" = 10000', ""), encoding="utf-8")
    done = runner.invoke(cli, ["import", str(source), "--into", str(book3), "--mapping", str(mapping)])
    assert (
        "check: 金额（万元） says its numbers are in 万元, but the mapping gives it no scale" in done.output
    )
    assert _deals(book3)["ERP升级"][1] == 12.5

    mapping.write_text(text.replace('"金额（万元）" = 10000', '"金额（万元）" = "dozens"'), encoding="utf-8")
    bad = runner.invoke(
        cli, ["import", str(source), "--into", str(book2), "--mapping", str(mapping), "--dry-run"]
    )
    assert bad.exit_code == 2
    assert "scale of '金额（万元）' is 'dozens'" in bad.output


def test_headers_that_state_a_unit_name_an_amount_and_its_scale() -> None:
    from crmbook.import_headers import concept_of, header_scale
    from crmbook.values import parse_amount

    assert header_scale("金额（万元）") == ("金额", 10_000, "万元")
    assert header_scale("预计金额(万)")[1:] == (10_000, "万")  # type: ignore[index]
    assert header_scale("合同额/万元")[1:] == (10_000, "万元")  # type: ignore[index]
    assert header_scale("成交金额（千元）")[1:] == (1_000, "千元")  # type: ignore[index]
    assert header_scale("Amount (k)")[1:] == (1_000, "k")  # type: ignore[index]
    assert header_scale("销售额（亿元）")[1] == 100_000_000  # type: ignore[index]
    assert header_scale("Amount (millions)")[1] == 1_000_000  # type: ignore[index]
    assert header_scale("金额（百万元）")[1] == 1_000_000  # type: ignore[index]
    assert [concept_of(h) for h in ("金额（万元）", "合同额/万元", "成交金额（千元）", "Amount (k)")] == [
        "amount",
        "actual_amount",
        "actual_amount",
        "amount",
    ]
    # Not a unit of yuan, or not an amount: no scale, and a unit it cannot read hides the header.
    assert header_scale("金额（元）") is None and concept_of("金额（元）") == "amount"
    assert header_scale("人数（千）") is None and concept_of("人数（千）") is None
    assert concept_of("单价（万元/台）") is None
    assert parse_amount(12.5, scale=10_000).value == 125_000
    assert parse_amount("1.15", scale=10_000).value == 11_500
    assert parse_amount("8.8万", scale=10_000).value == 88_000
    assert parse_amount("3000元", scale=10_000).value == 3_000


def test_a_column_headed_in_wan_yuan_whose_numbers_are_yuan_is_doubted(tmp_path: Path) -> None:
    """A ledger headed 金额（万元） whose numbers were typed in yuan anyway (125000): read as 12.5亿, so the
    dry run says so and how to read them as yuan; numbers in 万元 raise no such doubt."""

    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "商机台账"
    ws.append(["客户名称", "项目名称", "销售阶段", "金额（万元）", "负责人"])
    ws.append(["上海华信科技有限公司", "ERP升级", "商务谈判", 125000, "张伟"])
    ws.append(["北京恒达贸易有限公司", "仓储系统", "赢单", "88,000", "李娜"])
    ws.append(["深圳瑞丰电子有限公司", "年度维保", "方案提交", 11.5, "张伟"])
    ws.append(["杭州远景网络有限公司", "数据平台", "输单", 300000, "李娜"])
    wb.save(tmp_path / "yuan.xlsx")
    preview = _dry_run(tmp_path / "yuan.xlsx", book)
    assert (
        "金额（万元） says its numbers are in 万元, but 3 of its 4 numbers are 10,000 or more "
        "(read as 1,250,000,000 yuan and up): if they are yuan, set its scale to 1" in preview
    ), preview
    in_wan = _dry_run(_deals_in_wan(tmp_path / "wan.xlsx"), book)
    assert "says its numbers are in 万元, but" not in in_wan


def test_a_list_of_signed_contracts_names_each_deal_by_its_contract(tmp_path: Path) -> None:
    """A 签约合同 list (no stage: every row a won deal) names its deals in a 合同名称 column."""
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2024签约合同"
    ws.append(["客户名称", "合同名称", "合同金额", "签约日期", "负责人"])
    ws.append(["上海华信科技有限公司", "ERP升级合同", 125000, dt.date(2024, 12, 3), "张伟"])
    ws.append(["杭州远景网络有限公司", "数据平台合同", 300000, dt.date(2024, 12, 9), "李娜"])
    wb.save(tmp_path / "合同.xlsx")
    preview = _dry_run(tmp_path / "合同.xlsx", book)
    assert "合同名称 → 机会名称" in preview and "no column was recognised as 机会名称" not in preview
    import_file(tmp_path / "合同.xlsx", book, today=TODAY, now=NOW)
    assert _deals(book) == {
        "ERP升级合同": ("成交", None, 125000, dt.date(2024, 12, 3)),
        "数据平台合同": ("成交", None, 300000, dt.date(2024, 12, 9)),
    }


# ------------------------------------------------------------------ a CRM export's deal status


def _pipedrive_deals(path: Path) -> Path:
    """Deals as Pipedrive exports them: the pipeline stage in Deal - Stage, whether the deal was won or
    lost in Deal - Status (open, won, lost), the won time apart, and Pipedrive's own Deal - ID."""
    header = "Deal - ID,Deal - Title,Deal - Value,Deal - Currency,Deal - Stage,Deal - Status,Deal - Won time,Deal - Owner,Organization - Name"
    rows = [
        "101,Apex renewal,25000,CNY,Negotiations Started,won,2024-12-10 14:22:05,Meera Shah,Apex Foods Pvt Ltd",
        "102,Zen pilot,12000,CNY,Proposal Made,lost,,Meera Shah,Zen Motors Pvt Ltd",
        "103,Nova upgrade,40000,CNY,Negotiations Started,open,,Meera Shah,Nova Labs Pvt Ltd",
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_deal_status_column_decides_won_and_lost_and_a_crm_id_stays_a_column_of_its_own(
    tmp_path: Path,
) -> None:
    """Deal - Status says won or lost where Deal - Stage only says how far the deal got: a won deal is
    成交 with its value as the actual amount, a lost one 失败, an open one keeps its stage. Deal - ID
    is kept as the user column "Deal - ID (imported)", not one the next refresh reads as a second 机会编号."""
    from crmbook.refresh import refresh

    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    source = _pipedrive_deals(tmp_path / "deals.csv")
    assert "Deal - Status: a row that says won is 成交, lost is 失败" in _dry_run(source, book)
    import_file(source, book, today=TODAY, now=NOW)
    assert _deals(book) == {
        "Apex renewal": ("成交", 25000, 25000, dt.date(2024, 12, 10)),
        "Zen pilot": ("失败", 12000, None, None),
        "Nova upgrade": ("商务谈判", 40000, None, None),
    }
    result = refresh(book, today=TODAY)
    assert [i.code for i in result.plan.report.issues if i.code == "duplicate-column"] == []
    wb = openpyxl.load_workbook(book, read_only=True)
    (first_row,) = wb["销售机会"].iter_rows(max_row=1)  # to the end, so the sheet's file closes
    header = [c.value for c in first_row]
    wb.close()
    assert "Deal - ID（导入）" in header and "Deal - ID" not in header


def test_salesforce_stages_are_read_by_whole_words_never_as_won_for_a_few_letters(tmp_path: Path) -> None:
    """Salesforce's stages: "Qualification" and "Value Proposition" end in "on", like "won"; a loose
    match made them 成交, so open deals came in won, with their amount counted as revenue. Read by whole
    words, they stay as typed (refresh lists them, the value map can name them), while "Closed Won",
    "Closed Lost", "Negotiation/Review" and "Proposal/Price Quote" are read as what they say."""
    source = tmp_path / "opportunities.csv"
    source.write_text(
        "Opportunity Name,Account Name,Stage,Amount,Close Date\n"
        "Pilot,Acme Trading Co.,Qualification,10000,2025-01-31\n"
        "Rollout,Globex Systems Co.,Value Proposition,20000,2025-02-28\n"
        "Renewal,Initech Foods Co.,Negotiation/Review,30000,2025-03-31\n"
        "Upgrade,Umbrella Robotics Co.,Proposal/Price Quote,40000,2025-04-30\n"
        "Licence,Stark Studio Co.,Closed Won,50000,2024-12-15\n"
        "Support,Hooli Labs Co.,Closed Lost,60000,2024-11-30\n",
        encoding="utf-8",
    )
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    import_file(source, book, today=TODAY, now=NOW)
    deals = _deals(book)
    assert {name: d[:3] for name, d in deals.items()} == {
        "Pilot": ("Qualification", 10000, None),
        "Rollout": ("Value Proposition", 20000, None),
        "Renewal": ("商务谈判", 30000, None),
        "Upgrade": ("方案提交", 40000, None),
        "Licence": ("成交", 50000, 50000),
        "Support": ("失败", 60000, None),
    }


ACCOUNTS = ("Acme Trading Co.", "Globex Systems Co.", "Initech Foods Co.", "Hooli Labs Co.")


def _imported_accounts(tmp_path: Path, header: str, field: str, values: list[str]) -> list[Any]:
    """Import a CSV of the four ``ACCOUNTS`` with a column ``header`` holding ``values``; the
    customers' ``field`` as imported, in the same order."""
    lines = [f"Company,Phone,{header}"]
    lines += [
        f"{name},1381234567{n},{value}" for n, (name, value) in enumerate(zip(ACCOUNTS, values, strict=True))
    ]
    source = tmp_path / "accounts.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    import_file(source, book, today=TODAY, now=NOW)
    got = {r["name"]: r[field] for r in _rows(book, "customers") if r["name"]}
    return [got[name] for name in ACCOUNTS]


def test_a_letter_grade_is_read_from_class_a_but_not_from_n_slash_a(tmp_path: Path) -> None:
    """ "Class A" and "B+" name the levels A and B; "N/A" and "a lot" hold the letter a as a word too,
    but name no level: they are kept as typed and flagged, not made key accounts."""
    values = ["Class A", "N/A", "a lot", "B+"]
    assert _imported_accounts(tmp_path, "Level", "level", values) == ["A", "N/A", "a lot", "B"]


def test_an_english_industry_that_is_part_of_one_label_is_read_as_that_label(tmp_path: Path) -> None:
    """ "Retail" and "Retail & Wholesale" name 批发零售 (Wholesale and retail), every word of them in that
    one label; "Perception Analysis" names no industry and is kept as typed."""
    values = ["Retail", "Retail & Wholesale", "Information Technology", "Perception Analysis"]
    assert _imported_accounts(tmp_path, "Industry", "industry", values) == [
        "批发零售",
        "批发零售",
        "信息技术",
        "Perception Analysis",
    ]
