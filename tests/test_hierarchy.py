"""Two-level (hierarchical) solve: hand-worked cases, a generated instance, parallel == serial."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import instance, run_cli, write_folder
from test_hand_cases import check_invariants

import allocator
from allocator.inputs.policy import Policy
from allocator.pipeline.hierarchy import gap_vs_flat, level1_instance, solve_hierarchical, top_regions
from allocator.tools.generate import generate

COUNTIES = [("p1", "P"), ("p2", "P"), ("q1", "Q"), ("q2", "Q")]


def two_provinces(*, equity: bool, b_to_p2: bool = False) -> allocator.Instance:
    """Provinces P (counties p1, p2) and Q (q1, q2); one countable product, every weight 1.

    Sources: A has 10 (routes A->p1 cost 1, A->q1 cost 4), B has 10 (B->p1 cost 2, and
    B->p2 cost 2 with ``b_to_p2``), C has 5 (C->q2 cost 1). Demand: p1 10, p2 10, q1 10, q2 5.
    """
    routes = [("A", "p1", 1), ("A", "q1", 4), ("B", "p1", 2), ("C", "q2", 1)]
    if b_to_p2:
        routes.append(("B", "p2", 2))
    regions = [{"region": "P", "name": "Province P", "parent": ""}, {"region": "Q", "name": "Province Q"}]
    regions += [{"region": c, "name": c.upper(), "parent": p} for c, p in COUNTIES]
    return instance(
        policy=Policy().with_overrides({"equity": equity}),
        products=[{"product": "kit", "family": "kit"}],
        sources=[{"source": s, "name": f"Source {s}", "region": "p1"} for s in "ABC"],
        supply=[("A", "kit", 10), ("B", "kit", 10), ("C", "kit", 5)],
        regions=regions,
        demand=[
            {"region": r, "family": "kit", "quantity": q} for r, q in (("p1", 10), ("p2", 10), ("q1", 10), ("q2", 5))
        ],
        routes=routes,
    )


def shipped(plan) -> dict:
    d = plan.dispatch
    return {(s, r): q for s, r, q in zip(d["source"], d["region"], d["quantity"])}


def delivered(plan) -> dict:
    return dict(zip(plan.fill["region"], plan.fill["delivered"]))


def test_level1_aggregates_demand_and_routes_by_the_stated_rule():
    """Level 1: P needs 20, Q 15. Arc cost = least cost to a county of the province; capacity =
    sum over counties of min(route capacity, the county's demand): A->P 10 (only p1, demand 10),
    B->P 10 (p1) or 20 (p1 and p2), A->Q 10, C->Q 5."""
    l1, leaves = level1_instance(two_provinces(equity=False))
    assert dict(zip(l1.demand["region"], l1.demand["quantity"])) == {"P": 20, "Q": 15}
    assert (l1.demand["weight"] == 1).all()
    arcs = {
        (s, r): (c, k) for s, r, c, k in l1.routes[["source", "region", "cost", "capacity"]].itertuples(index=False)
    }
    assert arcs == {("A", "P"): (1, 10), ("A", "Q"): (4, 10), ("B", "P"): (2, 10), ("C", "Q"): (1, 5)}
    l1b, _ = level1_instance(two_provinces(equity=False, b_to_p2=True))
    assert l1b.routes.set_index(["source", "region"]).loc[("B", "P"), "capacity"] == 20
    assert dict(zip(leaves["region"], leaves["top"])) == {"p1": "P", "p2": "P", "q1": "Q", "q2": "Q"}


def test_two_level_is_strictly_worse_when_a_province_gets_supply_its_counties_cannot_use():
    """Equity off.

    Flat optimum: A can reach p1 and q1, B only p1, C only q2. All 25 units can be delivered
    only with B->p1 10, A->q1 10, C->q2 5: weighted shortfall 35 - 25 = 10, route cost
    20 + 40 + 5 = 65.

    Level 1 sees A->P and B->P (10 each, costs 1 and 2) into P's demand of 20: it delivers all
    25 units either as (A->P 10, B->P 10, C->Q 5), cost 35, or (A->Q 10, B->P 10, C->Q 5), cost
    65, and picks the cheaper. Its weighted shortfall 10 is the lower bound. But both A and B
    reach only county p1 (demand 10): at level 2 province P can use 10 of its 20 units (A->p1,
    cost 1 each; B's 10 stay home), p2 has no route and q1 gets nothing. Two-level: weighted
    shortfall 35 - 15 = 20, route cost 10 + 5 = 15 (cheaper, because it delivers less).
    """
    inst = two_provinces(equity=False)
    flat = allocator.solve(inst)
    assert flat.objective["weighted_shortfall"] == 10 and flat.objective["route_cost"] == 65
    res = solve_hierarchical(inst)
    assert shipped(res.plan) == {("A", "p1"): 10, ("C", "q2"): 5}
    assert delivered(res.plan) == {"p1": 10, "p2": 0, "q1": 0, "q2": 5}
    assert res.objective["weighted_shortfall"] == 20 and res.objective["route_cost"] == 15
    assert res.objective["level1_weighted_shortfall"] == 10 and res.objective["gap_bound"] == 0.5
    reasons = res.plan.fill.set_index("region")["reason"]
    assert reasons["q1"].startswith("two-level: routes reach this region, but the national level")
    assert reasons["p2"] == "no route reaches P2 from any source of kit"
    gap = gap_vs_flat(inst, res)
    assert gap["weighted_shortfall_gap"] == 1.0  # (20 - 10) / 10
    assert gap["route_cost_gap"] == pytest.approx((15 - 65) / 65)
    assert res.gap is gap
    check_invariants(inst, res)


def test_two_level_with_equity_worked_by_hand():
    """Equity on; same instance. Flat: the unique plan that delivers 25 (above), cost 65.

    Level 1 delivers 25 (B 10 to P, C 5 to Q, A's 10 split a to P, 10 - a to Q) with P and Q
    (weight 1, one tier) at max-min fair fill: (10 + a) / 20 = (15 - a) / 15 gives a = 30/7,
    P's fair delivery 100/7 = 14.29 and Q's 75/7 = 10.71; in whole units P in [14, 15], Q in
    [10, 11], and least cost (A->P 1 < A->Q 4) takes P 15 (A 5, B 10), Q 10 (A 5, C 5).
    Level 2, P: 15 units, p1 (10) reachable, p2 not: p1 gets 10, A's 5 first (cost 1) and then
    B's 5 (cost 2): 15. Q: A's 5 to q1 (cost 20), C's 5 to q2 (5). Delivered 20: weighted
    shortfall 15 (flat 10), route cost 40.
    """
    inst = two_provinces(equity=True)
    res = solve_hierarchical(inst)
    assert shipped(res.plan) == {("A", "p1"): 5, ("B", "p1"): 5, ("A", "q1"): 5, ("C", "q2"): 5}
    assert delivered(res.plan) == {"p1": 10, "p2": 0, "q1": 5, "q2": 5}
    assert res.objective["weighted_shortfall"] == 15 and res.objective["route_cost"] == 40
    level1 = res.level1.plan.fill.set_index("region")["delivered"]
    assert level1["P"] == 15 and level1["Q"] == 10
    assert allocator.solve(inst).objective["weighted_shortfall"] == 10
    check_invariants(inst, res)


def test_two_level_equals_flat_when_province_routes_reach_every_county():
    """Equity off, with the route B->p2 (cost 2). Flat: A->p1 10 (10), B->p2 10 (20), C->q2 5
    (5): weighted shortfall 10, cost 35. Level 1: A->P 10 (cost 1), B->P 10 (cost 2, capacity
    20), C->Q 5; level 2 in P sends A to p1 and B to p2: the same plan, gap 0."""
    inst = two_provinces(equity=False, b_to_p2=True)
    res = solve_hierarchical(inst)
    assert shipped(res.plan) == {("A", "p1"): 10, ("B", "p2"): 10, ("C", "q2"): 5}
    gap = gap_vs_flat(inst, res)
    assert gap["weighted_shortfall_gap"] == 0 and gap["route_cost_gap"] == 0
    assert res.objective["gap_bound"] == 0


def test_leaves_of_different_weight_stay_apart_at_level_1():
    """County p1 is level-one (weight 8), p2 is not (1): P becomes two level-1 regions, each
    row with its exact weight; the ICU rows (x 4) keep theirs too."""
    inst = instance(
        products=[
            {"product": "gb", "family": "suit", "grade": "icu"},
            {"product": "em", "family": "suit", "grade": "general"},
        ],
        sources=[{"source": "s", "name": "S", "region": "p1"}],
        supply=[("s", "gb", 7), ("s", "em", 9)],
        regions=[
            {"region": "p1", "name": "P1", "parent": "P", "flags": "level_one_response"},
            {"region": "p2", "name": "P2", "parent": "P"},
            {"region": "q1", "name": "Q1", "parent": "Q", "weight": 3},
            {"region": "q2", "name": "Q2", "parent": "Q", "weight": 3},
        ],
        demand=[
            {"region": r, "family": "suit", "use": u, "quantity": q}
            for r, u, q in (
                ("p1", "icu", 2),
                ("p1", "general", 3),
                ("p2", "icu", 4),
                ("p2", "general", 5),
                ("q1", "general", 6),
                ("q2", "general", 7),
            )
        ],
        routes=[("s", r, 1) for r in ("p1", "p2", "q1", "q2")],
    )
    l1, leaves = level1_instance(inst)
    got = {(r, u): (q, w) for r, u, q, w in l1.demand[["region", "use", "quantity", "weight"]].itertuples(index=False)}
    assert got == {
        ("P#1", "icu"): (4, 4),
        ("P#1", "general"): (5, 1),
        ("P#2", "icu"): (2, 32),
        ("P#2", "general"): (3, 8),
        ("Q", "general"): (13, 3),
    }
    assert l1.demand_weights().tolist() == l1.demand["weight"].tolist()
    res = solve_hierarchical(inst)
    flat = allocator.solve(inst)
    # One source reaches every county: nothing is lost by aggregation.
    assert res.objective["weighted_shortfall"] == flat.objective["weighted_shortfall"]
    assert (res.plan.fill["weight"].to_numpy() == flat.plan.fill["weight"].to_numpy()).all()
    check_invariants(inst, res)


def test_top_regions_follow_the_chain_and_refuse_cycles():
    regions = pd.DataFrame(
        {"region": ["c1", "c2", "pref", "prov", "lone", "own"], "parent": ["pref", "prov", "prov", "", "", "own"]}
    )
    assert top_regions(regions).to_dict() == {
        "c1": "prov",
        "c2": "prov",
        "pref": "prov",
        "prov": "prov",
        "lone": "lone",
        "own": "own",
    }
    unlisted = pd.DataFrame({"region": ["a1", "a2"], "parent": ["anhui", "anhui"]})
    assert top_regions(unlisted).tolist() == ["anhui", "anhui"]
    cycle = pd.DataFrame({"region": ["a", "b", "c", "d"], "parent": ["b", "a", "a", ""]})
    with pytest.raises(allocator.InstanceError, match="cycle"):
        top_regions(cycle)


def test_an_instance_without_hierarchy_is_refused():
    inst = allocator.from_frames(**generate("province", 0))
    with pytest.raises(allocator.InstanceError, match="no region with demand has a parent"):
        solve_hierarchical(inst)


# The province scale has no parents; give each province its greater administrative region
# (the six of the 1950s, still used in statistics), so that the generated instance has two levels.
GREATER = {
    "north": ["beijing", "tianjin", "hebei", "shanxi", "inner_mongolia"],
    "northeast": ["liaoning", "jilin", "heilongjiang"],
    "east": ["shanghai", "jiangsu", "zhejiang", "anhui", "fujian", "jiangxi", "shandong"],
    "central_south": ["henan", "hubei", "hunan", "guangdong", "guangxi", "hainan"],
    "southwest": ["chongqing", "sichuan", "guizhou", "yunnan", "tibet"],
    "northwest": ["shaanxi", "gansu", "qinghai", "ningxia", "xinjiang", "xpcc"],
}


@pytest.fixture(scope="module")
def generated():
    tables = generate("province", 3)
    parent = {p: g for g, ps in GREATER.items() for p in ps}
    tables["regions"] = tables["regions"].assign(parent=tables["regions"]["region"].map(parent))
    assert tables["regions"]["parent"].notna().all()
    inst = allocator.from_frames(**tables)
    return inst, solve_hierarchical(inst, workers=1)


def test_generated_instance_invariants_and_gap(generated):
    inst, res = generated
    check_invariants(inst, res)
    assert len(res.provinces) == 6 and res.provinces["leaves"].sum() == 32
    # Flagged provinces inside a greater region weigh differently: more than 6 level-1 regions.
    assert res.provinces["groups"].sum() > 6
    fill = res.plan.fill
    keys = pd.MultiIndex.from_frame(inst.demand[["region", "family", "use"]])
    # Every row keeps its weight through aggregation.
    assert (
        fill.set_index(["region", "family", "use"])["weight"].reindex(keys).to_numpy()
        == inst.demand_weights().to_numpy()
    ).all()
    level1 = res.level1.instance
    assert (level1.demand_weights().to_numpy() == level1.demand["weight"].to_numpy()).all()
    gap = gap_vs_flat(inst, res)
    w2, wf = gap["two_level_weighted_shortfall"], gap["flat_weighted_shortfall"]
    assert w2 >= wf - 1e-6 * wf, "the two-level plan cannot beat the flat optimum"
    assert gap["weighted_shortfall_gap"] >= 0
    assert res.objective["level1_weighted_shortfall"] <= wf + 1e-6 * wf, "level 1 is a relaxation"
    got = fill.set_index(["region", "family", "use"])["shortfall"].reindex(keys).to_numpy()
    assert float(inst.demand_weights().to_numpy() @ got) == pytest.approx(w2, rel=1e-9)


def test_parallel_equals_serial(generated):
    inst, serial = generated
    parallel = solve_hierarchical(inst, workers=2)
    pd.testing.assert_frame_equal(parallel.plan.dispatch, serial.plan.dispatch)
    pd.testing.assert_frame_equal(parallel.plan.fill, serial.plan.fill)
    from allocator.report.folder import csv_text

    assert csv_text(parallel.plan.dispatch) == csv_text(serial.plan.dispatch)


def test_cli_hierarchy(tmp_path, capsys):
    inst = two_provinces(equity=False)
    folder = write_folder(
        tmp_path / "day",
        {
            "products": inst.products.drop(columns="_row"),
            "sources": inst.sources.drop(columns="_row"),
            "supply": inst.supply.drop(columns="_row"),
            "regions": inst.regions.drop(columns="_row"),
            "demand": inst.demand.drop(columns="_row"),
            "routes": inst.routes.drop(columns="_row"),
        },
        'equity = "off"\n',
    )
    code, text = run_cli(capsys, "solve", str(folder), "--hierarchy")
    assert code == 0, text
    assert "TWO-LEVEL PLAN" in text and "gap vs flat" not in text
    assert "weighted shortfall 20 | route cost 15" in text
    code, text = run_cli(
        capsys, "solve", str(folder), "--hierarchy", "--gap", "--workers", "2", "--output", str(tmp_path / "plan")
    )
    assert code == 0, text
    assert "gap vs flat: weighted shortfall +100.0000% (flat 10)" in text
    dispatch, fill = allocator.read_plan(tmp_path / "plan")
    assert allocator.verify(inst, dispatch, fill=fill, optimality=False).ok
    code, text = run_cli(capsys, "solve", str(folder), "--gap")
    assert code == 2 and "--gap" in text
    # --report: the two-level plan's page, with its totals (the page itself: test_htmlreport.py).
    code, text = run_cli(capsys, "solve", str(folder), "--hierarchy", "--report", str(tmp_path / "h.html"))
    assert code == 0, text
    assert "TWO-LEVEL PLAN" in text and f"wrote {tmp_path / 'h.html'}" in text
    page = (tmp_path / "h.html").read_text(encoding="utf-8")
    units = sum(shipped(solve_hierarchical(inst).plan).values())
    assert "Fill rate by region and shipments" in page and f"{units:,.0f} units shipped" in page
