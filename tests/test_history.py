"""`batchdeck history` on the real SLURM (sacct via slurmdbd) and Grid Engine (qacct): jobs submitted
with plain sbatch/qsub, burning a known amount of CPU and memory, and the efficiency computed from them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.efficiency import cpu_efficiency, memory_efficiency
from batchdeck.backends.model import Outcome
from batchdeck.backends.schedulers.sge import parse_qacct_history, parse_qacct_records
from batchdeck.backends.schedulers.slurm import SACCT_HISTORY_FIELDS, parse_sacct, parse_sacct_history

from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
# ~200 MiB resident for the whole run, and 3 s of CPU time, however busy the machine is (the
# wall time it takes varies with load, so the efficiency is checked for consistency, the CPU time
# for its value); it runs at least 4 s, as SLURM samples memory every 2 s
BURN = (
    "import time\n"
    "block = bytearray(200 * 1024 * 1024)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "start = time.time()\n"
    "while time.process_time() < 3 or time.time() - start < 4: pass\n"
)


def check_cpu(record: dict[str, object]) -> None:
    cpu, elapsed, cores = record["cpu_time"], record["elapsed"], record["cores"]
    assert isinstance(cpu, float) and isinstance(elapsed, float) and isinstance(cores, int), record
    assert 3.0 <= cpu <= 6.0, record
    assert record["cpu_efficiency"] == round(cpu / (elapsed * cores), 4), record
    # sacct's Elapsed counts whole seconds (truncated) while its TotalCPU keeps the fraction, so a
    # fully busy 4.9 s job reads as 4.9 s of CPU in 4 s: the bound allows the second lost
    assert 0 < cpu <= (elapsed + 1) * cores, record
SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\n'
    )
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def history(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    proc = subprocess.run([*BATCHDECK, "history", "--json", "--since", "1h", *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_efficiency_is_computed_as_seff_does() -> None:
    assert cpu_efficiency(90, 100, 1) == 0.9
    assert cpu_efficiency(90, 100, 2) == 0.45
    assert cpu_efficiency(None, 100, 1) is None and cpu_efficiency(5, 0, 1) is None
    assert memory_efficiency(200, 400) == 0.5
    assert memory_efficiency(200, None) is None


async def test_slurm_history_of_a_plain_sbatch_job(slurm_cluster: None, env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    jobid = subprocess.run(
        ["sbatch", "--parsable", "--job-name=burn", "--mem=400M", "-c", "1", "-o", str(tmp_path / "out"),
         "--wrap", f"{sys.executable} {script}"],  # fmt: skip
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    failing = subprocess.run(
        ["sbatch", "--parsable", "--job-name=bad", "-o", "/dev/null", "--wrap", "exit 3"], capture_output=True, text=True, check=True
    ).stdout.strip()
    found: dict[str, dict[str, object]] = {}

    def listed() -> bool:
        found.update({r["jobid"]: r for r in history(env, "--cluster", "slurm")})  # type: ignore[misc]
        # slurmdbd first records a job as "allocation" (sometimes already COMPLETED) and writes
        # its real name a moment later: wait for the record to settle
        return all(j in found and found[j]["name"] != "allocation" for j in (jobid, failing))

    try:
        await eventually(listed, timeout=90, what="both jobs in sacct")
    finally:
        subprocess.run(["scancel", jobid, failing], capture_output=True)
    burn = found[jobid]
    for key in ("jobid", "name", "outcome", "exitcode", "signal", "elapsed", "cores", "cpu_efficiency", "memory_efficiency"):
        assert key in burn
    assert (burn["name"], burn["outcome"], burn["exitcode"], burn["cores"]) == ("burn", "ok", 0, 1)
    check_cpu(burn)
    assert burn["requested_memory"] == 400.0
    assert 0.4 <= burn["memory_efficiency"] <= 0.7, burn  # type: ignore[operator]
    bad = found[failing]
    assert (bad["outcome"], bad["exitcode"]) == ("failed", 3)


async def test_sge_history_of_a_plain_qsub_job(sge_cluster: None, env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    jobid = subprocess.run(
        ["qsub", "-terse", "-N", "burn", "-l", "h_vmem=400M", "-j", "y", "-o", str(tmp_path / "out"), "-b", "y",
         sys.executable, str(script)],  # fmt: skip
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    found: dict[str, dict[str, object]] = {}

    def listed() -> bool:
        found.update({r["jobid"]: r for r in history(env, "--cluster", "sge")})  # type: ignore[misc]
        return jobid in found

    try:
        await eventually(listed, timeout=90, what="the job in qacct")
    finally:
        subprocess.run(["qdel", jobid], capture_output=True)
    burn = found[jobid]
    assert (burn["name"], burn["outcome"], burn["exitcode"], burn["cores"]) == ("burn", "ok", 0, 1)
    check_cpu(burn)
    assert burn["requested_memory"] == 400.0
    # maxvmem is virtual memory: the 200 MiB block plus the interpreter's own mappings
    assert 0.5 <= burn["memory_efficiency"] <= 0.95, burn  # type: ignore[operator]


def test_history_says_when_a_cluster_keeps_no_accounting(tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.here]\ntype = "local"\nsandbox_root = "{tmp_path / "s"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    proc = subprocess.run([*BATCHDECK, "history", "--cluster", "here"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "keep no accounting" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    bad = subprocess.run([*BATCHDECK, "history", "--since", "7"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_sacct_history_parser_on_a_real_transcript() -> None:
    records = {r.jobid: r for r in parse_sacct_history((SAMPLES / "slurm" / "sacct-history.txt").read_text())}
    assert records["13"].outcome == "timeout" and records["13"].exitcode is None and records["13"].signal == 15
    assert records["7"].outcome == "cancelled" and records["7"].exitcode is None
    assert records["5"].outcome == "failed" and records["5"].exitcode == 3
    assert records["1"].outcome == "ok" and records["1"].max_rss is not None


def test_qacct_history_parser_on_a_real_transcript() -> None:
    records = parse_qacct_history((SAMPLES / "sge" / "qacct-history.txt").read_text())
    outcomes = {r.outcome for r in records}
    assert "ok" in outcomes and "killed" in outcomes and "timeout" in outcomes
    assert all(r.jobid for r in records)
    assert parse_qacct_history((SAMPLES / "sge" / "qacct-history-no-jobs.txt").read_text()) == []


def test_history_and_refresh_read_the_same_verdict() -> None:
    # One table per scheduler: a job's outcome, exit code and signal in `history` are the
    # ones its status refresh reaches from the same accounting lines.
    text = (SAMPLES / "slurm" / "sacct-history.txt").read_text()
    refreshed = parse_sacct(text, SACCT_HISTORY_FIELDS)
    history = parse_sacct_history(text)
    assert history
    for record in history:
        job = refreshed[record.jobid]
        assert (record.outcome, record.exitcode, record.signal) == (job.outcome, job.exitcode, job.signal), record.jobid
    text = (SAMPLES / "sge" / "qacct-history.txt").read_text()
    records = re.split(r"(?m)^OWNER\s+WALLCLOCK", text)[0]  # without the totals table `qacct -o` appends
    refreshed_sge = {f"{j.jobid}.{j.array_task}" if j.array_task else j.jobid: j for j in parse_qacct_records(records)}
    history = parse_qacct_history(text)
    assert history
    for record in history:
        job = refreshed_sge[record.jobid]
        assert (record.outcome, record.exitcode, record.signal) == (job.outcome, job.exitcode, job.signal), record.jobid
    assert {r.outcome for r in history} >= {Outcome.OK, Outcome.FAILED, Outcome.TIMEOUT, Outcome.KILLED}


def test_the_history_cache_keeps_only_fresh_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchdeck.backends.engine import history

    now = [1000.0]
    monkeypatch.setattr(history.time, "monotonic", lambda: now[0])
    cache = history.HistoryCache()
    for minute in range(100):  # a long-running app asking each minute for "the last 7 days"
        now[0] += 60
        cache.put("slurm", minute * 60.0, [])
        assert cache.get("slurm", minute * 60.0) == []
    assert len(cache.entries) == 1
