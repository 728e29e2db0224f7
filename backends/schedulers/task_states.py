"""A batchdeck array job's tasks: read from the one status listing, and summarised into the job's state.

Pure functions for ``BatchSystem.update_job_states``: the tasks each listed record stands for (a
running task, or a pending range like Grid Engine's ``4-10:1`` or SLURM's ``[3-5%2]``), and the
verdict over all tasks: running while any task runs, ``ok`` only if every task succeeded, else
failed naming the failed task ids.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..model import Outcome, RunState, SchedulerJob, TaskState
from ..task_array import parse_task_array


def listed_task_ids(array_task: str | None) -> list[int]:
    """The task ids one listed record stands for; none when its text is no task id or range."""
    text = (array_task or "").strip().strip("[]")
    if not text:
        return []
    try:
        return parse_task_array(text).tasks()
    except ValueError:
        return []


def task_state(info: SchedulerJob) -> TaskState:
    finished = not info.state.is_active
    return TaskState(
        state=info.state,
        raw_state=info.raw_state,
        reason=info.reason,
        outcome=info.outcome if finished else None,
        exitcode=info.exitcode if finished else None,
        signal=info.signal if finished else None,
    )


def lost_task() -> TaskState:
    return TaskState(RunState.TERMINATING, "lost", "neither the scheduler nor its exit-status file knows this task", Outcome.LOST)


#: the state an array is in while some task is active: the first found, in this order
_ACTIVE_ORDER = (RunState.RUNNING, RunState.SUBMITTED, RunState.STOPPED, RunState.UNKNOWN)


def summarise(jobid: str, wanted: list[int], tasks: Mapping[str, TaskState]) -> SchedulerJob | None:
    """The array job's record over its tasks; None while a task was never seen (nothing to say yet)."""
    known = [tasks[str(t)] for t in wanted if str(t) in tasks]
    active = {task.state for task in known if task.state.is_active}
    counts = f"{len(known)} tasks" if len(known) != 1 else "1 task"
    for state in _ACTIVE_ORDER:
        if state in active:
            running = sum(1 for task in known if task.state == RunState.RUNNING)
            return SchedulerJob(jobid=jobid, state=state, raw_state=state.value, reason=f"{running} of {counts} running")
    if len(known) < len(wanted):
        return None
    failed = [str(t) for t in wanted if tasks[str(t)].failed]
    if not failed:
        return SchedulerJob(
            jobid=jobid, state=RunState.TERMINATING, raw_state="done", reason=f"all {counts} ok", exitcode=0,
            outcome=Outcome.OK,
        )  # fmt: skip
    outcomes = {tasks[t].outcome for t in failed}
    if outcomes == {Outcome.CANCELLED}:
        return SchedulerJob(
            jobid=jobid, state=RunState.TERMINATED, raw_state="cancelled",
            reason=f"cancelled ({len(failed)} of {counts}: tasks {','.join(failed)})", outcome=Outcome.CANCELLED,
        )  # fmt: skip
    # an exit code only from tasks that exited with one: a cancel (killed, lost tasks) carries none
    codes = [code for t in failed if tasks[t].outcome == Outcome.FAILED and (code := tasks[t].exitcode)]
    return SchedulerJob(
        jobid=jobid,
        state=RunState.TERMINATING,
        raw_state="failed",
        reason=f"{len(failed)} of {counts} failed: tasks {','.join(failed)}",
        exitcode=max(codes) if codes else None,
        outcome=Outcome.FAILED,
    )
