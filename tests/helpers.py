"""Test helpers: polling with a deadline (never a fixed sleep to make timing pass)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence

from batchdeck.backends.errors import ParseError
from batchdeck.backends.model import JobRecord, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.transports.base import CommandResult, FileStat, ProgressCallback, Transport


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 30, what: str = "condition") -> None:
    """Re-evaluate ``check`` until it is true or the deadline passes (then fail naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def wait_state(
    backend: BatchSystem, job: JobRecord, states: RunState | Iterable[RunState], timeout: float = 30
) -> RunState:
    """Poll the backend until the job reaches one of ``states``."""
    wanted = {states} if isinstance(states, RunState) else set(states)

    async def reached() -> bool:
        await backend.update_job_states([job])
        return job.state in wanted

    await eventually(reached, timeout, f"job {job.id} to reach {sorted(s.value for s in wanted)} (is {job.state})")
    return job.state


def process_gone(pid: int) -> bool:
    """True if pid has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class RecordingTransport(Transport):
    """A real transport that also records every command it runs, to count queries per refresh."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.commands: list[list[str]] = []

    def count(self, program: str) -> int:
        return sum(1 for argv in self.commands if argv and argv[0] == program)

    @property
    def calls(self) -> Counter[str]:
        return Counter(argv[0] for argv in self.commands if argv)

    def clear(self) -> None:
        self.commands.clear()

    def rewrite(self, argv: list[str]) -> list[str]:
        """The command actually run (a subclass may point it elsewhere); recorded as asked."""
        return argv

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        asked = [str(a) for a in argv]
        self.commands.append(asked)
        return await self.inner.run(self.rewrite(asked), stdin=stdin, timeout=timeout, cwd=cwd)

    async def home(self) -> str:
        return await self.inner.home()

    async def makedirs(self, path: str) -> None:
        await self.inner.makedirs(path)

    async def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        await self.inner.write_file(path, data, mode)

    async def put_files(self, pairs: Sequence[tuple[str, str]]) -> None:
        await self.inner.put_files(pairs)

    async def get_files(
        self, pairs: Sequence[tuple[str, str]], progress: ProgressCallback | None = None
    ) -> dict[str, str]:
        return await self.inner.get_files(pairs, progress)

    async def stat(self, path: str) -> FileStat | None:
        return await self.inner.stat(path)

    async def list_tree(self, path: str) -> list[FileStat]:
        return await self.inner.list_tree(path)

    async def read_range(
        self, path: str, offset: int = 0, size: int | None = None, *, inside: str | None = None
    ) -> tuple[bytes, int]:
        return await self.inner.read_range(path, offset, size, inside=inside)

    async def remove_tree(self, path: str) -> None:
        await self.inner.remove_tree(path)


def only_parse_errors(parser: Callable[[str], object], text: str) -> None:
    """Run a parser on any text: it may refuse it, but only with a ParseError."""
    try:
        parser(text)
    except ParseError:
        pass


def damaged(text: str, draw: Callable[..., object]) -> str:
    """A real sample with a random stretch replaced by random text (``draw`` is hypothesis's data.draw)."""
    from hypothesis import strategies as st

    start = int(draw(st.integers(0, len(text))))  # type: ignore[call-overload]
    end = int(draw(st.integers(start, len(text))))  # type: ignore[call-overload]
    junk = str(draw(st.text(max_size=20)))
    return text[:start] + junk + text[end:]
