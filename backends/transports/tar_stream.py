"""Reading and writing tar streams over an SSH channel, for batched file transfers.

One ``tar`` stream carries many small files in one round trip. The downloads are
decoded here in Python so that only the files asked for are written, each to a
temporary name renamed when complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import socket
import stat
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import IO

TAR_BLOCK = 512


class Buffered:
    """Exact-size reads over a stream, served from large reads.

    A tar member costs three small reads; one await per buffered megabyte instead
    of per read keeps many small files cheap.
    """

    def __init__(self, fill: Callable[[], Awaitable[bytes]]) -> None:
        self._fill = fill
        self._buf = b""
        self._pos = 0

    async def _more(self) -> bool:
        chunk = await self._fill()
        if not chunk:
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    async def exactly(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n:
            if not await self._more():
                raise asyncio.IncompleteReadError(self._buf[self._pos :], n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    async def some(self, n: int) -> bytes:
        """Up to n bytes; b"" only at the end of the stream."""
        if self._pos >= len(self._buf) and not await self._more():
            return b""
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        return data


#: temporary download names: ``.bd-part-<host>-<pid>-<random>``, so a later get can
#: tell a part left by a killed download from one a live download is still writing
PART_PREFIX = ".bd-part-"
#: a part file not written to for this long (and not provably live) is stale
STALE_PART_AGE = 3600.0


def _part_prefix() -> str:
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{PART_PREFIX}{host}-{os.getpid()}-"


def new_part_file(directory: str) -> tuple[int, str]:
    """A fresh temporary file (0600) beside a download's destination: (fd, path)."""
    return tempfile.mkstemp(prefix=_part_prefix(), dir=directory)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(name: str, mtime: float, now: float) -> bool:
    host, _, rest = name[len(PART_PREFIX) :].partition("-")
    pid_text, _, _random = rest.partition("-")
    if host == socket.gethostname().replace("-", "_") and pid_text.isdigit():
        return int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))
    # an older batchdeck's name, or another host's (a shared folder): only by age
    return now - mtime > STALE_PART_AGE


def remove_stale_parts(directories: Iterable[str]) -> list[str]:
    """Delete the part files killed downloads left in these folders; returns their paths.

    Parts of downloads still running (this process's, or a live process's on this
    host) are kept. Errors are ignored: cleaning must never fail a download.
    """
    removed: list[str] = []
    now = time.time()
    for directory in dict.fromkeys(directories):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(PART_PREFIX):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and _is_stale(entry.name, st.st_mtime, now):
                    os.unlink(entry.path)
                    removed.append(entry.path)
            except OSError:
                continue
    return removed


class PartFiles:
    """One file's data written to temporary names beside its destinations, renamed on commit.

    A destination that cannot be written is recorded as a failure and skipped, so
    the stream it shares with other files keeps going.
    """

    def __init__(self, dests: list[tuple[str, str]]) -> None:
        self.dests = dests
        self.failures: dict[str, str] = {}
        self._open: list[tuple[str, str, str, IO[bytes]]] = []  # remote, local, tmp, handle

    def __enter__(self) -> PartFiles:
        for remote, local in self.dests:
            try:
                directory = os.path.dirname(local) or "."
                os.makedirs(directory, exist_ok=True)
                fd, tmp = new_part_file(directory)
            except OSError as exc:
                self.failures[remote] = exc.strerror or str(exc)
                continue
            self._open.append((remote, local, tmp, os.fdopen(fd, "wb")))
        return self

    def write(self, data: bytes) -> None:
        for entry in list(self._open):
            try:
                entry[3].write(data)
            except OSError as exc:
                self._drop(entry, exc)

    def commit(self, mtime_ns: int, mode: int) -> None:
        for entry in list(self._open):
            remote, local, tmp, handle = entry
            try:
                handle.close()
                os.chmod(tmp, mode & 0o7777)
                os.utime(tmp, ns=(mtime_ns, mtime_ns))
                os.replace(tmp, local)
                self._open.remove(entry)
            except OSError as exc:
                self._drop(entry, exc)

    def _drop(self, entry: tuple[str, str, str, IO[bytes]], exc: OSError) -> None:
        remote, _local, tmp, handle = entry
        self.failures[remote] = exc.strerror or str(exc)
        self._open.remove(entry)
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)

    def __exit__(self, *exc_info: object) -> None:
        # Anything still open was interrupted: never leave it behind.
        for _remote, _local, tmp, handle in self._open:
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._open = []


# ---------------------------------------------------------------------- helpers


def padded(size: int) -> int:
    return size + (-size % TAR_BLOCK)


def parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        if length <= 0:
            break
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def tar_message(stderr: str, path: str) -> str:
    member = path.lstrip("/")
    for line in stderr.splitlines():
        if member in line:
            reason = line.rsplit(": ", 1)[-1].strip()
            return reason or line.strip()
    return ""


def plan_upload(targets: list[tuple[str, str]]) -> list[tuple[tarfile.TarInfo, str | None]]:
    """tar members (header, local file or None) copying each local file or tree to its remote path."""
    members: list[tuple[tarfile.TarInfo, str | None]] = []

    def add(local: str, remote: str) -> None:
        st = os.stat(local)  # follows links, as shutil.copy2 / copytree do
        info = tarfile.TarInfo("./" + remote.lstrip("/"))
        # exact nanoseconds (a float would round), so both ends compare equal
        sec, nsec = divmod(st.st_mtime_ns, 10**9)
        info.mtime = sec
        info.pax_headers = {"mtime": f"{sec}.{nsec:09d}"}
        info.mode = st.st_mode & 0o7777
        if os.path.isdir(local):
            info.type = tarfile.DIRTYPE
            members.append((info, None))
        else:
            info.type = tarfile.REGTYPE
            info.size = st.st_size
            members.append((info, local))

    for local, remote in targets:
        if os.path.isdir(local):
            for dirpath, dirnames, filenames in os.walk(local, followlinks=True):
                rel = os.path.relpath(dirpath, local)
                base = remote if rel == "." else posixpath.join(remote, *rel.split(os.sep))
                add(dirpath, base)
                for filename in filenames:
                    add(os.path.join(dirpath, filename), posixpath.join(base, filename))
                dirnames.sort()
        else:
            add(local, remote)
    return members
