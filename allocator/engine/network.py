"""Solve: the lexicographic optimum of a ``FlowModel`` by min-cost flows (the network engine).

The same three stages as ``lexicographic`` (which solves them as LPs), each solved here
as integer min-cost flows, exactly:

1. **Tier totals.** The deliveries a flow can make to the demand rows form a polymatroid
   (Megiddo, "Optimal flows in networks with multiple sources and sinks", Math.
   Programming 7, 1974). Its greedy optimum -- serve the highest tier as much as
   possible, then the next, ... -- is optimal for *every* strictly decreasing set of
   positive weights (Edmonds 1970), and every optimum delivers the same total ``F_k`` to
   each tier. So one min-cost flow with the small integer costs ``-rank`` on the tiers
   finds ``F`` and the least weighted shortfall ``W* = sum_k w_k (D_k - F_k)``, and the
   optimal face is exactly "each tier receives ``F_k``": a node demand in later stages.
2. **Equity.** Within a tier, the max-min fair fill rates are the lexicographically
   optimal base of that polymatroid with respect to the demands (Fujishige, Math. of
   OR 5(2), 1980). Its decomposition algorithm: for rows ``E`` (with rows ``C`` served
   first) try the common level ``l = (f(E+C) - f(C)) / D(E)``; a maximum flow with every
   row of ``E`` capped at ``l x demand`` either serves them all (they all get ``l``) or its
   minimum cut gives the largest set ``A`` that cannot reach ``l``: solve ``A`` alone and
   ``E - A`` after ``A``. Capacities are scaled by ``D(E)``, so every flow is an exact
   integer and every level an exact fraction. Families share no arc, so each family's
   rows start as a task of their own (with the family's tier total, read off stage 1's
   flows) and each max flow is built on that family's arcs only. Higher tiers stay inside their boxes
   ``[floor, ceil]`` of their fair share with their tier total, as in ``lexicographic``.
3. **Least route cost** (plus any stability penalty and substitution charge) with every row in its box and
   every tier at ``F_k``.

The engine works in integers, exactly: quantities (supply, demand, capacities) in whole
units for countable goods; for divisible goods in thousandths of a unit (tonnes are planned
to the kilogram), or ``10**-k`` for the least ``k <= 6`` that makes the data whole. A
divisible good's fair box is its fair share rounded down and up to that unit. Route
costs are scaled to integers likewise. Data with more decimals, or too large for 64-bit
flows, is refused with ``Unsuitable`` before solving; the caller then uses the LP engine.
"""

from __future__ import annotations

import math
import time

import numpy as np

from allocator.build.daily import FlowModel, family_components
from allocator.engine.backends.ortools_flow import INT_LIMIT, FlowRangeError, max_flow, min_cost_flow
from allocator.engine.lp import stopped_before_stage_one, weight_classes
from allocator.engine.types import Deadline, StagedSolution, Status

__all__ = ["Unsuitable", "decimal_scale", "solve_network"]


DIVISIBLE_DECIMALS = 3  # divisible goods are planned to a thousandth of their unit at least


class Unsuitable(ValueError):
    """The model's data is outside what the network engine solves exactly."""


class _OutOfTime(Exception):
    pass


def decimal_scale(values: np.ndarray, what: str, least: int = 0) -> tuple[np.ndarray, int]:
    """``values x 10**k`` as integers, for the least ``k`` from ``least`` to 6 that makes them all whole."""
    v = np.asarray(values, dtype=float)
    for k in range(least, 7):
        s = v * 10**k
        r = np.round(s)
        if not v.size or np.abs(s - r).max() <= 1e-9 * max(1.0, float(np.abs(s).max())):
            if np.abs(r).max(initial=0) >= 2**53:
                raise Unsuitable(f"{what} are too large for exact 64-bit flows")
            return r.astype(np.int64), 10**k
    raise Unsuitable(f"{what} have more than 6 decimals")


class _Graph:
    """The model as one flow network.

    Nodes: supply rows, hubs, demand rows (numbered as the model's LP rows), one sink per
    tier, then the terminal ``T``. Arcs: ship, serve, row (demand -> its tier's sink),
    tier (sink -> T) and unused (supply -> T).
    """

    def __init__(self, model: FlowModel, tier: np.ndarray, n_tiers: int):
        ns, nh, nd = len(model.supply), len(model.hubs), len(model.demand)
        n_ship, n_serve = model.n_ship, model.n_serve
        idx = model.index
        self.ns, self.nh, self.nd, self.k = ns, nh, nd, n_tiers
        self.sink0 = ns + nh + nd
        self.t = self.sink0 + n_tiers
        self.n = self.t + 1
        dem0 = ns + nh
        ship_cap = model.col_upper[:n_ship]
        finite = np.isfinite(ship_cap)
        supply, demand = model.row_upper[:ns].copy(), model.demand["quantity"].to_numpy(float)
        # A supply row no arc leaves (a product nobody here demands) carries nothing: it must not
        # set the unit (1.5 t of gel in a model of face shields would plan shields in tenths).
        shipped_from = np.zeros(ns, dtype=bool)
        shipped_from[model.index[0 : 2 * n_ship : 2]] = True
        supply[~shipped_from] = 0.0
        # One unit for every quantity: whole units for countable goods; for divisible goods
        # a thousandth (a kilogram of a tonne), or finer if the data has more decimals.
        divisible = not model.demand["countable"].to_numpy(bool).all()
        units, self.unit_scale = decimal_scale(
            np.concatenate([supply, demand, ship_cap[finite]]),
            "quantities",
            least=DIVISIBLE_DECIMALS if divisible else 0,
        )
        self.s, self.q = units[:ns], units[ns : ns + nd]
        self.big = int(self.s.sum())  # no arc ever carries more than all the supply
        cap = np.full(n_ship, self.big, dtype=np.int64)
        cap[finite] = np.minimum(units[ns + nd :], self.big)
        self.ship_cap = cap
        self.tier = tier
        self.tail = np.concatenate(
            [
                idx[0 : 2 * n_ship : 2],
                idx[2 * n_ship : 2 * (n_ship + n_serve) : 2],
                dem0 + np.arange(nd),
                self.sink0 + np.arange(n_tiers),
                np.arange(ns),
            ]
        ).astype(np.int64)
        self.head = np.concatenate(
            [
                idx[1 : 2 * n_ship : 2],
                idx[2 * n_ship + 1 : 2 * (n_ship + n_serve) : 2],
                self.sink0 + tier,
                np.full(n_tiers, self.t),
                np.full(ns, self.t),
            ]
        ).astype(np.int64)
        # A hub that serves a single demand row, served by no other hub, is one node with that
        # row: ship arcs go straight to the row and the serve arc is closed (its flow is what
        # arrives at the hub). Every hub at the village scale is such a pair: a third fewer nodes.
        serve_hub, serve_row = self.tail[n_ship : n_ship + n_serve], self.head[n_ship : n_ship + n_serve]
        self.merged = (np.bincount(serve_hub - ns, minlength=nh)[serve_hub - ns] == 1) & (
            np.bincount(serve_row - dem0, minlength=nd)[serve_row - dem0] == 1
        )
        self.ship_hub = self.head[:n_ship].copy()
        into = np.arange(self.n)
        into[serve_hub[self.merged]] = serve_row[self.merged]
        self.head[:n_ship] = into[self.ship_hub]
        self.serve_cap = np.where(self.merged, 0, self.big).astype(np.int64)
        # Each supply row, hub and demand row belongs to one product family (-1: none, or
        # the super source, tier sinks and T). Families share no arc, so a max flow into
        # some families' rows needs only their arcs (``max_flow_to``). Families linked by a
        # substitute share supply: here they count as one "family" (``family_components``).
        _, dem_family, component = family_components(model)
        families, family = np.unique(component[dem_family], return_inverse=True)
        family = family.reshape(-1)
        self.n_families = len(families)
        self.node_family = np.full(self.n + 1, -1, dtype=np.int64)
        self.node_family[dem0 : dem0 + nd] = family
        self.node_family[serve_hub] = family[serve_row - dem0]
        self.node_family[self.tail[:n_ship]] = self.node_family[self.ship_hub]
        self.a_serve = n_ship
        self.a_row = n_ship + n_serve
        self.a_tier = self.a_row + nd
        self.a_unused = self.a_tier + n_tiers
        self.n_arcs = self.a_unused + ns
        self.solves = 0
        self._cached = None

    def arrays(self, scale: int = 1):
        """Capacity, cost and supply arrays with the network part filled in, scaled."""
        cap = np.zeros(self.n_arcs, dtype=np.int64)
        cap[: self.a_serve] = self.ship_cap * scale
        cap[self.a_serve : self.a_row] = self.serve_cap * scale
        cap[self.a_unused :] = self.s * scale
        supply = np.zeros(self.n, dtype=np.int64)
        supply[: self.ns] = self.s * scale
        return cap, np.zeros(self.n_arcs, dtype=np.int64), supply

    def solve(self, cap, cost, supply) -> np.ndarray:
        supply[self.t] -= int(supply.sum())
        self.solves += 1
        return min_cost_flow(self.n, self.tail, self.head, cap, cost, supply)

    def require(self, cap, supply, lo, hi, totals, tiers, scale: int = 1) -> None:
        """Rows of ``tiers`` inside ``[lo, hi]``, each of those tiers receiving exactly ``totals``."""
        rows = np.flatnonzero(np.isin(self.tier, tiers))
        cap[self.a_row + rows] = (hi[rows] - lo[rows]) * scale
        supply[self.ns + self.nh + rows] -= lo[rows] * scale
        for k in tiers:
            supply[self.sink0 + k] -= (int(totals[k]) - int(lo[self.tier == k].sum())) * scale

    def network(self, scale: int = 1):
        """The ship and serve arcs with their capacities: ``tail, head, cap``."""
        cap = np.concatenate([self.ship_cap, self.serve_cap])
        return self.tail[: self.a_row], self.head[: self.a_row], cap * scale

    def serve_costs(self, cost: np.ndarray, serve_cost: np.ndarray) -> None:
        """Put a cost on the serve arcs; a merged serve arc's (closed: its units go straight from
        the ship arcs to the row) goes on the ship arcs into its hub instead."""
        cost[self.a_serve : self.a_row] = np.where(self.merged, 0, serve_cost)
        on_hub = np.zeros(self.n, dtype=np.int64)
        on_hub[self.tail[self.a_serve : self.a_row][self.merged]] = serve_cost[self.merged]
        cost[: self.a_serve] += on_hub[self.ship_hub]

    def serve_flows(self, flow: np.ndarray) -> np.ndarray:
        """The ship and serve arcs' flows, with each merged serve arc carrying what reached its hub."""
        out = flow[: self.a_row].copy()
        arrived = np.zeros(self.n, dtype=np.int64)
        np.add.at(arrived, self.ship_hub, flow[: self.a_serve])
        serve = out[self.a_serve :]
        serve[self.merged] = arrived[self.tail[self.a_serve : self.a_row][self.merged]]
        return out

    def max_flow_to(self, rows: np.ndarray, caps: np.ndarray, scale: int = 1, base=None, row_flows: bool = False):
        """Max flow from the supply to demand ``rows`` (capped at ``caps``).

        Without ``base``, from the whole supply. With ``base`` (a flow meeting the higher
        tiers' requirements: ``(arc_flow, row_flow, unused)``), in that flow's residual
        network: what can be added to it without touching the requirements.
        Returns the value and the nodes an augmenting path still reaches (with
        ``row_flows``, the flow into each of ``rows`` instead).
        """
        s_node = self.n
        tail, head, cap = self._residual(base, np.unique(self.node_family[self.ns + self.nh + rows]))
        # The row arcs last, then an empty arc S -> T so that both ends always exist.
        tail = np.concatenate([tail, self.ns + self.nh + rows, [s_node]])
        head = np.concatenate([head, np.full(len(rows), self.t), [self.t]])
        cap = np.concatenate([cap * scale, caps, [0]]).astype(np.int64)
        value, flow, side = max_flow(self.n + 1, tail, head, cap, s_node, self.t, flows=row_flows)
        self.solves += 1
        return value, flow[len(flow) - len(rows) - 1 : -1] if row_flows else side

    def _residual(self, base, families: np.ndarray):
        """The arcs from the super source through the network (without the row arcs), open ones
        only, unscaled, for the given families; the same for every flow of a tier, so kept
        between them, sorted by family."""
        if self._cached is None or self._cached[0] is not base:
            self._cached = (base, self._residual_arcs(base))
        tail, head, cap, starts = self._cached[1]
        # One family: its arcs. Several: all arcs (another family's arcs reach none of their rows).
        arcs = slice(starts[families[0]], starts[families[0] + 1]) if len(families) == 1 else slice(starts[0], None)
        return tail[arcs], head[arcs], cap[arcs]

    def _residual_arcs(self, base):
        s_node = self.n
        tail, head, cap = self.network()
        if base is None:
            tails = [np.full(self.ns, s_node), tail]
            heads = [np.arange(self.ns), head]
            caps_ = [self.s, cap]
        else:
            flow, row_rows, row_flow, row_cap, unused = base
            r_tail = self.ns + self.nh + row_rows
            r_head = self.sink0 + self.tier[row_rows]
            tails = [np.full(self.ns, s_node), tail, head, r_tail, r_head]
            heads = [np.arange(self.ns), head, tail, r_head, r_tail]
            caps_ = [unused, cap - flow, flow, row_cap - row_flow, row_flow]
        tail, head = np.concatenate(tails).astype(np.int64), np.concatenate(heads).astype(np.int64)
        cap = np.concatenate(caps_).astype(np.int64)
        keep = np.flatnonzero(cap > 0)
        family = np.maximum(self.node_family[tail[keep]], self.node_family[head[keep]])
        keep = keep[np.argsort(family, kind="stable")]
        # Arcs of no family (a source row with no route) come first and are never needed.
        starts = np.searchsorted(np.sort(family), np.arange(self.n_families + 1))
        return tail[keep], head[keep], cap[keep], starts

    def base_flow(self, k: int, lo: np.ndarray, hi: np.ndarray, totals: np.ndarray):
        """A flow meeting tiers ``< k`` (boxes and totals), nothing to lower tiers; as ``max_flow_to``'s base."""
        rows = np.flatnonzero(self.tier < k)
        if not len(rows):
            return (np.zeros(self.a_row, dtype=np.int64), rows, rows * 0, rows * 0, self.s.copy())
        s_node = self.n
        tail, head, cap = self.network()
        dem = self.ns + self.nh + rows
        sinks = self.sink0 + np.arange(k)
        need = totals[:k] - np.bincount(self.tier[rows], weights=lo[rows], minlength=k).astype(np.int64)
        all_tail = np.concatenate([np.full(self.ns, s_node), tail, dem, dem, sinks])
        all_head = np.concatenate(
            [np.arange(self.ns), head, self.sink0 + self.tier[rows], np.full(len(rows), self.t), np.full(k, self.t)]
        )
        all_cap = np.concatenate([self.s, cap, hi[rows] - lo[rows], lo[rows], need])
        all_tail, all_head = np.append(all_tail, s_node), np.append(all_head, self.t)
        all_cap = np.append(all_cap, 0)
        value, flow, _ = max_flow(self.n + 1, all_tail, all_head, all_cap, s_node, self.t)
        self.solves += 1
        if value != int(totals[:k].sum()):
            raise ArithmeticError("the higher tiers' fair boxes cannot be met (inconsistent tier totals)")
        n0 = self.ns
        arc_flow = flow[n0 : n0 + self.a_row]
        row_flow = flow[n0 + self.a_row : n0 + self.a_row + len(rows)]
        unused = self.s - flow[:n0]
        return arc_flow, rows, row_flow, hi[rows] - lo[rows], unused


def solve_network(
    model: FlowModel,
    *,
    equity: bool = True,
    time_limit: float | None = None,
    instance=None,
    deadline: Deadline | None = None,
) -> StagedSolution:
    """Run the three stages with flows; raise ``Unsuitable`` for data it cannot take exactly.

    ``time_limit`` is checked before each flow (a flow, once started, runs to its end):
    out of time before stage 1, the plan is the greedy one with a proven bound, as in
    ``lexicographic``; out of time in the equity stage, the least-cost plan of the
    stage-1 optimum.
    """
    t0 = time.perf_counter()
    if deadline is None:
        deadline = Deadline(time_limit)
    weights = model.demand["weight"].to_numpy(float)
    classes = weight_classes(weights, np.ones(len(weights), dtype=bool))
    tier = np.zeros(len(weights), dtype=np.int64)
    for k, members in enumerate(classes):
        tier[members] = k
    n_tiers = len(classes)
    g = _Graph(model, tier, n_tiers)
    costs, cost_scale = decimal_scale(model.ship_costs("cost"), "route costs")
    # The cost stage minimises route cost plus any stability penalty (``stability``) and the
    # substitution charge on serve arcs of substitutes (``model.serve_charges``).
    charges = model.serve_charges()
    plan_costs, serve_costs = costs, None
    if "change_cost" in model.ship or charges.any():
        both = decimal_scale(
            np.concatenate([model.ship_costs("plan"), charges]), "route costs with the change and substitution costs"
        )[0]
        plan_costs, serve_costs = both[: model.n_ship], both[model.n_ship :]
    seconds: dict[str, float] = {}
    try:
        _check_time(deadline)
    except _OutOfTime:
        return stopped_before_stage_one(model, "network", instance)
    try:
        # Stage 1: tier totals F_k = f(tiers <= k) - f(tiers < k), f the max flow into them.
        # Families share no arc, so f is the sum of each family's own f: the flow into each
        # family's rows gives each family's tier totals too (equity starts from them).
        family = g.node_family[g.ns + g.nh : g.ns + g.nh + g.nd]
        totals = np.zeros(n_tiers, dtype=np.int64)
        family_totals = np.zeros((n_tiers, g.n_families), dtype=np.int64)
        reached = np.zeros(g.n_families, dtype=np.int64)
        for k in range(n_tiers):
            rows = np.flatnonzero(tier <= k)
            value, into = g.max_flow_to(rows, g.q[rows], row_flows=True)
            by_family = np.zeros(g.n_families, dtype=np.int64)
            np.add.at(by_family, family[rows], into)  # in integers: exact
            family_totals[k], reached = by_family - reached, by_family
            totals[k] = value - int(totals[:k].sum())
            if int(family_totals[k].sum()) != totals[k]:
                raise ArithmeticError("the tier's flow does not add up over its families")
        demand_by_tier = np.bincount(tier, weights=g.q, minlength=n_tiers)
        class_weight = np.array([weights[m[0]] for m in classes]) if n_tiers else np.zeros(0)
        w_star = float(class_weight @ (demand_by_tier - totals)) / g.unit_scale if n_tiers else 0.0
        seconds["shortfall"] = time.perf_counter() - t0

        # Stage 2: fair shares, tier by tier; the rows' boxes [lo, hi].
        t1 = time.perf_counter()
        lo, hi = np.zeros(len(g.q), dtype=np.int64), g.q.copy()
        fair = np.full(len(g.q), np.nan)
        if equity:
            for k in range(n_tiers):
                _fair_tier(g, k, totals, family_totals[k], lo, hi, fair, deadline)
        seconds["equity"] = time.perf_counter() - t1
        status, stopped_in = Status.OPTIMAL, None
    except FlowRangeError as exc:
        raise Unsuitable(str(exc)) from None
    except _OutOfTime:
        # Out of time in the equity stage (each flow runs to the end; the limit is checked
        # between them): the least-cost plan on the stage-1 face, without equity.
        status, stopped_in = Status.TIME_LIMIT, "equity"
        lo, hi = np.zeros(len(g.q), dtype=np.int64), g.q.copy()
        fair = np.full(len(g.q), np.nan)
    # Stage 3: least route cost inside the boxes, every tier at its total.
    t2 = time.perf_counter()
    cap, cost, supply = g.arrays()
    g.require(cap, supply, lo, hi, totals, range(n_tiers))
    cost[: g.a_serve] = plan_costs
    if serve_costs is not None:
        g.serve_costs(cost, serve_costs)
    try:
        flow = g.solve(cap, cost, supply)
    except FlowRangeError as exc:
        raise Unsuitable(str(exc)) from None
    seconds["cost"] = time.perf_counter() - t2
    served = flow[g.a_row : g.a_tier] + lo
    unit = g.unit_scale
    x = np.concatenate([g.serve_flows(flow), g.q - served]) / unit
    route_cost = _exact_dot(flow[: g.a_serve], costs) / cost_scale / unit
    boxed = equity and status is Status.OPTIMAL
    return StagedSolution(
        x=x,
        weighted_shortfall=w_star,
        route_cost=route_cost,
        fair_fill=fair,
        lp_solves=g.solves,
        seconds=seconds,
        solver="network",
        status=status,
        stopped_in=stopped_in,
        shortfall_bound=w_star,
        fair_lo=lo / unit if boxed else None,
        fair_hi=hi / unit if boxed else None,
    )


def _exact_dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a @ b`` of integer arrays, in Python integers where int64 could overflow."""
    bound = int(np.abs(a).sum()) * int(np.abs(b).max(initial=0))
    if bound < 2**63:
        return float(a @ b)
    return float(sum(int(x) * int(y) for x, y in zip(a[a != 0].tolist(), b[a != 0].tolist())))


def _check_time(deadline: Deadline) -> None:
    if deadline.expired():
        raise _OutOfTime


def _fair_tier(
    g: _Graph,
    k: int,
    totals: np.ndarray,
    family_totals: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    fair: np.ndarray,
    deadline,
) -> None:
    """Fujishige's decomposition for tier ``k``; writes the rows' fair levels and boxes.

    Each family's rows of the tier are a task of their own, with the family's tier total:
    families share no arc, so each task's max flows need only its family's arcs.
    """
    q = g.q
    rows = np.flatnonzero(g.tier == k)
    fair[rows[q[rows] == 0]] = 1.0
    rows = rows[q[rows] > 0]
    base = None
    # A task: rows E, rows C served before them, f(C) and f(E + C).
    family = g.node_family[g.ns + g.nh + rows]
    stack = [(rows[family == f], rows[:0], 0, int(family_totals[f])) for f in np.unique(family)[::-1]]
    while stack:
        e, c, f_c, f_ec = stack.pop()
        num, den = f_ec - f_c, int(q[e].sum())
        d = math.gcd(num, den)
        num, den = num // d, den // d
        if num == 0 or num == den:
            _set_level(e, num, den, q, lo, hi, fair)
            continue
        _check_time(deadline)
        if max(g.big, int(q.max())) * den >= INT_LIMIT // 2:  # the solver reports overflow beyond
            raise Unsuitable("fair shares need more precision than 64-bit flows hold")
        if base is None:
            base = g.base_flow(k, lo, hi, totals)
        rows_ec = np.concatenate([e, c])
        caps = np.concatenate([num * q[e], den * q[c]])
        value, side = g.max_flow_to(rows_ec, caps, den, base)
        blocked = ~side[g.ns + g.nh + e]
        if blocked.all():
            _set_level(e, num, den, q, lo, hi, fair)
            continue
        if not blocked.any():  # impossible in exact arithmetic: E itself is a minimiser
            raise ArithmeticError("fair-share decomposition found no bottleneck")
        a, rest = e[blocked], e[~blocked]
        moved = value - num * int(q[rest].sum())
        if moved % den:
            raise ArithmeticError("fair-share decomposition lost exactness")
        f_ac = moved // den
        stack.append((rest, np.concatenate([c, a]), f_ac, f_ec))
        stack.append((a, c, f_c, f_ac))


def _set_level(
    rows: np.ndarray, num: int, den: int, q: np.ndarray, lo: np.ndarray, hi: np.ndarray, fair: np.ndarray
) -> None:
    share = [(int(x) * num, den) for x in q[rows]]  # exact: Python integers
    lo[rows] = [a // b for a, b in share]
    hi[rows] = [-((-a) // b) for a, b in share]
    fair[rows] = num / den
