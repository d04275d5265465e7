"""Legacy rows to records: what one mapped source table gives for one crmbook sheet.

:func:`build_records` reads a :class:`~crmbook.legacy.LegacySheet` through a
:class:`~crmbook.mapping.TableMapping`: each mapped column is cleaned for its
field (:mod:`crmbook.clean`); constants, composed values and look-ups in other
sheets of the same file are filled in; unmapped columns become user columns or
notes; rows are grouped (``group_by``) with per-field aggregates; a visit-history
column is split into dated follow-ups. A row that gives no record says why, so
the import can list it on the rejects sheet. Pure: no workbook is touched.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmbook.clean import PHONE_SEPARATOR, clean_text, clean_value, split_history
from crmbook.errors import InputError
from crmbook.legacy import LegacySheet
from crmbook.mapping import TableMapping
from crmbook.schema import Lang, Schema, SheetSpec, normalize_label
from crmbook.values import is_blank, unit_scale

__all__ = [
    "AGGREGATES",
    "COMBINED",
    "IDENTITY",
    "Origin",
    "Record",
    "Reject",
    "build_records",
    "distinct",
    "raw_text",
]

# A record for a sheet needs at least one of these, or there is nothing to import.
IDENTITY = {
    "customers": ("name", "phone"),
    "contacts": ("name",),
    "followups": ("content",),
    "opportunities": ("name", "expected_amount", "actual_amount"),
}
AGGREGATES = ("first", "last", "sum", "min", "max", "count", "join")
COMBINED = ("phone", "mobile", "email")  # several values are combined, never overwritten
Origin = tuple[str, str, int]  # (file, sheet, row)


# ------------------------------------------------------------------ records


@dataclass(slots=True)
class Record:
    """One record for one crmbook sheet, built from one or more source rows."""

    target: str
    fields: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # user column header -> value
    origins: list[Origin] = field(default_factory=list)
    link: tuple[str, Any] | None = None  # how a child finds its customer: (kind, value)
    source_key: Any = None  # the customer's key in the source (group_by / customer_key value)
    problems: list[str] = field(default_factory=list)  # values kept as typed, with why
    group: Any = None  # the group_by value
    row_values: tuple[list[str], list[Any]] | None = None  # (headers, values) as typed, for the rejects sheet
    customer: Any = None  # a child's customer, by name, once it is linked

    def where(self) -> str:
        file, sheet, row = self.origins[0]
        more = f" (+{len(self.origins) - 1} rows)" if len(self.origins) > 1 else ""
        return f"{file} › {sheet} › row {row}{more}"


@dataclass(frozen=True)
class Reject:
    file: str
    sheet: str
    row: int
    reason: str
    raw: str  # "header=value｜header=value"


def raw_text(headers: list[str], values: list[Any]) -> str:
    parts = []
    for c, v in enumerate(values):
        if is_blank(v):
            continue
        header = headers[c] if c < len(headers) and headers[c] else f"#{c + 1}"
        parts.append(f"{header}={v}")
    return "｜".join(parts)


def _out_header(header: str, spec: SheetSpec, lang: Lang, renames: dict[str, str]) -> str:
    """The user-column header for an unmapped source column (never one the reader takes for one of
    crmbook's fields: Pipedrive's "Deal - ID" reads as 机会编号, a second ID column)."""
    from crmbook.reader import field_labels

    if header in renames:
        return renames[header]
    if normalize_label(header) in field_labels(spec):
        return f"{header}（导入）" if lang == "zh" else f"{header} (imported)"
    return header


@dataclass
class _Columns:
    """Where each part of a mapped table comes from in the source sheet."""

    mapped: dict[int, str]  # source column index -> target field
    extra: dict[int, str]  # source column index -> user column header
    history: int | None
    group: int | None
    link: tuple[str, int] | None  # (kind, source column) for a child's customer
    customer_key: int | None


def _index_of(sheet: LegacySheet, header: str, what: str) -> int:
    folded = normalize_label(header)
    for c, h in enumerate(sheet.headers):
        if h == header or (h and normalize_label(h) == folded):
            return c
    raise InputError(
        f"mapping: {what} names the column {header!r}, which {sheet.file} › {sheet.sheet} does not have "
        f"(its columns: {', '.join(h for h in sheet.headers if h)})"
    )


def _resolve_columns(tm: TableMapping, sheet: LegacySheet, spec: SheetSpec, lang: Lang) -> _Columns:
    options = tm.options
    mapped: dict[int, str] = {}
    for header, key in tm.columns.items():
        mapped[_index_of(sheet, header, f"column {header!r}")] = key
    ignore = {_index_of(sheet, h, "ignore") for h in options.get("ignore", [])}
    history = options.get("history")
    history_col = _index_of(sheet, history["column"], "history") if history else None
    group = options.get("group_by")
    group_col = _index_of(sheet, group, "group_by") if group else None
    key_header = options.get("customer_key") or (group if tm.target == "customers" else None)
    customer_key = _index_of(sheet, key_header, "customer_key") if key_header else None
    link = None
    customer = options.get("customer")
    if customer:
        link = (str(customer.get("by", "key")), _index_of(sheet, customer["column"], "customer"))
    renames = {str(k): str(v) for k, v in dict(options.get("rename", {})).items()}
    extra: dict[int, str] = {}
    if tm.unmapped != "ignore":
        for c, header in enumerate(sheet.headers):
            if c in mapped or c in ignore or c == history_col:
                continue
            if link and c == link[1]:
                continue
            name = header or (f"列{c + 1}" if lang == "zh" else f"Column {c + 1}")
            extra[c] = _out_header(name, spec, lang, renames)
    return _Columns(mapped, extra, history_col, group_col, link, customer_key)


def _scales(tm: TableMapping, sheet: LegacySheet, spec: SheetSpec, cols: _Columns) -> dict[int, int]:
    """Source column -> what one of its numbers stands for in yuan (the mapping's ``scale``)."""
    out: dict[int, int] = {}
    for header, unit in dict(tm.options.get("scale", {})).items():
        c = _index_of(sheet, str(header), "scale")
        scale = unit_scale(unit)
        if scale is None:
            raise InputError(
                f"mapping: scale of {header!r} is {unit!r}; write what one of its numbers stands for in "
                "yuan (10000, or a unit: 万, 千, k, 亿, 百万, million; 1 for yuan)"
            )
        key = cols.mapped.get(c)
        if key is None or spec.column(key).type != "amount":
            raise InputError(
                f"mapping: scale names the column {header!r}, which is not mapped to an amount of {tm.target}"
            )
        out[c] = scale
    return out


def _when_won(tm: TableMapping, spec: SheetSpec) -> dict[str, str]:
    """{field: the field it is copied from on a won row when the row has none} (the mapping's ``when_won``)."""
    copies = {str(k): str(v) for k, v in dict(tm.options.get("when_won", {})).items()}
    if not copies:
        return {}
    fields = {c.key: c for c in spec.columns}
    if "stage" not in fields:
        raise InputError(f"mapping: when_won is for deals; {tm.target} has no stage")
    for key, source in copies.items():
        if key not in fields or source not in fields or fields[key].type != fields[source].type:
            raise InputError(
                f"mapping: when_won.{key} = {source!r}: both must be fields of {tm.target} of one type "
                '(actual_amount = "expected_amount", close_date = "expected_close")'
            )
    return copies


def _outcome(tm: TableMapping, sheet: LegacySheet, spec: SheetSpec) -> int | None:
    """The source column whose won or lost decides a row's stage (the mapping's ``outcome``)."""
    header = tm.options.get("outcome")
    if not header:
        return None
    if not any(c.key == "stage" for c in spec.columns):
        raise InputError(f"mapping: outcome is for deals; {tm.target} has no stage")
    return _index_of(sheet, str(header), "outcome")


def _lookup_tables(tm: TableMapping, sheets: dict[str, LegacySheet]) -> dict[str, tuple[int, dict[str, Any]]]:
    """field -> (source column of this table to match on, {match value: looked-up value})."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for key, spec in dict(tm.options.get("lookups", {})).items():
        other = sheets.get(str(spec.get("sheet")))
        if other is None:
            raise InputError(
                f"mapping: lookups.{key} reads sheet {spec.get('sheet')!r}, which the source file does not have"
            )
        match = _index_of(other, spec["match"], f"lookups.{key}.match")
        value = _index_of(other, spec["value"], f"lookups.{key}.value")
        table: dict[str, Any] = {}
        for _, row in other.rows:
            if not is_blank(row[match]):
                table.setdefault(str(clean_text(row[match])), row[value])
        out[key] = (_index_of(sheets[tm.source_sheet], spec["on"], f"lookups.{key}.on"), table)
    return out


def _compose(template: str, headers: list[str], values: list[Any]) -> str | None:
    by_header = {h: v for h, v in zip(headers, values, strict=False) if h}
    missing = False

    def text(name: str) -> str:
        nonlocal missing
        v = by_header.get(name)
        if is_blank(v):
            missing = True
            return ""
        v = clean_text(v)
        return v.strftime("%Y-%m-%d") if isinstance(v, dt.date) else str(v)

    result = re.sub(r"\{([^{}]+)\}", lambda m: text(m.group(1)), template)
    return None if missing and not result.strip() else result.strip()


def distinct(values: list[Any]) -> Any:
    """The one distinct non-empty value, or all of them joined with ；."""
    present = list(dict.fromkeys(clean_text(v) for v in values if not is_blank(v)))
    if len(present) <= 1:
        return present[0] if present else None
    parts: list[str] = []
    for v in present:
        parts += [p for p in str(v).split(PHONE_SEPARATOR) if p not in parts]
    return PHONE_SEPARATOR.join(parts)


def _aggregate(how: str, values: list[Any]) -> Any:
    present = [v for v in values if not is_blank(v)]
    if how == "count":
        return len(present)
    if not present:
        return None
    if how == "last":
        return present[-1]
    if how == "sum":
        numbers = [v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
        return math.fsum(numbers) if len(numbers) == len(present) else present[0]
    if how in ("min", "max"):
        try:
            return (min if how == "min" else max)(present)
        except TypeError:
            return present[0]
    if how == "join":
        return PHONE_SEPARATOR.join(dict.fromkeys(str(v) for v in present))
    return present[0]


def build_records(
    tm: TableMapping,
    sheets: dict[str, LegacySheet],
    *,
    schema: Schema,
    lang: Lang,
    dayfirst: bool,
    progress: Callable[[int], None] | None = None,
    region: str = "CN",
) -> tuple[list[Record], list[Record], dict[Origin, str]]:
    """(records for ``tm.target``, follow-ups split from a history column, why rows made no record)."""
    sheet = sheets.get(tm.source_sheet)
    if sheet is None:
        raise InputError(
            f"mapping: source sheet {tm.source_sheet!r} is not in the file (it has: {', '.join(sheets)})"
        )
    spec = schema.sheet(tm.target)
    cols = _resolve_columns(tm, sheet, spec, lang)
    scales = _scales(tm, sheet, spec, cols)
    won_copies = _when_won(tm, spec)
    outcome = _outcome(tm, sheet, spec)
    stages = schema.lists["stage"].lookup() if won_copies or outcome is not None else {}
    lookups = _lookup_tables(tm, sheets)
    constants = {str(k): v for k, v in dict(tm.options.get("constants", {})).items()}
    compose = {str(k): str(v) for k, v in dict(tm.options.get("compose", {})).items()}
    aggregate = {str(k): str(v) for k, v in dict(tm.options.get("aggregate", {})).items()}
    for key, how in aggregate.items():
        if how not in AGGREGATES:
            raise InputError(f"mapping: aggregate.{key} = {how!r}; use one of {', '.join(AGGREGATES)}")
    for key in [*constants, *compose, *lookups, *aggregate]:
        if key not in {c.key for c in spec.columns}:
            raise InputError(f"mapping: {key!r} is not a field of {tm.target}")
    history = tm.options.get("history") or {}
    notes_field = "notes" if any(c.key == "notes" for c in spec.columns) else None
    skipped = {row: reason for row, reason in sheet.skipped}
    why: dict[Origin, str] = {}
    singles: list[Record] = []
    histories: list[Record] = []
    for n, (row, values) in enumerate(sheet.rows):
        if progress and n % 500 == 0:
            progress(min(500, len(sheet.rows) - n))
        origin = (sheet.file, sheet.sheet, row)
        if row in skipped:
            why[origin] = f"{skipped[row]} row"
            continue
        fields: dict[str, Any] = {}
        problems: list[str] = []
        spilled: list[tuple[str, Any]] = []  # a second value for a field that holds one: kept in the notes
        for c, key in cols.mapped.items():
            raw = values[c] if c < len(values) else None
            col = spec.column(key)
            cleaned = clean_value(
                raw,
                col,
                value_map=tm.values.get(key),
                dayfirst=dayfirst,
                lang=lang,
                schema=schema,
                region=region,
                scale=scales.get(c, 1),
            )
            if cleaned.value is None:
                continue
            if key in fields:  # two source columns for one field: both kept
                fields[key], spill = _joined(fields[key], cleaned.value, col.type)
                if spill is not None:
                    spilled.append((sheet.headers[c] or f"#{c + 1}", spill))
            else:
                fields[key] = cleaned.value
            if cleaned.problem:
                shown = clean_text(raw) if isinstance(raw, float) else raw
                problems.append(f"{sheet.headers[c]} = {shown!r}: {cleaned.problem}")
        for key, template in compose.items():
            value = _compose(template, sheet.headers, values)
            if value and key not in fields:
                fields[key] = clean_value(
                    value,
                    spec.column(key),
                    value_map=tm.values.get(key),
                    dayfirst=dayfirst,
                    lang=lang,
                    schema=schema,
                ).value
        for key, (on, table) in lookups.items():
            found = table.get(str(clean_text(values[on]))) if not is_blank(values[on]) else None
            if not is_blank(found) and key not in fields:
                fields[key] = clean_value(found, spec.column(key), lang=lang, schema=schema).value
        for key, value in constants.items():
            fields.setdefault(
                key,
                clean_value(
                    value, spec.column(key), value_map=tm.values.get(key), lang=lang, schema=schema
                ).value,
            )
        said = values[outcome] if outcome is not None and outcome < len(values) else None
        closed = stages.get(normalize_label(str(said))) if not is_blank(said) else None
        if closed in ("won", "lost"):  # the status column says the deal was won or lost
            fields["stage"] = schema.lists["stage"].item_by_key(closed).label(lang)
        if won_copies and stages.get(normalize_label(fields.get("stage") or "")) == "won":
            for key, source in won_copies.items():
                if is_blank(fields.get(key)) and not is_blank(fields.get(source)):
                    fields[key] = fields[source]  # a won deal's one amount is what it was won for
        extra: dict[str, Any] = {}
        notes: list[str] = []
        for c, header in cols.extra.items():
            raw = values[c] if c < len(values) else None
            if is_blank(raw):
                continue
            if tm.unmapped == "notes" and notes_field:
                notes.append(f"{sheet.headers[c] or header}：{clean_text(raw)}")
            else:
                extra[header] = raw.strip() if isinstance(raw, str) else raw
        for header, value in spilled:
            if notes_field:
                notes.append(f"{header}：{value}")
            else:
                extra[header] = value
        if notes and notes_field:
            fields[notes_field] = "\n".join(
                ([str(fields[notes_field])] if notes_field in fields else []) + notes
            )
        record = Record(tm.target, fields, extra, [origin], problems=problems)
        if tm.target != "customers":
            record.row_values = (sheet.headers, values)
        if cols.link is not None:
            record.link = (cols.link[0], clean_text(values[cols.link[1]]))
        if cols.customer_key is not None and not is_blank(values[cols.customer_key]):
            record.source_key = clean_text(values[cols.customer_key])
        if cols.history is not None:
            for when, text in split_history(values[cols.history], dayfirst=dayfirst):
                child = Record(
                    str(history.get("target", "followups")),
                    {"content": text, **({"time": when} if when else {})},
                    origins=[origin],
                    link=("row", origin),
                )
                for key, value in dict(history.get("constants", {})).items():
                    child.fields.setdefault(str(key), value)
                histories.append(child)
        if not any(not is_blank(fields.get(k)) for k in IDENTITY[tm.target]):
            names = " / ".join(spec.column(k).label(lang) for k in IDENTITY[tm.target])
            has = [sheet.headers[c] or f"#{c + 1}" for c, v in enumerate(values) if not is_blank(v)]
            why[origin] = f"no {names} for {spec.label(lang)}" + (
                f" (the row has only {', '.join(has)})" if has else ""
            )
            continue
        record.group = None if cols.group is None else clean_text(values[cols.group])
        singles.append(record)
    if cols.group is None:
        return singles, histories, why
    return _group(singles, aggregate, why), histories, why


def _joined(old: Any, new: Any, kind: str) -> tuple[Any, Any]:
    """(the field's value, a value left over for the notes) when two source columns fill one field.

    Phones and e-mails are joined with ；, texts with ；; a date or number keeps the first and
    leaves the other for the notes, so nothing is lost.
    """
    if kind in ("phone", "email", "text", "longtext") or (isinstance(old, str) and isinstance(new, str)):
        return distinct([old, new]), None
    return old, (None if old == new else new)


def _group(records: list[Record], aggregate: dict[str, str], why: dict[Origin, str]) -> list[Record]:
    groups: dict[Any, list[Record]] = {}
    for record in records:
        key = record.group
        if is_blank(key):
            why[record.origins[0]] = "the group_by column is empty"
            continue
        groups.setdefault(key, []).append(record)
    out = []
    for key, members in groups.items():
        first = members[0]
        fields: dict[str, Any] = {}
        for name in dict.fromkeys(k for m in members for k in [*m.fields, *aggregate]):
            values = [m.fields.get(name) for m in members]
            how = aggregate.get(name)
            value = (
                _aggregate(how, values)
                if how
                else distinct(values)
                if name in COMBINED
                else _aggregate("first", values)
            )
            if value is not None:
                fields[name] = value
        extra = {
            name: distinct([m.extra.get(name) for m in members])
            for name in dict.fromkeys(k for m in members for k in m.extra)
        }
        record = Record(
            first.target,
            fields,
            extra,
            [o for m in members for o in m.origins],
            first.link,
            first.source_key if first.source_key is not None else key,
            [p for m in members for p in m.problems],
        )
        out.append(record)
    return out
