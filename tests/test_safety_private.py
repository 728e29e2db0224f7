"""Private by default (#17 item 3): the journal, the data folder, sandboxes, job scripts, --env values."""

from __future__ import annotations

import posixpath
import sqlite3
import stat
from pathlib import Path

import pytest
from safety_backends import Backend, backend_fixture  # noqa: F401 - the fixture "backend"

from batchdeck.backends.engine.journal import ENV_NOT_STORED, Journal
from batchdeck.backends.model import JobRecord, JobSpec
from batchdeck.backends.schedulers.base import CONTROL_DIR, JOB_SCRIPT

SECRET = "s3cr3t-Valu3"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_journal_and_data_folder_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("BATCHDECK_DATA_DIR", str(data))
    journal = Journal()
    journal.save(JobRecord(id="priv0001", cluster="c", spec=JobSpec(command=["true"])))
    assert _mode(data) == 0o700
    for name in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"):
        assert _mode(data / name) == 0o600, name
    journal.close()


def test_an_existing_world_readable_journal_is_made_private_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("BATCHDECK_DATA_DIR", str(data))
    Journal().close()
    data.chmod(0o755)
    (data / "journal.sqlite").chmod(0o644)
    journal = Journal()
    assert _mode(data) == 0o700
    assert _mode(data / "journal.sqlite") == 0o600
    journal.close()


def test_env_values_never_reach_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    spec = JobSpec(command=["true"], environment={"DB_PASSWORD": SECRET, "MODE": "fast"})
    job = JobRecord(id="envs0001", cluster="c", spec=spec)
    journal.save(job)
    assert job.spec.environment["DB_PASSWORD"] == SECRET  # the caller's copy is untouched
    journal.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert SECRET.encode() not in raw and b"fast" not in raw
    rows = sqlite3.connect(tmp_path / "j.sqlite").execute("SELECT record FROM jobs").fetchall()
    assert SECRET not in rows[0][0] and "DB_PASSWORD" in rows[0][0]
    again = Journal(tmp_path / "j.sqlite").get("envs0001")
    assert again.spec.environment == {"DB_PASSWORD": ENV_NOT_STORED, "MODE": ENV_NOT_STORED}


async def test_sandbox_and_job_script_are_private_and_the_job_still_gets_its_env(backend: Backend) -> None:
    job = await backend.submit(
        JobSpec(
            command=["sh", "-c", f'test "$DB_PASSWORD" = {SECRET} && echo env-ok'],
            name="private",
            environment={"DB_PASSWORD": SECRET},
            walltime=120,
        )
    )
    assert job.sandbox
    assert await backend.mode(job.sandbox) == "700", backend.kind
    assert await backend.mode(posixpath.join(job.sandbox, CONTROL_DIR)) == "700", backend.kind
    assert await backend.mode(posixpath.join(job.sandbox, JOB_SCRIPT)) == "600", backend.kind
    await backend.finish(job)
    data, _size = await backend.transport.read_range(posixpath.join(job.sandbox, job.spec.stdout))
    assert data == b"env-ok\n", backend.kind
    assert job.exitcode == 0, (backend.kind, job.reason)
