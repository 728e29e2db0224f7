"""Grid Engine parsers on real outputs (tests/samples/sge, the SGE 8.1.9 transcripts) and fuzzed input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from batchdeck.backends.errors import InvalidJobSpec, LimitExceeded, ParseError
from batchdeck.backends.model import JobRecord, JobSpec, RunState, SchedulerJob
from batchdeck.backends.schedulers import sge
from batchdeck.backends.schedulers.base import JOB_SCRIPT

SAMPLES = Path(__file__).parent / "samples" / "sge"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def transcript_block(command: str, occurrence: int = 0, source: str = "sge-transcript.txt") -> str:
    """The output printed after ``$ command`` in an SGE transcript (up to the next blank line + ``$``/``#``)."""
    path = SAMPLES / source
    text = path.read_text()
    starts = [m.end() for m in re.finditer(rf"^\$ {re.escape(command)}\n", text, re.M)]
    if len(starts) <= occurrence:
        raise AssertionError(f"{command!r} not found {occurrence + 1} times in {path}")
    rest = text[starts[occurrence] :]
    end = re.search(r"^(?:\$ |### |\[exit )", rest, re.M)
    return rest[: end.start()] if end else rest


# ---------------------------------------------------------------------- qsub


@pytest.mark.parametrize(
    ("name", "jobid"),
    [("qsub-submit.txt", "123"), ("qsub-submit-2.txt", "1258076"), ("qsub-then-qstat-qw.txt", "38759")],
)
def test_submit_output_samples(name: str, jobid: str) -> None:
    assert sge.parse_submit_output(sample(name)) == jobid


def test_submit_terse_forms_from_the_transcript() -> None:
    assert sge.parse_submit_output(transcript_block("qsub -terse slow.sh")) == "3"
    # An array comes back as ID.first-last:step; the id is the part before the dot.
    assert sge.parse_submit_output(transcript_block("qsub -terse arr.sh")) == "5"
    assert sge.parse_submit_output(transcript_block("qsub ok.sh")) == "2"
    assert sge.parse_submit_output(transcript_block("qsub -l h_vmem=1G -b y -terse true", source="sge-errors.txt")) == "36"


@pytest.mark.parametrize("command", ["qsub -q nope.q -b y true", "qsub /nonexistent.sh"])
def test_submit_errors_from_the_transcript_are_parse_errors(command: str) -> None:
    with pytest.raises(ParseError):
        sge.parse_submit_output(transcript_block(command, source="sge-errors.txt"))


def test_submit_error_sample_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no job id"):
        sge.parse_submit_output(sample("qsub-error-invalid-job-name.stderr.txt"))


def test_class_submit_regexp_matches_the_parser() -> None:
    system = sge.SgeBatchSystem("g", transport="local")
    assert system.get_jobid_from_submit_output("5.1-3:1\n", system.submit_regexp) == "5"


# ---------------------------------------------------------------------- job script


def _job(**spec: object) -> JobRecord:
    return JobRecord(id="abcd1234", cluster="g", spec=JobSpec(**spec))  # type: ignore[arg-type]


def test_script_directives_carry_every_request() -> None:
    system = sge.SgeBatchSystem("g", transport="local", parallel_environment="mpi", prologue="echo pro")
    job = _job(
        command=["echo", "hi there"],
        name="my job!",
        cores=4,
        memory_per_core=1500,
        walltime=3600,
        queue="all.q",
        epilogue="echo epi",
    )
    script = system.render_script(job, "/scratch/u/abcd1234")
    lines = script.splitlines()
    directives = [line for line in lines if line.startswith("#$ ")]
    assert directives == [
        "#$ -N bd-abcd1234-my_job",
        "#$ -S /bin/bash",
        "#$ -wd /scratch/u/abcd1234",
        "#$ -o /scratch/u/abcd1234/stdout.txt",
        "#$ -e /scratch/u/abcd1234/stderr.txt",
        "#$ -q all.q",
        "#$ -pe mpi 4",
        "#$ -l h_vmem=1500M",
        "#$ -l h_rt=3600",
    ]
    assert lines.index("echo pro") < lines.index("echo 'hi there'") < lines.index("echo epi")
    argv, stdin = system.submit_argv(job, "/scratch/u/abcd1234/" + JOB_SCRIPT)
    assert argv == ["qsub", "-terse", "/scratch/u/abcd1234/" + JOB_SCRIPT]
    assert stdin is None
    assert system.cancel_argv("42") == ["qdel", "42"]


def test_same_stdout_and_stderr_joins_them_and_single_core_has_no_pe() -> None:
    system = sge.SgeBatchSystem("g", transport="local")
    job = _job(command=["true"], stdout="out.log", stderr="out.log")
    directives = [d for d in system.script_directives(job, "/s/abcd1234")]
    assert "#$ -j y" in directives
    assert "#$ -o /s/abcd1234/out.log" in directives
    assert not any(d.startswith("#$ -e") or d.startswith("#$ -pe") for d in directives)


def test_a_queue_name_a_directive_cannot_carry_goes_on_the_argv() -> None:
    system = sge.SgeBatchSystem("g", transport="local")
    job = _job(command=["true"], queue="odd queue;rm")
    job.sandbox = "/s/abcd1234"
    assert not any(d.startswith("#$ -q") for d in system.script_directives(job, "/s/abcd1234"))
    argv, _ = system.submit_argv(job, "/s/abcd1234/" + JOB_SCRIPT)
    assert argv == ["qsub", "-terse", "-q", "odd queue;rm", "/s/abcd1234/" + JOB_SCRIPT]


@pytest.mark.parametrize("sandbox", ["/s/with space/x", "/s/host:x", "/s/$HOME/x", "/s/a,b"])
def test_paths_qsub_would_misread_are_refused(sandbox: str) -> None:
    system = sge.SgeBatchSystem("g", transport="local")
    with pytest.raises(InvalidJobSpec):
        system.script_directives(_job(command=["true"]), sandbox)


# ---------------------------------------------------------------------- qstat -xml


@pytest.mark.parametrize(
    ("letters", "state"),
    [
        ("qw", RunState.SUBMITTED),
        ("hqw", RunState.SUBMITTED),
        ("hRwq", RunState.SUBMITTED),
        ("w", RunState.SUBMITTED),
        ("r", RunState.RUNNING),
        ("t", RunState.RUNNING),
        ("R", RunState.RUNNING),
        ("Rr", RunState.RUNNING),
        ("Rt", RunState.RUNNING),
        ("hr", RunState.RUNNING),
        ("dr", RunState.RUNNING),
        ("dt", RunState.RUNNING),
        ("s", RunState.STOPPED),
        ("S", RunState.STOPPED),
        ("T", RunState.STOPPED),
        ("Tr", RunState.STOPPED),
        ("Eqw", RunState.STOPPED),
        ("E", RunState.STOPPED),
        ("z", RunState.TERMINATING),
    ],
)
def test_state_letters(letters: str, state: RunState) -> None:
    assert sge.state_from_letters(letters)[0] == state


def test_state_reasons() -> None:
    assert "hold" in sge.state_from_letters("hqw")[1]
    assert "deleted" in sge.state_from_letters("dr")[1]
    assert "error" in sge.state_from_letters("Eqw")[1]
    assert "suspended" in sge.state_from_letters("s")[1]


def test_qstat_xml_running_and_pending_from_the_transcript() -> None:
    jobs = sge.parse_qstat_xml(transcript_block("qstat -xml"))
    by_id = {j.jobid: j for j in jobs}
    assert [j.jobid for j in jobs] == ["2", "3", "7", "4", "5", "6"]
    assert by_id["2"].state == RunState.RUNNING
    assert (by_id["2"].queue, by_id["2"].comment, by_id["2"].user) == ("all.q", "host vm", "root")
    assert by_id["2"].start_time is not None
    assert by_id["7"].state == RunState.SUBMITTED and by_id["7"].cores == 2
    assert (by_id["5"].array_id, by_id["5"].array_task) == ("5", "1-3:1")
    assert by_id["6"].raw_state == "hqw" and "hold" in by_id["6"].reason
    assert by_id["4"].submit_time is not None and by_id["4"].queue == ""


def test_qstat_xml_xenon_sample() -> None:
    jobs = sge.parse_qstat_xml(sample("qstat-xml.xml"))
    assert len(jobs) == 9
    assert sum(j.state == RunState.RUNNING for j in jobs) == 8
    pending = [j for j in jobs if j.state == RunState.SUBMITTED]
    assert [(j.jobid, j.cores) for j in pending] == [("583302", 512)]
    assert {j.queue for j in jobs if j.state == RunState.RUNNING} == {"all.q", "gpu.q", "fat.q"}


def test_qstat_r_xml_sample_with_queue_list_and_requests() -> None:
    jobs = {j.jobid: j for j in sge.parse_qstat_xml(sample("qstat-r-xml.xml"))}
    assert set(jobs) == {"88", "1045", "1046", "44"}
    # A running job listed under its Queue-List has no queue_name of its own.
    assert (jobs["88"].state, jobs["88"].queue, jobs["88"].comment) == (RunState.RUNNING, "general.q", "host worker")
    assert jobs["1045"].queue == "general.q"  # hard_req_queue of a pending job
    assert jobs["1046"].array_task == "1-10:2"
    assert jobs["44"].raw_state == "hqw"


def test_qstat_ext_urg_sample() -> None:
    jobs = sge.parse_qstat_xml(sample("qstat-ext-urg-xml.xml"))
    assert [(j.jobid, j.state, j.raw_state) for j in jobs] == [
        ("1212299", RunState.RUNNING, "r"),
        ("1212263", RunState.SUBMITTED, "qw"),
        ("1212322", RunState.SUBMITTED, "hqw"),
    ]


def test_qstat_xml_malformed_sample_is_a_parse_error() -> None:
    # Grid Engine really prints "<>" element names for unknown jobs.
    with pytest.raises(ParseError, match="not valid XML"):
        sge.parse_qstat_xml(sample("qstat-r-xml-j-unknown-job.xml"))


def test_qstat_xml_deleting_and_error_states_from_the_transcript() -> None:
    deleting = sge.parse_qstat_xml(
        "<job_info><queue_info><job_list state='running'>"
        + transcript_block("qstat -xml | grep -A8 '<JB_job_number>11<'", occurrence=1)
        + "</queue_info></job_info>"
    )
    assert [(j.jobid, j.state, j.raw_state) for j in deleting] == [("11", RunState.RUNNING, "dr")]
    block = transcript_block("qstat -xml | grep -A9 '<JB_job_number>12<'")
    error = sge.parse_qstat_xml("<job_info><job_info><job_list state='pending'>" + block + "</job_info>")
    assert [(j.jobid, j.state, j.raw_state) for j in error] == [("12", RunState.STOPPED, "Eqw")]


def test_empty_qstat_output_means_no_jobs() -> None:
    assert sge.parse_qstat_xml("") == []
    assert sge.parse_qstat_xml("<?xml version='1.0'?>\n<job_info><queue_info/><job_info/></job_info>") == []


def test_qstat_xml_wrong_document_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        sge.parse_qstat_xml("<detailed_job_info></detailed_job_info>")
    with pytest.raises(ParseError):
        sge.parse_qstat_xml("<job_info><job_info><job_list><state>r</state></job_list></job_info></job_info>")


def test_array_job_with_a_running_task_is_running_for_the_refresh() -> None:
    jobs = [
        SchedulerJob("5", RunState.RUNNING, "r", array_id="5", array_task="1"),
        SchedulerJob("7", RunState.SUBMITTED, "qw"),
        SchedulerJob("5", RunState.SUBMITTED, "qw", array_id="5", array_task="2,3"),
    ]
    ordered = sge.order_for_refresh(jobs)
    assert {j.jobid: j for j in ordered}["5"].state == RunState.RUNNING
    assert len(ordered) == 3


# ---------------------------------------------------------------------- qstat -j


def test_error_reason_from_the_transcript() -> None:
    reasons = sge.parse_qstat_j_errors(transcript_block("qstat -j 12 | grep -E 'job_number|error reason|job_state'"))
    assert reasons == {"12": "error: can't chdir to /nonexistent/dir: No such file or directory"}


def test_qstat_j_without_error_reason() -> None:
    assert sge.parse_qstat_j_errors(sample("qstat-j-running.txt")) == {}
    assert sge.parse_qstat_j_errors(transcript_block("qstat -j 5")) == {}


# ---------------------------------------------------------------------- qacct


def test_qacct_exit_3_from_the_transcript() -> None:
    job = sge.parse_qacct(transcript_block("qacct -j 4"))["4"]
    assert (job.state, job.exitcode, job.signal, job.raw_state) == (RunState.TERMINATING, 3, None, "finished")
    assert job.name == "fail" and job.queue == "all.q" and job.elapsed == 2.0
    assert job.start_time is not None and job.end_time is not None and job.end_time >= job.start_time


def test_qacct_h_rt_kill_from_the_transcript() -> None:
    job = sge.parse_qacct(transcript_block("qacct -j 3"))["3"]
    assert (job.exitcode, job.signal, job.raw_state) == (None, 9, "failed 37")
    assert "walltime exceeded" in job.reason


def test_qacct_qdel_sample_is_signal_9_with_failed_100() -> None:
    job = sge.parse_qacct(sample("qacct-j-qdel-failed-100-exit-137.txt"))["3757249"]
    assert (job.state, job.signal, job.exitcode, job.raw_state) == (RunState.TERMINATING, 9, None, "failed 100")
    assert "qdel" in job.reason and "SIGKILL" in job.reason


@pytest.mark.parametrize(
    ("name", "jobid", "exitcode", "raw_state"),
    [
        ("qacct-j-done-exit0.txt", "123", 0, "finished"),
        ("qacct-j-passed.txt", "3744253", 0, "finished"),
        ("qacct-j-nonzero-exit.txt", "3755560", 1, "finished"),
        ("qacct-j-failed-26-opening-io-file.txt", "3760712", None, "failed 26"),
    ],
)
def test_qacct_samples(name: str, jobid: str, exitcode: int | None, raw_state: str) -> None:
    jobs = sge.parse_qacct(sample(name))
    assert list(jobs) == [jobid]
    assert (jobs[jobid].exitcode, jobs[jobid].raw_state, jobs[jobid].state) == (
        exitcode,
        raw_state,
        RunState.TERMINATING,
    )


def test_qacct_failed_26_reason_is_readable_and_start_unknown() -> None:
    job = sge.parse_qacct(sample("qacct-j-failed-26-opening-io-file.txt"))["3760712"]
    assert "output or error file" in job.reason
    assert job.start_time is None  # "-/-"


def test_qacct_array_tasks_fold_into_one_job() -> None:
    records = sge.parse_qacct_records(sample("qacct-j-array-3-tasks.txt"))
    assert [r.array_task for r in records] == ["1", "3", "2"]
    job = sge.parse_qacct(sample("qacct-j-array-3-tasks.txt"))["3757289"]
    assert job.exitcode == 0 and job.array_task == "1,2,3"


def test_qacct_not_found_and_summary() -> None:
    assert sge.parse_qacct(sample("qacct-error-job-not-found.stderr.txt")) == {}
    assert sge.parse_qacct("") == {}
    with pytest.raises(ParseError, match="jobnumber"):
        sge.parse_qacct(sample("qacct-total-system-usage.txt"))


def test_qacct_batched_output_with_markers() -> None:
    """What the sh -c loop prints: a marker per id, then qacct's record (or nothing, when not found)."""
    text = (
        "@@@ 4\n"
        + transcript_block("qacct -j 4")
        + "@@@ 8\n@@@ 3\n"
        + transcript_block("qacct -j 3")
        + "@@@ 5\n"
        + sample("qacct-j-array-3-tasks.txt")
    )
    jobs = sge.parse_qacct(text)
    assert set(jobs) == {"4", "3", "3757289"}
    assert jobs["4"].exitcode == 3 and jobs["3"].signal == 9


def test_reused_job_id_keeps_the_latest_record() -> None:
    old = sample("qacct-j-done-exit0.txt")
    new = old.replace("exit_status  0", "exit_status  5").replace("2012", "2013")
    jobs = sge.parse_qacct(old + new)
    assert jobs["123"].exitcode == 5


# ---------------------------------------------------------------------- queues


def test_qstat_gc_text_sample_and_transcript() -> None:
    [queue] = sge.parse_qstat_gc(sample("qstat-g-c.txt"))
    assert (queue.name, queue.total_cores, queue.free_cores, queue.state) == ("all.q", 1, 1, "up")
    [live] = sge.parse_qstat_gc(transcript_block("qstat -g c"))
    assert (live.name, live.total_cores, live.free_cores) == ("all.q", 2, 2)


def test_qstat_gc_xml_sample() -> None:
    queues = {q.name: q for q in sge.parse_qstat_gc_xml(sample("qstat-g-c-xml.xml"))}
    assert set(queues) == {"all.q", "das3.q", "disabled.q", "fat.q", "gpu.q"}
    assert (queues["all.q"].total_cores, queues["all.q"].free_cores) == (336, 288)
    assert queues["disabled.q"].state == "disabled"
    assert queues["fat.q"].state == "up"


def test_queue_counts_from_one_listing() -> None:
    queues = sge.parse_qstat_gc_xml(sample("qstat-g-c-xml.xml"))
    jobs = sge.parse_qstat_xml(sample("qstat-xml.xml"))
    counted = {q.name: (q.running, q.pending) for q in sge.count_jobs_per_queue(queues, jobs)}
    assert counted["all.q"] == (5, 0)
    assert counted["gpu.q"] == (1, 0) and counted["fat.q"] == (2, 0)
    [single] = sge.count_jobs_per_queue(
        sge.parse_qstat_gc(transcript_block("qstat -g c")), sge.parse_qstat_xml(transcript_block("qstat -xml"))
    )
    assert (single.running, single.pending) == (2, 4)


def test_qstat_gc_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        sge.parse_qstat_gc("CLUSTER QUEUE CQLOAD USED\nall.q x y z w\n")
    with pytest.raises(ParseError):
        sge.parse_qstat_gc("something else\n")


# ---------------------------------------------------------------------- fuzzing
# Every parser above is fuzzed by tests/test_parser_fuzz.py (tests/fuzz.py lists them),
# and run on every sample of tests/samples/sge.


# ---------------------------------------------------------------------- qdel


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        (sample("qdel-success.txt"), "registered"),
        (sample("qdel-error-job-does-not-exist.stderr.txt"), "not found"),
        (sample("qdel-error-no-privileges.stderr.txt"), "denied"),
        ("root has deleted job 6\n", "deleted"),
        ("root has registered the job 11 for deletion\n", "registered"),
        ('denied: job "99999" does not exist\n', "not found"),
        ("", "unknown"),
    ],
)
def test_qdel_outcomes(text: str, outcome: str) -> None:
    assert sge.classify_qdel_output(text) == outcome


def test_qdel_outcomes_from_the_transcripts() -> None:
    assert sge.classify_qdel_output(transcript_block("qdel 6")) == "deleted"
    assert sge.classify_qdel_output(transcript_block("qdel 11")) == "registered"
    assert sge.classify_qdel_output(transcript_block("qdel 2")) == "not found"
    assert sge.classify_qdel_output(transcript_block("qdel 99999", source="sge-errors.txt")) == "not found"


@pytest.mark.parametrize("name", ["qstat-default-uge-jclass.txt", "qstat-default-r-hqw-qw-Eqw-hr.txt"])
def test_every_state_letter_seen_in_real_qstat_output_is_mapped(name: str) -> None:
    expected = {
        "t": RunState.RUNNING,
        "r": RunState.RUNNING,
        "R": RunState.RUNNING,
        "hr": RunState.RUNNING,
        "qw": RunState.SUBMITTED,
        "hqw": RunState.SUBMITTED,
        "h": RunState.SUBMITTED,
        "w": RunState.SUBMITTED,
        "N": RunState.SUBMITTED,
        "P": RunState.SUBMITTED,
        "Eqw": RunState.STOPPED,
        "E": RunState.STOPPED,
        "Tr": RunState.STOPPED,
        "T": RunState.STOPPED,
        "S": RunState.STOPPED,
        "s": RunState.STOPPED,
    }
    rows = sample(name).splitlines()[2:]
    letters = [row.split()[4] for row in rows]
    assert letters and set(letters) <= set(expected)
    for word in letters:
        assert sge.state_from_letters(word)[0] == expected[word], word


# ---------------------------------------------------------------------- slots (qconf -sq / -sp)


def test_queue_slots_from_the_test_cluster() -> None:
    assert sge.parse_qconf_queues(sample("qconf-sq-all.q.txt")) == {
        "all.q": sge.QueueSlots("all.q", 2, frozenset({"smp"}), 2, (), None, ("@allhosts",))
    }


def test_pe_slots_from_the_test_cluster() -> None:
    assert sge.parse_qconf_pe(sample("qconf-sp-smp.txt")) == sge.PeSlots("smp", 2, "$pe_slots")


def test_queue_instances_from_the_test_cluster() -> None:
    assert sge.parse_qselect(sample("qselect.txt")) == {"all.q": ("vm",)}
    assert sge.parse_qselect(sample("qselect-q-all.q.txt")) == {"all.q": ("vm",)}
    assert sge.parse_qselect("") == {}
    with pytest.raises(ParseError):
        sge.parse_qselect(sample("qconf-sq-error-no-such-queue.stderr.txt"))


def test_slot_limits_from_the_one_round_trip() -> None:
    limits = sge.parse_slot_limits(sample("qconf-slots-hosts-smp.txt"))
    queues = sge.parse_qconf_queues(sample("qconf-sq-all.q.txt"))
    assert limits == sge.SlotLimits(queues, sge.parse_qconf_pe(sample("qconf-sp-smp.txt")), {"all.q": ("vm",)})
    # the capture of the script before it asked qselect: no hosts known
    assert sge.parse_slot_limits(sample("qconf-slots-smp.txt")) == sge.SlotLimits(queues, limits.pe, None)
    # qconf -sp of a parallel environment that does not exist prints nothing on stdout
    assert sge.parse_slot_limits(sample("qconf-slots-no-such-pe.txt")).pe is None


def _enhanced(slots: str, pe_list: str) -> str:
    """The real all.q with host-dependent values, in sge_queue_conf(5)'s enhanced syntax
    (written by qconf with a backslash continuation where a line grows long)."""
    text = sample("qconf-sq-all.q.txt")
    text = re.sub(r"(?m)^slots .*$", f"slots                 {slots}", text)
    return re.sub(r"(?m)^pe_list .*$", f"pe_list               {pe_list}", text)


def test_host_dependent_slots_count_their_largest_host() -> None:
    text = _enhanced("1,[node1=4], [@big=16],\\\n                      [node9=8]", "NONE,[@big=smp mpi]")
    queue = sge.parse_qconf_queues(text)["all.q"]
    assert queue == sge.QueueSlots(
        "all.q", 16, frozenset({"smp", "mpi"}), 1, (("node1", 4), ("node9", 8)), 16, ("@allhosts",)
    )
    # a host's own value; any other host may be in @big (qconf -sq does not say): 16 at most
    assert (queue.slots_of("node1"), queue.slots_of("node9"), queue.slots_of("other")) == (4, 8, 16)
    second = text.replace("all.q", "long.q")
    assert sorted(sge.parse_qconf_queues(text + "\n" + second)) == ["all.q", "long.q"]


@pytest.mark.parametrize(
    "text",
    [
        sample("qconf-sq-error-no-such-queue.stderr.txt"),
        "slots 2\n",  # no qname first
        _enhanced("many", "smp"),
        _enhanced("", "smp"),
    ],
)
def test_unreadable_queue_output_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        sge.parse_qconf_queues(text)


def test_unreadable_pe_output_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        sge.parse_qconf_pe(sample("qconf-sp-error-not-a-pe.stderr.txt"))
    with pytest.raises(ParseError):
        sge.parse_slot_limits(sample("qconf-sq-all.q.txt"))  # no "@@@ pe" line


#: the test cluster's all.q (2 slots, one host vm) and pe smp (2 slots, $pe_slots)
REAL_LIMITS = sge.parse_slot_limits(sample("qconf-slots-hosts-smp.txt"))


@pytest.mark.parametrize(("cores", "queue"), [(1, None), (2, None), (2, "all.q"), (2, "all.q@vm"), (2, "*.q"), (9, "nosuch.q")])
def test_cores_the_queue_can_give_pass(cores: int, queue: str | None) -> None:
    sge.check_slots(cores, queue, REAL_LIMITS, "smp", "grid")


@pytest.mark.parametrize(("cores", "queue"), [(3, None), (3, "all.q"), (99999999999, "all.q,other.q")])
def test_cores_over_the_queues_slots_are_refused_in_one_line(cores: int, queue: str | None) -> None:
    with pytest.raises(LimitExceeded) as caught:
        sge.check_slots(cores, queue, REAL_LIMITS, "smp", "grid")
    message = str(caught.value)
    assert "\n" not in message
    assert f"asks for {cores} cores" in message and "at most 2" in message
    assert "queue all.q: 2 slots" in message and "parallel environment smp" in message and "'grid'" in message


def test_a_queue_without_the_parallel_environment_is_named() -> None:
    limits = sge.parse_slot_limits(sample("qconf-slots-hosts-smp.txt").replace("pe_list               smp", "pe_list               NONE"))
    sge.check_slots(1, None, limits, "smp", "grid")
    with pytest.raises(LimitExceeded, match=r"no queue .*\(all\.q\) takes parallel environment smp"):
        sge.check_slots(2, None, limits, "smp", "grid")


def edited_limits(
    rule: str,
    pe_slots: int = 64,
    slots: str = "2,[node2=8],[node3=4]",
    hosts: str | None = "all.q@vm\nall.q@node2\nall.q@node3\n",
    hostlist: str = "@allhosts",
) -> sge.SlotLimits:
    """The real capture of SLOTS_SCRIPT (qconf-slots-hosts-smp.txt) edited, as PROVENANCE.md says:
    the allocation rule, the PE's slots, the queue's slots and hostlist, qselect's instances
    (None: qselect printed nothing, as where it failed)."""
    text = sample("qconf-slots-hosts-smp.txt")
    text = text.replace("allocation_rule    $pe_slots", f"allocation_rule    {rule}")
    text = text.replace("@@@ pe\npe_name            smp\nslots              2", f"@@@ pe\npe_name            smp\nslots              {pe_slots}")
    text = re.sub(r"(?m)^slots                 2$", f"slots                 {slots}", text)
    text = text.replace("hostlist              @allhosts", f"hostlist              {hostlist}")
    text = text.replace("@@@ hosts\nall.q@vm\n", f"@@@ hosts\n{hosts or ''}")
    limits = sge.parse_slot_limits(text)
    assert limits.pe is not None and (limits.pe.allocation_rule, limits.pe.slots) == (rule, pe_slots)
    return limits


def refused_at(cores: int, limits: sge.SlotLimits, queue: str | None = None) -> str:
    with pytest.raises(LimitExceeded) as caught:
        sge.check_slots(cores, queue, limits, "smp", "grid")
    message = str(caught.value)
    assert "\n" not in message and f"asks for {cores} cores" in message, message
    return message


def test_pe_slots_puts_the_job_on_its_largest_host() -> None:
    limits = edited_limits("$pe_slots")  # hosts vm 2, node2 8, node3 4
    sge.check_slots(8, None, limits, "smp", "grid")
    assert "at most 8 (queue all.q: 8 slots on its largest host, all on one host;" in refused_at(9, limits)


def test_a_fixed_allocation_rule_counts_the_hosts_that_have_that_many() -> None:
    limits = edited_limits("4")  # 4 on each host: node2 (8) and node3 (4) have them, vm (2) not
    sge.check_slots(8, None, limits, "smp", "grid")
    assert "at most 8 (queue all.q: 2 of 3 hosts have the 4 slots allocation_rule 4 puts on each;" in refused_at(9, limits)
    limits = edited_limits("2")  # every host has 2
    sge.check_slots(6, None, limits, "smp", "grid")
    assert "at most 6" in refused_at(7, limits)
    assert "at most 0" in refused_at(2, edited_limits("16"))  # no host has 16


@pytest.mark.parametrize("rule", ["$fill_up", "$round_robin"])
def test_spreading_rules_sum_the_queues_hosts(rule: str) -> None:
    limits = edited_limits(rule)  # 2 + 8 + 4
    sge.check_slots(14, None, limits, "smp", "grid")
    assert f"at most 14 (queue all.q: 14 slots over 3 hosts ({rule})" in refused_at(15, limits)
    # the parallel environment's own total bounds it below that
    message = refused_at(11, edited_limits(rule, pe_slots=10))
    assert f"at most 10 (queue all.q: 14 slots over 3 hosts ({rule}); parallel environment smp: 10 slots, allocation_rule {rule})" in message
    # the real single host: 2 slots, whatever the rule
    assert "at most 2" in refused_at(3, edited_limits(rule, slots="2", hosts="all.q@vm\n"))


def test_without_qselect_the_hostlist_names_the_hosts_or_only_the_pe_bounds() -> None:
    named = edited_limits("$fill_up", hosts=None, hostlist="vm node2")
    assert named.instances is None
    assert "at most 10 (queue all.q: 10 slots over 2 hosts" in refused_at(11, named)
    grouped = edited_limits("$fill_up", hosts=None)  # @allhosts: which hosts, qconf -sq does not say
    sge.check_slots(64, None, grouped, "smp", "grid")
    assert "at most 64 (parallel environment smp: 64 slots, allocation_rule $fill_up)" in refused_at(65, grouped)
    # an allocation rule batchdeck does not know: only the parallel environment's total
    sge.check_slots(64, None, edited_limits("$weird"), "smp", "grid")


def test_only_the_queues_asked_for_count() -> None:
    limits = edited_limits("$fill_up")
    queues = sample("qconf-slots-hosts-smp.txt").partition("@@@ hosts\n")[0]
    # a second queue long.q on vm alone (the real all.q renamed)
    long_q = sge.parse_qconf_queues(queues.replace("all.q", "long.q"))
    both = sge.SlotLimits({**limits.queues, **long_q}, limits.pe, {**(limits.instances or {}), "long.q": ("vm",)})
    sge.check_slots(16, None, both, "smp", "grid")  # 14 + 2 on vm
    assert "at most 2 (queue long.q: 2 slots over 1 hosts" in refused_at(3, both, "long.q")
    assert "at most 16 (queues all.q, long.q: 16 slots over 3 hosts" in refused_at(17, both, "*.q")
