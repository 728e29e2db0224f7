"""The app's pure parts: state colours, row building, form checking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.color import Color, ColorSystem

from batchdeck.backends.engine.deck import HOST_KEYS_NOT_VERIFIED, ClusterStatus, Deck
from batchdeck.backends.engine.session import RefreshInfo
from batchdeck.backends.model import JobRecord, JobSpec, RunState, SchedulerJob
from batchdeck.themes import STATE_ROLES, THEMES
from batchdeck.tui.rows import JobFilter, clock_text, cluster_prompt, job_role, other_key, visible_rows
from batchdeck.tui.submit_screen import check_form


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_state_colours_stay_distinct_on_16_colour_terminals(theme) -> None:  # noqa: ANN001
    numbers = {
        role: Color.parse(theme.variables[f"bd-{role}"]).downgrade(ColorSystem.STANDARD).number
        for role in STATE_ROLES
    }
    background = Color.parse(theme.background or "").downgrade(ColorSystem.STANDARD).number
    assert len(set(numbers.values())) == len(STATE_ROLES), numbers
    assert background not in numbers.values()
    # The same hue family in every theme: ANSI red/green/yellow/blue (normal or bright).
    assert numbers["failed"] % 8 == 1 and numbers["done"] % 8 == 2 and numbers["pending"] % 8 == 3
    assert numbers["running"] % 8 in (4, 6)


def _job(ident: str, state: RunState, **kwargs: object) -> JobRecord:
    return JobRecord(id=ident, cluster="c", spec=JobSpec(command=["x"], name=ident), state=state, **kwargs)  # type: ignore[arg-type]


def test_roles() -> None:
    assert job_role(_job("a", RunState.SUBMITTED)) == "pending"
    assert job_role(_job("a", RunState.RUNNING)) == "running"
    assert job_role(_job("a", RunState.RUNNING, stale=True)) == "stale"
    assert job_role(_job("a", RunState.TERMINATING, exitcode=0)) == "done"
    assert job_role(_job("a", RunState.TERMINATING, exitcode=2)) == "failed"
    assert job_role(_job("a", RunState.TERMINATED, reason="cancelled")) == "failed"



def test_cached_rows_read_as_fresh_ones_and_follow_every_change() -> None:
    from batchdeck.backends.engine.deck import ClusterStatus

    jobs = [_job("run00001", RunState.RUNNING, started=0.5), _job("end00001", RunState.TERMINATING, exitcode=0, started=0.0, finished=5.0)]
    statuses = {"c": ClusterStatus("c")}
    cache: dict = {}

    def both(now: float) -> dict:
        cached = visible_rows(jobs, statuses, JobFilter(), now, {}, cache)
        assert cached == visible_rows(jobs, statuses, JobFilter(), now, {}), now
        return cached

    first = both(10.2)
    assert first["run00001"][6] == "00:00:09"
    assert both(10.9)["run00001"][6] == "00:00:10"  # same second of the clock, the next of the job's
    assert both(11.0)["end00001"] is first["end00001"]  # a finished job's row is not drawn again
    jobs[1].exitcode, jobs[1].reason = 3, "failed"
    assert "exit 3" in str(both(11.0)["end00001"][7])
    jobs[0].stale = True
    assert "stale" in str(both(11.0)["run00001"][5])
    del jobs[1]
    both(12.0)
    assert list(cache) == ["run00001"]

def test_visible_rows_mark_other_jobs_and_filter() -> None:
    from batchdeck.backends.engine.deck import ClusterStatus

    jobs = [_job("aaaaaaaa", RunState.RUNNING, queue="q1", started=0.0)]
    status = ClusterStatus(
        "c",
        other_jobs=[
            SchedulerJob("7", RunState.RUNNING, name="mine-by-hand", queue="q2"),
            SchedulerJob("8", RunState.RUNNING, name="bd-aaaaaaaa-x", queue="q1"),  # batchdeck's own
        ],
    )
    rows = visible_rows(jobs, {"c": status}, JobFilter(), 90.0, {})
    assert list(rows) == ["aaaaaaaa", other_key("c", "7")]
    assert str(rows[other_key("c", "7")][0]) == "other"
    assert rows["aaaaaaaa"][6] == "00:01:30"
    assert list(visible_rows(jobs, {"c": status}, JobFilter(queue="q2"), 90.0, {})) == [other_key("c", "7")]
    assert list(visible_rows(jobs, {"c": status}, JobFilter(text="BY-HAND"), 90.0, {})) == [other_key("c", "7")]


@pytest.fixture
def limited_deck(tmp_path: Path) -> Deck:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path}"\nmax_cores = 4\n'
        'max_memory_per_core = "2G"\nmax_walltime = "1:00:00"\n'
    )
    return Deck.open()


def test_check_form(limited_deck: Deck, tmp_path: Path) -> None:
    ok = check_form({"command": "python -c 'print(1)'", "cores": "2", "memory": "1G", "walltime": "30m"}, "c",
                    limited_deck)
    assert ok.errors == {}
    assert ok.spec is not None and ok.spec.command == ["python", "-c", "print(1)"]
    assert ok.spec.memory_per_core == 1024 and ok.spec.walltime == 1800 and ok.spec.name == "python"

    bad = check_form({"command": "x", "cores": "8", "memory": "4G", "walltime": "2h"}, "c", limited_deck)
    assert bad.spec is None
    assert "max_cores" in bad.errors["cores"]
    assert "max_memory_per_core" in bad.errors["memory"]
    assert "max_walltime" in bad.errors["walltime"]

    script = tmp_path / "s.sh"
    script.write_text("echo hi\n")
    both = check_form({"command": "x", "script": str(script)}, "c", limited_deck)
    assert "not both" in both.errors["script"]
    only_script = check_form({"script": str(script), "inputs": f"{script}=in.sh", "outputs": "a b"}, "c", limited_deck)
    assert only_script.spec is not None and only_script.spec.script == "echo hi\n"
    assert only_script.spec.inputs == {str(script): "in.sh"} and only_script.spec.outputs == ["a", "b"]
    missing = check_form({"command": "x", "inputs": str(tmp_path / "nope")}, "c", limited_deck)
    assert "does not exist" in missing.errors["inputs"]
    assert "no cluster" in check_form({"command": "x"}, "zz", limited_deck).errors["cluster"]


def test_a_cluster_that_skips_host_key_checks_says_so_on_its_row() -> None:
    status = ClusterStatus("far", state="connected", warning=HOST_KEYS_NOT_VERIFIED)
    text = cluster_prompt(status, {}, {}, 0).plain
    assert "SSH host keys are NOT verified (ignore_ssh_host_keys = true)" in text
    assert "NOT verified" not in cluster_prompt(ClusterStatus("near", state="connected"), {}, {}, 0).plain


def test_a_multi_line_command_reads_as_one_line() -> None:
    from batchdeck.tui.rows import command_text

    assert command_text(["python3", "train.py", "--lr", "0.1"]) == "python3 train.py --lr 0.1"
    assert command_text(["sh", "-c", "echo it's\nsleep 1\necho done"]) == "sh -c 'echo it'\"'\"'s …' (+2 lines)"
    assert command_text(["echo", "x" * 200], width=40) == "echo " + "x" * 34 + "…"
    assert len(command_text(["echo", "x" * 200], width=40)) == 40


def test_details_show_local_times_and_ages() -> None:
    import time

    from batchdeck.tui.main_screen import job_detail

    job = _job("a1b2c3d4", RunState.RUNNING, submitted=1000.0, started=1030.0)
    text = job_detail(job, 1000.0 + 2 * 3600).plain
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1030.0))
    assert f"started {local} (01:59:30 ago)" in text and "ended" not in text
    assert "a1b2c3d4  a1b2c3d4 on c" in text  # the id and the name apart


def test_the_clusters_pane_says_when_a_cluster_was_refreshed_and_when_a_failing_one_is_tried_again() -> None:
    at = 1_700_000_000.0
    ok = cluster_prompt(ClusterStatus("hpc", state="connected"), {}, {}, 0, RefreshInfo(10.0, at, 0, None)).plain
    assert f"refreshed {clock_text(at)}, every 10s" in ok
    failing = cluster_prompt(
        ClusterStatus("hpc", state="error", error="ssh: connection refused"), {}, {}, 0,
        RefreshInfo(120.0, at, 3, at + 960),
    ).plain
    assert f"failed 3× in a row, next try {clock_text(at + 960)}" in failing and "connection refused" in failing
    # never polled yet (a first frame): nothing to say
    assert "refreshed" not in cluster_prompt(ClusterStatus("hpc"), {}, {}, 0, RefreshInfo(10.0, None, 0, None)).plain
