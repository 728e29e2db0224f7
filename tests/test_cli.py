"""The CLI as a user runs it: separate processes sharing one journal."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "sandboxes"
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{root}"\n')
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def run(env: dict[str, str], *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"batchdeck {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def status(env: dict[str, str], job_id: str) -> dict[str, object]:
    return json.loads(run(env, "status", job_id, "--json").stdout)


def wait_status(env: dict[str, str], job_id: str, state: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        record = status(env, job_id)
        if record["state"] == state:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach {state}: {record}")
        time.sleep(0.2)


def test_job_survives_the_cli_exiting_and_the_next_process_sees_it_finish(env: dict[str, str], tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job_id = run(env, "submit", "--name", "survivor", "--", "sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.05; done; echo finished').stdout.strip()
    assert len(job_id) == 8
    # The submitting process has exited; the job must still be running on its own.
    record = wait_status(env, job_id, "RUNNING")
    assert record["name"] == "survivor"
    gate.touch()
    record = wait_status(env, job_id, "TERMINATING")
    assert record["exitcode"] == 0
    for key in ("id", "name", "cluster", "state", "jobid", "exitcode", "signal", "reason"):
        assert key in record
    assert run(env, "peek", job_id).stdout == "finished\n"
    listed = json.loads(run(env, "list", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]


def test_get_cancel_free_through_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    job_id = run(env, "submit", "--output", "result.txt", "--", "sh", "-c", "echo 42 > result.txt").stdout.strip()
    wait_status(env, job_id, "TERMINATING")
    target = tmp_path / "results"
    out = run(env, "get", job_id, str(target)).stdout
    assert "3 copied, 0 skipped, 0 failed" in out
    assert (target / "result.txt").read_text() == "42\n"
    assert status(env, job_id)["state"] == "TERMINATED"
    out = run(env, "get", job_id, str(target), "--overwrite").stdout
    assert "0 copied, 3 skipped, 0 failed" in out  # changed-only is the default
    out = run(env, "get", job_id, str(target), "--overwrite", "--all").stdout
    assert "3 copied, 0 skipped, 0 failed" in out
    assert "sandbox freed" in run(env, "free", job_id).stdout

    sleeper = run(env, "submit", "--", "sleep", "300").stdout.strip()
    wait_status(env, sleeper, "RUNNING")
    refused = run(env, "free", sleeper, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"batchdeck: error: job {sleeper} is RUNNING: only TERMINATED jobs can be freed (fetch its results first)"
    assert "TERMINATED (cancelled)" in run(env, "cancel", sleeper).stdout


def test_peek_bytes_and_stderr(env: dict[str, str]) -> None:
    job_id = run(env, "submit", "--", "sh", "-c", "printf 0123456789; printf oops >&2; exit 3").stdout.strip()
    record = wait_status(env, job_id, "TERMINATING")
    assert record["exitcode"] == 3
    assert run(env, "peek", job_id, "--bytes", "4").stdout == "6789"
    assert run(env, "peek", job_id, "--bytes", "0").stdout == "0123456789"
    assert run(env, "peek", job_id, "--stderr").stdout == "oops"
    assert run(env, "peek", job_id, "--follow").stdout == "0123456789"


def test_clusters_and_queues_json(env: dict[str, str]) -> None:
    clusters = json.loads(run(env, "clusters", "--json").stdout)
    assert clusters[0]["name"] == "localhost" and clusters[0]["type"] == "local"
    queues = json.loads(run(env, "queues", "--json").stdout)
    assert queues[0]["name"] == "local" and queues[0]["total_cores"] == os.cpu_count()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "zzzzzzzz"], "batchdeck: error: no job 'zzzzzzzz' in the journal"),
        (["submit"], "batchdeck: error: nothing to run: give -- COMMAND ARGS... or --script FILE"),
        (["submit", "--cores", "0", "--", "true"], "batchdeck: error: a job needs at least 1 core, got 0"),
        (["submit", "--memory", "lots", "--", "true"], "batchdeck: error: --memory: expected a memory size"),
        (["submit", "--walltime", "soon", "--", "true"], "batchdeck: error: --walltime: expected a duration"),
        (["submit", "--input", "/no/such/file", "--", "true"], "batchdeck: error: input file '/no/such/file' does not exist"),
        (["submit", "--cluster", "mars", "--", "true"], "batchdeck: error: "),
        (["submit", "--output", "../escape", "--", "true"], "batchdeck: error: path '../escape' must stay inside the job's sandbox"),
        (["submit", "--env", "NOEQUALS", "--", "true"], "batchdeck: error: --env expects NAME=VALUE, got 'NOEQUALS'"),
        (["frobnicate"], "batchdeck: error: argument command: invalid choice: 'frobnicate'"),
        (["peek", "x", "--bytes", "-1"], "batchdeck: error: "),
    ],
)
def test_errors_are_one_clear_line(env: dict[str, str], args: list[str], message: str) -> None:
    proc = run(env, *args, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(message), lines[0]
    assert "Traceback" not in proc.stderr


def test_a_broken_config_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[clusters.x]\nmax_cores = -1\n")
    proc = run({**env, "BATCHDECK_CONFIG": str(bad)}, "submit", "--cluster", "x", "--", "true", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"batchdeck: error: {bad}, cluster 'x', key 'max_cores': expected a positive whole number, got -1"
    proc = run(env, "--config", str(tmp_path / "absent.toml"), "list", check=False)
    assert proc.stderr.strip() == f"batchdeck: error: {tmp_path / 'absent.toml'}: file does not exist"


def test_a_submission_failure_is_recorded_not_lost(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "limits.toml"
    config.write_text(f'[clusters.localhost]\nsandbox_root = "{tmp_path / "sb"}"\nmax_cores_per_job = 1\n')
    proc = run({**env, "BATCHDECK_CONFIG": str(config)}, "submit", "--cores", "2", "--", "true", check=False)
    assert proc.stderr.strip() == "batchdeck: error: job asks for 2 cores but cluster 'localhost' allows at most 1 per job (max_cores_per_job)"


def test_a_cluster_that_skips_host_key_checks_says_so(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "insecure.toml"
    config.write_text('[clusters.far]\ntype = "local"\nfrontend = "127.0.0.1"\nport = 1\nignore_ssh_host_keys = true\n')
    insecure = {**env, "BATCHDECK_CONFIG": str(config)}
    clusters = json.loads(run(insecure, "clusters", "--json").stdout)
    assert clusters[0]["warning"] == "SSH host keys are NOT verified (ignore_ssh_host_keys = true)"
    proc = run(insecure, "queues", "--cluster", "far", check=False)
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "batchdeck: warning: cluster 'far': SSH host keys are NOT verified (ignore_ssh_host_keys = true)"
    assert proc.returncode == 1 and lines[1].startswith("batchdeck: error: ")  # nothing listens on port 1


def test_dry_run_prints_the_script_and_records_nothing(env: dict[str, str]) -> None:
    dry = run(env, "submit", "--dry-run", "--name", "dry", "--", "echo", "it's dry")
    assert "echo" in dry.stdout and shlex.quote("it's dry") in dry.stdout
    assert json.loads(run(env, "list", "--json").stdout) == []
    # the submit's own validation, in one line, before any script is shown
    bad = run(env, "submit", "--dry-run", "--cores", "0", "--", "true", check=False)
    assert bad.returncode != 0 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1


def test_scheduler_options_are_checked_and_refused_where_not_honoured(env: dict[str, str], tmp_path: Path) -> None:
    bad = run(env, "submit", "--gpus", "two", "--", "true", check=False)
    assert bad.returncode != 0
    assert bad.stderr == "batchdeck: error: --gpus: expected a whole number of GPUs, got 'two'\n"
    refused = run(env, "submit", "--account", "proj1", "--", "true", check=False)
    assert refused.returncode != 0
    assert refused.stderr == "batchdeck: error: account: the local scheduler (cluster 'localhost') cannot honour it\n"
    assert json.loads(run(env, "list", "--json", "--no-refresh").stdout) == []

    config = Path(env["BATCHDECK_CONFIG"])
    config.write_text(config.read_text() + f'[clusters.s]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n')
    script = run(env, "submit", "--cluster", "s", "--dry-run", "--account", "proj1", "--qos", "normal", "--gpus", "1",
                 "--nodes", "2", "--constraint", "avx2&ib", "--", "true").stdout  # fmt: skip
    for line in ("#SBATCH --account=proj1", "#SBATCH --qos=normal", "#SBATCH --gpus=1", "#SBATCH --nodes=2",
                 "#SBATCH --ntasks-per-node=1", "#SBATCH '--constraint=avx2&ib'"):  # fmt: skip
        assert line in script.splitlines(), script
