"""Side constraints of the daily plan: shared capacity, commitments, designated pairings,
minimum lots and destination limits (``constrained``, ``side_solve``, ``conflicts``).

Hand cases with the optimum worked out below each; random instances against an independent
PuLP + CBC statement (``reference_side``); every plan passes the independent checker
(``verify``, which reads the side constraints off the input tables), so a rounding that broke
a row would fail here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import random_instance, run_cli, write_folder
from reference_side import side_reference

import allocator
from allocator import Instance
from allocator.errors import ConflictError, InstanceError
from allocator.pipeline.check import verify

REGIONS = pd.DataFrame(
    {"region": ["a", "b", "c"], "name": ["A", "B", "C"], "lat": [30, 31, 32], "lon": [114, 115, 116]}
)


def small(products=None, sources=None, routes=None, **extra) -> Instance:
    """One maker s1 (500 masks, 50 suits) in a, one s2 (100 masks) in b; demand at a, b, c."""
    if products is None:
        products = pd.DataFrame({"product": ["mask", "suit"], "per_pallet": [100, 10]})
    if sources is None:
        sources = pd.DataFrame({"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"]})
    supply = pd.DataFrame(
        {"source": ["s1", "s1", "s2"], "product": ["mask", "suit", "mask"], "quantity": [500, 50, 100]}
    )
    demand = pd.DataFrame(
        {
            "region": ["a", "b", "b", "c"],
            "family": ["mask", "mask", "suit", "mask"],
            "quantity": [300, 300, 40, 200],
            "weight": [1, 2, 5, 3],
        }
    )
    if routes is None:
        routes = pd.DataFrame(
            {
                "source": ["s1", "s1", "s1", "s2", "s2"],
                "region": ["a", "b", "c", "b", "c"],
                "cost": [1, 2, 3, 1, 2],
                "corridor": ["", "east", "east", "", "east"],
            }
        )
    return allocator.from_frames(
        products=products, sources=sources, supply=supply, regions=REGIONS, demand=demand, routes=routes, **extra
    )


def shipped(result) -> dict:
    d = result.plan.dispatch
    return {(s, r, p): q for s, r, p, q in zip(d["source"], d["region"], d["product"], d["quantity"])}


def check(result) -> None:
    """Every invariant, read off the input tables by the independent checker; whole units."""
    ver = verify(result.instance, result.plan, optimality=False)
    assert ver.ok, ver.errors()
    q = result.plan.dispatch["quantity"].to_numpy(float)
    assert (q == np.round(q)).all()


@pytest.mark.parametrize("equity", [True, False])
def test_pallet_capacity_shared_by_two_products(equity):
    # s1 loads at most 5.5 pallets (masks 100 a pallet, suits 10). Per pallet: masks to b save
    # 2 x 100 = 200, masks to c 300, masks to a 100, suits to b 5 x 10 = 50. s2 (100 masks, no
    # limit) serves c (weight 3) before b. s1: 2 pallets of masks to c (200 - 100 from s2 =
    # 100 masks to c: 1 pallet), 3 pallets to b (300 masks), 1.5 pallets left: masks to a
    # (100 a pallet) beat suits (50): 100 masks to a (the last 0.5 pallet: 50 masks to a).
    # s1 ships 100 + 300 + 150 = 550 > 500 masks: supply binds first. So s1 ships its 500
    # masks (5 pallets), c and b met, a gets 100; 0.5 pallet = 5 suits to b.
    # W = a 200 x 1 + b suits 35 x 5 = 375.
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.5]})
    r = allocator.solve(small(capacity=cap), equity=equity)
    assert r.objective["weighted_shortfall"] == 375
    got = shipped(r)
    assert got[("s1", "b", "suit")] == 5  # (where s2's masks go ties: asserted by objective and invariants)
    assert sum(q for (s, _, p), q in got.items() if s == "s1" and p == "mask") == 500
    assert r.objective["method"] == "lp" and r.objective["integrality_gap"] == 0
    check(r)


def test_fractional_pallets_need_whole_units():
    # 0.35 pallet of suits is 3.5 suits: the LP ships 3.5, a whole-unit plan 3 (the MIP).
    # Masks saturate first as above with capacity 5.35: LP W = 200 + 36.5 x 5 = 382.5; whole
    # units: 3 suits, W = 200 + 37 x 5 = 385, integrality gap 2.5.
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    r = allocator.solve(small(capacity=cap))
    assert r.objective["method"] == "mip"
    assert r.objective["lp_weighted_shortfall"] == pytest.approx(382.5)
    assert r.objective["weighted_shortfall"] == 385
    assert r.objective["integrality_gap"] == pytest.approx(2.5)
    assert shipped(r)[("s1", "b", "suit")] == 3
    check(r)
    # The suits' shortfall is the full pallet capacity's doing (0.05 pallet left: half a suit).
    reason = r.fill.set_index(["region", "family"]).loc[("b", "suit"), "reason"]
    assert "limited by capacity.csv row 2 full (5.35 pallets from s1)" in reason
    assert "capacity.csv" not in r.fill.set_index(["region", "family"]).loc[("a", "mask"), "reason"]
    # And it is the true reason: room for one more suit (5.45 pallets) sends one more.
    more = allocator.solve(small(capacity=cap.assign(capacity=5.45)))
    assert shipped(more)[("s1", "b", "suit")] == 4


def test_corridor_capacity():
    # The east corridor (s1->b, s1->c, s2->c) carries 250 units of anything. Without it:
    # c 200 (w3), b 300 masks + 40 suits (w2, w5), a 300 (w1) from 600 masks + 50 suits.
    # With it: s2->b is off the corridor (100 masks to b). East: suits first (w5: 40), then
    # masks to c (w3): 210 left -> 200 to c, 10 masks to b. b gets 110 of 300 masks.
    # s1's other 290 masks go to a (off corridor). W = b (300 - 110) x 2 + a 10 x 1 = 390.
    cap = pd.DataFrame({"corridor": ["east"], "measure": ["units"], "capacity": [250]})
    r = allocator.solve(small(capacity=cap))
    assert r.objective["weighted_shortfall"] == 390
    got = shipped(r)
    east = sum(q for (s, reg, _), q in got.items() if (s, reg) in {("s1", "b"), ("s1", "c"), ("s2", "c")})
    assert east == 250
    check(r)


def test_designated_pairing_closes_other_regions():
    # s1 is designated to a for masks: its 500 masks may go to a only (300). s2's 100 masks go
    # to c (w3 > w2). W = b 300 x 2 + c 100 x 3 = 900. Suits are not bound by it.
    com = pd.DataFrame({"source": ["s1"], "region": ["a"], "product": ["mask"], "kind": ["designated"]})
    r = allocator.solve(small(commitments=com))
    assert r.objective["weighted_shortfall"] == 900
    got = shipped(r)
    assert got[("s1", "a", "mask")] == 300 and got[("s1", "b", "suit")] == 40
    assert not any(s == "s1" and p == "mask" and reg != "a" for (s, reg, p) in got)
    check(r)
    reason = r.fill.set_index(["region", "family"]).loc[("b", "mask"), "reason"]
    assert "s1 designated to other regions (commitments.csv row 2)" in reason


def test_contract_minimum_costs_priority():
    # Unconstrained, a (w1) is served last: 600 masks for c 200, b 300, a 100: W = a 200 x 1.
    # A contract of 250 masks s1 -> a moves 150 masks from b (w2) to a:
    # W = a 50 x 1 + b 150 x 2 = 350.
    free = allocator.solve(small())
    assert free.objective["weighted_shortfall"] == 200
    com = pd.DataFrame({"source": ["s1"], "region": ["a"], "product": ["mask"], "minimum": [250]})
    r = allocator.solve(small(commitments=com))
    assert r.objective["weighted_shortfall"] == 350
    assert shipped(r)[("s1", "a", "mask")] == 250
    check(r)


def test_minimum_lot_and_destination_limit_are_a_mip():
    # Lots of at least 150 masks: s2's 100 masks cannot ship. s1 may serve one region: b
    # (300 masks x 2 + 40 suits x 5 = 800 saved) beats c (200 x 3 = 600) and a (300).
    # W = a 300 + c 200 x 3 = 900. The LP relaxation splits the yes/no choices: 350.
    products = pd.DataFrame({"product": ["mask", "suit"], "min_lot": [150, 0]})
    sources = pd.DataFrame(
        {"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"], "max_destinations": [1, None]}
    )
    r = allocator.solve(small(products=products, sources=sources))
    assert r.objective["method"] == "mip"
    assert r.objective["weighted_shortfall"] == 900
    assert shipped(r) == {("s1", "b", "mask"): 300, ("s1", "b", "suit"): 40}
    reason = r.fill.set_index(["region", "family"]).loc[("c", "mask"), "reason"]
    assert "s1 at its limit of 1 destinations (sources.csv row 2)" in reason
    assert r.objective["lp_weighted_shortfall"] == pytest.approx(350)
    check(r)
    # Lots only: s1's 500 masks go to c (200) and b (300), both lots of 150 or more; W = a 300.
    r = allocator.solve(small(products=products))
    assert r.objective["weighted_shortfall"] == 300
    assert all(q >= 150 for (_, _, p), q in shipped(r).items() if p == "mask")
    check(r)


def conflict_of(inst) -> set:
    with pytest.raises(ConflictError) as exc:
        allocator.solve(inst)
    c = exc.value.conflict
    return {(f, int(line), col) for f, line, col in zip(c["file"], c["line"], c["column"])}


def test_conflicts_name_the_irreducible_rows():
    # 400 masks committed to a, whose demand is 300: that pair alone conflicts.
    com = pd.DataFrame(
        {"source": ["s1", "s2"], "region": ["a", "b"], "product": ["mask", "mask"], "minimum": [400, 10]}
    )
    assert conflict_of(small(commitments=com)) == {("commitments.csv", 2, "minimum"), ("demand.csv", 2, "quantity")}
    # Designated to a, yet committed to b.
    com = pd.DataFrame(
        {
            "source": ["s1", "s1"],
            "region": ["a", "b"],
            "product": ["mask", "mask"],
            "minimum": [0, 10],
            "kind": ["designated", "contract"],
        }
    )
    assert conflict_of(small(commitments=com)) == {("commitments.csv", 2, "kind"), ("commitments.csv", 3, "minimum")}
    # Supply: 300 to b and 200 to c from s1 are fine (500), plus 10 suits... and 100 more masks
    # to a is 600 > 500: the three contracts and s1's supply row conflict; the demand rows do not.
    com = pd.DataFrame(
        {"source": ["s1", "s1", "s1"], "region": ["a", "b", "c"], "product": ["mask"] * 3, "minimum": [100, 250, 160]}
    )
    assert conflict_of(small(commitments=com)) == {
        ("commitments.csv", 2, "minimum"),
        ("commitments.csv", 3, "minimum"),
        ("commitments.csv", 4, "minimum"),
        ("supply.csv", 2, "quantity"),
    }
    # Shared capacity: the east corridor carries 50; s1 owes c 60 on it.
    com = pd.DataFrame({"source": ["s1"], "region": ["c"], "product": ["mask"], "minimum": [60]})
    cap = pd.DataFrame({"corridor": ["east"], "measure": ["units"], "capacity": [50]})
    assert conflict_of(small(commitments=com, capacity=cap)) == {
        ("commitments.csv", 2, "minimum"),
        ("capacity.csv", 2, "capacity"),
    }
    # Nothing can carry it: s2 has no suits.
    com = pd.DataFrame({"source": ["s2"], "region": ["b"], "product": ["suit"], "minimum": [1]})
    with pytest.raises(ConflictError, match="nothing can carry it"):
        allocator.solve(small(commitments=com))
    assert conflict_of(small(commitments=com)) == {("commitments.csv", 2, "minimum")}
    com = pd.DataFrame({"source": ["s1"], "region": ["c"], "product": ["mask"], "minimum": [60]})
    # Whole units: a lot of 150 and a corridor of 120 leave s1 -> c only 0; owed 60 -> MIP conflict.
    products = pd.DataFrame({"product": ["mask", "suit"], "min_lot": [150, 0]})
    cap = pd.DataFrame({"corridor": ["east"], "measure": ["units"], "capacity": [120]})
    assert conflict_of(small(products=products, commitments=com, capacity=cap)) == {
        ("commitments.csv", 2, "minimum"),
        ("capacity.csv", 2, "capacity"),
        ("products.csv", 2, "min_lot"),
    }
    # A lot larger than the source has: the lot row says which route cannot carry it.
    com = pd.DataFrame({"source": ["s2"], "region": ["c"], "product": ["mask"], "minimum": [1]})
    with pytest.raises(
        ConflictError,
        match=r"mask in lots of at least 150 \(more than some routes can carry: "
        r"s2 -> b at most 100, s2 -> c at most 100\)",
    ):
        allocator.solve(small(products=products, commitments=com))


def test_each_conflicting_row_alone_restores_feasibility():
    """Irreducible: drop any one row of the conflict (and nothing else) and a plan exists."""
    com = pd.DataFrame(
        {"source": ["s1", "s1", "s1"], "region": ["a", "b", "c"], "product": ["mask"] * 3, "minimum": [100, 250, 160]}
    )
    for drop in range(3):
        r = allocator.solve(small(commitments=com.drop(index=drop)))
        check(r)
    more = small(commitments=com)
    supply = more.supply.drop(columns="_row").copy()
    supply.loc[(supply["source"] == "s1") & (supply["product"] == "mask"), "quantity"] = 510
    frames = {k: getattr(more, k).drop(columns="_row") for k in ("products", "sources", "regions", "demand", "routes")}
    check(allocator.solve(allocator.from_frames(supply=supply, commitments=com, **frames)))


def _with_sides(seed: int, equity: bool, lots: bool) -> Instance:
    base = random_instance(seed, equity=equity)
    rng = np.random.default_rng(1000 + seed)
    frames = {
        k: getattr(base, k).drop(columns="_row")
        for k in ("products", "sources", "supply", "regions", "demand", "routes")
    }
    frames["products"]["per_pallet"] = rng.integers(3, 12, len(frames["products"]))
    frames["products"]["min_lot"] = rng.integers(0, 12, len(frames["products"])) if lots else 0
    n_src = len(frames["sources"])
    frames["sources"]["max_destinations"] = [
        float(rng.integers(1, 4)) if lots and rng.random() < 0.5 else None for _ in range(n_src)
    ]
    frames["routes"]["corridor"] = rng.choice(["", "north", "south"], len(frames["routes"]))
    cap = [
        {"source": f"s{rng.integers(n_src)}", "measure": "pallets", "capacity": float(rng.integers(1, 12)) + 0.5},
        {"corridor": "north", "measure": "units", "capacity": float(rng.integers(10, 60))},
        {
            "region": f"r{rng.integers(len(frames['regions']))}",
            "measure": "pallets",
            "capacity": round(float(rng.uniform(1, 8)), 2),
        },
    ]
    routes = frames["routes"]
    makers = set(frames["supply"].loc[frames["supply"]["product"] == "mask", "source"])
    wanting = set(frames["demand"].loc[frames["demand"]["family"] == "mask", "region"])
    usable = routes.loc[routes["source"].isin(makers) & routes["region"].isin(wanting)]  # routes that can carry masks
    pick = usable.iloc[rng.choice(len(usable), min(2, len(usable)), replace=False)]
    com = [
        {"source": s, "region": r, "product": "mask", "minimum": float(rng.integers(0, 4))}
        for s, r in zip(pick["source"], pick["region"])
    ]
    s0 = routes["source"].iloc[0]
    com.append(
        {
            "source": s0,
            "region": routes.loc[routes["source"] == s0, "region"].iloc[0],
            "product": "em",
            "kind": "designated",
        }
    )
    return allocator.from_frames(
        policy=base.policy, capacity=pd.DataFrame(cap), commitments=pd.DataFrame(com), **frames
    )


@pytest.mark.parametrize("seed", range(14))
def test_random_against_independent_formulation(seed):
    """The least weighted shortfall over whole units equals CBC's on an independent statement
    (infeasible exactly when CBC says so), the LP bound lies below it, and every row holds.
    Equity off (seeds 0-7): the least cost with it held equals CBC's too."""
    equity = seed >= 8
    inst = _with_sides(seed, equity=equity, lots=seed % 2 == (0 if equity else 1))
    ref = side_reference(inst)
    if ref is None:
        with pytest.raises(ConflictError):
            allocator.solve(inst)
        return
    r = allocator.solve(inst, explain=False)
    assert r.objective["weighted_shortfall"] == pytest.approx(ref[0], abs=1e-6)
    assert r.objective["lp_weighted_shortfall"] <= r.objective["weighted_shortfall"] + 1e-9
    if not equity:
        assert r.objective["route_cost"] == pytest.approx(ref[1], abs=1e-6)
    check(r)


def test_validation_names_file_row_and_column():
    cap = pd.DataFrame({"measure": ["units", "volume"], "corridor": ["", "west"], "capacity": [5, 5]})
    with pytest.raises(InstanceError) as exc:
        small(capacity=cap)
    text = str(exc.value)
    assert "capacity.csv, row 2, column 'source'" in text  # names no routes
    assert "capacity.csv, row 3, column 'corridor': unknown corridor 'west'" in text
    assert "products.csv, row 2, column 'unit_volume': is empty: capacity.csv row 3 counts volume" in text
    com = pd.DataFrame({"source": ["s1"], "region": ["a"], "product": ["mask"], "minimum": [2.5], "kind": ["maybe"]})
    with pytest.raises(InstanceError) as exc:
        small(commitments=com)
    text = str(exc.value)
    assert "commitments.csv, row 2, column 'minimum': is 2.5: the product is countable" in text
    assert "commitments.csv, row 2, column 'kind'" in text
    sources = pd.DataFrame(
        {"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"], "max_destinations": [1.5, None]}
    )
    with pytest.raises(InstanceError, match=r"sources.csv, row 2, column 'max_destinations'"):
        small(sources=sources)


def test_cli_reports_conflict_and_solves(tmp_path, capsys):
    inst = small()
    tables = {
        k: getattr(inst, k).drop(columns="_row")
        for k in ("products", "sources", "supply", "regions", "demand", "routes")
    }
    tables["commitments"] = pd.DataFrame({"source": ["s1"], "region": ["a"], "product": ["mask"], "minimum": [400]})
    folder = write_folder(tmp_path / "bad", tables)
    code, text = run_cli(capsys, "solve", str(folder))
    assert code == 2
    assert "the hard constraints cannot all hold; these 2 rows conflict" in text
    assert "commitments.csv, row 2, column 'minimum'" in text and "demand.csv, row 2, column 'quantity'" in text
    assert "Traceback" not in text
    tables["commitments"]["minimum"] = [250]
    folder = write_folder(tmp_path / "good", tables)
    code, text = run_cli(capsys, "solve", str(folder), "--format", "json")
    assert code == 0, text
    assert '"weighted_shortfall": 350' in text


def test_time_limit_and_other_commands_refuse_plainly():
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    with pytest.raises(allocator.errors.SolverError, match="returned only when optimal"):
        allocator.solve(small(capacity=cap), time_limit=0.0)
    # A what-if keeps the side tables: more suits do not pass the full loading limit.
    from allocator.inputs.edits import apply_changes

    base = small(capacity=cap)
    changed = apply_changes(base, ["supply:s1:suit+=100"]).instance
    assert changed.capacity is not None
    assert allocator.solve(changed).objective["weighted_shortfall"] == 385
    # The two-level solve does not aggregate side rows: it says so.
    from allocator.pipeline.hierarchy import solve_hierarchical

    with pytest.raises(InstanceError, match="does not use shared capacity"):
        solve_hierarchical(base)


def test_multi_day_instance_with_side_tables_is_refused():
    inst = small()
    frames = {k: getattr(inst, k).drop(columns="_row") for k in ("products", "sources", "regions", "routes")}
    supply = inst.supply.drop(columns="_row").assign(day="2020-02-05")
    demand = pd.concat([inst.demand.drop(columns="_row").assign(day=d) for d in ("2020-02-05", "2020-02-06")])
    cap = pd.DataFrame({"source": ["s1"], "measure": ["units"], "capacity": [10]})
    with pytest.raises(InstanceError, match=r"capacity.csv: applies to the daily plan \(allocator solve\) only"):
        allocator.from_frames(supply=supply, demand=demand, capacity=cap, **frames)
