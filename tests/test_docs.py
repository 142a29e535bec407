"""The README and docs/ stay true to the code.

The instance-format page is the generator's output; it names every table and column of the schema;
its policy.toml block holds the defaults. The README is short, keeps the set-up commands CI runs,
names no issue numbers, and its Python example runs; so do the guide's. Every relative link in
README.md and docs/*.md points to a file (and heading) that exists, and so does every file they name.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from allocator.inputs.policy import Policy, policy_from_dict
from allocator.inputs.schema import TABLES
from allocator.tools.docs import instance_format_markdown, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGE = DOCS / "instance-format.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
REGENERATE = "regenerate it from the repository root with `python -m allocator.tools.docs --write`"

# The two set-up commands of the README, byte for byte: CI runs the second one's test command.
SETUP = (
    "    python3 -m venv .venv && . .venv/bin/activate && pip install . && allocator solve instances/suits-2020-02-05",
    "    (command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium))"
    ' && python3 -m venv .venv && . .venv/bin/activate && pip install ".[test]" && python -m pytest -q',
)
ISSUE_NUMBER = re.compile(r"#\d+|\b[Ii]ssues? \d+")
FENCE = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The text outside fenced blocks and inline code, where links and headings are."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", _text(path)).splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", _text(path), re.M | re.S)


# --- the generated instance-format page --------------------------------------------------


def test_instance_format_page_is_the_generators_output():
    assert PAGE.exists(), f"{PAGE.relative_to(ROOT)} is missing: {REGENERATE}"
    assert _text(PAGE) == instance_format_markdown(), (
        f"{PAGE.relative_to(ROOT)} is out of date with allocator/inputs/schema.py or allocator/tools/docs.py: "
        f"{REGENERATE}"
    )


def test_generator_is_deterministic_and_its_command_prints_and_writes_the_page(tmp_path):
    text = instance_format_markdown()
    assert instance_format_markdown() == text
    out = subprocess.run([sys.executable, "-m", "allocator.tools.docs"], cwd=ROOT, capture_output=True, check=True)
    assert out.stdout == text.encode("utf-8")
    target = tmp_path / "page.md"
    assert main(["--write", str(target)]) == 0
    assert target.read_bytes() == text.encode("utf-8")


def test_page_names_every_table_and_column_of_the_schema():
    page = instance_format_markdown()
    sections = {m.group(1): m.end() for m in re.finditer(r"^## `([^`]+)`$", page, re.M)}
    for table in TABLES.values():
        assert table.file in sections, f"no section for {table.file}"
        start = sections[table.file]
        end = page.find("\n## ", start)
        section = page[start : end if end >= 0 else None]
        assert table.description in section, table.file
        for col in table.columns:
            assert f"| `{col.name}` | {'yes' if col.required else 'no'} |" in section, (table.file, col.name)
            assert col.description in section, (table.file, col.name)


def test_policy_block_of_the_page_holds_the_defaults():
    blocks = re.findall(r"^```toml\n(.*?)^```", _text(PAGE), re.M | re.S)
    assert len(blocks) == 1
    assert policy_from_dict(tomllib.loads(blocks[0]), "docs/instance-format.md") == Policy()


# --- the README ----------------------------------------------------------------------------


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= 12_000, f"README.md is {size:,} bytes: keep it under 12,000 and move the rest to docs/"


def test_readme_keeps_the_setup_commands_ci_runs():
    lines = _text(README).splitlines()
    for command in SETUP:
        assert command in lines, f"README.md lost the set-up command {command.strip()[:60]}..."
    test_command = SETUP[1].rsplit("&& ", 1)[1]
    assert test_command in _text(ROOT / ".ci" / "run").splitlines()


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_issue_numbers(path):
    found = ISSUE_NUMBER.findall(_text(path))
    assert not found, f"{path.relative_to(ROOT)} names issue numbers: {found}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_and_headings_that_exist(path):
    bad = []
    for target in LINK.findall(_prose(_text(path))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            bad.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not bad, f"{path.relative_to(ROOT)}:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_the_pages_name_exist(path):
    """A module, test or data file named in code spans (`allocator/engine/lp.py`) exists: renames show up here."""
    named = re.findall(r"`((?:allocator|tests|bench|instances|docs)/[\w./-]*[\w/])`", _text(path))
    missing = sorted({name for name in named if not (ROOT / name).exists()})
    assert not missing, f"{path.relative_to(ROOT)} names files that do not exist: {missing}"


def test_readme_python_example_runs(monkeypatch, capsys):
    blocks = _python_blocks(README)
    assert len(blocks) == 1, "README.md should hold one Python example"
    monkeypatch.chdir(ROOT)
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme_example"})
    assert "optimal 7683376" in capsys.readouterr().out


def test_guide_python_examples_run(monkeypatch, tmp_path):
    blocks = _python_blocks(DOCS / "guide.md")
    assert blocks
    (tmp_path / "instances").symlink_to(ROOT / "instances")  # the examples' paths; their files land in tmp_path
    monkeypatch.chdir(tmp_path)
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/guide.md, example {k + 1}", "exec"), {"__name__": "guide_example"})
    assert (tmp_path / "plan" / "dispatch.csv").exists()
