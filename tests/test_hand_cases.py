"""Tiny instances whose optimum is worked out by hand (in each docstring)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import instance

import allocator
from allocator.inputs.policy import Policy

SUIT = [{"product": "suit", "family": "suit", "grade": "general"}]


def regions(*specs):
    return [{"region": r, "name": r.upper(), "flags": f} for r, f in specs]


def check_invariants(inst, result):
    """Every plan invariant, recomputed here from the tables."""
    d = result.plan.dispatch
    supply = inst.supply.set_index(["source", "product"])["quantity"]
    for (s, p), q in d.groupby(["source", "product"])["quantity"].sum().items():
        assert q <= supply[(s, p)] + 1e-9, "shipped more than produced"
    fill = result.plan.fill
    assert (fill["delivered"] <= fill["demand"] + 1e-9).all(), "delivered beyond demand"
    countable = inst.products.set_index("product")["countable"]
    whole = d.loc[d["product"].map(countable).astype(bool).to_numpy(), "quantity"]
    assert (whole == np.round(whole)).all(), "fractional units of a countable product"
    grade = inst.products.set_index("product")["grade"]
    if not inst.policy.icu_grade_for_general:
        alloc = result.plan.allocation
        assert not ((alloc["product"].map(grade) == "icu") & (alloc["use"] == "general")).any()
    assert (
        ((alloc := result.plan.allocation)["product"].map(grade) != "general").where(alloc["use"] == "icu", True).all()
    ), "general-grade item served ICU demand"
    assert allocator.verify(inst, result.plan, optimality=False).ok


def delivered(result, region, use="general", family="suit"):
    f = result.plan.fill
    row = f[(f["region"] == region) & (f["use"] == use) & (f["family"] == family)]
    return float(row["delivered"].iloc[0])


def test_priority_and_cost():
    """S (10 units) -> A (level-one, weight 8, needs 6, cost 5/unit) and B (weight 1, needs 8, cost 1).

    A first: A gets 6, B the other 4. Weighted shortfall 1 x 4 = 4; route cost 6x5 + 4x1 = 34.
    """
    inst = instance(
        products=SUIT,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "suit", 10)],
        regions=regions(("a", "level_one_response"), ("b", "")),
        demand=[{"region": "a", "family": "suit", "quantity": 6}, {"region": "b", "family": "suit", "quantity": 8}],
        routes=[("s", "a", 5), ("s", "b", 1)],
    )
    res = allocator.solve(inst)
    assert res.objective["weighted_shortfall"] == 4
    assert res.objective["route_cost"] == 34
    assert delivered(res, "a") == 6 and delivered(res, "b") == 4
    reason = res.plan.fill.set_index("region").loc["b", "reason"]
    assert reason == "outranked: 6 reachable units went to higher-weight demand in A general (w 8)"
    check_invariants(inst, res)


def test_icu_grade_reserved_for_icu_unless_policy_allows():
    """8 ICU-grade suits; region A needs 5 ICU (weight 4) and 5 general (weight 1).

    Rule on (default): 5 to ICU, 3 stay unshipped; weighted shortfall 5 x 1 = 5.
    ICU-grade for general allowed: 5 ICU + 3 general; weighted shortfall 2 x 1 = 2.
    """
    products = [
        {"product": "gb", "family": "suit", "grade": "icu"},
        {"product": "em", "family": "suit", "grade": "general"},
    ]
    kw = dict(
        products=products,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "gb", 8), ("s", "em", 0)],
        regions=regions(("a", "")),
        demand=[
            {"region": "a", "family": "suit", "use": "icu", "quantity": 5},
            {"region": "a", "family": "suit", "use": "general", "quantity": 5},
        ],
        routes=[("s", "a", 1)],
    )
    inst = instance(**kw)
    res = allocator.solve(inst)
    assert res.objective["weighted_shortfall"] == 5
    assert delivered(res, "a", "icu") == 5 and delivered(res, "a", "general") == 0
    assert res.plan.dispatch["quantity"].sum() == 5
    check_invariants(inst, res)
    allowed = allocator.solve(inst, icu_grade_for_general=True)
    assert allowed.objective["weighted_shortfall"] == 2
    assert delivered(allowed, "a", "general") == 3
    check_invariants(allowed.instance, allowed)


def test_general_grade_never_serves_icu():
    """Only general-grade suits (10); A needs 4 ICU: none can be served, 4 general get 4."""
    products = [{"product": "em", "family": "suit", "grade": "general"}]
    inst = instance(
        products=products,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "em", 10)],
        regions=regions(("a", "")),
        demand=[
            {"region": "a", "family": "suit", "use": "icu", "quantity": 4},
            {"region": "a", "family": "suit", "use": "general", "quantity": 4},
        ],
        routes=[("s", "a", 1)],
    )
    res = allocator.solve(inst)
    assert delivered(res, "a", "icu") == 0 and delivered(res, "a", "general") == 4
    assert res.objective["weighted_shortfall"] == 4 * 4  # icu weight 4 x 4 units
    fill = res.plan.fill.set_index("use")
    assert "no ICU-grade suit supply anywhere" in fill.loc["icu", "reason"]


EQUITY = dict(
    products=SUIT,
    sources=[{"source": "s1", "name": "S1", "region": "a"}, {"source": "s2", "name": "S2", "region": "b"}],
    supply=[("s1", "suit", 30), ("s2", "suit", 150)],
    regions=regions(("a", ""), ("b", ""), ("c", "")),
    demand=[{"region": r, "family": "suit", "quantity": 100} for r in "abc"],
    routes=[("s1", "a", 1), ("s2", "b", 1), ("s2", "c", 2)],
)


def test_equity_max_min_fair():
    """Equal weights, 100 each. S1 (30) reaches only A; S2 (150) reaches B (cost 1) and C (cost 2).

    Least shortfall: all 180 units ship, shortfall 120 whatever the split. Max-min fair:
    A is stuck at 30%; B and C share 150 at 75% each. Route cost 30 + 75 + 150 = 255.
    Without equity the cheapest split fills B to 100 and C to 50: cost 30 + 100 + 100 = 230.
    """
    inst = instance(**EQUITY)
    res = allocator.solve(inst)
    assert res.objective["weighted_shortfall"] == 120
    assert [delivered(res, r) for r in "abc"] == [30, 75, 75]
    assert res.objective["route_cost"] == 255
    np.testing.assert_allclose(res.fair_fill, [0.3, 0.75, 0.75])
    reasons = res.plan.fill.set_index("region")["reason"]
    assert reasons["a"] == "not enough supply: all 30 reachable units are delivered here"
    assert reasons["b"].startswith("shared: 75 reachable units went to equal-weight demand")
    check_invariants(inst, res)
    off = allocator.solve(inst, equity=False)
    assert off.objective["weighted_shortfall"] == 120
    assert [delivered(off, r) for r in "abc"] == [30, 100, 50]
    assert off.objective["route_cost"] == 230
    # The equity-off plan is feasible but not fair: verify says so.
    ver = allocator.verify(inst, off.plan)
    assert not ver.ok and set(ver.errors()["rule"]) == {"equity"}


def test_equity_rounds_to_whole_units_at_least_cost():
    """3 units, A and B need 2 each (equal weight), cost to A 1, to B 2.

    Fair level 75% = 1.5 units each: whole units give one of them 2 and the other 1; the
    cheaper is A 2, B 1 at cost 2x1 + 1x2 = 4.
    """
    inst = instance(
        products=SUIT,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "suit", 3)],
        regions=regions(("a", ""), ("b", "")),
        demand=[{"region": r, "family": "suit", "quantity": 2} for r in "ab"],
        routes=[("s", "a", 1), ("s", "b", 2)],
    )
    res = allocator.solve(inst)
    assert res.objective["route_cost"] == 4 and res.objective["weighted_shortfall"] == 1
    assert [delivered(res, r) for r in "ab"] == [2, 1]
    check_invariants(inst, res)


def test_route_capacity_and_tiers():
    """S (20) reaches A (weight 8, needs 15) by a route carrying at most 10, and B (weight 1, needs 20).

    A gets 10 (capacity), B gets the other 10. Weighted shortfall 8x5 + 1x10 = 50.
    """
    inst = instance(
        products=SUIT,
        sources=[{"source": "s", "name": "S", "region": "b"}],
        supply=[("s", "suit", 20)],
        regions=regions(("a", "level_one_response"), ("b", "")),
        demand=[{"region": "a", "family": "suit", "quantity": 15}, {"region": "b", "family": "suit", "quantity": 20}],
        routes=[
            {"source": "s", "region": "a", "cost": 3, "capacity": 10},
            {"source": "s", "region": "b", "cost": 1, "capacity": None},
        ],
    )
    res = allocator.solve(inst)
    assert res.objective["weighted_shortfall"] == 50
    assert delivered(res, "a") == 10 and delivered(res, "b") == 10
    assert "capacity" in res.plan.fill.set_index("region").loc["a", "reason"]
    check_invariants(inst, res)


def test_non_countable_family_is_split_exactly():
    """2.5 t of sanitiser for A and B needing 2 t each (equal weight): 1.25 t each."""
    inst = instance(
        products=[{"product": "gel", "family": "gel", "grade": "general", "countable": False}],
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "gel", 2.5)],
        regions=regions(("a", ""), ("b", "")),
        demand=[{"region": r, "family": "gel", "quantity": 2} for r in "ab"],
        routes=[("s", "a", 1), ("s", "b", 1)],
    )
    res = allocator.solve(inst)
    assert delivered(res, "a", family="gel") == pytest.approx(1.25)
    assert delivered(res, "b", family="gel") == pytest.approx(1.25)
    assert res.objective["weighted_shortfall"] == pytest.approx(1.5)


def test_demand_weight_rule():
    """Own weight wins; else region weight x largest flag weight x ICU factor."""
    pol = Policy()
    inst = instance(
        policy=pol,
        products=[{"product": "gb", "family": "suit", "grade": "icu"}],
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "gb", 1)],
        regions=[
            {"region": "a", "name": "A", "flags": "port_of_entry;level_one_response", "weight": 3},
            {"region": "b", "name": "B", "flags": "", "weight": None},
        ],
        demand=[
            {"region": "a", "family": "suit", "use": "icu", "quantity": 1},
            {"region": "a", "family": "suit", "use": "general", "quantity": 1},
            {"region": "b", "family": "suit", "use": "general", "quantity": 1, "weight": 7.5},
        ],
        routes=[("s", "a", 1)],
    )
    assert list(inst.demand_weights()) == [3 * 8 * 4, 3 * 8, 7.5]


def test_great_circle_costs_without_routes():
    """No routes.csv: cost = great-circle km x cost_per_km (Wuhan -> Beijing is about 1,050 km)."""
    inst = instance(
        products=SUIT,
        sources=[{"source": "s", "name": "S", "region": "hubei"}],
        supply=[("s", "suit", 5)],
        regions=[
            {"region": "hubei", "name": "Hubei", "lat": 30.5928, "lon": 114.3055},
            {"region": "beijing", "name": "Beijing", "lat": 39.9042, "lon": 116.4074},
        ],
        demand=[{"region": "beijing", "family": "suit", "quantity": 5}],
    )
    res = allocator.solve(inst)
    unit = float(res.plan.dispatch["unit_cost"].iloc[0])
    assert 1040 < unit < 1065
    res2 = allocator.solve(inst.with_policy(inst.policy.with_overrides(["routes.cost_per_km=2"])))
    assert float(res2.plan.dispatch["unit_cost"].iloc[0]) == pytest.approx(2 * unit)


def test_verify_finds_the_fair_split_of_icu_grade_units_without_a_fill_table():
    """ICU-grade may serve general use; A's ICU and general rows weigh the same (1) and need 4
    each; 4 ICU-grade units arrive. Fair: 2 and 2. The dispatch alone does not say which use
    each unit served: verify must find the fair split rather than credit ICU use first."""
    products = [{"product": "gb", "family": "suit", "grade": "icu"}]
    inst = instance(
        policy=Policy(icu_grade_for_general=True),
        products=products,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "gb", 4)],
        regions=regions(("a", "")),
        demand=[
            {"region": "a", "family": "suit", "use": "icu", "quantity": 4, "weight": 1},
            {"region": "a", "family": "suit", "use": "general", "quantity": 4, "weight": 1},
        ],
        routes=[("s", "a", 1)],
    )
    res = allocator.solve(inst)
    assert [delivered(res, "a", u) for u in ("icu", "general")] == [2, 2]
    assert allocator.verify(inst, res.plan.dispatch).ok  # dispatch only, no fill table
    assert allocator.verify(inst, res.plan).ok
