"""A multi-day plan under a time limit: the whole-unit plan near the LP optimum
(``engine.neighbourhood``) that branch and bound starts from, and what a stopped solve returns.

On random multi-day instances with durable equipment and attrition (their LP optima are
fractional: the cases are chosen so, and the test says so), on horizons 1 to 3:

- the near plan is whole where countable, holds every row of the model, and its weighted
  shortfall lies at or above the proven whole-unit optimum (branch and bound without a limit),
  which lies at or above the LP bound;
- a solve the time limit stops right after the near plan returns that plan, status
  ``time_limit``, method ``rounded``, with a proven bound at most the optimum, and passes the
  plan's own checks (``verification.days``) and the folder verification;
- a generous time limit gives the proven optimum (the start changes the path, not the optimum).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_multiday import random_case

import allocator.engine.driver as driver
from allocator.build.horizon import Calendar, build_horizon
from allocator.engine.lp import solve_lexicographic
from allocator.engine.mip import lexicographic_mip
from allocator.engine.neighbourhood import near_plan
from allocator.engine.types import Deadline, Method, Status, fractional
from allocator.pipeline.days import plan
from allocator.verification.days import check_days, verify_days

TOL = 1e-6
SEEDS = (703, 11, 29)


def _fractional_cases():
    out = []
    for seed in SEEDS:
        inst, days = random_case(seed, durable=True)
        for h in (1, 2, 3):
            if h <= days:
                out.append((seed, h))
    return out


def _model(seed, h):
    inst, _ = random_case(seed, durable=True)
    cal = Calendar(inst)
    return inst, build_horizon(inst, cal.first, h, None, calendar=cal)


def _rows_hold(model, x) -> bool:
    ax = np.zeros(len(model.row_lower))
    for j in range(model.n_cols):  # the CSC columns, one at a time
        lo, hi = model.start[j], model.start[j + 1]
        ax[model.index[lo:hi]] += model.value[lo:hi] * x[j]
    scale = 1e-6 * max(1.0, float(np.abs(x).max()))
    return bool(
        np.all(ax >= model.row_lower - scale)
        and np.all(ax <= model.row_upper + scale)
        and np.all(x >= model.col_lower - scale)
        and np.all(x <= model.col_upper + scale)
    )


@pytest.mark.parametrize(("seed", "h"), _fractional_cases())
def test_the_near_plan_is_whole_feasible_and_no_better_than_the_optimum(seed, h):
    inst, model = _model(seed, h)
    lex = solve_lexicographic(model, equity=True, whole=False, deadline=Deadline(None), fallback=False)
    near = near_plan(model, lex.x, lex.fair_fill, Deadline(60))
    assert near is not None and near.stopped_in is None
    x = near.x
    countable = model.countable_cols()
    assert np.all(x[countable] == np.round(x[countable]))
    assert _rows_hold(model, x)
    best = lexicographic_mip(model, lex.fair_fill).x
    c1 = model.cost_vector("shortfall")
    assert float(x @ c1) >= float(best @ c1) - TOL >= lex.weighted_shortfall - 2 * TOL


def test_some_cases_have_a_fractional_lp_optimum():
    """The cases above mean something only where the LP optimum is fractional."""
    found = 0
    for seed, h in _fractional_cases():
        _, model = _model(seed, h)
        lex = solve_lexicographic(model, equity=True, whole=False, deadline=Deadline(None), fallback=False)
        found += fractional(model, lex.x) > TOL
    assert found >= 3


@pytest.mark.parametrize(("seed", "h"), _fractional_cases())
def test_a_solve_stopped_after_the_near_plan_returns_it_with_a_true_bound(seed, h, monkeypatch, tmp_path):
    inst, _ = random_case(seed, durable=True)
    best = plan(inst, horizon=h).solution.weighted_shortfall
    real = driver.near_plan
    calls = []

    def near_then_out_of_time(model, lp_x, fair, deadline):
        calls.append(1)
        result = real(model, lp_x, fair, deadline)
        deadline.seconds = 0.0  # the time limit strikes right after
        return result

    monkeypatch.setattr(driver, "near_plan", near_then_out_of_time)
    result = plan(inst, horizon=h, time_limit=60)  # check=True: the plan's own checks ran
    sol = result.solution
    if not calls:  # this horizon's LP optimum is whole: no branch and bound, no near plan
        assert sol.method is Method.LP and sol.status is Status.OPTIMAL
        return
    assert sol.status is Status.TIME_LIMIT and sol.method is Method.ROUNDED and sol.stopped_in
    assert sol.shortfall_bound <= best + TOL <= sol.weighted_shortfall + 2 * TOL
    w = max(sol.weighted_shortfall, 1e-300)
    assert sol.gap == pytest.approx((sol.weighted_shortfall - sol.shortfall_bound) / w)
    assert check_days(inst, result) == []
    s = result.summary()
    assert s["status"] == "time_limit" and s["method"] == "rounded" and s["solver"] == "highs-rounded"
    from allocator.report.days import render_plan_text, write_plan
    from allocator.report.reader import read_folder

    assert "TIME LIMIT reached in" in render_plan_text(result)
    write_plan(result, tmp_path / "plan")
    folder = read_folder(tmp_path / "plan")
    ver = verify_days(inst, folder.tables, summary=folder.summary)
    assert ver.ok, ver.violations.to_string()


@pytest.mark.parametrize(("seed", "h"), _fractional_cases())
def test_a_generous_time_limit_gives_the_proven_optimum(seed, h):
    inst, _ = random_case(seed, durable=True)
    free = plan(inst, horizon=h)
    timed = plan(inst, horizon=h, time_limit=600)
    assert timed.solution.status is Status.OPTIMAL
    assert timed.solution.weighted_shortfall == pytest.approx(free.solution.weighted_shortfall, rel=TOL, abs=TOL)
    assert timed.solution.route_cost == pytest.approx(free.solution.route_cost, rel=TOL, abs=TOL)
