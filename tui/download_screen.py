"""Download a job's results (``d``): destination, Overwrite / Changed-only, progress, summary."""

from __future__ import annotations

import asyncio
import os
import posixpath

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static, Switch

from ..backends.engine.deck import Deck
from ..backends.errors import BatchdeckError
from ..backends.model import JobRecord
from ..backends.schedulers.base import NOT_WRITTEN, TransferReport
from ..backends.text import terminal_safe
from .keys import bindings, key_text


def summary_text(report: TransferReport) -> Text:
    text = Text()
    text.append(f"{len(report.copied)} copied", style="bold green" if report.copied else "")
    text.append(f" ({report.bytes_copied:,} bytes) · ")
    text.append(f"{len(report.skipped)} skipped", style="bold yellow" if report.skipped else "")
    text.append(" · ")
    text.append(f"{len(report.failed)} failed", style="bold red" if report.failed else "")
    if report.missing:
        text.append(" · ")
        text.append(f"{len(report.missing)} missing", style="bold yellow")
    for name, why in sorted(report.failed.items()):
        text.append(f"\n✘ {terminal_safe(name)}: {terminal_safe(why)}", style="red")
    for name in report.missing:
        text.append(f"\n? {terminal_safe(name)}: {NOT_WRITTEN}", style="yellow")
    return text


class DownloadScreen(ModalScreen[TransferReport | None]):
    """Runs the transfer in a worker: the app keeps answering keys meanwhile."""

    # The progress lines wrap inside the dialog: a long file name cut at its width loses the counts.
    DEFAULT_CSS = """
    DownloadScreen #file-label, DownloadScreen #total-label {
        width: 100%;
    }
    """

    class Finished(Message):
        """A transfer ended (the job's state may have moved to TERMINATED)."""

        def __init__(self, job_id: str, report: TransferReport) -> None:
            super().__init__()
            self.job_id = job_id
            self.report = report

    BINDINGS = bindings("download")

    def __init__(self, deck: Deck, job: JobRecord, directory: str | os.PathLike[str]) -> None:
        super().__init__()
        self.deck = deck
        self.job = job
        self.directory = str(directory)
        self.report: TransferReport | None = None
        self.running = False
        self._file_sizes: dict[str, int] = {}
        self._done: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="download"):
            # plain text: a job name is never markup, and never a terminal escape
            title = Text(f"Download results of {terminal_safe(self.job.id)}", style="bold")
            title.append(f" ({terminal_safe(self.job.name)})", style="")
            yield Static(title, classes="title")
            with Horizontal(classes="field"):
                yield Label("Into", classes="label")
                yield Input(self.directory, id="directory", compact=True)
            with Horizontal(classes="field switches"):
                yield Label("Overwrite", classes="label")
                yield Switch(False, id="overwrite")
                yield Label("Changed only", classes="label")
                yield Switch(True, id="changed-only")
            yield Static(
                "[dim]Existing files are kept unless Overwrite; with Changed only, "
                "only files that differ are replaced.[/dim]",
                classes="hint",
            )
            # A known total from the start: an indeterminate bar animates, which
            # would make every screenshot differ.
            yield Label("File  (not started)", id="file-label")
            yield ProgressBar(total=1, show_eta=False, id="file-progress")
            yield Label("Total", id="total-label")
            yield ProgressBar(total=1, show_eta=False, id="total-progress")
            yield Static("", id="summary")
            with Horizontal(classes="buttons"):
                yield Button("Download", variant="success", id="start")
                yield Button(f"Close ({key_text(self.app, 'download_close').split(' / ')[0]})", id="close")

    def on_mount(self) -> None:
        self.query_one("#start", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.start()
        else:
            self.action_close()

    def on_input_submitted(self) -> None:
        self.start()

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self.query_one("#start", Button).disabled = True
        self.query_one("#summary", Static).update("downloading…")
        # An app worker, not the screen's: closing the dialog must not cancel the copy.
        self.app.run_worker(self._download(), group=f"download-{self.job.id}", exit_on_error=False)

    async def _download(self) -> None:
        directory = self.query_one("#directory", Input).value.strip() or self.directory
        overwrite = self.query_one("#overwrite", Switch).value
        changed_only = self.query_one("#changed-only", Switch).value
        loop = asyncio.get_running_loop()
        self._file_sizes.clear()
        self._done.clear()

        def progress(path: str, done: int, size: int) -> None:
            # Transports may call this from a copy thread: hop onto the app's loop.
            loop.call_soon_threadsafe(self._progress, path, done, size)

        try:
            report = await self.deck.get_results(
                self.job.id, directory, overwrite=overwrite, changed_only=changed_only, progress=progress
            )
        except BatchdeckError as exc:
            self.running = False
            if not self.is_attached:
                self.app.notify(f"download of {self.job.id} failed: {exc}", severity="error")
                return
            self.query_one("#summary", Static).update(Text(f"✘ {exc}", style="red"))
            self.query_one("#start", Button).disabled = False
            return
        self.report = report
        self.running = False
        self.app.post_message(DownloadScreen.Finished(self.job.id, report))
        if not self.is_attached:
            self.app.notify(f"results of {self.job.id}: {summary_text(report).plain}")
            return
        total = max(1, report.bytes_copied)
        bar = self.query_one("#total-progress", ProgressBar)
        bar.update(total=total, progress=total)
        if not report.copied:
            self.query_one("#file-progress", ProgressBar).update(total=1, progress=1)
            self.query_one("#file-label", Label).update("nothing to copy")
        self.query_one("#summary", Static).update(summary_text(report))
        self.query_one("#start", Button).disabled = False
        self.query_one("#start", Button).label = "Download again"

    def _progress(self, path: str, done: int, size: int) -> None:
        if not self.is_attached:
            return
        self._file_sizes[path] = size
        self._done[path] = done
        name = terminal_safe(posixpath.basename(path))
        self.query_one("#file-label", Label).update(Text(f"File  {name}  {done:,}/{size:,} bytes"))
        self.query_one("#file-progress", ProgressBar).update(total=max(1, size), progress=done if size else 1)
        seen = sum(self._file_sizes.values())
        self.query_one("#total-progress", ProgressBar).update(total=max(1, seen), progress=sum(self._done.values()))
        self.query_one("#total-label", Label).update(f"Total  {len(self._done)} file(s) so far")

    def action_close(self) -> None:
        if self.running:
            self.notify("the download goes on in the background; its summary will show here")
        self.dismiss(self.report)
