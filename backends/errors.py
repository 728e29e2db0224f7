"""The exceptions batchdeck raises.

Every error a user can cause or meet is a ``BatchdeckError``: the CLI and the app
print ``str(error)`` as one line and never show a traceback for them.
"""

from __future__ import annotations


class BatchdeckError(Exception):
    """Base of every error batchdeck reports to the user as one clear line."""


class ConfigError(BatchdeckError):
    """The configuration file is unreadable or has a wrong value.

    The message names the file, the cluster, the key and what was expected.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        cluster: str | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.cluster = cluster
        self.key = key
        where = []
        if path:
            where.append(str(path))
        if cluster:
            where.append(f"cluster {cluster!r}")
        if key:
            where.append(f"key {key!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ParseError(BatchdeckError):
    """A scheduler's output could not be understood.

    Parsers raise only this, so a surprise in a scheduler's output never crashes
    a refresh: the cluster shows the message and its jobs keep their last state.
    """

    def __init__(self, what: str, message: str, text: str | None = None) -> None:
        self.what = what
        self.text = text
        detail = ""
        if text is not None:
            snippet = text.strip().replace("\n", "\\n")
            if len(snippet) > 120:
                snippet = snippet[:117] + "..."
            detail = f" (got: {snippet!r})"
        super().__init__(f"cannot parse {what}: {message}{detail}")


class LimitExceeded(BatchdeckError):
    """A job asks for more than the cluster allows; raised before anything is sent."""


class InvalidJobSpec(BatchdeckError):
    """A job specification is malformed (missing command, unreadable input file, ...)."""


class InvalidStateTransition(BatchdeckError):
    """A run record was asked to move to a state it cannot reach from its current one."""


class JobNotFound(BatchdeckError):
    """No job with that batchdeck id is in the journal."""


class SchedulerError(BatchdeckError):
    """A scheduler command failed; the message carries the scheduler's own words."""

    def __init__(self, command: str, message: str, exit_status: int | None = None) -> None:
        self.command = command
        self.exit_status = exit_status
        super().__init__(f"{command}: {message.strip()}")


class AccountingUnavailable(BatchdeckError):
    """The cluster keeps no accounting, or it cannot be reached: said, never shown as "no jobs"."""


class TransportError(BatchdeckError):
    """Running a command or moving a file on the cluster's frontend failed."""


class ConnectionFailed(TransportError):
    """The frontend could not be reached, or the connection dropped."""


class AuthenticationFailed(TransportError):
    """The SSH server refused every key offered."""


class HostKeyUnknown(TransportError):
    """The SSH server's host key is not in known_hosts."""


class HostKeyChanged(TransportError):
    """The SSH server's host key differs from the one in known_hosts."""


class RemoteFileNotFound(TransportError):
    """A file or directory asked for on the frontend does not exist."""


class UnsafePath(BatchdeckError):
    """A path would reach outside the directory it must stay in."""
