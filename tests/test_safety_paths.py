"""Reserved names, duplicate inputs and outputs in subfolders, on every backend (#17 items 2 and 9)."""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from pathlib import Path

import pytest
from safety_backends import Backend, backend_fixture, make_system  # noqa: F401 - the fixture "backend"

from batchdeck.backends.errors import InvalidJobSpec, UnsafePath
from batchdeck.backends.model import JobSpec, RunState
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
