"""The plan tables, the reasons and the checks, computed on integer codes for speed at county
and village scale, give exactly what their row-by-row definitions give.

The definitions (``_ref_*`` below) are the table-join and row-loop versions the package
used before: same messages, same row order, same numbers to the last bit (sums added in
the order pandas adds them), on solved plans, on corrupted plans and on perturbed solutions.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import instance, random_instance

import allocator
from allocator.build.daily import build
from allocator.engine.daily import solve_model
from allocator.inputs.policy import Policy
from allocator.plan.daily import Plan, group_sums, plan_from_solution, rows_sorted

verify_module = importlib.import_module("allocator.verification.daily")
explain_module = importlib.import_module("allocator.explain.reasons")


# --- the row-by-row definitions ------------------------------------------------------------


def _ref_n(x: float) -> str:
    x = float(x)
    return f"{x:,.0f}" if x == round(x) else f"{x:,.6f}".rstrip("0").rstrip(".")  # numbers.quantity_text(x, 6)


def _ref_delivered_by_demand(instance, allocation_by):
    demand = instance.demand
    weights = instance.demand_weights()
    idx = {k: i for i, k in enumerate(zip(demand["region"], demand["family"], demand["use"]))}
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


def _ref_verify(instance, plan, fill=None):
    """``verify(..., optimality=False)`` row by row: (violations, metrics)."""
    v = []
    if isinstance(plan, Plan):
        dispatch = plan.dispatch.copy()
        fill = plan.fill if fill is None else fill
    else:
        dispatch = plan.copy()
    if "_row" not in dispatch.columns:
        dispatch["_row"] = np.arange(2, len(dispatch) + 2)
    for col in ("source", "region", "product"):
        dispatch[col] = dispatch[col].astype(str).str.strip()
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
    known = {
        "source": set(instance.sources["source"]),
        "region": set(instance.regions["region"]),
        "product": set(instance.products["product"]),
    }
    unknown = np.zeros(len(dispatch), dtype=bool)
    for col, ids in known.items():
        miss = ~dispatch[col].isin(ids)
        for pos in np.flatnonzero(miss.to_numpy()):
            v.append(
                (
                    "unknown id",
                    "dispatch.csv",
                    dispatch["_row"].iloc[pos],
                    f"unknown {col} {dispatch[col].iloc[pos]!r}",
                    "error",
                )
            )
        unknown |= miss.to_numpy()
    dispatch = dispatch[~unknown].reset_index(drop=True)
    countable = dispatch["product"].map(instance.products.set_index("product")["countable"]).astype(bool)
    frac = countable & (dispatch["quantity"] != np.round(dispatch["quantity"]))
    for pos in np.flatnonzero(frac.to_numpy()):
        v.append(
            (
                "whole units",
                "dispatch.csv",
                dispatch["_row"].iloc[pos],
                f"{_ref_n(dispatch['quantity'].iloc[pos])}"
                f" of countable product {dispatch['product'].iloc[pos]!r}: expected a whole number",
                "error",
            )
        )

    keys = dispatch[["source", "region", "product"]]
    if instance.routes is None:
        from allocator.inputs.geo import great_circle_km

        src = instance.sources.set_index("source")
        reg = instance.regions.set_index("region")
        s_lat = keys["source"].map(src["lat"]).fillna(keys["source"].map(src["region"]).map(reg["lat"]))
        s_lon = keys["source"].map(src["lon"]).fillna(keys["source"].map(src["region"]).map(reg["lon"]))
        km = np.round(great_circle_km(s_lat, s_lon, keys["region"].map(reg["lat"]), keys["region"].map(reg["lon"])), 1)
        costs = pd.DataFrame({"unit_cost": km * instance.policy.cost_per_km, "capacity": np.nan})
    else:
        routes = instance.routes
        specific = keys.merge(
            routes[routes["product"] != ""][["source", "region", "product", "cost", "capacity"]],
            on=["source", "region", "product"],
            how="left",
        )
        generic = keys.merge(
            routes[routes["product"] == ""][["source", "region", "cost", "capacity"]],
            on=["source", "region"],
            how="left",
        )
        use_specific = specific["cost"].notna()
        costs = pd.DataFrame(
            {
                "unit_cost": np.where(use_specific, specific["cost"], generic["cost"]),
                "capacity": np.where(use_specific, specific["capacity"], generic["capacity"]),
            }
        )
    for _, row in dispatch[costs["unit_cost"].isna().to_numpy()].iterrows():
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
                f"ships {_ref_n(row['quantity'])} of {row['product']!r} "
                f"from {row['source']!r} to {row['region']!r}; the route carries at most "
                f"{_ref_n(costs['capacity'].iloc[pos])}",
                "error",
            )
        )
    if "cost" in dispatch.columns:
        stated = pd.to_numeric(dispatch["cost"], errors="coerce")
        true = dispatch["quantity"] * costs["unit_cost"].to_numpy()
        off = stated.notna() & true.notna() & ((stated - true).abs() > 1e-6 * np.maximum(1.0, true.abs()))
        for pos in np.flatnonzero(off.to_numpy()):
            v.append(
                (
                    "cost",
                    "dispatch.csv",
                    dispatch["_row"].iloc[pos],
                    f"cost column says {_ref_n(stated.iloc[pos])}; quantity x route cost is {_ref_n(true.iloc[pos])}",
                    "warning",
                )
            )

    shipped = dispatch.groupby(["source", "product"], as_index=False)["quantity"].sum()
    have = instance.supply.set_index(["source", "product"])["quantity"]
    shipped["have"] = [have.get((s, p), 0.0) for s, p in zip(shipped["source"], shipped["product"])]
    for _, row in shipped[shipped["quantity"] > shipped["have"] + 1e-9].iterrows():
        v.append(
            (
                "supply",
                "dispatch.csv",
                None,
                f"source {row['source']!r} ships {_ref_n(row['quantity'])} of "
                f"{row['product']!r} but has {_ref_n(row['have'])}",
                "error",
            )
        )

    prod = instance.products.set_index("product")
    d = dispatch.assign(family=dispatch["product"].map(prod["family"]), grade=dispatch["product"].map(prod["grade"]))
    by = d.pivot_table(index=["region", "family"], columns="grade", values="quantity", aggfunc="sum", fill_value=0.0)
    demand = instance.demand
    allow = instance.policy.icu_grade_for_general
    dq = demand.set_index(["region", "family", "use"])["quantity"]
    for (region, family), row in by.iterrows():
        gi, gg = float(row.get("icu", 0.0)), float(row.get("general", 0.0))
        d_icu, d_gen = float(dq.get((region, family, "icu"), 0.0)), float(dq.get((region, family, "general"), 0.0))
        if gg > d_gen + 1e-9:
            v.append(
                (
                    "demand",
                    "dispatch.csv",
                    None,
                    f"{_ref_n(gg)} general-grade {family!r} delivered to "
                    f"{region!r} against general demand of {_ref_n(d_gen)} (general-grade items cannot serve ICU "
                    "use)",
                    "error",
                )
            )
        room = d_icu + (d_gen - min(gg, d_gen) if allow else 0.0)
        if gi > room + 1e-9:
            if not allow and gi > d_icu + 1e-9 and d_gen > 0:
                rule, why = (
                    "icu",
                    (
                        f"ICU-grade {family!r} delivered to {region!r}: {_ref_n(gi)} against ICU demand "
                        f"of {_ref_n(d_icu)}; the policy keeps ICU-grade items for ICU use"
                    ),
                )
            else:
                rule, why = (
                    "demand",
                    (
                        f"{_ref_n(gi)} ICU-grade {family!r} delivered to {region!r} where the demand "
                        f"they may serve is {_ref_n(room)}"
                    ),
                )
            v.append((rule, "dispatch.csv", None, why, "error"))
    delivered = _ref_delivered_by_demand(instance, by)

    if fill is not None:
        idx = {k: i for i, k in enumerate(zip(demand["region"], demand["family"], demand["use"]))}
        rows = fill["_row"] if "_row" in fill.columns else pd.Series(np.arange(2, len(fill) + 2), index=fill.index)
        claimed_col = pd.to_numeric(fill["delivered"], errors="coerce")
        claimed = np.zeros(len(demand))
        for pos in range(len(fill)):
            key = (str(fill["region"].iloc[pos]), str(fill["family"].iloc[pos]), str(fill["use"].iloc[pos]))
            i = idx.get(key)
            c = claimed_col.iloc[pos]
            if i is None:
                v.append(
                    ("fill", "fill.csv", rows.iloc[pos], f"no demand row {'/'.join(key)} in the instance", "error")
                )
            elif pd.isna(c) or c < -1e-9 or c > demand["quantity"].iloc[i] + 1e-9:
                v.append(
                    (
                        "fill",
                        "fill.csv",
                        rows.iloc[pos],
                        f"delivered {fill['delivered'].iloc[pos]!r} for "
                        f"{'/'.join(key)}: expected a number from 0 to its demand "
                        f"{_ref_n(demand['quantity'].iloc[i])}",
                        "error",
                    )
                )
            else:
                claimed[i] = c
        for (region, family), row in by.iterrows():
            gi, gg = float(row.get("icu", 0.0)), float(row.get("general", 0.0))
            ci = claimed[idx[(region, family, "icu")]] if (region, family, "icu") in idx else 0.0
            cg = claimed[idx[(region, family, "general")]] if (region, family, "general") in idx else 0.0
            tol = 1e-6 * max(1.0, gi + gg)
            if not (
                ci <= gi + tol and cg <= gg + (gi - ci if allow else 0.0) + tol and abs(ci + cg - (gi + gg)) <= tol
            ):
                v.append(
                    (
                        "fill",
                        "fill.csv",
                        None,
                        f"{region}/{family}: says delivered {_ref_n(ci)} to ICU use and "
                        f"{_ref_n(cg)} to general use; the dispatch delivers {_ref_n(gi)} ICU-grade and "
                        f"{_ref_n(gg)} general-grade units",
                        "error",
                    )
                )
        served = set(by.index)
        for (region, family, use), i in idx.items():
            if (region, family) not in served and claimed[i] > 1e-9:
                v.append(
                    (
                        "fill",
                        "fill.csv",
                        None,
                        f"{region}/{family}/{use}: says delivered {_ref_n(claimed[i])}; "
                        "the dispatch delivers nothing there",
                        "error",
                    )
                )
        delivered = claimed

    weights = instance.demand_weights().to_numpy(float)
    shortfall = demand["quantity"].to_numpy(float) - delivered
    metrics = {
        "weighted_shortfall": float(weights @ shortfall),
        "route_cost": float((dispatch["quantity"] * costs["unit_cost"].fillna(0.0).to_numpy()).sum()),
        "delivered": float(delivered.sum()),
        "shortfall": float(shortfall.sum()),
    }
    violations = pd.DataFrame(v, columns=["rule", "file", "row", "detail", "severity"])
    violations["row"] = violations["row"].astype("Int64")
    return violations.reset_index(drop=True), metrics


def _ref_reasons(instance, model, x, fill):
    """``shortfall_reasons`` by table joins over every flow."""
    reasons = pd.Series("", index=fill.index, dtype=object)
    short_pos = np.flatnonzero((fill["shortfall"] > 1e-9).to_numpy())
    if len(short_pos) == 0:
        return reasons
    demand = model.demand
    weight = demand["weight"].to_numpy(float)
    region_name = instance.regions.set_index("region")["name"]
    key = pd.MultiIndex.from_frame(demand[["region", "family", "use"]])
    short_d = key.get_indexer(pd.MultiIndex.from_frame(fill[["region", "family", "use"]]))[short_pos]
    ship = model.ship[["source", "region", "product", "capacity"]].assign(q=x[: model.n_ship])
    serve = model.serve[["region", "product", "demand_idx"]].assign(q=x[model.n_ship : model.n_ship + model.n_serve])
    hub_total = serve.groupby(["region", "product"])["q"].transform("sum")
    serve["share"] = np.where(hub_total > 0, serve["q"] / hub_total.where(hub_total > 0, 1.0), 0.0)
    sent = ship[ship["q"] > 0].merge(
        serve.loc[serve["share"] > 0, ["region", "product", "demand_idx", "share"]], on=["region", "product"]
    )
    sent = pd.DataFrame(
        {
            "source": sent["source"],
            "product": sent["product"],
            "to": sent["demand_idx"],
            "units": sent["q"] * sent["share"],
        }
    )
    wanted = serve.loc[serve["demand_idx"].isin(short_d), ["region", "product", "demand_idx"]]
    reach = wanted.merge(ship[["source", "region", "product", "capacity", "q"]], on=["region", "product"])
    reach = reach.rename(columns={"demand_idx": "d"})
    flows = reach[["d", "source", "product"]].drop_duplicates().merge(sent, on=["source", "product"])
    flows["w_to"] = weight[flows["to"].to_numpy()]
    flows["w_d"] = weight[flows["d"].to_numpy()]
    higher = flows[flows["w_to"] > flows["w_d"] * (1 + 1e-12)]
    equal = flows[np.isclose(flows["w_to"], flows["w_d"], rtol=1e-12) & (flows["to"] != flows["d"])]
    own = flows[flows["to"] == flows["d"]].groupby("d")["units"].sum()
    equal_sum = equal.groupby("d")["units"].sum()
    higher_by = (
        higher.groupby(["d", "to"], as_index=False)["units"]
        .sum()
        .sort_values(["d", "units", "to"], ascending=[True, False, True])
    )
    cap = reach[np.isfinite(reach["capacity"].to_numpy(float))]
    full = cap[cap["q"] >= cap["capacity"] - 1e-9].groupby("d")["source"].apply(lambda s: sorted(set(s)))
    supply = model.supply.set_index(["source", "product"])["quantity"]
    shipped = ship.groupby(["source", "product"])["q"].sum()
    left_sp = (supply - shipped.reindex(supply.index).fillna(0.0)).rename("left").reset_index()
    left = (
        reach[["d", "source", "product"]]
        .drop_duplicates()
        .merge(left_sp, on=["source", "product"])
        .groupby("d")["left"]
        .sum()
    )
    pairs = (
        instance.demand[["family", "use"]]
        .rename_axis("demand_idx")
        .reset_index()
        .merge(instance.products[["product", "family", "grade"]], on="family")
    )
    ok = (pairs["grade"] == pairs["use"]) | (
        (pairs["grade"] == "icu") & (pairs["use"] == "general") & instance.policy.icu_grade_for_general
    )
    stock = instance.supply.groupby("product")["quantity"].sum()
    has_stock = set(pairs.loc[ok & (pairs["product"].map(stock).fillna(0.0) > 0), "demand_idx"])
    reachable = set(reach["d"])
    higher_groups = {d: g for d, g in higher_by.groupby("d")}

    def n(x):
        return f"{x:,.0f}" if abs(x - round(x)) < 1e-6 else f"{x:,.2f}".rstrip("0").rstrip(".")

    for pos, d in zip(short_pos, short_d):
        row = demand.iloc[d]
        grade = "ICU-grade " if row["use"] == "icu" else ""
        if d not in has_stock:
            reasons.iloc[pos] = f"no {grade}{row['family']} supply anywhere today"
            continue
        if d not in reachable:
            where = region_name[row["region"]]
            reasons.iloc[pos] = f"no route reaches {where} from any source of {grade}{row['family']}"
            continue
        parts = []
        g = higher_groups.get(d)
        if g is not None and g["units"].sum() > 0.5:
            named = [
                f"{region_name[demand['region'].iloc[t]]} {demand['use'].iloc[t]} (w {weight[t]:g})"
                for t in g["to"].iloc[:3]
            ]
            more = f" and {len(g) - 3} more" if len(g) > 3 else ""
            parts.append(
                f"outranked: {n(g['units'].sum())} reachable units went to higher-weight demand in "
                f"{', '.join(named)}{more}"
            )
        if equal_sum.get(d, 0.0) > 0.5:
            parts.append(
                f"shared: {n(equal_sum[d])} reachable units went to equal-weight demand, rationed to equal fill rates"
            )
        if d in full.index:
            parts.append(f"route capacity full from {', '.join(full[d][:3])}")
        if not parts:
            if left.get(d, 0.0) <= 1e-9:
                parts.append(f"not enough supply: all {n(own.get(d, 0.0))} reachable {grade}units are delivered here")
            else:
                parts.append(f"{n(left[d])} reachable units left unshipped")
        reasons.iloc[pos] = "; ".join(parts)
    return reasons


def _ref_plan_tables(instance, model, x):
    """The dispatch, allocation and fill tables by sorting and grouping the text ids."""
    ship_q = x[: model.n_ship]
    keep = ship_q > 0
    dispatch = model.ship.loc[keep, ["source", "region", "product", "cost", "distance_km"]].copy()
    dispatch = dispatch.rename(columns={"cost": "unit_cost"})
    dispatch["quantity"] = ship_q[keep]
    dispatch["cost"] = dispatch["quantity"] * dispatch["unit_cost"]
    dispatch["source_name"] = dispatch["source"].map(instance.sources.set_index("source")["name"])
    dispatch["region_name"] = dispatch["region"].map(instance.regions.set_index("region")["name"])
    dispatch = dispatch[
        ["source", "region", "product", "quantity", "cost", "unit_cost", "distance_km", "source_name", "region_name"]
    ].sort_values(["source", "region", "product"])
    serve_q = x[model.n_ship : model.n_ship + model.n_serve]
    keep = serve_q > 0
    allocation = model.serve.loc[keep, ["region", "product", "use"]].copy()
    allocation["family"] = allocation["product"].map(instance.products.set_index("product")["family"])
    allocation["quantity"] = serve_q[keep]
    allocation = (
        allocation[["region", "product", "family", "use", "quantity"]]
        .groupby(["region", "product", "family", "use"], as_index=False)["quantity"]
        .sum()
    )
    demand = instance.demand
    quantity = demand["quantity"].to_numpy(float)
    delivered = np.clip(quantity - x[model.n_ship + model.n_serve :], 0.0, quantity)
    delivered = np.where(np.abs(delivered) < 1e-9, 0.0, delivered)
    fill = pd.DataFrame(
        {
            "region": demand["region"].to_numpy(),
            "family": demand["family"].to_numpy(),
            "use": demand["use"].to_numpy(),
            "demand": quantity,
            "delivered": delivered,
            "shortfall": quantity - delivered,
            "fill_rate": np.where(quantity > 0, delivered / np.where(quantity > 0, quantity, 1.0), 1.0),
            "weight": model.demand["weight"].to_numpy(float),
        }
    )
    keys = fill["weight"].map(lambda w: float(f"{w:.12g}"))
    order = {w: i + 1 for i, w in enumerate(sorted(keys.unique(), reverse=True))}
    fill["tier"] = keys.map(order).astype(int)
    fill["reason"] = ""
    fill = fill.sort_values(["tier", "region", "family", "use"]).reset_index(drop=True)
    return dispatch.reset_index(drop=True), allocation.reset_index(drop=True), fill


# --- instances, solutions and corrupted plans -------------------------------------------


def _with_specific_routes(inst, seed):
    """Some routes also listed for one product, at another cost and capacity."""
    rng = np.random.default_rng(seed)
    routes = inst.routes
    extra = routes.iloc[rng.choice(len(routes), size=max(1, len(routes) // 4), replace=False)].copy()
    extra["product"] = rng.choice(inst.products["product"].to_numpy(object), size=len(extra))
    extra["cost"] = extra["cost"] + 2.0
    extra["capacity"] = np.where(rng.random(len(extra)) < 0.5, np.nan, rng.integers(3, 30, len(extra)))
    extra = extra.drop_duplicates(["source", "region", "product"])
    return replace(inst, routes=pd.concat([routes, extra], ignore_index=True))


def _cases():
    out = []
    for seed in range(4):
        inst = random_instance(
            seed,
            n_sources=5 + seed,
            n_regions=6 + seed,
            capacities=seed % 2 == 0,
            icu_for_general=seed % 2 == 1,
            fractional_family=True,
            equity=seed != 2,
        )
        if seed == 3:
            inst = _with_specific_routes(inst, seed)
        out.append((f"random{seed}", inst))
    suits = allocator.load(
        str(__import__("pathlib").Path(__file__).resolve().parents[1] / "instances" / "suits-2020-02-05")
    )
    out.append(("suits", suits))
    return out


@pytest.fixture(scope="module")
def solved():
    out = []
    for name, inst in _cases():
        model = build(inst)
        sol = solve_model(model, equity=inst.policy.equity, instance=inst)
        out.append((name, inst, model, sol.x))
    return out


def _corrupted(inst, plan, seed):
    """(name, dispatch, fill) plans to check: the plan itself and edits of every kind, several
    kinds to a plan."""
    rng = np.random.default_rng(seed)
    d0, f0 = plan.dispatch, plan.fill
    n, m = len(d0), len(f0)

    def pick(size, k=3):
        return rng.choice(size, size=min(k, size), replace=False)

    out = [("plan", d0, f0), ("dispatch only", d0, None)]
    # More than a source has, half units, bad numbers, unknown ids, a wrong cost; a fill
    # table with bad numbers, rows the instance lacks, a claim more.
    d = d0.copy()
    d.loc[pick(n), "quantity"] += 1
    d.loc[pick(n), "quantity"] -= 0.5
    d.loc[pick(n), "cost"] += 3.5
    d["quantity"] = d["quantity"].astype(object)
    for i, p in enumerate(pick(n, 5)):
        d.loc[p, "quantity"] = ["abc", -3, np.inf, np.nan, " 7 "][i]
    p = pick(n)
    d.loc[p[0], "region"] = "atlantis"
    d.loc[p[-1], "source"] = " nowhere "
    d.loc[p[len(p) // 2], "product"] = "unobtainium"
    f = f0.copy()
    f.loc[pick(m), "delivered"] += 1
    f["delivered"] = f["delivered"].astype(object)
    for i, p in enumerate(pick(m, 5)):
        f.loc[p, "delivered"] = ["x", np.nan, -5.0, 1e12, None][i]
    p = pick(m)
    f.loc[p[0], "region"] = "atlantis"
    f.loc[p[-1], "use"] = "other"
    out.append(("numbers and ids", d, f))
    # Rerouted, ICU-grade items sent, twice as much, rows repeated and shuffled.
    d = d0.assign(quantity=d0["quantity"] * 2)
    p = pick(n, 4)
    d.loc[p, "region"] = rng.choice(inst.regions["region"].to_numpy(object), size=len(p))
    d.loc[p, "source"] = rng.choice(inst.sources["source"].to_numpy(object), size=len(p))
    products = inst.products
    icu = dict(
        zip(products.loc[products["grade"] == "icu", "family"], products.loc[products["grade"] == "icu", "product"])
    )
    family = dict(zip(products["product"], products["family"]))
    d["product"] = [icu[family[x]] if family[x] in icu and rng.random() < 0.6 else x for x in d["product"]]
    d = pd.concat([d, d.iloc[pick(n)]], ignore_index=True)
    d = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
    out += [("routes and grades", d, None), ("routes and grades, with fill", d, f0)]
    # As text, the fill's uses swapped and rows repeated; regions sent nothing.
    f = f0.copy()
    for _, ix in list(f.groupby(["region", "family"]).indices.items()):
        if len(ix) == 2:
            f.loc[ix, "delivered"] = f.loc[ix[::-1], "delivered"].to_numpy()
    f = pd.concat([f, f0.iloc[pick(m)].assign(delivered=0.0)], ignore_index=True)
    out.append(("text", d0[["source", "region", "product", "quantity"]].astype(str), f.astype(str)))
    regions = d0["region"].unique()
    gone = set(rng.choice(regions, size=max(1, len(regions) // 3), replace=False))
    out.append(("regions sent nothing", d0[~d0["region"].isin(gone)].reset_index(drop=True), f0))
    return out


def _variants(inst):
    pol = inst.policy
    flipped = inst.with_policy(pol.with_overrides({"icu_grade_for_general": not pol.icu_grade_for_general}))
    w = inst.demand_weights().to_numpy(float)
    icu = inst.demand["use"].to_numpy(object) == "icu"
    lighter = replace(inst, demand=inst.demand.assign(weight=np.where(icu, w * 0.5, w)))
    return [
        ("as given", inst),
        ("ICU rule flipped", flipped),
        ("ICU lighter", lighter.with_policy(lighter.policy.with_overrides({"icu_grade_for_general": True}))),
    ]


def _assert_same_verification(got, ref, what):
    violations, metrics = ref
    pd.testing.assert_frame_equal(got.violations, violations, check_exact=True, obj=what)
    assert got.metrics == metrics, what


# --- the tests -------------------------------------------------------------------------


def test_plan_tables_equal_the_sorted_grouped_tables(solved):
    for name, inst, model, x in solved:
        plan = plan_from_solution(inst, model, x)
        dispatch, allocation, fill = _ref_plan_tables(inst, model, x)
        pd.testing.assert_frame_equal(plan.dispatch, dispatch, check_exact=True, obj=name)
        pd.testing.assert_frame_equal(plan.allocation, allocation, check_exact=True, obj=name)
        pd.testing.assert_frame_equal(plan.fill, fill, check_exact=True, obj=name)


def test_verify_finds_the_same_violations_as_row_by_row(solved):
    rules = set()
    for name, inst, model, x in solved:
        plan = plan_from_solution(inst, model, x)
        for vname, variant in _variants(inst):
            for cname, dispatch, fill in _corrupted(variant, plan, len(name)):
                what = f"{name} / {vname} / {cname}"
                got = allocator.verify(
                    variant, dispatch.copy(), fill=None if fill is None else fill.copy(), optimality=False
                )
                _assert_same_verification(got, _ref_verify(variant, dispatch, fill), what)
                rules |= set(got.violations["rule"])
        got = allocator.verify(inst, plan, optimality=False)
        _assert_same_verification(got, _ref_verify(inst, plan), f"{name} / Plan")
        assert got.ok, name
    assert rules == {
        "quantity",
        "unknown id",
        "whole units",
        "route",
        "capacity",
        "cost",
        "supply",
        "demand",
        "icu",
        "fill",
    }


def test_corrupted_plans_are_caught():
    """The reference agrees, and the edits are found at all (the comparison is not vacuous)."""
    inst = random_instance(5, capacities=True)
    res = allocator.solve(inst, equity=False)
    d = res.plan.dispatch.copy()
    d.loc[0, "quantity"] += 1000
    d.loc[1, "region"] = "atlantis"
    ver = allocator.verify(inst, d, fill=res.plan.fill, optimality=False)
    assert {"supply", "unknown id", "fill"} <= set(ver.violations["rule"])
    _assert_same_verification(ver, _ref_verify(inst, d, res.plan.fill), "caught")


def test_delivered_by_demand_matches_row_by_row(solved):
    for name, inst, model, x in solved:
        plan = plan_from_solution(inst, model, x)
        prod = inst.products.set_index("product")
        d = plan.dispatch.assign(
            family=plan.dispatch["product"].map(prod["family"]), grade=plan.dispatch["product"].map(prod["grade"])
        )
        by = d.pivot_table(
            index=["region", "family"], columns="grade", values="quantity", aggfunc="sum", fill_value=0.0
        )
        by.loc[("atlantis", "mask"), :] = 5.0  # a pair with no demand row
        for vname, variant in _variants(inst):
            got = verify_module.delivered_by_demand(variant, by)
            assert np.array_equal(got, _ref_delivered_by_demand(variant, by)), (name, vname)


def _perturbed(model, x, seed):
    rng = np.random.default_rng(seed)
    x = x.copy()
    ns, nv = model.n_ship, model.n_serve
    x[:ns] = x[:ns] * rng.choice([0.0, 1.0, 1.0, 2.0, 1 / 3], size=ns)
    x[ns : ns + nv] = x[ns : ns + nv] * rng.choice([0.0, 1.0, 1.0, 3.0, 0.7], size=nv)
    return x


def test_reasons_are_the_true_ones(solved):
    for name, inst, model, x in solved:
        for k, xx in enumerate([x, _perturbed(model, x, 1), _perturbed(model, x, 2)]):
            fill = plan_from_solution(inst, model, xx).fill
            got = explain_module.shortfall_reasons(inst, model, xx, fill)
            ref = _ref_reasons(inst, model, xx, fill)
            assert got.index.equals(ref.index) and got.dtype == ref.dtype
            assert got.tolist() == ref.tolist(), (name, k)
            if k == 0:
                assert (fill["shortfall"] > 1e-9).sum() == (got != "").sum()


def test_reasons_the_same_by_every_path(solved, monkeypatch):
    """Listed in small blocks, without the whole-number shortcut, from the id columns rather
    than the matrix: the same words."""
    for name, inst, model, x in solved[:3]:
        xx = _perturbed(model, x, 3)
        fill = plan_from_solution(inst, model, xx).fill
        want = _ref_reasons(inst, model, xx, fill).tolist()
        with monkeypatch.context() as m:
            m.setattr(explain_module, "_CHUNK", 7)
            assert explain_module.shortfall_reasons(inst, model, xx, fill).tolist() == want, name
            m.setattr(explain_module, "_EXACT", 0.0)
            assert explain_module.shortfall_reasons(inst, model, xx, fill).tolist() == want, name
        broken = replace(model, start=model.start[:1])
        assert explain_module.shortfall_reasons(inst, broken, xx, fill).tolist() == want, name


def test_reason_kinds_on_a_small_case():
    """Outranked by a named higher-weight region, shared with equal weight, route full, no route."""
    products = [{"product": "m", "family": "mask", "grade": "general", "countable": True}]
    regions = [
        {"region": r, "name": r.upper(), "flags": f, "weight": ""}
        for r, f in (("a", "level_one_response"), ("b", ""), ("c", ""), ("d", ""))
    ]
    sources = [{"source": "s", "name": "S", "region": "a"}, {"source": "t", "name": "T", "region": "d"}]
    demand = [
        {"region": r, "family": "mask", "use": "general", "quantity": q}
        for r, q in (("a", 10), ("b", 10), ("c", 10), ("d", 5))
    ]
    routes = [{"source": "s", "region": r, "cost": 1, "capacity": None} for r in ("a", "b", "c")]
    routes.append({"source": "t", "region": "d", "cost": 1, "capacity": 2})
    inst = instance(
        policy=Policy().with_overrides({"equity": True}),
        products=products,
        sources=sources,
        supply=[("s", "m", 16), ("t", "m", 9)],
        regions=regions,
        demand=demand,
        routes=routes,
    )
    res = allocator.solve(inst)
    reasons = dict(zip(res.plan.fill["region"], res.plan.fill["reason"]))
    assert reasons["a"] == ""
    assert reasons["b"].startswith("outranked: 10 reachable units went to higher-weight demand in A general")
    assert "shared: 3 reachable units went to equal-weight demand" in reasons["b"]
    assert reasons["d"] == "route capacity full from t"
    model = build(inst)
    x = solve_model(model, equity=True, instance=inst).x
    assert (
        explain_module.shortfall_reasons(inst, model, x, res.plan.fill).tolist()
        == _ref_reasons(inst, model, x, res.plan.fill).tolist()
    )


def test_group_sums_add_as_pandas_does():
    rng = np.random.default_rng(0)
    words = np.array(["a", "b", "ab", "B", "é", "z1", "z10", "z2", ""], dtype=object)
    for t in range(60):
        n = int(rng.integers(1, 500))
        r, p = words[rng.integers(0, len(words), n)], words[rng.integers(0, 4, n)]
        if t % 3 == 0:  # rows in key order
            o = sorted(range(n), key=lambda i: (r[i], p[i]))
            r, p = r[o], p[o]
        elif t % 3 == 1:  # in blocks, not in key order
            o = sorted(range(n), key=lambda i: (r[i][::-1], p[i]))
            r, p = r[o], p[o]
        v = rng.random(n) * rng.choice([1.0, 1000.0, 1e-3], n)
        frame = pd.DataFrame({"r": pd.Series(r, dtype="str"), "p": pd.Series(p, dtype="str"), "q": v})
        want = frame.groupby(["r", "p"])["q"].sum()
        codes, _ = pd.factorize(pd.MultiIndex.from_arrays([r, p]))
        keys, sums = group_sums(codes, v, rows_sorted(codes, r, p))
        first = {}
        for c, a, b in zip(codes.tolist(), r, p):
            first.setdefault(c, (a, b))
        got = pd.Series({first[c]: s for c, s in zip(keys.tolist(), sums.tolist())}).sort_index()
        assert np.array_equal(got.to_numpy(), want.to_numpy())
