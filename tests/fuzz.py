"""Every scheduler parser, and the text to fuzz it with, in one place (tests/test_parser_fuzz.py runs them).

A parser is a pure function, text in, records out, that may refuse its input only with a
``ParseError`` (tests/helpers.py ``only_parse_errors``); it is fed any text, text shaped like
its scheduler's output, and the real samples of tests/samples/ with a random stretch
replaced (``damaged``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from batchdeck.backends.schedulers import lsf, pbs, sge, slurm

SAMPLES = Path(__file__).parent / "samples"

# ---------------------------------------------------------------------------- hostile input
# What the hostile-input tests (test_hostile_input.py, test_hostile_builders.py) build
# names, values and paths from: shell syntax, options, odd Unicode, and commands that
# create CANARY if anything ever runs them.

#: created only if a hostile string was executed
CANARY = Path("/tmp/batchdeck-canary-executed")
HOSTILE = [
    " ", "'", '"', "\\", "$", "`", ";", "&", "|", "<", ">", "(", ")", "{", "}", "*", "?", "~", "#", "!", "\n", "\t",
    "$(touch /tmp/batchdeck-canary-executed)", "`touch /tmp/batchdeck-canary-executed`",
    "; touch /tmp/batchdeck-canary-executed", "' ; touch /tmp/batchdeck-canary-executed '",
    "$HOME", "${IFS}", "-n", "--", "é", "日本", "🚀", "\u202e",
]  # fmt: skip


@dataclass(frozen=True)
class Parser:
    scheduler: str
    name: str
    parse: Callable[[str], object]

    @property
    def id(self) -> str:
        return f"{self.scheduler}:{self.name}"


def sample_names(scheduler: str) -> list[str]:
    """The sample files (``folder/name``) of a scheduler's outputs."""
    folders = {"pbs": ["pbspro", "torque"], "lsf": ["lsf"], "sge": ["sge"], "slurm": ["slurm"]}[scheduler]
    return sorted(
        f"{folder}/{path.name}"
        for folder in folders
        for path in (SAMPLES / folder).iterdir()
        if path.name != "PROVENANCE.md"
    )


def sample_text(name: str) -> str:
    return (SAMPLES / name).read_text(errors="replace")


def _parsers(scheduler: str, entries: list[tuple[str, Callable[[str], object]]]) -> list[Parser]:
    return [Parser(scheduler, name, parse) for name, parse in entries]


AIIDA_FIELDS = "id stat exit_reason exec_host user slots max_req_proc exec_host queue finish_time start_time %complete submit_time name".split()

PARSERS: list[Parser] = [
    *_parsers(
        "pbs",
        [
            ("parse_qstat_f", pbs.parse_qstat_f),
            ("parse_qstat_json", pbs.parse_qstat_json),
            ("parse_qstat_xml", pbs.parse_qstat_xml),
            ("parse_qstat_table", pbs.parse_qstat_table),
            ("parse_tracejob", pbs.parse_tracejob),
            ("parse_qstat_queues", pbs.parse_qstat_queues),
            ("parse_qstat_queues_json", pbs.parse_qstat_queues_json),
            ("parse_qsub_output", pbs.parse_qsub_output),
            ("parse_qstat_version", pbs.parse_qstat_version),
            ("parse_qmgr_server", pbs.parse_qmgr_server),
            ("parse_pbsnodes", pbs.parse_pbsnodes),
            ("parse_unknown_job_ids", pbs.parse_unknown_job_ids),
            ("parse_qstat_any", pbs.parse_qstat_any),
            ("parse_pbs_history", pbs.parse_pbs_history),
            ("parse_pbs_history(torque, user, since)", lambda text: pbs.parse_pbs_history(text, "torque", "u", 1.5e9)),
            ("parse_pbs_details", pbs.parse_pbs_details),
        ],
    ),
    *_parsers(
        "lsf",
        [
            ("parse_bjobs_json", lsf.parse_bjobs_json),
            ("parse_bjobs_delimited", lsf.parse_bjobs_delimited),
            ("parse_bjobs_delimited(aiida fields)", lambda text: lsf.parse_bjobs_delimited(text, AIIDA_FIELDS, now=1.6e9)),
            ("parse_bjobs_table", lsf.parse_bjobs_table),
            ("parse_bjobs_sum", lsf.parse_bjobs_sum),
            ("parse_lsf_long", lsf.parse_lsf_long),
            ("parse_job_report", lsf.parse_job_report),
            ("parse_bsub_output", lsf.parse_bsub_output),
            ("parse_bkill_output", lsf.parse_bkill_output),
            ("parse_not_found", lsf.parse_not_found),
            ("parse_bqueues", lsf.parse_bqueues),
            ("parse_bqueues_limits", lsf.parse_bqueues_limits),
            ("parse_lshosts", lsf.parse_lshosts),
            ("parse_bacct_history", lambda text: lsf.parse_bacct_history(text, 1.6e9)),
            ("parse_bacct_history(since)", lambda text: lsf.parse_bacct_history(text, 1.6e9, 1.5e9)),
            ("parse_lsf_details", lambda text: lsf.parse_lsf_details(text, "c", 1.6e9)),
            ("parse_lsf_details(bacct)", lambda text: lsf.parse_lsf_details("@@@ bacct\n" + text, "c", 1.6e9)),
        ],
    ),
    *_parsers(
        "sge",
        [
            ("parse_submit_output", sge.parse_submit_output),
            ("parse_qstat_xml", sge.parse_qstat_xml),
            ("parse_qstat_j_errors", sge.parse_qstat_j_errors),
            ("parse_qacct", sge.parse_qacct),
            ("parse_qacct_records", sge.parse_qacct_records),
            ("parse_qacct_history", sge.parse_qacct_history),
            ("parse_sge_details", sge.parse_sge_details),
            ("parse_qstat_gc", sge.parse_qstat_gc),
            ("parse_qstat_gc_xml", sge.parse_qstat_gc_xml),
            ("classify_qdel_output", sge.classify_qdel_output),
            ("parse_qconf_queues", sge.parse_qconf_queues),
            ("parse_qconf_pe", sge.parse_qconf_pe),
            ("parse_slot_limits", sge.parse_slot_limits),
            ("parse_qselect", sge.parse_qselect),
        ],
    ),
    *_parsers(
        "slurm",
        [
            ("parse_squeue", slurm.parse_squeue),
            (
                "parse_squeue(| separated, 3 fields)",
                lambda text: slurm.parse_squeue(text.replace("\x1f", "|"), ["jobid", "state", "reason"], "|"),
            ),
            ("parse_sacct", slurm.parse_sacct),
            ("parse_sacct(no fields)", lambda text: slurm.parse_sacct(text, None)),
            ("parse_sacct(3 fields)", lambda text: slurm.parse_sacct(text, ["JobID", "State", "ExitCode"])),
            ("parse_scontrol_jobs", slurm.parse_scontrol_jobs),
            ("parse_scontrol_jobs(JobId=...)", lambda text: slurm.parse_scontrol_jobs("JobId=" + text)),
            ("parse_scontrol_details", slurm.parse_scontrol_details),
            ("parse_scontrol_details(JobId=...)", lambda text: slurm.parse_scontrol_details("JobId=" + text)),
            ("parse_sacct_history", slurm.parse_sacct_history),
            ("parse_sinfo", slurm.parse_sinfo),
            (
                "parse_sinfo(6 fields, no separator)",
                lambda text: slurm.parse_sinfo(text, ["partition", "avail", "timelimit", "nodes", None, None], None),
            ),
            ("parse_queue_counts", slurm.parse_queue_counts),
            ("parse_sbatch", slurm.parse_sbatch),
            ("decode_exit_code", slurm.decode_exit_code),
        ],
    ),
]


# ---------------------------------------------------------------------------- text shaped like each scheduler's

_SLURM_ALPHABET = st.sampled_from(
    list("0123456789_[]-|:/*.,=+ \n\t\x1fABCDEFGHIJKLMNOPRSTUVXYZabcdefghijkl()#%\"'²٣")
)

_SGE_XML_TAGS = [
    "job_info", "queue_info", "Queue-List", "name", "job_list", "JB_job_number", "state", "slots", "tasks",
    "queue_name", "JAT_start_time", "JB_submission_time", "cluster_queue_summary", "used", "available", "total",
]  # fmt: skip

_SGE_LINES = [
    "====",
    "@@@ 5",
    "jobnumber    5",
    "jobnumber    x",
    "failed       100 : assumedly after job",
    "exit_status  137 (Killed)",
    "start_time   Tue Nov 24 21:25:26 2026",
    "start_time   Tue Feb 31 99:25:26 99999",
    "taskid       2",
    "job_number:  12",
    "error reason  1: [1:2]: boom",
    "CLUSTER QUEUE CQLOAD USED RES AVAIL TOTAL aoACDS cdsuE",
    "all.q 0.05 0 0 2 2 0 0",
    "Your job-array 5.1-3:1",
    "@@@ qacct",
    "@@@ qstat",
    "job_state 1:   r",
    "OWNER       WALLCLOCK         UTIME         STIME           CPU             MEMORY                 IO                IOW",
]


@st.composite
def sge_xmlish(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from([f"<{t}>" for t in _SGE_XML_TAGS] + [f"</{t}>" for t in _SGE_XML_TAGS]),
                st.text(max_size=12),
                st.sampled_from(["2026-11-24T21:25:06", "1-3:1", "Eqw", "-1", "99999999999999999999"]),
            ),
            max_size=40,
        )
    )
    return "".join(parts)


@st.composite
def sge_lineish(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.one_of(st.sampled_from(_SGE_LINES), st.text(max_size=30)), max_size=25))
    return "\n".join(lines)


#: what each scheduler's parsers are fed besides damaged samples
TEXTS: dict[str, st.SearchStrategy[str]] = {
    "pbs": st.text(),
    "lsf": st.text(),
    "sge": st.one_of(st.text(), sge_xmlish(), sge_lineish()),
    "slurm": st.text(_SLURM_ALPHABET, max_size=300) | st.text(max_size=200),
}
