"""Solve: the lexicographic optimum of a multi-day model, in whole units where items are countable.

The stages are those of the daily model (``lexicographic``): least weighted shortfall,
max-min fair fill rates within each weight class (highest first; the time preference
makes each day a class of its own), least route and transfer cost.

A multi-day model is a network only while every product is a consumable without
attrition and there are no floors: durable equipment (a unit in service stays on
hand), attrition (a fraction of the stock) and floors (a sum of stocks) add rows
that are not network rows, and then an LP vertex can be fractional. When it is, and
a fractional value belongs to a countable item, the stages are solved again as
mixed-integer programs (``mip.lexicographic_mip``: HiGHS branch and bound, proven optimal):

1. least weighted shortfall over whole-unit plans (``W_int >= W_lp``; the difference,
   the integrality gap, is reported);
2. with equity, the fewest units below each row's LP fair box ``[floor, ceil]`` of its
   max-min fair share, with the weighted shortfall held at ``W_int``;
3. least cost, with both held.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from allocator.build.horizon import HorizonModel
from allocator.engine.lp import solve_lexicographic
from allocator.engine.mip import lexicographic_mip

__all__ = ["HorizonSolution", "solve_horizon"]

_INT_TOL = 1e-6


@dataclass
class HorizonSolution:
    x: np.ndarray
    weighted_shortfall: float
    route_cost: float
    fair_fill: np.ndarray
    method: str  # "lp" (the LP vertex was whole) or "mip"
    lp_weighted_shortfall: float  # the LP relaxation's optimum (a lower bound)
    lp_solves: int
    seconds: dict[str, float] = field(default_factory=dict)


def solve_horizon(model: HorizonModel, *, equity: bool = True) -> HorizonSolution:
    t0 = time.perf_counter()
    lex = solve_lexicographic(model, equity=equity, whole=False)
    x = lex.x
    countable = model.countable_cols()
    off = np.abs(x[countable] - np.round(x[countable]))
    if not off.size or off.max() <= _INT_TOL:
        x = x.copy()
        x[countable] = np.round(x[countable])
        x = np.maximum(x, 0.0)
        w = float(x @ model.cost_vector("shortfall"))
        return HorizonSolution(
            x=x,
            weighted_shortfall=w,
            route_cost=float(x @ model.cost_vector("cost")),
            fair_fill=lex.fair_fill,
            method="lp",
            lp_weighted_shortfall=lex.weighted_shortfall,
            lp_solves=lex.lp_solves,
            seconds={"lp": time.perf_counter() - t0},
        )
    t1 = time.perf_counter()
    x, solves = lexicographic_mip(model, lex.fair_fill if equity else None)
    w = float(x @ model.cost_vector("shortfall"))
    return HorizonSolution(
        x=x,
        weighted_shortfall=w,
        route_cost=float(x @ model.cost_vector("cost")),
        fair_fill=lex.fair_fill,
        method="mip",
        lp_weighted_shortfall=lex.weighted_shortfall,
        lp_solves=lex.lp_solves + solves,
        seconds={"lp": t1 - t0, "mip": time.perf_counter() - t1},
    )
