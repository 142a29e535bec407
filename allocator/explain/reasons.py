"""Why each shortfall: no supply, no route, outranked by named higher-weight demand,
shared with equal-weight demand, or route capacity full.

For a short demand row ``d`` the *reach* is every (source, product) that has a route to
``d``'s region and a product that may serve ``d`` (its family's own, or a substitute that
``substitutes.csv`` lets serve it). Where the reach's units went is read
off the plan: each shipment is attributed to the demand rows its hub served, pro rata.

All of it is computed on integer codes, once for all rows. The *flows* (each short row x
each (source, product) of its reach x each demand row that (source, product) served) can
be far too many to list at village scale, so they are listed only where a sum needs them
in its exact order of addition: where every unit count involved is a whole number, sums do
not depend on that order and come from prefix sums per (source, product) and weight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.inputs.instance import Instance
from allocator.inputs.reach import eligible_pairs, substitute_rows
from allocator.numbers import quantity_text
from allocator.plan.daily import group_sums, rows_sorted

__all__ = ["shortfall_reasons"]

_CHUNK = 4_000_000  # flows listed at a time
_EXACT = 2.0**53  # below this, sums of whole numbers are exact in any order


def shortfall_reasons(instance: Instance, model: FlowModel, x: np.ndarray, fill: pd.DataFrame) -> pd.Series:
    """A reason in words for every fill row with a shortfall (empty string otherwise)."""
    short_pos = np.flatnonzero((fill["shortfall"] > 1e-9).to_numpy())
    if len(short_pos) == 0:
        return pd.Series("", index=fill.index, dtype=object)
    demand = model.demand
    n_d = len(demand)
    weight = demand["weight"].to_numpy(float)
    d_region, d_family, d_use = (demand[c].to_numpy(object) for c in ("region", "family", "use"))
    short_d = _demand_rows(demand, fill)[short_pos]
    is_short = np.zeros(n_d, dtype=bool)
    is_short[short_d[short_d >= 0]] = True

    # Attribute each shipment to the demand rows its hub served.
    arcs = _arc_codes(model)
    ship_q = np.asarray(x[: model.n_ship], dtype=float)
    serve_q = np.asarray(x[model.n_ship : model.n_ship + model.n_serve], dtype=float)
    serve_d = model.serve["demand_idx"].to_numpy(np.int64)
    hub_total = _per_row(
        arcs.serve_hub,
        serve_q,
        rows_sorted(arcs.serve_hub, model.serve["region"].to_numpy(object), model.serve["product"].to_numpy(object)),
    )
    share = np.where(hub_total > 0, serve_q / np.where(hub_total > 0, hub_total, 1.0), 0.0)
    sent_ship = np.flatnonzero(ship_q > 0)
    sent_serve = np.flatnonzero(share > 0)
    li, rj = key_join(arcs.ship_hub[sent_ship], arcs.serve_hub[sent_serve])
    sent = _Sent(
        arcs.ship_sp[sent_ship[li]], serve_d[sent_serve[rj]], ship_q[sent_ship[li]] * share[sent_serve[rj]], arcs.n_sp
    )

    # The reach of each short row: ship arcs into its hubs for products that may serve it.
    wanted = np.flatnonzero(is_short[serve_d])
    hub_wanted = np.zeros(int(max(arcs.ship_hub.max(initial=-1), arcs.serve_hub.max(initial=-1))) + 1, dtype=bool)
    hub_wanted[arcs.serve_hub[wanted]] = True
    into = np.flatnonzero(hub_wanted[arcs.ship_hub])  # ship arcs into those hubs
    li, rj = key_join(arcs.serve_hub[wanted], arcs.ship_hub[into])
    reach_arc = into[rj]
    reach_d = serve_d[wanted[li]]
    n_sp = max(1, arcs.n_sp)
    key = reach_d * n_sp + arcs.ship_sp[reach_arc]
    first = np.sort(np.unique(key, return_index=True)[1]) if len(key) else np.zeros(0, dtype=np.int64)
    rd_d = reach_d[first]  # the (d, source, product) of the reach, each once, in order
    rd_sp = arcs.ship_sp[reach_arc[first]]

    # Units a row's own reach delivered to it, in the order of the flows.
    own_row, own_sent = key_join(rd_sp * n_d + rd_d, sent.sp * n_d + sent.to)
    own = _sums(rd_d[own_row], sent.units[own_sent], n_d)
    own_count = np.bincount(own_row, minlength=len(rd_d))

    # Units left at each (source, product) of the reach.
    supply_q = model.supply["quantity"].to_numpy(float)
    keep = arcs.ship_supply >= 0
    shipped = _sums(arcs.ship_supply[keep], ship_q[keep], len(supply_q), rows_sorted(arcs.sp_rank[arcs.ship_sp]))
    left_of_supply = supply_q - np.where(np.isnan(shipped), 0.0, shipped)
    row = arcs.sp_supply[rd_sp]
    left = _sums(rd_d[row >= 0], left_of_supply[row[row >= 0]], n_d)

    # Where the reach's units went: to higher-weight, equal-weight demand.
    equal_sum, higher = _destinations(weight, rd_d, rd_sp, own, own_count, sent)

    # Routes of the reach that are full.
    cap = model.ship["capacity"].to_numpy(float)[reach_arc]
    full_rows = np.flatnonzero(np.isfinite(cap) & (ship_q[reach_arc] >= cap - 1e-9))
    full: dict[int, list[str]] = {}
    if len(full_rows):
        names = arcs.sp_source[arcs.ship_sp[reach_arc[full_rows]]]
        for d_, name in zip(reach_d[full_rows].tolist(), names.tolist()):
            full.setdefault(d_, set()).add(name)
        full = {d_: sorted(s) for d_, s in full.items()}

    # Rows no supply or no route can reach.
    has_stock = np.isin(short_d, _stocked_labels(instance))
    reachable = np.zeros(n_d, dtype=bool)
    reachable[reach_d] = True
    region_name = dict(zip(instance.regions["region"].to_numpy(object), instance.regions["name"].to_numpy(object)))
    label: dict[int, str] = {}

    def named(t: int) -> str:
        if t not in label:
            label[t] = f"{region_name[d_region[t]]} {d_use[t]} (w {weight[t]:g})"
        return label[t]

    reasons = np.full(len(fill), "", dtype=object)
    for pos, d, stocked in zip(short_pos.tolist(), short_d.tolist(), has_stock.tolist()):
        family, use = d_family[d], d_use[d]
        grade = "ICU-grade " if use == "icu" else ""
        if not stocked:
            reasons[pos] = f"no {grade}{family} supply anywhere today"
            continue
        if d < 0 or not reachable[d]:
            where = region_name[d_region[d]]
            reasons[pos] = f"no route reaches {where} from any source of {grade}{family}"
            continue
        parts = []
        g = higher.get(d)
        if g is not None and g[0] > 0.5:
            total, top, count = g
            more = f" and {count - 3} more" if count > 3 else ""
            parts.append(
                f"outranked: {_n(total)} reachable units went to higher-weight demand in "
                f"{', '.join(named(t) for t in top)}{more}"
            )
        if equal_sum[d] > 0.5:
            parts.append(
                f"shared: {_n(equal_sum[d])} reachable units went to equal-weight demand, rationed to equal fill rates"
            )
        if d in full:
            parts.append(f"route capacity full from {', '.join(full[d][:3])}")
        if not parts:
            if not left[d] > 1e-9:
                parts.append(
                    f"not enough supply: all {_n(0.0 if np.isnan(own[d]) else own[d])} reachable "
                    f"{grade}units are delivered here"
                )
            else:
                parts.append(f"{_n(left[d])} reachable units left unshipped")
        reasons[pos] = "; ".join(parts)
    return pd.Series(reasons, index=fill.index, dtype=object)


class _Sent:
    """Shipments attributed to demand rows: (source, product) code, demand row, units; and the
    same sorted by (source, product) (keeping their order within one)."""

    def __init__(self, sp: np.ndarray, to: np.ndarray, units: np.ndarray, n_sp: int):
        self.sp, self.to, self.units, self.n_sp = sp, to, units, n_sp
        self.order = np.argsort(sp, kind="stable")
        bounds = np.searchsorted(sp[self.order], np.arange(n_sp + 1))
        self.lo, self.hi = bounds[:-1], bounds[1:]  # per (source, product): its run in ``order``

    def rows(self, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each given (source, product): (its position in the arguments, its shipments),
        in the order of a table join."""
        n = self.hi[sp] - self.lo[sp]
        li = np.repeat(np.arange(len(sp)), n)
        return li, self.order[np.repeat(self.lo[sp], n) + np.arange(len(li)) - np.repeat(np.cumsum(n) - n, n)]


class _Arcs:
    """Integer codes of the model's arcs: each ship arc's (source, product) and hub, each serve
    arc's hub; per (source, product) code its source id, its rank in (source, product) order
    and its row of ``model.supply`` (-1: none)."""

    def __init__(self, ship_sp, ship_hub, serve_hub, sp_source, sp_product, sp_supply):
        self.ship_sp = np.asarray(ship_sp, dtype=np.int64)
        self.ship_hub = np.asarray(ship_hub, dtype=np.int64)
        self.serve_hub = np.asarray(serve_hub, dtype=np.int64)
        self.sp_source = np.asarray(sp_source, dtype=object)
        self.sp_supply = np.asarray(sp_supply, dtype=np.int64)
        self.n_sp = len(self.sp_source)
        self.ship_supply = self.sp_supply[self.ship_sp] if len(self.ship_sp) else np.zeros(0, dtype=np.int64)
        order = sorted(range(self.n_sp), key=lambda i: (sp_source[i], sp_product[i]))
        self.sp_rank = np.empty(self.n_sp, dtype=np.int64)
        self.sp_rank[order] = np.arange(self.n_sp)


def _arc_codes(model: FlowModel) -> _Arcs:
    """From the model's matrix where it has the documented layout (a ship column's rows: its
    supply row, then its hub row; a serve column's: its hub row, then its demand row), else
    from the id columns."""
    n_ship, n_serve = model.n_ship, model.n_serve
    n_supply, n_hub = len(model.supply), len(model.hubs)
    supply_source = model.supply["source"].to_numpy(object)
    supply_product = model.supply["product"].to_numpy(object)
    try:
        start = np.asarray(model.start)
        index = np.asarray(model.index)
        cols = n_ship + n_serve
        if len(start) > cols and np.array_equal(start[: cols + 1], 2 * np.arange(cols + 1)):
            sup = index[0 : 2 * n_ship : 2]
            ship_hub = index[1 : 2 * n_ship : 2] - n_supply
            serve_hub = index[2 * n_ship : 2 * cols : 2] - n_supply
            serve_dem = index[2 * n_ship + 1 : 2 * cols : 2] - n_supply - n_hub
            if (
                ((sup >= 0) & (sup < n_supply)).all()
                and ((ship_hub >= 0) & (ship_hub < n_hub)).all()
                and ((serve_hub >= 0) & (serve_hub < n_hub)).all()
                and np.array_equal(serve_dem, model.serve["demand_idx"].to_numpy())
            ):
                return _Arcs(sup, ship_hub, serve_hub, supply_source, supply_product, np.arange(n_supply))
    except (AttributeError, IndexError, TypeError, ValueError):
        pass
    ship, serve = model.ship, model.serve
    region, _ = pd.factorize(np.concatenate([ship["region"].to_numpy(object), serve["region"].to_numpy(object)]))
    product, _ = pd.factorize(
        np.concatenate([ship["product"].to_numpy(object), serve["product"].to_numpy(object), supply_product])
    )
    source, _ = pd.factorize(np.concatenate([ship["source"].to_numpy(object), supply_source]))
    n_p = int(product.max()) + 1 if len(product) else 1
    hub, _ = pd.factorize(region.astype(np.int64) * n_p + product[: n_ship + n_serve])
    sp_codes, sp_keys = pd.factorize(
        source.astype(np.int64) * n_p + np.concatenate([product[:n_ship], product[n_ship + n_serve :]])
    )
    sp_source = np.empty(len(sp_keys), dtype=object)
    sp_product = np.empty(len(sp_keys), dtype=object)
    sp_source[sp_codes] = np.concatenate([ship["source"].to_numpy(object), supply_source])
    sp_product[sp_codes] = np.concatenate([ship["product"].to_numpy(object), supply_product])
    sp_supply = np.full(len(sp_keys), -1, dtype=np.int64)
    sup_codes = sp_codes[n_ship:]
    sp_supply[sup_codes[::-1]] = np.arange(len(sup_codes))[::-1]
    return _Arcs(sp_codes[:n_ship], hub[:n_ship], hub[n_ship:], sp_source, sp_product, sp_supply)


def _demand_rows(demand: pd.DataFrame, fill: pd.DataFrame) -> np.ndarray:
    """Position in ``demand`` of each fill row by (region, family, use); -1 where none."""
    n = len(demand)
    key = np.zeros(n + len(fill), dtype=np.int64)
    for col in ("region", "family", "use"):
        codes, distinct = pd.factorize(np.concatenate([demand[col].to_numpy(object), fill[col].to_numpy(object)]))
        key = np.where((key < 0) | (codes < 0), -1, key * max(1, len(distinct)) + codes)
    return pd.Index(key[:n]).get_indexer(key[n:]).astype(np.int64)


def key_join(left_key: np.ndarray, right_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inner join of two key arrays as pairs of positions (i, j) with equal keys, in the
    order of a table merge: left rows in order, each with its right rows in order."""
    order = np.argsort(right_key, kind="stable")
    rk = right_key[order]
    lo = np.searchsorted(rk, left_key, "left")
    n = np.searchsorted(rk, left_key, "right") - lo
    li = np.repeat(np.arange(len(left_key)), n)
    offset = np.arange(len(li)) - np.repeat(np.cumsum(n) - n, n)
    return li, order[np.repeat(lo, n) + offset]


def _sums(group: np.ndarray, values: np.ndarray, size: int, in_order: bool | None = None) -> np.ndarray:
    """``groupby(group).sum()`` as an array over group codes 0..size-1 (NaN: no row), added as
    pandas adds them; ``in_order``: whether the rows are in the order of their keys (default:
    of the codes)."""
    keys, sums = group_sums(group, values, rows_sorted(group) if in_order is None else in_order)
    out = np.full(size, np.nan)
    out[keys] = sums
    return out


def _per_row(group: np.ndarray, values: np.ndarray, in_order: bool) -> np.ndarray:
    """``groupby(group).transform("sum")``."""
    if len(group) == 0:
        return np.zeros(0)
    return _sums(group, values, int(group.max()) + 1, in_order)[group]


def _weight_classes(weight: np.ndarray):
    """The distinct weights in order; each row's class; per class the first class of higher
    weight and the range of classes of equal weight (``np.isclose``, as for the rows)."""
    levels, cls = np.unique(weight, return_inverse=True)
    k = len(levels)
    higher_from = np.searchsorted(levels, levels * (1 + 1e-12), side="right")
    eq_lo, eq_hi = np.arange(k), np.arange(k)
    for bound, step, stop in ((eq_lo, -1, 0), (eq_hi, 1, k - 1)):
        while True:
            can = bound != stop
            nxt = np.where(can, bound + step, bound)
            more = can & np.isclose(levels[nxt], levels, rtol=1e-12)
            if not more.any():
                break
            bound[more] = nxt[more]
    return levels, cls.reshape(-1), higher_from, eq_lo, eq_hi


def _destinations(
    weight: np.ndarray, rd_d: np.ndarray, rd_sp: np.ndarray, own: np.ndarray, own_count: np.ndarray, sent: _Sent
) -> tuple[np.ndarray, dict]:
    """Units of each short row's reach that went to equal-weight demand (other rows), and
    those that went to higher-weight demand: per row (total, top three rows, how many rows).

    The reach rows (``rd_d``, ``rd_sp``) each stand for the flows of one (source, product)'s
    shipments; ``own_count`` of them went to the row itself (``own``: their units per row)."""
    n_d = len(weight)
    equal_sum = np.zeros(n_d)
    higher: dict[int, tuple] = {}
    if len(rd_d) == 0 or len(sent.to) == 0:
        return equal_sum, higher
    if not np.isfinite(weight).all():
        _listed_flows(weight, rd_d, rd_sp, np.arange(len(rd_d)), sent, equal_sum, higher, None, None)
        return equal_sum, higher
    # Per reach row, its flows by weight class of the destination: runs of ``by_class``.
    levels, cls, higher_from, eq_lo, eq_hi = _weight_classes(weight)
    k = len(levels)
    key = sent.sp * k + cls[sent.to]
    by_class = np.argsort(key, kind="stable")
    skey = key[by_class]
    a = cls[rd_d]

    n_sp = max(1, sent.n_sp)
    if n_sp * (k + 1) <= 8_000_000:  # per (source, product) and class: where its run starts
        table = np.searchsorted(skey, np.arange(n_sp * k + 1), "left")

        def at(c):
            return table[rd_sp * k + c]
    else:

        def at(c):
            return np.searchsorted(skey, rd_sp * k + c, "left")

    end, h_from, e_lo, e_hi = at(k), at(higher_from[a]), at(eq_lo[a]), at(eq_hi[a] + 1)
    n_up, n_eq = end - h_from, e_hi - e_lo - own_count

    # Rows whose reach shipped whole units only: their sums are exact in any order.
    units = sent.units
    whole = np.isfinite(units) & (units >= 0) & (units == np.floor(units))
    whole_sp = np.ones(max(1, sent.n_sp), dtype=bool)
    whole_sp[sent.sp[~whole]] = False
    d_whole = np.ones(n_d, dtype=bool)
    d_whole[rd_d[~whole_sp[rd_sp]]] = False
    if not units[whole].sum() < _EXACT:
        d_whole[:] = False
    quick = d_whole[rd_d]
    if quick.any():
        cum = np.concatenate([[0.0], np.cumsum(np.where(whole[by_class], units[by_class], 0.0))])
        q = np.flatnonzero(quick)
        eq = np.bincount(rd_d[q], weights=cum[e_hi[q]] - cum[e_lo[q]], minlength=n_d)
        equal_sum = np.where(d_whole, eq - np.where(np.isnan(own), 0.0, own), 0.0)
        up_total = np.bincount(rd_d[q], weights=cum[end[q]] - cum[h_from[q]], minlength=n_d)
        named = q[(n_up[q] > 0) & (up_total[rd_d[q]] > 0.5)]
        for block in _blocks(rd_d[named], n_up[named]):
            rows = named[block]
            n = n_up[rows]
            pos = by_class[np.repeat(h_from[rows], n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
            keys, inv = np.unique(np.repeat(rd_d[rows], n) * n_d + sent.to[pos], return_inverse=True)
            _record_higher(
                higher, keys // n_d, keys % n_d, np.bincount(inv.reshape(-1), weights=units[pos]), whole=True
            )
    slow = np.flatnonzero(~quick)
    if len(slow):
        # pandas adds a group's units with reduceat where the whole table of such flows
        # is in key order, else row by row (compensated): find which, for both tables.
        eq_in_order = rows_sorted(rd_d[n_eq > 0])
        up_in_order = rows_sorted(rd_d[n_up > 0]) and _higher_in_order(weight, rd_d, rd_sp, n_up > 0, sent)
        _listed_flows(weight, rd_d, rd_sp, slow, sent, equal_sum, higher, eq_in_order, up_in_order)
    return equal_sum, higher


def _blocks(group: np.ndarray, sizes: np.ndarray):
    """Positions of rows, in order, a block at a time: every row of a group in the same block,
    and about ``_CHUNK`` flows (``sizes``) in a block."""
    if len(group) == 0:
        return
    if sizes.sum() <= _CHUNK:
        yield np.arange(len(group))
        return
    order = np.argsort(group, kind="stable")
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    cum = np.cumsum(np.add.reduceat(sizes[order], starts))
    lo = 0
    while lo < len(starts):
        base = cum[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cum, base + _CHUNK, "right")))
        yield np.sort(order[starts[lo] : starts[hi] if hi < len(starts) else len(g)])
        lo = hi


def _higher_in_order(weight, rd_d, rd_sp, has_up, sent) -> bool:
    """Whether the flows to higher-weight rows, listed in join order, are in (row, destination) order."""
    n_d = len(weight)
    rows = np.flatnonzero(has_up)
    sizes = sent.hi[rd_sp[rows]] - sent.lo[rd_sp[rows]]
    cum = np.cumsum(sizes)
    last, lo = -1, 0
    while lo < len(rows):
        base = cum[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cum, base + _CHUNK, "right")))
        li, pos = sent.rows(rd_sp[rows[lo:hi]])
        d, to = rd_d[rows[lo:hi]][li], sent.to[pos]
        key = (d * n_d + to)[weight[to] > weight[d] * (1 + 1e-12)]
        if len(key):
            if key[0] < last or (np.diff(key) < 0).any():
                return False
            last = key[-1]
        lo = hi
    return True


def _listed_flows(weight, rd_d, rd_sp, rows, sent, equal_sum, higher, eq_in_order, up_in_order) -> None:
    """The flows of some reach rows listed in the order of the table join (reach rows in
    order, each with its (source, product)'s shipments in order), a block of short rows at a
    time, and their sums added as pandas adds them. ``None``: find the order from the listing
    (then all in one block)."""
    n_d = len(weight)
    n = sent.hi[rd_sp[rows]] - sent.lo[rd_sp[rows]]
    blocks = _blocks(rd_d[rows], n) if eq_in_order is not None else [np.arange(len(rows))]
    for block in blocks:
        mine = rows[block]
        li, pos = sent.rows(rd_sp[mine])
        d, to, units = rd_d[mine][li], sent.to[pos], sent.units[pos]
        w_to, w_d = weight[to], weight[d]
        up = w_to > w_d * (1 + 1e-12)
        equal = np.isclose(w_to, w_d, rtol=1e-12) & (to != d)
        key = d[up] * n_d + to[up]
        keys, sums = group_sums(d[equal], units[equal], rows_sorted(d[equal]) if eq_in_order is None else eq_in_order)
        equal_sum[keys] = sums
        keys, sums = group_sums(key, units[up], rows_sorted(key) if up_in_order is None else up_in_order)
        _record_higher(higher, keys // n_d, keys % n_d, sums)


def _record_higher(higher: dict, d: np.ndarray, to: np.ndarray, units: np.ndarray, whole: bool = False) -> None:
    """Units per (short row, higher-weight destination): record per short row its total, the
    three destinations that got most and how many got some (as ``higher_by`` sorted, and its
    total as ``Series.sum`` adds it; ``whole``: whole numbers, exact in any order)."""
    order = np.lexsort((to, -units, d))
    d, to, units = d[order], to[order], np.ascontiguousarray(units[order])
    if len(d) == 0:
        return
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    ends = np.r_[starts[1:], len(d)].astype(np.int64)
    if whole:
        totals = np.add.reduceat(units, starts).tolist()
    else:
        totals = [units[s:e].sum() for s, e in zip(starts.tolist(), ends.tolist())]
    to_list = to.tolist()
    for s, e, total, row in zip(starts.tolist(), ends.tolist(), totals, d[starts].tolist()):
        higher[row] = (total, to_list[s : min(e, s + 3)], e - s)


def _stocked_labels(instance: Instance) -> np.ndarray:
    """Labels of the demand rows some product in stock may serve."""
    demand = instance.demand
    products = instance.products
    stock = instance.supply.groupby("product")["quantity"].sum()
    if len(substitute_rows(instance)):  # a substitute in stock counts too
        pairs = eligible_pairs(instance)
        stocked = pairs["product"].map(stock).fillna(0.0).to_numpy(float) > 0
        return demand.index.to_numpy()[np.unique(pairs["demand_idx"].to_numpy()[stocked])]
    in_stock = products["product"].map(stock).fillna(0.0).to_numpy(float) > 0
    grade = products["grade"].to_numpy(object)
    allow = instance.policy.icu_grade_for_general
    fam_use = pd.MultiIndex.from_arrays([demand["family"].to_numpy(object), demand["use"].to_numpy(object)])
    combos = fam_use.unique()
    p_family = products["family"].to_numpy(object)
    ok_combo = np.zeros(len(combos), dtype=bool)
    for k, (family, use) in enumerate(combos):
        mine = p_family == family
        ok = (grade == use) | ((grade == "icu") & (use == "general") & allow)
        ok_combo[k] = bool((mine & ok & in_stock).any())
    return demand.index.to_numpy()[ok_combo[combos.get_indexer(fam_use)]]


def _n(x: float) -> str:
    return quantity_text(x, 2)
