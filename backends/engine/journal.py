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
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import BatchdeckError, JobNotFound
from ..model import JobRecord, RunState
from .retention import FetchedFile

_ID_ALPHABET = string.ascii_lowercase + string.digits
#: a job id argument shorter than this must match a job exactly
MIN_PREFIX = 4
#: how many matching ids an ambiguous-prefix message lists
MAX_CANDIDATES = 10
#: characters that select many jobs in SQL LIKE or a shell glob
WILDCARDS = "%_*?[]"
#: what a job's ``--env`` value reads as once it comes back from the journal
ENV_NOT_STORED = "<not stored: only in the job script>"

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
-- the files each get copied (see engine/retention.py): what free may delete
CREATE TABLE IF NOT EXISTS fetched (
    job_id TEXT NOT NULL,
    name TEXT NOT NULL,
    folder TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    PRIMARY KEY (job_id, name, folder)
);
-- a forgotten job's change number, so another process's view drops it too (see changed_since)
CREATE TABLE IF NOT EXISTS forgotten (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS forgotten_seq ON forgotten (seq);
"""
#: how long a forgotten job's mark is kept for other processes to see (the newest is always kept,
#: so change numbers never go back)
FORGOTTEN_KEPT = 7 * 24 * 3600.0
# Change numbers count writes and deletes alike: a delete of the newest row must not let the next
# write reuse a number a reader has already seen.
NEXT_SEQ = (
    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM jobs), 0), COALESCE((SELECT MAX(seq) FROM forgotten), 0)) + 1"
)
# Every write stamps its rows with the next change number, so a reader (the app)
# can reload just the rows another process changed since it last looked.
SEQ_COLUMN = "ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0"
SEQ_INDEX = "CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq)"
# The app's first frame reads the newest jobs only.
CREATED_INDEX = "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created)"


class MalformedRecord(BatchdeckError):
    """A journal row that is not a readable run record."""


class StaleRecord(BatchdeckError):
    """A write lost the race: the job's row changed (or went) since the copy being written was read."""

    def __init__(self, job_id: str, path: Path) -> None:
        super().__init__(f"job {job_id!r} was changed by another batchdeck process meanwhile ({path})")
        self.job_id = job_id


def default_data_dir() -> Path:
    override = os.environ.get("BATCHDECK_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("batchdeck", appauthor=False))


def _make_private(path: Path, mode: int) -> None:
    """Take group and other permissions off a file or folder of ours (if it exists and is ours)."""
    try:
        st = path.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(path, st.st_mode & mode)
    except FileNotFoundError:
        pass


def _stored(job: JobRecord) -> dict[str, Any]:
    """The record as the journal keeps it: ``--env`` names only, never their values.

    The values live only in the job script in the sandbox (mode 0600), which is all
    that needs them; the journal is read by every batchdeck process and copied in
    backups, so a ``DB_PASSWORD=...`` does not belong in it.
    """
    data = job.to_dict()
    del data["version"]  # the row's change number is the version; a copy in the text would go stale
    spec = data.get("spec") or {}
    if spec.get("environment"):
        spec["environment"] = {name: None for name in spec["environment"]}
    return data


def _loaded(data: Any) -> Any:
    spec = data.get("spec") if isinstance(data, dict) else None
    if isinstance(spec, dict) and isinstance(spec.get("environment"), dict):
        spec["environment"] = {k: ENV_NOT_STORED if v is None else v for k, v in spec["environment"].items()}
    return data


def new_job_id() -> str:
    """8 random characters: short enough to type, unique in practice (36^8)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


class Journal:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_data_dir() / "journal.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The journal names every job, sandbox and command: for the user only,
            # also when an older batchdeck (or the umask) made it readable to all.
            if path is None:
                _make_private(self.path.parent, 0o700)
            if not self.path.exists():
                # Only to create it private. Never on an existing journal: closing any descriptor
                # of the file drops every POSIX lock this process holds on it, so another
                # connection of this process would look closed to other processes (one of
                # them then deletes the -shm file under it: "disk I/O error").
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            for suffix in ("", "-wal", "-shm"):
                _make_private(Path(f"{self.path}{suffix}"), 0o600)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            #: job id -> why its row could not be read, for the rows jobs() skipped
            self.malformed: dict[str, str] = {}
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "seq" not in columns:
                try:
                    self._db.execute(SEQ_COLUMN)
                except sqlite3.OperationalError as exc:
                    # Another process opening the same older journal added it first.
                    if "duplicate column" not in str(exc):
                        raise
            self._db.execute(SEQ_INDEX)
            # Rows written before change numbers carry 0, which reads as "never written"
            # to a conditional write: give them a real one, once.
            if self._db.execute("SELECT 1 FROM jobs WHERE seq = 0 LIMIT 1").fetchone():
                self._db.execute(f"UPDATE jobs SET seq = ({NEXT_SEQ}) WHERE seq = 0")
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
        """Write the record if its row is still the version it was read at (committed when this returns).

        Raises ``StaleRecord`` when another process (or another copy) wrote the job
        meanwhile: see ``save_many``.
        """
        stale = self.save_many([job])
        if stale:
            raise StaleRecord(job.id, self.path)

    def save_many(self, jobs: Iterable[JobRecord]) -> list[JobRecord]:
        """Write records in one transaction, each only if unchanged since it was read; returns those that were not.

        A record read from the journal (``version`` > 0) replaces its row only while
        the row still carries that change number (``UPDATE ... WHERE id = ? AND seq = ?``);
        a new record (``version`` 0) is only inserted, never over an existing row. So a
        write made from an older copy never overwrites a newer transition another
        process wrote (a poll's answer over a cancel): the caller re-reads the row and
        decides. Written records get their new ``version``.
        """
        batch = list(jobs)
        if not batch:
            return []
        stale: list[JobRecord] = []
        read_at = [job.version for job in batch]
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # Inside the write lock, so change numbers grow in commit order.
                    seq = self._db.execute(NEXT_SEQ).fetchone()[0]
                    for job in batch:
                        text = json.dumps(_stored(job))
                        if job.version:
                            cursor = self._db.execute(
                                "UPDATE jobs SET cluster = ?, state = ?, record = ?, seq = ? WHERE id = ? AND seq = ?",
                                (job.cluster, job.state.value, text, seq, job.id, job.version),
                            )
                        else:
                            cursor = self._db.execute(
                                "INSERT INTO jobs (id, cluster, state, created, record, seq) VALUES (?, ?, ?, ?, ?, ?) "
                                "ON CONFLICT(id) DO NOTHING",
                                (job.id, job.cluster, job.state.value, job.created, text, seq),
                            )
                        if cursor.rowcount == 1:
                            job.version = seq
                        else:
                            stale.append(job)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    for job, version in zip(batch, read_at, strict=True):
                        job.version = version
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot write to the job journal {self.path}: {exc}") from exc
        return stale

    def get(self, job_id: str) -> JobRecord:
        with self._lock:
            row = self._db.execute("SELECT record, seq FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r} in the journal ({self.path})")
        return self._record(job_id, row[0], row[1])

    def _record(self, job_id: str, text: str, seq: int) -> JobRecord:
        """A row's record; a row that cannot be read is one error naming the job, not a crash."""
        try:
            job = JobRecord.from_dict(_loaded(json.loads(text)))
            job.version = int(seq)
            return job
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedRecord(
                f"the journal's record of job {job_id!r} is malformed ({type(exc).__name__}: {exc})"
            ) from None

    def find(self, prefix: str) -> JobRecord:
        """A job by its exact id or an unambiguous prefix of at least MIN_PREFIX characters.

        Ids are matched literally (never with LIKE): an empty string, ``%``, ``_``
        or ``*`` (an unset shell variable, a glob) must never pick a job to cancel
        or free.
        """
        with self._lock:
            row = self._db.execute("SELECT record, seq FROM jobs WHERE id = ?", (prefix,)).fetchone()
        if row is not None:
            return self._record(prefix, row[0], row[1])
        if not prefix.strip():
            raise JobNotFound("an empty job id matches no job: give a job id (see 'batchdeck list')")
        wild = sorted({c for c in prefix if c in WILDCARDS})
        if wild:
            raise JobNotFound(
                f"job id {prefix!r} contains {', '.join(repr(c) for c in wild)}: ids are matched exactly "
                f"or by a prefix, never by a pattern"
            )
        with self._lock:
            rows = self._db.execute(
                "SELECT id, record, seq FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
                (len(prefix), prefix, MAX_CANDIDATES + 1),
            ).fetchall()
        if not rows:
            raise JobNotFound(f"no job {prefix!r} in the journal ({self.path})")
        candidates = ", ".join(r[0] for r in rows[:MAX_CANDIDATES]) + (", ..." if len(rows) > MAX_CANDIDATES else "")
        if len(rows) > 1:
            raise JobNotFound(f"job id prefix {prefix!r} is ambiguous: it matches {candidates}")
        if len(prefix) < MIN_PREFIX:
            raise JobNotFound(
                f"job id prefix {prefix!r} is too short: give at least {MIN_PREFIX} characters (it matches {candidates})"
            )
        return self._record(rows[0][0], rows[0][1], rows[0][2])

    def record_fetched(self, job_id: str, files: Iterable[FetchedFile]) -> None:
        """Remember files a get copied (replacing what an earlier get into the same folder recorded)."""
        rows = [(job_id, f.name, f.folder, f.size, f.mtime) for f in files]
        if not rows:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT OR REPLACE INTO fetched VALUES (?, ?, ?, ?, ?)", rows)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot write to the job journal {self.path}: {exc}") from exc

    def fetched(self, job_id: str) -> list[FetchedFile]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, folder, size, mtime FROM fetched WHERE job_id = ? ORDER BY name, folder", (job_id,)
            ).fetchall()
        return [FetchedFile(name, folder, int(size), float(mtime)) for name, folder, size, mtime in rows]

    def jobs(self, cluster: str | None = None, states: Iterable[RunState] | None = None) -> list[JobRecord]:
        """Records in creation order, optionally only one cluster's and only some states'."""
        query = "SELECT id, record, seq FROM jobs"
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
        return self._readable(rows)

    def forget(self, job_ids: Iterable[str]) -> int:
        """Delete these records (GC3Pie's gclean) in one transaction; returns how many went."""
        ids = list(dict.fromkeys(job_ids))
        removed = 0
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    seq = self._db.execute(NEXT_SEQ).fetchone()[0]
                    now = time.time()
                    # SQLite limits the number of bound parameters per statement
                    for start in range(0, len(ids), 500):
                        chunk = ids[start : start + 500]
                        marks = ", ".join("?" for _ in chunk)
                        gone = [r[0] for r in self._db.execute(f"SELECT id FROM jobs WHERE id IN ({marks})", chunk)]
                        cursor = self._db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
                        removed += cursor.rowcount
                        self._db.executemany(
                            "INSERT OR REPLACE INTO forgotten (id, seq, at) VALUES (?, ?, ?)",
                            [(job_id, seq, now) for job_id in gone],
                        )
                    self._db.execute(
                        "DELETE FROM forgotten WHERE at < ? AND seq < (SELECT MAX(seq) FROM forgotten)",
                        (now - FORGOTTEN_KEPT,),
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot write to the job journal {self.path}: {exc}") from exc
        return removed

    def _readable(self, rows: Iterable[tuple[str, str, int]]) -> list[JobRecord]:
        """The records of (id, record, seq) rows; a malformed one is noted in ``malformed`` and skipped."""
        records = []
        for job_id, text, seq in rows:
            try:
                records.append(self._record(job_id, text, seq))
            except MalformedRecord as exc:
                # One bad row (a crash of an old version, a hand edit) must not hide every other job.
                self.malformed[job_id] = str(exc)
                continue
            self.malformed.pop(job_id, None)
        return records

    def data_version(self) -> int:
        """Changes when another connection (the CLI, a second app) committed a write; not for our own."""
        try:
            with self._lock:
                return int(self._db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise BatchdeckError(f"cannot read the job journal {self.path}: {exc}") from exc

    def last_change(self) -> int:
        """The change number of the newest write or forget (0 for an empty journal)."""
        with self._lock:
            return int(self._db.execute(NEXT_SEQ).fetchone()[0]) - 1

    def changed_since(self, seq: int) -> tuple[list[JobRecord], set[str], int]:
        """Records written after change number ``seq``, the ids forgotten since, and the newest change
        number seen. (A job forgotten longer ago than ``FORGOTTEN_KEPT`` by a reader that last looked
        before that stays in its view until it reloads.)"""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, record, seq FROM jobs WHERE seq > ? ORDER BY created", (seq,)
            ).fetchall()
            gone = self._db.execute("SELECT id, seq FROM forgotten WHERE seq > ?", (seq,)).fetchall()
        newest = max((int(r[2]) for r in rows), default=seq)
        newest = max((int(r[1]) for r in gone), default=newest)
        # an id saved again after it was forgotten (a re-adopted job) is alive
        alive = {r[0] for r in rows}
        return self._readable(rows), {r[0] for r in gone} - alive, newest

    def recent(self, limit: int) -> list[JobRecord]:
        """The ``limit`` newest records, in creation order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, record, seq FROM (SELECT id, record, seq, created FROM jobs ORDER BY created DESC LIMIT ?) "
                "ORDER BY created",
                (limit,),
            ).fetchall()
        return self._readable(rows)
