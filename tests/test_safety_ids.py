"""Job id arguments match exactly or by an unambiguous prefix of 4+ characters (#17 item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.errors import JobNotFound
from batchdeck.backends.model import JobRecord, JobSpec, RunState

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def _journal(tmp_path: Path, *ids: str) -> Journal:
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    for job_id in ids:
        journal.save(JobRecord(id=job_id, cluster="localhost", spec=JobSpec(command=["true"])))
    return journal


@pytest.mark.parametrize("given", ["", " ", "%", "_", "*", "%%%%", "____", "abc%", "ab_d", "abcd*", "[a]*"])
def test_empty_and_wildcard_ids_match_nothing(tmp_path: Path, given: str) -> None:
    journal = _journal(tmp_path, "abcd1234")
    with pytest.raises(JobNotFound) as caught:
        journal.find(given)
    assert "\n" not in str(caught.value)


def test_a_prefix_needs_four_characters_and_one_match(tmp_path: Path) -> None:
    journal = _journal(tmp_path, "abcd1234", "abce5678", "zzzz0001")
    assert journal.find("abcd1234").id == "abcd1234"
    assert journal.find("abcd").id == "abcd1234"
    assert journal.find("zzzz").id == "zzzz0001"
    with pytest.raises(JobNotFound, match="too short.*zzzz0001"):
        journal.find("zzz")
    with pytest.raises(JobNotFound, match="ambiguous: it matches abcd1234, abce5678"):
        journal.find("abc")
    with pytest.raises(JobNotFound, match="no job"):
        journal.find("abcx")


def test_a_weird_exact_id_still_matches_only_itself(tmp_path: Path) -> None:
    journal = _journal(tmp_path, "a_b%", "axbx")
    assert journal.find("a_b%").id == "a_b%"
    with pytest.raises(JobNotFound):
        journal.find("a_b")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


@pytest.mark.parametrize("given", ["", "%", "_", "*"])
def test_free_and_cancel_with_an_unset_variable_or_a_wildcard_touch_nothing(
    tmp_path: Path, cli_env: dict[str, str], given: str
) -> None:
    journal = _journal(tmp_path, "only0001")
    job = journal.get("only0001")
    job.transition(RunState.TERMINATED, "done")
    journal.save(job)
    journal.close()
    for command in ("free", "cancel", "status"):
        proc = subprocess.run([*BATCHDECK, command, given], env=cli_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0, (command, proc.stdout)
        assert proc.stderr.count("\n") == 1 and "error:" in proc.stderr
        assert "freed" not in proc.stdout
    again = Journal(tmp_path / "data" / "journal.sqlite").get("only0001")
    assert again.reason != "sandbox freed"


def test_an_ambiguous_id_lists_the_candidates(tmp_path: Path, cli_env: dict[str, str]) -> None:
    _journal(tmp_path, "abcd1234", "abcd5678").close()
    proc = subprocess.run([*BATCHDECK, "status", "abcd"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "abcd1234" in proc.stderr and "abcd5678" in proc.stderr
