"""Report: what changed from a base plan to a what-if plan (``allocator solve --set``), as tables."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.numbers import quantity_text
from allocator.plan.results import Result

__all__ = ["Comparison", "compare", "render_whatif_text"]

_TOL = 1e-9  # differences within this of zero are zero


@dataclass
class Comparison:
    """What changed from a base plan to a what-if plan; every table in a fixed order.

    terms:
        term, base, whatif, change: weighted_shortfall, route_cost, supply, demand,
        delivered, shortfall, fill_rate, shipments (all of them, changed or not).
    tiers:
        per weight level that changed (highest weight first): weight, base_tier, whatif_tier,
        base_/whatif_ rows, demand, delivered, fill_rate, and fill_rate_change. Tiers are
        matched by weight, since the tier numbers themselves shift when a weight appears.
    fill:
        per demand row (region, family, use, sorted) whose demand, weight or delivery changed:
        base_/whatif_ weight, demand, delivered, fill_rate, and delivered_change,
        fill_rate_change. A row on one side only has NaN weight and fill rate on the other.
    shipments:
        per (source, region, product, sorted) whose quantity changed: base_quantity,
        whatif_quantity, quantity_change.
    status:
        ``{"base": ..., "whatif": ...}``: ``optimal`` or ``time_limit``.
    """

    terms: pd.DataFrame
    tiers: pd.DataFrame
    fill: pd.DataFrame
    shipments: pd.DataFrame
    status: dict

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"terms": self.terms, "tiers": self.tiers, "fill": self.fill, "shipments": self.shipments}

    def to_dict(self) -> dict:
        """Plain data for JSON: numbers whole where they are whole, six decimals otherwise, NaN as None."""
        out: dict = {"status": dict(self.status)}
        for name, frame in self.tables().items():
            out[name] = [{k: _plain(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
        return out


def compare(base: Result, whatif: Result) -> Comparison:
    """The tables of what changed from the plan ``base`` to the plan ``whatif``."""
    return Comparison(
        terms=_terms(base, whatif),
        tiers=_tiers(base.plan.fill, whatif.plan.fill),
        fill=_fill(base.plan.fill, whatif.plan.fill),
        shipments=_shipments(base.plan.dispatch, whatif.plan.dispatch),
        status={"base": base.status, "whatif": whatif.status},
    )


_TERMS = ("weighted_shortfall", "route_cost", "supply", "demand", "delivered", "shortfall", "fill_rate", "shipments")


def _term_values(result: Result) -> list[float]:
    fill = result.plan.fill
    demand, delivered = float(fill["demand"].sum()), float(fill["delivered"].sum())
    return [
        float(result.objective["weighted_shortfall"]),
        float(result.objective["route_cost"]),
        float(result.instance.supply["quantity"].sum()),
        demand,
        delivered,
        float(fill["shortfall"].sum()),
        delivered / demand if demand > 0 else 1.0,
        float(len(result.plan.dispatch)),
    ]


def _terms(base: Result, whatif: Result) -> pd.DataFrame:
    a, b = np.array(_term_values(base)), np.array(_term_values(whatif))
    return pd.DataFrame({"term": list(_TERMS), "base": a, "whatif": b, "change": _clean(b - a)})


def _clean(x: np.ndarray) -> np.ndarray:
    """Differences within rounding of zero as zero."""
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x) < _TOL, 0.0, x)


def _changed(*diffs: pd.Series) -> np.ndarray:
    out = np.zeros(len(diffs[0]), dtype=bool)
    for d in diffs:
        v = d.to_numpy(float)
        out |= np.where(np.isnan(v), True, np.abs(v) > _TOL)
    return out


def _fill(base: pd.DataFrame, whatif: pd.DataFrame) -> pd.DataFrame:
    key = ["region", "family", "use"]
    cols = ["weight", "demand", "delivered", "fill_rate"]
    merged = base[key + cols].merge(whatif[key + cols], on=key, how="outer", suffixes=("_b", "_w"), sort=False)
    out = merged[key].copy()
    for col in cols:
        b, w = merged[f"{col}_b"], merged[f"{col}_w"]
        if col in ("demand", "delivered"):  # a row on one side only: nothing needed, nothing delivered
            b, w = b.fillna(0.0), w.fillna(0.0)
        out[f"base_{col}"], out[f"whatif_{col}"] = b.to_numpy(float), w.to_numpy(float)
    out["delivered_change"] = _clean(out["whatif_delivered"] - out["base_delivered"])
    out["fill_rate_change"] = _clean(out["whatif_fill_rate"] - out["base_fill_rate"])
    keep = _changed(
        out["whatif_weight"] - out["base_weight"], out["whatif_demand"] - out["base_demand"], out["delivered_change"]
    )
    out = out.loc[keep].sort_values(key, kind="stable").reset_index(drop=True)
    return out[
        key
        + [
            "base_weight",
            "whatif_weight",
            "base_demand",
            "whatif_demand",
            "base_delivered",
            "whatif_delivered",
            "delivered_change",
            "base_fill_rate",
            "whatif_fill_rate",
            "fill_rate_change",
        ]
    ]


def _by_weight(fill: pd.DataFrame) -> pd.DataFrame:
    level = fill["weight"].map(lambda w: float(f"{w:.12g}"))
    g = fill.groupby(level)
    out = pd.DataFrame(
        {"tier": g["tier"].min(), "rows": g.size(), "demand": g["demand"].sum(), "delivered": g["delivered"].sum()}
    )
    out["fill_rate"] = np.where(out["demand"] > 0, out["delivered"] / out["demand"].where(out["demand"] > 0, 1.0), 1.0)
    out.index.name = "weight"
    return out


def _tiers(base: pd.DataFrame, whatif: pd.DataFrame) -> pd.DataFrame:
    b, w = _by_weight(base), _by_weight(whatif)
    merged = b.merge(w, how="outer", left_index=True, right_index=True, suffixes=("_b", "_w")).sort_index(
        ascending=False
    )
    out = pd.DataFrame({"weight": merged.index.to_numpy(float)})
    for col in ("tier", "rows", "demand", "delivered", "fill_rate"):
        bv, wv = merged[f"{col}_b"], merged[f"{col}_w"]
        if col in ("rows", "demand", "delivered"):
            bv, wv = bv.fillna(0), wv.fillna(0)
        kind = "Int64" if col in ("tier", "rows") else float
        out[f"base_{col}"] = bv.astype(kind).to_numpy()
        out[f"whatif_{col}"] = wv.astype(kind).to_numpy()
    out["fill_rate_change"] = _clean(out["whatif_fill_rate"].to_numpy(float) - out["base_fill_rate"].to_numpy(float))
    diff = [
        pd.Series(out[f"whatif_{c}"].to_numpy(float) - out[f"base_{c}"].to_numpy(float))
        for c in ("rows", "demand", "delivered")
    ]
    return out.loc[_changed(*diff)].reset_index(drop=True)


def _shipments(base: pd.DataFrame, whatif: pd.DataFrame) -> pd.DataFrame:
    key = ["source", "region", "product"]
    merged = base[key + ["quantity"]].merge(whatif[key + ["quantity"]], on=key, how="outer", suffixes=("_b", "_w"))
    out = merged[key].copy()
    out["base_quantity"] = merged["quantity_b"].fillna(0.0).to_numpy(float)
    out["whatif_quantity"] = merged["quantity_w"].fillna(0.0).to_numpy(float)
    out["quantity_change"] = _clean(out["whatif_quantity"] - out["base_quantity"])
    keep = np.abs(out["quantity_change"].to_numpy(float)) > _TOL
    return out.loc[keep].sort_values(key, kind="stable").reset_index(drop=True)


def _plain(v):
    """A table cell as JSON wants it."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return None
        return int(round(v)) if abs(v - round(v)) < _TOL and abs(v) < 2**53 else round(v, 6)
    return str(v)


def render_whatif_text(base, changed, changes, diff, warnings, *, top: int, shipments: int) -> str:
    """The changes, compactly: what was set, the objective and totals, then the tiers, demand rows
    and shipments that changed (largest changes first). No timings: equal runs print equal bytes."""
    pol = base.instance.policy
    solvers = base.solver if base.solver == changed.solver else f"base {base.solver}, what-if {changed.solver}"
    out = [
        f"allocator: {base.instance.name}: what-if, {len(changes)} change(s); base {base.status}, what-if "
        f"{changed.status} ({solvers})",
        f"policy (base): equity {'on' if pol.equity else 'off'}; ICU-grade items for general use: "
        f"{'allowed' if pol.icu_grade_for_general else 'not allowed'}",
    ]
    if base.status != "optimal" or changed.status != "optimal":
        out.append("note: a plan stopped at the time limit, so the changes below compare plans that are not optimal")
    for w in warnings[:3]:
        out.append(f"new warning in the what-if data: {w}")
    if len(warnings) > 3:
        out.append(f"... and {len(warnings) - 3} more new warning(s) (all with --format json)")
    out += [
        "",
        "Changes (--set)",
        _grid(["set", "change", "before", "after"], changes.astype(str).to_numpy().tolist(), right={2, 3}),
    ]

    rows = []
    for t in diff.terms.itertuples(index=False):
        if t.term == "fill_rate":
            rows.append(["fill rate", _pct(t.base), _pct(t.whatif), _pp(t.change)])
        else:
            rows.append(
                [
                    t.term.replace("_", " "),
                    quantity_text(t.base),
                    quantity_text(t.whatif),
                    quantity_text(t.change, sign=True),
                ]
            )
    out += ["", "Objective and totals", _grid(["", "base", "what-if", "change"], rows, right={1, 2, 3})]

    tiers = diff.tiers
    if len(tiers):
        rows = [
            [
                quantity_text(t.weight),
                _pair(t.base_tier, t.whatif_tier, _int),
                _pair(t.base_rows, t.whatif_rows, _int),
                _pair(t.base_demand, t.whatif_demand, quantity_text),
                _pair(t.base_delivered, t.whatif_delivered, quantity_text),
                _pair(t.base_fill_rate, t.whatif_fill_rate, _pct),
                _pp(t.fill_rate_change),
            ]
            for t in tiers.itertuples(index=False)
        ]
        out += [
            "",
            "Fill rate by priority weight, where it changed (base -> what-if)",
            _grid(["weight", "tier", "rows", "demand", "delivered", "fill_rate", "change"], rows, right=set(range(7))),
        ]
    else:
        out += ["", "Fill rate by priority weight: no change"]

    fill = _largest_first(diff.fill, "delivered_change", ["region", "family", "use"])
    if len(fill):
        shown = fill.head(top)
        rows = [
            [
                f.region,
                f.family,
                f.use,
                _pair(f.base_weight, f.whatif_weight, quantity_text),
                _pair(f.base_demand, f.whatif_demand, quantity_text),
                _pair(f.base_delivered, f.whatif_delivered, quantity_text),
                quantity_text(f.delivered_change, sign=True),
                _pair(f.base_fill_rate, f.whatif_fill_rate, _pct),
            ]
            for f in shown.itertuples(index=False)
        ]
        out += [
            "",
            f"Demand rows that changed ({len(shown)} of {len(fill)} shown, largest change in delivery first; "
            "base -> what-if; all with --format json)",
            _grid(
                ["region", "family", "use", "weight", "demand", "delivered", "change", "fill_rate"],
                rows,
                right={3, 4, 5, 6, 7},
            ),
        ]
    else:
        out += ["", "Demand rows: no change"]

    ships = _largest_first(diff.shipments, "quantity_change", ["source", "region", "product"])
    if len(ships):
        shown = ships.head(shipments)
        rows = [
            [
                s.source,
                s.region,
                s.product,
                _pair(s.base_quantity, s.whatif_quantity, quantity_text),
                quantity_text(s.quantity_change, sign=True),
            ]
            for s in shown.itertuples(index=False)
        ]
        out += [
            "",
            f"Shipments that changed ({len(shown)} of {len(ships)} shown, largest change first; "
            "all with --format json)",
            _grid(["source", "region", "product", "quantity", "change"], rows, right={3, 4}),
        ]
    else:
        out += ["", "Shipments: no change"]
    return "\n".join(out) + "\n"


def _largest_first(frame, column: str, key: list[str]):
    order = frame.assign(_size=-frame[column].abs()).sort_values(["_size", *key], kind="stable")
    return order.drop(columns="_size").reset_index(drop=True)


def _missing(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def _int(v) -> str:
    return "-" if _missing(v) else str(int(v))


def _pct(v) -> str:
    return "-" if _missing(v) else f"{float(v):.1%}"


def _pp(v) -> str:
    """A change of a fill rate, in percentage points."""
    if _missing(v):
        return "-"
    text = f"{float(v) * 100:+.1f} pp"
    return "0.0 pp" if text in ("+0.0 pp", "-0.0 pp") else text


def _pair(a, b, fmt) -> str:
    """``a`` when unchanged, else ``a -> b``."""
    fa, fb = fmt(a), fmt(b)
    return fa if fa == fb else f"{fa} -> {fb}"


def _grid(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    """Columns aligned for the terminal: those in ``right`` (numbers) to the right."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join(line(r).rstrip() for r in [header, ["-" * w for w in widths], *rows])
