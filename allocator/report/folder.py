"""Report: the plan as text a person reads, as JSON for scripts, and as files."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import OutputError
from allocator.inputs.files import FORMULA_START, neutralise
from allocator.numbers import csv_number, csv_numbers, figure_text, percent_text, quantity_text

__all__ = [
    "render_text",
    "render_json",
    "write_outputs",
    "table_text",
    "csv_text",
    "OutputError",
    "PLAN_FILES",
    "PLACES_COLUMNS",
    "check_folder",
    "time_limit_line",
    "places_table",
    "write_folder",
]


# A cell a spreadsheet would run as a formula (OWASP "CSV injection").
PLAN_FILES = (
    "dispatch.csv",
    "fill.csv",
    "allocation.csv",
    "summary.json",
    "plan.xlsx",
    "stability.csv",
    "marginal.csv",
    "sources.csv",
    "places.csv",
)
PLACES_COLUMNS = ["kind", "id", "name", "name_zh", "lat", "lon", "flags", "parent", "region", "family"]


def places_table(instance) -> pd.DataFrame:
    """Where the plan's regions and sources lie and the regions' priority flags (``places.csv``),
    so that a plan folder can be drawn on a map without its instance (``allocator report``).
    A source without coordinates of its own is placed at its region's. Then one row per product
    (kind ``product``) with its family, for the report's flows by family."""
    reg = instance.regions
    at = reg.set_index("region")
    regions = pd.DataFrame(
        {
            "kind": "region",
            "id": reg["region"],
            "name": reg.get("name", reg["region"]),
            "name_zh": reg.get("name_zh", ""),
            "lat": reg["lat"],
            "lon": reg["lon"],
            "flags": reg.get("flags", ""),
            "parent": reg.get("parent", ""),
            "region": "",
        }
    )
    src = instance.sources
    lat = src["lat"] if "lat" in src else pd.Series(np.nan, index=src.index)
    lon = src["lon"] if "lon" in src else pd.Series(np.nan, index=src.index)
    sources = pd.DataFrame(
        {
            "kind": "source",
            "id": src["source"],
            "name": src.get("name", src["source"]),
            "name_zh": "",
            "lat": lat.where(lat.notna(), src["region"].map(at["lat"])),
            "lon": lon.where(lon.notna(), src["region"].map(at["lon"])),
            "flags": "",
            "parent": "",
            "region": src["region"],
        }
    )
    prod = instance.products
    products = pd.DataFrame(
        {
            "kind": "product",
            "id": prod["product"],
            "name": prod.get("name", prod["product"]),
            "name_zh": "",
            "lat": np.nan,
            "lon": np.nan,
            "flags": "",
            "parent": "",
            "region": "",
            "family": prod["family"],
        }
    )
    regions["family"] = ""
    sources["family"] = ""
    out = pd.concat([regions, sources, products], ignore_index=True)[PLACES_COLUMNS]
    for c in ("name", "name_zh", "flags", "parent", "region", "family"):
        out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str)
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """CSV with one number format everywhere, so that equal plans give equal bytes.

    Column by column (a county plan has hundreds of thousands of cells); the same text as
    ``csv.writer`` with minimal quoting would give."""
    if not len(frame.columns):
        return "\n" * (len(frame) + 1)
    header = ",".join(_quoted([neutralise(str(c)) for c in frame.columns]))
    columns = [_column_text(frame[c]) for c in frame.columns]  # only text needs quoting
    if len(columns) == 1:  # a row of one empty cell is written as "", not as a blank line
        header = header or '""'
        columns = [[c or '""' for c in columns[0]]]
    return "".join(line + "\n" for line in [header, *map(",".join, zip(*columns))])


def _column_text(col: pd.Series) -> list[str]:
    values = col.to_numpy()
    if values.dtype == bool:
        return np.where(values, "true", "false").tolist()
    if values.dtype.kind in "iu":
        return list(map(str, values.tolist()))
    if values.dtype.kind == "f":
        return csv_numbers(values)
    # Text: few distinct values in many rows (names, products, reasons); each formatted once.
    codes, distinct = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    cells = [
        ("'" + v if v[:1] in _FORMULA_SET else v) if isinstance(v, str) else csv_number(v) for v in distinct.tolist()
    ]
    return np.asarray(_quoted(cells) + [""], dtype=object)[codes].tolist()  # code -1 (missing): ""


_FORMULA_SET = frozenset(FORMULA_START)


def _quoted(cells: list[str]) -> list[str]:
    """Minimal CSV quoting: a cell with a comma, a quote or a line break goes in quotes."""
    joined = "".join(cells)
    if not ("," in joined or '"' in joined or "\n" in joined or "\r" in joined):
        return cells
    return ['"' + c.replace('"', '""') + '"' if ("," in c or '"' in c or "\n" in c or "\r" in c) else c for c in cells]


def xlsx_bytes(result) -> bytes:
    """The plan as a workbook: dispatch, fill, allocation, by tier, by region, summary.

    Text cells are stored as text, so a spreadsheet never evaluates them as formulas."""
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    sheets = {
        "dispatch": result.plan.dispatch,
        "fill": result.plan.fill,
        "allocation": result.plan.allocation,
        "by_tier": result.by_tier,
        "by_region": result.by_region,
        "summary": pd.DataFrame(list(_flatten(result.summary())), columns=["key", "value"]),
    }
    for name, frame in sheets.items():
        ws = book.create_sheet(name)
        ws.append([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            ws.append([_xlsx_value(v) for v in row])
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _xlsx_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    if v is None or isinstance(v, (int, str)):
        return v
    return str(v)


def _flatten(data, prefix=""):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _flatten(v, f"{prefix}{k}.")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _flatten(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), data if isinstance(data, (int, float, str, bool)) or data is None else str(data)


def write_outputs(result, folder: str | Path, *, excel: bool = False) -> list[Path]:
    """Write the plan folder: ``dispatch.csv``, ``fill.csv``, ``allocation.csv``,
    ``summary.json``, ``places.csv`` (``places_table``), the explanations ``marginal.csv`` and
    ``sources.csv`` (when the result has them, ``allocator.why``), and ``plan.xlsx`` with
    ``excel``; all or nothing.

    Everything is written to a new folder beside the target and swapped in by renames, so a
    crash or Ctrl-C leaves the previous plan or none, never a mix. A target that holds files
    other than a plan's is refused rather than replaced.
    """
    out = check_folder(folder, PLAN_FILES)
    files = {
        "dispatch.csv": csv_text(result.plan.dispatch).encode("utf-8"),
        "fill.csv": csv_text(result.plan.fill).encode("utf-8"),
        "allocation.csv": csv_text(result.plan.allocation).encode("utf-8"),
        "summary.json": (json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        "places.csv": csv_text(places_table(result.instance)).encode("utf-8"),
    }
    if result.stability is not None:
        files["stability.csv"] = csv_text(result.stability).encode("utf-8")
    if getattr(result, "marginal", None) is not None:
        files["marginal.csv"] = csv_text(result.marginal).encode("utf-8")
        files["sources.csv"] = csv_text(result.accounts).encode("utf-8")
    if excel:
        files["plan.xlsx"] = xlsx_bytes(result)
    return write_folder(out, files)


def check_folder(folder: str | Path, allowed: tuple[str, ...]) -> Path:
    """The output folder, if it may be replaced: new, empty, or holding only ``allowed`` files."""
    out = Path(folder)
    if out.exists() and not out.is_dir():
        msg = f"--output {out}: is a file; expected a folder for the plan"
        raise OutputError(msg)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in allowed)
        if foreign:
            msg = (
                f"--output {out}: holds files that are not a plan's ({', '.join(foreign[:5])}); expected an "
                "empty folder or an earlier plan folder, which is replaced whole"
            )
            raise OutputError(msg)
    return out


def write_folder(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` into a new folder beside ``out`` and swap it in by renames: all or nothing."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    old = None
    try:
        for name, data in files.items():
            _write_file(tmp / name, data)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        if old is not None and not out.exists():
            os.rename(old, out)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return [out / name for name in files]


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


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
                s = percent_text(v)
            elif f == "int":
                s = quantity_text(round(float(v)))
            elif f == "num":
                s = quantity_text(v, 2)
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


_STAGE_1 = {
    "greedy": "this is a greedy plan",
    "rounded": "this is the best whole-unit plan found near the LP optimum",
    "mip": "this is branch and bound's best plan so far",
    "lp": "this is the best plan found so far",
}


def time_limit_line(objective, method: str) -> str:
    """What a plan the time limit stopped is, in one line (every family's text report)."""
    o = objective
    stage = {
        "shortfall": f"stage 1 (weighted shortfall): {_STAGE_1.get(str(method), _STAGE_1['lp'])}",
        "equity": "stage 2 (equity): the plan has the least weighted shortfall, fill rates not yet evened",
        "cost": "stage 3 (route cost): the plan has the least weighted shortfall, route cost not yet least",
    }
    return (
        f"TIME LIMIT reached in {stage[o['stopped_in']]}; weighted shortfall "
        f"{figure_text(o['weighted_shortfall'])} against a proven lower bound of "
        f"{figure_text(o['weighted_shortfall_bound'])} "
        f"(gap at most {o['weighted_shortfall_gap']:.1%})"
    )


def render_text(result, top: int = 10, shipments: int = 20, regions: int = 40) -> str:
    inst = result.instance
    s = result.summary()
    tot = s["totals"]
    pol = inst.policy
    out = [
        f"allocator: {inst.name}: {result.status} ({result.solver}, {result.lp_solves} solver calls, "
        f"{sum(result.timings.values()):.2f} s)",
        f"policy: equity {'on' if pol.equity else 'off'}; ICU-grade items for general use: "
        f"{'allowed' if pol.icu_grade_for_general else 'not allowed'}",
        f"supply {figure_text(tot['supply'])} | demand {figure_text(tot['demand'])} | delivered "
        f"{figure_text(tot['delivered'])} "
        f"({tot['fill_rate']:.1%}) | short {figure_text(tot['shortfall'])} | {tot['shipments']} shipments",
        f"objective: weighted shortfall {figure_text(result.objective['weighted_shortfall'])} | route cost "
        f"{figure_text(result.objective['route_cost'])}",
    ]
    if "substituted" in result.objective:  # substitutes.csv: units served by substitutes (fill.csv, allocation.csv)
        out[-1] += (
            f" | substituted {figure_text(result.objective['substituted'])} units (charge "
            f"{figure_text(result.objective['substitution_charge'])}, not in route cost)"
        )
    if "side_constraints" in result.objective:  # capacity.csv, commitments.csv, lots, destination limits
        o = result.objective
        bound = (
            f"LP bound {figure_text(o['lp_weighted_shortfall'])}, integrality gap {figure_text(o['integrality_gap'])}"
        )
        how = {
            "lp": "an LP whose optimum is whole (gap 0)",
            "mip": f"a MIP over whole units, proven optimal; {bound}",
            "rounded": f"a MIP over whole units near the LP optimum (rounded, not proven optimal: --whole); {bound}",
        }[o["method"]]
        out.append(f"side constraints: {', '.join(o['side_constraints'])}; solved as {how}")
    if result.status == "time_limit":
        out.insert(1, time_limit_line(result.objective, result.method))
    if inst.warnings:
        out.append(f"{len(inst.warnings)} warning(s) in the data; first: {inst.warnings[0]}")
    out += [
        "",
        "Fill rate by priority tier (tier 1 = highest weight)",
        table_text(
            result.by_tier,
            {
                "weight": "num",
                "demand": "int",
                "delivered": "int",
                "shortfall": "int",
                "fill_rate": "pct",
                "min_fill": "pct",
                "max_fill": "pct",
            },
        ),
    ]
    by_region = result.by_region
    title = "Fill rate by region"
    if len(by_region) > regions:  # worst filled first within each tier (a county plan has 2,850 regions)
        title += f" ({regions} of {len(by_region):,} shown, by tier and lowest fill; all in fill.csv with --output)"
        by_region = by_region.head(regions)
    out += [
        "",
        title,
        table_text(
            by_region.drop(columns=["flags"]).rename(columns={"top_tier": "tier"}),
            {"demand": "int", "delivered": "int", "shortfall": "int", "fill_rate": "pct"},
        ),
    ]
    fill = result.plan.fill
    short = fill[fill["shortfall"] > 0].sort_values(["shortfall", "region"], ascending=[False, True]).head(top)
    if len(short):
        out += [
            "",
            f"Largest shortfalls and why (top {len(short)} of {int((fill['shortfall'] > 0).sum())})",
            table_text(
                short[["region", "family", "use", "tier", "shortfall", "fill_rate", "reason"]],
                {"shortfall": "int", "fill_rate": "pct"},
                max_width=110,
            ),
        ]
    else:
        out += ["", "No shortfalls: every demand row is fully served."]
    if getattr(result, "marginal", None) is not None:
        out += _explanations_text(result, top)
    disp = result.plan.dispatch.sort_values(["quantity", "source", "region"], ascending=[False, True, True])
    shown = disp.head(shipments)
    out += [
        "",
        f"Shipments ({len(disp)}; largest {len(shown)} shown; all in dispatch.csv with --output)",
        table_text(
            shown[["source", "region", "product", "quantity", "unit_cost", "cost"]],
            {"quantity": "int", "unit_cost": "num", "cost": "num"},
        ),
    ]
    return "\n".join(out) + "\n"


def _explanations_text(result, top: int) -> list[str]:
    """What one more unit is worth where it is worth most, and why sources left short regions out."""
    from allocator.explain.values import ACCOUNT_CODES

    marginal, accounts = result.marginal, result.accounts
    sources = marginal[marginal["kind"] == "source"]
    best = sources.sort_values(["value", "source", "product"], ascending=[False, True, True]).head(min(top, 5))
    out = [
        "",
        f"One more unit at a source: weighted shortfall saved (top {len(best)} of {len(sources)}; every "
        "region and source in marginal.csv with --output)",
        table_text(
            best[["source", "product", "value", "detail"]].rename(columns={"value": "saves"}),
            {"saves": "num"},
            max_width=90,
        ),
    ]
    not_sent = accounts[accounts["line"] == "not_sent"]
    if len(not_sent):
        g = not_sent.groupby("why", sort=False)
        why = pd.DataFrame({"routes": g.size(), "sources": g["source"].nunique()}).reset_index()
        why = why.sort_values(["routes", "why"], ascending=[False, True])
        from allocator.explain.side_values import SIDE_ACCOUNT_CODES  # the codes of plans with side constraints

        why["meaning"] = why["why"].map({**ACCOUNT_CODES, **SIDE_ACCOUNT_CODES})
        out += [
            "",
            "Routes to short regions that got no (more) units, by reason (each in sources.csv with --output)",
            table_text(why[["why", "routes", "sources", "meaning"]], {"routes": "int", "sources": "int"}, max_width=90),
        ]
    return out
