"""Which class serves each cluster ``type``."""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import BatchSystem

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

