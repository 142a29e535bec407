#!/usr/bin/env python3
"""Build the instance ``instances/suits-2020-02-05/``.

The instance covers medical protective suits in mainland China on 5 February 2020.
It is rebuilt from the JHU CSSE copy in ``instances/data/jhu-csse-china-2020/``
and the constants below. Each constant cites its source or is marked ASSUMPTION.

Sources cited as "004 l.N" mean line N of the MIIT case study
"下好'全国一盘棋'——新冠肺炎疫情应对中的医疗物资保障" (seed document 004). "002 l.N"
means line N of the 4 March 2020 MIIT press conference (seed document 002). The
seed documents are not read by this script. The README beside the instance
explains every figure.

Usage::

    python instances/build_suits_2020_02_05.py           # (re)write the instance
    python instances/build_suits_2020_02_05.py --check   # exit 1 if files differ

The script uses the standard library only, and its output is deterministic: rows
are sorted, line endings are LF, integers are written as integers, and
coordinates have 4 decimals.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "jhu-csse-china-2020"
OUT = HERE / "suits-2020-02-05"

# The instance date. 004 l.38 gives the GB-suit output on this day, and 004 l.42
# gives the cases reported on it.
DATE = dt.date(2020, 2, 5)

# ---------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------
# 004 l.54: GB medical protective suits (and EU-standard sterile suits) are
# reserved for ICUs. Non-ICU areas may use other emergency-use medical
# protective suits.
PRODUCTS = [
    # product, name, family, grade, unit, countable
    ("gb_suit", "GB 19082-2009 national-standard medical protective suit", "protective_suit", "icu", "suit", "true"),
    (
        "emergency_suit",
        "Emergency-use medical protective suit (other standards; non-ICU use)",
        "protective_suit",
        "general",
        "suit",
        "true",
    ),
]

# ---------------------------------------------------------------------------
# Regions: the 31 mainland provinces, autonomous regions and municipalities
# ---------------------------------------------------------------------------
# The coordinates are those of each provincial capital's city centre, in decimal
# degrees. They come from the author's geographic knowledge and are approximate
# (ASSUMPTION; good to about 10 km). The JHU Lat/Long columns are province
# centroids and are not used.
# region id: (JHU Province/State, name, name_zh, lat, lon)
REGIONS = {
    "anhui": ("Anhui", "Anhui", "安徽省", "31.8206", "117.2272"),  # Hefei
    "beijing": ("Beijing", "Beijing", "北京市", "39.9042", "116.4074"),
    "chongqing": ("Chongqing", "Chongqing", "重庆市", "29.5630", "106.5516"),
    "fujian": ("Fujian", "Fujian", "福建省", "26.0745", "119.2965"),  # Fuzhou
    "gansu": ("Gansu", "Gansu", "甘肃省", "36.0611", "103.8343"),  # Lanzhou
    "guangdong": ("Guangdong", "Guangdong", "广东省", "23.1291", "113.2644"),  # Guangzhou
    "guangxi": ("Guangxi", "Guangxi", "广西壮族自治区", "22.8170", "108.3665"),  # Nanning
    "guizhou": ("Guizhou", "Guizhou", "贵州省", "26.6470", "106.6302"),  # Guiyang
    "hainan": ("Hainan", "Hainan", "海南省", "20.0440", "110.1999"),  # Haikou
    "hebei": ("Hebei", "Hebei", "河北省", "38.0428", "114.5149"),  # Shijiazhuang
    "heilongjiang": ("Heilongjiang", "Heilongjiang", "黑龙江省", "45.8038", "126.5350"),  # Harbin
    "henan": ("Henan", "Henan", "河南省", "34.7466", "113.6254"),  # Zhengzhou
    "hubei": ("Hubei", "Hubei", "湖北省", "30.5928", "114.3055"),  # Wuhan
    "hunan": ("Hunan", "Hunan", "湖南省", "28.2282", "112.9388"),  # Changsha
    "inner_mongolia": ("Inner Mongolia", "Inner Mongolia", "内蒙古自治区", "40.8426", "111.7492"),  # Hohhot
    "jiangsu": ("Jiangsu", "Jiangsu", "江苏省", "32.0603", "118.7969"),  # Nanjing
    "jiangxi": ("Jiangxi", "Jiangxi", "江西省", "28.6820", "115.8579"),  # Nanchang
    "jilin": ("Jilin", "Jilin", "吉林省", "43.8171", "125.3235"),  # Changchun
    "liaoning": ("Liaoning", "Liaoning", "辽宁省", "41.8057", "123.4315"),  # Shenyang
    "ningxia": ("Ningxia", "Ningxia", "宁夏回族自治区", "38.4872", "106.2309"),  # Yinchuan
    "qinghai": ("Qinghai", "Qinghai", "青海省", "36.6171", "101.7782"),  # Xining
    "shaanxi": ("Shaanxi", "Shaanxi", "陕西省", "34.3416", "108.9398"),  # Xi'an
    "shandong": ("Shandong", "Shandong", "山东省", "36.6512", "117.1201"),  # Jinan
    "shanghai": ("Shanghai", "Shanghai", "上海市", "31.2304", "121.4737"),
    "shanxi": ("Shanxi", "Shanxi", "山西省", "37.8706", "112.5489"),  # Taiyuan
    "sichuan": ("Sichuan", "Sichuan", "四川省", "30.5728", "104.0668"),  # Chengdu
    "tianjin": ("Tianjin", "Tianjin", "天津市", "39.1252", "117.1907"),
    "tibet": ("Tibet", "Tibet (Xizang)", "西藏自治区", "29.6520", "91.1721"),  # Lhasa
    "xinjiang": ("Xinjiang", "Xinjiang", "新疆维吾尔自治区", "43.8256", "87.6168"),  # Urumqi
    "yunnan": ("Yunnan", "Yunnan", "云南省", "25.0389", "102.7183"),  # Kunming
    "zhejiang": ("Zhejiang", "Zhejiang", "浙江省", "30.2741", "120.1551"),  # Hangzhou
}

# Flags as of 5 Feb 2020. Every mainland province had activated a level-one
# (highest) public-health emergency response by 29 Jan 2020 (Hubei on 24 Jan,
# Tibet last on 29 Jan). This comes from general knowledge of the provinces'
# announcements, not from the seed documents. All 31 are flagged, which leaves
# the flag multiplier uniform. The other flags (port_of_entry, border_port,
# medium_risk) are the April 2020 priorities of 001 l.21 and 004 l.112. They did
# not apply on 5 Feb 2020 (medium-risk areas were first graded in mid-February),
# so they are not set.
ALL_FLAGS = "level_one_response"

# Region weight. "Hubei, above all Wuhan, first": 004 l.16 (保障的重心放在了武汉)
# and 002 l.96 (全力保障湖北武汉的需要). The value 10 is an ASSUMPTION: one order
# of magnitude above every other province. Other regions are left empty, which
# means the default of 1.
REGION_WEIGHT = {"hubei": 10}

# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------
# source id: (name, region, kind, lat, lon)
SOURCES = {
    # Named in 004 l.72-74: 洁利康医疗用品股份有限公司 in Lushan County, Pingdingshan,
    # Henan. Coordinates: Lushan county seat (approximate).
    "jielikang": (
        "Henan Jielikang Medical Supplies (洁利康) - Lushan County Pingdingshan",
        "henan",
        "enterprise",
        "33.7386",
        "112.9081",
    ),
    # Named in 004 l.28 and l.78: 日照三奇医疗卫生用品有限公司, Rizhao, Shandong.
    # Coordinates: Rizhao city centre.
    "sanqi": (
        "Rizhao Sanqi Medical & Health Articles (三奇) - Rizhao",
        "shandong",
        "enterprise",
        "35.4164",
        "119.5269",
    ),
    # 004 l.62: on 29 Jan commissioners went to 16 suit and goggle makers in
    # "Henan, Anhui, Tianjin and others, 7 provinces (municipalities)". 004 l.28:
    # Tianjin sent 5,000 suits and Anhui 3,000 to Wuhan on 27 Jan. The makers are
    # not named, so each province is one aggregate source at its capital.
    "tianjin_gb_makers": ("Tianjin GB-suit makers (aggregate)", "tianjin", "enterprise", "39.1252", "117.1907"),
    "anhui_gb_makers": ("Anhui GB-suit makers (aggregate) - at Hefei", "anhui", "enterprise", "31.8206", "117.2272"),
    # ASSUMPTION. The other three of the seven provinces of 004 l.62 are not named
    # in the text. The body of Table 1 (004 l.64) is absent from the source text,
    # which keeps only its caption. Jiangsu, Zhejiang and Guangdong are assumed:
    # coastal provinces with medical-textile industries. The documents name them
    # for later work (Jiangsu and Zhejiang garment makers converting from 12 Feb,
    # 004 l.48; seam-taping machines in Guangdong, 004 l.88, 002 l.87). Each is an
    # aggregate source at its capital.
    "jiangsu_gb_makers": (
        "Jiangsu GB-suit makers (aggregate; assumed) - at Nanjing",
        "jiangsu",
        "enterprise",
        "32.0603",
        "118.7969",
    ),
    "zhejiang_gb_makers": (
        "Zhejiang GB-suit makers (aggregate; assumed) - at Hangzhou",
        "zhejiang",
        "enterprise",
        "30.2741",
        "120.1551",
    ),
    "guangdong_gb_makers": (
        "Guangdong GB-suit makers (aggregate; assumed) - at Guangzhou",
        "guangdong",
        "enterprise",
        "23.1291",
        "113.2644",
    ),
    # 004 l.26 and l.28: central medical reserve (中央医药储备), drawn on from 23 Jan.
    # Its location is an ASSUMPTION (Beijing).
    "central_reserve": ("Central medical reserve (中央医药储备)", "beijing", "reserve", "39.9042", "116.4074"),
    # 004 l.26 and l.28: social donations (社会捐赠). The documented donor of 26 Jan,
    # the MARA animal disease prevention and control centre, is in Beijing.
    # Location: ASSUMPTION.
    "donations": ("Social donations (社会捐赠)", "beijing", "donation", "39.9042", "116.4074"),
    # 000 l.15 and 002 l.30: international procurement (国际采购) is a supply
    # channel. ASSUMPTION: suits enter at Shanghai, the main air-cargo gateway.
    "imports": (
        "International procurement (国际采购) - entering at Shanghai",
        "shanghai",
        "import",
        "31.2304",
        "121.4737",
    ),
}

# ---------------------------------------------------------------------------
# Supply for the day
# ---------------------------------------------------------------------------
# 004 l.38: "2月5日,医用防护服日产量达到4.27万套". The figure is GB-suit output (cf.
# "国标防护服日产量" on the same line for 1 Feb).
GB_OUTPUT = 42_700
# 004 l.44 and l.56: target of 140,000 GB suits a day by 15 Feb, reached on 14 Feb.
GB_TARGET_FEB15 = 140_000
# Later daily outputs of the named makers, with no date given: Jielikang 25,000
# (004 l.74) and Sanqi 15,000 (004 l.78). ASSUMPTION: each was reached around
# 14 Feb, when national output reached 140,000, and each maker ramped in step
# with the national total. Its 5 Feb output is therefore
# later_output * GB_OUTPUT / GB_TARGET_FEB15.
NAMED_LATER_OUTPUT = {"jielikang": 25_000, "sanqi": 15_000}
# ASSUMPTION: the rest of the 42,700 is split equally among the aggregate sources.
AGGREGATE_MAKERS = [
    "anhui_gb_makers",
    "guangdong_gb_makers",
    "jiangsu_gb_makers",
    "tianjin_gb_makers",
    "zhejiang_gb_makers",
]
# General-grade supply for the day. The channels are documented (reserve and
# donations: 004 l.26 and l.28; imports: 000 l.15, 002 l.30). The quantities are
# ASSUMPTIONS:
# - donations 3,000 a day: the one documented suit donation was 3,000 suits
#   (004 l.28), taken here as a daily rate;
# - central reserve 5,000 a day: residual release of non-GB stock (the reserve
#   had been drawn on since 23 Jan, 004 l.28);
# - imports 10,000 a day: international procurement in early February.
GENERAL_SUPPLY = {"central_reserve": 5_000, "donations": 3_000, "imports": 10_000}

# ---------------------------------------------------------------------------
# Demand
# ---------------------------------------------------------------------------
# Calibration: 004 l.26, "武汉市提出每天需要10万套医用防护服". Hubei's total suit
# demand on 5 Feb is set to this figure. Because Hubei includes Wuhan, and
# 004 l.42 says Hubei's demand then surged (骤增), this is a lower bound.
HUBEI_TOTAL_DEMAND = 100_000
# Share of severe and critical patients, from the 5 Feb report (004 l.42): new
# severe cases 640 (Hubei 564) against new confirmed cases 3,694 (Hubei 2,987).
# Hubei: 564 / 2987 = 18.9%, which matches 14% severe + 5% critical = 19% in
# Wu & McGoogan, JAMA 2020;323(13):1239-1242. Elsewhere:
# (640 - 564) / (3694 - 2987) = 10.7%.
NEW_CONFIRMED = {"all": 3_694, "hubei": 2_987}
NEW_SEVERE = {"all": 640, "hubei": 564}
# Suits used per severe or critical patient-day, relative to an ordinary
# patient-day. ASSUMPTION, set to the ratio of nursing-staff norms: ICU nurses
# per bed >= 2.5 (ICU construction and management guideline, 2006) against ward
# nurses per bed >= 0.4 (National Health Commission norm). 2.5 / 0.4 = 6.25.
ICU_INTENSITY = Fraction(25, 10) / Fraction(4, 10)


def round_half_up(x: Fraction) -> int:
    """Round a non-negative fraction to the nearest integer, halves up."""
    return int(x + Fraction(1, 2))


def parse_header_date(col: str) -> dt.date | None:
    """Parse a JHU date header (``2/5/20`` or ``2/5/2020``); else None."""
    parts = col.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    m, d, y = (int(p) for p in parts)
    return dt.date(y + 2000 if y < 100 else y, m, d)


def read_jhu(name: str, day: dt.date) -> dict[str, int]:
    """Return {Province/State: cumulative count on ``day``} from one JHU file."""
    with open(DATA / name, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [i for i, c in enumerate(header) if parse_header_date(c) == day]
        if len(cols) != 1:
            raise SystemExit(f"{name}: expected one column for {day}, found {len(cols)}")
        j = cols[0]
        return {row[0]: int(row[j]) for row in reader}


def active_cases(day: dt.date) -> dict[str, int]:
    """Active cases (confirmed - deaths - recovered) per region id on ``day``."""
    conf = read_jhu("confirmed.csv", day)
    dead = read_jhu("deaths.csv", day)
    recov = read_jhu("recovered.csv", day)
    out = {}
    for rid, (jhu, *_rest) in REGIONS.items():
        out[rid] = conf[jhu] - dead[jhu] - recov[jhu]
    return out


def severe_share(region: str) -> Fraction:
    """Share of a region's patients who are severe or critical (004 l.42)."""
    if region == "hubei":
        return Fraction(NEW_SEVERE["hubei"], NEW_CONFIRMED["hubei"])
    return Fraction(NEW_SEVERE["all"] - NEW_SEVERE["hubei"], NEW_CONFIRMED["all"] - NEW_CONFIRMED["hubei"])


def suits_per_case(region: str) -> Fraction:
    """Suits per active case-day in units of an ordinary patient-day: 1 - f + f * k."""
    f = severe_share(region)
    return 1 - f + f * ICU_INTENSITY


def build_demand(active: dict[str, int]) -> list[tuple[str, str, str, int]]:
    """Demand rows (region, family, use, quantity); rows of quantity 0 are left out.

    Every region uses the same suits per patient-day: g for an ordinary patient
    and k * g for a severe or critical one (k = ICU_INTENSITY). g is calibrated
    so that Hubei's total is HUBEI_TOTAL_DEMAND:

        g       = HUBEI_TOTAL_DEMAND / (active_hubei * (1 - f_hubei + f_hubei * k))
        total_r = g * active_r * (1 - f_r + f_r * k)
        icu_r   = round(g * active_r * f_r * k)
        general_r = round(total_r) - icu_r
    """
    g = Fraction(HUBEI_TOTAL_DEMAND, active["hubei"]) / suits_per_case("hubei")
    rows = []
    for region in sorted(active):
        total = g * active[region] * suits_per_case(region)
        icu = round_half_up(g * active[region] * severe_share(region) * ICU_INTENSITY)
        general = round_half_up(total) - icu
        for use, q in (("general", general), ("icu", icu)):
            if q > 0:
                rows.append((region, "protective_suit", use, q))
    return rows


def largest_remainder(total: int, weights: dict[str, Fraction]) -> dict[str, int]:
    """Split ``total`` in proportion to ``weights`` into integers (Hamilton's method).

    Ties go to the smaller key.
    """
    wsum = sum(weights.values())
    exact = {k: total * w / wsum for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    left = total - sum(out.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))
    for k in order[:left]:
        out[k] += 1
    return out


def build_supply() -> list[tuple[str, str, int]]:
    """Supply rows (source, product, quantity)."""
    gb = {k: round_half_up(Fraction(v * GB_OUTPUT, GB_TARGET_FEB15)) for k, v in NAMED_LATER_OUTPUT.items()}
    rest = GB_OUTPUT - sum(gb.values())
    gb.update(largest_remainder(rest, {k: Fraction(1) for k in AGGREGATE_MAKERS}))
    assert sum(gb.values()) == GB_OUTPUT
    rows = [(k, "gb_suit", q) for k, q in gb.items()]
    rows += [(k, "emergency_suit", q) for k, q in GENERAL_SUPPLY.items()]
    return sorted(rows)


POLICY = """\
# Policy for suits-2020-02-05. See README.md, section "Policy".
equity = "on"
icu_grade_for_general = false

[weights]
icu = 4
level_one_response = 8
port_of_entry = 4
border_port = 2
medium_risk = 2

[routes]
cost_per_km = 1.0
"""


def to_csv(header: list[str], rows: list[tuple]) -> str:
    """Render rows as CSV text with LF line endings."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render() -> dict[str, str]:
    """Return {file name: content} for every generated file of the instance."""
    active = active_cases(DATE)
    regions = []
    for rid in sorted(REGIONS):
        _jhu, name, name_zh, lat, lon = REGIONS[rid]
        weight = REGION_WEIGHT.get(rid, "")
        regions.append((rid, name, name_zh, lat, lon, ALL_FLAGS, weight))
    sources = [(sid, *SOURCES[sid]) for sid in sorted(SOURCES)]
    for sid, _n, region, _k, _lat, _lon in sources:
        assert region in REGIONS, sid
    return {
        "products.csv": to_csv(["product", "name", "family", "grade", "unit", "countable"], sorted(PRODUCTS)),
        "regions.csv": to_csv(["region", "name", "name_zh", "lat", "lon", "flags", "weight"], regions),
        "sources.csv": to_csv(["source", "name", "region", "kind", "lat", "lon"], sources),
        "supply.csv": to_csv(["source", "product", "quantity"], build_supply()),
        "demand.csv": to_csv(["region", "family", "use", "quantity"], build_demand(active)),
        "policy.toml": POLICY,
    }


def summary(files: dict[str, str]) -> str:
    """A short text summary of totals, for the README."""
    supply = list(csv.DictReader(io.StringIO(files["supply.csv"])))
    demand = list(csv.DictReader(io.StringIO(files["demand.csv"])))
    lines = []
    for p in ("gb_suit", "emergency_suit"):
        q = sum(int(r["quantity"]) for r in supply if r["product"] == p)
        lines.append(f"supply {p}: {q}")
    tot = 0
    for use in ("icu", "general"):
        q = sum(int(r["quantity"]) for r in demand if r["use"] == use)
        hub = sum(int(r["quantity"]) for r in demand if r["use"] == use and r["region"] == "hubei")
        tot += q
        lines.append(f"demand {use}: {q} (hubei {hub})")
    hub = sum(int(r["quantity"]) for r in demand if r["region"] == "hubei")
    lines.append(f"demand total: {tot} (hubei {hub}, {100 * hub / tot:.1f}%)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="compare with the files on disk instead of writing; exit 1 on a difference"
    )
    ap.add_argument("--summary", action="store_true", help="print supply and demand totals")
    args = ap.parse_args(argv)
    files = render()
    if args.check:
        bad = [
            n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_bytes() != text.encode("utf-8")
        ]
        for n in bad:
            print(f"differs: {OUT / n}", file=sys.stderr)
        return 1 if bad else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (OUT / n).write_bytes(text.encode("utf-8"))
    if args.summary:
        print(summary(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
