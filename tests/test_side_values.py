"""Explanations of plans with side constraints (``explain.side_values``), checked by other solves.

- A source's value is ``W*(supply) - W*(supply + 1)``: checked by solving the instance again
  with one more unit in ``supply.csv``.
- A not_sent line's reason is checked by asking for that unit: a contract (``commitments.csv``)
  of one more unit on the route. ``higher_weight``: the least weighted shortfall rises;
  ``equal_weight``: it does not; ``designated``, ``capacity``, ``side_limit``: no plan can
  (the independent PuLP + CBC statement, ``reference_side``, is infeasible).
"""

from __future__ import annotations

import pandas as pd
import pytest
from reference_side import side_reference
from test_constrained import _with_sides, small

import allocator
from allocator import Instance
from allocator.errors import ConflictError

FRAMES = ("products", "sources", "supply", "regions", "demand", "routes", "capacity", "commitments")


def frames_of(inst: Instance) -> dict:
    return {k: getattr(inst, k).drop(columns="_row") for k in FRAMES if getattr(inst, k) is not None}


def cases():
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    corridor = pd.DataFrame({"corridor": ["east"], "measure": ["units"], "capacity": [250]})
    designated = pd.DataFrame({"source": ["s1"], "region": ["a"], "product": ["mask"], "kind": ["designated"]})
    lots = pd.DataFrame({"product": ["mask", "suit"], "min_lot": [150, 0]})
    limited = pd.DataFrame(
        {"source": ["s1", "s2"], "name": ["S1", "S2"], "region": ["a", "b"], "max_destinations": [1, None]}
    )
    yield "pallets", small(capacity=cap)
    yield "corridor", small(capacity=corridor)
    yield "designated", small(commitments=designated)
    yield "lots+destinations", small(products=lots, sources=limited)
    for seed in (4, 1, 10):  # an LP plan, a MIP with lots, a MIP with equity
        yield f"random{seed}", _with_sides(seed, equity=seed % 2 == 0, lots=seed % 2 == 1)


CASES = list(cases())


def _solve(inst, explain=False):
    try:
        return allocator.solve(inst, explain=explain)
    except ConflictError:
        return None


@pytest.mark.parametrize("name,inst", CASES, ids=[c[0] for c in CASES])
def test_source_values_are_what_one_more_unit_saves(name, inst):
    r = _solve(inst, explain=True)
    assert r is not None
    assert r.marginal is not None and "re-solves" in r.objective["explanations"]
    w = r.objective["weighted_shortfall"]
    f = frames_of(inst)
    for rec in r.marginal.loc[r.marginal["kind"] == "source"].itertuples(index=False):
        supply = f["supply"].copy()
        at = (supply["source"] == rec.source) & (supply["product"] == rec.product)
        supply.loc[at, "quantity"] += 1
        more = allocator.solve(allocator.from_frames(policy=inst.policy, **{**f, "supply": supply}), explain=False)
        assert w - more.objective["weighted_shortfall"] == pytest.approx(rec.value, abs=1e-6), (rec.source, rec.product)


@pytest.mark.parametrize("name,inst", CASES, ids=[c[0] for c in CASES])
def test_every_not_sent_reason_is_the_true_one(name, inst):
    r = _solve(inst, explain=True)
    assert r is not None
    w = r.objective["weighted_shortfall"]
    f = frames_of(inst)
    lines = r.accounts.loc[r.accounts["line"] == "not_sent"]
    assert len(lines) or name.startswith("random")
    for rec in lines.itertuples(index=False):
        com = f.get("commitments", pd.DataFrame(columns=["source", "region", "product", "minimum", "kind"]))
        own = (com["source"] == rec.source) & (com["region"] == rec.region) & (com["product"] == rec.product)
        ask = pd.DataFrame(
            {
                "source": [rec.source],
                "region": [rec.region],
                "product": [rec.product],
                "minimum": [rec.quantity + 1],
                "kind": ["contract"],
            }
        )
        if own.any():  # a designated row for this route: keep it, raise its minimum
            com = com.copy()
            com.loc[own, "minimum"] = rec.quantity + 1
        else:
            com = pd.concat([com, ask], ignore_index=True)
        asked = allocator.from_frames(policy=inst.policy, **{**f, "commitments": com})
        if rec.why in ("designated", "capacity", "side_limit"):
            # No plan sends it: the independent statement (PuLP + CBC) is infeasible.
            assert side_reference(asked) is None, (rec.source, rec.region, rec.why)
            continue
        forced = _solve(asked)
        if rec.why == "higher_weight":
            assert forced is not None and forced.objective["weighted_shortfall"] > w + 1e-9, rec
        else:
            assert rec.why == "equal_weight"
            assert forced is not None and forced.objective["weighted_shortfall"] == pytest.approx(w, abs=1e-9)


def test_accounts_name_the_side_limit_and_sum_to_the_plan():
    cap = pd.DataFrame({"source": ["s1"], "measure": ["pallets"], "capacity": [5.35]})
    r = allocator.solve(small(capacity=cap))
    acc = r.accounts.set_index(["source", "product", "line"])
    assert acc.loc[("s1", "suit", "total"), "why"] == "equal_weight"
    line = r.accounts.query("source == 's1' and product == 'suit' and line == 'not_sent'")
    # One more suit (5 saved) needs 0.1 pallet; 0.05 is free, the rest is 5 masks to a (w 1): 5 lost.
    assert line["why"].tolist() == ["equal_weight"]
    assert (
        line["reason"]
        .iloc[0]
        .startswith("capacity.csv row 2 full (5.35 pallets from s1): one more unit here costs no weighted shortfall")
    )
    # Where the output went: the sent lines add up to the dispatch.
    sent = r.accounts.loc[r.accounts["line"] == "sent"].groupby(["source", "product"])["quantity"].sum()
    shipped = r.plan.dispatch.groupby(["source", "product"])["quantity"].sum()
    pd.testing.assert_series_equal(sent.sort_index(), shipped.sort_index(), check_names=False)
    # One more suit at s1 saves nothing (no room on the trucks); one more suit arriving in b saves 5.
    m = r.marginal.set_index(["kind", "region", "source", "product"])["value"]
    assert m[("source", "", "s1", "suit")] == 0 and m[("region", "b", "", "suit")] == 5


def test_lot_reason_and_budget(monkeypatch):
    lots = pd.DataFrame({"product": ["mask", "suit"], "min_lot": [150, 0]})
    r = allocator.solve(small(products=lots))
    line = r.accounts.query("source == 's2' and line == 'not_sent'")
    assert (line["why"] == "side_limit").all() and line["reason"].str.contains("minimum lot of 150").all()
    import allocator.explain.side_values as side_values

    monkeypatch.setattr(side_values, "MAX_SOLVES_MIP", 3)
    r = allocator.solve(small(products=lots))
    assert r.marginal is None and r.objective["explanations"].startswith("not computed:")
