"""Numbers as the outputs print them: the one rule for JSON and summaries."""

from __future__ import annotations

__all__ = ["json_number"]


def json_number(x) -> int | float:
    """A whole number as an int (when exact in a float), anything else rounded to 6 decimals."""
    x = float(x)
    return int(round(x)) if abs(x - round(x)) < 1e-9 and abs(x) < 2**53 else round(x, 6)
