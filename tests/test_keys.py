"""The [keys] table: remaps checked at load (one line each), and the app using them.

The checks that keep backends/engine/keys.py (plain Python) true to Textual are
here too: its key names, its list of keys the widgets take, and that every
binding of the app comes from it.
"""

from __future__ import annotations

import io
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.keys import Keys, _character_to_key, _normalize_key_list
from textual.widgets import Button, DataTable, Input, OptionList, Select, SelectionList, Switch
from textual.widgets._footer import FooterKey

from batchdeck.backends.engine.config import load_config
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.keys import (
    ACTIONS,
    CHARACTER_KEYS,
    NAMED_KEYS,
    RESERVED_EVERYWHERE,
    SCOPE_RESERVED,
    SCOPES,
    TYPING_SCOPES,
    character_key,
    default_keys,
    markdown_actions_table,
    parse_keymap,
)
from batchdeck.backends.errors import ConfigError
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.columns_screen import ColumnsScreen
from batchdeck.tui.confirm_screen import ConfirmScreen
from batchdeck.tui.details_screen import DetailsScreen
from batchdeck.tui.download_screen import DownloadScreen
from batchdeck.tui.help_screen import HelpScreen
from batchdeck.tui.history_screen import HistoryScreen
from batchdeck.tui.main_screen import FilterInput, MainScreen
from batchdeck.tui.peek_view import PeekLog, PeekPrompt
from batchdeck.tui.screenshots import wait_for
from batchdeck.tui.signal_screen import SignalScreen
from batchdeck.tui.submit_screen import SubmitScreen
from batchdeck.tui.theme_screen import ThemeScreen
from batchdeck.tui.time_limit_screen import TimeLimitScreen

# ---------------------------------------------------------------- the loader


def write(tmp_path: Path, keys: str) -> Path:
    path = tmp_path / "batchdeck.toml"
    path.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sb"}"\n\n[keys]\n{keys}\n')
    return path


def test_a_remap_is_read_in_textuals_form(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'submit = "ctrl+n"\ncancel = "x,delete"\nhelp = "?, F1"\n'
                                          'refresh = "shift+ctrl+r"'))
    assert config.keys == {"submit": "ctrl+n", "cancel": "x,delete", "help": "question_mark,f1",
                           "refresh": "ctrl+shift+r"}  # fmt: skip
    # what Textual's own keymap normalisation would make of it, unchanged
    assert all(_normalize_key_list(keys) == keys for keys in config.keys.values())


def test_moving_keys_around_is_no_conflict(tmp_path: Path) -> None:
    # submit takes cancel's default key, and cancel moves away from it
    config = load_config(write(tmp_path, 'submit = "c"\ncancel = "s"'))
    assert config.keys == {"submit": "c", "cancel": "s"}
    # the same key in two scopes is fine: the peek pane's / already shadows the main screen's
    assert load_config(write(tmp_path, 'peek_goto = "g"\npeek_top = "home"')).keys["peek_goto"] == "g"


def test_no_keys_table_keeps_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "batchdeck.toml"
    path.write_text('[clusters.localhost]\ntype = "local"\n')
    assert load_config(path).keys == {}


@pytest.mark.parametrize(
    "table, entry, message",
    [
        ('sumbit = "x"', "sumbit", "unknown action; known: submit, cancel, peek,"),
        ('submit = ""', "submit", "expected one or more keys such as 'ctrl+n' or 'x,delete', got an empty string"),
        ('submit = "  "', "submit", "got an empty string"),
        ('submit = "x,,y"', "submit", "an empty key (two commas, or one at an end?)"),
        ('submit = "ctrl+"', "submit", "'ctrl+': no key after the modifiers"),
        ('submit = "cmd+x"', "submit", "'cmd+x': 'cmd' is not a modifier; modifiers are alt, ctrl,"),
        ('submit = "ctrl+ctrl+x"', "submit", "'ctrl+ctrl+x': a modifier given twice"),
        ('submit = "esc"', "submit", "'esc': 'esc' is not a key name; use a character or one of escape,"),
        ('submit = "x,x"', "submit", "key 'x' is given twice"),
        ("submit = 5", "submit", 'expected a string of keys such as "ctrl+n" or "x,delete", got 5'),
        ('submit = ["x"]', "submit", "got ['x']"),
        ("submit = true", "submit", "got True"),
        ('submit = "c"', "submit",
         "key 'c' is 'cancel''s default: remap 'cancel' too, or choose another key (the main screen)"),
        ('submit = "x"\ncancel = "x"', "submit", "key 'x' is also given to 'cancel' (the main screen)"),
        ('peek_next = "g"', "peek_next", "key 'g' is 'peek_top''s default: remap 'peek_top' too"),
        ('confirm_yes = "escape"', "confirm_yes", "key 'escape' is 'confirm_no''s default"),
        ('submit = "tab"', "submit", "key 'tab' is not free: it moves between panes"),
        ('quit = "ctrl+q"', "quit", "key 'ctrl+q' is not free: it quits (Textual)"),
        ('submit = "enter"', "submit", "key 'enter' is not free in the main screen: it moves in the lists"),
        ('form_submit = "x"', "form_submit", "key 'x' would be typed into the submit form;"),
        ('form_submit = "ctrl+a"', "form_submit", "key 'ctrl+a' is not free in the submit form: it edits"),
    ],
)
def test_a_bad_entry_is_one_line(tmp_path: Path, table: str, entry: str, message: str) -> None:
    path = write(tmp_path, table)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}, key 'keys.{entry}': "), text
    assert message in text, text


def test_a_keys_value_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "batchdeck.toml"
    path.write_text('keys = "ctrl+n"\n')
    with pytest.raises(ConfigError, match=r"key 'keys': expected a \[keys\] table"):
        load_config(path)


def test_the_cli_refuses_a_bad_keys_table_in_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, 'submit = "c"')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.run([sys.executable, "-m", "batchdeck.tui.cli", "--config", str(bad), "list"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    # as every error in the file itself: exit 2 before any command runs
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        f"batchdeck: error: {bad}, key 'keys.submit': key 'c' is 'cancel''s default: remap 'cancel' too, "
        "or choose another key (the main screen)"
    ]


# ------------------------------------------------- keys.py against Textual


def test_key_names_are_textuals() -> None:
    assert NAMED_KEYS <= {key.value for key in Keys}
    for character in string.ascii_letters + string.digits + string.punctuation:
        assert character_key(character) == _character_to_key(character)
    assert set(CHARACTER_KEYS.values()) == set(string.punctuation)


def _keys_of(*classes: type) -> set[str]:
    keys: set[str] = set()
    for cls in classes:
        for binding in cls.BINDINGS:
            key = binding.key if isinstance(binding, Binding) else binding[0]
            keys.update(k.strip() for k in key.split(","))
    return keys


SCOPE_WIDGETS: dict[str, tuple[type, ...]] = {
    "main": (DataTable, OptionList),
    "peek": (ScrollableContainer,),
    "peek_prompt": (Input,),
    "filter": (Input,),
    "form": (Input, Select, Button),
    "confirm": (Button,),
    "download": (Input, Switch, Button),
    "theme": (OptionList,),
    "help": (ScrollableContainer,),
    "history": (DataTable,),
    "details": (ScrollableContainer,),
    "signal": (OptionList,),
    "time_limit": (Input,),
    "columns": (SelectionList,),
}


@pytest.mark.parametrize("scope", list(SCOPES))
def test_the_reserved_keys_are_the_widgets_own(scope: str) -> None:
    own = {key for action_id, a in ACTIONS.items() if a.scope == scope for key in default_keys(action_id)}
    widgets = _keys_of(*SCOPE_WIDGETS[scope]) - own - set(RESERVED_EVERYWHERE)
    assert widgets <= SCOPE_RESERVED[scope][0], widgets - SCOPE_RESERVED[scope][0]


def test_textuals_own_keys_are_reserved_everywhere() -> None:
    from textual.app import App
    from textual.screen import Screen

    assert _keys_of(App, Screen) | {App.COMMAND_PALETTE_BINDING} <= set(RESERVED_EVERYWHERE) | {"tab", "shift+tab"}


def test_the_defaults_load_and_clash_with_nothing() -> None:
    everything = {action_id: action.keys for action_id, action in ACTIONS.items()}
    assert set(parse_keymap(everything)) == set(ACTIONS)
    assert TYPING_SCOPES <= set(SCOPES)


def test_every_binding_of_the_app_is_one_of_the_actions() -> None:
    classes = (MainScreen, FilterInput, PeekLog, PeekPrompt, SubmitScreen, ConfirmScreen, DownloadScreen,
               ThemeScreen, HelpScreen, HistoryScreen, DetailsScreen, SignalScreen, TimeLimitScreen,
               ColumnsScreen)  # fmt: skip
    seen: dict[str, str] = {}
    for cls in classes:
        for binding in cls.BINDINGS:
            assert isinstance(binding, Binding), (cls, binding)
            if binding.id is None and binding.key in RESERVED_EVERYWHERE and binding.priority:
                continue  # Textual's own focus keys, made priority so a fast typist's keys stay in order
            assert binding.id in ACTIONS, (cls, binding)
            seen[binding.id] = binding.key
    assert seen == {action_id: action.keys for action_id, action in ACTIONS.items()}


def test_the_readme_lists_every_action() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- actions:start -->\n", 1)[1].split("<!-- actions:end -->", 1)[0]
    assert block == markdown_actions_table()


# ---------------------------------------------------------------- the app


@pytest.fixture
def remapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config" / "batchdeck.toml"
    config.parent.mkdir()
    config.write_text(
        f'[clusters.local]\ntype = "local"\nsandbox_root = "{tmp_path / "sb"}"\n\n'
        '[keys]\nsubmit = "ctrl+n"\nhelp = "f1"\nform_cancel = "ctrl+g"\n'
    )
    monkeypatch.setenv("BATCHDECK_CONFIG", str(config))
    monkeypatch.setenv("BATCHDECK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _text(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=200)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


async def test_a_remapped_key_acts_and_the_old_one_does_not(remapped: Path) -> None:
    app = BatchdeckApp(Deck.open(), ui_settings=remapped / "ui.json", auto_refresh=False, owns_deck=True)
    async with app.run_test(size=(140, 42)) as pilot:
        await pilot.pause()
        footer = {key.description: key.key_display for key in app.screen.query(FooterKey)}
        assert footer["Submit"] == "^n" and footer["Help"] == "f1" and footer["Cancel"] == "c"
        # The old keys do nothing: had "s" opened the form, "?" would type into it;
        # had "?" still been help, f1 would find the help screen already up.
        await pilot.press("s", "question_mark", "f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert [type(s) for s in app.screen_stack] == [MainScreen, HelpScreen]
        help_text = "".join(_text(static.content) for static in app.screen.query("Static"))
        assert "ctrl+n" in help_text and " s " not in help_text.split("submit a job")[0]
        assert "f1" in help_text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        assert "Cancel (ctrl+g)" in str(app.screen.query_one("#cancel", Button).label)
        await pilot.press("escape")  # no longer the form's cancel key
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert len(app.screen_stack) == 1
        await pilot.press("q")
