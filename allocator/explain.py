"""Why each shortfall: no supply, no route, outranked by named higher-weight demand,
shared with equal-weight demand, or route capacity full."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .instance import Instance
from .model import FlowModel

__all__ = ["shortfall_reasons"]


def shortfall_reasons(instance: Instance, model: FlowModel, x: np.ndarray, fill: pd.DataFrame) -> pd.Series:
    """A reason in words for every fill row with a shortfall (empty string otherwise)."""
    reasons = pd.Series("", index=fill.index, dtype=object)
    short = fill["shortfall"] > 1e-9
    if not short.any():
        return reasons
    demand = model.demand
    key_to_demand = {k: i for i, k in enumerate(zip(demand["region"], demand["family"], demand["use"]))}
    region_name = instance.regions.set_index("region")["name"]
    # Each shipped unit, attributed to the demand rows its hub served (pro rata).
    ship_q = x[: model.n_ship]
    serve_q = x[model.n_ship: model.n_ship + model.n_serve]
    serve = model.serve.assign(q=serve_q)
    hub_total = serve.groupby(["region", "product"])["q"].transform("sum")
    serve["share"] = np.where(hub_total > 0, serve["q"] / hub_total.where(hub_total > 0, 1.0), 0.0)
    ship = model.ship.assign(q=ship_q)
    sent = ship[ship["q"] > 0].merge(serve[["region", "product", "demand_idx", "share"]], on=["region", "product"])
    sent["units"] = sent["q"] * sent["share"]
    sent["to_weight"] = demand["weight"].to_numpy()[sent["demand_idx"].to_numpy()]
    supply = model.supply.set_index(["source", "product"])["quantity"]
    shipped = ship.groupby(["source", "product"])["q"].sum()
    pairs = model.serve[["product", "demand_idx"]]
    eligible = instance.demand[["family", "use"]].rename_axis("demand_idx").reset_index()
    eligible = eligible.merge(instance.products[["product", "family", "grade"]], on="family")
    ok = (eligible["grade"] == eligible["use"]) | ((eligible["grade"] == "icu") & (eligible["use"] == "general")
                                                   & instance.policy.icu_grade_for_general)
    eligible = eligible[ok]
    stock = instance.supply.groupby("product")["quantity"].sum()

    for pos in np.flatnonzero(short.to_numpy()):
        row = fill.iloc[pos]
        d = key_to_demand[(row["region"], row["family"], row["use"])]
        w = float(demand["weight"].iloc[d])
        prods = eligible.loc[eligible["demand_idx"] == d, "product"]
        grade = "ICU-grade " if row["use"] == "icu" else ""
        if float(stock.reindex(prods).fillna(0.0).sum()) <= 0:
            reasons.iloc[pos] = f"no {grade}{row['family']} supply anywhere today"
            continue
        arcs = model.ship[(model.ship["region"] == row["region"]) & model.ship["product"].isin(prods)]
        if len(arcs) == 0 or not pairs["demand_idx"].eq(d).any():
            reasons.iloc[pos] = f"no route reaches {region_name[row['region']]} from any source of {grade}{row['family']}"
            continue
        reach = arcs[["source", "product"]].drop_duplicates()
        went = sent.merge(reach, on=["source", "product"])
        higher = went[went["to_weight"] > w * (1 + 1e-12)]
        equal = went[np.isclose(went["to_weight"], w, rtol=1e-12) & (went["demand_idx"] != d)]
        parts = []
        if higher["units"].sum() > 0.5:
            by = higher.groupby("demand_idx")["units"].sum().sort_values(ascending=False)
            named = [f"{region_name[demand['region'].iloc[i]]} {demand['use'].iloc[i]} (w {demand['weight'].iloc[i]:g})"
                     for i in by.index[:3]]
            more = f" and {len(by) - 3} more" if len(by) > 3 else ""
            parts.append(f"outranked: {_n(by.sum())} reachable units went to higher-weight demand in "
                         f"{', '.join(named)}{more}")
        if equal["units"].sum() > 0.5:
            parts.append(f"shared: {_n(equal['units'].sum())} reachable units went to equal-weight demand, "
                         f"rationed to equal fill rates")
        cap = arcs[np.isfinite(arcs["capacity"].to_numpy(float))]
        full = cap[ship_q[cap.index.to_numpy()] >= cap["capacity"].to_numpy(float) - 1e-9]
        if len(full):
            parts.append(f"route capacity full from {', '.join(full['source'].unique()[:3])}")
        left = sum(float(supply.get(k, 0.0)) - float(shipped.get(k, 0.0))
                   for k in map(tuple, reach.to_numpy()))
        if not parts:
            own = went.loc[went["demand_idx"] == d, "units"].sum()
            if left <= 1e-9:
                parts.append(f"not enough supply: all {_n(own)} reachable {grade}units are delivered here")
            else:
                parts.append(f"{_n(left)} reachable units left unshipped")
        reasons.iloc[pos] = "; ".join(parts)
    return reasons


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-6 else f"{x:,.2f}"
