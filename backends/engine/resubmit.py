"""Submitting a job again: the submit form's values from batchdeck's stored spec or from the
scheduler's own copy of a job it did not submit, and ``resubmit --failed-only``: an array's
failed tasks, submitted again as the scheduler ran them."""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BatchdeckError
from ..model import JobDetails, JobRecord, JobSpec, Outcome
from ..schedulers.base import BatchSystem, task_ranges
from ..units import format_memory, format_walltime
from . import job_control


def spec_form_values(spec: JobSpec, script_file: str | None = None) -> dict[str, str]:
    """The submit form's fields (field id -> text) that describe ``spec``; a script's text is
    the form's by the path of a file holding it (``script_file``)."""
    values = {
        "name": spec.name,
        "queue": spec.queue or "",
        "cores": str(spec.cores),
        "memory": format_memory(spec.memory_per_core) if spec.memory_per_core else "",
        "walltime": format_walltime(spec.walltime) if spec.walltime else "",
        # "path=name" only where the sandbox name differs: the form's own short form otherwise
        "inputs": shlex.join(
            path if os.path.basename(path) == name else f"{path}={name}" for path, name in spec.inputs.items()
        ),
        "outputs": shlex.join(spec.outputs),
        "array": spec.array or "",
    }
    if spec.command:
        values["command"] = shlex.join([*spec.command, *spec.arguments])
    elif script_file:
        values["script"] = script_file
    return values


def details_form_values(details: JobDetails, script_file: str) -> dict[str, str]:
    """The form's fields for a job batchdeck did not submit: the scheduler's view of its resources."""
    cores = details.cores or 1
    per_core = int(details.memory / cores) if details.memory else None
    return {
        "script": script_file,
        "name": details.name,
        "queue": details.queue,
        "cores": str(cores),
        "memory": format_memory(per_core) if per_core else "",
        "walltime": format_walltime(details.time_limit) if details.time_limit else "",
    }


def script_copy_path(data_dir: Path, cluster: str, jobid: str) -> Path:
    """Where a fetched script is kept for the form (its field takes a path): beside the journal,
    one file per job, named so no cluster name or job id can leave the folder."""
    safe = re.sub(r"[^\w.-]", "_", f"{cluster}-{jobid}").lstrip(".")
    return data_dir / "resubmit" / f"{safe}.sh"


#: a fetched script copy older than this is deleted at the next fetch (the form has long been used)
SCRIPT_COPIES_KEPT = 7 * 24 * 3600.0


def write_script_copy(path: Path, text: str, now: float | None = None) -> str:
    """Keep ``text`` at ``path`` (0600, written under a temporary name and renamed when complete);
    copies older than SCRIPT_COPIES_KEPT go, so the folder does not grow without bound."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    cutoff = (time.time() if now is None else now) - SCRIPT_COPIES_KEPT
    for old in path.parent.glob("*.sh"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue  # another process removed it first
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    # private: a script can hold paths and tokens the user would not share
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return str(path)


async def resubmit_values(
    backend: BatchSystem, data_dir: Path, jobid: str, record: JobRecord | None
) -> dict[str, str]:
    """The form's fields to submit a job again: batchdeck's stored spec (``record``) or, for a job
    batchdeck did not submit, the scheduler's copy of its script and its resources (two commands
    on the cluster; the script is written to a private file the form names)."""
    if record is not None:
        spec = record.spec
        script_file = None
        if spec.script is not None:
            script_file = write_script_copy(
                script_copy_path(data_dir, record.cluster, record.id), spec.script
            )
        return spec_form_values(spec, script_file)
    script = await job_control.batch_script(backend, jobid)
    details = await job_control.job_details(backend, jobid)
    path = write_script_copy(script_copy_path(data_dir, backend.name, jobid), script)
    return details_form_values(details, path)


# ---------------------------------------------------------------------------- --failed-only


@dataclass
class TasksPlan:
    """An array's failed tasks, and the one command that submits them again."""

    tasks: list[int]  # the task ids to submit again
    known: int  # how many tasks of the array accounting knows
    argv: list[str]  # the submit command, which reads the script from its stdin
    script: str  # the scheduler's copy of the array's batch script


async def plan_failed_tasks(backend: BatchSystem, jobid: str, changes: dict[str, Any]) -> TasksPlan:
    """How to submit the array's failed tasks again, only those task ids, from the scheduler's copy
    of its script in the job's own working directory (as the user's own submit ran it).

    ``changes`` are JobSpec fields (``job_specs.spec_changes``) the new submit overrides. Raises
    ``BatchdeckError`` in one line when the job is no array, a task has not ended yet, none failed,
    or the scheduler keeps no script or working directory for it.
    """
    await backend.connect()
    argv = backend.array_tasks_argv(jobid)
    tasks = backend.parse_array_tasks_output(jobid, await backend.run_command(argv, check=False))
    if not tasks:
        raise BatchdeckError(
            f"job {jobid} on {backend.name!r} is not an array job, or accounting has no record of its tasks yet"
        )
    unfinished = sorted(n for n, r in tasks.items() if r.end_time is None or r.outcome is None)
    if unfinished:
        raise BatchdeckError(
            f"array {jobid} on {backend.name!r} still has {len(unfinished)} task(s) that have not ended "
            f"({task_ranges(unfinished)}): resubmit its failed ones once all have ended"
        )
    failed = sorted(n for n, r in tasks.items() if r.outcome is not Outcome.OK)
    if not failed:
        raise BatchdeckError(f"no task of array {jobid} on {backend.name!r} failed ({len(tasks)} ended ok)")
    script = await job_control.batch_script(backend, jobid)
    details = await job_control.job_details(backend, jobid)
    if not details.workdir:
        raise BatchdeckError(f"the scheduler no longer says in which directory job {jobid} ran")
    return TasksPlan(
        failed, len(tasks), backend.array_resubmit_argv(failed, details.workdir, changes), script
    )


async def submit_tasks(backend: BatchSystem, plan: TasksPlan) -> str:
    """Run the plan's submit command; the new array's scheduler id."""
    result = await backend.run_command(plan.argv, stdin=plan.script.encode())
    return backend.get_jobid_from_submit_output(result.stdout, backend.submit_regexp)
