"""Explanations (``allocator.explain.values``): what one more unit is worth, and why each source's output
went where it went.

Hand cases work out every marginal value and every reason (in each docstring). Then, on
random instances, three independent checks: each source's value against a solve with one
more unit of its supply; each region's value against a solve with one more unit at the region
(a new source there, with a route only to it); and each not_sent line's reason against LPs that
force one more unit on its route (HiGHS directly, not through the allocator's stages).
"""

from __future__ import annotations

import highspy
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from helpers import instance, random_instance

import allocator
from allocator.build.daily import build
from allocator.engine.daily import solve_model
from allocator.explain.values import (
    ACCOUNT_CODES,
    ACCOUNT_COLUMNS,
    MARGINAL_COLUMNS,
    _Graph,
    _potentials,
    _strong_components,
    value_tables,
)
from allocator.inputs.edits import apply_changes
from allocator.inputs.policy import Policy
from allocator.inputs.schema import TABLES

SUIT = [{"product": "suit", "family": "suit", "grade": "general"}]


def regions(*specs):
    return [{"region": r, "name": r.upper(), "flags": f} for r, f in specs]


def src(*names):
    return [{"source": s, "name": s.upper(), "region": r} for s, r in names]


def level_one_and_other(need, cost):
    """S (10 suits, in A) with a route to A (level one: weight 8) and one to B (weight 1)."""
    return instance(
        products=SUIT,
        sources=src(("s", "a")),
        supply=[("s", "suit", 10)],
        regions=regions(("a", "level_one_response"), ("b", "")),
        demand=[{"region": r, "family": "suit", "quantity": q} for r, q in zip("ab", need)],
        routes=[("s", r, c) for r, c in zip("ab", cost)],
    )


def solved(inst, x=None):
    """The model, the plan (the solver's, or ``x``) and the two tables."""
    model = build(inst)
    sol = solve_model(model, equity=inst.policy.equity, instance=inst)
    if x is not None:
        sol.x = x(model)
    marginal, accounts = value_tables(inst, model, sol.x, fair_box=(sol.fair_lo, sol.fair_hi))
    return model, sol, marginal, accounts


def value(marginal, kind, where, product="suit"):
    col = "region" if kind == "region" else "source"
    row = marginal[(marginal["kind"] == kind) & (marginal[col] == where) & (marginal["product"] == product)]
    assert len(row) == 1, (kind, where, product)
    return row.iloc[0]


def lines(accounts, source, line, product="suit"):
    return accounts[(accounts["source"] == source) & (accounts["line"] == line) & (accounts["product"] == product)]


# --- hand cases ---------------------------------------------------------------------------


def test_higher_weight():
    """S (10 suits) reaches A (level one: weight 8, needs 12, cost 5) and B (weight 1, needs 5, cost 1).

    Plan: all 10 to A (short 2), none to B (short 5); weighted shortfall 8 x 2 + 5 = 21.
    One more suit at S goes to A: worth 8; at region A 8, at region B 1. S's route to B carries
    nothing: its units serve A, of higher weight.
    """
    model, sol, marginal, accounts = solved(level_one_and_other(need=(12, 5), cost=(5, 1)))
    assert sol.weighted_shortfall == 21
    s = value(marginal, "source", "s")
    assert (s["value"], s["to_region"], s["to_use"], s["to_shortfall"]) == (8, "a", "general", 2)
    assert s["detail"] == "one more unit serves A general (w 8)"
    assert value(marginal, "region", "a")["value"] == 8 and value(marginal, "region", "b")["value"] == 1
    total = lines(accounts, "s", "total").iloc[0]
    assert (total["quantity"], total["why"], total["reason"]) == (10, "all_shipped", "all 10 units shipped")
    sent = lines(accounts, "s", "sent")
    assert sent[["region", "quantity", "shortfall", "unit_cost"]].values.tolist() == [["a", 10, 2, 5]]
    not_sent = lines(accounts, "s", "not_sent")
    assert not_sent[["region", "weight", "quantity", "shortfall", "why"]].values.tolist() == [
        ["b", 1, 0, 5, "higher_weight"]
    ]
    assert not_sent["reason"].iloc[0] == "its units serve higher-weight demand: A general (w 8)"
    assert list(accounts.columns) == ACCOUNT_COLUMNS and list(marginal.columns) == MARGINAL_COLUMNS


def test_capacity_no_route_and_units_left():
    """S1 (10) reaches A only, by a route of capacity 3; A needs 10. S2 (5) reaches C only, which
    needs 2. B needs 4 and nothing reaches it. All weight 1.

    Plan: 3 to A (the route is full), 2 to C; 7 of S1's units and 3 of S2's are left, so one
    more unit at either is worth 0. A unit at region A or B is worth 1 (each is short); at C, 0.
    S1's only route is full (not_sent: capacity; total: capacity). S2 has no route to A or B.
    """
    inst = instance(
        products=SUIT,
        sources=src(("s1", "a"), ("s2", "c")),
        supply=[("s1", "suit", 10), ("s2", "suit", 5)],
        regions=regions(("a", ""), ("b", ""), ("c", "")),
        demand=[{"region": r, "family": "suit", "quantity": q} for r, q in (("a", 10), ("b", 4), ("c", 2))],
        routes=[{"source": "s1", "region": "a", "cost": 1, "capacity": 3}, {"source": "s2", "region": "c", "cost": 1}],
    )
    model, sol, marginal, accounts = solved(inst)
    assert sol.weighted_shortfall == 7 + 4
    for s in ("s1", "s2"):
        row = value(marginal, "source", s)
        assert (
            row["value"] == 0
            and row["to_region"] == ""
            and row["detail"] == "units are left over: one more saves nothing"
        )
    assert [value(marginal, "region", r)["value"] for r in "abc"] == [1, 1, 0]
    assert value(marginal, "region", "c")["detail"].startswith("nothing: the demand it may serve there is met")
    total = lines(accounts, "s1", "total").iloc[0]
    assert (total["why"], total["reason"]) == ("capacity", "7 of 10 units left: every route to a short row is full")
    not_sent = lines(accounts, "s1", "not_sent")
    assert not_sent[["region", "quantity", "why", "reason"]].values.tolist() == [
        ["a", 3, "capacity", "route full: 3 units"]
    ]
    total = lines(accounts, "s2", "total").iloc[0]
    assert (total["why"], total["reason"]) == (
        "no_route",
        "3 of 5 units left: no route to the rows still short: A general (w 1), B general (w 1)",
    )
    assert lines(accounts, "s2", "not_sent").empty


def test_fair_share():
    """S1 (10) reaches A; S2 (10) reaches A and B. A and B need 20 each, weight 1, equity on.

    Every unit saves 1 wherever it goes (weighted shortfall 20). Max-min fair: B can only get
    S2's units, so both get 10 (50%). S2's route to A carries nothing: one more unit there
    would take a unit from B, below its fair share (or lift A above its own): fair_share.
    """
    inst = instance(
        products=SUIT,
        sources=src(("s1", "a"), ("s2", "b")),
        supply=[("s1", "suit", 10), ("s2", "suit", 10)],
        regions=regions(("a", ""), ("b", "")),
        demand=[{"region": r, "family": "suit", "quantity": 20} for r in "ab"],
        routes=[("s1", "a", 1), ("s2", "a", 1), ("s2", "b", 1)],
    )
    model, sol, marginal, accounts = solved(inst)
    assert sol.weighted_shortfall == 20
    assert [value(marginal, "source", s)["value"] for s in ("s1", "s2")] == [1, 1]
    assert [value(marginal, "region", r)["value"] for r in "ab"] == [1, 1]
    not_sent = lines(accounts, "s2", "not_sent")
    assert not_sent[["region", "why"]].values.tolist() == [["a", "fair_share"]]
    assert not_sent["reason"].iloc[0] == "A general (w 1) has its max-min fair share (50.0%)"
    assert_reasons_are_true(inst, model, sol, accounts)
    # Without equity the same line is decided by cost: the two routes into A cost the same.
    model, sol, _, accounts = solved(inst.with_policy(inst.policy.with_overrides({"equity": False})))
    assert set(accounts.loc[accounts["line"] == "not_sent", "why"]) <= {"tie", "cost"}


CROSS = dict(
    products=SUIT,
    sources=src(("s1", "a"), ("s2", "b")),
    supply=[("s1", "suit", 10), ("s2", "suit", 10)],
    regions=regions(("a", ""), ("b", "")),
    demand=[{"region": r, "family": "suit", "quantity": 15} for r in "ab"],
)


def test_cost():
    """S1 (10) is near A (cost 1) and far from B (5); S2 (10) the other way round. A and B
    need 15 each, weight 1, equity on.

    Plan: each source serves its near region: 10 and 10 (fair: 66.7% each), cost 20. One more
    unit from S1 to B keeps every fill rate only if S2 sends one more to A: the cost rises by
    5 - 1 + 5 - 1 = 8. Both far routes: cost.
    """
    inst = instance(**CROSS, routes=[("s1", "a", 1), ("s1", "b", 5), ("s2", "b", 1), ("s2", "a", 5)])
    model, sol, marginal, accounts = solved(inst)
    assert (sol.weighted_shortfall, sol.route_cost) == (10, 20)
    not_sent = accounts[accounts["line"] == "not_sent"]
    assert not_sent[["source", "region", "why", "reason"]].values.tolist() == [
        ["s1", "b", "cost", ""],
        ["s2", "a", "cost", ""],
    ]
    assert_reasons_are_true(inst, model, sol, accounts)


def test_tie():
    """As ``test_cost`` with every route at cost 1, and the plan "each source to its near
    region" given by hand: sending one more unit far (and the other source one more to the
    first's region) changes no fill rate and costs 1 - 1 + 1 - 1 = 0: a tie."""
    inst = instance(**CROSS, routes=[("s1", "a", 1), ("s1", "b", 1), ("s2", "b", 1), ("s2", "a", 1)])
    model, sol, marginal, accounts = solved(inst, x=lambda m: plan_by_hand(m, {("s1", "a"): 10, ("s2", "b"): 10}))
    not_sent = accounts[accounts["line"] == "not_sent"]
    assert not_sent[["source", "region", "why"]].values.tolist() == [["s1", "b", "tie"], ["s2", "a", "tie"]]
    assert_reasons_are_true(inst, model, sol, accounts)


def test_icu_rule_and_all_served():
    """S has 8 ICU-grade suits and 10 masks; A needs 5 ICU suits (weight 4), 5 general suits
    (weight 1) and 4 masks. ICU-grade suits are kept for ICU use.

    Plan: 5 ICU-grade suits to ICU use (3 left: the policy keeps them from general use, which
    is short); 4 masks (6 left: all mask demand is met). One more ICU-grade suit is worth 0
    anywhere; one more general-grade suit at A is worth 1 (general use is short); a mask, 0.
    With ICU-grade suits allowed for general use, the 3 go there and one more is worth 1.
    """
    products = [
        {"product": "gb", "family": "suit", "grade": "icu"},
        {"product": "em", "family": "suit", "grade": "general"},
        {"product": "mask", "family": "mask", "grade": "general"},
    ]
    inst = instance(
        products=products,
        sources=src(("s", "a")),
        supply=[("s", "gb", 8), ("s", "mask", 10)],
        regions=regions(("a", "")),
        demand=[
            {"region": "a", "family": "suit", "use": "icu", "quantity": 5},
            {"region": "a", "family": "suit", "use": "general", "quantity": 5},
            {"region": "a", "family": "mask", "use": "general", "quantity": 4},
        ],
        routes=[("s", "a", 1)],
    )
    model, sol, marginal, accounts = solved(inst)
    assert value(marginal, "source", "s", "gb")["value"] == 0
    assert value(marginal, "source", "s", "mask")["value"] == 0
    assert [value(marginal, "region", "a", p)["value"] for p in ("gb", "em", "mask")] == [0, 1, 0]
    total = accounts[accounts["line"] == "total"].set_index("product")
    assert total.loc["gb", "why"] == "icu_rule"
    assert total.loc["gb", "reason"] == (
        "3 of 8 units left: ICU-grade units are kept for ICU use (policy "
        "icu_grade_for_general off) and no ICU demand is short; general demand "
        "is: A general (w 1)"
    )
    assert (total.loc["mask", "why"], total.loc["mask", "reason"]) == (
        "all_served",
        "6 of 10 units left: all demand the product may serve is met",
    )
    allowed = inst.with_policy(inst.policy.with_overrides({"icu_grade_for_general": True}))
    _, _, marginal, accounts = solved(allowed)
    assert value(marginal, "source", "s", "gb")["value"] == 1
    assert value(marginal, "region", "a", "gb")["value"] == 1  # now it may serve general use, which is short
    assert accounts.set_index(["line", "product"]).loc[("total", "gb"), "why"] == "all_shipped"


def test_value_by_replanning():
    """S (10) reaches A (level one: weight 8, needs 4) and B (weight 1, needs 10), cost 1 each.

    Plan: 4 to A, 6 to B (short 4). A is met, yet a unit arriving at A is worth 1: it frees one
    of S's units for B. Checked against a solve with that unit."""
    inst = level_one_and_other(need=(4, 10), cost=(1, 1))
    _, sol, marginal, _ = solved(inst)
    a = value(marginal, "region", "a")
    assert (a["value"], a["to_region"], a["detail"]) == (
        1,
        "b",
        "one more unit frees another for B general (w 1) (re-planned)",
    )
    assert sol.weighted_shortfall - shortfall(with_unit_at(inst, "a", "suit")) == 1


def test_suits_2020_02_05():
    """The bundled day: one more suit at any source is worth Hubei's weight (ICU-grade 320,
    general-grade 80); every route elsewhere is left out for Hubei, of higher weight."""
    inst = allocator.load("instances/suits-2020-02-05")
    res = allocator.solve(inst)
    m, a = res.marginal, res.accounts
    sources = m[m["kind"] == "source"].set_index("source")
    assert set(sources.loc[sources["product"] == "gb_suit", "value"]) == {320}
    assert set(sources.loc[sources["product"] == "emergency_suit", "value"]) == {80}
    assert (a.loc[a["line"] == "not_sent", "why"] == "higher_weight").all()
    assert (a.loc[a["line"] == "total", "why"] == "all_shipped").all()
    assert a.loc[a["line"] == "sent", "quantity"].sum() == res.plan.dispatch["quantity"].sum()


# --- independent checks on random instances -----------------------------------------------

SEEDS = [1, 2, 3, 5, 8]


@pytest.mark.parametrize("seed", SEEDS)
def test_source_values_are_finite_differences(seed):
    """For every (source, product): W*(supply) - W*(supply + 1) is the reported value, exactly."""
    inst = random_instance(seed)
    _, sol, marginal, _ = solved(inst)
    base = shortfall(inst)
    assert base == pytest.approx(sol.weighted_shortfall, abs=1e-9)
    for row in marginal[marginal["kind"] == "source"].itertuples():
        more = apply_changes(inst, [f"supply:{row.source}:{row.product}+=1"]).instance
        assert base - shortfall(more) == row.value, (row.source, row.product, row.detail)


@pytest.mark.parametrize("seed", SEEDS)
def test_region_values_are_finite_differences(seed):
    """For every (region, product): one more unit available there (a new source in the region
    with one unit and a route to it alone) lowers W* by the reported value, exactly."""
    inst = random_instance(seed, icu_for_general=seed % 2 == 1)
    _, _, marginal, _ = solved(inst)
    base = shortfall(inst)
    for row in marginal[marginal["kind"] == "region"].itertuples():
        assert base - shortfall(with_unit_at(inst, row.region, row.product)) == row.value, (
            row.region,
            row.product,
            row.detail,
        )


@pytest.mark.parametrize("seed", SEEDS + [13, 21])
def test_reasons_are_true(seed):
    """Every not_sent reason against LPs that force one more unit on the route."""
    inst = random_instance(seed, n_sources=5, n_regions=6)
    model, sol, _, accounts = solved(inst)
    assert_reasons_are_true(inst, model, sol, accounts)
    checked = accounts.loc[accounts["line"] == "not_sent", "why"]
    assert checked.isin(["capacity", "higher_weight", "fair_share", "cost", "tie"]).all()


def test_reasons_are_true_without_equity():
    for seed in (4, 6):
        inst = random_instance(seed, equity=False)
        model, sol, _, accounts = solved(inst)
        assert "fair_share" not in set(accounts["why"])
        assert_reasons_are_true(inst, model, sol, accounts)


@pytest.mark.parametrize("equity", [True, False])
def test_reasons_are_true_at_equal_weight(equity):
    """Equal weights and costs of 1 to 3: the fair-share, cost and tie lines, each checked."""
    seen = set()
    for seed in range(8 if equity else 4):
        inst = equal_weight_instance(seed, equity=equity)
        model, sol, _, accounts = solved(inst)
        seen |= assert_reasons_are_true(inst, model, sol, accounts)
    assert seen == ({"capacity", "fair_share", "cost", "tie"} if equity else {"capacity", "cost", "tie"})


@pytest.mark.parametrize("seed", [3])
def test_with_substitutes(seed):
    """General suits may stand in for masks and masks for general suits (``substitutes.csv``; the
    cost stage charges them): every value and reason holds on that network too."""
    t = tables(random_instance(seed))
    t["substitutes"] = pd.DataFrame(
        [
            {"product": "em", "family": "mask", "use": "general", "preference": 1},
            {"product": "mask", "family": "suit", "use": "general", "preference": 2},
        ]
    )
    inst = allocator.from_frames(**t, policy=Policy().with_overrides({"substitution.cost": 5}))
    model, sol, marginal, accounts = solved(inst)
    assert (model.serve["preference"] > 0).any()
    assert_reasons_are_true(inst, model, sol, accounts)
    base = shortfall(inst)
    for row in marginal.itertuples():
        more = (
            apply_changes(inst, [f"supply:{row.source}:{row.product}+=1"]).instance
            if row.kind == "source"
            else with_unit_at(inst, row.region, row.product)
        )
        assert base - shortfall(more) == row.value, row


def test_stopped_after_stage_one():
    """With only the least weighted shortfall settled (a time limit stopped the later stages),
    equal-weight lines are not_settled; the stage-1 reasons and the values stand."""
    inst = equal_weight_instance(3)
    model = build(inst)
    sol = solve_model(model, equity=True, instance=inst)
    done = value_tables(inst, model, sol.x, fair_box=(sol.fair_lo, sol.fair_hi))
    stopped = value_tables(inst, model, sol.x, stages=1)
    pd.testing.assert_frame_equal(done[0], stopped[0])
    before, after = done[1]["why"], stopped[1]["why"]
    settled = before.isin(["fair_share", "cost", "tie"])
    assert settled.any() and (after[settled] == "not_settled").all() and (after[~settled] == before[~settled]).all()


def test_sent_lines_add_up():
    """Sent lines give each row what it was delivered and each source what it shipped."""
    for seed in SEEDS:
        inst = random_instance(seed)
        res = allocator.solve(inst)
        sent = res.accounts[res.accounts["line"] == "sent"]
        got = sent.groupby(["region", "use"])["quantity"].sum()
        fill = res.plan.fill.groupby(["region", "use"])["delivered"].sum()
        assert got.reindex(fill.index, fill_value=0).tolist() == fill.tolist()
        shipped = sent.groupby(["source", "product"])["quantity"].sum()
        total = res.accounts[res.accounts["line"] == "total"].set_index(["source", "product"])["quantity"]
        assert shipped.reindex(total.index, fill_value=0).tolist() == total.tolist()
        assert set(res.accounts["why"]) <= set(ACCOUNT_CODES)


def test_same_plan_same_tables():
    inst = random_instance(7)
    a, b = allocator.solve(inst), allocator.solve(inst)
    pd.testing.assert_frame_equal(a.marginal, b.marginal)
    pd.testing.assert_frame_equal(a.accounts, b.accounts)


def test_explain_off():
    res = allocator.solve(random_instance(7), explain=False)
    assert res.marginal is None and res.accounts is None


# --- the graph searches against networkx --------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_strong_components_match_networkx(seed):
    rng = np.random.default_rng(seed)
    n = 60
    m = int(rng.integers(40, 160))
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    mask = rng.random(m) < 0.9
    label = _strong_components(_Graph(n, tail, head), mask)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(zip(tail[mask].tolist(), head[mask].tolist()))
    for comp in nx.strongly_connected_components(g):
        comp = sorted(comp)
        assert len(set(label[comp])) == 1
    assert len(set(label.tolist())) == nx.number_strongly_connected_components(g)


@pytest.mark.parametrize("seed", range(6))
def test_potentials_make_every_reduced_cost_nonnegative(seed):
    """On random graphs without negative cycles (costs from node prices, plus a non-negative
    part, with some arcs paired with their reverse at the opposite cost)."""
    rng = np.random.default_rng(seed)
    n, m = 40, 120
    price = rng.integers(-50, 50, n)
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    cost = price[head] - price[tail] + rng.integers(0, 3, m) * (rng.random(m) < 0.5)
    tight = np.flatnonzero(cost == price[head] - price[tail])[:30]
    tail, head = np.r_[tail, head[tight]], np.r_[head, tail[tight]]  # reverse arcs at the opposite cost
    cost = np.r_[cost, -cost[tight]]
    mate = np.full(len(tail), -1)
    mate[tight], mate[m + np.arange(len(tight))] = m + np.arange(len(tight)), tight
    mask = np.ones(len(tail), dtype=bool)
    phi = _potentials(_Graph(n, tail, head), mask, cost, mate)
    assert phi is not None and (cost + phi[tail] - phi[head] >= 0).all()
    # Two arcs u -> v -> u costing -1 together: a negative cycle.
    u, v = 0, 1
    tail, head = np.r_[tail, u, v], np.r_[head, v, u]
    cost, mate = np.r_[cost, price[v] - price[u], price[u] - price[v] - 1], np.r_[mate, -1, -1]
    assert _potentials(_Graph(n, tail, head), np.ones(len(tail), dtype=bool), cost, mate) is None


# --- helpers ------------------------------------------------------------------------------


def equal_weight_instance(seed, n_sources=5, n_regions=6, equity=True):
    """Equal weights everywhere, route costs of 1 to 3 (ties), a few capacities: choices
    between rows of equal weight, made by the fair shares, by cost, or by neither."""
    rng = np.random.default_rng(seed)
    products = [{"product": "em", "family": "suit", "grade": "general"}]
    sources = [{"source": f"s{s}", "name": f"S{s}", "region": f"r{rng.integers(n_regions)}"} for s in range(n_sources)]
    supply = [(f"s{s}", "em", int(rng.integers(5, 30))) for s in range(n_sources)]
    demand = [{"region": f"r{r}", "family": "suit", "quantity": int(rng.integers(5, 40))} for r in range(n_regions)]
    routes = [
        {
            "source": f"s{s}",
            "region": f"r{r}",
            "cost": int(rng.integers(1, 4)),
            "capacity": int(rng.integers(2, 15)) if rng.random() < 0.15 else None,
        }
        for s in range(n_sources)
        for r in range(n_regions)
        if rng.random() < 0.6
    ]
    return instance(
        policy=Policy().with_overrides({"equity": equity}),
        products=products,
        sources=sources,
        supply=supply,
        regions=regions(*((f"r{r}", "") for r in range(n_regions))),
        demand=demand,
        routes=routes,
    )


def shortfall(inst) -> float:
    return float(allocator.solve(inst, check=False, explain=False).objective["weighted_shortfall"])


def tables(inst) -> dict:
    out = {}
    for t in TABLES:
        frame = getattr(inst, t)
        out[t] = None if frame is None else frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    return out


def with_unit_at(inst, region, product):
    """The instance with a new source in ``region`` holding one unit of ``product``, its only
    route to ``region`` (cost 0)."""
    t = tables(inst)

    def add(table, **values):
        frame = t[table]
        row = dict.fromkeys(frame.columns, None)
        row.update(values)
        t[table] = pd.DataFrame(frame.to_dict("records") + [row], columns=frame.columns)

    add("sources", source="zz_new", name="New", region=region)
    add("supply", source="zz_new", product=product, quantity=1)
    add("routes", source="zz_new", region=region, product=product, cost=0)
    return allocator.from_frames(**t, policy=inst.policy)


def plan_by_hand(model, ships: dict) -> np.ndarray:
    """A plan's columns from shipments {(source, region): units}, each hub serving its one row."""
    x = np.zeros(model.n_cols)
    for k, (s, r) in enumerate(zip(model.ship["source"], model.ship["region"])):
        x[k] = ships.get((s, r), 0)
    delivered = model.ship.assign(q=x[: model.n_ship]).groupby("region")["q"].sum()
    for j, (r, _d) in enumerate(zip(model.serve["region"], model.serve["demand_idx"])):
        x[model.n_ship + j] = delivered.get(r, 0)
    served = model.serve.assign(q=x[model.n_ship : model.n_ship + model.n_serve]).groupby("demand_idx")["q"].sum()
    quantity = model.demand["quantity"].to_numpy(float)
    x[model.n_ship + model.n_serve :] = quantity - served.reindex(range(len(quantity)), fill_value=0).to_numpy()
    return x


def lp_min(model, cost, lower, upper=None, rows=()):
    """min ``cost @ x`` over the model's polytope with column bounds ``lower`` and ``upper``
    (default the model's) and extra rows (coefficients, lo, hi); None if infeasible."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = model.n_cols, len(model.row_lower)

    def clip(a):
        return np.clip(np.asarray(a, dtype=float), -inf, inf)

    lp.col_cost_, lp.col_lower_ = clip(cost), clip(lower)
    lp.col_upper_ = clip(model.col_upper if upper is None else upper)
    lp.row_lower_, lp.row_upper_ = clip(model.row_lower), clip(model.row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(model.start, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(model.index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(model.value, dtype=float)
    h.passModel(lp)
    for coef, lo, hi in rows:
        idx = np.flatnonzero(coef)
        h.addRow(float(lo), float(hi), len(idx), idx.astype(np.int32), coef[idx].astype(float))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(h.getInfo().objective_function_value)


def assert_reasons_are_true(inst, model, sol, accounts):
    """Each not_sent line, forced: one more unit on its route (a lower bound on the column).

    - capacity: the route carries its capacity.
    - higher_weight: the least weighted shortfall rises, and every row served at a hub the
      source ships to (the rows the reason names come from these) outweighs the line's row.
    - fair_share: the least weighted shortfall holds, but not with every row in its fair box.
    - cost / tie: both hold, and the least cost is higher / the same.
    The unforced LPs give the plan's own figures (the plan is optimal)."""
    x = sol.x
    short = model.short_cols
    weight = np.zeros(model.n_cols)
    weight[short] = model.demand["weight"].to_numpy(float)
    cost = model.cost_vector("plan")
    w_star, c_star = float(weight @ x), float(cost @ x)
    quantity = model.demand["quantity"].to_numpy(float)
    held = [(weight, -np.inf, w_star)]  # the least weighted shortfall held
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    if inst.policy.equity:  # every row's delivery in its fair box
        lower[short] = np.maximum(lower[short], quantity - sol.fair_hi)
        upper[short] = np.minimum(upper[short], quantity - sol.fair_lo)
    assert lp_min(model, weight, model.col_lower) == pytest.approx(w_star, abs=1e-6)
    assert lp_min(model, cost, lower, upper, held) == pytest.approx(c_star, abs=1e-6)
    ship = model.ship.reset_index(drop=True)
    key = pd.Series(np.arange(len(ship)), index=pd.MultiIndex.from_frame(ship[["source", "region", "product"]]))
    hub_rows = x[model.n_ship : model.n_ship + model.n_serve] > 0
    served = model.serve.loc[hub_rows, ["region", "product", "demand_idx"]]
    dem_weight = model.demand["weight"].to_numpy(float)
    seen = set()
    for line in accounts[accounts["line"] == "not_sent"].itertuples():
        k = int(key[(line.source, line.region, line.product)])
        seen.add(line.why)
        if line.why == "capacity":
            assert x[k] == model.col_upper[k]
            continue
        assert x[k] == 0
        forced = model.col_lower.copy()
        forced[k] = 1.0
        w = lp_min(model, weight, forced)
        if line.why == "higher_weight":
            assert w is None or w > w_star + 1e-6, line
            hubs = ship.loc[x[: model.n_ship] > 0].query("source == @line.source and product == @line.product")
            mine = served.merge(hubs[["region", "product"]], on=["region", "product"])
            assert len(mine) and (dem_weight[mine["demand_idx"]] > line.weight).all(), line
            continue
        assert w == pytest.approx(w_star, abs=1e-6), line
        forced[short] = lower[short]
        c = lp_min(model, cost, forced, upper, held)
        if line.why == "fair_share":
            assert c is None, line
        elif line.why == "cost":
            assert c is not None and c > c_star + 1e-6, line
        else:
            assert line.why == "tie" and c == pytest.approx(c_star, abs=1e-6), line
    return seen
