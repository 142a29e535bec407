"""Verify any plan, the solver's own or a hand-edited one, against every rule.

Feasibility (recomputed from the instance alone, never from the model): known ids, whole
units of countable products, routes that exist and their capacities, nothing shipped
beyond what a source has, nothing delivered beyond demand, ICU-grade items only where
the policy lets them serve, another family's product only where ``substitutes.csv`` lets
it. Optimality (optional): the plan's weighted shortfall equals the optimum, its fill
rates sit at the max-min fair levels (to the unit), and its route cost (plus, with
substitutes, the substitution charge) is the least for that service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.inputs.instance import Instance
from allocator.numbers import figure_text
from allocator.plan.daily import Plan, group_sums, rows_sorted

__all__ = ["Verification", "verify", "delivered_by_demand"]

_n = figure_text  # numbers in messages: allocator.numbers' rule for figures

_COLUMNS = ["rule", "file", "row", "detail", "severity"]


@dataclass
class Verification:
    """Violations found, as a table, and the plan's objective terms."""

    violations: pd.DataFrame
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.violations["severity"] == "error").any()

    def errors(self) -> pd.DataFrame:
        return self.violations[self.violations["severity"] == "error"]


def delivered_by_demand(instance: Instance, allocation_by: pd.DataFrame) -> np.ndarray:
    """Delivery credited to each demand row from (region, family, icu-grade qty, general-grade qty).

    General-grade units serve general demand only; ICU-grade units serve ICU demand, and
    general demand where the policy allows, giving first to the use of higher weight.
    """
    codes = _Codes(instance)
    index = allocation_by.index
    regions = index.get_level_values(0) if len(index) else pd.Index([], dtype=object)
    families = index.get_level_values(1) if len(index) else pd.Index([], dtype=object)
    i_icu, i_gen = codes.rows_of_pairs(regions, families)
    gi, gg = (
        allocation_by[c].to_numpy(float) if c in allocation_by.columns else np.zeros(len(allocation_by))
        for c in ("icu", "general")
    )
    if not index.is_unique:  # a later row for the same pair overwrites an earlier one
        last = ~index.duplicated(keep="last")
        i_icu, i_gen, gi, gg = i_icu[last], i_gen[last], gi[last], gg[last]
    return _credit(instance, i_icu, i_gen, gi, gg)


def _credit(
    instance: Instance,
    i_icu: np.ndarray,
    i_gen: np.ndarray,
    gi: np.ndarray,
    gg: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """``delivered_by_demand`` on arrays: the ICU and general demand rows (-1: none) of each
    (region, family) pair and the ICU-grade and general-grade units delivered there."""
    quantity = instance.demand["quantity"].to_numpy(float)
    if weights is None:
        weights = instance.demand_weights().to_numpy(float)
    out = np.zeros(len(quantity))
    has_i, has_g = i_icu >= 0, i_gen >= 0
    d_icu = np.where(has_i, quantity[np.where(has_i, i_icu, 0)], 0.0) if len(quantity) else np.zeros(len(gi))
    d_gen = np.where(has_g, quantity[np.where(has_g, i_gen, 0)], 0.0) if len(quantity) else np.zeros(len(gi))
    gen = _min(gg, d_gen)
    if instance.policy.icu_grade_for_general:
        w_icu = weights[np.where(has_i, i_icu, 0)] if len(quantity) else np.zeros(len(gi))
        w_gen = weights[np.where(has_g, i_gen, 0)] if len(quantity) else np.zeros(len(gi))
        icu_first = ~has_g | ~has_i | (w_icu >= w_gen)
        to_icu_a = _min(gi, d_icu)
        to_gen_a = _min(gi - to_icu_a, d_gen - gen)
        to_gen_b = _min(gi, d_gen - gen)
        to_icu_b = _min(gi - to_gen_b, d_icu)
        to_icu = np.where(has_g, np.where(icu_first, to_icu_a, to_icu_b), to_icu_a)
        gen = gen + np.where(icu_first, to_gen_a, to_gen_b)
    else:
        to_icu = _min(gi, d_icu)
    out[i_gen[has_g]] = gen[has_g]
    out[i_icu[has_i]] = to_icu[has_i]
    return out


def _min(a, b):
    """Python's ``min(a, b)``, elementwise (the first argument unless the second is smaller)."""
    return np.where(b < a, b, a)


def _max(a, b):
    """Python's ``max(a, b)``, elementwise (the first argument unless the second is larger)."""
    return np.where(b > a, b, a)


class _Codes:
    """The instance's ids as integer codes, and its demand rows by (region, family, use)."""

    def __init__(self, instance: Instance):
        demand = instance.demand
        self.sources = _index(instance.sources["source"])
        self.products = _index(instance.products["product"])
        self.regions = _index(instance.regions["region"])
        self.n_regions = len(self.regions)
        self.regions, d_region = _index_with(self.regions, demand["region"])
        self.families, d_family = _index_with(_index(instance.products["family"]), demand["family"])
        d_use, uses = pd.factorize(demand["use"].to_numpy(object))
        self.uses = pd.Index(uses)
        self.n_families = max(1, len(self.families))
        grade = instance.products["grade"].to_numpy(object)
        self.product_family = self.families.get_indexer(instance.products["family"].to_numpy(object))
        self.product_grade = np.where(grade == "icu", 0, np.where(grade == "general", 1, 2))
        self.product_grade_text = grade
        self.product_countable = instance.products["countable"].to_numpy()
        self.demand_pair = self.pair(d_region, d_family)
        self.demand_use = d_use
        self.demand_key = pd.Index(self.demand_pair * max(1, len(self.uses)) + self.demand_use)

    def pair(self, region: np.ndarray, family: np.ndarray) -> np.ndarray:
        """(region, family) codes; -1 where either is unknown."""
        return np.where((region >= 0) & (family >= 0), region.astype(np.int64) * self.n_families + family, -1)

    def pair_of_text(self, regions, families) -> np.ndarray:
        return self.pair(
            self.regions.get_indexer(np.asarray(regions, dtype=object)),
            self.families.get_indexer(np.asarray(families, dtype=object)),
        )

    def demand_rows(self, pair: np.ndarray, use: str | np.ndarray) -> np.ndarray:
        """The demand row of each (region, family) pair code for a use (a name, or codes); -1: none."""
        if isinstance(use, str):
            u = np.full(len(pair), self.uses.get_loc(use) if use in self.uses else -1, dtype=np.int64)
        else:
            u = use
        ok = (pair >= 0) & (u >= 0)
        rows = (
            self.demand_key.get_indexer(np.where(ok, pair * max(1, len(self.uses)) + u, -1))
            if len(pair)
            else np.zeros(0, dtype=np.intp)
        )
        return np.where(ok, rows, -1).astype(np.int64)

    def rows_of_pairs(self, regions, families) -> tuple[np.ndarray, np.ndarray]:
        """The ICU and general demand rows (-1: none) of each (region, family) given as text."""
        pair = self.pair_of_text(regions, families)
        return self.demand_rows(pair, "icu"), self.demand_rows(pair, "general")


def _index(ids: pd.Series) -> pd.Index:
    """An index of distinct ids (in first-seen order)."""
    values = ids.to_numpy(object)
    index = pd.Index(values)
    return index if index.is_unique else pd.Index(pd.unique(values))


def _index_with(index: pd.Index, ids: pd.Series) -> tuple[pd.Index, np.ndarray]:
    """``index`` extended by the ``ids`` it lacks, and the codes of ``ids``."""
    values = ids.to_numpy(object)
    codes = index.get_indexer(values)
    if (codes < 0).any():
        index = index.append(pd.Index(pd.unique(values[codes < 0])))
        codes = index.get_indexer(values)
    return index, codes


@dataclass
class _ByGrade:
    """Units delivered per (region, family) pair the dispatch sends to (the first-seen order),
    by grade, with the pair's ICU and general demand rows (-1: none)."""

    region: np.ndarray  # text
    family: np.ndarray  # text
    pair: np.ndarray  # codes
    gi: np.ndarray  # ICU-grade units
    gg: np.ndarray  # general-grade units
    i_icu: np.ndarray
    i_gen: np.ndarray

    def sorted_positions(self, positions: np.ndarray) -> list[int]:
        """The given positions in (region, family) order, the order of the pivot table by grade."""
        return sorted((int(p) for p in positions), key=lambda p: (self.region[p], self.family[p]))


def verify(
    instance: Instance,
    plan: Plan | pd.DataFrame,
    *,
    fill: pd.DataFrame | None = None,
    optimality: bool = True,
    reference=None,
) -> Verification:
    """Check a plan; return every violation.

    Parameters
    ----------
    plan:
        A ``Plan`` or a dispatch table (columns source, region, product, quantity; text or numbers).
    fill:
        The plan's fill table, if it has one: its delivered figures must match the dispatch.
    optimality:
        Also compare with the optimum: ``reference`` is the optimal ``Result`` of the instance, or
        a function that solves it (called only when the plan is feasible). ``allocator.verify``
        (``pipeline.check``) passes the pipeline's own solve.
    """
    if optimality and reference is None:
        msg = "an optimality check needs the reference optimum (a Result, or a function that solves the instance)"
        raise ValueError(msg)
    v: list[tuple] = []
    if isinstance(plan, Plan):
        dispatch = plan.dispatch.copy()
        fill = plan.fill if fill is None else fill
    else:
        dispatch = plan.copy()
    if "_row" not in dispatch.columns:
        dispatch["_row"] = np.arange(2, len(dispatch) + 2)
    codes = _Codes(instance)
    dispatch, (src, reg, prod) = _typed_dispatch(instance, codes, dispatch, v)
    weights = instance.demand_weights().to_numpy(float)
    quantity_col = dispatch["quantity"].to_numpy(float)

    # Routes exist, capacities hold.
    costs = _route_lookup(instance, dispatch, codes, src, reg, prod)
    no_route = costs["unit_cost"].isna()
    for _, row in dispatch[no_route.to_numpy()].iterrows():
        v.append(
            (
                "route",
                "dispatch.csv",
                row["_row"],
                f"no route from {row['source']!r} to {row['region']!r} for product {row['product']!r}",
                "error",
            )
        )
    over = costs["capacity"].notna() & (dispatch["quantity"].to_numpy() > costs["capacity"].to_numpy() + 1e-9)
    for pos in np.flatnonzero(over.to_numpy()):
        row = dispatch.iloc[pos]
        v.append(
            (
                "capacity",
                "dispatch.csv",
                row["_row"],
                f"ships {_n(row['quantity'])} of {row['product']!r} "
                f"from {row['source']!r} to {row['region']!r}; the route carries at most "
                f"{_n(costs['capacity'].iloc[pos])}",
                "error",
            )
        )
    if "cost" in dispatch.columns:
        stated = pd.to_numeric(dispatch["cost"], errors="coerce")
        true = dispatch["quantity"] * costs["unit_cost"].to_numpy()
        off = stated.notna() & true.notna() & ((stated - true).abs() > 1e-6 * np.maximum(1.0, true.abs()))
        for pos in np.flatnonzero(off.to_numpy()):
            row = dispatch.iloc[pos]
            v.append(
                (
                    "cost",
                    "dispatch.csv",
                    row["_row"],
                    f"cost column says {_n(stated.iloc[pos])}; quantity x route cost is {_n(true.iloc[pos])}",
                    "warning",
                )
            )

    # Nothing shipped beyond supply.
    _check_supply(instance, codes, dispatch, src, prod, quantity_col, v)
    # Shared capacity, commitments, lots and destination limits hold.
    _check_side(instance, dispatch, v)

    # Nothing delivered beyond demand; ICU-grade items only where allowed.
    demand = instance.demand
    split = None
    if _has_substitutes(instance):
        # Substitutes let a product serve several families' rows: how a region's units split
        # between its rows is a small flow problem (``_Split``), not a rule per family.
        split = _Split(instance, codes, reg, prod, quantity_col, weights)
        split.check_demand(v)
        delivered = split.best() if fill is None else split.check_fill(_claimed(instance, codes, fill, v), v)
    else:
        by_grade = _grade_totals(codes, reg, prod, quantity_col)
        _check_demand(instance, by_grade, v)
        delivered = _credit(instance, by_grade.i_icu, by_grade.i_gen, by_grade.gi, by_grade.gg, weights)
        if fill is not None:
            delivered = _check_fill(instance, codes, fill, by_grade, delivered, v)

    quantity = demand["quantity"].to_numpy(float)
    shortfall = quantity - delivered
    metrics = {
        "weighted_shortfall": float(weights @ shortfall),
        "route_cost": float((dispatch["quantity"] * costs["unit_cost"].fillna(0.0).to_numpy()).sum()),
        "delivered": float(delivered.sum()),
        "shortfall": float(shortfall.sum()),
    }
    if split is not None:
        metrics["substituted"] = split.substituted
    feasible = not any(item[4] == "error" for item in v)
    if optimality and feasible:
        _check_optimality(
            instance,
            delivered,
            metrics,
            v,
            reference,
            None if fill is not None or split is not None else by_grade,
            split,
        )
    violations = pd.DataFrame(v, columns=_COLUMNS)
    violations["row"] = violations["row"].astype("Int64")
    return Verification(violations=violations.reset_index(drop=True), metrics=metrics)


def _typed_dispatch(
    instance: Instance, codes: _Codes, dispatch: pd.DataFrame, v: list
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The dispatch rows with known ids, quantities as numbers; and the codes of their source,
    region and product."""
    for col in ("source", "region", "product"):
        dispatch[col] = _stripped(dispatch[col])
    q = pd.to_numeric(dispatch["quantity"], errors="coerce")
    bad = q.isna() | ~np.isfinite(q.fillna(0)) | (q < 0)
    for pos in np.flatnonzero(bad.to_numpy()):
        v.append(
            (
                "quantity",
                "dispatch.csv",
                dispatch["_row"].iloc[pos],
                f"quantity is {dispatch['quantity'].iloc[pos]!r}: expected a number 0 or more",
                "error",
            )
        )
    dispatch["quantity"] = q.where(~bad, 0.0).astype(float)
    unknown = np.zeros(len(dispatch), dtype=bool)
    found = []
    for col, ids in (("source", codes.sources), ("region", codes.regions), ("product", codes.products)):
        at = ids.get_indexer(dispatch[col].to_numpy(object))
        if col == "region":  # the regions of the regions table only
            at = np.where(at < codes.n_regions, at, -1)
        miss = at < 0
        for pos in np.flatnonzero(miss):
            v.append(
                (
                    "unknown id",
                    "dispatch.csv",
                    dispatch["_row"].iloc[pos],
                    f"unknown {col} {dispatch[col].iloc[pos]!r}",
                    "error",
                )
            )
        unknown |= miss
        found.append(at)
    keep = ~unknown
    dispatch = dispatch[keep].reset_index(drop=True)
    src, reg, prod = (at[keep] for at in found)
    countable = pd.Series(codes.product_countable[prod], dtype=bool)
    frac = countable & (dispatch["quantity"] != np.round(dispatch["quantity"]))
    for pos in np.flatnonzero(frac.to_numpy()):
        v.append(
            (
                "whole units",
                "dispatch.csv",
                dispatch["_row"].iloc[pos],
                f"{_n(dispatch['quantity'].iloc[pos])}"
                f" of countable product {dispatch['product'].iloc[pos]!r}: expected a whole number",
                "error",
            )
        )
    return dispatch, (src, reg, prod)


def _stripped(col: pd.Series) -> pd.Series:
    """``col.astype(str).str.strip()``, stripping each distinct text once (none: when no text
    starts or ends with white space)."""
    text = col.astype(str)
    values = text.to_numpy(object)
    joined = "\x00" + "\x00".join(values[~text.isna().to_numpy()]) + "\x00"
    if not (_EDGE_SPACE.search(joined) or _EDGE_SPACE.search(joined[::-1])):
        return text
    at, distinct = pd.factorize(values)
    stripped = np.array([t.strip() for t in distinct] + [None], dtype=object)
    out = np.where(at >= 0, stripped[at], values)
    return pd.Series(out, index=text.index, dtype=text.dtype, name=text.name)


_EDGE_SPACE = re.compile(r"\x00\s")  # in texts joined by NULs (and reversed): white space at an edge


def _route_lookup(
    instance: Instance, dispatch: pd.DataFrame, codes: _Codes, src: np.ndarray, reg: np.ndarray, prod: np.ndarray
) -> pd.DataFrame:
    """Unit cost and capacity of each dispatch row's route (NaN cost: no such route).

    A route naming the product wins over one without a product (codes ``src``, ``reg``,
    ``prod`` of the dispatch rows, all known ids)."""
    keys = dispatch[["source", "region", "product"]]
    if instance.routes is None:
        from allocator.inputs.geo import great_circle_km

        src_t = instance.sources.set_index("source")
        reg_t = instance.regions.set_index("region")
        s_lat = keys["source"].map(src_t["lat"]).fillna(keys["source"].map(src_t["region"]).map(reg_t["lat"]))
        s_lon = keys["source"].map(src_t["lon"]).fillna(keys["source"].map(src_t["region"]).map(reg_t["lon"]))
        km = np.round(
            great_circle_km(s_lat, s_lon, keys["region"].map(reg_t["lat"]), keys["region"].map(reg_t["lon"])), 1
        )
        return pd.DataFrame({"unit_cost": km * instance.policy.cost_per_km, "capacity": np.nan})
    routes = instance.routes
    n_r, n_p = len(codes.regions), len(codes.products) + 1
    r_product = routes["product"].to_numpy(object)
    generic = r_product == ""
    rs = codes.sources.get_indexer(routes["source"].to_numpy(object))
    rr = codes.regions.get_indexer(routes["region"].to_numpy(object))
    rp = np.full(len(r_product), -1, dtype=np.int64)
    rp[~generic] = codes.products.get_indexer(r_product[~generic])
    usable = (rs >= 0) & (rr >= 0) & (generic | (rp >= 0))
    route_key = pd.Index(((rs.astype(np.int64) * n_r + rr) * n_p + rp + 1)[usable])
    cost = routes["cost"].to_numpy(float)[usable]
    capacity = routes["capacity"].to_numpy(float)[usable]
    base = (src.astype(np.int64) * n_r + reg) * n_p
    out = []
    for key in (base + prod + 1, base):
        pos = route_key.get_indexer(key) if len(key) else np.zeros(0, dtype=np.intp)
        found = pos >= 0
        out.append(
            (
                np.where(found, cost[np.maximum(pos, 0)] if len(cost) else np.nan, np.nan),
                np.where(found, capacity[np.maximum(pos, 0)] if len(cost) else np.nan, np.nan),
            )
        )
    (s_cost, s_cap), (g_cost, g_cap) = out
    use_specific = ~np.isnan(s_cost)
    return pd.DataFrame(
        {
            "unit_cost": np.where(use_specific, s_cost, g_cost),
            "capacity": np.where(use_specific, s_cap, g_cap),
        }
    )


def _check_side(instance: Instance, dispatch: pd.DataFrame, v: list) -> None:
    """The side constraints, read off the dispatch table and the instance's own tables."""
    d = dispatch.loc[dispatch["quantity"] > 0, ["source", "region", "product", "quantity", "_row"]]
    tol = 1e-6
    products = instance.products.set_index("product")
    cap = instance.capacity
    if cap is not None and len(cap):
        corridor = pd.Series("", index=d.index, dtype=object)
        if instance.routes is not None:
            routes = instance.routes
            specific = routes.set_index(["source", "region", "product"])["corridor"]
            generic = routes.loc[routes["product"] == ""].set_index(["source", "region"])["corridor"]
            key3 = pd.MultiIndex.from_frame(d[["source", "region", "product"]])
            found = specific.reindex(key3).to_numpy(object)
            fallback = generic.reindex(pd.MultiIndex.from_frame(d[["source", "region"]])).to_numpy(object)
            corridor = pd.Series(np.where(pd.isna(found), fallback, found), index=d.index).fillna("")
        sizes = {
            "units": None,
            "pallets": ("per_pallet", True),
            "trucks": ("per_truck", True),
            "volume": ("unit_volume", False),
            "mass": ("unit_mass", False),
        }
        for rec in cap.itertuples(index=False):
            match = np.ones(len(d), dtype=bool)
            for value, column in ((rec.source, d["source"]), (rec.region, d["region"]), (rec.corridor, corridor)):
                if value != "":
                    match &= (column == value).to_numpy(bool)
            q = d["quantity"].to_numpy(float)[match]
            size = sizes[rec.measure]
            if size is not None:
                per = products[size[0]].reindex(d["product"].to_numpy(object)[match]).to_numpy(float)
                q = q / per if size[1] else q * per
            used = float(q.sum())
            if used > rec.capacity * (1 + tol) + tol:
                v.append(
                    (
                        "shared capacity",
                        "capacity.csv",
                        rec._5,
                        f"the plan uses {_n(used)} {rec.measure}; the row allows {_n(rec.capacity)}",
                        "error",
                    )
                )
    com = instance.commitments
    if com is not None and len(com):
        for rec in com.itertuples(index=False):
            match = (d["source"] == rec.source) & (d["region"] == rec.region)
            if rec.product != "":
                match &= d["product"] == rec.product
            sent = float(d.loc[match, "quantity"].sum())
            if sent < rec.minimum * (1 - tol) - tol:
                v.append(
                    (
                        "commitment",
                        "commitments.csv",
                        rec._5,
                        f"{rec.source} sends {_n(sent)} to {rec.region}; committed at least {_n(rec.minimum)}",
                        "error",
                    )
                )
        des = com.loc[com["kind"] == "designated"]
        allowed = set(zip(des["source"], des["region"], des["product"]))
        scoped = set(zip(des["source"], des["product"]))
        for rec in d.itertuples(index=False):
            bound = (rec.source, rec.product) in scoped or (rec.source, "") in scoped
            if (
                bound
                and (rec.source, rec.region, rec.product) not in allowed
                and (rec.source, rec.region, "") not in allowed
            ):
                v.append(
                    (
                        "designated",
                        "dispatch.csv",
                        rec._4,
                        f"{rec.source} is designated to other regions for "
                        f"{rec.product} but ships {_n(rec.quantity)} to {rec.region}",
                        "error",
                    )
                )
    lot = d["product"].map(products["min_lot"]).to_numpy(float)
    for pos in np.flatnonzero(d["quantity"].to_numpy(float) < lot * (1 - tol) - tol):
        rec = d.iloc[pos]
        v.append(
            (
                "lot",
                "dispatch.csv",
                rec["_row"],
                f"ships {_n(rec['quantity'])} {rec['product']}; the minimum lot is {_n(lot[pos])}",
                "error",
            )
        )
    limit = instance.sources.set_index("source")["max_destinations"].dropna()
    if len(limit):
        count = d.groupby("source")["region"].nunique()
        for source, k in limit.items():
            if count.get(source, 0) > k:
                v.append(
                    (
                        "destinations",
                        "dispatch.csv",
                        None,
                        f"{source} ships to {count[source]} regions; at most {int(k)} allowed (sources.csv)",
                        "error",
                    )
                )


def _check_supply(
    instance: Instance,
    codes: _Codes,
    dispatch: pd.DataFrame,
    src: np.ndarray,
    prod: np.ndarray,
    quantity: np.ndarray,
    v: list,
) -> None:
    n_p = max(1, len(codes.products))
    sp = src.astype(np.int64) * n_p + prod
    key, shipped = group_sums(
        sp, quantity, rows_sorted(sp, dispatch["source"].to_numpy(object), dispatch["product"].to_numpy(object))
    )
    supply = instance.supply
    ss = codes.sources.get_indexer(supply["source"].to_numpy(object))
    sp = codes.products.get_indexer(supply["product"].to_numpy(object))
    known = (ss >= 0) & (sp >= 0)
    have_q = supply["quantity"].to_numpy(float)[known]
    pos = pd.Index((ss.astype(np.int64) * n_p + sp)[known]).get_indexer(key) if len(key) else np.zeros(0, int)
    have = np.where(pos >= 0, have_q[np.maximum(pos, 0)] if len(have_q) else 0.0, 0.0)
    bad = np.flatnonzero(shipped > have + 1e-9)
    source = codes.sources.to_numpy(object)[key[bad] // n_p]
    product = codes.products.to_numpy(object)[key[bad] % n_p]
    for j in sorted(range(len(bad)), key=lambda j: (source[j], product[j])):
        b = bad[j]
        v.append(
            (
                "supply",
                "dispatch.csv",
                None,
                f"source {source[j]!r} ships {_n(shipped[b])} of {product[j]!r} but has {_n(have[b])}",
                "error",
            )
        )


def _grade_totals(codes: _Codes, reg: np.ndarray, prod: np.ndarray, quantity: np.ndarray) -> _ByGrade:
    family = codes.product_family[prod]
    pair = codes.pair(reg, family)
    key = pair * 3 + codes.product_grade[prod]
    key, sums = group_sums(
        key,
        quantity,
        rows_sorted(
            key,
            codes.regions.to_numpy(object)[reg],
            codes.families.to_numpy(object)[family],
            codes.product_grade_text[prod],
        ),
    )
    pairs, at = pd.factorize(key // 3)
    pairs = np.asarray(pairs)
    at = np.asarray(at, dtype=np.int64)
    grade = key % 3
    gi, gg = np.zeros(len(at)), np.zeros(len(at))
    gi[pairs[grade == 0]] = sums[grade == 0]
    gg[pairs[grade == 1]] = sums[grade == 1]
    region = codes.regions.to_numpy(object)[at // codes.n_families]
    family = codes.families.to_numpy(object)[at % codes.n_families]
    return _ByGrade(
        region=region,
        family=family,
        pair=at,
        gi=gi,
        gg=gg,
        i_icu=codes.demand_rows(at, "icu"),
        i_gen=codes.demand_rows(at, "general"),
    )


def _demand_quantities(instance: Instance, by: _ByGrade) -> tuple[np.ndarray, np.ndarray]:
    quantity = instance.demand["quantity"].to_numpy(float)
    out = []
    for rows in (by.i_icu, by.i_gen):
        out.append(np.where(rows >= 0, quantity[np.maximum(rows, 0)] if len(quantity) else 0.0, 0.0))
    return out[0], out[1]


def _check_demand(instance: Instance, by: _ByGrade, v: list) -> None:
    allow = instance.policy.icu_grade_for_general
    gi, gg = by.gi, by.gg
    d_icu, d_gen = _demand_quantities(instance, by)
    too_general = gg > d_gen + 1e-9
    room = d_icu + ((d_gen - _min(gg, d_gen)) if allow else 0.0)
    too_icu = gi > room + 1e-9
    for k in by.sorted_positions(np.flatnonzero(too_general | too_icu)):
        region, family = by.region[k], by.family[k]
        if too_general[k]:
            v.append(
                (
                    "demand",
                    "dispatch.csv",
                    None,
                    f"{_n(gg[k])} general-grade {family!r} delivered to "
                    f"{region!r} against general demand of {_n(d_gen[k])} (general-grade items cannot serve "
                    "ICU use)",
                    "error",
                )
            )
        if too_icu[k]:
            if not allow and gi[k] > d_icu[k] + 1e-9 and d_gen[k] > 0:
                rule, why = (
                    "icu",
                    (
                        f"ICU-grade {family!r} delivered to {region!r}: {_n(gi[k])} against ICU "
                        f"demand of {_n(d_icu[k])}; the policy keeps ICU-grade items for ICU use"
                    ),
                )
            else:
                rule, why = (
                    "demand",
                    (
                        f"{_n(gi[k])} ICU-grade {family!r} delivered to {region!r} where the "
                        f"demand they may serve is {_n(room[k])}"
                    ),
                )
            v.append((rule, "dispatch.csv", None, why, "error"))


def _text(col: pd.Series) -> np.ndarray:
    """``str()`` of every cell, as an object array."""
    if isinstance(col.dtype, pd.StringDtype):
        return col.to_numpy(dtype=object, na_value=str(col.dtype.na_value))
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biufcO":
        return np.array([str(x) for x in col.to_numpy()], dtype=object)
    return np.array([str(col.iloc[k]) for k in range(len(col))], dtype=object)


def _claimed(instance: Instance, codes: _Codes, fill: pd.DataFrame, v: list) -> np.ndarray:
    """The deliveries the plan's fill table claims, per demand row (0 where it has no row); its
    rows for unknown demand rows or with impossible figures are violations."""
    demand = instance.demand
    quantity = demand["quantity"].to_numpy(float)
    rows = fill["_row"] if "_row" in fill.columns else pd.Series(np.arange(2, len(fill) + 2), index=fill.index)
    claimed_col = pd.to_numeric(fill["delivered"], errors="coerce")
    region, family, use = (_text(fill[c]) for c in ("region", "family", "use"))
    at = codes.demand_rows(codes.pair_of_text(region, family), codes.uses.get_indexer(use).astype(np.int64))
    c = claimed_col.to_numpy(dtype=float, na_value=np.nan)
    found = at >= 0
    limit = np.where(found, quantity[np.maximum(at, 0)] if len(quantity) else 0.0, 0.0)
    bad = found & (np.isnan(c) | (c < -1e-9) | (c > limit + 1e-9))
    for pos in np.flatnonzero(~found | bad):
        key = (region[pos], family[pos], use[pos])
        if not found[pos]:
            v.append(("fill", "fill.csv", rows.iloc[pos], f"no demand row {'/'.join(key)} in the instance", "error"))
        else:
            v.append(
                (
                    "fill",
                    "fill.csv",
                    rows.iloc[pos],
                    f"delivered {fill['delivered'].iloc[pos]!r} for "
                    f"{'/'.join(key)}: expected a number from 0 to its demand {_n(demand['quantity'].iloc[at[pos]])}",
                    "error",
                )
            )
    claimed = np.zeros(len(demand))
    ok = np.flatnonzero(found & ~bad)[::-1]  # the last row for a demand row wins
    _, last = np.unique(at[ok], return_index=True)
    claimed[at[ok[last]]] = c[ok[last]]
    return claimed


def _check_fill(
    instance: Instance, codes: _Codes, fill: pd.DataFrame, by: _ByGrade, derived: np.ndarray, v: list
) -> np.ndarray:
    """Check the plan's own fill table against its dispatch; return the deliveries it claims.

    The claimed split between ICU and general use must be one the dispatched grades allow:
    ICU use from ICU-grade units only, general use from general-grade units and (where the
    policy allows) the ICU-grade units left over, and every delivered unit in some use.
    """
    demand = instance.demand
    claimed = _claimed(instance, codes, fill, v)
    allow = instance.policy.icu_grade_for_general
    gi, gg = by.gi, by.gg
    ci = np.where(by.i_icu >= 0, claimed[np.maximum(by.i_icu, 0)] if len(claimed) else 0.0, 0.0)
    cg = np.where(by.i_gen >= 0, claimed[np.maximum(by.i_gen, 0)] if len(claimed) else 0.0, 0.0)
    tol = 1e-6 * _max(1.0, gi + gg)
    good = (ci <= gi + tol) & (cg <= gg + ((gi - ci) if allow else 0.0) + tol) & (np.abs(ci + cg - (gi + gg)) <= tol)
    for k in by.sorted_positions(np.flatnonzero(~good)):
        v.append(
            (
                "fill",
                "fill.csv",
                None,
                f"{by.region[k]}/{by.family[k]}: says delivered {_n(ci[k])} to ICU use "
                f"and {_n(cg[k])} to general use; the dispatch delivers {_n(gi[k])} ICU-grade and {_n(gg[k])} "
                "general-grade units",
                "error",
            )
        )
    # Rows of regions the dispatch sends nothing to must claim nothing.
    served = np.isin(codes.demand_pair, by.pair)
    d_region, d_family, d_use = (demand[c].to_numpy(object) for c in ("region", "family", "use"))
    for i in np.flatnonzero(~served & (claimed > 1e-9)):
        v.append(
            (
                "fill",
                "fill.csv",
                None,
                f"{d_region[i]}/{d_family[i]}/{d_use[i]}: says delivered "
                f"{_n(claimed[i])}; the dispatch delivers nothing there",
                "error",
            )
        )
    return claimed


def _check_optimality(
    instance: Instance,
    delivered: np.ndarray,
    metrics: dict,
    v: list,
    reference,
    free_split: _ByGrade | None = None,
    split: _Split | None = None,
) -> None:
    if callable(reference):
        reference = reference(instance)
    w_star = reference.objective["weighted_shortfall"]
    c_star = reference.objective["route_cost"]
    metrics["optimal_weighted_shortfall"] = w_star
    metrics["optimal_route_cost"] = c_star
    tol = 1e-6 * max(1.0, abs(w_star))
    method = reference.objective.get("method")  # side constraints: lp, mip (proven) or rounded
    if metrics["weighted_shortfall"] > w_star + tol:
        what = (
            "the optimum"
            if method != "rounded"
            else "that of allocator's whole-unit plan (rounded near the LP optimum, not proven optimal)"
        )
        v.append(
            (
                "optimal",
                None,
                None,
                f"weighted shortfall {_n(metrics['weighted_shortfall'])} exceeds {what} "
                f"{_n(w_star)}: more of the high-weight demand could be served",
                "error",
            )
        )
        return
    if method in ("mip", "rounded"):
        # Whole units under side rows: a yes/no choice or a shared row can keep a row outside its
        # LP fair share, and the least cost depends on which whole-unit plan is taken.
        v.append(
            (
                "optimal",
                None,
                None,
                f"weighted shortfall checked against allocator's whole-unit plan "
                f"({'proven optimal' if method == 'mip' else 'rounded, not proven optimal'}); fair shares and "
                f"least cost not checked: with side constraints over whole units there is no LP share to "
                f"check them against",
                "warning",
            )
        )
        return
    if instance.policy.equity:
        fair = reference.fair_fill
        demand = instance.demand
        quantity = demand["quantity"].to_numpy(float)
        countable = demand["family"].map(instance.family_countable()).astype(bool).to_numpy()
        from allocator.engine.lp import fair_box

        target = fair * quantity
        weights = instance.demand_weights().to_numpy(float)
        if reference.fair_box is not None:  # exact from the network engine
            lo, hi = (np.asarray(b, dtype=float) for b in reference.fair_box)
        else:
            lo, hi = fair_box(fair, quantity, countable, weights)
        if free_split is not None and instance.policy.icu_grade_for_general:
            delivered = _fair_split(instance, delivered, free_split, weights, lo, hi)
        if split is not None:
            delivered = split.fair(lo, hi)
        bad = (delivered < lo - 1e-9) | (delivered > hi + 1e-9)
        for i in np.flatnonzero(bad):
            v.append(
                (
                    "equity",
                    "demand.csv",
                    int(demand["_row"].iloc[i]),
                    f"{demand['region'].iloc[i]}/{demand['family'].iloc[i]}/{demand['use'].iloc[i]} is filled "
                    f"{delivered[i] / quantity[i]:.2%} ({_n(delivered[i])}); its max-min fair level is "
                    f"{fair[i]:.2%} ({_n(target[i])})",
                    "error",
                )
            )
        if bad.any():
            return
    if split is not None:
        # The cost stage's objective: route cost plus the substitution charge (of the split
        # that charges least, among those the plan may claim).
        charge = split.least_charge()
        metrics["substitution_charge"] = charge
        metrics["substituted"] = split.substituted
        c_ref = c_star + float(reference.objective.get("substitution_charge", 0.0))
        if metrics["route_cost"] + charge > c_ref + 1e-6 * max(1.0, abs(c_ref)):
            v.append(
                (
                    "least cost",
                    None,
                    None,
                    f"route cost {_n(metrics['route_cost'])} plus substitution charge "
                    f"{_n(charge)} exceeds the least {_n(c_ref)} of serving the same demand (route cost "
                    f"{_n(c_star)} plus substitution charge {_n(c_ref - c_star)})",
                    "error",
                )
            )
        return
    if metrics["route_cost"] > c_star + 1e-6 * max(1.0, abs(c_star)):
        v.append(
            (
                "least cost",
                None,
                None,
                f"route cost {_n(metrics['route_cost'])} exceeds the least cost "
                f"{_n(c_star)} of serving the same demand",
                "error",
            )
        )


def _fair_split(
    instance: Instance, delivered: np.ndarray, by_grade: _ByGrade, weights: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Without a fill table, choose how ICU-grade units split between a region's ICU and general
    rows where the two weigh the same (the split is then the plan's free choice): the split that
    puts both rows inside their fair boxes, if there is one."""
    quantity = instance.demand["quantity"].to_numpy(float)
    out = delivered.copy()
    both = np.flatnonzero((by_grade.i_icu >= 0) & (by_grade.i_gen >= 0))
    i, g = by_grade.i_icu[both], by_grade.i_gen[both]
    same = weights[i] == weights[g]
    both, i, g = both[same], i[same], g[same]
    gen_part = _min(by_grade.gg[both], quantity[g])
    total = out[i] + out[g] - gen_part  # ICU-grade units credited to the two rows
    d_i, d_g = quantity[i], quantity[g]
    low = _max(_max(_max(0.0, total - (d_g - gen_part)), lo[i]), total + gen_part - hi[g])
    high = _min(_min(_min(total, d_i), hi[i]), total + gen_part - lo[g])
    fits = low <= high + 1e-9
    out[i[fits]] = low[fits]
    out[g[fits]] = (gen_part + total - low)[fits]
    return out


def _has_substitutes(instance: Instance) -> bool:
    """Whether ``substitutes.csv`` lets some product serve another family's demand."""
    subs = instance.substitutes
    if subs is None or not len(subs):
        return False
    own = subs["product"].map(instance.products.set_index("product")["family"])
    return bool((subs["family"] != own).any())


class _Split:
    """How the units a dispatch delivers to each region may be split among the demand rows
    there that they may serve, when substitutes let a product serve several families' rows.

    Which product may serve which row is read off the instance's tables: a family's own
    products and every ``substitutes.csv`` row, each under the ICU rule (ICU-grade units serve
    ICU use, and general use only where the policy allows; general-grade units general use
    only). Splits are small LPs over (region, product) x demand row: columns ``y`` (units of a
    hub to a row), ``s`` (units of a hub that no row takes), ``u``/``o`` (a row's deliveries
    under or over what the fill table claims); rows: each hub's units, each row's deliveries.
    """

    def __init__(
        self,
        instance: Instance,
        codes: _Codes,
        reg: np.ndarray,
        prod: np.ndarray,
        quantity: np.ndarray,
        weights: np.ndarray,
    ):
        n_p = max(1, len(codes.products))
        keep = quantity > 0
        hub_key, at = np.unique(reg[keep].astype(np.int64) * n_p + prod[keep], return_inverse=True)
        self.hub_qty = np.bincount(at.reshape(-1), weights=quantity[keep], minlength=len(hub_key))
        self.hub_region = codes.regions.to_numpy(object)[hub_key // n_p]
        self.hub_product = codes.products.to_numpy(object)[hub_key % n_p]
        demand = instance.demand
        self.demand = demand
        self.quantity = demand["quantity"].to_numpy(float)
        self.weights = weights
        self.n_h, self.n_d = len(hub_key), len(demand)
        products = instance.products.set_index("product")
        hubs = pd.DataFrame({"hub": np.arange(self.n_h), "region": self.hub_region, "product": self.hub_product})
        rows = pd.DataFrame(
            {
                "row": np.arange(self.n_d),
                "region": demand["region"].to_numpy(object),
                "family": demand["family"].to_numpy(object),
                "use": demand["use"].to_numpy(object),
            }
        )
        both = hubs.merge(rows, on="region")
        subs = instance.substitutes[["product", "family", "use", "preference"]].drop_duplicates(
            ["product", "family", "use"]
        )
        both = both.merge(subs, on=["product", "family", "use"], how="left")
        grade = both["product"].map(products["grade"]).to_numpy(object)
        use = both["use"].to_numpy(object)
        own = both["product"].map(products["family"]).to_numpy(object) == both["family"].to_numpy(object)
        listed = own | both["preference"].notna().to_numpy()
        allow = bool(instance.policy.icu_grade_for_general)
        icu_for_general = (grade == "icu") & (use == "general")
        ok = listed & ((grade == use) | (icu_for_general & allow))
        pair_hub, pair_row = both["hub"].to_numpy(np.int64), both["row"].to_numpy(np.int64)
        self.pair_hub, self.pair_row = pair_hub[ok], pair_row[ok]
        self.pair_sub = ~own[ok]
        self.charge = np.where(own, 0.0, both["preference"].fillna(0.0).to_numpy(float))[ok] * float(
            instance.policy.substitution_cost
        )
        # Pairs the ICU rule alone forbids (ICU-grade units for general use), to name the rule.
        kept = listed & icu_for_general & (not allow)
        self.kept_hub, self.kept_row = pair_hub[kept], pair_row[kept]
        self.n_e = len(self.pair_hub)
        self.slack = np.zeros(self.n_h)  # units of each hub that no row may take
        self.claims: np.ndarray | None = None  # the fill table's deliveries, once checked
        self.floor: float | None = None  # the most weighted delivery a split makes (without a fill table)
        self.box: tuple[np.ndarray, np.ndarray] | None = None  # fair boxes one split meets
        self.delivered = np.zeros(self.n_d)
        self.substituted = 0.0

    def _solve(
        self,
        cost_y: np.ndarray,
        cost_s: float = 0.0,
        cost_uo: float = 0.0,
        lo=None,
        hi=None,
        weighted_floor: float | None = None,
    ):
        """Solve one split LP; ``lo``/``hi`` bound each row's deliveries (default: 0 to demand),
        ``cost_uo`` > 0 lets them miss (at that cost per unit); returns the columns or None."""
        from allocator.engine.backends import Status, make_lp
        from allocator.errors import SolverError

        n_e, n_h, n_d = self.n_e, self.n_h, self.n_d
        e = np.arange(n_e)
        start = np.concatenate([2 * e, 2 * n_e + np.arange(n_h + 2 * n_d + 1)])
        index = np.concatenate(
            [
                np.column_stack([self.pair_hub, n_h + self.pair_row]).ravel(),
                np.arange(n_h),
                n_h + np.arange(n_d),
                n_h + np.arange(n_d),
            ]
        )
        value = np.concatenate([np.ones(2 * n_e + n_h + n_d), -np.ones(n_d)])
        free = np.inf if cost_uo > 0 else 0.0
        lp = make_lp(
            "highs",
            col_lower=np.zeros(n_e + n_h + 2 * n_d),
            col_upper=np.concatenate([np.full(n_e, np.inf), self.slack, np.full(2 * n_d, free)]),
            row_lower=np.concatenate([self.hub_qty, np.full(n_d, -np.inf) if lo is None else lo]),
            row_upper=np.concatenate([self.hub_qty, self.quantity if hi is None else hi]),
            start=start,
            index=index,
            value=value,
        )
        if weighted_floor is not None:
            lp.add_rows([weighted_floor], [np.inf], [0, n_e], e, self.weights[self.pair_row])
        lp.set_costs(np.concatenate([cost_y, np.full(n_h, cost_s), np.full(2 * n_d, cost_uo)]))
        r = lp.solve()
        if r.status is Status.INFEASIBLE:
            return None
        if r.status is not Status.OPTIMAL:
            raise SolverError(f"verify: a split of the delivered units could not be found ({r.message})")
        x = np.maximum(r.x, 0.0)
        whole = np.round(x)
        return np.where(np.abs(x - whole) <= 1e-9 * np.maximum(1.0, whole), whole, x)

    def _rows(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.pair_row, weights=x[: self.n_e], minlength=self.n_d)

    def _placed_nowhere(self) -> np.ndarray:
        """Per region (of ``hub_region``): the fewest delivered units that no row may take."""
        self.slack = self.hub_qty.copy()
        x = self._solve(np.zeros(self.n_e), cost_s=1.0)
        self.slack = x[self.n_e : self.n_e + self.n_h]
        regions, at = np.unique(self.hub_region, return_inverse=True)
        return regions, np.bincount(at.reshape(-1), weights=self.slack, minlength=len(regions))

    def check_demand(self, v: list) -> None:
        """Every delivered unit must serve some demand row it may serve (none beyond demand)."""
        regions, extra = self._placed_nowhere()
        total = np.bincount(
            np.unique(self.hub_region, return_inverse=True)[1].reshape(-1), weights=self.hub_qty, minlength=len(regions)
        )
        bad = extra > 1e-9 * np.maximum(1.0, total)
        if not bad.any():
            return
        slack = self.slack
        kept_extra = extra
        if len(self.kept_hub):  # would the ICU rule's pairs place them? Then the rule is what stops them.
            ok = (self.pair_hub, self.pair_row, self.charge, self.pair_sub)
            self.pair_hub = np.concatenate([self.pair_hub, self.kept_hub])
            self.pair_row = np.concatenate([self.pair_row, self.kept_row])
            self.n_e = len(self.pair_hub)
            kept_extra = self._placed_nowhere()[1]
            self.pair_hub, self.pair_row, self.charge, self.pair_sub = ok
            self.n_e = len(self.pair_hub)
            self.slack = slack
        for k in np.flatnonzero(bad):
            region = regions[k]
            hubs = np.flatnonzero(self.hub_region == region)
            sent = ", ".join(
                f"{_n(self.hub_qty[h])} {self.hub_product[h]}"
                for h in sorted(hubs.tolist(), key=self.hub_product.__getitem__)
            )
            if kept_extra[k] < extra[k] - 1e-9 * max(1.0, total[k]):
                icu = sorted(set(self.hub_product[self.kept_hub[np.isin(self.kept_hub, hubs)]].tolist()))
                v.append(
                    (
                        "icu",
                        "dispatch.csv",
                        None,
                        f"ICU-grade {', '.join(map(repr, icu))} delivered to "
                        f"{region!r} for general use: {_n(extra[k])} of the {_n(total[k])} units delivered there "
                        f"({sent}) have no other demand to serve; the policy keeps ICU-grade items for ICU use",
                        "error",
                    )
                )
            else:
                v.append(
                    (
                        "demand",
                        "dispatch.csv",
                        None,
                        f"{_n(extra[k])} of the {_n(total[k])} units delivered to "
                        f"{region!r} ({sent}) serve no demand they may serve: the rows of their families, and of "
                        "the families they may substitute for, are full",
                        "error",
                    )
                )

    def best(self) -> np.ndarray:
        """The deliveries of the split that serves the most weighted demand (the plan's free choice)."""
        x = self._solve(-self.weights[self.pair_row])
        self.delivered = self._rows(x)
        self.floor = float(self.weights @ self.delivered)
        self.least_charge()
        return self.delivered

    def check_fill(self, claimed: np.ndarray, v: list) -> np.ndarray:
        """The fill table's deliveries must be a split of the delivered units; return them."""
        x = self._solve(np.zeros(self.n_e), cost_uo=1.0, lo=claimed, hi=claimed)
        n = self.n_e + self.n_h
        miss = x[n : n + self.n_d] + x[n + self.n_d :]
        bad = miss > 1e-9 * np.maximum(1.0, self.quantity)
        region = self.demand["region"].to_numpy(object)
        for r in sorted(set(region[bad].tolist())):
            at = np.flatnonzero((region == r) & ((claimed > 0) | bad))
            says = ", ".join(
                f"{self.demand['family'].iloc[i]}/{self.demand['use'].iloc[i]} {_n(claimed[i])}" for i in at
            )
            hubs = np.flatnonzero(self.hub_region == r)
            sent = ", ".join(
                f"{_n(self.hub_qty[h])} {self.hub_product[h]}"
                for h in sorted(hubs.tolist(), key=self.hub_product.__getitem__)
            )
            why = (
                (
                    f"the dispatch delivers {sent} there, which cannot be split that way among the demand each "
                    "product may serve"
                )
                if sent
                else "the dispatch delivers nothing there"
            )
            v.append(("fill", "fill.csv", None, f"{r}: says delivered {says}; {why}", "error"))
        self.claims = claimed
        if not bad.any():
            self.least_charge()
        return claimed

    def fair(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Without a fill table, the deliveries of a split of most weighted delivery that puts every
        row inside its fair box, if there is one (else those of ``best``)."""
        if self.claims is not None:
            return self.claims
        tol = 1e-9
        box_lo = np.where(np.isnan(lo), 0.0, np.maximum(lo, 0.0) - tol)
        box_hi = np.where(np.isnan(hi), self.quantity, np.minimum(hi, self.quantity) + tol)
        x = self._solve(self.charge, lo=box_lo, hi=box_hi, weighted_floor=self._floor())
        if x is None:
            return self.delivered
        self.box = (box_lo, box_hi)
        self.delivered = self._rows(x)
        return self.delivered

    def _floor(self) -> float | None:
        return None if self.floor is None else self.floor - 1e-9 * max(1.0, abs(self.floor)) - 1e-7

    def least_charge(self) -> float:
        """The least substitution charge of a split the plan may claim: its fill table's, or one of
        most weighted delivery (inside the fair boxes, once ``fair`` found a split meeting them)."""
        if self.claims is not None:
            x = self._solve(self.charge, lo=self.claims, hi=self.claims)
        else:
            lo, hi = self.box if self.box is not None else (None, None)
            x = self._solve(self.charge, lo=lo, hi=hi, weighted_floor=self._floor())
        if x is None:
            return float("nan")
        y = x[: self.n_e]
        self.substituted = float(y[self.pair_sub].sum())
        return float(y @ self.charge)
