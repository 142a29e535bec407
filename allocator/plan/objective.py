"""Plan: the objective a plan achieved and what is proven about it, one type for every family.

``Objective`` is what ``Result.objective`` (a day), ``HorizonResult.summary()["objective"]``
(several days) and the replay's summary report: the weighted shortfall and route cost of the
plan, what the equity stage did, and, where the solve proves one, a lower bound on the least
weighted shortfall with the plan's gap to it and the stage a time limit stopped. A family's own
figures (side constraints' LP bound, substitutes, a replay's equity measure, ...) ride along in
further keys. It is a ``dict`` with the keys of ``summary.json``'s ``objective``
(``plan.summary.SCHEMA``), so ``result.objective["route_cost"]`` and ``json.dumps`` work as they
always did, with typed properties over those keys.
"""

from __future__ import annotations

from typing import Any

from allocator.engine.types import StagedSolution, Status
from allocator.numbers import json_number

__all__ = ["EQUITY_NOT_REACHED", "EQUITY_ON", "Objective"]

EQUITY_ON = "max-min fair fill rates within each tier"
EQUITY_NOT_REACHED = "not reached (time limit)"


class Objective(dict[str, Any]):
    """The lexicographic objective of one plan (least weighted shortfall; with equity, max-min
    fair fill rates; least route cost) and what is proven about it: ``summary.json``'s
    ``objective``, as JSON numbers, with typed properties."""

    def __init__(
        self,
        weighted_shortfall: float,
        route_cost: float,
        equity: str,
        *,
        bound: float | None = None,
        gap: float | None = None,
        stopped_in: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """``bound`` (and ``gap``, the plan's weighted shortfall above it, relative to it) is a
        proven lower bound on the least weighted shortfall, recorded when given; ``stopped_in``
        the stage a time limit stopped (shortfall, equity or cost); ``extra``: a family's own keys."""
        super().__init__(
            weighted_shortfall=json_number(weighted_shortfall), route_cost=json_number(route_cost), equity=equity
        )
        if bound is not None:
            self["weighted_shortfall_bound"] = json_number(bound)
            self["weighted_shortfall_gap"] = json_number(gap or 0.0)
        if stopped_in is not None:
            self["stopped_in"] = stopped_in
        self.update(extra or {})

    @classmethod
    def of(cls, sol: StagedSolution, equity: bool, *, show_bound: bool | None = None) -> Objective:
        """The objective of a staged solve's plan. ``show_bound``: record the bound always
        (True), never (False), or only when a time limit stopped the solve (None: a day's plan)."""
        stopped = sol.status is not Status.OPTIMAL
        w = float(sol.weighted_shortfall)
        if sol.shortfall_bound is not None:
            bound, gap = float(sol.shortfall_bound), sol.gap
        elif stopped:  # nothing proven: 0, the trivial bound
            bound, gap = 0.0, 1.0 if w > 0 else 0.0
        else:  # optimal: the plan's own
            bound, gap = w, 0.0
        if not equity:
            how = "off"
        elif stopped and sol.stopped_in in ("shortfall", "equity"):  # the equity stage did not finish
            how = EQUITY_NOT_REACHED
        else:
            how = EQUITY_ON
        show = stopped if show_bound is None else show_bound
        return cls(
            w,
            float(sol.route_cost),
            how,
            bound=bound if show else None,
            gap=gap,
            stopped_in=sol.stopped_in if stopped else None,
        )

    @property
    def weighted_shortfall(self) -> float:
        return float(self["weighted_shortfall"])

    @property
    def route_cost(self) -> float:
        return float(self["route_cost"])

    @property
    def bound(self) -> float | None:
        """The proven lower bound on the least weighted shortfall, where one is recorded."""
        v = self.get("weighted_shortfall_bound")
        return None if v is None else float(v)

    @property
    def gap(self) -> float:
        """The plan's weighted shortfall above the bound, relative to it (0 without a bound)."""
        return float(self.get("weighted_shortfall_gap", 0.0))

    @property
    def stopped_in(self) -> str | None:
        return self.get("stopped_in")

    @property
    def proven(self) -> bool:
        """Every stage was solved to its optimum (no time limit struck)."""
        return self.stopped_in is None
