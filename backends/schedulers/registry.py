"""Which class serves each cluster ``type``."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import ConfigError
from .base import BatchSystem
from .directives import DirectiveReading

# Imported on first use, so a cluster of one type never loads the others' modules.
BACKENDS: dict[str, str] = {
    "local": "batchdeck.backends.schedulers.local:LocalBatchSystem",
    "slurm": "batchdeck.backends.schedulers.slurm:SlurmBatchSystem",
    "sge": "batchdeck.backends.schedulers.sge:SgeBatchSystem",
    "pbs": "batchdeck.backends.schedulers.pbs:PbsBatchSystem",
    "lsf": "batchdeck.backends.schedulers.lsf:LsfBatchSystem",
}


def backend_class(type_name: str) -> type[BatchSystem]:
    try:
        target = BACKENDS[type_name]
    except KeyError:
        raise ConfigError(
            f"unknown cluster type {type_name!r}; expected one of {', '.join(sorted(BACKENDS))}", key="type"
        ) from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[BatchSystem] = getattr(module, class_name)
    return cls


#: each scheduler's reader of a batch script's own directive lines (the local backend has none)
DIRECTIVE_READERS: dict[str, str] = {
    "slurm": "batchdeck.backends.schedulers.slurm:read_sbatch_directives",
    "sge": "batchdeck.backends.schedulers.sge:read_qsub_directives",
    "pbs": "batchdeck.backends.schedulers.pbs:read_pbs_directives",
    "lsf": "batchdeck.backends.schedulers.lsf:read_bsub_directives",
}


def read_script_directives(type_name: str, script: str) -> DirectiveReading:
    """What a script's directives ask for on a cluster of this type (nothing for local processes)."""
    target = DIRECTIVE_READERS.get(type_name)
    if target is None:
        return DirectiveReading()
    module_name, _, name = target.partition(":")
    reader: Callable[[str], DirectiveReading] = getattr(importlib.import_module(module_name), name)
    return reader(script)


#: each scheduler's way of making a job wait for others (``submit --after``)
DEPENDENCY_WRITERS: dict[str, str] = {
    "slurm": "batchdeck.backends.schedulers.slurm:slurm_dependency_directives",
    "sge": "batchdeck.backends.schedulers.sge:sge_dependency_directives",
    "pbs": "batchdeck.backends.schedulers.pbs:pbs_dependency_directives",
    "lsf": "batchdeck.backends.schedulers.lsf:lsf_dependency_directives",
}


def dependency_directives(type_name: str, conditions: list[tuple[str, str]]) -> list[str]:
    """Directive lines making a job wait for ``(kind, jobid)`` conditions (kind: ok, any, notok)."""
    target = DEPENDENCY_WRITERS.get(type_name)
    if target is None:
        raise ConfigError(f"{type_name} clusters cannot make a job wait for another (--after)", key="type")
    module_name, _, name = target.partition(":")
    writer: Callable[[list[tuple[str, str]]], list[str]] = getattr(importlib.import_module(module_name), name)
    return writer(conditions)

