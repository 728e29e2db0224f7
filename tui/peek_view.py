"""The detail/peek area: the selected job's details and a live, scrollable view of its stdout or stderr.

The file itself is modelled by ``backends.engine.logfile.LogFile`` (a span of lines
read on demand, never the whole file); ``PeekLog`` is a ``ScrollView`` that renders
the lines of that span and asks for more at its edges. Keys on the log: End / G go
to the end and follow, Home / g to the top of the file, ``/`` searches (remotely),
``n`` / ``N`` the next / previous match, ``:`` goes to a line (``:@OFFSET`` a byte,
``:50%`` a point of the file).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Static

from ..backends.engine.deck import Deck
from ..backends.engine.logfile import CHUNK, Change, DeckLogSource, LogFile, LogSource, visible
from ..backends.errors import BatchdeckError
from ..backends.text import terminal_safe
from .keys import bindings, key_text

__all__ = ["CHUNK", "PeekLog", "PeekView"]

IDLE_HINT = Text("p or enter: live tail of the selected job's output (o: stderr)", style="dim")

Operation = Callable[[LogFile], Awaitable[Change | None]]


class PeekLog(ScrollView, can_focus=True):
    """Renders the lines of a LogFile; knows whether it follows the end."""

    DEFAULT_CSS = """
    PeekLog {
        height: 1fr;
        background: $surface;
        color: $foreground;
    }
    PeekLog > .peek-log--match {
        background: $warning 40%;
        text-style: bold;
    }
    """
    COMPONENT_CLASSES = {"peek-log--match"}

    BINDINGS = bindings("peek")

    class Request(Message):
        """The user asked for something only the PeekView (which owns the model) can do."""

        def __init__(self, what: str, argument: object = None) -> None:
            super().__init__()
            self.what = what
            self.argument = argument

    class Moved(Message):
        """The view scrolled: the status line's position changed."""

    following: bool = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model: LogFile | None = None
        self.match: tuple[int, str] | None = None  # byte offset and pattern of the current match
        self._width = 0
        self._adjusting = False

    # ------------------------------------------------------------------ what tests and the app read

    @property
    def lines(self) -> list[str]:
        return self.model.lines if self.model is not None else []

    @property
    def line_count(self) -> int:
        return self.model.line_count if self.model is not None else 0

    @property
    def top_index(self) -> int:
        return min(int(self.scroll_y), max(0, self.line_count - 1))

    # ------------------------------------------------------------------ model changes

    def attach(self, model: LogFile | None) -> None:
        self.model = model
        self.match = None
        self.following = True
        self._width = 0
        self._resize()
        self._scroll(0)

    def apply(self, change: Change) -> None:
        """Keep the view on the same text after the model changed."""
        model = self.model
        if model is None:
            return
        self._adjusting = True
        try:
            if change.reset:
                self._width = self._widest(range(model.line_count))
            elif change.prepended:
                self._width = max(self._width, self._widest(range(change.prepended + 1)))
            elif change.appended:
                tail = max(0, self._rendered_count - 1 - change.dropped)
                self._width = max(self._width, self._widest(range(tail, model.line_count)))
            self._resize()
            if change.reset:
                self.following = model.follow and change.target == model.line_count - 1
                if self.following:
                    self._end_later()
                else:
                    self._scroll(change.target or 0)
            elif change.prepended:
                self._scroll(int(self.scroll_y) + change.prepended)
            elif change.dropped:
                self._scroll(max(0, int(self.scroll_y) - change.dropped))
            if change.target is not None and not change.reset:
                self._show(change.target)
            elif change.appended and self.following:
                # Deferred: the new virtual size is laid out first, so this reaches the real end.
                self._end_later()
        finally:
            self._adjusting = False
        self.refresh()

    _rendered_count = 0

    def _resize(self) -> None:
        self._rendered_count = self.line_count
        rows = self.line_count
        if rows > 1 and self.model is not None and not self.model.text(rows - 1):
            rows -= 1  # the empty line after a final newline takes no row, as in a pager
        self.virtual_size = Size(self._width, rows)

    def _widest(self, indexes: range) -> int:
        model = self.model
        if model is None:
            return 0
        return max((cell_len(visible(model.text(i))) for i in indexes if i < model.line_count), default=0)

    def _scroll(self, y: int) -> None:
        self.scroll_to(y=y, animate=False, immediate=True)

    def _end_later(self) -> None:
        """To the end once the new size is laid out — if still following then: a jump (go to a
        line, the start) applied in between must not be undone by a scroll asked for before it."""
        self.call_after_refresh(self._end_if_following)

    def _end_if_following(self) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _show(self, index: int) -> None:
        height = max(1, self.scrollable_content_region.height)
        if not (self.scroll_y <= index < self.scroll_y + height):
            self._scroll(max(0, index - height // 3))

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        style = self.rich_style
        width = self.size.width
        model = self.model
        if model is None or index >= model.line_count:
            return Strip.blank(width, style)
        # Peeked bytes are text to show, never to pass to the terminal: controls become visible.
        text = Text(visible(model.text(index)), style=style, no_wrap=True, end="")
        if self.match is not None:
            offset, pattern = self.match
            start = model.line_start(index)
            following = model.line_start(index + 1) if index + 1 < model.line_count else model.end + 1
            if start <= offset < following:
                column = text.plain.find(visible(pattern))
                if column >= 0:
                    text.stylize(self.get_component_rich_style("peek-log--match"), column, column + len(pattern))
        segments = list(text.render(self.app.console))
        strip = Strip(segments, text.cell_len) if segments else Strip([Segment("", style)], 0)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    # ------------------------------------------------------------------ scrolling and keys

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._adjusting or self.model is None:
            return
        model = self.model
        at_bottom = new >= self.max_scroll_y
        self.following = at_bottom and model.at_end
        model.follow = self.following
        if new <= 0 < old and model.start > 0:
            self.post_message(self.Request("earlier"))
        elif at_bottom and new > old and not model.at_end:
            self.post_message(self.Request("later"))
        self.post_message(self.Moved())

    def on_resize(self, event: events.Resize) -> None:
        if self.following:
            self._end_later()

    # At an edge of the span the keys that would scroll past it fetch the next chunk instead.
    def action_scroll_up(self) -> None:
        if not self._past_top():
            super().action_scroll_up()

    def action_page_up(self) -> None:
        if not self._past_top():
            super().action_page_up()

    def action_scroll_down(self) -> None:
        if not self._past_bottom():
            super().action_scroll_down()

    def action_page_down(self) -> None:
        if not self._past_bottom():
            super().action_page_down()

    def _past_top(self) -> bool:
        if self.model is not None and self.scroll_y <= 0 and self.model.start > 0:
            self.post_message(self.Request("earlier"))
            return True
        return False

    def _past_bottom(self) -> bool:
        model = self.model
        if model is not None and self.scroll_y >= self.max_scroll_y and model.opened and not model.at_end:
            self.post_message(self.Request("later"))
            return True
        return False

    def action_follow(self) -> None:
        self.post_message(self.Request("end"))

    def action_top(self) -> None:
        self.post_message(self.Request("start"))

    def action_prompt(self, kind: str) -> None:
        # Opened now, not by a bubbling message: keys typed right after ':' or '/' (a paste, a
        # fast typist) are dispatched to whatever has focus, and must find the prompt there.
        view = next((node for node in self.ancestors if isinstance(node, PeekView)), None)
        if view is not None:
            view.open_prompt(kind)
        else:
            self.post_message(self.Request("prompt", kind))

    def action_find(self, backward: bool) -> None:
        self.post_message(self.Request("next", backward))


class PeekPrompt(Input):
    """The one-line prompt for a search pattern or a line to go to."""

    DEFAULT_CSS = """
    PeekPrompt {
        dock: bottom;
        height: 1;
        border: none;
        padding: 0 1;
        display: none;
    }
    """
    BINDINGS = bindings("peek_prompt")

    kind = "search"

    def action_dismiss(self) -> None:
        self.display = False
        self.value = ""
        self.screen.query_one(PeekLog).focus()


class PeekView(Vertical):
    """Job details on top, the peeked file below. Reads only new bytes on each tick."""

    # Details and the status line wrap rather than cut (an error's end is often what matters);
    # Details scrolls past its height. -whole-command (the main screen's expand key) gives
    # Details most of the pane; -peeking says a file is shown below.
    DEFAULT_CSS = """
    PeekView #detail {
        height: auto;
        max-height: 5;
        overflow-y: auto;
    }
    PeekView.-whole-command #detail {
        max-height: 70%;
    }
    PeekView #peek-status {
        height: auto;
        max-height: 3;
    }
    """

    def __init__(self, deck: Deck, interval: float = 0.5, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.deck = deck
        self.interval = interval
        self.tail: LogFile | None = None
        self.peek_task: str | None = None  # the array task peeked
        self._timer: Timer | None = None
        self._error: str = ""
        self._pattern = ""
        self._note = ""
        self.border_title = "Details"

    def compose(self) -> ComposeResult:
        yield Static("", id="detail")
        yield Static(IDLE_HINT, id="peek-status")
        yield PeekLog(id="peek-log")
        yield PeekPrompt(id="peek-prompt")

    @property
    def log_widget(self) -> PeekLog:
        return self.query_one(PeekLog)

    def show_detail(self, text: Text | str) -> None:
        self.query_one("#detail", Static).update(text)

    def open(
        self,
        job_id: str,
        stderr: bool = False,
        task: str | None = None,
        *,
        source: LogSource | None = None,
        title: str = "",
    ) -> None:
        """Start showing a job's (or an array task's) stdout or stderr from its end, following it;
        ``source``: where the bytes come from when not the job's sandbox (a job batchdeck did not submit)."""
        self.peek_task = task
        self.tail = LogFile(source or DeckLogSource(self.deck, job_id, stderr, task), job_id, stderr)
        self.log_widget.attach(self.tail)
        self._error = self._note = ""
        shown = title or (job_id if task is None else f"{job_id} task {task}")
        self.border_title = f"Peek {terminal_safe(shown)} · {'stderr' if stderr else 'stdout'}"
        self.add_class("-peeking")
        self._status()
        if self._timer is None:
            self._timer = self.set_interval(self.interval, self.poll_now)
        self.poll_now()

    def close(self) -> None:
        self.tail = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.log_widget.attach(None)
        self.border_title = "Details"
        self.remove_class("-peeking")
        self.query_one("#peek-status", Static).update(IDLE_HINT)

    def toggle_stream(self) -> None:
        if self.tail is not None:
            self.open(self.tail.job_id, not self.tail.stderr, self.peek_task)

    def poll_now(self) -> None:
        if self.tail is not None and not self.tail.busy:
            self._run(lambda model: model.refresh())

    def load_earlier(self) -> None:
        self._run(lambda model: model.load_earlier())

    # ------------------------------------------------------------------ running model operations

    def _run(self, operation: Operation) -> None:
        model = self.tail
        if model is not None:
            self.run_worker(self._operate(model, operation), group="peek", exit_on_error=False)

    async def _operate(self, model: LogFile, operation: Operation) -> None:
        try:
            change = await operation(model)
        except BatchdeckError as exc:
            if model is self.tail:
                self._error = str(exc)
                self._status()
            return
        if model is not self.tail:
            return
        self._error = ""
        if change is None:
            self._note = f"not found: {self._pattern}"
        else:
            if change.match is not None:
                self.log_widget.match = (change.match, self._pattern)
                self._note = ""
            if change.replaced:
                self._note = "the file was truncated or replaced: reopened at its end"
            self.log_widget.apply(change)
        self._status()

    def on_peek_log_request(self, event: PeekLog.Request) -> None:
        event.stop()
        model = self.tail
        log = self.log_widget
        if model is None:
            return
        what = event.what
        if what == "earlier":
            self.load_earlier()
        elif what == "later":
            self._run(lambda m: m.load_later())
        elif what == "end":
            if model.at_end:
                log.following = model.follow = True
                log.scroll_end(animate=False, x_axis=False)
                self._status()
            else:
                self._run(lambda m: m.jump_end())
        elif what == "start":
            if model.start == 0:
                log.scroll_home(animate=False, x_axis=False)
            else:
                self._run(lambda m: m.jump_start())
        elif what == "prompt":
            self.open_prompt(str(event.argument))
        elif what == "next":
            self._find(backward=bool(event.argument))

    def open_prompt(self, kind: str) -> None:
        prompt = self.query_one(PeekPrompt)
        prompt.kind = kind
        prompt.placeholder = (
            "search (enter; n/N next/previous)" if kind == "search" else "go to line N, @OFFSET or P% (enter)"
        )
        prompt.value = ""
        prompt.display = True
        prompt.focus()

    def on_peek_log_moved(self, event: PeekLog.Moved) -> None:
        event.stop()
        self._status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not isinstance(event.input, PeekPrompt):
            return
        event.stop()
        prompt = event.input
        value = event.value.strip()
        prompt.action_dismiss()
        if not value or self.tail is None:
            return
        if prompt.kind == "search":
            self._pattern = event.value
            self.log_widget.match = None
            self._find(backward=False, from_top=True)
        else:
            self._go_to(value)

    def _find(self, backward: bool, from_top: bool = False) -> None:
        model = self.tail
        if model is None or not model.opened or not self._pattern:
            return
        log = self.log_widget
        current = log.match[0] if log.match is not None and not from_top else None
        if current is None:
            offset = model.line_start(log.top_index)
        else:
            offset = current if backward else current + 1
        pattern = self._pattern
        self._note = f"searching {'back ' if backward else ''}for {pattern}…"
        self._status()
        self._run(lambda m: m.find(pattern, offset, backward))

    def _go_to(self, value: str) -> None:
        model = self.tail
        if model is None:
            return
        try:
            if value.endswith("%"):
                offset = int(model.total * float(value[:-1]) / 100)
                self._run(lambda m: m.jump_offset(offset))
            elif value.startswith("@"):
                byte = int(value[1:].replace(",", "").replace("_", ""))
                self._run(lambda m: m.jump_offset(byte))
            else:
                line = int(value.replace(",", "").replace("_", ""))
                self._run(lambda m: m.jump_line(max(0, line - 1)))
        except ValueError:
            self._note = f"not a line number, @offset or percentage: {value}"
            self._status()

    # ------------------------------------------------------------------ the status line

    def _status(self) -> None:
        tail = self.tail
        if tail is None:
            return
        status = self.query_one("#peek-status", Static)
        if self._error:
            status.update(Text(terminal_safe(self._error), style="red"))
            return
        if tail.missing and not tail.opened:
            status.update(Text("no output yet", style="dim"))
            return
        log = self.log_widget
        mode = "following" if log.following else f"paused · {key_text(self.app, 'peek_follow', ' ').split(' ')[0]} follows"
        text = Text(mode, style="dim")
        if tail.opened and tail.line_count:
            top = log.top_index
            number = tail.line_number(top)
            where = f"line {number + 1:,}" if number is not None else f"byte {tail.line_start(top):,}"
            text.append(f" · {where} · {tail.end - tail.start:,} of {tail.total:,} bytes", style="dim")
        if self._note:
            text.append(f" · {self._note}", style="dim italic")
        status.update(text)
