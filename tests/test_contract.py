"""One contract, three model families: what every plan allocator returns promises, whatever made it.

The families are the day's network (``build.daily.FlowModel``), the day with side constraints
(``build.side.SideModel``: here a shared pallet capacity) and several days (``build.horizon.HorizonModel``:
stock, lead and transit times, durable equipment, transfers, floors), each solved through the one
staged driver (``engine.driver.solve_staged``). For each family, on several instances (the multi-day
ones on several horizons), the same promises are checked:

- the model meets ``engine.types.StagedModel``;
- the weighted shortfall is the least there is, against an independent formulation (PuLP + CBC:
  ``tests/reference*.py``), and the plan's tables carry that figure;
- fair shares: with equity every demand row has its max-min fair fill rate, and where the solve
  reports a fair box, every delivery lies inside it;
- whole units wherever the item is countable;
- the time limit: zero seconds gives either a feasible plan with a proven bound (the network, by its
  greedy plan) or a clear ``SolverError`` naming the time limit (a model with no plan before its first
  stage ends), never a wrong plan; a generous limit gives the optimum;
- verification passes: the day's plans through ``allocator.verify``, the multi-day plans through
  ``verification.days`` (from the model's tables and from the folder the CLI writes);
- the summary meets the one schema of ``solve``, ``plan`` and ``replay`` (``plan.summary.SCHEMA``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import reference_horizon as ref_days
from reference import pulp_reference
from reference_side import side_reference
from test_constrained import small
from test_multiday import random_case

import allocator
from allocator.build.daily import build
from allocator.build.horizon import Calendar, build_horizon
from allocator.build.side import build_side
from allocator.engine.types import StagedModel, Status
from allocator.errors import SolverError
from allocator.pipeline.days import plan
from allocator.pipeline.replay import replay
from allocator.plan.summary import check_summary
from allocator.tools.generate import generate
from allocator.tools.side_bench import shrink
from allocator.verification.days import check_days

TOL = 1e-6


# --------------------------------------------------------------------------------------------
# The families: each case gives (instance, solve(time_limit) -> result, the reference optimum)


def _day_case(seed: int):
    inst = allocator.from_frames(**shrink(generate("province", seed), 2, 6, 8), name=f"day-{seed}")
    return inst, lambda **kw: allocator.solve(inst, **kw), lambda: pulp_reference(inst)["weighted_shortfall"]


def _side_case(pallets: float):
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [pallets]})
    inst = small(capacity=cap)
    return inst, lambda **kw: allocator.solve(inst, **kw), lambda: side_reference(inst)[0]


def _days_case(seed: int, horizon: int, kind: dict):
    inst, days = random_case(seed, **kind)
    horizon = min(horizon, days)  # "H3": the case's longest horizon, every day it has
    return (
        inst,
        lambda **kw: plan(inst, horizon=horizon, **kw),
        lambda: ref_days.optimum(inst, horizon),
    )


CASES = {
    "day-1": lambda: _day_case(1),
    "day-4": lambda: _day_case(4),
    "side-3.5-pallets": lambda: _side_case(3.5),
    "side-5.35-pallets": lambda: _side_case(5.35),
    **{
        f"days-{seed}-H{h}-{'-'.join(kind) or 'plain'}": (lambda s=seed, h=h, k=kind: _days_case(s, h, k))
        for seed, kind in (
            (101, {}),
            (606, {"transfers": True, "floors": True, "free": True}),
            (703, {"durable": True}),
        )
        for h in (1, 2, 3)
    },
}
FAMILY = {name: name.split("-")[0] for name in CASES}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    inst, solve, reference = CASES[request.param]()
    result = solve()
    return request.param, inst, solve, reference, result


def test_the_model_meets_the_staged_interface(case):
    name, inst, _, _, _ = case
    family = FAMILY[name]
    if family == "days":
        model = build_horizon(inst, Calendar(inst).first, 1)
    else:
        model = build(inst)
        if family == "side":
            model = build_side(inst, model)
    assert isinstance(model, StagedModel)


def test_least_weighted_shortfall_against_an_independent_formulation(case):
    name, inst, _, reference, result = case
    best = reference()
    if FAMILY[name] == "days":
        got = result.solution.weighted_shortfall
        assert ref_days.evaluate(inst, result, len(result.days)) == pytest.approx(got, rel=TOL, abs=TOL)
    else:
        got = result.objective["weighted_shortfall"]
        fill = result.plan.fill
        counted = float((fill["weight"] * fill["shortfall"]).sum())  # from the plan's own table
        assert counted == pytest.approx(got, rel=TOL, abs=TOL)
    assert got == pytest.approx(best, rel=TOL, abs=TOL), f"{name}: allocator {got} vs reference {best}"


def test_fair_shares_and_their_boxes(case):
    name, inst, _, _, result = case
    sol = result.solution if FAMILY[name] == "days" else None
    fair = sol.fair_fill if sol is not None else result.fair_fill
    if not inst.policy.equity:
        assert np.all(np.isnan(fair)), "without equity no fair share is claimed"
        return
    assert np.all(np.isfinite(fair)), "with equity every demand row has its fair fill rate"
    assert np.all((fair >= -TOL) & (fair <= 1 + TOL))
    if FAMILY[name] == "day" and result.fair_box is not None:
        lo, hi = (np.asarray(b, dtype=float) for b in result.fair_box)  # per row of the model's demand
        key = ["region", "family", "use"]
        rows = build(inst).demand[key].merge(result.plan.fill[[*key, "delivered"]], on=key, how="left")
        delivered = rows["delivered"].to_numpy(float)
        assert np.all(delivered >= lo - TOL) and np.all(delivered <= hi + TOL)


def test_whole_units_where_countable(case):
    name, inst, _, _, result = case
    if FAMILY[name] == "days":
        x = result.solution.x[result.model.countable_cols()]
        assert np.all(x == np.round(x))
        ship = result.plan.shipments
    else:
        ship = result.plan.dispatch
    countable = inst.products.set_index("product")["countable"]
    q = ship.loc[ship["product"].map(countable).astype(bool), "quantity"].to_numpy(float)
    assert np.all(q == np.round(q))


def test_time_limit_gives_a_true_bound_or_a_clear_refusal(case):
    name, inst, solve, _, result = case
    best = result.solution.weighted_shortfall if FAMILY[name] == "days" else result.objective["weighted_shortfall"]
    try:
        stopped = solve(time_limit=0)
    except SolverError as exc:
        assert FAMILY[name] != "day", "the network always has a plan: the greedy one"
        assert "time limit" in str(exc)
    else:
        if FAMILY[name] == "days":
            sol = stopped.solution
            assert sol.status is Status.TIME_LIMIT or sol.status == "optimal"
            assert sol.shortfall_bound <= best + TOL <= sol.weighted_shortfall + 2 * TOL
        else:
            assert stopped.status in ("time_limit", "optimal")
            bound = stopped.objective.get("weighted_shortfall_bound", stopped.objective["weighted_shortfall"])
            assert bound <= best + TOL * max(1.0, best)
            assert stopped.objective["weighted_shortfall"] >= best - TOL * max(1.0, best)
            assert allocator.verify(inst, stopped.plan, optimality=False).ok
    generous = solve(time_limit=600)
    again = generous.solution.weighted_shortfall if FAMILY[name] == "days" else generous.objective["weighted_shortfall"]
    assert again == pytest.approx(best, rel=TOL, abs=TOL)


def test_verify_passes(case, tmp_path):
    name, inst, _, _, result = case
    if FAMILY[name] == "days":
        from allocator.report.days import write_plan
        from allocator.report.reader import read_folder
        from allocator.verification.days import verify_days

        assert check_days(inst, result) == []
        write_plan(result, tmp_path / "plan")
        folder = read_folder(tmp_path / "plan")
        ver = verify_days(inst, folder.tables, summary=folder.summary)
        assert ver.ok, ver.violations.to_string()
    else:
        ver = allocator.verify(inst, result.plan, optimality=FAMILY[name] == "day")
        assert ver.ok, ver.errors()


def test_summary_meets_the_one_schema(case):
    _, _, _, _, result = case
    summary = json.loads(json.dumps(result.summary()))
    assert check_summary(summary) == []


def test_replay_summary_meets_the_one_schema():
    inst, _ = random_case(606, transfers=True, floors=True, free=True)
    rp = replay(inst, horizon=2)
    summary = json.loads(json.dumps(rp.summary()))
    assert check_summary(summary) == []
    assert summary["kind"] == "replay" and summary["status"] == "optimal"
    assert summary["totals"]["delivered"] == pytest.approx(float(rp.fill["delivered"].sum()))


def test_the_schema_check_finds_what_is_wrong():
    good = allocator.solve(small()).summary()
    assert check_summary(good) == []
    bad = json.loads(json.dumps(good))
    del bad["objective"]["route_cost"]
    bad["status"] = "fine"
    bad["by_tier"][0]["fill_rate"] = "high"
    problems = check_summary(bad)
    assert any("route_cost" in p for p in problems)
    assert any("summary.status" in p for p in problems)
    assert any("by_tier[0].fill_rate" in p for p in problems)
