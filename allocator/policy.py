"""The allocation policy: priority weights, the ICU rule, equity, default route costs.

A policy comes from ``policy.toml`` in the instance folder (optional), then from
overrides such as ``--policy weights.icu=6`` on the command line.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import PolicyError
from .schema import FLAGS

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
}

_TOP_KEYS = {"equity", "icu_grade_for_general", "weights", "routes"}
_ROUTE_KEYS = {"cost_per_km"}


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
    """

    equity: bool = True
    icu_grade_for_general: bool = False
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    cost_per_km: float = 1.0

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
        }

    def with_overrides(self, overrides: list[str] | dict[str, object] | None) -> Policy:
        """Return a copy with ``key=value`` overrides applied (``weights.icu=6``, ``equity=off``)."""
        if not overrides:
            return self
        items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
        data = self.to_dict()
        for key, value in items:
            parts = key.strip().split(".")
            if len(parts) == 1 and parts[0] in ("equity", "icu_grade_for_general"):
                data[parts[0]] = value
            elif len(parts) == 2 and parts[0] in ("weights", "routes"):
                data[parts[0]][parts[1]] = value
            else:
                msg = (f"unknown policy key '{key}': expected equity, icu_grade_for_general, "
                       "weights.<flag|icu|default> or routes.cost_per_km")
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
    icu_general = _parse_switch(data.get("icu_grade_for_general", False), f"{where}: icu_grade_for_general",
                                ("true", "false"))
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
    cost_per_km = _positive(raw_routes.get("cost_per_km", base.cost_per_km), f"{where}: routes.cost_per_km",
                            allow_zero=True)
    return replace(base, equity=equity, icu_grade_for_general=icu_general, weights=weights, cost_per_km=cost_per_km)


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
