"""Importing a GC3Pie configuration (``~/.gc3/gc3pie.conf``) as batchdeck clusters.

GC3Pie reads its file with ``configparser`` (``[DEFAULT]`` values are inherited by
every section and ``%(name)s`` interpolates them), keeps SSH logins in
``[auth/NAME]`` sections and clusters in ``[resource/NAME]`` sections. Each
resource becomes one ``[clusters.NAME]`` table with batchdeck's keys and units,
and each SSH login a converted resource uses one ``[auth.NAME]`` table (main's
``config.py`` reads both as GC3Pie does). Every table is checked by the same
typed settings (``settings.py``) that load batchdeck's own file, so what is
printed always loads. Every GC3Pie key that has no batchdeck equivalent is
listed, one line each, with the reason: nothing is dropped silently.

The conversion is pure (text in, an :class:`ImportResult` out); only the checks
of prologue/epilogue files look at the file system, as GC3Pie itself does.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import BatchdeckError, ConfigError
from ..text import terminal_safe
from ..units import format_memory, format_walltime
from . import settings as typed
from .config import parse_auth, parse_cluster

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_GC3PIE_PATH = "~/.gc3/gc3pie.conf"


class Gc3pieImportError(BatchdeckError):
    """The GC3Pie file cannot be imported at all (unreadable, not INI, no resources)."""

    def __init__(self, message: str) -> None:
        super().__init__(shown(message))


# GC3Pie resource type -> batchdeck cluster type ('ssh' and 'subprocess' are the
# old names GC3Pie itself still renames to sge and shellcmd)
TYPES = {
    "slurm": "slurm",
    "sge": "sge",
    "pbs": "pbs",
    "lsf": "lsf",
    "shellcmd": "local",
    "ssh": "sge",
    "subprocess": "local",
}
# GC3Pie types batchdeck deliberately does not serve: the resource is skipped with the reason
UNSUPPORTED_TYPES = {
    "ec2+shellcmd": "it starts cloud VMs (EC2) to run jobs on; batchdeck does not create virtual machines",
    "openstack+shellcmd": "it starts cloud VMs (OpenStack) to run jobs on; batchdeck does not create virtual machines",
    "arc0": "ARC grid resources were removed from GC3Pie itself",
    "arc1": "ARC grid resources were removed from GC3Pie itself",
}

_COMMAND_OVERRIDES = frozenset(
    {
        "sbatch", "squeue", "sacct", "scancel", "sinfo",
        "qsub", "qstat", "qacct", "qdel", "qhost", "qconf", "tracejob",
        "bsub", "bjobs", "bkill", "bacct", "bhist", "lshosts", "lsid", "bqueues",
    }
)
_APP_SCRIPT = re.compile(r"^\w+_(prologue|epilogue)(_content)?$")

# keys batchdeck cannot take over, with the reason (matched after the mapped keys)
_UNMAPPED_REASONS: dict[str, str] = {
    "time_cmd": "batchdeck's local runner records the exit status itself; it does not run GNU time",
    "resourcedir": "GC3Pie's own bookkeeping folder for shellcmd; batchdeck keeps its state in its journal",
    "lsf_continuation_line_prefix_length": "batchdeck's LSF parser needs no such setting",
    "vm_os_overhead": "a cloud-VM setting; batchdeck does not create virtual machines",
    "name": "the resource's name is the cluster's name",
}

_ARCHITECTURES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"x86[ _-]+32([ _-]*bits?)?", re.I), "i686"),
    (re.compile(r"32[ _-]*bits? +[ix]86", re.I), "i686"),
    (re.compile(r"i[3456]86", re.I), "i686"),
    (re.compile(r"x86[ _-]+64([ _-]*bits?)?", re.I), "x86_64"),
    (re.compile(r"64[ _-]*bits? +[ix]86", re.I), "x86_64"),
    (re.compile(r"(amd[ -]*64|x64|emt64|intel[ -]*64)( *bits?)?", re.I), "x86_64"),
    (re.compile(r"32[ _-]*bits?", re.I), "i686"),
    (re.compile(r"64[ _-]*bits?", re.I), "x86_64"),
]

# GC3Pie's units: kB/MB/GB/TB are decimal, KiB/MiB/GiB/TiB binary (gc3libs.quantity)
_MEMORY_UNITS = {
    "b": 1, "byte": 1, "bytes": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_DURATION_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_DURATION_PART = re.compile(r"(\d+)\s*([A-Za-z]+)")
_COLONS = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d+):(\d+)\s*$")
_TRUE = frozenset({"1", "yes", "true", "on", "y", "t"})
_FALSE = frozenset({"0", "no", "false", "off", "n", "f"})
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def shown(text: str) -> str:
    """``text`` safe for one line of a terminal or a TOML comment: control characters escaped."""
    return terminal_safe(text)


@dataclass
class ImportedAuth:
    """One ``[auth/NAME]`` SSH login that a converted resource uses: batchdeck's ``[auth.NAME]`` table."""

    name: str
    # batchdeck's auth keys (``type = "ssh"`` is implied), checked by config.parse_auth
    settings: dict[str, Any]


@dataclass
class ImportedCluster:
    """One ``[resource/NAME]`` section converted."""

    name: str
    gc3pie_type: str
    settings: dict[str, Any]
    # comment lines: keys not mapped and why ("not mapped: ..."), conversions worth knowing about
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    source: str
    clusters: list[ImportedCluster] = field(default_factory=list)
    # the SSH logins the clusters name with ``auth = "NAME"``, by name
    auths: dict[str, ImportedAuth] = field(default_factory=dict)
    # resources not converted on purpose: (section, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # one line each: what is wrong in the file; the resource concerned is not converted
    problems: list[str] = field(default_factory=list)
    # notes about the file as a whole ([DEFAULT] keys, unknown sections, [auth/NAME] keys)
    notes: list[str] = field(default_factory=list)

    def unmapped(self) -> list[str]:
        """Every GC3Pie key that was not taken over, one line each, naming where it was."""
        lines = [note for note in self.notes if note.startswith(NOT_MAPPED)]
        for cluster in self.clusters:
            lines += [f"[resource/{cluster.name}] {note}" for note in cluster.notes if note.startswith(NOT_MAPPED)]
        return lines


NOT_MAPPED = "not mapped: "


class _Problem(Exception):
    """A resource that cannot be converted; the message is one line."""


# ---------------------------------------------------------------- value conversions


def parse_gc3pie_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def parse_gc3pie_memory(value: str, bare_unit: int) -> int:
    """Bytes from GC3Pie's ``2 GB`` / ``4GiB``; a bare number is in ``bare_unit`` bytes (GC3Pie's legacy form)."""
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(f"expected a size like '2 GiB' or '4 GB', got {value!r}")
    number = float(match.group(1))
    unit = match.group(2).lower()
    if not unit:
        factor = bare_unit
    elif unit in _MEMORY_UNITS:
        factor = _MEMORY_UNITS[unit]
    else:
        raise ValueError(f"unknown memory unit {match.group(2)!r} in {value!r} (GC3Pie's are B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    size = int(number * factor)
    if size <= 0:
        raise ValueError(f"expected a positive size, got {value!r}")
    return size


def parse_gc3pie_duration(value: str) -> int:
    """Seconds from GC3Pie's ``12 hours``, ``1 day``, ``4days 3hrs``, ``[DD:]HH:MM:SS``; a bare number is hours."""
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        seconds = int(text) * 3600
    elif (match := _COLONS.match(text)) is not None:
        days, hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    elif re.fullmatch(r"\d+:\d+", text):
        raise ValueError(f"{value!r} is ambiguous (hours:minutes or minutes:seconds?); GC3Pie rejects it too")
    else:
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            raise ValueError(f"expected a duration like '12 hours', '1 day' or '24:00:00', got {value!r}")
        seconds = 0
        for number, unit in parts:
            if unit.lower() not in _DURATION_UNITS:
                raise ValueError(f"unknown time unit {unit!r} in {value!r}")
            seconds += int(number) * _DURATION_UNITS[unit.lower()]
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


def normalise_architecture(value: str) -> tuple[str, bool]:
    """batchdeck's spelling of GC3Pie's architecture list; the flag says whether every entry was recognised."""
    names = []
    known = True
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        for pattern, name in _ARCHITECTURES:
            if pattern.match(item):
                names.append(name)
                break
        else:
            names.append(item)
            known = False
    if not names:
        raise ValueError("empty architecture")
    return ",".join(dict.fromkeys(names)), known


def _positive_whole(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if number < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return number


def _memory_setting(value: str) -> tuple[str, str | None]:
    """batchdeck's ``max_memory_per_core`` and, when the amount had to be rounded, a note."""
    size = parse_gc3pie_memory(value, bare_unit=1000**3)
    mib, rest = divmod(size, 1024 * 1024)
    if mib == 0:
        raise ValueError(f"{value!r} is less than 1 MiB")
    text = format_memory(mib)
    note = None
    if rest:
        note = (
            f"max_memory_per_core {value.strip()!r} is {size:,} bytes in GC3Pie's decimal units; "
            f"written as {text} (binary, rounded down)"
        )
    return text, note


def _sandbox_root(value: str) -> str:
    text = value.strip()
    for home in ("$HOME", "${HOME}"):
        if text == home:
            return "~"
        if text.startswith(home + "/"):
            return "~" + text[len(home):]
    if "$" in text:
        raise ValueError("batchdeck does not expand environment variables in sandbox_root; write the path out")
    # batchdeck's own rule (absolute or ~/...): a relative root would depend on where each command starts
    return str(typed.sandbox_root(text))


# ---------------------------------------------------------------- reading the file


def _read_ini(text: str, source: str) -> tuple[configparser.ConfigParser, configparser.RawConfigParser]:
    """The file as GC3Pie reads it, and a raw copy in which [DEFAULT] is an ordinary section.

    The raw copy tells a section's own keys from those it inherits from [DEFAULT].
    """
    parser = configparser.ConfigParser(strict=False)
    raw = configparser.RawConfigParser(strict=False, default_section="\x00 none", interpolation=None)
    try:
        parser.read_string(text, source)
        raw.read_string(text, source)
    except configparser.MissingSectionHeaderError as exc:
        raise Gc3pieImportError(
            f"{source}: not a GC3Pie configuration (INI) file: line {exc.lineno} comes before any [section] header"
        ) from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors[:5])
        raise Gc3pieImportError(f"{source}: not a GC3Pie configuration (INI) file: cannot parse line(s) {lines}") from None
    except configparser.Error as exc:
        raise Gc3pieImportError(f"{source}: not a GC3Pie configuration (INI) file: {shown(' '.join(str(exc).split()))}") from None
    return parser, raw


def _values(parser: configparser.ConfigParser, section: str, where: str) -> dict[str, str]:
    """A section's values with [DEFAULT] merged in and %-interpolation done, as GC3Pie sees them."""
    values = {}
    for key in parser.options(section):
        try:
            values[key] = parser.get(section, key)
        except configparser.InterpolationMissingOptionError as exc:
            raise _Problem(
                f"{where} key {key!r}: %({exc.reference})s refers to a key set neither in the section nor in [DEFAULT]"
            ) from None
        except configparser.InterpolationDepthError:
            raise _Problem(f"{where} key {key!r}: %-interpolation nests too deep (a loop?)") from None
        except configparser.InterpolationError as exc:
            message = " ".join(str(exc).split())
            raise _Problem(f"{where} key {key!r}: bad %-interpolation: {shown(message)} (write %% for a literal %)") from None
    return values


def _own_keys(raw: configparser.RawConfigParser, section: str) -> set[str]:
    return set(raw.options(section)) if raw.has_section(section) else set()


# ---------------------------------------------------------------- one resource

# GC3Pie's [auth/NAME] keys of type ssh -> batchdeck's [auth.NAME] keys
_AUTH_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "username": ("username", str.strip),
    "keyfile": ("keyfile", str.strip),
    "port": ("port", _positive_whole),
    "ssh_config": ("ssh_config", str.strip),
    "timeout": ("ssh_timeout", _seconds),
}


def _convert_auth(
    parser: configparser.ConfigParser,
    raw: configparser.RawConfigParser,
    auth_name: str,
    transport: str | None,
    notes: list[str],
    file_notes: list[str],
) -> ImportedAuth | None:
    """The ``[auth.NAME]`` table for ``[auth/NAME]``, or None when the resource needs no login.

    Notes about the resource go to ``notes``; the auth section's own unmapped keys
    to ``file_notes`` (once, however many resources use it).
    """
    if auth_name == "none":
        # GC3Pie always knows an `auth = none`
        return None
    section = f"auth/{auth_name}"
    if not parser.has_section(section):
        if transport == "ssh":
            raise _Problem(f"auth {auth_name!r} has no [{section}] section (the SSH login would be unknown)")
        notes.append(f"auth {auth_name!r} has no [{section}] section; unused, the transport is local")
        return None
    values = _values(parser, section, f"[{section}]")
    own = _own_keys(raw, section)
    kind = values.get("type", "").strip()
    if not kind:
        raise _Problem(f"[{section}] has no 'type' (GC3Pie requires one)")
    if kind == "none":
        notes.append(f"auth {auth_name!r} is of type none: nothing to copy")
        return None
    if transport != "ssh":
        notes.append(f"auth {auth_name!r} (type {kind}) not used: the transport is local, as in GC3Pie")
        return None
    if kind != "ssh":
        note = f"{NOT_MAPPED}[{section}] type = {shown(repr(kind))}: batchdeck logs in with SSH only"
        if note not in file_notes:
            file_notes.append(note)
        notes.append(f"auth {auth_name!r} is of type {shown(repr(kind))}, not an SSH login: the cluster takes no login keys")
        return None
    settings: dict[str, Any] = {}
    for key, value in values.items():
        if key == "type":
            continue
        if key in _AUTH_KEYS:
            target, convert = _AUTH_KEYS[key]
            try:
                settings[target] = convert(value)
            except ValueError as exc:
                raise _Problem(f"[{section}] key {key!r}: {exc}") from None
            if settings[target] == "":
                raise _Problem(f"[{section}] key {key!r} is empty")
        elif key in own:
            note = f"{NOT_MAPPED}[{section}] {key} = {shown(repr(value))}: not an SSH login setting batchdeck has"
            if note not in file_notes:
                file_notes.append(note)
    try:
        # the same check batchdeck's own [auth.NAME] tables get
        parse_auth(auth_name, {"type": "ssh", **settings}, None)
    except ConfigError as exc:
        raise _Problem(f"[{section}] does not make a valid batchdeck [auth.{auth_name}] table: {exc}") from None
    return ImportedAuth(name=auth_name, settings=settings)


def _script_setting(
    key: str, values: Mapping[str, str], base_dir: Path, notes: list[str]
) -> str | None:
    """``prologue`` or ``epilogue`` from GC3Pie's ``KEY`` (a file) and ``KEY_content`` (text), which it concatenates."""
    parts: list[str] = []
    path_value = values.get(key, "").strip()
    content = values.get(f"{key}_content", "").strip("\n")
    if path_value:
        path = Path(os.path.expanduser(path_value))
        if not path.is_absolute():
            # GC3Pie resolves a relative path against the configuration file's folder
            path = base_dir / path
        if not path.is_file():
            raise _Problem(f"key {key!r}: the file {shown(str(path))} does not exist (batchdeck would take the path for script text)")
        if not content:
            return str(path)
        try:
            parts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise _Problem(f"key {key!r}: cannot read {shown(str(path))}: {exc}") from None
        notes.append(f"{key} file {shown(str(path))} and {key}_content joined into one {key} text, as GC3Pie runs them")
    if content.strip():
        parts.append(content)
    return "\n".join(parts) if parts else None


def _unmapped_reason(key: str) -> str:
    if key in _UNMAPPED_REASONS:
        return _UNMAPPED_REASONS[key]
    if key in _COMMAND_OVERRIDES:
        return "batchdeck runs the scheduler's standard command; replacing it is not supported"
    if _APP_SCRIPT.match(key):
        return "a per-application script; batchdeck has no applications (add the lines to prologue/epilogue if every job needs them)"
    return "not a setting batchdeck knows"


def _architecture(value: str, notes: list[str]) -> str | None:
    """batchdeck's architecture list for GC3Pie's, or None (with a note) when batchdeck knows none of it."""
    written = value.strip()
    candidate, _ = normalise_architecture(written)
    try:
        names = typed.architectures(candidate)
    except ValueError as exc:
        notes.append(f"{NOT_MAPPED}architecture = {shown(repr(written))}: {exc}")
        return None
    text = ",".join(names)
    if text != written:
        notes.append(f"architecture {shown(repr(written))} written as {text!r}, as GC3Pie reads it")
    return text


def convert_resource(
    name: str,
    parser: configparser.ConfigParser,
    raw: configparser.RawConfigParser,
    base_dir: Path,
    file_notes: list[str] | None = None,
) -> tuple[ImportedCluster, ImportedAuth | None] | str:
    """The cluster for ``[resource/NAME]`` and the login it names, or the reason it is skipped on purpose.

    Raises _Problem (one line) when the section is wrong.
    """
    section = f"resource/{name}"
    file_notes = [] if file_notes is None else file_notes
    values = _values(parser, section, f"[{section}]")
    own = _own_keys(raw, section)
    defaults_only = set(parser.defaults()) - own
    # GC3Pie's own renames of old keys
    for old, new in (("ncores", "max_cores"), ("sge_accounting_delay", "accounting_delay")):
        if old in values:
            if new not in values:
                values[new] = values[old]
            del values[old]
    gc3_type = values.get("type", "").strip()
    if not gc3_type:
        raise _Problem(f"[{section}] has no 'type' (expected one of {', '.join(sorted(TYPES))})")
    if gc3_type in UNSUPPORTED_TYPES:
        return f"GC3Pie type {gc3_type!r}: {UNSUPPORTED_TYPES[gc3_type]}"
    if gc3_type not in TYPES:
        known = ", ".join(sorted({*TYPES, *UNSUPPORTED_TYPES}))
        raise _Problem(f"[{section}] has an unknown type {shown(repr(gc3_type))} (GC3Pie's types: {known})")
    settings: dict[str, Any] = {"type": TYPES[gc3_type]}
    notes: list[str] = []
    if gc3_type in ("ssh", "subprocess"):
        notes.append(f"GC3Pie's old type name {gc3_type!r} is its {'sge' if gc3_type == 'ssh' else 'shellcmd'}")
    handled = {"type", "auth", "enabled", "prologue", "epilogue", "prologue_content", "epilogue_content"}

    def convert(key: str, target: str, function: Callable[[str], Any]) -> None:
        if key not in values:
            return
        handled.add(key)
        value = values[key]
        if not value.strip():
            raise _Problem(f"[{section}] key {key!r} is empty")
        try:
            settings[target] = function(value)
        except ValueError as exc:
            raise _Problem(f"[{section}] key {key!r}: {exc}") from None

    def choice(*allowed: str) -> Callable[[str], str]:
        def check(value: str) -> str:
            if value.strip() not in allowed:
                raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
            return value.strip()

        return check

    convert("transport", "transport", choice("local", "ssh"))
    convert("frontend", "frontend", str.strip)
    convert("port", "port", _positive_whole)
    convert("max_cores", "max_cores", _positive_whole)
    convert("max_cores_per_job", "max_cores_per_job", _positive_whole)
    memory_note: list[str] = []

    def memory(value: str) -> str:
        text, note = _memory_setting(value)
        if note:
            memory_note.append(note)
        return text

    convert("max_memory_per_core", "max_memory_per_core", memory)
    notes.extend(memory_note)
    convert("max_walltime", "max_walltime", lambda v: format_walltime(parse_gc3pie_duration(v)))
    if "architecture" in values:
        handled.add("architecture")
        if not values["architecture"].strip():
            raise _Problem(f"[{section}] key 'architecture' is empty")
        architecture = _architecture(values["architecture"], notes)
        if architecture is not None:
            settings["architecture"] = architecture
    convert("accounting_delay", "accounting_delay", _seconds)
    convert("ssh_config", "ssh_config", str.strip)
    convert("keyfile", "keyfile", str.strip)
    convert("ssh_timeout", "ssh_timeout", _seconds)
    convert("ignore_ssh_host_keys", "ignore_ssh_host_keys", parse_gc3pie_bool)
    convert("large_file_threshold", "large_file_threshold", lambda v: parse_gc3pie_memory(v, bare_unit=1000**2))
    convert("large_file_chunk_size", "large_file_chunk_size", lambda v: parse_gc3pie_memory(v, bare_unit=1000**2))
    if "spooldir" in values:
        try:
            settings["sandbox_root"] = _sandbox_root(values["spooldir"])
            notes.append("spooldir written as sandbox_root (batchdeck makes one folder per job in it)")
        except ValueError as exc:
            notes.append(f"{NOT_MAPPED}spooldir = {shown(repr(values['spooldir']))}: {exc}")
        handled.add("spooldir")

    auth: ImportedAuth | None = None
    auth_name = values.get("auth", "").strip()
    if auth_name:
        # without a transport, batchdeck reaches a frontend other than localhost over SSH
        # (settings.build_cluster): such a cluster needs its login as much as an explicit ssh one
        remote = settings.get("frontend", "localhost") != "localhost"
        transport = settings.get("transport") or ("ssh" if remote else "local")
        try:
            auth = _convert_auth(parser, raw, auth_name, transport, notes, file_notes)
        except _Problem as exc:
            raise _Problem(f"[{section}] {exc}") from None
    if auth is not None:
        settings["auth"] = auth.name
        # batchdeck lets a cluster's own keys win over its auth's; GC3Pie does so too, except for
        # the port, where the auth's wins: the resource's port would change where it connects
        if "port" in auth.settings and "port" in settings:
            port = settings.pop("port")
            if port != auth.settings["port"]:
                notes.append(
                    f"{NOT_MAPPED}port = {port}: GC3Pie connects on [auth/{auth.name}]'s port "
                    f"{auth.settings['port']}, which [auth.{auth.name}] keeps"
                )

    for key in ("prologue", "epilogue"):
        try:
            script = _script_setting(key, values, base_dir, notes)
        except _Problem as exc:
            raise _Problem(f"[{section}] {exc}") from None
        if script is not None:
            settings[key] = script

    if "enabled" in values:
        try:
            if not parse_gc3pie_bool(values["enabled"]):
                settings["enabled"] = False
        except ValueError as exc:
            raise _Problem(f"[{section}] key 'enabled': {exc}") from None

    for key in sorted(values):
        if key in handled or key in defaults_only:
            continue
        if key == "override":
            word = values[key].strip().lower()
            if word in _FALSE:
                notes.append("override = no: batchdeck takes the limits as written too (nothing to write)")
            else:
                notes.append(
                    f"{NOT_MAPPED}override = {shown(repr(values[key]))}: batchdeck does not probe the machine; "
                    "it uses the limits written here"
                )
            continue
        notes.append(f"{NOT_MAPPED}{key} = {shown(repr(values[key]))}: {_unmapped_reason(key)}")

    ordered = _in_key_order(settings)
    try:
        # the typed settings batchdeck loads its own file with: what is printed always loads
        parse_cluster(name, ordered, None, {auth.name: auth.settings} if auth is not None else None)
    except ConfigError as exc:
        raise _Problem(f"[{section}] does not make a valid batchdeck cluster: {exc}") from None
    return ImportedCluster(name=name, gc3pie_type=gc3_type, settings=ordered, notes=notes), auth


def _in_key_order(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` in the order the typed settings declare the keys (the README's table)."""
    declared = typed.cluster_keys(typed.settings_class_of(str(settings.get("type", "local"))))
    # where the cluster is comes first, as in GC3Pie's resource sections
    order = dict.fromkeys(["type", "transport", "frontend", *declared, *sorted(settings)])
    return {key: settings[key] for key in order if key in settings}


def convert_gc3pie(text: str, source: str) -> ImportResult:
    """Convert a GC3Pie configuration's text; ``source`` is its path (relative prologue paths start there)."""
    parser, raw = _read_ini(text, source)
    result = ImportResult(source=source)
    base_dir = Path(os.path.expanduser(source)).resolve().parent
    resources = []
    for section in parser.sections():
        kind, sep, name = section.partition("/")
        if sep and kind == "resource":
            if not name.strip():
                result.problems.append(shown(f"{source}: [{section}] has no resource name"))
                continue
            resources.append(name)
        elif not (sep and kind == "auth"):
            result.notes.append(f"section [{shown(section)}] is not an auth/ or resource/ section: ignored, as GC3Pie does")
    if not resources and not result.problems:
        raise Gc3pieImportError(f"{source}: no [resource/NAME] section: nothing to import")
    defaults = parser.defaults()
    for key in sorted(defaults):
        try:
            value = parser.get(configparser.DEFAULTSECT, key)
        except configparser.Error:
            value = raw.get("DEFAULT", key) if raw.has_option("DEFAULT", key) else ""
        if key not in _MAPPED_KEYS:
            result.notes.append(f"{NOT_MAPPED}[DEFAULT] {key} = {shown(repr(value))}: not a cluster setting batchdeck knows")
    for name in resources:
        try:
            converted = convert_resource(name, parser, raw, base_dir, result.notes)
        except _Problem as exc:
            result.problems.append(shown(f"{source}: {exc}"))
            continue
        if isinstance(converted, str):
            result.skipped.append((f"resource/{name}", converted))
            continue
        cluster, auth = converted
        result.clusters.append(cluster)
        if auth is not None:
            result.auths[auth.name] = auth
    return result


_MAPPED_KEYS = frozenset(
    {
        "type", "transport", "frontend", "port", "max_cores", "max_cores_per_job", "max_memory_per_core",
        "max_walltime", "architecture", "accounting_delay", "ssh_config", "keyfile", "ssh_timeout",
        "ignore_ssh_host_keys", "large_file_threshold", "large_file_chunk_size", "spooldir", "auth", "enabled",
        "prologue", "epilogue", "prologue_content", "epilogue_content", "ncores", "sge_accounting_delay",
        "username", "timeout",
    }
)


# ---------------------------------------------------------------- TOML out


def toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else toml_string(name)


def toml_string(text: str) -> str:
    # JSON's escapes are all valid TOML basic-string escapes; TOML also forbids a raw DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if "\n" in text and "'''" not in text and not text.endswith("'") and all(
        c.isprintable() or c in "\n\t" for c in text
    ):
        return "'''\n" + text + "'''"
    return toml_string(text)


def _render_table(header: str, settings: Mapping[str, Any]) -> list[str]:
    return [header, *(f"{key} = {toml_value(value)}" for key, value in settings.items())]


def render_auth(auth: ImportedAuth, users: list[str]) -> str:
    lines = [f"# from [auth/{shown(auth.name)}] (used by {', '.join(shown(u) for u in users)})"]
    lines += _render_table(f"[auth.{toml_key(auth.name)}]", {"type": "ssh", **auth.settings})
    return "\n".join(lines) + "\n"


def render_cluster(cluster: ImportedCluster) -> str:
    lines = [f"# from [resource/{shown(cluster.name)}] (GC3Pie type {shown(cluster.gc3pie_type)})"]
    lines += [f"# {shown(note)}" for note in cluster.notes]
    lines += _render_table(f"[clusters.{toml_key(cluster.name)}]", cluster.settings)
    return "\n".join(lines) + "\n"


def render_toml(
    result: ImportResult,
    clusters: list[ImportedCluster] | None = None,
    auths: list[ImportedAuth] | None = None,
) -> str:
    """The batchdeck TOML for ``result``; every unmapped key and skipped resource is a comment."""
    chosen = result.clusters if clusters is None else clusters
    logins = [a for a in result.auths.values() if any(c.settings.get("auth") == a.name for c in chosen)]
    logins = logins if auths is None else auths
    out = [f"# imported from the GC3Pie configuration {shown(result.source)} by `batchdeck import-gc3pie`"]
    out += [f"# {shown(note)}" for note in result.notes]
    for section, reason in result.skipped:
        out.append(f"# [{shown(section)}] not imported: {shown(reason)}")
    for problem in result.problems:
        out.append(f"# NOT IMPORTED: {shown(problem)}")
    text = "\n".join(out) + "\n"
    for auth in logins:
        text += "\n" + render_auth(auth, [c.name for c in chosen if c.settings.get("auth") == auth.name])
    for cluster in chosen:
        text += "\n" + render_cluster(cluster)
    return text


# ---------------------------------------------------------------- merging into batchdeck's file


@dataclass
class MergePlan:
    text: str
    added: list[str]
    # clusters already in the file, left as they are
    kept: list[str]
    # [auth.NAME] tables written, and those the file already has with the same keys (reused)
    auths_added: list[str] = field(default_factory=list)
    auths_reused: list[str] = field(default_factory=list)
    # [auth.NAME] tables the file has with other keys: left as they are, the new clusters take
    # GC3Pie's login keys inline instead
    auths_differing: list[str] = field(default_factory=list)


def _inline_auth(cluster: ImportedCluster, auth: ImportedAuth, config_path: str) -> ImportedCluster:
    own = {key: value for key, value in cluster.settings.items() if key != "auth"}
    note = (
        f"{shown(config_path)} already has an [auth.{shown(auth.name)}] with other keys (left as it is): "
        f"GC3Pie's [auth/{shown(auth.name)}] keys are written into this cluster instead"
    )
    return replace(cluster, settings=_in_key_order({**auth.settings, **own}), notes=[*cluster.notes, note])


def plan_merge(existing: str | None, result: ImportResult, config_path: str) -> MergePlan:
    """The new text of batchdeck's configuration: its old text untouched, the new tables appended."""
    present: set[str] = set()
    present_auths: dict[str, Any] = {}
    if existing is not None:
        try:
            data = tomllib.loads(existing)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML, so nothing was merged into it: {exc}", path=config_path) from None
        clusters = data.get("clusters", {})
        if isinstance(clusters, dict):
            present = set(clusters)
        auth_tables = data.get("auth", {})
        if isinstance(auth_tables, dict):
            present_auths = auth_tables
    new = [c for c in result.clusters if c.name not in present]
    kept = [c.name for c in result.clusters if c.name in present]
    plan = MergePlan(text=existing or "", added=[c.name for c in new], kept=kept)
    if not new:
        return plan
    logins: list[ImportedAuth] = []
    for auth in result.auths.values():
        if not any(c.settings.get("auth") == auth.name for c in new):
            continue
        if auth.name not in present_auths:
            logins.append(auth)
            plan.auths_added.append(auth.name)
        elif present_auths[auth.name] == {"type": "ssh", **auth.settings}:
            plan.auths_reused.append(auth.name)
        else:
            plan.auths_differing.append(auth.name)
            new = [
                _inline_auth(c, auth, config_path) if c.settings.get("auth") == auth.name else c for c in new
            ]
    head = existing or ""
    if head and not head.endswith("\n"):
        head += "\n"
    text = head + ("\n" if head else "") + render_toml(result, new, logins)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the imported tables do not fit after the file's own text ({exc}); nothing was merged", path=config_path
        ) from None
    plan.text = text
    return plan


def read_gc3pie_file(path: str | os.PathLike[str]) -> str:
    where = str(path)
    try:
        data = Path(os.path.expanduser(where)).read_bytes()
    except OSError as exc:
        raise Gc3pieImportError(f"cannot read the GC3Pie configuration {shown(where)}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Gc3pieImportError(
            f"{shown(where)}: not a GC3Pie configuration (INI) file: byte {exc.start} is not UTF-8 text"
        ) from None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
