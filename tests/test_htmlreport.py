"""The HTML report (``allocator report``, ``solve --report``), tested as a person would see it: opened in
headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it), screenshotted, its map and charts
checked for ink, its numbers read off the page and compared with the plan's files.

One browser for the module. Without Chromium the tests fail (they do not skip): CI installs it.
"""

from __future__ import annotations

import io
import json
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocator.cli.main import main
from allocator.report.html.svg import fmt_pct, fmt_qty

ROOT = Path(__file__).resolve().parents[1]
DAY = ROOT / "instances" / "suits-2020-02-05"
REPLAY = ROOT / "instances" / "suits-2020-replay"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """The bundled day solved with --report; its folder reported without the instance; a five-day replay."""
    base = tmp_path_factory.mktemp("report")
    assert main(["solve", str(DAY), "-o", str(base / "day"), "--report", str(base / "day.html")]) == 0
    assert main(["report", str(base / "day"), "-o", str(base / "bare.html")]) == 0
    assert (
        main(
            [
                "replay",
                str(REPLAY),
                "--start",
                "2020-02-05",
                "--end",
                "2020-02-09",
                "--no-chart",
                "-o",
                str(base / "replay"),
            ]
        )
        == 0
    )
    assert main(["report", str(base / "replay"), "--instance", str(REPLAY), "-o", str(base / "replay.html")]) == 0
    return base


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found ({CHROMIUM}): the report's tests need Debian's chromium "
            "(apt-get install chromium; .ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Opened:
    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 1400})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.as_uri()
        self.page.goto(self.url)
        self.page.wait_for_load_state("load")

    def ink(self, selector: str) -> tuple[float, int]:
        """Share of the element's pixels that are not white-ish, and its number of distinct colours."""
        from PIL import Image

        el = self.page.locator(selector).first
        el.scroll_into_view_if_needed()
        box = el.bounding_box()  # in the viewport, now that it is scrolled into view (faster than el.screenshot())
        shot = self.page.screenshot(
            clip={
                "x": box["x"],
                "y": max(box["y"], 0),
                "width": box["width"],
                "height": min(box["height"], 1400 - max(box["y"], 0)),
            }
        )
        px = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).reshape(-1, 3)
        inked = int((px.min(axis=1) < 235).sum())
        return inked / len(px), len(np.unique(px, axis=0))

    def texts(self, selector: str) -> list[str]:
        return self.page.locator(selector).all_inner_texts()

    def check(self) -> None:
        """No error in the console, no dialog, and nothing fetched but the file itself."""
        assert self.errors == [], self.errors
        assert self.dialogs == []
        assert self.requests == [self.url], f"fetched more than the file: {self.requests}"


@pytest.fixture(scope="module")
def day(out, browser):
    """The bundled day's report, opened once for the tests that read it (the sorting test last)."""
    page = Opened(browser, out / "day.html")
    yield page
    page.page.close()


def test_day_report_renders_map_and_charts(out, day):
    page = day
    box = page.page.locator("svg.map").bounding_box()
    assert box["width"] > 600 and box["height"] > 450
    share, colours = page.ink("svg.map")
    assert share > 0.35 and colours > 20, (share, colours)  # provinces filled, not a blank frame
    assert page.page.locator("svg.map path.province").count() == 34
    assert page.page.locator("svg.map path.flow").count() >= 5  # ten shipments, some sources share a place
    assert page.page.locator("svg.map rect.source").count() >= 5
    assert page.page.locator("svg.map polygon").count() >= 31  # a star per level-one-response province
    for panel in ("#tiers", "#families", ".sankey"):
        share, _ = page.ink(panel)
        assert share > 0.05, panel
    assert page.page.locator("#tiers rect.bar").count() == 4
    assert page.page.locator(".sankey path.link").count() >= 4
    page.check()


def test_day_report_shows_the_plans_numbers(out, day):
    fill = pd.read_csv(out / "day" / "fill.csv", dtype={"region": str})
    summary = json.loads((out / "day" / "summary.json").read_text())
    page = day
    # The full demand table, row by row, as in fill.csv.
    rows = page.page.eval_on_selector_all(
        "#table-fill tbody tr", "rs => rs.map(r => Array.from(r.cells, c => c.textContent))"
    )
    head = page.texts("#table-fill thead th")
    assert len(rows) == len(fill) == 62
    for rec, cells in zip(fill.itertuples(index=False), rows):
        shown = dict(zip(head, cells))
        assert shown["region"] == rec.region and shown["use"] == rec.use
        assert shown["demand"] == fmt_qty(rec.demand) and shown["delivered"] == fmt_qty(rec.delivered)
        assert shown["shortfall"] == fmt_qty(rec.shortfall) and shown["fill_rate"] == fmt_pct(rec.fill_rate)
        assert shown["reason"] == rec.reason
    # Headline figures and the tiers.
    assert page.texts("#kpi-fill .kpi-v") == [f"{summary['totals']['fill_rate']:.1%}"] == ["46.4%"]
    assert page.texts("#kpi-short .kpi-v") == ["70,112"]
    tiers = page.page.locator("#tiers svg").text_content()
    for t in summary["by_tier"]:
        assert f"{100 * t['fill_rate']:.1f}%" in tiers
    assert "72.1%" in tiers and "42,700 of 59,264" in tiers
    # Hubei on the map: 60,700 of 100,000 suits.
    tip = page.page.locator('svg.map path[data-region="hubei"] title').text_content()
    assert tip == "Hubei: fill 60.7% (60,700 of 100,000)"
    # The largest shortfalls, with their reasons.
    first = page.page.eval_on_selector("#shortfalls tbody tr", "r => Array.from(r.cells, c => c.textContent)")
    assert first[:3] == ["hubei", "protective_suit", "general"] and "22,736" in first
    assert first[-1] == "not enough supply: all 18,000 reachable units are delivered here"
    prov = page.page.locator("#provenance").inner_text()
    for words in (
        "suits-2020-02-05",
        "2020-02-05",
        "optimal",
        "network",
        "7,683,376",
        "40,666,110",
        "policy.weights.icu",
    ):
        assert words in prov
    page.check()


def test_tables_sort_on_a_click(day):
    page = day
    col = page.texts("#table-fill thead th").index("shortfall") + 1
    header = page.page.locator("#table-fill thead th").nth(col - 1)

    def column() -> list[float]:
        return [float(t.replace(",", "")) for t in page.texts(f"#table-fill tbody td:nth-child({col})")]

    header.click()
    assert column() == sorted(column())
    header.click()
    values = column()
    assert values == sorted(values, reverse=True) and values[0] == 22736
    assert header.get_attribute("aria-sort") == "descending"
    page.check()


def test_replay_report_has_time_series(out, browser):
    page = Opened(browser, out / "replay.html")
    assert "Over time: 2020-02-05 to 2020-02-09 (5 days)" in page.texts("#time h2")[0]
    share, colours = page.ink("#time .two")
    assert share > 0.03 and colours > 10
    assert page.page.locator("#time polyline.series").count() >= 4  # tiers, due / delivered / short, stock
    regions = pd.read_csv(out / "replay" / "regions.csv", dtype={"region": str})["region"].nunique()
    assert page.page.locator("#time .sp").count() == min(regions, 32)
    assert page.page.locator("svg.map path.flow").count() > 0
    assert page.page.locator("#table-shipments tbody tr").count() == len(pd.read_csv(out / "replay" / "shipments.csv"))
    page.check()
    page.page.close()


def test_report_without_the_instance_reads_places_csv(out, browser, tmp_path):
    """The plan folder records where regions and sources lie (places.csv): the page made from the
    folder alone is the page made with the instance. A folder without places.csv (an older
    allocator's) still gets its map, regions at their capitals, and says what is missing."""
    bare, full = ((out / name).read_text(encoding="utf-8") for name in ("bare.html", "day.html"))
    assert "regions and sources from places.csv in the plan folder" in bare
    assert bare.replace("places.csv in the plan folder", "the instance") == full
    places = pd.read_csv(out / "day" / "places.csv", keep_default_na=False)
    assert list(places.columns) == [
        "kind",
        "id",
        "name",
        "name_zh",
        "lat",
        "lon",
        "flags",
        "parent",
        "region",
        "family",
    ]
    assert places.loc[places["kind"] == "product", "family"].eq("protective_suit").all()
    assert places.loc[places["id"] == "hubei", "flags"].item() == "level_one_response"
    assert (places["kind"] == "source").sum() == len(pd.read_csv(DAY / "sources.csv"))
    old = tmp_path / "old"
    shutil.copytree(out / "day", old)
    (old / "places.csv").unlink()
    assert main(["report", str(old), "-o", str(tmp_path / "old.html")]) == 0
    page = Opened(browser, tmp_path / "old.html")
    share, _ = page.ink("svg.map")
    assert share > 0.35
    assert page.page.locator("svg.map path.flow").count() == 0
    assert "give --instance INSTANCE" in page.page.locator("svg.map").text_content()
    page.check()
    page.page.close()


def test_same_folder_same_bytes_and_solve_report_equals_report(out, tmp_path):
    again = tmp_path / "again.html"
    assert main(["report", str(out / "day"), "--instance", str(DAY), "-o", str(again)]) == 0
    assert again.read_bytes() == (out / "day.html").read_bytes()
    html = again.read_text(encoding="utf-8")
    for fetch in ("http://", "https://", "src=", "@import", "url(http", "<link"):
        assert fetch not in html
    assert len(again.read_bytes()) < 400_000


def test_text_is_escaped(out, browser, tmp_path):
    plan = tmp_path / "plan"
    shutil.copytree(out / "day", plan)
    fill = (plan / "fill.csv").read_text(encoding="utf-8")
    (plan / "fill.csv").write_text(
        fill.replace("not enough supply: all 18,000", "<script>alert(1)</script><b>bold</b> 18,000"), encoding="utf-8"
    )
    assert main(["report", str(plan), "-o", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = Opened(browser, tmp_path / "r.html")
    assert page.dialogs == []
    assert "<script>alert(1)</script><b>bold</b> 18,000" in page.page.locator("#shortfalls").inner_text()
    page.check()
    page.page.close()


@pytest.mark.parametrize("case", ["missing", "empty", "column", "json", "number"])
def test_not_a_plan_folder_exits_2_naming_it(case, out, tmp_path, capsys):
    folder = tmp_path / "plan"
    if case != "missing":
        folder.mkdir()
    if case in ("column", "json", "number"):
        for name in ("dispatch.csv", "fill.csv", "summary.json"):
            shutil.copy(out / "day" / name, folder / name)
    if case == "column":
        (folder / "fill.csv").write_text("region,family\nhubei,protective_suit\n")
    if case == "json":
        (folder / "summary.json").write_text("{not json")
    if case == "number":
        text = (folder / "dispatch.csv").read_text()
        (folder / "dispatch.csv").write_text(text.replace(",6100,", ",lots,", 1))
    code = main(["report", str(folder), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2
    expected = {
        "missing": f"{folder}: no such folder",
        "empty": f"{folder}: not a plan folder",
        "column": f"{folder / 'fill.csv'}: missing column(s) 'use', 'demand', 'delivered'",
        "json": f"{folder / 'summary.json'}: not valid JSON",
        "number": f"{folder / 'dispatch.csv'}, row 2, column 'quantity': expected a number, found 'lots'",
    }
    assert expected[case] in err
    assert not (tmp_path / "r.html").exists()


def test_replay_report_flag_is_the_report_of_its_folder(out, tmp_path):
    """``replay --report`` (no folder) writes the page ``report`` makes of the folder ``replay -o``
    writes; from the folder alone (places.csv) the page differs only in its provenance line."""
    args = ["replay", str(REPLAY), "--start", "2020-02-05", "--end", "2020-02-09", "--no-chart"]
    assert main([*args, "--report", str(tmp_path / "flag.html")]) == 0
    flag = (tmp_path / "flag.html").read_text(encoding="utf-8")
    assert flag == (out / "replay.html").read_text(encoding="utf-8")
    assert main(["report", str(out / "replay"), "-o", str(tmp_path / "bare.html")]) == 0
    bare = (tmp_path / "bare.html").read_text(encoding="utf-8")
    assert bare.replace("places.csv in the plan folder", "the instance") == flag


def test_multi_day_shortfalls_carry_the_reason_of_their_largest_day(out):
    """A multi-day folder's shortfall table sums each demand row over the days and gives the
    reason fill.csv states on its largest short day (the earliest of equal ones)."""
    html = (out / "replay.html").read_text(encoding="utf-8")
    fill = pd.read_csv(out / "replay" / "fill.csv", keep_default_na=False)
    short = fill.loc[fill["shortfall"] > 0].sort_values(["shortfall", "day"], ascending=[False, True], kind="stable")
    assert len(short) and (short["reason"] != "").all(), "every short row of the replay has a reason"
    key = ["region", "family", "use", "weight"]
    checked = 0
    for _, rows in list(short.groupby(key, sort=False))[:5]:
        top = rows.iloc[0]  # the row's largest short day (the earliest of equal ones)
        same = (fill[key] == top[key]).all(axis=1)
        days, n = int((fill.loc[same, "shortfall"] > 0).sum()), int(same.sum())
        expected = f"short on {days} of {n} days; on {top['day']}, the largest ({top['shortfall']:,.0f} short): "
        assert escape(expected + top["reason"], quote=True) in html
        checked += 1
    assert checked >= 3
