"""Sample data: seeded, realistic volumes, valid except for the planted problems."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from crmbook.sample import SAMPLE_PROBLEMS, generate_sample, planted_problems
from crmbook.schema import load_schema
from crmbook.values import parse_date

TODAY = dt.date(2026, 11, 22)


def test_same_seed_same_data() -> None:
    a = generate_sample(200, seed=5, today=TODAY)
    b = generate_sample(200, seed=5, today=TODAY)
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])
    c = generate_sample(200, seed=6, today=TODAY)
    assert not a["customers"]["name"].equals(c["customers"]["name"])


def test_volumes_and_dates() -> None:
    frames = generate_sample(500, seed=1, today=TODAY)
    n = len(frames["customers"])
    assert 2.5 < len(frames["contacts"]) / n < 3.6
    assert 8 < len(frames["followups"]) / n < 12
    assert 1.5 < len(frames["opportunities"]) / n < 2.5
    times = pd.to_datetime(frames["followups"]["time"])
    assert times.min() >= pd.Timestamp(TODAY - dt.timedelta(days=366))
    assert times.max() <= pd.Timestamp(TODAY + dt.timedelta(days=1))
    stages = set(frames["opportunities"]["stage"])
    assert stages == set(load_schema().lists["stage"].labels("zh"))


def test_list_values_valid_except_planted() -> None:
    frames = generate_sample(300, seed=2, today=TODAY)
    schema = load_schema()
    planted = {(p["sheet"], p["index"], p["column"]) for p in planted_problems(frames)}
    for spec in schema.sheets:
        frame = frames[spec.key]
        for col in spec.columns:
            if col.list is None or col.key not in frame:
                continue
            allowed = set(schema.lists[col.list].labels("zh"))
            for i, v in frame[col.key].items():
                if v is None or (isinstance(v, float) and pd.isna(v)) or (spec.key, i, col.key) in planted:
                    continue
                assert v in allowed, (spec.key, col.key, v)


def test_every_problem_is_planted() -> None:
    frames = generate_sample(100, seed=3, today=TODAY)
    planted = {p["code"] for p in planted_problems(frames)}
    assert planted == {p["code"] for p in SAMPLE_PROBLEMS}
    dup = next(p for p in planted_problems(frames) if p["code"] == "duplicate")
    customers = frames["customers"]
    assert customers.at[dup["index"], "name"] != customers.at[dup["of"], "name"]


def test_one_primary_contact_per_customer_except_planted() -> None:
    frames = generate_sample(200, seed=4, today=TODAY, lang="en")
    contacts = frames["contacts"].dropna(subset=["customer_id"])
    counts = contacts.groupby("customer_id")["primary"].apply(lambda s: (s == "Yes").sum())
    # The planted customer has two; a few lose theirs to a blanked reference (named only by customer name).
    assert (counts == 1).sum() >= 0.97 * len(counts)
    planted = next(p for p in planted_problems(frames) if p["code"] == "primary-contact-count")
    assert frames["contacts"].at[planted["index"], "primary"] == "Yes"
    assert set(frames["customers"]["status"].dropna()) <= {"Prospect", "Interested", "Customer", "Lost"}
    assert all(parse_date(d).ok for d in frames["customers"]["created"])
