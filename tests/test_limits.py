"""Limits: time limit, memory guard, large numbers, determinism."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import instance, random_instance, run_cli
from reference import networkx_reference
from test_hand_cases import check_invariants

import allocator
from allocator.build.daily import build
from allocator.build.guard import InstanceTooLarge, count_arcs
from allocator.engine.backends.base import Status

SUITS = Path(__file__).resolve().parents[1] / "instances" / "suits-2020-02-05"


@pytest.mark.parametrize("seed", range(6))
def test_time_limit_zero_gives_a_feasible_plan_and_a_true_bound(seed):
    inst = random_instance(300 + seed, n_sources=8, n_regions=9)
    best = allocator.solve(inst)
    res = allocator.solve(inst, time_limit=0)
    assert res.status == "time_limit" and res.objective["stopped_in"] == "shortfall"
    check_invariants(inst, res)
    bound = res.objective["weighted_shortfall_bound"]
    w_opt = best.objective["weighted_shortfall"]
    assert bound <= w_opt + 1e-9 <= res.objective["weighted_shortfall"] + 2e-9
    gap = res.objective["weighted_shortfall_gap"]
    w = res.objective["weighted_shortfall"]
    assert gap == pytest.approx((w - bound) / w if w else 0.0, abs=1e-6)


def test_time_limit_in_the_network_equity_stage_keeps_least_shortfall(monkeypatch):
    """The limit strikes between two flows of the equity stage: least-cost plan of the stage-1 optimum."""
    from allocator.engine import network as netflow

    inst = random_instance(11, n_sources=8, n_regions=9)
    best = allocator.solve(inst, solver="network")
    off = allocator.solve(inst, solver="network", equity=False)
    real = netflow._check_time

    def limited(deadline):  # out of time once the stage-1 flows are done, in every family
        if sys._getframe(1).f_code.co_name == "_fair_tier":
            raise netflow._OutOfTime
        return real(deadline)

    monkeypatch.setattr(netflow, "_check_time", limited)
    res = allocator.solve(inst, solver="network")
    assert res.status == "time_limit" and res.objective["stopped_in"] == "equity"
    assert res.objective["weighted_shortfall"] == best.objective["weighted_shortfall"]
    assert res.objective["weighted_shortfall_gap"] == 0
    assert res.objective["route_cost"] == pytest.approx(off.objective["route_cost"], abs=1e-6)
    check_invariants(inst, res)


@pytest.mark.parametrize("stop_at,stage", [(2, "equity"), ("last", "cost")])
def test_time_limit_in_later_stages_keeps_least_shortfall(monkeypatch, stop_at, stage):
    """The limit strikes in the k-th LP: the plan falls back to the stage-1 optimum."""
    inst = random_instance(11, n_sources=8, n_regions=9)
    best = allocator.solve(inst, solver="highs")
    stop_at = best.lp_solves if stop_at == "last" else stop_at
    from allocator.engine.backends import highs

    real = highs.HighsLP.solve
    calls = []

    def limited(self):
        calls.append(1)
        r = real(self)
        if len(calls) >= stop_at:
            r.status = Status.TIME_LIMIT
        return r

    monkeypatch.setattr(highs.HighsLP, "solve", limited)
    res = allocator.solve(inst, solver="highs")
    assert res.status == "time_limit" and res.objective["stopped_in"] == stage
    assert res.objective["weighted_shortfall"] == best.objective["weighted_shortfall"]
    assert res.objective["weighted_shortfall_gap"] == 0
    check_invariants(inst, res)


def test_time_limit_on_the_command_line(tmp_path, capsys):
    code, text = run_cli(capsys, "solve", str(SUITS), "--time-limit", "0", "--output", str(tmp_path / "p"))
    assert code == 0 and "TIME LIMIT reached in stage 1" in text and "gap at most" in text
    code, text = run_cli(capsys, "verify", str(SUITS), str(tmp_path / "p"), "--no-optimality")
    assert code == 0


def test_memory_guard_refuses_early(capsys):
    inst = allocator.load(SUITS)
    assert count_arcs(inst) == build(inst).n_ship
    with pytest.raises(InstanceTooLarge, match="310 route-product arcs need about"):
        allocator.solve(inst, memory_limit=10 * 2**20)
    code, text = run_cli(capsys, "solve", str(SUITS), "--memory-limit", "0.01")
    assert code == 2 and "too large for this machine" in text


def test_arc_count_is_an_upper_bound_with_routes():
    for seed in range(5):
        inst = random_instance(seed)
        assert count_arcs(inst) >= build(inst).n_ship


SUIT = [{"product": "suit", "family": "suit", "grade": "general"}]


def test_billion_units_and_six_orders_of_cost():
    """A and B need 1e9 each (equal weight); 1,000,000,001 units reach both; costs 0.001 and 1,000.

    Weighted shortfall 2e9 - 1,000,000,001 = 999,999,999, exactly. Fair share 500,000,000.5
    each; at a billion units the LP knows a share to about one part in 1e9, so whole units
    land within two units of it, and the cheap route takes the odd units:
    A = 500,000,001 and B = 500,000,000 give 500,000,001 x 0.001 + 500,000,000 x 1,000.
    """
    inst = instance(
        products=SUIT,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "suit", 1_000_000_001)],
        regions=[{"region": "a", "name": "A"}, {"region": "b", "name": "B"}],
        demand=[{"region": r, "family": "suit", "quantity": 1_000_000_000} for r in "ab"],
        routes=[("s", "a", 0.001), ("s", "b", 1000)],
    )
    res = allocator.solve(inst)
    fill = res.plan.fill.set_index("region")["delivered"]
    a, b = fill["a"], fill["b"]
    assert res.objective["weighted_shortfall"] == 999_999_999
    assert a + b == 1_000_000_001 and abs(a - 500_000_000.5) <= 2 and a > b
    assert res.objective["route_cost"] == pytest.approx(a * 0.001 + b * 1000, rel=1e-12)
    assert res.objective["route_cost"] <= 500_000_001 * 0.001 + 500_000_000 * 1000 + 1e-3
    check_invariants(inst, res)
    assert allocator.verify(inst, res.plan, reference=res).ok


@pytest.mark.parametrize("seed", range(4))
def test_large_quantities_and_wide_costs_match_networkx(seed):
    """Quantities up to ~1e9, costs from 0.001 to 1,000: equal to the integer network simplex."""
    inst = random_instance(400 + seed, equity=False)
    rng = np.random.default_rng(seed)
    inst.supply["quantity"] = inst.supply["quantity"] * 12_345_679  # up to ~7e8
    inst.demand["quantity"] = inst.demand["quantity"] * 12_345_679
    inst.routes["cost"] = np.round(10.0 ** rng.uniform(-3, 3, len(inst.routes)), 3)
    inst.routes["capacity"] = inst.routes["capacity"] * 12_345_679
    res = allocator.solve(inst)
    ref = networkx_reference(inst)
    assert res.objective["weighted_shortfall"] == ref["weighted_shortfall"]
    assert res.objective["route_cost"] == pytest.approx(ref["route_cost"], rel=1e-12)
    check_invariants(inst, res)


def test_one_unit_and_a_billion_in_one_tier():
    """A needs 1, B needs 1e9 (equal weight); 500,000,000 units reach both (cost 5 to A, 1 to B).

    Fair level t = 5e8 / 1,000,000,001 for both: A's fair share is about half a unit, so 0 or
    1 is fair. The LP cannot tell A's share from B's last unit at this spread (one part in
    1e9 of the tier's largest demand), which the fair box allows for; the cheapest fair plan
    is A 0, B 500,000,000 at cost 500,000,000.
    """
    inst = instance(
        products=SUIT,
        sources=[{"source": "s", "name": "S", "region": "a"}],
        supply=[("s", "suit", 500_000_000)],
        regions=[{"region": "a", "name": "A"}, {"region": "b", "name": "B"}],
        demand=[
            {"region": "a", "family": "suit", "quantity": 1},
            {"region": "b", "family": "suit", "quantity": 1_000_000_000},
        ],
        routes=[("s", "a", 5), ("s", "b", 1)],
    )
    res = allocator.solve(inst)
    assert res.fair_fill[1] == pytest.approx(5e8 / 1_000_000_001, rel=1e-9)
    fill = res.plan.fill.set_index("region")["delivered"]
    assert fill["a"] == 0 and fill["b"] == 500_000_000
    assert res.objective["route_cost"] == 500_000_000
    check_invariants(inst, res)
