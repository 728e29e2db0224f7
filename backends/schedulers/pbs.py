"""PBS Professional / OpenPBS and TORQUE: one backend, two flavours.

The flavour (``"pro"`` or ``"torque"``) is a cluster setting; when it is not set
it is read once from ``qstat --version`` and cached. The two differ in the
resource syntax of the job script (``select=`` vs ``nodes=:ppn=``), in how
finished jobs are kept (PBS Pro job history through ``qstat -x``; TORQUE keeps
completed jobs as state ``C`` for ``keep_completed`` seconds, then only
``tracejob`` knows them) and in the meaning of negative exit statuses.

Parsers are pure functions (text in, records out) raising only ``ParseError``.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import signal as signal_module
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..efficiency import cpu_efficiency, memory_efficiency
from ..engine.settings import ClusterSettings, SchedulerSettings, key, one_of
from ..errors import AccountingUnavailable, InvalidJobSpec, JobNotFound, ParseError, SchedulerError
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
    command_error,
    one_line,
    scheduler_job_name,
    tag_of,
)
from .directives import (
    DirectiveReading,
    OptionRule,
    after_list,
    interpret,
    output_file,
    passthrough_flags,
    read_directives,
    setter,
)
from .parsing import parser

FLAVOURS = ("pro", "torque")

#: longest job name each flavour accepts (old TORQUE servers cut at 15 characters)
NAME_LENGTH = {"pro": 236, "torque": 15}

# Queue names end up in a #PBS line: anything else could inject script lines.
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")




# ---------------------------------------------------------------------------- exit statuses

#: PBS Pro JOB_EXEC_* codes (src/include/job.h)
PRO_EXEC_CODES: dict[int, str] = {
    -1: "job could not be started (JOB_EXEC_FAIL1)",
    -2: "job failed after its files were staged (JOB_EXEC_FAIL2)",
    -3: "job start failed, it will be retried (JOB_EXEC_RETRY)",
    -4: "execution host aborted the job at initialisation (JOB_EXEC_INITABT)",
    -5: "execution host aborted the job at restart (JOB_EXEC_INITRST)",
    -6: "execution host aborted the job at initialisation, migration (JOB_EXEC_INITRMG)",
    -7: "job restart failed (JOB_EXEC_BADRESRT)",
    -10: "invalid user or group on the execution host (JOB_EXEC_FAILUID)",
    -11: "job was rerun (JOB_EXEC_RERUN)",
    -12: "job was checkpointed and held (JOB_EXEC_CHKP)",
    -13: "job failed: password problem (JOB_EXEC_FAIL_PASSWORD)",
    -14: "job was rerun after a sister node failed (JOB_EXEC_RERUN_SIS_FAIL)",
    -15: "job was requeued (JOB_EXEC_QUERST)",
    -16: "a hook failure requeued the job (JOB_EXEC_FAILHOOK_RERUN)",
    -17: "a hook failure deleted the job (JOB_EXEC_FAILHOOK_DELETE)",
    -18: "a hook requeued the job (JOB_EXEC_HOOK_RERUN)",
    -19: "a hook deleted the job (JOB_EXEC_HOOK_DELETE)",
    -20: "job was rerun after the mother superior failed (JOB_EXEC_RERUN_MS_FAIL)",
    -21: "job failed a security check (JOB_EXEC_FAIL_SECURITY)",
    -22: "a hook error ended the job (JOB_EXEC_HOOKERROR)",
    -23: "job failed: Kerberos credentials (JOB_EXEC_FAIL_KRB5)",
    -24: "killed: too many CPUs used in a burst (JOB_EXEC_KILL_NCPUS_BURST)",
    -25: "killed: too many CPUs used on average (JOB_EXEC_KILL_NCPUS_SUM)",
    -26: "killed: virtual memory limit exceeded (JOB_EXEC_KILL_VMEM)",
    -27: "killed: memory limit exceeded (JOB_EXEC_KILL_MEM)",
    -28: "killed: CPU time limit exceeded (JOB_EXEC_KILL_CPUT)",
    -29: "killed: walltime limit exceeded (JOB_EXEC_KILL_WALLTIME)",
    -30: "job failed to join its sister nodes (JOB_EXEC_JOINJOB)",
}

#: TORQUE's own negative codes (src/include/pbs_job.h); -10.. differ from PBS Pro
TORQUE_EXEC_CODES: dict[int, str] = {
    -1: "job could not be started (JOB_EXEC_FAIL1)",
    -2: "job failed after its files were staged (JOB_EXEC_FAIL2)",
    -3: "job start failed, it will be retried (JOB_EXEC_RETRY)",
    -4: "execution host aborted the job at initialisation (JOB_EXEC_INITABT)",
    -5: "execution host aborted the job at restart (JOB_EXEC_INITRST)",
    -6: "execution host aborted the job at initialisation, migration (JOB_EXEC_INITRMG)",
    -7: "job restart failed (JOB_EXEC_BADRESRT)",
    -8: "the job's command could not be executed (JOB_EXEC_CMDFAIL)",
    -9: "the job's output file could not be created (JOB_EXEC_STDOUTFAIL)",
    -10: "killed: memory limit exceeded (JOB_EXEC_OVERLIMIT_MEM)",
    -11: "killed: walltime limit exceeded (JOB_EXEC_OVERLIMIT_WT)",
    -12: "killed: CPU time limit exceeded (JOB_EXEC_OVERLIMIT_CPUT)",
    -13: "job start failed on cgroup setup, it will be retried (JOB_EXEC_RETRY_CGROUP)",
}


#: negative Exit_status codes that name how the job ended (the rest: ``failed``)
PRO_EXEC_OUTCOMES: dict[int, Outcome] = {
    -24: Outcome.KILLED,
    -25: Outcome.KILLED,
    -26: Outcome.OOM,
    -27: Outcome.OOM,
    -28: Outcome.TIMEOUT,  # CPU time
    -29: Outcome.TIMEOUT,
}
TORQUE_EXEC_OUTCOMES: dict[int, Outcome] = {
    -10: Outcome.OOM,
    -11: Outcome.TIMEOUT,
    -12: Outcome.TIMEOUT,  # CPU time
}


#: exit statuses 129..192: the shell's 128+N for a command that signal N ended
_SHELL_SIGNAL_DEATH = range(129, 128 + 64 + 1)


def exit_status_outcome(flavour: str, status: int) -> Outcome:
    """How a job with this ``Exit_status`` ended (256+N: signal N; negative: the server's code)."""
    if status >= 256 or _SHELL_SIGNAL_DEATH.start <= status < _SHELL_SIGNAL_DEATH.stop:
        return Outcome.KILLED
    if status < 0:
        table = TORQUE_EXEC_OUTCOMES if flavour == "torque" else PRO_EXEC_OUTCOMES
        return table.get(status, Outcome.FAILED)
    return outcome_from_exit(status, None)


def pbs_outcome(flavour: str, job_state: str, substate: str = "", exit_status: str = "") -> Outcome | None:
    """The outcome of a finished PBS job (None while it runs, or when nothing says how it ended)."""
    if job_state.strip() not in ("F", "C", "X"):
        return None
    if substate.strip() == "91":
        return Outcome.CANCELLED  # PBS Pro's JOB_SUBSTATE_TERMINATED: deleted with qdel
    if exit_status.strip().lstrip("-").isdigit():
        return exit_status_outcome(flavour, int(exit_status))
    if substate.strip() == "93":
        return Outcome.FAILED
    return None


def _signal_name(number: int) -> str:
    try:
        return signal_module.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_status_meaning(flavour: str, status: int) -> tuple[int | None, int | None, str]:
    """``(exitcode, signal, reason)`` for a PBS ``Exit_status``.

    0..255 is the script's exit status; 256+N (the MoM's ``WTERMSIG + 0x100``)
    is death by signal N; negatives are the server's own failure codes, whose
    table depends on the flavour. 128+N is the shell's way of saying its command
    died by signal N (PBS Pro's admin guide reads it so, as batchdeck does for
    every other scheduler): batchdeck's job script passes that status on.
    """
    if status >= 256 or _SHELL_SIGNAL_DEATH.start <= status < _SHELL_SIGNAL_DEATH.stop:
        number = status - 256 if status >= 256 else status - 128
        return None, number, f"killed by signal {number} ({_signal_name(number)})"
    if status < 0:
        table = TORQUE_EXEC_CODES if flavour == "torque" else PRO_EXEC_CODES
        return None, None, table.get(status, f"the batch system could not run the job (exit status {status})")
    if status == 0:
        return 0, None, "finished"
    return status, None, f"exit code {status}"


# ---------------------------------------------------------------------------- state

_QUEUED_STATES = {"Q": "queued", "H": "held", "W": "waiting for its start time", "T": "being moved", "M": "moved"}


def pbs_state(
    flavour: str, job_state: str, substate: str = "", exit_status: str = "", comment: str = ""
) -> tuple[RunState, int | None, int | None, str]:
    """Map PBS's state letter (plus substate and Exit_status) to ``(state, exitcode, signal, reason)``."""
    letter = job_state.strip()
    exitcode: int | None = None
    signal: int | None = None
    if letter in ("F", "C", "X"):
        if substate.strip() == "91":
            # PBS Pro's JOB_SUBSTATE_TERMINATED: the job was deleted (qdel).
            if exit_status.strip().lstrip("-").isdigit():
                exitcode, signal, _ = exit_status_meaning(flavour, int(exit_status))
            return RunState.TERMINATED, exitcode, signal, "cancelled"
        if exit_status.strip().lstrip("-").isdigit():
            exitcode, signal, reason = exit_status_meaning(flavour, int(exit_status))
        elif substate.strip() == "93":
            reason = "failed"
        else:
            reason = "finished"
        return RunState.TERMINATING, exitcode, signal, reason
    if letter in _QUEUED_STATES:
        reason = comment if comment and letter == "Q" else _QUEUED_STATES[letter]
        return RunState.SUBMITTED, None, None, reason
    if letter in ("R", "B", "E"):
        return RunState.RUNNING, None, None, "exiting" if letter == "E" else "running"
    if letter in ("S", "U"):
        return RunState.STOPPED, None, None, "suspended"
    return RunState.UNKNOWN, None, None, f"unknown PBS job state {letter!r}"


# ---------------------------------------------------------------------------- text parsing helpers


def _attribute_blocks(text: str, header: re.Pattern[str]) -> list[tuple[str, dict[str, str]]]:
    """Blocks of ``name = value`` lines under headers such as ``Job Id: 123.server``.

    Attribute lines share the indentation of the block's first attribute; deeper
    (TAB or wider) lines continue the previous value. qstat wraps long values in
    the middle of words, so continuations are joined without a separator.
    """
    blocks: list[tuple[str, dict[str, str]]] = []
    attrs: dict[str, str] = {}
    indent: str | None = None
    last: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        match = header.match(line)
        if match:
            attrs = {}
            blocks.append((match.group(1).strip(), attrs))
            indent, last = None, None
            continue
        if not line.strip() or not blocks:
            continue
        lead = line[: len(line) - len(line.lstrip())]
        attr = re.match(r"^(\s+)([A-Za-z_][\w.\-]*) = ?(.*)$", line)
        if attr and (indent is None or attr.group(1) == indent):
            indent = attr.group(1) if indent is None else indent
            last = attr.group(2)
            attrs[last] = attr.group(3).strip()
        elif last is not None and (lead != indent or not attr):
            attrs[last] += line.strip()
        # A line before any attribute that is not one is noise (e.g. a doc artefact).
    return blocks


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _pbs_time(value: str | None) -> float | None:
    """Epoch seconds from ``Thu Aug 10 16:11:09 2023`` (local time) or an epoch number."""
    if not value:
        return None
    value = " ".join(str(value).split())
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        return time.mktime(time.strptime(value, "%a %b %d %H:%M:%S %Y"))
    except (ValueError, OverflowError):
        return None


def _cores(attrs: dict[str, str]) -> int | None:
    # TORQUE's real request is nodes=N:ppn=P (its ncpus is a separate, often default, resource).
    nodes = attrs.get("Resource_List.nodes", "")
    match = re.match(r"^(\d+):ppn=(\d+)", nodes)
    if match:
        return int(match.group(1)) * int(match.group(2))
    cores = _int(attrs.get("Resource_List.ncpus"))
    if cores is not None:
        return cores
    return _int(nodes) if nodes.isdigit() else None


def _job_from_attrs(jobid: str, attrs: dict[str, str], flavour: str) -> SchedulerJob:
    job_state = attrs.get("job_state", "")
    exit_status = attrs.get("Exit_status", attrs.get("exit_status", ""))
    comment = attrs.get("comment", "")
    state, exitcode, signal, reason = pbs_state(flavour, job_state, attrs.get("substate", ""), exit_status, comment)
    outcome = pbs_outcome(flavour, job_state, attrs.get("substate", ""), exit_status)
    array_id = array_task = None
    match = re.match(r"^(\d+)\[(\d*)\](.*)$", jobid)
    if match and match.group(2):
        array_id, array_task = f"{match.group(1)}[]{match.group(3)}", match.group(2)
    elapsed = attrs.get("resources_used.walltime") or attrs.get("total_runtime")
    elapsed_s: float | None = None
    if elapsed:
        seconds = parse_duration(elapsed)
        if seconds is not None:
            elapsed_s = float(seconds)
        elif re.fullmatch(r"\d+(\.\d+)?", elapsed.strip()):
            elapsed_s = float(elapsed)
    return SchedulerJob(
        jobid=jobid,
        state=state,
        raw_state=job_state,
        reason=reason,
        exitcode=settle_exit(outcome, exitcode),
        signal=signal,
        outcome=outcome,
        name=attrs.get("Job_Name", ""),
        user=attrs.get("Job_Owner", "").split("@")[0],
        queue=attrs.get("queue", ""),
        cores=_cores(attrs),
        submit_time=_pbs_time(attrs.get("qtime") or attrs.get("ctime")),
        start_time=_pbs_time(attrs.get("stime") or attrs.get("start_time")),
        end_time=_pbs_time(attrs.get("obittime") or attrs.get("comp_time")),
        elapsed=elapsed_s,
        array_id=array_id,
        array_task=array_task,
        comment=comment,
    )


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """JSON / XML nesting (``Resource_List: {ncpus: 4}``) as qstat -f's ``Resource_List.ncpus``."""
    flat: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and key != "Variable_List":
                flat.update(_flatten(value, name))
            elif not isinstance(value, (dict, list)):
                flat[name] = "" if value is None else str(value)
    return flat


# ---------------------------------------------------------------------------- parsers

_JOB_HEADER = re.compile(r"^Job Id:\s*(\S+)")


@parser("qstat -f output")
def parse_qstat_f(text: str, flavour: str = "pro") -> list[SchedulerJob]:
    """``qstat -f`` / ``qstat -x -f`` text: one record per ``Job Id:`` block."""
    return [_job_from_attrs(jobid, attrs, flavour) for jobid, attrs in _text_attrs(text)]


def _text_attrs(text: str) -> list[tuple[str, dict[str, str]]]:
    """``(job id, attributes)`` of each ``Job Id:`` block of ``qstat -f``."""
    blocks = _attribute_blocks(text, _JOB_HEADER)
    if not blocks and text.strip():
        raise ParseError("qstat -f output", "no 'Job Id:' block found", text)
    for jobid, attrs in blocks:
        if "job_state" not in attrs:
            raise ParseError("qstat -f output", f"job {jobid} has no job_state", text)
    return blocks


def _load_json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(what, f"not JSON ({exc})", text) from None
    if not isinstance(data, dict):
        raise ParseError(what, "expected a JSON object", text)
    return data


@parser("qstat -f -F json output")
def parse_qstat_json(text: str, flavour: str = "pro") -> list[SchedulerJob]:
    """PBS Pro ``qstat [-x] -f -F json``; an empty listing has no ``Jobs`` key at all."""
    return [_job_from_attrs(jobid, attrs, flavour) for jobid, attrs in _json_attrs(text)]


def _json_attrs(text: str) -> list[tuple[str, dict[str, str]]]:
    """``(job id, qstat -f style attributes)`` of each job of ``qstat -f -F json``."""
    data = _load_json(text, "qstat -f -F json output")
    jobs_data = data.get("Jobs") or {}
    if not isinstance(jobs_data, dict):
        raise ParseError("qstat -f -F json output", "'Jobs' is not an object", text)
    found = []
    for jobid, record in jobs_data.items():
        if not isinstance(record, dict) or "job_state" not in record:
            raise ParseError("qstat -f -F json output", f"job {jobid} has no job_state", text)
        attrs = _flatten(record)
        variables = record.get("Variable_List")
        if isinstance(variables, dict):
            # the text form's one comma-separated line, so that one reader serves all three forms
            attrs["Variable_List"] = ",".join(f"{k}={v}" for k, v in variables.items())
        found.append((str(jobid), attrs))
    return found


@parser("qstat -x XML output")
def parse_qstat_xml(text: str, flavour: str = "torque") -> list[SchedulerJob]:
    """TORQUE ``qstat -x`` (XML; times are epoch seconds)."""
    return [_job_from_attrs(jobid, attrs, flavour) for jobid, attrs in _xml_attrs(text)]


def _xml_attrs(text: str) -> list[tuple[str, dict[str, str]]]:
    """``(job id, qstat -f style attributes)`` of each ``<Job>`` of TORQUE's ``qstat -x``."""
    if not text.strip():
        return []
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise ParseError("qstat -x XML output", f"not XML ({exc})", text) from None
    found = []
    for element in root.iter("Job"):
        attrs: dict[str, str] = {}
        for child in element:
            if len(child):
                for grandchild in child:
                    attrs[f"{child.tag}.{grandchild.tag}"] = (grandchild.text or "").strip()
            else:
                attrs[child.tag] = (child.text or "").strip()
        jobid = attrs.get("Job_Id")
        if not jobid or "job_state" not in attrs:
            raise ParseError("qstat -x XML output", "a <Job> lacks Job_Id or job_state", text)
        found.append((jobid, attrs))
    return found


_ROW_ID = re.compile(r"^\s*(\d+(?:\[\d*\])?(?:\.\S*)?)\s")


@parser("qstat output")
def parse_qstat_table(text: str, flavour: str = "pro") -> list[SchedulerJob]:
    """Plain ``qstat`` (id name user time S queue) or the alternate ``-a``/``-u`` layout.

    Comment lines (``Job run at ...``), server header lines and the ``--`` filler
    that ``-s`` prints are skipped. Job ids here may be cut to the column width.
    """
    alternate = bool(re.search(r"^Job ID\s+Username\s+Queue", text, re.M))
    jobs = []
    for line in text.splitlines():
        if not _ROW_ID.match(line):
            continue
        fields = line.split()
        if alternate:
            if len(fields) < 11:
                raise ParseError("qstat output", "short row in the alternate layout", line)
            jobid, user, queue, name, letter = fields[0], fields[1], fields[2], fields[3], fields[9]
        else:
            if len(fields) < 6:
                raise ParseError("qstat output", "short row", line)
            jobid, name, user, letter, queue = fields[0], fields[1], fields[2], fields[4], fields[5]
        state, exitcode, signal, reason = pbs_state(flavour, letter)
        jobs.append(
            SchedulerJob(
                jobid=jobid, state=state, raw_state=letter, reason=reason, exitcode=exitcode,
                signal=signal, name=name, user=user, queue=queue,
            )
        )
    if not jobs and text.strip() and not re.search(r"^(Job id|Job ID|-{4,})", text, re.M | re.I):
        raise ParseError("qstat output", "no job rows and no table header", text)
    return jobs


_TRACEJOB_HEADER = re.compile(r"^Job:\s*(\S+)")


@parser("tracejob output")
def parse_tracejob(text: str, flavour: str = "torque") -> list[SchedulerJob]:
    """``tracejob`` (stdout): the state a job's log lines show, one record per ``Job:`` block.

    An empty output means the logs know nothing of the job (tracejob still exits 0).
    """
    jobs: list[SchedulerJob] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _TRACEJOB_HEADER.match(line)
        if match:
            blocks.append((match.group(1), []))
        elif blocks and line.strip():
            blocks[-1][1].append(line)
    for jobid, lines in blocks:
        info = SchedulerJob(jobid=jobid, state=RunState.UNKNOWN, raw_state="", reason="no log entries")
        for line in lines:
            event = re.match(r"^(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d)\s+\S+\s+(.*)$", line)
            if not event:
                continue
            when = _tracejob_time(event.group(1))
            message = event.group(2)
            if (match := re.search(r"job name = (\S+)", message)) and not info.name:
                info.name = match.group(1).rstrip(",")
            if match := re.search(r"(?:queue = |enqueuing into )([^,\s]+)", message):
                info.queue = match.group(1)
            if message.startswith("Job Queued"):
                info.state, info.raw_state, info.reason = RunState.SUBMITTED, "Q", "queued"
                info.submit_time = when
                if match := re.search(r"owner = ([^@,\s]+)", message):
                    info.user = match.group(1)
            elif message.startswith("Job Run"):
                info.state, info.raw_state, info.reason = RunState.RUNNING, "R", "running"
                info.start_time = when
            elif re.search(r"Job deleted at request of|delete job request received", message, re.I):
                info.state, info.raw_state, info.reason = RunState.TERMINATED, "deleted", "cancelled"
                info.outcome = Outcome.CANCELLED
                info.end_time = when
            elif match := re.search(r"Exit_status=(-?\d+)", message):
                exitcode, signal, reason = exit_status_meaning(flavour, int(match.group(1)))
                info.exitcode, info.signal = exitcode, signal
                if info.state != RunState.TERMINATED:
                    info.state, info.raw_state, info.reason = RunState.TERMINATING, "C", reason
                    info.outcome = exit_status_outcome(flavour, int(match.group(1)))
                info.end_time = when
                if wall := re.search(r"resources_used\.walltime=(\S+)", message):
                    seconds = parse_duration(wall.group(1))
                    info.elapsed = float(seconds) if seconds is not None else None
            elif "state COMPLETE" in message and info.state not in (RunState.TERMINATING, RunState.TERMINATED):
                info.state, info.raw_state, info.reason = RunState.TERMINATING, "C", "finished"
                info.end_time = when
        info.exitcode = settle_exit(info.outcome, info.exitcode)
        jobs.append(info)
    if not jobs and text.strip():
        raise ParseError("tracejob output", "no 'Job:' header found", text)
    return jobs


def _tracejob_time(value: str) -> float | None:
    try:
        return time.mktime(time.strptime(value, "%m/%d/%Y %H:%M:%S"))
    except (ValueError, OverflowError):
        return None


def _queue_from_attrs(name: str, attrs: dict[str, str]) -> QueueInfo:
    counts = dict(re.findall(r"(\w+):(\d+)", attrs.get("state_count", "")))
    enabled = attrs.get("enabled", "True").lower() == "true"
    started = attrs.get("started", "True").lower() == "true"
    state = "up" if enabled and started else ("disabled" if not enabled else "stopped")
    walltime = attrs.get("resources_max.walltime")
    total = _int(attrs.get("resources_available.ncpus"))
    assigned = _int(attrs.get("resources_assigned.ncpus"))
    return QueueInfo(
        name=name,
        state=state,
        max_walltime=parse_duration(walltime) if walltime else None,
        total_cores=total,
        free_cores=total - assigned if total is not None and assigned is not None else None,
        running=int(counts.get("Running", 0)) + int(counts.get("Exiting", 0)) + int(counts.get("Begun", 0)),
        pending=int(counts.get("Queued", 0)) + int(counts.get("Held", 0)) + int(counts.get("Waiting", 0)),
        nodes=_int(attrs.get("resources_available.nodect")),
    )


@parser("qstat -Q -f output")
def parse_qstat_queues(text: str) -> list[QueueInfo]:
    """``qstat -Q -f`` text (TORQUE, older PBS Pro): one record per ``Queue:`` block."""
    blocks = _attribute_blocks(text, re.compile(r"^Queue:\s*(\S+)"))
    if not blocks and text.strip():
        raise ParseError("qstat -Q -f output", "no 'Queue:' block found", text)
    return [_queue_from_attrs(name, attrs) for name, attrs in blocks]


@parser("qstat -Q -f -F json output")
def parse_qstat_queues_json(text: str) -> list[QueueInfo]:
    """PBS Pro ``qstat -Q -f -F json``."""
    data = _load_json(text, "qstat -Q -f -F json output")
    queues = data.get("Queue") or {}
    if not isinstance(queues, dict):
        raise ParseError("qstat -Q -f -F json output", "'Queue' is not an object", text)
    return [_queue_from_attrs(str(name), _flatten(attrs)) for name, attrs in queues.items()]


@parser("qsub output")
def parse_qsub_output(text: str) -> str:
    """The job id qsub prints, server suffix included (``1234.server``)."""
    for line in text.splitlines():
        match = re.match(r"^\s*(\d+(?:\[\d*\])?(?:\.[A-Za-z0-9_.\-]+)?)\s*$", line)
        if match:
            return match.group(1)
    raise ParseError("qsub output", "no job id found", text)


@parser("qstat --version output")
def parse_qstat_version(text: str) -> str:
    """``"pro"`` or ``"torque"`` from ``qstat --version``.

    PBS Pro / OpenPBS print ``pbs_version = 20.0.1``; TORQUE prints ``Version: 6.1.3``.
    """
    if re.search(r"pbs_version\s*=", text) or re.search(r"PBS\s*Pro|OpenPBS", text, re.I):
        return "pro"
    if re.search(r"^\s*Version:\s*\d", text, re.M) or "torque" in text.lower():
        return "torque"
    raise ParseError("qstat --version output", "neither PBS Pro nor TORQUE recognised", text)


@parser("qmgr -c 'list server' output")
def parse_qmgr_server(text: str) -> dict[str, str]:
    """``qmgr -c 'list server'``: the server's attributes, plus ``name``."""
    blocks = _attribute_blocks(text, re.compile(r"^Server\s+(\S+)"))
    if not blocks:
        raise ParseError("qmgr -c 'list server' output", "no 'Server' header found", text)
    name, attrs = blocks[0]
    return {"name": name, **attrs}


@parser("pbsnodes -a output")
def parse_pbsnodes(text: str) -> list[dict[str, str]]:
    """``pbsnodes -a``: one attribute dict per node, its name under ``name``."""
    blocks = _attribute_blocks(text, re.compile(r"^(\S+)\s*$"))
    if not blocks and text.strip():
        raise ParseError("pbsnodes -a output", "no node block found", text)
    return [{"name": name, **attrs} for name, attrs in blocks]


@parser("PBS error message")
def parse_unknown_job_ids(text: str) -> set[str]:
    """Job ids a qstat/qdel error says the server does not know (or no longer lists).

    ``qstat: Unknown Job Id 123.server`` and PBS Pro's ``qstat: 1008.server Job has
    finished, use -x or -H ...`` both mean "not in the queue": a job-unknown result,
    not a failure.
    """
    ids = set(re.findall(r"Unknown Job Id:?\s+(\S+)", text))
    ids |= set(re.findall(r"^\S+:\s+(\S+)\s+Job has finished", text, re.M))
    return ids


def pbs_error(command: str, result: CommandResult) -> SchedulerError:
    """A SchedulerError carrying the scheduler's words (``MSG=`` detail included) and exit status."""
    return command_error(command, result, joined=True)


#: how qstat refuses an option it does not have (``-F json`` before PBS Pro 18)
_REFUSED_OPTION = re.compile(r"usage|illegal|invalid option|unknown option", re.I)


def classify_qdel_result(result: CommandResult) -> CancelVerdict:
    """qdel exits 0 when the job is being deleted; ``Unknown Job Id`` means it is gone already."""
    if result.ok:
        return CancelVerdict(CancelAnswer.DONE)
    text = result.stderr + "\n" + result.stdout
    message = str(pbs_error("qdel", result)).partition(": ")[2]
    if parse_unknown_job_ids(text) or re.search(r"Job has finished", text):
        return CancelVerdict(CancelAnswer.ALREADY_GONE, message)
    return CancelVerdict(CancelAnswer.ERROR, message)


# ---------------------------------------------------------------------------- any of the user's jobs

#: ``history_argv``'s one round trip: qstat -f takes no user filter (-u belongs to the table
#: layouts), so the login user is printed first and the parser keeps that user's jobs.
HISTORY_SCRIPT = 'printf "user=%s\\n" "$(id -un)" && exec "$@"'

#: PBS's memory units (pbs_resources(7)): bytes, or words of 8 bytes, with a binary prefix
_PBS_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)([bw]?)\s*$", re.I)


def pbs_mib(text: str | None) -> float | None:
    """MiB of a PBS size (``1gb``, ``6896kb``, ``4096mb``, ``8589934592``; ``w`` counts 8-byte words)."""
    match = _PBS_SIZE.match(text or "")
    if not match:
        return None
    power = "kmgtp".find(match.group(2).lower()) + 1 if match.group(2) else 0
    word = 8 if match.group(3).lower() == "w" else 1
    return float(match.group(1)) * word * 1024.0**power / 1024.0**2


def exec_host_cores(exec_host: str) -> int | None:
    """The cores a job was given, from ``exec_host``: PBS Pro's ``host/0*2+host/0*2``, TORQUE's
    ``host/0+host/1`` or ``host/0-2,5`` (one core per index)."""
    total = 0
    for chunk in exec_host.split("+"):
        _, slash, rest = chunk.strip().partition("/")
        if not slash:
            continue
        index, star, count = rest.partition("*")
        if star:
            total += int(count) if count.isdecimal() else 1
            continue
        for item in index.split(","):
            low, dash, high = item.partition("-")
            total += int(high) - int(low) + 1 if dash and low.isdecimal() and high.isdecimal() else 1
    return total or None


def _forms(text: str) -> list[tuple[str, dict[str, str]]]:
    """The jobs of any qstat -f form: JSON (PBS Pro 18+), XML (TORQUE's -x) or text."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _json_attrs(text)
    if stripped.startswith("<"):
        return _xml_attrs(text)
    return _text_attrs(text)


@parser("qstat -f output")
def parse_qstat_any(text: str, flavour: str = "pro") -> list[SchedulerJob]:
    """Whichever full form qstat answered in (TORQUE's qstat takes ``-x`` for XML, PBS Pro for history)."""
    return [_job_from_attrs(jobid, attrs, flavour) for jobid, attrs in _forms(text)]


def _seconds_of(value: str | None) -> float | None:
    if not value:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return float(seconds)
    return float(value) if re.fullmatch(r"\d+(\.\d+)?", value.strip()) else None


@parser("PBS history")
def parse_pbs_history(text: str, flavour: str = "pro", user: str = "", since: float = 0.0) -> list[HistoryRecord]:
    """The finished jobs (``F``, TORQUE's ``C``) of ``user`` (all when empty) that ended since ``since``,
    from ``qstat -x -f -F json``, ``qstat -x -f`` or TORQUE's ``qstat -x``, with seff's efficiencies."""
    records = []
    for jobid, attrs in _forms(text):
        job = _job_from_attrs(jobid, attrs, flavour)
        if job.state not in (RunState.TERMINATING, RunState.TERMINATED):
            continue
        if user and job.user != user:
            continue
        if (job.end_time or job.start_time or 0) < since:
            continue
        # seff divides by the cores given (exec_host), which a request may leave implicit (TORQUE)
        cores = _int(attrs.get("resources_used.ncpus")) or exec_host_cores(attrs.get("exec_host", "")) or job.cores
        cpu = _seconds_of(attrs.get("resources_used.cput"))
        requested = pbs_mib(attrs.get("Resource_List.mem"))
        used = pbs_mib(attrs.get("resources_used.mem"))
        records.append(
            HistoryRecord(
                jobid=jobid, name=job.name, user=job.user, queue=job.queue, state=job.raw_state,
                # the verdict the status refresh reaches from the same attributes
                outcome=job.outcome, exitcode=job.exitcode, signal=job.signal,
                submit_time=job.submit_time, start_time=job.start_time, end_time=job.end_time,
                elapsed=job.elapsed, cores=cores, cpu_time=cpu, requested_memory=requested, max_rss=used,
                gpus=_int(attrs.get("Resource_List.ngpus")),
                cpu_efficiency=cpu_efficiency(cpu, job.elapsed, cores),
                memory_efficiency=memory_efficiency(used, requested),
            )  # fmt: skip
        )
    return records


def _variable(attrs: dict[str, str], name: str) -> str:
    match = re.search(rf"(?:^|,)\s*{name}=([^,]*)", attrs.get("Variable_List", ""))
    return match.group(1).strip() if match else ""


def pbs_output_path(path: str, jobid: str, array_task: str | None = None) -> str:
    """The file a job writes, from its ``Output_Path`` / ``Error_Path`` (``[host:]path``).

    qsub already turned a default or a directory into ``NAME.oSEQ`` (the sequence number,
    without the server); what is left to expand is TORQUE's ``$PBS_JOBID`` (kept literal in
    the record) and an array's ``^array_index^`` (PBS Pro) / ``$PBS_ARRAYID`` (TORQUE).
    """
    path = re.sub(r"^[^/:]*:", "", path.strip())
    path = path.replace("${PBS_JOBID}", jobid).replace("$PBS_JOBID", jobid)
    if array_task is not None:
        for token in ("^array_index^", "${PBS_ARRAYID}", "$PBS_ARRAYID", "${PBS_ARRAY_INDEX}", "$PBS_ARRAY_INDEX"):
            path = path.replace(token, array_task)
    return path


#: Hold_Types letters (qhold(1B)): who holds a job
_HOLDS = {"u": "the user", "o": "an operator", "s": "the system", "p": "a bad password", "a": "an array limit"}


def _hold_reason(hold_types: str) -> str:
    letters = hold_types.strip()
    if not re.fullmatch(r"[uospa]+", letters):
        return f"held (Hold_Types {letters})" if letters and letters != "n" else "held"
    return "held by " + " and ".join(dict.fromkeys(_HOLDS[letter] for letter in letters))


@parser("PBS job details")
def parse_pbs_details(text: str, flavour: str = "pro", cluster: str = "") -> JobDetails:
    """``qstat -x -f [-F json] ID`` or TORQUE's ``qstat -x ID``: everything the server says of one job."""
    jobs = _forms(text)
    if not jobs:
        raise ParseError("PBS job details", "no job in qstat's answer", text)
    jobid, attrs = jobs[0]
    job = _job_from_attrs(jobid, attrs, flavour)
    seq = jobid.partition(".")[0]
    workdir = _variable(attrs, "PBS_O_WORKDIR") or attrs.get("init_work_dir", "") or attrs.get("jobdir", "")
    name = job.name or "STDIN"
    stdout = pbs_output_path(attrs.get("Output_Path", ""), jobid, job.array_task)
    stderr = pbs_output_path(attrs.get("Error_Path", ""), jobid, job.array_task)
    if not stdout and workdir:
        stdout = f"{workdir.rstrip('/')}/{name}.o{seq}"
    if not stderr and workdir:
        stderr = f"{workdir.rstrip('/')}/{name}.e{seq}"
    join = attrs.get("Join_Path", "n").strip()
    if join == "oe":
        stderr = stdout
    elif join == "eo":
        stdout = stderr
    reason = job.reason
    if job.raw_state == "H":
        reason = _hold_reason(attrs.get("Hold_Types", "")) or reason
    limit = attrs.get("Resource_List.walltime")
    return JobDetails(
        cluster=cluster, jobid=jobid, name=job.name, user=job.user, state=job.state, raw_state=job.raw_state,
        reason=reason, raw_reason=job.comment, queue=job.queue, account=attrs.get("Account_Name", ""),
        qos=attrs.get("project", ""), nodes=_int(attrs.get("Resource_List.nodect")),
        node_list=attrs.get("exec_host", ""), cores=job.cores, memory=pbs_mib(attrs.get("Resource_List.mem")),
        gpus=_int(attrs.get("Resource_List.ngpus")), submit_time=job.submit_time, start_time=job.start_time,
        end_time=job.end_time, elapsed=job.elapsed, time_limit=parse_duration(limit) if limit else None,
        workdir=workdir, command=attrs.get("Submit_arguments") or attrs.get("submit_args", ""),
        stdout=stdout, stderr=stderr, dependency=attrs.get("depend", ""),
        array_id=job.array_id, array_task=job.array_task, exitcode=job.exitcode, signal=job.signal,
        outcome=job.outcome, batchdeck_id=tag_of(job.name),
    )  # fmt: skip


def pbs_control_argv(action: str, jobid: str, value: str | None = None) -> list[str]:
    """``cancel`` (qdel), ``signal`` (qsig; value TERM, USR1 …), ``hold`` (qhold: a user hold),
    ``release`` (qrls), ``time_limit`` (qalter -l walltime=, value in seconds)."""
    if action == "cancel":
        return ["qdel", jobid]
    if action == "signal":
        return ["qsig", "-s", f"SIG{value}", jobid]
    if action == "hold":
        return ["qhold", jobid]
    if action == "release":
        return ["qrls", jobid]
    if action == "time_limit":
        seconds = int(value) if value is not None and value.isdecimal() else 0
        if seconds < 1:
            raise InvalidJobSpec(f"a time limit must be a positive number of seconds, got {value!r}")
        return ["qalter", "-l", f"walltime={pbs_walltime(seconds)}", jobid]
    raise ValueError(f"unknown action {action!r}")


# ---------------------------------------------------------------------------- a script's #PBS lines


def _pbs_resources(value: str | None, reading: DirectiveReading) -> None:
    """-l walltime=..,select=1:ncpus=N:mem=M, nodes=1:ppn=N, ncpus=N, mem=M; the rest is passed through."""
    rest = []
    for item in re.split(r",(?=[A-Za-z_]+=)", value or ""):
        key, _, amount = item.partition("=")
        chunk = dict(part.partition("=")[::2] for part in amount.split(":")[1:]) if key in ("select", "nodes") else {}
        if key == "walltime":
            seconds = parse_duration(amount)
            if not seconds:
                raise ValueError(f"walltime={amount!r} is not a duration")
            reading.values["walltime"] = seconds
        elif key == "select" and amount.split(":")[0] == "1" and "ncpus" in chunk:
            reading.values["cores"] = int(chunk["ncpus"])
            if "mem" in chunk:
                reading.values["memory_total"] = parse_memory(chunk["mem"].rstrip("bB"))
        elif key == "nodes" and amount.split(":")[0] == "1" and "ppn" in chunk:
            reading.values["cores"] = int(chunk["ppn"])
        elif key == "ncpus":
            reading.values["cores"] = int(amount)
        elif key == "mem":
            reading.values["memory_total"] = parse_memory(amount.rstrip("bB"))
        elif item:
            rest.append(item)
    if rest:
        reading.passthrough.append(f"#PBS -l {shlex.quote(','.join(rest))}")
        reading.notes.append(f"-l {','.join(rest)} passed through to the scheduler as it is")


def _pbs_join(value: str | None, reading: DirectiveReading) -> None:
    if value in ("oe", "eo"):
        reading.values["merge"] = True


QSUB_PBS_RULES: tuple[OptionRule, ...] = (
    OptionRule(("-N",), True, setter("name")),
    OptionRule(("-q",), True, setter("queue")),
    OptionRule(("-l",), True, _pbs_resources),
    OptionRule(("-o",), True, output_file("stdout")),
    OptionRule(("-e",), True, output_file("stderr")),
    OptionRule(("-j",), True, _pbs_join),
    OptionRule(("-J", "-t"), True, setter("array", normalize_task_array)),
    *passthrough_flags("-A", "-W", "-m", "-M", "-P", "-a", "-r", "-v"),
)


def pbs_dependency_directives(conditions: list[tuple[str, str]]) -> list[str]:
    spec = after_list(conditions)
    return [f"#PBS -W depend={spec}"] if spec else []


def read_pbs_directives(script: str) -> DirectiveReading:
    reading = interpret("#PBS", read_directives(script, "#PBS"), QSUB_PBS_RULES)
    total = reading.values.pop("memory_total", None)
    if total is not None:
        reading.values["memory_per_core"] = max(1, -(-total // int(reading.values.get("cores", 1))))
    return reading


# ---------------------------------------------------------------------------- the backend


def same_job(a: str, b: str) -> bool:
    """Ids naming one job, one with a longer server suffix (``123.srv`` vs ``123.srv.example.org``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def pbs_walltime(seconds: int) -> str:
    """``HH:MM:SS`` with hours beyond 24, as PBS wants it."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


@dataclass(frozen=True)
class PbsSettings(SchedulerSettings):
    """The keys only a PBS cluster has."""

    flavour: str | None = key(
        None,
        one_of(*FLAVOURS),
        "pro (PBS Pro / OpenPBS) or torque",
        shown="found out with qstat --version",
        example="pro",
    )


class PbsBatchSystem(BatchSystem):
    """PBS Pro / OpenPBS and TORQUE (setting ``flavour``: ``"pro"``, ``"torque"`` or detected)."""

    type_name = "pbs"
    honoured_options = frozenset({"account", "extra_args", "array"})
    spools_output = True
    submit_regexp = r"^\s*(\d+(?:\[\d*\])?(?:\.[A-Za-z0-9_.\-]+)?)\s*$"
    directive_prefix = "#PBS"
    read_script_directives = staticmethod(read_pbs_directives)
    dependency_directives = staticmethod(pbs_dependency_directives)
    joins_error_lines = True

    settings_class = PbsSettings

    def __init__(
        self, settings: ClusterSettings | str, transport: Transport | str | None = None, **keys: Any
    ) -> None:
        super().__init__(settings, transport, **keys)
        own = self.settings.scheduler
        assert isinstance(own, PbsSettings)
        self.flavour: str | None = own.flavour
        # PBS Pro before 18 has no -F json; found out once, then remembered.
        self._json_ok = True

    queue_name_pattern = _QUEUE_RE

    async def prepare(self) -> None:
        """The flavour, when not configured, and whether ``-F json`` works: ONE ``qstat --version``.

        A configured flavour is trusted and JSON support is then found out by trying
        it once (a refusal is remembered).
        """
        if self.flavour is not None:
            return
        result = await self._run(["qstat", "--version"], check=False)
        text = result.stdout + "\n" + result.stderr
        try:
            self.flavour = parse_qstat_version(text)
        except ParseError:
            if not result.ok:
                # e.g. "qstat: command not found": the scheduler's own words say more.
                raise pbs_error("qstat", result) from None
            raise
        version = re.search(r"pbs_version\s*=\s*(\d+)", text)
        if self.flavour == "torque" or (version is not None and int(version.group(1)) < 18):
            self._json_ok = False  # -F json came with PBS Pro 18

    async def get_flavour(self) -> str:
        """``"pro"`` or ``"torque"``: configured, or detected when connecting."""
        await self.connect()
        return self.flavour or "pro"

    @property
    def name_length(self) -> int:
        return NAME_LENGTH.get(self.flavour or "torque", 15)

    def check_spec(self, spec: JobSpec) -> None:
        """Nothing beyond the queue-name rule (``queue_name_pattern``)."""

    def task_variable(self) -> str:
        return "PBS_ARRAYID" if self.flavour == "torque" else "PBS_ARRAY_INDEX"

    def check_array(self, array: TaskArray) -> None:
        # TORQUE's -t takes lists (steps are written out); PBS Pro's -J one range of 2 or more
        if (self.flavour or "pro") == "torque":
            return
        run = array.single_run()
        if run is None:
            raise ValueError(f"PBS Pro takes one range FIRST-LAST[:STEP] (qsub -J), not a list like {array.ranges()}")
        if run[0] >= run[1]:
            raise ValueError("PBS Pro's -J needs at least two tasks (FIRST below LAST)")

    # ------------------------------------------------------------------ script

    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        spec = job.spec
        flavour = self.flavour or "pro"
        lines = [f"#PBS -N {scheduler_job_name(job, self.name_length)}"]
        if spec.queue:
            lines.append(f"#PBS -q {spec.queue}")
        mem = f"{spec.memory_per_core * spec.cores}mb" if spec.memory_per_core else None
        if flavour == "torque":
            lines.append(f"#PBS -l nodes=1:ppn={spec.cores}" + (f",mem={mem}" if mem else ""))
        else:
            lines.append(f"#PBS -l select=1:ncpus={spec.cores}" + (f":mem={mem}" if mem else ""))
        if spec.walltime:
            lines.append(f"#PBS -l walltime={pbs_walltime(spec.walltime)}")
        if spec.account:
            lines.append(f"#PBS -A {spec.account}")
        stdout, stderr = self.output_paths(job, sandbox)
        if spec.array:
            array = parse_task_array(spec.array)
            throttle = f"%{array.throttle}" if array.throttle is not None else ""
            if flavour == "torque":
                # TORQUE appends -TASK to each task's -o/-e file itself
                lines.append(f"#PBS -t {array.listed()}{throttle}")
            else:
                first, last, step = array.single_run() or array.runs[0]
                lines.append(f"#PBS -J {first}-{last}" + (f":{step}" if step != 1 else "") + throttle)
                control = posixpath.join(sandbox, CONTROL_DIR)
                stdout, stderr = f"{control}/task-^array_index^.out", f"{control}/task-^array_index^.err"
        lines.append(f"#PBS -o {stdout}")
        if posixpath.normpath(stdout) == posixpath.normpath(stderr):
            lines.append("#PBS -j oe")
        else:
            lines.append(f"#PBS -e {stderr}")
        return lines

    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        return ["qsub", *job.spec.extra_args, script_path], None

    def parse_submit_output(self, job: JobRecord, result: CommandResult) -> SubmitAnswer:
        if not result.ok:
            raise pbs_error("qsub", result)
        return SubmitAnswer(parse_qsub_output(result.stdout))

    # ------------------------------------------------------------------ state

    def _use_json(self) -> bool:
        return (self.flavour or "pro") == "pro" and self._json_ok

    def status_argv(self) -> list[str]:
        if self._use_json():
            return ["qstat", "-x", "-f", "-F", "json"]
        return ["qstat", "-x", "-f"] if (self.flavour or "pro") == "pro" else ["qstat", "-f"]

    def parse_status_output(self, result: CommandResult) -> list[SchedulerJob] | None:
        flavour = self.flavour or "pro"
        if "json" in result.argv:
            if result.ok:
                return parse_qstat_json(result.stdout, flavour)
            if _REFUSED_OPTION.search(result.stderr):
                self._json_ok = False  # PBS Pro before 18: asked again in text
                return None
            raise pbs_error("qstat", result)
        if not result.ok and not parse_unknown_job_ids(result.stderr):
            raise pbs_error("qstat", result)
        return parse_qstat_any(result.stdout, flavour)

    def task_jobid(self, jobid: str, task: int) -> str:
        # PBS Pro's subjob 123[4].server of array 123[].server
        base, dot, server = jobid.partition(".")
        return f"{base.removesuffix('[]')}[{task}]{dot}{server}"

    def jobid_key(self, jobid: str) -> str:
        """qsub's answer and qstat's listing may differ in how much server suffix they show."""
        return jobid.partition(".")[0]

    def accounting_argv(self, jobids: Sequence[str], attempt: int) -> list[str] | None:
        """tracejob for the jobs that left qstat: one shell running it once per id (ids as arguments)."""
        if attempt > 0:
            return None
        return ["sh", "-c", 'for j do tracejob "$j"; done', "batchdeck-tracejob", *jobids]

    def parse_accounting_output(
        self, jobids: Sequence[str], result: CommandResult, attempt: int
    ) -> dict[str, SchedulerJob]:
        # tracejob complains on stderr about unreadable log directories and still exits 0.
        return {
            info.jobid: info
            for info in parse_tracejob(result.stdout, self.flavour or "torque")
            if info.state != RunState.UNKNOWN
        }

    # ------------------------------------------------------------------ cancel

    def cancel_argv(self, jobid: str) -> list[str]:
        return ["qdel", jobid]

    def classify_cancel_output(self, result: CommandResult) -> CancelVerdict:
        return classify_qdel_result(result)

    # ------------------------------------------------------------------ any of the user's jobs

    def _qstat_full(self) -> list[str]:
        """qstat's most exact full form here: JSON on PBS Pro 18+, text on older Pro, XML on TORQUE
        (its -x is XML: no wrapped lines to glue back)."""
        if self._use_json():
            return ["qstat", "-x", "-f", "-F", "json"]
        return ["qstat", "-x", "-f"] if (self.flavour or "pro") == "pro" else ["qstat", "-x"]

    def history_argv(self, since: float) -> list[str]:
        """PBS Pro's job history (``qstat -x``, kept for job_history_duration); TORQUE keeps a finished
        job only for keep_completed seconds, so its history is what qstat still lists."""
        return ["sh", "-c", HISTORY_SCRIPT, "batchdeck-history", *self._qstat_full()]

    def parse_history_output(self, result: CommandResult, since: float) -> list[HistoryRecord]:
        first, _, listing = result.stdout.partition("\n")
        if not result.ok or not first.startswith("user="):
            if "json" in result.argv and _REFUSED_OPTION.search(result.stderr):
                self._json_ok = False  # PBS Pro before 18: the next request asks in text
            error = pbs_error("qstat", result)
            raise AccountingUnavailable(f"cluster {self.name!r}: job history cannot be read ({error})")
        return parse_pbs_history(listing, self.flavour or "pro", first[len("user=") :].strip(), since)

    def details_argv(self, jobid: str) -> list[str]:
        return [*self._qstat_full(), jobid]

    def parse_details_output(self, jobid: str, result: CommandResult) -> JobDetails:
        if not result.ok:
            text = result.stderr + "\n" + result.stdout
            if parse_unknown_job_ids(text):
                raise JobNotFound(f"cluster {self.name!r} knows no job {jobid!r} ({one_line('qstat', text)})")
            if "json" in result.argv and _REFUSED_OPTION.search(result.stderr):
                self._json_ok = False
            raise pbs_error("qstat", result)
        return parse_pbs_details(result.stdout, self.flavour or "pro", self.name)

    def control_argv(self, action: str, jobid: str, value: str | None) -> list[str]:
        return pbs_control_argv(action, jobid, value)

    # ------------------------------------------------------------------ queues

    def queues_argv(self) -> list[list[str]]:
        if self._use_json():
            return [["qstat", "-Q", "-f", "-F", "json"]]
        return [["qstat", "-Q", "-f"]]

    def parse_queues_output(self, results: list[CommandResult]) -> list[QueueInfo] | None:
        (result,) = results
        if "json" in result.argv:
            if result.ok:
                return parse_qstat_queues_json(result.stdout)
            if _REFUSED_OPTION.search(result.stderr):
                self._json_ok = False
                return None
            raise pbs_error("qstat", result)
        if not result.ok:
            raise pbs_error("qstat", result)
        return parse_qstat_queues(result.stdout)
