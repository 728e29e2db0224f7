"""Honest exits (#17 item 7, CLI part): clusters polled together, a failed one named and in the exit
status, scheduler errors in one line (all of it with --verbose)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.text import first_line

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def _env(tmp_path: Path, extra: str = "") -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n{extra}')
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=120)


def _active_job(tmp_path: Path, job_id: str, cluster: str) -> None:
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    job = JobRecord(id=job_id, cluster=cluster, spec=JobSpec(command=["true"], name=f"on-{cluster}"))
    job.jobid = "12345"
    job.transition(RunState.SUBMITTED, "submitted")
    journal.save(job)
    journal.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ssh_cluster(name: str, port: int) -> str:
    return (
        f'[clusters.{name}]\ntype = "slurm"\ntransport = "ssh"\nfrontend = "127.0.0.1"\nport = {port}\n'
        f'username = "nobody"\nssh_timeout = 3\nsandbox_root = "/tmp/none"\n'
    )


def test_list_exits_non_zero_and_names_the_cluster_that_failed(tmp_path: Path) -> None:
    env = _env(tmp_path, _ssh_cluster("gone", _closed_port()))
    job_id = _cli(env, "submit", "--", "true").stdout.strip()
    _active_job(tmp_path, "gone0001", "gone")
    proc = _cli(env, "list")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "cluster 'gone' could not be refreshed" in proc.stderr
    assert job_id in proc.stdout and "gone0001" in proc.stdout and "(stale)" in proc.stdout
    assert _cli(env, "list", "--no-refresh").returncode == 0
    assert _cli(env, "list", "--cluster", "localhost").returncode == 0


class HungServer:
    """TCP servers that accept and never answer (a hung sshd); records how many clients were connected at once."""

    def __init__(self, count: int) -> None:
        self.sockets = []
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            self.sockets.append(sock)
        self.ports = [int(s.getsockname()[1]) for s in self.sockets]
        self.open = 0
        self.most_at_once = 0
        self._lock = threading.Lock()
        self._stop = False
        self._threads = [threading.Thread(target=self._accept, args=(s,), daemon=True) for s in self.sockets]
        for thread in self._threads:
            thread.start()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with self._lock:
                self.open += 1
                self.most_at_once = max(self.most_at_once, self.open)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            while not self._stop:
                try:
                    if not conn.recv(4096):
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
        with self._lock:
            self.open -= 1

    def close(self) -> None:
        self._stop = True
        for thread in self._threads:
            thread.join(5)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    server = HungServer(2)
    yield server
    server.close()


def test_list_polls_hung_clusters_at_the_same_time(tmp_path: Path, hung: HungServer) -> None:
    env = _env(tmp_path, _ssh_cluster("hung1", hung.ports[0]) + _ssh_cluster("hung2", hung.ports[1]))
    _active_job(tmp_path, "hung0001", "hung1")
    _active_job(tmp_path, "hung0002", "hung2")
    proc = _cli(env, "list")
    assert proc.returncode == 1
    assert "cluster 'hung1'" in proc.stderr and "cluster 'hung2'" in proc.stderr
    assert hung.most_at_once == 2, "the two clusters were not polled concurrently"


def test_scheduler_errors_in_one_line() -> None:
    real = "sbatch: sbatch: error: invalid partition specified: nosuch\nsbatch: error: Batch job submission failed: Invalid partition name specified"
    assert first_line(real) == ("sbatch: error: invalid partition specified: nosuch", 1)
    assert first_line("sacct: sacct: error: Problem talking to the database: Connection refused") == (
        "sacct: error: Problem talking to the database: Connection refused",
        0,
    )
    assert first_line("qstat: warning: x\n\nqstat: error: cannot reach qmaster\n")[0] == "qstat: error: cannot reach qmaster"


def test_a_real_sbatch_error_is_one_line_and_whole_with_verbose(slurm_cluster: None, tmp_path: Path) -> None:
    env = _env(tmp_path, f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "slurm"}"\n')
    proc = _cli(env, "submit", "--cluster", "slurm", "--queue", "nosuchpartition", "--", "true")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("batchdeck: error: sbatch: error: ") and "sbatch: sbatch:" not in proc.stderr
    assert "more line" in proc.stderr
    verbose = _cli(env, "submit", "--cluster", "slurm", "--queue", "nosuchpartition", "--verbose", "--", "true")
    assert verbose.returncode == 1
    assert verbose.stderr.count("\n") >= 2 and "Batch job submission failed" in verbose.stderr
    before = _cli(env, "--verbose", "submit", "--cluster", "slurm", "--queue", "nosuchpartition", "--", "true")
    assert before.stderr.count("\n") >= 2 and "Batch job submission failed" in before.stderr
