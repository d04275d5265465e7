"""Counts in the English lines the commands print: "1 cell", "2 cells", "1 new follow-up"."""

from __future__ import annotations

# The records of each record sheet, one and many (the sheets' English labels are the plural).
RECORD_NOUNS = {
    "customers": ("customer", "customers"),
    "contacts": ("contact", "contacts"),
    "followups": ("follow-up", "follow-ups"),
    "opportunities": ("opportunity", "opportunities"),
}


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the noun that goes with it: "1 error", "2 errors", "3 opportunities"."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def records(n: int, sheet_key: str) -> str:
    """``n`` records of the sheet ``sheet_key``: "1 follow-up", "12 opportunities"."""
    singular, plural = RECORD_NOUNS.get(sheet_key, ("record", "records"))
    return counted(n, singular, plural)
