"""Property-based tests (hypothesis), derandomised so that CI sees the same cases each run.

* Over generated valid instances: every plan passes ``verify`` (optimality included) and
  its least weighted shortfall (and, without equity, its route cost) equals networkx's
  network simplex on an independent formulation.
* Over generated corruptions of a valid folder: a clear message naming the file (and the
  row and column where there is one), exit code 2, never a traceback.
The counts are printed at the end of the run (``conftest.py``).
"""

from __future__ import annotations

import io
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import COUNTS
from helpers import instance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import networkx_reference
from test_hand_cases import check_invariants
from test_validation import VALID

import allocator
from allocator.cli.main import main
from allocator.inputs.policy import Policy

SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PRODUCTS = [
    {"product": "gb", "family": "suit", "grade": "icu"},
    {"product": "em", "family": "suit", "grade": "general"},
    {"product": "mask", "family": "mask", "grade": "general"},
]
FLAGS = ["", "level_one_response", "port_of_entry", "border_port", "medium_risk", "port_of_entry;border_port"]


@st.composite
def instances(draw):
    n_s = draw(st.integers(1, 4))
    n_r = draw(st.integers(1, 5))
    regions = [
        {
            "region": f"r{r}",
            "name": f"R{r}",
            "flags": draw(st.sampled_from(FLAGS)),
            "weight": draw(st.sampled_from([None, None, 1, 2, 3])),
        }
        for r in range(n_r)
    ]
    sources = [{"source": f"s{s}", "name": f"S{s}", "region": f"r{draw(st.integers(0, n_r - 1))}"} for s in range(n_s)]
    supply = [
        (f"s{s}", p["product"], draw(st.integers(1, 40))) for s in range(n_s) for p in PRODUCTS if draw(st.booleans())
    ]
    if not supply:
        supply = [("s0", "em", 1)]
    demand = []
    for r in range(n_r):
        for fam, uses in (("suit", ("icu", "general")), ("mask", ("general",))):
            for use in uses:
                if draw(st.booleans()):
                    demand.append({"region": f"r{r}", "family": fam, "use": use, "quantity": draw(st.integers(0, 50))})
    if not demand:
        demand = [{"region": "r0", "family": "suit", "use": "general", "quantity": 5}]
    routes = []
    for s in range(n_s):
        for r in range(n_r):
            if draw(st.integers(0, 3)) > 0:
                cap = draw(st.one_of(st.none(), st.integers(0, 30)))
                routes.append({"source": f"s{s}", "region": f"r{r}", "cost": draw(st.integers(0, 60)), "capacity": cap})
    if not routes:
        routes = [{"source": "s0", "region": "r0", "cost": 1, "capacity": None}]
    policy = Policy().with_overrides({"equity": draw(st.booleans()), "icu_grade_for_general": draw(st.booleans())})
    return instance(
        policy=policy, products=PRODUCTS, sources=sources, supply=supply, regions=regions, demand=demand, routes=routes
    )


@settings(max_examples=80, **SETTINGS)
@given(instances())
def test_every_plan_verifies_and_matches_network_simplex(inst):
    res = allocator.solve(inst)
    check_invariants(inst, res)
    ver = allocator.verify(inst, res.plan, reference=res)
    assert ver.ok, ver.violations
    ref = networkx_reference(inst)
    assert res.objective["weighted_shortfall"] == pytest.approx(ref["weighted_shortfall"], abs=1e-6)
    if not inst.policy.equity:
        assert res.objective["route_cost"] == pytest.approx(ref["route_cost"], abs=1e-6)
    COUNTS["valid"] += 1


# --- corruptions ---------------------------------------------------------------------------

FILES = ["products.csv", "sources.csv", "supply.csv", "regions.csv", "demand.csv"]
NUMERIC = {"supply.csv": "quantity", "demand.csv": "quantity"}


def _rows(text):
    lines = text.strip("\n").split("\n")
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _join(header, rows, end="\n"):
    return end.join([",".join(header)] + [",".join(r) for r in rows]) + end


@st.composite
def corruptions(draw):
    """(kind, files, what the message must name)."""
    files = dict(VALID)
    kind = draw(
        st.sampled_from(
            [
                "missing column",
                "non-numeric",
                "negative",
                "nan",
                "huge",
                "duplicate id",
                "dangling reference",
                "empty file",
                "header only",
                "stray delimiter",
                "mixed line endings",
                "missing file",
            ]
        )
    )
    name = draw(st.sampled_from(FILES))
    header, rows = _rows(files[name])
    r = draw(st.integers(0, len(rows) - 1))
    expect = [name]
    if kind == "missing column":
        c = draw(st.integers(0, len(header) - 1))
        header = header[:c] + header[c + 1 :]
        rows = [row[:c] + row[c + 1 :] for row in rows]
        files[name] = _join(header, rows)  # dropping an optional column leaves the file valid
    elif kind in ("non-numeric", "negative", "nan", "huge"):
        name = draw(st.sampled_from(sorted(NUMERIC)))
        header, rows = _rows(files[name])
        r = draw(st.integers(0, len(rows) - 1))
        c = header.index(NUMERIC[name])
        value = {
            "non-numeric": draw(st.sampled_from(["abc", "12kg", "--", "1.2.3", "一百"])),
            "negative": str(-draw(st.integers(1, 10**6))),
            "nan": draw(st.sampled_from(["NaN", "nan", "inf"])),
            "huge": draw(st.sampled_from(["1e300", "1e13", "9" * 20])),
        }[kind]
        rows[r][c] = value
        files[name] = _join(header, rows)
        expect = [name, f"row {r + 2}", f"column '{NUMERIC[name]}'"]
    elif kind == "duplicate id":
        name = draw(st.sampled_from(["products.csv", "sources.csv", "regions.csv", "supply.csv"]))
        header, rows = _rows(files[name])
        r = draw(st.integers(0, len(rows) - 1))
        rows.append(list(rows[r]))
        files[name] = _join(header, rows)
        expect = [name, f"row {len(rows) + 1}", "duplicate"]
    elif kind == "dangling reference":
        name, col = draw(
            st.sampled_from(
                [
                    ("supply.csv", "source"),
                    ("supply.csv", "product"),
                    ("sources.csv", "region"),
                    ("demand.csv", "region"),
                    ("demand.csv", "family"),
                ]
            )
        )
        header, rows = _rows(files[name])
        r = draw(st.integers(0, len(rows) - 1))
        rows[r][header.index(col)] = draw(st.sampled_from(["nowhere", "x9", "湖南省"]))
        files[name] = _join(header, rows)
        expect = [name, f"row {r + 2}", f"column '{col}'"]
    elif kind == "empty file":
        files[name] = ""
        expect = [name, "empty"]
    elif kind == "header only":
        files[name] = ",".join(header) + "\n"
        expect = [name, "no rows"]
    elif kind == "stray delimiter":
        rows[r] = rows[r] + ["", "x"]
        files[name] = _join(header, rows)
        expect = [name, f"row {r + 2}", "fields"]
    elif kind == "mixed line endings":
        text = _join(header, rows)
        files[name] = text.replace("\n", "\r\n", 1)  # first line CRLF, the rest LF: still valid
        expect = None
    elif kind == "missing file":
        files[name] = None
        expect = [name, "missing"]
    return kind, files, expect


def _cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


@settings(max_examples=150, **SETTINGS)
@given(corruptions())
def test_corrupted_inputs_get_a_clear_message(case):
    kind, files, expect = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "inst"
        folder.mkdir()
        for name, text in files.items():
            if text is not None:
                (folder / name).write_text(text, encoding="utf-8", newline="")
        for command in ("validate", "solve"):
            code, text = _cli(command, str(folder))
            assert "Traceback" not in text
            if expect is None or (kind == "missing column" and code == 0):
                # Still valid (mixed line endings; an optional column dropped): it must solve.
                assert code == 0, text
                accepted = True
                continue
            accepted = False
            assert code == 2, (kind, text)
            error_lines = [line for line in text.splitlines() if line.startswith("error:")]
            assert any(all(e in line for e in expect) for line in error_lines), (kind, expect, text)
    COUNTS[f"corrupt:{kind}"] += 1
    COUNTS["accepted"] += accepted


def test_corruption_kinds_are_all_exercised():
    """Run after the property test in file order: every kind was generated at least once."""
    kinds = {k for k in COUNTS if k.startswith("corrupt:")}
    if kinds:  # only meaningful when the property test ran in this session
        assert len(kinds) >= 11, kinds
