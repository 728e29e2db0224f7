"""Named job presets: ``[templates.NAME]`` in the config, chosen with ``submit --template NAME`` (#13 item 5).

A template holds what a user types again and again (cluster, resources, the script or
command); whatever the command line gives wins over it. Every value is checked when the
file loads, so a typo fails there in one line, not at the tenth submit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ConfigError
from ..units import parse_memory, parse_walltime


@dataclass(frozen=True)
class JobTemplate:
    """One ``[templates.NAME]`` table; empty / None means "not set"."""

    name: str
    cluster: str = field(default="", metadata={"doc": "the cluster it runs on (default: the default cluster)", "example": "hpc"})
    job_name: str = field(default="", metadata={"doc": "the job's name", "example": "train"})
    queue: str = field(default="", metadata={"doc": "queue / partition", "example": "short"})
    cores: int | None = field(default=None, metadata={"doc": "cores", "example": 4})
    memory: str = field(default="", metadata={"doc": "memory per core, e.g. 2G", "example": "2G"})
    walltime: str = field(default="", metadata={"doc": "time limit, e.g. 1:30:00, 90m", "example": "30m"})
    architecture: str = field(default="", metadata={"doc": "CPU architecture the job needs", "example": "x86_64"})
    script: str = field(default="", metadata={"doc": "a script file whose text is copied (or command)", "example": "~/jobs/train.sh"})
    command: tuple[str, ...] = field(default=(), metadata={"doc": "a command, as a list of words (or script)", "example": ["python3", "train.py"]})
    inputs: tuple[str, ...] = field(default=(), metadata={"doc": "files copied into the sandbox (\"path\" or \"path=name\")", "example": ["data.csv"]})
    outputs: tuple[str, ...] = field(default=(), metadata={"doc": "result files (or folders) to fetch", "example": ["model.pt"]})
    env: tuple[str, ...] = field(default=(), metadata={"doc": "environment variables, NAME=VALUE", "example": ["OMP_NUM_THREADS=4"]})


#: no template: every field unset (``submit`` without ``--template``)
NO_TEMPLATE = JobTemplate(name="")

#: the TOML key of each field (``name`` is the table's own name; the job's is ``job_name`` in Python)
TOML_KEYS: dict[str, str] = {"job_name": "name"}


def template_keys() -> dict[str, Any]:
    """TOML key -> the dataclass field, for every key a template accepts (the config template lists them)."""
    return {TOML_KEYS.get(f.name, f.name): f for f in fields(JobTemplate) if f.name != "name"}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _words(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _cores(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


#: how each TOML key's value is read: None means it is of the wrong kind
_READERS: dict[str, tuple[Callable[[object], Any], str]] = {
    "cores": (_cores, "a whole number >= 1"),
    "command": (_words, "a list of strings, e.g. [\"python3\", \"train.py\"]"),
    "inputs": (_words, "a list of strings"),
    "outputs": (_words, "a list of strings"),
    "env": (_words, "a list of \"NAME=VALUE\" strings"),
}


def parse_template(name: str, table: object, path: str | None, clusters: Collection[str]) -> JobTemplate:
    """One ``[templates.NAME]`` table, checked; raises ConfigError (one line) naming the key."""
    where = f"templates.{name}"

    def bad(key: str | None, message: str) -> ConfigError:
        return ConfigError(message, path=path, key=f"{where}.{key}" if key else where)

    if not isinstance(table, dict):
        raise bad(None, "expected a table of job settings")
    known = template_keys()
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise bad(unknown[0], f"unknown key; a template takes {', '.join(known)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        reader, expected = _READERS.get(key, (_text, "a string"))
        parsed = reader(value)
        if parsed is None:
            raise bad(key, f"expected {expected}, got {value!r}")
        values[known[key].name] = parsed
    if values.get("script") and values.get("command"):
        raise bad("command", "a template runs a script or a command, not both")
    if values.get("cluster") and values["cluster"] not in clusters:
        raise bad("cluster", f"no cluster named {values['cluster']!r} (configured: {', '.join(clusters) or 'none'})")
    for key, parse in (("memory", parse_memory), ("walltime", parse_walltime)):
        if values.get(key):
            try:
                parse(values[key])
            except ValueError as exc:
                raise bad(key, str(exc)) from None
    for item in values.get("env", ()):
        if "=" not in item or not item.partition("=")[0]:
            raise bad("env", f"expected NAME=VALUE, got {item!r}")
    return JobTemplate(name=name, **values)


def parse_templates(tables: object, path: str | None, clusters: Collection[str]) -> dict[str, JobTemplate]:
    if not isinstance(tables, dict):
        raise ConfigError("expected [templates.NAME] tables", path=path, key="templates")
    return {name: parse_template(name, table, path, clusters) for name, table in tables.items()}
