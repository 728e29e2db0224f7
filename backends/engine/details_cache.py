"""The app's details of one job (``batchdeck show``'s), kept while the job is unchanged.

A details view fetches on demand (one command on the cluster); opening it again for a job whose
row reads the same (state, scheduler state, reason) shows the copy held, and any change in the
row, or an action on the job, makes the next look fetch again.
"""

from __future__ import annotations

from collections.abc import Hashable

from ..model import JobDetails


class DetailsCache:
    """Row key -> (the job's fingerprint when fetched, its details)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[Hashable, JobDetails]] = {}

    def get(self, key: str, fingerprint: Hashable) -> JobDetails | None:
        held = self._held.get(key)
        return held[1] if held is not None and held[0] == fingerprint else None

    def put(self, key: str, fingerprint: Hashable, details: JobDetails) -> None:
        self._held[key] = (fingerprint, details)

    def forget(self, key: str) -> None:
        self._held.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._held
