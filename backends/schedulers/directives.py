"""A batch script's own directives (``#SBATCH``, ``#$``, ``#PBS``, ``#BSUB``), read as the schedulers do.

Each scheduler reads its directive lines only up to the first command line of the script; a line may
carry several options, quoted as on a command line. batchdeck runs a user's script from a job script
of its own, which is the one the scheduler reads: so the user's directives are read here, the ones
batchdeck understands become the job's settings (values given on the command line or in the form
win), and every other one is passed through into batchdeck's job script — and said so, never dropped.
Each scheduler file holds its own option table (``OptionRule``s) and calls ``interpret``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidJobSpec, ParseError


@dataclass(frozen=True)
class Directive:
    line: int  # 1-based line number in the script
    words: tuple[str, ...]  # the options of the line, shell-split


@dataclass
class DirectiveReading:
    """What a script's directives ask for."""

    #: JobSpec fields they set: name, cores, walltime, memory_per_core, queue, stdout, stderr
    values: dict[str, Any] = field(default_factory=dict)
    #: directive lines (with the prefix) batchdeck passes through to the scheduler as they are
    passthrough: list[str] = field(default_factory=list)
    #: one line per directive that was passed through or replaced, for the user to read
    notes: list[str] = field(default_factory=list)


def read_directives(script: str, prefix: str) -> list[Directive]:
    """The ``prefix`` lines before the first command line (blank and comment lines do not stop it)."""
    found: list[Directive] = []
    for number, raw in enumerate(script.splitlines(), start=1):
        line = raw.strip()
        if number == 1 and line.startswith("#!"):
            continue
        if not line:
            continue
        if not line.startswith("#"):
            break  # the first command: the scheduler reads no further
        if not (line.startswith(prefix) and (len(line) == len(prefix) or line[len(prefix)].isspace())):
            continue
        body = line[len(prefix) :]
        try:
            words = shlex.split(body, comments=True)
        except ValueError as exc:
            raise ParseError(f"{prefix} directive on line {number}", str(exc), raw) from None
        if words:
            found.append(Directive(number, tuple(words)))
    return found


#: (value of the option or None for a flag, the reading so far) -> None; raises ValueError with the reason
Apply = Callable[[str | None, DirectiveReading], None]


@dataclass(frozen=True)
class OptionRule:
    """One option a scheduler's directives may carry."""

    names: tuple[str, ...]  # e.g. ("-t", "--time")
    takes_value: bool
    apply: Apply | None = None  # None: passed through as it is


def interpret(prefix: str, directives: Sequence[Directive], rules: Sequence[OptionRule]) -> DirectiveReading:
    """Map each option of each directive line through the scheduler's rules."""
    by_name = {name: rule for rule in rules for name in rule.names}
    reading = DirectiveReading()
    for directive in directives:
        words = list(directive.words)
        while words:
            word = words.pop(0)
            name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
            rule = by_name.get(name)
            if rule is None and not word.startswith("--") and len(word) > 2 and word[:2] in by_name:
                # short option glued to its value: -c4, -t10
                rule, name, inline, eq = by_name[word[:2]], word[:2], word[2:], "="
            value: str | None = None
            if rule is not None and rule.takes_value:
                if eq:
                    value = inline
                elif words:
                    value = words.pop(0)
                else:
                    raise InvalidJobSpec(f"line {directive.line}: {prefix} {name} needs a value")
            where = f"line {directive.line}: {prefix} {word if value is None or eq else f'{name} {value}'}"
            if rule is None or rule.apply is None:
                passed = [word] if eq or value is None else [name, value]
                if rule is None and words and not words[0].startswith("-"):
                    passed.append(words.pop(0))  # an option batchdeck does not know, with its value
                reading.passthrough.append(f"{prefix} {shlex.join(passed)}")
                reading.notes.append(f"{where}: passed through to the scheduler as it is")
                continue
            before = len(reading.notes)
            try:
                rule.apply(value, reading)
            except ValueError as exc:
                raise InvalidJobSpec(f"{where}: {exc}") from None
            reading.notes[before:] = [f"{where}: {note}" for note in reading.notes[before:]]
    return reading


def setter(key: str, convert: Callable[[str], Any] = str) -> Apply:
    def apply(value: str | None, reading: DirectiveReading) -> None:
        reading.values[key] = convert(value or "")

    return apply


def replaced(why: str) -> Apply:
    """An option batchdeck sets itself (it must, for peek and download): said, not silently lost."""

    def apply(value: str | None, reading: DirectiveReading) -> None:
        reading.notes.append(f"replaced: {why}")

    return apply


def unsupported(what: str) -> Apply:
    """An option batchdeck understands but cannot honour yet: refused in one line, never run half-right."""

    def apply(value: str | None, reading: DirectiveReading) -> None:
        raise ValueError(f"{what} is not supported yet: batchdeck would track only one task")

    return apply


def passthrough_flags(*names: str) -> tuple[OptionRule, ...]:
    """Known options that take a value and are passed through as they are (their value must not be
    mistaken for an option of its own)."""
    return tuple(OptionRule((name,), True) for name in names)


def positive_int(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise ValueError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def output_file(key: str) -> Apply:
    """stdout/stderr: a plain relative name is kept (inside the sandbox); an absolute path or a scheduler
    pattern is replaced by batchdeck's own file in the sandbox, where peek and get find it — and said so."""

    def apply(value: str | None, reading: DirectiveReading) -> None:
        text = value or ""
        if text and not text.startswith("/") and not any(c in text for c in "%$") and ".." not in text.split("/"):
            reading.values[key] = text
        else:
            reading.notes.append(f"replaced: batchdeck writes the job's {key} into its sandbox, where peek and get read it")

    return apply


def after_list(conditions: Sequence[tuple[str, str]]) -> str:
    """``(kind, jobid)`` conditions as SLURM's and PBS's shared syntax: ``afterok:1:3,afternotok:2``."""
    kinds = {"ok": "afterok", "any": "afterany", "notok": "afternotok"}
    grouped: dict[str, list[str]] = {}
    for kind, jobid in conditions:
        grouped.setdefault(kinds[kind], []).append(jobid)
    return ",".join(f"{kind}:{':'.join(ids)}" for kind, ids in grouped.items())

