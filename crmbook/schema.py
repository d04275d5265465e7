"""The workbook schema: sheets, columns, lists and settings, loaded from
``workbook_templates/schema.toml``.

Everything that needs to know what a column is called, what type it has or
which list feeds its dropdown asks this module.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

COLUMN_TYPES = frozenset(
    [
        "id",
        "ref",
        "text",
        "longtext",
        "date",
        "datetime",
        "amount",
        "percent",
        "integer",
        "phone",
        "email",
        "url",
        "list",
        "yesno",
    ]
)

__all__ = [
    "Column",
    "ListItem",
    "ListSpec",
    "Schema",
    "SettingSpec",
    "SheetSpec",
    "load_schema",
    "normalize_label",
]


def normalize_label(text: object) -> str:
    """Fold a header or list label for matching: NFKC, no spaces, no marks, lower case.

    ``" 客户名称* "``, ``"客户名称（必填）"`` and ``"客户名称"`` all fold to the same text.
    """
    return _fold_label(str(text))


@lru_cache(maxsize=65_536)  # headers and list values repeat on every row and every run
def _fold_label(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip().lower()
    for marker in ("(必填)", "(required)", "(自动)", "(auto)"):
        s = s.replace(marker, "")
    s = s.replace("*", "").replace("＊", "")
    return "".join(ch for ch in s if not ch.isspace() and ch not in "_-:：")


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    type: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    owned: bool = False
    list: str | None = None
    width: float = 12
    hint_zh: str = ""
    hint_en: str = ""

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def hint(self, lang: Lang) -> str:
        return self.hint_zh if lang == "zh" else self.hint_en

    @property
    def match_labels(self) -> frozenset[str]:
        """Every folded header text that names this column."""
        return frozenset(normalize_label(t) for t in (self.zh, self.en, self.key, *self.aliases))


@dataclass(frozen=True)
class SheetSpec:
    key: str
    zh: str
    en: str
    table: str
    id_column: str
    columns: tuple[Column, ...]
    aliases: tuple[str, ...] = ()
    reach: tuple[str, ...] = ()  # a record needs one of these filled in (see crmbook.required)

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(f"{self.key} has no column {key!r}")

    @property
    def required_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def match_labels(self) -> frozenset[str]:
        return frozenset(normalize_label(t) for t in (self.zh, self.en, self.key, *self.aliases))


@dataclass(frozen=True)
class ListItem:
    key: str
    zh: str
    en: str
    note_zh: str = ""
    note_en: str = ""
    aliases: tuple[str, ...] = ()

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def note(self, lang: Lang) -> str:
        return self.note_zh if lang == "zh" else self.note_en


@dataclass(frozen=True)
class ListSpec:
    key: str
    zh: str
    en: str
    items: tuple[ListItem, ...]

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def labels(self, lang: Lang) -> list[str]:
        return [i.label(lang) for i in self.items]

    def item_by_key(self, key: str) -> ListItem:
        for i in self.items:
            if i.key == key:
                return i
        raise KeyError(f"list {self.key} has no item {key!r}")

    def lookup(self) -> dict[str, str]:
        """Folded label, English label or alias -> item key."""
        out: dict[str, str] = {}
        for i in self.items:
            for text in (i.key, i.zh, i.en, *i.aliases):
                out.setdefault(normalize_label(text), i.key)
        return out


@dataclass(frozen=True)
class SettingSpec:
    key: str
    zh: str
    en: str
    default: Any
    default_en: Any = None
    note_zh: str = ""
    note_en: str = ""

    def label(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def default_for(self, lang: Lang) -> Any:
        return self.default_en if (lang == "en" and self.default_en is not None) else self.default

    def note(self, lang: Lang) -> str:
        return self.note_zh if lang == "zh" else self.note_en


@dataclass(frozen=True)
class Rep:
    name: str
    team: str
    target: float


@dataclass(frozen=True)
class Schema:
    version: int
    sheets: tuple[SheetSpec, ...]
    lists: dict[str, ListSpec]
    settings: tuple[SettingSpec, ...]
    reps: tuple[Rep, ...]
    config_sheets: dict[str, dict[str, str]] = field(default_factory=dict)
    owned_sheets: dict[str, dict[str, str]] = field(default_factory=dict)
    settings_headers: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # lang -> (setting, value, note)
    reps_headers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lang -> (rep, team, target)

    def sheet(self, key: str) -> SheetSpec:
        for s in self.sheets:
            if s.key == key:
                return s
        raise KeyError(f"no record sheet {key!r}")

    def setting(self, key: str) -> SettingSpec:
        for s in self.settings:
            if s.key == key:
                return s
        raise KeyError(f"no setting {key!r}")

    def owned_sheet_name(self, key: str, lang: Lang) -> str:
        return self.owned_sheets[key][lang]

    def config_sheet_name(self, key: str, lang: Lang) -> str:
        return self.config_sheets[key][lang]


def _column(raw: dict[str, Any]) -> Column:
    hint = raw.get("hint", {})
    col = Column(
        key=raw["key"],
        zh=raw["zh"],
        en=raw["en"],
        type=raw["type"],
        aliases=tuple(raw.get("aliases", ())),
        required=bool(raw.get("required", False)),
        owned=bool(raw.get("owned", False)),
        list=raw.get("list"),
        width=float(raw.get("width", 12)),
        hint_zh=hint.get("zh", ""),
        hint_en=hint.get("en", ""),
    )
    if col.type not in COLUMN_TYPES:
        raise ValueError(f"column {col.key}: unknown type {col.type!r}")
    return col


def parse_schema(data: dict[str, Any]) -> Schema:
    """Build a :class:`Schema` from the parsed TOML document, checking references."""
    lists = {
        raw["key"]: ListSpec(
            key=raw["key"],
            zh=raw["zh"],
            en=raw["en"],
            items=tuple(
                ListItem(
                    key=i["key"],
                    zh=i["zh"],
                    en=i["en"],
                    note_zh=i.get("note_zh", ""),
                    note_en=i.get("note_en", ""),
                    aliases=tuple(i.get("aliases", ())),
                )
                for i in raw["items"]
            ),
        )
        for raw in data["lists"]
    }
    sheets = tuple(
        SheetSpec(
            key=raw["key"],
            zh=raw["zh"],
            en=raw["en"],
            table=raw["table"],
            id_column=raw["id_column"],
            aliases=tuple(raw.get("aliases", ())),
            columns=tuple(_column(c) for c in raw["columns"]),
            reach=tuple(raw.get("reach", ())),
        )
        for raw in data["sheets"]
    )
    for sheet in sheets:
        keys = [c.key for c in sheet.columns]
        if len(keys) != len(set(keys)):
            raise ValueError(f"sheet {sheet.key}: duplicate column keys")
        for c in sheet.columns:
            if c.list is not None and c.list not in lists:
                raise ValueError(f"{sheet.key}.{c.key}: unknown list {c.list!r}")
        sheet.column(sheet.id_column)
        for key in sheet.reach:
            sheet.column(key)
    settings = tuple(
        SettingSpec(
            key=key,
            zh=raw["zh"],
            en=raw["en"],
            default=raw["value"],
            default_en=raw.get("value_en"),
            note_zh=raw.get("note_zh", ""),
            note_en=raw.get("note_en", ""),
        )
        for key, raw in data["settings"].items()
    )
    reps = tuple(Rep(r["name"], r["team"], float(r["target"])) for r in data.get("reps", ()))
    return Schema(
        version=int(data["version"]),
        sheets=sheets,
        lists=lists,
        settings=settings,
        reps=reps,
        config_sheets=dict(data.get("config_sheets", {})),
        owned_sheets=dict(data.get("owned_sheets", {})),
        settings_headers={k: tuple(v) for k, v in data["settings_headers"].items()},
        reps_headers={k: tuple(v) for k, v in data["reps_headers"].items()},
    )


@cache
def load_schema() -> Schema:
    """The schema shipped with crmbook (``workbook_templates/schema.toml``)."""
    text = resources.files("workbook_templates").joinpath("schema.toml").read_text("utf-8")
    return parse_schema(tomllib.loads(text))
