"""Any of the user's jobs, whatever submitted it: details (``batchdeck show``) and control (cancel,
signal, hold, release, a new time limit), each one command on the cluster. The scheduler's refusal
(another user's job, a limit) comes back as its own words, in one line."""

from __future__ import annotations

import re
import shlex

from ..errors import BatchdeckError, InvalidJobSpec, JobNotFound, ParseError, SchedulerError
from ..model import JobDetails, JobRecord, RunState
from ..schedulers import sge, slurm
from ..schedulers.base import BatchSystem

ACTIONS = ("cancel", "signal", "hold", "release", "time_limit")
SIGNALS = ("TERM", "INT", "HUP", "USR1", "USR2", "KILL", "STOP", "CONT")

# SLURM forgets a job MinJobAge seconds after it ends: accounting still has it
_SLURM_DETAILS = (
    'scontrol -o show job "$1" 2>&1 || { echo "@@@ sacct"; sacct -n -P -j "$1" --format="$2"; }'
)


def one_line(command: str, text: str) -> str:
    """The scheduler's first meaningful line, without the repeated program prefixes
    (``sacct: sacct: error: x`` → ``error: x``)."""
    for line in text.splitlines():
        line = line.strip()
        while True:
            stripped = re.sub(rf"^{re.escape(command)}:\s*", "", line)
            if stripped == line:
                break
            line = stripped
        if line:
            return line
    return "failed with no message"


def _unsupported(backend: BatchSystem, what: str) -> BatchdeckError:
    return BatchdeckError(f"{what} of jobs batchdeck did not submit is not available for {backend.type_name} clusters yet")


async def job_details(backend: BatchSystem, jobid: str) -> JobDetails:
    await backend.connect()
    kind = backend.type_name
    if kind == "slurm":
        fields = ",".join(slurm.SACCT_HISTORY_FIELDS)
        result = await backend.transport.run(["sh", "-c", _SLURM_DETAILS, "sh", jobid, fields], timeout=backend.ssh_timeout)
        head, marker, accounting = result.stdout.partition("@@@ sacct")
        if marker:
            records = [r for r in slurm.parse_sacct_history(accounting) if r.jobid == jobid]
            if not records:
                raise JobNotFound(f"cluster {backend.name!r} knows no job {jobid!r} ({one_line('scontrol', head)})")
            r = records[0]
            return JobDetails(
                cluster=backend.name, jobid=r.jobid, name=r.name, user=r.user, state=RunState.TERMINATING,
                raw_state=r.state, reason=str(r.outcome or ""), queue=r.queue, cores=r.cores, memory=r.requested_memory,
                gpus=r.gpus, submit_time=r.submit_time, start_time=r.start_time, end_time=r.end_time,
                elapsed=r.elapsed, exitcode=r.exitcode, signal=r.signal, outcome=r.outcome,
            )  # fmt: skip
        return slurm.parse_scontrol_details(head, backend.name)
    if kind == "sge":
        user = backend.username or (await backend.transport.run(["id", "-un"])).stdout.strip()
        result = await backend.transport.run(["sh", "-c", sge.DETAILS_SCRIPT, "sh", jobid, user], timeout=backend.ssh_timeout)
        try:
            return sge.parse_sge_details(result.stdout, backend.name, user)
        except ParseError:
            first = one_line("qstat", result.stdout)
            raise JobNotFound(f"cluster {backend.name!r} knows no job {jobid!r} ({first})") from None
    raise _unsupported(backend, "details")


def control_argv(backend: BatchSystem, action: str, jobid: str, value: str | None = None) -> list[str]:
    if action not in ACTIONS:
        raise InvalidJobSpec(f"unknown action {action!r}")
    if action == "signal" and value not in SIGNALS:
        raise InvalidJobSpec(f"signal {value!r} is not one of {', '.join(SIGNALS)}")
    if backend.type_name == "slurm":
        return slurm.slurm_control_argv(action, jobid, value)
    if backend.type_name == "sge":
        return sge.sge_control_argv(action, jobid, value)
    raise _unsupported(backend, action.replace("_", " "))


async def control(backend: BatchSystem, action: str, jobid: str, value: str | None = None) -> str:
    """Do it; return what the scheduler answered (one line, possibly empty)."""
    argv = control_argv(backend, action, jobid, value)
    await backend.connect()
    result = await backend.transport.run(argv, timeout=backend.ssh_timeout)
    if not result.ok:
        raise SchedulerError(argv[0], one_line(argv[0], result.stderr or result.stdout), result.exit_status)
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


async def batch_script(backend: BatchSystem, jobid: str) -> str:
    """The scheduler's own copy of a job's batch script (to resubmit a job batchdeck did not submit)."""
    if backend.type_name != "slurm":
        raise _unsupported(backend, "resubmitting")
    await backend.connect()
    result = await backend.transport.run(["scontrol", "write", "batch_script", jobid, "-"], timeout=backend.ssh_timeout)
    # scontrol exits 0 even when it has no script (it says so on stdout)
    if not result.ok or "retrieval failed" in result.stdout or not result.stdout.startswith("#!"):
        reason = one_line("scontrol", result.stderr or result.stdout)
        raise SchedulerError("scontrol", f"the batch script of job {jobid} cannot be had: {reason}")
    return result.stdout

