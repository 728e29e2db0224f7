"""The I/O interface every backend uses: commands and files on a cluster's frontend.

A backend never touches the filesystem or spawns a process itself; it asks its
transport, so the same backend works on this machine (``LocalTransport``) and on a
remote frontend (``SshTransport``) unchanged.
"""

from __future__ import annotations

import abc
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import SchedulerError

# (remote path, bytes done for that file, that file's size)
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class CommandResult:
    argv: list[str]
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self, what: str | None = None) -> CommandResult:
        """Return self, or raise SchedulerError with the command's own words."""
        if self.exit_status != 0:
            message = self.stderr.strip() or self.stdout.strip() or f"exit status {self.exit_status}"
            raise SchedulerError(what or self.argv[0], message, self.exit_status)
        return self


@dataclass
class FileStat:
    path: str  # absolute for stat(); relative to the listed directory for list_tree()
    size: int
    mtime: float
    is_dir: bool = False


def command_line(argv: Sequence[str]) -> str:
    """The one way an argv list becomes a shell command line: every word quoted."""
    return " ".join(shlex.quote(str(word)) for word in argv)


class Transport(abc.ABC):
    """Commands and files on one frontend. All methods are coroutines.

    Paths are absolute or relative to the login directory. Failures raise
    ``TransportError`` subclasses (``RemoteFileNotFound`` for a missing file,
    ``ConnectionFailed`` when the frontend cannot be reached).
    """

    #: shown in messages: "localhost", "user@host:port"
    name: str = "transport"

    async def connect(self) -> None:  # noqa: B027 - optional for transports that need no setup
        """Open the connection (idempotent)."""

    async def close(self) -> None:  # noqa: B027
        """Close the connection (idempotent)."""

    @abc.abstractmethod
    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        """Run argv (no shell unless argv asks for one) and return its status and output."""

    @abc.abstractmethod
    async def home(self) -> str:
        """The login user's home directory on the frontend."""

    @abc.abstractmethod
    async def makedirs(self, path: str) -> None:
        """mkdir -p."""

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Create or replace a file atomically (temporary name, then rename)."""

    @abc.abstractmethod
    async def put_files(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Copy local files (or directory trees) to remote paths; parent directories are created."""

    @abc.abstractmethod
    async def get_files(
        self, pairs: Sequence[tuple[str, str]], progress: ProgressCallback | None = None
    ) -> dict[str, str]:
        """Copy remote files to local paths.

        Each file is written under a temporary name in its destination directory
        and renamed when complete, keeping the remote mtime, so an interrupted
        transfer never leaves a partial file under the final name. Returns
        ``{remote path: error message}`` for the files that failed; raises
        ``ConnectionFailed`` if the connection itself is lost.
        """

    @abc.abstractmethod
    async def stat(self, path: str) -> FileStat | None:
        """The file's size and mtime, or None if it does not exist."""

    @abc.abstractmethod
    async def list_tree(self, path: str) -> list[FileStat]:
        """Every regular file below path (recursively), paths relative to it, in one call."""

    @abc.abstractmethod
    async def read_range(
        self, path: str, offset: int = 0, size: int | None = None, *, inside: str | None = None
    ) -> tuple[bytes, int]:
        """Bytes of a file and its size at the time of reading.

        ``offset`` < 0 counts from the end; ``size`` None reads to the end.
        Never reads more of the file than asked. With ``inside`` (a directory),
        raises ``UnsafePath`` unless the file actually opened, links resolved,
        lies below it: the check is made on the open file, so swapping a link
        between the check and the read cannot escape it.
        """

    @abc.abstractmethod
    async def remove_tree(self, path: str) -> None:
        """rm -rf path (no error if it does not exist)."""
