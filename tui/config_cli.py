"""``batchdeck config path|init|check``: where the configuration is, a commented one, and whether it loads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ..backends.engine.config import DEFAULT_CLUSTER, default_config_path, load_config
from ..backends.engine.config_template import render_template, write_new_config
from ..backends.engine.deck import HOST_KEYS_NOT_VERIFIED, make_backend
from ..backends.errors import BatchdeckError, ConfigError
from ..backends.schedulers.base import BatchSystem
from ..backends.text import terminal_safe

PROG = "batchdeck"
INIT_HINT = f"'{PROG} config init' writes one"


class ConfigCheckFailed(BatchdeckError):
    """``config check`` found problems: each is one line (a ConfigError of the loader)."""

    def __init__(self, errors: list[BatchdeckError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def config_path(config: str | None) -> tuple[Path, str | None]:
    """The file batchdeck reads, as config.py resolves it, and what named it (None: the default)."""
    if config:
        return Path(config), "--config"
    if os.environ.get("BATCHDECK_CONFIG"):
        return default_config_path(), "$BATCHDECK_CONFIG"
    return default_config_path(), None


def run_path(config: str | None) -> int:
    path, source = config_path(config)
    named = terminal_safe(path) + (f" ({source})" if source else "")
    if path.is_file():
        note = "exists"
    elif path.exists():
        note = "exists but is not a file"
    elif source == "--config":
        note = f"does not exist ({INIT_HINT})"
    else:
        note = f"does not exist: built-in {DEFAULT_CLUSTER} only ({INIT_HINT})"
    print(f"{named}: {note}")
    return 0


def run_init(target: str | None, force: bool, config: str | None) -> int:
    read, source = config_path(config)
    path = Path(target) if target else read
    write_new_config(path, render_template(), force=force)
    print(
        f"wrote {terminal_safe(path)}: every key commented out, so only the built-in {DEFAULT_CLUSTER} "
        f"until you uncomment a cluster; '{PROG} config check' loads it"
    )
    if target and Path(os.path.abspath(path)) != Path(os.path.abspath(read)):
        how = "--config" if source == "--config" else "$BATCHDECK_CONFIG or --config"
        print(f"note: {PROG} reads {terminal_safe(read)}; give this file with {how}")
    return 0


async def _connect_all(backends: dict[str, BatchSystem]) -> dict[str, BatchdeckError | None]:
    """Connect to every cluster at once (each within its own connect timeout); the error of each, or None."""

    async def one(backend: BatchSystem) -> BatchdeckError | None:
        try:
            await backend.connect()
            return None
        except BatchdeckError as exc:
            return exc
        finally:
            await backend.close()

    results = await asyncio.gather(*(one(b) for b in backends.values()))
    return dict(zip(backends, results, strict=True))


def run_check(target: str | None, config: str | None, connect: bool = False) -> int:
    """Load the file as the app does (and make each cluster's backend); one line per cluster, then ok.
    With ``connect``, also log in to each cluster and ask its scheduler what a refresh needs.

    Raises ConfigError (the loader's one line) or ConfigCheckFailed (one line per broken table,
    or per cluster that cannot be reached).
    """
    loaded = load_config(target or config)
    errors: dict[str, BatchdeckError] = {}
    for error in [*loaded.broken_auth.values(), *loaded.broken.values()]:
        errors.setdefault(str(error), error)  # a cluster using a broken [auth] has the auth's error
    rows: list[tuple[str, ...]] = []
    backends: dict[str, BatchSystem] = {}
    for name, conf in loaded.clusters.items():
        try:
            backends[name] = make_backend(conf, loaded.path)
        except BatchdeckError as exc:
            errors.setdefault(str(exc), exc)
            continue
        host = conf.frontend if conf.transport == "ssh" else "local"
        if conf.transport == "ssh" and conf.ssh.username:
            host = f"{conf.ssh.username}@{host}"
        if conf.transport == "ssh" and conf.ssh.port:
            host = f"{host}:{conf.ssh.port}"
        note = ""
        if loaded.builtin_localhost and name == DEFAULT_CLUSTER:
            note = "built in"
        elif conf.transport == "ssh" and conf.ssh.ignore_ssh_host_keys:
            note = HOST_KEYS_NOT_VERIFIED
        rows.append((name, conf.type, host, note))
    if connect and not errors:
        reached = asyncio.run(_connect_all(backends))
        where = str(loaded.path) if loaded.path else None
        for cluster, failure in reached.items():
            if failure is not None:
                errors.setdefault(cluster, ConfigError(f"cannot connect: {failure}", path=where, cluster=cluster))
        rows = [(*row[:3], row[3] or "connected") for row in rows]
    if errors:
        raise ConfigCheckFailed(list(errors.values()))
    if not rows:
        raise ConfigError("no usable cluster is configured", path=str(loaded.path) if loaded.path else None)
    safe = [[terminal_safe(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in safe) for i in range(len(safe[0]))]
    for row in safe:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    where = terminal_safe(loaded.path) if loaded.path else f"no config file, built-in {DEFAULT_CLUSTER} only"
    print(f"ok ({where})")
    return 0
