"""Build: the day's allocation as a network LP, from the instance's tables.

The network, per product family (families never share supply):

    supply node (source, product) --ship--> hub (region, product) --serve--> demand (region, family, use)
                                                                   demand --short--> (unmet)

Columns are ``ship`` arcs (route cost, capacity), ``serve`` arcs (which use a delivered
unit serves: ICU-grade units serve ICU demand, and general demand only where the policy
allows) and ``short`` columns (shortfall, weight). Rows are supply (``<=`` what the source
has), hub balance (``in = out``: nothing is delivered that serves no demand) and demand
(``served + short = quantity``). Every column has at most two nonzeros of +-1: a network
matrix, so every vertex is integral on integral data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .geo import great_circle_km
from .instance import Instance

__all__ = ["FlowModel", "build", "eligible_pairs", "route_table", "subset"]


def eligible_pairs(instance: Instance) -> pd.DataFrame:
    """Which product may serve which demand row: columns ``demand_idx``, ``product``."""
    products = instance.products[["product", "family", "grade"]]
    demand = instance.demand[["family", "use"]].rename_axis("demand_idx").reset_index()
    pairs = demand.merge(products, on="family")
    ok = (pairs["grade"] == pairs["use"]) | (
        (pairs["grade"] == "icu") & (pairs["use"] == "general") & instance.policy.icu_grade_for_general)
    return pairs.loc[ok, ["demand_idx", "product"]].sort_values(["demand_idx", "product"]).reset_index(drop=True)


def route_table(instance: Instance, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every usable (source, region, product) arc with its unit cost and capacity.

    Only arcs that could carry something are listed: the source has the product and the
    region has demand the product may serve. With ``routes.csv``, a row naming the product
    wins over a row without one; without it, every source reaches every region at
    great-circle km x ``routes.cost_per_km``.
    """
    if pairs is None:
        pairs = eligible_pairs(instance)
    supply = instance.supply.loc[instance.supply["quantity"] > 0, ["source", "product"]]
    wanted = pairs.assign(region=instance.demand.loc[pairs["demand_idx"], "region"].to_numpy())
    arcs = supply.merge(wanted[["product", "region"]].drop_duplicates(), on="product")
    arcs = arcs[["source", "region", "product"]].sort_values(["source", "region", "product"]).reset_index(drop=True)
    if instance.routes is None:
        src = instance.sources.set_index("source")
        reg = instance.regions.set_index("region")
        s_lat = src["lat"].fillna(src["region"].map(reg["lat"]))
        s_lon = src["lon"].fillna(src["region"].map(reg["lon"]))
        km = great_circle_km(arcs["source"].map(s_lat), arcs["source"].map(s_lon),
                             arcs["region"].map(reg["lat"]), arcs["region"].map(reg["lon"]))
        km = np.round(km, 1)
        arcs["cost"] = km * instance.policy.cost_per_km
        arcs["capacity"] = np.inf
        arcs["distance_km"] = km
        arcs["transit_days"] = np.nan
        return arcs
    routes = instance.routes[["source", "region", "product", "cost", "capacity", "distance_km", "transit_days"]]
    specific = arcs.merge(routes[routes["product"] != ""], on=["source", "region", "product"], how="inner")
    generic = arcs.merge(routes[routes["product"] == ""].drop(columns="product"), on=["source", "region"],
                         how="inner")
    generic = generic.merge(specific[["source", "region", "product"]], how="left", indicator=True)
    generic = generic[generic["_merge"] == "left_only"].drop(columns="_merge")
    out = pd.concat([specific, generic], ignore_index=True)
    out["capacity"] = out["capacity"].fillna(np.inf)
    return out.sort_values(["source", "region", "product"]).reset_index(drop=True)


@dataclass
class FlowModel:
    """The network LP as arrays, with labelled tables for every column and row family.

    Column order: ``ship`` arcs, then ``serve`` arcs, then one ``short`` column per demand
    row. Row order: supply rows, hub rows, demand rows.
    """

    ship: pd.DataFrame  # source, region, product, cost, capacity, distance_km, transit_days, countable
    serve: pd.DataFrame  # region, product, demand_idx, use, countable
    demand: pd.DataFrame  # instance demand + weight, countable
    supply: pd.DataFrame  # source, product, quantity (rows of the LP)
    hubs: pd.DataFrame  # region, product
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray  # CSC column starts
    index: np.ndarray  # CSC row indices
    value: np.ndarray  # CSC values

    @property
    def n_ship(self) -> int:
        return len(self.ship)

    @property
    def n_serve(self) -> int:
        return len(self.serve)

    @property
    def n_cols(self) -> int:
        return len(self.ship) + len(self.serve) + len(self.demand)

    @property
    def short_cols(self) -> np.ndarray:
        return np.arange(self.n_ship + self.n_serve, self.n_cols)

    @property
    def supply_rows(self) -> np.ndarray:
        return np.arange(len(self.supply))

    def cost_vector(self, stage: str) -> np.ndarray:
        """Objective of one stage: ``shortfall`` (weights on short columns) or ``cost`` (route cost)."""
        c = np.zeros(self.n_cols)
        if stage == "shortfall":
            c[self.short_cols] = self.demand["weight"].to_numpy(float)
        elif stage == "cost":
            c[: self.n_ship] = self.ship["cost"].to_numpy(float)
        else:
            raise ValueError(stage)
        return c

    def countable_cols(self) -> np.ndarray:
        return np.concatenate([self.ship["countable"].to_numpy(bool), self.serve["countable"].to_numpy(bool),
                               self.demand["countable"].to_numpy(bool)])


def build(instance: Instance) -> FlowModel:
    """Build the network LP for one instance."""
    pairs = eligible_pairs(instance)
    countable = dict(zip(instance.products["product"], instance.products["countable"]))
    fam_countable = instance.family_countable()
    demand = instance.demand.copy()
    demand["weight"] = instance.demand_weights()
    demand["countable"] = demand["family"].map(fam_countable).astype(bool)

    ship = route_table(instance, pairs)
    ship["countable"] = ship["product"].map(countable).astype(bool)
    supply = instance.supply.loc[instance.supply["quantity"] > 0, ["source", "product", "quantity"]]
    supply = supply.sort_values(["source", "product"]).reset_index(drop=True)
    hubs = ship[["region", "product"]].drop_duplicates().sort_values(["region", "product"]).reset_index(drop=True)

    serve = pairs.assign(region=demand.loc[pairs["demand_idx"], "region"].to_numpy(),
                         use=demand.loc[pairs["demand_idx"], "use"].to_numpy())
    serve = serve.merge(hubs, on=["region", "product"])  # only hubs some arc reaches
    serve = serve[["region", "product", "demand_idx", "use"]].sort_values(
        ["region", "product", "demand_idx"]).reset_index(drop=True)
    serve["countable"] = serve["product"].map(countable).astype(bool)

    n_supply, n_hub, n_dem = len(supply), len(hubs), len(demand)
    supply_row = pd.Series(np.arange(n_supply), index=pd.MultiIndex.from_frame(supply[["source", "product"]]))
    hub_row = pd.Series(n_supply + np.arange(n_hub), index=pd.MultiIndex.from_frame(hubs))
    ship_sup = supply_row.reindex(pd.MultiIndex.from_frame(ship[["source", "product"]])).to_numpy()
    ship_hub = hub_row.reindex(pd.MultiIndex.from_frame(ship[["region", "product"]])).to_numpy()
    serve_hub = hub_row.reindex(pd.MultiIndex.from_frame(serve[["region", "product"]])).to_numpy()
    serve_dem = n_supply + n_hub + serve["demand_idx"].to_numpy()
    short_dem = n_supply + n_hub + np.arange(n_dem)

    # CSC: ship columns have (supply +1, hub +1), serve columns (hub -1, demand +1), short (demand +1).
    n_ship, n_serve = len(ship), len(serve)
    index = np.concatenate([
        np.column_stack([ship_sup, ship_hub]).ravel(),
        np.column_stack([serve_hub, serve_dem]).ravel(),
        short_dem,
    ]).astype(np.int64)
    value = np.concatenate([np.ones(2 * n_ship), np.tile([-1.0, 1.0], n_serve), np.ones(n_dem)])
    nnz = np.concatenate([np.full(n_ship, 2), np.full(n_serve, 2), np.ones(n_dem, dtype=np.int64)])
    start = np.concatenate([[0], np.cumsum(nnz)]).astype(np.int64)

    cap = ship["capacity"].to_numpy(float).copy()
    cap = np.where(ship["countable"].to_numpy(bool) & np.isfinite(cap), np.floor(cap), cap)
    quantity = demand["quantity"].to_numpy(float)
    col_lower = np.zeros(n_ship + n_serve + n_dem)
    col_upper = np.concatenate([cap, np.full(n_serve, np.inf), quantity])
    row_lower = np.concatenate([np.full(n_supply, -np.inf), np.zeros(n_hub), quantity])
    row_upper = np.concatenate([supply["quantity"].to_numpy(float), np.zeros(n_hub), quantity])
    return FlowModel(ship=ship, serve=serve, demand=demand, supply=supply, hubs=hubs,
                     col_lower=col_lower, col_upper=col_upper, row_lower=row_lower, row_upper=row_upper,
                     start=start, index=index, value=value)


def subset(model: FlowModel, families) -> tuple[FlowModel, np.ndarray]:
    """The part of ``model`` that serves ``families``, and its columns' places in ``model``.

    Families never share a supply row, a hub, a route or a demand row, so the part is a
    model of its own: its optimum is the restriction of the whole model's optimum.
    """
    fam = model.demand["family"].to_numpy()
    keep_dem = np.isin(fam, list(families))
    products = set(model.serve.loc[keep_dem[model.serve["demand_idx"].to_numpy()], "product"])
    keep_sup = model.supply["product"].isin(products).to_numpy()
    keep_hub = model.hubs["product"].isin(products).to_numpy()
    keep_ship = model.ship["product"].isin(products).to_numpy()
    keep_serve = keep_dem[model.serve["demand_idx"].to_numpy()]
    cols = np.concatenate([np.flatnonzero(keep_ship), model.n_ship + np.flatnonzero(keep_serve),
                           model.n_ship + model.n_serve + np.flatnonzero(keep_dem)])
    rows_kept = np.concatenate([keep_sup, keep_hub, keep_dem])
    new_row = np.cumsum(rows_kept) - 1
    nnz = np.diff(model.start)[cols]
    take = np.repeat(model.start[cols], nnz) + (np.arange(int(nnz.sum())) - np.repeat(np.cumsum(nnz) - nnz, nnz))
    row_idx = np.flatnonzero(rows_kept)
    old_demand = np.flatnonzero(keep_dem)
    new_demand = pd.Series(np.arange(len(old_demand)), index=old_demand)
    serve = model.serve.loc[keep_serve].reset_index(drop=True)
    serve["demand_idx"] = new_demand.reindex(serve["demand_idx"].to_numpy()).to_numpy()
    part = FlowModel(
        ship=model.ship.loc[keep_ship].reset_index(drop=True), serve=serve,
        demand=model.demand.loc[keep_dem].reset_index(drop=True),
        supply=model.supply.loc[keep_sup].reset_index(drop=True),
        hubs=model.hubs.loc[keep_hub].reset_index(drop=True),
        col_lower=model.col_lower[cols], col_upper=model.col_upper[cols],
        row_lower=model.row_lower[row_idx], row_upper=model.row_upper[row_idx],
        start=np.concatenate([[0], np.cumsum(nnz)]).astype(np.int64),
        index=new_row[model.index[take]].astype(np.int64), value=model.value[take])
    return part, cols
