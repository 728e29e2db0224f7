"""The contract's shape: the algorithm lives in BatchSystem only; a scheduler class is hooks, each hook
says what it receives, returns and raises, and what a backend's hook really raises is written in its
docstring (#10 item 1). Read from the code itself (the classes and their source), not from a list."""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchdeck.backends.schedulers import base as base_module
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.registry import BACKENDS, backend_class

ROOT = Path(__file__).resolve().parent.parent

#: what a subclass may define although BatchSystem has it: it reads its own settings there
CONSTRUCTOR = "__init__"


def _doc(member: Any) -> str:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return inspect.getdoc(member) or ""


def hooks() -> dict[str, Any]:
    """Every hook of the contract: the abstract methods and the optional hooks with their defaults."""
    found = {name: vars(BatchSystem)[name] for name in BatchSystem.__abstractmethods__}
    for name, member in vars(BatchSystem).items():
        if _doc(member).startswith("Optional hook"):
            found[name] = member
    return found


def _is_method(member: Any) -> bool:
    return isinstance(member, (types.FunctionType, staticmethod, classmethod, property))


def scheduler_classes() -> list[type[BatchSystem]]:
    """Every registered backend and every other BatchSystem subclass batchdeck itself defines."""
    for type_name in BACKENDS:
        backend_class(type_name)
    found: list[type[BatchSystem]] = []
    todo = list(BatchSystem.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("batchdeck.") and cls not in found:
            found.append(cls)
    registered = {backend_class(t) for t in BACKENDS}
    assert registered <= set(found)
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", scheduler_classes(), ids=lambda c: c.__name__)
def test_no_backend_overrides_a_method_of_the_algorithm(cls: type[BatchSystem]) -> None:
    hook_names = set(hooks())
    algorithm = {name for name, member in vars(BatchSystem).items() if _is_method(member)} - hook_names
    assert len(algorithm) > 30  # connect, submit_job, _run, query_jobs, cancel_job, peek, get_results, free, ...
    for klass in cls.__mro__[: cls.__mro__.index(BatchSystem)]:
        overridden = sorted(name for name in vars(klass) if name in algorithm and name != CONSTRUCTOR)
        assert overridden == [], f"{klass.__name__} overrides the algorithm's {overridden}"


def test_the_override_check_catches_an_override() -> None:
    class Sneaky(backend_class("slurm")):  # type: ignore[misc, valid-type]
        async def cancel_job(self, job: Any) -> Any:  # an algorithm method, not a hook
            return job

    algorithm = {name for name, member in vars(BatchSystem).items() if _is_method(member)} - set(hooks())
    assert [name for name in vars(Sneaky) if name in algorithm] == ["cancel_job"]


@pytest.mark.parametrize("type_name", sorted(BACKENDS))
def test_every_backend_implements_every_hook(type_name: str) -> None:
    assert not inspect.isabstract(backend_class(type_name))


def _parameters(member: Any) -> list[str]:
    func = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
    names = list(inspect.signature(func).parameters)
    return names[1:] if names and names[0] in ("self", "cls") and not isinstance(member, staticmethod) else names


def _returns_something(member: Any) -> bool:
    func = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
    return inspect.signature(func).return_annotation not in ("None", None)


@pytest.mark.parametrize("name", sorted(hooks()))
def test_every_hook_says_what_it_receives_returns_and_raises(name: str) -> None:
    member = hooks()[name]
    doc = _doc(member)
    for word, needed in (
        ("receives", bool(_parameters(member))),
        ("returns", _returns_something(member)),
        ("raises", True),
    ):
        if needed:
            assert re.search(rf"\b{word}\b", doc, re.IGNORECASE), f"hook {name}'s docstring does not say what it {word}:\n{doc}"
    assert len(sorted(BatchSystem.__abstractmethods__)) >= 13


# ---------------------------------------------------------------- what a hook really raises

#: the exceptions a hook's code path raises are read from its source: ``raise X(...)`` and ``raise
#: f(...)`` where ``f`` is annotated to return an exception, through the functions of its module and of
#: base.py and the methods it calls on ``self``, minus what an enclosing ``try`` catches.


@functools.cache
def source_of(cls: type[BatchSystem]) -> Source:
    return Source(cls)


class Source:
    def __init__(self, cls: type[BatchSystem]) -> None:
        modules = [base_module, sys.modules[cls.__module__]]
        self.namespace: dict[str, Any] = {**vars(builtins)}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        classes = [k for k in reversed(cls.__mro__) if issubclass(k, BatchSystem)]
        for module in modules:
            self.namespace.update(vars(module))
            for node in ast.parse(inspect.getsource(module)).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.functions[node.name] = node
        for klass in classes:  # most derived last, so its methods win
            tree = ast.parse(inspect.getsource(sys.modules[klass.__module__]))
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and node.name == klass.__name__:
                    for item in node.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            self.methods[item.name] = item

    def _exception(self, name: str) -> type[BaseException] | None:
        value = self.namespace.get(name)
        return value if isinstance(value, type) and issubclass(value, BaseException) else None

    def _returned_exception(self, func: ast.FunctionDef | ast.AsyncFunctionDef | None) -> str | None:
        if func is not None and isinstance(func.returns, ast.Name) and self._exception(func.returns.id):
            return func.returns.id
        return None

    def _target(self, call: ast.Call) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        f = call.func
        if isinstance(f, ast.Name):
            return self.functions.get(f.id)
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("self", "cls"):
            return self.methods.get(f.attr)
        return None

    def raised(self, nodes: list[ast.stmt] | list[ast.AST], seen: set[int]) -> set[str]:
        found: set[str] = set()
        for node in nodes:
            found |= self._raised(node, seen)
        return found

    def _raised(self, node: ast.AST, seen: set[int]) -> set[str]:
        if isinstance(node, ast.Try):
            inner = self.raised(node.body, seen)

            def caught_by(handler: ast.ExceptHandler) -> tuple[type[BaseException], ...]:
                kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                found: list[type[BaseException]] = []
                for kind in kinds:
                    if kind is None:
                        found.append(BaseException)
                    elif isinstance(kind, ast.Name) and (exc := self._exception(kind.id)):
                        found.append(exc)
                return tuple(found)

            caught = [c for handler in node.handlers for c in caught_by(handler)]
            kept = {name for name in inner if not any(issubclass(self._exception(name) or Exception, c) for c in caught)}
            for handler in node.handlers:  # a bare ``raise`` in a handler raises what it caught
                if any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler)):
                    kept |= {name for name in inner if issubclass(self._exception(name) or Exception, caught_by(handler))}
            rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
            return kept | self.raised(rest, seen)
        found: set[str] = set()
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            f = node.exc.func
            if isinstance(f, ast.Name) and self._exception(f.id):
                found.add(f.id)
            elif name := self._returned_exception(self._target(node.exc)):
                found.add(name)
            else:
                raise AssertionError(f"cannot tell what `{ast.unparse(node)}` raises: annotate its factory")
        if isinstance(node, ast.Call):
            target = self._target(node)
            if target is not None and id(target) not in seen:
                seen.add(id(target))
                found |= self.raised(target.body, seen)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                found |= self._raised(child, seen)
        return found


def implemented_hooks() -> Iterator[tuple[type[BatchSystem], str]]:
    for cls in [BatchSystem, *scheduler_classes()]:
        for name in sorted(hooks()):
            if name in vars(cls):
                yield cls, name


def _function_node(source: Source, cls: type[BatchSystem], name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    member = vars(cls)[name]
    if isinstance(member, staticmethod) and member.__func__.__name__ != name:
        return source.functions[member.__func__.__name__]  # a pure function of the module, made the hook
    tree = ast.parse(inspect.getsource(sys.modules[cls.__module__]))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name:
                    return item
    raise AssertionError(f"{cls.__name__}.{name} not found in its source")


@pytest.mark.parametrize(("cls", "name"), list(implemented_hooks()), ids=lambda v: v.__name__ if isinstance(v, type) else v)
def test_each_hook_documents_what_it_really_raises(cls: type[BatchSystem], name: str) -> None:
    source = source_of(cls)
    raised = source.raised(_function_node(source, cls, name).body, set())
    said = _doc(hooks()[name]) + "\n" + _doc(vars(cls)[name])
    missing = sorted(e for e in raised if not re.search(rf"\b{e}\b", said))
    assert missing == [], f"{cls.__name__}.{name} raises {missing}, which neither its docstring nor BatchSystem's says"


def test_the_raises_reading_sees_through_factories_and_try() -> None:
    source = Source(backend_class("pbs"))
    prepare = _function_node(source, backend_class("pbs"), "prepare")
    assert {"ParseError", "SchedulerError"} <= source.raised(prepare.body, set())
    sge = backend_class("sge")
    # parse_limits_output catches the parser's ParseError: a limit it cannot read is left to Grid Engine
    assert source.raised(_function_node(Source(sge), sge, "parse_limits_output").body, set()) == set()


# ---------------------------------------------------------------- one command path, no branch on a type


def _python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_every_command_goes_through_run() -> None:
    """Only ``BatchSystem._run`` calls ``transport.run``: the cluster's timeout and one error path."""
    callers: list[str] = []
    for path in _python_files("backends/schedulers", "backends/engine", "tui"):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "run"
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "transport"
                ):
                    callers.append(f"{path.relative_to(ROOT)}:{func.name}")
    assert callers == ["backends/schedulers/base.py:_run"]


def _branches_on_type(tree: ast.AST) -> Iterator[ast.AST]:
    def about_type(node: ast.AST) -> bool:
        return any(
            (isinstance(n, ast.Attribute) and n.attr in ("type", "type_name"))
            or (isinstance(n, ast.Constant) and n.value in BACKENDS)
            for n in ast.walk(node)
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(about_type(o) for o in [node.left, *node.comparators]):
            yield node
        elif isinstance(node, ast.Match) and about_type(node.subject):
            yield node
        elif isinstance(node, ast.Subscript) and about_type(node.slice):
            yield node  # {"slurm": ...}[conf.type] is a branch too


def test_engine_and_tui_never_branch_on_a_cluster_type() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"  # type: ignore[attr-defined]
        for path in _python_files("backends/engine", "tui")
        for node in _branches_on_type(ast.parse(path.read_text()))
    ]
    assert found == []


def test_the_type_branch_check_catches_one() -> None:
    tree = ast.parse('clusters = [n for n, c in conf.items() if c.type != "local"]\nx = {"slurm": 1}[c.type]')
    assert len(list(_branches_on_type(tree))) == 2


def test_directive_readers_and_dependency_lines_are_class_hooks() -> None:
    registry = importlib.import_module("batchdeck.backends.schedulers.registry")
    assert not hasattr(registry, "read_script_directives") and not hasattr(registry, "dependency_directives")
    script = "#!/bin/sh\n#SBATCH --time=10\necho hi\n"
    assert backend_class("slurm").read_script_directives(script).values == {"walltime": 600}
    assert backend_class("local").read_script_directives(script).values == {}  # local processes read none
    assert backend_class("slurm").dependency_directives([("ok", "7")]) == ["#SBATCH --dependency=afterok:7"]


def test_one_error_reduction_and_one_command_error() -> None:
    """``one_line`` (a scheduler's first meaningful line) and ``command_error`` are defined once, in base.py."""
    defined: dict[str, list[str]] = {"one_line": [], "command_error": []}
    for path in _python_files("backends", "tui"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in defined:
                defined[node.name].append(str(path.relative_to(ROOT)))
    assert defined == {
        "one_line": ["backends/schedulers/base.py"],
        "command_error": ["backends/schedulers/base.py", "backends/schedulers/base.py"],  # the function and its method
    }
