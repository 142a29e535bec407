"""Numbers as the outputs print them: the one set of rules for CSV cells, JSON, and text.

- CSV (``csv_number``, ``csv_numbers``): a whole number as an integer, anything else with at
  most six decimals, trailing zeros dropped; no thousands separators (a cell a program reads).
- JSON (``json_number``): a whole number as an int, anything else rounded to six decimals.
- Text (``quantity_text``): thousands separators; a whole number without decimals, anything
  else with at most ``places`` decimals (3 unless said), trailing zeros dropped; a nonzero
  number that would print as 0 gets three significant digits instead; never exponent form
  (``7,683,380.25``, not ``7.68338e+06``); ``-0`` prints as ``0``.
- ``figure_text``: an objective, bound or total: ``quantity_text`` to six decimals.
- ``weight_text``: a weight or a rate as written in the policy (``32``, ``0.5``, ``0.01``).
- ``percent_text``: a share as a percentage (one decimal unless said).
- ``compact_text``: a quantity in a few characters, for labels on charts and maps: whole below
  100,000, then three significant digits in thousands (``k``), millions (``M``) or billions (``bn``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "compact_text",
    "csv_number",
    "csv_numbers",
    "figure_text",
    "json_number",
    "percent_text",
    "quantity_text",
    "weight_text",
]

_WHOLE = 1e-9  # how far from a whole number a value may be and still print as one
_EXACT = 1e15  # beyond this a float holds no fraction worth printing


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN (and pandas' NA/NaT compare as missing)
    except (TypeError, ValueError):
        return False


def json_number(x) -> int | float:
    """A whole number as an int (when exact in a float), anything else rounded to 6 decimals."""
    x = float(x)
    return int(round(x)) if abs(x - round(x)) < _WHOLE and abs(x) < 2**53 else round(x, 6)


def csv_number(v) -> str:
    """One CSV cell: empty when missing, ``true``/``false``, an integer, or six decimals at most."""
    if _missing(v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if abs(v - round(v)) < _WHOLE and abs(v) < _EXACT:
            return str(int(round(v)))
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def csv_numbers(values: np.ndarray) -> list[str]:
    """``csv_number`` of every value of a float array, at array speed (NaN: empty)."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), "", dtype=object)
    finite = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        whole = finite & (np.abs(values - np.round(values)) < _WHOLE) & (np.abs(values) < _EXACT)
    out[whole] = list(map(str, np.round(values[whole]).astype(np.int64).tolist()))
    rest = np.flatnonzero(finite & ~whole)
    if len(rest):
        out[rest] = [f"{v:.6f}".rstrip("0").rstrip(".") for v in values[rest].tolist()]
    return out.tolist()


def quantity_text(x, places: int = 3, *, sign: bool = False, missing: str = "-") -> str:
    """A quantity (or any figure) for a person to read; see the module's docstring."""
    if _missing(x):
        return missing
    x = float(x)
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    if abs(x - round(x)) < _WHOLE or abs(x) >= _EXACT:
        text = f"{round(x):,}"
    else:
        text = f"{x:,.{places}f}".rstrip("0").rstrip(".")
        if text in ("0", "-0"):  # nonzero, below the places shown: three significant digits
            text = np.format_float_positional(x, precision=3, unique=False, fractional=False, trim="-")
    text = "0" if text == "-0" else text
    return f"+{text}" if sign and x > 0 and text != "0" else text


def figure_text(x) -> str:
    """An objective, a bound or a total as summaries and checks print it: ``quantity_text`` to
    six decimals (``14,103,747.12``)."""
    return quantity_text(x, 6)


def weight_text(w) -> str:
    """A weight, a rate or a factor as a person writes it: ``32``, ``0.5``, ``0.01``."""
    return "-" if _missing(w) else f"{float(w):g}"


def percent_text(share, places: int = 1, *, missing: str = "-") -> str:
    """A share as a percentage: ``0.504`` is ``50.4%``."""
    return missing if _missing(share) else f"{float(share):.{places}%}"


def compact_text(v, *, missing: str = "") -> str:
    """A quantity in a few characters; see the module's docstring."""
    if _missing(v):
        return missing
    v = float(v)
    if abs(v) < 1e5:
        return f"{round(v):,}"
    for div, unit in ((1e3, " k"), (1e6, " M"), (1e9, " bn")):
        s = f"{v / div:.3g}"
        if "e" not in s and abs(float(s)) < 1000:
            return s + unit
    return f"{v / 1e9:,.0f} bn"
