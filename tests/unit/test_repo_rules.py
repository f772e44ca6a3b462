"""The layout's rules a linter does not hold (issue 12, docs/ARCHITECTURE.md "The tree"):

* a module over about 500 lines says why in its docstring ("One module (~N lines): …");
* every ``noqa`` / ``type: ignore`` names its code and says why on the same line (``# noqa: E731 —
  why``; mypy wants ``# type: ignore[code]  # why``);
* deployed code (``shared/``, ``functions/``) never talks to the local cloud's admin routes;
* product code's comments and docstrings point into the repository, never at the handbook outside
  it (tests may name a path as data).
"""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions", "localcloud", "localruntime", "albmtls", "deploy", "reliability", "bench")
LIMIT = 500
REASON = re.compile(r"~?\d{3,4} lines\)?:\s*\S")
SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)"
                         r"(?P<code>:\s*[A-Z]+\d+(?:,\s*[A-Z]+\d+)*|\[[\w\-, ]+\])?(?P<rest>.*)$")


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [ROOT / p for p in out.splitlines() if p]


def _python_files() -> list[Path]:
    return _tracked(*(f"{p}/*.py" for p in PACKAGES), "tests/*.py")


def oversized_without_reason(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8")
    n = text.count("\n")
    if n <= LIMIT:
        return None
    doc = ast.get_docstring(ast.parse(text)) or ""
    return None if REASON.search(doc) else f"{path.relative_to(ROOT)}: {n} lines, no reason in its docstring"


def bare_suppressions(path: Path) -> list[str]:
    found = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = SUPPRESSION.search(line)
        if not m:
            continue
        rest = m.group("rest").strip(" #—-:")
        if not m.group("code") or not rest:
            found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    return found


def test_modules_over_the_limit_say_why() -> None:
    problems = [p for f in _python_files() if f.relative_to(ROOT).parts[0] != "tests"
                if (p := oversized_without_reason(f))]
    assert problems == [], "\n".join(problems)


def test_every_suppression_names_its_code_and_says_why() -> None:
    problems = [p for f in _python_files() if f != Path(__file__).resolve() for p in bare_suppressions(f)]
    assert problems == [], "\n".join(problems)


def test_deployed_code_never_calls_the_local_clouds_admin_routes() -> None:
    hits = [f"{f.relative_to(ROOT)}" for f in _tracked("shared/*.py", "functions/*.py")
            if "_admin" in f.read_text(encoding="utf-8")]
    assert hits == []


def test_comments_point_into_the_repository() -> None:
    outside = re.compile(r"(\.\./shared/|/work/|\bDESIGN\.md\b|\breference/[\w-]+\.md\b)")
    hits = [f"{f.relative_to(ROOT)}:{i}" for f in _python_files() if f.relative_to(ROOT).parts[0] != "tests"
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert hits == [], "\n".join(hits)


@pytest.mark.parametrize(("line", "bad"), [
    ("x = 1  # noqa", True),
    ("x = 1  # noqa: E731", True),
    ("x = 1  # noqa: E731 — a one-line use case", False),
    ("x = f()  # type: ignore", True),
    ("x = f()  # type: ignore[arg-type]", True),
    ("x = f()  # type: ignore[arg-type]  # the record's own fields", False),
])
def test_the_suppression_rule(tmp_path: Path, line: str, bad: bool) -> None:
    f = tmp_path / "m.py"
    f.write_text(line + "\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert bool(bare_suppressions(f)) is bad
    finally:
        ROOT = saved


def test_the_size_rule(tmp_path: Path) -> None:
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        long = "x = 1\n" * (LIMIT + 1)
        (tmp_path / "a.py").write_text('"""A module."""\n' + long)
        (tmp_path / "b.py").write_text('"""A module.\n\nOne module (~510 lines): one decision."""\n' + long)
        (tmp_path / "c.py").write_text('"""Short."""\n')
        assert oversized_without_reason(tmp_path / "a.py")
        assert oversized_without_reason(tmp_path / "b.py") is None
        assert oversized_without_reason(tmp_path / "c.py") is None
    finally:
        ROOT = saved
