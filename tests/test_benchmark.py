"""``allocator bench``: the paths agree on the objective; the command's JSON and its errors.

Benchmarks are commands, not timed tests: nothing here asserts a time or a ratio.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import instance, random_instance, run_cli

import allocator
from allocator.build.daily import build
from allocator.tools import bench as benchmark
from allocator.tools.generate import SCALES, generate, write_instance


def close(a: float, b: float) -> bool:
    return abs(a - b) <= benchmark.REL_TOL * max(1.0, abs(a), abs(b))


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    """The generated province instance the command benchmarks by default (seed 1)."""
    folder = tmp_path_factory.mktemp("bench") / "instance"
    return write_instance(generate("province", 1), folder)


def test_the_four_paths_agree_on_the_province_scale(province, tmp_path):
    network, skipped = benchmark.prepare_network(province, tmp_path / "raw")
    assert skipped is None and network["ship_arcs"] > 10_000
    rows = [
        benchmark.run_allocator(province, tmp_path, equity=False),
        benchmark.run_raw(tmp_path / "raw"),
        benchmark.run_raw_family(tmp_path / "raw"),
        benchmark.run_naive(province),
    ]
    for row in rows[1:]:
        assert close(row["weighted_shortfall"], rows[0]["weighted_shortfall"]), row["path"]
        assert close(row["route_cost"], rows[0]["route_cost"]), row["path"]
    assert rows[2]["families"] > 1
    benchmark.compare(rows)
    assert [row["agreement"] for row in rows] == ["same", "reference", "same", "same"]
    fastest = min(rows[1:3], key=lambda row: row["total_s"])
    assert all(row["vs_raw_path"] == fastest["path"] for row in rows) and fastest["vs_raw"] == 1.0
    assert (tmp_path / "plan-no-equity" / "dispatch.csv").exists()


@pytest.mark.parametrize("seed", range(6))
def test_raw_and_naive_reach_the_lexicographic_optimum(seed, tmp_path):
    """Route capacities, ICU grade for general use, a divisible family: the weighted sum's
    optimum is the equity-off lexicographic one (least shortfall, then least route cost)."""
    inst = random_instance(seed, equity=False, icu_for_general=seed % 2 == 1, fractional_family=seed % 3 == 0)
    want = allocator.solve(inst).objective
    arrays = benchmark.save_raw_arrays(inst, build(inst), tmp_path)
    raw, raw_family = benchmark.run_raw(arrays), benchmark.run_raw_family(arrays)
    naive = benchmark.naive_solution(inst)
    for got in (raw, raw_family, naive):
        assert close(got["weighted_shortfall"], want["weighted_shortfall"])
        assert close(got["route_cost"], want["route_cost"])


def test_the_multiplier_pays_for_an_exchange_along_two_routes(tmp_path):
    """S1 (1 suit) reaches A at 1000 or B at 0; S2 (1 suit) reaches B at 1000. Optimum: both
    served (shortfall 0), route cost 2000. Serving B from S1 and leaving A short saves 2000
    for one unit of shortfall, so M must exceed twice the largest route cost: with M = 1001
    the weighted sum would leave A short."""
    inst = instance(
        products=[{"product": "suit", "family": "suit", "grade": "general"}],
        sources=[{"source": "s1", "name": "S1", "region": "a"}, {"source": "s2", "name": "S2", "region": "b"}],
        supply=[("s1", "suit", 1), ("s2", "suit", 1)],
        regions=[{"region": r, "name": r.upper(), "flags": ""} for r in ("a", "b")],
        demand=[{"region": r, "family": "suit", "quantity": 1} for r in ("a", "b")],
        routes=[("s1", "a", 1000), ("s1", "b", 0), ("s2", "b", 1000)],
    )
    model = build(inst)
    assert benchmark.shortfall_multiplier(model, {"suit": "suit"}) > 2000
    arrays = benchmark.save_raw_arrays(inst, model, tmp_path)
    for got in (benchmark.run_raw(arrays), benchmark.run_raw_family(arrays), benchmark.naive_solution(inst)):
        assert got["weighted_shortfall"] == 0 and got["route_cost"] == 2000


def test_raw_arrays_scale_divisible_quantities_to_whole_numbers():
    inst = random_instance(0, equity=False, fractional_family=True)
    arrays = benchmark.raw_network(inst, build(inst))
    assert arrays["supply"].dtype == np.int64 and int(arrays["supply"].sum()) == 0
    assert arrays["tail"].dtype == np.int32 and len(arrays["tail"]) == len(arrays["cost"])
    family = arrays["node_family"]
    assert len(family) == len(arrays["supply"]) and family[-1] == -1 and (family[:-1] >= 0).all()
    tail_family, head_family = family[arrays["tail"]], family[arrays["head"]]
    assert ((tail_family == head_family) | (tail_family == -1) | (head_family == -1)).all()  # only Z is shared


def test_bench_command_json(capsys):
    code, text = run_cli(
        capsys, "bench", "--scale", "province", "--paths", "raw-family,command,raw,allocator", "--format", "json"
    )
    assert code == 0
    report = json.loads(text)
    assert set(report["machine"]) >= {"platform", "cpu_count", "memory_gib", "python", "versions"}
    (block,) = report["scales"]
    assert block["scale"] == "province" and block["network"]["ship_arcs"] > 10_000
    rows = block["paths"]
    assert [row["path"] for row in rows] == ["allocator", "command", "raw", "raw-family"]  # the fixed order
    for row in rows:
        assert row["status"] == "ok", row["detail"]
        assert row["total_s"] > 0 and row["peak_mib"] > 0 and row["arcs"] == block["network"]["ship_arcs"]
    # The command runs with the generated policy's equity: the same shortfall, more route cost.
    assert rows[1]["agreement"].startswith("same shortfall; route cost +")
    assert [row["agreement"] for row in (rows[0], *rows[2:])] == ["same", "reference", "same"]
    assert "wall clock of each run, Python start included" in rows[1]["note"]
    fastest = min(rows[2:], key=lambda row: row["total_s"])
    assert fastest["vs_raw"] == 1.0 and max(row["vs_raw"] for row in rows[2:]) >= 1.0 and rows[0]["naive_x"] is None
    targets = block["targets"]
    assert targets["command_s"]["value"] == rows[1]["total_s"] and targets["command_s"]["unit"] == " s"
    # The end-to-end, naive and memory targets are set for the county scale; equity's for every scale.
    assert all(
        targets[k]["value"] is None and targets[k]["what"].startswith("county: ")
        for k in ("allocator_vs_raw", "naive_vs_allocator", "memory_vs_raw")
    )
    text = benchmark.render_text(report)
    assert "path" in text and "allocator" in text and "objective (raw): weighted shortfall" in text
    assert "target: province: the allocator solve command's wall clock, Python start included" in text


def test_targets_are_read_at_their_scale():
    def row(path, total, peak=100.0):
        return benchmark._row(path, "ok", total_s=total, peak_mib=peak)

    rows = [
        row("allocator", 13.0, 400.0),
        row("allocator-equity", 20.0),
        row("raw-family", 10.0, 250.0),
        row("naive", 200.0),
    ]
    county = benchmark.targets(rows, "county")
    assert county["allocator_vs_raw"]["value"] == 1.3 and county["allocator_vs_raw"]["met"]
    assert county["naive_vs_allocator"]["value"] == 200.0 / 13.0 and county["naive_vs_allocator"]["met"]
    assert county["memory_vs_raw"]["value"] == 1.6 and county["memory_vs_raw"]["met"]
    assert county["equity_vs_off"]["value"] == 20.0 / 13.0 and county["village_s"]["value"] is None
    village = benchmark.targets(rows, "village")
    assert village["allocator_vs_raw"]["value"] is None and village["village_s"]["value"] == 13.0
    assert village["village_equity_s"]["met"] and village["equity_vs_off"]["value"] == 20.0 / 13.0
    slow = benchmark.targets([row("allocator", 61.0), row("raw-family", 10.0)], "village")
    assert slow["village_s"]["met"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scale", "province,town"], "--scale: unknown value 'town': expected a comma list of province, prefecture"),
        (["--scale", ","], "--scale: expected a comma list"),
        (["--paths", "raw,cplex"], "--paths: unknown value 'cplex'"),
        (["--timeout", "0"], "--timeout 0: expected a positive number of seconds"),
        (["--seed", "-1"], "--seed -1: expected a whole number 0 or above"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, args, message):
    code, text = run_cli(capsys, "bench", *args)
    assert code == 2 and message in text


def test_keep_refuses_a_folder_in_use(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, text = run_cli(capsys, "bench", "--keep", str(tmp_path))
    assert code == 2 and "--keep" in text and "not an empty folder" in text


def test_a_path_over_its_time_is_reported_not_raised(tmp_path):
    report = benchmark.run_bench(["province"], paths=["raw"], timeout=0.001, keep=str(tmp_path / "kept"))
    (row,) = report["scales"][0]["paths"]
    assert row["status"] == "timeout" and row["detail"].startswith("timeout")
    assert (tmp_path / "kept" / "province-seed1" / "instance" / "demand.csv").exists()


def test_naive_path_says_how_to_install_pulp(monkeypatch):
    monkeypatch.setattr(benchmark.importlib.util, "find_spec", lambda name: None)
    assert benchmark.naive_unavailable() == "skipped (pip install pulp)"


def test_the_scales_are_the_generators():
    assert tuple(SCALES) == benchmark.SCALES


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")


@needs_proc
def test_a_childs_peak_memory_is_its_own_not_its_parents():
    """ru_maxrss would report at least this (large) test process's peak in the child."""
    load = (
        f"import importlib.util as u; s = u.spec_from_file_location('b', {benchmark.__file__!r}); "
        "m = u.module_from_spec(s); s.loader.exec_module(m); print(m.own_peak_mib())"
    )
    big = b"x" * (200 * 2**20)  # this process's peak: at least 200 MiB
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True).stdout
    del big
    assert 0 < float(out) < 100


@needs_proc
def test_children_peak_sees_a_child_process():
    grow = "x = b'x' * (80 * 2**20); import time; time.sleep(0.3)"
    with benchmark.ChildrenPeak() as peak:
        subprocess.run([sys.executable, "-c", grow], check=True)
    assert 80 <= peak.mib < 200
