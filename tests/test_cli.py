"""The command line end to end on the bundled instance: solve, files, verify, determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from helpers import run_cli as run

from allocator.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SUITS = str(ROOT / "instances" / "suits-2020-02-05")
PLAN_FILES = ("dispatch.csv", "fill.csv", "allocation.csv", "marginal.csv", "sources.csv")


def test_solve_prints_and_writes_the_plan(tmp_path, capsys):
    code, text = run(capsys, "solve", SUITS, "--output", str(tmp_path / "plan"))
    assert code == 0
    for heading in ("Fill rate by priority tier", "Fill rate by region", "Largest shortfalls and why", "Shipments"):
        assert heading in text
    dispatch = pd.read_csv(tmp_path / "plan" / "dispatch.csv")
    assert list(dispatch.columns[:5]) == ["source", "region", "product", "quantity", "cost"]
    fill = pd.read_csv(tmp_path / "plan" / "fill.csv")
    assert list(fill.columns[:8]) == [
        "region",
        "family",
        "use",
        "demand",
        "delivered",
        "shortfall",
        "fill_rate",
        "weight",
    ]
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["solver"] == "network"
    assert set(summary["objective"]) >= {"weighted_shortfall", "route_cost"}
    assert summary["totals"]["delivered"] == dispatch["quantity"].sum() == fill["delivered"].sum()
    assert set(summary["timings_s"]) >= {"build", "solve"}


def test_json_format(capsys):
    code, text = run(capsys, "solve", SUITS, "--format", "json")
    data = json.loads(text)
    assert code == 0 and data["status"] == "optimal" and len(data["dispatch"]) > 0


def test_verify_accepts_the_solvers_plan_and_rejects_edits(tmp_path, capsys):
    plan = tmp_path / "plan"
    assert run(capsys, "solve", SUITS, "--output", str(plan))[0] == 0
    code, text = run(capsys, "verify", SUITS, str(plan))
    assert code == 0 and "OK: 0 violation(s)" in text

    # Ship one more suit than the maker has.
    edited = tmp_path / "edited"
    edited.mkdir()
    d = pd.read_csv(plan / "dispatch.csv")
    d.loc[0, "quantity"] += 1
    d.to_csv(edited / "dispatch.csv", index=False)
    code, text = run(capsys, "verify", SUITS, str(edited))
    assert code == 1
    assert f"[supply] dispatch.csv: source '{d.loc[0, 'source']}' ships" in text

    # Half a suit, an unknown region, and fill.csv out of step with the dispatch.
    d = pd.read_csv(plan / "dispatch.csv")
    d["quantity"] = d["quantity"].astype(float)
    d.loc[1, "quantity"] -= 0.5
    d.loc[2, "region"] = "atlantis"
    d.to_csv(edited / "dispatch.csv", index=False)
    (edited / "fill.csv").write_text((plan / "fill.csv").read_text())
    code, text = run(capsys, "verify", SUITS, str(edited))
    assert code == 1
    assert "[whole units] dispatch.csv, row 3" in text
    assert "[unknown id] dispatch.csv, row 4: unknown region 'atlantis'" in text

    # Feasible but not optimal: drop a shipment to Hubei.
    d = pd.read_csv(plan / "dispatch.csv").iloc[1:]
    d.to_csv(edited / "dispatch.csv", index=False)
    (edited / "fill.csv").unlink()
    code, text = run(capsys, "verify", SUITS, str(edited))
    assert code == 1 and "[optimal]" in text and "exceeds the optimum" in text
    code, text = run(capsys, "verify", SUITS, str(edited), "--no-optimality")
    assert code == 0


def test_icu_grade_sent_to_general_use_is_caught(tmp_path, capsys):
    """Allow ICU-grade for general use, solve, then verify that plan under the default rule."""
    plan = tmp_path / "plan"
    code, _ = run(capsys, "solve", SUITS, "--icu-for-general", "yes", "--equity", "off", "--output", str(plan))
    assert code == 0
    alloc = pd.read_csv(plan / "allocation.csv")
    if ((alloc["product"] == "gb_suit") & (alloc["use"] == "general")).any():
        code, text = run(capsys, "verify", SUITS, str(plan), "--no-optimality")
        assert code == 1 and "[icu]" in text
    # Make one for sure: send GB suits to a region with general demand only beyond its ICU demand.
    edited = tmp_path / "edited"
    edited.mkdir()
    fill = pd.read_csv(plan / "fill.csv")
    icu = fill[(fill["use"] == "icu") & (fill["region"] == "beijing")]["demand"].sum()
    pd.DataFrame([{"source": "sanqi", "region": "beijing", "product": "gb_suit", "quantity": int(icu) + 1}]).to_csv(
        edited / "dispatch.csv", index=False
    )
    code, text = run(capsys, "verify", SUITS, str(edited), "--no-optimality")
    assert code == 1 and "[icu]" in text and "keeps ICU-grade items for ICU use" in text


def test_same_input_same_plan_byte_for_byte(tmp_path):
    """Two separate processes, same instance: identical plan files."""
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        subprocess.run(
            [sys.executable, "-m", "allocator", "solve", SUITS, "--output", str(out)], check=True, capture_output=True
        )
        outs.append(out)
    for name in PLAN_FILES:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    a, b = (json.loads((o / "summary.json").read_text()) for o in outs)
    a.pop("timings_s"), b.pop("timings_s")
    assert a == b


def test_usage_errors_exit_2(capsys):
    try:
        main(["solve"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "usage" in capsys.readouterr().err


def test_unexpected_errors_are_a_message_not_a_traceback(monkeypatch, capsys):
    def broken(instance):
        raise RuntimeError("boom")

    monkeypatch.setattr("allocator.pipeline.run.build", broken)
    code, text = run(capsys, "solve", SUITS)
    assert code == 3 and "internal error (RuntimeError: boom); rerun with --debug" in text


def test_region_table_is_cut_to_the_worst_filled(capsys):
    """--regions N lists N regions, the lowest fill first within the highest tiers, and says so."""
    from test_bundled_instance import SUITS

    code, text = run(capsys, "solve", str(SUITS), "--regions", "3")
    assert code == 0
    block = text.split("Fill rate by region", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block[0].startswith(" (3 of ") and "all in fill.csv with --output" in block[0]
    assert len(block) == 1 + 2 + 3  # title, header, rule, three regions
    assert block[3].split()[0] == "hubei"  # tier 1 comes first


def test_help_names_no_internal_issue_numbers(capsys):
    import re

    from allocator.cli.main import _parser

    parser = _parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:  # every subcommand's own --help
        texts += [sub.format_help() for sub in action.choices.values()]
    assert not [t for t in texts if re.search(r"#\d+|[Ii]ssue \d+", t)]
