"""Typed cluster settings: one frozen dataclass per section, each field one key.

A cluster's TOML table is flat, as GC3Pie's resource sections are; the settings
object groups its keys into sections (limits, SSH, the scheduler's own). Every
key is a dataclass field whose metadata holds its converter (raising ValueError
with the expected form) and a one-line doc, so the loader, the keyword form of
``BatchSystem(name, **keys)`` and the README's key table all read the same
declaration. A scheduler's own keys are declared beside its class, as the
``settings_class`` it names (e.g. ``SgeSettings`` in ``schedulers/sge.py``).

This module imports nothing of ``schedulers`` at load time: the scheduler
modules import it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..units import parse_memory, parse_walltime

Converter = Callable[[Any], Any]

#: SSH limits when neither the specific key nor GC3Pie's ``ssh_timeout`` is set:
#: a hung sshd or a stuck command never blocks for minutes
DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_COMMAND_TIMEOUT = 120.0
DEFAULT_SANDBOX_ROOT = "~/.batchdeck/jobs"
DEFAULT_ACCOUNTING_DELAY = 15.0


def key(
    default: Any,
    convert: Converter,
    doc: str,
    *,
    shown: str | None = None,
    auth: bool = False,
    example: Any = None,
) -> Any:
    """A settings field: its default, its converter and its one-line doc.

    ``shown`` is the default as the README's table shows it, when the value
    itself does not say it (e.g. ``None`` meaning "ssh_config's, else 22").
    ``auth`` marks the SSH keys an ``[auth.NAME]`` table may hold.
    ``example`` is the TOML value ``batchdeck config init`` writes for the key
    (commented out); without one it writes the default.
    """
    return field(
        default=default,
        metadata={"convert": convert, "doc": doc, "shown": shown, "auth": auth, "example": example},
    )


def section(factory: Callable[[], Any], doc: str) -> Any:
    """A field holding a group of keys (flat in the TOML table)."""
    return field(default_factory=factory, metadata={"section": True, "doc": doc})


# ---------------------------------------------------------------------- converters


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return value


def port_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"expected a port number from 1 to 65535, got {value!r}")
    return value


def non_negative_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def positive_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return float(value)


def non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def size_in_bytes(value: Any) -> int:
    """A size in bytes, from an int (bytes) or a string like '64M'."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"expected a positive size, got {value!r}")
        return value
    return parse_memory(str(value)) * 1024 * 1024


def one_of(*choices: str) -> Converter:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return str(value)

    return check


def script(value: Any) -> str:
    """A prologue/epilogue: the path of a file to read, or the script text itself."""
    text = non_empty_string(value)
    if "\n" not in text:
        path = Path(os.path.expanduser(text))
        if path.is_file():
            try:
                return path.read_text()
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    return text


def sandbox_root(value: Any) -> str:
    """Absolute or ``~/…``: a relative root would depend on the directory each command starts in."""
    text = non_empty_string(value)
    if "\x00" in text or not (text.startswith("/") or text == "~" or text.startswith("~/")):
        raise ValueError(f"expected an absolute path or one starting with '~/', got {text!r}")
    return text


#: GC3Pie's architecture names and their synonyms (``gc3libs.Run.Arch``), plus ARM and POWER
ARCHITECTURES: dict[str, str] = {
    **dict.fromkeys(("x86_64", "x86-64", "amd64", "x64", "em64t"), "x86_64"),
    **dict.fromkeys(("i686", "i586", "i486", "i386", "x86", "x86_32", "ia32"), "i686"),
    **dict.fromkeys(("aarch64", "arm64"), "aarch64"),
    **dict.fromkeys(("ppc64le",), "ppc64le"),
}


def normalize_architecture(value: Any) -> str:
    """One architecture name in GC3Pie's canonical form (``amd64`` → ``x86_64``)."""
    name = str(value).strip().lower() if isinstance(value, str) else ""
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(set(ARCHITECTURES.values())))
        raise ValueError(f"expected an architecture ({known} or a synonym), got {value!r}")
    return ARCHITECTURES[name]


def architectures(value: Any) -> tuple[str, ...]:
    """GC3Pie's form: one name or a comma-separated list; TOML may also give an array."""
    items = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else [value]
    names = tuple(dict.fromkeys(normalize_architecture(item) for item in items))
    if not names:
        raise ValueError(f"expected an architecture such as 'x86_64', got {value!r}")
    return names


def cluster_type(value: Any) -> str:
    from ..schedulers.registry import BACKENDS

    return str(one_of(*sorted(BACKENDS))(value))


# ---------------------------------------------------------------------- sections


@dataclass(frozen=True)
class SshSettings:
    """How to reach a cluster's frontend (the transport's one options object, as asyncssh's)."""

    frontend: str = key(
        "localhost",
        non_empty_string,
        "host name of the login node, or a Host alias of ~/.ssh/config",
        example="login.hpc.example.org",
    )
    port: int | None = key(None, port_number, "SSH port", shown="ssh_config's, else 22", auth=True, example=22)
    username: str | None = key(
        None, non_empty_string, "login name", shown="ssh_config's, else yours", auth=True, example="me"
    )
    keyfile: str | None = key(
        None,
        non_empty_string,
        "private key to offer",
        shown="ssh-agent and ~/.ssh keys",
        auth=True,
        example="~/.ssh/id_ed25519",
    )
    known_hosts: str | None = key(
        None,
        non_empty_string,
        "file the server's host key is verified against",
        shown="ssh_config's UserKnownHostsFile, else ~/.ssh/known_hosts",
        auth=True,
        example="~/.ssh/known_hosts",
    )
    ssh_config: str | None = key(
        None,
        non_empty_string,
        "OpenSSH client config to read (Host aliases, ProxyJump, …)",
        shown="none",
        auth=True,
        example="~/.ssh/config",
    )
    ignore_ssh_host_keys: bool = key(
        False,
        boolean,
        "do not verify the server's host key (batchdeck says so wherever the cluster is shown)",
        auth=True,
    )
    ssh_timeout: float | None = key(
        None,
        positive_seconds,
        "GC3Pie's one SSH timeout, in seconds: the default of connect_timeout and command_timeout",
        shown="none",
        auth=True,
        example=30,
    )
    connect_timeout: float | None = key(
        None,
        positive_seconds,
        "seconds to connect and log in before giving up",
        shown=f"ssh_timeout, else {DEFAULT_CONNECT_TIMEOUT:g}",
        auth=True,
        example=int(DEFAULT_CONNECT_TIMEOUT),
    )
    command_timeout: float | None = key(
        None,
        positive_seconds,
        "seconds any one remote (or local) command may take",
        shown=f"ssh_timeout, else {DEFAULT_COMMAND_TIMEOUT:g}",
        auth=True,
        example=int(DEFAULT_COMMAND_TIMEOUT),
    )
    large_file_threshold: int | None = key(
        None,
        size_in_bytes,
        "files bigger than this are streamed one by one, not in the shared tar stream (bytes or '64M')",
        shown="16M",
        example="16M",
    )
    large_file_chunk_size: int | None = key(
        None,
        size_in_bytes,
        "how much of a large file is read at a time (bytes or '4M'; at least 64K)",
        shown="4M",
        example="4M",
    )

    @property
    def connect_limit(self) -> float:
        return self.connect_timeout or self.ssh_timeout or DEFAULT_CONNECT_TIMEOUT

    @property
    def command_limit(self) -> float:
        return self.command_timeout or self.ssh_timeout or DEFAULT_COMMAND_TIMEOUT


@dataclass(frozen=True)
class Limits:
    """What a job may ask of the cluster (GC3Pie's resource limits); checked before anything is sent."""

    max_cores: int | None = key(
        None,
        positive_int,
        "cores of all running jobs together",
        shown="none (local: the frontend's CPUs)",
        example=256,
    )
    max_cores_per_job: int | None = key(
        None, positive_int, "cores one job may ask for", shown="none", example=64
    )
    max_memory_per_core: int | None = key(
        None, parse_memory, "memory one core may ask for ('500M', '4G')", shown="none", example="4G"
    )
    max_walltime: int | None = key(
        None,
        parse_walltime,
        "longest run time one job may ask for ('24:00:00', '2-00:00:00', '90m')",
        shown="none",
        example="24:00:00",
    )


@dataclass(frozen=True)
class SchedulerSettings:
    """Keys only one scheduler understands: a backend subclasses this beside its class."""


@dataclass(frozen=True)
class ClusterSettings:
    """One ``[clusters.NAME]`` table, validated."""

    name: str
    type: str = key("local", cluster_type, "the scheduler: local, slurm, sge, pbs or lsf", example="slurm")
    transport: str = key(
        "local",
        one_of("local", "ssh"),
        "how commands reach the frontend: local or ssh",
        shown="ssh when frontend names another host, else local",
        example="ssh",
    )
    enabled: bool = key(True, boolean, "false leaves the cluster out (also the built-in localhost)")
    auth: str | None = key(
        None,
        non_empty_string,
        "name of an [auth.NAME] table whose SSH keys the cluster takes",
        shown="none",
        example="me",
    )
    architecture: tuple[str, ...] = key(
        (),
        architectures,
        "the CPU architecture(s) of the compute nodes ('x86_64', 'x86_64,i686'); a job asking for another is refused",
        shown="none: a job asking for one is refused",
        example="x86_64",
    )
    accounting_delay: float | None = key(
        None,
        non_negative_seconds,
        "seconds a job that left the queue may be missing from accounting before it counts as lost",
        shown=f"{DEFAULT_ACCOUNTING_DELAY:g} (local: 5)",
        example=int(DEFAULT_ACCOUNTING_DELAY),
    )
    submit_timeout: float = key(
        600.0,
        positive_seconds,
        "seconds after which a submit the scheduler never confirmed (not found by its tag) is marked failed",
    )
    sandbox_root: str = key(
        DEFAULT_SANDBOX_ROOT,
        sandbox_root,
        "where job sandboxes are made on the frontend: absolute or ~/…; must be visible to the compute nodes",
    )
    poll_interval: float = key(
        10.0, positive_seconds, "seconds between two refreshes of the cluster in the app"
    )
    min_poll_interval: float | None = key(
        None,
        non_negative_seconds,
        "fewest seconds from the end of one status query of the cluster to the start of the next, "
        "whatever asks (the timer, the refresh key)",
        shown="1 (local: 0)",
        example=1,
    )
    notify: bool = key(
        True,
        boolean,
        "the app rings the bell and raises a desktop notification (OSC 9 / OSC 777) when one of the cluster's "
        "jobs ends",
    )
    prologue: str | None = key(
        None,
        script,
        "shell text (or a file of it) run before every job",
        shown="none",
        example="module load python\n",
    )
    epilogue: str | None = key(
        None, script, "shell text (or a file of it) run after every job", shown="none", example="echo done\n"
    )
    limits: Limits = section(Limits, "what one job may ask for")
    ssh: SshSettings = section(SshSettings, "how the frontend is reached")
    scheduler: SchedulerSettings = section(SchedulerSettings, "the keys only this scheduler understands")

    @property
    def frontend(self) -> str:
        return self.ssh.frontend

    def flat(self) -> dict[str, Any]:
        """Every key of the cluster and its value, as the TOML table spells them."""
        values: dict[str, Any] = {}
        for owner in (self, self.limits, self.ssh, self.scheduler):
            for f in fields(owner):
                if "convert" in f.metadata:
                    values[f.name] = getattr(owner, f.name)
        return values

    def value(self, name: str) -> Any:
        """One key's value, by its TOML name."""
        values = self.flat()
        if name not in values:
            raise KeyError(name)
        return values[name]


# ---------------------------------------------------------------------- building


def key_fields(cls: type) -> Iterator[Any]:
    """The key fields of one section class (not ``name``, not the nested sections)."""
    for f in fields(cls):
        if "convert" in f.metadata:
            yield f


def cluster_keys(settings_class: type[SchedulerSettings] = SchedulerSettings) -> dict[str, tuple[type, Any]]:
    """Every key a cluster of one scheduler accepts: name -> (section class, field)."""
    table: dict[str, tuple[type, Any]] = {}
    for cls in (ClusterSettings, Limits, SshSettings, settings_class):
        for f in key_fields(cls):
            table[f.name] = (cls, f)
    return table


def auth_keys() -> dict[str, Any]:
    """The keys an ``[auth.NAME]`` table may hold besides ``type``."""
    return {f.name: f for f in key_fields(SshSettings) if f.metadata["auth"]}


def settings_class_of(type_name: str) -> type[SchedulerSettings]:
    from ..schedulers.registry import backend_class

    return backend_class(type_name).settings_class


def build_cluster(
    name: str,
    table: Mapping[str, Any],
    *,
    path: str | None = None,
    settings_class: type[SchedulerSettings] | None = None,
    type_name: str | None = None,
    auths: Mapping[str, Mapping[str, Any]] | None = None,
) -> ClusterSettings:
    """Validate one flat table of keys into a ClusterSettings.

    ``settings_class`` and ``type_name`` come from the backend class when it
    builds its own settings from keywords; the loader finds them from ``type``.
    ``auths`` are the file's ``[auth.NAME]`` tables (checked); ``auth = "NAME"``
    naming none of them is refused, never ignored.

    The first bad key raises one ConfigError naming the file (when there is
    one), the cluster, the key and what was expected.
    """

    def fail(message: str, key_name: str | None = None) -> ConfigError:
        return ConfigError(message, path=path, cluster=name, key=key_name)

    if not isinstance(table, Mapping):
        raise fail("expected a table of settings")
    if "auth" in table:
        # GC3Pie's rule: the resource names its auth section and takes its keys; the cluster's own win.
        auth, known = table["auth"], auths or {}
        if not isinstance(auth, str):
            raise fail(f"expected the name of an [auth.NAME] table, got {auth!r}", "auth")
        if auth not in known:
            raise fail(f"no [auth.{auth}] table (defined: {', '.join(sorted(known)) or 'none'})", "auth")
        table = {**known[auth], **table}
    if type_name is None:
        try:
            type_name = cluster_type(table.get("type", "local"))
        except ValueError as exc:
            raise fail(str(exc), "type") from None
    elif table.get("type", type_name) != type_name:
        raise fail(f"expected {type_name!r} (the backend's own type), got {table['type']!r}", "type")
    if settings_class is None:
        settings_class = settings_class_of(type_name)
    allowed = cluster_keys(settings_class)
    sections: dict[type, dict[str, Any]] = {
        cls: {} for cls in (ClusterSettings, Limits, SshSettings, settings_class)
    }
    for key_name, raw in table.items():
        entry = allowed.get(key_name)
        if entry is None:
            raise fail(f"unknown key; expected one of: {', '.join(sorted(allowed))}", key_name)
        owner, f = entry
        if key_name == "type":
            continue  # checked above
        try:
            sections[owner][key_name] = f.metadata["convert"](raw)
        except ValueError as exc:
            raise fail(str(exc), key_name) from None
    own = sections[ClusterSettings]
    own["type"] = type_name
    ssh_values = sections[SshSettings]
    remote = ssh_values.get("frontend", "localhost") != "localhost"
    own.setdefault("transport", "ssh" if remote else "local")
    if own["transport"] == "ssh" and "frontend" not in ssh_values:
        raise fail("transport 'ssh' needs a frontend host name", "frontend")
    return ClusterSettings(
        name=name,
        limits=Limits(**sections[Limits]),
        ssh=SshSettings(**ssh_values),
        scheduler=settings_class(**sections[settings_class]),
        **own,
    )


def build_ssh(values: Mapping[str, Any], *, where: str | None = None) -> SshSettings:
    """SshSettings from keywords (e.g. ``make_transport("ssh", frontend=…)``), by the same converters."""
    allowed = {f.name: f for f in key_fields(SshSettings)}
    checked: dict[str, Any] = {}
    for key_name, raw in values.items():
        f = allowed.get(key_name)
        if f is None:
            raise ConfigError(
                f"unknown key; expected one of: {', '.join(sorted(allowed))}", path=where, key=key_name
            )
        try:
            checked[key_name] = f.metadata["convert"](raw)
        except ValueError as exc:
            raise ConfigError(str(exc), path=where, key=key_name) from None
    return SshSettings(**checked)


def default_of(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()


def shown_default(f: Any) -> str:
    if f.metadata.get("shown"):
        return str(f.metadata["shown"])
    value = default_of(f)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return f'"{value}"'
    return "none" if value is None else str(value)


def key_table_rows() -> list[tuple[str, str, str, str]]:
    """(key, section, default, doc) for every key of every scheduler: the README's table."""
    from ..schedulers.registry import BACKENDS

    where = {ClusterSettings: "cluster", Limits: "limits", SshSettings: "ssh"}
    rows: list[tuple[str, str, str, str]] = []
    for cls in (ClusterSettings, Limits, SshSettings):
        for f in key_fields(cls):
            label = where[cls] + (", [auth]" if f.metadata["auth"] else "")
            rows.append((f.name, label, shown_default(f), f.metadata["doc"]))
    for type_name in sorted(BACKENDS):
        for f in key_fields(settings_class_of(type_name)):
            rows.append((f.name, f"{type_name} only", shown_default(f), f.metadata["doc"]))
    return rows


def markdown_key_table() -> str:
    lines = ["| key | section | default | meaning |", "|---|---|---|---|"]
    for name, where, default, doc in key_table_rows():
        lines.append(f"| `{name}` | {where} | {default} | {doc} |")
    return "\n".join(lines) + "\n"


if (
    __name__ == "__main__"
):  # pragma: no cover - `python -m batchdeck.backends.engine.settings` prints the table
    print(markdown_key_table(), end="")
