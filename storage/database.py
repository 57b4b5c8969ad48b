"""The SQL databases of the stores beside the collections (index, journal, accounts,
feeds, outbox, inbox, login failures, release leases).

On one host each store has its own SQLite file (storage/sqlite.py).  With PostgreSQL
(storage/postgres/) all of them are tables of one database that every host shares.
A store writes its statements once, in the SQL both understand, with ``?`` for
parameters, and reaches its database only through this interface:

- ``db.execute(sql, params)`` / ``db.executemany(sql, rows)``: a cursor-like answer
  (``fetchone``, ``fetchall``, iteration, ``rowcount``);
- ``with db.transaction():`` around statements that must happen together.  A
  transaction inside another one is part of it: with PostgreSQL, everything a
  request does under Radicale's lock is one transaction (the lock *is* the
  transaction), so the journal, the files and the index of a write commit together.

Portable SQL, the few things that differ: ``INSERT … ON CONFLICT (…) DO UPDATE/NOTHING``
instead of ``INSERT OR REPLACE/IGNORE``; ``CASE`` instead of two-argument ``max()``;
no ``sqlite_sequence``; ``RETURNING`` instead of ``lastrowid``; quote ``"end"``.
A store creates its own SQLite tables (its setup function); PostgreSQL's tables come
from versioned migrations (storage/postgres/schema.py), applied by ``roomcal init`` and
``roomcal migrate-db``.
"""

from typing import Callable

SQLITE, POSTGRESQL = "sqlite", "postgresql"
DATABASE_OPTION = "roomcal_database"   # [storage]: a postgresql:// URL, or empty for files


def database_url(configuration) -> str:
    """The PostgreSQL URL of the configuration, or "" for the embedded (files) default."""
    try:
        return configuration.get("storage", DATABASE_OPTION) or ""
    except KeyError:
        return ""


def open_database(configuration, sqlite_path: str, sqlite_setup: Callable, **sqlite_options):
    """The database of one store: its SQLite file, or the shared PostgreSQL database when
    the configuration names one (its tables exist: storage/postgres/schema.py)."""
    url = database_url(configuration) if configuration is not None else ""
    if url:
        from roomcal.storage.postgres.database import shared
        return shared(url)
    from roomcal.storage.sqlite import SQLiteDatabase
    return SQLiteDatabase(sqlite_path, sqlite_setup, **sqlite_options)
