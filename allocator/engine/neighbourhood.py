"""Solve: a whole-unit plan of a multi-day model near its LP optimum, for branch and bound to
start from when a time limit is set.

A multi-day model's LP optimum is fractional where attrition or a floor breaks the network
structure, and its branch and bound may take minutes (the 43-day ventilator replay instance:
14,854 columns, 5,092 fractional in the LP optimum; 5 s of branch and bound found no plan).
Its moves (shipments and transfers) are few of its columns and mostly whole already: bounding
each move between the floor and the ceiling of its LP value and solving the stages as MIPs over
that neighbourhood (relaxation-induced neighbourhood search; Danna, Rothberg & Le Pape, Math.
Programming 102, 2005) gives a whole-unit plan in about a second there (weighted shortfall
14,103,747 against the LP bound 14,038,180: 0.47 % above it). The full branch and bound then
starts from that plan, so a solve the time limit stops returns it or a better one.

When the narrow neighbourhood holds no plan (rounding a move down strands a unit a later day
needed), the moves' lower bounds are released to 0: holding everything is always feasible, so
that neighbourhood always holds a plan.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from allocator.engine.mip import MipResult, lexicographic_mip
from allocator.engine.types import Deadline
from allocator.errors import SolverError

__all__ = ["near_plan"]

log = logging.getLogger("allocator.engine")

_TOL = 1e-6


def near_plan(model, lp_x: np.ndarray, fair: np.ndarray | None, deadline: Deadline) -> MipResult | None:
    """The stages over whole units with every move within one unit of the LP optimum ``lp_x``
    (then, if that holds no plan, anywhere from 0 to the ceiling). None when neither
    neighbourhood gives a plan before the deadline."""
    moves = model.move_cols()
    xm = lp_x[moves]
    upper = model.col_upper.copy()
    upper[moves] = np.minimum(upper[moves], np.ceil(xm - _TOL))
    for narrow in (True, False):
        lower = model.col_lower.copy()
        if narrow:
            lower[moves] = np.maximum(lower[moves], np.floor(xm + _TOL))
        near = dataclasses.replace(model, col_lower=lower, col_upper=upper)
        try:
            result = lexicographic_mip(near, fair, deadline=deadline, partial=True)
        except SolverError as err:  # no plan in this neighbourhood (or none found in time)
            log.info("no whole-unit plan with moves %s: %s", "within a unit" if narrow else "rounded down", err)
            if deadline.expired():
                return None
            continue
        return result
    return None
