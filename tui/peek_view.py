"""The detail/peek area: the selected job's details and a live tail of its stdout or stderr."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Log, Static

from ..backends.engine.deck import Deck
from ..backends.errors import BatchdeckError, RemoteFileNotFound

#: bytes read when a file is opened (from its end) and per earlier chunk
CHUNK = 64 * 1024
#: most bytes read per tick, so a burst of output never stalls the UI
MAX_READ = 1024 * 1024


IDLE_HINT = Text("p or enter: live tail of the selected job's output (o: stderr)", style="dim")


class PeekLog(Log):
    """A Log that can prepend earlier lines and knows whether it follows the end."""

    BINDINGS = [
        Binding("end", "follow", "Follow", show=False),
        Binding("home", "top", "Top", show=False),
    ]

    class AtTop(Message):
        """The user reached the first loaded line: time to load an earlier chunk."""

    following: bool = True

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.following = new >= self.max_scroll_y
        if new <= 0 and old > 0:
            self.post_message(self.AtTop())

    def action_follow(self) -> None:
        self.following = True
        self.scroll_end(animate=False, x_axis=False)

    def action_top(self) -> None:
        self.scroll_home(animate=False, immediate=True, x_axis=False)
        self.post_message(self.AtTop())

    def prepend_lines(self, lines: list[str]) -> None:
        """Insert whole lines before the first one, keeping the view on the same text."""
        if not lines:
            return
        # Log has no public prepend; its line store and render cache are simple
        # enough to extend at the front (the cache is keyed by line number).
        self._lines[0:0] = lines
        self._render_line_cache.clear()
        self._width = max(self._width, *(cell_len(self._process_line(line)) for line in lines))
        self.virtual_size = Size(self._width, self.line_count)
        self.scroll_to(y=self.scroll_y + len(lines), animate=False, immediate=True)
        self.refresh()


@dataclass
class TailState:
    job_id: str
    stderr: bool
    start: int = 0  # file offset of the first loaded byte (always a line start)
    end: int = 0  # file offset just after the last loaded byte
    total: int = 0
    opened: bool = False
    missing: bool = False


class PeekView(Vertical):
    """Job details on top, the tail below. Reads only new bytes on each tick."""

    def __init__(self, deck: Deck, interval: float = 0.5, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.deck = deck
        self.interval = interval
        self.tail: TailState | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._busy = False
        self._want_earlier = False
        self._timer: Timer | None = None
        self.border_title = "Details"

    def compose(self) -> ComposeResult:
        yield Static("", id="detail")
        yield Static(IDLE_HINT, id="peek-status")
        yield PeekLog(id="peek-log", highlight=False, auto_scroll=True)

    @property
    def log_widget(self) -> PeekLog:
        return self.query_one(PeekLog)

    def show_detail(self, text: Text | str) -> None:
        self.query_one("#detail", Static).update(text)

    def open(self, job_id: str, stderr: bool = False) -> None:
        """Start tailing a job's stdout (or stderr) from its end."""
        self.tail = TailState(job_id, stderr)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        log = self.log_widget
        log.clear()
        log.following = True
        self.border_title = f"Peek {job_id} · {'stderr' if stderr else 'stdout'}"
        self._status()
        if self._timer is None:
            self._timer = self.set_interval(self.interval, self.poll_now)
        self.poll_now()

    def close(self) -> None:
        self.tail = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.log_widget.clear()
        self.border_title = "Details"
        self.query_one("#peek-status", Static).update(IDLE_HINT)

    def toggle_stream(self) -> None:
        if self.tail is not None:
            self.open(self.tail.job_id, not self.tail.stderr)

    def poll_now(self) -> None:
        if self.tail is not None and not self._busy:
            self._busy = True
            self.run_worker(self._read_new(self.tail), group="peek", exit_on_error=False)

    async def _read_new(self, tail: TailState) -> None:
        try:
            if not tail.opened:
                await self._open_at_end(tail)
            else:
                data, total = await self.deck.peek(tail.job_id, tail.stderr, offset=tail.end, size=MAX_READ)
                if tail is not self.tail:
                    return
                if total < tail.end:
                    # Truncated or replaced: start again from its end.
                    self.open(tail.job_id, tail.stderr)
                    return
                tail.total = total
                if data:
                    tail.end += len(data)
                    self._append(data)
                tail.missing = False
        except RemoteFileNotFound:
            tail.missing = True
        except BatchdeckError as exc:
            self.query_one("#peek-status", Static).update(Text(str(exc), style="red"))
            return
        finally:
            self._busy = False
        if tail is self.tail:
            self._status()
            if self._want_earlier:
                self.load_earlier()

    async def _open_at_end(self, tail: TailState) -> None:
        # A negative offset reads only the last CHUNK bytes: a multi-GB file opens instantly.
        data, total = await self.deck.peek(tail.job_id, tail.stderr, offset=-CHUNK, size=CHUNK)
        if tail is not self.tail:
            return
        start = max(0, total - CHUNK)
        if start > 0:
            cut = data.find(b"\n")
            if cut >= 0:
                data = data[cut + 1 :]
                start += cut + 1
        tail.start, tail.end, tail.total, tail.opened = start, start + len(data), total, True
        if data:
            self._append(data)

    def _append(self, data: bytes) -> None:
        log = self.log_widget
        log.write(self._decoder.decode(data), scroll_end=False)
        if log.following:
            # Deferred: the new virtual size is laid out first, so this reaches the real end.
            log.scroll_end(animate=False, x_axis=False)

    def load_earlier(self) -> None:
        tail = self.tail
        if tail is None or not tail.opened or tail.start == 0:
            return
        if self._busy:
            # A tail read is in flight: do this right after it, not never.
            self._want_earlier = True
            return
        self._want_earlier = False
        self._busy = True
        self.run_worker(self._read_earlier(tail), group="peek", exit_on_error=False)

    async def _read_earlier(self, tail: TailState) -> None:
        try:
            begin = max(0, tail.start - CHUNK)
            data, _total = await self.deck.peek(tail.job_id, tail.stderr, offset=begin, size=tail.start - begin)
            if tail is not self.tail:
                return
            if begin > 0:
                cut = data.find(b"\n")
                if cut >= 0:
                    data = data[cut + 1 :]
                    begin += cut + 1
            tail.start = begin
            lines = data.decode("utf-8", "replace").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            self.log_widget.prepend_lines(lines)
        except BatchdeckError as exc:
            self.query_one("#peek-status", Static).update(Text(str(exc), style="red"))
            return
        finally:
            self._busy = False
        self._status()

    def on_peek_log_at_top(self, event: PeekLog.AtTop) -> None:
        event.stop()
        self.load_earlier()

    def _status(self) -> None:
        tail = self.tail
        if tail is None:
            return
        if tail.missing:
            text = Text("no output yet", style="dim")
        else:
            mode = "following" if self.log_widget.following else "paused · End follows"
            shown = tail.end - tail.start
            text = Text(f"{mode} · {shown:,} of {tail.total:,} bytes", style="dim")
            if tail.start > 0:
                text.append(" · Home loads earlier", style="dim")
        self.query_one("#peek-status", Static).update(text)
