"""Why each shortfall: no supply, no route, outranked by named higher-weight demand,
shared with equal-weight demand, or route capacity full.

For a short demand row ``d`` the *reach* is every (source, product) that has a route to
``d``'s region and a product that may serve ``d``. Where the reach's units went is read
off the plan: each shipment is attributed to the demand rows its hub served, pro rata.
All of it is computed with table joins, once for all rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .instance import Instance
from .model import FlowModel

__all__ = ["shortfall_reasons"]


def shortfall_reasons(instance: Instance, model: FlowModel, x: np.ndarray, fill: pd.DataFrame) -> pd.Series:
    """A reason in words for every fill row with a shortfall (empty string otherwise)."""
    reasons = pd.Series("", index=fill.index, dtype=object)
    short_pos = np.flatnonzero((fill["shortfall"] > 1e-9).to_numpy())
    if len(short_pos) == 0:
        return reasons
    demand = model.demand
    weight = demand["weight"].to_numpy(float)
    region_name = instance.regions.set_index("region")["name"]
    key = pd.MultiIndex.from_frame(demand[["region", "family", "use"]])
    d_of_fill = key.get_indexer(pd.MultiIndex.from_frame(fill[["region", "family", "use"]]))
    short_d = d_of_fill[short_pos]

    # Attribute each shipment to the demand rows its hub served.
    ship = model.ship[["source", "region", "product", "capacity"]].assign(q=x[: model.n_ship])
    serve = model.serve[["region", "product", "demand_idx"]].assign(q=x[model.n_ship: model.n_ship + model.n_serve])
    hub_total = serve.groupby(["region", "product"])["q"].transform("sum")
    serve["share"] = np.where(hub_total > 0, serve["q"] / hub_total.where(hub_total > 0, 1.0), 0.0)
    sent = ship[ship["q"] > 0].merge(serve.loc[serve["share"] > 0, ["region", "product", "demand_idx", "share"]],
                                     on=["region", "product"])
    sent = pd.DataFrame({"source": sent["source"], "product": sent["product"], "to": sent["demand_idx"],
                         "units": sent["q"] * sent["share"]})

    # The reach of each short row: ship arcs into its hubs for products that may serve it.
    wanted = serve.loc[serve["demand_idx"].isin(short_d), ["region", "product", "demand_idx"]]
    reach = wanted.merge(ship[["source", "region", "product", "capacity", "q"]], on=["region", "product"])
    reach = reach.rename(columns={"demand_idx": "d"})
    flows = reach[["d", "source", "product"]].drop_duplicates().merge(sent, on=["source", "product"])
    flows["w_to"] = weight[flows["to"].to_numpy()]
    flows["w_d"] = weight[flows["d"].to_numpy()]
    higher = flows[flows["w_to"] > flows["w_d"] * (1 + 1e-12)]
    equal = flows[np.isclose(flows["w_to"], flows["w_d"], rtol=1e-12) & (flows["to"] != flows["d"])]
    own = flows[flows["to"] == flows["d"]].groupby("d")["units"].sum()
    equal_sum = equal.groupby("d")["units"].sum()
    higher_by = higher.groupby(["d", "to"], as_index=False)["units"].sum().sort_values(
        ["d", "units", "to"], ascending=[True, False, True])
    cap = reach[np.isfinite(reach["capacity"].to_numpy(float))]
    full = cap[cap["q"] >= cap["capacity"] - 1e-9].groupby("d")["source"].apply(lambda s: sorted(set(s)))
    supply = model.supply.set_index(["source", "product"])["quantity"]
    shipped = ship.groupby(["source", "product"])["q"].sum()
    left_sp = (supply - shipped.reindex(supply.index).fillna(0.0)).rename("left").reset_index()
    left = reach[["d", "source", "product"]].drop_duplicates().merge(left_sp, on=["source", "product"]).groupby(
        "d")["left"].sum()

    # Rows no supply or no route can reach.
    pairs = instance.demand[["family", "use"]].rename_axis("demand_idx").reset_index().merge(
        instance.products[["product", "family", "grade"]], on="family")
    ok = (pairs["grade"] == pairs["use"]) | ((pairs["grade"] == "icu") & (pairs["use"] == "general")
                                             & instance.policy.icu_grade_for_general)
    stock = instance.supply.groupby("product")["quantity"].sum()
    has_stock = set(pairs.loc[ok & (pairs["product"].map(stock).fillna(0.0) > 0), "demand_idx"])
    reachable = set(reach["d"])
    higher_groups = {d: g for d, g in higher_by.groupby("d")}

    for pos, d in zip(short_pos, short_d):
        row = demand.iloc[d]
        grade = "ICU-grade " if row["use"] == "icu" else ""
        if d not in has_stock:
            reasons.iloc[pos] = f"no {grade}{row['family']} supply anywhere today"
            continue
        if d not in reachable:
            where = region_name[row["region"]]
            reasons.iloc[pos] = f"no route reaches {where} from any source of {grade}{row['family']}"
            continue
        parts = []
        g = higher_groups.get(d)
        if g is not None and g["units"].sum() > 0.5:
            named = [f"{region_name[demand['region'].iloc[t]]} {demand['use'].iloc[t]} (w {weight[t]:g})"
                     for t in g["to"].iloc[:3]]
            more = f" and {len(g) - 3} more" if len(g) > 3 else ""
            parts.append(f"outranked: {_n(g['units'].sum())} reachable units went to higher-weight demand in "
                         f"{', '.join(named)}{more}")
        if equal_sum.get(d, 0.0) > 0.5:
            parts.append(f"shared: {_n(equal_sum[d])} reachable units went to equal-weight demand, rationed to "
                         "equal fill rates")
        if d in full.index:
            parts.append(f"route capacity full from {', '.join(full[d][:3])}")
        if not parts:
            if left.get(d, 0.0) <= 1e-9:
                parts.append(f"not enough supply: all {_n(own.get(d, 0.0))} reachable {grade}units are "
                             "delivered here")
            else:
                parts.append(f"{_n(left[d])} reachable units left unshipped")
        reasons.iloc[pos] = "; ".join(parts)
    return reasons


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-6 else f"{x:,.2f}"
