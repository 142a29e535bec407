#!/usr/bin/env python3
"""Build the multi-day replay instances ``suits-2020-replay/`` and ``ventilators-2020-replay/``.

The two instances replay the national dispatch of the 2020 COVID-19 outbreak in
mainland China day by day:

- ``suits-2020-replay/``: medical protective suits, 2020-01-20 to 2020-03-14
  (55 days): GB suits (ICU grade) and emergency suits (general grade);
- ``ventilators-2020-replay/``: non-invasive and invasive ventilators (durable
  equipment), 2020-02-01 to 2020-03-14 (43 days).

They are rebuilt from the JHU CSSE copy in ``instances/data/jhu-csse-china-2020/``
and the constants below. Each constant cites its source or is marked ASSUMPTION.
Citations follow ``build_suits_2020_02_05.py``: "004 l.N" is line N of the MIIT
case study (seed document 004), "002 l.N" line N of the 4 March 2020 MIIT press
conference (seed document 002), "001 l.N" the China News Service report of
8 April 2020. The seed documents are not read by this script. The READMEs beside
the instances explain every figure.

Usage::

    python instances/build_replay_2020.py            # (re)write both instances
    python instances/build_replay_2020.py --check    # exit 1 if files differ
    python instances/build_replay_2020.py --summary  # print daily totals
    python instances/build_replay_2020.py --no-irradiation -o DIR
        # write the suits counterfactual (every GB row sterilised with ethylene
        # oxide, 7 days) to DIR; not committed

The script uses the standard library only, and its output is deterministic: rows
are sorted by their key columns, line endings are LF, integers are written as
integers, and coordinates have 4 decimals.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import math
import sys
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# The 31 regions (ids, JHU names, Chinese names, capital coordinates), the
# level-one-response flag, Hubei's weight, the Feb 5 sources (names and
# coordinates of the GB makers) and the helpers are those of the 5 Feb instance.
from build_suits_2020_02_05 import (  # noqa: E402
    ALL_FLAGS,
    REGION_WEIGHT,
    REGIONS,
    largest_remainder,
    parse_header_date,
    round_half_up,
    to_csv,
)
from build_suits_2020_02_05 import (  # noqa: E402
    SOURCES as SOURCES_0205,
)

DATA = HERE / "data" / "jhu-csse-china-2020"
OUT_SUITS = HERE / "suits-2020-replay"
OUT_VENT = HERE / "ventilators-2020-replay"

D = dt.date
ONE = dt.timedelta(days=1)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + k * ONE for k in range((last - first).days + 1)]


def interpolate(points: dict[dt.date, int], day: dt.date) -> Fraction:
    """Linear interpolation between dated points; flat before the first and after the last."""
    keys = sorted(points)
    if day <= keys[0]:
        return Fraction(points[keys[0]])
    if day >= keys[-1]:
        return Fraction(points[keys[-1]])
    for a, b in zip(keys, keys[1:]):
        if a <= day <= b:
            t = Fraction((day - a).days, (b - a).days)
            return points[a] + t * (points[b] - points[a])
    raise AssertionError(day)


# ---------------------------------------------------------------------------
# Case counts (JHU CSSE), shared by both instances
# ---------------------------------------------------------------------------
JHU_FIRST_DAY = D(2020, 1, 22)


def read_jhu(name: str) -> dict[str, dict[dt.date, int]]:
    """{Province/State: {date: cumulative count}} from one JHU file (date headers parsed)."""
    with open(DATA / name, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [(j, parse_header_date(c)) for j, c in enumerate(header)]
        cols = [(j, d) for j, d in cols if d is not None]
        return {row[0]: {d: int(row[j]) for j, d in cols} for row in reader}


_JHU: tuple | None = None


def jhu() -> tuple:
    global _JHU
    if _JHU is None:
        _JHU = (read_jhu("confirmed.csv"), read_jhu("deaths.csv"), read_jhu("recovered.csv"))
    return _JHU


def jhu_active(day: dt.date) -> dict[str, int]:
    """Active cases (confirmed - deaths - recovered) per region id, from JHU (day >= 22 Jan)."""
    conf, dead, recov = jhu()
    return {
        rid: conf[jhu_name][day] - dead[jhu_name][day] - recov[jhu_name][day]
        for rid, (jhu_name, *_rest) in REGIONS.items()
    }


# Before 22 Jan 2020 (the first JHU column) the active cases are extrapolated
# back. ASSUMPTION: every province's count shrinks by the same factor per day,
# the national ratio of 22 Jan to 23 Jan: q = 502 / 591 = 0.849 (JHU active
# cases, 31 provinces). Day 22 - k gets round(active(22 Jan) * q^k). Cross-check
# from general knowledge (National Health Commission daily reports, not in the
# seed documents): 291 confirmed cases nationally on 20 Jan and 440 on 21 Jan,
# against 363 and 427 extrapolated active cases here (Hubei 288 and 339).
def back_factor() -> Fraction:
    a22, a23 = jhu_active(JHU_FIRST_DAY), jhu_active(JHU_FIRST_DAY + ONE)
    return Fraction(sum(a22.values()), sum(a23.values()))


def active_cases(day: dt.date) -> dict[str, int]:
    """Active cases per region id on ``day`` (JHU, extrapolated back before 22 Jan)."""
    if day >= JHU_FIRST_DAY:
        return jhu_active(day)
    k = (JHU_FIRST_DAY - day).days
    q = back_factor() ** k
    return {rid: round_half_up(a * q) for rid, a in jhu_active(JHU_FIRST_DAY).items()}


# Severity. China CDC Weekly 2020;2(8):113-122 ("Vital Surveillance", 44,672
# confirmed cases to 11 Feb 2020; also Wu & McGoogan, JAMA 2020;323(13):1239):
# 81% mild, 14% severe, 5% critical. Most of those cases were in Hubei, and
# 004 l.42 gives 564 / 2,987 = 18.9% new severe cases in Hubei on 5 Feb, which
# matches 14% + 5%. Outside Hubei, 004 l.42 gives (640 - 564) / (3,694 - 2,987)
# = 76 / 707 = 10.75%, split here in the same 14 : 5 proportion (ASSUMPTION).
# Both shares are applied to active cases on every day (ASSUMPTION: a constant
# case mix).
HUBEI_SEVERE = Fraction(14, 100)
HUBEI_CRITICAL = Fraction(5, 100)
OTHER_SEVERE_OR_CRITICAL = Fraction(640 - 564, 3_694 - 2_987)
OTHER_SEVERE = OTHER_SEVERE_OR_CRITICAL * Fraction(14, 19)
OTHER_CRITICAL = OTHER_SEVERE_OR_CRITICAL * Fraction(5, 19)


def severe_share(region: str) -> Fraction:
    """Share of active cases that are severe (not critical)."""
    return HUBEI_SEVERE if region == "hubei" else OTHER_SEVERE


def critical_share(region: str) -> Fraction:
    """Share of active cases that are critical."""
    return HUBEI_CRITICAL if region == "hubei" else OTHER_CRITICAL


def grave_share(region: str) -> Fraction:
    """Share of active cases that are severe or critical."""
    return severe_share(region) + critical_share(region)


# Great-circle distance, as in allocator/geo.py (haversine, mean Earth radius).
EARTH_RADIUS_KM = 6371.0088


def great_circle_km(lat1: str, lon1: str, lat2: str, lon2: str) -> float:
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dl = math.radians(float(lon2) - float(lon1))
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


# Transit days. ASSUMPTION: 0 days within the source's own province, 1 day up to
# 1,000 km (overnight by road or a same-day flight), 2 days beyond (green-channel
# trucking across the country; 002 l.36 on the green channels).
NEAR_KM = 1_000


def transit_days(km: float, same_province: bool) -> int:
    if same_province:
        return 0
    return 1 if km <= NEAR_KM else 2


def capital(region: str) -> tuple[str, str]:
    _jhu, _name, _zh, lat, lon = REGIONS[region]
    return lat, lon


def route_rows(sources: dict[str, tuple], regions: list[str], export_sources: list[str] | None = None) -> list[tuple]:
    """Routes (source, region, product, cost, distance_km, transit_days) from every source to
    every province capital, plus the export gateway (Shanghai, ASSUMPTION) for ``export_sources``
    (the domestic emergency-suit makers: exports are general grade, and reserves, donations and
    imports serve domestic needs). Cost is the great-circle km rounded half up (cost_per_km = 1)."""
    rows = []
    for sid, (_name, sregion, _kind, lat, lon) in sources.items():
        for rid in regions:
            km = great_circle_km(lat, lon, *capital(rid))
            cost = round_half_up(Fraction(km))
            rows.append((sid, rid, "", cost, cost, transit_days(km, sregion == rid)))
        if export_sources is not None and sid in export_sources:
            km = great_circle_km(lat, lon, *capital(EXPORT_GATEWAY))
            cost = round_half_up(Fraction(km))
            rows.append((sid, EXPORT_REGION, "", cost, cost, transit_days(km, sregion == EXPORT_GATEWAY)))
    return sorted(rows)


def region_rows(with_export: bool, population: bool) -> list[tuple]:
    rows = []
    for rid in sorted(REGIONS):
        _jhu, name, name_zh, lat, lon = REGIONS[rid]
        row = (rid, name, name_zh, lat, lon, ALL_FLAGS, REGION_WEIGHT.get(rid, ""))
        if population:
            row += (round_half_up(Fraction(POPULATION_M[rid]) * 1_000_000),)
        rows.append(row)
    if with_export:
        rows.append((EXPORT_REGION, "Exports and foreign aid", "出口和对外援助", "", "", "export", ""))
    return sorted(rows)


REGION_HEADER = ["region", "name", "name_zh", "lat", "lon", "flags", "weight"]

# ===========================================================================
# Suits
# ===========================================================================
SUITS_FIRST = D(2020, 1, 20)  # 004 l.24: the first period runs from 20 Jan
SUITS_LAST = D(2020, 3, 14)  # 004 l.96, l.102: "到3月14日"; Hubei stopped asking on 15 Mar (004 l.108)

SUIT_PRODUCTS = [
    # product, name, family, grade, unit, countable, durable, attrition, lead_days
    # 004 l.54: GB suits (and EU-standard sterile suits) for ICUs only; other
    # emergency suits for non-ICU areas. Product lead_days is the default
    # sterilisation (ethylene oxide, 7 days, 004 l.52); supply rows override it.
    (
        "emergency_suit",
        "Emergency-use medical protective suit (other standards; non-ICU use)",
        "protective_suit",
        "general",
        "suit",
        "true",
        "false",
        0,
        0,
    ),
    (
        "gb_suit",
        "GB 19082-2009 national-standard medical protective suit",
        "protective_suit",
        "icu",
        "suit",
        "true",
        "false",
        0,
        7,
    ),
]

# --- Demand -----------------------------------------------------------------
# Consumption model: one suit per person per shift in the contaminated zone (a
# suit is single-use and taken off when leaving the zone). Staff present per
# patient x shifts per day = suits per patient-day.
#
# Ordinary (mild or moderate) patient-day: ASSUMPTION 0.25 staff present per
# patient (a nurse per 6 patients plus a doctor, cleaner or other worker per 12)
# and 6-hour shifts (4 a day): 0.25 x 4 = 1 suit. For scale: the NHC ward norm is
# 0.4 nurses per bed in the roster (general knowledge).
SUITS_PER_ORDINARY_PATIENT_DAY = Fraction(1, 4) * Fraction(24, 6)
# Severe or critical patient-day (use = icu): calibrated. 004 l.56: on 14 Feb GB
# output reached 140,000 a day and the ICU-grade suits supplied to Hubei were
# "slightly above" the ordered demand: a tight balance. 004 l.44: 140,000 a day
# was the target for 15 Feb. The national ICU demand of 14 Feb is set to
# 140,000: g_icu = 140,000 / (severe and critical patients, 14 Feb).
ICU_CALIBRATION_DAY = D(2020, 2, 14)
ICU_CALIBRATION_TOTAL = 140_000
# Hubei's documented request. 004 l.26: "武汉市提出每天需要10万套医用防护服" (20-27 Jan).
# Hubei's demand is never below it from 20 Jan until the patient model first
# reaches it (computed: on 11 Feb, so the floor holds to 10 Feb); the difference is a facility component (fever
# clinics, suspected-case observation, sampling, transport, and patients not yet
# confirmed: Hubei's counts lagged, cf. the clinically diagnosed cases added on
# 13 Feb). ASSUMPTION: the floor holds until the patient model first reaches it,
# and no other province has a facility component.
HUBEI_REQUEST = 100_000
# The ICU-only rule of 004 l.54 is reported, undated, in the 5-14 Feb section.
# ASSUMPTION: it applies from 5 Feb. Before it every suit demand needs a GB suit
# (the request of 004 l.26 is for 医用防护服, and no other grade was in the
# national supply), so every demand row before 5 Feb has use = icu.
ICU_RULE_DAY = D(2020, 2, 5)

# Exports and foreign aid (004 l.110: 127 M suits exported by the end of April,
# i.e. about 2.08 M a day over March and April; 002 l.54 on 4 Mar: makers are
# encouraged to meet foreign demand). ASSUMPTION: a modest 50,000 emergency
# suits a day from 1 Mar (2.4% of that average; most exports left in April and
# the customs figure counts all protective clothing).
EXPORT_REGION = "export"
EXPORT_FIRST = D(2020, 3, 1)
EXPORT_DEMAND = 50_000
# ASSUMPTION: exports leave through Shanghai (largest air-cargo gateway); export
# routes are priced to Shanghai's coordinates.
EXPORT_GATEWAY = "shanghai"

# --- Supply -----------------------------------------------------------------
# National GB-suit output (production, before sterilisation). Documented points:
#   20-27 Jan 13,000 a day (004 l.26: 40 makers, 13 working over Spring Festival)
#   1 Feb 19,000 (004 l.38), 5 Feb 42,700 (004 l.38), 14 Feb 140,000 (004 l.56).
# ASSUMPTION: linear between the points; flat at 140,000 after 14 Feb (no later
# GB figure; the growth after 14 Feb came from converted makers, 004 l.100).
GB_OUTPUT_POINTS = {
    D(2020, 1, 20): 13_000,
    D(2020, 1, 27): 13_000,
    D(2020, 2, 1): 19_000,
    D(2020, 2, 5): 42_700,
    D(2020, 2, 14): 140_000,
}
# Sterilisation. 004 l.52: ethylene oxide takes 7-14 days; the emergency
# irradiation standard (issued by 7 Feb) cut it to under a day, and from 9 Feb
# irradiated suits left the factory within 24 hours, over 100,000 a day.
EO_LEAD_DAYS = 7  # lower end of 7-14 (ASSUMPTION: the best case)
IRRADIATION_LEAD_DAYS = 1  # "24小时内": made on day d, available on d + 1
IRRADIATION_FIRST = D(2020, 2, 9)
IRRADIATION_CAPACITY = 100_000  # "10万套以上": the documented lower bound, kept flat (ASSUMPTION)
# ASSUMPTION: the output of 13-19 Jan (before the horizon) was also 13,000 a day
# and EO-sterilised, so it arrives at the makers on 20-26 Jan (stock.csv rows
# with a day). Without it nothing could arrive before 27 Jan.
PIPELINE_DAILY = 13_000

# GB makers and their shares of national output. As in build_suits_2020_02_05:
# Jielikang (Henan) 25,000 and Sanqi (Shandong) 15,000 a day at the later date
# (004 l.74, l.78), the other 100,000 split equally among five provincial
# aggregates (Tianjin and Anhui documented, 004 l.28, l.62; Jiangsu, Zhejiang and
# Guangdong assumed). ASSUMPTION: these shares hold on every day.
GB_MAKER_SHARES = {
    "jielikang": 25,
    "sanqi": 15,
    "anhui_gb_makers": 20,
    "guangdong_gb_makers": 20,
    "jiangsu_gb_makers": 20,
    "tianjin_gb_makers": 20,
    "zhejiang_gb_makers": 20,
}
# Each GB maker is two sources at the same place, one per sterilisation path
# (the supply key is source, product, day): "<maker>_eo" (ethylene oxide) and
# "<maker>_irr" (irradiated). From 9 Feb each maker sends the same share of the
# 100,000 a day irradiation capacity to irradiation, the rest to EO.

# Emergency (general-grade) suits, from the rule day. ASSUMPTIONS:
# - imports 10,000 and donations 3,000 a day (the figures of the 5 Feb instance);
# - domestic emergency-suit makers (established makers of other-standard suits,
#   and garment makers converting from 12 Feb, 004 l.48: Jiangsu Hongdou,
#   "Zhejiang" Bosideng, Fujian Qipai): linear from 0 on 4 Feb to 97,000 on
#   4 Mar, flat after, split equally among Jiangsu, Zhejiang and Fujian. 97,000
#   makes the national output of 4 Mar 250,000 = the suits coordinated for Hubei
#   each day (002 l.51; under unified dispatch, 004 l.30, nearly all of it went
#   to Hubei then).
EMERGENCY_IMPORTS = 10_000
EMERGENCY_DONATIONS = 3_000
EMERGENCY_DOMESTIC_POINTS = {D(2020, 2, 4): 0, D(2020, 3, 4): 250_000 - 140_000 - 10_000 - 3_000}
# Each aggregate stands at its provincial capital (maker id: capital).
EMERGENCY_MAKERS = {
    "fujian_emergency_makers": "Fuzhou",
    "jiangsu_emergency_makers": "Nanjing",
    "zhejiang_emergency_makers": "Hangzhou",
}

# Stock. 004 l.28: the central medical reserve's suits left for Wuhan before dawn
# on 23 Jan; 3,000 suits donated on 26 Jan; Tianjin 5,000 and Anhui 3,000 suits
# reached Wuhan on 27 Jan. ASSUMPTIONS: the reserve held 50,000 GB suits
# (half a day of Wuhan's request), available from 23 Jan; the donated suits and
# the Tianjin and Anhui suits are GB grade; Tianjin and Anhui hold theirs as
# local reserves from the start and may send them on (transfers.csv).
CENTRAL_RESERVE_STOCK = 50_000
CENTRAL_RESERVE_DAY = D(2020, 1, 23)
DONATION_STOCK = 3_000
DONATION_DAY = D(2020, 1, 26)
REGION_STOCK = {"tianjin": 5_000, "anhui": 3_000}
TRANSFERS = [("tianjin", "hubei"), ("anhui", "hubei")]
# ASSUMPTION: a transfer costs the capital-to-capital km plus 100 for re-handling
# at the provincial warehouse, so that sending new output on through Tianjin or
# Anhui never ties with the direct route (a maker in Anhui is 0 km from Hefei).
TRANSFER_HANDLING = 100


def suit_sources() -> dict[str, tuple]:
    """source id: (name, region, kind, lat, lon)."""
    out = {}
    for maker in GB_MAKER_SHARES:
        name, region, kind, lat, lon = SOURCES_0205[maker]
        out[f"{maker}_eo"] = (f"{name} - ethylene-oxide sterilised", region, kind, lat, lon)
        out[f"{maker}_irr"] = (f"{name} - irradiation sterilised (from 9 Feb)", region, kind, lat, lon)
    for maker, city in EMERGENCY_MAKERS.items():
        region = maker.split("_")[0]
        lat, lon = capital(region)
        out[maker] = (
            f"{REGIONS[region][1]} emergency-suit makers (aggregate; assumed) - at {city}",
            region,
            "enterprise",
            lat,
            lon,
        )
    for sid in ("central_reserve", "donations", "imports"):
        out[sid] = SOURCES_0205[sid]
    return dict(sorted(out.items()))


def gb_output(day: dt.date) -> int:
    return round_half_up(interpolate(GB_OUTPUT_POINTS, day))


def emergency_domestic(day: dt.date) -> int:
    if day < ICU_RULE_DAY:
        return 0
    return round_half_up(interpolate(EMERGENCY_DOMESTIC_POINTS, day))


def split_by_shares(total: int, shares: dict[str, int]) -> dict[str, int]:
    return largest_remainder(total, {k: Fraction(v) for k, v in shares.items()})


def suit_supply(irradiation: bool = True) -> list[tuple]:
    """Supply rows (source, product, day, quantity, lead_days); rows of 0 are left out."""
    rows = []
    for day in days(SUITS_FIRST, SUITS_LAST):
        iso = day.isoformat()
        total = gb_output(day)
        made = split_by_shares(total, GB_MAKER_SHARES)
        irr_total = min(total, IRRADIATION_CAPACITY) if day >= IRRADIATION_FIRST else 0
        irr = split_by_shares(irr_total, GB_MAKER_SHARES)
        for maker in GB_MAKER_SHARES:
            eo = made[maker] - irr[maker]
            assert eo >= 0, (maker, day)
            if eo:
                rows.append((f"{maker}_eo", "gb_suit", iso, eo, EO_LEAD_DAYS))
            if irr[maker]:
                lead = IRRADIATION_LEAD_DAYS if irradiation else EO_LEAD_DAYS
                rows.append((f"{maker}_irr", "gb_suit", iso, irr[maker], lead))
        if day >= ICU_RULE_DAY:
            dom = largest_remainder(emergency_domestic(day), {m: Fraction(1) for m in EMERGENCY_MAKERS})
            for maker, q in dom.items():
                if q:
                    rows.append((maker, "emergency_suit", iso, q, 0))
            rows.append(("imports", "emergency_suit", iso, EMERGENCY_IMPORTS, 0))
            rows.append(("donations", "emergency_suit", iso, EMERGENCY_DONATIONS, 0))
    return sorted(rows)


def suit_stock() -> list[tuple]:
    """Stock rows (source, region, product, day, quantity, floor)."""
    rows = []
    for k in range(EO_LEAD_DAYS):
        arrive = SUITS_FIRST + k * ONE
        for maker, q in split_by_shares(PIPELINE_DAILY, GB_MAKER_SHARES).items():
            rows.append((f"{maker}_eo", "", "gb_suit", arrive.isoformat(), q, ""))
    rows.append(("central_reserve", "", "gb_suit", CENTRAL_RESERVE_DAY.isoformat(), CENTRAL_RESERVE_STOCK, ""))
    rows.append(("donations", "", "gb_suit", DONATION_DAY.isoformat(), DONATION_STOCK, ""))
    for region, q in REGION_STOCK.items():
        rows.append(("", region, "gb_suit", "", q, ""))
    return sorted(rows)


def transfer_rows() -> list[tuple]:
    rows = []
    for a, b in TRANSFERS:
        km = great_circle_km(*capital(a), *capital(b))
        cost = round_half_up(Fraction(km)) + TRANSFER_HANDLING
        rows.append((a, b, "", cost, transit_days(km, False), ""))
    return sorted(rows)


def suit_patient_parts(day: dt.date, g_icu: Fraction) -> dict[str, tuple[Fraction, Fraction]]:
    """{region: (icu part, ordinary part)} of the patient model, unrounded."""
    active = active_cases(day)
    return {
        r: (g_icu * a * grave_share(r), SUITS_PER_ORDINARY_PATIENT_DAY * a * (1 - grave_share(r)))
        for r, a in active.items()
    }


def suits_g_icu() -> Fraction:
    """Suits per severe or critical patient-day, calibrated on 14 Feb (see ICU_CALIBRATION_*)."""
    active = active_cases(ICU_CALIBRATION_DAY)
    grave = sum(a * grave_share(r) for r, a in active.items())
    return Fraction(ICU_CALIBRATION_TOTAL) / grave


def hubei_floor_last_day(g_icu: Fraction) -> dt.date:
    """The last day on which Hubei's request floor applies (before the model first reaches it)."""
    for day in days(SUITS_FIRST, SUITS_LAST):
        icu, ordinary = suit_patient_parts(day, g_icu)["hubei"]
        if icu + ordinary >= HUBEI_REQUEST:
            return day - ONE
    return SUITS_LAST


def suit_demand() -> list[tuple]:
    """Demand rows (region, family, use, day, quantity); rows of 0 are left out."""
    g_icu = suits_g_icu()
    floor_last = hubei_floor_last_day(g_icu)
    rows = []
    for day in days(SUITS_FIRST, SUITS_LAST):
        iso = day.isoformat()
        for region, (icu_x, ord_x) in sorted(suit_patient_parts(day, g_icu).items()):
            top_up = Fraction(0)
            if region == "hubei" and day <= floor_last:
                top_up = max(Fraction(0), HUBEI_REQUEST - icu_x - ord_x)
            total = round_half_up(icu_x + ord_x + top_up)
            if day < ICU_RULE_DAY:
                parts = (("icu", total),)
            else:
                icu = round_half_up(icu_x)
                parts = (("general", total - icu), ("icu", icu))
            for use, q in parts:
                if q > 0:
                    rows.append((region, "protective_suit", use, iso, q))
        if day >= EXPORT_FIRST:
            rows.append((EXPORT_REGION, "protective_suit", "general", iso, EXPORT_DEMAND))
    return sorted(rows)


POLICY_SUITS = """\
# Policy for suits-2020-replay. See README.md, section "Policy".
equity = "on"
icu_grade_for_general = false
unmet = "lost"

[weights]
icu = 4
level_one_response = 8
port_of_entry = 4
border_port = 2
medium_risk = 2
export = 0.01

[routes]
cost_per_km = 1.0

[horizon]
time_preference = 0.001

[floor]
days = 0
weight = 0.5
"""


def render_suits(irradiation: bool = True) -> dict[str, str]:
    sources = suit_sources()
    regions = sorted(REGIONS)
    return {
        "products.csv": to_csv(
            ["product", "name", "family", "grade", "unit", "countable", "durable", "attrition", "lead_days"],
            sorted(SUIT_PRODUCTS),
        ),
        "regions.csv": to_csv(REGION_HEADER, region_rows(with_export=True, population=False)),
        "sources.csv": to_csv(
            ["source", "name", "region", "kind", "lat", "lon"], [(s, *v) for s, v in sources.items()]
        ),
        "supply.csv": to_csv(["source", "product", "day", "quantity", "lead_days"], suit_supply(irradiation)),
        "demand.csv": to_csv(["region", "family", "use", "day", "quantity"], suit_demand()),
        "routes.csv": to_csv(
            ["source", "region", "product", "cost", "distance_km", "transit_days"],
            route_rows(sources, regions, list(EMERGENCY_MAKERS)),
        ),
        "stock.csv": to_csv(["source", "region", "product", "day", "quantity", "floor"], suit_stock()),
        "transfers.csv": to_csv(
            ["from_region", "to_region", "product", "cost", "transit_days", "capacity"], transfer_rows()
        ),
        "policy.toml": POLICY_SUITS,
    }


COUNTERFACTUAL_README = """\
# suits-2020-replay without irradiation (counterfactual)

Written by `instances/build_replay_2020.py --no-irradiation -o DIR`; not part of
the project. It is `instances/suits-2020-replay/` with one change: every GB-suit
supply row has `lead_days` = 7 (ethylene-oxide sterilisation), including the rows
of the `*_irr` sources, which keep their ids so that the two instances differ in
that column only. Compare the two replays to see what the emergency irradiation
standard of 7 Feb 2020 (004 l.52) was worth. See
`instances/suits-2020-replay/README.md` for everything else.
"""

# ===========================================================================
# Ventilators
# ===========================================================================
VENT_FIRST = D(2020, 2, 1)
VENT_LAST = D(2020, 3, 14)

# ASSUMPTION: attrition 0.2% of units on hand a day (breakdown, maintenance).
VENT_ATTRITION = "0.002"
VENT_PRODUCTS = [
    # 002 l.36 counts the two kinds separately. Invasive ventilators are ICU grade
    # and serve ICU use (critical patients); non-invasive ones serve general use
    # (severe patients' beds). Durable: demand is units in service.
    (
        "invasive_ventilator",
        "Invasive ventilator (有创呼吸机)",
        "ventilator",
        "icu",
        "unit",
        "true",
        "true",
        VENT_ATTRITION,
        0,
    ),
    (
        "noninvasive_ventilator",
        "Non-invasive ventilator (无创呼吸机)",
        "ventilator",
        "general",
        "unit",
        "true",
        "true",
        VENT_ATTRITION,
        0,
    ),
]

# Reported deliveries to Hubei by 3 Mar (002 l.36): non-invasive about 14,000,
# invasive 2,900+, from the key monitored enterprises.
HUBEI_DELIVERED_TO = D(2020, 3, 3)
HUBEI_DELIVERED = {"noninvasive_ventilator": 14_000, "invasive_ventilator": 2_900}

# Population, millions (2020 census, approximate; the same figures as the
# project's allocator/data/provinces.csv, general knowledge). Used to split the
# opening stock and shown in regions.csv.
POPULATION_M = {
    "anhui": "61.0",
    "beijing": "21.9",
    "chongqing": "32.1",
    "fujian": "41.5",
    "gansu": "25.0",
    "guangdong": "126.0",
    "guangxi": "50.1",
    "guizhou": "38.6",
    "hainan": "10.1",
    "hebei": "74.6",
    "heilongjiang": "31.9",
    "henan": "99.4",
    "hubei": "57.8",
    "hunan": "66.4",
    "inner_mongolia": "24.0",
    "jiangsu": "84.7",
    "jiangxi": "45.2",
    "jilin": "24.1",
    "liaoning": "42.6",
    "ningxia": "7.2",
    "qinghai": "5.9",
    "shaanxi": "39.5",
    "shandong": "101.5",
    "shanghai": "24.9",
    "shanxi": "34.9",
    "sichuan": "83.7",
    "tianjin": "13.9",
    "tibet": "3.6",
    "xinjiang": "25.9",
    "yunnan": "47.2",
    "zhejiang": "64.6",
}
# Opening stock in service for COVID-19 patients, per province (stock.csv rows
# with region, on hand on 1 Feb). ASSUMPTIONS from general knowledge:
# - critical-care beds: 3.6 per 100,000 people (Phua J et al., Crit Care Med
#   2020;48(5):654-662, China);
# - one invasive ventilator per critical-care bed, of which 10% free for COVID-19
#   patients (the rest serving other patients);
# - as many non-invasive ventilators free as invasive ones.
ICU_BEDS_PER_100K = Fraction(36, 10)
FREE_SHARE = Fraction(1, 10)

# Demand (units in service): a non-invasive ventilator for every severe or
# critical patient's bed and an invasive one for every critical patient's bed,
# times a factor for equipped beds per patient (beds were equipped ahead of
# admissions, "应配尽配", 004 l.104, 002 l.36). The factors are calibrated so that
# Hubei's peak need before 3 Mar, less its opening stock, equals the reported
# deliveries: c = (delivered + Hubei stock) / (Hubei patients on the peak day).

# Supply: two of the five key makers of 004 l.104 make ventilators: Mindray
# (深圳迈瑞, Shenzhen, Guangdong) and Micomme (湖南明康中锦, Changsha, Hunan). The
# other three (沈阳东软 Neusoft, 上海联影 United Imaging: imaging; 重庆山外山
# Shanwaishan, Chongqing: dialysis) make other devices of the 10-type list
# (general knowledge) and are not sources here. National output (ASSUMPTION:
# constant, no dated figure in the documents): the reported deliveries to Hubei
# over the 32 days 1 Feb - 3 Mar, divided by Hubei's share of the nation's severe
# and critical patient-days over those days (JHU, computed), which takes Hubei's
# deliveries as its share of national output. ASSUMPTION: split equally between
# the two makers; no lead time.
VENT_MAKERS = {
    "micomme": ("Micomme Medical (湖南明康中锦) - Changsha", "hunan", "enterprise", "28.2282", "112.9388"),
    "mindray": ("Mindray (深圳迈瑞) - Shenzhen", "guangdong", "enterprise", "22.5431", "114.0579"),
}


def vent_stock_per_region() -> dict[str, int]:
    return {
        r: round_half_up(Fraction(p) * 1_000_000 * ICU_BEDS_PER_100K / 100_000 * FREE_SHARE)
        for r, p in POPULATION_M.items()
    }


def vent_peak_day() -> dt.date:
    """Hubei's day of most active cases up to the delivery date."""
    return max(days(VENT_FIRST, HUBEI_DELIVERED_TO), key=lambda d: (active_cases(d)["hubei"], -d.toordinal()))


def vent_factors() -> dict[str, Fraction]:
    """Units in service per (severe or critical / critical) patient, calibrated on Hubei."""
    a = active_cases(vent_peak_day())["hubei"]
    s = vent_stock_per_region()["hubei"]
    return {
        "noninvasive_ventilator": Fraction(HUBEI_DELIVERED["noninvasive_ventilator"] + s) / (a * grave_share("hubei")),
        "invasive_ventilator": Fraction(HUBEI_DELIVERED["invasive_ventilator"] + s) / (a * critical_share("hubei")),
    }


def hubei_grave_share() -> Fraction:
    """Hubei's share of the nation's severe and critical patient-days, 1 Feb - 3 Mar."""
    hub = tot = Fraction(0)
    for day in days(VENT_FIRST, HUBEI_DELIVERED_TO):
        for r, a in active_cases(day).items():
            x = a * grave_share(r)
            tot += x
            if r == "hubei":
                hub += x
    return hub / tot


def vent_national_output() -> dict[str, int]:
    n = len(days(VENT_FIRST, HUBEI_DELIVERED_TO))
    share = hubei_grave_share()
    return {p: round_half_up(Fraction(q, n) / share) for p, q in HUBEI_DELIVERED.items()}


def vent_supply() -> list[tuple]:
    out = vent_national_output()
    rows = []
    for day in days(VENT_FIRST, VENT_LAST):
        for product, total in out.items():
            for maker, q in largest_remainder(total, {m: Fraction(1) for m in VENT_MAKERS}).items():
                if q:
                    rows.append((maker, product, day.isoformat(), q, 0))
    return sorted(rows)


def vent_demand() -> list[tuple]:
    c = vent_factors()
    rows = []
    for day in days(VENT_FIRST, VENT_LAST):
        for region, a in sorted(active_cases(day).items()):
            niv = round_half_up(c["noninvasive_ventilator"] * a * grave_share(region))
            inv = round_half_up(c["invasive_ventilator"] * a * critical_share(region))
            for use, q in (("general", niv), ("icu", inv)):
                if q > 0:
                    rows.append((region, "ventilator", use, day.isoformat(), q))
    return sorted(rows)


def vent_stock() -> list[tuple]:
    rows = []
    for region, q in vent_stock_per_region().items():
        for product in ("invasive_ventilator", "noninvasive_ventilator"):
            if q:
                rows.append(("", region, product, "", q, ""))
    return sorted(rows)


POLICY_VENT = """\
# Policy for ventilators-2020-replay. See README.md, section "Policy".
equity = "on"
icu_grade_for_general = false
unmet = "lost"

[weights]
icu = 4
level_one_response = 8
port_of_entry = 4
border_port = 2
medium_risk = 2

[routes]
cost_per_km = 1.0

[horizon]
time_preference = 0.001

[floor]
days = 0
weight = 0.5
"""


def render_vent() -> dict[str, str]:
    return {
        "products.csv": to_csv(
            ["product", "name", "family", "grade", "unit", "countable", "durable", "attrition", "lead_days"],
            sorted(VENT_PRODUCTS),
        ),
        "regions.csv": to_csv(REGION_HEADER + ["population"], region_rows(with_export=False, population=True)),
        "sources.csv": to_csv(
            ["source", "name", "region", "kind", "lat", "lon"], [(s, *v) for s, v in sorted(VENT_MAKERS.items())]
        ),
        "supply.csv": to_csv(["source", "product", "day", "quantity", "lead_days"], vent_supply()),
        "demand.csv": to_csv(["region", "family", "use", "day", "quantity"], vent_demand()),
        "routes.csv": to_csv(
            ["source", "region", "product", "cost", "distance_km", "transit_days"],
            route_rows(VENT_MAKERS, sorted(REGIONS)),
        ),
        "stock.csv": to_csv(["source", "region", "product", "day", "quantity", "floor"], vent_stock()),
        "policy.toml": POLICY_VENT,
    }


# ===========================================================================
# Summary
# ===========================================================================
def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def summary_suits(files: dict[str, str]) -> str:
    supply, demand, stock = _rows(files["supply.csv"]), _rows(files["demand.csv"]), _rows(files["stock.csv"])
    made: dict[tuple[str, str], int] = {}
    avail: dict[tuple[str, str], int] = {}
    for r in supply:
        q = int(r["quantity"])
        made[(r["day"], r["product"])] = made.get((r["day"], r["product"]), 0) + q
        arrive = (D.fromisoformat(r["day"]) + int(r["lead_days"]) * ONE).isoformat()
        avail[(arrive, r["product"])] = avail.get((arrive, r["product"]), 0) + q
    for r in stock:
        if r["source"]:  # stock at sources arriving on a day; regional stock is listed apart
            avail[(r["day"], r["product"])] = avail.get((r["day"], r["product"]), 0) + int(r["quantity"])
    dem: dict[tuple[str, str, str], int] = {}
    for r in demand:
        who = "hubei" if r["region"] == "hubei" else ("export" if r["region"] == EXPORT_REGION else "other")
        dem[(r["day"], who, r["use"])] = dem.get((r["day"], who, r["use"]), 0) + int(r["quantity"])
    g_icu = suits_g_icu()
    lines = [
        f"g_icu = {float(g_icu):.4f} suits per severe or critical patient-day "
        f"(calibrated: national ICU demand {ICU_CALIBRATION_TOTAL} on {ICU_CALIBRATION_DAY})",
        f"g_ordinary = {float(SUITS_PER_ORDINARY_PATIENT_DAY):g}; Hubei request floor of {HUBEI_REQUEST} "
        f"until {hubei_floor_last_day(g_icu)}",
        "regional stock at the start: "
        + ", ".join(f"{r['region']} {r['quantity']} {r['product']}" for r in stock if r["region"]),
        "",
        "day         made_gb made_em  avail_gb avail_em | nat_icu nat_gen  nat_tot | hub_icu hub_gen  hub_tot | export",
    ]
    cum = {"made": 0, "avail": 0, "nat": 0, "hub": 0}
    for day in days(SUITS_FIRST, SUITS_LAST):
        iso = day.isoformat()
        mg, me = made.get((iso, "gb_suit"), 0), made.get((iso, "emergency_suit"), 0)
        ag, ae = avail.get((iso, "gb_suit"), 0), avail.get((iso, "emergency_suit"), 0)
        hi, hg = dem.get((iso, "hubei", "icu"), 0), dem.get((iso, "hubei", "general"), 0)
        ni = hi + dem.get((iso, "other", "icu"), 0)
        ng = hg + dem.get((iso, "other", "general"), 0)
        ex = dem.get((iso, "export", "general"), 0)
        cum["made"] += mg + me
        cum["avail"] += ag + ae
        cum["nat"] += ni + ng
        cum["hub"] += hi + hg
        lines.append(
            f"{iso} {mg:8d} {me:7d} {ag:9d} {ae:8d} | {ni:7d} {ng:7d} {ni + ng:8d} | "
            f"{hi:7d} {hg:7d} {hi + hg:8d} | {ex:6d}"
        )
    lines += [
        "",
        f"cumulative to {SUITS_LAST}: made {cum['made']}, available at sources {cum['avail']} "
        f"(+ regional stock), domestic demand {cum['nat']}, Hubei demand {cum['hub']} "
        f"(reported supply to Hubei: 7730300)",
    ]
    return "\n".join(lines)


def summary_vent(files: dict[str, str]) -> str:
    supply, demand, stock = _rows(files["supply.csv"]), _rows(files["demand.csv"]), _rows(files["stock.csv"])
    made: dict[tuple[str, str], int] = {}
    for r in supply:
        made[(r["day"], r["product"])] = made.get((r["day"], r["product"]), 0) + int(r["quantity"])
    dem: dict[tuple[str, str, str], int] = {}
    for r in demand:
        who = "hubei" if r["region"] == "hubei" else "other"
        dem[(r["day"], who, r["use"])] = dem.get((r["day"], who, r["use"]), 0) + int(r["quantity"])
    st: dict[tuple[str, str], int] = {}
    for r in stock:
        who = "hubei" if r["region"] == "hubei" else "all"
        st[(who, r["product"])] = st.get((who, r["product"]), 0) + int(r["quantity"])
    c = vent_factors()
    lines = [
        f"peak day (Hubei, to {HUBEI_DELIVERED_TO}): {vent_peak_day()}; Hubei share of severe/critical "
        f"patient-days: {float(hubei_grave_share()):.4f}",
        f"units per severe or critical patient (non-invasive): {float(c['noninvasive_ventilator']):.4f}; "
        f"per critical patient (invasive): {float(c['invasive_ventilator']):.4f}",
        "opening stock, non-invasive / invasive: national "
        f"{st.get(('all', 'noninvasive_ventilator'), 0) + st.get(('hubei', 'noninvasive_ventilator'), 0)} / "
        f"{st.get(('all', 'invasive_ventilator'), 0) + st.get(('hubei', 'invasive_ventilator'), 0)}, Hubei "
        f"{st.get(('hubei', 'noninvasive_ventilator'), 0)} / {st.get(('hubei', 'invasive_ventilator'), 0)}",
        "",
        "day         made_niv made_inv | nat_niv nat_inv | hub_niv hub_inv   (demand = units in service)",
    ]
    for day in days(VENT_FIRST, VENT_LAST):
        iso = day.isoformat()
        mn, mi = made.get((iso, "noninvasive_ventilator"), 0), made.get((iso, "invasive_ventilator"), 0)
        hn, hi = dem.get((iso, "hubei", "general"), 0), dem.get((iso, "hubei", "icu"), 0)
        nn, ni = hn + dem.get((iso, "other", "general"), 0), hi + dem.get((iso, "other", "icu"), 0)
        lines.append(f"{iso} {mn:8d} {mi:8d} | {nn:7d} {ni:7d} | {hn:7d} {hi:7d}")
    return "\n".join(lines)


# ===========================================================================
# Main
# ===========================================================================
def write_or_check(out: Path, files: dict[str, str], check: bool) -> list[Path]:
    """Write ``files`` into ``out``; with ``check``, return the paths that differ instead."""
    if check:
        return [
            out / n
            for n, text in files.items()
            if not (out / n).exists() or (out / n).read_bytes() != text.encode("utf-8")
        ]
    out.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (out / n).write_bytes(text.encode("utf-8"))
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="compare with the files on disk instead of writing; exit 1 on a difference"
    )
    ap.add_argument("--summary", action="store_true", help="print daily national and Hubei totals")
    ap.add_argument(
        "--no-irradiation",
        action="store_true",
        help="the suits counterfactual: every GB row sterilised with ethylene oxide (needs -o)",
    )
    ap.add_argument(
        "-o", "--out", metavar="DIR", type=Path, help="folder for the --no-irradiation variant (not committed)"
    )
    args = ap.parse_args(argv)
    if args.no_irradiation != (args.out is not None):
        ap.error("--no-irradiation and -o DIR go together")
    if args.no_irradiation:
        suits = render_suits(irradiation=False)
        suits["README.md"] = COUNTERFACTUAL_README
        targets = [(args.out, suits)]
    else:
        targets = [(OUT_SUITS, render_suits()), (OUT_VENT, render_vent())]
    bad = []
    for out, files in targets:
        bad += write_or_check(out, files, args.check)
    for path in bad:
        print(f"differs: {path}", file=sys.stderr)
    if args.summary:
        for out, files in targets:
            print(f"== {out.name}")
            print(summary_vent(files) if out == OUT_VENT else summary_suits(files))
            print()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
