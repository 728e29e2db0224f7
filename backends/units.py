"""Memory sizes and durations as users and schedulers write them."""

from __future__ import annotations

import re
import time

_MEM_UNITS = {
    "": 1 / (1024 * 1024),  # plain numbers in a size string are bytes
    "b": 1 / (1024 * 1024),
    "k": 1 / 1024,
    "kb": 1 / 1024,
    "kib": 1 / 1024,
    "m": 1,
    "mb": 1,
    "mib": 1,
    "g": 1024,
    "gb": 1024,
    "gib": 1024,
    "t": 1024 * 1024,
    "tb": 1024 * 1024,
    "tib": 1024 * 1024,
}
_MEM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_memory(value: str | int | float) -> int:
    """Memory in MiB from ``"500M"``, ``"4GB"``, ``"2GiB"`` or an int (already MiB).

    Raises ValueError naming the value and the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a memory size like '500M' or '4G', got {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"memory must be positive, got {value!r}")
        return int(value)
    match = _MEM_RE.match(str(value))
    if not match or match.group(2).lower() not in _MEM_UNITS:
        raise ValueError(f"expected a memory size like '500M', '4G' or '2GiB', got {value!r}")
    number = float(match.group(1))
    unit = match.group(2).lower()
    if unit == "":
        # A bare number in a string means MiB, as in SLURM's --mem.
        mib = number
    else:
        mib = number * _MEM_UNITS[unit]
    if mib <= 0:
        raise ValueError(f"memory must be positive, got {value!r}")
    return max(1, int(round(mib)))


def format_memory(mib: int | None) -> str:
    if mib is None:
        return "-"
    if mib >= 1024 and mib % 1024 == 0:
        return f"{mib // 1024}G"
    return f"{mib}M"


_DURATION_SUFFIX_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days)?\s*$", re.I)
_SUFFIX_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400, "days": 86400}
# str.isdigit() accepts "²" and other digits int() refuses; scheduler fields are ASCII.
_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")
UNLIMITED_WORDS = frozenset({"unlimited", "infinite", "infinity", "none", "n/a", "not_set", "inf", ""})


def parse_walltime(value: str | int | float) -> int:
    """Seconds from ``"1:30:00"``, ``"2-00:00:00"``, ``"90m"``, ``"2h"``, ``"45"`` (minutes, as sbatch) or an int (seconds).

    Raises ValueError naming the value and the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '1:30:00' or '2h', got {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"walltime must be positive, got {value!r}")
        return int(value)
    text = str(value).strip()
    seconds = parse_duration(text)
    if seconds is None:
        match = _DURATION_SUFFIX_RE.match(text)
        if not match:
            raise ValueError(
                f"expected a duration like '1:30:00', '2-00:00:00', '90m' or '2h', got {value!r}"
            )
        unit = (match.group(2) or "m").lower()
        seconds = int(float(match.group(1)) * _SUFFIX_SECONDS[unit])
    if seconds <= 0:
        raise ValueError(f"walltime must be positive, got {value!r}")
    return seconds


_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.I)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(value: str) -> float:
    """Seconds from an age such as ``30d``, ``12h``, ``90m``, ``2w``: the unit is required, since a bare
    number would be read as minutes by parse_walltime and as days by a user cleaning a month of jobs."""
    match = _AGE_RE.match(value)
    if not match:
        raise ValueError(f"expected an age like '30d', '12h', '90m' or '2w', got {value!r}")
    return float(match.group(1)) * _AGE_SECONDS[match.group(2).lower()]


def parse_duration(text: str) -> int | None:
    """Seconds from a scheduler's ``[D-]HH:MM:SS`` / ``MM:SS`` form; None if not of that form.

    Unlimited words (``UNLIMITED``, ``infinite``, ...) also give None.
    """
    text = text.strip()
    if text.lower() in UNLIMITED_WORDS:
        return None
    days = 0
    if "-" in text:
        day_part, _, text = text.partition("-")
        if not _ASCII_DIGITS.fullmatch(day_part):
            return None
        days = int(day_part)
        if not text:
            return days * 86400
    parts = text.split(":")
    if not parts or len(parts) > 3 or not all(_ASCII_DIGITS.fullmatch(p.strip()) for p in parts):
        if days == 0 and re.fullmatch(r"\d+(\.\d+)?", text) is None:
            return None
        if days and re.fullmatch(r"\d+", text):
            return days * 86400 + int(text) * 3600
        return None
    numbers = [int(p) for p in parts]
    if len(parts) == 1:
        if days:
            return days * 86400 + numbers[0] * 3600
        return None  # a bare number is ambiguous here; callers decide its unit
    while len(numbers) < 3:
        numbers.insert(0, 0)
    hours, minutes, seconds = numbers
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def format_walltime(seconds: int | float | None) -> str:
    """``[D-]HH:MM:SS``; '-' for None."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def format_when(epoch: float | None, now: float) -> str:
    """A moment as the local date and time and how long ago (or ahead) it is; '-' for None."""
    if epoch is None:
        return "-"
    ago = now - epoch
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
    if abs(ago) < 60:
        return f"{local} (just now)" if ago >= 0 else f"{local} (in {-ago:.0f} s)"
    span = format_walltime(abs(ago))
    return f"{local} ({span} ago)" if ago >= 0 else f"{local} (in {span})"


def format_percent(fraction: float | None) -> str:
    """An efficiency (0.93) as ``93%``; '-' for None."""
    return "-" if fraction is None else f"{fraction * 100:.0f}%"


def format_exit(exitcode: int | None, signal: int | None) -> str:
    """How a finished job's process ended: ``sig 15``, ``3``; '-' when unknown."""
    return f"sig {signal}" if signal else ("-" if exitcode is None else str(exitcode))
