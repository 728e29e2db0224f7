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
import threading
from collections.abc import Iterable
from pathlib import Path

from ..errors import BatchdeckError, JobNotFound
from ..model import JobRecord, RunState

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
CREATE INDEX IF NOT EXISTS jobs_cluster_state ON jobs (cluster, state);
"""
# Every write stamps its rows with the next change number, so a reader (the app)
# can reload just the rows another process changed since it last looked.
SEQ_COLUMN = "ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0"
SEQ_INDEX = "CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq)"
# The app's first frame reads the newest jobs only.
CREATED_INDEX = "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created)"


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
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "seq" not in columns:
                self._db.execute(SEQ_COLUMN)
            self._db.execute(SEQ_INDEX)
            self._db.execute(CREATED_INDEX)
            # The engine reads and writes from worker threads so a big poll never
            # blocks the app's event loop; one connection, one writer at a time.
            self._lock = threading.RLock()
        except (OSError, sqlite3.Error) as exc:
            raise BatchdeckError(f"cannot open the job journal {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def new_id(self) -> str:
        while True:
            candidate = new_job_id()
            with self._lock:
                taken = self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (candidate,)).fetchone()
            if not taken:
                return candidate

    def save(self, job: JobRecord) -> None:
        """Insert or replace the record (committed when this returns)."""
        self.save_many([job])

    def save_many(self, jobs: Iterable[JobRecord]) -> None:
        """Insert or replace records in one transaction (committed when this returns)."""
        rows = [(j.id, j.cluster, j.state.value, j.created, json.dumps(j.to_dict())) for j in jobs]
        if not rows:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # Inside the write lock, so change numbers grow in commit order.
                    seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
                    self._db.executemany(
                        "INSERT INTO jobs (id, cluster, state, created, record, seq) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET cluster=excluded.cluster, state=excluded.state, "
                        "record=excluded.record, seq=excluded.seq",
                        [(*row, seq) for row in rows],
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot write to the job journal {self.path}: {exc}") from exc

    def get(self, job_id: str) -> JobRecord:
        with self._lock:
            row = self._db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r} in the journal ({self.path})")
        return JobRecord.from_dict(json.loads(row[0]))

    def find(self, prefix: str) -> JobRecord:
        """A job by its id or an unambiguous prefix of it."""
        with self._lock:
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

    def jobs(self, cluster: str | None = None, states: Iterable[RunState] | None = None) -> list[JobRecord]:
        """Records in creation order, optionally only one cluster's and only some states'."""
        query = "SELECT record FROM jobs"
        where: list[str] = []
        params: list[str] = []
        if cluster is not None:
            where.append("cluster = ?")
            params.append(cluster)
        if states is not None:
            wanted = [s.value for s in states]
            where.append(f"state IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created", params).fetchall()
        return [JobRecord.from_dict(json.loads(r[0])) for r in rows]

    def data_version(self) -> int:
        """Changes when another connection (the CLI, a second app) committed a write; not for our own."""
        try:
            with self._lock:
                return int(self._db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot read the job journal {self.path}: {exc}") from exc

    def last_change(self) -> int:
        """The change number of the newest write (0 for an empty journal)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0])

    def changed_since(self, seq: int) -> tuple[list[JobRecord], int]:
        """Records written after change number ``seq``, and the newest change number seen."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record, seq FROM jobs WHERE seq > ? ORDER BY created", (seq,)
            ).fetchall()
        newest = max((int(r[1]) for r in rows), default=seq)
        return [JobRecord.from_dict(json.loads(r[0])) for r in rows], newest

    def recent(self, limit: int) -> list[JobRecord]:
        """The ``limit`` newest records, in creation order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM (SELECT record, created FROM jobs ORDER BY created DESC LIMIT ?) "
                "ORDER BY created",
                (limit,),
            ).fetchall()
        return [JobRecord.from_dict(json.loads(r[0])) for r in rows]
