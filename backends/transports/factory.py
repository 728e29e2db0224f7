"""Building a cluster's transport from its configuration."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Transport


def make_transport(kind: str, **settings: Any) -> Transport:
    """``kind`` is a cluster's ``transport`` setting: ``local`` or ``ssh``."""
    if kind == "local":
        from .local import LocalTransport

        return LocalTransport(timeout=settings.get("ssh_timeout"))
    if kind == "ssh":
        # Imported here so that local-only use never needs asyncssh loaded.
        from .ssh import SshTransport

        return SshTransport(
            host=settings.get("frontend") or "localhost",
            port=settings.get("port"),
            username=settings.get("username"),
            ssh_config=settings.get("ssh_config"),
            keyfile=settings.get("keyfile"),
            known_hosts=settings.get("known_hosts"),
            ignore_host_keys=bool(settings.get("ignore_ssh_host_keys")),
            timeout=settings.get("ssh_timeout"),
            large_file_threshold=settings.get("large_file_threshold"),
            large_file_chunk_size=settings.get("large_file_chunk_size"),
        )
    raise ConfigError(f"unknown transport {kind!r}; expected 'local' or 'ssh'", key="transport")
