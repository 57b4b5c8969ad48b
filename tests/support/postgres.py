"""Databases of the test run on the machine's PostgreSQL (127.0.0.1:5432, user postgres):
one per server or test that asks, made from a migrated template, dropped at the end."""

import os
import threading
import uuid

import psycopg

ADMIN_URL = os.environ.get("ROOMCAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_template = None
_guard = threading.Lock()


def _url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def _admin():
    return psycopg.connect(ADMIN_URL, autocommit=True)


def _migrated_template() -> str:
    """A database with every migration, to copy (CREATE DATABASE … TEMPLATE is fast)."""
    global _template
    with _guard:
        if _template is None:
            from roomcal.storage.postgres.schema import migrate
            name = f"roomcal_tmpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            with _admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            migrate(_url(name))
            _template = name
        return _template


def fresh_database() -> str:
    """The URL of a new database with roomcal's tables and nothing in them."""
    template = _migrated_template()
    name = f"roomcal_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return _url(name)


def drop(url: str) -> None:
    from roomcal.storage.postgres import database
    shared = database._shared.pop(url, None)   # this process's pool on it (in-process CLI)
    if shared is not None:
        shared.close()
    name = url.rpartition("/")[2]
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_template() -> None:
    global _template
    if _template is not None:
        drop(_url(_template))
        _template = None


def execute(url: str, sql: str, params=()):
    """One statement on ``url``'s database, as an admin's psql would run it: its rows, or
    how many it changed."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def store_by_hand(url: str, collection: str, href: str, text: str, uid: str = "") -> None:
    """An item row written past the server (before a check existed, by hand), as the file
    store's tests write an item file: nothing of the text is read."""
    from radicale.item import get_etag
    execute(url, "INSERT INTO items(collection, href, uid, etag, component, range_start, range_end, text, "
                 "modified) VALUES (%s, %s, %s, %s, 'VEVENT', 0, 9223372036854775807, %s, "
                 "extract(epoch FROM now()))", (collection, href, uid or href, get_etag(text), text))
