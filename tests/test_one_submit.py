"""One submit validates the job once and connects once, by the same path as ``submit --dry-run`` (#10 item 1:
"each submit validates the job three times and connects twice").

Counted on the real local backend: the methods are wrapped, not replaced, so the job really runs.
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchdeck.backends.engine.config import Config, parse_cluster
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.errors import InvalidJobSpec
from batchdeck.backends.model import JobSpec, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.transports.local import LocalTransport
from batchdeck.tui import cli

from helpers import eventually

COUNTED = (
    (BatchSystem, "validate_spec"),
    (BatchSystem, "validate_submission"),
    (BatchSystem, "connect"),
    (LocalTransport, "connect"),
    (BatchSystem, "submit_job"),
)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()
    for owner, name in COUNTED:
        original = getattr(owner, name)
        key = f"{owner.__name__}.{name}"

        def wrap(original: Any, key: str) -> Any:
            if not inspect.iscoroutinefunction(original):

                @functools.wraps(original)
                def counted(*args: Any, **kwargs: Any) -> Any:
                    seen[key] += 1
                    return original(*args, **kwargs)

                return counted

            @functools.wraps(original)
            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                seen[key] += 1
                return await original(*args, **kwargs)

            return counted_async

        monkeypatch.setattr(owner, name, wrap(original, key))
    yield seen


def local_deck(tmp_path: Path) -> Deck:
    conf = parse_cluster("c", {"type": "local", "sandbox_root": str(tmp_path / "sandboxes")}, None)
    return Deck(Config(path=None, clusters={"c": conf}), Journal(tmp_path / "journal.sqlite"))


ONCE = {
    "BatchSystem.validate_spec": 1,
    "BatchSystem.validate_submission": 1,
    "BatchSystem.connect": 1,
    "LocalTransport.connect": 1,
}


async def test_one_real_submit_validates_once_and_connects_once(tmp_path: Path, calls: Counter[str]) -> None:
    deck = local_deck(tmp_path)
    try:
        job = await deck.submit("c", JobSpec(command=["sh", "-c", "echo counted"], name="count"))
        assert {k: v for k, v in calls.items() if k != "BatchSystem.submit_job"} == ONCE
        assert calls["BatchSystem.submit_job"] == 1

        async def done() -> bool:
            await deck.poll(job.cluster)
            return deck.job(job.id).state == RunState.TERMINATING

        await eventually(done, what="the counted job to end")
        assert (Path(job.sandbox or "") / "stdout.txt").read_text() == "counted\n"
    finally:
        await deck.close()


async def test_dry_run_takes_the_same_one_validation_and_connection(tmp_path: Path, calls: Counter[str]) -> None:
    deck = local_deck(tmp_path)
    try:
        script = await deck.job_script("c", JobSpec(command=["sh", "-c", "echo dry"], name="dry"))
        assert "echo dry" in script
        assert dict(calls) == ONCE  # and no submit
        assert deck.jobs() == []
    finally:
        await deck.close()


async def test_dry_run_and_submit_refuse_a_wrong_job_alike_before_connecting(tmp_path: Path, calls: Counter[str]) -> None:
    deck = local_deck(tmp_path)
    wrong = JobSpec(command=["true"], environment={"1BAD": "x"})
    try:
        with pytest.raises(InvalidJobSpec) as dry:
            await deck.job_script("c", wrong)
        with pytest.raises(InvalidJobSpec) as real:
            await deck.submit("c", wrong)
        assert str(dry.value) == str(real.value)
        assert calls["BatchSystem.connect"] == 0 and calls["LocalTransport.connect"] == 0
        assert deck.jobs() == []
    finally:
        await deck.close()


@pytest.mark.parametrize("dry", [False, True])
def test_the_cli_submit_validates_once_and_connects_once(
    tmp_path: Path, calls: Counter[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dry: bool
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    monkeypatch.setenv("BATCHDECK_DATA_DIR", str(tmp_path / "data"))
    argv = ["--config", str(config), "submit", *(["--dry-run"] if dry else []), "--", "echo", "cli"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert {k: v for k, v in calls.items() if k != "BatchSystem.submit_job"} == ONCE
    assert calls["BatchSystem.submit_job"] == (0 if dry else 1)
