"""The main screen: Clusters, Queues and Jobs panes and the peek area, over the Session.

It owns the panes and the main keys. The widgets render what the session says
and send the user's intent back to it (select a cluster, a queue, a job, type
a filter); the session tells this screen what changed. Dialogs are modal
screens pushed above it, so its keys cannot act behind them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from ..backends.engine import job_control
from ..backends.engine.deck import CLEAN_AGE, lost_note, may_still_run
from ..backends.engine.logfile import LogSource
from ..backends.engine.resubmit import resubmit_values
from ..backends.engine.session import ChangeSet, Session
from ..backends.errors import BatchdeckError
from ..backends.model import HistoryRecord, JobRecord, RunState, SchedulerJob
from ..backends.text import first_line, terminal_safe
from ..backends.units import format_memory, format_walltime, format_when, parse_age
from ..themes import DEFAULT_STATE_COLOURS
from .columns_screen import ColumnsScreen
from .confirm_screen import ConfirmScreen
from .details_screen import DetailsScreen
from .download_screen import DownloadScreen
from .fitted_table import FittedTable
from .help_screen import HelpScreen
from .history_screen import HistoryScreen
from .jobs_table import JobsTable
from .keys import bindings, key_text
from .peek_view import PeekView
from .rows import (
    COLUMNS,
    DISPLAY_ORDER,
    OTHER_PREFIX,
    JobFilter,
    RowCache,
    clock_text,
    cluster_counts,
    cluster_prompt,
    command_text,
    config_note,
    counts_text,
    fold_text,
    full_command,
    next_sort,
    queue_row,
    sort_rows,
    split_task_key,
    visible_rows,
)
from .signal_screen import SignalScreen
from .submit_screen import SubmitRequest, SubmitScreen
from .time_limit_screen import TimeLimitScreen

#: the actions that act only on a job batchdeck did not submit: offered on such a row alone
OTHER_JOB_ACTIONS = frozenset({"signal_job", "hold_job", "release_job", "time_limit"})
#: how a control action's success reads
_DONE = {"cancel": "cancel requested", "hold": "held", "release": "released", "time_limit": "new time limit set"}

ALL = "*all*"



class FilterInput(Input):
    BINDINGS = bindings("filter")

    class Done(Message):
        """The user left the filter box (enter keeps the text, escape clears it)."""

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Done())


#: below this many columns the Clusters and Queues panes fold into a one-line bar
NARROW_WIDTH = 100
#: below this many rows the Jobs table and the peek area share the height evenly
SHORT_HEIGHT = 32


class FoldBar(Static):
    """The folded Clusters and Queues panes of a narrow screen: what is selected, in one line.

    Tabbing into the panes (or clicking the bar) unfolds them; leaving them folds them again.
    """

    def on_click(self) -> None:
        self.screen.query_one("#clusters", OptionList).focus()


class MainScreen(Screen[None]):
    # The panes' layout, and how it folds: a narrow screen (-narrow) stacks the panes and
    # keeps the Clusters and Queues panes to FoldBar's line until one of them has focus
    # (they stay in the focus chain at zero width, so tab reaches them); a short one
    # (-short) gives the Jobs table and the peek area half the height each.
    DEFAULT_CSS = """
    MainScreen #main {
        height: 1fr;
    }
    MainScreen #left {
        /* at 160 columns: the Jobs table's columns whole, the Queues table's (its names give way) */
        width: 33%;
        min-width: 42;
        max-width: 64;
    }
    MainScreen #fold-bar {
        display: none;
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
        color: $text;
    }
    MainScreen #clusters, MainScreen #queues, MainScreen #jobs, MainScreen #peek {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        background: $surface;
    }
    MainScreen #clusters:focus, MainScreen #queues:focus, MainScreen #jobs:focus, MainScreen #peek:focus-within {
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
    }
    MainScreen #clusters {
        height: 1fr;
        border-subtitle-color: $text-muted;
    }
    MainScreen #queues {
        height: 1fr;
    }
    MainScreen #right {
        width: 1fr;
    }
    MainScreen #jobs-pane {
        height: 3fr;
    }
    MainScreen #jobs {
        height: 1fr;
    }
    MainScreen #filter {
        height: 3;
        border: tall $accent;
    }
    MainScreen #peek {
        height: 2fr;
        padding: 0 1;
    }

    MainScreen.-narrow #main {
        layout: vertical;
    }
    MainScreen.-narrow #left {
        layout: horizontal;
        width: 100%;
        min-width: 0;
        max-width: 100%;
        height: 1;
    }
    MainScreen.-narrow #fold-bar {
        display: block;
        width: 100%;
    }
    MainScreen.-narrow #clusters, MainScreen.-narrow #queues {
        width: 1fr;
        height: 1fr;
    }
    MainScreen.-narrow #left:focus-within {
        height: 45%;
    }
    MainScreen.-narrow #left:focus-within #fold-bar {
        display: none;
    }
    MainScreen.-narrow #right {
        width: 100%;
        height: 1fr;
    }
    MainScreen.-short #jobs-pane, MainScreen.-short #peek {
        height: 1fr;
    }
    MainScreen.-short #peek.-peeking #detail {
        /* the file being peeked is what the user asked for; the job's details give way */
        max-height: 3;
    }
    MainScreen.-short #peek.-peeking.-whole-command #detail {
        max-height: 70%;
    }
    """
    BINDINGS = bindings("main")

    def __init__(
        self,
        session: Session,
        *,
        live: bool = True,
        peek_interval: float = 0.5,
        download_base: Path | None = None,
        on_view_change: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        # told when the sort or the columns change, so the app remembers them with the theme
        self.on_view_change = on_view_change
        self.live = live
        self._row_cache: RowCache = {}
        # row keys of the array jobs unfolded into their tasks (a view choice)
        self.expanded: set[str] = set()
        # what the last refresh drew: task row key -> its array's row key, and the plain arrays' rows
        self._parents: dict[str, str] = {}
        self._array_rows: set[str] = set()
        self.peek_interval = peek_interval
        # None: per-job folders under the current directory, as the CLI does.
        self.download_base = download_base
        self.state_colours: dict[str, str] = dict(DEFAULT_STATE_COLOURS)
        # the Details pane shows the selected job's whole command, not one line of it
        self.whole_command = False
        self._ticker: Timer | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield FoldBar("", id="fold-bar")
                clusters = OptionList(id="clusters")
                clusters.border_title = "Clusters"
                # where the clusters come from: the file, or how to write one
                clusters.border_subtitle = Content(config_note(self.session.deck.config.path))
                yield clusters
                # a long queue name gives way before the last column ("max wall") is cut
                queues: FittedTable[str] = FittedTable(id="queues", cursor_type="row")
                queues.border_title = "Queues"
                yield queues
            with Vertical(id="right"):
                with Vertical(id="jobs-pane"):
                    clear = key_text(self.app, "filter_clear").split(" / ")[0]
                    yield FilterInput(placeholder=f"filter jobs ({clear} clears, enter keeps)", id="filter")
                    yield JobsTable(on_select=self.session.select_job, id="jobs")
                yield PeekView(self.session.deck, interval=self.peek_interval, id="peek")
        yield Footer()

    def on_mount(self) -> None:
        self.fit_to(self.app.size)
        self.query_one("#filter", FilterInput).display = False
        queues = self.query_one("#queues", DataTable)
        for key, label in (("name", "queue"), ("state", "state"), ("cores", "free"),
                           ("jobs", "run/pd"), ("wall", "max wall")):
            queues.add_column(label, key=key)
        self.session.add_listener(self.session_changed)
        if not self.session.load():
            self.session.spawn(self.session.load_rest())
        self.render_clusters()
        self.render_queues()
        self.render_fold_bar()
        self.refresh_jobs()
        self.query_one(JobsTable).focus()
        self._update_subtitle()
        if self.live:
            self.session.start()
            self._ticker = self.set_interval(self.session.tick_interval, self.session.tick)

    def on_unmount(self) -> None:
        self.session.remove_listener(self.session_changed)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_to(event.size)

    def fit_to(self, size: Size) -> None:
        """Fold the panes for a terminal of ``size`` (the CSS above says how)."""
        self.set_class(size.width < NARROW_WIDTH, "-narrow")
        self.set_class(size.height < SHORT_HEIGHT, "-short")

    async def stop(self) -> None:
        """Stop refreshing (before the app exits: a timer firing during teardown fails it)."""
        if self._ticker is not None:
            self._ticker.stop()
        await self.session.stop()
        self.query_one(PeekView).close()

    def recolour(self, colours: dict[str, str]) -> None:
        self.state_colours = colours
        if not self.is_mounted:
            return
        # Rich Text compares equal whatever its style, so recolouring needs a full redraw.
        self.query_one(JobsTable).sync({})
        self.refresh_jobs()
        self.render_clusters()
        self.render_fold_bar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Behind a dialog these keys cannot reach this screen; the footer must not offer them either.
        if action in OTHER_JOB_ACTIONS:
            key = self.session.selection.job
            return self.is_active and key is not None and key.startswith(OTHER_PREFIX)
        return self.is_active

    # ------------------------------------------------------------------ the session's news

    def session_changed(self, changes: ChangeSet) -> None:
        if not self.is_mounted:
            return
        selection = changes.selection
        if changes.jobs or changes.removed or changes.clusters:
            self.render_clusters()
        if changes.queues or "cluster" in selection:
            self.render_queues()
        # A poll's start changes only the cluster's row; its end says "refreshed".
        if changes.jobs or changes.removed or changes.refreshed or selection - {"job"}:
            self.refresh_jobs()
        elif "job" in selection:
            self.show_detail()
        if "job" in selection:
            self.refresh_bindings()  # the footer offers the other-job actions on such a row only
        if changes.refreshed:
            self._update_subtitle()
        if changes.jobs or changes.removed or changes.clusters or selection - {"job"}:
            self.render_fold_bar()

    def _update_subtitle(self) -> None:
        self.app.sub_title = f"refreshed {clock_text(self.session.last_refresh)}"

    # ------------------------------------------------------------------ panes

    def render_clusters(self) -> None:
        session = self.session
        options = self.query_one("#clusters", OptionList)
        counts = cluster_counts(session.jobs.values())
        total: dict[str, int] = {}
        for per in counts.values():
            for role, n in per.items():
                total[role] = total.get(role, 0) + n
        all_prompt = Text("All clusters", style="bold")
        all_prompt.append("\n  ")
        all_prompt.append_text(counts_text(total, self.state_colours))
        prompts: list[tuple[str, Text]] = [(ALL, all_prompt)]
        for name in session.cluster_names:
            others = len(session.other_jobs(name))
            prompts.append(
                (
                    name,
                    cluster_prompt(
                        session.status[name], counts.get(name, {}), self.state_colours, others,
                        session.refresh_info(name),
                    ),
                )
            )
        if [o.id for o in options.options] == [ident for ident, _ in prompts]:
            for ident, prompt in prompts:
                options.replace_option_prompt(ident, prompt)
        else:
            highlighted = options.highlighted
            options.set_options(Option(prompt, id=ident) for ident, prompt in prompts)
            options.highlighted = highlighted if highlighted is not None else 0

    def render_fold_bar(self) -> None:
        session = self.session
        cluster = session.selection.filter_cluster
        counts = cluster_counts(
            job for job in session.jobs.values() if cluster is None or job.cluster == cluster
        )
        total: dict[str, int] = {}
        for per in counts.values():
            for role, n in per.items():
                total[role] = total.get(role, 0) + n
        queue = session.selection.queue
        failing = sum(1 for name in session.cluster_names if session.status[name].state == "error")
        self.query_one(FoldBar).update(
            fold_text(
                session.status.get(cluster) if cluster else None,
                queue[1] if queue else None,
                total,
                failing if cluster is None else 0,
                self.state_colours,
                "shift+tab",
            )
        )

    def render_queues(self) -> None:
        session = self.session
        table = self.query_one("#queues", DataTable)
        cluster = session.selection.cluster
        names = [cluster] if cluster else session.cluster_names
        rows: list[tuple[str, tuple[str, ...]]] = [(ALL, ("(all queues)", "", "", "", ""))]
        for name in names:
            for queue in session.queues.get(name, []):
                cells = queue_row(queue)
                if cluster is None and len(names) > 1:
                    cells = (f"{name}:{cells[0]}", *cells[1:])
                rows.append((f"{name}\t{queue.name}", cells))
        current = [row.value for row in table.rows]
        if current == [key for key, _ in rows]:
            for key, cells in rows:
                for column, value in zip(("name", "state", "cores", "jobs", "wall"), cells, strict=True):
                    if table.get_cell(key, column) != value:
                        table.update_cell(key, column, value, update_width=True)
            return
        selected = session.selection.queue
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index("\t".join(selected)))
            except Exception:  # noqa: BLE001 - the queue is gone: stay on "all"
                pass

    def refresh_jobs(self) -> None:
        session = self.session
        selection = session.selection
        table = self.query_one(JobsTable)
        flt = JobFilter(selection.filter_cluster, selection.filter_queue, selection.text)
        rows = visible_rows(
            session.jobs.values(), session.status, flt, session.clock(), self.state_colours, self._row_cache,
            frozenset(self.expanded), self._parents, self._array_rows,
        )  # fmt: skip
        if session.sort is not None and session.sort[0] in dict(COLUMNS):
            rows = sort_rows(rows, *session.sort)
        table.set_columns(session.columns or DISPLAY_ORDER)
        table.sync(rows)
        jobs_title = f"Jobs ({len(rows)}"
        if selection.text:
            jobs_title += f", filter '{selection.text}'"
        if session.sort is not None:
            column, descending = session.sort
            jobs_title += f", by {dict(COLUMNS).get(column, column)} {'↓' if descending else '↑'}"
        table.border_title = jobs_title + ")"
        self.show_detail()

    def show_detail(self) -> None:
        peek = self.query_one(PeekView)
        key = self.session.selection.job
        if key is None:
            peek.show_detail(Text("no job selected", style="dim"))
        elif key.startswith(OTHER_PREFIX):
            info = self.session.other_job(key)
            hint = " · ".join(
                f"{key_text(self.app, action, '/')} {word}"
                for action, word in (("details", "details"), ("peek", "peek"), ("cancel", "cancel"),
                                     ("signal", "signal"), ("hold", "hold"), ("release", "release"),
                                     ("time_limit", "time limit"))
            )  # fmt: skip
            peek.show_detail(other_detail(info, hint) if info else Text(""))
        elif split_task_key(key)[0] in self.session.jobs:
            expand_key = key_text(self.app, "command").split(" / ")[0]
            job = self.session.jobs[split_task_key(key)[0]]
            peek.show_detail(job_detail(job, self.session.clock(), self.whole_command, expand_key))

    # ------------------------------------------------------------------ the user's intent

    @on(OptionList.OptionHighlighted, "#clusters")
    def _cluster_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        ident = event.option.id
        self.session.select_cluster(None if ident in (None, ALL) else ident)

    @on(DataTable.RowHighlighted, "#queues")
    def _queue_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if not key or key == ALL:
            self.session.select_queue(None)
        else:
            cluster, _, queue = key.partition("\t")
            self.session.select_queue((cluster, queue))

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self) -> None:
        self.action_peek()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.session.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    @on(FilterInput.Done)
    def _filter_done(self) -> None:
        self.action_filter_done()

    # ------------------------------------------------------------------ actions

    def action_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        box.display = True
        box.focus()

    def action_filter_done(self) -> None:
        box = self.query_one("#filter", FilterInput)
        if not box.value:
            box.display = False
        self.query_one(JobsTable).focus()

    def selected_job(self, quiet: bool = False) -> JobRecord | None:
        key = self.session.selection.job
        if key is None:
            if not quiet:
                self.notify("no job selected", severity="warning")
            return None
        if key.startswith(OTHER_PREFIX):
            if not quiet:
                self.notify(
                    "that job was not started by batchdeck: details, peek, cancel, signal, hold, release "
                    "and a new time limit work on it", severity="warning",
                )
            return None
        # a task's row acts on its array job (cancel, download); peek reads the task's own files
        return self.session.jobs.get(split_task_key(key)[0])

    def action_submit(self) -> None:
        session = self.session
        if not session.cluster_names:
            self.notify("no cluster is configured", severity="error")
            return
        queue = session.selection.queue
        self.app.push_screen(
            SubmitScreen(session.deck, session.submit_cluster(), queue[1] if queue else None, session.queues),
            self._submitted,
        )

    def _submitted(self, request: SubmitRequest | None) -> None:
        if request is not None:
            self.run_worker(self._submit(request), group="submit", exit_on_error=False)

    async def _submit(self, request: SubmitRequest) -> None:
        self.notify(f"submitting {request.spec.name} to {request.cluster}…", timeout=2)
        try:
            job = await self.session.submit(request.cluster, request.spec)
        except BatchdeckError as exc:
            self.notify(f"submission failed: {exc}", severity="error", timeout=10)
            return
        table = self.query_one(JobsTable)
        if not table.select_key(job.id):
            # The filter hides it: clear the filter so the new job can be selected.
            self.session.clear_selection()
            self.query_one("#clusters", OptionList).highlighted = 0
            table.select_key(job.id)
        self.notify(f"submitted {job.id} ({job.name}) to {job.cluster}")

    def action_cancel_job(self) -> None:
        key = self.session.selection.job
        if key is not None and key.startswith(OTHER_PREFIX):
            what = self._other_name(key)
            self.app.push_screen(
                ConfirmScreen(f"Cancel {what}? batchdeck did not submit it.", yes="Cancel job", no="Keep"),
                partial(self._confirmed, partial(self._control, action="cancel"), key),
            )
            return
        job = self.selected_job()
        if job is None:
            return
        if not self.session.can_cancel(job):
            self.notify(f"job {job.id} is {job.state}: nothing to cancel", severity="warning")
            return
        self.app.push_screen(
            ConfirmScreen(f"Cancel job {job.id} ({job.name}) on {job.cluster}?", yes="Cancel job", no="Keep"),
            partial(self._confirmed, self._cancel, job.id),
        )

    def _confirmed(self, work: Callable[[str], Awaitable[None]], job_id: str, answer: bool | None) -> None:
        if answer:
            self.run_worker(work(job_id), exit_on_error=False)

    async def _cancel(self, job_id: str) -> None:
        try:
            await self.session.cancel(job_id)
        except BatchdeckError as exc:
            self.notify(f"cannot cancel {job_id}: {exc}", severity="error", timeout=10)
            return
        self.notify(f"cancel requested for {job_id}; its row shows what the scheduler says")

    def action_free(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if job.state != RunState.TERMINATED:
            self.notify(
                f"job {job.id} is {job.state}: only TERMINATED jobs can be freed (download its results first)",
                severity="warning",
            )
            return
        if not job.sandbox:
            self.notify(f"job {job.id} has no remote sandbox", severity="warning")
            return
        self.app.push_screen(
            ConfirmScreen(f"Delete the remote sandbox of {job.id} ({job.sandbox})?", yes="Free", no="Keep"),
            partial(self._confirmed, self._free, job.id),
        )

    async def _free(self, job_id: str) -> None:
        try:
            await self.session.free(job_id)
        except BatchdeckError as exc:
            self.notify(f"cannot free {job_id}: {exc}", severity="error", timeout=10)
            return
        self.notify(f"freed the sandbox of {job_id}")

    def action_forget(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if may_still_run(job):
            self.notify(f"job {job.id} is {job.state}: cancel it before forgetting it", severity="warning")
            return
        kept = f"; its sandbox {job.sandbox} stays until freed" if job.sandbox else ""
        self.app.push_screen(
            ConfirmScreen(f"Forget job {job.id} ({job.name}) on {job.cluster}{kept}?", yes="Forget", no="Keep"),
            partial(self._confirmed, self._forget, job.id),
        )

    async def _forget(self, job_id: str) -> None:
        try:
            await self.session.forget(job_id)
        except BatchdeckError as exc:
            self.notify(f"cannot forget {job_id}: {exc}", severity="error", timeout=10)
            return
        self.notify(f"forgot {job_id}")

    def action_clean(self) -> None:
        """``batchdeck clean`` from the app: the finished jobs older than CLEAN_AGE, of the selected
        cluster (or every cluster), forgotten once the user said yes; their sandboxes stay."""
        cluster = self.session.selection.cluster
        where = f" on {cluster}" if cluster else ""
        old = self.session.deck.clean_candidates(parse_age(CLEAN_AGE), cluster)
        if not old:
            self.notify(f"no finished job older than {CLEAN_AGE}{where}")
            return
        kept = sum(1 for job in old if job.sandbox)
        note = f"; {kept} of their sandboxes were not freed and stay" if kept else ""
        ids = [job.id for job in old]
        self.app.push_screen(
            ConfirmScreen(f"Forget {len(old)} finished job(s) older than {CLEAN_AGE}{where}{note}?", yes="Forget", no="Keep"),
            partial(self._clean_confirmed, ids, where),
        )

    def _clean_confirmed(self, ids: list[str], where: str, answer: bool | None) -> None:
        if answer:
            self.run_worker(self._clean(ids, where), exit_on_error=False)

    async def _clean(self, ids: list[str], where: str) -> None:
        try:
            removed = await self.session.clean(ids)
        except BatchdeckError as exc:
            self.notify(f"cannot clean: {exc}", severity="error", timeout=10)
            return
        self.notify(f"forgot {removed} finished job(s) older than {CLEAN_AGE}{where}")

    def action_peek(self) -> None:
        key = self.session.selection.job
        if key is not None and key.startswith(OTHER_PREFIX):
            self.run_worker(self._peek_other(key, stderr=False), group="peek-other", exclusive=True, exit_on_error=False)
            return
        job = self.selected_job()
        if job is None:
            return
        task = split_task_key(self.session.selection.job or "")[1]
        if job.spec.array and task is None:
            tasks = key_text(self.app, "tasks")
            self.notify(f"{job.id} is an array job: unfold its tasks ({tasks}) and peek one", severity="warning")
            return
        peek = self.query_one(PeekView)
        peek.open(job.id, task=task)
        peek.log_widget.focus()

    def action_toggle_tasks(self) -> None:
        """Unfold the selected array job into one row per task, or fold it (also from a task's row)."""
        key = self.session.selection.job
        if key is None:
            self.notify("no job selected", severity="warning")
            return
        array_key = self._parents.get(key, key)
        if array_key not in self.expanded and not self._is_array_row(array_key):
            self.notify("the selected job is no array job", severity="warning")
            return
        if array_key in self.expanded:
            self.expanded.discard(array_key)
        else:
            self.expanded.add(array_key)
        self.refresh_jobs()
        self.query_one(JobsTable).select_key(array_key)

    def _is_array_row(self, key: str) -> bool:
        job = self.session.jobs.get(key)
        if job is not None:
            return bool(job.spec.array)
        return key in self._array_rows

    async def _peek_other(self, key: str, stderr: bool) -> None:
        """The path the scheduler names for the job's output, from its details (one command, or
        none while the details held are good), then the same live tail as a batchdeck job's."""
        try:
            source: LogSource = await self.session.output_source(key, stderr)
        except BatchdeckError as exc:
            self._refused("peek at", key, exc)
            return
        peek = self.query_one(PeekView)
        peek.open(key, stderr, source=source, title=self._other_name(key))
        peek.log_widget.focus()

    def action_toggle_stream(self) -> None:
        peek = self.query_one(PeekView)
        if peek.tail is None:
            self.notify("peek a job first (p)", severity="warning")
            return
        if peek.tail.job_id.startswith(OTHER_PREFIX):
            stderr = not peek.tail.stderr
            self.run_worker(self._peek_other(peek.tail.job_id, stderr), group="peek-other", exclusive=True, exit_on_error=False)
            return
        peek.toggle_stream()

    # ------------------------------------------------------------------ any of the user's jobs

    def _other_name(self, key: str) -> str:
        """``cluster:jobid (name)`` of a row's job batchdeck did not submit."""
        cluster, _, jobid = key[len(OTHER_PREFIX) :].partition(":")
        info = self.session.other_job(key)
        return f"{cluster}:{jobid}" + (f" ({info.name})" if info is not None and info.name else "")

    def _refused(self, what: str, key: str, exc: BatchdeckError) -> None:
        # the scheduler's own words, its one meaningful line
        name = self._other_name(key) if key.startswith(OTHER_PREFIX) else key
        self.notify(
            f"cannot {what} {terminal_safe(name)}: {terminal_safe(first_line(exc)[0])}", severity="error", timeout=10
        )

    def action_details(self) -> None:
        key = self.session.selection.job
        if key is None:
            self.notify("no job selected", severity="warning")
            return
        title = self._other_name(key) if key.startswith(OTHER_PREFIX) else key
        screen = DetailsScreen(f"Details of {title}")
        self.app.push_screen(screen)
        self.run_worker(self._fetch_details(key, screen), group="details", exclusive=True, exit_on_error=False)

    async def _fetch_details(self, key: str, screen: DetailsScreen) -> None:
        now = self.session.clock()
        record = self.session.jobs.get(key)
        try:
            details = await self.session.details(key)
        except BatchdeckError as exc:
            screen.show_error(first_line(exc)[0])
            return
        screen.show_rows(job_control.details_rows(details, now, lost_note(record, now) if record else ""))

    def _other_key(self) -> str | None:
        key = self.session.selection.job
        if key is None or not key.startswith(OTHER_PREFIX):
            self.notify("this acts on a job batchdeck did not submit (an 'other' row)", severity="warning")
            return None
        return key

    async def _control(self, key: str, action: str, value: str | None = None) -> None:
        what = action.replace("_", " ") if action != "time_limit" else "set the time limit of"
        try:
            answer = await self.session.control(key, action, value)
        except BatchdeckError as exc:
            self._refused(what, key, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug must show on screen, not vanish in a worker
            self._refused(what, key, BatchdeckError(f"{type(exc).__name__}: {exc}"))
            return
        done = f"sent SIG{value}" if action == "signal" else _DONE[action]
        said = f": {terminal_safe(answer)}" if answer else ""
        self.notify(f"{terminal_safe(self._other_name(key))} {done}{said}")

    def action_signal_job(self) -> None:
        key = self._other_key()
        if key is not None:
            self.app.push_screen(SignalScreen(self._other_name(key)), partial(self._signal_chosen, key))

    def _signal_chosen(self, key: str, signal: str | None) -> None:
        if signal:
            self.run_worker(self._control(key, "signal", signal), exit_on_error=False)

    def action_hold_job(self) -> None:
        key = self._other_key()
        if key is not None:
            self.run_worker(self._control(key, "hold"), exit_on_error=False)

    def action_release_job(self) -> None:
        key = self._other_key()
        if key is not None:
            self.run_worker(self._control(key, "release"), exit_on_error=False)

    def action_time_limit(self) -> None:
        key = self._other_key()
        if key is None:
            return
        held = self.session.cached_details(key)
        current = format_walltime(held.time_limit) if held is not None and held.time_limit else ""
        self.app.push_screen(TimeLimitScreen(self._other_name(key), current), partial(self._limit_chosen, key))

    def _limit_chosen(self, key: str, seconds: int | None) -> None:
        if seconds:
            self.run_worker(self._control(key, "time_limit", str(seconds)), exit_on_error=False)

    # ------------------------------------------------------------------ sorting and columns

    def action_sort(self) -> None:
        self.session.set_sort(next_sort(self.session.sort, self.query_one(JobsTable).shown_columns))
        if self.on_view_change is not None:
            self.on_view_change()

    def action_choose_columns(self) -> None:
        shown = self.query_one(JobsTable).shown_columns
        labels = dict(COLUMNS)
        self.app.push_screen(ColumnsScreen([(key, labels[key]) for key in DISPLAY_ORDER], shown, self._columns_chosen))

    def _columns_chosen(self, columns: tuple[str, ...]) -> None:
        self.session.set_columns(None if columns == DISPLAY_ORDER else columns)
        if self.session.sort is not None and self.session.sort[0] not in columns:
            self.session.set_sort(None)  # a hidden column sorts nothing the user can see
        if self.on_view_change is not None:
            self.on_view_change()

    def action_toggle_command(self) -> None:
        # A view choice, not the session's: it holds for every job until toggled back.
        self.whole_command = not self.whole_command
        self.query_one(PeekView).set_class(self.whole_command, "-whole-command")
        self.show_detail()

    def action_download(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if not job.sandbox:
            self.notify(f"job {job.id} has no sandbox to download from", severity="warning")
            return
        deck = self.session.deck
        self.app.push_screen(DownloadScreen(deck, job, deck.default_download_dir(job, self.download_base)))

    def action_refresh(self) -> None:
        self.session.refresh_now()

    def action_history(self) -> None:
        if not self.session.cluster_names:
            self.notify("no cluster is configured", severity="error")
            return
        self.app.push_screen(HistoryScreen(self.session, on_resubmit=self._resubmit_finished))

    def action_resubmit(self) -> None:
        key = self.session.selection.job
        if key is None:
            self.notify("no job selected", severity="warning")
            return
        job = self.session.selected_job
        if job is not None:
            self.resubmit(job.cluster, job.jobid or "", job)
            return
        info = self.session.other_job(key)
        if info is not None:
            self.resubmit(key[len(OTHER_PREFIX) :].partition(":")[0], info.jobid, None)

    def _resubmit_finished(self, cluster: str, record: HistoryRecord) -> None:
        # one of batchdeck's own jobs resubmits from its stored spec, not the scheduler's copy
        mine = [job for job in self.session.jobs.values() if job.cluster == cluster and job.jobid == record.jobid]
        self.resubmit(cluster, record.jobid, mine[0] if mine else None)

    def resubmit(self, cluster: str, jobid: str, record: JobRecord | None) -> None:
        """Open the submit form with the job's values; a script batchdeck did not keep is fetched
        from the scheduler first, in a worker."""
        self.run_worker(self._open_resubmit(cluster, jobid, record), group="resubmit", exit_on_error=False)

    async def _open_resubmit(self, cluster: str, jobid: str, record: JobRecord | None) -> None:
        deck = self.session.deck
        what = terminal_safe(record.id if record is not None else f"{cluster}:{jobid}")
        if record is None:
            self.notify(f"fetching the batch script of {what}…", timeout=2)
        try:
            values = await resubmit_values(deck.backend(cluster), deck.journal.path.parent, jobid, record)
        except BatchdeckError as exc:
            self.notify(f"cannot resubmit {what}: {terminal_safe(first_line(exc)[0])}", severity="error", timeout=10)
            return
        self.app.push_screen(
            SubmitScreen(deck, cluster, None, self.session.queues, prefill=values), self._submitted
        )

    def action_choose_theme(self) -> None:
        self.app.action_choose_theme()  # type: ignore[attr-defined]

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.app.action_quit()


def job_detail(job: JobRecord, now: float, whole_command: bool = False, expand_key: str = "e") -> Text:
    """The Details pane's text; the command on one line, or whole with ``whole_command``."""
    spec = job.spec
    words = [*spec.command, *spec.arguments]
    what = command_text(words) if spec.command else "(script)"
    if spec.command and whole_command:
        what = full_command(words)
    elif spec.command and what != full_command(words):
        what += f"  ({expand_key}: whole command)"
    text = Text()
    text.append(f"{terminal_safe(job.id)}", style="bold")
    text.append(f"  {terminal_safe(job.name)} on {terminal_safe(job.cluster)}")
    if job.jobid and job.jobid != job.id:
        text.append(f"  scheduler id {terminal_safe(job.jobid)}")
    text.append(f"  {job.state.value}")
    if job.raw_state:
        text.append(f" ({terminal_safe(job.raw_state)})", style="dim")
    if job.stale:
        text.append("  stale: the cluster did not answer the last refresh", style="italic")
    # line by line: the breaks of a whole command are its own, anything else in it is escaped
    text.append("\n" + "\n".join(terminal_safe(line) for line in what.split("\n")), style="dim")
    text.append(
        f"\ncores {spec.cores} · mem/core {format_memory(spec.memory_per_core)} · "
        f"walltime {format_walltime(spec.walltime)} · sandbox {terminal_safe(job.sandbox or '-')}",
        style="dim",
    )
    times = [(label, at) for label, at in (("submitted", job.submitted), ("started", job.started), ("ended", job.finished)) if at]
    if times:
        text.append("\n" + " · ".join(f"{label} {format_when(at, now)}" for label, at in times), style="dim")
    if job.reason:
        text.append(f"\n{terminal_safe(job.reason)}", style="italic")
    lost = lost_note(job, now)
    if lost:
        text.append(f"\n{lost}", style="italic")
    return text


def other_detail(info: SchedulerJob, hint: str = "") -> Text:
    text = Text()
    text.append(terminal_safe(info.jobid), style="bold")
    text.append(
        f"  {terminal_safe(info.name)}  {info.state.value} ({terminal_safe(info.raw_state)})  "
        f"user {terminal_safe(info.user or '?')}"
    )
    text.append("\nnot started by batchdeck", style="dim italic")
    if hint:
        text.append(f": {hint}", style="dim italic")
    if info.reason:
        text.append(f"\n{terminal_safe(info.reason)}", style="italic")
    return text
