"""A reason for every shortfall of a multi-day plan, day by day (``explain.days.day_reasons``).

Hand-made instances where one cause is the true one, each planned over several horizons: a
route longer than the window, output ready after it, a region outranked by a higher-weight one,
two equal regions sharing, ICU-grade units only, a floor holding stock, a full route, a transfer,
backlog and durable units. Then the bundled plans (every short row has a reason), the text the
CLI prints, the files it writes, and the bookkeeping behind the words (every reachable unit is
accounted for).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from test_multiday import CASES, SUIT, build, day, dem, random_case, reg, route, src, sup

import allocator
from allocator.explain.days import _Network, _Why, day_reasons
from allocator.pipeline.days import plan
from allocator.pipeline.replay import replay

SUITS = "instances/suits-2020-replay"
VENTS = "instances/ventilators-2020-replay"
GB = [{"product": "gb", "family": "suit", "grade": "icu"}]
VENT = [{"product": "vent", "family": "vent", "grade": "general", "durable": True, "attrition": 0.1}]


def reason_of(res, region, t, family="suit", use="general") -> str:
    f = res.plan.fill
    row = f[(f["region"] == region) & (f["day"] == day(t)) & (f["family"] == family) & (f["use"] == use)]
    assert len(row) == 1, (region, t, family, use)
    return row["reason"].iloc[0]


def _every_short_row_has_a_reason(fill: pd.DataFrame) -> None:
    short = fill["shortfall"] > 1e-9
    assert (fill.loc[short, "reason"].str.len() > 0).all()
    assert (fill.loc[~short, "reason"] == "").all()


# --------------------------------------------------------------------------------------------
# No supply or stock can reach the row by its day


def _long_route():
    """20 made a day at S; A is reached at once, B only by a 2-day route."""
    return build(
        SUIT,
        [src("s")],
        [sup("s", "suit", 20)],
        [reg("a"), reg("b")],
        [dem(r, q, t) for t in range(3) for r, q in (("a", 2), ("b", 5))],
        [route("s", "a", 1), route("s", "b", 1, transit=2)],
    )


@pytest.mark.parametrize("horizon", [1, 2])
def test_a_route_longer_than_the_horizon(horizon):
    res = plan(_long_route(), horizon=horizon)
    days = "day" if horizon == 1 else "days"
    for t in range(horizon):
        assert reason_of(res, "b", t) == (
            f"no supply or stock of suit can reach B by {day(t)}: routes arrive after the last day planned "
            f"(horizon {horizon} {days})"
        )
        assert reason_of(res, "a", t) == ""
    _every_short_row_has_a_reason(res.plan.fill)


def test_the_same_route_inside_a_longer_horizon():
    res = plan(_long_route(), horizon=3)
    for t in range(2):
        assert (
            reason_of(res, "b", t) == f"no supply or stock of suit can reach B by {day(t)}: first arrivals on {day(2)}"
        )
    assert reason_of(res, "b", 2) == ""  # served on the day the route arrives
    assert res.plan.fill["shortfall"].iloc[-1] == 0


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_output_ready_after_the_horizon(horizon):
    """10 made on day 0 with a lead time of 2 days: ready on day 2."""
    inst = build(
        SUIT,
        [src("s")],
        [sup("s", "suit", 10, 0, lead=2)],
        [reg("a")],
        [dem("a", 4, t) for t in range(3)],
        [route("s", "a", 1)],
    )
    res = plan(inst, horizon=horizon)
    days = "day" if horizon == 1 else "days"
    for t in range(min(horizon, 2)):
        want = (
            f"first arrivals on {day(2)}"
            if horizon == 3
            else f"its supply is ready only after the last day planned (horizon {horizon} {days})"
        )
        assert reason_of(res, "a", t) == f"no supply or stock of suit can reach A by {day(t)}: {want}"
    if horizon == 3:
        assert reason_of(res, "a", 2) == ""


@pytest.mark.parametrize("horizon", [1, 2])
def test_no_route_and_nothing_made(horizon):
    products = SUIT + [{"product": "mask", "family": "mask", "grade": "general"}]
    inst = build(
        products,
        [src("s")],
        [sup("s", "suit", 10)],
        [reg("a"), reg("b")],
        [dem(r, 4, t) for t in range(horizon) for r in "ab"] + [dem("a", 3, t, family="mask") for t in range(horizon)],
        [route("s", "a", 1)],
    )
    res = plan(inst, horizon=horizon)
    for t in range(horizon):
        assert reason_of(res, "b", t) == (
            f"no supply or stock of suit can reach B by {day(t)}: no route or transfer leads there from where it is "
            "made or stocked"
        )
        assert reason_of(res, "a", t, family="mask") == (
            f"no supply or stock of mask can reach A by {day(t)}: none is made or stocked"
        )
        assert reason_of(res, "a", t) == ""


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_a_transfer_with_transit_time(horizon):
    """A holds 8; B, which needs 5 a day, is reached only by a transfer of 1 day from A."""
    inst = build(
        SUIT,
        [src("s")],
        [sup("s", "suit", 0, 0)],
        [reg("a"), reg("b")],
        [dem("b", 5, t) for t in range(3)],
        [route("s", "a", 1)],
        stock=[{"source": "", "region": "a", "product": "suit", "quantity": 8, "day": ""}],
        transfers=[{"from_region": "a", "to_region": "b", "product": "", "cost": 1, "transit_days": 1}],
    )
    res = plan(inst, horizon=horizon)
    want = f"first arrivals on {day(1)}" if horizon > 1 else "routes arrive after the last day planned (horizon 1 day)"
    assert reason_of(res, "b", 0) == f"no supply or stock of suit can reach B by {day(0)}: {want}"
    if horizon == 3:  # 8 units for 5 + 5: day 1 gets its 5, day 2 the 3 left
        assert reason_of(res, "b", 1) == ""
        assert reason_of(res, "b", 2) == (
            "not enough supply: all 8 reachable units are delivered here or to earlier days' demand, met first "
            f"(time preference): B suit general on {day(1)} (w 1)"
        )
    _every_short_row_has_a_reason(res.plan.fill)


# --------------------------------------------------------------------------------------------
# ICU-grade units only


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_icu_grade_units_only(horizon):
    """Only ICU-grade gowns, 4 a day. A asks for 3 ICU and 3 general a day, B for 2 general (and no
    ICU: the model has no arc for gowns to B, the reason still sees them)."""
    kw = dict(
        products=GB,
        sources=[src("s")],
        supply=[sup("s", "gb", 4)],
        regions=[reg("a"), reg("b")],
        demand=[dem("a", 3, t, use=u) for t in range(3) for u in ("icu", "general")]
        + [dem("b", 2, t) for t in range(3)],
        routes=[route("s", "a", 1), route("s", "b", 1)],
    )
    res = plan(build(**kw), horizon=horizon)
    for t in range(horizon):
        for region, name in (("a", "A"), ("b", "B")):
            assert reason_of(res, region, t) == (
                "ICU-grade units only: the policy keeps them for ICU demand "
                f"(no general-grade suit can reach {name} by {day(t)})"
            )
        assert reason_of(res, "a", t, use="icu") == ""
    # Allowed for general use, the gowns go to ICU demand first (weight 4) and the rest to A and B.
    allowed = plan(build(**kw, policy={"icu_grade_for_general": True}), horizon=horizon)
    for t in range(horizon):
        text = reason_of(allowed, "b", t)
        assert not text.startswith("ICU-grade units only"), text
        assert f"A suit icu on {day(t)} (w 4)" in text


# --------------------------------------------------------------------------------------------
# Outranked, shared, not enough supply


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_a_low_weight_region_names_the_high_weight_one(horizon):
    """10 made a day; H (weight 10) needs 10 a day and gets them all, L (weight 1) needs 5."""
    inst = build(
        SUIT,
        [src("s", "h")],
        [sup("s", "suit", 10)],
        [reg("h", weight=10), reg("l")],
        [dem(r, q, t) for t in range(3) for r, q in (("h", 10), ("l", 5))],
        [route("s", "h", 1), route("s", "l", 1)],
    )
    res = plan(inst, horizon=horizon)
    for t in range(horizon):
        text = reason_of(res, "l", t)
        # Every unit that could reach L by day t (10 a day so far) went to H.
        assert text.startswith(f"outranked: {10 * (t + 1)} reachable units went to higher-weight demand in "), text
        assert f"H suit general on {day(t)} (w 10)" in text
        assert reason_of(res, "h", t) == ""


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_two_equal_regions_share(horizon):
    """A and B (equal weight) need 10 a day each; 10 made a day: 5 each, rationed to equal fill
    rates; on later days, no word of the earlier days' units (each day's need met first)."""
    kw = dict(
        products=SUIT,
        sources=[src("s")],
        supply=[sup("s", "suit", 10)],
        regions=[reg("a"), reg("b")],
        demand=[dem(r, 10, t) for t in range(3) for r in "ab"],
        routes=[route("s", "a", 1), route("s", "b", 2)],
    )
    res = plan(build(**kw), horizon=horizon)
    for t in range(horizon):
        for me, other in (("a", "B"), ("b", "A")):
            assert reason_of(res, me, t) == (
                f"shared with equal-weight demand: 5 reachable units went to {other} suit general on {day(t)} (w 1), "
                "rationed to equal fill rates"
            )
    # With equity off the cheaper route takes all: B's units went to A, and the reason says how.
    off = plan(build(**kw, policy={"equity": "off"}), horizon=horizon)
    text = reason_of(off, "b", 0)
    assert text.startswith("shared with equal-weight demand: 10 reachable units went to A suit general"), text
    assert text.endswith("split by least route cost (equity off)")


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_backlog_outranked_and_not_enough_supply(horizon):
    """3 made a day; A (weight 1) and B (weight 2) need 4 a day, unmet demand carried."""
    inst = build(
        SUIT,
        [src("s")],
        [sup("s", "suit", 3)],
        [reg("a"), reg("b", weight=2)],
        [dem(r, 4, t) for t in range(3) for r in "ab"],
        [route("s", "a", 1), route("s", "b", 1)],
        policy={"unmet": "backlog"},
    )
    res = plan(inst, horizon=horizon)
    assert reason_of(res, "b", 0) == "not enough supply: all 3 reachable units are delivered here"
    for t in range(horizon):
        text = reason_of(res, "a", t)
        assert text.startswith(f"outranked: {3 * (t + 1)} reachable units went to higher-weight demand in B suit "), (
            text
        )
        if t:
            assert reason_of(res, "b", t).startswith(
                f"not enough supply: all {3 * (t + 1)} reachable units are delivered here or to earlier days' demand, "
                "met first (its shortfall would carry over): B suit general on "
            )


# --------------------------------------------------------------------------------------------
# Floors and capacities


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_a_floor_holds_stock(horizon):
    """A (weight 0.2, below the floor's 0.5) needs 4 a day and keeps 1 day of it (4) in stock:
    of the 6 made on day 0, 2 serve day 0 and 4 stay for the floor."""
    inst = build(
        SUIT,
        [src("s")],
        [sup("s", "suit", 6, 0)],
        [reg("a", weight=0.2)],
        [dem("a", 4, t) for t in range(3)],
        [route("s", "a", 1)],
        policy={"floor": {"days": 1}},
    )
    res = plan(inst, horizon=horizon)
    assert res.plan.fill["delivered"].tolist() == [2] + [0] * (horizon - 1)
    for t in range(horizon):
        assert reason_of(res, "a", t).startswith(
            "held as stock for a floor: 4 reachable units kept in stock at A (floor 4)"
        )


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_route_capacity_full(horizon):
    """20 made a day, but the route to A carries 3 a day and A needs 5."""
    inst = build(
        SUIT,
        [src("s")],
        [sup("s", "suit", 20)],
        [reg("a")],
        [dem("a", 5, t) for t in range(3)],
        [route("s", "a", 1, capacity=3)],
    )
    res = plan(inst, horizon=horizon)
    for t in range(horizon):
        assert reason_of(res, "a", t) == (
            f"route capacity full from s; {17 * (t + 1)} reachable units left unshipped at source s"
        )


# --------------------------------------------------------------------------------------------
# Durable units


@pytest.mark.parametrize("horizon", [2, 3])
def test_durable_units_on_their_way_to_a_higher_weight_region(horizon):
    """10 ventilators on day 0; B (weight 3) is a day away, A (weight 1) next door; both need 8 in
    service a day. The units sent to B on day 0 are on their way on A's day: they serve B from
    day 1 (its first day in service), and attrition takes its share."""
    inst = build(
        VENT,
        [src("s")],
        [sup("s", "vent", 10, 0)],
        [reg("a"), reg("b", weight=3)],
        [dem(r, 8, t, family="vent") for t in range(3) for r in "ab"],
        [route("s", "a", 1), route("s", "b", 1, transit=1)],
    )
    res = plan(inst, horizon=horizon)
    assert reason_of(res, "b", 0, family="vent") == (
        f"no supply or stock of vent can reach B by {day(0)}: first arrivals on {day(1)}"
    )
    for t in range(horizon):
        text = reason_of(res, "a", t, family="vent")
        assert text.startswith("outranked: "), text
        assert f"B vent general on {day(max(t, 1))} (w 3)" in text
    assert "lost to attrition" in reason_of(res, "a", 1, family="vent")
    _every_short_row_has_a_reason(res.plan.fill)


# --------------------------------------------------------------------------------------------
# Every short row of the bundled plans, the CLI, the files


def test_every_short_row_of_the_bundled_plans_has_a_reason():
    suits = plan(allocator.load(SUITS), start="2020-02-05", horizon=3)
    _every_short_row_has_a_reason(suits.plan.fill)
    # Hubei (tier 1) is reached only by routes of 1-2 days and by no stock on the first day.
    assert reason_of_key(suits, "hubei", "2020-02-05", "protective_suit", "icu") == (
        "no supply or stock of ICU-grade protective_suit can reach Hubei by 2020-02-05: first arrivals on 2020-02-06"
    )
    assert reason_of_key(suits, "hubei", "2020-02-06", "protective_suit", "general").startswith(
        "not enough supply: all "
    )
    assert suits.plan.fill["reason"].str.startswith("outranked: ").sum() > 10
    vents = plan(allocator.load(VENTS), horizon=2)
    _every_short_row_has_a_reason(vents.plan.fill)
    assert (vents.plan.fill["shortfall"] > 0).sum() > 0


def reason_of_key(res, region, label, family, use) -> str:
    f = res.plan.fill
    row = f[(f["region"] == region) & (f["day"] == label) & (f["family"] == family) & (f["use"] == use)]
    assert len(row) == 1
    return row["reason"].iloc[0]


def test_a_replay_keeps_each_mornings_reasons():
    rp = replay(allocator.load(SUITS), start="2020-02-05", end="2020-02-06")
    _every_short_row_has_a_reason(rp.fill)


def test_the_cli_plan_text_and_files_show_reasons(capsys, tmp_path):
    code, out = run_cli(capsys, "plan", SUITS, "--start", "2020-02-05", "--horizon", "3", "-o", str(tmp_path / "p"))
    assert code == 0, out
    assert out.count("largest shortfalls and why") == 3
    assert "no supply or stock of ICU-grade protective_suit can reach Hubei by 2020-02-05" in out
    assert "outranked: " in out
    widest = max(len(line) for line in out.splitlines() if line.startswith("  "))  # the tables
    assert widest <= 200, widest  # reasons are cut at 110 characters, as in the daily report
    assert "…" in out
    fill = pd.read_csv(tmp_path / "p" / "fill.csv", keep_default_na=False)
    short = pd.to_numeric(fill["shortfall"]) > 0
    assert (fill.loc[short, "reason"] != "").all() and (fill.loc[~short, "reason"] == "").all()
    # The folder still verifies (the reason column is text the checks leave alone).
    code, out = run_cli(capsys, "verify", SUITS, str(tmp_path / "p"))
    assert code == 0, out


# --------------------------------------------------------------------------------------------
# The bookkeeping behind the words


@pytest.mark.parametrize(("seed", "kind"), CASES, ids=[f"{s}-{'-'.join(k) or 'plain'}" for s, k in CASES])
def test_every_reachable_unit_is_accounted_for(seed, kind):
    """On the random instances of test_multiday (transfers, chains, floors, durables, backlog):
    the flows balance at every node, each short row's reachable units add up to where they went,
    and every short row has a reason."""
    inst, horizon = random_case(seed, **kind)
    res = plan(inst, horizon=horizon)
    _every_short_row_has_a_reason(res.plan.fill)
    model, x = res.model, res.solution.x
    net = _Network(model, x)
    inflow = np.zeros(net.n)
    moves = (net.e_target >= 0) & (net.e_kind <= 1)
    np.add.at(inflow, net.e_target[moves], net.e_q[moves])
    assert np.allclose(net.input + inflow, net.out_total, atol=1e-6)
    why = _Why(inst, model, net, inst.policy.equity)
    for d in np.flatnonzero(res.plan.fill["shortfall"].to_numpy(float) > 1e-9).tolist():
        inside = why._reach(d)
        total = float(net.input[inside].sum())
        if total <= 1e-9:
            continue
        own, *kinds, lost = why._sorted_fate(d, why._fate(d, inside))
        assert own + sum(sum(k.values()) for k in kinds) + lost == pytest.approx(total, rel=1e-9)
    again = day_reasons(inst, model, x, res.plan.fill.drop(columns="reason"))
    assert again.tolist() == res.plan.fill["reason"].tolist()  # the same words from the same plan
