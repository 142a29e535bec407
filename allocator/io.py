"""Reading an instance folder into tables of text, exactly as the files have them.

Nothing here interprets a value: that is ``validate``'s job. What this module
reports is what stops a file being read at all (missing, not UTF-8, ragged rows).
"""

from __future__ import annotations

import csv
import io as _io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import Issue
from .schema import TABLES

__all__ = ["RawInstance", "read_folder", "frames_to_raw"]


@dataclass
class RawInstance:
    """The instance's tables as text, with the row number of every record."""

    name: str
    path: Path | None
    tables: dict[str, pd.DataFrame | None]  # None: file absent
    rows: dict[str, list[int]]  # spreadsheet row number of each record
    policy_path: Path | None
    issues: list[Issue] = field(default_factory=list)


def read_folder(path: str | Path) -> RawInstance:
    """Read every table of an instance folder as text."""
    folder = Path(path)
    issues: list[Issue] = []
    tables: dict[str, pd.DataFrame | None] = {}
    rows: dict[str, list[int]] = {}
    if not folder.is_dir():
        issues.append(Issue(str(folder), None, None, "is not a folder: expected a folder of CSV files "
                            f"({', '.join(t.file for t in TABLES.values())})"))
        return RawInstance(folder.name, folder, {}, {}, None, issues)
    for table in TABLES.values():
        file = folder / table.file
        if not file.exists():
            tables[table.name] = None
            if table.required:
                issues.append(Issue(table.file, None, None, "file is missing: every instance needs it"))
            continue
        frame, numbers, problems = _read_csv(file.read_bytes(), table.file)
        tables[table.name] = frame
        rows[table.name] = numbers
        issues.extend(problems)
    policy = folder / "policy.toml"
    return RawInstance(folder.name, folder, tables, rows, policy if policy.exists() else None, issues)


def frames_to_raw(name: str, frames: dict[str, pd.DataFrame | None]) -> RawInstance:
    """Turn DataFrames given by a program into the same text tables a folder gives."""
    tables: dict[str, pd.DataFrame | None] = {}
    rows: dict[str, list[int]] = {}
    issues: list[Issue] = []
    unknown = sorted(set(frames) - set(TABLES))
    for key in unknown:
        issues.append(Issue(f"{key}.csv", None, None, f"unknown table '{key}': expected one of {', '.join(TABLES)}"))
    for table in TABLES.values():
        frame = frames.get(table.name)
        if frame is None:
            tables[table.name] = None
            if table.required:
                issues.append(Issue(table.file, None, None, "table is missing: every instance needs it"))
            continue
        text = frame.reset_index(drop=True).copy()
        text.columns = [str(c).strip().lower() for c in text.columns]
        for col in text.columns:
            values = text[col]
            text[col] = ["" if _is_missing(v) else _as_text(v) for v in values]
        tables[table.name] = text
        rows[table.name] = list(range(2, len(text) + 2))
    return RawInstance(name, None, tables, rows, None, issues)


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _read_csv(data: bytes, file: str) -> tuple[pd.DataFrame | None, list[int], list[Issue]]:
    issues: list[Issue] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        issues.append(Issue(file, line, None, "is not UTF-8 text: save it as 'CSV UTF-8' (byte "
                            f"{exc.start} cannot be decoded)"))
        return None, [], issues
    if not text.strip():
        issues.append(Issue(file, None, None, "file is empty: expected a header row and data rows"))
        return None, [], issues
    reader = csv.reader(_io.StringIO(text, newline=""))
    header: list[str] | None = None
    records: list[list[str]] = []
    numbers: list[int] = []
    try:
        for raw in reader:
            line = reader.line_num
            if not raw or all(not cell.strip() for cell in raw):
                continue
            cells = [cell.strip() for cell in raw]
            if header is None:
                header = [c.lower() for c in cells]
                header_line = line
                for i, name in enumerate(header):
                    if not name:
                        issues.append(Issue(file, line, None, f"column {i + 1} of the header has no name"))
                dupes = sorted({h for h in header if h and header.count(h) > 1})
                for name in dupes:
                    issues.append(Issue(file, line, name, "column appears more than once in the header"))
                continue
            if len(cells) != len(header):
                # Trailing empty cells (a stray delimiter at the end) are harmless.
                while len(cells) > len(header) and cells[-1] == "":
                    cells.pop()
                if len(cells) != len(header):
                    issues.append(Issue(file, line, None, f"has {len(cells)} fields where the header "
                                        f"(row {header_line}) has {len(header)}"))
                    continue
            records.append(cells)
            numbers.append(line)
    except csv.Error as exc:
        issues.append(Issue(file, reader.line_num, None, f"cannot be read as CSV: {exc}"))
        return None, [], issues
    if header is None:
        issues.append(Issue(file, None, None, "file is empty: expected a header row and data rows"))
        return None, [], issues
    frame = pd.DataFrame(records, columns=header, dtype=object) if records else pd.DataFrame(
        {h: pd.Series([], dtype=object) for h in dict.fromkeys(header)})
    if any(header.count(h) > 1 for h in header):
        return None, [], issues
    return frame, numbers, issues
