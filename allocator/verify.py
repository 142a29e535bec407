"""Verify any plan, the solver's own or a hand-edited one, against every rule.

Feasibility (recomputed from the instance alone, never from the model): known ids, whole
units of countable products, routes that exist and their capacities, nothing shipped
beyond what a source has, nothing delivered beyond demand, ICU-grade items only where
the policy lets them serve. Optimality (optional): the plan's weighted shortfall equals
the optimum, its fill rates sit at the max-min fair levels (to the unit), and its route
cost is the least for that service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import Issue, PlanFileError
from .instance import Instance
from .io import _read_csv
from .plan import Plan

__all__ = ["Verification", "verify", "read_plan", "delivered_by_demand"]

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


def read_plan(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read ``dispatch.csv`` (required) and ``fill.csv`` (optional) of a plan folder."""
    folder = Path(folder)
    issues: list[Issue] = []
    path = folder / "dispatch.csv"
    if not folder.is_dir():
        msg = "is not a folder: expected a plan folder with dispatch.csv"
        raise PlanFileError([Issue(str(folder), None, None, msg)])
    if not path.exists():
        raise PlanFileError([Issue("dispatch.csv", None, None, f"file is missing in {folder}: expected the plan's "
                                   "shipments (source, region, product, quantity)")])
    frame, rows, problems = _read_csv(path.read_bytes(), "dispatch.csv")
    issues += problems
    if frame is not None:
        for col in ("source", "region", "product", "quantity"):
            if col not in frame.columns:
                issues.append(Issue("dispatch.csv", 1, col, "required column is missing: expected source, region, "
                                    "product, quantity"))
    if issues:
        raise PlanFileError(issues)
    assert frame is not None
    from .report import unneutralise

    dispatch = frame.map(unneutralise)
    dispatch["_row"] = rows
    fill = None
    fpath = folder / "fill.csv"
    if fpath.exists():
        fframe, frows, fproblems = _read_csv(fpath.read_bytes(), "fill.csv")
        if fproblems:
            raise PlanFileError(fproblems)
        if fframe is not None and {"region", "family", "use", "delivered"} <= set(fframe.columns):
            fill = fframe.map(unneutralise)
            fill["_row"] = frows
    return dispatch, fill


def delivered_by_demand(instance: Instance, allocation_by: pd.DataFrame) -> np.ndarray:
    """Delivery credited to each demand row from (region, family, icu-grade qty, general-grade qty).

    General-grade units serve general demand only; ICU-grade units serve ICU demand, and
    general demand where the policy allows, giving first to the use of higher weight.
    """
    demand = instance.demand
    weights = instance.demand_weights()
    key = list(zip(demand["region"], demand["family"], demand["use"]))
    idx = {k: i for i, k in enumerate(key)}
    out = np.zeros(len(demand))
    for (region, family), row in allocation_by.iterrows():
        gi, gg = float(row.get("icu", 0.0)), float(row.get("general", 0.0))
        i_icu, i_gen = idx.get((region, family, "icu")), idx.get((region, family, "general"))
        d_icu = demand["quantity"].iloc[i_icu] if i_icu is not None else 0.0
        d_gen = demand["quantity"].iloc[i_gen] if i_gen is not None else 0.0
        gen = min(gg, d_gen)
        if i_gen is not None:
            out[i_gen] = gen
        icu_first = i_gen is None or i_icu is None or weights.iloc[i_icu] >= weights.iloc[i_gen]
        if instance.policy.icu_grade_for_general and i_gen is not None:
            if icu_first:
                to_icu = min(gi, d_icu)
                to_gen = min(gi - to_icu, d_gen - gen)
            else:
                to_gen = min(gi, d_gen - gen)
                to_icu = min(gi - to_gen, d_icu)
            out[i_gen] += to_gen
        else:
            to_icu = min(gi, d_icu)
        if i_icu is not None:
            out[i_icu] = to_icu
    return out


def verify(instance: Instance, plan: Plan | pd.DataFrame, *, fill: pd.DataFrame | None = None,
           optimality: bool = True, reference=None) -> Verification:
    """Check a plan; return every violation.

    Parameters
    ----------
    plan:
        A ``Plan`` or a dispatch table (columns source, region, product, quantity; text or numbers).
    fill:
        The plan's fill table, if it has one: its delivered figures must match the dispatch.
    optimality:
        Also compare with the optimum (solves the instance unless ``reference`` is a ``Result``).
    """
    v: list[tuple] = []
    if isinstance(plan, Plan):
        dispatch = plan.dispatch.copy()
        fill = plan.fill if fill is None else fill
    else:
        dispatch = plan.copy()
    if "_row" not in dispatch.columns:
        dispatch["_row"] = np.arange(2, len(dispatch) + 2)
    dispatch = _typed_dispatch(instance, dispatch, v)

    # Routes exist, capacities hold.
    costs = _route_lookup(instance, dispatch)
    no_route = costs["unit_cost"].isna()
    for _, row in dispatch[no_route.to_numpy()].iterrows():
        v.append(("route", "dispatch.csv", row["_row"], f"no route from {row['source']!r} to {row['region']!r} for "
                  f"product {row['product']!r}", "error"))
    over = costs["capacity"].notna() & (dispatch["quantity"].to_numpy() > costs["capacity"].to_numpy() + 1e-9)
    for pos in np.flatnonzero(over.to_numpy()):
        row = dispatch.iloc[pos]
        v.append(("capacity", "dispatch.csv", row["_row"], f"ships {_n(row['quantity'])} of {row['product']!r} "
                  f"from {row['source']!r} to {row['region']!r}; the route carries at most "
                  f"{_n(costs['capacity'].iloc[pos])}", "error"))
    if "cost" in dispatch.columns:
        stated = pd.to_numeric(dispatch["cost"], errors="coerce")
        true = dispatch["quantity"] * costs["unit_cost"].to_numpy()
        off = stated.notna() & true.notna() & ((stated - true).abs() > 1e-6 * np.maximum(1.0, true.abs()))
        for pos in np.flatnonzero(off.to_numpy()):
            row = dispatch.iloc[pos]
            v.append(("cost", "dispatch.csv", row["_row"], f"cost column says {_n(stated.iloc[pos])}; quantity x "
                      f"route cost is {_n(true.iloc[pos])}", "warning"))

    # Nothing shipped beyond supply.
    shipped = dispatch.groupby(["source", "product"], as_index=False)["quantity"].sum()
    have = instance.supply.set_index(["source", "product"])["quantity"]
    shipped["have"] = [have.get((s, p), 0.0) for s, p in zip(shipped["source"], shipped["product"])]
    for _, row in shipped[shipped["quantity"] > shipped["have"] + 1e-9].iterrows():
        v.append(("supply", "dispatch.csv", None, f"source {row['source']!r} ships {_n(row['quantity'])} of "
                  f"{row['product']!r} but has {_n(row['have'])}", "error"))

    # Nothing delivered beyond demand; ICU-grade items only where allowed.
    delivered_by = _grade_totals(instance, dispatch)
    demand = instance.demand
    dq = demand.set_index(["region", "family", "use"])["quantity"]
    for (region, family), row in delivered_by.iterrows():
        gi, gg = float(row.get("icu", 0.0)), float(row.get("general", 0.0))
        d_icu, d_gen = float(dq.get((region, family, "icu"), 0.0)), float(dq.get((region, family, "general"), 0.0))
        if gg > d_gen + 1e-9:
            v.append(("demand", "dispatch.csv", None, f"{_n(gg)} general-grade {family!r} delivered to {region!r} "
                      f"against general demand of {_n(d_gen)} (general-grade items cannot serve ICU use)", "error"))
        room = d_icu + (d_gen - min(gg, d_gen) if instance.policy.icu_grade_for_general else 0.0)
        if gi > room + 1e-9:
            if not instance.policy.icu_grade_for_general and gi > d_icu + 1e-9 and d_gen > 0:
                rule, why = "icu", (f"ICU-grade {family!r} delivered to {region!r}: {_n(gi)} against ICU demand of "
                                    f"{_n(d_icu)}; the policy keeps ICU-grade items for ICU use")
            else:
                rule, why = "demand", (f"{_n(gi)} ICU-grade {family!r} delivered to {region!r} where the demand "
                                       f"they may serve is {_n(room)}")
            v.append((rule, "dispatch.csv", None, why, "error"))
    delivered = delivered_by_demand(instance, delivered_by)
    if fill is not None:
        delivered = _check_fill(instance, fill, delivered_by, delivered, v)

    weights = instance.demand_weights().to_numpy(float)
    quantity = demand["quantity"].to_numpy(float)
    shortfall = quantity - delivered
    metrics = {
        "weighted_shortfall": float(weights @ shortfall),
        "route_cost": float((dispatch["quantity"] * costs["unit_cost"].fillna(0.0).to_numpy()).sum()),
        "delivered": float(delivered.sum()),
        "shortfall": float(shortfall.sum()),
    }
    feasible = not any(item[4] == "error" for item in v)
    if optimality and feasible:
        _check_optimality(instance, delivered, metrics, v, reference, None if fill is not None else delivered_by)
    violations = pd.DataFrame(v, columns=_COLUMNS)
    violations["row"] = violations["row"].astype("Int64")
    return Verification(violations=violations.reset_index(drop=True), metrics=metrics)


def _typed_dispatch(instance: Instance, dispatch: pd.DataFrame, v: list) -> pd.DataFrame:
    for col in ("source", "region", "product"):
        dispatch[col] = dispatch[col].astype(str).str.strip()
    q = pd.to_numeric(dispatch["quantity"], errors="coerce")
    bad = q.isna() | ~np.isfinite(q.fillna(0)) | (q < 0)
    for pos in np.flatnonzero(bad.to_numpy()):
        v.append(("quantity", "dispatch.csv", dispatch["_row"].iloc[pos], f"quantity is "
                  f"{dispatch['quantity'].iloc[pos]!r}: expected a number 0 or more", "error"))
    dispatch["quantity"] = q.where(~bad, 0.0).astype(float)
    known = {"source": set(instance.sources["source"]), "region": set(instance.regions["region"]),
             "product": set(instance.products["product"])}
    unknown = np.zeros(len(dispatch), dtype=bool)
    for col, ids in known.items():
        miss = ~dispatch[col].isin(ids)
        for pos in np.flatnonzero(miss.to_numpy()):
            v.append(("unknown id", "dispatch.csv", dispatch["_row"].iloc[pos],
                      f"unknown {col} {dispatch[col].iloc[pos]!r}", "error"))
        unknown |= miss.to_numpy()
    dispatch = dispatch[~unknown].reset_index(drop=True)
    countable = dispatch["product"].map(instance.products.set_index("product")["countable"]).astype(bool)
    frac = countable & (dispatch["quantity"] != np.round(dispatch["quantity"]))
    for pos in np.flatnonzero(frac.to_numpy()):
        v.append(("whole units", "dispatch.csv", dispatch["_row"].iloc[pos], f"{_n(dispatch['quantity'].iloc[pos])}"
                  f" of countable product {dispatch['product'].iloc[pos]!r}: expected a whole number", "error"))
    return dispatch


def _route_lookup(instance: Instance, dispatch: pd.DataFrame) -> pd.DataFrame:
    """Unit cost and capacity of each dispatch row's route (NaN cost: no such route)."""
    keys = dispatch[["source", "region", "product"]]
    if instance.routes is None:
        from .geo import great_circle_km

        src = instance.sources.set_index("source")
        reg = instance.regions.set_index("region")
        s_lat = keys["source"].map(src["lat"]).fillna(keys["source"].map(src["region"]).map(reg["lat"]))
        s_lon = keys["source"].map(src["lon"]).fillna(keys["source"].map(src["region"]).map(reg["lon"]))
        km = np.round(great_circle_km(s_lat, s_lon, keys["region"].map(reg["lat"]), keys["region"].map(reg["lon"])), 1)
        return pd.DataFrame({"unit_cost": km * instance.policy.cost_per_km, "capacity": np.nan})
    routes = instance.routes
    specific = keys.merge(routes[routes["product"] != ""][["source", "region", "product", "cost", "capacity"]],
                          on=["source", "region", "product"], how="left")
    generic = keys.merge(routes[routes["product"] == ""][["source", "region", "cost", "capacity"]],
                         on=["source", "region"], how="left")
    use_specific = specific["cost"].notna()
    return pd.DataFrame({
        "unit_cost": np.where(use_specific, specific["cost"], generic["cost"]),
        "capacity": np.where(use_specific, specific["capacity"], generic["capacity"]),
    })


def _grade_totals(instance: Instance, dispatch: pd.DataFrame) -> pd.DataFrame:
    prod = instance.products.set_index("product")
    d = dispatch.assign(family=dispatch["product"].map(prod["family"]), grade=dispatch["product"].map(prod["grade"]))
    table = d.pivot_table(index=["region", "family"], columns="grade", values="quantity", aggfunc="sum",
                          fill_value=0.0)
    return table


def _check_fill(instance: Instance, fill: pd.DataFrame, by_grade: pd.DataFrame, derived: np.ndarray,
                v: list) -> np.ndarray:
    """Check the plan's own fill table against its dispatch; return the deliveries it claims.

    The claimed split between ICU and general use must be one the dispatched grades allow:
    ICU use from ICU-grade units only, general use from general-grade units and (where the
    policy allows) the ICU-grade units left over, and every delivered unit in some use.
    """
    demand = instance.demand
    idx = {k: i for i, k in enumerate(zip(demand["region"], demand["family"], demand["use"]))}
    rows = fill["_row"] if "_row" in fill.columns else pd.Series(np.arange(2, len(fill) + 2), index=fill.index)
    claimed_col = pd.to_numeric(fill["delivered"], errors="coerce")
    claimed = np.zeros(len(demand))
    for pos in range(len(fill)):
        key = (str(fill["region"].iloc[pos]), str(fill["family"].iloc[pos]), str(fill["use"].iloc[pos]))
        i = idx.get(key)
        c = claimed_col.iloc[pos]
        if i is None:
            v.append(("fill", "fill.csv", rows.iloc[pos], f"no demand row {'/'.join(key)} in the instance", "error"))
        elif pd.isna(c) or c < -1e-9 or c > demand["quantity"].iloc[i] + 1e-9:
            v.append(("fill", "fill.csv", rows.iloc[pos], f"delivered {fill['delivered'].iloc[pos]!r} for "
                      f"{'/'.join(key)}: expected a number from 0 to its demand {_n(demand['quantity'].iloc[i])}",
                      "error"))
        else:
            claimed[i] = c
    allow = instance.policy.icu_grade_for_general
    for (region, family), row in by_grade.iterrows():
        gi, gg = float(row.get("icu", 0.0)), float(row.get("general", 0.0))
        ci = claimed[idx[(region, family, "icu")]] if (region, family, "icu") in idx else 0.0
        cg = claimed[idx[(region, family, "general")]] if (region, family, "general") in idx else 0.0
        tol = 1e-6 * max(1.0, gi + gg)
        ok = (ci <= gi + tol and cg <= gg + (gi - ci if allow else 0.0) + tol
              and abs(ci + cg - (gi + gg)) <= tol)
        if not ok:
            v.append(("fill", "fill.csv", None, f"{region}/{family}: says delivered {_n(ci)} to ICU use and {_n(cg)} "
                      f"to general use; the dispatch delivers {_n(gi)} ICU-grade and {_n(gg)} general-grade units",
                      "error"))
    # Rows of regions the dispatch sends nothing to must claim nothing.
    served = set(by_grade.index)
    for (region, family, use), i in idx.items():
        if (region, family) not in served and claimed[i] > 1e-9:
            v.append(("fill", "fill.csv", None, f"{region}/{family}/{use}: says delivered {_n(claimed[i])}; the "
                      "dispatch delivers nothing there", "error"))
    return claimed


def _check_optimality(instance: Instance, delivered: np.ndarray, metrics: dict, v: list, reference,
                      free_split: pd.DataFrame | None = None) -> None:
    if reference is None:
        from .optimize import solve

        reference = solve(instance, check=False)
    w_star = reference.objective["weighted_shortfall"]
    c_star = reference.objective["route_cost"]
    metrics["optimal_weighted_shortfall"] = w_star
    metrics["optimal_route_cost"] = c_star
    tol = 1e-6 * max(1.0, abs(w_star))
    if metrics["weighted_shortfall"] > w_star + tol:
        v.append(("optimal", None, None, f"weighted shortfall {_n(metrics['weighted_shortfall'])} exceeds the optimum "
                  f"{_n(w_star)}: more of the high-weight demand could be served", "error"))
        return
    if instance.policy.equity:
        fair = reference.fair_fill
        demand = instance.demand
        quantity = demand["quantity"].to_numpy(float)
        countable = demand["family"].map(instance.family_countable()).astype(bool).to_numpy()
        from .lexicographic import fair_box

        target = fair * quantity
        weights = instance.demand_weights().to_numpy(float)
        if reference.fair_box is not None:  # exact from the network engine
            lo, hi = (np.asarray(b, dtype=float) for b in reference.fair_box)
        else:
            lo, hi = fair_box(fair, quantity, countable, weights)
        if free_split is not None and instance.policy.icu_grade_for_general:
            delivered = _fair_split(instance, delivered, free_split, weights, lo, hi)
        bad = (delivered < lo - 1e-9) | (delivered > hi + 1e-9)
        for i in np.flatnonzero(bad):
            v.append(("equity", "demand.csv", int(demand["_row"].iloc[i]),
                      f"{demand['region'].iloc[i]}/{demand['family'].iloc[i]}/{demand['use'].iloc[i]} is filled "
                      f"{delivered[i] / quantity[i]:.2%} ({_n(delivered[i])}); its max-min fair level is "
                      f"{fair[i]:.2%} ({_n(target[i])})", "error"))
        if bad.any():
            return
    if metrics["route_cost"] > c_star + 1e-6 * max(1.0, abs(c_star)):
        v.append(("least cost", None, None, f"route cost {_n(metrics['route_cost'])} exceeds the least cost "
                  f"{_n(c_star)} of serving the same demand", "error"))


def _fair_split(instance: Instance, delivered: np.ndarray, by_grade: pd.DataFrame, weights: np.ndarray,
                lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Without a fill table, choose how ICU-grade units split between a region's ICU and general
    rows where the two weigh the same (the split is then the plan's free choice): the split that
    puts both rows inside their fair boxes, if there is one."""
    demand = instance.demand
    idx = {k: i for i, k in enumerate(zip(demand["region"], demand["family"], demand["use"]))}
    out = delivered.copy()
    for (region, family), row in by_grade.iterrows():
        i, g = idx.get((region, family, "icu")), idx.get((region, family, "general"))
        if i is None or g is None or weights[i] != weights[g]:
            continue
        gen_part = min(float(row.get("general", 0.0)), float(demand["quantity"].iloc[g]))
        total = out[i] + out[g] - gen_part  # ICU-grade units credited to the two rows
        d_i, d_g = float(demand["quantity"].iloc[i]), float(demand["quantity"].iloc[g])
        low = max(0.0, total - (d_g - gen_part), lo[i], total + gen_part - hi[g])
        high = min(total, d_i, hi[i], total + gen_part - lo[g])
        if low <= high + 1e-9:
            out[i], out[g] = low, gen_part + total - low
    return out


def _n(x: float) -> str:
    x = float(x)
    return f"{x:,.0f}" if x == round(x) else f"{x:,.4g}"
