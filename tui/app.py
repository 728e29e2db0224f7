"""The batchdeck app: Clusters, Queues and Jobs panes over the Deck engine.

App state (the job cache, cluster statuses, queue lists, the filter) lives here;
the widgets only display what ``rows`` computes from it.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, OptionList
from textual.widgets.option_list import Option

from ..backends.engine.config import Config, default_config_path
from ..backends.engine.deck import Deck
from ..backends.errors import BatchdeckError, ConfigError
from ..backends.model import JobRecord, QueueInfo, RunState, SchedulerJob
from ..backends.text import terminal_safe
from ..backends.units import format_memory, format_walltime
from ..themes import DARK, DEFAULT_STATE_COLOURS, STATE_ROLES, THEMES
from .confirm_screen import ConfirmScreen
from .download_screen import DownloadScreen
from .help_screen import HelpScreen
from .jobs_table import JobsTable
from .peek_view import PeekView
from .rows import (
    OTHER_PREFIX,
    Clock,
    JobFilter,
    clock_text,
    cluster_counts,
    cluster_prompt,
    counts_text,
    is_other,
    queue_row,
    visible_rows,
)
from .submit_screen import SubmitRequest, SubmitScreen
from .theme_screen import ThemeScreen

ALL = "*all*"
#: seconds between automatic refreshes of a cluster's queue list
QUEUES_EVERY = 30.0

# (action, key, footer label, palette help)
ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("submit", "s", "Submit", "Submit a new job"),
    ("cancel_job", "c", "Cancel", "Cancel the selected job"),
    ("peek", "p", "Peek", "Live tail of the selected job's output"),
    ("download", "d", "Download", "Download the selected job's results"),
    ("free", "f", "Free", "Free the selected job's remote sandbox"),
    ("refresh", "r", "Refresh", "Refresh every cluster now"),
    ("filter", "slash", "Filter", "Filter the jobs by text"),
    ("toggle_stream", "o", "Out/Err", "Peek stdout or stderr"),
    ("choose_theme", "t", "Theme", "Choose the theme"),
    ("help", "question_mark", "Help", "Show the keys"),
    ("quit", "q", "Quit", "Quit batchdeck (jobs keep running)"),
)
MAIN_ACTIONS = frozenset(a for a, *_ in ACTIONS)


def ui_settings_path(config_path: str | Path | None = None) -> Path:
    """``ui.json`` beside the configuration file (the user's config dir by default)."""
    base = Path(config_path) if config_path is not None else default_config_path()
    return base.parent / "ui.json"


class FilterInput(Input):
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter")]

    def action_clear_filter(self) -> None:
        self.value = ""
        self.app.action_filter_done()  # type: ignore[attr-defined]


class BatchdeckApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "batchdeck"
    BINDINGS = [Binding(key, action, label) for action, key, label, _ in ACTIONS]

    def __init__(
        self,
        deck: Deck,
        *,
        clock: Clock = time.time,
        auto_refresh: bool = True,
        ui_settings: Path | None = None,
        queues: dict[str, list[QueueInfo]] | None = None,
        peek_interval: float = 0.5,
        owns_deck: bool = False,
        download_base: Path | None = None,
    ) -> None:
        super().__init__()
        self.deck = deck
        self.clock = clock
        self.live = auto_refresh
        self.ui_settings = ui_settings
        self.queue_cache: dict[str, list[QueueInfo]] = dict(queues or {})
        self.peek_interval = peek_interval
        self.owns_deck = owns_deck
        # None: per-job folders under the current directory, as the CLI does.
        self.download_base = download_base
        self.jobs_by_id: dict[str, JobRecord] = {}
        self.job_filter = JobFilter()
        self.state_colours: dict[str, str] = dict(DEFAULT_STATE_COLOURS)
        self.last_refresh: float | None = None
        self._polling: set[str] = set()
        self._loading_queues: set[str] = set()
        self._poll_timers: list[Timer] = []
        self._queues_at: dict[str, float] = {}
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = self._saved_theme() or DARK

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                clusters = OptionList(id="clusters")
                clusters.border_title = "Clusters"
                yield clusters
                queues: DataTable[str] = DataTable(id="queues", cursor_type="row")
                queues.border_title = "Queues"
                yield queues
            with Vertical(id="right"):
                with Vertical(id="jobs-pane"):
                    yield FilterInput(placeholder="filter jobs (escape clears, enter keeps)", id="filter")
                    yield JobsTable(id="jobs")
                yield PeekView(self.deck, interval=self.peek_interval, id="peek")
        yield Footer()

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._update_state_colours()
        self.query_one("#filter", FilterInput).display = False
        queues = self.query_one("#queues", DataTable)
        for key, label in (("name", "queue"), ("state", "state"), ("cores", "free"),
                           ("jobs", "run/pd"), ("wall", "max wall")):
            queues.add_column(label, key=key)
        self.jobs_by_id = {job.id: job for job in self.deck.jobs()}
        self.render_clusters()
        self.render_queues()
        self.refresh_jobs()
        self.query_one(JobsTable).focus()
        self._update_subtitle()
        if self.live:
            for name in self.deck.cluster_names:
                if name in self.deck.config.broken:
                    continue
                interval = self.deck.config.clusters[name].poll_interval
                self._poll_timers.append(self.set_interval(interval, partial(self.poll_cluster, name)))
                self.poll_cluster(name)
                self.load_queues(name)

    async def on_unmount(self) -> None:
        if self.owns_deck:
            await self.deck.close()

    # ------------------------------------------------------------------ themes

    def _saved_theme(self) -> str | None:
        if self.ui_settings is None:
            return None
        try:
            name = json.loads(self.ui_settings.read_text()).get("theme")
        except (OSError, ValueError, AttributeError):
            return None
        return name if isinstance(name, str) and name in self.available_themes else None

    def _save_theme(self, name: str) -> None:
        if self.ui_settings is None:
            return
        try:
            data = json.loads(self.ui_settings.read_text()) if self.ui_settings.exists() else {}
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data["theme"] = name
        try:
            self.ui_settings.parent.mkdir(parents=True, exist_ok=True)
            self.ui_settings.write_text(json.dumps(data, indent=2) + "\n")
        except OSError as exc:
            self.notify(f"cannot save the theme to {self.ui_settings}: {exc.strerror}", severity="warning")

    def _theme_changed(self, _theme: object) -> None:
        self._update_state_colours()
        # Rich Text compares equal whatever its style, so recolouring needs a full redraw.
        self.query_one(JobsTable).sync({})
        self.refresh_jobs()
        self.render_clusters()

    def _update_state_colours(self) -> None:
        variables = self.get_css_variables()
        self.state_colours = {
            role: variables.get(f"bd-{role}", DEFAULT_STATE_COLOURS[role]) for role in STATE_ROLES
        }

    # ------------------------------------------------------------------ refresh

    def poll_cluster(self, name: str) -> None:
        """Start one Deck.poll of a cluster unless one is already running."""
        if name in self._polling or name in self.deck.config.broken:
            return
        self._polling.add(name)
        self.render_clusters()
        self.run_worker(self._poll(name), group=f"poll-{name}", exit_on_error=False)

    async def _poll(self, name: str) -> None:
        status = self.deck.status[name]
        was_error = status.state == "error"
        try:
            result = await self.deck.poll(name)
        except BatchdeckError:
            self._reload_cluster(name)
        except Exception as exc:  # noqa: BLE001 - a backend bug must show on the row, not kill the app
            status.state = "error"
            status.error = f"{type(exc).__name__}: {exc}"
            self._reload_cluster(name)
        else:
            if was_error:
                self._reload_cluster(name)  # stale marks were cleared in the journal
            # The journal's copies, not only what this poll changed: another batchdeck
            # (the CLI, a second app) may have changed a job since we last looked.
            for job in [*result.jobs, *result.changed]:
                self.jobs_by_id[job.id] = job
        finally:
            self._polling.discard(name)
        self.last_refresh = self.clock()
        self._update_subtitle()
        self.render_clusters()
        self.refresh_jobs()
        # Queue listings change slowly and cost a command of their own: refresh them
        # far less often than job states, which keeps each poll to one status query.
        stale_after = max(QUEUES_EVERY, self.deck.config.clusters[name].poll_interval)
        if self.selected_cluster in (None, name) and time.monotonic() - self._queues_at.get(name, -stale_after) >= stale_after:
            self.load_queues(name)

    def _reload_cluster(self, name: str) -> None:
        for job in self.deck.jobs(name):
            self.jobs_by_id[job.id] = job

    def load_queues(self, name: str) -> None:
        if name in self._loading_queues or name in self.deck.config.broken:
            return
        self._loading_queues.add(name)
        self.run_worker(self._load_queues(name), group=f"queues-{name}", exit_on_error=False)

    async def _load_queues(self, name: str) -> None:
        self._queues_at[name] = time.monotonic()
        try:
            self.queue_cache[name] = await self.deck.queues(name)
        except BatchdeckError:
            pass  # the cluster's row already shows why (its poll fails the same way)
        finally:
            self._loading_queues.discard(name)
        self.render_queues()

    def _update_subtitle(self) -> None:
        self.sub_title = f"refreshed {clock_text(self.last_refresh)}"

    # ------------------------------------------------------------------ panes

    @property
    def selected_cluster(self) -> str | None:
        option = self.query_one("#clusters", OptionList).highlighted_option
        if option is None or option.id in (None, ALL):
            return None
        return option.id

    @property
    def selected_queue(self) -> tuple[str, str] | None:
        table = self.query_one("#queues", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if not key or key == ALL:
            return None
        cluster, _, queue = key.partition("\t")
        return cluster, queue

    def render_clusters(self) -> None:
        options = self.query_one("#clusters", OptionList)
        counts = cluster_counts(self.jobs_by_id.values())
        total: dict[str, int] = {}
        for per in counts.values():
            for role, n in per.items():
                total[role] = total.get(role, 0) + n
        all_prompt = Text("All clusters", style="bold")
        all_prompt.append("\n  ")
        all_prompt.append_text(counts_text(total, self.state_colours))
        prompts: list[tuple[str, Text]] = [(ALL, all_prompt)]
        for name in self.deck.cluster_names:
            status = self.deck.status[name]
            others = sum(1 for info in status.other_jobs if is_other(info))
            prompts.append((name, cluster_prompt(status, counts.get(name, {}), self.state_colours, others)))
        if [o.id for o in options.options] == [ident for ident, _ in prompts]:
            for ident, prompt in prompts:
                options.replace_option_prompt(ident, prompt)
        else:
            highlighted = options.highlighted
            options.set_options(Option(prompt, id=ident) for ident, prompt in prompts)
            options.highlighted = highlighted if highlighted is not None else 0

    def render_queues(self) -> None:
        table = self.query_one("#queues", DataTable)
        cluster = self.selected_cluster
        names = [cluster] if cluster else self.deck.cluster_names
        rows: list[tuple[str, tuple[str, ...]]] = [(ALL, ("(all queues)", "", "", "", ""))]
        for name in names:
            for queue in self.queue_cache.get(name, []):
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
        selected = self.selected_queue
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected is not None:
            try:
                table.move_cursor(row=table.get_row_index("\t".join(selected)))
            except Exception:  # noqa: BLE001 - the queue is gone: stay on "all"
                pass

    def refresh_jobs(self) -> None:
        table = self.query_one(JobsTable)
        rows = visible_rows(
            self.jobs_by_id.values(), self.deck.status, self.job_filter, self.clock(), self.state_colours
        )
        table.sync(rows)
        jobs_title = f"Jobs ({len(rows)}"
        if self.job_filter.text:
            jobs_title += f", filter '{self.job_filter.text}'"
        table.border_title = jobs_title + ")"
        self.show_detail()

    @on(OptionList.OptionHighlighted, "#clusters")
    def _cluster_highlighted(self) -> None:
        self.job_filter.cluster = self.selected_cluster
        self.job_filter.queue = None
        self.render_queues()
        self.refresh_jobs()
        if self.selected_cluster:
            self.load_queues(self.selected_cluster)

    @on(DataTable.RowHighlighted, "#queues")
    def _queue_highlighted(self) -> None:
        selected = self.selected_queue
        if selected is None:
            self.job_filter.queue = None
            self.job_filter.cluster = self.selected_cluster
        else:
            self.job_filter.cluster, self.job_filter.queue = selected
        self.refresh_jobs()

    @on(DataTable.RowHighlighted, "#jobs")
    def _job_highlighted(self) -> None:
        self.show_detail()

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self) -> None:
        self.action_peek()

    def show_detail(self) -> None:
        peek = self.query_one(PeekView)
        key = self.query_one(JobsTable).selected_key
        if key is None:
            peek.show_detail(Text("no job selected", style="dim"))
        elif key.startswith(OTHER_PREFIX):
            info = self._other_job(key)
            peek.show_detail(other_detail(info) if info else Text(""))
        elif key in self.jobs_by_id:
            peek.show_detail(job_detail(self.jobs_by_id[key], self.clock()))

    def _other_job(self, key: str) -> SchedulerJob | None:
        cluster, _, jobid = key[len(OTHER_PREFIX) :].partition(":")
        status = self.deck.status.get(cluster)
        for info in status.other_jobs if status else []:
            if info.jobid == jobid:
                return info
        return None

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        box.display = True
        box.focus()

    def action_filter_done(self) -> None:
        box = self.query_one("#filter", FilterInput)
        if not box.value:
            box.display = False
        self.query_one(JobsTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.job_filter.text = event.value.strip()
        self.refresh_jobs()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.action_filter_done()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The main keys belong to the main screen: in a dialog, "s" or "q" must not act behind it.
        if action in MAIN_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, _key, label, help_text in ACTIONS:
            if action != "quit":
                yield SystemCommand(label, help_text, partial(self.run_action, action))

    def selected_job(self, quiet: bool = False) -> JobRecord | None:
        key = self.query_one(JobsTable).selected_key
        if key is None:
            if not quiet:
                self.notify("no job selected", severity="warning")
            return None
        if key.startswith(OTHER_PREFIX):
            if not quiet:
                self.notify("that job was not started by batchdeck: only its state is shown", severity="warning")
            return None
        return self.jobs_by_id.get(key)

    def _submit_cluster(self) -> str:
        cluster = self.selected_cluster or (self.selected_queue or (None, ""))[0]
        if cluster:
            return cluster
        job = self.selected_job(quiet=True)
        if job is not None:
            return job.cluster
        try:
            return self.deck.config.default_cluster
        except ConfigError:
            return self.deck.cluster_names[0] if self.deck.cluster_names else ""

    def action_submit(self) -> None:
        if not self.deck.cluster_names:
            self.notify("no cluster is configured", severity="error")
            return
        queue = self.selected_queue
        self.push_screen(
            SubmitScreen(self.deck, self._submit_cluster(), queue[1] if queue else None, self.queue_cache),
            self._submitted,
        )

    def _submitted(self, request: SubmitRequest | None) -> None:
        if request is not None:
            self.run_worker(self._submit(request), group="submit", exit_on_error=False)

    async def _submit(self, request: SubmitRequest) -> None:
        self.notify(f"submitting {request.spec.name} to {request.cluster}…", timeout=2)
        try:
            job = await self.deck.submit(request.cluster, request.spec)
        except BatchdeckError as exc:
            self.notify(f"submission failed: {exc}", severity="error", timeout=10)
            self._reload_cluster(request.cluster)
            self.refresh_jobs()
            return
        self.jobs_by_id[job.id] = job
        self.refresh_jobs()
        self.render_clusters()
        table = self.query_one(JobsTable)
        if not table.select_key(job.id):
            # The filter hides it: clear the filter so the new job can be selected.
            self.job_filter = JobFilter()
            self.query_one("#clusters", OptionList).highlighted = 0
            self.refresh_jobs()
            table.select_key(job.id)
        self.notify(f"submitted {job.id} ({job.name}) to {job.cluster}")
        self.poll_cluster(job.cluster)

    def action_cancel_job(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if not (job.state.is_active or job.state == RunState.NEW):
            self.notify(f"job {job.id} is {job.state}: nothing to cancel", severity="warning")
            return
        self.push_screen(
            ConfirmScreen(f"Cancel job {job.id} ({job.name}) on {job.cluster}?", yes="Cancel job", no="Keep"),
            partial(self._confirmed, self._cancel, job.id),
        )

    def _confirmed(self, work: Callable[[str], Awaitable[None]], job_id: str, answer: bool | None) -> None:
        if answer:
            self.run_worker(work(job_id), exit_on_error=False)

    async def _cancel(self, job_id: str) -> None:
        try:
            job = await self.deck.cancel(job_id)
        except BatchdeckError as exc:
            self.notify(f"cannot cancel {job_id}: {exc}", severity="error", timeout=10)
            return
        self.jobs_by_id[job.id] = job
        self.refresh_jobs()
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
        self.push_screen(
            ConfirmScreen(f"Delete the remote sandbox of {job.id} ({job.sandbox})?", yes="Free", no="Keep"),
            partial(self._confirmed, self._free, job.id),
        )

    async def _free(self, job_id: str) -> None:
        try:
            job = await self.deck.free(job_id)
        except BatchdeckError as exc:
            self.notify(f"cannot free {job_id}: {exc}", severity="error", timeout=10)
            return
        self.jobs_by_id[job.id] = job
        self.refresh_jobs()
        self.notify(f"freed the sandbox of {job_id}")

    def action_peek(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        peek = self.query_one(PeekView)
        peek.open(job.id)
        peek.log_widget.focus()

    def action_toggle_stream(self) -> None:
        peek = self.query_one(PeekView)
        if peek.tail is None:
            self.notify("peek a job first (p)", severity="warning")
            return
        peek.toggle_stream()

    def action_download(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if not job.sandbox:
            self.notify(f"job {job.id} has no sandbox to download from", severity="warning")
            return
        self.push_screen(DownloadScreen(self.deck, job, self.deck.default_download_dir(job, self.download_base)))

    def on_download_screen_finished(self, event: DownloadScreen.Finished) -> None:
        try:
            self.jobs_by_id[event.job_id] = self.deck.job(event.job_id)
        except BatchdeckError:
            return
        self.refresh_jobs()
        self.render_clusters()

    def action_refresh(self) -> None:
        for name in self.deck.cluster_names:
            self.poll_cluster(name)
        for name in [self.selected_cluster] if self.selected_cluster else self.deck.cluster_names:
            self.load_queues(name)

    def action_choose_theme(self) -> None:
        self.push_screen(ThemeScreen(self.theme, list(self.available_themes)), self._theme_chosen)

    def _theme_chosen(self, name: str | None) -> None:
        if name:
            self.theme = name
            self._save_theme(name)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        # Stop our timers first: one firing during Textual's teardown fails it.
        for timer in self._poll_timers:
            timer.stop()
        self.query_one(PeekView).close()
        self.exit(0)


def job_detail(job: JobRecord, now: float) -> Text:
    spec = job.spec
    what = shlex.join([*spec.command, *spec.arguments]) if spec.command else "(script)"
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
    text.append(f"\n{terminal_safe(what)}", style="dim")
    text.append(
        f"\ncores {spec.cores} · mem/core {format_memory(spec.memory_per_core)} · "
        f"walltime {format_walltime(spec.walltime)} · sandbox {terminal_safe(job.sandbox or '-')}",
        style="dim",
    )
    if job.reason:
        text.append(f"\n{terminal_safe(job.reason)}", style="italic")
    return text


def other_detail(info: SchedulerJob) -> Text:
    text = Text()
    text.append(terminal_safe(info.jobid), style="bold")
    text.append(
        f"  {terminal_safe(info.name)}  {info.state.value} ({terminal_safe(info.raw_state)})  "
        f"user {terminal_safe(info.user or '?')}"
    )
    text.append("\nnot started by batchdeck: shown for context only", style="dim italic")
    if info.reason:
        text.append(f"\n{terminal_safe(info.reason)}", style="italic")
    return text


def broken_config_deck(config_path: str | None, error: ConfigError) -> Deck:
    """A Deck with no usable cluster whose only row shows why the file is broken."""
    path = Path(config_path) if config_path else default_config_path()
    return Deck(Config(path=path, broken={path.name: error}))


def run_app(config_path: str | None) -> int:
    """``batchdeck`` without a subcommand: open the engine and run the app."""
    try:
        deck = Deck.open(config_path)
    except ConfigError as exc:
        try:
            deck = broken_config_deck(config_path, exc)
        except BatchdeckError as inner:
            print(f"batchdeck: {inner}", file=sys.stderr)
            return 1
    except BatchdeckError as exc:
        print(f"batchdeck: {exc}", file=sys.stderr)
        return 1
    app = BatchdeckApp(deck, ui_settings=ui_settings_path(config_path), owns_deck=True)
    result = app.run()
    return result if isinstance(result, int) else (app.return_code or 0)
