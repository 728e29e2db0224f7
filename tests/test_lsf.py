"""LSF: parsers on every captured real output, fuzzing, and the backend end to end.

No LSF cluster can run here: the end-to-end tests use the test double in
tests/simulators/batchsim.py (real job processes, real output formats); the
parsers it feeds are batchdeck's real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchdeck.backends.errors import InvalidJobSpec, JobNotFound, ParseError, SchedulerError
from batchdeck.backends.model import JobRecord, JobSpec, RunState, SchedulerJob
from batchdeck.backends.schedulers import lsf
from batchdeck.backends.transports.base import CommandResult

from contract import Deck
from helpers import eventually
from simulators import batchsim

SAMPLES = Path(__file__).parent / "samples" / "lsf"

AIIDA_FIELDS = "id stat exit_reason exec_host user slots max_req_proc exec_host queue finish_time start_time %complete submit_time name".split()
PIPELITE_FIELDS = "jobid stat exit_code cpu_used max_mem avg_mem exec_host exit_reason".split()


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def by_id(jobs: list[SchedulerJob]) -> dict[str, SchedulerJob]:
    return {job.jobid: job for job in jobs}


def outcome(job: SchedulerJob) -> tuple[Any, ...]:
    return (job.state, job.raw_state, job.exitcode, job.signal, job.reason)


DONE = (RunState.TERMINATING, "DONE", 0, None, "finished")

# ---------------------------------------------------------------------------- every sample, parsed


def check_long(name: str, jobid: str, expected: tuple[Any, ...], queue: str) -> Callable[[], None]:
    def check() -> None:
        (job,) = lsf.parse_lsf_long(sample(name))
        assert (job.jobid, job.queue) == (jobid, queue)
        assert outcome(job) == expected

    return check


def check_bjobs_l_done() -> None:
    (job,) = lsf.parse_lsf_long(sample("bjobs-l-done.txt"))
    assert (job.jobid, job.name, job.user, job.queue) == ("131851", "ChromaExtractShort", "wwolski", "pub.8h")
    assert outcome(job) == DONE


def check_bjobs_l_long_command() -> None:
    (job,) = lsf.parse_lsf_long(sample("bjobs-l-done-long-command.txt"))
    # "Status" is cut at the line end and "<DONE>" starts the next line: still read.
    assert (job.jobid, job.name, job.queue) == ("726659", "Application", "pub.8h")
    assert outcome(job) == DONE


def check_bjobs_l_exit_127() -> None:
    (job,) = lsf.parse_lsf_long(sample("bjobs-l-exit-127.txt"))
    # 26-column continuation (timestamps with the year) split "Status" as "St" + "atus".
    assert (job.jobid, job.name, job.queue) == ("2073", "GRunApplication.0", "normal")
    assert outcome(job) == (RunState.TERMINATING, "EXIT", 127, None, "exit code 127")


def check_bjobs_l_running() -> None:
    (job,) = lsf.parse_lsf_long(sample("bjobs-l-running.txt"))
    assert (job.jobid, job.name, job.user, job.state, job.raw_state) == (
        "2924748", "toil_job_64", "thiagogenez", RunState.RUNNING, "RUN",
    )


def check_table(name: str, expected: list[tuple[str, str, str]]) -> Callable[[], None]:
    def check() -> None:
        jobs = lsf.parse_bjobs_table(sample(name))
        assert [(j.jobid, j.raw_state, j.name) for j in jobs] == expected

    return check


def check_mixed_states() -> None:
    jobs = lsf.parse_bjobs_table(sample("bjobs-w-mixed-states.txt"))
    states = {j.raw_state: j.state for j in jobs}
    assert states == {
        "RUN": RunState.RUNNING, "PEND": RunState.SUBMITTED, "PSUSP": RunState.SUBMITTED,
        "EXIT": RunState.TERMINATING, "UNKWN": RunState.UNKNOWN, "ZOMBI": RunState.UNKNOWN,
        "DONE": RunState.TERMINATING,
    }
    assert jobs[1].name == "phenix.autobuild autobuild_config.eff"  # a name with a blank
    assert jobs[-1].user == "longusername"


def check_doc_lsf4() -> None:
    jobs = lsf.parse_bjobs_table(sample("bjobs-default-doc-lsf4.txt"))
    assert [(j.jobid, j.raw_state, j.state, j.name) for j in jobs] == [
        ("3926", "RUN", RunState.RUNNING, "verilog"),
        ("605", "SSUSP", RunState.STOPPED, "Test4"),
        # PEND rows have no EXEC_HOST: the name is not mistaken for one.
        ("1480", "PEND", RunState.SUBMITTED, "generator"),
        ("7678", "PEND", RunState.SUBMITTED, "verilog"),
        ("7679", "PEND", RunState.SUBMITTED, "coreHunter"),
        ("7680", "PEND", RunState.SUBMITTED, "myjob"),
    ]


def check_aiida_delimited() -> None:
    now = time.mktime((2021, 2, 3, 0, 0, 0, 0, 0, -1))
    jobs = by_id(lsf.parse_bjobs_delimited(sample("bjobs-noheader-o-delimiter.txt"), AIIDA_FIELDS, now=now))
    assert len(jobs) == 7
    limit = jobs["764213236"]
    assert outcome(limit) == (RunState.TERMINATING, "EXIT", None, None, "killed: run time limit reached")
    assert (limit.name, limit.user, limit.queue, limit.cores) == ("aiida-1033269", "inewton", "test", 1)
    assert limit.end_time == time.mktime((2021, 2, 2, 0, 46, 0, 0, 0, -1))
    assert jobs["764220165"].state == RunState.SUBMITTED
    # The leading blank of the last line and the " L" (estimated) suffixes are tolerated.
    assert outcome(jobs["764399747"]) == DONE
    # "Dec  31 23:48" seen on Feb 3rd is last year's.
    assert jobs["764245175"].start_time == time.mktime((2020, 12, 31, 23, 48, 0, 0, 0, -1))


def check_pipelite(name: str, expected: dict[str, tuple[Any, ...]]) -> Callable[[], None]:
    def check() -> None:
        jobs = by_id(lsf.parse_bjobs_delimited(sample(name), PIPELITE_FIELDS))
        assert {jobid: outcome(job) for jobid, job in jobs.items()} == expected

    return check


def check_json_done() -> None:
    (job,) = lsf.parse_bjobs_json(sample("bjobs-o-json-done.json"))
    assert (job.jobid, job.name, job.user, job.queue, job.cores) == ("22005", "ls -l", "otptest", "short-dmg", 1)
    assert outcome(job) == DONE


def check_not_found(name: str, jobid: str) -> Callable[[], None]:
    def check() -> None:
        # "is not found" is a job-unknown result (purged), not a failure.
        assert lsf.parse_not_found(sample(name)) == {jobid}
        assert lsf.parse_bjobs_delimited(sample(name)) == []

    return check


def check_report(name: str, expected: tuple[Any, ...], command: str) -> Callable[[], None]:
    def check() -> None:
        job = lsf.parse_job_report(sample(name))
        assert outcome(job) == expected and job.name == command

    return check


def check_bqueues() -> None:
    queues = lsf.parse_bqueues(sample("bqueues-doc.txt"))
    assert [(q.name, q.state, q.pending, q.running) for q in queues] == [
        ("interactive", "up", 0, 2), ("priority", "up", 4, 11), ("night", "inactive", 4, 0),
        ("short", "up", 1, 5), ("license", "up", 0, 0), ("normal", "up", 0, 0), ("idle", "up", 3, 1),
    ]


def check_limits(name: str, cpu: int, run: int) -> Callable[[], None]:
    def check() -> None:
        assert lsf.parse_bqueues_limits(sample(name)) == {"CPULIMIT": cpu, "RUNLIMIT": run}

    return check


def check_bsub(name: str, jobid: str, queue: str) -> Callable[[], None]:
    def check() -> None:
        assert lsf.parse_bsub_output(sample(name)) == (jobid, queue)

    return check


def check_lshosts() -> None:
    (host,) = lsf.parse_lshosts(sample("lshosts-w.txt"))
    assert (host["host_name"], host["ncpus"], host["maxmem"]) == ("b66", "16", "29M")


def check_lshosts_error() -> None:
    with pytest.raises(ParseError, match="KSI2K: unknown host name"):
        lsf.parse_lshosts(sample("lshosts-error-unknown-host.txt"))


SAMPLE_CHECKS: dict[str, Callable[[], None]] = {
    "bacct-l-done-2.txt": check_long("bacct-l-done-2.txt", "3329618", DONE, "pub.1h"),
    "bacct-l-done.txt": check_long("bacct-l-done.txt", "3329613", DONE, "pub.1h"),
    "bacct-l-exit-killed-by-owner.txt": check_long(
        "bacct-l-exit-killed-by-owner.txt", "3224113", (RunState.TERMINATED, "EXIT", None, None, "cancelled"), "pub.1h"
    ),
    "bhist-l-done.txt": check_long("bhist-l-done.txt", "872795", DONE, "research-rh74"),
    "bhist-summary-and-bhist-l-exit-127.txt": check_long(
        "bhist-summary-and-bhist-l-exit-127.txt", "873209",
        (RunState.TERMINATING, "EXIT", 127, None, "exit code 127"), "research-rh74",
    ),
    "bjobs-a-w-W-done-piped-script.txt": check_table(
        "bjobs-a-w-W-done-piped-script.txt",
        [("542945", "DONE", '#!/bin/bash;#;#BSUB -q short # queue;#BSUB -e myjob.%J.err;#BSUB -o myjob.%J.out; '
          'echo "Hello world, I am in $PWD";sleep 30;echo "Goodbye, world!"')],
    ),
    "bjobs-a-w-W-lsf91-slots.txt": check_table("bjobs-a-w-W-lsf91-slots.txt", [("5861085", "RUN", "u256-1")]),
    "bjobs-a-w-W-run.txt": check_table("bjobs-a-w-W-run.txt", [("542935", "RUN", "foo")]),
    "bjobs-default-doc-lsf4.txt": check_doc_lsf4,
    "bjobs-error-job-not-found-2.stderr.txt": check_not_found("bjobs-error-job-not-found-2.stderr.txt", "864220165"),
    "bjobs-error-job-not-found.stderr.txt": check_not_found("bjobs-error-job-not-found.stderr.txt", "943186"),
    "bjobs-l-done-long-command.txt": check_bjobs_l_long_command,
    "bjobs-l-done.txt": check_bjobs_l_done,
    "bjobs-l-exit-127.txt": check_bjobs_l_exit_127,
    "bjobs-l-exit-42.txt": check_long(
        "bjobs-l-exit-42.txt", "132286", (RunState.TERMINATING, "EXIT", 42, None, "exit code 42"), "pub.1h"
    ),
    "bjobs-l-running.txt": check_bjobs_l_running,
    "bjobs-noheader-o-delimiter.txt": check_aiida_delimited,
    "bjobs-o-json-done.json": check_json_done,
    "bjobs-o-noheader-done.txt": check_pipelite("bjobs-o-noheader-done.txt", {"872793": DONE, "872794": DONE, "872795": DONE}),
    "bjobs-o-noheader-exit-and-not-found.txt": check_pipelite(
        "bjobs-o-noheader-exit-and-not-found.txt",
        {j: (RunState.TERMINATING, "EXIT", 127, None, "exit code 127") for j in ("873206", "873207", "873209")},
    ),
    "bjobs-o-noheader-exit-term-runlimit.txt": check_pipelite(
        "bjobs-o-noheader-exit-term-runlimit.txt",
        {"861487": (RunState.TERMINATING, "EXIT", 12, None, "killed: run time limit reached")},
    ),
    "bjobs-o-noheader-pend.txt": check_pipelite(
        "bjobs-o-noheader-pend.txt",
        {j: (RunState.SUBMITTED, "PEND", None, None, "pending") for j in ("861487", "861488")},
    ),
    "bjobs-sum-doc.txt": lambda: (
        lsf.parse_bjobs_sum(sample("bjobs-sum-doc.txt"))
        == {"RUN": 123, "SSUSP": 456, "USUSP": 789, "UNKNOWN": 5, "PEND": 5, "FWD_PEND": 3, "PSUSP": 3}
    ) or pytest.fail("bjobs -sum counts differ"),
    "bjobs-w-mixed-states.txt": check_mixed_states,
    "bjobs-w-with-please-wait-lines.txt": check_table(
        "bjobs-w-with-please-wait-lines.txt",
        [(j, "RUN", f"*l_cmd_{s})") for j, s in
         [("5157393", "bd"), ("5157493", "cn"), ("5157552", "dl"), ("5157610", "fe"), ("5157674", "gf"), ("5157710", "fv")]],
    ),
    "bkill-output.txt": lambda: lsf.parse_bkill_output(sample("bkill-output.txt")) == ["764254593"]
    or pytest.fail("bkill id not read"),
    "bqueues-doc.txt": check_bqueues,
    "bqueues-l-limits-excerpt-cern.txt": check_limits("bqueues-l-limits-excerpt-cern.txt", 10080 * 60, 30240 * 60),
    "bqueues-l-limits-excerpt-kek.txt": check_limits("bqueues-l-limits-excerpt-kek.txt", 720 * 60, 1440 * 60),
    "bsub-Is-messages-doc.txt": check_bsub("bsub-Is-messages-doc.txt", "2812", "normal"),
    "bsub-submit-2.txt": check_bsub("bsub-submit-2.txt", "542935", "short"),
    "bsub-submit-default-queue.txt": check_bsub("bsub-submit-default-queue.txt", "2848143", "research-rh74"),
    "bsub-submit.txt": check_bsub("bsub-submit.txt", "764254593", "test"),
    "job-report-done.txt": check_report("job-report-done.txt", DONE, "echo test"),
    "job-report-exit-127.txt": check_report(
        "job-report-exit-127.txt", (RunState.TERMINATING, "EXIT", 127, None, "exit code 127"), "dfsddf"
    ),
    "job-report-term-runlimit.txt": check_report(
        "job-report-term-runlimit.txt", (RunState.TERMINATING, "EXIT", None, 12, "killed: run time limit reached"),
        "sleep 120",
    ),
    "lshosts-error-unknown-host.txt": check_lshosts_error,
    "lshosts-w.txt": check_lshosts,
}


def sample_files() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if p.name != "PROVENANCE.md")


def test_every_sample_has_a_check_and_a_provenance_row() -> None:
    assert sample_files() == sorted(SAMPLE_CHECKS)
    provenance = (SAMPLES / "PROVENANCE.md").read_text()
    for name in sample_files():
        assert f"| `{name}` |" in provenance


@pytest.mark.parametrize("name", sorted(SAMPLE_CHECKS))
def test_sample(name: str) -> None:
    SAMPLE_CHECKS[name]()


# ---------------------------------------------------------------------------- conventions


@pytest.mark.parametrize(
    ("stat", "code", "reason", "expected"),
    [
        ("EXIT", "1", "", (RunState.TERMINATING, 1, None, "exit code 1")),
        ("EXIT", "137", "", (RunState.TERMINATING, None, 9, "killed by signal 9 (SIGKILL)")),
        ("EXIT", "130", "TERM_OWNER: job killed by owner", (RunState.TERMINATED, None, 2, "cancelled")),
        ("EXIT", "", "TERM_FORCE_OWNER: job killed by owner", (RunState.TERMINATED, None, None, "cancelled")),
        ("EXIT", "140", "TERM_RUNLIMIT: job killed after reaching LSF run time limit",
         (RunState.TERMINATING, None, 12, "killed: run time limit reached")),
        ("EXIT", "", "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit",
         (RunState.TERMINATING, None, None, "killed: memory limit reached")),
        ("EXIT", "", "TERM_ADMIN: job killed by root", (RunState.TERMINATING, None, None, "killed by an administrator")),
        ("USUSP", "", "", (RunState.STOPPED, None, None, "suspended by the owner or an administrator")),
        ("PSUSP", "", "", (RunState.SUBMITTED, None, None, "held while pending")),
        ("WEIRD", "", "", (RunState.UNKNOWN, None, None, "unknown LSF job state 'WEIRD'")),
    ],
)
def test_exit_codes_and_term_reasons(stat: str, code: str, reason: str, expected: tuple[Any, ...]) -> None:
    assert lsf.lsf_state(stat, code, reason) == expected


def make_job(**spec: Any) -> JobRecord:
    spec.setdefault("command", ["true"])
    return JobRecord(id="abcd1234", cluster="c", spec=JobSpec(name="demo", **spec))


def test_directives() -> None:
    job = make_job(cores=4, memory_per_core=500, walltime=3 * 3600 + 1, queue="short")
    assert lsf.LsfBatchSystem("c").script_directives(job, "/sb/abcd1234") == [
        "#BSUB -J bd-abcd1234-demo",
        "#BSUB -q short",
        "#BSUB -n 4",
        '#BSUB -R "rusage[mem=500]"',
        "#BSUB -W 3:01",  # rounded up: never less than asked
        # LSF spools -o/-e until the job ends: the script writes the job's output itself.
        "#BSUB -o /sb/abcd1234/.batchdeck/scheduler.out",
        "#BSUB -e /sb/abcd1234/.batchdeck/scheduler.err",
    ]
    assert lsf.lsf_walltime(600) == "10"


def test_same_stdout_and_stderr_merges_them_in_the_script() -> None:
    script = lsf.LsfBatchSystem("c").render_script(make_job(stdout="log", stderr="log"), "/sb/x")
    assert "\nexec > log 2>&1\n" in script


def test_bsub_reads_the_script_on_stdin() -> None:
    job = make_job()
    job.sandbox = "/sb/abcd1234"
    argv, stdin = lsf.LsfBatchSystem("c", sandbox_root="/sb").submit_argv(job, "/sb/abcd1234/.batchdeck/job.sh")
    assert argv == ["bsub"]
    assert stdin is not None and b"#BSUB -J bd-abcd1234-demo\n" in stdin and b"cd /sb/abcd1234 || exit 1" in stdin


def test_queue_name_cannot_inject_script_lines() -> None:
    with pytest.raises(InvalidJobSpec):
        lsf.LsfBatchSystem("c").validate_spec(JobSpec(command=["true"], queue="short\n#BSUB -G admin"))


# ---------------------------------------------------------------------------- fuzzing
# Every parser above is fuzzed by tests/test_parser_fuzz.py (tests/fuzz.py lists them).


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30), st.floats(0, 4e9))
def test_lsf_time_never_raises(text: str, now: float) -> None:
    lsf.parse_lsf_time(text, now)


# ---------------------------------------------------------------------------- on the simulator
# What every backend promises runs on the simulator in tests/test_contract.py (kind lsf);
# these are LSF's own behaviours, on the same deck fixture.


@pytest.fixture
def deck_kind() -> str:
    return "lsf"


async def test_one_bjobs_listing_per_refresh(deck: Deck) -> None:
    job = await deck.shell("echo out; echo err >&2; exit 3", name="first")
    assert (job.jobid, job.queue, job.state) == ("1001", "normal", RunState.SUBMITTED)
    await deck.wait_state(job, RunState.TERMINATING)
    assert (job.exitcode, job.signal, job.reason, job.raw_state) == (3, None, "exit code 3", "EXIT")
    assert job.started is not None
    long = await deck.submit(command=["sleep", "60"], name="long")
    await deck.wait_state(long, RunState.RUNNING)
    await deck.backend.cancel_job(long)
    await deck.wait_state(long, RunState.TERMINATED)
    assert (long.reason, long.raw_state) == ("cancelled", "EXIT")
    # One bjobs per refresh, always the same single listing of every job.
    listing = [c for c in deck.transport.commands if c[0] == "bjobs"]
    assert listing and all(c == ["bjobs", "-a", "-o", " ".join(lsf.BJOBS_FIELDS), "-json"] for c in listing)
    queues = {q.name: q for q in await deck.backend.list_queues()}
    assert set(queues) == {"normal", "short"} and queues["normal"].state == "up"


@pytest.mark.parametrize("accounting", ["bacct", "bhist"])
async def test_job_cleaned_out_of_bjobs_is_found_in_accounting(
    accounting: str, deck: Deck, monkeypatch: pytest.MonkeyPatch
) -> None:
    if accounting == "bhist":
        monkeypatch.setenv("BATCHDECK_SIM_NO_BACCT", "1")  # bacct knows nothing: bhist must answer
    job = await deck.shell("exit 42", name="quick")

    def cleaned() -> bool:
        # Asking bjobs directly ages the finished job out (CLEAN_PERIOD), as time would.
        out = subprocess.run(["bjobs", "-a", "-o", "jobid stat", "-json"], capture_output=True, text=True).stdout
        return '"1001"' not in out

    await eventually(cleaned, 30, "the finished job to leave bjobs -a")
    await deck.backend.update_job_states([job])
    assert (job.state, job.exitcode, job.raw_state) == (RunState.TERMINATING, 42, "EXIT")
    assert any(c[0] == accounting for c in deck.transport.commands)


async def test_submit_to_a_missing_queue_is_a_clear_error(deck: Deck) -> None:
    job = deck.record(command=["true"], queue="nosuch")
    with pytest.raises(SchedulerError) as info:
        await deck.backend.submit_job(job)
    assert str(info.value) == "bsub: nosuch: No such queue. Job not submitted."


async def test_empty_queue_is_no_jobs(deck: Deck) -> None:
    assert await deck.backend.query_jobs() == []


# ---------------------------------------------------------------------------- through the CLI

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The LSF test double installed first on PATH."""
    batchsim.install(tmp_path / "bin", tmp_path / "state")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*BATCHDECK, "--config", str(config), *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"batchdeck {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


async def test_cli_end_to_end(simulator: Path, tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.mylsf]\ntype = "lsf"\ntransport = "local"\nsandbox_root = "{tmp_path / "sb"}"\n')
    job_id = cli(config, "submit", "--cluster", "mylsf", "--name", "hello", "--", "sh", "-c", "echo hi there").stdout.strip()

    def finished() -> bool:
        return json.loads(cli(config, "status", job_id, "--json").stdout)["state"] == "TERMINATING"

    await eventually(finished, 30, "the CLI to report the job finished")
    record = json.loads(cli(config, "status", job_id, "--json").stdout)
    assert (record["jobid"], record["exitcode"], record["raw_state"], record["queue"]) == ("1001", 0, "DONE", "normal")
    assert cli(config, "peek", job_id).stdout == "hi there\n"
    assert [r["id"] for r in json.loads(cli(config, "list", "--json").stdout)] == [job_id]
    (tmp_path / "out").mkdir()
    cli(config, "get", job_id, str(tmp_path / "out"))
    assert (tmp_path / "out" / "stdout.txt").read_text() == "hi there\n"
    cli(config, "free", job_id)

    long_id = cli(config, "submit", "--cluster", "mylsf", "--name", "long", "--", "sleep", "60").stdout.strip()
    cli(config, "cancel", long_id)

    def cancelled() -> bool:
        return json.loads(cli(config, "status", long_id, "--json").stdout)["reason"] == "cancelled"

    await eventually(cancelled, 30, "the CLI to report the job cancelled")
    assert json.loads(cli(config, "status", long_id, "--json").stdout)["state"] == "TERMINATED"
    queues = json.loads(cli(config, "queues", "--cluster", "mylsf", "--json").stdout)
    assert {q["name"] for q in queues} == {"normal", "short"}


# ---------------------------------------------------------------------------- any of the user's jobs: parsers

#: the gc3pie samples come from ETH Brutus in 2012 (events carry no year)
NOW_2012 = time.mktime((2012, 12, 1, 0, 0, 0, 0, 0, -1))


def test_bacct_history_with_seff_efficiencies() -> None:
    (done,) = lsf.parse_bacct_history(sample("bacct-l-done.txt"), NOW_2012)
    assert (done.jobid, done.name, done.user, done.queue, done.state) == ("3329613", "sleep 60", "rmurri", "pub.1h", "DONE")
    assert (done.outcome, done.exitcode, done.cores) == ("ok", 0, 1)
    # CPU_T 0.08, WAIT 50, TURNAROUND 117 (dispatched 17:08:44, completed 17:09:51), MEM 5M
    assert (done.cpu_time, done.elapsed, done.max_rss) == (0.08, 67, 5)
    assert done.end_time is not None and done.start_time is not None and done.end_time - done.start_time == 67
    assert done.cpu_efficiency == round(0.08 / 67, 4) and done.memory_efficiency is None  # no rusage[mem=] asked
    (killed,) = lsf.parse_bacct_history(sample("bacct-l-exit-killed-by-owner.txt"), NOW_2012)
    assert (killed.outcome, killed.state, killed.elapsed, killed.max_rss) == ("cancelled", "EXIT", 55, 1)
    assert lsf.parse_bacct_history(sample("bacct-l-done-2.txt"), NOW_2012, since=done.end_time + 3600) == []
    assert lsf.parse_bacct_history("No matching job found\n", NOW_2012) == []


def test_bhist_long_blocks_read_as_history_too() -> None:
    (failed,) = lsf.parse_bacct_history(sample("bhist-summary-and-bhist-l-exit-127.txt"), NOW_2012)
    assert (failed.jobid, failed.outcome, failed.exitcode, failed.cores) == ("873209", "failed", 127, 1)


def test_details_from_bjobs_json_and_from_accounting() -> None:
    details = lsf.parse_lsf_details(sample("bjobs-o-json-done.json"), "c", NOW_2012)
    assert (details.jobid, details.name, details.user, details.queue, details.raw_state) == ("22005", "ls -l", "otptest", "short-dmg", "DONE")
    assert (details.time_limit, details.elapsed, details.dependency, details.workdir) == (600, 1, "done(22004)", "/some/test")
    assert details.stdout == "" and details.command == "ls -l"  # no -o: LSF mails the output
    gone = lsf.parse_lsf_details("@@@ bacct\n" + sample("bacct-l-exit-killed-by-owner.txt"), "c", NOW_2012)
    assert (gone.jobid, gone.state, gone.outcome, gone.workdir) == ("3224113", RunState.TERMINATED, "cancelled", "$HOME")
    assert gone.stdout == gone.stderr == "$HOME/lsf.o3224113"  # Output File <lsf.o%J>, no -e
    assert lsf.lsf_output_path("logs/%J_%I.out", "12[3]", "/w", "") == "/w/logs/12_3.out"
    assert lsf.lsf_output_path("$HOME/o/", "12", "/w", "/home/me") == "/home/me/o/12.out"


@pytest.mark.parametrize("name", ["bjobs-error-job-not-found.stderr.txt", "bjobs-error-job-not-found-2.stderr.txt"])
def test_details_of_an_unknown_job_is_job_not_found_with_lsfs_line(name: str) -> None:
    backend = lsf.LsfBatchSystem("c", sandbox_root="/tmp/x")
    text = sample(name)
    result = CommandResult(["sh"], 0, text + "@@@ bacct\nNo matching job found\n", "")
    with pytest.raises(JobNotFound) as info:
        backend.parse_details_output("1", result)
    assert str(info.value).endswith(f"({text.strip()})")


def test_control_commands() -> None:
    assert lsf.lsf_control_argv("cancel", "7") == ["bkill", "7"]
    assert lsf.lsf_control_argv("signal", "7", "USR1") == ["bkill", "-s", "USR1", "7"]
    # a pending job's hold is bstop too (PSUSP); bresume releases it
    assert (lsf.lsf_control_argv("hold", "7"), lsf.lsf_control_argv("release", "7")) == (["bstop", "7"], ["bresume", "7"])
    assert lsf.lsf_control_argv("time_limit", "7", "5400") == ["bmod", "-W", "1:30", "7"]
    with pytest.raises(InvalidJobSpec, match="whole minutes"):
        lsf.lsf_control_argv("time_limit", "7", "90")


# ---------------------------------------------------------------------------- any of the user's jobs: on the simulator


def _bsub(script: str, *args: str) -> str:
    out = subprocess.run(["bsub", *args], input=script, capture_output=True, text=True, check=True).stdout
    return lsf.parse_bsub_output(out)[0]


def _show(config: Path, jobid: str) -> dict[str, Any]:
    return json.loads(cli(config, "show", f"lsf:{jobid}", "--json").stdout)  # type: ignore[no-any-return]


async def test_plain_bsub_jobs_shown_peeked_held_released_and_in_history(simulator: Path, tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.lsf]\ntype = "lsf"\ntransport = "local"\nsandbox_root = "{tmp_path / "sb"}"\n')
    burn = (
        f"#BSUB -J burn\n#BSUB -o {tmp_path}/burn.%J.out\n#BSUB -R \"rusage[mem=256]\"\necho burning\n"
        f"'{sys.executable}' -c 'import time\nx = bytearray(64 << 20)\nt = time.process_time()\n"
        "while time.process_time() - t < 1: pass'\n"
    )
    done_id = _bsub(burn)
    held = _bsub(burn, "-H")
    long = _bsub(f"#BSUB -J long\n#BSUB -o {tmp_path}/long.out\nsleep 60\n")
    shown = _show(config, held)
    assert (shown["name"], shown["state"], shown["raw_state"]) == ("burn", "SUBMITTED", "PSUSP")
    assert shown["stdout"] == shown["stderr"] == f"{tmp_path}/burn.{held}.out"  # %J; no -e: stderr into -o

    await eventually(lambda: _show(config, done_id)["state"] == "TERMINATING", 30, "the plain bsub job to finish")
    assert cli(config, "peek", f"lsf:{done_id}").stdout == "burning\n"
    records = {r["jobid"]: r for r in json.loads(cli(config, "history", "--cluster", "lsf", "--json").stdout)}
    record = records[done_id]
    assert (record["name"], record["outcome"], record["exitcode"], record["cores"]) == ("burn", "ok", 0, 1)
    assert record["requested_memory"] == 256 and 64 <= record["max_rss"] < 256 and record["cpu_time"] >= 1
    assert 0.25 <= record["memory_efficiency"] < 1 and record["cpu_efficiency"] is not None
    assert held not in records and long not in records

    # hold of a running job is LSF's suspend (USUSP); release resumes it
    await eventually(lambda: _show(config, long)["state"] == "RUNNING", 30, "the long job to run")
    cli(config, "hold", f"lsf:{long}")
    assert _show(config, long)["raw_state"] == "USUSP"
    cli(config, "release", f"lsf:{long}")
    assert _show(config, long)["raw_state"] == "RUN"
    cli(config, "timelimit", f"lsf:{long}", "90m")
    assert _show(config, long)["time_limit"] == 5400
    cli(config, "release", f"lsf:{held}")
    await eventually(lambda: _show(config, held)["state"] == "TERMINATING", 30, "the released job to run")
    cli(config, "cancel", f"lsf:{long}")
    await eventually(lambda: _show(config, long)["outcome"] == "cancelled", 30, "bkill to end the job")
    unknown = subprocess.run([*BATCHDECK, "--config", str(config), "show", "lsf:99999"], capture_output=True, text=True)
    assert unknown.returncode == 1 and unknown.stderr.strip().splitlines() == [
        "batchdeck: error: cluster 'lsf' knows no job '99999' (Job <99999> is not found)"
    ]
