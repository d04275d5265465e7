"""A generated Chinese customer set with known duplicates and hard non-duplicates, for dedupe.

Duplicates are written the ways people write them (legal form varied, the city in brackets,
full-width digits, traditional characters, stray spaces, the phone reformatted or missing and the
same contact person or company e-mail domain instead); hard non-duplicates are a branch office,
the same trade name in another city, and the same brand in another industry.
"""

from __future__ import annotations

import random
from itertools import combinations
from typing import Any

import pandas as pd

from crmbook.book import Book, Settings, Table
from crmbook.schema import load_schema

__all__ = ["book_of", "generate"]

CITIES = [
    "上海",
    "北京",
    "深圳",
    "广州",
    "杭州",
    "成都",
    "武汉",
    "南京",
    "苏州",
    "重庆",
    "天津",
    "西安",
    "青岛",
    "厦门",
]
CHARS = "华信恒达海川云帆南方天府精密光谷金陵山城滨海润鹭岛东盛新远宏瑞丰泰安康博雅立德中科鼎佳合兴隆凯通"
INDUSTRY = ["科技", "贸易", "电子", "物流", "软件", "机械", "化工", "食品", "医药", "建材", "教育", "咨询"]
FORMS = ["有限公司", "有限责任公司", "股份有限公司"]
TRADITIONAL = str.maketrans("华达东丰兴隆远谷电贸机药咨询", "華達東豐興隆遠穀電貿機藥諮詢")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def _company(rng: random.Random) -> dict[str, Any]:
    city = rng.choice(CITIES)
    trade = rng.choice(CHARS) + rng.choice(CHARS)
    return {
        "city": city,
        "trade": trade,
        "industry": rng.choice(INDUSTRY),
        "form": rng.choice(FORMS),
        "phone": "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)),
        "domain": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) + ".com.cn",
        "contact": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
    }


def _record(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{c['city']}{c['trade']}{c['industry']}{c['form']}",
        "phone": c["phone"],
        "email": f"sales@{c['domain']}",
        "contact": c["contact"],
    }


def _variant(c: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same company written differently (one to three changes)."""
    r = _record(c)
    changes = rng.sample(
        ["form", "bracket", "space", "traditional", "phone_format", "phone_gone", "digits"],
        k=rng.randint(1, 3),
    )
    if "form" in changes:
        r["name"] = r["name"].replace(c["form"], rng.choice([f for f in FORMS if f != c["form"]]))
    if "bracket" in changes:
        r["name"] = f"{c['trade']}{c['industry']}（{c['city']}）{c['form']}"
    if "space" in changes:
        r["name"] = " " + r["name"].replace(c["trade"], c["trade"] + " ") + "　"
    if "traditional" in changes:
        r["name"] = r["name"].translate(TRADITIONAL)
    if "phone_format" in changes:
        p = c["phone"]
        r["phone"] = rng.choice(
            [f"+86 {p[:3]} {p[3:7]} {p[7:]}", f"{p[:3]}-{p[3:7]}-{p[7:]}", f"（手机）{p}"]
        )
    if "digits" in changes:
        r["phone"] = str(r["phone"]).translate(FULLWIDTH)
    if "phone_gone" in changes:
        r["phone"] = None  # found again by the same contact person or e-mail domain
    return r


def _hard_negative(c: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Another company that looks like ``c``: a branch, the brand in another city or another industry."""
    other = _company(rng)
    kind = rng.choice(["branch", "city", "industry"])
    if kind == "branch":
        name = f"{c['city']}{c['trade']}{c['industry']}{c['form']}{rng.choice(CITIES)}分公司"
    elif kind == "city":
        name = f"{rng.choice([x for x in CITIES if x != c['city']])}{c['trade']}{c['industry']}{c['form']}"
    else:
        name = f"{c['city']}{c['trade']}{rng.choice([x for x in INDUSTRY if x != c['industry']])}{c['form']}"
    return {
        "name": name,
        "phone": other["phone"],
        "email": f"info@{other['domain']}",
        "contact": other["contact"],
    }


def generate(
    companies: int, seed: int = 7, dup_rate: float = 0.2, hard_rate: float = 0.15
) -> tuple[list[dict[str, Any]], set[tuple[int, int]]]:
    """Customer records (with ``entity``) and the true duplicate pairs (record index pairs)."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    truth: set[tuple[int, int]] = set()
    for e in range(companies):
        c = _company(rng)
        group = [len(records)]
        records.append({**_record(c), "entity": e})
        if rng.random() < dup_rate:
            for _ in range(rng.choice([1, 1, 1, 2])):
                group.append(len(records))
                records.append({**_variant(c, rng), "entity": e})
        if rng.random() < hard_rate:
            records.append({**_hard_negative(c, rng), "entity": f"hard-{e}"})
        truth |= set(combinations(group, 2))
    return records, truth


def book_of(records: list[dict[str, Any]]) -> Book:
    """A book whose customers are ``records`` (name, and any of phone, email, address, contact)."""
    schema = load_schema()
    customers = schema.sheet("customers")
    ids = [f"C{i:07d}" for i in range(len(records))]
    keys = ["customer_id", "name"] + [k for k in ("phone", "email", "address") if records and k in records[0]]
    frame = pd.DataFrame(
        {"customer_id": ids, **{k: [r[k] for r in records] for k in keys[1:]}},
        dtype=object,
    )
    frame.index = pd.RangeIndex(2, 2 + len(records), name="row")
    cols = {k: i for i, k in enumerate(keys, start=1)}
    tables = {"customers": Table(customers, customers.zh, 1, cols, {}, frame)}
    contacts = schema.sheet("contacts")
    people = [r.get("contact") for r in records]
    cframe = pd.DataFrame({"customer_id": ids, "name": people}, dtype=object)
    cframe.index = pd.RangeIndex(2, 2 + len(records), name="row")
    tables["contacts"] = Table(contacts, contacts.zh, 1, {"customer_id": 2, "name": 4}, {}, cframe)
    return Book("generated", "zh", tables, Settings.defaults(), {}, [customers.zh, contacts.zh])
