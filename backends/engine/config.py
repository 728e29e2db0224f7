"""Cluster configuration: TOML, one ``[clusters.NAME]`` table per cluster.

No file at all means one built-in cluster, ``localhost`` (local processes). A bad
value is reported as one line naming the file, the cluster, the key and what was
expected; a broken cluster does not hide the good ones (the app shows its error
on its row).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..schedulers.registry import BACKENDS
from ..units import parse_memory, parse_walltime

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CLUSTER = "localhost"


def default_config_path() -> Path:
    override = os.environ.get("BATCHDECK_CONFIG")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("batchdeck", appauthor=False)) / "batchdeck.toml"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"expected a port number from 1 to 65535, got {value!r}")
    return value


def _non_negative_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return float(value)


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _bytes(value: Any) -> int:
    """A size in bytes, from an int (bytes) or a string like '64M'."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"expected a positive size, got {value!r}")
        return value
    return parse_memory(str(value)) * 1024 * 1024


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return str(value)

    return check


def _script(value: Any) -> str:
    """A prologue/epilogue: the path of a file to read, or the script text itself."""
    text = _string(value)
    if "\n" not in text:
        path = Path(os.path.expanduser(text))
        if path.is_file():
            try:
                return path.read_text()
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    return text


# key -> converter (raises ValueError with the expected form)
KEYS: dict[str, Callable[[Any], Any]] = {
    "type": _choice(*sorted(BACKENDS)),
    "transport": _choice("local", "ssh"),
    "frontend": _string,
    "port": _port,
    "username": _string,
    "architecture": _string,
    "max_cores": _positive_int,
    "max_cores_per_job": _positive_int,
    "max_memory_per_core": parse_memory,
    "max_walltime": parse_walltime,
    "auth": _string,
    "accounting_delay": _non_negative_number,
    "ssh_config": _string,
    "keyfile": _string,
    "known_hosts": _string,
    "ignore_ssh_host_keys": _bool,
    "ssh_timeout": _positive_number,
    "large_file_threshold": _bytes,
    "large_file_chunk_size": _bytes,
    "sandbox_root": _string,
    "poll_interval": _positive_number,
    "prologue": _script,
    "epilogue": _script,
}

# settings only one scheduler understands
BACKEND_KEYS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "pbs": {"flavour": _choice("pro", "torque")},
    "sge": {"parallel_environment": _string},
}


@dataclass
class ClusterConfig:
    name: str
    type: str = "local"
    transport: str = "local"
    poll_interval: float = 10.0
    settings: dict[str, Any] = field(default_factory=dict)

    def backend_kwargs(self) -> dict[str, Any]:
        """Constructor arguments for the cluster's BatchSystem."""
        kwargs = dict(self.settings)
        kwargs["transport"] = self.transport
        kwargs["poll_interval"] = self.poll_interval
        return kwargs

    @property
    def frontend(self) -> str:
        return str(self.settings.get("frontend", "localhost"))


@dataclass
class Config:
    path: Path | None
    clusters: dict[str, ClusterConfig] = field(default_factory=dict)
    # clusters whose table is broken: name -> the error, shown on the cluster's row
    broken: dict[str, ConfigError] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.clusters, *self.broken]))

    def cluster(self, name: str) -> ClusterConfig:
        if name in self.broken:
            raise self.broken[name]
        try:
            return self.clusters[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise ConfigError(f"no cluster named {name!r} (configured: {known})", path=self._where()) from None

    def _where(self) -> str | None:
        return str(self.path) if self.path else None

    def check(self) -> None:
        """Raise the first error, for commands that want a fully valid file."""
        for error in self.broken.values():
            raise error

    @property
    def default_cluster(self) -> str:
        if DEFAULT_CLUSTER in self.clusters:
            return DEFAULT_CLUSTER
        if self.clusters:
            return next(iter(self.clusters))
        raise ConfigError("no usable cluster is configured", path=self._where())


def builtin_config() -> Config:
    return Config(path=None, clusters={DEFAULT_CLUSTER: ClusterConfig(DEFAULT_CLUSTER)})


def parse_cluster(name: str, table: Any, path: str | None) -> ClusterConfig:
    if not isinstance(table, dict):
        raise ConfigError("expected a table of settings", path=path, cluster=name)
    type_name = table.get("type", "local")
    try:
        KEYS["type"](type_name)
    except ValueError as exc:
        raise ConfigError(str(exc), path=path, cluster=name, key="type") from None
    allowed = {**KEYS, **BACKEND_KEYS.get(type_name, {})}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        convert = allowed.get(key)
        if convert is None:
            expected = ", ".join(sorted(allowed))
            raise ConfigError(f"unknown key; expected one of: {expected}", path=path, cluster=name, key=key)
        try:
            values[key] = convert(raw)
        except ValueError as exc:
            raise ConfigError(str(exc), path=path, cluster=name, key=key) from None
    transport = values.pop("transport", "ssh" if "frontend" in values and values["frontend"] != "localhost" else "local")
    if transport == "ssh" and "frontend" not in values:
        raise ConfigError("transport 'ssh' needs a frontend host name", path=path, cluster=name, key="frontend")
    values.pop("type", None)
    poll = values.pop("poll_interval", 10.0)
    return ClusterConfig(name=name, type=type_name, transport=transport, poll_interval=poll, settings=values)


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
    unknown = set(data) - {"clusters"}
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(sorted(unknown))}; expected [clusters.NAME] tables",
            path=where,
        )
    clusters = data.get("clusters", {})
    if not isinstance(clusters, dict):
        raise ConfigError("expected [clusters.NAME] tables", path=where, key="clusters")
    config = Config(path=config_path)
    for name, table in clusters.items():
        try:
            config.clusters[name] = parse_cluster(name, table, where)
        except ConfigError as exc:
            config.broken[name] = exc
    if not config.clusters and not config.broken:
        return Config(path=config_path, clusters=builtin_config().clusters)
    return config
