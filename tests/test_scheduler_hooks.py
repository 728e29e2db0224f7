"""The contract's shape: the algorithm lives in BatchSystem only; a scheduler class is hooks."""

from __future__ import annotations

import inspect

import pytest

from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.registry import BACKENDS, backend_class

ALGORITHM = (
    "connect",
    "close",
    "submit_job",
    "_submit",
    "query_jobs",
    "query_finished",
    "update_job_states",
    "update_job_state",
    "apply_status",
    "cancel_job",
    "peek",
    "peek_bytes",
    "get_results",
    "free",
    "list_jobs",
    "list_queues",
    "validate_spec",
    "validate_data",
    "check_limits",
    "learn_limits",
    "check_scheduler_limits",
    "render_script",
    "get_jobid_from_submit_output",
    "get_prologue_script",
    "get_epilogue_script",
    "_run",
    "command_error",
)


@pytest.mark.parametrize("type_name", sorted(BACKENDS))
def test_no_backend_overrides_the_algorithm(type_name: str) -> None:
    cls = backend_class(type_name)
    overridden = [name for name in ALGORITHM if name in vars(cls)]
    assert overridden == [], f"{cls.__name__} overrides {overridden}"


@pytest.mark.parametrize("type_name", sorted(BACKENDS))
def test_every_backend_implements_every_hook(type_name: str) -> None:
    assert not inspect.isabstract(backend_class(type_name))


def test_every_hook_says_what_it_receives_returns_and_raises() -> None:
    hooks = sorted(BatchSystem.__abstractmethods__)
    assert len(hooks) >= 12
    for name in hooks:
        doc = inspect.getdoc(getattr(BatchSystem, name)) or ""
        assert len(doc.split()) >= 8, f"hook {name} has no contract docstring"


def test_every_optional_hook_says_what_it_receives_returns_and_raises() -> None:
    optional = [
        name
        for name, member in vars(BatchSystem).items()
        if callable(member) and (inspect.getdoc(member) or "").startswith("Optional hook")
    ]
    assert {"history_argv", "details_argv", "control_argv", "batch_script_argv", "status_followup_argv", "limits_argv"} <= set(optional)
    for name in optional:
        doc = inspect.getdoc(getattr(BatchSystem, name)) or ""
        assert len(doc.split()) >= 8, f"hook {name} has no contract docstring"
