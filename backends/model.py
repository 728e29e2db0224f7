"""What batchdeck knows about jobs and queues.

``JobSpec`` is what the user asks for, ``JobRecord`` is batchdeck's own run record
(persisted in the journal), ``SchedulerJob`` and ``QueueInfo`` are what parsers
return from a scheduler's output.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import BatchdeckError, InvalidStateTransition
from .task_array import parse_task_array


class RunState(str, enum.Enum):
    """GC3Pie's Run.State."""

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"  # queued or held at the scheduler
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"  # suspended, or needs a human (error/hold states)
    TERMINATING = "TERMINATING"  # finished; outputs not yet fetched
    TERMINATED = "TERMINATED"  # outputs fetched, or cancelled
    UNKNOWN = "UNKNOWN"  # the scheduler cannot tell (any more)

    def __str__(self) -> str:
        return self.value

    @property
    def is_active(self) -> bool:
        """The scheduler may still change this job's state."""
        return self in _ACTIVE


_ACTIVE = frozenset({RunState.SUBMITTED, RunState.RUNNING, RunState.STOPPED, RunState.UNKNOWN})
_FINISHED = frozenset({RunState.TERMINATING, RunState.TERMINATED})


class Outcome(str, enum.Enum):
    """How a finished job ended: the scheduler's verdict, together with its exit code and signal.

    Only ``OK`` is a success. The schedulers' own words map onto these in the
    tables at the top of each scheduler module.
    """

    OK = "ok"  # exit 0 and the scheduler says the job completed
    FAILED = "failed"  # non-zero exit, or the scheduler could not run it
    TIMEOUT = "timeout"  # walltime (or CPU time) limit reached
    CANCELLED = "cancelled"  # by the user or an administrator
    OOM = "oom"  # memory limit reached
    NODE_FAIL = "node_fail"
    PREEMPTED = "preempted"
    DEADLINE = "deadline"
    BOOT_FAIL = "boot_fail"
    KILLED = "killed"  # by a signal, for no reason the scheduler named
    LOST = "lost"  # neither the scheduler nor the job's own exit-status file can tell

    def __str__(self) -> str:
        return self.value

    @property
    def is_success(self) -> bool:
        return self is Outcome.OK

    @classmethod
    def parse(cls, value: object) -> Outcome | None:
        """The outcome a journal row stored; None for rows older than outcomes (or unknown words)."""
        if isinstance(value, Outcome):
            return value
        try:
            return cls(str(value)) if value else None
        except ValueError:
            return None


def settle_exit(outcome: Outcome | None, exitcode: int | None) -> int | None:
    """The exit code to keep for a finished job: never a 0 that would read as success.

    Schedulers print ``0`` for jobs they timed out, cancelled or killed (SLURM's
    ``TIMEOUT 0:0``, Grid Engine's ``failed 28`` with ``exit_status 0``): only an
    ``ok`` job keeps exit code 0; otherwise an unknown code is None.
    """
    if exitcode == 0 and outcome is not None and outcome is not Outcome.OK:
        return None
    return exitcode


def outcome_from_exit(exitcode: int | None, signal: int | None) -> Outcome:
    """The outcome of a job that ended on its own, from its exit code and signal alone."""
    if signal:
        return Outcome.KILLED
    if exitcode == 0:
        return Outcome.OK
    return Outcome.FAILED


#: reasons with which batchdeck's own code ends a job, and the outcome each means
_REASON_OUTCOMES: tuple[tuple[str, Outcome], ...] = (
    ("cancelled", Outcome.CANCELLED),
    ("submission failed", Outcome.FAILED),
)

_S = RunState
ALLOWED_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    _S.NEW: frozenset({_S.SUBMITTED, _S.RUNNING, _S.TERMINATING, _S.TERMINATED, _S.UNKNOWN}),
    # RUNNING -> SUBMITTED and STOPPED -> SUBMITTED happen when a job is requeued.
    _S.SUBMITTED: frozenset({_S.RUNNING, _S.STOPPED, _S.TERMINATING, _S.TERMINATED, _S.UNKNOWN}),
    _S.RUNNING: frozenset({_S.SUBMITTED, _S.STOPPED, _S.TERMINATING, _S.TERMINATED, _S.UNKNOWN}),
    _S.STOPPED: frozenset({_S.SUBMITTED, _S.RUNNING, _S.TERMINATING, _S.TERMINATED, _S.UNKNOWN}),
    _S.TERMINATING: frozenset({_S.TERMINATED}),
    _S.TERMINATED: frozenset(),
    _S.UNKNOWN: frozenset({_S.SUBMITTED, _S.RUNNING, _S.STOPPED, _S.TERMINATING, _S.TERMINATED}),
}


@dataclass
class JobSpec:
    """What to run and with which resources.

    Exactly one of ``command`` (an argv list, run without a shell) and ``script``
    (the text of a shell script) is set. ``inputs`` maps local paths to names
    relative to the sandbox; ``outputs`` lists sandbox-relative names to fetch
    (empty: the whole sandbox).
    """

    command: list[str] = field(default_factory=list)
    script: str | None = None
    arguments: list[str] = field(default_factory=list)
    name: str = "job"
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    stdout: str = "stdout.txt"
    stderr: str = "stderr.txt"
    cores: int = 1
    memory_per_core: int | None = None  # MiB
    walltime: int | None = None  # seconds
    queue: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    prologue: str | None = None
    epilogue: str | None = None
    #: the user script's own directive lines batchdeck passes through to the scheduler as they are
    directives: list[str] = field(default_factory=list)
    #: the CPU architecture the job needs (GC3Pie's ``requested_architecture``), or any
    architecture: str | None = None
    #: scheduler options beyond cores/memory/walltime (#13 item 4); a backend refuses one it cannot honour
    account: str | None = None
    qos: str | None = None  # QOS (SLURM) or project (Grid Engine, LSF)
    gpus: int | None = None
    nodes: int | None = None
    constraint: str | None = None  # node features (SLURM --constraint) or a resource string (-l, -R)
    #: words passed to the submit command as they are, before the script (quoted by the transport)
    extra_args: list[str] = field(default_factory=list)
    #: a job array's task ids as SLURM's --array writes them (task_array.TaskArray.text()), or None
    array: str | None = None

    def scheduler_options(self) -> list[str]:
        """The names of the scheduler options this spec sets (SCHEDULER_OPTIONS' keys)."""
        return [name for name in SCHEDULER_OPTIONS if getattr(self, name) not in (None, [])]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


#: JobSpec's scheduler options -> how a message names them (the form's labels)
SCHEDULER_OPTIONS: dict[str, str] = {
    "account": "account",
    "qos": "QOS / project",
    "gpus": "GPUs",
    "nodes": "nodes",
    "constraint": "constraint",
    "extra_args": "extra scheduler arguments",
    "array": "array",
}


@dataclass
class TaskState:
    """One task of a batchdeck array job, as the last refresh saw it."""

    state: RunState
    raw_state: str = ""
    reason: str = ""
    outcome: Outcome | None = None
    exitcode: int | None = None
    signal: int | None = None

    @property
    def failed(self) -> bool:
        return not self.state.is_active and self.outcome is not None and not self.outcome.is_success

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "raw_state": self.raw_state,
            "reason": self.reason,
            "outcome": self.outcome.value if self.outcome is not None else None,
            "exitcode": self.exitcode,
            "signal": self.signal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskState:
        return cls(
            state=RunState(data.get("state", "UNKNOWN")),
            raw_state=str(data.get("raw_state", "")),
            reason=str(data.get("reason", "")),
            outcome=Outcome.parse(data.get("outcome")),
            exitcode=data.get("exitcode"),
            signal=data.get("signal"),
        )


#: the words task counts are shown with, in this order (``task_counts``)
TASK_COUNT_WORDS: tuple[str, ...] = ("run", "pend", "held", "done", "failed", "unknown")


def task_count_word(task: TaskState) -> str:
    if task.state == RunState.RUNNING:
        return "run"
    if task.state == RunState.SUBMITTED:
        return "pend"
    if task.state == RunState.STOPPED:
        return "held"
    if task.state == RunState.UNKNOWN:
        return "unknown"
    return "failed" if task.failed else "done"


def counts_line(counts: dict[str, int]) -> str:
    """An array's tasks by state: ``12 run · 30 pend · 3 failed`` (states without tasks left out)."""
    return " · ".join(f"{counts[word]} {word}" for word in TASK_COUNT_WORDS if counts.get(word))


@dataclass
class Transition:
    time: float
    old: RunState
    new: RunState
    reason: str = ""


@dataclass
class JobRecord:
    """batchdeck's run record of one job."""

    id: str
    cluster: str
    spec: JobSpec
    jobid: str | None = None
    sandbox: str | None = None
    state: RunState = RunState.NEW
    raw_state: str = ""
    exitcode: int | None = None
    signal: int | None = None
    reason: str = ""
    queue: str | None = None
    created: float = field(default_factory=time.time)
    submitted: float | None = None
    started: float | None = None
    finished: float | None = None
    # When the scheduler last reported this job: a job missing from the queue and
    # from accounting for longer than accounting_delay after this becomes UNKNOWN.
    last_seen: float | None = None
    stale: bool = False
    history: list[Transition] = field(default_factory=list)
    #: how the job ended; None while it runs (and for journal rows older than outcomes)
    outcome: Outcome | None = None
    # When batchdeck asked the scheduler to cancel this job (persisted, so another
    # process or a restart still reads the job's end as cancelled).
    cancel_requested: float | None = None
    #: when a cancel command for it last went out (None: not known to have gone out, e.g. batchdeck
    #: was killed between storing the intent and sending it): a poll sends the cancel again for a
    #: job the scheduler still lists, at most once per poll interval
    cancel_sent: float | None = None
    #: when a lost (UNKNOWN) job is next asked about, and the back-off interval that led
    #: there: persisted, so every process (the CLI, a second app) keeps the same back-off
    #: and shows when the next check is
    recheck_at: float | None = None
    recheck_interval: float | None = None
    #: an array job's tasks by task id (``spec.array``), as the last refresh saw them; tasks not
    #: seen yet are absent
    tasks: dict[str, TaskState] = field(default_factory=dict)
    # The journal's change number of the row this copy was read from (0: never
    # written). Not part of the record: the journal writes conditionally on it, so
    # a copy that another process changed meanwhile cannot overwrite that change.
    version: int = field(default=0, compare=False, repr=False)

    def transition(self, new: RunState, reason: str = "", when: float | None = None) -> bool:
        """Move to ``new``; returns False if already there, raises if not allowed."""
        if new == self.state:
            return False
        if new not in ALLOWED_TRANSITIONS[self.state]:
            raise InvalidStateTransition(f"job {self.id}: cannot go from {self.state} to {new}")
        now = time.time() if when is None else when
        self.history.append(Transition(now, self.state, new, reason))
        self.state = new
        if new == RunState.SUBMITTED and self.submitted is None:
            self.submitted = now
        elif new == RunState.RUNNING and self.started is None:
            self.started = now
        elif new in _FINISHED and self.finished is None:
            self.finished = now
        if new in _FINISHED:
            # batchdeck's own endings (a cancel, a refused submit) carry no scheduler
            # record: the reason they are made with is the verdict.
            for prefix, outcome in _REASON_OUTCOMES:
                if reason.startswith(prefix):
                    self.set_outcome(outcome, override=True)
                    break
        return True

    def set_outcome(self, outcome: Outcome | None, override: bool = False) -> bool:
        """Record how the finished job ended; True if anything changed.

        The first verdict stays (a late, generic one does not replace
        "cancelled") unless ``override``. Nothing is recorded while the job is
        still active.
        """
        if outcome is None or self.state not in _FINISHED:
            return False
        before = (self.outcome, self.exitcode)
        if self.outcome is None or override:
            self.outcome = outcome
        self.exitcode = settle_exit(self.outcome, self.exitcode)
        return before != (self.outcome, self.exitcode)

    @property
    def name(self) -> str:
        return self.spec.name

    def output_name(self, stderr: bool = False, task: str | None = None) -> str:
        """The sandbox-relative stdout (or stderr) file; an array task's is in its folder, TASK/.

        Raises ``BatchdeckError`` for an array job without a task, or a task it does not have.
        """
        name = self.spec.stderr if stderr else self.spec.stdout
        if not self.spec.array:
            if task is not None:
                raise BatchdeckError(f"job {self.id} is not an array job: it has no task {task}")
            return name
        if task is None:
            raise BatchdeckError(f"job {self.id} is an array (tasks {self.spec.array}): name one task (peek --task N)")
        if not task.isdecimal() or int(task) not in parse_task_array(self.spec.array).tasks():
            raise BatchdeckError(f"job {self.id} has no task {task!r} (tasks {self.spec.array})")
        return f"{int(task)}/{name}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["history"] = [
            {"time": t.time, "old": t.old.value, "new": t.new.value, "reason": t.reason}
            for t in self.history
        ]
        data["outcome"] = self.outcome.value if self.outcome is not None else None
        data["tasks"] = {task: info.to_dict() for task, info in self.tasks.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        data = dict(data)
        data["spec"] = JobSpec.from_dict(data.get("spec") or {})
        data["tasks"] = {str(task): TaskState.from_dict(info) for task, info in (data.get("tasks") or {}).items()}
        data["state"] = RunState(data.get("state", "NEW"))
        data["history"] = [
            Transition(h["time"], RunState(h["old"]), RunState(h["new"]), h.get("reason", ""))
            for h in data.get("history", [])
        ]
        data["outcome"] = Outcome.parse(data.get("outcome"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> dict[str, Any]:
        """The record as the CLI's ``--json`` prints it."""
        return {
            "id": self.id,
            "name": self.spec.name,
            "cluster": self.cluster,
            "queue": self.queue or self.spec.queue,
            "state": self.state.value,
            "raw_state": self.raw_state,
            "outcome": self.outcome.value if self.outcome is not None else None,
            "jobid": self.jobid,
            "exitcode": self.exitcode,
            "signal": self.signal,
            "reason": self.reason,
            "sandbox": self.sandbox,
            "created": self.created,
            "submitted": self.submitted,
            "started": self.started,
            "finished": self.finished,
            "stale": self.stale,
            "recheck_at": self.recheck_at,
            "cancel_requested": self.cancel_requested,
            "cancel_sent": self.cancel_sent,
            **(self.array_summary() if self.spec.array else {}),
        }

    def task_counts(self) -> dict[str, int]:
        """How many tasks are in each state (``TASK_COUNT_WORDS``); tasks not seen yet count as pending."""
        counts = dict.fromkeys(TASK_COUNT_WORDS, 0)
        for task in self.tasks.values():
            counts[task_count_word(task)] += 1
        if self.spec.array and self.state.is_active:
            unseen = len(parse_task_array(self.spec.array).tasks()) - len(self.tasks)
            counts["pend"] += max(0, unseen)
        return counts

    def task_ids(self) -> list[str]:
        """An array job's task ids (as text, ascending); none for a plain job."""
        return [str(t) for t in parse_task_array(self.spec.array).tasks()] if self.spec.array else []

    def failed_tasks(self) -> list[str]:
        return sorted((t for t, info in self.tasks.items() if info.failed), key=int)

    def array_summary(self) -> dict[str, Any]:
        """The array's part of ``summary``: its ids, each task's state, the counts, the failed ids."""
        return {
            "array": self.spec.array,
            "tasks": {t: self.tasks[t].to_dict() for t in sorted(self.tasks, key=int)},
            "task_counts": self.task_counts(),
            "failed_tasks": self.failed_tasks(),
        }


@dataclass
class SchedulerJob:
    """One job as a scheduler's status output describes it (a parser's record)."""

    jobid: str
    state: RunState
    raw_state: str = ""  # the scheduler's own word, e.g. "PENDING", "qw", "PSUSP"
    reason: str = ""
    exitcode: int | None = None
    signal: int | None = None
    #: the verdict for a finished job (None while it is active)
    outcome: Outcome | None = None
    name: str = ""
    user: str = ""
    queue: str = ""
    cores: int | None = None
    submit_time: float | None = None  # epoch seconds
    start_time: float | None = None
    end_time: float | None = None
    elapsed: float | None = None  # seconds
    array_id: str | None = None  # the array's job id, for array tasks
    array_task: str | None = None  # task index, or a pending range like "1-3:1"
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["outcome"] = self.outcome.value if self.outcome is not None else None
        return data


@dataclass
class QueueInfo:
    """A queue (SLURM partition, SGE cluster queue, ...) as the Queues pane shows it."""

    name: str
    state: str = "up"
    is_default: bool = False
    max_walltime: int | None = None  # seconds; None = unlimited or unknown
    total_cores: int | None = None
    free_cores: int | None = None
    running: int = 0
    pending: int = 0
    nodes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HistoryRecord:
    """One finished job as the scheduler's accounting remembers it (``batchdeck history``)."""

    jobid: str
    name: str = ""
    user: str = ""
    queue: str = ""
    state: str = ""  # the scheduler's own word: COMPLETED, TIMEOUT, failed 37 ...
    #: the same verdict a job's status refresh reaches (the scheduler module's one table)
    outcome: Outcome | None = None
    exitcode: int | None = None
    signal: int | None = None
    submit_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    elapsed: float | None = None  # seconds
    cores: int | None = None
    cpu_time: float | None = None  # seconds, user + system, all steps
    requested_memory: float | None = None  # MiB for the whole job
    max_rss: float | None = None  # MiB, the highest over the job's steps
    gpus: int | None = None
    cpu_efficiency: float | None = None
    memory_efficiency: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value if self.outcome is not None else None
        return data


@dataclass
class JobDetails:
    """Everything the scheduler says about one job (``batchdeck show``), fetched on demand."""

    cluster: str
    jobid: str
    name: str = ""
    user: str = ""
    state: RunState = RunState.UNKNOWN
    raw_state: str = ""
    reason: str = ""  # in plain words; the scheduler's own code in raw_reason
    raw_reason: str = ""
    queue: str = ""
    account: str = ""
    qos: str = ""
    nodes: int | None = None
    node_list: str = ""
    cores: int | None = None
    memory: float | None = None  # MiB for the whole job
    gpus: int | None = None
    submit_time: float | None = None
    start_time: float | None = None  # for a pending job: the scheduler's estimate, if it has one
    start_is_estimate: bool = False
    end_time: float | None = None
    elapsed: float | None = None
    time_limit: int | None = None  # seconds
    workdir: str = ""
    command: str = ""
    stdout: str = ""  # resolved from the scheduler's record and its filename rules
    stderr: str = ""
    dependency: str = ""
    dependency_never_satisfied: bool = False
    array_id: str | None = None
    array_task: str | None = None
    exitcode: int | None = None
    signal: int | None = None
    #: how a finished job ended (None while it is active)
    outcome: Outcome | None = None
    batchdeck_id: str | None = None

    @property
    def time_left(self) -> float | None:
        if self.time_limit is None or self.elapsed is None or self.state != RunState.RUNNING:
            return None
        return max(0.0, self.time_limit - self.elapsed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["time_left"] = self.time_left
        data["outcome"] = self.outcome.value if self.outcome is not None else None
        return data
