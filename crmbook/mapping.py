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
from crmbook.import_headers import concept_of, distinct_share, fold_header, header_scale, sniff
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
# What a deals list's status column says of a deal still open (Pipedrive: open, deleted), folded.
OPEN_WORDS = frozenset(
    normalize_label(w) for w in ("open", "deleted", "进行中", "跟进中", "未关闭", "未成交", "开放", "打开")
)


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
    # Why the proposal chose what it did, and what it is unsure of (shown by the dry run; not saved).
    reasons: list[str] = field(default_factory=list, compare=False)
    doubts: list[str] = field(default_factory=list, compare=False)

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
    """The schema's own labels and aliases of a sheet's fields (folded) -> field."""
    index: dict[str, str] = {}
    for col in spec.columns:
        if col.owned and col.key != spec.id_column:
            continue
        for text in (col.zh, col.en, col.key, *col.aliases):
            index.setdefault(fold_header(text), col.key)
    return index


@dataclass
class _Col:
    """One source column: what its header names and what its values look like."""

    index: int
    header: str
    concept: str | None
    kind: str | None
    values: list[Any]
    sniffed: bool = False  # the concept comes from the values, not the header


# Concepts that say which crmbook sheet a source sheet feeds, with their weight.
_DEAL_SIGNS = {"deal_name": 2.0, "stage": 2.0, "probability": 2.0, "expected_close": 2.0, "close_date": 1.0}
_FOLLOWUP_SIGNS = {"content": 2.0, "method": 1.0, "followup_time": 1.0, "next_plan": 1.0, "next_date": 1.0}
_CUSTOMER_SIGNS = {
    "customer": 2.0, "person": 2.0, "contact": 1.0, "phone": 2.0, "mobile": 2.0, "landline": 2.0,
    "email": 1.0, "address": 1.0, "website": 1.0, "industry": 1.0, "level": 1.0, "source": 1.0,
    "status": 1.0, "customer_type": 1.0, "wechat": 1.0, "history": 1.0,
}  # fmt: skip
_REFS = ("customer", "person", "contact")
_SHEET_HINTS = {
    "opportunities": ("成交", "销售", "订单", "合同", "签约", "deals", "sales", "orders"),
    "followups": ("跟进", "拜访", "回访", "沟通", "activities", "calls", "visits"),
}
# Fields a concept becomes on each sheet (where it is that simple).
_FIELDS = {
    "customers": {
        "address": "address", "website": "website", "industry": "industry", "source": "source",
        "level": "level", "status": "status", "customer_type": "customer_type", "owner": "owner",
        "notes": "notes", "first_contact": "first_contact", "created": "created", "email": "email",
    },
    "contacts": {"title": "title", "email": "email", "wechat": "wechat", "created": "added"},
    "followups": {
        "followup_time": "time", "content": "content", "method": "method", "owner": "owner",
        "next_plan": "next_plan", "next_date": "next_date",
    },
    "opportunities": {
        "deal_name": "name", "stage": "stage", "probability": "probability", "expected_close": "expected_close",
        "close_date": "close_date", "owner": "owner", "actual_amount": "actual_amount",
    },
}  # fmt: skip
OWNER_DISTINCT_SHARE = 0.34  # a name column with this few distinct names (over 6+ rows) is a rep's


def _columns(sheet: LegacySheet) -> list[_Col]:
    cols = []
    for c, header in enumerate(sheet.headers):
        values = [row[c] if c < len(row) else None for _, row in sheet.rows[:SNIFF_SAMPLE]]
        kind, _ = sniff(values)
        concept = concept_of(header) if header and not sheet.headerless else None
        cols.append(_Col(c, header, concept, kind, values))
    named_refs = any(col.concept in _REFS for col in cols)
    for col in cols:
        if col.concept is None and col.kind in ("phone", "email", "history"):
            col.concept, col.sniffed = col.kind, True
        elif col.concept is None and col.kind in ("person", "company") and not named_refs:
            col.concept, col.sniffed = ("person" if col.kind == "person" else "customer"), True
        elif col.concept is None and col.kind == "date" and sheet.headerless:
            col.concept, col.sniffed = "date", True
        elif col.concept == "customer" and col.kind == "person":
            col.concept = "person"  # 客户 holding 王先生, 张伟: people
        elif col.concept == "person" and col.kind == "company":
            col.concept = "customer"  # 名称 holding firms
    if sum(1 for col in cols if col.concept == "customer") > 1:
        # Two company columns: the one with the more specific header names the customer.
        first = next(col for col in cols if col.concept == "customer")
        for col in cols:
            if col.concept == "customer" and col is not first:
                col.concept = None
    return cols


def _target(sheet: LegacySheet, cols: list[_Col], schema: Schema, lang: Lang) -> tuple[str, str]:
    """(crmbook sheet, why) for a source sheet, weighing every column and the sheet's name."""
    present = {col.concept for col in cols if col.concept}
    scores = {
        "opportunities": sum(w for k, w in _DEAL_SIGNS.items() if k in present)
        + (1.5 if present & {"amount", "actual_amount"} else 0.0),
        "followups": sum(w for k, w in _FOLLOWUP_SIGNS.items() if k in present)
        + (0.5 if "date" in present else 0),
        "customers": sum(w for k, w in _CUSTOMER_SIGNS.items() if k in present),
        "contacts": 0.0,
    }
    name = fold_header(sheet.sheet)
    for spec in schema.sheets:
        if spec.key in scores and normalize_label(sheet.sheet) in spec.match_labels:
            scores[spec.key] += 3.0
    for key, hints in _SHEET_HINTS.items():
        if any(h in name for h in hints):
            scores[key] += 3.0
    if scores["contacts"] >= 3.0 and present & {"contact", "person", "first_name"}:
        return "contacts", "its name says contacts"
    if not present & set(_REFS):
        return "customers", "no column names a customer, a person or a deal's customer"
    best = max(("customers", "opportunities", "followups"), key=lambda k: (scores[k], k == "customers"))
    if best == "customers":
        return best, "its columns describe customers (names, phones, addresses)"
    signs = [col.header for col in cols if col.concept in {*_DEAL_SIGNS, *_FOLLOWUP_SIGNS, "amount"}]
    return best, "its columns " + "、".join(signs[:4]) + f" describe {schema.sheet(best).label(lang)}"


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
        if _NEGATED.search(v):
            continue  # 未成交 is not 成交: a negation is never matched loosely
        if v.isascii():  # by whole words: Salesforce's "Qualification" is not "Won" for its "on"
            found = _named_in_words(v, {c: label for c, label in choices.items() if c.isascii()})
            if found is not None:
                out[v] = found
            continue
        match = process.extractOne(
            normalize_label(v), list(choices), scorer=fuzz.partial_ratio, score_cutoff=80
        )
        if match is not None:
            out[v] = choices[match[0]]
    return out


_NEGATED = re.compile(r"^(未|不|非|没|无|否)|\b(not|non|un)", re.IGNORECASE)


def _named_in_words(text: str, choices: dict[str, str]) -> str | None:
    """The label (``choices``: folded label or alias -> label) that ``text`` names by whole words: the
    longest choice that is a run of its words, a plural read as its singular ("Negotiations Started"
    names "negotiation", "Closed Won" "won", "Negotiation/Review" "negotiation"); else the one label
    holding each of its words ("Retail" of "Wholesale and retail"); None when there is none."""
    words = re.findall(r"[a-z0-9]+", text.casefold())
    forms = [{w, w[:-1]} if len(w) > 3 and w.endswith("s") else {w} for w in words]
    longest = max(map(len, choices), default=0)
    runs: set[str] = set()
    for i in range(len(words)):
        joined = {""}
        for form in forms[i:]:
            joined = {a + b for a in joined for b in form if len(a) + len(b) <= longest}
            if not joined:  # longer than any label: a run going on can name none (a long text stays quick)
                break
            runs |= joined
    named = [c for c in choices if c in runs]
    if named:
        best = max(named, key=len)
        if len(best) == 1 and not set(words) - {best} <= _GRADE_WORDS:
            return None  # a letter names a grade ("Class A", "B") but not in "N/A" or "a lot"
        return choices[best]
    significant = [f for f, w in zip(forms, words, strict=True) if len(w) >= 4 and w != "with"]
    if not significant:
        return None
    holding = {label for c, label in choices.items() if all(any(x in c for x in f) for f in significant)}
    return holding.pop() if len(holding) == 1 else None


_GRADE_WORDS = frozenset({"class", "grade", "level", "tier", "type", "rank", "category", "customer"})


class _Proposal:
    """Builds the tables one source sheet feeds, with the reasons and doubts the dry run shows."""

    def __init__(self, sheet: LegacySheet, lang: Lang, schema: Schema) -> None:
        self.sheet, self.lang, self.schema = sheet, lang, schema
        self.cols = _columns(sheet)
        self.reasons: list[str] = []
        self.doubts: list[str] = []

    def label(self, target: str, key: str) -> str:
        return self.schema.sheet(target).column(key).label(self.lang)

    def of(self, *concepts: str) -> list[_Col]:
        return [col for col in self.cols if col.concept in concepts]

    def shown(self, target: str, key: str, header: str) -> str:
        """The field a column goes to, as the dry run names it: 预计金额, or 预计金额 ×10,000 for a column
        whose header says its numbers are in 万元."""
        scaled = header_scale(header) if self.schema.sheet(target).column(key).type == "amount" else None
        return self.label(target, key) + (f" ×{scaled[1]:,}" if scaled else "")

    def note(self, col: _Col, target: str, key: str, why: str) -> None:
        self.reasons.append(
            f"{col.header or f'#{col.index + 1}'} → {self.shown(target, key, col.header)}: {why}"
        )
        if col.sniffed:
            self.doubts.append(
                f"{col.header or f'column {col.index + 1}'} was judged by its values to be "
                f"{self.label(target, key)}; check it"
            )

    def owner_like(self, col: _Col) -> bool:
        part, n = distinct_share(col.values)
        return n >= 6 and part <= OWNER_DISTINCT_SHARE

    def fill_simple(self, table: TableMapping, taken: set[int]) -> None:
        fields = _FIELDS.get(table.target, {})
        index = _header_index(self.schema.sheet(table.target))
        for col in self.cols:
            if col.index in taken or not col.header:
                continue
            key = fields.get(col.concept or "")
            by_label = key is None
            if key is None and not self.sheet.headerless:
                key = index.get(fold_header(col.header))
            if key is None or key in table.columns.values():
                continue
            spec = self.schema.sheet(table.target).column(key)
            if spec.owned:
                continue
            if by_label and spec.list is not None and not self._fits_list(col, spec.list):
                self.reasons.append(
                    f"{col.header} → a user column: its values are not {spec.label(self.lang)} values"
                )
                continue
            table.columns[col.header] = key
            taken.add(col.index)
            if col.sniffed:
                self.note(col, table.target, key, f"its values look like {col.kind}")

    def _fits_list(self, col: _Col, list_key: str) -> bool:
        """At least half the distinct values of a column are items of the list (or close to one)."""
        values = {str(v).strip() for v in col.values if v is not None and str(v).strip()}
        if not values:
            return True
        lookup = self.schema.lists[list_key].lookup()
        known = {v for v in values if normalize_label(v) in lookup}
        known |= set(_value_map(sorted(values - known), list_key, self.lang, self.schema))
        return len(known) * 2 >= len(values)

    def value_maps(self, table: TableMapping) -> None:
        spec = self.schema.sheet(table.target)
        for header, key in table.columns.items():
            col = spec.column(key)
            if col.list is None:
                continue
            c = self.sheet.headers.index(header)
            vmap = _value_map([row[c] for _, row in self.sheet.rows], col.list, self.lang, self.schema)
            if vmap:
                table.values[key] = vmap

    # -------------------------------------------------------------- customers

    def customers(self) -> list[TableMapping]:
        table = TableMapping(self.sheet.sheet, "customers", key=list(DEFAULT_KEYS["customers"]))
        taken: set[int] = set()
        companies, people = self.of("customer"), self.of("person")
        contacts_cols = self.of("contact")
        firsts, lasts = self.of("first_name"), self.of("last_name")
        contact_name: list[_Col] = []
        person_customer = False
        if companies:
            col = companies[0]
            table.columns[col.header] = "name"
            taken.add(col.index)
            self.note(
                col,
                "customers",
                "name",
                "a company or shop column" if not col.sniffed else "its values look like company names",
            )
            for p in people:
                if self.owner_like(p) and "owner" not in table.columns.values() and not self.of("owner"):
                    part, n = distinct_share(p.values)
                    table.columns[p.header] = "owner"
                    taken.add(p.index)
                    self.note(
                        p,
                        "customers",
                        "owner",
                        f"{round(part * n)} names repeat on {n} rows: the rep, not the client",
                    )
                    self.doubts.append(
                        f"{p.header} is read as the rep (负责人) of each customer; if it is the client's contact, map it to the contacts table"
                    )
                else:
                    contact_name.append(p)
            contact_name += contacts_cols
        elif people or contacts_cols:
            col = (people or contacts_cols)[0]
            table.columns[col.header] = "name"
            taken.add(col.index)
            person_customer = True
            self.note(
                col,
                "customers",
                "name",
                "no company column; names look like people, so each row is a person customer (个人客户)",
            )
            contact_name += [c for c in (people + contacts_cols)[1:]]
        elif firsts or lasts:
            parts = (
                [c.header for c in (lasts + firsts) if c.header]
                if self.lang == "zh"
                else [c.header for c in (firsts + lasts)]
            )
            table.options["compose"] = {"name": " ".join(f"{{{h}}}" for h in parts)}
            taken |= {c.index for c in firsts + lasts}
            person_customer = True
            self.reasons.append(
                f"{' + '.join(parts)} → {self.label('customers', 'name')}: first and last name joined; each row is a person customer"
            )
        if person_customer:
            table.options["constants"] = {
                "customer_type": self.schema.lists["customer_type"].item_by_key("person").label(self.lang)
            }
        contacts: TableMapping | None = None
        if contact_name or (companies and (firsts or lasts)):
            contacts = TableMapping(
                self.sheet.sheet, "contacts", key=list(DEFAULT_KEYS["contacts"]), unmapped="ignore"
            )
            if contact_name:
                col = contact_name[0]
                contacts.columns[col.header] = "name"
                taken.add(col.index)
                self.note(col, "contacts", "name", "a person's name beside the customer's name: the contact")
            else:
                parts = [c.header for c in (firsts + lasts)]
                contacts.options["compose"] = {"name": " ".join(f"{{{h}}}" for h in parts)}
                taken |= {c.index for c in firsts + lasts}
                self.reasons.append(
                    f"{' + '.join(parts)} → {self.label('contacts', 'name')}: first and last name joined"
                )
        # Phones: every phone column feeds the customer's phone (combined); a mobile beside
        # another phone column is the contact's own.
        phones, mobiles = self.of("phone", "landline"), self.of("mobile")
        if contacts is not None and mobiles and phones:
            for col in phones:
                table.columns[col.header] = "phone"
                self.note(col, "customers", "phone", "a phone column")
            for col in mobiles[:1]:
                contacts.columns[col.header] = "mobile"
                self.note(col, "contacts", "mobile", "the contact's mobile")
        else:
            for col in sorted(phones + mobiles, key=lambda c: (c.concept != "mobile", c.index)):
                table.columns[col.header] = "phone"
                self.note(
                    col,
                    "customers",
                    "phone",
                    "a phone column"
                    + (" (several phone columns are combined)" if len(phones + mobiles) > 1 else ""),
                )
            if contacts is not None and (phones or mobiles):
                contacts.columns[(phones + mobiles)[0].header] = "mobile"
        taken |= {c.index for c in phones + mobiles}
        if contacts is not None:
            for concept, key in (("title", "title"), ("wechat", "wechat"), ("email", "email")):
                for col in self.of(concept)[:1]:
                    contacts.columns[col.header] = key
                    if concept != "email":
                        taken.add(col.index)
        histories = self.of("history")
        self.fill_simple(table, taken)
        if histories:
            col = histories[0]
            table.options["history"] = {"column": col.header, "target": "followups"}
            taken.add(col.index)
            self.reasons.append(
                f"{col.header} → {self.schema.sheet('followups').label(self.lang)}: dated notes, one follow-up per date"
            )
        for col in self.of("source_id"):
            if col.index not in taken:
                self.reasons.append(f"{col.header} → a user column: another system's number, kept as it is")
        self.value_maps(table)
        if "name" not in table.columns.values() and "compose" not in table.options:
            self.doubts.append(
                self._missing("customers", "name", "the customer's name (company, shop or person)")
            )
        out = [table]
        if contacts is not None:
            own = [h for h in contacts.columns if h not in table.columns]
            table.options["ignore"] = [*table.options.get("ignore", []), *own]
            out.append(contacts)
        return out

    def explain_rest(self, tables: list[TableMapping]) -> None:
        """One line for the columns mapped by their header alone, one for those kept as user columns."""
        said = {r.split(" → ", 1)[0] for r in self.reasons}
        by_header: list[str] = []
        used: set[str] = set()
        for table in tables:
            used |= set(table.columns) | set(table.options.get("ignore", []))
            used |= {str(table.options.get("history", {}).get("column"))}
            for header, key in table.columns.items():
                if header not in said:
                    by_header.append(f"{header} → {self.shown(table.target, key, header)}")
                    said.add(header)
            for template in dict(table.options.get("compose", {})).values():
                used |= set(re.findall(r"\{([^{}]+)\}", str(template)))
        if by_header:
            self.reasons.append("by their headers: " + ", ".join(by_header))
        main = tables[0]
        rest = [h for h in self.sheet.headers if h and h not in used and h not in said]
        if rest and main.unmapped != "ignore":
            where = self.schema.sheet(main.target).label(self.lang)
            self.reasons.append(f"kept as they are, in user columns of {where}: " + ", ".join(rest))

    def _missing(self, target: str, key: str, what: str) -> str:
        label = self.label(target, key)
        headers = "、".join(h for h in self.sheet.headers if h) or "none"
        return (
            f"no column was recognised as {label} ({what}); map one with --write-mapping: "
            f'under [tables.columns] write "<its header>" = "{key}" (the columns are: {headers})'
        )

    # -------------------------------------------------------------- children

    def child(self, target: str) -> TableMapping:
        table = TableMapping(self.sheet.sheet, target, key=list(DEFAULT_KEYS[target]))
        taken: set[int] = set()
        ref = (self.of("customer") or self.of("person") or self.of("contact"))[:1]
        for col in ref:
            table.columns[col.header] = "customer_name"
            taken.add(col.index)
            self.note(col, target, "customer_name", "names the customer; linked by name")
        amounts = self.of("amount")
        dates = self.of("date")
        if target == "opportunities":
            won = not self.of("stage") and bool(self.of("close_date") or dates)
            if won:
                won_label = self.schema.lists["stage"].item_by_key("won").label(self.lang)
                table.options["constants"] = {"stage": won_label}
                table.key = ["customer_id", "name", "close_date", "actual_amount"]
                self.reasons.append(
                    f"no stage column and a date on each row: every row is a won deal ({won_label})"
                )
                for col in amounts[:1]:
                    table.columns[col.header] = "actual_amount"
                    taken.add(col.index)
                    self.note(col, target, "actual_amount", "the amount of a won deal")
                if not self.of("close_date"):
                    for col in dates[:1]:
                        table.columns[col.header] = "close_date"
                        taken.add(col.index)
                        self.note(col, target, "close_date", "the date of a won deal")
            else:
                for col in amounts[:1]:
                    table.columns[col.header] = "expected_amount"
                    taken.add(col.index)
                    self.note(col, target, "expected_amount", "a deal's value")
                for col in self.of("close_date"):
                    if self.of("stage") and not self.of("expected_close"):
                        table.columns[col.header] = "expected_close"
                        taken.add(col.index)
                        self.note(col, target, "expected_close", "the close date of deals still open")
        if target == "followups":
            if not self.of("followup_time"):
                for col in dates[:1]:
                    table.columns[col.header] = "time"
                    taken.add(col.index)
                    self.note(col, target, "time", "the date of each follow-up")
            if not self.of("content"):
                for col in self.of("notes")[:1]:
                    table.columns[col.header] = "content"
                    taken.add(col.index)
                    self.note(col, target, "content", "the only text column of the follow-ups")
            else:
                for col in self.of("notes")[:1]:
                    table.columns[col.header] = "feedback"
                    taken.add(col.index)
        self.fill_simple(table, taken)
        self.scales(table)
        if target == "opportunities":
            self.outcome(table)
            self.when_won(table)
        self.value_maps(table)
        required = {
            "followups": ("content", "what was said"),
            "opportunities": ("name", "the deal or product"),
        }
        key, what = required[target]
        if key not in table.columns.values():
            self.doubts.append(self._missing(target, key, what))
        if not ref:
            self.doubts.append(self._missing(target, "customer_name", "which customer each row belongs to"))
        return table

    def scales(self, table: TableMapping) -> None:
        """A column whose header states its unit (金额（万元）, Amount (k)) and goes to an amount: its scale."""
        spec = self.schema.sheet(table.target)
        for header, key in table.columns.items():
            scaled = header_scale(header) if spec.column(key).type == "amount" else None
            if scaled is not None:
                table.options.setdefault("scale", {})[header] = scaled[1]
                said = [i for i, r in enumerate(self.reasons) if r.startswith(f"{header} → ")]
                at = said[-1] + 1 if said else len(self.reasons)
                self.reasons.insert(at, scale_reason(header, scaled[1], scaled[2]))  # beside its column
                col = next((c for c in self.cols if c.header == header), None)
                doubt = yuan_in_scaled_column(header, col.values if col else [], scaled[1], scaled[2])
                if doubt:
                    self.doubts.append(doubt)

    def outcome(self, table: TableMapping) -> None:
        """A deals list whose stage column says how far an open deal got and another column whether it
        was won or lost (Pipedrive's Deal - Status: open, won, lost; 状态: 进行中, 赢单, 输单): on a row
        that says won or lost, that column decides the stage."""
        if "stage" not in table.columns.values():
            return
        stages = self.schema.lists["stage"].lookup()
        for col in self.cols:
            said = {normalize_label(str(v)) for v in col.values if v is not None and str(v).strip()}
            closed = {v for v in said if stages.get(v) in ("won", "lost")}
            if col.header in table.columns or not closed or not said <= closed | OPEN_WORDS:
                continue
            table.options["outcome"] = col.header
            won, lost = (self.schema.lists["stage"].item_by_key(k).label(self.lang) for k in ("won", "lost"))
            stage = next(h for h, k in table.columns.items() if k == "stage")
            self.reasons.append(
                f"{col.header}: a row that says won is {won}, lost is {lost} (an open one keeps its {stage})"
            )
            return

    def when_won(self, table: TableMapping) -> None:
        """A deals list with a stage column and one amount column (a close date column): on its won rows
        that amount is also the actual amount, and that date the close date, as a won deal needs."""
        if "stage" not in table.columns.values():
            return
        fields = set(table.columns.values())
        copies = {}
        if "expected_amount" in fields and "actual_amount" not in fields:
            copies["actual_amount"] = "expected_amount"
        if "expected_close" in fields and self.of("close_date") and "close_date" not in fields:
            copies["close_date"] = "expected_close"
        if not copies:
            return
        table.options["when_won"] = copies
        won = self.schema.lists["stage"].item_by_key("won").label(self.lang)
        header = {v: h for h, v in table.columns.items()}
        said = [
            f"{header[source]} is also its {self.label(table.target, key)}" for key, source in copies.items()
        ]
        self.reasons.append(f"on a row whose stage is {won}: " + ", ".join(said) + " (a won deal needs it)")

    def customers_of_children(self, child: TableMapping) -> list[TableMapping]:
        """Customers (and their contacts) named on a deals or follow-ups sheet, from the same rows."""
        ref = next((h for h, k in child.columns.items() if k == "customer_name"), None)
        if ref is None:
            return []
        customers = TableMapping(
            self.sheet.sheet, "customers", {ref: "name"}, key=["name"], unmapped="ignore"
        )
        out = [customers]
        people = [c for c in self.of("person", "contact") if c.header != ref]
        if people and ref in {c.header for c in self.of("customer")}:
            contacts = TableMapping(
                self.sheet.sheet,
                "contacts",
                {people[0].header: "name"},
                key=list(DEFAULT_KEYS["contacts"]),
                unmapped="ignore",
            )
            for col in self.of("phone", "mobile")[:1]:
                contacts.columns[col.header] = "mobile"
            for col in self.of("email")[:1]:
                contacts.columns[col.header] = "email"
            out.append(contacts)
            child.options["ignore"] = [*child.options.get("ignore", []), *contacts.columns]
            self.reasons.append(
                f"{people[0].header} → {self.label('contacts', 'name')}: the person on each "
                f"{'deal' if child.target == 'opportunities' else 'follow-up'} is the customer's contact"
            )
        self.reasons.append(
            f"{ref} → {self.label('customers', 'name')}: the workbook does not know most of these "
            "customers, so they are created from these rows (one per name)"
        )
        return out


def scale_reason(header: str, scale: int, unit: str) -> str:
    """What the dry run says of a column whose numbers are in 万元 (or k …)."""
    return (
        f"{header}: its numbers are in {unit}, so 12.5 is {12.5 * scale:,.0f}; a value that states its own "
        "unit (8.8万, 3000元) is read as it says"
    )


def yuan_in_scaled_column(header: str, values: list[Any], scale: int, unit: str) -> str | None:
    """A doubt when most plain numbers of a column headed in 万元 (``scale``) look typed in yuan: as many
    of them as one unit stands for or more (125000 in a 万元 column would be 12.5亿)."""
    from crmbook.values import parse_amount

    plain = [v for v in (parse_amount(x).value for x in values if _is_plain_number(x)) if v is not None]
    big = [v for v in plain if abs(v) >= scale]
    if not plain or len(big) * 2 <= len(plain):
        return None
    return (
        f"{header} says its numbers are in {unit}, but {len(big)} of its {len(plain)} numbers are "
        f"{scale:,} or more (read as {big[0] * scale:,.0f} yuan and up): if they are yuan, set its scale "
        f'to 1 in a mapping file (scale = {{ "{header}" = 1 }}, see --write-mapping)'
    )


def _is_plain_number(value: Any) -> bool:
    """A number, or text of digits only (12.5, "1,250"): no unit of its own (8.8万 is read as it says)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == value
    return bool(re.fullmatch(r"\s*[¥￥]?\s*-?[\d,]+(\.\d+)?\s*", str(value)))


def propose_table(sheet: LegacySheet, *, lang: Lang = "zh", schema: Schema | None = None) -> TableMapping:
    """The main table proposed for one source sheet (see :func:`propose_mapping`)."""
    return propose_mapping([sheet], lang=lang).tables[0]


def propose_mapping(
    sheets: list[LegacySheet],
    *,
    lang: Lang = "zh",
    dayfirst: bool = False,
    known_customers: frozenset[str] | None = None,
) -> Mapping:
    """A first mapping for every table of a legacy file, for the user to check and edit.

    Each source sheet's target is decided by all its columns (headers through the synonym table,
    values by sniffing) and its name; a list of people with no company column is a list of person
    customers. A deals or follow-ups sheet whose customers neither the file's own customer sheet
    nor the workbook (``known_customers``: name keys) knows also creates them. Each table carries the
    reasons for its columns and the doubts the dry run shows.
    """
    from crmbook.names import name_key

    schema = load_schema()
    proposals = [(sheet, _Proposal(sheet, lang, schema)) for sheet in sheets]
    decided = [(sheet, p, *_target(sheet, p.cols, schema, lang)) for sheet, p in proposals]
    file_has_customers = any(target == "customers" for _, _, target, _ in decided)
    tables: list[TableMapping] = []
    for sheet, p, target, why in decided:
        p.reasons.append(f"sheet {sheet.sheet!r} → {schema.sheet(target).label(lang)}: {why}")
        if target == "customers":
            made = p.customers()
        else:
            child = p.child(target) if target != "contacts" else _contacts_sheet(p)
            made = [child]
            if not file_has_customers and target != "contacts":
                ref = next((h for h, k in child.columns.items() if k == "customer_name"), None)
                names = {
                    name_key(row[sheet.headers.index(ref)])
                    for _, row in sheet.rows
                    if ref and row[sheet.headers.index(ref)] not in (None, "")
                }
                known = sum(1 for n in names if n in (known_customers or frozenset()))
                if names and known < len(names) / 2:
                    made = p.customers_of_children(child) + made
        p.explain_rest(made)
        made[0].reasons, made[0].doubts = p.reasons, p.doubts
        if sheet.headerless and len(sheets) > 1 and not any(t.columns or t.options for t in made):
            continue  # a 说明 sheet of a few lines of text beside the data: not a table of records
        tables += made
    return Mapping(tables, dayfirst=dayfirst)


def _contacts_sheet(p: _Proposal) -> TableMapping:
    table = TableMapping(p.sheet.sheet, "contacts", key=list(DEFAULT_KEYS["contacts"]))
    taken: set[int] = set()
    for col in (p.of("contact") or p.of("person"))[:1]:
        table.columns[col.header] = "name"
        taken.add(col.index)
    for col in p.of("customer")[:1]:
        table.columns[col.header] = "customer_name"
        taken.add(col.index)
    for col in p.of("mobile", "phone")[:1]:
        table.columns[col.header] = "mobile"
        taken.add(col.index)
    p.fill_simple(table, taken)
    return table


# ------------------------------------------------------------------ file


def save_mapping(mapping: Mapping, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    header = "# crmbook import mapping: edit freely, then pass it with --mapping.\n"
    for table in mapping.tables:
        notes = [*table.reasons, *(f"check: {d}" for d in table.doubts)]
        if notes:
            header += f"#\n# {table.source_sheet} (why this proposal):\n" + "".join(
                f"#   {n}\n" for n in notes
            )
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
