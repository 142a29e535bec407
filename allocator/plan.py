"""Plan: the solution's columns turned into labelled tables a planner can act on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .instance import Instance
from .model import FlowModel

__all__ = ["Plan", "plan_from_solution", "fill_table", "tier_labels"]


@dataclass
class Plan:
    """A dispatch plan.

    Attributes
    ----------
    dispatch:
        One row per shipment: source, region, product, quantity, cost (of the shipment),
        unit_cost, distance_km, source_name, region_name.
    allocation:
        Which use each delivered product serves: region, product, family, use, quantity.
    fill:
        One row per demand row: region, family, use, demand, delivered, shortfall,
        fill_rate, weight, tier, reason.
    """

    dispatch: pd.DataFrame
    allocation: pd.DataFrame
    fill: pd.DataFrame


def tier_labels(weights: pd.Series) -> pd.Series:
    """Tier 1 is the highest weight present; equal weights share a tier."""
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
    dispatch = dispatch[["source", "region", "product", "quantity", "cost", "unit_cost", "distance_km",
                         "source_name", "region_name"]].sort_values(["source", "region", "product"])
    serve_q = x[model.n_ship: model.n_ship + model.n_serve]
    keep = serve_q > 0
    family = instance.products.set_index("product")["family"]
    allocation = model.serve.loc[keep, ["region", "product", "use"]].copy()
    allocation["family"] = allocation["product"].map(family)
    allocation["quantity"] = serve_q[keep]
    allocation = allocation[["region", "product", "family", "use", "quantity"]].groupby(
        ["region", "product", "family", "use"], as_index=False)["quantity"].sum()
    delivered = instance.demand["quantity"].to_numpy(float) - x[model.n_ship + model.n_serve:]
    fill = fill_table(instance, model.demand["weight"], delivered)
    return Plan(dispatch=dispatch.reset_index(drop=True), allocation=allocation.reset_index(drop=True), fill=fill)


def fill_table(instance: Instance, weights: pd.Series, delivered: np.ndarray) -> pd.DataFrame:
    demand = instance.demand
    quantity = demand["quantity"].to_numpy(float)
    delivered = np.clip(np.asarray(delivered, float), 0.0, quantity)
    delivered = np.where(np.abs(delivered) < 1e-9, 0.0, delivered)
    fill = pd.DataFrame({
        "region": demand["region"].to_numpy(),
        "family": demand["family"].to_numpy(),
        "use": demand["use"].to_numpy(),
        "demand": quantity,
        "delivered": delivered,
        "shortfall": quantity - delivered,
        "fill_rate": np.where(quantity > 0, delivered / np.where(quantity > 0, quantity, 1.0), 1.0),
        "weight": weights.to_numpy(float),
    })
    fill["tier"] = tier_labels(fill["weight"])
    fill["reason"] = ""
    return fill.sort_values(["tier", "region", "family", "use"]).reset_index(drop=True)
