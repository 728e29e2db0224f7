"""Input checked (#17 item 9, CLI part): a malformed journal row, non-UTF-8 arguments, usage errors exit 2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.engine.journal import Journal, MalformedRecord
from batchdeck.backends.model import JobRecord, JobSpec, RunState

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]

BAD_ROWS = {
    "bad00001": "{not json",
    "bad00002": "[]",
    "bad00003": json.dumps({"id": "bad00003"}),
    "bad00004": json.dumps({"id": "bad00004", "cluster": "localhost", "spec": {}, "state": "BOGUS"}),
    "bad00005": json.dumps({"id": "bad00005", "cluster": "localhost", "spec": "oops"}),
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def _cli(env: dict[str, str], *args: str | bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)


def _journal_with_bad_rows(path: Path) -> None:
    journal = Journal(path)
    for job_id in ("good0001", "good0002"):
        job = JobRecord(id=job_id, cluster="localhost", spec=JobSpec(command=["true"], name=job_id))
        job.transition(RunState.TERMINATED, "done")
        journal.save(job)
    journal.close()
    db = sqlite3.connect(path)
    with db:
        for job_id, text in BAD_ROWS.items():
            db.execute("INSERT INTO jobs (id, cluster, state, created, record) VALUES (?, 'localhost', 'TERMINATED', 1.0, ?)", (job_id, text))
    db.close()


def test_malformed_rows_are_skipped_and_named(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _journal_with_bad_rows(path)
    journal = Journal(path)
    assert [j.id for j in journal.jobs()] == ["good0001", "good0002"]
    assert sorted(journal.malformed) == sorted(BAD_ROWS)
    for job_id in BAD_ROWS:
        with pytest.raises(MalformedRecord, match=job_id):
            journal.find(job_id)


def test_list_reports_each_malformed_row_and_lists_the_rest(env: dict[str, str], tmp_path: Path) -> None:
    _journal_with_bad_rows(tmp_path / "data" / "journal.sqlite")
    proc = _cli(env, "list")
    assert proc.returncode == 0, proc.stderr
    assert "good0001" in proc.stdout and "good0002" in proc.stdout
    warnings = proc.stderr.splitlines()
    assert len(warnings) == len(BAD_ROWS)
    for job_id in BAD_ROWS:
        assert sum(job_id in line for line in warnings) == 1
    assert all(line.startswith("batchdeck: warning: ") and "Traceback" not in line for line in warnings)
    listed = json.loads(_cli(env, "list", "--json").stdout)
    assert [j["id"] for j in listed] == ["good0001", "good0002"]
    status = _cli(env, "status", "bad00001")
    assert status.returncode == 1 and status.stderr.count("\n") == 1 and "malformed" in status.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "--name", "caf\udce9", "--", "true"],
        ["submit", "--", "echo", "\udcff\udcfe"],
        ["status", "\udcff"],
        ["get", "abcd1234", "/tmp/\udcc3("],
    ],
)
def test_non_utf8_arguments_are_refused_in_one_line(env: dict[str, str], args: list[str]) -> None:
    raw = [os.fsencode(a) for a in args]  # the bytes a shell would pass
    proc = subprocess.run([*BATCHDECK, *raw], env=env, capture_output=True, timeout=60)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "not valid UTF-8" in stderr and "internal error" not in stderr
    assert proc.stdout == b""


@pytest.mark.parametrize(
    "args",
    [
        ["submit"],
        ["submit", "--memory", "lots", "--", "true"],
        ["submit", "--walltime", "soon", "--", "true"],
        ["submit", "--env", "NOEQUALS", "--", "true"],
        ["submit", "--cores", "many", "--", "true"],
        ["frobnicate"],
        ["status"],
        ["list", "--bogus"],
    ],
)
def test_every_usage_error_exits_2(env: dict[str, str], args: list[str]) -> None:
    proc = _cli(env, *args)
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("target", ["localhost:--user=me", "localhost:-u", "localhost:*", "localhost:1;rm"])
def test_a_job_id_that_is_an_option_or_a_wildcard_is_refused(env: dict[str, str], target: str) -> None:
    """``scancel --user=me`` or ``qdel '*'`` would end every job of the user: CLUSTER:JOBID is one job."""
    for command in ("cancel", "show", "hold"):
        proc = _cli(env, command, target)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1, (command, proc.stderr)
        assert "is not a scheduler job id" in proc.stderr and "Traceback" not in proc.stderr
