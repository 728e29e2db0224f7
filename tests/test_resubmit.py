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
