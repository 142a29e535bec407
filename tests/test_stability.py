"""Stability (``--previous``): hand cases for the trade-off, priorities first, bad previous plans."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import frames, instance, write_folder
from test_hand_cases import SUIT, check_invariants, regions

import allocator
from allocator.build.previous import pair_changes
from allocator.cli.main import main
from allocator.inputs.policy import Policy
from allocator.report.reader import read_previous

SOLVERS = ["network", "highs"]


def crossed(change_cost: float | None = None):
    """A and B make 10 each; X and Y need 10 each (equal weight). Routes A-X 1, A-Y 2, B-X 2, B-Y 1.
    Without a previous plan: A -> X, B -> Y, route cost 20."""
    pol = Policy() if change_cost is None else Policy().with_overrides({"stability.change_cost": change_cost})
    return instance(
        policy=pol,
        products=SUIT,
        sources=[{"source": "a", "name": "A", "region": "x"}, {"source": "b", "name": "B", "region": "y"}],
        supply=[("a", "suit", 10), ("b", "suit", 10)],
        regions=regions(("x", ""), ("y", "")),
        demand=[{"region": r, "family": "suit", "use": "general", "quantity": 10} for r in "xy"],
        routes=[("a", "x", 1), ("a", "y", 2), ("b", "x", 2), ("b", "y", 1)],
    )


def previous_plan(tmp_path, rows, name="prev"):
    folder = tmp_path / name
    folder.mkdir()
    pd.DataFrame(rows, columns=["source", "region", "product", "quantity"]).to_csv(folder / "dispatch.csv", index=False)
    return folder


def pairs(result):
    d = result.plan.dispatch
    return {(s, r): q for s, r, q in zip(d["source"], d["region"], d["quantity"]) if q > 0}


@pytest.mark.parametrize("solver", SOLVERS)
def test_previous_pairs_kept_when_the_change_costs_more(tmp_path, solver):
    """Previous plan A -> Y, B -> X. Keeping it costs 2 x 10 + 2 x 10 = 40; switching to the cheap
    pairs costs 20 + 20 x change_cost. change_cost 5: keep (40 < 120); 0.4: switch (28 < 40)."""
    prev = read_previous(previous_plan(tmp_path, [("a", "y", "suit", 10), ("b", "x", "suit", 10)]))
    kept = allocator.solve(crossed(5), solver=solver, previous=prev)
    assert pairs(kept) == {("a", "y"): 10, ("b", "x"): 10}
    assert kept.objective["route_cost"] == 40  # route cost alone, without the penalty
    assert kept.objective["weighted_shortfall"] == 0
    assert kept.objective["pairs_changed"] == 0
    check_invariants(kept.instance, kept)
    switched = allocator.solve(crossed(0.4), solver=solver, previous=prev)
    assert pairs(switched) == {("a", "x"): 10, ("b", "y"): 10}
    assert switched.objective["route_cost"] == 20
    assert switched.objective["pairs_changed"] == 4  # 2 new, 2 dropped
    table = switched.stability
    assert list(table["change"]) == ["new", "dropped", "dropped", "new"]  # (a,x) (a,y) (b,x) (b,y)
    assert list(table["before"]) == [0, 10, 10, 0] and list(table["now"]) == [10, 0, 0, 10]
    # No previous plan: the cheap pairs, and no stability figures.
    plain = allocator.solve(crossed(5), solver=solver)
    assert pairs(plain) == {("a", "x"): 10, ("b", "y"): 10} and "pairs_changed" not in plain.objective


@pytest.mark.parametrize("solver", SOLVERS)
def test_priority_outranks_stability(tmp_path, solver):
    """Previous plan A -> X. Today Y is a level-one-response region (weight 8) needing 10, X needs 10
    (weight 1), A has 10: all 10 go to Y however large the change cost; weighted shortfall 10 (X)."""
    pol = Policy().with_overrides({"stability.change_cost": 1e6})
    inst = instance(
        policy=pol,
        products=SUIT,
        sources=[{"source": "a", "name": "A", "region": "x"}],
        supply=[("a", "suit", 10)],
        regions=regions(("x", ""), ("y", "level_one_response")),
        demand=[{"region": r, "family": "suit", "use": "general", "quantity": 10} for r in "xy"],
        routes=[("a", "x", 1), ("a", "y", 1)],
    )
    prev = read_previous(previous_plan(tmp_path, [("a", "x", "suit", 10)]))
    res = allocator.solve(inst, solver=solver, previous=prev)
    assert pairs(res) == {("a", "y"): 10}
    assert res.objective["weighted_shortfall"] == 10
    assert res.objective["pairs_changed"] == 2
    check_invariants(inst, res)


@pytest.mark.parametrize("solver", SOLVERS)
def test_equity_outranks_stability(tmp_path, solver):
    """Previous plan A -> X. X and Y need 10 each at equal weight, A has 10: max-min fairness gives
    5 and 5 whatever the change cost (the new pair A -> Y carries 5)."""
    pol = Policy().with_overrides({"stability.change_cost": 1e6})
    inst = instance(
        policy=pol,
        products=SUIT,
        sources=[{"source": "a", "name": "A", "region": "x"}],
        supply=[("a", "suit", 10)],
        regions=regions(("x", ""), ("y", "")),
        demand=[{"region": r, "family": "suit", "use": "general", "quantity": 10} for r in "xy"],
        routes=[("a", "x", 1), ("a", "y", 1)],
    )
    prev = read_previous(previous_plan(tmp_path, [("a", "x", "suit", 9)]))
    res = allocator.solve(inst, solver=solver, previous=prev)
    assert pairs(res) == {("a", "x"): 5, ("a", "y"): 5}
    assert res.objective["pairs_changed"] == 1


def test_stability_moves_volume_between_equal_plans(tmp_path):
    """Two makers, one region needing 10, each maker has 10 at the same cost: any split is optimal.
    The previous plan used B only: with stability all 10 come from B."""
    inst = instance(
        products=SUIT,
        sources=[{"source": s, "name": s.upper(), "region": "x"} for s in "ab"],
        supply=[("a", "suit", 10), ("b", "suit", 10)],
        regions=regions(("x", "")),
        demand=[{"region": "x", "family": "suit", "use": "general", "quantity": 10}],
        routes=[("a", "x", 3), ("b", "x", 3)],
    )
    res = allocator.solve(inst, previous=read_previous(previous_plan(tmp_path, [("b", "x", "suit", 4)])))
    assert pairs(res) == {("b", "x"): 10}
    assert res.objective["route_cost"] == 30 and res.objective["pairs_changed"] == 0


def test_pair_changes_counts_unknown_ids_as_dropped(tmp_path):
    """A maker in yesterday's plan that today's instance lacks: noted, and its pair is dropped."""
    inst = crossed()
    prev = read_previous(previous_plan(tmp_path, [("a", "x", "suit", 10), ("gone", "y", "suit", 3)]), inst)
    assert prev.unknown == ["sources in the previous plan that today's instance does not have: gone"]
    res = allocator.solve(inst, previous=prev)
    table = pair_changes(prev, res.plan.dispatch)
    assert dict(zip(zip(table["source"], table["region"]), table["change"])) == {
        ("a", "x"): "kept",
        ("b", "y"): "new",
        ("gone", "y"): "dropped",
    }


@pytest.mark.parametrize(
    ("text", "row", "column"),
    [
        ("source,region,product,quantity\na,x,suit,10\nb,y,suit,lots\n", 3, "quantity"),
        ("source,region,product,quantity\na,x,suit,-1\n", 2, "quantity"),
        ("source,region,product,quantity\n,x,suit,1\n", 2, "source"),
        ("source,product,quantity\na,suit,1\n", 1, "region"),
    ],
)
def test_bad_previous_plan_named(tmp_path, text, row, column):
    folder = tmp_path / "prev"
    folder.mkdir()
    (folder / "dispatch.csv").write_text(text)
    with pytest.raises(allocator.errors.PlanFileError) as exc:
        read_previous(folder)
    assert f"dispatch.csv, row {row}, column '{column}'" in str(exc.value)


def test_cli_previous_round_trip(tmp_path, capsys):
    """Day 1 written with -o; day 2 solved with --previous day1: the summary counts the changes and
    stability.csv lists every pair; a missing folder is exit 2 with the folder named."""
    tables = frames(
        products=SUIT,
        sources=[{"source": "a", "name": "A", "region": "x"}, {"source": "b", "name": "B", "region": "y"}],
        supply=[("a", "suit", 10), ("b", "suit", 10)],
        regions=regions(("x", ""), ("y", "")),
        demand=[{"region": r, "family": "suit", "use": "general", "quantity": 10} for r in "xy"],
        routes=[("a", "x", 1), ("a", "y", 2), ("b", "x", 2), ("b", "y", 1)],
    )
    inst = write_folder(tmp_path / "inst", tables)
    prev = previous_plan(tmp_path, [("a", "y", "suit", 10), ("b", "x", "suit", 10)])
    out = tmp_path / "day2"
    assert (
        main(
            [
                "solve",
                str(inst),
                "--previous",
                str(prev),
                "--policy",
                "stability.change_cost=5",
                "-o",
                str(out),
                "--format",
                "json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["objective"]["pairs_changed"] == 0 and summary["objective"]["route_cost"] == 40
    table = pd.read_csv(out / "stability.csv")
    assert list(table["change"]) == ["kept", "kept"]
    assert main(["solve", str(inst), "--previous", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
