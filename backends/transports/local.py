"""Transport for the machine batchdeck runs on."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import RemoteFileNotFound, TransportError, UnsafePath
from .base import CommandResult, FileStat, ProgressCallback, Transport
from .tar_stream import new_part_file, remove_stale_parts

_CHUNK = 1024 * 1024


class LocalTransport(Transport):
    name = "localhost"

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        argv = [str(a) for a in argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found")
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot run {argv[0]}: {getattr(exc, 'strerror', None) or exc}") from exc
        limit = timeout if timeout is not None else self.timeout
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), limit)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise TransportError(f"{argv[0]} did not finish within {limit:g} s") from None
        return CommandResult(
            argv,
            proc.returncode if proc.returncode is not None else -1,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
        )

    async def home(self) -> str:
        return str(Path.home())

    async def makedirs(self, path: str) -> None:
        await asyncio.to_thread(_makedirs, path)

    async def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        await asyncio.to_thread(_write_atomic, path, data, mode)

    async def put_files(self, pairs: Sequence[tuple[str, str]]) -> None:
        await asyncio.to_thread(_put_files, list(pairs))

    async def get_files(
        self, pairs: Sequence[tuple[str, str]], progress: ProgressCallback | None = None
    ) -> dict[str, str]:
        failures: dict[str, str] = {}
        await asyncio.to_thread(remove_stale_parts, [os.path.dirname(local) or "." for _r, local in pairs])
        for remote, local in pairs:
            try:
                await asyncio.to_thread(_copy_file_atomic, remote, local, progress)
            except OSError as exc:
                failures[remote] = exc.strerror or str(exc)
        return failures

    async def stat(self, path: str) -> FileStat | None:
        try:
            st = await asyncio.to_thread(os.stat, _expand(path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TransportError(f"cannot stat {path}: {exc.strerror}") from exc
        return FileStat(path, st.st_size, st.st_mtime, os.path.isdir(_expand(path)))

    async def list_tree(self, path: str) -> list[FileStat]:
        return await asyncio.to_thread(_list_tree, _expand(path))

    async def read_range(
        self, path: str, offset: int = 0, size: int | None = None, *, inside: str | None = None
    ) -> tuple[bytes, int]:
        box = None if inside is None else _expand(inside)
        return await asyncio.to_thread(_read_range, _expand(path), offset, size, box)

    async def remove_tree(self, path: str) -> None:
        await asyncio.to_thread(_remove_tree, _expand(path))


def _expand(path: str) -> str:
    return os.path.expanduser(path)


def _makedirs(path: str) -> None:
    try:
        _mkdir_private(_expand(path))
    except OSError as exc:
        raise TransportError(f"cannot create directory {path}: {exc.strerror}") from exc


def _mkdir_private(path: str) -> None:
    """mkdir -p, every folder it creates for the user only (os.makedirs gives the mode to the last alone).

    Sandboxes hold inputs and job scripts; the umask of a shared login node must not open them.
    """
    target = Path(path).absolute()
    missing = []
    here = target
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
    if not target.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(target))


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    path = _expand(path)
    directory = os.path.dirname(path) or "."
    _mkdir_private(directory)
    fd, tmp = tempfile.mkstemp(prefix=".bd-tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _put_files(pairs: list[tuple[str, str]]) -> None:
    for local, remote in pairs:
        remote = _expand(remote)
        try:
            if os.path.isdir(local):
                shutil.copytree(local, remote, dirs_exist_ok=True)
            else:
                os.makedirs(os.path.dirname(remote) or ".", exist_ok=True)
                shutil.copy2(local, remote)
        except FileNotFoundError as exc:
            raise RemoteFileNotFound(f"input file {local} does not exist") from exc
        except OSError as exc:
            raise TransportError(f"cannot copy {local} to {remote}: {exc.strerror or exc}") from exc


def _copy_file_atomic(remote: str, local: str, progress: ProgressCallback | None) -> None:
    source = _expand(remote)
    directory = os.path.dirname(local) or "."
    os.makedirs(directory, exist_ok=True)
    total = os.stat(source).st_size
    fd, tmp = new_part_file(directory)
    done = 0
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
                done += len(chunk)
                if progress:
                    progress(remote, done, total)
        shutil.copystat(source, tmp)
        os.replace(tmp, local)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if progress and total == 0:
        progress(remote, 0, 0)


def _list_tree(root: str) -> list[FileStat]:
    if not os.path.isdir(root):
        raise RemoteFileNotFound(f"directory {root} does not exist")
    result: list[FileStat] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            full = os.path.join(dirpath, filename)
            try:
                st = os.lstat(full)
            except OSError:
                continue  # vanished while listing
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            result.append(FileStat(os.path.relpath(full, root), st.st_size, st.st_mtime))
    return result


def _read_range(path: str, offset: int, size: int | None, inside: str | None = None) -> tuple[bytes, int]:
    try:
        with open(path, "rb") as handle:
            if inside is not None:
                _check_inside(handle.fileno(), path, inside)
            total = os.fstat(handle.fileno()).st_size
            start = max(0, total + offset) if offset < 0 else min(offset, total)
            handle.seek(start)
            data = handle.read() if size is None else handle.read(max(0, size))
            return data, total
    except FileNotFoundError as exc:
        raise RemoteFileNotFound(f"{path} does not exist") from exc
    except OSError as exc:
        raise TransportError(f"cannot read {path}: {exc.strerror}") from exc


def _check_inside(fd: int, path: str, inside: str) -> None:
    """Refuse an open file that is not below ``inside`` once links are resolved."""
    proc_link = f"/proc/self/fd/{fd}"
    if os.path.exists(proc_link):
        real = os.readlink(proc_link)  # where the open file really is: no race with a swapped link
    else:
        real = os.path.realpath(path)
        opened, found = os.fstat(fd), os.stat(real)
        if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino):
            raise UnsafePath(f"refusing to read {path}: it changed while it was opened")
    top = os.path.realpath(inside)
    if not real.startswith(top.rstrip("/") + "/"):
        raise UnsafePath(f"refusing to read {path}: it is a link to {real}, outside the sandbox {inside}")


def _remove_tree(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
