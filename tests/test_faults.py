"""The fault suite (#17 item 10, #11's kill -9 tests): batchdeck's CLI killed with SIGKILL at points spread over
submit, cancel and get; a private sshd killed and stopped under it; a damaged journal. Each asserts that
nothing is lost, nothing duplicated, no partial file (download or input) sits under a final name, every
failure is one line, and (``watched``, tests/outside_tree.py) that no file outside the sandbox, the data
folder and the get destination was touched, here or on the SSH cluster's side, and no canary was made.

The kill points are fractions of the time one undisturbed run of the same command took on this machine,
so every phase (start-up, connect, the scheduler call, the journal write) gets hit whatever the machine's
speed; the assertions never depend on where a kill landed.
"""

from __future__ import annotations

import filecmp
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from outside_tree import LocalTree, RemoteTree, Snapshot, Tree, hostile_value

from helpers import process_gone

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
KILLS = 7  # kill points per loop: bounded, the whole file stays well under a minute per backend
LONG = "300"  # seconds the jobs sleep: they outlive the test, which cancels them


def cli(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=timeout)


def timed(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    proc = cli(env, *args)
    return time.monotonic() - start, proc


def killed_after(env: dict[str, str], delay: float, *args: str) -> int:
    """Start the CLI and SIGKILL it after ``delay`` seconds unless it ended first; its exit status."""
    proc = subprocess.Popen(
        [*BATCHDECK, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def kill_points(duration: float) -> list[float]:
    return [duration * (k + 1) / (KILLS + 1) for k in range(KILLS)]


def journal_jobs(env: dict[str, str]) -> list[dict[str, object]]:
    proc = cli(env, "list", "--json")
    # a poll may fail for one cluster (exit 1) and still list the journal
    assert proc.returncode in (0, 1) and proc.stdout.strip().startswith("["), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def one_line(text: str) -> bool:
    return text.count("\n") == 1 and "Traceback" not in text


# ---- where the jobs really are ------------------------------------------------------------------


class Scheduler:
    """What the scheduler itself holds for this test's jobs, asked without batchdeck."""

    def __init__(self, kind: str, root: Path, marker: str) -> None:
        self.kind, self.root, self.marker = kind, root, marker

    def jobs(self) -> dict[str, str]:
        """Scheduler job id → job name, for the jobs named after this test's marker."""
        if self.kind == "local":
            found = {}
            for control in self.root.glob("*/.batchdeck"):
                # a runner that started wrote its pid: from then on it is a job of this "scheduler"
                name = control / "name"
                if (control / "pid").exists() and name.exists() and self.marker in name.read_text():
                    found[control.parent.name] = name.read_text()
            return found
        out = subprocess.run(
            ["squeue", "-h", "-a", "-o", "%i|%j"], capture_output=True, text=True, check=True
        ).stdout
        return {i: n for i, n in (line.split("|", 1) for line in out.split()) if self.marker in n}

    def cleanup(self) -> None:
        if self.kind == "slurm" and self.jobs():
            subprocess.run(["scancel", *self.jobs()], capture_output=True)
        if self.root.exists():
            # the local runners end by themselves once their sandbox is gone
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Tree, Snapshot]]]:
    """The trees a loop must leave alone outside its sandboxes, data folder and destinations (each
    planted with canaries, then snapshot): this test's folder (the CLI runs in its ``cwd/``, so a
    stray relative write shows there) and any remote home the test adds with ``watch``. Checked
    when the test ends, after its clean-up."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    trees: list[tuple[Tree, Snapshot]] = []
    # what batchdeck may write (sandboxes, data folder, get destinations) and the test's own files
    allowed = ["sandboxes", "data", "reference", "results", "sources", "batchdeck.toml", "private-sshd", *(f"killed-{k}" for k in range(KILLS))]
    watch(trees, LocalTree(tmp_path, allowed))
    yield trees
    problems = [problem for tree, before in trees for problem in tree.changes(before)]
    for tree, _before in trees:
        tree.unplant()
    assert not problems, f"files outside the sandbox, data folder and destination touched: {problems}"


def watch(trees: list[tuple[Tree, Snapshot]], tree: Tree) -> None:
    """Plant ``tree``'s canaries and snapshot it: ``watched`` checks it when the test ends."""
    tree.plant()
    trees.append((tree, tree.snapshot()))


@pytest.fixture(params=["local", "slurm"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, watched: list[tuple[Tree, Snapshot]]
) -> Iterator[tuple[dict[str, str], Scheduler]]:
    kind = str(request.param)
    if kind == "slurm":
        request.getfixturevalue("slurm_cluster")
    root = tmp_path / "sandboxes"
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.c]\ntype = "{kind}"\nsandbox_root = "{root}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    scheduler = Scheduler(kind, root, f"fault{secrets.token_hex(3)}")
    try:
        yield env, scheduler
    finally:
        scheduler.cleanup()


def agree(env: dict[str, str], scheduler: Scheduler) -> tuple[list[dict[str, object]], dict[str, str]]:
    """After one poll: every scheduler job is one journal record, no record claims a job the scheduler lacks."""
    # The scheduler's view before and after batchdeck's poll: a cancelled job may leave the queue
    # (COMPLETING ends) between the two, and a local runner of a killed submit may write its pid only
    # then. So a record may claim a job held before or after the poll, and a job still held after it
    # must be in the journal.
    before = scheduler.jobs()
    records = journal_jobs(env)
    held = scheduler.jobs()
    by_jobid: dict[str, list[str]] = {}
    for record in records:
        if record["jobid"]:
            by_jobid.setdefault(str(record["jobid"]), []).append(str(record["id"]))
    lost = sorted(set(held) - set(by_jobid))
    assert not lost, f"scheduler jobs no journal record knows: {[held[j] for j in lost]} ({records})"
    doubled = {jobid: ids for jobid, ids in by_jobid.items() if len(ids) > 1}
    assert not doubled, f"one scheduler job in several records: {doubled}"
    names = sorted(held.values())
    assert len(names) == len(set(names)), f"one submit became several scheduler jobs: {names}"
    # A local runner launched (setsid) just before its submit was killed may write its pid only a
    # moment later on a loaded machine ("starting"): it must appear, within a deadline.
    deadline = time.monotonic() + 30
    while True:
        claimed = [
            r for r in records
            if r["jobid"] and r["state"] in ("SUBMITTED", "RUNNING") and str(r["jobid"]) not in before.keys() | held.keys()
        ]  # fmt: skip
        if not any(r["raw_state"] == "starting" for r in claimed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # a poll interval, not a wait for timing: the loop ends when the runner shows
        held = {**held, **scheduler.jobs()}
    assert not claimed, f"records claim jobs the scheduler does not hold: {claimed}"
    return records, held


# ---- kill -9 over submit, cancel, get -----------------------------------------------------------


def make_inputs(folder: Path) -> tuple[Path, Path]:
    """A folder of many small files and one larger file: copying them takes long enough that some
    kills land during the copy."""
    tree = folder / "tree"
    tree.mkdir(parents=True)
    for k in range(1500):
        (tree / f"part-{k:04}.txt").write_bytes(secrets.token_bytes(700))
    big = folder / "big.bin"
    big.write_bytes(secrets.token_bytes(8_000_000))
    return tree, big


def partial_inputs(root: Path, tree: Path, big: Path) -> list[str]:
    """Sandboxes holding an input under its final name that is not a whole copy of its source."""
    wrong = []
    for sandbox in root.iterdir() if root.exists() else []:
        copy = sandbox / "in.bin"
        if copy.exists() and not filecmp.cmp(copy, big, shallow=False):
            wrong.append(str(copy))
        folder = sandbox / "in-tree"
        if folder.exists():
            names = sorted(p.name for p in folder.iterdir())
            if names != sorted(p.name for p in tree.iterdir()) or filecmp.cmpfiles(folder, tree, names, shallow=False)[1:] != ([], []):
                wrong.append(str(folder))
    return wrong


def test_killed_submits_lose_and_duplicate_nothing(target: tuple[dict[str, str], Scheduler], tmp_path: Path) -> None:
    env, scheduler = target
    tree, big = make_inputs(tmp_path / "sources")
    # inputs a kill may cut short, and an --env value a shell would run if it ever read it unquoted
    job_args = ["--input", f"{tree}=in-tree", "--input", f"{big}=in.bin", "--env", f"BD_HOSTILE={hostile_value(str(tmp_path))}",
                "--", "sleep", LONG]  # fmt: skip
    duration, first = timed(env, "submit", "--cluster", "c", "--name", f"{scheduler.marker}-0", *job_args)
    assert first.returncode == 0, first.stderr
    statuses = [
        killed_after(env, delay, "submit", "--cluster", "c", "--name", f"{scheduler.marker}-{k + 1}", *job_args)
        for k, delay in enumerate(kill_points(duration))
    ]
    assert -signal.SIGKILL in statuses, "no submit was killed: the loop tested nothing"
    # a killed copy leaves its part in the control folder, never under the name the job reads
    assert not partial_inputs(scheduler.root, tree, big), partial_inputs(scheduler.root, tree, big)
    records, held = agree(env, scheduler)
    assert first.stdout.strip() in {r["id"] for r in records}
    # every submit that ran to its end is a job; a killed one is a job or a record saying it is not one yet
    for record in records:
        assert record["jobid"] or record["state"] in ("NEW", "TERMINATED"), record
    # every job that was submitted has its inputs whole
    for record in records:
        if record["jobid"]:
            sandbox = scheduler.root / str(record["id"])
            assert filecmp.cmp(sandbox / "in.bin", big, shallow=False), record


def test_killed_cancels_still_end_every_job(target: tuple[dict[str, str], Scheduler]) -> None:
    env, scheduler = target
    ids = []
    for k in range(KILLS + 1):
        proc = cli(env, "submit", "--cluster", "c", "--name", f"{scheduler.marker}-{k}", "--", "sleep", LONG)
        assert proc.returncode == 0, proc.stderr
        ids.append(proc.stdout.strip())
    duration, first = timed(env, "cancel", ids[0])
    assert first.returncode == 0, first.stderr
    statuses = [killed_after(env, delay, "cancel", job) for job, delay in zip(ids[1:], kill_points(duration), strict=True)]
    assert -signal.SIGKILL in statuses, "no cancel was killed: the loop tested nothing"
    agree(env, scheduler)
    # a cancel run again after a killed one ends the job, or says there is nothing left to cancel
    for job in ids[1:]:
        proc = cli(env, "cancel", job)
        assert proc.returncode == 0 or "nothing to cancel" in proc.stderr, proc.stderr
        assert one_line(proc.stdout + proc.stderr) or proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 90
    while True:
        records = {r["id"]: r for r in journal_jobs(env)}
        states = {job: records[job]["state"] for job in ids}
        # every job was cancelled, killed cancel or not: that is how each must read (#11 item 1)
        outcomes = {job: records[job].get("outcome") for job in ids}
        ended = all(state in ("TERMINATING", "TERMINATED") for state in states.values())
        if ended and set(outcomes.values()) == {"cancelled"} and not scheduler_runs(scheduler):
            break
        assert time.monotonic() < deadline, (
            f"jobs not ended as cancelled after killed cancels: {states}, {outcomes}, {scheduler.jobs()}"
        )


def scheduler_runs(scheduler: Scheduler) -> list[str]:
    """Jobs of the test still queued or running on the scheduler (a runner alive, or squeue's live states)."""
    if scheduler.kind == "local":
        return [
            j
            for j in scheduler.jobs()
            if not process_gone(int((scheduler.root / j / ".batchdeck" / "pid").read_text()))
        ]
    out = subprocess.run(
        ["squeue", "-h", "-t", "PD,R,S,CG,CF", "-o", "%i|%j"], capture_output=True, text=True, check=True
    ).stdout
    return [i for i, n in (line.split("|", 1) for line in out.split()) if scheduler.marker in n]


# A job whose results are worth fetching: large files, so a kill lands during the transfer too.
MAKE_RESULTS = (
    "head -c 24000000 /dev/urandom > a.bin; head -c 3000000 /dev/urandom > b.bin; seq 100000 > c.txt"
)


@pytest.fixture(params=["local", "ssh"])
def results_env(
    request: pytest.FixtureRequest, tmp_path: Path, watched: list[tuple[Tree, Snapshot]]
) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    if request.param == "local":
        text = f'[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n'
    else:
        ssh = request.getfixturevalue("sshd_env")
        root = f"faults-{secrets.token_hex(4)}"
        # the cluster's side: its user's home, but for the sandboxes
        watch(watched, RemoteTree(ssh, [root]))
        text = ssh_cluster_toml(ssh, int(ssh["SSHD_PORT"]), ssh["SSHD_KNOWN_HOSTS"], f"~/{root}")
    config.write_text(text)
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def ssh_cluster_toml(ssh: dict[str, str], port: int, known_hosts: str, root: str, extra: str = "") -> str:
    return (
        f'[clusters.c]\ntype = "local"\ntransport = "ssh"\nfrontend = "{ssh["SSHD_HOST"]}"\nport = {port}\n'
        f'username = "{ssh["SSHD_USER"]}"\nkeyfile = "{ssh["SSHD_KEY"]}"\nknown_hosts = "{known_hosts}"\n'
        f'sandbox_root = "{root}"\n{extra}'
    )


def finished_job(env: dict[str, str]) -> str:
    proc = cli(env, "submit", "--cluster", "c", "--output", "a.bin", "--output", "b.bin", "--output", "c.txt", "--",
               "/bin/sh", "-c", MAKE_RESULTS)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip()
    wait = cli(env, "wait", job, timeout=120)
    assert wait.returncode == 0, wait.stdout + wait.stderr
    return job


def same_or_absent(reference: Path, got: Path) -> list[str]:
    """Files under ``got`` that differ from the reference: a file under its final name must be whole."""
    wrong = []
    for path in got.rglob("*"):
        if path.is_file() and not path.name.startswith(".bd-part-"):
            if not filecmp.cmp(path, reference / path.relative_to(got), shallow=False):
                wrong.append(str(path.relative_to(got)))
    return wrong


def test_killed_downloads_leave_no_partial_file_and_the_next_get_completes(
    results_env: dict[str, str], tmp_path: Path
) -> None:
    env = results_env
    job = finished_job(env)
    reference = tmp_path / "reference"
    duration, first = timed(env, "get", job, str(reference))
    assert first.returncode == 0, first.stderr
    statuses = []
    for k, delay in enumerate(kill_points(duration)):
        into = tmp_path / f"killed-{k}"
        statuses.append(killed_after(env, delay, "get", "--overwrite", job, str(into)))
        assert not same_or_absent(reference, into), f"kill {k}: a partial file under its final name"
    assert -signal.SIGKILL in statuses, "no get was killed: the loop tested nothing"
    for k in range(KILLS):
        into = tmp_path / f"killed-{k}"
        proc = cli(env, "get", "--overwrite", job, str(into))
        assert proc.returncode == 0, proc.stderr
        assert not filecmp.dircmp(reference, into).diff_files
        assert sorted(p.relative_to(into) for p in into.rglob("*")) == sorted(
            p.relative_to(reference) for p in reference.rglob("*")
        )
    cli(env, "free", "--force", job)


# ---- a private sshd, killed and stopped ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def holders_of_port(port: int) -> list[int]:
    """Processes holding a TCP socket on this local port: the listener and every connection's sshd."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            links = {os.readlink(f"/proc/{entry}/fd/{fd}") for fd in fds}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            pids.append(int(entry))
    return pids


class PrivateSshd:
    """An sshd of this test alone, on its own port, that the test may kill or stop (the shared one stays up)."""

    def __init__(self, ssh: dict[str, str], directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        base = Path(ssh["SSHD_SERVER_CONFIG"]).read_text().splitlines()
        lines = [line for line in base if not line.startswith(("Port ", "PidFile ", "LogLevel "))] + [
            f"Port {self.port}",
            f"PidFile {directory / 'sshd.pid'}",
            "LogLevel ERROR",
        ]
        self.config = directory / "sshd_config"
        self.config.write_text("\n".join(lines) + "\n")
        key_type, key = Path(ssh["SSHD_HOST_KEY_PUB"]).read_text().split()[:2]
        self.known_hosts = directory / "known_hosts"
        self.known_hosts.write_text(f"[{ssh['SSHD_HOST']}]:{self.port} {key_type} {key}\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-f", str(self.config)], start_new_session=True
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            assert self.process.poll() is None, "the private sshd did not start"
            assert time.monotonic() < deadline, "the private sshd does not answer"

    def signal_all(self, sig: signal.Signals) -> None:
        for pid in holders_of_port(self.port):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.signal_all(signal.SIGCONT)
        self.signal_all(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)


@pytest.fixture
def private_sshd(sshd_env: dict[str, str], tmp_path: Path) -> Iterator[PrivateSshd]:
    directory = tmp_path / "private-sshd"
    directory.mkdir()
    server = PrivateSshd(sshd_env, directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def private_env(
    sshd_env: dict[str, str], server: PrivateSshd, tmp_path: Path, watched: list[tuple[Tree, Snapshot]]
) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    root = f"faults-{secrets.token_hex(4)}"
    watch(watched, RemoteTree(sshd_env, [root]))
    config.write_text(
        ssh_cluster_toml(sshd_env, server.port, str(server.known_hosts), f"~/{root}", "ssh_timeout = 4\n")
    )
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def test_a_stopped_sshd_fails_list_and_submit_in_bounded_time_with_one_line(
    sshd_env: dict[str, str], private_sshd: PrivateSshd, tmp_path: Path, watched: list[tuple[Tree, Snapshot]]
) -> None:
    env = private_env(sshd_env, private_sshd, tmp_path, watched)
    job = cli(env, "submit", "--cluster", "c", "--", "sleep", LONG)
    assert job.returncode == 0, job.stderr
    private_sshd.signal_all(signal.SIGSTOP)
    try:
        for args in (["list"], ["submit", "--cluster", "c", "--", "true"], ["cancel", job.stdout.strip()]):
            start = time.monotonic()
            proc = cli(env, *args, timeout=60)
            # the limit is the configured ssh_timeout (4 s) plus start-up, not the 2 minutes of a default
            assert time.monotonic() - start < 30, args
            assert proc.returncode == 1 and one_line(proc.stderr), (args, proc.stderr)
    finally:
        private_sshd.signal_all(signal.SIGCONT)
    listed = cli(env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    # the submit that failed on the hung server is not a job; the one before it still runs
    assert [r["state"] for r in records if r["id"] == job.stdout.strip()] == ["RUNNING"]
    assert cli(env, "cancel", job.stdout.strip()).returncode == 0


def test_an_sshd_killed_during_get_fails_in_one_line_and_the_next_get_completes(
    sshd_env: dict[str, str], private_sshd: PrivateSshd, tmp_path: Path, watched: list[tuple[Tree, Snapshot]]
) -> None:
    env = private_env(sshd_env, private_sshd, tmp_path, watched)
    proc = cli(env, "submit", "--cluster", "c", "--output", "big.bin", "--", "/bin/sh", "-c",
               "head -c 300000000 /dev/zero > big.bin")  # fmt: skip
    job = proc.stdout.strip()
    assert cli(env, "wait", job, timeout=120).returncode == 0
    into = tmp_path / "results"
    get = subprocess.Popen(
        [*BATCHDECK, "get", job, str(into)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # kill the server (listener and every connection) once the file is on its way
    deadline = time.monotonic() + 60
    while not list(into.glob(".bd-part-*")) and get.poll() is None:
        assert time.monotonic() < deadline, "the download never started"
    killed_mid_transfer = get.poll() is None
    private_sshd.signal_all(signal.SIGKILL)
    out, err = get.communicate(timeout=60)
    if killed_mid_transfer:
        assert get.returncode == 1 and one_line(err), err
        assert not (into / "big.bin").exists(), "a partial file under its final name"
    private_sshd.start()
    again = cli(env, "get", "--overwrite", job, str(into))
    assert again.returncode == 0, again.stderr
    assert (into / "big.bin").stat().st_size == 300_000_000
    assert not list(into.glob(".bd-part-*"))
    cli(env, "free", "--force", job)


# ---- a damaged journal --------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty-pages"])
def test_a_damaged_journal_is_named_in_one_line_and_never_overwritten(tmp_path: Path, damage: str) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    for k in range(4):
        assert cli(env, "submit", "--cluster", "c", "--name", f"j{k}", "--", "true").returncode == 0
    journal = tmp_path / "data" / "journal.sqlite"
    data = journal.read_bytes()
    if damage == "garbage":
        journal.write_bytes(secrets.token_bytes(len(data)))
    elif damage == "truncated":
        journal.write_bytes(data[: len(data) // 2 + 100])
    else:
        journal.write_bytes(data[:100] + b"\0" * (len(data) - 100))
    damaged = journal.read_bytes()
    for args in (
        ["list"],
        ["list", "--json"],
        ["list", "--no-refresh"],
        ["submit", "--cluster", "c", "--", "true"],
    ):
        proc = cli(env, *args)
        assert proc.returncode != 0 or damage == "truncated", (args, proc.stdout)
        if proc.returncode != 0:
            assert one_line(proc.stderr) and "journal" in proc.stderr, (args, proc.stderr)
    assert journal.read_bytes() == damaged, (
        "the damaged journal was changed: what it still held could be lost"
    )
    shutil.rmtree(tmp_path / "sandboxes", ignore_errors=True)
