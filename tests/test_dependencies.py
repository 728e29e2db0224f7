"""`submit --after ID[:ok|any|notok]` on the real SLURM and Grid Engine: the job waits, `show` says for what,
and a dependency that can never be satisfied is flagged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.errors import InvalidJobSpec
from batchdeck.backends.schedulers.lsf import lsf_dependency_directives
from batchdeck.backends.schedulers.pbs import pbs_dependency_directives
from batchdeck.backends.schedulers.sge import sge_dependency_directives
from batchdeck.backends.schedulers.slurm import slurm_dependency_directives

from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def test_each_scheduler_writes_the_condition_its_own_way() -> None:
    conditions = [("ok", "11"), ("notok", "12"), ("ok", "13")]
    assert slurm_dependency_directives(conditions) == ["#SBATCH --dependency=afterok:11:13,afternotok:12"]
    assert pbs_dependency_directives(conditions) == ["#PBS -W depend=afterok:11:13,afternotok:12"]
    assert lsf_dependency_directives(conditions) == ["#BSUB -w 'done(11) && exit(12) && done(13)'"]
    assert sge_dependency_directives([("any", "11"), ("any", "12")]) == ["#$ -hold_jid 11,12"]
    with pytest.raises(InvalidJobSpec, match=":any"):
        sge_dependency_directives(conditions)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\npoll_interval = 1\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\npoll_interval = 1\n'
    )
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)


def submit(env: dict[str, str], *args: str) -> str:
    proc = cli(env, "submit", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def show(env: dict[str, str], target: str) -> dict[str, object]:
    proc = cli(env, "show", target, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


async def test_slurm_waits_and_flags_a_dependency_that_can_never_be_satisfied(slurm_cluster: None, env: dict[str, str]) -> None:
    first = submit(env, "--cluster", "slurm", "--", "sh", "-c", "sleep 2; exit 1")
    on_ok = submit(env, "--cluster", "slurm", "--after", first, "--", "true")
    on_fail = submit(env, "--cluster", "slurm", "--after", f"{first}:notok", "--", "echo", "ran")
    try:
        waiting = show(env, on_ok)
        assert waiting["raw_reason"] == "Dependency" and "afterok" in str(waiting["dependency"])
        await eventually(lambda: show(env, on_ok)["dependency_never_satisfied"] is True, timeout=90,
                         what="the afterok dependency to be never satisfied")  # fmt: skip
        assert "never" in str(show(env, on_ok)["reason"])
        await eventually(lambda: '"TERMINATING"' in cli(env, "status", on_fail, "--json").stdout, timeout=90,
                         what="the afternotok job to run")  # fmt: skip
        assert cli(env, "peek", on_fail).stdout == "ran\n"
        refused = cli(env, "submit", "--cluster", "slurm", "--after", "nosuch:1", "--", "true")
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    finally:
        for ident in (first, on_ok, on_fail):
            cli(env, "cancel", ident)


async def test_grid_engine_waits_for_the_end_and_refuses_ok(sge_cluster: None, env: dict[str, str]) -> None:
    first = submit(env, "--cluster", "sge", "--", "sleep", "2")
    try:
        refused = cli(env, "submit", "--cluster", "sge", "--after", first, "--", "true")
        assert refused.returncode == 1 and ":any" in refused.stderr
        second = submit(env, "--cluster", "sge", "--after", f"{first}:any", "--", "echo", "after")
        assert str(show(env, second)["dependency"]).startswith("after ")
        await eventually(lambda: '"TERMINATING"' in cli(env, "status", second, "--json").stdout, timeout=90,
                         what="the dependent job to run")  # fmt: skip
        assert cli(env, "peek", second).stdout == "after\n"
    finally:
        cli(env, "cancel", first)
