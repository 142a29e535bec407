"""What-if: change supply, demand, a region's weight or flags (or a policy value), then see
what changes in the plan.

``parse_changes(["supply:sanqi:gb_suit+=5000", "flags:hubei-=level_one_response"])`` reads
``--set`` expressions into ``Change`` records; ``apply_changes(instance, changes)`` gives the
changed instance, validated again exactly as a folder is (``report.compare`` gives the tables
of what changed between the two solved plans). Nothing here prints.

Syntax of one expression (ids exactly as in the instance's files; no ``:`` or ``=`` inside them)::

    supply:SOURCE:PRODUCT=N         set the supply of PRODUCT at SOURCE to N
    supply:SOURCE:PRODUCT+=N        add N (=+N too); -=N (or =-N) takes N away
    demand:REGION:FAMILY[:USE]=N    the same for demand; USE is general (default) or icu
    weight:REGION=W                 the region's weight multiplier (regions.csv weight), W > 0
    flags:REGION+=FLAG[,FLAG]       add flags; -= removes them; = sets the list (= alone: none)
    policy:KEY=VALUE                a policy value, as --policy KEY=VALUE

A supply or demand row that does not exist is created (quantity 0 before the change) when its
source and product (region and family) exist. Changes apply in the order given.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.errors import InstanceError, Issue, PolicyError
from allocator.inputs.instance import Instance
from allocator.inputs.policy import Policy
from allocator.inputs.schema import MAX_QUANTITY, TABLES, USES
from allocator.inputs.validate import from_frames
from allocator.numbers import figure_text

__all__ = ["Change", "WhatIf", "SYNTAX", "parse_changes", "apply_changes"]

_num = figure_text  # numbers in messages: allocator.numbers' rule for figures

SYNTAX = (
    "supply:SOURCE:PRODUCT, demand:REGION:FAMILY[:USE], weight:REGION, flags:REGION or policy:KEY, "
    "then =VALUE, +=N or -=N (e.g. supply:sanqi:gb_suit+=5000)"
)
_FORMS = {
    "supply": "supply:SOURCE:PRODUCT=N, +=N or -=N",
    "demand": "demand:REGION:FAMILY[:USE]=N, +=N or -=N (USE: general or icu)",
    "weight": "weight:REGION=W with W more than 0 and at most 1e9",
    "flags": "flags:REGION+=FLAG[,FLAG...], -=FLAG[,FLAG...] or =FLAG[,FLAG...] (= alone: no flags)",
    "policy": "policy:KEY=VALUE as --policy takes it (e.g. policy:weights.icu=6)",
}
_KEYS = {
    "supply": ("SOURCE", "PRODUCT"),
    "demand": ("REGION", "FAMILY", "USE"),
    "weight": ("REGION",),
    "flags": ("REGION",),
    "policy": ("KEY",),
}
_TABLES = tuple(TABLES)  # every table the instance has, so that a what-if keeps them all
_MAX_WEIGHT = 1e9
_NUMBER = re.compile(r"^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_TOL = 1e-9


@dataclass(frozen=True)
class Change:
    """One parsed ``--set`` expression.

    ``target`` is ``supply``, ``demand``, ``weight``, ``flags`` or ``policy``; ``key`` the ids
    ((source, product), (region, family, use), (region,) or (policy key,)); ``op`` ``set``,
    ``add`` or ``sub``; ``value`` a number (supply, demand, weight), a tuple of flags, or the
    policy value as text.
    """

    expr: str
    target: str
    key: tuple[str, ...]
    op: str
    value: float | tuple[str, ...] | str

    def label(self) -> str:
        """What the change is about, in words: ``supply sanqi gb_suit``, ``flags of hubei``."""
        if self.target in ("supply", "demand"):
            return f"{self.target} {' '.join(self.key)}"
        return f"{self.target} of {self.key[0]}" if self.target != "policy" else f"policy {self.key[0]}"


@dataclass
class WhatIf:
    """The changed instance and, per change, what it changed (``changes``: set, change,
    before, after; before and after as text, since they are numbers, flags or policy values)."""

    instance: Instance
    changes: pd.DataFrame


# --- parsing ------------------------------------------------------------------------------


class _Bad(Exception):
    """A problem with one expression; the message says what was wrong and what was expected."""


def parse_changes(exprs: list[str]) -> list[Change]:
    """Read ``--set`` expressions; raise ``InstanceError`` naming every bad one."""
    changes, issues = [], []
    for expr in exprs:
        try:
            changes.append(_parse_one(expr))
        except _Bad as exc:
            issues.append(_issue(expr, str(exc)))
    if issues:
        raise InstanceError(issues)
    return changes


def _issue(expr: str, message: str) -> Issue:
    return Issue(f"--set {expr!r}", None, None, message)


def _parse_one(expr: str) -> Change:
    text = str(expr).strip()
    if "=" not in text:
        raise _Bad(f"no '=': expected {SYNTAX}")
    lhs, rhs = text.split("=", 1)
    rhs = rhs.strip()
    op = "set"
    if lhs.endswith(("+", "-")):
        op, lhs = ("add" if lhs.endswith("+") else "sub"), lhs[:-1]
    parts = [p.strip() for p in lhs.split(":")]
    target = parts[0].lower()
    target = "flags" if target == "flag" else target
    if target not in _FORMS:
        close = difflib.get_close_matches(target, list(_FORMS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _Bad(f"unknown table {parts[0]!r}{hint}: expected {SYNTAX}")
    names = _KEYS[target]
    keys = parts[1:]
    if target == "demand" and len(keys) == 2:
        keys.append("general")
    if len(keys) != len(names) or not all(keys):
        which = next((n for n, k in zip(names, keys) if not k), None)
        what = f"{which} is empty" if which and len(keys) == len(names) else f"{len(keys)} id(s) after '{parts[0]}:'"
        raise _Bad(f"{what}: expected {_FORMS[target]}")
    if target == "policy":
        if op != "set":
            raise _Bad(f"a policy value is set, not added to or taken from: expected {_FORMS['policy']}")
        return Change(text, target, (keys[0],), "set", rhs)
    if op == "set" and rhs[:1] in ("+", "-") and rhs:
        op, rhs = ("add" if rhs[0] == "+" else "sub"), rhs[1:].strip()
    if target == "flags":
        flags = tuple(f.strip().lower() for f in rhs.replace(";", ",").split(","))
        flags = tuple(dict.fromkeys(f for f in flags if f))
        if op != "set" and not flags:
            raise _Bad(f"no flag after '{'+=' if op == 'add' else '-='}': expected {_FORMS['flags']}")
        return Change(text, target, tuple(keys), op, flags)
    if target == "demand":
        keys[2] = keys[2].lower()
    number = _number(rhs)
    if number is None:
        raise _Bad(f"{rhs!r} is not a number: expected {_FORMS[target]}, N a number such as 500")
    if target == "weight":
        if op != "set":
            raise _Bad(f"a weight is set, not added to or taken from: expected {_FORMS['weight']}")
        if not 0 < number <= _MAX_WEIGHT:
            raise _Bad(f"weight {rhs} is out of range: expected {_FORMS['weight']}")
    return Change(text, target, tuple(keys), op, number)


def _number(text: str) -> float | None:
    """A plain non-negative number (``500``, ``2.5``, ``1e6``, ``42,700``); None if it is not one."""
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


# --- applying ------------------------------------------------------------------------------


def apply_changes(instance: Instance, changes: list[Change] | list[str], *, name: str | None = None) -> WhatIf:
    """The instance with ``changes`` applied in order, validated again through
    ``Instance.from_frames``; raise ``InstanceError`` naming each bad expression.

    ``changes`` may be ``Change`` records or the expressions themselves. The new instance is
    named ``name`` (default: the instance's name with `` (what-if)``), so that its plan files
    never pass for the base plan's.
    """
    if any(isinstance(c, str) for c in changes):
        changes = parse_changes([c if isinstance(c, str) else c.expr for c in changes])
    tables = {t: _editable(getattr(instance, t)) for t in _TABLES}
    policy = instance.policy
    issues: list[Issue] = []
    log: list[dict] = []
    for change in changes:
        try:
            before, after, policy = _APPLY[change.target](change, tables, policy)
        except _Bad as exc:
            issues.append(_issue(change.expr, str(exc)))
            continue
        log.append({"set": change.expr, "change": change.label(), "before": before, "after": after})
    if issues:
        raise InstanceError(issues)
    try:
        changed = from_frames(**tables, policy=policy, name=name or f"{instance.name} (what-if)")
    except InstanceError as exc:  # a combination the checks above cannot see, e.g. a policy key's region
        exprs = " ".join(c.expr for c in changes)
        raise InstanceError(
            [
                _issue(exprs, f"the changed instance is not valid: {i.location()}: {i.message}")
                for i in exc.issues
                if i.severity == "error"
            ]
        ) from None
    return WhatIf(instance=changed, changes=pd.DataFrame(log, columns=["set", "change", "before", "after"]))


def _editable(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")]).reset_index(drop=True)


def _known(kind: str, value: str, ids) -> None:
    """Raise unless ``value`` is one of ``ids``, suggesting the closest."""
    ids = sorted(set(ids))
    if value in ids:
        return
    close = difflib.get_close_matches(value, ids, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    source = {
        "source": "sources.csv",
        "product": "products.csv",
        "region": "regions.csv",
        "family": "products.csv (column family)",
    }[kind]
    raise _Bad(f"unknown {kind} {value!r}{hint}: expected a {kind} id from {source}")


def _quantity(
    change: Change, tables: dict, table: str, key_cols: tuple[str, ...], whole: bool, what: str
) -> tuple[str, str, Policy]:
    frame = tables[table]
    match = np.ones(len(frame), dtype=bool)
    for col, value in zip(key_cols, change.key):
        match &= (frame[col] == value).to_numpy(bool)
    at = np.flatnonzero(match)
    if len(at) > 1:
        days = ", ".join(sorted(str(d) for d in frame["day"].iloc[at]))
        raise _Bad(
            f"{len(at)} rows of {table}.csv hold {what} (days {days}): expected one; a what-if changes "
            "a one-day instance"
        )
    before = float(frame["quantity"].iloc[at[0]]) if len(at) else 0.0
    amount = float(change.value)
    after = {"set": amount, "add": before + amount, "sub": before - amount}[change.op]
    if after < 0:
        raise _Bad(f"would make the {what} {_num(after)} ({_num(before)} - {_num(amount)}): expected 0 or more")
    if after > MAX_QUANTITY:
        raise _Bad(f"would make the {what} {_num(after)}: expected at most {MAX_QUANTITY:.0e}")
    if whole and after != math.floor(after):
        raise _Bad(f"would make the {what} {_num(after)}, but it is countable: expected a whole number")
    if len(at):
        frame.loc[at[0], "quantity"] = after
    else:  # a new row, every other column empty (its default)
        row = dict.fromkeys(frame.columns, None)
        row.update(dict(zip(key_cols, change.key)), quantity=after)
        tables[table] = pd.DataFrame(frame.to_dict("records") + [row], columns=frame.columns)
    return (_num(before) if len(at) else "0 (no row)"), _num(after), None


def _supply(change: Change, tables: dict, policy: Policy) -> tuple[str, str, Policy]:
    source, product = change.key
    _known("source", source, tables["sources"]["source"])
    _known("product", product, tables["products"]["product"])
    countable = bool(tables["products"].set_index("product")["countable"].loc[product])
    before, after, _ = _quantity(
        change, tables, "supply", ("source", "product"), countable, f"supply of {product!r} at {source!r}"
    )
    return before, after, policy


def _demand(change: Change, tables: dict, policy: Policy) -> tuple[str, str, Policy]:
    region, family, use = change.key
    _known("region", region, tables["regions"]["region"])
    products = tables["products"]
    families = products["family"].where(products["family"] != "", products["product"])
    _known("family", family, families)
    if use not in USES:
        raise _Bad(f"unknown use {use!r}: expected one of {', '.join(USES)}")
    countable = bool(products.loc[(families == family).to_numpy(bool), "countable"].all())
    before, after, _ = _quantity(
        change, tables, "demand", ("region", "family", "use"), countable, f"{use} demand of {family!r} in {region!r}"
    )
    return before, after, policy


def _weight(change: Change, tables: dict, policy: Policy) -> tuple[str, str, Policy]:
    (region,) = change.key
    regions = tables["regions"]
    _known("region", region, regions["region"])
    if region in policy.region_weights:
        raise _Bad(
            f"region {region!r} takes its weight {_num(policy.region_weights[region])} from the policy's "
            f"[region_weight], which replaces regions.csv's: expected policy:region_weight.{region}=W "
            f"(or --policy region_weight.{region}=W)"
        )
    at = regions.index[regions["region"] == region][0]
    before = float(regions.loc[at, "weight"])
    regions.loc[at, "weight"] = float(change.value)
    return _num(before), _num(float(change.value)), policy


def _flags(change: Change, tables: dict, policy: Policy) -> tuple[str, str, Policy]:
    (region,) = change.key
    regions = tables["regions"]
    _known("region", region, regions["region"])
    at = regions.index[regions["region"] == region][0]
    had = [f for f in str(regions.loc[at, "flags"]).split(";") if f]
    unknown = [f for f in change.value if f not in policy.flags]
    if unknown and change.op != "sub":
        raise _Bad(
            f"unknown flag {unknown[0]!r}: expected any of {', '.join(policy.flags)} (or a flag the "
            "policy gives a weight, e.g. policy:weights.FLAG=W before this change)"
        )
    if change.op == "add":
        already = [f for f in change.value if f in had]
        if already:
            raise _Bad(
                f"region {region!r} already has flag {already[0]!r} (its flags: {_flag_text(had)}): "
                "expected a flag it does not have"
            )
        now = had + list(change.value)
    elif change.op == "sub":
        missing = [f for f in change.value if f not in had]
        if missing:
            raise _Bad(
                f"region {region!r} has no flag {missing[0]!r} (its flags: {_flag_text(had)}): "
                "expected one of its flags"
            )
        now = [f for f in had if f not in change.value]
    else:
        now = list(change.value)
    now = sorted(dict.fromkeys(now))
    regions.loc[at, "flags"] = ";".join(now)
    return _flag_text(had), _flag_text(now), policy


def _flag_text(flags: list[str]) -> str:
    return ";".join(sorted(flags)) if flags else "none"


def _policy(change: Change, tables: dict, policy: Policy) -> tuple[str, str, Policy]:
    (key,) = change.key
    try:
        new = policy.with_overrides([f"{key}={change.value}"])
    except PolicyError as exc:
        raise _Bad(str(exc).removeprefix("policy override: ")) from None
    return _policy_value(policy, key), _policy_value(new, key), new


def _policy_value(policy: Policy, key: str) -> str:
    data = policy.to_dict()
    for part in key.strip().split("."):
        if not isinstance(data, dict) or part not in data:
            return "not set"
        data = data[part]
    return _num(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else str(data).lower()


_APPLY = {"supply": _supply, "demand": _demand, "weight": _weight, "flags": _flags, "policy": _policy}


# --- comparing -----------------------------------------------------------------------------
