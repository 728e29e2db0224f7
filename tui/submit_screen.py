"""The submit form (``s``): every value checked as it is typed, against the cluster's limits.

The check runs once typing pauses (``CHECK_DELAY``), never on the key path: a fast
typist's keys are handled in order whatever the check costs (#15); submit checks the
values as they are at that moment.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static

from ..backends.engine.deck import Deck
from ..backends.engine.job_specs import (
    FORM_FIELDS,
    SpecText,
    build_spec,
    check_for_cluster,
    cluster_limits,
    split_list,
)
from ..backends.engine.script_directives import SETTABLE, spec_with_script_directives
from ..backends.engine.templates import JobTemplate
from ..backends.errors import BatchdeckError
from ..backends.model import JobSpec, QueueInfo
from ..backends.units import format_memory, format_walltime
from .keys import bindings, focus_keys_in_order, key_text

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
    ("env", "Environment", "NAME=VALUE words, e.g. OMP_NUM_THREADS=4"),
    ("architecture", "Architecture", "e.g. x86_64 (empty: any; the cluster must declare it)"),
    ("account", "Account", "account to charge (empty: your default)"),
    ("qos", "QOS / project", "SLURM QOS, Grid Engine or LSF project"),
    ("gpus", "GPUs", "e.g. 1 (SLURM)"),
    ("nodes", "Nodes", "e.g. 2 (SLURM)"),
    ("constraint", "Constraint", "node features or a resource string (-l, -R)"),
    ("extra", "Extra args", "more scheduler arguments, e.g. --exclusive"),
    ("array", "Array", "task ids, e.g. 1-100%10, 1,3,5 or 1-9:2 (empty: one job)"),
)

#: the template chooser's value for "no template"
NO_CHOICE = ""


def template_values(template: JobTemplate) -> dict[str, str]:
    """A ``[templates.NAME]`` preset as the form's field texts (field id -> text; unset keys left out)."""
    values = {
        "command": shlex.join(template.command),
        "script": template.script,
        "name": template.job_name,
        "queue": template.queue,
        "cores": "" if template.cores is None else str(template.cores),
        "memory": template.memory,
        "walltime": template.walltime,
        "inputs": shlex.join(template.inputs),
        "outputs": shlex.join(template.outputs),
        "env": shlex.join(template.env),
        "architecture": template.architecture,
    }
    return {ident: text for ident, text in values.items() if text}


@dataclass
class SubmitRequest:
    cluster: str
    spec: JobSpec


@dataclass
class FormCheck:
    spec: JobSpec | None
    errors: dict[str, str] = field(default_factory=dict)
    #: what the script's own directives set or pass through, one line each (the CLI's notes)
    notes: list[str] = field(default_factory=list)


def directive_values(before: JobSpec, after: JobSpec) -> list[str]:
    """``cores 2``, ``walltime 0:02:00`` …: what the script's directives changed."""
    shown: dict[str, Callable[[Any], str]] = {"name": str, "cores": str, "walltime": format_walltime, "memory_per_core": format_memory,
             "queue": str, "stdout": str, "stderr": str}  # fmt: skip
    changed = []
    for key, show in shown.items():
        value = getattr(after, key)
        if value != getattr(before, key) and value is not None:
            changed.append(f"{key.replace('_', ' ')} {show(value)}")
    return changed


def check_form(
    values: dict[str, str], cluster: str, deck: Deck, queues: list[QueueInfo] | None = None
) -> FormCheck:
    """The JobSpec the form describes, or why each field is wrong (field id -> one line).

    The CLI's rules (job_specs.build_spec), then the cluster's limits and queues,
    checked without connecting.
    """
    unsplit: dict[str, str] = {}
    command: list[str] = []
    try:
        command = shlex.split(values.get("command", ""))
    except ValueError as exc:
        unsplit["command"] = f"cannot split the command: {exc}"
    lists: dict[str, list[str]] = {}
    for ident in ("inputs", "outputs", "env", "extra"):
        try:
            lists[ident] = split_list(values.get(ident, ""))
        except ValueError as exc:
            unsplit[ident] = str(exc)
            lists[ident] = []
    check = build_spec(
        SpecText(
            command=command,
            script=values.get("script", "").strip(),
            name=values.get("name", ""),
            queue=values.get("queue", ""),
            cores=values.get("cores", ""),
            memory=values.get("memory", ""),
            walltime=values.get("walltime", ""),
            inputs=lists["inputs"],
            outputs=lists["outputs"],
            env=lists["env"],
            architecture=values.get("architecture", ""),
            account=values.get("account", ""),
            qos=values.get("qos", ""),
            gpus=values.get("gpus", ""),
            nodes=values.get("nodes", ""),
            constraint=values.get("constraint", ""),
            extra_args=lists["extra"],
            array=values.get("array", ""),
        )
    )
    errors = {**check.errors, **unsplit}
    draft: JobSpec = check.draft
    notes: list[str] = []
    if draft.script is not None and "script" not in errors:
        # As `submit --script`: the script's #SBATCH/#$/#PBS/#BSUB lines set what the form
        # leaves empty, and the limits are checked on the job as it will be submitted.
        explicit = {key for key in SETTABLE if values.get(FORM_FIELDS.get(key, key), "").strip()}
        try:
            merged, notes = spec_with_script_directives(draft, deck.scheduler(cluster), explicit)
        except BatchdeckError as exc:
            errors["script"] = str(exc).splitlines()[0]
        else:
            # the values the script sets are shown too: the job as it will be submitted
            notes = [*directive_values(draft, merged), *notes]
            draft = merged
    errors.update(check_for_cluster(deck, cluster, draft, queues, skip=frozenset(errors)))
    return FormCheck(None if errors else draft, errors, notes)


def limits_text(deck: Deck, cluster: str) -> str:
    try:
        return cluster_limits(deck, cluster).text()
    except BatchdeckError:
        return ""


#: seconds of quiet after a change before the form checks itself
CHECK_DELAY = 0.25


class SubmitScreen(ModalScreen[SubmitRequest | None]):
    BINDINGS = [*bindings("form"), *focus_keys_in_order()]

    def __init__(
        self,
        deck: Deck,
        cluster: str,
        queue: str | None = None,
        queues: dict[str, list[QueueInfo]] | None = None,
        prefill: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.deck = deck
        self.cluster = cluster
        self.queue = queue
        # field id -> text the form opens with (a resubmit starts from the job's own values)
        self.prefill = dict(prefill or {})
        if queue and "queue" not in self.prefill:
            self.prefill["queue"] = queue
        self.queues = queues or {}
        self.check = FormCheck(None, {})
        self._pending_check: Timer | None = None

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
                templates = self.deck.config.templates
                if templates:
                    with Horizontal(classes="field"):
                        yield Label("Template", classes="label")
                        yield Select(
                            [("(none)", NO_CHOICE), *((name, name) for name in templates)],
                            value=NO_CHOICE,
                            allow_blank=False,
                            compact=True,
                            id="template",
                        )
                    # Typed text is the user's: a template never overwrites it.
                    yield Static("fills the empty fields (and picks its cluster); what you typed stays",
                                 id="template-hint", classes="hint")
                for ident, label, placeholder in FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label, classes="label")
                        yield Input(value=self.prefill.get(ident, ""), placeholder=placeholder, id=ident, compact=True)
                    yield Static("", id=f"{ident}-error", classes="error")
            yield Static("", id="form-error", classes="error")
            yield Static("", id="directives", classes="hint")
            with Horizontal(classes="buttons"):
                submit_key = key_text(self.app, "form_submit").split(" / ")[0]
                cancel_key = key_text(self.app, "form_cancel").split(" / ")[0]
                yield Button(f"Submit ({submit_key})", variant="success", id="submit", disabled=True)
                yield Button(f"Cancel ({cancel_key})", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()
        self.validate_form()

    def values(self) -> dict[str, str]:
        return {ident: self.query_one(f"#{ident}", Input).value for ident, _l, _p in FIELDS}

    def validate_form(self) -> FormCheck:
        self._cancel_pending_check()
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
        notes = self.query_one("#directives", Static)
        notes.update(Text("from the script: " + "; ".join(self.check.notes)) if self.check.notes else "")
        notes.display = bool(self.check.notes)
        self.query_one("#submit", Button).disabled = self.check.spec is None
        return self.check

    def _cancel_pending_check(self) -> None:
        if self._pending_check is not None:
            self._pending_check.stop()
            self._pending_check = None

    @property
    def settled(self) -> bool:
        """No check is waiting for typing to pause: what the form shows is the check of its values."""
        return self._pending_check is None

    def check_soon(self) -> None:
        """Check the form once no change came for CHECK_DELAY (each change restarts the wait)."""
        self._cancel_pending_check()
        self._pending_check = self.set_timer(CHECK_DELAY, self.validate_form)

    @on(Input.Changed)
    def _changed(self) -> None:
        self.check_soon()

    @on(Select.Changed, "#cluster")
    def _cluster_changed(self) -> None:
        self.query_one("#limits", Static).update(limits_text(self.deck, self.cluster_value()))
        self.check_soon()

    @on(Select.Changed, "#template")
    def _template_chosen(self, event: Select.Changed) -> None:
        name = str(event.value)
        if name == NO_CHOICE or name not in self.deck.config.templates:
            return
        template = self.deck.config.templates[name]
        current = self.values()
        filled = template_values(template)
        # A command and a script exclude each other: neither comes from the template once one is typed.
        if current.get("command") or current.get("script"):
            filled.pop("command", None)
            filled.pop("script", None)
        for ident, text in filled.items():
            if not current.get(ident):
                self.query_one(f"#{ident}", Input).value = text
        if template.cluster and template.cluster in self.deck.cluster_names:
            self.query_one("#cluster", Select).value = template.cluster
        self.check_soon()

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
        # The values as they are now (a key may beat the last change event); no connection.
        check = self.validate_form()
        if check.spec is not None:
            self.dismiss(SubmitRequest(self.cluster, check.spec))
        else:
            self.notify("fix the fields marked in red first", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)
