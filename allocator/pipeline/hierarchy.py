"""Two-level (hierarchical) solve: the nation to its provinces, then each province to its leaves.

``regions.csv`` may give each region a ``parent``. The *top region* of a region is its last
ancestor: follow ``parent`` until a region with an empty parent (or whose parent is itself),
or a parent id that ``regions.csv`` does not list (the generated instances name their
provinces only as parents). Every region with demand is a *leaf*; a top region with demand of
its own is a leaf of itself.

Level 1 (nation). One model over aggregated regions, solved with ``allocator.solve`` under
the same policy:

- Demand. Rows are summed per (top region, family, use, weight). Weights are never averaged:
  a province whose leaves weigh the same demand differently (a flagged capital, a region
  ``weight``, a row's own ``weight``) is split into *groups* of leaves whose rows weigh the
  same for every (family, use), and each group is one level-1 region (``hubei`` when the
  province is one group, ``hubei#1``, ``hubei#2``, ... otherwise): the instance format allows
  one demand row per (region, family, use), so rows of different weight need different
  regions. Each aggregated row carries its weight as its own ``weight``, so the weight rule
  reproduces the leaves' weights exactly and every priority survives aggregation.
- Routes. From the flat model's usable arcs (``model.route_table``: ``routes.csv`` with its
  product rules, or great-circle km x ``routes.cost_per_km`` without it), per (source, group,
  product): **cost = the least unit cost to any leaf of the group** that has demand the
  product may serve, and **capacity = the sum over those leaves of min(route capacity, the
  leaf's demand the product may serve)**. Why: with these two rules level 1 is a
  *relaxation* of the flat model. Every flat plan maps to a level-1 plan with the same
  weighted shortfall (a leaf arc never usefully carries more than its capacity or its
  leaf's servable demand) and no higher route cost. So level 1's weighted shortfall is a
  proven lower bound on the flat optimum, reported as ``level1_weighted_shortfall``,
  and ``(two-level - bound) / two-level`` bounds the optimality gap without solving the
  flat model. A demand-weighted mean cost, or the cost to the province's capital, would
  model the average trip better but give no such bound. Capping by servable demand keeps
  level 1 from sending a province more from a source than that source can place there,
  which plain summed capacities would allow.

Level 2 (provinces). For each top region: its leaves and their demand (each row with its
resolved weight as its own ``weight``), the supply that level 1 shipped from each (source,
product) to the province's groups, and the original routes from those sources to the leaves.
Each is solved with ``allocator.solve``; with ``workers > 1`` in a ``ProcessPoolExecutor``
(spawned processes, safe next to the solver's threads), largest province first; results are
combined in the order of the top region ids, so the plan does not depend on ``workers``.
A province that level 1 sends nothing is not solved: its demand is short.

The combined plan is checked with ``allocator.verify(instance, plan, optimality=False)``
(supply, demand, routes and capacities, ICU rule, whole units) and a ``SolverError`` is
raised on any violation. The two-level plan is feasible for the flat model, so its weighted
shortfall is never below the flat optimum; its equity holds within each province, not
across the nation, and the reasons for shortfalls are those of the province's own solve.

An instance in which no region with demand has a parent is refused with an
``InstanceError``: there is nothing to aggregate, and the flat ``allocator.solve`` is the
solve to use.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.build.daily import route_table
from allocator.errors import InstanceError, Issue, SolverError, UsageError
from allocator.inputs.instance import Instance
from allocator.inputs.policy import Policy
from allocator.inputs.reach import eligible_pairs, substitute_rows
from allocator.numbers import figure_text, json_number
from allocator.pipeline.run import check_plan, solve
from allocator.plan.daily import Plan, fill_table
from allocator.plan.objective import EQUITY_ON, Objective
from allocator.plan.results import Result
from allocator.plan.tables import region_table, tier_table

__all__ = ["HierResult", "gap_vs_flat", "hierarchy_text", "level1_instance", "solve_hierarchical", "top_regions"]

_DISPATCH_COLUMNS = [
    "source",
    "region",
    "product",
    "quantity",
    "cost",
    "unit_cost",
    "distance_km",
    "source_name",
    "region_name",
]
_ALLOCATION_COLUMNS = ["region", "product", "family", "use", "quantity"]
_NOTHING_SENT = (
    "two-level: routes reach this region, but the national level (level 1) sent its province none "
    "of the units they carry"
)


@dataclass
class HierResult(Result):
    """A two-level plan over the original instance, with what each level did.

    ``objective`` holds ``weighted_shortfall`` and ``route_cost`` of the combined plan and
    ``level1_weighted_shortfall``, a proven lower bound on the flat optimum (with
    ``gap_bound``: (plan - bound) / plan). ``provinces`` has one row per top region.
    ``gap`` is filled by ``gap_vs_flat`` (or ``solve_hierarchical(..., gap=True)``).
    """

    level1: Result | None = None
    provinces: pd.DataFrame | None = None
    workers: int = 1
    seconds: float = 0.0  # wall time of the whole two-level solve (``timings`` holds its parts)
    gap: dict | None = None

    def summary(self) -> dict:
        out = super().summary()
        prov = self.provinces if self.provinces is not None else pd.DataFrame()
        out["hierarchy"] = {
            "levels": 2,
            "top_regions": len(prov),
            "level1_regions": int(prov["groups"].sum()) if len(prov) else 0,
            "workers": self.workers,
            "seconds": round(self.seconds, 4),
            "level1_status": self.level1.status if self.level1 is not None else None,
            "gap_vs_flat": self.gap,
        }
        return out


def top_regions(regions: pd.DataFrame) -> pd.Series:
    """The top region of every region (index: region id). Raises ``InstanceError`` on a parent cycle."""
    ids = regions["region"].astype(str).to_numpy()
    parent = regions["parent"].fillna("").astype(str).to_numpy()
    pos = pd.Series(np.arange(len(ids)), index=ids)
    up_raw = pos.reindex(parent).to_numpy()
    listed = ~np.isnan(up_raw)
    own = np.arange(len(ids))
    base = np.where(listed & (parent != ids), np.nan_to_num(up_raw, nan=0).astype(np.int64), own)
    # A parent id not listed in regions.csv is the top itself (named, not listed).
    name_of_root = np.where((parent != "") & ~listed, parent, ids)
    up = base.copy()
    for _ in range(max(1, int(np.ceil(np.log2(max(len(ids), 2)))) + 2)):
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    cyclic = base[up] != up
    if cyclic.any():
        rows = regions["_row"].to_numpy() if "_row" in regions.columns else np.arange(2, len(ids) + 2)
        issues = [
            Issue(
                "regions.csv",
                int(rows[i]),
                "parent",
                f"the chain of parents of region {ids[i]!r} runs "
                "in a cycle: expected each chain of parents to end at a region with no parent",
            )
            for i in np.flatnonzero(cyclic)
        ]
        raise InstanceError(issues)
    return pd.Series(name_of_root[up], index=ids, name="top")


def _leaf_groups(demand: pd.DataFrame, top_of: pd.Series, taken: set[str]) -> pd.DataFrame:
    """Per leaf region: its top region and its level-1 region (the group of leaves of equal weights).

    ``demand`` has columns region, family, use, weight (resolved).
    """
    wide = demand.set_index(["region", "family", "use"])["weight"].unstack(["family", "use"])
    wide.columns = [f"w{i}" for i in range(wide.shape[1])]
    wide = wide.sort_index()
    wide.insert(0, "top", wide.index.map(top_of).to_numpy())
    group = wide.groupby(list(wide.columns), dropna=False, sort=True).ngroup().to_numpy()
    out = pd.DataFrame({"region": wide.index.to_numpy(), "top": wide["top"].to_numpy(), "group": group})
    rank = out.groupby("top")["group"].rank(method="dense").astype(np.int64)
    many = out.groupby("top")["group"].transform("nunique").to_numpy() > 1
    label = np.where(many, out["top"] + "#" + rank.astype(str), out["top"])
    suffix = "#"
    while taken.intersection(set(label[many])):  # a level-1 id must not be a leaf's id
        suffix += "#"
        label = np.where(many, out["top"] + suffix + rank.astype(str), out["top"])
    out["l1"] = label
    return out[["region", "top", "l1"]].sort_values("region").reset_index(drop=True)


def level1_instance(instance: Instance) -> tuple[Instance, pd.DataFrame]:
    """The aggregated national instance and the table of leaves (region, top, l1). See the module doc."""
    l1, leaves, _ = _level1(instance)
    return l1, leaves


def _level1(instance: Instance, weights: np.ndarray | None = None) -> tuple[Instance, pd.DataFrame, pd.DataFrame]:
    """``level1_instance`` and the flat model's arcs (source, region, product)."""
    if len(substitute_rows(instance)):
        # Level 1's arcs and capacities are per family; a substitute's supply serves several.
        raise InstanceError(
            [
                Issue(
                    "substitutes.csv",
                    None,
                    None,
                    "the two-level solve (--hierarchy) does not use "
                    "substitutes yet: use the flat solve, or leave substitutes.csv out",
                )
            ]
        )
    from allocator.build.side import side_features

    side = side_features(instance)
    if side:
        # Level 1 aggregates routes per family and top region; shared rows and yes/no choices do not aggregate.
        raise InstanceError(
            [
                Issue(
                    "capacity.csv"
                    if instance.capacity is not None
                    else "commitments.csv"
                    if instance.commitments is not None
                    else "products.csv",
                    None,
                    None,
                    f"the two-level solve (--hierarchy) does not use {', '.join(side)}: use the flat solve",
                )
            ]
        )
    top_of = top_regions(instance.regions)
    demand = instance.demand[["region", "family", "use", "quantity"]].copy()
    demand["weight"] = instance.demand_weights().to_numpy(float) if weights is None else weights
    if (demand["region"].map(top_of) == demand["region"]).all():
        msg = (
            "no region with demand has a parent: a two-level solve needs a hierarchy (give regions a parent "
            "province), or use the flat solve"
        )
        raise InstanceError([Issue("regions.csv", None, "parent", msg)])
    leaves = _leaf_groups(demand, top_of, set(instance.regions["region"]))
    l1_of = leaves.set_index("region")["l1"]
    demand["l1"] = demand["region"].map(l1_of)
    agg = demand.groupby(["l1", "family", "use"], as_index=False, sort=True).agg(
        quantity=("quantity", "sum"), weight=("weight", "first")
    )
    agg = agg.rename(columns={"l1": "region"})

    # Arcs of the flat model, each capped by what its leaf can take of the product.
    pairs = eligible_pairs(instance)
    arcs = route_table(instance, pairs)
    servable = pairs.assign(
        region=instance.demand["region"].to_numpy()[pairs["demand_idx"].to_numpy()],
        quantity=instance.demand["quantity"].to_numpy(float)[pairs["demand_idx"].to_numpy()],
    )
    servable = servable.groupby(["region", "product"], as_index=False)["quantity"].sum()
    arcs = arcs.merge(servable, on=["region", "product"], how="left")
    arcs["useful"] = np.minimum(arcs["capacity"].to_numpy(float), arcs["quantity"].fillna(0.0).to_numpy(float))
    arcs["l1"] = arcs["region"].map(l1_of)
    routes = arcs.groupby(["source", "l1", "product"], as_index=False, sort=True).agg(
        cost=("cost", "min"), distance_km=("distance_km", "min"), capacity=("useful", "sum")
    )
    routes = routes.rename(columns={"l1": "region"})
    routes["transit_days"] = np.nan
    routes = routes[["source", "region", "product", "cost", "distance_km", "transit_days", "capacity"]]

    regions = instance.regions.set_index("region")
    groups = leaves.drop_duplicates("l1")[["l1", "top"]].sort_values("l1").reset_index(drop=True)
    top_name = groups["top"].map(regions["name"]).fillna(groups["top"])
    n_groups = groups.groupby("top")["l1"].transform("size").to_numpy()
    name = np.where(n_groups > 1, top_name + " (" + groups["l1"] + ")", top_name)
    l1_regions = pd.DataFrame(
        {
            "region": groups["l1"].to_numpy(),
            "name": name,
            "name_zh": groups["top"].map(regions["name_zh"]).fillna(""),
            "lat": np.nan,
            "lon": np.nan,
            "flags": "",
            "weight": 1.0,
            "parent": "",
            "population": np.nan,
        }
    )
    l1 = Instance(
        name=f"{instance.name} (level 1)",
        products=instance.products,
        sources=instance.sources,
        supply=instance.supply,
        regions=_numbered(l1_regions),
        demand=_numbered(agg),
        routes=_numbered(routes),
        policy=instance.policy,
        path=None,
        warnings=[],
    )
    return l1, leaves, arcs[["source", "region", "product"]]


def _numbered(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame["_row"] = np.arange(2, len(frame) + 2)
    return frame


def _province_instance(
    instance: Instance, weights: np.ndarray, top: str, rows: dict[str, np.ndarray], received: pd.DataFrame
) -> Instance:
    """Level 2 for one top region: its leaves, the supply level 1 sent it, the original routes.

    ``rows`` holds the positions of the province's rows in ``demand``, ``regions`` and ``routes``.
    """
    demand = instance.demand.iloc[rows["demand"]].copy()
    demand["weight"] = weights[rows["demand"]]
    srcs = set(received["source"])
    sources = instance.sources.loc[instance.sources["source"].isin(srcs).to_numpy()]
    regions = instance.regions.iloc[rows["regions"]]
    extra = instance.regions["region"].isin(set(sources["region"]) - set(regions["region"])).to_numpy()
    regions = pd.concat([regions, instance.regions.loc[extra]]).sort_index()  # sources' regions, for coordinates
    routes = None
    if instance.routes is not None:
        r = instance.routes.iloc[rows["routes"]]
        routes = r.loc[r["source"].isin(srcs).to_numpy()].reset_index(drop=True)
    supply = received[["source", "product", "quantity"]].sort_values(["source", "product"])
    supply = _numbered(supply)
    return Instance(
        name=f"{instance.name}/{top}",
        products=instance.products,
        sources=sources.reset_index(drop=True),
        supply=supply,
        regions=regions.reset_index(drop=True),
        demand=demand.reset_index(drop=True),
        routes=routes,
        policy=instance.policy,
        path=None,
        warnings=[],
    )


def _solve_province(task: tuple) -> dict:
    """Solve one province (runs in a worker process when ``workers > 1``)."""
    top, sub, kwargs = task
    t = time.perf_counter()
    try:
        res = solve(sub, **kwargs)
    except SolverError as exc:
        raise SolverError(f"level 2, top region {top!r}: {exc}") from exc
    fill = res.plan.fill[["region", "family", "use", "delivered", "reason"]]
    return {
        "top": top,
        "dispatch": res.plan.dispatch,
        "allocation": res.plan.allocation,
        "fill": fill,
        "weighted_shortfall": float(res.objective["weighted_shortfall"]),
        "route_cost": float(res.objective["route_cost"]),
        "status": res.status,
        "solver": res.solver,
        "lp_solves": res.lp_solves,
        "seconds": time.perf_counter() - t,
    }


def _resolve_policy(instance: Instance, equity, icu_grade_for_general, policy: Policy | None) -> Instance:
    pol = policy or instance.policy
    over = {k: v for k, v in (("equity", equity), ("icu_grade_for_general", icu_grade_for_general)) if v is not None}
    if over:
        pol = pol.with_overrides(over)
    return instance if pol is instance.policy else instance.with_policy(pol)


def solve_hierarchical(
    instance: Instance,
    *,
    workers: int = 1,
    gap: bool = False,
    equity: bool | None = None,
    icu_grade_for_general: bool | None = None,
    policy: Policy | None = None,
    **solve_kwargs,
) -> HierResult:
    """Two-level solve: level 1 over top regions, then each top region over its leaves.

    ``workers`` > 1 solves the provinces in that many processes (same plan as ``workers=1``).
    ``gap=True`` also runs the flat ``allocator.solve`` and fills ``result.gap``
    (see ``gap_vs_flat``). Other keyword arguments (``solver``, ``time_limit``,
    ``memory_limit``, ``check``) go to every ``allocator.solve`` call; a ``time_limit``
    applies to each solve separately. ``check`` defaults to False for the level-1 and
    level-2 solves: the combined plan is verified once against the original instance, which
    covers every province's rows (``check=True`` verifies each solve as well).

    With ``workers > 1`` the provinces run in spawned processes, so a script that calls this
    must guard its entry point with ``if __name__ == "__main__":``.
    """
    if workers < 1:
        msg = f"workers is {workers}: expected 1 or more"
        raise UsageError(msg)
    sub_kwargs = {"check": False, "explain": False, **solve_kwargs}
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    instance = _resolve_policy(instance, equity, icu_grade_for_general, policy)

    t = time.perf_counter()
    weights = instance.demand_weights().to_numpy(float)
    l1_inst, leaves, arcs = _level1(instance, weights)
    timings["level1_build"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        l1 = solve(l1_inst, **sub_kwargs)
    except SolverError as exc:
        raise SolverError(f"level 1: {exc}") from exc
    timings["level1_solve"] = time.perf_counter() - t

    t = time.perf_counter()
    top_of_l1 = leaves.drop_duplicates("l1").set_index("l1")["top"]
    sent = l1.plan.dispatch[["source", "region", "product", "quantity"]]
    sent = sent.assign(top=sent["region"].map(top_of_l1).to_numpy())
    received = sent.groupby(["top", "source", "product"], as_index=False, sort=True)["quantity"].sum()
    received = received[received["quantity"] > 0]
    top_of_leaf = leaves.set_index("region")["top"]
    rows = {
        name: pd.Series(np.arange(len(frame))).groupby(frame["region"].map(top_of_leaf).to_numpy()).indices
        for name, frame in (
            ("demand", instance.demand),
            ("regions", instance.regions),
            (
                "routes",
                instance.routes
                if instance.routes is not None
                else pd.DataFrame({"region": pd.Series([], dtype=object)}),
            ),
        )
    }
    by_top = dict(tuple(received.groupby("top", sort=True)))
    empty = np.zeros(0, dtype=np.int64)
    tasks = [
        (
            top,
            _province_instance(instance, weights, top, {k: v.get(top, empty) for k, v in rows.items()}, by_top[top]),
            sub_kwargs,
        )
        for top in sorted(by_top)
    ]
    timings["level2_build"] = time.perf_counter() - t

    t = time.perf_counter()
    order = sorted(tasks, key=lambda task: (-len(task[1].demand), task[0]))  # largest first: better balance
    if workers > 1 and len(tasks) > 1:
        import multiprocessing

        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn")) as pool:
            outs = list(pool.map(_solve_province, order))
    else:
        outs = [_solve_province(task) for task in order]
    done = {o["top"]: o for o in outs}
    outs = [done[top] for top in sorted(done)]
    timings["level2_solve"] = time.perf_counter() - t

    t = time.perf_counter()
    plan = _combine(instance, weights, outs, received, leaves, arcs)
    timings["combine"] = time.perf_counter() - t

    t = time.perf_counter()
    ver = check_plan(instance, plan, "the two-level plan")
    timings["verify"] = time.perf_counter() - t

    w_plan = float(ver.metrics["weighted_shortfall"])
    c_plan = float(plan.dispatch["cost"].sum())
    bound = float(l1.objective.get("weighted_shortfall_bound", l1.objective["weighted_shortfall"]))
    if w_plan < bound - 1e-6 * max(1.0, abs(bound)):
        msg = f"the two-level plan's weighted shortfall {w_plan} is below the level-1 lower bound {bound}"
        raise SolverError(msg)
    statuses = [l1.status] + [o["status"] for o in outs]
    n_limit = sum(s != "optimal" for s in statuses)
    objective = Objective(
        w_plan,
        c_plan,
        f"{EQUITY_ON}, within each province" if instance.policy.equity else "off",
        extra={
            "level1_weighted_shortfall": json_number(bound),
            "gap_bound": json_number((w_plan - bound) / w_plan if w_plan > 0 else 0.0),
        },
    )
    prov = _province_table(leaves, received, outs, plan.fill)
    result = HierResult(
        instance=instance,
        plan=plan,
        status="two_level" if n_limit == 0 else "two_level_time_limit",
        objective=objective,
        fair_fill=np.full(len(instance.demand), np.nan),
        by_tier=tier_table(plan.fill),
        by_region=region_table(instance, plan.fill),
        solver=l1.solver,
        lp_solves=l1.lp_solves + sum(o["lp_solves"] for o in outs),
        timings=timings,
        level1=l1,
        provinces=prov,
        workers=workers,
        seconds=time.perf_counter() - t_all,
    )
    if gap:
        gap_vs_flat(instance, result, **solve_kwargs)
    return result


def _combine(
    instance: Instance,
    weights: np.ndarray,
    outs: list[dict],
    received: pd.DataFrame,
    leaves: pd.DataFrame,
    arcs: pd.DataFrame,
) -> Plan:
    """One plan over the original instance from the provinces' plans.

    A short row that some source could reach in the flat model, but none of whose reaching
    (source, product) sent anything to its province at level 1, gets the reason
    ``_NOTHING_SENT``: its province's own solve would say no route or no supply reaches it.
    """
    frames = [o["dispatch"] for o in outs]
    dispatch = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_DISPATCH_COLUMNS)
    dispatch = dispatch[_DISPATCH_COLUMNS].sort_values(["source", "region", "product"]).reset_index(drop=True)
    frames = [o["allocation"] for o in outs]
    allocation = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_ALLOCATION_COLUMNS)
    allocation = allocation[_ALLOCATION_COLUMNS].sort_values(["region", "product", "family", "use"])
    allocation = allocation.reset_index(drop=True)
    keys = ["region", "family", "use"]
    frames = [o["fill"] for o in outs]
    sub_fill = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=keys + ["delivered", "reason"])
    got = instance.demand[keys].merge(sub_fill, on=keys, how="left")
    delivered = got["delivered"].fillna(0.0).to_numpy(float)
    fill = fill_table(instance, pd.Series(weights), delivered)
    reasons = fill[keys].merge(sub_fill[keys + ["reason"]], on=keys, how="left")["reason"]
    reasons = reasons.fillna(_NOTHING_SENT).astype(object).to_numpy()
    # Rows some arc reaches in the flat model, and rows an arc from a (source, product) that
    # level 1 sent to the row's province reaches.
    pairs = eligible_pairs(instance)
    idx = pairs["demand_idx"].to_numpy()
    wanted = pd.DataFrame(
        {"demand_idx": idx, "region": instance.demand["region"].to_numpy()[idx], "product": pairs["product"].to_numpy()}
    )
    reach = wanted.merge(arcs, on=["region", "product"])
    reach["top"] = reach["region"].map(leaves.set_index("region")["top"]).to_numpy()
    fed_idx = reach.merge(received[["top", "source", "product"]], on=["top", "source", "product"])["demand_idx"]
    reachable = np.zeros(len(instance.demand), dtype=bool)
    reachable[reach["demand_idx"].to_numpy()] = True
    fed = np.zeros(len(instance.demand), dtype=bool)
    fed[fed_idx.to_numpy()] = True
    pos = pd.MultiIndex.from_frame(instance.demand[keys]).get_indexer(pd.MultiIndex.from_frame(fill[keys]))
    reasons = np.where(reachable[pos] & ~fed[pos], _NOTHING_SENT, reasons)
    fill["reason"] = np.where(fill["shortfall"].to_numpy(float) > 1e-9, reasons, "")
    return Plan(dispatch=dispatch, allocation=allocation, fill=fill)


def _province_table(leaves: pd.DataFrame, received: pd.DataFrame, outs: list[dict], fill: pd.DataFrame):
    g = leaves.groupby("top")
    prov = pd.DataFrame({"groups": g["l1"].nunique(), "leaves": g.size()})
    prov["received"] = received.groupby("top")["quantity"].sum().reindex(prov.index).fillna(0.0)
    f = fill.assign(top=fill["region"].map(leaves.set_index("region")["top"]))
    f["ws"] = f["weight"] * f["shortfall"]
    fg = f.groupby("top")
    prov["demand"] = fg["demand"].sum()
    prov["delivered"] = fg["delivered"].sum()
    prov["weighted_shortfall"] = fg["ws"].sum()
    solved = pd.DataFrame(
        [
            {"top": o["top"], "route_cost": o["route_cost"], "status": o["status"], "seconds": o["seconds"]}
            for o in outs
        ],
        columns=["top", "route_cost", "status", "seconds"],
    )
    prov = prov.join(solved.set_index("top"), how="left")
    prov["route_cost"] = prov["route_cost"].fillna(0.0)
    prov["status"] = prov["status"].fillna("not solved: no supply").astype(object)
    prov["seconds"] = prov["seconds"].fillna(0.0)
    return prov.rename_axis("top").reset_index()


def gap_vs_flat(instance: Instance, hier: HierResult | None = None, *, workers: int = 1, **solve_kwargs) -> dict:
    """Run the flat ``allocator.solve`` too; return (and store in ``hier.gap``) the relative gaps.

    ``weighted_shortfall_gap`` = (two-level - flat) / flat (0 when both are 0, None when only
    the flat one is); never negative, since the two-level plan is feasible for the flat model
    (``SolverError`` if it were).
    ``route_cost_gap`` likewise; it may be negative: route cost is compared only after
    shortfall, and a plan that delivers less may ship more cheaply. Timings in seconds.
    """
    if hier is None:
        hier = solve_hierarchical(instance, workers=workers, **solve_kwargs)
    # hier.instance carries the policy the two-level solve used (overrides applied).
    kw = {k: v for k, v in solve_kwargs.items() if k not in ("equity", "icu_grade_for_general", "policy")}
    t = time.perf_counter()
    flat = solve(hier.instance, **{"explain": False, **kw})
    flat_s = time.perf_counter() - t
    w2, c2 = float(hier.objective["weighted_shortfall"]), float(hier.objective["route_cost"])
    wf, cf = float(flat.objective["weighted_shortfall"]), float(flat.objective["route_cost"])
    if flat.status == "optimal" and w2 < wf - 1e-6 * max(1.0, abs(wf)):
        msg = f"the two-level weighted shortfall {w2} is below the flat optimum {wf}: a bug"
        raise SolverError(msg)

    def rel(a: float, b: float) -> float | None:
        if b == 0:
            return 0.0 if abs(a) < 1e-9 else None  # undefined: the flat plan has none
        return (a - b) / abs(b)

    out = {
        "flat_status": flat.status,
        "flat_weighted_shortfall": json_number(wf),
        "flat_route_cost": json_number(cf),
        "two_level_weighted_shortfall": json_number(w2),
        "two_level_route_cost": json_number(c2),
        "weighted_shortfall_gap": rel(w2, wf),
        "route_cost_gap": rel(c2, cf),
        "level1_bound": hier.objective["level1_weighted_shortfall"],
        "flat_seconds": round(flat_s, 3),
        "two_level_seconds": round(hier.seconds, 3),
        "workers": hier.workers,
    }
    hier.gap = out
    return out


def hierarchy_text(result: HierResult) -> str:
    """Lines that say the plan is a two-level one, for the command line (before ``render_text``)."""
    o = result.objective
    prov = result.provinces if result.provinces is not None else pd.DataFrame()
    t = result.timings
    lines = [
        f"TWO-LEVEL PLAN (not the flat optimum): level 1 over {len(prov)} top regions "
        f"({int(prov['groups'].sum()) if len(prov) else 0} aggregated regions), then each top region over its "
        f"{int(prov['leaves'].sum()) if len(prov) else 0} leaf regions; workers {result.workers}",
        f"two-level: weighted shortfall {figure_text(o['weighted_shortfall'])} | route cost "
        f"{figure_text(o['route_cost'])} | level-1 lower bound on the flat optimum "
        f"{figure_text(o['level1_weighted_shortfall'])} (gap at most {o['gap_bound']:.2%})",
        f"two-level: level 1 {t.get('level1_solve', 0.0):.2f} s, level 2 {t.get('level2_solve', 0.0):.2f} s, "
        f"total {result.seconds:.2f} s",
    ]
    g = result.gap
    if g is not None:

        def pct(x) -> str:
            return "n/a" if x is None else f"{x:+.4%}"

        lines.append(
            f"gap vs flat: weighted shortfall {pct(g['weighted_shortfall_gap'])} (flat "
            f"{figure_text(g['flat_weighted_shortfall'])}), route cost {pct(g['route_cost_gap'])} (flat "
            f"{figure_text(g['flat_route_cost'])}); flat {g['flat_seconds']:.2f} s, two-level "
            f"{g['two_level_seconds']:.2f} s"
        )
    return "\n".join(lines) + "\n\n"
