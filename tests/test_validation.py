"""Bad input: every kind gives its promised message (file, row, column, what was expected),
exit code 2 from the CLI, and never a traceback. Each case starts from one valid folder
and breaks one thing."""

from __future__ import annotations

import re

import pytest
from helpers import run_cli as run

import allocator

VALID = {
    "products.csv": "product,family,grade,countable\ngb,suit,icu,true\nem,suit,general,true\n",
    "sources.csv": "source,name,region\ns1,Maker 1,hubei\ns2,Maker 2,henan\n",
    "supply.csv": "source,product,quantity\ns1,gb,100\ns2,em,50\n",
    "regions.csv": "region,name,lat,lon,flags\nhubei,Hubei,30.59,114.31,level_one_response\nhenan,Henan,34.75,113.63,\n",
    "demand.csv": "region,family,use,quantity\nhubei,suit,icu,80\nhubei,suit,general,40\nhenan,suit,general,30\n",
}


def make(tmp_path, **changes):
    folder = tmp_path / "inst"
    folder.mkdir()
    files = dict(VALID)
    for name, text in changes.items():
        files[name.replace("_", ".", 1) if "." not in name else name] = text
    for name, text in files.items():
        if text is None:
            continue
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def test_valid_folder(tmp_path, capsys):
    folder = make(tmp_path)
    code, text = run(capsys, "validate", str(folder))
    assert code == 0 and "valid" in text
    assert run(capsys, "solve", str(folder))[0] == 0


CASES = [
    # (file changes, expected pattern in the output)
    ({"demand_csv": None}, r"demand\.csv: file is missing"),
    (
        {"supply_csv": "source,product,qty\ns1,gb,100\n"},
        r"supply\.csv, row 1, column 'quantity': required column is missing",
    ),
    (
        {"supply_csv": "source,product,quantity\ns9,gb,100\n"},
        r"supply\.csv, row 2, column 'source': unknown source 's9'",
    ),
    (
        {"products_csv": "product,family,grade\ngb,suit,icu\ngb,suit,general\nem,suit,general\n"},
        r"products\.csv, row 3, column 'product': duplicate product='gb': already on row 2",
    ),
    (
        {"demand_csv": "region,family,use,quantity\nhubei,suit,icu,lots\n"},
        r"demand\.csv, row 2, column 'quantity': is 'lots': expected a number from 0 to 1e\+12",
    ),
    (
        {"supply_csv": "source,product,quantity\ns1,gb,-5\n"},
        r"supply\.csv, row 2, column 'quantity': is -5: expected a number from 0",
    ),
    ({"supply_csv": "source,product,quantity\ns1,gb,NaN\n"}, r"supply\.csv, row 2, column 'quantity': is 'NaN'"),
    (
        {"supply_csv": "source,product,quantity\ns1,gb,1e300\n"},
        r"supply\.csv, row 2, column 'quantity': is 1e300: expected a number from 0 to 1e\+12",
    ),
    (
        {"demand_csv": "region,family,use,quantity\nhubei,gloves,general,5\n"},
        r"demand\.csv, row 2, column 'family': no product belongs to family 'gloves'",
    ),
    (
        {"sources_csv": "source,name,region\ns1,Maker 1,hubie\ns2,Maker 2,henan\n"},
        r"sources\.csv, row 2, column 'region': unknown region 'hubie'.*did you mean 'hubei'",
    ),
    ({"supply_csv": ""}, r"supply\.csv: file is empty"),
    ({"demand_csv": "region,family,use,quantity\n"}, r"demand\.csv: has a header but no rows"),
    (
        {"supply_csv": "source,product,quantity\ns1,gb,100,7\n"},
        r"supply\.csv, row 2: has 4 fields where the header \(row 1\) has 3",
    ),
    (
        {"supply_csv": "source,product,quantity\ns1,gb,10.5\n"},
        r"supply\.csv, row 2, column 'quantity': is 10.5: product 'gb' is countable",
    ),
    (
        {"regions_csv": "region,name,lat,lon,flags\nhubei,Hubei,30.6,114.3,level_two\nhenan,Henan,34.7,113.6,\n"},
        r"regions\.csv, row 2, column 'flags': unknown flag 'level_two'",
    ),
    (
        {"demand_csv": "region,family,use,quantity,wieght\nhubei,suit,icu,5,3\n"},
        r"demand\.csv, row 1, column 'wieght': unknown column: did you mean 'weight'",
    ),
    (
        {"demand_csv": "region,family,use,quantity\nhubei,suit,ICU-ish,5\n"},
        r"demand\.csv, row 2, column 'use': is 'ICU-ish': expected one of general, icu",
    ),
    ({"supply_csv": "source,product,quantity\ns1,gb,\n"}, r"supply\.csv, row 2, column 'quantity': is empty"),
    (
        {"supply_csv": b"source,product,quantity\ns1,gb,100\n\xff\xfe,gb,1\n"},
        r"supply\.csv, row 3: is neither UTF-8 nor GB18030/GBK",
    ),
    ({"policy.toml": "equity = 'sometimes'\n"}, r"policy\.toml: equity must be 'on' or 'off'"),
    ({"policy.toml": "[weights]\nicu = -1\n"}, r"policy\.toml: weights\.icu must be a finite number more than 0"),
    ({"policy.toml": "colour = 'red'\n"}, r"policy\.toml: unknown key\(s\) colour"),
    (
        {"regions_csv": "region,name,flags\nhubei,Hubei,\nhenan,Henan,\n"},
        r"sources\.csv, row 2, column 'lat': no coordinates for the source or its region, and there is no routes\.csv",
    ),
    ({"routes_csv": "source,region,cost\ns1,hubei,abc\n"}, r"routes\.csv, row 2, column 'cost': is 'abc'"),
]


@pytest.mark.parametrize("changes,pattern", CASES, ids=[str(i) for i in range(len(CASES))])
def test_bad_input_is_named_precisely(tmp_path, capsys, changes, pattern):
    folder = make(tmp_path, **changes)
    code, text = run(capsys, "validate", str(folder))
    assert code == 2, text
    assert re.search(pattern, text), text
    code, text = run(capsys, "solve", str(folder))  # solve validates first and stops the same way
    assert code == 2 and re.search(pattern, text), text
    with pytest.raises(allocator.InstanceError):
        allocator.load(folder)


def test_every_problem_at_once(tmp_path, capsys):
    folder = make(
        tmp_path,
        supply_csv="source,product,quantity\ns9,gb,-1\ns1,zz,abc\n",
        demand_csv="region,family,use,quantity\nhubei,suit,icu,x\nmars,suit,general,3\n",
    )
    code, text = run(capsys, "validate", str(folder))
    assert code == 2
    for expected in (
        "supply.csv, row 2, column 'quantity'",
        "supply.csv, row 3, column 'quantity'",
        "supply.csv, row 2, column 'source': unknown source 's9'",
        "supply.csv, row 3, column 'product': unknown product 'zz'",
        "demand.csv, row 2, column 'quantity'",
        "demand.csv, row 3, column 'region': unknown region",
    ):
        assert expected in text, text
    assert re.search(r"(\d+) error\(s\)", text).group(1) == "6"


def test_bom_and_spaces_are_accepted(tmp_path, capsys):
    folder = make(tmp_path, supply_csv="\ufeffsource , product , quantity\n s1 , gb , 100 \ns2,em,50\n")
    assert run(capsys, "validate", str(folder))[0] == 0


def test_unreachable_demand_is_a_warning(tmp_path, capsys):
    folder = make(tmp_path, routes_csv="source,region,cost\ns1,hubei,1\ns2,hubei,1\n")
    code, text = run(capsys, "validate", str(folder))
    assert code == 0
    assert re.search(
        r"warning: demand\.csv, row 4: no route from any source holding family 'suit' reaches "
        r"region 'henan'",
        text,
    ), text
    code, text = run(capsys, "solve", str(folder))
    assert code == 0 and "no route reaches Henan" in text


def test_policy_override_errors(tmp_path, capsys):
    folder = make(tmp_path)
    code, text = run(capsys, "solve", str(folder), "--policy", "weights.icu=zero")
    assert code == 2 and "weights.icu must be a number" in text
    code, text = run(capsys, "solve", str(folder), "--policy", "speed=fast")
    assert code == 2 and "unknown policy key 'speed'" in text


def test_not_a_folder(tmp_path, capsys):
    code, text = run(capsys, "solve", str(tmp_path / "nope"))
    assert code == 2 and "is not a folder" in text


def test_instance_format_page_documents_every_column():
    from pathlib import Path

    from allocator.inputs.schema import TABLES

    readme = (Path(__file__).resolve().parents[1] / "docs" / "instance-format.md").read_text(encoding="utf-8")
    for table in TABLES.values():
        assert f"`{table.file}`" in readme
        for col in table.columns:
            assert f"`{col.name}`" in readme, (table.file, col.name)


def test_many_problems_are_counted_not_flooded(tmp_path, capsys):
    rows = "".join(f"s1,gb,bad{i}\n" for i in range(60))
    folder = make(tmp_path, supply_csv="source,product,quantity\n" + rows)
    code, text = run(capsys, "validate", str(folder))
    assert code == 2
    assert text.count("error: supply.csv") == 50
    assert re.search(r"\.\.\. and \d+ more \(all of them: allocator validate INSTANCE --all", text)
    assert "more error(s) in supply.csv, column 'quantity'" in text
    code, text = run(capsys, "validate", str(folder), "--all")
    assert text.count("is 'bad") == 60
