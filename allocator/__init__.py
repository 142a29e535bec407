"""allocator: where scarce medical supplies go, day by day.

>>> import allocator
>>> inst = allocator.load("instances/suits-2020-02-05")      # doctest: +SKIP
>>> result = allocator.solve(inst)                            # doctest: +SKIP
>>> result.plan.dispatch.head()                               # doctest: +SKIP
>>> allocator.verify(inst, result.plan).ok                    # doctest: +SKIP
True
"""

import gc as _gc

# Importing pandas and numpy makes some hundred thousand objects; the cyclic garbage
# collector scanning them while they are made costs about a tenth of the import time.
_collecting = _gc.isenabled()
_gc.disable()

from .errors import AllocatorError, InstanceError, Issue, PlanFileError, PolicyError, SolverError
from .instance import Instance
from .optimize import Result, solve
from .plan import Plan
from .policy import Policy
from .report import write_outputs
from .validate import load, validate_folder
from .verify import Verification, read_plan, verify

if _collecting:
    _gc.freeze()  # and out of later scans: they live as long as the process
    _gc.enable()

__all__ = [
    "AllocatorError",
    "Instance",
    "InstanceError",
    "Issue",
    "Plan",
    "PlanFileError",
    "Policy",
    "PolicyError",
    "Result",
    "SolverError",
    "Verification",
    "load",
    "read_plan",
    "solve",
    "validate_folder",
    "verify",
    "write_outputs",
]

__version__ = "0.1.0"
