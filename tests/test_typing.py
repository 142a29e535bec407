"""The package's types, checked by mypy and held to a baseline that may only shrink.

``tests/mypy_baseline.json`` records, per file, how many errors mypy (the version pinned in
``pyproject.toml``) finds today. A file with more errors than its baseline fails this test (a new
error was added); a file with fewer fails it too, asking for the baseline to be lowered, so that a
fixed error cannot come back unnoticed. Regenerate with ``python tests/test_typing.py --write``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "mypy_baseline.json"
_LINE = re.compile(r"^(allocator/[^:]+\.py):\d+: error: ")


def mypy_errors() -> Counter:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1) or proc.stderr.strip():
        raise RuntimeError(f"mypy did not run: exit {proc.returncode}\n{proc.stderr}")
    return Counter(m.group(1) for line in proc.stdout.splitlines() if (m := _LINE.match(line)))


def test_type_errors_only_shrink():
    got = mypy_errors()
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    more = {f: (n, baseline.get(f, 0)) for f, n in got.items() if n > baseline.get(f, 0)}
    fewer = {f: (got.get(f, 0), n) for f, n in baseline.items() if got.get(f, 0) < n}
    assert not more, f"new type errors (file: now, baseline): {more}; run mypy and fix them"
    assert not fewer, f"fewer type errors than the baseline (file: now, baseline): {fewer}; lower {BASELINE.name}"


def test_the_package_ships_its_types():
    assert (ROOT / "allocator" / "py.typed").exists()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    BASELINE.write_text(json.dumps(dict(sorted(mypy_errors().items())), indent=2) + "\n", encoding="utf-8")
