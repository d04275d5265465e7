"""A generated corpus of messy legacy files, each with what importing it must give.

Written the way teams really keep them: a title row, a two-row header with
merged group titles, blank lines, a hidden row, a subtotal row, dates typed
six ways and one without a year, phones in every format, the same company
twice written differently, amounts in 万 in a GB18030 CSV, a deal naming a
customer who does not exist, and text that looks like a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl

COMPANIES = [
    "上海华信科技有限公司",
    "北京恒达贸易有限公司",
    "深圳市海川电子股份有限公司",
    "杭州云帆网络科技有限公司",
    "广州市南方物流有限公司",
    "成都天府软件有限责任公司",
    "苏州工业园区精密机械有限公司",
    "武汉光谷生物医药有限公司",
    "南京金陵建材有限公司",
    "重庆山城汽车配件有限公司",
    "天津滨海化工有限公司",
    "青岛海润食品有限公司",
]
PEOPLE = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴婷", "徐鹏", "孙丽"]
LEVELS = ["A类（重点客户）", "重点客户", "A", "B类（潜力客户）", "潜力客户", "C"]
FORMULA_LOOKING = {1: "=1+2", 2: "@SUM(A1)"}  # must arrive as text, never as a formula
SOURCES = ["老客户介绍", "展会", "线上", "陌拜", "转介绍", "网络推广"]


def _phone(rng: random.Random, style: int) -> tuple[str, str]:
    """(as typed, the mobile's 11 digits)."""
    digits = "13" + "".join(rng.choice("0123456789") for _ in range(9))
    typed = [
        digits,
        f"{digits[:3]}-{digits[3:7]}-{digits[7:]}",
        f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
        f"{digits[:3]} {digits[3:7]} {digits[7:]}",
        f"（手机）{digits}",
    ][style % 5]
    return typed, digits


def _date(day: dt.date, style: int) -> object:
    return [
        day,
        (day - dt.date(1899, 12, 30)).days,  # an Excel serial typed as a number
        f"{day.year}.{day.month}.{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.year}/{day.month:02d}/{day.day:02d}",
        f"{day.month}/{day.day}/{day.year}",
    ][style % 6]


@dataclass
class Corpus:
    ledger: Path
    deals_csv: Path
    customers: int  # distinct customers in the ledger
    merged: int  # ledger rows that repeat a customer in another form
    ledger_rejects: dict[int, str]  # source row -> words in the reason
    deal_rejects: dict[int, str]
    deals: int
    no_year_rows: list[int] = field(default_factory=list)
    phones: dict[str, str] = field(default_factory=dict)  # company -> mobile digits


def make_corpus(folder: Path, seed: int = 7, companies: int = 12) -> Corpus:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户台账"
    ws.append(["2024 年客户台账（华东区 销售一部）"])
    ws.merge_cells("A1:I1")
    ws.append(["导出时间：2024-06-30　　制表：销售部"])
    ws.append([None])
    ws.append(["基本信息", None, None, "联系方式", None, "客户情况", None, None, "其他"])
    ws.append(
        [
            "公司名称",
            "所属行业",
            "客户来源",
            "联系电话",
            "联系人",
            "客户级别",
            "首次接触",
            "拜访记录",
            "微信群",
        ]
    )
    ws.merge_cells("A4:C4")
    ws.merge_cells("D4:E4")
    ws.merge_cells("F4:H4")
    phones: dict[str, str] = {}
    rows: list[list[object]] = []
    for i, name in enumerate(COMPANIES[:companies]):
        typed, digits = _phone(rng, i)
        phones[name] = digits
        first = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(500))
        visits = (
            f"{first + dt.timedelta(days=30)}: 电话回访; {first + dt.timedelta(days=60)}: 上门演示"
            if i % 3 == 0
            else None
        )
        rows.append(
            [
                name if i % 4 else f" {name}　",  # stray spaces, an ideographic one too
                ["制造业", "批发零售", "信息技术"][i % 3],
                SOURCES[i % len(SOURCES)],
                typed,
                PEOPLE[i],
                LEVELS[i % len(LEVELS)],
                _date(first, i),
                visits,
                f"群{i}" if i % 2 else None,
            ]
        )
    # The same companies again, written differently (full-width letters, another phone format).
    repeats = [0, 5]
    for i in repeats:
        name = COMPANIES[i].replace("有限公司", "有限公司 ")
        rows.append([name, None, None, f"{phones[COMPANIES[i]]}", PEOPLE[-1 - i], None, None, None, "复核"])
    no_year_row_data = [
        COMPANIES[companies - 1].replace("食品有限公司", "食品（青岛）有限公司"),
        None,
        None,
        "021-62345678",
        None,
        "B",
        "5月1日",
        None,
        None,
    ]
    rows.append(no_year_row_data)
    start = ws.max_row + 1
    first_data = start
    for n, row in enumerate(rows):
        ws.append(row)
        if n == 3:
            ws.append([None] * 9)  # a blank line inside the data
    # a hidden row holding a real record, a notes-only row, and the subtotal
    ws.append(
        ["厦门鹭岛旅游有限公司", "服务业", "展会", "0592-5123456", "林峰", "C", "2024-03-02", None, None]
    )
    ws.row_dimensions[ws.max_row].hidden = True
    ws.append([None, None, None, None, None, None, None, None, "这一行只有备注"])
    notes_row = ws.max_row
    ws.append(["合计", None, None, None, None, None, None, None, None])
    subtotal_row = ws.max_row
    ledger = folder / "客户台账.xlsx"
    wb.save(ledger)
    no_year = [r for r in range(first_data, ws.max_row + 1) if ws.cell(r, 7).value == "5月1日"]

    lines = [["客户名称", "机会名称", "预计金额", "成交概率", "销售阶段", "预计成交日期", "备注"]]
    amounts = ["12.5万", "¥120,000.00", "50万元", "8000", "1.2万", "￥3,500"]
    probabilities = ["60%", "0.6", "60", "30%", "0.9", "10"]
    stages = ["谈判中", "方案报价", "需求确认", "接洽", "谈判", "报价"]
    deals = 0
    for i, name in enumerate(COMPANIES[:companies]):
        when = dt.date(2024, 7, 1) + dt.timedelta(days=7 * i)
        lines.append(
            [
                name,
                f"{name[:4]}项目{i}",
                amounts[i % 6],
                probabilities[i % 6],
                stages[i % 6],
                f"{when:%Y/%m/%d}",
                FORMULA_LOOKING.get(i, ""),
            ]
        )
        deals += 1
    lines.append(["不存在的公司有限公司", "幽灵项目", "10万", "50%", "谈判中", "2024/12/01", ""])
    unknown_row = len(lines)
    deals_csv = folder / "商机.csv"
    text = io.StringIO()
    csv.writer(text).writerows(lines)
    deals_csv.write_bytes(text.getvalue().encode("gb18030"))  # as Excel on Chinese Windows saves it
    return Corpus(
        ledger=ledger,
        deals_csv=deals_csv,
        customers=companies + 2,  # the hidden row's company and the branch written without a year
        merged=len(repeats),
        ledger_rejects={notes_row: "no", subtotal_row: "subtotal"},
        # The last company's name also fits its bracketed twin, but it is that customer's exact name:
        # linked to it, not rejected.
        deal_rejects={unknown_row: "no customer named"},
        deals=deals,
        no_year_rows=no_year,
        phones=phones,
    )
