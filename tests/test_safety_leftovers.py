"""No leftovers (#17 item 6): a killed or failed download leaves no part file that nothing removes."""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchdeck.backends.engine.resubmit import SCRIPT_COPIES_KEPT, script_copy_path, write_script_copy
from batchdeck.backends.transports import tar_stream
from batchdeck.backends.transports.base import Transport

SIZE = 8 * 1024 * 1024 + 123

# A download that SIGKILLs its own process once it has written part of the file:
# a real kill -9 at a known point, with no timing involved.
CHILD = r"""
import asyncio, json, os, signal, sys
kind, remote, local, env = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if kind == "local":
    from batchdeck.backends.transports.local import LocalTransport
    transport = LocalTransport()
else:
    from batchdeck.backends.transports.ssh import SshTransport
    transport = SshTransport(host=env["SSHD_HOST"], port=int(env["SSHD_PORT"]), username=env["SSHD_USER"],
                             keyfile=env["SSHD_KEY"], known_hosts=env["SSHD_KNOWN_HOSTS"], ssh_config=None,
                             timeout=30, large_file_chunk_size=256 * 1024)
def progress(path, done, total):
    if 0 < done < total:
        os.kill(os.getpid(), signal.SIGKILL)
asyncio.run(transport.get_files([(remote, local)], progress))
print("not killed")
"""


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.rglob(".bd-part-*"))


@pytest.fixture
async def remote_file(cluster_transport: Transport, shared_sandbox_root: str) -> str:
    await cluster_transport.makedirs(shared_sandbox_root)
    path = posixpath.join(shared_sandbox_root, "big.bin")
    await cluster_transport.write_file(path, os.urandom(SIZE))
    return path


async def test_a_killed_download_is_cleaned_at_the_next_get(
    transport_kind: str, cluster_transport: Transport, remote_file: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = request.getfixturevalue("sshd_env") if transport_kind == "ssh" else {}
    target = tmp_path / "results" / "big.bin"
    target.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, transport_kind, remote_file, str(target), json.dumps(env)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)
    left = _parts(target.parent)
    assert left, "the killed download should have left its part file (else this test tests nothing)"
    assert not target.exists()
    # A download still running in another live process keeps its part file.
    live = target.parent / f"{tar_stream.PART_PREFIX}{os.uname().nodename.replace('-', '_')}-{os.getppid()}-live"
    live.write_bytes(b"x")
    failures = await cluster_transport.get_files([(remote_file, str(target))])
    await cluster_transport.close()
    assert failures == {}
    assert target.stat().st_size == SIZE
    assert _parts(target.parent) == [live]


def test_old_style_and_foreign_parts_are_removed_only_when_old(tmp_path: Path) -> None:
    old = tmp_path / ".bd-part-abc123xy"
    foreign_old = tmp_path / ".bd-part-otherhost-12345-abcdefgh"
    fresh = tmp_path / ".bd-part-otherhost-12345-zzzzzzzz"
    mine = tmp_path / f"{tar_stream.PART_PREFIX}{os.uname().nodename.replace('-', '_')}-{os.getpid()}-abc"
    for path in (old, foreign_old, fresh, mine):
        path.write_bytes(b"x")
    then = time.time() - 2 * tar_stream.STALE_PART_AGE
    os.utime(old, (then, then))
    os.utime(foreign_old, (then, then))
    removed = tar_stream.remove_stale_parts([str(tmp_path)])
    assert sorted(removed) == sorted([str(old), str(foreign_old)])
    assert sorted(_parts(tmp_path)) == sorted([fresh, mine])


async def test_a_failed_download_removes_its_part_file(
    cluster_transport: Transport, remote_file: str, tmp_path: Path
) -> None:
    # the destination is a folder: the rename at the end fails, after the data was written
    target = tmp_path / "big.bin"
    (target / "inside").mkdir(parents=True)
    failures = await cluster_transport.get_files([(remote_file, str(target))])
    await cluster_transport.close()
    assert list(failures) == [remote_file]
    assert _parts(tmp_path) == []


def test_fetched_script_copies_are_private_complete_and_do_not_pile_up(tmp_path: Path) -> None:
    old = script_copy_path(tmp_path, "slurm", "41")
    write_script_copy(old, "#!/bin/sh\necho old\n")
    os.utime(old, (time.time() - SCRIPT_COPIES_KEPT - 60,) * 2)
    fresh = script_copy_path(tmp_path, "slurm", "42")
    assert write_script_copy(fresh, "#!/bin/sh\necho new\n") == str(fresh)
    assert fresh.read_text() == "#!/bin/sh\necho new\n" and (fresh.stat().st_mode & 0o777) == 0o600
    assert not old.exists()  # the week-old copy went
    assert [p.name for p in fresh.parent.iterdir()] == [fresh.name]  # no temporary name left behind
