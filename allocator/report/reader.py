"""Report: the one reader of plan folders, as ``solve``, ``plan`` and ``replay`` write them with ``--output``.

``read_folder`` reads any plan folder (its kind told by its files: ``day``, ``plan`` or ``replay``)
into typed tables, for the HTML page and the multi-day checks. ``read_plan`` reads a day's
``dispatch.csv`` and ``fill.csv`` as text with each row's line number, for ``verify`` and
``solve --previous``, whose messages name the file, row and column. Cells a spreadsheet would
evaluate were written with a leading apostrophe (``report.folder.neutralise``); both readers
undo it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.build.previous import Previous, previous_from_dispatch
from allocator.errors import Issue, PlanFileError, ReportError
from allocator.inputs.files import read_csv_rows, unneutralise

__all__ = [
    "KINDS",
    "NUMERIC",
    "RATES",
    "TABLES",
    "PlanFolder",
    "ReportError",
    "read_folder",
    "read_plan",
    "read_previous",
]

KINDS = {
    "day": ("one day's plan", "allocator solve", ("dispatch.csv", "fill.csv", "summary.json")),
    "plan": ("multi-day plan", "allocator plan", ("shipments.csv", "fill.csv", "by_day.csv", "summary.json")),
    "replay": (
        "replay",
        "allocator replay",
        ("shipments.csv", "fill.csv", "by_day.csv", "regions.csv", "summary.json"),
    ),
}
# Tables shown, in order, with what they hold.
TABLES = {
    "day": (
        ("fill.csv", "Demand rows: fill and the reason for every shortfall"),
        ("dispatch.csv", "Shipments"),
        ("allocation.csv", "Which product serves which demand"),
        ("marginal.csv", "What one more unit is worth"),
        ("sources.csv", "Where each source's output went, and why not elsewhere"),
        ("stability.csv", "Source-region pairs against the previous plan"),
    ),
    "plan": (
        ("by_day.csv", "Fill by priority tier and day"),
        ("fill.csv", "Demand rows by day"),
        ("shipments.csv", "Shipments"),
        ("transfers.csv", "Transfers between regions"),
        ("stock.csv", "Stock by holder, product and day"),
    ),
}
TABLES["replay"] = TABLES["plan"] + (("regions.csv", "Regions by day"),)
NUMERIC = {
    "demand",
    "delivered",
    "shortfall",
    "fill_rate",
    "weight",
    "tier",
    "quantity",
    "cost",
    "unit_cost",
    "distance_km",
    "backlog_in",
    "carried",
    "min_fill",
    "max_fill",
    "opening",
    "arrived",
    "sent",
    "used",
    "lost",
    "closing",
    "in_service",
    "floor",
    "stock",
    "value",
    "to_shortfall",
    "substituted",
    "rows",
    "before",
    "now",
    "change",
}
RATES = {"fill_rate", "min_fill", "max_fill"}
REQUIRED_COLUMNS = {
    "fill.csv": ("region", "family", "use", "demand", "delivered", "shortfall", "weight"),
    "dispatch.csv": ("source", "region", "product", "quantity"),
    "shipments.csv": ("day", "source", "region", "product", "quantity"),
    "by_day.csv": ("day", "tier", "weight", "demand", "backlog_in", "delivered", "fill_rate"),
}


@dataclass
class PlanFolder:
    """A plan folder as read: its kind (``day``, ``plan`` or ``replay``), ``summary.json`` and its tables."""

    kind: str
    summary: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def read_folder(folder: str | Path) -> PlanFolder:
    """Read a folder written by ``allocator solve``, ``plan`` or ``replay`` with ``--output``.

    The kind is told by the files: ``dispatch.csv`` (one day), ``shipments.csv`` and ``by_day.csv``
    (several days), and the replay's ``regions.csv``. Raises ``ReportError`` naming the folder or file.
    """
    path = Path(folder)
    if not path.is_dir():
        msg = (
            f"{path}: {'is a file' if path.exists() else 'no such folder'}; expected a plan folder "
            "(written by allocator solve, plan or replay with --output)"
        )
        raise ReportError(msg)
    names = {p.name for p in path.iterdir()}
    kind = next((k for k in ("replay", "plan", "day") if set(KINDS[k][2]) <= names), None)
    if kind is None:
        found = ", ".join(sorted(n for n in names if not n.startswith("."))[:8]) or "nothing"
        msg = (
            f"{path}: not a plan folder: expected dispatch.csv, fill.csv and summary.json (allocator solve "
            "--output) or shipments.csv, fill.csv, by_day.csv and summary.json (allocator plan or replay "
            f"--output); found {found}"
        )
        raise ReportError(msg)
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{path / 'summary.json'}: not valid JSON ({exc})"
        raise ReportError(msg) from None
    if not isinstance(summary, dict):
        msg = f"{path / 'summary.json'}: expected a JSON object"
        raise ReportError(msg)
    tables = {}
    for name, _ in TABLES[kind]:
        if name in names:
            tables[name] = _read_csv(path / name)
    if "places.csv" in names:  # where regions and sources lie, their flags (a folder written before: none)
        tables["places.csv"] = _read_csv(path / "places.csv")
    return PlanFolder(kind, summary, tables)


def _read_csv(file: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"{file}: cannot be read as CSV ({str(exc).strip()})"
        raise ReportError(msg) from None
    missing = [c for c in REQUIRED_COLUMNS.get(file.name, ()) if c not in frame.columns]
    if missing:
        msg = f"{file}: missing column(s) {', '.join(repr(c) for c in missing)}; is this a plan folder's file?"
        raise ReportError(msg)
    for col in frame.columns:
        if col in NUMERIC:
            values = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
            bad = values.isna() & (frame[col] != "")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
                msg = f"{file}, row {row}, column '{col}': expected a number, found {frame[col].iloc[row - 2]!r}"
                raise ReportError(msg)
            frame[col] = values
        else:
            frame[col] = frame[col].map(unneutralise)
    return frame


def read_plan(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read ``dispatch.csv`` (required) and ``fill.csv`` (optional) of a plan folder."""
    folder = Path(folder)
    issues: list[Issue] = []
    path = folder / "dispatch.csv"
    if not folder.is_dir():
        msg = "is not a folder: expected a plan folder with dispatch.csv"
        raise PlanFileError([Issue(str(folder), None, None, msg)])
    if not path.exists():
        raise PlanFileError(
            [
                Issue(
                    "dispatch.csv",
                    None,
                    None,
                    f"file is missing in {folder}: expected the plan's shipments (source, region, product, quantity)",
                )
            ]
        )
    frame, rows, problems = read_csv_rows(path.read_bytes(), "dispatch.csv")
    issues += problems
    if frame is not None:
        for col in ("source", "region", "product", "quantity"):
            if col not in frame.columns:
                issues.append(
                    Issue(
                        "dispatch.csv", 1, col, "required column is missing: expected source, region, product, quantity"
                    )
                )
    if issues:
        raise PlanFileError(issues)
    assert frame is not None
    dispatch = frame.map(unneutralise)
    dispatch["_row"] = rows
    fill = None
    fpath = folder / "fill.csv"
    if fpath.exists():
        fframe, frows, fproblems = read_csv_rows(fpath.read_bytes(), "fill.csv")
        if fproblems:
            raise PlanFileError(fproblems)
        if fframe is not None and {"region", "family", "use", "delivered"} <= set(fframe.columns):
            fill = fframe.map(unneutralise)
            fill["_row"] = frows
    return dispatch, fill


def read_previous(folder: str | Path, instance=None) -> Previous:
    """A previous plan (``allocator solve --previous PLAN_DIR``): its (source, region) pairs and
    what each carried, from the folder's ``dispatch.csv``; bad files raise ``PlanFileError``."""
    dispatch, _ = read_plan(folder)
    return previous_from_dispatch(dispatch, folder, instance)
