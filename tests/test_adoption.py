"""A job whose scheduler name carries a batchdeck tag this journal does not know (submitted from another
machine, or before the journal was lost) is adopted by the next poll: a full record, peek, get and free."""

from __future__ import annotations

import subprocess
from pathlib import Path

from batchdeck.backends.engine.config import Config, parse_cluster
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.model import RunState

from helpers import eventually


async def test_a_job_with_an_unknown_tag_becomes_a_full_record(slurm_cluster: None, tmp_path: Path) -> None:
    root = tmp_path / "sandboxes"
    tag = "zq7adopt"
    sandbox = root / tag
    sandbox.mkdir(parents=True)
    (tmp_path / "gate").mkdir()
    jobid = subprocess.run(
        ["sbatch", "--parsable", f"--job-name=bd-{tag}-from-laptop", f"--chdir={sandbox}",
         f"--output={sandbox}/stdout.txt", "--wrap", f"echo hello; while [ ! -e {tmp_path}/gate/go ]; do sleep 0.2; done"],  # fmt: skip
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    config = Config(path=None, clusters={"slurm": parse_cluster("slurm", {"type": "slurm", "sandbox_root": str(root)}, None)})
    deck = Deck(config, Journal(tmp_path / "journal.sqlite"))
    try:
        async def adopted() -> bool:
            await deck.poll("slurm")
            try:
                return deck.job(tag).state == RunState.RUNNING
            except Exception:  # noqa: BLE001 - not adopted yet
                return False

        await eventually(adopted, timeout=60, what="the tagged job to be adopted and running")
        job = deck.job(tag)
        assert (job.jobid, job.name, job.sandbox) == (jobid, "from-laptop", str(sandbox))
        await eventually(lambda: (sandbox / "stdout.txt").exists(), timeout=30, what="the job's output file")
        data, _size = await deck.peek(tag)
        assert data == b"hello\n"
        (tmp_path / "gate" / "go").touch()

        async def finished() -> bool:
            await deck.poll("slurm")
            return deck.job(tag).state == RunState.TERMINATING

        await eventually(finished, timeout=90, what="the adopted job to finish")
        report = await deck.get_results(tag, tmp_path / "fetched")
        assert "stdout.txt" in report.copied and (tmp_path / "fetched" / "stdout.txt").read_text() == "hello\n"
        await deck.free(tag)
        assert not sandbox.exists()
        # a forgotten, finished job is not adopted again
        deck.journal.forget([tag])
        await deck.poll("slurm")
        assert not [j for j in deck.jobs("slurm") if j.id == tag]
    finally:
        subprocess.run(["scancel", jobid], capture_output=True)
        await deck.close()
