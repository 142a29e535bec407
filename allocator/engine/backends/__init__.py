"""Solver adapters. Each turns our arrays into one backend's calls and its answers into ours.

Nothing outside this package imports a solver library.
"""

from allocator.engine.backends.base import LPResult, Status
from allocator.errors import UsageError

__all__ = ["LPResult", "Status", "make_lp"]


def make_lp(name: str, **arrays):
    """Create an incremental LP of backend ``name`` from CSC arrays."""
    if name == "highs":
        from allocator.engine.backends.highs import HighsLP

        return HighsLP(**arrays)
    msg = f"unknown solver {name!r}: expected 'highs'"
    raise UsageError(msg)
