"""The report's map of China as inline SVG: provinces coloured by fill rate, flows from sources to regions,
priority flags marked.

Province outlines are ``allocator/data/china_provinces.json``, simplified from DCW-GMT 2.1.1 (LGPL-3.0-or-later;
``allocator/data/README.md``). A region matches an outline by its id (the ids of ``allocator/data/provinces.csv``),
its English name or its Chinese name; a region that matches none (a prefecture, a county, the XPCC) is a point at
its ``lat``/``lon``, and an outline takes the fill rate of the regions whose ``parent`` it is. Projection: Albers
equal-area conic, standard parallels 25 and 47 N, central meridian 105 E (the usual one for maps of China).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from allocator.report.html.svg import INK, MUTED, esc, fill_colour, fmt_pct, fmt_qty, gradient_legend, n, svg_doc, text

__all__ = ["load_outlines", "china_map", "FLAG_SYMBOLS", "MAX_FLOWS", "MAX_POINTS"]

MAX_FLOWS = 150  # flows drawn on the map, largest first (the rest are in the tables)
MAX_POINTS = 3000  # region points drawn, largest demand first
LABEL_ALL_UP_TO = 40  # label every region on the map when there are at most this many

# flag -> (symbol, colour, meaning)
FLAG_SYMBOLS = {
    "level_one_response": ("star", "#111", "level-one response"),
    "port_of_entry": ("triangle", "#111", "port of entry"),
    "border_port": ("diamond", "#111", "border port"),
    "medium_risk": ("ring", "#111", "medium risk"),
    "export": ("down", "#111", "exports / aid"),
}
OTHER_FLAG = ("square", "#111", "other flag")
FLOW_COLOUR = "#13294b"


@lru_cache(maxsize=1)
def load_outlines() -> dict:
    """The province outlines: ``{region id: {"name", "name_zh", "rings": [[lon100, lat100, ...], ...]}}``."""
    raw = resources.files("allocator").joinpath("data/china_provinces.json").read_text(encoding="utf-8")
    return json.loads(raw)["provinces"]


def _albers(lon, lat):
    """Albers equal-area conic (sphere), parallels 25 and 47 N, origin 105 E, 0 N; x east, y north (radians)."""
    p1, p2, l0 = math.radians(25), math.radians(47), math.radians(105)
    nn = (math.sin(p1) + math.sin(p2)) / 2
    c = math.cos(p1) ** 2 + 2 * nn * math.sin(p1)
    rho0 = math.sqrt(c) / nn
    lam, phi = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    rho = np.sqrt(np.maximum(c - 2 * nn * np.sin(phi), 0)) / nn
    theta = nn * (lam - l0)
    return rho * np.sin(theta), rho0 - rho * np.cos(theta)


class _Frame:
    """Project lon/lat onto the drawing: the outlines' extent fitted into ``width`` x ``height``."""

    def __init__(self, outlines: dict, width: float, height: float, pad: float = 10):
        xs, ys = [], []
        for shape in outlines.values():
            for ring in shape["rings"]:
                a = np.asarray(ring, float).reshape(-1, 2) / 100
                x, y = _albers(a[:, 0], a[:, 1])
                xs.append(x)
                ys.append(y)
        x, y = np.concatenate(xs), np.concatenate(ys)
        self.x0, self.y1 = x.min(), y.max()
        self.k = min((width - 2 * pad) / (x.max() - x.min()), (height - 2 * pad) / (y.max() - y.min()))
        self.pad = pad
        self.width = (x.max() - x.min()) * self.k + 2 * pad
        self.height = (y.max() - y.min()) * self.k + 2 * pad

    def xy(self, lon, lat):
        x, y = _albers(lon, lat)
        return (x - self.x0) * self.k + self.pad, (self.y1 - y) * self.k + self.pad


def _ring_path(frame: _Frame, ring: list[int]) -> str:
    a = np.asarray(ring, float).reshape(-1, 2) / 100
    x, y = frame.xy(a[:, 0], a[:, 1])
    pts = [f"{n(px)},{n(py)}" for px, py in zip(x, y)]
    dedup = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]
    return "M" + "L".join(dedup) + "Z"


def _symbol(kind: str, x: float, y: float, r: float, colour: str) -> str:
    halo = 'stroke="#fff" stroke-width="1.2" paint-order="stroke"'
    if kind == "star":
        pts = []
        for i in range(10):
            a = math.pi / 2 + i * math.pi / 5
            rr = r if i % 2 == 0 else r * 0.45
            pts.append(f"{n(x + rr * math.cos(a))},{n(y - rr * math.sin(a))}")
        return f'<polygon points="{" ".join(pts)}" fill="{colour}" {halo}/>'
    if kind == "triangle":
        return (
            f'<polygon points="{n(x)},{n(y - r)} {n(x + r * 0.9)},{n(y + r * 0.7)} {n(x - r * 0.9)},'
            f'{n(y + r * 0.7)}" fill="{colour}" {halo}/>'
        )
    if kind == "down":
        return (
            f'<polygon points="{n(x)},{n(y + r)} {n(x + r * 0.9)},{n(y - r * 0.7)} {n(x - r * 0.9)},'
            f'{n(y - r * 0.7)}" fill="{colour}" {halo}/>'
        )
    if kind == "diamond":
        return (
            f'<polygon points="{n(x)},{n(y - r)} {n(x + r * 0.75)},{n(y)} {n(x)},{n(y + r)} {n(x - r * 0.75)},'
            f'{n(y)}" fill="{colour}" {halo}/>'
        )
    if kind == "ring":
        return f'<circle cx="{n(x)}" cy="{n(y)}" r="{n(r * 0.7)}" fill="#fff" stroke="{colour}" stroke-width="1.8"/>'
    return (
        f'<rect x="{n(x - r * 0.65)}" y="{n(y - r * 0.65)}" width="{n(r * 1.3)}" height="{n(r * 1.3)}" '
        f'fill="{colour}" {halo}/>'
    )


def _flag_style(flag: str) -> tuple[str, str, str]:
    return FLAG_SYMBOLS.get(flag, OTHER_FLAG[:2] + (flag.replace("_", " "),))


def _short(name: str) -> str:
    return name.split(" (")[0]


def _match_outlines(regions: pd.DataFrame, outlines: dict) -> pd.Series:
    """The outline id of each region (by id, English name or Chinese name), or '' for none."""
    by_name = {}
    for key, shape in outlines.items():
        by_name[shape["name"].lower()] = key
        by_name[_short(shape["name"]).lower()] = key
        by_name[shape["name_zh"]] = key
    out = []
    for rec in regions.itertuples(index=False):
        if rec.region in outlines:
            out.append(rec.region)
        else:
            name = str(getattr(rec, "name", "") or "")
            zh = str(getattr(rec, "name_zh", "") or "")
            out.append(by_name.get(name.lower()) or by_name.get(_short(name).lower()) or by_name.get(zh) or "")
    return pd.Series(out, index=regions.index, dtype=object)


def china_map(
    regions: pd.DataFrame,
    flows: pd.DataFrame,
    sources: pd.DataFrame,
    *,
    width: float = 700,
    height: float = 540,
    title: str = "",
    note: str = "",
) -> str:
    """The map as an ``<svg>`` element.

    ``regions``: region, name, name_zh, lat, lon (NaN: unknown), flags (``;``-separated), parent, demand,
    delivered. ``flows``: from_lat, from_lon, to_lat, to_lon, quantity, title (one line per drawn flow, already
    aggregated). ``sources``: lat, lon, quantity, title (one marker per place).
    """
    outlines = load_outlines()
    frame = _Frame(outlines, width, height)
    regions = regions.copy()
    regions["outline"] = _match_outlines(regions, outlines)
    # An outline's rate: the regions that are it, or else those whose parent is it.
    direct = regions.loc[regions["outline"] != ""]
    by_outline = direct.groupby("outline")[["demand", "delivered"]].sum()
    parent_outline = dict(zip(direct["region"], direct["outline"]))
    children = regions.loc[(regions["outline"] == "") & regions["parent"].isin(parent_outline)]
    child_sum = (
        children.assign(outline=children["parent"].map(parent_outline))
        .groupby("outline")[["demand", "delivered"]]
        .sum()
    )
    shapes = []
    for key in sorted(outlines):
        shape = outlines[key]
        if not shape["rings"]:
            continue
        own = by_outline.loc[key] if key in by_outline.index else None
        if own is not None and own["demand"] <= 0 and key in child_sum.index or own is None and key in child_sum.index:
            own = child_sum.loc[key]
        in_plan = own is not None
        rate = own["delivered"] / own["demand"] if in_plan and own["demand"] > 0 else None
        colour = fill_colour(rate) if in_plan else "#f4f4f4"
        names = direct.loc[direct["outline"] == key]
        label = str(names["name"].iloc[0]) if len(names) else shape["name"]
        tip = (
            f"{label}: fill {fmt_pct(rate)} ({fmt_qty(own['delivered'])} of {fmt_qty(own['demand'])})"
            if in_plan and rate is not None
            else f"{label}: no demand in this plan"
            if in_plan
            else f"{label}: not in this plan"
        )
        d = "".join(_ring_path(frame, ring) for ring in shape["rings"])
        shapes.append(
            f'<path class="province" data-region="{esc(key)}" d="{d}" fill="{colour}" '
            f'fill-rule="evenodd" stroke="#fff" stroke-width="0.9"><title>{esc(tip)}</title></path>'
        )
    out = [f'<rect x="0" y="0" width="{n(frame.width)}" height="{n(frame.height)}" fill="#fbfdff"/>']
    out += shapes
    # Hubs: where flows end, labels and flags sit; a region without an outline is a point there.
    hubs = {}
    for rec in regions.itertuples(index=False):
        if pd.notna(rec.lat) and pd.notna(rec.lon):
            hubs[rec.region] = frame.xy(rec.lon, rec.lat)
    points = regions.loc[(regions["outline"] == "") & regions["region"].isin(hubs)]
    points = points.sort_values(["demand", "region"], ascending=[False, True]).head(MAX_POINTS)
    dmax = float(points["demand"].max()) if len(points) else 0.0
    for rec in points.sort_values(["demand", "region"], ascending=[True, True]).itertuples(index=False):
        x, y = hubs[rec.region]
        rate = rec.delivered / rec.demand if rec.demand > 0 else None
        r = 2.5 + 6 * math.sqrt(rec.demand / dmax) if dmax > 0 else 3
        out.append(
            f'<circle class="region-point" cx="{n(x)}" cy="{n(y)}" r="{n(r)}" fill="{fill_colour(rate)}" '
            f'stroke="#333" stroke-width="0.7"><title>{esc(rec.name)}: fill {esc(fmt_pct(rate))} '
            f"({esc(fmt_qty(rec.delivered))} of {esc(fmt_qty(rec.demand))})</title></circle>"
        )
    # Flows, largest drawn last (on top).
    qmax = float(flows["quantity"].max()) if len(flows) else 0.0
    for rec in flows.sort_values(["quantity", "title"]).itertuples(index=False):
        x0, y0 = frame.xy(rec.from_lon, rec.from_lat)
        x1, y1 = frame.xy(rec.to_lon, rec.to_lat)
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 2:
            continue
        cx, cy = (x0 + x1) / 2 - (y1 - y0) * 0.18, (y0 + y1) / 2 + (x1 - x0) * 0.18
        w = max(1.0, 12 * rec.quantity / qmax)
        d = f"M{n(x0)},{n(y0)} Q{n(cx)},{n(cy)} {n(x1)},{n(y1)}"
        out.append(
            f'<path d="{d}" fill="none" stroke="#fff" stroke-opacity="0.7" stroke-width="{n(w + 2.5)}" '
            'stroke-linecap="round"/>'
        )
        out.append(
            f'<path class="flow" d="{d}" fill="none" stroke="{FLOW_COLOUR}" stroke-opacity="0.75" '
            f'stroke-width="{n(w)}" stroke-linecap="round"><title>{esc(rec.title)}</title></path>'
        )
    for rec in sources.sort_values(["quantity", "title"]).itertuples(index=False):
        x, y = frame.xy(rec.lon, rec.lat)
        out.append(
            f'<rect class="source" x="{n(x - 3.5)}" y="{n(y - 3.5)}" width="7" height="7" fill="#fff" '
            f'stroke="{FLOW_COLOUR}" stroke-width="1.8"><title>{esc(rec.title)}</title></rect>'
        )
    # Labels and flags.
    outlined = regions.loc[regions["outline"] != ""]
    label_all = len(outlined) + len(points) <= LABEL_ALL_UP_TO
    shown = (
        regions
        if label_all
        else regions.assign(_s=regions["demand"] - regions["delivered"])
        .sort_values(["_s", "region"], ascending=[False, True])
        .head(12)
    )
    for rec in shown.sort_values("region").itertuples(index=False):
        if rec.region not in hubs:
            continue
        x, y = hubs[rec.region]
        flags = [f for f in str(rec.flags or "").split(";") if f]
        for i, flag in enumerate(sorted(flags)):
            kind, colour, _ = _flag_style(flag)
            out.append(_symbol(kind, x - 5 * (len(flags) - 1) + 10 * i, y - 7, 4.2, colour))
        label = _short(str(rec.name))
        label = label if len(label) <= 18 else label[:17] + "…"
        out.append(text(x, y + 10, label, size=9, anchor="middle", fill=INK, halo=True, cls="map-label"))
    body = "".join(out)
    map_h = frame.height
    # Legend under the map.
    ly = map_h + 16
    legend = [gradient_legend(10, ly, 160, title="Fill rate (delivered / demand)")]
    lx = 290
    legend.append(text(lx, ly, "Shipments (width = units)", size=11, weight="600"))
    for i, frac in enumerate((1.0, 0.5, 0.1)):
        yy = ly + 12 + i * 11
        legend.append(
            f'<line x1="{lx}" y1="{n(yy)}" x2="{lx + 34}" y2="{n(yy)}" stroke="{FLOW_COLOUR}" '
            f'stroke-opacity="0.75" stroke-width="{n(max(1.0, 12 * frac))}"/>'
        )
        legend.append(text(lx + 40, yy + 3.5, fmt_qty(round(qmax * frac)) if qmax else "-", size=9.5, fill=MUTED))
    legend.append(
        f'<rect x="{lx + 96}" y="{n(ly + 8.5)}" width="7" height="7" fill="#fff" stroke="{FLOW_COLOUR}" '
        'stroke-width="1.8"/>'
    )
    legend.append(text(lx + 107, ly + 15.5, "source", size=9.5, fill=MUTED))
    fx = 465
    legend.append(text(fx, ly, "Priority flags", size=11, weight="600"))
    present = sorted({f for fl in regions["flags"] if isinstance(fl, str) for f in fl.split(";") if f})
    for i, flag in enumerate(present[:6]):
        kind, colour, meaning = _flag_style(flag)
        xx, yy = fx + 6 + (i // 3) * 118, ly + 14 + (i % 3) * 13
        legend.append(_symbol(kind, xx, yy - 3.5, 4.5, colour))
        legend.append(text(xx + 9, yy, meaning, size=9.5, fill=MUTED))
    if not present:
        legend.append(text(fx, ly + 15, "none in this plan", size=9.5, fill=MUTED))
    if note:
        legend.append(text(10, ly + 56, note, size=9.5, fill=MUTED))
    total_h = map_h + (74 if note else 60)
    return svg_doc(max(frame.width, 700), total_h, body + "".join(legend), label=title or "map", cls="map")
