"""Substitutes (``substitutes.csv``): a product serving another family's demand, with a preference.

Every optimum below is worked out by hand in its docstring and checked on each engine
(``network``, ``highs`` and ``auto``); random instances are compared with the independent
PuLP + CBC formulation of ``tests/reference.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import frames, random_instance, run_cli, write_folder
from reference import networkx_reference, pulp_reference

import allocator
from allocator.build.daily import build, family_components, partition
from allocator.engine import daily as engine
from allocator.errors import InstanceError
from allocator.inputs.policy import Policy

SOLVERS = ("network", "highs", "auto")
SHIELD_GOGGLES = [{"product": "shield", "family": "face_shield"}, {"product": "goggles", "family": "goggles"}]


def make(products, supply, demand, routes, substitutes, policy=None, regions=None):
    """An instance from lists of rows; every source stands in region ``a``."""
    sources = sorted({s for s, _, _ in supply})
    if regions is None:
        names = sorted({d["region"] for d in demand} | {r[1] for r in routes} | {"a"})
        regions = [{"region": r, "name": r.upper()} for r in names]
    tables = frames(
        products=products,
        sources=[{"source": s, "name": s.upper(), "region": "a"} for s in sources],
        supply=supply,
        regions=regions,
        demand=demand,
        routes=routes,
    )
    subs = None if substitutes is None else pd.DataFrame(substitutes)
    return allocator.from_frames(**tables, substitutes=subs, policy=policy or Policy())


def row(result, region, family, use="general"):
    f = result.plan.fill
    return f[(f["region"] == region) & (f["family"] == family) & (f["use"] == use)].iloc[0]


def served(result, region, product, family):
    a = result.plan.allocation
    got = a[(a["region"] == region) & (a["product"] == product) & (a["family"] == family)]
    return float(got["quantity"].sum())


def checked(inst, solver):
    res = allocator.solve(inst, solver=solver)
    ver = allocator.verify(inst, res.plan, reference=res)
    assert ver.ok, ver.errors()
    return res


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_substitute_fills_a_shortfall(solver):
    """3 shields and 10 goggles; A needs 6 face shields, B 4 goggles; routes cost 1 a unit.

    Without substitutes A gets the 3 shields and is short 3 (weighted shortfall 3). Goggles may
    serve face-shield demand: A gets 3 shields + 3 goggles, B its 4 goggles; shortfall 0, route
    cost 10, 3 units substituted at the default charge 1 x 1000 each (not in route cost).
    """
    kw = dict(
        products=SHIELD_GOGGLES,
        supply=[("s", "shield", 3), ("s", "goggles", 10)],
        demand=[
            {"region": "a", "family": "face_shield", "quantity": 6},
            {"region": "b", "family": "goggles", "quantity": 4},
        ],
        routes=[("s", "a", 1), ("s", "b", 1)],
    )
    without = allocator.solve(make(**kw, substitutes=None), solver=solver)
    assert without.objective["weighted_shortfall"] == 3
    assert "substituted" not in without.objective and "substituted" not in without.plan.fill.columns
    inst = make(**kw, substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}])
    res = checked(inst, solver)
    assert res.objective["weighted_shortfall"] == 0
    assert res.objective["route_cost"] == 10
    assert res.objective["substituted"] == 3 and res.objective["substitution_charge"] == 3000
    a = row(res, "a", "face_shield")
    assert (a["delivered"], a["substituted"]) == (6, 3)
    assert row(res, "b", "goggles")["substituted"] == 0
    alloc = res.plan.allocation
    assert list(alloc.columns) == ["region", "product", "family", "use", "quantity", "substitute"]
    assert alloc.to_dict("records") == [
        {
            "region": "a",
            "product": "goggles",
            "family": "face_shield",
            "use": "general",
            "quantity": 3.0,
            "substitute": True,
        },
        {
            "region": "a",
            "product": "shield",
            "family": "face_shield",
            "use": "general",
            "quantity": 3.0,
            "substitute": False,
        },
        {
            "region": "b",
            "product": "goggles",
            "family": "goggles",
            "use": "general",
            "quantity": 4.0,
            "substitute": False,
        },
    ]


@pytest.mark.parametrize("solver", SOLVERS)
def test_own_product_preferred_unless_the_charge_is_small(solver):
    """A needs 5 face shields: 5 shields from S1 at 50 a unit, or 5 goggles from S2 at 1 a unit.

    Default charge 1000: shields 5 x 50 = 250 < goggles 5 x 1 + 5 x 1000 = 5,005, so the
    shields go (route cost 250, nothing substituted). ``substitution.cost = 10``: goggles
    5 + 50 = 55 < 250, so the goggles go (route cost 5, charge 50).
    """
    kw = dict(
        products=SHIELD_GOGGLES,
        supply=[("s1", "shield", 5), ("s2", "goggles", 5)],
        demand=[{"region": "a", "family": "face_shield", "quantity": 5}],
        routes=[("s1", "a", 50), ("s2", "a", 1)],
        substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}],
    )
    res = checked(make(**kw), solver)
    assert res.objective["weighted_shortfall"] == 0
    assert (res.objective["route_cost"], res.objective["substituted"]) == (250, 0)
    assert served(res, "a", "shield", "face_shield") == 5
    cheap = checked(make(**kw, policy=Policy().with_overrides(["substitution.cost=10"])), solver)
    assert (cheap.objective["route_cost"], cheap.objective["substituted"]) == (5, 5)
    assert cheap.objective["substitution_charge"] == 50
    assert served(cheap, "a", "goggles", "face_shield") == 5


@pytest.mark.parametrize("solver", SOLVERS)
def test_preference_order_among_substitutes(solver):
    """No shields; A needs 4 face shields; goggles (preference 2) and visors (preference 1), 4 of
    each, all at route cost 1 a unit.

    Visors first: 4 visors, charge 4 x 1 x 1000 = 4,000. With only 3 visors: 3 visors and 1
    goggle, charge 3 x 1000 + 1 x 2000 = 5,000. Preferences swapped: 4 goggles.
    """
    products = SHIELD_GOGGLES + [{"product": "visor", "family": "visor"}]
    subs = [
        {"product": "goggles", "family": "face_shield", "preference": 2},
        {"product": "visor", "family": "face_shield", "preference": 1},
    ]
    kw = dict(
        products=products, demand=[{"region": "a", "family": "face_shield", "quantity": 4}], routes=[("s", "a", 1)]
    )
    res = checked(make(**kw, supply=[("s", "goggles", 4), ("s", "visor", 4)], substitutes=subs), solver)
    assert served(res, "a", "visor", "face_shield") == 4 and served(res, "a", "goggles", "face_shield") == 0
    assert (res.objective["route_cost"], res.objective["substitution_charge"]) == (4, 4000)
    few = checked(make(**kw, supply=[("s", "goggles", 4), ("s", "visor", 3)], substitutes=subs), solver)
    assert served(few, "a", "visor", "face_shield") == 3 and served(few, "a", "goggles", "face_shield") == 1
    assert few.objective["substitution_charge"] == 5000
    swapped = [dict(s, preference=3 - s["preference"]) for s in subs]
    res = checked(make(**kw, supply=[("s", "goggles", 4), ("s", "visor", 4)], substitutes=swapped), solver)
    assert served(res, "a", "goggles", "face_shield") == 4


@pytest.mark.parametrize("solver", SOLVERS)
def test_own_use_preferred_between_rows_of_equal_weight(solver):
    """Equity off. 4 goggles; A needs 4 face shields (only goggles reach A, route cost 1), C needs
    4 goggles (route cost 5); both rows weigh 1, so either takes the 4 (weighted shortfall 4).

    Charge 1000: goggles to C, route cost 20 < 4 + 4,000. Charge 0: to A, route cost 4. (The
    network engine merges A's hub with its one row: the charge then sits on the ship arc.)
    """
    kw = dict(
        products=SHIELD_GOGGLES,
        supply=[("s", "goggles", 4)],
        demand=[
            {"region": "a", "family": "face_shield", "quantity": 4},
            {"region": "c", "family": "goggles", "quantity": 4},
        ],
        routes=[("s", "a", 1), ("s", "c", 5)],
        substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}],
    )
    res = checked(make(**kw, policy=Policy(equity=False)), solver)
    assert (res.objective["weighted_shortfall"], res.objective["route_cost"]) == (4, 20)
    assert row(res, "c", "goggles")["delivered"] == 4 and res.objective["substituted"] == 0
    free = checked(make(**kw, policy=Policy(equity=False, substitution_cost=0.0)), solver)
    assert (free.objective["weighted_shortfall"], free.objective["route_cost"]) == (4, 4)
    assert row(free, "a", "face_shield")["substituted"] == 4


@pytest.mark.parametrize("solver", SOLVERS)
def test_priority_outranks_preference(solver):
    """A (level-one response, weight 8) needs 5 face shields, B (weight 1) 5 goggles; only 5
    goggles, route cost 1. A's shortfall weighs more: A gets the 5 goggles despite the charge
    (5 x 1000), B is short 5: weighted shortfall 5, route cost 5. B's reason names A.
    """
    inst = make(
        products=SHIELD_GOGGLES,
        supply=[("s", "goggles", 5)],
        demand=[
            {"region": "a", "family": "face_shield", "quantity": 5},
            {"region": "b", "family": "goggles", "quantity": 5},
        ],
        routes=[("s", "a", 1), ("s", "b", 1)],
        regions=[{"region": "a", "name": "A", "flags": "level_one_response"}, {"region": "b", "name": "B"}],
        substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}],
    )
    res = checked(inst, solver)
    assert (res.objective["weighted_shortfall"], res.objective["route_cost"]) == (5, 5)
    assert row(res, "a", "face_shield")["substituted"] == 5
    assert row(res, "b", "goggles")["reason"] == (
        "outranked: 5 reachable units went to higher-weight demand in A general (w 8)"
    )


GOWN_SUIT = [{"product": "gown", "family": "gown", "grade": "icu"}, {"product": "suit", "family": "suit"}]


@pytest.mark.parametrize("solver", SOLVERS)
def test_icu_rule_still_holds(solver):
    """5 ICU-grade gowns; A needs 5 general suits; gowns listed as a substitute for general suits.

    Policy keeps ICU-grade items for ICU use: the row has no effect (a warning), A is short 5,
    weighted shortfall 5, and the short row says no supply. ICU-grade for general allowed: A gets
    the 5 gowns, shortfall 0.
    """
    kw = dict(
        products=GOWN_SUIT,
        supply=[("s", "gown", 5)],
        demand=[{"region": "a", "family": "suit", "quantity": 5}],
        routes=[("s", "a", 1)],
        substitutes=[{"product": "gown", "family": "suit", "use": "general", "preference": 1}],
    )
    inst = make(**kw)
    (warning,) = [w for w in inst.warnings if w.file == "substitutes.csv"]
    assert (warning.row, warning.column, warning.severity) == (2, "use", "warning")
    assert "ICU-grade" in warning.message and "no effect" in warning.message
    res = checked(inst, solver)
    assert res.objective["weighted_shortfall"] == 5 and res.objective["substituted"] == 0
    assert row(res, "a", "suit")["reason"] == "no suit supply anywhere today"
    allowed = checked(make(**kw, policy=Policy(icu_grade_for_general=True)), solver)
    assert allowed.objective["weighted_shortfall"] == 0 and allowed.objective["substituted"] == 5


def test_verify_accepts_substitutes_and_rejects_the_rest():
    """The dispatch of 3 goggles + 3 shields to A (face shields) and 4 goggles to B is feasible
    only through the substitute row; without it, the goggles in A serve nothing. ICU-grade gowns
    sent for general suit demand break the ICU rule even though a substitutes row lists them."""
    kw = dict(
        products=SHIELD_GOGGLES,
        supply=[("s", "shield", 3), ("s", "goggles", 10)],
        demand=[
            {"region": "a", "family": "face_shield", "quantity": 6},
            {"region": "b", "family": "goggles", "quantity": 4},
        ],
        routes=[("s", "a", 1), ("s", "b", 1)],
    )
    dispatch = pd.DataFrame(
        {
            "source": ["s", "s", "s"],
            "region": ["a", "a", "b"],
            "product": ["goggles", "shield", "goggles"],
            "quantity": [3, 3, 4],
        }
    )
    inst = make(**kw, substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}])
    ver = allocator.verify(inst, dispatch)
    assert ver.ok, ver.errors()
    assert ver.metrics["weighted_shortfall"] == 0 and ver.metrics["substituted"] == 3
    # Too many goggles for A: 4 + 3 shields > 6.
    over = dispatch.assign(quantity=[4, 3, 4])
    errors = allocator.verify(inst, over, optimality=False).errors()
    assert list(errors["rule"]) == ["demand"]
    assert (
        errors["detail"]
        .iloc[0]
        .startswith("1 of the 7 units delivered to 'a' (4 goggles, 3 shield) serve no demand they may serve")
    )
    # A fill table claiming a split the dispatch cannot make.
    res = allocator.solve(inst)
    fill = res.plan.fill.copy()
    fill.loc[fill["region"] == "b", "delivered"] = 2
    errors = allocator.verify(inst, res.plan.dispatch, fill=fill, optimality=False).errors()
    assert list(errors["rule"]) == ["fill"] and errors["detail"].iloc[0].startswith("b: says delivered goggles/")
    # A plan that substitutes where the family's own product would do costs more than the optimum.
    own = make(
        **dict(kw, supply=[("s", "shield", 6), ("s", "goggles", 10)]),
        substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}],
    )
    errors = allocator.verify(own, dispatch).errors()
    assert list(errors["rule"]) == ["least cost"]
    assert "plus substitution charge 3,000" in errors["detail"].iloc[0]
    # ICU rule: gowns for general suits.
    gowns = make(
        products=GOWN_SUIT,
        supply=[("s", "gown", 5)],
        demand=[{"region": "a", "family": "suit", "quantity": 5}],
        routes=[("s", "a", 1)],
        substitutes=[{"product": "gown", "family": "suit", "preference": 1}],
    )
    sent = pd.DataFrame({"source": ["s"], "region": ["a"], "product": ["gown"], "quantity": [5]})
    errors = allocator.verify(gowns, sent, optimality=False).errors()
    assert list(errors["rule"]) == ["icu"]
    assert errors["detail"].iloc[0].startswith("ICU-grade 'gown' delivered to 'a' for general use: 5 of the 5 units")


def linked_instance(policy=None):
    """Three families: shields and goggles linked by a substitute, masks on their own."""
    products = SHIELD_GOGGLES + [{"product": "mask", "family": "mask"}]
    return make(
        products=products,
        supply=[("s", "shield", 4), ("s", "goggles", 9), ("t", "mask", 7)],
        demand=[
            {"region": "a", "family": "face_shield", "quantity": 8},
            {"region": "b", "family": "face_shield", "quantity": 3},
            {"region": "b", "family": "goggles", "quantity": 5},
            {"region": "a", "family": "mask", "quantity": 9},
        ],
        routes=[("s", "a", 2), ("s", "b", 3), ("t", "a", 1)],
        substitutes=[{"product": "goggles", "family": "face_shield", "preference": 1}],
        policy=policy,
    )


def test_linked_families_stay_in_one_part(monkeypatch):
    """Goggles serve face-shield rows: the two families share the goggles' supply, so the solve
    in parts (every component alone) must keep them together and give the whole model's optimum.

    By hand: 13 face-shield and goggle units for 16 rows of weight 1: 3 short; fair: every row
    at 13/16 (A shields 6.5, B shields 2.4375, B goggles 4.0625) in whole units; masks 7 of 9.
    Weighted shortfall 3 + 2 = 5.
    """
    inst = linked_instance()
    model = build(inst)
    families, dem_family, component = family_components(model)
    assert list(families) == ["face_shield", "goggles", "mask"]
    assert list(component) == [0, 0, 2]
    monkeypatch.setattr(engine, "PART_COLUMNS", 1)
    assert engine.family_groups(model) == [["face_shield", "goggles"], ["mask"]]
    with pytest.raises(ValueError, match="linked by a substitute"):
        list(partition(model, [["face_shield"], ["goggles", "mask"]]))
    for solver in ("network", "auto"):
        apart = allocator.solve(inst, solver=solver)
        assert apart.objective["weighted_shortfall"] == 5
        assert allocator.verify(inst, apart.plan, reference=apart).ok
        monkeypatch.setattr(engine, "PART_COLUMNS", 10**9)
        whole = allocator.solve(inst, solver=solver)
        monkeypatch.setattr(engine, "PART_COLUMNS", 1)
        highs = allocator.solve(inst, solver="highs")
        for other in (whole, highs):
            for key in ("weighted_shortfall", "route_cost", "substituted", "substitution_charge"):
                assert apart.objective[key] == other.objective[key], key
            np.testing.assert_allclose(apart.fair_fill, other.fair_fill, atol=1e-9)


@pytest.mark.parametrize(
    "change, column, message",
    [
        (
            "family=face_sheild",
            "family",
            "no product belongs to family 'face_sheild': expected a family from "
            "products.csv (did you mean 'face_shield'?)",
        ),
        ("family=goggles", "family", "is 'goggles', the family of product 'goggles' itself"),
        (
            "family=sanitiser",
            "family",
            "family 'sanitiser' is divisible (not countable) but product 'goggles' is countable",
        ),
        ("preference=0", "preference", "is 0: expected a whole number 1 or more"),
        ("use=icu", "use", "is 'icu' but product 'goggles' is general-grade"),
    ],
)
def test_validation_names_file_row_and_column(tmp_path, capsys, change, column, message):
    key, value = change.split("=")
    subs = {"product": "goggles", "family": "face_shield", "use": "general", "preference": 1}
    folder = folder_with(
        tmp_path,
        [{"product": "visor", "family": "face_shield", "use": "general", "preference": 2}, dict(subs, **{key: value})],
    )
    with pytest.raises(InstanceError) as err:
        allocator.load(folder)
    (issue,) = [i for i in err.value.issues if i.severity == "error"]
    assert (issue.file, issue.row, issue.column) == ("substitutes.csv", 3, column)
    assert message in issue.message
    code, text = run_cli(capsys, "validate", str(folder))
    assert code == 2 and "substitutes.csv" in text and column in text


def folder_with(tmp_path, substitutes, policy_toml=None):
    products = pd.DataFrame(
        [
            {"product": "shield", "family": "face_shield", "countable": "true"},
            {"product": "goggles", "family": "goggles", "countable": "true"},
            {"product": "visor", "family": "visor", "countable": "true"},
            {"product": "gel", "family": "sanitiser", "countable": "false"},
        ]
    )
    tables = {
        "products": products,
        "sources": pd.DataFrame([{"source": "s", "name": "S", "region": "a"}]),
        "supply": pd.DataFrame(
            [("s", "shield", 3), ("s", "goggles", 10), ("s", "visor", 2), ("s", "gel", 1.5)],
            columns=["source", "product", "quantity"],
        ),
        "regions": pd.DataFrame([{"region": "a", "name": "A"}, {"region": "b", "name": "B"}]),
        "demand": pd.DataFrame(
            [
                {"region": "a", "family": "face_shield", "quantity": 8},
                {"region": "b", "family": "goggles", "quantity": 4},
            ]
        ),
        "routes": pd.DataFrame([("s", "a", 1), ("s", "b", 2)], columns=["source", "region", "cost"]),
        "substitutes": pd.DataFrame(substitutes),
    }
    return write_folder(tmp_path / "inst", tables, policy_toml)


def test_cli_round_trip(tmp_path, capsys):
    """3 shields, 2 visors (preference 2), 10 goggles (preference 1) for A's 8 face shields; B needs
    4 goggles. A gets 3 shields + 5 goggles (the first choice; the visors stay), B 4 goggles.
    Route cost 8 x 1 + 4 x 2 = 16; 5 units substituted, charge 5,000."""
    folder = folder_with(
        tmp_path,
        [
            {"product": "goggles", "family": "face_shield", "preference": 1},
            {"product": "visor", "family": "face_shield", "preference": 2},
        ],
    )
    out = tmp_path / "plan"
    code, text = run_cli(capsys, "solve", str(folder), "--output", str(out))
    assert code == 0, text
    assert "route cost 16 | substituted 5 units (charge 5,000, not in route cost)" in text
    fill = pd.read_csv(out / "fill.csv")
    assert list(fill.columns[:6]) == ["region", "family", "use", "demand", "delivered", "substituted"]
    assert fill.set_index("region").loc["a", ["delivered", "substituted"]].tolist() == [8, 5]
    alloc = pd.read_csv(out / "allocation.csv")
    assert alloc.loc[alloc["substitute"], ["region", "product", "family", "quantity"]].values.tolist() == [
        ["a", "goggles", "face_shield", 5]
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"]["substituted"] == 5 and summary["objective"]["substitution_charge"] == 5000
    assert summary["policy"]["substitution"] == {"cost": 1000.0}
    code, text = run_cli(capsys, "verify", str(folder), str(out))
    assert code == 0, text
    # The same bytes again: outputs are deterministic.
    again = tmp_path / "again"
    assert run_cli(capsys, "solve", str(folder), "--output", str(again))[0] == 0
    for name in ("dispatch.csv", "fill.csv", "allocation.csv"):
        assert (out / name).read_bytes() == (again / name).read_bytes()
    # The charge from the command line: 0 makes the visors as good as the goggles.
    code, text = run_cli(capsys, "solve", str(folder), "--policy", "substitution.cost=0", "--format", "json")
    assert code == 0 and json.loads(text)["objective"]["substitution_charge"] == 0


def test_multi_day_and_two_level_solves_refuse_substitutes(tmp_path, capsys):
    from allocator.pipeline.days import plan
    from allocator.pipeline.hierarchy import solve_hierarchical

    inst = linked_instance()
    for run in (plan, solve_hierarchical):
        with pytest.raises(InstanceError) as err:
            run(inst)
        assert err.value.issues[0].file == "substitutes.csv"
        assert "substitutes yet" in err.value.issues[0].message
    folder = folder_with(tmp_path, [{"product": "goggles", "family": "face_shield"}])
    code, text = run_cli(capsys, "plan", str(folder))
    assert code == 2 and "multi-day plans (allocator plan, replay) do not use substitutes yet" in text


def with_substitutes(inst, rng):
    """The instance with a random substitutes table (each candidate row with probability 0.7) and
    the supply of one random product tripled (so that a family has units to spare for another)."""
    candidates = [("em", "mask"), ("mask", "suit"), ("gb", "mask")]  # gb is ICU-grade: inert unless allowed
    rows = [
        {"product": p, "family": f, "use": "general", "preference": int(rng.integers(1, 4))}
        for p, f in candidates
        if rng.random() < 0.7
    ]
    tables = {t: getattr(inst, t) for t in ("products", "sources", "supply", "regions", "demand", "routes")}
    tables = {t: f.drop(columns=[c for c in f.columns if c.startswith("_")]) for t, f in tables.items()}
    more = tables["supply"]["product"] == ["gb", "em", "mask"][int(rng.integers(3))]
    tables["supply"].loc[more, "quantity"] *= 3
    return allocator.from_frames(
        **tables, substitutes=pd.DataFrame(rows, columns=["product", "family", "use", "preference"]), policy=inst.policy
    )


@pytest.mark.parametrize("seed", range(8))
def test_random_instances_agree_with_the_reference(seed):
    rng = np.random.default_rng(100 + seed)
    cost = [1000, 20, 5][seed % 3]  # charges large, comparable to route costs, small
    policy = Policy(equity=seed % 2 == 0, icu_grade_for_general=seed % 4 < 2, substitution_cost=float(cost))
    base = random_instance(seed, equity=policy.equity, icu_for_general=policy.icu_grade_for_general)
    inst = with_substitutes(base, rng).with_policy(policy)
    ref = pulp_reference(inst)
    if not policy.equity:  # the min-cost-flow reference agrees too
        flow = networkx_reference(inst)
        assert flow["weighted_shortfall"] == pytest.approx(ref["weighted_shortfall"], abs=1e-6)
        assert flow["route_cost"] + flow["substitution_charge"] == pytest.approx(
            ref["route_cost"] + ref["substitution_charge"], abs=1e-6
        )
    for solver in ("network", "highs"):
        res = allocator.solve(inst, solver=solver)
        assert res.objective["weighted_shortfall"] == pytest.approx(ref["weighted_shortfall"], abs=1e-6)
        total = res.objective["route_cost"] + res.objective["substitution_charge"]
        assert total == pytest.approx(ref["route_cost"] + ref["substitution_charge"], abs=1e-6)
        if policy.equity:
            np.testing.assert_allclose(res.fair_fill, ref["fair_fill"], atol=1e-5)
        ver = allocator.verify(inst, res.plan, reference=res)
        assert ver.ok, ver.errors()
