"""The real app in a real terminal: tmux runs it, the test reads the screen and sends keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """A private tmux server (-L), killed at the end whatever happens."""
    server = f"bd-test-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", server, *args], capture_output=True, text=True, timeout=20)

    yield run
    run("kill-server")


def wait_screen(tmux: Callable[..., subprocess.CompletedProcess[str]], condition: Callable[[str], bool],
                timeout: float = 20.0) -> str:
    """Poll capture-pane until ``condition(screen)``; fail with the last screen."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        result = tmux("capture-pane", "-p", "-t", "app")
        screen = result.stdout
        if result.returncode == 0 and condition(screen):
            return screen
        time.sleep(0.1)  # polling interval of the deadline loop, not a wait for the app
    raise AssertionError(f"the screen never matched; last screen:\n{screen}")


def test_app_in_tmux(tmux: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[clusters.local]\ntype = "local"\nsandbox_root = "{tmp_path / "sb"}"\npoll_interval = 0.5\n'
    )
    env = {
        "BATCHDECK_CONFIG": str(config),
        "BATCHDECK_DATA_DIR": os.environ["BATCHDECK_DATA_DIR"],
        "TERM": "xterm-256color",
    }
    rc_file = tmp_path / "rc"
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    # COLUMNS/LINES from the test runner would override the pane's real size.
    command = (
        f"env -u COLUMNS -u LINES {exports} {sys.executable} -c "
        '"from batchdeck.tui.app import run_app; raise SystemExit(run_app(None))"'
        # tmux's own pane_dead_status is not always filled in: record the exit status.
        f"; echo $? > {rc_file}"
    )
    started = tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", "-c", str(tmp_path), command)
    assert started.returncode == 0, started.stderr
    tmux("set-option", "-t", "app", "remain-on-exit", "on")
    # Without an attached client some tmux versions keep the 80x24 default: insist.
    tmux("resize-window", "-t", "app", "-x", "120", "-y", "40")

    screen = wait_screen(tmux, lambda s: all(w in s for w in ("Clusters", "Queues", "Jobs", "connected", "Submit")))
    assert "local" in screen
    assert "Submit" in screen  # the footer

    tmux("send-keys", "-t", "app", "?")
    wait_screen(tmux, lambda s: "batchdeck keys" in s)
    tmux("send-keys", "-t", "app", "Escape")
    wait_screen(tmux, lambda s: "batchdeck keys" not in s)

    tmux("send-keys", "-t", "app", "s")
    wait_screen(tmux, lambda s: "Submit a job" in s)
    tmux("send-keys", "-t", "app", "-l", "echo hello-from-tmux")
    tmux("send-keys", "-t", "app", "C-s")
    wait_screen(tmux, lambda s: "Submit a job" not in s and "echo" in s and "terminating" in s)

    tmux("send-keys", "-t", "app", "q")
    deadline = time.monotonic() + 20
    while not rc_file.exists() or not rc_file.read_text().strip():
        assert time.monotonic() < deadline, "the app did not exit after q"
        time.sleep(0.1)
    assert rc_file.read_text().strip() == "0", tmux("capture-pane", "-p", "-t", "app").stdout
