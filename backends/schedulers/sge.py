"""Grid Engine (Son of Grid Engine 8.1.9, SGE 6.x, Univa GE) backend.

State comes from ONE ``qstat -xml -u USER`` per refresh; jobs that left qstat are
resolved with ONE shell command that runs ``qacct -j`` once per id (qacct takes a
single id per call). Pure parsers sit next to the class and raise only ParseError.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
import shlex
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..efficiency import cpu_efficiency, memory_efficiency
from ..engine.settings import ClusterSettings, SchedulerSettings, key, non_empty_string
from ..errors import (
    AccountingUnavailable,
    BatchdeckError,
    InvalidJobSpec,
    JobNotFound,
    LimitExceeded,
    ParseError,
    SchedulerError,
)
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
from ..task_array import TaskArray, normalize_task_array, parse_task_array
from ..transports.base import CommandResult, Transport
from ..units import parse_duration, parse_memory
from .base import (
    CONTROL_DIR,
    BatchSystem,
    CancelAnswer,
    CancelVerdict,
    SubmitAnswer,
    one_line,
    scheduler_job_name,
    tag_of,
)
from .directives import (
    Directive,
    DirectiveReading,
    OptionRule,
    interpret,
    output_file,
    passthrough_flags,
    positive_int,
    read_directives,
    replaced,
    setter,
)
from .parsing import parser

# ---------------------------------------------------------------------- pure helpers

#: ``qsub -terse`` prints ``ID`` or, for arrays, ``ID.first-last:step``; plain qsub
#: prints ``Your job ID ("name") has been submitted`` / ``Your job-array ID.1-3:1 ...``.
SUBMIT_REGEXP = r"(?m)^\s*(?:Your job(?:-array)?\s+)?(\d+)(?:[.\s]|$)"

#: Grid Engine's ``failed`` codes (sge_accounting(5), execution_states.h), as readable reasons
FAILED_REASONS: dict[int, str] = {
    1: "failed before the job started (assumedly before job)",
    2: "failed before writing the job's configuration",
    3: "failed before writing the job's PID",
    4: "failed reading the job's configuration",
    5: "failed setting the processor set",
    6: "failed before the prolog",
    7: "the queue's prolog failed",
    8: "failed before the parallel environment's start procedure",
    9: "the parallel environment's start procedure failed",
    10: "failed just before the job started",
    11: "failed before the parallel environment's stop procedure",
    12: "the parallel environment's stop procedure failed",
    13: "failed before the epilog",
    14: "the queue's epilog failed",
    15: "failed releasing the processor set",
    16: "killed through a signal",
    17: "the shepherd returned an error",
    18: "failed before writing the exit status",
    19: "found an unexpected error file",
    20: "failed recognizing the job",
    21: "failed recognizing the job",
    24: "migrating (checkpointing job)",
    25: "rescheduled",
    26: "could not open the job's output or error file",
    27: "the requested shell was not found",
    28: "could not change into the working directory",
    29: "AFS setup failed",
    30: "the application returned an error (exit 100: job put in error state)",
    31: "could not access the sgepasswd file",
    32: "the user is missing in the password file",
    33: "wrong password",
    34: "could not communicate with the Grid Engine Helper Service",
    35: "failed before the job in the Grid Engine Helper Service",
    36: "failed checking the configured daemons",
    37: "walltime or memory limit exceeded (h_rt, h_cpu or h_vmem enforced by qmaster)",
    38: "failed adding a supplementary group",
    100: "deleted with qdel or killed",
}

#: ``failed`` codes that say how a job ended (any other non-zero code: ``failed``)
FAILED_OUTCOMES: dict[int, Outcome] = {
    # qmaster enforced h_rt, h_cpu or h_vmem: which one, the job's category tells
    37: Outcome.TIMEOUT,
    # "assumedly after job" with a signal: qdel or another kill (batchdeck's own
    # cancel is told apart by the backend, which knows it asked)
    100: Outcome.KILLED,
}

#: resource requests (``category -l ...``) that are time or memory limits
_TIME_LIMITS = ("h_rt", "h_cpu")
_MEMORY_LIMITS = ("h_vmem",)
#: a job killed with its peak virtual memory this close to h_vmem ran out of memory
_NEAR_LIMIT = 0.9

_SIGNAL_NAMES = {1: "HUP", 2: "INT", 3: "QUIT", 6: "ABRT", 9: "KILL", 10: "USR1", 12: "USR2", 15: "TERM", 24: "XCPU"}


def signal_name(number: int) -> str:
    name = _SIGNAL_NAMES.get(number)
    return f"signal {number} (SIG{name})" if name else f"signal {number}"


def _requests(category: str) -> dict[str, str]:
    """``-l h_rt=30,h_vmem=100M`` (qacct's category) -> {"h_rt": "30", "h_vmem": "100M"}."""
    found: dict[str, str] = {}
    for group in re.findall(r"-l\s+(\S+)", category or ""):
        for item in group.split(","):
            key, sep, value = item.partition("=")
            if sep:
                found.setdefault(key.strip(), value.strip())
    return found


def _seconds(text: str | None) -> float | None:
    if not text:
        return None
    match = re.match(r"\s*(\d+(?:\.\d+)?)s?\s*$", text)
    if match:
        return float(match.group(1))
    try:
        value = parse_duration(text.strip())
    except ValueError:
        return None
    return float(value) if value is not None else None


def qacct_outcome(
    failed: int,
    exitcode: int | None,
    signal: int | None,
    category: str = "",
    wallclock: str | None = None,
    maxvmem: str | None = None,
    slots: int | None = None,
) -> Outcome:
    """How a job ended, from its qacct record: ``failed`` first, then its exit status.

    ``failed 37`` is a time limit unless the category names only a memory limit
    (or the job stopped well before its h_rt); a job killed or failing with its
    peak memory at its h_vmem ran out of memory.
    """
    requests = _requests(category)
    limit = next((requests[k] for k in _MEMORY_LIMITS if k in requests), None)
    per_slot = _request_mib(limit) if limit else None
    # h_vmem applies per slot: a job of several slots may use that many times as much
    memory_limit = per_slot * max(1, slots or 1) if per_slot is not None else None
    peak = _qacct_mib(maxvmem)
    near_memory_limit = memory_limit is not None and peak is not None and peak >= _NEAR_LIMIT * memory_limit
    if failed == 37:
        time_limit = _seconds(requests.get("h_rt"))
        ran = _seconds(wallclock)
        has_time_limit = any(k in requests for k in _TIME_LIMITS)
        if memory_limit is not None and (
            not has_time_limit or (time_limit is not None and ran is not None and ran < time_limit - 1)
        ):
            return Outcome.OOM
        return Outcome.TIMEOUT
    if failed == 100 and signal:
        return Outcome.OOM if near_memory_limit else FAILED_OUTCOMES[100]
    if failed:
        return FAILED_OUTCOMES.get(failed, Outcome.FAILED)
    if near_memory_limit and (signal or exitcode):
        return Outcome.OOM
    return outcome_from_exit(exitcode, signal)


def parse_submit_output(text: str) -> str:
    """The job id in qsub's answer (``-terse`` or the verbose sentence)."""
    match = re.search(SUBMIT_REGEXP, text or "")
    if not match:
        raise ParseError("qsub output", "no job id found", text)
    return match.group(1)


def state_from_letters(letters: str) -> tuple[RunState, str]:
    """A RunState and a reason from qstat's state letters (``qw``, ``hqw``, ``Eqw``, ``dr``, ``Rr``...).

    Case matters: ``t`` is transferring, ``T`` suspended by a load threshold;
    ``s`` suspended by the user, ``S`` by its queue.
    """
    letters = letters.strip()
    if not letters:
        return RunState.UNKNOWN, "no state reported"
    if "E" in letters:
        return RunState.STOPPED, "error state (qmod -cj clears it)"
    if "d" in letters:
        running = "r" in letters or "t" in letters
        return (RunState.RUNNING if running else RunState.SUBMITTED), "being deleted"
    if "s" in letters:
        return RunState.STOPPED, "suspended"
    if "S" in letters:
        return RunState.STOPPED, "suspended with its queue"
    if "T" in letters:
        return RunState.STOPPED, "suspended by a load threshold"
    if "r" in letters or "t" in letters or letters == "R":
        reason = "restarted" if "R" in letters else ""
        return RunState.RUNNING, reason
    if "z" in letters:
        return RunState.TERMINATING, "finished"
    if "h" in letters:
        return RunState.SUBMITTED, "on hold (release it with qrls)"
    if "q" in letters or "w" in letters or "P" in letters or "N" in letters:
        return RunState.SUBMITTED, ""
    return RunState.UNKNOWN, f"unknown state {letters!r}"


def _epoch(text: str | None, formats: Iterable[str]) -> float | None:
    if not text:
        return None
    text = text.strip().split(".")[0]
    for fmt in formats:
        try:
            return time.mktime(time.strptime(text, fmt))
        except (ValueError, OverflowError, OSError):
            continue
    return None


def _int(text: str | None) -> int | None:
    match = re.match(r"\s*(-?\d+)", text or "")
    return int(match.group(1)) if match else None


def _xml_root(text: str, what: str) -> ET.Element | None:
    if not text or not text.strip():
        return None
    try:
        return ET.fromstring(text)
    except Exception as exc:  # expat raises several types on hostile input
        raise ParseError(what, f"not valid XML ({exc})", text) from None


def _child_text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _split_queue(queue_name: str) -> tuple[str, str]:
    """``all.q@vm`` → (``all.q``, ``vm``)."""
    queue, _, host = queue_name.partition("@")
    return queue, host


def parse_qstat_xml(text: str) -> list[SchedulerJob]:
    """Jobs from ``qstat -xml`` (also ``-r``, ``-ext -urg``, ``-f`` forms), one record per line.

    A running array task is one record with ``array_task`` its index; pending
    tasks come as one record with ``array_task`` their range (``1-3:1``).
    """
    what = "qstat -xml output"
    root = _xml_root(text, what)
    if root is None:
        return []
    if root.tag != "job_info":
        raise ParseError(what, f"unexpected root element <{root.tag}>", text)
    jobs: list[SchedulerJob] = []
    # job_list sits under queue_info, job_info, or queue_info/Queue-List (qstat -f).
    for parent in root.iter():
        parent_queue = _child_text(parent, "name") if parent.tag == "Queue-List" else ""
        for item in parent.findall("job_list"):
            jobs.append(_job_from_xml(item, parent_queue, text))
    return jobs


def _job_from_xml(item: ET.Element, parent_queue: str, text: str) -> SchedulerJob:
    what = "qstat -xml output"
    jobid = _child_text(item, "JB_job_number")
    if not jobid.isdigit():
        raise ParseError(what, f"job without a valid JB_job_number ({jobid!r})", text)
    letters = _child_text(item, "state")
    state, reason = state_from_letters(letters)
    queue_name = _child_text(item, "queue_name") or parent_queue
    queue, host = _split_queue(queue_name)
    if not queue:
        queue = _child_text(item, "hard_req_queue")
    slots = _int(_child_text(item, "slots"))
    tasks = _child_text(item, "tasks") or None
    iso = ("%Y-%m-%dT%H:%M:%S",)
    return SchedulerJob(
        jobid=jobid,
        state=state,
        raw_state=letters,
        reason=reason,
        name=_child_text(item, "JB_name") or _child_text(item, "full_job_name"),
        user=_child_text(item, "JB_owner"),
        queue=queue,
        cores=slots if slots and slots > 0 else None,
        submit_time=_epoch(_child_text(item, "JB_submission_time"), iso),
        start_time=_epoch(_child_text(item, "JAT_start_time"), iso),
        array_id=jobid if tasks else None,
        array_task=tasks,
        comment=f"host {host}" if host else "",
    )


_STATE_RANK = {
    RunState.RUNNING: 5,
    RunState.STOPPED: 4,
    RunState.SUBMITTED: 3,
    RunState.TERMINATING: 2,
    RunState.UNKNOWN: 1,
}


def order_for_refresh(jobs: Sequence[SchedulerJob]) -> list[SchedulerJob]:
    """Records grouped by job id, the one that decides an array job's state last.

    ``BatchSystem.update_job_states`` keeps the last record of an id; for an array
    with running and pending tasks, the job is RUNNING if any task runs.
    """
    first_seen: dict[str, int] = {}
    for index, job in enumerate(jobs):
        first_seen.setdefault(job.jobid, index)
    return sorted(jobs, key=lambda j: (first_seen[j.jobid], _STATE_RANK.get(j.state, 0)))


def parse_qstat_j_errors(text: str) -> dict[str, str]:
    """``{job id: error message}`` from plain ``qstat -j ID[,ID...]`` (the ``error reason`` lines)."""
    reasons: dict[str, str] = {}
    jobid: str | None = None
    for line in (text or "").splitlines():
        if line.startswith("job_number:"):
            value = line.partition(":")[2].strip()
            if not value.isdigit():
                raise ParseError("qstat -j output", f"job_number {value!r} is not a number", text)
            jobid = value
        elif line.startswith("error reason") and jobid is not None and jobid not in reasons:
            # "error reason    1:   11/24/2026 21:25:59 [0:20875]: error: can't chdir to ..."
            message = line.partition(":")[2]
            bracket = re.search(r"\]:\s*(.*)$", message)
            message = bracket.group(1) if bracket else message
            reasons[jobid] = message.strip()
    return reasons


_QACCT_LINE = re.compile(r"^(\w+)\s+(.*?)\s*$")
_NOT_FOUND = re.compile(r"^error: job id \S+ not found$")
_QACCT_TIME = ("%a %b %d %H:%M:%S %Y", "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S")


def _qacct_records(text: str) -> list[dict[str, str]]:
    """Key/value blocks of qacct output; ``====`` and ``@@@ ID`` lines separate them."""
    blocks: list[list[str]] = [[]]
    for raw in (text or "").splitlines():
        line = raw.rstrip()
        if line.startswith("====") or line.startswith("@@@ "):
            blocks.append([])
        elif line.strip() and not _NOT_FOUND.match(line.strip()):
            blocks[-1].append(line)
    records: list[dict[str, str]] = []
    for block in blocks:
        if not block:
            continue
        record: dict[str, str] = {}
        for line in block:
            match = _QACCT_LINE.match(line)
            if match:
                record.setdefault(match.group(1), match.group(2))
        if "jobnumber" not in record:
            raise ParseError("qacct output", "not a qacct -j record (no jobnumber)", text)
        records.append(record)
    return records


def _record_to_job(rec: dict[str, str], text: str) -> SchedulerJob:
    jobid = rec["jobnumber"].strip()
    if not jobid.isdigit():
        raise ParseError("qacct output", f"jobnumber {jobid!r} is not a number", text)
    failed_field = rec.get("failed", "0")
    failed = _int(failed_field)
    if failed is None:
        raise ParseError("qacct output", f"failed {failed_field!r} is not a number", text)
    failed_text = failed_field.partition(":")[2].strip()
    exit_status = _int(rec.get("exit_status"))
    exitcode: int | None = exit_status
    signal: int | None = None
    if exit_status is not None and 128 < exit_status <= 128 + 64:
        signal = exit_status - 128
        exitcode = None
    elif failed and not exit_status:
        # The job never ran to its end (e.g. failed 26/28): "exit 0" would read as success.
        exitcode = None
    slots = _int(rec.get("slots"))
    outcome = qacct_outcome(
        failed, exitcode, signal, rec.get("category", ""), rec.get("ru_wallclock"), rec.get("maxvmem"), slots
    )
    exitcode = settle_exit(outcome, exitcode)
    reasons = []
    if failed:
        reasons.append(FAILED_REASONS.get(failed, failed_text or "failed"))
        if failed == 37 and outcome is Outcome.OOM:
            reasons[0] = "memory limit exceeded (h_vmem enforced by qmaster)"
        elif failed == 37 and "h_rt" in rec.get("category", ""):
            reasons[0] = "walltime exceeded (h_rt enforced by qmaster)"
    if signal is not None:
        reasons.append(signal_name(signal) if failed == 100 else f"killed by {signal_name(signal)}")
    elif exitcode:
        reasons.append(f"exit code {exitcode}")
    raw = f"failed {failed}" if failed else "finished"
    if failed:
        reason = "; ".join(reasons) + f" [failed {failed}" + (f": {failed_text}]" if failed_text else "]")
    else:
        reason = "; ".join(reasons)
    taskid = rec.get("taskid", "undefined").strip()
    task = taskid if taskid.isdigit() else None
    wallclock = re.match(r"\s*(\d+(?:\.\d+)?)", rec.get("ru_wallclock", ""))
    queue = rec.get("qname", "").strip()
    host = rec.get("hostname", "").strip()
    return SchedulerJob(
        jobid=jobid,
        state=RunState.TERMINATING,
        raw_state=raw,
        reason=reason,
        exitcode=exitcode,
        signal=signal,
        outcome=outcome,
        name=rec.get("jobname", "").strip(),
        user=rec.get("owner", "").strip(),
        queue=queue,
        cores=slots if slots and slots > 0 else None,
        submit_time=_epoch(rec.get("qsub_time"), _QACCT_TIME),
        start_time=_epoch(rec.get("start_time"), _QACCT_TIME),
        end_time=_epoch(rec.get("end_time"), _QACCT_TIME),
        elapsed=float(wallclock.group(1)) if wallclock else None,
        array_id=jobid if task else None,
        array_task=task,
        comment=f"host {host}" if host and host != "-/-" else "",
    )


def parse_qacct_records(text: str) -> list[SchedulerJob]:
    """Every record of ``qacct -j`` output (possibly several jobs, ``@@@ ID`` separated)."""
    return [_record_to_job(rec, text) for rec in _qacct_records(text)]


def parse_qacct(text: str) -> dict[str, SchedulerJob]:
    """``{job id: finished job}`` from (concatenated) ``qacct -j`` output.

    An array job's tasks are folded into one record: its outcome is the first
    failing task's (exit code the highest). A reused job id (after the spool was
    wiped) keeps the most recent record.
    """
    by_id: dict[str, list[SchedulerJob]] = {}
    for job in parse_qacct_records(text):
        by_id.setdefault(job.jobid, []).append(job)
    result: dict[str, SchedulerJob] = {}
    for jobid, records in by_id.items():
        tasks = [r for r in records if r.array_task]
        if not tasks:
            result[jobid] = max(records, key=lambda r: (r.submit_time or 0, r.end_time or 0))
            continue
        bad = [t for t in tasks if t.raw_state != "finished" or t.signal or t.exitcode]
        decider = bad[0] if bad else tasks[0]
        ends = [t.end_time for t in tasks if t.end_time]
        exitcodes = [t.exitcode for t in tasks if t.exitcode is not None]
        reason = decider.reason
        if bad:
            reason = f"task {decider.array_task}: {decider.reason}" + (
                f" ({len(bad)} of {len(tasks)} tasks failed)" if len(bad) > 1 else ""
            )
        result[jobid] = dataclasses.replace(
            decider,
            reason=reason,
            exitcode=settle_exit(decider.outcome, max(exitcodes) if exitcodes else None),
            end_time=max(ends) if ends else None,
            array_task=",".join(sorted({t.array_task for t in tasks if t.array_task}, key=int)),
        )
    return result


def _count(value: str) -> int:
    number = _int(value)
    return number if number is not None and number >= 0 else 0


def _queue_state(used: int, available: int, total: int, disabled: int) -> str:
    if total > 0 and disabled >= total:
        return "disabled"
    if total > 0 and used == 0 and available == 0 and disabled > 0:
        return "disabled"
    return "up"


def parse_qstat_gc_xml(text: str) -> list[QueueInfo]:
    """Cluster queues from ``qstat -g c -xml``."""
    what = "qstat -g c -xml output"
    root = _xml_root(text, what)
    if root is None:
        return []
    queues = []
    for item in root.iter("cluster_queue_summary"):
        name = _child_text(item, "name")
        if not name:
            raise ParseError(what, "cluster_queue_summary without a name", text)
        used = _count(_child_text(item, "used"))
        available = _count(_child_text(item, "available"))
        total = _count(_child_text(item, "total"))
        disabled = _count(_child_text(item, "temp_disabled")) + _count(_child_text(item, "manual_intervention"))
        queues.append(
            QueueInfo(
                name=name,
                state=_queue_state(used, available, total, disabled),
                total_cores=total,
                free_cores=available,
            )
        )
    return queues


def parse_qstat_gc(text: str) -> list[QueueInfo]:
    """Cluster queues from plain ``qstat -g c``."""
    what = "qstat -g c output"
    queues = []
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].split()
    if header[:2] != ["CLUSTER", "QUEUE"]:
        raise ParseError(what, "no CLUSTER QUEUE header", text)
    columns = header[2:]  # CQLOAD USED RES AVAIL TOTAL aoACDS cdsuE (RES missing on SGE 6.0)
    for line in lines[1:]:
        if set(line.strip()) <= {"-"}:
            continue
        fields = line.split()
        if len(fields) != len(columns) + 1:
            raise ParseError(what, f"expected {len(columns) + 1} columns, got {len(fields)}", text)
        values = dict(zip(columns, fields[1:], strict=True))
        try:
            used = int(values.get("USED", "0"))
            available = int(values.get("AVAIL", "0"))
            total = int(values.get("TOTAL", "0"))
            disabled = int(values.get("aoACDS", "0")) + int(values.get("cdsuE", "0"))
        except ValueError:
            raise ParseError(what, "slot counts are not numbers", text) from None
        queues.append(
            QueueInfo(
                name=fields[0],
                state=_queue_state(used, available, total, disabled),
                total_cores=total,
                free_cores=available,
            )
        )
    return queues


def count_jobs_per_queue(queues: list[QueueInfo], jobs: Sequence[SchedulerJob]) -> list[QueueInfo]:
    """Fill running/pending counts: running jobs by their queue; pending by the queue they
    requested, or the only queue when there is just one (SGE has no default queue)."""
    by_name = {q.name: q for q in queues}
    only = queues[0] if len(queues) == 1 else None
    for job in jobs:
        target = by_name.get(job.queue) or (only if job.state == RunState.SUBMITTED else None)
        if target is None:
            continue
        if job.state == RunState.RUNNING:
            target.running += 1
        elif job.state in (RunState.SUBMITTED, RunState.STOPPED):
            target.pending += 1
    return queues


# ---------------------------------------------------------------------- slots (qconf -sq / qconf -sp)


@dataclass(frozen=True)
class QueueSlots:
    """What ``qconf -sq`` says of a cluster queue that bounds one job's cores."""

    name: str
    #: the most slots any one host of the queue has: its default or a host's own ``[host=N]``
    slots: int
    #: every parallel environment the queue takes, on any of its hosts
    pe_list: frozenset[str]
    #: the slots of a host the queue names no value for (the value outside brackets)
    default_slots: int = 0
    #: ``[host=N]``: a host's own slots
    host_slots: tuple[tuple[str, int], ...] = ()
    #: the largest ``[@hostgroup=N]``: which hosts a group holds qconf -sq does not say
    group_slots: int | None = None
    #: ``hostlist``: host names and ``@hostgroups``
    hostlist: tuple[str, ...] = ()

    def slots_of(self, host: str) -> int:
        """The most slots this queue may have on ``host``: its own value, else the default or a
        host group's (an upper bound: a job is refused only when no host could take it)."""
        own = dict(self.host_slots)
        if host in own:
            return own[host]
        return max(self.default_slots, self.group_slots or 0)

    def hosts(self, instances: dict[str, tuple[str, ...]] | None) -> tuple[str, ...] | None:
        """The queue's hosts: ``qselect``'s queue instances, else the hostlist when it names hosts
        only (a ``@hostgroup`` there without qselect: unknown, None)."""
        if instances is not None:
            return instances.get(self.name, ())
        names = tuple(h for h in self.hostlist if h.upper() != "NONE")
        return None if any(h.startswith("@") for h in names) else names


@dataclass(frozen=True)
class PeSlots:
    """What ``qconf -sp NAME`` says of a parallel environment."""

    name: str
    #: the slots all jobs under the parallel environment may fill together
    slots: int
    allocation_rule: str


@dataclass(frozen=True)
class SlotLimits:
    queues: dict[str, QueueSlots]
    pe: PeSlots | None
    #: ``qselect``: each cluster queue's hosts (queue instances); None when unknown
    instances: dict[str, tuple[str, ...]] | None = None


def _qconf_records(text: str, first_key: str, what: str) -> list[dict[str, str]]:
    """``key value`` lines, one record from each ``first_key`` line on; a trailing backslash
    continues a line (sge_queue_conf(5): backslash and newline read as a space)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    records: list[dict[str, str]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if key == first_key:
            records.append({})
        elif not records:
            raise ParseError(what, f"the output must start with {first_key}", text)
        records[-1][key] = value.strip()
    return records


def _host_values(value: str) -> list[str]:
    """``1,[node1=4],[@big=8]`` -> ["1", "4", "8"]: the default and every host's own value
    (sge_queue_conf(5)'s enhanced syntax; spaces allowed around the commas)."""
    values = []
    for part in re.findall(r"\[[^\]]*\]|[^,\[\]]+", value):
        part = part.strip()
        if part.startswith("["):
            part = part[1:-1].partition("=")[2]
        if part:
            values.append(part.strip())
    return values


def _slot_count(value: str, what: str, text: str) -> int:
    if not value.isdecimal():
        raise ParseError(what, f"slots {value!r} is not a number", text)
    return int(value)


def _host_pairs(value: str) -> list[tuple[str | None, str]]:
    """``1,[node1=4],[@big=8]`` -> [(None, "1"), ("node1", "4"), ("@big", "8")]."""
    pairs: list[tuple[str | None, str]] = []
    for part in re.findall(r"\[[^\]]*\]|[^,\[\]]+", value):
        part = part.strip()
        if part.startswith("["):
            host, _, own = part[1:-1].partition("=")
            if own.strip():
                pairs.append((host.strip(), own.strip()))
        elif part:
            pairs.append((None, part))
    return pairs


@parser("qconf -sq output")
def parse_qconf_queues(text: str) -> dict[str, QueueSlots]:
    """``qconf -sq QUEUE_LIST``: each cluster queue's slots per host, hosts and parallel environments."""
    what = "qconf -sq output"
    queues: dict[str, QueueSlots] = {}
    for record in _qconf_records(text, "qname", what):
        name = record.get("qname", "")
        if not name or "slots" not in record:
            raise ParseError(what, "a queue without a name or slots", text)
        pairs = [(host, _slot_count(v, what, text)) for host, v in _host_pairs(record["slots"])]
        if not pairs:
            raise ParseError(what, f"slots {record['slots']!r} is not a number", text)
        slots = max(count for _host, count in pairs)
        default = max((count for host, count in pairs if host is None), default=0)
        own = tuple((host, count) for host, count in pairs if host and not host.startswith("@"))
        groups = [count for host, count in pairs if host and host.startswith("@")]
        pes = {pe for v in _host_values(record.get("pe_list", "NONE")) for pe in v.split()} - {"NONE"}
        hostlist = tuple(record.get("hostlist", "").replace(",", " ").split())
        queues[name] = QueueSlots(name, slots, frozenset(pes), default, own, max(groups, default=None), hostlist)
    return queues


@parser("qselect output")
def parse_qselect(text: str) -> dict[str, tuple[str, ...]]:
    """``qselect``: one ``QUEUE@HOST`` queue instance a line -> each queue's hosts."""
    hosts: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        queue, at, host = line.strip().partition("@")
        if not at or not queue or not host or " " in line.strip():
            raise ParseError("qselect output", f"{line.strip()!r} is not QUEUE@HOST", text)
        hosts.setdefault(queue, []).append(host)
    return {queue: tuple(names) for queue, names in hosts.items()}


@parser("qconf -sp output")
def parse_qconf_pe(text: str) -> PeSlots:
    """``qconf -sp NAME``: a parallel environment's slots and allocation rule."""
    what = "qconf -sp output"
    records = _qconf_records(text, "pe_name", what)
    if len(records) != 1 or not records[0].get("pe_name") or "slots" not in records[0]:
        raise ParseError(what, "one parallel environment with its slots expected", text)
    record = records[0]
    return PeSlots(record["pe_name"], _slot_count(record["slots"], what, text), record.get("allocation_rule", ""))


#: one round trip for every queue, their hosts (queue instances) and the parallel environment a
#: multi-core job asks for
SLOTS_SCRIPT = 'qconf -sq "*"; echo "@@@ hosts"; qselect; echo "@@@ pe"; qconf -sp "$1"'


@parser("qconf slots output")
def parse_slot_limits(text: str) -> SlotLimits:
    """The output of ``SLOTS_SCRIPT``: queues, after ``@@@ hosts`` qselect's queue instances, after
    ``@@@ pe`` the parallel environment (a part empty where its command failed: that limit is then
    unknown; an output without ``@@@ hosts``, of the script before it asked qselect, has no hosts)."""
    head, marker, pe_text = text.partition("@@@ pe\n")
    if not marker:
        raise ParseError("qconf slots output", "no '@@@ pe' line", text)
    queues_text, hosts_marker, hosts_text = head.partition("@@@ hosts\n")
    queues = parse_qconf_queues(queues_text) if queues_text.strip() else {}
    instances = parse_qselect(hosts_text) if hosts_marker and hosts_text.strip() else None
    return SlotLimits(queues, parse_qconf_pe(pe_text) if pe_text.strip() else None, instances)


def _per_host(candidates: list[QueueSlots], instances: dict[str, tuple[str, ...]] | None) -> dict[str, int] | None:
    """Each host's slots summed over the candidate queues on it; None when the hosts are unknown."""
    totals: dict[str, int] = {}
    for queue in candidates:
        hosts = queue.hosts(instances)
        if hosts is None:
            return None
        for host in hosts:
            totals[host] = totals.get(host, 0) + queue.slots_of(host)
    # no instance listed at all: qselect saw none of them, which is no reason to refuse a job
    return totals or None


def _queue_bound(
    cores: int, candidates: list[QueueSlots], pe: PeSlots | None, instances: dict[str, tuple[str, ...]] | None
) -> tuple[int, str] | None:
    """The most cores the candidate queues can give one job under ``pe``'s allocation rule, and why
    (None: unknown). ``$pe_slots`` (and a one-core job): all on one host; an integer N: N on each
    host that has N; ``$fill_up`` / ``$round_robin``: the sum over the queues' hosts."""
    names = ", ".join(sorted(q.name for q in candidates))
    which = f"queue {names}" if len(candidates) == 1 else f"queues {names}"
    hosts = _per_host(candidates, instances)
    rule = pe.allocation_rule if pe is not None and cores > 1 else "$pe_slots"
    if rule == "$pe_slots":
        if hosts:
            return max(hosts.values()), f"{which}: {max(hosts.values())} slots on its largest host, all on one host"
        best = max(q.slots for q in candidates)
        return best, f"{which}: {best} slots per host, all on one host"
    if hosts is None:
        return None  # may span hosts the queue's hostlist does not name
    if rule.isdecimal() and int(rule) > 0:
        per = int(rule)
        fit = sum(1 for count in hosts.values() if count >= per)
        return per * fit, f"{which}: {fit} of {len(hosts)} hosts have the {per} slots allocation_rule {per} puts on each"
    if rule in ("$fill_up", "$round_robin"):
        total = sum(hosts.values())
        return total, f"{which}: {total} slots over {len(hosts)} hosts ({rule})"
    return None


def check_slots(cores: int, queue: str | None, limits: SlotLimits, pe_name: str, cluster: str) -> None:
    """Refuse a job of ``cores`` that no queue (``queue``: qsub's ``-q`` list) and parallel
    environment ``pe_name`` can give: qsub takes such a job, and it waits forever.

    A queue list that names no known queue is left to qsub, which refuses it itself. The queues
    bound a job by the parallel environment's allocation rule (``_queue_bound``), the parallel
    environment by its own total.
    """
    candidates = list(limits.queues.values())
    if queue:
        wanted = [part.strip().partition("@")[0] for part in queue.split(",")]
        candidates = [q for q in candidates if any(fnmatch.fnmatchcase(q.name, w) for w in wanted if w)]
        if not candidates:
            return
    pe = limits.pe if cores > 1 else None
    if cores > 1 and candidates:
        with_pe = [q for q in candidates if pe_name in q.pe_list]
        if not with_pe:
            names = ", ".join(sorted(q.name for q in candidates))
            raise LimitExceeded(
                f"job asks for {cores} cores but no queue of cluster {cluster!r} it may run in ({names}) "
                f"takes parallel environment {pe_name} (pe_list; parallel_environment)"
            )
        candidates = with_pe
    if cores > 1 and pe is None:
        return  # the parallel environment unknown: so is its allocation rule
    bounds: list[tuple[int, str]] = []
    by_queue = _queue_bound(cores, candidates, pe, limits.instances) if candidates else None
    if by_queue is not None:
        bounds.append(by_queue)
    if pe is not None:
        rule = f", allocation_rule {pe.allocation_rule}" if pe.allocation_rule else ""
        bounds.append((pe.slots, f"parallel environment {pe.name}: {pe.slots} slots{rule}"))
    if not bounds or cores <= min(b for b, _ in bounds):
        return
    most = min(b for b, _ in bounds)
    raise LimitExceeded(
        f"job asks for {cores} cores but cluster {cluster!r} gives one job at most {most} "
        f"({'; '.join(why for _, why in bounds)})"
    )


def classify_qdel_output(text: str) -> str:
    """What qdel said: ``deleted`` (pending job gone), ``registered`` (running job being
    killed), ``not found``, ``denied`` (not the owner) or ``unknown``."""
    text = text or ""
    if re.search(r"has deleted job", text):
        return "deleted"
    if re.search(r"has registered the job \S+ for deletion|is already in deletion", text):
        return "registered"
    if re.search(r"job \S+ does not exist|Following jobs do not exist", text):
        return "not found"
    if re.search(r"do not have the necessary privileges|not allowed|permission denied", text, re.I):
        return "denied"
    return "unknown"


def classify_qdel_result(exit_status: int, text: str) -> CancelVerdict:
    """A cancel verdict from qdel's exit status and words (see classify_qdel_output)."""
    outcome = classify_qdel_output(text)
    if outcome in ("deleted", "registered") or (exit_status == 0 and outcome == "unknown"):
        return CancelVerdict(CancelAnswer.DONE)
    if outcome == "not found":
        # It already left the queue; accounting tells how it ended.
        return CancelVerdict(CancelAnswer.ALREADY_GONE, " ".join(text.split()))
    return CancelVerdict(CancelAnswer.ERROR, " ".join(text.split()) or f"exit status {exit_status}")


# ---------------------------------------------------------------------- history (qacct)


def qacct_history_argv(user: str, days: int) -> list[str]:
    """Every job record of ``user`` of the last ``days`` days (``-j`` lists them one by one)."""
    return ["qacct", "-o", user, "-d", str(max(1, days)), "-j"]


# qacct prints sizes scaled with binary units ("4.809MB", "1.2GB", "0.000B")
_QACCT_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.I)
# a request's size: K/M/G are powers of 1024, k/m/g of 1000 (sge_types(1))
_REQUEST_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGkmg]?)$")


def _qacct_mib(text: str | None) -> float | None:
    match = _QACCT_SIZE.match(text or "")
    if not match:
        return None
    scale = {"": 1 / 1024 / 1024, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2}[match.group(2).upper()]
    return float(match.group(1)) * scale


def _requested_mib(category: str, slots: int) -> float | None:
    """h_vmem (or mem_free) of the job's category, which Grid Engine applies per slot."""
    match = re.search(r"(?:^|[\s,])(?:h_vmem|mem_free|s_vmem)=(\d+(?:\.\d+)?[KMGkmg]?)", category)
    size = _request_mib(match.group(1)) if match else None
    return size * max(1, slots) if size is not None else None


def _request_mib(text: str) -> float | None:
    """MiB of a request's size (``100M``, ``1G``, ``2g``, bytes when bare)."""
    size = _REQUEST_SIZE.match(text.strip())
    if not size:
        return None
    value, unit = float(size.group(1)), size.group(2)
    factor = {"": 1 / 1024 / 1024, "K": 1 / 1024, "M": 1.0, "G": 1024.0,
              "k": 1000 / 1024 / 1024, "m": 1e6 / 1024 / 1024, "g": 1e9 / 1024 / 1024}[unit]  # fmt: skip
    return value * factor


@parser("qacct history")
def parse_qacct_history(text: str) -> list[HistoryRecord]:
    """Records of ``qacct -o USER -d N -j``; its totals table (no job at all) gives none."""
    records = []
    blocks: list[list[str]] = [[]]
    for raw in text.splitlines():
        if re.match(r"^OWNER\s+WALLCLOCK", raw):
            break  # the totals table qacct appends after the records
        if raw.startswith("===="):
            blocks.append([])
        elif raw.strip():
            blocks[-1].append(raw.rstrip())
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block:
            match = _QACCT_LINE.match(line)
            if match:
                fields.setdefault(match.group(1), match.group(2))
        if not fields:
            continue
        if "jobnumber" not in fields:
            raise ParseError("qacct history", "a record without a jobnumber", text)
        job = _record_to_job(fields, text)
        category = fields.get("category", "")
        slots = job.cores or 1
        elapsed = _seconds(fields.get("ru_wallclock"))
        cpu = _seconds(fields.get("cpu"))
        requested = _requested_mib(category, slots)
        used = _qacct_mib(fields.get("maxvmem"))
        jobid = job.jobid if not job.array_task else f"{job.jobid}.{job.array_task}"
        records.append(
            HistoryRecord(
                jobid=jobid,
                name=job.name,
                user=job.user,
                queue=job.queue,
                state=job.raw_state,
                # the verdict and exit code the status refresh gives the same record
                outcome=job.outcome,
                exitcode=job.exitcode,
                signal=job.signal,
                submit_time=job.submit_time,
                start_time=job.start_time,
                end_time=job.end_time,
                elapsed=elapsed,
                cores=slots,
                cpu_time=cpu,
                requested_memory=requested,
                max_rss=used,
                cpu_efficiency=cpu_efficiency(cpu, elapsed, slots),
                memory_efficiency=memory_efficiency(used, requested),
            )
        )
    return records


# ---------------------------------------------------------------------- details (qstat -j)

#: ONE round trip for ``batchdeck show``: qstat -j has no state, the listing has no paths, and a
#: finished job is known only to qacct. Ids and user are arguments, never part of the script.
DETAILS_SCRIPT = (
    'qstat -j "$1" 2>&1 || { echo "@@@ qacct"; qacct -j "$1" 2>&1; }; echo "@@@ qstat"; qstat -xml -u "$2"'
)
_DETAIL_LINE = re.compile(r"^([A-Za-z_][\w \-()]*?):\s*(.*)$")


def _expand_sge_path(path: str, values: dict[str, str]) -> str:
    """qsub's pseudo variables in -o/-e paths: $JOB_ID, $TASK_ID, $JOB_NAME, $USER, $HOME, $HOSTNAME."""
    for name in ("JOB_ID", "TASK_ID", "JOB_NAME", "USER", "HOME", "HOSTNAME"):
        if name in values:
            path = path.replace(f"${name}", values[name]).replace(f"${{{name}}}", values[name])
    return path


def _sge_output_path(path_list: str, kind: str, name: str, jobid: str, task: str, directory: str,
                     values: dict[str, str]) -> str:  # fmt: skip
    """The file a job writes: the path list's entry ([host:]path, NONE meaning any host), else
    Grid Engine's default ``NAME.oJOBID[.TASKID]`` in the working directory or home."""
    default = f"{name}.{kind}{jobid}" + (f".{task}" if task else "")
    entry = path_list.split(",")[0].rsplit(":", 1)[-1].strip() if path_list.strip() else ""
    if not entry:
        return f"{directory.rstrip('/')}/{default}" if directory else default
    entry = _expand_sge_path(entry, values)
    if not entry.startswith("/"):
        entry = f"{directory.rstrip('/')}/{entry}"
    return entry


@parser("qstat -j output")
def parse_sge_details(text: str, cluster: str = "", user: str = "") -> JobDetails:
    """DETAILS_SCRIPT's output: ``qstat -j`` (or ``qacct -j`` once finished) and the listing."""
    main, _, listing = text.partition("@@@ qstat")
    main, _, accounting = main.partition("@@@ qacct")
    fields: dict[str, str] = {}
    last = ""
    for raw in main.splitlines():
        match = _DETAIL_LINE.match(raw)
        if match and not raw.startswith(" "):
            last = match.group(1).strip()
            fields.setdefault(last, match.group(2).strip())
        elif last == "scheduling info" and raw.strip():
            fields[last] += "; " + raw.strip()
    if accounting.strip():
        finished = parse_qacct(accounting)
        if not finished:
            raise ParseError("qstat -j output", "the job is neither queued nor in accounting", text)
        info = next(iter(finished.values()))
        return JobDetails(
            cluster=cluster, jobid=info.jobid, name=info.name, user=info.user, state=info.state,
            raw_state=info.raw_state, reason=info.reason, queue=info.queue, cores=info.cores,
            submit_time=info.submit_time, start_time=info.start_time, end_time=info.end_time,
            elapsed=info.elapsed, exitcode=info.exitcode, signal=info.signal, outcome=info.outcome,
            batchdeck_id=tag_of(info.name),
        )  # fmt: skip
    jobid = fields.get("job_number", "")
    if not jobid.isdigit():
        raise ParseError("qstat -j output", "no job_number", text)
    listed = [j for j in parse_qstat_xml(listing.strip()) if j.jobid == jobid] if listing.strip() else []
    state, raw_state, reason = RunState.UNKNOWN, "", ""
    if listed:
        best = order_for_refresh(listed)[-1]
        state, raw_state, reason = best.state, best.raw_state, best.reason
    resources = dict(
        item.split("=", 1) for item in fields.get("hard resource_list", "").split(",") if "=" in item
    )
    pe = re.search(r"range:\s*(\d+)", fields.get("parallel environment", ""))
    slots = int(pe.group(1)) if pe else 1
    name = fields.get("job_name", "")
    tasks = fields.get("job-array tasks", "")
    task = tasks.split("-")[0].split(":")[0] if tasks else ""
    home = fields.get("sge_o_home", "")
    directory = fields.get("cwd") or home
    values = {"JOB_ID": jobid, "JOB_NAME": name, "USER": fields.get("owner", user), "HOME": home}
    if task:
        values["TASK_ID"] = task
    stdout = _sge_output_path(fields.get("stdout_path_list", ""), "o", name, jobid, task, directory, values)
    if fields.get("merge", "").lower().startswith("y"):
        stderr = stdout
    else:
        stderr = _sge_output_path(fields.get("stderr_path_list", ""), "e", name, jobid, task, directory, values)
    h_rt = resources.get("h_rt", "")
    limit = int(h_rt) if h_rt.isdigit() else parse_duration(h_rt) if h_rt else None
    scheduling = fields.get("scheduling info", "")
    predecessors = fields.get("jid_predecessor_list", "")
    command = " ".join(p for p in (fields.get("script_file", ""), fields.get("job_args", "").replace(",", " ")) if p)
    return JobDetails(
        cluster=cluster,
        jobid=jobid,
        name=name,
        user=fields.get("owner", ""),
        state=state,
        raw_state=raw_state,
        reason=scheduling or reason,
        raw_reason=scheduling,
        queue=fields.get("hard_queue_list", "") or (listed[0].queue if listed else ""),
        account=fields.get("account", ""),
        cores=slots,
        memory=_requested_mib(fields.get("hard resource_list", "").replace(",", " "), slots),
        submit_time=_epoch(fields.get("submission_time"), _QACCT_TIME),
        start_time=listed[0].start_time if listed else None,
        time_limit=limit,
        workdir=directory,
        command=command,
        stdout=stdout,
        stderr=stderr,
        dependency=f"after {predecessors}" if predecessors else "",
        array_id=jobid if tasks else None,
        array_task=tasks or None,
        batchdeck_id=tag_of(name),
    )


def sge_control_argv(action: str, jobid: str, value: str | None = None) -> list[str]:
    """``cancel``, ``hold``, ``release``, ``time_limit`` (seconds; pending jobs only), ``signal``
    (Grid Engine has no general signal: KILL is a delete, STOP/CONT suspend and resume)."""
    if action == "cancel" or (action == "signal" and value == "KILL"):
        return ["qdel", jobid]
    if action == "signal" and value in ("STOP", "CONT"):
        return ["qmod", "-sj" if value == "STOP" else "-usj", jobid]
    if action == "signal":
        raise InvalidJobSpec(f"Grid Engine cannot send SIG{value} to a job: only KILL (a delete) and STOP/CONT")
    if action == "hold":
        return ["qhold", jobid]
    if action == "release":
        return ["qrls", jobid]
    if action == "time_limit":
        return ["qalter", "-l", f"h_rt={int(value or 0)}", jobid]
    raise ValueError(f"unknown action {action!r}")


# ---------------------------------------------------------------------- a script's #$ lines


def _sge_resources(value: str | None, reading: DirectiveReading) -> None:
    """-l h_rt=..,h_vmem=..,other=..: time and memory become settings, the rest is passed through."""
    rest = []
    for item in (value or "").split(","):
        key, _, amount = item.partition("=")
        if key == "h_rt":
            seconds = int(amount) if amount.isdecimal() else parse_duration(amount)
            if not seconds:
                raise ValueError(f"h_rt={amount!r} is not a duration")
            reading.values["walltime"] = seconds
        elif key == "h_vmem":
            reading.values["memory_per_core"] = parse_memory(amount)  # per slot, as batchdeck asks it
        elif item:
            rest.append(item)
    if rest:
        reading.passthrough.append(f"#$ -l {shlex.quote(','.join(rest))}")
        reading.notes.append(f"-l {','.join(rest)} passed through to the scheduler as it is")


def _sge_pe(value: str | None, reading: DirectiveReading) -> None:
    name, _, slots = (value or "").partition(" ")
    if not slots.strip().isdecimal():
        raise ValueError(f"give the parallel environment a fixed slot count, e.g. '-pe smp 4', not {value!r}")
    reading.values["cores"] = int(slots)
    reading.notes.append(f"batchdeck asks the cluster's own parallel environment for the {slots} slots")


def _sge_merge(value: str | None, reading: DirectiveReading) -> None:
    if (value or "").lower() in ("y", "yes", "true"):
        reading.values["merge"] = True


QSUB_RULES: tuple[OptionRule, ...] = (
    OptionRule(("-N",), True, setter("name")),
    OptionRule(("-q",), True, setter("queue")),
    OptionRule(("-l",), True, _sge_resources),
    OptionRule(("-pe",), True, _sge_pe),
    OptionRule(("-o",), True, output_file("stdout")),
    OptionRule(("-e",), True, output_file("stderr")),
    OptionRule(("-j",), True, _sge_merge),
    OptionRule(("-cwd",), False, replaced("batchdeck runs the job in its sandbox")),
    OptionRule(("-wd",), True, replaced("batchdeck runs the job in its sandbox")),
    OptionRule(("-S",), True, replaced("batchdeck's job script runs under /bin/bash")),
    OptionRule(("-t",), True, setter("array", normalize_task_array)),
    OptionRule(("-tc",), True, setter("array_throttle", positive_int)),
    *passthrough_flags("-hold_jid", "-hold_jid_ad", "-P", "-A", "-m", "-M", "-p", "-ar", "-a", "-v", "-js"),
)


def sge_dependency_directives(conditions: list[tuple[str, str]]) -> list[str]:
    """Grid Engine waits for a job to end, however it ended (``-hold_jid``): only ``any`` maps."""
    refused = sorted({kind for kind, _ in conditions if kind != "any"})
    if refused:
        raise InvalidJobSpec(
            f"Grid Engine can only wait for a job to end, whatever its outcome: use --after ID:any, not :{refused[0]}"
        )
    ids = ",".join(jobid for _, jobid in conditions)
    return [f"#$ -hold_jid {ids}"] if ids else []


def read_qsub_directives(script: str) -> DirectiveReading:
    """A script's ``#$`` lines; ``-pe NAME N`` gives the core count (two words in one option)."""
    directives = read_directives(script, "#$")
    # -pe takes two words: join them so the option table sees one value
    joined = []
    for directive in directives:
        words = list(directive.words)
        for i, word in enumerate(words[:-2]):
            if word == "-pe":
                words[i + 1 : i + 3] = [f"{words[i + 1]} {words[i + 2]}"]
        joined.append(Directive(directive.line, tuple(words)))
    reading = interpret("#$", joined, QSUB_RULES)
    throttle = reading.values.pop("array_throttle", None)
    if throttle is not None:
        if "array" not in reading.values:
            raise InvalidJobSpec(f"#$ -tc {throttle}: limits the tasks of an array, but the script asks no -t array")
        reading.values["array"] = dataclasses.replace(parse_task_array(reading.values["array"]), throttle=throttle).text()
    return reading


# Characters that survive a ``#$`` directive line unquoted and mean nothing special to
# qsub there (``:`` separates a host, ``,`` lists paths, ``$`` starts a pseudo variable).
_DIRECTIVE_SAFE = re.compile(r"^[A-Za-z0-9_./+@%=-]+$")
_PATH_FORBIDDEN = re.compile(r"[:,$\s\x00-\x1f]")

# ---------------------------------------------------------------------- the backend

QACCT_LOOP = 'for id in "$@"; do echo "@@@ $id"; qacct -j "$id"; done'


@dataclass(frozen=True)
class SgeSettings(SchedulerSettings):
    """The keys only a Grid Engine cluster has."""

    parallel_environment: str = key(
        "smp", non_empty_string, "the parallel environment a multi-core job asks for (qsub -pe NAME CORES)"
    )


class SgeBatchSystem(BatchSystem):
    """Son of Grid Engine / SGE / Univa GE through qsub, qstat -xml, qacct and qdel."""

    type_name: ClassVar[str] = "sge"
    #: QOS is Grid Engine's project (-P); the constraint a resource request (-l)
    honoured_options: ClassVar[frozenset[str]] = frozenset({"account", "qos", "constraint", "extra_args", "array"})
    array_task_variable: ClassVar[str] = "SGE_TASK_ID"
    submit_regexp: ClassVar[str] = SUBMIT_REGEXP
    # Longer names are accepted but qstat's columns and the tag must stay readable.
    max_job_name_length: ClassVar[int] = 64
    directive_prefix: ClassVar[str] = "#$"
    read_script_directives = staticmethod(read_qsub_directives)
    dependency_directives = staticmethod(sge_dependency_directives)
    # qdel of a pending job leaves no qacct record
    accounts_cancelled_pending_jobs: ClassVar[bool] = False

    settings_class: ClassVar[type[SchedulerSettings]] = SgeSettings

    def __init__(
        self, settings: ClusterSettings | str, transport: Transport | str | None = None, **keys: Any
    ) -> None:
        super().__init__(settings, transport, **keys)
        own = self.settings.scheduler
        assert isinstance(own, SgeSettings)
        self.parallel_environment: str = own.parallel_environment
        self._user: str | None = self.username
        #: the queues' and the parallel environment's slots (parse_limits_output), once asked
        self._slots: SlotLimits | None = None

    # ------------------------------------------------------------------ submission

    def _check_path(self, path: str, what: str) -> str:
        if _PATH_FORBIDDEN.search(path):
            raise InvalidJobSpec(
                f"{what} {path!r} contains a space, ':', ',' or '$', which qsub would misread"
            )
        return path

    def _options(self, job: JobRecord, sandbox: str) -> list[list[str]]:
        spec = job.spec
        stdout = self._check_path(f"{sandbox.rstrip('/')}/{spec.stdout}", "output path")
        stderr = self._check_path(f"{sandbox.rstrip('/')}/{spec.stderr}", "error path")
        options: list[list[str]] = [
            ["-N", scheduler_job_name(job, self.max_job_name_length)],
            ["-S", "/bin/bash"],
            ["-wd", self._check_path(sandbox, "sandbox")],
        ]
        if spec.array:
            # the tasks redirect themselves into TASK/; qsub's own files go to the control
            # folder, where a directory makes Grid Engine name them per task (NAME.oJOB.TASK)
            array = parse_task_array(spec.array)
            first, last, step = array.single_run() or array.runs[0]
            control = self._check_path(f"{sandbox.rstrip('/')}/{CONTROL_DIR}/", "control folder")
            # a step's ':' cannot be on a #$ line: that option goes on qsub's command line
            options += [["-t", f"{first}-{last}" + (f":{step}" if step != 1 else "")], ["-o", control], ["-e", control]]
            if array.throttle is not None:
                options.append(["-tc", str(array.throttle)])
        elif spec.stdout == spec.stderr:
            options += [["-o", stdout], ["-j", "y"]]
        else:
            options += [["-o", stdout], ["-e", stderr]]
        if spec.queue:
            options.append(["-q", spec.queue])
        if spec.cores > 1:
            options.append(["-pe", self.parallel_environment, str(spec.cores)])
        if spec.memory_per_core is not None:
            # h_vmem is per slot, so per core is what Grid Engine wants.
            options.append(["-l", f"h_vmem={spec.memory_per_core}M"])
        if spec.walltime is not None:
            options.append(["-l", f"h_rt={int(spec.walltime)}"])
        for flag, value in (("-A", spec.account), ("-P", spec.qos), ("-l", spec.constraint)):
            if value is not None:
                options.append([flag, value])
        return options

    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        return [
            f"{self.directive_prefix} {' '.join(option)}"
            for option in self._options(job, sandbox)
            if all(_DIRECTIVE_SAFE.match(word) for word in option)
        ]

    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        sandbox = job.sandbox or script_path.rsplit("/.batchdeck/", 1)[0]
        argv = ["qsub", "-terse"]
        # Words a #$ line cannot carry verbatim (a queue name with odd characters)
        # go on the command line, where the transport quotes them.
        for option in self._options(job, sandbox):
            if not all(_DIRECTIVE_SAFE.match(word) for word in option):
                argv += option
        argv += job.spec.extra_args
        argv.append(script_path)
        return argv, None

    def parse_submit_output(self, job: JobRecord, result: CommandResult) -> SubmitAnswer:
        if not result.ok:
            raise self.command_error(result, "qsub")
        return SubmitAnswer(parse_submit_output(result.stdout))

    def check_array(self, array: TaskArray) -> None:
        if array.single_run() is None:
            raise ValueError(f"Grid Engine takes one range FIRST-LAST[:STEP] (qsub -t), not a list like {array.ranges()}")
        if min(first for first, _, _ in array.runs) < 1:
            raise ValueError("Grid Engine's task ids start at 1")

    def check_spec(self, spec: JobSpec) -> None:
        """The cores against the queues' and the parallel environment's slots, once learnt
        (``limits_argv``); odd queue words go on the command line, and paths are checked
        where the sandbox is known (``_options``)."""
        if self._slots is not None:
            check_slots(spec.cores, spec.queue, self._slots, self.parallel_environment, self.name)

    def limits_argv(self) -> list[str] | None:
        return ["sh", "-c", SLOTS_SCRIPT, "sh", self.parallel_environment]

    def parse_limits_output(self, result: CommandResult) -> None:
        try:
            self._slots = parse_slot_limits(result.stdout)
        except ParseError:
            # qconf missing or its output unreadable: qsub still takes the job, as before
            self._slots = None

    # ------------------------------------------------------------------ state

    async def prepare(self) -> None:
        """The user whose jobs qstat lists: configured, or ``id -un`` once."""
        if self._user is None:
            result = await self._run(["id", "-un"], "id -un")
            user = result.stdout.strip()
            if not user:
                raise SchedulerError("id -un", "printed no user name")
            self._user = user

    def status_argv(self) -> list[str]:
        return ["qstat", "-xml", "-u", self._user or "*"]

    def parse_status_output(self, result: CommandResult) -> list[SchedulerJob]:
        if not result.ok:
            raise self.command_error(result, "qstat")
        return order_for_refresh(parse_qstat_xml(result.stdout))

    def status_followup_argv(self, jobs: list[SchedulerJob]) -> list[str] | None:
        """``qstat -j`` for jobs in error state, all in one call: qstat -xml does not say why."""
        failed = sorted({j.jobid for j in jobs if "E" in j.raw_state}, key=int)
        return ["qstat", "-j", ",".join(failed)] if failed else None

    def parse_status_followup(self, jobs: list[SchedulerJob], result: CommandResult) -> list[SchedulerJob]:
        try:
            # Parsed even on a non-zero exit: one job may have vanished meanwhile.
            reasons = parse_qstat_j_errors(result.stdout)
        except ParseError:
            reasons = {}  # the reason is a nicety; the state itself is known
        for job in jobs:
            if job.jobid in reasons:
                job.reason = f"error: {reasons[job.jobid]} (qmod -cj {job.jobid} clears it)"
        return jobs

    def accounting_argv(self, jobids: Sequence[str], attempt: int) -> list[str] | None:
        """qacct -j takes one id: one shell loops over them, one round trip (ids as arguments)."""
        # an array task (``task_jobid``: ID.TASK) is in its array's qacct -j ID answer
        ids = list(dict.fromkeys(str(j).partition(".")[0] for j in jobids))
        ids = [j for j in ids if j.isdigit()]
        if attempt > 0 or not ids:
            return None
        return ["sh", "-c", QACCT_LOOP, "sh", *ids]

    def parse_accounting_output(
        self, jobids: Sequence[str], result: CommandResult, attempt: int
    ) -> dict[str, SchedulerJob]:
        found = parse_qacct(result.stdout)
        unexpected = [
            line
            for line in result.stderr.splitlines()
            if line.strip() and not _NOT_FOUND.match(line.strip())
        ]
        if unexpected and not found:
            raise SchedulerError("qacct", "\n".join(unexpected), result.exit_status)
        wanted = set(jobids)
        if any("." in jobid for jobid in wanted):
            for task in parse_qacct_records(result.stdout):
                if task.array_task:
                    found[self.task_jobid(task.jobid, int(task.array_task))] = task
        return {jobid: info for jobid, info in found.items() if jobid in wanted}

    def task_jobid(self, jobid: str, task: int) -> str:
        return f"{jobid}.{task}"

    # ------------------------------------------------------------------ cancel

    def cancel_argv(self, jobid: str) -> list[str]:
        return ["qdel", jobid]

    def classify_cancel_output(self, result: CommandResult) -> CancelVerdict:
        return classify_qdel_result(result.exit_status, result.stdout + "\n" + result.stderr)

    # ------------------------------------------------------------------ any of the user's jobs

    def history_argv(self, since: float) -> list[str]:
        return qacct_history_argv(self._user or "", max(1, math.ceil((time.time() - since) / 86400)))

    def parse_history_output(self, result: CommandResult, since: float) -> list[HistoryRecord]:
        if not result.ok:
            error = SchedulerError("qacct", result.stderr or result.stdout, result.exit_status)
            raise AccountingUnavailable(f"cluster {self.name!r}: accounting cannot be read ({error})")
        # qacct -d counts whole days back from now: trim to the exact window
        return [r for r in parse_qacct_history(result.stdout) if (r.end_time or r.start_time or 0) >= since]

    def details_argv(self, jobid: str) -> list[str]:
        return ["sh", "-c", DETAILS_SCRIPT, "sh", jobid, self._user or ""]

    def parse_details_output(self, jobid: str, result: CommandResult) -> JobDetails:
        try:
            return parse_sge_details(result.stdout, self.name, self._user or "")
        except ParseError:
            first = one_line("qstat", result.stdout)
            raise JobNotFound(f"cluster {self.name!r} knows no job {jobid!r} ({first})") from None

    def control_argv(self, action: str, jobid: str, value: str | None) -> list[str]:
        return sge_control_argv(action, jobid, value)

    def array_tasks_argv(self, jobid: str) -> list[str]:
        # qsub -t takes one range, so failed tasks 1,4,7 would be three submits; but that never
        # arises: the spooled script is deleted when the job ends and qacct keeps none
        raise BatchdeckError(
            f"cluster {self.name!r}: Grid Engine keeps no copy of a finished array's script, so its failed "
            "tasks cannot be submitted again from it; submit the script again with qsub -t FIRST-LAST"
        )

    # ------------------------------------------------------------------ queues

    def queues_argv(self) -> list[list[str]]:
        # -r adds each pending job's requested queue (hard_req_queue).
        return [["qstat", "-g", "c", "-xml"], ["qstat", "-xml", "-r", "-u", "*"]]

    def parse_queues_output(self, results: list[CommandResult]) -> list[QueueInfo]:
        summary, listing = results
        if not summary.ok:
            raise self.command_error(summary, "qstat -g c")
        if not listing.ok:
            raise self.command_error(listing, "qstat")
        return count_jobs_per_queue(parse_qstat_gc_xml(summary.stdout), parse_qstat_xml(listing.stdout))
