"""Outputs: all or nothing, never a partial plan; no spreadsheet formulas; plan.xlsx."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from helpers import run_cli
from test_validation import make

import allocator
from allocator.report.folder import OutputError, write_outputs

ROOT = Path(__file__).resolve().parents[1]
SUITS = ROOT / "instances" / "suits-2020-02-05"


@pytest.fixture(scope="module")
def result():
    return allocator.solve(allocator.load(SUITS))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_interrupted_write_leaves_the_previous_plan(tmp_path, result, monkeypatch):
    out = tmp_path / "plan"
    write_outputs(result, out)
    before = snapshot(out)
    other = allocator.solve(result.instance, equity=False)
    calls = []

    def interrupted(path, data):
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        Path(path).write_bytes(data)

    monkeypatch.setattr("allocator.report.folder._write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(other, out)
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]  # no temporary folder left behind


def test_killed_process_leaves_the_previous_plan(tmp_path):
    """A process killed outright mid-write (no clean-up runs) leaves the old plan whole."""
    out = tmp_path / "plan"
    subprocess.run(
        [sys.executable, "-m", "allocator", "solve", str(SUITS), "--output", str(out)], check=True, capture_output=True
    )
    before = snapshot(out)
    script = textwrap.dedent(f"""
        import os, allocator.report.folder as r
        real = r._write_file
        n = []
        def dying(path, data):
            n.append(1)
            if len(n) == 3:
                os._exit(9)
            real(path, data)
        r._write_file = dying
        from allocator.cli.main import main
        main(["solve", {str(SUITS)!r}, "--equity", "off", "--output", {str(out)!r}])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == 9
    assert snapshot(out) == before
    # Killed before the swap: the half-written new folder is hidden beside it, never in its place.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "plan"]
    assert all(name.startswith(".plan.new-") for name in leftovers)


def test_output_folder_with_other_files_is_refused(tmp_path, result, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError):
        write_outputs(result, out)
    code, text = run_cli(capsys, "solve", str(SUITS), "--output", str(out))
    assert code == 2 and "holds files that are not a plan's (notes.txt)" in text
    assert (out / "notes.txt").read_text() == "keep me"


def test_formulas_are_neutralised_in_csv_and_xlsx(tmp_path, capsys):
    folder = make(
        tmp_path,
        sources_csv="source,name,region\ns1,=HYPERLINK(\"http://x\"),hubei\n@s2,+cmd|' /C calc'!A0,henan\n",
        supply_csv="source,product,quantity\ns1,gb,100\n@s2,em,50\n",
    )
    out = tmp_path / "plan"
    code, _ = run_cli(capsys, "solve", str(folder), "--output", str(out), "--excel")
    assert code == 0
    text = (out / "dispatch.csv").read_text()
    assert "'=HYPERLINK" in text and "'@s2" in text and "'+cmd" in text
    for line in text.splitlines():
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "@")), cell
    book = openpyxl.load_workbook(out / "plan.xlsx")
    ws = book["dispatch"]
    values = [c for row in ws.iter_rows(values_only=True) for c in row]
    assert '=HYPERLINK("http://x")' in values  # kept as text...
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"  # ...never stored as a formula
    # The plan reads back with its ids intact.
    code, text = run_cli(capsys, "verify", str(folder), str(out))
    assert code == 0, text


def test_plan_xlsx_matches_the_csv(tmp_path, result):
    out = tmp_path / "plan"
    write_outputs(result, out, excel=True)
    sheets = pd.read_excel(out / "plan.xlsx", sheet_name=None)
    assert set(sheets) == {"dispatch", "fill", "allocation", "by_tier", "by_region", "summary"}
    csv = pd.read_csv(out / "dispatch.csv")
    assert sheets["dispatch"]["quantity"].tolist() == csv["quantity"].tolist()
    assert os.path.getsize(out / "plan.xlsx") < 200_000


def test_csv_text_is_what_csv_writer_gives():
    """The column-wise writer gives the bytes the row-by-row csv.writer gave: quoting, numbers, formulas."""
    import csv
    import io

    import numpy as np
    import pandas as pd

    from allocator.inputs.files import neutralise
    from allocator.numbers import csv_number as _fmt_num
    from allocator.report.folder import csv_text

    def by_rows(frame):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([neutralise(str(c)) for c in frame.columns])
        for row in frame.itertuples(index=False):
            w.writerow([neutralise(v) if isinstance(v, str) else _fmt_num(v) for v in row])
        return buf.getvalue()

    frame = pd.DataFrame(
        {
            "text": ["x", "=1+1", 'say "hi"', "a,b", None, "l\nb"],
            "float": [1.0, 2.5, np.nan, -0.0, 1e16, 1 / 3],
            "int": [1, 2, 3, -4, 5, 6],
            "bool": [True, False, True, True, False, True],
            "small": [0.1234567, 1e-10, -3.0000000001, 123456.789, np.nan, -1e-7],
            "str": pd.Series(["a", "-b", "c", "", "e", "f"], dtype="str"),
        }
    )
    for part in (frame, frame.iloc[:0], frame[[]], frame[["float"]]):
        assert csv_text(part) == by_rows(part)
