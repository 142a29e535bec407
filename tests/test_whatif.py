"""What-if (`allocator solve INSTANCE --set ...`): tiny instances whose base and changed optima
are worked out by hand (in each docstring), the change tables, bad expressions, JSON, determinism."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
from helpers import frames, instance, run_cli, write_folder
from test_hand_cases import check_invariants

import allocator
from allocator.inputs.edits import apply_changes, parse_changes
from allocator.report.compare import compare

SUIT = [{"product": "suit", "family": "suit", "grade": "general"}]


def regions(*specs):
    return [{"region": r, "name": r.upper(), "flags": f} for r, f in specs]


# Two regions: A (level one response, weight 8) needs 6, B (no flag, weight 1) needs 8. S1 has
# 10 suits and reaches A (cost 5) and B (cost 1); S2 has no supply row but a route to B (cost 2).
PRIORITY = dict(
    products=SUIT,
    sources=[{"source": "s1", "name": "S1", "region": "a"}, {"source": "s2", "name": "S2", "region": "b"}],
    supply=[("s1", "suit", 10)],
    regions=regions(("a", "level_one_response"), ("b", "")),
    demand=[{"region": "a", "family": "suit", "quantity": 6}, {"region": "b", "family": "suit", "quantity": 8}],
    routes=[("s1", "a", 5), ("s1", "b", 1), ("s2", "b", 2)],
)

# Two equal regions A and B (weight 1) need 10 each; S has 10 and reaches A (cost 1), B (cost 2).
EVEN = dict(
    products=SUIT,
    sources=[{"source": "s", "name": "S", "region": "a"}],
    supply=[("s", "suit", 10)],
    regions=regions(("a", ""), ("b", "")),
    demand=[{"region": r, "family": "suit", "quantity": 10} for r in "ab"],
    routes=[("s", "a", 1), ("s", "b", 2)],
)


def what_if(kw, *exprs):
    base_inst = instance(**kw)
    changed = apply_changes(base_inst, parse_changes(list(exprs)))
    base, new = allocator.solve(base_inst), allocator.solve(changed.instance)
    check_invariants(base_inst, base)
    check_invariants(changed.instance, new)
    return changed, base, new, compare(base, new)


def terms(diff) -> dict:
    return {t: (b, w, c) for t, b, w, c in diff.terms.itertuples(index=False)}


def rows(frame: pd.DataFrame, cols: list[str]) -> list[tuple]:
    return [tuple(r) for r in frame[cols].itertuples(index=False)]


def test_added_supply_removes_the_named_shortfall():
    """Base: A (w 8) first gets 6 from S1 at cost 5; B gets the other 4 at cost 1: B short 4,
    weighted shortfall 1 x 4 = 4, route cost 30 + 4 = 34.

    What-if `supply:s2:suit+=4` creates S2's row (0 -> 4). S2 reaches only B: B gets 8 (4 from S1
    at 1, 4 from S2 at 2), no shortfall; route cost 30 + 4 + 8 = 42. The only shipment that
    changes is S2 -> B (0 -> 4); the only demand row that changes is B (4 -> 8, 50% -> 100%).
    """
    changed, base, new, diff = what_if(PRIORITY, "supply:s2:suit+=4")
    assert rows(changed.changes, ["set", "change", "before", "after"]) == [
        ("supply:s2:suit+=4", "supply s2 suit", "0 (no row)", "4")
    ]
    t = terms(diff)
    assert t["weighted_shortfall"] == (4, 0, -4)
    assert t["route_cost"] == (34, 42, 8)
    assert t["supply"] == (10, 14, 4) and t["delivered"] == (10, 14, 4) and t["shortfall"] == (4, 0, -4)
    assert t["shipments"] == (2, 3, 1)
    assert t["fill_rate"] == pytest.approx((10 / 14, 1.0, 4 / 14))
    assert rows(
        diff.shipments, ["source", "region", "product", "base_quantity", "whatif_quantity", "quantity_change"]
    ) == [("s2", "b", "suit", 0, 4, 4)]
    assert rows(
        diff.fill,
        [
            "region",
            "family",
            "use",
            "base_demand",
            "whatif_demand",
            "base_delivered",
            "whatif_delivered",
            "delivered_change",
            "base_fill_rate",
            "whatif_fill_rate",
            "fill_rate_change",
        ],
    ) == [("b", "suit", "general", 8, 8, 4, 8, 4, 0.5, 1.0, 0.5)]
    # Tier of weight 1 (tier 2 on both sides) filled from 4 of 8 to 8 of 8; weight 8 did not change.
    assert rows(
        diff.tiers, ["weight", "base_tier", "whatif_tier", "base_delivered", "whatif_delivered", "fill_rate_change"]
    ) == [(1, 2, 2, 4, 8, 0.5)]
    assert diff.status == {"base": "optimal", "whatif": "optimal"}


def test_set_demand_and_a_new_demand_row():
    """`demand:b:suit=2`: A 6 + B 2 = 8 of S1's 10; nobody short; route cost 30 + 2 = 32; S1 -> B
    goes from 4 to 2. `demand:b:suit:icu=3` creates an ICU row: no ICU-grade suit exists, so it is
    all short at weight 1 x icu 4 = 4: weighted shortfall 0 + 3 x 4 = 12."""
    changed, base, new, diff = what_if(PRIORITY, "demand:b:suit=2", "demand:b:suit:icu=3")
    t = terms(diff)
    assert t["weighted_shortfall"] == (4, 12, 8)
    assert t["route_cost"] == (34, 32, -2)
    assert t["demand"] == (14, 11, -3)
    assert rows(diff.shipments, ["source", "region", "base_quantity", "whatif_quantity"]) == [("s1", "b", 4, 2)]
    fill = diff.fill.set_index(["region", "use"])
    assert list(fill.index) == [("b", "general"), ("b", "icu")]
    general = fill.loc[("b", "general")]
    assert (general["base_demand"], general["whatif_demand"]) == (8, 2)
    assert (general["base_delivered"], general["whatif_delivered"]) == (4, 2)
    assert (general["base_fill_rate"], general["whatif_fill_rate"]) == (0.5, 1.0)
    icu = fill.loc[("b", "icu")]  # only in the what-if: no weight or fill rate in the base
    assert math.isnan(icu["base_weight"]) and icu["whatif_weight"] == 4
    assert (icu["base_demand"], icu["whatif_demand"], icu["whatif_delivered"]) == (0, 3, 0)
    assert math.isnan(icu["base_fill_rate"]) and icu["whatif_fill_rate"] == 0
    assert rows(changed.changes, ["before", "after"]) == [("8", "2"), ("0 (no row)", "3")]


def test_raising_a_weight_moves_the_scarce_units():
    """Base: A and B weigh 1 each; 10 units for 20 of demand: equity splits 5 / 5, route cost
    5 x 1 + 5 x 2 = 15, weighted shortfall 10.

    `weight:b=3`: B's shortfall now weighs 3, so B gets all 10 (cost 20) and A none; weighted
    shortfall 10 x 1 = 10 (unchanged). Shipments S -> A 5 -> 0, S -> B 5 -> 10. Tiers by weight:
    weight 3 appears (tier 1, 10 of 10), weight 1 drops to A alone (0 of 10)."""
    changed, base, new, diff = what_if(EVEN, "weight:b=3")
    assert rows(changed.changes, ["change", "before", "after"]) == [("weight of b", "1", "3")]
    t = terms(diff)
    assert t["weighted_shortfall"] == (10, 10, 0) and t["route_cost"] == (15, 20, 5)
    assert rows(diff.shipments, ["source", "region", "base_quantity", "whatif_quantity", "quantity_change"]) == [
        ("s", "a", 5, 0, -5),
        ("s", "b", 5, 10, 5),
    ]
    assert rows(diff.fill, ["region", "base_weight", "whatif_weight", "base_delivered", "whatif_delivered"]) == [
        ("a", 1, 1, 5, 0),
        ("b", 1, 3, 5, 10),
    ]
    tiers = diff.tiers
    assert list(tiers["weight"]) == [3, 1]
    top = tiers.iloc[0]
    assert pd.isna(top["base_tier"]) and top["whatif_tier"] == 1 and top["whatif_fill_rate"] == 1.0
    low = tiers.iloc[1]
    assert (low["base_rows"], low["whatif_rows"], low["base_delivered"], low["whatif_delivered"]) == (2, 1, 10, 0)
    assert (low["base_fill_rate"], low["whatif_fill_rate"], low["fill_rate_change"]) == (0.5, 0.0, -0.5)


def test_a_priority_flag_moves_the_scarce_units_and_removing_it_moves_them_back():
    """`flags:a+=port_of_entry` gives A weight 4 > B's 1: A gets all 10 at cost 10 (base 5 / 5 at
    cost 15). Then `flags:a-=port_of_entry` restores the base: no change at all."""
    changed, base, new, diff = what_if(EVEN, "flags:a+=port_of_entry")
    assert rows(changed.changes, ["before", "after"]) == [("none", "port_of_entry")]
    assert terms(diff)["route_cost"] == (15, 10, -5)
    assert rows(diff.shipments, ["region", "base_quantity", "whatif_quantity"]) == [("a", 5, 10), ("b", 5, 0)]
    assert rows(diff.fill, ["region", "base_weight", "whatif_weight", "whatif_delivered"]) == [
        ("a", 1, 4, 10),
        ("b", 1, 1, 0),
    ]
    _, _, _, back = what_if(EVEN, "flags:a+=port_of_entry,border_port", "flags:a-=port_of_entry,border_port")
    assert back.shipments.empty and back.fill.empty and back.tiers.empty
    assert (back.terms["change"] == 0).all()


def test_changes_apply_in_order_and_a_policy_value_can_change():
    """`supply:s:suit=20` then `-=6`: 14 units for 20 of demand, shared 7 / 7 (cost 7 + 14 = 21).
    `policy:equity=off` drops the fair split: the cheapest plan fills A (10 at 1) and gives B 4
    (at 2): cost 18."""
    changed, _, new, diff = what_if(EVEN, "supply:s:suit=20", "supply:s:suit-=6")
    assert rows(changed.changes, ["before", "after"]) == [("10", "20"), ("20", "14")]
    assert rows(diff.shipments, ["region", "whatif_quantity"]) == [("a", 7), ("b", 7)]
    assert terms(diff)["route_cost"] == (15, 21, 6)
    changed, _, new, diff = what_if(EVEN, "supply:s:suit=+4", "policy:equity=off")
    assert rows(changed.changes, ["change", "before", "after"]) == [
        ("supply s suit", "10", "14"),
        ("policy equity", "on", "off"),
    ]
    assert rows(diff.shipments, ["region", "whatif_quantity"]) == [("a", 10), ("b", 4)]
    assert terms(diff)["route_cost"] == (15, 18, 3)


def test_no_change_gives_the_same_tables():
    """Applying nothing gives back the same tables (through the validation again) and the same plan."""
    inst = instance(**PRIORITY)
    same = apply_changes(inst, []).instance
    for table in ("products", "sources", "supply", "regions", "demand", "routes"):
        pd.testing.assert_frame_equal(
            getattr(inst, table).drop(columns="_row"), getattr(same, table).drop(columns="_row")
        )
    assert same.policy == inst.policy and same.name == "instance (what-if)"
    diff = compare(allocator.solve(inst), allocator.solve(same))
    assert diff.fill.empty and diff.shipments.empty and diff.tiers.empty and (diff.terms["change"] == 0).all()


def test_a_weight_from_the_policy_is_refused_with_the_key_to_change():
    inst = instance(policy=allocator.Policy().with_overrides(["region_weight.b=5"]), **EVEN)
    with pytest.raises(allocator.InstanceError) as exc:
        apply_changes(inst, ["weight:b=3"])
    assert (
        "--set 'weight:b=3': region 'b' takes its weight 5 from the policy's [region_weight], which "
        "replaces regions.csv's: expected policy:region_weight.b=W"
    ) in str(exc.value)


BAD = [
    ("supply:nowhere:suit=5", "unknown source 'nowhere': expected a source id from sources.csv"),
    ("supply:s:siut=5", "unknown product 'siut' (did you mean 'suit'?): expected a product id from products.csv"),
    ("demand:z:suit=5", "unknown region 'z': expected a region id from regions.csv"),
    ("demand:a:gown=5", "unknown family 'gown': expected a family id from products.csv"),
    ("demand:a:suit:ward=5", "unknown use 'ward': expected one of general, icu"),
    ("suply:s:suit=5", "unknown table 'suply' (did you mean 'supply'?): expected supply:SOURCE:PRODUCT"),
    ("supply:s:suit=lots", "'lots' is not a number: expected supply:SOURCE:PRODUCT=N, +=N or -=N"),
    ("supply:s:suit", "no '=': expected supply:SOURCE:PRODUCT"),
    ("supply:s=5", "1 id(s) after 'supply:': expected supply:SOURCE:PRODUCT=N"),
    ("supply:s:suit-=11", "would make the supply of 'suit' at 's' -1 (10 - 11): expected 0 or more"),
    ("supply:s:suit=2.5", "would make the supply of 'suit' at 's' 2.5, but it is countable: expected a whole number"),
    ("weight:a=0", "weight 0 is out of range: expected weight:REGION=W with W more than 0"),
    ("weight:a+=2", "a weight is set, not added to or taken from: expected weight:REGION=W"),
    ("flags:a+=red_zone", "unknown flag 'red_zone': expected any of level_one_response, port_of_entry"),
    ("flags:a-=export", "region 'a' has no flag 'export' (its flags: none): expected one of its flags"),
    ("policy:weights.icu=-1", "weights.icu must be a finite number more than 0"),
    (
        "policy:region_weight.z=2",
        "the changed instance is not valid: policy, column 'region_weight': unknown region(s) z",
    ),
]


@pytest.fixture
def even_folder(tmp_path):
    return write_folder(tmp_path / "even", frames(**EVEN))


@pytest.mark.parametrize("expr, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_expression_exits_2_naming_it(even_folder, capsys, expr, message):
    code, text = run_cli(capsys, "solve", str(even_folder), "--set", expr)
    assert code == 2
    assert f"error: --set {expr!r}: {message}" in text
    assert "Changes (--set)" not in text  # nothing was solved or printed


def test_every_bad_expression_is_listed_at_once(even_folder, capsys):
    code, text = run_cli(capsys, "solve", str(even_folder), "--set", "supply:s=1", "--set", "weight:a=x")
    assert code == 2 and "--set 'supply:s=1'" in text and "--set 'weight:a=x'" in text
    assert "2 error(s)" in text


def test_set_with_hierarchy_is_refused(even_folder, capsys):
    code, text = run_cli(capsys, "solve", str(even_folder), "--set", "weight:b=3", "--hierarchy")
    assert code == 2 and "--set compares two flat solves; it does not go with --hierarchy" in text


def test_text_output_and_the_what_if_plan_written(tmp_path, capsys):
    """The text names each change and shows the hand-checked differences; --output writes the
    what-if plan (S2 -> B ships 4), named as the what-if, never the base plan."""
    folder = write_folder(tmp_path / "priority", frames(**PRIORITY))
    out = tmp_path / "plan"
    code, text = run_cli(capsys, "solve", str(folder), "--set", "supply:s2:suit+=4", "--output", str(out))
    assert code == 0
    assert text.startswith("allocator: priority: what-if, 1 change(s); base optimal, what-if optimal")
    lines = text.splitlines()
    assert any(line.split() == ["supply:s2:suit+=4", "supply", "s2", "suit", "0", "(no", "row)", "4"] for line in lines)
    assert any(line.split() == ["weighted", "shortfall", "4", "0", "-4"] for line in lines)
    assert any(line.split() == ["route", "cost", "34", "42", "+8"] for line in lines)
    assert any(
        line.split() == ["b", "suit", "general", "1", "8", "4", "->", "8", "+4", "50.0%", "->", "100.0%"]
        for line in lines
    )
    assert any(line.split() == ["s2", "b", "suit", "0", "->", "4", "+4"] for line in lines)
    assert "s1  " not in text.split("Shipments that changed", 1)[1]  # S1's shipments did not change
    assert "wrote the what-if plan:" in text
    dispatch = pd.read_csv(out / "dispatch.csv")
    assert rows(dispatch, ["source", "region", "quantity"]) == [("s1", "a", 6), ("s1", "b", 4), ("s2", "b", 4)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["instance"] == "priority (what-if)" and summary["totals"]["delivered"] == 14


def test_json_has_the_change_tables(even_folder, capsys):
    code, text = run_cli(capsys, "solve", str(even_folder), "--set", "weight:b=3", "--format", "json")
    assert code == 0
    data = json.loads(text)
    assert set(data) >= {"changes", "status", "terms", "tiers", "fill", "shipments", "new_warnings"}
    assert data["changes"] == [{"set": "weight:b=3", "change": "weight of b", "before": "1", "after": "3"}]
    assert {"term": "route_cost", "base": 15, "whatif": 20, "change": 5} in data["terms"]
    assert [(s["region"], s["base_quantity"], s["whatif_quantity"]) for s in data["shipments"]] == [
        ("a", 5, 0),
        ("b", 5, 10),
    ]
    assert data["tiers"][0]["weight"] == 3 and data["tiers"][0]["base_tier"] is None
    assert "timings_s" not in text


def test_a_new_unreachable_demand_row_is_warned_about(tmp_path, capsys):
    folder = write_folder(tmp_path / "priority", frames(**PRIORITY))
    code, text = run_cli(capsys, "solve", str(folder), "--set", "demand:b:suit:icu=3")
    assert code == 0
    assert "new warning in the what-if data:" in text and "no ICU-grade supply of family 'suit'" in text


def test_same_command_twice_same_bytes(even_folder):
    """Two processes, the same what-if: byte-identical standard output (no timings in it)."""
    cmd = [
        sys.executable,
        "-m",
        "allocator",
        "solve",
        str(even_folder),
        "--set",
        "weight:b=3",
        "--set",
        "supply:s:suit+=5",
    ]
    first, second = (subprocess.run(cmd, check=True, capture_output=True).stdout for _ in range(2))
    assert first == second and b"Shipments that changed" in first
    cmd.extend(["--format", "json"])
    first, second = (subprocess.run(cmd, check=True, capture_output=True).stdout for _ in range(2))
    assert first == second
