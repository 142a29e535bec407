"""Verify a multi-day plan: every invariant, from its tables (not from the LP).

``check_days`` checks a solved ``HorizonResult`` (the pipeline's own check, with the model at
hand). ``verify_days`` checks a plan folder as ``allocator plan`` or ``allocator replay`` write
it (shipments.csv, transfers.csv, fill.csv, stock.csv, and summary.json's objective) from its
tables alone, against the instance's input tables: what is on hand, made, routed and due is
recomputed from the instance, never taken from the model; each violation names its file and
row (a spreadsheet's numbering: the header is row 1) and its day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd

from allocator.build.horizon import Calendar
from allocator.inputs.geo import great_circle_km
from allocator.inputs.instance import Instance
from allocator.inputs.reach import eligible_pairs
from allocator.numbers import figure_text
from allocator.verification.daily import Verification

__all__ = ["check_days", "verify_days"]

_n = figure_text  # numbers in messages: allocator.numbers' rule for figures


def check_days(instance: Instance, result, tol: float = 1e-6) -> list[str]:
    """Every invariant of a multi-day plan, from its tables (not from the LP):

    - stock balance per holder, product and day: opening + arrived - sent - used - lost = closing,
      and each day's opening is the day before's closing (nothing appears or vanishes);
    - nothing sent that was not on hand; stock never negative;
    - nothing delivered beyond what is due (demand + backlog); durable units in service
      no more than on hand;
    - output made on day d is not at the source before d + its lead time (it is counted
      as arrived only on that day);
    - ICU-grade products serve only what the policy allows; whole units where countable.
    """
    dp, model = result.plan, result.model
    problems: list[str] = []
    st = dp.stock
    bal = st["opening"] + st["arrived"] - st["sent"] - st["used"] - st["lost"] - st["closing"]
    for pos in np.flatnonzero(np.abs(bal.to_numpy(float)) > tol * np.maximum(1.0, st["opening"].abs() + st["arrived"])):
        r = st.iloc[pos]
        problems.append(
            f"stock of {r['product']} at {r['holder']} {r['id']} on {r['day']} does not balance "
            f"(off by {bal.iloc[pos]:g})"
        )
    nums = ["opening", "arrived", "sent", "used", "lost", "closing", "in_service"]
    if (st[nums] < -tol).any().any():
        problems.append("a stock quantity is negative")
    order = {d: i for i, d in enumerate(model.days)}
    prev = st.assign(i=st["day"].map(order) + 1)[["holder", "id", "product", "i", "closing"]]
    nxt = st.assign(i=st["day"].map(order))[["holder", "id", "product", "i", "opening"]]
    joined = nxt.merge(prev, on=["holder", "id", "product", "i"], how="outer").fillna(0.0)
    joined = joined.loc[(joined["i"] > 0) & (joined["i"] < len(model.days))]
    if (np.abs(joined["opening"] - joined["closing"]) > tol).any():
        problems.append("a day's opening stock differs from the day before's closing stock")
    durable = st["in_service"] > st["closing"] + tol
    if durable.any():
        problems.append("more durable units in service than on hand")
    fill = dp.fill
    over = fill["delivered"] > fill["demand"] + fill["backlog_in"] + tol
    if over.any():
        r = fill.loc[over].iloc[0]
        problems.append(f"delivered beyond demand to {r['region']} ({r['family']}, {r['use']}) on {r['day']}")
    # ICU-grade only where allowed: every serve column with a delivery is an eligible pair.
    x = result.solution.x
    served = model.serve.assign(q=x[model.serve["col"].to_numpy(np.int64)] if len(model.serve) else 0.0)
    served = served.loc[served["q"] > tol]
    dem = model.demand.reset_index(drop=True)
    keys = dem[["region", "family", "use"]].drop_duplicates().reset_index(drop=True)
    ok_pairs = eligible_pairs(_keys_instance(instance, keys))
    ok = set(
        zip(
            keys.loc[ok_pairs["demand_idx"], "family"].to_numpy(object),
            keys.loc[ok_pairs["demand_idx"], "use"].to_numpy(object),
            ok_pairs["product"].to_numpy(object),
        )
    )
    for fam, use, prod in zip(
        dem["family"].to_numpy(object)[served["demand_idx"].to_numpy(np.int64)],
        dem["use"].to_numpy(object)[served["demand_idx"].to_numpy(np.int64)],
        served["product"].to_numpy(object),
    ):
        if (fam, use, prod) not in ok:
            problems.append(f"{prod} served {use} demand of {fam}, which the policy does not allow")
            break
    countable = model.countable_cols()
    if np.any(np.abs(x[countable] - np.round(x[countable])) > tol):
        problems.append("a countable item moves in fractional units")
    return problems


def _keys_instance(instance: Instance, keys: pd.DataFrame) -> Instance:
    return replace(instance, demand=keys.assign(quantity=1.0))


# --------------------------------------------------------------------------------------------
# verify_days: a multi-day plan folder's tables against the instance

_V_COLUMNS = ["rule", "file", "row", "detail", "severity", "day"]
_TEXT = {
    "shipments.csv": ("day", "arrives", "source", "region", "product"),
    "transfers.csv": ("day", "arrives", "from_region", "to_region", "product"),
    "fill.csv": ("day", "region", "family", "use"),
    "stock.csv": ("day", "holder", "id", "product"),
}
_NUMBERS = {
    "shipments.csv": ("quantity",),
    "transfers.csv": ("quantity",),
    "fill.csv": ("demand", "backlog_in", "delivered", "shortfall"),
    "stock.csv": ("opening", "arrived", "sent", "used", "lost", "closing"),
}
_OPTIONAL = {  # read when present (empty: not checked; in_service: 0)
    "shipments.csv": ("cost",),
    "transfers.csv": ("cost",),
    "fill.csv": ("weight", "carried", "fill_rate"),
    "stock.csv": ("in_service", "floor"),
}
_STOCK_NUMBERS = ("opening", "arrived", "sent", "used", "lost", "closing", "in_service")


def verify_days(
    instance: Instance,
    tables: dict[str, pd.DataFrame],
    *,
    summary: dict | None = None,
    tol: float = 1e-6,
) -> Verification:
    """Check a multi-day plan from its tables alone; return every violation, with file, row and day.

    Parameters
    ----------
    tables:
        ``shipments.csv``, ``transfers.csv``, ``fill.csv`` and ``stock.csv`` (keys with or without
        ``.csv``) as ``report.reader.read_folder`` reads them (``PlanFolder.tables``), or as
        ``plan.days.DayPlan`` holds them. A table without a ``_row`` column is numbered from row 2.
    summary:
        The folder's ``summary.json``: its days are the plan's days (else the tables' first to last
        day), and its weighted shortfall, delivered total and cost must match the tables.

    Rules (the ``rule`` column): ``file``, ``column``, ``quantity``, ``unknown id``, ``day``,
    ``duplicate``, ``route``, ``arrives``, ``capacity``, ``cost`` (a warning), ``supply``,
    ``stock balance``, ``opening``, ``arrived``, ``sent``, ``negative``, ``used``, ``in service``,
    ``attrition``, ``floor`` (a warning), ``fill``, ``backlog``, ``demand``, ``delivered``, ``icu``,
    ``grade``, ``whole units``, ``objective``, ``forecast`` (a warning).

    Metrics: ``days``, ``delivered``, ``shortfall``, ``weighted_shortfall`` (the instance's demand
    weights x shortfall, every day alike), ``objective_weighted_shortfall`` (a plan's objective: with
    the time preference and the floors' shortfall), ``reported_weighted_shortfall`` (summary.json's),
    ``route_cost`` and ``by_day`` (day, due, delivered, shortfall, weighted_shortfall).
    """
    return _DaysCheck(instance, tables, summary if isinstance(summary, dict) else {}, tol).run()


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


class _DaysCheck:
    """One verification of a multi-day plan's tables; ``run`` returns the ``Verification``."""

    def __init__(self, instance: Instance, tables: dict, summary: dict, tol: float):
        self.inst = instance
        self.policy = instance.policy
        self.cal = Calendar(instance)
        self.tables = tables
        self.summary = summary
        self.tol = tol
        self.v: list[tuple] = []
        # summary.json names its kind; one written before it did: a replay's has its horizon, a plan's an objective.
        if summary.get("kind") in ("plan", "replay"):
            self.kind = summary["kind"]
        elif "horizon" in summary:
            self.kind = "replay"
        elif isinstance(summary.get("objective"), dict):
            self.kind = "plan"
        else:
            self.kind = None
        products = instance.products
        self.products = set(products["product"].astype(str))
        self.countable = dict(zip(products["product"].astype(str), products["countable"].astype(bool)))
        self.durable = dict(zip(products["product"].astype(str), products["durable"].astype(bool)))
        self.attrition = dict(zip(products["product"].astype(str), products["attrition"].astype(float)))
        self.family = dict(zip(products["product"].astype(str), products["family"].astype(str)))
        self.grade = dict(zip(products["product"].astype(str), products["grade"].astype(str)))
        self.members: dict[str, list[str]] = defaultdict(list)
        for p, f in sorted(self.family.items()):
            self.members[f].append(p)
        self.fam_countable = {str(k): bool(v) for k, v in instance.family_countable().items()}
        self.fam_durable = {f: all(self.durable[p] for p in ps) for f, ps in self.members.items()}
        self.sources = set(instance.sources["source"].astype(str))
        self.regions = set(instance.regions["region"].astype(str))
        self._days: dict[str, tuple[int | None, str | None]] = {}

    # ---- helpers ---------------------------------------------------------------------------

    def add(self, rule, file, row, detail, day=None, severity="error") -> None:
        self.v.append((rule, file, None if row is None else int(row), detail, severity, day))

    def day_of(self, label: str) -> tuple[int | None, str | None]:
        """The ordinal of a day label and, when it is not one of the instance's days, why: no ordinal
        (None) when the label is not a day at all; an ordinal and a reason when it lies outside them."""
        if label in self._days:
            return self._days[label]
        cal = self.cal
        try:
            o = cal.ordinal(label)
        except ValueError:
            o = None
        if o is None or o < 0 or cal.label(o) != label:
            expect = "a date as YYYY-MM-DD" if cal.dated else "'day N' (this instance has no dated days)"
            out = (None, f"{label!r} is not a day: expected {expect}")
        elif cal.dated and not cal.first <= o <= cal.last:
            out = (o, f"{label} is not one of the instance's days ({cal.label(cal.first)} to {cal.label(cal.last)})")
        else:
            out = (o, None)
        self._days[label] = out
        return out

    def label(self, t: int) -> str:
        return self.cal.label(self.first + t)

    def frame(self, name: str) -> pd.DataFrame:
        """A table with its text stripped, its numbers as floats and ``_row``; bad cells reported."""
        text, nums, opt = _TEXT[name], _NUMBERS[name], _OPTIONAL[name]
        frame = self.tables.get(name)
        if frame is None:
            frame = self.tables.get(name.removesuffix(".csv"))
        if frame is None:
            if name != "transfers.csv":  # a plan without transfers may leave the file out
                self.add("file", name, None, "file is missing: a multi-day plan folder has it")
            frame = pd.DataFrame(columns=[*text, *nums])
        frame = frame.reset_index(drop=True)
        if len(frame) == 0 and len(frame.columns) == 0:  # an empty file: no rows (and no header)
            frame = pd.DataFrame(columns=[*text, *nums])
        missing = [c for c in (*text, *nums) if c not in frame.columns]
        if missing:
            self.add("column", name, 1, f"required column(s) missing: {', '.join(missing)}")
            frame = pd.DataFrame(columns=[*text, *nums])
        rows = (
            pd.to_numeric(frame["_row"], errors="coerce").fillna(0).to_numpy(np.int64)
            if "_row" in frame.columns
            else np.arange(2, len(frame) + 2, dtype=np.int64)
        )
        out = pd.DataFrame({"_row": rows})
        for c in text:
            out[c] = np.array(["" if pd.isna(x) else str(x).strip() for x in frame[c]], dtype=object)
        for c in (*nums, *opt):
            if c not in frame.columns:
                out[c] = 0.0 if c == "in_service" else np.nan
                continue
            q = pd.to_numeric(frame[c], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(q)
            if c in nums:
                for pos in np.flatnonzero(bad):
                    self.add(
                        "quantity",
                        name,
                        rows[pos],
                        f"{c} is {frame[c].iloc[pos]!r}: expected a number",
                        out["day"][pos],
                    )
                q = np.where(bad, 0.0, q)
            elif c == "in_service":
                q = np.where(bad, 0.0, q)
            out[c] = q
        return out

    def parse_days(self, frame: pd.DataFrame, name: str, col: str) -> np.ndarray:
        """Ordinals of a day column (-1: not a day, reported on each row). A day outside the instance's
        days is reported once per file (its first row, and how many rows it has); its rows keep their
        ordinal, so that the other checks still see them."""
        out = np.full(len(frame), -1, dtype=np.int64)
        outside: dict[str, list] = {}
        for pos, (label, row) in enumerate(zip(frame[col], frame["_row"])):
            o, why = self.day_of(label)
            if o is None:
                self.add("day", name, row, f"{col} {why}", label if col == "day" else frame["day"].iloc[pos])
                continue
            out[pos] = o
            if why is not None:
                outside.setdefault(label, [row, 0, why])[1] += 1
        for label, (row, count, why) in outside.items():
            self.add("day", name, row, f"{col} {why}: {count} row(s)", label)
        return out

    def known(self, frame: pd.DataFrame, name: str, cols: dict[str, set]) -> np.ndarray:
        ok = np.ones(len(frame), dtype=bool)
        for col, ids in cols.items():
            for pos, value in enumerate(frame[col]):
                if value not in ids:
                    self.add(
                        "unknown id", name, frame["_row"].iloc[pos], f"unknown {col} {value!r}", frame["day"].iloc[pos]
                    )
                    ok[pos] = False
        return ok

    # ---- the instance: what is on hand, made, routed, due ----------------------------------------

    def inputs(self) -> None:
        inst, F, L = self.inst, self.first, self.last
        # Output made on day m is at its source on m + lead (made from the plan's first day on).
        self.ready: dict[tuple, float] = defaultdict(float)  # (t, source, product)
        sup = inst.supply.loc[inst.supply["quantity"] > 0]
        p_lead = inst.products.set_index("product")["lead_days"]
        s_lead = inst.sources.set_index("source")["lead_days"]
        lead = sup["lead_days"].to_numpy(float)
        default = sup["product"].map(p_lead).fillna(0).to_numpy(float) + sup["source"].map(s_lead).fillna(0).to_numpy(
            float
        )
        lead = np.where(np.isnan(lead), default, lead).astype(np.int64)
        for s, p, q, d, lag in zip(
            sup["source"].astype(str), sup["product"].astype(str), sup["quantity"].to_numpy(float), sup["day"], lead
        ):
            made = range(F, L + 1) if not d else [self.cal.ordinal(d)]
            for m in made:
                if m >= F and F <= m + lag <= L:
                    self.ready[(int(m + lag - F), s, p)] += q
        # stock.csv: undated rows (and rows dated up to the first day) on hand, later rows arriving.
        self.open0: dict[tuple, float] = defaultdict(float)  # (holder, id, product)
        self.arriving: dict[tuple, float] = defaultdict(float)  # (t, holder, id, product)
        stock = inst.stock
        if stock is not None and len(stock):
            stock = stock.loc[stock["quantity"] > 0]
            for s, r, p, d, q in zip(
                stock["source"].astype(str),
                stock["region"].astype(str),
                stock["product"].astype(str),
                stock["day"],
                stock["quantity"].to_numpy(float),
            ):
                o = self.cal.ordinal(d) if d else F
                key = ("source", s, p) if s else ("region", r, p)
                if o <= F:
                    self.open0[key] += q
                elif o <= L:
                    self.arriving[(o - F, *key)] += q
        # Routes: a row naming the product wins over a row without one; no routes.csv: every source
        # reaches every region at great-circle km x routes.cost_per_km, no capacity, 0 transit days.
        self.routes: dict[tuple, tuple[float, float, int]] | None = None
        if inst.routes is not None:
            self.routes = {}
            r = inst.routes
            for s, g, p, cost, cap, lag in zip(
                r["source"].astype(str),
                r["region"].astype(str),
                r["product"].astype(str),
                r["cost"].to_numpy(float),
                r["capacity"].to_numpy(float),
                r["transit_days"].to_numpy(float),
            ):
                self.routes.setdefault(
                    (s, g, p), (cost, cap if np.isfinite(cap) else np.inf, int(lag) if np.isfinite(lag) else 0)
                )
        self.transfer_links: dict[tuple, tuple[float, float, int]] | None = None
        tr = inst.transfers
        if tr is not None and len(tr):
            self.transfer_links = {}
            for a, b, p, cost, cap, lag in zip(
                tr["from_region"].astype(str),
                tr["to_region"].astype(str),
                tr["product"].astype(str),
                tr["cost"].to_numpy(float),
                tr["capacity"].to_numpy(float),
                tr["transit_days"].to_numpy(float),
            ):
                self.transfer_links.setdefault(
                    (a, b, p), (cost, cap if np.isfinite(cap) else np.inf, int(lag) if np.isfinite(lag) else 0)
                )
        self._km: dict[tuple, float] = {}

    def route(self, s: str, r: str, p: str) -> tuple[float, float, int] | None:
        """(unit cost, capacity a day, transit days) of the route the instance has, or None."""
        if self.routes is not None:
            return self.routes.get((s, r, p), self.routes.get((s, r, "")))
        if (s, r) not in self._km:
            src = self.inst.sources.set_index("source")
            reg = self.inst.regions.set_index("region")
            lat, lon = src.at[s, "lat"], src.at[s, "lon"]
            home = src.at[s, "region"]
            lat = reg.at[home, "lat"] if pd.isna(lat) else lat
            lon = reg.at[home, "lon"] if pd.isna(lon) else lon
            km = float(np.round(great_circle_km(lat, lon, reg.at[r, "lat"], reg.at[r, "lon"]), 1))
            self._km[(s, r)] = km
        return (self._km[(s, r)] * self.policy.cost_per_km, np.inf, 0)

    def transfer(self, a: str, b: str, p: str) -> tuple[float, float, int] | None:
        links = self.transfer_links
        if links is None:
            return None
        return links.get((a, b, p), links.get((a, b, "")))

    # ---- the checks ----------------------------------------------------------------------------

    def run(self) -> Verification:
        ships = self.frame("shipments.csv")
        xfers = self.frame("transfers.csv")
        fill = self.frame("fill.csv")
        stock = self.frame("stock.csv")
        named = (("shipments.csv", ships), ("transfers.csv", xfers), ("fill.csv", fill), ("stock.csv", stock))
        ords = {name: self.parse_days(f, name, "day") for name, f in named}
        self.window(ords)
        n = self.n
        for name, f in named:
            o = ords[name]
            outside = (o >= 0) & ((o < self.first) | (o > self.last))
            for pos in np.flatnonzero(outside):
                self.add(
                    "day",
                    name,
                    f["_row"].iloc[pos],
                    f"day {f['day'].iloc[pos]} is not one of the plan's days ({self.label(0)} to {self.label(n - 1)})",
                    f["day"].iloc[pos],
                )
            f["t"] = np.where((o >= 0) & ~outside, o - self.first, -1)
        self.inputs()
        ships = self.moves(ships, "shipments.csv", "source", "region", self.sources)
        xfers = self.moves(xfers, "transfers.csv", "from_region", "to_region", self.regions)
        self.check_supply(ships)
        stock = self.check_stock(stock, ships, xfers)
        fill = self.check_fill(fill)
        self.check_delivered(fill, stock)
        metrics = self.metrics(fill, stock, ships, xfers)
        violations = pd.DataFrame(self.v, columns=_V_COLUMNS)
        violations["row"] = violations["row"].astype("Int64")
        return Verification(violations=violations, metrics=metrics)

    def window(self, ords: dict[str, np.ndarray]) -> None:
        """The plan's days: summary.json's, else the tables' first to last day."""
        days = self.summary.get("days")
        got = []
        if isinstance(days, list) and days and all(isinstance(d, str) for d in days):
            said = [self.day_of(d) for d in days]
            got = [o for o, _ in said]
            if any(o is None for o in got):
                self.add("day", "summary.json", None, f"days {days}: not days")
                got = []
            elif any(why is not None for _, why in said):
                why = next(why for _, why in said if why is not None)
                self.add("day", "summary.json", None, f"days: {why}")
        if not got:
            got = [int(o) for name in ("fill.csv", "stock.csv", "shipments.csv") for o in ords[name] if o >= 0]
        if not got:
            got = [self.cal.first]
        self.first, self.last = min(got), max(got)
        self.n = self.last - self.first + 1

    def moves(self, f: pd.DataFrame, name: str, a: str, b: str, a_ids: set) -> pd.DataFrame:
        """Shipments or transfers: ids, route, arrival day, capacity, cost, whole units. Returns the
        rows with known ids on a plan day, with ``arrive_t`` (-1: not a day of the plan)."""
        ship = name == "shipments.csv"
        ok = self.known(f, name, {a: a_ids, b: self.regions, "product": self.products}) & (f["t"].to_numpy() >= 0)
        arrive = np.full(len(f), -1, dtype=np.int64)
        load: dict[tuple, list] = defaultdict(list)
        for pos in np.flatnonzero(ok):
            r = f.iloc[pos]
            row, day, q, p = r["_row"], r["day"], float(r["quantity"]), r["product"]
            if q < -self.tol:
                self.add("quantity", name, row, f"quantity {_n(q)}: expected 0 or more", day)
            if self.countable[p] and abs(q - round(q)) > self.tol:
                self.add("whole units", name, row, f"{_n(q)} of countable product {p!r}: expected a whole number", day)
            link = self.route(r[a], r[b], p) if ship else self.transfer(r[a], r[b], p)
            o, why = self.day_of(r["arrives"])
            if o is None:
                self.add("day", name, row, f"arrives {why}", day)
            t = int(r["t"])
            if link is None:
                what = "route" if ship else "transfer"
                table = "routes.csv" if ship else "transfers.csv"
                if not ship and self.transfer_links is None:
                    detail = f"transfer from {r[a]!r} to {r[b]!r}: the instance has no transfers.csv"
                else:
                    detail = f"no {what} from {r[a]!r} to {r[b]!r} for product {p!r} in {table}"
                self.add("route", name, row, detail, day)
                if o is not None and o < self.first + t:
                    self.add("arrives", name, row, f"arrives on {r['arrives']}, before it leaves on {day}", day)
            else:
                cost, cap, lag = link
                if o is not None and o != self.first + t + lag:
                    via = f"the route from {r[a]!r} to {r[b]!r}" if ship else f"the transfer from {r[a]!r} to {r[b]!r}"
                    self.add(
                        "arrives",
                        name,
                        row,
                        f"arrives on {r['arrives']}; {via} takes {lag} day(s): expected {self.label(t + lag)}",
                        day,
                    )
                if not math.isnan(r["cost"]) and not _close(float(r["cost"]), q * cost, 1e-6):
                    self.add(
                        "cost",
                        name,
                        row,
                        f"cost column says {_n(r['cost'])}; quantity x unit cost is {_n(q * cost)}",
                        day,
                        "warning",
                    )
                load[(t, r[a], r[b], p)].append((row, q, cap))
            if o is not None and o > self.last:
                self.add(
                    "day",
                    name,
                    row,
                    f"arrives on {r['arrives']}, after the plan's last day {self.label(self.n - 1)}: the units leave "
                    "the plan",
                    day,
                )
            if o is not None and self.first <= o <= self.last:
                arrive[pos] = o - self.first
        for (t, x, y, p), items in load.items():
            cap = items[0][2]
            if self.countable[p] and np.isfinite(cap):
                cap = float(np.floor(cap))
            total = 0.0
            for row, q, _ in items:
                total += q
                if total > cap + self.tol * max(1.0, cap):
                    what = "route" if ship else "transfer"
                    self.add(
                        "capacity",
                        name,
                        row,
                        f"{'ships' if ship else 'transfers'} {_n(total)} of {p!r} from {x!r} to {y!r} on "
                        f"{self.label(t)}; the {what} carries at most {_n(cap)} a day",
                        self.label(t),
                    )
                    break
        out = f.loc[ok].copy()
        out["arrive_t"] = arrive[ok]
        return out.reset_index(drop=True)

    def check_supply(self, ships: pd.DataFrame) -> None:
        """Per source, product and day: shipped <= on hand (opening stock + output ready and stock
        arriving by then - what it sent before), in the order of the file's rows."""
        by: dict[tuple, list] = defaultdict(list)
        for s, p, t, q, row in zip(ships["source"], ships["product"], ships["t"], ships["quantity"], ships["_row"]):
            by[(s, p)].append((int(t), float(q), int(row)))
        for (s, p), items in sorted(by.items()):
            per_day: dict[int, list] = defaultdict(list)
            for t, q, row in items:
                per_day[t].append((q, row))
            have = self.open0.get(("source", s, p), 0.0)
            for t in range(self.n):
                have += self.ready.get((t, s, p), 0.0) + self.arriving.get((t, "source", s, p), 0.0)
                sent = 0.0
                flagged = False
                for q, row in per_day.get(t, []):
                    sent += q
                    if not flagged and sent > have + self.tol * max(1.0, have):
                        self.add(
                            "supply",
                            "shipments.csv",
                            row,
                            f"source {s!r} ships {_n(sent)} of {p!r} on {self.label(t)} (this row included) but has "
                            f"{_n(have)} on hand (opening stock, plus output ready after its lead time and stock "
                            "arriving, less what it sent before)",
                            self.label(t),
                        )
                        flagged = True
                have = max(have - sent, 0.0)

    def check_stock(self, st: pd.DataFrame, ships: pd.DataFrame, xfers: pd.DataFrame) -> pd.DataFrame:
        """stock.csv: balance, opening = the day before's closing (the first day's: the instance's
        stock), arrivals and departures as the inputs and the other tables say, attrition, durables."""
        name = "stock.csv"
        tol = self.tol
        ok = st["t"].to_numpy() >= 0
        holder_ok = st["holder"].isin(["source", "region"]).to_numpy()
        for pos in np.flatnonzero(~holder_ok):
            self.add(
                "unknown id",
                name,
                st["_row"].iloc[pos],
                f"holder {st['holder'].iloc[pos]!r}: expected source or region",
                st["day"].iloc[pos],
            )
        ids_ok = np.array(
            [
                (i in self.sources if h == "source" else i in self.regions) if h in ("source", "region") else True
                for h, i in zip(st["holder"], st["id"])
            ],
            dtype=bool,
        )
        for pos in np.flatnonzero(holder_ok & ~ids_ok):
            self.add(
                "unknown id",
                name,
                st["_row"].iloc[pos],
                f"unknown {st['holder'].iloc[pos]} {st['id'].iloc[pos]!r}",
                st["day"].iloc[pos],
            )
        prod_ok = st["product"].isin(self.products).to_numpy()
        for pos in np.flatnonzero(~prod_ok):
            self.add(
                "unknown id",
                name,
                st["_row"].iloc[pos],
                f"unknown product {st['product'].iloc[pos]!r}",
                st["day"].iloc[pos],
            )
        st = st.loc[ok & holder_ok & ids_ok & prod_ok].reset_index(drop=True)
        dup = st.duplicated(["t", "holder", "id", "product"]).to_numpy()
        for pos in np.flatnonzero(dup):
            r = st.iloc[pos]
            self.add(
                "duplicate",
                name,
                r["_row"],
                f"a second row for {r['product']} at {r['holder']} {r['id']} on {r['day']}",
                r["day"],
            )
        st = st.loc[~dup].reset_index(drop=True)
        rows: dict[tuple, pd.Series] = {}
        for pos in range(len(st)):
            r = st.iloc[pos]
            rows[(int(r["t"]), r["holder"], r["id"], r["product"])] = r
        # Per row: balance, nothing negative, whole units, durables, what a source cannot do.
        for (_t, h, i, p), r in rows.items():
            row, day = r["_row"], r["day"]
            vals = {c: float(r[c]) for c in _STOCK_NUMBERS}
            bal = vals["opening"] + vals["arrived"] - vals["sent"] - vals["used"] - vals["lost"] - vals["closing"]
            if abs(bal) > tol * max(1.0, vals["opening"] + vals["arrived"]):
                self.add(
                    "stock balance",
                    name,
                    row,
                    f"{p} at {h} {i}: opening {_n(vals['opening'])} + arrived {_n(vals['arrived'])} - sent "
                    f"{_n(vals['sent'])} - used {_n(vals['used'])} - lost {_n(vals['lost'])} = "
                    f"{_n(vals['closing'] + bal)}, not the closing {_n(vals['closing'])}",
                    day,
                )
            neg = [c for c, x in vals.items() if x < -tol]
            if neg:
                self.add("negative", name, row, f"{p} at {h} {i}: {', '.join(f'{c} {_n(vals[c])}' for c in neg)}", day)
            if self.countable[p]:
                frac = [c for c, x in vals.items() if abs(x - round(x)) > tol]
                if frac:
                    self.add(
                        "whole units",
                        name,
                        row,
                        f"{', '.join(f'{c} {_n(vals[c])}' for c in frac)} of countable product {p!r}: expected whole "
                        "numbers",
                        day,
                    )
            if h == "source":
                if vals["used"] > tol or vals["in_service"] > tol:
                    self.add(
                        "used", name, row, f"source {i} uses or puts {p} in service: only regions serve demand", day
                    )
                if vals["lost"] > tol:
                    self.add(
                        "attrition",
                        name,
                        row,
                        f"source {i} loses {_n(vals['lost'])} of {p}: attrition is at regions",
                        day,
                    )
            elif self.durable[p]:
                if vals["used"] > tol:
                    self.add(
                        "used",
                        name,
                        row,
                        f"durable {p} at {i}: {_n(vals['used'])} used up; durable units in service stay on hand",
                        day,
                    )
                if vals["in_service"] > vals["closing"] + tol:
                    self.add(
                        "in service",
                        name,
                        row,
                        f"{_n(vals['in_service'])} durable {p} in service at {i}, more than the {_n(vals['closing'])} "
                        "on hand",
                        day,
                    )
            elif vals["in_service"] > tol:
                self.add(
                    "in service", name, row, f"{p} is not durable: {_n(vals['in_service'])} in service at {i}", day
                )
        # What the tables and the instance say arrives and leaves.
        arrived: dict[tuple, float] = defaultdict(float)
        sent: dict[tuple, float] = defaultdict(float)
        for (t, s, p), q in self.ready.items():
            arrived[(t, "source", s, p)] += q
        for key, q in self.arriving.items():
            arrived[key] += q
        for frame, a, b in ((ships, "source", "region"), (xfers, "from_region", "to_region")):
            holder = "source" if a == "source" else "region"
            for x, y, p, t, at, q in zip(
                frame[a], frame[b], frame["product"], frame["t"], frame["arrive_t"], frame["quantity"]
            ):
                sent[(int(t), holder, x, p)] += float(q)
                if at >= 0:
                    arrived[(int(at), "region", y, p)] += float(q)
        keys = set(rows) | set(arrived) | set(sent) | {(0, *k) for k in self.open0}
        for key in sorted(keys):
            t, h, i, p = key
            r = rows.get(key)
            for col, want, why in (
                ("arrived", arrived.get(key, 0.0), self._arrived_why(h)),
                ("sent", sent.get(key, 0.0), "shipments.csv" if h == "source" else "transfers.csv"),
            ):
                have = 0.0 if r is None else float(r[col])
                if not _close(have, want, tol):
                    where = "" if r is not None else " (no stock.csv row)"
                    self.add(
                        col,
                        name,
                        None if r is None else r["_row"],
                        f"{p} at {h} {i}{where}: {col} {_n(have)}; {why} say(s) {_n(want)}",
                        self.label(t),
                    )
        # Opening = the day before's closing; the first day's: the instance's stock on hand.
        chains = sorted({k[1:] for k in keys})
        for h, i, p in chains:
            for t in range(self.n):
                r = rows.get((t, h, i, p))
                prev = rows.get((t - 1, h, i, p))
                have = 0.0 if r is None else float(r["opening"])
                if t == 0:
                    want, why = self.open0.get((h, i, p), 0.0), "the instance's stock.csv has on hand"
                else:
                    want = 0.0 if prev is None else float(prev["closing"])
                    why = f"the closing stock of {self.label(t - 1)}"
                if _close(have, want, tol):
                    continue
                if r is None:
                    row = None if prev is None else prev["_row"]
                    detail = f"{p} at {h} {i}: no stock.csv row on {self.label(t)}; {why} is {_n(want)}"
                else:
                    row = r["_row"]
                    detail = f"{p} at {h} {i}: opening {_n(have)}; {why} is {_n(want)}"
                self.add("opening", name, row, detail, self.label(t))
        # The floor column: the stock to keep of the product's family (a region) or the product (a source).
        region_floor, source_floor = self.floors()
        for (_t, h, i, p), r in rows.items():
            if math.isnan(r["floor"]):
                continue
            want = region_floor.get((i, self.family[p]), 0.0) if h == "region" else source_floor.get((i, p), 0.0)
            if not _close(float(r["floor"]), want, tol):
                of = f"family {self.family[p]!r}" if h == "region" else f"product {p!r}"
                self.add(
                    "floor",
                    name,
                    r["_row"],
                    f"{p} at {h} {i}: floor {_n(r['floor'])}; the floor of {of} there is {_n(want)}",
                    r["day"],
                    "warning",
                )
        # Attrition: each night a region loses its share of the day before's closing stock.
        for (t, h, i, p), r in rows.items():
            if h != "region":
                continue
            a = self.attrition.get(p, 0.0)
            prev = rows.get((t - 1, h, i, p))
            base = 0.0 if (t == 0 or prev is None) else float(prev["closing"])
            want = a * base
            if self.countable[p]:
                want = float(math.ceil(want - 1e-9)) if want > 0 else 0.0
            if not _close(float(r["lost"]), want, tol):
                self.add(
                    "attrition",
                    name,
                    r["_row"],
                    f"{p} at {i}: lost {_n(r['lost'])}; attrition {a:g} of the {_n(base)} on hand the night before is "
                    f"{_n(want)}",
                    r["day"],
                )
        self.stock_rows = rows
        return st

    @staticmethod
    def _arrived_why(holder: str) -> str:
        if holder == "source":
            return "supply.csv (output made lead days before) and stock.csv"
        return "shipments.csv, transfers.csv and stock.csv"

    def demand_table(self, persistence: bool) -> dict[tuple, tuple[float, float]]:
        """(region, family, use, t) -> (demand, weight), as the instance gives them (a persistence
        forecast: the first day's demand on every later day)."""
        inst = self.inst
        dem = inst.demand
        w = inst.demand_weights().to_numpy(float)
        by_day: dict[tuple, dict[str, tuple[float, float]]] = defaultdict(dict)
        first_w: dict[tuple, float] = {}
        for r, f, u, d, q, wt in zip(
            dem["region"].astype(str),
            dem["family"].astype(str),
            dem["use"].astype(str),
            dem["day"],
            dem["quantity"].to_numpy(float),
            w,
        ):
            by_day[(r, f, u)][d] = (q, wt)
            first_w.setdefault((r, f, u), wt)
        out = {}
        for key, rows in by_day.items():
            for t in range(self.n):
                seen = self.label(0 if persistence and t > 0 else t)
                out[(*key, t)] = rows.get("", rows.get(seen, (0.0, first_w[key])))
        return out

    def check_fill(self, f: pd.DataFrame) -> pd.DataFrame:
        """fill.csv: rows of the instance's demand, its demand, backlog, shortfall and fill rate, nothing
        delivered beyond what is due, whole units."""
        name, tol = "fill.csv", self.tol
        keys_in = {
            (str(r), str(fa), str(u))
            for r, fa, u in zip(self.inst.demand["region"], self.inst.demand["family"], self.inst.demand["use"])
        }
        fams = set(self.members)
        ok = self.known(f, name, {"region": self.regions, "family": fams, "use": {"icu", "general"}})
        ok &= f["t"].to_numpy() >= 0
        for pos in np.flatnonzero(ok):
            key = (f["region"].iloc[pos], f["family"].iloc[pos], f["use"].iloc[pos])
            if key not in keys_in:
                self.add(
                    "fill",
                    name,
                    f["_row"].iloc[pos],
                    f"no demand row {'/'.join(key)} in the instance",
                    f["day"].iloc[pos],
                )
                ok[pos] = False
        f = f.loc[ok].reset_index(drop=True)
        dup = f.duplicated(["t", "region", "family", "use"]).to_numpy()
        for pos in np.flatnonzero(dup):
            r = f.iloc[pos]
            self.add(
                "duplicate",
                name,
                r["_row"],
                f"a second row for {r['region']}/{r['family']}/{r['use']} on {r['day']}",
                r["day"],
            )
        f = f.loc[~dup].reset_index(drop=True)
        # Demand as the instance gives it; a plan (its summary does not say) may have been made with a
        # persistence forecast: the first day's demand on the later days.
        perfect = self.demand_table(False)
        table = perfect
        if self.kind != "replay" and self.n > 1:
            persist = self.demand_table(True)

            def misses(tab):
                return sum(
                    not _close(q, tab.get((r, fa, u, int(t)), (0.0, 0.0))[0], tol)
                    for r, fa, u, t, q in zip(f["region"], f["family"], f["use"], f["t"], f["demand"])
                )

            wrong = misses(perfect)
            if wrong and misses(persist) == 0:
                table = persist
                self.add(
                    "forecast",
                    name,
                    None,
                    "the demand after the first day is the first day's (a persistence forecast, allocator plan "
                    "--forecast persistence): checked against that, not against the instance's later days",
                    None,
                    "warning",
                )
        self.demand = table
        backlog = self.policy.unmet == "backlog"
        index = {(r["region"], r["family"], r["use"], int(r["t"])): r for _, r in f.iterrows()}
        for (rg, fa, u, t), r in index.items():
            row, day = r["_row"], r["day"]
            q_want, w_want = table.get((rg, fa, u, t), (0.0, 0.0))
            dq, bq, got, short = (float(r[c]) for c in ("demand", "backlog_in", "delivered", "shortfall"))
            label = f"{rg}/{fa}/{u}"
            if not _close(dq, q_want, tol):
                self.add(
                    "fill", name, row, f"{label}: demand {_n(dq)}; the instance's demand.csv says {_n(q_want)}", day
                )
            if not math.isnan(r["weight"]) and not _close(float(r["weight"]), w_want, 1e-9):
                self.add(
                    "fill",
                    name,
                    row,
                    f"{label}: weight {_n(r['weight'])}; the instance's weight is {w_want:g}",
                    day,
                    "warning",
                )
            carries = backlog and not self.fam_durable.get(fa, False)
            prev = index.get((rg, fa, u, t - 1))
            b_want = float(prev["shortfall"]) if (carries and prev is not None) else 0.0
            if not _close(bq, b_want, tol):
                why = (
                    "the day before's shortfall"
                    if carries and t > 0
                    else "nothing is carried to the plan's first day"
                    if carries
                    else "unmet demand is not carried (policy unmet = lost, or durable equipment)"
                )
                self.add("backlog", name, row, f"{label}: backlog_in {_n(bq)}; {why}: {_n(b_want)}", day)
            if not math.isnan(r["carried"]):
                c_want = short if carries else 0.0
                if not _close(float(r["carried"]), c_want, tol):
                    self.add("backlog", name, row, f"{label}: carried {_n(r['carried'])}; expected {_n(c_want)}", day)
            due = dq + bq
            if got < -tol:
                self.add("quantity", name, row, f"{label}: delivered {_n(got)}: expected 0 or more", day)
            if got > due + tol * max(1.0, due):
                self.add(
                    "demand",
                    name,
                    row,
                    f"{label}: delivered {_n(got)}, beyond what is due: demand {_n(dq)} + backlog {_n(bq)}",
                    day,
                )
            if not _close(short, due - got, tol):
                self.add(
                    "fill",
                    name,
                    row,
                    f"{label}: shortfall {_n(short)}; demand + backlog_in - delivered is {_n(due - got)}",
                    day,
                )
            if not math.isnan(r["fill_rate"]):
                rate = got / due if due > 0 else 1.0
                if abs(float(r["fill_rate"]) - rate) > 1e-5:
                    self.add(
                        "fill",
                        name,
                        row,
                        f"{label}: fill_rate {r['fill_rate']:g}; delivered / due is {rate:.6g}",
                        day,
                        "warning",
                    )
            if self.fam_countable.get(fa, False):
                frac = [
                    c
                    for c in ("demand", "backlog_in", "delivered", "shortfall", "carried")
                    if not math.isnan(r[c]) and abs(float(r[c]) - round(float(r[c]))) > tol
                ]
                if frac:
                    self.add(
                        "whole units",
                        name,
                        row,
                        f"{label}: {', '.join(f'{c} {_n(r[c])}' for c in frac)} of countable family {fa!r}: expected "
                        "whole numbers",
                        day,
                    )
        # Every day's demand has its row.
        present = set(index)
        for (rg, fa, u, t), (q, _) in sorted(table.items()):
            if q > tol and (rg, fa, u, t) not in present:
                self.add(
                    "fill",
                    name,
                    None,
                    f"{rg}/{fa}/{u}: no row on {self.label(t)}; the instance's demand is {_n(q)}",
                    self.label(t),
                )
        return f

    def check_delivered(self, f: pd.DataFrame, st: pd.DataFrame) -> None:
        """What fill.csv says each region got of a family = the units its stock rows used (or put in
        service, durables) of the family's products; each use served only by products the policy lets
        serve it (``eligible_pairs``)."""
        name = "fill.csv"
        got: dict[tuple, dict[str, tuple[float, int]]] = defaultdict(dict)  # (t, region, family) -> use -> (q, row)
        for rg, fa, u, t, q, row in zip(f["region"], f["family"], f["use"], f["t"], f["delivered"], f["_row"]):
            got[(int(t), rg, fa)][u] = (float(q), int(row))
        used: dict[tuple, dict[str, float]] = defaultdict(dict)
        used_rows: dict[tuple, list[int]] = defaultdict(list)
        for (t, h, i, p), r in self.stock_rows.items():
            q = float(r["used"]) + float(r["in_service"])
            if h == "region" and q != 0:
                used[(t, i, self.family[p])][p] = q
                used_rows[(t, i, self.family[p])].append(int(r["_row"]))
        # Which products may serve each (family, use): the instance's products and the ICU rule.
        pairs_of = sorted({(fa, u) for (_, _, fa), uses in got.items() for u in uses})
        eligible: dict[tuple, set[str]] = {}
        if pairs_of:
            keys = pd.DataFrame(
                {"region": "", "family": [fa for fa, _ in pairs_of], "use": [u for _, u in pairs_of]}
            ).reset_index(drop=True)
            ok = eligible_pairs(_keys_instance(self.inst, keys))
            for d, p in zip(ok["demand_idx"], ok["product"]):
                eligible.setdefault(pairs_of[int(d)], set()).add(str(p))
        allow = bool(self.policy.icu_grade_for_general)
        for key in sorted(set(got) | set(used)):
            t, rg, fa = key
            uses = got.get(key, {})
            total = sum(q for q, _ in uses.values())
            by_product = used.get(key, {})
            units = sum(by_product.values())
            first_row = min((row for _, row in uses.values()), default=None)
            if not _close(total, units, self.tol):
                rows = ", ".join(map(str, sorted(used_rows.get(key, [])))) or "none"
                self.add(
                    "delivered",
                    name,
                    first_row,
                    f"{rg}/{fa}: fill.csv says {_n(total)} delivered; stock.csv's rows of {rg} (rows {rows}) use "
                    f"{_n(units)} of the family's products (put in service, for durables)",
                    self.label(t),
                )
            # Hall's condition: the demand of every set of uses is no more than the units that may serve it.
            names = sorted(uses)
            for k in range(1, len(names) + 1):
                bad = None
                for group in combinations(names, k):
                    can = set().union(*(eligible.get((fa, u), set()) for u in group))
                    need = sum(uses[u][0] for u in group)
                    have = sum(q for p, q in by_product.items() if p in can)
                    if need > have + self.tol * max(1.0, have):
                        bad = (group, need, have)
                        break
                if bad is None:
                    continue
                group, need, have = bad
                u = group[0] if len(group) == 1 else ("general" if "general" in group else group[0])
                others = {
                    p: q
                    for p, q in by_product.items()
                    if p not in set().union(*(eligible.get((fa, x), set()) for x in group))
                }
                made = ", ".join(f"{_n(q)} {p} ({self.grade[p]}-grade)" for p, q in sorted(others.items())) or "none"
                if u == "general" and any(self.grade[p] == "icu" for p in others) and not allow:
                    rule = "icu"
                    detail = (
                        f"{rg}/{fa}/general: delivered {_n(need)} but only {_n(have)} units that may serve general use "
                        f"were used; the rest are ICU-grade ({made}), which the policy keeps for ICU use"
                    )
                else:
                    rule = "grade"
                    detail = (
                        f"{rg}/{fa}/{'+'.join(group)}: delivered {_n(need)} but only {_n(have)} units that may "
                        f"serve it were used (others: {made}); general-grade units serve general use only"
                    )
                self.add(rule, name, uses[u][1], detail, self.label(t))
                break

    def floors(self) -> tuple[dict[tuple, float], dict[tuple, float]]:
        """(region, family) and (source, product) -> the stock to keep at the end of each day: policy
        ``floor.days`` of a region's mean daily demand of each consumable family over the instance's
        days, plus the ``floor`` column of stock.csv."""
        inst, policy = self.inst, self.policy
        region: dict[tuple, float] = {}
        if policy.floor_days > 0:
            n_days = max(self.cal.n_days, 1)
            dem = inst.demand
            every = (dem["day"] == "").to_numpy()
            total: dict[tuple, float] = defaultdict(float)
            for r, fa, q, e in zip(
                dem["region"].astype(str), dem["family"].astype(str), dem["quantity"].to_numpy(float), every
            ):
                total[(r, fa)] += q * n_days if e else q
            for (r, fa), q in total.items():
                if self.fam_durable.get(fa, False):
                    continue
                value = policy.floor_days * q / n_days
                if self.fam_countable.get(fa, False):
                    value = float(math.ceil(value - 1e-9))
                if value > 0:
                    region[(r, fa)] = value
        source: dict[tuple, float] = {}
        if inst.stock is not None and len(inst.stock):
            fl = inst.stock.loc[inst.stock["floor"] > 0]
            reg: dict[tuple, float] = {}
            for s, r, p, v in zip(
                fl["source"].astype(str),
                fl["region"].astype(str),
                fl["product"].astype(str),
                fl["floor"].to_numpy(float),
            ):
                if s:
                    source[(s, p)] = max(source.get((s, p), 0.0), v)
                else:
                    reg[(r, p)] = max(reg.get((r, p), 0.0), v)
            for (r, p), v in reg.items():
                region[(r, self.family[p])] = region.get((r, self.family[p]), 0.0) + v
        return region, source

    def metrics(self, f: pd.DataFrame, st: pd.DataFrame, ships: pd.DataFrame, xfers: pd.DataFrame) -> dict:
        """Per day: due, delivered, shortfall, weighted shortfall (the instance's weights); the plan's
        objective (with the time preference and floors); summary.json's figures checked."""
        weight = {k: w for k, (_, w) in self.demand.items()}
        by_day = []
        plain = objective = 0.0
        region_floor, source_floor = self.floors()
        closing: dict[tuple, float] = defaultdict(float)
        for (t, h, i, p), r in self.stock_rows.items():
            closing[(t, h, i, p if h == "source" else self.family[p])] += float(r["closing"])
        tp = self.policy.time_preference
        fw = self.policy.floor_weight
        for t in range(self.n):
            ft = f.loc[f["t"] == t]
            w = np.array(
                [weight.get((r, fa, u, t), 0.0) for r, fa, u in zip(ft["region"], ft["family"], ft["use"])], dtype=float
            )
            ws = float(w @ ft["shortfall"].to_numpy(float)) if len(ft) else 0.0
            floor_short = sum(
                max(0.0, v - closing.get((t, "region", r, fa), 0.0)) for (r, fa), v in region_floor.items()
            )
            floor_short += sum(
                max(0.0, v - closing.get((t, "source", s, p), 0.0)) for (s, p), v in source_floor.items()
            )
            entry = {
                "day": self.label(t),
                "due": float((ft["demand"] + ft["backlog_in"]).sum()),
                "delivered": float(ft["delivered"].sum()),
                "shortfall": float(ft["shortfall"].sum()),
                "weighted_shortfall": ws,
            }
            if region_floor or source_floor:
                entry["floor_shortfall"] = float(floor_short)
            by_day.append(entry)
            plain += ws
            # A shortfall on day t of an H-day plan weighs 1 + time_preference x (H - 1 - t) times its weight
            # (and so does a unit below a floor, at the floor's weight): the plan's own objective, exactly.
            objective += (1.0 + tp * (self.n - 1 - t)) * (ws + fw * floor_short)
        cost = 0.0
        for frame, a, b, look in (
            (ships, "source", "region", self.route),
            (xfers, "from_region", "to_region", self.transfer),
        ):
            for x, y, p, q in zip(frame[a], frame[b], frame["product"], frame["quantity"]):
                link = look(x, y, p)
                if link is not None:
                    cost += float(q) * link[0]
        delivered = float(f["delivered"].sum())
        metrics = {
            "days": self.n,
            "delivered": delivered,
            "shortfall": float(f["shortfall"].sum()),
            "weighted_shortfall": plain,
            "route_cost": float(cost),
            "by_day": by_day,
        }
        s = self.summary
        obj = s.get("objective") if isinstance(s.get("objective"), dict) else {}
        totals = s.get("totals") if isinstance(s.get("totals"), dict) else {}
        # (A summary.json written before the objective block held them all: the replay's at the top level.)
        reported = obj.get("weighted_shortfall", s.get("weighted_shortfall"))
        said_cost = obj.get("route_cost", obj.get("cost", s.get("cost")))
        said_delivered = totals.get("delivered", s.get("delivered"))
        if self.kind == "plan":
            # A plan's objective is the solver's: each day's weighted shortfall x its time preference
            # 1 + time_preference x (H - 1 - t), plus the floors' shortfall at their weight (also x the time
            # preference): recomputed exactly from the tables, so it must match to 1e-6.
            metrics["objective_weighted_shortfall"] = objective
            real = objective
        else:
            # A replay's weighted shortfall is counted at the days' own weights (no time preference, no floor).
            real = plain
        if self.kind is not None:
            for what, said, value in (
                ("weighted shortfall", reported, real),
                ("delivered", said_delivered, delivered),
                ("route cost", said_cost, cost),
            ):
                if isinstance(said, (int, float)) and not _close(float(said), value, 1e-6):
                    self.add(
                        "objective", "summary.json", None, f"{what} {_n(said)}; the plan's tables give {_n(value)}"
                    )
        if isinstance(reported, (int, float)):
            metrics["reported_weighted_shortfall"] = float(reported)
        return metrics
