"""PBS Pro / TORQUE: parsers on every captured real output, fuzzing, and the backend end to end.

No PBS server can run here: the end-to-end tests use the test double in
tests/simulators/batchsim.py (real job processes, real output formats); the
parsers it feeds are batchdeck's real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batchdeck.backends.errors import InvalidJobSpec, JobNotFound, ParseError, SchedulerError
from batchdeck.backends.model import JobRecord, JobSpec, RunState, SchedulerJob
from batchdeck.backends.schedulers import pbs
from batchdeck.backends.transports.base import CommandResult

from contract import Deck
from helpers import eventually
from simulators import batchsim

SAMPLES = Path(__file__).parent / "samples"


def sample(path: str) -> str:
    return (SAMPLES / path).read_text()


def by_id(jobs: list[SchedulerJob]) -> dict[str, SchedulerJob]:
    return {job.jobid: job for job in jobs}


# ---------------------------------------------------------------------------- every sample, parsed

def check_qstat_f_multi_pro() -> None:
    jobs = by_id(pbs.parse_qstat_f(sample("pbspro/qstat-f-multi-job-queued-running-held.txt"), "pro"))
    assert len(jobs) == 6
    queued = jobs["68350.mycluster"]
    assert (queued.state, queued.raw_state, queued.queue, queued.cores) == (RunState.SUBMITTED, "Q", "Q_express", 240)
    # The scheduler's comment is the human reason of a waiting job.
    assert queued.reason == "Not Running: Node is in an ineligible state: offline"
    assert jobs["69301.mycluster"].state == RunState.RUNNING
    assert (jobs["69302.mycluster"].state, jobs["69302.mycluster"].raw_state) == (RunState.SUBMITTED, "H")


def check_qstat_f_queued_pro() -> None:
    (job,) = pbs.parse_qstat_f(sample("pbspro/qstat-f-queued.txt"), "pro")
    assert job.jobid == "315236.kman.restech.unsw.edu.au"  # full id, server suffix kept
    assert (job.state, job.name, job.user, job.queue, job.cores) == (RunState.SUBMITTED, "job.pbs", "z1234567", "general12", 1)


def check_qstat_xf_finished() -> None:
    (job,) = pbs.parse_qstat_f(sample("pbspro/qstat-xf-finished-exit0.txt"), "pro")
    assert (job.state, job.raw_state, job.exitcode, job.signal) == (RunState.TERMINATING, "F", 0, None)
    assert job.elapsed == 9
    assert job.end_time is not None and job.start_time is not None and job.end_time - job.start_time == 14
    # The comment wrapped onto a TAB line is glued back exactly.
    assert job.comment == "Job run at Thu Aug 10 at 16:10 on (k242:ncpus=1:mem=1048576kb:ngpus=0) and finished"


def check_qstat_json_running() -> None:
    (job,) = pbs.parse_qstat_json(sample("pbspro/qstat-xf-F-json-running.json"), "pro")
    assert job.jobid == "12860476.meta-pbs.metacentrum.cz"
    assert (job.state, job.name, job.user, job.queue, job.cores) == (RunState.RUNNING, "swrap_01", "jan_brezina", "charon_2h", 4)


def check_qstat_queues_json() -> None:
    (queue,) = pbs.parse_qstat_queues_json(sample("pbspro/qstat-Qf-F-json.json"))
    assert (queue.name, queue.state, queue.max_walltime, queue.total_cores, queue.free_cores) == ("qexp", "up", 3600, 576, 576)
    assert (queue.running, queue.pending, queue.nodes) == (0, 2, 16)


def check_qstat_default() -> None:
    jobs = pbs.parse_qstat_table(sample("pbspro/qstat-default.txt"))
    assert [j.raw_state for j in jobs] == ["Q", "R", "R", "R", "R", "R", "R"]
    assert (jobs[0].jobid, jobs[0].name, jobs[0].user, jobs[0].queue) == ("245821.kman", "s-m20-i20-200h", "z1234567", "medicine200")


def check_qstat_su_comments() -> None:
    jobs = pbs.parse_qstat_table(sample("pbspro/qstat-su-alternate-format-with-comments.txt"))
    assert [(j.jobid, j.state) for j in jobs] == [("315230.kman.res", RunState.RUNNING), ("315233.kman.res", RunState.SUBMITTED)]


def check_qstat_u_queued() -> None:
    (job,) = pbs.parse_qstat_table(sample("pbspro/qstat-u-alternate-format-queued.txt"))
    assert (job.user, job.queue, job.name, job.state) == ("z2134567", "general1", "job.pbs", RunState.SUBMITTED)


def check_qstat_u_running() -> None:
    (job,) = pbs.parse_qstat_table(sample("pbspro/qstat-u-alternate-format-running.txt"))
    assert (job.jobid, job.state, job.queue) == ("387775.cirrus-login0", RunState.RUNNING, "workq")


def check_qstat_xu_finished() -> None:
    jobs = pbs.parse_qstat_table(sample("pbspro/qstat-xu-alternate-format-finished.txt"))
    assert [j.name for j in jobs] == ["test1", "test2", "test3", "test4", "test5"]
    assert {j.state for j in jobs} == {RunState.TERMINATING}


def check_unknown_job_pro() -> None:
    text = sample("pbspro/qstat-error-unknown-job-id.stderr.txt")
    assert pbs.parse_unknown_job_ids(text) == {"10000.c2cf5fbe1102"}


def check_finished_use_x() -> None:
    # "Job has finished, use -x": not a failure, the job simply left the live queue.
    text = sample("pbspro/qstat-error-job-finished-use-x.stderr.txt")
    assert pbs.parse_unknown_job_ids(text) == {"1008.c2cf5fbe1102"}


def check_torque_multi() -> None:
    jobs = by_id(pbs.parse_qstat_f(sample("torque/qstat-f-multi-job-completed-queued-running-held.txt"), "torque"))
    assert [j.raw_state for j in jobs.values()] == ["C", "Q", "R", "H"]
    done = jobs["14973441.tbi-pbs-ng.inet.dkfz-heidelberg.de"]
    assert (done.state, done.exitcode) == (RunState.TERMINATING, 0)


def check_torque_newlines() -> None:
    jobs = by_id(pbs.parse_qstat_f(sample("torque/qstat-f-multi-job-unexpected-newlines.txt"), "torque"))
    assert len(jobs) == 10
    killed = jobs["546437"]
    # TORQUE's 271 is 256 + SIGTERM: a signal, not an exit code.
    assert (killed.state, killed.exitcode, killed.signal) == (RunState.TERMINATING, None, 15)
    assert "SIGTERM" in killed.reason
    assert jobs["549159"].state == RunState.SUBMITTED and jobs["555716"].state == RunState.RUNNING
    assert jobs["555716"].cores == 96  # nodes=4:ppn=24


def check_torque_held() -> None:
    jobs = pbs.parse_qstat_f(sample("torque/qstat-f-held-dependency.txt"), "torque")
    assert [(j.raw_state, j.state, j.reason) for j in jobs] == [("H", RunState.SUBMITTED, "held")] * 2


def check_torque_running() -> None:
    (job,) = pbs.parse_qstat_f(sample("torque/qstat-f-running.txt"), "torque")
    assert (job.jobid, job.state, job.queue) == ("55755440.seer.t1.grid.kiae.ru", RunState.RUNNING, "lhcb")


def check_torque_array() -> None:
    (job,) = pbs.parse_qstat_f(sample("torque/qstat-f-t-array-job.txt"), "torque")
    assert (job.array_id, job.array_task, job.signal) == ("48[].torque01.bcgsc.ca", "1", 15)
    assert job.comment.endswith("can never be satisfied")


def check_torque_completed() -> None:
    (job,) = pbs.parse_qstat_f(sample("torque/qstat-f-t-completed.txt"), "torque")
    assert (job.jobid, job.state, job.exitcode, job.name) == ("9.torque01.bcgsc.ca", RunState.TERMINATING, 0, "subtest.sh")


def check_torque_xml_completed() -> None:
    (job,) = pbs.parse_qstat_xml(sample("torque/qstat-x-xml-completed.xml"))
    assert (job.jobid, job.state, job.exitcode) == ("4564045.pbsserver", RunState.TERMINATING, 0)


def check_torque_xml_multi() -> None:
    jobs = pbs.parse_qstat_xml(sample("torque/qstat-x-xml-multi-job.xml"))
    assert [j.raw_state for j in jobs] == ["Q", "Q", "R", "R", "R", "R", "Q"]


def check_torque_xml_queued() -> None:
    (job,) = pbs.parse_qstat_xml(sample("torque/qstat-x-xml-queued.xml"))
    assert (job.jobid, job.state, job.queue, job.cores) == ("4499334.pbsserver", RunState.SUBMITTED, "otp", 4)
    assert job.submit_time == 1522255162


def check_torque_line(name: str, state: RunState) -> Callable[[], None]:
    def check() -> None:
        (job,) = pbs.parse_qstat_table(sample(f"torque/{name}"), "torque")
        assert (job.jobid, job.state, job.queue) == ("123", state, "short")

    return check


def check_tracejob_completed() -> None:
    (job,) = pbs.parse_tracejob(sample("torque/tracejob-completed-exit0.txt"))
    assert (job.jobid, job.state, job.exitcode, job.name, job.queue) == ("123", RunState.TERMINATING, 0, "DemoPBSApp", "short")
    assert job.elapsed == 125


def check_tracejob(name: str, state: RunState) -> Callable[[], None]:
    def check() -> None:
        (job,) = pbs.parse_tracejob(sample(f"torque/{name}"))
        assert (job.jobid, job.state, job.user) == ("123", state, "amessina")

    return check


def check_tracejob_stderr(name: str) -> Callable[[], None]:
    def check() -> None:
        # tracejob's complaints about log directories name no job and carry no state.
        text = sample(f"torque/{name}")
        assert pbs.parse_unknown_job_ids(text) == set()
        assert pbs.parse_tracejob("") == []
        with pytest.raises(ParseError):
            pbs.parse_tracejob(text)

    return check


def check_torque_unknown(name: str) -> Callable[[], None]:
    def check() -> None:
        assert pbs.parse_unknown_job_ids(sample(f"torque/{name}")) == {"123"}

    return check


def check_error_message(name: str, command: str, status: int, words: str) -> Callable[[], None]:
    def check() -> None:
        text = sample(f"torque/{name}")
        assert pbs.parse_unknown_job_ids(text) == set()  # a real failure, not "job unknown"
        error = pbs.pbs_error(command, CommandResult([command], status, "", text))
        assert str(error) == f"{command}: {words}" and error.exit_status == status

    return check


def check_qstat_Q_f_torque() -> None:
    (queue,) = pbs.parse_qstat_queues(sample("torque/qstat-Q-f.txt"))
    assert (queue.name, queue.state, queue.running, queue.pending) == ("queue1", "up", 0, 0)


def check_qmgr() -> None:
    server = pbs.parse_qmgr_server(sample("torque/qmgr-c-list-server.txt"))
    assert (server["name"], server["pbs_version"], server["server_state"]) == ("head.domain.com", "2.3.7", "Active")


def check_pbsnodes() -> None:
    (node,) = pbs.parse_pbsnodes(sample("torque/pbsnodes-a.txt"))
    assert (node["name"], node["state"], node["np"]) == ("node1", "free", "2")
    assert "totmem=5220132kb" in node["status"]


def check_qsub(path: str, jobid: str) -> Callable[[], None]:
    def check() -> None:
        assert pbs.parse_qsub_output(sample(path)) == jobid

    return check


SAMPLE_CHECKS: dict[str, Callable[[], None]] = {
    "pbspro/qstat-Qf-F-json.json": check_qstat_queues_json,
    "pbspro/qstat-default.txt": check_qstat_default,
    "pbspro/qstat-error-job-finished-use-x.stderr.txt": check_finished_use_x,
    "pbspro/qstat-error-unknown-job-id.stderr.txt": check_unknown_job_pro,
    "pbspro/qstat-f-multi-job-queued-running-held.txt": check_qstat_f_multi_pro,
    "pbspro/qstat-f-queued.txt": check_qstat_f_queued_pro,
    "pbspro/qstat-su-alternate-format-with-comments.txt": check_qstat_su_comments,
    "pbspro/qstat-u-alternate-format-queued.txt": check_qstat_u_queued,
    "pbspro/qstat-u-alternate-format-running.txt": check_qstat_u_running,
    "pbspro/qstat-xf-F-json-running.json": check_qstat_json_running,
    "pbspro/qstat-xf-finished-exit0.txt": check_qstat_xf_finished,
    "pbspro/qstat-xu-alternate-format-finished.txt": check_qstat_xu_finished,
    "pbspro/qsub-submit-2.txt": check_qsub("pbspro/qsub-submit-2.txt", "387775.cirrus-login0"),
    "pbspro/qsub-submit.txt": check_qsub("pbspro/qsub-submit.txt", "315259.kman.restech.unsw.edu.au"),
    "torque/pbsnodes-a.txt": check_pbsnodes,
    "torque/qdel-error-not-permitted.stderr.txt": check_error_message(
        "qdel-error-not-permitted.stderr.txt", "qdel", 159, "Unauthorized Request MSG=operation not permitted 123"
    ),
    "torque/qdel-error-unknown-job-id.stderr.txt": check_torque_unknown("qdel-error-unknown-job-id.stderr.txt"),
    "torque/qmgr-c-list-server.txt": check_qmgr,
    "torque/qstat-Q-f.txt": check_qstat_Q_f_torque,
    "torque/qstat-error-unknown-job-id.stderr.txt": check_torque_unknown("qstat-error-unknown-job-id.stderr.txt"),
    "torque/qstat-f-held-dependency.txt": check_torque_held,
    "torque/qstat-f-multi-job-completed-queued-running-held.txt": check_torque_multi,
    "torque/qstat-f-multi-job-unexpected-newlines.txt": check_torque_newlines,
    "torque/qstat-f-running.txt": check_torque_running,
    "torque/qstat-f-t-array-job.txt": check_torque_array,
    "torque/qstat-f-t-completed.txt": check_torque_completed,
    "torque/qstat-jobid-line-queued.txt": check_torque_line("qstat-jobid-line-queued.txt", RunState.SUBMITTED),
    "torque/qstat-jobid-line-running.txt": check_torque_line("qstat-jobid-line-running.txt", RunState.RUNNING),
    "torque/qstat-x-xml-completed.xml": check_torque_xml_completed,
    "torque/qstat-x-xml-multi-job.xml": check_torque_xml_multi,
    "torque/qstat-x-xml-queued.xml": check_torque_xml_queued,
    "torque/qsub-error-exceeds-queue-limits.stderr.txt": check_error_message(
        "qsub-error-exceeds-queue-limits.stderr.txt", "qsub", 190,
        "Job exceeds queue resource limits MSG=cannot locate feasible nodes",
    ),
    "torque/qsub-error-queue-acl.stderr.txt": check_error_message(
        "qsub-error-queue-acl.stderr.txt", "qsub", 159,
        "Unauthorized Request MSG=user ACL rejected the submitting user: user amessina@argo.ictp.it, queue cm1",
    ),
    "torque/qsub-submit.txt": check_qsub("torque/qsub-submit.txt", "1584288.biocluster.igb.illinois.edu"),
    "torque/tracejob-completed-exit0.stderr.txt": check_tracejob_stderr("tracejob-completed-exit0.stderr.txt"),
    "torque/tracejob-completed-exit0.txt": check_tracejob_completed,
    "torque/tracejob-notfound.stderr.txt": check_tracejob_stderr("tracejob-notfound.stderr.txt"),
    "torque/tracejob-queued.stderr.txt": check_tracejob_stderr("tracejob-queued.stderr.txt"),
    "torque/tracejob-queued.txt": check_tracejob("tracejob-queued.txt", RunState.SUBMITTED),
    "torque/tracejob-running.stderr.txt": check_tracejob_stderr("tracejob-running.stderr.txt"),
    "torque/tracejob-running.txt": check_tracejob("tracejob-running.txt", RunState.RUNNING),
}


def sample_files() -> list[str]:
    return sorted(
        f"{d}/{p.name}" for d in ("pbspro", "torque") for p in (SAMPLES / d).iterdir() if p.name != "PROVENANCE.md"
    )


def test_every_sample_has_a_check_and_a_provenance_row() -> None:
    assert sample_files() == sorted(SAMPLE_CHECKS)
    for path in sample_files():
        folder, name = path.split("/")
        assert f"| `{name}` |" in (SAMPLES / folder / "PROVENANCE.md").read_text()


@pytest.mark.parametrize("path", sorted(SAMPLE_CHECKS))
def test_sample(path: str) -> None:
    SAMPLE_CHECKS[path]()


# ---------------------------------------------------------------------------- conventions


@pytest.mark.parametrize(
    ("flavour", "status", "expected"),
    [
        ("pro", 0, (0, None, "finished")),
        ("pro", 3, (3, None, "exit code 3")),
        ("pro", 265, (None, 9, "killed by signal 9 (SIGKILL)")),
        ("torque", 271, (None, 15, "killed by signal 15 (SIGTERM)")),
        ("pro", -29, (None, None, "killed: walltime limit exceeded (JOB_EXEC_KILL_WALLTIME)")),
        ("torque", -11, (None, None, "killed: walltime limit exceeded (JOB_EXEC_OVERLIMIT_WT)")),
        ("pro", -11, (None, None, "job was rerun (JOB_EXEC_RERUN)")),
        ("pro", -99, (None, None, "the batch system could not run the job (exit status -99)")),
    ],
)
def test_exit_status_conventions(flavour: str, status: int, expected: tuple[Any, ...]) -> None:
    assert pbs.exit_status_meaning(flavour, status) == expected


@pytest.mark.parametrize(
    ("letter", "state"),
    [("Q", RunState.SUBMITTED), ("H", RunState.SUBMITTED), ("W", RunState.SUBMITTED), ("T", RunState.SUBMITTED),
     ("R", RunState.RUNNING), ("B", RunState.RUNNING), ("E", RunState.RUNNING), ("S", RunState.STOPPED),
     ("U", RunState.STOPPED), ("F", RunState.TERMINATING), ("C", RunState.TERMINATING), ("X", RunState.TERMINATING),
     ("?", RunState.UNKNOWN)],
)
def test_state_letters(letter: str, state: RunState) -> None:
    assert pbs.pbs_state("pro", letter)[0] == state


def test_deleted_job_in_pbs_pro_history_is_cancelled() -> None:
    text = sample("pbspro/qstat-xf-finished-exit0.txt").replace("substate = 92", "substate = 91").replace(
        "Exit_status = 0", "Exit_status = 271"
    )
    (job,) = pbs.parse_qstat_f(text, "pro")
    assert (job.state, job.reason, job.signal, job.raw_state) == (RunState.TERMINATED, "cancelled", 15, "F")


def test_qstat_version_decides_the_flavour() -> None:
    assert pbs.parse_qstat_version("pbs_version = 20.0.1\n") == "pro"
    assert pbs.parse_qstat_version("Version: 6.1.3\nCommit: abc\n") == "torque"
    with pytest.raises(ParseError):
        pbs.parse_qstat_version("qstat: command not found")


def make_job(name: str = "demo", **spec: Any) -> JobRecord:
    spec.setdefault("command", ["true"])
    return JobRecord(id="abcd1234", cluster="c", spec=JobSpec(name=name, **spec))


def test_directives_pro_and_torque() -> None:
    job = make_job("a-long-job-name", cores=4, memory_per_core=500, walltime=2 * 86400 + 61, queue="workq")
    pro = pbs.PbsBatchSystem("c", flavour="pro").script_directives(job, "/sb/abcd1234")
    assert pro == [
        "#PBS -N bd-abcd1234-a-long-job-name",
        "#PBS -q workq",
        "#PBS -l select=1:ncpus=4:mem=2000mb",
        "#PBS -l walltime=48:01:01",
        # PBS copies -o/-e back only when the job ends: those are its own files,
        # and the script writes the job's output into the sandbox as it runs.
        "#PBS -o /sb/abcd1234/.batchdeck/scheduler.out",
        "#PBS -e /sb/abcd1234/.batchdeck/scheduler.err",
    ]
    torque = pbs.PbsBatchSystem("c", flavour="torque").script_directives(job, "/sb/abcd1234")
    # Old TORQUE cuts names at 15 characters: the tag comes first so it survives.
    assert torque[0] == "#PBS -N bd-abcd1234-a-l"
    assert "#PBS -l nodes=1:ppn=4,mem=2000mb" in torque


def test_the_script_writes_the_output_live_into_the_sandbox() -> None:
    backend = pbs.PbsBatchSystem("c", flavour="pro")
    script = backend.render_script(make_job(stdout="logs/out 1.txt", stderr="logs/out 1.txt"), "/sb/x")
    assert "\nmkdir -p -- logs\nexec > 'logs/out 1.txt' 2>&1\n" in script
    script = backend.render_script(make_job(), "/sb/x")
    assert "\nexec > stdout.txt 2> stderr.txt\n" in script


def test_queue_name_cannot_inject_script_lines() -> None:
    backend = pbs.PbsBatchSystem("c", flavour="pro")
    with pytest.raises(InvalidJobSpec):
        backend.validate_spec(JobSpec(command=["true"], queue="workq\nrm -rf ~"))


def test_ids_with_and_without_full_server_suffix_are_one_job() -> None:
    assert pbs.same_job("123.srv", "123.srv.example.org")
    assert not pbs.same_job("123.srv", "1234.srv")
    assert not pbs.same_job("12", "123")


# ---------------------------------------------------------------------------- fuzzing
# Every parser above is fuzzed by tests/test_parser_fuzz.py (tests/fuzz.py lists them).


# ---------------------------------------------------------------------------- on the simulator
# What every backend promises runs on the simulator in tests/test_contract.py (kinds
# pbspro and torque); these are PBS's own behaviours, on the same deck fixture.


@pytest.mark.parametrize("deck_kind", ["pbspro", "torque"])
async def test_flavour_detected_once_and_one_qstat_listing_per_refresh(deck: Deck) -> None:
    flavour = "torque" if deck.kind == "torque" else "pro"
    # flavour not set: detected from qstat --version, once.
    job = await deck.shell("echo out; echo err >&2; exit 3", name="first")
    assert deck.backend.flavour == flavour
    assert job.jobid == "1001.pbs-sim.example.org" and job.state == RunState.SUBMITTED
    await deck.wait_state(job, RunState.TERMINATING)
    assert (job.exitcode, job.signal, job.reason, job.raw_state) == (3, None, "exit code 3", "F" if flavour == "pro" else "C")
    versions = [c for c in deck.transport.commands if c[:2] == ["qstat", "--version"]]
    assert len(versions) == 1
    # One qstat per refresh: every status query is a single listing of all jobs.
    listing = [c for c in deck.transport.commands if c[0] == "qstat" and "--version" not in c]
    assert listing and all(c in (["qstat", "-x", "-f", "-F", "json"], ["qstat", "-f"]) for c in listing)


@pytest.mark.parametrize("deck_kind", ["torque"])
async def test_torque_job_gone_from_qstat_is_found_by_tracejob(deck: Deck) -> None:
    backend = deck.another_backend(flavour="torque")
    job = deck.record(command=["true"], name="quick")
    await backend.submit_job(job)

    def gone_from_qstat() -> bool:
        # Asking qstat directly ages the completed job out (keep_completed), as time would.
        out = subprocess.run(["qstat", "-f"], capture_output=True, text=True, check=True).stdout
        return "job_state = R" not in out and "Job Id: 1001." not in out

    await eventually(gone_from_qstat, 30, "the completed job to leave qstat -f")
    await backend.update_job_states([job])
    assert (job.state, job.exitcode, job.raw_state) == (RunState.TERMINATING, 0, "C")


@pytest.mark.parametrize("deck_kind", ["pbspro"])
async def test_pro_list_queues_and_submit_errors(deck: Deck) -> None:
    backend = deck.another_backend(flavour="pro")
    queues = {q.name: q for q in await backend.list_queues()}
    assert queues["short"].max_walltime == 3600 and queues["workq"].state == "up"
    job = deck.record(command=["true"], queue="nosuch")
    with pytest.raises(SchedulerError) as info:
        await backend.submit_job(job)
    assert str(info.value) == "qsub: Unknown queue" and info.value.exit_status == 170


@pytest.mark.parametrize("deck_kind", ["torque"])
async def test_pro_without_json_falls_back_to_text(deck: Deck) -> None:
    # A TORQUE-speaking qstat refuses -F json: a "pro" backend pointed at it must still work.
    backend = deck.another_backend(flavour="pro")
    deck.transport.clear()
    job = deck.record(command=["sleep", "30"])
    await backend.submit_job(job)
    await deck.wait_state(job, RunState.RUNNING, backend=backend)
    await backend.update_job_states([job])
    assert deck.transport.commands.count(["qstat", "-x", "-f", "-F", "json"]) == 1
    await backend.cancel_job(job)


# ---------------------------------------------------------------------------- through the CLI

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Install the PBS/LSF test double first on PATH; returns a function choosing the PBS flavour."""

    def install(flavour: str) -> Path:
        batchsim.install(tmp_path / "bin", tmp_path / "state", flavour)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
        return tmp_path

    return install


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*BATCHDECK, "--config", str(config), *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"batchdeck {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.mark.parametrize("flavour", ["pro", "torque"])
async def test_cli_end_to_end(flavour: str, simulator: Callable[[str], Path], tmp_path: Path) -> None:
    simulator(flavour)
    config = tmp_path / "batchdeck.toml"
    config.write_text(
        f'[clusters.mypbs]\ntype = "pbs"\ntransport = "local"\nsandbox_root = "{tmp_path / "sb"}"\nflavour = "{flavour}"\n'
    )
    job_id = cli(config, "submit", "--cluster", "mypbs", "--name", "hello", "--", "sh", "-c", "echo hi there").stdout.strip()

    def finished() -> bool:
        return json.loads(cli(config, "status", job_id, "--json").stdout)["state"] == "TERMINATING"

    await eventually(finished, 30, "the CLI to report the job finished")
    record = json.loads(cli(config, "status", job_id, "--json").stdout)
    assert (record["jobid"], record["exitcode"]) == ("1001.pbs-sim.example.org", 0)
    assert record["raw_state"] == ("F" if flavour == "pro" else "C")
    assert cli(config, "peek", job_id).stdout == "hi there\n"
    assert [r["id"] for r in json.loads(cli(config, "list", "--json").stdout)] == [job_id]
    (tmp_path / "out").mkdir()
    cli(config, "get", job_id, str(tmp_path / "out"))
    assert (tmp_path / "out" / "stdout.txt").read_text() == "hi there\n"
    cli(config, "free", job_id)

    long_id = cli(config, "submit", "--cluster", "mypbs", "--name", "long", "--", "sleep", "60").stdout.strip()
    cli(config, "cancel", long_id)

    def cancelled() -> bool:
        return json.loads(cli(config, "status", long_id, "--json").stdout)["reason"] == "cancelled"

    await eventually(cancelled, 30, "the CLI to report the job cancelled")
    assert json.loads(cli(config, "status", long_id, "--json").stdout)["state"] == "TERMINATED"
    queues = json.loads(cli(config, "queues", "--cluster", "mypbs", "--json").stdout)
    assert {q["name"] for q in queues} == {"workq", "short"}


async def test_missing_qstat_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no qstat anywhere
    backend = pbs.PbsBatchSystem("sim", sandbox_root=str(tmp_path / "s"))
    with pytest.raises(SchedulerError, match="qstat: command not found"):
        await backend.get_flavour()


# ---------------------------------------------------------------------------- any of the user's jobs: parsers


def test_history_of_a_finished_pro_job_with_seff_efficiencies() -> None:
    (record,) = pbs.parse_pbs_history(sample("pbspro/qstat-xf-finished-exit0.txt"), "pro")
    assert (record.jobid, record.name, record.user, record.state) == ("4686875.kman.restech.unsw.edu.au", "hacky", "z3536424", "F")
    assert (record.outcome, record.exitcode, record.signal) == ("ok", 0, None)
    # resources_used.walltime = 00:00:09, cput = 00:00:00, ncpus = 1, mem = 6896kb; Resource_List.mem = 1gb
    assert (record.elapsed, record.cpu_time, record.cores) == (9, 0, 1)
    assert (record.max_rss, record.requested_memory) == (6896 / 1024, 1024)
    assert (record.cpu_efficiency, record.memory_efficiency) == (0.0, round(6896 / 1024 / 1024, 4))
    # the same verdict as the status refresh reads from these lines
    (job,) = pbs.parse_qstat_f(sample("pbspro/qstat-xf-finished-exit0.txt"), "pro")
    assert (record.outcome, record.exitcode, record.signal) == (job.outcome, job.exitcode, job.signal)


def test_history_keeps_the_users_finished_jobs_in_the_window() -> None:
    text = sample("torque/qstat-f-multi-job-completed-queued-running-held.txt")
    (done,) = pbs.parse_pbs_history(text, "torque", "otproddy")  # of C, Q, R, H only C has ended
    # cput 00:02:38 over walltime 00:03:44 on the one core exec_host names (tbi-dsx50/22)
    assert (done.cpu_time, done.elapsed, done.cores) == (158, 224, 1)
    assert done.cpu_efficiency == round(158 / 224, 4)
    assert (done.max_rss, done.requested_memory) == (472772 / 1024, 5120)
    assert pbs.parse_pbs_history(text, "torque", "someone-else") == []
    assert pbs.parse_pbs_history(text, "torque", "otproddy", since=done.end_time + 1) == []  # type: ignore[operator]
    assert pbs.parse_pbs_history(sample("pbspro/qstat-xf-F-json-running.json"), "pro") == []  # still running


def test_history_from_torque_xml_and_text() -> None:
    (xml,) = pbs.parse_pbs_history(sample("torque/qstat-x-xml-completed.xml"), "torque")
    # exec_host denbi5-int/0+denbi5-int/1+denbi5-int/2: three cores; cput 0 over walltime 00:00:06
    assert (xml.jobid, xml.cores, xml.elapsed, xml.cpu_efficiency) == ("4564045.pbsserver", 3, 6, 0.0)
    assert (xml.requested_memory, xml.max_rss) == (1024, 6064 / 1024)
    (text,) = pbs.parse_pbs_history(sample("torque/qstat-f-t-completed.txt"), "torque")
    assert (text.jobid, text.outcome, text.elapsed, text.requested_memory) == ("9.torque01.bcgsc.ca", "ok", 60, None)


def test_details_resolve_output_paths_by_pbs_rules() -> None:
    running = pbs.parse_pbs_details(sample("pbspro/qstat-xf-F-json-running.json"), "pro", "c")
    folder = "/storage/liberec3-tul/home/jan_brezina/_testing/swrap/testing/integrated/01_mpi4py"
    # Join_Path oe: stderr goes into the -o file; the host: prefix is not part of the path
    assert (running.stdout, running.stderr, running.workdir) == (f"{folder}/swrap_01.o12860476",) * 2 + (folder,)
    assert (running.state, running.cores, running.nodes, running.memory, running.time_limit) == (RunState.RUNNING, 4, 2, 8192, 60)
    queued = pbs.parse_pbs_details(sample("pbspro/qstat-f-queued.txt"), "pro")
    assert (queued.stdout, queued.stderr) == ("/home/z1234567/src/job.pbs.o315236", "/home/z1234567/src/job.pbs.e315236")
    assert (queued.state, queued.reason, queued.workdir) == (RunState.SUBMITTED, "queued", "/home/z1234567/src")
    held = pbs.parse_pbs_details(sample("torque/qstat-f-held-dependency.txt"), "torque")
    assert held.raw_state == "H" and held.reason.startswith("held")
    assert held.dependency.startswith("afterok:14973825.tbi-pbs-ng") and held.stdout == held.stderr  # Join_Path oe
    # TORQUE keeps $PBS_JOBID literal in the record; the file carries the whole id
    xml = pbs.parse_pbs_details(sample("torque/qstat-x-xml-completed.xml"), "torque")
    assert xml.stdout.endswith("/r180405_163953553_stds_snvJoinVcfFiles.o4564045.pbsserver")
    assert pbs.pbs_output_path("h:/o/x.o12^array_index^", "12[3]", "3") == "/o/x.o123"


@pytest.mark.parametrize("path", ["pbspro/qstat-error-unknown-job-id.stderr.txt", "torque/qstat-error-unknown-job-id.stderr.txt"])
def test_details_of_an_unknown_job_is_job_not_found_with_qstats_line(path: str) -> None:
    backend = pbs.PbsBatchSystem("c", sandbox_root="/tmp/x", flavour="pro")
    result = CommandResult(["qstat", "-x", "-f", "-F", "json", "10000"], 153, "", sample(path))
    with pytest.raises(JobNotFound) as info:
        backend.parse_details_output("10000", result)
    assert str(info.value).endswith(f"({sample(path).strip().removeprefix('qstat: ')})")


def test_control_commands() -> None:
    assert pbs.pbs_control_argv("cancel", "7.s") == ["qdel", "7.s"]
    assert pbs.pbs_control_argv("signal", "7.s", "USR1") == ["qsig", "-s", "SIGUSR1", "7.s"]
    assert pbs.pbs_control_argv("hold", "7.s") == ["qhold", "7.s"]
    assert pbs.pbs_control_argv("release", "7.s") == ["qrls", "7.s"]
    assert pbs.pbs_control_argv("time_limit", "7.s", "90061") == ["qalter", "-l", "walltime=25:01:01", "7.s"]
    with pytest.raises(InvalidJobSpec):
        pbs.pbs_control_argv("time_limit", "7.s", "0")


# ---------------------------------------------------------------------------- any of the user's jobs: on the simulator


def _qsub(*args: str) -> str:
    return subprocess.run(["qsub", *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("flavour", ["pro", "torque"])
async def test_plain_qsub_jobs_shown_peeked_held_released_and_in_history(
    flavour: str, simulator: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator(flavour)
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.pbs]\ntype = "pbs"\ntransport = "local"\nsandbox_root = "{tmp_path / "sb"}"\n')
    script = tmp_path / "burn.sh"
    # burns ~1 s of CPU in a 64 MiB block, against a 256 MiB request
    script.write_text(
        "#!/bin/sh\n#PBS -N burn\n#PBS -l select=1:ncpus=1:mem=256mb\necho burning\n"
        f"'{sys.executable}' -c 'import time\nx = bytearray(64 << 20)\nt = time.process_time()\n"
        "while time.process_time() - t < 1: pass'\n"
    )
    (tmp_path / "long.sh").write_text("#!/bin/sh\nsleep 60\n")
    monkeypatch.chdir(tmp_path)  # qsub's default output files go to the submission directory
    burn = _qsub(str(script))
    held = _qsub("-h", str(script))
    long = _qsub(str(tmp_path / "long.sh"))

    shown = json.loads(cli(config, "show", f"pbs:{held}", "--json").stdout)
    assert (shown["name"], shown["state"], shown["raw_state"], shown["reason"]) == ("burn", "SUBMITTED", "H", "held by the user")
    assert shown["stdout"] == f"{tmp_path}/burn.o{held.partition('.')[0]}" and shown["memory"] == 256

    def done() -> bool:
        return json.loads(cli(config, "show", f"pbs:{burn}", "--json").stdout)["state"] == "TERMINATING"

    await eventually(done, 30, "the plain qsub job to finish")
    assert cli(config, "peek", f"pbs:{burn}").stdout == "burning\n"
    records = {r["jobid"]: r for r in json.loads(cli(config, "history", "--cluster", "pbs", "--json").stdout)}
    record = records[burn]
    assert (record["name"], record["outcome"], record["exitcode"], record["cores"]) == ("burn", "ok", 0, 1)
    assert record["requested_memory"] == 256 and 64 <= record["max_rss"] < 256
    assert 0.25 <= record["memory_efficiency"] < 1 and record["cpu_time"] >= 1
    assert held not in records and long not in records  # not finished

    # PBS holds a running job only by checkpointing: its refusal is one line
    refused = subprocess.run([*BATCHDECK, "--config", str(config), "hold", f"pbs:{long}"], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        f"batchdeck: error: qhold: Request invalid for state of job {long}"
    ]
    cli(config, "timelimit", f"pbs:{held}", "90m")
    assert json.loads(cli(config, "show", f"pbs:{held}", "--json").stdout)["time_limit"] == 5400
    cli(config, "release", f"pbs:{held}")
    await eventually(done, 30, "the released job to run")
    assert json.loads(cli(config, "show", f"pbs:{held}", "--json").stdout)["start_time"] is not None
    cli(config, "cancel", f"pbs:{long}")

    def cancelled() -> bool:
        return json.loads(cli(config, "show", f"pbs:{long}", "--json").stdout)["state"] != "RUNNING"

    await eventually(cancelled, 30, "qdel to end the job")
    unknown = subprocess.run([*BATCHDECK, "--config", str(config), "show", "pbs:99999"], capture_output=True, text=True)
    assert unknown.returncode == 1 and "Unknown Job Id 99999" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
