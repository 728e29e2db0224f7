"""The submit form on its own: each field's one-line error, templates, and a real local job from it.

Every wait polls the app with a deadline (``wait_for``); nothing sleeps to make timing pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.model import JobRecord, RunState
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.screenshots import wait_for
from batchdeck.tui.submit_screen import SubmitScreen

SIZE = (120, 40)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""
[clusters.local]
type = "local"
sandbox_root = "{tmp_path / 'sandboxes'}"
poll_interval = 0.3
max_cores = 4
architecture = "x86_64"

[clusters.other]
type = "local"
sandbox_root = "{tmp_path / 'other'}"

[templates.train]
cluster = "local"
name = "trainer"
cores = 2
walltime = "30m"
command = ["python3", "-c", "print('hi there')"]
env = ["OMP_NUM_THREADS=2"]
"""
    )
    return tmp_path


def make_app(workdir: Path) -> BatchdeckApp:
    return BatchdeckApp(Deck.open(), ui_settings=workdir / "ui.json", download_base=workdir / "dl", owns_deck=True)


def error(form: SubmitScreen, ident: str) -> str:
    return str(form.query_one(f"#{ident}-error", Static).render())


@pytest.mark.parametrize(
    ("ident", "good", "bad", "says"),
    [
        ("env", "A=1 B='two words'", "NOVALUE", "NAME=VALUE"),
        ("env", "A=1", "A='open", "cannot split"),
        ("architecture", "x86_64", "sparc", "architecture"),
    ],
)
async def test_field_error_under_its_field(workdir: Path, ident: str, good: str, bad: str, says: str) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        assert isinstance(form, SubmitScreen)
        form.query_one("#command", Input).value = "true"
        form.query_one(f"#{ident}", Input).value = bad
        await wait_for(pilot, lambda: says in error(form, ident))
        assert "\n" not in error(form, ident)
        assert form.query_one("#submit", Button).disabled
        form.query_one(f"#{ident}", Input).value = good
        await wait_for(pilot, lambda: not form.query_one("#submit", Button).disabled)
        assert error(form, ident) == ""


async def test_template_fills_only_the_empty_fields(workdir: Path) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        assert isinstance(form, SubmitScreen)
        assert "what you typed stays" in str(form.query_one("#template-hint", Static).render())
        form.query_one("#cluster", Select).value = "other"
        form.query_one("#name", Input).value = "mine"
        form.query_one("#template", Select).value = "train"
        await wait_for(pilot, lambda: form.query_one("#cores", Input).value == "2")
        values = form.values()
        assert values["name"] == "mine"  # typed: kept
        assert values["command"] == "python3 -c 'print('\"'\"'hi there'\"'\"')'"
        assert values["walltime"] == "30m"
        assert values["env"] == "OMP_NUM_THREADS=2"
        assert form.cluster_value() == "local"
        await wait_for(pilot, lambda: not form.query_one("#submit", Button).disabled)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(app.jobs_by_id) == 1)
        (job,) = app.jobs_by_id.values()
        assert job.cluster == "local"
        assert job.spec.command == ["python3", "-c", "print('hi there')"]
        assert job.spec.name == "mine" and job.spec.cores == 2 and job.spec.walltime == 1800
        assert set(job.spec.environment) == {"OMP_NUM_THREADS"}  # the journal keeps names, never values
        await wait_for(pilot, lambda: not app.jobs_by_id[job.id].state.is_active, timeout=30)
        assert app.jobs_by_id[job.id].state != RunState.UNKNOWN
        await pilot.press("q")


async def test_prefill_reaches_every_field(workdir: Path) -> None:
    from batchdeck.tui.submit_screen import FIELDS

    app = make_app(workdir)
    prefill = {ident: f"v-{ident}" for ident, _label, _placeholder in FIELDS}
    async with app.run_test(size=SIZE) as pilot:
        form = SubmitScreen(app.session.deck, "local", prefill=prefill)
        app.push_screen(form)
        await wait_for(pilot, lambda: app.screen is form)
        assert form.values() == prefill
        await pilot.press("escape")
        await pilot.press("q")


@pytest.mark.parametrize(
    ("ident", "bad", "says"),
    [
        ("account", "two words", "expected one word"),
        ("qos", "a;b", "expected one word"),
        ("gpus", "two", "whole number of GPUs"),
        ("gpus", "0", "at least 1 GPU"),
        ("nodes", "-1", "at least 1 node"),
        ("constraint", "a$(reboot)", "no quotes"),
        ("extra", "--comment='open", "cannot split"),
        ("array", "3-1", "below the first"),
    ],
)
async def test_scheduler_option_errors(workdir: Path, ident: str, bad: str, says: str) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        assert isinstance(form, SubmitScreen)
        form.query_one("#command", Input).value = "true"
        form.query_one(f"#{ident}", Input).value = bad
        await wait_for(pilot, lambda: says in error(form, ident))
        assert form.query_one("#submit", Button).disabled
        await pilot.press("escape")
        await pilot.press("q")


@pytest.mark.parametrize(
    ("ident", "good", "label"),
    [("account", "proj1", "account"), ("qos", "normal", "QOS / project"), ("gpus", "1", "GPUs"),
     ("nodes", "2", "nodes"), ("constraint", "avx2&ib", "constraint"), ("extra", "--exclusive", "extra scheduler arguments"),
     ("array", "1-3", "array")],
)  # fmt: skip
async def test_an_option_the_scheduler_cannot_honour_is_refused(workdir: Path, ident: str, good: str,
                                                                label: str) -> None:
    """A right value still fails on a cluster whose scheduler cannot pass it: one line, field and scheduler."""
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        assert isinstance(form, SubmitScreen)
        form.query_one("#command", Input).value = "true"
        form.query_one(f"#{ident}", Input).value = good
        await wait_for(pilot, lambda: "cannot honour" in error(form, ident))
        assert error(form, ident) == f"{label}: the local scheduler (cluster 'local') cannot honour it"
        await pilot.press("ctrl+s")
        assert app.screen is form and app.jobs_by_id == {}
        await pilot.press("escape")
        await pilot.press("q")


def test_slurm_and_sge_take_the_options_they_honour(tmp_path: Path) -> None:
    """Checked without connecting: SLURM passes every option; Grid Engine names the two it cannot."""
    from batchdeck.tui.submit_screen import check_form

    config = tmp_path / "c.toml"
    config.write_text('[clusters.s]\ntype = "slurm"\n[clusters.g]\ntype = "sge"\n')
    deck = Deck.open(config)
    try:
        values = {"command": "true", "account": "proj1", "qos": "normal", "gpus": "1", "nodes": "2",
                  "constraint": "avx2", "extra": "--exclusive --comment='two words'"}  # fmt: skip
        slurm = check_form(values, "s", deck)
        assert slurm.errors == {} and slurm.spec is not None
        assert (slurm.spec.account, slurm.spec.qos, slurm.spec.gpus, slurm.spec.nodes, slurm.spec.constraint) == (
            "proj1", "normal", 1, 2, "avx2")
        assert slurm.spec.extra_args == ["--exclusive", "--comment=two words"]
        sge = check_form(values, "g", deck)
        assert set(sge.errors) == {"gpus", "nodes"}
        assert sge.errors["nodes"] == "nodes: the sge scheduler (cluster 'g') cannot honour it"
    finally:
        deck.journal.close()


@pytest.fixture
def slurm_form(slurm_cluster: None) -> Iterator[Path]:
    """A configuration of one real SLURM cluster ``hpc`` whose sandboxes the jobs can reach."""
    root = Path("/var/tmp/batchdeck-test") / f"form-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[clusters.hpc]\ntype = "slurm"\nsandbox_root = "{root}"\npoll_interval = 0.5\n')
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def open_form(pilot: Pilot[int], app: BatchdeckApp) -> SubmitScreen:
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
    form = app.screen
    assert isinstance(form, SubmitScreen)
    return form


async def submit_and_show(pilot: Pilot[int], app: BatchdeckApp, form: SubmitScreen) -> tuple[JobRecord, str]:
    """Submit the form's job to SLURM; the job and what ``scontrol show job`` says of it, after it ended."""
    await wait_for(pilot, lambda: form.settled and not form.query_one("#submit", Button).disabled, timeout=10)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: any(j.jobid for j in app.jobs_by_id.values()), timeout=30)
    (job,) = app.jobs_by_id.values()
    shown = subprocess.run(["scontrol", "show", "job", str(job.jobid)], capture_output=True, text=True).stdout
    await wait_for(pilot, lambda: not app.jobs_by_id[job.id].state.is_active, timeout=90)
    await pilot.press("q")
    return job, shown


async def test_a_real_slurm_job_from_the_form_carries_the_options(slurm_form: Path, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    account = subprocess.run(["sacctmgr", "-n", "-P", "show", "assoc", f"user={os.environ.get('USER', 'root')}",
                              "format=account"], capture_output=True, text=True).stdout.split()[0]  # fmt: skip
    typed = {"command": "sleep 1", "name": "formopts", "account": account, "qos": "normal", "nodes": "1",
             "extra": "--comment=from-the-form"}  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot, app)
        for ident, text in typed.items():
            form.query_one(f"#{ident}", Input).value = text
        job, shown = await submit_and_show(pilot, app, form)
    assert f"Account={account}" in shown and "QOS=normal" in shown and "Comment=from-the-form" in shown, shown
    stored = Deck.open()
    try:
        spec = stored.job(job.id).spec
    finally:
        stored.journal.close()
    assert (spec.account, spec.qos, spec.nodes, spec.extra_args) == (account, "normal", 1, ["--comment=from-the-form"])


SBATCH_SCRIPT = """#!/bin/sh
#SBATCH --time=00:02:00 --cpus-per-task=2
#SBATCH -J swept --mail-type=END
echo "cpus $SLURM_CPUS_PER_TASK"
"""


def test_a_script_file_s_directives_fill_what_the_form_leaves_empty(tmp_path: Path) -> None:
    """As `submit --script`: the form's script file is read for #SBATCH lines; typed values win;
    the limits are checked on the job as it will be submitted; the form says what the script set."""
    from batchdeck.tui.submit_screen import check_form

    script = tmp_path / "job.sbatch"
    script.write_text(SBATCH_SCRIPT)
    config = tmp_path / "c.toml"
    config.write_text('[clusters.s]\ntype = "slurm"\n[clusters.small]\ntype = "slurm"\nmax_cores = 1\n')
    deck = Deck.open(config)
    try:
        check = check_form({"script": str(script)}, "s", deck)
        assert check.errors == {} and check.spec is not None
        assert (check.spec.cores, check.spec.walltime, check.spec.name) == (2, 120, "swept")
        assert check.spec.directives == ["#SBATCH --mail-type=END"]
        assert "cores 2" in check.notes and "walltime 00:02:00" in check.notes and "name swept" in check.notes
        assert any("--mail-type=END" in note and "passed through" in note for note in check.notes)

        typed = check_form({"script": str(script), "cores": "1", "name": "mine"}, "s", deck)
        assert typed.spec is not None and (typed.spec.cores, typed.spec.name, typed.spec.walltime) == (1, "mine", 120)
        assert "cores 2" not in typed.notes

        # a typed array wins over the script's own too (every field a directive may set)
        script.write_text(SBATCH_SCRIPT.replace("#SBATCH -J swept", "#SBATCH --array=1-4 -J swept"))
        arrays = check_form({"script": str(script), "array": "1-2", "memory": "1G"}, "s", deck)
        assert arrays.spec is not None and arrays.spec.array == "1-2" and arrays.spec.memory_per_core == 1024
        assert check_form({"script": str(script)}, "s", deck).spec.array == "1-4"  # type: ignore[union-attr]
        script.write_text(SBATCH_SCRIPT)

        small = check_form({"script": str(script)}, "small", deck)
        assert small.spec is None and "cores" in small.errors, small.errors

        script.write_text("#!/bin/sh\n#SBATCH --time=soon\ntrue\n")
        bad = check_form({"script": str(script)}, "s", deck)
        assert bad.spec is None and "line 2" in bad.errors["script"] and "\n" not in bad.errors["script"]
    finally:
        deck.journal.close()


async def test_a_real_slurm_job_from_a_script_in_the_form_runs_as_its_directives_say(
    slurm_form: Path, tmp_path: Path
) -> None:
    script = tmp_path / "job.sbatch"
    script.write_text(SBATCH_SCRIPT)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot, app)
        form.query_one("#script", Input).value = str(script)
        await wait_for(pilot, lambda: form.settled and not form.query_one("#submit", Button).disabled, timeout=10)
        shown_in_form = str(form.query_one("#directives", Static).render())
        assert "cores 2" in shown_in_form and "walltime 00:02:00" in shown_in_form, shown_in_form
        _job, shown = await submit_and_show(pilot, app, form)
    assert "TimeLimit=00:02:00" in shown and "-swept\n" in shown and "MailType=END" in shown, shown
    assert "NumCPUs=2" in shown or "CPUs/Task=2" in shown, shown
