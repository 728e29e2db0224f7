"""The lazy log model (backends/engine/logfile.py) over a real file, on this machine and through the real sshd.

The file is 2 GiB (sparse, made with truncate): a recording transport counts the bytes
that cross the transport, which must stay about the size of the window, never the file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from batchdeck.backends.engine.logfile import CHUNK, FINGERPRINT, MAX_READ, LogFile, display_text, visible
from batchdeck.backends.errors import UnsafePath
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.transports.base import CommandResult, Transport

from helpers import RecordingTransport

HOLE = 2 * 1024**3
HEAD_LINES = 1000
TAIL_LINES = 8000
HOSTILE = "it's $(touch pwned) `id` \"q\" *"


class ByteCounter(RecordingTransport):
    """Counts the bytes of file content and command output that crossed the transport."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.moved = 0
        self.reads: list[tuple[int, int | None]] = []

    async def read_range(
        self, path: str, offset: int = 0, size: int | None = None, *, inside: str | None = None
    ) -> tuple[bytes, int]:
        self.reads.append((offset, size))
        data, total = await self.inner.read_range(path, offset, size, inside=inside)
        self.moved += len(data)
        return data, total

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        result = await super().run(argv, stdin=stdin, timeout=timeout, cwd=cwd)
        self.moved += len(result.stdout) + len(result.stderr)
        return result

    def reset(self) -> None:
        self.moved = 0
        self.reads.clear()
        self.clear()


class BackendSource:
    """A LogSource straight on a BatchSystem (the app goes through the Deck, which does the same)."""

    def __init__(self, backend: BatchSystem, job: JobRecord, name: str) -> None:
        self.backend, self.job, self.name = backend, job, name

    async def read(self, offset: int, size: int) -> tuple[bytes, int]:
        return await self.backend.peek_bytes(self.job, self.name, offset, size)

    async def find(self, pattern: str, offset: int, backward: bool) -> int | None:
        return await self.backend.peek_find(self.job, self.name, pattern, offset, backward)

    async def line_offset(self, line: int) -> int:
        return await self.backend.peek_line_offset(self.job, self.name, line)


def head_line(n: int) -> bytes:
    return b"head %05d\n" % n


def tail_line(n: int) -> bytes:
    return b"tail %05d\n" % n


@pytest.fixture
async def counted(cluster_transport: Transport, shared_sandbox_root: str) -> AsyncIterator[ByteCounter]:
    counter = ByteCounter(cluster_transport)
    yield counter
    await cluster_transport.close()


@pytest.fixture
def sandbox(shared_sandbox_root: str) -> Path:
    # The sshd's host is this machine: the file is made directly, then read through the transport.
    box = Path(shared_sandbox_root) / f"job-{uuid.uuid4().hex[:8]}"
    box.mkdir(parents=True)
    os.chmod(shared_sandbox_root, 0o755)
    return box


@pytest.fixture
def job(sandbox: Path) -> JobRecord:
    return JobRecord(
        id="logfile1", cluster="t", spec=JobSpec(command=["true"]), state=RunState.TERMINATING, sandbox=str(sandbox)
    )


@pytest.fixture
def backend(counted: ByteCounter, shared_sandbox_root: str) -> LocalBatchSystem:
    return LocalBatchSystem("t", transport=counted, sandbox_root=shared_sandbox_root, max_cores=1)


@pytest.fixture
def big(sandbox: Path) -> Path:
    path = sandbox / "big.log"
    with open(path, "wb") as handle:
        handle.write(b"".join(head_line(n) for n in range(HEAD_LINES)))
        handle.truncate(HOLE - 1)
        handle.seek(0, os.SEEK_END)
        body = [b"\n"] + [tail_line(n) for n in range(TAIL_LINES)]
        body[7001] = HOSTILE.encode() + b"\n"
        body[7501] = b"progress 10%\rprogress 50%\rprogress 100%\r\n"
        handle.write(b"".join(body))
    os.chmod(path, 0o644)
    return path


def model(backend: BatchSystem, job: JobRecord, name: str = "big.log") -> LogFile:
    return LogFile(BackendSource(backend, job, name), job.id)


def near_window(moved: int, windows: int = 1) -> bool:
    return moved <= windows * CHUNK + 4096


async def test_opens_at_the_end_and_jumps_with_bytes_moved_about_one_window(
    backend: LocalBatchSystem, job: JobRecord, big: Path, counted: ByteCounter
) -> None:
    size = big.stat().st_size
    log = model(backend, job)
    await log.refresh()
    assert log.opened and log.total == size and log.end == size
    assert log.lines[-2] == "tail 07999" and log.lines[-1] == ""
    assert log.end - log.start <= CHUNK and near_window(counted.moved)

    counted.reset()
    await log.jump_line(500)
    assert log.lines[0] == "head 00500" and log.first_line == 500
    assert near_window(counted.moved)
    counted.reset()
    change = await log.jump_line(510)  # held already: no round trip
    assert change.target == 10 and counted.moved == 0 and not counted.reads

    counted.reset()
    change = await log.jump_start()
    assert change.reset and change.target == 0
    assert log.start == 0 and log.lines[0] == "head 00000" and log.line_number(3) == 3
    assert near_window(counted.moved)

    counted.reset()
    target = size - 100 * len(tail_line(0)) + 3  # inside the 100th line from the end
    change = await log.jump_offset(target)
    assert change.target is not None and log.text(change.target) == "tail 07900"
    assert log.line_start(change.target) == target - 3
    assert near_window(counted.moved)

    counted.reset()
    change = await log.jump_end()
    assert log.follow and log.end == size and change.target == log.line_count - 1
    assert near_window(counted.moved)


async def test_earlier_and_later_chunks_extend_the_span(
    backend: LocalBatchSystem, job: JobRecord, big: Path, counted: ByteCounter
) -> None:
    log = model(backend, job)
    await log.refresh()
    first_start, first_line, count = log.start, log.lines[0], log.line_count
    counted.reset()
    change = await log.load_earlier()
    assert log.start < first_start and first_start - log.start <= CHUNK
    assert change.prepended == log.line_count - count
    assert log.lines[change.prepended] == first_line
    assert near_window(counted.moved)

    await log.jump_start()
    end = log.end
    change = await log.load_later()
    assert change.appended and log.end > end
    assert log.lines[HEAD_LINES - 1] == "head 00999"


async def test_search_runs_remotely_and_moves_only_offsets(
    backend: LocalBatchSystem, job: JobRecord, big: Path, counted: ByteCounter, sandbox: Path
) -> None:
    log = model(backend, job)
    await log.jump_offset(HOLE)  # the first tail lines
    assert log.text(log.index_of(HOLE)) == "tail 00000"
    counted.reset()
    found = await log.find("tail 06000", log.start)
    assert found is not None and found.target is not None and found.match is not None
    assert log.text(found.target) == "tail 06000"
    assert near_window(counted.moved)  # the match was outside the span: one more window, no more

    # n: the next one from just after the match; none.
    assert await log.find("tail 06000", found.match + 1) is None
    # The pattern is an argument, never shell text.
    hit = await log.find(HOSTILE, log.start)
    assert hit is not None and hit.target is not None and log.text(hit.target) == HOSTILE
    assert not (sandbox / "pwned").exists() and not Path("pwned").exists()

    # N: backward from the end finds the last earlier match, near or far.
    await log.jump_end()
    counted.reset()
    back = await log.find("tail 079", log.end, backward=True)
    assert back is not None and back.target is not None and log.text(back.target) == "tail 07999"
    assert not counted.reads  # inside the span: only the offset moved
    back = await log.find("tail 01", log.end, backward=True)
    assert back is not None and back.target is not None and log.text(back.target) == "tail 01999"
    assert near_window(counted.moved)
    progress = await log.find("progress", log.start)
    assert progress is not None and progress.target is not None and log.text(progress.target) == "progress 100%"


async def test_search_backward_across_block_edges(
    backend: LocalBatchSystem, job: JobRecord, sandbox: Path
) -> None:
    path = sandbox / "edges.log"
    marker = b"MARKER-abcdef"
    # A match that straddles the first 256 KiB block boundary from the end.
    filler = b"x" * 99 + b"\n"
    after = 262144 - 5
    data = filler * 3000 + marker + b"y" * after + b"\n"
    path.write_bytes(data)
    os.chmod(path, 0o644)
    log = model(backend, job, "edges.log")
    await log.refresh()
    hit = await log.find(marker.decode(), len(data), backward=True)
    assert hit is not None and hit.match == len(filler) * 3000
    assert await log.find(marker.decode(), hit.match, backward=True) is None
    fwd = await log.find(marker.decode(), 0)
    assert fwd is not None and fwd.match == hit.match


async def test_follow_appends_and_notices_truncation_and_replacement(
    backend: LocalBatchSystem, job: JobRecord, sandbox: Path, counted: ByteCounter
) -> None:
    path = sandbox / "grow.log"
    log = model(backend, job, "grow.log")
    change = await log.refresh()
    assert log.missing and not log.opened and change.target is None
    path.write_bytes(b"one\ntw")
    os.chmod(path, 0o644)
    await log.refresh()
    assert log.opened and not log.missing and log.lines == ["one", "tw"]
    with open(path, "ab") as handle:
        handle.write(b"o\nthree\n")
    counted.reset()
    change = await log.refresh()
    assert change.appended and log.lines == ["one", "two", "three", ""]
    assert counted.moved <= len(b"o\nthree\n") + FINGERPRINT
    # A UTF-8 character split across two reads is whole once both arrived.
    euro = "€".encode()
    with open(path, "ab") as handle:
        handle.write(euro[:1])
    await log.refresh()
    with open(path, "ab") as handle:
        handle.write(euro[1:] + b"\n")
    await log.refresh()
    assert log.lines[-2] == "€"

    path.write_bytes(b"fresh\n")  # truncated
    change = await log.refresh()
    assert change.replaced and log.lines == ["fresh", ""]
    path.write_bytes(b"FRESH\nand longer than before\n")  # rewritten, bigger than what was held
    change = await log.refresh()
    assert change.replaced and log.lines == ["FRESH", "and longer than before", ""]


async def test_follow_keeps_the_span_bounded(backend: LocalBatchSystem, job: JobRecord, sandbox: Path) -> None:
    path = sandbox / "flood.log"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    log = LogFile(BackendSource(backend, job, "flood.log"), job.id, max_span=2 * CHUNK)
    await log.refresh()
    written = 0
    for _ in range(6):
        with open(path, "ab") as handle:
            handle.write(b"".join(b"line %07d\n" % (written + n) for n in range(CHUNK // 13)))
        written += CHUNK // 13
        change = await log.refresh()
        assert change.appended
        assert log.end - log.start <= 2 * CHUNK
    assert log.lines[-2] == f"line {written - 1:07d}" and log.end == path.stat().st_size
    assert log.first_line is not None and log.line_number(log.line_count - 2) == written - 1
    assert MAX_READ >= CHUNK


async def test_links_out_of_the_sandbox_are_refused(
    backend: LocalBatchSystem, job: JobRecord, sandbox: Path, tmp_path: Path
) -> None:
    outside = sandbox.parent / f"outside-{uuid.uuid4().hex[:6]}.txt"
    outside.write_text("secret\n")
    os.chmod(outside, 0o644)
    (sandbox / "link.log").symlink_to(outside)
    (sandbox / "inner.log").write_text("inside\n")
    os.chmod(sandbox / "inner.log", 0o644)
    (sandbox / "ok-link.log").symlink_to(sandbox / "inner.log")
    try:
        with pytest.raises(UnsafePath, match="outside the sandbox"):
            await backend.peek_bytes(job, "link.log")
        with pytest.raises(UnsafePath, match="outside the sandbox"):
            await backend.peek_find(job, "link.log", "secret", 0)
        with pytest.raises(UnsafePath, match="outside the sandbox"):
            await backend.peek_line_offset(job, "link.log", 1)
        # A link that stays inside is fine.
        assert (await backend.peek_bytes(job, "ok-link.log"))[0] == b"inside\n"
        assert await backend.peek_find(job, "ok-link.log", "side", 0) == 2
    finally:
        outside.unlink()


async def test_peek_to_a_file_copies_in_bounded_reads(
    backend: LocalBatchSystem, counted: ByteCounter, job: JobRecord, big: Path, tmp_path: Path
) -> None:
    # More than two of the backend's reads: the copy is exact and no read is larger than one.
    want = 9 * 1024 * 1024 + 123
    with open(big, "rb") as handle:
        handle.seek(-want, os.SEEK_END)
        expected = handle.read()
    total = big.stat().st_size
    counted.reset()
    target = tmp_path / "copy.log"
    assert await backend.peek(job, "big.log", str(target), offset=-want) == total
    assert target.read_bytes() == expected
    sizes = [size for _offset, size in counted.reads]
    assert len(sizes) >= 3 and all(size is not None and size < want // 2 for size in sizes)
    # A size inside the file stops there, exactly.
    counted.reset()
    with open(target, "wb") as out:
        await backend.peek(job, "big.log", out, offset=total - want, size=want - 7)
    assert target.read_bytes() == expected[: want - 7]


async def test_a_freed_job_says_it_was_freed(backend: LocalBatchSystem, job: JobRecord) -> None:
    job.sandbox = None
    job.reason = "sandbox freed"
    with pytest.raises(Exception, match="was freed"):
        await backend.peek_bytes(job, "stdout.txt")


def test_progress_lines_collapse_and_control_characters_show() -> None:
    assert display_text(b"10%\r50%\r100%\r") == "100%"
    assert display_text(b"windows line\r") == "windows line"
    assert display_text(b"half\rHA") == "HA"
    assert visible("a\tb\x1b[31mred\x07") == "a       b^[[31mred^G"
    assert visible("c1 \x9b here") == "c1 \\x9b here"
    assert visible("plain") == "plain"
