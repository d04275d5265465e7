"""Chinese company names, folded for comparison.

A registered name is region + trade name (字号) + industry + legal form, and
the region may instead stand in brackets after the trade name
(华信科技（上海）有限公司). :func:`parse_company_name` takes it apart;
:attr:`CompanyName.key` is the equality key duplicate detection uses: no
legal form, no region prefix or bracketed region, no spaces or punctuation,
full-width folded (NFKC), traditional folded to simplified. A branch
(分公司) keeps its branch part, so it never equals its parent. English
names lose their legal form (Co., Ltd.) too.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

import opencc
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

__all__ = [
    "CompanyName",
    "email_domain",
    "fold_text",
    "is_weak_name",
    "known_different",
    "name_key",
    "name_similarity",
    "normalize_email",
    "normalize_person_name",
    "parse_company_name",
    "pinyin_similarity",
    "same_industry_family",
    "split_leading_region",
    "to_simplified",
    "token_similarity",
]

PROVINCES = [
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
]
CITIES = [
    "石家庄",
    "唐山",
    "保定",
    "邯郸",
    "廊坊",
    "太原",
    "大同",
    "沈阳",
    "大连",
    "鞍山",
    "长春",
    "吉林",
    "哈尔滨",
    "大庆",
    "南京",
    "苏州",
    "无锡",
    "常州",
    "南通",
    "徐州",
    "扬州",
    "镇江",
    "盐城",
    "泰州",
    "连云港",
    "淮安",
    "宿迁",
    "杭州",
    "宁波",
    "温州",
    "嘉兴",
    "湖州",
    "绍兴",
    "金华",
    "台州",
    "衢州",
    "舟山",
    "丽水",
    "义乌",
    "合肥",
    "芜湖",
    "蚌埠",
    "福州",
    "厦门",
    "泉州",
    "漳州",
    "莆田",
    "南昌",
    "赣州",
    "九江",
    "济南",
    "青岛",
    "烟台",
    "潍坊",
    "淄博",
    "临沂",
    "济宁",
    "威海",
    "郑州",
    "洛阳",
    "开封",
    "新乡",
    "南阳",
    "武汉",
    "宜昌",
    "襄阳",
    "长沙",
    "株洲",
    "湘潭",
    "岳阳",
    "衡阳",
    "广州",
    "深圳",
    "珠海",
    "佛山",
    "东莞",
    "中山",
    "惠州",
    "江门",
    "汕头",
    "湛江",
    "肇庆",
    "海口",
    "三亚",
    "成都",
    "绵阳",
    "德阳",
    "宜宾",
    "贵阳",
    "遵义",
    "昆明",
    "大理",
    "西安",
    "咸阳",
    "宝鸡",
    "兰州",
    "西宁",
    "银川",
    "乌鲁木齐",
    "呼和浩特",
    "包头",
    "南宁",
    "柳州",
    "桂林",
    "拉萨",
    "昆山",
    "常熟",
    "张家港",
    "江阴",
    "宜兴",
    "慈溪",
    "余姚",
]
# Districts count as a region only right after their own city (上海浦江之星 keeps 浦江).
DISTRICTS = {
    "上海": [
        "浦东新区",
        "浦东",
        "黄浦",
        "徐汇",
        "长宁",
        "静安",
        "普陀",
        "虹口",
        "杨浦",
        "闵行",
        "宝山",
        "嘉定",
        "金山",
        "松江",
        "青浦",
        "奉贤",
        "崇明",
    ],
    "北京": [
        "东城",
        "西城",
        "朝阳",
        "丰台",
        "石景山",
        "海淀",
        "门头沟",
        "房山",
        "通州",
        "顺义",
        "昌平",
        "大兴",
        "怀柔",
        "平谷",
        "密云",
        "延庆",
    ],
    "天津": [
        "和平",
        "河东",
        "河西",
        "南开",
        "河北",
        "红桥",
        "东丽",
        "西青",
        "津南",
        "北辰",
        "武清",
        "宝坻",
        "滨海新区",
        "宁河",
        "静海",
        "蓟州",
    ],
    "重庆": ["渝中", "江北", "南岸", "九龙坡", "沙坪坝", "大渡口", "渝北", "巴南", "北碚", "万州", "涪陵"],
    "深圳": ["福田", "罗湖", "南山", "盐田", "宝安", "龙岗", "龙华", "坪山", "光明"],
    "广州": ["越秀", "海珠", "荔湾", "天河", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城"],
    "杭州": ["上城", "拱墅", "西湖", "滨江", "萧山", "余杭", "临平", "钱塘", "富阳", "临安"],
    "苏州": ["姑苏", "虎丘", "吴中", "相城", "吴江", "工业园区"],
    "南京": ["玄武", "秦淮", "建邺", "鼓楼", "浦口", "栖霞", "雨花台", "江宁", "六合", "溧水", "高淳"],
    "成都": ["锦江", "青羊", "金牛", "武侯", "成华", "龙泉驿", "新都", "温江", "双流", "郫都", "高新"],
    "武汉": [
        "江岸",
        "江汉",
        "硚口",
        "汉阳",
        "武昌",
        "青山",
        "洪山",
        "东西湖",
        "蔡甸",
        "江夏",
        "黄陂",
        "新洲",
    ],
}
REGION_SUFFIXES = ("省", "市", "自治区", "特别行政区", "区", "县")
_REGIONS = sorted(set(PROVINCES) | set(CITIES), key=len, reverse=True)
_PROVINCES_ONLY = frozenset(PROVINCES) - {"北京", "天津", "上海", "重庆"} - frozenset(CITIES)
LEGAL_FORMS = sorted(
    [
        "集团股份有限公司",
        "集团有限公司",
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "股份公司",
        "集团公司",
        "集团",
        "公司",
        "合伙企业(有限合伙)",
        "有限合伙",
        "普通合伙",
        "工作室",
        "经营部",
        "商行",
        "厂",
        "店",
    ],
    key=len,
    reverse=True,
)
ENGLISH_LEGAL = re.compile(
    r"\b(co\.?,?\s*ltd\.?|company\s+limited|co\.?\s*limited|limited|ltd\.?|inc\.?|llc|corp\.?|corporation|group|co\.?)\s*$"
)
BRANCH_MARKERS = ("分公司", "分店", "办事处", "营业部", "分厂", "分部")
INDUSTRY_WORDS = sorted(
    [
        "科技",
        "信息技术",
        "信息科技",
        "网络科技",
        "网络技术",
        "数字科技",
        "智能科技",
        "电子科技",
        "电子",
        "机械设备",
        "机械",
        "精密制造",
        "贸易",
        "商贸",
        "国际贸易",
        "物流",
        "国际货运",
        "供应链",
        "医疗器械",
        "医药",
        "生物科技",
        "建材",
        "建筑工程",
        "装饰工程",
        "化工",
        "新材料",
        "教育咨询",
        "教育科技",
        "餐饮管理",
        "酒店管理",
        "房地产开发",
        "置业",
        "投资管理",
        "投资",
        "咨询",
        "管理咨询",
        "文化传媒",
        "广告",
        "实业",
        "能源",
        "新能源",
        "汽车配件",
        "汽车销售",
        "汽车",
        "食品",
        "服饰",
        "家具",
        "印刷",
        "包装",
        "环保",
        "软件",
        "技术",
        "终端",
        "通信",
        "农业科技",
        "融资租赁",
    ],
    key=len,
    reverse=True,
)
# Industry words people write for the same business: within a family, 华信信息技术 and 华信科技 can be
# one company (a phone or an e-mail in common decides); across families (华为技术 / 华为终端) they are not.
INDUSTRY_FAMILIES = [
    {
        "科技",
        "信息技术",
        "信息科技",
        "网络科技",
        "网络技术",
        "数字科技",
        "智能科技",
        "电子科技",
        "软件",
        "技术",
    },
    {"贸易", "商贸", "国际贸易"},
    {"机械", "机械设备"},
    {"咨询", "管理咨询"},
    {"投资", "投资管理"},
    {"物流", "国际货运"},
]
_FAMILY = {word: i for i, family in enumerate(INDUSTRY_FAMILIES) for word in family}
VARIANT_SIMILARITY = 0.9  # an industry-word variant or a firm's pinyin name: alike, not equal

# Names without identifying content: a surname and an honorific, or a placeholder (folded text).
_HONORIFIC = re.compile(
    r"^(老|小|阿)?[\u4e00-\u9fff]{1,2}(先生|女士|小姐|太太|夫人|总|总经理|经理|老板|老师|师傅|工|姐|哥|叔|阿姨|主任|医生|律师|董|处长|科长|局长|校长|会计)$"
)
_FAMILIAR = re.compile(r"^(老|小|阿)[\u4e00-\u9fff]$")  # 老王, 小李
_LATIN_HONORIFIC = re.compile(r"^(mr|mrs|ms|miss|mister|madam|madame|dr|sir)\.?\s+([a-z]+)$")
_PLACEHOLDER = re.compile(
    r"^(客户|顾客|用户|散客|个人|个人客户|新客户|临时客户|未知|未知客户|不详|暂无|无|空|测试|测试客户|某某|某公司|某某公司)"
    r"[0-9a-z]{0,3}$"
    r"|^(test|testing|unknown|none|na|null|customer|client|tbd|tba|x+|0+)\d{0,3}$"
)
FREE_MAIL = frozenset(
    [
        "qq.com",
        "163.com",
        "126.com",
        "139.com",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "yeah.net",
        "foxmail.com",
        "aliyun.com",
        "gmail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
    ]
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_LATIN_NAME = re.compile(r"[a-z0-9 .,&'()\-]+")
_BRACKETED = re.compile(r"[(（]([^()（）]{2,8})[)）]")
_EMAIL = re.compile(r"^[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}$")
_T2S = opencc.OpenCC("t2s")


def _convertible_characters(converter: opencc.OpenCC) -> frozenset[str] | None:
    """Characters whose presence can make t2s change a text, or None when the dictionaries are unreadable.

    Most company names are already simplified; skipping the (pure-Python) converter when a name
    has none of these characters makes name folding several times faster with the same result.
    """
    converter.convert("測")  # loads the dictionaries
    dictionaries: list[dict[str, object]] = []
    stack: list[object] = [getattr(converter, "_dict_chain_data", None)]
    while stack:  # the reimplementation keeps its dictionaries in nested lists
        item = stack.pop()
        if isinstance(item, dict):
            dictionaries.append(item)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    if not dictionaries:
        return None
    found: set[str] = set()
    for dictionary in dictionaries:
        for key, value in dictionary.items():
            options = value if isinstance(value, list | tuple) else str(value).split()
            target = str(options[0]) if options else key  # the converter uses the first option
            if target == key:
                continue
            if len(key) == len(target):
                found.update(k for k, t in zip(key, target, strict=True) if k != t)
            else:
                found.update(key)
    return frozenset(found)


_T2S_CHARS = _convertible_characters(_T2S)


def to_simplified(text: str) -> str:
    """Traditional characters to simplified (OpenCC t2s), skipping texts it would not change."""
    if _T2S_CHARS is None or not _T2S_CHARS.isdisjoint(text):
        return str(_T2S.convert(text))
    return text


@lru_cache(maxsize=500_000)
def fold_text(s: object) -> str:
    """NFKC, traditional → simplified, lower case, without spaces and punctuation."""
    if s is None:
        return ""
    text = to_simplified(unicodedata.normalize("NFKC", str(s))).lower()
    return _PUNCT.sub("", text)


_REGION_SUFFIXES_AFTER_NAME = REGION_SUFFIXES[:4]  # 省 市 自治区 特别行政区


def _strip_region_suffix(text: str, region: str) -> str:
    rest = text[len(region) :]
    for suffix in _REGION_SUFFIXES_AFTER_NAME:
        if rest.startswith(suffix):
            return rest[len(suffix) :]
    return rest


def _by_character(words: list[str], last: bool) -> dict[str, list[str]]:
    """Words grouped by their first (or last) character, longest first: a lookup tries only its own."""
    grouped: dict[str, list[str]] = {}
    for word in sorted(words, key=len, reverse=True):
        grouped.setdefault(word[-1] if last else word[0], []).append(word)
    return grouped


_REGIONS_BY_FIRST = _by_character(_REGIONS, last=False)
_DISTRICTS_LONGEST_FIRST = {region: sorted(ds, key=len, reverse=True) for region, ds in DISTRICTS.items()}
_LEGAL_BY_LAST = _by_character([_PUNCT.sub("", f) for f in LEGAL_FORMS], last=True)
_INDUSTRY_BY_LAST = _by_character(INDUSTRY_WORDS, last=True)


def _ending(text: str, grouped: dict[str, list[str]]) -> str:
    """The longest of the grouped words ``text`` ends with (and is longer than), or ""."""
    for word in grouped.get(text[-1:], ()):
        if text.endswith(word) and len(text) > len(word):
            return word
    return ""


def split_leading_region(text: str) -> tuple[str, str]:
    """(region, rest) for a name starting with a province/city (and maybe its district)."""
    for region in _REGIONS_BY_FIRST.get(text[:1], ()):
        if text.startswith(region):
            rest = _strip_region_suffix(text, region)
            for district in _DISTRICTS_LONGEST_FIRST.get(region, ()):
                if rest.startswith(district):
                    after = rest[len(district) :]
                    after = after[1:] if after[:1] in ("区", "县") else after
                    return region, after
            return region, rest
    return "", text


@dataclass(frozen=True)
class CompanyName:
    original: str
    folded: str
    region: str
    trade_name: str
    industry: str
    legal_form: str
    branch: str
    is_person: bool
    key: str
    tokens: tuple[str, ...] = ()
    latin: bool = False
    weak: bool = False  # no identifying content: 王先生, Mr. Wang, 客户1 (see weak_name_surname)

    @property
    def surname(self) -> str:
        """The surname of a surname-and-honorific name (王 of 王先生, wang of Mr. Wang), else ""."""
        m = _LATIN_HONORIFIC.match(self.original.strip().lower())
        if m is not None:
            return m.group(2)
        m = _HONORIFIC.match(self.folded)
        if m is not None:
            return self.folded[len(m.group(1) or "") :][:1]
        return self.folded[1:] if _FAMILIAR.match(self.folded) else ""


_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)


def is_weak_name(original: str) -> bool:
    """True for a name that identifies no one: a surname and an honorific, or a placeholder."""
    folded = fold_text(original)
    if not folded or _PLACEHOLDER.match(folded) or _HONORIFIC.match(folded) or _FAMILIAR.match(folded):
        return True
    return _LATIN_HONORIFIC.match(unicodedata.normalize("NFKC", original).strip().lower()) is not None


@lru_cache(maxsize=500_000)
def parse_company_name(name: object) -> CompanyName:
    parsed = _parse_company_name(name)
    if is_weak_name(parsed.original):
        return dataclasses.replace(parsed, weak=True)
    return parsed


def _parse_company_name(name: object) -> CompanyName:
    original = "" if name is None else str(name).strip()
    text = to_simplified(unicodedata.normalize("NFKC", original)).lower().strip()
    if _LATIN_NAME.fullmatch(text or "-"):
        core = ENGLISH_LEGAL.sub("", text).strip(" ,.")
        key = _PUNCT.sub("", core)
        tokens = tuple(t for t in _PUNCT.split(core) if t)
        return CompanyName(
            original,
            fold_text(original),
            "",
            key,
            "",
            text[len(core) :].strip(),
            "",
            False,
            key,
            tokens,
            True,
        )
    branch = ""
    for marker in BRANCH_MARKERS:
        pos = text.find(marker)
        if pos > 0:
            branch_text = text[: pos + len(marker)]
            head = text[:pos]
            # The branch's own region: the last region-like word right before the marker.
            branch = _PUNCT.sub("", head[-6:]) + marker
            text = branch_text[:pos]
            break
    region = ""
    bracket = _BRACKETED.search(text)
    if bracket:
        inner = _PUNCT.sub("", bracket.group(1))
        inner_region, inner_rest = split_leading_region(inner)
        if inner_region and not inner_rest.strip("省市区县"):
            region = inner_region
            text = text[: bracket.start()] + text[bracket.end() :]
    text = _PUNCT.sub("", text)
    lead, rest = split_leading_region(text)
    if lead:
        if lead in _PROVINCES_ONLY:  # 广东省深圳市…: the city is the region
            city, after_city = split_leading_region(rest)
            if city and after_city:
                lead, rest = city, after_city
        region = region or lead
        text = rest
    legal = _ending(text, _LEGAL_BY_LAST)
    text = text[: len(text) - len(legal)]
    industry = _ending(text, _INDUSTRY_BY_LAST)
    text = text[: len(text) - len(industry)]
    trade = text
    is_person = not legal and not industry and 2 <= len(original) <= 4 and original[:1] in _SURNAMES
    key = trade + industry + (f"|{branch}" if branch else "")
    if is_person:
        key = fold_text(original)
    return CompanyName(
        original, fold_text(original), region, trade, industry, legal, branch, is_person, key, (key,)
    )


def name_key(name: object) -> str:
    """The equality key of a customer name (see the module docstring)."""
    return parse_company_name(name).key


def same_industry_family(a: str, b: str) -> bool:
    """True when industry words ``a`` and ``b`` are written for one business (信息技术 / 科技)."""
    family = _FAMILY.get(a)
    return family is not None and family == _FAMILY.get(b)


def known_different(a: CompanyName, b: CompanyName) -> bool:
    """True when the names say these are different companies: another branch, region or industry."""
    if a.branch != b.branch:
        return True
    if a.region and b.region and a.region != b.region:
        return True
    return (
        a.trade_name == b.trade_name
        and bool(a.industry and b.industry)
        and a.industry != b.industry
        and not same_industry_family(a.industry, b.industry)
    )


def name_similarity(a: CompanyName, b: CompanyName) -> float:
    """0..1; 0 when the names are known to be different companies.

    A Chinese name and a Latin one compare by the pinyin of the Chinese trade name (see
    :func:`pinyin_similarity`); an industry-word variant of the same trade name (华信信息技术 /
    华信科技) is :data:`VARIANT_SIMILARITY` alike.
    """
    if not a.key or not b.key:
        return 0.0
    if a.latin != b.latin:
        return pinyin_similarity(a, b)
    if known_different(a, b):
        return 0.0
    if a.key == b.key:
        return 1.0
    if a.trade_name and a.trade_name == b.trade_name and same_industry_family(a.industry, b.industry):
        return VARIANT_SIMILARITY
    return fuzz.ratio(a.key, b.key) / 100.0


@lru_cache(maxsize=4096)
def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin  # loaded only when a Chinese name meets a Latin one

    return "".join(lazy_pinyin(text))


@lru_cache(maxsize=1)
def _region_pinyin() -> dict[str, str]:
    return {_pinyin(r): r for r in _REGIONS}


def pinyin_similarity(a: CompanyName, b: CompanyName) -> float:
    """How alike a Chinese name and a Latin one are: :data:`VARIANT_SIMILARITY` when the Latin
    name spells the Chinese trade name's pinyin (苏州瑞丰科技 / Suzhou Ruifeng Technology, or
    Ruifeng Tech (Suzhou)) and names no other region; 0 otherwise."""
    chinese, latin = (a, b) if b.latin else (b, a)
    if not chinese.trade_name or len(chinese.trade_name) < 2 or chinese.is_person:
        return 0.0
    trade = _pinyin(chinese.trade_name)
    words = latin.tokens
    joined = {
        "".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(i + 4, len(words)) + 1)
    }
    if trade not in joined:
        return 0.0
    regions = _region_pinyin()
    named = {regions[w] for w in words if w in regions and w != trade}
    if chinese.region and named and chinese.region not in named:
        return 0.0  # the same trade name in another city
    return VARIANT_SIMILARITY


def token_similarity(a: CompanyName, b: CompanyName) -> float:
    """0..1 over the words of two names, in any order: "mitchell green" and "green mitchel" are close.

    Each word of the shorter name is paired with a different word of the longer one
    (Jaro-Winkler, which forgives typing slips near the end of a word); the best pairing's
    mean is the similarity. A Chinese name is one word, so this is its Jaro-Winkler similarity.
    """
    short, long_ = sorted((a.tokens, b.tokens), key=len)
    if not short:
        return 0.0
    if len(long_) > 4:  # many words: compare them sorted, as one text
        return fuzz.token_sort_ratio(" ".join(short), " ".join(long_)) / 100.0
    best = 0.0
    for chosen in permutations(long_, len(short)):
        total = sum(JaroWinkler.similarity(x, y) for x, y in zip(short, chosen, strict=True))
        best = max(best, total / len(short))
    return best


def normalize_email(value: object) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    return text if _EMAIL.match(text) else None


def email_domain(value: object) -> str | None:
    """The domain of a company e-mail address; None for free-mail domains, which are not identity."""
    email = normalize_email(value)
    if email is None:
        return None
    domain = email.rsplit("@", 1)[1]
    return None if domain in FREE_MAIL else domain


def normalize_person_name(value: object) -> str:
    return fold_text(value)
