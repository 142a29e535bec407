"""The shortcuts taken for speed give what the plain way gives.

* ``demand_reach`` (bit-packed products per region) against the model ``build`` makes: a
  demand row is reachable exactly when it has a serve arc.
* An optional column left out parses to what a column of empty cells parses to.
* The equity stage's max flows on the task's families only against max flows on the whole
  network: the same fair levels, boxes and plan.
* The ``allocator`` command (which ends the process without tearing the interpreter down)
  writes all of its output and its exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import instance, random_instance

import allocator
import allocator.engine.network as netflow
from allocator.build.daily import build
from allocator.inputs.files import read_path
from allocator.inputs.policy import Policy
from allocator.inputs.reach import demand_reach
from allocator.inputs.schema import TABLES
from allocator.inputs.validate import _parse_table

ROOT = Path(__file__).resolve().parents[1]


def _with_product_routes(seed: int, icu_for_general: bool, no_routes: bool = False):
    """A random instance whose routes mix rows for every product with rows for one product."""
    base = random_instance(seed, icu_for_general=icu_for_general, fractional_family=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    routes = base.routes[["source", "region", "cost", "capacity"]].to_dict("records")
    products = base.products["product"].tolist()
    for rec in routes:
        if rng.random() < 0.4:
            rec["product"] = products[rng.integers(len(products))]
    regions = base.regions[["region", "name", "flags", "weight"]].copy()
    if no_routes:
        regions["lat"] = rng.uniform(20, 45, len(regions)).round(3)
        regions["lon"] = rng.uniform(90, 125, len(regions)).round(3)
    policy = Policy().with_overrides({"icu_grade_for_general": icu_for_general})
    return instance(
        policy=policy,
        products=base.products[["product", "family", "grade", "countable"]].to_dict("records"),
        sources=base.sources[["source", "name", "region"]].to_dict("records"),
        supply=[tuple(r) for r in base.supply[["source", "product", "quantity"]].itertuples(index=False)],
        regions=regions.to_dict("records"),
        demand=base.demand[["region", "family", "use", "quantity"]].to_dict("records"),
        routes=None if no_routes else routes,
    )


@pytest.mark.parametrize("seed", range(12))
def test_demand_reach_is_what_build_serves(seed):
    inst = _with_product_routes(seed, icu_for_general=seed % 3 == 0, no_routes=seed % 4 == 3)
    has_supply, reachable = demand_reach(inst)
    model = build(inst)
    served = np.zeros(len(inst.demand), dtype=bool)
    served[model.serve["demand_idx"].to_numpy()] = True
    np.testing.assert_array_equal(reachable, served)
    # Supplied: some product that may serve the row has a source with a positive quantity.
    stocked = set(inst.supply.loc[inst.supply["quantity"] > 0, "product"])
    products = inst.products
    for d, row in inst.demand.iterrows():
        fam = products[products["family"] == row["family"]]
        ok = (fam["grade"] == row["use"]) | (
            (fam["grade"] == "icu") & (row["use"] == "general") & inst.policy.icu_grade_for_general
        )
        assert has_supply[d] == bool(set(fam.loc[ok, "product"]) & stocked)


@pytest.mark.parametrize("name", ["regions", "sources"])
def test_left_out_optional_column_parses_as_empty_cells(name):
    raw = read_path(ROOT / "instances" / "suits-2020-02-05")
    table, frame, rows = TABLES[name], raw.tables[name], raw.rows.get(name, [])
    optional = [c.name for c in table.columns if not c.required and c.name in frame.columns]
    assert len(optional) >= 3, "the bundled table has optional columns to leave out"
    for col in optional:
        issues_a, issues_b = [], []
        a = _parse_table(table, frame.drop(columns=col), rows, Policy(), issues_a, f"{name}.csv", set())
        b = _parse_table(table, frame.assign(**{col: ""}), rows, Policy(), issues_b, f"{name}.csv", set())
        pd.testing.assert_frame_equal(a, b)
        assert [str(i) for i in issues_a] == [str(i) for i in issues_b]


@pytest.mark.parametrize("seed", range(8))
def test_equity_on_task_families_equals_whole_network(seed, monkeypatch):
    inst = random_instance(seed, n_sources=8, n_regions=9, fractional_family=seed % 2 == 1)
    model = build(inst)
    fast = netflow.solve_network(model, equity=True)
    whole = netflow._Graph._residual

    def every_family(self, base, families):
        return whole(self, base, np.arange(self.n_families))

    monkeypatch.setattr(netflow._Graph, "_residual", every_family)
    slow = netflow.solve_network(model, equity=True)
    np.testing.assert_array_equal(fast.fair_fill, slow.fair_fill)
    np.testing.assert_array_equal(fast.fair_lo, slow.fair_lo)
    np.testing.assert_array_equal(fast.fair_hi, slow.fair_hi)
    assert fast.weighted_shortfall == slow.weighted_shortfall
    assert fast.route_cost == slow.route_cost


def test_command_writes_all_output_and_exit_code(tmp_path):
    """``python -m allocator`` runs ``cli.run``: output flushed before the process ends."""
    out = tmp_path / "plan"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "allocator",
            "solve",
            str(ROOT / "instances" / "suits-2020-02-05"),
            "--format",
            "json",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # the whole document arrived
    assert len(data["dispatch"]) == data["totals"]["shipments"]
    # The same plan as solving in this process.
    here = allocator.solve(allocator.load(ROOT / "instances" / "suits-2020-02-05"))
    assert data["objective"] == json.loads(json.dumps(here.objective))
    assert sum(r["quantity"] for r in data["dispatch"]) == here.dispatch["quantity"].sum()
    assert (out / "dispatch.csv").read_bytes().count(b"\n") == len(here.dispatch) + 1
    assert sorted(p.name for p in out.iterdir()) == [
        "allocation.csv",
        "dispatch.csv",
        "fill.csv",
        "marginal.csv",
        "places.csv",
        "sources.csv",
        "summary.json",
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "allocator", "solve", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "missing: is not a folder" in bad.stderr and "Traceback" not in bad.stderr
