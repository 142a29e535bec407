"""Validation: from text tables to a typed ``Instance``, or every problem at once.

Each problem is an ``Issue`` naming the file, the row (as a spreadsheet numbers it) and
the column, and saying what was expected. Errors stop the instance from reaching the
solver; warnings (demand no route can reach, ...) are kept on the instance.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InstanceError, Issue, PolicyError
from allocator.inputs.files import RawInstance, frames_to_raw, read_path
from allocator.inputs.instance import Instance
from allocator.inputs.policy import Policy, load_policy, policy_from_dict
from allocator.inputs.schema import MAX_COST, MAX_DAYS, MAX_QUANTITY, TABLES, Column, Table

__all__ = ["load", "check", "from_frames", "validate_folder"]

OPTIONAL_TABLES = tuple(t.name for t in TABLES.values() if not t.required)

_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


def load(path: str | Path, policy: Policy | None = None, overrides: list[str] | None = None) -> Instance:
    """Read and validate an instance folder; raise ``InstanceError`` listing every error."""
    raw = read_path(path)
    return check(raw, policy=policy, overrides=overrides)


def validate_folder(path: str | Path, overrides: list[str] | None = None) -> tuple[Instance | None, list[Issue]]:
    """Like ``load`` but return ``(instance or None, all issues)`` instead of raising."""
    try:
        instance = load(path, overrides=overrides)
    except InstanceError as exc:
        return None, exc.issues
    return instance, list(instance.warnings)


def check(raw: RawInstance, policy: Policy | None = None, overrides: list[str] | None = None) -> Instance:
    """Validate text tables; return the typed instance or raise ``InstanceError``."""
    issues = list(raw.issues)
    if policy is None:
        where = "policy.toml" if raw.policy_data is None else f"{raw.path.name if raw.path else raw.name}[policy]"
        try:
            policy = (
                load_policy(raw.policy_path) if raw.policy_data is None else policy_from_dict(raw.policy_data, where)
            )
        except PolicyError as exc:
            issues.append(Issue(where, None, None, str(exc).removeprefix(f"{where}: ")))
            policy = Policy()
    try:
        policy = policy.with_overrides(overrides)
    except PolicyError as exc:
        issues.append(Issue("policy override", None, None, str(exc)))
    typed: dict[str, pd.DataFrame | None] = {}
    with_duplicates: set[str] = set()
    for table in TABLES.values():
        frame = raw.tables.get(table.name)
        if frame is None:
            typed[table.name] = None
            continue
        typed[table.name] = _parse_table(
            table, frame, raw.rows.get(table.name, []), policy, issues, raw.label(table.name), with_duplicates
        )
    required_parsed = all(typed.get(t.name) is not None for t in TABLES.values() if t.required)
    optional_parsed = all(raw.tables.get(t) is None or typed[t] is not None for t in OPTIONAL_TABLES)
    if required_parsed and optional_parsed:
        # Cross-table checks run even when cells are bad, so that every problem shows at once;
        # bad cells were already reported and hold a neutral value here.
        # Duplicate ids were reported above; the cross checks see each id once.
        unique = {
            name: frame.drop_duplicates(subset=list(TABLES[name].key)) if name in with_duplicates else frame
            for name, frame in typed.items()
        }
        _check_references(unique, raw, policy, issues)
        _check_substitutes(unique, raw, policy, issues)
        _check_days(unique, raw, issues)
        _check_side_tables(unique, raw, issues)
        unknown = sorted(set(policy.region_weights) - set(unique["regions"]["region"]))
        if unknown:
            issues.append(
                Issue(
                    "policy",
                    None,
                    "region_weight",
                    f"unknown region(s) {', '.join(unknown)}: expected region ids from regions.csv",
                )
            )
        for name, frame in unique.items():
            if frame is not None and typed[name] is not None and len(frame) == len(typed[name]):
                typed[name] = frame  # the checks may have filled defaults (products' family)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise InstanceError(issues)
    instance = Instance(
        name=raw.name,
        products=typed["products"].reset_index(drop=True),
        sources=typed["sources"].reset_index(drop=True),
        supply=typed["supply"].reset_index(drop=True),
        regions=typed["regions"].reset_index(drop=True),
        demand=typed["demand"].reset_index(drop=True),
        routes=None if typed["routes"] is None else typed["routes"].reset_index(drop=True),
        stock=None if typed["stock"] is None else typed["stock"].reset_index(drop=True),
        transfers=None if typed["transfers"] is None else typed["transfers"].reset_index(drop=True),
        capacity=None if typed["capacity"] is None else typed["capacity"].reset_index(drop=True),
        commitments=None if typed["commitments"] is None else typed["commitments"].reset_index(drop=True),
        substitutes=None if typed["substitutes"] is None else typed["substitutes"].reset_index(drop=True),
        policy=policy,
        path=raw.path,
        warnings=[],
    )
    instance.warnings = sorted(
        issues + _reachability_warnings(instance, raw), key=lambda i: (i.file, i.row or 0, i.column or "", i.message)
    )
    return instance


# --- one table ---------------------------------------------------------------------------


def _parse_table(
    table: Table,
    frame: pd.DataFrame,
    rows: list[int],
    policy: Policy,
    issues: list[Issue],
    file: str,
    with_duplicates: set[str],
) -> pd.DataFrame | None:
    known = [c.name for c in table.columns]
    for name in frame.columns:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            if close and close[0] not in frame.columns:
                # Most likely a misspelt column: ignoring it would silently drop its values.
                issues.append(Issue(file, 1, name, f"unknown column: did you mean '{close[0]}'?"))
            else:
                issues.append(Issue(file, 1, name, "unknown column (ignored)", "warning"))
    missing = [c.name for c in table.columns if c.required and c.name not in frame.columns]
    for name in missing:
        issues.append(
            Issue(
                file,
                1,
                name,
                f"required column is missing: the header needs {', '.join(known[:1])}"
                f"{''.join(', ' + c.name for c in table.columns[1:] if c.required)}",
            )
        )
    if missing:
        return None
    if len(frame) == 0:
        issues.append(Issue(file, None, None, "has a header but no rows: expected at least one row"))
        return None
    out = pd.DataFrame(index=frame.index)
    row_of = np.asarray(rows if len(rows) == len(frame) else range(2, len(frame) + 2))
    for col in table.columns:
        if col.name in frame.columns:
            out[col.name] = _parse_column(file, col, frame[col.name], row_of, policy, issues)
        else:  # an optional column left out: its empty cell's value (the default) in every row
            one = _parse_column(file, col, pd.Series([""], dtype=object), row_of[:1], policy, issues)
            out[col.name] = pd.Series(np.repeat(one.to_numpy(), len(frame)), index=frame.index, dtype=one.dtype)
    # Unique keys.
    key = list(table.key)
    if all(k in out.columns for k in key):
        dup = out.duplicated(subset=key, keep=False)
        if dup.any():
            with_duplicates.add(table.name)
            first: dict[tuple, int] = {}
            for pos in np.flatnonzero(dup.to_numpy()):
                ident = tuple(out.iloc[pos][k] for k in key)
                if ident in first:
                    shown = ", ".join(f"{k}={v!r}" for k, v in zip(key, ident) if v != "")
                    issues.append(
                        Issue(file, int(row_of[pos]), key[0], f"duplicate {shown}: already on row {first[ident]}")
                    )
                else:
                    first[ident] = int(row_of[pos])
    out["_row"] = row_of
    return out


def _parse_column(
    file: str, col: Column, values: pd.Series, rows: np.ndarray, policy: Policy, issues: list[Issue]
) -> pd.Series:
    # The readers (``io``) give every cell as text, already stripped.
    text = values.astype(str)
    empty = (text == "").to_numpy()
    if col.required:
        for pos in np.flatnonzero(empty):
            issues.append(Issue(file, int(rows[pos]), col.name, f"is empty: expected {_expected(col)}"))
    kind = col.kind
    if kind == "date":
        return _dates(file, col, text, empty, rows, issues)
    if kind in ("id", "ref", "text"):
        if kind == "text" and col.default is not None:
            return text.where(~empty, str(col.default))
        return text
    if kind in ("choice", "bool", "flags"):
        # Few distinct values in many rows: work on each distinct value once.
        codes, distinct = pd.factorize(text.to_numpy(dtype=object))
        parse = {"choice": _choice, "bool": _bool, "flags": _flags}[kind]
        cleaned, problems = zip(*(parse(col, cell, policy) for cell in distinct)) if len(distinct) else ((), ())
        bad = [k for k, messages in enumerate(problems) if messages]
        for pos in np.flatnonzero(np.isin(codes, bad)):  # in row order
            issues.extend(Issue(file, int(rows[pos]), col.name, m) for m in problems[codes[pos]])
        out = np.asarray(cleaned, dtype=object)[codes] if len(distinct) else np.zeros(0, dtype=object)
        if kind == "bool":
            return pd.Series(out.astype(bool), index=values.index, dtype=bool)
        return pd.Series(out, index=values.index, dtype=object if kind == "flags" else None)
    plain = _plain_numbers(text, empty)
    if plain is not None:  # the common case, at C speed: every cell a finite ASCII number or empty
        lo, hi = _range(col)
        with np.errstate(invalid="ignore"):
            bad = (plain < lo) | (plain > hi) | ((plain <= 0) & (col.name == "weight")) | _not_whole(col, plain)
        if not bad.any():
            default = np.nan if col.default is None else float(col.default)
            return pd.Series(np.where(empty, default, plain), index=values.index, dtype=float)
    # Numbers: full-width digits (NFKC) and thousands separators ("42,700") as Excel writes them.
    odd = ~text.str.isascii().to_numpy(bool) | text.str.contains(",", regex=False).to_numpy(bool)
    if odd.any():
        text = text.copy()
        text[odd] = text[odd].map(_number_text)
    numbers = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(float)
    special = text.str.lower().isin(["nan", "inf", "-inf", "infinity", "-infinity"]).to_numpy(bool)
    bad_text = ~empty & np.isnan(numbers) & ~special
    nonfinite = ~empty & ~bad_text & ~np.isfinite(np.where(np.isnan(numbers), np.inf, numbers)) | (~empty & special)
    for mask in (bad_text, nonfinite):
        for pos in np.flatnonzero(mask):
            issues.append(Issue(file, int(rows[pos]), col.name, f"is {text.iloc[pos]!r}: expected {_expected(col)}"))
    ok = ~empty & ~bad_text & ~nonfinite
    lo, hi = _range(col)
    with np.errstate(invalid="ignore"):
        out_of_range = ok & (
            (numbers < lo) | (numbers > hi) | ((numbers <= 0) & (col.name == "weight")) | _not_whole(col, numbers)
        )
    for pos in np.flatnonzero(out_of_range):
        issues.append(Issue(file, int(rows[pos]), col.name, f"is {text.iloc[pos]}: expected {_expected(col)}"))
    default = np.nan if col.default is None else float(col.default)
    return pd.Series(np.where(ok, numbers, default), index=values.index, dtype=float)


def _not_whole(col: Column, numbers: np.ndarray) -> np.ndarray:
    if col.kind not in ("days", "count"):
        return np.zeros(len(numbers), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.isfinite(numbers) & (numbers != np.floor(numbers))


def _dates(
    file: str, col: Column, text: pd.Series, empty: np.ndarray, rows: np.ndarray, issues: list[Issue]
) -> pd.Series:
    """ISO dates (``2020-02-05``), kept as their canonical text; empty cells as ``""``."""
    codes, distinct = pd.factorize(text.to_numpy(dtype=object))
    canonical, bad = [], []
    for k, cell in enumerate(distinct):
        if cell == "":
            canonical.append("")
            continue
        try:
            canonical.append(date.fromisoformat(unicodedata.normalize("NFKC", cell)).isoformat())
        except ValueError:
            canonical.append("")
            bad.append(k)
    for pos in np.flatnonzero(np.isin(codes, bad)):
        issues.append(Issue(file, int(rows[pos]), col.name, f"is {text.iloc[pos]!r}: expected {_expected(col)}"))
    out = np.asarray(canonical, dtype=object)[codes] if len(distinct) else np.zeros(0, dtype=object)
    return pd.Series(out, index=text.index, dtype=object)


def _plain_numbers(text: pd.Series, empty: np.ndarray) -> np.ndarray | None:
    """The column as floats (NaN where empty) when every other cell is a finite number in
    plain ASCII, else None."""
    numbers = np.full(len(text), np.nan)
    cells = text.to_numpy(dtype=object)[~empty]
    joined = "\n".join(cells)
    if not joined.isascii() or "," in joined or "_" in joined:
        return None
    try:
        numbers[~empty] = cells.astype(float)
    except ValueError:
        return None
    return numbers if np.isfinite(numbers[~empty]).all() else None


def _choice(col: Column, cell: str, policy: Policy) -> tuple[str, list[str]]:
    if cell == "":
        return str(col.default), []
    lowered = unicodedata.normalize("NFKC", cell).lower()
    if lowered not in col.choices:
        return lowered, [f"is {cell!r}: expected one of {', '.join(col.choices)}"]
    return lowered, []


def _bool(col: Column, cell: str, policy: Policy) -> tuple[bool, list[str]]:
    if cell == "":
        return bool(col.default), []
    lowered = cell.lower()
    if lowered not in _TRUE | _FALSE:
        return False, [f"is {cell!r}: expected true or false"]
    return lowered in _TRUE, []


def _flags(col: Column, cell: str, policy: Policy) -> tuple[str, list[str]]:
    allowed = policy.flags
    names = [f.strip().lower() for f in cell.replace(",", ";").split(";") if f.strip()]
    problems = [
        f"unknown flag {name!r}: expected any of {', '.join(allowed)} separated by ';' "
        "(or give it a weight in policy.toml [weights])"
        for name in names
        if name not in allowed
    ]
    return ";".join(sorted(dict.fromkeys(names))), problems


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _number_text(cell: str) -> str:
    cell = unicodedata.normalize("NFKC", cell).strip()
    if _THOUSANDS.match(cell):
        cell = cell.replace(",", "")
    return cell


def _range(col: Column) -> tuple[float, float]:
    if col.kind == "quantity":
        return 0.0, MAX_QUANTITY
    if col.kind == "cost":
        return 0.0, MAX_COST
    if col.kind == "lat":
        return -90.0, 90.0
    if col.kind == "lon":
        return -180.0, 180.0
    if col.kind == "days":
        return 0.0, float(MAX_DAYS)
    if col.kind == "fraction":
        return 0.0, 1.0 - 1e-9
    return 0.0, 1e9


def _expected(col: Column) -> str:
    if col.kind == "quantity":
        return f"a number from 0 to {MAX_QUANTITY:.0e}"
    if col.kind == "cost":
        return f"a number from 0 to {MAX_COST:.0e}"
    if col.kind == "lat":
        return "a latitude from -90 to 90"
    if col.kind == "lon":
        return "a longitude from -180 to 180"
    if col.kind == "number":
        return "a number more than 0 and at most 1e9" if col.name == "weight" else "a number from 0 to 1e9"
    if col.kind == "days":
        return f"a whole number of days from 0 to {MAX_DAYS}"
    if col.kind == "count":
        return "a whole number from 0 to 1e9"
    if col.kind == "fraction":
        return "a fraction from 0 up to (not including) 1"
    if col.kind == "date":
        return "a date as YYYY-MM-DD"
    if col.kind == "ref":
        return f"a {col.ref.rstrip('s')} id from {col.ref}.csv"
    if col.kind == "id":
        return f"a {col.name} id"
    return "a value"


# --- across tables -----------------------------------------------------------------------


def _check_references(t: dict[str, pd.DataFrame | None], raw: RawInstance, policy: Policy, issues: list[Issue]) -> None:
    lab = raw.label
    products, sources, supply = t["products"], t["sources"], t["supply"]
    regions, demand, routes = t["regions"], t["demand"], t["routes"]
    assert products is not None and sources is not None and supply is not None
    assert regions is not None and demand is not None
    products["family"] = products["family"].where(products["family"] != "", products["product"])
    ids = {
        "products": products["product"].unique(),
        "sources": sources["source"].unique(),
        "regions": regions["region"].unique(),
    }
    known: dict[str, list[str]] = {}  # sorted ids, for suggestions
    for name, frame in t.items():
        if frame is None or name in ("products", "regions"):
            continue
        table = TABLES[name]
        for col in table.columns:
            if col.kind != "ref":
                continue
            values = frame[col.name]
            bad = ~values.isin(ids[col.ref]) & (values != "")
            for pos in np.flatnonzero(bad.to_numpy()):
                if col.ref not in known:
                    known[col.ref] = sorted(set(ids[col.ref]))
                close = difflib.get_close_matches(values.iloc[pos], known[col.ref], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                issues.append(
                    Issue(
                        lab(table.name),
                        int(frame["_row"].iloc[pos]),
                        col.name,
                        f"unknown {col.ref.rstrip('s')} {values.iloc[pos]!r}: expected {_expected(col)}{hint}",
                    )
                )
    # A family is countable or not as a whole.
    mixed = products.groupby("family")["countable"].nunique()
    for family in mixed[mixed > 1].index:
        issues.append(
            Issue(
                lab("products"),
                None,
                "countable",
                f"family {family!r} mixes countable and non-countable products: expected one kind per family",
            )
        )
    countable_product = dict(zip(products["product"], products["countable"]))
    families = set(products["family"])
    family_countable = products.groupby("family")["countable"].all().to_dict()
    # Whole numbers where the item is countable.
    frac = (
        supply["product"].map(countable_product).eq(True)
        & supply["quantity"].notna()
        & (supply["quantity"] != np.floor(supply["quantity"]))
    )
    for pos in np.flatnonzero(frac.to_numpy()):
        issues.append(
            Issue(
                lab("supply"),
                int(supply["_row"].iloc[pos]),
                "quantity",
                f"is {supply['quantity'].iloc[pos]:g}: product {supply['product'].iloc[pos]!r} is "
                "countable, expected a whole number",
            )
        )
    unknown_family = ~demand["family"].isin(families)
    for pos in np.flatnonzero(unknown_family.to_numpy()):
        fam = demand["family"].iloc[pos]
        close = difflib.get_close_matches(fam, sorted(families), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        issues.append(
            Issue(
                lab("demand"),
                int(demand["_row"].iloc[pos]),
                "family",
                f"no product belongs to family {fam!r}: expected a family from products.csv{hint}",
            )
        )
    frac = (
        demand["family"].map(family_countable).eq(True)
        & demand["quantity"].notna()
        & (demand["quantity"] != np.floor(demand["quantity"]))
    )
    for pos in np.flatnonzero(frac.to_numpy()):
        issues.append(
            Issue(
                lab("demand"),
                int(demand["_row"].iloc[pos]),
                "quantity",
                f"is {demand['quantity'].iloc[pos]:g}: family {demand['family'].iloc[pos]!r} is "
                "countable, expected a whole number",
            )
        )
    if routes is not None:
        frac = (
            routes["product"].map(countable_product).eq(True)
            & routes["capacity"].notna()
            & (routes["capacity"] != np.floor(routes["capacity"]))
        )
        for pos in np.flatnonzero(frac.to_numpy()):
            issues.append(
                Issue(
                    lab("routes"),
                    int(routes["_row"].iloc[pos]),
                    "capacity",
                    f"is {routes['capacity'].iloc[pos]:g}: the product is countable, expected a whole number",
                )
            )
    # Coordinates come in pairs.
    for name, frame in (("sources", sources), ("regions", regions)):
        half = frame["lat"].isna() != frame["lon"].isna()
        for pos in np.flatnonzero(half.to_numpy()):
            col = "lon" if frame["lon"].isna().iloc[pos] else "lat"
            issues.append(
                Issue(
                    lab(name),
                    int(frame["_row"].iloc[pos]),
                    col,
                    "is empty but the other coordinate is given: expected both lat and lon",
                )
            )
    if routes is None:
        # Every route is priced from great-circle distance: coordinates are needed.
        region_has = regions.set_index("region")["lat"].notna()
        src_has = sources["lat"].notna() | sources["region"].map(region_has).eq(True)
        for pos in np.flatnonzero(~src_has.to_numpy()):
            issues.append(
                Issue(
                    lab("sources"),
                    int(sources["_row"].iloc[pos]),
                    "lat",
                    "no coordinates for the source or its region, and there is no routes.csv: expected "
                    "lat and lon here or in regions.csv, or a routes.csv with costs",
                )
            )
        needed = set(demand["region"])
        for pos in np.flatnonzero((regions["lat"].isna() & regions["region"].isin(needed)).to_numpy()):
            issues.append(
                Issue(
                    lab("regions"),
                    int(regions["_row"].iloc[pos]),
                    "lat",
                    "region has demand but no coordinates, and there is no routes.csv: expected lat and "
                    "lon, or a routes.csv with costs",
                )
            )


def _check_side_tables(t: dict[str, pd.DataFrame | None], raw: RawInstance, issues: list[Issue]) -> None:
    """Shared capacity, commitments, lots and destination limits (``constrained``)."""
    lab = raw.label
    products, sources, routes, cap, com = t["products"], t["sources"], t["routes"], t["capacity"], t["commitments"]
    countable = dict(zip(products["product"], products["countable"]))
    for col in ("per_pallet", "per_truck"):
        for pos in np.flatnonzero((products[col] == 0).to_numpy(bool)):
            issues.append(
                Issue(
                    lab("products"),
                    int(products["_row"].iloc[pos]),
                    col,
                    "is 0: expected a number of units more than 0 (or empty)",
                )
            )
    frac = products["countable"] & (products["min_lot"] != np.floor(products["min_lot"]))
    for pos in np.flatnonzero(frac.to_numpy(bool)):
        issues.append(
            Issue(
                lab("products"),
                int(products["_row"].iloc[pos]),
                "min_lot",
                f"is {products['min_lot'].iloc[pos]:g}: the product is countable, expected a whole number",
            )
        )
    if cap is not None:
        corridors = set(routes["corridor"]) - {""} if routes is not None else set()
        for pos, rec in enumerate(cap.itertuples(index=False)):
            line = int(cap["_row"].iloc[pos])
            if rec.source == "" and rec.region == "" and rec.corridor == "":
                issues.append(
                    Issue(
                        lab("capacity"),
                        line,
                        "source",
                        "source, region and corridor are all empty: "
                        "expected at least one (the routes the capacity applies to)",
                    )
                )
            if rec.corridor != "" and rec.corridor not in corridors:
                where = "no route of routes.csv" if routes is not None else "there is no routes.csv"
                issues.append(
                    Issue(
                        lab("capacity"),
                        line,
                        "corridor",
                        f"unknown corridor {rec.corridor!r}: {where} names it in its corridor column",
                    )
                )
        # Every product that can be shipped needs the size the capacity rows count in.
        shipped = products["product"].isin(t["supply"].loc[t["supply"]["quantity"] > 0, "product"])
        for measure in sorted(set(cap["measure"]) - {"units"}):
            column = {"pallets": "per_pallet", "trucks": "per_truck", "volume": "unit_volume", "mass": "unit_mass"}[
                measure
            ]
            first = int(cap.loc[cap["measure"] == measure, "_row"].iloc[0])
            for pos in np.flatnonzero((shipped & products[column].isna()).to_numpy(bool)):
                issues.append(
                    Issue(
                        lab("products"),
                        int(products["_row"].iloc[pos]),
                        column,
                        f"is empty: capacity.csv row {first} counts {measure}, expected the "
                        f"{column} of every product with supply",
                    )
                )
    if com is not None:
        frac = com["product"].map(countable).eq(True) & (com["minimum"] != np.floor(com["minimum"]))
        for pos in np.flatnonzero(frac.to_numpy(bool)):
            issues.append(
                Issue(
                    lab("commitments"),
                    int(com["_row"].iloc[pos]),
                    "minimum",
                    f"is {com['minimum'].iloc[pos]:g}: the product is countable, expected a whole number",
                )
            )
    # The daily plan only: the multi-day model has none of these rows.
    multi_day = (
        t["stock"] is not None
        or t["transfers"] is not None
        or len({d for name in ("supply", "demand") for d in t[name]["day"] if d}) > 1
    )
    if multi_day:
        used = [(name, None, None) for name in ("capacity", "commitments") if t[name] is not None]
        used += [
            ("products", int(products["_row"].iloc[p]), "min_lot")
            for p in np.flatnonzero((products["min_lot"] > 0).to_numpy(bool))[:1]
        ]
        used += [
            ("sources", int(sources["_row"].iloc[p]), "max_destinations")
            for p in np.flatnonzero(sources["max_destinations"].notna().to_numpy(bool))[:1]
        ]
        for name, line, column in used:
            issues.append(
                Issue(
                    lab(name),
                    line,
                    column,
                    "applies to the daily plan (allocator solve) only: "
                    "expected a one-day instance without stock or transfers",
                )
            )


def _check_days(t: dict[str, pd.DataFrame | None], raw: RawInstance, issues: list[Issue]) -> None:
    """The multi-day columns and tables: durable families, stock holders, dated rows."""
    lab = raw.label
    products = t["products"]
    mixed = products.groupby("family")["durable"].nunique()
    for family in mixed[mixed > 1].index:
        # Name the first row that differs from the family's first product.
        rows = products.loc[products["family"] == family]
        first = rows.iloc[0]
        odd = rows.loc[rows["durable"] != first["durable"]].iloc[0]
        kinds = {True: "durable", False: "consumable"}
        issues.append(
            Issue(
                lab("products"),
                int(odd["_row"]),
                "durable",
                f"product {odd['product']!r} is {kinds[bool(odd['durable'])]} but product "
                f"{first['product']!r} of the same family {family!r} is "
                f"{kinds[bool(first['durable'])]}: expected one kind per family",
            )
        )
    for name, key in (("supply", ["source", "product"]), ("demand", ["region", "family", "use"])):
        frame = t[name]
        dated = frame["day"] != ""
        if dated.all() or not dated.any():
            continue
        keys_dated = set(map(tuple, frame.loc[dated, key].to_numpy(dtype=object).tolist()))
        rows = [pos for pos in np.flatnonzero(~dated.to_numpy()) if tuple(frame[key].iloc[pos].tolist()) in keys_dated]
        for pos in rows:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(key, frame[key].iloc[pos].tolist()))
            issues.append(
                Issue(
                    lab(name),
                    int(frame["_row"].iloc[pos]),
                    "day",
                    f"is empty (every day) but other rows give {shown} on dated days: expected a day "
                    "on every row of it, or on none",
                )
            )
    stock = t["stock"]
    if stock is not None:
        neither = (stock["source"] == "") == (stock["region"] == "")
        for pos in np.flatnonzero(neither.to_numpy()):
            what = "both" if stock["source"].iloc[pos] != "" else "neither"
            issues.append(
                Issue(
                    lab("stock"),
                    int(stock["_row"].iloc[pos]),
                    "source",
                    f"names {what} a source and a region: expected exactly one holder",
                )
            )
        countable = dict(zip(products["product"], products["countable"]))
        for col in ("quantity", "floor"):
            frac = stock["product"].map(countable).eq(True) & (stock[col] != np.floor(stock[col]))
            for pos in np.flatnonzero(frac.to_numpy()):
                issues.append(
                    Issue(
                        lab("stock"),
                        int(stock["_row"].iloc[pos]),
                        col,
                        f"is {stock[col].iloc[pos]:g}: product {stock['product'].iloc[pos]!r} is "
                        "countable, expected a whole number",
                    )
                )
    transfers = t["transfers"]
    if transfers is not None:
        loop = transfers["from_region"] == transfers["to_region"]
        for pos in np.flatnonzero(loop.to_numpy()):
            issues.append(
                Issue(
                    lab("transfers"),
                    int(transfers["_row"].iloc[pos]),
                    "to_region",
                    "is the same region as from_region: expected another region",
                )
            )


def _check_substitutes(
    t: dict[str, pd.DataFrame | None], raw: RawInstance, policy: Policy, issues: list[Issue]
) -> None:
    """``substitutes.csv``: each row lets a product serve another family's demand of one use.

    The family must be one some product belongs to, not the product's own (its own family's
    rows it serves anyway), and of the same kind: countable and divisible goods are planned in
    different units. The preference is 1 or more (0 is the family's own products). The ICU rule
    still holds: a general-grade product never serves ICU use (an error), an ICU-grade one
    serves general use only where the policy allows (else the row does nothing: a warning).
    """
    subs, products = t.get("substitutes"), t["products"]
    if subs is None or products is None:
        return
    lab = raw.label("substitutes")
    by_product = products.drop_duplicates("product").set_index("product")
    known = subs["product"].isin(by_product.index).to_numpy()
    product, family = subs["product"].to_numpy(object), subs["family"].to_numpy(object)
    use, row = subs["use"].to_numpy(object), subs["_row"].to_numpy()
    own = subs["product"].map(by_product["family"]).to_numpy(object)
    grade = subs["product"].map(by_product["grade"]).to_numpy(object)
    countable = subs["product"].map(by_product["countable"]).to_numpy(object)
    families = sorted(set(products["family"]))
    family_countable = products.groupby("family")["countable"].all()
    for pos in np.flatnonzero(known & (family != "")):
        p, f, r = product[pos], family[pos], int(row[pos])
        if f not in family_countable.index:
            close = difflib.get_close_matches(f, families, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            issues.append(
                Issue(
                    lab, r, "family", f"no product belongs to family {f!r}: expected a family from products.csv{hint}"
                )
            )
        elif f == own[pos]:
            issues.append(
                Issue(
                    lab,
                    r,
                    "family",
                    f"is {f!r}, the family of product {p!r} itself: a product serves "
                    "its own family anyway; expected another family",
                )
            )
        elif bool(family_countable[f]) != bool(countable[pos]):
            kinds = {True: "countable", False: "divisible (not countable)"}
            issues.append(
                Issue(
                    lab,
                    r,
                    "family",
                    f"family {f!r} is {kinds[bool(family_countable[f])]} but product "
                    f"{p!r} is {kinds[bool(countable[pos])]}: they are planned in different units; "
                    "expected a family of the same kind",
                )
            )
        if use[pos] == "icu" and grade[pos] == "general":
            issues.append(
                Issue(
                    lab,
                    r,
                    "use",
                    f"is 'icu' but product {p!r} is general-grade: ICU demand takes "
                    "ICU-grade products only; expected 'general' or an ICU-grade product",
                )
            )
        elif use[pos] == "general" and grade[pos] == "icu" and not policy.icu_grade_for_general:
            issues.append(
                Issue(
                    lab,
                    r,
                    "use",
                    f"product {p!r} is ICU-grade and the policy keeps ICU-grade items "
                    "for ICU use (icu_grade_for_general = false): this row has no effect",
                    "warning",
                )
            )
    preference = subs["preference"].to_numpy(float)
    for pos in np.flatnonzero(preference < 1):
        issues.append(
            Issue(
                lab,
                int(row[pos]),
                "preference",
                f"is {preference[pos]:g}: expected a whole number 1 "
                "or more (1: the first substitute; the family's own products always come first)",
            )
        )


def _reachability_warnings(instance: Instance, raw: RawInstance) -> list[Issue]:
    """Warn about demand that no supply can reach: it will be short whatever the plan."""
    from allocator.inputs.reach import demand_reach

    demand = instance.demand
    if len(demand) == 0:
        return []
    has_supply, reachable = demand_reach(instance)
    one_day = instance.one_day()
    wants = demand["quantity"].to_numpy(float) > 0
    out: list[Issue] = []
    pos = np.flatnonzero(wants & ~(has_supply & reachable))
    columns = [demand[c].to_numpy(object)[pos] for c in ("family", "use", "region")]
    for family, use, region, row, supplied in zip(
        *columns, demand["_row"].to_numpy()[pos].tolist(), has_supply[pos].tolist()
    ):
        if not supplied:
            grade = "ICU-grade " if use == "icu" else ""
            when = "today" if one_day else "made or in stock on any day"
            msg = f"no {grade}supply of family {family!r} anywhere {when}: this {use} demand will be short"
        elif one_day:
            msg = (
                f"no route from any source holding family {family!r} reaches region {region!r}: "
                "this demand will be short"
            )
        else:
            msg = (
                f"no route or transfer from any source or region holding family {family!r} reaches region "
                f"{region!r}: this demand will be short"
            )
        out.append(Issue(raw.label("demand"), int(row), None, msg, "warning"))
    return out


def from_frames(
    *,
    products: pd.DataFrame,
    sources: pd.DataFrame,
    supply: pd.DataFrame,
    regions: pd.DataFrame,
    demand: pd.DataFrame,
    routes: pd.DataFrame | None = None,
    policy: Policy | None = None,
    name: str = "instance",
    stock: pd.DataFrame | None = None,
    transfers: pd.DataFrame | None = None,
    capacity: pd.DataFrame | None = None,
    commitments: pd.DataFrame | None = None,
    substitutes: pd.DataFrame | None = None,
) -> Instance:
    """Validate DataFrames as if they were the files of a folder; raise ``InstanceError``."""
    raw = frames_to_raw(
        name,
        {
            "products": products,
            "sources": sources,
            "supply": supply,
            "regions": regions,
            "demand": demand,
            "routes": routes,
            "stock": stock,
            "transfers": transfers,
            "capacity": capacity,
            "commitments": commitments,
            "substitutes": substitutes,
        },
    )
    return check(raw, policy=policy)
