"""SLURM: sbatch / squeue / sacct / scontrol / scancel / sinfo.

Command lines, pure parsers (text in, records out, raising only ``ParseError``)
and the ``SlurmBatchSystem`` class side by side.

Facts from SLURM 22.05 this module relies on (see the recipes and the samples):

* ``squeue`` without ``-t`` lists only jobs that have not finished; finished jobs
  are looked up with ``sacct`` (``-X`` keeps the job line, whose State is the
  job's and whose ExitCode is ``rc:signal``). ``sacct --json`` reports wrong exit
  codes on 22.05, so the parsable text form is used.
* Without accounting, ``sacct`` prints ``Slurm accounting storage is disabled``
  and exits 1; ``scontrol show job`` still knows a finished job for
  ``MinJobAge`` seconds.
* ``scancel`` exits 0 for ids it does not know.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
import time
from collections.abc import Sequence
from typing import Any

from ..efficiency import cpu_efficiency, memory_efficiency
from ..errors import AccountingUnavailable, JobNotFound, ParseError, SchedulerError
from ..model import (
    HistoryRecord,
    JobDetails,
    JobRecord,
    JobSpec,
    Outcome,
    QueueInfo,
    RunState,
    SchedulerJob,
    outcome_from_exit,
    settle_exit,
)
from ..task_array import normalize_task_array
from ..transports.base import CommandResult
from ..units import format_walltime, parse_duration, parse_memory, parse_walltime
from .base import (
    CONTROL_DIR,
    BatchSystem,
    CancelAnswer,
    CancelVerdict,
    SubmitAnswer,
    one_line,
    safe_relative_path,
    scheduler_job_name,
    tag_of,
    task_ranges,
)
from .directives import (
    DirectiveReading,
    OptionRule,
    after_list,
    interpret,
    output_file,
    passthrough_flags,
    positive_int,
    read_directives,
    replaced,
    setter,
)
from .parsing import parser

#: ASCII unit separator: cannot appear in a job or partition name typed by a user,
#: so a line splits unambiguously (``|``, ``^`` and spaces all can).
FIELD_SEP = "\x1f"

# ---------------------------------------------------------------------------- states

_S = RunState

#: every SLURM job state (long name) -> RunState and a human label
_STATES: dict[str, tuple[RunState, str]] = {
    # queued, held or about to be queued again
    "PENDING": (_S.SUBMITTED, ""),
    "CONFIGURING": (_S.SUBMITTED, "configuring nodes"),
    "POWER_UP_NODE": (_S.SUBMITTED, "powering up nodes"),
    "REQUEUED": (_S.SUBMITTED, "requeued"),
    "REQUEUE_HOLD": (_S.SUBMITTED, "requeued and held"),
    "REQUEUE_FED": (_S.SUBMITTED, "requeued by the federation"),
    "RESV_DEL_HOLD": (_S.SUBMITTED, "held: its reservation was deleted"),
    "EXPEDITING": (_S.SUBMITTED, "requeued (expedited)"),
    "LAUNCH_FAILED": (_S.SUBMITTED, "launch failed, requeued"),
    "RECONFIG_FAIL": (_S.SUBMITTED, "node reconfiguration failed"),
    # has an allocation
    "RUNNING": (_S.RUNNING, ""),
    "COMPLETING": (_S.RUNNING, "completing"),
    "SIGNALING": (_S.RUNNING, "being signalled"),
    "STAGE_OUT": (_S.RUNNING, "staging out"),
    "RESIZING": (_S.RUNNING, "resizing"),
    "UPDATE_DB": (_S.RUNNING, "updating the database"),
    # needs a human or a resume
    "SUSPENDED": (_S.STOPPED, "suspended"),
    "STOPPED": (_S.STOPPED, "stopped"),
    "SPECIAL_EXIT": (_S.STOPPED, "special exit (held after requeue)"),
    # finished on its own: outputs still to fetch
    "COMPLETED": (_S.TERMINATING, ""),
    "FAILED": (_S.TERMINATING, "failed"),
    "TIMEOUT": (_S.TERMINATING, "TIMEOUT (time limit reached)"),
    "OUT_OF_MEMORY": (_S.TERMINATING, "out of memory"),
    "NODE_FAIL": (_S.TERMINATING, "node failure"),
    "PREEMPTED": (_S.TERMINATING, "preempted"),
    "BOOT_FAIL": (_S.TERMINATING, "node boot failure"),
    "DEADLINE": (_S.TERMINATING, "deadline reached"),
    # the user (or an admin) cancelled it: TERMINATED per GC3Pie's contract
    "CANCELLED": (_S.TERMINATED, "cancelled"),
    # a federation sibling removed because another cluster runs the job: this
    # cluster can no longer tell what becomes of it
    "REVOKED": (_S.UNKNOWN, "revoked: another cluster of the federation runs it"),
}

#: the final SLURM states -> how the job ended. COMPLETED is ``ok`` only with exit 0
#: (SLURM itself calls any non-zero exit FAILED); a FAILED job that a signal ended
#: was killed. REQUEUED, REVOKED and the other non-final states have no outcome.
_OUTCOMES: dict[str, Outcome] = {
    "COMPLETED": Outcome.OK,
    "FAILED": Outcome.FAILED,
    "TIMEOUT": Outcome.TIMEOUT,
    "CANCELLED": Outcome.CANCELLED,
    "OUT_OF_MEMORY": Outcome.OOM,
    "NODE_FAIL": Outcome.NODE_FAIL,
    "PREEMPTED": Outcome.PREEMPTED,
    "DEADLINE": Outcome.DEADLINE,
    "BOOT_FAIL": Outcome.BOOT_FAIL,
}

#: squeue ``%t`` / ``statecompact`` codes
_SHORT_CODES: dict[str, str] = {
    "PD": "PENDING",
    "R": "RUNNING",
    "S": "SUSPENDED",
    "CD": "COMPLETED",
    "F": "FAILED",
    "CA": "CANCELLED",
    "TO": "TIMEOUT",
    "NF": "NODE_FAIL",
    "PR": "PREEMPTED",
    "BF": "BOOT_FAIL",
    "DL": "DEADLINE",
    "OOM": "OUT_OF_MEMORY",
    "CF": "CONFIGURING",
    "CG": "COMPLETING",
    "RD": "RESV_DEL_HOLD",
    "RF": "REQUEUE_FED",
    "RH": "REQUEUE_HOLD",
    "RQ": "REQUEUED",
    "RS": "RESIZING",
    "RV": "REVOKED",
    "SI": "SIGNALING",
    "SE": "SPECIAL_EXIT",
    "SO": "STAGE_OUT",
    "ST": "STOPPED",
}

#: pending reasons that mean the job will not start as it is: said in words, since
#: with EnforcePartLimits=NO sbatch accepts such a job and it just waits
_BLOCKING_REASONS: dict[str, str] = {
    "PartitionTimeLimit": "its time limit exceeds the partition's",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "PartitionConfig": "it asks for more than the partition's nodes have",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "DependencyNeverSatisfied": "its dependency can never be satisfied",
    "BadConstraints": "its constraints cannot be satisfied",
    "InvalidAccount": "its account is not valid",
    "InvalidQOS": "its QOS is not valid",
}

_NO_VALUE = frozenset({"", "none", "(null)", "n/a", "unknown", "invalid"})


def _value(text: str | None) -> str:
    """The field, or '' for SLURM's ways of saying "nothing"."""
    text = (text or "").strip()
    return "" if text.lower() in _NO_VALUE else text


def slurm_state(raw: str, reason: str = "") -> tuple[RunState, str]:
    """RunState and a human reason for a SLURM state word (long name or short code).

    ``CANCELLED by 1000`` (sacct) and truncation marks (``CANCELLED+``) are
    understood. A state this table does not know gives UNKNOWN, so one new
    word in a future SLURM never stops a whole refresh.
    """
    base = _base_state(raw)
    sched_reason = _value(reason)
    if base not in _STATES:
        return RunState.UNKNOWN, f"unknown SLURM state {raw.strip()!r}"
    state, label = _STATES[base]
    if base == "PENDING":
        why = _BLOCKING_REASONS.get(sched_reason)
        return state, f"{sched_reason}: {why}, it will not start" if why else sched_reason
    if base == "FAILED" and sched_reason:
        return state, f"failed: {sched_reason}"
    if state == RunState.SUBMITTED and sched_reason:
        return state, f"{label}: {sched_reason}"
    return state, label


def _base_state(raw: str) -> str:
    words = raw.strip().split()
    base = words[0].upper().rstrip("+*") if words else ""
    return _SHORT_CODES.get(base, base)


def slurm_outcome(raw: str, exitcode: int | None = None, signal: int | None = None) -> Outcome | None:
    """How a job in SLURM state ``raw`` ended (None while it has not).

    ``exitcode``/``signal`` are its ``ExitCode`` (``rc:signal``), None where the
    output had none (squeue): a COMPLETED job then still counts as ok.
    """
    base = _base_state(raw)
    outcome = _OUTCOMES.get(base)
    if outcome in (Outcome.OK, Outcome.FAILED):
        if signal or exitcode not in (None, 0):
            return outcome_from_exit(exitcode, signal)
    return outcome


def with_step_signal(
    outcome: Outcome | None, exitcode: int | None, signal: int | None, step_signal: int | None
) -> tuple[Outcome | None, int | None]:
    """``(outcome, signal)`` of an ended job with the signal its steps report folded in.

    The job line of a timed-out or cancelled job reads ``0:0``; only its batch step
    says which signal ended the script (``CANCELLED 0:15``). A FAILED job with no
    exit code of its own that a step's signal ended was killed. An ``ok`` job keeps
    no signal: its steps' (e.g. .extern's) do not tell how the script ended.
    """
    if outcome in (None, Outcome.OK) or signal is not None or not step_signal:
        return outcome, signal
    if outcome is Outcome.FAILED and exitcode is None:
        outcome = Outcome.KILLED
    return outcome, step_signal


def decode_exit_code(text: str) -> tuple[int | None, int | None]:
    """``rc:signal`` -> (exit code, signal); a 0 signal is None. Empty -> (None, None)."""
    text = text.strip()
    if not text:
        return None, None
    match = re.fullmatch(r"(-?\d{1,18})(?::(-?\d{1,18}))?", text)
    if not match:
        raise ParseError("SLURM exit code", "expected 'rc:signal'", text)
    rc = int(match.group(1))
    sig = int(match.group(2)) if match.group(2) is not None else 0
    return rc, (sig or None)


def _finished_reason(state: RunState, reason: str, exitcode: int | None, signal: int | None) -> str:
    """Make a FAILED job's reason say how it failed, when the exit code is known."""
    if state == RunState.TERMINATING and reason.startswith("failed"):
        if signal:
            return f"failed: killed by signal {signal}"
        if exitcode:
            return f"failed: exit code {exitcode}"
    return reason


def parse_time(text: str) -> float | None:
    """Epoch seconds from SLURM's ``YYYY-MM-DDTHH:MM:SS`` (local time) or from ``%s``.

    Anything else (``Unknown``, ``N/A``, the relative format) is None: a time is
    nice to have, never worth failing a refresh for.
    """
    text = _value(text)
    if not text:
        return None
    if _is_number(text):
        return float(text)
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def _real_start(state: RunState, start: float | None, end: float | None) -> float | None:
    """The start time, unless the job never started.

    SLURM gives a job cancelled while pending a Start equal to its End, and a
    pending job's StartTime is only the scheduler's forecast.
    """
    if state == RunState.SUBMITTED:
        return None
    if state == RunState.TERMINATED and start is not None and end is not None and start >= end:
        return None
    return start


def _is_number(text: str) -> bool:
    # isdecimal, not isdigit: int() refuses "²"; and short, as int() refuses
    # more than 4300 digits
    return text.isdecimal() and len(text) <= 18


def _int(text: str) -> int | None:
    text = _value(text)
    return int(text) if _is_number(text) else None


def _duration(text: str) -> int | None:
    text = _value(text)
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        # units.parse_duration trusts str.isdigit, which also accepts "²"
        return None


def _split_array_id(jobid: str) -> tuple[str | None, str | None]:
    """``7_3`` -> ("7", "3"); ``6_[1-3]`` -> ("6", "1-3"); plain ids -> (None, None)."""
    match = re.fullmatch(r"(\d+)_\[?([^\]]*)\]?", jobid)
    if not match:
        return None, None
    return match.group(1), match.group(2)


def _check_jobid(jobid: str, what: str, line: str) -> str:
    jobid = jobid.strip()
    if not re.fullmatch(r"\d+(?:\+\d+)?(?:_(?:\d+|\[[^\]\s]*\]))?(?:\.[\w+-]+)?", jobid):
        raise ParseError(what, f"{jobid!r} is not a SLURM job id", line)
    return jobid


def _split_line(line: str, count: int, sep: str | None, what: str) -> list[str]:
    """Split into exactly ``count`` fields; the last one takes any surplus (it is the name)."""
    if sep is None:
        parts = line.split(None, count - 1)
    else:
        parts = line.split(sep, count - 1)
    if len(parts) != count:
        raise ParseError(what, f"expected {count} fields, got {len(parts)}", line)
    return parts


# ---------------------------------------------------------------------------- squeue

#: logical field -> squeue ``-o`` code; the name comes last so a separator
#: inside it could never shift the other fields
SQUEUE_CODES: dict[str, str] = {
    "jobid": "%i",
    "array_job_id": "%F",
    "array_task_id": "%K",
    "state": "%T",
    "reason": "%r",
    "user": "%u",
    "partition": "%P",
    "cpus": "%C",
    "submit_time": "%V",
    "start_time": "%S",
    "time_used": "%M",
    "time_limit": "%l",
    "name": "%j",
}
SQUEUE_FIELDS: tuple[str, ...] = tuple(SQUEUE_CODES)


def squeue_format(fields: Sequence[str] = SQUEUE_FIELDS, sep: str = FIELD_SEP) -> str:
    return sep.join(SQUEUE_CODES[f] for f in fields)


def parse_squeue(
    text: str, fields: Sequence[str | None] = SQUEUE_FIELDS, sep: str | None = FIELD_SEP
) -> list[SchedulerJob]:
    """Jobs from ``squeue -h -o FORMAT`` output; ``fields`` names the columns (None: ignored).

    A header line (jobid column reading ``JOBID``) is skipped, so ``-O`` output
    with its header parses too.
    """
    what = "squeue output"
    if "jobid" not in fields or "state" not in fields:
        raise ParseError(what, "the format must contain the job id and the state")
    jobs: list[SchedulerJob] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = _split_line(line, len(fields), sep, what)
        row: dict[str, str] = {name: value for name, value in zip(fields, parts, strict=True) if name}
        if row["jobid"].strip().upper() in ("JOBID", "JOB_ID"):
            continue
        jobid = _check_jobid(row["jobid"], what, line)
        raw_state = row["state"].strip()
        if not raw_state:
            raise ParseError(what, "empty job state", line)
        state, reason = slurm_state(raw_state, row.get("reason", ""))
        array_id, array_task = None, None
        task = _value(row.get("array_task_id", ""))
        if task and task != "4294967294":  # NO_VAL: not an array task
            array_id = _value(row.get("array_job_id", "")) or _split_array_id(jobid)[0]
            array_task = task
        else:
            array_id, array_task = _split_array_id(jobid)
        jobs.append(
            SchedulerJob(
                jobid=jobid,
                state=state,
                raw_state=raw_state,
                reason=reason,
                outcome=slurm_outcome(raw_state) if state in (RunState.TERMINATING, RunState.TERMINATED) else None,
                name=row.get("name", "").strip("\n"),
                user=row.get("user", "").strip(),
                queue=_value(row.get("partition", "")),
                cores=_int(row.get("cpus", "")),
                submit_time=parse_time(row.get("submit_time", "")),
                start_time=parse_time(row.get("start_time", "")) if state != RunState.SUBMITTED else None,
                elapsed=_duration(row.get("time_used", "")),
                array_id=array_id,
                array_task=array_task,
            )
        )
    return jobs


def parse_queue_counts(text: str, sep: str = FIELD_SEP) -> dict[str, tuple[int, int]]:
    """``squeue -h -r -o '%P<sep>%T'`` -> {partition: (running, pending)}.

    A pending job submitted to several partitions (``debug,long``) counts in each.
    """
    counts: dict[str, list[int]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        partitions, state_text = _split_line(line, 2, sep, "squeue partition counts")
        state, _ = slurm_state(state_text)
        for partition in partitions.strip().split(","):
            if not partition:
                continue
            entry = counts.setdefault(partition, [0, 0])
            if state == RunState.RUNNING:
                entry[0] += 1
            elif state == RunState.SUBMITTED:
                entry[1] += 1
    return {name: (c[0], c[1]) for name, c in counts.items()}


# ---------------------------------------------------------------------------- sacct

#: what query_finished asks sacct for; the name last, as in squeue
SACCT_FIELDS: tuple[str, ...] = (
    "JobID",
    "State",
    "ExitCode",
    "Reason",
    "Partition",
    "AllocCPUS",
    "User",
    "Submit",
    "Start",
    "End",
    "Elapsed",
    "JobName",
)


def parse_sacct(
    text: str, fields: Sequence[str] | None = SACCT_FIELDS, sep: str = "|"
) -> dict[str, SchedulerJob]:
    """Job lines of ``sacct -n -P --format=...`` output, by job id; step lines are skipped.

    ``fields`` None means the first line is sacct's header. ``--parsable``'s
    trailing separator is accepted.
    """
    what = "sacct output"
    lines = [line for line in text.splitlines() if line.strip()]
    if fields is None:
        if not lines:
            return {}
        fields = [f.strip() for f in lines.pop(0).rstrip(sep).split(sep)]
    names = [f.lower() for f in fields]
    if ("jobid" not in names and "jobidraw" not in names) or "state" not in names:
        raise ParseError(what, "the format must contain JobID and State")
    id_field = "jobid" if "jobid" in names else "jobidraw"
    jobs: dict[str, SchedulerJob] = {}
    batch_signals: dict[str, int] = {}
    for line in lines:
        body = line[: -len(sep)] if line.endswith(sep) and line.count(sep) == len(names) else line
        parts = _split_line(body, len(names), sep, what)
        row = dict(zip(names, parts, strict=True))
        jobid = _check_jobid(row[id_field], what, line)
        if "." in jobid:
            # A step (.batch, .extern, .0): the job line carries the job's state. The
            # batch step alone tells the signal that ended the script (a timed-out
            # job is TIMEOUT 0:0, its .batch step CANCELLED 0:15).
            base, _, step = jobid.partition(".")
            if step == "batch":
                step_signal = decode_exit_code(row.get("exitcode", ""))[1]
                if step_signal:
                    batch_signals[base] = step_signal
            continue
        raw_state = row["state"].strip()
        if not raw_state:
            raise ParseError(what, "empty job state", line)
        state, reason = slurm_state(raw_state, row.get("reason", ""))
        exitcode, signal = decode_exit_code(row.get("exitcode", ""))
        array_id, array_task = _split_array_id(jobid)
        start, end = parse_time(row.get("start", "")), parse_time(row.get("end", ""))
        finished = state in (RunState.TERMINATING, RunState.TERMINATED)
        outcome = slurm_outcome(raw_state, exitcode, signal) if finished else None
        jobs[jobid] = SchedulerJob(
            jobid=jobid,
            state=state,
            raw_state=raw_state,
            reason=_finished_reason(state, reason, exitcode, signal),
            exitcode=settle_exit(outcome, exitcode) if finished else None,
            signal=signal if finished else None,
            outcome=outcome,
            name=row.get("jobname", ""),
            user=row.get("user", "").strip(),
            queue=_value(row.get("partition", "")),
            cores=_int(row.get("alloccpus", row.get("ncpus", ""))),
            submit_time=parse_time(row.get("submit", "")),
            start_time=_real_start(state, start, end),
            end_time=end,
            elapsed=_duration(row.get("elapsed", "")),
            array_id=array_id,
            array_task=array_task,
        )
    for jobid, step_signal in batch_signals.items():
        info = jobs.get(jobid)
        if info is not None:
            info.outcome, info.signal = with_step_signal(info.outcome, info.exitcode, info.signal, step_signal)
    return jobs


ACCOUNTING_DISABLED = "accounting storage is disabled"


def accounting_disabled(stderr: str) -> bool:
    """True if sacct's error says this cluster keeps no accounting."""
    return ACCOUNTING_DISABLED in stderr.lower()


# ---------------------------------------------------------------------------- scontrol

_KEY_SPLIT = re.compile(r"\s+(?=[A-Za-z][\w/:]*=)")


def _scontrol_records(text: str) -> list[str]:
    """One string per job: ``-o`` lines as they are, multi-line records joined."""
    records: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("JobId="):
            records.append(line.strip())
        elif line[:1].isspace() and records:
            records[-1] += " " + line.strip()
        elif line.strip() == "No jobs in the system":
            continue
        else:
            raise ParseError("scontrol show job output", "a record must start with JobId=", line)
    return records


def parse_scontrol_jobs(text: str) -> list[SchedulerJob]:
    """Jobs from ``scontrol [-o] show job`` (one-line or multi-line records)."""
    what = "scontrol show job output"
    jobs: list[SchedulerJob] = []
    for record in _scontrol_records(text):
        values: dict[str, str] = {}
        for item in _KEY_SPLIT.split(record):
            key, sep, value = item.partition("=")
            if sep:
                values.setdefault(key, value)
        if "JobState" not in values:
            raise ParseError(what, "no JobState", record)
        jobid = _check_jobid(values["JobId"], what, record)
        array_id: str | None = _value(values.get("ArrayJobId", ""))
        array_task: str | None = _value(values.get("ArrayTaskId", ""))
        if array_id and array_task:
            # the id users see and squeue/sacct print for an array task
            if array_task.isdecimal():
                jobid = f"{array_id}_{array_task}"
            else:
                jobid = f"{array_id}_[{array_task}]"
        else:
            array_id, array_task = None, None
        raw_state = values["JobState"].strip()
        state, reason = slurm_state(raw_state, values.get("Reason", ""))
        exitcode, signal = decode_exit_code(values.get("ExitCode", ""))
        finished = state in (RunState.TERMINATING, RunState.TERMINATED)
        outcome = slurm_outcome(raw_state, exitcode, signal) if finished else None
        user = values.get("UserId", "")
        jobs.append(
            SchedulerJob(
                jobid=jobid,
                state=state,
                raw_state=raw_state,
                reason=_finished_reason(state, reason, exitcode, signal),
                exitcode=settle_exit(outcome, exitcode) if finished else None,
                signal=signal if finished else None,
                outcome=outcome,
                name=values.get("JobName", ""),
                user=user.split("(", 1)[0],
                queue=_value(values.get("Partition", "")),
                cores=_int(values.get("NumCPUs", "")),
                submit_time=parse_time(values.get("SubmitTime", "")),
                start_time=_real_start(
                    state, parse_time(values.get("StartTime", "")), parse_time(values.get("EndTime", ""))
                ),
                end_time=parse_time(values.get("EndTime", "")) if finished else None,
                elapsed=_duration(values.get("RunTime", "")),
                array_id=array_id,
                array_task=array_task,
            )
        )
    return jobs


# ---------------------------------------------------------------------------- sinfo

#: logical field -> sinfo ``-o`` code
SINFO_CODES: dict[str, str] = {
    "partition": "%P",
    "avail": "%a",
    "timelimit": "%l",
    "nodes": "%D",
    "cpus": "%C",
}
SINFO_FIELDS: tuple[str, ...] = tuple(SINFO_CODES)


def sinfo_format(fields: Sequence[str] = SINFO_FIELDS, sep: str = FIELD_SEP) -> str:
    return sep.join(SINFO_CODES[f] for f in fields)


def _aiot(text: str, what: str, line: str) -> tuple[int, int, int, int] | None:
    """``allocated/idle/other/total`` (sinfo %C and %F)."""
    text = text.strip()
    if not text or text.upper() == "N/A":
        return None
    parts = text.split("/")
    if len(parts) != 4 or not all(_is_number(p) for p in parts):
        raise ParseError(what, f"expected allocated/idle/other/total, got {text!r}", line)
    a, i, o, t = (int(p) for p in parts)
    return a, i, o, t


def parse_sinfo(
    text: str, fields: Sequence[str | None] = SINFO_FIELDS, sep: str | None = FIELD_SEP
) -> list[QueueInfo]:
    """Partitions from ``sinfo -h -o FORMAT``; rows of the same partition are summed.

    Known fields: partition, avail, timelimit, nodes, cpus (``%C``), nodes_aiot
    (``%F``); None ignores a column. A ``PARTITION`` header line is skipped.
    """
    what = "sinfo output"
    if "partition" not in fields:
        raise ParseError(what, "the format must contain the partition")
    queues: dict[str, QueueInfo] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = _split_line(line.strip() if sep is None else line, len(fields), sep, what)
        row = {name: value.strip() for name, value in zip(fields, parts, strict=True) if name}
        name = row["partition"]
        if name.upper() == "PARTITION":
            continue
        is_default = name.endswith("*")
        name = name.rstrip("*")
        if not name:
            raise ParseError(what, "empty partition name", line)
        nodes: int | None = None
        total = free = None
        if "nodes" in row:
            if not _is_number(row["nodes"]):
                raise ParseError(what, f"node count {row['nodes']!r} is not a number", line)
            nodes = int(row["nodes"])
        if "nodes_aiot" in row:
            counts = _aiot(row["nodes_aiot"], what, line)
            nodes = counts[3] if counts else nodes
        if "cpus" in row:
            counts = _aiot(row["cpus"], what, line)
            if counts:
                total, free = counts[3], counts[1]
        limit = row.get("timelimit", "")
        max_walltime = _duration(limit)
        queue = queues.get(name)
        if queue is None:
            queues[name] = QueueInfo(
                name=name,
                state=row.get("avail", "up") or "up",
                is_default=is_default,
                max_walltime=max_walltime,
                total_cores=total,
                free_cores=free,
                nodes=nodes,
            )
            continue
        queue.is_default = queue.is_default or is_default
        if nodes is not None:
            queue.nodes = (queue.nodes or 0) + nodes
        if total is not None:
            queue.total_cores = (queue.total_cores or 0) + total
            queue.free_cores = (queue.free_cores or 0) + (free or 0)
    return list(queues.values())


# ---------------------------------------------------------------------------- sbatch

#: ``--parsable`` prints ``ID`` or ``ID;cluster``; plain sbatch prints
#: ``Submitted batch job ID [on cluster NAME]``
SUBMIT_REGEXP = r"(?m)^\s*(?:Submitted batch job\s+)?(\d+)(?:;\S*|\s+on cluster\s+\S+)?\s*$"


def parse_sbatch(text: str) -> str:
    """The job id from sbatch's answer."""
    match = re.search(SUBMIT_REGEXP, text or "")
    if not match:
        raise ParseError("sbatch output", "no job id found", text)
    return match.group(1)


def _directive_value(value: str) -> str:
    """Quote a value for a ``#SBATCH`` line: sbatch's own reader honours shell quotes."""
    return shlex.quote(value)


def _filename_pattern(path: str) -> str:
    """An output path with SLURM's ``%`` replacement symbols neutralised."""
    return path.replace("%", "%%")


# ---------------------------------------------------------------------------- history (sacct)

#: what ``batchdeck history`` asks sacct for: the job lines, and the step lines for MaxRSS
SACCT_HISTORY_FIELDS: tuple[str, ...] = (
    "JobID", "User", "Partition", "State", "ExitCode", "Submit", "Start", "End", "ElapsedRaw",
    "TotalCPU", "AllocCPUS", "AllocTRES", "ReqMem", "MaxRSS", "JobName",
)  # fmt: skip

def sacct_history_argv(user: str, since: float) -> list[str]:
    """Every job of ``user`` that ended since ``since`` (epoch seconds): an explicit ``-S`` window,
    never sacct's since-midnight default; ``-E now`` with ``-s`` final states, so running jobs stay out."""
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since))
    return [
        "sacct", "-n", "-P", "-u", user, "-S", start, "-E", "now",
        "-s", "CD,F,TO,CA,OOM,NF,PR,DL,BF", f"--format={','.join(SACCT_HISTORY_FIELDS)}",
    ]  # fmt: skip


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$")
_SIZE_MIB = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}


def _mib(text: str) -> float | None:
    """MiB from sacct's sizes: ``1184K``, ``500M``, ``1.50G``, or a plain byte count."""
    match = _SIZE.match(_value(text).upper().rstrip("CN"))  # pre-21.08 suffix c/n (per cpu / node)
    if not match:
        return None
    return float(match.group(1)) * _SIZE_MIB[match.group(2)]


def _tres(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in _value(text).split(",") if "=" in item)


def _cpu_seconds(text: str) -> float | None:
    """sacct's TotalCPU: ``MM:SS.mmm``, ``HH:MM:SS[.mmm]`` or ``D-HH:MM:SS``."""
    text = _value(text)
    if not text:
        return None
    whole, _, fraction = text.partition(".")
    if ":" in whole and whole.count(":") == 1 and "-" not in whole:
        whole = "00:" + whole
    seconds = parse_duration(whole)
    if seconds is None:
        return None
    return seconds + (float("0." + fraction) if fraction.isdecimal() else 0.0)


@parser("sacct history")
def parse_sacct_history(text: str) -> list[HistoryRecord]:
    """Jobs of ``sacct -n -P --format=SACCT_HISTORY_FIELDS``: one record per job (steps folded in:
    the highest MaxRSS, the batch step's signal), efficiency computed as seff does."""
    what = "sacct history"
    jobs: dict[str, HistoryRecord] = {}
    step_rss: dict[str, float] = {}
    step_signal: dict[str, int] = {}
    batch_signal: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = _split_line(line, len(SACCT_HISTORY_FIELDS), "|", what)
        row = dict(zip((f.lower() for f in SACCT_HISTORY_FIELDS), parts, strict=True))
        jobid = _check_jobid(row["jobid"], what, line)
        base, dot, _step = jobid.partition(".")
        if dot:
            rss = _mib(row["maxrss"])
            if rss is not None:
                step_rss[base] = max(step_rss.get(base, 0.0), rss)
            _rc, sig = decode_exit_code(row["exitcode"])
            if sig:
                step_signal.setdefault(base, sig)
                if _step == "batch":
                    batch_signal[base] = sig
            continue
        raw_state = row["state"].strip()
        rc, sig = decode_exit_code(row["exitcode"])
        # the verdict a status refresh reaches for the same line (-s lists only final states)
        outcome = slurm_outcome(raw_state, rc, sig)
        elapsed = float(row["elapsedraw"]) if _is_number(row["elapsedraw"].strip()) else None
        cores = _int(row["alloccpus"])
        tres = _tres(row["alloctres"])
        requested = _mib(tres.get("mem", "")) or _mib(row["reqmem"])
        gpus = tres.get("gres/gpu")
        jobs[jobid] = HistoryRecord(
            jobid=jobid,
            name=row["jobname"],
            user=row["user"].strip(),
            queue=_value(row["partition"]),
            state=raw_state,
            outcome=outcome,
            exitcode=rc,
            signal=sig,
            submit_time=parse_time(row["submit"]),
            start_time=parse_time(row["start"]),
            end_time=parse_time(row["end"]),
            elapsed=elapsed,
            cores=cores,
            cpu_time=_cpu_seconds(row["totalcpu"]),
            requested_memory=requested,
            gpus=int(gpus) if gpus and gpus.isdecimal() else None,
        )
    for jobid, record in jobs.items():
        record.max_rss = step_rss.get(jobid)
        # a timeout, cancel or OOM kill ended the script: its "exit 0" is not one
        record.exitcode = settle_exit(record.outcome, record.exitcode)
        # the batch step's signal, as a refresh reads it; a job without one (srun, salloc) its first step's
        record.outcome, record.signal = with_step_signal(
            record.outcome, record.exitcode, record.signal, batch_signal.get(jobid, step_signal.get(jobid))
        )
        record.cpu_efficiency = cpu_efficiency(record.cpu_time, record.elapsed, record.cores)
        record.memory_efficiency = memory_efficiency(record.max_rss, record.requested_memory)
    return list(jobs.values())


def array_job_id(jobid: str) -> str:
    """The array's own id of an array job's or task's id (``7_3`` -> ``7``); other ids as they are."""
    return _split_array_id(jobid)[0] or jobid


def array_tasks(records: list[HistoryRecord], array_id: str) -> dict[int, HistoryRecord]:
    """Task id -> record of the array ``array_id``'s tasks (``7_3``) among sacct history records;
    a pending range (``7_[4-9]``) counts as those tasks, not yet ended."""
    tasks: dict[int, HistoryRecord] = {}
    for record in records:
        base, task = _split_array_id(record.jobid)
        if base != array_id or task is None:
            continue
        if task.isdecimal():
            tasks[int(task)] = record
            continue
        for part in task.split("%")[0].split(","):
            first, _, rest = part.partition("-")
            last, _, _step = rest.partition(":")
            if first.isdecimal() and (not last or last.isdecimal()):
                for number in range(int(first), int(last or first) + 1):
                    tasks.setdefault(number, dataclasses.replace(record, end_time=None, outcome=None))
    return tasks


# ---------------------------------------------------------------------------- details (scontrol show job)

#: SLURM's pending/hold reason codes in plain words (squeue(1) "JOB REASON CODES")
SLURM_REASONS: dict[str, str] = {
    "Priority": "waiting: jobs with a higher priority go first",
    "Resources": "waiting for the cores, memory or nodes it asked for to become free",
    "Dependency": "waiting for the jobs it depends on",
    "DependencyNeverSatisfied": "its dependency can never be satisfied: it will never start (cancel it)",
    "JobHeldUser": "held by its owner (batchdeck release, or scontrol release)",
    "JobHeldAdmin": "held by an administrator",
    "BeginTime": "waiting for the start time it asked for",
    "ReqNodeNotAvail": "a node it needs is down, drained or reserved",
    "NodeDown": "a node it needs is down",
    "Reservation": "waiting for its reservation to start",
    "Licenses": "waiting for licenses",
    "Cleaning": "being cleaned up after a requeue",
    "launch_failed_requeued_held": "its launch failed; requeued and held",
    "JobArrayTaskLimit": "its array's limit of tasks running at once is reached",
    "Prolog": "its prolog is running",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows: it will not start",
    "PartitionTimeLimit": "its time limit exceeds the partition's: it will not start",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "PartitionConfig": "it asks for more than the partition's nodes have: it will not start",
    "BadConstraints": "its constraints cannot be satisfied: it will not start",
    "InvalidAccount": "its account is not valid: it will not start",
    "InvalidQOS": "its QOS is not valid: it will not start",
    "MaxRequeue": "requeued too often",
}
_LIMIT_FAMILIES = (
    ("QOSGrp", "a group limit of its QOS is reached"),
    ("QOSMax", "a limit of its QOS is reached"),
    ("AssocGrp", "a group limit of its account is reached"),
    ("AssocMax", "a limit of its account is reached"),
)


def explain_slurm_reason(code: str) -> str:
    """Plain words for a reason code (unknown codes are returned as they are)."""
    code = _value(code)
    if not code:
        return ""
    if code in SLURM_REASONS:
        return SLURM_REASONS[code]
    for prefix, words in _LIMIT_FAMILIES:
        if code.startswith(prefix):
            limit = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", code[len(prefix) :]).lower()
            return f"{words} ({limit})" if limit else words
    return code


_PATTERN = re.compile(r"\\|%(%|(\d*)([AaJjNnstux]))")


def expand_slurm_filename(pattern: str, values: dict[str, str]) -> str:
    """sbatch's filename pattern: ``%A %a %J %j %N %n %s %t %u %x``, ``%%``, padding like ``%4a``.

    ``values`` maps the letters to their text (missing ones stay as written). A backslash anywhere
    turns the replacement off, as sbatch does.
    """
    if "\\" in pattern:
        return pattern.replace("\\", "")

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        width, letter = match.group(2), match.group(3)
        if letter not in values:
            return match.group(0)
        text = values[letter]
        return text.zfill(int(width)) if width and text.isdigit() else text

    return _PATTERN.sub(replace, pattern)


def _scontrol_values(record: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in _KEY_SPLIT.split(record):
        key, sep, value = item.partition("=")
        if sep:
            values.setdefault(key, value)
    return values


@parser("scontrol show job output")
def parse_scontrol_details(text: str, cluster: str = "") -> JobDetails:
    """The first job of ``scontrol -o show job ID`` (an array's first task) as a JobDetails."""
    jobs = parse_scontrol_jobs(text)
    records = _scontrol_records(text)
    if not jobs or not records:
        raise ParseError("scontrol show job output", "no job in the output", text)
    info, values = jobs[0], _scontrol_values(records[0])
    user = values.get("UserId", "").split("(", 1)[0]
    tres = _tres(values.get("TRES", ""))
    memory = _mib(tres.get("mem", ""))
    gpus = tres.get("gres/gpu")
    state = info.state
    start = parse_time(values.get("StartTime", ""))
    array_task = info.array_task or ""
    letters = {
        "j": values.get("JobId", info.jobid), "x": info.name, "u": user,
        "A": info.array_id or values.get("JobId", ""), "a": array_task if array_task.isdecimal() else "",
        "J": f"{values.get('JobId', '')}.batch", "s": "batch", "t": "0", "n": "0",
        "N": _value(values.get("BatchHost", "")) or _value(values.get("NodeList", "")).split(",")[0],
    }  # fmt: skip
    letters = {k: v for k, v in letters.items() if v}
    dependency = _value(values.get("Dependency", ""))
    raw_reason = _value(values.get("Reason", ""))
    return JobDetails(
        cluster=cluster,
        jobid=info.jobid,
        name=info.name,
        user=user,
        state=state,
        raw_state=info.raw_state,
        reason=explain_slurm_reason(raw_reason) if state == RunState.SUBMITTED else info.reason,
        raw_reason=raw_reason,
        queue=info.queue,
        account=_value(values.get("Account", "")),
        qos=_value(values.get("QOS", "")),
        nodes=_int(values.get("NumNodes", "")),
        node_list=_value(values.get("NodeList", "")),
        cores=info.cores,
        memory=memory,
        gpus=int(gpus) if gpus and gpus.isdecimal() else None,
        submit_time=info.submit_time,
        start_time=start if state != RunState.SUBMITTED or start else None,
        start_is_estimate=state == RunState.SUBMITTED and start is not None,
        end_time=info.end_time,
        elapsed=info.elapsed,
        time_limit=_duration(values.get("TimeLimit", "")),
        workdir=_value(values.get("WorkDir", "")),
        command=_value(values.get("Command", "")),
        stdout=expand_slurm_filename(_value(values.get("StdOut", "")), letters),
        stderr=expand_slurm_filename(_value(values.get("StdErr", "")), letters),
        dependency=dependency,
        dependency_never_satisfied=raw_reason == "DependencyNeverSatisfied" or "(failed)" in dependency,
        array_id=info.array_id,
        array_task=info.array_task,
        exitcode=info.exitcode,
        signal=info.signal,
        outcome=info.outcome,
        batchdeck_id=tag_of(info.name),
    )


#: ONE round trip for ``batchdeck show``: SLURM forgets a job MinJobAge seconds after it ends,
#: accounting still has it. The id and the fields are arguments, never part of the script.
DETAILS_SCRIPT = 'scontrol -o show job "$1" 2>&1 || { echo "@@@ sacct"; sacct -n -P -j "$1" --format="$2"; }'


#: what a user may ask of any of their jobs, as SLURM command lines
def slurm_control_argv(action: str, jobid: str, value: str | None = None) -> list[str]:
    """``cancel``, ``signal`` (value: TERM, USR1 …), ``hold``, ``release``, ``time_limit`` (value: seconds)."""
    if action == "cancel":
        return ["scancel", jobid]
    if action == "signal":
        # --full: the batch shell too, not only its steps (a plain script has none)
        return ["scancel", "--full", f"--signal={value}", jobid]
    if action == "hold":
        # uhold: a hold its owner may release (root's plain "hold" would be an admin hold)
        return ["scontrol", "uhold", jobid]
    if action == "release":
        return ["scontrol", "release", jobid]
    if action == "time_limit":
        return ["scontrol", "update", f"JobId={jobid}", f"TimeLimit={format_walltime(int(value or 0))}"]
    raise ValueError(f"unknown action {action!r}")


# ---------------------------------------------------------------------------- a script's #SBATCH lines


def slurm_time(text: str) -> int:
    """sbatch's --time: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``."""
    days, dash, rest = text.strip().partition("-")
    if dash and rest.count(":") == 1:
        rest += ":00"  # D-H:M: hours and minutes, not minutes and seconds
    return parse_walltime(f"{days}-{rest}" if dash else text)


def _per_node_memory(value: str | None, reading: DirectiveReading) -> None:
    reading.values["memory_per_node"] = parse_memory(value or "")


SBATCH_RULES: tuple[OptionRule, ...] = (
    OptionRule(("-J", "--job-name"), True, setter("name")),
    OptionRule(("-c", "--cpus-per-task"), True, setter("cores", positive_int)),
    OptionRule(("-t", "--time"), True, setter("walltime", slurm_time)),
    OptionRule(("--mem-per-cpu",), True, setter("memory_per_core", parse_memory)),
    OptionRule(("--mem",), True, _per_node_memory),
    OptionRule(("-p", "--partition"), True, setter("queue")),
    OptionRule(("-o", "--output"), True, output_file("stdout")),
    OptionRule(("-e", "--error"), True, output_file("stderr")),
    OptionRule(("-D", "--chdir"), True, replaced("batchdeck runs the job in its sandbox")),
    # known, with a value, passed through as they are (the value must not be read as a new option)
    OptionRule(("-a", "--array"), True, setter("array", normalize_task_array)),
    *passthrough_flags(
        "-A", "--account", "-q", "--qos", "-d", "--dependency", "-C", "--constraint",
        "-N", "--nodes", "-n", "--ntasks", "-G", "--gpus", "--gres", "--mail-type", "--mail-user",
        "--ntasks-per-node", "--begin", "--licenses", "-w", "--nodelist", "-x", "--exclude", "--reservation",
        "--signal", "--export",
    ),
)  # fmt: skip


def slurm_dependency_directives(conditions: list[tuple[str, str]]) -> list[str]:
    """``--after`` conditions ``(kind, jobid)``, kind ok / any / notok, as one ``--dependency`` line."""
    spec = after_list(conditions)
    return [f"#SBATCH --dependency={spec}"] if spec else []


def read_sbatch_directives(script: str) -> DirectiveReading:
    """A script's ``#SBATCH`` lines as batchdeck settings plus the lines it passes through."""
    reading = interpret("#SBATCH", read_directives(script, "#SBATCH"), SBATCH_RULES)
    per_node = reading.values.pop("memory_per_node", None)
    if per_node is not None and "memory_per_core" not in reading.values:
        cores = int(reading.values.get("cores", 1))
        reading.values["memory_per_core"] = max(1, -(-per_node // cores))  # --mem is for the whole node
    return reading


# ---------------------------------------------------------------------------- scancel


def classify_scancel_output(exit_status: int, text: str) -> CancelVerdict:
    """What scancel answered. It exits 0 even for ids it does not know, saying so on stderr."""
    line = " ".join(text.split())
    if re.search(r"Invalid job id specified|Job/step already completing or completed|already completed", text):
        return CancelVerdict(CancelAnswer.ALREADY_GONE, line)
    if re.search(r"error:", text) or exit_status != 0:
        message = re.sub(r"^scancel:\s*", "", line) or f"exit status {exit_status}"
        return CancelVerdict(CancelAnswer.ERROR, message)
    return CancelVerdict(CancelAnswer.DONE)


# ---------------------------------------------------------------------------- the backend


class SlurmBatchSystem(BatchSystem):
    """A SLURM cluster (GC3Pie's SlurmLrms, async): only hooks."""

    type_name = "slurm"
    honoured_options = frozenset({"account", "qos", "gpus", "nodes", "constraint", "extra_args", "array"})
    array_task_variable = "SLURM_ARRAY_TASK_ID"
    array_output_pattern = "%a"
    submit_regexp = SUBMIT_REGEXP
    max_job_name_length = 64
    directive_prefix = "#SBATCH"
    read_script_directives = staticmethod(read_sbatch_directives)
    dependency_directives = staticmethod(slurm_dependency_directives)
    reraises_signal_deaths = True

    #: whose jobs squeue lists; resolved once per connection by prepare()
    _user: str | None = None

    async def prepare(self) -> None:
        """The user whose jobs are listed: configured, or asked once from the frontend."""
        if self.username:
            self._user = self.username
        if self._user is None:
            result = await self._run(["id", "-un"])
            user = result.stdout.strip()
            if not user:
                raise SchedulerError("id", "could not tell the login user's name")
            self._user = user

    def check_spec(self, spec: JobSpec) -> None:
        """Nothing beyond the base's checks: every #SBATCH value is shell-quoted."""

    # ------------------------------------------------------------ submission

    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        spec = job.spec
        options = [
            f"--job-name={scheduler_job_name(job, self.max_job_name_length)}",
            # one task per node: with --ntasks=1 sbatch would quietly cut --nodes down to 1
            "--ntasks-per-node=1" if spec.nodes else "--ntasks=1",
            f"--cpus-per-task={spec.cores}",
        ]
        if spec.queue:
            options.append(f"--partition={spec.queue}")
        if spec.memory_per_core is not None:
            options.append(f"--mem-per-cpu={spec.memory_per_core}M")
        if spec.walltime is not None:
            options.append(f"--time={format_walltime(spec.walltime)}")
        for flag, value in (("account", spec.account), ("qos", spec.qos), ("gpus", spec.gpus),
                            ("nodes", spec.nodes), ("constraint", spec.constraint)):  # fmt: skip
            if value is not None:
                options.append(f"--{flag}={value}")
        if spec.array:
            options.append(f"--array={spec.array}")
            # the tasks redirect themselves into TASK/; sbatch's files: one pair per task (%a)
            control = _filename_pattern(posixpath.join(sandbox, CONTROL_DIR))
            options += [f"--output={control}/task-%a.out", f"--error={control}/task-%a.err"]
        else:
            stdout = posixpath.join(sandbox, safe_relative_path(spec.stdout))
            stderr = posixpath.join(sandbox, safe_relative_path(spec.stderr))
            options.append(f"--output={_filename_pattern(stdout)}")
            # Without --error SLURM writes stderr into the --output file: that is the merge.
            if stderr != stdout:
                options.append(f"--error={_filename_pattern(stderr)}")
        options.append(f"--chdir={sandbox}")
        return [f"{self.directive_prefix} {_directive_value(option)}" for option in options]

    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        return ["sbatch", "--parsable", *job.spec.extra_args, script_path], None

    def parse_submit_output(self, job: JobRecord, result: CommandResult) -> SubmitAnswer:
        if not result.ok:
            raise self.command_error(result, "sbatch")
        return SubmitAnswer(self.get_jobid_from_submit_output(result.stdout, self.submit_regexp))

    # ------------------------------------------------------------ state

    def squeue_argv(self, user: str) -> list[str]:
        # -r: one line per array task, so each task has its own state
        return ["squeue", "-h", "-r", "-u", user, "-o", squeue_format()]

    def status_argv(self) -> list[str]:
        if self._user is None:
            raise SchedulerError("squeue", f"cluster {self.name!r} is not connected yet")
        return self.squeue_argv(self._user)

    def parse_status_output(self, result: CommandResult) -> list[SchedulerJob]:
        if not result.ok:
            raise self.command_error(result, "squeue")
        return parse_squeue(result.stdout)

    def sacct_argv(self, jobids: Sequence[str]) -> list[str]:
        return [
            "sacct",
            "-n",
            "-P",
            "-X",
            "-j",
            ",".join(jobids),
            f"--format={','.join(SACCT_FIELDS)}",
        ]

    def accounting_argv(self, jobids: Sequence[str], attempt: int) -> list[str] | None:
        """sacct first; then scontrol, which remembers finished jobs for MinJobAge
        seconds when accounting is off, unreachable or lagging."""
        if attempt == 0:
            return self.sacct_argv(jobids)
        if attempt == 1:
            return ["scontrol", "-o", "show", "job"]
        return None

    def parse_accounting_output(
        self, jobids: Sequence[str], result: CommandResult, attempt: int
    ) -> dict[str, SchedulerJob]:
        wanted = set(jobids)
        if attempt == 0:
            if result.ok:
                return {jobid: info for jobid, info in parse_sacct(result.stdout).items() if jobid in wanted}
            if accounting_disabled(result.stderr):
                return {}
            # Accounting is down, not off: said unless scontrol still knows every job.
            raise self.command_error(result, "sacct")
        if not result.ok:
            raise self.command_error(result, "scontrol")
        return {info.jobid: info for info in parse_scontrol_jobs(result.stdout) if info.jobid in wanted}

    # ------------------------------------------------------------ cancel

    def cancel_argv(self, jobid: str) -> list[str]:
        return ["scancel", jobid]

    def classify_cancel_output(self, result: CommandResult) -> CancelVerdict:
        return classify_scancel_output(result.exit_status, result.stdout + "\n" + result.stderr)

    # ------------------------------------------------------------ any of the user's jobs

    def history_argv(self, since: float) -> list[str]:
        return sacct_history_argv(self._user or "", since)

    def parse_history_output(self, result: CommandResult, since: float) -> list[HistoryRecord]:
        if not result.ok:
            error = SchedulerError("sacct", result.stderr or result.stdout, result.exit_status)
            if accounting_disabled(result.stderr):
                raise AccountingUnavailable(f"cluster {self.name!r} keeps no job accounting ({error})")
            raise AccountingUnavailable(f"cluster {self.name!r}: accounting cannot be read ({error})")
        return parse_sacct_history(result.stdout)

    def details_argv(self, jobid: str) -> list[str]:
        return ["sh", "-c", DETAILS_SCRIPT, "sh", jobid, ",".join(SACCT_HISTORY_FIELDS)]

    def parse_details_output(self, jobid: str, result: CommandResult) -> JobDetails:
        head, marker, accounting = result.stdout.partition("@@@ sacct")
        if not marker:
            return parse_scontrol_details(head, self.name)
        records = [r for r in parse_sacct_history(accounting) if r.jobid == jobid]
        if not records:
            raise JobNotFound(f"cluster {self.name!r} knows no job {jobid!r} ({one_line('scontrol', head)})")
        r = records[0]
        return JobDetails(
            cluster=self.name, jobid=r.jobid, name=r.name, user=r.user, state=RunState.TERMINATING,
            raw_state=r.state, reason=str(r.outcome or ""), queue=r.queue, cores=r.cores, memory=r.requested_memory,
            gpus=r.gpus, submit_time=r.submit_time, start_time=r.start_time, end_time=r.end_time,
            elapsed=r.elapsed, exitcode=r.exitcode, signal=r.signal, outcome=r.outcome,
        )  # fmt: skip

    def control_argv(self, action: str, jobid: str, value: str | None) -> list[str]:
        return slurm_control_argv(action, jobid, value)

    def batch_script_argv(self, jobid: str) -> list[str]:
        return ["scontrol", "write", "batch_script", jobid, "-"]

    def parse_batch_script_output(self, jobid: str, result: CommandResult) -> str:
        # scontrol exits 0 even when it has no script (it says so on stdout)
        if not result.ok or "retrieval failed" in result.stdout or not result.stdout.startswith("#!"):
            reason = one_line("scontrol", result.stderr or result.stdout)
            raise SchedulerError("scontrol", f"the batch script of job {jobid} cannot be had: {reason}")
        return result.stdout

    def array_tasks_argv(self, jobid: str) -> list[str]:
        # -j lists every task of the array whatever the window (sacct's -S default does not apply)
        return ["sacct", "-n", "-P", "-j", array_job_id(jobid), f"--format={','.join(SACCT_HISTORY_FIELDS)}"]

    def parse_array_tasks_output(self, jobid: str, result: CommandResult) -> dict[int, HistoryRecord]:
        if not result.ok:
            raise AccountingUnavailable(f"cluster {self.name!r}: accounting cannot be read ({self.command_error(result, 'sacct')})")
        return array_tasks(parse_sacct_history(result.stdout), array_job_id(jobid))

    def array_resubmit_argv(self, tasks: list[int], workdir: str, changes: dict[str, Any]) -> list[str]:
        # options given on sbatch's command line win over the script's own #SBATCH lines
        argv = ["sbatch", "--parsable", f"--array={task_ranges(tasks)}", f"--chdir={workdir}"]
        for key, option, shown in (
            ("cores", "--cpus-per-task", str),
            ("memory_per_core", "--mem-per-cpu", lambda mib: f"{mib}M"),
            ("walltime", "--time", lambda seconds: format_walltime(int(seconds))),
            ("queue", "--partition", str),
            ("name", "--job-name", str),
        ):
            if changes.get(key) is not None:
                argv.append(f"{option}={shown(changes[key])}")
        return argv

    # ------------------------------------------------------------ queues

    def queues_argv(self) -> list[list[str]]:
        return [
            ["sinfo", "-h", "-o", sinfo_format()],
            ["squeue", "-h", "-r", "-t", "PENDING,RUNNING", "-o", f"%P{FIELD_SEP}%T"],
        ]

    def parse_queues_output(self, results: list[CommandResult]) -> list[QueueInfo]:
        sinfo, squeue = results
        if not sinfo.ok:
            raise self.command_error(sinfo, "sinfo")
        if not squeue.ok:
            raise self.command_error(squeue, "squeue")
        queues = parse_sinfo(sinfo.stdout)
        counts = parse_queue_counts(squeue.stdout)
        for queue in queues:
            queue.running, queue.pending = counts.get(queue.name, (0, 0))
        return queues
