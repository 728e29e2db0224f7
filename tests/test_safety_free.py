"""free deletes only what is safe to lose (#17 item 1), on every backend."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_backends import Backend, backend_fixture  # noqa: F401 - the fixture "backend"

from batchdeck.backends.engine.config import Config, builtin_cluster
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.engine.retention import WouldLoseData
from batchdeck.backends.model import JobSpec, RunState

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def _deck(backend: Backend, tmp_path: Path) -> Deck:
    name = backend.system.name
    deck = Deck(Config(path=None, clusters={name: dataclasses.replace(builtin_cluster(), name=name)}), Journal(tmp_path / "journal.sqlite"))
    deck._backends[name] = backend.system  # the real backend under test, already connected
    return deck


async def _finished_job(backend: Backend, deck: Deck) -> str:
    spec = JobSpec(command=["sh", "-c", "echo out; echo data > result.txt"], name="keep", outputs=["result.txt"], walltime=120)
    job = await deck.submit(backend.system.name, spec)
    backend.jobs.append(job)
    await backend.finish(job)
    deck.journal.save(job)
    return job.id


async def test_free_refuses_when_get_skipped_files_and_frees_once_fetched(backend: Backend, tmp_path: Path) -> None:
    deck = _deck(backend, tmp_path)
    job_id = await _finished_job(backend, deck)
    target = tmp_path / "results"
    target.mkdir()
    for name in ("stdout.txt", "stderr.txt", "result.txt"):
        (target / name).write_text("an older file of the same name\n")
    report = await deck.get_results(job_id, target)
    assert sorted(report.skipped) == ["result.txt", "stderr.txt", "stdout.txt"] and not report.copied
    job = deck.job(job_id)
    assert job.state == RunState.TERMINATED
    with pytest.raises(WouldLoseData) as refused:
        await deck.free(job_id)
    assert sorted(refused.value.lost) == ["result.txt", "stderr.txt", "stdout.txt"], backend.kind
    assert await backend.transport.stat(job.sandbox or "") is not None, "the sandbox must still be there"

    # A real copy, then one of them changed locally: that one would be lost.
    report = await deck.get_results(job_id, target, overwrite=True, changed_only=False)
    assert sorted(report.copied) == ["result.txt", "stderr.txt", "stdout.txt"]
    (target / "result.txt").write_text("edited, and longer than before\n")
    with pytest.raises(WouldLoseData) as refused:
        await deck.free(job_id)
    assert refused.value.lost == ["result.txt"]
    await deck.get_results(job_id, tmp_path / "elsewhere")
    freed = await deck.free(job_id)
    assert freed.sandbox is None
    assert await backend.transport.stat(job.sandbox or "") is None
    deck.journal.close()



async def test_free_counts_the_files_of_a_declared_output_folder(backend: Backend, tmp_path: Path) -> None:
    deck = _deck(backend, tmp_path)
    spec = JobSpec(command=["sh", "-c", "mkdir -p res; echo data > res/r.txt"], name="dir", outputs=["res"], walltime=120)
    job = await deck.submit(backend.system.name, spec)
    backend.jobs.append(job)
    await backend.finish(job)
    deck.journal.save(job)
    target = tmp_path / "results"
    target.mkdir()
    await deck.get_results(job.id, target)
    (target / "res" / "r.txt").write_text("edited locally, longer than the result\n")
    with pytest.raises(WouldLoseData) as refused:
        await deck.free(job.id)
    assert refused.value.lost == ["res/r.txt"], backend.kind
    deck.journal.close()

async def test_free_force_deletes_without_a_copy(backend: Backend, tmp_path: Path) -> None:
    deck = _deck(backend, tmp_path)
    job_id = await _finished_job(backend, deck)
    job = deck.job(job_id)
    job.transition(RunState.TERMINATED, "done")
    deck.journal.save(job)
    with pytest.raises(WouldLoseData):
        await deck.free(job_id)
    await deck.free(job_id, force=True)
    assert await backend.transport.stat(job.sandbox or "") is None
    deck.journal.close()


def test_cli_free_refuses_lists_and_force_frees(tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)

    job_id = cli("submit", "--", "sh", "-c", "echo precious").stdout.strip()
    deadline = time.monotonic() + 30
    while '"TERMINATING"' not in cli("status", job_id, "--json").stdout:
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    target = tmp_path / "here"
    target.mkdir()
    (target / "stdout.txt").write_text("not the job's output\n")
    got = cli("get", job_id, str(target))
    assert "1 skipped" in got.stdout and "skipped because" in got.stderr
    refused = cli("free", job_id)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "stdout.txt" in refused.stderr and "--force" in refused.stderr
    assert (tmp_path / "sandboxes" / job_id / "stdout.txt").read_text() == "precious\n"
    forced = cli("free", job_id, "--force")
    assert forced.returncode == 0 and "sandbox freed" in forced.stdout
    assert not (tmp_path / "sandboxes" / job_id).exists()
