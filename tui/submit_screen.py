"""The submit form (``s``): every value checked as it is typed, against the cluster's limits."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ..backends.engine.deck import Deck
from ..backends.errors import BatchdeckError
from ..backends.model import JobSpec, QueueInfo
from ..backends.schedulers.base import BatchSystem
from ..backends.units import format_memory, format_walltime, parse_memory, parse_walltime

FIELDS: tuple[tuple[str, str, str], ...] = (
    # id, label, placeholder
    ("command", "Command", "e.g. python train.py --epochs 3"),
    ("script", "or script file", "path of a shell script to run instead"),
    ("name", "Job name", "job"),
    ("queue", "Queue", "default queue"),
    ("cores", "Cores", "1"),
    ("memory", "Memory/core", "e.g. 2G (empty: cluster default)"),
    ("walltime", "Walltime", "e.g. 1:00:00 or 90m (empty: cluster default)"),
    ("inputs", "Input files", "local paths, 'local=name' to rename"),
    ("outputs", "Output files", "names to fetch (empty: the whole sandbox)"),
)


@dataclass
class SubmitRequest:
    cluster: str
    spec: JobSpec


@dataclass
class FormCheck:
    spec: JobSpec | None
    errors: dict[str, str] = field(default_factory=dict)


def check_form(
    values: dict[str, str], cluster: str, deck: Deck, queues: list[QueueInfo] | None = None
) -> FormCheck:
    """The JobSpec the form describes, or why each field is wrong (field id -> one line)."""
    errors: dict[str, str] = {}
    backend: BatchSystem | None = None
    try:
        backend = deck.backend(cluster)
    except BatchdeckError as exc:
        errors["cluster"] = str(exc)

    command: list[str] = []
    script: str | None = None
    text = values.get("command", "").strip()
    script_path = values.get("script", "").strip()
    if text:
        try:
            command = shlex.split(text)
        except ValueError as exc:
            errors["command"] = f"cannot split the command: {exc}"
    if script_path:
        path = Path(os.path.expanduser(script_path))
        if text:
            errors["script"] = "give a command or a script file, not both"
        elif not path.is_file():
            errors["script"] = f"{script_path} is not a file"
        else:
            try:
                script = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                errors["script"] = f"cannot read {script_path}: {exc}"
    if not text and not script_path:
        errors["command"] = "a command (or a script file) is required"

    cores = 1
    raw_cores = values.get("cores", "").strip() or "1"
    try:
        cores = int(raw_cores)
        if cores < 1:
            errors["cores"] = "at least 1 core"
    except ValueError:
        errors["cores"] = f"expected a whole number, got {raw_cores!r}"

    memory: int | None = None
    if values.get("memory", "").strip():
        try:
            memory = parse_memory(values["memory"])
        except ValueError as exc:
            errors["memory"] = str(exc)

    walltime: int | None = None
    if values.get("walltime", "").strip():
        try:
            walltime = parse_walltime(values["walltime"])
        except ValueError as exc:
            errors["walltime"] = str(exc)

    inputs: dict[str, str] = {}
    try:
        for item in shlex.split(values.get("inputs", "")):
            local, _, remote = item.partition("=")
            local_path = os.path.expanduser(local)
            if not os.path.exists(local_path):
                errors["inputs"] = f"{local} does not exist"
                break
            inputs[os.path.abspath(local_path)] = remote or os.path.basename(local_path.rstrip("/"))
    except ValueError as exc:
        errors["inputs"] = f"cannot split the list: {exc}"

    outputs: list[str] = []
    try:
        outputs = shlex.split(values.get("outputs", ""))
    except ValueError as exc:
        errors["outputs"] = f"cannot split the list: {exc}"

    queue = values.get("queue", "").strip() or None
    if queue and queues:
        known = {q.name: q for q in queues}
        if queue not in known:
            errors["queue"] = f"no queue {queue!r} on {cluster} (known: {', '.join(known)})"
        elif walltime and known[queue].max_walltime and walltime > (known[queue].max_walltime or 0):
            errors["walltime"] = (
                f"queue {queue} allows at most {format_walltime(known[queue].max_walltime)}"
            )

    if backend is not None:
        # One limit at a time, so each message lands on its own field.
        for name, probe in (
            ("cores", JobSpec(command=["x"], cores=cores)),
            ("memory", JobSpec(command=["x"], memory_per_core=memory)),
            ("walltime", JobSpec(command=["x"], walltime=walltime)),
        ):
            if name in errors:
                continue
            try:
                backend.check_limits(probe)
            except BatchdeckError as exc:
                errors[name] = str(exc)

    spec = JobSpec(
        command=command,
        script=script,
        name=values.get("name", "").strip() or (command[0].rsplit("/", 1)[-1] if command else "job"),
        inputs=inputs,
        outputs=outputs,
        cores=cores,
        memory_per_core=memory,
        walltime=walltime,
        queue=queue,
    )
    if not errors and backend is not None:
        try:
            backend.validate_spec(spec)
        except BatchdeckError as exc:
            errors["form"] = str(exc)
    return FormCheck(None if errors else spec, errors)


def limits_text(deck: Deck, cluster: str) -> str:
    try:
        backend = deck.backend(cluster)
    except BatchdeckError:
        return ""
    parts = []
    if backend.max_cores_per_job or backend.max_cores:
        parts.append(f"≤{backend.max_cores_per_job or backend.max_cores} cores")
    if backend.max_memory_per_core:
        parts.append(f"≤{format_memory(backend.max_memory_per_core)}/core")
    if backend.max_walltime:
        parts.append(f"≤{format_walltime(backend.max_walltime)}")
    return "limits: " + ", ".join(parts) if parts else "no limits configured"


class SubmitScreen(ModalScreen[SubmitRequest | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Submit"),
    ]

    def __init__(
        self,
        deck: Deck,
        cluster: str,
        queue: str | None = None,
        queues: dict[str, list[QueueInfo]] | None = None,
    ) -> None:
        super().__init__()
        self.deck = deck
        self.cluster = cluster
        self.queue = queue
        self.queues = queues or {}
        self.check = FormCheck(None, {})

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="submit"):
            yield Static("[b]Submit a job[/b]", classes="title")
            with VerticalScroll(id="form"):
                with Horizontal(classes="field"):
                    yield Label("Cluster", classes="label")
                    yield Select(
                        [(name, name) for name in self.deck.cluster_names],
                        value=self.cluster,
                        allow_blank=False,
                        compact=True,
                        id="cluster",
                    )
                yield Static("", id="cluster-error", classes="error")
                yield Static(limits_text(self.deck, self.cluster), id="limits", classes="hint")
                for ident, label, placeholder in FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label, classes="label")
                        value = (self.queue or "") if ident == "queue" else ""
                        yield Input(value=value, placeholder=placeholder, id=ident, compact=True)
                    yield Static("", id=f"{ident}-error", classes="error")
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Submit (ctrl+s)", variant="success", id="submit", disabled=True)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()
        self.validate_form()

    def values(self) -> dict[str, str]:
        return {ident: self.query_one(f"#{ident}", Input).value for ident, _l, _p in FIELDS}

    def validate_form(self) -> FormCheck:
        cluster = self.query_one("#cluster", Select).value
        self.cluster = str(cluster)
        self.check = check_form(self.values(), self.cluster, self.deck, self.queues.get(self.cluster))
        pristine = not any(self.values().values())
        for ident in [*(f for f, _l, _p in FIELDS), "cluster", "form"]:
            message = self.check.errors.get(ident, "")
            # An empty form is not an error yet: say what is needed only once typing starts.
            if pristine and ident == "command":
                message = ""
            error = self.query_one(f"#{ident}-error", Static)
            error.update(message)
            error.display = bool(message)
            if ident not in ("cluster", "form"):
                self.query_one(f"#{ident}", Input).set_class(bool(message), "invalid")
        self.query_one("#submit", Button).disabled = self.check.spec is None
        return self.check

    @on(Input.Changed)
    def _changed(self) -> None:
        self.validate_form()

    @on(Select.Changed, "#cluster")
    def _cluster_changed(self) -> None:
        self.query_one("#limits", Static).update(limits_text(self.deck, self.cluster_value()))
        self.validate_form()

    def cluster_value(self) -> str:
        return str(self.query_one("#cluster", Select).value)

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        check = self.validate_form()
        if check.spec is not None:
            self.dismiss(SubmitRequest(self.cluster, check.spec))
        else:
            self.notify("fix the fields marked in red first", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)
