"""Job arrays (#12 item 4): task ids read one way (``--array``, the form, the scripts' directives), mapped
by each scheduler (SLURM --array, Grid Engine -t/-tc, PBS Pro -J, TORQUE -t, LSF NAME[...]%N), bad ranges
refused in one line; every task writes its own stdout/stderr (TASK/) and exit-status file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchdeck.backends.errors import BatchdeckError, InvalidJobSpec
from batchdeck.backends.model import JobRecord, JobSpec, Outcome, RunState, SchedulerJob, TaskState
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.schedulers.lsf import LsfBatchSystem, read_bsub_directives
from batchdeck.backends.schedulers.pbs import PbsBatchSystem, read_pbs_directives
from batchdeck.backends.schedulers.sge import SgeBatchSystem, read_qsub_directives
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem, read_sbatch_directives
from batchdeck.backends.schedulers.task_states import listed_task_ids, summarise
from batchdeck.backends.task_array import parse_task_array

from contract import Deck
from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
SANDBOX = "/home/u/bd/abcd1234"


@pytest.mark.parametrize(
    ("text", "tasks", "stored"),
    [
        ("1-5%2", [1, 2, 3, 4, 5], "1-5%2"),
        ("1,3,5", [1, 3, 5], "1,3,5"),
        ("1-9:2", [1, 3, 5, 7, 9], "1-9:2"),
        ("1-10:4", [1, 5, 9], "1-9:4"),
        (" 0-2,7 %1", [0, 1, 2, 7], "0-2,7%1"),
        ("4", [4], "4"),
    ],
)
def test_task_ids_as_users_write_them(text: str, tasks: list[int], stored: str) -> None:
    array = parse_task_array(text)
    assert array.tasks() == tasks and array.text() == stored


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "expected task ids"),
        ("5-1", "below the first"),
        ("1-10:0", "step must be at least 1"),
        ("1-10%0", "after %"),
        ("a-b", "is not a task id"),
        ("1-3;rm -rf /", "is not a task id"),
        ("1-99999999", "at most"),
    ],
)
def test_bad_ranges_are_named(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        parse_task_array(text)
    assert "\n" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-,:%[] x;$", max_size=20))
def test_any_text_is_task_ids_or_one_line_value_error(text: str) -> None:
    try:
        array = parse_task_array(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert parse_task_array(array.text()) == array  # the stored form reads back the same
    assert listed_task_ids(text) == array.tasks() or "[" in text or "]" in text


def _job(**spec: object) -> JobRecord:
    spec.setdefault("command", ["echo", "hi"])
    return JobRecord(id="abcd1234", cluster="c", spec=JobSpec(**spec))  # type: ignore[arg-type]


def _script(backend: object, **spec: object) -> str:
    job = _job(**spec)
    backend.validate_spec(job.spec)  # type: ignore[attr-defined]
    return backend.render_script(job, SANDBOX)  # type: ignore[attr-defined, no-any-return]


def test_slurm_array_directive_and_per_task_files() -> None:
    script = _script(SlurmBatchSystem("c", transport="local"), array="1-100%10")
    assert "#SBATCH --array=1-100%10" in script
    assert f"#SBATCH --output={SANDBOX}/.batchdeck/task-%a.out" in script
    assert 'batchdeck_task="${SLURM_ARRAY_TASK_ID}"' in script
    # each task's stdout/stderr in its folder, its exit status in its own file
    assert 'exec > "$batchdeck_task"/stdout.txt 2> "$batchdeck_task"/stderr.txt' in script
    assert f'{SANDBOX}/.batchdeck/exitcode."$batchdeck_task"' in script
    plain = _script(SlurmBatchSystem("c", transport="local"))
    assert "--array" not in plain and "batchdeck_task" not in plain


def test_grid_engine_takes_one_range_with_its_own_throttle() -> None:
    sge = SgeBatchSystem("c", transport="local")
    script = _script(sge, array="1-100%10")
    assert "#$ -t 1-100" in script and "#$ -tc 10" in script
    assert f"#$ -o {SANDBOX}/.batchdeck/" in script and 'batchdeck_task="${SGE_TASK_ID}"' in script
    stepped = _job(array="1-9:2")
    assert "#$ -t" not in sge.render_script(stepped, SANDBOX)  # ':' is not for a #$ line
    assert sge.submit_argv(stepped, f"{SANDBOX}/.batchdeck/job.sh")[0][2:4] == ["-t", "1-9:2"]
    with pytest.raises(InvalidJobSpec, match=r"one range .*qsub -t.*1,3,5"):
        _script(sge, array="1,3,5")
    with pytest.raises(InvalidJobSpec, match="start at 1"):
        _script(sge, array="0-3")


def test_pbs_pro_j_and_torque_t() -> None:
    pro = PbsBatchSystem("c", transport="local", flavour="pro")
    script = _script(pro, array="1-100%10")
    assert "#PBS -J 1-100%10" in script and "^array_index^" in script
    assert 'batchdeck_task="${PBS_ARRAY_INDEX}"' in script
    assert "#PBS -J 1-9:2" in _script(pro, array="1-9:2")
    with pytest.raises(InvalidJobSpec, match=r"PBS Pro takes one range"):
        _script(pro, array="1,3,5")
    torque = PbsBatchSystem("c", transport="local", flavour="torque")
    assert "#PBS -t 1-100%10" in _script(torque, array="1-100%10")
    # TORQUE's -t has no steps: they are written out
    script = _script(torque, array="1-9:2")
    assert "#PBS -t 1,3,5,7,9" in script and 'batchdeck_task="${PBS_ARRAYID}"' in script


def test_lsf_array_in_the_job_name() -> None:
    script = _script(LsfBatchSystem("c", transport="local"), array="1-100%10")
    assert "#BSUB -J 'bd-abcd1234-job[1-100]%10'" in script
    assert f"#BSUB -o {SANDBOX}/.batchdeck/task-%I.out" in script and 'batchdeck_task="${LSB_JOBINDEX}"' in script
    assert "[1,3,5]'" in _script(LsfBatchSystem("c", transport="local"), array="1,3,5")


@pytest.mark.parametrize("backend", [SlurmBatchSystem, SgeBatchSystem, LsfBatchSystem])
def test_the_job_script_run_as_two_tasks_keeps_their_files_apart(backend: type, tmp_path: object) -> None:
    sandbox = f"{tmp_path}/sandbox"
    job = _job(command=["sh", "-c", TASK_SCRIPT], array="1-2")
    system = backend("c", transport="local")
    (Path(sandbox) / ".batchdeck").mkdir(parents=True)
    script = Path(sandbox) / ".batchdeck/job.sh"
    script.write_text(system.render_script(job, sandbox))
    for task in ("1", "2"):
        done = subprocess.run(["bash", str(script)], env={"PATH": "/usr/bin:/bin", system.task_variable(): task}, timeout=30)
        assert done.returncode == (1 if task == "2" else 0)
    for task in ("1", "2"):
        assert (Path(sandbox) / task / "stdout.txt").read_text() == f"task {task} out\n"
        assert (Path(sandbox) / task / "stderr.txt").read_text() == f"task {task} err\n"
        assert (Path(sandbox) / f".batchdeck/exitcode.{task}").read_text() == ("1\n" if task == "2" else "0\n")
    assert not (Path(sandbox) / "stdout.txt").exists()
    # not a task id: refused before anything is written
    bad = subprocess.run(["bash", str(script)], env={"PATH": "/usr/bin:/bin", system.task_variable(): "../x"}, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "not an array task" in bad.stderr


def test_local_processes_refuse_an_array() -> None:
    with pytest.raises(InvalidJobSpec, match="array: the local scheduler"):
        _script(LocalBatchSystem("c", transport="local"), array="1-3")


def test_directives_ask_for_arrays() -> None:
    assert read_sbatch_directives("#SBATCH --array=1-4%2\n").values == {"array": "1-4%2"}
    assert read_sbatch_directives("#SBATCH -a 1,3\n").values == {"array": "1,3"}
    assert read_qsub_directives("#$ -tc 2\n#$ -t 1-4\n").values == {"array": "1-4%2"}
    assert read_qsub_directives("#$ -t 2-10:2\n").values == {"array": "2-10:2"}
    assert read_pbs_directives("#PBS -J 1-4\n").values == {"array": "1-4"}
    assert read_pbs_directives("#PBS -t 1-4%2\n").values == {"array": "1-4%2"}
    assert read_bsub_directives("#BSUB -J 'sweep[1-4]%2'\n").values == {"name": "sweep", "array": "1-4%2"}
    for reader, script, why in (
        (read_sbatch_directives, "#SBATCH --array=4-1\n", "below the first"),
        (read_qsub_directives, "#$ -tc 2\n", "no -t array"),
        (read_bsub_directives, "#BSUB -J 'a[1-3'\n", "NAME"),
    ):
        with pytest.raises(InvalidJobSpec, match=why):
            reader(script)


def test_the_builder_the_cli_and_the_form_share_reads_the_array() -> None:
    from batchdeck.backends.engine.job_specs import SpecText, build_spec
    from batchdeck.backends.engine.resubmit import spec_form_values

    spec = build_spec(SpecText(command=["x"], array=" 1-9:2%3 ")).raise_first()
    assert spec.array == "1-9:2%3" and spec_form_values(spec)["array"] == "1-9:2%3"
    assert build_spec(SpecText(command=["x"])).raise_first().array is None
    errors = build_spec(SpecText(command=["x"], array="9-1")).errors
    assert list(errors) == ["array"] and "below the first" in errors["array"]


def test_an_array_is_summarised_from_its_tasks() -> None:
    run, pend = TaskState(RunState.RUNNING), TaskState(RunState.SUBMITTED)
    ok = TaskState(RunState.TERMINATING, outcome=Outcome.OK, exitcode=0)
    bad = TaskState(RunState.TERMINATING, outcome=Outcome.FAILED, exitcode=3)
    assert summarise("7", [1, 2, 3], {}) is None  # nothing seen yet: nothing to say
    assert summarise("7", [1, 2, 3], {"1": ok, "2": run, "3": pend}).state == RunState.RUNNING  # type: ignore[union-attr]
    assert summarise("7", [1, 2, 3], {"1": ok, "2": pend}).state == RunState.SUBMITTED  # type: ignore[union-attr]
    assert summarise("7", [1, 2, 3], {"1": ok, "2": ok}) is None  # task 3 unaccounted for
    done = summarise("7", [1, 2, 3], {"1": ok, "2": ok, "3": ok})
    assert done is not None and (done.state, done.outcome, done.exitcode) == (RunState.TERMINATING, Outcome.OK, 0)
    failed = summarise("7", [1, 2, 3], {"1": ok, "2": bad, "3": bad})
    assert failed is not None and (failed.outcome, failed.exitcode) == (Outcome.FAILED, 3)
    assert failed.reason == "2 of 3 tasks failed: tasks 2,3"
    gone = TaskState(RunState.TERMINATING, outcome=Outcome.CANCELLED)
    cancelled = summarise("7", [1, 2], {"1": gone, "2": gone})
    assert cancelled is not None and (cancelled.state, cancelled.outcome) == (RunState.TERMINATED, Outcome.CANCELLED)
    killed = summarise("7", [1, 2], {"1": gone, "2": TaskState(RunState.TERMINATING, outcome=Outcome.KILLED, exitcode=137)})
    assert killed is not None and killed.outcome == Outcome.FAILED and killed.exitcode is None
    assert listed_task_ids("4-10:2") == [4, 6, 8, 10] and listed_task_ids("[3-5%2]") == [3, 4, 5]
    assert listed_task_ids("7") == [7] and listed_task_ids("") == [] and listed_task_ids("x") == []


def test_record_counts_tasks_and_keeps_them_in_the_journal_form() -> None:
    job = _job(array="1-5")
    job.transition(RunState.SUBMITTED)
    job.tasks = {"1": TaskState(RunState.RUNNING), "2": TaskState(RunState.TERMINATING, outcome=Outcome.FAILED, exitcode=1),
                 "3": TaskState(RunState.TERMINATING, outcome=Outcome.OK, exitcode=0)}  # fmt: skip
    summary = job.summary()
    assert summary["task_counts"] == {"run": 1, "pend": 2, "held": 0, "done": 1, "failed": 1, "unknown": 0}
    assert summary["failed_tasks"] == ["2"] and summary["tasks"]["2"]["outcome"] == "failed"
    assert JobRecord.from_dict(json.loads(json.dumps(job.to_dict()))).tasks == job.tasks


def test_failed_only_resubmits_the_failed_tasks_of_a_batchdeck_array(tmp_path: Path) -> None:
    from batchdeck.backends.engine.journal import Journal

    config = _config(tmp_path, "slurm")
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": config}
    job = _job(array="1-5%2")
    job.cluster, job.jobid = "c", "900"
    job.transition(RunState.SUBMITTED)
    ok, bad = TaskState(RunState.TERMINATING, outcome=Outcome.OK, exitcode=0), TaskState(RunState.TERMINATING, outcome=Outcome.FAILED, exitcode=1)
    job.tasks = {"1": ok, "2": bad, "3": ok, "4": bad, "5": bad}
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    journal.save(job)

    def resubmit(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BATCHDECK, "resubmit", job.id, "--failed-only", *extra], env=env, capture_output=True, text=True, timeout=60)

    running = resubmit("--dry-run")
    assert running.returncode == 2 and running.stderr.count("\n") == 1 and "still SUBMITTED" in running.stderr
    job = journal.get(job.id)
    job.transition(RunState.TERMINATING)
    job.set_outcome(Outcome.FAILED)
    journal.save(job)
    listed = subprocess.run([*BATCHDECK, "list", "--no-refresh"], env=env, capture_output=True, text=True, timeout=60)
    assert "TERMINATING [3 done]" not in listed.stdout and "[2 done · 3 failed]" in listed.stdout, listed.stdout
    dry = resubmit("--dry-run", "--walltime", "5m")
    assert dry.returncode == 0, dry.stderr
    assert "#SBATCH --array=2,4-5%2" in dry.stdout and "#SBATCH --time=00:05:00" in dry.stdout


def _cli(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def _config(tmp_path: object, kind: str) -> str:
    path = f"{tmp_path}/config.toml"
    with open(path, "w") as handle:
        handle.write(f'[clusters.c]\ntype = "{kind}"\nsandbox_root = "{tmp_path}/sb"\n')
    return path


def test_cli_array_dry_run_and_one_line_refusals(tmp_path: object) -> None:
    config = _config(tmp_path, "slurm")
    shown = _cli("--config", config, "submit", "--cluster", "c", "--array", "1-9:2%3", "--dry-run", "--", "true", cwd=str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "#SBATCH --array=1-9:2%3" in shown.stdout
    bad = _cli("--config", config, "submit", "--cluster", "c", "--array", "3-1", "--", "true", cwd=str(tmp_path))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--array" in bad.stderr and "below the first" in bad.stderr
    sge = _cli("--config", _config(tmp_path, "sge"), "submit", "--cluster", "c", "--array", "1,3", "--dry-run", "--", "true", cwd=str(tmp_path))
    assert sge.returncode != 0 and sge.stderr.count("\n") == 1 and "one range" in sge.stderr, sge.stderr


# ---------------------------------------------------------------------------- on the real schedulers

#: task 2 fails: its own exit status must not be overwritten by the others'
TASK_SCRIPT = 'echo "task $BATCHDECK_TASK_ID out"; echo "task $BATCHDECK_TASK_ID err" >&2; [ "$BATCHDECK_TASK_ID" != 2 ]'


@pytest.fixture(
    params=[
        pytest.param("slurm", marks=pytest.mark.slurm),
        pytest.param("slurm-ssh", marks=[pytest.mark.slurm, pytest.mark.ssh]),
        pytest.param("sge", marks=pytest.mark.sge),
        pytest.param("sge-ssh", marks=[pytest.mark.sge, pytest.mark.ssh]),
    ]
)
def deck_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_every_task_writes_its_own_files(deck: Deck) -> None:
    job = await deck.shell(TASK_SCRIPT, array="1-3%2")
    assert job.sandbox

    async def file_text(name: str) -> str:
        result = await deck.run(["cat", f"{job.sandbox}/{name}"])
        return result.stdout if result.ok else ""

    async def all_written() -> bool:
        return all([await file_text(f".batchdeck/exitcode.{task}") for task in (1, 2, 3)])

    await eventually(all_written, 120, "every task's exit-status file")
    for task in (1, 2, 3):
        assert await file_text(f"{task}/stdout.txt") == f"task {task} out\n"
        assert await file_text(f"{task}/stderr.txt") == f"task {task} err\n"
        assert (await file_text(f".batchdeck/exitcode.{task}")).strip() == ("1" if task == 2 else "0")


async def test_an_array_job_is_one_record_summarising_its_tasks(deck: Deck, tmp_path: Path) -> None:
    job = await deck.shell(TASK_SCRIPT, array="1-3")
    good = await deck.shell('echo "task $BATCHDECK_TASK_ID"', array="1-2")
    before = deck.transport.count(deck.backend.status_argv()[0])
    await deck.backend.update_job_states([job, good])
    assert deck.transport.count(deck.backend.status_argv()[0]) - before == 1  # one status query for both
    await deck.wait([job, good], lambda: not job.state.is_active and not good.state.is_active, 180, "both arrays to end")
    assert (good.state, good.outcome, good.exitcode) == (RunState.TERMINATING, Outcome.OK, 0)
    assert set(good.tasks) == {"1", "2"} and all(t.outcome == Outcome.OK for t in good.tasks.values())
    assert (job.state, job.outcome) == (RunState.TERMINATING, Outcome.FAILED)
    assert job.failed_tasks() == ["2"] and "tasks 2" in job.reason, job.reason
    assert job.summary()["task_counts"]["done"] == 2 and job.summary()["task_counts"]["failed"] == 1
    # each task peeked by its own file; the download brings each task's files into DEST/TASK/
    data, _size = await deck.backend.peek_bytes(job, job.output_name(True, "2"))
    assert data == b"task 2 err\n"
    dest = tmp_path / "dest"
    dest.mkdir()
    report = await deck.backend.get_results(job, dest)
    assert report.ok and (dest / "1" / "stdout.txt").read_text() == "task 1 out\n"
    assert (dest / "3" / "stderr.txt").read_text() == "task 3 err\n" and not (dest / ".batchdeck").exists()


# ---------------------------------------------------------------------------- the app's rows (pure)


def test_one_row_per_array_with_counts_and_task_rows_when_unfolded() -> None:
    from batchdeck.backends.engine.deck import ClusterStatus
    from batchdeck.tui.rows import JobFilter, other_key, split_task_key, task_key, visible_rows

    job = _job(array="1-45%12")
    job.jobid = "900"
    job.transition(RunState.RUNNING)
    for task in range(1, 46):
        state = RunState.RUNNING if task <= 12 else RunState.SUBMITTED
        job.tasks[str(task)] = TaskState(state)
    for task in (13, 14, 15):
        job.tasks[str(task)] = TaskState(RunState.TERMINATING, outcome=Outcome.FAILED, exitcode=2)
    status = ClusterStatus("c")
    status.other_jobs = [
        SchedulerJob("77_1", RunState.RUNNING, name="plain", array_id="77", array_task="1"),
        SchedulerJob("77_[2-4]", RunState.SUBMITTED, name="plain", array_id="77", array_task="2-4"),
        SchedulerJob("78", RunState.RUNNING, name="single"),
    ]
    parents: dict[str, str] = {}
    arrays: set[str] = set()
    rows = visible_rows([job], {"c": status}, JobFilter(), 0.0, {}, None, frozenset(), parents, arrays)
    assert list(rows) == [job.id, other_key("c", "77"), other_key("c", "78")]
    assert str(rows[job.id][-1]) == "12 run · 30 pend · 3 failed" and "▸" in str(rows[job.id][2])
    assert str(rows[other_key("c", "77")][-1]) == "1 run · 3 pend" and arrays == {other_key("c", "77")}
    unfolded = visible_rows([job], {"c": status}, JobFilter(), 0.0, {}, None,
                            frozenset({job.id, other_key("c", "77")}), parents, arrays)  # fmt: skip
    assert len(unfolded) == 3 + 45 + 2
    assert parents[task_key(job.id, "14")] == job.id and parents[other_key("c", "77_1")] == other_key("c", "77")
    assert split_task_key(task_key(job.id, "14")) == (job.id, "14") and split_task_key(job.id) == (job.id, None)
    assert "✘" in str(unfolded[task_key(job.id, "14")][5]) and "exit 2" in str(unfolded[task_key(job.id, "14")][-1])


def test_peek_names_an_array_task(tmp_path: Path) -> None:
    job = _job(array="1-3")
    assert job.output_name(task="2") == "2/stdout.txt" and job.output_name(True, "3") == "3/stderr.txt"
    for task, why in ((None, "name one task"), ("4", "no task '4'"), ("x", "no task 'x'")):
        with pytest.raises(BatchdeckError, match=why):
            job.output_name(task=task)
    with pytest.raises(BatchdeckError, match="not an array job"):
        _job().output_name(task="1")


async def test_a_cancelled_array_ends_cancelled(deck: Deck) -> None:
    job = await deck.shell("sleep 120", array="1-3")
    await deck.wait([job], lambda: any(t.state == RunState.RUNNING for t in job.tasks.values()), 120, "a running task")
    await deck.backend.cancel_job(job)
    await deck.wait([job], lambda: not job.state.is_active, 180, "the cancelled array to end")
    assert job.outcome == Outcome.CANCELLED, (job.state, job.reason, job.tasks)


@pytest.mark.slurm
def test_peek_task_of_a_plain_sbatch_array(slurm_cluster: None, tmp_path: Path) -> None:
    scratch = Path("/var/tmp/batchdeck-test") / f"plain-{os.getpid()}-{tmp_path.name}"
    scratch.mkdir(parents=True, exist_ok=True)
    config = _config(tmp_path, "slurm")
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": config}
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--array=1-2", "-t", "2", f"--output={scratch}/out-%A_%a.txt", "--wrap", "echo plain task $SLURM_ARRAY_TASK_ID"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    array_id = submitted.stdout.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 120
        while not (scratch / f"out-{array_id}_2.txt").exists() or not (scratch / f"out-{array_id}_2.txt").read_text():
            assert time.monotonic() < deadline, "task 2 never wrote its output"
            time.sleep(0.2)
        peek = subprocess.run([*BATCHDECK, "peek", f"c:{array_id}", "--task", "2"], env=env, capture_output=True, text=True, timeout=60)
        assert peek.returncode == 0 and peek.stdout == "plain task 2\n", peek.stderr
        bad = subprocess.run([*BATCHDECK, "peek", f"c:{array_id}", "--task", "x"], env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "--task expects a task id" in bad.stderr
    finally:
        subprocess.run(["scancel", array_id], capture_output=True, timeout=60)
