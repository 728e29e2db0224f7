"""`make bench`: every case against the plain tool a user would otherwise run (not a pytest test).

Each case runs batchdeck and its anchor alternately in one process (paired), several times, and
prints the median of each and their ratio (batchdeck / anchor: below 1 is faster than the anchor).
Cases needing a daemon (the test sshd, SLURM, Grid Engine from tests/clusters/) are skipped with
the reason when it is missing. Nothing here asserts on time; BENCHMARKS.md records a run.

    python tests/bench.py [--repeat N] [--only SUBSTRING ...] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from batchdeck.backends.engine.journal import Journal  # noqa: E402
from batchdeck.backends.model import JobRecord, JobSpec, RunState  # noqa: E402
from batchdeck.backends.schedulers.base import BatchSystem  # noqa: E402
from batchdeck.backends.transports.base import command_line  # noqa: E402

from conftest import STATE_DIR, read_env_file  # noqa: E402
from helpers import RecordingTransport  # noqa: E402

PY = sys.executable
WORK = Path(os.environ.get("BATCHDECK_BENCH_DIR", "/var/tmp/batchdeck-bench"))
REMOTE = "/home/batchtest/batchdeck-bench"


@dataclass
class Row:
    case: str
    ours: float | None
    anchor: float | None
    anchor_name: str
    unit: str = "s"
    note: str = ""

    def cells(self) -> tuple[str, str, str, str, str]:
        def fmt(value: float | None) -> str:
            if value is None:
                return "—"
            if self.unit == "s":
                return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
            return f"{value:.1f} {self.unit}"

        ratio = "—"
        if self.ours is not None and self.anchor:
            ratio = f"{self.ours / self.anchor:.2f}×"
        return self.case, fmt(self.ours), f"{self.anchor_name} {fmt(self.anchor)}".strip(), ratio, self.note


class Skip(Exception):
    """A case that cannot run here (its daemon is missing); the message says why."""


def sh(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc  # type: ignore[no-any-return]


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    sh(argv, env=env)
    return time.perf_counter() - start


def paired(repeat: int, ours: Callable[[], float], anchor: Callable[[], float]) -> tuple[float, float]:
    """Alternate the two (anchor first on odd runs) and return both medians."""
    a: list[float] = []
    b: list[float] = []
    for i in range(repeat):
        if i % 2:
            b.append(anchor())
            a.append(ours())
        else:
            a.append(ours())
            b.append(anchor())
    return statistics.median(a), statistics.median(b)


def run(coro: Awaitable[float]) -> float:
    return asyncio.run(coro)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- environment


def ssh_env() -> dict[str, str]:
    env_file = STATE_DIR / "sshd" / "env"
    if not env_file.exists():
        raise Skip("the test sshd is not running (tests/clusters/up.sh ssh)")
    return read_env_file(env_file)


def ssh_opts(env: dict[str, str]) -> list[str]:
    return ["-p", env["SSHD_PORT"], "-i", env["SSHD_KEY"], "-o", f"UserKnownHostsFile={env['SSHD_KNOWN_HOSTS']}",
            "-o", "BatchMode=yes", "-q"]  # fmt: skip


def ssh_argv(env: dict[str, str], *remote: str) -> list[str]:
    return ["ssh", *ssh_opts(env), f"{env['SSHD_USER']}@{env['SSHD_HOST']}", *remote]


def need(program: str, why: str) -> None:
    if shutil.which(program) is None:
        raise Skip(why)


class Home:
    """A private config + data dir for batchdeck subprocesses."""

    def __init__(self, name: str, env: dict[str, str] | None) -> None:
        self.root = WORK / f"{name}-{uuid.uuid4().hex[:6]}"
        self.root.mkdir(parents=True)
        lines = [f'[clusters.local]\ntype = "local"\nsandbox_root = "{self.root / "sandboxes"}"\n']
        if env is not None:
            lines.append(
                "[clusters.ssh]\ntype = \"local\"\ntransport = \"ssh\"\n"
                f"frontend = \"{env['SSHD_HOST']}\"\nport = {env['SSHD_PORT']}\nusername = \"{env['SSHD_USER']}\"\n"
                f"keyfile = \"{env['SSHD_KEY']}\"\nknown_hosts = \"{env['SSHD_KNOWN_HOSTS']}\"\n"
                f"sandbox_root = \"{REMOTE}/sandboxes\"\n"
            )
        if shutil.which("sbatch"):
            lines.append(f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{self.root / "slurm"}"\n')
        self.config = self.root / "batchdeck.toml"
        self.config.write_text("\n".join(lines))
        self.env = {**os.environ, "BATCHDECK_CONFIG": str(self.config), "BATCHDECK_DATA_DIR": str(self.root / "data")}

    def journal(self) -> Journal:
        return Journal(self.root / "data" / "journal.sqlite")

    def cli(self, *args: str) -> list[str]:
        return [PY, "-m", "batchdeck.tui.cli", *args]


def finished_records(cluster: str, n: int, sandbox: str | None = None) -> list[JobRecord]:
    now = time.time()
    return [
        JobRecord(
            id=f"f{i:07d}", cluster=cluster, spec=JobSpec(command=["echo", str(i)], name=f"sweep-{i:05d}"),
            jobid=f"f{i:07d}", sandbox=sandbox, state=RunState.TERMINATED, created=now - n + i,
            started=now - 3600, finished=now - 60, exitcode=0, reason="results fetched",
        )  # fmt: skip
        for i in range(n)
    ]


# ---------------------------------------------------------------------------- cases


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await work()
    return time.perf_counter() - start


async def _command(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE)
    await proc.communicate()


async def _refresh_pair(backend: BatchSystem, jobs: list[JobRecord], user: str, repeat: int) -> tuple[float, float]:
    """One refresh by batchdeck against the same squeue it runs, from the same process, alternately."""
    await backend.connect()
    await backend.update_job_states(jobs)  # warm: the connection and the user are known
    argv = ["squeue", "-h", "-r", "-u", user, "-o", "%i"]
    squeue_argv = getattr(backend, "squeue_argv", None)
    if squeue_argv is not None:
        argv = squeue_argv(user)
    ours: list[float] = []
    anchor: list[float] = []
    for i in range(repeat * 2):
        pair = [lambda: _timed(lambda: backend.update_job_states(jobs)), lambda: _timed(lambda: _command(argv))]
        first, second = (await pair[i % 2]()), (await pair[1 - i % 2]())
        ours.append(first if i % 2 == 0 else second)
        anchor.append(second if i % 2 == 0 else first)
    await backend.close()
    return statistics.median(ours), statistics.median(anchor)


def case_slurm_refresh(repeat: int) -> list[Row]:
    need("sbatch", "SLURM is not installed (tests/clusters/up.sh slurm)")
    from batchdeck.backends.schedulers.slurm import SlurmBatchSystem

    rows = []
    user = sh(["id", "-un"]).stdout.strip()
    for n in (1, 100, 1000):
        ids: list[str] = []
        try:
            for _ in range(n):
                ids.append(sh(["sbatch", "--parsable", "--hold", "-o", "/dev/null", "--wrap", "true"]).stdout.strip())
            jobs = [
                JobRecord(id=f"s{i:07d}", cluster="slurm", spec=JobSpec(command=["true"]), jobid=jobid,
                          state=RunState.SUBMITTED, sandbox="/nonexistent")  # fmt: skip
                for i, jobid in enumerate(ids)
            ]
            backend = SlurmBatchSystem("slurm", sandbox_root=str(WORK / "slurm"), username=user)

            ours, anchor = asyncio.run(_refresh_pair(backend, jobs, user, repeat))
            rows.append(Row(f"SLURM refresh, {n:,} jobs (one process)", ours, anchor, "squeue"))
        finally:
            for start in range(0, len(ids), 500):
                subprocess.run(["scancel", *ids[start : start + 500]], capture_output=True)
    return rows


def case_sge_gone(repeat: int) -> list[Row]:
    need("qstat", "Grid Engine is not installed (tests/clusters/up.sh sge)")
    from batchdeck.backends.schedulers.sge import SgeBatchSystem
    from batchdeck.backends.transports.local import LocalTransport

    user = sh(["id", "-un"]).stdout.strip()
    recording = RecordingTransport(LocalTransport())
    backend = SgeBatchSystem("sge", transport=recording, sandbox_root=str(WORK / "sge"), username=user)
    # 20 jobs that left the queue with no qacct record (e.g. deleted outside batchdeck)
    jobs = [
        JobRecord(id=f"g{i:07d}", cluster="sge", spec=JobSpec(command=["true"]), jobid=str(8_000_000 + i),
                  state=RunState.SUBMITTED, sandbox="/nonexistent", last_seen=time.time() - 3600)  # fmt: skip
        for i in range(20)
    ]

    async def both() -> tuple[float, float, float]:
        await backend.connect()
        await backend.update_job_states(jobs)
        recording.clear()
        await backend.update_job_states(jobs)
        commands = len(recording.commands)

        async def ours() -> float:
            start = time.perf_counter()
            await backend.update_job_states(jobs)
            return time.perf_counter() - start

        async def anchor() -> float:
            start = time.perf_counter()
            proc = await asyncio.create_subprocess_exec("qstat", "-xml", "-u", user, stdout=subprocess.PIPE)
            await proc.communicate()
            return time.perf_counter() - start

        a, b = [], []
        for _ in range(repeat):
            a.append(await ours())
            b.append(await anchor())
        return statistics.median(a), statistics.median(b), float(commands)

    ours, anchor, commands = asyncio.run(both())
    return [
        Row("Grid Engine refresh, 20 jobs gone without qacct", ours, anchor, "qstat -xml"),
        Row("  commands per refresh (same case)", commands, 1.0, "qstat -xml", unit="cmds"),
    ]


def _remote_prepare(env: dict[str, str]) -> None:
    script = (
        'set -e; d="$1"; mkdir -p "$d/big" "$d/small" "$d/peek"; '
        '[ -s "$d/big/big.bin" ] || head -c 209715200 /dev/urandom > "$d/big/big.bin"; '
        '[ -e "$d/small/f1999.dat" ] || { i=0; while [ $i -lt 2000 ]; do head -c 4096 /dev/urandom > "$d/small/f$i.dat"; i=$((i+1)); done; }; '
        '[ -s "$d/peek/stdout.txt" ] || { truncate -s 1073741824 "$d/peek/stdout.txt"; echo last line >> "$d/peek/stdout.txt"; }'
    )
    # ssh hands the remote shell one string: quote every word of it
    sh(ssh_argv(env, command_line(["sh", "-c", script, "sh", REMOTE])))


def _ssh_backend(env: dict[str, str]):  # noqa: ANN202 - a LocalBatchSystem over SSH
    from batchdeck.backends.schedulers.local import LocalBatchSystem

    return LocalBatchSystem(
        "ssh", transport="ssh", frontend=env["SSHD_HOST"], port=int(env["SSHD_PORT"]), username=env["SSHD_USER"],
        keyfile=env["SSHD_KEY"], known_hosts=env["SSHD_KNOWN_HOSTS"], sandbox_root=f"{REMOTE}/sandboxes",
        max_cores=2,
    )  # fmt: skip


def _fetched_job(folder: str) -> JobRecord:
    return JobRecord(id=uuid.uuid4().hex[:8], cluster="ssh", spec=JobSpec(command=["true"]), jobid="x",
                     sandbox=f"{REMOTE}/{folder}", state=RunState.TERMINATING)  # fmt: skip


def case_transfers(repeat: int) -> list[Row]:
    env = ssh_env()
    _remote_prepare(env)
    target = user_host = f"{env['SSHD_USER']}@{env['SSHD_HOST']}"
    local = WORK / "transfers"
    rows = []

    def fresh() -> Path:
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir(parents=True)
        return local

    home = Home("transfers", env)
    jobs = {folder: _fetched_job(folder) for folder in ("big", "small")}
    home.journal().save_many(jobs.values())

    def bd_get(folder: str, keep: bool = False) -> float:
        # the CLI, as a user runs it: a new process and a fresh connection each time
        dest = local if keep else fresh()
        return wall(home.cli("get", jobs[folder].id, str(dest), "--overwrite"), env=home.env)

    def scp_big() -> float:
        fresh()
        return wall(["scp", *["-P" if o == "-p" else o for o in ssh_opts(env)], f"{target}:{REMOTE}/big/big.bin", str(local)])

    ours, anchor = paired(repeat, lambda: bd_get("big"), scp_big)
    rows.append(Row("one 200 MiB file, `batchdeck get` (fresh connection)", ours, anchor, "scp"))

    def tar_pipe() -> float:
        dest = fresh()
        start = time.perf_counter()
        src = subprocess.Popen(ssh_argv(env, command_line(["tar", "-C", f"{REMOTE}/small", "-cf", "-", "."])), stdout=subprocess.PIPE)
        sh(["tar", "-C", str(dest), "-xf", "-"], stdin=src.stdout)
        src.wait()
        return time.perf_counter() - start

    ours, anchor = paired(repeat, lambda: bd_get("small"), tar_pipe)
    rows.append(Row("2,000 × 4 KiB files, `batchdeck get`", ours, anchor, "ssh tar c | tar x"))

    # resync when nothing changed: both start from a complete copy
    bd_get("small")
    rsync_dest = WORK / "rsync"
    shutil.rmtree(rsync_dest, ignore_errors=True)
    rsync = ["rsync", "-a", "-e", " ".join(["ssh", *ssh_opts(env)]), f"{user_host}:{REMOTE}/small/", str(rsync_dest)]
    sh(rsync)
    ours, anchor = paired(repeat, lambda: bd_get("small", keep=True), lambda: wall(rsync))
    rows.append(Row("resync, nothing changed (2,000 files), `get --overwrite`", ours, anchor, "rsync -a"))
    return rows


def case_peek(repeat: int) -> list[Row]:
    env = ssh_env()
    _remote_prepare(env)
    home = Home("peek", env)
    job = _fetched_job("peek")
    home.journal().save(job)
    ours, anchor = paired(
        repeat,
        lambda: wall(home.cli("peek", job.id, "--bytes", "4096"), env=home.env),
        lambda: wall(ssh_argv(env, command_line(["tail", "-c", "4096", f"{REMOTE}/peek/stdout.txt"]))),
    )
    return [Row("peek --bytes 4096 of a 1 GiB file (CLI)", ours, anchor, "ssh tail -c 4096")]


def case_list(repeat: int) -> list[Row]:
    rows = []
    empty = Home("list-empty", None)
    empty.journal()
    for n in (10_000, 50_000):
        home = Home(f"list-{n}", None)
        home.journal().save_many(finished_records("local", n))
        ours, anchor = paired(
            repeat,
            lambda home=home: wall(home.cli("list", "--no-refresh"), env=home.env),  # type: ignore[misc]
            lambda: wall(empty.cli("list", "--no-refresh"), env=empty.env),
        )
        rows.append(Row(f"list, {n:,} finished jobs", ours, anchor, "empty journal"))
    return rows


MINIMAL_APP = '''
from textual.app import App
from textual.widgets import DataTable, Footer, Header
class Minimal(App):
    def compose(self):
        yield Header(); yield DataTable(); yield Footer()
    def on_mount(self):
        table = self.query_one(DataTable); table.add_columns("Jobs", "state")
Minimal().run()
'''


def _tmux_first_frame(command: str, text: str, env: dict[str, str]) -> float:
    session = f"bdbench{uuid.uuid4().hex[:6]}"
    start = time.perf_counter()
    sh(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45", command], env=env)
    try:
        deadline = start + 60
        while time.perf_counter() < deadline:
            shown = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            if text in shown:
                return time.perf_counter() - start
            time.sleep(0.01)
        raise RuntimeError(f"{command!r} never showed {text!r}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def case_first_frame(repeat: int) -> list[Row]:
    need("tmux", "tmux is not installed")
    home = Home("frame", None)
    home.journal().save_many(finished_records("local", 10_000))
    script = home.root / "minimal_app.py"
    script.write_text(MINIMAL_APP)
    ours, anchor = paired(
        repeat,
        lambda: _tmux_first_frame(f"exec {PY} -m batchdeck.tui.cli", "Jobs", home.env),
        lambda: _tmux_first_frame(f"exec {PY} {script}", "Jobs", home.env),
    )
    return [Row("first frame, 10,000-job journal", ours, anchor, "minimal Textual app")]


def _cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime and the reaped children's (a runner's `sleep` calls land there)
        ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _app_idle_cpu(home: Home, seconds: float) -> float:
    session = f"bdbench{uuid.uuid4().hex[:6]}"
    sh(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45", f"exec {PY} -m batchdeck.tui.cli"], env=home.env)
    try:
        pid = int(sh(["tmux", "display", "-p", "-t", session, "#{pane_pid}"]).stdout.strip())
        deadline = time.time() + 60
        while "Jobs" not in subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout:
            if time.time() > deadline:
                raise RuntimeError("the app never drew its first frame")
            time.sleep(0.05)
        # Idle starts when the start-up work is done: the first fill of 10,000 rows (timed by
        # the first-frame case and bench_tui.py) takes longer than any fixed wait, and its chunks
        # leave short gaps. So wait, within a deadline, for two seconds in a row each under a
        # quarter of a core, then measure; an app that never gets there says so.
        deadline = time.time() + 120
        quiet = 0
        while quiet < 2:
            before, t0 = _cpu_seconds([pid]), time.perf_counter()
            time.sleep(1)
            busy = (_cpu_seconds([pid]) - before) / (time.perf_counter() - t0)
            quiet = quiet + 1 if busy < 0.25 else 0
            if quiet < 2 and time.time() > deadline:
                raise RuntimeError(f"the app never settled: {busy:.0%} of a core 2 minutes after its first frame")
        before, t0 = _cpu_seconds([pid]), time.perf_counter()
        time.sleep(seconds)
        return (_cpu_seconds([pid]) - before) / (time.perf_counter() - t0) * 100
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def case_idle(repeat: int) -> list[Row]:
    need("tmux", "tmux is not installed")
    full = Home("idle", None)
    full.journal().save_many(finished_records("local", 10_000))
    empty = Home("idle-empty", None)
    empty.journal()
    ours = statistics.median(_app_idle_cpu(full, 10) for _ in range(max(1, repeat // 2)))
    anchor = statistics.median(_app_idle_cpu(empty, 10) for _ in range(max(1, repeat // 2)))
    return [Row("app idle, 10,000 jobs (% of a core)", ours, anchor, "empty journal", unit="%")]


def case_submit(repeat: int) -> list[Row]:
    need("sbatch", "SLURM is not installed (tests/clusters/up.sh slurm)")
    home = Home("submit", None)
    (home.root / "slurm").mkdir()
    ids: list[str] = []
    batch = 5

    def ours() -> float:
        start = time.perf_counter()
        for _ in range(batch):
            sh(home.cli("submit", "--cluster", "slurm", "--", "true"), env=home.env)
        return (time.perf_counter() - start) / batch

    def anchor() -> float:
        start = time.perf_counter()
        for _ in range(batch):
            ids.append(sh(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"]).stdout.strip())
        return (time.perf_counter() - start) / batch

    try:
        a, b = paired(repeat, ours, anchor)
    finally:
        for job in home.journal().jobs():
            if job.jobid:
                ids.append(job.jobid)
        subprocess.run(["scancel", *ids], capture_output=True)
    return [Row("CLI submit, per job", a, b, "sbatch", note=f"+{(a - b) * 1000:.0f} ms per job")]


def case_local_queue(repeat: int) -> list[Row]:
    from batchdeck.backends.schedulers.local import LocalBatchSystem

    root = WORK / f"queue-{uuid.uuid4().hex[:6]}"
    backend = LocalBatchSystem("bench", sandbox_root=str(root), max_cores=1)

    async def go() -> float:
        jobs = [JobRecord(id=f"q{i:07d}", cluster="bench", spec=JobSpec(command=["sleep", "600" if i == 0 else "0"]))
                for i in range(101)]  # fmt: skip
        for job in jobs:
            await backend.submit_job(job)
        try:
            await asyncio.sleep(2)  # every runner is up and waiting
            pids = [int(p) for p in sh(["pgrep", "-f", str(root)]).stdout.split()]
            before, t0 = _cpu_seconds(pids), time.perf_counter()
            await asyncio.sleep(5)
            return (_cpu_seconds(pids) - before) / (time.perf_counter() - t0) * 100
        finally:
            for job in jobs:
                try:
                    await backend.cancel_job(job)
                except Exception:  # noqa: BLE001, S110 - best-effort cleanup of the benchmark's own jobs
                    pass
            subprocess.run(["pkill", "-f", str(root)], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)

    return [Row("local backend, 100 queued jobs (% of a core)", run(go()), None, "", unit="%", note="target ~0")]


CASES: dict[str, Callable[[int], list[Row]]] = {
    "slurm-refresh": case_slurm_refresh,
    "sge-gone": case_sge_gone,
    "transfers": case_transfers,
    "peek": case_peek,
    "list": case_list,
    "first-frame": case_first_frame,
    "idle": case_idle,
    "submit": case_submit,
    "local-queue": case_local_queue,
}


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{platform.platform()}, {os.cpu_count()} cores ({cpu}), {mem} GiB, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="paired runs per case (median quoted)")
    parser.add_argument("--only", nargs="*", default=[], help="cases to run (names contain one of these)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for name, case in CASES.items():
        if args.only and not any(part in name for part in args.only):
            continue
        print(f"… {name}", file=sys.stderr, flush=True)
        try:
            rows.extend(case(args.repeat))
        except Skip as why:
            rows.append(Row(name, None, None, "", note=f"skipped: {why}"))
        except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others
            rows.append(Row(name, None, None, "", note=f"failed: {type(exc).__name__}: {exc}"))
    header = ("case", "batchdeck", "anchor", "ratio", "note")
    table = [header, *(row.cells() for row in rows)]
    print(f"\n{machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; median of {args.repeat} paired runs\n")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for cells in table[1:]:
            print("| " + " | ".join(cells) + " |")
    else:
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for cells in table:
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
