"""Stability: keep today's plan close to a previous one (``allocator solve --previous PLAN_DIR``).

A dispatch office does not re-pair makers and provinces every morning: trucks, contacts and
paperwork follow the pairs. With a previous plan, the cost stage (stage 3) prices every unit
shipped on a (source, region) pair the previous plan did not use at ``policy.change_cost``
more than its route cost. The shortfall and equity stages come first, so the penalty never
costs a unit of weighted shortfall or of fairness: priorities change pairs when they must.

The penalty is per unit, not per pair: a fixed charge per new pair would make the cost
stage a mixed-integer program, while a per-unit charge keeps it a network flow (whole
units, both engines). Among plans of equal shortfall and fairness it moves volume onto
yesterday's pairs; the report counts how many pairs were kept, added and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.errors import Issue, PlanFileError
from allocator.inputs.instance import Instance

__all__ = ["Previous", "previous_from_dispatch", "apply_previous", "pair_changes"]


@dataclass
class Previous:
    """The (source, region) pairs of a previous plan and what each carried."""

    folder: str
    pairs: pd.DataFrame  # source, region, quantity (summed over products), sorted
    unknown: list[str]  # notes on ids the instance does not have (their pairs are kept for the count)

    def pair_set(self) -> set[tuple[str, str]]:
        return set(zip(self.pairs["source"], self.pairs["region"]))


def previous_from_dispatch(dispatch: pd.DataFrame, folder: str | Path, instance: Instance | None = None) -> Previous:
    """A previous plan's pairs from its ``dispatch.csv`` as read (text cells, ``_row`` line numbers).

    Bad cells raise ``PlanFileError`` naming the file, row and column. Sources or regions the
    instance does not have are noted in ``unknown`` (a maker may have stopped): they cannot
    be served today, so they count as dropped pairs. ``report.reader.read_previous`` reads the folder.
    """
    issues: list[Issue] = []
    qty = pd.to_numeric(dispatch["quantity"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(qty) | (qty < 0)
    for pos in np.flatnonzero(bad):
        issues.append(
            Issue(
                "dispatch.csv",
                int(dispatch["_row"].iloc[pos]),
                "quantity",
                f"is {dispatch['quantity'].iloc[pos]!r}: expected a number of units, 0 or more",
            )
        )
    for col in ("source", "region"):
        blank = dispatch[col].astype(str).str.strip() == ""
        for pos in np.flatnonzero(blank.to_numpy()):
            issues.append(Issue("dispatch.csv", int(dispatch["_row"].iloc[pos]), col, "is empty: expected an id"))
    if issues:
        raise PlanFileError(issues)
    frame = pd.DataFrame(
        {
            "source": dispatch["source"].astype(str).str.strip().to_numpy(object),
            "region": dispatch["region"].astype(str).str.strip().to_numpy(object),
            "quantity": qty,
        }
    )
    frame = frame.loc[frame["quantity"] > 0]
    pairs = frame.groupby(["source", "region"], as_index=False, sort=True)["quantity"].sum().reset_index(drop=True)
    unknown: list[str] = []
    if instance is not None:
        for col, known in (("source", set(instance.sources["source"])), ("region", set(instance.regions["region"]))):
            missing = sorted(set(pairs[col]) - known)
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                unknown.append(f"{col}s in the previous plan that today's instance does not have: {shown}")
    return Previous(folder=str(folder), pairs=pairs, unknown=unknown)


def apply_previous(model: FlowModel, previous: Previous, change_cost: float) -> None:
    """Mark the model's ship arcs on pairs the previous plan did not use with ``change_cost``."""
    known = pd.MultiIndex.from_frame(previous.pairs[["source", "region"]])
    used = pd.MultiIndex.from_frame(model.ship[["source", "region"]]).isin(known)
    model.ship["change_cost"] = np.where(used, 0.0, float(change_cost))


def pair_changes(previous: Previous, dispatch: pd.DataFrame) -> pd.DataFrame:
    """Per (source, region) pair of either plan: units before and now, and ``kept``, ``new`` or ``dropped``."""
    now = dispatch.groupby(["source", "region"], as_index=False, sort=True)["quantity"].sum()
    now = now.loc[now["quantity"] > 0]
    both = previous.pairs.merge(now, on=["source", "region"], how="outer", suffixes=("_before", "_now"))
    both = both.fillna({"quantity_before": 0.0, "quantity_now": 0.0})
    before, after = both["quantity_before"] > 0, both["quantity_now"] > 0
    both["change"] = np.select([before & after, after], ["kept", "new"], "dropped")
    both = both.sort_values(["source", "region"]).reset_index(drop=True)
    return both.rename(columns={"quantity_before": "before", "quantity_now": "now"})[
        ["source", "region", "before", "now", "change"]
    ]
