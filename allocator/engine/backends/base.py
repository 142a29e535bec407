"""Backend-neutral status and result of one LP solve."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = ["Status", "LPResult"]


class Status(enum.Enum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


@dataclass
class LPResult:
    status: Status
    objective: float
    x: np.ndarray  # column values
    col_dual: np.ndarray  # reduced costs
    row_dual: np.ndarray  # row duals (sign as for a minimisation)
    row_value: np.ndarray
    message: str = ""
    bound: float | None = None  # a MIP's proven lower bound on the objective (its dual bound)
    has_solution: bool = True  # a feasible x came back (a MIP stopped by the time limit may have none)
