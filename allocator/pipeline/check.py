"""Verify a plan against every rule, its optimality included, with this pipeline's own solve as the reference.

``verification.verify`` checks feasibility from the tables alone; for optimality it needs the
optimum, which only the pipeline (build, engine, plan) can solve: this module hands it over.
"""

from __future__ import annotations

import pandas as pd

from allocator.inputs.instance import Instance
from allocator.pipeline.run import solve
from allocator.plan.daily import Plan
from allocator.plan.results import Result
from allocator.verification.daily import Verification
from allocator.verification.daily import verify as verify_plan

__all__ = ["verify"]


def verify(
    instance: Instance,
    plan: Plan | pd.DataFrame,
    *,
    fill: pd.DataFrame | None = None,
    optimality: bool = True,
    reference: Result | None = None,
) -> Verification:
    """Check a plan (a ``Plan`` or a dispatch table) against every rule of the instance.

    With ``optimality``, its weighted shortfall, fair shares and cost are compared with the
    optimum: ``reference`` when given, else the instance solved here (only if the plan is feasible).
    """

    def reference_optimum(inst: Instance) -> Result:
        return solve(inst, check=False)

    ref = reference if reference is not None else reference_optimum
    return verify_plan(instance, plan, fill=fill, optimality=optimality, reference=ref)
