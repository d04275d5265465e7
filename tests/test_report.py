"""The report: each measure recomputed independently with plain pandas from the raw sheets, and the workbook
checked as a person would see it (sheets, charts, print setup, a PDF with every title)."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from crmbook.cli import cli
from crmbook.measures import Period, compute_measures
from crmbook.reader import read_book
from crmbook.report import SECTIONS, T, write_report
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


def test_a_scorecard_counts_a_colleagues_follow_up_of_the_reps_customer_as_a_follow_up_of_the_customer() -> (
    None
):
    """Overdue, churn and the A-customer rate are about the customer, whoever followed it up: 张伟's
    scorecard agrees with the team report (and with the report of his own rep file); the count of
    follow-ups stays his own."""
    import datetime as dt

    a = {"level": "A", "status": "意向客户", "owner": "张伟", "created": dt.date(2026, 1, 5)}
    book = make_book(
        customers=[{**a, "customer_id": "C1", "name": "甲"}, {**a, "customer_id": "C2", "name": "乙"}],
        followups=[
            {"customer_id": "C1", "time": dt.datetime(2026, 10, 28, 10), "owner": "李娜"},  # standing in
            {"customer_id": "C2", "time": dt.datetime(2026, 10, 29, 10), "owner": "张伟"},
        ],
    )
    team, card = compute_measures(book, OCT), compute_measures(book, OCT, owner="张伟")
    assert team.kpis["key_followup_rate"][0] == card.kpis["key_followup_rate"][0] == 1.0
    assert card.overdue.empty and team.overdue.empty
    assert card.kpis["followups"][0] == 1 and team.kpis["followups"][0] == 2
    assert compute_measures(book, OCT, team="华东组").kpis["key_followup_rate"][0] == 1.0


def test_a_team_report_keeps_a_rep_of_the_team_without_customers_yet() -> None:
    """A new rep on the Settings sheet, no customer yet: a row with their target in the team report, in
    the team's target, and among the reps below 80% of it (as in the report of everyone)."""
    from crmbook.book import Settings
    from crmbook.schema import Rep

    settings = Settings.defaults()
    settings.reps = [*settings.reps, Rep("新人", "华东组", 2_000_000.0)]
    book = make_book(
        customers=[{"customer_id": "C1", "name": "甲", "owner": "张伟", "created": "2026-10-03"}],
        settings=settings,
    )
    everyone, team = compute_measures(book, OCT), compute_measures(book, OCT, team="华东组")
    assert everyone.reps.set_index("rep").at["新人", "target"] == 2_000_000
    assert set(team.reps["rep"]) == {"张伟", "李娜", "新人"}
    assert team.reps["target"].sum() == 5_000_000 + 4_000_000 + 2_000_000
    alone = compute_measures(book, OCT, team="华东组", owner="新人")
    assert list(alone.reps["rep"]) == ["新人"] and alone.reps["target"].sum() == 2_000_000


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
    # Its charts of twelve empty months step by one from zero: a spreadsheet's own scale would step by
    # fractions, each shown rounded (¥0 ¥0 ¥1 ¥1).
    with zipfile.ZipFile(out.out_path) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    stepped = [c for c in charts if 'majorUnit val="1"' in c]
    assert len(stepped) >= 2 and all('<max val="1"' in c for c in stepped)


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
    visible = [ws.title for ws in wb.worksheets if ws.sheet_state == "visible"]
    assert visible == [words[k] for k in SECTIONS]
    for name in ("概览", "销售漏斗", "销售业绩", "客户来源", "趋势"):
        assert wb[name]._charts, name
    assert len(wb["概览"]._charts) == 2  # the 12-month trend and the funnel
    assert len(wb["销售漏斗"]._charts) == 2  # the funnel and the pipeline
    assert len(wb["客户分布"]._charts) == 3
    summary = wb["概览"]
    assert summary["A1"].value == "概览" and "2026-10" in summary["A2"].value
    tiles = {summary.cell(r, c).value: summary.cell(r + 1, c) for r in (4, 9) for c in (1, 5, 9, 13)}
    assert (
        tiles["成交金额"].number_format == "¥#,##0"
        and tiles["转化率（本期新客户中已成交）"].number_format == "0.0%"
    )
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        setup = ws.page_setup
        assert setup.orientation == "landscape" and setup.paperSize == 9, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth == 1, ws.title
        assert ws.print_area and ws.oddHeader.center.text == f"销售月报 · {ws.title}"
        assert ws.oddHeader.right.text == "2026-10" and "&P" in ws.oddFooter.right.text
        assert "&N" in ws.oddFooter.right.text and ws.oddFooter.left.text.startswith("生成时间")
    assert summary.page_setup.fitToHeight == 1  # the summary is one page
    funnel = wb["销售漏斗"]
    assert funnel["A4"].value == "阶段" and funnel["E4"].alignment.horizontal == "right"
    assert funnel["E6"].alignment.horizontal == "right" and funnel["E6"].number_format == "0.0%"
    en = CliRunner().invoke(
        cli, ["report", str(book), "--month", "2026-10", "--lang", "en", "-o", str(tmp_path / "en.xlsx")]
    )
    assert en.exit_code == 0
    english = openpyxl.load_workbook(tmp_path / "en.xlsx")
    assert english.sheetnames[0] == "Summary"
    said = [c.value for row in english["Summary"].iter_rows() for c in row if isinstance(c.value, str)]
    low = [t for t in said if t.startswith("Reps below 80% of target: ")]
    assert not low or "、" not in low[0]  # an English list is separated the English way


@pytest.mark.libreoffice
def test_pdf_is_one_file_with_a_bookmark_per_section(tmp_path: Path, sample_master: Path) -> None:
    from pypdf import PdfReader

    from crmbook.libreoffice import find_soffice

    if find_soffice() is None:
        pytest.skip("LibreOffice is not installed")
    result = write_report(sample_master, period=OCT, out_path=tmp_path / "r.xlsx", pdf=True)
    assert result.pdf_path is not None
    reader = PdfReader(str(result.pdf_path))
    marks = [(o.title, reader.get_destination_page_number(o)) for o in reader.outline]
    assert [t for t, _ in marks] == [T["zh"][k] for k in SECTIONS]
    assert marks[0][1] == 0 and marks[1][1] == 1  # the summary is one page
    pages = [p for _, p in marks]
    assert pages == sorted(pages) and len(set(pages)) == len(pages)
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    for key in SECTIONS:
        assert f"销售月报 · {T['zh'][key]}" in text  # each page's header names its section
    assert f"共 {len(reader.pages)} 页" in text
    render_page(result.pdf_path, 1, "report-summary", dpi=70)


@pytest.fixture(scope="module")
def raw_all(sample_master: Path) -> dict[str, pd.DataFrame]:
    sheets = {"c": "客户", "f": "跟进记录", "o": "销售机会"}
    out = {k: pd.read_excel(sample_master, sheet_name=v, engine="calamine") for k, v in sheets.items()}
    settings = pd.read_excel(sample_master, sheet_name="设置", engine="calamine", header=None)
    start = settings.index[settings[0] == "销售代表"][0] + 1  # the reps block below the settings
    out["reps"] = settings.iloc[start:].dropna(subset=[0]).reset_index(drop=True)
    return out


def _plain_created(c: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(c["建档日期"]).fillna(pd.to_datetime(c["首次接触日期"]))


def test_sources_table_matches_plain_pandas(sample_master: Path, raw_all: dict[str, pd.DataFrame]) -> None:
    book, _ = read_book(sample_master, today=TODAY)
    m = compute_measures(book, OCT)
    c, o = raw_all["c"], raw_all["o"]
    c = c[_plain_created(c) < END]
    source_of = dict(zip(c["客户编号"], c["客户来源"], strict=True))
    wins = o[(o["销售阶段"] == "成交") & _in_oct(o["关闭时间"])]
    labels = {
        "线上推广": "online",
        "行业展会": "trade_show",
        "客户转介绍": "referral",
        "主动拜访": "visit",
        "其他": "other",
    }
    got = m.sources.set_index("key")
    checked = 0
    for label, group in c.groupby("客户来源"):
        row = got.loc[labels.get(label, label)]
        checked += 1
        assert row["customers"] == len(group), label
        won = int((group["客户状态"] == "成交客户").sum())
        assert row["won_customers"] == won, label
        assert row["win_rate"] == pytest.approx(won / len(group)), label
        amount = wins[wins["客户编号"].map(source_of) == label]["实际成交金额"].fillna(0).sum()
        assert row["won_amount"] == pytest.approx(amount), label
    assert checked >= 4
    assert got["customers"].sum() == len(c[c["客户来源"].notna()])


def test_reps_table_matches_plain_pandas(sample_master: Path, raw_all: dict[str, pd.DataFrame]) -> None:
    book, _ = read_book(sample_master, today=TODAY)
    m = compute_measures(book, OCT)
    c, f, o, reps = raw_all["c"], raw_all["f"], raw_all["o"], raw_all["reps"]
    targets = dict(zip(reps[0], reps[2], strict=True))
    got = m.reps.set_index("rep")
    for rep, target in targets.items():
        wins = o[(o["销售阶段"] == "成交") & _in_oct(o["关闭时间"]) & (o["负责人"] == rep)]
        amount = wins["实际成交金额"].fillna(0).sum()
        row = got.loc[rep]
        assert row["followups"] == int((_in_oct(f["跟进时间"]) & (f["跟进人"] == rep)).sum())
        assert row["new_customers"] == int(((c["负责人"] == rep) & _in_oct(_plain_created(c))).sum())
        assert row["wins"] == len(wins)
        assert row["won_amount"] == pytest.approx(amount)
        assert row["target"] == pytest.approx(target)
        assert row["attainment"] == pytest.approx(amount / target)
    assert list(m.reps["won_amount"]) == sorted(m.reps["won_amount"], reverse=True)


def test_pipeline_lost_and_key_rate_match_plain_pandas(
    sample_master: Path, raw_all: dict[str, pd.DataFrame]
) -> None:
    book, _ = read_book(sample_master, today=TODAY)
    m = compute_measures(book, OCT)
    c, f, o = raw_all["c"], raw_all["f"], raw_all["o"]
    defaults = {"初步接洽": 10, "需求分析": 25, "方案提交": 50, "商务谈判": 75}
    open_deals = o[~o["销售阶段"].isin(["成交", "失败"])].copy()
    open_deals["p"] = open_deals["成交概率"].fillna(open_deals["销售阶段"].map(defaults))
    open_deals["month"] = pd.to_datetime(open_deals["预计成交日期"]).dt.strftime("%Y-%m")
    by_month = open_deals.groupby("month").agg(deals=("机会编号", "size"), amount=("预计金额", "sum"))
    weighted = (open_deals["预计金额"].fillna(0) * open_deals["p"] / 100).groupby(open_deals["month"]).sum()
    got = m.pipeline.set_index("month")
    for month, row in by_month.iterrows():
        assert got.loc[month, "deals"] == row["deals"], month
        assert got.loc[month, "amount"] == pytest.approx(row["amount"]), month
        assert got.loc[month, "weighted"] == pytest.approx(weighted[month]), month
    lost = o[(o["销售阶段"] == "失败") & _in_oct(o["关闭时间"])]
    assert sorted(m.lost_deals["opportunity_id"]) == sorted(lost["机会编号"])
    # Key-customer rate: A-level, not lost, created by the period end, followed up in the last 7 days of it.
    key = c[(c["客户等级"] == "A") & (c["客户状态"] != "流失客户") & (_plain_created(c) < END)]
    times = pd.to_datetime(f["跟进时间"])
    recent = f[(times >= END - pd.Timedelta(days=7)) & (times < END)]["客户编号"]
    expected = key["客户编号"].isin(set(recent)).sum() / len(key)
    assert m.kpis["key_followup_rate"][0] == pytest.approx(expected)


def test_previous_period_values_are_the_same_measures_one_month_earlier(sample_master: Path) -> None:
    book, _ = read_book(sample_master, today=TODAY)
    october, september = compute_measures(book, OCT), compute_measures(book, Period.month("2026-09"))
    for key in ("new_customers", "followups", "wins", "won_amount", "average_deal", "key_followup_rate"):
        assert october.kpis[key][1] == pytest.approx(september.kpis[key][0]), key
