"""Why a short row stays short under side constraints: the binding rows that stop more units.

``explain.shortfall_reasons`` reads the network (no supply, no route, outranked, route
full). With side constraints a unit can also be stopped by a shared capacity that is full,
a designated pairing that closes the route, or a source at its destination limit. For each
short demand row this names every such limit on a route that could bring it more units: a
ship arc into a hub whose product may serve the row, that is

- on a ``capacity.csv`` row with no room left for one more unit of its product (any more,
  for a divisible product; to 1e-6 of the capacity),
- closed by a designated pairing (``commitments.csv``), or
- from a source at its ``max_destinations`` that does not ship to the row's region.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.build.side import SideModel

__all__ = ["blocked_arcs", "side_limits"]

_SHOW = 3


def side_limits(model: SideModel, x: np.ndarray, short_rows: np.ndarray) -> list[str]:
    """Per demand row of ``short_rows`` (positions in ``model.demand``): the binding side
    limits on its routes, in words ("" when none)."""
    flow = model.flow
    blocked = blocked_arcs(model, x)
    out = []
    if not blocked:
        return ["" for _ in short_rows]
    arcs = np.array(sorted(blocked), dtype=np.int64)
    hub_of_arc = flow.hub_of("ship")[arcs]
    serve_hub = flow.hub_of("serve")
    serve_dem = flow.serve["demand_idx"].to_numpy(np.int64)
    for d in short_rows:
        hubs = serve_hub[serve_dem == d]
        found: list[str] = []
        for a in arcs[np.isin(hub_of_arc, hubs)]:
            for text in blocked[int(a)]:
                if text not in found:
                    found.append(text)
        more = f" and {len(found) - _SHOW} more" if len(found) > _SHOW else ""
        out.append("; ".join(found[:_SHOW]) + more)
    return out


def blocked_arcs(model: SideModel, x: np.ndarray) -> dict[int, list[str]]:
    """The ship arcs (positions in ``model.flow.ship``) a binding side limit stops from carrying
    one more unit, each with the limits in words."""
    flow = model.flow
    n_ship, n_flow = flow.n_ship, flow.n_cols
    x = np.asarray(x, float)[:n_flow]
    blocked: dict[int, list[str]] = {}  # ship arc -> limits

    # Shared capacity rows the plan fills.
    rows = model.rows.loc[model.rows["kind"] == "capacity"]
    if len(rows):
        col = np.repeat(np.arange(model.n_cols), np.diff(model.start))
        lp_rows = rows["lp_row"].to_numpy(np.int64)
        on = np.isin(model.index, lp_rows) & (col < n_ship)
        activity = pd.Series(model.value[on] * x[col[on]]).groupby(model.index[on]).sum()
        countable = flow.ship["countable"].to_numpy(bool)
        for lp_row, line, what in zip(lp_rows, rows["line"], rows["what"]):
            cap = model.row_upper[lp_row]
            room = cap - activity.get(lp_row, 0.0)
            here = on & (model.index == lp_row)
            # Full for an arc when one more unit of its product (a countable one) or any more
            # (a divisible one) does not fit.
            for a, size in zip(col[here], model.value[here]):
                tol = 1e-6 * max(1.0, abs(cap))
                if (room < size - tol) if countable[a] else (room <= tol):
                    blocked.setdefault(int(a), []).append(f"capacity.csv row {line} full ({what})")
    # Designated pairings.
    for a, lines in zip(model.closed["arc"], model.closed["lines"]):
        src = flow.ship["source"].iloc[a]
        blocked.setdefault(int(a), []).append(
            f"{src} designated to other regions (commitments.csv row {', '.join(map(str, lines))})"
        )
    # Sources at their destination limit.
    limit = model.rows.loc[model.rows["kind"] == "destinations"]
    if len(limit):
        ship = flow.ship
        sent = ship.loc[x[:n_ship] > 0, ["source", "region"]].drop_duplicates()
        count = sent.groupby("source").size()
        served = set(zip(sent["source"], sent["region"]))
        for lp_row, line, what in zip(limit["lp_row"], limit["line"], limit["what"]):
            s, k = what.split(" ships to at most ")[0], model.row_upper[lp_row]
            if count.get(s, 0) >= k:
                for a in np.flatnonzero((ship["source"] == s).to_numpy()):
                    if (s, ship["region"].iloc[a]) not in served:
                        blocked.setdefault(int(a), []).append(
                            f"{s} at its limit of {int(k)} destinations (sources.csv row {line})"
                        )
    return blocked
