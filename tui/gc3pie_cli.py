"""``batchdeck import-gc3pie [PATH] [--write]``: a GC3Pie configuration as batchdeck clusters."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..backends.engine.config import default_config_path
from ..backends.engine.gc3pie_import import (
    DEFAULT_GC3PIE_PATH,
    convert_gc3pie,
    plan_merge,
    read_gc3pie_file,
    render_toml,
    shown,
    write_atomically,
)
from ..backends.errors import ConfigError

PROG = "batchdeck"


def run_import(path: str | None, write: bool, config: str | None) -> int:
    """Print the converted tables, or merge them into batchdeck's configuration; 1 if anything was wrong.

    Raises BatchdeckError (one line) when the file cannot be imported at all.
    """
    source = path or os.path.expanduser(DEFAULT_GC3PIE_PATH)
    result = convert_gc3pie(read_gc3pie_file(source), source)
    for problem in result.problems:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    if not write:
        sys.stdout.write(render_toml(result))
        return 1 if result.problems else 0
    target = Path(config) if config else default_config_path()
    existing = None
    if target.exists():
        try:
            existing = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the file, so nothing was merged into it: {exc}", path=str(target)) from None
    plan = plan_merge(existing, result, str(target))
    where = shown(str(target))
    for name in plan.kept:
        print(f"skipped cluster {shown(name)!r}: {where} already has it (not overwritten)")
    for name in plan.auths_differing:
        print(
            f"kept [auth.{shown(name)}]: {where} already has one with other keys (not overwritten); "
            "the new clusters using it get GC3Pie's login keys written into them"
        )
    if plan.text != (existing or ""):
        try:
            write_atomically(target, plan.text)
        except OSError as exc:
            raise ConfigError(f"cannot write the file: {exc.strerror or exc}", path=str(target)) from None
    for name in plan.auths_added:
        print(f"added login [auth.{shown(name)}] to {where}")
    for name in plan.auths_reused:
        print(f"reused login [auth.{shown(name)}]: {where} already has it with the same keys")
    added = set(plan.added)
    for cluster in result.clusters:
        if cluster.name in added:
            disabled = " (disabled, as in GC3Pie)" if cluster.settings.get("enabled") is False else ""
            print(f"added cluster {shown(cluster.name)!r}{disabled} to {where}")
    # the file has them as comments too, but a key left behind must not go unnoticed
    for line in result.unmapped():
        print(shown(line))
    for section, reason in result.skipped:
        print(f"not imported [{shown(section)}]: {shown(reason)}")
    if not plan.added:
        print(f"no new cluster for {where}")
    return 1 if result.problems else 0
