"""The reconstructed national instance: its plan passes every check and agrees with the
independent PuLP/CBC path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference import pulp_reference
from test_hand_cases import check_invariants

import allocator

ROOT = Path(__file__).resolve().parents[1]
SUITS = ROOT / "instances" / "suits-2020-02-05"


@pytest.fixture(scope="module")
def suits():
    return allocator.load(SUITS)


def test_instance_is_valid_and_national(suits):
    assert len(suits.regions) == 31
    assert suits.supply.loc[suits.supply["product"] == "gb_suit", "quantity"].sum() == 42_700
    assert not [w for w in suits.warnings if w.severity == "error"]


def test_plan_verified_and_agrees_with_reference(suits):
    res = allocator.solve(suits)
    check_invariants(suits, res)
    ver = allocator.verify(suits, res.plan, reference=res)
    assert ver.ok, ver.violations
    ref = pulp_reference(suits)
    assert res.objective["weighted_shortfall"] == pytest.approx(ref["weighted_shortfall"], abs=1e-6)
    assert res.objective["route_cost"] == pytest.approx(ref["route_cost"], rel=1e-9)
    qty = suits.demand["quantity"].to_numpy()
    np.testing.assert_allclose(res.fair_fill * qty, ref["fair_fill"] * qty, atol=1e-3)
    # ICU-grade suits only where ICU demand is.
    alloc = res.plan.allocation
    assert set(alloc.loc[alloc["product"] == "gb_suit", "use"]) <= {"icu"}
