"""One picture of a replay: how well each priority was served, what went short and where,
and how much stock was left at the end of each day.

    >>> from allocator.pipeline.replay import replay                       # doctest: +SKIP
    >>> from allocator.report.charts import write_replay_chart           # doctest: +SKIP
    >>> write_replay_chart(replay(inst, horizon=3), "replay.png")  # doctest: +SKIP

matplotlib is imported only when a chart is drawn (it is slow to import and not needed
to plan). The figure is drawn on its own Agg canvas, with matplotlib's default style and
no pyplot state, so the same replay gives the same PNG bytes.
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocator.numbers import compact_text, quantity_text

if TYPE_CHECKING:  # pragma: no cover
    from allocator.plan.results import ReplayResult

__all__ = ["write_replay_chart", "WIDTH_IN", "HEIGHT_IN", "DPI"]

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 9.0, 100  # 1000 x 900 pixels

# Tier 1 (highest priority) in the strongest colour; then further, distinct ones.
_TIER_COLOURS = ["#b2182b", "#2166ac", "#1b7837", "#e08214", "#762a83", "#4d4d4d", "#01665e", "#c51b7d"]
_REGION_COLOURS = ["#252525", "#7a0177", "#8c510a"]
_DELIVERED, _SHORT = "#74a9cf", "#f03b20"
_SOURCE_STOCK, _REGION_STOCK, _IN_SERVICE, _FLOOR = "#3182bd", "#e6550d", "#756bb1", "#636363"
_TOP_REGIONS = 3


def write_replay_chart(result: ReplayResult, path: str | PathLike, *, title: str | None = None) -> Path:
    """Draw ``result`` (an :class:`allocator.replay.ReplayResult`) as one PNG at ``path``
    (1000 x 900 pixels) and return the path.

    - top: fill rate by priority tier, each day (the shaded band reaches down to the
      worst-served region of the tier);
    - middle: what was due nationally (new demand and backlog) as delivered + shortfall
      bars, with the regions of the largest total shortfall as their own lines;
    - bottom: stock at the end of each day at sources and at regions (and durable units
      in service, and the regions' floor targets, when there are any).

    ``title`` replaces the first line of the heading (instance, days, horizon, forecast).
    """
    from matplotlib import dates as mdates
    from matplotlib import style, ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    data = _Series.of(result, mdates.date2num)
    with style.context("default"):  # not the user's matplotlibrc: same bytes everywhere
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        try:
            axes = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 1.15, 1.0])
            _fill_panel(axes[0], data)
            _shortfall_panel(axes[1], data)
            _stock_panel(axes[2], data)
            _date_axis(axes, data, mdates)
            qty = ticker.FuncFormatter(_quantity_label)
            axes[1].yaxis.set_major_formatter(qty)
            axes[2].yaxis.set_major_formatter(qty)
            axes[0].yaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=0))
            if data.whole:  # whole units: no "0.2 suits" ticks when the numbers are small
                for ax in axes[1:]:
                    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=True))
            for ax in axes:
                ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
                ax.set_axisbelow(True)
                ax.spines[["top", "right"]].set_visible(False)
            fig.suptitle(_heading(result, data, title), fontsize=12, x=0.01, ha="left")
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
        finally:
            fig.clear()
    return path


class _Series:
    """The replay's tables, per day, on one calendar of x positions (matplotlib date numbers)."""

    def __init__(self, days, x, unit, tiers, national, top_regions, stock, durable, whole):
        self.days: list[str] = days
        self.x: np.ndarray = x
        self.unit: str = unit
        self.tiers: list[tuple[int, float, np.ndarray, np.ndarray]] = tiers  # tier, weight, fill, min fill
        self.national: pd.DataFrame = national  # per day: demand, backlog_in, due, delivered, shortfall
        self.top_regions: list[tuple[str, float, np.ndarray]] = top_regions  # name, total shortfall, daily
        self.stock: pd.DataFrame = stock  # per day: source, region, in_service, floor
        self.durable: bool = durable
        self.whole: bool = whole  # every product counted in whole units

    @classmethod
    def of(cls, result: ReplayResult, date2num) -> _Series:
        inst = result.instance
        by_day, fill, stock = result.by_day, result.fill, result.stock
        found: set[str] = set()
        for frame in (by_day, fill, stock):
            if frame is not None and len(frame) and "day" in frame:
                found.update(str(d) for d in frame["day"].unique())
        days = sorted(found) or list(inst.days)[:1]
        index = pd.Index(days, name="day")
        x = np.asarray(date2num(np.array(days, dtype="datetime64[D]")), dtype=float) if days else np.zeros(0)

        tiers = []
        if by_day is not None and len(by_day):
            for tier, grp in by_day.groupby("tier", sort=True):
                g = grp.assign(day=grp["day"].astype(str)).set_index("day").reindex(index)
                tiers.append(
                    (
                        int(tier),
                        float(grp["weight"].max()),
                        g["fill_rate"].to_numpy(float),
                        g["min_fill"].to_numpy(float),
                    )
                )

        cols = ["demand", "backlog_in", "delivered", "shortfall"]
        if fill is not None and len(fill):
            f = fill.assign(day=fill["day"].astype(str))
            national = f.groupby("day")[cols].sum().reindex(index, fill_value=0.0)
        else:
            national = pd.DataFrame(0.0, index=index, columns=cols)
        national["due"] = national["demand"] + national["backlog_in"]

        names = {}
        if inst.regions is not None and len(inst.regions):
            for rid, name in zip(inst.regions["region"], inst.regions.get("name", inst.regions["region"])):
                names[str(rid)] = str(name) if isinstance(name, str) and name.strip() else str(rid)
        top_regions = []
        if fill is not None and len(fill):
            per = f.groupby(["region", "day"])["shortfall"].sum()
            totals = per.groupby(level="region").sum()
            totals = totals.loc[totals > 1e-9]
            # largest first; ties by region id, so the order never depends on the hash seed
            order = sorted(totals.items(), key=lambda kv: (-kv[1], str(kv[0])))[:_TOP_REGIONS]
            for rid, total in order:
                daily = per.loc[rid].reindex(index, fill_value=0.0).to_numpy(float)
                top_regions.append((names.get(str(rid), str(rid)), float(total), daily))

        st = pd.DataFrame(0.0, index=index, columns=["source", "region", "in_service", "floor"])
        if stock is not None and len(stock):
            s = stock.assign(day=stock["day"].astype(str))
            for holder in ("source", "region"):
                part = s.loc[s["holder"] == holder]
                if len(part):
                    st[holder] = part.groupby("day")["closing"].sum().reindex(index, fill_value=0.0)
            reg = s.loc[s["holder"] == "region"]
            if len(reg):
                if "in_service" in reg:
                    st["in_service"] = reg.groupby("day")["in_service"].sum().reindex(index, fill_value=0.0)
                if "floor" in reg:
                    st["floor"] = reg.groupby("day")["floor"].sum().reindex(index, fill_value=0.0)
        products = inst.products
        durable = bool("durable" in products and products["durable"].astype(bool).any()) or bool(
            (st["in_service"] > 0).any()
        )
        whole = bool("countable" in products and len(products) and products["countable"].astype(bool).all())
        return cls(days, x, _unit(inst), tiers, national, top_regions, st, durable, whole)


def _unit(inst) -> str:
    """The products' unit when there is one family with one unit; else plain 'units'."""
    p = inst.products
    if p is None or not len(p) or p["family"].nunique() != 1:
        return "units"
    units = {str(u).strip() for u in p.get("unit", pd.Series(dtype=object)) if isinstance(u, str) and u.strip()}
    return units.pop() if len(units) == 1 else "units"


def _quantity_label(v: float, _pos=None) -> str:
    return compact_text(v) if abs(v) >= 1e5 else quantity_text(v)


def _amount(v: float) -> str:
    return quantity_text(v) if abs(v) >= 100 else quantity_text(v, 2)


def _markers(n: int) -> dict:
    # dots while days are few (one day is only a dot); unclipped, so a line at 0 or 100 % shows whole
    return {"marker": "o", "markersize": 3.5 if n <= 45 else 0, "clip_on": False}


def _fill_panel(ax, data: _Series) -> None:
    ax.axhline(1.0, color="#333333", linewidth=0.9, linestyle="--", zorder=1)
    ax.set_ylim(0.0, 1.08)
    ax.set_ylabel("fill rate (delivered / due)")
    ax.set_title("Fill rate by priority tier (tier 1 = highest)", loc="left", fontsize=10)
    if not data.tiers:
        ax.text(0.5, 0.5, "no demand", transform=ax.transAxes, ha="center", va="center", color="#666666")
        return
    for i, (tier, weight, rate, worst) in enumerate(data.tiers):
        colour = _TIER_COLOURS[i % len(_TIER_COLOURS)]
        # tier 1 on top (where tiers meet at 100 %, the highest priority's line shows)
        ax.plot(
            data.x,
            rate,
            color=colour,
            linewidth=2.2 if i == 0 else 1.6,
            label=f"tier {tier} (w {weight:g})",
            zorder=3 + len(data.tiers) - i,
            **_markers(len(data.x)),
        )
        if np.nanmax(np.abs(rate - worst), initial=0.0) > 1e-9:
            ax.fill_between(data.x, worst, rate, color=colour, alpha=0.13, linewidth=0, zorder=2)
    handles, labels = ax.get_legend_handles_labels()
    if any(np.nanmax(np.abs(r - w), initial=0.0) > 1e-9 for _, _, r, w in data.tiers):
        from matplotlib.patches import Patch

        handles.append(Patch(color="#999999", alpha=0.3, linewidth=0))
        labels.append("down to worst region")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _shortfall_panel(ax, data: _Series) -> None:
    nat, x, unit = data.national, data.x, data.unit
    ax.set_ylabel(f"{unit} per day")
    total_short = float(nat["shortfall"].sum())
    due = float(nat["due"].sum())
    ax.set_title(
        f"Due vs delivered, all regions: shortfall {_amount(total_short)} {unit}"
        + (f" of {_amount(due)} due ({total_short / due:.0%})" if due > 0 else ""),
        loc="left",
        fontsize=10,
    )
    width = 0.8
    delivered, short = nat["delivered"].to_numpy(float), nat["shortfall"].to_numpy(float)
    ax.bar(x, delivered, width=width, color=_DELIVERED, label="delivered", zorder=2)
    if total_short > 0:
        ax.bar(
            x,
            short,
            width=width,
            bottom=delivered,
            color=_SHORT,
            alpha=0.55,
            hatch="///",
            edgecolor=_SHORT,
            linewidth=0,
            label="shortfall",
            zorder=2,
        )
    if float(nat["backlog_in"].sum()) > 0:
        ax.plot(
            x,
            nat["demand"].to_numpy(float),
            color="#252525",
            linewidth=1.0,
            linestyle=":",
            label="new demand (rest: backlog)",
            zorder=3,
            **_markers(len(x)),
        )
    for i, (name, total, daily) in enumerate(data.top_regions):
        ax.plot(
            x,
            daily,
            color=_REGION_COLOURS[i % len(_REGION_COLOURS)],
            linewidth=2.0 if i == 0 else 1.3,
            label=f"{name}: short {_amount(total)}",
            zorder=4,
            **_markers(len(x)),
        )
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: (labels[i] not in ("delivered", "shortfall"), i))
    if total_short <= 0:
        ax.text(0.99, 0.95, "no shortfall", transform=ax.transAxes, ha="right", va="top", color="#1b7837")
    top = float(np.nanmax(nat["due"].to_numpy(float), initial=0.0))
    ax.set_ylim(0.0, top * 1.08 if top > 0 else 1.0)
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        frameon=False,
    )


def _stock_panel(ax, data: _Series) -> None:
    st, x, unit = data.stock, data.x, data.unit
    ax.set_ylabel(f"{unit} on hand")
    ax.set_title("Stock at the end of each day", loc="left", fontsize=10)
    src, reg = st["source"].to_numpy(float), st["region"].to_numpy(float)
    ax.fill_between(x, 0.0, src, color=_SOURCE_STOCK, alpha=0.12, linewidth=0)
    ax.plot(x, src, color=_SOURCE_STOCK, linewidth=1.8, label="at sources", **_markers(len(x)))
    ax.plot(x, reg, color=_REGION_STOCK, linewidth=1.8, label="at regions", **_markers(len(x)))
    if data.durable:
        ax.plot(
            x,
            st["in_service"].to_numpy(float),
            color=_IN_SERVICE,
            linewidth=1.5,
            linestyle="--",
            label="in service (durable)",
            **_markers(len(x)),
        )
    if float(st["floor"].to_numpy(float).max(initial=0.0)) > 0:
        ax.plot(
            x, st["floor"].to_numpy(float), color=_FLOOR, linewidth=1.0, linestyle=":", label="regions' floor (target)"
        )
    top = float(np.nanmax(st.to_numpy(float), initial=0.0))
    ax.set_ylim(0.0, top * 1.1 if top > 0 else 1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _date_axis(axes, data: _Series, mdates) -> None:
    x = data.x
    if not len(x):
        for ax in axes:
            ax.set_xticks([])
        return
    lo, hi = float(x.min()) - 0.6, float(x.max()) + 0.6
    span = int(round(x.max() - x.min())) + 1
    if span <= 62:  # one tick a day, or every few days (never hours): "03 Feb"
        locator = mdates.DayLocator(interval=max(1, math.ceil(span / 12)))
        formatter = mdates.DateFormatter("%d %b")
    else:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
        formatter = mdates.ConciseDateFormatter(locator, show_offset=True)
    bottom = axes[-1]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(formatter)
    bottom.set_xlim(lo, hi)
    bottom.set_xlabel("day (end of day for stock)")


def _heading(result: ReplayResult, data: _Series, title: str | None) -> str:
    if title is None:
        days = data.days
        when = f"{days[0]} to {days[-1]} ({len(days)} days)" if len(days) > 1 else (days[0] if days else "no days")
        h = result.horizon
        title = (
            f"{result.instance.name}: replay {when}, horizon {h} day{'s' if h != 1 else ''}, {result.forecast} forecast"
        )
    nat = data.national
    due = float(nat["due"].sum())
    parts = [f"fill {float(nat['delivered'].sum()) / due:.1%}" if due > 0 else "nothing due"]
    if data.tiers:
        t, _, rate, _ = data.tiers[0]
        tier_due = result.by_day.loc[result.by_day["tier"] == t]
        td = float((tier_due["demand"] + tier_due["backlog_in"]).sum())
        if td > 0 and len(data.tiers) > 1:
            parts.append(f"tier {t} fill {float(tier_due['delivered'].sum()) / td:.1%}")
    short = nat["shortfall"]
    if float(short.sum()) > 0:
        worst = str(short.idxmax())
        parts.append(f"worst day {worst} (short {_amount(float(short.max()))} {data.unit})")
        if data.top_regions:
            name, total, _ = data.top_regions[0]
            parts.append(f"most short: {name} ({_amount(total)})")
    return title + "\n" + " · ".join(parts)
