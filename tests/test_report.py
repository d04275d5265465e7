"""The report: each measure recomputed independently with plain pandas from the raw sheets, and the workbook
checked as a person would see it (sheets, charts, print setup, a PDF with every title)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.measures import Period, compute_measures
from crmbook.reader import read_book
from crmbook.report import T, write_report
from tests.builders import make_book
from tests.conftest import TODAY, render_page

OCT = Period.month("2026-10")
START, END = pd.Timestamp("2026-10-01"), pd.Timestamp("2026-11-01")


@pytest.fixture(scope="module")
def raw(sample_master: Path) -> dict[str, pd.DataFrame]:
    """The record sheets as plain pandas reads them (no crmbook code)."""
    return {
        key: pd.read_excel(sample_master, sheet_name=name, engine="calamine")
        for key, name in (("c", "客户"), ("f", "跟进记录"), ("o", "销售机会"))
    }


def _in_oct(series: pd.Series) -> pd.Series:
    s = pd.to_datetime(series, errors="coerce")
    return (s >= START) & (s < END)


def test_headline_measures_match_plain_pandas(sample_master: Path, raw: dict[str, pd.DataFrame]) -> None:
    book, _ = read_book(sample_master, today=TODAY)
    m = compute_measures(book, OCT)
    c, f, o = raw["c"], raw["f"], raw["o"]
    created = pd.to_datetime(c["建档日期"]).fillna(pd.to_datetime(c["首次接触日期"]))
    new = c[(created >= START) & (created < END)]
    wins = o[(o["销售阶段"] == "成交") & _in_oct(o["关闭时间"])]
    won_amount = wins["实际成交金额"].fillna(0).sum()
    assert m.kpis["new_customers"][0] == len(new)
    assert m.kpis["followups"][0] == int(_in_oct(f["跟进时间"]).sum())
    assert m.kpis["wins"][0] == len(wins)
    assert m.kpis["won_amount"][0] == pytest.approx(won_amount)
    assert m.kpis["average_deal"][0] == pytest.approx(won_amount / len(wins))
    expected_conversion = (new["客户状态"] == "成交客户").sum() / len(new) if len(new) else None
    assert m.kpis["conversion_rate"][0] == pytest.approx(expected_conversion)
    ever = o[(o["销售阶段"] == "成交") & (pd.to_datetime(o["关闭时间"]) < END)].groupby("客户编号").size()
    assert m.kpis["repurchase_rate"][0] == pytest.approx((ever >= 2).sum() / len(ever))
    assert m.kpis["followups_per_win"][0] == pytest.approx(m.kpis["followups"][0] / len(wins))
    open_deals = o[~o["销售阶段"].isin(["成交", "失败"])]
    defaults = {"初步接洽": 10, "需求分析": 25, "方案提交": 50, "商务谈判": 75}
    p = open_deals["成交概率"].fillna(open_deals["销售阶段"].map(defaults))
    assert m.kpis["weighted_pipeline"][0] == pytest.approx((open_deals["预计金额"].fillna(0) * p / 100).sum())
    stage_counts = o["销售阶段"].value_counts()
    assert m.funnel.set_index("stage")["count"].to_dict()["negotiation"] == stage_counts["商务谈判"]
    trend = m.trend.set_index("month")
    assert trend.loc["2026-10", "won_amount"] == pytest.approx(won_amount)


def test_rep_filter(sample_master: Path, raw: dict[str, pd.DataFrame]) -> None:
    book, _ = read_book(sample_master, today=TODAY)
    m = compute_measures(book, OCT, owner="张伟")
    f, o = raw["f"], raw["o"]
    assert m.kpis["followups"][0] == int((_in_oct(f["跟进时间"]) & (f["跟进人"] == "张伟")).sum())
    wins = o[(o["销售阶段"] == "成交") & _in_oct(o["关闭时间"]) & (o["负责人"] == "张伟")]
    assert m.kpis["won_amount"][0] == pytest.approx(wins["实际成交金额"].fillna(0).sum())
    assert list(m.reps["rep"]) == ["张伟"]


def test_repurchase_and_missing_values_on_a_small_book() -> None:
    import datetime as dt

    won = {"stage": "成交", "close_date": dt.date(2026, 10, 5), "name": "x"}
    book = make_book(
        customers=[
            {"customer_id": "C1", "name": "甲", "status": "成交客户"},
            {"customer_id": "C2", "name": "乙", "status": "成交客户"},
        ],
        opportunities=[
            {**won, "customer_id": "C1", "actual_amount": 100},
            {**won, "customer_id": "C1", "actual_amount": 300},
            {**won, "customer_id": "C2"},  # won without an amount: counted as a win, adds nothing
            {
                "customer_id": "C2",
                "stage": "方案提交",
                "expected_amount": 1000,
                "name": "y",
            },  # probability: stage default 50
        ],
    )
    m = compute_measures(book, OCT)
    assert m.kpis["wins"][0] == 3 and m.kpis["won_amount"][0] == 400
    assert m.kpis["repurchase_rate"][0] == pytest.approx(0.5)
    assert m.kpis["weighted_pipeline"][0] == pytest.approx(500)
    assert m.notes["won_without_amount"] == 1


def test_empty_period_is_a_valid_report(tmp_path: Path, sample_master: Path) -> None:
    out = write_report(sample_master, period=Period.month("2019-01"), out_path=tmp_path / "empty.xlsx")
    assert out.measures.kpis["wins"] == (0, 0) and out.measures.kpis["average_deal"] == (None, None)
    wb = openpyxl.load_workbook(out.out_path)
    texts = [
        c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)
    ]
    assert "本期无数据" in texts


def test_report_workbook_sheets_charts_formats_and_source_untouched(
    tmp_path: Path, sample_master: Path
) -> None:
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(sample_master, book)
    digest = hashlib.sha256(book.read_bytes()).hexdigest()
    result = CliRunner().invoke(cli, ["report", str(book), "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(book.read_bytes()).hexdigest() == digest
    out = tmp_path / "crm-report-2026-10.xlsx"
    wb = openpyxl.load_workbook(out)
    words = T["zh"]
    assert wb.sheetnames == [
        words[k]
        for k in (
            "summary",
            "funnel",
            "sources",
            "reps",
            "customers",
            "pipeline",
            "followup",
            "lost",
            "trend",
        )
    ]
    for name in ("销售漏斗", "客户来源", "销售业绩", "商机预测", "趋势"):
        assert wb[name]._charts, name
    assert len(wb["客户分布"]._charts) == 3
    summary = wb["概览"]
    assert summary["A1"].value == "概览" and "2026-10" in summary["A2"].value
    assert summary["B8"].number_format.startswith("¥")
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_area
    en = CliRunner().invoke(
        cli, ["report", str(book), "--month", "2026-10", "--lang", "en", "-o", str(tmp_path / "en.xlsx")]
    )
    assert en.exit_code == 0
    assert openpyxl.load_workbook(tmp_path / "en.xlsx").sheetnames[0] == "Summary"


@pytest.mark.libreoffice
def test_pdf_has_every_sheet_title_and_renders(tmp_path: Path, sample_master: Path) -> None:
    from pypdf import PdfReader

    from crmbook.libreoffice import find_soffice

    if find_soffice() is None:
        pytest.skip("LibreOffice is not installed")
    result = write_report(sample_master, period=OCT, out_path=tmp_path / "r.xlsx", pdf=True)
    assert result.pdf_path is not None
    reader = PdfReader(str(result.pdf_path))
    assert len(reader.pages) >= 9
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    for key in ("summary", "funnel", "sources", "reps", "customers", "pipeline", "followup", "lost", "trend"):
        assert T["zh"][key] in text
    render_page(result.pdf_path, 1, "report-summary", dpi=70)
