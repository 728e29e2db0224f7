"""Reserved names, duplicate inputs and outputs in subfolders, on every backend (#17 items 2 and 9)."""

from __future__ import annotations

import asyncio
import os
import posixpath
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_backends import Backend, backend_fixture, make_system  # noqa: F401 - the fixture "backend"

from batchdeck.backends.errors import InvalidJobSpec, TransportError, UnsafePath
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import JOB_SCRIPT, BatchSystem
from batchdeck.backends.schedulers.lsf import LsfBatchSystem
from batchdeck.backends.schedulers.paths import check_user_paths
from batchdeck.backends.schedulers.pbs import PbsBatchSystem
from batchdeck.backends.transports.local import LocalTransport

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]

RESERVED = [
    ".batchdeck/job.sh",
    ".batchdeck/exitcode",
    "./.batchdeck/pid",
    "sub/../.batchdeck/state",
    ".batchdeck",
    "x/.bd-part-1",
]


def every_backend(tmp_path: Path) -> list[BatchSystem]:
    transport = LocalTransport()
    systems = [make_system(kind, transport, str(tmp_path)) for kind in ("local", "slurm", "sge")]
    return [*systems, PbsBatchSystem("pbs", transport=transport), LsfBatchSystem("lsf", transport=transport)]


@pytest.mark.parametrize("name", RESERVED)
@pytest.mark.parametrize("field", ["stdout", "stderr", "output", "input"])
def test_control_files_are_never_user_paths_on_any_backend(tmp_path: Path, name: str, field: str) -> None:
    source = tmp_path / "in.txt"
    source.write_text("x")
    spec = JobSpec(command=["true"])
    if field == "stdout":
        spec.stdout = name
    elif field == "stderr":
        spec.stderr = name
    elif field == "output":
        spec.outputs = [name]
    else:
        spec.inputs = {str(source): name}
    for system in every_backend(tmp_path):
        with pytest.raises((UnsafePath, InvalidJobSpec)) as caught:
            system.validate_spec(spec)
        assert "\n" not in str(caught.value)
        assert "reserved" in str(caught.value), (type(system).__name__, str(caught.value))


def test_two_inputs_with_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "data.txt").write_text("a")
    (tmp_path / "b" / "data.txt").write_text("b")
    spec = JobSpec(command=["true"], inputs={str(tmp_path / "a" / "data.txt"): "data.txt", str(tmp_path / "b" / "data.txt"): "./data.txt"})
    with pytest.raises(InvalidJobSpec, match="both be copied to 'data.txt'"):
        check_user_paths(spec)


def test_cli_refuses_duplicate_input_basenames_and_control_paths(tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "data.txt").write_text(sub)
    attempts = [
        ["--input", str(tmp_path / "a" / "data.txt"), "--input", str(tmp_path / "b" / "data.txt")],
        ["--stdout", ".batchdeck/job.sh"],
        ["--stderr", ".batchdeck/exitcode"],
    ]
    for extra in attempts:
        proc = subprocess.run([*BATCHDECK, "submit", *extra, "--", "true"], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and proc.stdout == "", extra
        assert proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "sandboxes").exists() or not any((tmp_path / "sandboxes").iterdir())


async def test_stdout_and_stderr_in_subfolders_work_on_every_backend(backend: Backend) -> None:
    job = await backend.submit(
        JobSpec(
            command=["sh", "-c", "echo out; echo err >&2"],
            name="subdirs",
            stdout="sub/dir/out.txt",
            stderr="other/err.txt",
            walltime=120,
        )
    )
    assert job.sandbox
    state = await backend.finish(job)
    assert state == RunState.TERMINATING, (backend.kind, job.raw_state, job.reason)
    assert (job.exitcode, job.signal) == (0, None), (backend.kind, job.reason)
    out, _ = await backend.transport.read_range(posixpath.join(job.sandbox, "sub/dir/out.txt"))
    err, _ = await backend.transport.read_range(posixpath.join(job.sandbox, "other/err.txt"))
    assert (out, err) == (b"out\n", b"err\n"), backend.kind
    script, _ = await backend.transport.read_range(posixpath.join(job.sandbox, JOB_SCRIPT))
    assert b"echo out" in script


async def test_an_input_copy_cut_short_is_never_under_the_name_the_job_reads(tmp_path: Path) -> None:
    """Inputs land in the control folder first and are renamed into place once all arrived: a copy
    that fails half way (here a folder with a dangling link: the copy takes the other files first,
    as a killed submit or a dropped connection would) leaves no partial input under its own name."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for k in range(20):
        (tree / f"f{k}.txt").write_text(f"{k}\n")
    (tree / "zz-dangling").symlink_to(tmp_path / "nowhere")
    whole = tmp_path / "whole.bin"
    whole.write_bytes(os.urandom(10000))
    system = make_system("local", LocalTransport(), str(tmp_path / "sandboxes"))
    job = JobRecord(id="cut00001", cluster="c", spec=JobSpec(
        command=["true"], inputs={str(whole): "whole.bin", str(tree): "in-tree"}))  # fmt: skip
    with pytest.raises(TransportError):
        await system.submit_job(job)
    sandbox = tmp_path / "sandboxes" / "cut00001"
    assert not (sandbox / "in-tree").exists() and not (sandbox / "whole.bin").exists()
    assert (sandbox / ".batchdeck" / "incoming" / "in-tree" / "f0.txt").exists()  # the part, where no job reads it


async def test_inputs_nested_dashed_and_beside_output_folders_arrive_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a\n")
    extra = tmp_path / "extra.txt"
    extra.write_text("extra\n")
    system = make_system("local", LocalTransport(), str(tmp_path / "sandboxes"))
    spec = JobSpec(
        command=["sh", "-c", "cat sub/a.txt sub/inner/extra.txt ./-dash.txt"],
        inputs={str(data): "sub", str(extra): "sub/inner/extra.txt", str(tmp_path / "data" / "a.txt"): "-dash.txt"},
        stdout="sub/out.txt",  # the output folder is the input folder
    )
    job = await system.submit_job(JobRecord(id="nest0001", cluster="c", spec=spec))
    sandbox = tmp_path / "sandboxes" / "nest0001"
    assert job.jobid and not (sandbox / ".batchdeck" / "incoming").exists()
    assert sorted(str(p.relative_to(sandbox)) for p in sandbox.rglob("*") if ".batchdeck" not in p.parts and p.name != "out.txt") == [
        "-dash.txt", "sub", "sub/a.txt", "sub/inner", "sub/inner/extra.txt"]  # fmt: skip
    out = sandbox / "sub" / "out.txt"
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text().count("\n") == 3):
        assert time.monotonic() < deadline, "the job did not read its inputs"
        await asyncio.sleep(0.1)
    assert out.read_text() == "a\nextra\na\n"
