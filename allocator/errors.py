"""Every error allocator raises on purpose, and the issue record shared by loading, validation and verification.

All of them derive from ``AllocatorError``: a caller (or the CLI, which turns each into a
message and an exit code) catches that one class. Each also derives from the built-in error
a Python caller would expect (``ValueError``, ``MemoryError``, ``OSError``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AllocatorError",
    "BatchError",
    "BenchError",
    "ConflictError",
    "InstanceError",
    "InstanceTooLarge",
    "Issue",
    "NoRoundedPlan",
    "OutputError",
    "PlanFileError",
    "PolicyError",
    "ReportError",
    "SolverError",
    "UsageError",
]


@dataclass(frozen=True, order=True)
class Issue:
    """One problem found in the input, located as precisely as the data allows.

    ``row`` is the row as a spreadsheet numbers it: the header is row 1, the first
    data row is row 2. ``None`` where the problem concerns a whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def location(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.severity}: {self.location()}: {self.message}"


class AllocatorError(Exception):
    """Root of every error the library raises on purpose."""


class InstanceError(AllocatorError, ValueError):
    """The instance has one or more errors; ``issues`` lists all of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues, key=_issue_key)
        errors = [i for i in self.issues if i.severity == "error"]
        head = f"{len(errors)} error(s) in the instance"
        super().__init__(head + ":\n" + "\n".join(str(i) for i in errors))


class ConflictError(InstanceError):
    """Hard constraints (commitments, designated pairings) that cannot all hold together.

    ``conflict`` is the table of input rows that conflict (``file, line, column, what``):
    an irreducible set, in which dropping any one row lets all the others hold.
    """

    def __init__(self, issues: list[Issue], conflict) -> None:
        super().__init__(issues)
        self.conflict = conflict
        self.args = (
            f"the hard constraints cannot all hold; these {len(conflict)} rows conflict (change any one "
            "and the others can hold):\n" + "\n".join(str(i) for i in self.issues),
        )


class PolicyError(AllocatorError, ValueError):
    """A policy file or a policy override is invalid."""


class PlanFileError(InstanceError):
    """A plan folder given to ``verify`` cannot be read."""


class SolverError(AllocatorError, RuntimeError):
    """The solver failed or returned a solution that does not pass the checks."""


class NoRoundedPlan(SolverError):
    """The LP optimum's neighbourhood holds no whole-unit plan (``engine.rounding``)."""


class UsageError(AllocatorError, ValueError):
    """A call or an option that cannot be honoured: an unknown solver or method, a horizon of
    no days, a day outside the instance, an undated instance to replay."""


class InstanceTooLarge(AllocatorError, MemoryError):
    """The instance would need more memory than the machine has (``build.guard``)."""


class OutputError(AllocatorError, OSError):
    """The output folder or file cannot be written as asked."""


class ReportError(AllocatorError, ValueError):
    """The folder is not a plan folder, or one of its files cannot be read; the message names it."""


class BatchError(AllocatorError, ValueError):
    """The batch cannot run as asked (duplicate tasks, no cluster at the address, ...)."""


class BenchError(AllocatorError, ValueError):
    """A benchmark's bad argument or unusable folder: reported as a message, exit code 2."""


def _issue_key(issue: Issue) -> tuple:
    return (issue.file, issue.row if issue.row is not None else -1, issue.column or "", issue.message)
