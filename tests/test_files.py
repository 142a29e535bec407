"""Files as planners have them: GBK/GB18030 CSV, thousands separators, full-width digits,
Chinese names, an Excel workbook instead of a folder; and what is rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from test_validation import VALID, make

import allocator

CHINESE = {
    "products.csv": "product,name,family,grade\ngb,国标防护服,suit,icu\nem,应急防护服,suit,general\n",
    "sources.csv": "source,name,region\ns1,洁利康,hubei\ns2,三奇,henan\n",
    "supply.csv": 'source,product,quantity\ns1,gb,"42,700"\ns2,em,"１，２００"\n',
    "regions.csv": "region,name,name_zh,lat,lon,flags\nhubei,Hubei,湖北,30.59,114.31,level_one_response\n"
    "henan,Henan,河南,34.75,113.63,\n",
    "demand.csv": 'region,family,use,quantity\nhubei,suit,icu,"100,000"\nhubei,suit,general,500\n'
    "henan,suit,general,900\n",
}


def test_gbk_csv_with_thousands_separators_and_chinese_names(tmp_path, capsys):
    folder = tmp_path / "gbk"
    folder.mkdir()
    for name, text in CHINESE.items():
        (folder / name).write_bytes(text.encode("gb18030"))
    inst = allocator.load(folder)
    assert inst.supply.set_index("source")["quantity"].to_dict() == {"s1": 42_700, "s2": 1_200}
    assert inst.demand["quantity"].tolist() == [100_000, 500, 900]
    assert inst.sources.set_index("source").loc["s1", "name"] == "洁利康"
    assert any("read as GB18030/GBK" in w.message for w in inst.warnings)
    code, text = run_cli(capsys, "solve", str(folder))
    assert code == 0 and "42,700" in text


def test_utf8_with_bom_and_chinese(tmp_path):
    folder = tmp_path / "bom"
    folder.mkdir()
    for name, text in CHINESE.items():
        (folder / name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    inst = allocator.load(folder)
    assert inst.regions.set_index("region").loc["hubei", "name_zh"] == "湖北"
    assert not [w for w in inst.warnings if "GB18030" in w.message]


@pytest.mark.parametrize(
    "cell,why",
    [
        ('"1.234,5"', "is '1.234,5'"),  # European decimal comma
        ('"42,70"', "is '42,70'"),  # not a thousands grouping
        ("12 kg", "is '12 kg'"),
    ],
)
def test_numbers_that_are_not_numbers_are_rejected(tmp_path, capsys, cell, why):
    folder = make(tmp_path, supply_csv=f"source,product,quantity\ns1,gb,{cell}\ns2,em,5\n")
    code, text = run_cli(capsys, "validate", str(folder))
    assert code == 2 and f"supply.csv, row 2, column 'quantity': {why}" in text


def _workbook(path, tables, policy=None):
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, text in tables.items():
            frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
            frame.to_excel(xl, sheet_name=name.removesuffix(".csv"), index=False)
        if policy is not None:
            pd.DataFrame(policy, columns=["key", "value"]).to_excel(xl, sheet_name="policy", index=False)
    return path


def test_excel_workbook_equals_the_folder(tmp_path, capsys):
    folder = make(tmp_path)
    book = _workbook(tmp_path / "day.xlsx", VALID, policy=[("equity", "off"), ("weights.icu", 6)])
    from_book = allocator.load(book)
    assert from_book.policy.equity is False and from_book.policy.weights["icu"] == 6
    from_folder = allocator.load(folder, overrides=["equity=off", "weights.icu=6"])
    a, b = allocator.solve(from_book), allocator.solve(from_folder)
    pd.testing.assert_frame_equal(a.plan.dispatch, b.plan.dispatch)
    assert a.objective == b.objective
    code, text = run_cli(capsys, "solve", str(book))
    assert code == 0


def test_excel_errors_name_sheet_row_and_column(tmp_path, capsys):
    tables = dict(VALID)
    tables["supply.csv"] = "source,product,quantity\ns1,gb,100\ns2,em,lots\n"
    del tables["demand.csv"]
    book = _workbook(tmp_path / "bad.xlsx", tables)
    code, text = run_cli(capsys, "validate", str(book))
    assert code == 2
    assert "bad.xlsx[supply], row 3, column 'quantity': is 'lots'" in text
    assert "bad.xlsx: has no sheet 'demand'" in text


def test_other_files_are_rejected_clearly(tmp_path, capsys):
    (tmp_path / "plan.ods").write_bytes(b"PK\x03\x04 not really")
    code, text = run_cli(capsys, "validate", str(tmp_path / "plan.ods"))
    assert code == 2 and "is a file of a kind allocator does not read" in text
    (tmp_path / "broken.xlsx").write_bytes(b"this is not a zip")
    code, text = run_cli(capsys, "validate", str(tmp_path / "broken.xlsx"))
    assert code == 2 and "cannot be opened as an Excel workbook" in text


PLAIN_CASES = [
    "a,b\n1,2\n",
    "a,b\n1,2",
    "a,b\n1,2\n\n",
    "a,b\n\n1,2\n",
    "a,b\n1\n3,4,5\n",
    "a,b\n1,2,\n",
    "a,b\n ,\n1,2\n",
    "a,b\n1 ,2\n",
    "a,b\n,\n1,2\n",
    "A, B \n1,2\n",
    "a,a\n1,2\n",
    "a,b\n1,\u30002\n",
    "a\n1\n\n2\n",
    "a\n\n",
    "a,b\n1\t,2\n",
    "a,b\n\u00a01,2\n",
    "a,b\n1,2,3\n4\n",
]


@pytest.mark.parametrize("text", PLAIN_CASES)
def test_fast_csv_reader_reads_as_the_careful_one(text, monkeypatch):
    """The C-speed path for plain files gives the same tables, row numbers and issues as csv.reader."""
    from allocator.inputs import files as io

    fast = io.read_csv_rows(text.encode(), "x.csv")
    monkeypatch.setattr(io, "_read_plain_csv", lambda _: None)
    slow = io.read_csv_rows(text.encode(), "x.csv")
    assert (fast[0] is None) == (slow[0] is None)
    if fast[0] is not None:
        assert list(fast[0].columns) == list(slow[0].columns)
        assert fast[0].astype(object).equals(slow[0].astype(object))
    assert fast[1] == slow[1] and [str(i) for i in fast[2]] == [str(i) for i in slow[2]]


@pytest.mark.parametrize(
    "cells",
    [
        ["1", "2.5", "", "1e3"],
        ["1", "x"],
        ["1,000", "2"],
        ["\uff11", "2"],
        ["nan", "1"],
        ["inf"],
        ["-1", "3"],
        ["1_000"],
        ["", ""],
    ],
)
def test_plain_number_path_parses_as_the_careful_one(cells, monkeypatch):
    from allocator.inputs import validate
    from allocator.inputs.policy import Policy
    from allocator.inputs.schema import TABLES

    col = next(c for c in TABLES["supply"].columns if c.name == "quantity")
    rows = np.arange(2, len(cells) + 2)

    def parse():
        issues = []
        out = validate._parse_column("supply.csv", col, pd.Series(cells, dtype=object), rows, Policy(), issues)
        return out.to_numpy(), [str(i) for i in issues]

    fast = parse()
    monkeypatch.setattr(validate, "_plain_numbers", lambda *_: None)
    slow = parse()
    np.testing.assert_array_equal(fast[0], slow[0])
    assert fast[1] == slow[1]
