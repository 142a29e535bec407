"""The replay chart: a real PNG of the set size, not blank, the same bytes every time,
and drawn for the thin cases too (one tier, one day, no demand, no stock at regions)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pandas as pd
import pytest

import allocator
from allocator.inputs.policy import Policy
from allocator.pipeline.replay import replay
from allocator.report.charts import DPI, HEIGHT_IN, WIDTH_IN, write_replay_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH_PX, HEIGHT_PX = round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI)
DAYS = [f"2020-02-0{d}" for d in range(1, 6)]


def dated_instance(
    *,
    supply=(50, 20, 30, 80, 40),
    demand=((30, 10), (40, 20), (50, 20), (30, 10), (20, 5)),
    flags=("level_one_response", ""),
    days=DAYS,
    durable=False,
    policy=None,
    name="tiny",
):
    """Two regions (Hubei, Anhui), one source, one product; demand above supply on some days."""
    products = pd.DataFrame(
        [
            {
                "product": "suit",
                "name": "Protective suit",
                "family": "suit",
                "grade": "general",
                "unit": "suits",
                "durable": durable,
            }
        ]
    )
    sources = pd.DataFrame([{"source": "s1", "name": "Factory", "region": "r1"}])
    supply_rows = pd.DataFrame(
        [{"source": "s1", "product": "suit", "quantity": q, "day": d} for q, d in zip(supply, days)]
    )
    regions = pd.DataFrame(
        [{"region": "r1", "name": "Hubei", "flags": flags[0]}, {"region": "r2", "name": "Anhui", "flags": flags[1]}]
    )
    demand_rows = pd.DataFrame(
        [
            {"region": r, "family": "suit", "use": "general", "quantity": q, "day": d}
            for d, pair in zip(days, demand)
            for r, q in zip(("r1", "r2"), pair)
        ]
    )
    routes = pd.DataFrame([{"source": "s1", "region": "r1", "cost": 1}, {"source": "s1", "region": "r2", "cost": 2}])
    return allocator.from_frames(
        products=products,
        sources=sources,
        supply=supply_rows,
        regions=regions,
        demand=demand_rows,
        routes=routes,
        policy=policy or Policy(),
        name=name,
    )


def png_chunks(data: bytes):
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        yield kind, body
        pos += 12 + length


def check_png(path) -> np.ndarray:
    """The file is a PNG of the set size; return its pixels (height x width x channels, 0..1)."""
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    chunks = list(png_chunks(data))
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (WIDTH_PX, HEIGHT_PX)
    assert not any(kind in (b"tEXt", b"iTXt", b"zTXt", b"tIME") for kind, _ in chunks)  # no software, no time
    pixels = imread(path)
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    return pixels


def distinct_colours(pixels: np.ndarray) -> int:
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint32)
    return len(np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]))


@pytest.fixture(scope="module")
def result():
    res = replay(dated_instance(), horizon=2)
    assert float(res.fill["shortfall"].sum()) > 0  # a chart with something to say
    return res


def test_png_of_the_set_size(result, tmp_path):
    out = write_replay_chart(result, tmp_path / "replay.png")
    assert out == tmp_path / "replay.png"
    check_png(out)


def test_not_blank(result, tmp_path):
    pixels = check_png(write_replay_chart(result, tmp_path / "replay.png"))
    # A blank (one-colour) image has one colour and no variance; three empty axes with their
    # tick labels (drawn the same way, measured) have 256 greys, std 0.09, ink on 0.6-1.9 % of
    # each third and no saturated pixel. This chart: ~2400 colours, std 0.17, ink 6-35 %, 11 % in colour.
    assert distinct_colours(pixels) > 1000
    assert float(pixels[..., :3].std()) > 0.14
    # Ink in each third of the height (each panel drew something), not only on the white background.
    for band in np.array_split(pixels[..., :3], 3, axis=0):
        assert (band.min(axis=2) < 0.9).mean() > 0.04
    # The tiers, the shortfall and the stock are drawn in colour, not only black text on white.
    saturated = pixels[..., :3].max(axis=2) - pixels[..., :3].min(axis=2)
    assert (saturated > 0.3).mean() > 0.05


def test_same_bytes_twice(result, tmp_path):
    a = write_replay_chart(result, tmp_path / "a.png").read_bytes()
    b = write_replay_chart(result, tmp_path / "b.png").read_bytes()
    assert a == b


def test_title_changes_the_picture(result, tmp_path):
    a = write_replay_chart(result, tmp_path / "a.png").read_bytes()
    b = write_replay_chart(result, tmp_path / "b.png", title="Bad morning").read_bytes()
    assert a != b


def test_creates_the_folder_and_accepts_a_string(result, tmp_path):
    out = write_replay_chart(result, str(tmp_path / "charts" / "replay.png"))
    assert out == tmp_path / "charts" / "replay.png"
    check_png(out)


def test_top_shortfall_region_first(result):
    from matplotlib.dates import date2num

    from allocator.report.charts import _Series

    data = _Series.of(result, date2num)
    names = [name for name, _, _ in data.top_regions]
    totals = result.fill.groupby("region")["shortfall"].sum()
    worst = {"r1": "Hubei", "r2": "Anhui"}[str(totals.idxmax())]
    assert names[0] == worst
    assert data.unit == "suits"
    assert [t for t, *_ in data.tiers] == [1, 2]


EDGE_CASES = {
    # every region the same weight: one tier
    "one tier": dict(flags=("", "")),
    # one dated day
    "one day": dict(days=DAYS[:1], supply=(50,), demand=((30, 40),)),
    # nothing asked for: everything stays at the source
    "no demand": dict(demand=((0, 0),) * 5),
    # demand always above supply: nothing left at the regions at the end of any day
    "no region stock": dict(supply=(5, 5, 5, 5, 5)),
    # nothing made: no stock anywhere, everything short
    "no supply": dict(supply=(0, 0, 0, 0, 0)),
    # durable equipment: units in service
    "durable": dict(durable=True, demand=((10, 5), (20, 10), (30, 20), (30, 20), (20, 10))),
    # unmet demand carried as backlog
    "backlog": dict(policy=Policy().with_overrides({"unmet": "backlog"})),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases_draw(case, tmp_path):
    res = replay(dated_instance(**EDGE_CASES[case]), horizon=2)
    if case == "no region stock":
        assert float(res.stock.loc[res.stock["holder"] == "region", "closing"].sum()) == 0
    if case == "one tier":
        assert res.by_day["tier"].nunique() == 1
    if case == "backlog":
        assert float(res.fill["backlog_in"].sum()) > 0
    pixels = check_png(write_replay_chart(res, tmp_path / f"{case}.png"))
    assert distinct_colours(pixels) > 50


def test_empty_replay_tables(result, tmp_path):
    """No rows at all (say, a replay cut down to nothing): still a chart, not an exception."""
    from dataclasses import replace

    empty = replace(result, fill=result.fill.iloc[:0], by_day=result.by_day.iloc[:0], stock=result.stock.iloc[:0])
    check_png(write_replay_chart(empty, tmp_path / "empty.png"))


def test_matplotlib_imported_only_when_drawing():
    import subprocess
    import sys

    code = (
        "import sys, allocator, allocator.report.charts, allocator.pipeline.replay; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported with the package'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
