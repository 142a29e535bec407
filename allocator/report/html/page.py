"""Report: a plan folder as one self-contained HTML page (``allocator report PLAN_DIR -o report.html``).

The page has the map (fill rate by region, shipments from sources, priority flags), the priorities at a
glance (fill rate by tier and by family and use, the largest shortfalls and why), where each family's supply
went (sources -> priority tiers -> regions), for a multi-day plan or a replay the fill rates and stock over
time, every table (sortable by a click on its header) and the plan's provenance.

Everything is inline: SVG drawn in Python (``allocator/svg.py``, ``allocator/svgmap.py``), CSS, and a few
lines of plain JavaScript that sort the tables. Nothing is fetched when the page is viewed, and the same
plan folder (and instance) gives the same bytes: no timestamps, no timings, rows in a fixed order.

    >>> from allocator.report.html.page import write_report                       # doctest: +SKIP
    >>> write_report("plan/", "report.html", instance=allocator.load("instances/suits-2020-02-05"))  # doctest: +SKIP

The plan folder says what was planned, and (``places.csv``) where its regions and sources lie and which
priority flags the regions carry; ``instance`` gives the same. A folder without ``places.csv`` (written by an
earlier allocator) gets regions at their provincial capitals (``allocator/data/provinces.csv``) and no
shipments on the map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.report.html.map import MAX_FLOWS, china_map
from allocator.report.html.svg import (
    bar_rows,
    esc,
    fill_colour,
    fmt_compact,
    fmt_pct,
    fmt_qty,
    line_chart,
    sankey,
    sparkline_panel,
    tier_colour,
)
from allocator.report.reader import KINDS, NUMERIC, RATES, TABLES, PlanFolder, read_folder
from allocator.version import __version__

__all__ = ["render_report", "write_report", "MAX_TABLE_ROWS"]

MAX_TABLE_ROWS = 2000  # rows per table in the page; the plan folder's file has them all
MAX_SANKEY_SOURCES, MAX_SANKEY_REGIONS, MAX_SANKEY_FAMILIES = 8, 10, 12
MAX_PANELS = 32  # regions shown over time, largest demand first
TOP_SHORTFALLS = 12

# ---------------------------------------------------------------------------------------------------------------
# What the page shows, as tables


@dataclass
class _Places:
    regions: pd.DataFrame  # region, name, name_zh, lat, lon, flags, parent
    sources: pd.DataFrame  # source, name, lat, lon (may be empty)
    families: dict  # product -> family
    from_instance: bool


def _places(plan: PlanFolder, instance) -> _Places:
    cols = ["region", "name", "name_zh", "lat", "lon", "flags", "parent"]
    places = plan.tables.get("places.csv")
    if instance is None and places is not None and {"kind", "id", "lat", "lon"} <= set(places.columns):
        reg = (
            places.loc[places["kind"] == "region"]
            .drop(columns="region", errors="ignore")
            .rename(columns={"id": "region"})
            .reindex(columns=cols)
        )
        src = places.loc[places["kind"] == "source"]
        sources = pd.DataFrame(
            {"source": src["id"], "name": src.get("name", src["id"]), "lat": src["lat"], "lon": src["lon"]}
        ).reset_index(drop=True)
        prods = places.loc[places["kind"] == "product"]
        families = dict(zip(prods["id"], prods["family"])) if "family" in places.columns else {}
        return _Places(_clean_regions(reg.reset_index(drop=True)), sources, families, True)
    if instance is not None:
        reg = instance.regions.reindex(columns=cols).copy()
        src = instance.sources.copy()
        reg_at = reg.set_index("region")
        lat = src["lat"].where(src["lat"].notna(), src["region"].map(reg_at["lat"]))
        lon = src["lon"].where(src["lon"].notna(), src["region"].map(reg_at["lon"]))
        sources = pd.DataFrame({"source": src["source"], "name": src["name"], "lat": lat, "lon": lon})
        families = dict(zip(instance.products["product"], instance.products["family"]))
        return _Places(_clean_regions(reg), sources, families, True)
    with resources.files("allocator").joinpath("data/provinces.csv").open(encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype={"region": str})
    reg = table.reindex(columns=cols)
    reg["flags"] = ""
    fill = plan.tables["fill.csv"]
    known = set(reg["region"])
    extra = sorted(set(fill["region"]) - known)
    if extra:
        reg = pd.concat([reg, pd.DataFrame({"region": extra, "name": extra})], ignore_index=True)
    names = {}
    for name in ("dispatch.csv", "shipments.csv"):
        t = plan.tables.get(name)
        if t is not None and "region_name" in t.columns:
            names.update(zip(t["region"], t["region_name"]))
    reg["name"] = [names.get(r, nm) for r, nm in zip(reg["region"], reg["name"])]
    reg = reg.loc[reg["region"].isin(set(fill["region"]))]
    families = {}
    alloc = plan.tables.get("allocation.csv")
    if alloc is not None and {"product", "family"} <= set(alloc.columns):
        families = dict(zip(alloc["product"], alloc["family"]))
    return _Places(_clean_regions(reg), pd.DataFrame(columns=["source", "name", "lat", "lon"]), families, False)


def _clean_regions(reg: pd.DataFrame) -> pd.DataFrame:
    reg = reg.copy()
    for c in ("name", "name_zh", "flags", "parent"):
        reg[c] = reg[c].astype(object).where(reg[c].notna(), "").astype(str)
    reg["name"] = np.where(reg["name"] == "", reg["region"], reg["name"])
    reg["lat"] = pd.to_numeric(reg["lat"], errors="coerce")
    reg["lon"] = pd.to_numeric(reg["lon"], errors="coerce")
    return reg.sort_values("region").reset_index(drop=True)


def _fill(plan: PlanFolder) -> pd.DataFrame:
    """Demand rows with a tier: the plan's own (one day) or by weight, highest first (several days)."""
    fill = plan.tables["fill.csv"].copy()
    if "tier" not in fill.columns:
        by_day = plan.tables["by_day.csv"]
        tiers = dict(zip(by_day["weight"], by_day["tier"]))
        ranks = {w: i + 1 for i, w in enumerate(sorted(set(fill["weight"]), reverse=True))}
        fill["tier"] = [tiers.get(w, ranks[w]) for w in fill["weight"]]
    return fill


def _flows(plan: PlanFolder) -> pd.DataFrame:
    """Shipments: source, region, product, quantity (summed over days)."""
    t = plan.tables["dispatch.csv" if plan.kind == "day" else "shipments.csv"]
    if not len(t):
        return pd.DataFrame({"source": [], "region": [], "product": [], "quantity": []})
    return t.groupby(["source", "region", "product"], as_index=False, sort=True)["quantity"].sum()


def _by_tier(plan: PlanFolder, fill: pd.DataFrame) -> pd.DataFrame:
    g = fill.groupby(["tier", "weight"], as_index=False, sort=True).agg(
        rows=("region", "size"), demand=("demand", "sum"), delivered=("delivered", "sum")
    )
    g["fill_rate"] = np.where(g["demand"] > 0, g["delivered"] / g["demand"].where(g["demand"] > 0, 1), np.nan)
    return g.sort_values("tier").reset_index(drop=True)


def _tier_triples(plan: PlanFolder, fill: pd.DataFrame, flows: pd.DataFrame, families: dict) -> pd.DataFrame:
    """(source, family, tier, region, quantity): where shipped units served. One day with the sources' accounts:
    their ``sent`` lines, exactly; otherwise a region's units are split across its tiers pro rata to delivery."""
    weight_tier = dict(zip(fill["weight"], fill["tier"]))
    acc = plan.tables.get("sources.csv")
    if plan.kind == "day" and acc is not None and {"line", "weight"} <= set(acc.columns):
        sent = acc.loc[acc["line"] == "sent"]
        out = pd.DataFrame(
            {
                "source": sent["source"],
                "family": sent["product"].map(lambda p: families.get(p, p)),
                "tier": sent["weight"].map(weight_tier),
                "region": sent["region"],
                "quantity": sent["quantity"],
            }
        )
        return (
            out.dropna(subset=["tier"])
            .groupby(["source", "family", "tier", "region"], as_index=False, sort=True)["quantity"]
            .sum()
        )
    f = flows.assign(family=flows["product"].map(lambda p: families.get(p, p)))
    f = f.groupby(["source", "family", "region"], as_index=False, sort=True)["quantity"].sum()
    share = fill.groupby(["region", "family", "tier"], as_index=False, sort=True)["delivered"].sum()
    share = share.loc[share["delivered"] > 0]
    total = share.groupby(["region", "family"])["delivered"].transform("sum")
    share = share.assign(frac=share["delivered"] / total)
    m = f.merge(share[["region", "family", "tier", "frac"]], on=["region", "family"], how="left")
    m["frac"] = m["frac"].fillna(1.0)
    m["tier"] = m["tier"].fillna(0)  # units with no delivery recorded (stock, still in transit): tier 0 = "unassigned"
    m["quantity"] = m["quantity"] * m["frac"]
    return m.groupby(["source", "family", "tier", "region"], as_index=False, sort=True)["quantity"].sum()


# ---------------------------------------------------------------------------------------------------------------
# Page parts


def _table_html(
    frame: pd.DataFrame, *, tid: str, caption: str = "", limit: int | None = MAX_TABLE_ROWS, note: str = ""
) -> str:
    rows = frame if limit is None else frame.head(limit)
    head = "".join(f'<th scope="col" title="sort by {esc(c)}">{esc(c)}</th>' for c in frame.columns)
    numeric = [c in NUMERIC or pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    cols = []
    for c, is_num in zip(frame.columns, numeric):  # end tags of cells and rows left out, as HTML allows: 1/3 smaller
        values = rows[c].tolist()
        if c in RATES:
            cols.append(["<td>" + esc(fmt_pct(v)) if v == v and v is not None else "<td>" for v in values])
        elif is_num:
            cols.append(["<td>" + esc(fmt_qty(v)) for v in values])
        else:
            cols.append(["<td>" + esc(v) for v in values])
    body = "".join("<tr>" + "".join(cells) for cells in zip(*cols)) if cols else ""
    right = ",".join(f"#{tid} td:nth-child({i + 1})" for i, is_num in enumerate(numeric) if is_num)
    style = (
        f"<style>{right}{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}</style>"
        if right
        else ""
    )
    more = ""
    if limit is not None and len(frame) > limit:
        more = f'<p class="note">The first {limit:,} of {len(frame):,} rows; {esc(note)}</p>'
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'{style}<div class="tablewrap"><table class="sortable" id="{esc(tid)}">{cap}<thead><tr>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table></div>{more}"
    )


def _kpis(plan: PlanFolder, fill: pd.DataFrame, flows: pd.DataFrame) -> str:
    s = plan.summary
    demand, delivered = float(fill["demand"].sum()), float(fill["delivered"].sum())
    rate = delivered / demand if demand > 0 else None
    cards = [("Fill rate", fmt_pct(rate), f"{fmt_qty(round(delivered))} of {fmt_qty(round(demand))} units", "kpi-fill")]
    if plan.kind == "day":
        tot = s.get("totals", {})
        cards.append(("Supply", fmt_qty(round(tot.get("supply", 0))), "units available today", "kpi-supply"))
    cards.append(
        (
            "Shortfall",
            fmt_qty(round(float(fill["shortfall"].sum()))),
            f"{int((fill['shortfall'] > 0).sum()):,} of {len(fill):,} demand rows short",
            "kpi-short",
        )
    )
    n_ship = len(plan.tables["dispatch.csv" if plan.kind == "day" else "shipments.csv"])
    cards.append(
        ("Shipments", f"{n_ship:,}", f"{fmt_qty(round(float(flows['quantity'].sum())))} units shipped", "kpi-ship")
    )
    ws = (s.get("objective") or {}).get("weighted_shortfall", s.get("weighted_shortfall"))
    if ws is not None:
        cards.append(("Weighted shortfall", fmt_qty(round(ws)), "what the plan minimises first", "kpi-ws"))
    out = []
    for title, value, sub, cid in cards:
        colour = f' style="border-top-color:{fill_colour(rate)}"' if cid == "kpi-fill" else ""
        out.append(
            f'<div class="kpi" id="{cid}"{colour}><div class="kpi-t">{esc(title)}</div>'
            f'<div class="kpi-v">{esc(value)}</div><div class="kpi-s">{esc(sub)}</div></div>'
        )
    return '<div class="kpis">' + "".join(out) + "</div>"


def _map_section(plan: PlanFolder, fill: pd.DataFrame, flows: pd.DataFrame, places: _Places) -> str:
    per_region = fill.groupby("region")[["demand", "delivered"]].sum()
    reg = places.regions.copy()
    reg["demand"] = reg["region"].map(per_region["demand"]).fillna(0.0)
    reg["delivered"] = reg["region"].map(per_region["delivered"]).fillna(0.0)
    src = places.sources.set_index("source") if len(places.sources) else None
    reg_at = reg.set_index("region")
    note = ""
    lines = pd.DataFrame(columns=["from_lat", "from_lon", "to_lat", "to_lon", "quantity", "title"])
    marks = pd.DataFrame(columns=["lat", "lon", "quantity", "title"])
    if src is not None and len(flows):
        f = flows.loc[flows["source"].isin(src.index) & flows["region"].isin(reg_at.index)].copy()
        f["from_lat"], f["from_lon"] = f["source"].map(src["lat"]), f["source"].map(src["lon"])
        f["to_lat"], f["to_lon"] = f["region"].map(reg_at["lat"]), f["region"].map(reg_at["lon"])
        f["source_name"] = f["source"].map(src["name"])
        f = f.dropna(subset=["from_lat", "from_lon", "to_lat", "to_lon"])
        keys = ["from_lat", "from_lon", "to_lat", "to_lon", "region"]
        agg = f.groupby(keys, as_index=False, sort=True)["quantity"].sum()
        total_lines = len(agg)
        agg = agg.sort_values(["quantity", *keys], ascending=[False, True, True, True, True, True], kind="stable").head(
            MAX_FLOWS
        )
        kept = f.merge(agg[keys], on=keys)
        titles = []
        for rec in agg.itertuples(index=False):
            g = kept.loc[
                (kept["from_lat"] == rec.from_lat) & (kept["from_lon"] == rec.from_lon) & (kept["region"] == rec.region)
            ]
            names = sorted(set(g["source_name"]))
            prods = ", ".join(f"{p} {fmt_qty(q)}" for p, q in g.groupby("product", sort=True)["quantity"].sum().items())
            who = (
                names[0]
                if len(names) == 1
                else (f"{len(names)} sources ({', '.join(names[:3])}" + (", ...)" if len(names) > 3 else ")"))
            )
            titles.append(f"{who} -> {reg_at.loc[rec.region, 'name']}: {fmt_qty(rec.quantity)} units ({prods})")
        lines = pd.DataFrame(
            {
                "from_lat": agg["from_lat"],
                "from_lon": agg["from_lon"],
                "to_lat": agg["to_lat"],
                "to_lon": agg["to_lon"],
                "quantity": agg["quantity"].astype(float),
                "title": titles,
            }
        )
        if total_lines > MAX_FLOWS:
            note = (
                f"The {MAX_FLOWS} largest of {total_lines:,} source-to-region flows are drawn; all are in the "
                "shipments table."
            )
        sent = f.groupby(["from_lat", "from_lon"], sort=True)
        marks = pd.DataFrame(
            [
                (
                    a,
                    b,
                    float(g["quantity"].sum()),
                    "; ".join(sorted(set(g["source_name"]))) + f": shipped {fmt_qty(g['quantity'].sum())}",
                )
                for (a, b), g in sent
            ],
            columns=marks.columns,
        )
    elif not places.from_instance:
        note = (
            "Regions at their provincial capitals: this plan folder has no places.csv (written before "
            "allocator recorded where regions and sources lie); give --instance INSTANCE to draw shipments "
            "and flags."
        )
    svg_map = china_map(reg, lines, marks, title="Fill rate by region and shipments", note=note)
    period = "over the plan's days" if plan.kind != "day" else "today"
    return (
        f'<div id="map"><h2>Who got what, and who is short</h2><p class="lede">Each region coloured by '
        f"the share of its demand delivered {period}; lines run from sources to regions, as wide as the "
        f'quantity shipped. Hover a region or a line for its figures.</p><div class="panel">{svg_map}</div></div>'
    )


def _glance_section(plan: PlanFolder, fill: pd.DataFrame) -> str:
    tiers = _by_tier(plan, fill)
    rows = [
        {
            "label": f"Tier {int(t.tier)}",
            "sub": f"weight {fmt_qty(t.weight)} · {int(t.rows)} row{'' if t.rows == 1 else 's'}",
            "rate": t.fill_rate,
            "note": f"{fmt_compact(t.delivered)} of {fmt_compact(t.demand)}",
            "colour": tier_colour(i),
        }
        for i, t in enumerate(tiers.itertuples(index=False))
    ]
    tier_svg = bar_rows(
        rows, width=380, label_width=104, note_width=104, row_height=30, title="Fill rate by priority tier"
    )
    fam = fill.groupby(["family", "use"], as_index=False, sort=True)[["demand", "delivered"]].sum()
    fam["rate"] = np.where(fam["demand"] > 0, fam["delivered"] / fam["demand"].where(fam["demand"] > 0, 1), np.nan)
    fam = fam.sort_values(
        ["family", "use"], key=lambda s: s.map({"icu": "0", "general": "1"}).fillna(s) if s.name == "use" else s
    )
    frows = [
        {
            "label": _trim(f.family, 17),
            "sub": "ICU" if f.use == "icu" else f.use,
            "rate": f.rate,
            "note": f"{fmt_compact(f.delivered)} of {fmt_compact(f.demand)}",
        }
        for f in fam.itertuples(index=False)
    ]
    fam_svg = bar_rows(
        frows, width=380, label_width=104, note_width=104, row_height=30, title="By family and use (ICU vs general)"
    )
    return (
        f'<aside id="glance"><h2>The priorities at a glance</h2><div class="panel" id="tiers">{tier_svg}</div>'
        f'<div class="panel" id="families">{fam_svg}</div></aside>'
    )


def _days_reasons(fill: pd.DataFrame, g: pd.DataFrame) -> list[str]:
    """Per demand row of a multi-day plan: on how many days it is short, and the reason
    ``fill.csv`` gives on its largest short day (the earliest of equal ones)."""
    key = ["region", "family", "use", "tier", "weight"]
    worst: dict[tuple, tuple[str, float, str]] = {}
    if "reason" in fill.columns and "day" in fill.columns:
        short = fill.loc[fill["shortfall"] > 0].sort_values(
            ["shortfall", "day"], ascending=[False, True], kind="stable"
        )
        for row in short.drop_duplicates(key).itertuples(index=False):
            worst[tuple(getattr(row, k) for k in key)] = (str(row.day), float(row.shortfall), str(row.reason or ""))
    out = []
    for row in g.itertuples(index=False):
        text = f"short on {row.days_short} of {row.days} days"
        day, qty, why = worst.get(tuple(getattr(row, k) for k in key), ("", 0.0, ""))
        if why and why != "nan":
            text += f"; on {day}, the largest ({fmt_qty(qty)} short): {why}"
        out.append(text)
    return out


def _shortfalls(plan: PlanFolder, fill: pd.DataFrame) -> str:
    if plan.kind == "day":
        f = fill.loc[fill["shortfall"] > 0].sort_values(
            ["shortfall", "tier", "region", "family", "use"], ascending=[False, True, True, True, True]
        )
        total = len(f)
        rows = f.head(TOP_SHORTFALLS)
        cols = ["region", "family", "use", "tier", "weight", "demand", "delivered", "shortfall", "fill_rate"]
        if "reason" in rows.columns:
            cols.append("reason")
        table = rows[cols]
    else:
        g = fill.groupby(["region", "family", "use", "tier", "weight"], as_index=False, sort=True).agg(
            demand=("demand", "sum"),
            delivered=("delivered", "sum"),
            shortfall=("shortfall", "sum"),
            days_short=("shortfall", lambda s: int((s > 0).sum())),
            days=("shortfall", "size"),
        )
        g = g.loc[g["shortfall"] > 0]
        total = len(g)
        g["fill_rate"] = np.where(g["demand"] > 0, g["delivered"] / g["demand"].where(g["demand"] > 0, 1), np.nan)
        g["reason"] = _days_reasons(fill, g)
        table = g.sort_values(["shortfall", "tier", "region"], ascending=[False, True, True]).head(TOP_SHORTFALLS)[
            ["region", "family", "use", "tier", "weight", "demand", "delivered", "shortfall", "fill_rate", "reason"]
        ]
    if not total:
        return '<p class="note">No demand row is short.</p>'
    lead = (
        f'<p class="note">The {min(TOP_SHORTFALLS, total)} largest of {total:,} short demand rows'
        + ("" if plan.kind == "day" else " (summed over the days)")
        + "; all are in the tables below.</p>"
    )
    return lead + _table_html(table.reset_index(drop=True), tid="shortfalls", limit=None)


def _sankey_section(plan: PlanFolder, fill: pd.DataFrame, flows: pd.DataFrame, places: _Places) -> str:
    triples = _tier_triples(plan, fill, flows, places.families)
    if not len(triples):
        return (
            '<section id="flows"><h2>Where each family\'s supply went</h2><p class="note">Nothing was '
            "shipped.</p></section>"
        )
    src_names = dict(zip(places.sources["source"], places.sources["name"])) if len(places.sources) else {}
    for name in ("dispatch.csv",):
        t = plan.tables.get(name)
        if t is not None and "source_name" in t.columns:
            src_names.update(zip(t["source"], t["source_name"]))
    reg_names = dict(zip(places.regions["region"], places.regions["name"]))
    tiers = sorted(set(fill["tier"]))
    tier_index = {t: i for i, t in enumerate(tiers)}
    tier_weight = dict(zip(fill["tier"], fill["weight"]))
    fam_rate = fill.groupby(["family", "region"])[["demand", "delivered"]].sum()
    families = sorted(set(triples["family"]))
    parts = []
    for fam in families[:MAX_SANKEY_FAMILIES]:
        t = triples.loc[triples["family"] == fam]
        by_src = t.groupby("source")["quantity"].sum().sort_values(ascending=False, kind="stable")
        by_src = by_src.reindex(sorted(by_src.index, key=lambda s: (-by_src[s], s)))
        keep_src = list(by_src.index[:MAX_SANKEY_SOURCES])
        by_reg = t.groupby("region")["quantity"].sum()
        keep_reg = sorted(by_reg.index, key=lambda r: (-by_reg[r], r))[:MAX_SANKEY_REGIONS]
        other_src = len(by_src) - len(keep_src)
        other_reg = len(by_reg) - len(keep_reg)
        t = t.assign(
            s=np.where(t["source"].isin(keep_src), "s:" + t["source"], "s:~other"),
            r=np.where(t["region"].isin(keep_reg), "r:" + t["region"], "r:~other"),
        )
        col_s = [{"id": f"s:{s}", "label": _trim(src_names.get(s, s), 30), "colour": "#13294b"} for s in keep_src]
        if other_src:
            col_s.append({"id": "s:~other", "label": f"{other_src} other sources", "colour": "#8a96a8"})
        used_tiers = sorted(set(t["tier"]))
        col_t = [
            {
                "id": f"t:{tr}",
                "label": f"tier {int(tr)} (w {fmt_qty(tier_weight.get(tr, 0))})" if tr else "not yet delivered",
                "colour": tier_colour(tier_index.get(tr, len(tiers))),
            }
            for tr in used_tiers
        ]
        col_r = []
        for r in keep_reg:
            d = fam_rate.loc[(fam, r)] if (fam, r) in fam_rate.index else None
            rate = d["delivered"] / d["demand"] if d is not None and d["demand"] > 0 else None
            col_r.append(
                {
                    "id": f"r:{r}",
                    "label": f"{reg_names.get(r, r)} ({fmt_pct(rate)} filled)",
                    "colour": fill_colour(rate),
                }
            )
        if other_reg:
            col_r.append({"id": "r:~other", "label": f"{other_reg} other regions", "colour": "#bbbbbb"})
        links = []
        for (s, tr), q in t.groupby(["s", "tier"], sort=True)["quantity"].sum().items():
            links.append(
                {
                    "source": s,
                    "target": f"t:{tr}",
                    "value": float(q),
                    "colour": tier_colour(tier_index.get(tr, len(tiers))),
                    "title": f"{s[2:]} -> tier {int(tr)}: {fmt_qty(q)}",
                }
            )
        for (tr, r), q in t.groupby(["tier", "r"], sort=True)["quantity"].sum().items():
            links.append(
                {
                    "source": f"t:{tr}",
                    "target": r,
                    "value": float(q),
                    "colour": tier_colour(tier_index.get(tr, len(tiers))),
                    "title": f"tier {int(tr)} -> {r[2:]}: {fmt_qty(q)}",
                }
            )
        height = max(150, 26 * max(len(col_s), len(col_r)) + 40)
        parts.append(
            f'<div class="panel sankey" data-family="{esc(fam)}">'
            + sankey(
                [col_s, col_t, col_r],
                links,
                width=1100,
                height=height,
                title=f"{fam}: {fmt_qty(t['quantity'].sum())} units, source -> priority tier -> region",
            )
            + "</div>"
        )
    more = ""
    if len(families) > MAX_SANKEY_FAMILIES:
        more = (
            f'<p class="note">The first {MAX_SANKEY_FAMILIES} of {len(families)} families by name; the rest are '
            "in the shipments table.</p>"
        )
    how = (
        "the sources' accounts (sources.csv)"
        if plan.kind == "day" and "sources.csv" in plan.tables
        else "each region's deliveries split across its tiers pro rata"
    )
    return (
        f'<section id="flows"><h2>Where each family\'s supply went</h2><p class="lede">Units from each source '
        f"to the priority tier they served and on to the region; the {MAX_SANKEY_SOURCES} largest sources and "
        f"{MAX_SANKEY_REGIONS} largest regions of each family, the rest together. Tiers from {how}.</p>"
        + "".join(parts)
        + more
        + "</section>"
    )


def _trim(s: str, width: int = 38) -> str:
    s = str(s)
    return s if len(s) <= width else s[: width - 1] + "…"


def _time_section(plan: PlanFolder, fill: pd.DataFrame, places: _Places) -> str:
    if plan.kind == "day":
        return ""
    days = sorted(set(fill["day"]))
    by_day = plan.tables["by_day.csv"]
    tiers = sorted(set(by_day["tier"]))
    series = []
    for i, tr in enumerate(tiers):
        t = by_day.loc[by_day["tier"] == tr].set_index("day")
        w = t["weight"].iloc[0]
        series.append(
            {
                "name": f"tier {int(tr)} (w {fmt_qty(w)})",
                "colour": tier_colour(i),
                "values": [float(t.loc[d, "fill_rate"]) if d in t.index else None for d in days],
            }
        )
    tier_svg = line_chart(
        days, series, width=560, title="Fill rate by priority tier, each day", percent=True, y_label="delivered / due"
    )
    nat = fill.groupby("day")[["demand", "backlog_in", "delivered", "shortfall"]].sum().reindex(days)
    vol_svg = line_chart(
        days,
        [
            {
                "name": "due (demand + backlog)",
                "colour": "#555",
                "values": list(nat["demand"] + nat["backlog_in"]),
                "dash": "4 3",
            },
            {"name": "delivered", "colour": "#2b8cbe", "values": list(nat["delivered"])},
            {"name": "short", "colour": "#d7301f", "values": list(nat["shortfall"])},
        ],
        width=560,
        title="Due, delivered and short, all regions",
        y_label="units",
    )
    stock = plan.tables.get("stock.csv")
    stock_svg = ""
    region_stock = pd.DataFrame()
    if stock is not None and len(stock):
        by_holder = stock.groupby(["holder", "day"])["closing"].sum()
        ss = []
        for holder, colour in (("source", "#3182bd"), ("region", "#e6550d")):
            if holder in by_holder.index.get_level_values(0):
                h = by_holder.loc[holder]
                ss.append({"name": f"at {holder}s", "colour": colour, "values": [float(h.get(d, 0.0)) for d in days]})
        stock_svg = line_chart(days, ss, width=560, title="Stock at the end of each day", y_label="units")
        rs = stock.loc[stock["holder"] == "region"]
        region_stock = rs.groupby(["id", "day"])["closing"].sum()
    reg_names = dict(zip(places.regions["region"], places.regions["name"]))
    per = fill.groupby(["region", "day"])[["demand", "backlog_in", "delivered"]].sum()
    totals = fill.groupby("region")[["demand", "delivered"]].sum()
    order = sorted(totals.index, key=lambda r: (-totals.loc[r, "demand"], r))
    panels = []
    for r in order[:MAX_PANELS]:
        p = per.loc[r]
        due = p["demand"] + p["backlog_in"]
        rate = [float(p.loc[d, "delivered"] / due[d]) if d in p.index and due[d] > 0 else None for d in days]
        st = (
            [float(region_stock.loc[(r, d)]) if (r, d) in region_stock.index else 0.0 for d in days]
            if len(region_stock)
            else None
        )
        tot = totals.loc[r]
        note = (
            f"{fmt_pct(tot['delivered'] / tot['demand'] if tot['demand'] > 0 else None)} of "
            f"{fmt_qty(tot['demand'])}" + (f" · stock max {fmt_qty(max(st))}" if st and max(st) > 0 else "")
        )
        panels.append(
            f'<div class="sp" data-region="{esc(r)}">'
            + sparkline_panel(_trim(reg_names.get(r, r), 26), days, rate, st, note=note)
            + "</div>"
        )
    more = ""
    if len(order) > MAX_PANELS:
        more = (
            f'<p class="note">The {MAX_PANELS} regions with the most demand of {len(order):,}; every region is in '
            "the tables below.</p>"
        )
    return (
        f'<section id="time"><h2>Over time: {esc(days[0])} to {esc(days[-1])} ({len(days)} days)</h2>'
        f'<div class="two"><div class="panel">{tier_svg}</div><div class="panel">{vol_svg}</div>'
        + (f'<div class="panel">{stock_svg}</div>' if stock_svg else "")
        + "</div>"
        "<h3>Each region: fill rate (blue area, 0 to 100%) and its stock (orange line, own scale)</h3>"
        f'<div class="panels">{"".join(panels)}</div>{more}</section>'
    )


def _flatten(data, prefix: str = ""):
    if isinstance(data, dict):
        for k in sorted(data):
            yield from _flatten(data[k], f"{prefix}{k}.")
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return  # tables (by_tier) are shown elsewhere
    else:
        yield prefix[:-1], data


def _date(plan: PlanFolder, instance) -> str:
    s = plan.summary
    if plan.kind != "day":
        days = s.get("days") or []
        return f"{days[0]} to {days[-1]}" if days else "not recorded"
    if instance is not None and instance.days:
        return ", ".join(instance.days)
    m = re.search(r"\d{4}-\d{2}-\d{2}", str(s.get("instance", "")))
    return f"{m.group(0)} (from the instance's name)" if m else "not recorded (an undated instance)"


def _provenance_section(plan: PlanFolder, instance) -> str:
    s = plan.summary
    label, command, _ = KINDS[plan.kind]
    rows = [
        ("instance", s.get("instance", "")),
        ("plan", f"{label} ({command} --output)"),
        ("date", _date(plan, instance)),
    ]
    for key in ("status", "method", "solver", "lp_solves", "horizon", "forecast"):
        if key in s:
            rows.append((key, s[key]))
    for key, value in _flatten(s.get("objective", {}), "objective."):
        rows.append((key, value))
    for key in ("weighted_shortfall", "cost", "equity", "fill_rate", "demand", "delivered"):
        if key in s and plan.kind != "day":
            rows.append((key, s[key]))
    for key, value in _flatten(s.get("totals", {}), "totals."):
        rows.append((key, value))
    for key, value in _flatten(s.get("methods", {}), "methods."):
        rows.append((key, value))
    for key, value in _flatten(s.get("policy", {}), "policy."):
        rows.append((key, value))
    rows.append(
        (
            "places",
            "regions and sources from the instance"
            if instance is not None
            else "regions and sources from places.csv in the plan folder"
            if "places.csv" in plan.tables
            else "regions at provincial capitals (allocator/data/provinces.csv); no instance given",
        )
    )
    rows.append(("map outlines", "DCW-GMT 2.1.1, simplified; LGPL-3.0-or-later (allocator/data/README.md)"))
    rows.append(("made by", f"allocator {__version__}"))
    body = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(_value(v))}</td></tr>' for k, v in rows)
    return f'<section id="provenance"><h2>Provenance</h2><table class="kv">{body}</table></section>'


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return fmt_qty(v)
    if v is None:
        return ""
    return str(v)


def _tables_section(plan: PlanFolder) -> str:
    parts = []
    for name, caption in TABLES[plan.kind]:
        frame = plan.tables.get(name)
        if frame is None:
            continue
        tid = "table-" + name.removesuffix(".csv").replace("_", "-")
        parts.append(
            f'<h3 id="h-{esc(tid)}">{esc(caption)} <span class="file">{esc(name)}, {len(frame):,} rows'
            f"</span></h3>" + _table_html(frame, tid=tid, note=f"all of them are in {name}.")
        )
    return (
        '<section id="tables"><h2>The tables</h2><p class="lede">Click a column\'s header to sort by it; '
        "again to reverse.</p>" + "".join(parts) + "</section>"
    )


CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#222;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans","Noto Sans CJK SC","Microsoft YaHei",sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
header h1{margin:0;font-size:24px}
header .sub{color:#555;margin-top:2px}
h2{font-size:18px;margin:30px 0 6px;padding-top:10px;border-top:1px solid #dde}
h3{font-size:14.5px;margin:18px 0 6px}
.lede{margin:0 0 10px;color:#444;max-width:900px}
.note{color:#666;font-size:12.5px;margin:4px 0}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0 4px}
.kpi{background:#fff;border-radius:6px;border-top:5px solid #13294b;padding:8px 14px;min-width:170px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi-t{font-size:12px;color:#555;text-transform:uppercase;letter-spacing:.04em}
.kpi-v{font-size:24px;font-weight:650}
.kpi-s{font-size:12px;color:#666}
.panel{background:#fff;border-radius:6px;padding:10px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:inherit}
.two{display:flex;gap:14px;flex-wrap:wrap}
.overview{display:flex;gap:14px;flex-wrap:wrap;align-items:flex-start}
#map{flex:0 1 720px}
#glance{flex:1 1 380px}
#glance .panel{margin-bottom:12px}
.two>.panel{flex:1 1 540px}
.sankey{margin:10px 0}
.panels{display:flex;flex-wrap:wrap;gap:8px}
.tablewrap{max-height:460px;overflow:auto;background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
table.sortable th{position:sticky;top:0;background:#eef1f6;cursor:pointer;white-space:nowrap;user-select:none}
table.sortable th:after{content:" \\2195";color:#aaa}
table.sortable th[aria-sort=ascending]:after{content:" \\2191";color:#222}
table.sortable th[aria-sort=descending]:after{content:" \\2193";color:#222}
tbody tr:nth-child(even){background:#fafbfc}
caption{text-align:left;font-weight:600;padding:4px}
.file{font-weight:400;color:#777;font-size:12px}
table.kv{width:auto;background:#fff}
table.kv th{background:#f3f4f7;font-weight:500;white-space:nowrap}
nav{font-size:13px;margin-top:8px}
nav a{margin-right:14px;color:#13294b}
@media print{body{background:#fff}.tablewrap{max-height:none;overflow:visible}
.panel,.kpi,.tablewrap{box-shadow:none;border:1px solid #ddd}section{break-inside:avoid-page}}
"""

SORT_JS = """
(function(){
  function key(cell){
    var s=cell.textContent.trim(), t=s.replace(/[,%\\s]/g,'');
    return /^[-+]?\\d*\\.?\\d+(e[-+]?\\d+)?$/i.test(t)?[0,parseFloat(t)]:[1,s.toLowerCase()];
  }
  function cmp(a,b){ if(a[0]!==b[0]) return a[0]-b[0]; return a[1]<b[1]?-1:a[1]>b[1]?1:0; }
  var tables=document.querySelectorAll('table.sortable');
  for(var k=0;k<tables.length;k++)(function(table){
    var heads=table.tHead.rows[0].cells;
    for(var i=0;i<heads.length;i++)(function(th,col){
      th.addEventListener('click',function(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        for(var j=0;j<heads.length;j++) heads[j].removeAttribute('aria-sort');
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        var body=table.tBodies[0], rows=Array.prototype.slice.call(body.rows);
        var keyed=rows.map(function(r,n){return [key(r.cells[col]),n,r];});
        keyed.sort(function(a,b){var c=cmp(a[0],b[0]); return (asc?c:-c)||a[1]-b[1];});
        var frag=document.createDocumentFragment();
        keyed.forEach(function(x){frag.appendChild(x[2]);});
        body.appendChild(frag);
      });
    })(heads[i],i);
  })(tables[k]);
})();
"""


def render_report(plan: PlanFolder, instance=None) -> str:
    """The page, as text."""
    places = _places(plan, instance)
    fill = _fill(plan)
    flows = _flows(plan)
    s = plan.summary
    label, command, _ = KINDS[plan.kind]
    name = str(s.get("instance", "plan"))
    date = _date(plan, instance)
    status = f" · status {s['status']}" if "status" in s else ""
    solver = f" · solver {s['solver']}" if "solver" in s else ""
    top = (
        f'<section id="overview"><div class="overview">{_map_section(plan, fill, flows, places)}'
        f'{_glance_section(plan, fill)}</div><h3 id="shortfalls-h">Largest shortfalls and why</h3>'
        f"{_shortfalls(plan, fill)}</section>"
    )
    sections = [
        top,
        _sankey_section(plan, fill, flows, places),
        _time_section(plan, fill, places),
        _tables_section(plan),
        _provenance_section(plan, instance),
    ]
    nav_items = [("map", "Map"), ("glance", "Priorities"), ("flows", "Flows")]
    if plan.kind != "day":
        nav_items.append(("time", "Over time"))
    nav_items += [("tables", "Tables"), ("provenance", "Provenance")]
    nav = "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in nav_items) + "</nav>"
    head = (
        f'<header><h1>Supply allocation: {esc(name)}</h1><div class="sub">{esc(label)} · {esc(date)}'
        f"{esc(status)}{esc(solver)}</div>{nav}</header>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(name)}: allocation report</title><style>{CSS}</style></head><body><main>"
        f"{head}{_kpis(plan, fill, flows)}{''.join(sections)}</main><script>{SORT_JS}</script></body></html>\n"
    )


def write_report(folder: str | Path, out: str | Path, *, instance=None) -> Path:
    """Read the plan folder and write its report to ``out`` (a new or replaced file); return the path."""
    from allocator.report.folder import OutputError

    html = render_report(read_folder(folder), instance)
    out = Path(out)
    if out.is_dir():
        msg = f"--output {out}: is a folder; expected the name of the HTML file to write"
        raise OutputError(msg)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
