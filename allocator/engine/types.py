"""Solve: the types every engine shares: the staged model's interface, its solution, status,
method and deadline, and the one integrality check. ``engine.driver`` runs the stages.

The three model families (the day's network ``build.daily.FlowModel``, the day with side
constraints ``build.side.SideModel``, several days ``build.horizon.HorizonModel``) meet one
interface, ``StagedModel``, and are solved by ``solve_staged`` to the same lexicographic optimum:

1. least weighted shortfall;
2. with equity, max-min fair fill rates within each weight class, highest weight first;
3. least cost.

The escalation is the same for every family and written once, here: the stages are solved as
LPs (``engine.lp``; the network model on min-cost flows, ``engine.network``, family by family,
``engine.daily``); when a countable value comes back fractional (a side row or a stock dynamic
broke the network structure), the stages are solved again over whole units: branch and bound
(``engine.mip``, ``Method.MIP``) or, for a large side model, the best whole plan near the LP
optimum (``engine.rounding``, ``Method.ROUNDED``). The LP optimum stays the proven bound.

One ``Deadline`` runs through every stage. When it strikes, the best plan found so far is
returned with ``Status.TIME_LIMIT``, the stage it stopped (``stopped_in``) and a proven lower
bound on the least weighted shortfall (``shortfall_bound``): the plan's gap to it is ``gap``.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "Deadline",
    "Method",
    "StagedModel",
    "StagedSolution",
    "Status",
    "WHOLE_METHODS",
    "fractional",
]

INT_TOL = 1e-6  # how far from a whole number a countable value may come back
WHOLE_METHODS = ("auto", "proven", "rounded")


class Status(enum.StrEnum):
    """How a staged solve ended: every stage optimal, or stopped by the time limit."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"


class Method(enum.StrEnum):
    """How the whole-unit plan was found."""

    LP = "lp"  # the LP (or min-cost flow) optimum is whole: it is the whole-unit optimum too
    MIP = "mip"  # branch and bound: each stage proven optimal over whole-unit plans
    ROUNDED = "rounded"  # the best whole-unit plan near the LP optimum (not proven optimal)
    GREEDY = "greedy"  # the time limit struck before the first stage: a greedy plan


class Deadline:
    """The time left for a whole solve: one object handed through every stage and engine."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = None if seconds is None else max(float(seconds), 0.0)
        self.start = time.perf_counter()

    def left(self) -> float | None:
        """Seconds left (never negative), or None without a limit."""
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - (time.perf_counter() - self.start))

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0.0

    def __repr__(self) -> str:
        return f"Deadline({self.seconds!r}, left={self.left()!r})"


@runtime_checkable
class StagedModel(Protocol):
    """What the staged solve reads of a model: CSC arrays and bounds, the demand rows, and the
    cost of each stage. ``FlowModel``, ``SideModel`` and ``HorizonModel`` meet it
    (``tests/test_contract.py``)."""

    n_cols: int
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    demand: pd.DataFrame  # quantity, weight, countable per demand row

    @property
    def short_cols(self) -> np.ndarray: ...

    @property
    def inequality_rows(self) -> np.ndarray: ...

    def countable_cols(self) -> np.ndarray: ...

    def reachable(self, upper: np.ndarray) -> np.ndarray: ...

    def cost_vector(self, stage: str) -> np.ndarray: ...


@dataclass
class StagedSolution:
    """A staged solve's plan (the model's column values) and what is proven about it."""

    x: np.ndarray  # values of the model's columns (countable ones whole)
    weighted_shortfall: float  # of this plan; the stage-1 optimum when status is optimal
    route_cost: float  # of this plan; the stage-3 optimum when status is optimal
    fair_fill: np.ndarray  # per demand row: its max-min fair fill rate (NaN without equity)
    lp_solves: int
    seconds: dict[str, float] = field(default_factory=dict)
    solver: str = "highs"  # the engines that ran: network, highs, network+highs, highs-mip, highs-rounded
    status: Status = Status.OPTIMAL
    stopped_in: str | None = None  # the stage the time limit stopped: shortfall, equity or cost
    shortfall_bound: float | None = None  # proven lower bound on the least weighted shortfall (the LP optimum)
    fair_lo: np.ndarray | None = None  # per demand row: least delivery inside its fair box (with equity)
    fair_hi: np.ndarray | None = None  # per demand row: most delivery inside its fair box
    method: Method = Method.LP

    @property
    def lp_weighted_shortfall(self) -> float | None:
        """The LP relaxation's least weighted shortfall (a lower bound on any whole-unit plan's)."""
        return self.shortfall_bound

    @property
    def gap(self) -> float:
        """The plan's weighted shortfall above the proven bound, relative to the plan's (0 when proven)."""
        bound = self.shortfall_bound
        if bound is None or self.weighted_shortfall <= 0:
            return 0.0
        return max(0.0, (self.weighted_shortfall - float(bound)) / self.weighted_shortfall)


def fractional(model: StagedModel, x: np.ndarray) -> float:
    """How far the plan's furthest countable value is from a whole number (0 when all are whole):
    the one integrality check of every family."""
    countable = model.countable_cols()
    if not np.any(countable):
        return 0.0
    v = x[countable]
    return float(np.abs(v - np.round(v)).max())
