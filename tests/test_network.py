"""The network engine (exact integer flows) against the LP engine, by hand, and at its edges."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from helpers import instance, random_instance
from test_hand_cases import check_invariants

import allocator
from allocator.errors import SolverError
from allocator.inputs.policy import Policy

SUIT = [{"product": "suit", "family": "suit", "grade": "general"}]


@pytest.mark.parametrize("seed", range(24))
def test_network_and_lp_engines_agree(seed):
    """Same least weighted shortfall, same least cost, same fair levels; every invariant."""
    eq = seed % 2 == 0
    inst = random_instance(500 + seed, n_sources=7, n_regions=9, equity=eq, icu_for_general=seed % 3 == 0)
    net = allocator.solve(inst, solver="network")
    lp = allocator.solve(inst, solver="highs")
    assert net.solver == "network" and lp.solver == "highs"
    for key in ("weighted_shortfall", "route_cost"):
        assert net.objective[key] == pytest.approx(lp.objective[key], abs=1e-6)
    if eq:
        np.testing.assert_allclose(net.fair_fill, lp.fair_fill, atol=1e-7)
        lo, hi = net.fair_box
        keys = ["region", "family", "use"]
        delivered = inst.demand[keys].merge(net.plan.fill[keys + ["delivered"]], on=keys, how="left")["delivered"]
        assert np.all((lo <= delivered) & (delivered <= hi))
    check_invariants(inst, net)
    assert allocator.verify(inst, net.plan).ok


def test_fair_levels_by_hand_are_exact_fractions():
    """a (4) is reached only by s1 (3 units): level 3/4. b (4) and c (2) share s2's 5 units: 5/6 each."""
    inst = instance(
        products=SUIT,
        sources=[{"source": "s1", "name": "s1", "region": "a"}, {"source": "s2", "name": "s2", "region": "b"}],
        supply=[("s1", "suit", 3), ("s2", "suit", 5)],
        regions=[{"region": r, "name": r} for r in "abc"],
        demand=[
            {"region": r, "family": "suit", "use": "general", "quantity": q} for r, q in (("a", 4), ("b", 4), ("c", 2))
        ],
        routes=[("s1", "a", 1), ("s2", "b", 1), ("s2", "c", 5)],
    )
    res = allocator.solve(inst, solver="network")
    assert [Fraction(x).limit_denominator(100) for x in res.fair_fill] == [
        Fraction(3, 4),
        Fraction(5, 6),
        Fraction(5, 6),
    ]
    lo, hi = res.fair_box
    assert list(lo) == [3, 3, 1] and list(hi) == [3, 4, 2]  # shares 3, 10/3, 5/3
    got = res.plan.fill.set_index("region")["delivered"]
    # Least cost inside the boxes: c is the dear one, so it gets the floor of its share.
    assert (got["a"], got["b"], got["c"]) == (3, 4, 1)
    assert res.objective["route_cost"] == 3 * 1 + 4 * 1 + 1 * 5
    check_invariants(inst, res)


def test_exact_boxes_where_the_lp_precision_runs_out():
    """A tier holding a billion-unit row: the LP knows shares to about 1 unit; the flows exactly.

    Rows x and y (3 each) share s1's 5 units: 5/2 each, so each gets 2 or 3, and together 5.
    """
    inst = instance(
        products=SUIT,
        sources=[{"source": "s1", "name": "s1", "region": "x"}, {"source": "s2", "name": "s2", "region": "big"}],
        supply=[("s1", "suit", 5), ("s2", "suit", 10**9)],
        regions=[{"region": r, "name": r} for r in ("x", "y", "big")],
        demand=[
            {"region": r, "family": "suit", "use": "general", "quantity": q}
            for r, q in (("x", 3), ("y", 3), ("big", 10**9))
        ],
        routes=[("s1", "x", 1), ("s1", "y", 2), ("s2", "big", 1)],
    )
    res = allocator.solve(inst, solver="network")
    lo, hi = res.fair_box
    assert list(lo) == [2, 2, 10**9] and list(hi) == [3, 3, 10**9]
    got = res.plan.fill.set_index("region")["delivered"]
    assert (got["x"], got["y"], got["big"]) == (3, 2, 10**9)  # y is the dearer route
    assert allocator.verify(inst, res.plan).ok


@pytest.mark.parametrize("seed", range(6))
def test_divisible_goods_are_solved_in_thousandths(seed):
    """Sanitiser in tonnes to 3 decimals: the network engine solves it in kilograms, exactly.

    Without equity the optimum is the LP engine's. With equity the fair levels are the
    same exact fractions; each row's box is its fair share rounded to the kilogram, a
    little wider than the LP's point, so the least cost can only be lower.
    """
    eq = seed % 2 == 0
    inst = random_instance(40 + seed, fractional_family=True, equity=eq)
    net = allocator.solve(inst, solver="network")
    lp = allocator.solve(inst, solver="highs")
    assert net.solver == "network"
    assert net.objective["weighted_shortfall"] == pytest.approx(lp.objective["weighted_shortfall"], abs=1e-6)
    if eq:
        np.testing.assert_allclose(net.fair_fill, lp.fair_fill, atol=1e-7)
        assert net.objective["route_cost"] <= lp.objective["route_cost"] + 1e-6
        lo, hi = net.fair_box
        gel = (inst.demand["family"] == "sanitiser").to_numpy()
        assert np.all(hi[gel] - lo[gel] <= 0.001 + 1e-12) and np.any(hi[gel] > lo[gel])
    else:
        assert net.objective["route_cost"] == pytest.approx(lp.objective["route_cost"], abs=1e-6)
    delivered = net.plan.dispatch.loc[net.plan.dispatch["product"] == "gel", "quantity"].to_numpy()
    np.testing.assert_allclose(delivered * 1000, np.round(delivered * 1000), atol=1e-6)  # whole kilograms
    check_invariants(inst, net)
    assert allocator.verify(inst, net.plan).ok


def test_quantities_with_many_decimals_go_to_the_lp_engine():
    products = [{"product": "gel", "family": "gel", "grade": "general", "countable": False}] + SUIT
    inst = instance(
        products=products,
        sources=[{"source": "s1", "name": "s1", "region": "a"}],
        supply=[("s1", "gel", 1 / 3), ("s1", "suit", 4)],
        regions=[{"region": "a", "name": "a"}, {"region": "b", "name": "b"}],
        demand=[
            {"region": "a", "family": "gel", "use": "general", "quantity": 0.2},
            {"region": "b", "family": "gel", "use": "general", "quantity": 0.2},
            {"region": "b", "family": "suit", "use": "general", "quantity": 5},
        ],
        routes=[("s1", "a", 1), ("s1", "b", 2)],
    )
    auto = allocator.solve(inst)
    assert auto.solver == "network+highs"  # suits on the network engine, the gel on the LP engine
    lp = allocator.solve(inst, solver="highs")
    for key in ("weighted_shortfall", "route_cost"):
        assert auto.objective[key] == pytest.approx(lp.objective[key], rel=1e-9, abs=1e-6)
    check_invariants(inst, auto)
    with pytest.raises(SolverError, match="network engine cannot solve this instance exactly"):
        allocator.solve(inst, solver="network")


def test_costs_with_many_decimals_go_to_the_lp_engine():
    inst = instance(
        products=SUIT,
        sources=[{"source": "s1", "name": "s1", "region": "a"}],
        supply=[("s1", "suit", 3)],
        regions=[{"region": "a", "name": "a"}],
        demand=[{"region": "a", "family": "suit", "use": "general", "quantity": 2}],
        routes=[("s1", "a", 1 / 3)],
        policy=Policy(equity=False),
    )
    res = allocator.solve(inst)
    assert res.solver == "highs" and res.objective["route_cost"] == pytest.approx(2 / 3)


def test_network_engine_on_the_cli(tmp_path, capsys):
    from helpers import run_cli
    from test_bundled_instance import SUITS

    code, text = run_cli(capsys, "solve", str(SUITS), "--solver", "highs", "--format", "json")
    assert code == 0
    code2, text2 = run_cli(capsys, "solve", str(SUITS), "--solver", "network", "--format", "json")
    assert code2 == 0
    import json

    a, b = json.loads(text), json.loads(text2)
    assert a["solver"] == "highs" and b["solver"] == "network"
    assert a["objective"] == b["objective"]


@pytest.mark.parametrize("seed", range(4))
def test_families_solved_apart_give_the_same_optimum(seed, monkeypatch):
    """At scale each family is its own part (engine.PART_COLUMNS); the optimum is the same."""
    from allocator.build.daily import build, partition
    from allocator.engine import daily as engine

    inst = random_instance(70 + seed, fractional_family=True, equity=seed % 2 == 0, icu_for_general=seed == 1)
    together = allocator.solve(inst)
    monkeypatch.setattr(engine, "PART_COLUMNS", 1)
    model = build(inst)
    groups = engine.family_groups(model)
    assert sorted(len(g) for g in groups) == [1, 1, 1]  # suit, mask; sanitiser
    cols = np.concatenate([c for _, c in partition(model, groups)])
    assert np.array_equal(np.sort(cols), np.arange(model.n_cols))  # every column in one part
    apart = allocator.solve(inst)
    for key in ("weighted_shortfall", "route_cost"):
        assert apart.objective[key] == pytest.approx(together.objective[key], abs=1e-6)
    np.testing.assert_allclose(apart.fair_fill, together.fair_fill, atol=1e-9)
    check_invariants(inst, apart)
    assert allocator.verify(inst, apart.plan).ok


@pytest.mark.parametrize("solver", ["auto", "network", "highs"])
def test_divisible_supply_nobody_demands_does_not_set_the_unit(solver):
    """1.5 t of gel that no row demands left countable shields planned in tenths (found by the
    substitution work): the unit comes from the rows arcs leave. 5 shields, demand 8 at a and
    4 at b: fair share 5/12 each, boxes a [3, 4] and b [1, 2]; a is local (cost 0): 4 + 1."""
    products = pd.DataFrame({"product": ["shield", "gel"], "countable": [True, False]})
    sources = pd.DataFrame({"source": ["s1"], "name": ["S"], "region": ["a"]})
    supply = pd.DataFrame({"source": ["s1", "s1"], "product": ["shield", "gel"], "quantity": [5, 1.5]})
    regions = pd.DataFrame({"region": ["a", "b"], "name": ["A", "B"], "lat": [30, 31], "lon": [114, 115]})
    demand = pd.DataFrame({"region": ["a", "b"], "family": ["shield", "shield"], "quantity": [8, 4]})
    inst = allocator.from_frames(products=products, sources=sources, supply=supply, regions=regions, demand=demand)
    r = allocator.solve(inst, solver=solver)
    d = r.plan.dispatch.set_index("region")["quantity"]
    assert (d["a"], d["b"]) == (4, 1)
    assert r.objective["weighted_shortfall"] == 7
