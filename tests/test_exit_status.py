"""The exit-status file every batchdeck job script writes as its last act, and its batched read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchdeck.backends.errors import ParseError
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers import exit_status
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem


def test_the_job_script_records_its_exit_status_atomically(tmp_path: Path) -> None:
    job = JobRecord(id="abcd1234", cluster="c", spec=JobSpec(command=["sh", "-c", "exit 7"]))
    (tmp_path / ".batchdeck").mkdir()
    script = SlurmBatchSystem("c").render_script(job, str(tmp_path))
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=30)
    assert proc.returncode == 7
    assert (tmp_path / exit_status.EXIT_FILE).read_text() == "7\n"
    assert not (tmp_path / f"{exit_status.EXIT_FILE}.tmp").exists()


def test_one_command_reads_every_file(tmp_path: Path) -> None:
    sandboxes = []
    for name, content in (("a", "0\n"), ("b", "137\n"), ("c", None), ("d", "")):
        box = tmp_path / f"sandbox {name}"
        (box / ".batchdeck").mkdir(parents=True)
        if content is not None:
            (box / exit_status.EXIT_FILE).write_text(content)
        sandboxes.append(str(box))
    out = subprocess.run(exit_status.read_argv(sandboxes), capture_output=True, text=True, check=True).stdout
    assert exit_status.parse_exit_files(out) == {sandboxes[0]: 0, sandboxes[1]: 137}


def test_exit_statuses_read_as_exit_codes_or_signals() -> None:
    done = exit_status.job_from_exit_status("42", 0)
    assert (done.state, done.exitcode, done.signal) == (RunState.TERMINATING, 0, None)
    killed = exit_status.job_from_exit_status("42", 137)
    assert (killed.exitcode, killed.signal) == (None, 9)
    assert exit_status.job_from_exit_status("42", 3).reason.startswith("exit code 3")


def test_a_damaged_file_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        exit_status.parse_exit_files("/sb/x\x1fnot a number\x1e")


@given(st.text())
def test_the_parser_raises_only_parse_error(text: str) -> None:
    try:
        exit_status.parse_exit_files(text)
    except ParseError:
        pass
