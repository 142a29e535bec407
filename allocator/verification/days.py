"""Verify a multi-day plan: every invariant, from its tables (not from the LP)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from allocator.inputs.instance import Instance
from allocator.inputs.reach import eligible_pairs

__all__ = ["check_days"]


def check_days(instance: Instance, result, tol: float = 1e-6) -> list[str]:
    """Every invariant of a multi-day plan, from its tables (not from the LP):

    - stock balance per holder, product and day: opening + arrived - sent - used - lost = closing,
      and each day's opening is the day before's closing (nothing appears or vanishes);
    - nothing sent that was not on hand; stock never negative;
    - nothing delivered beyond what is due (demand + backlog); durable units in service
      no more than on hand;
    - output made on day d is not at the source before d + its lead time (it is counted
      as arrived only on that day);
    - ICU-grade products serve only what the policy allows; whole units where countable.
    """
    dp, model = result.plan, result.model
    problems: list[str] = []
    st = dp.stock
    bal = st["opening"] + st["arrived"] - st["sent"] - st["used"] - st["lost"] - st["closing"]
    for pos in np.flatnonzero(np.abs(bal.to_numpy(float)) > tol * np.maximum(1.0, st["opening"].abs() + st["arrived"])):
        r = st.iloc[pos]
        problems.append(
            f"stock of {r['product']} at {r['holder']} {r['id']} on {r['day']} does not balance "
            f"(off by {bal.iloc[pos]:g})"
        )
    nums = ["opening", "arrived", "sent", "used", "lost", "closing", "in_service"]
    if (st[nums] < -tol).any().any():
        problems.append("a stock quantity is negative")
    order = {d: i for i, d in enumerate(model.days)}
    prev = st.assign(i=st["day"].map(order) + 1)[["holder", "id", "product", "i", "closing"]]
    nxt = st.assign(i=st["day"].map(order))[["holder", "id", "product", "i", "opening"]]
    joined = nxt.merge(prev, on=["holder", "id", "product", "i"], how="outer").fillna(0.0)
    joined = joined.loc[(joined["i"] > 0) & (joined["i"] < len(model.days))]
    if (np.abs(joined["opening"] - joined["closing"]) > tol).any():
        problems.append("a day's opening stock differs from the day before's closing stock")
    durable = st["in_service"] > st["closing"] + tol
    if durable.any():
        problems.append("more durable units in service than on hand")
    fill = dp.fill
    over = fill["delivered"] > fill["demand"] + fill["backlog_in"] + tol
    if over.any():
        r = fill.loc[over].iloc[0]
        problems.append(f"delivered beyond demand to {r['region']} ({r['family']}, {r['use']}) on {r['day']}")
    # ICU-grade only where allowed: every serve column with a delivery is an eligible pair.
    x = result.solution.x
    served = model.serve.assign(q=x[model.serve["col"].to_numpy(np.int64)] if len(model.serve) else 0.0)
    served = served.loc[served["q"] > tol]
    dem = model.demand.reset_index(drop=True)
    keys = dem[["region", "family", "use"]].drop_duplicates().reset_index(drop=True)
    ok_pairs = eligible_pairs(_keys_instance(instance, keys))
    ok = set(
        zip(
            keys.loc[ok_pairs["demand_idx"], "family"].to_numpy(object),
            keys.loc[ok_pairs["demand_idx"], "use"].to_numpy(object),
            ok_pairs["product"].to_numpy(object),
        )
    )
    for fam, use, prod in zip(
        dem["family"].to_numpy(object)[served["demand_idx"].to_numpy(np.int64)],
        dem["use"].to_numpy(object)[served["demand_idx"].to_numpy(np.int64)],
        served["product"].to_numpy(object),
    ):
        if (fam, use, prod) not in ok:
            problems.append(f"{prod} served {use} demand of {fam}, which the policy does not allow")
            break
    countable = model.countable_cols()
    if np.any(np.abs(x[countable] - np.round(x[countable])) > tol):
        problems.append("a countable item moves in fractional units")
    return problems


def _keys_instance(instance: Instance, keys: pd.DataFrame) -> Instance:
    return replace(instance, demand=keys.assign(quantity=1.0))
