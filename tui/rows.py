"""What the app shows of jobs, clusters and queues: pure functions, no widgets.

Kept apart from the widgets so the table diffing and the benchmark can use them
without an app, and so every pane formats a state the same way.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from ..backends.engine.deck import ClusterStatus, next_check
from ..backends.engine.session import RefreshInfo
from ..backends.model import (
    TASK_COUNT_WORDS,
    HistoryRecord,
    JobRecord,
    Outcome,
    QueueInfo,
    RunState,
    SchedulerJob,
    TaskState,
    counts_line,
    task_count_word,
)
from ..backends.schedulers.base import tag_of
from ..backends.schedulers.task_states import listed_task_ids, task_state
from ..backends.text import terminal_safe
from ..backends.units import format_exit, format_percent, format_walltime
from ..themes import DEFAULT_STATE_COLOURS

Clock = Callable[[], float]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("src", "by"),
    ("id", "id"),
    ("name", "name"),
    ("cluster", "cluster"),
    ("queue", "queue"),
    ("state", "state"),
    ("elapsed", "elapsed"),
    ("exit", "outcome"),
)
STATE_COLUMN = 5
QUEUE_COLUMN = 4

#: the Jobs table's left-to-right order: what tells one job from another and how it
#: went comes first, so an 80-column terminal shows it; the rest can scroll in.
DISPLAY_ORDER: tuple[str, ...] = ("id", "name", "state", "exit", "elapsed", "cluster", "queue", "src")
#: the columns that must stay on screen however narrow the table (DISPLAY_ORDER's first ones)
ESSENTIAL_COLUMNS = 4

# A symbol per state role: states stay distinguishable without colour.
_ROLE_SYMBOL = {"pending": "◌", "running": "▶", "failed": "✘", "done": "✔", "stale": "?"}

OTHER_PREFIX = "other:"


def other_key(cluster: str, jobid: str) -> str:
    """Row key of a job batchdeck did not submit (cannot clash with an 8-character batchdeck id)."""
    return f"{OTHER_PREFIX}{cluster}:{jobid}"


#: separates an array job's key from a task id in a task row's key (never in a batchdeck id)
TASK_SEPARATOR = "/"


def task_key(array_key: str, task: str) -> str:
    """Row key of one task of the array whose row key is ``array_key``."""
    return f"{array_key}{TASK_SEPARATOR}{task}"


def split_task_key(key: str) -> tuple[str, str | None]:
    """``(array row key, task id)`` of a task row's key; ``(key, None)`` for any other row."""
    head, sep, task = key.rpartition(TASK_SEPARATOR)
    return (head, task) if sep and task.isdecimal() else (key, None)


def other_array_counts(tasks: Iterable[SchedulerJob]) -> dict[str, int]:
    """The counts of a plain (not batchdeck's) array from its listed records (a pending range counts each task)."""
    counts = dict.fromkeys(TASK_COUNT_WORDS, 0)
    for info in tasks:
        counts[task_count_word(task_state(info))] += max(1, len(listed_task_ids(info.array_task)))
    return counts


def state_role(
    state: RunState,
    exitcode: int | None = None,
    signal: int | None = None,
    stale: bool = False,
    outcome: Outcome | None = None,
) -> str:
    if stale or state == RunState.UNKNOWN:
        return "stale"
    if state in (RunState.NEW, RunState.SUBMITTED, RunState.STOPPED):
        return "pending"
    if state == RunState.RUNNING:
        return "running"
    if outcome is not None:
        # The success mark is for ok alone: "exit 0" of a timed-out job is no success.
        return "done" if outcome.is_success else "failed"
    if (exitcode not in (None, 0)) or signal:
        return "failed"
    return "done"


def job_role(job: JobRecord) -> str:
    if job.state == RunState.TERMINATED and job.reason.startswith(("submission failed", "cancelled")):
        return "failed"
    return state_role(job.state, job.exitcode, job.signal, job.stale, job.outcome)


def state_text(state: RunState, role: str, colours: dict[str, str], stale: bool = False) -> Text:
    label = f"{_ROLE_SYMBOL[role]} {state.value.lower()}"
    if stale:
        label += " (stale)"
    return Text(label, style=colours.get(role, DEFAULT_STATE_COLOURS[role]))


def elapsed(start: float | None, end: float | None, now: float) -> str:
    if start is None:
        return ""
    return format_walltime(max(0.0, (end if end is not None else now) - start))


#: outcomes whose word says it all; the others show their exit code, signal and reason
_SELF_EXPLAINED = frozenset(Outcome) - {Outcome.FAILED, Outcome.KILLED, Outcome.LOST}
#: reasons that only restate an exit code or signal already shown
_RESTATED = re.compile(r"^(?:failed: )?(?:exit code -?\d+|(?:killed by )?signal \d+.*|finished|failed)$")


def verdict_text(verdict: Outcome, exitcode: int | None, signal: int | None, reason: str) -> str:
    """The verdict's word, e.g. "timeout", "oom", "cancelled", instead of "exit 0 · TIMEOUT"."""
    parts = [verdict.value]
    if verdict not in _SELF_EXPLAINED:
        if exitcode is not None:
            parts.append(f"exit {exitcode}")
        if signal:
            parts.append(f"signal {signal}")
        if reason and not _RESTATED.match(reason):
            parts.append(terminal_safe(reason))
    return " · ".join(parts)


def outcome(job: JobRecord) -> str:
    if job.outcome is not None and job.state in (RunState.TERMINATING, RunState.TERMINATED):
        return verdict_text(job.outcome, job.exitcode, job.signal, job.reason)
    parts = []
    if job.exitcode is not None:
        parts.append(f"exit {job.exitcode}")
    if job.signal:
        parts.append(f"signal {job.signal}")
    if job.reason and job.reason not in ("submitted",):
        parts.append(terminal_safe(job.reason))
    if job.state == RunState.UNKNOWN:
        parts.append(next_check(job))  # lost: when batchdeck asks about it again (the back-off)
    return " · ".join(parts)


Row = tuple[str | Text, ...]


def job_row(job: JobRecord, now: float, colours: dict[str, str], expanded: bool = False) -> Row:
    role = job_role(job)
    name = terminal_safe(job.spec.name)
    verdict = outcome(job)
    if job.spec.array:
        # one row per array: its ids and its tasks counted by state; a key unfolds the tasks
        name = f"{'▾' if expanded else '▸'} {name} [{job.spec.array}]"
        counts = counts_line(job.task_counts())
        verdict = " · ".join(part for part in (verdict if not job.state.is_active else "", counts) if part)
    return (
        "bd",
        terminal_safe(job.id),
        name,
        terminal_safe(job.cluster),
        terminal_safe(job.queue or job.spec.queue or ""),
        state_text(job.state, role, colours, job.stale),
        elapsed(job.started, job.finished, now),
        verdict,
    )


def task_row(job: JobRecord, task: str, info: TaskState | None, colours: dict[str, str]) -> Row:
    """One task of a batchdeck array job (a task not seen yet reads as pending)."""
    state = info.state if info is not None else RunState.SUBMITTED
    role = state_role(state, info.exitcode if info else None, info.signal if info else None, outcome=info.outcome if info else None)
    verdict = ""
    if info is not None and info.outcome is not None and not state.is_active:
        verdict = verdict_text(info.outcome, info.exitcode, info.signal, info.reason)
    return (
        "bd",
        f"└ {task}",
        terminal_safe(f"{job.spec.name} task {task}"),
        terminal_safe(job.cluster),
        terminal_safe(job.queue or job.spec.queue or ""),
        state_text(state, role, colours),
        "",
        verdict,
    )


def other_array_row(cluster: str, array_id: str, tasks: list[SchedulerJob], colours: dict[str, str], expanded: bool) -> Row:
    """One row for a plain array job (sbatch --array, qsub -t): its tasks counted by state."""
    counts = other_array_counts(tasks)
    state = next((s for s in (RunState.RUNNING, RunState.SUBMITTED, RunState.STOPPED) if any(t.state == s for t in tasks)), tasks[0].state)
    name = tasks[0].name
    return (
        Text("other", style="italic dim"),
        Text(terminal_safe(array_id), style="italic"),
        Text(f"{'▾' if expanded else '▸'} {terminal_safe(name)}", style="italic"),
        terminal_safe(cluster),
        terminal_safe(tasks[0].queue),
        state_text(state, state_role(state), colours),
        "",
        counts_line(counts),
    )


def other_row(cluster: str, info: SchedulerJob, now: float, colours: dict[str, str]) -> Row:
    role = state_role(info.state, info.exitcode, info.signal, outcome=info.outcome)
    if info.elapsed is not None and info.state != RunState.RUNNING:
        took = format_walltime(info.elapsed)
    else:
        took = elapsed(info.start_time, info.end_time, now)
    reason = info.reason or (f"exit {info.exitcode}" if info.exitcode is not None else "")
    if info.outcome is not None and info.state in (RunState.TERMINATING, RunState.TERMINATED):
        reason = verdict_text(info.outcome, info.exitcode, info.signal, info.reason)
    return (
        Text("other", style="italic dim"),
        Text(terminal_safe(info.jobid), style="italic"),
        Text(terminal_safe(info.name), style="italic"),
        terminal_safe(cluster),
        terminal_safe(info.queue),
        state_text(info.state, role, colours),
        took,
        terminal_safe(reason),
    )


def is_other(info: SchedulerJob) -> bool:
    """A scheduler job the user started outside batchdeck (no batchdeck tag in its name)."""
    return tag_of(info.name) is None


#: job id -> (what its row was drawn from, the row): see visible_rows
RowCache = dict[str, tuple[tuple[object, ...], Row]]


def _row_fingerprint(job: JobRecord, now: float, palette: tuple[tuple[str, str], ...]) -> tuple[object, ...]:
    """Everything job_row reads: equal fingerprints give equal rows. The clock counts only while
    the elapsed column moves (started, not finished), as the seconds it shows."""
    ticking = int(max(0.0, now - job.started)) if job.started is not None and job.finished is None else None
    return (
        job.id, job.spec.name, job.cluster, job.queue, job.spec.queue, job.state, job.stale, job.started,
        job.finished, job.exitcode, job.signal, job.reason, job.outcome, job.recheck_at, ticking, palette,
        job.spec.array, tuple(job.tasks.items()) if job.spec.array else (),
    )  # fmt: skip


@dataclass
class JobFilter:
    cluster: str | None = None
    queue: str | None = None
    text: str = ""

    def accepts(self, cluster: str, queue: str, cells: Iterable[str | Text]) -> bool:
        if self.cluster is not None and cluster != self.cluster:
            return False
        if self.queue is not None and queue != self.queue:
            return False
        if self.text:
            needle = self.text.lower()
            return any(needle in str(cell).lower() for cell in cells)
        return True


def visible_rows(
    jobs: Iterable[JobRecord],
    statuses: dict[str, ClusterStatus],
    flt: JobFilter,
    now: float,
    colours: dict[str, str],
    cache: RowCache | None = None,
    expanded: frozenset[str] = frozenset(),
    parents: dict[str, str] | None = None,
    array_rows: set[str] | None = None,
) -> dict[str, Row]:
    """The rows the Jobs table should show, in order: batchdeck's jobs, then the user's others.

    An array job is one row (its tasks counted by state); the ``expanded`` row keys are
    followed by one row per task (keys ``task_key``). ``parents`` (task row key -> its
    array's row key) and ``array_rows`` (the plain arrays' row keys) are filled in for the caller.

    With ``cache`` (owned by the caller, kept between calls) a job whose row would read the
    same is not drawn again: at 10,000 finished jobs every refresh otherwise rebuilt 10,000
    rows of Rich Text, which kept an idle app at half a core.
    """
    rows: dict[str, Row] = {}
    parents = {} if parents is None else parents
    array_rows = set() if array_rows is None else array_rows
    parents.clear()
    array_rows.clear()
    palette = tuple(sorted(colours.items()))
    fresh: dict[str, tuple[tuple[object, ...], Row]] = {}
    for job in jobs:
        unfolded = job.id in expanded and bool(job.spec.array)
        key = (*_row_fingerprint(job, now, palette), unfolded)
        hit = cache.get(job.id) if cache is not None else None
        row = hit[1] if hit is not None and hit[0] == key else job_row(job, now, colours, unfolded)
        fresh[job.id] = (key, row)
        if flt.accepts(job.cluster, str(row[QUEUE_COLUMN]), row):
            rows[job.id] = row
            if unfolded:
                for task in job.task_ids():
                    rows[task_key(job.id, task)] = task_row(job, task, job.tasks.get(task), colours)
                    parents[task_key(job.id, task)] = job.id
    if cache is not None:
        # only the jobs still there: a forgotten job's row does not stay in memory
        cache.clear()
        cache.update(fresh)
    for cluster, status in statuses.items():
        arrays: dict[str, list[SchedulerJob]] = {}
        for info in status.other_jobs:
            if is_other(info) and info.array_id:
                arrays.setdefault(info.array_id, []).append(info)
        for info in status.other_jobs:
            if not is_other(info):
                continue
            if info.array_id:
                tasks = arrays.pop(info.array_id, None)
                if tasks is None:
                    continue  # its array's row is drawn already
                array_key = other_key(cluster, info.array_id)
                unfolded = array_key in expanded
                row = other_array_row(cluster, info.array_id, tasks, colours, unfolded)
                array_rows.add(array_key)
                if flt.accepts(cluster, info.queue, row):
                    rows[array_key] = row
                    if unfolded:
                        for member in tasks:
                            # Grid Engine's tasks carry the array's id: their rows are told apart by the task
                            member_id = member.jobid if member.jobid != info.array_id else f"{member.jobid}.{member.array_task}"
                            rows[other_key(cluster, member_id)] = other_row(cluster, member, now, colours)
                            parents[other_key(cluster, member_id)] = array_key
                continue
            row = other_row(cluster, info, now, colours)
            if flt.accepts(cluster, info.queue, row):
                rows[other_key(cluster, info.jobid)] = row
    return rows


# ---------------------------------------------------------------------- sorting the Jobs table

_DIGITS = re.compile(r"(\d+)")
_CLOCK = re.compile(r"^(?:(\d+)-)?(\d+):(\d\d):(\d\d)$")


def sort_value(column: str, cell: str | Text) -> tuple[object, ...]:
    """What a cell sorts by: an elapsed time by its seconds, anything else by its words with the
    numbers in them as numbers (job ids ``9`` < ``10``, ``48120_3`` < ``48120_12``); empty last."""
    text = str(cell)
    if column == "state":
        text = text.partition(" ")[2] or text  # the state's word, not its symbol
    if not text:
        return (1,)
    if column == "elapsed":
        match = _CLOCK.match(text)
        if match:
            days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return (0, 0, ((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    parts = _DIGITS.split(text.casefold())
    return (0, 1, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p))


def sort_rows(rows: dict[str, Row], column: str, descending: bool) -> dict[str, Row]:
    """``rows`` ordered by a column (its COLUMNS key), a stable sort: plain Python over the cells,
    so 10,000 rows take milliseconds and no widget is asked. Empty cells stay last either way."""
    index = _COLUMN_INDEX[column]
    # An unfolded array's task rows are not sorted among the rest: they stay under their array.
    tasks: dict[str, list[str]] = {}
    top: list[str] = []
    for key in rows:
        parent, task = split_task_key(key)
        if task is not None and parent in rows:
            tasks.setdefault(parent, []).append(key)
        else:
            top.append(key)
    keys = {key: sort_value(column, rows[key][index]) for key in top}
    filled = [key for key in top if keys[key] != (1,)]
    empty = [key for key in top if keys[key] == (1,)]
    filled.sort(key=keys.__getitem__, reverse=descending)
    return {key: rows[key] for parent in [*filled, *empty] for key in [parent, *tasks.get(parent, [])]}


def next_sort(current: tuple[str, bool] | None, columns: tuple[str, ...]) -> tuple[str, bool] | None:
    """The sort key's next step: each visible column ascending, then descending, then the
    table's own order (batchdeck's jobs, then the others) again."""
    steps: list[tuple[str, bool] | None] = [None]
    for column in columns:
        steps += [(column, False), (column, True)]
    position = steps.index(current) if current in steps else 0
    return steps[(position + 1) % len(steps)]


_COLUMN_INDEX = {key: index for index, (key, _label) in enumerate(COLUMNS)}


def cluster_counts(jobs: Iterable[JobRecord]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for job in jobs:
        per = counts.setdefault(job.cluster, {})
        role = job_role(job)
        per[role] = per.get(role, 0) + 1
    return counts


def counts_text(counts: dict[str, int], colours: dict[str, str]) -> Text:
    text = Text()
    for role, label in (("running", "run"), ("pending", "pend"), ("done", "done"), ("failed", "fail"), ("stale", "stale")):
        if counts.get(role):
            if text:
                text.append(" ")
            text.append(f"{counts[role]} {label}", style=colours.get(role, DEFAULT_STATE_COLOURS[role]))
    return text or Text("no jobs", style="dim")


_CONN_ROLE = {"connected": "done", "connecting": "pending", "idle": "stale", "error": "failed"}
_CONN_SYMBOL = {"connected": "●", "connecting": "◌", "idle": "○", "error": "✘"}


def seconds_text(seconds: float) -> str:
    """``45s``, ``5m``, ``2h``: a poll interval or a wait, short enough for the Clusters pane."""
    if seconds < 90:
        return f"{seconds:.0f}s" if seconds >= 1 or seconds == 0 else f"{seconds:.1f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def refresh_text(info: RefreshInfo) -> str:
    """When the cluster was last refreshed and how often; while it fails, when the next try is
    (the back-off: a failing cluster is not asked again on every tick)."""
    if info.failures:
        wait = "" if info.retry_at is None else f", next try {clock_text(info.retry_at)}"
        return f"failed {info.failures}× in a row{wait}"
    return f"refreshed {clock_text(info.last_ok)}, every {seconds_text(info.interval)}"


def cluster_prompt(
    status: ClusterStatus,
    counts: dict[str, int],
    colours: dict[str, str],
    others: int,
    refresh: RefreshInfo | None = None,
) -> Text:
    role = _CONN_ROLE.get(status.state, "stale")
    text = Text()
    text.append(terminal_safe(status.name), style="bold")
    text.append("  ")
    text.append(f"{_CONN_SYMBOL.get(status.state, '?')} {status.state}", style=colours.get(role, DEFAULT_STATE_COLOURS[role]))
    text.append("\n  ")
    text.append_text(counts_text(counts, colours))
    if others:
        text.append(f" +{others} other", style="italic dim")
    if refresh is not None and (refresh.last_ok is not None or refresh.failures):
        text.append("\n  ")
        text.append(refresh_text(refresh), style="dim")
    if status.state == "error" and status.error:
        text.append("\n  ")
        text.append(terminal_safe(status.error), style=colours.get("failed", "red"))
    if status.warning:
        text.append("\n  ")
        text.append(f"⚠ {terminal_safe(status.warning)}", style=colours.get("pending", "yellow"))
    return text


def fold_text(
    cluster: ClusterStatus | None,
    queue: str | None,
    counts: dict[str, int],
    failing: int,
    colours: dict[str, str],
    hint: str,
) -> Text:
    """The one line a narrow screen shows for the folded Clusters and Queues panes: the cluster
    and queue the jobs are filtered by, their jobs' counts, how many clusters fail, and how to unfold."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if cluster is None:
        text.append("All clusters", style="bold")
    else:
        role = _CONN_ROLE.get(cluster.state, "stale")
        text.append(terminal_safe(cluster.name), style="bold")
        text.append(f" {_CONN_SYMBOL.get(cluster.state, '?')}", style=colours.get(role, DEFAULT_STATE_COLOURS[role]))
    text.append(" · ")
    text.append(terminal_safe(queue) if queue else "all queues")
    # what matters most first: the line is cut at the screen's edge
    if failing:
        text.append(f"  ✘ {failing} failing", style=colours.get("failed", "red"))
    text.append("  ")
    text.append_text(counts_text(counts, colours))
    text.append(f"  ({hint})", style="dim")
    return text


def queue_row(queue: QueueInfo) -> tuple[str, ...]:
    cores = "-"
    if queue.total_cores is not None:
        free = "?" if queue.free_cores is None else str(queue.free_cores)
        cores = f"{free}/{queue.total_cores}"
    name = terminal_safe(queue.name) + ("*" if queue.is_default else "")
    return (
        name,
        terminal_safe(queue.state),
        cores,
        f"{queue.running}/{queue.pending}",
        format_walltime(queue.max_walltime) if queue.max_walltime else "∞",
    )


def command_text(words: Iterable[str], width: int = 100) -> str:
    """A command on one line, quoted as a shell would take it; a multi-line word (``sh -c`` with a
    script) shows its first line and how many more follow, instead of a screen of ``'"'"'``."""
    shown = []
    for word in words:
        first, *rest = word.split("\n")
        quoted = shlex.quote(first) if not rest else shlex.quote(first + " …") + f" (+{len(rest)} lines)"
        shown.append(quoted)
    line = " ".join(shown)
    return line if len(line) <= width else line[: width - 1] + "…"


def full_command(words: Iterable[str]) -> str:
    """A command whole, as the user would type it: a multi-line word (``sh -c`` with a script)
    keeps its lines, in plain single quotes when it has none of its own, instead of one line of
    ``'"'"'``; every other word is quoted as a shell takes it."""
    shown = []
    for word in words:
        if "\n" in word and "'" not in word:
            shown.append(f"'{word}'")
        else:
            shown.append(shlex.quote(word))
    return " ".join(shown)


def clock_text(when: float | None) -> str:
    if when is None:
        return "never"
    return time.strftime("%H:%M:%S", time.localtime(when))


#: the Clusters pane's border subtitle when batchdeck reads no file
NO_CONFIG_NOTE = "no config: batchdeck config init"


def config_note(path: Path | None, width: int = 34) -> str:
    """Where the configuration is, for the Clusters pane: ``~/…`` and cut at the left to ``width``."""
    if path is None:
        return NO_CONFIG_NOTE
    text = terminal_safe(path)
    home = os.path.expanduser("~").rstrip("/")
    if home and text.startswith(home + "/"):
        text = "~" + text[len(home):]
    if len(text) > width:
        text = "…" + text[-(width - 1):]
    return text


# ---------------------------------------------------------------------- the history view

#: (key, label, width) of the history view's columns; None: the rest of the width (the name)
HISTORY_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("cluster", "cluster", 7),
    ("jobid", "jobid", 8),
    ("name", "name", None),
    ("outcome", "outcome", 9),
    ("exit", "exit", 6),
    ("elapsed", "elapsed", 8),
    ("cores", "cores", 5),
    ("cpu", "cpu", 4),
    ("mem", "mem", 4),
)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, an ellipsis saying it was."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def history_row(cluster: str, record: HistoryRecord, name_width: int) -> tuple[str, ...]:
    """One finished job as the history view's cells, every name made terminal-safe and fitted."""
    widths = {key: width for key, _label, width in HISTORY_COLUMNS}
    cells = {
        "cluster": terminal_safe(cluster),
        "jobid": terminal_safe(record.jobid),
        "name": terminal_safe(record.name),
        "outcome": str(record.outcome) if record.outcome is not None else terminal_safe(record.state),
        "exit": format_exit(record.exitcode, record.signal),
        "elapsed": format_walltime(record.elapsed),
        "cores": str(record.cores or "-"),
        "cpu": format_percent(record.cpu_efficiency),
        "mem": format_percent(record.memory_efficiency),
    }
    return tuple(fit(cells[key], widths[key] or name_width) for key, _label, _width in HISTORY_COLUMNS)


def history_detail(cluster: str, record: HistoryRecord) -> str:
    """The highlighted job's line below the table: what the columns have no room for."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.end_time)) if record.end_time else "-"
    memory = (
        f"{record.max_rss:.0f} of {record.requested_memory:.0f} MiB"
        if record.max_rss is not None and record.requested_memory
        else "-"
    )
    cpu = format_walltime(record.cpu_time) if record.cpu_time is not None else "-"
    return (
        f"{terminal_safe(cluster)}:{terminal_safe(record.jobid)}  {terminal_safe(record.name)}  "
        f"[{terminal_safe(record.state)}] queue {terminal_safe(record.queue) or '-'}  ended {when}  "
        f"cpu time {cpu}  memory {memory}"
    )
