"""How outcomes are shown: the app's Jobs table (tui/rows.py), the CLI's table and ``--json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, Outcome, RunState, SchedulerJob
from batchdeck.backends.schedulers import slurm
from batchdeck.tui.rows import job_role, job_row, other_row, outcome, state_text

from helpers import eventually


def finished(outcome_: Outcome | None, **kwargs: object) -> JobRecord:
    job = JobRecord(id="abcd1234", cluster="c", spec=JobSpec(command=["x"], name="x"))
    job.transition(RunState.SUBMITTED, "submitted")
    job.transition(RunState.RUNNING, "running")
    for key, value in kwargs.items():
        setattr(job, key, value)
    job.transition(RunState.TERMINATING, "finished")
    job.set_outcome(outcome_)
    return job


@pytest.mark.parametrize("verdict", list(Outcome))
def test_success_mark_only_for_ok(verdict: Outcome) -> None:
    # exit 0 on purpose: what SLURM prints for TIMEOUT and CANCELLED jobs
    job = finished(verdict, exitcode=0)
    role = job_role(job)
    mark = str(state_text(job.state, role, {})).split()[0]
    if verdict is Outcome.OK:
        assert (role, mark) == ("done", "✔")
    else:
        assert (role, mark) == ("failed", "✘")
        assert job.exitcode is None


@pytest.mark.parametrize(
    ("verdict", "kwargs", "shown"),
    [
        (Outcome.TIMEOUT, {"raw_state": "TIMEOUT", "reason": "TIMEOUT (time limit reached)"}, "timeout"),
        (Outcome.OOM, {"signal": 125, "reason": "out of memory"}, "oom"),
        (Outcome.CANCELLED, {"signal": 15, "reason": "cancelled"}, "cancelled"),
        (Outcome.NODE_FAIL, {"exitcode": 1, "reason": "node failure"}, "node_fail"),
        (Outcome.OK, {"exitcode": 0, "reason": ""}, "ok"),
        (Outcome.FAILED, {"exitcode": 3, "reason": "failed: exit code 3"}, "failed · exit 3"),
        (Outcome.KILLED, {"signal": 9, "reason": "killed by signal 9"}, "killed · signal 9"),
        (Outcome.FAILED, {"reason": "could not open the job's output or error file [failed 26]"},
         "failed · could not open the job's output or error file [failed 26]"),
    ],
)
def test_outcome_word_instead_of_exit_zero(verdict: Outcome, kwargs: dict[str, object], shown: str) -> None:
    job = finished(verdict, **kwargs)
    assert outcome(job) == shown


def test_a_verdicts_reason_reaches_the_terminal_escaped() -> None:
    # a scheduler's reason is text from outside: the outcome column shows it, never runs it
    job = finished(Outcome.FAILED, exitcode=2, reason="bad \x1b]0;owned\x07 title\nsecond line")
    shown = outcome(job)
    assert "\x1b" not in shown and "\x07" not in shown and "\n" not in shown
    assert shown.startswith("failed · exit 2 · bad ")
    row = job_row(job, 0.0, {})
    assert row[-1] == shown and "exit 0" not in str(row[-1])


def test_old_rows_without_outcome_read_as_before() -> None:
    job = finished(None, exitcode=2, reason="exit code 2")
    assert (job_role(job), outcome(job)) == ("failed", "exit 2 · exit code 2")
    active = JobRecord(id="abcd1234", cluster="c", spec=JobSpec(command=["x"]), state=RunState.SUBMITTED,
                       reason="Priority")
    assert (job_role(active), outcome(active)) == ("pending", "Priority")


def test_other_jobs_rows_show_the_outcome() -> None:
    text = "3|TIMEOUT|0:0|00:01:24|\n4|FAILED|3:0|00:00:02|\n"
    infos = slurm.parse_sacct(text, ["JobID", "State", "ExitCode", "Elapsed", "MaxRSS"])
    timeout_row = other_row("c", infos["3"], 0.0, {})
    assert str(timeout_row[5]).startswith("✘") and timeout_row[-1] == "timeout"
    failed_row = other_row("c", infos["4"], 0.0, {})
    assert failed_row[-1] == "failed · exit 3"
    ok = other_row("c", SchedulerJob("5", RunState.TERMINATING, outcome=Outcome.OK, exitcode=0), 0.0, {})
    assert str(ok[5]).startswith("✔")


BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def run_cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"batchdeck {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


async def test_cli_json_and_table_on_real_local_jobs(tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    ok = run_cli(env, "submit", "--", "true").strip()
    failed = run_cli(env, "submit", "--", "sh", "-c", "exit 3").strip()
    timed_out = run_cli(env, "submit", "--walltime", "0:00:01", "--", "sleep", "60").strip()
    cancelled = run_cli(env, "submit", "--", "sleep", "60").strip()
    try:
        def record(ident: str) -> dict[str, object]:
            data: dict[str, object] = json.loads(run_cli(env, "status", ident, "--json"))
            return data

        await eventually(lambda: record(cancelled)["state"] == "RUNNING", 30, "the job to start")
        run_cli(env, "cancel", cancelled)

        def all_finished() -> bool:
            return all(record(i)["state"] in ("TERMINATING", "TERMINATED") for i in (ok, failed, timed_out, cancelled))

        await eventually(all_finished, 60, "every job to end")
        seen = {ident: {k: record(ident)[k] for k in ("outcome", "exitcode", "signal")}
                for ident in (ok, failed, timed_out, cancelled)}
        assert seen == {
            ok: {"outcome": "ok", "exitcode": 0, "signal": None},
            failed: {"outcome": "failed", "exitcode": 3, "signal": None},
            timed_out: {"outcome": "timeout", "exitcode": None, "signal": None},
            cancelled: {"outcome": "cancelled", "exitcode": None, "signal": 15},
        }
        listed = {r["id"]: r for r in json.loads(run_cli(env, "list", "--json", "--no-refresh"))}
        assert listed[timed_out]["outcome"] == "timeout" and "reason" in listed[timed_out]
        header, *rows = run_cli(env, "list", "--no-refresh").splitlines()
        column = header.split().index("OUTCOME")
        by_id = {row.split()[0]: row.split() for row in rows}
        assert by_id[timed_out][column] == "timeout" and by_id[ok][column] == "ok"
        assert by_id[cancelled][column] == "cancelled"
    finally:
        for ident in (ok, failed, timed_out, cancelled):
            subprocess.run([*BATCHDECK, "cancel", ident], env=env, capture_output=True, timeout=60)
