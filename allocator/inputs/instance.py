"""A validated instance: typed tables plus the policy, ready to build a model from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import Issue
from allocator.inputs.policy import Policy

__all__ = ["Instance"]


@dataclass
class Instance:
    """One day's allocation problem.

    Every table is a DataFrame with the columns of ``allocator.schema.TABLES`` (optional
    columns filled with their defaults), ids as text, quantities as floats. Build one with
    ``allocator.load(folder)`` or ``allocator.from_frames(...)``; both validate.
    """

    name: str
    products: pd.DataFrame
    sources: pd.DataFrame
    supply: pd.DataFrame
    regions: pd.DataFrame
    demand: pd.DataFrame
    routes: pd.DataFrame | None
    policy: Policy = field(default_factory=Policy)
    stock: pd.DataFrame | None = None
    transfers: pd.DataFrame | None = None
    capacity: pd.DataFrame | None = None  # shared transport capacity (capacity.csv)
    commitments: pd.DataFrame | None = None  # contracts and designated pairings (commitments.csv)
    substitutes: pd.DataFrame | None = None  # which product may serve which other family (substitutes.csv)
    path: Path | None = None
    warnings: list[Issue] = field(default_factory=list)

    @property
    def days(self) -> list[str]:
        """The dated days of supply, demand and stock (ISO dates, sorted); empty for a one-day instance."""
        found: set[str] = set()
        for frame in (self.supply, self.demand, self.stock):
            if frame is not None and "day" in frame:
                found.update(d for d in frame["day"].unique() if d)
        return sorted(found)

    def one_day(self) -> bool:
        """Whether the daily model (``allocator solve``) fits: at most one dated day, no stock or transfers."""
        return len(self.days) <= 1 and self.stock is None and self.transfers is None

    def with_policy(self, policy: Policy) -> Instance:
        return replace(self, policy=policy)

    def family_countable(self) -> dict[str, bool]:
        return self.products.groupby("family")["countable"].all().to_dict()

    def demand_weights(self) -> pd.Series:
        """The weight of one unit of shortfall of each demand row.

        A row's own ``weight`` when given; otherwise region ``weight`` (or the policy's
        ``region_weight``) x (the largest
        weight among the region's flags, or ``weights.default`` when it has none) x
        (``weights.icu`` for ICU use, else 1).
        """
        w = self.policy.weights
        regions = self.regions
        codes, distinct = pd.factorize(regions["flags"].to_numpy(dtype=object))  # few distinct flag sets
        by_flags = np.array(
            [max((w[f] for f in flags.split(";") if f in w), default=w["default"]) for flags in distinct], dtype=float
        )
        own_weight = regions["weight"].to_numpy(float)
        if self.policy.region_weights:  # the policy's [region_weight] replaces regions.csv's weight
            override = regions["region"].map(self.policy.region_weights).to_numpy(float)
            own_weight = np.where(np.isnan(override), own_weight, override)
        region_weight = by_flags[codes] * own_weight
        at = pd.Index(regions["region"]).get_indexer(self.demand["region"])
        base = pd.Series(region_weight[at], index=self.demand.index)
        icu = np.where(self.demand["use"] == "icu", w["icu"], 1.0)
        derived = base * icu
        own = self.demand["weight"]
        return pd.Series(np.where(own.notna(), own, derived), index=self.demand.index, name="weight")
