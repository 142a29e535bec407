"""Whole units near the LP optimum (``rounding``, ``solve(whole="rounded")``): the method the
side model takes above ``side_solve.PROVEN_LIMIT`` countable columns.

Every rounded plan passes the independent checker (``verify`` reads every side row off the
input tables), so a rounding that broke a row fails here; its weighted shortfall lies between
the proven whole-unit optimum (an independent PuLP + CBC statement, ``reference_side``, or the
proven method) and never below the LP bound it reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli, write_folder
from reference_side import side_reference
from test_constrained import _with_sides, check, shipped, small

import allocator
from allocator.engine import rounding
from allocator.engine import side as side_solve
from allocator.errors import ConflictError, SolverError


def test_fractional_pallets_rounded_reach_the_whole_unit_optimum():
    # As in test_constrained: the LP ships 3.5 suits under the 5.35-pallet limit (W 382.5).
    # The neighbourhood bounds that route at ceil(3.5) = 4; 4 suits break the pallet row
    # (5.4 > 5.35), so the best whole plan there is 3 suits, W 385: the proven optimum.
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    r = allocator.solve(small(capacity=cap), whole="rounded")
    assert r.objective["method"] == "rounded" and r.solver == "highs-rounded"
    assert r.objective["weighted_shortfall"] == 385
    assert r.objective["lp_weighted_shortfall"] == pytest.approx(382.5)
    assert r.objective["integrality_gap"] == pytest.approx(2.5)
    assert shipped(r)[("s1", "b", "suit")] == 3
    check(r)


def test_destinations_keep_the_lp_s_largest_shares():
    # s1 (500 masks, 50 suits) may serve one region, lots of 150 masks (s2's 100 cannot ship).
    # The LP relaxes the yes/no choices (W 350): it sends s1's suits to b and its masks where
    # they save most. Step 1 keeps the region with the largest share of s1's output in the LP;
    # the proven optimum (test_constrained) is b, W 900. Whatever region the rounding keeps,
    # the plan holds every row and its shortfall is not below 900.
    products = pd.DataFrame({"product": ["mask", "suit"], "min_lot": [150, 0]})
    sources = pd.DataFrame(
        {"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"], "max_destinations": [1, None]}
    )
    inst = small(products=products, sources=sources)
    r = allocator.solve(inst, whole="rounded")
    proven = allocator.solve(inst, whole="proven")
    assert proven.objective["weighted_shortfall"] == 900
    assert r.objective["method"] == "rounded"
    # The LP: s1's suits (share 40/50 = 0.8) and most of its masks go to b: b is kept.
    assert {region for (_, region, _) in shipped(r)} == {"b"}
    assert r.objective["weighted_shortfall"] == 900
    assert r.objective["lp_weighted_shortfall"] == pytest.approx(350)
    check(r)


@pytest.mark.parametrize("seed", range(14))
def test_rounded_plans_never_break_a_row(seed):
    """Random instances with pallet capacity, a corridor, contracts, a designated pairing and
    (every other seed) lots and destination limits: the rounded plan is whole, holds every
    row, its weighted shortfall is not below CBC's whole-unit optimum, the LP bound it reports
    is not above it, and the gap it reports is the difference."""
    equity = seed >= 8
    inst = _with_sides(seed, equity=equity, lots=seed % 2 == (0 if equity else 1))
    ref = side_reference(inst)
    if ref is None:
        with pytest.raises(ConflictError):
            allocator.solve(inst, whole="rounded")
        return
    r = allocator.solve(inst, whole="rounded", explain=False)
    o = r.objective
    assert o["method"] in ("lp", "rounded")  # lp: the LP optimum was whole, nothing to round
    assert o["weighted_shortfall"] >= ref[0] - 1e-6
    assert o["lp_weighted_shortfall"] <= ref[0] + 1e-6
    assert o["integrality_gap"] == pytest.approx(o["weighted_shortfall"] - o["lp_weighted_shortfall"], abs=1e-6)
    check(r)


@pytest.fixture(scope="module")
def generated():
    """The generated province instance cut to 3 products, 16 sources, 12 regions, with the
    side tables of ``allocator bench --side`` (capacity, contracts, designated, lots, destinations)."""
    from allocator.tools import side_bench
    from allocator.tools.generate import generate

    tables = side_bench.shrink(generate("province", 3), 3, 16, 12)
    base = allocator.solve(allocator.from_frames(**tables), explain=False)
    return {
        name: allocator.from_frames(**frames)
        for name, frames in side_bench.side_tables(tables, base.dispatch, 3, "province").items()
    }


@pytest.mark.parametrize("path", ["capacity", "lots", "destinations"])
def test_generated_rounded_against_proven(generated, path):
    inst = generated[path]
    rounded = allocator.solve(inst, whole="rounded", explain=False)
    proven = allocator.solve(inst, whole="proven", explain=False)
    check(rounded)
    check(proven)
    w_r, w_p = rounded.objective["weighted_shortfall"], proven.objective["weighted_shortfall"]
    bound = rounded.objective["lp_weighted_shortfall"]
    assert proven.objective["lp_weighted_shortfall"] == pytest.approx(bound, rel=1e-9)
    assert bound <= w_p + 1e-6 <= w_r + 2e-6
    if rounded.objective["method"] == "rounded":
        assert proven.objective["method"] == "mip"
    # Deterministic: the same instance gives the same plan, byte for byte.
    again = allocator.solve(inst, whole="rounded", explain=False)
    assert again.plan.dispatch.to_csv(index=False) == rounded.plan.dispatch.to_csv(index=False)


def test_auto_rounds_above_the_limit(monkeypatch):
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    inst = small(capacity=cap)
    assert allocator.solve(inst).objective["method"] == "mip"  # 10 countable columns: proven
    monkeypatch.setattr(side_solve, "PROVEN_LIMIT", 5)
    r = allocator.solve(inst)
    assert r.objective["method"] == "rounded"
    assert r.objective["weighted_shortfall"] == 385


def test_empty_neighbourhood_falls_back_to_proven(monkeypatch):
    """When the neighbourhood holds no plan, ``auto`` takes the proven method; ``rounded``
    says so. A neighbourhood that closes every route cannot meet a contract."""
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    com = pd.DataFrame({"source": ["s1"], "region": ["c"], "product": ["mask"], "minimum": [50]})
    inst = small(capacity=cap, commitments=com)

    def closed(model, x):
        upper = model.col_upper.copy()
        upper[: model.flow.n_ship] = 0.0
        return rounding.dataclasses.replace(model, col_upper=upper)

    monkeypatch.setattr(rounding, "neighbourhood", closed)
    with pytest.raises(SolverError, match="neighbourhood holds no whole-unit plan"):
        allocator.solve(inst, whole="rounded")
    monkeypatch.setattr(side_solve, "PROVEN_LIMIT", 0)
    r = allocator.solve(inst)
    assert r.objective["method"] == "mip"
    assert shipped(r)[("s1", "c", "mask")] >= 50
    check(r)


def test_cli_whole_flag(tmp_path, capsys):
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    inst = small(capacity=cap)
    tables = {
        name: getattr(inst, name).drop(columns="_row")
        for name in ("products", "sources", "supply", "regions", "demand", "routes", "capacity")
    }
    write_folder(tmp_path / "day", tables)
    code, out = run_cli(capsys, "solve", str(tmp_path / "day"), "--whole", "rounded")
    assert code == 0, out
    assert "near the LP optimum (rounded, not proven optimal" in out
    assert "integrality gap 2.5" in out
    code, out = run_cli(capsys, "solve", str(tmp_path / "day"), "--whole", "proven")
    assert code == 0 and "proven optimal; LP bound 382.5, integrality gap 2.5" in out
    with pytest.raises(SystemExit) as exc:  # argparse refuses an unknown choice: exit 2, the choices named
        run_cli(capsys, "solve", str(tmp_path / "day"), "--whole", "nearest")
    assert exc.value.code == 2
    assert "invalid choice: 'nearest'" in capsys.readouterr().err


def test_fix_destinations_ranks_contract_pairs_first():
    """A limited source keeps the regions its contracts ship to before its largest LP shares."""
    products = pd.DataFrame({"product": ["mask", "suit"], "min_lot": [0, 0]})
    sources = pd.DataFrame(
        {"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"], "max_destinations": [1, None]}
    )
    com = pd.DataFrame({"source": ["s1"], "region": ["a"], "product": ["mask"], "minimum": [10]})
    inst = small(products=products, sources=sources, commitments=com)
    from allocator.build.daily import build
    from allocator.build.side import build_side

    side = build_side(inst, build(inst))
    x = np.zeros(side.n_cols)
    ship = side.flow.ship
    x[np.flatnonzero((ship["source"] == "s1") & (ship["region"] == "b")).tolist()] = 100.0  # b: the largest share
    fixed = rounding.fix_destinations(side, x)
    dest = side.binaries.loc[side.binaries["kind"] == "destination"].set_index("region")["col"]
    assert fixed.col_lower[dest["a"]] == 1 and fixed.col_upper[dest["b"]] == 0
    closed = np.flatnonzero((ship["source"] == "s1") & (ship["region"] != "a"))
    assert (fixed.col_upper[closed] == 0).all()
    r = allocator.solve(inst, whole="rounded")
    assert {region for (s, region, _) in shipped(r) if s == "s1"} == {"a"}
    check(r)


def test_verify_checks_a_whole_unit_plan_against_allocator_s():
    """``verify``'s optimality check with side constraints over whole units: the weighted
    shortfall against allocator's plan (an error when worse, named as proven or rounded);
    fair shares and cost are not checked, and the warning says so."""
    from allocator.pipeline.check import verify

    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    inst = small(capacity=cap)
    for whole, word in (("proven", "the optimum 385"), ("rounded", "not proven optimal) 385")):
        ref = allocator.solve(inst, whole=whole)
        ver = verify(inst, ref.plan.dispatch, reference=ref)
        assert ver.ok
        assert ver.violations["detail"].str.contains("fair shares and least cost not checked").any()
        worse = ref.plan.dispatch.copy()
        worse.loc[(worse["product"] == "suit"), "quantity"] -= 1  # 2 suits: W 390, still within every row
        ver = verify(inst, worse, reference=ref)
        assert not ver.ok
        details = ver.errors()["detail"]
        assert len(details) == 1 and details.iloc[0].startswith("weighted shortfall 390 exceeds")
        assert word in details.iloc[0]


def test_fix_destinations_ranks_by_share_and_by_weight():
    """s1 may serve one region. Its LP sends 300 masks to a (weight 1, share 0.6 of its 500)
    and 200 to c (weight 3, share 0.4): by share a is kept, by the weighted shortfall the
    units take away (300 x 1 against 200 x 3) c is; ``solve_rounded`` tries both and keeps
    the better plan."""
    from allocator.build.daily import build
    from allocator.build.side import build_side

    sources = pd.DataFrame(
        {"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"], "max_destinations": [1, None]}
    )
    inst = small(sources=sources)
    side = build_side(inst, build(inst))
    flow = side.flow
    x = np.zeros(side.n_cols)
    ship, serve = flow.ship, flow.serve
    region_of_row = flow.demand["region"].to_numpy(object)[serve["demand_idx"].to_numpy()]
    for region, units in (("a", 300.0), ("c", 200.0)):
        x[np.flatnonzero((ship["source"] == "s1") & (ship["region"] == region) & (ship["product"] == "mask"))] = units
        x[flow.n_ship + np.flatnonzero((serve["product"] == "mask").to_numpy() & (region_of_row == region))] = units
    dest = side.binaries.loc[side.binaries["kind"] == "destination"].set_index("region")["col"]
    by_share = rounding.fix_destinations(side, x, "share")
    by_saved = rounding.fix_destinations(side, x, "saved")
    assert by_share.col_lower[dest["a"]] == 1 and by_share.col_upper[dest["c"]] == 0
    assert by_saved.col_lower[dest["c"]] == 1 and by_saved.col_upper[dest["a"]] == 0
    with pytest.raises(ValueError, match="rank='nearest'"):
        rounding.fix_destinations(side, x, "nearest")
    # The whole solve: the better of the two choices, equal to the proven optimum here.
    r = allocator.solve(inst, whole="rounded")
    assert r.objective["weighted_shortfall"] == allocator.solve(inst, whole="proven").objective["weighted_shortfall"]
    check(r)
