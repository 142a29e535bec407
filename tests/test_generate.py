"""``allocator generate``: reproducible from a seed, valid, at the promised sizes, solvable."""

from __future__ import annotations

from helpers import run_cli
from test_hand_cases import check_invariants

import allocator
from allocator.tools.generate import SCALES, generate, write_instance


def test_same_seed_same_bytes_other_seed_other_instance(tmp_path):
    a = write_instance(generate("province", 7), tmp_path / "a")
    b = write_instance(generate("province", 7), tmp_path / "b")
    c = write_instance(generate("province", 8), tmp_path / "c")
    for name in ("products", "sources", "supply", "regions", "demand", "routes"):
        assert (a / f"{name}.csv").read_bytes() == (b / f"{name}.csv").read_bytes(), name
    assert (a / "supply.csv").read_bytes() != (c / "supply.csv").read_bytes()


def test_province_scale_is_valid_and_solves(tmp_path, capsys):
    out = tmp_path / "prov"
    code, text = run_cli(capsys, "generate", "--scale", "province", "--seed", "3", "--output", str(out))
    assert code == 0 and "32 regions" in text and "200 sources" in text and "38 products" in text
    inst = allocator.load(out)
    assert not [w for w in inst.warnings if w.severity == "error"]
    assert "hubei" in set(inst.regions["region"]) and "xpcc" in set(inst.regions["region"])
    res = allocator.solve(inst, equity=False)
    check_invariants(inst, res)
    assert allocator.verify(inst, res.plan, reference=res).ok
    # The output folder must be new or empty.
    code, text = run_cli(capsys, "generate", "--scale", "province", "--output", str(out))
    assert code == 2 and "not an empty folder" in text


def test_prefecture_scale_sizes_and_hierarchy():
    tables = generate("prefecture", 1)
    spec = SCALES["prefecture"]
    assert len(tables["regions"]) == spec.regions and len(tables["sources"]) == spec.sources
    regions = tables["regions"]
    assert set(regions["parent"]) == set(generate("province", 1)["regions"]["region"])
    assert set(tables["sources"]["region"]) <= set(regions["region"])
    inst = allocator.from_frames(**tables)  # validates
    assert len(inst.demand) > 0
