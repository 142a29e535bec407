"""``allocator bench --side``: every path present, the two model builders agree, the MIP paths
say so, no constrained plan beats the unconstrained one.

The generated province instance's proven MIPs do not finish in ten minutes (README, "Side
constraints", what they cost), so the run here is the province instance cut to 2 products, 14
sources and 12 regions (``side_bench.shrink``), with side tables drawn the same way: every path
proven (``auto`` below ``side_solve.PROVEN_LIMIT``). No time is asserted.
"""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

import allocator
from allocator.tools import side_bench
from allocator.tools.generate import generate


@pytest.fixture(scope="module")
def block():
    return side_bench.bench_side_scale("province", 1, time_limit=120.0, cut=(2, 14, 12))


def test_every_path_runs_and_reports(block):
    rows = {row["path"]: row for row in block["paths"]}
    assert list(rows) == list(side_bench.SIDE_PATHS)
    failed = [(r["path"], r["status"], r["detail"]) for r in rows.values() if r["status"] != "ok"]
    assert not failed
    assert rows["base"]["method"] == "network" and rows["base"]["vs_base"] == 1.0
    s = block["sides"]
    assert s["pallet_capacities"] >= 3 and s["corridors"] == 1 and s["contracts"] > 0
    assert s["designated_sources"] > 0 and s["lot_products"] > 0 and s["limited_sources"] > 0


def test_pulp_and_arrays_reach_the_capacity_paths_lp_bound(block):
    rows = {row["path"]: row for row in block["paths"]}
    arrays, pulp_row = rows["highs-arrays"], rows["pulp-highs"]
    assert pulp_row["agrees"] and arrays["agrees"]
    assert pulp_row["weighted_shortfall"] == pytest.approx(rows["capacity"]["lp_weighted_shortfall"], rel=1e-7)
    assert arrays["columns"] == pulp_row["columns"]


def test_mip_paths_and_shortfall_order(block):
    rows = {row["path"]: row for row in block["paths"]}
    base = rows["base"]["weighted_shortfall"]
    for path in side_bench.CUMULATIVE:
        row = rows[path]
        assert row["weighted_shortfall"] >= base - 1e-6, path
        # The LP bound is a bound: never above the whole-unit plan's shortfall.
        assert row["lp_weighted_shortfall"] <= row["weighted_shortfall"] + 1e-6, path
        assert row["integrality_gap"] >= -1e-6, path
    # Lots and destination limits are yes/no choices: always the MIP.
    assert rows["lots"]["method"] == "mip" and rows["destinations"]["method"] == "mip"
    # Pallet capacities have fractional coefficients; here the LP optimum is not whole.
    assert rows["capacity"]["method"] == "mip"
    # capacity-proven is the same instance and method here: the same plan.
    assert rows["capacity-proven"]["method"] == "mip"
    assert rows["capacity-proven"]["weighted_shortfall"] == rows["capacity"]["weighted_shortfall"]


def test_side_tables_are_the_same_for_the_same_seed():
    tables = side_bench.shrink(generate("province", 3), 3, 20, 16)
    import allocator

    dispatch = allocator.solve(allocator.from_frames(**tables), explain=False).dispatch
    one = side_bench.side_tables(tables, dispatch, 3, "province")
    two = side_bench.side_tables(tables, dispatch, 3, "province")
    for path in side_bench.CUMULATIVE:
        for name in ("products", "sources", "routes", "capacity"):
            assert one[path][name].equals(two[path][name]), (path, name)
    assert one["destinations"]["commitments"].equals(two["destinations"]["commitments"])
    # Each path adds to the one before.
    assert "commitments" not in one["capacity"]
    assert (one["commitments"]["products"]["min_lot"] == 0).all()
    assert (one["lots"]["products"]["min_lot"] > 0).any()
    assert one["lots"]["sources"].get("max_destinations") is None
    assert one["destinations"]["sources"]["max_destinations"].notna().any()


def test_text_and_json(block, capsys):
    report = {
        "date": "2026-01-01",
        "machine": {
            "platform": "p",
            "machine": "m",
            "cpu_count": 2,
            "memory_gib": 1.0,
            "python": "3",
            "versions": {"highspy": "x"},
        },
        "seed": 1,
        "time_limit_s": 120.0,
        "scales": [block],
    }
    text = side_bench.render_side_text(report)
    assert "# allocator bench --side | 2026-01-01 | p | 2 cores" in text
    for path in side_bench.SIDE_PATHS:
        assert f"\n{path} " in text
    assert "PuLP / arrays: build" in text and "optimum equal to highs-arrays'" in text
    assert "capacity-proven: the proven whole-unit optimum; the capacity path (mip) has 0.000 more" in text
    assert json.loads(side_bench.render_side_json(report))["scales"][0]["paths"][0]["path"] == "base"


def test_cli_refuses_county_and_bad_scales(capsys):
    code, out = run_cli(capsys, "bench", "--side", "--scale", "county")
    assert code == 2 and "--side --scale county: refused" in out
    code, out = run_cli(capsys, "bench", "--side", "--scale", "hamlet")
    assert code == 2 and "unknown value 'hamlet'" in out
    code, out = run_cli(capsys, "bench", "--side", "--timeout", "0")
    assert code == 2 and "--timeout 0" in out


def test_highs_time_limit_counts_from_now():
    """HiGHS checks ``time_limit`` against its run clock, which adds up every ``run`` of the
    object: the adapter's limit is that clock plus the seconds left (else a path's limit was
    spent twice, and the side model stopped at half its time limit)."""
    from allocator.build.daily import build
    from allocator.engine.backends import make_lp

    m = build(allocator.from_frames(**side_bench.shrink(generate("province", 1), 4, 30, 32)))
    lp = make_lp(
        "highs",
        col_lower=m.col_lower,
        col_upper=m.col_upper,
        row_lower=m.row_lower,
        row_upper=m.row_upper,
        start=m.start,
        index=m.index,
        value=m.value,
    )
    for stage in ("shortfall", "plan", "shortfall"):
        lp.set_costs(m.cost_vector(stage))
        assert lp.solve().status.value == "optimal"
    clock = lp._h.getRunTime()
    assert clock > 0
    lp.set_time_limit(5.0)
    assert lp._h.getOptionValue("time_limit")[1] == pytest.approx(clock + 5.0)
    lp.set_time_limit(None)
    assert lp._h.getOptionValue("time_limit")[1] == float("inf")
