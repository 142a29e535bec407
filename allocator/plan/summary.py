"""Plan: the one summary schema of ``solve``, ``plan`` and ``replay`` (``summary.json``, ``--format json``).

Every summary has the same top-level keys, whatever made it:

- ``kind``: ``day`` (``allocator solve``), ``plan`` (``allocator plan``) or ``replay``;
- ``instance``, ``days`` (the days planned or committed; ``[]`` for one undated day), ``policy``;
- ``status``: ``optimal``, or ``time_limit`` when the limit stopped a solve (the plan is the best
  found; ``objective.weighted_shortfall_bound`` is a proven bound and ``objective.weighted_shortfall_gap``
  the plan's distance to it);
- ``method``: how whole units were reached (``lp``, ``mip``, ``rounded``, ``greedy``; a replay names
  its most escalated morning and counts them all in ``methods``), ``solver`` (the engines that ran);
- ``objective``: ``weighted_shortfall`` and ``route_cost`` always, then what the family adds
  (fairness, side constraints, substitution, stability, the bound);
- ``totals``: ``demand``, ``delivered``, ``shortfall``, ``fill_rate``, ``shipments`` always;
- ``by_tier``: one record per priority tier (``tier``, ``weight``, ``demand``, ``delivered``,
  ``shortfall``, ``fill_rate``, ...);
- ``lp_solves``, ``timings_s``.

``SCHEMA`` is that contract as JSON Schema (draft 2020-12); ``check_summary`` checks a summary
against it without a JSON Schema library (the tests run it on every kind).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.numbers import json_number

__all__ = ["KINDS", "SCHEMA", "check_summary", "tier_records"]

KINDS = ("day", "plan", "replay")
_NUMBER = {"type": "number"}
SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "allocator summary (solve, plan, replay)",
    "type": "object",
    "required": [
        "kind",
        "instance",
        "days",
        "status",
        "method",
        "solver",
        "policy",
        "objective",
        "totals",
        "by_tier",
        "lp_solves",
        "timings_s",
    ],
    "properties": {
        "kind": {"enum": list(KINDS)},
        "instance": {"type": "string"},
        "days": {"type": "array", "items": {"type": "string"}},
        "status": {"enum": ["optimal", "time_limit"]},
        "method": {"enum": ["lp", "mip", "rounded", "greedy"]},
        "solver": {"type": "string"},
        "policy": {"type": "object"},
        "objective": {
            "type": "object",
            "required": ["weighted_shortfall", "route_cost"],
            "properties": {
                "weighted_shortfall": _NUMBER,
                "route_cost": _NUMBER,
                "weighted_shortfall_bound": _NUMBER,
                "weighted_shortfall_gap": _NUMBER,
            },
        },
        "totals": {
            "type": "object",
            "required": ["demand", "delivered", "shortfall", "fill_rate", "shipments"],
            "properties": {k: _NUMBER for k in ("demand", "delivered", "shortfall", "fill_rate", "shipments")},
        },
        "by_tier": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tier", "weight", "demand", "delivered", "shortfall", "fill_rate"],
                "properties": {k: _NUMBER for k in ("tier", "weight", "demand", "delivered", "shortfall", "fill_rate")},
            },
        },
        "lp_solves": {"type": "integer"},
        "timings_s": {"type": "object", "additionalProperties": _NUMBER},
    },
}


def tier_records(by_tier: pd.DataFrame) -> list[dict]:
    """A tier table as JSON records: whole numbers as ints, others to 6 decimals."""
    return [
        {k: json_number(v) if isinstance(v, (float, np.floating, np.integer)) else v for k, v in rec.items()}
        for rec in by_tier.to_dict("records")
    ]


def check_summary(summary: dict) -> list[str]:
    """Where ``summary`` breaks ``SCHEMA`` (empty: it meets it): required keys, enums and types."""
    problems: list[str] = []
    _check(summary, SCHEMA, "summary", problems)
    return problems


def _check(value, spec: dict, where: str, problems: list[str]) -> None:
    kind = spec.get("type")
    if "enum" in spec and value not in spec["enum"]:
        problems.append(f"{where}: {value!r} is not one of {spec['enum']}")
        return
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }
    if kind is not None and not checks[kind](value):
        problems.append(f"{where}: expected {kind}, found {type(value).__name__}")
        return
    if kind == "object":
        for key in spec.get("required", ()):
            if key not in value:
                problems.append(f"{where}: missing {key!r}")
        for key, sub in spec.get("properties", {}).items():
            if key in value:
                _check(value[key], sub, f"{where}.{key}", problems)
        extra = spec.get("additionalProperties")
        if isinstance(extra, dict):
            for key, v in value.items():
                if key not in spec.get("properties", {}):
                    _check(v, extra, f"{where}.{key}", problems)
    elif kind == "array" and "items" in spec:
        for i, item in enumerate(value):
            _check(item, spec["items"], f"{where}[{i}]", problems)
