"""`batchdeck wait` as a script uses it, and the terminal notification sequences it sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.tui.terminal_notify import BEL, ESC, notification, osc9, osc777, tmux_passthrough

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\npoll_interval = 0.2\n')
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def submit(env: dict[str, str], *command: str) -> str:
    proc = cli(env, "submit", "--", *command)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_wait_returns_when_every_job_ended_and_says_how(env: dict[str, str]) -> None:
    good = submit(env, "sh", "-c", "sleep 0.5; echo done")
    bad = submit(env, "sh", "-c", "exit 3")
    proc = cli(env, "wait", good, bad)
    assert proc.returncode == 1, proc.stderr  # one of them failed
    lines = proc.stdout.splitlines()
    assert {line.split()[0] for line in lines} == {good, bad}
    assert any(line.startswith(bad) and "exit code 3" in line for line in lines), lines
    assert cli(env, "wait", good).returncode == 0


def test_wait_times_out_with_124_and_names_the_jobs_still_running(env: dict[str, str]) -> None:
    slow = submit(env, "sleep", "30")
    try:
        proc = cli(env, "wait", slow, "--timeout", "1")
        assert proc.returncode == 124
        assert slow in proc.stderr and "still running" in proc.stderr
    finally:
        cli(env, "cancel", slow)


def test_wait_refuses_an_unknown_job_in_one_line(env: dict[str, str]) -> None:
    proc = cli(env, "wait", "zzzzzzzz")
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "zzzzzzzz" in proc.stderr


def test_sequences_carry_no_control_characters_from_the_message() -> None:
    hostile = "job\x1b]0;pwned\x07\nname;x"
    for sequence in (osc9(hostile), osc777("t;itle", hostile)):
        body = sequence[2:-2]  # between "ESC ]" and the string terminator "ESC \"
        assert ESC not in body and "\x07" not in body and "\n" not in body
    assert osc777("a;b", "c").startswith(f"{ESC}]777;notify;a,b;c")


def test_bell_and_both_osc_forms_and_tmux_passthrough() -> None:
    plain = notification("batchdeck", "job done", in_tmux=False)
    assert plain.startswith(BEL) and f"{ESC}]9;batchdeck: job done" in plain and f"{ESC}]777;notify;batchdeck;job done" in plain
    wrapped = notification("batchdeck", "job done", in_tmux=True)
    assert wrapped.count(f"{ESC}Ptmux;") == 2
    # inside the passthrough every ESC of the inner sequence is doubled
    assert tmux_passthrough(osc9("x")) == f"{ESC}Ptmux;{ESC}{ESC}]9;x{ESC}{ESC}\\{ESC}\\"


def test_forget_refuses_a_running_job_and_notes_an_unfreed_sandbox(env: dict[str, str]) -> None:
    done = submit(env, "true")
    running = submit(env, "sleep", "30")
    try:
        assert cli(env, "wait", done).returncode == 0
        refused = cli(env, "forget", done, running)
        assert refused.returncode != 0 and running in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert cli(env, "status", done).returncode == 0  # nothing was forgotten
        proc = cli(env, "forget", done)
        assert proc.returncode == 0 and f"forgot {done}" in proc.stdout
        assert "was not freed" in proc.stderr  # its sandbox is still on the cluster
        assert cli(env, "status", done).returncode != 0
    finally:
        cli(env, "cancel", running)


def test_clean_forgets_only_old_finished_jobs(env: dict[str, str], tmp_path: Path) -> None:
    from batchdeck.backends.engine.journal import Journal

    first = submit(env, "true")
    second = submit(env, "true")
    assert cli(env, "wait", first, second).returncode == 0
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    old = journal.get(first)
    old.state, old.finished = type(old.state)("TERMINATED"), old.created - 40 * 86400
    journal.save(old)
    journal.close()
    dry = cli(env, "clean", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0 and f"would forget {first}" in dry.stdout and second not in dry.stdout
    assert cli(env, "status", first).returncode == 0
    assert cli(env, "clean").returncode == 0
    assert cli(env, "status", first).returncode != 0
    assert cli(env, "status", second).returncode == 0
    bad = cli(env, "clean", "--older-than", "30")
    assert bad.returncode == 2 and "30d" in bad.stderr
    bad = cli(env, "clean", "--outcome", "fine")
    assert bad.returncode == 2 and "'fine' is not an outcome" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_clean_by_outcome(env: dict[str, str], tmp_path: Path) -> None:
    from batchdeck.backends.engine.journal import Journal

    good = submit(env, "true")
    bad = submit(env, "false")
    cli(env, "wait", good, bad)
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    for job_id in (good, bad):
        old = journal.get(job_id)
        old.state, old.finished = type(old.state)("TERMINATED"), old.created - 40 * 86400
        journal.save(old)
    journal.close()
    dry = cli(env, "clean", "--outcome", "failed,timeout", "--dry-run")
    assert dry.returncode == 0 and f"would forget {bad}" in dry.stdout and good not in dry.stdout, dry
    assert cli(env, "clean", "--outcome", "failed").returncode == 0
    assert cli(env, "status", bad).returncode != 0 and cli(env, "status", good).returncode == 0
    none = cli(env, "clean", "--outcome", "failed")
    assert none.returncode == 0 and "no finished job with outcome failed older than 30d" in none.stdout


def test_a_missing_declared_output_is_reported_but_the_job_is_fetched_and_freed(env: dict[str, str], tmp_path: Path) -> None:
    """#11 item 4: get names the output the job did not write and exits 1, yet the job reaches TERMINATED
    (its results were fetched) and free works; the next get does not fail on the file again."""
    proc = cli(env, "submit", "--output", "made.txt", "--output", "absent.txt", "--", "sh", "-c", "echo x > made.txt")
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip()
    assert cli(env, "wait", job).returncode == 0
    got = cli(env, "get", job, str(tmp_path / "out"))
    assert got.returncode == 1, got
    assert "missing  absent.txt: not written by the job" in got.stdout and "0 failed, 1 missing" in got.stdout, got.stdout
    assert len(got.stderr.splitlines()) == 1 and "absent.txt" in got.stderr and "Traceback" not in got.stderr
    assert (tmp_path / "out" / "made.txt").read_text() == "x\n"
    status = json.loads(cli(env, "status", "--json", job).stdout)
    assert status["state"] == "TERMINATED", status
    freed = cli(env, "free", job)
    assert freed.returncode == 0 and "sandbox freed" in freed.stdout, freed


def test_get_into_a_folder_that_cannot_be_made_or_of_a_freed_job_is_one_line_and_leaves_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    """#11 item 7: one line naming the path (exit 1), never an internal error; no empty folder left."""
    job = submit(env, "true")
    assert cli(env, "wait", job).returncode == 0
    bad = cli(env, "get", job, "/proc/nope/results")
    assert bad.returncode == 1 and "/proc/nope/results" in bad.stderr, bad
    assert len(bad.stderr.splitlines()) == 1 and "internal error" not in bad.stderr
    assert cli(env, "get", job, str(tmp_path / "first")).returncode == 0
    assert cli(env, "free", job).returncode == 0
    target = tmp_path / "new" / "deeper"
    freed = cli(env, "get", job, str(target))
    assert freed.returncode == 1 and f"job {job} was freed" in freed.stderr and len(freed.stderr.splitlines()) == 1, freed
    assert not (tmp_path / "new").exists()


def test_a_cluster_option_naming_no_cluster_is_a_usage_error(env: dict[str, str]) -> None:
    """#11 item 7: every usage error exits 2, a wrong --cluster too (it exited 1)."""
    for args in (["list"], ["clean"], ["history"], ["submit"]):
        proc = cli(env, *args, "--cluster", "nope", *(["--", "true"] if args == ["submit"] else []))
        assert proc.returncode == 2 and "no cluster named 'nope'" in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1
