"""The allocation policy: priority weights, the ICU rule, equity, default route costs.

A policy comes from ``policy.toml`` in the instance folder (optional), then from
overrides such as ``--policy weights.icu=6`` on the command line.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from allocator.errors import PolicyError
from allocator.inputs.schema import FLAGS

__all__ = ["Policy", "load_policy", "policy_from_dict", "DEFAULT_WEIGHTS"]

# Priority weights as of April 2020 (DIGEST.md, "Priorities"): level-one-response provinces
# first, then provinces with first points of entry, then border ports and medium-risk areas,
# then the rest. ICU demand counts `icu` times the region's weight.
DEFAULT_WEIGHTS: dict[str, float] = {
    "default": 1.0,
    "icu": 4.0,
    "level_one_response": 8.0,
    "port_of_entry": 4.0,
    "border_port": 2.0,
    "medium_risk": 2.0,
    # Exports and foreign aid: after every domestic need (DIGEST.md, priority 5).
    "export": 0.01,
}

_TOP_KEYS = {
    "equity",
    "icu_grade_for_general",
    "weights",
    "routes",
    "unmet",
    "horizon",
    "floor",
    "region_weight",
    "stability",
    "substitution",
}
_ROUTE_KEYS = {"cost_per_km"}
_HORIZON_KEYS = {"time_preference"}
_FLOOR_KEYS = {"days", "weight"}
_STABILITY_KEYS = {"change_cost"}
_SUBSTITUTION_KEYS = {"cost"}
UNMET = ("lost", "backlog")


@dataclass(frozen=True)
class Policy:
    """What the plan optimises and which substitutions it may make.

    Attributes
    ----------
    equity:
        Stage 2 of the objective: among plans with least weighted shortfall, serve demand
        of equal weight at max-min fair fill rates.
    icu_grade_for_general:
        Whether ICU-grade products may serve general (non-ICU) demand.
    weights:
        ``default`` (regions with no flags), ``icu`` (multiplier for ICU use) and one weight
        per region flag; a region with several flags takes the largest.
    cost_per_km:
        Route cost per unit and kilometre when the instance has no ``routes.csv``.
    unmet:
        Multi-day plans: demand not met on its day is ``lost`` or carried as ``backlog`` to
        the next day (durable equipment's demand is units in service, never carried).
    time_preference:
        Multi-day plans: a shortfall on day ``k`` of an ``H``-day plan weighs
        ``1 + time_preference * (H - 1 - k)`` times its weight, so that of two equal needs
        the earlier is met first. Small, so that it never outranks a weight.
    region_weights:
        ``[region_weight]``: a region's weight multiplier, in place of its ``weight`` in
        ``regions.csv`` ("Hubei first" is ``hubei = 10``), so that policies can be compared
        on the same instance.
    floor_days, floor_weight:
        Multi-day plans: each region should keep ``floor_days`` days of its mean daily
        demand of each consumable family in stock at the end of each day (and each holder
        the ``floor`` of ``stock.csv``); a unit below the floor weighs ``floor_weight``.
    change_cost:
        With a previous plan (``--previous``): in the cost stage, each unit shipped on a
        (source, region) pair the previous plan did not use costs this much more, in route
        cost units (default 500: a new pair is worth a 500 km detour a unit at 1 per km).
        The shortfall and equity stages come first, so stability never costs priority.
    substitution_cost:
        ``[substitution] cost``: in the cost stage, each unit served by a substitute
        (``substitutes.csv``) costs ``preference`` x this much more, in route cost units
        (default 1000: a family's own products are preferred unless a substitute saves more
        than 1000 a unit in route cost). The shortfall and equity stages come first: a
        substitute counts as fully serving demand there.
    """

    equity: bool = True
    icu_grade_for_general: bool = False
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    cost_per_km: float = 1.0
    unmet: str = "lost"
    time_preference: float = 0.001
    floor_days: float = 0.0
    floor_weight: float = 0.5
    change_cost: float = 500.0
    substitution_cost: float = 1000.0
    region_weights: dict[str, float] = field(default_factory=dict)

    @property
    def flags(self) -> tuple[str, ...]:
        """Every flag a region may carry: the built-in ones and any the policy weights."""
        extra = sorted(k for k in self.weights if k not in ("default", "icu") and k not in FLAGS)
        return FLAGS + tuple(extra)

    def to_dict(self) -> dict:
        return {
            "equity": "on" if self.equity else "off",
            "icu_grade_for_general": self.icu_grade_for_general,
            "weights": dict(sorted(self.weights.items())),
            "routes": {"cost_per_km": self.cost_per_km},
            "unmet": self.unmet,
            "horizon": {"time_preference": self.time_preference},
            "floor": {"days": self.floor_days, "weight": self.floor_weight},
            "region_weight": dict(sorted(self.region_weights.items())),
            "stability": {"change_cost": self.change_cost},
            "substitution": {"cost": self.substitution_cost},
        }

    def with_overrides(self, overrides: list[str] | dict[str, object] | None) -> Policy:
        """Return a copy with ``key=value`` overrides applied (``weights.icu=6``, ``equity=off``)."""
        if not overrides:
            return self
        items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
        data = self.to_dict()
        for key, value in items:
            parts = key.strip().split(".")
            if len(parts) == 1 and parts[0] in ("equity", "icu_grade_for_general", "unmet"):
                data[parts[0]] = value
            elif len(parts) == 2 and parts[0] in (
                "weights",
                "routes",
                "horizon",
                "floor",
                "region_weight",
                "stability",
                "substitution",
            ):
                data[parts[0]][parts[1]] = value
            else:
                msg = (
                    f"unknown policy key '{key}': expected equity, icu_grade_for_general, unmet, "
                    "weights.<flag|icu|default>, region_weight.<region>, routes.cost_per_km, "
                    "horizon.time_preference, floor.days, floor.weight, stability.change_cost or "
                    "substitution.cost"
                )
                raise PolicyError(msg)
        return _from_dict(data, "policy override")


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        msg = f"policy override '{item}' is not of the form KEY=VALUE (for example weights.icu=6)"
        raise PolicyError(msg)
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def load_policy(path: Path | None) -> Policy:
    """Read ``policy.toml``; ``None`` or a missing file gives the default policy."""
    if path is None or not path.exists():
        return Policy()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path.name}: not valid TOML: {exc}"
        raise PolicyError(msg) from None
    except UnicodeDecodeError:
        msg = f"{path.name}: not UTF-8 text"
        raise PolicyError(msg) from None
    return _from_dict(data, path.name)


def policy_from_dict(data: dict, where: str) -> Policy:
    """A policy from TOML-like data (``{"equity": "on", "weights": {"icu": 4}}``)."""
    return _from_dict(data, where)


def _from_dict(data: dict, where: str) -> Policy:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(_TOP_KEYS))}"
        raise PolicyError(msg)
    base = Policy()
    equity = _parse_switch(data.get("equity", "on"), f"{where}: equity", ("on", "off"))
    icu_general = _parse_switch(
        data.get("icu_grade_for_general", False), f"{where}: icu_grade_for_general", ("true", "false")
    )
    weights = dict(base.weights)
    raw_weights = data.get("weights", {})
    if not isinstance(raw_weights, dict):
        msg = f"{where}: [weights] must be a table of name = number"
        raise PolicyError(msg)
    for key, value in raw_weights.items():
        weights[str(key)] = _positive(value, f"{where}: weights.{key}")
    raw_routes = data.get("routes", {})
    if not isinstance(raw_routes, dict):
        msg = f"{where}: [routes] must be a table"
        raise PolicyError(msg)
    unknown = sorted(set(raw_routes) - _ROUTE_KEYS)
    if unknown:
        msg = f"{where}: unknown key(s) routes.{', routes.'.join(unknown)}; expected routes.cost_per_km"
        raise PolicyError(msg)
    cost_per_km = _positive(
        raw_routes.get("cost_per_km", base.cost_per_km), f"{where}: routes.cost_per_km", allow_zero=True
    )
    unmet = str(data.get("unmet", base.unmet)).strip().lower()
    if unmet not in UNMET:
        msg = f"{where}: unmet must be 'lost' or 'backlog', not {data.get('unmet')!r}"
        raise PolicyError(msg)
    horizon = _subtable(data, "horizon", _HORIZON_KEYS, where)
    time_preference = _positive(
        horizon.get("time_preference", base.time_preference), f"{where}: horizon.time_preference", allow_zero=True
    )
    if time_preference > 0.01:
        msg = (
            f"{where}: horizon.time_preference must be at most 0.01 (it breaks ties between days; "
            f"it must not outrank a weight), not {time_preference!r}"
        )
        raise PolicyError(msg)
    floor = _subtable(data, "floor", _FLOOR_KEYS, where)
    floor_days = _positive(floor.get("days", base.floor_days), f"{where}: floor.days", allow_zero=True)
    floor_weight = _positive(floor.get("weight", base.floor_weight), f"{where}: floor.weight")
    stability = _subtable(data, "stability", _STABILITY_KEYS, where)
    change_cost = _positive(
        stability.get("change_cost", base.change_cost), f"{where}: stability.change_cost", allow_zero=True
    )
    substitution = _subtable(data, "substitution", _SUBSTITUTION_KEYS, where)
    substitution_cost = _positive(
        substitution.get("cost", base.substitution_cost), f"{where}: substitution.cost", allow_zero=True
    )
    raw_regions = data.get("region_weight", {})
    if not isinstance(raw_regions, dict):
        msg = f"{where}: [region_weight] must be a table of region = number"
        raise PolicyError(msg)
    region_weights = {str(k): _positive(v, f"{where}: region_weight.{k}") for k, v in raw_regions.items()}
    return replace(
        base,
        equity=equity,
        icu_grade_for_general=icu_general,
        weights=weights,
        cost_per_km=cost_per_km,
        region_weights=region_weights,
        unmet=unmet,
        time_preference=time_preference,
        floor_days=floor_days,
        floor_weight=floor_weight,
        change_cost=change_cost,
        substitution_cost=substitution_cost,
    )


def _subtable(data: dict, name: str, keys: set[str], where: str) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        msg = f"{where}: [{name}] must be a table"
        raise PolicyError(msg)
    unknown = sorted(set(table) - keys)
    if unknown:
        msg = (
            f"{where}: unknown key(s) {name}.{(', ' + name + '.').join(unknown)}; expected "
            f"{', '.join(name + '.' + k for k in sorted(keys))}"
        )
        raise PolicyError(msg)
    return table


def _parse_switch(value: object, where: str, words: tuple[str, str]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    msg = f"{where} must be '{words[0]}' or '{words[1]}', not {value!r}"
    raise PolicyError(msg)


def _positive(value: object, where: str, *, allow_zero: bool = False) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        msg = f"{where} must be a number, not {value!r}"
        raise PolicyError(msg) from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero) or number > 1e9:
        bound = "0 or more" if allow_zero else "more than 0"
        msg = f"{where} must be a finite number {bound} and at most 1e9, not {value!r}"
        raise PolicyError(msg)
    return number
