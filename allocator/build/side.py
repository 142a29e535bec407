"""Build: the daily model with the side constraints of a real dispatch office.

The daily ``FlowModel`` is a network (every column has two +-1 entries). The tables and
columns below add rows that are not network rows, so the model becomes a general LP, or a
mixed-integer program (MIP) when a choice is yes/no:

- ``capacity.csv``: transport capacity shared by every product on the routes a row
  matches (a source, a region, a corridor of ``routes.csv``, or a combination), in units,
  pallets (``products.per_pallet``), trucks (``products.per_truck``: a mixed load fills
  each truck pro rata), volume (``products.unit_volume``) or mass (``products.unit_mass``):
  ``sum_a size_p(a) x_a <= capacity``. A multi-commodity row: LP.
- ``commitments.csv``: a contract, ``sum_a x_a >= minimum`` over the source's arcs to the
  region (of one product, or of all its products); a designated pairing (the source may
  ship the product only to its designated regions) closes every other arc of the source
  for that product (column bound 0). Hard: when they cannot all hold,
  ``conflicts.find_conflicts`` names the smallest set of rows that conflict.
- ``products.min_lot``: a route carries 0 or at least ``min_lot`` units of the product:
  ``x_a <= U_a z_a`` and ``x_a >= L z_a`` with ``z_a`` binary. MIP.
- ``sources.max_destinations``: the source ships to at most that many regions:
  ``x_a <= U_a y_sr`` for each arc from ``s`` to ``r`` and ``sum_r y_sr <= K_s``, ``y``
  binary. MIP.

``U_a`` is the most the arc can carry: the least of its route capacity and its source's
supply of the product.

The columns of the ``FlowModel`` come first, in their order (so that ``x[:flow.n_cols]`` is
a plan of the daily model and everything downstream reads it as one), then the binaries;
the rows of the ``FlowModel`` come first, then the side rows. ``SideModel`` has the interface
the lexicographic solver reads (``lexicographic.solve_lexicographic``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.build.daily import FlowModel
from allocator.inputs.instance import Instance
from allocator.numbers import figure_text

__all__ = ["SideModel", "build_side", "has_side_constraints", "side_features"]

_n = figure_text  # numbers in messages: allocator.numbers' rule for figures

_SIZE_COLUMN = {"pallets": "per_pallet", "trucks": "per_truck", "volume": "unit_volume", "mass": "unit_mass"}


def side_features(instance: Instance) -> list[str]:
    """Which side constraints the instance has, in words (empty: the plain network model)."""
    found = []
    if instance.capacity is not None and len(instance.capacity):
        found.append("shared capacity (capacity.csv)")
    if instance.commitments is not None and len(instance.commitments):
        found.append("commitments (commitments.csv)")
    if (instance.products["min_lot"] > 0).any():
        found.append("minimum lot sizes (products.csv min_lot)")
    if instance.sources["max_destinations"].notna().any():
        found.append("destination limits (sources.csv max_destinations)")
    return found


def has_side_constraints(instance: Instance) -> bool:
    return bool(side_features(instance))


@dataclass
class SideModel:
    """The daily model plus side rows and binary columns, as CSC arrays.

    ``rows``: one line per side row: ``kind`` (capacity, commitment, lot_max, lot_min,
    link, destinations), ``file`` and ``line`` (the spreadsheet row of the input row that
    made it), ``what`` (in words) and ``lp_row`` (its place in the model).
    ``binaries``: one line per binary column: ``kind`` (lot or destination), ``source``,
    ``region``, ``product`` (empty for a destination), ``col``, ``limit`` (the lot's
    ``min_lot``; the source's ``max_destinations``).
    ``closed``: ship arcs a designated pairing closes (positions in ``flow.ship``), with the
    commitments.csv lines that close them. ``big_m``: where ``U_a`` stands in the matrix (so
    that a caller changing a source's supply can change it too).
    """

    flow: FlowModel
    rows: pd.DataFrame
    binaries: pd.DataFrame
    closed: pd.DataFrame
    big_m: pd.DataFrame  # lp_row, col (the binary), arc: each x_a <= U_a z entry, U_a = ``most``
    most: np.ndarray  # per ship arc: the least of its capacity and its source's supply
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    features: list[str] = field(default_factory=list)

    # The interface of lexicographic.solve_lexicographic.
    @property
    def n_cols(self) -> int:
        return len(self.col_lower)

    @property
    def demand(self) -> pd.DataFrame:
        return self.flow.demand

    @property
    def short_cols(self) -> np.ndarray:
        return self.flow.short_cols

    @property
    def inequality_rows(self) -> np.ndarray:
        return np.concatenate([self.flow.inequality_rows, self.rows["lp_row"].to_numpy(np.int64)])

    @property
    def is_mip(self) -> bool:
        return len(self.binaries) > 0

    def cost_vector(self, stage: str) -> np.ndarray:
        c = np.zeros(self.n_cols)
        c[: self.flow.n_cols] = self.flow.cost_vector(stage)
        return c

    def countable_cols(self) -> np.ndarray:
        return np.concatenate([self.flow.countable_cols(), np.ones(len(self.binaries), dtype=bool)])

    def reachable(self, upper: np.ndarray) -> np.ndarray:
        return self.flow.reachable(upper[: self.flow.n_cols])


class _Rows:
    """Side rows collected table by table, as coordinate entries on the model's columns."""

    def __init__(self, first_row: int) -> None:
        self.first = first_row
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.labels: list[pd.DataFrame] = []
        self.n = 0

    def add(
        self,
        kind: str,
        file: str,
        line: np.ndarray,
        what: list[str],
        lo: np.ndarray,
        hi: np.ndarray,
        row_of_entry: np.ndarray,
        col: np.ndarray,
        val: np.ndarray,
    ) -> None:
        """Rows ``lo <= sum val x[col] <= hi``; ``row_of_entry`` numbers them from 0 for this call."""
        k = len(lo)
        if k == 0:
            return
        self.lo.append(np.asarray(lo, float))
        self.hi.append(np.asarray(hi, float))
        self.rows.append(self.first + self.n + np.asarray(row_of_entry, np.int64))
        self.cols.append(np.asarray(col, np.int64))
        self.vals.append(np.asarray(val, float))
        self.labels.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "file": file,
                    "line": np.asarray(line, np.int64),
                    "what": what,
                    "lp_row": self.first + self.n + np.arange(k),
                }
            )
        )
        self.n += k


def build_side(instance: Instance, flow: FlowModel) -> SideModel:
    """The side rows and binaries of ``instance`` on top of its daily model ``flow``."""
    ship = flow.ship
    n_ship = len(ship)
    n_rows_flow = len(flow.row_lower)
    rows = _Rows(n_rows_flow)
    upper = flow.col_upper.copy()
    products = instance.products.set_index("product")
    arc_product = ship["product"].to_numpy(object)
    arc_source = ship["source"].to_numpy(object)
    arc_region = ship["region"].to_numpy(object)
    route = ship["route"].to_numpy(np.int64)
    if instance.routes is not None:
        corridor = np.where(route >= 0, instance.routes["corridor"].to_numpy(object)[np.maximum(route, 0)], "")
    else:
        corridor = np.full(n_ship, "", dtype=object)

    # Shared capacity.
    cap = instance.capacity
    if cap is not None and len(cap):
        entries_row, entries_col, entries_val, what = [], [], [], []
        for k, rec in enumerate(cap.itertuples(index=False)):
            match = np.ones(n_ship, dtype=bool)
            for value, column in ((rec.source, arc_source), (rec.region, arc_region), (rec.corridor, corridor)):
                if value != "":
                    match &= column == value
            arcs = np.flatnonzero(match)
            if rec.measure == "units":
                size = np.ones(len(arcs))
            else:
                per = products[_SIZE_COLUMN[rec.measure]].reindex(arc_product[arcs]).to_numpy(float)
                size = 1.0 / per if rec.measure in ("pallets", "trucks") else per
            entries_row.append(np.full(len(arcs), k))
            entries_col.append(arcs)
            entries_val.append(size)
            scope = ", ".join(
                f"{name} {value}"
                for name, value in (("from", rec.source), ("to", rec.region), ("corridor", rec.corridor))
                if value
            )
            what.append(f"{_n(rec.capacity)} {rec.measure} {scope}")
        rows.add(
            "capacity",
            "capacity.csv",
            cap["_row"].to_numpy(),
            what,
            np.full(len(cap), -np.inf),
            cap["capacity"].to_numpy(float),
            np.concatenate(entries_row),
            np.concatenate(entries_col),
            np.concatenate(entries_val),
        )

    # Commitments: contracts (a minimum) and designated pairings (closed arcs).
    closed = pd.DataFrame({"arc": pd.Series(dtype=np.int64), "lines": pd.Series(dtype=object)})
    com = instance.commitments
    if com is not None and len(com):
        closed = _designated(com, arc_source, arc_region, arc_product)
        upper[closed["arc"].to_numpy(np.int64)] = 0.0
        minimum = com.loc[com["minimum"] > 0]
        entries_row, entries_col, what = [], [], []
        for k, rec in enumerate(minimum.itertuples(index=False)):
            match = (arc_source == rec.source) & (arc_region == rec.region)
            if rec.product != "":
                match &= arc_product == rec.product
            arcs = np.flatnonzero(match)
            entries_row.append(np.full(len(arcs), k))
            entries_col.append(arcs)
            what.append(
                f"{rec.kind}: at least {_n(rec.minimum)} {rec.product or 'units'} from {rec.source} "
                f"to {rec.region}"
                + (
                    ""
                    if len(arcs)
                    else " (nothing can carry it: no route, no supply of "
                    "it at the source, or no demand it may serve at the region)"
                )
            )
        if len(minimum):
            cols = np.concatenate(entries_col)
            rows.add(
                "commitment",
                "commitments.csv",
                minimum["_row"].to_numpy(),
                what,
                minimum["minimum"].to_numpy(float),
                np.full(len(minimum), np.inf),
                np.concatenate(entries_row),
                cols,
                np.ones(len(cols)),
            )

    # Binaries: minimum lots per arc, destinations per (source, region).
    most = _arc_most(flow, upper)
    n_flow = flow.n_cols
    binaries, big_m = [], []
    lot = products["min_lot"].reindex(arc_product).to_numpy(float)
    lot_arcs = np.flatnonzero((lot > 0) & (upper[:n_ship] > 0))
    if len(lot_arcs):
        z = n_flow + np.arange(len(lot_arcs))
        binaries.append(
            pd.DataFrame(
                {
                    "kind": "lot",
                    "source": arc_source[lot_arcs],
                    "region": arc_region[lot_arcs],
                    "product": arc_product[lot_arcs],
                    "col": z,
                    "limit": lot[lot_arcs],
                }
            )
        )
        k = len(lot_arcs)
        line = products["_row"].reindex(arc_product[lot_arcs]).to_numpy(np.int64)
        what = [
            f"{s} -> {r}: {p} in lots of at least {_n(v)}"
            for s, r, p, v in zip(arc_source[lot_arcs], arc_region[lot_arcs], arc_product[lot_arcs], lot[lot_arcs])
        ]
        pair = np.repeat(np.arange(k), 2)
        # x_a - U_a z_a <= 0 and x_a - L z_a >= 0.
        big_m.append(pd.DataFrame({"lp_row": rows.first + rows.n + np.arange(k), "col": z, "arc": lot_arcs}))
        rows.add(
            "lot_max",
            "products.csv",
            line,
            what,
            np.full(k, -np.inf),
            np.zeros(k),
            pair,
            np.column_stack([lot_arcs, z]).ravel(),
            np.column_stack([np.ones(k), -most[lot_arcs]]).ravel(),
        )
        rows.add(
            "lot_min",
            "products.csv",
            line,
            what,
            np.zeros(k),
            np.full(k, np.inf),
            pair,
            np.column_stack([lot_arcs, z]).ravel(),
            np.column_stack([np.ones(k), -lot[lot_arcs]]).ravel(),
        )
    limit = instance.sources.set_index("source")["max_destinations"]
    limited = limit.dropna()
    if len(limited):
        arcs = np.flatnonzero(np.isin(arc_source, limited.index.to_numpy(object)) & (upper[:n_ship] > 0))
        pair_frame = pd.DataFrame({"source": arc_source[arcs], "region": arc_region[arcs]})
        codes, pairs = (
            pd.MultiIndex.from_frame(pair_frame).factorize(sort=True)
            if len(arcs)
            else (np.zeros(0, np.int64), pd.MultiIndex.from_arrays([[], []], names=["source", "region"]))
        )
        pair_source = np.asarray(pairs.get_level_values(0), dtype=object)
        counts = pd.Series(pair_source).value_counts()
        binding = [s for s in limited.index if counts.get(s, 0) > limited[s]]
        keep_pair = np.isin(pair_source, np.asarray(binding, dtype=object))
        if keep_pair.any():
            first = n_flow + sum(len(b) for b in binaries)
            new_code = np.cumsum(keep_pair) - 1
            y = first + np.arange(int(keep_pair.sum()))
            binaries.append(
                pd.DataFrame(
                    {
                        "kind": "destination",
                        "source": pair_source[keep_pair],
                        "region": np.asarray(pairs.get_level_values(1), dtype=object)[keep_pair],
                        "product": "",
                        "col": y,
                        "limit": limited.reindex(pair_source[keep_pair]).to_numpy(float),
                    }
                )
            )
            use = keep_pair[codes]
            a, c = arcs[use], new_code[codes[use]]
            k = len(a)
            line = instance.sources.set_index("source")["_row"].reindex(arc_source[a]).to_numpy(np.int64)
            what = [
                f"{s} -> {r}: {p} only if {s} ships to {r}"
                for s, r, p in zip(arc_source[a], arc_region[a], arc_product[a])
            ]
            big_m.append(pd.DataFrame({"lp_row": rows.first + rows.n + np.arange(k), "col": y[c], "arc": a}))
            rows.add(
                "link",
                "sources.csv",
                line,
                what,
                np.full(k, -np.inf),
                np.zeros(k),
                np.repeat(np.arange(k), 2),
                np.column_stack([a, y[c]]).ravel(),
                np.column_stack([np.ones(k), -most[a]]).ravel(),
            )
            srcs = np.asarray(sorted(binding), dtype=object)
            member = np.searchsorted(srcs, pair_source[keep_pair])
            line = instance.sources.set_index("source")["_row"].reindex(srcs).to_numpy(np.int64)
            what = [f"{s} ships to at most {int(limited[s])} regions" for s in srcs]
            rows.add(
                "destinations",
                "sources.csv",
                line,
                what,
                np.full(len(srcs), -np.inf),
                limited.reindex(srcs).to_numpy(float),
                member,
                y,
                np.ones(len(y)),
            )

    binaries_frame = (
        pd.concat(binaries, ignore_index=True)
        if binaries
        else pd.DataFrame(
            {
                "kind": pd.Series(dtype=object),
                "source": pd.Series(dtype=object),
                "region": pd.Series(dtype=object),
                "product": pd.Series(dtype=object),
                "col": pd.Series(dtype=np.int64),
                "limit": pd.Series(dtype=float),
            }
        )
    )
    n_bin = len(binaries_frame)
    labels = (
        pd.concat(rows.labels, ignore_index=True)
        if rows.labels
        else pd.DataFrame(
            {
                "kind": pd.Series(dtype=object),
                "file": pd.Series(dtype=object),
                "line": pd.Series(dtype=np.int64),
                "what": pd.Series(dtype=object),
                "lp_row": pd.Series(dtype=np.int64),
            }
        )
    )

    # CSC: the flow model's entries, then the side entries, column by column.
    nnz = np.diff(flow.start).astype(np.int64)
    col = np.concatenate([np.repeat(np.arange(n_flow), nnz)] + rows.cols)
    row = np.concatenate([flow.index.astype(np.int64)] + rows.rows)
    val = np.concatenate([flow.value.astype(float)] + rows.vals)
    order = np.lexsort((row, col))
    col, row, val = col[order], row[order], val[order]
    keep = val != 0
    col, row, val = col[keep], row[keep], val[keep]
    n_cols = n_flow + n_bin
    start = np.concatenate([[0], np.cumsum(np.bincount(col, minlength=n_cols))])
    big_m_frame = (
        pd.concat(big_m, ignore_index=True)
        if big_m
        else pd.DataFrame(
            {"lp_row": pd.Series(dtype=np.int64), "col": pd.Series(dtype=np.int64), "arc": pd.Series(dtype=np.int64)}
        )
    )
    return SideModel(
        flow=flow,
        rows=labels,
        binaries=binaries_frame,
        closed=closed,
        big_m=big_m_frame,
        most=most,
        col_lower=np.concatenate([flow.col_lower, np.zeros(n_bin)]),
        col_upper=np.concatenate([upper, np.ones(n_bin)]),
        row_lower=np.concatenate([flow.row_lower] + rows.lo),
        row_upper=np.concatenate([flow.row_upper] + rows.hi),
        start=start.astype(np.int64),
        index=row,
        value=val,
        features=side_features(instance),
    )


def _designated(
    com: pd.DataFrame, arc_source: np.ndarray, arc_region: np.ndarray, arc_product: np.ndarray
) -> pd.DataFrame:
    """Ship arcs a designated pairing closes: a source designated for a product (or for
    all its products, with ``product`` empty) ships it to its designated regions only."""
    des = com.loc[com["kind"] == "designated"]
    if not len(des):
        return pd.DataFrame({"arc": pd.Series(dtype=np.int64), "lines": pd.Series(dtype=object)})
    allowed = set(zip(des["source"], des["region"], des["product"]))
    lines: dict[tuple[str, str], list[int]] = {}
    for s, p, line in zip(des["source"], des["product"], des["_row"]):
        lines.setdefault((s, p), []).append(int(line))
    arcs, why = [], []
    bound = set(des["source"])
    for a in np.flatnonzero(np.isin(arc_source, np.asarray(sorted(bound), dtype=object))):
        s, r, p = arc_source[a], arc_region[a], arc_product[a]
        scopes = [key for key in ((s, p), (s, "")) if key in lines]
        if scopes and (s, r, p) not in allowed and (s, r, "") not in allowed:
            arcs.append(a)
            why.append(tuple(sorted(x for key in scopes for x in lines[key])))
    return pd.DataFrame({"arc": np.asarray(arcs, dtype=np.int64), "lines": pd.Series(why, dtype=object)})


def _arc_most(flow: FlowModel, upper: np.ndarray) -> np.ndarray:
    """Per ship arc, the most it can carry: its bound and its source's supply of the product."""
    n_ship = flow.n_ship
    supply_row = flow.index[0 : 2 * n_ship : 2].astype(np.int64)  # each ship column's first entry: its supply row
    return np.minimum(upper[:n_ship], flow.row_upper[supply_row])
