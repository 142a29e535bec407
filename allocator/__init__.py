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

from allocator.errors import AllocatorError, InstanceError, Issue, PlanFileError, PolicyError, SolverError
from allocator.inputs.instance import Instance
from allocator.inputs.policy import Policy
from allocator.inputs.validate import from_frames, load, validate_folder
from allocator.pipeline.check import verify
from allocator.pipeline.run import solve
from allocator.plan.daily import Plan
from allocator.plan.results import Result
from allocator.report.folder import write_outputs
from allocator.report.reader import read_plan
from allocator.verification.daily import Verification
from allocator.verification.days import verify_days

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
    "from_frames",
    "load",
    "read_plan",
    "solve",
    "validate_folder",
    "verify",
    "verify_days",
    "write_outputs",
]

from allocator.version import __version__ as __version__  # noqa: E402
