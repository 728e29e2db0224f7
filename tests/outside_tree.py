"""What the fault suite watches outside the paths batchdeck may write (#17 item 10).

A test plants canary files in a watched tree, snapshots every name (type, size, mtime) under it
before and after its kill loop, and asserts that nothing outside the job's sandbox, batchdeck's data
folder and the get destination was created, changed or removed, and that no file named
``CANARY_MADE`` appeared anywhere (the loops submit values that would create it if a shell ever read
them unquoted). ``LocalTree`` watches a folder of this machine; ``RemoteTree`` the home folder of an
SSH cluster's user, read through ssh itself, as a user of that cluster would see it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from fuzz import CANARY

#: a file no run may create: the loops' hostile values would make it if they were ever executed
CANARY_MADE = "bd-canary-made"
#: planted before the loop, next to where batchdeck writes; they must stay exactly as they were
PLANTED = ("canary-top", "cwd/canary-cwd", "neighbour/canary-neighbour", "neighbour/deep/canary-deep")

#: relative path -> (type letter, size, mtime in ns); a folder's size and mtime are not compared
#: (what batchdeck may create inside an allowed folder changes its parent's mtime)
Snapshot = dict[str, tuple[str, int, int]]


def hostile_value(root: str) -> str:
    """An ``--env`` value that creates ``CANARY_MADE`` in ``root`` (and ``fuzz.CANARY``) if run by a shell."""
    return f"$(touch {root}/{CANARY_MADE})`touch {CANARY}`;touch {root}/{CANARY_MADE}"


def _inside(path: str, allowed: Iterable[str]) -> bool:
    return any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)


class Tree:
    """A watched folder: ``plant`` its canaries, ``snapshot`` it, ``changes`` since a snapshot."""

    def __init__(self, allowed: Iterable[str]) -> None:
        #: paths relative to the tree that batchdeck may write in (sandbox root, data folder, destinations)
        self.allowed = [a.strip("/") for a in allowed]

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def plant(self) -> None:
        raise NotImplementedError

    def unplant(self) -> None:
        raise NotImplementedError

    def changes(self, before: Snapshot) -> list[str]:
        """Every name outside the allowed paths created, changed or removed, and every ``CANARY_MADE``."""
        after = self.snapshot()
        problems = [f"{path}: created by a hostile value" for path in after if CANARY_MADE in path]
        if CANARY.exists():
            problems.append(f"{CANARY}: created by a hostile value")
        for path in sorted(before.keys() | after.keys()):
            if _inside(path, self.allowed):
                continue
            old, new = before.get(path), after.get(path)
            if old is None:
                problems.append(f"{path}: created")
            elif new is None:
                problems.append(f"{path}: removed")
            elif old[0] != new[0] or (old[0] != "d" and old != new):
                problems.append(f"{path}: changed {old} -> {new}")
        missing = [p for p in PLANTED if p not in after]
        problems += [f"{p}: planted canary gone" for p in missing if f"{p}: removed" not in problems]
        return problems


class LocalTree(Tree):
    """A folder of this machine (a test's tmp_path: the CLI's working folder is inside it)."""

    def __init__(self, root: Path, allowed: Iterable[str]) -> None:
        super().__init__(allowed)
        self.root = root

    def plant(self) -> None:
        for number, relative in enumerate(PLANTED):
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"planted canary {number}\n")
        CANARY.unlink(missing_ok=True)

    def unplant(self) -> None:
        pass  # a test's tmp_path goes with the test

    def snapshot(self) -> Snapshot:
        found: Snapshot = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                kind = "l" if path.is_symlink() else "d" if path.is_dir() else "f"
                found[str(path.relative_to(self.root))] = (kind, st.st_size, st.st_mtime_ns)
        return found


class RemoteTree(Tree):
    """The home folder of an SSH cluster's user, listed and planted through ssh (GNU find)."""

    def __init__(self, ssh: dict[str, str], allowed: Iterable[str], port: int | None = None) -> None:
        super().__init__(allowed)
        self.argv = [
            "ssh", "-i", ssh["SSHD_KEY"], "-p", str(port or ssh["SSHD_PORT"]),
            "-o", f"UserKnownHostsFile={ssh['SSHD_KNOWN_HOSTS']}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
            f"{ssh['SSHD_USER']}@{ssh['SSHD_HOST']}", "--",
        ]  # fmt: skip

    def _run(self, command: str) -> str:
        proc = subprocess.run([*self.argv, command], capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc.stdout.decode(errors="surrogateescape")

    def plant(self) -> None:
        lines = [
            f'mkdir -p "$HOME/$(dirname {relative})" && echo "planted canary {number}" > "$HOME/{relative}"'
            for number, relative in enumerate(PLANTED)
        ]
        self._run(" && ".join(lines))
        CANARY.unlink(missing_ok=True)

    def unplant(self) -> None:
        # the cluster user's home is shared by every test: leave it as it was
        self._run('cd && rm -f -- ' + " ".join(PLANTED) + ' && rmdir -- neighbour/deep neighbour cwd 2>/dev/null; true')

    def snapshot(self) -> Snapshot:
        found: Snapshot = {}
        listing = self._run(r"cd && find . -mindepth 1 -printf '%y %s %T@ %P\0'")
        for entry in listing.split("\0"):
            if not entry:
                continue
            kind, size, mtime, path = entry.split(" ", 3)
            found[path] = (kind, int(size), int(float(mtime) * 1e9))
        return found
