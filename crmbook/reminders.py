"""The Reminders sheet (待跟进): who to call, grouped by owner, most overdue first.

Three kinds: customers overdue against their level's cadence, follow-ups
whose next date has passed and are not done, and churn-risk customers (no
follow-up for the churn threshold, lost customers excluded).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd

from crmbook.book import Book
from crmbook.changeset import OwnedSheet, SheetCell
from crmbook.issues import column_letter
from crmbook.issues_sheet import cell_link
from crmbook.schema import load_schema

__all__ = ["build_reminders", "reminder_rows"]

WORDS = {
    "zh": {
        "title": "待跟进",
        "headers": (
            "负责人",
            "类型",
            "客户编号",
            "客户名称",
            "等级",
            "应跟进日期",
            "逾期天数",
            "最近跟进",
            "电话",
            "位置",
        ),
        "overdue": "超期未跟进",
        "planned": "计划跟进已过期",
        "churn": "流失风险",
        "none": "目前没有需要跟进的客户。",
        "go": "查看",
    },
    "en": {
        "title": "Reminders",
        "headers": (
            "Owner",
            "Kind",
            "Customer ID",
            "Customer",
            "Level",
            "Due",
            "Days overdue",
            "Last follow-up",
            "Phone",
            "Go to",
        ),
        "overdue": "Overdue",
        "planned": "Planned follow-up missed",
        "churn": "Churn risk",
        "none": "Nobody to follow up right now.",
        "go": "open",
    },
}
KIND_ORDER = {"overdue": 0, "planned": 1, "churn": 2}


def reminder_rows(book: Book, typed: dict[str, pd.DataFrame], rollup: pd.DataFrame) -> pd.DataFrame:
    """One row per reminder: owner, kind, customer, due date, days overdue, sheet and row to link to."""
    customers = typed.get("customers")
    if customers is None or customers.empty:
        return pd.DataFrame()
    today = pd.Timestamp(book.today)
    raw = book.tables["customers"]
    base = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "name": customers["name"],
            "level": customers["level"],
            "owner": customers["owner"],
            "phone": raw.data.get("phone"),
            "last": rollup["last_followup"],
            "sheet": raw.sheet_name,
            "row": customers.index,
            "col": raw.col("name") or 1,
        },
        index=customers.index,
    )
    frames = []
    late = rollup["next_due"] < today
    # The due dates of the late rows only: assigning a longer Series to an empty frame would add rows.
    overdue = base[late].assign(kind="overdue", due=rollup["next_due"][late])
    frames.append(overdue)
    churn_days = int(book.settings.get("churn_days") or 90)
    quiet = rollup["last_followup"].fillna(customers["created"])
    churn = base[(quiet < today - pd.Timedelta(days=churn_days)) & (customers["status"] != "lost")]
    frames.append(churn.assign(kind="churn", due=quiet[churn.index] + pd.Timedelta(days=churn_days)))
    fups = typed.get("followups")
    if fups is not None and not fups.empty and "followups" in book.tables:
        missed = fups[(fups["next_date"] < today) & fups["done"].ne(True)]
        latest = missed.sort_values("next_date").groupby("customer_id").tail(1)
        lookup = base.drop_duplicates("customer_id").set_index("customer_id")
        latest = latest[latest["customer_id"].isin(lookup.index)]
        ids = latest["customer_id"]
        fsheet = book.tables["followups"]
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    **{k: ids.map(lookup[k]) for k in ("name", "level", "owner", "phone", "last")},
                    "sheet": fsheet.sheet_name,
                    "row": latest.index,
                    "col": fsheet.col("next_date") or 1,
                    "kind": "planned",
                    "due": latest["next_date"],
                }
            )
        )
    rows = (
        pd.concat([f for f in frames if not f.empty], ignore_index=True)
        if any(not f.empty for f in frames)
        else pd.DataFrame()
    )
    if rows.empty:
        return rows
    rows["days"] = (today - rows["due"]).dt.days
    rows["kind_order"] = rows["kind"].map(KIND_ORDER)
    rows["owner"] = rows["owner"].fillna("")
    return rows.sort_values(["owner", "days", "kind_order"], ascending=[True, False, True]).reset_index(
        drop=True
    )


def _plain_rows(table: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The rows of :func:`reminder_rows` as plain Python values, converted column by column: dates as
    dates (none: None), counts and positions as ints, phones as text (none: None)."""
    if table.empty:
        return iter(())
    plain = ("owner", "kind", "customer_id", "name", "level", "sheet")
    columns: dict[str, list[Any]] = {k: table[k].tolist() for k in plain}
    columns |= {k: table[k].to_numpy(dtype="datetime64[D]").tolist() for k in ("due", "last")}
    columns |= {k: [int(v) for v in table[k].tolist()] for k in ("days", "row", "col")}
    columns["phone"] = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        for v in table["phone"].tolist()
    ]
    return (dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True))


def build_reminders(book: Book, typed: dict[str, pd.DataFrame], rollup: pd.DataFrame) -> OwnedSheet:
    lang = book.lang
    words = WORDS[lang]
    level_label = {i.key: i.label(lang) for i in load_schema().lists["level"].items}
    rows: list[list[SheetCell | None]] = [
        [SheetCell(words["title"], "title")],
        [SheetCell(f"{book.today:%Y-%m-%d}", "subtitle")],
        [SheetCell(h, "header") for h in words["headers"]],
    ]
    table = reminder_rows(book, typed, rollup)
    for r in _plain_rows(table):
        rows.append(
            [
                SheetCell(r["owner"] or None),
                SheetCell(words[r["kind"]], "warning" if r["kind"] == "churn" else "text"),
                SheetCell(r["customer_id"]),
                SheetCell(r["name"]),
                SheetCell(level_label.get(r["level"], r["level"]) if isinstance(r["level"], str) else None),
                SheetCell(r["due"], "date"),
                SheetCell(r["days"], "integer"),
                SheetCell(r["last"], "date"),
                SheetCell(r["phone"]),
                SheetCell(words["go"], "link", cell_link(r["sheet"], f"{column_letter(r['col'])}{r['row']}")),
            ]
        )
    if table.empty:
        rows.append([SheetCell(words["none"])])
    return OwnedSheet(
        name=load_schema().owned_sheet_name("reminders", lang),
        rows=rows,
        widths={1: 10, 2: 16, 3: 16, 4: 30, 5: 6, 6: 12, 7: 10, 8: 12, 9: 18, 10: 8},
        freeze="A4",
        autofilter=f"A3:J{len(rows)}" if not table.empty else None,
        tab_color="ED7D31",
    )
