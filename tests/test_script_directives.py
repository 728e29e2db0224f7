"""A batch script's own directives (#SBATCH, #$, #PBS, #BSUB): read as the schedulers read them, the known
ones become the job's settings (the command line wins), the others are passed through and said so; hostile
lines never reach a shell unquoted; on the real SLURM and Grid Engine the job runs with what the script asked."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchdeck.backends.errors import InvalidJobSpec, ParseError
from batchdeck.backends.schedulers.lsf import read_bsub_directives
from batchdeck.backends.schedulers.pbs import read_pbs_directives
from batchdeck.backends.schedulers.sge import read_qsub_directives
from batchdeck.backends.schedulers.slurm import read_sbatch_directives, slurm_time

from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
READERS = {"#SBATCH": read_sbatch_directives, "#$": read_qsub_directives, "#PBS": read_pbs_directives, "#BSUB": read_bsub_directives}


def test_sbatch_lines_up_to_the_first_command() -> None:
    reading = read_sbatch_directives(
        "#!/bin/bash\n#SBATCH --time=00:02:00 --cpus-per-task=2\n\n# a comment\n#SBATCH -J 'my job' --mem=4G\n"
        "#SBATCH --mail-type END --account=proj1\nmodule load x\n#SBATCH --time=5\n"
    )
    assert reading.values == {"walltime": 120, "cores": 2, "name": "my job", "memory_per_core": 2048}
    assert reading.passthrough == ["#SBATCH --mail-type END", "#SBATCH --account=proj1"]
    assert all("passed through" in note for note in reading.notes) and len(reading.notes) == 2
    assert slurm_time("1-12:30") == 36 * 3600 + 30 * 60 and slurm_time("10") == 600 and slurm_time("2:00") == 120


def test_outputs_batchdeck_cannot_keep_are_replaced_and_said_so() -> None:
    reading = read_sbatch_directives("#SBATCH -o slurm-%j.out -e err.txt -D /scratch\n")
    assert reading.values == {"stderr": "err.txt"}
    assert any("stdout" in n and "replaced" in n for n in reading.notes)
    assert any("--chdir" in n or "-D" in n for n in reading.notes)


def test_arrays_from_directives_are_honoured() -> None:
    # the array becomes the job's (tests/test_task_arrays.py): no longer refused
    for reader, script in ((read_sbatch_directives, "#SBATCH --array=1-2\n"), (read_qsub_directives, "#$ -t 1-2\n"),
                           (read_pbs_directives, "#PBS -J 1-2\n"), (read_bsub_directives, "#BSUB -J 'a[1-2]'\n")):  # fmt: skip
        assert reader(script).values["array"] == "1-2"


def test_grid_engine_pbs_and_lsf_tables() -> None:
    sge = read_qsub_directives("#$ -N sweep -pe smp 4 -l h_rt=0:10:00,h_vmem=2G,gpu=1\n#$ -j y -o out.txt -cwd\n")
    assert sge.values == {"name": "sweep", "cores": 4, "walltime": 600, "memory_per_core": 2048, "merge": True, "stdout": "out.txt"}
    assert sge.passthrough == ["#$ -l gpu=1"]
    pbs = read_pbs_directives("#PBS -N x -l select=1:ncpus=4:mem=8gb -l walltime=01:00:00\n#PBS -j oe -A proj\n")
    assert pbs.values == {"name": "x", "cores": 4, "walltime": 3600, "memory_per_core": 2048, "merge": True}
    assert pbs.passthrough == ["#PBS -A proj"]
    lsf = read_bsub_directives('#BSUB -J x -n 2 -W 1:30 -q short\n#BSUB -R "rusage[mem=500]" -R "span[hosts=1]"\n')
    assert lsf.values == {"name": "x", "cores": 2, "walltime": 5400, "queue": "short", "memory_per_core": 500}
    assert lsf.passthrough == ["#BSUB -R 'span[hosts=1]'"]


def test_hostile_lines_fail_in_one_line_or_stay_quoted() -> None:
    with pytest.raises(ParseError, match="line 2"):
        read_sbatch_directives("#!/bin/sh\n#SBATCH --comment='unbalanced\n")
    with pytest.raises(ParseError):
        read_sbatch_directives("#SBATCH --comment=a\\\n")  # a line continuation is not a directive's
    reading = read_sbatch_directives("#SBATCH --comment='$(touch /tmp/x)' --x=`id`\n")
    assert reading.passthrough == ["#SBATCH '--comment=$(touch /tmp/x)'", "#SBATCH '--x=`id`'"]


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(sorted(READERS)), lines=st.lists(st.text(max_size=60), max_size=6))
def test_any_script_gives_a_clear_error_or_lines_a_shell_reads_as_one_comment(prefix: str, lines: list[str]) -> None:
    script = "\n".join(f"{prefix} {line}" for line in lines) + "\n"
    try:
        reading = READERS[prefix](script)
    except (ParseError, InvalidJobSpec):
        return
    for line in reading.passthrough:
        assert "\n" not in line and "\r" not in line and line.startswith(prefix + " ")
        # the scheduler reads back exactly the words that were given: nothing was left unquoted
        shlex.split(line[len(prefix) :])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\n'
    )
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_slurm_runs_the_job_the_script_asked_for(slurm_cluster: None, env: dict[str, str], tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    script = tmp_path / "job.sbatch"
    script.write_text(
        "#!/bin/bash\n#SBATCH --time=00:02:00 --cpus-per-task=2\n"
        f"#SBATCH --comment='$(touch {canary})'\necho cpus $SLURM_CPUS_PER_TASK\n"
    )
    proc = cli(env, "submit", "--cluster", "slurm", "--script", str(script))
    assert proc.returncode == 0, proc.stderr
    assert "--comment" in proc.stderr and "passed through" in proc.stderr
    job_id = proc.stdout.strip()
    overridden = cli(env, "submit", "--cluster", "slurm", "--cores", "1", "--walltime", "5m", "--script", str(script))
    assert overridden.returncode == 0, overridden.stderr
    try:
        shown = json.loads(cli(env, "show", job_id, "--json").stdout)
        assert (shown["cores"], shown["time_limit"]) == (2, 120), shown
        again = json.loads(cli(env, "show", overridden.stdout.strip(), "--json").stdout)
        assert (again["cores"], again["time_limit"]) == (1, 300), again
        comment = subprocess.run(["squeue", "-h", "-j", str(shown["jobid"]), "-o", "%k"], capture_output=True, text=True).stdout
        await eventually(lambda: cli(env, "status", job_id, "--json").stdout.count('"TERMINATING"') == 1, timeout=60,
                         what="the job to finish")  # fmt: skip
        assert cli(env, "peek", job_id).stdout == "cpus 2\n"
        assert not canary.exists() and (not comment.strip() or "$(touch" in comment)
    finally:
        for ident in (job_id, overridden.stdout.strip()):
            cli(env, "cancel", ident)


def test_sge_takes_the_scripts_time_limit(sge_cluster: None, env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#$ -l h_rt=120 -N from-script\nsleep 30\n")
    proc = cli(env, "submit", "--cluster", "sge", "--script", str(script))
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    try:
        shown = json.loads(cli(env, "show", job_id, "--json").stdout)
        assert shown["time_limit"] == 120 and "from-script" in str(shown["name"])
    finally:
        cli(env, "cancel", job_id)
