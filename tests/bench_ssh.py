"""Throughput of SshTransport against OpenSSH scp on the private sshd (not a pytest test).

Run:  python tests/bench_ssh.py [--repeat N] [--big-mb M] [--small N]

Needs tests/clusters/sshd-start.sh to have run. Creates a big random file and many
small ones on the server side (not over the measured connection), then times, as
median of N runs each: SshTransport.get_files / put_files, OpenSSH scp (its 9.x
default SFTP protocol) with its default cipher and with aes128-gcm, and scp -O
(legacy protocol). Files are in the page cache on both ends; every download is
checked against the source's SHA-256.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from batchdeck.backends.transports.ssh import SshTransport  # noqa: E402

from conftest import STATE_DIR, read_env_file  # noqa: E402


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def median_time(runs: list[float]) -> float:
    return statistics.median(runs)


async def timed(repeat: int, setup: Callable[[], None], action: Callable[[], Awaitable[None]]) -> list[float]:
    times = []
    for _ in range(repeat):
        setup()
        start = time.perf_counter()
        await action()
        times.append(time.perf_counter() - start)
    return times


def run_cmd(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--small-kb", type=int, default=8, help="size of each small file")
    # /tmp on the CI VM creates files ~10x slower than /var/tmp, which would
    # measure the local disk rather than the transfer
    parser.add_argument("--workdir", default="/var/tmp", help="where the local copies go")
    args = parser.parse_args()

    env_file = STATE_DIR / "sshd" / "env"
    if not env_file.exists():
        raise SystemExit(f"{env_file} missing: run tests/clusters/sshd-start.sh first")
    env = read_env_file(env_file)
    host, port, user = env["SSHD_HOST"], env["SSHD_PORT"], env["SSHD_USER"]
    transport = SshTransport(
        host, int(port), user, keyfile=env["SSHD_KEY"], known_hosts=env["SSHD_KNOWN_HOSTS"], timeout=120
    )
    ssh_opts = ["-P", port, "-i", env["SSHD_KEY"], "-o", f"UserKnownHostsFile={env['SSHD_KNOWN_HOSTS']}",
                "-o", "BatchMode=yes", "-q"]  # fmt: skip

    remote = f"/home/{user}/batchdeck-bench"
    big_mb, small_n = args.big_mb, args.small
    big_bytes = big_mb * 1024 * 1024
    small_bytes = small_n * args.small_kb * 1024
    print(f"preparing {big_mb} MB file and {small_n} x {args.small_kb} KiB files in {remote} ...", flush=True)
    prepare = (
        'rm -rf "$1" && mkdir -p "$1/small" && head -c "$2" /dev/urandom > "$1/big.bin" && '
        'i=0; while [ $i -lt "$3" ]; do head -c "$4" /dev/urandom > "$1/small/f$i.dat"; i=$((i+1)); done'
    )
    result = await transport.run(
        ["sh", "-c", prepare, "sh", remote, str(big_bytes), str(small_n), str(args.small_kb * 1024)],
        timeout=600,
    )
    result.check("prepare")
    big_sha = (await transport.run(["sha256sum", f"{remote}/big.bin"])).stdout.split()[0]
    listing = await transport.list_tree(f"{remote}/small")
    assert len(listing) == small_n

    work = Path(tempfile.mkdtemp(prefix="bd-bench-", dir=args.workdir))
    rows: list[tuple[str, str, float, float]] = []  # method, what, seconds, MB/s

    def clean() -> None:
        shutil.rmtree(work / "dl", ignore_errors=True)
        (work / "dl").mkdir()

    def record(method: str, what: str, times: list[float], nbytes: int) -> None:
        seconds = median_time(times)
        rows.append((method, what, seconds, nbytes / seconds / 1e6))
        print(f"  {method:<44} {what:<18} {seconds:7.3f} s  {nbytes / seconds / 1e6:8.1f} MB/s", flush=True)

    try:
        await transport.connect()
        # ---- downloads: one big file
        dl = work / "dl"

        async def bd_big() -> None:
            failures = await transport.get_files([(f"{remote}/big.bin", str(dl / "big.bin"))])
            assert not failures, failures

        times = await timed(args.repeat, clean, bd_big)
        assert sha256_file(dl / "big.bin") == big_sha
        record("batchdeck get_files", f"{big_mb} MB file", times, big_bytes)

        for label, extra in (("scp (sftp protocol, default cipher)", []),
                             ("scp -c aes128-gcm@openssh.com", ["-c", "aes128-gcm@openssh.com"]),
                             ("scp -O (legacy protocol)", ["-O"])):  # fmt: skip

            async def scp_big(extra: list[str] = extra) -> None:
                await asyncio.to_thread(
                    run_cmd,
                    ["scp", *ssh_opts, *extra, f"{user}@{host}:{remote}/big.bin", str(dl / "big.bin")],
                )

            times = await timed(args.repeat, clean, scp_big)
            assert sha256_file(dl / "big.bin") == big_sha
            record(label, f"{big_mb} MB file", times, big_bytes)

        # ---- downloads: many small files
        pairs = [(f"{remote}/small/{e.path}", str(dl / "small" / e.path)) for e in listing]

        async def bd_small() -> None:
            failures = await transport.get_files(pairs)
            assert not failures, failures

        times = await timed(args.repeat, clean, bd_small)
        reference = tree_digest(dl / "small")
        record("batchdeck get_files", f"{small_n} small files", times, small_bytes)

        async def bd_small_listed() -> None:
            entries = await transport.list_tree(f"{remote}/small")
            failures = await transport.get_files(
                [(f"{remote}/small/{e.path}", str(dl / "small" / e.path)) for e in entries]
            )
            assert not failures, failures

        times = await timed(args.repeat, clean, bd_small_listed)
        assert tree_digest(dl / "small") == reference
        record("batchdeck list_tree + get_files", f"{small_n} small files", times, small_bytes)

        for label, extra in (("scp -r (sftp protocol, default cipher)", []),
                             ("scp -r -c aes128-gcm@openssh.com", ["-c", "aes128-gcm@openssh.com"]),
                             ("scp -r -O (legacy protocol)", ["-O"])):  # fmt: skip

            async def scp_small(extra: list[str] = extra) -> None:
                await asyncio.to_thread(
                    run_cmd,
                    ["scp", *ssh_opts, *extra, "-r", f"{user}@{host}:{remote}/small", str(dl / "small")],
                )

            times = await timed(args.repeat, clean, scp_small)
            assert tree_digest(dl / "small") == reference
            record(label, f"{small_n} small files", times, small_bytes)

        # ---- uploads (the local copies just downloaded)
        up_big = work / "up-big.bin"
        up_small = work / "up-small"
        await transport.get_files([(f"{remote}/big.bin", str(up_big))])
        await transport.get_files([(r, str(up_small / Path(loc).name)) for r, loc in pairs])

        def nothing() -> None:
            pass

        async def bd_put_big() -> None:
            await transport.put_files([(str(up_big), f"{remote}/up/big.bin")])

        times = await timed(args.repeat, nothing, bd_put_big)
        assert (await transport.run(["sha256sum", f"{remote}/up/big.bin"])).stdout.split()[0] == big_sha
        record("batchdeck put_files", f"{big_mb} MB file", times, big_bytes)

        async def scp_put_big() -> None:
            await asyncio.to_thread(
                run_cmd, ["scp", *ssh_opts, str(up_big), f"{user}@{host}:{remote}/up/big2.bin"]
            )

        times = await timed(args.repeat, nothing, scp_put_big)
        record("scp upload (sftp protocol, default cipher)", f"{big_mb} MB file", times, big_bytes)

        async def bd_put_small() -> None:
            await transport.put_files([(str(up_small), f"{remote}/up/small")])

        times = await timed(args.repeat, nothing, bd_put_small)
        assert len(await transport.list_tree(f"{remote}/up/small")) == small_n
        record("batchdeck put_files", f"{small_n} small files", times, small_bytes)

        async def scp_put_small() -> None:
            await asyncio.to_thread(
                run_cmd, ["scp", *ssh_opts, "-r", str(up_small), f"{user}@{host}:{remote}/up/small2"]
            )

        times = await timed(args.repeat, nothing, scp_put_small)
        record("scp -r upload (sftp protocol, default cipher)", f"{small_n} small files", times, small_bytes)
    finally:
        await transport.remove_tree(remote)
        await transport.close()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"median of {args.repeat} runs, loopback 127.0.0.1:{port}, {os.cpu_count()} cores")
    print(f"| {'method':<46} | {'payload':<18} | {'seconds':>8} | {'MB/s':>8} |")
    print(f"|{'-' * 48}|{'-' * 20}|{'-' * 10}|{'-' * 10}|")
    for method, what, seconds, rate in rows:
        print(f"| {method:<46} | {what:<18} | {seconds:8.3f} | {rate:8.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
