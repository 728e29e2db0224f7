"""The user's paths inside a job's sandbox: normalised, kept inside, away from batchdeck's own files.

Every backend checks a job's paths here before anything is sent, so a name that
would escape the sandbox, land on batchdeck's control files or collide with
another input is refused in one line instead of breaking the job later.
"""

from __future__ import annotations

import posixpath

from ..errors import InvalidJobSpec, UnsafePath
from ..model import JobSpec

#: batchdeck's own files inside a sandbox (job script, runner, exit status); never a user path
CONTROL_DIR = ".batchdeck"
#: the prefix of batchdeck's temporary file names (never downloaded)
TEMP_PREFIX = ".bd-"


def safe_relative_path(name: str, what: str = "path") -> str:
    """A sandbox-relative path that cannot escape the sandbox, normalised."""
    if not name or "\x00" in name:
        raise InvalidJobSpec(f"{what} {name!r} is empty or contains a NUL byte")
    norm = posixpath.normpath(name)
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        raise UnsafePath(f"{what} {name!r} must stay inside the job's sandbox")
    return norm


def user_path(name: str, what: str) -> str:
    """A path the user names in the sandbox: safe, and not one of batchdeck's own."""
    norm = safe_relative_path(name)
    if norm == ".":
        raise InvalidJobSpec(f"{what} {name!r} names the sandbox itself, not a file in it")
    parts = norm.split("/")
    if parts[0] == CONTROL_DIR:
        raise UnsafePath(f"{what} {name!r} is inside {CONTROL_DIR}/, which is reserved for batchdeck's control files")
    if any(part.startswith(TEMP_PREFIX) for part in parts):
        raise InvalidJobSpec(f"{what} {name!r}: names starting with {TEMP_PREFIX!r} are reserved for batchdeck's temporary files")
    return norm


def check_user_paths(spec: JobSpec) -> None:
    """Refuse, before anything is sent, every path of a job that could break it or another file."""
    user_path(spec.stdout, "stdout file")
    user_path(spec.stderr, "stderr file")
    for name in spec.outputs:
        user_path(name, "output file")
    seen: dict[str, str] = {}
    for local, remote in spec.inputs.items():
        norm = user_path(remote, "input name")
        if norm in seen:
            raise InvalidJobSpec(
                f"two inputs would both be copied to {norm!r} in the sandbox ({seen[norm]!r} and {local!r}): "
                "rename one"
            )
        seen[norm] = local


def output_folders(spec: JobSpec) -> list[str]:
    """Sandbox folders stdout and stderr go into: they must exist before the scheduler opens the files."""
    names = (safe_relative_path(spec.stdout), safe_relative_path(spec.stderr))
    return sorted({posixpath.dirname(n) for n in names} - {""})
