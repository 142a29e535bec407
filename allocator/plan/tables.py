"""Plan: fill by priority tier (one day, and day by day) and by region.

A tier is a distinct demand weight, highest first (``plan.daily.tier_labels``: the one tier rule).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.inputs.instance import Instance
from allocator.plan.daily import tier_labels

__all__ = ["day_tier_table", "equity_measure", "region_table", "tier_table", "tiers_over_days"]


def tier_table(fill: pd.DataFrame) -> pd.DataFrame:
    g = fill.groupby("tier")
    out = pd.DataFrame(
        {
            "weight": g["weight"].max(),
            "rows": g.size(),
            "demand": g["demand"].sum(),
            "delivered": g["delivered"].sum(),
            "shortfall": g["shortfall"].sum(),
            "min_fill": g["fill_rate"].min(),
            "max_fill": g["fill_rate"].max(),
        }
    ).reset_index()
    out["fill_rate"] = out["delivered"] / out["demand"].where(out["demand"] > 0, 1.0)
    out.loc[out["demand"] <= 0, "fill_rate"] = 1.0
    return out[["tier", "weight", "rows", "demand", "delivered", "shortfall", "fill_rate", "min_fill", "max_fill"]]


def region_table(instance: Instance, fill: pd.DataFrame) -> pd.DataFrame:
    g = fill.groupby("region")
    out = pd.DataFrame(
        {
            "demand": g["demand"].sum(),
            "delivered": g["delivered"].sum(),
            "shortfall": g["shortfall"].sum(),
            "top_tier": g["tier"].min(),
        }
    ).reset_index()
    out["fill_rate"] = out["delivered"] / out["demand"].where(out["demand"] > 0, 1.0)
    out.loc[out["demand"] <= 0, "fill_rate"] = 1.0
    regions = instance.regions.set_index("region")
    out["name"] = out["region"].map(regions["name"])
    out["flags"] = out["region"].map(regions["flags"])
    out = out.sort_values(["top_tier", "fill_rate", "region"]).reset_index(drop=True)
    return out[["region", "name", "flags", "top_tier", "demand", "delivered", "shortfall", "fill_rate"]]


def day_tier_table(fill: pd.DataFrame) -> pd.DataFrame:
    """Per day and priority tier: demand, backlog in, delivered, shortfall and fill rate."""
    f = fill.assign(tier=tier_labels(fill["weight"]) if len(fill) else pd.Series(dtype=np.int64))
    g = f.groupby(["day", "tier"])
    out = _due_sums(g).assign(min_fill=g["fill_rate"].min()).reset_index()
    return out[["day", "tier", "weight", "demand", "backlog_in", "delivered", "shortfall", "fill_rate", "min_fill"]]


def _due_sums(g) -> pd.DataFrame:
    """Per group: the top weight, demand, backlog in, delivered, shortfall, and the fill rate of what
    was due (demand and backlog in; 1 where nothing was due)."""
    out = pd.DataFrame(
        {
            "weight": g["weight"].max(),
            "demand": g["demand"].sum(),
            "backlog_in": g["backlog_in"].sum(),
            "delivered": g["delivered"].sum(),
            "shortfall": g["shortfall"].sum(),
        }
    )
    due = out["demand"] + out["backlog_in"]
    out["fill_rate"] = np.where(due > 0, out["delivered"] / due.where(due > 0, 1.0), 1.0)
    return out


def equity_measure(fill: pd.DataFrame) -> float:
    """Jain's index of the regions' fill rates over the replay, within each priority
    weight, averaged with the weights' demand as weights: 1 when every region of a weight
    gets the same share of what it needs, 1/n when one of n gets everything (Jain, Chiu &
    Hawe, DEC-TR-301, 1984)."""
    f = fill.assign(due=fill["demand"] + fill["backlog_in"])
    per = f.groupby(["weight", "region"], as_index=False)[["delivered", "due"]].sum()
    per = per.loc[per["due"] > 0]
    if per.empty:
        return 1.0
    per["rate"] = per["delivered"] / per["due"]
    total, acc = 0.0, 0.0
    for _, grp in per.groupby("weight"):
        r = grp["rate"].to_numpy(float)
        jain = 1.0 if not r.any() else float(r.sum() ** 2 / (len(r) * (r**2).sum()))
        w = float(grp["due"].sum())
        acc += w * jain
        total += w
    return acc / total


def tiers_over_days(by_day: pd.DataFrame) -> pd.DataFrame:
    """Per priority tier over all the days of a ``day_tier_table``: what was due (demand and
    backlog in), delivered and short, and the fill rate of what was due."""
    out = _due_sums(by_day.groupby("tier")).reset_index()
    return out[["tier", "weight", "demand", "backlog_in", "delivered", "shortfall", "fill_rate"]]
