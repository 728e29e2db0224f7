"""Terminal-safe output (#17 item 5): names, paths and scheduler messages are shown escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.text import Text

from batchdeck.backends.engine.deck import ClusterStatus
from batchdeck.backends.model import JobRecord, JobSpec, QueueInfo, RunState, SchedulerJob
from batchdeck.backends.text import terminal_safe
from batchdeck.tui import rows
from batchdeck.tui.main_screen import job_detail, other_detail

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\nfake line\r\x9b31m\x7f\u202etxt.exe\udcff"


def _clean(text: str) -> bool:
    return not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def test_every_control_character_is_escaped_and_readable() -> None:
    shown = terminal_safe(HOSTILE)
    assert _clean(shown)
    assert shown == "evil\\x1b]0;pwned\\x07\\x1b[2J\\nfake line\\r\\x9b31m\\x7f\\u202etxt.exe\\xff"
    assert terminal_safe("plain ünïcode 名前 ✔") == "plain ünïcode 名前 ✔"
    assert all(_clean(terminal_safe(chr(c))) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF or c >= 0xDC80)


def _hostile_job() -> JobRecord:
    job = JobRecord(id="evil0001", cluster="localhost", spec=JobSpec(command=["echo", HOSTILE], name=HOSTILE, queue=HOSTILE))
    job.sandbox = f"/tmp/{HOSTILE}"
    job.raw_state = HOSTILE
    job.transition(RunState.SUBMITTED, "submitted")
    job.reason = HOSTILE
    return job


def _texts(row: rows.Row) -> list[str]:
    return [cell.plain if isinstance(cell, Text) else cell for cell in row]


def test_app_cells_and_details_are_escaped() -> None:
    job = _hostile_job()
    assert all(_clean(cell) for cell in _texts(rows.job_row(job, 0, {})))
    info = SchedulerJob(jobid=HOSTILE, state=RunState.RUNNING, raw_state=HOSTILE, queue=HOSTILE, name=HOSTILE, reason=HOSTILE, user=HOSTILE)
    assert all(_clean(cell) for cell in _texts(rows.other_row("c", info, 0, {})))
    queue = QueueInfo(name=HOSTILE, state=HOSTILE)
    assert all(_clean(cell) for cell in rows.queue_row(queue))
    status = ClusterStatus(HOSTILE, state="error", error=HOSTILE, warning=HOSTILE)
    prompt = rows.cluster_prompt(status, {}, {}, 0).plain
    assert all(_clean(line) for line in prompt.split("\n"))
    assert prompt.count("\n") == 3  # its own three line breaks, none from the names
    for detail in (job_detail(job, 0).plain, other_detail(info).plain):
        assert all(_clean(line) for line in detail.split("\n"))
        assert "fake line" not in detail.split("\n")


def test_cli_output_is_escaped(tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    name = "x\x1b[31mred\nfake"
    out_name = "out\x1b]0;t\x07.txt"
    job_id = subprocess.run(
        [*BATCHDECK, "submit", "--name", name, "--output", out_name, "--", "sh", "-c", 'printf hi > "$1"', "sh", out_name],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    deadline = time.monotonic() + 60
    while True:
        listed = subprocess.run([*BATCHDECK, "list"], env=env, capture_output=True, text=True, timeout=60)
        if "TERMINATING" in listed.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert listed.returncode == 0
    assert "TERMINATING" in listed.stdout
    assert listed.stdout.count("\n") == 2 and _clean(listed.stdout.replace("\n", ""))
    assert "x\\x1b[31mred\\nfake" in listed.stdout
    assert json.loads(subprocess.run([*BATCHDECK, "status", job_id, "--json"], env=env, capture_output=True, text=True, timeout=60).stdout)["name"] == name
    got = subprocess.run([*BATCHDECK, "get", job_id, str(tmp_path / "res")], env=env, capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert _clean(got.stdout.replace("\n", "")) and "out\\x1b]0;t\\x07.txt" in got.stdout
    assert (tmp_path / "res" / out_name).read_text() == "hi"
    refused = subprocess.run([*BATCHDECK, "status", "\x1b[2Jx"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and _clean(refused.stderr.rstrip("\n")) and refused.stderr.count("\n") == 1
