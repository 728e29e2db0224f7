"""Outcomes: every scheduler's verdict table on real outputs (tests/samples, see the PROVENANCE.md files),
the run record's outcome (journal round trip, JSON summary) and the exit code never made up as 0."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from batchdeck.backends.model import (
    JobRecord,
    JobSpec,
    Outcome,
    RunState,
    SchedulerJob,
    settle_exit,
)
from batchdeck.backends.schedulers import lsf, pbs, sge, slurm
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.local import LocalBatchSystem, local_outcome
from batchdeck.backends.transports.local import LocalTransport

from helpers import wait_state
from simulators import batchsim

SAMPLES = Path(__file__).parent / "samples"


def sample(path: str) -> str:
    return (SAMPLES / path).read_text(encoding="utf-8", errors="replace")


def transcript_block(text: str, command: str, occurrence: int = 0) -> str:
    """The output printed after ``$ command`` in a transcript (up to the next blank line or ``$``)."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if line == f"$ {command}"]
    start = starts[occurrence]
    out: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith(("$ ", "###")) or (not line.strip() and out):
            break
        if line.strip():
            out.append(line)
    return "\n".join(out) + "\n"


def running_job(jobid: str = "1") -> JobRecord:
    job = JobRecord(id="abcd1234", cluster="c", spec=JobSpec(command=["true"]))
    job.transition(RunState.SUBMITTED, "submitted")
    job.transition(RunState.RUNNING, "running")
    job.jobid = jobid
    return job


# ---------------------------------------------------------------------------- the model


def test_outcome_words() -> None:
    assert [o.value for o in Outcome] == [
        "ok", "failed", "timeout", "cancelled", "oom", "node_fail", "preempted", "deadline", "boot_fail",
        "killed", "lost",
    ]
    assert [o for o in Outcome if o.is_success] == [Outcome.OK]
    assert str(Outcome.OOM) == "oom"


def test_exit_zero_is_kept_only_for_ok() -> None:
    assert settle_exit(Outcome.OK, 0) == 0
    assert settle_exit(None, 0) == 0  # no verdict yet: nothing to correct
    for outcome in Outcome:
        if outcome is not Outcome.OK:
            assert settle_exit(outcome, 0) is None
            assert settle_exit(outcome, 3) == 3  # a real non-zero code is kept


def test_record_round_trip_and_old_rows() -> None:
    job = running_job()
    job.transition(RunState.TERMINATING, "TIMEOUT")
    assert job.set_outcome(Outcome.TIMEOUT)
    data = json.loads(json.dumps(job.to_dict()))
    assert data["outcome"] == "timeout"
    assert JobRecord.from_dict(data).outcome is Outcome.TIMEOUT
    # a journal row written before outcomes existed, and one from a newer batchdeck
    old = dict(data)
    del old["outcome"]
    assert JobRecord.from_dict(old).outcome is None
    assert JobRecord.from_dict({**data, "outcome": "vanished-into-thin-air"}).outcome is None


def test_summary_carries_outcome_exit_signal_reason() -> None:
    job = running_job()
    job.exitcode, job.signal, job.reason = 0, 15, "cancelled"
    job.transition(RunState.TERMINATED, "cancelled")
    summary = job.summary()
    assert {k: summary[k] for k in ("outcome", "exitcode", "signal", "reason")} == {
        "outcome": "cancelled", "exitcode": None, "signal": 15, "reason": "cancelled"}


def test_no_outcome_while_active_and_the_first_verdict_stays() -> None:
    job = running_job()
    assert not job.set_outcome(Outcome.OK)
    assert job.outcome is None
    job.transition(RunState.TERMINATED, "cancelled")  # batchdeck's own cancel
    assert job.outcome is Outcome.CANCELLED
    assert not job.set_outcome(Outcome.KILLED)  # the scheduler's "killed by signal 9" of the same cancel
    assert job.outcome is Outcome.CANCELLED


def test_refused_submit_is_failed() -> None:
    job = JobRecord(id="abcd1234", cluster="c", spec=JobSpec(command=["true"]))
    job.transition(RunState.TERMINATED, "submission failed: sbatch: error: invalid partition")
    assert job.outcome is Outcome.FAILED
    cancelled = JobRecord(id="abcd1235", cluster="c", spec=JobSpec(command=["true"]))
    cancelled.transition(RunState.TERMINATED, "cancelled before submission")
    assert cancelled.outcome is Outcome.CANCELLED


def test_apply_status_copies_the_verdict_when_the_job_finishes() -> None:
    backend = slurm.SlurmBatchSystem("c", transport=LocalTransport())  # BatchSystem is abstract (hooks only)
    job = running_job("3")
    running = SchedulerJob(jobid="3", state=RunState.RUNNING, raw_state="RUNNING")
    backend.apply_status(job, running)
    assert job.outcome is None
    finished = slurm.parse_sacct("3|TIMEOUT|0:0|00:01:24|\n3.batch|CANCELLED|0:15|00:01:25|4840K\n",
                                 ["JobID", "State", "ExitCode", "Elapsed", "MaxRSS"])["3"]
    assert backend.apply_status(job, finished)
    assert (job.state, job.outcome, job.exitcode, job.signal) == (RunState.TERMINATING, Outcome.TIMEOUT, None, 15)
    assert job.summary()["outcome"] == "timeout" and job.summary()["exitcode"] is None


# ---------------------------------------------------------------------------- SLURM

SLURM_TRANSCRIPT = sample("slurm/slurm-transcript.txt")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("CD", Outcome.OK), ("F", Outcome.FAILED), ("TO", Outcome.TIMEOUT), ("CA", Outcome.CANCELLED),
        ("OOM", Outcome.OOM), ("NF", Outcome.NODE_FAIL), ("PR", Outcome.PREEMPTED), ("DL", Outcome.DEADLINE),
        ("BF", Outcome.BOOT_FAIL), ("CANCELLED by 1000", Outcome.CANCELLED), ("CANCELLED+", Outcome.CANCELLED),
        # not final: the job goes on (or this cluster cannot tell)
        ("RQ", None), ("REQUEUED", None), ("PD", None), ("R", None), ("CG", None), ("RV", None), ("SE", None),
    ],
)
def test_slurm_state_table(code: str, outcome: Outcome | None) -> None:
    assert slurm.slurm_outcome(code) is outcome


def test_slurm_completed_needs_exit_zero() -> None:
    assert slurm.slurm_outcome("COMPLETED", 0, None) is Outcome.OK
    assert slurm.slurm_outcome("FAILED", 3, None) is Outcome.FAILED
    assert slurm.slurm_outcome("FAILED", 0, 9) is Outcome.KILLED
    assert slurm.slurm_outcome("TIMEOUT", 0, 15) is Outcome.TIMEOUT


def test_slurm_sacct_real_cluster_every_outcome() -> None:
    """The test cluster's sacct, job and step lines (slurm-transcript.txt)."""
    text = transcript_block(SLURM_TRANSCRIPT, "sacct -P -n -j 2,3,4,5,6,8,9,10,11 --format=JobID,State,ExitCode,Elapsed,MaxRSS")
    jobs = slurm.parse_sacct(text, ["JobID", "State", "ExitCode", "Elapsed", "MaxRSS"])
    seen = {jobid: (j.outcome, j.exitcode, j.signal) for jobid, j in jobs.items()}
    assert seen == {
        "2": (Outcome.OK, 0, None),
        # TIMEOUT 0:0 on the job line; its .batch step (CANCELLED 0:15) tells the signal
        "3": (Outcome.TIMEOUT, None, 15),
        "4": (Outcome.FAILED, 3, None),
        "5": (Outcome.CANCELLED, None, None),  # cancelled while pending: no step at all
        "6_1": (Outcome.OK, 0, None),
        "6_2": (Outcome.OK, 0, None),
        "8": (Outcome.CANCELLED, None, 15),
        "9": (Outcome.CANCELLED, None, None),
        "10": (Outcome.CANCELLED, None, None),
        "11": (Outcome.OOM, None, 125),
    }


def test_slurm_sacct_allocation_lines_only() -> None:
    """``sacct -X`` (what query_finished asks): no step lines, still no made-up exit 0."""
    text = transcript_block(SLURM_TRANSCRIPT, "sacct -X -P -n --format=JobID,JobName,State,ExitCode")
    jobs = slurm.parse_sacct(text, ["JobID", "JobName", "State", "ExitCode"])
    assert (jobs["3"].outcome, jobs["3"].exitcode, jobs["3"].signal) == (Outcome.TIMEOUT, None, None)
    assert (jobs["5"].outcome, jobs["5"].exitcode) == (Outcome.CANCELLED, None)
    assert (jobs["11"].outcome, jobs["11"].exitcode, jobs["11"].signal) == (Outcome.OOM, None, 125)
    assert (jobs["12"].outcome, jobs["12"].exitcode) == (Outcome.FAILED, 4)
    assert (jobs["1"].outcome, jobs["1"].exitcode) == (Outcome.OK, 0)


def test_slurm_jobcomp_lines() -> None:
    # accounting off, jobcomp on: a cancelled running job reads 0:0 there
    text = transcript_block(SLURM_TRANSCRIPT, "sacct -c -P -n --format=JobID,State,ExitCode")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("sacct: error"))
    jobs = slurm.parse_sacct(text, ["JobID", "State", "ExitCode"])
    assert {jobid: (j.outcome, j.exitcode) for jobid, j in jobs.items() if jobid in ("3", "4", "5", "11")} == {
        "3": (Outcome.TIMEOUT, None), "4": (Outcome.FAILED, 3), "5": (Outcome.CANCELLED, None),
        "11": (Outcome.OOM, None)}


def test_slurm_scontrol_timeout_keeps_its_signal() -> None:
    text = transcript_block(SLURM_TRANSCRIPT, "scontrol show job 3 | grep -E 'JobState|ExitCode|RunTime|StartTime'")
    record = "JobId=3 JobName=slow\n" + text
    (job,) = slurm.parse_scontrol_jobs(record)
    assert (job.outcome, job.exitcode, job.signal) == (Outcome.TIMEOUT, None, 15)
    (done,) = slurm.parse_scontrol_jobs(sample("slurm/scontrol-show-job-completed.txt"))
    assert (done.outcome, done.exitcode) == (Outcome.OK, 0)


def test_slurm_squeue_all_states() -> None:
    text = transcript_block(SLURM_TRANSCRIPT, "squeue -t all -h -r -o '%i|%T|%r|%M|%l'", 1)
    jobs = {j.jobid: j.outcome for j in slurm.parse_squeue(text, ["jobid", "state", "reason", "time_used", "time_limit"], "|")}
    assert jobs["8"] is Outcome.CANCELLED and jobs["4"] is Outcome.FAILED and jobs["2"] is Outcome.OK
    assert jobs["11"] is Outcome.OOM


@pytest.mark.parametrize(
    ("name", "outcome", "exitcode", "signal"),
    [
        ("sacct-parsable-completed.txt", Outcome.OK, 0, None),
        ("sacct-parsable-failed.txt", Outcome.FAILED, 1, None),
        ("sacct-parsable-cancelled.txt", Outcome.CANCELLED, None, 15),
        ("sacct-parsable-timeout.txt", Outcome.TIMEOUT, None, 1),
        ("sacct-parsable-node-fail.txt", Outcome.NODE_FAIL, 1, None),
        ("sacct-parsable-running-steps-completed.txt", None, None, None),
    ],
)
def test_slurm_gc3pie_samples(name: str, outcome: Outcome | None, exitcode: int | None, signal: int | None) -> None:
    fields = ["jobid", "exitcode", "state", "ncpus", "elapsed", "totalcpu", "submit", "start", "end", "maxrss",
              "maxvmsize"]
    job = slurm.parse_sacct(sample(f"slurm/{name}"), fields)["123"]
    assert (job.outcome, job.exitcode, job.signal) == (outcome, exitcode, signal)


def test_slurm_toil_samples() -> None:
    jobs = slurm.parse_sacct(sample("slurm/sacct-n-P-jobidraw-state-exitcode.txt"), ["JobIDRaw", "State", "ExitCode"])
    assert (jobs["609663"].outcome, jobs["609663"].signal) == (Outcome.KILLED, 2)
    assert (jobs["765096"].outcome, jobs["765096"].signal) == (Outcome.KILLED, 9)
    assert (jobs["785023"].outcome, jobs["785023"].exitcode) == (Outcome.FAILED, 127)
    assert (jobs["754725"].outcome, jobs["754725"].exitcode) == (Outcome.TIMEOUT, None)
    assert jobs["789724"].outcome is None and jobs["789868"].outcome is None
    assert jobs["789869"].outcome is Outcome.OK


# ---------------------------------------------------------------------------- Grid Engine

SGE_TRANSCRIPT = sample("sge/sge-transcript.txt")


def test_sge_real_cluster_h_rt_is_timeout() -> None:
    (job,) = sge.parse_qacct(transcript_block(SGE_TRANSCRIPT, "qacct -j 3")).values()
    assert (job.outcome, job.exitcode, job.signal) == (Outcome.TIMEOUT, None, 9)
    assert job.reason.startswith("walltime exceeded")


def test_sge_real_cluster_qdel_and_exit_codes() -> None:
    grep = "grep -E '^(jobname|jobnumber|taskid|granted_pe|slots|failed|exit_status|ru_wallclock|maxvmem|start_time|end_time) '"
    ok = sge.parse_qacct(transcript_block(SGE_TRANSCRIPT, f"qacct -j 2 | {grep}"))["2"]
    fail = sge.parse_qacct(transcript_block(SGE_TRANSCRIPT, f"qacct -j 4 | {grep}"))["4"]
    assert (ok.outcome, ok.exitcode) == (Outcome.OK, 0)
    assert (fail.outcome, fail.exitcode) == (Outcome.FAILED, 3)
    short = "grep -E '^(jobname|jobnumber|failed|exit_status|ru_wallclock) '"
    deleted = sge.parse_qacct(transcript_block(SGE_TRANSCRIPT, f"qacct -j 11 | {short}"))["11"]
    # failed 100 with SIGKILL: someone killed it; batchdeck's own cancel reads cancelled (below)
    assert (deleted.outcome, deleted.exitcode, deleted.signal) == (Outcome.KILLED, None, 9)


@pytest.mark.parametrize(
    ("name", "outcome", "exitcode", "signal"),
    [
        ("qacct-j-done-exit0.txt", Outcome.OK, 0, None),
        ("qacct-j-passed.txt", Outcome.OK, 0, None),
        ("qacct-j-nonzero-exit.txt", Outcome.FAILED, 1, None),
        ("qacct-j-failed-26-opening-io-file.txt", Outcome.FAILED, None, None),
        ("qacct-j-qdel-failed-100-exit-137.txt", Outcome.KILLED, None, 9),
        ("qacct-j-array-3-tasks.txt", Outcome.OK, 0, None),
    ],
)
def test_sge_samples(name: str, outcome: Outcome, exitcode: int | None, signal: int | None) -> None:
    (job,) = sge.parse_qacct(sample(f"sge/{name}")).values()
    assert (job.outcome, job.exitcode, job.signal) == (outcome, exitcode, signal)


def test_sge_failed_37_memory_limits() -> None:
    """The real failed-37 record, with the category of a job that asked for h_vmem (too)."""
    real = transcript_block(SGE_TRANSCRIPT, "qacct -j 3")
    assert "category     -l h_rt=30" in real
    only_memory = real.replace("category     -l h_rt=30", "category     -l h_vmem=100M")
    (job,) = sge.parse_qacct(only_memory).values()
    assert (job.outcome, job.exitcode) == (Outcome.OOM, None) and job.reason.startswith("memory limit exceeded")
    # both limits: the job ran 31 s, its h_rt was 30 s: the time limit ended it
    (both,) = sge.parse_qacct(real.replace("-l h_rt=30", "-l h_rt=30,h_vmem=100M")).values()
    assert both.outcome is Outcome.TIMEOUT
    # ... and with an h_rt of an hour it was the memory
    (early,) = sge.parse_qacct(real.replace("-l h_rt=30", "-l h_rt=3600,h_vmem=100M")).values()
    assert early.outcome is Outcome.OOM


def test_sge_table() -> None:
    assert sge.qacct_outcome(0, 0, None) is Outcome.OK
    assert sge.qacct_outcome(0, 2, None) is Outcome.FAILED
    assert sge.qacct_outcome(0, None, 9) is Outcome.KILLED
    assert sge.qacct_outcome(100, None, 9) is Outcome.KILLED
    assert sge.qacct_outcome(100, None, 9, "-l h_vmem=100M", "3s", "99.5MB") is Outcome.OOM
    assert sge.qacct_outcome(0, None, 9, "-l h_vmem=100M", "3s", "4.871MB") is Outcome.KILLED
    assert sge.qacct_outcome(26, None, None) is Outcome.FAILED
    assert sge.qacct_outcome(28, None, None) is Outcome.FAILED
    assert sge.qacct_outcome(37, None, 9, "-l h_rt=30", "31s") is Outcome.TIMEOUT


def test_sge_batchdecks_own_qdel_is_cancelled() -> None:
    backend = sge.SgeBatchSystem("sge", transport=LocalTransport())
    job = running_job("11")
    job.cancel_requested = 1.0  # what cancel_job records once qdel accepted
    short = "grep -E '^(jobname|jobnumber|failed|exit_status|ru_wallclock) '"
    info = sge.parse_qacct(transcript_block(SGE_TRANSCRIPT, f"qacct -j 11 | {short}"))["11"]
    backend.apply_status(job, info)
    assert (job.state, job.outcome, job.exitcode, job.signal) == (RunState.TERMINATED, Outcome.CANCELLED, None, 9)


# ---------------------------------------------------------------------------- PBS Pro / TORQUE


@pytest.mark.parametrize(
    ("flavour", "status", "outcome"),
    [
        ("pro", 0, Outcome.OK), ("pro", 3, Outcome.FAILED), ("pro", 271, Outcome.KILLED),
        ("pro", 265, Outcome.KILLED), ("pro", -29, Outcome.TIMEOUT), ("pro", -28, Outcome.TIMEOUT),
        ("pro", -27, Outcome.OOM), ("pro", -26, Outcome.OOM), ("pro", -10, Outcome.FAILED),
        ("pro", -1, Outcome.FAILED), ("torque", -10, Outcome.OOM), ("torque", -11, Outcome.TIMEOUT),
        ("torque", -12, Outcome.TIMEOUT), ("torque", -8, Outcome.FAILED), ("torque", 271, Outcome.KILLED),
    ],
)
def test_pbs_exit_status_table(flavour: str, status: int, outcome: Outcome) -> None:
    assert pbs.exit_status_outcome(flavour, status) is outcome


def test_pbs_samples() -> None:
    (done,) = pbs.parse_qstat_f(sample("pbspro/qstat-xf-finished-exit0.txt"), "pro")
    assert (done.outcome, done.exitcode) == (Outcome.OK, 0)
    jobs = {j.jobid: j for j in pbs.parse_qstat_f(sample("torque/qstat-f-multi-job-unexpected-newlines.txt"), "torque")}
    killed = [j for j in jobs.values() if j.raw_state == "C"]
    assert killed and all((j.outcome, j.exitcode, j.signal) == (Outcome.KILLED, None, 15) for j in killed)
    assert all(j.outcome is None for j in jobs.values() if j.raw_state != "C")
    (completed,) = pbs.parse_qstat_f(sample("torque/qstat-f-t-completed.txt"), "torque")
    assert (completed.outcome, completed.exitcode) == (Outcome.OK, 0)
    (xml_done,) = pbs.parse_qstat_xml(sample("torque/qstat-x-xml-completed.xml"), "torque")
    assert xml_done.outcome is Outcome.OK
    (traced,) = pbs.parse_tracejob(sample("torque/tracejob-completed-exit0.txt"), "torque")
    assert (traced.outcome, traced.exitcode) == (Outcome.OK, 0)
    (queued,) = pbs.parse_tracejob(sample("torque/tracejob-queued.txt"), "torque")
    assert queued.outcome is None


def test_pbs_pro_deleted_and_walltime() -> None:
    finished = sample("pbspro/qstat-xf-finished-exit0.txt")
    deleted = finished.replace("substate = 92", "substate = 91").replace("Exit_status = 0", "Exit_status = 271")
    (job,) = pbs.parse_qstat_f(deleted, "pro")
    assert (job.state, job.outcome, job.exitcode, job.signal) == (RunState.TERMINATED, Outcome.CANCELLED, None, 15)
    (walltime,) = pbs.parse_qstat_f(finished.replace("Exit_status = 0", "Exit_status = -29"), "pro")
    assert (walltime.outcome, walltime.exitcode) == (Outcome.TIMEOUT, None)


# ---------------------------------------------------------------------------- LSF


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("TERM_RUNLIMIT: job killed after reaching LSF run time limit", Outcome.TIMEOUT),
        ("TERM_CPULIMIT", Outcome.TIMEOUT), ("TERM_MEMLIMIT", Outcome.OOM), ("TERM_SWAP", Outcome.OOM),
        ("TERM_OWNER: job killed by owner", Outcome.CANCELLED), ("TERM_FORCE_OWNER", Outcome.CANCELLED),
        ("TERM_ADMIN", Outcome.CANCELLED), ("TERM_FORCE_ADMIN", Outcome.CANCELLED),
        ("TERM_DEADLINE", Outcome.DEADLINE), ("TERM_PREEMPT", Outcome.PREEMPTED),
        ("TERM_CWD_NOTEXIST", Outcome.FAILED), ("TERM_PRE_EXEC_FAIL", Outcome.FAILED),
        ("TERM_EXTERNAL_SIGNAL", Outcome.KILLED),
    ],
)
def test_lsf_term_reasons(reason: str, outcome: Outcome) -> None:
    assert lsf.lsf_outcome("EXIT", None, None, reason) is outcome


def test_lsf_exit_codes() -> None:
    assert lsf.lsf_outcome("DONE", 0, None) is Outcome.OK
    assert lsf.lsf_outcome("EXIT", 42, None) is Outcome.FAILED
    assert lsf.lsf_outcome("EXIT", None, 9) is Outcome.KILLED
    assert lsf.lsf_outcome("EXIT", None, None) is Outcome.FAILED
    assert lsf.lsf_outcome("RUN", None, None) is None and lsf.lsf_outcome("PEND", None, None) is None


def test_lsf_samples() -> None:
    fields = "jobid stat exit_code cpu_used max_mem avg_mem exec_host exit_reason".split()
    (runlimit,) = lsf.parse_bjobs_delimited(sample("lsf/bjobs-o-noheader-exit-term-runlimit.txt"), fields)
    assert (runlimit.outcome, runlimit.exitcode) == (Outcome.TIMEOUT, 12)
    (owner,) = lsf.parse_lsf_long(sample("lsf/bacct-l-exit-killed-by-owner.txt"))
    assert owner.outcome is Outcome.CANCELLED
    (exit42,) = lsf.parse_lsf_long(sample("lsf/bjobs-l-exit-42.txt"))
    assert (exit42.outcome, exit42.exitcode) == (Outcome.FAILED, 42)
    (done,) = lsf.parse_lsf_long(sample("lsf/bjobs-l-done.txt"))
    assert (done.outcome, done.exitcode) == (Outcome.OK, 0)
    report = lsf.parse_job_report(sample("lsf/job-report-term-runlimit.txt"))
    assert (report.outcome, report.exitcode, report.signal) == (Outcome.TIMEOUT, None, 12)
    assert lsf.parse_job_report(sample("lsf/job-report-done.txt")).outcome is Outcome.OK
    assert lsf.parse_job_report(sample("lsf/job-report-exit-127.txt")).outcome is Outcome.FAILED
    (running,) = lsf.parse_lsf_long(sample("lsf/bjobs-l-running.txt"))
    assert running.outcome is None


# ---------------------------------------------------------------------------- local


@pytest.mark.parametrize(
    ("code", "cancelled", "over_time", "expected"),
    [
        (0, False, False, (Outcome.OK, 0, None)),
        (3, False, False, (Outcome.FAILED, 3, None)),
        (137, False, False, (Outcome.KILLED, None, 9)),
        (124, False, True, (Outcome.TIMEOUT, None, None)),  # timeout(1)'s status, not the job's
        (137, False, True, (Outcome.TIMEOUT, None, 9)),  # timeout --kill-after
        (124, False, False, (Outcome.FAILED, 124, None)),  # the job's own exit 124
        (143, True, False, (Outcome.CANCELLED, None, 15)),
        (0, True, False, (Outcome.CANCELLED, None, None)),
    ],
)
def test_local_table(code: int, cancelled: bool, over_time: bool, expected: tuple[object, ...]) -> None:
    assert local_outcome(code, cancelled, over_time) == expected


def test_no_parser_reports_exit_zero_for_a_failure() -> None:
    """Across the real outputs: a finished record reads exit 0 only when its outcome is ok."""
    sacct = [
        ("sacct -P -n -j 2,3,4,5,6,8,9,10,11 --format=JobID,State,ExitCode,Elapsed,MaxRSS",
         ["JobID", "State", "ExitCode", "Elapsed", "MaxRSS"]),
        ("sacct -X -P -n --format=JobID,JobName,State,ExitCode", ["JobID", "JobName", "State", "ExitCode"]),
    ]
    records: list[SchedulerJob] = []
    for command, fields in sacct:
        records += slurm.parse_sacct(transcript_block(SLURM_TRANSCRIPT, command), fields).values()
    records += slurm.parse_sacct(
        sample("slurm/sacct-n-P-jobidraw-state-exitcode.txt"), ["JobIDRaw", "State", "ExitCode"]).values()
    for path in sorted(SAMPLES.glob("sge/qacct-j-*.txt")):
        records += sge.parse_qacct(path.read_text(errors="replace")).values()
    records += sge.parse_qacct(transcript_block(SGE_TRANSCRIPT, "qacct -j 3")).values()
    records += pbs.parse_qstat_f(sample("torque/qstat-f-multi-job-unexpected-newlines.txt"), "torque")
    for path in sorted(SAMPLES.glob("lsf/b[ja]*-l-*.txt")):
        records += lsf.parse_lsf_long(path.read_text(errors="replace"))
    finished = [r for r in records if r.outcome is not None]
    assert len(finished) > 20
    for record in finished:
        assert record.exitcode != 0 or record.outcome is Outcome.OK, record


# ---------------------------------------------------------------------------- PBS / LSF simulator, local processes


@pytest.fixture
def simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """The labelled PBS/LSF test double (tests/simulators/batchsim.py) first on PATH."""

    def install(flavour: str) -> None:
        batchsim.install(tmp_path / "bin", tmp_path / "state", flavour)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    return install


async def _ok_failed_cancelled(backend: BatchSystem) -> tuple[JobRecord, JobRecord, JobRecord]:
    ok = JobRecord(id="out00001", cluster="sim", spec=JobSpec(command=["true"], name="ok"))
    bad = JobRecord(id="out00002", cluster="sim", spec=JobSpec(command=["sh", "-c", "exit 3"], name="bad"))
    long = JobRecord(id="out00003", cluster="sim", spec=JobSpec(command=["sleep", "60"], name="long"))
    for job in (ok, bad, long):
        await backend.submit_job(job)
    await wait_state(backend, ok, (RunState.TERMINATING, RunState.TERMINATED))
    await wait_state(backend, bad, (RunState.TERMINATING, RunState.TERMINATED))
    await wait_state(backend, long, RunState.RUNNING)
    await backend.cancel_job(long)
    await wait_state(backend, long, RunState.TERMINATED)
    return ok, bad, long


@pytest.mark.parametrize("flavour", ["pro", "torque"])
async def test_pbs_simulator_outcomes(flavour: str, simulator: Callable[[str], None], tmp_path: Path) -> None:
    simulator(flavour)
    backend = pbs.PbsBatchSystem("sim", flavour=flavour, sandbox_root=str(tmp_path / "sandboxes"))
    ok, bad, long = await _ok_failed_cancelled(backend)
    assert (ok.outcome, ok.exitcode) == (Outcome.OK, 0)
    assert (bad.outcome, bad.exitcode) == (Outcome.FAILED, 3)
    # PBS Pro: substate 91; TORQUE: exit_status 271 plus batchdeck's own cancel marker
    assert (long.outcome, long.exitcode, long.signal) == (Outcome.CANCELLED, None, 15)


async def test_lsf_simulator_outcomes(simulator: Callable[[str], None], tmp_path: Path) -> None:
    simulator("pro")
    backend = lsf.LsfBatchSystem("sim", sandbox_root=str(tmp_path / "sandboxes"))
    ok, bad, long = await _ok_failed_cancelled(backend)
    assert (ok.outcome, ok.exitcode) == (Outcome.OK, 0)
    assert (bad.outcome, bad.exitcode) == (Outcome.FAILED, 3)
    assert (long.outcome, long.exitcode) == (Outcome.CANCELLED, None)  # bkill: TERM_OWNER


async def test_local_processes_outcomes(tmp_path: Path) -> None:
    backend = LocalBatchSystem("local", sandbox_root=str(tmp_path / "sandboxes"))
    killed = JobRecord(id="out00004", cluster="local", spec=JobSpec(command=["sh", "-c", "kill -9 $$"]))
    slow = JobRecord(id="out00005", cluster="local", spec=JobSpec(command=["sleep", "30"], walltime=1))
    for job in (killed, slow):
        await backend.submit_job(job)
    try:
        await wait_state(backend, killed, RunState.TERMINATING)
        await wait_state(backend, slow, RunState.TERMINATING)
    finally:
        for job in (killed, slow):
            if job.state.is_active:
                await backend.cancel_job(job)
    assert (killed.outcome, killed.exitcode, killed.signal) == (Outcome.KILLED, None, 9)
    assert (slow.outcome, slow.exitcode, slow.reason) == (Outcome.TIMEOUT, None, "walltime exceeded")
