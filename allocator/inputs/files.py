"""Reading an instance folder into tables of text, exactly as the files have them.

Nothing here interprets a value: that is ``validate``'s job. What this module
reports is what stops a file being read at all (missing, not UTF-8, ragged rows).
"""

from __future__ import annotations

import csv
import io as _io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from allocator.errors import Issue
from allocator.inputs.schema import TABLES

__all__ = ["RawInstance", "read_path", "read_folder", "read_workbook", "frames_to_raw"]

ACCEPTED = "a folder of CSV files (UTF-8 or GB18030/GBK) or an Excel workbook (.xlsx, one sheet per table)"


def read_path(path: str | Path) -> RawInstance:
    """Read an instance from a folder of CSV files or from an ``.xlsx`` workbook."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in (".xlsx", ".xlsm"):
        return read_workbook(p)
    if p.is_file():
        issue = Issue(str(p), None, None, f"is a file of a kind allocator does not read: expected {ACCEPTED}")
        return RawInstance(p.stem, p, {}, {}, None, [issue])
    return read_folder(p)


@dataclass
class RawInstance:
    """The instance's tables as text, with the row number of every record."""

    name: str
    path: Path | None
    tables: dict[str, pd.DataFrame | None]  # None: file absent
    rows: dict[str, list[int]]  # spreadsheet row number of each record
    policy_path: Path | None
    issues: list[Issue] = field(default_factory=list)
    policy_data: dict | None = None  # a workbook's policy sheet, as TOML-like data
    labels: dict[str, str] = field(default_factory=dict)  # how messages name each table

    def label(self, table: str) -> str:
        return self.labels.get(table, f"{table}.csv")


def read_folder(path: str | Path) -> RawInstance:
    """Read every table of an instance folder as text."""
    folder = Path(path)
    issues: list[Issue] = []
    tables: dict[str, pd.DataFrame | None] = {}
    rows: dict[str, list[int]] = {}
    if not folder.is_dir():
        issues.append(Issue(str(folder), None, None, f"is not a folder: expected {ACCEPTED}"))
        return RawInstance(folder.name, folder, {}, {}, None, issues)
    for table in TABLES.values():
        file = folder / table.file
        if not file.exists():
            tables[table.name] = None
            if table.required:
                issues.append(Issue(table.file, None, None, "file is missing: every instance needs it"))
            continue
        frame, numbers, problems = read_csv_rows(file.read_bytes(), table.file)
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


def decode_text(data: bytes, file: str) -> tuple[str | None, Issue | None]:
    """UTF-8 (with or without BOM) first; then GB18030, the superset of GBK that Excel writes in
    Chinese locales. Returns the text and an issue: a warning when GB18030 was used, an error
    when neither reads."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        line = data[:first_bad].count(b"\n") + 1
        return None, Issue(
            file,
            line,
            None,
            f"is neither UTF-8 nor GB18030/GBK text: save it as 'CSV UTF-8' (byte {first_bad} cannot be decoded)",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, Issue(
        file, None, None, "is not UTF-8; read as GB18030/GBK (Excel's CSV in Chinese locales)", "warning"
    )


def read_workbook(path: Path) -> RawInstance:
    """Read an ``.xlsx`` workbook: one sheet per table (named like the CSV files, without
    ``.csv``), and an optional ``policy`` sheet with columns ``key`` and ``value``
    (``equity``, ``weights.icu``, ``routes.cost_per_km``, ...). Rows are Excel's row numbers."""
    import openpyxl

    issues: list[Issue] = []
    tables: dict[str, pd.DataFrame | None] = {}
    rows: dict[str, list[int]] = {}
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        issues.append(
            Issue(
                path.name,
                None,
                None,
                f"cannot be opened as an Excel workbook ({type(exc).__name__}: "
                f"{exc}); expected an .xlsx file saved by Excel or LibreOffice",
            )
        )
        return RawInstance(path.stem, path, {}, {}, None, issues)
    sheets = {name.strip().lower().removesuffix(".csv"): name for name in book.sheetnames}
    for table in TABLES.values():
        label = f"{path.name}[{table.name}]"
        name = sheets.get(table.name)
        if name is None:
            tables[table.name] = None
            if table.required:
                issues.append(
                    Issue(
                        path.name,
                        None,
                        None,
                        f"has no sheet '{table.name}': every instance needs it "
                        f"(sheets found: {', '.join(book.sheetnames)})",
                    )
                )
            continue
        frame, numbers, problems = _read_sheet(book[name], label)
        tables[table.name] = frame
        rows[table.name] = numbers
        issues.extend(problems)
    policy_data = None
    if "policy" in sheets:
        frame, numbers, problems = _read_sheet(book[sheets["policy"]], f"{path.name}[policy]")
        issues.extend(problems)
        if frame is not None:
            if not {"key", "value"} <= set(frame.columns):
                issues.append(Issue(f"{path.name}[policy]", 1, None, "expected the columns key and value"))
            else:
                policy_data = {}
                for key, value in zip(frame["key"], frame["value"], strict=True):
                    head, _, tail = key.partition(".")
                    if tail:
                        policy_data.setdefault(head, {})[tail] = value
                    else:
                        policy_data[head] = value
    book.close()
    labels = {t: f"{path.name}[{t}]" for t in TABLES}
    return RawInstance(path.stem, path, tables, rows, None, issues, policy_data=policy_data, labels=labels)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _read_sheet(sheet, label: str) -> tuple[pd.DataFrame | None, list[int], list[Issue]]:
    issues: list[Issue] = []
    header: list[str] | None = None
    records: list[list[str]] = []
    numbers: list[int] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [_cell_text(v) for v in values]
        if not any(cells):
            continue
        if header is None:
            while cells and not cells[-1]:
                cells.pop()
            header = [c.lower() for c in cells]
            for i, name in enumerate(header):
                if not name:
                    issues.append(Issue(label, number, None, f"column {i + 1} of the header has no name"))
            continue
        extra = [c for c in cells[len(header) :] if c]
        if extra:
            issues.append(
                Issue(
                    label,
                    number,
                    None,
                    f"has {len(header) + len(extra)} or more cells where the header has {len(header)}",
                )
            )
            continue
        cells = (cells + [""] * len(header))[: len(header)]
        records.append(cells)
        numbers.append(number)
    if header is None:
        issues.append(Issue(label, None, None, "sheet is empty: expected a header row and data rows"))
        return None, [], issues
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    for name in dupes:
        issues.append(Issue(label, 1, name, "column appears more than once in the header"))
    if dupes:
        return None, [], issues
    frame = (
        pd.DataFrame(records, columns=header, dtype=object)
        if records
        else pd.DataFrame({h: pd.Series([], dtype=object) for h in header})
    )
    return frame, numbers, issues


def read_csv_rows(data: bytes, file: str) -> tuple[pd.DataFrame | None, list[int], list[Issue]]:
    issues: list[Issue] = []
    text, problem = decode_text(data, file)
    if text is None:
        issues.append(problem)
        return None, [], issues
    if problem is not None:
        issues.append(problem)
    if not text.strip():
        issues.append(Issue(file, None, None, "file is empty: expected a header row and data rows"))
        return None, [], issues
    plain = _read_plain_csv(text)
    if plain is not None:
        return plain[0], plain[1], issues
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
                    issues.append(
                        Issue(
                            file,
                            line,
                            None,
                            f"has {len(cells)} fields where the header (row {header_line}) has {len(header)}",
                        )
                    )
                    continue
            records.append(cells)
            numbers.append(line)
    except csv.Error as exc:
        issues.append(Issue(file, reader.line_num, None, f"cannot be read as CSV: {exc}"))
        return None, [], issues
    if header is None:
        issues.append(Issue(file, None, None, "file is empty: expected a header row and data rows"))
        return None, [], issues
    frame = (
        pd.DataFrame(records, columns=header, dtype=object)
        if records
        else pd.DataFrame({h: pd.Series([], dtype=object) for h in dict.fromkeys(header)})
    )
    if any(header.count(h) > 1 for h in header):
        return None, [], issues
    return frame, numbers, issues


_OTHER_SPACE = re.compile(r"[^\S \n]")  # whitespace other than the plain space and the newline


def _read_plain_csv(text: str) -> tuple[pd.DataFrame, list[int]] | None:
    """The common case at C speed: no quotes, ``\\n`` line ends, no blank line, every row as
    wide as a well-formed header. Anything else returns None, for the reader that reports
    exactly what is wrong (a 1.7-million-row routes.csv takes seconds there)."""
    if '"' in text or "\r" in text:
        return None
    body = text.rstrip("\n")
    first = body.split("\n", 1)[0]
    header = [c.strip().lower() for c in first.split(",")]
    n_lines = body.count("\n") + 1
    if "" in header or len(set(header)) != len(header) or n_lines < 2:
        return None
    # As many delimiters as rows x (width - 1): a short row would need a long one, which the
    # parser refuses; an empty line would need one too.
    if body.count(",") != n_lines * (len(header) - 1):
        return None
    try:
        with warnings.catch_warnings():  # a row wider than the header: the other reader reports it
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                _io.StringIO(body),
                header=None,
                skiprows=1,
                names=list(range(len(header))),
                dtype=str,
                na_filter=False,
                skip_blank_lines=False,
                index_col=False,
                engine="c",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        return None
    if len(frame) != n_lines - 1:
        return None
    frame.columns = header
    spaced = (
        any(p in body for p in (" ,", ", ", " \n", "\n "))
        or body[:1] == " "
        or body[-1:] == " "
        or (any(c in body for c in "\t\x0b\x0c\x1c\x1d\x1e\x1f") if body.isascii() else _OTHER_SPACE.search(body))
    )
    if spaced:
        for col in header:
            frame[col] = frame[col].str.strip()
    if (spaced or "\n" + "," * (len(header) - 1) + "\n" in body + "\n") and (frame == "").all(axis=1).any():
        return None  # a row of empty cells is skipped by the other reader
    return frame, list(range(2, n_lines + 1))


# Cells a spreadsheet would evaluate (a formula) are written with a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Prefix text that a spreadsheet would evaluate with an apostrophe; ``unneutralise`` undoes it."""
    return "'" + text if text.startswith(FORMULA_START) else text


def unneutralise(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text
