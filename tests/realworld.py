"""A "real-world" book: what a team's hand-kept ledger looks like after an import.

Built the way people keep such files, not the way crmbook writes them:

* firms and person customers mixed; people known only by surname and honorific (王先生, 李女士,
  张总, Mr. Wang, Ms. Li) and placeholders (客户1, 未知, test) — none of them sharing a phone,
  e-mail or WeChat except the planted real duplicates;
* real duplicates with evidence: the same firm written with the province before the city, with
  another industry word (信息技术 / 科技 / 网络科技), or by its English or pinyin name, each pair
  sharing a phone or an e-mail; and branches and same-brand firms in other cities that must stay apart;
* shop codes (S20160701xxxxx, some with a valid Luhn digit run) and order numbers in notes and
  contract numbers, plus exactly one real card number and one real national ID number;
* contacts imported without a primary flag (most customers have one contact, some several);
* customers reachable only by e-mail, or only by their contact's WeChat (no phone anywhere);
* list values outside the lists in bulk (IT/互联网, 交通运输, 百度推广, 抖音);
* follow-up times without a year ("3月5日 14:30");
* 10,000 deals without IDs, all numbered on one day.

:data:`PLANTED` says what a correct refresh must find.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmbook.template import build_workbook, workbook_bytes

TODAY = dt.date(2026, 11, 22)
DEALS = 10_000

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
HONORIFICS = ["先生", "女士", "总", "经理", "老板", "姐", "哥"]
LATIN_HONORIFICS = ["Mr. {}", "Ms. {}", "Mrs {}", "Mr {}"]
PINYIN_SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"]
PLACEHOLDERS = ["客户1", "客户2", "客户3", "未知", "未知客户", "test", "测试", "暂无", "个人", "无"]
TRADES = [
    "宏达",
    "鑫源",
    "恒通",
    "华信",
    "瑞丰",
    "盛泰",
    "永康",
    "智联",
    "创远",
    "安信",
    "泰和",
    "天成",
    "金诚",
    "博远",
    "嘉禾",
    "明辉",
    "国盛",
    "中科",
    "新锐",
    "远航",
]
CITY_NAMES = ["上海", "北京", "深圳", "广州", "杭州", "苏州", "南京", "成都", "武汉", "西安"]
WORDS = ["科技", "贸易", "机械设备", "物流", "医疗器械", "建材", "化工", "食品", "印刷", "包装"]
LEGAL = ["有限公司", "股份有限公司", "有限责任公司"]
INDUSTRY_IN_LIST = ["制造业", "信息技术", "批发零售", "物流运输", "医疗健康"]
INDUSTRY_OFF_LIST = [("IT/互联网", 56), ("交通运输", 31), ("电子商务", 12)]
SOURCE_OFF_LIST = [("百度推广", 44), ("抖音", 21), ("朋友介绍", 9)]

# Same customer twice: (first name, second name); both records share a phone (or an e-mail).
REAL_DUPLICATES = [
    ("广东省深圳市华信网络科技有限公司", "深圳市华信网络科技有限公司"),  # province before the city
    ("浙江杭州宏达贸易有限公司", "杭州宏达贸易有限公司"),
    ("上海智联信息技术有限公司", "上海智联科技有限公司"),  # industry word variants
    ("北京博远网络科技有限公司", "北京博远信息技术有限公司"),
    ("苏州瑞丰科技有限公司", "Suzhou Ruifeng Technology Co., Ltd."),  # English / pinyin name
    ("深圳市嘉禾电子科技有限公司", "Jiahe Electronics (Shenzhen) Co., Ltd."),
    ("成都天成医疗器械有限公司", "Chengdu Tiancheng Medical Devices Co., Ltd."),
]
# Must stay apart: a branch of its parent, the same brand in another city (their own phones).
APART = [
    ("上海明辉贸易有限公司", "上海明辉贸易有限公司北京分公司"),
    ("南京国盛建材有限公司", "武汉国盛建材有限公司"),
    ("杭州新锐科技有限公司", "成都新锐科技有限公司"),
]
# Same person customer twice, with a phone in common (the only real evidence).
PERSON_DUPLICATES = [("王先生", "王先生"), ("李女士", "李女士"), ("Mr. Zhang", "Mr. Zhang")]

# A real card number (Luhn-valid, 16 digits) and a real national ID number (valid checksum).
REAL_CARD = "6222020200112233446"
REAL_NATIONAL_ID = "11010519491231002X"


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _mobile(i: int) -> str:
    return f"13{(i * 7919) % 10:d}{(10_000_000 + i * 104_729) % 100_000_000:08d}"


def _shop_code(rng: np.random.Generator, luhn_valid: bool) -> str:
    body = "20160701" + "".join(str(d) for d in rng.integers(0, 10, size=5))
    return "S" + (body + _luhn_digit(body) if luhn_valid else body + str(int(rng.integers(0, 10))))


def _customers(rng: np.random.Generator) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    planted: dict[str, Any] = {"duplicate_pairs": [], "apart": []}

    def add(**cells: Any) -> int:
        cells.setdefault("phone", _mobile(len(rows) + 1))
        cells.setdefault("owner", ["张伟", "李娜", "王强"][len(rows) % 3])
        cells.setdefault("status", "潜在客户")
        cells.setdefault("level", "C")
        cells.setdefault("created", TODAY - dt.timedelta(days=30 + len(rows) % 300))
        rows.append(cells)
        return len(rows) - 1

    industries = [v for v, n in INDUSTRY_OFF_LIST for _ in range(n)]
    sources = [v for v, n in SOURCE_OFF_LIST for _ in range(n)]
    for i in range(240):  # plain firms, distinct names
        trade = TRADES[i % 20] + "华信泰达恒瑞丰盛鑫宏远创智联通安康永"[i // 20 % 18]
        name = f"{CITY_NAMES[i % 10]}{trade}{WORDS[i // 7 % 10]}{LEGAL[i % 3]}"
        add(
            name=name,
            customer_type="企业客户",
            industry=industries[i] if i < len(industries) else INDUSTRY_IN_LIST[i % 5],
            source=sources[i] if i < len(sources) else "行业展会",
            email=f"sales{i}@firm{i}.com.cn",
            notes=f"店铺编码 {_shop_code(rng, luhn_valid=i % 2 == 0)}" if i % 3 == 0 else None,
        )
    for a, b in REAL_DUPLICATES:
        ra = add(name=a, customer_type="企业客户", industry="信息技术", source="行业展会")
        rb = add(name=b, customer_type="企业客户", industry="信息技术", phone=rows[ra]["phone"])
        planted["duplicate_pairs"].append((ra, rb))
    for a, b in APART:
        ra = add(name=a, customer_type="企业客户", industry="批发零售")
        rb = add(name=b, customer_type="企业客户", industry="批发零售")
        planted["apart"].append((ra, rb))
    for i in range(90):  # people known by surname and honorific; surnames shared many times over
        if i % 6 == 5:
            name = LATIN_HONORIFICS[i % 4].format(PINYIN_SURNAMES[i % 10])
        else:
            name = SURNAMES[i % 8] + HONORIFICS[i % 7]
        add(name=name, customer_type="个人客户", source="客户转介绍", email=f"p{i}@qq.com")
    for a, b in PERSON_DUPLICATES:
        ra = add(name=a, customer_type="个人客户")
        rb = add(name=b, customer_type="个人客户", phone=rows[ra]["phone"])
        planted["duplicate_pairs"].append((ra, rb))
    for name in PLACEHOLDERS * 2:  # placeholders, twice each
        add(name=name, customer_type="个人客户")
    # No phone: reachable by e-mail only, or by the contact's WeChat only.
    planted["email_only"] = [
        add(name=f"{CITY_NAMES[i % 10]}远景{WORDS[i % 10]}工作室{i}", phone=None, email=f"hi@vista{i}.cn")
        for i in range(25)
    ]
    planted["wechat_only"] = [
        add(name=f"{CITY_NAMES[i % 10]}小满{WORDS[i % 10]}经营部{i}", phone=None) for i in range(15)
    ]
    planted["unreachable"] = [add(name="杭州无名食品商行", phone=None)]
    planted["card_row"] = add(name="南京晨光印刷有限公司", notes=f"付款卡号{REAL_CARD}")
    planted["id_row"] = add(name="西安秦岭食品有限公司", notes=f"法人身份证{REAL_NATIONAL_ID}")
    for i, row in enumerate(rows):  # IDs from an earlier refresh on all but the newest 60 rows
        row["customer_id"] = f"C2026{i + 1:06d}" if i < len(rows) - 60 else None
    return rows, planted


def _contacts(customers: list[dict[str, Any]], planted: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    wechat_only = set(planted["wechat_only"])
    for i, c in enumerate(customers):
        n = 3 if i % 11 == 0 else 1
        if i in set(planted["email_only"]) | set(planted["unreachable"]):
            continue
        for k in range(n):
            ref = {"customer_id": c["customer_id"]} if c["customer_id"] else {"customer_name": c["name"]}
            out.append(
                {
                    **ref,
                    "name": SURNAMES[(i + k) % 20] + "经理" if k else SURNAMES[i % 20] + "工",
                    "mobile": None if i in wechat_only else _mobile(50_000 + i * 3 + k),
                    "wechat": f"wx_shop{i}" if i in wechat_only else None,
                    "title": "采购",
                }
            )
    return out


def _followups(rng: np.random.Generator, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    with_ids = [c for c in customers if c["customer_id"]]
    for i in range(1_500):
        c = with_ids[i % len(with_ids)]
        no_year = i % 9 == 0  # 167 times typed without a year
        time: Any = (
            f"{1 + i % 11}月{1 + i % 28}日 14:30"
            if no_year
            else dt.datetime(2026, 1 + i % 10, 1 + i % 28, 9 + i % 8, 0)
        )
        out.append(
            {
                "customer_id": c["customer_id"],
                "time": time,
                "method": ["电话", "微信", "上门拜访"][i % 3] if i % 17 else "企业微信",
                "owner": c["owner"],
                "content": "沟通报价" if i % 5 else f"确认订单 {_shop_code(rng, luhn_valid=True)}",
                "contract_no": f"S20160701{10000 + i}" if i % 13 == 0 else None,
            }
        )
    return out


def _deals(customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with_ids = [c for c in customers if c["customer_id"]]
    stages = ["初步接洽", "需求分析", "方案提交", "商务谈判"]
    return [
        {
            "customer_id": with_ids[i % len(with_ids)]["customer_id"],
            "name": f"2026 年采购项目 {i + 1}",
            "stage": stages[i % 4],
            "expected_amount": 10_000 + (i % 50) * 1_000,
            "owner": with_ids[i % len(with_ids)]["owner"],
        }
        for i in range(DEALS)
    ]


def real_world_frames(seed: int = 19) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The records of each sheet, and where the planted cases are (customer positions, 0-based)."""
    rng = np.random.default_rng(seed)
    customers, planted = _customers(rng)
    frames = {
        "customers": pd.DataFrame(customers),
        "contacts": pd.DataFrame(_contacts(customers, planted)),
        "followups": pd.DataFrame(_followups(rng, customers)),
        "opportunities": pd.DataFrame(_deals(customers)),
    }
    return frames, planted


def write_real_world_book(path: Path, seed: int = 19) -> dict[str, Any]:
    """Write the real-world book to ``path``; what was planted where."""
    frames, planted = real_world_frames(seed)
    path.write_bytes(workbook_bytes(build_workbook(lang="zh", frames=frames)))
    return planted
