"""An independent statement of the daily model with side constraints, for the tests.

Written from the tables, apart from the package's model (``constrained``): PuLP variables
per (source, region, product, use), the side rows stated directly from ``capacity.csv``,
``commitments.csv``, ``products.min_lot`` and ``sources.max_destinations``, solved by CBC
over whole units. Equity off: least weighted shortfall, then least route cost with it held.
Returns ``None`` when CBC finds the problem infeasible.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pulp
from reference import _arcs, _cbc, _data


def side_reference(inst):
    prod, supply, dem, may_serve = _data(inst)
    arcs = _arcs(inst)
    corridor = {}
    if inst.routes is not None:
        for _, r in inst.routes.iterrows():
            corridor[(r["source"], r["region"], r["product"])] = r["corridor"]
    dem_by_region = defaultdict(list)
    for dr, fam, use, _q, _w in dem:
        dem_by_region[dr].append((fam, use))
    keys = []
    for (s, r, p), _ in sorted(arcs.items()):
        if supply.get((s, p), 0) <= 0:
            continue
        for fam, use in dem_by_region[r]:
            if prod[p]["family"] == fam and may_serve(p, use):
                keys.append((s, r, p, use))
    ship = sorted({k[:3] for k in keys})

    m = pulp.LpProblem("side", pulp.LpMinimize)
    x = {
        k: m.add_variable(f"x_{i}", 0, None, cat="Integer" if prod[k[2]]["countable"] else "Continuous")
        for i, k in enumerate(keys)
    }
    flow = {a: pulp.lpSum(x[k] for k in keys if k[:3] == a) for a in ship}
    for sp, q in supply.items():
        m += pulp.lpSum(flow[a] for a in ship if (a[0], a[2]) == sp) <= q
    for a in ship:
        if arcs[a][1] is not None:
            m += flow[a] <= arcs[a][1]
    deliv = []
    for dr, fam, use, q, _w in dem:
        e = pulp.lpSum(x[k] for k in keys if k[1] == dr and prod[k[2]]["family"] == fam and k[3] == use)
        m += e <= q
        deliv.append(e)

    def size(p, measure):
        column = {"pallets": "per_pallet", "trucks": "per_truck", "volume": "unit_volume", "mass": "unit_mass"}
        if measure == "units":
            return 1.0
        v = float(prod[p][column[measure]])
        return 1.0 / v if measure in ("pallets", "trucks") else v

    if inst.capacity is not None:
        for _, c in inst.capacity.iterrows():

            def on(a, c=c):
                route_corridor = corridor.get(a, corridor.get((a[0], a[1], ""), ""))
                return (
                    (not c["source"] or a[0] == c["source"])
                    and (not c["region"] or a[1] == c["region"])
                    and (not c["corridor"] or route_corridor == c["corridor"])
                )

            m += pulp.lpSum(size(a[2], c["measure"]) * flow[a] for a in ship if on(a)) <= float(c["capacity"])
    if inst.commitments is not None:
        com = inst.commitments
        for _, c in com.iterrows():
            if c["minimum"] > 0:
                m += pulp.lpSum(
                    flow[a]
                    for a in ship
                    if a[0] == c["source"] and a[1] == c["region"] and (not c["product"] or a[2] == c["product"])
                ) >= float(c["minimum"])
        des = com[com["kind"] == "designated"]
        for a in ship:
            rows = des[(des["source"] == a[0]) & ((des["product"] == a[2]) | (des["product"] == ""))]
            if len(rows) and not (rows["region"] == a[1]).any():
                m += flow[a] == 0
    for a in ship:
        lot = float(prod[a[2]]["min_lot"])
        if lot > 0:
            z = m.add_variable(f"z_{len(m.variables())}", 0, 1, cat="Binary")
            big = min(supply[(a[0], a[2])], arcs[a][1] if arcs[a][1] is not None else math.inf)
            m += flow[a] <= big * z
            m += flow[a] >= lot * z
    for _, s in inst.sources.iterrows():
        if not math.isnan(s["max_destinations"]):
            regions = sorted({a[1] for a in ship if a[0] == s["source"]})
            y = {r: m.add_variable(f"y_{s['source']}_{r}", 0, 1, cat="Binary") for r in regions}
            for a in ship:
                if a[0] == s["source"]:
                    m += flow[a] <= supply[(a[0], a[2])] * y[a[1]]
            m += pulp.lpSum(y.values()) <= float(s["max_destinations"])

    wshort = pulp.lpSum(w * (q - e) for (dr, fam, use, q, w), e in zip(dem, deliv))
    cost = pulp.lpSum(arcs[a][0] * flow[a] for a in ship)
    m.setObjective(wshort)
    status = m.solve(_cbc())
    if pulp.LpStatus[status] == "Infeasible":
        return None
    assert pulp.LpStatus[status] == "Optimal", pulp.LpStatus[status]
    w_star = pulp.value(wshort)
    m += wshort <= w_star + 1e-6 + 1e-9 * abs(w_star)
    m.setObjective(cost)
    status = m.solve(_cbc())
    assert pulp.LpStatus[status] == "Optimal", pulp.LpStatus[status]
    return w_star, pulp.value(cost)
