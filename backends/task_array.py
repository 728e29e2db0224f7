"""Job-array task ranges as users write them: ``1-100%10``, ``1,3,5``, ``1-9:2`` (SLURM's ``--array``).

One pure reader (``parse_task_array``) for the CLI, the form and the scripts' directives; each
scheduler turns the result into its own option (SLURM ``--array``, Grid Engine ``-t`` / ``-tc``,
PBS Pro ``-J``, TORQUE ``-t``, LSF ``NAME[...]%N``) and refuses in one line what it cannot take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: more tasks than any scheduler's default array limit allows (SLURM MaxArraySize 1001, Grid Engine
#: max_aj_tasks 75000, LSF MAX_JOB_ARRAY_SIZE 1000): a typo, not a job
MAX_TASKS = 1_000_000

_RUN = re.compile(r"(\d{1,9})(?:-(\d{1,9})(?::(\d{1,9}))?)?")


@dataclass(frozen=True)
class TaskArray:
    """Task ids as runs ``(first, last, step)``, and how many may run at once (None: no limit)."""

    runs: tuple[tuple[int, int, int], ...]
    throttle: int | None = None

    def tasks(self) -> list[int]:
        """Every task id, ascending, each once."""
        return sorted({i for first, last, step in self.runs for i in range(first, last + 1, step)})

    def ranges(self) -> str:
        """The task ids without the throttle, in SLURM's (and LSF's) syntax: ``1-9:2,15``."""
        parts = []
        for first, last, step in self.runs:
            if first == last:
                parts.append(str(first))
            else:
                parts.append(f"{first}-{last}" + (f":{step}" if step != 1 else ""))
        return ",".join(parts)

    def text(self) -> str:
        """SLURM's ``--array`` value, which is also how batchdeck stores and shows it."""
        return self.ranges() + (f"%{self.throttle}" if self.throttle is not None else "")

    def single_run(self) -> tuple[int, int, int] | None:
        """The one run ``(first, last, step)`` when the ids are a single range (Grid Engine, PBS Pro)."""
        return self.runs[0] if len(self.runs) == 1 else None

    def listed(self) -> str:
        """The ids as ranges without steps (TORQUE's ``-t`` has none): ``1-9:2`` -> ``1,3,5,7,9``."""
        parts = []
        for first, last, step in self.runs:
            if step == 1 and first != last:
                parts.append(f"{first}-{last}")
            else:
                parts.extend(str(i) for i in range(first, last + 1, step))
        return ",".join(parts)


def parse_task_array(text: str) -> TaskArray:
    """The task array ``text`` names; ValueError naming what is wrong, in one line."""
    raw = text.strip()
    if not raw:
        raise ValueError("expected task ids like 1-100, 1,3,5 or 1-9:2 (optionally %N to run at most N at once)")
    body, percent, limit = raw.partition("%")
    throttle: int | None = None
    if percent:
        if not limit.isdecimal() or int(limit) < 1:
            raise ValueError(f"after % comes how many tasks may run at once (a whole number >= 1), got {raw!r}")
        throttle = int(limit)
    runs: list[tuple[int, int, int]] = []
    for part in body.split(","):
        match = _RUN.fullmatch(part.strip())
        if not match:
            raise ValueError(f"{part.strip()!r} in {raw!r} is not a task id, FIRST-LAST or FIRST-LAST:STEP")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3)) if match.group(3) is not None else 1
        if last < first:
            raise ValueError(f"{part.strip()!r} in {raw!r}: the last task id is below the first")
        if step < 1:
            raise ValueError(f"{part.strip()!r} in {raw!r}: the step must be at least 1")
        last = last if step == 1 else last - (last - first) % step
        runs.append((first, last, step if last > first else 1))
    array = TaskArray(tuple(runs), throttle)
    count = sum((last - first) // step + 1 for first, last, step in runs)
    if count > MAX_TASKS:
        raise ValueError(f"{raw!r} names {count} tasks; at most {MAX_TASKS} are allowed")
    return array


def normalize_task_array(text: str) -> str:
    """``text`` checked and written the one way batchdeck stores it (``parse_task_array(...).text()``)."""
    return parse_task_array(text).text()
