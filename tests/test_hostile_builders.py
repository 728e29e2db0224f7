"""Hostile input through every backend's command builders (#17 item 10), with hypothesis.

Names, arguments, environment values, queues, stdout/stderr/output/input paths, the sandbox
root and scheduler job ids are built from shell syntax, options (leading dashes), line
breaks, NUL, lone surrogates and commands that create ``CANARY``. For SLURM, Grid Engine,
PBS Pro, TORQUE, LSF and local processes every builder either refuses the value with a
one-line ``BatchdeckError`` or produces what is safe to send:

- every argv is a list of strings that UTF-8 can carry, without NUL, and the one shell
  line the transport builds from it (``command_line``) splits back into the same argv;
- the job script passes ``bash -n`` and, run by bash for real in a temporary folder,
  creates no canary, passes the command's arguments through unchanged and writes nothing
  outside the sandbox but what batchdeck itself writes there;
- the scheduler's output files stay inside the sandbox, and an accepted job id can be no
  option (leading dash) or wildcard of the scheduler's commands.

Only the builders run: nothing is submitted (the real submits are tests/test_hostile_input.py
and the contract suite).
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from batchdeck.backends.engine import job_control
from batchdeck.backends.errors import BatchdeckError
from batchdeck.backends.model import JobRecord, JobSpec
from batchdeck.backends.schedulers.base import CONTROL_DIR, JOB_SCRIPT, BatchSystem
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.schedulers.lsf import LsfBatchSystem
from batchdeck.backends.schedulers.pbs import PbsBatchSystem
from batchdeck.backends.schedulers.sge import SgeBatchSystem
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
from batchdeck.backends.transports.base import command_line

from fuzz import CANARY, HOSTILE

#: a canary a relative command would create in the folder it runs in
RELATIVE_CANARY = "bd-canary-relative"
PIECES = [
    *HOSTILE,
    "\x00", "\udcff", "\ud800", "\r", "\x1b[2J", "\x7f", "\u2028",
    "-rf", "-u", "--user=me", "--output=/tmp/x", "-o", "-h",
    "..", "../", "/", "/etc/passwd", ".batchdeck/job.sh", ".bd-part-x", "sub/dir/",
    "%j", "%x", "%A_%a", "$JOB_ID", "$PBS_JOBID", "${HOME}", "=", ",", ":", "@", "[1-3]", "+1",
    f"$(touch {RELATIVE_CANARY})", f"`touch {RELATIVE_CANARY}`", f"\ntouch {RELATIVE_CANARY}\n",
    f"'\"; touch {CANARY}; #", f"\ntouch {CANARY}\n", f"\r\ntouch {CANARY}\r\n",
]  # fmt: skip

hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), min_size=1, max_size=5).map("".join)


def mostly(plain: list[str], wild: st.SearchStrategy[str] = hostile) -> st.SearchStrategy[str]:
    """A plain value two times in three: an example then holds one or two hostile values,
    which a backend that refuses some other field would otherwise never see."""
    return st.one_of(st.sampled_from(plain), st.sampled_from(plain), wild)


#: a path the user names in a sandbox: hostile words between slashes, sometimes plain
path = mostly(["stdout.txt", "out/log.txt", "o.txt"], st.lists(hostile, min_size=1, max_size=3).map("/".join))
#: one folder name the sandbox root ends with: hostile, but a name a file system takes
root_name = mostly(
    ["root", "sandboxes"],
    hostile.filter(
        lambda s: "/" not in s and "\x00" not in s and s not in (".", "..") and len(s.encode(errors="replace")) < 80
    ).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
)
#: a scheduler job id as a user types it after CLUSTER:
job_id = st.one_of(st.sampled_from(["123", "123_4", "123[].server", "123.4", "-u", "--user=me", "*"]), hostile)

SPEC = st.fixed_dictionaries(
    {
        "name": mostly(["job", "train-1"]),
        "args": st.lists(hostile, max_size=4),  # passed as data on every backend: always hostile
        "environment": st.dictionaries(mostly(["K", "DB_PASSWORD"]), hostile, max_size=2),
        "queue": st.one_of(st.none(), st.none(), mostly(["all.q", "normal"])),
        "stdout": path,
        "stderr": path,
        "outputs": st.lists(path, max_size=2),
        "input_name": st.one_of(st.none(), path),
        "cores": st.integers(1, 4),
    }
)

KINDS: dict[str, Callable[[str], BatchSystem]] = {
    "slurm": lambda root: SlurmBatchSystem("c", sandbox_root=root, username="me"),
    "sge": lambda root: SgeBatchSystem("c", sandbox_root=root, username="me"),
    "pbspro": lambda root: PbsBatchSystem("c", sandbox_root=root, flavour="pro"),
    "torque": lambda root: PbsBatchSystem("c", sandbox_root=root, flavour="torque"),
    "lsf": lambda root: LsfBatchSystem("c", sandbox_root=root),
    "local": lambda root: LocalBatchSystem("c", sandbox_root=root, max_cores=2),
}

#: characters an accepted scheduler job id must not hold: the shell's, and the schedulers' wildcards
UNSAFE_IN_JOB_ID = set(" \t\n\r'\"\\$`;&|<>(){}*?~#!,=")


def refused_in_one_line(exc: BatchdeckError) -> None:
    message = str(exc)
    assert message and "\n" not in message and "\r" not in message, repr(message)


def assert_sendable(argv: object) -> None:
    """An argv the transport can send as it is: a list of strings, UTF-8, no NUL, and its
    one shell line splits back into the same words."""
    assert isinstance(argv, list) and argv and all(isinstance(word, str) for word in argv), argv
    for word in argv:
        word.encode("utf-8")  # a lone surrogate cannot cross exec or SSH
        assert "\x00" not in word, argv
    assert shlex.split(command_line(argv)) == argv


def files_under(folder: Path) -> set[Path]:
    return {Path(dirpath, name) for dirpath, dirs, files in os.walk(folder) for name in (*dirs, *files)}


def run_script(backend: BatchSystem, job: JobRecord, script: str, case: Path, args: list[str]) -> None:
    """The job script, run by bash as the scheduler would (from another folder): it runs
    only the job's command, with its arguments unchanged, and writes only inside the sandbox."""
    sandbox = Path(job.sandbox or "")
    (sandbox / CONTROL_DIR).mkdir(parents=True)
    script_file = sandbox / JOB_SCRIPT
    script_file.write_bytes(script.encode())  # what submit_job writes, strictly UTF-8
    check = subprocess.run(["bash", "-n", str(script_file)], capture_output=True, timeout=30)
    assert check.returncode == 0, (check.stderr, script)
    elsewhere = case / "elsewhere"
    elsewhere.mkdir()
    before = files_under(case)
    proc = subprocess.run(
        ["bash", str(script_file)], cwd=elsewhere, capture_output=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(elsewhere), "LC_ALL": "C.UTF-8"},
    )  # fmt: skip
    assert not CANARY.exists(), f"{backend.type_name}: a hostile value was executed\n{script}"
    created = files_under(case) - before
    assert not [p for p in created if RELATIVE_CANARY in p.name and RELATIVE_CANARY not in str(job.spec)], script
    outside = [p for p in created if not p.is_relative_to(sandbox)]
    assert outside == [], f"{backend.type_name} wrote outside the sandbox: {outside}\n{script}"
    stdout = proc.stdout
    if backend.spools_output:  # the script redirects itself: its stdout file is in the sandbox
        stdout = (sandbox / posixpath.normpath(job.spec.stdout)).read_bytes()
    assert proc.returncode == 0, (proc.stderr, script)
    assert stdout.split(b"\0")[:-1] == [b"first", *(a.encode() for a in args)], script


def connected(kind: str, root: str) -> BatchSystem:
    """A backend of ``kind`` on this machine, connected: the sandbox root resolved, and with the
    user and PBS flavour configured its prepare() runs no command."""
    backend = KINDS[kind](root)
    asyncio.run(backend.connect())
    return backend


def check_submission(kind: str, case: Path, root: str, drawn: dict[str, object]) -> str:
    """What became of the job: "built and run", or "refused: ERROR"."""
    backend = connected(kind, root)
    args = list(drawn["args"])  # type: ignore[call-overload]
    input_name = drawn["input_name"]
    spec = JobSpec(
        command=["printf", "%s\\0", "first", *args],  # printf of no argument still prints once
        name=str(drawn["name"]),
        environment=dict(drawn["environment"]),  # type: ignore[call-overload]
        queue=drawn["queue"],  # type: ignore[arg-type]
        stdout=str(drawn["stdout"]),
        stderr=str(drawn["stderr"]),
        outputs=list(drawn["outputs"]),  # type: ignore[call-overload]
        inputs={__file__: str(input_name)} if input_name is not None else {},
        cores=int(drawn["cores"]),  # type: ignore[call-overload]
    )
    job = JobRecord(id="abcd1234", cluster="c", spec=spec)
    job.sandbox = posixpath.join(posixpath.normpath(root), job.id)
    try:
        backend.validate_spec(spec)
        script = backend.render_script(job, job.sandbox)
        argv, stdin = backend.submit_argv(job, posixpath.join(job.sandbox, JOB_SCRIPT))
        control = backend.control_files(job, job.sandbox)
    except BatchdeckError as exc:
        refused_in_one_line(exc)
        return f"refused: {type(exc).__name__}"
    assert_sendable(argv)
    assert stdin is None or stdin == script.encode()
    for data, _mode in control.values():
        assert isinstance(data, bytes)
    for output in backend.output_paths(job, job.sandbox):
        assert posixpath.normpath(output).startswith(job.sandbox + "/"), output
    run_script(backend, job, script, case, args)
    return "built and run"


def check_job_id_commands(kind: str, root: str, jobid: str) -> None:
    """Every command naming a job id a user typed (``CLUSTER:JOBID``), and the cluster-wide ones."""
    backend = connected(kind, root)
    builders: list[Callable[[], object]] = [
        lambda: job_control.details_argv(backend, jobid),
        lambda: job_control.batch_script_argv(backend, jobid),
        *(
            (lambda action=action, value=value: job_control.control_argv(backend, action, jobid, value))
            for action, value in (("cancel", None), ("hold", None), ("release", None), ("time_limit", "60"))
            + tuple(("signal", name) for name in job_control.SIGNALS)
        ),
    ]
    accepted = 0
    for build in builders:
        try:
            argv = build()
        except BatchdeckError as exc:
            refused_in_one_line(exc)
            continue
        accepted += 1
        assert_sendable(argv)
    if accepted:
        assert not jobid.startswith("-") and not set(jobid) & UNSAFE_IN_JOB_ID, (kind, jobid)
        assert jobid.isprintable() and jobid.encode("utf-8")
    for argv in (
        backend.status_argv(),
        backend.cancel_argv("123"),
        *backend.queues_argv(),
        backend.limits_argv(),
        backend.accounting_argv(["123", "124"], 0),
    ):
        if argv is not None:
            assert_sendable(argv)


@pytest.fixture(autouse=True)
def no_canary() -> None:
    CANARY.unlink(missing_ok=True)


BOUNDED = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.mark.parametrize("kind", sorted(KINDS))
@BOUNDED
@given(drawn=SPEC, root=root_name)
def test_hostile_job_specs_are_refused_or_built_safely(tmp_path: Path, kind: str, drawn: dict[str, object], root: str) -> None:
    case = tmp_path / f"case-{os.urandom(6).hex()}"
    case.mkdir()
    event(check_submission(kind, case, str(case / root), drawn))  # --hypothesis-show-statistics
    assert not CANARY.exists()


@pytest.mark.parametrize("kind", sorted(KINDS))
@BOUNDED
@given(jobid=job_id)
def test_hostile_job_ids_are_refused_or_passed_as_one_plain_word(tmp_path: Path, kind: str, jobid: str) -> None:
    check_job_id_commands(kind, str(tmp_path / "root"), jobid)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_plain_case_is_built_and_runs(tmp_path: Path, kind: str) -> None:
    """The properties above hold vacuously if everything were refused: a plain job is built and runs."""
    drawn = {
        "name": "plain", "args": ["a b", "$(x)"], "environment": {"K": "v"}, "queue": None,
        "stdout": "out/stdout.txt", "stderr": "stderr.txt", "outputs": [], "input_name": None, "cores": 1,
    }  # fmt: skip
    case = tmp_path / "case"
    case.mkdir()
    assert check_submission(kind, case, str(case / "root"), drawn) == "built and run"
    assert (case / "root" / "abcd1234" / JOB_SCRIPT).exists()
    check_job_id_commands(kind, str(case / "root"), "123")
