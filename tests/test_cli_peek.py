"""`batchdeck peek` as a user runs it, on this machine and through the real sshd (local backend over SSH):
constant memory whatever the size, --follow waiting for a pending job, freed jobs, links out of the sandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.model import JobRecord, JobSpec, RunState

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
#: a CLI holding the whole file would be far above this
MAX_RSS_KB = 200 * 1024


@pytest.fixture(params=["local", "ssh"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A configuration with one cluster ``c``: local, or the local backend on the sshd's host."""
    config = tmp_path / "batchdeck.toml"
    if request.param == "local":
        root = Path("/var/tmp/batchdeck-test") / f"peek-{uuid.uuid4().hex[:8]}"
        config.write_text(f'[clusters.c]\ntype = "local"\nsandbox_root = "{root}"\nmax_cores = 1\n')
    else:
        ssh = request.getfixturevalue("sshd_env")
        root = Path(f"/home/{ssh['SSHD_USER']}/batchdeck-test/peek-{uuid.uuid4().hex[:8]}")
        config.write_text(
            f'[clusters.c]\ntype = "local"\ntransport = "ssh"\nfrontend = "{ssh["SSHD_HOST"]}"\n'
            f'port = {ssh["SSHD_PORT"]}\nusername = "{ssh["SSHD_USER"]}"\nkeyfile = "{ssh["SSHD_KEY"]}"\n'
            f'known_hosts = "{ssh["SSHD_KNOWN_HOSTS"]}"\nsandbox_root = "{root}"\nmax_cores = 1\n'
            "ssh_timeout = 20\n"
        )
    root.mkdir(parents=True)
    os.chmod(root, 0o777)  # the ssh test user's jobs write here too
    env = {
        **os.environ,
        "BATCHDECK_DATA_DIR": str(tmp_path / "data"),
        "BATCHDECK_CONFIG": str(config),
        "SANDBOX_ROOT": str(root),
        "PEEK_KIND": request.param,
    }
    yield env
    shutil.rmtree(root, ignore_errors=True)


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"batchdeck {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def recorded_job(env: dict[str, str], job_id: str) -> Path:
    """A finished job in the CLI's journal whose sandbox the test fills itself."""
    sandbox = Path(env["SANDBOX_ROOT"]) / job_id
    sandbox.mkdir()
    os.chmod(sandbox, 0o755)
    journal = Journal(Path(env["BATCHDECK_DATA_DIR"]) / "journal.sqlite")
    journal.save(
        JobRecord(id=job_id, cluster="c", spec=JobSpec(command=["true"], name="big"),
                  state=RunState.TERMINATED, sandbox=str(sandbox), exitcode=0, created=1.0)
    )
    journal.close()
    return sandbox


def wait_status(env: dict[str, str], job_id: str, states: set[str], timeout: float = 60) -> str:
    import json

    deadline = time.monotonic() + timeout
    while True:
        state = str(json.loads(run(env, "status", job_id, "--json").stdout)["state"])
        if state in states:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach {states}: {state}")
        time.sleep(0.2)


def test_peek_of_any_size_streams_in_constant_memory(cli_env: dict[str, str]) -> None:
    # 2 GiB here; through the loopback sshd (encrypted, two shared cores) 512 MiB still
    # needs many chunked reads and is more than the memory bound.
    size = 2 * 1024**3 if cli_env["PEEK_KIND"] == "local" else 512 * 1024**2
    sandbox = recorded_job(cli_env, "hugeout1")
    stdout = sandbox / "stdout.txt"
    ending = b"the very last line\n"
    with open(stdout, "wb") as handle:
        handle.write(b"first line\n")
        handle.truncate(size - len(ending))
        handle.seek(0, os.SEEK_END)
        handle.write(ending)
    os.chmod(stdout, 0o644)
    proc = subprocess.Popen([*BATCHDECK, "peek", "hugeout1", "--bytes", "0"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    received = 0
    head = b""
    last = b""
    while chunk := proc.stdout.read(1024 * 1024):
        if len(head) < 11:
            head += chunk[:11]
        received += len(chunk)
        last = (last + chunk)[-len(ending):]
    _pid, status, usage = os.wait4(proc.pid, 0)
    errors = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, errors
    assert received == size and head.startswith(b"first line\n") and last == ending
    assert usage.ru_maxrss < MAX_RSS_KB, f"peek held {usage.ru_maxrss} KiB for a {size >> 20} MiB file"

    # --bytes N of the same file: exactly the last N bytes, in one read or in several.
    assert run(cli_env, "peek", "hugeout1", "--bytes", str(len(ending))).stdout == ending.decode()
    several = subprocess.run([*BATCHDECK, "peek", "hugeout1", "--bytes", "9000000"], env=cli_env,
                             capture_output=True, timeout=120)
    assert several.returncode == 0, several.stderr
    assert len(several.stdout) == 9000000 and several.stdout.endswith(ending)
    assert several.stdout[: -len(ending)] == bytes(9000000 - len(ending))


def test_peek_refuses_a_link_out_of_the_sandbox(cli_env: dict[str, str]) -> None:
    sandbox = recorded_job(cli_env, "linkout1")
    secret = Path(cli_env["SANDBOX_ROOT"]) / "secret.txt"
    secret.write_text("not yours\n")
    os.chmod(secret, 0o644)
    (sandbox / "stdout.txt").symlink_to(secret)
    proc = run(cli_env, "peek", "linkout1", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "outside the sandbox" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    follow = run(cli_env, "peek", "linkout1", "--follow", check=False)
    assert follow.returncode == 1 and follow.stdout == "" and "outside the sandbox" in follow.stderr


def test_follow_waits_for_a_pending_job_and_a_freed_job_says_so(cli_env: dict[str, str], tmp_path: Path) -> None:
    gate = Path(cli_env["SANDBOX_ROOT"]) / "gate"
    blocker = run(cli_env, "submit", "--cluster", "c", "--", "sh", "-c",
                  f'i=0; while [ ! -e "{gate}" ] && [ "$i" -lt 1200 ]; do sleep 0.05; i=$((i+1)); done').stdout.strip()
    pending = ""
    try:
        wait_status(cli_env, blocker, {"RUNNING"})
        pending = run(cli_env, "submit", "--cluster", "c", "--", "echo", "hello from a pending job").stdout.strip()
        assert wait_status(cli_env, pending, {"SUBMITTED"}) == "SUBMITTED"  # the only core is taken
        follower = subprocess.Popen([*BATCHDECK, "peek", pending, "--follow"], env=cli_env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert follower.stderr is not None
        first = follower.stderr.readline()  # printed once it waits (or an error, then end of file)
        assert first.startswith(f"batchdeck: waiting for {pending}'s stdout.txt"), first
        gate.touch()
        out, err = follower.communicate(timeout=90)
        assert follower.returncode == 0, err
        assert out == "hello from a pending job\n"
    finally:
        gate.touch()
        for job_id in (blocker, pending):
            if job_id:
                run(cli_env, "cancel", job_id, check=False)

    wait_status(cli_env, pending, {"TERMINATING", "TERMINATED"})
    run(cli_env, "get", pending, str(tmp_path / "results"))
    run(cli_env, "free", pending)
    freed = run(cli_env, "peek", pending, check=False)
    assert freed.returncode == 1 and freed.stdout == ""
    assert f"job {pending} was freed" in freed.stderr
    again = run(cli_env, "peek", pending, "--follow", check=False)
    assert again.returncode == 1 and "was freed" in again.stderr
