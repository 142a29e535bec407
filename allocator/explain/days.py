"""Why each shortfall of a multi-day plan, day by day: the reasons of ``explain.reasons``, read
off the time-expanded network (``build.horizon.HorizonModel``) and its solution.

A short row ``d`` is a (region, family, use) on day ``t``. Its *reach* is every node of the
network (a source or a region's hub, holding one product, on one day) from which arcs (ships
with their transit time, transfers with theirs, stock carried to the next day) lead to ``d``'s
region by day ``t`` with a product that may serve ``d`` (``eligible_pairs``: the family's own
products, ICU-grade ones for general use only where the policy allows). Every arc of the
window exists on each day it fits in, so a node of day ``t'`` is in the reach when ``t'`` + the
shortest transit from its holder to the region is ``t`` or less. The *reachable units* are
what enters the reach from outside the network: stock on hand, output ready, units arriving.

Where they went is read off the plan's flows, pro rata at each node (a node's outflows carry
the mix of what came in, as the daily reasons split a hub's deliveries): a unit leaves the
reach served to a demand row, lost to attrition, sent along an arc to a node outside it, or
staying where it is past the last day it could still reach ``d``; from outside it is followed
to where it ends: served, lost, or in stock at the end of the last day planned. Durable units
are never used up: for a durable row they are followed to where they are at the end of day
``t`` (in service for a row there, pro rata over the units on hand; idle; or on their way,
then counted by what they serve where they arrive). A unit that stayed put counts where it
stayed (``left unshipped``, ``left unused``, or a floor there) unless it served demand that
weighs as much as ``d`` or more: where it went after is no rival of ``d`` otherwise.

The rules, for each short row, in this order:

1. No reachable unit: ``ICU-grade units only: the policy keeps them for ICU demand`` when the
   row is general, the policy keeps ICU-grade units for ICU demand and an ICU-grade unit of
   the family could be in the region by day ``t`` (the most specific true statement when no
   general-grade unit can be). Otherwise ``no supply or stock of FAMILY can reach REGION by
   DAY``, with why, from the first day a unit of an eligible product can be in the region along
   the instance's routes and transfers (not cut at the window's end): ``first arrivals on DAY``
   (a later day of the window), ``routes arrive after the last day planned (horizon H days)``
   (the window's output and stock could be there only after it), ``its supply is ready only
   after the last day planned`` (only output or stock that comes after the window could be),
   ``no route or transfer leads there from where it is made or stocked``, ``none is made or
   stocked``.
2. Otherwise the parts that hold, each for more than half a unit (as the daily reasons),
   joined by "; ": ``outranked`` (reachable units served demand of a higher weight; the three
   that got most are named), ``shared with equal-weight demand`` (they served other rows of the
   same weight on the same day: rationed to equal fill rates, with equity on), ``held as stock
   for a floor`` (they are in stock at a holder whose floor they keep: all of them where its
   stock is at most its floor, else floor / stock of them), ``route capacity full`` (a
   capacitated ship or transfer into the reach carries its capacity while reachable units are
   left unused or serve lower-weight demand), units that served lower-weight demand, units
   left unused in stock or unshipped at a source, durable units on their way elsewhere, and
   units lost to attrition.
3. No part: ``not enough supply: all N reachable units are delivered here``; ``... here or to
   earlier days' demand, which the time preference puts first: ROWS`` when some served rows
   that weigh more only by the time preference (the same weight on an earlier day: an earlier
   need met first, not a rival); ``... here or to demand of equal or higher weight`` when less
   than half a unit went to each kind of row elsewhere; ``(less N lost to attrition)``.

"Higher weight" compares the weights the plan ranks by (a row's weight times the time
preference of its day); a row is named with its own weight (``w``). Counts of a countable
family are rounded to whole units. Every short row gets a reason.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import replace

import numpy as np
import pandas as pd

from allocator.build.daily import routes_between
from allocator.build.horizon import Calendar, HorizonModel, _transfer_rows
from allocator.explain.reasons import _n
from allocator.inputs.instance import Instance
from allocator.inputs.reach import eligible_pairs

__all__ = ["day_reasons"]

_TOL = 1e-9  # a flow below this carries nothing
_SHOWN = 0.5  # as in the daily reasons: less than half a unit is not named
_ARC, _STOCK, _SERVE, _LOSS = 0, 1, 2, 3  # kinds of a node's outflow


def day_reasons(
    instance: Instance, model: HorizonModel, x: np.ndarray, fill: pd.DataFrame, *, equity: bool | None = None
) -> pd.Series:
    """A reason in words for every short row of a multi-day plan's ``fill`` (``plan.days``),
    aligned with its index; "" where the row is not short. ``equity``: the plan's (default the
    policy's)."""
    reasons = np.full(len(fill), "", dtype=object)
    short_pos = np.flatnonzero(fill["shortfall"].to_numpy(float) > _TOL)
    if len(short_pos) == 0:
        return pd.Series(reasons, index=fill.index, dtype=object)
    x = np.asarray(x, dtype=float)
    net = _Network(model, x)
    why = _Why(instance, model, net, instance.policy.equity if equity is None else equity)
    dem = model.demand.reset_index(drop=True)
    row_of = {k: i for i, k in enumerate(zip(dem["region"], dem["family"], dem["use"], dem["day"]))}
    keys = zip(*(fill[c].to_numpy(object)[short_pos] for c in ("region", "family", "use", "day")))
    for pos, key in zip(short_pos.tolist(), keys):
        d = row_of.get(tuple(key))
        reasons[pos] = why.reason(d) if d is not None else why.unplanned(*key)
    return pd.Series(reasons, index=fill.index, dtype=object)


class _Network:
    """The plan's flows on the nodes of the time-expanded network: each node's kind, holder,
    product, day and units entering from outside; its outflows that carry something."""

    def __init__(self, model: HorizonModel, x: np.ndarray):
        self.horizon = len(model.days)
        H = self.horizon
        ss, hs = model.source_stock, model.hub_stock
        self.kind = np.r_[np.zeros(len(ss), dtype=np.int64), np.ones(len(hs), dtype=np.int64)]
        self.holder = np.r_[ss["source"].to_numpy(object), hs["region"].to_numpy(object)]
        self.product = np.r_[ss["product"].to_numpy(object), hs["product"].to_numpy(object)]
        self.t = np.r_[ss["t"].to_numpy(np.int64), hs["t"].to_numpy(np.int64)]
        stock_col = np.r_[ss["col"].to_numpy(np.int64), hs["col"].to_numpy(np.int64)]
        n = len(self.kind)
        self.n = n
        key = list(zip(self.kind.tolist(), self.holder.tolist(), self.product.tolist(), self.t.tolist()))
        self.node = {k: i for i, k in enumerate(key)}

        # Units entering from outside: opening stock, arrivals, output ready.
        inp = np.zeros(n)
        st = model.opening

        def add(kind: int, ident, product, t: int, q: float) -> None:
            at = self.node.get((kind, ident, product, t))
            if at is not None and q > 0:
                inp[at] += q

        for s, p, q in st.source_stock[["source", "product", "quantity"]].itertuples(index=False, name=None):
            add(0, s, p, 0, float(q))
        for r, p, q in st.region_stock[["region", "product", "quantity"]].itertuples(index=False, name=None):
            add(1, r, p, 0, float(q))
        for h, i, p, d, q in st.arriving[["holder", "id", "product", "day", "quantity"]].itertuples(
            index=False, name=None
        ):
            t = max(int(d) - model.first_day, 0)
            if t < H:
                add(0 if h == "source" else 1, i, p, t, float(q))
        for t, s, p, q in model.ready[["t", "source", "product", "quantity"]].itertuples(index=False, name=None):
            add(0, s, p, int(t), float(q))
        self.input = inp

        # Outflows: (node, kind, target, units); targets are nodes (-1: past the last day) or demand rows.
        tails, kinds, targets, units = [], [], [], []

        def flows(tail, kind, target, q):
            keep = q > _TOL
            tails.append(np.asarray(tail, dtype=np.int64)[keep])
            kinds.append(np.full(int(keep.sum()), kind, dtype=np.int64))
            targets.append(np.asarray(target, dtype=np.int64)[keep])
            units.append(q[keep])

        def nodes(kind, ids, products, ts) -> np.ndarray:
            return np.array(
                [self.node.get((kind, i, p, int(t)), -1) for i, p, t in zip(ids, products, ts)], dtype=np.int64
            )

        def qty(frame: pd.DataFrame) -> np.ndarray:
            return x[frame["col"].to_numpy(np.int64)] if len(frame) else np.zeros(0)

        sh, tr = model.ship, model.transfer
        self.arc_tail = np.r_[
            nodes(0, sh["source"], sh["product"], sh["t"]), nodes(1, tr["from_region"], tr["product"], tr["t"])
        ]
        self.arc_head = np.r_[
            nodes(1, sh["region"], sh["product"], sh["arrive_t"]),
            nodes(1, tr["to_region"], tr["product"], tr["arrive_t"]),
        ]
        arc_q = np.r_[qty(sh), qty(tr)]
        arc_col = np.r_[sh["col"].to_numpy(np.int64), tr["col"].to_numpy(np.int64)]
        cap = np.asarray(model.col_upper, dtype=float)[arc_col] if len(arc_col) else np.zeros(0)
        self.arc_full = np.isfinite(cap) & (arc_q >= cap - _TOL)
        self.arc_label = np.r_[sh["source"].to_numpy(object), tr["from_region"].to_numpy(object)]
        self.arc_is_transfer = np.r_[np.zeros(len(sh), dtype=bool), np.ones(len(tr), dtype=bool)]
        flows(self.arc_tail, _ARC, self.arc_head, arc_q)
        nxt = nodes(0, ss["source"], ss["product"], ss["t"] + 1)
        nxt = np.r_[nxt, nodes(1, hs["region"], hs["product"], hs["t"] + 1)]
        self.next = nxt  # each node's node on the next day (-1: the last day)
        self.closing = x[stock_col] if n else np.zeros(0)
        flows(np.arange(n), _STOCK, nxt, self.closing)
        sv = model.serve
        serve_node = nodes(1, sv["region"], sv["product"], sv["t"])
        serve_row = sv["demand_idx"].to_numpy(np.int64)
        serve_q = qty(sv)
        row_durable = model.demand["durable"].to_numpy(bool)
        used_up = ~row_durable[serve_row] if len(serve_row) else np.zeros(0, dtype=bool)
        flows(serve_node[used_up], _SERVE, serve_row[used_up], serve_q[used_up])
        lo = model.loss
        flows(nodes(1, lo["region"], lo["product"], lo["t"]), _LOSS, np.full(len(lo), -1), qty(lo))
        self.e_tail = np.concatenate(tails)
        self.e_kind = np.concatenate(kinds)
        self.e_target = np.concatenate(targets)
        self.e_q = np.concatenate(units).astype(float)
        self._cancel_cycles()
        self.out_total = np.bincount(self.e_tail, weights=self.e_q, minlength=n)
        order = np.argsort(self.e_tail, kind="stable")
        self.e_tail, self.e_kind, self.e_target, self.e_q = (
            a[order] for a in (self.e_tail, self.e_kind, self.e_target, self.e_q)
        )
        bounds = np.searchsorted(self.e_tail, np.arange(n + 1))
        self.lo, self.hi = bounds[:-1], bounds[1:]
        self.rank = self._ranks()

        # Durable units on hand at a hub on its day: in service for rows there, or idle.
        self.uses: dict[int, list[tuple[int, float]]] = {}
        durable_use = ~used_up & (serve_q > _TOL) if len(serve_row) else np.zeros(0, dtype=bool)
        for v, r, q in zip(serve_node[durable_use].tolist(), serve_row[durable_use].tolist(), serve_q[durable_use]):
            if v >= 0 and self.closing[v] > _TOL:
                self.uses.setdefault(v, []).append((r, float(q) / float(self.closing[v])))

    def _cancel_cycles(self) -> None:
        """Take out flow that goes round a cycle (transfers there and back on one day): it ends
        where it began, and following units pro rata needs an order of the nodes."""
        while True:
            arcs = np.flatnonzero(((self.e_kind == _ARC) | (self.e_kind == _STOCK)) & (self.e_target >= 0))
            cycle = _find_cycle(self.n, self.e_tail[arcs], self.e_target[arcs])
            if cycle is None:
                return
            edges = arcs[cycle]
            self.e_q[edges] -= self.e_q[edges].min()
            keep = self.e_q > _TOL
            self.e_tail, self.e_kind, self.e_target, self.e_q = (
                a[keep] for a in (self.e_tail, self.e_kind, self.e_target, self.e_q)
            )

    def _ranks(self) -> np.ndarray:
        """A topological order of the nodes along the flows (each node's rank)."""
        arcs = (self.e_target >= 0) & ((self.e_kind == _ARC) | (self.e_kind == _STOCK))
        heads = self.e_target[arcs]
        indeg = np.bincount(heads, minlength=self.n)
        succ: dict[int, list[int]] = {}
        for a, b in zip(self.e_tail[arcs].tolist(), heads.tolist()):
            succ.setdefault(a, []).append(b)
        ready = [(int(self.t[v]), int(self.kind[v]), v) for v in np.flatnonzero(indeg == 0).tolist()]
        heapq.heapify(ready)
        rank = np.zeros(self.n, dtype=np.int64)
        k = 0
        while ready:
            *_, v = heapq.heappop(ready)
            rank[v] = k
            k += 1
            for w in succ.get(v, ()):
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(ready, (int(self.t[w]), int(self.kind[w]), w))
        return rank


def _find_cycle(n: int, tails: np.ndarray, heads: np.ndarray) -> list[int] | None:
    """Positions of the edges of one directed cycle, or None."""
    succ: dict[int, list[tuple[int, int]]] = {}
    for e, (a, b) in enumerate(zip(tails.tolist(), heads.tolist())):
        succ.setdefault(a, []).append((b, e))
    state = np.zeros(n, dtype=np.int8)  # 0 new, 1 on the path, 2 done
    for root in list(succ):
        if state[root]:
            continue
        path_edges: list = []
        path_nodes, iters = [root], [iter(succ.get(root, ()))]
        state[root] = 1
        while iters:
            step = next(iters[-1], None)
            if step is None:
                state[path_nodes.pop()] = 2
                iters.pop()
                if path_edges:
                    path_edges.pop()
                continue
            w, e = step
            if state[w] == 1:
                return path_edges[path_nodes.index(w) :] + [e]
            if state[w] == 0:
                state[w] = 1
                path_nodes.append(w)
                path_edges.append(e)
                iters.append(iter(succ.get(w, ())))
    return None


def _rank_weights(dem: pd.DataFrame) -> np.ndarray:
    """What a unit served to each row saves in the plan's objective: its weight (with the time
    preference), and with ``unmet = backlog`` also the weights of the same need's rows on the
    days after (a shortfall carried to them)."""
    rank = dem["weight"].to_numpy(float).copy()
    carries = dem["carries"].to_numpy(bool)
    if not carries.any():
        return rank
    order = dem.sort_values(["region", "family", "use", "t"], ascending=[True, True, True, False]).index.to_numpy()
    key = list(zip(dem["region"], dem["family"], dem["use"]))
    t = dem["t"].to_numpy(np.int64)
    for a, b in zip(order[1:].tolist(), order[:-1].tolist()):  # b: the same need's next day, if any
        if key[a] == key[b] and t[b] == t[a] + 1 and carries[a] and carries[b]:
            rank[a] += rank[b]
    return rank


def _units(units: dict, whole: bool) -> str:
    """The units of a table as words, whole numbers for a countable family (units followed pro
    rata can be fractions of one)."""
    text = _num(sum(units.values()), whole)
    return f"{text} reachable unit{'' if text == '1' else 's'}"


def _num(q: float, whole: bool) -> str:
    return _n(round(q)) if whole else _n(q)


class _Fate:
    """Where the units of a reach went, each amount a vector over labels: label 0 for units
    that left the reach served, lost or sent away along an arc; label ``i`` for units that
    stayed at ``tails[i - 1]`` past the last day they could reach the row (durables: idle there
    on the row's day)."""

    def __init__(self, tails: list[int]) -> None:
        self.tails = tails
        self.size = len(tails) + 1
        self.rows: dict[int, np.ndarray] = {}
        self.held: dict[int, np.ndarray] = {}
        self.lost = np.zeros(self.size)

    def add(self, table: dict, key: int, q) -> None:
        got = table.get(key)
        if got is None:
            table[key] = np.array(q, dtype=float) if np.ndim(q) else self.unit(0) * q
        else:
            got += q

    def unit(self, label: int) -> np.ndarray:
        out = np.zeros(self.size)
        out[label] = 1.0
        return out


class _Why:
    def __init__(self, instance: Instance, model: HorizonModel, net: _Network, equity: bool):
        self.instance, self.model, self.net, self.equity = instance, model, net, equity
        self.days = list(model.days)
        dem = model.demand.reset_index(drop=True)
        self.region = dem["region"].to_numpy(object)
        self.family = dem["family"].to_numpy(object)
        self.use = dem["use"].to_numpy(object)
        self.t = dem["t"].to_numpy(np.int64)
        self.rank = _rank_weights(dem)
        self.base = dem["base_weight"].to_numpy(float)
        self.durable_row = dem["durable"].to_numpy(bool)
        self.countable = dem["countable"].to_numpy(bool)
        self.region_name = dict(
            zip(instance.regions["region"].to_numpy(object), instance.regions["name"].to_numpy(object))
        )
        products = instance.products
        self.p_family = dict(zip(products["product"], products["family"]))
        self.p_grade = dict(zip(products["product"], products["grade"]))
        keys = dem[["family", "use"]].drop_duplicates().reset_index(drop=True)
        pairs = eligible_pairs(replace(instance, demand=keys.assign(region="", quantity=1.0)))
        self.eligible: dict[tuple, list[str]] = {}
        for i, p in zip(pairs["demand_idx"].tolist(), pairs["product"].tolist()):
            self.eligible.setdefault((keys["family"][i], keys["use"][i]), []).append(p)
        self.floors = {
            (int(t), h, i, f): float(v)
            for t, h, i, f, v in model.floor[["t", "holder", "id", "family", "floor"]].itertuples(
                index=False, name=None
            )
        }
        self.family_stock: dict[tuple, float] = {}
        for v in np.flatnonzero(net.kind == 1).tolist():
            key = (int(net.t[v]), net.holder[v], self.p_family[net.product[v]])
            self.family_stock[key] = self.family_stock.get(key, 0.0) + float(net.closing[v])
        self._dist: dict[tuple[str, str], np.ndarray] = {}
        self._static = None
        self._earliest = None

    # --- the reach ---------------------------------------------------------------------------

    def _static_arcs(self):
        if self._static is None:
            m = self.model
            ship = m.ship.assign(lag=m.ship["arrive_t"] - m.ship["t"]).groupby(["product", "region", "source"])["lag"]
            xfer = m.transfer.assign(lag=m.transfer["arrive_t"] - m.transfer["t"])
            xfer = xfer.groupby(["product", "to_region", "from_region"])["lag"]
            into_region: dict[tuple, list] = {}
            for (p, r, s), lag in ship.min().items():
                into_region.setdefault((p, r), []).append((s, int(lag)))
            senders: dict[tuple, list] = {}
            for (p, to, fr), lag in xfer.min().items():
                senders.setdefault((p, to), []).append((fr, int(lag)))
            self._static = (into_region, senders)
        return self._static

    def _distance(self, region: str, product: str) -> np.ndarray:
        """Per node: the shortest transit from its holder to ``region`` with ``product`` (inf: none)."""
        key = (region, product)
        if key in self._dist:
            return self._dist[key]
        into_region, senders = self._static_arcs()
        to_reg = {region: 0}
        heap = [(0, region)]
        while heap:
            dist, r = heapq.heappop(heap)
            if dist > to_reg.get(r, math.inf):
                continue
            for fr, lag in senders.get((product, r), ()):
                if dist + lag < to_reg.get(fr, math.inf):
                    to_reg[fr] = dist + lag
                    heapq.heappush(heap, (dist + lag, fr))
        to_src: dict[str, int] = {}
        for r, dist in to_reg.items():
            for s, lag in into_region.get((product, r), ()):
                to_src[s] = min(to_src.get(s, math.inf), dist + lag)
        net = self.net
        out = np.full(net.n, np.inf)
        mine = np.flatnonzero(net.product == product)
        for v in mine.tolist():
            got = (to_src if net.kind[v] == 0 else to_reg).get(net.holder[v])
            if got is not None:
                out[v] = got
        self._dist[key] = out
        return out

    def _reach(self, d: int) -> np.ndarray:
        net = self.net
        inside = np.zeros(net.n, dtype=bool)
        for p in self.eligible.get((self.family[d], self.use[d]), []):
            inside |= net.t + self._distance(self.region[d], p) <= self.t[d]
        return inside

    def _fate(self, d: int, inside: np.ndarray) -> _Fate:
        """Where the units of the reach went (``_Network``: pro rata along the flows). Durable
        units are followed to where they are at the end of the row's day (the cut); those idle
        there or on their way then, on to the first day they are in service."""
        net = self.net
        durable = bool(self.durable_row[d])
        cut = int(self.t[d]) if durable else net.horizon - 1
        exits: list[tuple[int, int, float]] = []  # (node, label, units) entering from the reach
        tails: list[int] = []
        direct: list[tuple[int, int, float, int]] = []  # (kind, node or row, units, label)
        for v in np.flatnonzero(inside & (net.out_total > _TOL)).tolist():
            for e in range(net.lo[v], net.hi[v]):
                q, kind, w = float(net.e_q[e]), int(net.e_kind[e]), int(net.e_target[e])
                if kind in (_SERVE, _LOSS):
                    direct.append((kind, w if kind == _SERVE else v, q, 0))
                elif w >= 0 and inside[w]:
                    continue
                elif kind == _STOCK and (w < 0 or net.t[w] > cut):  # on hand at the cut
                    if durable:
                        tails.append(v)
                    direct.append((_STOCK, v, q, len(tails) if durable else 0))
                elif kind == _STOCK:
                    tails.append(v)
                    exits.append((w, len(tails), q))
                else:
                    exits.append((w, 0, q))
        fate = _Fate(tails)
        later: list[tuple[int, np.ndarray]] = []  # durables idle or on their way at the cut
        for kind, at, q, label in direct:
            if kind == _SERVE:
                fate.add(fate.rows, at, q)
            elif kind == _LOSS:
                fate.lost[0] += q
            else:
                self._on_hand(at, fate.unit(0) * q, fate, fate.unit(label) * q, later if durable else None)
        mass: dict[int, np.ndarray] = {}
        heap: list[tuple[int, int]] = []

        def push(w: int, vec: np.ndarray) -> None:
            if w in mass:
                mass[w] += vec
            else:
                mass[w] = vec.copy()
                heapq.heappush(heap, (int(net.rank[w]), w))

        for w, label, q in exits:
            if net.t[w] > cut:
                later.append((w, fate.unit(label) * q))
            else:
                push(w, fate.unit(label) * q)
        for first_use in (False, True):
            if first_use:
                for w, vec in later:
                    push(w, vec)
            while heap:
                _, v = heapq.heappop(heap)
                vec = mass.pop(v)
                total = net.out_total[v]
                if not total > _TOL:
                    fate.add(fate.held, v, vec)
                    continue
                for e in range(net.lo[v], net.hi[v]):
                    part = vec * (net.e_q[e] / total)
                    kind, w = int(net.e_kind[e]), int(net.e_target[e])
                    if kind == _SERVE:
                        fate.add(fate.rows, w, part)
                    elif kind == _LOSS:
                        fate.lost += part
                    elif kind == _STOCK and first_use:
                        self._on_hand(v, part, fate, part, None if w < 0 else [], push)
                    elif w < 0 or (net.t[w] > cut and not first_use):
                        if kind == _STOCK:
                            self._on_hand(v, part, fate, part, later if durable else None)
                        else:
                            later.append((w, part))
                    else:
                        push(w, part)
        return fate

    def _on_hand(self, v: int, vec: np.ndarray, fate: _Fate, idle_vec: np.ndarray, later=None, push=None) -> None:
        """Units in stock at node ``v`` at the end of its day: in service (``vec``'s labels),
        else idle (``idle_vec``'s): held there, or (``later``) on to the next day, where
        ``push`` follows them at once."""
        idle = 1.0
        for r, share in self.net.uses.get(v, ()):
            fate.add(fate.rows, r, vec * share)
            idle -= share
        if idle <= 1e-12:
            return
        nxt = int(self.net.next[v])
        if later is None or nxt < 0:
            fate.add(fate.held, v, idle_vec * idle)
        elif push is not None:
            push(nxt, idle_vec * idle)
        else:
            later.append((nxt, idle_vec * idle))

    def _sorted_fate(self, d: int, fate: _Fate):
        """The units of the reach by kind: (own, higher, earlier, equal, lower, floor, unused at
        regions, unused at sources, lost). Units that stayed put past the last day they could
        reach the row count where they stayed, unless they served demand that weighs as much or
        more."""
        net = self.net
        w, base = self.rank[d], self.base[d]
        parts: list[dict] = [{} for _ in range(7)]
        higher, earlier, equal, lower, floor, unused_r, unused_s = parts
        stayed = np.zeros(fate.size)  # per label: units counted where they stayed
        own = 0.0

        def add(table: dict, key: int, q: float) -> None:
            if q > 0:
                table[key] = table.get(key, 0.0) + q

        for r, vec in fate.rows.items():
            if r == d:
                own += float(vec.sum())
            elif self.rank[r] > w * (1 + 1e-12):
                add(higher if self.base[r] > base * (1 + 1e-12) else earlier, r, float(vec.sum()))
            elif np.isclose(self.rank[r], w, rtol=1e-12):
                add(equal, r, float(vec.sum()))
            else:
                add(lower, r, float(vec[0]))
                stayed[1:] += vec[1:]
        held = [(v, vec) for v, vec in fate.held.items()]
        held += [(v, fate.unit(i) * stayed[i]) for i, v in enumerate(fate.tails, start=1) if stayed[i] > 0]
        for v, vec in held:
            kept = vec * self._floor_share(v)
            add(floor, v, float(kept.sum()))
            rest = vec - kept
            add(unused_s if net.kind[v] == 0 else unused_r, v, float(rest[0]))
            for i in np.flatnonzero(rest[1:] > 0).tolist():  # counted where it stayed
                tail = fate.tails[i]
                if tail == v:
                    add(unused_s if net.kind[v] == 0 else unused_r, v, float(rest[i + 1]))
                else:
                    kept_there = rest[i + 1] * self._floor_share(tail)
                    add(floor, tail, kept_there)
                    add(unused_s if net.kind[tail] == 0 else unused_r, tail, rest[i + 1] - kept_there)
        return own, higher, earlier, equal, lower, floor, unused_r, unused_s, float(fate.lost.sum())

    # --- the words ----------------------------------------------------------------------------

    def reason(self, d: int) -> str:
        net = self.net
        inside = self._reach(d)
        total = float(net.input[inside].sum())
        if not total > _TOL:
            return self._unreached(d)
        fate = self._fate(d, inside)
        own, higher, earlier, equal, lower, floor, unused_region, unused_source, lost_q = self._sorted_fate(d, fate)
        grade = "ICU-grade " if self.use[d] == "icu" else ""
        whole = bool(self.countable[d])
        parts = []
        if sum(higher.values()) > _SHOWN:
            parts.append(f"outranked: {_units(higher, whole)} went to higher-weight demand in {self._rows(higher)}")
        if sum(equal.values()) > _SHOWN:
            how = "rationed to equal fill rates" if self.equity else "split by least route cost (equity off)"
            parts.append(f"shared with equal-weight demand: {_units(equal, whole)} went to {self._rows(equal)}, {how}")
        if sum(floor.values()) > _SHOWN:
            parts.append(
                f"held as stock for a floor: {_units(floor, whole)} kept in stock at "
                f"{self._holders(floor, floors=True)}"
            )
        spare = sum(lower.values()) + sum(unused_region.values()) + sum(unused_source.values())
        full = net.arc_full & (net.arc_head >= 0)
        full &= inside[np.where(net.arc_head >= 0, net.arc_head, 0)]
        if spare > _SHOWN and full.any():
            names = sorted(
                {
                    f"{self.region_name.get(a, a)} (transfer)" if tr else str(a)
                    for a, tr in zip(net.arc_label[full], net.arc_is_transfer[full])
                }
            )
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            parts.append(f"route capacity full from {', '.join(names[:3])}{more}")
        if sum(lower.values()) > _SHOWN:
            parts.append(f"{_units(lower, whole)} went to lower-weight demand in {self._rows(lower)}")
        if sum(unused_region.values()) > _SHOWN:
            parts.append(f"{_units(unused_region, whole)} left unused in stock at {self._holders(unused_region)}")
        if sum(unused_source.values()) > _SHOWN:
            parts.append(f"{_units(unused_source, whole)} left unshipped at {self._holders(unused_source)}")
        lost = f"{_units({0: lost_q}, whole)} lost to attrition" if lost_q > _SHOWN else ""
        if parts:
            return "; ".join(parts + ([lost] if lost else []))
        if sum(earlier.values()) > _SHOWN:
            first = "its shortfall would carry over" if self.instance.policy.unmet == "backlog" else "time preference"
            where = f"here or to earlier days' demand, met first ({first}): {self._rows(earlier)}"
        elif own >= total - lost_q - _SHOWN:
            where = "here"
        else:
            where = "here or to demand of equal or higher weight"
        text = f"not enough supply: all {_num(total, whole)} reachable {grade}units are delivered {where}"
        return f"{text} (less {_num(lost_q, whole)} lost to attrition)" if lost else text

    def _floor_share(self, v: int) -> float:
        """The share of the units in stock at node ``v`` that keep its holder's floor."""
        net = self.net
        t, h, p = int(net.t[v]), net.holder[v], net.product[v]
        fam = self.p_family[p]
        holder = "source" if net.kind[v] == 0 else "region"
        floor = self.floors.get((t, holder, h, fam), 0.0)
        if floor <= 0:
            return 0.0
        stock = float(net.closing[v]) if holder == "source" else self.family_stock.get((t, h, fam), 0.0)
        return 1.0 if stock <= floor + _TOL else floor / stock

    def _rows(self, units: dict[int, float]) -> str:
        top = sorted(units, key=lambda r: (-units[r], r))
        names = [
            f"{self.region_name.get(self.region[r], self.region[r])} {self.family[r]} {self.use[r]} on "
            f"{self.days[self.t[r]]} (w {self.base[r]:g})"
            for r in top[:3]
        ]
        more = f" and {len(top) - 3} more" if len(top) > 3 else ""
        return ", ".join(names) + more

    def _holders(self, units: dict[int, float], floors: bool = False) -> str:
        net = self.net
        by: dict[str, float] = {}
        floor_of: dict[str, float] = {}
        for v, q in units.items():
            h = net.holder[v]
            name = self.region_name.get(h, h) if net.kind[v] == 1 else f"source {h}"
            by[name] = by.get(name, 0.0) + q
            if floors:
                holder = "source" if net.kind[v] == 0 else "region"
                key = (int(net.t[v]), holder, h, self.p_family[net.product[v]])
                floor_of[name] = self.floors.get(key, 0.0)
        top = sorted(by, key=lambda k: (-by[k], k))
        names = [f"{k} (floor {_n(floor_of[k])})" if floors else k for k in top[:3]]
        more = f" and {len(top) - 3} more" if len(top) > 3 else ""
        return ", ".join(names) + more

    def unplanned(self, region, family, use, day) -> str:
        """A fill row the model has no demand row for (should not happen): say so."""
        return f"no supply or stock of {family} can reach {self.region_name.get(region, region)} by {day}"

    def _unreached(self, d: int) -> str:
        """No reachable unit: ICU-grade only, or why nothing of the family can be there by the day."""
        r, fam, use, t = self.region[d], self.family[d], self.use[d], int(self.t[d])
        H = self.net.horizon
        day = self.days[t]
        where = self.region_name.get(r, r)
        eligible = self.eligible.get((fam, use), [])
        earliest = self._earliest_arrivals()
        win = min((earliest[0].get((r, p), math.inf) for p in eligible), default=math.inf)
        ever = min((earliest[1].get((r, p), math.inf) for p in eligible), default=math.inf)
        if use == "general" and not self.instance.policy.icu_grade_for_general:
            icu = [p for p, f in self.p_family.items() if f == fam and self.p_grade[p] == "icu"]
            if min((earliest[0].get((r, p), math.inf) for p in icu), default=math.inf) <= t:
                return (
                    "ICU-grade units only: the policy keeps them for ICU demand "
                    f"(no general-grade {fam} can reach {where} by {day})"
                )
        grade = "ICU-grade " if use == "icu" else ""
        head = f"no supply or stock of {grade}{fam} can reach {where} by {day}"
        days = "day" if H == 1 else "days"
        if win <= t:
            return head
        if win <= H - 1:
            return f"{head}: first arrivals on {self.days[int(win)]}"
        if win < math.inf:
            return f"{head}: routes arrive after the last day planned (horizon {H} {days})"
        if ever < math.inf:
            return f"{head}: its supply is ready only after the last day planned (horizon {H} {days})"
        if any(p in earliest[2] for p in eligible):
            return f"{head}: no route or transfer leads there from where it is made or stocked"
        return f"{head}: none is made or stocked"

    def _earliest_arrivals(self):
        """Per (region, product): the first day (of the window, 0 = its first; not cut at its
        end) a unit can be there along the instance's routes and transfers, from output and
        stock of the window (first dict) or also from what comes after it (second); and the
        products made or stocked at all (third)."""
        if self._earliest is None:
            self._earliest = self._compute_earliest()
        return self._earliest

    def _compute_earliest(self):
        inst, m = self.instance, self.model
        H = len(m.days)
        starts: list[tuple[int, str, str, int]] = []  # (kind, holder, product, day)
        st = m.opening
        for s, p, q in st.source_stock[["source", "product", "quantity"]].itertuples(index=False, name=None):
            if q > 0:
                starts.append((0, s, p, 0))
        for r, p, q in st.region_stock[["region", "product", "quantity"]].itertuples(index=False, name=None):
            if q > 0:
                starts.append((1, r, p, 0))
        for h, i, p, d, q in st.arriving[["holder", "id", "product", "day", "quantity"]].itertuples(
            index=False, name=None
        ):
            if q > 0:
                starts.append((0 if h == "source" else 1, i, p, max(int(d) - m.first_day, 0)))
        for t, s, p, q in m.ready[["t", "source", "product", "quantity"]].itertuples(index=False, name=None):
            if q > 0:
                starts.append((0, s, p, int(t)))
        # Output ready after the window (not in the model): made on its day (undated: from the
        # window's first day) and ready its lead time later.
        sup = inst.supply.loc[inst.supply["quantity"] > 0]
        if len(sup):
            products = inst.products.set_index("product")
            src_lead = inst.sources.set_index("source")["lead_days"]
            lead = sup["lead_days"].to_numpy(float)
            default = sup["product"].map(products["lead_days"]).to_numpy(float)
            default = default + sup["source"].map(src_lead).to_numpy(float)
            lead = np.nan_to_num(np.where(np.isnan(lead), default, lead)).astype(np.int64)
            cal = Calendar(inst)
            for s, p, d, lag in zip(sup["source"], sup["product"], sup["day"], lead.tolist()):
                made = cal.ordinal(d) if d else m.first_day
                ready = made + lag - m.first_day
                if ready > H - 1:
                    starts.append((0, s, p, ready))
        held = {(h, p) for k, h, p, _ in starts if k == 0}
        wanted = {(r, p) for r in inst.regions["region"] for p in self.p_family}
        routes = routes_between(inst, held, wanted)
        lag = routes["transit_days"].fillna(0).to_numpy(float).astype(np.int64)
        out: dict[tuple, list] = {}
        for s, r, p, g in zip(routes["source"], routes["region"], routes["product"], lag.tolist()):
            out.setdefault((0, s, p), []).append((r, g))
        for (fr, to, p), (_, _, g) in _transfer_rows(inst).items():
            out.setdefault((1, fr, p), []).append((to, int(g)))
        result = []
        for in_window in (True, False):
            best: dict[tuple, float] = {}
            heap = []
            for k, h, p, t in starts:
                if in_window and t > H - 1:
                    continue
                if t < best.get((k, h, p), math.inf):
                    best[(k, h, p)] = t
                    heapq.heappush(heap, (t, k, h, p))
            while heap:
                t, k, h, p = heapq.heappop(heap)
                if t > best.get((k, h, p), math.inf):
                    continue
                for to, g in out.get((k, h, p), ()):
                    if t + g < best.get((1, to, p), math.inf):
                        best[(1, to, p)] = t + g
                        heapq.heappush(heap, (t + g, 1, to, p))
            result.append({(h, p): t for (k, h, p), t in best.items() if k == 1})
        result.append({p for _, _, p, _ in starts})
        return tuple(result)
