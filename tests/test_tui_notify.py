"""The app tells the user when a job ends: a toast, the bell and OSC 9 / OSC 777 (#15 item 4).

Real local jobs, submitted by the CLI (another process) and released by the test, so the app sees
each one running first and then ended. Every wait polls with a deadline; nothing sleeps.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from batchdeck.backends.engine.deck import Deck
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.screenshots import wait_for

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""
[clusters.loud]
type = "local"
sandbox_root = "{tmp_path / 'loud'}"
poll_interval = 0.3

[clusters.quiet]
type = "local"
sandbox_root = "{tmp_path / 'quiet'}"
poll_interval = 0.3
notify = false
"""
    )
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def submit(env: dict[str, str], cluster: str, name: str, script: str) -> str:
    proc = subprocess.run(
        [*BATCHDECK, "submit", "--cluster", cluster, "--name", name, "--", "sh", "-c", script],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def gated(release: Path, then: str) -> str:
    """A job that runs until the test creates ``release``."""
    return f"while [ ! -e {release} ]; do sleep 0.1; done; {then}"


async def test_an_ended_job_rings_once_per_poll_and_only_where_notify_is_on(home: dict[str, str], tmp_path: Path) -> None:
    release = tmp_path / "release"
    good = submit(home, "loud", "good-one", gated(release, "true"))
    bad = submit(home, "loud", "bad-one", gated(release, "exit 3"))
    quiet = submit(home, "quiet", "quiet-one", gated(release, "true"))
    rung: list[tuple[str, str]] = []
    app = BatchdeckApp(Deck.open(), ui_settings=tmp_path / "ui.json", owns_deck=True,
                       ring=lambda title, body: rung.append((title, body)))  # fmt: skip
    async with app.run_test(size=(140, 42), notifications=True) as pilot:
        await wait_for(pilot, lambda: all(
            j in app.jobs_by_id and app.jobs_by_id[j].state.is_active for j in (good, bad, quiet)), timeout=30)
        release.touch()
        await wait_for(pilot, lambda: not any(app.jobs_by_id[j].state.is_active for j in (good, bad, quiet)),
                       timeout=30)  # fmt: skip
        await wait_for(pilot, lambda: len(rung) >= 1)
        toasts = [n.message for n in app._notifications]
        await pilot.press("q")
    bodies = " | ".join(body for _title, body in rung)
    assert "quiet" not in bodies, rung  # that cluster has notify = false
    # Both loud jobs told of, by name, once each (one notification, or one per job if they ended apart).
    if len(rung) == 1:
        ((title, body),) = rung
        assert title == "batchdeck: 2 jobs ended" and body == "1 done, 1 did not succeed", rung
    else:
        assert sorted(title for title, _ in rung) == ["batchdeck: job did not succeed", "batchdeck: job done"], rung
        assert any(good in body and "good-one" in body for _, body in rung), rung
        assert any(bad in body and "bad-one" in body and "failed" in body for _, body in rung), rung
    assert len(toasts) == len(rung), toasts


def _read_until(fd: int, wanted: bytes, deadline: float, seen: bytearray) -> bool:
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            seen += chunk
    return True


def test_the_app_in_a_real_terminal_sends_the_bell_and_osc_9_and_777(home: dict[str, str], tmp_path: Path) -> None:
    """The bytes reach the terminal: the app runs in a pseudo-terminal, as in a user's xterm."""
    release = tmp_path / "release"
    job = submit(home, "loud", "pty-job", gated(release, "true"))
    env = {**home, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "36"}
    env.pop("TMUX", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, with the pty as its controlling terminal
        os.execvpe(BATCHDECK[0], BATCHDECK, env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        seen = bytearray()
        # the job's row on the screen: the app has seen it running
        assert _read_until(fd, b"pty-job", time.monotonic() + 60, seen), bytes(seen[-2000:])
        release.touch()
        assert _read_until(fd, b"\x1b]777;notify;", time.monotonic() + 60, seen), bytes(seen[-2000:])
        assert _read_until(fd, b"\x1b\\", time.monotonic() + 10, seen)
        text = bytes(seen).decode(errors="replace")
        osc9 = text[text.index("\x1b]9;") :].split("\x1b\\")[0]
        assert "batchdeck: job done" in osc9 and "pty-job" in osc9 and job in osc9, osc9
        assert "\x1b]777;notify;batchdeck: job done;pty-job" in text
        assert "\a\x1b]9;" in text  # the bell rings just before
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            _read_until(fd, b"\0never", time.monotonic() + 0.2, bytearray())  # drain so it can exit
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
