"""A validated instance: typed tables plus the policy, ready to build a model from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import Issue
from .policy import Policy

__all__ = ["Instance"]


@dataclass
class Instance:
    """One day's allocation problem.

    Every table is a DataFrame with the columns of ``allocator.schema.TABLES`` (optional
    columns filled with their defaults), ids as text, quantities as floats. Build one with
    ``allocator.load(folder)`` or ``Instance.from_frames(...)``; both validate.
    """

    name: str
    products: pd.DataFrame
    sources: pd.DataFrame
    supply: pd.DataFrame
    regions: pd.DataFrame
    demand: pd.DataFrame
    routes: pd.DataFrame | None
    policy: Policy = field(default_factory=Policy)
    path: Path | None = None
    warnings: list[Issue] = field(default_factory=list)

    @classmethod
    def from_frames(
        cls,
        *,
        products: pd.DataFrame,
        sources: pd.DataFrame,
        supply: pd.DataFrame,
        regions: pd.DataFrame,
        demand: pd.DataFrame,
        routes: pd.DataFrame | None = None,
        policy: Policy | None = None,
        name: str = "instance",
    ) -> Instance:
        """Validate DataFrames as if they were the files of a folder; raise ``InstanceError``."""
        from .io import frames_to_raw
        from .validate import check

        raw = frames_to_raw(name, {"products": products, "sources": sources, "supply": supply,
                                   "regions": regions, "demand": demand, "routes": routes})
        return check(raw, policy=policy)

    def with_policy(self, policy: Policy) -> Instance:
        return replace(self, policy=policy)

    def family_countable(self) -> dict[str, bool]:
        return self.products.groupby("family")["countable"].all().to_dict()

    def demand_weights(self) -> pd.Series:
        """The weight of one unit of shortfall of each demand row.

        A row's own ``weight`` when given; otherwise region ``weight`` x (the largest
        weight among the region's flags, or ``weights.default`` when it has none) x
        (``weights.icu`` for ICU use, else 1).
        """
        w = self.policy.weights
        regions = self.regions
        codes, distinct = pd.factorize(regions["flags"].to_numpy(dtype=object))  # few distinct flag sets
        by_flags = np.array([max((w[f] for f in flags.split(";") if f in w), default=w["default"])
                             for flags in distinct], dtype=float)
        region_weight = by_flags[codes] * regions["weight"].to_numpy(float)
        at = pd.Index(regions["region"]).get_indexer(self.demand["region"])
        base = pd.Series(region_weight[at], index=self.demand.index)
        icu = np.where(self.demand["use"] == "icu", w["icu"], 1.0)
        derived = base * icu
        own = self.demand["weight"]
        return pd.Series(np.where(own.notna(), own, derived), index=self.demand.index, name="weight")
