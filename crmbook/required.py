"""What every record must hold: the schema's required columns and a way to reach the customer,
as the Settings sheet changes them.

The seed templates require, on a record sheet, the columns marked ``required`` in schema.toml and
*a way to reach* the customer: one of the sheet's ``reach`` columns (customers: main phone or
e-mail, or any of its contacts' mobile, e-mail or WeChat; contacts: mobile, e-mail or WeChat).
Two settings change that, each a list of fields separated by ``;``, ``,`` or ``、``:

* 必填字段 / Required fields: these must be filled in too;
* 选填字段 / Optional fields: these may be left empty.

A field is ``Sheet.Column`` in either language (``客户.所属行业``, ``Contacts.Title``; ``!`` or ``:``
also separate them), or a column name alone for that column on every sheet that has it.
``联系方式`` / ``Way to reach`` stands for the way to reach (``客户.联系方式`` makes it optional on
the customers sheet only). A name crmbook does not know is reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crmbook.book import Settings
from crmbook.schema import Schema, normalize_label

__all__ = ["REACH", "Requirements", "requirements"]

REACH = "reach"  # the pseudo-field "a way to reach": one of the sheet's reach columns
REACH_LABELS = ("联系方式", "联系途径", "Way to reach", "Contact method", "reach")
_ITEMS = re.compile(r"[;；,，、\n]+")
_SHEET_COLUMN = re.compile(r"^(.+?)\s*[.．!！:：]\s*(.+)$")


@dataclass(frozen=True)
class Requirements:
    """Per record sheet key, the fields that must be filled in (column keys, and :data:`REACH`)."""

    fields: dict[str, frozenset[str]]
    unknown: tuple[tuple[str, str], ...] = ()  # (setting key, the text crmbook could not read)

    def of(self, sheet_key: str) -> frozenset[str]:
        return self.fields.get(sheet_key, frozenset())


def _targets(schema: Schema, item: str) -> list[tuple[str, str]] | None:
    """(sheet key, field) pairs ``item`` names, or None when it names none."""
    reach = {normalize_label(t) for t in REACH_LABELS}

    def fields_of(sheet_key: str, label: str) -> list[tuple[str, str]]:
        folded = normalize_label(label)
        spec = schema.sheet(sheet_key)
        if folded in reach and spec.reach:
            return [(sheet_key, REACH)]
        return [(sheet_key, c.key) for c in spec.columns if folded in c.match_labels and not c.owned]

    m = _SHEET_COLUMN.match(item)
    if m is not None:
        sheet = normalize_label(m.group(1))
        for spec in schema.sheets:
            if sheet in spec.match_labels:
                return fields_of(spec.key, m.group(2)) or None
    found = [pair for spec in schema.sheets for pair in fields_of(spec.key, item)]
    return found or None


def requirements(settings: Settings, schema: Schema) -> Requirements:
    """The fields each record sheet requires under ``settings`` (see the module docstring)."""
    fields = {
        spec.key: {c.key for c in spec.columns if c.required} | ({REACH} if spec.reach else set())
        for spec in schema.sheets
    }
    unknown: list[tuple[str, str]] = []
    for setting, add in (("required_fields", True), ("optional_fields", False)):
        text = settings.get(setting)
        if not text:
            continue
        for item in (i.strip() for i in _ITEMS.split(str(text))):
            if not item:
                continue
            targets = _targets(schema, item)
            if targets is None:
                unknown.append((setting, item))
                continue
            for sheet_key, key in targets:
                (fields[sheet_key].add if add else fields[sheet_key].discard)(key)
    return Requirements({k: frozenset(v) for k, v in fields.items()}, tuple(unknown))
