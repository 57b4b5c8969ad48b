"""PostgreSQL's tables: versioned migrations, applied in order, each once.

The migrations are the ``NNNN_name.sql`` files beside this module; ``roomcal init
--database`` and ``roomcal migrate-db`` apply the ones a database lacks (each in its
own transaction, recorded in ``roomcal_migrations``), under an advisory lock so that
two hosts upgrading at once apply each exactly once.  A server refuses to start on a
database with migrations missing (``pending``).  Never edit a migration that was
released: add the next one.
"""

import os
import re
from typing import List, Tuple

import psycopg

FOLDER = os.path.join(os.path.dirname(__file__), "migrations")
_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_LOCK_KEY = 7_405_322_001   # pg_advisory_lock: one migrator at a time


def available() -> List[Tuple[int, str, str]]:
    """(version, name, SQL) of every migration shipped, in order."""
    found = []
    for file_name in sorted(os.listdir(FOLDER)):
        match = _NAME.fullmatch(file_name)
        if match:
            with open(os.path.join(FOLDER, file_name), encoding="utf-8") as f:
                found.append((int(match.group(1)), match.group(2), f.read()))
    return found


def _applied(conn) -> set:
    conn.execute("CREATE TABLE IF NOT EXISTS roomcal_migrations(version integer PRIMARY KEY, "
                 "name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())")
    return {version for (version,) in conn.execute("SELECT version FROM roomcal_migrations")}


def migrate(url: str) -> List[str]:
    """Apply what ``url``'s database lacks; the names applied."""
    done = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            applied = _applied(conn)
            for version, name, sql in available():
                if version in applied:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO roomcal_migrations(version, name) VALUES (%s, %s)",
                                 (version, name))
                done.append(f"{version:04d}_{name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def pending(url: str) -> List[str]:
    """The migrations ``url``'s database lacks (read only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('roomcal_migrations')").fetchone()[0]
        applied = {v for (v,) in conn.execute("SELECT version FROM roomcal_migrations")} if exists else set()
    return [f"{version:04d}_{name}" for version, name, _ in available() if version not in applied]
