"""Shared test set-up: counters that the property tests report at the end of the run."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

COUNTS: collections.Counter = collections.Counter()


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    valid = COUNTS.pop("valid", 0)
    terminalreporter.write_sep("-", "property tests")
    terminalreporter.write_line(f"{valid} generated valid instances: solved, verified, optimum matched by networkx")
    accepted = COUNTS.pop("accepted", 0)
    corrupt = {k.removeprefix("corrupt:"): v for k, v in COUNTS.items() if k.startswith("corrupt:")}
    if corrupt:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(corrupt.items()))
        terminalreporter.write_line(
            f"{sum(corrupt.values())} generated corruptions of a valid folder ({kinds}): "
            f"{sum(corrupt.values()) - accepted} rejected with file, row and column and exit 2; {accepted} still "
            "valid (mixed line endings, an optional column dropped) and solved; no traceback"
        )
