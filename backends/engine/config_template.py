"""``batchdeck config init``: a commented configuration file naming every key.

The template is made from the settings' own declarations (settings.py, and
each scheduler's ``settings_class``): every key's doc, its default and the
value it is shown with (its ``example``, else its default) come from its field,
so a key added there is in the template too. Every key is commented out, so the
file as written configures nothing and loads to the built-in ``localhost``
only. Uncommenting every ``# `` line (not the ``##`` prose) gives a file that
loads without an error: one example cluster of each kind.

Each top-level table is one entry of ``SECTIONS``; a new table of the loader
(``config.TABLES``) is one more entry there.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config import AUTH_TYPES
from .gc3pie_import import toml_string
from .settings import (
    ClusterSettings,
    SchedulerSettings,
    auth_keys,
    default_of,
    key_fields,
    settings_class_of,
    shown_default,
)

WIDTH = 100
#: the example cluster's and the example login's names
EXAMPLE_CLUSTER = "hpc"
EXAMPLE_AUTH = "me"

HEADER = """\
## batchdeck configuration, written by `batchdeck config init`.
##
## Every table and key batchdeck accepts is below, commented out: as written, this file
## configures no cluster and batchdeck runs jobs on its built-in `localhost` cluster (local
## processes) only. Uncomment a table and the keys you need (the "# " lines; the "##" lines
## explain the key under them and give its default). A value shown is the key's default, or an
## example where the default is not a value. `batchdeck config check` loads the file as the app does.
"""


def toml_value(value: Any) -> str:
    """One value as TOML on one line (a string with a newline keeps it as ``\\n``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return toml_string(str(value))


def shown_value(f: Any) -> Any:
    """The value the template writes for a key: its example, else its default."""
    if f.metadata.get("example") is not None:
        return f.metadata["example"]
    value = default_of(f)
    if value is None or value == ():
        raise ValueError(f"key {f.name!r} has neither a default nor an example for the template")
    return value


def _prose(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="## ", subsequent_indent="## ", break_on_hyphens=False)


def _key_lines(f: Any) -> list[str]:
    doc = f"{f.metadata['doc']}; default: {shown_default(f)}"
    return [*_prose(doc), f"# {f.name} = {toml_value(shown_value(f))}"]


def _keys(items: Iterable[Any]) -> list[str]:
    lines: list[str] = []
    for f in items:
        lines += _key_lines(f)
    return lines


def _rule(title: str) -> str:
    return f"## {'=' * 8} {title} ".ljust(WIDTH, "=")


def auth_section() -> list[str]:
    """``[auth.NAME]``: SSH login keys shared by clusters."""
    kinds = " or ".join(repr(k) for k in AUTH_TYPES)
    return [
        _rule("[auth.NAME]"),
        *_prose(
            "SSH login details shared by clusters (GC3Pie's [auth/NAME]): every cluster with "
            'auth = "NAME" takes these keys, its own keys winning. type "none" (GC3Pie\'s noauth) '
            "holds no keys."
        ),
        f"# [auth.{EXAMPLE_AUTH}]",
        *_prose(f"{kinds}: what kind of login this is"),
        '# type = "ssh"',
        *_keys(auth_keys().values()),
    ]


def _scheduler_types() -> list[tuple[str, type[SchedulerSettings]]]:
    from ..schedulers.registry import BACKENDS

    return [(name, settings_class_of(name)) for name in sorted(BACKENDS)]


def clusters_section() -> list[str]:
    """``[clusters.NAME]``: one table per cluster, its keys grouped as ClusterSettings groups them."""
    lines = [
        _rule("[clusters.NAME]"),
        *_prose(
            "One table per cluster; its keys are flat, as in GC3Pie's [resource/NAME] sections. The "
            "built-in localhost cluster is there unless a [clusters.localhost] table configures it or "
            "disables it (enabled = false). The default cluster is the file's localhost, else its first."
        ),
        f"# [clusters.{EXAMPLE_CLUSTER}]",
        *_keys(key_fields(ClusterSettings)),
    ]
    for f in fields(ClusterSettings):
        if not f.metadata.get("section"):
            continue
        section_class = type(default_of(f))
        if section_class is SchedulerSettings:
            continue  # each scheduler's own keys: in a table of that type, below
        lines += ["##", f"## -- {f.name}: {f.metadata['doc']}", *_keys(key_fields(section_class))]
    for type_name, settings_class in _scheduler_types():
        own = list(key_fields(settings_class))
        if not own:
            continue
        lines += [
            "",
            *_prose(f'Keys only a cluster of type "{type_name}" understands:'),
            f"# [clusters.{type_name}-example]",
            f"# type = {toml_value(type_name)}",
            *_keys(own),
        ]
    return lines


def keys_section() -> list[str]:
    """``[keys]``: every remappable action with its default keys (from keys.ACTIONS)."""
    from .keys import ACTIONS, SCOPES

    lines = [
        _rule("[keys]"),
        *_prose(
            "The app's keys, by action: one or more keys, comma separated (\"x,delete\"). Two actions "
            "of one place may not share a key; a conflict or an unknown action is refused at load."
        ),
        "# [keys]",
    ]
    for name, action in ACTIONS.items():
        lines += [*_prose(f"{action.description} ({SCOPES[action.scope]})"), f"# {name} = {toml_value(action.keys)}"]
    return lines


def templates_section() -> list[str]:
    """``[templates.NAME]``: named job presets (templates.JobTemplate's fields)."""
    from .templates import template_keys

    lines = [
        _rule("[templates.NAME]"),
        *_prose(
            "Named job presets, chosen with `batchdeck submit --template NAME`: what the command line "
            "gives wins over them. A template runs a script or a command, not both."
        ),
        "# [templates.train]",
    ]
    for key, f in template_keys().items():
        line = f"{key} = {toml_value(f.metadata['example'])}"
        lines += [*_prose(f.metadata["doc"])]
        # the script is the alternative to the command: shown, but not set by uncommenting
        lines.append(f"## {line}" if key == "script" else f"# {line}")
    return lines


#: the top-level tables in the order the template shows them: name -> its commented lines.
#: A new table of the loader (``config.TABLES``) is one more entry here.
SECTIONS: dict[str, Callable[[], list[str]]] = {
    "auth": auth_section,
    "clusters": clusters_section,
    "keys": keys_section,
    "templates": templates_section,
}


def render_template() -> str:
    parts = [HEADER.rstrip("\n")]
    for make in SECTIONS.values():
        parts.append("\n".join(make()))
    return "\n\n".join(parts) + "\n"


def write_new_config(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` as ``path`` (mode 0600) under a temporary name, then rename it into place.

    Without ``force`` an existing ``path`` is never replaced, even one made meanwhile (the
    temporary file is hard-linked, which fails if the name is taken). A missing parent folder
    is made private (0700). Raises ConfigError (one line) when it cannot.
    """
    where = str(path)
    if not force and (path.exists() or path.is_symlink()):
        raise ConfigError("already exists; not overwritten (--force replaces it)", path=where)
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {folder}: {exc.strerror or exc}", path=where) from None
    temp: str | None = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                raise ConfigError("already exists; not overwritten (--force replaces it)", path=where) from None
            except OSError:
                # a file system without hard links: the check above is all there is
                if path.exists() or path.is_symlink():
                    raise ConfigError("already exists; not overwritten (--force replaces it)", path=where) from None
                os.replace(temp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the file: {exc.strerror or exc}", path=where) from None
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
