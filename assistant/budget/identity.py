"""Who issued a disclosure, for which year, and what kind it is; and the names people use for it.

A disclosure states its identity in several places (财政部 部门预算/决算公开模板; the Shanghai and
Fujian layouts seen so far):

- the cover: ``预算主管部门：X`` (a 部门预算), ``预算单位：X`` (a 单位预算), ``部门名称：X``;
- the title, often wrapped over two lines: ``中共上海市普陀区委社会工作部 2024 年度`` / ``部门决算``,
  or ``上海市普陀区2025年区级部门预算`` (a level, 区级, not a body);
- every table header: ``编制部门：X 单位：元`` / ``编制单位：X``.

:func:`read_identity` combines them (cover, then table headers, then title); :func:`aliases`
derives the short names (区府办, 商务委, 万里街道, 区委社会工作部) by the rules of
``assistant/data/names.json`` — never a list of known departments.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

#: kinds of disclosure (财政部 templates): scope 部门 (a department with its units) or 单位 (one unit)
KINDS = ("部门预算", "单位预算", "部门决算", "单位决算")

_COVER = re.compile(r"^\s*(预算主管部门|主管部门|预算单位|部门名称|单位名称|部门|单位|编制部门|编制单位)\s*[:：]\s*(.+?)\s*$")
_TITLE = re.compile(r"(?P<org>.*?)\s*(?P<year>(?:19|20)\d{2})\s*年\s*度?\s*(?P<level>[省市区县]级)?\s*"
                    r"(?P<scope>部门|单位)?\s*(?P<basis>预算|决算)")
#: "2018年度经济发展局部门预算说明": the year first, then the body, then the kind
_TITLE_YEAR_FIRST = re.compile(r"(?P<year>(?:19|20)\d{2})\s*年\s*度?\s*(?P<org>[^\s，。：:]{3,30}?)\s*"
                               r"(?P<scope>部门|单位)\s*(?P<basis>预算|决算)")


@dataclass(frozen=True)
class Identity:
    """A disclosure's identity. ``department``: full name of the issuing body ("" if unreadable);
    ``year``: budget year or None; ``basis``: "预算" or "决算"; ``scope``: "部门", "单位" or ""."""

    department: str
    year: int | None
    basis: str
    scope: str

    @property
    def kind(self) -> str:
        """部门预算 / 单位预算 / 部门决算 / 单位决算, or just 预算 / 决算 when the scope is not stated."""
        return f"{self.scope}{self.basis}"


@lru_cache(maxsize=1)
def rules() -> dict:
    """The reviewed naming rules (``assistant/data/names.json``)."""
    return json.loads(resources.files("assistant.data").joinpath("names.json").read_text(encoding="utf-8"))


def is_body_name(name: str) -> bool:
    """True if ``name`` can be the name of an issuing body: at least 3 CJK characters, not a unit of
    measure or a level word (单位：元 → 元, 区级), and not only a place (上海市普陀区)."""
    name = clean_name(name)
    cjk = re.sub(r"[^\u4e00-\u9fff]", "", name)
    if len(cjk) < 3 or len(name) > 30 or name in rules()["not_bodies"] or re.search(r"公开|首页|当前位置|说明", name):
        return False
    if any(bad in name for bad in ("XX", "××", "单位：", "单位:")):
        return False
    _, core = split_places(name)
    suffixes = "|".join(map(re.escape, rules()["place_suffixes"]))
    if re.fullmatch(rf"[\u4e00-\u9fff]{{1,{rules()['max_place_chars']}}}(?:{suffixes})", core):
        return False  # only a place (上海市普陀区)
    return bool(core) and core not in rules()["not_bodies"] and not re.fullmatch(r"[省市区县]级", core)


def clean_name(name: str) -> str:
    """A body's name as printed, without spaces, a trailing ``单位：元`` and brackets' spacing."""
    name = re.split(r"\s{2,}|\t|(?:金额)?单位\s*[:：]", name)[0]
    return re.sub(r"\s+", "", name).strip("：:，,。 ")


def split_places(name: str) -> tuple[list[str], str]:
    """(places, core): the leading administrative places of a name and the organ after them.

    "上海市普陀区人民政府办公室" → (["上海市", "普陀区"], "人民政府办公室");
    "中共上海市普陀区委社会工作部" → (["上海市", "普陀区"], "委社会工作部") (区委 is the district's
    party committee, so the core keeps 委). The party prefix 中共 is dropped.
    """
    r = rules()
    rest = name[len(r["party_prefix"]):] if name.startswith(r["party_prefix"]) else name
    suffixes = "|".join(sorted(map(re.escape, r["place_suffixes"]), key=len, reverse=True))
    place = re.compile(rf"[\u4e00-\u9fff]{{1,{r['max_place_chars']}}}?(?:{suffixes})")
    places: list[str] = []
    while True:
        m = place.match(rest)
        if not m or len(rest) - m.end() < 2:
            break
        # a place is not an organ word (…管理委员会区 is no place); stop at a known organ start
        if re.search(r"(局|委员会|办公室|政府|街道|部)", m.group(0)[:-1]):
            break
        places.append(m.group(0))
        rest = rest[m.end():]
    return places, rest


def _core_variants(core: str) -> set[str]:
    out = {core}
    for ab in rules()["abbreviations"]:
        for v in list(out):
            i = v.find(ab["full"])
            if i < 0:
                continue
            if ab.get("only_before_more") and i + len(ab["full"]) >= len(v):
                continue
            for short in ab["short"]:
                w = v[:i] + short + v[i + len(ab["full"]):]
                if not short and w in rules()["generic"]:
                    continue  # 人民政府办公室 never becomes a bare 办公室
                out.add(w)
    # a party organ of a place (区委社会工作部): also without the committee (社会工作部)
    for v in list(out):
        if v.startswith("委") and len(v) >= 4:
            out.add(v[1:])
    # two two-character words before the organ word are shortened to their first characters
    # (社会工作部 → 社工部, 卫生健康委员会 → 卫健委, 发展和改革委员会 → 发改委)
    for v in list(out):
        lead = "委" if v.startswith("委") and len(v) > 5 else ""
        body = v[len(lead):]
        for suffix, short in sorted(rules().get("acronym_suffixes", {}).items(), key=lambda kv: -len(kv[0])):
            if body.endswith(suffix):
                words = body[:-len(suffix)].replace("和", "")
                if len(words) == 4 and re.fullmatch(r"[\u4e00-\u9fff]{4}", words) and words != "人民政府":
                    out.add(lead + words[0] + words[2] + short)
                break
    return {v for v in out if v}


@lru_cache(maxsize=8192)
def aliases(department: str) -> tuple[str, ...]:
    """Names people use for ``department``, longest first, each at least 3 characters, derived by
    rule: the district/city prefix optional or reduced to its level word (区政府办公室), the party
    prefix optional, and the standard abbreviations of ``names.json`` (委员会 → 委, 人民政府办公室 →
    府办, 街道办事处 → 街道). A bare organ word (办公室, 委员会) is never an alias.

    "上海市普陀区商务委员会" → [..., "普陀区商务委", "区商务委员会", "商务委员会", "区商务委", "商务委"].
    """
    name = clean_name(department)
    if not name:
        return ()
    bare = re.sub(r"[（(][^）)]{1,8}[）)]$", "", name)  # 石泉路街道办事处（本级） → without （本级）
    places, core = split_places(bare)
    prefixes = {""}
    for i in range(len(places)):
        prefixes.add("".join(places[i:]))
    if places:
        last = places[-1]
        prefixes.add(last[-1])  # 区政府办公室, 区委社会工作部
        short = re.sub(r"(自治区|自治州|自治县|[省市州盟县区旗])$", "", last)
        if len(short) >= 2:
            prefixes.add(short)  # 普陀, 平潭综合实验
    generic = set(rules()["generic"])
    out = {name, bare}
    if bare.startswith(rules()["party_prefix"]):
        out.add(bare[len(rules()["party_prefix"]):])
    for c in _core_variants(core):
        for p in prefixes:
            a = p + c
            if p == "" and (c in generic or len(c) < 3):
                continue
            if len(a) >= 3 and a not in generic:
                out.add(a)
    return tuple(sorted(out, key=lambda a: (-len(a), a)))


def read_identity(lines: list[str], table_departments: list[str], title: str) -> Identity:
    """The identity from the first lines of a disclosure (cover and title, up to 目录), the
    ``编制部门/编制单位`` names of its tables and its title.

    The body: the cover's ``预算主管部门/预算单位/部门名称`` line, else the name most tables print
    (编制部门), else the title's part before its year (when that is a body, not only a place or a
    level). The scope: 部门 from 预算主管部门 or "部门预算/决算" in the title, 单位 from 预算单位 or
    "单位预算/决算". The basis: 决算 when the title says so. Never raises; unreadable parts are "".
    """
    head: list[str] = []
    for l in lines[:40]:
        s = l.strip()
        if re.fullmatch(r"目\s*录", s):
            break
        if s:
            head.append(s)
    cover_name, cover_scope = "", ""
    for s in head:
        m = _COVER.match(s)
        if m and is_body_name(m.group(2)):
            cover_name = clean_name(m.group(2))
            label = m.group(1)
            cover_scope = "部门" if "主管部门" in label else ("单位" if label == "预算单位" else "")
            break
    title_name = ""
    scope, basis, year = cover_scope, "", None
    for text in (re.sub(r"\s+", "", "".join(head[:4])), re.sub(r"\s+", "", title)):
        for pattern in (_TITLE, _TITLE_YEAR_FIRST):
            t = pattern.search(text)
            if not t:
                continue
            if not basis:
                year, basis = int(t.group("year")), t.group("basis")
                scope = t.group("scope") or scope
            if not title_name and is_body_name(t.group("org")):
                title_name = clean_name(t.group("org"))
                scope = scope or t.group("scope") or ""
        if basis and title_name:
            break
    printed = [clean_name(n) for n in table_departments if is_body_name(n)]
    table_name = max(set(printed), key=printed.count) if printed else ""
    department = cover_name or table_name or title_name
    if not basis:
        basis = "决算" if "决算" in title else "预算"
    return Identity(department, year, basis, scope)


#: a body's name at the start of a run of text (宜川街道, 区发改委, 卫健委, 真如镇街道): up to 12
#: characters ending with an organ word (not 部 of 部门)
_ORGAN_PREFIX = re.compile(r"^[\u4e00-\u9fff]{1,10}(?:街道办事处|街道|镇|乡|局|委员会|委(?!员)|办公室|府办(?!公)|部(?!门))")
_SEGMENT_SPLIT = re.compile(r"[\d\s，,。？?！!、；;：:“”\"（）()的和与及]|年度?|月")


def organs_named(text: str) -> list[str]:
    """The names of bodies a question mentions: the longest start (at least 3 characters) of each
    run of Chinese characters between digits, punctuation and linking words that ends with an
    organ word ("宜川街道2025年三公经费" → ["宜川街道"]; "区政府办公室和万里街道的…" → ["区政府办公室",
    "万里街道"]). Words for "this department" (本部门, 该单位) are not names."""
    out = []
    for seg in _SEGMENT_SPLIT.split(text):
        seg = re.sub(r"^(?:请问|按照|根据|关于|按|据|在|从|对|给|查询|查|问)", "", seg)
        m = _ORGAN_PREFIX.match(seg)
        if m and len(m.group(0)) >= 3 and not re.match(r"(?:本|该|各|全|我|其|所属|下属)", m.group(0)):
            out.append(m.group(0))
    return out
