"""Cluster configuration: TOML, one ``[clusters.NAME]`` table per cluster.

Each table is validated into a typed ``ClusterSettings`` (settings.py). An
``[auth.NAME]`` table (GC3Pie's ``[auth/NAME]``) holds SSH keys that every
cluster with ``auth = "NAME"`` takes; the cluster's own keys win. The built-in
``localhost`` cluster (local processes) is there unless the file configures a
cluster of that name or disables it (``[clusters.localhost] enabled = false``).
A ``[keys]`` table remaps the app's keys (keys.py); a bad entry there refuses
the whole file, since the app cannot leave part of its keys unusable.
A bad value is reported as one line naming the file, the cluster, the key and
what was expected; a broken cluster does not hide the good ones (the app shows
its error on its row).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .keys import parse_keymap
from .settings import ClusterSettings, auth_keys, build_cluster
from .templates import JobTemplate, parse_templates

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CLUSTER = "localhost"
#: GC3Pie's auth types batchdeck knows: SSH keys, or nothing (local clusters)
AUTH_TYPES = ("ssh", "none")
#: the top-level tables a configuration file may have (config_template.py writes each of them)
TABLES = ("clusters", "auth", "keys", "templates")


def default_config_path() -> Path:
    override = os.environ.get("BATCHDECK_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("batchdeck", appauthor=False)) / "batchdeck.toml"


@dataclass
class Config:
    path: Path | None
    clusters: dict[str, ClusterSettings] = field(default_factory=dict)
    # clusters whose table is broken: name -> the error, shown on the cluster's row
    broken: dict[str, ConfigError] = field(default_factory=dict)
    # [auth.NAME] tables that are broken; a cluster using one is broken with its error
    broken_auth: dict[str, ConfigError] = field(default_factory=dict)
    #: the built-in ``localhost`` was added (the file neither configures nor disables it)
    builtin_localhost: bool = False
    #: the [keys] table, checked: action id -> keys, as Textual's ``App.set_keymap`` takes it
    keys: dict[str, str] = field(default_factory=dict)
    #: the [templates.NAME] tables, checked: named job presets for ``submit --template``
    templates: dict[str, JobTemplate] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.clusters, *self.broken]))

    def cluster(self, name: str) -> ClusterSettings:
        if name in self.broken:
            raise self.broken[name]
        try:
            return self.clusters[name]
        except KeyError:
            builtin = self.builtin_localhost and DEFAULT_CLUSTER in self.clusters
            known = ", ".join(n for n in self.names if not (builtin and n == DEFAULT_CLUSTER)) or "none"
            also = f"; {DEFAULT_CLUSTER!r} is built in" if builtin else ""
            raise ConfigError(f"no cluster named {name!r} (configured: {known}){also}", path=self._where()) from None

    def _where(self) -> str | None:
        return str(self.path) if self.path else None

    def check(self) -> None:
        """Raise the first error, for commands that want a fully valid file."""
        for error in [*self.broken_auth.values(), *self.broken.values()]:
            raise error

    @property
    def default_cluster(self) -> str:
        """The file's ``localhost``, else the file's first cluster, else the built-in ``localhost``."""
        configured = [n for n in self.clusters if not (self.builtin_localhost and n == DEFAULT_CLUSTER)]
        if DEFAULT_CLUSTER in configured:
            return DEFAULT_CLUSTER
        if configured:
            return configured[0]
        if DEFAULT_CLUSTER in self.clusters:
            return DEFAULT_CLUSTER
        raise ConfigError("no usable cluster is configured", path=self._where())


def builtin_cluster() -> ClusterSettings:
    return ClusterSettings(DEFAULT_CLUSTER)


def builtin_config() -> Config:
    return Config(path=None, clusters={DEFAULT_CLUSTER: builtin_cluster()}, builtin_localhost=True)


def parse_cluster(
    name: str, table: Any, path: str | None, auths: Mapping[str, Mapping[str, Any]] | None = None
) -> ClusterSettings:
    """One ``[clusters.NAME]`` table; ``auth = "NAME"`` takes the keys of ``[auth.NAME]`` first."""
    return build_cluster(name, table, path=path, auths=auths or {})


def parse_auth(name: str, table: Any, path: str | None) -> dict[str, Any]:
    """One ``[auth.NAME]`` table (GC3Pie's ``[auth/NAME]``): its type and SSH keys, checked."""
    where = f"auth.{name}"
    if not isinstance(table, dict):
        raise ConfigError("expected a table of settings", path=path, key=where)
    kind = table.get("type")
    if kind not in AUTH_TYPES:
        raise ConfigError(
            f"expected one of {', '.join(repr(t) for t in AUTH_TYPES)}, got {kind!r}", path=path, key=f"{where}.type"
        )
    allowed = auth_keys() if kind == "ssh" else {}
    values: dict[str, Any] = {}
    for key_name, raw in table.items():
        if key_name == "type":
            continue
        f = allowed.get(key_name)
        if f is None:
            expected = ", ".join(["type", *sorted(allowed)])
            raise ConfigError(f"unknown key; expected one of: {expected}", path=path, key=f"{where}.{key_name}")
        try:
            f.metadata["convert"](raw)
        except ValueError as exc:
            raise ConfigError(str(exc), path=path, key=f"{where}.{key_name}") from None
        values[key_name] = raw
    return values


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the configuration; no file at the default place gives the built-in ``localhost``."""
    explicit = path is not None or "BATCHDECK_CONFIG" in os.environ
    config_path = Path(path) if path is not None else default_config_path()
    if not config_path.exists():
        if explicit and path is not None:
            raise ConfigError("file does not exist", path=str(config_path))
        return builtin_config()
    where = str(config_path)
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", path=where) from None
    unknown = set(data) - set(TABLES)
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(sorted(unknown))}; expected [clusters.NAME] tables "
            "(and [auth.NAME], [keys], [templates.NAME])",
            path=where,
        )
    keys = parse_keymap(data.get("keys", {}), where)
    clusters = data.get("clusters", {})
    if not isinstance(clusters, dict):
        raise ConfigError("expected [clusters.NAME] tables", path=where, key="clusters")
    auth_tables = data.get("auth", {})
    if not isinstance(auth_tables, dict):
        raise ConfigError("expected [auth.NAME] tables", path=where, key="auth")
    config = Config(path=config_path, keys=keys)
    auths: dict[str, dict[str, Any]] = {}
    for name, table in auth_tables.items():
        try:
            auths[name] = parse_auth(name, table, where)
        except ConfigError as exc:
            config.broken_auth[name] = exc
    for name, table in clusters.items():
        try:
            used = table.get("auth") if isinstance(table, dict) else None
            if isinstance(used, str) and used in config.broken_auth:
                raise config.broken_auth[used]
            settings = parse_cluster(name, table, where, auths)
        except ConfigError as exc:
            config.broken[name] = exc
            continue
        if settings.enabled:
            config.clusters[name] = settings
    if DEFAULT_CLUSTER not in clusters:
        config.clusters[DEFAULT_CLUSTER] = builtin_cluster()
        config.builtin_localhost = True
    # a template may name a cluster whose table is broken: that cluster's own error says why
    config.templates = parse_templates(data.get("templates", {}), where, config.names)
    return config
