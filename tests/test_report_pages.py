"""The report as printed pages: every chart inside its sheet's print area and on one page (computed from the
workbook's own column widths, row heights, paper, margins, scaling and breaks, with Excel's rules), the
summary on one page, page counts of the PDFs, and each headline tile equal to plain pandas for a month, a
week and a day."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries

from crmbook.cli import cli
from crmbook.measures import Period, compute_measures
from crmbook.reader import read_book
from crmbook.report import SECTIONS, TILES, T, write_report
from tests.builders import make_book
from tests.conftest import TODAY

PAPER_POINTS = {9: (595.28, 841.89), 1: (612.0, 792.0)}  # A4, Letter: portrait width and height


# ---------------------------------------------------------------- the page arithmetic, as Excel does it


def _column_points(ws: Any, col: int) -> float:
    dim = ws.column_dimensions.get(get_column_letter(col))
    width = dim.width if dim is not None and dim.width else 8.43
    return math.trunc(((256 * width + math.trunc(128 / 7)) / 256) * 7) * 0.75


def _row_points(ws: Any, row: int) -> float:
    dim = ws.row_dimensions.get(row)
    return dim.height if dim is not None and dim.height else 15.0


def printed_pages(ws: Any) -> tuple[dict[int, int], int, int, int, int]:
    """Page index (0-based) of each row of the print area, and the area's bounds (min col, min row, max col,
    max row). Fit to width scales the area to the paper's printable width (never up); fit to one page
    scales it to the height too; rows run onto the next page at a manual break or when the page is full."""
    min_col, min_row, max_col, max_row = range_boundaries(ws.print_area.split("!")[-1].replace("$", ""))
    width, height = PAPER_POINTS[int(ws.page_setup.paperSize)]
    if ws.page_setup.orientation == "landscape":
        width, height = height, width
    m = ws.page_margins
    printable_w = width - (m.left + m.right) * 72
    printable_h = height - (m.top + m.bottom) * 72
    content_w = sum(_column_points(ws, c) for c in range(min_col, max_col + 1))
    content_h = sum(_row_points(ws, r) for r in range(min_row, max_row + 1))
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    scale = min(1.0, printable_w / content_w)
    if ws.page_setup.fitToHeight == 1:
        scale = min(scale, printable_h / content_h)
    page_h = printable_h / scale
    breaks = {b.id for b in ws.row_breaks.brk}
    pages, page, used = {}, 0, 0.0
    for r in range(min_row, max_row + 1):
        h = _row_points(ws, r)
        if used and (r - 1 in breaks or used + h > page_h):
            page, used = page + 1, 0.0
        pages[r] = page
        used += h
    return pages, min_col, min_row, max_col, max_row


def chart_cells(chart: Any) -> tuple[int, int, int, int]:
    """(first col, first row, last col, last row), 1-based, of the cells a chart covers."""
    a = chart.anchor
    first_col, first_row = a._from.col + 1, a._from.row + 1
    last_col = a.to.col + (1 if a.to.colOff > 0 else 0)
    last_row = a.to.row + (1 if a.to.rowOff > 0 else 0)
    return first_col, first_row, last_col, last_row


def check_layout(path: Path) -> dict[str, int]:
    """Every chart inside the print area and on one page; pages per visible sheet."""
    wb = openpyxl.load_workbook(path)
    counts = {}
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        pages, min_col, min_row, max_col, max_row = printed_pages(ws)
        for chart in ws._charts:
            c0, r0, c1, r1 = chart_cells(chart)
            where = f"{ws.title}: chart at {get_column_letter(c0)}{r0}:{get_column_letter(c1)}{r1}"
            assert min_col <= c0 <= c1 <= max_col and min_row <= r0 <= r1 <= max_row, (
                f"{where} leaves the print area"
            )
            assert pages[r0] == pages[r1], (
                f"{where} is split across pages {pages[r0] + 1} and {pages[r1] + 1}"
            )
        counts[ws.title] = max(pages.values()) + 1
    return counts


@pytest.fixture(scope="module")
def monthly(sample_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("monthly") / "r.xlsx"
    write_report(sample_master, period=Period.month("2026-10"), out_path=out, per_rep=True)
    return out


def test_charts_lie_inside_the_print_area_and_on_one_page(monthly: Path) -> None:
    counts = check_layout(monthly)
    assert counts["概览"] == 1
    assert len(counts) == len(SECTIONS) + 5  # and one page per rep
    assert all(n == 1 for title, n in counts.items() if title.startswith("个人业绩"))


@pytest.mark.parametrize("paper", ["A4 纵向", "Letter"])
def test_other_paper_keeps_charts_whole(sample_book: Path, tmp_path: Path, paper: str) -> None:
    wb = openpyxl.load_workbook(sample_book)
    settings = wb["设置"]
    row = next(r for r in range(1, settings.max_row + 1) if settings.cell(r, 1).value == "报表纸张")
    settings.cell(row, 2).value = paper
    wb.save(sample_book)
    out = write_report(sample_book, period=Period.week("2026-W45"), out_path=tmp_path / "r.xlsx").out_path
    report = openpyxl.load_workbook(out)
    setup = report["概览"].page_setup
    assert (setup.paperSize, setup.orientation) == (
        (9, "portrait") if paper.startswith("A4") else (1, "landscape")
    )
    assert check_layout(out)["概览"] == 1


def test_summary_tiles_and_alerts(monthly: Path) -> None:
    ws = openpyxl.load_workbook(monthly)["概览"]
    labels = [ws.cell(r, c).value for r in (4, 9) for c in (1, 5, 9, 13)]
    assert labels == [T["zh"][k] for k in TILES]
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("逾期未跟进客户") for t in texts)
    assert any(t.startswith("流失风险客户") for t in texts)
    assert any(t.startswith("A级客户跟进率") for t in texts)
    assert any("较上月" in t or "与上月持平" in t for t in texts)  # the narrative


# ---------------------------------------------------------------- headline figures against plain pandas


@pytest.fixture(scope="module")
def raw(sample_master: Path) -> dict[str, pd.DataFrame]:
    sheets = {"c": "客户", "f": "跟进记录", "o": "销售机会"}
    return {k: pd.read_excel(sample_master, sheet_name=v, engine="calamine") for k, v in sheets.items()}


def plain_kpis(raw: dict[str, pd.DataFrame], start: dt.date, end: dt.date) -> dict[str, float | None]:
    """The eight headline figures for [start, end] straight from the raw sheets."""
    c, f, o = raw["c"], raw["f"], raw["o"]
    lo, hi = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1)

    def inside(series: pd.Series) -> pd.Series:
        s = pd.to_datetime(series, errors="coerce")
        return (s >= lo) & (s < hi)

    created = pd.to_datetime(c["建档日期"]).fillna(pd.to_datetime(c["首次接触日期"]))
    new = c[(created >= lo) & (created < hi)]
    wins = o[(o["销售阶段"] == "成交") & inside(o["关闭时间"])]
    amount = float(wins["实际成交金额"].fillna(0).sum())
    key = c[(c["客户等级"] == "A") & (c["客户状态"] != "流失客户") & (created.isna() | (created < hi))]
    times = pd.to_datetime(f["跟进时间"])
    recent = set(f[(times >= hi - pd.Timedelta(days=7)) & (times < hi)]["客户编号"])
    open_deals = o[~o["销售阶段"].isin(["成交", "失败"])]
    defaults = {"初步接洽": 10, "需求分析": 25, "方案提交": 50, "商务谈判": 75}
    p = open_deals["成交概率"].fillna(open_deals["销售阶段"].map(defaults))
    return {
        "won_amount": amount,
        "wins": len(wins),
        "new_customers": len(new),
        "followups": int(inside(f["跟进时间"]).sum()),
        "average_deal": amount / len(wins) if len(wins) else None,
        "conversion_rate": (new["客户状态"] == "成交客户").sum() / len(new) if len(new) else None,
        "key_followup_rate": key["客户编号"].isin(recent).sum() / len(key) if len(key) else None,
        "weighted_pipeline": float((open_deals["预计金额"].fillna(0) * p / 100).sum()),
    }


def _busiest_day(raw: dict[str, pd.DataFrame]) -> str:
    days = pd.to_datetime(raw["f"]["跟进时间"]).dt.date.value_counts()
    return str(days.index[0])


@pytest.mark.parametrize("kind", ["month", "week", "day"])
def test_every_headline_tile_equals_plain_pandas(
    kind: str, sample_master: Path, raw: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    period = {
        "month": lambda: Period.month("2026-10"),
        "week": lambda: Period.week("2026-W45"),
        "day": lambda: Period.day(_busiest_day(raw)),
    }[kind]()
    out = write_report(sample_master, period=period, out_path=tmp_path / "r.xlsx").out_path
    ws = openpyxl.load_workbook(out)["概览"]
    tiles = {ws.cell(r, c).value: ws.cell(r + 1, c).value for r in (4, 9) for c in (1, 5, 9, 13)}
    expected = plain_kpis(raw, period.start, period.end)
    assert expected["followups"] > 0  # the period has something to count
    for key in TILES:
        want = expected[key]
        assert tiles[T["zh"][key]] == ("—" if want is None else pytest.approx(want)), key
    before = period.previous()
    assert before.end == period.start - dt.timedelta(days=1)  # just before it:
    assert before.days == period.days or (kind == "month" and before.start.day == 1)  # as long, or the month
    book, _ = read_book(sample_master, today=TODAY)
    m = compute_measures(book, period)
    previous = plain_kpis(raw, before.start, before.end)
    for key in ("won_amount", "wins", "new_customers", "followups", "average_deal", "conversion_rate"):
        assert m.kpis[key][1] == pytest.approx(previous[key]), key


# ---------------------------------------------------------------- periods and words


def test_periods_parse_label_and_step_back() -> None:
    week = Period.week("2026-W48")
    assert (week.start, week.end, week.kind) == (dt.date(2026, 11, 23), dt.date(2026, 11, 29), "week")
    assert week.previous() == Period.week("2026-W47") and week.label() == "2026-W48 (11-23 – 11-29)"
    day = Period.day("2026-11-30")
    assert day.previous() == Period.day("2026-11-29") and day.kind == "day"
    assert Period.month("2026-03").previous() == Period.month("2026-02")
    assert Period(dt.date(2026, 11, 1), dt.date(2026, 11, 15)).months() == pytest.approx(0.5)
    assert Period.month("2026-02").months() == pytest.approx(1.0)


def test_cli_periods_and_clear_errors(sample_book: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["report", str(sample_book), "--week", "2026-W48"])
    assert ok.exit_code == 0, ok.output
    assert (sample_book.parent / "crm-report-2026-W48.xlsx").exists()
    ok = runner.invoke(cli, ["report", str(sample_book), "--day", "2026-11-20", "--owner", "张伟"])
    assert ok.exit_code == 0, ok.output
    wb = openpyxl.load_workbook(sample_book.parent / "crm-report-2026-11-20-张伟.xlsx")
    assert wb["概览"].oddHeader.center.text == "个人业绩卡 · 张伟 · 概览"
    bad = runner.invoke(cli, ["report", str(sample_book), "--week", "2026-48"])
    assert bad.exit_code != 0 and "2026-W48" in bad.output and "Traceback" not in bad.output
    both = runner.invoke(cli, ["report", str(sample_book), "--week", "2026-W48", "--month", "2026-11"])
    assert both.exit_code != 0 and "one period" in both.output


def test_a_rep_or_team_named_wrong_is_an_error_not_an_empty_report(sample_book: Path) -> None:
    """A typo, a trailing space or another letter case: one clear line, no report of zeros."""
    runner = CliRunner()
    out = sample_book.parent / "crm-report-2026-11.xlsx"
    for wrong in ("张", "Zhang Wei"):
        bad = runner.invoke(cli, ["report", str(sample_book), "--month", "2026-11", "--owner", wrong])
        assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output
        assert f"no rep named {wrong!r}" in bad.output and "张伟, 李娜" in bad.output
        assert not out.exists()
    bad = runner.invoke(cli, ["report", str(sample_book), "--month", "2026-11", "--team", "西北组"])
    assert bad.exit_code == 2 and "no team named '西北组'" in bad.output and "华东组" in bad.output
    for extra in (["--team", "华南组"], ["--per-rep"]):  # 张伟 is not of 华南组: neither quietly wins
        bad = runner.invoke(
            cli, ["report", str(sample_book), "--month", "2026-11", "--owner", "张伟", *extra]
        )
        assert bad.exit_code == 2 and extra[0] in bad.output and "Traceback" not in bad.output, bad.output
        assert not out.exists()
    ok = runner.invoke(cli, ["report", str(sample_book), "--month", "2026-11", "--owner", " 张伟 "])
    assert ok.exit_code == 0, ok.output
    wb = openpyxl.load_workbook(out.with_name("crm-report-2026-11-张伟.xlsx"))  # named as the rep is
    assert wb["概览"].oddHeader.center.text == "个人业绩卡 · 张伟 · 概览"
    assert wb["销售业绩"]["A5"].value == "张伟"


def _won(month: int, amount: float) -> dict[str, Any]:
    return {
        "customer_id": "C1",
        "stage": "成交",
        "close_date": dt.date(2026, month, 10),
        "name": "x",
        "actual_amount": amount,
    }


@pytest.mark.parametrize(
    ("before", "now", "zh", "en"),
    [
        (100_000, 99_992, "与上月持平", "held flat on last month"),
        (100_000, 100_000, "与上月持平", "held flat on last month"),
        (100_000, 112_345, "较上月增长12.3%", "rose 12.3% on last month"),
        (100_000, 80_000, "较上月下降20.0%", "fell 20.0% on last month"),
    ],
)
def test_narrative_change_words_read_right(
    tmp_path: Path, before: float, now: float, zh: str, en: str
) -> None:
    from crmbook.report import _narrative

    book = make_book(
        customers=[{"customer_id": "C1", "name": "甲", "status": "成交客户"}],
        opportunities=[_won(9, before), _won(10, now)],
    )
    m = compute_measures(book, Period.month("2026-10"))
    assert zh in _narrative(m, "zh", tmp_path) and "下降0%" not in _narrative(m, "zh", tmp_path)
    assert en in _narrative(m, "en", tmp_path)


# ---------------------------------------------------------------- printed pages (LibreOffice)


def _pdf_pages(xlsx: Path) -> tuple[int, list[tuple[str, int]]]:
    from pypdf import PdfReader

    from crmbook.libreoffice import convert

    pdf = convert(xlsx, "pdf", xlsx.parent)
    reader = PdfReader(str(pdf))
    return len(reader.pages), [(o.title, reader.get_destination_page_number(o)) for o in reader.outline]


@pytest.mark.libreoffice
def test_weekly_report_of_the_sample_book_prints_on_at_most_8_pages(
    sample_master: Path, tmp_path: Path
) -> None:
    from crmbook.libreoffice import find_soffice

    if find_soffice() is None:
        pytest.skip("LibreOffice is not installed")
    out = write_report(sample_master, period=Period.week("2026-W47"), out_path=tmp_path / "w.xlsx").out_path
    pages, marks = _pdf_pages(out)
    assert pages <= 8, pages
    assert [t for t, _ in marks] == [T["zh"][k] for k in SECTIONS] and marks[1][1] == 1


@pytest.mark.libreoffice
def test_monthly_report_of_the_m_book_prints_on_at_most_14_pages(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The M book (10,000 customers) takes about a minute to generate: made once, here only."""
    from crmbook.libreoffice import find_soffice
    from crmbook.template import create_workbook

    if find_soffice() is None:
        pytest.skip("LibreOffice is not installed")
    folder = tmp_path_factory.mktemp("m-book")
    book = create_workbook(folder / "m.xlsx", sample=10_000, seed=11, today=TODAY)
    out = write_report(book, period=Period.month("2026-10"), out_path=folder / "m-report.xlsx").out_path
    counts = check_layout(out)
    pages, marks = _pdf_pages(out)
    assert pages <= 14, pages
    assert marks[1][1] == 1  # the summary is one page
    assert pages == sum(counts.values())  # LibreOffice prints the pages the workbook was laid out for


# ---------------------------------------------------------------- the in-book dashboard


def _refreshed(sample_book: Path, today: dt.date) -> Any:
    from crmbook.refresh import refresh

    refresh(sample_book, today=today)
    wb = openpyxl.load_workbook(sample_book)
    return wb["客户看板"] if "客户看板" in wb.sheetnames else wb["看板"]


def test_dashboard_prints_whole_charts_on_one_page_each(sample_book: Path) -> None:
    ws = _refreshed(sample_book, TODAY)
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert "&P" in ws.oddFooter.right.text and ws.oddHeader.center.text
    width, height = PAPER_POINTS[9]
    m = ws.page_margins
    printable_w, printable_h = height - (m.left + m.right) * 72, width - (m.top + m.bottom) * 72
    charts = ws._charts
    assert len(charts) == 3
    right = sum(_column_points(ws, c) for c in range(1, 5))  # the tables, left of the charts
    content_w = right + max(ch.anchor.ext.width for ch in charts) / 12_700  # EMU to points
    page_h = printable_h / min(1.0, printable_w / content_w)
    breaks = sorted(b.id for b in ws.row_breaks.brk)
    assert breaks
    starts = [0, *breaks]
    for chart in charts:
        first = chart.anchor._from.row + 1
        height_pt = chart.anchor.ext.height / 12_700
        last = first + math.ceil(height_pt / 15) - 1
        page = max(i for i, s in enumerate(starts) if s < first)
        assert page + 1 == len(starts) or last <= starts[page + 1], f"chart at row {first} crosses a break"
        top = starts[page] + 1
        used = sum(22.0 if r == 1 else 15.0 for r in range(top, last + 1))
        assert used <= page_h, f"chart at row {first} runs past the bottom of its page"


def test_dashboard_shows_the_last_full_month_when_this_month_is_empty(
    sample_book: Path, raw: dict[str, pd.DataFrame]
) -> None:
    ws = _refreshed(sample_book, dt.date(2026, 12, 1))  # nothing dated December yet
    assert ws["A4"].value == "本月概况（2026-12）" and ws["C4"].value == "上月（2026-11）"
    november = plain_kpis(raw, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    got = {ws.cell(r, 1).value: (ws.cell(r, 2).value, ws.cell(r, 3).value) for r in range(5, 9)}
    assert got["新增客户"] == (0, november["new_customers"])
    assert got["跟进次数"] == (0, november["followups"])
    assert got["成交单数"] == (0, november["wins"])
    assert got["成交金额"][1] == pytest.approx(november["won_amount"])
    assert november["followups"] > 0
    busy = _refreshed(sample_book, TODAY)  # a month with data: no second column
    assert busy["C4"].value is None


def test_a_table_running_onto_the_next_page_repeats_its_header(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from crmbook.report_pages import Paper
    from crmbook.report_sheet import Context, Sheet

    m = compute_measures(make_book(customers=[{"customer_id": "C1", "name": "甲"}]), Period.month("2026-10"))
    wb = Workbook()
    sheet = Sheet(
        wb, "长表", Context(m, "zh", Paper("a4"), "一部", "全部", "销售月报", dt.datetime(2026, 11, 1))
    )
    sheet.table(["编号", "金额"], [[f"K{i}", i * 100.0] for i in range(80)], [None, "amount"])
    pages = sheet.finish()
    path = tmp_path / "long.xlsx"
    wb.save(path)
    ws = openpyxl.load_workbook(path)["长表"]
    assert pages >= 3 and len(ws.row_breaks.brk) == pages - 1
    assert ws.print_title_rows == "$4:$4"  # the table's header row, atop every page it runs onto
    counts = printed_pages(ws)[0]
    assert max(counts.values()) + 1 == pages


def test_long_names_are_cut_with_the_whole_name_in_a_comment(tmp_path: Path) -> None:
    from crmbook.report import build_report

    long_name = "上海浦东新区张江高科技园区国际生物医药创新研究与产业化服务中心有限公司"
    lost = {"status": "流失客户", "updated": dt.date(2026, 10, 9), "lost_reason": "选择了竞争对手"}
    book = make_book(
        customers=[
            {"customer_id": "C1", "name": long_name, **lost},
            {"customer_id": "C2", "name": "短名公司", **lost},
        ]
    )
    wb, _ = build_report(
        compute_measures(book, Period.month("2026-10")),
        "zh",
        scope="全部",
        generated=dt.datetime(2026, 11, 1, 9, 0),
        folder=tmp_path,
    )
    wb.save(tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["流失分析"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    cut = next(c for v, c in cells.items() if v.startswith("上海浦东新区") and v.endswith("…"))
    assert cut.comment is not None and cut.comment.text == long_name
    assert cells["短名公司"].comment is None
    width = ws.column_dimensions[cut.column_letter].width
    assert width >= 30  # wide enough for the cut name (CJK counted double)


def test_a_scorecards_target_shows_on_its_reps_chart(sample_master: Path, tmp_path: Path) -> None:
    """One rep: the target line has one point, which a line draws as nothing; it gets a mark instead."""
    import zipfile

    out = write_report(
        sample_master, period=Period.month("2026-11"), owner="张伟", out_path=tmp_path / "r.xlsx"
    )
    with zipfile.ZipFile(out.out_path) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    target = [c for c in charts if "<lineChart>" in c and "'销售业绩'!$F$" in c]
    assert len(target) == 1 and '<symbol val="dash" />' in target[0]


def test_a_chart_beside_a_table_running_onto_a_second_page_starts_below_the_repeated_header(
    tmp_path: Path,
) -> None:
    """40 reps: the reps table runs onto a second page, its header row printed atop it; the chart beside
    the table starts a row lower, or LibreOffice prints its top strip in that repeated row too."""
    from crmbook.book import Settings
    from crmbook.schema import Rep

    settings = Settings.defaults()
    settings.reps = [Rep(f"代表{i:02d}", "一组", 1_000_000.0) for i in range(40)]
    book = make_book(
        customers=[{"customer_id": f"C{i}", "name": f"客户{i}", "owner": f"代表{i:02d}"} for i in range(40)],
        followups=[
            {"customer_id": f"C{i}", "time": dt.datetime(2026, 10, 5), "owner": f"代表{i:02d}"}
            for i in range(40)
        ],
        settings=settings,
    )
    wb, pages = _october_report(book, tmp_path)
    wb.save(tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["销售业绩"]
    assert pages["销售业绩"] >= 2 and ws.print_title_rows == "$4:$4"
    chart = wb["销售业绩"]._charts[0]
    assert chart.anchor._from.row + 1 == 5  # 0-based: the row under the repeated header


def test_a_report_given_for_its_workbook_or_a_book_without_deals_is_refused_clearly(
    sample_book: Path,
) -> None:
    """crmbook report crm-report-2026-11.xlsx (the report, not the workbook), or a workbook whose 销售机会
    sheet is gone: one line saying what to give, exit 2, not a crash."""
    runner = CliRunner()
    ok = runner.invoke(cli, ["report", str(sample_book), "--month", "2026-11"])
    assert ok.exit_code == 0, ok.output
    made = sample_book.parent / "crm-report-2026-11.xlsx"
    bad = runner.invoke(cli, ["report", str(made), "--month", "2026-11"])
    assert bad.exit_code == 2 and "is a report crmbook wrote" in bad.output, bad.output
    wb = openpyxl.load_workbook(sample_book)
    del wb["销售机会"]
    wb.save(sample_book.parent / "no-deals.xlsx")
    bad = runner.invoke(cli, ["report", str(sample_book.parent / "no-deals.xlsx"), "--month", "2026-11"])
    assert bad.exit_code == 2 and "销售机会" in bad.output and "internal error" not in bad.output, bad.output


def test_the_industry_bars_name_every_bar_at_a_size_libreoffice_keeps(
    sample_master: Path, tmp_path: Path
) -> None:
    """Eight industry names at 10 points overlap in the chart's height and LibreOffice drops every other
    one; the horizontal bars' names are set at 8 points."""
    import re
    import zipfile

    out = write_report(sample_master, period=Period.month("2026-11"), out_path=tmp_path / "r.xlsx")
    with zipfile.ZipFile(out.out_path) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    industry = [c for c in charts if '<barDir val="bar" />' in c and "所属行业" in c]
    assert len(industry) == 1
    axis = re.search(r"<catAx>.*?</catAx>", industry[0], re.S)
    assert axis is not None and 'sz="800"' in axis.group(0)


def test_the_report_never_replaces_a_workbook_of_records(sample_book: Path) -> None:
    """-o crm.xlsx (the workbook itself), -o over a rep's file, -o r.pdf: refused, the files unchanged; an
    earlier report (English too: one of its sheets is named Customers) is replaced as before."""
    runner = CliRunner()
    before = sample_book.read_bytes()
    other = sample_book.parent / "李娜.xlsx"
    other.write_bytes(before)
    for target, says in (
        (sample_book, "is the workbook the report is made from"),
        (other, "holds customer records"),
    ):
        bad = runner.invoke(cli, ["report", str(sample_book), "--month", "2026-11", "-o", str(target)])
        assert bad.exit_code == 2 and says in bad.output, bad.output
        assert target.read_bytes() == before
    bad = runner.invoke(cli, ["report", str(sample_book), "-o", str(sample_book.parent / "r.pdf")])
    assert (
        bad.exit_code == 2 and "name it .xlsx" in bad.output and not (sample_book.parent / "r.pdf").exists()
    )
    again = sample_book.parent / "r.xlsx"
    for _ in range(2):
        ok = runner.invoke(
            cli, ["report", str(sample_book), "--month", "2026-11", "--lang", "en", "-o", str(again)]
        )
        assert ok.exit_code == 0, ok.output


def test_a_long_overdue_table_has_the_churn_list_below_not_in_its_repeated_header_row(tmp_path: Path) -> None:
    """40 owners with overdue customers: the table runs onto a second page, its header row printed atop;
    the churn-risk list goes below it, or its heading would print in that row over nothing."""
    old = {"level": "A", "status": "意向客户", "created": dt.date(2026, 1, 5)}
    book = make_book(
        customers=[
            {"customer_id": f"C{i}", "name": f"客户{i}", "owner": f"代表{i:02d}", **old} for i in range(40)
        ]
    )
    wb, pages = _october_report(book, tmp_path)
    ws = wb["跟进情况"]
    assert pages["跟进情况"] >= 2 and ws.print_title_rows == "$5:$5"
    assert [c.value for c in ws[5] if c.value is not None] == ["负责人", "A", "B", "C", "D", "合计"]
    headings = [
        r for r in range(1, ws.max_row + 1) if str(ws.cell(r, 1).value or "").startswith("流失风险客户")
    ]
    assert headings and headings[0] > 5 + 40 + 1  # below the 40 owners and the total


def test_a_scorecard_and_a_teams_report_get_names_of_their_own(sample_book: Path) -> None:
    """Without -o, each rep's scorecard and each team's report is a file of its own beside the team's
    report: running the report for every rep of the team replaces none of them."""
    runner = CliRunner()
    folder = sample_book.parent
    for args in ([], ["--owner", " 张伟"], ["--owner", "李娜"], ["--team", "华东组"]):
        done = runner.invoke(cli, ["report", str(sample_book), "--month", "2026-11", *args])
        assert done.exit_code == 0, done.output
    made = sorted(p.name for p in folder.glob("crm-report-2026-11*.xlsx"))
    assert made == [
        "crm-report-2026-11-华东组.xlsx",
        "crm-report-2026-11-张伟.xlsx",
        "crm-report-2026-11-李娜.xlsx",
        "crm-report-2026-11.xlsx",
    ]
    assert openpyxl.load_workbook(folder / "crm-report-2026-11-李娜.xlsx")["概览"].oddHeader.center.text == (
        "个人业绩卡 · 李娜 · 概览"
    )


def _october_report(book: Any, folder: Path) -> tuple[Any, dict[str, int]]:
    """The team's report of October 2026 built from ``book`` (the workbook and its pages per sheet)."""
    from crmbook.report import build_report

    return build_report(
        compute_measures(book, Period.month("2026-10")),
        "zh",
        scope="全部",
        generated=dt.datetime(2026, 11, 1),
        folder=folder,
    )
