"""Server state of the online experiment: which participant has which session, token and progress.

The BIDS files are the data; this store only keeps assignments (participant, stimulus set ->
session number, counterbalancing, the SHA-256 of the participant's current token, status and
trials done). SQLite by default (`sqlite:///path`), PostgreSQL with a `postgresql://...` URL.
No platform id is stored here (those stay in the registry's private folder).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labutil.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    participant_id TEXT NOT NULL,
    set_key TEXT NOT NULL,
    session INTEGER NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    seed BIGINT NOT NULL,
    mirror INTEGER NOT NULL,
    swap_keys INTEGER NOT NULL,
    status TEXT NOT NULL,
    trials_done INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (participant_id, set_key)
)
"""
_FIELDS = ("participant_id", "set_key", "session", "token_sha256", "seed", "mirror", "swap_keys", "status",
           "trials_done", "created", "updated")


@dataclass
class Assignment:
    """One participant's session on one stimulus set."""

    participant_id: str
    set_key: str
    session: int
    token_sha256: str
    seed: int
    mirror: bool
    swap_keys: bool
    status: str  # running | complete
    trials_done: int
    created: str
    updated: str


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class StateStore:
    """Assignments in a SQL database (SQLite or PostgreSQL), safe to use from several threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///"):])
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn: Any = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise UserError(f"--database {url}: cannot open SQLite database ({exc})") from None
            self._param = "?"
        elif url.startswith(("postgresql://", "postgres://")):
            import psycopg

            try:
                self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                raise UserError(f"--database: cannot connect to PostgreSQL ({str(exc).splitlines()[0]})") from None
            self._param = "%s"
        else:
            raise UserError(f"--database {url!r}: expected sqlite:///PATH or postgresql://...")
        self._execute(SCHEMA)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("?", self._param)
        with self._lock:
            cur = self._conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        return rows

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------------------ queries

    def by_token(self, token_sha256: str) -> Assignment | None:
        rows = self._execute(f"SELECT {', '.join(_FIELDS)} FROM assignments WHERE token_sha256 = ?", (token_sha256,))
        return _assignment(rows[0]) if rows else None

    def get(self, participant_id: str, set_key: str) -> Assignment | None:
        rows = self._execute(f"SELECT {', '.join(_FIELDS)} FROM assignments WHERE participant_id = ? AND set_key = ?",
                             (participant_id, set_key))
        return _assignment(rows[0]) if rows else None

    def all(self) -> list[Assignment]:
        return [_assignment(r) for r in self._execute(f"SELECT {', '.join(_FIELDS)} FROM assignments "
                                                       "ORDER BY participant_id, set_key")]

    def insert(self, a: Assignment) -> None:
        values = (a.participant_id, a.set_key, a.session, a.token_sha256, a.seed, int(a.mirror), int(a.swap_keys),
                  a.status, a.trials_done, a.created, a.updated)
        self._execute(f"INSERT INTO assignments ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
                      values)

    def set_token(self, a: Assignment, token_sha256: str) -> None:
        self._execute("UPDATE assignments SET token_sha256 = ?, updated = ? WHERE participant_id = ? AND set_key = ?",
                      (token_sha256, _now(), a.participant_id, a.set_key))
        a.token_sha256 = token_sha256

    def set_progress(self, a: Assignment, trials_done: int, status: str) -> None:
        self._execute("UPDATE assignments SET trials_done = ?, status = ?, updated = ? "
                      "WHERE participant_id = ? AND set_key = ?",
                      (trials_done, status, _now(), a.participant_id, a.set_key))
        a.trials_done, a.status = trials_done, status


def _assignment(row: tuple[Any, ...]) -> Assignment:
    d = dict(zip(_FIELDS, row))
    d["mirror"], d["swap_keys"] = bool(d["mirror"]), bool(d["swap_keys"])
    d["session"], d["seed"], d["trials_done"] = int(d["session"]), int(d["seed"]), int(d["trials_done"])
    return Assignment(**d)


def new_assignment(participant_id: str, set_key: str, session: int, token_sha256: str, seed: int, mirror: bool,
                   swap_keys: bool) -> Assignment:
    now = _now()
    return Assignment(participant_id, set_key, session, token_sha256, seed, mirror, swap_keys, "running", 0, now, now)
