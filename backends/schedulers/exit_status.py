"""The exit-status file every batchdeck job script leaves in its sandbox.

A job can leave the queue and never reach accounting (MinJobAge passed, accounting
off or lagging, no qacct record). Its own record then tells how it ended: the job
script's last act writes the user's exit status to ``.batchdeck/exitcode`` (under
a temporary name, then renamed), and ONE command reads that file for every such
job of a refresh.
"""

from __future__ import annotations

import shlex

from ..errors import ParseError
from ..model import Outcome, RunState, SchedulerJob, outcome_from_exit

#: sandbox-relative path of the file
EXIT_FILE = ".batchdeck/exitcode"

FIELD = "\x1f"
RECORD = "\x1e"

#: ``$@`` are sandboxes; one record per sandbox: its path and the file's first line
#: (empty when there is no file). Shell builtins only: no fork per job.
READ_SCRIPT = (
    "for d do v=; "
    f'[ -r "$d/{EXIT_FILE}" ] && IFS= read -r v < "$d/{EXIT_FILE}"; '
    "printf '%s\\037%s\\036' \"$d\" \"$v\"; done"
)

#: what a job read from its file says of its origin
FROM_FILE = "from its exit-status file; the scheduler keeps no record of it"


def task_exit_file(task: int | str) -> str:
    """The sandbox-relative exit-status file of one array task."""
    return f"{EXIT_FILE}.{task}"


def script_lines(sandbox: str, per_task: bool = False) -> list[str]:
    """The job script's last lines: record ``$batchdeck_rc`` atomically, then exit with it.

    An array task writes its own file (``task_exit_file``: ``$batchdeck_task`` is its id), so
    tasks never overwrite each other's status.
    """
    path = shlex.quote(f"{sandbox.rstrip('/')}/{EXIT_FILE}")
    if per_task:
        path += '."$batchdeck_task"'
    return [
        f"{{ printf '%s\\n' \"$batchdeck_rc\" > {path}.tmp && mv -f {path}.tmp {path}; }} 2>/dev/null",
        "exit $batchdeck_rc",
    ]


#: ``$1`` the sandbox, then task ids: one record per task, as READ_SCRIPT's per sandbox
READ_TASKS_SCRIPT = (
    'd=$1; shift; for t do v=; '
    f'[ -r "$d/{EXIT_FILE}.$t" ] && IFS= read -r v < "$d/{EXIT_FILE}.$t"; '
    "printf '%s\\037%s\\036' \"$t\" \"$v\"; done"
)


def read_tasks_argv(sandbox: str, tasks: list[int]) -> list[str]:
    """One command that reads the exit-status files of an array's ``tasks`` (``task_exit_file``)."""
    return ["sh", "-c", READ_TASKS_SCRIPT, "batchdeck-exit-status", sandbox, *map(str, tasks)]


def read_argv(sandboxes: list[str]) -> list[str]:
    """One command that reads the exit-status file of every sandbox given (paths as arguments)."""
    return ["sh", "-c", READ_SCRIPT, "batchdeck-exit-status", *sandboxes]


def parse_exit_files(text: str) -> dict[str, int]:
    """``{sandbox: exit status}`` from READ_SCRIPT's output; sandboxes without a file are left out."""
    found: dict[str, int] = {}
    for raw in text.split(RECORD):
        if not raw.strip("\n"):
            continue
        sandbox, sep, value = raw.lstrip("\n").partition(FIELD)
        if not sep:
            raise ParseError("exit-status files", "a record has no separator", raw)
        value = value.strip()
        if not value:
            continue
        if not (value.lstrip("-").isdecimal() and len(value) <= 6):
            raise ParseError("exit-status files", f"exit status {value!r} is not a number", raw)
        found[sandbox] = int(value)
    return found


def job_from_exit_status(jobid: str, status: int) -> SchedulerJob:
    """The finished job an exit status describes (128+N: killed by signal N, the shell's convention).

    Its outcome is the exit status's alone (ok, failed, killed): the scheduler's
    verdict (a timeout, a memory kill) is not in the file.
    """
    if 128 < status <= 128 + 64:
        signal = status - 128
        return SchedulerJob(
            jobid=jobid,
            state=RunState.TERMINATING,
            raw_state="exit file",
            reason=f"killed by signal {signal} ({FROM_FILE})",
            signal=signal,
            outcome=Outcome.KILLED,
        )
    what = f"exit code {status}" if status else "finished"
    return SchedulerJob(
        jobid=jobid,
        state=RunState.TERMINATING,
        raw_state="exit file",
        reason=f"{what} ({FROM_FILE})",
        exitcode=status,
        outcome=outcome_from_exit(status, None),
    )
