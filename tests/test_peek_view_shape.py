"""Peek is a model plus a view (#10 item 5): the model has no Textual in it, the view touches no private
member of Textual's widgets, and ``textual`` is pinned to the major version the snapshots are made with."""

from __future__ import annotations

import ast
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
from textual.widget import Widget

from batchdeck.tui import peek_view

ROOT = Path(__file__).resolve().parent.parent
VIEW = ROOT / "tui" / "peek_view.py"
MODEL = ROOT / "backends" / "engine" / "logfile.py"


def test_the_model_imports_no_textual() -> None:
    tree = ast.parse(MODEL.read_text())
    imported = [
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert not [name for name in imported if name.split(".")[0] in ("textual", "rich")]


def test_the_view_reads_no_private_member_of_another_object() -> None:
    """``x._name`` only on ``self``: never on a Textual widget, app or event."""
    found = [
        f"{n.lineno}: {ast.unparse(n)}"
        for n in ast.walk(ast.parse(VIEW.read_text()))
        if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
        and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
    ]  # fmt: skip
    assert found == []


@pytest.mark.parametrize("name", ["PeekLog", "PeekPrompt", "PeekView"])
def test_the_views_own_private_names_are_its_own(name: str) -> None:
    """Each ``self._name`` the view uses is defined by it, not a private member it inherits from Textual."""
    cls = getattr(peek_view, name)
    tree = next(n for n in ast.parse(VIEW.read_text()).body if isinstance(n, ast.ClassDef) and n.name == name)
    used = {
        n.attr for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
        and n.attr.startswith("_") and not n.attr.startswith("__")
    }  # fmt: skip
    textual_bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] == "textual"]
    assert Widget in textual_bases
    inherited = {attr for base in textual_bases for attr in vars(base)}
    # attributes Textual sets on its instances, seen on a plain instance of the nearest Textual base
    inherited |= set(vars(textual_bases[0]()))
    assert sorted(used & inherited) == []


def test_textual_is_pinned_to_the_major_the_snapshots_are_made_with() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if re.match(r"textual\b(?!-)", d)]
    assert len(pins) == 1
    low = re.search(r">=\s*(\d+)", pins[0])
    high = re.search(r"<\s*(\d+)", pins[0])
    assert low and high and int(high.group(1)) == int(low.group(1)) + 1, pins[0]
    assert int(version("textual").split(".")[0]) == int(low.group(1))
