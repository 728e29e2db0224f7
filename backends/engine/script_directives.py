"""A submitted script's own directives merged into the job spec: the command line and the form win."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from ..model import JobSpec
from ..schedulers.base import BatchSystem
from ..schedulers.directives import DirectiveReading

#: JobSpec fields a script's directives may set
SETTABLE = ("name", "cores", "walltime", "memory_per_core", "queue", "stdout", "stderr", "array")


def merge_directives(spec: JobSpec, reading: DirectiveReading, explicit: Collection[str]) -> JobSpec:
    """``spec`` with the directives' values for the fields not given ``explicit``-ly, and their lines."""
    changes: dict[str, object] = {
        key: value for key, value in reading.values.items() if key in SETTABLE and key not in explicit
    }
    if reading.values.get("merge") and "stderr" not in explicit and "stderr" not in changes:
        changes["stderr"] = changes.get("stdout", spec.stdout)
    return dataclasses.replace(spec, **changes, directives=list(reading.passthrough))  # type: ignore[arg-type]


def spec_with_script_directives(
    spec: JobSpec, scheduler: type[BatchSystem], explicit: Collection[str]
) -> tuple[JobSpec, list[str]]:
    """The spec as it will be submitted to a cluster of ``scheduler``'s class, and one note per
    directive passed through or replaced (its ``read_script_directives`` hook reads them)."""
    if spec.script is None:
        return spec, []
    reading = scheduler.read_script_directives(spec.script)
    return merge_directives(spec, reading, explicit), reading.notes
