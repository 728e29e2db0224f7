"""How well a finished job used what it asked for, computed as SLURM's ``seff`` does.

Fractions (0.93 means 93 %); None whenever an input is unknown or zero, never a guess.
"""

from __future__ import annotations


def cpu_efficiency(cpu_seconds: float | None, elapsed: float | None, cores: int | None) -> float | None:
    """Total CPU time over what the allocation could have used: elapsed × allocated cores."""
    if cpu_seconds is None or not elapsed or not cores or elapsed <= 0 or cores <= 0:
        return None
    return round(cpu_seconds / (elapsed * cores), 4)


def memory_efficiency(used_mib: float | None, requested_mib: float | None) -> float | None:
    """The highest resident memory of the job over what it requested (for the whole job)."""
    if used_mib is None or not requested_mib or requested_mib <= 0:
        return None
    return round(used_mib / requested_mib, 4)
