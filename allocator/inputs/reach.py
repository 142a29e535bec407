"""Who may serve whom, and which demand the routes reach: questions of the input tables alone.

``eligible_pairs`` says which products may serve each demand row (the family's own products;
ICU-grade ones for general use only where the policy allows; substitutes by
``substitutes.csv``). ``demand_reach`` says which rows some supply or stock can reach along
routes and transfers. Validation warns with these; the model builders make arcs from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.inputs.instance import Instance

__all__ = ["Ids", "arc_codes", "arcs_between", "demand_reach", "eligible_pairs", "substitute_rows"]


def eligible_pairs(instance: Instance) -> pd.DataFrame:
    """Which product may serve which demand row: columns ``demand_idx``, ``product``, ``preference``.

    A family's own products serve its rows (preference 0). A ``substitutes.csv`` row lets a
    product serve the rows of another family and use too, at its ``preference`` (1 or more:
    the cost stage charges ``preference x substitution.cost`` a unit). Either way the ICU rule
    holds: ICU-grade units serve ICU use, and general use only where the policy allows;
    general-grade units serve general use only.
    """
    products = instance.products[["product", "family", "grade"]]
    demand = instance.demand[["family", "use"]].rename_axis("demand_idx").reset_index()
    pairs = demand.merge(products, on="family")
    pairs["preference"] = 0
    subs = substitute_rows(instance)
    if len(subs):
        grade = products.set_index("product")["grade"]
        extra = demand.merge(subs[["product", "family", "use", "preference"]], on=["family", "use"])
        extra["grade"] = extra["product"].map(grade).to_numpy(object)
        pairs = pd.concat([pairs, extra], ignore_index=True)
    ok = (pairs["grade"] == pairs["use"]) | (
        (pairs["grade"] == "icu") & (pairs["use"] == "general") & instance.policy.icu_grade_for_general
    )
    pairs = pairs.loc[ok, ["demand_idx", "product", "preference"]]
    if len(subs):  # a product listed for its own family keeps preference 0
        pairs = pairs.sort_values(["demand_idx", "product", "preference"]).drop_duplicates(["demand_idx", "product"])
        return pairs.reset_index(drop=True)
    return pairs.sort_values(["demand_idx", "product"]).reset_index(drop=True)


def substitute_rows(instance: Instance) -> pd.DataFrame:
    """The rows of ``substitutes.csv`` that name another family than the product's own, with
    ``preference`` as an integer (none: an empty table)."""
    subs = instance.substitutes
    if subs is None or not len(subs):
        return pd.DataFrame(
            {
                "product": pd.Series(dtype=object),
                "family": pd.Series(dtype=object),
                "use": pd.Series(dtype=object),
                "preference": pd.Series(dtype=np.int64),
            }
        )
    own = subs["product"].map(instance.products.set_index("product")["family"])
    subs = subs.loc[(subs["family"] != own).to_numpy()]
    out = subs[["product", "family", "use"]].copy()
    out["preference"] = subs["preference"].to_numpy(float).astype(np.int64)
    return out.reset_index(drop=True)


class Ids:
    """Integer codes for the sources, regions and products, numbered in sorted id order.

    Sorting or joining by codes is the same as by the ids, without hashing or comparing
    millions of strings (a county-scale model has 1.5 M arcs).
    """

    def __init__(self, instance: Instance):
        self.source = pd.Index(np.sort(instance.sources["source"].to_numpy(dtype=object)))
        self.region = pd.Index(np.sort(instance.regions["region"].to_numpy(dtype=object)))
        self.product = pd.Index(np.sort(instance.products["product"].to_numpy(dtype=object)))
        self.n_region, self.n_product = len(self.region), len(self.product)

    def arc_key(self, s: np.ndarray, r: np.ndarray, p: np.ndarray) -> np.ndarray:
        return (s.astype(np.int64) * self.n_region + r) * self.n_product + p

    def hub_key(self, r: np.ndarray, p: np.ndarray) -> np.ndarray:
        return r.astype(np.int64) * self.n_product + p


def arc_codes(instance: Instance, pairs: pd.DataFrame, ids: Ids) -> dict[str, np.ndarray]:
    """The usable arcs as codes ``s, r, p`` sorted by (source, region, product), with ``route``:
    the row of ``routes.csv`` that prices each (-1 without a ``routes.csv``)."""
    supply = instance.supply.loc[instance.supply["quantity"] > 0]
    has = np.zeros((len(ids.source), ids.n_product), dtype=bool)
    has[ids.source.get_indexer(supply["source"]), ids.product.get_indexer(supply["product"])] = True
    demand_region = ids.region.get_indexer(instance.demand["region"])
    wanted = np.zeros((ids.n_region, ids.n_product), dtype=bool)
    wanted[demand_region[pairs["demand_idx"].to_numpy()], ids.product.get_indexer(pairs["product"])] = True
    return arcs_between(instance, ids, has, wanted)


def arcs_between(instance: Instance, ids: Ids, has: np.ndarray, wanted: np.ndarray) -> dict[str, np.ndarray]:
    """The arcs from sources holding a product (``has``: source x product) to regions that
    want it (``wanted``: region x product), as in ``_arc_codes``."""
    if instance.routes is None:  # every source that has a product reaches every region that wants it
        parts = [(np.flatnonzero(has[:, p]), np.flatnonzero(wanted[:, p]), p) for p in range(ids.n_product)]
        s = np.concatenate([np.repeat(src, len(reg)) for src, reg, _ in parts] + [np.zeros(0, np.int64)])
        r = np.concatenate([np.tile(reg, len(src)) for src, reg, _ in parts] + [np.zeros(0, np.int64)])
        p = np.concatenate([np.full(len(src) * len(reg), k) for src, reg, k in parts] + [np.zeros(0, np.int64)])
        route = np.full(len(s), -1)
    else:
        routes = instance.routes
        rs, rr = ids.source.get_indexer(routes["source"]), ids.region.get_indexer(routes["region"])
        rp = ids.product.get_indexer(routes["product"])  # -1: a row for every product
        specific = np.flatnonzero(rp >= 0)
        usable = specific[has[rs[specific], rp[specific]] & wanted[rr[specific], rp[specific]]]
        generic = np.flatnonzero(rp < 0)
        g_row, g_p = np.nonzero(has[rs[generic]] & wanted[rr[generic]])
        g_row = generic[g_row]
        # A row naming the product wins over a row without one.
        g_key = ids.arc_key(rs[g_row], rr[g_row], g_p)
        keep = ~np.isin(g_key, ids.arc_key(rs[specific], rr[specific], rp[specific]))
        route = np.concatenate([usable, g_row[keep]])
        p = np.concatenate([rp[usable], g_p[keep]])
        s, r = rs[route], rr[route]
    order = np.argsort(ids.arc_key(s, r, p), kind="stable")
    return {"s": s[order], "r": r[order], "p": p[order], "route": route[order]}


def demand_reach(instance: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Per demand row: is any product that may serve it supplied or stocked, and can it reach the row.

    The same answer as "``build`` gives the row a serve arc", without listing the arcs: a
    region is reached with a product when a route row from a source holding that product
    reaches it (a route row without a product carries every product its source holds), when
    the region holds stock of it, or when a transfer brings it from a region that is reached
    (along chains of transfers). A source holds what it makes and its ``stock.csv`` rows.
    """
    pairs = eligible_pairs(instance)
    ids = Ids(instance)
    supply = instance.supply.loc[instance.supply["quantity"] > 0]
    has = np.zeros((len(ids.source), ids.n_product), dtype=bool)
    has[ids.source.get_indexer(supply["source"]), ids.product.get_indexer(supply["product"])] = True
    stocked = np.zeros((ids.n_region, ids.n_product), dtype=bool)
    stock = instance.stock
    if stock is not None and len(stock):
        stock = stock.loc[stock["quantity"] > 0]
        at_source = (stock["source"] != "").to_numpy()
        has[
            ids.source.get_indexer(stock["source"][at_source]), ids.product.get_indexer(stock["product"][at_source])
        ] = True
        stocked[
            ids.region.get_indexer(stock["region"][~at_source]), ids.product.get_indexer(stock["product"][~at_source])
        ] = True
    dem = pairs["demand_idx"].to_numpy()
    prod = ids.product.get_indexer(pairs["product"])
    has_supply = np.zeros(len(instance.demand), dtype=bool)
    has_supply[dem[(has.any(axis=0) | stocked.any(axis=0))[prod]]] = True
    if instance.routes is None:  # every source reaches every region
        reach = np.broadcast_to(has.any(axis=0), (ids.n_region, ids.n_product)).copy()
    else:
        routes = instance.routes
        rs, rr = ids.source.get_indexer(routes["source"]), ids.region.get_indexer(routes["region"])
        rp = ids.product.get_indexer(routes["product"])  # -1: a row for every product
        reach = np.zeros((ids.n_region, ids.n_product), dtype=bool)
        one = np.flatnonzero(rp >= 0)
        one = one[has[rs[one], rp[one]]]
        reach[rr[one], rp[one]] = True
        every = np.flatnonzero(rp < 0)
        if len(every):
            # What each region's sources hold, OR-ed per region over products packed 8 to a byte.
            order = every[np.argsort(rr[every], kind="stable")]
            region = rr[order]
            first = np.flatnonzero(np.r_[True, region[1:] != region[:-1]])
            held = np.bitwise_or.reduceat(np.packbits(has, axis=1)[rs[order]], first, axis=0)
            reach[region[first]] |= np.unpackbits(held, axis=1, count=ids.n_product).astype(bool)
    reach |= stocked
    transfers = instance.transfers
    if transfers is not None and len(transfers):
        tf, tt = ids.region.get_indexer(transfers["from_region"]), ids.region.get_indexer(transfers["to_region"])
        tp = ids.product.get_indexer(transfers["product"])  # -1: every product
        mask = np.ones((len(transfers), ids.n_product), dtype=bool)
        mask[tp >= 0] = False
        mask[np.flatnonzero(tp >= 0), tp[tp >= 0]] = True
        while True:  # chains of transfers: at most one pass per region
            new = reach.copy()
            np.logical_or.at(new, tt, reach[tf] & mask)
            if (new == reach).all():
                break
            reach = new
    reachable = np.zeros(len(instance.demand), dtype=bool)
    reachable[dem[reach[ids.region.get_indexer(instance.demand["region"])[dem], prod]]] = True
    return has_supply, reachable
