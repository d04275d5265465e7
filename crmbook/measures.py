"""Report measures: pure pandas over a book's typed tables. Definitions in docs/measures.md.

Every measure takes a :class:`Period` (inclusive dates) and an optional rep
or team filter, and is guarded so a period with no data gives zeros or None,
never an exception.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crmbook.book import Book
from crmbook.errors import InputError
from crmbook.schema import load_schema
from crmbook.typed import typed_tables

__all__ = ["KPI_KEYS", "Measures", "Period", "compute_measures"]

STAGE_ORDER = ["initial", "needs", "proposal", "negotiation", "won"]
KPI_KEYS = (
    "new_customers",
    "followups",
    "wins",
    "won_amount",
    "conversion_rate",
    "average_deal",
    "repurchase_rate",
    "followups_per_win",
    "key_followup_rate",
    "weighted_pipeline",
)


@dataclass(frozen=True)
class Period:
    """An inclusive range of dates: a calendar month, an ISO week, a day, or any range."""

    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def month(cls, text: str) -> Period:
        try:
            year, month = (int(p) for p in text.split("-"))
            last = calendar.monthrange(year, month)[1]
        except (ValueError, calendar.IllegalMonthError) as exc:
            raise InputError(f"month {text!r}: write it as YYYY-MM, e.g. 2026-10") from exc
        return cls(dt.date(year, month, 1), dt.date(year, month, last))

    @classmethod
    def week(cls, text: str) -> Period:
        """An ISO week, ``2026-W48`` (Monday to Sunday)."""
        try:
            year, week = text.upper().split("-W")
            start = dt.date.fromisocalendar(int(year), int(week), 1)
        except ValueError as exc:
            raise InputError(f"week {text!r}: write it as YYYY-Www, e.g. 2026-W48") from exc
        return cls(start, start + dt.timedelta(days=6))

    @classmethod
    def day(cls, text: str) -> Period:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError as exc:
            raise InputError(f"day {text!r}: write it as YYYY-MM-DD, e.g. 2026-11-30") from exc
        return cls(day, day)

    @property
    def is_month(self) -> bool:
        return self.start.day == 1 and self.end == Period.month(f"{self.start:%Y-%m}").end

    @property
    def is_week(self) -> bool:
        return self.start.isoweekday() == 1 and self.end - self.start == dt.timedelta(days=6)

    @property
    def is_day(self) -> bool:
        return self.start == self.end

    @property
    def kind(self) -> str:
        """``month``, ``week``, ``day`` or ``range``: the report's title and its words for the previous period."""
        return "month" if self.is_month else "week" if self.is_week else "day" if self.is_day else "range"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The calendar month before a month; otherwise the range of the same length just before."""
        if self.is_month:
            prev_end = self.start - dt.timedelta(days=1)
            return Period.month(f"{prev_end:%Y-%m}")
        length = self.end - self.start
        return Period(self.start - length - dt.timedelta(days=1), self.start - dt.timedelta(days=1))

    def label(self) -> str:
        if self.is_month:
            return f"{self.start:%Y-%m}"
        if self.is_week:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d} ({self.start:%m-%d} – {self.end:%m-%d})"
        if self.is_day:
            return f"{self.start:%Y-%m-%d}"
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"

    def tag(self) -> str:
        """The period in a file name."""
        if self.is_month:
            return self.label()
        if self.is_week:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start:%Y-%m-%d}" if self.is_day else f"{self.start:%Y%m%d}_{self.end:%Y%m%d}"

    def months(self) -> float:
        """The period in months, each calendar month it touches counted by the share of its days covered."""
        total, day = 0.0, self.start
        while day <= self.end:
            last = dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
            stop = min(last, self.end)
            total += ((stop - day).days + 1) / last.day
            day = stop + dt.timedelta(days=1)
        return total

    def contains(self, series: pd.Series) -> pd.Series:
        return (series >= pd.Timestamp(self.start)) & (series < pd.Timestamp(self.end) + pd.Timedelta(days=1))


@dataclass
class Measures:
    period: Period
    previous: Period
    kpis: dict[str, tuple[Any, Any]]  # key -> (this period, previous period)
    funnel: pd.DataFrame
    sources: pd.DataFrame
    reps: pd.DataFrame
    status: pd.DataFrame
    level: pd.DataFrame
    industry: pd.DataFrame
    pipeline: pd.DataFrame
    overdue: pd.DataFrame
    churn: pd.DataFrame
    lost_customers: pd.DataFrame
    lost_deals: pd.DataFrame
    trend: pd.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        now = {k: v[0] for k, v in self.kpis.items()}
        return not (now["new_customers"] or now["followups"] or now["wins"]) and self.pipeline.empty


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _frames(
    book: Book, owner: str | None, team: str | None, typed: dict[str, pd.DataFrame] | None = None
) -> tuple[dict[str, pd.DataFrame], str | None, str | None]:
    """The typed tables kept for ``owner`` or ``team``, and those two as the workbook spells them."""
    typed = dict(typed) if typed is not None else typed_tables(book)
    schema = load_schema()
    for spec in schema.sheets:
        if spec.key not in typed:
            typed[spec.key] = pd.DataFrame(columns=[c.key for c in spec.columns])
    owners: set[str] | None = None
    if team:
        team = _one_of(team, [r.team for r in book.settings.reps if r.team], "team")
        owners = {r.name for r in book.settings.reps if r.team == team}
    if owner:
        named = (
            set(typed[k]["owner"].dropna().astype(str)) for k in ("customers", "followups", "opportunities")
        )
        owner = _one_of(owner, [*(r.name for r in book.settings.reps), *sorted(set().union(*named))], "rep")
        owners = {owner}
    # When a customer was last followed up is the customer's, whoever logged it (a colleague standing in,
    # the lead): the follow-up measures of customers (overdue, churn, A-customer rate) read every follow-up
    # of the customers kept, the counts of follow-ups only the rep's own.
    every = typed["followups"]
    if owners is not None:
        for key in ("customers", "followups", "opportunities"):
            typed[key] = typed[key][typed[key]["owner"].isin(owners)]
        every = every[every["customer_id"].isin(set(typed["customers"]["customer_id"].dropna()))]
    typed["customer_followups"] = every
    return typed, owner, team


def _fold(name: str) -> str:
    """A name as a person means it: spaces at either end and doubled inside, and letter case, ignored."""
    return " ".join(name.split()).casefold()


def _one_of(wanted: str, known: list[str], what: str) -> str:
    """The rep (or team) named ``wanted`` among ``known``: exactly, else ignoring spaces and letter case
    (``张伟 ``, ``john smith``); a name matching none is a mistake to say, not an empty report to write."""
    names = list(dict.fromkeys(n for n in known if n))
    if wanted in names:
        return wanted
    same = [n for n in names if _fold(n) == _fold(wanted)]
    if len(same) == 1:
        return same[0]
    listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    where = "on the Settings sheet" if what == "team" else "on the Settings sheet and in the owner columns"
    raise InputError(
        f"no {what} named {wanted!r} in this workbook; the {what}s {where}: {listed or 'none'}. "
        "Check the spelling and run again"
    )


def _wins(opps: pd.DataFrame, period: Period) -> pd.DataFrame:
    return opps[(opps["stage"] == "won") & period.contains(opps["close_date"])]


def _created(customers: pd.DataFrame) -> pd.Series:
    return customers["created"].fillna(customers["first_contact"])


def _kpis(book: Book, t: dict[str, pd.DataFrame], period: Period) -> dict[str, Any]:
    c, f, o = t["customers"], t["followups"], t["opportunities"]
    new = c[period.contains(_created(c))]
    wins = _wins(o, period)
    won_amount = float(wins["actual_amount"].fillna(0).sum())
    end = pd.Timestamp(period.end) + pd.Timedelta(days=1)
    won_ever = o[(o["stage"] == "won") & (o["close_date"] < end)].groupby("customer_id").size()
    cadence = book.settings.cadence_days("A") or 7
    key_customers = c[
        (c["level"] == "A") & (c["status"] != "lost") & (_created(c).isna() | (_created(c) < end))
    ]
    every = t["customer_followups"]
    recent = every[(every["time"] >= end - pd.Timedelta(days=cadence)) & (every["time"] < end)]
    followed = key_customers["customer_id"].isin(set(recent["customer_id"]))
    open_deals = o[~o["stage"].isin(["won", "lost"])]
    probability = open_deals["probability"].fillna(
        pd.to_numeric(
            open_deals["stage"].map(
                lambda s: book.settings.default_probability(s) if isinstance(s, str) else None
            )
        )
    )
    n_followups = int(period.contains(f["time"]).sum())
    return {
        "new_customers": len(new),
        "followups": n_followups,
        "wins": len(wins),
        "won_amount": won_amount,
        "conversion_rate": _ratio(int((new["status"] == "won").sum()), len(new)),
        "average_deal": _ratio(won_amount, len(wins)),
        "repurchase_rate": _ratio(int((won_ever >= 2).sum()), len(won_ever)),
        "followups_per_win": _ratio(n_followups, len(wins)),
        "key_followup_rate": _ratio(int(followed.sum()), len(key_customers)),
        "weighted_pipeline": float(
            (open_deals["expected_amount"].fillna(0) * probability.fillna(0) / 100).sum()
        ),
    }


def _funnel(o: pd.DataFrame) -> pd.DataFrame:
    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    reached = o["stage"].map(lambda s: rank.get(s, 0) if isinstance(s, str) else None)
    rows = []
    for i, stage in enumerate([*STAGE_ORDER, "lost"]):
        at = o[o["stage"] == stage]
        count_reached = int((reached >= i).sum()) if stage != "lost" else None
        rows.append(
            {
                "stage": stage,
                "count": len(at),
                "amount": float(at["expected_amount"].fillna(0).sum()),
                "reached": count_reached,
            }
        )
    frame = pd.DataFrame(rows)
    prev = frame["reached"].shift(1)
    frame["conversion"] = [
        None if i == 0 or s == "lost" or not p else r / p
        for i, (s, r, p) in enumerate(zip(frame["stage"], frame["reached"], prev, strict=True))
    ]
    return frame


def _distribution(series: pd.Series, list_key: str) -> pd.DataFrame:
    counts = series.fillna("").value_counts()
    keys = [i.key for i in load_schema().lists[list_key].items]
    rows = [{"key": k, "count": int(counts.get(k, 0))} for k in keys]
    rows += [{"key": k, "count": int(v)} for k, v in counts.items() if k not in keys]
    frame = pd.DataFrame(rows)
    total = frame["count"].sum()
    frame["share"] = frame["count"] / total if total else 0.0
    return frame


def compute_measures(
    book: Book,
    period: Period,
    *,
    owner: str | None = None,
    team: str | None = None,
    typed: dict[str, pd.DataFrame] | None = None,
) -> Measures:
    """The measures of ``period``; ``typed`` (from :func:`~crmbook.typed.typed_tables`, not changed) saves
    typing the book again when one report computes several scopes."""
    t, owner, team = _frames(book, owner, team, typed)
    c, f, o = t["customers"], t["followups"], t["opportunities"]
    previous = period.previous()
    now, before = _kpis(book, t, period), _kpis(book, t, previous)
    kpis = {k: (now[k], before[k]) for k in KPI_KEYS}
    kpis["weighted_pipeline"] = (now["weighted_pipeline"], None)  # a snapshot of today: no history to compare
    new = c[period.contains(_created(c))]
    wins = _wins(o, period)
    end = pd.Timestamp(period.end) + pd.Timedelta(days=1)
    cohort = c[_created(c).isna() | (_created(c) < end)]
    source_key = cohort["source"].fillna("")
    sources = (
        pd.DataFrame(
            {"key": source_key, "won": cohort["status"] == "won", "new": period.contains(_created(cohort))}
        )
        .groupby("key")
        .agg(customers=("won", "size"), new_customers=("new", "sum"), won_customers=("won", "sum"))
        .reset_index()
    )
    by_source = wins.merge(c[["customer_id", "source"]], on="customer_id", how="left")
    sources["won_amount"] = (
        sources["key"]
        .map(by_source.groupby(by_source["source"].fillna(""))["actual_amount"].sum())
        .fillna(0.0)
    )
    sources["win_rate"] = [
        _ratio(w, n) for w, n in zip(sources["won_customers"], sources["customers"], strict=True)
    ]
    months = period.months()
    rep_rows = []
    known = [r.name for r in book.settings.reps]
    named = set(f["owner"].dropna()) | set(o["owner"].dropna()) | ({owner} if owner else set())
    names = known + sorted(named - set(known))
    for name in names:
        target = (book.settings.rep_target(name) or 0) * months
        amount = float(wins.loc[wins["owner"] == name, "actual_amount"].fillna(0).sum())
        rep_rows.append(
            {
                "rep": name,
                "followups": int((period.contains(f["time"]) & (f["owner"] == name)).sum()),
                "new_customers": int((new["owner"] == name).sum()),
                "wins": int((wins["owner"] == name).sum()),
                "won_amount": amount,
                "target": target,
                "attainment": _ratio(amount, target),
            }
        )
    reps = pd.DataFrame(
        rep_rows, columns=["rep", "followups", "new_customers", "wins", "won_amount", "target", "attainment"]
    )
    # the rep, or every rep of the team, a new one without a customer yet too (their target)
    if owner or team:
        reps = reps[
            reps["rep"].isin({owner} if owner else {r.name for r in book.settings.reps if r.team == team})
        ]
    reps = reps.sort_values(["won_amount", "wins"], ascending=False).reset_index(drop=True)
    open_deals = o[~o["stage"].isin(["won", "lost"])].copy()
    open_deals["p"] = (
        open_deals["probability"]
        .fillna(
            pd.to_numeric(
                open_deals["stage"].map(
                    lambda s: book.settings.default_probability(s) if isinstance(s, str) else None
                )
            )
        )
        .fillna(0)
    )
    open_deals["month"] = open_deals["expected_close"].dt.strftime("%Y-%m").fillna("")
    pipeline = (
        open_deals.assign(weighted=open_deals["expected_amount"].fillna(0) * open_deals["p"] / 100)
        .groupby("month")
        .agg(deals=("stage", "size"), amount=("expected_amount", "sum"), weighted=("weighted", "sum"))
        .reset_index()
    )
    every = t["customer_followups"]
    last = every[every["time"] < end].groupby("customer_id")["time"].max()
    active = c[(c["status"] != "lost") & (_created(c).isna() | (_created(c) < end))].copy()
    active["last"] = active["customer_id"].map(last) if not last.empty else pd.NaT
    active["cadence"] = active["level"].map(
        lambda lv: book.settings.cadence_days(lv) if isinstance(lv, str) else None
    )
    active["cadence"] = pd.to_numeric(active["cadence"]).fillna(book.settings.cadence_days("C") or 30)
    since = active["last"].fillna(_created(active))
    active["days"] = (end - since).dt.days
    overdue_mask = active["days"] > active["cadence"]
    overdue = (
        active[overdue_mask]
        .groupby([active["level"].fillna(""), active["owner"].fillna("")])
        .size()
        .reset_index(name="customers")
    )
    overdue.columns = ["level", "owner", "customers"]
    churn_days = int(book.settings.get("churn_days") or 90)
    churn = active[active["days"] > churn_days][
        ["customer_id", "name", "level", "owner", "last", "days"]
    ].sort_values("days", ascending=False)
    lost_customers = c[(c["status"] == "lost") & period.contains(c["updated"].fillna(_created(c)))][
        ["customer_id", "name", "owner", "lost_reason"]
    ]
    lost_deals = o[(o["stage"] == "lost") & period.contains(o["close_date"])][
        ["opportunity_id", "customer_id", "name", "owner", "expected_amount", "win_loss_reason"]
    ]
    trend_rows = []
    month_start = dt.date(period.end.year, period.end.month, 1)
    for k in range(11, -1, -1):
        y, m = divmod(month_start.year * 12 + month_start.month - 1 - k, 12)
        mp = Period.month(f"{y}-{m + 1:02d}")
        w = _wins(o, mp)
        trend_rows.append(
            {
                "month": mp.label(),
                "new_customers": int(mp.contains(_created(c)).sum()),
                "followups": int(mp.contains(f["time"]).sum()),
                "wins": len(w),
                "won_amount": float(w["actual_amount"].fillna(0).sum()),
            }
        )
    return Measures(
        period=period,
        previous=previous,
        kpis=kpis,
        funnel=_funnel(o),
        sources=sources,
        reps=reps,
        status=_distribution(c["status"], "status"),
        level=_distribution(c["level"], "level"),
        industry=_distribution(c["industry"], "industry"),
        pipeline=pipeline,
        overdue=overdue,
        churn=churn,
        lost_customers=lost_customers,
        lost_deals=lost_deals,
        trend=pd.DataFrame(trend_rows),
        notes={
            "won_without_amount": int(wins["actual_amount"].isna().sum()),
            "key_alert": float(book.settings.get("key_followup_alert") or 80) / 100,
            "churn_days": churn_days,
            "scope": owner or team,  # as the workbook spells them (``--owner "john smith"``: John Smith)
        },
    )
