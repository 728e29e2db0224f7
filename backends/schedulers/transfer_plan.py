"""Which result files a download copies and which it keeps: one pure decision.

``BatchSystem.get_results`` lists the sandbox once, stats the local copies and asks
``plan_download``; the transfer itself is the transport's business. Kept apart so
the rule (overwrite / changed_only) is written, and tested, in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileFacts:
    """What the decision needs to know of one file: its size and modification time."""

    size: int
    mtime: float


@dataclass
class DownloadPlan:
    """Sandbox-relative names, sorted into what to copy, what to keep and what is missing."""

    copy: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def expand_folders(wanted: Sequence[str] | None, remote: Collection[str]) -> list[str] | None:
    """``wanted`` with each name that is a folder of the sandbox replaced by the files under it.

    A declared output may be a folder (``--output results``); the listing holds
    files only (``remote``: its names), so without this it would read as missing. A name that is a file,
    or neither, stays as it is (the latter is reported missing). Order is kept,
    duplicates dropped. Raises nothing.
    """
    if wanted is None:
        return None
    names: list[str] = []
    for name in wanted:
        if name in remote:
            names.append(name)
            continue
        prefix = name.rstrip("/") + "/"
        inside = sorted(path for path in remote if path.startswith(prefix))
        names.extend(inside or [name])
    return list(dict.fromkeys(names))


def plan_download(
    wanted: Sequence[str] | None,
    remote: Mapping[str, FileFacts],
    local: Mapping[str, FileFacts],
    overwrite: bool,
    changed_only: bool,
) -> DownloadPlan:
    """Decide, name by name, what a download does.

    ``wanted`` lists the sandbox-relative names to fetch (None: every name of
    ``remote``, sorted); ``remote`` is the sandbox listing and ``local`` the files
    that already exist in the download folder, by the same names. A name absent
    from ``remote`` is missing. A file with no local copy is always copied; an
    existing one is kept unless ``overwrite``; with ``overwrite`` and
    ``changed_only`` it is replaced only when its size differs or the remote copy
    is newer, with ``overwrite`` alone always. Raises nothing.
    """
    plan = DownloadPlan()
    names = sorted(remote) if wanted is None else list(wanted)
    for name in names:
        source = remote.get(name)
        if source is None:
            plan.missing.append(name)
            continue
        present = local.get(name)
        if present is None:
            plan.copy.append(name)
        elif not overwrite:
            plan.skip.append(name)
        elif changed_only and present.size == source.size and source.mtime <= present.mtime:
            plan.skip.append(name)
        else:
            plan.copy.append(name)
    return plan
