"""Small builders shared by the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

import allocator
from allocator.inputs.policy import Policy


def frames(products, sources, supply, regions, demand, routes=None):
    """Tables from lists of dicts (or tuples with the named columns)."""

    def df(rows, cols=None):
        return pd.DataFrame(rows, columns=cols) if rows and not isinstance(rows[0], dict) else pd.DataFrame(rows)

    out = {
        "products": df(products),
        "sources": df(sources),
        "supply": df(supply, ["source", "product", "quantity"]),
        "regions": df(regions),
        "demand": df(demand),
    }
    if routes is not None:
        out["routes"] = df(routes, ["source", "region", "cost"] if routes and len(routes[0]) == 3 else None)
    return out


def instance(policy: Policy | None = None, **kw) -> allocator.Instance:
    return allocator.from_frames(**frames(**kw), policy=policy or Policy())


def write_folder(path, tables: dict[str, pd.DataFrame], policy_toml: str | None = None):
    path.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(path / f"{name}.csv", index=False)
    if policy_toml is not None:
        (path / "policy.toml").write_text(policy_toml, encoding="utf-8")
    return path


def random_instance(
    seed: int, *, n_sources=6, n_regions=7, capacities=True, equity=True, icu_for_general=False, fractional_family=False
) -> allocator.Instance:
    """A small random instance with integer route costs, two families, ICU and general grades."""
    rng = np.random.default_rng(seed)
    products = [
        {"product": "gb", "family": "suit", "grade": "icu", "countable": True},
        {"product": "em", "family": "suit", "grade": "general", "countable": True},
        {"product": "mask", "family": "mask", "grade": "general", "countable": True},
    ]
    if fractional_family:
        products.append({"product": "gel", "family": "sanitiser", "grade": "general", "countable": False})
    regions = []
    flags = ["", "level_one_response", "port_of_entry", "border_port", "", ""]
    for r in range(n_regions):
        regions.append(
            {
                "region": f"r{r}",
                "name": f"Region {r}",
                "flags": flags[rng.integers(len(flags))],
                "weight": "" if rng.random() < 0.7 else int(rng.integers(1, 4)),
            }
        )
    sources = [
        {"source": f"s{s}", "name": f"Source {s}", "region": f"r{rng.integers(n_regions)}"} for s in range(n_sources)
    ]
    supply = []
    for s in range(n_sources):
        for p in products:
            if rng.random() < 0.6:
                q = int(rng.integers(1, 60)) if p["countable"] else round(float(rng.uniform(0.5, 30)), 3)
                supply.append((f"s{s}", p["product"], q))
    demand = []
    fams = sorted({p["family"] for p in products})
    for r in range(n_regions):
        for fam in fams:
            for use in ("icu", "general"):
                if use == "icu" and fam != "suit":
                    continue
                if rng.random() < 0.7:
                    q = int(rng.integers(1, 80)) if fam != "sanitiser" else round(float(rng.uniform(0.5, 40)), 3)
                    demand.append({"region": f"r{r}", "family": fam, "use": use, "quantity": q})
    routes = []
    for s in range(n_sources):
        for r in range(n_regions):
            if rng.random() < 0.65:
                cap = int(rng.integers(5, 40)) if capacities and rng.random() < 0.3 else None
                routes.append({"source": f"s{s}", "region": f"r{r}", "cost": int(rng.integers(1, 50)), "capacity": cap})
    policy = Policy().with_overrides({"equity": equity, "icu_grade_for_general": icu_for_general})
    return instance(
        policy=policy, products=products, sources=sources, supply=supply, regions=regions, demand=demand, routes=routes
    )


def run_cli(capsys, *args):
    """Run the command line in-process; return (exit code, stdout + stderr). Never a traceback."""
    from allocator.cli.main import main

    code = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err
