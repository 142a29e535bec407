"""An independent statement of the multi-day planning problem (stage 1 only), for the tests.

Written from the specification of issue #6 (``FORMAT.md`` and the policy), not from
``allocator/horizon.py``: it reads the validated tables of an ``Instance`` and states the
time-expanded problem directly in PuLP, one variable per thing that happens, solved by CBC
as a MIP (whole units for countable products).

Days ``t = 0 .. H-1`` of the window (consecutive calendar days from its first day).

* Output of a supply row made on day ``m`` (a dated row: its day; an undated row: every day of
  the window) is ready at the source on day ``m + lead``; ``lead`` is the row's ``lead_days``,
  else the product's plus the source's. Output made before the window is not counted.
* Source stock: ``S[s,p,t] = S[s,p,t-1] + ready + stock.csv arriving - shipped on t``.
* A shipment on route (s, r, p) leaves on ``t`` and arrives on ``t + transit`` (only if that
  is inside the window); at most ``capacity`` units a day.
* Region stock: ``R[r,p,t] = R[r,p,t-1] - lost + arrivals + transfers in - transfers out - used``;
  used = units served for consumables, 0 for durables, whose units serving demand on ``t`` are
  at most ``R[r,p,t]``. ``lost[t] >= attrition * R[t-1]`` (whole units: the least whole number).
* Demand (region, family, use) on ``t``: served + short = demand (+ yesterday's short with
  ``unmet = backlog`` for consumable families).
* Floors: ``ceil(floor.days x mean daily demand)`` of each consumable family at each region at
  the end of each day, soft (weight ``floor.weight``).
* Objective: sum of ``w x (1 + p (H-1-t)) x short`` plus ``floor.weight x (1 + p (H-1-t)) x
  floor short``.

``evaluate`` recomputes the same objective from the package's plan tables, and ``fixed``
re-solves this model with the package's shipments, transfers and shortfalls fixed (the plan
must be feasible here and no better than the optimum).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import pulp

# Weights of the policy as documented: region weight x largest flag weight (or the default
# when the region has none) x the ICU multiplier; a demand row's own weight wins.


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def _num(v, default=0.0) -> float:
    return default if _blank(v) else float(v)


def row_weight(inst, region_row, use, own) -> float:
    if not _blank(own):
        return float(own)
    w = inst.policy.weights
    flags = [f for f in str(region_row["flags"] or "").split(";") if f.strip()]
    flag_w = max((w[f] for f in flags if f in w), default=w["default"])
    return flag_w * _num(region_row["weight"], 1.0) * (w["icu"] if use == "icu" else 1.0)


@dataclass
class Data:
    days: list[str]
    H: int
    pref: float
    products: dict  # product -> dict(family, grade, countable, durable, attrition, lead)
    ready: dict  # (s, p, t) -> units ready at the source
    src_arrive: dict  # (s, p, t) -> stock.csv units at a source (t = 0: on hand)
    reg_arrive: dict  # (r, p, t) -> stock.csv units at a region
    routes: dict  # (s, r, p) -> (cost, transit, capacity or None)
    transfers: dict  # (a, b, p) -> (cost, transit, capacity or None)
    demand: dict  # (r, f, u, t) -> units
    weight: dict  # (r, f, u, t) -> weight of a unit short (no time preference)
    keys: list  # (r, f, u)
    floors: dict  # (r, f) -> floor
    regions: list
    sources: list
    backlog: bool
    floor_weight: float
    allow_icu_general: bool
    fam_durable: dict = field(default_factory=dict)

    def factor(self, t: int) -> float:
        return 1.0 + self.pref * (self.H - 1 - t)

    def may_serve(self, p: str, family: str, use: str) -> bool:
        d = self.products[p]
        return d["family"] == family and (
            d["grade"] == use or (d["grade"] == "icu" and use == "general" and self.allow_icu_general)
        )


def _first_day(inst) -> str | None:
    found = set()
    for frame in (inst.supply, inst.demand, inst.stock):
        if frame is not None and "day" in frame:
            found |= {str(d) for d in frame["day"] if not _blank(d)}
    return min(found) if found else None


def data(inst, horizon: int, start: str | None = None) -> Data:
    H = int(horizon)
    first = start or _first_day(inst)
    if first is None:
        days = [f"day {t + 1}" for t in range(H)]
        d0 = None
    else:
        d0 = date.fromisoformat(first)
        days = [(d0 + timedelta(days=t)).isoformat() for t in range(H)]

    def offset(day) -> int | None:
        if _blank(day):
            return None
        return (date.fromisoformat(str(day)) - d0).days

    products = {}
    for _, r in inst.products.iterrows():
        products[r["product"]] = {
            "family": r["family"] or r["product"],
            "grade": r["grade"],
            "countable": bool(r["countable"]),
            "durable": bool(r["durable"]),
            "attrition": _num(r["attrition"]),
            "lead": _num(r["lead_days"]),
        }
    src_lead = {r["source"]: _num(r["lead_days"]) for _, r in inst.sources.iterrows()}
    ready: dict = defaultdict(float)
    for _, r in inst.supply.iterrows():
        s, p, q = r["source"], r["product"], float(r["quantity"])
        lead = int(_num(r["lead_days"], products[p]["lead"] + src_lead[s]))
        made = range(H) if offset(r["day"]) is None else [offset(r["day"])]
        for m in made:
            if m >= 0 and m + lead <= H - 1:
                ready[(s, p, m + lead)] += q
    src_arrive: dict = defaultdict(float)
    reg_arrive: dict = defaultdict(float)
    if inst.stock is not None:
        for _, r in inst.stock.iterrows():
            t = offset(r["day"])
            t = 0 if t is None else t
            if not 0 <= t <= H - 1:
                continue
            if not _blank(r["source"]):
                src_arrive[(r["source"], r["product"], t)] += float(r["quantity"])
            else:
                reg_arrive[(r["region"], r["product"], t)] += float(r["quantity"])

    def expand(frame, a_col, b_col):
        out = {}
        if frame is None:
            return out
        for _, r in frame.iterrows():
            prods = [r["product"]] if not _blank(r["product"]) else list(products)
            for p in prods:
                key = (r[a_col], r[b_col], p)
                if _blank(r["product"]) and key in out:
                    continue  # a row naming the product wins over a row for every product
                cap = None if _blank(r["capacity"]) else float(r["capacity"])
                out[key] = (float(r["cost"]), int(_num(r["transit_days"])), cap)
        return out

    routes = expand(inst.routes, "source", "region")
    transfers = expand(inst.transfers, "from_region", "to_region")

    reg_rows = {r["region"]: r for _, r in inst.regions.iterrows()}
    demand: dict = defaultdict(float)
    weight: dict = {}
    key_weight: dict = {}
    keys = []
    for _, r in inst.demand.iterrows():
        k = (r["region"], r["family"], r["use"])
        if k not in keys:
            keys.append(k)
        w = row_weight(inst, reg_rows[r["region"]], r["use"], r["weight"])
        key_weight.setdefault(k, w)
        ts = range(H) if offset(r["day"]) is None else [offset(r["day"])]
        for t in ts:
            if 0 <= t <= H - 1:
                demand[k + (t,)] += float(r["quantity"])
                weight[k + (t,)] = w
    for k in keys:
        for t in range(H):
            weight.setdefault(k + (t,), key_weight[k])

    fam_durable = {}
    fam_countable = {}
    for _p, d in products.items():
        fam_durable[d["family"]] = d["durable"]
        fam_countable[d["family"]] = fam_countable.get(d["family"], True) and d["countable"]
    floors = {}
    pol = inst.policy
    if pol.floor_days > 0:
        # Mean daily demand over the instance's dated days (first to last dated day).
        dated = set()
        for frame in (inst.supply, inst.demand, inst.stock):
            if frame is not None and "day" in frame:
                dated |= {str(d) for d in frame["day"] if not _blank(d)}
        n = (date.fromisoformat(max(dated)) - date.fromisoformat(min(dated))).days + 1 if dated else 1
        total: dict = defaultdict(float)
        for _, r in inst.demand.iterrows():
            total[(r["region"], r["family"])] += float(r["quantity"]) * (n if _blank(r["day"]) else 1)
        for (reg, f), q in total.items():
            if fam_durable.get(f, False):
                continue
            v = pol.floor_days * q / n
            v = math.ceil(v - 1e-9) if fam_countable.get(f, True) else v
            if v > 0:
                floors[(reg, f)] = float(v)
    return Data(
        days=days,
        H=H,
        pref=pol.time_preference,
        products=products,
        ready=dict(ready),
        src_arrive=dict(src_arrive),
        reg_arrive=dict(reg_arrive),
        routes=routes,
        transfers=transfers,
        demand=dict(demand),
        weight=weight,
        keys=keys,
        floors=floors,
        regions=list(inst.regions["region"]),
        sources=list(inst.sources["source"]),
        backlog=pol.unmet == "backlog",
        floor_weight=pol.floor_weight,
        allow_icu_general=bool(pol.icu_grade_for_general),
        fam_durable=fam_durable,
    )


@dataclass
class Model:
    prob: pulp.LpProblem
    ship: dict
    xfer: dict
    short: dict
    sst: dict
    rst: dict
    lost: dict
    serve: dict
    fshort: dict


def build(d: Data) -> Model:
    H, P = d.H, d.products
    prob = pulp.LpProblem("horizon_reference", pulp.LpMinimize)
    names = iter(range(10**9))

    def var(p, lo=0.0, hi=None):
        return prob.add_variable(f"v{next(names)}", lo, hi, cat="Integer" if P[p]["countable"] else "Continuous")

    ship = {}
    for (s, r, p), (_, transit, cap) in d.routes.items():
        for t in range(H - transit):
            ship[(s, r, p, t)] = var(p, 0, cap)
    xfer = {}
    for (a, b, p), (_, transit, cap) in d.transfers.items():
        for t in range(H - transit):
            xfer[(a, b, p, t)] = var(p, 0, cap)
    src_pairs = (
        {(s, p) for (s, p, _) in d.ready} | {(s, p) for (s, p, _) in d.src_arrive} | {(s, p) for (s, _, p) in d.routes}
    )
    sst = {(s, p, t): var(p) for (s, p) in src_pairs for t in range(H)}
    reg_pairs = {(r, p) for r in d.regions for p in P}
    rst = {(r, p, t): var(p) for (r, p) in reg_pairs for t in range(H)}
    lost = {}
    for r, p in reg_pairs:
        a = P[p]["attrition"]
        if a > 0:
            for t in range(1, H):
                lost[(r, p, t)] = var(p)
                prob += lost[(r, p, t)] >= a * rst[(r, p, t - 1)]
    serve = {}
    short = {}
    for r, f, u in d.keys:
        fam_countable = all(P[p]["countable"] for p in P if P[p]["family"] == f)
        for t in range(H):
            short[(r, f, u, t)] = prob.add_variable(
                f"v{next(names)}", 0, None, cat="Integer" if fam_countable else "Continuous"
            )
            for p in P:
                if d.may_serve(p, f, u):
                    serve[(r, f, u, p, t)] = var(p)
    fshort = {}
    for (r, f), v in d.floors.items():
        fam_countable = all(P[p]["countable"] for p in P if P[p]["family"] == f)
        for t in range(H):
            fshort[(r, f, t)] = prob.add_variable(
                f"v{next(names)}", 0, v, cat="Integer" if fam_countable else "Continuous"
            )

    out_ship = defaultdict(list)
    in_ship = defaultdict(list)
    for (s, r, p, t), v in ship.items():
        out_ship[(s, p, t)].append(v)
        in_ship[(r, p, t + d.routes[(s, r, p)][1])].append(v)
    out_x = defaultdict(list)
    in_x = defaultdict(list)
    for (a, b, p, t), v in xfer.items():
        out_x[(a, p, t)].append(v)
        in_x[(b, p, t + d.transfers[(a, b, p)][1])].append(v)
    served_from = defaultdict(list)
    served_row = defaultdict(list)
    for (r, f, u, p, t), v in serve.items():
        served_from[(r, p, t)].append(v)
        served_row[(r, f, u, t)].append(v)

    for s, p in src_pairs:
        for t in range(H):
            prev = sst[(s, p, t - 1)] if t > 0 else 0
            prob += sst[(s, p, t)] == prev + d.ready.get((s, p, t), 0.0) + d.src_arrive.get(
                (s, p, t), 0.0
            ) - pulp.lpSum(out_ship[(s, p, t)])
    for r, p in reg_pairs:
        for t in range(H):
            prev = rst[(r, p, t - 1)] if t > 0 else 0
            used = 0 if P[p]["durable"] else pulp.lpSum(served_from[(r, p, t)])
            prob += (
                rst[(r, p, t)]
                == prev
                - lost.get((r, p, t), 0)
                + d.reg_arrive.get((r, p, t), 0.0)
                + pulp.lpSum(in_ship[(r, p, t)])
                + pulp.lpSum(in_x[(r, p, t)])
                - pulp.lpSum(out_x[(r, p, t)])
                - used
            )
            if P[p]["durable"]:
                prob += pulp.lpSum(served_from[(r, p, t)]) <= rst[(r, p, t)]
    for r, f, u in d.keys:
        carries = d.backlog and not d.fam_durable.get(f, False)
        for t in range(H):
            served = pulp.lpSum(served_row[(r, f, u, t)])
            due = d.demand.get((r, f, u, t), 0.0) + (short[(r, f, u, t - 1)] if carries and t > 0 else 0)
            prob += served + short[(r, f, u, t)] == due
    for (r, f), v in d.floors.items():
        members = [p for p in P if P[p]["family"] == f]
        for t in range(H):
            prob += pulp.lpSum(rst[(r, p, t)] for p in members) + fshort[(r, f, t)] >= v

    prob += pulp.lpSum(d.weight[k] * d.factor(k[3]) * v for k, v in short.items()) + pulp.lpSum(
        d.floor_weight * d.factor(t) * v for (_, _, t), v in fshort.items()
    )
    return Model(prob, ship, xfer, short, sst, rst, lost, serve, fshort)


def _cbc():
    """CBC of the ``cbcbox`` wheel (``pulp[cbc]``) by its path; ``PULP_CBC_CMD`` is deprecated in PuLP 3.3
    and warns (the tests turn warnings into errors).

    Solved to proven optimality: no gap, and no cutoff increment (CBC's default increment cut off the
    optimum of an instance whose weights are 0.01 x time factors, 0.01001 against 0.01003)."""
    import cbcbox

    return pulp.COIN_CMD(msg=False, path=cbcbox.cbc_bin_path(), gapRel=0, gapAbs=0, options=["increment 1e-9"])


def _solve(m: Model) -> float:
    status = m.prob.solve(_cbc())
    assert pulp.LpStatus[status] == "Optimal", pulp.LpStatus[status]
    return float(pulp.value(m.prob.objective) or 0.0)


def optimum(inst, horizon: int, start: str | None = None) -> float:
    """The least stage-1 objective of an H-day plan."""
    return _solve(build(data(inst, horizon, start)))


def fixed(inst, res, horizon: int, start: str | None = None) -> float:
    """The reference model with the package's shipments, transfers and shortfalls fixed.

    Raises AssertionError when the package's plan is infeasible in the reference model.
    """
    d = data(inst, horizon, start)
    m = build(d)
    t_of = {day: t for t, day in enumerate(d.days)}
    plan = res.plan
    got_ship = defaultdict(float)
    for _, r in plan.shipments.iterrows():
        key = (r["source"], r["region"], r["product"], t_of[r["day"]])
        assert key in m.ship, f"shipment not allowed by the reference: {key}"
        got_ship[key] += float(r["quantity"])
    for key, v in m.ship.items():
        m.prob += v == got_ship.get(key, 0.0)
    got_x = defaultdict(float)
    for _, r in plan.transfers.iterrows():
        key = (r["from_region"], r["to_region"], r["product"], t_of[r["day"]])
        assert key in m.xfer, f"transfer not allowed by the reference: {key}"
        got_x[key] += float(r["quantity"])
    for key, v in m.xfer.items():
        m.prob += v == got_x.get(key, 0.0)
    for _, r in plan.fill.iterrows():
        key = (r["region"], r["family"], r["use"], t_of[r["day"]])
        assert key in m.short, f"fill row unknown to the reference: {key}"
        m.prob += m.short[key] == float(r["shortfall"])
    return _solve(m)


def evaluate(inst, res, horizon: int, start: str | None = None) -> float:
    """The stage-1 objective of the package's plan, from its fill and stock tables."""
    d = data(inst, horizon, start)
    t_of = {day: t for t, day in enumerate(d.days)}
    total = 0.0
    for _, r in res.plan.fill.iterrows():
        t = t_of[r["day"]]
        total += d.weight[(r["region"], r["family"], r["use"], t)] * d.factor(t) * float(r["shortfall"])
    if d.floors:
        st = res.plan.stock
        st = st.loc[st["holder"] == "region"]
        held = defaultdict(float)
        for _, r in st.iterrows():
            held[(r["id"], d.products[r["product"]]["family"], t_of[r["day"]])] += float(r["closing"])
        for (reg, f), v in d.floors.items():
            for t in range(d.H):
                total += d.floor_weight * d.factor(t) * max(0.0, v - held.get((reg, f, t), 0.0))
    return total


def weights(inst, horizon: int, start: str | None = None) -> dict:
    """(region, family, use, day label) -> weight of one unit short (no time preference)."""
    d = data(inst, horizon, start)
    return {(r, f, u, d.days[t]): w for (r, f, u, t), w in d.weight.items()}
