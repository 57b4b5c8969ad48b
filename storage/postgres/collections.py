"""Radicale's storage API on PostgreSQL, nothing of rooms: collections and items are rows.

``collections`` holds each collection's properties (Radicale's ``.Radicale.props``);
``items`` each item's text with what Radicale would otherwise parse it for (UID,
ETag, component, enclosing time range), so listings and REPORT prefilters read no
iCalendar.  CalDAV sync runs on the change journal (storage/journal.py): a counter
per collection bumped in the writing transaction, so a token names a point in that
collection's history that no later commit can go behind.

The lock is the transaction (``acquire_lock`` → ``PostgresDatabase.request``): every
statement of a request is one transaction, committed at its end or rolled back; then
Radicale's ``[storage] hook`` runs if it committed a change (storage/postgres/hook.py).
"""

import json
import sys
import time
from email.utils import formatdate
from typing import Iterable, List, Optional, Sequence

import radicale.item as radicale_item
from radicale import pathutils, storage as radicale_storage, types
from radicale.item import filter as radicale_filter

from roomcal.storage import context
from roomcal.storage.database import database_url
from roomcal.storage.items import KnownItem
from roomcal.storage.journal import Journal
from roomcal.storage.postgres.database import Outcome, shared
from roomcal.storage.postgres.hook import StorageHook

ITEM_COLUMNS = "href, uid, etag, component, range_start, range_end, text, modified"
ITEM_COLUMNS_ETAGS_ONLY = "href, NULL, etag, component, NULL, NULL, NULL, modified"
# Seconds a home found stays known to be there (``discover``): another host's removal of
# it shows on this one after that.
HOME_SEEN = 10.0


def _http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


class RowItem(KnownItem):
    """A stored item as its row (``ITEM_COLUMNS``) has it; its Last-Modified formatted when
    asked for, its text read when asked for if the listing left it out (a listing of ETags
    does neither, and leaves out the UID and time range too: ``context.etags_only``)."""

    def __init__(self, collection, row):
        href, uid, etag, component, start, end, text, modified = row
        if component is not None:   # (one "VEVENT" for all the items of a listing, not one each)
            component = sys.intern(component)
        super().__init__(collection, href, etag, uid, component, (start, end) if start is not None else None, text)
        self._modified = modified

    @property
    def last_modified(self) -> str:
        return _http_date(self._modified)

    def serialize(self) -> str:
        if self._text is None:
            row = self.collection._db.execute("SELECT text FROM items WHERE collection = ? AND href = ?",
                                              (self.collection.path, self.href)).fetchone()
            if row is None:
                raise LookupError(f"{self.collection.path}/{self.href} is gone")
            self._text = row[0]
        return self._text


def _item_columns() -> str:
    """``ITEM_COLUMNS``, or only what a listing of ETags needs."""
    return ITEM_COLUMNS_ETAGS_ONLY if context.etags_only() else ITEM_COLUMNS


class SqlCollection(radicale_storage.BaseCollection):

    def __init__(self, storage_: "SqlStorage", path: str, props: Optional[str] = None,
                 modified: Optional[float] = None):
        self._storage = storage_
        self._path = path.strip("/")
        self._props_text = props
        self._modified = modified

    @property
    def path(self) -> str:
        return self._path

    @property
    def _db(self):
        return self._storage.db

    # -- properties ----------------------------------------------------------------------
    def _load(self) -> None:
        row = self._db.execute("SELECT props, modified FROM collections WHERE path = ?", (self._path,)).fetchone()
        self._props_text, self._modified = row if row else ("{}", time.time())

    def get_meta(self, key=None):
        if self._props_text is None:
            self._load()
        props = json.loads(self._props_text)
        return props if key is None else props.get(key)

    def set_meta(self, props) -> None:
        text = json.dumps(dict(props), sort_keys=True)
        self._db.forget()   # (rows the transaction kept)
        self._db.execute("UPDATE collections SET props = ?, modified = ? WHERE path = ?",
                         (text, time.time(), self._path))
        self._props_text = text

    @property
    def last_modified(self) -> str:
        return _http_date(self.modified() or time.time())

    @property
    def etag(self) -> str:
        """Radicale's (BaseCollection.etag): a hash of every item's href and ETag and of the
        properties, from the rows without reading an item, so it changes with any write,
        a whole-collection PUT or a MOVE included, and never without one.  Hashed by the
        database: one row comes back, not one for each item (a PROPFIND of a room read all
        its hrefs and ETags a second time for it)."""
        digest, = self._db.execute(
            "SELECT encode(sha256(convert_to(coalesce(string_agg(href || '/' || etag, '' ORDER BY href), '') "
            "|| ?::text, 'UTF8')), 'hex') FROM items WHERE collection = ?",
            (json.dumps(self.get_meta(), sort_keys=True), self._path)).fetchone()
        return '"%s"' % digest

    def modified(self, href: Optional[str] = None) -> Optional[float]:
        """When an item, or the collection (its list of items, its properties), last changed."""
        row = (self._db.execute("SELECT modified FROM items WHERE collection = ? AND href = ?", (self._path, href))
               if href else self._db.execute("SELECT modified FROM collections WHERE path = ?", (self._path,))
               ).fetchone()
        return row[0] if row else None

    def _touch(self, now: float) -> None:
        self._db.forget()   # (rows the transaction kept)
        self._db.execute("UPDATE collections SET modified = ? WHERE path = ?", (now, self._path))

    # -- items -----------------------------------------------------------------------------
    def _item_of(self, row) -> radicale_item.Item:
        return RowItem(self, row)

    def _get(self, href: str, verify_href: bool = True) -> Optional[radicale_item.Item]:
        if verify_href and not _is_safe(href):
            return None
        # (read again in the same transaction: Radicale finds the item a PUT replaces, then
        # the booking core reads it as it was)
        memo, key = self._db.memo(), ("item", self._path, href)
        if memo is not None and key in memo:
            row = memo[key]
        else:
            row = self._db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE collection = ? AND href = ?",
                                   (self._path, href)).fetchone()
            if memo is not None:
                memo[key] = row
        return self._item_of(row) if row else None

    # Items over [server] max_resource_size are left out of listings, as multifilesystem does
    # with files (one written when the limit was higher); ``_get`` (the booking core's read) keeps them.
    def get_multi(self, hrefs: Iterable[str]):
        hrefs = list(dict.fromkeys(hrefs))
        found = {row[0]: row for row in self._db.execute(
            f"SELECT {_item_columns()}, octet_length(text) FROM items WHERE collection = ? AND href = ANY(?)",
            (self._path, [href for href in hrefs if _is_safe(href)]))}
        limit = self._storage.max_resource_size
        return [(href, self._item_of(found[href][:-1]) if href in found else None) for href in hrefs
                if href not in found or found[href][-1] <= limit]

    def get_all(self) -> List[radicale_item.Item]:
        return [self._item_of(row) for row in self._db.stream(
            f"SELECT {_item_columns()} FROM items WHERE collection = ? AND octet_length(text) <= ? ORDER BY href",
            (self._path, self._storage.max_resource_size))]

    def names_after(self, after: Optional[str], count: Optional[int]) -> List[str]:
        """The hrefs after ``after`` (None: from the first) in byte order (the "C" collation:
        Python's order of str, whatever the database's), at most ``count`` (None: all): a
        page of a JSON initial sync, without a row for each of the others."""
        return [href for (href,) in self._db.execute(
            'SELECT href FROM items WHERE collection = ? AND href COLLATE "C" > ? ORDER BY href COLLATE "C"'
            + (" LIMIT ?" if count is not None else ""),
            (self._path, after or "", *((count,) if count is not None else ())))]

    def _list(self) -> List[str]:
        return [href for (href,) in self._db.execute(
            "SELECT href FROM items WHERE collection = ? ORDER BY href", (self._path,))]

    def get_filtered(self, filters):
        """Radicale's prefilter, with the time range asked of the database."""
        if not self.tag:
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE collection = ? AND range_start < ? AND range_end > ? "
            "AND octet_length(text) <= ?" + (" AND component = ?" if tag is not None else ""),
            (self._path, end, start, self._storage.max_resource_size, *((tag,) if tag is not None else ())))
        for row in rows:
            item = self._item_of(row)
            yield item, simple and (start <= item.time_range[0] or item.time_range[1] <= end)

    def has_uid(self, uid: str) -> bool:
        return self._db.execute("SELECT 1 FROM items WHERE collection = ? AND uid = ? LIMIT 1",
                                (self._path, uid)).fetchone() is not None

    def sync(self, old_token: str = ""):
        return self._storage.journal.sync(self._path, old_token, self._list)

    # -- writes ----------------------------------------------------------------------------
    def upload(self, href: str, item: radicale_item.Item):
        self._storage.journal.record(self._path, [href])
        return self._store_rows([(href, item)])[0]

    def put_as_is(self, items: Sequence[tuple]) -> list:
        """``(href, item)`` pairs copied from another store (storage/migrate.py): no booking
        core, no journal, no mail."""
        return self._store_rows(items)

    def _store_rows(self, items: Sequence[tuple]) -> list:
        """Write ``(href, item)`` pairs as they are (admitted by whoever calls)."""
        now = time.time()
        rows = []
        for href, item in items:
            _check_safe(href)
            item.prepare()   # UID, ETag, component and time range, as Radicale's cache keeps them
            start, end = item.time_range
            rows.append((self._path, href, item.uid, item.etag, item.component_name, start, end,
                         item.serialize(), now))
        self._db.forget()   # (rows the transaction kept)
        self._db.executemany(
            "INSERT INTO items(collection, href, uid, etag, component, range_start, range_end, text, modified) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(collection, href) DO UPDATE SET "
            "uid = excluded.uid, etag = excluded.etag, component = excluded.component, "
            "range_start = excluded.range_start, range_end = excluded.range_end, text = excluded.text, "
            "modified = excluded.modified", rows)
        self._touch(now)
        return [(radicale_item.Item(collection=self, href=href, uid=item.uid, etag=item.etag,
                                    component_name=item.component_name, time_range=item.time_range,
                                    text=item.serialize(), last_modified=_http_date(now)), None)
                for href, item in items]

    def _remove_row(self, href: str) -> None:
        _check_safe(href)
        self._db.forget()   # (rows the transaction kept)
        deleted = self._db.execute("DELETE FROM items WHERE collection = ? AND href = ?", (self._path, href))
        self._db.flush()   # (its row count, when sent together with others)
        if deleted.rowcount == 0:
            raise radicale_storage.ComponentNotFoundError(href)
        self._touch(time.time())

    def delete(self, href: Optional[str] = None) -> None:
        if href is None:
            self._storage.remove_tree(self._path)
            return
        self._storage.journal.record(self._path, [href])
        self._remove_row(href)


class SqlStorage(radicale_storage.BaseStorage):
    _collection_class = SqlCollection
    # Names are text in rows: every name a Linux file system takes (Radicale limits paths to
    # what its storage says it can hold; these are what multifilesystem finds on ext4).
    _is_collision_free = True
    _supports_unicode = True
    _supports_trailing_whitespace = True
    _supports_problematic_chars = True

    def __init__(self, configuration):
        super().__init__(configuration)
        self.db = shared(database_url(configuration))
        self.journal = Journal("", configuration)
        self.max_resource_size = configuration.get("server", "max_resource_size")
        self._hook = StorageHook(configuration) if configuration.get("storage", "hook") else None
        self._homes_seen = {}   # home -> until when it is taken as there (``discover``)

    def _collection(self, path: str, props=None, modified=None) -> SqlCollection:
        return self._collection_class(self, path, props, modified)

    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs):
        outcome = Outcome() if mode == "w" and self._hook is not None else None
        with self.db.request(mode, outcome):
            yield
        if outcome is not None and outcome.changed:
            self._hook.run(user, **kwargs)   # after the commit (storage/postgres/hook.py)

    def discover(self, path: str, depth: str = "0", child_context_manager=None, user_groups=set()):
        sane = path.strip("/")
        if sane and not all(_is_safe(part) for part in sane.split("/")):
            return   # a name no file system folder or file could have: nothing there
        # Radicale asks on every request whether the user's home exists, to create it if not
        # (a read transaction of its own): a home seen a moment ago is taken as there.  A
        # listing that goes on past it reads it then, in its transaction.
        is_home = sane and "/" not in sane and depth != "0"
        seen = is_home and self._homes_seen.get(sane, 0.0) > time.monotonic()
        row = None if seen else self._collection_row(sane)
        if row is None and not seen:
            parent, _, href = sane.rpartition("/")
            if not href:
                return
            item = self._collection(parent)._get(href)
            if item is not None and len(item.serialize().encode()) <= self.max_resource_size:
                yield item
            return
        if is_home and not seen:
            self._homes_seen[sane] = time.monotonic() + HOME_SEEN
        collection = self._collection(sane, *row) if row else self._collection(sane)
        yield collection
        if depth == "0":
            return
        if seen:
            collection._load()
        yield from collection.get_all()
        prefix = sane + "/" if sane else ""
        for child, props, modified in self.db.execute(
                "SELECT path, props, modified FROM collections WHERE path LIKE ? ESCAPE '\\' AND path <> '' "
                "AND strpos(substr(path, ?), '/') = 0 ORDER BY path",
                (_like_prefix(prefix) + "%", len(prefix) + 1)):
            yield self._collection(child, props, modified)

    def _collection_row(self, sane: str) -> Optional[tuple]:
        """(props, modified) of a collection, or None; kept for the transaction (read again
        after any write of a collection: ``forget``)."""
        memo, key = self.db.memo(), ("collection", sane)
        if memo is not None and key in memo:
            return memo[key]
        row = self.db.execute("SELECT props, modified FROM collections WHERE path = ?", (sane,)).fetchone()
        if memo is not None:
            memo[key] = row
        return row

    def read_ahead(self, path: str):
        """What a write of the item at ``path`` reads first: Radicale's discover of the path
        and of its collection, and the item it replaces.  The queries are sent now (with the
        transaction's BEGIN and locks, in one pipeline: one round trip instead of four); the
        function returned keeps their rows for the transaction, once they are answered."""
        sane = path.strip("/")
        parent, _, href = sane.rpartition("/")
        if self.db.memo() is None or not parent or not all(_is_safe(part) for part in sane.split("/")):
            return lambda: None
        collections = self.db.execute("SELECT path, props, modified FROM collections WHERE path IN (?, ?)",
                                      (sane, parent))
        item = self.db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE collection = ? AND href = ?",
                               (parent, href))

        def keep():
            memo = self.db.memo()
            found = {row[0]: tuple(row[1:]) for row in collections.fetchall()}
            for key in (sane, parent):
                memo[("collection", key)] = found.get(key)
            memo[("item", parent, href)] = item.fetchone()
        return keep

    def create_collection(self, href: str, items=None, props=None):
        sane = href.strip("/")
        self.db.forget()   # (rows the transaction kept)
        now = time.time()
        parts = sane.split("/") if sane else []
        for depth in range(1, len(parts)):   # the folders above it, as a file system has them
            self.db.execute("INSERT INTO collections(path, props, modified) VALUES (?, '{}', ?) "
                            "ON CONFLICT(path) DO NOTHING", ("/".join(parts[:depth]), now))
        if not props:
            self.db.execute("INSERT INTO collections(path, props, modified) VALUES (?, '{}', ?) "
                            "ON CONFLICT(path) DO NOTHING", (sane, now))
            return self._collection(sane), {}, []
        text = json.dumps(dict(props), sort_keys=True)
        self.db.execute("INSERT INTO collections(path, props, modified) VALUES (?, ?, ?) ON CONFLICT(path) "
                        "DO UPDATE SET props = excluded.props, modified = excluded.modified", (sane, text, now))
        collection = self._collection(sane, text, now)
        if items is None:
            return collection, {}, []
        self.db.execute("DELETE FROM items WHERE collection = ?", (sane,))
        suffix = ".vcf" if props.get("tag") == "VADDRESSBOOK" else ".ics"
        pairs, taken = [], set()
        for item in items:
            href = _free_href(item, suffix, taken)
            taken.add(href)
            pairs.append((href, item))
        collection._store_rows(pairs)
        return collection, {}, [href for href, _ in pairs]

    def remove_tree(self, path: str) -> None:
        """A collection and every collection under it (their items go with them)."""
        self.db.forget()   # (rows the transaction kept)
        if "/" not in path:   # a home, or all
            self._homes_seen.clear()
        if not path:
            self.db.execute("DELETE FROM collections WHERE path <> ''")
            self.db.execute("DELETE FROM items WHERE collection = ''")
            return
        self.db.execute("DELETE FROM collections WHERE path = ? OR path LIKE ? ESCAPE '\\'",
                        (path, _like_prefix(path + "/") + "%"))

    def rename_collection(self, path: str, new_path: str) -> bool:
        """A collection without collections under it (a calendar) under another path, with
        its items; False if that path is taken."""
        if self.db.execute("SELECT 1 FROM collections WHERE path = ?", (new_path,)).fetchone():
            return False
        if "/" not in path:
            self._homes_seen.clear()
        self.db.execute("INSERT INTO collections(path, props, modified) "
                        "SELECT ?, props, ? FROM collections WHERE path = ?", (new_path, time.time(), path))
        self.db.forget()   # (rows the transaction kept)
        self.db.execute("UPDATE items SET collection = ? WHERE collection = ?", (new_path, path))
        self.db.execute("DELETE FROM collections WHERE path = ?", (path,))
        return True

    def move(self, item: radicale_item.Item, to_collection, to_href: str) -> None:
        """One UPDATE (journaled by the caller, storage/guarded.py, as every MOVE)."""
        source = item.collection
        _check_safe(to_href)
        self.db.forget()   # (rows the transaction kept)
        self.db.execute("DELETE FROM items WHERE collection = ? AND href = ?", (to_collection.path, to_href))
        now = time.time()
        self.db.execute("UPDATE items SET collection = ?, href = ?, modified = ? WHERE collection = ? AND href = ?",
                        (to_collection.path, to_href, now, source.path, item.href))
        self.db.execute("UPDATE collections SET modified = ? WHERE path IN (?, ?)", (now, source.path, to_collection.path))

    def verify(self) -> bool:
        return True


def _is_safe(href: str) -> bool:
    """The names the file store can hold (multifilesystem): no "", ".x", "x~", "..", "/"."""
    return pathutils.is_safe_filesystem_path_component(href)


def _check_safe(href: str) -> None:
    if not _is_safe(href):
        raise pathutils.UnsafePathError(href)   # a ValueError: Radicale answers 400


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _free_href(item: radicale_item.Item, suffix: str, taken: set) -> str:
    """Radicale's choice for an item of a whole-collection upload: its UID when that is a
    safe name, else a random one."""
    uid = item.uid
    if uid and pathutils.is_safe_filesystem_path_component(uid + suffix) and uid + suffix not in taken:
        return uid + suffix
    return radicale_item.find_available_uid(lambda h: h in taken, suffix)
