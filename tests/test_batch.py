"""Batch runs: serial and on a Dask cluster give the same table; bad tasks become error rows."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import random_instance, run_cli, write_folder

import allocator
from allocator.pipeline import batch
from allocator.pipeline.batch import BatchError, Scenario, Task, make_tasks, read_scenarios, run_batch

ROOT = Path(__file__).resolve().parents[1]
SUITS = str(ROOT / "instances" / "suits-2020-02-05")
TABLES = ("products", "sources", "supply", "regions", "demand", "routes")
SCENARIOS_CSV = "scenario,equity,icu_grade_for_general,weights.icu\nbase,,,\nicu-general,,true,1\nno-equity,off,,\n"
NOT_TIMINGS = [c for c in batch.COLUMNS if c != "seconds"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Three random instances written as folders, and a copy of the bundled one with a bad cell."""
    root = tmp_path_factory.mktemp("instances")
    paths = []
    for seed in (1, 2, 3):
        inst = random_instance(seed, icu_for_general=False)
        tables = {name: getattr(inst, name).drop(columns="_row") for name in TABLES}
        paths.append(str(write_folder(root / f"random-{seed}", tables)))
    bad = root / "bad-day"
    shutil.copytree(SUITS, bad)
    supply = (bad / "supply.csv").read_text(encoding="utf-8").splitlines()
    supply[2] = supply[2].rsplit(",", 1)[0] + ",lots"  # row 3 of supply.csv
    (bad / "supply.csv").write_text("\n".join(supply) + "\n", encoding="utf-8")
    return {"random": paths, "bad": str(bad)}


@pytest.fixture(scope="module")
def cluster():
    """One local cluster of 2 worker processes for the module; each test connects by address."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL
    ) as c:
        yield c.scheduler_address


@pytest.fixture()
def scenarios_file(tmp_path):
    path = tmp_path / "scenarios.csv"
    path.write_text(SCENARIOS_CSV, encoding="utf-8")
    return path


def test_serial_and_local_cluster_give_identical_tables(folders, scenarios_file):
    tasks = make_tasks([SUITS, folders["random"][0]], read_scenarios(scenarios_file))
    serial = run_batch(tasks, scheduler="serial")
    dask = run_batch(tasks[::-1], scheduler="local", workers=2)  # a cluster started and closed by run_batch
    assert list(serial.columns) == batch.COLUMNS
    assert len(serial) == len(tasks) == 6
    assert (serial["status"] == "optimal").all() and (serial["attempts"] == 1).all()
    pd.testing.assert_frame_equal(serial[NOT_TIMINGS], dask[NOT_TIMINGS], check_exact=True)
    assert (dask["seconds"] > 0).all()


def test_rows_are_sorted_whatever_the_order_given_or_finished(cluster):
    # The task sorted first is the only slow one: the others (missing folders) finish before it.
    missing = [str(ROOT / f"zz-missing-{k}") for k in (2, 1)]
    tasks = [Task(path, name) for path in missing for name in ("b", "a")] + [Task(SUITS, "b"), Task(SUITS, "a")]
    expected = [(SUITS, "a"), (SUITS, "b")] + [(path, name) for path in missing[::-1] for name in ("a", "b")]
    on_cluster = run_batch(tasks, scheduler=cluster)
    serial = run_batch(tasks[::-1], scheduler="serial")
    assert list(zip(on_cluster["instance"], on_cluster["scenario"])) == expected
    assert list(on_cluster["status"]) == ["optimal"] * 2 + ["error"] * 4
    pd.testing.assert_frame_equal(on_cluster[NOT_TIMINGS], serial[NOT_TIMINGS], check_exact=True)


def test_a_bad_instance_is_an_error_row_and_the_others_run(folders, cluster):
    paths = [folders["bad"], *folders["random"][:2], str(Path(folders["bad"]).parent / "no-such-day")]
    table = run_batch(make_tasks(paths), scheduler=cluster)
    assert len(table) == len(paths)
    rows = table.set_index("instance")
    bad = rows.loc[folders["bad"]]
    assert bad["status"] == "error" and bad["error_kind"] == "input" and bad["attempts"] == 1
    assert "supply.csv, row 3, column 'quantity'" in bad["error"] and "lots" in bad["error"]
    assert pd.isna(bad["weighted_shortfall"]) and pd.isna(bad["shipments"])
    missing = rows.loc[paths[-1]]
    assert missing["status"] == "error" and "is not a folder" in missing["error"]
    for path in folders["random"][:2]:
        assert rows.loc[path, "status"] == "optimal" and rows.loc[path, "error"] == ""


def test_scenario_overrides_give_what_a_direct_solve_gives(folders, scenarios_file, cluster):
    scenarios = read_scenarios(scenarios_file)
    assert scenarios == [
        Scenario("base"),
        Scenario("icu-general", ("icu_grade_for_general=true", "weights.icu=1")),
        Scenario("no-equity", ("equity=off",)),
    ]
    paths = [SUITS, folders["random"][2]]
    table = run_batch(make_tasks(paths, scenarios), scheduler=cluster)
    for row in table.itertuples(index=False):
        overrides = [o for o in row.overrides.split("; ") if o]
        result = allocator.solve(allocator.load(row.instance, overrides=overrides))
        fill = result.plan.fill
        assert row.status == result.status == "optimal"
        assert row.weighted_shortfall == result.objective["weighted_shortfall"]
        assert row.route_cost == result.objective["route_cost"]
        assert row.delivered == fill["delivered"].sum() and row.shortfall == fill["shortfall"].sum()
        assert row.shipments == len(result.plan.dispatch)
        assert row.fill_rate == round(fill["delivered"].sum() / fill["demand"].sum(), 6)
    suits = table[table["instance"] == SUITS].set_index("scenario")
    # ICU-grade suits may now serve general demand, and ICU demand weighs no more than general demand.
    assert suits.loc["icu-general", "weighted_shortfall"] < suits.loc["base", "weighted_shortfall"]


def test_malformed_scenarios_file_names_file_row_and_column(tmp_path, capsys):
    path = tmp_path / "scenarios.csv"
    path.write_text(
        "scenario,equity,weights.icu,icu_grade_for_generl\nbase,,,\nstrict,maybe,,\nstrict,,-2,\nbad name,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(allocator.InstanceError) as info:
        read_scenarios(path)
    where = {(i.file, i.row, i.column) for i in info.value.issues}
    assert where == {
        ("scenarios.csv", 1, "icu_grade_for_generl"),
        ("scenarios.csv", 3, "equity"),
        ("scenarios.csv", 4, "weights.icu"),
        ("scenarios.csv", 4, "scenario"),
        ("scenarios.csv", 5, "scenario"),
    }
    code, text = run_cli(capsys, "batch", SUITS, "--scenarios", str(path), "--scheduler", "serial")
    assert code == 2
    assert "scenarios.csv, row 3, column 'equity': equity must be 'on' or 'off', not 'maybe'" in text
    assert "did you mean 'icu_grade_for_general'" in text and "given again (first in row 3)" in text
    path.write_text("name,equity\nx,off\n", encoding="utf-8")
    code, text = run_cli(capsys, "batch", SUITS, "--scenarios", str(path), "--scheduler", "serial")
    assert code == 2 and "column 'scenario': column is missing" in text
    code, text = run_cli(capsys, "batch", SUITS, "--scenarios", str(tmp_path / "none.csv"))
    assert code == 2 and "none.csv: cannot be read" in text


def test_duplicate_tasks_are_refused():
    with pytest.raises(BatchError, match="given more than once"):
        run_batch([Task(SUITS), (SUITS + "/", "base", [])], scheduler="serial")


def test_cli_end_to_end(folders, scenarios_file, cluster, tmp_path, capsys):
    out = tmp_path / "out"
    code, text = run_cli(
        capsys, "batch", SUITS, "--scenarios", str(scenarios_file), "--scheduler", cluster, "--output", str(out)
    )
    assert code == 0, text
    assert "3 task(s), 3 ok, 0 error(s)" in text and "tasks/s" in text
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert list(results.columns) == batch.COLUMNS
    assert list(results["scenario"]) == ["base", "icu-general", "no-equity"]
    assert list(results["overrides"]) == ["", "icu_grade_for_general=true; weights.icu=1", "equity=off"]
    inst = allocator.load(SUITS, overrides=["icu_grade_for_general=true", "weights.icu=1"])
    plan = out / "suits-2020-02-05" / "icu-general"
    dispatch, fill = allocator.read_plan(plan)
    assert allocator.verify(inst, dispatch, fill=fill).ok
    summary = json.loads((plan / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective"]["weighted_shortfall"] == results.loc[1, "weighted_shortfall"]
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "suits-2020-02-05"]
    assert sorted(p.name for p in (out / "suits-2020-02-05").iterdir()) == ["base", "icu-general", "no-equity"]

    code, text = run_cli(capsys, "batch", SUITS, folders["bad"], "--scheduler", "serial", "--format", "json")
    assert code == 2
    data = json.loads(text)
    by_instance = {r["instance"]: r for r in data["results"]}
    assert data["tasks"] == 2 and by_instance[SUITS]["status"] == "optimal"
    bad = by_instance[folders["bad"]]
    assert bad["status"] == "error" and bad["weighted_shortfall"] is None


def _flaky_run(fails):
    """``run_task`` that raises OSError the first ``fails`` times it is called."""
    calls, real = [], batch.run_task

    def run(task, **kw):
        calls.append(task)
        if len(calls) <= fails:
            raise OSError("the file server went away")
        return real(task, **kw)

    return run


def test_transient_failures_are_retried_then_recorded(monkeypatch, capsys):
    monkeypatch.setattr(batch, "run_task", _flaky_run(1))
    table = run_batch([Task(SUITS)], scheduler="serial", retries=1)
    assert table.loc[0, "status"] == "optimal" and table.loc[0, "attempts"] == 2
    monkeypatch.setattr(batch, "run_task", _flaky_run(3))
    table = run_batch([Task(SUITS)], scheduler="serial", retries=2)
    assert table.loc[0, "status"] == "error" and table.loc[0, "attempts"] == 3
    assert table.loc[0, "error"] == "OSError: the file server went away" and table.loc[0, "error_kind"] == "solver"
    monkeypatch.setattr(batch, "run_task", _flaky_run(10))
    code, text = run_cli(capsys, "batch", SUITS, "--scheduler", "serial", "--retries", "0")
    assert code == 3 and "OSError: the file server went away" in text


def _dies_once(topic, index, task, time_limit, plan_dir):
    """Runs on a worker: the first attempt of scenario 'die' kills its worker process, the first
    attempt of 'raise' raises; a marker file says whether the attempt is the first."""
    from distributed import get_worker

    get_worker().log_event(topic, index)
    marker = Path(plan_dir)
    if task.scenario in ("die", "raise") and not marker.exists():
        marker.touch()
        if task.scenario == "raise":
            raise OSError("transient")
        time.sleep(0.5)  # let the worker report the attempt, as a worker dying mid-solve would have
        os._exit(1)
    return batch.run_task(task, time_limit=time_limit)


def test_a_dead_worker_or_a_transient_error_is_retried_on_the_cluster(cluster, tmp_path):
    import cloudpickle
    from distributed import Client

    tasks = [Task(SUITS, name) for name in ("die", "ok", "raise")]
    markers = [str(tmp_path / name) for name in ("die", "ok", "raise")]
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    try:
        with Client(cluster) as client:
            rows = batch._gather(client, tasks, markers, retries=1, time_limit=None, fn=_dies_once)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [r["status"] for r in rows] == ["optimal"] * 3
    assert [r["attempts"] for r in rows] == [2, 1, 2]
    assert len({r["weighted_shortfall"] for r in rows}) == 1


def test_import_allocator_does_not_import_dask():
    code = (
        "import sys, allocator, allocator.cli.main, allocator.pipeline.batch; "
        "sys.exit(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
