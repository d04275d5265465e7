"""The import mapping: which source column becomes which crmbook field.

:func:`propose_mapping` guesses from header text (every label and alias in
the schema, both languages) and from the values themselves (a column of
phone numbers is a phone column whatever its header). The result is a small
TOML file the user can edit and reuse next month (:func:`save_mapping`,
:func:`load_mapping`), including value maps for list columns
("A类（重点客户）" → A, "谈判中" → 商务谈判).

A mapping file looks like::

    version = 1
    dayfirst = false

    [[tables]]
    source_sheet = "客户台账"
    target = "customers"                 # customers | contacts | followups | opportunities
    key = ["name", "phone"]              # business key for update-or-create
    unmapped = "user"                    # columns mapped to nothing: "user" columns or "notes"
    [tables.columns]
    "公司名称" = "name"
    "联系电话" = "phone"
    "客户级别" = "level"
    [tables.values.level]
    "A类（重点客户）" = "A"
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from rapidfuzz import fuzz, process

from crmbook.errors import InputError
from crmbook.legacy import LegacySheet
from crmbook.schema import Lang, Schema, SheetSpec, load_schema, normalize_label

__all__ = ["DEFAULT_KEYS", "Mapping", "TableMapping", "load_mapping", "propose_mapping", "save_mapping"]

SNIFF_SAMPLE = 200
# The business key that decides "update this record" rather than "create one", per sheet.
DEFAULT_KEYS = {
    "customers": ["name", "phone"],
    "contacts": ["customer_id", "name"],
    "followups": ["customer_id", "time", "content"],
    "opportunities": ["customer_id", "name"],
}
UNMAPPED_CHOICES = ("user", "notes", "ignore")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass
class TableMapping:
    source_sheet: str
    target: str
    columns: dict[str, str] = field(default_factory=dict)  # source header -> target column key
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column key -> source text -> list label
    key: list[str] = field(default_factory=list)  # empty: the sheet's DEFAULT_KEYS
    unmapped: str = "user"
    options: dict[str, Any] = field(
        default_factory=dict
    )  # group_by, aggregate, lookups, split … (importer's)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source_sheet": self.source_sheet,
            "target": self.target,
            "key": self.key,
            "unmapped": self.unmapped,
            "columns": self.columns,
        }
        if self.values:
            d["values"] = self.values
        d.update(self.options)
        return d


@dataclass
class Mapping:
    tables: list[TableMapping]
    dayfirst: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "dayfirst": self.dayfirst, "tables": [t.to_dict() for t in self.tables]}


# ------------------------------------------------------------------ proposal


def _header_index(spec: SheetSpec) -> dict[str, str]:
    index: dict[str, str] = {}
    for col in spec.columns:
        if col.owned and col.key != spec.id_column:
            continue
        for text in (col.zh, col.en, col.key):
            index.setdefault(normalize_label(text), col.key)
    for col in spec.columns:
        if col.owned and col.key != spec.id_column:
            continue
        for text in col.aliases:
            index.setdefault(normalize_label(text), col.key)
    return index


def _choose_target(sheet: LegacySheet, schema: Schema) -> SheetSpec:
    """The record sheet whose labels the source headers name most often (sheet name breaks ties)."""
    folded = [normalize_label(h) for h in sheet.headers if h]
    best, best_score = schema.sheet("customers"), -1.0
    for spec in schema.sheets:
        index = _header_index(spec)
        score = sum(1 for h in folded if h in index)
        if normalize_label(sheet.sheet) in spec.match_labels:
            score += 2.5
        if score > best_score:
            best, best_score = spec, score
    return best


def _sniff_column(values: list[Any]) -> str | None:
    """What a column holds, judged by its values: 'phone', 'email' or None."""
    from crmbook.phones import parse_phone_cell

    sample = [v for v in values if v is not None and str(v).strip()][:SNIFF_SAMPLE]
    if len(sample) < 3:
        return None
    emails = sum(1 for v in sample if _EMAIL.match(str(v).strip()))
    if emails / len(sample) >= 0.8:
        return "email"
    phones = sum(1 for v in sample if not isinstance(v, bool) and parse_phone_cell(v).numbers)
    if phones / len(sample) >= 0.8:
        return "phone"
    return None


_SNIFF_TARGET = {
    "customers": {"phone": "phone", "email": "email"},
    "contacts": {"phone": "mobile", "email": "email"},
}


def _value_map(values: list[Any], list_key: str, lang: Lang, schema: Schema) -> dict[str, str]:
    """Source texts of a list column that are not already a label -> the label they mean."""
    spec = schema.lists[list_key]
    lookup = spec.lookup()
    labels = spec.labels(lang)
    choices = {normalize_label(i.label(lang)): i.label(lang) for i in spec.items}
    for item in spec.items:
        for alias in (item.zh, item.en, *item.aliases):
            choices.setdefault(normalize_label(alias), item.label(lang))
    out: dict[str, str] = {}
    for v in dict.fromkeys(str(v).strip() for v in values if v is not None and str(v).strip()):
        if v in labels:
            continue
        key = lookup.get(normalize_label(v))
        if key is not None:
            out[v] = spec.item_by_key(key).label(lang)
            continue
        match = process.extractOne(
            normalize_label(v), list(choices), scorer=fuzz.partial_ratio, score_cutoff=80
        )
        if match is not None:
            out[v] = choices[match[0]]
    return out


def propose_table(sheet: LegacySheet, *, lang: Lang = "zh", schema: Schema | None = None) -> TableMapping:
    schema = schema or load_schema()
    spec = _choose_target(sheet, schema)
    index = _header_index(spec)
    columns: dict[str, str] = {}
    taken: set[str] = set()
    for c, header in enumerate(sheet.headers):
        if not header:
            continue
        key = index.get(normalize_label(header))
        if key is None:
            kind = _sniff_column([row[c] for _, row in sheet.rows[:SNIFF_SAMPLE]])
            key = _SNIFF_TARGET.get(spec.key, {}).get(kind) if kind else None
        if key is not None and key not in taken:
            columns[header] = key
            taken.add(key)
    values: dict[str, dict[str, str]] = {}
    for header, key in columns.items():
        col = spec.column(key)
        if col.list is None:
            continue
        c = sheet.headers.index(header)
        vmap = _value_map([row[c] for _, row in sheet.rows], col.list, lang, schema)
        if vmap:
            values[key] = vmap
    key_fields = list(DEFAULT_KEYS[spec.key])
    table = TableMapping(sheet.sheet, spec.key, columns, values, key=key_fields)
    for c, header in enumerate(sheet.headers):
        if (
            header
            and header not in columns
            and _looks_like_history([row[c] for _, row in sheet.rows[:SNIFF_SAMPLE]])
        ):
            table.options["history"] = {"column": header, "target": "followups"}
            break
    return table


_HISTORY_ENTRY = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?\s*[:：]")


def _looks_like_history(values: list[Any]) -> bool:
    """A column of dated notes ("2025-02-01: 更换灯泡; 2025-03-07: …"), to split into follow-ups."""
    texts = [str(v) for v in values if isinstance(v, str) and v.strip()]
    return len(texts) >= 1 and sum(1 for t in texts if _HISTORY_ENTRY.search(t)) / len(texts) >= 0.6


def _contacts_table(sheet: LegacySheet, customers: TableMapping, schema: Schema) -> TableMapping | None:
    """Contact columns on a customer ledger (联系人, 职务, 手机 …) become a contacts table of the same rows."""
    spec = schema.sheet("contacts")
    index = _header_index(spec)
    taken = set(customers.columns) | {customers.options.get("history", {}).get("column")}
    columns: dict[str, str] = {}
    for header in sheet.headers:
        if not header or header in taken:
            continue
        key = index.get(normalize_label(header))
        if key in ("name", "title", "mobile", "wechat") and key not in columns.values():
            columns[header] = key
    if "name" not in columns.values():
        return None
    phone = next((h for h, k in customers.columns.items() if k == "phone"), None)
    if "mobile" not in columns.values() and phone is not None:
        columns[phone] = "mobile"  # the ledger's one phone column is the contact's number too
    return TableMapping(
        sheet.sheet, "contacts", columns, key=list(DEFAULT_KEYS["contacts"]), unmapped="ignore"
    )


def propose_mapping(sheets: list[LegacySheet], *, lang: Lang = "zh", dayfirst: bool = False) -> Mapping:
    """A first mapping for every table of a legacy file, for the user to check and edit."""
    schema = load_schema()
    tables = []
    for sheet in sheets:
        table = propose_table(sheet, lang=lang, schema=schema)
        tables.append(table)
        if table.target == "customers":
            contacts = _contacts_table(sheet, table, schema)
            if contacts is not None:
                tables.append(contacts)
                own = [h for h in contacts.columns if h not in table.columns]
                table.options["ignore"] = [*table.options.get("ignore", []), *own]
    return Mapping(tables, dayfirst=dayfirst)


# ------------------------------------------------------------------ file


def save_mapping(mapping: Mapping, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    header = "# crmbook import mapping: edit freely, then pass it with --mapping.\n"
    out.write_text(header + tomli_w.dumps(mapping.to_dict()), encoding="utf-8")
    return out


_TABLE_FIELDS = {"source_sheet", "target", "columns", "values", "key", "unmapped"}


def parse_mapping(data: dict[str, Any], origin: str = "mapping") -> Mapping:
    schema = load_schema()
    tables = []
    for i, raw in enumerate(data.get("tables", []), start=1):
        where = f"{origin}: [[tables]] #{i}"
        try:
            target = schema.sheet(str(raw["target"]))
        except KeyError as exc:
            names = ", ".join(s.key for s in schema.sheets)
            raise InputError(f"{where}: target must be one of {names}") from exc
        if "source_sheet" not in raw:
            raise InputError(f"{where}: source_sheet is missing")
        columns = {str(k): str(v) for k, v in dict(raw.get("columns", {})).items()}
        known = {c.key for c in target.columns}
        for header, key in columns.items():
            if key not in known:
                raise InputError(
                    f"{where}: column '{header}' maps to '{key}', which {target.key} does not have"
                )
        unmapped = str(raw.get("unmapped", "user"))
        if unmapped not in UNMAPPED_CHOICES:
            raise InputError(f"{where}: unmapped must be 'user', 'notes' or 'ignore'")
        tables.append(
            TableMapping(
                source_sheet=str(raw["source_sheet"]),
                target=target.key,
                columns=columns,
                values={
                    str(k): {str(a): str(b) for a, b in dict(v).items()}
                    for k, v in dict(raw.get("values", {})).items()
                },
                key=[str(k) for k in raw.get("key", [])],
                unmapped=unmapped,
                options={k: v for k, v in raw.items() if k not in _TABLE_FIELDS},
            )
        )
    return Mapping(tables, dayfirst=bool(data.get("dayfirst", False)))


def load_mapping(path: str | os.PathLike[str]) -> Mapping:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{p}: no such mapping file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc})") from exc
    return parse_mapping(data, str(p))
