"""A gallery of hand-kept spreadsheets, each with what importing it with the proposed mapping must give.

Made the way small businesses keep their lists (every person and company is synthetic): a garage's
car-owner list with the repair history in one column, a call-centre lead list whose names are 王先生 /
李女士, a shop list whose 姓名 is the sales rep, a ledger of customers / follow-ups / deals on three
sheets linked only by name (firms in several cities, a branch, the same trade name in another
industry), an address book with 手机 and 固话 columns, a monthly sales sheet, CRM exports (Pipedrive,
HubSpot, Salesforce, Zoho, 纷享销客, 销售易 style), a CSV without a header row, CSV in GB18030, title
rows, merged cells, foreign phones and landlines stored as numbers.

:func:`make_gallery` writes the files; each :class:`GalleryFile` lists, per source row, the records it
must become (target sheet and key fields; ``customer`` is the name of the customer a child must be
linked to), or that it must be rejected. :func:`score_gallery` imports each file into an empty
workbook with the proposed mapping (a dry run) and counts the source rows that became the right
records on the right sheets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "建华", "志强", "海燕", "晓东", "玉兰", "国庆", "丽娟", "子涵", "雨桐", "浩然", "思远",
]  # fmt: skip
ENGLISH_FIRST = ["Aarav", "Priya", "Rahul", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rohan", "Isha"]
ENGLISH_LAST = ["Sharma", "Patel", "Gupta", "Iyer", "Reddy", "Nair", "Mehta", "Joshi", "Rao", "Kapoor"]
CITIES = ["上海", "北京", "杭州", "苏州", "南京", "宁波", "广州", "深圳", "成都", "武汉"]
TRADES = ["宏达", "鑫源", "博远", "瑞丰", "德盛", "华晨", "启明", "金鼎", "恒通", "佳禾", "永信", "新锐"]
INDUSTRIES = ["建材", "科技", "贸易", "机械", "物流", "食品", "电子", "纺织"]


@dataclass
class Expected:
    """What one source row must become: records as (target, fields), or [] when it must be rejected."""

    sheet: str
    row: int
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class GalleryFile:
    path: Path
    shape: str
    rows: list[Expected] = field(default_factory=list)

    def expect(self, sheet: str, row: int, *records: tuple[str, dict[str, Any]]) -> None:
        self.rows.append(Expected(sheet, row, list(records)))


class _People:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.phones: set[str] = set()

    def name(self) -> str:
        while True:
            name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
            if name not in self.used:
                self.used.add(name)
                return name

    def mobile(self) -> str:
        while True:
            number = self.rng.choice(["13", "15", "18", "17", "19"]) + "".join(
                self.rng.choice("0123456789") for _ in range(9)
            )
            if number not in self.phones:
                self.phones.add(number)
                return number

    def landline(self, area: str = "021") -> str:
        digits = "".join(self.rng.choice("0123456789") for _ in range(7))
        return f"{area}-6{digits}"


def _save_xlsx(
    path: Path, sheets: dict[str, list[list[Any]]], merges: dict[str, list[str]] | None = None
) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        for ref in (merges or {}).get(title, []):
            ws.merge_cells(ref)
    wb.save(path)


def _save_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8") -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))


def _history(rng: random.Random, n: int) -> tuple[str, list[str]]:
    jobs = [
        "更换灯泡",
        "更换燃油泵",
        "保养",
        "更换机油",
        "四轮定位",
        "更换刹车片",
        "补胎",
        "更换电瓶",
        "空调加氟",
    ]
    day = dt.date(2024, 1, 5) + dt.timedelta(days=rng.randrange(200))
    parts, contents = [], []
    for _ in range(n):
        job = rng.choice(jobs)
        parts.append(f"{day:%Y-%m-%d}: {job}")
        contents.append(job)
        day += dt.timedelta(days=rng.randrange(20, 90))
    return "; ".join(parts), contents


# ------------------------------------------------------------------ the files


def _garage(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "车主档案.xlsx", "garage: person customers, repair history, title row")
    rows: list[list[Any]] = [
        ["平安汽修 车主档案（2025）"],
        ["姓名", "性别", "车牌", "车型", "年份", "上次进站时间", "维修项目", "手机号", "是否加微信", "备注"],
    ]
    models = ["大众朗逸", "丰田卡罗拉", "本田雅阁", "别克英朗", "日产轩逸", "比亚迪秦"]
    for i in range(36):
        name, phone = people.name(), people.mobile()
        history, contents = _history(rng, 1 + i % 3)
        last = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(120))
        rows.append([
            name, "男" if i % 3 else "女", f"沪A{rng.randrange(10000, 99999)}", rng.choice(models),
            2012 + i % 12, last, history, phone if i % 4 else int(phone), "是" if i % 2 else "否",
            "老客户" if i % 5 == 0 else None,
        ])  # fmt: skip
        gf.expect(
            "客户档案",
            3 + i,
            ("customers", {"name": name, "phone": phone, "customer_type": "个人客户"}),
            *[("followups", {"content": c, "customer": name}) for c in contents],
        )
    _save_xlsx(gf.path, {"客户档案": rows}, {"客户档案": ["A1:J1"]})
    return gf


def _call_centre(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "来电名单.csv", "call-centre leads named 王先生 / 李女士, GB18030 CSV")
    rows: list[list[Any]] = [
        ["序号", "客户姓名", "联系电话", "所在城市", "意向程度", "来电日期", "坐席", "备注"]
    ]
    agents = ["小刘", "小陈", "小王"]
    for i in range(30):
        name = rng.choice("王李张刘陈杨黄赵") + rng.choice(["先生", "女士", "总", "老师"])
        phone = people.mobile()
        typed = phone if i % 3 else f"{phone[:3]} {phone[3:7]} {phone[7:]}"
        rows.append([i + 1, name, typed, rng.choice(CITIES), rng.choice(["高", "中", "低"]),
                     f"2025/3/{1 + i % 28}", rng.choice(agents), "要报价" if i % 4 == 0 else ""])  # fmt: skip
        gf.expect(
            "来电名单", 2 + i, ("customers", {"name": name, "phone": phone, "customer_type": "个人客户"})
        )
    _save_csv(gf.path, rows, "gb18030")
    return gf


def _shops(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "门店名单.xlsx", "shop list whose 姓名 is the rep")
    reps = [people.name() for _ in range(3)]
    rows: list[list[Any]] = [["序号", "店名", "地址", "电话", "姓名", "区域", "开店日期"]]
    kinds = ["便利店", "水果店", "烘焙坊", "五金店", "花店", "药房"]
    roads = ["漕溪北路", "梅陇路", "天山路", "长寿路", "武宁路", "虹梅路", "肇嘉浜路"]
    for i in range(30):
        shop = f"{rng.choice(TRADES)}{kinds[i % len(kinds)]}（{rng.choice(roads)}{i + 1}号店）"
        phone = people.mobile() if i % 2 else people.landline()
        rep = reps[i % 3]
        rows.append([i + 1, shop, f"上海市{rng.choice(roads)}{rng.randrange(1, 999)}号", phone, rep,
                     rng.choice(["徐汇", "长宁", "普陀"]), dt.date(2020, 1, 1) + dt.timedelta(days=37 * i)])  # fmt: skip
        gf.expect("门店", 2 + i, ("customers", {"name": shop, "phone": phone, "owner": rep}))
    _save_xlsx(gf.path, {"门店": rows})
    return gf


LEDGER_FIRMS = [
    # (full name, ways people write it in follow-ups and deals)
    ("上海安泰建材有限公司", ["上海安泰建材有限公司", "上海安泰建材", "上海市安泰建材有限公司", "安泰建材（上海）有限公司"]),
    ("北京安泰建材有限公司", ["北京安泰建材有限公司", "北京安泰建材", "北京市安泰建材有限公司", "安泰建材(北京)有限公司"]),
    ("上海安泰建材有限公司宁波分公司", ["上海安泰建材有限公司宁波分公司", "安泰建材宁波分公司", "上海安泰建材宁波分公司"]),
    ("上海安泰化工有限公司", ["上海安泰化工有限公司", "上海安泰化工", "安泰化工（上海）有限公司"]),
    ("苏州恒远机械有限公司", ["苏州恒远机械有限公司", "苏州恒远机械", "苏州市恒远机械有限公司", "恒远机械（苏州）有限公司"]),
    ("苏州恒远机械有限公司无锡分公司", ["苏州恒远机械有限公司无锡分公司", "恒远机械无锡分公司"]),
    ("杭州恒远贸易有限公司", ["杭州恒远贸易有限公司", "杭州恒远贸易", "杭州市恒远贸易有限公司"]),
]  # fmt: skip


def _ledger(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "客户台账.xlsx", "ledger: customers, follow-ups and deals linked by name")
    firms = list(LEDGER_FIRMS)
    for i in range(18):
        full = f"{CITIES[i % len(CITIES)]}{TRADES[i % len(TRADES)]}{INDUSTRIES[i % len(INDUSTRIES)]}有限公司"
        short = full.replace("有限公司", "")
        firms.append(
            (full, [full, short, f"{short[:2]}市{short[2:]}有限公司", f"{short[2:]}（{short[:2]}）有限公司"])
        )
    customers: list[list[Any]] = [
        ["客户台账（销售二部）"],
        ["客户名称", "联系人", "电话", "所在地", "行业", "录入日期"],
    ]
    contact_of: dict[str, str] = {}
    for i, (full, _) in enumerate(firms):
        contact, phone = people.name(), people.mobile() if i % 3 else people.landline()
        contact_of[full] = contact
        customers.append(
            [
                full,
                contact,
                phone,
                full[:2],
                ["建筑工程", "制造业", "批发零售", "信息技术"][i % 4],
                dt.date(2023, 3, 1) + dt.timedelta(days=9 * i),
            ]
        )
        gf.expect(
            "客户",
            3 + i,
            ("customers", {"name": full, "phone": phone}),
            ("contacts", {"name": contact, "customer": full}),
        )
    follow: list[list[Any]] = [["日期", "客户", "方式", "沟通内容", "跟进人"]]
    methods = ["电话", "微信", "上门拜访", "视频会议"]
    topics = ["报价", "送样", "回访", "催款", "介绍新品", "确认交期", "合同细节", "售后问题"]
    for j in range(120):
        full, spellings = firms[j % len(firms)]
        written = spellings[(j // len(firms)) % len(spellings)]
        when = dt.datetime(2024, 9, 1, 9, 30) + dt.timedelta(days=j // 2, hours=j % 5)
        content = f"{rng.choice(topics)}：{rng.choice(['客户满意', '需再确认', '下周再联系', '已发资料'])}（第{j + 1}次）"
        follow.append([when, written, methods[j % 4], content, rng.choice(["周敏", "吴刚"])])
        gf.expect("跟进记录", 2 + j, ("followups", {"content": content, "customer": full}))
    deals: list[list[Any]] = [["客户", "项目", "金额（元）", "签约日期", "业务员"]]
    for k in range(30):
        full, spellings = firms[(k * 5) % len(firms)]
        written = spellings[k % len(spellings)]
        amount = rng.randrange(20, 500) * 1000
        project = f"{rng.choice(['年度供货', '设备采购', '仓储外包', '系统升级'])}{k + 1}期"
        deals.append(
            [
                written,
                project,
                f"{amount / 10000:g}万" if k % 3 == 0 else amount,
                dt.date(2024, 10, 1) + dt.timedelta(days=3 * k),
                "周敏",
            ]
        )
        gf.expect("成交", 2 + k, ("opportunities", {"name": project, "amount": amount, "customer": full}))
    _save_xlsx(gf.path, {"客户": customers, "跟进记录": follow, "成交": deals}, {"客户": ["A1:F1"]})
    return gf


def _address_book(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(
        folder / "通讯录.xlsx", "address book: 手机 and 固话, landlines stored as numbers, a WeChat-only row"
    )
    rows: list[list[Any]] = [["姓名", "手机", "固话", "微信号", "地址", "生日", "备注"]]
    for i in range(20):
        name, mobile = people.name(), people.mobile()
        fixed: Any = people.landline("0571") if i % 3 == 0 else None
        if i % 5 == 1:
            fixed = float(rng.randrange(2000000, 8999999))  # a local number typed into a number cell
        rows.append([name, mobile if i % 4 else None, fixed, f"wx_{name}{i}" if i % 2 else None,
                     f"杭州市西湖区文三路{i + 10}号", f"{1970 + i}-0{1 + i % 9}-1{i % 9}", None])  # fmt: skip
        phones = [str(int(p)) if isinstance(p, float) else p for p in (mobile if i % 4 else None, fixed) if p]
        want = {"name": name, "customer_type": "个人客户", **({"phone": phones} if phones else {})}
        gf.expect("通讯录", 2 + i, ("customers", want))
    rows.append([None, None, None, "wx_unknown_friend", None, None, "展会加的"])  # a WeChat ID without a name
    gf.expect("通讯录", 22)
    _save_xlsx(gf.path, {"通讯录": rows})
    return gf


def _monthly_sales(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "3月销售.xlsx", "monthly sales sheet: title row, one row per sale, a total row")
    buyers = [
        f"{rng.choice(CITIES)}{TRADES[i]}{rng.choice(['商贸', '餐饮', '超市'])}有限公司" for i in range(8)
    ]
    buyers += [people.name() for _ in range(4)]  # walk-in buyers with a person's name
    rows: list[list[Any]] = [
        ["2025年3月销售明细"],
        [None],
        ["日期", "客户名称", "产品", "数量", "单价", "金额", "业务员"],
    ]
    for i in range(36):
        buyer = buyers[i % len(buyers)]
        qty, price = rng.randrange(1, 50), rng.choice([120, 85, 230, 999])
        product = rng.choice(["净水器", "滤芯", "空气炸锅", "保温杯"])
        rows.append(
            [
                dt.date(2025, 3, 1 + i % 28),
                buyer,
                product,
                qty,
                price,
                qty * price,
                rng.choice(["周敏", "吴刚"]),
            ]
        )
        gf.expect(
            "3月",
            4 + i,
            ("opportunities", {"name": product, "amount": qty * price, "customer": buyer}),
            ("customers", {"name": buyer}),
        )
    rows.append(["合计", None, None, None, None, sum(r[5] for r in rows[3:]), None])
    gf.expect("3月", 40)  # the total row is not a record
    _save_xlsx(gf.path, {"3月": rows}, {"3月": ["A1:G1"]})
    return gf


def _pipedrive(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(
        folder / "pipedrive-deals.csv",
        "Pipedrive deals export (Person - Name, Organization - Name, Deal - Value)",
    )
    orgs = [
        f"{rng.choice(['Blue', 'North', 'Bright', 'Zen', 'Apex', 'Nova'])} {w} Pvt Ltd"
        for w in ["Foods", "Motors", "Textiles", "Labs", "Logistics", "Media", "Retail", "Pharma"]
    ]
    persons = {o: f"{ENGLISH_FIRST[i]} {ENGLISH_LAST[i]}" for i, o in enumerate(orgs)}
    phones = {o: f"+91 98{rng.randrange(10000000, 99999999)}" for o in orgs}
    rows: list[list[Any]] = [["Deal - ID", "Deal - Title", "Deal - Value", "Deal - Currency", "Deal - Stage", "Deal - Status",
                              "Deal - Expected close date", "Deal - Owner", "Organization - Name", "Person - Name", "Person - Phone", "Person - Email"]]  # fmt: skip
    for i in range(24):
        org = orgs[i % len(orgs)]
        title = f"{org.split()[0]} {rng.choice(['renewal', 'pilot', 'expansion', 'upgrade'])} #{i + 1}"
        value = rng.randrange(5, 90) * 1000
        person = persons[org]
        rows.append([100 + i, title, value, "INR", rng.choice(["Qualified", "Proposal Made", "Negotiations Started", "Contact Made"]),
                     "open", f"2025-0{1 + i % 9}-15", "Meera Shah", org, person, phones[org],
                     f"{person.split()[0].lower()}@{org.split()[0].lower()}.in"])  # fmt: skip
        gf.expect("pipedrive-deals", 2 + i, ("opportunities", {"name": title, "amount": value, "customer": org}),
                  ("customers", {"name": org}), ("contacts", {"name": person, "customer": org}))  # fmt: skip
    _save_csv(gf.path, rows)
    return gf


def _hubspot(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "hubspot-companies.csv", "HubSpot companies export")
    rows: list[list[Any]] = [["Record ID", "Company name", "Company Domain Name", "Phone Number", "City", "Industry",
                              "Lifecycle Stage", "Company owner", "Create Date", "Number of Employees"]]  # fmt: skip
    for i in range(20):
        name = f"{rng.choice(['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay'])} {['Trading', 'Systems', 'Foods', 'Robotics', 'Studio'][i % 5]} {i + 1} Co., Ltd."
        phone = people.mobile()
        rows.append([5000 + i, name, f"www.company{i}.com", f"+86 {phone}", rng.choice(["Shanghai", "Shenzhen"]),
                     "COMPUTER_SOFTWARE", rng.choice(["lead", "customer", "opportunity"]), "Meera Shah",
                     f"2024-0{1 + i % 9}-0{1 + i % 8} 10:2{i % 10}", rng.choice([10, 50, 200])])  # fmt: skip
        gf.expect("hubspot-companies", 2 + i, ("customers", {"name": name, "phone": phone}))
    _save_csv(gf.path, rows)
    return gf


def _salesforce(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "salesforce-export.xlsx", "Salesforce accounts + opportunities (two sheets)")
    accounts: list[list[Any]] = [
        [
            "Account Name",
            "Account Number",
            "Phone",
            "Website",
            "Industry",
            "Billing City",
            "Account Owner",
            "Type",
        ]
    ]
    names = [
        f"{w} Industries Inc."
        for w in ["Orion", "Vega", "Lyra", "Draco", "Cygnus", "Perseus", "Aquila", "Hydra", "Pavo", "Tucana"]
    ]
    for i, name in enumerate(names):
        phone = people.mobile()
        accounts.append([name, f"ACC-{1000 + i}", phone, f"https://{name.split()[0].lower()}.example.com",
                         "Manufacturing", "Shanghai", "Leo Wang", "Customer - Direct"])  # fmt: skip
        gf.expect("Accounts", 2 + i, ("customers", {"name": name, "phone": phone}))
    opps: list[list[Any]] = [
        [
            "Opportunity Name",
            "Account Name",
            "Amount",
            "Stage",
            "Close Date",
            "Probability (%)",
            "Opportunity Owner",
        ]
    ]
    for j in range(20):
        account = names[(j * 3) % len(names)]
        title = f"{account.split()[0]} - {rng.choice(['Q1 order', 'Service contract', 'Add-on licences'])} {j + 1}"
        amount = rng.randrange(10, 200) * 500
        opps.append([title, account, amount, rng.choice(["Prospecting", "Needs Analysis", "Proposal/Price Quote", "Closed Won"]),
                     dt.date(2025, 2, 1) + dt.timedelta(days=11 * j), rng.choice([10, 50, 90]), "Leo Wang"])  # fmt: skip
        gf.expect(
            "Opportunities", 2 + j, ("opportunities", {"name": title, "amount": amount, "customer": account})
        )
    _save_xlsx(gf.path, {"Accounts": accounts, "Opportunities": opps})
    return gf


def _zoho(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "zoho-leads.csv", "Zoho leads export (First Name / Last Name / Company)")
    rows: list[list[Any]] = [
        [
            "Lead Owner",
            "First Name",
            "Last Name",
            "Company",
            "Title",
            "Email",
            "Phone",
            "Mobile",
            "Lead Source",
            "Lead Status",
            "Created Time",
        ]
    ]
    for i in range(20):
        first, last = ENGLISH_FIRST[i % 10], ENGLISH_LAST[(i * 3) % 10]
        company = f"{last} & {rng.choice(['Sons', 'Partners', 'Brothers'])} Traders {i + 1}"
        mobile = people.mobile()
        rows.append(["Leo Wang", first, last, company, rng.choice(["Owner", "Buyer", "Manager"]),
                     f"{first.lower()}.{last.lower()}{i}@example.com", f"021-6{rng.randrange(1000000, 9999999)}", mobile,
                     rng.choice(["Trade Show", "Web Download", "Cold Call"]), "Contacted", f"2025-01-{10 + i} 09:00:00"])  # fmt: skip
        gf.expect(
            "zoho-leads",
            2 + i,
            ("customers", {"name": company}),
            ("contacts", {"name": f"{first} {last}", "customer": company}),
        )
    _save_csv(gf.path, rows)
    return gf


def _headerless(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "老客户.csv", "CSV without a header row")
    rows: list[list[Any]] = []
    for i in range(15):
        firm = f"{CITIES[(i + 3) % len(CITIES)]}{TRADES[(i + 5) % len(TRADES)]}{INDUSTRIES[(i + 1) % len(INDUSTRIES)]}有限公司"
        contact, phone = people.name(), people.mobile()
        rows.append([firm, contact, phone, f"2023-0{1 + i % 9}-12", "老客户" if i % 2 else ""])
        gf.expect("老客户", 1 + i, ("customers", {"name": firm, "phone": phone}))
    _save_csv(gf.path, rows, "gb18030")
    return gf


def _fxiaoke(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "纷享销客-客户.xlsx", "纷享销客-style customer export")
    rows: list[list[Any]] = [
        [
            "客户名称",
            "客户编号",
            "客户级别",
            "成交状态",
            "负责人",
            "电话",
            "详细地址",
            "创建时间",
            "最后跟进时间",
            "所属部门",
        ]
    ]
    for i in range(20):
        firm = f"{CITIES[i % len(CITIES)]}{TRADES[(i + 7) % len(TRADES)]}{INDUSTRIES[(i + 3) % len(INDUSTRIES)]}股份有限公司"
        phone = people.mobile()
        rows.append([firm, f"KH2023{i:04d}", ["A（重要客户）", "B（普通客户）", "C（一般客户）"][i % 3],
                     rng.choice(["未成交", "已成交"]), rng.choice(["周敏", "吴刚"]), phone, f"{firm[:2]}市某某路{i}号",
                     f"2023-05-{10 + i} 14:00", f"2025-02-{1 + i} 10:00", "华东大区"])  # fmt: skip
        gf.expect("客户", 2 + i, ("customers", {"name": firm, "phone": phone}))
    _save_xlsx(gf.path, {"客户": rows})
    return gf


def _xiaoshouyi(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(folder / "销售易-客户.csv", "销售易-style customer export")
    rows: list[list[Any]] = [
        ["客户名称", "客户所有人", "客户类型", "电话", "地址", "行业", "创建日期", "所属部门"]
    ]
    for i in range(16):
        person = i % 4 == 0
        name = (
            people.name()
            if person
            else f"{CITIES[(i + 5) % len(CITIES)]}{TRADES[(i + 2) % len(TRADES)]}{INDUSTRIES[i % len(INDUSTRIES)]}有限公司"
        )
        phone = people.mobile()
        rows.append([name, "吴刚", "个人客户" if person else "企业客户", phone, "深圳市南山区科技园", "制造业" if i % 2 else "批发零售",
                     f"2024/6/{1 + i}", "深圳销售部"])  # fmt: skip
        gf.expect("销售易-客户", 2 + i, ("customers", {"name": name, "phone": phone}))
    _save_csv(gf.path, rows, "utf-8-sig")
    return gf


def _foreign(folder: Path, rng: random.Random, people: _People) -> GalleryFile:
    gf = GalleryFile(
        folder / "consumers.xlsx", "English consumer list: Indian mobiles, local landlines stored as numbers"
    )
    rows: list[list[Any]] = [["Consumer Name", "Mobile No.", "Landline", "City", "Email", "Last Visit"]]
    for i in range(16):
        name = f"{ENGLISH_FIRST[i % 10]} {ENGLISH_LAST[(i + 4) % 10]}"
        mobile = f"9{rng.randrange(100000000, 999999999)}"
        typed: Any = mobile if i % 3 else f"+91 {mobile[:5]} {mobile[5:]}"
        landline = float(rng.randrange(2000000, 2999999)) if i % 2 else None
        rows.append(
            [
                name,
                typed,
                landline,
                "Pune",
                f"{name.split()[0].lower()}{i}@mail.example",
                f"2025-0{1 + i % 9}-0{1 + i % 9}",
            ]
        )
        # Outside China: kept as typed (or as +91 …), never read as a Chinese landline such as 0935-4089929.
        want = {"name": name, "phone": mobile, "phone_starts": ("9", "+91")}
        gf.expect("Consumers", 2 + i, ("customers", want))
    _save_xlsx(gf.path, {"Consumers": rows})
    return gf


BUILDERS = (
    _garage, _call_centre, _shops, _ledger, _address_book, _monthly_sales, _pipedrive,
    _hubspot, _salesforce, _zoho, _headerless, _fxiaoke, _xiaoshouyi, _foreign,
)  # fmt: skip


def make_gallery(folder: Path, seed: int = 18) -> list[GalleryFile]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    people = _People(rng)
    return [build(folder, rng, people) for build in BUILDERS]


# ------------------------------------------------------------------ scoring


def fold(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()[:10]
    return re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", str(value))).casefold()


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def _matches(record: Any, want: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, expected in want.items():
        if key == "phone_starts":
            if not str(record.fields.get("phone", "")).startswith(tuple(expected)):
                return False
            continue
        if key == "customer":
            actual = record.customer
        elif key == "amount":
            actual = record.fields.get("expected_amount", record.fields.get("actual_amount"))
            if actual is None or abs(float(actual) - float(expected)) > 0.01:
                return False
            continue
        else:
            actual = record.fields.get(key)
        if actual is None:
            return False
        if key in ("phone", "mobile"):
            wanted = expected if isinstance(expected, list) else [expected]
            if not all(_digits(w) in _digits(actual) for w in wanted):
                return False
        elif fold(labels.get(str(actual), actual)) != fold(expected):
            return False
    return True


@dataclass
class FileScore:
    file: str
    shape: str
    right: int
    rows: int
    wrong: list[str]  # "sheet row N: what is missing"
    summary: list[str]  # the dry run's lines

    @property
    def share(self) -> float:
        return self.right / self.rows if self.rows else 1.0


def score_file(gf: GalleryFile, book_path: Path) -> FileScore:
    """Import ``gf`` into the workbook at ``book_path`` as a dry run with the proposed mapping; count right rows."""
    from crmbook.importer import import_file

    result = import_file(
        gf.path, book_path, dry_run=True, today=dt.date(2025, 6, 30), now=dt.datetime(2025, 6, 30, 9)
    )
    plan = result.plan
    assert plan is not None
    by_origin: dict[tuple[str, int], list[tuple[str, Any]]] = {}
    for target, outcome in plan.outcomes.items():
        for record in [*outcome.created, *outcome.updated, *outcome.unchanged]:
            for _, sheet, row in record.origins:
                by_origin.setdefault((sheet, row), []).append((target, record))
    rejected = {(r.sheet, r.row) for r in plan.rejects}
    right, wrong = 0, []
    from crmbook.importer import format_import_summary

    for exp in gf.rows:
        got = by_origin.get((exp.sheet, exp.row), [])
        if not exp.records:
            ok = (exp.sheet, exp.row) in rejected and not got
            missing = "should be rejected"
        else:
            misses = [
                f"{target} {want}"
                for target, want in exp.records
                if not any(t == target and _matches(r, want, {}) for t, r in got)
            ]
            ok, missing = not misses, "; ".join(misses)
        if ok:
            right += 1
        else:
            wrong.append(f"{exp.sheet} row {exp.row}: {missing}")
    return FileScore(gf.path.name, gf.shape, right, len(gf.rows), wrong, format_import_summary(result))


def score_gallery(folder: Path) -> list[FileScore]:
    from crmbook.template import create_workbook

    files = make_gallery(folder / "gallery")
    book = Path(create_workbook(folder / "crm.xlsx"))
    return [score_file(gf, book) for gf in files]


def format_scores(scores: list[FileScore]) -> list[str]:
    lines = [f"{'file':<24} {'right':>5} / {'rows':<4} {'share':>7}  shape"]
    for s in scores:
        lines.append(f"{s.file:<24} {s.right:>5} / {s.rows:<4} {s.share:>7.1%}  {s.shape}")
    right, rows = sum(s.right for s in scores), sum(s.rows for s in scores)
    lines.append(f"{'overall':<24} {right:>5} / {rows:<4} {right / rows:>7.1%}")
    return lines
