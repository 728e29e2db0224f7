"""Any of the user's jobs, whatever submitted it: details (``batchdeck show``) and control (cancel,
signal, hold, release, a new time limit), each one command on the cluster. The scheduler's refusal
(another user's job, a limit) comes back as its own words, in one line."""

from __future__ import annotations

import re
import shlex

from ..errors import BatchdeckError, InvalidJobSpec
from ..model import JobDetails, JobRecord
from ..schedulers.base import BatchSystem, one_line
from ..units import format_memory, format_walltime, format_when
from .deck import lost_note

ACTIONS = ("cancel", "signal", "hold", "release", "time_limit")
SIGNALS = ("TERM", "INT", "HUP", "USR1", "USR2", "KILL", "STOP", "CONT")

#: a scheduler's job id as a user types it (SLURM ``123_4``, ``123_[1-3]``, ``123+1``; Grid Engine
#: ``123.4``; PBS ``123[4].server``; LSF ``123[4]``): it starts with a letter or digit, so it is
#: never an option of qdel or scancel, and holds none of their wildcards (``qdel '*'`` deletes
#: every job of the user) nor the shell's characters
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\[\]@+-]{0,99}")


def checked_job_id(jobid: str) -> str:
    """``jobid`` if it can only name one job; else ``InvalidJobSpec`` in one line."""
    if not JOB_ID.fullmatch(jobid):
        raise InvalidJobSpec(
            f"{jobid!r} is not a scheduler job id: letters, digits and _ . [ ] @ + - only, starting with a letter or digit"
        )
    return jobid


def details_argv(backend: BatchSystem, jobid: str) -> list[str]:
    return backend.details_argv(checked_job_id(jobid))


def batch_script_argv(backend: BatchSystem, jobid: str) -> list[str]:
    return backend.batch_script_argv(checked_job_id(jobid))


async def job_details(backend: BatchSystem, jobid: str) -> JobDetails:
    """ONE command on the cluster (the scheduler's ``details_argv`` / ``parse_details_output`` hooks)."""
    checked_job_id(jobid)  # before connecting: a wrong id needs no connection to be refused
    await backend.connect()  # details_argv may name what prepare() learnt (Grid Engine's user)
    argv = details_argv(backend, jobid)
    return backend.parse_details_output(jobid, await backend.run_command(argv, check=False))


def control_argv(backend: BatchSystem, action: str, jobid: str, value: str | None = None) -> list[str]:
    checked_job_id(jobid)
    if action not in ACTIONS:
        raise InvalidJobSpec(f"unknown action {action!r}")
    if action == "signal" and value not in SIGNALS:
        raise InvalidJobSpec(f"signal {value!r} is not one of {', '.join(SIGNALS)}")
    return backend.control_argv(action, jobid, value)


async def control(backend: BatchSystem, action: str, jobid: str, value: str | None = None) -> str:
    """Do it; return what the scheduler answered (one line, possibly empty)."""
    argv = control_argv(backend, action, jobid, value)  # a bad value is refused before connecting
    await backend.connect()
    # a refusal (another user's job, a limit) raises the scheduler's own words, as every hook's command does
    result = await backend.run_command(argv)
    return one_line(argv[0], result.stdout) if result.stdout.strip() else ""


def details_from_record(job: JobRecord) -> JobDetails:
    """What batchdeck's own record knows, for a backend without a details command (local processes)."""
    sandbox = job.sandbox or ""
    return JobDetails(
        cluster=job.cluster, jobid=job.jobid or "", name=job.name, state=job.state, raw_state=job.raw_state,
        reason=job.reason, queue=job.queue or job.spec.queue or "", cores=job.spec.cores,
        memory=job.spec.memory_per_core * job.spec.cores if job.spec.memory_per_core else None,
        submit_time=job.submitted, start_time=job.started, end_time=job.finished,
        elapsed=(job.finished or 0) - job.started if job.started and job.finished else None,
        time_limit=job.spec.walltime, workdir=sandbox,
        command=shlex.join(job.spec.command + job.spec.arguments) if job.spec.command else "(script)",
        stdout=f"{sandbox}/{job.spec.stdout}" if sandbox else "", stderr=f"{sandbox}/{job.spec.stderr}" if sandbox else "",
        exitcode=job.exitcode, signal=job.signal, outcome=job.outcome, batchdeck_id=job.id,
    )  # fmt: skip


async def details_of(backend: BatchSystem, jobid: str, record: JobRecord | None, now: float) -> JobDetails:
    """What ``batchdeck show`` and the app's details show of a job: the scheduler's record (one
    command), or batchdeck's own record for a backend that keeps none (local processes), a job not
    yet given a scheduler id, or a lost job the scheduler forgot."""
    if record is not None and (backend.details_from_journal or not jobid):
        details = details_from_record(record)
    else:
        try:
            details = await job_details(backend, jobid)
        except BatchdeckError:
            if record is None or not lost_note(record, now):
                raise
            details = details_from_record(record)  # the scheduler forgot it: that is what lost means
    if record is not None:
        details.batchdeck_id = record.id
    return details


def details_rows(d: JobDetails, now: float, lost: str = "") -> list[tuple[str, str]]:
    """``(label, value)`` lines of a job's details, as ``batchdeck show`` prints them and the app shows them."""
    memory = "-" if d.memory is None else format_memory(int(d.memory))
    start_label = "estimated start" if d.start_is_estimate else "started"
    rows = [
        ("job", f"{d.cluster}:{d.jobid}" + (f" (batchdeck {d.batchdeck_id})" if d.batchdeck_id else "")),
        ("name", d.name), ("user", d.user or "-"),
        ("state", f"{d.state.value} ({d.raw_state})" if d.raw_state else d.state.value),
        ("reason", d.reason or "-"), ("queue", d.queue or "-"), ("account", d.account or "-"),
        ("nodes", f"{d.nodes if d.nodes is not None else '-'} {d.node_list}".strip()),
        ("cores", str(d.cores or "-")), ("memory", memory), ("gpus", str(d.gpus or "-")),
        ("submitted", format_when(d.submit_time, now)), (start_label, format_when(d.start_time, now)),
        ("ended", format_when(d.end_time, now)),
        ("elapsed", format_walltime(d.elapsed)), ("time limit", format_walltime(d.time_limit)),
        ("time left", format_walltime(d.time_left)),
        ("depends on", d.dependency + (" — can never be satisfied" if d.dependency_never_satisfied else "") or "-"),
        ("workdir", d.workdir or "-"), ("command", d.command or "-"),
        ("stdout", d.stdout or "-"), ("stderr", d.stderr or "-"),
    ]  # fmt: skip
    if d.array_id:
        rows.insert(1, ("array", f"{d.array_id} tasks {d.array_task}"))
    if d.outcome is not None:
        rows.append(("outcome", d.outcome.value))
    if d.exitcode is not None or d.signal is not None:
        rows.append(("exit", f"{d.exitcode if d.exitcode is not None else '-'}" + (f" signal {d.signal}" if d.signal else "")))
    if lost:
        rows.append(("lost", lost.removeprefix("lost: ")))
    return rows


async def batch_script(backend: BatchSystem, jobid: str) -> str:
    """The scheduler's own copy of a job's batch script (to resubmit a job batchdeck did not submit)."""
    argv = batch_script_argv(backend, jobid)
    await backend.connect()
    return backend.parse_batch_script_output(jobid, await backend.run_command(argv, check=False))
