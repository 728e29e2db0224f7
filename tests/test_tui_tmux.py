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


def start_app(tmux: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path, size: tuple[int, int]) -> Path:
    """The app on a local cluster in the tmux session ``app``; returns the file its exit status lands in."""
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
    width, height = size
    started = tmux("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), "-c", str(tmp_path), command)
    assert started.returncode == 0, started.stderr
    tmux("set-option", "-t", "app", "remain-on-exit", "on")
    # Without an attached client some tmux versions keep the 80x24 default: insist.
    tmux("resize-window", "-t", "app", "-x", str(width), "-y", str(height))
    return rc_file


def test_app_in_tmux(tmux: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    rc_file = start_app(tmux, tmp_path, (120, 40))

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

    quit_app(tmux, rc_file)


def quit_app(tmux: Callable[..., subprocess.CompletedProcess[str]], rc_file: Path) -> None:
    tmux("send-keys", "-t", "app", "q")
    deadline = time.monotonic() + 20
    while not rc_file.exists() or not rc_file.read_text().strip():
        assert time.monotonic() < deadline, "the app did not exit after q"
        time.sleep(0.1)
    assert rc_file.read_text().strip() == "0", tmux("capture-pane", "-p", "-t", "app").stdout


#: a human typist at 20 keys a second (#15: Tabs were lost at about 10)
KEY_INTERVAL = 0.05


def type_paced(tmux: Callable[..., subprocess.CompletedProcess[str]], keys: list[str]) -> None:
    """One send-keys per key, the n-th at start + n * KEY_INTERVAL by the clock.

    The pacing is the typist being simulated (what the test is about), not a wait for the app.
    """
    start = time.monotonic()
    for n, key in enumerate(keys):
        delay = start + n * KEY_INTERVAL - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if key == "Tab":
            tmux("send-keys", "-t", "app", "Tab")
        else:
            tmux("send-keys", "-t", "app", "-l", key)


def test_form_keeps_every_key_at_20_per_second(tmux: Callable[..., subprocess.CompletedProcess[str]],
                                               tmp_path: Path) -> None:
    from batchdeck.backends.engine.deck import Deck

    data = tmp_path / "in.txt"
    data.write_text("data\n")
    # Every field in tab order from the command, each typed fast and followed by a Tab.
    typed = {
        "command": "echo paced typing",
        "script": "",
        "name": "paced-1",
        "queue": "",
        "cores": "2",
        "memory": "64M",
        "walltime": "5m",
        "inputs": f"{data}=renamed.txt",
        "outputs": "out.dat",
        "env": "GREETING=hi STEP=2",
        "architecture": "",
        # the scheduler options: the local cluster refuses them, so only the Tabs pass through
        "account": "",
        "qos": "",
        "gpus": "",
        "nodes": "",
        "constraint": "",
        "extra": "",
    }
    rc_file = start_app(tmux, tmp_path, (120, 40))
    wait_screen(tmux, lambda s: "connected" in s and "Submit" in s)
    tmux("send-keys", "-t", "app", "s")
    wait_screen(tmux, lambda s: "Submit a job" in s)
    keys: list[str] = []
    for value in typed.values():
        keys += [*value, "Tab"]
    type_paced(tmux, keys)
    # The last Tab went round to the Submit button; ctrl+s submits from anywhere on the form.
    screen = wait_screen(tmux, lambda s: "STEP=2" in s)
    tmux("send-keys", "-t", "app", "C-s")
    wait_screen(tmux, lambda s: "Submit a job" not in s and "paced-1" in s)

    deck = Deck.open()
    try:
        (job,) = deck.jobs()
        spec = job.spec
    finally:
        deck.journal.close()
    assert spec.command == ["echo", "paced", "typing"], screen
    assert spec.script is None
    assert spec.name == "paced-1"
    assert spec.queue is None
    assert spec.cores == 2
    assert spec.memory_per_core == 64
    assert spec.walltime == 300
    assert spec.inputs == {str(data): "renamed.txt"}
    assert spec.outputs == ["out.dat"]
    assert set(spec.environment) == {"GREETING", "STEP"}  # the journal keeps names, never values
    assert spec.architecture is None
    quit_app(tmux, rc_file)
