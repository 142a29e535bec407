"""Why the hard constraints cannot all hold: the smallest set of conflicting input rows.

Commitments (contract minimums, designated pairings) are the only rows that force
something to be shipped; everything else in the daily model is an upper limit (supply,
route and shared capacity, demand as a ceiling on deliveries, lot sizes, destination
limits), and shipping nothing meets all of those. So a plan fails to exist exactly when
commitments ask for more than those limits allow.

The conflicting rows are found by the deletion filter (Chinneck & Dravnieks, "Locating
minimal infeasible constraint sets in linear programs", ORSA J. Computing 3(2), 1991):
each input row is a *candidate* that can be relaxed (its limit dropped); candidates are
relaxed one at a time and stay relaxed whenever the model stays infeasible without them.
What is left is *irreducible*: infeasible, and feasible as soon as any one of its rows is
dropped (the tests check both). A first pass relaxes whole tables at once, so that only
the tables in the conflict cost a solve per row. When the LP relaxation is feasible but no
whole-unit plan is (a lot size, a destination limit, a capacity in pallets), the same
filter runs with the mixed-integer feasibility problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.build.side import SideModel
from allocator.engine.backends import Status, make_lp
from allocator.inputs.instance import Instance
from allocator.numbers import figure_text

__all__ = ["CONFLICT_COLUMNS", "find_conflicts"]

_n = figure_text  # numbers in messages: allocator.numbers' rule for figures

CONFLICT_COLUMNS = ["file", "line", "column", "what"]


@dataclass
class _Candidate:
    file: str
    line: int
    column: str
    what: str
    rows: np.ndarray  # model rows whose bounds the candidate sets
    row_relaxed: tuple[np.ndarray, np.ndarray]  # their bounds without it
    cols: np.ndarray  # model columns whose bounds the candidate sets
    col_relaxed: tuple[np.ndarray, np.ndarray]  # their bounds without it


def find_conflicts(instance: Instance, model: SideModel) -> pd.DataFrame | None:
    """``None`` when a plan meets every hard row; else the irreducible conflicting rows (``CONFLICT_COLUMNS``)."""
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
    lp.set_costs(np.zeros(model.n_cols))
    if _feasible(lp):
        if not _needs_whole_check(model):
            return None
        lp.set_integer(np.flatnonzero(model.countable_cols()))
        if _feasible(lp):
            return None
    candidates = _candidates(instance, model)
    row_lo, row_hi = model.row_lower.copy(), model.row_upper.copy()
    col_lo, col_hi = model.col_lower.copy(), model.col_upper.copy()
    relaxed = np.zeros(len(candidates), dtype=bool)

    def apply() -> None:
        """Set the bounds of every candidate's rows and columns to the current relaxation."""
        lo, hi, down, up = row_lo.copy(), row_hi.copy(), col_lo.copy(), col_hi.copy()
        for k in np.flatnonzero(relaxed):  # relaxing only widens: apply every relaxed candidate
            c = candidates[k]
            lo[c.rows] = np.minimum(lo[c.rows], c.row_relaxed[0])
            hi[c.rows] = np.maximum(hi[c.rows], c.row_relaxed[1])
            down[c.cols] = np.minimum(down[c.cols], c.col_relaxed[0])
            up[c.cols] = np.maximum(up[c.cols], c.col_relaxed[1])
        lp.set_row_bounds(touched_rows, lo[touched_rows], hi[touched_rows])
        lp.set_col_bounds(touched_cols, down[touched_cols], up[touched_cols])

    touched_rows = np.unique(np.concatenate([c.rows for c in candidates] + [np.zeros(0, np.int64)]))
    touched_cols = np.unique(np.concatenate([c.cols for c in candidates] + [np.zeros(0, np.int64)]))
    # Whole tables first: a table whose rows can all go without restoring feasibility is out.
    files = list(dict.fromkeys(c.file for c in candidates))
    for file in files:
        members = np.array([c.file == file for c in candidates])
        relaxed[members & ~relaxed] = True
        apply()
        if _feasible(lp):
            relaxed[members] = False
    # Then row by row, in the same order.
    for k in range(len(candidates)):
        if relaxed[k]:
            continue
        relaxed[k] = True
        apply()
        if _feasible(lp):
            relaxed[k] = False
    kept = [c for k, c in enumerate(candidates) if not relaxed[k]]
    return pd.DataFrame(
        {
            "file": [c.file for c in kept],
            "line": np.array([c.line for c in kept], dtype=np.int64),
            "column": [c.column for c in kept],
            "what": [c.what for c in kept],
        },
        columns=CONFLICT_COLUMNS,
    )


def _feasible(lp) -> bool:
    r = lp.solve()
    if r.status is Status.OPTIMAL:
        return True
    if r.status is Status.INFEASIBLE:
        return False
    from allocator.errors import SolverError

    msg = f"checking whether the commitments can all hold: the solver stopped with status {r.status.value}"
    raise SolverError(msg)


def _needs_whole_check(model: SideModel) -> bool:
    """Whether an LP-feasible model might still have no whole-unit plan: yes/no choices, or a
    side row with a fractional coefficient on a countable column."""
    if model.is_mip:
        return True
    side = np.isin(model.index, model.rows["lp_row"].to_numpy(np.int64))
    return bool(np.any(side & (model.value != np.round(model.value))))


def _candidates(instance: Instance, model: SideModel) -> list[_Candidate]:
    """Every input row that limits the plan, in the order the filter tries to drop them: the
    limits first (supply, demand, routes, shared capacity, lots, destinations), the rows that
    force shipments last, so that the conflict is stated in terms of the commitments."""
    flow = model.flow
    out: list[_Candidate] = []
    none_rows, none_cols = np.zeros(0, np.int64), np.zeros(0, np.int64)
    empty = (np.zeros(0), np.zeros(0))

    def rows_only(file, line, column, what, rows, lo, hi):
        out.append(
            _Candidate(
                file,
                int(line),
                column,
                what,
                np.asarray(rows, np.int64),
                (np.asarray(lo, float), np.asarray(hi, float)),
                none_cols,
                empty,
            )
        )

    # Supply rows: at most what the source has.
    sup_line = instance.supply.set_index(["source", "product"])["_row"]
    lines = sup_line.reindex(pd.MultiIndex.from_frame(flow.supply[["source", "product"]])).to_numpy(np.int64)
    for k, (s, p, q) in enumerate(flow.supply[["source", "product", "quantity"]].itertuples(index=False)):
        rows_only("supply.csv", lines[k], "quantity", f"{s} has {_n(q)} {p}", [k], [-np.inf], [np.inf])
    # Demand rows: nothing delivered beyond demand. Relaxed, the short column may go below 0.
    short = flow.short_cols
    for k, (region, family, use, quantity, line) in enumerate(
        flow.demand[["region", "family", "use", "quantity", "_row"]].itertuples(index=False)
    ):
        out.append(
            _Candidate(
                "demand.csv",
                int(line),
                "quantity",
                f"{region} needs {_n(quantity)} {family} ({use})",
                none_rows,
                empty,
                np.array([short[k]]),
                (np.array([-np.inf]), np.array([quantity])),
            )
        )
    # Route capacities.
    if instance.routes is not None:
        cap = flow.ship["capacity"].to_numpy(float)
        route = flow.ship["route"].to_numpy(np.int64)
        limited = np.flatnonzero(np.isfinite(cap) & (route >= 0))
        closed = set(model.closed["arc"].tolist())
        for r in np.unique(route[limited]):
            arcs = limited[route[limited] == r]
            arcs = np.array([a for a in arcs if a not in closed], dtype=np.int64)
            if len(arcs):
                rec = instance.routes.iloc[r]
                out.append(
                    _Candidate(
                        "routes.csv",
                        int(rec["_row"]),
                        "capacity",
                        f"route {rec['source']} -> {rec['region']} carries at most {_n(rec['capacity'])}",
                        none_rows,
                        empty,
                        arcs,
                        (np.zeros(len(arcs)), np.full(len(arcs), np.inf)),
                    )
                )
    side = model.rows
    for kind, file, column, lo, hi in (
        ("capacity", "capacity.csv", "capacity", False, True),
        ("lot_min", "products.csv", "min_lot", True, False),
        ("destinations", "sources.csv", "max_destinations", False, True),
    ):
        part = side.loc[side["kind"] == kind]
        for line, group in part.groupby("line", sort=True):
            rows = group["lp_row"].to_numpy(np.int64)
            what = group["what"].iloc[0] if kind != "lot_min" else group["what"].iloc[0].split(": ", 1)[1]
            if kind == "lot_min":
                # Routes that cannot carry one whole lot (their capacity or the source's supply is less).
                n_lot = int((side["kind"] == "lot_max").sum())  # lot_min row j + n_lot pairs lot_max row j
                m = model.big_m.loc[model.big_m["lp_row"].isin(group["lp_row"] - n_lot)]
                lot = float(what.rsplit(" ", 1)[1].replace(",", ""))
                small = m.loc[model.most[m["arc"].to_numpy(np.int64)] < lot, "arc"].to_numpy(np.int64)
                if len(small):
                    ship = flow.ship
                    shown = ", ".join(
                        f"{ship['source'].iloc[a]} -> {ship['region'].iloc[a]} at most {_n(model.most[a])}"
                        for a in small[:3]
                    )
                    what += f" (more than some routes can carry: {shown}{' ...' if len(small) > 3 else ''})"
            rows_only(
                file,
                line,
                column,
                what,
                rows,
                np.where(lo, -np.inf, model.row_lower[rows]),
                np.where(hi, np.inf, model.row_upper[rows]),
            )
    # Designated pairings: the arcs they close, per set of commitments.csv lines.
    if len(model.closed):
        arcs = model.closed["arc"].to_numpy(np.int64)
        cap = flow.col_upper[arcs]
        for lines, group in model.closed.groupby("lines", sort=True):
            pos = group.index.to_numpy()
            src = flow.ship["source"].iloc[arcs[pos[0]]]
            what = f"{src} is designated to its paired regions only (lines {', '.join(map(str, lines))})"
            out.append(
                _Candidate(
                    "commitments.csv",
                    int(lines[0]),
                    "kind",
                    what,
                    none_rows,
                    empty,
                    arcs[pos],
                    (np.zeros(len(pos)), cap[pos]),
                )
            )
    # Contract minimums.
    part = side.loc[side["kind"] == "commitment"]
    for line, row, what in zip(part["line"], part["lp_row"], part["what"]):
        rows_only("commitments.csv", line, "minimum", what, [row], [-np.inf], [np.inf])
    return out
