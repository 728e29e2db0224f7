"""Building a cluster's transport from its settings."""

from __future__ import annotations

from typing import Any

from ..engine.settings import SshSettings, build_ssh
from ..errors import ConfigError
from .base import Transport


def make_transport(kind: str, ssh: SshSettings | None = None, **keys: Any) -> Transport:
    """``kind`` is a cluster's ``transport`` setting: ``local`` or ``ssh``.

    ``ssh`` is the cluster's SSH section; scripts and tests may give its keys
    instead (``frontend=…, port=…, ssh_timeout=…``), checked by the same converters.
    """
    if ssh is None:
        ssh = build_ssh(keys)
    elif keys:
        raise TypeError("give either an SshSettings or its keys, not both")
    if kind == "local":
        from .local import LocalTransport

        # A local command (a hung sbatch, say) is bounded as a remote one is.
        return LocalTransport(timeout=ssh.command_limit)
    if kind == "ssh":
        # Imported here so that local-only use never needs asyncssh loaded.
        from .ssh import SshTransport

        return SshTransport(ssh)
    raise ConfigError(f"unknown transport {kind!r}; expected 'local' or 'ssh'", key="transport")
