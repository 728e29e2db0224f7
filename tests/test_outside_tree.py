"""The fault suite's watcher (tests/outside_tree.py) sees every kind of touch outside the allowed paths."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from outside_tree import CANARY_MADE, PLANTED, LocalTree, hostile_value

from fuzz import CANARY


def test_the_watcher_reports_created_changed_removed_and_canaries_only_outside_the_allowed(tmp_path: Path) -> None:
    tree = LocalTree(tmp_path, ["sandboxes", "data"])
    tree.plant()
    (tmp_path / "sandboxes").mkdir()
    before = tree.snapshot()
    assert tree.changes(before) == []
    # batchdeck's own places: anything goes
    (tmp_path / "sandboxes" / "job1").mkdir()
    (tmp_path / "sandboxes" / "job1" / "out.txt").write_text("x")
    (tmp_path / "data").mkdir()
    assert tree.changes(before) == []
    # everywhere else: each kind of touch is named
    (tmp_path / "cwd" / "stray.txt").write_text("relative write")
    (tmp_path / PLANTED[0]).write_text("changed\n")
    (tmp_path / PLANTED[2]).unlink()
    mtime = (tmp_path / PLANTED[3]).stat().st_mtime_ns
    os.utime(tmp_path / PLANTED[3], ns=(mtime + 10**9, mtime + 10**9))
    (tmp_path / "sandboxes" / "job1" / CANARY_MADE).write_text("")
    problems = tree.changes(before)
    assert "cwd/stray.txt: created" in problems
    assert f"{PLANTED[2]}: removed" in problems
    assert any(p.startswith(f"{PLANTED[0]}: changed") for p in problems)
    assert any(p.startswith(f"{PLANTED[3]}: changed") for p in problems)
    assert f"sandboxes/job1/{CANARY_MADE}: created by a hostile value" in problems  # even inside the sandbox
    assert len(problems) == 5, problems


def test_the_hostile_value_makes_the_canary_when_a_shell_runs_it(tmp_path: Path) -> None:
    # fuzz.CANARY is shared by every test: here it is redirected into this test's folder
    value = hostile_value(str(tmp_path)).replace(str(CANARY), str(tmp_path / "global-canary"))
    subprocess.run(["sh", "-c", f"x={value}"], capture_output=True, timeout=30)  # unquoted: the point
    assert (tmp_path / CANARY_MADE).exists() and (tmp_path / "global-canary").exists()
    assert not CANARY.exists()
