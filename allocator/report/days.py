"""Report: a multi-day plan or a replay as text, JSON and files (CSV, and a PNG chart for a replay)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from allocator.numbers import figure_text, percent_text, quantity_text
from allocator.report.folder import check_folder, csv_text, places_table, table_text, time_limit_line, write_folder

__all__ = ["render_plan_text", "write_plan", "render_replay_text", "write_replay", "PLAN_DAY_FILES", "REPLAY_FILES"]

PLAN_DAY_FILES = ("shipments.csv", "transfers.csv", "fill.csv", "stock.csv", "by_day.csv", "summary.json", "places.csv")
REPLAY_FILES = (
    "shipments.csv",
    "transfers.csv",
    "fill.csv",
    "stock.csv",
    "by_day.csv",
    "regions.csv",
    "summary.json",
    "places.csv",
    "replay.png",
)


def _day_lines(result, top: int) -> list[str]:
    out = []
    by_day = result.by_day
    fill = result.plan.fill
    ships = result.plan.shipments
    for day in result.days:
        f = fill.loc[fill["day"] == day]
        due = float((f["demand"] + f["backlog_in"]).sum())
        got = float(f["delivered"].sum())
        rate = got / due if due > 0 else 1.0
        s = ships.loc[ships["day"] == day]
        out.append(
            f"{day}: due {quantity_text(due)} | delivered {quantity_text(got)} ({percent_text(rate)}) | short "
            f"{quantity_text(f['shortfall'].sum())} | {len(s)} shipments ({quantity_text(s['quantity'].sum())} units)"
        )
        tiers = by_day.loc[
            by_day["day"] == day, ["tier", "weight", "demand", "backlog_in", "delivered", "shortfall", "fill_rate"]
        ]
        out.append(
            "  "
            + table_text(
                tiers,
                {
                    "weight": "num",
                    "demand": "int",
                    "backlog_in": "int",
                    "delivered": "int",
                    "shortfall": "int",
                    "fill_rate": "pct",
                },
            ).replace("\n", "\n  ")
        )
        short = f.loc[f["shortfall"] > 0].sort_values(["weight", "shortfall", "region"], ascending=[False, False, True])
        if len(short) and top > 0:
            shown = short.head(top)
            cols = ["region", "family", "use", "weight", "shortfall", "fill_rate"]
            cols += ["reason"] if "reason" in shown.columns else []
            out.append(f"  largest shortfalls and why (top {len(shown)} of {len(short)})")
            table = table_text(shown[cols], {"weight": "num", "shortfall": "int", "fill_rate": "pct"}, max_width=110)
            out.append("  " + table.replace("\n", "\n  "))
    return out


def render_plan_text(result, top: int = 5) -> str:
    s = result.summary()
    sol = result.solution
    pol = result.instance.policy
    lines = [
        f"allocator plan: {result.instance.name}: {len(result.days)} day(s) from {result.days[0]} "
        f"({sol.status}, {sol.solver}, {sol.lp_solves} solver calls, {sum(result.timings.values()):.2f} s)",
        f"policy: equity {'on' if pol.equity else 'off'}; unmet demand {pol.unmet}; ICU-grade items for general "
        f"use {'allowed' if pol.icu_grade_for_general else 'not allowed'}",
        f"objective: weighted shortfall {figure_text(s['objective']['weighted_shortfall'])} (proven lower "
        f"bound {figure_text(s['objective']['weighted_shortfall_bound'])}) | cost "
        f"{figure_text(s['objective']['route_cost'])}",
        "",
    ]
    if sol.status == "time_limit":
        lines.insert(1, time_limit_line(s["objective"], sol.method))
    lines += _day_lines(result, top)
    return "\n".join(lines) + "\n"


def write_plan(result, folder: str | Path) -> list[Path]:
    out = check_folder(folder, PLAN_DAY_FILES)
    files = {
        "shipments.csv": csv_text(result.plan.shipments).encode(),
        "transfers.csv": csv_text(result.plan.transfers).encode(),
        "fill.csv": csv_text(result.plan.fill).encode(),
        "stock.csv": csv_text(result.plan.stock).encode(),
        "by_day.csv": csv_text(result.by_day).encode(),
        "summary.json": (json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n").encode(),
        "places.csv": csv_text(places_table(result.instance)).encode(),
    }
    return write_folder(out, files)


def render_replay_text(result, *, every: int = 7) -> str:
    s = result.summary()
    t, o = s["totals"], s["objective"]
    lines = [
        f"allocator replay: {result.instance.name}: {s['days'][0]} to {s['days'][-1]}, horizon {result.horizon} "
        f"day(s), forecast {result.forecast} ({result.seconds:.2f} s; days solved as LP {s['methods'].get('lp', 0)}, "
        f"as MIP {s['methods'].get('mip', 0)})",
        f"demand {quantity_text(t['demand'])} | delivered {quantity_text(t['delivered'])} "
        f"({percent_text(t['fill_rate'])}) | weighted shortfall {figure_text(o['weighted_shortfall'])} | "
        f"equity (Jain) {o['jain_index']:.4f} | cost {figure_text(o['route_cost'])}",
        "fill by tier: " + ", ".join(f"tier {r['tier']} {r['fill_rate']:.1%}" for r in s["by_tier"]),
        "",
    ]
    series = result.region_series()
    nat = series.groupby("day", as_index=False)[["demand", "backlog_in", "delivered", "shortfall", "stock"]].sum()
    nat["fill_rate"] = nat["delivered"] / (nat["demand"] + nat["backlog_in"]).where(
        nat["demand"] + nat["backlog_in"] > 0, 1.0
    )
    shown = nat.iloc[:: max(every, 1)]
    if len(nat) and shown.index[-1] != nat.index[-1]:
        shown = pd.concat([shown, nat.iloc[[-1]]])
    lines.append(
        table_text(
            shown,
            {
                "demand": "int",
                "backlog_in": "int",
                "delivered": "int",
                "shortfall": "int",
                "stock": "int",
                "fill_rate": "pct",
            },
        )
    )
    return "\n".join(lines) + "\n"


def write_replay(result, folder: str | Path, *, chart: bool = True) -> list[Path]:
    out = check_folder(folder, REPLAY_FILES)
    files = {
        "shipments.csv": csv_text(result.shipments).encode(),
        "transfers.csv": csv_text(result.transfers).encode(),
        "fill.csv": csv_text(result.fill).encode(),
        "stock.csv": csv_text(result.stock).encode(),
        "by_day.csv": csv_text(result.by_day).encode(),
        "regions.csv": csv_text(result.region_series()).encode(),
        "summary.json": (json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n").encode(),
        "places.csv": csv_text(places_table(result.instance)).encode(),
    }
    if chart:
        from allocator.report.charts import write_replay_chart

        with tempfile.TemporaryDirectory() as scratch:
            files["replay.png"] = write_replay_chart(result, Path(scratch) / "replay.png").read_bytes()
    return write_folder(out, files)
