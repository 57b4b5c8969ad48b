"""What a server stores, read and written past it (by hand, as an admin or an old version
would), on either store: the file store's item files and index file, or the rows of its
PostgreSQL database (support/postgres.py)."""

import os
import sqlite3

from support import postgres


def room_folder(srv, room_id):
    return os.path.join(srv.dir, "data", "collections", "collection-root", "rooms", room_id)


def write_item(srv, room_id, name, text):
    """An item of a room that the server did not write (nothing of it is read)."""
    if srv.store == "file":
        with open(os.path.join(room_folder(srv, room_id), name), "w", newline="") as f:
            f.write(text)
    else:
        postgres.store_by_hand(srv.database, f"rooms/{room_id}", name, text)


def item_names(srv, room_id):
    """The names of a room's stored items, in order."""
    if srv.store == "file":
        return sorted(n for n in os.listdir(room_folder(srv, room_id)) if not n.startswith("."))
    return [href for (href,) in postgres.execute(
        srv.database, "SELECT href FROM items WHERE collection = %s ORDER BY href", (f"rooms/{room_id}",))]


def on_index(srv, sql, params=()):
    """A statement (``?`` placeholders) on the index and journal tables: how many rows it changed."""
    if srv.store == "file":
        with sqlite3.connect(os.path.join(srv.dir, "data", "index.sqlite")) as db:
            return db.execute(sql, params).rowcount
    return postgres.execute(srv.database, sql.replace("?", "%s"), params)
