"""crmbook import on the files people keep by hand: two-row headers over merged cells, firms of
several cities without phones, dates typed the way Excel and people write them, the words teams use
for a customer's level. Each builder makes the file the way a person or another program does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

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
