"""``allocator verify`` on multi-day plan folders (``plan`` and ``replay --output``): ``verify_days``
checks the tables alone against the instance, day by day, naming file and row.

(a) the folders the CLI writes for the bundled multi-day instances verify OK; (b) small hand-made
instances over 1, 2 and 3 days verify OK from their tables; (c) each corruption of a written
folder is caught and named with its file and row (and the rule is absent before it); (d) a day's
folder verifies as before.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli, write_folder

import allocator
from allocator.cli.main import main
from allocator.inputs.policy import policy_from_dict
from allocator.pipeline.days import plan
from allocator.pipeline.replay import replay
from allocator.report.days import write_plan, write_replay
from allocator.report.reader import read_folder
from allocator.verification.days import verify_days

SUITS = "instances/suits-2020-replay"
VENTS = "instances/ventilators-2020-replay"
DAY = "instances/suits-2020-02-05"
D0 = date(2020, 2, 1)
WARNING = "warning: the optimality of a multi-day plan is not checked"


def day(t: int) -> str:
    return (D0 + timedelta(days=t)).isoformat()


def _verify_json(capsys, instance: str, folder: Path) -> tuple[int, dict]:
    code = main(["verify", instance, str(folder), "--format", "json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, json.loads(out.out)


def _hits(report: dict, rule: str) -> list[tuple[str, int | None]]:
    return [(v["file"], v["row"]) for v in report["violations"] if v["rule"] == rule and v["severity"] == "error"]


# --------------------------------------------------------------------------------------------
# (a) folders written by the CLI verify OK

FOLDERS = {
    "suits-plan": (SUITS, ["plan", SUITS, "--start", "2020-02-05", "--horizon", "3"]),
    "suits-replay": (SUITS, ["replay", SUITS, "--start", "2020-02-05", "--end", "2020-02-08", "--no-chart"]),
    "ventilators-plan": (VENTS, ["plan", VENTS, "--horizon", "3"]),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("written")
    out = {}
    for name, (_, args) in FOLDERS.items():
        assert main([*args, "-o", str(base / name)]) == 0
        out[name] = base / name
    return out


@pytest.mark.parametrize("name", list(FOLDERS))
def test_cli_written_multi_day_folders_verify_ok(capsys, written, name):
    instance = FOLDERS[name][0]
    code, text = run_cli(capsys, "verify", instance, str(written[name]))
    assert code == 0, text
    lines = text.splitlines()
    assert f"{written[name]}: OK: 0 violation(s), 0 warning(s)" in lines
    assert WARNING in text  # multi-day optimality is not re-solved, and it says so
    kind = read_folder(written[name]).kind
    days = read_folder(written[name]).summary["days"]
    for d in days:  # one line per day: delivered, weighted shortfall
        assert any(line.startswith(f"{d}: delivered ") and "| weighted shortfall " in line for line in lines)
    # --no-optimality is accepted; --format json gives ok, metrics and violations.
    code, report = _verify_json(capsys, instance, written[name])
    assert code == 0 and report["ok"] is True and report["violations"] == []
    m = report["metrics"]
    assert m["days"] == len(days) == len(m["by_day"])
    assert m["delivered"] == pytest.approx(sum(d["delivered"] for d in m["by_day"]))
    assert m["weighted_shortfall"] == pytest.approx(sum(d["weighted_shortfall"] for d in m["by_day"]))
    # The summary's weighted shortfall is matched: a plan's with the time preference, a replay's at face value.
    own = m["objective_weighted_shortfall"] if kind == "plan" else m["weighted_shortfall"]
    assert own == pytest.approx(m["reported_weighted_shortfall"], rel=1e-6)
    assert run_cli(capsys, "verify", instance, str(written[name]), "--no-optimality")[0] == 0


def test_verify_days_from_python(written):
    folder = read_folder(written["suits-replay"])
    ver = verify_days(allocator.load(SUITS), folder.tables, summary=folder.summary)
    assert ver.ok and ver.violations.empty
    assert list(ver.violations.columns)[:5] == ["rule", "file", "row", "detail", "severity"]
    assert [d["day"] for d in ver.metrics["by_day"]] == ["2020-02-05", "2020-02-06", "2020-02-07", "2020-02-08"]


# --------------------------------------------------------------------------------------------
# (b) hand-made instances over 1, 2 and 3 days


def _build(products, sources, supply, regions, demand, routes=None, stock=None, transfers=None, policy=None):
    tables = dict(
        products=products,
        sources=sources,
        supply=supply,
        regions=regions,
        demand=demand,
        routes=routes,
        stock=stock,
        transfers=transfers,
    )
    kw = {k: (pd.DataFrame(v) if v is not None else None) for k, v in tables.items()}
    return allocator.from_frames(**kw, policy=policy_from_dict(policy or {}, "test"))


def _suits_case(policy):
    """Two grades of a consumable, lead times, transit days, a route capacity, stock on hand at a
    source and a region, stock arriving later, a transfer with a day's transit."""
    products = [
        {"product": "gb", "family": "suit", "grade": "icu", "lead_days": 1},
        {"product": "em", "family": "suit", "grade": "general"},
    ]
    sources = [{"source": "m", "name": "M", "region": "a"}, {"source": "n", "name": "N", "region": "b", "lead_days": 1}]
    supply = [
        {"source": "m", "product": "gb", "quantity": 6, "day": day(0)},
        {"source": "m", "product": "gb", "quantity": 9, "day": day(1)},
        {"source": "m", "product": "em", "quantity": 4, "day": ""},
        {"source": "n", "product": "em", "quantity": 7, "day": day(0), "lead_days": 2},
    ]
    regions = [
        {"region": "a", "name": "A"},
        {"region": "b", "name": "B", "flags": "border_port"},
        {"region": "c", "name": "C", "flags": "level_one_response"},
    ]
    demand = [
        {"region": r, "family": "suit", "use": u, "quantity": q + t, "day": day(t)}
        for t in range(3)
        for r, u, q in (("a", "icu", 5), ("a", "general", 3), ("b", "general", 6), ("c", "icu", 4), ("c", "general", 2))
    ]
    routes = [
        {"source": "m", "region": "a", "product": "", "cost": 1, "transit_days": 0, "capacity": None},
        {"source": "m", "region": "b", "product": "", "cost": 3, "transit_days": 1, "capacity": 5},
        {"source": "m", "region": "c", "product": "gb", "cost": 2, "transit_days": None, "capacity": 3},
        {"source": "n", "region": "b", "product": "", "cost": 1, "transit_days": 0, "capacity": None},
    ]
    stock = [
        {"source": "n", "region": "", "product": "em", "quantity": 3, "day": "", "floor": None},
        {"source": "", "region": "a", "product": "gb", "quantity": 4, "day": "", "floor": 1},
        {"source": "", "region": "c", "product": "em", "quantity": 2, "day": day(1), "floor": None},
    ]
    transfers = [{"from_region": "a", "to_region": "c", "product": "", "cost": 1, "transit_days": 1}]
    return _build(products, sources, supply, regions, demand, routes, stock, transfers, policy)


def _vent_case(policy):
    """Durable equipment with attrition (solved as a MIP), ICU-grade units for general use allowed."""
    products = [
        {"product": "vent", "family": "vent", "grade": "icu", "durable": True, "attrition": 0.1},
        {"product": "bed", "family": "vent", "grade": "general", "durable": True, "attrition": 0.0},
    ]
    sources = [{"source": "m", "name": "M", "region": "a"}]
    supply = [
        {"source": "m", "product": "vent", "quantity": 3, "day": ""},
        {"source": "m", "product": "bed", "quantity": 2, "day": day(0)},
    ]
    regions = [{"region": "a", "name": "A"}, {"region": "b", "name": "B", "weight": 2}]
    demand = [
        {"region": r, "family": "vent", "use": u, "quantity": q, "day": day(t)}
        for t in range(3)
        for r, u, q in (("a", "icu", 2 + t), ("a", "general", 3), ("b", "general", 2 + t))
    ]
    routes = [
        {"source": "m", "region": "a", "cost": 1, "transit_days": 0},
        {"source": "m", "region": "b", "cost": 2, "transit_days": 1},
    ]
    stock = [{"source": "", "region": "b", "product": "vent", "quantity": 7, "day": "", "floor": None}]
    return _build(products, sources, supply, regions, demand, routes, stock, None, policy)


def _undated_case(policy):
    """No routes.csv (great-circle costs, any source to any region) and no dated days."""
    products = [{"product": "mask", "family": "mask", "grade": "general", "countable": False}]
    sources = [{"source": "m", "name": "M", "region": "a"}]
    supply = [{"source": "m", "product": "mask", "quantity": 7.5}]
    regions = [
        {"region": "a", "name": "A", "lat": 30.0, "lon": 114.0},
        {"region": "b", "name": "B", "lat": 31.0, "lon": 121.0, "flags": "port_of_entry"},
    ]
    demand = [
        {"region": "a", "family": "mask", "use": "general", "quantity": 4.25},
        {"region": "b", "family": "mask", "use": "general", "quantity": 5},
    ]
    return _build(products, sources, supply, regions, demand, policy=policy)


CASES = {
    "suits-lost": (_suits_case, {}),
    "suits-backlog-floors": (_suits_case, {"unmet": "backlog", "floor": {"days": 0.5, "weight": 0.3}}),
    "suits-icu-for-general": (_suits_case, {"icu_grade_for_general": True, "unmet": "backlog"}),
    "vent-durable": (_vent_case, {"icu_grade_for_general": True}),
    "vent-backlog": (_vent_case, {"unmet": "backlog"}),
    "undated": (_undated_case, {"unmet": "backlog", "floor": {"days": 1}}),
}


def _tables(res) -> dict[str, pd.DataFrame]:
    dp = res.plan
    return {"shipments.csv": dp.shipments, "transfers.csv": dp.transfers, "fill.csv": dp.fill, "stock.csv": dp.stock}


@pytest.mark.parametrize("horizon", [1, 2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_hand_made_plans_verify_ok(tmp_path, case, horizon):
    build, policy = CASES[case]
    inst = build(policy)
    res = plan(inst, horizon=horizon)
    ver = verify_days(inst, _tables(res), summary=res.summary())
    assert ver.violations.empty, ver.violations.to_string()
    assert ver.metrics["days"] == horizon
    assert ver.metrics["objective_weighted_shortfall"] == pytest.approx(res.solution.weighted_shortfall, rel=1e-9)
    assert ver.metrics["delivered"] == pytest.approx(res.plan.fill["delivered"].sum())
    # The same through the files, as the CLI reads them.
    write_plan(res, tmp_path / "plan")
    folder = read_folder(tmp_path / "plan")
    assert verify_days(inst, folder.tables, summary=folder.summary).violations.empty
    if inst.days:  # a replay of the same days, committing one at a time
        rep = replay(inst, horizon=2, end=day(horizon - 1))
        write_replay(rep, tmp_path / "replay", chart=False)
        folder = read_folder(tmp_path / "replay")
        ver = verify_days(inst, folder.tables, summary=folder.summary)
        assert ver.violations.empty, ver.violations.to_string()


def test_the_hand_made_cases_are_not_trivial():
    # Each feature the checks cover is used by some plan above: transfers, capacity at its limit,
    # dated stock arriving, attrition, durables in service, backlog, floors short.
    res = plan(_suits_case({"unmet": "backlog", "floor": {"days": 0.5}}), horizon=3)
    assert len(res.plan.transfers) and res.plan.fill["backlog_in"].sum() > 0
    sh = res.plan.shipments
    assert ((sh["source"] == "m") & (sh["region"] == "c") & (sh["quantity"] == 3)).any()  # the capacity binds
    assert (res.plan.stock["arrived"] > 0).any() and (sh["day"] != sh["arrives"]).any()
    vent = plan(_vent_case({}), horizon=3)
    assert (vent.plan.stock["lost"] > 0).any() and (vent.plan.stock["in_service"] > 0).any()


# --------------------------------------------------------------------------------------------
# (c) corruptions of a written folder: each caught, with its file and row


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def _write(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / name, index=False)


def _next_day(label: str, k: int = 1) -> str:
    return (date.fromisoformat(label) + timedelta(days=k)).isoformat()


def ship_beyond_stock(folder: Path):
    sh = _read(folder, "shipments.csv")
    i = 0
    sh.loc[i, "quantity"] = str(int(float(sh.loc[i, "quantity"])) + 10_000_000)
    _write(folder, "shipments.csv", sh)
    return "supply", "shipments.csv", i + 2


def ship_on_no_route(folder: Path):
    inst = allocator.load(SUITS)
    pairs = set(zip(inst.routes["source"], inst.routes["region"]))
    sh = _read(folder, "shipments.csv")
    for i, s in enumerate(sh["source"]):
        missing = sorted(r for r in inst.regions["region"] if (s, r) not in pairs)
        if missing:
            sh.loc[i, "region"] = missing[0]
            _write(folder, "shipments.csv", sh)
            return "route", "shipments.csv", i + 2
    raise AssertionError("every source reaches every region")


def wrong_arrival_day(folder: Path):
    sh = _read(folder, "shipments.csv")
    i = int(sh.index[sh["day"] == sh["day"].min()][0])
    sh.loc[i, "arrives"] = _next_day(sh.loc[i, "arrives"])
    _write(folder, "shipments.csv", sh)
    return "arrives", "shipments.csv", i + 2


def delivered_beyond_due(folder: Path):
    f = _read(folder, "fill.csv")
    i = int(f.index[f["delivered"].astype(float) > 0][0])
    f.loc[i, "delivered"] = str(float(f.loc[i, "demand"]) + float(f.loc[i, "backlog_in"]) + 5)
    _write(folder, "fill.csv", f)
    return "demand", "fill.csv", i + 2


def fractional_countable(folder: Path):
    sh = _read(folder, "shipments.csv")
    sh.loc[3, "quantity"] = str(float(sh.loc[3, "quantity"]) + 0.5)
    _write(folder, "shipments.csv", sh)
    return "whole units", "shipments.csv", 5


def icu_grade_to_general(folder: Path):
    # One ICU-grade unit used at a region moved from its ICU row to its general row: the totals,
    # the stock and what is due all still agree; only the ICU rule is broken (the policy forbids it).
    f = _read(folder, "fill.csv")
    num = f[["delivered", "shortfall"]].astype(float)
    for i in f.index[(f["use"] == "icu") & (num["delivered"] > 0)]:
        g = f.index[
            (f["day"] == f.loc[i, "day"])
            & (f["region"] == f.loc[i, "region"])
            & (f["family"] == f.loc[i, "family"])
            & (f["use"] == "general")
            & (num["shortfall"] > 0)
        ]
        if len(g):
            g = int(g[0])
            for k, step in ((i, -1), (g, 1)):
                f.loc[k, "delivered"] = str(num.loc[k, "delivered"] + step)
                f.loc[k, "shortfall"] = str(num.loc[k, "shortfall"] - step)
            _write(folder, "fill.csv", f)
            return "icu", "fill.csv", g + 2
    raise AssertionError("no region got ICU-grade units while short of general ones")


def stock_off_balance(folder: Path):
    st = _read(folder, "stock.csv")
    i = len(st) - 1
    st.loc[i, "closing"] = str(float(st.loc[i, "closing"]) + 7)
    _write(folder, "stock.csv", st)
    return "stock balance", "stock.csv", i + 2


def opening_not_previous_closing(folder: Path):
    st = _read(folder, "stock.csv")
    last = st["day"].max()
    i = int(st.index[(st["day"] == last) & (st["opening"].astype(float) > 0)][0])
    for col in ("opening", "closing"):  # still balanced: only the carry-over is wrong
        st.loc[i, col] = str(float(st.loc[i, col]) + 5)
    _write(folder, "stock.csv", st)
    return "opening", "stock.csv", i + 2


CORRUPTIONS = [
    ship_beyond_stock,
    ship_on_no_route,
    wrong_arrival_day,
    delivered_beyond_due,
    fractional_countable,
    icu_grade_to_general,
    stock_off_balance,
    opening_not_previous_closing,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=[c.__name__ for c in CORRUPTIONS])
@pytest.mark.parametrize("name", ["suits-plan", "suits-replay"])
def test_each_corruption_is_caught_with_file_and_row(capsys, tmp_path, written, name, corrupt):
    folder = tmp_path / "plan"
    shutil.copytree(written[name], folder)
    code, clean = _verify_json(capsys, SUITS, folder)
    assert code == 0 and clean["ok"]
    rule, file, row = corrupt(folder)
    assert _hits(clean, rule) == []
    code, report = _verify_json(capsys, SUITS, folder)
    assert code == 1 and report["ok"] is False
    assert (file, row) in _hits(report, rule), report["violations"]


def test_a_route_capacity_exceeded_is_caught(capsys, tmp_path):
    tables = {
        "products": pd.DataFrame([{"product": "suit", "family": "suit", "grade": "general"}]),
        "sources": pd.DataFrame([{"source": "m", "name": "M", "region": "a"}]),
        "supply": pd.DataFrame([{"source": "m", "product": "suit", "quantity": 100, "day": day(0)}]),
        "regions": pd.DataFrame([{"region": "a", "name": "A"}, {"region": "b", "name": "B"}]),
        "demand": pd.DataFrame(
            [{"region": "b", "family": "suit", "use": "general", "quantity": 10, "day": day(t)} for t in range(3)]
        ),
        "routes": pd.DataFrame(
            [
                {"source": "m", "region": "a", "cost": 1, "transit_days": 0, "capacity": ""},
                {"source": "m", "region": "b", "cost": 1, "transit_days": 0, "capacity": 4},
            ]
        ),
    }
    inst = str(write_folder(tmp_path / "inst", tables))
    folder = tmp_path / "plan"
    assert main(["plan", inst, "-o", str(folder)]) == 0
    capsys.readouterr()
    code, clean = _verify_json(capsys, inst, folder)
    assert code == 0 and _hits(clean, "capacity") == []
    sh = _read(folder, "shipments.csv")
    assert list(sh["quantity"].astype(float)) == [4, 4, 4]  # the capacity binds
    sh.loc[1, "quantity"] = "6"  # 100 at the source: only the route's 4 a day is broken
    _write(folder, "shipments.csv", sh)
    code, report = _verify_json(capsys, inst, folder)
    assert code == 1 and ("shipments.csv", 3) in _hits(report, "capacity")
    assert _hits(report, "supply") == []
    # The text names the day the violation belongs to, under that day's line, and fails.
    code, text = run_cli(capsys, "verify", inst, str(folder))
    lines = text.splitlines()
    at = lines.index(next(line for line in lines if line.startswith(f"{day(1)}: delivered ")))
    end = lines.index(next(line for line in lines if line.startswith(f"{day(2)}: delivered ")))
    assert any(
        line.startswith("  error: [capacity] shipments.csv, row 3: ships 6 of 'suit' from 'm' to 'b'")
        for line in lines[at + 1 : end]
    )
    assert "  warning: [cost] shipments.csv, row 3: cost column says 4; quantity x unit cost is 6" in lines
    printed = [line for line in lines if not line.startswith(WARNING)]  # the warning goes to standard error
    assert code == 1 and printed[-1].startswith(f"{folder}: FAILED: ")


def test_a_wrong_floor_column_is_a_warning():
    inst = _suits_case({"floor": {"days": 0.5}})
    res = plan(inst, horizon=2)
    tables = _tables(res)
    assert verify_days(inst, tables, summary=res.summary()).violations.empty
    st = tables["stock.csv"].copy()
    i = int(st.index[(st["holder"] == "region") & (st["floor"] > 0)][0])
    st.loc[i, "floor"] += 1
    ver = verify_days(inst, {**tables, "stock.csv": st}, summary=res.summary())
    assert ver.ok  # the floor column reports; it does not change what the plan does
    assert list(zip(ver.violations["rule"], ver.violations["row"], ver.violations["severity"])) == [
        ("floor", i + 2, "warning")
    ]


def test_the_floor_column_of_two_families_at_a_region():
    """stock.csv's floor column is each family's own floor (it once showed the last family's on every row)."""
    df = pd.DataFrame
    inst = allocator.from_frames(
        products=df(
            [
                {"product": "suit", "family": "suit", "grade": "general"},
                {"product": "mask", "family": "mask", "grade": "general"},
            ]
        ),
        sources=df([{"source": "m", "name": "M", "region": "a"}]),
        supply=df([{"source": "m", "product": p, "quantity": 50, "day": day(0)} for p in ("suit", "mask")]),
        regions=df([{"region": "a", "name": "A"}]),
        demand=df(
            [
                {"region": "a", "family": f, "use": "general", "quantity": q, "day": day(t)}
                for t in range(2)
                for f, q in (("suit", 10), ("mask", 40))
            ]
        ),
        routes=df([{"source": "m", "region": "a", "cost": 1, "transit_days": 0}]),
        policy=policy_from_dict({"floor": {"days": 1}}, "test"),
    )
    res = plan(inst, horizon=2)
    assert verify_days(inst, _tables(res), summary=res.summary()).violations.empty


# --------------------------------------------------------------------------------------------
# (d) a day's folder verifies as before


def _daily_text(instance: str, folder: Path) -> str:
    """What ``allocator verify`` printed for a day's folder before multi-day folders were verified."""
    from allocator.pipeline.check import verify
    from allocator.report.reader import read_plan

    def q(x: float) -> str:  # thousands separators, at most six decimals, never exponent form
        return f"{x:,.0f}" if x == round(x) else f"{x:,.6f}".rstrip("0").rstrip(".")

    dispatch, fill = read_plan(folder)
    ver = verify(allocator.load(instance), dispatch, fill=fill, optimality=True)
    viol, m = ver.violations, ver.metrics
    lines = []
    for rec in viol.itertuples(index=False):
        row = None if pd.isna(rec.row) else f"row {rec.row}"
        where = ", ".join(x for x in (rec.file, row) if x)
        lines.append(f"{rec.severity}: [{rec.rule}] {where + ': ' if where else ''}{rec.detail}")
    lines.append(
        f"weighted shortfall {q(m['weighted_shortfall'])}"
        + (f" (optimum {q(m['optimal_weighted_shortfall'])})" if "optimal_weighted_shortfall" in m else "")
        + f"; route cost {q(m['route_cost'])}"
        + (f" (least {q(m['optimal_route_cost'])})" if "optimal_route_cost" in m else "")
    )
    n_err = int((viol["severity"] == "error").sum())
    lines.append(f"{folder}: {'OK' if ver.ok else 'FAILED'}: {n_err} violation(s), {len(viol) - n_err} warning(s)")
    return "\n".join(lines) + "\n"


def test_a_daily_folder_verifies_as_before(capsys, tmp_path):
    folder = tmp_path / "day"
    assert main(["solve", DAY, "-o", str(folder)]) == 0
    capsys.readouterr()
    code, text = run_cli(capsys, "verify", DAY, str(folder))
    assert (code, text) == (0, _daily_text(DAY, folder))
