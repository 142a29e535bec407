"""Why the plan is what it is, when side constraints hold it: values and accounts by re-solving.

``why`` reads the network's residual graph; with shared capacity, commitments, lots or
destination limits that graph no longer describes what the plan may change, so here every
figure is established by solving the stage-1 problem (least weighted shortfall, with every
side row; over whole units when the plan needed the MIP) once more with one change:

- **marginal values** (the tables of ``why.marginal_values``): for each supply row, one more
  unit at the source; for each (region, product) hub, one more unit arriving there. ``value``
  is ``W* - W*'``: exactly what that one unit saves, in weighted shortfall (for a divisible
  product, what one more unit saves, not a derivative).
- **source accounts** (the tables of ``why.source_accounts``): ``total`` and ``sent`` lines as
  there (the plan's flows); a ``not_sent`` line for every route from the source to a hub with
  a short row that carries nothing, is at its bound, is stopped by a side limit, or comes
  from a source with units left, with the true reason: ``designated``
  (a designated pairing closes it), ``capacity`` (the route is full), ``side_limit`` (a full
  shared capacity or a destination limit, named; or, found by the re-solve, one more unit
  there breaks a hard row), ``higher_weight`` (one more unit there raises the least weighted
  shortfall: the source's units, or the room a full shared capacity or destination limit
  leaves, do more good where they go; the reason names the full limit) or ``equal_weight``
  (it does not: the fair-share or cost stage chose). Every code but ``higher_weight`` and
  ``equal_weight`` means no plan can send one more unit there.

Each figure costs one solve, so the tables are made only while there are at most
``MAX_SOLVES`` of them (``MAX_SOLVES_MIP`` for a MIP); past that they are skipped and the
summary says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.build.side import SideModel
from allocator.engine.backends import Status, make_lp
from allocator.explain.limits import blocked_arcs
from allocator.explain.values import ACCOUNT_COLUMNS, MARGINAL_COLUMNS, source_accounts
from allocator.inputs.instance import Instance
from allocator.numbers import figure_text

__all__ = ["MAX_SOLVES", "MAX_SOLVES_MIP", "SIDE_ACCOUNT_CODES", "side_value_tables"]

_n = figure_text  # numbers in messages: allocator.numbers' rule for figures

MAX_SOLVES = 2000
MAX_SOLVES_MIP = 200
SIDE_ACCOUNT_CODES = {
    "designated": "a designated pairing closes the route (commitments.csv)",
    "side_limit": "no plan can send one more unit: a lot larger than the route carries, or a hard row it would break",
    "equal_weight": "one more unit here costs no weighted shortfall: the fair-share or cost stage chose",
}
_TOL = 1e-6


def side_value_tables(
    instance: Instance, model: SideModel, x: np.ndarray, whole: bool
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
    """``(marginal, accounts, note)``; both tables None (and ``note`` says why) when they
    would take more than the solve budget. ``x``: the plan (the flow model's columns, then
    the binaries are re-derived by the solves); ``whole``: solve over whole units (MIP)."""
    flow = model.flow
    x = np.asarray(x, float)[: flow.n_cols]
    candidates = _not_sent_arcs(model, x, set(blocked_arcs(model, x)))
    n_solves = len(flow.supply) + len(flow.hubs) + len(candidates)
    budget = MAX_SOLVES_MIP if whole else MAX_SOLVES
    if n_solves > budget:
        return (
            None,
            None,
            (
                f"not computed: {n_solves:,} re-solves with side constraints, more than "
                f"{budget:,} ({'MIP' if whole else 'LP'})"
            ),
        )
    lp = make_lp(
        "highs",
        col_lower=model.col_lower,
        col_upper=model.col_upper,
        row_lower=model.row_lower,
        row_upper=model.row_upper,
        start=model.start,
        index=model.index,
        value=model.value,
    )
    if whole:
        lp.set_integer(np.flatnonzero(model.countable_cols()))
    lp.set_costs(model.cost_vector("shortfall"))

    def least() -> float:
        r = lp.solve()
        if r.status is Status.INFEASIBLE:
            return np.inf
        if r.status is not Status.OPTIMAL:
            from allocator.errors import SolverError

            raise SolverError(f"explaining the plan: the solver stopped with status {r.status.value}")
        return float(r.objective)

    w_star = least()
    # Marginal values: one more unit at each supply row, then at each hub.
    ns, nh = len(flow.supply), len(flow.hubs)
    source_value = np.zeros(ns)
    sup_of_arc = flow.index[0 : 2 * flow.n_ship : 2].astype(np.int64)
    m_arc = model.big_m["arc"].to_numpy(np.int64)
    for k in range(ns):
        # One more unit at the source; where U_a is the source's supply, it grows by one too.
        q = model.row_upper[k]
        grow = np.flatnonzero((sup_of_arc[m_arc] == k) & (model.most[m_arc] >= q - _TOL))
        new_u = np.minimum(flow.col_upper[m_arc[grow]], q + 1.0)
        for j, u in zip(grow, new_u):
            lp.set_coefficient(model.big_m["lp_row"].iloc[j], model.big_m["col"].iloc[j], -u)
        lp.set_row_bounds([k], -np.inf, q + 1.0)
        source_value[k] = w_star - least()
        lp.set_row_bounds([k], model.row_lower[k], model.row_upper[k])
        for j in grow:
            lp.set_coefficient(model.big_m["lp_row"].iloc[j], model.big_m["col"].iloc[j], -model.most[m_arc[j]])
    hub_value = np.zeros(nh)
    for h in range(nh):
        lp.set_row_bounds([ns + h], -1.0, -1.0)  # ship in - serve out = -1: a unit arrives
        hub_value[h] = w_star - least()
        lp.set_row_bounds([ns + h], 0.0, 0.0)
    family = instance.products.set_index("product")["family"]
    regions = pd.DataFrame(
        {
            "kind": "region",
            "region": flow.hubs["region"].to_numpy(object),
            "source": "",
            "product": flow.hubs["product"].to_numpy(object),
            "value": _clean(hub_value),
        }
    )
    sources = pd.DataFrame(
        {
            "kind": "source",
            "region": "",
            "source": flow.supply["source"].to_numpy(object),
            "product": flow.supply["product"].to_numpy(object),
            "value": _clean(source_value),
        }
    )
    marginal = pd.concat(
        [regions.sort_values(["region", "product"]), sources.sort_values(["source", "product"])], ignore_index=True
    )
    marginal["family"] = marginal["product"].map(family).to_numpy(object)
    marginal["to_region"], marginal["to_use"], marginal["to_shortfall"] = "", "", np.nan
    marginal["detail"] = np.where(
        marginal["value"] > 0,
        "one more unit lowers the least weighted shortfall by this much (re-solved with the side constraints)",
        "nothing: one more unit here saves no weighted shortfall (re-solved with the side constraints)",
    )
    marginal = marginal[MARGINAL_COLUMNS]

    # Accounts: the plan's flows (sent lines), and a true reason for each route not used.
    base = source_accounts(instance, flow, x)
    sent = base.loc[base["line"] == "sent"]
    blocked = blocked_arcs(model, x)
    lines = []
    col_lo = model.col_lower.copy()
    lot = flow.ship["product"].map(instance.products.set_index("product")["min_lot"]).to_numpy(float)
    sup_row = flow.index[0 : 2 * flow.n_ship : 2].astype(np.int64)
    most = np.minimum(flow.col_upper[: flow.n_ship], flow.row_upper[sup_row])
    for a, d in candidates:
        s, r, p = flow.ship["source"].iloc[a], flow.ship["region"].iloc[a], flow.ship["product"].iloc[a]
        row = flow.demand.iloc[d]
        closed = model.col_upper[a] <= 0 < flow.col_upper[a]
        if closed:
            why, reason = "designated", "; ".join(blocked.get(a, [SIDE_ACCOUNT_CODES["designated"]]))
        elif x[a] >= flow.col_upper[a] - _TOL:
            why, reason = "capacity", f"the route carries its capacity, {_n(flow.col_upper[a])}"
        elif x[a] <= 0 and most[a] < lot[a]:
            why, reason = (
                "side_limit",
                (
                    f"the minimum lot of {_n(lot[a])} {p} is more than the route can carry "
                    f"({_n(most[a])}: its capacity or the source's supply)"
                ),
            )
        else:
            lp.set_col_bounds([a], x[a] + 1.0, model.col_upper[a])
            w = least()
            lp.set_col_bounds([a], col_lo[a], model.col_upper[a])
            limits = "; ".join(blocked.get(a, []))
            if not np.isfinite(w):
                why, reason = (
                    "side_limit",
                    limits
                    or "one more unit here breaks a hard row (a commitment, a shared "
                    "capacity, a lot or a destination limit)",
                )
            elif w > w_star + _TOL * max(1.0, abs(w_star)):
                why, reason = (
                    "higher_weight",
                    ((limits + ": ") if limits else "")
                    + (
                        f"one more unit here raises the least weighted shortfall by {_n(w - w_star)}: "
                        "the units (or the room) go where they save more"
                    ),
                )
            else:
                why = "equal_weight"
                reason = ((limits + ": ") if limits else "") + SIDE_ACCOUNT_CODES["equal_weight"]
        lines.append(
            {
                "source": s,
                "product": p,
                "line": "not_sent",
                "region": r,
                "use": row["use"],
                "weight": float(row["weight"]),
                "quantity": float(x[a]),
                "shortfall": np.nan,
                "unit_cost": float(flow.ship["cost"].iloc[a]),
                "why": why,
                "reason": reason,
                "_d": d,
            }
        )
    not_sent = pd.DataFrame(lines, columns=ACCOUNT_COLUMNS + ["_d"])
    if len(not_sent):
        short = _shortfall(flow, x)
        not_sent["shortfall"] = short[not_sent["_d"].to_numpy(np.int64)]
    not_sent = not_sent.drop(columns="_d")
    totals = _totals(instance, flow, x, not_sent)
    accounts = pd.concat([totals, sent, not_sent], ignore_index=True)
    order = {"total": 0, "sent": 1, "not_sent": 2}
    accounts = (
        accounts.assign(_o=accounts["line"].map(order))
        .sort_values(["source", "product", "_o", "region", "use"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    return marginal, accounts[ACCOUNT_COLUMNS], f"{n_solves:,} re-solves ({'MIP' if whole else 'LP'})"


def _shortfall(flow, x: np.ndarray) -> np.ndarray:
    return x[flow.n_ship + flow.n_serve :]


def _not_sent_arcs(model: SideModel, x: np.ndarray, blocked: set[int]) -> list[tuple[int, int]]:
    """Routes into a hub with a short row that carry nothing, are at their bound, are stopped
    by a side limit, or come from a source with units left, with the highest-weight short row
    there: ``(ship arc, demand row)``."""
    flow = model.flow
    n_ship = flow.n_ship
    short = _shortfall(flow, x) > _TOL
    weight = flow.demand["weight"].to_numpy(float)
    serve_hub = flow.hub_of("serve")
    serve_dem = flow.serve["demand_idx"].to_numpy(np.int64)
    best = np.full(len(flow.hubs), -1, dtype=np.int64)
    for h, d in zip(serve_hub, serve_dem):
        if short[d] and (best[h] < 0 or weight[d] > weight[best[h]]):
            best[h] = d
    ship_hub = flow.hub_of("ship")
    at_bound = (x[:n_ship] <= _TOL) | (
        x[:n_ship] >= np.minimum(flow.col_upper[:n_ship], model.col_upper[:n_ship]) - _TOL
    )
    sup_row = flow.index[0 : 2 * n_ship : 2].astype(np.int64)
    left = flow.row_upper[: len(flow.supply)] - np.bincount(sup_row, weights=x[:n_ship], minlength=len(flow.supply))
    stopped = np.zeros(n_ship, dtype=bool)
    stopped[list(blocked)] = True
    arcs = np.flatnonzero((at_bound | stopped | (left[sup_row] > _TOL)) & (best[ship_hub] >= 0))
    return [(int(a), int(best[ship_hub[a]])) for a in arcs]


def _totals(instance: Instance, flow, x: np.ndarray, not_sent: pd.DataFrame) -> pd.DataFrame:
    """One total line per supply row: shipped, and why units are left."""
    n_ship = flow.n_ship
    sup_row = flow.index[0 : 2 * n_ship : 2].astype(np.int64)
    shipped = np.bincount(sup_row, weights=x[:n_ship], minlength=len(flow.supply))
    rows = []
    for k, (s, p, q) in enumerate(flow.supply[["source", "product", "quantity"]].itertuples(index=False)):
        left = q - shipped[k]
        if left <= _TOL:
            why, reason = "all_shipped", f"all {_n(q)} units shipped"
        else:
            mine = not_sent.loc[(not_sent["source"] == s) & (not_sent["product"] == p)]
            if len(mine):
                found = set(mine["why"])
                codes = ", ".join(f"{c} ({n})" for c, n in mine["why"].value_counts().sort_index().items())
                why = (
                    "equal_weight"
                    if "equal_weight" in found
                    else "higher_weight"
                    if "higher_weight" in found
                    else "side_limit"
                )
                reason = f"{_n(left)} of {_n(q)} units left; its routes to short rows: {codes} (not_sent lines)"
            else:
                why, reason = (
                    "all_served",
                    (f"{_n(left)} of {_n(q)} units left: no route to a row still short that the product may serve"),
                )
        rows.append(
            {
                "source": s,
                "product": p,
                "line": "total",
                "region": "",
                "use": "",
                "weight": np.nan,
                "quantity": float(shipped[k]),
                "shortfall": np.nan,
                "unit_cost": np.nan,
                "why": why,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=ACCOUNT_COLUMNS)


def _clean(v: np.ndarray) -> np.ndarray:
    v = np.where(np.abs(v) < 1e-9, 0.0, v)
    return np.round(v, 9)
