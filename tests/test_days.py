"""Multi-day plans and replays (issue #6): hand cases, invariants, replay = daily solves, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import allocator
from allocator.cli.main import main
from allocator.inputs.policy import policy_from_dict
from allocator.pipeline.days import plan
from allocator.pipeline.replay import replay
from allocator.verification.days import check_days

D = ["2020-02-01", "2020-02-02", "2020-02-03"]


def _inst(*, supply, demand, products=None, regions=None, routes=None, stock=None, transfers=None, policy=None):
    products = products or [{"product": "suit", "family": "suit", "grade": "general"}]
    regions = regions or [{"region": "a", "name": "A"}, {"region": "b", "name": "B"}]
    sources = [{"source": "m", "name": "maker", "region": "a"}]
    routes = routes or [
        {"source": "m", "region": r["region"], "cost": 1 + k, "transit_days": 0} for k, r in enumerate(regions)
    ]
    frames = {
        k: pd.DataFrame(v).astype(str) if v is not None else None
        for k, v in dict(
            products=products,
            sources=sources,
            supply=supply,
            regions=regions,
            demand=demand,
            routes=routes,
            stock=stock,
            transfers=transfers,
        ).items()
    }
    return allocator.from_frames(**frames, policy=policy_from_dict(policy or {}, "test"))


def _balanced(res) -> None:
    st = res.plan.stock
    assert np.allclose(st["opening"] + st["arrived"] - st["sent"] - st["used"] - st["lost"], st["closing"])
    assert check_days(res.instance, res) == []


def test_one_day_plan_equals_the_daily_solve_on_the_bundled_instance():
    inst = allocator.load("instances/suits-2020-02-05")
    res, daily = plan(inst, horizon=1), allocator.solve(inst)
    assert res.solution.weighted_shortfall == daily.objective["weighted_shortfall"]
    assert res.solution.route_cost == daily.objective["route_cost"]
    a = res.plan.fill.set_index(["region", "family", "use"])["delivered"].sort_index()
    b = daily.plan.fill.set_index(["region", "family", "use"])["delivered"].sort_index()
    assert (a == b).all()
    _balanced(res)


def test_lead_time_holds_output_back_and_stock_carries_over():
    # 10 made on each day with a 2-day lead: nothing usable before day 3 (2020-02-03).
    supply = [{"source": "m", "product": "suit", "quantity": 10, "day": d, "lead_days": 2} for d in D]
    demand = [{"region": "a", "family": "suit", "quantity": 4, "day": d} for d in D]
    res = plan(_inst(supply=supply, demand=demand), horizon=3)
    f = res.plan.fill.set_index("day")["delivered"]
    assert list(f) == [0, 0, 4]
    assert res.plan.shipments["day"].min() == "2020-02-03"
    # Weighted shortfall by hand: 4 short on day 1 (x1.002) and day 2 (x1.001).
    assert res.solution.weighted_shortfall == pytest.approx(4 * 1.002 + 4 * 1.001)
    # The 6 left over on day 3 stay at the source.
    st = res.plan.stock.set_index(["day", "holder"])
    assert st.loc[("2020-02-03", "source"), "closing"] == 6
    _balanced(res)


def test_durable_units_stay_in_service_and_attrition_takes_its_share():
    products = [{"product": "vent", "family": "vent", "grade": "general", "durable": "true", "attrition": "0.1"}]
    supply = [{"source": "m", "product": "vent", "quantity": 1000, "day": D[0]}]
    demand = [{"region": "a", "family": "vent", "quantity": 1000, "day": d} for d in D[:2]]
    res = plan(_inst(products=products, supply=supply, demand=demand, regions=[{"region": "a", "name": "A"}]))
    fill = res.plan.fill.set_index("day")["delivered"]
    assert list(fill) == [1000, 900]  # 1,000 units meet both days' need, less 10% lost overnight
    assert res.plan.shipments["quantity"].sum() == 1000
    assert res.plan.stock["lost"].sum() == 100
    _balanced(res)


def test_exports_rank_below_all_domestic_demand():
    regions = [{"region": "a", "name": "A"}, {"region": "x", "name": "Export", "flags": "export"}]
    supply = [{"source": "m", "product": "suit", "quantity": 5, "day": d} for d in D]
    demand = [{"region": "a", "family": "suit", "quantity": 4, "day": d} for d in D] + [
        {"region": "x", "family": "suit", "quantity": 100, "day": d} for d in D
    ]
    res = plan(_inst(supply=supply, demand=demand, regions=regions))
    f = res.plan.fill
    assert (f.loc[f["region"] == "a", "shortfall"] == 0).all()
    assert f.loc[f["region"] == "x", "delivered"].sum() == 3  # only what domestic demand left
    _balanced(res)


def test_transfers_let_a_region_send_its_stock_on():
    supply = [{"source": "m", "product": "suit", "quantity": 0, "day": D[0]}]
    demand = [{"region": "b", "family": "suit", "quantity": 7, "day": D[0]}]
    stock = [{"region": "a", "product": "suit", "quantity": 5}]
    transfers = [{"from_region": "a", "to_region": "b", "cost": 1, "transit_days": 0}]
    without = plan(_inst(supply=supply, demand=demand, stock=stock))
    assert without.plan.fill["delivered"].sum() == 0
    res = plan(_inst(supply=supply, demand=demand, stock=stock, transfers=transfers))
    assert res.plan.fill["delivered"].sum() == 5
    assert res.plan.transfers["quantity"].sum() == 5
    _balanced(res)


def test_backlog_carries_unmet_demand_and_the_earlier_need_goes_first():
    supply = [{"source": "m", "product": "suit", "quantity": q, "day": d} for q, d in zip([2, 10, 0], D)]
    demand = [{"region": "a", "family": "suit", "quantity": 5, "day": d} for d in D]
    res = plan(_inst(supply=supply, demand=demand, policy={"unmet": "backlog"}))
    f = res.plan.fill.set_index("day")
    assert list(f["backlog_in"]) == [0, 3, 0]
    assert list(f["delivered"]) == [2, 8, 2]  # day 2: its own 5 and yesterday's 3; day 3: the 2 left
    assert list(f["carried"]) == [3, 0, 3]
    _balanced(res)


@pytest.mark.parametrize("unmet", ["lost", "backlog"])
def test_replay_with_a_one_day_horizon_equals_a_sequence_of_daily_solves(unmet):
    rng = np.random.default_rng(7)
    supply = [{"source": "m", "product": "suit", "quantity": int(rng.integers(0, 12)), "day": d} for d in D]
    demand = [
        {"region": r, "family": "suit", "quantity": int(rng.integers(1, 9)), "day": d} for d in D for r in ("a", "b")
    ]
    inst = _inst(supply=supply, demand=demand, policy={"unmet": unmet})
    rp = replay(inst, horizon=1)
    left, backlog = 0, {"a": 0, "b": 0}
    for k, d in enumerate(D):
        sup = [{"source": "m", "product": "suit", "quantity": supply[k]["quantity"] + left}]
        dem = [
            {"region": x["region"], "family": "suit", "quantity": x["quantity"] + backlog[x["region"]]}
            for x in demand
            if x["day"] == d
        ]
        daily = allocator.solve(_inst(supply=sup, demand=dem))
        got = rp.fill.loc[rp.fill["day"] == d].set_index("region")["delivered"]
        want = daily.plan.fill.set_index("region")["delivered"]
        assert got.sort_index().tolist() == want.sort_index().tolist(), d
        left = sup[0]["quantity"] - int(want.sum())
        if unmet == "backlog":
            backlog = daily.plan.fill.set_index("region")["shortfall"].astype(int).to_dict()


def test_replay_horizon_sees_every_shipment_arrive(capsys):
    """A morning's plan counts a shipment only if it arrives inside the horizon: with one day,
    the bundled replay never ships on its 603 routes of 1-2 days' transit, and Hubei (tier 1,
    reached only by them) gets nothing. The default horizon is 1 + the longest transit (3 here),
    and a shorter one is warned about."""
    from allocator.pipeline.replay import horizon_warning, shortest_horizon

    inst = allocator.load("instances/suits-2020-replay")
    assert shortest_horizon(inst) == 3
    assert horizon_warning(inst, 3) is None
    assert "603 route(s) in routes.csv" in horizon_warning(inst, 1)
    days = dict(start="2020-02-05", end="2020-02-07")
    default = replay(inst, **days)
    one = replay(inst, horizon=1, **days)
    assert default.horizon == 3 and not default.warnings
    hubei = default.fill.loc[default.fill["region"] == "hubei", "delivered"].sum()
    assert hubei > 0 and one.fill.loc[one.fill["region"] == "hubei", "delivered"].sum() == 0
    assert one.warnings and _tier_fill(one.summary(), 1) == 0.0
    assert _tier_fill(default.summary(), 1) > 0.3
    assert (
        main(
            ["replay", "instances/suits-2020-replay", "--horizon", "1", "--start", "2020-02-05", "--end", "2020-02-05"]
        )
        == 0
    )
    assert "warning: horizon 1 day(s): 603 route(s)" in capsys.readouterr().err


def test_same_instance_same_replay_files_byte_for_byte(tmp_path):
    args = ["replay", "instances/suits-2020-replay", "--horizon", "3", "--end", "2020-01-25", "--no-chart"]
    assert main([*args, "-o", str(tmp_path / "one")]) == 0
    assert main([*args, "-o", str(tmp_path / "two")]) == 0
    for name in ("fill.csv", "shipments.csv", "stock.csv", "summary.json"):
        a, b = (tmp_path / "one" / name).read_bytes(), (tmp_path / "two" / name).read_bytes()
        if name == "summary.json":  # holds the wall-clock time
            a, b = (x.split(b'"timings_s"')[0] for x in (a, b))
        assert a == b, name


def test_cli_plan_replay_and_their_errors(tmp_path, capsys):
    assert main(["plan", "instances/ventilators-2020-replay", "--horizon", "3", "-o", str(tmp_path / "p")]) == 0
    # The files hold the plan the library makes, and it balances.
    res = plan(allocator.load("instances/ventilators-2020-replay"), horizon=3)
    fill = pd.read_csv(tmp_path / "p" / "fill.csv")
    assert fill["delivered"].tolist() == res.plan.fill["delivered"].tolist()
    stock = pd.read_csv(tmp_path / "p" / "stock.csv")
    assert np.allclose(
        stock["opening"] + stock["arrived"] - stock["sent"] - stock["used"] - stock["lost"], stock["closing"]
    )
    capsys.readouterr()
    assert main(["replay", "instances/suits-2020-02-05"]) == 2  # not dated
    assert "dated" in capsys.readouterr().err
    assert main(["solve", "instances/suits-2020-replay"]) == 2
    assert "allocator plan" in capsys.readouterr().err
    assert main(["plan", "instances/suits-2020-replay", "--start", "2020-13-01"]) == 2
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err
    assert main(["bench", "--replay", "instances/suits-2020-02-05"]) == 2
    assert "dated instance" in capsys.readouterr().err


def test_bad_multi_day_input_names_file_row_and_column(tmp_path):
    with pytest.raises(allocator.InstanceError) as err:
        _inst(
            products=[{"product": "suit", "family": "suit", "grade": "general", "lead_days": "1.5", "attrition": "1"}],
            supply=[{"source": "m", "product": "suit", "quantity": 1, "day": "2020-02-30"}],
            demand=[
                {"region": "a", "family": "suit", "quantity": 1, "day": D[0]},
                {"region": "a", "family": "suit", "quantity": 1, "day": ""},
            ],
            stock=[{"source": "m", "region": "a", "product": "suit", "quantity": 1}],
            transfers=[{"from_region": "a", "to_region": "a", "cost": 1}],
        )
    text = str(err.value)
    for expected in (
        "products.csv, row 2, column 'lead_days'",
        "products.csv, row 2, column 'attrition'",
        "supply.csv, row 2, column 'day'",
        "demand.csv, row 3, column 'day'",
        "stock.csv, row 2, column 'source'",
        "transfers.csv, row 2, column 'to_region'",
    ):
        assert expected in text, expected


def _tier_fill(summary: dict, tier: int) -> float:
    return next(r["fill_rate"] for r in summary["by_tier"] if r["tier"] == tier)
