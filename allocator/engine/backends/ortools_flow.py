"""OR-Tools' min-cost flow (``SimpleMinCostFlow``) and max flow (``SimpleMaxFlow``) on int64 arrays.

``min_cost_flow`` solves one balanced min-cost-flow problem: arcs ``tail -> head`` with
capacity and unit cost, node supplies summing to zero. ``max_flow`` (push-relabel, about
20x faster on allocator's graphs) also returns the minimum cut. The solver works in 64-bit integers and
scales costs internally by about the number of nodes; data it cannot hold exactly is
refused here, before the call, with ``FlowRangeError`` (the caller then picks another
engine), never rounded.
"""

from __future__ import annotations

import numpy as np

from allocator.errors import SolverError

__all__ = ["FlowRangeError", "min_cost_flow", "max_flow", "INT_LIMIT"]

# Magnitudes kept below 2**62 so that sums of a few of them still fit in an int64.
INT_LIMIT = 2**62


class FlowRangeError(ValueError):
    """The data does not fit the integer solver exactly."""


def min_cost_flow(
    n_nodes: int, tail: np.ndarray, head: np.ndarray, capacity: np.ndarray, cost: np.ndarray, supply: np.ndarray
) -> np.ndarray:
    """The flow on every arc of an optimal solution; ``supply`` is per node (sums to zero)."""
    from ortools.graph.python import min_cost_flow as mcf

    capacity = np.asarray(capacity, dtype=np.int64)
    cost = np.asarray(cost, dtype=np.int64)
    supply = np.asarray(supply, dtype=np.int64)
    max_cost = int(np.abs(cost).max(initial=0))
    max_cap = int(capacity.max(initial=0))
    total = int(np.abs(supply).sum()) // 2
    # The cost-scaling algorithm multiplies costs by (n_nodes + 1). The objective is at most
    # (total flow) x (largest cost) x (costed arcs on a path): allocator's graphs have at most
    # two costed arcs on any path; a margin of 8 is kept.
    if max_cost * (n_nodes + 1) >= INT_LIMIT or max_cap >= INT_LIMIT or max_cost * max(total, max_cap) * 8 >= INT_LIMIT:
        msg = (
            f"costs up to {max_cost} and flows up to {max(total, max_cap)} on {n_nodes} nodes "
            "do not fit the 64-bit min-cost-flow solver"
        )
        raise FlowRangeError(msg)
    if int(supply.sum()) != 0:
        raise SolverError("min-cost flow: node supplies do not balance")
    f = mcf.SimpleMinCostFlow()
    arcs = f.add_arcs_with_capacity_and_unit_cost(tail.astype(np.int32), head.astype(np.int32), capacity, cost)
    nodes = np.flatnonzero(supply).astype(np.int32)
    if len(nodes):
        f.set_nodes_supplies(nodes, supply[nodes])
    status = f.solve()
    if status != f.OPTIMAL:
        names = {
            f.INFEASIBLE: "infeasible",
            f.UNBALANCED: "unbalanced",
            f.BAD_RESULT: "bad result",
            f.BAD_COST_RANGE: "cost range",
            f.BAD_CAPACITY_RANGE: "capacity range",
        }
        if status in (f.BAD_COST_RANGE, f.BAD_CAPACITY_RANGE):
            raise FlowRangeError(f"min-cost flow refused the data ({names[status]})")
        raise SolverError(f"min-cost flow stopped with status {names.get(status, status)}")
    return np.asarray(f.flows(arcs), dtype=np.int64)


def max_flow(
    n_nodes: int, tail: np.ndarray, head: np.ndarray, capacity: np.ndarray, source: int, sink: int, flows: bool = True
) -> tuple[int, np.ndarray | None, np.ndarray]:
    """A maximum flow: its value, the flow on every arc (None unless ``flows``), and the nodes
    on the source side of the minimum cut nearest the source (those an augmenting path still
    reaches)."""
    from ortools.graph.python import max_flow as mf

    capacity = np.asarray(capacity, dtype=np.int64)
    if int(capacity.max(initial=0)) >= INT_LIMIT:
        raise FlowRangeError("capacities do not fit the 64-bit max-flow solver")
    f = mf.SimpleMaxFlow()
    arcs = f.add_arcs_with_capacity(tail.astype(np.int32), head.astype(np.int32), capacity)
    status = f.solve(source, sink)
    if status == f.POSSIBLE_OVERFLOW:
        raise FlowRangeError("the flow could exceed a 64-bit integer")
    if status != f.OPTIMAL:
        raise SolverError(f"max flow stopped with status {status}")
    side = np.zeros(max(n_nodes, f.num_nodes()), dtype=bool)
    side[np.asarray(f.get_source_side_min_cut(), dtype=np.int64)] = True
    arc_flows = np.asarray(f.flows(arcs), dtype=np.int64) if flows else None
    return int(f.optimal_flow()), arc_flows, side[:n_nodes]
