"""Plan: the solution's columns turned into labelled tables a planner can act on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.inputs.instance import Instance
from allocator.inputs.reach import substitute_rows

__all__ = ["Plan", "plan_from_solution", "fill_table", "tier_labels", "group_sums", "rows_sorted"]


@dataclass
class Plan:
    """A dispatch plan.

    Attributes
    ----------
    dispatch:
        One row per shipment: source, region, product, quantity, cost (of the shipment),
        unit_cost, distance_km, source_name, region_name.
    allocation:
        Which demand each delivered product serves: region, product, family (of the demand
        served), use, quantity; with ``substitutes.csv``, then ``substitute`` (whether the
        product stands in for another family's product).
    fill:
        One row per demand row: region, family, use, demand, delivered, shortfall,
        fill_rate, weight, tier, reason; with ``substitutes.csv``, ``substituted`` (units of
        ``delivered`` served by substitutes) after ``delivered``.
    """

    dispatch: pd.DataFrame
    allocation: pd.DataFrame
    fill: pd.DataFrame


def tier_labels(weights: pd.Series) -> pd.Series:
    """Tier 1 is the highest weight present; equal weights share a tier."""
    if weights.dtype.kind in "fiu" and not weights.isna().any():  # each distinct weight once
        levels, at = np.unique(weights.to_numpy(float), return_inverse=True)
        keys = [float(f"{w:.12g}") for w in levels]
        order = {w: i + 1 for i, w in enumerate(sorted(set(keys), reverse=True))}
        tier = np.array([order[k] for k in keys], dtype=np.int64)[at.reshape(-1)]
        return pd.Series(tier, index=weights.index, name=weights.name)
    keys = weights.map(lambda w: float(f"{w:.12g}"))
    order = {w: i + 1 for i, w in enumerate(sorted(keys.unique(), reverse=True))}
    return keys.map(order).astype(int)


def plan_from_solution(instance: Instance, model: FlowModel, x: np.ndarray) -> Plan:
    ship_q = x[: model.n_ship]
    keep = ship_q > 0
    dispatch = model.ship.loc[keep, ["source", "region", "product", "cost", "distance_km"]].copy()
    dispatch = dispatch.rename(columns={"cost": "unit_cost"})
    dispatch["quantity"] = ship_q[keep]
    dispatch["cost"] = dispatch["quantity"] * dispatch["unit_cost"]
    names_s = instance.sources.set_index("source")["name"]
    names_r = instance.regions.set_index("region")["name"]
    dispatch["source_name"] = dispatch["source"].map(names_s)
    dispatch["region_name"] = dispatch["region"].map(names_r)
    dispatch = _sorted(
        dispatch[
            [
                "source",
                "region",
                "product",
                "quantity",
                "cost",
                "unit_cost",
                "distance_km",
                "source_name",
                "region_name",
            ]
        ],
        ["source", "region", "product"],
    )
    serve_q = x[model.n_ship : model.n_ship + model.n_serve]
    keep = serve_q > 0
    allocation = model.serve.loc[keep, ["region", "product", "use"]].copy()
    serve_dem = model.serve["demand_idx"].to_numpy()
    allocation["family"] = model.demand["family"].to_numpy(object)[serve_dem[keep]]  # the family served
    allocation["quantity"] = serve_q[keep]
    keys = ["region", "product", "family", "use"]
    substituted = None
    if len(substitute_rows(instance)):
        substitute = model.serve["preference"].to_numpy() > 0
        allocation["substitute"] = substitute[keep]
        keys.append("substitute")
        substituted = np.bincount(
            serve_dem[keep & substitute], weights=serve_q[keep & substitute], minlength=len(model.demand)
        )
    allocation = allocation[keys[:4] + ["quantity"] + keys[4:]]
    if not _in_order(allocation, keys):  # else: one row per group already
        allocation = allocation.groupby(keys, as_index=False)["quantity"].sum()[keys[:4] + ["quantity"] + keys[4:]]
    delivered = instance.demand["quantity"].to_numpy(float) - x[model.n_ship + model.n_serve :]
    fill = fill_table(instance, model.demand["weight"], delivered, substituted)
    return Plan(dispatch=dispatch.reset_index(drop=True), allocation=allocation.reset_index(drop=True), fill=fill)


def fill_table(
    instance: Instance, weights: pd.Series, delivered: np.ndarray, substituted: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per demand row (see ``Plan.fill``); ``substituted``: units of each row's delivery
    that substitutes served (a column after ``delivered``), or ``None`` for no such column."""
    demand = instance.demand
    quantity = demand["quantity"].to_numpy(float)
    delivered = np.clip(np.asarray(delivered, float), 0.0, quantity)
    delivered = np.where(np.abs(delivered) < 1e-9, 0.0, delivered)
    fill = pd.DataFrame(
        {
            "region": demand["region"].to_numpy(),
            "family": demand["family"].to_numpy(),
            "use": demand["use"].to_numpy(),
            "demand": quantity,
            "delivered": delivered,
            "shortfall": quantity - delivered,
            "fill_rate": np.where(quantity > 0, delivered / np.where(quantity > 0, quantity, 1.0), 1.0),
            "weight": weights.to_numpy(float),
        }
    )
    if substituted is not None:
        sub = np.clip(np.asarray(substituted, float), 0.0, delivered)
        fill.insert(5, "substituted", np.where(sub < 1e-9, 0.0, sub))
    fill["tier"] = tier_labels(fill["weight"])
    fill["reason"] = ""
    return _sorted(fill, ["tier", "region", "family", "use"]).reset_index(drop=True)


def _in_order(frame: pd.DataFrame, columns: list[str]) -> bool:
    """Whether the rows are in strictly increasing order of ``columns`` (so no two alike)."""
    return rows_sorted(np.arange(len(frame)), *(frame[c].to_numpy(object) for c in columns))


def _sorted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame.sort_values(columns)`` (several columns: a stable sort), each column's distinct
    texts sorted once (mostly in order already: fast) rather than every row's."""
    if len(columns) < 2 or _in_order(frame, columns):
        return frame if len(columns) >= 2 else frame.sort_values(columns)
    keys = []
    for col in reversed(columns):
        values = frame[col]
        if values.dtype.kind in "iuf":
            keys.append(values.to_numpy())
            continue
        codes, distinct = pd.factorize(values.to_numpy(object))
        try:
            order = sorted(range(len(distinct)), key=distinct.__getitem__)
        except TypeError:  # mixed types
            order = None
        if order is None or (codes < 0).any():
            return frame.sort_values(columns)
        rank = np.empty(len(distinct), dtype=np.int64)
        rank[order] = np.arange(len(distinct))
        keys.append(rank[codes])
    return frame.take(np.lexsort(keys))


# --- Sums as a table's group-by adds them -------------------------------------------------
# The plan's checks and reasons work on integer codes, but their figures must equal those of
# ``DataFrame.groupby(text ids).sum()`` to the last bit: pandas (3.x) adds each group's rows
# with ``np.add.reduceat`` when the table's rows are already in the order of its sorted group
# keys, and otherwise row by row with compensated (Kahan) summation.


def group_sums(codes: np.ndarray, values: np.ndarray, rows_in_key_order: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ``values`` per group ``codes`` (integers, 0 or more), added as pandas adds the
    same rows grouped by keys in whose order the rows are (``rows_in_key_order``) or not.

    Returns the distinct codes and their sums (in no particular order).
    """
    codes = np.asarray(codes, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=float)
    if len(codes) == 0:
        return codes, values
    if rows_in_key_order and not np.isnan(values).any():
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        return codes[starts], np.add.reduceat(values, starts)
    # Rows out of key order: two leading dummy groups, interleaved, keep pandas on the
    # compensated row-by-row path (they are dropped after; other groups do not see them).
    sums = pd.Series(np.r_[0.0, 0.0, 0.0, values]).groupby(np.r_[-2, -1, -2, codes], sort=False).sum()
    keys = sums.index.to_numpy(np.int64)
    return keys[2:], sums.to_numpy(float)[2:]


def rows_sorted(codes: np.ndarray, *keys: np.ndarray) -> bool:
    """Whether rows whose group ``codes`` stand for the tuples of ``keys`` (text or numbers, the
    same code for the same tuple; no keys: the codes themselves) are in the order of the sorted
    tuples, as pandas sorts them."""
    codes = np.asarray(codes)
    keys = keys or (codes,)
    changes = np.flatnonzero(codes[1:] != codes[:-1])
    for start in range(0, len(changes), 1 << 16):  # a block at a time: most unsorted tables stop early
        at = changes[start : start + (1 << 16)]
        try:
            for key in keys:  # compare by the next key where the tuples are equal so far
                a, b = key[at], key[at + 1]
                less = a < b
                if not (less | (a == b)).all():
                    return False
                at = at[~less]
                if len(at) == 0:
                    break
        except TypeError:  # mixed types: leave it to pandas
            return False
        if len(at):  # a change of code without a change of tuple
            return False
    return True
