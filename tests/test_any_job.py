"""Any of the user's jobs, whatever submitted it (plain sbatch / qsub): details, signal, hold and release,
a new time limit, cancel, through `batchdeck ... CLUSTER:JOBID`, on the real SLURM and Grid Engine,
locally and (SLURM) over SSH as another user; the scheduler's refusal comes back in one line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.schedulers.slurm import expand_slurm_filename, explain_slurm_reason

from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    text = (
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\n'
    )
    if "sshd_env" in request.fixturenames:
        ssh = request.getfixturevalue("sshd_env")
        text += (
            f'[clusters.remote]\ntype = "slurm"\ntransport = "ssh"\nfrontend = "{ssh["SSHD_HOST"]}"\n'
            f'port = {ssh["SSHD_PORT"]}\nusername = "{ssh["SSHD_USER"]}"\nkeyfile = "{ssh["SSHD_KEY"]}"\n'
            f'known_hosts = "{ssh["SSHD_KNOWN_HOSTS"]}"\nsandbox_root = "~/batchdeck-anyjob"\n'
        )
    config.write_text(text)
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)


def ok(env: dict[str, str], *args: str) -> str:
    proc = cli(env, *args)
    assert proc.returncode == 0, f"batchdeck {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def show(env: dict[str, str], target: str) -> dict[str, object]:
    return json.loads(ok(env, "show", target, "--json"))  # type: ignore[no-any-return]


def state_of(env: dict[str, str], target: str) -> str | None:
    """The job's state, or None while no part of the scheduler answers for it (e.g. qacct's short lag)."""
    proc = cli(env, "show", target, "--json")
    return str(json.loads(proc.stdout)["state"]) if proc.returncode == 0 else None


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def squeue_state(jobid: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", jobid, "-o", "%T|%r"], capture_output=True, text=True).stdout.strip()


def test_slurm_filename_patterns_and_reasons() -> None:
    values = {"j": "1234", "x": "train", "A": "1230", "a": "7", "u": "me", "N": "node01", "s": "batch", "t": "0"}
    assert expand_slurm_filename("logs/%x-%A_%a.out", values) == "logs/train-1230_7.out"
    assert expand_slurm_filename("out.%4a.%j.%%.%u", values) == "out.0007.1234.%.me"
    assert expand_slurm_filename("%N-%s-%t-%q", values) == "node01-batch-0-%q"
    assert expand_slurm_filename("lit\\\\%j", values) == "lit%j"  # a backslash turns replacement off
    assert "higher priority" in explain_slurm_reason("Priority")
    assert "never" in explain_slurm_reason("DependencyNeverSatisfied")
    assert explain_slurm_reason("QOSMaxCpuPerUserLimit") == "a limit of its QOS is reached (cpu per user limit)"
    assert explain_slurm_reason("SomethingNew") == "SomethingNew"


async def test_plain_sbatch_jobs_detailed_held_released_signalled_cancelled(
    slurm_cluster: None, env: dict[str, str], tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    marker = tmp_path / "got-usr1"
    script = tmp_path / "trap.sh"
    script.write_text(f"#!/bin/sh\ntrap 'echo usr1 > {marker}; exit 0' USR1\nwhile :; do sleep 0.2; done\n")
    array = run("sbatch", "--parsable", "--hold", "-J", "sweep", "--array=1-2", f"--output={logs}/%x-%A_%a.out",
                "--wrap", "echo task $SLURM_ARRAY_TASK_ID")  # fmt: skip
    after = run("sbatch", "--parsable", f"--dependency=afterok:{array}", "-J", "after", "-o", "/dev/null", "--wrap", "true")
    trap = run("sbatch", "--parsable", "-J", "trap", "-o", "/dev/null", "-t", "10", str(script))
    try:
        first = show(env, f"slurm:{array}_1")
        assert (first["name"], first["state"], first["raw_reason"]) == ("sweep", "SUBMITTED", "JobHeldUser")
        assert "held" in str(first["reason"])
        assert first["stdout"] == f"{logs}/sweep-{array}_1.out"
        waiting = show(env, f"slurm:{after}")
        assert waiting["raw_reason"] == "Dependency" and str(array) in str(waiting["dependency"])
        # a new (shorter) time limit: users may lower their own
        ok(env, "timelimit", f"slurm:{array}", "30m")
        assert show(env, f"slurm:{array}_1")["time_limit"] == 1800
        ok(env, "release", f"slurm:{array}")
        await eventually(lambda: (logs / f"sweep-{array}_2.out").exists(), timeout=60, what="the array tasks to run")
        await eventually(lambda: (logs / f"sweep-{array}_1.out").read_text() == "task 1\n", timeout=30, what="task 1's output")
        # held again, while pending behind nothing: hold works on any pending job
        await eventually(lambda: "RUNNING" in squeue_state(trap), timeout=60, what="the trap job to run")
        ok(env, "signal", f"slurm:{trap}", "USR1")
        await eventually(marker.exists, timeout=30, what="the job's USR1 trap")
        held = run("sbatch", "--parsable", "--begin=now+1hour", "-J", "later", "-o", "/dev/null", "--wrap", "true")
        ok(env, "hold", f"slurm:{held}")
        assert "JobHeldUser" in squeue_state(held)
        out = ok(env, "cancel", f"slurm:{held}")
        assert "cancel requested" in out
        await eventually(lambda: "PENDING" not in squeue_state(held), timeout=30, what="the cancel")
        bad = cli(env, "signal", f"slurm:{trap}", "WINCH")
        assert bad.returncode != 0 and "WINCH" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    finally:
        subprocess.run(["scancel", array, after, trap], capture_output=True)


async def test_the_schedulers_refusal_is_its_own_line(slurm_cluster: None, sshd_env: dict[str, str], env: dict[str, str]) -> None:
    """batchtest (over SSH) may not touch root's job: scancel's own words, one line."""
    mine = run("sbatch", "--parsable", "--hold", "-J", "roots", "-o", "/dev/null", "--wrap", "true")
    try:
        refused = cli(env, "cancel", f"remote:{mine}")
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "scancel" in lines[0] and "denied" in lines[0].lower(), refused.stderr
        # and the other user's own job, submitted with plain sbatch over ssh, is detailed and cancelled
        ssh = ["ssh", "-F", sshd_env["SSHD_CONFIG_CLIENT"], sshd_env["SSHD_ALIAS"]]
        theirs = run(*ssh, shlex.join(["sbatch", "--parsable", "--hold", "-J", "theirs", "-o", "/dev/null", "--wrap", "true"]))
        details = show(env, f"remote:{theirs}")
        assert (details["name"], details["user"]) == ("theirs", sshd_env["SSHD_USER"])
        ok(env, "cancel", f"remote:{theirs}")
        await eventually(lambda: "PENDING" not in squeue_state(theirs), timeout=30, what="their job's cancel")
    finally:
        subprocess.run(["scancel", mine], capture_output=True)


async def test_plain_qsub_jobs_detailed_held_released_cancelled(sge_cluster: None, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    array = run("qsub", "-terse", "-h", "-N", "sweep", "-t", "1-2", "-o", f"{out}/$JOB_NAME.$JOB_ID.$TASK_ID", "-j", "y",
                "-l", "h_rt=300", "-b", "y", "echo", "hello").split(".")[0]  # fmt: skip
    after = run("qsub", "-terse", "-hold_jid", array, "-N", "after", "-o", "/dev/null", "-j", "y", "-b", "y", "true")
    try:
        details = show(env, f"sge:{array}")
        assert (details["name"], details["state"], details["raw_state"]) == ("sweep", "SUBMITTED", "hqw")
        assert details["stdout"] == f"{out}/sweep.{array}.1" and details["time_limit"] == 300
        assert "hold" in str(details["reason"]).lower()
        assert array in str(show(env, f"sge:{after}")["dependency"])
        ok(env, "timelimit", f"sge:{array}", "10m")
        assert show(env, f"sge:{array}")["time_limit"] == 600
        # held by its owner too, so it stays pending once what it waits for has run
        ok(env, "hold", f"sge:{after}")
        ok(env, "release", f"sge:{array}")
        await eventually(lambda: (out / f"sweep.{array}.2").exists(), timeout=60, what="the array tasks to run")
        await eventually(lambda: state_of(env, f"sge:{array}") == "TERMINATING", timeout=60, what="the array to end")
        assert show(env, f"sge:{after}")["raw_state"] == "hqw"
        refused = cli(env, "signal", f"sge:{after}", "USR1")
        assert refused.returncode != 0 and "Grid Engine cannot send SIGUSR1" in refused.stderr
        ok(env, "release", f"sge:{after}")
        await eventually(lambda: state_of(env, f"sge:{after}") == "TERMINATING", timeout=60, what="the released job to run")
        victim = run("qsub", "-terse", "-h", "-N", "victim", "-o", "/dev/null", "-j", "y", "-b", "y", "true")
        ok(env, "cancel", f"sge:{victim}")
        # deleted while pending: Grid Engine keeps no record of it at all
        gone = cli(env, "show", f"sge:{victim}")
        assert gone.returncode == 1 and "knows no job" in gone.stderr
    finally:
        subprocess.run(["qdel", array, after], capture_output=True)


def test_unknown_targets_fail_in_one_line(env: dict[str, str]) -> None:
    for target in ("slurm:", "nosuchcluster:12", "zzzzzzzz"):
        proc = cli(env, "show", target)
        assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, (target, proc.stderr)


GATED = "echo start; echo err >&2; while [ ! -e {gate} ]; do sleep 0.2; done; echo end"


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
async def test_peek_at_a_plain_job_and_follow_it_to_its_end(
    scheduler: str, env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(f"{scheduler}_cluster")
    out, err, gate = tmp_path / "o.txt", tmp_path / "e.txt", tmp_path / "gate"
    script = GATED.format(gate=shlex.quote(str(gate)))
    if scheduler == "slurm":
        jobid = run("sbatch", "--parsable", "-J", "peeked", "-o", str(out), "-e", str(err), "-t", "5", "--wrap", script)
    else:
        jobid = run("qsub", "-terse", "-N", "peeked", "-o", str(out), "-e", str(err), "-l", "h_rt=300",
                    "-b", "y", "/bin/sh", "-c", shlex.quote(script))  # fmt: skip
    target = f"{scheduler}:{jobid}"
    try:
        await eventually(lambda: out.exists() and out.read_text() == "start\n", timeout=60, what="the job to start")
        assert ok(env, "peek", target) == "start\n"
        assert ok(env, "peek", "--stderr", target) == "err\n"
        follow = subprocess.Popen([*BATCHDECK, "peek", "--follow", target], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # the job ends only once follow has printed what it found: follow reads the output path
            # while the scheduler still lists the job (Grid Engine's accounting keeps none)
            assert follow.stdout is not None
            first = follow.stdout.readline()  # ends at EOF if follow failed
            gate.touch()
            rest, stderr = follow.communicate(timeout=90)
            stdout = first + rest
        finally:
            follow.kill()
        assert (follow.returncode, stdout) == (0, "start\nend\n"), stderr
    finally:
        subprocess.run(["scancel" if scheduler == "slurm" else "qdel", jobid], capture_output=True)


def test_peek_at_a_job_the_scheduler_does_not_know_is_one_line(slurm_cluster: None, env: dict[str, str]) -> None:
    proc = cli(env, "peek", "slurm:999999997")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and "999999997" in proc.stderr, proc.stderr
