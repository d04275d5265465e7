"""Each rep's refresh takes its share of the customer features read with the canonical workbook:
the share must be what reading the rep's own customers gives, row for row."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from crmbook.dedupe import customer_features
from crmbook.reader import read_book
from crmbook.team_split import build_template, plan_split, rep_book, rep_features

TODAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 22, 17, 30)


def test_a_reps_share_of_the_features_is_what_their_own_customers_give(sample_book: Path) -> None:
    book, _ = read_book(sample_book, today=TODAY)
    plan = plan_split(book, now=NOW, customer_features=customer_features(book.tables["customers"].data))
    template = build_template(plan.book, plan.redacted)
    assert len(plan.parts) >= 2
    for part in plan.parts:
        mine = rep_book(plan, part, template, "rep.xlsx").tables["customers"].data
        share = rep_features(plan, part)
        assert share is not None
        assert share == customer_features(mine)
        assert share.rows == [int(r) for r in mine.index]


def test_no_share_when_unknown_or_a_field_they_read_is_left_out(sample_book: Path) -> None:
    book, _ = read_book(sample_book, today=TODAY)
    unknown = plan_split(book, now=NOW)
    assert rep_features(unknown, unknown.parts[0]) is None
    plan = plan_split(book, now=NOW, customer_features=customer_features(book.tables["customers"].data))
    redacted = dataclasses.replace(plan, redacted=["address"])
    assert rep_features(redacted, redacted.parts[0]) is None
