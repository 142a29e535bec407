"""Solve: how the daily model with side constraints reaches whole units (``engine.driver`` runs it).

The stages are the daily model's (``lexicographic``): least weighted shortfall, max-min
fair fill rates within each weight class, least cost. With side rows the LP's vertices
need not be whole: a shared capacity in pallets or trucks has fractional coefficients,
and a capacity shared by several products lets the LP split a unit between them. The
method:

1. Solve the stages as LPs (``solve_lexicographic``). When every countable value (and
   every yes/no choice of a minimum lot or a destination limit) comes back whole, that is
   the plan: the LP optimum is whole, so it is also the whole-unit optimum (gap 0).
2. Otherwise, one of two whole-unit methods (``whole``; ``auto`` picks ``proven`` for a
   model of at most ``PROVEN_LIMIT`` countable columns, ``rounded`` above):

   ``proven`` (``method: mip``): the stages again as mixed-integer programs
   (``mip.lexicographic_mip``: HiGHS branch and bound, each stage to a proven optimum and
   held while the next is solved): least weighted shortfall over whole-unit plans, then
   the fewest units below each row's LP fair box, then least cost. Its weighted shortfall
   is the least any whole-unit plan has. It does not finish in ten minutes on the
   generated province instance (``allocator bench --side``).

   ``rounded`` (``method: rounded``, ``rounding.solve_rounded``): the same stages over the
   LP optimum's neighbourhood (destinations chosen from the LP, every route at most its LP
   value rounded up): the best whole-unit plan there, in seconds at province scale, not
   proven optimal over all plans. When the neighbourhood holds no plan, ``auto`` falls
   back to ``proven``.

   Either way the plan meets every row of the model exactly (nothing is rounded after the
   solve, so no constraint can break), and the LP's optimum is a lower bound on its
   weighted shortfall: the difference is reported as the integrality gap
   (``objective.integrality_gap``).

Minimum lots and destination limits are yes/no choices, so they always take step 2.
"""

from __future__ import annotations

__all__ = ["PROVEN_LIMIT"]

# Countable columns: above, ``auto`` rounds (docs/benchmarks.md: proven 3.7 s at 1,342, > 120 s at 2,306).
PROVEN_LIMIT = 1500
