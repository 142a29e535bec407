"""Independent solution paths for the tests, written apart from the package's model.

* ``pulp_reference``: the lexicographic problem stated directly in PuLP, one variable per
  (source, region, product, family, use) -- a product serves its own family, and another
  family's demand where ``substitutes.csv`` lists it, at ``preference x substitution.cost``
  a unit in stage 3 -- solved by CBC. Stage 1 minimises weighted shortfall;
  stage 2 finds max-min fair fill rates by the textbook procedure with an explicit
  per-row test (one LP per open row, no duals); stage 3 is a MIP over whole units with
  the weighted shortfall held at its optimum and each row boxed to its fair level.
* ``networkx_reference``: equity off, as a single min-cost flow with a big-M cost (and the
  substitution charge on the arcs of substitutes), solved by networkx's network simplex.

Neither imports the package's model, solver or verification code; weights come from the
documented rule (``Instance.demand_weights``), route costs from the route table.
"""

from __future__ import annotations

import math
from collections import defaultdict

import networkx as nx
import numpy as np
import pulp


def _cbc():
    """CBC from the ``cbcbox`` wheel (``pulp[cbc]``), by its path, so PATH does not matter."""
    import cbcbox

    return pulp.COIN_CMD(msg=False, path=cbcbox.cbc_bin_path())


def _arcs(inst):
    """(source, region, product) -> (unit cost, capacity or None), straight from routes.csv."""
    arcs = {}
    prods = list(inst.products["product"])
    if inst.routes is None:
        # Every source to every region at great-circle km (haversine, R = 6371.0088 km),
        # rounded to 0.1 km, times the policy's cost per km, as the README states.
        reg = {r["region"]: (r["lat"], r["lon"]) for _, r in inst.regions.iterrows()}
        for _, s in inst.sources.iterrows():
            lat1, lon1 = (s["lat"], s["lon"]) if not math.isnan(s["lat"]) else reg[s["region"]]
            for region, (lat2, lon2) in reg.items():
                if math.isnan(lat2):
                    continue
                p1, p2 = math.radians(lat1), math.radians(lat2)
                h = (
                    math.sin((p2 - p1) / 2) ** 2
                    + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
                )
                km = round(2 * 6371.0088 * math.asin(math.sqrt(h)), 1)
                for p in prods:
                    arcs[(s["source"], region, p)] = (km * inst.policy.cost_per_km, None)
        return arcs
    for _, r in inst.routes.iterrows():
        for p in [r["product"]] if r["product"] else prods:
            key = (r["source"], r["region"], p)
            if r["product"] or key not in arcs:
                cap = None if (isinstance(r["capacity"], float) and math.isnan(r["capacity"])) else r["capacity"]
                arcs[key] = (float(r["cost"]), cap)
    return arcs


def _data(inst):
    prod = {r["product"]: r for _, r in inst.products.iterrows()}
    supply = {(r["source"], r["product"]): float(r["quantity"]) for _, r in inst.supply.iterrows()}
    weights = inst.demand_weights()
    dem = []
    for i, r in inst.demand.iterrows():
        dem.append((r["region"], r["family"], r["use"], float(r["quantity"]), float(weights[i])))
    allow = inst.policy.icu_grade_for_general

    def may_serve(p, use):
        g = prod[p]["grade"]
        return g == use or (g == "icu" and use == "general" and allow)

    return prod, supply, dem, may_serve


def _substitutes(inst, prod):
    """(product, family, use) -> preference, for rows naming another family than the product's."""
    subs = {}
    if inst.substitutes is not None:
        for _, r in inst.substitutes.iterrows():
            if r["family"] != prod[r["product"]]["family"]:
                subs[(r["product"], r["family"], r["use"])] = int(r["preference"])
    return subs


def pulp_reference(inst):
    prod, supply, dem, may_serve = _data(inst)
    subs = _substitutes(inst, prod)
    arcs = _arcs(inst)
    countable = {p: bool(prod[p]["countable"]) for p in prod}
    # One variable per (source, region, product, family, use) that may carry something.
    dem_by_region = defaultdict(list)
    for dr, fam, use, _q, _w in dem:
        dem_by_region[dr].append((fam, use))
    keys = []
    for (s, r, p), (_c, _cap) in sorted(arcs.items()):
        if supply.get((s, p), 0) <= 0:
            continue
        for fam, use in dem_by_region[r]:
            if (prod[p]["family"] == fam or (p, fam, use) in subs) and may_serve(p, use):
                keys.append((s, r, p, fam, use))
    charge = {
        k: 0.0 if prod[k[2]]["family"] == k[3] else subs[(k[2], k[3], k[4])] * inst.policy.substitution_cost
        for k in keys
    }

    def model(integer):
        m = pulp.LpProblem("ref", pulp.LpMinimize)
        x = {
            k: m.add_variable(f"x_{i}", 0, None, cat="Integer" if integer and countable[k[2]] else "Continuous")
            for i, k in enumerate(keys)
        }
        by_supply, by_arc, by_demand = defaultdict(list), defaultdict(list), defaultdict(list)
        for k in keys:
            by_supply[(k[0], k[2])].append(x[k])
            by_arc[k[:3]].append(x[k])
            by_demand[(k[1], k[3], k[4])].append(x[k])
        for sp, terms in by_supply.items():
            m += pulp.lpSum(terms) <= supply[sp]
        for arc, terms in by_arc.items():
            if arcs[arc][1] is not None:
                m += pulp.lpSum(terms) <= arcs[arc][1]
        deliv = []
        for dr, fam, use, q, _w in dem:
            e = pulp.lpSum(by_demand.get((dr, fam, use), []))
            m += e <= q
            deliv.append(e)
        wshort = pulp.lpSum(w * (q - e) for (dr, fam, use, q, w), e in zip(dem, deliv))
        cost = pulp.lpSum(arcs[k[:3]][0] * x[k] for k in keys)
        subst = pulp.lpSum(charge[k] * x[k] for k in keys if charge[k])
        return m, x, deliv, wshort, cost, subst

    def run(m):
        status = m.solve(_cbc())
        assert pulp.LpStatus[status] == "Optimal", pulp.LpStatus[status]

    # Stage 1.
    m, x, deliv, wshort, cost, subst = model(False)
    m += wshort
    run(m)
    w_star = pulp.value(wshort)
    # Slack for CBC's tolerances and the LP file's rounding: 1e-6 of weighted shortfall moves a
    # fill rate by far less than the 1e-5 the tests compare at.
    w_slack = w_star + 1e-6 + 1e-10 * abs(w_star)
    qty = np.array([d[3] for d in dem])
    wts = np.array([d[4] for d in dem])
    level = np.full(len(dem), np.nan)
    level[qty <= 0] = 1.0
    if inst.policy.equity:
        for w in sorted(set(float(f"{v:.12g}") for v in wts[qty > 0]), reverse=True):
            open_ = [i for i in range(len(dem)) if qty[i] > 0 and float(f"{wts[i]:.12g}") == w]
            while open_:

                def base():
                    m, x, deliv, wshort, cost, subst = model(False)
                    m += wshort <= w_slack
                    for i in range(len(dem)):
                        if not np.isnan(level[i]) and qty[i] > 0:
                            m += deliv[i] >= level[i] * qty[i] - 1e-6 * (qty[i] + 1)
                    return m, deliv

                m, deliv = base()
                t = m.add_variable("t", 0, 1)
                for i in open_:
                    m += deliv[i] >= t * qty[i]
                m += -t
                run(m)
                t_star = t.value()
                # CBC's solution file carries limited digits: rows are held 1e-6 below the level,
                # and a row counts as able to rise only if it gains more than ten times what that slack frees.
                blocked = []
                for i in open_:
                    m, deliv = base()
                    for j in open_:
                        m += deliv[j] >= t_star * qty[j] - 1e-6 * (qty[j] + 1)
                    m += -deliv[i]
                    run(m)
                    if pulp.value(deliv[i]) <= t_star * qty[i] + 1e-5 * (qty[open_].sum() + 1):
                        blocked.append(i)
                if not blocked:  # every open row can rise: t was not maximal (cannot happen)
                    raise AssertionError("progressive filling made no progress")
                for i in blocked:
                    level[i] = t_star
                open_ = [i for i in open_ if i not in blocked]
    # Stage 3: whole units, fair levels boxed to the unit.
    m, x, deliv, wshort, cost, subst = model(True)
    m += wshort <= w_slack
    if inst.policy.equity:
        for i, (_dr, fam, _use, q, _w) in enumerate(dem):
            target = level[i] * q
            if countable[[p for p in prod if prod[p]["family"] == fam][0]]:
                m += deliv[i] >= math.floor(target + 1e-6)
                m += deliv[i] <= math.ceil(target - 1e-6)
            else:
                m += deliv[i] >= target - 1e-6 * (q + 1)
    m += cost + subst
    run(m)
    return {
        "weighted_shortfall": w_star,
        "route_cost": pulp.value(cost),
        "fair_fill": level,
        "substitution_charge": pulp.value(subst) or 0.0,
        "delivered": np.array([pulp.value(e) or 0.0 for e in deliv]),
    }


def networkx_reference(inst, scale=1000):
    """Equity off: min-cost flow with cost M * weight on unmet demand plus route cost."""
    prod, supply, dem, may_serve = _data(inst)
    subs = _substitutes(inst, prod)
    arcs = _arcs(inst)
    g = nx.DiGraph()
    total = int(sum(supply.values()))
    g.add_node("SRC", demand=-total)
    g.add_node("SINK", demand=total)
    charge = {k: int(round(pref * inst.policy.substitution_cost * scale)) for k, pref in subs.items()}
    max_route = sum(int(round(c * scale)) for c, _ in arcs.values()) + max(charge.values(), default=0) + 1
    big = max_route * (total + 1)  # one unit of weight outranks any route cost
    for (s, p), q in supply.items():
        g.add_edge("SRC", ("sup", s, p), capacity=int(q), weight=0)
        g.add_edge(("sup", s, p), "SINK", capacity=int(q), weight=0)  # left unshipped
    for (s, r, p), (c, cap) in arcs.items():
        if supply.get((s, p), 0) > 0:
            attrs = {"weight": int(round(c * scale))}
            if cap is not None:
                attrs["capacity"] = int(cap)
            g.add_edge(("sup", s, p), ("hub", r, p), **attrs)
    for i, (dr, fam, use, q, w) in enumerate(dem):
        for p in prod:
            own = prod[p]["family"] == fam
            if (own or (p, fam, use) in subs) and may_serve(p, use) and g.has_node(("hub", dr, p)):
                g.add_edge(("hub", dr, p), ("dem", i), weight=0 if own else charge[(p, fam, use)])
        # Served demand earns -M*w per unit; unserved costs nothing here.
        if g.has_node(("dem", i)):
            g.add_edge(("dem", i), "SINK", capacity=int(q), weight=-int(round(w * scale)) * big)
    cost, flow = nx.network_simplex(g)
    delivered = np.array([flow.get(("dem", i), {}).get("SINK", 0) for i in range(len(dem))], dtype=float)
    wts = np.array([d[4] for d in dem])
    qty = np.array([d[3] for d in dem])
    route = sum(
        flow[("sup", s, p)].get(("hub", r, p), 0) * c
        for (s, r, p), (c, cap) in arcs.items()
        if g.has_node(("sup", s, p)) and g.has_edge(("sup", s, p), ("hub", r, p))
    )
    substituted = sum(
        flow[("hub", dr, p)].get(("dem", i), 0) * charge[(p, fam, use)]
        for i, (dr, fam, use, q, w) in enumerate(dem)
        for p in prod
        if (p, fam, use) in charge and g.has_edge(("hub", dr, p), ("dem", i))
    )
    return {
        "weighted_shortfall": float(wts @ (qty - delivered)),
        "route_cost": float(route),
        "delivered": delivered,
        "substitution_charge": substituted / scale,
    }
