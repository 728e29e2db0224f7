"""The async BatchSystem layer: GC3Pie's ``gc3libs.backends.batch.BatchSystem``, made async.

A scheduler backend subclasses ``BatchSystem`` and fills in a handful of hooks:
the job-script directives, the submit/cancel command lines, one status query for
all of the user's jobs, one batched accounting query for jobs that left the
queue, and the queue listing. Sandboxes, file transfer, peek, limits, prologue
and epilogue, and the state bookkeeping are done here once for all of them.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from ..engine.settings import (
    DEFAULT_ACCOUNTING_DELAY,
    ClusterSettings,
    SchedulerSettings,
    build_cluster,
    normalize_architecture,
)
from ..errors import (
    BatchdeckError,
    InvalidJobSpec,
    InvalidStateTransition,
    LimitExceeded,
    ParseError,
    SchedulerError,
    UnsafePath,
)
from ..model import JobRecord, JobSpec, QueueInfo, RunState, SchedulerJob
from ..transports.base import CommandResult, ProgressCallback, Transport
from ..units import format_memory, format_walltime
from .paths import CONTROL_DIR as CONTROL_DIR  # batchdeck's own files in a sandbox; never results
from .paths import check_user_paths, output_folders
from .paths import safe_relative_path as safe_relative_path

JOB_SCRIPT = f"{CONTROL_DIR}/job.sh"
USER_SCRIPT = f"{CONTROL_DIR}/user-script"
TAG_PREFIX = "bd-"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


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
    bytes_copied: int = 0

    @property
    def ok(self) -> bool:
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


class BatchSystem:
    """Base class for every backend (GC3Pie's BatchSystem, async)."""

    #: the ``type`` key of a cluster's configuration
    type_name: ClassVar[str] = "batch"
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
    #: the scheduler keeps only 7 bits of the script's exit status (SLURM: ``exit 137``
    #: reads ``9:0``, the same as ``exit 9``); the job script then ends by the signal
    #: that ended its command, so the scheduler records a signal death (``0:9``)
    reraises_signal_deaths: ClassVar[bool] = False

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

    async def close(self) -> None:
        """Release the connection to the frontend."""
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
        if bool(spec.command) == bool(spec.script):
            raise InvalidJobSpec("a job needs either a command or a script (not both, not neither)")
        if spec.memory_per_core is not None and spec.memory_per_core <= 0:
            raise InvalidJobSpec("memory per core must be positive")
        if spec.walltime is not None and spec.walltime <= 0:
            raise InvalidJobSpec("walltime must be positive")
        check_user_paths(spec)
        if spec.queue is not None and (not spec.queue.strip() or any(ord(c) < 32 for c in spec.queue)):
            raise InvalidJobSpec(f"queue name {spec.queue!r} is empty or contains control characters")
        for key in spec.environment:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise InvalidJobSpec(f"environment variable name {key!r} is not valid")
        if not self.validate_data(list(spec.inputs)):
            raise InvalidJobSpec("only local input files are supported")
        for local in spec.inputs:
            path = local[len("file://") :] if local.startswith("file://") else local
            if not os.path.exists(path):
                raise InvalidJobSpec(f"input file {local!r} does not exist")
        self.check_limits(spec)

    # ------------------------------------------------------------------ job script

    def get_prologue_script(self, job: JobRecord) -> str:
        """The cluster's prologue and the job's own, merged (cluster first)."""
        return _merge_scripts(self.prologue, job.spec.prologue)

    def get_epilogue_script(self, job: JobRecord) -> str:
        """The job's epilogue and the cluster's, merged (job first)."""
        return _merge_scripts(job.spec.epilogue, self.epilogue)

    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        """Scheduler directive lines for the top of the job script (without the prefix handling)."""
        return []

    def output_paths(self, job: JobRecord, sandbox: str) -> tuple[str, str]:
        """Where the scheduler's own stdout/stderr options (-o/-e) point."""
        if self.spools_output:
            control = posixpath.join(sandbox, CONTROL_DIR)
            return posixpath.join(control, "scheduler.out"), posixpath.join(control, "scheduler.err")
        out = posixpath.join(sandbox, safe_relative_path(job.spec.stdout))
        err = posixpath.join(sandbox, safe_relative_path(job.spec.stderr))
        return out, err

    def _self_redirect(self, job: JobRecord) -> list[str]:
        out = safe_relative_path(job.spec.stdout)
        err = safe_relative_path(job.spec.stderr)
        lines = []
        dirs = sorted({posixpath.dirname(p) for p in (out, err)} - {""})
        if dirs:
            lines.append("mkdir -p -- " + " ".join(shlex.quote(d) for d in dirs))
        if out == err:
            lines.append(f"exec > {shlex.quote(out)} 2>&1")
        else:
            lines.append(f"exec > {shlex.quote(out)} 2> {shlex.quote(err)}")
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
        if self.spools_output:
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
        if self.reraises_signal_deaths:
            lines.append(RERAISE_SIGNAL_DEATH)
        lines.append("exit $batchdeck_rc")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ submission

    def get_jobid_from_submit_output(self, output: str, regexp: str) -> str:
        """Parse the submit command's answer; regexp's first group is the job id."""
        match = re.search(regexp, output or "")
        if not match:
            raise ParseError(f"{self.type_name} submit output", "no job id found", output)
        return match.group(1)

    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        """The submit command line (and its stdin, if the scheduler reads the script from stdin)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement submit_argv")

    async def _submit(self, job: JobRecord, script_path: str) -> str:
        argv, stdin = self.submit_argv(job, script_path)
        result = await self.transport.run(argv, stdin=stdin, cwd=job.sandbox, timeout=self.ssh_timeout)
        result.check(argv[0])
        return self.get_jobid_from_submit_output(result.stdout, self.submit_regexp)

    async def submit_job(
        self,
        job: JobRecord,
        on_prepared: Callable[[JobRecord], Awaitable[None] | None] | None = None,
    ) -> JobRecord:
        """Create the sandbox, copy the inputs, write the job script and submit it.

        ``on_prepared`` is called when the sandbox is ready and just before the
        scheduler is asked, so the caller can record the job first: a crash
        between submit and record then leaves a job that can be found again by
        its tag.
        """
        if job.state != RunState.NEW:
            raise InvalidStateTransition(f"job {job.id} was already submitted (state {job.state})")
        await self.connect()
        self.validate_spec(job.spec)
        sandbox = self.sandbox_path(job)
        job.sandbox = sandbox
        await self.transport.makedirs(posixpath.join(sandbox, CONTROL_DIR))
        for folder in output_folders(job.spec):
            # The scheduler opens stdout/stderr before the job runs (SLURM fails, Grid Engine goes to Eqw)
            await self.transport.makedirs(posixpath.join(sandbox, folder))
        if job.spec.inputs:
            pairs = []
            for local, remote in job.spec.inputs.items():
                path = local[len("file://") :] if local.startswith("file://") else local
                pairs.append((path, posixpath.join(sandbox, safe_relative_path(remote))))
            await self.transport.put_files(pairs)
        if job.spec.script is not None:
            await self.transport.write_file(
                posixpath.join(sandbox, USER_SCRIPT), job.spec.script.encode(), mode=0o700
            )
        script_path = posixpath.join(sandbox, JOB_SCRIPT)
        # for the user only: it carries the prologue and the --env values
        await self.transport.write_file(script_path, self.render_script(job, sandbox).encode(), mode=0o600)
        job.queue = job.spec.queue
        if on_prepared is not None:
            maybe = on_prepared(job)
            if maybe is not None:
                await maybe
        job.jobid = await self._submit(job, script_path)
        job.last_seen = time.time()
        job.transition(RunState.SUBMITTED, "submitted")
        return job

    # ------------------------------------------------------------------ state

    async def query_jobs(self) -> list[SchedulerJob]:
        """All of the user's jobs the scheduler lists now: ONE command."""
        raise NotImplementedError

    async def query_finished(self, jobids: Sequence[str]) -> dict[str, SchedulerJob]:
        """Jobs that left the queue, from accounting: ONE batched command. Unknown ids are left out."""
        return {}

    async def list_jobs(self) -> list[SchedulerJob]:
        """All of the user's jobs the scheduler knows, not only batchdeck's."""
        return await self.query_jobs()

    async def list_queues(self) -> list[QueueInfo]:
        return []

    async def update_job_state(self, job: JobRecord) -> RunState:
        """Query the scheduler for one job and update it; returns its state."""
        await self.update_job_states([job])
        return job.state

    async def update_job_states(self, jobs: Sequence[JobRecord]) -> PollResult:
        """Update many jobs of this cluster with one queue query (plus one accounting query)."""
        await self.connect()
        listed = await self.query_jobs()
        by_id = {info.jobid: info for info in listed}
        active = [job for job in jobs if job.jobid and job.state.is_active]
        missing = [job.jobid for job in active if job.jobid and job.jobid not in by_id]
        finished = await self.query_finished(missing) if missing else {}
        result = PollResult(all_jobs=listed)
        now = time.time()
        for job in active:
            info = by_id.get(job.jobid or "") or finished.get(job.jobid or "")
            if info is not None:
                job.last_seen = now
                job.stale = False
                if self.apply_status(job, info):
                    result.changed.append(job)
            elif now - (job.last_seen or job.submitted or job.created) > self.accounting_delay:
                if job.transition(RunState.UNKNOWN, "the scheduler no longer knows this job"):
                    job.reason = "the scheduler no longer knows this job"
                    result.changed.append(job)
        return result

    def apply_status(self, job: JobRecord, info: SchedulerJob) -> bool:
        """Copy a scheduler's record into the run record; True if anything changed."""
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

    def cancel_argv(self, jobid: str) -> list[str]:
        raise NotImplementedError

    async def cancel_job(self, job: JobRecord) -> None:
        """Ask the scheduler to cancel the job; its state changes when the scheduler confirms."""
        if not job.jobid:
            if job.state == RunState.NEW:
                job.transition(RunState.TERMINATED, "cancelled before submission")
                job.reason = "cancelled"
                return
            raise BatchdeckError(f"job {job.id} has no scheduler job id")
        if not job.state.is_active:
            raise BatchdeckError(f"job {job.id} is {job.state}: nothing to cancel")
        await self.connect()
        argv = self.cancel_argv(job.jobid)
        result = await self.transport.run(argv, timeout=self.ssh_timeout)
        if not result.ok:
            # An id the scheduler no longer knows is not an error that may lose the
            # job: the next poll resolves it through accounting.
            await self.update_job_states([job])
            if job.state.is_active and job.state != RunState.UNKNOWN:
                raise SchedulerError(argv[0], result.stderr or result.stdout, result.exit_status)
            return
        await self.update_job_states([job])

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
        data, total = await self.peek_bytes(job, remote_filename, offset, size)
        if isinstance(local_file, (str, os.PathLike)):
            with open(local_file, "wb") as handle:
                handle.write(data)
        else:
            local_file.write(data)
        return total

    async def peek_bytes(
        self, job: JobRecord, remote_filename: str, offset: int = 0, size: int | None = None
    ) -> tuple[bytes, int]:
        """The bytes peek would write, and the file's size (for a live tail)."""
        if not job.sandbox:
            raise BatchdeckError(f"job {job.id} has no sandbox yet")
        await self.connect()
        path = posixpath.join(job.sandbox, safe_relative_path(remote_filename, "file name"))
        return await self.transport.read_range(path, offset, size)

    def result_files(self, job: JobRecord) -> list[str] | None:
        """Sandbox-relative names to download; None means every file of the sandbox."""
        if not job.spec.outputs:
            return None
        names = [safe_relative_path(n) for n in (job.spec.stdout, job.spec.stderr, *job.spec.outputs)]
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

        Files missing locally are always copied. Existing ones are kept unless
        ``overwrite``; then, with ``changed_only``, only those whose source has a
        different size or is newer are replaced, otherwise all are.
        """
        if not job.sandbox:
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
        wanted = self.result_files(job)
        names = sorted(listing) if wanted is None else wanted
        report = TransferReport()
        pairs: list[tuple[str, str]] = []
        for name in names:
            entry = listing.get(name)
            if entry is None:
                report.failed[name] = "not found in the sandbox"
                continue
            local = target / name
            if local.exists():
                if not overwrite:
                    report.skipped.append(name)
                    continue
                if changed_only:
                    st = local.stat()
                    if st.st_size == entry.size and entry.mtime <= st.st_mtime:
                        report.skipped.append(name)
                        continue
            pairs.append((posixpath.join(job.sandbox, name), str(local)))
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
        if job.state == RunState.TERMINATING and not report.failed:
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

    # ------------------------------------------------------------------ helpers for subclasses

    async def run_checked(self, argv: list[str], what: str | None = None) -> CommandResult:
        result = await self.transport.run(argv, timeout=self.ssh_timeout)
        return result.check(what or argv[0])


def _is_control(path: str) -> bool:
    return path == CONTROL_DIR or path.startswith(CONTROL_DIR + "/") or os.path.basename(path).startswith(".bd-")


def _merge_scripts(*parts: str | None) -> str:
    return "\n".join(p.rstrip("\n") for p in parts if p and p.strip())

