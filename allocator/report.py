"""Report: the plan as text a person reads, as JSON for scripts, and as files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["render_text", "render_json", "write_outputs", "table_text", "csv_text"]


def _fmt_num(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if abs(v - round(v)) < 1e-9 and abs(v) < 1e15:
            return str(int(round(v)))
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def csv_text(frame: pd.DataFrame) -> str:
    """CSV with one number format everywhere, so that equal plans give equal bytes."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        w.writerow([_fmt_num(v) for v in row])
    return buf.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_outputs(result, folder: str | Path) -> list[Path]:
    """Write ``dispatch.csv``, ``fill.csv``, ``allocation.csv`` and ``summary.json``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "dispatch.csv": csv_text(result.plan.dispatch),
        "fill.csv": csv_text(result.plan.fill),
        "allocation.csv": csv_text(result.plan.allocation),
        "summary.json": json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n",
    }
    written = []
    for name, text in files.items():
        _atomic_write(out / name, text)
        written.append(out / name)
    return written


def render_json(result) -> str:
    data = result.summary()
    data["dispatch"] = json.loads(result.plan.dispatch.to_json(orient="records"))
    data["fill"] = json.loads(result.plan.fill.to_json(orient="records"))
    return json.dumps(data, indent=2, ensure_ascii=False)


def table_text(frame: pd.DataFrame, formats: dict[str, str] | None = None, max_width: int = 60) -> str:
    """Align a table for the terminal: numbers right, text left."""
    formats = formats or {}
    cols = list(frame.columns)
    cells: list[list[str]] = []
    for row in frame.itertuples(index=False):
        line = []
        for col, v in zip(cols, row):
            f = formats.get(col)
            if f == "pct":
                s = f"{float(v):.1%}"
            elif f == "int":
                s = f"{float(v):,.0f}"
            elif f == "num":
                s = f"{float(v):,.2f}".rstrip("0").rstrip(".") if abs(float(v) - round(float(v))) > 1e-9 else \
                    f"{float(v):,.0f}"
            else:
                s = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            if len(s) > max_width:
                s = s[: max_width - 1] + "…"
            line.append(s)
        cells.append(line)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    numeric = [formats.get(c) in ("pct", "int", "num") for c in cols]

    def fmt(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    lines = [fmt(cols), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in cells]
    return "\n".join(lines)


def render_text(result, top: int = 10, shipments: int = 20) -> str:
    inst = result.instance
    s = result.summary()
    tot = s["totals"]
    pol = inst.policy
    out = [
        f"allocator: {inst.name}: {result.status} ({result.solver}, {result.lp_solves} LP solves, "
        f"{sum(result.timings.values()):.2f} s)",
        f"policy: equity {'on' if pol.equity else 'off'}; ICU-grade items for general use: "
        f"{'allowed' if pol.icu_grade_for_general else 'not allowed'}",
        f"supply {tot['supply']:,} | demand {tot['demand']:,} | delivered {tot['delivered']:,} "
        f"({tot['fill_rate']:.1%}) | short {tot['shortfall']:,} | {tot['shipments']} shipments",
        f"objective: weighted shortfall {result.objective['weighted_shortfall']:,} | route cost "
        f"{result.objective['route_cost']:,}",
    ]
    if inst.warnings:
        out.append(f"{len(inst.warnings)} warning(s) in the data; first: {inst.warnings[0]}")
    out += ["", "Fill rate by priority tier (tier 1 = highest weight)",
            table_text(result.by_tier, {"weight": "num", "demand": "int", "delivered": "int", "shortfall": "int",
                                        "fill_rate": "pct", "min_fill": "pct", "max_fill": "pct"})]
    out += ["", "Fill rate by region",
            table_text(result.by_region.drop(columns=["flags"]).rename(columns={"top_tier": "tier"}),
                       {"demand": "int", "delivered": "int", "shortfall": "int", "fill_rate": "pct"})]
    fill = result.plan.fill
    short = fill[fill["shortfall"] > 0].sort_values(["shortfall", "region"], ascending=[False, True]).head(top)
    if len(short):
        out += ["", f"Largest shortfalls and why (top {len(short)} of {int((fill['shortfall'] > 0).sum())})",
                table_text(short[["region", "family", "use", "tier", "shortfall", "fill_rate", "reason"]],
                           {"shortfall": "int", "fill_rate": "pct"}, max_width=110)]
    else:
        out += ["", "No shortfalls: every demand row is fully served."]
    disp = result.plan.dispatch.sort_values(["quantity", "source", "region"], ascending=[False, True, True])
    shown = disp.head(shipments)
    out += ["", f"Shipments ({len(disp)}; largest {len(shown)} shown; all in dispatch.csv with --output)",
            table_text(shown[["source", "region", "product", "quantity", "unit_cost", "cost"]],
                       {"quantity": "int", "unit_cost": "num", "cost": "num"})]
    return "\n".join(out) + "\n"
