"""IBM Spectrum LSF (Platform LSF).

``bsub`` reads the job script on its standard input (``#BSUB`` lines are honoured
there); one ``bjobs -a -o '...' -json`` lists every job of the user, finished ones
included while mbatchd keeps them (CLEAN_PERIOD); ``bacct -l`` (then ``bhist -l``)
answer for jobs already cleaned out.

Parsers are pure functions (text in, records out) raising only ``ParseError``.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import shlex
import signal as signal_module
import time
from collections.abc import Sequence
from typing import Any

from ..efficiency import cpu_efficiency, memory_efficiency
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
from ..transports.base import CommandResult
from ..units import parse_duration
from .base import (
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
    interpret,
    output_file,
    passthrough_flags,
    positive_int,
    read_directives,
    setter,
)
from .parsing import parser

_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")

#: the bjobs -o fields batchdeck asks for, in order (also the -noheader column order)
BJOBS_FIELDS = (
    "jobid",
    "stat",
    "job_name",
    "user",
    "queue",
    "exit_code",
    "exit_reason",
    "slots",
    "submit_time",
    "start_time",
    "finish_time",
)




# ---------------------------------------------------------------------------- states and exits

_STATES: dict[str, tuple[RunState, str]] = {
    "PEND": (RunState.SUBMITTED, "pending"),
    "PROV": (RunState.SUBMITTED, "waiting for a power-saved host to wake up"),
    "WAIT": (RunState.SUBMITTED, "chunk job waiting"),
    "PSUSP": (RunState.SUBMITTED, "held while pending"),
    "RUN": (RunState.RUNNING, "running"),
    "USUSP": (RunState.STOPPED, "suspended by the owner or an administrator"),
    "SSUSP": (RunState.STOPPED, "suspended by LSF (load or run window)"),
    "DONE": (RunState.TERMINATING, "finished"),
    "PDONE": (RunState.TERMINATING, "finished"),
    "EXIT": (RunState.TERMINATING, "exited"),
    "PERR": (RunState.TERMINATING, "exited"),
    "UNKWN": (RunState.UNKNOWN, "mbatchd lost contact with the execution host"),
    "ZOMBI": (RunState.UNKNOWN, "killed while its host was unreachable (zombie)"),
}

#: TERM_* reasons (IBM "Termination reasons displayed by bacct, bhist, and bjobs")
TERM_REASONS: dict[str, str] = {
    "TERM_ADMIN": "killed by an administrator",
    "TERM_BUCKET_KILL": "killed by bkill -b",
    "TERM_CHKPNT": "killed after checkpointing",
    "TERM_CPULIMIT": "killed: CPU time limit reached",
    "TERM_CWD_NOTEXIST": "the working directory does not exist",
    "TERM_DEADLINE": "killed: run window deadline reached",
    "TERM_EXTERNAL_SIGNAL": "killed by a signal from outside LSF",
    "TERM_FORCE_ADMIN": "killed by an administrator (bkill -r)",
    "TERM_FORCE_OWNER": "cancelled",
    "TERM_LOAD": "killed: load threshold exceeded",
    "TERM_MEMLIMIT": "killed: memory limit reached",
    "TERM_OTHER": "killed for another reason",
    "TERM_OWNER": "cancelled",
    "TERM_PREEMPT": "killed after preemption",
    "TERM_PROCESSLIMIT": "killed: process limit reached",
    "TERM_REQUEUE_ADMIN": "killed and requeued by an administrator",
    "TERM_REQUEUE_OWNER": "killed and requeued by the owner",
    "TERM_RUNLIMIT": "killed: run time limit reached",
    "TERM_SWAP": "killed: swap limit reached",
    "TERM_THREADLIMIT": "killed: thread limit reached",
    "TERM_UNKNOWN": "killed for an unknown reason",
    "TERM_WINDOW": "killed: run window closed",
    "TERM_ZOMBIE": "killed while a zombie",
    "TERM_PRE_EXEC_FAIL": "the pre-execution command failed",
}

_CANCELLED = {"TERM_OWNER", "TERM_FORCE_OWNER"}

#: TERM_* reasons that name how an EXIT job ended; with none (or another), its exit
#: code decides: a signal is ``killed``, anything else ``failed``
TERM_OUTCOMES: dict[str, Outcome] = {
    "TERM_RUNLIMIT": Outcome.TIMEOUT,
    "TERM_CPULIMIT": Outcome.TIMEOUT,
    "TERM_MEMLIMIT": Outcome.OOM,
    "TERM_SWAP": Outcome.OOM,
    "TERM_OWNER": Outcome.CANCELLED,
    "TERM_FORCE_OWNER": Outcome.CANCELLED,
    "TERM_ADMIN": Outcome.CANCELLED,
    "TERM_FORCE_ADMIN": Outcome.CANCELLED,
    "TERM_BUCKET_KILL": Outcome.CANCELLED,
    "TERM_DEADLINE": Outcome.DEADLINE,
    "TERM_PREEMPT": Outcome.PREEMPTED,
    "TERM_LOAD": Outcome.KILLED,
    "TERM_WINDOW": Outcome.KILLED,
    "TERM_EXTERNAL_SIGNAL": Outcome.KILLED,
    "TERM_PROCESSLIMIT": Outcome.KILLED,
    "TERM_THREADLIMIT": Outcome.KILLED,
    "TERM_ZOMBIE": Outcome.KILLED,
    "TERM_CWD_NOTEXIST": Outcome.FAILED,
    "TERM_PRE_EXEC_FAIL": Outcome.FAILED,
}


def lsf_outcome(stat: str, exitcode: int | None, signal: int | None, exit_reason: str = "") -> Outcome | None:
    """How a finished LSF job ended (None while it is not finished)."""
    stat = stat.strip().upper()
    if stat in ("DONE", "PDONE"):
        return Outcome.OK
    if stat not in ("EXIT", "PERR"):
        return None
    term = re.search(r"\b(TERM_[A-Z_]+)", exit_reason or "")
    if term and term.group(1) in TERM_OUTCOMES:
        return TERM_OUTCOMES[term.group(1)]
    if exitcode is None and not signal:
        return Outcome.FAILED  # EXIT says it did not succeed, even without a code
    return outcome_from_exit(exitcode, signal)


def _signal_name(number: int) -> str:
    try:
        return signal_module.Signals(number).name
    except ValueError:
        return f"signal {number}"


def lsf_state(stat: str, exit_code: str = "", exit_reason: str = "") -> tuple[RunState, int | None, int | None, str]:
    """``(state, exitcode, signal, reason)`` from bjobs' STAT, EXIT_CODE and EXIT_REASON."""
    stat = stat.strip().upper()
    state, reason = _STATES.get(stat, (RunState.UNKNOWN, f"unknown LSF job state {stat!r}"))
    exitcode: int | None = None
    signal: int | None = None
    term = re.search(r"\b(TERM_[A-Z_]+)", exit_reason or "")
    code_text = (exit_code or "").strip()
    if stat in ("DONE", "PDONE"):
        exitcode = 0
    elif stat in ("EXIT", "PERR"):
        if re.fullmatch(r"-?\d+", code_text):
            code = int(code_text)
            if code > 128:
                # The shell's convention: 128+N is death by signal N.
                signal = code - 128
                reason = f"killed by signal {signal} ({_signal_name(signal)})"
            else:
                exitcode = code
                reason = f"exit code {code}"
        if term:
            reason = TERM_REASONS.get(term.group(1), term.group(1))
            if term.group(1) in _CANCELLED:
                state = RunState.TERMINATED
    return state, exitcode, signal, reason


def _blank(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text == "-" else text


_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def parse_lsf_time(text: str, now: float) -> float | None:
    """Epoch seconds from bjobs' ``Dec 28 19:56`` (``L`` suffix = estimated; no year shown).

    The year is the one that puts the time not after ``now`` (plus a day of clock
    skew): LSF only shows times of jobs it still remembers, so never far back.
    """
    match = re.fullmatch(r"\s*([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d\d)(?::(\d\d))?(?:\s+[A-Z])?\s*", text or "")
    if not match or match.group(1) not in _MONTHS:
        return None
    month, day = _MONTHS[match.group(1)], int(match.group(2))
    hour, minute, second = int(match.group(3)), int(match.group(4)), int(match.group(5) or 0)
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            when = time.mktime((candidate, month, day, hour, minute, second, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if when <= now + 86400:
            return when
    return None


def _record(fields: dict[str, Any], now: float | None = None) -> SchedulerJob:
    get = {k.lower(): _blank(v) for k, v in fields.items()}
    jobid = get.get("jobid") or get.get("id") or ""
    if not re.fullmatch(r"\d+(\[\d+\])?", jobid):
        raise ParseError("bjobs output", f"job id {jobid!r} is not a number", str(fields))
    stat = get.get("stat", "")
    if not stat:
        raise ParseError("bjobs output", f"job {jobid} has no STAT", str(fields))
    state, exitcode, signal, reason = lsf_state(stat, get.get("exit_code", ""), get.get("exit_reason", ""))
    outcome = lsf_outcome(stat, exitcode, signal, get.get("exit_reason", ""))
    array_id = array_task = None
    if match := re.fullmatch(r"(\d+)\[(\d+)\]", jobid):
        array_id, array_task = match.group(1), match.group(2)
    slots = get.get("slots") or get.get("nalloc_slot") or ""
    return SchedulerJob(
        jobid=jobid,
        state=state,
        raw_state=stat,
        reason=reason,
        exitcode=settle_exit(outcome, exitcode),
        signal=signal,
        outcome=outcome,
        name=get.get("job_name", "") or get.get("name", ""),
        user=get.get("user", ""),
        queue=get.get("queue", ""),
        cores=int(slots) if slots.isdigit() else None,
        array_id=array_id,
        array_task=array_task,
        comment=get.get("pend_reason", "") or get.get("exit_reason", ""),
        submit_time=parse_lsf_time(get.get("submit_time", ""), now) if now is not None else None,
        start_time=parse_lsf_time(get.get("start_time", ""), now) if now is not None else None,
        end_time=parse_lsf_time(get.get("finish_time", ""), now) if now is not None and state not in (
            RunState.SUBMITTED, RunState.RUNNING, RunState.STOPPED) else None,
    )


# ---------------------------------------------------------------------------- parsers

_NOT_FOUND = re.compile(r"^Job <([^>]+)> is not found", re.M)
_NO_JOBS = re.compile(r"^No (?:unfinished )?job found", re.M)
_PLEASE_WAIT = re.compile(r"^LSF is processing your request\. Please wait \.\.\.\s*$")


@parser("bjobs -json output")
def parse_bjobs_json(text: str, now: float | None = None) -> list[SchedulerJob]:
    """``bjobs -o '...' -json``: ``{"COMMAND": "bjobs", "JOBS": n, "RECORDS": [...]}``.

    A record for an id bjobs does not know carries only ``ERROR`` and is left out.
    Times (shown without a year) are read only when ``now`` is given.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError("bjobs -json output", f"not JSON ({exc})", text) from None
    if not isinstance(data, dict) or not isinstance(data.get("RECORDS", []), list):
        raise ParseError("bjobs -json output", "expected an object with a RECORDS list", text)
    jobs = []
    for record in data.get("RECORDS", []):
        if not isinstance(record, dict):
            raise ParseError("bjobs -json output", "a record is not an object", text)
        if "ERROR" in record and "STAT" not in record:
            continue
        jobs.append(_record(record, now))
    return jobs


@parser("bjobs -noheader -o output")
def parse_bjobs_delimited(
    text: str, fields: Sequence[str] = BJOBS_FIELDS, delimiter: str = "|", now: float | None = None
) -> list[SchedulerJob]:
    """``bjobs -noheader -o '<fields> delimiter="|"'``; ``Job <N> is not found`` lines are skipped."""
    jobs = []
    for line in text.splitlines():
        if not line.strip() or _NOT_FOUND.match(line.strip()) or _PLEASE_WAIT.match(line) or _NO_JOBS.match(line):
            continue
        values = line.strip().split(delimiter)
        if len(values) < len(fields):
            raise ParseError("bjobs -noheader -o output", f"expected {len(fields)} fields", line)
        # The last field may itself contain the delimiter (a job name): keep it whole.
        values = values[: len(fields) - 1] + [delimiter.join(values[len(fields) - 1 :])]
        jobs.append(_record(dict(zip((f.split(":")[0] for f in fields), values, strict=True)), now))
    return jobs


@parser("bjobs output")
def parse_bjobs_table(text: str) -> list[SchedulerJob]:
    """Plain ``bjobs`` / ``bjobs -w`` / ``bjobs -a -w -W`` tables.

    JOBID, USER, STAT and QUEUE are single words; the job name may contain
    blanks, so it is what lies between the hosts and the submit time. A pending
    job has no EXEC_HOST: seen as blanks under that header column.
    """
    lines = [line for line in text.splitlines() if not _PLEASE_WAIT.match(line)]
    header_index = next((i for i, line in enumerate(lines) if line.split()[:3] == ["JOBID", "USER", "STAT"]), None)
    if header_index is None:
        if any(line.strip() for line in lines) and not _NO_JOBS.search(text):
            raise ParseError("bjobs output", "no JOBID USER STAT header", text)
        return []
    header = lines[header_index]
    exec_col = header.find("EXEC_HOST")
    name_col = header.find("JOB_NAME")
    time_re = re.compile(r"\s(\d\d/\d\d-\d\d:\d\d(?::\d\d)?|[A-Z][a-z]{2}\s+\d+\s+\d\d:\d\d)(?:\s|$)")
    jobs = []
    for line in lines[header_index + 1 :]:
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 5 or not re.fullmatch(r"\d+(\[\d+\])?", fields[0]):
            raise ParseError("bjobs output", "row does not start with a job id and state", line)
        jobid, user, stat, queue = fields[:4]
        match = time_re.search(line)
        rest = line[: match.start()] if match else line
        middle = rest.split(None, 4)[4] if len(rest.split(None, 4)) > 4 else ""
        parts = middle.split(None, 2)
        no_exec_host = (
            0 <= exec_col < name_col <= len(line) and not line[exec_col:name_col].strip() and stat == "PEND"
        )
        if no_exec_host:
            name = middle.split(None, 1)[1] if len(middle.split(None, 1)) > 1 else ""
        else:
            name = parts[2] if len(parts) > 2 else ""
        state, exitcode, signal, reason = lsf_state(stat)
        jobs.append(
            SchedulerJob(
                jobid=jobid, state=state, raw_state=stat, reason=reason, exitcode=exitcode, signal=signal,
                outcome=lsf_outcome(stat, exitcode, signal), name=name.strip(), user=user, queue=queue,
            )
        )
    return jobs


@parser("bjobs -sum output")
def parse_bjobs_sum(text: str) -> dict[str, int]:
    """``bjobs -sum``: counts per state column."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if len(rows) < 2 or len(rows[0]) != len(rows[1]) or not all(v.isdigit() for v in rows[1]):
        raise ParseError("bjobs -sum output", "expected a header row and a row of counts", text)
    return {name: int(value) for name, value in zip(rows[0], rows[1], strict=True)}


def _unwrap_long(text: str) -> list[str]:
    """Join the continuation lines of ``bjobs -l`` / ``bhist -l`` / ``bacct -l``.

    LSF wraps at ~80 columns and indents the rest by 21 columns (26 when the
    timestamps carry the year), cutting words and even ``<...>`` tokens, so the
    indent is removed exactly and the pieces are glued back without a separator.
    """
    width = 26 if re.search(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}:", text, re.M) else 21
    lines: list[str] = []
    for line in text.splitlines():
        if lines and line.startswith(" " * width) and lines[-1].strip():
            lines[-1] += line[width:]
        else:
            lines.append(line.rstrip("\n"))
    return lines


_EVENT = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d(?: \d{4})?: (.*)$")
_PAIR = re.compile(r"([A-Z][A-Za-z ]*?)\s*(?:\([a-z]+\)\s*)?<((?:[^<>]|<[^<>]*>)*)>")


@parser("LSF long output")
def parse_lsf_long(text: str) -> list[SchedulerJob]:
    """``bjobs -l``, ``bhist -l`` and ``bacct -l``: one record per ``Job <N>, ...`` block.

    bjobs and bacct state ``Status <...>``; bhist does not, so the events
    (``Done successfully``, ``Exited with exit code N``, ``Completed <exit>;
    TERM_OWNER: ...``) decide. Text before the first block (bacct's header, a
    bhist summary table) is ignored.
    """
    jobs: list[SchedulerJob] = []
    current: dict[str, str] | None = None
    events: list[str] = []

    def finish() -> None:
        if current is not None:
            jobs.append(_long_record(current, events, text))

    for line in _unwrap_long(text):
        if re.match(r"^Job <[^>]+>,", line):
            finish()
            current = {key.strip(): value for key, value in _PAIR.findall(line)}
            events = []
        elif current is not None and (event := _EVENT.match(line)):
            events.append(event.group(1))
        elif current is not None and line.startswith("-----"):
            finish()
            current = None
    finish()
    if not jobs and text.strip() and not _NO_JOBS.search(text):
        raise ParseError("LSF long output", "no 'Job <N>, ...' block found", text)
    return jobs


def _long_record(pairs: dict[str, str], events: list[str], text: str) -> SchedulerJob:
    jobid = pairs.get("Job", "")
    exit_code = ""
    exit_reason = ""
    # Events are in time order: the last one that implies a state wins.
    seen = ""
    for event in events:
        if event.startswith("Submitted from host"):
            seen = "PEND"
        if re.search(r"Starting \(Pid|Started on|Dispatched to", event):
            seen = "RUN"
        if event.startswith("Done successfully"):
            seen = "DONE"
        if match := re.search(r"Exited with exit code (\d+)", event):
            exit_code, seen = match.group(1), "EXIT"
        if match := re.search(r"Exited by (?:LSF )?signal (\d+)|signal termination: (\d+)", event):
            exit_code, seen = str(128 + int(match.group(1) or match.group(2))), "EXIT"
        if match := re.search(r"Completed <(done|exit)>", event):
            seen = match.group(1).upper()
        if match := re.search(r"(TERM_[A-Z_]+)", event):
            exit_reason = match.group(1)
    stat = pairs.get("Status", "") or seen
    if not re.fullmatch(r"\d+(\[\d+\])?", jobid) or not stat:
        raise ParseError("LSF long output", f"job block {jobid!r} has no id or no state", text)
    record = _record(
        {"jobid": jobid, "stat": stat, "exit_code": exit_code, "exit_reason": exit_reason,
         "job_name": pairs.get("Job Name", ""), "user": pairs.get("User", ""), "queue": pairs.get("Queue", "")}
    )
    if not record.queue:
        if match := re.search(r"to Queue <([^>]+)>", " ".join(events)):
            record.queue = match.group(1)
    return record


@parser("LSF job report")
def parse_job_report(text: str) -> SchedulerJob:
    """The report LSF appends to a job's output file; the job id is not in it (``jobid`` is empty)."""
    if not re.search(r"was submitted from host", text):
        raise ParseError("LSF job report", "no 'was submitted from host' line", text)
    command = ""
    if match := re.search(r"^\w?ob <(.*?)> was submitted", text, re.M):
        command = match.group(1)
    queue = ""
    if match := re.search(r"in queue <([^>]+)>", text):
        queue = match.group(1)
    if re.search(r"^Successfully completed\.", text, re.M):
        stat, code = "DONE", ""
    elif match := re.search(r"^Exited with exit code (\d+)\.", text, re.M):
        stat, code = "EXIT", match.group(1)
    elif match := re.search(r"^Exited with signal termination: (\d+)\.", text, re.M):
        stat, code = "EXIT", str(128 + int(match.group(1)))
    else:
        raise ParseError("LSF job report", "no outcome line found", text)
    term = re.search(r"^(TERM_[A-Z_]+)", text, re.M)
    state, exitcode, signal, reason = lsf_state(stat, code, term.group(1) if term else "")
    outcome = lsf_outcome(stat, exitcode, signal, term.group(1) if term else "")
    return SchedulerJob(
        jobid="", state=state, raw_state=stat, reason=reason, exitcode=settle_exit(outcome, exitcode),
        signal=signal, outcome=outcome,
        name=command, queue=queue,
    )


@parser("bsub output")
def parse_bsub_output(text: str) -> tuple[str, str]:
    """``(job id, queue)`` from ``Job <N> is submitted to [default ]queue <Q>.``"""
    match = re.search(r"Job <(\d+)> is submitted to (?:default )?queue <([^>]*)>", text)
    if not match:
        raise ParseError("bsub output", "no 'Job <N> is submitted to queue <Q>' line", text)
    return match.group(1), match.group(2)


@parser("bkill output")
def parse_bkill_output(text: str) -> list[str]:
    """Ids bkill reports as ``being terminated`` (or already being signalled)."""
    ids = re.findall(r"Job <([^>]+)> is being (?:terminated|signaled|signalled)", text)
    if not ids and text.strip() and not _NOT_FOUND.search(text):
        raise ParseError("bkill output", "no 'Job <N> is being terminated' line", text)
    return ids


@parser("LSF error message")
def parse_not_found(text: str) -> set[str]:
    """Ids an LSF command reports as ``Job <N> is not found`` (purged or never known)."""
    return set(_NOT_FOUND.findall(text))


@parser("bqueues output")
def parse_bqueues(text: str) -> list[QueueInfo]:
    """Plain ``bqueues``: QUEUE_NAME PRIO STATUS MAX JL/U JL/P JL/H NJOBS PEND RUN SUSP."""
    queues = []
    header_seen = False
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "QUEUE_NAME":
            header_seen = True
            continue
        if not header_seen or len(fields) < 11:
            raise ParseError("bqueues output", "expected a QUEUE_NAME header and 11 columns", text)
        name, status = fields[0], fields[2]
        opened, _, active = status.partition(":")
        state = "up" if opened == "Open" and active == "Active" else (
            "closed" if opened == "Closed" else "inactive"
        )
        pend, run, susp = (int(v) if v.isdigit() else 0 for v in fields[8:11])
        queues.append(QueueInfo(name=name, state=state, running=run, pending=pend))
    if not queues and text.strip() and not header_seen:
        raise ParseError("bqueues output", "no QUEUE_NAME header", text)
    return queues


@parser("bqueues -l output")
def parse_bqueues_limits(text: str) -> dict[str, int]:
    """CPULIMIT / RUNLIMIT sections of ``bqueues -l``, in seconds (``"of <host model>"`` ignored)."""
    limits: dict[str, int] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        names = line.split()
        if names and all(name.endswith("LIMIT") for name in names):
            value = re.match(r"^\s*(\d+(?:\.\d+)?)\s+min\b", lines[i + 1])
            if value and names[0] in ("CPULIMIT", "RUNLIMIT"):
                limits[names[0]] = int(round(float(value.group(1)) * 60))
    if not limits and text.strip():
        raise ParseError("bqueues -l output", "no CPULIMIT or RUNLIMIT section", text)
    return limits


@parser("lshosts output")
def parse_lshosts(text: str) -> list[dict[str, str]]:
    """``lshosts -w``: one dict per host (HOST_NAME type model cpuf ncpus maxmem maxswp server RESOURCES)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and re.search(r": unknown host name\.?$", lines[0]):
        raise ParseError("lshosts output", lines[0].strip(), text)
    if not lines or lines[0].split()[:1] != ["HOST_NAME"]:
        raise ParseError("lshosts output", "no HOST_NAME header", text)
    names = [n.lower() for n in lines[0].split()]
    hosts = []
    for line in lines[1:]:
        values = line.split(None, len(names) - 1)
        hosts.append(dict(zip(names, values, strict=False)))
    return hosts


# ---------------------------------------------------------------------------- any of the user's jobs
# History reads ``bacct -l``, not ``bjobs -d``: bjobs forgets a finished job after CLEAN_PERIOD
# (an hour by default) and shows its times without seconds or year (``Dec 28 19:56 L``), while
# bacct reads the accounting log (lsb.acct) for the whole window, with each event's time to the
# second and the job's CPU_T, WAIT, TURNAROUND and MEM (tests/samples/lsf/bacct-l-*.txt).

#: ``bjobs -o`` fields of ``batchdeck show`` (one JSON record: no wrapped lines, no layout)
DETAILS_FIELDS = (
    *BJOBS_FIELDS, "pend_reason", "exec_host", "sub_cwd", "exec_cwd", "exec_home", "output_file",
    "error_file", "command", "dependency", "runtimelimit", "run_time", "cpu_used", "max_mem",
    "effective_resreq", "proj_name",
)  # fmt: skip

#: ONE round trip for ``batchdeck show``: bjobs while mbatchd remembers the job, else accounting.
#: The id and the fields are arguments, never part of the script.
DETAILS_SCRIPT = (
    'out=$(bjobs -o "$2" -json "$1" 2>&1); printf "%s\\n" "$out"; '
    'case $out in *\'"STAT"\'*) ;; *) echo "@@@ bacct"; bacct -l "$1" 2>&1;; esac'
)

_EVENT_TIME = re.compile(r"^(\w{3}) (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?: (\d{4}))?: (.*)$")
_LSF_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:bytes|B)?\s*$", re.I)


def lsf_mib(text: str | None) -> float | None:
    """MiB of an LSF size as bacct and bjobs print it (``5M``, ``222M``, ``1.3 Gbytes``, ``41 Mbytes``)."""
    match = _LSF_SIZE.match(text or "")
    if not match:
        return None
    return float(match.group(1)) * {"": 1 / 1024, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2}[
        match.group(2).upper()
    ]


def _event_time(match: re.Match[str], now: float) -> float | None:
    """An event's time; without a year (LSF's default), the latest one not after ``now`` (+ a day)."""
    month = _MONTHS.get(match.group(2))
    if month is None:
        return None
    day, hour, minute, second = (int(match.group(i)) for i in (3, 4, 5, 6))
    years = [int(match.group(7))] if match.group(7) else [time.localtime(now).tm_year - k for k in range(2)]
    for year in years:
        try:
            when = time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if match.group(7) or when <= now + 86400:
            return when
    return None


def _lsf_slots(block: str) -> int:
    """Slots of a job: ``Dispatched to <4*host>``, ``Dispatched 4 Task(s)``, ``4 Task(s) Requested``."""
    if match := re.search(r"Dispatched (?:to )?(\d+) (?:Task\(s\)|Hosts/Processors)", block):
        return int(match.group(1))
    if match := re.search(r"Dispatched to <(?:(\d+)\*)?[^>]*>", block):
        return int(match.group(1) or 1)
    if match := re.search(r"(\d+) (?:Task\(s\)|Processors) Requested", block):
        return int(match.group(1))
    return 1


def _rusage_mib(text: str, slots: int) -> float | None:
    """``rusage[mem=N]``: MB per slot on a default LSF (LSF_UNIT_FOR_LIMITS=MB), as submit writes it."""
    match = re.search(r"rusage\[[^\]]*?\bmem=(\d+(?:\.\d+)?)", text)
    return float(match.group(1)) * slots if match else None


@parser("bacct -l history")
def parse_bacct_history(text: str, now: float, since: float = 0.0) -> list[HistoryRecord]:
    """The jobs of ``bacct -l`` that ended since ``since``, with seff's efficiencies; ``now`` dates
    the events, which carry no year. ``No matching job found`` is no job."""
    records = []
    blocks: list[list[str]] = []
    for line in _unwrap_long(text):
        if re.match(r"^Job <[^>]+>,", line):
            blocks.append([line])
        elif line.startswith("-----") or line.startswith("SUMMARY:"):
            blocks.append([]) if blocks and blocks[-1] else None
        elif blocks and blocks[-1]:
            blocks[-1].append(line)
    for lines in (b for b in blocks if b):
        pairs = {key.strip(): value for key, value in _PAIR.findall(lines[0])}
        events = [m for m in (_EVENT_TIME.match(line) for line in lines[1:]) if m]
        job = _long_record(pairs, [m.group(8) for m in events], text)
        times: dict[str, float | None] = {"submit": None, "start": None, "end": None}
        for event in events:
            message = event.group(8)
            key = ("submit" if message.startswith("Submitted") else
                   "start" if re.match(r"(Dispatched|Started|Starting)", message) and times["start"] is None else
                   "end" if re.match(r"(Completed|Done successfully|Exited)", message) and times["end"] is None else "")  # fmt: skip
            if key:
                times[key] = _event_time(event, now)
        table: dict[str, str] = {}
        for i, line in enumerate(lines[:-1]):
            names = line.split()
            if names[:1] == ["CPU_T"]:
                table = dict(zip(names, lines[i + 1].split(), strict=False))
        block = "\n".join(lines)
        slots = _lsf_slots(block)
        cpu = float(table["CPU_T"]) if re.fullmatch(r"\d+(\.\d+)?", table.get("CPU_T", "")) else None
        wait, turnaround = (table.get(k, "") for k in ("WAIT", "TURNAROUND"))
        elapsed: float | None = None
        if wait.isdecimal() and turnaround.isdecimal():
            elapsed = float(int(turnaround) - int(wait))  # what ran: submit to end, less the wait
        elif times["start"] is not None and times["end"] is not None:
            elapsed = times["end"] - times["start"]
        requested = _rusage_mib(block, slots)
        used = lsf_mib(table.get("MEM"))
        end = times["end"]
        if (end or times["start"] or 0) < since:
            continue
        records.append(
            HistoryRecord(
                jobid=job.jobid, name=pairs.get("Job Name", "") or pairs.get("Command", ""), user=job.user,
                queue=job.queue, state=job.raw_state, outcome=job.outcome, exitcode=job.exitcode,
                signal=job.signal, submit_time=times["submit"], start_time=times["start"], end_time=end,
                elapsed=elapsed, cores=slots, cpu_time=cpu, requested_memory=requested, max_rss=used,
                cpu_efficiency=cpu_efficiency(cpu, elapsed, slots), memory_efficiency=memory_efficiency(used, requested),
            )  # fmt: skip
        )
    if not records and not blocks and text.strip() and not re.search(r"No matching job found", text):
        raise ParseError("bacct -l history", "no 'Job <N>, ...' block found", text)
    return records


def lsf_output_path(path: str, jobid: str, cwd: str, home: str) -> str:
    """The file of ``-o`` / ``-e``: ``%J`` the job id, ``%I`` the array index (0 outside an array),
    relative to the submission directory; a directory (``dir/``) gets ``JOBID.out``."""
    if not path:
        return ""
    seq, _, index = jobid.partition("[")
    path = path.replace("%J", seq).replace("%I", index.rstrip("]") or "0")
    if path.endswith("/"):
        path += f"{seq}.out"
    if not path.startswith("/") and not path.startswith("$HOME") and cwd:
        path = f"{cwd.rstrip('/')}/{path}"
    if home and (path == "$HOME" or path.startswith("$HOME/")):
        path = home + path[len("$HOME") :]
    return path


@parser("LSF job details")
def parse_lsf_details(text: str, cluster: str = "", now: float | None = None) -> JobDetails:
    """DETAILS_SCRIPT's output: one ``bjobs -o ... -json`` record, or (after ``@@@ bacct``) the
    job's ``bacct -l`` block once mbatchd has cleaned it out."""
    head, _, accounting = text.partition("@@@ bacct")
    now = time.time() if now is None else now
    start = head.find("{")
    record: dict[str, Any] = {}
    if start >= 0:
        try:
            data, _ = json.JSONDecoder().raw_decode(head[start:])
        except (ValueError, RecursionError) as exc:
            raise ParseError("LSF job details", f"not JSON ({exc})", text) from None
        found = [r for r in (data.get("RECORDS") or []) if isinstance(r, dict) and "STAT" in r] if isinstance(data, dict) else []
        record = found[0] if found else {}
    if not record:
        past = parse_bacct_history(accounting, now) if accounting.strip() else []
        if not past:
            raise ParseError("LSF job details", "the job is neither in bjobs nor in accounting", text)
        r = past[0]
        accounting = "\n".join(_unwrap_long(accounting))
        found_cwd = re.search(r"CWD <([^>]*)>", accounting)
        where = found_cwd.group(1) if found_cwd else ""
        out = re.search(r"Output File(?: \(overwrite\))? <([^>]*)>", accounting)
        err = re.search(r"Error File(?: \(overwrite\))? <([^>]*)>", accounting)
        stdout = lsf_output_path(out.group(1) if out else "", r.jobid, where, "")
        return JobDetails(
            cluster=cluster, jobid=r.jobid, name=r.name, user=r.user, raw_state=r.state,
            state=RunState.TERMINATED if r.outcome == Outcome.CANCELLED else RunState.TERMINATING,
            reason=str(r.outcome or ""), queue=r.queue, cores=r.cores, memory=r.requested_memory,
            submit_time=r.submit_time, start_time=r.start_time, end_time=r.end_time, elapsed=r.elapsed,
            workdir=where, stdout=stdout, stderr=lsf_output_path(err.group(1), r.jobid, where, "") if err else stdout,
            exitcode=r.exitcode, signal=r.signal, outcome=r.outcome, batchdeck_id=tag_of(r.name),
        )  # fmt: skip
    job = _record(record, now)
    get = {k.lower(): _blank(v) for k, v in record.items()}
    cwd = get.get("sub_cwd", "")
    home = get.get("exec_home", "")
    if home and (cwd == "$HOME" or cwd.startswith("$HOME/")):
        cwd = home + cwd[len("$HOME") :]
    stdout = lsf_output_path(get.get("output_file", ""), job.jobid, cwd, home)
    # -o without -e: LSF writes stderr into the -o file
    stderr = lsf_output_path(get.get("error_file", ""), job.jobid, cwd, home) or stdout
    limit = parse_duration(get.get("runtimelimit", "")) if get.get("runtimelimit") else None
    run_time = get.get("run_time", "")
    elapsed = parse_duration(run_time.split()[0]) if run_time else None
    return JobDetails(
        cluster=cluster, jobid=job.jobid, name=job.name, user=job.user, state=job.state, raw_state=job.raw_state,
        reason=get.get("pend_reason") or job.reason, raw_reason=get.get("pend_reason", ""), queue=job.queue,
        account=get.get("proj_name", ""), node_list=get.get("exec_host", ""), cores=job.cores,
        memory=_rusage_mib(get.get("effective_resreq", ""), job.cores or 1), submit_time=job.submit_time,
        start_time=job.start_time, end_time=job.end_time, elapsed=float(elapsed) if elapsed is not None else None,
        time_limit=limit, workdir=get.get("exec_cwd") or cwd, command=get.get("command", ""), stdout=stdout,
        stderr=stderr, dependency=get.get("dependency", ""), array_id=job.array_id, array_task=job.array_task,
        exitcode=job.exitcode, signal=job.signal, outcome=job.outcome, batchdeck_id=tag_of(job.name),
    )  # fmt: skip


def lsf_control_argv(action: str, jobid: str, value: str | None = None) -> list[str]:
    """``cancel`` (bkill), ``signal`` (bkill -s), ``hold`` and ``release`` (bstop / bresume: on a
    pending job they are LSF's hold, PSUSP, and on a running one its suspend), ``time_limit``
    (bmod -W, whole minutes: LSF has no finer run limit)."""
    if action == "cancel":
        return ["bkill", jobid]
    if action == "signal":
        return ["bkill", "-s", str(value), jobid]
    if action == "hold":
        return ["bstop", jobid]
    if action == "release":
        return ["bresume", jobid]
    if action == "time_limit":
        seconds = int(value) if value is not None and value.isdecimal() else 0
        if seconds < 60 or seconds % 60:
            raise InvalidJobSpec(f"LSF run limits are whole minutes (bmod -W): {value} seconds is not")
        return ["bmod", "-W", lsf_walltime(seconds), jobid]
    raise ValueError(f"unknown action {action!r}")


# ---------------------------------------------------------------------------- a script's #BSUB lines


def lsf_minutes(text: str) -> int:
    """bsub -W: ``[HH:]MM`` (minutes), as seconds."""
    hours, colon, minutes = text.partition(":")
    if colon and hours.isdecimal() and minutes.isdecimal():
        return int(hours) * 3600 + int(minutes) * 60
    if text.isdecimal() and int(text) > 0:
        return int(text) * 60
    raise ValueError(f"expected [HH:]MM, got {text!r}")


def _lsf_resources(value: str | None, reading: DirectiveReading) -> None:
    match = re.fullmatch(r"\s*rusage\[mem=(\d+)\]\s*", value or "")
    if match:
        reading.values["memory_per_core"] = int(match.group(1))  # MB per slot on a default LSF
        return
    reading.passthrough.append(f"#BSUB -R {shlex.quote(value or '')}")
    reading.notes.append("passed through to the scheduler as it is")


def _lsf_name(value: str | None, reading: DirectiveReading) -> None:
    name = value or ""
    match = re.fullmatch(r"([^\[]*)\[([^\]]*)\](?:%(\d+))?", name)
    if match:
        # NAME[1-10:2,15]%4: the array's ids in SLURM's syntax, which is LSF's too
        name = match.group(1)
        reading.values["array"] = normalize_task_array(match.group(2) + (f"%{match.group(3)}" if match.group(3) else ""))
    elif "[" in name or "]" in name:
        raise ValueError(f"expected NAME[IDS] or NAME[IDS]%N for a job array, got {name!r}")
    if name:
        reading.values["name"] = name


BSUB_RULES: tuple[OptionRule, ...] = (
    OptionRule(("-J",), True, _lsf_name),
    OptionRule(("-n",), True, setter("cores", positive_int)),
    OptionRule(("-W",), True, setter("walltime", lsf_minutes)),
    OptionRule(("-q",), True, setter("queue")),
    OptionRule(("-o",), True, output_file("stdout")),
    OptionRule(("-e",), True, output_file("stderr")),
    OptionRule(("-R",), True, _lsf_resources),
    *passthrough_flags("-M", "-P", "-G", "-w", "-m", "-u", "-b", "-E", "-Ep", "-app", "-sla"),
)


def lsf_dependency_directives(conditions: list[tuple[str, str]]) -> list[str]:
    kinds = {"ok": "done", "any": "ended", "notok": "exit"}
    expression = " && ".join(f"{kinds[kind]}({jobid})" for kind, jobid in conditions)
    return [f"#BSUB -w {shlex.quote(expression)}"] if expression else []


def read_bsub_directives(script: str) -> DirectiveReading:
    return interpret("#BSUB", read_directives(script, "#BSUB"), BSUB_RULES)


# ---------------------------------------------------------------------------- the backend


def lsf_walltime(seconds: int) -> str:
    """``-W [HH:]MM``: minutes, rounded up so a job never gets less than asked."""
    minutes = max(1, math.ceil(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}" if hours else str(minutes)


def lsf_error(command: str, result: CommandResult) -> SchedulerError:
    return command_error(command, result, joined=True)


def classify_bkill_result(result: CommandResult) -> CancelVerdict:
    """``Job <N> is being terminated`` is done; ``Job <N> is not found`` is gone already."""
    text = result.stdout + "\n" + result.stderr
    message = " ".join((result.stderr.strip() or result.stdout.strip()).split())
    try:
        killed = parse_bkill_output(text)
        gone = parse_not_found(text)
    except ParseError:
        killed, gone = [], set()
    if killed:
        return CancelVerdict(CancelAnswer.DONE)
    if gone or re.search(r"Job has already finished", text):
        return CancelVerdict(CancelAnswer.ALREADY_GONE, message)
    if result.ok:
        return CancelVerdict(CancelAnswer.DONE)
    return CancelVerdict(CancelAnswer.ERROR, message or f"exit status {result.exit_status}")


class LsfBatchSystem(BatchSystem):
    """IBM Spectrum LSF."""

    type_name = "lsf"
    #: QOS is LSF's project (-P); the constraint a resource requirement (-R)
    honoured_options = frozenset({"qos", "constraint", "extra_args", "array"})
    array_task_variable = "LSB_JOBINDEX"
    array_output_pattern = "%I"
    spools_output = True
    submit_regexp = r"Job <(\d+)> is submitted to (?:default )?queue"
    directive_prefix = "#BSUB"
    read_script_directives = staticmethod(read_bsub_directives)
    dependency_directives = staticmethod(lsf_dependency_directives)
    joins_error_lines = True
    max_job_name_length = 4094

    queue_name_pattern = _QUEUE_RE

    async def prepare(self) -> None:
        """Nothing to learn: bjobs lists the login user's jobs by default."""

    def check_spec(self, spec: JobSpec) -> None:
        """Nothing beyond the queue-name rule (``queue_name_pattern``)."""

    def task_jobid(self, jobid: str, task: int) -> str:
        return f"{jobid}[{task}]"

    def check_array(self, array: TaskArray) -> None:
        if min(first for first, _, _ in array.runs) < 1:
            raise ValueError("LSF's array indices start at 1")

    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        spec = job.spec
        name = scheduler_job_name(job, self.max_job_name_length)
        if spec.array:
            array = parse_task_array(spec.array)
            throttle = f"%{array.throttle}" if array.throttle is not None else ""
            name = shlex.quote(f"{name}[{array.ranges()}]{throttle}")
        lines = [f"#BSUB -J {name}"]
        if spec.queue:
            lines.append(f"#BSUB -q {spec.queue}")
        lines.append(f"#BSUB -n {spec.cores}")
        if spec.memory_per_core:
            # rusage[mem=] is per slot (per core) on a default LSF configuration.
            lines.append(f'#BSUB -R "rusage[mem={spec.memory_per_core}]"')
        if spec.walltime:
            lines.append(f"#BSUB -W {lsf_walltime(spec.walltime)}")
        if spec.qos:
            lines.append(f"#BSUB -P {spec.qos}")
        if spec.constraint:
            lines.append(f'#BSUB -R "{spec.constraint}"')
        stdout, stderr = self.output_paths(job, sandbox)
        lines.append(f"#BSUB -o {stdout}")
        if posixpath.normpath(stdout) != posixpath.normpath(stderr):
            # Without -e LSF writes stderr into the -o file, which is what "same name" asks.
            lines.append(f"#BSUB -e {stderr}")
        return lines

    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        sandbox = job.sandbox or posixpath.dirname(posixpath.dirname(script_path))
        return ["bsub", *job.spec.extra_args], self.render_script(job, sandbox).encode()

    def parse_submit_output(self, job: JobRecord, result: CommandResult) -> SubmitAnswer:
        if not result.ok:
            raise lsf_error("bsub", result)
        jobid, queue = parse_bsub_output(result.stdout + "\n" + result.stderr)
        return SubmitAnswer(jobid, queue or None)

    def status_argv(self) -> list[str]:
        return ["bjobs", "-a", "-o", " ".join(BJOBS_FIELDS), "-json"]

    def parse_status_output(self, result: CommandResult) -> list[SchedulerJob]:
        if not result.stdout.strip():
            # An empty queue is "No job found" on stderr (exit status varies by version).
            if _NO_JOBS.search(result.stderr) or result.ok:
                return []
            raise lsf_error("bjobs", result)
        return parse_bjobs_json(result.stdout, now=time.time())

    def accounting_argv(self, jobids: Sequence[str], attempt: int) -> list[str] | None:
        """bacct -l for jobs cleaned out of mbatchd; then bhist -l for those bacct does not have."""
        if attempt == 0:
            return ["bacct", "-l", *jobids]
        if attempt == 1:
            return ["bhist", "-l", *jobids]
        return None

    def parse_accounting_output(
        self, jobids: Sequence[str], result: CommandResult, attempt: int
    ) -> dict[str, SchedulerJob]:
        if not result.stdout.strip():
            return {}
        wanted = set(jobids)
        return {info.jobid: info for info in parse_lsf_long(result.stdout) if info.jobid in wanted}

    def cancel_argv(self, jobid: str) -> list[str]:
        return ["bkill", jobid]

    def classify_cancel_output(self, result: CommandResult) -> CancelVerdict:
        return classify_bkill_result(result)

    # ------------------------------------------------------------------ any of the user's jobs

    def history_argv(self, since: float) -> list[str]:
        """bacct's own user (the login user) and completion window ``-C since,`` (until now)."""
        return ["bacct", "-l", "-C", time.strftime("%Y/%m/%d/%H:%M,", time.localtime(since))]

    def parse_history_output(self, result: CommandResult, since: float) -> list[HistoryRecord]:
        text = result.stdout + "\n" + result.stderr
        if not result.ok and not re.search(r"No matching job found", text):
            raise AccountingUnavailable(f"cluster {self.name!r}: accounting cannot be read ({lsf_error('bacct', result)})")
        return parse_bacct_history(result.stdout, time.time(), since)

    def details_argv(self, jobid: str) -> list[str]:
        return ["sh", "-c", DETAILS_SCRIPT, "sh", jobid, " ".join(DETAILS_FIELDS)]

    def parse_details_output(self, jobid: str, result: CommandResult) -> JobDetails:
        try:
            return parse_lsf_details(result.stdout, self.name, time.time())
        except ParseError:
            error = re.search(r"\"ERROR\"\s*:\s*\"([^\"]*)\"", result.stdout)
            first = error.group(1) if error else one_line("bjobs", result.stderr or result.stdout)
            raise JobNotFound(f"cluster {self.name!r} knows no job {jobid!r} ({first})") from None

    def control_argv(self, action: str, jobid: str, value: str | None) -> list[str]:
        return lsf_control_argv(action, jobid, value)

    def queues_argv(self) -> list[list[str]]:
        return [["bqueues", "-w"]]

    def parse_queues_output(self, results: list[CommandResult]) -> list[QueueInfo]:
        (result,) = results
        if not result.ok:
            raise lsf_error("bqueues", result)
        return parse_bqueues(result.stdout)
