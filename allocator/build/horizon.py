"""Build: several days as one LP, a time-expanded network with stock, lead and transit times.

Per day ``t`` of the window and per product, the nodes of the daily network
(``model.py``) get a copy, linked across days by stock:

    source (s, p, t) --ship, arrives t + transit--> hub (r, p, t') --serve--> demand (r, f, u, t')
    source (s, p, t) --stock--> source (s, p, t + 1)         hub (r, p, t) --stock--> hub (r, p, t + 1)
    hub (r, p, t) --transfer, arrives t + transit--> hub (r', p, t')

Rows, per day:
- source balance: stock in + output ready today (made ``lead_days`` ago) + arrivals
  = shipped + stock out. Unshipped output carries over.
- hub balance: stock in - attrition + deliveries arriving today + transfers in
  = transfers out + stock out (+ units used, for consumables).
- durable use: units in service on the day <= units on hand (they stay on hand).
- demand: served + short = the day's demand (+ yesterday's short, with ``unmet = backlog``).
- attrition: units lost overnight >= ``attrition`` x units on hand (equal, for non-countable
  products; for countable ones the least whole number above it).
- floor: stock kept + floor shortfall >= the floor (soft).

Which arcs exist: a (region, product) is worth reaching when the region's demand may use the
product, its floor counts it (every product of the family), or a transfer chain leads from it to
such a region; ships go from sources holding the product to those, transfers from every
(region, product) that ships, stock or earlier transfers reach (``_network``).

The objective's columns are the ``short`` columns (demand's weight x the time preference
of the day) and the floor shortfalls; the cost stage prices ships and transfers. The
model has the interface of ``model.FlowModel`` that ``lexicographic`` needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from allocator.build.daily import routes_between
from allocator.errors import InstanceError, Issue, UsageError
from allocator.inputs.instance import Instance
from allocator.inputs.reach import eligible_pairs, substitute_rows

__all__ = ["Calendar", "HorizonModel", "State", "build_horizon", "initial_state"]


class Calendar:
    """Days as integers (proleptic ordinals for dated instances, 0, 1, ... otherwise) and labels."""

    def __init__(self, instance: Instance):
        days = instance.days
        self.dated = bool(days)
        if self.dated:
            self.first = date.fromisoformat(days[0]).toordinal()
            self.last = date.fromisoformat(days[-1]).toordinal()
        else:
            self.first = self.last = 0

    def ordinal(self, label: str) -> int:
        if not self.dated:
            if label.startswith("day "):
                return int(label[4:]) - 1
            msg = f"day {label!r}: this instance has no dated days (expected 'day N')"
            raise UsageError(msg)
        try:
            return date.fromisoformat(label).toordinal()
        except ValueError:
            msg = f"day {label!r}: expected a date as YYYY-MM-DD"
            raise UsageError(msg) from None

    def label(self, day: int) -> str:
        return date.fromordinal(day).isoformat() if self.dated else f"day {day + 1}"

    @property
    def n_days(self) -> int:
        return self.last - self.first + 1


@dataclass
class State:
    """What one day hands on to the next: stock, backlog and units on their way.

    Every table has a ``quantity`` column; ``arriving`` has ``holder`` (``source`` or
    ``region``), ``id``, ``product`` and ``day`` (ordinal of arrival).
    """

    source_stock: pd.DataFrame  # source, product, quantity
    region_stock: pd.DataFrame  # region, product, quantity
    backlog: pd.DataFrame  # region, family, use, quantity
    arriving: pd.DataFrame  # holder, id, product, day, quantity
    # The region stock is last night's closing stock (a replay's carried state): attrition
    # applies to it overnight, before the first day. Opening stock from stock.csv is on hand.
    overnight: bool = False

    def total(self) -> float:
        return float(
            self.source_stock["quantity"].sum() + self.region_stock["quantity"].sum() + self.arriving["quantity"].sum()
        )


def initial_state(instance: Instance, calendar: Calendar, start: int) -> State:
    """The state before ``start`` from ``stock.csv``: undated rows (and rows dated before
    ``start``) on hand, later rows arriving; no backlog."""
    empty_stock = pd.DataFrame({"product": pd.Series(dtype=object), "quantity": pd.Series(dtype=float)})
    src = empty_stock.assign(source=pd.Series(dtype=object))[["source", "product", "quantity"]]
    reg = empty_stock.assign(region=pd.Series(dtype=object))[["region", "product", "quantity"]]
    arriving = pd.DataFrame(
        {
            "holder": pd.Series(dtype=object),
            "id": pd.Series(dtype=object),
            "product": pd.Series(dtype=object),
            "day": pd.Series(dtype=np.int64),
            "quantity": pd.Series(dtype=float),
        }
    )
    stock = instance.stock
    if stock is not None and len(stock):
        stock = stock.loc[stock["quantity"] > 0]
        day = np.array([calendar.ordinal(d) if d else start for d in stock["day"]], dtype=np.int64)
        now = day <= start
        at_source = (stock["source"] != "").to_numpy()
        src = stock.loc[now & at_source].groupby(["source", "product"], as_index=False)["quantity"].sum()
        reg = stock.loc[now & ~at_source].groupby(["region", "product"], as_index=False)["quantity"].sum()
        later = stock.loc[~now]
        arriving = pd.DataFrame(
            {
                "holder": np.where(later["source"] != "", "source", "region"),
                "id": np.where(later["source"] != "", later["source"], later["region"]),
                "product": later["product"].to_numpy(),
                "day": day[~now],
                "quantity": later["quantity"].to_numpy(float),
            }
        )
    backlog = pd.DataFrame(
        {
            "region": pd.Series(dtype=object),
            "family": pd.Series(dtype=object),
            "use": pd.Series(dtype=object),
            "quantity": pd.Series(dtype=float),
        }
    )
    return State(
        source_stock=src.reset_index(drop=True),
        region_stock=reg.reset_index(drop=True),
        backlog=backlog,
        arriving=arriving.reset_index(drop=True),
    )


@dataclass
class HorizonModel:
    """The multi-day LP as CSC arrays, with a labelled table per column kind.

    Each table's ``col`` holds its columns' positions; ``t`` is the day's place in the
    window (0 = the first day) and ``day`` its label.
    """

    days: list[str]
    first_day: int  # ordinal of the window's first day
    ship: pd.DataFrame  # t, source, region, product, arrive_t, cost, col
    transfer: pd.DataFrame  # t, from_region, to_region, product, arrive_t, cost, col
    source_stock: pd.DataFrame  # t, source, product, col (end of day)
    hub_stock: pd.DataFrame  # t, region, product, durable, col (end of day)
    loss: pd.DataFrame  # t, region, product, col
    serve: pd.DataFrame  # t, region, product, demand_idx, col
    floor: pd.DataFrame  # t, holder, id, family, product (a source's floor; "" for a region's), floor, col
    # t, day, region, family, use, new (today's demand), backlog_in (opening backlog, first day), quantity (the
    # short column's bound: cumulative demand when carried), weight (with the time preference), base_weight,
    # countable, durable, carries (unmet demand is carried to the next day), col (the short column)
    demand: pd.DataFrame
    ready: pd.DataFrame  # t, source, product, quantity: output becoming available
    opening: State
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray = field(repr=False, default=None)
    index: np.ndarray = field(repr=False, default=None)
    value: np.ndarray = field(repr=False, default=None)
    countable: np.ndarray = field(repr=False, default=None)
    short_weight: np.ndarray = field(repr=False, default=None)
    route_cost: np.ndarray = field(repr=False, default=None)
    inequality_rows: np.ndarray = field(repr=False, default=None)
    product_family: dict = field(repr=False, default_factory=dict)  # product -> family

    @property
    def n_cols(self) -> int:
        return len(self.col_lower)

    @property
    def short_cols(self) -> np.ndarray:
        return self.demand["col"].to_numpy(np.int64)

    def cost_vector(self, stage: str) -> np.ndarray:
        if stage == "shortfall":
            return self.short_weight
        if stage in ("cost", "plan"):
            return self.route_cost
        raise ValueError(stage)

    def countable_cols(self) -> np.ndarray:
        return self.countable

    def move_cols(self) -> np.ndarray:
        """The columns that move units (shipments and transfers): a plan's decisions, the rest
        (stock, losses, deliveries, shortfalls) follows from them."""
        return np.concatenate([self.ship["col"].to_numpy(np.int64), self.transfer["col"].to_numpy(np.int64)]).astype(
            np.int64
        )

    def reachable(self, upper: np.ndarray) -> np.ndarray:
        # Every row is left to the filling passes (an unreachable row is frozen at 0 there).
        return np.ones(len(self.demand), dtype=bool)


class _Matrix:
    """Columns and rows collected one at a time, then laid out as CSC."""

    def __init__(self) -> None:
        self.rows: dict[tuple, int] = {}
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.entries: list[list[tuple[int, float]]] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.countable: list[bool] = []
        self.weight: list[float] = []
        self.cost: list[float] = []

    def row(self, key: tuple, lo: float = 0.0, hi: float = 0.0) -> int:
        at = self.rows.get(key)
        if at is None:
            at = self.rows[key] = len(self.row_lo)
            self.row_lo.append(lo)
            self.row_hi.append(hi)
        return at

    def add_to_row(self, key: tuple, amount: float) -> None:
        """Add ``amount`` to both bounds of an equation row (its right-hand side)."""
        at = self.row(key)
        self.row_lo[at] += amount
        self.row_hi[at] += amount

    def col(
        self,
        entries: list[tuple[int, float]],
        lo: float,
        hi: float,
        countable: bool,
        weight: float = 0.0,
        cost: float = 0.0,
    ) -> int:
        self.entries.append(entries)
        self.lo.append(lo)
        self.hi.append(hi)
        self.countable.append(countable)
        self.weight.append(weight)
        self.cost.append(cost)
        return len(self.lo) - 1

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = np.array([len(e) for e in self.entries], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        index = np.array([r for e in self.entries for r, _ in e], dtype=np.int32)
        value = np.array([v for e in self.entries for _, v in e], dtype=float)
        return start, index, value


def build_horizon(
    instance: Instance,
    start: int,
    horizon: int,
    state: State | None = None,
    *,
    made_from: int | None = None,
    forecast: str = "perfect",
    calendar: Calendar | None = None,
) -> HorizonModel:
    """The LP of the ``horizon`` days from day ``start`` (an ordinal of ``Calendar``).

    ``state`` is what is on hand and on its way before ``start`` (default: ``stock.csv``).
    Output counts from the day it is made, from ``made_from`` on (default ``start``): a
    replay passes its first day, so that output made earlier and still in sterilisation
    arrives in the window. ``forecast="persistence"`` plans the days after the first with
    the first day's demand (what a planner knew that morning); ``"perfect"`` with the
    instance's own.
    """
    if horizon < 1:
        raise UsageError("horizon must be at least 1 day")
    if forecast not in ("perfect", "persistence"):
        raise UsageError("forecast must be 'perfect' or 'persistence'")
    if len(substitute_rows(instance)):
        # Floors, durable units in service and transfers count a family's own products only.
        raise InstanceError(
            [
                Issue(
                    "substitutes.csv",
                    None,
                    None,
                    "multi-day plans (allocator plan, replay) do not "
                    "use substitutes yet: plan each day with allocator solve, or leave "
                    "substitutes.csv out",
                )
            ]
        )
    cal = calendar or Calendar(instance)
    policy = instance.policy
    state = state if state is not None else initial_state(instance, cal, start)
    made_from = start if made_from is None else made_from
    end = start + horizon - 1  # last day, inclusive
    days = [cal.label(start + t) for t in range(horizon)]
    products = instance.products.set_index("product")
    p_countable = products["countable"].to_dict()
    p_durable = products["durable"].to_dict()
    p_attrition = products["attrition"].to_dict()
    p_family = products["family"].to_dict()
    fam_countable = instance.family_countable()
    fam_durable = products.groupby("family")["durable"].all().to_dict()
    backlog_policy = policy.unmet == "backlog"

    def pref(t: int) -> float:
        return 1.0 + policy.time_preference * (horizon - 1 - t)

    # --- output becoming ready at the sources -------------------------------------------
    sup = instance.supply.loc[instance.supply["quantity"] > 0]
    src_lead = instance.sources.set_index("source")["lead_days"]
    lead = sup["lead_days"].to_numpy(float)
    default_lead = sup["product"].map(products["lead_days"]).to_numpy(float) + sup["source"].map(src_lead).to_numpy(
        float
    )
    lead = np.where(np.isnan(lead), default_lead, lead).astype(np.int64)
    ready: dict[tuple[str, str, int], float] = {}
    for s, p, q, d, lag in zip(sup["source"], sup["product"], sup["quantity"].to_numpy(float), sup["day"], lead):
        made_days = range(made_from, end + 1) if d == "" else [cal.ordinal(d)]
        for m in made_days:
            if m < made_from or not (start <= m + lag <= end):
                continue
            key = (s, p, int(m + lag - start))
            ready[key] = ready.get(key, 0.0) + q

    # --- demand per day -------------------------------------------------------------------
    dem = instance.demand.copy()
    dem["w"] = instance.demand_weights()
    keys = dem[["region", "family", "use"]].drop_duplicates().sort_values(["region", "family", "use"])
    key_list = list(map(tuple, keys.to_numpy(dtype=object).tolist()))
    key_weight = dem.groupby(["region", "family", "use"])["w"].first().to_dict()
    by_day: dict[tuple, dict[str, tuple[float, float]]] = {}
    for r, f, u, d, q, w in zip(
        dem["region"], dem["family"], dem["use"], dem["day"], dem["quantity"].to_numpy(float), dem["w"].to_numpy(float)
    ):
        by_day.setdefault((r, f, u), {})[d] = (q, w)
    backlog0 = {
        tuple(k): q
        for *k, q in state.backlog[["region", "family", "use", "quantity"]].itertuples(index=False, name=None)
    }

    def demand_of(key: tuple, t: int) -> tuple[float, float]:
        """(quantity, weight) of a demand key on day t: its undated row, or its row of that day
        (of the first day, for later days under a persistence forecast)."""
        rows = by_day.get(key, {})
        seen = days[0 if (forecast == "persistence" and t > 0) else t]
        return rows.get("", rows.get(seen, (0.0, key_weight[key])))

    # --- arcs, hubs ------------------------------------------------------------------------
    src_nodes = {(s, p) for s, p, _ in ready}
    src_nodes |= set(
        map(
            tuple,
            state.source_stock.loc[state.source_stock["quantity"] > 0, ["source", "product"]]
            .to_numpy(dtype=object)
            .tolist(),
        )
    )
    arr = state.arriving
    src_nodes |= {(i, p) for h, i, p in zip(arr["holder"], arr["id"], arr["product"]) if h == "source"}
    floors_src: dict[tuple[str, str], float] = {}
    floors_reg: dict[tuple[str, str], float] = {}
    if instance.stock is not None:
        fl = instance.stock.loc[instance.stock["floor"] > 0]
        for s, r, p, v in zip(fl["source"], fl["region"], fl["product"], fl["floor"].to_numpy(float)):
            if s:
                floors_src[(s, p)] = max(floors_src.get((s, p), 0.0), v)
                src_nodes.add((s, p))
            else:
                floors_reg[(r, p)] = max(floors_reg.get((r, p), 0.0), v)
    region_floor = _region_floors(instance, cal, floors_reg)
    pairs = eligible_pairs(replace(instance, demand=keys.assign(quantity=1.0).reset_index(drop=True)))
    # A region wants a product its demand may use or its floor counts (every product of the family).
    wanted = {(keys["region"].iloc[d], p) for d, p in zip(pairs["demand_idx"], pairs["product"])}
    family_products = products.reset_index().groupby("family")["product"].apply(sorted).to_dict()
    wanted |= {(r, p) for r, f in region_floor for p in family_products.get(f, [])}
    rs = state.region_stock.loc[state.region_stock["quantity"] > 0]
    held = set(zip(rs["region"], rs["product"]))
    held |= {(i, p) for h, i, p in zip(arr["holder"], arr["id"], arr["product"]) if h == "region"}
    arcs, transfers, hubs = _network(instance, src_nodes, wanted, held)
    hub_list = sorted(hubs)
    src_list = sorted(src_nodes)

    m = _Matrix()
    ship_rec, xfer_rec, sst_rec, hst_rec, loss_rec, serve_rec, floor_rec, dem_rec = ([] for _ in range(8))

    def src_row(s, p, t):
        return m.row(("src", s, p, t))

    def hub_row(r, p, t):
        return m.row(("hub", r, p, t))

    # Right-hand sides: what arrives from outside the window's columns.
    for t in range(horizon):
        for s, p in src_list:
            src_row(s, p, t)
        for r, p in hub_list:
            hub_row(r, p, t)
    for (s, p, t), q in ready.items():
        m.add_to_row(("src", s, p, t), -q)
    for s, p, q in state.source_stock[["source", "product", "quantity"]].itertuples(index=False, name=None):
        if q > 0:
            m.add_to_row(("src", s, p, 0), -q)
    for r, p, q in state.region_stock[["region", "product", "quantity"]].itertuples(index=False, name=None):
        if q > 0:
            m.add_to_row(("hub", r, p, 0), -q)
    for h, i, p, d, q in arr[["holder", "id", "product", "day", "quantity"]].itertuples(index=False, name=None):
        t = max(int(d) - start, 0)
        if t <= horizon - 1 and q > 0:
            m.add_to_row(("src" if h == "source" else "hub", i, p, t), -q)

    # Ships (source -> hub) and transfers (hub -> hub): leave on t, arrive t + transit, inside the window.
    def moves(frame: pd.DataFrame, cols: list[str], row_from, records: list) -> None:
        for a_id, b_id, p, cost, cap, lag in frame[cols].itertuples(index=False, name=None):
            countable = bool(p_countable[p])
            cap = float(cap)
            if countable and np.isfinite(cap):
                cap = float(np.floor(cap))
            for t in range(horizon - int(lag)):
                col = m.col(
                    [(row_from(a_id, p, t), -1.0), (hub_row(b_id, p, t + int(lag)), 1.0)],
                    0.0,
                    cap,
                    countable,
                    cost=float(cost),
                )
                records.append((t, a_id, b_id, p, t + int(lag), float(cost), col))

    moves(arcs, ["source", "region", "product", "cost", "capacity", "transit_days"], src_row, ship_rec)
    moves(transfers, ["from_region", "to_region", "product", "cost", "capacity", "transit_days"], hub_row, xfer_rec)
    # Source stock (end of day t, into day t + 1).
    sst_col: dict[tuple, int] = {}
    for t in range(horizon):
        for s, p in src_list:
            entries = [(src_row(s, p, t), -1.0)]
            if t + 1 < horizon:
                entries.append((src_row(s, p, t + 1), 1.0))
            col = m.col(entries, 0.0, np.inf, bool(p_countable[p]))
            sst_col[(s, p, t)] = col
            sst_rec.append((t, s, p, col))
    # Hub stock and attrition.
    hst_col: dict[tuple, int] = {}
    for t in range(horizon):
        for r, p in hub_list:
            entries = [(hub_row(r, p, t), -1.0)]
            if t + 1 < horizon:
                entries.append((hub_row(r, p, t + 1), 1.0))
            col = m.col(entries, 0.0, np.inf, bool(p_countable[p]))
            hst_col[(r, p, t)] = col
            hst_rec.append((t, r, p, bool(p_durable[p]), col))
    if state.overnight:
        for r, p, q in state.region_stock[["region", "product", "quantity"]].itertuples(index=False, name=None):
            a = float(p_attrition[p])
            if a <= 0 or q <= 0:
                continue
            gone = float(np.ceil(a * q - 1e-9)) if p_countable[p] else a * q
            col = m.col([(hub_row(r, p, 0), -1.0)], gone, gone, bool(p_countable[p]))
            loss_rec.append((0, r, p, col))
    for r, p in hub_list:
        a = float(p_attrition[p])
        if a <= 0:
            continue
        countable = bool(p_countable[p])
        for t in range(1, horizon):
            row = m.row(("loss", r, p, t), 0.0, 1.0 - 1e-6 if countable else 0.0)
            m.entries[hst_col[(r, p, t - 1)]].append((row, -a))
            col = m.col([(hub_row(r, p, t), -1.0), (row, 1.0)], 0.0, np.inf, countable)
            loss_rec.append((t, r, p, col))
    # Demand rows, serve arcs and short columns.
    eligible = pairs.merge(keys.reset_index(drop=True).rename_axis("demand_idx").reset_index(), on="demand_idx")
    eligible_by_key = eligible.groupby(["region", "family", "use"])["product"].apply(list).to_dict()
    short_col: dict[tuple, tuple[int, int]] = {}
    hst_done: set[tuple] = set()
    cumulative: dict[tuple, float] = {}
    for t in range(horizon):
        for key in key_list:
            r, f, u = key
            durable = bool(fam_durable[f])
            q, w = demand_of(key, t)
            carried = backlog_policy and not durable
            b_in = backlog0.get(key, 0.0) if (t == 0 and carried) else 0.0
            cap = cumulative.get(key, b_in) + q if carried else q
            if carried:
                cumulative[key] = cap
            if cap <= 0:
                continue
            d_row = m.row(("dem", key, t), q + b_in, q + b_in)
            for p in eligible_by_key.get(key, []):
                if (r, p) not in hubs:
                    continue
                if durable:
                    use_row = m.row(("use", r, p, t), -np.inf, 0.0)
                    if ("use", r, p, t) not in hst_done:
                        m.entries[hst_col[(r, p, t)]].append((use_row, -1.0))
                        hst_done.add(("use", r, p, t))
                    col = m.col([(use_row, 1.0), (d_row, 1.0)], 0.0, np.inf, bool(p_countable[p]))
                else:
                    col = m.col([(hub_row(r, p, t), -1.0), (d_row, 1.0)], 0.0, np.inf, bool(p_countable[p]))
                serve_rec.append((t, r, p, len(dem_rec), col))
            entries = [(d_row, 1.0)]
            col = m.col(entries, 0.0, cap, bool(fam_countable[f]), weight=w * pref(t))
            prev = short_col.get(key)
            if carried and prev is not None and prev[1] == t - 1:
                m.entries[prev[0]].append((d_row, -1.0))
            short_col[key] = (col, t)
            dem_rec.append(
                (t, days[t], r, f, u, q, b_in, cap, w * pref(t), w, bool(fam_countable[f]), durable, carried, col)
            )
    # Floors: regions keep their floor of each family (every product of it counts), holders their stock.csv floor.
    for t in range(horizon):
        for (r, f), v in sorted(region_floor.items()):
            # A region no product of the family can reach still has its floor: short by all of it.
            members = [hst_col[(r, p, t)] for p in family_products.get(f, []) if (r, p) in hubs]
            row = m.row(("floor", "region", r, f, t), v, np.inf)
            for c in members:
                m.entries[c].append((row, 1.0))
            col = m.col([(row, 1.0)], 0.0, v, bool(fam_countable[f]), weight=policy.floor_weight * pref(t))
            floor_rec.append((t, "region", r, f, "", v, col))
        for (s, p), v in sorted(floors_src.items()):
            row = m.row(("floor", "source", s, p, t), v, np.inf)
            m.entries[sst_col[(s, p, t)]].append((row, 1.0))
            col = m.col([(row, 1.0)], 0.0, v, bool(p_countable[p]), weight=policy.floor_weight * pref(t))
            floor_rec.append((t, "source", s, p_family[p], p, v, col))

    start_, index, value = m.csc()
    n = len(m.lo)
    ineq = np.array([i for k, i in m.rows.items() if k[0] in ("use", "loss", "floor")], dtype=np.int64)
    weight = np.asarray(m.weight, dtype=float)
    cost = np.asarray(m.cost, dtype=float)
    frame = pd.DataFrame
    model = HorizonModel(
        days=days,
        first_day=start,
        ship=frame(ship_rec, columns=["t", "source", "region", "product", "arrive_t", "cost", "col"]),
        transfer=frame(xfer_rec, columns=["t", "from_region", "to_region", "product", "arrive_t", "cost", "col"]),
        source_stock=frame(sst_rec, columns=["t", "source", "product", "col"]),
        hub_stock=frame(hst_rec, columns=["t", "region", "product", "durable", "col"]),
        loss=frame(loss_rec, columns=["t", "region", "product", "col"]),
        serve=frame(serve_rec, columns=["t", "region", "product", "demand_idx", "col"]),
        floor=frame(floor_rec, columns=["t", "holder", "id", "family", "product", "floor", "col"]),
        demand=frame(
            dem_rec,
            columns=[
                "t",
                "day",
                "region",
                "family",
                "use",
                "new",
                "backlog_in",
                "quantity",
                "weight",
                "base_weight",
                "countable",
                "durable",
                "carries",
                "col",
            ],
        ),
        ready=frame(
            [(t, s, p, q) for (s, p, t), q in sorted(ready.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))],
            columns=["t", "source", "product", "quantity"],
        ),
        opening=state,
        product_family=dict(p_family),
        col_lower=np.asarray(m.lo, dtype=float),
        col_upper=np.asarray(m.hi, dtype=float),
        row_lower=np.asarray(m.row_lo, dtype=float),
        row_upper=np.asarray(m.row_hi, dtype=float),
        start=start_,
        index=index,
        value=value,
        countable=np.asarray(m.countable, dtype=bool),
        short_weight=weight,
        route_cost=cost,
        inequality_rows=np.sort(ineq),
    )
    assert len(model.col_lower) == n
    return model


def _region_floors(
    instance: Instance,
    cal: Calendar,
    floors_reg: dict[tuple[str, str], float],
) -> dict[tuple[str, str], float]:
    """(region, family) -> the stock to keep at the end of each day: ``floor.days`` of the
    region's mean daily demand of each consumable family (over the instance's days), plus the
    ``floor`` of its ``stock.csv`` rows."""
    policy = instance.policy
    products = instance.products.set_index("product")
    fam_durable = products.groupby("family")["durable"].all().to_dict()
    fam_countable = instance.family_countable()
    out: dict[tuple[str, str], float] = {}
    if policy.floor_days > 0:
        n_days = max(cal.n_days, 1)
        daily = instance.demand.assign(every=instance.demand["day"] == "")
        for (r, f), grp in daily.groupby(["region", "family"]):
            if fam_durable[f]:
                continue
            total = grp.loc[grp["every"], "quantity"].sum() * n_days + grp.loc[~grp["every"], "quantity"].sum()
            value = policy.floor_days * total / n_days
            if fam_countable[f]:
                value = float(np.ceil(value - 1e-9))
            if value > 0:
                out[(r, f)] = value
    for (r, p), v in floors_reg.items():
        f = products.at[p, "family"]
        out[(r, f)] = out.get((r, f), 0.0) + v
    return out


_XFER_COLS = ["from_region", "to_region", "product", "cost", "capacity", "transit_days"]


def _network(
    instance: Instance,
    held_at_sources: set,
    wanted: set,
    held_at_regions: set,
) -> tuple[pd.DataFrame, pd.DataFrame, set]:
    """The ship arcs, the transfer arcs and the hubs (region, product) of the window.

    A (region, product) is worth reaching when the region wants the product (``wanted``: its
    demand may use it or its floor counts it) or may pass it on, by transfers, to a region that
    does: chains a -> b -> c included. Ship arcs go from sources holding the product to those;
    hubs are the (region, product) that ships, stock or arrivals reach, and what transfers reach
    from them. Transfer arcs leave a hub towards a region worth reaching."""
    rows = _transfer_rows(instance)
    senders: dict[tuple[str, str], list[str]] = {}
    for fr, to, p in rows:
        senders.setdefault((to, p), []).append(fr)
    useful = set(wanted)
    todo = sorted(useful)
    while todo:
        to, p = todo.pop()
        for fr in senders.get((to, p), ()):
            if (fr, p) not in useful:
                useful.add((fr, p))
                todo.append((fr, p))
    arcs = routes_between(instance, held_at_sources, useful)
    arcs["transit_days"] = arcs["transit_days"].fillna(0).astype(np.int64)
    receivers: dict[tuple[str, str], list[str]] = {}
    for fr, to, p in rows:
        if (to, p) in useful:
            receivers.setdefault((fr, p), []).append(to)
    hubs = set(zip(arcs["region"], arcs["product"])) | set(held_at_regions)
    todo = sorted(hubs)
    while todo:
        fr, p = todo.pop()
        for to in receivers.get((fr, p), ()):
            if (to, p) not in hubs:
                hubs.add((to, p))
                todo.append((to, p))
    kept = [k + rows[k] for k in sorted(rows) if (k[0], k[2]) in hubs and (k[1], k[2]) in useful]
    return arcs, pd.DataFrame(kept, columns=_XFER_COLS), hubs


def _transfer_rows(instance: Instance) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(from, to, product) -> (cost, capacity, transit days) of ``transfers.csv``: a row
    without a product holds for every product; a row naming the product wins over it."""
    tr = instance.transfers
    out: dict[tuple[str, str, str], tuple[float, float, int]] = {}
    if tr is None or len(tr) == 0:
        return out
    every = sorted(instance.products["product"])
    for fr, to, p, cost, cap, lag in tr[_XFER_COLS].itertuples(index=False, name=None):
        for prod in [p] if p else every:
            key = (fr, to, prod)
            if p or key not in out:
                out[key] = (float(cost), float(cap) if pd.notna(cap) else np.inf, int(lag) if pd.notna(lag) else 0)
    return out
