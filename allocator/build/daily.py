"""Build: the day's allocation as a network LP, from the instance's tables.

The network, per product family (families never share supply, except through a substitute:
a ``substitutes.csv`` row lets a product serve another family's rows, see ``eligible_pairs``):

    supply node (source, product) --ship--> hub (region, product) --serve--> demand (region, family, use)
                                                                   demand --short--> (unmet)

Columns are ``ship`` arcs (route cost, capacity), ``serve`` arcs (which use a delivered
unit serves: ICU-grade units serve ICU demand, and general demand only where the policy
allows; a substitute's serve arc carries its ``preference`` and the cost stage's charge) and
``short`` columns (shortfall, weight). Rows are supply (``<=`` what the source
has), hub balance (``in = out``: nothing is delivered that serves no demand) and demand
(``served + short = quantity``). Every column has at most two nonzeros of +-1: a network
matrix, so every vertex is integral on integral data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.inputs.geo import great_circle_km
from allocator.inputs.instance import Instance
from allocator.inputs.reach import Ids, arc_codes, arcs_between, eligible_pairs

__all__ = [
    "FlowModel",
    "build",
    "family_components",
    "partition",
    "route_table",
]


def route_table(instance: Instance, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every usable (source, region, product) arc with its unit cost and capacity.

    Only arcs that could carry something are listed: the source has the product and the
    region has demand the product may serve. With ``routes.csv``, a row naming the product
    wins over a row without one; without it, every source reaches every region at
    great-circle km x ``routes.cost_per_km``.
    """
    if pairs is None:
        pairs = eligible_pairs(instance)
    ids = Ids(instance)
    return _route_frame(instance, ids, arc_codes(instance, pairs, ids))


def routes_between(instance: Instance, held: set[tuple[str, str]], wanted: set[tuple[str, str]]) -> pd.DataFrame:
    """The route arcs from sources holding a product (``held``: (source, product)) to regions
    that want it (``wanted``: (region, product)), priced as in ``route_table``. The multi-day
    model decides what a region wants: its demand, its floor, or a region it may pass stock on to."""
    ids = Ids(instance)
    has = np.zeros((len(ids.source), ids.n_product), dtype=bool)
    want = np.zeros((ids.n_region, ids.n_product), dtype=bool)
    if held:
        s, p = zip(*sorted(held))
        has[ids.source.get_indexer(list(s)), ids.product.get_indexer(list(p))] = True
    if wanted:
        r, p = zip(*sorted(wanted))
        want[ids.region.get_indexer(list(r)), ids.product.get_indexer(list(p))] = True
    return _route_frame(instance, ids, arcs_between(instance, ids, has, want))


def _route_frame(instance: Instance, ids: Ids, arcs: dict[str, np.ndarray]) -> pd.DataFrame:
    s, r, p = arcs["s"], arcs["r"], arcs["p"]
    out = pd.DataFrame(
        {"source": ids.source.to_numpy()[s], "region": ids.region.to_numpy()[r], "product": ids.product.to_numpy()[p]}
    )
    if instance.routes is None:
        src = instance.sources.set_index("source").reindex(ids.source)
        reg = instance.regions.set_index("region").reindex(ids.region)
        s_lat = src["lat"].fillna(src["region"].map(reg["lat"])).to_numpy(float)
        s_lon = src["lon"].fillna(src["region"].map(reg["lon"])).to_numpy(float)
        km = np.round(
            great_circle_km(s_lat[s], s_lon[s], reg["lat"].to_numpy(float)[r], reg["lon"].to_numpy(float)[r]), 1
        )
        out["cost"] = km * instance.policy.cost_per_km
        out["capacity"] = np.inf
        out["distance_km"] = km
        out["transit_days"] = np.nan
        return out
    rows = arcs["route"]
    for col in ("cost", "capacity", "distance_km", "transit_days"):
        out[col] = instance.routes[col].to_numpy(float)[rows]
    out["capacity"] = out["capacity"].fillna(np.inf)
    return out


@dataclass
class FlowModel:
    """The network LP as arrays, with labelled tables for every column and row family.

    Column order: ``ship`` arcs, then ``serve`` arcs, then one ``short`` column per demand
    row. Row order: supply rows, hub rows, demand rows.
    """

    ship: pd.DataFrame  # source, region, product, cost, capacity, distance_km, countable
    serve: pd.DataFrame  # region, product, demand_idx, use, countable, preference (0: own family) [, charge]
    demand: pd.DataFrame  # instance demand + weight, countable
    supply: pd.DataFrame  # source, product, quantity (rows of the LP)
    hubs: pd.DataFrame  # region, product
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray  # CSC column starts (int32 unless the model is too large)
    index: np.ndarray  # CSC row indices (likewise)
    value: np.ndarray  # CSC values (int8: every coefficient is +-1)

    @property
    def n_ship(self) -> int:
        return len(self.ship)

    @property
    def n_serve(self) -> int:
        return len(self.serve)

    @property
    def n_cols(self) -> int:
        return len(self.ship) + len(self.serve) + len(self.demand)

    def hub_of(self, arcs: str) -> np.ndarray:
        """The hub (0-based, in ``hubs``) of each ``ship`` arc (its second row) or ``serve`` arc
        (its first row), read off the matrix: no strings per arc."""
        first = {"ship": (1, 2 * self.n_ship), "serve": (2 * self.n_ship, 2 * (self.n_ship + self.n_serve))}[arcs]
        return self.index[first[0] : first[1] : 2] - len(self.supply)

    @property
    def short_cols(self) -> np.ndarray:
        return np.arange(self.n_ship + self.n_serve, self.n_cols)

    @property
    def supply_rows(self) -> np.ndarray:
        return np.arange(len(self.supply))

    @property
    def inequality_rows(self) -> np.ndarray:
        """Rows that are not equations (the lexicographic stages make the tight ones equations)."""
        return self.supply_rows

    def reachable(self, upper: np.ndarray) -> np.ndarray:
        """Demand rows that some open ship arc and open serve arc can still reach."""
        ship_open = upper[: self.n_ship] > 0
        hub_key = pd.MultiIndex.from_frame(self.ship.loc[ship_open, ["region", "product"]])
        serve_hub = pd.MultiIndex.from_frame(self.serve[["region", "product"]])
        serve_open = (upper[self.n_ship : self.n_ship + self.n_serve] > 0) & serve_hub.isin(hub_key)
        reachable = np.zeros(len(self.demand), dtype=bool)
        reachable[self.serve["demand_idx"].to_numpy()[serve_open]] = True
        return reachable

    def cost_vector(self, stage: str) -> np.ndarray:
        """Objective of one stage: ``shortfall`` (weights on short columns), ``cost`` (route
        cost) or ``plan`` (what the cost stage minimises: route cost plus ``change_cost`` on
        arcs a previous plan did not use, see ``stability``, plus the substitution charge on
        serve arcs of substitutes, ``serve_charges``)."""
        c = np.zeros(self.n_cols)
        if stage == "shortfall":
            c[self.short_cols] = self.demand["weight"].to_numpy(float)
        elif stage in ("cost", "plan"):
            c[: self.n_ship] = self.ship_costs(stage)
            if stage == "plan":
                c[self.n_ship : self.n_ship + self.n_serve] = self.serve_charges()
        else:
            raise ValueError(stage)
        return c

    def serve_charges(self) -> np.ndarray:
        """Per serve arc: the cost stage's charge on a unit it carries (``preference x
        substitution.cost`` for a substitute, 0 for the family's own products)."""
        if "charge" in self.serve:
            return self.serve["charge"].to_numpy(float)
        return np.zeros(self.n_serve)

    def ship_costs(self, stage: str = "plan") -> np.ndarray:
        """Per ship arc: its route cost (``cost``), or with the stability penalty (``plan``)."""
        cost = self.ship["cost"].to_numpy(float)
        if stage == "plan" and "change_cost" in self.ship:
            cost = cost + self.ship["change_cost"].to_numpy(float)
        return cost

    def countable_cols(self) -> np.ndarray:
        return np.concatenate(
            [
                self.ship["countable"].to_numpy(bool),
                self.serve["countable"].to_numpy(bool),
                self.demand["countable"].to_numpy(bool),
            ]
        )


def build(instance: Instance) -> FlowModel:
    """Build the network LP for one instance."""
    pairs = eligible_pairs(instance)
    countable = dict(zip(instance.products["product"], instance.products["countable"]))
    fam_countable = instance.family_countable()
    demand = instance.demand.copy()
    demand["weight"] = instance.demand_weights()
    demand["countable"] = demand["family"].map(fam_countable).astype(bool)

    ids = Ids(instance)
    arcs = arc_codes(instance, pairs, ids)
    ship = _route_frame(instance, ids, arcs).drop(columns="transit_days")  # no model needs it yet
    ship["route"] = arcs["route"]  # the routes.csv row pricing the arc (-1 without routes.csv): side rows need it
    product_countable = np.array([bool(countable[x]) for x in ids.product], dtype=bool)
    ship["countable"] = product_countable[arcs["p"]]
    supply = instance.supply.loc[instance.supply["quantity"] > 0, ["source", "product", "quantity"]]
    sup_key = ids.source.get_indexer(supply["source"]).astype(np.int64) * ids.n_product + ids.product.get_indexer(
        supply["product"]
    )
    order = np.argsort(sup_key, kind="stable")
    supply, sup_key = supply.iloc[order].reset_index(drop=True), sup_key[order]
    hub_key, ship_hub = np.unique(ids.hub_key(arcs["r"], arcs["p"]), return_inverse=True)
    hubs = pd.DataFrame(
        {
            "region": ids.region.to_numpy()[hub_key // ids.n_product],
            "product": ids.product.to_numpy()[hub_key % ids.n_product],
        }
    )

    # Serve arcs: (region, product) hubs some arc reaches, to the demand rows the product may serve.
    pair_dem = pairs["demand_idx"].to_numpy()
    pair_key = ids.hub_key(
        ids.region.get_indexer(demand["region"])[pair_dem], ids.product.get_indexer(pairs["product"])
    )
    at = np.minimum(np.searchsorted(hub_key, pair_key), max(len(hub_key) - 1, 0))
    reached = np.flatnonzero(hub_key[at] == pair_key) if len(hub_key) else np.zeros(0, dtype=np.int64)
    order = reached[np.lexsort((pair_dem[reached], pair_key[reached]))]
    serve_hub_pos = at[order]
    serve = pd.DataFrame(
        {
            "region": hubs["region"].to_numpy()[serve_hub_pos],
            "product": hubs["product"].to_numpy()[serve_hub_pos],
            "demand_idx": pair_dem[order],
            "use": demand["use"].to_numpy()[pair_dem[order]],
        }
    )
    serve["countable"] = (
        product_countable[hub_key[serve_hub_pos] % ids.n_product] if len(serve) else np.zeros(0, dtype=bool)
    )
    preference = pairs["preference"].to_numpy(np.int64)[order]
    serve["preference"] = preference.astype(np.int32)  # counts up to 1e9
    if (preference > 0).any():  # substitutes: the cost stage charges their units
        serve["charge"] = preference * float(instance.policy.substitution_cost)

    n_supply, n_hub, n_dem = len(supply), len(hub_key), len(demand)
    ship_sup = np.searchsorted(sup_key, arcs["s"].astype(np.int64) * ids.n_product + arcs["p"])
    ship_hub = n_supply + ship_hub
    serve_hub = n_supply + serve_hub_pos
    serve_dem = n_supply + n_hub + serve["demand_idx"].to_numpy()
    short_dem = n_supply + n_hub + np.arange(n_dem)

    # CSC: ship columns have (supply +1, hub +1), serve columns (hub -1, demand +1), short (demand +1).
    # Row numbers and column starts in 32 bits and the +-1 values in 8 (a county model's
    # matrix in 25 MB instead of 63); the LP adapter widens them for HiGHS.
    n_ship, n_serve = len(ship), len(serve)
    n_cols, nnz_total = n_ship + n_serve + n_dem, 2 * (n_ship + n_serve) + n_dem
    small = np.int32 if max(nnz_total, n_supply + n_hub + n_dem) < 2**31 else np.int64
    index = np.empty(nnz_total, dtype=small)
    index[0 : 2 * n_ship : 2], index[1 : 2 * n_ship : 2] = ship_sup, ship_hub
    index[2 * n_ship : 2 * (n_ship + n_serve) : 2] = serve_hub
    index[2 * n_ship + 1 : 2 * (n_ship + n_serve) : 2] = serve_dem
    index[2 * (n_ship + n_serve) :] = short_dem
    value = np.ones(nnz_total, dtype=np.int8)
    value[2 * n_ship : 2 * (n_ship + n_serve) : 2] = -1
    start = np.empty(n_cols + 1, dtype=small)
    start[: n_ship + n_serve + 1] = 2 * np.arange(n_ship + n_serve + 1)
    start[n_ship + n_serve + 1 :] = 2 * (n_ship + n_serve) + np.arange(1, n_dem + 1)

    cap = ship["capacity"].to_numpy(float).copy()
    cap = np.where(ship["countable"].to_numpy(bool) & np.isfinite(cap), np.floor(cap), cap)
    quantity = demand["quantity"].to_numpy(float)
    col_lower = np.zeros(n_ship + n_serve + n_dem)
    col_upper = np.concatenate([cap, np.full(n_serve, np.inf), quantity])
    row_lower = np.concatenate([np.full(n_supply, -np.inf), np.zeros(n_hub), quantity])
    row_upper = np.concatenate([supply["quantity"].to_numpy(float), np.zeros(n_hub), quantity])
    return FlowModel(
        ship=ship,
        serve=serve,
        demand=demand,
        supply=supply,
        hubs=hubs,
        col_lower=col_lower,
        col_upper=col_upper,
        row_lower=row_lower,
        row_upper=row_upper,
        start=start,
        index=index,
        value=value,
    )


def family_components(model: FlowModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which families share supply: the model's families (sorted), each demand row's family
    (a position in them) and each family's component (the position of its first family).

    Families share nothing unless a product serves rows of several (a substitute,
    ``substitutes.csv``): its supply rows link them, so they are one component. Without
    substitutes every family is its own component.
    """
    families, dem_family = np.unique(model.demand["family"].to_numpy(dtype=object), return_inverse=True)
    dem_family = dem_family.reshape(-1)
    parent = np.arange(len(families))
    if "preference" in model.serve and (model.serve["preference"].to_numpy() > 0).any():
        product, _ = pd.factorize(model.serve["product"].to_numpy(dtype=object))
        n = max(1, len(families))
        key = np.unique(product.astype(np.int64) * n + dem_family[model.serve["demand_idx"].to_numpy()])
        prod, fam = key // n, key % n
        first = fam[np.searchsorted(prod, prod)]  # the first family each product serves

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return int(i)

        for a, b in zip(first.tolist(), fam.tolist()):
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)
        parent = np.array([root(i) for i in range(len(families))], dtype=np.int64)
    return families, dem_family, parent


def partition(model: FlowModel, groups: list[list]) -> Iterator[tuple[FlowModel, np.ndarray]]:
    """The parts of ``model`` serving each group of families, with their columns' places in ``model``.

    Families never share a supply row, a hub, a route or a demand row, so each part is a
    model of its own: its optimum is the restriction of the whole model's optimum. Families
    linked by a substitute (``family_components``) do share supply: they must be in one group. One
    pass over the model, however many groups (a county model has 38 families and
    millions of columns); the parts are made one at a time, as they are asked for, so
    that only one is in memory with the model.
    """
    family_group = {f: g for g, fams in enumerate(groups) for f in fams}
    dem_group = model.demand["family"].map(family_group).to_numpy()
    if pd.isna(dem_group).any():
        raise ValueError("partition: every family must be in a group")
    dem_group = dem_group.astype(np.int64)
    # A product's group is the group of the demand rows it serves.
    serve_group = dem_group[model.serve["demand_idx"].to_numpy()]
    products, first = np.unique(model.serve["product"].to_numpy(dtype=object), return_index=True)
    products, group_of = pd.Index(products), np.append(serve_group[first], -1)
    linked = "preference" in model.serve and (model.serve["preference"].to_numpy() > 0).any()
    # A substitute serves rows of several families: they share its supply, so one group.
    if linked and (group_of[products.get_indexer(model.serve["product"])] != serve_group).any():
        raise ValueError("partition: families linked by a substitute must be in one group")

    def by_product(frame):
        return group_of[products.get_indexer(frame["product"])]  # -1 (the last entry): serves nothing

    ns, nh = len(model.supply), len(model.hubs)
    hub_group = by_product(model.hubs)
    ship_group = hub_group[model.hub_of("ship")]  # a ship arc's group is its hub's
    row_group = np.concatenate([by_product(model.supply), hub_group, dem_group])
    col_group = np.concatenate([ship_group, serve_group, dem_group])
    if (col_group < 0).any():
        raise ValueError("partition: a column serves no demand row")
    n_groups = len(groups)
    row_order, row_first, new_row = _grouped(row_group, n_groups)
    col_order, col_first, _ = _grouped(col_group, n_groups)
    _, _, dem_rank = _grouped(dem_group, n_groups)
    nnz_all = np.diff(model.start)
    short0 = model.n_ship + model.n_serve
    for g in range(n_groups):
        cols = col_order[col_first[g] : col_first[g + 1]]  # ascending: ship, serve, short
        rows = row_order[row_first[g] : row_first[g + 1]]
        nnz = nnz_all[cols]
        take = np.repeat(model.start[cols], nnz) + (np.arange(int(nnz.sum())) - np.repeat(np.cumsum(nnz) - nnz, nnz))
        ship_cols = cols[cols < model.n_ship]
        serve_cols = cols[(cols >= model.n_ship) & (cols < short0)] - model.n_ship
        dem = cols[cols >= short0] - short0
        serve = model.serve.iloc[serve_cols].reset_index(drop=True)
        serve["demand_idx"] = dem_rank[serve["demand_idx"].to_numpy()]
        part = FlowModel(
            ship=model.ship.iloc[ship_cols].reset_index(drop=True),
            serve=serve,
            demand=model.demand.iloc[dem].reset_index(drop=True),
            supply=model.supply.iloc[rows[rows < ns]].reset_index(drop=True),
            hubs=model.hubs.iloc[rows[(rows >= ns) & (rows < ns + nh)] - ns].reset_index(drop=True),
            col_lower=model.col_lower[cols],
            col_upper=model.col_upper[cols],
            row_lower=model.row_lower[rows],
            row_upper=model.row_upper[rows],
            start=np.concatenate([[0], np.cumsum(nnz)]).astype(model.start.dtype),
            index=new_row[model.index[take]].astype(model.index.dtype),
            value=model.value[take],
        )
        yield part, cols


def _grouped(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions sorted by group (stable), where each group starts, and each position's rank in its group."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.searchsorted(sorted_group, np.arange(-1, n_groups + 1))  # group -1: in no part
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts[sorted_group + 1]
    return order, starts[1:], rank
