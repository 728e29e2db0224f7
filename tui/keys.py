"""Textual bindings built from the one list of actions (backends/engine/keys.py).

The screens take their ``BINDINGS`` from here, each with the action's id, so
Textual's keymap (``App.set_keymap``, fed from the ``[keys]`` table) moves them
and the footer follows. Text that names a key (the help, a button's label) asks
``shown_keys`` for the keys in effect, never the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import App
from textual.binding import Binding, BindingType
from textual.keys import format_key

from ..backends.engine.keys import actions_of, effective_keys


def bindings(scope: str) -> list[BindingType]:
    """The Binding objects of one scope, each carrying its action id for the keymap."""
    return [
        Binding(action.keys, action.action, action.label, show=action.show, id=action_id)
        for action_id, action in actions_of(scope).items()
    ]


def keymap(app: App[Any]) -> Mapping[str, str]:
    """The keymap Textual applies: ``set_keymap`` stores it here and Textual 8 has no public getter."""
    return app._keymap


def shown_keys(app: App[Any], action_id: str, separator: str = " / ") -> str:
    """An action's keys in effect, as the footer writes them (``^n``, ``?``, ``del``)."""
    return separator.join(
        app.get_key_display(Binding(key, "")) for key in effective_keys(action_id, keymap(app))
    )


def key_text(app: App[Any], action_id: str, separator: str = " / ") -> str:
    """An action's keys in effect as words, for text (``ctrl+s``, ``esc``, ``?``, ``end``)."""
    words = []
    for key in effective_keys(action_id, keymap(app)):
        *modifiers, base = key.split("+")
        words.append("+".join([*modifiers, format_key(base)]))
    return separator.join(words)


def focus_keys_in_order() -> list[BindingType]:
    """Tab / shift+tab as priority bindings, for a form that is typed into fast.

    Textual's own Tab binding sits on the screen: the key first goes to the focused
    field's queue and bubbles up, while the app already hands the next characters to
    that same field, so a busy screen lets them land before the focus moves (#15).
    A priority binding moves the focus while the app reads the key, in order with
    every character after it. They are Textual's reserved keys, not remappable actions.
    """
    return [
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]
