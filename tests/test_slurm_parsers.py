"""SLURM parsers on real outputs (tests/samples/slurm, see its PROVENANCE.md), plus fuzzing."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchdeck.backends.errors import ParseError
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import tag_of
from batchdeck.backends.schedulers.slurm import (
    FIELD_SEP,
    SQUEUE_FIELDS,
    SlurmBatchSystem,
    accounting_disabled,
    decode_exit_code,
    parse_queue_counts,
    parse_sacct,
    parse_sbatch,
    parse_scontrol_jobs,
    parse_sinfo,
    parse_squeue,
    slurm_state,
    squeue_format,
)

SAMPLES = Path(__file__).parent / "samples" / "slurm"
GC3PIE_SACCT = ["jobid", "exitcode", "state", "ncpus", "elapsed", "totalcpu", "submit", "start", "end",
                "maxrss", "maxvmsize"]


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8", errors="replace")


def transcript_block(text: str, command: str, occurrence: int = 0) -> str:
    """The output printed after ``$ command`` in a transcript (up to the next blank line or ``$``)."""
    blocks = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line == f"$ {command}":
            out = []
            for following in lines[index + 1 :]:
                if following.startswith(("$ ", "###")) or (not following.strip() and out):
                    break
                if following.strip():
                    out.append(following)
            blocks.append("\n".join(out) + "\n")
    assert blocks, f"{command!r} not in the transcript"
    return blocks[occurrence]


TRANSCRIPT = sample("slurm-transcript.txt")
ERRORS = sample("slurm-errors.txt")


# ---------------------------------------------------------------------------- states


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("PENDING", RunState.SUBMITTED),
        ("PD", RunState.SUBMITTED),
        ("CONFIGURING", RunState.SUBMITTED),
        ("CF", RunState.SUBMITTED),
        ("REQUEUED", RunState.SUBMITTED),
        ("RQ", RunState.SUBMITTED),
        ("REQUEUE_HOLD", RunState.SUBMITTED),
        ("RH", RunState.SUBMITTED),
        ("REQUEUE_FED", RunState.SUBMITTED),
        ("RF", RunState.SUBMITTED),
        ("RESV_DEL_HOLD", RunState.SUBMITTED),
        ("RD", RunState.SUBMITTED),
        ("RUNNING", RunState.RUNNING),
        ("R", RunState.RUNNING),
        ("COMPLETING", RunState.RUNNING),
        ("CG", RunState.RUNNING),
        ("SIGNALING", RunState.RUNNING),
        ("SI", RunState.RUNNING),
        ("STAGE_OUT", RunState.RUNNING),
        ("SO", RunState.RUNNING),
        ("RESIZING", RunState.RUNNING),
        ("RS", RunState.RUNNING),
        ("SUSPENDED", RunState.STOPPED),
        ("S", RunState.STOPPED),
        ("STOPPED", RunState.STOPPED),
        ("ST", RunState.STOPPED),
        ("SPECIAL_EXIT", RunState.STOPPED),
        ("SE", RunState.STOPPED),
        ("COMPLETED", RunState.TERMINATING),
        ("CD", RunState.TERMINATING),
        ("FAILED", RunState.TERMINATING),
        ("F", RunState.TERMINATING),
        ("TIMEOUT", RunState.TERMINATING),
        ("TO", RunState.TERMINATING),
        ("OUT_OF_MEMORY", RunState.TERMINATING),
        ("OOM", RunState.TERMINATING),
        ("NODE_FAIL", RunState.TERMINATING),
        ("NF", RunState.TERMINATING),
        ("PREEMPTED", RunState.TERMINATING),
        ("PR", RunState.TERMINATING),
        ("BOOT_FAIL", RunState.TERMINATING),
        ("BF", RunState.TERMINATING),
        ("DEADLINE", RunState.TERMINATING),
        ("DL", RunState.TERMINATING),
        ("CANCELLED", RunState.TERMINATED),
        ("CA", RunState.TERMINATED),
        ("CANCELLED by 0", RunState.TERMINATED),
        ("CANCELLED by 54386", RunState.TERMINATED),
        ("CANCELLED+", RunState.TERMINATED),
        ("REVOKED", RunState.UNKNOWN),
        ("RV", RunState.UNKNOWN),
    ],
)
def test_every_slurm_state_is_mapped(raw: str, state: RunState) -> None:
    assert slurm_state(raw)[0] == state


def test_state_reasons_are_human() -> None:
    assert slurm_state("PENDING", "Resources") == (RunState.SUBMITTED, "Resources")
    assert slurm_state("PENDING", "None") == (RunState.SUBMITTED, "")
    state, reason = slurm_state("PENDING", "PartitionTimeLimit")
    assert state == RunState.SUBMITTED and reason.startswith("PartitionTimeLimit: ")
    assert slurm_state("CANCELLED by 0")[1] == "cancelled"
    assert "TIMEOUT" in slurm_state("TIMEOUT", "TimeLimit")[1]
    assert slurm_state("OUT_OF_MEMORY", "OutOfMemory")[1] == "out of memory"
    assert slurm_state("SUSPENDED")[1] == "suspended"
    state, reason = slurm_state("NEW_STATE_OF_SLURM_99")
    assert state == RunState.UNKNOWN and "NEW_STATE_OF_SLURM_99" in reason


@pytest.mark.parametrize(
    ("text", "decoded"),
    [("0:0", (0, None)), ("3:0", (3, None)), ("0:15", (0, 15)), ("0:125", (0, 125)), ("-2:0", (-2, None)),
     ("", (None, None))],
)
def test_exit_codes(text: str, decoded: tuple[int | None, int | None]) -> None:
    assert decode_exit_code(text) == decoded


def test_unicode_digits_never_escape_as_value_errors() -> None:
    """str.isdigit() accepts "²", which int() refuses: parsers must still raise only ParseError."""
    line = FIELD_SEP.join(["5", "5", "N/A", "RUNNING", "None", "u", "p", "²", "²", "²", "²-1:00", "²", "n"])
    (job,) = parse_squeue(line + "\n")
    assert job.cores is None and job.elapsed is None and job.submit_time is None
    (queue,) = parse_sinfo("p\x1fup\x1f²-1:00\x1f1\x1f0/2/0/2\n")
    assert queue.max_walltime is None
    with pytest.raises(ParseError):
        parse_sinfo("p\x1fup\x1f1:00\x1f²\x1f0/2/0/2\n")
    # int() refuses more than 4300 digits
    with pytest.raises(ParseError):
        decode_exit_code("9" * 5000 + ":0")
    with pytest.raises(ParseError):
        parse_sinfo("p\x1fup\x1f1:00\x1f" + "9" * 5000 + "\x1f0/2/0/2\n")
    (job,) = parse_squeue(line.replace("²", "9" * 5000) + "\n")
    assert job.cores is None


def test_bad_exit_code_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        decode_exit_code("SUCCESS")


# ---------------------------------------------------------------------------- squeue


def test_squeue_transcript_expanded_arrays() -> None:
    text = transcript_block(TRANSCRIPT, "squeue -h -r -o '%i|%A|%F|%K|%T|%r|%M|%l'")
    jobs = parse_squeue(
        text, ["jobid", None, "array_job_id", "array_task_id", "state", "reason", "time_used", "time_limit"], "|"
    )
    by_id = {j.jobid: j for j in jobs}
    assert list(by_id) == ["2", "3", "4", "6_1", "6_2", "6_3", "5"]
    assert by_id["2"].array_id is None and by_id["2"].array_task is None
    assert (by_id["6_2"].array_id, by_id["6_2"].array_task) == ("6", "2")
    assert all(j.state == RunState.SUBMITTED for j in jobs)
    assert by_id["3"].reason == "Priority"
    assert by_id["2"].reason == ""


def test_squeue_transcript_all_states() -> None:
    text = transcript_block(TRANSCRIPT, "squeue -t all -h -r -o '%i|%T|%r|%M|%l'", 1)
    jobs = {j.jobid: j for j in parse_squeue(text, ["jobid", "state", "reason", "time_used", "time_limit"], "|")}
    assert jobs["8"].state == RunState.TERMINATED
    assert jobs["4"].state == RunState.TERMINATING and jobs["4"].raw_state == "FAILED"
    assert jobs["3"].raw_state == "TIMEOUT" and jobs["3"].elapsed == 84
    assert jobs["11"].reason == "out of memory"
    assert (jobs["6_1"].array_id, jobs["6_1"].array_task) == ("6", "1")


def test_squeue_unexpanded_array_and_running() -> None:
    text = transcript_block(TRANSCRIPT, "squeue -h -o '%i|%T|%r'")
    jobs = {j.jobid: j for j in parse_squeue(text, ["jobid", "state", "reason"], "|")}
    assert (jobs["6_[1-3]"].array_id, jobs["6_[1-3]"].array_task) == ("6", "1-3")
    text = transcript_block(TRANSCRIPT, "squeue -h -t all -j 8 -o '%i|%T|%r|%M'")
    (job,) = parse_squeue(text, ["jobid", "state", "reason", "time_used"], "|")
    assert job.state == RunState.RUNNING and job.raw_state == "COMPLETING"


def test_squeue_gc3pie_custom_format() -> None:
    fields = [None, "jobid", "state", "reason"]
    (pending,) = parse_squeue(sample("squeue-noheader-o-custom-pending.txt"), fields, "^")
    (running,) = parse_squeue(sample("squeue-noheader-o-custom-running.txt"), fields, "^")
    assert (pending.jobid, pending.state, pending.reason) == ("123", RunState.SUBMITTED, "Resources")
    assert (running.state, running.reason) == (RunState.RUNNING, "")


def test_squeue_aiida_fields_short_codes() -> None:
    fields = ["jobid", "state", "reason", None, "user", None, "cpus", None, "partition", "time_limit",
              "time_used", "start_time", "name", "submit_time"]
    jobs = {j.jobid: j for j in parse_squeue(sample("squeue-noheader-o-aiida-fields.txt"), fields, "^^^")}
    assert len(jobs) == 8
    assert jobs["862540"].state == RunState.SUBMITTED and jobs["862540"].reason == "Dependency"
    assert jobs["863313"].reason == "JobHeldUser"
    assert jobs["862538"].state == RunState.RUNNING and jobs["862538"].raw_state == "R"
    assert jobs["862538"].cores == 640 and jobs["862538"].elapsed == 32 * 60 + 10
    assert jobs["861352"].elapsed == 23 * 3600 + 30 * 60 + 20
    assert jobs["862538"].start_time is not None and jobs["862540"].start_time is None
    assert jobs["863553"].name == "bash" and jobs["863553"].user == "user5"


_OOD_NAMES = {
    "JOBID": "jobid", "ARRAY_JOB_ID": "array_job_id", "ARRAY_TASK_ID": "array_task_id", "STATE": "state",
    "REASON": "reason", "NAME": "name", "USER": "user", "PARTITION": "partition", "CPUS": "cpus",
    "SUBMIT_TIME": "submit_time", "START_TIME": "start_time", "TIME": "time_used", "TIME_LIMIT": "time_limit",
}


def _ood_fields(header: str) -> list[str | None]:
    fields: list[str | None] = []
    for name in header.rstrip("\n").split(FIELD_SEP):
        field = _OOD_NAMES.get(name)
        fields.append(None if field in fields else field)  # the second JOBID is jobarrayid
    return fields


@pytest.mark.parametrize("name", ["squeue-O-unit-separator-ood.txt", "squeue-O-unit-separator-non-utf8-name.txt"])
def test_squeue_unit_separator_with_header(name: str) -> None:
    text = sample(name)
    header, _, body = text.partition("\n")
    # -O output ends every field, the last one included, with the separator: the
    # header's empty last name becomes an ignored column
    fields = _ood_fields(header)
    jobs = parse_squeue(text, fields, FIELD_SEP)
    assert jobs and len(jobs) == len([line for line in body.splitlines() if line.strip()])
    well_formed = {
        line.split(FIELD_SEP, 2)[1] for line in body.splitlines() if line.count(FIELD_SEP) == len(fields) - 1
    }
    for job in jobs:
        if job.jobid in well_formed:
            assert job.raw_state in {"RUNNING", "PENDING", "TIMEOUT", "COMPLETED"}
            assert job.state in (RunState.RUNNING, RunState.SUBMITTED, RunState.TERMINATING)
    if name.startswith("squeue-O-unit-separator-ood"):
        by_id = {j.jobid: j for j in jobs}
        # this job's row carries one separator more than the header (inside a field
        # before the last): why our own format puts the only free-text field, the name, last
        assert "6779842" not in well_formed
        assert by_id["6787542"].cores == 1 and by_id["6787542"].queue == "quick"
        assert by_id["6787542"].name == "ondemand/sys/dashboard/sys/bc_osc_vmd"
        assert by_id["6783828"].raw_state == "TIMEOUT" and by_id["6783828"].state == RunState.TERMINATING
        assert by_id["6783828"].reason.startswith("TIMEOUT")
    else:
        assert any("non-utf8" in j.name for j in jobs)


def test_squeue_real_format_round_trip() -> None:
    """A line in the exact format query_jobs asks for, with separators a user could type in the name."""
    assert squeue_format().count(FIELD_SEP) == len(SQUEUE_FIELDS) - 1
    values = ["3_1", "3", "1", "RUNNING", "None", "batchtest", "debug", "2", "2026-11-25T12:03:46",
              "2026-11-25T12:03:47", "1:02", "1:00:00", "a|b c^^^d"]
    (job,) = parse_squeue(FIELD_SEP.join(values) + "\n")
    assert (job.jobid, job.array_id, job.array_task) == ("3_1", "3", "1")
    assert job.name == "a|b c^^^d" and job.user == "batchtest" and job.queue == "debug"
    assert job.cores == 2 and job.elapsed == 62 and job.start_time is not None and job.submit_time is not None


def test_squeue_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_squeue("only|three|fields\n", ["jobid", "state", "reason", "user"], "|")
    with pytest.raises(ParseError):
        parse_squeue("notanid|RUNNING\n", ["jobid", "state"], "|")


def test_queue_counts() -> None:
    text = "debug\x1fPENDING\ndebug\x1fRUNNING\ndebug,long\x1fPENDING\nlong\x1fRUNNING\n"
    assert parse_queue_counts(text) == {"debug": (1, 2), "long": (1, 1)}


# ---------------------------------------------------------------------------- sacct


def test_sacct_transcript_job_lines() -> None:
    text = transcript_block(TRANSCRIPT, "sacct -P -n -j 2,3,4,5,6,8,9,10,11 --format=JobID,State,ExitCode,Elapsed,MaxRSS")
    jobs = parse_sacct(text, ["JobID", "State", "ExitCode", "Elapsed", "MaxRSS"])
    assert sorted(jobs) == ["10", "11", "2", "3", "4", "5", "6_1", "6_2", "8", "9"]
    assert (jobs["2"].state, jobs["2"].exitcode, jobs["2"].signal) == (RunState.TERMINATING, 0, None)
    assert (jobs["4"].state, jobs["4"].exitcode) == (RunState.TERMINATING, 3)
    assert "exit code 3" in jobs["4"].reason
    # the job line wins over the step: TIMEOUT, not the step's CANCELLED
    assert jobs["3"].raw_state == "TIMEOUT" and "TIMEOUT" in jobs["3"].reason
    assert (jobs["8"].state, jobs["8"].raw_state, jobs["8"].reason) == (
        RunState.TERMINATED, "CANCELLED by 0", "cancelled")
    # OUT_OF_MEMORY 0:125: no exit code of the script is known, so none is shown (not a made-up 0)
    assert (jobs["11"].exitcode, jobs["11"].signal, jobs["11"].reason) == (None, 125, "out of memory")
    assert jobs["6_2"].array_id == "6" and jobs["6_2"].elapsed == 3


def test_sacct_transcript_with_header_and_times() -> None:
    command = ("sacct -P -j 2,3,4,5,6,8,9,10,11 --format=JobID,JobIDRaw,JobName,Partition,State,ExitCode,"
               "DerivedExitCode,Start,End,Elapsed,MaxRSS,NodeList")
    jobs = parse_sacct(transcript_block(TRANSCRIPT, command), None)
    assert jobs["2"].name == "ok" and jobs["2"].queue == "debug"
    assert jobs["2"].end_time is not None and jobs["2"].start_time is not None
    assert jobs["2"].end_time - jobs["2"].start_time == 20
    assert jobs["5"].start_time is None and jobs["5"].queue == "long"


def test_sacct_transcript_allocations_only() -> None:
    jobs = parse_sacct(transcript_block(TRANSCRIPT, "sacct -X -P -n --format=JobID,JobName,State,ExitCode"),
                       ["JobID", "JobName", "State", "ExitCode"])
    assert jobs["12"].exitcode == 4 and jobs["12"].name == "wrap"


def test_sacct_lag_pending_job_line() -> None:
    text = "34|PENDING|0:0|00:00:01|\n34.batch|RUNNING|0:0|00:00:01|\n"
    jobs = parse_sacct(text, ["JobID", "State", "ExitCode", "Elapsed", "MaxRSS"])
    assert jobs["34"].state == RunState.SUBMITTED and jobs["34"].exitcode is None


@pytest.mark.parametrize(
    ("name", "state", "raw", "exitcode", "signal"),
    [
        ("sacct-parsable-completed.txt", RunState.TERMINATING, "COMPLETED", 0, None),
        ("sacct-parsable-completed-64cpu.txt", RunState.TERMINATING, "COMPLETED", 0, None),
        ("sacct-parsable-completed-many-steps.txt", RunState.TERMINATING, "COMPLETED", 0, None),
        ("sacct-parsable-failed.txt", RunState.TERMINATING, "FAILED", 1, None),
        # cancelled and timed-out jobs have no exit code of their own (not 0); the cancelled
        # job's signal comes from its .batch step (0:15)
        ("sacct-parsable-cancelled.txt", RunState.TERMINATED, "CANCELLED by 1000", None, 15),
        ("sacct-parsable-timeout.txt", RunState.TERMINATING, "TIMEOUT", None, 1),
        ("sacct-parsable-node-fail.txt", RunState.TERMINATING, "NODE_FAIL", 1, None),
        ("sacct-parsable-relative-time.txt", RunState.TERMINATING, "COMPLETED", 0, None),
        ("sacct-parsable-start-before-submit.txt", RunState.TERMINATING, "COMPLETED", 0, None),
        ("sacct-parsable-running-steps-completed.txt", RunState.RUNNING, "RUNNING", None, None),
    ],
)
def test_sacct_gc3pie_samples(
    name: str, state: RunState, raw: str, exitcode: int | None, signal: int | None
) -> None:
    jobs = parse_sacct(sample(name), GC3PIE_SACCT)
    assert list(jobs) == ["123"]
    job = jobs["123"]
    assert (job.state, job.raw_state, job.exitcode, job.signal) == (state, raw, exitcode, signal)


def test_sacct_gc3pie_times() -> None:
    job = parse_sacct(sample("sacct-parsable-completed-64cpu.txt"), GC3PIE_SACCT)["123"]
    assert job.cores == 64 and job.elapsed == 23
    assert job.end_time is not None and job.start_time is not None and job.end_time - job.start_time == 23
    relative = parse_sacct(sample("sacct-parsable-relative-time.txt"), GC3PIE_SACCT)["123"]
    assert relative.start_time is None  # SLURM_TIME_FORMAT=relative cannot be placed in a year: unknown


def test_sacct_toil_jobidraw() -> None:
    jobs = parse_sacct(sample("sacct-n-P-jobidraw-state-exitcode.txt"), ["JobIDRaw", "State", "ExitCode"])
    assert (jobs["609663"].exitcode, jobs["609663"].signal) == (None, 2)
    assert (jobs["785023"].exitcode, jobs["785023"].reason) == (127, "failed: exit code 127")
    assert jobs["754725"].state == RunState.TERMINATING and jobs["754725"].raw_state == "TIMEOUT"
    assert jobs["789868"].state == RunState.SUBMITTED
    assert all("." not in jobid for jobid in jobs)


def test_sacct_mavis_arrays_with_header() -> None:
    jobs = parse_sacct(sample("sacct-parsable2-array-cancelled-task.txt"), None)
    assert jobs["1697503_1"].state == RunState.TERMINATED
    assert jobs["1697503_3"].state == RunState.TERMINATING and jobs["1697503_3"].array_task == "3"
    pending = parse_sacct(sample("sacct-parsable2-array-pending.txt"), None)
    assert pending["1701003_[37-200]"].array_task == "37-200"
    assert pending["1701003_1"].state == RunState.RUNNING
    (cancelled,) = parse_sacct(sample("sacct-long-parsable2-cancelled.txt"), None).values()
    assert cancelled.state == RunState.TERMINATED and cancelled.queue == "short"
    resubmitted = parse_sacct(sample("sacct-long-parsable2-array-resubmission.txt"), None)
    assert resubmitted["1873472_168"].raw_state == "TIMEOUT"
    assert {j.state for j in resubmitted.values()} <= {RunState.TERMINATING, RunState.TERMINATED}


def test_sacct_name_with_separator_last() -> None:
    jobs = parse_sacct("7|COMPLETED|0:0|None|debug|1|root||||00:00:01|a|b\n")
    assert jobs["7"].name == "a|b"


def test_sacct_errors_recognised() -> None:
    assert accounting_disabled(sample("sacct-error-accounting-disabled.stderr.txt"))
    assert not accounting_disabled(sample("sacct-error-db-timeout.stderr.txt"))
    assert parse_sacct("") == {}
    # sacct -P -n -j 99999: empty output, exit 0
    assert "$ sacct -P -n -j 99999\n\n" in ERRORS


# ---------------------------------------------------------------------------- scontrol


def test_scontrol_transcript_multiline() -> None:
    (job,) = parse_scontrol_jobs(transcript_block(TRANSCRIPT, "scontrol show job 2"))
    assert (job.jobid, job.name, job.state, job.reason, job.queue, job.user) == (
        "2", "ok", RunState.SUBMITTED, "", "debug", "root")
    assert job.submit_time is not None and job.cores == 1


def test_scontrol_oneline() -> None:
    line = ("JobId=2 JobName=a|b c UserId=root(0) GroupId=root(0) MCS_label=N/A JobState=FAILED "
            "Reason=NonZeroExitCode Dependency=(null) Requeue=1 ExitCode=3:0 RunTime=00:00:02 "
            "TimeLimit=00:02:00 SubmitTime=2026-11-25T12:03:46 StartTime=2026-11-25T12:03:47 "
            "EndTime=2026-11-25T12:03:49 Partition=debug NumCPUs=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* Power=\n"
            "JobId=9 ArrayJobId=7 ArrayTaskId=2 JobName=arr UserId=batchtest(1001) JobState=CANCELLED "
            "Reason=None ExitCode=0:15 Partition=debug NumCPUs=1\n")
    jobs = {j.jobid: j for j in parse_scontrol_jobs(line)}
    assert jobs["2"].name == "a|b c" and jobs["2"].exitcode == 3 and jobs["2"].elapsed == 2
    assert jobs["2"].end_time is not None and jobs["2"].reason == "failed: exit code 3"
    assert (jobs["7_2"].state, jobs["7_2"].signal, jobs["7_2"].user) == (RunState.TERMINATED, 15, "batchtest")
    assert parse_scontrol_jobs("No jobs in the system\n") == []


@pytest.mark.parametrize(
    ("name", "jobid", "state", "reason"),
    [
        ("scontrol-show-job-completed.txt", "787204", RunState.TERMINATING, ""),
        ("scontrol-show-job-running.txt", "789724", RunState.RUNNING, ""),
        ("scontrol-show-job-running-2.txt", "267858", RunState.RUNNING, ""),
        ("scontrol-show-job-pending-dependency-never-satisfied.txt", "1673292", RunState.SUBMITTED,
         "DependencyNeverSatisfied: its dependency can never be satisfied, it will not start"),
        ("scontrol-show-job-pending-reqnodenotavail.txt", "789728", RunState.SUBMITTED,
         "ReqNodeNotAvail,_UnavailableNodes:wn-db-05"),
        ("scontrol-show-job-array-cancelled-task.txt", "1697503_1", RunState.TERMINATED, "cancelled"),
    ],
)
def test_scontrol_samples(name: str, jobid: str, state: RunState, reason: str) -> None:
    jobs = {j.jobid: j for j in parse_scontrol_jobs(sample(name))}
    assert jobid in jobs
    assert (jobs[jobid].state, jobs[jobid].reason) == (state, reason)


def test_scontrol_array_sample() -> None:
    jobs = parse_scontrol_jobs(sample("scontrol-show-job-array.txt"))
    assert len(jobs) >= 3
    assert {j.array_id for j in jobs} == {"1673301"}
    assert "1673301_3" in {j.jobid for j in jobs}
    running = next(j for j in jobs if j.jobid == "1673301_3")
    assert running.elapsed == 11 and running.end_time is None


def test_scontrol_error_text_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_scontrol_jobs(sample("scontrol-show-job-error-invalid-jobid.stderr.txt"))


# ---------------------------------------------------------------------------- sinfo


def test_sinfo_transcript() -> None:
    text = transcript_block(TRANSCRIPT, "sinfo -h -o '%P|%a|%l|%D|%T|%N'")
    queues = {q.name: q for q in parse_sinfo(text, ["partition", "avail", "timelimit", "nodes", None, None], "|")}
    assert queues["debug"].is_default and not queues["long"].is_default
    assert queues["debug"].max_walltime == 3600 and queues["long"].max_walltime is None
    assert queues["debug"].nodes == 1 and queues["debug"].state == "up"


def test_sinfo_real_format() -> None:
    text = "debug*\x1fup\x1f1:00:00\x1f1\x1f1/1/0/2\nlong\x1fup\x1finfinite\x1f1\x1f0/2/0/2\n"
    debug, long = parse_sinfo(text)
    assert (debug.name, debug.is_default, debug.total_cores, debug.free_cores) == ("debug", True, 2, 1)
    assert (long.max_walltime, long.free_cores) == (None, 2)


def test_sinfo_default_sample_sums_rows() -> None:
    queues = {q.name: q for q in parse_sinfo(
        sample("sinfo-default.txt"), ["partition", "avail", "timelimit", "nodes", None, None], None)}
    assert set(queues) == {"debug", "batch"}
    assert queues["debug"].nodes == 5 and queues["batch"].nodes == 10
    assert queues["debug"].is_default and queues["debug"].max_walltime == 30 * 60


def test_sinfo_summary_sample() -> None:
    queues = {q.name: q for q in parse_sinfo(
        sample("sinfo-s-man-example.txt"), ["partition", "avail", "timelimit", "nodes_aiot", None], None)}
    assert queues["batch"].nodes == 8 and queues["batch"].max_walltime is None
    assert queues["debug"].is_default


def test_sinfo_toil_sample() -> None:
    queues = {q.name: q for q in parse_sinfo(
        sample("sinfo-o-partition-gres-timelimit.txt"), ["partition", None, "timelimit", None, None, None], None)}
    assert queues["short"].is_default and queues["long"].max_walltime == 14 * 86400
    assert queues["simple_nodelist"].max_walltime == 60


def test_sinfo_bad_cpus_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_sinfo("debug*\x1fup\x1f1:00:00\x1f1\x1f1/1/2\n")


# ---------------------------------------------------------------------------- sbatch / scancel


@pytest.mark.parametrize(
    ("text", "jobid"),
    [("4\n", "4"), ("630114;mpp2\n", "630114"), (sample("sbatch-submit-ok.txt"), "123"),
     (sample("sbatch-submit-multicluster.txt"), "630114")],
)
def test_sbatch_answers(text: str, jobid: str) -> None:
    assert parse_sbatch(text) == jobid
    backend = SlurmBatchSystem("t")
    assert backend.get_jobid_from_submit_output(text, backend.submit_regexp) == jobid


def test_sbatch_transcript_answers() -> None:
    assert parse_sbatch(transcript_block(TRANSCRIPT, "sbatch --parsable fail.sh")) == "4"
    assert parse_sbatch(transcript_block(TRANSCRIPT, "sbatch ok.sh")) == "2"


@pytest.mark.parametrize(
    "name",
    ["sbatch-error-invalid-account.stderr.txt", "sbatch-error-invalid-account-2.stderr.txt",
     "sbatch-error-invalid-partition.stderr.txt", "scancel-error-invalid-jobid.stderr.txt",
     "scancel-error-permission-denied.stderr.txt", "scancel-terminating.stderr.txt",
     "squeue-error-invalid-jobid.stderr.txt"],
)
def test_error_outputs_carry_no_job_id(name: str) -> None:
    # error lines that mention a job id are still not a submission answer
    with pytest.raises(ParseError):
        parse_sbatch(sample(name))


# ---------------------------------------------------------------------------- the job script


def test_job_script_directives(tmp_path: Path) -> None:
    backend = SlurmBatchSystem("t")
    spec = JobSpec(command=["echo", "hi"], name="my job", cores=2, memory_per_core=1536, walltime=5400,
                   queue="long", stdout="out/o.txt", stderr="err.txt", prologue="echo pro", epilogue="echo epi")
    job = JobRecord(id=uuid.uuid4().hex[:8], cluster="t", spec=spec)
    script = backend.render_script(job, "/sand box/%j")
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives[0] == f"#SBATCH --job-name=bd-{job.id}-my_job"
    assert tag_of(directives[0].split("=", 1)[1]) == job.id
    assert "#SBATCH --partition=long" in directives
    assert "#SBATCH --ntasks=1" in directives and "#SBATCH --cpus-per-task=2" in directives
    assert "#SBATCH --mem-per-cpu=1536M" in directives
    assert "#SBATCH --time=01:30:00" in directives
    # quoted the way sbatch's directive reader unquotes; % escaped from SLURM's filename patterns
    assert "#SBATCH '--output=/sand box/%%j/out/o.txt'" in directives
    assert "#SBATCH '--error=/sand box/%%j/err.txt'" in directives
    assert "#SBATCH '--chdir=/sand box/%j'" in directives
    assert script.index("echo pro") < script.index("echo hi") < script.index("echo epi")
    assert backend.submit_argv(job, "/x/job.sh") == (["sbatch", "--parsable", "/x/job.sh"], None)


def test_job_script_merges_same_stdout_stderr() -> None:
    backend = SlurmBatchSystem("t")
    spec = JobSpec(command=["true"], stdout="log.txt", stderr="log.txt")
    job = JobRecord(id=uuid.uuid4().hex[:8], cluster="t", spec=spec)
    script = backend.render_script(job, "/s")
    assert "#SBATCH --output=/s/log.txt" in script and "--error" not in script
    assert "--partition" not in script and "--mem-per-cpu" not in script and "--time" not in script


# ---------------------------------------------------------------------------- fuzzing

_alphabet = st.sampled_from(list("0123456789_[]-|:/*.,=+ \n\t\x1fABCDEFGHIJKLMNOPRSTUVXYZabcdefghijkl()#%\"'²٣"))
_texts = st.text(_alphabet, max_size=300) | st.text(max_size=200)

# Every parser is fuzzed for "only ParseError" by tests/test_parser_fuzz.py (tests/fuzz.py lists them).


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_slurm_state_never_raises(text: str) -> None:
    slurm_state(text, text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(_alphabet, max_size=12), min_size=len(SQUEUE_FIELDS), max_size=len(SQUEUE_FIELDS)))
def test_fuzz_squeue_fields(values: list[str]) -> None:
    """Lines of the right shape with arbitrary field values: parsed or refused, nothing else."""
    line = FIELD_SEP.join(v.replace("\n", " ").replace(FIELD_SEP, " ") for v in values)
    try:
        jobs = parse_squeue(line + "\n")
    except ParseError:
        return
    assert all(re.match(r"\d", j.jobid) for j in jobs)
