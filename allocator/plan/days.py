"""Plan: a multi-day solution as labelled tables, day by day, and the state it hands on.

Tables (every one has ``day``):
- ``shipments``: day shipped, day it arrives, source, region, product, quantity, cost;
- ``transfers``: day sent, day it arrives, from_region, to_region, product, quantity, cost;
- ``fill``: per region, family, use and day: demand (new today), backlog_in (carried from
  yesterday), delivered, shortfall (unmet at the end of the day), carried (to tomorrow),
  fill_rate (delivered / (demand + backlog_in)), weight;
- ``stock``: per holder (source or region), product and day: opening, arrived (output
  ready, deliveries and transfers arriving), sent (shipped or transferred out), used
  (consumed; durable units in service stay), lost (attrition), closing, in_service
  (durable units in service), floor. ``opening + arrived - sent - used - lost = closing``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.build.horizon import HorizonModel, State

__all__ = ["DayPlan", "day_plan", "state_after"]


@dataclass
class DayPlan:
    shipments: pd.DataFrame
    transfers: pd.DataFrame
    fill: pd.DataFrame
    stock: pd.DataFrame


def _q(x: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    return x[frame["col"].to_numpy(np.int64)] if len(frame) else np.zeros(0)


def _moves(frame: pd.DataFrame, x: np.ndarray, day_labels: list[str], a: str, b: str) -> pd.DataFrame:
    """Ship or transfer columns that carry something: day, arrives, from, to, product, quantity, cost."""
    days = np.asarray(day_labels, dtype=object)
    f = frame.assign(quantity=_q(x, frame))
    f = f.loc[f["quantity"] > 0]
    return pd.DataFrame(
        {
            "day": days[f["t"].to_numpy(np.int64)],
            "arrives": days[f["arrive_t"].to_numpy(np.int64)],
            a: f[a].to_numpy(),
            b: f[b].to_numpy(),
            "product": f["product"].to_numpy(),
            "quantity": f["quantity"].to_numpy(float),
            "cost": f["quantity"].to_numpy(float) * f["cost"].to_numpy(float),
        }
    ).reset_index(drop=True)


def day_plan(model: HorizonModel, x: np.ndarray) -> DayPlan:
    shipments = _moves(model.ship, x, model.days, "source", "region")
    transfers = _moves(model.transfer, x, model.days, "from_region", "to_region")

    dem = model.demand.reset_index(drop=True)
    short = _q(x, dem)
    served = np.zeros(len(dem))
    if len(model.serve):
        np.add.at(served, model.serve["demand_idx"].to_numpy(np.int64), _q(x, model.serve))
    # A carried row's shortfall at the end of a day is its backlog the next day.
    backlog_in = dem["backlog_in"].to_numpy(float).copy()
    is_carried = dem["carries"].to_numpy(bool)
    carried = np.where(is_carried, short, 0.0)
    if is_carried.any():
        by_key = pd.Series(short, index=pd.MultiIndex.from_frame(dem[["region", "family", "use", "t"]]))
        key = pd.MultiIndex.from_arrays([dem["region"], dem["family"], dem["use"], dem["t"] - 1])
        before = np.nan_to_num(by_key.reindex(key).to_numpy(float))
        backlog_in = np.where(is_carried & (dem["t"].to_numpy() > 0), before, backlog_in)
    due = dem["new"].to_numpy(float) + backlog_in
    fill = pd.DataFrame(
        {
            "day": dem["day"].to_numpy(),
            "region": dem["region"].to_numpy(),
            "family": dem["family"].to_numpy(),
            "use": dem["use"].to_numpy(),
            "weight": dem["base_weight"].to_numpy(float),
            "demand": dem["new"].to_numpy(float),
            "backlog_in": backlog_in,
            "delivered": served,
            "shortfall": short,
            "carried": carried,
            "fill_rate": np.where(due > 0, served / np.where(due > 0, due, 1.0), 1.0),
        }
    )

    stock = _stock_table(model, x)
    return DayPlan(shipments=shipments, transfers=transfers, fill=fill, stock=stock)


def _stock_table(model: HorizonModel, x: np.ndarray) -> pd.DataFrame:
    n_days = len(model.days)
    records: dict[tuple, dict[str, float]] = {}

    def rec(holder: str, ident: str, product: str, t: int) -> dict[str, float]:
        key = (t, holder, ident, product)
        if key not in records:
            records[key] = {
                "opening": 0.0,
                "arrived": 0.0,
                "sent": 0.0,
                "used": 0.0,
                "lost": 0.0,
                "closing": 0.0,
                "in_service": 0.0,
                "floor": 0.0,
            }
        return records[key]

    state = model.opening
    for s, p, q in state.source_stock[["source", "product", "quantity"]].itertuples(index=False, name=None):
        if q > 0:
            rec("source", s, p, 0)["opening"] += q
    for r, p, q in state.region_stock[["region", "product", "quantity"]].itertuples(index=False, name=None):
        if q > 0:
            rec("region", r, p, 0)["opening"] += q
    for h, i, p, d, q in state.arriving[["holder", "id", "product", "day", "quantity"]].itertuples(
        index=False, name=None
    ):
        t = max(int(d) - model.first_day, 0)
        if t < n_days and q > 0:
            rec(h, i, p, t)["arrived"] += q
    for t, s, p, q in model.ready[["t", "source", "product", "quantity"]].itertuples(index=False, name=None):
        rec("source", s, p, t)["arrived"] += q
    sq = _q(x, model.ship)
    for (t, s, r, p, a), q in zip(
        model.ship[["t", "source", "region", "product", "arrive_t"]].itertuples(index=False, name=None), sq
    ):
        if q > 0:
            rec("source", s, p, t)["sent"] += q
            rec("region", r, p, a)["arrived"] += q
    tq = _q(x, model.transfer)
    for (t, fr, to, p, a), q in zip(
        model.transfer[["t", "from_region", "to_region", "product", "arrive_t"]].itertuples(index=False, name=None), tq
    ):
        if q > 0:
            rec("region", fr, p, t)["sent"] += q
            rec("region", to, p, a)["arrived"] += q
    for (t, r, p), q in zip(
        model.loss[["t", "region", "product"]].itertuples(index=False, name=None), _q(x, model.loss)
    ):
        if q > 0:
            rec("region", r, p, t)["lost"] += q
    durable = dict(zip(zip(model.hub_stock["region"], model.hub_stock["product"]), model.hub_stock["durable"]))
    for (t, r, p), q in zip(
        model.serve[["t", "region", "product"]].itertuples(index=False, name=None), _q(x, model.serve)
    ):
        if q > 0:
            rec("region", r, p, t)["in_service" if durable.get((r, p)) else "used"] += q
    for (t, s, p), q in zip(
        model.source_stock[["t", "source", "product"]].itertuples(index=False, name=None), _q(x, model.source_stock)
    ):
        e = rec("source", s, p, t)
        e["closing"] = q
        if t + 1 < n_days:
            rec("source", s, p, t + 1)["opening"] = q
    for (t, r, p), q in zip(
        model.hub_stock[["t", "region", "product"]].itertuples(index=False, name=None), _q(x, model.hub_stock)
    ):
        rec("region", r, p, t)["closing"] = q
        if t + 1 < n_days:
            rec("region", r, p, t + 1)["opening"] = q
    # A region keeps a floor per family (every product of it counts), a source per product.
    floors = {
        (t, h, i, p if h == "source" else f): v
        for t, h, i, f, p, v in model.floor[["t", "holder", "id", "family", "product", "floor"]].itertuples(
            index=False, name=None
        )
    }
    for (t, h, i, p), e in records.items():
        key = (t, h, i, p if h == "source" else model.product_family.get(p, p))
        if key in floors:
            e["floor"] = floors[key]
    rows = [
        {"day": model.days[t], "holder": h, "id": i, "product": p, **vals}
        for (t, h, i, p), vals in sorted(records.items())
    ]
    cols = [
        "day",
        "holder",
        "id",
        "product",
        "opening",
        "arrived",
        "sent",
        "used",
        "lost",
        "closing",
        "in_service",
        "floor",
    ]
    out = pd.DataFrame(rows, columns=cols).astype(dict.fromkeys(cols[:4], object) | dict.fromkeys(cols[4:], float))
    return out.loc[(out[cols[4:]] != 0).any(axis=1)].reset_index(drop=True)


def state_after(model: HorizonModel, x: np.ndarray, plan: DayPlan, backlog: bool) -> State:
    """The state at the start of the window's second day, when its first day is committed."""
    first = model.days[0]
    st = plan.stock.loc[plan.stock["day"] == first]
    src = st.loc[st["holder"] == "source"]
    reg = st.loc[st["holder"] == "region"]
    fill = plan.fill.loc[plan.fill["day"] == first]
    day1 = model.first_day
    arriving = model.opening.arriving
    arriving = arriving.loc[arriving["day"] > day1]
    ship = plan.shipments.loc[(plan.shipments["day"] == first) & (plan.shipments["arrives"] != first)]
    tr = plan.transfers.loc[(plan.transfers["day"] == first) & (plan.transfers["arrives"] != first)]
    day_of = {label: model.first_day + t for t, label in enumerate(model.days)}
    new = pd.DataFrame(
        {
            "holder": "region",
            "id": np.concatenate([ship["region"].to_numpy(object), tr["to_region"].to_numpy(object)]),
            "product": np.concatenate([ship["product"].to_numpy(object), tr["product"].to_numpy(object)]),
            "day": np.array([day_of[a] for a in list(ship["arrives"]) + list(tr["arrives"])], dtype=np.int64),
            "quantity": np.concatenate([ship["quantity"].to_numpy(float), tr["quantity"].to_numpy(float)]),
        }
    )
    arriving = pd.concat([arriving, new], ignore_index=True) if len(new) else arriving.reset_index(drop=True)
    carried = fill.loc[fill["carried"] > 0] if backlog else fill.iloc[:0]
    return State(
        source_stock=pd.DataFrame(
            {
                "source": src["id"].to_numpy(object),
                "product": src["product"].to_numpy(object),
                "quantity": src["closing"].to_numpy(float),
            }
        )
        .query("quantity > 0")
        .reset_index(drop=True),
        region_stock=pd.DataFrame(
            {
                "region": reg["id"].to_numpy(object),
                "product": reg["product"].to_numpy(object),
                "quantity": reg["closing"].to_numpy(float),
            }
        )
        .query("quantity > 0")
        .reset_index(drop=True),
        backlog=pd.DataFrame(
            {
                "region": carried["region"].to_numpy(object),
                "family": carried["family"].to_numpy(object),
                "use": carried["use"].to_numpy(object),
                "quantity": carried["carried"].to_numpy(float),
            }
        ),
        arriving=arriving.reset_index(drop=True),
        overnight=True,
    )
