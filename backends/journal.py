"""The job journal: every run record, in SQLite, written before it is reported.

WAL mode lets the app and CLI invocations share one journal; every write is its
own committed transaction, so a crash loses nothing that was shown to the user.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import string
from pathlib import Path

from .errors import BatchdeckError, JobNotFound
from .model import JobRecord

_ID_ALPHABET = string.ascii_lowercase + string.digits

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_cluster ON jobs (cluster);
"""


def default_data_dir() -> Path:
    override = os.environ.get("BATCHDECK_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("batchdeck", appauthor=False))


def new_job_id() -> str:
    """8 random characters: short enough to type, unique in practice (36^8)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


class Journal:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_data_dir() / "journal.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BatchdeckError(f"cannot open the job journal {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def new_id(self) -> str:
        while True:
            candidate = new_job_id()
            if not self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (candidate,)).fetchone():
                return candidate

    def save(self, job: JobRecord) -> None:
        """Insert or replace the record (committed when this returns)."""
        try:
            self._db.execute(
                "INSERT INTO jobs (id, cluster, state, created, record) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET cluster=excluded.cluster, state=excluded.state, "
                "record=excluded.record",
                (job.id, job.cluster, job.state.value, job.created, json.dumps(job.to_dict())),
            )
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot write job {job.id} to the journal {self.path}: {exc}") from exc

    def get(self, job_id: str) -> JobRecord:
        row = self._db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r} in the journal ({self.path})")
        return JobRecord.from_dict(json.loads(row[0]))

    def find(self, prefix: str) -> JobRecord:
        """A job by its id or an unambiguous prefix of it."""
        rows = self._db.execute(
            "SELECT record FROM jobs WHERE id = ? OR id LIKE ? ORDER BY id = ? DESC LIMIT 3",
            (prefix, prefix.replace("%", "").replace("_", "") + "%", prefix),
        ).fetchall()
        if not rows:
            raise JobNotFound(f"no job {prefix!r} in the journal ({self.path})")
        first = JobRecord.from_dict(json.loads(rows[0][0]))
        if first.id != prefix and len(rows) > 1:
            raise JobNotFound(f"job id prefix {prefix!r} is ambiguous")
        return first

    def jobs(self, cluster: str | None = None) -> list[JobRecord]:
        if cluster is None:
            rows = self._db.execute("SELECT record FROM jobs ORDER BY created").fetchall()
        else:
            rows = self._db.execute(
                "SELECT record FROM jobs WHERE cluster = ? ORDER BY created", (cluster,)
            ).fetchall()
        return [JobRecord.from_dict(json.loads(r[0])) for r in rows]

    def delete(self, job_id: str) -> None:
        self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
