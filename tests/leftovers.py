"""Processes a test run started that are still alive: the session-end check of tests/conftest.py.

A process belongs to this run if it inherited the run's mark in its environment,
or runs from (or names) one of the run's sandbox roots: local runners and jobs
started through the test sshd do not inherit our environment, but live there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _is_zombie(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    return not stat or stat.rsplit(b")", 1)[-1].split()[:1] == [b"Z"]


def _belongs(pid: int, mark: bytes, roots: list[bytes]) -> bool:
    if mark in _read(f"/proc/{pid}/environ").split(b"\0"):
        return True
    cmdline = _read(f"/proc/{pid}/cmdline")
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd").encode("utf-8", "surrogateescape")
    except OSError:
        cwd = b""
    return any(root in cmdline or cwd == root or cwd.startswith(root + b"/") for root in roots)


def _scan(mark: bytes, roots: list[bytes], skip: set[int]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        pid = int(entry)
        if not _is_zombie(pid) and _belongs(pid, mark, roots):
            found.append(pid)
    return found


def leftover_processes(mark: str, roots: Iterable[str], wait: float = 20) -> list[int]:
    """Live processes of this run, after giving them up to ``wait`` seconds to end by themselves.

    Runners notice a deleted sandbox within a second, and give a job they must end
    a few seconds after SIGTERM: the deadline is for them, not a sleep.
    """
    encoded_roots = [r.rstrip("/").encode("utf-8", "surrogateescape") for r in roots if r.strip("/")]
    skip = _ancestors()
    deadline = time.monotonic() + wait
    while True:
        left = _scan(mark.encode(), encoded_roots, skip)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def describe(pid: int) -> str:
    cmdline = _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return f"  pid {pid}: {cmdline[:200]}"
