"""Shell-hostile job names, arguments and file names round-trip unchanged and execute nothing."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.local import LocalBatchSystem

from fuzz import CANARY, HOSTILE

fragment = st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8))
hostile_text = st.lists(fragment, min_size=1, max_size=6).map("".join)
file_name = hostile_text.filter(lambda s: s.strip() != "" and "/" not in s and s not in (".", "..") and not s.startswith(".bd-") and len(s.encode()) < 200)

ECHO_ARGS = 'for a in "$@"; do printf "%s\\0" "$a"; done; cat -- "$IN" > "$OUT"'


async def _wait_finished(backend: LocalBatchSystem, job: JobRecord) -> None:
    deadline = time.monotonic() + 30
    while job.state != RunState.TERMINATING:
        assert time.monotonic() < deadline, f"job {job.id} did not finish"
        await backend.update_job_states([job])
        await asyncio.sleep(0.05)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=hostile_text, args=st.lists(hostile_text, max_size=4), in_name=file_name, out_name=file_name)
def test_hostile_strings_round_trip_and_execute_nothing(
    tmp_path: Path, name: str, args: list[str], in_name: str, out_name: str
) -> None:
    if in_name == out_name or {in_name, out_name} & {"stdout.txt", "stderr.txt"}:
        out_name = out_name + "-out"
    CANARY.unlink(missing_ok=True)
    case = tmp_path / f"case-{time.monotonic_ns()}"
    (case / "src").mkdir(parents=True)
    (case / "dl").mkdir()
    local_input = case / "src" / "input.bin"
    local_input.write_bytes(in_name.encode())

    async def scenario() -> None:
        backend = LocalBatchSystem("h", sandbox_root=str(case / "root"))
        journal = Journal(case / "journal.sqlite")
        spec = JobSpec(
            command=["/bin/sh", "-c", ECHO_ARGS, "sh", *args],
            name=name,
            inputs={str(local_input): in_name},
            outputs=[out_name],
            environment={"IN": in_name, "OUT": out_name},
        )
        job = JobRecord(id=journal.new_id(), cluster="h", spec=spec)
        journal.save(job)
        await backend.submit_job(job)
        await _wait_finished(backend, job)
        journal.save(job)
        again = journal.get(job.id)
        assert again.spec.name == name
        assert again.spec.command[4:] == args
        control = Path(job.sandbox or "", ".batchdeck")
        assert job.exitcode == 0, (
            job.reason,
            (await backend.peek_bytes(job, "stderr.txt"))[0],
            {p.name: p.read_text(errors="replace")[:100] for p in control.iterdir() if p.is_file() and p.name != "run.sh"},
        )
        stdout, _ = await backend.peek_bytes(job, "stdout.txt")
        assert stdout.split(b"\0")[:-1] == [a.encode() for a in args]
        report = await backend.get_results(job, case / "dl")
        assert report.failed == {}
        assert (case / "dl" / out_name).read_bytes() == in_name.encode()
        journal.close()

    asyncio.run(scenario())
    assert not CANARY.exists(), "a hostile string was executed"


def test_a_line_break_in_a_value_never_becomes_a_script_line(tmp_path: Path) -> None:
    """Each scheduler refuses the value, or its job script, run by bash for real, executes nothing."""
    from batchdeck.backends.errors import InvalidJobSpec
    from batchdeck.backends.schedulers.lsf import LsfBatchSystem
    from batchdeck.backends.schedulers.pbs import PbsBatchSystem
    from batchdeck.backends.schedulers.sge import SgeBatchSystem
    from batchdeck.backends.schedulers.slurm import SlurmBatchSystem

    refused = 0
    for cls in (SlurmBatchSystem, SgeBatchSystem, PbsBatchSystem, LsfBatchSystem):
        backend = cls("c")
        for field in ("queue", "stdout", "stderr", "name"):
            CANARY.unlink(missing_ok=True)
            spec = JobSpec(command=["true"], **{field: f"x\ntouch {CANARY}\n"})
            job = JobRecord(id="abcd1234", cluster="c", spec=spec)
            try:
                backend.validate_spec(spec)
                script = backend.render_script(job, str(tmp_path))
            except InvalidJobSpec:
                refused += 1
                continue
            subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=30)
            assert not CANARY.exists(), f"{cls.__name__}: a line break in {field} ran a command"
    assert refused >= 4  # every scheduler refuses at least a queue name with a line break
