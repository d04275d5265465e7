"""Each validation rule on small tables: a passing and a failing case, with the exact location."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmbook.ids import IdPattern, run_id_step
from crmbook.validate import validate
from tests.builders import make_book

OK_CUSTOMER = {
    "customer_id": "C2026000001",
    "name": "上海华信科技有限公司",
    "phone": "13800138000",
    "status": "意向客户",
}


def codes(book, code: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(i.row, i.column) for i in validate(book) if i.code == code]


def test_clean_book_has_no_issues() -> None:
    book = make_book(
        customers=[OK_CUSTOMER],
        contacts=[
            {
                "contact_id": "P1",
                "customer_id": "C2026000001",
                "name": "王伟",
                "mobile": "13900139000",
                "primary": "是",
            }
        ],
    )
    assert [i.code for i in validate(book)] == []


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("phone", None, "no-way-to-reach"),
        ("phone", "1380013800", "bad-phone"),
        ("phone", "6123456", "bad-phone"),
        ("email", "a@@b", "bad-email"),
        ("email", "info@acme.co.uk；a@@b", "bad-email"),  # every address of the cell is checked
        ("email", "info@acme.co.uk；sales@acme.co.uk", None),  # as a merge joins them
        ("email", "info@acme.co.uk, sales@acme.co.uk", None),
        ("website", "not a site", "bad-url"),
        ("created", "2026/13/45", "bad-date"),
        ("created", "5月1日", "date-no-year"),
        ("created", dt.date(2027, 1, 1), "future-date"),
        ("industry", "互联网+", "not-in-list"),
        ("level", "重点客户", "list-alias"),
        ("notes", "法人身份证 11010519491231002X", "sensitive-id-number"),
        ("notes", "卡号 6222021234567890128", "sensitive-bank-card"),
        ("address", "上海市闵行区某某小区3号楼502室", "home-address"),
        ("source_detail", "#N/A", "excel-error"),
    ],
)
def test_customer_rules(field: str, value: object, code: str | None) -> None:
    book = make_book(customers=[{**OK_CUSTOMER, field: value}])
    if code is None:  # a value that passes
        assert [i.code for i in validate(book)] == []
        return
    col = book.tables["customers"].col(field)
    found = [i for i in validate(book) if i.code == code]
    assert [(i.row, i.col) for i in found] == [(2, col)]
    assert found[0].message("zh") and found[0].message("en")


def test_several_numbers_and_extensions_are_fine() -> None:
    book = make_book(customers=[{**OK_CUSTOMER, "phone": "138 0013 8000；021-61234567转801"}])
    assert codes(book, "bad-phone") == []


def test_lost_customer_needs_a_reason() -> None:
    book = make_book(customers=[{**OK_CUSTOMER, "status": "流失客户"}])
    assert codes(book, "lost-without-reason") == [(2, "lost_reason")]
    book = make_book(customers=[{**OK_CUSTOMER, "status": "流失客户", "lost_reason": "价格"}])
    assert codes(book, "lost-without-reason") == []


def test_deal_rules() -> None:
    won = {
        "opportunity_id": "O1",
        "customer_id": "C2026000001",
        "name": "设备",
        "stage": "成交",
        "probability": 100,
    }
    book = make_book(
        customers=[OK_CUSTOMER],
        opportunities=[won, {**won, "opportunity_id": "O2", "stage": "初步接洽", "probability": 95}],
    )
    assert codes(book, "won-without-amount") == [(2, "actual_amount")]
    assert codes(book, "negative-amount") == []
    minus = make_book(
        customers=[OK_CUSTOMER],
        opportunities=[
            {**won, "actual_amount": -5000, "close_date": dt.date(2026, 11, 1), "win_loss_reason": "价格"},
            {
                **won,
                "opportunity_id": "O2",
                "stage": "初步接洽",
                "probability": 10,
                "expected_amount": "-1.2万",
            },
            {**won, "opportunity_id": "O3", "stage": "初步接洽", "probability": 10, "expected_amount": 0},
        ],
    )
    assert sorted(codes(minus, "negative-amount")) == [(2, "actual_amount"), (3, "expected_amount")]
    assert codes(book, "closed-without-date") == [(2, "close_date")]
    assert codes(book, "probability-stage-mismatch") == [(3, "probability")]
    fine = {**won, "actual_amount": 1000, "close_date": dt.date(2026, 11, 1), "win_loss_reason": "价格"}
    assert [i.code for i in validate(make_book(customers=[OK_CUSTOMER], opportunities=[fine]))] == []


def test_references_and_primary_contacts() -> None:
    book = make_book(
        customers=[OK_CUSTOMER],
        contacts=[
            {
                "contact_id": "P1",
                "customer_id": "C2026000001",
                "name": "甲",
                "mobile": "13900139000",
                "primary": "是",
            },
            {
                "contact_id": "P2",
                "customer_id": "C2026000001",
                "name": "乙",
                "mobile": "13900139001",
                "primary": "是",
            },
        ],
        followups=[{"followup_id": "F1", "customer_id": "C2099", "content": "x", "deal_closed": "是"}],
    )
    assert codes(book, "unknown-customer") == [(2, "customer_id")]
    assert codes(book, "primary-contact-count") == [(2, "primary"), (3, "primary")]
    assert codes(book, "closed-without-contract") == [(2, "contract_no")]


def test_user_list_additions_count() -> None:
    lists = {"industry": ["制造业", "互联网+"]}
    book = make_book(customers=[{**OK_CUSTOMER, "industry": "互联网+"}], lists=lists)
    assert codes(book, "not-in-list") == []


@pytest.mark.parametrize(
    ("pattern", "date", "seq", "cid", "expected"),
    [
        ("C{yyyy}{seq:6}", dt.date(2024, 5, 1), 123, None, "C2024000123"),
        ("CUST{yyyymmdd}{seq:4}", dt.date(2024, 12, 1), 1, None, "CUST202412010001"),
        ("CRM{yyyymmdd}{seq:3}", dt.date(2024, 5, 1), 1, None, "CRM20240501001"),
        ("FLLW{customer_id}{seq:4}", dt.date(2024, 5, 1), 1, "C2024001", "FLLWC20240010001"),
        ("O{yyyymmdd}{seq:3}", dt.date(2026, 11, 22), 7, None, "O20261122007"),
        ("F-{customer_id}-{yyyy}{seq:3}", dt.date(2026, 1, 2), 12, "C-2026-7", "F-C-2026-7-2026012"),
    ],
)
def test_id_patterns_render_and_match(
    pattern: str, date: dt.date, seq: int, cid: str | None, expected: str
) -> None:
    p = IdPattern.parse(pattern)
    assert p.render(date, seq, cid) == expected
    assert p.match(expected) == (p.scope(date, cid), seq)
    assert p.scope_customer(p.scope(date, cid)) == cid


@pytest.mark.parametrize("pattern", ["C{yyyy}{seq:6}", "FLLW{customer_id}{seq:4}", "{seq:3}-X{yy}"])
def test_highest_sequence_per_scope_found_in_one_search_agrees_with_matching_each_id(pattern: str) -> None:
    import random

    p = IdPattern.parse(pattern)
    rng = random.Random(pattern)
    ids = sorted(
        {
            p.render(
                dt.date(rng.choice([2024, 2025]), 1, 1), rng.randint(1, 999), f"C{rng.randint(1, 30):03d}"
            )
            for _ in range(3000)
        }
    )
    rng.shuffle(ids)
    one_by_one: dict[str, int] = {}
    for scope, seq in (p.match(i) for i in ids):  # type: ignore[misc]
        one_by_one[scope] = max(seq, one_by_one.get(scope, 0))
    assert p.highest(ids) == one_by_one
    assert p.highest([*ids, "oops"]) is None  # one ID the pattern did not write: matched one by one
    assert p.highest([*ids[:5], ids[5] + "\n" + ids[6]]) is None


def test_ids_never_reuse_numbers_and_keep_existing_ones() -> None:
    book = make_book(
        customers=[
            {**OK_CUSTOMER, "customer_id": "C2026000005"},
            {**OK_CUSTOMER, "customer_id": None, "name": "乙公司"},
            {**OK_CUSTOMER, "customer_id": "C2026000005", "name": "丙公司"},
            {**OK_CUSTOMER, "customer_id": "X-1", "name": "丁公司"},
        ]
    )
    # The state remembers that C2026000009 was handed out before (its row was deleted since).
    step = run_id_step(book, {"customers:C2026#": 9}, dt.date(2026, 11, 22))
    assert [(row, value) for _, row, _, value in step.writes] == [(3, "C2026000010")]
    assert {i.code for i in step.issues} == {"duplicate-id", "malformed-id"}
    assert step.high_water["customers:C2026#"] == 10


def test_children_get_customer_ids_by_name_then_their_own_ids() -> None:
    book = make_book(
        customers=[{**OK_CUSTOMER, "customer_id": None, "name": "华信科技（上海）有限公司"}],
        followups=[{"customer_name": "上海华信科技有限公司", "content": "电话"}],
    )
    step = run_id_step(book, {}, dt.date(2026, 11, 22))
    writes = {(sheet, column): value for sheet, _, column, value in step.writes}
    assert writes[("customers", "customer_id")] == "C2026000001"
    assert writes[("followups", "customer_id")] == "C2026000001"
    assert writes[("followups", "followup_id")] == "FLLWC20260000010001"


def test_ids_go_into_new_columns_not_into_arrays_shared_with_another_frame() -> None:
    """The ID step writes its frames' columns anew: a frame sharing its arrays with this one (a
    shallow copy, as a refresh's side step holds) keeps its blanks."""
    import copy

    book = make_book(
        customers=[{**OK_CUSTOMER, "customer_id": None, "name": "华信科技（上海）有限公司"}],
        followups=[{"customer_name": "上海华信科技有限公司", "content": "电话"}],
    )
    mine = copy.copy(book)
    mine.tables = {k: copy.copy(t) for k, t in book.tables.items()}
    for t in mine.tables.values():
        t.data = t.data.copy(deep=False)
    run_id_step(mine, {}, dt.date(2026, 11, 22))
    assert mine.tables["followups"].data["followup_id"].notna().all()
    assert book.tables["customers"].data["customer_id"].isna().all()
    assert book.tables["followups"].data[["customer_id", "followup_id"]].isna().all().all()


def test_bad_pattern_is_a_clear_error() -> None:
    from crmbook.errors import InputError

    with pytest.raises(InputError, match="seq"):
        IdPattern.parse("C{yyyy}")
    with pytest.raises(InputError, match="unknown token"):
        IdPattern.parse("C{year}{seq:4}")


def test_text_cells_matching_maps_hits_back_to_their_rows() -> None:
    import re

    from crmbook.validate import ColumnText

    column = pd.Series(
        [
            "abc",
            None,
            1234567890123.0,
            "x 1234567890123",
            dt.date(2026, 1, 1),
            "",
            "9999999999999 and 8888888888888",
        ],
        index=[2, 3, 4, 5, 6, 7, 9],
        dtype=object,
    )
    hits = ColumnText.of(column).matching(re.compile(r"\d{13}"))
    assert hits == [(5, "x 1234567890123"), (9, "9999999999999 and 8888888888888")]


def test_dates_pandas_cannot_hold_become_missing_in_the_typed_view() -> None:
    from crmbook.typed import to_datetime

    def typed(values: list[object]) -> list[object]:
        return [None if pd.isna(v) else v.date() for v in to_datetime(pd.Series(values, dtype=object))]

    fine = [dt.date(2024, 5, 1), None, dt.date(2262, 4, 10)]
    assert typed(fine) == fine  # all inside pandas' years: converted as they are
    assert typed([dt.date(1600, 1, 1), dt.date(2024, 5, 1), dt.date(2300, 1, 1)]) == [
        None,
        dt.date(2024, 5, 1),
        None,
    ]
    mixed = [dt.datetime(2024, 5, 1, 9), dt.date(2024, 5, 2), dt.date(2263, 1, 1), "2024-05-03"]
    assert typed(mixed) == [dt.date(2024, 5, 1), dt.date(2024, 5, 2), None, dt.date(2024, 5, 3)]


_CELL_TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from([1, 2.5, True, dt.date(2026, 1, 2)]),
    st.text(
        alphabet=["a", "中", " ", "\u3000", "\n", "\t", "\xa0", "\x1c", "\u2028", "\x85", "9"], max_size=5
    ),
)


@given(st.lists(_CELL_TEXT, max_size=8))
def test_text_cells_matching_finds_the_cells_a_search_per_cell_finds(values: list[object]) -> None:
    import re

    from crmbook.validate import ColumnText

    column = pd.Series(values, index=range(2, 2 + len(values)), dtype=object)
    pattern = re.compile(r"\d|中 ")
    expected = [(r, v) for r, v in column.items() if type(v) is str and pattern.search(v)]
    assert ColumnText.of(column).matching(pattern) == expected
    assert ("\u3000" in ColumnText.of(column).joined) == any(type(v) is str and "\u3000" in v for v in values)


def test_a_full_scope_grows_a_digit_and_keeps_ids_unique_across_refreshes() -> None:
    """O{yyyymmdd}{seq:3} holds 999 deals a day: the 1,000th gets O202611221000, never no ID."""
    day = dt.date(2026, 11, 22)
    existing = [{"opportunity_id": f"O20261122{n:03d}", "name": f"d{n}"} for n in range(1, 1000)]
    new = [{"opportunity_id": None, "name": f"new{n}"} for n in range(3)]
    book = make_book(opportunities=existing + new)
    step = run_id_step(book, {}, day)
    assert [v for *_, v in step.writes] == ["O202611221000", "O202611221001", "O202611221002"]
    assert [(i.code, i.level, i.row) for i in step.issues] == [("id-grown", "info", 1001)]
    assert step.high_water["opportunities:O20261122#"] == 1002
    # The next refresh: the grown IDs follow the pattern, and the highest is the widest.
    later = make_book(
        opportunities=existing
        + [{"opportunity_id": v, "name": f"new{n}"} for n, (*_, v) in enumerate(step.writes)]
        + [{"opportunity_id": None, "name": "one more"}]
    )
    again = run_id_step(later, {}, day)
    assert [v for *_, v in again.writes] == ["O202611221003"]
    assert [i.code for i in again.issues] == ["id-grown"]  # this refresh numbered past the width too
    # The high-water mark alone (the grown rows deleted since) keeps numbers from being reused.
    deleted = make_book(opportunities=[*existing, {"opportunity_id": None, "name": "after delete"}])
    assert [v for *_, v in run_id_step(deleted, {"opportunities:O20261122#": 1003}, day).writes] == [
        "O202611221004"
    ]


def test_a_grown_sequence_after_a_customer_id_never_repeats_an_id() -> None:
    """FLLW{customer_id}{seq:4}: FLLW + C1 + 10000 reads like FLLW + C11 + 0000; both stay unique."""
    customers = [
        {**OK_CUSTOMER, "customer_id": "C1", "name": "甲公司"},
        {**OK_CUSTOMER, "customer_id": "C11", "name": "乙公司"},
    ]
    followups = [
        {"followup_id": f"FLLWC1{n:04d}", "customer_id": "C1", "content": "x"} for n in range(1, 10000)
    ]
    followups += [{"followup_id": "FLLWC110000", "customer_id": "C11", "content": "x"}]
    followups += [{"customer_id": "C1", "content": "x"}, {"customer_id": "C11", "content": "x"}]
    book = make_book(customers=customers, followups=followups)
    step = run_id_step(book, {}, dt.date(2026, 11, 22))
    new = [v for key, _, col, v in step.writes if col == "followup_id"]
    existing = {f["followup_id"] for f in followups if f.get("followup_id")}
    assert len(new) == 2 and not set(new) & existing and len(set(new)) == 2
    assert new[0].startswith("FLLWC1") and len(new[0]) == len("FLLWC1") + 5


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("店铺编码 S201607011234566", False),  # a shop code: the digit run (Luhn-valid) follows a letter
        ("S20160701123456 / S201607019876543", False),
        ("订单号 SO-6222021234567890128", False),  # inside a code with letters
        ("6222021234567890128abc", False),
        ("流水 2016070112345678", False),  # starts like no card (a date), whatever its check digit
        ("卡号 6222021234567890127", False),  # Luhn check fails
        ("卡号6222021234567890128。", True),  # bounded by Chinese text
        ("付款卡：6222021234567890128，已核对", True),
        ("4111111111111111", True),
    ],
)
def test_bank_card_is_a_luhn_valid_digit_run_outside_codes(text: str, card: bool) -> None:
    book = make_book(customers=[{**OK_CUSTOMER, "notes": text}])
    assert bool(codes(book, "sensitive-bank-card")) is card


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("法人身份证11010519491231002X", True),
        ("身份证号：110105194912310021 已删", False),  # the checksum does not fit
        ("编号 911010519491231002X", False),  # part of a longer digit run
        ("11010519491231002X1", False),
        ("S2016070112345678901", False),  # a shop code's 19 digits are no ID number
    ],
)
def test_national_id_is_a_checksum_valid_run_bounded_by_non_digits(text: str, found: bool) -> None:
    book = make_book(customers=[{**OK_CUSTOMER, "notes": text}])
    assert bool(codes(book, "sensitive-id-number")) is found


def _contact(n: int, customer: str = "C2026000001", primary: str | None = None) -> dict[str, object]:
    return {"customer_id": customer, "name": f"联系人{n}", "mobile": f"1390013900{n}", "primary": primary}


def test_a_single_contact_is_the_primary_contact_and_none_of_several_is_one_warning() -> None:
    customers = [OK_CUSTOMER, {**OK_CUSTOMER, "customer_id": "C2026000002", "name": "乙公司"}]
    imported = [
        _contact(1),
        _contact(2, "C2026000002"),
        _contact(3, "C2026000002"),
        _contact(4, "C2026000002"),
    ]
    book = make_book(customers=customers, contacts=imported)
    assert codes(book, "primary-contact-count") == []
    assert codes(book, "no-primary-contact") == [(3, "primary")]  # once, on the customer's first contact
    issue = next(i for i in validate(book) if i.code == "no-primary-contact")
    assert "3" in issue.message("en") and "C2026000002" in issue.message("zh")
    two_marked = [_contact(1, primary="是"), _contact(2, primary="是"), _contact(3, primary="否")]
    assert codes(make_book(customers=[OK_CUSTOMER], contacts=two_marked), "primary-contact-count") == [
        (2, "primary"),
        (3, "primary"),
    ]


def test_a_sheet_without_any_way_to_reach_column_flags_no_record() -> None:
    """A rep file every phone, e-mail and WeChat column was left out of (crmbook split --redact): the
    rep has nowhere to type one, so no record is flagged; with one such column back, they are."""
    no_phone = {**OK_CUSTOMER, "phone": None}
    customers = [{**no_phone, "customer_id": "C1"}, {**no_phone, "customer_id": "C2", "name": "乙"}]
    contacts = [{"customer_id": "C2", "name": "王工"}]

    def without(book: Any, keep: str | None = None) -> Any:
        for key in ("customers", "contacts"):
            table = book.tables[key]
            for column in table.spec.reach:
                if column != keep and column in table.columns:
                    del table.columns[column]
                    table.data = table.data.drop(columns=column)
        return book

    assert codes(without(make_book(customers=customers, contacts=contacts)), "no-way-to-reach") == []
    kept = without(make_book(customers=customers, contacts=contacts), keep="email")
    assert len(codes(kept, "no-way-to-reach")) == 3


def test_a_way_to_reach_is_any_phone_email_or_wechat_the_customer_or_its_contacts_have() -> None:
    no_phone = {**OK_CUSTOMER, "phone": None}
    customers = [
        {**no_phone, "customer_id": "C1", "email": "hi@vista.cn"},  # e-mail only
        {**no_phone, "customer_id": "C2", "name": "乙"},  # its contact's WeChat only
        {**no_phone, "customer_id": "C3", "name": "丙"},  # nothing anywhere
        {**no_phone, "customer_id": "C4", "name": "丁"},  # a contact with nothing either
    ]
    contacts = [
        {"customer_id": "C2", "name": "王工", "wechat": "wx_wang"},
        {"customer_id": "C4", "name": "李工"},
    ]
    book = make_book(customers=customers, contacts=contacts)
    assert codes(book, "missing-required") == []
    found = [(i.sheet, i.row, i.column) for i in validate(book) if i.code == "no-way-to-reach"]
    assert found == [("客户", 4, "phone"), ("客户", 5, "phone"), ("联系人", 3, "mobile")]
    issue = next(i for i in validate(book) if i.code == "no-way-to-reach")
    assert "邮箱" in issue.message("zh") and "WeChat" in make_book(
        customers=customers, contacts=contacts, lang="en"
    ).tables["contacts"].spec.column("wechat").label("en")


def test_the_settings_sheet_makes_fields_required_or_optional() -> None:
    from crmbook.book import Settings

    def settings(required: str = "", optional: str = "") -> Settings:
        s = Settings.defaults("zh")
        s.values.update(required_fields=required, optional_fields=optional)
        return s

    customers = [{**OK_CUSTOMER, "phone": None}]
    followups = [{"customer_id": "C2026000001", "content": None}]
    plain = make_book(customers=customers, followups=followups)
    assert {i.code for i in validate(plain)} >= {"no-way-to-reach", "missing-required"}
    relaxed = make_book(
        customers=customers,
        followups=followups,
        settings=settings(optional="客户.联系方式；跟进记录.跟进内容"),
    )
    assert {i.code for i in validate(relaxed)} & {"no-way-to-reach", "missing-required"} == set()
    english = make_book(customers=customers, settings=settings(optional="Customers.Way to reach"))
    assert codes(english, "no-way-to-reach") == []
    stricter = make_book(customers=[OK_CUSTOMER], settings=settings(required="客户.所属行业, 邮箱"))
    assert codes(stricter, "missing-required") == [(2, "industry"), (2, "email")]
    unknown = make_book(customers=[OK_CUSTOMER], settings=settings(required="客户.不存在的列"))
    [issue] = [i for i in validate(unknown) if i.code == "unknown-field-setting"]
    assert issue.value == "客户.不存在的列" and issue.sheet == "设置"


def test_date_tokens_are_the_day_the_id_is_assigned_for_imported_records_too() -> None:
    """An imported deal closed in 2024 is numbered on the import day, like a deal typed today."""
    from crmbook.ids import assign_sheet_ids

    old = {"name": "2024 年项目", "close_date": dt.date(2024, 3, 5), "expected_close": dt.date(2024, 3, 1)}
    book = make_book(opportunities=[old, {"name": "今天的项目"}])
    step = assign_sheet_ids(book, "opportunities", {}, dt.date(2026, 11, 22))
    assert [v for *_, v in step.writes] == ["O20261122001", "O20261122002"]
