"""Plain processes on the frontend (GC3Pie's "shellcmd"): the embedded default backend.

Each job runs as a detached process group under a small runner script that
waits for free cores (``max_cores``, FIFO, guarded by ``flock``), runs the job
script and records its exit status in the sandbox. Nothing lives in batchdeck's
own process, so jobs survive batchdeck exiting and are picked up on restart.
The runner scripts are constants: sandboxes and names reach them only as
quoted arguments.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Sequence
from typing import Any

from ..engine.settings import ClusterSettings
from ..errors import AccountingUnavailable, ParseError
from ..model import (
    JobRecord,
    JobSpec,
    Outcome,
    QueueInfo,
    RunState,
    SchedulerJob,
    outcome_from_exit,
    settle_exit,
)
from ..transports.base import CommandResult, Transport
from .base import CONTROL_DIR, BatchSystem, CancelAnswer, CancelVerdict, SubmitAnswer, scheduler_job_name

RUNNER = f"{CONTROL_DIR}/run.sh"
#: the one queue of the local backend, as the Queues pane shows it
LOCAL_QUEUE = "local"
#: the reason of a job whose runner has not written its pid yet
STARTING = "starting"
#: the reason of one whose runner never started (after submit_timeout)
FAILED_TO_START = "failed to start: its runner had not begun"

_ALIVE_FN = r"""
# Shell builtins only: a poll of many jobs must not fork per file.
get() { v=; [ -r "$1" ] && IFS= read -r v < "$1"; return 0; }
alive() {
  [ -n "$1" ] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  # An exited process whose parent has not reaped it yet still answers kill -0.
  [ -r "/proc/$1/stat" ] || return 0
  IFS= read -r line < "/proc/$1/stat" || return 0
  line=${line##*) }
  [ "${line%% *}" != Z ]
}
"""

# $1 sandbox, $2 cores, $3 sandbox root, $4 stdout name, $5 stderr name, $6 max cores (0 = no limit),
# $7 walltime in seconds (0 = none), $8 queue ticket (submission order, taken by batchdeck at submit)
RUNNER_SCRIPT = (
    r"""#!/bin/sh
# batchdeck local runner: waits for free cores, runs the job, records its exit status.
# In bash: its read -t is a sleep that forks nothing, so a queued job costs next to nothing.
[ -n "$BASH_VERSION" ] || exec /bin/bash "$0" "$@"
sandbox=$1; cores=$2; root=$3; out=$4; err=$5; maxcores=$6; walltime=$7; ticket=$8
limit=""
[ "$walltime" -gt 0 ] && limit="timeout --kill-after=10 $walltime"
ctl="$sandbox/.batchdeck"
echo $$ > "$ctl/pid.tmp" && mv -f "$ctl/pid.tmp" "$ctl/pid"
echo queued > "$ctl/state"
"""
    + _ALIVE_FN
    + r"""
# pause N: a read that times out on a FIFO only this runner holds open
rm -f "$ctl/wait" && mkfifo "$ctl/wait" 2>/dev/null && exec 8<>"$ctl/wait"
pause() { read -r -t "$1" -u 8 _ 2>/dev/null; [ $? -gt 128 ] || sleep "$1"; }
# Only the head of the queue takes the lock and counts cores; the others just
# check that the head is alive. Globs and builtins only: waiting forks nothing.
count_used() {
  used=0
  for f in "$root/.running"/*; do
    [ -e "$f" ] || continue
    c=; p=; read -r c p < "$f" || continue
    if alive "$p"; then used=$((used + c)); elif [ "$1" = clean ]; then rm -f "$f"; fi
  done
}
start_if_free() {
  count_used clean
  [ $((used + cores)) -le "$maxcores" ] || return 1
  mv -f "$root/.queue/$ticket" "$root/.running/$ticket"
}
enqueue() {
  # written under a dot name, then renamed: another runner must never read it half-written
  echo "$cores $$" > "$root/.queue/.$ticket" && mv -f "$root/.queue/.$ticket" "$root/.queue/$ticket"
}
head=; headpid=; nap=0.5
try_start() {
  # Behind a head that is still queued and alive, nothing can have changed for us.
  [ -n "$head" ] && [ -e "$head" ] && alive "$headpid" && return 1
  [ -e "$root/.queue/$ticket" ] || enqueue
  set -- "$root/.queue"/*
  [ -e "$1" ] || return 1
  if [ "${1##*/}" != "$ticket" ]; then
    c=; p=; read -r c p < "$1" 2>/dev/null || return 1
    if alive "$p"; then head=$1; headpid=$p; nap=1; else rm -f "$1"; fi
    return 1
  fi
  head=; nap=0.5
  count_used
  [ $((used + cores)) -le "$maxcores" ] || return 1
  ( flock -x 9; start_if_free ) 9>"$root/.lock"
}
if [ "$maxcores" -gt 0 ]; then
  mkdir -p "$root/.queue" "$root/.running"
  enqueue
  until try_start; do
    # The sandbox was deleted (freed, or a test's cleanup): nothing is left to run.
    [ -d "$ctl" ] || { rm -f "$root/.queue/$ticket"; exit 0; }
    pause "$nap"
  done
fi
date +%s.%N > "$ctl/started"
echo running > "$ctl/state"
cd "$sandbox" || exit 1
mkdir -p "$(dirname "$sandbox/$out")" "$(dirname "$sandbox/$err")"
child=
# cancel signals this process group; timeout(1) runs in a group of its own: pass it on
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 143' TERM
if [ "$out" = "$err" ]; then
  $limit /bin/bash "$ctl/job.sh" > "$sandbox/$out" 2>&1 < /dev/null 8<&- &
else
  $limit /bin/bash "$ctl/job.sh" > "$sandbox/$out" 2> "$sandbox/$err" < /dev/null 8<&- &
fi
child=$!
# A sandbox deleted under a running job: end the job, nothing could record it.
(
  trap '' TERM
  while [ -d "$ctl" ]; do
    kill -0 $$ 2>/dev/null || exit 0
    pause 1
  done
  kill -TERM "$child" -- -$$ 2>/dev/null
  pause 5
  kill -KILL -- "-$child" "$child" -$$ 2>/dev/null
) &
watchdog=$!
wait "$child"
rc=$?
kill -KILL "$watchdog" 2>/dev/null
[ "$maxcores" -gt 0 ] && rm -f "$root/.running/$ticket"
[ -d "$ctl" ] || exit 0
# timeout(1) answers 124 when the walltime ran out
[ -n "$limit" ] && [ "$rc" -eq 124 ] && touch "$ctl/walltime-exceeded"
date +%s.%N > "$ctl/finished"
echo "$rc" > "$ctl/exitcode.tmp" && mv -f "$ctl/exitcode.tmp" "$ctl/exitcode"
echo done > "$ctl/state"
exit 0
"""
)

# $1 runner path, then the runner's arguments. Detaches the runner in its own session.
LAUNCH_SCRIPT = r"""runner=$1; shift
setsid /bin/sh "$runner" "$@" < /dev/null > /dev/null 2>&1 &
echo $!
"""

FIELD = "\x1f"
RECORD = "\x1e"

# $1 sandbox root, then (optionally) the job ids to report; none = every sandbox.
STATUS_SCRIPT = (
    _ALIVE_FN
    + r"""
root=$1; shift
[ -d "$root" ] || exit 0
[ $# -gt 0 ] || set -- $(ls "$root")
for id in "$@"; do
  ctl="$root/$id/.batchdeck"
  [ -d "$ctl" ] || continue
  # Read in the order the runner writes in reverse: whatever the runner did last
  # before exiting (the exit status) is read after checking that it is alive.
  get "$ctl/state"; state=$v; get "$ctl/started"; started=$v
  get "$ctl/pid"; pid=$v
  a=-; [ -n "$pid" ] && { a=0; alive "$pid" && a=1; }
  get "$ctl/exitcode"; rc=$v
  c=0; [ -e "$ctl/cancelled" ] && c=1
  w=0; [ -e "$ctl/walltime-exceeded" ] && w=1
  get "$ctl/submitted"; submitted=$v; get "$ctl/finished"; finished=$v
  get "$ctl/name"; name=$v; get "$ctl/cores"; cores=$v
  printf '%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\036' "$id" "$a" "$w" \
    "$state" "$rc" "$c" "$submitted" "$started" "$finished" "$name" "$cores"
done
"""
)

# $1 sandbox root, $2 job id. Marks the job cancelled, then ends its whole process group.
CANCEL_SCRIPT = (
    _ALIVE_FN
    + r"""
root=$1; id=$2
ctl="$root/$id/.batchdeck"
[ -d "$ctl" ] || { echo "no such job sandbox: $root/$id" >&2; exit 2; }
[ -e "$ctl/exitcode" ] && exit 0
date +%s.%N > "$ctl/cancelled"
get "$ctl/pid"; pid=$v
[ -n "$pid" ] || exit 0
# Signal the group only while its leader is still this job's runner: a runner that
# died unrecorded may have had its pid reused by an unrelated process group.
if [ -r "/proc/$pid/cmdline" ] && ! grep -q -F -- "$ctl/run.sh" "/proc/$pid/cmdline" 2>/dev/null; then
  exit 0
fi
kill -TERM "-$pid" 2>/dev/null
n=0
while alive "$pid" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
kill -KILL "-$pid" 2>/dev/null
rm -f "$root"/.queue/*-"$id" "$root"/.running/*-"$id"
exit 0
"""
)


#: timeout(1)'s own exit status when the walltime ran out: not the job's
TIMEOUT_STATUS = 124


def local_outcome(code: int, cancelled: bool, over_time: bool) -> tuple[Outcome, int | None, int | None]:
    """``(outcome, exitcode, signal)`` from the runner's record of a finished job.

    The runner records the job script's exit status; 128+N is death by signal N
    (the shell's convention), 124 with the walltime marker is timeout(1) ending it.
    """
    signal = code - 128 if 128 < code <= 128 + 64 else None
    exitcode = None if signal is not None else code
    if cancelled:
        outcome = Outcome.CANCELLED
    elif over_time and code == TIMEOUT_STATUS:
        outcome, exitcode = Outcome.TIMEOUT, None
    elif over_time and signal is not None:
        outcome = Outcome.TIMEOUT  # timeout --kill-after's SIGKILL
    else:
        outcome = outcome_from_exit(exitcode, signal)
    return outcome, settle_exit(outcome, exitcode), signal


#: what the messages of a failed runner script call it
_SCRIPT_NAMES = {
    "batchdeck-launch": "starting the job",
    "batchdeck-status": "reading job states",
    "batchdeck-cancel": "cancelling the job",
}


def _float(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


def parse_local_status(text: str) -> list[SchedulerJob]:
    """Records of STATUS_SCRIPT's output (pure)."""
    jobs: list[SchedulerJob] = []
    for raw in text.split(RECORD):
        if not raw.strip("\n"):
            continue
        fields = raw.lstrip("\n").split(FIELD)
        if len(fields) != 11:
            raise ParseError("local job status", f"expected 11 fields, got {len(fields)}", raw)
        jobid, alive, over_time, state, rc, cancelled, submitted, started, finished, name, cores = fields
        info = SchedulerJob(
            jobid=jobid,
            state=RunState.SUBMITTED,
            raw_state=state.strip() or "starting",
            queue=LOCAL_QUEUE,
            name=name.strip(),
            cores=int(cores) if cores.strip().isdigit() else None,
            submit_time=_float(submitted),
            start_time=_float(started),
            end_time=_float(finished),
        )
        rc = rc.strip()
        if rc:
            if not rc.lstrip("-").isdigit():
                raise ParseError("local job status", f"exit status {rc!r} is not a number", raw)
            code = int(rc)
            if cancelled == "1":
                info.state, info.reason, info.raw_state = RunState.TERMINATED, "cancelled", "cancelled"
            else:
                info.state, info.raw_state = RunState.TERMINATING, "done"
            if over_time == "1":
                info.reason = "walltime exceeded"
            info.outcome, info.exitcode, info.signal = local_outcome(code, cancelled == "1", over_time == "1")
            if info.signal is not None:
                info.reason = info.reason or f"killed by signal {info.signal}"
            elif info.exitcode and not info.reason:
                info.reason = f"exit code {code}"
        elif alive == "1":
            if state.strip() == "running":
                info.state = RunState.RUNNING
            else:
                info.reason = "waiting for free cores"
        elif cancelled == "1":
            info.state, info.reason, info.raw_state = RunState.TERMINATED, "cancelled", "cancelled"
            info.signal = 15
            info.outcome = Outcome.CANCELLED
        elif alive == "-":
            # The runner has not written its pid yet: it is starting.
            info.reason = STARTING
        else:
            info.state = RunState.TERMINATING
            info.raw_state = "lost"
            info.reason = "the runner process disappeared without recording an exit status"
            info.outcome = Outcome.LOST
        if info.end_time and info.start_time:
            info.elapsed = info.end_time - info.start_time
        jobs.append(info)
    return jobs


class LocalBatchSystem(BatchSystem):
    """Local processes (on this machine, or on the frontend over SSH)."""

    type_name = "local"
    max_job_name_length = 200
    details_from_journal = True
    default_min_poll_interval = 0.0
    keeps_accounting = False

    def __init__(
        self, settings: ClusterSettings | str, transport: Transport | str | None = None, **keys: Any
    ) -> None:
        super().__init__(settings, transport, **keys)
        # A job that has just been launched has its sandbox at once: no lag to wait for.
        if self.settings.accounting_delay is None:
            self.accounting_delay = 5

    #: the runner records the exit status (and the walltime verdict) itself
    records_exit_status = False

    async def prepare(self) -> None:
        """Like a scheduler's node size: by default ``max_cores`` is the frontend's own CPUs."""
        if self.max_cores is None:
            result = await self._run(["nproc"], check=False)
            count = result.stdout.strip()
            self.max_cores = int(count) if result.ok and count.isdigit() else 1

    def check_spec(self, spec: JobSpec) -> None:
        """Nothing beyond the base's checks: names reach the runner only as quoted arguments."""

    def describe_command(self, argv: Sequence[str]) -> str:
        # The scripts are `/bin/sh -c SCRIPT NAME ...`: name them by what they do.
        return _SCRIPT_NAMES.get(str(argv[3]) if len(argv) > 3 else "", str(argv[0]))

    def script_directives(self, job: JobRecord, sandbox: str) -> list[str]:
        """None: the runner, not the script, carries cores and walltime."""
        return []

    def control_files(self, job: JobRecord, sandbox: str) -> dict[str, tuple[bytes, int]]:
        return {
            posixpath.basename(RUNNER): (RUNNER_SCRIPT.encode(), 0o755),
            "name": (scheduler_job_name(job, self.max_job_name_length).encode(), 0o644),
            "cores": (str(job.spec.cores).encode(), 0o644),
            "submitted": (f"{time.time():.3f}".encode(), 0o644),
        }

    def submit_argv(self, job: JobRecord, script_path: str) -> tuple[list[str], bytes | None]:
        sandbox = job.sandbox or self.sandbox_path(job)
        argv = [
            "/bin/sh",
            "-c",
            LAUNCH_SCRIPT,
            "batchdeck-launch",
            posixpath.join(sandbox, RUNNER),
            sandbox,
            str(job.spec.cores),
            self.sandbox_root,
            job.spec.stdout,
            job.spec.stderr,
            str(self.max_cores or 0),
            str(job.spec.walltime or 0),
            f"{time.time_ns():020d}-{job.id}",
        ]
        return argv, None

    def parse_submit_output(self, job: JobRecord, result: CommandResult) -> SubmitAnswer:
        """The job's own id names it: the runner's pid is in its sandbox."""
        if not result.ok:
            raise self.command_error(result)
        return SubmitAnswer(job.id)

    def status_argv(self) -> list[str]:
        return ["/bin/sh", "-c", STATUS_SCRIPT, "batchdeck-status", self.sandbox_root]

    def parse_status_output(self, result: CommandResult) -> list[SchedulerJob]:
        """The jobs; one whose runner has not started ``submit_timeout`` after its sandbox was
        made never will (the submit was killed between the two): it failed to start."""
        if not result.ok:
            raise self.command_error(result)
        jobs = parse_local_status(result.stdout)
        now = time.time()
        for info in jobs:
            if (
                info.state == RunState.SUBMITTED
                and info.reason == STARTING
                and info.submit_time is not None
                and now - info.submit_time > self.submit_timeout
            ):
                info.state, info.raw_state, info.outcome = RunState.TERMINATED, "never started", Outcome.FAILED
                info.reason = f"{FAILED_TO_START} {now - info.submit_time:.0f} s after its sandbox was made"
        return jobs

    def accounting_argv(self, jobids: Sequence[str], attempt: int) -> list[str] | None:
        """None: the status listing reads finished jobs from their sandboxes already."""
        return None

    def parse_accounting_output(
        self, jobids: Sequence[str], result: CommandResult, attempt: int
    ) -> dict[str, SchedulerJob]:
        return {}

    def cancel_argv(self, jobid: str) -> list[str]:
        return ["/bin/sh", "-c", CANCEL_SCRIPT, "batchdeck-cancel", self.sandbox_root, jobid]

    def classify_cancel_output(self, result: CommandResult) -> CancelVerdict:
        if result.ok:
            return CancelVerdict(CancelAnswer.DONE)
        return CancelVerdict(CancelAnswer.ERROR, " ".join((result.stderr or result.stdout).split()))

    def history_argv(self, since: float) -> list[str]:
        raise AccountingUnavailable(
            f"cluster {self.name!r} runs local processes, which keep no accounting: `batchdeck list` shows its jobs"
        )

    def queues_argv(self) -> list[list[str]]:
        return [self.status_argv()]

    def parse_queues_output(self, results: list[CommandResult]) -> list[QueueInfo]:
        jobs = self.parse_status_output(results[0])
        running = [j for j in jobs if j.state == RunState.RUNNING]
        pending = [j for j in jobs if j.state == RunState.SUBMITTED]
        used = sum(j.cores or 1 for j in running)
        return [
            QueueInfo(
                name=LOCAL_QUEUE,
                state="up",
                is_default=True,
                max_walltime=self.max_walltime,
                total_cores=self.max_cores,
                free_cores=None if self.max_cores is None else max(0, self.max_cores - used),
                running=len(running),
                pending=len(pending),
                nodes=1,
            )
        ]
