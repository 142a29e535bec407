"""Resource limits: refuse, before building, an instance the machine cannot hold.

The guard allows ``BYTES_PER_ARC`` per route-product arc plus ``BASE_BYTES`` for the
Python process and libraries, an allowance set from one-off peak-memory readings of the
whole pipeline (tables, LP, plan), not a benchmark figure. It counts the arcs from the
tables without building anything and compares twice that estimate with the memory
available, so that a huge instance fails at once with a message, not by thrashing.
"""

from __future__ import annotations

import contextlib
import os

from allocator.errors import InstanceTooLarge
from allocator.inputs.instance import Instance

__all__ = ["InstanceTooLarge", "count_arcs", "available_memory", "check_size", "BYTES_PER_ARC"]

BYTES_PER_ARC = 1_500
BASE_BYTES = 150 * 2**20
SAFETY = 2.0


def count_arcs(instance: Instance) -> int:
    """An upper bound on the route-product arcs the model will have, from counts alone."""
    supply = instance.supply.loc[instance.supply["quantity"] > 0, ["source", "product"]].drop_duplicates()
    family = instance.products.set_index("product")["family"]
    wanted = instance.demand.loc[instance.demand["quantity"] > 0, ["region", "family"]].drop_duplicates()
    regions_per_family = wanted.groupby("family").size()
    if instance.routes is None:
        per_product = supply.groupby("product").size()
        fams = family.reindex(per_product.index)
        regions = fams.map(regions_per_family).fillna(0)
        subs = instance.substitutes
        if subs is not None and len(subs):  # a substitute also goes where the families it serves are wanted
            extra = subs.drop_duplicates(["product", "family"])
            extra = extra.loc[extra["family"] != extra["product"].map(family)]
            regions = regions.add(
                extra["family"].map(regions_per_family).fillna(0).groupby(extra["product"]).sum(), fill_value=0
            ).reindex(per_product.index)
        return int((per_product * regions.to_numpy()).sum())
    routes = instance.routes
    specific = int((routes["product"] != "").sum())
    products_per_source = supply.groupby("source").size()
    generic = routes.loc[routes["product"] == "", "source"].map(products_per_source).fillna(0)
    return specific + int(generic.sum())


def available_memory() -> int | None:
    """Bytes this process may still use: the smaller of MemAvailable and a cgroup limit."""
    found = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
            if text.isdigit() and int(text) < 2**60:
                found.append(int(text))
        except OSError:
            continue
    if not found and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(found) if found else None


def check_size(instance: Instance, memory_limit: float | None = None, days: int = 1) -> int:
    """Raise ``InstanceTooLarge`` if the model would not fit; return the arc count.

    ``memory_limit`` (bytes) replaces the memory the machine reports as available. ``days``:
    the days one model plans at once (a multi-day model holds every arc once per day; its
    allowance is the day's times the days, not calibrated apart).
    """
    arcs = count_arcs(instance) * max(int(days), 1)
    need = BASE_BYTES + SAFETY * BYTES_PER_ARC * arcs
    have = memory_limit if memory_limit is not None else available_memory()
    if have is not None and need > have:
        msg = (
            f"the instance is too large for this machine: {arcs:,} route-product arcs need about "
            f"{need / 2**30:.1f} GiB and {have / 2**30:.1f} GiB is available. Restrict the routes (each "
            "source to its nearest regions), solve families separately, or use a machine with more memory"
        )
        raise InstanceTooLarge(msg)
    return arcs
