"""What ``free`` may delete: only result files batchdeck has a local copy of.

A ``get`` records each file it copied (name, size, mtime, into which folder).
Before a sandbox is deleted, every result file in it must have such a copy that
is still there with the same size and mtime (downloads keep the remote mtime);
otherwise ``free`` refuses and names what would be lost. Files a ``get`` skipped
(because a file of that name was already in the folder) are not copies: the
folder's file may be anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BatchdeckError
from ..model import JobRecord
from ..schedulers.base import BatchSystem, TransferReport, _is_control
from ..schedulers.transfer_plan import expand_folders

#: a download keeps the remote mtime; allow for float rounding across transports
MTIME_SLACK = 1.0
#: how many would-be-lost names the refusal lists
MAX_LISTED = 10


class WouldLoseData(BatchdeckError):
    """``free`` would delete result files that have no local copy."""

    def __init__(self, job: JobRecord, lost: list[str]) -> None:
        self.lost = lost
        names = ", ".join(lost[:MAX_LISTED]) + (f", ... ({len(lost)} in all)" if len(lost) > MAX_LISTED else "")
        super().__init__(
            f"refusing to free job {job.id}: {len(lost)} result file(s) have no local copy fetched by batchdeck: "
            f"{names} (fetch them with 'batchdeck get {job.id} DIR', or free with --force to lose them)"
        )


@dataclass(frozen=True)
class FetchedFile:
    """One file a get copied: sandbox-relative name, local folder, and what it was when copied."""

    name: str
    folder: str
    size: int
    mtime: float


def copied_files(report: TransferReport, folder: str | os.PathLike[str]) -> list[FetchedFile]:
    """The files a get copied, as they now are in ``folder`` (skipped and failed ones are not)."""
    base = Path(folder).absolute()
    files = []
    for name in report.copied:
        try:
            st = (base / name).stat()
        except OSError:
            continue
        files.append(FetchedFile(name, str(base), st.st_size, st.st_mtime))
    return files


def _has_copy(name: str, size: int, mtime: float, fetched: Iterable[FetchedFile]) -> bool:
    for record in fetched:
        if record.name != name:
            continue
        try:
            st = (Path(record.folder) / name).stat()
        except OSError:
            continue
        if st.st_size == size and abs(st.st_mtime - mtime) <= MTIME_SLACK:
            return True
    return False


async def files_free_would_lose(backend: BatchSystem, job: JobRecord, fetched: list[FetchedFile]) -> list[str]:
    """Result files in the job's sandbox with no intact local copy batchdeck fetched."""
    if not job.sandbox:
        return []
    await backend.connect()
    listing = {
        entry.path: entry for entry in await backend.transport.list_tree(job.sandbox) if not _is_control(entry.path)
    }
    # a declared output folder counts as the files under it, or free would forget them
    wanted = expand_folders(backend.result_files(job), listing)
    names = sorted(listing) if wanted is None else [n for n in wanted if n in listing]
    return [n for n in names if not _has_copy(n, listing[n].size, listing[n].mtime, fetched)]
