"""The app's key bindings and the ``[keys]`` table that remaps them.

This is the one list of every action a key can trigger: its id (the name the
``[keys]`` table uses), its default keys, where it acts and what it does. The
app builds its Textual ``Binding`` objects from it and hands the user's remaps
to Textual's keymap (``App.set_keymap``); the config loader checks the table
here. So this module stays plain Python: ``backends/`` never imports Textual
(tests/test_keys.py checks the key names and the widgets' own keys below
against Textual's).

Keys are written as Textual writes them: ``ctrl+n``, ``f2``, ``question_mark``
or ``?``, several comma separated (``"x,delete"``).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class KeyAction:
    """One remappable binding."""

    keys: str  # the default keys, Textual's comma-separated form
    scope: str  # a key of SCOPES: where the binding lives
    action: str  # the Textual action it runs (``answer(True)``)
    label: str  # the footer's word for it
    description: str  # the help screen's and the command palette's line
    show: bool = True  # shown in the footer


#: where bindings live; two actions of one scope may not share a key. A widget's
#: keys (the peek pane's, the filter box's) win over its screen's while it has focus.
SCOPES: dict[str, str] = {
    "main": "the main screen",
    "peek": "the peek pane (while it has focus)",
    "peek_prompt": "the peek's search / go-to prompt",
    "filter": "the job filter box",
    "form": "the submit form",
    "confirm": "a yes/no question",
    "download": "the download dialog",
    "theme": "the theme picker",
    "help": "the help screen",
    "history": "the history view",
    "details": "the job details dialog",
    "signal": "the signal chooser",
    "time_limit": "the new time limit dialog",
    "columns": "the Jobs columns dialog",
}

ACTIONS: dict[str, KeyAction] = {
    # The main screen; the command palette lists these too (by label).
    "submit": KeyAction("s", "main", "submit", "Submit", "submit a job (the form checks values against the cluster's limits)"),
    "cancel": KeyAction("c", "main", "cancel_job", "Cancel", "cancel the selected job, any of yours (asks first)"),
    "peek": KeyAction("p", "main", "peek", "Peek", "peek: live tail of the job's stdout, any of yours (enter too)"),
    "details": KeyAction("i", "main", "details", "Details", "details of the selected job, any of yours: what the scheduler says"),
    # on a job batchdeck did not submit (shown in the footer only on such a row)
    "signal": KeyAction("k", "main", "signal_job", "Signal", "send a signal to a job batchdeck did not submit (a chooser)"),
    "hold": KeyAction("H", "main", "hold_job", "Hold", "hold a pending job batchdeck did not submit"),
    "release": KeyAction("U", "main", "release_job", "Release", "release a held job batchdeck did not submit"),
    "time_limit": KeyAction("T", "main", "time_limit", "Time limit", "give a job batchdeck did not submit a new time limit"),
    "sort": KeyAction("S", "main", "sort", "Sort", "sort the Jobs table: the next column and direction (remembered)", show=False),
    "columns": KeyAction("C", "main", "choose_columns", "Columns", "choose the Jobs table's columns (remembered)", show=False),
    "download": KeyAction("d", "main", "download", "Download", "download the job's results"),
    "free": KeyAction("f", "main", "free", "Free", "free the job's remote sandbox (TERMINATED jobs only)"),
    "forget": KeyAction("backspace", "main", "forget", "Forget", "forget the selected finished job (asks first; its sandbox stays until freed)", show=False),
    "clean": KeyAction(
        "X", "main", "clean", "Clean", "forget every finished job older than 30 days, of the selected cluster or all (asks first)",
        show=False,
    ),
    "refresh": KeyAction("r", "main", "refresh", "Refresh", "refresh every cluster now"),
    "history": KeyAction("h", "main", "history", "History", "finished jobs from every cluster's accounting (not only batchdeck's)"),
    "resubmit": KeyAction("R", "main", "resubmit", "Resubmit", "submit the selected job again: the form opens with its values", show=False),
    "filter": KeyAction("slash", "main", "filter", "Filter", "filter jobs by text"),
    "tasks": KeyAction(
        "a", "main", "toggle_tasks", "Tasks", "expand / collapse the selected array job into its tasks", show=False
    ),
    "stream": KeyAction("o", "main", "toggle_stream", "Out/Err", "toggle stdout / stderr in the peek"),
    "command": KeyAction(
        "e", "main", "toggle_command", "Command", "show the selected job's whole command in Details, or one line again",
        show=False,
    ),
    "theme": KeyAction("t", "main", "choose_theme", "Theme", "choose the theme (remembered)"),
    "help": KeyAction("question_mark", "main", "help", "Help", "this help"),
    "quit": KeyAction("q", "main", "quit", "Quit", "quit (jobs keep running)"),
    # The peek pane
    "peek_follow": KeyAction("end,G", "peek", "follow", "Follow", "go to the end and follow it", show=False),
    "peek_top": KeyAction("home,g", "peek", "top", "Top", "go to the file's start", show=False),
    "peek_search": KeyAction("slash", "peek", "prompt('search')", "Search", "search the file (on the cluster)"),
    "peek_next": KeyAction("n", "peek", "find(False)", "Next match", "next match", show=False),
    "peek_previous": KeyAction("N", "peek", "find(True)", "Previous match", "previous match", show=False),
    "peek_goto": KeyAction(
        "colon", "peek", "prompt('goto')", "Go to", "go to a line (:@N a byte offset, :50% a point of the file)"
    ),
    "peek_prompt_cancel": KeyAction("escape", "peek_prompt", "dismiss", "Cancel", "close the prompt", show=False),
    "filter_clear": KeyAction("escape", "filter", "clear_filter", "Clear filter", "clear the filter and leave it"),
    # Dialogs
    "form_submit": KeyAction("ctrl+s", "form", "submit", "Submit", "submit the job"),
    "form_cancel": KeyAction("escape", "form", "cancel", "Cancel", "close the form, submit nothing"),
    "confirm_yes": KeyAction("y", "confirm", "answer(True)", "Yes", "yes"),
    "confirm_no": KeyAction("n,escape", "confirm", "answer(False)", "No", "no"),
    "download_close": KeyAction("escape", "download", "close", "Close", "close the dialog"),
    "theme_cancel": KeyAction("escape", "theme", "cancel", "Cancel", "keep the previous theme"),
    "help_close": KeyAction("escape,q,question_mark", "help", "close", "Close", "close the help"),
    # The history view
    "history_day": KeyAction("d", "history", "window('1d')", "1 day", "history: jobs that ended in the last day"),
    "history_week": KeyAction("w", "history", "window('7d')", "7 days", "history: the last 7 days"),
    "history_month": KeyAction("m", "history", "window('30d')", "30 days", "history: the last 30 days"),
    "history_reload": KeyAction("r", "history", "reload", "Reload", "history: ask the clusters' accounting again"),
    "history_resubmit": KeyAction("R", "history", "resubmit", "Resubmit", "history: submit the selected job again (the form opens with its values)"),
    "history_close": KeyAction("escape,q", "history", "close", "Close", "close the history"),
    "details_close": KeyAction("escape,q", "details", "close", "Close", "close the job's details"),
    "signal_cancel": KeyAction("escape", "signal", "cancel", "Cancel", "send no signal"),
    "time_limit_cancel": KeyAction("escape", "time_limit", "cancel", "Cancel", "keep the time limit"),
    "columns_close": KeyAction("escape", "columns", "close", "Close", "close the columns dialog"),
}

MODIFIERS = ("alt", "ctrl", "hyper", "meta", "shift", "super")
#: Textual's names of keys that type no character (its ``Keys`` enum)
NAMED_KEYS = frozenset(
    {"escape", "enter", "tab", "backspace", "delete", "insert", "home", "end", "pageup", "pagedown",
     "up", "down", "left", "right", "space", *(f"f{n}" for n in range(1, 25))}
)  # fmt: skip
#: Textual's plainer names for some characters' Unicode names (``textual.keys.KEY_NAME_REPLACEMENTS``)
_REPLACEMENTS = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def character_key(character: str) -> str:
    """A character's key name as Textual's key events carry it: ``a``, ``N``, ``question_mark``."""
    if character.isalnum():
        return character
    name = unicodedata.name(character, character).lower().replace("-", "_").replace(" ", "_")
    return _REPLACEMENTS.get(name, name)


#: the names of the ASCII punctuation keys (``slash``, ``colon``): the names a user may write for them
CHARACTER_KEYS: dict[str, str] = {character_key(c): c for c in string.punctuation}

# Keys the app's widgets or Textual itself take before a binding of the scope
# could see them: giving one to an action would make it never fire (or break
# moving around). tests/test_keys.py checks these against Textual's widgets.
RESERVED_EVERYWHERE: dict[str, str] = {
    "tab": "moves between panes",
    "shift+tab": "moves between panes",
    "ctrl+p": "opens the command palette",
    "ctrl+q": "quits (Textual)",
    "ctrl+c": "copies / quits (Textual)",
    "super+c": "copies (Textual)",
}
_LISTS = frozenset({"up", "down", "left", "right", "pageup", "pagedown", "home", "end", "ctrl+home", "ctrl+end", "enter"})
_SCROLL = frozenset({"up", "down", "left", "right", "pageup", "pagedown", "ctrl+pageup", "ctrl+pagedown"})
_INPUT = frozenset(
    {"left", "right", "home", "end", "enter", "backspace", "delete", "space", "shift+left", "shift+right",
     "shift+home", "shift+end", "ctrl+left", "ctrl+right", "ctrl+shift+left", "ctrl+shift+right",
     "ctrl+backspace", "alt+backspace", "super+backspace", "ctrl+a", "ctrl+shift+a", "ctrl+d", "ctrl+e",
     "ctrl+k", "ctrl+u", "ctrl+v", "ctrl+w", "ctrl+x"}
)  # fmt: skip
SCOPE_RESERVED: dict[str, tuple[frozenset[str], str]] = {
    "main": (_LISTS, "moves in the lists"),
    "peek": (_SCROLL, "scrolls the peek"),
    "peek_prompt": (_INPUT, "edits the prompt's text"),
    "filter": (_INPUT, "edits the filter's text"),
    "form": (_INPUT | {"up", "down"}, "edits the form's fields"),
    "confirm": (frozenset({"enter"}), "presses the focused button"),
    "download": (_INPUT, "edits the folder field or flips a switch"),
    "theme": (_LISTS - {"left", "right", "ctrl+home", "ctrl+end"}, "moves in the list of themes"),
    "help": (_SCROLL | {"home", "end"}, "scrolls the help"),
    "history": (_LISTS, "moves in the list of jobs"),
    "details": (_SCROLL | {"home", "end"}, "scrolls the details"),
    "signal": (_LISTS - {"left", "right", "ctrl+home", "ctrl+end"}, "moves in the list of signals"),
    "time_limit": (_INPUT, "edits the time limit"),
    "columns": (_LISTS - {"left", "right", "ctrl+home", "ctrl+end"} | {"space"}, "moves in or ticks the columns"),
}
#: scopes with a text field: a key that types a character would be typed there, never reach the binding
TYPING_SCOPES = frozenset({"peek_prompt", "filter", "form", "download", "time_limit"})


def normalize_key(text: str) -> str:
    """One key in Textual's form: modifiers sorted as its key events have them, characters by name.

    Raises ValueError saying what is wrong with it.
    """
    item = text.strip()
    if not item:
        raise ValueError("an empty key (two commas, or one at an end?)")
    if item == "+":
        return "plus"
    *modifiers, base = item.split("+")
    mods = [m.lower() for m in modifiers]
    for mod in mods:
        if mod not in MODIFIERS:
            shown = f"{mod!r} is not a modifier" if mod else "a '+' with nothing on one side (write 'plus' for the key)"
            raise ValueError(f"{item!r}: {shown}; modifiers are {', '.join(MODIFIERS)}")
    if len(set(mods)) != len(mods):
        raise ValueError(f"{item!r}: a modifier given twice")
    if not base:
        raise ValueError(f"{item!r}: no key after the modifiers (write 'plus' for the '+' key)")
    if len(base) == 1:
        if not base.isprintable() or base.isspace():
            raise ValueError(f"{item!r}: not a key (write 'space' for the space bar)")
        name = character_key(base)
    else:
        name = base.lower()
        if name not in NAMED_KEYS and name not in CHARACTER_KEYS:
            raise ValueError(
                f"{item!r}: {base!r} is not a key name; use a character or one of escape, enter, delete, "
                "insert, home, end, pageup, pagedown, up, down, left, right, space, f1-f24, slash, colon, ..."
            )
    return "+".join([*sorted(mods), name])


def parse_keys(value: str) -> tuple[str, ...]:
    """A comma-separated key string as normalized keys (each once); ValueError when malformed."""
    if not value.strip():
        raise ValueError("expected one or more keys such as 'ctrl+n' or 'x,delete', got an empty string")
    keys = tuple(normalize_key(item) for item in value.split(","))
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"key {key!r} is given twice")
    return keys


def typed(key: str) -> bool:
    """The key types a character into a text field (no modifier but shift, a character or space)."""
    return key == "space" or ("+" not in key and (len(key) == 1 or key in CHARACTER_KEYS))


def parse_keymap(table: Any, path: str | None = None) -> dict[str, str]:
    """The ``[keys]`` table, checked: action id -> its keys, in the form ``App.set_keymap`` takes.

    The first problem raises one ConfigError naming the file, the ``keys.ID``
    entry and what is wrong: an unknown action, a value that is not a string of
    keys, a key the scope's widgets already take, or a key two actions of one
    scope would share (a default key of an action the table does not move away
    counts as taken).
    """
    if not isinstance(table, Mapping):
        raise ConfigError('expected a [keys] table of action = "keys"', path=path, key="keys")
    keymap: dict[str, tuple[str, ...]] = {}
    for action_id, value in table.items():
        where = f"keys.{action_id}"
        if action_id not in ACTIONS:
            raise ConfigError(
                f"unknown action; known: {', '.join(ACTIONS)} (README, Keys; '?' in the app)", path=path, key=where
            )
        if not isinstance(value, str):
            raise ConfigError(
                f"expected a string of keys such as \"ctrl+n\" or \"x,delete\", got {value!r}", path=path, key=where
            )
        try:
            keymap[action_id] = parse_keys(value)
        except ValueError as exc:
            raise ConfigError(str(exc), path=path, key=where) from None
    for action_id, keys in keymap.items():
        scope = ACTIONS[action_id].scope
        reserved, why = SCOPE_RESERVED[scope]
        for key in keys:
            if key in RESERVED_EVERYWHERE:
                message = f"key {key!r} is not free: it {RESERVED_EVERYWHERE[key]}"
            elif key in reserved:
                message = f"key {key!r} is not free in {SCOPES[scope]}: it {why}"
            elif scope in TYPING_SCOPES and typed(key):
                message = f"key {key!r} would be typed into {SCOPES[scope]}; use a key with ctrl, alt or a function key"
            else:
                continue
            raise ConfigError(message, path=path, key=f"keys.{action_id}")
    _check_conflicts(keymap, path)
    return {action_id: ",".join(keys) for action_id, keys in keymap.items()}


def _check_conflicts(keymap: Mapping[str, tuple[str, ...]], path: str | None) -> None:
    """Two actions of one scope on one key: the user's and another one's (remapped or default)."""
    for action_id, keys in keymap.items():
        scope = ACTIONS[action_id].scope
        for other_id, other in ACTIONS.items():
            if other_id == action_id or other.scope != scope:
                continue
            taken = keymap.get(other_id) or default_keys(other_id)
            for key in keys:
                if key in taken:
                    how = (
                        f"is also given to {other_id!r}"
                        if other_id in keymap
                        else f"is {other_id!r}'s default: remap {other_id!r} too, or choose another key"
                    )
                    raise ConfigError(f"key {key!r} {how} ({SCOPES[scope]})", path=path, key=f"keys.{action_id}")


def default_keys(action_id: str) -> tuple[str, ...]:
    return parse_keys(ACTIONS[action_id].keys)


def effective_keys(action_id: str, keymap: Mapping[str, str]) -> tuple[str, ...]:
    """The keys that trigger an action: the user's when remapped, else the default ones."""
    return parse_keys(keymap[action_id]) if action_id in keymap else default_keys(action_id)


def actions_of(scope: str) -> dict[str, KeyAction]:
    return {action_id: a for action_id, a in ACTIONS.items() if a.scope == scope}


def markdown_actions_table() -> str:
    """The README's table of the ``[keys]`` names (tests/test_keys.py keeps the two equal)."""
    lines = ["| name | default | where | does |", "|---|---|---|---|"]
    for action_id, action in ACTIONS.items():
        keys = ", ".join(f"`{key}`" for key in action.keys.split(","))
        lines.append(f"| `{action_id}` | {keys} | {SCOPES[action.scope]} | {action.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m batchdeck.backends.engine.keys` prints the table
    print(markdown_actions_table(), end="")
