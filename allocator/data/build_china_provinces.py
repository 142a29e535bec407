"""Build ``china_provinces.json`` (province outlines for the HTML report's map) from DCW-GMT.

Source: DCW-GMT 2.1.1 (the Digital Chart of the World for GMT, https://github.com/GenericMappingTools/dcw-gmt),
LGPL-3.0-or-later, as Debian's package ``gmt-dcw`` 2.1.1-1 ships it (``/usr/share/gmt-dcw/dcw-gmt.nc``).
The licence texts are in ``LICENSE-china_provinces.txt`` beside the output; ``README.md`` here says what was changed.

Not run at install or test time. To build again (needs h5py, which the project does not depend on):

    apt-get download gmt-dcw && dpkg-deb -x gmt-dcw_*.deb dcw
    python allocator/data/build_china_provinces.py dcw/usr/share/gmt-dcw/dcw-gmt.nc allocator/data/china_provinces.json

What it does: reads the 34 ``CN.xx`` state polygons, simplifies every ring with Douglas-Peucker at
``TOLERANCE`` degrees, keeps each province's largest ring and every other ring of at least ``MIN_AREA``
square degrees (drops small islands), and writes the rings as whole hundredths of a degree.
"""

from __future__ import annotations

import json
import sys

import numpy as np

TOLERANCE = 0.035  # degrees (about 3.5 km)
MIN_AREA = 0.02  # square degrees (about 200 km2)

# DCW state code -> (the project's region id as in allocator/data/provinces.csv, English name, Chinese name)
CODES = {
    "AH": ("anhui", "Anhui", "安徽省"),
    "BJ": ("beijing", "Beijing", "北京市"),
    "CQ": ("chongqing", "Chongqing", "重庆市"),
    "FJ": ("fujian", "Fujian", "福建省"),
    "GD": ("guangdong", "Guangdong", "广东省"),
    "GS": ("gansu", "Gansu", "甘肃省"),
    "GX": ("guangxi", "Guangxi", "广西壮族自治区"),
    "GZ": ("guizhou", "Guizhou", "贵州省"),
    "HA": ("henan", "Henan", "河南省"),
    "HB": ("hubei", "Hubei", "湖北省"),
    "HE": ("hebei", "Hebei", "河北省"),
    "HI": ("hainan", "Hainan", "海南省"),
    "HK": ("hong_kong", "Hong Kong", "香港特别行政区"),
    "HL": ("heilongjiang", "Heilongjiang", "黑龙江省"),
    "HN": ("hunan", "Hunan", "湖南省"),
    "JL": ("jilin", "Jilin", "吉林省"),
    "JS": ("jiangsu", "Jiangsu", "江苏省"),
    "JX": ("jiangxi", "Jiangxi", "江西省"),
    "LN": ("liaoning", "Liaoning", "辽宁省"),
    "MO": ("macao", "Macao", "澳门特别行政区"),
    "NM": ("inner_mongolia", "Inner Mongolia", "内蒙古自治区"),
    "NX": ("ningxia", "Ningxia", "宁夏回族自治区"),
    "QH": ("qinghai", "Qinghai", "青海省"),
    "SC": ("sichuan", "Sichuan", "四川省"),
    "SD": ("shandong", "Shandong", "山东省"),
    "SH": ("shanghai", "Shanghai", "上海市"),
    "SN": ("shaanxi", "Shaanxi", "陕西省"),
    "SX": ("shanxi", "Shanxi", "山西省"),
    "TJ": ("tianjin", "Tianjin", "天津市"),
    "TW": ("taiwan", "Taiwan", "台湾省"),
    "XJ": ("xinjiang", "Xinjiang", "新疆维吾尔自治区"),
    "XZ": ("tibet", "Tibet (Xizang)", "西藏自治区"),
    "YN": ("yunnan", "Yunnan", "云南省"),
    "ZJ": ("zhejiang", "Zhejiang", "浙江省"),
}


def _decode(f, code: str) -> list[np.ndarray]:
    """The rings of one state: DCW stores lon/lat as uint16 (value = min + stored / scale); 65535 starts a ring."""
    out = []
    parts = {}
    for axis in ("lon", "lat"):
        var = f[f"CN{code}_{axis}"]
        parts[axis] = (var[:].astype(np.int64), float(var.attrs["min"][0]), float(var.attrs["scale"][0]))
    lon_raw, lon_min, lon_scale = parts["lon"]
    lat_raw, lat_min, lat_scale = parts["lat"]
    starts = list(np.flatnonzero(lon_raw == 65535)) + [len(lon_raw)]
    for a, b in zip(starts[:-1], starts[1:]):
        xy = np.column_stack([lon_min + lon_raw[a + 1 : b] / lon_scale, lat_min + lat_raw[a + 1 : b] / lat_scale])
        if len(xy) >= 3:
            out.append(xy)
    return out


def _simplify(xy: np.ndarray, tol: float) -> np.ndarray:
    """Douglas-Peucker on a closed ring (iterative, so long coastlines do not recurse deeply)."""
    n = len(xy)
    keep = np.zeros(n, bool)
    far = int(np.argmax(((xy - xy[0]) ** 2).sum(1)))  # split a closed ring at its farthest point
    keep[[0, far, n - 1]] = True
    stack = [(0, far), (far, n - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        p, q = xy[i], xy[j]
        seg = xy[i + 1 : j]
        d = q - p
        norm = np.hypot(*d)
        dist = (
            np.abs(d[0] * (seg[:, 1] - p[1]) - d[1] * (seg[:, 0] - p[0])) / norm if norm > 0 else np.hypot(*(seg - p).T)
        )
        k = int(np.argmax(dist))
        if dist[k] > tol:
            m = i + 1 + k
            keep[m] = True
            stack += [(i, m), (m, j)]
    return xy[keep]


def _area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def build(nc_path: str) -> dict:
    import h5py

    provinces = {}
    with h5py.File(nc_path, "r") as f:
        version = f.attrs["version"].decode()
        for code, (rid, name, name_zh) in sorted(CODES.items(), key=lambda kv: kv[1][0]):
            rings = sorted(_decode(f, code), key=_area, reverse=True)
            kept = []
            for n, ring in enumerate(rings):
                if n > 0 and _area(ring) < MIN_AREA:
                    continue
                pts = np.round(_simplify(ring, TOLERANCE) * 100).astype(int)
                pts = pts[np.r_[True, (np.diff(pts, axis=0) != 0).any(1)]]
                if len(pts) < 4 and n == 0:  # a province smaller than the tolerance (Macao): its outline as it is
                    pts = np.round(ring * 100).astype(int)
                    pts = pts[np.r_[True, (np.diff(pts, axis=0) != 0).any(1)]]
                if len(pts) >= 4:
                    kept.append([int(v) for v in pts.ravel()])
            provinces[rid] = {"name": name, "name_zh": name_zh, "dcw": f"CN.{code}", "rings": kept}
    return {
        "source": f"DCW-GMT {version} (Digital Chart of the World for GMT), Debian package gmt-dcw 2.1.1-1",
        "licence": "LGPL-3.0-or-later (see LICENSE-china_provinces.txt)",
        "changes": f"simplified (Douglas-Peucker, {TOLERANCE} degrees), islands under {MIN_AREA} square degrees "
        "dropped, rounded to 0.01 degree; coordinates in hundredths of a degree, lon, lat, lon, lat, ...",
        "provinces": provinces,
    }


if __name__ == "__main__":
    data = build(sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        out.write("\n")
