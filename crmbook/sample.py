"""Seeded, realistic sample data for ``crmbook new --sample N`` and the benchmarks.

Chinese companies across cities and industries (prefixed and bracketed
region forms), individuals and public institutions; about three contacts,
ten follow-ups over the last twelve months and two opportunities per
customer; IDs following the default patterns with a few left empty, and a
handful of deliberate problems (see :data:`SAMPLE_PROBLEMS`) so every
feature has something to show. Vectorised with numpy: 100k customers (1M
follow-ups) take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from crmbook.schema import Lang, load_schema

__all__ = ["SAMPLE_PROBLEMS", "generate_sample", "planted_problems"]

CITIES = [
    ("上海", "021", ["浦东新区", "徐汇区", "闵行区", "静安区"]),
    ("北京", "010", ["朝阳区", "海淀区", "丰台区", "东城区"]),
    ("深圳", "0755", ["南山区", "福田区", "宝安区", "龙岗区"]),
    ("广州", "020", ["天河区", "越秀区", "番禺区", "白云区"]),
    ("杭州", "0571", ["西湖区", "滨江区", "余杭区", "拱墅区"]),
    ("苏州", "0512", ["工业园区", "姑苏区", "吴中区", "相城区"]),
    ("南京", "025", ["鼓楼区", "江宁区", "玄武区", "建邺区"]),
    ("成都", "028", ["高新区", "武侯区", "锦江区", "青羊区"]),
    ("武汉", "027", ["洪山区", "江汉区", "武昌区", "汉阳区"]),
    ("西安", "029", ["雁塔区", "碑林区", "未央区", "长安区"]),
    ("天津", "022", ["南开区", "和平区", "滨海新区", "河西区"]),
    ("重庆", "023", ["渝中区", "江北区", "九龙坡区", "南岸区"]),
    ("宁波", "0574", ["鄞州区", "海曙区", "江北区", "北仑区"]),
    ("青岛", "0532", ["市南区", "崂山区", "黄岛区", "李沧区"]),
    ("厦门", "0592", ["思明区", "湖里区", "集美区", "海沧区"]),
]
TRADE_CHARS = [
    ("华", "hua"),
    ("信", "xin"),
    ("泰", "tai"),
    ("达", "da"),
    ("恒", "heng"),
    ("瑞", "rui"),
    ("丰", "feng"),
    ("盛", "sheng"),
    ("鑫", "xin"),
    ("宏", "hong"),
    ("远", "yuan"),
    ("创", "chuang"),
    ("智", "zhi"),
    ("联", "lian"),
    ("通", "tong"),
    ("安", "an"),
    ("康", "kang"),
    ("永", "yong"),
    ("佳", "jia"),
    ("和", "he"),
    ("正", "zheng"),
    ("新", "xin"),
    ("天", "tian"),
    ("海", "hai"),
    ("鼎", "ding"),
    ("博", "bo"),
    ("嘉", "jia"),
    ("锦", "jin"),
    ("凯", "kai"),
    ("力", "li"),
    ("明", "ming"),
    ("诚", "cheng"),
    ("德", "de"),
    ("中", "zhong"),
    ("伟", "wei"),
    ("腾", "teng"),
    ("宇", "yu"),
    ("辰", "chen"),
    ("星", "xing"),
    ("润", "run"),
    ("晨", "chen"),
    ("峰", "feng"),
    ("卓", "zhuo"),
    ("君", "jun"),
    ("汇", "hui"),
    ("融", "rong"),
    ("航", "hang"),
    ("祥", "xiang"),
]
INDUSTRY_WORDS = {
    "manufacturing": ["机械", "精密制造", "电子", "汽车配件"],
    "it": ["科技", "信息技术", "网络科技", "软件"],
    "trade": ["贸易", "商贸", "供应链"],
    "construction": ["建筑工程", "建材", "装饰工程"],
    "healthcare": ["医疗器械", "生物科技", "医药"],
    "education": ["教育咨询", "教育科技"],
    "finance": ["投资管理", "融资租赁"],
    "logistics": ["物流", "国际货运"],
    "energy": ["新能源", "化工"],
    "hospitality": ["餐饮管理", "酒店管理"],
    "real_estate": ["置业", "房地产开发"],
    "agriculture": ["农业科技", "食品"],
    "other": ["实业", "文化传媒"],
}
LEGAL_FORMS = ["有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏飞雪琳晨宇浩然子涵欣怡")
TITLES = [
    "总经理",
    "采购经理",
    "技术总监",
    "财务经理",
    "行政主管",
    "项目经理",
    "副总经理",
    "采购专员",
    "运营总监",
]
LOST_REASONS = ["价格超出预算", "选择了竞争对手", "项目取消", "联系人离职", "需求变化"]
WIN_REASONS = ["方案匹配度高", "价格有优势", "服务响应快", "老客户信任"]
LOSS_REASONS = ["价格过高", "竞品功能更全", "客户预算冻结", "决策人变更"]
SUBJECTS = ["产品介绍", "需求沟通", "报价跟进", "方案演示", "合同洽谈", "售后回访", "节日问候", "技术交流"]
CONTENTS = [
    "电话沟通了采购计划，客户关注交付周期",
    "上门拜访，演示了新版方案，客户技术负责人参加",
    "发送报价单，客户表示需要内部审批",
    "微信沟通了付款方式，客户希望分期",
    "视频会议讨论实施细节，约定下周再议",
    "回访使用情况，客户反馈良好，有增购意向",
    "客户询问售后服务条款，已发送说明",
    "邀请客户参加行业展会，客户同意到场",
]
FEEDBACK = ["比较满意", "需要再比较", "价格偏高", "希望尽快交付", None, None]
NEXT_PLANS = ["发送正式报价", "安排技术交流", "跟进审批进度", "准备合同", "节后回访", None]
COMPETITORS = ["同行A公司", "同行B公司", "本地代理商", None, None]
FREE_MAIL = ["qq.com", "163.com", "126.com"]
MOBILE_PREFIXES = [
    130,
    131,
    132,
    133,
    135,
    136,
    137,
    138,
    139,
    150,
    151,
    152,
    155,
    156,
    157,
    158,
    159,
    180,
    181,
    182,
    183,
    185,
    186,
    187,
    188,
    189,
    191,
    199,
]

SAMPLE_PROBLEMS = [
    {
        "code": "duplicate",
        "sheet": "customers",
        "what": "the same company written differently, phone in another format",
    },
    {"code": "missing-required", "sheet": "followups", "what": "a follow-up without its content"},
    {"code": "lost-without-reason", "sheet": "customers", "what": "a lost customer without a lost reason"},
    {"code": "bad-phone", "sheet": "customers", "what": "a mobile number missing a digit"},
    {"code": "bad-email", "sheet": "customers", "what": "an e-mail address with two @"},
    {
        "code": "unknown-customer",
        "sheet": "followups",
        "what": "a follow-up naming a customer ID that does not exist",
    },
    {"code": "won-without-amount", "sheet": "opportunities", "what": "a won deal without an actual amount"},
    {"code": "primary-contact-count", "sheet": "contacts", "what": "a customer with two primary contacts"},
    {
        "code": "sensitive-id-number",
        "sheet": "customers",
        "what": "a national ID number typed into the notes",
    },
    {"code": "not-in-list", "sheet": "customers", "what": "an industry that is not in the list"},
    {"code": "probability-stage-mismatch", "sheet": "opportunities", "what": "an early-stage deal at 95%"},
]


def _pick(rng: np.random.Generator, options: list[Any], n: int, p: list[float] | None = None) -> np.ndarray:
    idx = rng.choice(len(options), size=n, p=p)
    return np.array(options, dtype=object)[idx]


def _mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = rng.choice(MOBILE_PREFIXES, size=n)
    rest = rng.integers(0, 100_000_000, size=n)
    return np.array([f"{p}{r:08d}" for p, r in zip(prefix, rest, strict=True)], dtype=object)


def _national_id(rng: np.random.Generator) -> str:
    body = f"310104{rng.integers(1970, 2000)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}{rng.integers(100, 999)}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _labels(list_key: str, keys: np.ndarray, lang: Lang) -> np.ndarray:
    spec = load_schema().lists[list_key]
    table = {i.key: i.label(lang) for i in spec.items}
    return np.array([table[k] for k in keys], dtype=object)


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    return rng.integers(low, high, size=n)


def _customers(rng: np.random.Generator, n: int, today: dt.date, lang: Lang) -> pd.DataFrame:
    schema = load_schema()
    kinds = _pick(rng, ["company", "person", "institution"], n, [0.85, 0.10, 0.05])
    city_idx = rng.integers(0, len(CITIES), size=n)
    industry = _pick(rng, list(INDUSTRY_WORDS), n)
    t1 = rng.integers(0, len(TRADE_CHARS), size=n)
    t2 = rng.integers(0, len(TRADE_CHARS), size=n)
    word_pick = rng.integers(0, 4, size=n)
    legal = _pick(rng, LEGAL_FORMS, n)
    bracketed = rng.random(n) < 0.3
    names, emails, sites = [], [], []
    for i in range(n):
        city = CITIES[city_idx[i]][0]
        trade = TRADE_CHARS[t1[i]][0] + TRADE_CHARS[t2[i]][0]
        slug = TRADE_CHARS[t1[i]][1] + TRADE_CHARS[t2[i]][1]
        if kinds[i] == "person":
            names.append(
                SURNAMES[(t1[i] + i) % len(SURNAMES)]
                + GIVEN[t2[i] % len(GIVEN)]
                + GIVEN[(i * 7) % len(GIVEN)]
            )
            emails.append(f"{slug}{i % 1000}@{FREE_MAIL[i % 3]}")
            sites.append(None)
            continue
        if kinds[i] == "institution":
            names.append(f"{city}市{trade}{['人民医院', '职业技术学院', '检测研究院'][i % 3]}")
            emails.append(f"office@{slug}{i}.org.cn")
            sites.append(f"www.{slug}{i}.org.cn")
            continue
        words = INDUSTRY_WORDS[industry[i]]
        word = words[word_pick[i] % len(words)]
        names.append(
            f"{trade}{word}（{city}）{legal[i]}" if bracketed[i] else f"{city}{trade}{word}{legal[i]}"
        )
        emails.append(f"sales@{slug}{i}.com.cn")
        sites.append(f"www.{slug}{i}.com.cn")
    phones = _mobiles(rng, n)
    landline = rng.random(n) < 0.15
    two = rng.random(n) < 0.05
    local = rng.integers(60_000_000, 69_999_999, size=n)
    for i in np.flatnonzero(landline | two):
        code = CITIES[city_idx[i]][1]
        tel = f"{code}-{str(local[i])[:7] if code == '0592' else local[i]}"  # Xiamen numbers have 7 digits
        phones[i] = f"{phones[i]}；{tel}" if two[i] else tel
    created_days = _days(rng, 0, 730, n)
    created = [today - dt.timedelta(days=int(d)) for d in created_days]
    first_contact = [
        c - dt.timedelta(days=int(d)) for c, d in zip(created, _days(rng, 0, 30, n), strict=True)
    ]
    status = _pick(rng, ["potential", "intent", "won", "lost"], n, [0.35, 0.25, 0.30, 0.10])
    level = _pick(rng, ["A", "B", "C", "D"], n, [0.15, 0.30, 0.40, 0.15])
    districts = [CITIES[c][2][i % 4] for i, c in enumerate(city_idx)]
    addresses = [
        f"{CITIES[c][0]}市{d}{TRADE_CHARS[t1[i]][0]}{['中路', '大道', '东路', '西路'][i % 4]}{(i % 300) + 1}号"
        f"{TRADE_CHARS[t2[i]][0]}{['大厦', '广场', '中心'][i % 3]}{(i % 30) + 1}{(i % 20) + 1:02d}室"
        for i, (c, d) in enumerate(zip(city_idx, districts, strict=True))
    ]
    type_keys = np.where(
        kinds == "person", "person", np.where(kinds == "institution", "institution", "company")
    )
    reps = [r.name for r in schema.reps]
    frame = pd.DataFrame(
        {
            "customer_id": None,
            "name": names,
            "customer_type": _labels("customer_type", type_keys, lang),
            "industry": np.where(kinds == "company", _labels("industry", industry, lang), None),
            "size": np.where(
                kinds == "company",
                _labels("company_size", _pick(rng, ["small", "medium", "large"], n, [0.5, 0.35, 0.15]), lang),
                None,
            ),
            "source": _labels(
                "source",
                _pick(
                    rng,
                    ["online", "trade_show", "referral", "visit", "other"],
                    n,
                    [0.3, 0.2, 0.25, 0.2, 0.05],
                ),
                lang,
            ),
            "source_detail": _pick(rng, ["百度推广", "2025 工博会", "老客户推荐", "地推", None, None], n),
            "level": _labels("level", level, lang),
            "status": _labels("status", status, lang),
            "owner": _pick(rng, reps, n),
            "first_contact": first_contact,
            "created": created,
            "phone": phones,
            "email": emails,
            "address": addresses,
            "website": sites,
            "lost_reason": np.where(status == "lost", _pick(rng, LOST_REASONS, n), None),
            "notes": _pick(
                rng, ["关注售后服务", "年底有采购预算", "需要开具专票", None, None, None, None], n
            ),
        }
    )
    frame["_status"] = status
    frame["_level"] = level
    # IDs: C{yyyy}{seq:6}, numbered per year in creation order.
    years = np.array([c.year for c in created])
    order = np.argsort(np.array(created, dtype="datetime64[D]"), kind="stable")
    seq: dict[int, int] = {}
    ids = np.empty(n, dtype=object)
    for i in order:
        seq[years[i]] = seq.get(years[i], 0) + 1
        ids[i] = f"C{years[i]}{seq[years[i]]:06d}"
    frame["customer_id"] = ids
    return frame


def _repeat_index(rng: np.random.Generator, n: int, mean: float, minimum: int) -> np.ndarray:
    counts = np.maximum(rng.poisson(mean, size=n), minimum)
    return np.repeat(np.arange(n), counts)


def _contacts(rng: np.random.Generator, cust: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    owner_idx = _repeat_index(rng, len(cust), 3.0, 1)
    m = len(owner_idx)
    first = np.r_[True, owner_idx[1:] != owner_idx[:-1]]
    sur = rng.integers(0, len(SURNAMES), size=m)
    g1 = rng.integers(0, len(GIVEN), size=m)
    g2 = rng.integers(0, len(GIVEN), size=m)
    names = [
        SURNAMES[a] + GIVEN[b] + (GIVEN[c] if c % 2 else "") for a, b, c in zip(sur, g1, g2, strict=True)
    ]
    created = cust["created"].to_numpy()[owner_idx]
    added = [c + dt.timedelta(days=int(d)) for c, d in zip(created, _days(rng, 0, 60, m), strict=True)]
    added = [min(a, today) for a in added]
    frame = pd.DataFrame(
        {
            "contact_id": None,
            "customer_id": cust["customer_id"].to_numpy()[owner_idx],
            "customer_name": cust["name"].to_numpy()[owner_idx],
            "name": names,
            "title": _pick(rng, TITLES, m),
            "mobile": _mobiles(rng, m),
            "email": [
                f"{TRADE_CHARS[s % len(TRADE_CHARS)][1]}{i}@{FREE_MAIL[i % 3]}" for i, s in enumerate(sur)
            ],
            "wechat": [
                f"wx_{TRADE_CHARS[s % len(TRADE_CHARS)][1]}{i % 10000}" if i % 3 else None
                for i, s in enumerate(g1)
            ],
            "primary": np.where(first, "是", "否"),
            "added": added,
        }
    )
    years = np.array([a.year for a in added])
    seq: dict[int, int] = {}
    ids = []
    for y in years:
        seq[y] = seq.get(y, 0) + 1
        ids.append(f"P{y}{seq[y]:06d}")
    frame["contact_id"] = ids
    return frame


def _followups(rng: np.random.Generator, cust: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    n = len(cust)
    mean = np.where(cust["_level"].to_numpy() == "A", 14.0, 9.0)
    counts = np.maximum(rng.poisson(mean), 1)
    owner_idx = np.repeat(np.arange(n), counts)
    m = len(owner_idx)
    start = np.datetime64(today - dt.timedelta(days=365))
    days = rng.integers(0, 365, size=m)
    minutes = rng.integers(9 * 60, 18 * 60, size=m)
    times = start + days.astype("timedelta64[D]") + minutes.astype("timedelta64[m]")
    order = np.lexsort((times, owner_idx))
    owner_idx, times = owner_idx[order], times[order]
    py_times = times.astype("datetime64[m]").astype(dt.datetime)
    next_dates = [
        t.date() + dt.timedelta(days=int(d))
        for t, d in zip(py_times, rng.integers(3, 15, size=m), strict=True)
    ]
    done = np.array(["是" if d < today else "否" for d in next_dates], dtype=object)
    status = cust["_status"].to_numpy()[owner_idx]
    last_of_customer = np.r_[owner_idx[1:] != owner_idx[:-1], True]
    closed = (status == "won") & last_of_customer & (rng.random(m) < 0.8)
    contract = [
        f"HT{t.year}-{i % 10000:04d}" if c else None
        for i, (t, c) in enumerate(zip(py_times, closed, strict=True))
    ]
    cust_ids = cust["customer_id"].to_numpy()[owner_idx]
    first = np.r_[True, owner_idx[1:] != owner_idx[:-1]]
    seq = np.zeros(m, dtype=int)
    counter = 0
    for i in range(m):
        counter = 1 if first[i] else counter + 1
        seq[i] = counter
    return pd.DataFrame(
        {
            "followup_id": [f"FLLW{c}{s:04d}" for c, s in zip(cust_ids, seq, strict=True)],
            "customer_id": cust_ids,
            "customer_name": cust["name"].to_numpy()[owner_idx],
            "time": py_times,
            "method": _pick(
                rng,
                ["电话", "微信", "上门拜访", "邮件", "视频会议", "钉钉"],
                m,
                [0.35, 0.3, 0.15, 0.08, 0.07, 0.05],
            ),
            "owner": cust["owner"].to_numpy()[owner_idx],
            "subject": _pick(rng, SUBJECTS, m),
            "content": _pick(rng, CONTENTS, m),
            "feedback": _pick(rng, FEEDBACK, m),
            "next_plan": _pick(rng, NEXT_PLANS, m),
            "next_date": next_dates,
            "done": done,
            "deal_closed": np.where(closed, "是", "否"),
            "contract_no": contract,
            "status_change": np.where(closed, "成交客户", None),
            "attachment": None,
        }
    )


STAGES = ["initial", "needs", "proposal", "negotiation", "won", "lost"]
DEFAULT_PROBABILITY = {"initial": 10, "needs": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}


def _opportunities(rng: np.random.Generator, cust: pd.DataFrame, today: dt.date, lang: Lang) -> pd.DataFrame:
    owner_idx = _repeat_index(rng, len(cust), 2.0, 0)
    m = len(owner_idx)
    status = cust["_status"].to_numpy()[owner_idx]
    open_stage = _pick(rng, STAGES[:4], m, [0.3, 0.3, 0.25, 0.15])
    stage = np.where(status == "won", np.where(rng.random(m) < 0.7, "won", open_stage), open_stage)
    stage = np.where(status == "lost", "lost", stage)
    stage = np.where((status != "won") & (status != "lost") & (rng.random(m) < 0.08), "lost", stage)
    amount = (rng.uniform(50_000, 3_000_000, size=m) // 100 * 100).astype(float)
    created = [today - dt.timedelta(days=int(d)) for d in rng.integers(0, 360, size=m)]
    close_past = [today - dt.timedelta(days=int(d)) for d in rng.integers(0, 365, size=m)]
    expected = [today + dt.timedelta(days=int(d)) for d in rng.integers(-180, 180, size=m)]
    closed = np.isin(stage, ["won", "lost"])
    actual = np.where(stage == "won", np.round(amount * rng.uniform(0.8, 1.1, size=m), -2), np.nan)
    probability = np.array([DEFAULT_PROBABILITY[s] for s in stage], dtype=float)
    off = ~closed & (rng.random(m) < 0.2)
    probability[off] = np.clip(probability[off] + rng.choice([-5, 5, 10], size=off.sum()), 5, 95)
    seq: dict[dt.date, int] = {}
    ids = []
    for c in created:
        seq[c] = seq.get(c, 0) + 1
        ids.append(f"O{c:%Y%m%d}{seq[c]:03d}")
    products = ["ERP 实施", "设备采购", "年度服务", "系统升级", "耗材供应", "培训项目"]
    short = [
        re.split(r"[（(]", str(name))[0][:6] for name in cust["name"]
    ]  # the trade name, no bracketed city
    names = [f"{short[c]}{products[i % len(products)]}" for i, c in enumerate(owner_idx)]
    reasons = np.where(
        stage == "won",
        _pick(rng, WIN_REASONS, m),
        np.where(stage == "lost", _pick(rng, LOSS_REASONS, m), None),
    )
    return pd.DataFrame(
        {
            "opportunity_id": ids,
            "customer_id": cust["customer_id"].to_numpy()[owner_idx],
            "customer_name": cust["name"].to_numpy()[owner_idx],
            "name": names,
            "stage": _labels("stage", stage, lang),
            "expected_amount": amount,
            "probability": probability,
            "expected_close": [c if cl else e for c, e, cl in zip(close_past, expected, closed, strict=True)],
            "owner": cust["owner"].to_numpy()[owner_idx],
            "competitors": _pick(rng, COMPETITORS, m),
            "win_loss_reason": reasons,
            "close_date": [c if cl else None for c, cl in zip(close_past, closed, strict=True)],
            "actual_amount": actual,
        }
    )


def _blank_some(rng: np.random.Generator, frame: pd.DataFrame, column: str, share: float) -> None:
    rows = np.flatnonzero(rng.random(len(frame)) < share)
    frame.loc[frame.index[rows], column] = None


def _plant(rng: np.random.Generator, frames: dict[str, pd.DataFrame], lang: Lang) -> list[dict[str, Any]]:
    cust, contacts, fups, opps = (frames[k] for k in ("customers", "contacts", "followups", "opportunities"))
    companies = np.flatnonzero(
        cust["customer_type"].to_numpy() == _labels("customer_type", np.array(["company"]), lang)[0]
    )
    picks = rng.choice(companies, size=10, replace=False)
    planted: list[dict[str, Any]] = []
    # 1. A duplicate written differently (other region form, other legal form, phone formatted).
    src = int(picks[0])
    original = cust.iloc[src].copy()
    name = str(original["name"])
    if "（" in name:
        trade, rest = name.split("（", 1)
        city, legal = rest.split("）", 1)
        variant = f"{city}{trade}{legal}"
    else:
        city = next(c for c, _, _ in CITIES if name.startswith(c))
        rest = name[len(city) :]
        legal = next(lf for lf in sorted(set(LEGAL_FORMS), key=len, reverse=True) if rest.endswith(lf))
        variant = f"{rest[: -len(legal)]}（{city}）{'股份有限公司' if legal == '有限公司' else '有限公司'}"
    first_phone = str(original["phone"]).split("；")[0]
    if first_phone.startswith("1") and len(first_phone) == 11:
        formatted = f"+86 {first_phone[:3]} {first_phone[3:7]} {first_phone[7:]}"
    else:
        formatted = "(" + first_phone.replace("-", ") ")
    dup = original.copy()
    dup["name"], dup["phone"], dup["customer_id"] = variant, formatted, None
    dup["created"] = cust["created"].max()
    cust.loc[len(cust)] = dup
    planted.append(
        {"code": "duplicate", "sheet": "customers", "index": len(cust) - 1, "column": "name", "of": src}
    )
    # 2-5, 9-10: problems on single customer cells.
    followups = frames["followups"]
    empty = int(picks[1]) % len(followups)
    followups.at[followups.index[empty], "content"] = None
    planted.append({"code": "missing-required", "sheet": "followups", "index": empty, "column": "content"})
    cust.at[cust.index[picks[2]], "status"] = _labels("status", np.array(["lost"]), lang)[0]
    cust.at[cust.index[picks[2]], "lost_reason"] = None
    planted.append(
        {"code": "lost-without-reason", "sheet": "customers", "index": int(picks[2]), "column": "lost_reason"}
    )
    cust.at[cust.index[picks[3]], "phone"] = "1380013800"
    planted.append({"code": "bad-phone", "sheet": "customers", "index": int(picks[3]), "column": "phone"})
    cust.at[cust.index[picks[4]], "email"] = "sales@@example"
    planted.append({"code": "bad-email", "sheet": "customers", "index": int(picks[4]), "column": "email"})
    cust.at[cust.index[picks[5]], "notes"] = f"法人身份证 {_national_id(rng)}"
    planted.append(
        {"code": "sensitive-id-number", "sheet": "customers", "index": int(picks[5]), "column": "notes"}
    )
    cust.at[cust.index[picks[6]], "industry"] = "互联网+"
    planted.append(
        {"code": "not-in-list", "sheet": "customers", "index": int(picks[6]), "column": "industry"}
    )
    # 6. A follow-up naming a customer that does not exist.
    f = int(rng.integers(0, len(fups)))
    fups.at[fups.index[f], "customer_id"] = "C2099999999"
    fups.at[fups.index[f], "followup_id"] = f"FLLWC2099999999{1:04d}"
    planted.append({"code": "unknown-customer", "sheet": "followups", "index": f, "column": "customer_id"})
    # 7. A won deal without an actual amount; 11. an early deal at 95 %.
    won_label = _labels("stage", np.array(["won"]), lang)[0]
    won = np.flatnonzero(opps["stage"].to_numpy() == won_label)
    if len(won):
        o = int(won[0])
        opps.at[opps.index[o], "actual_amount"] = np.nan
        planted.append(
            {"code": "won-without-amount", "sheet": "opportunities", "index": o, "column": "actual_amount"}
        )
    early = np.flatnonzero(opps["stage"].to_numpy() == _labels("stage", np.array(["initial"]), lang)[0])
    if len(early):
        o = int(early[0])
        opps.at[opps.index[o], "probability"] = 95.0
        planted.append(
            {
                "code": "probability-stage-mismatch",
                "sheet": "opportunities",
                "index": o,
                "column": "probability",
            }
        )
    # 8. Two primary contacts for one customer.
    multi = contacts.groupby("customer_id").size()
    cid = multi[multi >= 2].index[0]
    second = np.flatnonzero(contacts["customer_id"].to_numpy() == cid)[1]
    contacts.at[contacts.index[second], "primary"] = "Yes" if lang == "en" else "是"
    planted.append(
        {"code": "primary-contact-count", "sheet": "contacts", "index": int(second), "column": "primary"}
    )
    return planted


def _yes_no(frame: pd.DataFrame, columns: list[str], lang: Lang) -> None:
    if lang == "en":
        for c in columns:
            frame[c] = frame[c].map({"是": "Yes", "否": "No"})


def generate_sample(
    n_customers: int, *, seed: int = 42, today: dt.date, lang: Lang = "zh"
) -> dict[str, pd.DataFrame]:
    """Sample records per sheet key, keyed by schema column keys (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cust = _customers(rng, n_customers, today, lang)
    frames = {
        "customers": cust,
        "contacts": _contacts(rng, cust, today),
        "followups": _followups(rng, cust, today),
        "opportunities": _opportunities(rng, cust, today, lang),
    }
    if lang == "en":
        method = {i.zh: i.en for i in load_schema().lists["follow_method"].items}
        frames["followups"]["method"] = frames["followups"]["method"].map(method)
        status = {i.zh: i.en for i in load_schema().lists["status"].items}
        frames["followups"]["status_change"] = frames["followups"]["status_change"].map(status)
    _yes_no(frames["contacts"], ["primary"], lang)
    _yes_no(frames["followups"], ["done", "deal_closed"], lang)
    planted = _plant(rng, frames, lang) if n_customers >= 50 else []
    # A few records typed by staff without IDs yet, and children naming their customer only by name.
    for key, id_col in (
        ("customers", "customer_id"),
        ("contacts", "contact_id"),
        ("followups", "followup_id"),
        ("opportunities", "opportunity_id"),
    ):
        _blank_some(rng, frames[key], id_col, 0.03)
    # Children of a customer without an ID yet name it only by its name (Refresh fills the ID in).
    new_customers = set(frames["customers"]["customer_id"].dropna())
    for key in ("contacts", "followups", "opportunities"):
        _blank_some(rng, frames[key], "customer_id", 0.01)
        orphaned = ~frames[key]["customer_id"].isin(new_customers) & frames[key]["customer_id"].notna()
        orphaned &= frames[key]["customer_id"] != "C2099999999"
        frames[key].loc[orphaned, "customer_id"] = None
        if key == "followups":
            frames[key].loc[frames[key]["customer_id"].isna(), "followup_id"] = None
    cust = frames["customers"]
    frames["customers"] = cust.drop(columns=["_status", "_level"])
    frames = {key: frame.reset_index(drop=True) for key, frame in frames.items()}
    frames["customers"].attrs["planted"] = planted
    return frames


def planted_problems(frames: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Where :func:`generate_sample` planted its deliberate problems (sheet key, position, column)."""
    return list(frames["customers"].attrs.get("planted", []))
