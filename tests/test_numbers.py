"""The one set of number rules (``allocator.numbers``): CSV cells, JSON, and text.

Each rule is pinned on hand values (the figures a planner met: ``7.68338e+06`` from verify,
``1888560.0000000002`` in JSON), the array path equals the scalar one, and no module of the
package formats a quantity with its own decimal or exponent format spec.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from allocator.numbers import (
    compact_text,
    csv_number,
    csv_numbers,
    figure_text,
    json_number,
    percent_text,
    quantity_text,
    weight_text,
)

PACKAGE = Path(__file__).resolve().parent.parent / "allocator"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7683376.0, "7,683,376"),
        (7683380.25, "7,683,380.25"),
        (1888560.0000000002, "1,888,560"),
        (2.5, "2.5"),
        (46.6, "46.6"),
        (-12.3456, "-12.346"),
        (-0.0, "0"),
        (-0.0001, "-0.0001"),
        (0.0004, "0.0004"),
        (0.000123456, "0.000123"),
        (1e20, "100,000,000,000,000,000,000"),
        (float("nan"), "-"),
        (None, "-"),
    ],
)
def test_quantity_text(value, text):
    assert quantity_text(value) == text
    assert "e" not in quantity_text(value).lower().replace("-", "")


def test_quantity_text_places_and_sign():
    assert quantity_text(1.0004) == "1"
    assert quantity_text(1.0004, 6) == "1.0004"
    assert figure_text(14103747.12) == "14,103,747.12"
    assert figure_text(45.071234) == "45.071234"
    assert quantity_text(26.5, 2) == "26.5"
    assert quantity_text(3, sign=True) == "+3" and quantity_text(-3, sign=True) == "-3"
    assert quantity_text(0.0, sign=True) == "0"
    assert quantity_text(float("nan"), missing="") == ""


def test_csv_and_json_numbers():
    assert [csv_number(v) for v in (True, 3, 3.0, 2.50, 1e-7, 1 / 3, float("nan"), None, "x")] == [
        "true",
        "3",
        "3",
        "2.5",
        "0",
        "0.333333",
        "",
        "",
        "x",
    ]
    assert json.dumps([json_number(v) for v in (1888560.0000000002, 2.5, 1 / 3, 4.0)]) == "[1888560, 2.5, 0.333333, 4]"


def test_the_array_path_equals_the_scalar_one():
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(0, 1e4, 500),
            np.round(rng.normal(0, 1e6, 500)),
            rng.random(200) * 1e-5,
            [np.nan, 0.0, -0.0, 1e15, 1e16, 2**53],
        ]
    )
    assert csv_numbers(values) == [csv_number(float(v)) for v in values]


def test_weights_percentages_and_compact():
    assert [weight_text(w) for w in (32, 0.5, 0.01, 1e-6)] == ["32", "0.5", "0.01", "1e-06"]
    assert percent_text(0.504) == "50.4%" and percent_text(None) == "-" and percent_text(1, 0) == "100%"
    assert [compact_text(v) for v in (99_999, 100_000, 2_345_678, 7.2e9, None)] == [
        "99,999",
        "100 k",
        "2.35 M",
        "7.2 bn",
        "",
    ]


def _format_specs(tree: ast.AST):
    """Every f-string format spec in a module, as text (``,.6g``, ``.1%``, ``,``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = "".join(v.value for v in node.format_spec.values if isinstance(v, ast.Constant))
            yield node.lineno, spec


def test_no_module_formats_quantities_its_own_way():
    """Decimal places and exponent forms for quantities live in ``numbers.py`` only: a format spec
    with thousands separators and decimals (``,.2f``, ``,.6g``) anywhere else is a second rule.
    Timings (``.2f`` s), shares (``.1%``) and integer counts (``,``) are not quantities."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "numbers.py" or rel.startswith("tools/"):  # benchmarks print ratios and seconds
            continue
        for line, spec in _format_specs(ast.parse(path.read_text(encoding="utf-8"))):
            if spec.startswith(",."):
                found.append(f"{rel}:{line}: {{:{spec}}}")
    assert not found, "use allocator.numbers:\n" + "\n".join(found)
