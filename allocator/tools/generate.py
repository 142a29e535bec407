"""Generate realistic national instances, reproducibly from a seed (``allocator generate``).

Scales: ``province`` (32 regions: the 31 provinces and the Xinjiang Production
and Construction Corps, 200 sources, 38 products), ``prefecture`` (about 340 regions, 2,000
sources), ``county`` (about 2,850 regions, 5,000 sources) and ``village`` (586,000 village
clinics needing 2 pulse oximeters each, 50 sources, 1,172,000 units: the January 2023 figure
in the seed documents).

What is real and what is synthetic. Real: the provinces, their capitals' coordinates, the
April 2020 priority flags named in the seed documents (level-one response: Beijing, Tianjin,
Hebei, Hubei; border ports: Heilongjiang, Jilin, Inner Mongolia, Guangdong), the village
figures. From general knowledge, not the seeds: the provinces of the 12 first points of entry
of March 2020 (Tianjin, Shijiazhuang, Taiyuan, Hohhot, Shanghai, Jinan, Qingdao, Nanjing,
Shenyang, Dalian, Zhengzhou, Xi'an) and approximate 2020 census populations
(``allocator/data/provinces.csv``). Synthetic, drawn from the seed: sub-regions scattered
around each capital (counts and populations in proportion to the province's population),
sources (placed in proportion to population, each making a few products), quantities
(need per million people per day x noise; supply a random 40-110 % of need per product),
and routes (each source to its nearest K regions and the capitals of level-one regions, and
each region from its nearest 5 sources, at great-circle km).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import UsageError
from allocator.inputs.geo import great_circle_km

__all__ = ["SCALES", "PRODUCTS", "generate", "write_instance"]


@dataclass(frozen=True)
class Scale:
    regions: int  # 32 at province level
    sources: int
    products: int
    nearest: int  # routes: each source to its nearest regions (village: each clinic from its nearest sources)
    products_per_source: int


SCALES = {
    "province": Scale(32, 200, 38, 12, 5),
    "prefecture": Scale(340, 2000, 38, 40, 4),
    "county": Scale(2850, 5000, 38, 100, 4),
    "village": Scale(586_000, 50, 1, 3, 1),
}

# (product, name, family, grade, unit, countable, need per million people per day)
PRODUCTS = [
    ("gb_suit", "GB medical protective suit", "protective_suit", "icu", "suit", True, 900),
    ("emergency_suit", "Emergency-use protective suit", "protective_suit", "general", "suit", True, 1500),
    ("isolation_gown", "Isolation gown", "isolation_gown", "general", "gown", True, 1200),
    ("n95_mask", "N95 respirator", "respirator", "general", "mask", True, 20000),
    ("surgical_mask", "Surgical mask", "surgical_mask", "general", "mask", True, 60000),
    ("goggles", "Medical goggles", "eye_protection", "general", "pair", True, 800),
    ("face_shield", "Face shield", "eye_protection", "general", "piece", True, 600),
    ("gloves", "Medical gloves", "gloves", "general", "pair", True, 40000),
    ("ir_thermometer", "Infrared thermometer", "thermometer", "general", "unit", True, 60),
    ("invasive_ventilator", "Invasive ventilator", "ventilator", "icu", "unit", True, 2),
    ("noninvasive_ventilator", "Non-invasive ventilator", "ventilator", "general", "unit", True, 6),
    ("ecmo", "ECMO machine", "ecmo", "icu", "unit", True, 0.05),
    ("ecg_monitor", "ECG monitor", "ecg_monitor", "general", "unit", True, 8),
    ("humidifier", "Respiratory humidification unit", "humidifier", "general", "unit", True, 3),
    ("blood_gas_analyser", "Blood-gas analyser", "blood_gas_analyser", "general", "unit", True, 0.4),
    ("haemodialysis", "Haemodialysis machine", "haemodialysis", "icu", "unit", True, 0.1),
    ("ppr", "Positive-pressure respirator", "ppr", "general", "unit", True, 0.3),
    ("mobile_dr", "Mobile DR X-ray", "mobile_dr", "general", "unit", True, 0.15),
    ("air_disinfector", "Air disinfector", "air_disinfector", "general", "unit", True, 9),
    ("np_ambulance", "Negative-pressure ambulance", "np_ambulance", "general", "vehicle", True, 0.1),
    ("hand_sanitiser", "Hand sanitiser", "hand_sanitiser", "general", "t", False, 0.5),
    ("disinfectant_84", "84 disinfectant", "disinfectant", "general", "t", False, 2.0),
    ("chloroquine", "Chloroquine phosphate", "chloroquine", "general", "course", True, 80),
    ("azvudine", "Azvudine", "azvudine", "general", "bottle", True, 300),
    ("ibuprofen", "Ibuprofen", "antipyretic", "general", "tablet", True, 60000),
    ("paracetamol", "Paracetamol", "antipyretic", "general", "tablet", True, 60000),
    ("pulse_oximeter", "Finger pulse oximeter", "pulse_oximeter", "general", "unit", True, 150),
    ("o2_concentrator", "Oxygen concentrator", "o2_concentrator", "general", "unit", True, 12),
    ("test_kit", "Nucleic-acid test kit", "test_kit", "general", "kit", True, 8000),
    ("pcr_machine", "PCR machine", "pcr_machine", "general", "unit", True, 0.2),
    ("infusion_pump", "Infusion pump", "infusion_pump", "general", "unit", True, 5),
    ("syringe_pump", "Syringe pump", "syringe_pump", "general", "unit", True, 5),
    ("hfnc", "High-flow nasal oxygen device", "hfnc", "icu", "unit", True, 1.5),
    ("defibrillator", "Defibrillator", "defibrillator", "general", "unit", True, 0.5),
    ("ct_scanner", "Mobile CT scanner", "ct_scanner", "general", "unit", True, 0.02),
    ("hospital_bed", "ICU hospital bed", "hospital_bed", "icu", "bed", True, 4),
    ("shoe_covers", "Shoe covers", "shoe_covers", "general", "pair", True, 5000),
    ("caps", "Medical caps", "caps", "general", "piece", True, 6000),
]
VILLAGE_PRODUCT = ("pulse_oximeter", "Finger pulse oximeter", "pulse_oximeter", "general", "unit", True, 0)


def _provinces() -> pd.DataFrame:
    with resources.files("allocator.data").joinpath("provinces.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype={"flags_2020_04": str}, keep_default_na=False)


def generate(scale: str, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The tables of one generated instance (``products``, ``sources``, ``supply``,
    ``regions``, ``demand``, ``routes``), the same for the same scale and seed."""
    if scale not in SCALES:
        msg = f"unknown scale {scale!r}: expected one of {', '.join(SCALES)}"
        raise UsageError(msg)
    spec = SCALES[scale]
    rng = np.random.default_rng([seed, list(SCALES).index(scale)])
    prov = _provinces()
    regions = _regions(prov, spec, scale, rng)
    catalogue = [VILLAGE_PRODUCT] if scale == "village" else PRODUCTS[: spec.products]
    products = pd.DataFrame(
        [p[:6] for p in catalogue], columns=["product", "name", "family", "grade", "unit", "countable"]
    )
    sources = _sources(prov, spec, rng)
    if scale != "province":
        # A source stands in the sub-region that holds its province's capital.
        capital = regions.drop_duplicates("parent").set_index("parent")["region"]
        sources["region"] = sources["region"].map(capital)
    if scale == "village":
        demand = pd.DataFrame(
            {"region": regions["region"], "family": "pulse_oximeter", "use": "general", "quantity": 2}
        )
        share = rng.dirichlet(np.ones(spec.sources) * 2.0)
        quantity = _split_whole(1_172_000, share)
        supply = pd.DataFrame({"source": sources["source"], "product": "pulse_oximeter", "quantity": quantity})
        routes = _nearest_routes(sources, regions, spec.nearest, by="region")
    else:
        demand = _demand(regions, catalogue, rng)
        supply = _supply(sources, demand, catalogue, spec, rng)
        # Each source to its nearest regions, and each region from its nearest few sources.
        routes = pd.concat(
            [
                _nearest_routes(sources, regions, spec.nearest, by="source"),
                _nearest_routes(sources, regions, 5, by="region"),
            ]
        )
        routes = routes.drop_duplicates(["source", "region"]).sort_values(["source", "region"]).reset_index(drop=True)
    return {
        "products": products,
        "sources": sources,
        "supply": supply,
        "regions": regions,
        "demand": demand,
        "routes": routes,
    }


def _regions(prov: pd.DataFrame, spec: Scale, scale: str, rng) -> pd.DataFrame:
    base = prov.rename(columns={"flags_2020_04": "flags"})
    if scale == "province":
        out = base[["region", "name", "name_zh", "lat", "lon", "flags"]].copy()
        out["population"] = (base["population_m"] * 1e6).round().astype(np.int64)
        out["parent"] = ""
        return out[["region", "name", "name_zh", "lat", "lon", "flags", "parent", "population"]]
    counts = _split_whole(spec.regions, (base["population_m"] / base["population_m"].sum()).to_numpy(), minimum=1)
    rows = []
    for (_, p), n in zip(base.iterrows(), counts, strict=True):
        lat = p["lat"] + rng.normal(0, p["spread_deg"] * 0.5, n)
        lon = p["lon"] + rng.normal(0, p["spread_deg"] * 0.7, n)
        lat[0], lon[0] = p["lat"], p["lon"]  # the first sub-region is the capital
        weight = rng.lognormal(0, 0.8, n)
        weight[0] *= 3
        pop = _split_whole(int(p["population_m"] * 1e6), weight / weight.sum())
        level = "village" if scale == "village" else scale
        for i in range(n):
            rows.append(
                (
                    f"{p['region']}_{i:0{len(str(n))}d}",
                    f"{p['name']} {level} {i}",
                    "",
                    round(float(np.clip(lat[i], -90, 90)), 4),
                    round(float(np.clip(lon[i], -180, 180)), 4),
                    p["flags"] if i == 0 or scale != "village" else "",
                    p["region"],
                    int(pop[i]),
                )
            )
    return pd.DataFrame(rows, columns=["region", "name", "name_zh", "lat", "lon", "flags", "parent", "population"])


def _sources(prov: pd.DataFrame, spec: Scale, rng) -> pd.DataFrame:
    weight = prov["population_m"].to_numpy() ** 1.3
    where = rng.choice(len(prov), size=spec.sources, p=weight / weight.sum())
    p = prov.iloc[where].reset_index(drop=True)
    width = len(str(spec.sources - 1))
    return pd.DataFrame(
        {
            "source": [f"m{i:0{width}d}" for i in range(spec.sources)],
            "name": [f"Maker {i} ({r})" for i, r in enumerate(p["name"])],
            "region": p["region"],
            "kind": "enterprise",
            "lat": np.round(p["lat"] + rng.normal(0, p["spread_deg"] * 0.4), 4).clip(-90, 90),
            "lon": np.round(p["lon"] + rng.normal(0, p["spread_deg"] * 0.5), 4).clip(-180, 180),
        }
    )


def _demand(regions: pd.DataFrame, catalogue, rng) -> pd.DataFrame:
    families = {}
    for _prod, _, fam, grade, _, countable, need in catalogue:
        f = families.setdefault(fam, {"need": 0.0, "grades": set(), "countable": countable})
        f["need"] += need
        f["grades"].add(grade)
    pop_m = regions["population"].to_numpy(float) / 1e6
    frames = []
    for fam, f in families.items():
        q = pop_m * f["need"] * rng.lognormal(0, 0.5, len(regions))
        # ICU use where the family has ICU-grade products; general use where it has general ones.
        uses = {frozenset({"icu"}): [("icu", 1.0)], frozenset({"general"}): [("general", 1.0)]}.get(
            frozenset(f["grades"]), [("icu", 0.3), ("general", 0.7)]
        )
        for use, part in uses:
            qq = q * part
            qq = np.round(qq) if f["countable"] else np.round(qq, 3)
            frames.append(pd.DataFrame({"region": regions["region"], "family": fam, "use": use, "quantity": qq}))
    out = pd.concat(frames, ignore_index=True)
    out = out[out["quantity"] > 0]
    out["quantity"] = [int(v) if float(v).is_integer() else float(v) for v in out["quantity"]]
    return out.sort_values(["region", "family", "use"]).reset_index(drop=True)


def _supply(sources, demand, catalogue, spec, rng) -> pd.DataFrame:
    makers = {p[0]: [] for p in catalogue}
    names = [p[0] for p in catalogue]
    for s in sources["source"]:
        for prod in rng.choice(names, size=spec.products_per_source, replace=False):
            makers[prod].append(s)
    need = demand.groupby("family")["quantity"].sum()
    fam_products = {}
    for prod, _, fam, *_ in catalogue:
        fam_products.setdefault(fam, []).append(prod)
    rows = []
    for prod, _, fam, _, _, countable, _ in catalogue:
        who = sorted(makers[prod]) or [sources["source"].iloc[int(rng.integers(len(sources)))]]
        total = float(need.get(fam, 0.0)) / len(fam_products[fam]) * rng.uniform(0.4, 1.1)
        share = rng.dirichlet(np.ones(len(who)) * 1.5)
        qty = _split_whole(int(round(total)), share) if countable else np.round(total * share, 3)
        rows += [(s, prod, int(q) if countable else float(q)) for s, q in zip(who, qty, strict=True) if q > 0]
    return (
        pd.DataFrame(rows, columns=["source", "product", "quantity"])
        .sort_values(["source", "product"])
        .reset_index(drop=True)
    )


def _nearest_routes(sources: pd.DataFrame, regions: pd.DataFrame, k: int, by: str) -> pd.DataFrame:
    """Each source to its ``k`` nearest regions plus the level-one capitals (``by="source"``),
    or each region from its ``k`` nearest sources (``by="region"``, for the village scale)."""
    s_lat, s_lon = sources["lat"].to_numpy(), sources["lon"].to_numpy()
    r_lat, r_lon = regions["lat"].to_numpy(), regions["lon"].to_numpy()
    pairs_s, pairs_r, dist = [], [], []
    if by == "source":
        priority = np.flatnonzero(
            regions["flags"].str.contains("level_one_response").to_numpy()
            & (regions["parent"].eq("") | regions["region"].str.endswith(("_0", "_00", "_000"))).to_numpy()
        )
        k = min(k, len(regions))
        for start in range(0, len(sources), 256):
            stop = min(start + 256, len(sources))
            d = great_circle_km(s_lat[start:stop, None], s_lon[start:stop, None], r_lat[None, :], r_lon[None, :])
            near = (
                np.argpartition(d, k - 1, axis=1)[:, :k]
                if k < len(regions)
                else np.tile(np.arange(len(regions)), (stop - start, 1))
            )
            for i in range(stop - start):
                cols = np.union1d(near[i], priority)
                pairs_s.append(np.full(len(cols), start + i))
                pairs_r.append(cols)
                dist.append(d[i, cols])
    else:
        k = min(k, len(sources))
        for start in range(0, len(regions), 20_000):
            stop = min(start + 20_000, len(regions))
            d = great_circle_km(r_lat[start:stop, None], r_lon[start:stop, None], s_lat[None, :], s_lon[None, :])
            near = (
                np.argpartition(d, k - 1, axis=1)[:, :k]
                if k < len(sources)
                else np.tile(np.arange(len(sources)), (stop - start, 1))
            )
            rows = np.repeat(np.arange(start, stop), near.shape[1])
            pairs_r.append(rows)
            pairs_s.append(near.ravel())
            dist.append(np.take_along_axis(d, near, axis=1).ravel())
    s_idx, r_idx, km = np.concatenate(pairs_s), np.concatenate(pairs_r), np.round(np.concatenate(dist), 1)
    out = pd.DataFrame(
        {
            "source": sources["source"].to_numpy()[s_idx],
            "region": regions["region"].to_numpy()[r_idx],
            "cost": km,
            "distance_km": km,
        }
    )
    return out.sort_values(["source", "region"]).reset_index(drop=True)


def _split_whole(total: int, share: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split a whole number by shares into whole numbers (largest remainders), each >= minimum."""
    share = np.asarray(share, float)
    base = np.full(len(share), minimum, dtype=np.int64)
    rest = total - base.sum()
    raw = rest * share / share.sum()
    out = np.floor(raw).astype(np.int64)
    left = int(rest - out.sum())
    order = np.argsort(-(raw - out), kind="stable")
    out[order[:left]] += 1
    return base + out


def write_instance(tables: dict[str, pd.DataFrame], folder: str | Path, note: str = "") -> Path:
    """Write generated tables as an instance folder (CSV, UTF-8), with a README saying how it was made."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
    (out / "README.md").write_text(
        "# Generated instance\n\nMade by `allocator generate`"
        + (f" ({note})" if note else "")
        + ".\n\n"
        + (__doc__ or "").strip()
        + "\n",
        encoding="utf-8",
    )
    return out
