"""A lazy model of one (remote) log file: lines around a byte offset, read on demand.

After toolong's split of ``log_file.py`` (bytes and line starts) from ``log_lines.py``
(the view): this module holds no Textual. It keeps one contiguous *span* of the file
in memory — never the whole file, at most ``max_span`` bytes — with the byte offset of
every line start in it, and moves or grows that span in a bounded number of round
trips to the file's host:

- open / jump to the end: one read of the last ``chunk`` bytes;
- follow: one read per tick of what was appended, with a check of the last bytes
  already held, so a truncated or replaced file is noticed and reopened;
- jump to the start or to a byte offset: one read;
- jump to a line number: one remote count (``head -n N | wc -c`` on the host: no bytes
  of the file move, but the host reads every byte before that line, so its cost grows
  with the line's offset — chosen over an estimate because it is exact and simple;
  a line inside the span costs nothing) and one read;
- search forward or backward: one remote ``grep -F`` over the byte range, which
  answers only an offset; one more read when the match lies outside the span.

Lines are kept as raw bytes and decoded when shown, so a UTF-8 character split
between two reads is whole once both arrived. ``\\r``-updated progress lines collapse
as a terminal shows them: only the text after the last ``\\r`` of a line is shown.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass
from typing import Protocol

from ..errors import RemoteFileNotFound

#: bytes read when the span is placed (at the end, the start, an offset) and per earlier/later chunk
CHUNK = 64 * 1024
#: most bytes read per follow tick, so a burst of output never stalls a refresh
MAX_READ = 1024 * 1024
#: most bytes held; a longer span drops lines at the far side
MAX_SPAN = 4 * 1024 * 1024
#: bytes re-read at the end of the span on every follow tick to detect a rewritten file
FINGERPRINT = 64


class LogSource(Protocol):
    """Where a LogFile's bytes come from (a job's output through the Deck, in the app)."""

    async def read(self, offset: int, size: int) -> tuple[bytes, int]:
        """``size`` bytes at ``offset`` (< 0: from the end) and the file's size now."""
        ...

    async def find(self, pattern: str, offset: int, backward: bool) -> int | None:
        """Offset of the first match at or after ``offset`` (backward: the last before it)."""
        ...

    async def line_offset(self, line: int) -> int:
        """Offset where 0-based ``line`` starts (the file's size if it has fewer lines)."""
        ...


class DeckLogSource:
    """A job's stdout or stderr, read through the Deck (and so through its transport)."""

    def __init__(self, deck: _PeekingDeck, job_id: str, stderr: bool = False, task: str | None = None) -> None:
        self.deck = deck
        self.job_id = job_id
        self.stderr = stderr
        self.task = task  # an array job's task, whose own files are read

    async def read(self, offset: int, size: int) -> tuple[bytes, int]:
        return await self.deck.peek(self.job_id, self.stderr, offset=offset, size=size, task=self.task)

    async def find(self, pattern: str, offset: int, backward: bool) -> int | None:
        return await self.deck.peek_find(self.job_id, self.stderr, pattern, offset, backward, task=self.task)

    async def line_offset(self, line: int) -> int:
        return await self.deck.peek_line_offset(self.job_id, self.stderr, line, task=self.task)


class PathLogSource:
    """The output file of a job batchdeck did not submit, at the path its scheduler names."""

    def __init__(self, backend: _PathReader, path: str) -> None:
        self.backend = backend
        self.path = path

    async def read(self, offset: int, size: int) -> tuple[bytes, int]:
        return await self.backend.read_path(self.path, offset, size)

    async def find(self, pattern: str, offset: int, backward: bool) -> int | None:
        return await self.backend.find_in_path(self.path, pattern, offset, backward)

    async def line_offset(self, line: int) -> int:
        return await self.backend.path_line_offset(self.path, line)


class _PathReader(Protocol):
    async def read_path(self, path: str, offset: int = 0, size: int | None = None) -> tuple[bytes, int]: ...

    async def find_in_path(self, path: str, pattern: str, offset: int, backward: bool = False) -> int | None: ...

    async def path_line_offset(self, path: str, line: int) -> int: ...


class _PeekingDeck(Protocol):
    async def peek(
        self, job_id: str, stderr: bool = False, offset: int = 0, size: int | None = None, task: str | None = None
    ) -> tuple[bytes, int]: ...

    async def peek_find(
        self, job_id: str, stderr: bool, pattern: str, offset: int, backward: bool = False, task: str | None = None
    ) -> int | None: ...

    async def peek_line_offset(self, job_id: str, stderr: bool, line: int, task: str | None = None) -> int: ...


@dataclass
class Change:
    """What an operation did to the span, for a view to keep its place."""

    reset: bool = False  # the span was replaced: show ``target``
    prepended: int = 0  # lines inserted in front (the same text moved down by as many)
    dropped: int = 0  # lines dropped in front to keep the span bounded
    appended: bool = False
    target: int | None = None  # line index to bring into view
    match: int | None = None  # byte offset of a search match
    replaced: bool = False  # the file was truncated or rewritten and reopened at its end


def display_text(raw: bytes) -> str:
    """A line as a terminal leaves it: CRLF ends a line; after a bare CR, only what follows shows."""
    raw = raw.rstrip(b"\r")
    cut = raw.rfind(b"\r")
    if cut >= 0:
        raw = raw[cut + 1 :]
    return raw.decode("utf-8", "replace")


def visible(text: str, tab: int = 8) -> str:
    """``text`` with tabs expanded and every other control character made visible (``^[``, ``\\x9b``)."""
    if text.isprintable():
        return text
    out: list[str] = []
    column = 0
    for char in text:
        code = ord(char)
        if char == "\t":
            pad = tab - column % tab
            out.append(" " * pad)
            column += pad
            continue
        if code < 0x20 or code == 0x7F:
            shown = "^" + chr(code ^ 0x40)
        elif 0x80 <= code < 0xA0 or char in "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e":
            shown = f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"
        else:
            shown = char
        out.append(shown)
        column += len(shown)
    return "".join(out)


class LogFile:
    """A window of lines of one file, moved and grown on demand.

    ``start``/``end`` are the byte offsets of the span; ``total`` the file's size
    at the last read. The last line is the text after the last newline (empty when
    the span ends with one): where the next bytes will go. Operations are
    coroutines and run one at a time.
    """

    def __init__(
        self,
        source: LogSource,
        job_id: str = "",
        stderr: bool = False,
        *,
        chunk: int = CHUNK,
        max_read: int = MAX_READ,
        max_span: int = MAX_SPAN,
    ) -> None:
        self.source = source
        self.job_id = job_id
        self.stderr = stderr
        self.chunk = chunk
        self.max_read = max_read
        self.max_span = max(max_span, 2 * chunk)
        self.start = 0
        self.end = 0
        self.total = 0
        self.opened = False
        self.missing = False
        #: keep the span at the file's end and append what is written
        self.follow = True
        #: 0-based line number of the first line held, when known
        self.first_line: int | None = None
        self._raw: list[bytes] = [b""]
        self._starts: list[int] = [0]
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ reading the span

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def line_count(self) -> int:
        return len(self._raw)

    @property
    def lines(self) -> list[str]:
        return [display_text(raw) for raw in self._raw]

    def text(self, index: int) -> str:
        return display_text(self._raw[index])

    def line_start(self, index: int) -> int:
        return self._starts[index]

    def index_of(self, offset: int) -> int:
        """Index of the held line that contains byte ``offset`` (clamped to the span)."""
        return max(0, bisect.bisect_right(self._starts, offset) - 1)

    def line_number(self, index: int) -> int | None:
        return None if self.first_line is None else self.first_line + index

    @property
    def at_end(self) -> bool:
        return self.opened and self.end >= self.total

    # ------------------------------------------------------------------ operations

    async def refresh(self) -> Change:
        """One follow tick: open the file at its end, or append what was written since."""
        async with self._lock:
            try:
                if not self.opened:
                    return await self._jump_end()
                change = await self._refresh()
            except RemoteFileNotFound:
                self.missing = True
                return Change()
            self.missing = False
            return change

    async def jump_end(self) -> Change:
        async with self._lock:
            return await self._jump_end()

    async def jump_start(self) -> Change:
        async with self._lock:
            data, total = await self.source.read(0, self.chunk)
            self._set(0, data, total)
            self.first_line = 0
            self.follow = False
            return Change(reset=True, target=0)

    async def jump_offset(self, offset: int) -> Change:
        async with self._lock:
            return await self._jump_offset(offset)

    async def jump_line(self, line: int) -> Change:
        """Bring 0-based ``line`` to the top (the end of the file if it has fewer lines)."""
        async with self._lock:
            line = max(0, line)
            if self.first_line is not None and 0 <= line - self.first_line < self.line_count - 1:
                return Change(target=line - self.first_line)
            offset = await self.source.line_offset(line)
            data, total = await self.source.read(offset, self.chunk)
            if not data:
                return await self._jump_end()
            self._set(offset, data, total)
            self.first_line = line
            self.follow = False
            return Change(reset=True, target=0)

    async def load_earlier(self) -> Change:
        """Prepend the chunk before the span (from its first whole line)."""
        async with self._lock:
            if not self.opened or self.start == 0:
                return Change()
            begin = max(0, self.start - self.chunk)
            data, total = await self.source.read(begin, self.start - begin)
            if total < self.end or len(data) < self.start - begin:
                return await self._reopen()
            self.total = total
            if begin > 0:
                cut = data.find(b"\n")
                if cut >= 0:
                    data = data[cut + 1 :]
                    begin += cut + 1
            pieces = data.split(b"\n")
            added = len(pieces) - 1
            self._raw[0] = pieces[-1] + self._raw[0]
            self._raw[0:0] = pieces[:-1]
            offsets = [begin]
            for piece in pieces[:-1]:
                offsets.append(offsets[-1] + len(piece) + 1)
            self._starts[0:1] = offsets
            self.start = begin
            if begin == 0:
                self.first_line = 0
            elif self.first_line is not None:
                self.first_line -= added
            self._trim_back()
            return Change(prepended=added)

    async def load_later(self) -> Change:
        """Append the chunk after the span, for a span that does not reach the end."""
        async with self._lock:
            if not self.opened or self.end >= self.total:
                return Change()
            data, total = await self.source.read(self.end, self.chunk)
            self.total = total
            if data:
                self._append(data)
            return Change(appended=bool(data), dropped=self._trim_front())

    async def find(self, pattern: str, offset: int, backward: bool = False) -> Change | None:
        """Search the file itself (remotely) from ``offset``; None when nothing matches."""
        async with self._lock:
            match = await self.source.find(pattern, offset, backward)
            if match is None:
                return None
            if not (self.start <= match < self.end):
                change = await self._jump_offset(match)
            else:
                change = Change()
            change.target = self.index_of(match)
            change.match = match
            return change

    # ------------------------------------------------------------------ internals

    async def _jump_end(self) -> Change:
        data, total = await self.source.read(-self.chunk, self.chunk)
        begin = max(0, total - len(data))
        if begin > 0:
            cut = data.find(b"\n")
            if 0 <= cut < len(data) - 1:
                data = data[cut + 1 :]
                begin += cut + 1
        self._set(begin, data, total)
        self.first_line = 0 if begin == 0 else None
        self.follow = True
        self.missing = False
        return Change(reset=True, target=self.line_count - 1)

    async def _jump_offset(self, offset: int) -> Change:
        begin = max(0, offset - self.chunk // 2)
        data, total = await self.source.read(begin, self.chunk)
        if offset >= total or not data:
            return await self._jump_end()
        if begin > 0:
            cut = data.find(b"\n")
            # Start at a line start, unless that would lose the line holding the offset.
            if 0 <= cut < offset - begin:
                data = data[cut + 1 :]
                begin += cut + 1
        self._set(begin, data, total)
        self.first_line = 0 if begin == 0 else None
        self.follow = False
        return Change(reset=True, target=self.index_of(offset))

    async def _reopen(self) -> Change:
        change = await self._jump_end()
        change.replaced = True
        return change

    async def _refresh(self) -> Change:
        held = self._tail_bytes(FINGERPRINT)
        grow = self.end >= self.total and (self.follow or self.end - self.start < self.max_span)
        want = self.max_read if grow else 0
        data, total = await self.source.read(self.end - len(held), len(held) + want)
        if total < self.end or data[: len(held)] != held:
            return await self._reopen()
        self.total = total
        new = data[len(held) :]
        if not new:
            return Change()
        self._append(new)
        return Change(appended=True, dropped=self._trim_front() if self.follow else 0)

    def _set(self, begin: int, data: bytes, total: int) -> None:
        pieces = data.split(b"\n")
        offsets = [begin]
        for piece in pieces[:-1]:
            offsets.append(offsets[-1] + len(piece) + 1)
        self._raw, self._starts = pieces, offsets
        self.start, self.end, self.total = begin, begin + len(data), total
        self.opened = True

    def _append(self, data: bytes) -> None:
        last = self._raw.pop()
        offset = self._starts.pop()
        pieces = (last + data).split(b"\n")
        for piece in pieces:
            self._raw.append(piece)
            self._starts.append(offset)
            offset += len(piece) + 1
        self.end += len(data)

    def _trim_front(self) -> int:
        """Drop whole lines in front while the span is over its bound; returns how many."""
        if self.end - self.start <= self.max_span:
            return 0
        keep_from = self.end - self.max_span * 3 // 4
        drop = min(bisect.bisect_left(self._starts, keep_from), self.line_count - 1)
        if drop <= 0:
            return 0
        del self._raw[:drop]
        del self._starts[:drop]
        self.start = self._starts[0]
        if self.first_line is not None:
            self.first_line += drop
        return drop

    def _trim_back(self) -> None:
        """Drop whole lines at the back while the span is over its bound (it then leaves the end)."""
        if self.end - self.start <= self.max_span:
            return
        stop_at = self.start + self.max_span * 3 // 4
        keep = max(1, bisect.bisect_right(self._starts, stop_at) - 1)
        if keep >= self.line_count - 1:
            return
        cut = self._starts[keep]
        del self._raw[keep:]
        del self._starts[keep:]
        # The span now ends just after a newline: an empty last line at ``cut``.
        self._raw.append(b"")
        self._starts.append(cut)
        self.end = cut
        self.follow = False

    def _tail_bytes(self, count: int) -> bytes:
        """The last ``count`` bytes of the span (fewer if it is shorter)."""
        parts: list[bytes] = []
        size = 0
        for raw in reversed(self._raw):
            parts.append(raw)
            size += len(raw) + 1
            if size > count:
                break
        joined = b"\n".join(reversed(parts))
        return joined[-count:] if count else b""
