"""One way from what a user typed to a JobSpec, for the CLI's ``submit`` and the app's form.

``build_spec`` turns text into a JobSpec by one set of rules, naming every field
that is wrong; ``check_for_cluster`` holds it against a cluster's limits and
queues without connecting (the form calls it on every keystroke). The submit
itself (Deck.submit) validates once more, the one check that counts.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BatchdeckError, InvalidJobSpec
from ..model import JobSpec, QueueInfo
from ..task_array import normalize_task_array
from ..units import format_memory, format_walltime, parse_memory, parse_walltime
from .deck import Deck

#: the form's names for the fields a message must name (the CLI passes its options)
FORM_LABELS: Mapping[str, str] = {"command": "a command", "script": "a script file"}
#: JobSpec attribute -> the field (SpecText's, the form's) it comes from, where the two differ
#: a JobSpec field -> the form field that holds it, where the two names differ
FORM_FIELDS: Mapping[str, str] = {"extra_args": "extra", "memory_per_core": "memory"}


class JobSpecError(InvalidJobSpec):
    """The first thing wrong with a job description; ``field`` says which input it came from."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class SpecText:
    """A job as the user gave it: text, not yet checked."""

    command: list[str] = field(default_factory=list)  # argv
    script: str = ""  # path of a script file whose text is copied
    arguments: list[str] = field(default_factory=list)  # the script's arguments
    name: str = ""
    queue: str = ""
    cores: str = "1"
    memory: str = ""  # per core, e.g. 2G
    walltime: str = ""  # e.g. 1:30:00, 90m
    inputs: list[str] = field(default_factory=list)  # "path" or "path=name in the sandbox"
    outputs: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # NAME=VALUE
    stdout: str = "stdout.txt"
    stderr: str = "stderr.txt"
    architecture: str = ""  # e.g. x86_64; empty: any
    account: str = ""
    qos: str = ""  # QOS or project
    gpus: str = ""
    nodes: str = ""
    constraint: str = ""  # node features or a resource string
    extra_args: list[str] = field(default_factory=list)  # words for the submit command
    array: str = ""  # task ids, e.g. 1-100%10, 1,3,5, 1-9:2; empty: one job


@dataclass
class SpecCheck:
    spec: JobSpec | None  # None while any field is wrong
    errors: dict[str, str] = field(default_factory=dict)  # field -> one line
    draft: JobSpec = field(default_factory=JobSpec)  # what the fields that are right describe

    def raise_first(self) -> JobSpec:
        """The spec, or JobSpecError for the first field that is wrong."""
        if self.spec is not None and not self.errors:
            return self.spec
        name, message = next(iter(self.errors.items()))
        raise JobSpecError(name, message)


def _named(label: str, message: str) -> str:
    return f"{label}: {message}" if label else message


def _cores(raw: str, labels: Mapping[str, str]) -> int:
    text = str(raw).strip() or "1"
    try:
        cores = int(text)
    except ValueError:
        raise ValueError(_named(labels.get("cores", ""), f"expected a whole number, got {text!r}")) from None
    if cores < 1:
        raise ValueError(f"a job needs at least 1 core, got {cores}")
    return cores


def _memory(raw: str, labels: Mapping[str, str]) -> int:
    try:
        return parse_memory(raw)
    except ValueError as exc:
        raise ValueError(_named(labels.get("memory", ""), str(exc))) from None


def _walltime(raw: str, labels: Mapping[str, str]) -> int:
    try:
        return parse_walltime(raw)
    except ValueError as exc:
        raise ValueError(_named(labels.get("walltime", ""), str(exc))) from None


#: an account or QOS / project name: one word a directive line carries as it is
_NAME = re.compile(r"[\w.@+-]+")
#: a constraint / resource string: printable, and nothing a directive line or a shell would read
_RESOURCE = re.compile(r"[^\x00-\x1f\x7f\"'`$\\]+")


def _count(raw: str, what: str, labels: Mapping[str, str], key: str) -> int:
    text = raw.strip()
    try:
        count = int(text)
    except ValueError:
        raise ValueError(_named(labels.get(key, ""), f"expected a whole number of {what}, got {text!r}")) from None
    if count < 1:
        raise ValueError(_named(labels.get(key, ""), f"expected at least 1 {what[:-1]}, got {count}"))
    return count


def _scheduler_options(text: SpecText, labels: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """JobSpec's scheduler options (account, QOS, GPUs, nodes, constraint, extra words) from text."""
    options: dict[str, Any] = {"extra_args": list(text.extra_args)}
    for key, raw in (("account", text.account), ("qos", text.qos)):
        value = raw.strip()
        if value and not _NAME.fullmatch(value):
            errors[key] = _named(labels.get(key, ""), f"expected one word of letters, digits and ._@+-, got {value!r}")
        options[key] = value or None
    for key, what in (("gpus", "GPUs"), ("nodes", "nodes")):
        raw = getattr(text, key)
        options[key] = None
        if raw.strip():
            try:
                options[key] = _count(raw, what, labels, key)
            except ValueError as exc:
                errors[key] = str(exc)
    constraint = text.constraint.strip()
    if constraint and not _RESOURCE.fullmatch(constraint):
        errors["constraint"] = _named(labels.get("constraint", ""), "no quotes, backslashes, $, ` or control characters")
    options["constraint"] = constraint or None
    options["array"] = None
    if text.array.strip():
        try:
            options["array"] = normalize_task_array(text.array)
        except ValueError as exc:
            errors["array"] = _named(labels.get("array", ""), str(exc))
    return options


def build_spec(text: SpecText, labels: Mapping[str, str] = FORM_LABELS) -> SpecCheck:
    """The JobSpec ``text`` describes, or why each field is wrong (field -> one line).

    ``labels`` name the fields the way the caller shows them (the CLI's options);
    a message about one field alone carries its label only when one is given.
    """
    errors: dict[str, str] = {}
    command = list(text.command)
    script: str | None = None
    if text.script:
        path = os.path.expanduser(text.script)
        if command:
            errors["script"] = "give a command or a script file, not both"
        elif not os.path.isfile(path):
            errors["script"] = f"script {text.script!r} is not a file"
        else:
            try:
                with open(path, encoding="utf-8") as handle:
                    script = handle.read()
            except OSError as exc:
                errors["script"] = f"cannot read script {text.script!r}: {exc.strerror}"
            except UnicodeDecodeError:
                errors["script"] = f"cannot read script {text.script!r}: it is not UTF-8 text"
    elif not command:
        errors["command"] = (
            f"nothing to run: give {labels.get('command', 'a command')} or {labels.get('script', 'a script file')}"
        )
    if text.arguments and not text.script:
        errors.setdefault("command", "arguments are for a script file; put them in the command")

    environment: dict[str, str] = {}
    for item in text.env:
        key, sep, value = item.partition("=")
        if not sep:
            errors["env"] = f"{labels.get('env', 'the environment')} expects NAME=VALUE, got {item!r}"
            break
        environment[key] = value

    cores = 1
    try:
        cores = _cores(text.cores, labels)
    except ValueError as exc:
        errors["cores"] = str(exc)

    memory: int | None = None
    if text.memory.strip():
        try:
            memory = _memory(text.memory, labels)
        except ValueError as exc:
            errors["memory"] = str(exc)

    walltime: int | None = None
    if text.walltime.strip():
        try:
            walltime = _walltime(text.walltime, labels)
        except ValueError as exc:
            errors["walltime"] = str(exc)

    inputs: dict[str, str] = {}
    for item in text.inputs:
        local, remote = item, ""
        # "path=name" renames, unless the whole item is a path that exists.
        if "=" in item and not os.path.exists(os.path.expanduser(item)):
            local, _, remote = item.partition("=")
        local_path = os.path.expanduser(local)
        if not os.path.exists(local_path):
            errors["inputs"] = f"input file {local!r} does not exist"
            break
        inputs[os.path.abspath(local_path)] = remote or os.path.basename(os.path.normpath(local_path))

    name = text.name.strip()
    if not name:
        if text.script:
            name = os.path.basename(text.script)
        elif command:
            name = os.path.basename(command[0])
    spec = JobSpec(
        command=[] if text.script else command,
        script=script,
        arguments=list(text.arguments),
        name=name or "job",
        inputs=inputs,
        outputs=list(text.outputs),
        stdout=text.stdout,
        stderr=text.stderr,
        cores=cores,
        memory_per_core=memory,
        walltime=walltime,
        queue=text.queue.strip() or None,
        environment=environment,
        architecture=text.architecture.strip() or None,
        **_scheduler_options(text, labels, errors),
    )
    return SpecCheck(None if errors else spec, errors, spec)


def spec_changes(
    *,
    cores: str | None = None,
    memory: str | None = None,
    walltime: str | None = None,
    queue: str | None = None,
    name: str | None = None,
    labels: Mapping[str, str] = FORM_LABELS,
) -> dict[str, Any]:
    """The JobSpec fields a resubmit changes (None: keep), read by build_spec's rules.

    Returns field name -> new value, for ``dataclasses.replace``; JobSpecError for
    the first that is wrong, so a resubmit refuses what a submit would.
    """
    changes: dict[str, Any] = {}
    for key, raw, read in (("cores", cores, _cores), ("memory", memory, _memory), ("walltime", walltime, _walltime)):
        if raw is None:
            continue
        try:
            changes["memory_per_core" if key == "memory" else key] = read(raw, labels)
        except ValueError as exc:
            raise JobSpecError(key, str(exc)) from None
    if queue is not None:
        changes["queue"] = queue.strip() or None
    if name is not None:
        changes["name"] = name
    return changes


def split_list(text: str) -> list[str]:
    """A form's list field (shell words), or ValueError naming why it cannot be split."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot split the list: {exc}") from None


# ---------------------------------------------------------------------- against a cluster


@dataclass(frozen=True)
class Limits:
    cores: int | None = None
    memory_per_core: int | None = None  # MiB
    walltime: int | None = None  # seconds

    def text(self) -> str:
        parts = []
        if self.cores:
            parts.append(f"≤{self.cores} cores")
        if self.memory_per_core:
            parts.append(f"≤{format_memory(self.memory_per_core)}/core")
        if self.walltime:
            parts.append(f"≤{format_walltime(self.walltime)}")
        return "limits: " + ", ".join(parts) if parts else "no limits configured"


def cluster_limits(deck: Deck, cluster: str) -> Limits:
    """The limits a cluster's configuration sets (raises BatchdeckError for a broken cluster)."""
    backend = deck.backend(cluster)
    return Limits(
        backend.max_cores_per_job or backend.max_cores, backend.max_memory_per_core, backend.max_walltime
    )


def check_for_cluster(
    deck: Deck, cluster: str, spec: JobSpec, queues: list[QueueInfo] | None = None, skip: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Why ``spec`` cannot run on ``cluster`` (field -> one line); never connects.

    ``skip`` names fields already known to be wrong, so each keeps its first message.
    """
    errors: dict[str, str] = {}
    try:
        backend = deck.backend(cluster)
    except BatchdeckError as exc:
        return {"cluster": str(exc)}
    if spec.queue and queues:
        known = {q.name: q for q in queues}
        limit = known[spec.queue].max_walltime if spec.queue in known else None
        if spec.queue not in known:
            errors["queue"] = f"no queue {spec.queue!r} on {cluster} (known: {', '.join(known)})"
        elif spec.walltime and limit and spec.walltime > limit and "walltime" not in skip:
            errors["walltime"] = f"queue {spec.queue} allows at most {format_walltime(limit)}"
    for name, message in backend.unhonoured_options(spec).items():
        if name not in skip:
            errors[FORM_FIELDS.get(name, name)] = message
    # One limit at a time, so each message lands on its own field.
    for name, probe in (
        ("cores", JobSpec(command=["x"], cores=spec.cores)),
        ("memory", JobSpec(command=["x"], memory_per_core=spec.memory_per_core)),
        ("walltime", JobSpec(command=["x"], walltime=spec.walltime)),
        ("architecture", JobSpec(command=["x"], architecture=spec.architecture)),
    ):
        if name in errors or name in skip:
            continue
        try:
            backend.check_limits(probe)
        except BatchdeckError as exc:
            errors[name] = str(exc)
    if not errors and not skip:
        try:
            backend.validate_spec(spec)
        except BatchdeckError as exc:
            errors["form"] = str(exc)
    return errors
