"""Bench policies on history: replay each instance under each policy scenario and compare.

Every scenario is measured with one yardstick, the instance's own policy: weighted
shortfall at the instance's weights, fill rates by the instance's priority tiers, and
the equity measure (Jain's index of regional fill rates within each of those weights).
Otherwise "Hubei first" (Hubei weighs 10) and "proportional to cases" (every province
weighs 1) would each be scored by its own weights. The first scenario is the baseline:
ratios are against it, measured in the same run.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from allocator.inputs.validate import load
from allocator.pipeline.batch import Scenario
from allocator.pipeline.replay import replay
from allocator.plan.tables import equity_measure
from allocator.report.folder import table_text
from allocator.tools.bench import machine_info

__all__ = ["bench_policies", "render_policy_bench"]


def bench_policies(
    instances: list[str], scenarios: list[Scenario], *, horizon: int | None = None, forecast: str = "perfect"
) -> pd.DataFrame:
    rows = []
    for path in instances:
        base = load(path)
        yard = base.demand.assign(w=base.demand_weights()).groupby(["region", "family", "use"])["w"].first()
        tiers = sorted(set(yard.round(12)), reverse=True)
        for sc in scenarios:
            inst = load(path, overrides=list(sc.overrides))
            t0 = time.perf_counter()
            rp = replay(inst, horizon=horizon, forecast=forecast)
            seconds = time.perf_counter() - t0
            f = rp.fill.copy()
            key = pd.MultiIndex.from_frame(f[["region", "family", "use"]])
            f["weight"] = yard.reindex(key).to_numpy(float)
            due = f["demand"] + f["backlog_in"]
            row = {
                "instance": inst.name,
                "scenario": sc.name,
                "days": f["day"].nunique(),
                "horizon": rp.horizon,
                "weighted_shortfall": float((f["weight"] * f["shortfall"]).sum()),
                "fill_rate": float(f["delivered"].sum() / due.sum()) if due.sum() > 0 else 1.0,
            }
            for k, w in enumerate(tiers, start=1):
                m = np.isclose(f["weight"].to_numpy(float), w)
                d = float(due[m].sum())
                row[f"fill_tier{k}"] = float(f.loc[m, "delivered"].sum() / d) if d > 0 else 1.0
            row.update(
                {"equity": equity_measure(f), "cost": rp.cost, "seconds": seconds, "mip_days": rp.methods.get("mip", 0)}
            )
            rows.append(row)
    out = pd.DataFrame(rows)
    tier_cols = sorted((c for c in out.columns if c.startswith("fill_tier")), key=lambda c: int(c[9:]))
    rest = [
        c
        for c in out.columns
        if c not in tier_cols
        and c not in ("instance", "scenario", "days", "horizon", "weighted_shortfall", "fill_rate")
    ]
    out = out[["instance", "scenario", "days", "horizon", "weighted_shortfall", "fill_rate", *tier_cols, *rest]]
    for _inst_name, grp in out.groupby("instance", sort=False):
        first = grp.index[0]
        for col in ("weighted_shortfall", "seconds"):
            base_val = out.loc[first, col]
            out.loc[grp.index, f"{col}_vs_base"] = out.loc[grp.index, col] / base_val if base_val > 0 else np.nan
    return out


def render_policy_bench(table: pd.DataFrame, *, horizon: int | None, forecast: str) -> str:
    m = machine_info()
    days = (
        f"horizon {horizon} day(s)" if horizon is not None else "horizon 1 + the longest transit time (column horizon)"
    )
    head = (
        f"# allocator bench --replay | {date.today().isoformat()} | {m['platform']} | {m['cpu_count']} cores | "
        f"Python {m['python']}\n# {days}, forecast {forecast}; every scenario scored at the "
        "instance's own weights and tiers; ratios against the first scenario, same run\n"
    )
    fmt = {c: "pct" for c in table.columns if c.startswith("fill")}
    fmt.update(
        {
            "weighted_shortfall": "int",
            "cost": "int",
            "equity": "num4",
            "seconds": "num",
            "weighted_shortfall_vs_base": "num",
            "seconds_vs_base": "num",
            "days": "int",
            "horizon": "int",
            "mip_days": "int",
        }
    )
    shown = table.copy()
    for c in shown.columns:
        if c.startswith("fill_tier"):  # an instance without that tier
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
            fmt.pop(c)
    shown["equity"] = shown["equity"].map(lambda v: f"{v:.4f}")
    fmt.pop("equity")
    for c in ("weighted_shortfall_vs_base", "seconds_vs_base"):
        shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.3f}x")
        fmt.pop(c)
    return head + table_text(shown, fmt) + "\n"
