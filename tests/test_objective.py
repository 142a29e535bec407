"""One objective type for every family (``plan.objective.Objective``): what it records for an
optimal and a stopped solve, that every result returns it, and that it stays a plain mapping
(``result.objective["route_cost"]``, ``json.dumps``) with typed properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_multiday import random_case

import allocator
from allocator.engine.types import Method, StagedSolution, Status
from allocator.pipeline.days import plan
from allocator.pipeline.replay import replay
from allocator.plan.objective import EQUITY_NOT_REACHED, EQUITY_ON, Objective

BUNDLED = "instances/suits-2020-02-05"


def _sol(**kw) -> StagedSolution:
    base = dict(x=np.zeros(1), weighted_shortfall=120.0, route_cost=33.5, fair_fill=np.zeros(1), lp_solves=3)
    base.update(kw)
    return StagedSolution(**base)


def test_an_optimal_solve():
    o = Objective.of(_sol(shortfall_bound=120.0), True)
    assert o == {"weighted_shortfall": 120, "route_cost": 33.5, "equity": EQUITY_ON}  # a day's: no bound
    assert o.proven and o.bound is None and o.gap == 0.0
    o = Objective.of(_sol(shortfall_bound=120.0), True, show_bound=True)  # several days: always the bound
    assert o["weighted_shortfall_bound"] == 120 and o["weighted_shortfall_gap"] == 0
    assert Objective.of(_sol(), False)["equity"] == "off"


@pytest.mark.parametrize(
    ("stage", "equity"),
    [("shortfall", EQUITY_NOT_REACHED), ("equity", EQUITY_NOT_REACHED), ("cost", EQUITY_ON)],
)
def test_a_stopped_solve_records_its_bound_gap_and_stage(stage, equity):
    sol = _sol(status=Status.TIME_LIMIT, stopped_in=stage, shortfall_bound=90.0, method=Method.MIP)
    o = Objective.of(sol, True)
    assert o["stopped_in"] == stage and not o.proven
    assert o.bound == 90.0 and o.gap == pytest.approx(30 / 120)  # (120 - 90) / 120, by hand
    assert o["equity"] == equity  # the equity stage finished only when the cost stage was stopped
    nothing = Objective.of(_sol(status=Status.TIME_LIMIT, stopped_in="shortfall"), True)
    assert nothing.bound == 0.0 and nothing.gap == 1.0  # nothing proven: the trivial bound


def test_every_family_returns_it_and_it_serialises_as_before():
    day = allocator.solve(allocator.load(BUNDLED))
    inst, _ = random_case(101)
    days = plan(inst, horizon=2)
    history = replay(inst, horizon=1)
    for obj, summary in (
        (day.objective, day.summary()),
        (days.objective, days.summary()),
        (history.objective, history.summary()),
    ):
        assert isinstance(obj, Objective)
        assert json.loads(json.dumps(obj)) == summary["objective"] == obj
        assert obj.weighted_shortfall == obj["weighted_shortfall"] and obj.route_cost == obj["route_cost"]
    assert days.objective.weighted_shortfall == pytest.approx(days.solution.weighted_shortfall, abs=1e-6)
    assert days.objective.bound == pytest.approx(days.solution.shortfall_bound, abs=1e-6)
    assert "jain_index" in history.objective
