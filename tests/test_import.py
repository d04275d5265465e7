"""crmbook import: the generated messy corpus, Superstore, update-by-key, rejects, undo, CLI."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmbook.clean import clean_value, split_history
from crmbook.errors import InputError
from crmbook.importer import import_file, undo_import
from crmbook.mapping import load_mapping
from crmbook.reader import read_book
from crmbook.schema import load_schema, normalize_label
from crmbook.template import create_workbook
from tests.legacy_corpus import FORMULA_LOOKING, make_corpus

ROOT = Path(__file__).resolve().parents[1]
SUPERSTORE = ROOT.parent / "shared" / "fixtures" / "superstore.xls"
TODAY = dt.date(2024, 12, 31)
NOW = dt.datetime(2024, 12, 31, 9, 0)


def _records(path: Path) -> dict[str, list[dict[str, Any]]]:
    book, _ = read_book(path, today=TODAY)
    owned = {
        k: {c.key for c in t.spec.columns if c.owned} - {t.spec.id_column} for k, t in book.tables.items()
    }
    return {
        k: [
            {c: v for c, v in row.items() if c not in owned[k] and v is not None}
            for row in t.data.astype(object).where(t.data.notna(), None).to_dict("records")
        ]
        for k, t in book.tables.items()
    }


def _cells(path: Path) -> list[Any]:
    wb = openpyxl.load_workbook(path, read_only=True)
    out = [v for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    wb.close()
    return out


@pytest.fixture()
def corpus(tmp_path: Path) -> Any:
    c = make_corpus(tmp_path / "legacy")
    book = create_workbook(tmp_path / "crm.xlsx")
    return c, Path(book)


# ------------------------------------------------------------------ cleaning


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("first_contact", dt.date(2024, 5, 1), dt.date(2024, 5, 1)),
        ("first_contact", 45413, dt.date(2024, 5, 1)),
        ("first_contact", "2024.5.1", dt.date(2024, 5, 1)),
        ("first_contact", "2024年5月1日", dt.date(2024, 5, 1)),
        ("first_contact", "2024/05/01", dt.date(2024, 5, 1)),
        ("first_contact", "5/1/2024", dt.date(2024, 5, 1)),
        ("phone", "+86 138 1234 5678", "13812345678"),
        ("phone", "138-1234-5678 / (010) 6123 4567", "13812345678；010-61234567"),
        ("phone", 13812345678.0, "13812345678"),
        ("name", " ＡＢＣ科技（上海）有限公司　", "ABC科技（上海）有限公司"),
        ("level", "A类（重点客户）", "A"),
        ("source", "老客户介绍", "客户转介绍"),
    ],
)
def test_customer_values_are_cleaned(key: str, raw: Any, expected: Any) -> None:
    schema = load_schema()
    cleaned = clean_value(raw, schema.sheet("customers").column(key), schema=schema)
    assert cleaned.problem is None
    assert cleaned.value == expected


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("expected_amount", "12.5万", 125000.0),
        ("expected_amount", "¥120,000.00", 120000.0),
        ("expected_amount", "50万元", 500000.0),
        ("probability", "60%", 60.0),
        ("probability", "0.6", 60.0),
        ("probability", 60, 60.0),
        ("stage", "谈判中", "商务谈判"),
    ],
)
def test_deal_values_are_cleaned(key: str, raw: Any, expected: Any) -> None:
    schema = load_schema()
    assert clean_value(raw, schema.sheet("opportunities").column(key), schema=schema).value == expected


def test_day_first_setting_and_a_date_without_a_year() -> None:
    schema = load_schema()
    col = schema.sheet("customers").column("first_contact")
    assert clean_value("5/1/2024", col, dayfirst=True, schema=schema).value == dt.date(2024, 1, 5)
    no_year = clean_value("5月1日", col, schema=schema)
    assert no_year.value == "5月1日" and no_year.problem == "a date without a year"  # kept, flagged


def test_visit_history_splits_into_dated_entries() -> None:
    assert split_history("2025-02-01: 更换灯泡; 2025-03-07: 更换电瓶") == [
        (dt.datetime(2025, 2, 1), "更换灯泡"),
        (dt.datetime(2025, 3, 7), "更换电瓶"),
    ]


# ------------------------------------------------------------------ the corpus


def test_dry_run_previews_and_writes_nothing(corpus: Any) -> None:
    c, book = corpus
    before = book.read_bytes()
    result = import_file(c.ledger, book, dry_run=True, today=TODAY, now=NOW)
    assert book.read_bytes() == before
    assert not result.written
    counts = result.plan.outcomes["customers"].counts()
    assert counts["created"] == c.customers
    assert counts["merged"] == c.merged
    assert counts["rejected"] == len(c.ledger_rejects)


def test_corpus_import_creates_links_and_rejects(corpus: Any) -> None:
    c, book = corpus
    first = import_file(c.ledger, book, today=TODAY, now=NOW)
    second = import_file(c.deals_csv, book, today=TODAY, now=NOW)
    assert first.written and second.written and first.backup_path
    records = _records(book)
    customers = records["customers"]
    assert len(customers) == c.customers
    assert all(r.get("customer_id") for r in customers)  # IDs assigned
    by_name = {r["name"]: r for r in customers}
    for name, digits in c.phones.items():
        assert digits in str(by_name[name]["phone"])  # every phone format read
    # The repeated rows were merged, their second contact kept as a contact of the same customer.
    contacts = records["contacts"]
    assert len(contacts) == c.customers + c.merged - 1  # the branch row has no contact person
    # The visit-history column became dated follow-ups of the right customer.
    followups = records["followups"]
    assert followups and all(f["customer_id"] in {r["customer_id"] for r in customers} for f in followups)
    assert {f["content"] for f in followups} == {"电话回访", "上门演示"}
    # Deals found their customer by name; the unknown one is rejected with its raw values.
    deals = records["opportunities"]
    assert len(deals) == c.deals
    ids = {r["name"]: r["customer_id"] for r in customers}
    assert all(d["customer_id"] == ids[d["customer_name"]] for d in deals)
    amounts = sorted(d["expected_amount"] for d in deals)
    assert 125000 in amounts and 120000 in amounts and 500000 in amounts
    # Formula-looking text arrived as text.
    notes = {str(v) for v in _cells(book)}
    assert all(text in notes for text in FORMULA_LOOKING.values())
    wb = openpyxl.load_workbook(book)
    rejects = list(wb[load_schema().owned_sheet_name("import_rejects", "zh")].iter_rows(values_only=True))[1:]
    got = {(r[2], int(r[4])): r[5] for r in rejects}
    for row, words in c.ledger_rejects.items():
        assert words in got[(c.ledger.name, row)]
    for row, words in c.deal_rejects.items():
        assert words in got[(c.deals_csv.name, row)]
    assert any("幽灵项目" in str(r[6]) for r in rejects)
    # The Excel table grew over the new rows.
    table = next(iter(wb[load_schema().sheet("customers").zh].tables.values()))
    assert table.ref.endswith(str(1 + c.customers))


def _fold(value: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).casefold()


def test_nothing_is_dropped_silently(corpus: Any) -> None:
    """Every non-empty source cell value can be found in the workbook after the import."""
    c, book = corpus
    import_file(c.ledger, book, today=TODAY, now=NOW)
    import_file(c.deals_csv, book, today=TODAY, now=NOW)
    result = _cells(book)
    texts = [_fold(v) for v in result if isinstance(v, str)]
    numbers = {round(float(v), 2) for v in result if isinstance(v, int | float) and not isinstance(v, bool)}
    dates = {v.date() if isinstance(v, dt.datetime) else v for v in result if isinstance(v, dt.date)}
    digits = ["".join(ch for ch in t if ch.isdigit()) for t in texts]
    schema = load_schema()
    labels = {}
    for spec in schema.lists.values():
        for folded, key in spec.lookup().items():
            labels[folded] = _fold(spec.item_by_key(key).zh)
    from crmbook.legacy import read_legacy
    from crmbook.mapping import propose_mapping

    for path in (c.ledger, c.deals_csv):  # the proposed value maps, which the user could have edited
        for table in propose_mapping(read_legacy(path)).tables:
            for value_map in table.values.values():
                labels.update({normalize_label(k): _fold(v) for k, v in value_map.items()})
    from crmbook.values import parse_amount, parse_date, parse_percent

    missing = []
    for path in (c.ledger, c.deals_csv):
        for sheet in read_legacy(path):
            for row, values in sheet.rows:
                for value in values:
                    if value is None or not str(value).strip():
                        continue
                    folded = _fold(value)
                    found = any(folded in t for t in texts)
                    found = found or labels.get(normalize_label(value), "\0") in texts
                    entries = split_history(value)
                    found = found or (
                        any(when for when, _ in entries)
                        and all(
                            any(_fold(text) in t for t in texts) and (when is None or when.date() in dates)
                            for when, text in entries
                        )
                    )
                    date = parse_date(value)
                    found = found or (date.ok and date.value in dates)
                    amount = parse_amount(value)
                    found = found or (amount.ok and round(amount.value, 2) in numbers)
                    percent = parse_percent(value)
                    found = found or (percent.ok and round(percent.value, 2) in numbers)
                    number = "".join(ch for ch in str(value) if ch.isdigit())
                    number = number[2:] if len(number) == 13 and number.startswith("86") else number
                    found = found or (len(number) >= 7 and any(number in d for d in digits))
                    if not found:
                        missing.append((path.name, row, value))
    assert not missing


def test_second_import_updates_by_business_key(corpus: Any) -> None:
    c, book = corpus
    import_file(c.ledger, book, today=TODAY, now=NOW)
    again = import_file(c.ledger, book, today=TODAY, now=NOW)
    outcome = again.plan.outcomes["customers"]
    assert outcome.counts()["created"] == 0
    assert len(_records(book)["customers"]) == c.customers
    # A new level for one customer in next month's file is an update.
    wb = openpyxl.load_workbook(c.ledger)
    ws = wb.active
    for row in ws.iter_rows(min_row=6):
        if row[0].value == "北京恒达贸易有限公司":
            row[5].value = "D类（流失风险）"
    wb.save(c.ledger)
    third = import_file(c.ledger, book, today=TODAY, now=NOW)
    assert third.plan.outcomes["customers"].counts()["updated"] == 1
    levels = {r["name"]: r.get("level") for r in _records(book)["customers"]}
    assert levels["北京恒达贸易有限公司"] == "D"


def test_near_duplicates_go_to_the_duplicates_sheet(corpus: Any) -> None:
    c, book = corpus
    result = import_file(c.ledger, book, today=TODAY, now=NOW)
    assert result.plan.refresh is not None and result.plan.refresh.duplicate_pairs >= 1
    values = _cells(book)
    assert "青岛海润食品（青岛）有限公司" in values


def test_undo_gives_back_the_records_and_refuses_over_edits(corpus: Any) -> None:
    c, book = corpus
    import_file(c.ledger, book, today=TODAY, now=NOW)
    before = _records(book)
    result = import_file(c.deals_csv, book, today=TODAY, now=NOW)
    import_id = result.plan.import_id
    # An edit to a created record blocks the undo.
    edited = book.with_name("edited.xlsx")
    shutil.copyfile(book, edited)
    wb = openpyxl.load_workbook(edited)
    ws = wb[load_schema().sheet("opportunities").zh]
    ws.cell(2, 4).value = "改过的名字"
    wb.save(edited)
    with pytest.raises(InputError, match="edited since the import"):
        undo_import(edited, import_id, today=TODAY, now=NOW)
    undo_import(book, import_id, today=TODAY, now=NOW)
    assert _records(book) == before
    with pytest.raises(InputError, match="already undone"):
        undo_import(book, import_id, today=TODAY, now=NOW)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["华信科技有限公司", "恒达贸易", "海川电子", "云帆网络", ""]),
            st.sampled_from(["13812345678", "010-61234567", "+86 139 0000 1111", "", "不详"]),
            st.sampled_from(["A", "重点客户", "潜力客户", "", "Z"]),
            st.sampled_from(["2024-05-01", "5月1日", "", "45413"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_import_then_undo_is_the_identity(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    book = Path(create_workbook(folder / "crm.xlsx", sample=8, seed=3))
    from crmbook.refresh import refresh

    refresh(book, today=TODAY, now=NOW)
    before = _records(book)
    source = folder / "legacy.csv"
    lines = ["公司名称,联系电话,客户级别,首次接触"] + [",".join(r) for r in rows]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_file(source, book, today=TODAY, now=NOW)
    if result.written:
        undo_import(book, result.plan.import_id, today=TODAY, now=NOW)
    assert _records(book) == before


# ------------------------------------------------------------------ Superstore


@pytest.mark.skipif(not SUPERSTORE.exists(), reason="the Superstore fixture is not here")
def test_superstore_import_and_the_report_add_up(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx", lang="en"))
    mapping = load_mapping(ROOT / "docs" / "examples" / "superstore.toml")
    result = import_file(SUPERSTORE, book, mapping, today=dt.date(2018, 12, 31), now=NOW)
    orders = pd.read_excel(SUPERSTORE, sheet_name="Orders", engine="calamine")
    people = pd.read_excel(SUPERSTORE, sheet_name="People", engine="calamine").set_index("Region")["Person"]
    assert result.plan.rejects == []
    records = _records(book)
    customers = pd.DataFrame(records["customers"])
    deals = pd.DataFrame(records["opportunities"])
    assert len(customers) == orders["Customer ID"].nunique()
    assert customers["Superstore ID"].is_unique
    assert len(deals) == orders["Order ID"].nunique()
    assert set(deals["stage"]) == {"Won"}
    first_region = orders.groupby("Customer ID")["Region"].first().map(people)
    owners = customers.set_index("Superstore ID")["owner"]
    assert (owners.sort_index() == first_region.sort_index()).all()
    by_customer = deals.groupby("customer_id")["actual_amount"].sum()
    ids = customers.set_index("Superstore ID")["customer_id"]
    sales = orders.groupby("Customer ID")["Sales"].sum()
    assert by_customer[ids[sales.index]].to_numpy() == pytest.approx(sales.to_numpy())
    # The monthly report's won amount equals the Sales of that month's orders.
    for month in ("2014-01", "2015-06", "2016-11", "2017-12"):
        out = tmp_path / f"r-{month}.xlsx"
        subprocess.run(
            [sys.executable, "-m", "crmbook", "report", str(book), "--month", month, "-o", str(out)],
            check=True,
            capture_output=True,
        )
        ws = openpyxl.load_workbook(out).worksheets[0]
        rows = list(ws.iter_rows(values_only=True))  # the summary's tile: its label above its value
        won = next(rows[i + 1][0] for i, r in enumerate(rows) if r[0] == "Won amount")
        start = pd.Timestamp(month + "-01")
        in_month = orders[
            (orders["Order Date"] >= start) & (orders["Order Date"] < start + pd.offsets.MonthBegin())
        ]
        assert won == pytest.approx(in_month["Sales"].sum(), abs=1e-6), month


# ------------------------------------------------------------------ the command line


def _crmbook(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmbook", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_cli_dry_run_mapping_import_and_undo(corpus: Any, tmp_path: Path) -> None:
    c, book = corpus
    preview = _crmbook("import", str(c.ledger), "--into", str(book), "--dry-run", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "would import" in preview.stdout and "rejected" in preview.stdout
    mapping = tmp_path / "ledger.toml"
    wrote = _crmbook(
        "import", str(c.ledger), "--into", str(book), "--write-mapping", str(mapping), cwd=tmp_path
    )
    assert wrote.returncode == 0 and mapping.exists()
    assert "A类（重点客户）" in mapping.read_text("utf-8")  # the value map is there to edit
    done = _crmbook("import", str(c.ledger), "--into", str(book), "--mapping", str(mapping), cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    import_id = re.search(r"crmbook import --undo \S+ (I\d{8}-\d{3})", done.stdout)[1]  # type: ignore[index]
    undone = _crmbook("import", "--undo", str(book), import_id, cwd=tmp_path)
    assert undone.returncode == 0, undone.stderr
    assert "records removed" in undone.stdout


def test_a_mapping_written_for_one_months_csv_imports_the_next_months(tmp_path: Path) -> None:
    """A CSV's one sheet is named after its file: last month's mapping still reads this month's export."""
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    header = "客户名称,联系电话,所属行业,客户备注\n"
    feb = tmp_path / "客户-2026-02.csv"
    feb.write_bytes((header + "苏州瑞丰电子有限公司,13812345678,制造业,二月\n").encode("gb18030"))
    mar = tmp_path / "客户-2026-03.csv"
    mar.write_bytes((header + "杭州鼎盛物流有限公司,13987654321,制造业,三月\n").encode("gb18030"))
    mapping = tmp_path / "legacy.toml"
    first = _crmbook("import", str(feb), "--into", str(book), "--write-mapping", str(mapping), cwd=tmp_path)
    assert first.returncode in (0, 1), first.stderr
    assert 'source_sheet = "客户-2026-02"' in mapping.read_text("utf-8")
    for month in (feb, mar):
        done = _crmbook("import", str(month), "--into", str(book), "--mapping", str(mapping), cwd=tmp_path)
        assert done.returncode in (0, 1), done.stderr
    names = [r["name"] for r in _records(book)["customers"]]
    assert "苏州瑞丰电子有限公司" in names and "杭州鼎盛物流有限公司" in names


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    book = Path(create_workbook(tmp_path / "crm.xlsx"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\xfa\x80\x81 not text")
    result = _crmbook("import", str(bad), "--into", str(book), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("crmbook: error:") and "Traceback" not in result.stderr
    missing = _crmbook("import", str(tmp_path / "nope.xlsx"), "--into", str(book), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[[tables]]\nsource_sheet = "x"\ntarget = "customers"\n[tables.columns]\n"a" = "nope"\n'
    )
    wrong = _crmbook("import", str(bad), "--into", str(book), "--mapping", str(mapping), cwd=tmp_path)
    assert wrong.returncode == 2 and "nope" in wrong.stderr


def test_an_old_xls_ledger_imports_like_the_xlsx(corpus: Any, tmp_path: Path) -> None:
    """The same ledger saved as .xls (by LibreOffice, as Excel 97-2003 would) gives the same records."""
    from tests.conftest import soffice_convert

    c, book = corpus
    xls = soffice_convert(c.ledger, "xls", tmp_path / "xls")
    assert xls.suffix == ".xls"
    from_xls = import_file(xls, book, dry_run=True, today=TODAY, now=NOW)
    from_xlsx = import_file(c.ledger, book, dry_run=True, today=TODAY, now=NOW)
    for key, outcome in from_xlsx.plan.outcomes.items():
        assert from_xls.plan.outcomes[key].counts() == outcome.counts(), key
        assert [r.fields for r in from_xls.plan.outcomes[key].created] == [r.fields for r in outcome.created]
