"""The async BatchSystem layer: GC3Pie's ``gc3libs.backends.batch.BatchSystem``, made async.

A scheduler backend subclasses ``BatchSystem`` and implements only its hooks
(the abstract methods at the end of the class, each documented with what it
receives, returns and raises): a once-per-connection ``prepare``, the job-script
directives, the submit command and its answer, ONE status query for all of the
user's jobs, batched accounting queries for jobs that left the queue, the cancel
command and its answer, the queue listing and scheduler-specific spec checks.
The algorithm (sandboxes, file transfer, peek, limits, prologue and epilogue,
the state bookkeeping, the cancel intent, the one error path of ``_run``) is
here once for all of them and is never overridden.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import itertools
import os
import posixpath
import re
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

from ..engine.settings import (
    DEFAULT_ACCOUNTING_DELAY,
    ClusterSettings,
    SchedulerSettings,
    build_cluster,
    normalize_architecture,
)
from ..errors import (
    AccountingUnavailable,
    BatchdeckError,
    ConfigError,
    InvalidJobSpec,
    InvalidStateTransition,
    LimitExceeded,
    ParseError,
    RemoteFileNotFound,
    SchedulerError,
    UnsafePath,
)
from ..model import (
    SCHEDULER_OPTIONS,
    HistoryRecord,
    JobDetails,
    JobRecord,
    JobSpec,
    Outcome,
    QueueInfo,
    RunState,
    SchedulerJob,
)
from ..task_array import TaskArray, parse_task_array
from ..transports.base import CommandResult, ProgressCallback, Transport
from ..units import format_memory, format_walltime
from . import exit_status, task_states
from .directives import DirectiveReading
from .paths import CONTROL_DIR as CONTROL_DIR  # batchdeck's own files in a sandbox; never results
from .paths import check_user_paths, output_folders
from .paths import safe_relative_path as safe_relative_path
from .transfer_plan import FileFacts, expand_folders, plan_download

JOB_SCRIPT = f"{CONTROL_DIR}/job.sh"
USER_SCRIPT = f"{CONTROL_DIR}/user-script"
#: where a submit copies the inputs before renaming them into place (``_place_inputs``)
INCOMING = f"{CONTROL_DIR}/incoming"
#: sh -c SCRIPT sh SANDBOX INCOMING NAME...: each name from INCOMING into the sandbox, then INCOMING removed
PLACE_INPUTS_SCRIPT = (
    'cd "$1" || exit 1; from=$2; shift 2; for name in "$@"; do '
    'if [ -e "$name" ] || [ -L "$name" ]; then echo "input $name: the sandbox already holds that name" >&2; exit 1; fi; '
    'mv -- "$from/$name" "$name" || exit 1; done; rmdir -- "$from"'
)
TAG_PREFIX = "bd-"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_T = TypeVar("_T")

#: what a download says of a declared output the job did not write
NOT_WRITTEN = "not written by the job (declared output not found in the sandbox)"
#: the reason of a job whose cancel batchdeck asked for, once the scheduler confirms
CANCELLED = "cancelled"
#: the reason shown while a job batchdeck asked to cancel is still listed
CANCEL_REQUESTED = "cancel requested"
#: the reason of a job nothing knows any more
LOST_REASON = "lost: the scheduler no longer knows this job"
#: longest pause between two checks of a lost (UNKNOWN) job, seconds
LOST_RECHECK_MAX = 3600.0


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def cancel_reason(job: JobRecord) -> str:
    """The reason of a job whose cancel is stored while the scheduler still lists it: "cancel
    requested at 16:40:02", and ", sent again at 16:41:05" once a poll sent the command again."""
    if job.cancel_requested is None:
        return CANCEL_REQUESTED
    text = f"{CANCEL_REQUESTED} at {_clock(job.cancel_requested)}"
    if job.cancel_sent is not None and job.cancel_sent != job.cancel_requested:
        text += f", sent again at {_clock(job.cancel_sent)}"
    return text


def job_tag(job: JobRecord) -> str:
    """The unique tag put in the scheduler's job name, so a lost job can be found again."""
    return f"{TAG_PREFIX}{job.id}"


def scheduler_job_name(job: JobRecord, max_length: int = 64) -> str:
    """``bd-<id>-<name>``: the tag first so truncation never cuts it, only safe characters."""
    safe = _SAFE_NAME.sub("_", job.spec.name).strip("_.-") or "job"
    return f"{job_tag(job)}-{safe}"[:max_length]


def tag_of(scheduler_name: str) -> str | None:
    """The batchdeck id carried by a scheduler job name, if any."""
    match = re.match(rf"^{TAG_PREFIX}([a-z0-9]{{8}})(?:-|$)", scheduler_name or "")
    return match.group(1) if match else None


def generic_filename_mapping(jobname: str, jobid: str, file_name: str) -> str:
    """Map placeholder STDOUT/STDERR names to the names batch systems use by default.

    ``<jobname>.o<jobid>`` / ``<jobname>.e<jobid>`` as PBS and Grid Engine write
    them; any other name is returned unchanged.
    """
    mapping = {
        "$PBS_JOBID.O": f"{jobname}.o{jobid}",
        "$PBS_JOBID.E": f"{jobname}.e{jobid}",
        "$PBS_JOBID.o": f"{jobname}.o{jobid}",
        "$PBS_JOBID.e": f"{jobname}.e{jobid}",
        "$JOB_ID.o": f"{jobname}.o{jobid}",
        "$JOB_ID.e": f"{jobname}.e{jobid}",
        "STDOUT": f"{jobname}.o{jobid}",
        "STDERR": f"{jobname}.e{jobid}",
    }
    return mapping.get(file_name, file_name)


@dataclass
class TransferReport:
    """What get_results did, file by file."""

    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: declared outputs the job did not write: reported, but no reason to fetch again (GC3Pie's
    #: behaviour), so they do not keep the job from TERMINATED
    missing: list[str] = field(default_factory=list)
    bytes_copied: int = 0

    @property
    def ok(self) -> bool:
        """Every wanted file is here (get's exit status)."""
        return not self.failed and not self.missing

    @property
    def fetched(self) -> bool:
        """Nothing left to fetch: every file there was copied or kept (missing outputs never will be)."""
        return not self.failed


@dataclass
class PollResult:
    """One refresh of a cluster: batchdeck's jobs updated, plus every job the scheduler listed."""

    changed: list[JobRecord] = field(default_factory=list)
    all_jobs: list[SchedulerJob] = field(default_factory=list)
    #: every active batchdeck job of the cluster as it now is (filled by the Deck):
    #: lets a client replace copies another process changed in the journal
    jobs: list[JobRecord] = field(default_factory=list)


#: The job's command died by signal N (the shell's 128+N): end the script by the same
#: signal, without a core dump and past any trap the prologue or epilogue set. Only
#: signals whose default action ends a process: a job that exits 147 on purpose is
#: never stopped by SIGSTOP (19).
RERAISE_SIGNAL_DEATH = """\
case $batchdeck_rc in
129|130|131|134|137|138|139|140|141|142|143)
  ulimit -c 0; trap - $((batchdeck_rc - 128)) 2>/dev/null; kill -$((batchdeck_rc - 128)) $$ ;;
esac"""


class CancelAnswer(enum.Enum):
    """What a scheduler answered to a cancel command."""

    DONE = "done"  # the scheduler takes the job away (deleted, or being killed)
    ALREADY_GONE = "already gone"  # it no longer knows the job: accounting tells how it ended
    ERROR = "error"  # refused (not the owner, scheduler down, ...)


@dataclass(frozen=True)
class CancelVerdict:
    answer: CancelAnswer
    #: the scheduler's own words, one line (for ERROR)
    message: str = ""


@dataclass(frozen=True)
class SubmitAnswer:
    """What a submit command's answer carries."""

    jobid: str
    #: the queue the scheduler put the job in, when it says (LSF's default queue)
    queue: str | None = None


def check_sendable_text(spec: JobSpec) -> None:
    """Refuse, in one line naming the field, a text of the job no command or script can carry:
    a NUL byte (it ends an argument and cuts a script) or a lone surrogate (a non-UTF-8 byte
    the CLI let through: the job script and SSH are UTF-8)."""
    fields: list[tuple[str, str | None]] = [
        ("name", spec.name), ("queue", spec.queue), ("stdout file", spec.stdout), ("stderr file", spec.stderr),
        ("script", spec.script), ("prologue", spec.prologue), ("epilogue", spec.epilogue),
        ("architecture", spec.architecture),
        *(("command", word) for word in spec.command), *(("argument", word) for word in spec.arguments),
        *(("output file", name) for name in spec.outputs), *(("directive", line) for line in spec.directives),
        *(("environment variable name", key) for key in spec.environment),
        *(("environment value", value) for value in spec.environment.values()),
        *(("input name", name) for name in spec.inputs.values()),
    ]  # fmt: skip
    for local in spec.inputs:
        # a local path may hold any byte but NUL (os.fsencode gives surrogates back their bytes)
        if "\x00" in local:
            raise InvalidJobSpec(f"input file {local!r} contains a NUL byte")
    for what, text in fields:
        if text is None:
            continue
        shown = repr(text) if len(text) <= 60 else repr(text[:57]) + "..."
        if "\x00" in text:
            raise InvalidJobSpec(f"{what} {shown} contains a NUL byte, which no command or script can carry")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJobSpec(f"{what} {shown} is not valid UTF-8 (a job's values are sent as UTF-8)") from None


class BatchSystem(abc.ABC):
    """Base class for every backend (GC3Pie's BatchSystem, async)."""

    #: the ``type`` key of a cluster's configuration
    type_name: ClassVar[str] = "batch"
    #: the JobSpec scheduler options (model.SCHEDULER_OPTIONS) this backend passes to its scheduler
    honoured_options: ClassVar[frozenset[str]] = frozenset()
    #: regular expression of the submit command's answer; group 1 is the job id
    submit_regexp: ClassVar[str] = r"(\d+)"
    #: longest job name the scheduler accepts
    max_job_name_length: ClassVar[int] = 64
    #: prefix of the directive lines in the job script, e.g. "#SBATCH"
    directive_prefix: ClassVar[str] = ""
    #: the scheduler copies a job's stdout/stderr to their place only when it ends
    #: (PBS, LSF); the job script then writes them into the sandbox itself, so that
    #: peek shows them while the job runs
    spools_output: ClassVar[bool] = False
    #: queue names the scheduler takes (None: any name without control characters);
    #: a name that reaches a directive line must not carry anything a shell or the
    #: scheduler's directive reader would misread
    queue_name_pattern: ClassVar[re.Pattern[str] | None] = None
    #: the job script records its exit status in the sandbox (exit_status.EXIT_FILE)
    #: as its last act; False where a runner of batchdeck's own already does it
    records_exit_status: ClassVar[bool] = True
    #: a job cancelled while pending gets an accounting record (Grid Engine's does not:
    #: there, vanishing after a confirmed cancel is the cancellation)
    accounts_cancelled_pending_jobs: ClassVar[bool] = True
    #: a failed command's words become one line (the reason continues on the next line: PBS, LSF)
    joins_error_lines: ClassVar[bool] = False
    #: the scheduler keeps only 7 bits of the script's exit status (SLURM: ``exit 137``
    #: reads ``9:0``, the same as ``exit 9``); the job script then ends by the signal
    #: that ended its command, so the scheduler records a signal death (``0:9``)
    reraises_signal_deaths: ClassVar[bool] = False
    #: batchdeck's own record is the only description of a job (local processes: no
    #: scheduler keeps one), so ``show`` reads it instead of ``details_argv``
    details_from_journal: ClassVar[bool] = False
    #: ``min_poll_interval`` when the config says none: a scheduler's controller is shared by
    #: every user of the cluster (local processes cost nobody else anything)
    default_min_poll_interval: ClassVar[float] = 1.0
    #: the environment variable that holds an array task's id inside the task (empty: no arrays)
    array_task_variable: ClassVar[str] = ""
    #: what the scheduler replaces by the task id in its -o/-e paths (empty: it names them itself)
    array_output_pattern: ClassVar[str] = ""
    #: the scheduler keeps accounting of ended jobs that ``history`` can read (local processes: none)
    keeps_accounting: ClassVar[bool] = True
    #: set once prepare() succeeded for the current connection
    _prepared: bool = False
    #: set once the scheduler's own limits (``limits_argv``) were asked on this connection
    _limits_learnt: bool = False

    #: the keys only this scheduler understands; a backend declares its own subclass beside it
    settings_class: ClassVar[type[SchedulerSettings]] = SchedulerSettings

    def __init__(
        self, settings: ClusterSettings | str, transport: Transport | str | None = None, **keys: Any
    ) -> None:
        """A cluster's validated settings, and optionally a ready Transport (tests).

        GC3Pie's form works too: ``LocalBatchSystem("x", sandbox_root=…, max_cores=2)``
        builds the settings through the same converters, so a wrong key or value
        is the same one-line ConfigError as in the file. A string ``transport``
        is the ``transport`` key; ``None`` values count as not given.
        """
        if isinstance(transport, str):
            keys["transport"] = transport
            transport = None
        if isinstance(settings, str):
            given = {k: v for k, v in keys.items() if v is not None}
            settings = build_cluster(settings, given, settings_class=self.settings_class, type_name=self.type_name)
        elif keys:
            raise TypeError("give either a ClusterSettings or keys, not both")
        self.settings = settings
        limits, ssh = settings.limits, settings.ssh
        self.name = settings.name
        self.architecture = settings.architecture
        self.max_cores = limits.max_cores
        self.max_cores_per_job = limits.max_cores_per_job
        self.max_memory_per_core = limits.max_memory_per_core
        self.max_walltime = limits.max_walltime
        self.auth = settings.auth
        self.frontend = ssh.frontend
        self.accounting_delay = (
            DEFAULT_ACCOUNTING_DELAY if settings.accounting_delay is None else settings.accounting_delay
        )
        self.ssh_config = ssh.ssh_config
        self.keyfile = ssh.keyfile
        self.ignore_ssh_host_keys = ssh.ignore_ssh_host_keys
        # The limit every command of the methods is given (SshSettings.command_limit).
        self.ssh_timeout: float = ssh.command_limit
        self.large_file_threshold = ssh.large_file_threshold
        self.large_file_chunk_size = ssh.large_file_chunk_size
        self.port = ssh.port
        self.username = ssh.username
        self.known_hosts = ssh.known_hosts
        self.sandbox_root_setting: str = settings.sandbox_root
        self.prologue = settings.prologue
        self.epilogue = settings.epilogue
        self.poll_interval = settings.poll_interval
        self.submit_timeout = settings.submit_timeout
        if transport is not None:
            self.transport = transport
        else:
            from ..transports.factory import make_transport

            self.transport = make_transport(settings.transport, ssh)
        self._sandbox_root: str | None = None

    # ------------------------------------------------------------------ setup

    async def connect(self) -> None:
        await self.transport.connect()
        if self._sandbox_root is None:
            root = self.sandbox_root_setting
            if root == "~" or root.startswith("~/"):
                root = (await self.transport.home()).rstrip("/") + root[1:]
            self._sandbox_root = posixpath.normpath(root)
        if not self._prepared:
            await self.prepare()
            self._prepared = True

    async def close(self) -> None:
        """Release the connection to the frontend."""
        self._prepared = False
        self._limits_learnt = False
        await self.transport.close()

    @property
    def sandbox_root(self) -> str:
        if self._sandbox_root is None:
            raise BatchdeckError(f"cluster {self.name!r} is not connected yet")
        return self._sandbox_root

    def sandbox_path(self, job: JobRecord) -> str:
        return posixpath.join(self.sandbox_root, job.id)

    def is_inside_root(self, path: str) -> bool:
        root = self.sandbox_root.rstrip("/") + "/"
        norm = posixpath.normpath(path)
        return norm.startswith(root) and norm != root.rstrip("/") and ".." not in norm.split("/")

    # ------------------------------------------------------------------ validation

    def validate_data(self, data_file_list: Sequence[str]) -> bool:
        """True if every file is one this backend can transfer: local paths or file:// URLs."""
        for item in data_file_list:
            text = str(item)
            if "://" in text and not text.startswith("file://"):
                return False
        return True

    def check_limits(self, spec: JobSpec) -> None:
        """Refuse, before anything is sent, a job over the cluster's limits; the message names the limit."""
        if spec.cores < 1:
            raise LimitExceeded(f"a job needs at least 1 core, got {spec.cores}")
        per_job = self.max_cores_per_job
        if per_job is not None and spec.cores > per_job:
            raise LimitExceeded(
                f"job asks for {spec.cores} cores but cluster {self.name!r} allows at most "
                f"{per_job} per job (max_cores_per_job)"
            )
        if self.max_cores is not None and spec.cores > self.max_cores:
            raise LimitExceeded(
                f"job asks for {spec.cores} cores but cluster {self.name!r} has {self.max_cores} (max_cores)"
            )
        if (
            self.max_memory_per_core is not None
            and spec.memory_per_core is not None
            and spec.memory_per_core > self.max_memory_per_core
        ):
            raise LimitExceeded(
                f"job asks for {format_memory(spec.memory_per_core)} per core but cluster {self.name!r} "
                f"allows at most {format_memory(self.max_memory_per_core)} (max_memory_per_core)"
            )
        if self.max_walltime is not None and spec.walltime is not None and spec.walltime > self.max_walltime:
            raise LimitExceeded(
                f"job asks for a walltime of {format_walltime(spec.walltime)} but cluster {self.name!r} "
                f"allows at most {format_walltime(self.max_walltime)} (max_walltime)"
            )
        if spec.architecture is not None:
            # GC3Pie's brokering rule: a cluster serves a job only if it has the architecture asked for.
            try:
                wanted = normalize_architecture(spec.architecture)
            except ValueError as exc:
                raise InvalidJobSpec(f"architecture: {exc}") from None
            if wanted not in self.architecture:
                has = f"has {', '.join(self.architecture)}" if self.architecture else "declares none"
                raise LimitExceeded(
                    f"job asks for architecture {wanted} but cluster {self.name!r} {has} (architecture)"
                )

    def validate_spec(self, spec: JobSpec) -> None:
        check_sendable_text(spec)
        if spec.array is not None:
            try:
                self.check_array(parse_task_array(spec.array))
            except ValueError as exc:
                raise InvalidJobSpec(f"array {spec.array!r}: {exc}") from None
        if bool(spec.command) == bool(spec.script):
            raise InvalidJobSpec("a job needs either a command or a script (not both, not neither)")
        if spec.memory_per_core is not None and spec.memory_per_core <= 0:
            raise InvalidJobSpec("memory per core must be positive")
        if spec.walltime is not None and spec.walltime <= 0:
            raise InvalidJobSpec("walltime must be positive")
        check_user_paths(spec)
        if spec.queue is not None and (not spec.queue.strip() or any(ord(c) < 32 for c in spec.queue)):
            raise InvalidJobSpec(f"queue name {spec.queue!r} is empty or contains control characters")
        if spec.queue is not None and self.queue_name_pattern is not None:
            if not self.queue_name_pattern.match(spec.queue):
                raise InvalidJobSpec(f"queue name {spec.queue!r} is not valid")
        for key in spec.environment:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise InvalidJobSpec(f"environment variable name {key!r} is not valid")
        if not self.validate_data(list(spec.inputs)):
            raise InvalidJobSpec("only local input files are supported")
        for local in spec.inputs:
            path = local[len("file://") :] if local.startswith("file://") else local
            if not os.path.exists(path):
                raise InvalidJobSpec(f"input file {local!r} does not exist")
        for message in self.unhonoured_options(spec).values():
            raise InvalidJobSpec(message)
        self.check_spec(spec)
        self.check_limits(spec)

    async def learn_limits(self) -> bool:
        """Ask the scheduler, once per connection and only before a submit, what one job may
        ask of it (``limits_argv``); ``check_spec`` then holds each job against the answer.
        Returns whether the scheduler has such a command (there is something to hold it against)."""
        argv = self.limits_argv()
        if argv is not None and not self._limits_learnt:
            self.parse_limits_output(await self._run(argv, check=False))
        self._limits_learnt = True
        return argv is not None

    async def validate_submission(self, spec: JobSpec) -> None:
        """The one validation of a submit, and of ``submit --dry-run``: ``validate_spec`` (no
        connection needed, so a wrong job is refused before one is made), then the one
        ``connect`` and, where the scheduler tells its limits, ``check_spec`` once more against them.
        Raises what ``validate_spec``, ``connect`` and ``check_spec`` raise."""
        self.validate_spec(spec)
        await self.connect()
        if await self.learn_limits():
            self.check_spec(spec)

    def unhonoured_options(self, spec: JobSpec) -> dict[str, str]:
        """The scheduler options ``spec`` sets that this backend cannot pass on (option -> one line).

        Refused rather than dropped: a job that silently ran without its account or GPUs
        would be worse than no job.
        """
        return {
            name: f"{SCHEDULER_OPTIONS[name]}: the {self.type_name} scheduler (cluster {self.name!r}) cannot honour it"
            for name in spec.scheduler_options()
            if name not in self.honoured_options
        }

    # ------------------------------------------------------------------ job script

    def get_prologue_script(self, job: JobRecord) -> str:
        """The cluster's prologue and the job's own, merged (cluster first)."""
        return _merge_scripts(self.prologue, job.spec.prologue)

    def get_epilogue_script(self, job: JobRecord) -> str:
        """The job's epilogue and the cluster's, merged (job first)."""
        return _merge_scripts(job.spec.epilogue, self.epilogue)

    def output_paths(self, job: JobRecord, sandbox: str) -> tuple[str, str]:
        """Where the scheduler's own stdout/stderr options (-o/-e) point.

        An array's tasks write their own files (``task_files``: the job script redirects
        itself), so the scheduler's files are only a per-task catch-all in the control folder.
        """
        if job.spec.array:
            control = posixpath.join(sandbox, CONTROL_DIR)
            pattern = self.array_output_pattern
            return (
                posixpath.join(control, f"task-{pattern}.out" if pattern else "task.out"),
                posixpath.join(control, f"task-{pattern}.err" if pattern else "task.err"),
            )
        if self.spools_output:
            control = posixpath.join(sandbox, CONTROL_DIR)
            return posixpath.join(control, "scheduler.out"), posixpath.join(control, "scheduler.err")
        out = posixpath.join(sandbox, safe_relative_path(job.spec.stdout))
        err = posixpath.join(sandbox, safe_relative_path(job.spec.stderr))
        return out, err

    def _self_redirect(self, job: JobRecord) -> list[str]:
        out = safe_relative_path(job.spec.stdout)
        err = safe_relative_path(job.spec.stderr)
        # an array task's files go into its own folder, TASK/ (``task_files``)
        task = '"$batchdeck_task"/' if job.spec.array else ""
        lines = []
        dirs = sorted({posixpath.dirname(p) for p in (out, err)} - {""})
        if job.spec.array:
            lines.append('mkdir -p -- "$batchdeck_task"' + "".join(f" {task}{shlex.quote(d)}" for d in dirs))
        elif dirs:
            lines.append("mkdir -p -- " + " ".join(shlex.quote(d) for d in dirs))
        if out == err:
            lines.append(f"exec > {task}{shlex.quote(out)} 2>&1")
        else:
            lines.append(f"exec > {task}{shlex.quote(out)} 2> {task}{shlex.quote(err)}")
        return lines

    def job_body(self, job: JobRecord, sandbox: str) -> str:
        """The part of the job script that runs the user's work, between prologue and epilogue."""
        spec = job.spec
        if spec.script is not None:
            argv = [posixpath.join(sandbox, USER_SCRIPT), *spec.arguments]
        else:
            argv = [*spec.command, *spec.arguments]
        return shlex.join(argv)

    def render_script(self, job: JobRecord, sandbox: str) -> str:
        lines = ["#!/bin/bash"]
        passed = [d for d in job.spec.directives if self.directive_prefix and d.startswith(self.directive_prefix + " ")]
        # the script's own directives after batchdeck's: where both set an option, the user's wins
        for directive in [*self.script_directives(job, sandbox), *passed]:
            # A directive is a shell comment: a line break in a value would start a
            # line that bash runs. No scheduler can take such a value anyway.
            if any(c in directive for c in "\n\r\x00"):
                raise InvalidJobSpec(
                    f"cannot write the scheduler directive {directive.splitlines()[0]!r}...: "
                    "a value (queue, name or file name) contains a line break"
                )
            lines.append(directive)
        lines.append(f"# batchdeck job {job.id} on cluster {self.name}")
        lines.append(f"cd {shlex.quote(sandbox)} || exit 1")
        if job.spec.array:
            # a task id that is not a number would name a folder outside TASK/: refused
            variable = self.task_variable()
            lines.append(f'batchdeck_task="${{{variable}}}"')
            lines.append('case "$batchdeck_task" in ""|*[!0-9]*) echo "batchdeck: not an array task" >&2; exit 1;; esac')
            lines.append("export BATCHDECK_TASK_ID=$batchdeck_task")
        if self.spools_output or job.spec.array:
            lines += self._self_redirect(job)
        for key, value in job.spec.environment.items():
            lines.append(f"export {key}={shlex.quote(value)}")
        prologue = self.get_prologue_script(job)
        if prologue:
            lines += ["# --- prologue", prologue.rstrip("\n")]
        lines += ["# --- job", self.job_body(job, sandbox), "batchdeck_rc=$?"]
        epilogue = self.get_epilogue_script(job)
        if epilogue:
            lines += ["# --- epilogue", epilogue.rstrip("\n")]
        ending = (
            exit_status.script_lines(sandbox, per_task=bool(job.spec.array))
            if self.records_exit_status
            else ["exit $batchdeck_rc"]
        )
        if self.reraises_signal_deaths:
            ending.insert(-1, RERAISE_SIGNAL_DEATH)  # after the exit-status file is written
        lines += ending
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ commands: the one error path

    def describe_command(self, argv: Sequence[str]) -> str:
        """Optional hook: the name a failed command's message starts with.

        Receives the command's argv; returns its name (default: the program). Raises nothing."""
        return str(argv[0])

    def command_error(self, result: CommandResult, what: str | None = None) -> SchedulerError:
        """The one way a failed command becomes an error: the scheduler's own words (``command_error``)."""
        return command_error(what or self.describe_command(result.argv), result, joined=self.joins_error_lines)

    async def _run(
        self,
        argv: Sequence[str],
        what: str | None = None,
        *,
        stdin: bytes | None = None,
        cwd: str | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run one scheduler command with the cluster's command timeout.

        With ``check`` a non-zero exit raises ``command_error`` (naming ``what``,
        by default the program); without, the result is returned for a hook to
        classify. Transport failures propagate as ``TransportError``.
        """
        result = await self.transport.run(list(argv), stdin=stdin, cwd=cwd, timeout=self.ssh_timeout)
        if check and not result.ok:
            raise self.command_error(result, what)
        return result

    async def run_command(
        self, argv: Sequence[str], what: str | None = None, *, check: bool = True, stdin: bytes | None = None
    ) -> CommandResult:
        """``_run`` for the engine (details, control, history of any job), after ``connect``: the
        same timeout and the same one error path (``command_error``) as the hooks' own commands."""
        return await self._run(argv, what, check=check, stdin=stdin)

    # ------------------------------------------------------------------ submission

    def get_jobid_from_submit_output(self, output: str, regexp: str) -> str:
        """Parse the submit command's answer; regexp's first group is the job id."""
        match = re.search(regexp, output or "")
        if not match:
            raise ParseError(f"{self.type_name} submit output", "no job id found", output)
        return match.group(1)

    async def _submit(self, job: JobRecord, script_path: str) -> str:
        argv, stdin = self.submit_argv(job, script_path)
        result = await self._run(argv, stdin=stdin, cwd=job.sandbox, check=False)
        answer = self.parse_submit_output(job, result)
        if answer.queue:
            job.queue = answer.queue
        return answer.jobid

    async def submit_job(
        self,
        job: JobRecord,
        on_prepared: Callable[[JobRecord], Awaitable[None] | None] | None = None,
        validated: bool = False,
    ) -> JobRecord:
        """Create the sandbox, copy the inputs, write the job script and submit it.

        ``on_prepared`` is called when the sandbox is ready and just before the
        scheduler is asked, so the caller can record the job first: a crash
        between submit and record then leaves a job that can be found again by
        its tag.
        """
        if job.state != RunState.NEW:
            raise InvalidStateTransition(f"job {job.id} was already submitted (state {job.state})")
        if not validated:  # else the caller (Deck.submit) ran validate_submission, which connected
            await self.validate_submission(job.spec)
        sandbox = self.sandbox_path(job)
        job.sandbox = sandbox
        await self.transport.makedirs(posixpath.join(sandbox, CONTROL_DIR))
        if job.spec.inputs:
            await self._place_inputs(job, sandbox)
        for folder in output_folders(job.spec):
            # The scheduler opens stdout/stderr before the job runs (SLURM fails, Grid Engine goes to Eqw)
            await self.transport.makedirs(posixpath.join(sandbox, folder))
        if job.spec.script is not None:
            await self.transport.write_file(
                posixpath.join(sandbox, USER_SCRIPT), job.spec.script.encode(), mode=0o700
            )
        script_path = posixpath.join(sandbox, JOB_SCRIPT)
        # for the user only: it carries the prologue and the --env values
        await self.transport.write_file(script_path, self.render_script(job, sandbox).encode(), mode=0o600)
        for name, (data, mode) in self.control_files(job, sandbox).items():
            await self.transport.write_file(posixpath.join(sandbox, CONTROL_DIR, name), data, mode=mode)
        job.queue = job.spec.queue
        if on_prepared is not None:
            maybe = on_prepared(job)
            if maybe is not None:
                await maybe
        job.jobid = await self._submit(job, script_path)
        job.last_seen = time.time()
        job.transition(RunState.SUBMITTED, "submitted")
        return job

    async def _place_inputs(self, job: JobRecord, sandbox: str) -> None:
        """Copy the inputs into ``INCOMING`` (inside the control folder, never a user path), then
        rename each into place: a copy cut short (a killed submit, a dropped connection) never
        sits under the name the job reads. Runs before any other user path exists in the fresh
        sandbox, so every rename lands on a free name."""
        incoming = posixpath.join(sandbox, INCOMING)
        pairs = []
        tops: dict[str, None] = {}
        for local, remote in job.spec.inputs.items():
            path = local[len("file://") :] if local.startswith("file://") else local
            relative = safe_relative_path(remote)
            pairs.append((path, posixpath.join(incoming, relative)))
            # an input inside another input's folder moves with that folder
            tops[relative.split("/", 1)[0]] = None
        await self.transport.put_files(pairs)
        await self._run(["sh", "-c", PLACE_INPUTS_SCRIPT, "sh", sandbox, INCOMING, *tops], "placing the inputs")

    # ------------------------------------------------------------------ state

    async def _status_listing(self, argv_hook: Callable[[], list[str]], parse: Callable[[CommandResult], _T | None]) -> _T:
        """Run a query whose parser may answer "this form is not supported here, ask again"."""
        argv: list[str] = []
        for _attempt in range(3):
            argv = argv_hook()
            result = await self._run(argv, check=False)
            parsed = parse(result)
            if parsed is not None:
                return parsed
        raise SchedulerError(self.describe_command(argv), "no form of this query is supported by the scheduler")

    async def query_jobs(self) -> list[SchedulerJob]:
        """All of the user's jobs the scheduler lists now: ONE command (plus an optional follow-up)."""
        await self.connect()
        jobs = await self._status_listing(self.status_argv, self.parse_status_output)
        follow_up = self.status_followup_argv(jobs)
        if follow_up:
            jobs = self.parse_status_followup(jobs, await self._run(follow_up, check=False))
        return jobs

    async def query_finished(self, jobids: Sequence[str]) -> dict[str, SchedulerJob]:
        """Jobs that left the queue, from accounting: ONE batched command per alternative.

        Alternatives (``accounting_argv`` attempt 0, 1, ...) are asked in turn for
        the ids still unanswered. A hook's ``SchedulerError`` is raised only when no
        later alternative answered for every id. Unknown ids are left out.

        An answer that the job is still queued or running, for a job the queue no
        longer lists, is accounting lagging behind the scheduler (slurmdbd records
        a cancel seconds after slurmctld forgot the job): the later alternatives are
        asked too, and a final answer from one of them wins.
        """
        rest = [j for j in dict.fromkeys(jobids) if j]
        found: dict[str, SchedulerJob] = {}
        error: SchedulerError | None = None
        if rest:
            await self.connect()
        for attempt in itertools.count():
            if not rest:
                break
            argv = self.accounting_argv(rest, attempt)
            if argv is None:
                break
            result = await self._run(argv, check=False)
            try:
                answer = self.parse_accounting_output(rest, result, attempt)
            except SchedulerError as exc:
                error = error or exc
                continue
            by_key = {self.jobid_key(jobid): info for jobid, info in answer.items()}
            for jobid in rest:
                info = by_key.get(self.jobid_key(jobid))
                if info is not None and (jobid not in found or not info.state.is_active):
                    info.jobid = jobid
                    found[jobid] = info
            rest = [j for j in rest if j not in found or found[j].state.is_active]
        if error is not None and any(j not in found for j in rest):
            raise error
        return found

    async def _read_exit_files(self, jobs: Sequence[JobRecord]) -> dict[str, SchedulerJob]:
        """How jobs gone from queue and accounting ended, from their exit-status files: ONE command."""
        with_sandbox = [job for job in jobs if job.sandbox and job.jobid]
        if not self.records_exit_status or not with_sandbox:
            return {}
        statuses = await self.read_exit_statuses([job.sandbox or "" for job in with_sandbox])
        return {
            job.jobid or "": exit_status.job_from_exit_status(job.jobid or "", statuses[job.sandbox or ""])
            for job in with_sandbox
            if job.sandbox in statuses
        }

    async def read_exit_statuses(self, sandboxes: Sequence[str]) -> dict[str, int]:
        """``{sandbox: exit status}`` of the sandboxes whose job script wrote its exit-status file:
        ONE command for all of them ({} when this backend's jobs write none)."""
        if not self.records_exit_status or not sandboxes:
            return {}
        await self.connect()
        result = await self._run(exit_status.read_argv(list(sandboxes)))
        return exit_status.parse_exit_files(result.stdout)

    async def list_jobs(self) -> list[SchedulerJob]:
        """All of the user's jobs the scheduler knows, not only batchdeck's."""
        return await self.query_jobs()

    async def list_queues(self) -> list[QueueInfo]:
        """The scheduler's queues with their limits and load: the commands of ``queues_argv``."""
        await self.connect()

        async def ask() -> list[QueueInfo] | None:
            results = [await self._run(argv, check=False) for argv in self.queues_argv()]
            return self.parse_queues_output(results)

        for _attempt in range(3):
            queues = await ask()
            if queues is not None:
                return queues
        raise SchedulerError(self.type_name, "no form of the queue listing is supported by the scheduler")

    async def update_job_state(self, job: JobRecord) -> RunState:
        """Query the scheduler for one job and update it; returns its state."""
        await self.update_job_states([job])
        return job.state

    def _due_for_recheck(self, job: JobRecord, now: float) -> bool:
        """A job already UNKNOWN (lost) is asked about again with back-off, not on every refresh.

        The back-off is in the record (``recheck_at``), so every process keeps it: a
        CLI run or a second app does not ask about a lost job before it is due either.
        """
        if job.state != RunState.UNKNOWN:
            return True
        return job.recheck_at is None or now >= job.recheck_at

    def _schedule_recheck(self, job: JobRecord, now: float) -> None:
        interval = job.recheck_interval * 2 if job.recheck_interval else max(self.accounting_delay, 30.0)
        interval = min(interval, LOST_RECHECK_MAX)
        job.recheck_interval = interval
        job.recheck_at = now + interval

    async def update_job_states(self, jobs: Sequence[JobRecord]) -> PollResult:
        """Update many jobs of this cluster with one queue query (plus one accounting query).

        Jobs missing from the queue are asked of accounting in one batch; those it
        has not known for ``accounting_delay`` are read from their exit-status
        files in one command. A job none of them answers for then becomes UNKNOWN
        (or, if batchdeck asked to cancel it, cancelled) and is re-checked with
        back-off, never on every refresh.
        """
        await self.connect()
        listed = await self.query_jobs()
        by_key = {self.jobid_key(info.jobid): info for info in listed}
        active = [job for job in jobs if job.jobid and job.state.is_active]
        # an array job is its tasks: they are read from the same listing and accounting query
        arrays = [job for job in active if job.spec.array]
        active = [job for job in active if not job.spec.array]
        now = time.time()
        seen: dict[str, SchedulerJob] = {}
        for job in active:
            info = by_key.get(self.jobid_key(job.jobid or ""))
            if info is not None:
                info.jobid = job.jobid or info.jobid
                seen[job.id] = info
        missing = [job for job in active if job.id not in seen and self._due_for_recheck(job, now)]
        task_ids = self._list_tasks(arrays, listed, now)
        if missing or task_ids:
            finished = await self.query_finished([job.jobid or "" for job in missing] + list(task_ids))
            array_changes = await self._settle_tasks(arrays, task_ids, finished, now)
            # Accounting may lag behind the queue, and it alone has the scheduler's
            # verdict (timeout, memory...): the job's own file is asked only once
            # accounting had accounting_delay to answer.
            overdue = [
                job
                for job in missing
                if (job.jobid or "") not in finished
                and now - (job.last_seen or job.submitted or job.created) > self.accounting_delay
            ]
            if overdue:
                finished.update(await self._read_exit_files(overdue))
            for job in missing:
                info = finished.get(job.jobid or "")
                if info is not None:
                    seen[job.id] = info
        # by id: `job in missing` compares records field by field, n² of them (20 s on the
        # event loop for 4,000 vanished jobs)
        else:
            array_changes = await self._settle_tasks(arrays, {}, {}, now)
        missing_ids = {job.id for job in missing}
        result = PollResult(all_jobs=listed)
        result.changed.extend(array_changes)
        for job in active:
            info = seen.get(job.id)
            if info is not None:
                job.recheck_at = job.recheck_interval = None
                job.last_seen = now
                job.stale = False
                if self.apply_status(job, info):
                    result.changed.append(job)
            elif job.id in missing_ids:
                if self._resolve_vanished(job, now):
                    result.changed.append(job)
        return result

    def _array_tasks(self, job: JobRecord) -> list[int]:
        return parse_task_array(job.spec.array or "").tasks()

    def _list_tasks(self, arrays: Sequence[JobRecord], listed: Sequence[SchedulerJob], now: float) -> dict[str, tuple[JobRecord, int]]:
        """Copy each listed task into its array's record; the ids (``task_jobid``) of the tasks
        still active in a record that the listing no longer shows, for accounting."""
        rows: dict[str, list[SchedulerJob]] = {}
        for info in listed:
            if info.array_id:
                rows.setdefault(self.jobid_key(info.array_id), []).append(info)
        ask: dict[str, tuple[JobRecord, int]] = {}
        for job in arrays:
            shown: dict[int, SchedulerJob] = {}
            for info in rows.get(self.jobid_key(job.jobid or ""), []):
                for task in task_states.listed_task_ids(info.array_task):
                    shown[task] = info
            if shown:
                job.last_seen = now
                job.stale = False
            for task in self._array_tasks(job):
                if task in shown:
                    job.tasks[str(task)] = task_states.task_state(shown[task])
                elif str(task) in job.tasks and job.tasks[str(task)].state.is_active:
                    ask[self.task_jobid(job.jobid or "", task)] = (job, task)
                elif str(task) not in job.tasks and not shown:
                    # never seen: the array may have left the queue before any refresh saw it
                    ask[self.task_jobid(job.jobid or "", task)] = (job, task)
        return ask

    async def _settle_tasks(
        self, arrays: Sequence[JobRecord], asked: dict[str, tuple[JobRecord, int]],
        finished: dict[str, SchedulerJob], now: float,
    ) -> list[JobRecord]:  # fmt: skip
        """Tasks from accounting, then from their exit-status files once accounting had
        ``accounting_delay``; then each array's state from its tasks. Returns the changed records."""
        overdue: dict[str, list[int]] = {}
        for task_jobid, (job, task) in asked.items():
            info = finished.get(task_jobid)
            if info is not None and not info.state.is_active:
                job.tasks[str(task)] = task_states.task_state(info)
            elif now - (job.last_seen or job.submitted or job.created) > self.accounting_delay:
                overdue.setdefault(job.id, []).append(task)
        by_id = {job.id: job for job in arrays}
        for job_id, tasks in overdue.items():
            job = by_id[job_id]
            statuses = await self._read_task_exit_files(job, tasks)
            for task in tasks:
                if task in statuses:
                    info = exit_status.job_from_exit_status(job.jobid or "", statuses[task])
                    job.tasks[str(task)] = task_states.task_state(info)
                else:
                    job.tasks[str(task)] = task_states.lost_task()
        changed = []
        for job in arrays:
            before = {t: dataclasses.replace(info) for t, info in job.tasks.items()}
            summary = task_states.summarise(job.jobid or "", self._array_tasks(job), job.tasks)
            moved = summary is not None and self.apply_status(job, summary)
            if moved or before != job.tasks or job.id in overdue:
                changed.append(job)
        return changed

    async def _read_task_exit_files(self, job: JobRecord, tasks: list[int]) -> dict[int, int]:
        if not self.records_exit_status or not job.sandbox:
            return {}
        result = await self._run(exit_status.read_tasks_argv(job.sandbox, tasks))
        return {int(task): status for task, status in exit_status.parse_exit_files(result.stdout).items()}

    def _resolve_vanished(self, job: JobRecord, now: float) -> bool:
        """A job neither the queue, accounting nor its sandbox answers for. True if it changed."""
        waited = now - (job.last_seen or job.submitted or job.created)
        self._recall_cancel(job)
        never_accounted = job.state != RunState.RUNNING and not self.accounts_cancelled_pending_jobs
        if job.cancel_requested is not None and (never_accounted or waited > self.accounting_delay):
            # Deleted while pending, some schedulers never account for it; else
            # accounting had accounting_delay to say otherwise.
            job.transition(RunState.TERMINATED, CANCELLED)
            job.reason = CANCELLED
            return True
        if waited <= self.accounting_delay:
            return False
        # the next check's time is part of the record: always a change to write
        self._schedule_recheck(job, now)
        if job.transition(RunState.UNKNOWN, LOST_REASON):
            job.reason = LOST_REASON
        return True

    def apply_status(self, job: JobRecord, info: SchedulerJob) -> bool:
        """Copy a scheduler's record into the run record; True if anything changed.

        After a cancel request (``job.cancel_requested``) a job the scheduler
        reports ended without a real exit code (killed: a signal, or no code at
        all) reads as cancelled: SGE's ``failed 100``, TORQUE's exit 271, an LSF
        kill. One that ran to its end keeps its own outcome.
        """
        if self._recall_cancel(job) is not None:
            if info.state == RunState.TERMINATING and (info.signal is not None or info.exitcode is None):
                info = dataclasses.replace(
                    info, state=RunState.TERMINATED, reason=CANCELLED, outcome=Outcome.CANCELLED
                )
            elif info.state.is_active:
                suffix = f" ({info.reason})" if info.reason else ""
                info = dataclasses.replace(info, reason=cancel_reason(job) + suffix)
        before = (job.state, job.raw_state, job.reason, job.exitcode, job.signal, job.queue)
        job.raw_state = info.raw_state
        job.reason = info.reason
        if info.queue:
            job.queue = info.queue
        if info.exitcode is not None:
            job.exitcode = info.exitcode
        if info.signal is not None:
            job.signal = info.signal
        if info.start_time and not job.started:
            job.started = info.start_time
        try:
            job.transition(info.state, info.reason or info.raw_state)
        except InvalidStateTransition:
            # A late, stale answer (e.g. RUNNING after we saw it finish) is ignored.
            pass
        if info.end_time and job.state in (RunState.TERMINATING, RunState.TERMINATED):
            job.finished = info.end_time
        settled = job.set_outcome(info.outcome)  # only once the job has finished
        return settled or before != (job.state, job.raw_state, job.reason, job.exitcode, job.signal, job.queue)

    # ------------------------------------------------------------------ cancel

    async def cancel_job(
        self, job: JobRecord, on_intent: Callable[[JobRecord], Awaitable[None] | None] | None = None
    ) -> CancelVerdict | None:
        """Ask the scheduler to cancel the job; its state changes when the scheduler confirms.

        The request is remembered in the record (``cancel_requested``) and handed to
        ``on_intent`` BEFORE the scheduler's command runs, so the caller stores it
        first: a batchdeck killed between the command and the next write, another
        process or a racing poll still reads the job's end as cancelled. A definite
        refusal or "no such job" takes the request back (``cancel_requested`` as it
        was, for the caller to store); a command that never answered (timeout, link
        lost) raises and leaves the request standing: it may have reached the
        scheduler. Returns the scheduler's verdict (None: nothing was sent).
        """
        if not job.jobid:
            if job.state == RunState.NEW:
                job.transition(RunState.TERMINATED, "cancelled before submission")
                job.reason = CANCELLED
                return None
            raise BatchdeckError(f"job {job.id} has no scheduler job id")
        if not job.state.is_active:
            raise BatchdeckError(f"job {job.id} is {job.state}: nothing to cancel")
        await self.connect()
        argv = self.cancel_argv(job.jobid)
        previous, previous_sent = job.cancel_requested, job.cancel_sent
        job.cancel_requested = time.time()
        if on_intent is not None:
            maybe = on_intent(job)
            if maybe is not None:
                await maybe
        # Sent from here on, as far as this record knows: stored by the caller after the command
        # answered. A batchdeck killed before that leaves the intent without it, and the next poll
        # of any process sends the cancel again (``cancel_due``).
        job.cancel_sent = job.cancel_requested
        result = await self._run(argv, check=False)
        verdict = self.classify_cancel_output(result)
        if verdict.answer != CancelAnswer.DONE:
            job.cancel_requested, job.cancel_sent = previous, previous_sent
        else:
            self._cancel_requests()[job.id] = job.cancel_requested
        # An id the scheduler no longer knows is not an error that may lose the
        # job: the poll resolves it through accounting.
        await self.update_job_states([job])
        if verdict.answer == CancelAnswer.ERROR and job.state.is_active and job.state != RunState.UNKNOWN:
            raise SchedulerError(self.describe_command(argv), verdict.message or f"exit status {result.exit_status}")
        return verdict

    def cancel_due(self, job: JobRecord, now: float) -> bool:
        """The job's cancel is stored but the scheduler still lists it queued, running or held, and no
        cancel command went out for it within the last poll interval: the poll sends it again
        (``send_cancel``). One stored without ``cancel_sent`` (the process that stored it was killed
        before its command, or is sending it right now) counts from the request: the process sending
        it is not raced, whose "already gone" answer would take the intent back."""
        if job.cancel_requested is None or not job.jobid:
            return False
        if job.state not in (RunState.SUBMITTED, RunState.RUNNING, RunState.STOPPED):
            return False
        last = job.cancel_sent if job.cancel_sent is not None else job.cancel_requested
        return now - last >= self.poll_interval

    async def send_cancel(self, job: JobRecord) -> CancelVerdict:
        """The scheduler's cancel command for a job whose cancel is already stored (``cancel_due``);
        the caller has stored ``cancel_sent`` first. The verdict only tells: the next poll reads how
        the job ended, and a job the scheduler forgot is resolved through accounting."""
        await self.connect()
        result = await self._run(self.cancel_argv(job.jobid or ""), check=False)
        verdict = self.classify_cancel_output(result)
        if verdict.answer == CancelAnswer.DONE and job.cancel_requested is not None:
            self._cancel_requests()[job.id] = job.cancel_requested
        return verdict

    def _cancel_requests(self) -> dict[str, float]:
        # {job id: when}: the cancels this backend sent. The record's field is the
        # truth; this only hands it to another copy of the same job loaded before
        # the cancel (a refresh in flight), which then saves it with the field set.
        table: dict[str, float] | None = getattr(self, "_cancel_table", None)
        if table is None:
            table = {}
            self._cancel_table = table
        return table

    def _recall_cancel(self, job: JobRecord) -> float | None:
        """The job's cancel request, from its record or from this backend's own cancels."""
        if job.cancel_requested is None:
            job.cancel_requested = self._cancel_requests().get(job.id)
        return job.cancel_requested

    # ------------------------------------------------------------------ files

    async def peek(
        self,
        job: JobRecord,
        remote_filename: str,
        local_file: str | os.PathLike[str] | IO[bytes],
        offset: int = 0,
        size: int | None = None,
    ) -> int:
        """Copy ``size`` bytes at ``offset`` of a sandbox file into ``local_file``.

        ``offset`` < 0 counts from the end; ``size`` None reads to the end. A path
        is created or overwritten; a file object is written at its position and
        left just after the written bytes. Returns the remote file's size.
        """
        if isinstance(local_file, (str, os.PathLike)):
            with open(local_file, "wb") as handle:
                return await self._peek_into(job, remote_filename, handle, offset, size)
        return await self._peek_into(job, remote_filename, local_file, offset, size)

    async def _peek_into(
        self, job: JobRecord, remote_filename: str, out: IO[bytes], offset: int, size: int | None
    ) -> int:
        # In bounded reads: memory stays one chunk and no remote command runs long
        # enough to meet the command timeout, whatever the file's size.
        first = _PEEK_CHUNK if size is None else min(size, _PEEK_CHUNK)
        data, total = await self.peek_bytes(job, remote_filename, offset, first)
        out.write(data)
        start = max(0, total + offset) if offset < 0 else min(offset, total)
        end = total if size is None else min(total, start + max(0, size))
        position = start + len(data)
        while position < end and data:
            data, _now = await self.peek_bytes(job, remote_filename, position, min(_PEEK_CHUNK, end - position))
            out.write(data)
            position += len(data)
        return total

    async def peek_bytes(
        self, job: JobRecord, remote_filename: str, offset: int = 0, size: int | None = None
    ) -> tuple[bytes, int]:
        """The bytes peek would write, and the file's size (for a live tail).

        A file that is a link out of the sandbox is refused (``UnsafePath``), as
        ``get_results`` never copies one.
        """
        path = self._peek_path(job, remote_filename)
        await self.connect()
        return await self.transport.read_range(path, offset, size, inside=job.sandbox)

    async def peek_find(
        self, job: JobRecord, remote_filename: str, pattern: str, offset: int, backward: bool = False
    ) -> int | None:
        """Byte offset of the first match of ``pattern`` at or after ``offset``
        (with ``backward``: the last one starting before it), or None.

        Searched on the frontend with grep over the byte range, so only the
        offset crosses the link, however large the file.
        """
        if not pattern or "\n" in pattern or "\0" in pattern:
            raise BatchdeckError("a search pattern must be one non-empty line")
        script = _SH_PEEK_FIND_BACKWARD if backward else _SH_PEEK_FIND
        out = await self._peek_command(job, remote_filename, script, max(0, offset), pattern)
        return int(out) if out else None

    async def peek_line_offset(self, job: JobRecord, remote_filename: str, line: int) -> int:
        """Byte offset where (0-based) ``line`` starts, or the file's size if it has fewer lines.

        Counted on the frontend (``head -n | wc -c``): no bytes of the file move,
        but the frontend reads every byte before that line.
        """
        out = await self._peek_command(job, remote_filename, _SH_PEEK_LINE_OFFSET, max(0, line))
        try:
            return int(out)
        except ValueError:
            raise BatchdeckError(f"cannot count the lines of {remote_filename}: unexpected answer {out[:60]!r}") from None

    def _peek_path(self, job: JobRecord, remote_filename: str) -> str:
        if not job.sandbox:
            if job.reason == "sandbox freed":
                raise BatchdeckError(f"job {job.id} was freed: its sandbox and output are gone from the cluster")
            raise BatchdeckError(f"job {job.id} has no sandbox yet")
        return posixpath.join(job.sandbox, safe_relative_path(remote_filename, "file name"))

    async def _peek_command(self, job: JobRecord, remote_filename: str, script: str, *args: object) -> str:
        path = self._peek_path(job, remote_filename)
        assert job.sandbox is not None
        return await self._path_command(path, job.sandbox, remote_filename, script, *args)

    async def _path_command(self, path: str, inside: str, label: str, script: str, *args: object) -> str:
        argv = ["sh", "-c", _SH_PEEK_OPEN + script, "sh", path, inside, *[str(a) for a in args]]
        result = await self._run(argv, check=False)  # the one command path: the cluster's timeout
        if result.exit_status == 3:
            raise RemoteFileNotFound(f"{path} does not exist")
        if result.exit_status == 6:
            raise UnsafePath(
                f"refusing to read {path}: it is a link to {result.stderr.strip()}, outside the sandbox {inside}"
            )
        if not result.ok:
            raise self.command_error(result, f"peek {label}")
        return result.stdout.strip()

    # A job batchdeck did not submit writes where its scheduler says (``JobDetails.stdout``): an
    # absolute path the user's own job chose, read as the user, with no sandbox to stay inside.

    async def read_path(self, path: str, offset: int = 0, size: int | None = None) -> tuple[bytes, int]:
        """Bytes of the output file of a job batchdeck did not submit, and its size (peek's reads)."""
        await self.connect()
        return await self.transport.read_range(path, offset, size)

    async def find_in_path(self, path: str, pattern: str, offset: int, backward: bool = False) -> int | None:
        """``peek_find`` on such a file."""
        if not pattern or "\n" in pattern or "\0" in pattern:
            raise BatchdeckError("a search pattern must be one non-empty line")
        script = _SH_PEEK_FIND_BACKWARD if backward else _SH_PEEK_FIND
        out = await self._path_command(path, "/", path, script, max(0, offset), pattern)
        return int(out) if out else None

    async def path_line_offset(self, path: str, line: int) -> int:
        """``peek_line_offset`` on such a file."""
        out = await self._path_command(path, "/", path, _SH_PEEK_LINE_OFFSET, max(0, line))
        try:
            return int(out)
        except ValueError:
            raise BatchdeckError(f"cannot count the lines of {path}: unexpected answer {out[:60]!r}") from None

    def result_files(self, job: JobRecord) -> list[str] | None:
        """Sandbox-relative names to download; None means every file of the sandbox."""
        if not job.spec.outputs:
            return None
        own: tuple[str, ...] = (job.spec.stdout, job.spec.stderr)
        if job.spec.array:
            # each task's stdout/stderr are in its folder, TASK/ (``JobRecord.output_name``)
            own = tuple(f"{task}/{name}" for task in parse_task_array(job.spec.array).tasks() for name in own)
        names = [safe_relative_path(n) for n in (*own, *job.spec.outputs)]
        return list(dict.fromkeys(names))

    async def get_results(
        self,
        job: JobRecord,
        download_dir: str | os.PathLike[str],
        overwrite: bool = False,
        changed_only: bool = True,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        """Retrieve the job's output files into ``download_dir`` (which must exist).

        What is copied and what is kept is ``transfer_plan.plan_download``'s
        decision over the sandbox listing (see there).
        """
        if not job.sandbox:
            if job.reason == "sandbox freed":
                raise BatchdeckError(f"job {job.id} was freed: its sandbox and results are gone from the cluster")
            raise BatchdeckError(f"job {job.id} has no sandbox yet")
        target = Path(download_dir)
        if not target.is_dir():
            raise BatchdeckError(f"download directory {str(target)!r} does not exist")
        await self.connect()
        listing = {
            entry.path: entry
            for entry in await self.transport.list_tree(job.sandbox)
            if not _is_control(entry.path)
        }
        facts = {name: FileFacts(entry.size, entry.mtime) for name, entry in listing.items()}
        wanted = expand_folders(self.result_files(job), facts)
        local: dict[str, FileFacts] = {}
        for name in sorted(listing) if wanted is None else wanted:
            path = target / name
            if path.exists():
                st = path.stat()
                local[name] = FileFacts(st.st_size, st.st_mtime)
        plan = plan_download(
            wanted,
            facts,
            local,
            overwrite,
            changed_only,
        )
        report = TransferReport(skipped=list(plan.skip), missing=list(plan.missing))
        pairs = [(posixpath.join(job.sandbox, name), str(target / name)) for name in plan.copy]
        if pairs:
            failures = await self.transport.get_files(pairs, progress)
            prefix = job.sandbox.rstrip("/") + "/"
            for remote, _local in pairs:
                name = remote[len(prefix) :]
                if remote in failures:
                    report.failed[name] = failures[remote]
                else:
                    report.copied.append(name)
                    report.bytes_copied += listing[name].size
        if job.state == RunState.TERMINATING and report.fetched:
            job.transition(RunState.TERMINATED, "results fetched")
        return report

    async def free(self, job: JobRecord) -> None:
        """Delete the job's sandbox on the frontend. Only for TERMINATED jobs, only inside the sandbox root."""
        if job.state != RunState.TERMINATED:
            raise BatchdeckError(
                f"job {job.id} is {job.state}: only TERMINATED jobs can be freed (fetch its results first)"
            )
        if not job.sandbox:
            return
        await self.connect()
        if not self.is_inside_root(job.sandbox):
            raise UnsafePath(
                f"refusing to delete {job.sandbox!r}: it is not inside the sandbox root {self.sandbox_root!r}"
            )
        await self.transport.remove_tree(job.sandbox)

    # ================================================================== the hooks
    # A scheduler is these and nothing else: each receives plain values, returns
    # argv lists or records, and raises only what its docstring says.

    @abc.abstractmethod
    async def prepare(self) -> None:
        """Learn, once per connection, what the other hooks need of the frontend.

        Called by ``connect`` after the transport is up and the sandbox root is known (e.g. the
        login user's name, the scheduler's flavour); receives nothing, returns nothing, and may run
        commands with ``self._run``. Raises ``SchedulerError`` / ``TransportError`` when a command
        fails, ``ParseError`` when its answer cannot be read (e.g. an unknown ``qstat --version``);
        it is called again on the next ``connect`` if it raised."""

    @abc.abstractmethod
    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        """The scheduler directive lines (``#SBATCH ...``) for the top of the job script.

        Receives the job and its absolute sandbox path; returns whole lines. Raises
        ``InvalidJobSpec`` for a value the scheduler cannot carry."""

    @abc.abstractmethod
    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        """The submit command for the written job script.

        Receives the job and the script's absolute path; returns the argv and its stdin (or None),
        run in the sandbox. Raises ``InvalidJobSpec`` for a value it cannot pass."""

    @abc.abstractmethod
    def parse_submit_output(self, job: JobRecord, result: CommandResult) -> SubmitAnswer:
        """The scheduler's answer to the submit command.

        Receives the job and the command's result; returns the scheduler's job id (and the queue it
        chose, if it says). Raises ``SchedulerError`` (``self.command_error``) when the submission
        failed, ``ParseError`` when the answer carries no job id."""

    @abc.abstractmethod
    def status_argv(self) -> list[str]:
        """The ONE status query of a refresh: every job of the user the scheduler lists.

        Receives nothing; returns the argv. Raises ``SchedulerError`` when called before
        ``prepare`` learnt what the query names (SLURM's user)."""

    @abc.abstractmethod
    def parse_status_output(self, result: CommandResult) -> list[SchedulerJob] | None:
        """The jobs in the status query's result.

        Receives the query's result; returns the jobs, or None when the result says this form of the
        query is not supported here (the hook then adapts and ``status_argv`` is asked again). Raises
        ``SchedulerError`` when the query failed, ``ParseError`` on output it cannot read."""

    def status_followup_argv(self, jobs: list[SchedulerJob]) -> list[str] | None:
        """Optional hook: one more command for details the status query lacks.

        Receives the jobs the status query listed; returns the argv, or None for none (the default).
        Grid Engine uses it to ask why jobs in error state are; it must stay one command for all
        such jobs, and only when there are some. Raises nothing."""
        return None

    def parse_status_followup(self, jobs: list[SchedulerJob], result: CommandResult) -> list[SchedulerJob]:
        """Optional hook: the jobs completed with the follow-up's result.

        Receives the jobs and the follow-up command's result; returns the jobs (default: unchanged).
        Raises nothing: a follow-up it cannot read leaves the jobs as the status query said."""
        return jobs

    @abc.abstractmethod
    def accounting_argv(self, jobids: Sequence[str], attempt: int) -> list[str] | None:
        """The ``attempt``-th (0 first) accounting command for jobs that left the queue.

        Receives the ids no earlier alternative answered for and the attempt number; returns one
        command for all of them, or None when there is no (further) alternative. Raises nothing."""

    @abc.abstractmethod
    def parse_accounting_output(
        self, jobids: Sequence[str], result: CommandResult, attempt: int
    ) -> dict[str, SchedulerJob]:
        """``{job id: record}`` for the ids the ``attempt``-th accounting command knows.

        Receives the ids asked, the command's result and the attempt number; returns the records,
        matched through ``jobid_key``, unknown ids left out. Raises ``SchedulerError`` when
        accounting itself failed (the next alternative is still tried), ``ParseError`` on output it
        cannot read."""

    @abc.abstractmethod
    def cancel_argv(self, jobid: str) -> list[str]:
        """The command that cancels (deletes, kills) one job.

        Receives the scheduler's job id; returns the argv. Raises nothing."""

    @abc.abstractmethod
    def classify_cancel_output(self, result: CommandResult) -> CancelVerdict:
        """What the cancel command's result says.

        Receives the result; returns DONE (the scheduler takes the job away), ALREADY_GONE (it no
        longer knows the job) or ERROR (refused; with the scheduler's message in one line).
        Raises nothing."""

    @abc.abstractmethod
    def queues_argv(self) -> list[list[str]]:
        """The commands whose results together describe the queues (all are run).

        Receives nothing; returns their argvs. Raises nothing."""

    @abc.abstractmethod
    def parse_queues_output(self, results: list[CommandResult]) -> list[QueueInfo] | None:
        """The queues from the results of ``queues_argv``.

        Receives the results, in the order of the commands; returns the queues, or None when a form
        is not supported here (the hook adapts, the commands are asked again). Raises
        ``SchedulerError`` when a command failed, ``ParseError`` on output it cannot read."""

    @abc.abstractmethod
    def check_spec(self, spec: JobSpec) -> None:
        """Scheduler-specific checks of a job spec, before anything is sent.

        Receives the spec; returns nothing. Raises ``InvalidJobSpec``, or ``LimitExceeded`` for a
        job over what ``parse_limits_output`` learnt (once it has)."""

    def limits_argv(self) -> list[str] | None:
        """Optional hook: ONE command whose answer says what one job may ask of the scheduler.

        Receives nothing; returns the argv (Grid Engine's queue and parallel environment slots),
        run once per connection before the first submit (``learn_limits``), or None: nothing to
        ask (the default). Raises nothing."""
        return None

    def parse_limits_output(self, result: CommandResult) -> None:
        """Optional hook: keep what ``limits_argv``'s result says, for ``check_spec``.

        Receives the result; returns nothing. Raises nothing: a limit the scheduler does not tell,
        or tells in words it cannot read, is left to the scheduler (default: no-op)."""
        return None

    def control_files(self, job: JobRecord, sandbox: str) -> dict[str, tuple[bytes, int]]:
        """Optional hook: extra files for the sandbox's control folder.

        Receives the job and its absolute sandbox path; returns ``{name: (bytes, mode)}``, written
        with the job script before the submit command (default: none). Raises nothing."""
        return {}

    def jobid_key(self, jobid: str) -> str:
        """Optional hook: the part of a job id that names the job.

        Receives a job id as the scheduler printed it; returns the key ids are matched by (PBS
        server suffixes; default: the id). Raises nothing."""
        return jobid

    # ------------------------------------------------------------------ optional hooks: any of the user's jobs
    # What ``engine/history.py`` and ``engine/job_control.py`` run for jobs batchdeck
    # may not have submitted. Each is called after ``prepare()``; a scheduler without
    # the capability keeps the default, which says so in one line.

    def history_argv(self, since: float) -> list[str]:
        """Optional hook: ONE accounting command listing the user's jobs that ended since ``since``.

        Receives epoch seconds; returns the argv. Raises ``AccountingUnavailable`` when batchdeck
        reads no accounting here (the default)."""
        raise AccountingUnavailable(f"history is not available for {self.type_name} clusters yet ({self.name!r})")

    def parse_history_output(self, result: CommandResult, since: float) -> list[HistoryRecord]:
        """Optional hook: the jobs in ``history_argv``'s result that ended since ``since``.

        Receives the result and epoch seconds; returns the records, in any order. Raises
        ``AccountingUnavailable`` (with the scheduler's words) when accounting is off or could not be
        read, or here (the default), ``ParseError`` on output it cannot read."""
        raise AccountingUnavailable(f"history is not available for {self.type_name} clusters yet ({self.name!r})")

    def details_argv(self, jobid: str) -> list[str]:
        """Optional hook: ONE command that describes any of the user's jobs, queued or finished.

        Receives the scheduler's job id, passed as an argument (never inside a script's text);
        returns the argv. Raises ``BatchdeckError`` when the scheduler has no such command here
        (the default)."""
        raise not_available(self.type_name, "details")

    def parse_details_output(self, jobid: str, result: CommandResult) -> JobDetails:
        """Optional hook: the job's details from ``details_argv``'s result.

        Receives the job id and the result; returns the details. Raises ``JobNotFound`` (with the
        scheduler's first line) when it knows no such job, ``SchedulerError`` when the command
        failed otherwise, ``ParseError`` on output it cannot read, ``BatchdeckError`` where there
        is no details command (the default)."""
        raise not_available(self.type_name, "details")

    def control_argv(self, action: str, jobid: str, value: str | None) -> list[str]:
        """Optional hook: the command that does ``action`` to any of the user's jobs.

        Receives ``action``, one of ``job_control.ACTIONS`` (``cancel``, ``signal`` with ``value`` a
        signal name of ``job_control.SIGNALS``, ``hold``, ``release``, ``time_limit`` with ``value``
        in seconds), already checked, and the job id; returns the argv. Raises ``InvalidJobSpec`` for
        a value the scheduler cannot carry, ``ValueError`` for an action outside ``ACTIONS`` (a
        caller's mistake), ``BatchdeckError`` when it cannot do the action here (the default)."""
        raise not_available(self.type_name, action.replace("_", " "))

    def batch_script_argv(self, jobid: str) -> list[str]:
        """Optional hook: ONE command that prints the scheduler's own copy of a job's batch script.

        Receives the job id; returns the argv. Raises ``BatchdeckError`` when the scheduler keeps
        none batchdeck can read (the default)."""
        raise not_available(self.type_name, "resubmitting")

    def parse_batch_script_output(self, jobid: str, result: CommandResult) -> str:
        """Optional hook: the script from ``batch_script_argv``'s result.

        Receives the job id and the result; returns the script's text. Raises ``SchedulerError``
        when the scheduler has no script for the job, ``BatchdeckError`` where it keeps none
        (the default)."""
        raise not_available(self.type_name, "resubmitting")

    def task_variable(self) -> str:
        """Optional hook: the environment variable holding a task's id inside the task.

        Receives nothing; returns the variable's name (default ``array_task_variable``; PBS: its
        flavour's; empty where the scheduler runs no arrays). Raises nothing."""
        return self.array_task_variable

    def task_jobid(self, jobid: str, task: int) -> str:
        """Optional hook: the id accounting knows one task of an array by.

        Receives the array's job id and the task id; returns the task's own id (default SLURM's
        ``ID_TASK``; LSF ``ID[TASK]``, PBS ``ID[TASK]``). Raises nothing."""
        return f"{jobid}_{task}"

    def check_array(self, array: TaskArray) -> None:
        """Optional hook: whether the scheduler can take these task ids.

        Receives the parsed ``--array``; returns nothing. Raises ``ValueError`` (one line) for task
        ids the scheduler cannot take (Grid Engine and PBS Pro: one range only). Arrays themselves
        are refused by ``unhonoured_options`` where the backend does not list ``array`` in
        ``honoured_options``."""
        return None

    @staticmethod
    def read_script_directives(script: str) -> DirectiveReading:
        """Optional hook, pure: what a batch script's own directive lines (``#SBATCH``, ``#$`` …) ask for.

        Receives the script's text, read up to the first command line as the scheduler reads it;
        returns the values, the lines passed through and notes. Raises nothing but
        ``InvalidJobSpec`` / ``ParseError`` naming the line. Default: nothing (local processes read none)."""
        return DirectiveReading()

    @classmethod
    def dependency_directives(cls, conditions: list[tuple[str, str]]) -> list[str]:
        """Optional hook, pure: directive lines making a job wait for other jobs.

        Receives ``(kind, jobid)`` conditions (kind ``ok``, ``any`` or ``notok``; jobid the
        scheduler's); returns whole lines. Raises ``InvalidJobSpec`` for a combination the scheduler
        cannot express, ``ConfigError`` where it has none (the default)."""
        raise ConfigError(f"{cls.type_name} clusters cannot make a job wait for another (--after)", key="type")

    def array_tasks_argv(self, jobid: str) -> list[str]:
        """Optional hook: ONE accounting command listing the tasks of the array job ``jobid``.

        Receives the array's id, or one of its tasks'; returns the argv. Raises ``BatchdeckError``
        when the scheduler cannot do it here (the default)."""
        raise not_available(self.type_name, "resubmitting an array's failed tasks")

    def parse_array_tasks_output(self, jobid: str, result: CommandResult) -> dict[int, HistoryRecord]:
        """Optional hook: the array's tasks from ``array_tasks_argv``'s result.

        Receives the job id and the result; returns task id -> its record (``end_time`` None while
        it has not ended), empty when ``jobid`` is no array. Raises ``AccountingUnavailable`` when
        accounting could not be read, ``ParseError`` on output it cannot read, ``BatchdeckError``
        when the scheduler cannot do it here (the default)."""
        raise not_available(self.type_name, "resubmitting an array's failed tasks")

    def array_resubmit_argv(self, tasks: list[int], workdir: str, changes: dict[str, Any]) -> list[str]:
        """Optional hook: the submit command that runs the batch script read from its stdin again.

        Receives exactly the ``tasks`` to run (sorted task ids), the ``workdir`` and ``changes``
        (JobSpec fields: cores, memory_per_core, walltime, queue, name) overriding the script's
        directives; returns the argv, whose output is read with ``submit_regexp``. Raises
        ``InvalidJobSpec`` when the scheduler cannot submit that set of tasks in one command,
        ``BatchdeckError`` when it cannot do it here (the default)."""
        raise not_available(self.type_name, "resubmitting an array's failed tasks")


def task_runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted task ids as contiguous runs: ``[1, 2, 3, 7]`` -> ``[(1, 3), (7, 7)]``."""
    runs: list[tuple[int, int]] = []
    for task in sorted(set(ids)):
        if runs and task == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], task)
        else:
            runs.append((task, task))
    return runs


def task_ranges(ids: list[int]) -> str:
    """Task ids written as SLURM's ``--array`` and people write them: ``1-3,7``."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in task_runs(ids))


def not_available(type_name: str, what: str) -> BatchdeckError:
    """What an optional hook a scheduler lacks says."""
    return BatchdeckError(f"{what} of jobs batchdeck did not submit is not available for {type_name} clusters yet")


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


def command_error(what: str, result: CommandResult, *, joined: bool = False) -> SchedulerError:
    """A SchedulerError carrying the scheduler's own words, and the exit status.

    The words stay whole, line by line: the CLI shows the first line and how many more
    ``--verbose`` prints. ``joined`` makes them one line instead, for schedulers whose
    reason continues on the next line (PBS's ``MSG=``). The ``what: `` prefix is not repeated.
    """
    message = result.stderr.strip() or result.stdout.strip() or f"exit status {result.exit_status}"
    prefix = f"{what}: "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    if joined:
        message = " ".join(message.split())
    return SchedulerError(what, message, result.exit_status)


#: bytes per read when peek copies a file
_PEEK_CHUNK = 4 * 1024 * 1024

# Peek's remote commands: ``sh -c PREAMBLE+SCRIPT sh FILE SANDBOX ARG...``. The file is
# opened once (fd 3), its real path checked against the sandbox's, and every read
# goes through /proc/$$/fd/3, so a link swapped after the check changes nothing.
# grep runs in the C locale on bytes; NULs become newlines (same length, so the
# offsets stay right) so that a sparse or binary file is not one endless line.
_SH_PEEK_OPEN = r"""
export LC_ALL=C
f=$1 box=$2
shift 2
[ -e "$f" ] || { echo "$f does not exist" >&2; exit 3; }
[ -d "$f" ] && { echo "$f is a directory" >&2; exit 4; }
[ -r "$f" ] || { echo "$f: permission denied" >&2; exit 5; }
exec 3< "$f" || exit 5
p=/proc/$$/fd/3
if [ -r "$p" ]; then real=$(readlink -- "$p"); else p=$f; real=$(realpath -- "$f"); fi
top=$(realpath -- "$box") || exit 6
case $real in "${top%/}"/*) ;; *) printf '%s\n' "$real" >&2; exit 6;; esac
"""

# $1 = offset, $2 = pattern: the first match at or after the offset
_SH_PEEK_FIND = r"""
at=$(tail -c +$(($1 + 1)) -- "$p" | tr '\000' '\n' | grep -a -o -b -m 1 -F -e "$2" | head -n 1 | cut -d: -f1)
[ -z "$at" ] || echo $(($1 + at))
"""

# $1 = offset, $2 = pattern: the last match starting before the offset, looked for in
# blocks growing fourfold back from it (a near match costs little, a far one few runs);
# each block reaches len(pattern)-1 bytes into the one after it, so no match straddling
# two blocks is missed.
_SH_PEEK_FIND_BACKWARD = r"""
limit=$1 end=$1 block=262144 n=${#2}
while [ "$end" -gt 0 ]; do
  s=$((end - block)); [ "$s" -lt 0 ] && s=0
  stop=$((end + n - 1)); [ "$stop" -gt "$limit" ] && stop=$limit
  at=$(tail -c +$((s + 1)) -- "$p" | head -c $((stop - s)) | tr '\000' '\n' | grep -a -o -b -F -e "$2" | tail -n 1 | cut -d: -f1)
  if [ -n "$at" ]; then echo $((s + at)); exit 0; fi
  end=$s block=$((block * 4))
done
"""

# $1 = line number (0-based): the bytes before it
_SH_PEEK_LINE_OFFSET = r"""
head -n "$1" -- "$p" | wc -c
"""


def _is_control(path: str) -> bool:
    return path == CONTROL_DIR or path.startswith(CONTROL_DIR + "/") or os.path.basename(path).startswith(".bd-")


def _merge_scripts(*parts: str | None) -> str:
    return "\n".join(p.rstrip("\n") for p in parts if p and p.strip())
