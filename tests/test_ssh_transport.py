"""SshTransport against the private sshd (tests/clusters/sshd-start.sh).

Every Transport method, hostile paths, host key and authentication errors, the
ssh_config alias, concurrency on one connection, and a connection killed in the
middle of a download. The connection is killed by its own server-side processes
(found with ``ss``), so other tests using the same sshd are not disturbed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from batchdeck.backends.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    HostKeyChanged,
    HostKeyUnknown,
    RemoteFileNotFound,
    TransportError,
)
from batchdeck.backends.transports.base import Transport
from batchdeck.backends.transports.local import LocalTransport

from conftest import make_ssh_transport, read_env_file

pytestmark = pytest.mark.ssh

PWNED = "bd-pwned"
# Each would run a command or split a word if it ever reached a shell unquoted.
HOSTILE = [
    "with space",
    "single'quote",
    'double"quote',
    f"$(touch {PWNED})",
    f"`touch {PWNED}`",
    f"semi;touch {PWNED}",
    "new\nline",
    "ünïcødé ✓ 日本",
    "-leading-dash",
    "back\\slash",
    "glob*?[a]",
    "$HOME",
    "amp&pipe|gt>",
]


@pytest.fixture
async def ssh(sshd_env: dict[str, str]) -> AsyncIterator[Transport]:
    transport = make_ssh_transport(sshd_env)
    yield transport
    await transport.close()


@pytest.fixture
async def scratch(ssh: Transport, sshd_env: dict[str, str]) -> AsyncIterator[str]:
    path = f"/home/{sshd_env['SSHD_USER']}/batchdeck-test/ssh-{uuid.uuid4().hex[:8]}"
    await ssh.makedirs(path)
    yield path
    await ssh.remove_tree(path)


def _server_pids(transport: Transport, env: dict[str, str]) -> list[int]:
    """The sshd processes serving this transport's connection (monitor and session child)."""
    conn = transport._conn  # type: ignore[attr-defined]
    assert conn is not None, "transport is not connected"
    local_port = conn.get_extra_info("sockname")[1]
    out = subprocess.run(
        ["ss", "-tnpH", f"( sport = :{env['SSHD_PORT']} and dport = :{local_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})
    assert pids, f"no sshd process found for local port {local_port}: {out!r}"
    return pids


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _ensure_sshd(env: dict[str, str]) -> None:
    try:
        socket.create_connection((env["SSHD_HOST"], int(env["SSHD_PORT"])), timeout=2).close()
    except OSError:
        script = Path(__file__).parent / "clusters" / "sshd-start.sh"
        subprocess.run(["bash", str(script)], check=True, capture_output=True, timeout=120)


async def _assert_nothing_executed(ssh: Transport, *dirs: str) -> None:
    home = await ssh.home()
    for directory in (home, *dirs):
        assert await ssh.stat(f"{directory}/{PWNED}") is None, f"a hostile name ran a command in {directory}"


def _no_partials(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob(".bd-part-*")]


# ---------------------------------------------------------------------- connection


async def test_connects_lazily_and_closes_idempotently(sshd_env: dict[str, str]) -> None:
    transport = make_ssh_transport(sshd_env)
    assert transport._conn is None  # type: ignore[attr-defined]
    assert (await transport.run(["true"])).ok
    assert transport.connects == 1  # type: ignore[attr-defined]
    await transport.connect()
    assert transport.connects == 1  # type: ignore[attr-defined]
    assert transport.name == f"{sshd_env['SSHD_USER']}@{sshd_env['SSHD_HOST']}:{sshd_env['SSHD_PORT']}"
    await transport.close()
    await transport.close()
    # a closed transport reconnects on the next operation
    assert (await transport.run(["echo", "again"])).stdout == "again\n"
    await transport.close()


async def test_unknown_host_key(sshd_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    transport = make_ssh_transport(sshd_env, known_hosts=str(empty))
    with pytest.raises(HostKeyUnknown) as info:
        await transport.connect()
    assert not isinstance(info.value, HostKeyChanged)
    message = str(info.value)
    assert sshd_env["SSHD_HOST"] in message and str(empty) in message
    assert f"[{sshd_env['SSHD_HOST']}]:{sshd_env['SSHD_PORT']}" in message


async def test_changed_host_key(sshd_env: dict[str, str]) -> None:
    wrong = sshd_env["SSHD_KNOWN_HOSTS_WRONG"]
    transport = make_ssh_transport(sshd_env, known_hosts=wrong)
    with pytest.raises(HostKeyChanged) as info:
        await transport.run(["true"])
    assert not isinstance(info.value, HostKeyUnknown)
    message = str(info.value)
    assert sshd_env["SSHD_HOST"] in message and wrong in message
    assert "CHANGED" in message


async def test_missing_known_hosts_file_is_unknown_not_ignored(
    sshd_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "known_hosts"
    transport = make_ssh_transport(sshd_env, known_hosts=str(missing))
    with pytest.raises(HostKeyUnknown, match=re.escape(str(missing))):
        await transport.connect()


async def test_ignore_host_keys_is_the_only_way_to_skip(sshd_env: dict[str, str]) -> None:
    checked = make_ssh_transport(sshd_env, known_hosts=sshd_env["SSHD_KNOWN_HOSTS_WRONG"])
    assert checked.host_key_check_disabled is False  # type: ignore[attr-defined]
    transport = make_ssh_transport(
        sshd_env, known_hosts=sshd_env["SSHD_KNOWN_HOSTS_WRONG"], ignore_host_keys=True
    )
    assert transport.host_key_check_disabled is True  # type: ignore[attr-defined]
    try:
        assert (await transport.run(["whoami"])).stdout.strip() == sshd_env["SSHD_USER"]
    finally:
        await transport.close()


async def test_wrong_key_is_authentication_failed(sshd_env: dict[str, str]) -> None:
    transport = make_ssh_transport(sshd_env, keyfile=sshd_env["SSHD_WRONG_KEY"])
    with pytest.raises(AuthenticationFailed) as info:
        await transport.connect()
    where = f"{sshd_env['SSHD_USER']}@{sshd_env['SSHD_HOST']}:{sshd_env['SSHD_PORT']}"
    assert where in str(info.value)


async def test_nothing_listening_is_connection_failed(sshd_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    transport = make_ssh_transport(sshd_env, port=free_port, timeout=10)
    with pytest.raises(ConnectionFailed) as info:
        await transport.run(["true"])
    assert f"{sshd_env['SSHD_USER']}@127.0.0.1:{free_port}" in str(info.value)


async def test_ssh_config_alias(sshd_env: dict[str, str]) -> None:
    from batchdeck.backends.transports.ssh import SshTransport

    transport = SshTransport("bd-test", ssh_config=sshd_env["SSHD_CONFIG_CLIENT"], timeout=30)
    try:
        result = await transport.run(["whoami"])
        assert result.stdout.strip() == sshd_env["SSHD_USER"]
        assert transport.name == f"{sshd_env['SSHD_USER']}@{sshd_env['SSHD_HOST']}:{sshd_env['SSHD_PORT']}"
        assert transport.host_key_check_disabled is False
    finally:
        await transport.close()


async def test_transports_factory_builds_ssh(sshd_env: dict[str, str]) -> None:
    from batchdeck.backends.transports.factory import make_transport

    transport = make_transport(
        "ssh",
        frontend="bd-test",
        ssh_config=sshd_env["SSHD_CONFIG_CLIENT"],
        ssh_timeout=30,
    )
    try:
        assert (await transport.home()) == f"/home/{sshd_env['SSHD_USER']}"
    finally:
        await transport.close()


# ---------------------------------------------------------------------- commands


async def test_run_roundtrips_hostile_arguments(ssh: Transport, scratch: str) -> None:
    result = await ssh.run(["printf", "%s\\0", *HOSTILE], cwd=scratch)
    assert result.ok, result.stderr
    assert result.stdout.split("\0")[:-1] == HOSTILE
    await _assert_nothing_executed(ssh, scratch)


async def test_run_status_stdin_stderr(ssh: Transport) -> None:
    result = await ssh.run(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"in\xc3\xbcput\n")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "inüput\n", "oops\n")
    assert not result.ok
    # no stdin given: the command sees EOF, never hangs
    assert (await ssh.run(["cat"])).stdout == ""
    missing = await ssh.run(["no-such-command-bd"])
    assert missing.exit_status == 127
    killed = await ssh.run(["sh", "-c", "kill -TERM $$"])
    assert killed.exit_status == -signal.SIGTERM


async def test_run_cwd_with_hostile_name(ssh: Transport, scratch: str) -> None:
    for name in HOSTILE:
        directory = f"{scratch}/{name}"
        await ssh.makedirs(directory)
        result = await ssh.run(["pwd"], cwd=directory)
        assert result.stdout == directory + "\n"
    await _assert_nothing_executed(ssh, scratch)


async def test_run_timeout(ssh: Transport) -> None:
    with pytest.raises(TransportError, match="did not finish within"):
        await ssh.run(["sleep", "30"], timeout=0.5)
    # the connection is still usable afterwards
    assert (await ssh.run(["echo", "ok"])).stdout == "ok\n"


async def test_home_is_cached(ssh: Transport, sshd_env: dict[str, str]) -> None:
    assert await ssh.home() == f"/home/{sshd_env['SSHD_USER']}"
    calls = 0
    original = ssh._command  # type: ignore[attr-defined]

    async def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return await original(*args, **kwargs)

    ssh._command = counting  # type: ignore[attr-defined]
    assert await ssh.home() == f"/home/{sshd_env['SSHD_USER']}"
    assert calls == 0


# ---------------------------------------------------------------------- files


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: repr(n)[1:-1][:20])
async def test_file_methods_with_hostile_name(
    ssh: Transport, scratch: str, tmp_path: Path, name: str
) -> None:
    directory = f"{scratch}/{name}/sub {name}"
    path = f"{directory}/{name}.txt"
    data = f"first line\n{name}\n".encode() + bytes(range(256))

    await ssh.makedirs(directory)
    st = await ssh.stat(directory)
    assert st is not None and st.is_dir

    await ssh.write_file(path, data, mode=0o640)
    st = await ssh.stat(path)
    assert st is not None and st.path == path and st.size == len(data) and not st.is_dir
    assert await ssh.read_range(path) == (data, len(data))
    assert await ssh.read_range(path, 3, 7) == (data[3:10], len(data))
    assert await ssh.read_range(path, -5) == (data[-5:], len(data))

    listing = {entry.path: entry for entry in await ssh.list_tree(scratch)}
    rel = f"{name}/sub {name}/{name}.txt"
    assert set(listing) == {rel}
    assert listing[rel].size == len(data) and listing[rel].mtime == st.mtime

    local = tmp_path / "down" / "file.bin"
    assert await ssh.get_files([(path, str(local))]) == {}
    assert local.read_bytes() == data
    assert local.stat().st_mtime == st.mtime
    assert local.stat().st_mode & 0o777 == 0o640

    upload = tmp_path / "up"
    (upload / name).mkdir(parents=True)
    (upload / name / f"{name}.dat").write_bytes(data[::-1])
    (upload / "top").write_bytes(b"top")
    remote_tree = f"{scratch}/tree {name}"
    await ssh.put_files([(str(upload), remote_tree), (str(upload / "top"), f"{scratch}/single/{name}")])
    assert await ssh.read_range(f"{remote_tree}/{name}/{name}.dat") == (data[::-1], len(data))
    assert await ssh.read_range(f"{scratch}/single/{name}") == (b"top", 3)

    await ssh.remove_tree(f"{scratch}/{name}")
    assert await ssh.stat(path) is None
    await _assert_nothing_executed(ssh, scratch, directory)


async def test_read_range_matches_local_transport(ssh: Transport, scratch: str, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    local_path = tmp_path / "data.bin"
    local_path.write_bytes(data)
    remote_path = f"{scratch}/data.bin"
    await ssh.write_file(remote_path, data)
    local = LocalTransport()
    cases = [
        (0, None), (0, 0), (0, 10), (100, 50), (10239, 10), (10240, 5), (20000, 5),
        (-1, None), (-100, None), (-100, 10), (-20000, None), (-20000, 5), (5, -3),
    ]  # fmt: skip
    for offset, size in cases:
        expected = await local.read_range(str(local_path), offset, size)
        assert await ssh.read_range(remote_path, offset, size) == expected, (offset, size)
    await ssh.write_file(f"{scratch}/empty", b"")
    assert await ssh.read_range(f"{scratch}/empty", -10) == (b"", 0)


async def test_missing_paths(ssh: Transport, scratch: str, tmp_path: Path) -> None:
    assert await ssh.stat(f"{scratch}/nope") is None
    with pytest.raises(RemoteFileNotFound):
        await ssh.list_tree(f"{scratch}/nope")
    with pytest.raises(RemoteFileNotFound):
        await ssh.read_range(f"{scratch}/nope")
    await ssh.remove_tree(f"{scratch}/nope")  # no error
    with pytest.raises(RemoteFileNotFound):
        await ssh.put_files([(str(tmp_path / "not-here"), f"{scratch}/x")])
    await ssh.makedirs(f"{scratch}/adir")
    await ssh.write_file(f"{scratch}/ok", b"ok")
    failures = await ssh.get_files(
        [
            (f"{scratch}/nope", str(tmp_path / "a")),
            (f"{scratch}/adir", str(tmp_path / "b")),
            (f"{scratch}/ok", str(tmp_path / "c")),
        ]
    )
    assert set(failures) == {f"{scratch}/nope", f"{scratch}/adir"}
    assert "No such file" in failures[f"{scratch}/nope"]
    assert (tmp_path / "c").read_bytes() == b"ok"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert _no_partials(tmp_path) == []


async def test_relative_and_tilde_paths_are_in_home(ssh: Transport, scratch: str) -> None:
    home = await ssh.home()
    rel = scratch[len(home) + 1 :]
    await ssh.write_file(f"{rel}/rel.txt", b"r")
    await ssh.write_file(f"~/{rel}/tilde.txt", b"t")
    assert {e.path for e in await ssh.list_tree(scratch)} == {"rel.txt", "tilde.txt"}
    assert (await ssh.run(["cat", "rel.txt"], cwd=f"~/{rel}")).stdout == "r"


async def test_write_file_replaces_atomically(ssh: Transport, scratch: str) -> None:
    path = f"{scratch}/script.sh"
    await ssh.write_file(path, b"#!/bin/sh\necho one\n", mode=0o755)
    await ssh.write_file(path, b"#!/bin/sh\necho two\n", mode=0o755)
    assert (await ssh.run([path])).stdout == "two\n"
    # no temporary file left beside it
    assert [e.path for e in await ssh.list_tree(scratch)] == ["script.sh"]


async def test_many_small_files_roundtrip(ssh: Transport, scratch: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    expected: dict[str, bytes] = {}
    for i in range(300):
        rel = f"d{i % 7}/{HOSTILE[i % len(HOSTILE)]}-{i}.txt"
        payload = os.urandom(i * 13)
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(payload)
        expected[rel] = payload
    remote = f"{scratch}/many"
    await ssh.put_files([(str(source), remote)])
    listing = {e.path: e for e in await ssh.list_tree(remote)}
    assert set(listing) == set(expected)

    seen: dict[str, tuple[int, int]] = {}

    def progress(path: str, done: int, total: int) -> None:
        seen[path] = (done, total)

    dest = tmp_path / "dest"
    pairs = [(f"{remote}/{rel}", str(dest / rel)) for rel in expected]
    assert await ssh.get_files(pairs, progress) == {}
    for rel, payload in expected.items():
        local = dest / rel
        assert local.read_bytes() == payload, rel
        # equal, not just close: get_results' changed_only compares them
        assert local.stat().st_mtime == listing[rel].mtime, rel
        assert local.stat().st_mtime == (source / rel).stat().st_mtime, rel
        assert seen[f"{remote}/{rel}"] == (len(payload), len(payload))
    assert _no_partials(dest) == []


async def test_large_file_moves_in_chunks(sshd_env: dict[str, str], tmp_path: Path) -> None:
    transport = make_ssh_transport(sshd_env, large_file_threshold=1 << 20, large_file_chunk_size=1 << 20)
    remote = f"/home/{sshd_env['SSHD_USER']}/batchdeck-test/large-{uuid.uuid4().hex[:8]}"
    try:
        data = os.urandom(9 * (1 << 20) + 123)
        source = tmp_path / "big.bin"
        source.write_bytes(data)
        await transport.put_files([(str(source), f"{remote}/big.bin")])
        calls: list[tuple[int, int]] = []
        dest = tmp_path / "out" / "big.bin"
        failures = await transport.get_files(
            [(f"{remote}/big.bin", str(dest))], lambda _p, done, total: calls.append((done, total))
        )
        assert failures == {}
        assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert len(calls) >= 9 and all(total == len(data) for _d, total in calls)
        assert [d for d, _t in calls] == sorted(d for d, _t in calls) and calls[-1][0] == len(data)
        assert max(b - a for (a, _), (b, _) in zip([(0, 0), *calls], calls, strict=False)) <= 1 << 20
        assert dest.stat().st_mtime == source.stat().st_mtime
    finally:
        await transport.remove_tree(remote)
        await transport.close()


# ---------------------------------------------------------------------- concurrency, failures


async def test_thirty_concurrent_operations_on_one_connection(ssh: Transport, scratch: str) -> None:
    await ssh.write_file(f"{scratch}/f", b"0123456789")

    async def one(i: int) -> None:
        kind = i % 3
        if kind == 0:
            result = await ssh.run(["sh", "-c", 'sleep 0.2; printf "%s" "$1"', "sh", str(i)])
            assert result.stdout == str(i)
        elif kind == 1:
            assert await ssh.read_range(f"{scratch}/f", i % 10, 3) == (b"0123456789"[i % 10 : i % 10 + 3], 10)
        else:
            await ssh.write_file(f"{scratch}/out-{i}", str(i).encode())

    results = await asyncio.gather(*(one(i) for i in range(30)), return_exceptions=True)
    assert [r for r in results if r is not None] == []
    assert ssh.connects == 1  # type: ignore[attr-defined]
    assert len(await ssh.list_tree(scratch)) == 11


async def test_connection_killed_during_download(
    ssh: Transport, sshd_env: dict[str, str], tmp_path: Path
) -> None:
    remote = f"/home/{sshd_env['SSHD_USER']}/batchdeck-test/kill-{uuid.uuid4().hex[:8]}"
    size = 64 * 1024 * 1024  # above the default large-file threshold: the chunked path
    await ssh.makedirs(remote)
    # written remotely, so it never travels over the connection under test
    assert (await ssh.run(["sh", "-c", f'head -c {size} /dev/zero > "$1"', "sh", f"{remote}/big.bin"])).ok
    dest = tmp_path / "big.bin"
    pids = _server_pids(ssh, sshd_env)
    killed = False

    def kill_on_first_chunk(_path: str, done: int, _total: int) -> None:
        nonlocal killed
        if not killed and done > 0:
            killed = True
            _kill(pids)

    try:
        with pytest.raises(ConnectionFailed) as info:
            await ssh.get_files([(f"{remote}/big.bin", str(dest))], kill_on_first_chunk)
        assert killed
        assert sshd_env["SSHD_HOST"] in str(info.value)
        assert not dest.exists(), "a partial file was left under the final name"
        assert _no_partials(tmp_path) == []

        _ensure_sshd(sshd_env)
        # the same transport object reconnects and the rerun completes
        assert await ssh.get_files([(f"{remote}/big.bin", str(dest))]) == {}
        assert dest.stat().st_size == size
        assert ssh.connects == 2  # type: ignore[attr-defined]
    finally:
        _ensure_sshd(sshd_env)
        await ssh.remove_tree(remote)


async def test_many_small_files_download_killed(
    ssh: Transport, sshd_env: dict[str, str], tmp_path: Path
) -> None:
    remote = f"/home/{sshd_env['SSHD_USER']}/batchdeck-test/killsmall-{uuid.uuid4().hex[:8]}"
    # 200 files of 512 KiB: all below the large-file threshold, so one tar stream
    script = 'mkdir -p "$1" && for i in $(seq 200); do head -c 524288 /dev/zero > "$1/f$i"; done'
    assert (await ssh.run(["sh", "-c", script, "sh", remote], timeout=120)).ok
    dest = tmp_path / "dest"
    pairs = [(f"{remote}/f{i}", str(dest / f"f{i}")) for i in range(1, 201)]
    pids = _server_pids(ssh, sshd_env)
    completed: list[str] = []

    def kill_midway(path: str, done: int, total: int) -> None:
        if done == total:
            completed.append(path)
        if len(completed) == 20 and done == total:
            _kill(pids)

    try:
        with pytest.raises(ConnectionFailed):
            await ssh.get_files(pairs, kill_midway)
        # every file present is complete; nothing partial under any name
        present = sorted(dest.iterdir()) if dest.exists() else []
        assert all(p.stat().st_size == 524288 for p in present)
        assert _no_partials(tmp_path) == []
        _ensure_sshd(sshd_env)
        assert await ssh.get_files(pairs) == {}
        assert len(list(dest.iterdir())) == 200
    finally:
        _ensure_sshd(sshd_env)
        await ssh.remove_tree(remote)


async def test_run_is_never_retried_once_sent(ssh: Transport, scratch: str, sshd_env: dict[str, str]) -> None:
    marker = f"{scratch}/ran"
    await ssh.write_file(f"{scratch}/go", b"")
    pids = _server_pids(ssh, sshd_env)
    # appends one line, then waits until the test has killed the connection
    script = 'echo once >> "$1"; sleep 30'
    task = asyncio.ensure_future(ssh.run(["sh", "-c", script, "sh", marker], timeout=60))
    deadline = asyncio.get_running_loop().time() + 20
    probe = make_ssh_transport(sshd_env)
    try:
        while (await probe.stat(marker)) is None:
            assert asyncio.get_running_loop().time() < deadline, "the command never started"
            await asyncio.sleep(0.05)
        _kill(pids)
        with pytest.raises(ConnectionFailed, match="not retried"):
            await task
        _ensure_sshd(sshd_env)
        data, _size = await probe.read_range(marker)
        assert data == b"once\n"
    finally:
        await probe.close()


async def test_reads_reconnect_after_a_drop(ssh: Transport, scratch: str, sshd_env: dict[str, str]) -> None:
    await ssh.write_file(f"{scratch}/f", b"data")
    pids = _server_pids(ssh, sshd_env)
    _kill(pids)
    # the next operations find the connection gone and reconnect on their own
    assert await ssh.read_range(f"{scratch}/f") == (b"data", 4)
    assert (await ssh.run(["echo", "submit-safe"])).stdout == "submit-safe\n"
    assert ssh.connects == 2  # type: ignore[attr-defined]


async def test_sessions_are_bounded_below_max_sessions(ssh: Transport) -> None:
    # 40 commands that each hold a channel open for a while: more than sshd's
    # MaxSessions (10), so the transport must queue and retry, never fail.
    results = await asyncio.gather(*(ssh.run(["sh", "-c", "sleep 0.3; echo $0", str(i)]) for i in range(40)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(40)]


async def test_proxy_jump_from_ssh_config(sshd_env: dict[str, str], tmp_path: Path) -> None:
    from batchdeck.backends.transports.ssh import SshTransport

    config = tmp_path / "ssh_config"
    config.write_text(
        Path(sshd_env["SSHD_CONFIG_CLIENT"]).read_text()
        + f"""
Host bd-jumped
    HostName {sshd_env["SSHD_HOST"]}
    Port {sshd_env["SSHD_PORT"]}
    User {sshd_env["SSHD_USER"]}
    IdentityFile {sshd_env["SSHD_KEY"]}
    UserKnownHostsFile {sshd_env["SSHD_KNOWN_HOSTS"]}
    ProxyJump bd-root
"""
    )
    transport = SshTransport("bd-jumped", ssh_config=str(config), timeout=30)
    try:
        assert (await transport.run(["whoami"])).stdout.strip() == sshd_env["SSHD_USER"]
        # the session really goes through the jump host's connection
        assert transport._conn._tunnel is not None  # type: ignore[attr-defined]
    finally:
        await transport.close()


async def test_dropped_connection_logs_no_send_spam(
    ssh: Transport, scratch: str, sshd_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    marker = f"{scratch}/started"
    pids = _server_pids(ssh, sshd_env)
    caplog.set_level("WARNING", logger="asyncio")
    # keeps the client writing stdin when the connection dies
    task = asyncio.ensure_future(
        ssh.run(
            ["sh", "-c", 'touch "$1"; exec cat > /dev/null', "sh", marker],
            stdin=bytes(256 << 20),
            timeout=120,
        )
    )
    probe = make_ssh_transport(sshd_env)
    try:
        await _poll(lambda: probe.stat(marker), "the command to start")
        _kill(pids)
        with pytest.raises(ConnectionFailed, match="not retried"):
            await task
    finally:
        await probe.close()
    # what asyncio's selector transport logs for each write after a reset
    logging.getLogger("asyncio").warning("socket.send() raised exception.")
    logging.getLogger("asyncio").warning("an unrelated warning")
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert messages == ["an unrelated warning"]


async def _poll(check: Callable[[], Awaitable[object]], what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


CLUSTERS = Path(__file__).parent / "clusters"


@pytest.fixture(scope="module")
def private_sshd(sshd_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A second sshd from the same script, on its own port and state dir.

    Its listener can be killed and restarted without disturbing anyone using the
    shared one.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = Path(f"/var/tmp/batchdeck-ssh-transport-{os.getpid()}-{port}")
    env = {**os.environ, "BATCHDECK_CLUSTER_STATE": str(state), "BATCHDECK_SSHD_PORT": str(port)}

    def start() -> None:
        subprocess.run(
            ["bash", str(CLUSTERS / "sshd-start.sh")], env=env, check=True, capture_output=True, timeout=120
        )

    start()
    values = read_env_file(state / "sshd" / "env")
    try:
        yield {**values, "_state": str(state)}
    finally:
        subprocess.run(
            ["bash", str(CLUSTERS / "sshd-stop.sh"), "--purge"], env=env, capture_output=True, timeout=120
        )
        shutil.rmtree(state, ignore_errors=True)


def _restart_private(env: dict[str, str]) -> None:
    proc_env = {
        **os.environ,
        "BATCHDECK_CLUSTER_STATE": env["_state"],
        "BATCHDECK_SSHD_PORT": env["SSHD_PORT"],
    }
    subprocess.run(
        ["bash", str(CLUSTERS / "sshd-start.sh")], env=proc_env, check=True, capture_output=True, timeout=120
    )


async def test_sshd_down_during_download_then_restarted(private_sshd: dict[str, str], tmp_path: Path) -> None:
    env = private_sshd
    transport = make_ssh_transport(env)
    remote = f"/home/{env['SSHD_USER']}/batchdeck-test/down-{uuid.uuid4().hex[:8]}"
    size = 64 * 1024 * 1024
    try:
        assert (
            await transport.run(
                ["sh", "-c", f'mkdir -p "$1" && head -c {size} /dev/zero > "$1/big.bin"', "sh", remote]
            )
        ).ok
        dest = tmp_path / "big.bin"
        victims = [int(Path(env["SSHD_PIDFILE"]).read_text()), *_server_pids(transport, env)]

        def kill_everything(_path: str, done: int, _total: int) -> None:
            if done > 0 and victims:
                _kill(victims)
                victims.clear()

        with pytest.raises(ConnectionFailed) as info:
            await transport.get_files([(f"{remote}/big.bin", str(dest))], kill_everything)
        assert f"{env['SSHD_USER']}@127.0.0.1:{env['SSHD_PORT']}" in str(info.value)
        assert not dest.exists() and _no_partials(tmp_path) == []

        # while nothing listens, operations fail clearly after the reconnect attempts
        with pytest.raises(ConnectionFailed, match="refused"):
            await transport.stat(remote)

        _restart_private(env)
        assert await transport.get_files([(f"{remote}/big.bin", str(dest))]) == {}
        assert dest.stat().st_size == size
        assert transport.connects == 2  # type: ignore[attr-defined]
    finally:
        _restart_private(env)
        await transport.remove_tree(remote)
        await transport.close()


async def test_config_known_hosts_file_is_used_and_named(sshd_env: dict[str, str], tmp_path: Path) -> None:
    from batchdeck.backends.transports.ssh import SshTransport

    wrong = sshd_env["SSHD_KNOWN_HOSTS_WRONG"]
    config = tmp_path / "ssh_config"
    config.write_text(
        Path(sshd_env["SSHD_CONFIG_CLIENT"])
        .read_text()
        .replace(sshd_env["SSHD_KNOWN_HOSTS"] + "\n", wrong + "\n")
    )
    transport = SshTransport("bd-test", ssh_config=str(config), timeout=30)
    with pytest.raises(HostKeyChanged, match=re.escape(wrong)):
        await transport.connect()


async def test_bulk_operations_use_a_constant_number_of_channels(
    ssh: Transport, scratch: str, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(300):
        (source / f"f{i}").write_bytes(b"x" * i)
    opened: list[str] = []
    original = ssh._open_process  # type: ignore[attr-defined]

    async def counting(conn: object, command: str, bulk: bool) -> object:
        opened.append(command)
        return await original(conn, command, bulk)

    ssh._open_process = counting  # type: ignore[attr-defined]
    await ssh.home()
    opened.clear()
    await ssh.put_files([(str(source), f"{scratch}/tree")])
    assert len(opened) == 1
    opened.clear()
    listing = await ssh.list_tree(f"{scratch}/tree")
    assert len(listing) == 300 and len(opened) == 1
    opened.clear()
    pairs = [(f"{scratch}/tree/{e.path}", str(tmp_path / "dest" / e.path)) for e in listing]
    assert await ssh.get_files(pairs) == {}
    assert len(opened) == 2  # one stat of all the files, one tar stream


async def test_tar_members_outside_the_request_are_never_written(
    ssh: Transport, scratch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile or confused remote tar cannot write anywhere but the requested destinations."""
    import io
    import tarfile

    from batchdeck.backends.transports import ssh as ssh_transport

    wanted = f"{scratch}/wanted.txt"
    await ssh.write_file(wanted, b"real")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [
            ("../../escape.txt", b"evil"),
            ("/tmp/bd-absolute-escape.txt", b"evil"),
            (wanted.lstrip("/") + "/../../../../escape2.txt", b"evil"),
            ("." + wanted, b"good"),
            ("." + wanted, b"second copy ignored"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("./link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    await ssh.write_file(f"{scratch}/evil.tar", archive.getvalue())
    monkeypatch.setattr(
        ssh_transport, "_TAR_CREATE", ["sh", "-c", 'cat > /dev/null; cat "$0"', f"{scratch}/evil.tar"]
    )

    dest = tmp_path / "deep" / "dest"
    assert await ssh.get_files([(wanted, str(dest / "wanted.txt"))]) == {}
    assert (dest / "wanted.txt").read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["wanted.txt"]
    assert not Path("/tmp/bd-absolute-escape.txt").exists()


async def test_permission_errors_are_clear_transport_errors(
    ssh: Transport, scratch: str, tmp_path: Path
) -> None:
    local = tmp_path / "f.txt"
    local.write_text("x")
    with pytest.raises(TransportError, match="/etc/bd-nope"):
        await ssh.makedirs("/etc/bd-nope/sub")
    with pytest.raises(TransportError, match="/etc/bd-nope"):
        await ssh.write_file("/etc/bd-nope", b"x")
    with pytest.raises(TransportError, match="Permission denied|Cannot"):
        await ssh.put_files([(str(local), "/etc/bd-nope/f.txt")])
    await ssh.write_file(f"{scratch}/secret", b"s", mode=0o000)
    await ssh.write_file(f"{scratch}/open", b"o")
    failures = await ssh.get_files(
        [(f"{scratch}/secret", str(tmp_path / "secret")), (f"{scratch}/open", str(tmp_path / "open"))]
    )
    assert list(failures) == [f"{scratch}/secret"] and "Permission denied" in failures[f"{scratch}/secret"]
    assert (tmp_path / "open").read_bytes() == b"o" and not (tmp_path / "secret").exists()
    with pytest.raises(TransportError, match="Permission denied"):
        await ssh.read_range(f"{scratch}/secret")
