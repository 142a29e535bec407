"""Why the plan is what it is: what one more unit is worth, and where every source's output went.

``marginal_values`` answers "what would one more unit save, and where?" in the units of the
first objective (weighted shortfall); ``source_accounts`` answers, for every (source, product),
"where did its output go, and why not to the short regions it also reaches?". Both read a
solved plan (the model's column values ``x``); no LP is solved.

The residual network
--------------------
Nodes: the model's rows (supply rows ``s``, hubs ``h``, demand rows ``d``) and ``T``, the
outside. For a plan ``x`` the residual arcs are the one-unit changes that keep it feasible:

==========  ======================  ======================================  ==============
arc         present when            the change                              stage-1 cost
==========  ======================  ======================================  ==============
``s -> h``  the route is not full   the source ships one more on the route  0
``h -> s``  the route carries       ... one less                            0
``h -> d``  always                  the hub serves the row one more         0
``d -> h``  the hub serves ``d``    ... one less                            0
``d -> T``  ``d`` is short          ``d`` is delivered one more             ``-w_d``
``T -> d``  ``d`` is delivered      ... one less                            ``+w_d``
``T -> s``  units are left          the source ships one more in all        0
``s -> T``  the source ships        ... one less                            0
==========  ======================  ======================================  ==============

Every feasible change of the plan is a sum of cycles of residual arcs; a stage's objective
changes by the sum of its arcs' costs (stage 3: the route cost, ``+c`` forwards and ``-c``
backwards, with the stability penalty and substitution charge, ``FlowModel.cost_vector("plan")``).

Marginal values
---------------
Let ``F(v)`` be the highest weight of a short row that ``v`` reaches by arcs other than those
of ``T`` (0 if none): one breadth-first search backwards from the short rows, highest weight
first. When ``x`` has the least weighted shortfall ``W*``, ``pi = -F`` is an optimal dual:
every residual arc has a reduced cost ``cost + F(tail) - F(head) >= 0`` (``F(T) = 0``; arc by
arc: ``F`` cannot rise along an arc; a short row has ``F(d) >= w_d``; a delivered row has
``F(d) <= w_d``, else taking its unit to the row ``F(d)`` names would lower ``W*``; a source with
units left has ``F(s) = 0`` for the same reason). Hence, for one more unit at supply row ``s``:
pushing it along the path the search found saves ``F(s)`` per unit for as long as the path's
residual capacities last (at least one unit with whole-number data); and any way of using ``t``
more units is ``t`` units along paths from ``s`` to ``T`` plus cycles, a path saves at most
``F(s)`` (its cost is its reduced costs, at least 0, minus ``F(s)``) and a cycle nothing. So
``F(s)`` is the exact rate at which ``W*`` falls with more supply at ``s``: for a countable
product, ``W*(supply) - W*(supply + 1) = F(s)``. The same argument for a unit that arrives at a
region (a new source there with a route only to it) gives the region's value: the highest
``F(d)`` of the rows there the product may serve.

Reasons
-------
For a route ``s -> h`` into a hub with a short row, carrying nothing: the plan could have sent
a unit on it, which is a cycle through the arc ``s -> h``. Stage 1 rules it out exactly when
every such cycle costs weighted shortfall: when no cycle runs through ``s -> h`` on ``G1``, the
arcs of reduced cost 0 under ``pi`` (a cycle's cost is the sum of its reduced costs). Then
every row served at a hub the source ships to outweighs the short row (else the cycle
``s -> h -> d -> T -> d' -> h' -> s`` would cost 0): ``higher_weight``. Otherwise the fair
stage rules it out when no such cycle keeps every row in its fair box (``G2``: ``G1`` without
``d -> T`` for a row at the top of its box and ``T -> d`` for one at the bottom):
``fair_share``. Otherwise the cost stage: with potentials ``phi`` under which every arc of
``G2`` has a reduced route cost of at least 0 (shortest distances), a cycle through ``s -> h``
costs nothing more only on ``G3``, the arcs of ``G2`` of reduced cost 0: ``cost`` if there is
none, else ``tie``. "A cycle through ``s -> h`` on a graph" is "``s`` and ``h`` are in one
strongly connected component". A route that is full is ``capacity``.

A route that carries units and is not full has no such line (its units are on ``sent`` lines):
"one more on it" would be a cycle through ``s -> h`` that does not come straight back by
``h -> s``, which strong components cannot tell.

Every step is a search over arrays (numpy): no loop over arcs in Python. On a county-scale
model (1.5 million routes, 710,000 not_sent lines) both tables take about a fifth of the solve's
time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.explain.reasons import key_join
from allocator.inputs.instance import Instance
from allocator.inputs.reach import eligible_pairs
from allocator.numbers import quantity_text

__all__ = ["ACCOUNT_COLUMNS", "MARGINAL_COLUMNS", "ACCOUNT_CODES", "marginal_values", "source_accounts", "value_tables"]

MARGINAL_COLUMNS = [
    "kind",
    "region",
    "source",
    "product",
    "family",
    "value",
    "to_region",
    "to_use",
    "to_shortfall",
    "detail",
]
ACCOUNT_COLUMNS = [
    "source",
    "product",
    "line",
    "region",
    "use",
    "weight",
    "quantity",
    "shortfall",
    "unit_cost",
    "why",
    "reason",
]

# The ``why`` codes of ``source_accounts``.
ACCOUNT_CODES = {
    # total line: the (source, product) as a whole
    "all_shipped": "every unit shipped",
    "all_served": "units left: all demand the product may serve is met",
    "icu_rule": "units left: ICU-grade units are kept for ICU use (policy) while only general demand is short",
    "no_route": "units left: no route reaches the rows still short",
    "capacity": "the route is full (total line: units left, every route to a short row is full)",
    # sent line
    "served": "units serving this row",
    # not_sent line: a route to a region with a short row the product may serve, carrying nothing or full
    "higher_weight": "every unit of the source serves demand of higher weight",
    "fair_share": "equal weight: one more unit here moves a fill rate off its max-min fair share",
    "cost": "equal weight, fair either way: the route cost is higher",
    "tie": "equal weight, fair either way, the same cost: the solver's choice",
    "not_settled": "equal weight: the time limit stopped the plan before the fair-share and cost stages",
    "unexplained": "not expected of an optimal plan (units left while an open route reaches a short row)",
}
_LINES = np.array(["total", "sent", "not_sent"], dtype=object)
_SHOW = 3  # rows named in a reason
_REL = 1e-9  # quantities within this (relative) of a bound are at it

# Residual arc kinds (see the module's docstring).
_SHIP, _UNSHIP, _SERVE, _UNSERVE, _UP, _DOWN, _SPARE, _KEEP = range(8)


def marginal_values(instance: Instance, model: FlowModel, x: np.ndarray) -> pd.DataFrame:
    """What one more unit is worth: per region and product that may serve demand there, and per
    source and product with supply (``model.supply``).

    Columns: ``kind`` (``region`` rows first, then ``source`` rows, each in id order);
    ``region`` (region rows) or ``source`` (source rows), ``product``, ``family``; ``value``: the
    decrease of the least weighted shortfall per unit of one more unit available there (the
    dual price; exact for a countable product: ``W*(b) - W*(b + 1)``, see the module's
    docstring); ``to_region, to_use, to_shortfall``: the short row that unit ends up serving,
    directly or by re-planning (``detail`` says which; empty when ``value`` is 0).

    ``x`` must have the least weighted shortfall (an optimal plan, or the stage-1 optimum when a
    time limit stopped a later stage).
    """
    return _Net(instance, model, x).marginal_values()


def source_accounts(
    instance: Instance,
    model: FlowModel,
    x: np.ndarray,
    *,
    fair_box: tuple[np.ndarray, np.ndarray] | None = None,
    stages: int = 3,
) -> pd.DataFrame:
    """For every (source, product) with supply: where its output went and why not elsewhere.

    Lines (``line``), sorted by source, product, line, region and use:

    - ``total``: ``quantity`` units shipped; ``why``: ``all_shipped``, or why units are left
      (``capacity``, ``no_route``, ``icu_rule``, ``all_served``).
    - ``sent``: one per demand row its units serve: ``quantity`` units, the row's ``region, use,
      weight`` and ``shortfall`` after the plan, the route's ``unit_cost``. Units at a hub
      (region, product) are pooled: sources in id order fill its rows highest weight first.
    - ``not_sent``: one per route from the source to a region where a row the product may serve
      is short, that carries nothing (why not there?) or is full (why not more?). The row is
      the highest-weight short one there; ``quantity`` is what the route carries; ``why``:
      ``capacity``, ``higher_weight``, ``fair_share``, ``cost`` or ``tie``, established as the
      module's docstring says (``not_settled`` after ``stages=1``).

    ``fair_box``: per demand row the least and most delivery the fair stage allows
    (``Result.fair_box``; needed for ``fair_share`` when the policy has equity on). ``stages``:
    3 for a finished plan, 1 when a time limit stopped it after stage 1.
    """
    return _Net(instance, model, x, fair_box, stages).source_accounts()


def value_tables(
    instance: Instance,
    model: FlowModel,
    x: np.ndarray,
    *,
    fair_box: tuple[np.ndarray, np.ndarray] | None = None,
    stages: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``marginal_values`` and ``source_accounts`` together (the network is read once)."""
    net = _Net(instance, model, x, fair_box, stages)
    return net.marginal_values(), net.source_accounts()


class _Net:
    """The plan on the model's network: flows, the residual arcs and the searches on them.

    Nodes are numbered as the model's rows (supply rows, hubs, demand rows), then ``T``."""

    def __init__(self, instance: Instance, model: FlowModel, x: np.ndarray, fair_box=None, stages: int = 3):
        x = np.asarray(x, dtype=float)
        if len(x) != model.n_cols:
            raise ValueError(f"x has {len(x)} values; the model has {model.n_cols} columns")
        self.instance, self.model, self.stages = instance, model, stages
        ns, nh, nd = len(model.supply), len(model.hubs), len(model.demand)
        n_ship, n_serve = model.n_ship, model.n_serve
        self.ns, self.nh, self.nd = ns, nh, nd
        self.n = ns + nh + nd + 1
        self.T = self.n - 1
        index = np.asarray(model.index, dtype=np.int64)  # ship: (supply, hub); serve: (hub, demand)
        self.ship_sup, self.ship_hub = index[0 : 2 * n_ship : 2], index[1 : 2 * n_ship : 2]
        self.serve_hub = index[2 * n_ship : 2 * (n_ship + n_serve) : 2]
        self.serve_dem = index[2 * n_ship + 1 : 2 * (n_ship + n_serve) : 2]
        self.serve_row = self.serve_dem - ns - nh
        self.ship_q, self.serve_q, self.short_q = x[:n_ship], x[n_ship : n_ship + n_serve], x[n_ship + n_serve :]

        demand = model.demand
        self.quantity = demand["quantity"].to_numpy(float)
        self.weight = demand["weight"].to_numpy(float)
        self.delivered = self.quantity - self.short_q
        row_tol = _REL * np.maximum(1.0, self.quantity)
        self.short = self.short_q > row_tol
        self.d_region = demand["region"].to_numpy(object)
        self.d_use = demand["use"].to_numpy(object)
        self.rank = _rank(self.d_region, demand["family"].to_numpy(object), self.d_use)  # (region, family, use)
        self.supply_q = model.supply["quantity"].to_numpy(float)
        sup_tol = _REL * np.maximum(1.0, self.supply_q)
        self.shipped = np.bincount(self.ship_sup, weights=self.ship_q, minlength=ns)
        self.left = np.where(self.supply_q - self.shipped > sup_tol, self.supply_q - self.shipped, 0.0)
        self.cap = np.asarray(model.col_upper[:n_ship], dtype=float)
        self.full = self.ship_q >= self.cap - _REL * np.maximum(1.0, np.where(np.isfinite(self.cap), self.cap, 0.0))
        self.carries = self.ship_q > sup_tol[self.ship_sup]
        self.serves = self.serve_q > row_tol[self.serve_row]
        self.box = None
        if fair_box is not None and fair_box[0] is not None and instance.policy.equity:
            lo, hi = (np.asarray(b, dtype=float) for b in fair_box)
            self.box = (self.delivered <= lo + row_tol, self.delivered >= hi - row_tol)  # at bottom, at top

        # The residual arcs, by kind (the module's table), with the row of their kind's table.
        rows, sups = ns + nh + np.arange(nd), np.arange(ns)
        t = np.full(max(nd, ns), self.T)
        parts = [
            (_SHIP, ~self.full, self.ship_sup, self.ship_hub),
            (_UNSHIP, self.carries, self.ship_hub, self.ship_sup),
            (_SERVE, np.ones(n_serve, bool), self.serve_hub, self.serve_dem),
            (_UNSERVE, self.serves, self.serve_dem, self.serve_hub),
            (_UP, self.short, rows, t[:nd]),
            (_DOWN, self.delivered > row_tol, t[:nd], rows),
            (_SPARE, self.left > 0, t[:ns], sups),
            (_KEEP, self.shipped > sup_tol, sups, t[:ns]),
        ]
        self.kind = np.concatenate([np.full(int(m.sum()), k, dtype=np.int8) for k, m, _, _ in parts])
        self.ref = np.concatenate([np.flatnonzero(m) for _, m, _, _ in parts])
        self.tail = np.concatenate([a[m] for _, m, a, _ in parts]).astype(np.int64)
        self.head = np.concatenate([b[m] for _, m, _, b in parts]).astype(np.int64)
        self.graph = _Graph(self.n, self.tail, self.head)
        # Each arc's reverse (-1: none): the two changes undo each other.
        self.mate = np.full(len(self.kind), -1, dtype=np.int64)
        pairs = ((_SHIP, _UNSHIP, n_ship), (_SERVE, _UNSERVE, n_serve), (_UP, _DOWN, nd), (_SPARE, _KEEP, ns))
        for a, b, size in pairs:
            at_a, at_b = self._arc_of(a, size), self._arc_of(b, size)
            both = (at_a >= 0) & (at_b >= 0)
            self.mate[at_a[both]], self.mate[at_b[both]] = at_b[both], at_a[both]
        self.ship_arc = self._arc_of(_SHIP, n_ship)  # each route's arc s -> h (-1: full)
        self._values = None
        self._names: dict[int, str] = {}
        self.region_name = dict(
            zip(instance.regions["region"].to_numpy(object), instance.regions["name"].to_numpy(object))
        )

    def _arc_of(self, kind: int, size: int) -> np.ndarray:
        """Per row of the kind's table: the position of its arc of that kind (-1: none)."""
        at = np.full(size, -1, dtype=np.int64)
        mine = np.flatnonzero(self.kind == kind)
        at[self.ref[mine]] = mine
        return at

    # --- what one more unit is worth ----------------------------------------------------

    def values(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per node: ``F`` (the module's docstring), the short row that gives it (-1: none; the
        nearest, then the first in (region, family, use) order) and the arcs to that row."""
        if self._values is not None:
            return self._values
        start, pred, _ = self.graph.adjacency(self.kind <= _UNSERVE, backwards=True)
        value = np.zeros(self.n)
        via = np.full(self.n, -1, dtype=np.int64)
        hops = np.full(self.n, -1, dtype=np.int64)
        short = np.flatnonzero(self.short & (self.weight > 0))
        short = short[np.lexsort((self.rank[short], -self.weight[short]))]
        base = self.ns + self.nh
        for w in np.unique(self.weight[short])[::-1]:  # highest weight first
            rows = short[self.weight[short] == w]
            rows = rows[via[base + rows] < 0]  # not already worth more
            frontier = base + rows
            value[frontier], via[frontier], hops[frontier] = w, rows, 0
            while len(frontier):
                at, owner = _out(start, frontier)
                nbr, owner = pred[at], owner
                fresh = via[nbr] < 0
                nbr, owner = nbr[fresh], owner[fresh]
                nbr, first = _first(nbr, self.n)  # each reached once: from the first in order
                src = frontier[owner[first]]
                value[nbr], via[nbr], hops[nbr] = w, via[src], hops[src] + 1
                frontier = nbr[np.argsort(self.rank[via[nbr]], kind="stable")]
        self._values = (value, via, hops)
        return self._values

    def marginal_values(self) -> pd.DataFrame:
        value, via, hops = self.values()
        base = self.ns + self.nh
        inst = self.instance
        family = inst.products.set_index("product")["family"]

        # Regions: per (region, product) over the rows there the product may serve.
        pairs = eligible_pairs(inst)
        d = pairs["demand_idx"].to_numpy(np.int64)
        region_code, regions = pd.factorize(self.d_region[d], sort=True)
        product_code, products = pd.factorize(pairs["product"].to_numpy(object), sort=True)
        key = region_code.astype(np.int64) * max(1, len(products)) + product_code
        o = np.lexsort((self.rank[d], hops[base + d], -value[base + d], key))
        best = o[np.r_[True, key[o][1:] != key[o][:-1]]] if len(o) else o
        row = d[best]
        v, to = value[base + row], via[base + row]
        detail = [self._detail(t, h == 0) for t, h in zip(to.tolist(), hops[base + row].tolist())]
        prod = np.asarray(products, dtype=object)[product_code[best]]
        region = self._frame(
            "region",
            np.asarray(regions, dtype=object)[region_code[best]],
            np.full(len(best), "", dtype=object),
            prod,
            family.reindex(prod).to_numpy(object),
            v,
            to,
            detail,
        )

        # Sources: the supply rows, in (source, product) order.
        s_product = self.model.supply["product"].to_numpy(object)
        detail = []
        for t, h, left in zip(via[: self.ns].tolist(), hops[: self.ns].tolist(), self.left.tolist()):
            if t >= 0:
                detail.append(self._detail(t, h == 2))
            else:
                detail.append(
                    "units are left over: one more saves nothing"
                    if left > 0
                    else "no short row it may serve can be reached, even by re-planning"
                )
        source = self._frame(
            "source",
            np.full(self.ns, "", dtype=object),
            self.model.supply["source"].to_numpy(object),
            s_product,
            family.reindex(s_product).to_numpy(object),
            value[: self.ns],
            via[: self.ns],
            detail,
        )
        return pd.concat([region, source], ignore_index=True)

    def _detail(self, to: int, direct: bool) -> str:
        if to < 0:
            return "nothing: the demand it may serve there is met, and no unit it frees serves a short row"
        if direct:
            return f"one more unit serves {self.row_name(to)}"
        return f"one more unit frees another for {self.row_name(to)} (re-planned)"

    def _frame(self, kind, region, source, product, family, value, to, detail) -> pd.DataFrame:
        has = to >= 0
        at = np.where(has, to, 0)
        empty = np.full(len(to), "", dtype=object)
        region_to, use_to, short_to = (
            (self.d_region[at], self.d_use[at], self.short_q[at])
            if self.nd
            else (empty, empty, np.full(len(to), np.nan))
        )
        return pd.DataFrame(
            {
                "kind": np.full(len(to), kind, dtype=object),
                "region": region,
                "source": source,
                "product": product,
                "family": family,
                "value": value,
                "to_region": np.where(has, region_to, empty),
                "to_use": np.where(has, use_to, empty),
                "to_shortfall": np.where(has, short_to, np.nan),
                "detail": detail,
            },
            columns=MARGINAL_COLUMNS,
        )

    # --- where each source's output went ------------------------------------------------

    def source_accounts(self) -> pd.DataFrame:
        ns = self.ns
        k, j, units = self._pieces()
        arcs, rows = self._not_sent()
        why_not, reason_not = self._why_not(arcs, rows)
        why_total, reason_total = self._why_left(arcs)
        n_sent, n_not = len(k), len(arcs)
        sp = np.concatenate([np.arange(ns), self.ship_sup[k], self.ship_sup[arcs]])
        line = np.concatenate([np.zeros(ns, np.int64), np.ones(n_sent, np.int64), np.full(n_not, 2)])
        d = np.concatenate([np.full(ns, -1), self.serve_row[j], rows]).astype(np.int64)
        quantity = np.concatenate([self.shipped, units, self.ship_q[arcs]])
        route_cost = self.model.ship["cost"].to_numpy(float)
        unit_cost = np.concatenate([np.full(ns, np.nan), route_cost[k], route_cost[arcs]])
        why = np.concatenate([why_total, np.full(n_sent, "served", dtype=object), why_not])
        reason = np.concatenate([reason_total, np.full(n_sent, "", dtype=object), reason_not])
        row = d >= 0
        at = np.where(row, d, 0)
        rank = np.where(row, self.rank[at] if self.nd else 0, -1)
        o = np.lexsort((rank, line, sp))
        row, at = row[o], at[o]

        def of_row(values, empty):
            return np.where(row, values[at], empty) if self.nd else np.full(len(o), empty, dtype=object)

        return pd.DataFrame(
            {
                "source": self.model.supply["source"].to_numpy(object)[sp[o]],
                "product": self.model.supply["product"].to_numpy(object)[sp[o]],
                "line": _LINES[line[o]],
                "region": of_row(self.d_region, ""),
                "use": of_row(self.d_use, ""),
                "weight": of_row(self.weight, np.nan),
                "quantity": quantity[o],
                "shortfall": of_row(self.short_q, np.nan),
                "unit_cost": unit_cost[o],
                "why": why[o],
                "reason": reason[o],
            },
            columns=ACCOUNT_COLUMNS,
        )

    def _pieces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The flow through each hub as (ship arc, serve arc, units) pieces: the units arriving
        (sources in id order) laid against the units leaving (rows highest weight first)."""
        k = np.flatnonzero(self.carries)
        k = k[np.argsort(self.ship_hub[k], kind="stable")]  # within a hub the ship arcs are in source order
        j = np.flatnonzero(self.serves)
        d = self.serve_row[j]
        j = j[np.lexsort((self.rank[d], -self.weight[d], self.serve_hub[j]))]
        if len(k) == 0 or len(j) == 0:
            return k[:0], j[:0], np.zeros(0)
        in_end, out_end = np.cumsum(self.ship_q[k]), np.cumsum(self.serve_q[j])
        points = np.unique(np.concatenate([[0.0], in_end, out_end]))
        lo, hi = points[:-1], points[1:]
        pk = np.searchsorted(in_end, (lo + hi) / 2)
        pj = np.searchsorted(out_end, (lo + hi) / 2)
        ok = (pk < len(k)) & (pj < len(j)) & (hi - lo > _REL * np.maximum(1.0, hi))
        pk, pj, units = k[pk[ok]], j[pj[ok]], (hi - lo)[ok]
        same = self.ship_hub[pk] == self.serve_hub[pj]  # a hub's units serve that hub's rows
        pk, pj, units = pk[same], pj[same], units[same]
        units = np.where(self.model.ship["countable"].to_numpy(bool)[pk], np.round(units), units)
        keep = units > 0
        return pk[keep], pj[keep], units[keep]

    def _not_sent(self) -> tuple[np.ndarray, np.ndarray]:
        """The routes into hubs with a short row that carry nothing or are full, and per route
        that row (the highest weight, then the first in (region, family, use) order)."""
        j = np.flatnonzero(self.short[self.serve_row])
        d = self.serve_row[j]
        j = j[np.lexsort((self.rank[d], -self.weight[d]))]
        top = np.full(self.n, -1, dtype=np.int64)
        top[self.serve_hub[j[::-1]]] = self.serve_row[j[::-1]]  # the first in order wins
        arcs = np.flatnonzero((top[self.ship_hub] >= 0) & (~self.carries | self.full))
        return arcs, top[self.ship_hub[arcs]]

    def _why_not(self, arcs: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per not_sent route: the first stage that rules out one more unit on it, and words."""
        n = len(arcs)
        why = np.full(n, "capacity", dtype=object)
        reason = np.full(n, "", dtype=object)
        full = self.full[arcs]
        for cap in np.unique(self.cap[arcs[full]]).tolist():
            at = full & (self.cap[arcs] == cap)
            reason[at] = f"route full: {_n(cap)} units" if cap > 0 else "route closed: capacity 0"
        rest = np.flatnonzero(~full)
        if len(rest) == 0:
            return why, reason
        a, s, d = self.ship_arc[arcs[rest]], self.ship_sup[arcs[rest]], rows[rest]
        h = self.ship_hub[arcs[rest]]
        code = np.full(len(rest), "higher_weight", dtype=object)
        g1 = self._stage1()
        neutral = _on_cycle(self.graph, g1, a, s, h)
        code[neutral] = "not_settled"
        if neutral.any() and self.stages >= 3 and not (self.instance.policy.equity and self.box is None):
            g2 = self._stage2(g1)
            fair = _on_cycle(self.graph, g2, a, s, h) & neutral
            code[neutral & ~fair] = "fair_share"
            g3 = self._stage3(g2) if fair.any() else None
            if g3 is not None:
                tie = _on_cycle(self.graph, g3, a, s, h) & fair
                code[fair & ~tie] = "cost"
                code[tie] = "tie"
        why[rest] = code
        reason[rest] = self._words(code, s, d)
        return why, reason

    def _words(self, code: np.ndarray, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        """The reason of each not_sent line in words."""
        out = np.full(len(code), "", dtype=object)
        at = np.flatnonzero(code == "higher_weight")
        if len(at):  # the rows served at the hubs the source ships to (units at a hub are pooled)
            k, j = np.flatnonzero(self.carries), np.flatnonzero(self.serves)
            left, right = key_join(self.ship_hub[k], self.serve_hub[j])
            served = self._group_names(self.ship_sup[k[left]], self.serve_row[j[right]])
            text = {sup: f"its units serve higher-weight demand: {rows}" for sup, rows in served.items()}
            out[at] = [text.get(sup, "its units serve higher-weight demand") for sup in s[at].tolist()]
        at = np.flatnonzero(code == "fair_share")
        top = self.box[1] if self.box is not None else np.zeros(self.nd, bool)
        for i, row in zip(at.tolist(), d[at].tolist()):
            fill = self.delivered[row] / self.quantity[row]
            out[i] = (
                f"{self.row_name(row)} has its max-min fair share ({fill:.1%})"
                if top[row]
                else "one more unit here would take a fill rate off its max-min fair share"
            )
        return out  # cost, tie, not_settled: the code says it all (a county plan has 650,000 such lines)

    def _why_left(self, arcs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The total line's code and words per supply row (``arcs``: the not_sent routes)."""
        ns = self.ns
        why = np.full(ns, "all_shipped", dtype=object)
        reason = np.array([f"all {_n(q)} units shipped" for q in self.shipped.tolist()], dtype=object)
        left = np.flatnonzero(self.left > 0)
        if len(left) == 0:
            return why, reason
        to_short = np.zeros(ns, dtype=bool)  # has a route into a hub with a short row
        to_short[self.ship_sup[arcs]] = True
        open_ = np.zeros(ns, dtype=bool)
        open_[self.ship_sup[arcs[~self.full[arcs]]]] = True
        inst = self.instance
        products = inst.products.set_index("product")
        product_ids = pd.Index(products.index)
        pairs = eligible_pairs(inst)
        d = pairs["demand_idx"].to_numpy(np.int64)
        short = self.short[d]
        no_route = self._group_names(product_ids.get_indexer(pairs["product"])[short], d[short])
        families = pd.Index(pd.unique(products["family"].to_numpy(object)))
        general = np.flatnonzero(self.short & (self.d_use == "general"))
        short_general = self._group_names(
            families.get_indexer(self.model.demand["family"].to_numpy(object)[general]), general
        )
        icu_kept = (products["grade"] == "icu").to_numpy() & (not inst.policy.icu_grade_for_general)
        p = product_ids.get_indexer(self.model.supply["product"].to_numpy(object))
        f = families.get_indexer(products["family"].to_numpy(object))[p]
        for s in left.tolist():
            head = f"{_n(self.left[s])} of {_n(self.supply_q[s])} units left: "
            if to_short[s] and open_[s]:
                why[s], reason[s] = "unexplained", head + "an open route reaches a short row"
            elif to_short[s]:
                why[s], reason[s] = "capacity", head + "every route to a short row is full"
            elif p[s] in no_route:
                why[s], reason[s] = "no_route", head + f"no route to the rows still short: {no_route[p[s]]}"
            elif icu_kept[p[s]] and f[s] in short_general:
                why[s], reason[s] = (
                    "icu_rule",
                    head
                    + (
                        "ICU-grade units are kept for ICU use (policy "
                        "icu_grade_for_general off) and no ICU demand is short; "
                        f"general demand is: {short_general[f[s]]}"
                    ),
                )
            else:
                why[s], reason[s] = "all_served", head + "all demand the product may serve is met"
        return why, reason

    def _group_names(self, group: np.ndarray, rows: np.ndarray) -> dict[int, str]:
        """Per group: up to three of its distinct rows by name (highest weight first, then in
        (region, family, use) order) and how many more."""
        key = _distinct(group.astype(np.int64) * self.nd + rows, None) if len(rows) else np.zeros(0, np.int64)
        g, r = key // max(1, self.nd), key % max(1, self.nd)
        o = np.lexsort((self.rank[r], -self.weight[r], g))
        g, r = g[o].tolist(), r[o].tolist()
        out: dict[int, str] = {}
        starts = [i for i in range(len(g)) if i == 0 or g[i] != g[i - 1]] + [len(g)]
        for lo, hi in zip(starts[:-1], starts[1:]):
            more = f" and {hi - lo - _SHOW} more" if hi - lo > _SHOW else ""
            out[g[lo]] = ", ".join(self.row_name(x) for x in r[lo : min(hi, lo + _SHOW)]) + more
        return out

    # --- the stages as residual graphs --------------------------------------------------

    def _stage1(self) -> np.ndarray:
        """The arcs of reduced cost 0 under ``pi = -F`` (``G1``)."""
        value = self.values()[0]
        kind, tail, head = self.kind, self.tail, self.head
        g1 = value[tail] == value[head]  # inner arcs; T has value 0
        base = self.ns + self.nh
        rows = (kind == _UP) | (kind == _DOWN)
        d = np.where(kind == _UP, tail, head)[rows]
        g1[rows] = value[d] == self.weight[d - base]
        return g1

    def _stage2(self, g1: np.ndarray) -> np.ndarray:
        """``G1`` without the changes that leave a row's fair box (``G2``)."""
        if self.box is None:
            return g1
        bottom, top = self.box
        base = self.ns + self.nh
        g2 = g1.copy()
        up, down = self.kind == _UP, self.kind == _DOWN
        g2[up] &= ~top[self.tail[up] - base]
        g2[down] &= ~bottom[self.head[down] - base]
        return g2

    def _stage3(self, g2: np.ndarray) -> np.ndarray | None:
        """The arcs of ``G2`` of reduced route cost 0 under shortest-distance potentials
        (``G3``; None if ``G2`` holds a cycle of negative cost: the plan is not least-cost)."""
        m = self.model
        c = m.cost_vector("plan")[: m.n_ship + m.n_serve]
        try:  # whole numbers, so that "reduced cost 0" is exact
            from allocator.engine.network import Unsuitable, decimal_scale

            whole = decimal_scale(c, "route costs")[0]
        except (Unsuitable, ImportError):  # more than 6 decimals: to the millionth
            whole = np.round(c * 10**6).astype(np.int64)
        cost = np.zeros(len(self.kind), dtype=np.int64)
        for kind, values, sign in (
            (_SHIP, whole[: m.n_ship], 1),
            (_UNSHIP, whole[: m.n_ship], -1),
            (_SERVE, whole[m.n_ship :], 1),
            (_UNSERVE, whole[m.n_ship :], -1),
        ):
            at = self.kind == kind
            cost[at] = sign * values[self.ref[at]]
        phi = _potentials(self.graph, g2, cost, self.mate)
        if phi is None:
            return None
        return g2 & (cost + phi[self.tail] - phi[self.head] == 0)

    # --- names ----------------------------------------------------------------------------

    def row_name(self, d: int) -> str:
        name = self._names.get(d)
        if name is None:
            region = self.region_name.get(self.d_region[d], self.d_region[d])
            name = self._names[d] = f"{region} {self.d_use[d]} (w {self.weight[d]:g})"
        return name


# --- searches on arrays -------------------------------------------------------------------


class _Graph:
    """Arcs ``tail -> head`` on the nodes ``0..n-1``, sorted once by tail and once by head, so
    that the adjacency of any subset of them (a mask) is read off without sorting again."""

    def __init__(self, n: int, tail: np.ndarray, head: np.ndarray):
        self.n, self.tail, self.head = n, tail, head
        small = np.int32 if n < 2**31 else np.int64  # sorts faster; any deterministic order will do
        self.by_tail, self.by_head = np.argsort(tail.astype(small)), np.argsort(head.astype(small))

    def adjacency(self, mask: np.ndarray, backwards: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The arcs of ``mask`` grouped by tail (by head, ``backwards``): where each node's run
        starts, the node at the other end, and the arc."""
        order = self.by_head if backwards else self.by_tail
        order = order[mask[order]]
        near, far = (self.head, self.tail) if backwards else (self.tail, self.head)
        start = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(near[order], minlength=self.n), out=start[1:])
        return start, far[order], order


def _csr(n: int, tail: np.ndarray, head: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_Graph(n, tail, head).adjacency(all)`` for a graph searched once."""
    order = np.argsort(tail, kind="stable")
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=start[1:])
    return start, head[order], order


def _out(start: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions (in adjacency order) of the arcs leaving ``nodes``, and for each arc the
    position of its node in ``nodes``."""
    count = start[nodes + 1] - start[nodes]
    owner = np.repeat(np.arange(len(nodes)), count)
    return start[nodes][owner] + np.arange(len(owner)) - (np.cumsum(count) - count)[owner], owner


def _distinct(values: np.ndarray, n: int | None) -> np.ndarray:
    """The distinct values (nodes below ``n``), sorted: ``np.unique`` by a mask (``n`` None: by sorting)."""
    if n is None:
        return np.unique(values)
    mark = np.zeros(n, dtype=bool)
    mark[values] = True
    return np.flatnonzero(mark)


def _first(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (nodes below ``n``), sorted, and where each first stands."""
    first = np.full(n, -1, dtype=np.int64)
    first[values[::-1]] = np.arange(len(values) - 1, -1, -1)
    nodes = np.flatnonzero(first >= 0)
    return nodes, first[nodes]


def _reach(
    n: int, start: np.ndarray, succ: np.ndarray, roots: np.ndarray, within: np.ndarray | None = None
) -> np.ndarray:
    """The nodes reached from ``roots`` (breadth first; only through nodes ``within``, if given)."""
    seen = np.zeros(n, dtype=bool) if within is None else ~within
    seen[roots] = True
    frontier = roots
    while len(frontier):
        nbr = succ[_out(start, frontier)[0]]
        frontier = _distinct(nbr[~seen[nbr]], n)
        seen[frontier] = True
    if within is not None:
        seen &= within
        seen[roots] = True
    return seen


def _on_cycle(graph: _Graph, mask: np.ndarray, arc: np.ndarray, s: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Per query: whether the arcs of ``mask`` hold a cycle through the arc ``arc`` (``s -> h``;
    -1: not an arc): the arc is in the graph and its ends are in one strong component."""
    on = (arc >= 0) & mask[np.maximum(arc, 0)]
    if on.any():
        label = _strong_components(graph, mask)
        on &= label[s] == label[h]
    return on


def _strong_components(graph: _Graph, mask: np.ndarray) -> np.ndarray:
    """A label per node, the same for the nodes of one strongly connected component of the
    arcs of ``mask``.

    First the component of the last node (``T``, through which most of a plan's network is
    one component): what it reaches and what reaches it. Then, on the rest, rounds of:
    trimming (a node no arc enters or leaves, among those left, is a component alone); each
    node taking the largest label that reaches it (forwards, to a fixed point); a search
    backwards from every node that keeps its own label, among the nodes of that label: its
    component (the coloring algorithm; Orzan, 2004)."""
    n = graph.n
    label = np.arange(n)
    root = np.array([n - 1])
    fwd, back = graph.adjacency(mask), graph.adjacency(mask, backwards=True)
    mine = _reach(n, fwd[0], fwd[1], root) & _reach(n, back[0], back[1], root)
    label[mine] = n - 1
    alive = ~mine
    tail, head = graph.tail[mask], graph.head[mask]
    keep = alive[tail] & alive[head] & (tail != head)
    tail, head = tail[keep], head[keep]
    while len(tail):
        _trim(n, tail, head, alive)
        keep = alive[tail] & alive[head]
        tail, head = tail[keep], head[keep]
        if len(tail) == 0:
            break
        color = np.where(alive, np.arange(n), -1)
        start, succ, _ = _csr(n, tail, head)
        frontier = _distinct(tail, n)
        while len(frontier):
            at, owner = _out(start, frontier)
            to, c = succ[at], color[frontier][owner]
            up = c > color[to]
            np.maximum.at(color, to[up], c[up])
            frontier = _distinct(to[up], n)
        same = color[tail] == color[head]
        start, pred, _ = _csr(n, head[same], tail[same])
        found = _reach(n, start, pred, np.flatnonzero(alive & (color == np.arange(n))), alive)
        label[found] = color[found]
        alive[found] = False
    return label


def _trim(n: int, tail: np.ndarray, head: np.ndarray, alive: np.ndarray) -> None:
    """Mark dead the nodes that no arc enters, or that no arc leaves, among the alive, repeatedly."""
    for a, b in ((tail, head), (head, tail)):
        keep = alive[a] & alive[b]
        a, b = a[keep], b[keep]
        degree = np.bincount(b, minlength=n)
        start, succ, _ = _csr(n, a, b)
        dead = np.flatnonzero(alive & (degree == 0))
        while len(dead):
            alive[dead] = False
            nbr = succ[_out(start, dead)[0]]
            np.subtract.at(degree, nbr, 1)
            nbr = _distinct(nbr, n)
            dead = nbr[alive[nbr] & (degree[nbr] == 0)]


def _potentials(graph: _Graph, mask: np.ndarray, cost: np.ndarray, mate: np.ndarray) -> np.ndarray | None:
    """Potentials ``p`` (whole numbers) with ``cost + p[tail] - p[head] >= 0`` on every arc of
    ``mask``, or None if those arcs hold a cycle of negative cost.

    Shortest distances from a root joined to every node at cost 0 (Bellman-Ford), on a smaller
    graph: an arc whose reverse (``mate``, at the opposite cost) is there too is tight under
    every such potential, so the nodes such pairs join are one node, with potentials fixed
    relative to each other along the pairs."""
    n, tail, head = graph.n, graph.tail, graph.head
    paired = mask & (mate >= 0)
    paired[paired] &= mask[mate[paired]]
    root = _joined(n, tail[paired], head[paired])
    offset = np.zeros(n, dtype=np.int64)
    start, succ, arc = graph.adjacency(paired)
    seen = root == np.arange(n)
    frontier = np.flatnonzero(seen & (np.diff(start) > 0))
    while len(frontier):  # offsets along the pairs, breadth first from each group's least node
        at, owner = _out(start, frontier)
        nbr = succ[at]
        fresh = ~seen[nbr]
        nbr, first = _first(nbr[fresh], n)
        by = at[fresh][first]
        offset[nbr] = offset[frontier[owner[fresh][first]]] + cost[arc[by]]
        seen[nbr] = True
        frontier = nbr
    reduced = cost[mask] + offset[tail[mask]] - offset[head[mask]]
    t, h = root[tail[mask]], root[head[mask]]
    inside = t == h
    if (reduced[inside] < 0).any():
        return None
    t, h, c = t[~inside], h[~inside], reduced[~inside]
    dist = np.zeros(n, dtype=np.int64)
    start, succ, order = _csr(n, t, h)
    step = c[order]
    frontier = _distinct(t, n)
    for _ in range(n + 1):
        if len(frontier) == 0:
            return dist[root] + offset
        at, owner = _out(start, frontier)
        to, d = succ[at], dist[frontier][owner] + step[at]
        better = d < dist[to]
        np.minimum.at(dist, to[better], d[better])
        frontier = _distinct(to[better], n)
    return None


def _joined(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per node the least node joined to it by the (undirected) pairs ``a - b``: hooking and
    pointer jumping."""
    parent = np.arange(n)
    while True:
        pa, pb = parent[a], parent[b]
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        differ = lo != hi
        if not differ.any():
            return parent
        np.minimum.at(parent, hi[differ], lo[differ])
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def _rank(*keys: np.ndarray) -> np.ndarray:
    """Each row's place in the order of the key tuples."""
    codes = [pd.factorize(k, sort=True)[0] for k in keys]
    order = np.lexsort(codes[::-1]) if codes else np.zeros(0, dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _n(x: float) -> str:
    return quantity_text(x, 3)
