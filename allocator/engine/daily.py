"""Solve: choose the engine per part of the model, run it, put the parts back together.

Product families share nothing (no supply, hub, route or demand row), so each family's
part of the model has its own lexicographic optimum and the whole optimum is their
union; families linked by a substitute (``substitutes.csv``) share supply and stay in one
part. The parts (``family_groups``) go to the network engine (``netflow``: exact integer
flows, OR-Tools); a part it cannot hold exactly (more than 6 decimals, 64-bit overflow)
goes to the LP engine (``lexicographic``: HiGHS simplex).

``solver``: ``auto`` (that choice), ``network`` (every family on the network engine, an
error if one does not fit) or ``highs`` (every family on the LP engine).
"""

from __future__ import annotations

import numpy as np

from allocator.build.daily import FlowModel, family_components, partition
from allocator.engine.lp import solve_lexicographic
from allocator.engine.types import Deadline, Method, StagedSolution, Status
from allocator.errors import SolverError, UsageError

__all__ = ["PART_COLUMNS", "SOLVERS", "family_groups", "solve_model"]

SOLVERS = ("auto", "network", "highs")


def solve_model(
    model: FlowModel,
    *,
    equity: bool,
    solver: str = "auto",
    time_limit: float | None = None,
    instance=None,
    deadline: Deadline | None = None,
) -> StagedSolution:
    """The lexicographic optimum of ``model``, each family on its engine, all within one deadline."""
    if deadline is None:
        deadline = Deadline(time_limit)
    if solver not in SOLVERS:
        raise UsageError(f"unknown solver {solver!r}: expected one of {', '.join(SOLVERS)}")
    if solver == "highs":
        return solve_lexicographic(model, equity=equity, deadline=deadline, instance=instance)
    from allocator.engine.network import Unsuitable, solve_network

    groups = family_groups(model)
    parts = partition(model, groups) if len(groups) > 1 else [(model, np.arange(model.n_cols))]
    solutions = []
    for part, cols in parts:
        try:
            sol = solve_network(part, equity=equity, deadline=deadline, instance=instance)
        except Unsuitable as exc:
            if solver == "network":
                raise SolverError(
                    f"the network engine cannot solve this instance exactly: {exc}; use --solver auto or highs"
                ) from None
            sol = solve_lexicographic(part, equity=equity, deadline=deadline, instance=instance)
        solutions.append((sol, cols))
    return solutions[0][0] if len(solutions) == 1 else _merge(model, solutions)


PART_COLUMNS = 100_000  # families are solved together up to this many columns


def family_groups(model: FlowModel) -> list[list]:
    """Families in parts solved one at a time: each large family on its own (its flows are a
    fraction of the whole network's), small ones together (one set of flows for all);
    countable and divisible families never together (they are planned in different units).
    Families linked by a substitute share supply: they are always in the same part."""
    families, dem_family, component = family_components(model)
    serve_family = dem_family[model.serve["demand_idx"].to_numpy()]
    hub_family = np.zeros(len(model.hubs), dtype=np.int64)  # a hub serves one product, so one component
    hub_family[model.hub_of("serve")] = serve_family
    ship_family = hub_family[model.hub_of("ship")]
    size = sum(np.bincount(f, minlength=len(families)) for f in (dem_family, serve_family, ship_family))
    countable = np.ones(len(families), dtype=bool)
    np.logical_and.at(countable, dem_family, model.demand["countable"].to_numpy(bool))
    # A component (linked families) is placed whole: its size and kind are its families' together.
    size = np.bincount(component, weights=size, minlength=len(families)).astype(np.int64)
    np.logical_and.at(countable, component, countable.copy())
    members = {int(c): np.flatnonzero(component == c) for c in np.unique(component)}
    groups: list[list] = []
    for kind in (True, False):
        group, used = [], 0
        for f in np.flatnonzero((countable == kind) & (component == np.arange(len(families)))):
            n = int(size[f])
            if group and used + n > PART_COLUMNS:
                groups.append(group)
                group, used = [], 0
            group.extend(families[members[int(f)]])
            used += n
        if group:
            groups.append(group)
    return groups


def _merge(model: FlowModel, solutions: list[tuple[StagedSolution, np.ndarray]]) -> StagedSolution:
    x = np.zeros(model.n_cols)
    fair = np.full(len(model.demand), np.nan)
    boxed = all(s.fair_lo is not None for s, _ in solutions)
    fair_lo, fair_hi = (np.zeros(len(fair)), np.zeros(len(fair))) if boxed else (None, None)
    short0 = model.n_ship + model.n_serve
    seconds: dict[str, float] = {}
    for sol, cols in solutions:
        x[cols] = sol.x
        rows = cols[cols >= short0] - short0
        fair[rows] = sol.fair_fill
        if boxed:
            fair_lo[rows], fair_hi[rows] = sol.fair_lo, sol.fair_hi
        for k, v in sol.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    stopped = [s for s, _ in solutions if s.status is not Status.OPTIMAL]
    bounds = [s.shortfall_bound for s, _ in solutions]
    return StagedSolution(
        x=x,
        weighted_shortfall=sum(s.weighted_shortfall for s, _ in solutions),
        route_cost=sum(s.route_cost for s, _ in solutions),
        fair_fill=fair,
        lp_solves=sum(s.lp_solves for s, _ in solutions),
        seconds=seconds,
        solver="+".join(dict.fromkeys(s.solver for s, _ in solutions)),
        status=Status.TIME_LIMIT if stopped else Status.OPTIMAL,
        stopped_in=stopped[0].stopped_in if stopped else None,
        shortfall_bound=None if any(b is None for b in bounds) else sum(bounds),
        fair_lo=fair_lo,
        fair_hi=fair_hi,
        method=Method.GREEDY if any(s.method is Method.GREEDY for s, _ in solutions) else Method.LP,
    )
