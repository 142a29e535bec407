"""A feasible plan and a lower bound without an LP, for when the time limit strikes.

``greedy_plan`` serves demand rows in order of weight (highest first), each from its
cheapest routes, within supply and route capacity: always feasible, whole units on whole
data. ``pooled_lower_bound`` is the least weighted shortfall when every route is assumed
to exist (a relaxation, so a valid bound on the true optimum); per family it is exact by
greedy: rows by weight, general use drawing on general-grade stock before ICU-grade.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.inputs.instance import Instance
from allocator.inputs.reach import substitute_rows

__all__ = ["greedy_plan", "pooled_lower_bound"]


def greedy_plan(model: FlowModel) -> np.ndarray:
    n_ship, n_serve = model.n_ship, model.n_serve
    x = np.zeros(model.n_cols)
    quantity = model.demand["quantity"].to_numpy(float)
    weight = model.demand["weight"].to_numpy(float)
    supply_key = pd.MultiIndex.from_frame(model.supply[["source", "product"]])
    ship_supply = supply_key.get_indexer(pd.MultiIndex.from_frame(model.ship[["source", "product"]]))
    left_supply = model.supply["quantity"].to_numpy(float).copy()
    left_cap = model.col_upper[:n_ship].copy()
    cost = model.ship["cost"].to_numpy(float)
    # Ship arcs by hub, cheapest first; serve arcs by demand row.
    hub_key = pd.MultiIndex.from_frame(model.hubs)
    ship_hub = hub_key.get_indexer(pd.MultiIndex.from_frame(model.ship[["region", "product"]]))
    serve_hub = hub_key.get_indexer(pd.MultiIndex.from_frame(model.serve[["region", "product"]]))
    order = np.lexsort((np.arange(n_ship), cost, ship_hub))
    arcs_of_hub: dict[int, np.ndarray] = {}
    if n_ship:
        bounds = np.flatnonzero(np.diff(ship_hub[order])) + 1
        for group in np.split(order, bounds):
            arcs_of_hub[int(ship_hub[group[0]])] = group
    serve_of_demand: dict[int, list[int]] = {}
    serve_dem = model.serve["demand_idx"].to_numpy()
    by_preference = (
        np.argsort(model.serve["preference"].to_numpy(), kind="stable")
        if "preference" in model.serve
        else np.arange(n_serve)
    )
    for k in by_preference.tolist():  # the family's own products first, then substitutes in order
        serve_of_demand.setdefault(int(serve_dem[k]), []).append(k)
    for d in np.lexsort((np.arange(len(quantity)), -weight)):
        need = quantity[d]
        for k in serve_of_demand.get(int(d), []):
            for a in arcs_of_hub.get(int(serve_hub[k]), ()):
                if need <= 0:
                    break
                take = min(need, left_supply[ship_supply[a]], left_cap[a])
                if take <= 0:
                    continue
                x[a] += take
                x[n_ship + k] += take
                left_supply[ship_supply[a]] -= take
                left_cap[a] -= take
                need -= take
        x[n_ship + n_serve + d] = need
    return x


def pooled_lower_bound(instance: Instance, model: FlowModel) -> float:
    if len(substitute_rows(instance)):
        return _pooled_bound_with_substitutes(instance, model)
    products = instance.products.set_index("product")
    stock = instance.supply.groupby("product")["quantity"].sum()
    allow = instance.policy.icu_grade_for_general
    demand = model.demand
    bound = 0.0
    for family, rows in demand.groupby("family"):
        members = products.index[products["family"] == family]
        grades = products.loc[members, "grade"]
        pool = {
            "icu": float(stock.reindex(members[grades == "icu"]).fillna(0).sum()),
            "general": float(stock.reindex(members[grades == "general"]).fillna(0).sum()),
        }
        ordered = rows.assign(_i=np.arange(len(rows))).sort_values(["weight", "_i"], ascending=[False, True])
        for _, row in ordered.iterrows():
            need = float(row["quantity"])
            sources = ["icu"] if row["use"] == "icu" else (["general", "icu"] if allow else ["general"])
            for g in sources:
                take = min(need, pool[g])
                pool[g] -= take
                need -= take
            bound += float(row["weight"]) * need
    return bound


def _pooled_bound_with_substitutes(instance: Instance, model: FlowModel) -> float:
    """With substitutes: families linked by a substitute pool all their products' supply, and any
    unit of the pool may serve any of their rows (grades and routes set aside): a relaxation,
    exact by greedy, so a valid bound."""
    products = instance.products
    subs = substitute_rows(instance)
    parent: dict[str, str] = {f: f for f in sorted(set(products["family"]) | set(model.demand["family"]))}

    def root(f: str) -> str:
        while parent[f] != f:
            f = parent[f]
        return f

    own = subs["product"].map(products.set_index("product")["family"])
    for a, b in zip(own.tolist(), subs["family"].tolist()):
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    stock = instance.supply.groupby("product")["quantity"].sum()
    pool: dict[str, float] = {}
    for product, family in zip(products["product"].tolist(), products["family"].tolist()):
        pool[root(family)] = pool.get(root(family), 0.0) + float(stock.get(product, 0.0))
    demand = model.demand
    bound = 0.0
    order = np.lexsort((np.arange(len(demand)), -demand["weight"].to_numpy(float)))
    for family, quantity, weight in zip(
        demand["family"].to_numpy(object)[order],
        demand["quantity"].to_numpy(float)[order],
        demand["weight"].to_numpy(float)[order],
    ):
        r = root(family)
        take = min(quantity, pool.get(r, 0.0))
        pool[r] = pool.get(r, 0.0) - take
        bound += weight * (quantity - take)
    return bound
