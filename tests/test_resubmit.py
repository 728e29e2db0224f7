"""`batchdeck resubmit` (GC3Pie's gresub): batchdeck's own job from its stored spec with the changes asked,
and a job submitted with plain sbatch from SLURM's own copy of its script, whose directives are honoured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(
        f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "l"}"\n'
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\n'
    )
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_batchdeck_job_is_resubmitted_with_the_changes_asked(env: dict[str, str]) -> None:
    first = cli(env, "submit", "--name", "train", "--cores", "1", "--walltime", "10m", "--", "sh", "-c", "echo $0", "x")
    assert first.returncode == 0, first.stderr
    again = cli(env, "resubmit", first.stdout.strip(), "--cores", "2", "--walltime", "20m")
    assert again.returncode == 0, again.stderr
    new = json.loads(cli(env, "show", again.stdout.strip(), "--json").stdout)
    assert (new["name"], new["cores"], new["time_limit"], new["command"]) == ("train", 2, 1200, "sh -c 'echo $0' x")
    assert again.stdout.strip() != first.stdout.strip()
    bad = cli(env, "resubmit", first.stdout.strip(), "--walltime", "soon")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_a_plain_sbatch_job_is_resubmitted_from_slurms_copy_of_its_script(slurm_cluster: None, env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "job.sbatch"
    script.write_text("#!/bin/bash\n#SBATCH --time=00:03:00 -J from-sbatch\necho hello\n")
    original = subprocess.run(["sbatch", "--parsable", "--hold", "-o", "/dev/null", str(script)],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    new = ""
    try:
        dry = cli(env, "resubmit", f"slurm:{original}", "--cores", "2", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "#SBATCH --cpus-per-task=2" in dry.stdout and "#SBATCH --time=00:03:00" in dry.stdout
        proc = cli(env, "resubmit", f"slurm:{original}", "--cores", "2")
        assert proc.returncode == 0, proc.stderr
        new = proc.stdout.strip()
        shown = json.loads(cli(env, "show", new, "--json").stdout)
        assert (shown["cores"], shown["time_limit"]) == (2, 180) and "from-sbatch" in str(shown["name"])
    finally:
        subprocess.run(["scancel", original], capture_output=True)
        if new:
            cli(env, "cancel", new)


def test_grid_engine_jobs_it_did_not_submit_say_why_not(sge_cluster: None, env: dict[str, str]) -> None:
    jobid = subprocess.run(["qsub", "-terse", "-h", "-b", "y", "true"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        proc = cli(env, "resubmit", f"sge:{jobid}")
        assert proc.returncode == 1 and "not available for sge" in proc.stderr
    finally:
        subprocess.run(["qdel", jobid], capture_output=True)


# tasks 2, 4 and 5 fail, by their own SLURM_ARRAY_TASK_ID; the others succeed
ARRAY_SCRIPT = """#!/bin/sh
#SBATCH --job-name=arr-{tag}
#SBATCH --array=1-6
#SBATCH -o {out}/task-%A_%a.out
case "$SLURM_ARRAY_TASK_ID" in 2|4|5) echo "task $SLURM_ARRAY_TASK_ID fails"; exit 3;; esac
echo "task $SLURM_ARRAY_TASK_ID ok"
"""


def sacct_tasks(array_id: str) -> dict[str, tuple[str, str]]:
    """task id -> (state, workdir) of an array's tasks, as accounting has them."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", array_id, "--format=JobID,State,WorkDir"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    return {jobid.partition("_")[2]: (state, workdir) for jobid, state, workdir in rows if "_" in jobid}


async def test_failed_only_resubmits_just_the_failed_tasks_of_a_slurm_array(
    slurm_cluster: None, env: dict[str, str], tmp_path: Path
) -> None:
    from helpers import eventually

    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "array.sbatch"
    script.write_text(ARRAY_SCRIPT.format(tag=tmp_path.name[-12:], out=work))
    original = subprocess.run(["sbatch", "--parsable", f"--chdir={work}", str(script)],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    new = ""
    try:
        # sacct's -S window does not apply to -j; every task must have ended and been recorded first
        ended = ("COMPLETED", "FAILED")
        await eventually(lambda: len(sacct_tasks(original)) == 6 and all(s in ended for s, _ in sacct_tasks(original).values()),
                         timeout=90, what="all six tasks in sacct")  # fmt: skip
        dry = cli(env, "resubmit", f"slurm:{original}", "--failed-only", "--dry-run", "--walltime", "5m")
        assert dry.returncode == 0, dry.stderr
        head = dry.stdout.splitlines()[0]
        assert "--array=2,4-5" in head and f"--chdir={work}" in head and "--time=00:05:00" in head, head
        assert "#SBATCH --array=1-6" in dry.stdout  # the scheduler's own copy, its directive overridden
        proc = cli(env, "resubmit", f"slurm:{original}", "--failed-only")
        assert proc.returncode == 0, proc.stderr
        assert "resubmitted tasks 2,4-5 (3 of the 6 tasks accounting knows)" in proc.stderr
        cluster, _, new = proc.stdout.strip().partition(":")
        assert cluster == "slurm" and new.isdecimal(), proc.stdout
        await eventually(lambda: len(sacct_tasks(new)) == 3 and all(s in ended for s, _ in sacct_tasks(new).values()),
                         timeout=90, what="the resubmitted tasks in sacct")  # fmt: skip
        again = sacct_tasks(new)
        assert set(again) == {"2", "4", "5"} and {w for _s, w in again.values()} == {str(work)}, again
        # run again as the original was: its own output files, in its own directory
        assert (work / f"task-{new}_4.out").read_text() == "task 4 fails\n"
        # nothing is left to resubmit from the new array only because all of its tasks failed again
        third = cli(env, "resubmit", f"slurm:{new}", "--failed-only", "--dry-run")
        assert third.returncode == 0 and "--array=2,4-5" in third.stdout.splitlines()[0], third.stderr
    finally:
        subprocess.run(["scancel", original, *([new] if new else [])], capture_output=True)


def test_failed_only_refuses_what_it_cannot_do_in_one_line(env: dict[str, str]) -> None:
    first = cli(env, "submit", "--name", "plain", "--", "true")
    assert first.returncode == 0, first.stderr
    own = cli(env, "resubmit", first.stdout.strip(), "--failed-only")
    assert own.returncode == 2 and "is not an array job" in own.stderr and len(own.stderr.strip().splitlines()) == 1


def test_failed_only_on_grid_engine_says_why_not(sge_cluster: None, env: dict[str, str]) -> None:
    proc = cli(env, "resubmit", "sge:1", "--failed-only")
    assert proc.returncode == 1 and "keeps no copy of a finished array's script" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_failed_only_on_a_slurm_job_that_is_no_array(slurm_cluster: None, env: dict[str, str]) -> None:
    jobid = subprocess.run(["sbatch", "--parsable", "--hold", "-o", "/dev/null", "--wrap", "true"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    try:
        proc = cli(env, "resubmit", f"slurm:{jobid}", "--failed-only")
        assert proc.returncode == 1 and "is not an array job" in proc.stderr, proc.stderr
    finally:
        subprocess.run(["scancel", jobid], capture_output=True)
