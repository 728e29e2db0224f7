"""CONTRIBUTING.md's map matches the tree (#10 item 6): every module of the package is named in its
Layout section, and every file the section names exists."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FOLDERS = ("backends", "tui", "themes")


def layout() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    start = text.index("## Layout")
    return text[start : text.index("\n## ", start + 1)]


def package_files() -> list[Path]:
    return sorted(
        path
        for folder in PACKAGE_FOLDERS
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".tcss") and path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def test_every_module_is_on_the_map() -> None:
    section = layout()
    files = package_files()
    assert len(files) > 50
    missing = [str(p.relative_to(ROOT)) for p in files if f"`{p.name}`" not in section and f"{p.name}`" not in section]
    assert missing == [], f"CONTRIBUTING.md's Layout does not say what these hold: {missing}"


def test_every_file_on_the_map_exists() -> None:
    names = set(re.findall(r"`(?:[\w./-]*/)?([\w-]+\.(?:py|tcss|sh))`", layout()))
    assert len(names) > 40
    tree = {p.name for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}
    gone = sorted(name for name in names if name not in tree)
    assert gone == [], f"CONTRIBUTING.md's Layout names files that are not in the tree: {gone}"


def _target(makefile: str, name: str) -> str:
    match = re.search(rf"^{name}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert match, f"no {name} target"
    return match.group(1)


def test_mypy_strict_runs_in_make_lint_and_ci() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "bin/mypy" in _target(makefile, "lint")
    assert "lint" in _target(makefile, "test")  # make test lints first, so CI (make test) type-checks
    assert re.search(r"^make test\b", (ROOT / ".ci" / "run").read_text(), re.M)
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["strict"] is True and mypy["packages"] == ["batchdeck"]
