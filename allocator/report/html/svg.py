"""Inline SVG for the HTML report (``allocator/htmlreport.py``): primitives, the fill-rate colour scale,
bar, line and flow (Sankey) charts, each returned as text.

Every figure is drawn here in Python, so the report needs no script, font or library at view time.
All text is escaped; coordinates are rounded to a tenth of a pixel, so the same data give the same bytes.
"""

from __future__ import annotations

import html
import math

from allocator.numbers import compact_text, percent_text, quantity_text

__all__ = [
    "esc",
    "fmt_qty",
    "fmt_compact",
    "fmt_pct",
    "fill_colour",
    "FILL_STOPS",
    "TIER_COLOURS",
    "tier_colour",
    "svg_doc",
    "text",
    "gradient_legend",
    "bar_rows",
    "line_chart",
    "sankey",
    "sparkline_panel",
    "n",
]

# Fill rate 0 -> 1: red (nothing delivered) through yellow to blue (all of it); ColorBrewer RdYlBu, which
# colour-blind readers can tell apart end to end.
FILL_STOPS = (
    (0.0, (165, 0, 38)),
    (0.25, (244, 109, 67)),
    (0.5, (254, 224, 144)),
    (0.75, (171, 217, 233)),
    (1.0, (49, 54, 149)),
)
NO_DATA = "#e3e3e3"
# Tier 1 (highest priority) first: the same order as the replay chart (allocator/charts.py).
TIER_COLOURS = ("#b2182b", "#2166ac", "#1b7837", "#e08214", "#762a83", "#4d4d4d", "#01665e", "#c51b7d")
INK, MUTED, GRID = "#222", "#666", "#e2e2e2"


def esc(value) -> str:
    """Text for HTML or SVG, every markup character escaped (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def n(v: float) -> str:
    """A coordinate: a tenth of a pixel, no trailing zeros."""
    s = f"{v:.1f}"
    s = s[:-2] if s.endswith(".0") else s
    return "0" if s == "-0" else s


def fmt_qty(v) -> str:
    """A quantity on the page (``numbers.quantity_text``; empty when missing)."""
    return quantity_text(v, missing="")


def fmt_compact(v) -> str:
    """A quantity in a few characters (``numbers.compact_text``)."""
    return compact_text(v)


def fmt_pct(v) -> str:
    """A share as a percentage (``numbers.percent_text``; n/a when missing)."""
    return percent_text(v, missing="n/a")


def fill_colour(rate) -> str:
    """The colour of a fill rate (0 to 1) on the report's scale; grey without one."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return NO_DATA
    r = min(max(float(rate), 0.0), 1.0)
    for (a, ca), (b, cb) in zip(FILL_STOPS, FILL_STOPS[1:]):
        if r <= b:
            t = (r - a) / (b - a)
            return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))
    return "#" + "".join(f"{x:02x}" for x in FILL_STOPS[-1][1])


def tier_colour(i: int) -> str:
    """Colour of the i-th tier (0 = tier 1)."""
    return TIER_COLOURS[i % len(TIER_COLOURS)]


def svg_doc(width: float, height: float, body: str, *, label: str, cls: str = "chart") -> str:
    return (
        f'<svg class="{esc(cls)}" viewBox="0 0 {n(width)} {n(height)}" width="{n(width)}" height="{n(height)}" '
        f'role="img" aria-label="{esc(label)}">{body}</svg>'
    )


def text(
    x: float,
    y: float,
    s,
    *,
    size: float = 11,
    anchor: str = "start",
    weight: str | None = None,
    fill: str = INK,
    cls: str | None = None,
    halo: bool = False,
) -> str:
    attrs = f'x="{n(x)}" y="{n(y)}" font-size="{n(size)}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if cls:
        attrs += f' class="{cls}"'
    if halo:
        attrs += ' stroke="#fff" stroke-width="3" paint-order="stroke" stroke-linejoin="round"'
    return f"<text {attrs}>{esc(s)}</text>"


def gradient_legend(x: float, y: float, width: float, *, title: str, gid: str = "fillscale") -> str:
    """The fill-rate colour bar with 0, 25, 50, 75 and 100% ticks and a grey 'no demand' swatch."""
    stops = "".join(f'<stop offset="{int(o * 100)}%" stop-color="{fill_colour(o)}"/>' for o, _ in FILL_STOPS)
    out = [
        f'<defs><linearGradient id="{gid}">{stops}</linearGradient></defs>',
        text(x, y, title, size=11, weight="600"),
        f'<rect x="{n(x)}" y="{n(y + 6)}" width="{n(width)}" height="10" fill="url(#{gid})" stroke="#999" '
        'stroke-width="0.5"/>',
    ]
    for k in range(5):
        tx = x + width * k / 4
        out.append(f'<line x1="{n(tx)}" y1="{n(y + 16)}" x2="{n(tx)}" y2="{n(y + 19)}" stroke="#666"/>')
        out.append(text(tx, y + 29, f"{25 * k}%", size=9.5, anchor="middle", fill=MUTED))
    out.append(
        f'<rect x="{n(x + width + 12)}" y="{n(y + 6)}" width="14" height="10" fill="{NO_DATA}" '
        'stroke="#999" stroke-width="0.5"/>'
    )
    out.append(text(x + width + 30, y + 15, "no demand", size=9.5, fill=MUTED))
    return "".join(out)


def bar_rows(
    rows: list[dict],
    *,
    width: float = 560,
    label_width: float = 170,
    title: str = "",
    row_height: float = 26,
    note_width: float = 150,
) -> str:
    """Horizontal fill-rate bars, one per row: ``label``, ``rate`` (0 to 1), ``note`` (right of the bar),
    ``colour`` (the bar; default: the rate's colour on the fill scale), ``sub`` (a second, smaller label)."""
    top = 22 if title else 4
    bar_w = width - label_width - note_width
    h = top + row_height * len(rows) + 22
    out = [text(0, 14, title, size=12.5, weight="600")] if title else []
    x0 = label_width
    for k in range(5):  # gridlines at 0, 25, ..., 100%
        gx = x0 + bar_w * k / 4
        out.append(f'<line x1="{n(gx)}" y1="{n(top)}" x2="{n(gx)}" y2="{n(h - 18)}" stroke="{GRID}"/>')
        out.append(text(gx, h - 5, f"{25 * k}%", size=9.5, anchor="middle", fill=MUTED))
    for i, r in enumerate(rows):
        y = top + i * row_height
        rate = r.get("rate")
        colour = r.get("colour") or fill_colour(rate)
        out.append(text(x0 - 8, y + row_height / 2 + (0 if r.get("sub") else 4), r["label"], size=11.5, anchor="end"))
        if r.get("sub"):
            out.append(text(x0 - 8, y + row_height / 2 + 11, r["sub"], size=9, anchor="end", fill=MUTED))
        out.append(
            f'<rect x="{n(x0)}" y="{n(y + 5)}" width="{n(bar_w)}" height="{n(row_height - 10)}" fill="#f3f3f3"/>'
        )
        if rate is not None and not math.isnan(rate):
            out.append(
                f'<rect class="bar" x="{n(x0)}" y="{n(y + 5)}" width="{n(bar_w * min(max(rate, 0), 1))}" '
                f'height="{n(row_height - 10)}" fill="{colour}"><title>{esc(r["label"])}: '
                f"{esc(fmt_pct(rate))}</title></rect>"
            )
        if r.get("note"):
            out.append(text(x0 + bar_w + 8, y + row_height / 2 - 1, fmt_pct(rate), size=11, weight="600"))
            out.append(text(x0 + bar_w + 8, y + row_height / 2 + 10, r["note"], size=9, fill=MUTED))
        else:
            out.append(text(x0 + bar_w + 8, y + row_height / 2 + 4, fmt_pct(rate), size=11, weight="600"))
    return svg_doc(width, h, "".join(out), label=title or "fill rates")


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def _date_ticks(labels: list[str], count: int = 7) -> list[int]:
    if len(labels) <= count:
        return list(range(len(labels)))
    step = math.ceil((len(labels) - 1) / (count - 1))
    return list(range(0, len(labels), step))


def line_chart(
    labels: list[str],
    series: list[dict],
    *,
    width: float = 560,
    height: float = 230,
    title: str = "",
    percent: bool = False,
    y_label: str = "",
) -> str:
    """Lines over days: ``labels`` (x, one per day), ``series`` of ``name``, ``colour``, ``values`` (None: gap),
    optional ``width`` and ``dash``. With ``percent`` the y axis runs 0 to 100%."""
    left, right, top, bottom = 62, 12, 26 if title else 10, 40
    pw, ph = width - left - right, height - top - bottom
    vals = [v for s in series for v in s["values"] if v is not None]
    ymax = 1.0 if percent else _nice_max(max(vals, default=0))
    nx = max(len(labels) - 1, 1)
    out = [text(0, 15, title, size=12.5, weight="600")] if title else []
    for k in range(5):
        gy = top + ph - ph * k / 4
        out.append(f'<line x1="{left}" y1="{n(gy)}" x2="{n(left + pw)}" y2="{n(gy)}" stroke="{GRID}"/>')
        tick = f"{25 * k}%" if percent else fmt_qty(ymax * k / 4) if ymax >= 8 else f"{ymax * k / 4:g}"
        out.append(text(left - 6, gy + 3.5, tick, size=9.5, anchor="end", fill=MUTED))
    for i in _date_ticks(labels):
        gx = left + pw * i / nx
        out.append(f'<line x1="{n(gx)}" y1="{n(top + ph)}" x2="{n(gx)}" y2="{n(top + ph + 4)}" stroke="#888"/>')
        out.append(
            text(
                gx,
                top + ph + 15,
                labels[i][5:] if len(labels[i]) == 10 else labels[i],
                size=9.5,
                anchor="middle",
                fill=MUTED,
            )
        )
    if y_label:
        out.append(text(width - right, 15, y_label, size=9.5, anchor="end", fill=MUTED))
    for s in series:
        runs, cur = [], []
        for i, v in enumerate(s["values"]):
            if v is None:
                if cur:
                    runs.append(cur)
                cur = []
            else:
                cur.append(f"{n(left + pw * i / nx)},{n(top + ph - ph * min(v / ymax, 1.0))}")
        if cur:
            runs.append(cur)
        dash = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{s["colour"]}"/>')
            else:
                out.append(
                    f'<polyline class="series" points="{" ".join(run)}" fill="none" stroke="{s["colour"]}" '
                    f'stroke-width="{s.get("width", 2)}" stroke-linejoin="round"{dash}>'
                    f"<title>{esc(s['name'])}</title></polyline>"
                )
    # legend under the axis
    lx, ly = left, height - 8
    for s in series:
        out.append(
            f'<line x1="{n(lx)}" y1="{n(ly - 3.5)}" x2="{n(lx + 16)}" y2="{n(ly - 3.5)}" '
            f'stroke="{s["colour"]}" stroke-width="2.5"/>'
        )
        out.append(text(lx + 20, ly, s["name"], size=10))
        lx += 28 + 6.2 * len(str(s["name"]))
    return svg_doc(width, height, "".join(out), label=title or "time series")


def sparkline_panel(
    label: str,
    labels: list[str],
    rate: list,
    stock: list | None,
    *,
    width: float = 178,
    height: float = 84,
    note: str = "",
) -> str:
    """One region's small multiple: fill rate (0 to 100%, shaded area) and stock (line, its own scale)."""
    left, top, pw, ph = 4, 30, width - 8, height - 36
    nx = max(len(labels) - 1, 1)
    out = [
        f'<rect x="0.5" y="0.5" width="{n(width - 1)}" height="{n(height - 1)}" fill="#fff" stroke="#ddd"/>',
        text(6, 13, label, size=11, weight="600"),
        text(6, 25, note, size=9, fill=MUTED),
        f'<rect x="{left}" y="{top}" width="{n(pw)}" height="{n(ph)}" fill="#f6f6f6"/>',
    ]
    pts = [(left + pw * i / nx, top + ph - ph * min(max(v, 0), 1)) for i, v in enumerate(rate) if v is not None]
    if pts:
        area = (
            f"M{n(pts[0][0])},{n(top + ph)} "
            + " ".join(f"L{n(x)},{n(y)}" for x, y in pts)
            + f" L{n(pts[-1][0])},{n(top + ph)} Z"
        )
        out.append(f'<path d="{area}" fill="#74a9cf" fill-opacity="0.55" stroke="#2b8cbe" stroke-width="1.2"/>')
    smax = max((v for v in (stock or []) if v is not None), default=0)
    if stock and smax > 0:
        sp = " ".join(
            f"{n(left + pw * i / nx)},{n(top + ph - ph * v / smax)}" for i, v in enumerate(stock) if v is not None
        )
        out.append(f'<polyline points="{sp}" fill="none" stroke="#e6550d" stroke-width="1.4"/>')
    return svg_doc(width, height, "".join(out), label=f"{label}: fill rate and stock", cls="spark")


def sankey(
    columns: list[list[dict]], links: list[dict], *, width: float = 900, height: float = 360, title: str = ""
) -> str:
    """Flows between columns of nodes. A node: ``id``, ``label``, ``colour``; a link: ``source``, ``target``
    (node ids in adjacent columns), ``value``, ``colour``. Node heights are to one scale across columns."""
    top, bottom, gap, node_w = 28 if title else 8, 8, 8, 12
    value_in: dict[str, float] = {}
    value_out: dict[str, float] = {}
    for lk in links:
        value_out[lk["source"]] = value_out.get(lk["source"], 0) + lk["value"]
        value_in[lk["target"]] = value_in.get(lk["target"], 0) + lk["value"]
    size = {nd["id"]: max(value_in.get(nd["id"], 0), value_out.get(nd["id"], 0)) for col in columns for nd in col}
    avail = height - top - bottom
    scale = min(
        (avail - gap * (len(col) - 1)) / max(sum(size[nd["id"]] for nd in col), 1e-12) for col in columns if col
    )
    left_room, right_room = 240, 200
    xs = [
        left_room + (width - left_room - right_room - node_w) * c / max(len(columns) - 1, 1)
        for c in range(len(columns))
    ]
    pos: dict[str, tuple[float, float, float]] = {}
    out = [text(0, 15, title, size=12.5, weight="600")] if title else []
    for c, col in enumerate(columns):
        total_h = sum(size[nd["id"]] * scale for nd in col) + gap * (len(col) - 1)
        y = top + (avail - total_h) / 2
        for nd in col:
            h = max(size[nd["id"]] * scale, 1.0)
            pos[nd["id"]] = (xs[c], y, h)
            y += h + gap
    nodes_svg = []
    for c, col in enumerate(columns):
        for nd in col:
            x, y, h = pos[nd["id"]]
            nodes_svg.append(
                f'<rect class="node" x="{n(x)}" y="{n(y)}" width="{node_w}" height="{n(h)}" '
                f'fill="{nd.get("colour", "#555")}"><title>{esc(nd["label"])}: '
                f"{esc(fmt_qty(size[nd['id']]))}</title></rect>"
            )
            if c == 0:
                lx, anchor = x - 6, "end"
            elif c == len(columns) - 1:
                lx, anchor = x + node_w + 6, "start"
            else:
                lx, anchor = x + node_w + 6, "start"
            nodes_svg.append(
                text(
                    lx,
                    y + h / 2 + 3.5,
                    f"{nd['label']}  {fmt_qty(size[nd['id']])}",
                    size=10.5,
                    anchor=anchor,
                    halo=True,
                )
            )
    used_out: dict[str, float] = {}
    used_in: dict[str, float] = {}
    for lk in links:
        sx, sy, _ = pos[lk["source"]]
        tx, ty, _ = pos[lk["target"]]
        w = lk["value"] * scale
        y0 = sy + used_out.get(lk["source"], 0) + w / 2
        y1 = ty + used_in.get(lk["target"], 0) + w / 2
        used_out[lk["source"]] = used_out.get(lk["source"], 0) + w
        used_in[lk["target"]] = used_in.get(lk["target"], 0) + w
        x0, x1 = sx + node_w, tx
        xm = (x0 + x1) / 2
        out.append(
            f'<path class="link" d="M{n(x0)},{n(y0)} C{n(xm)},{n(y0)} {n(xm)},{n(y1)} {n(x1)},{n(y1)}" '
            f'fill="none" stroke="{lk.get("colour", "#888")}" stroke-opacity="0.45" '
            f'stroke-width="{n(max(w, 1.0))}"><title>{esc(lk.get("title", ""))}</title></path>'
        )
    return svg_doc(width, height, "".join(out + nodes_svg), label=title or "flows")
