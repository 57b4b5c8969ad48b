"""The embedded default: Radicale's multifilesystem with rooms guarded by the booking core
(storage/guarded.py), and what files need: the booking index kept fresh against edits
behind our back, stamps that spare reading unchanged files, Radicale's history
housekeeping made cheaper.
"""

import contextlib
import heapq
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Optional, Sequence

import radicale.item as radicale_item
from radicale import pathutils
from radicale.storage import multifilesystem

from roomcal.storage import context
from roomcal.storage.check import RADICALE_TMP
from roomcal.storage.commit import Put
from roomcal.storage.guarded import GuardedCollection, GuardedStorage, RoomView, _option, under_read_lock
from roomcal.storage.hand_edits import HandEdits
from roomcal.storage.registry import RoomRegistry, registry_for
from roomcal.storage.stamps import StampedItem, matches, stamp_of
from roomcal.storage.unreadable import Unreadable

logger = logging.getLogger("roomcal.storage")
HISTORY_CLEAN_INTERVAL = 300  # seconds; see Collection._clean_history
_unreadable_files = Unreadable()  # (folder, href, mtime, size) of items Radicale skipped
BATCH = 32   # more new files than this in one commit are written together (_write_new_files)
SCAN_FROM = 32   # get_multi of more names than this (and a quarter of the room) scans the room
WRITERS = 4  # threads writing those files (_write_new_files)


# A name Radicale's is_safe_filesystem_path_component lets through, known without it (no
# leading dot, no trailing ~, no separator): a room's scan asked it of every file.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+=-]*")


class FileStat(NamedTuple):
    """What a listing keeps of a file's stat: a room of 100 000 kept 64 MB of stat_results."""
    st_size: int
    st_mtime_ns: int


class Throttle:
    """``due(key)`` is true at most once every ``interval`` seconds per key."""

    def __init__(self, interval: float):
        self.interval = interval
        self._last = {}

    def __call__(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) < self.interval:
            return False
        self._last[key] = now
        return True


class Collection(GuardedCollection, multifilesystem.Collection):
    def _fingerprint(self) -> str:
        return str(os.stat(self._filesystem_path).st_mtime_ns)

    def view(self) -> RoomView:
        """The room's index, rebuilt first if anything changed behind our back."""
        index = self._storage.index
        state = index.state(self.path)
        if state is None or state[0] != self._fingerprint():
            self.reindex()
        else:
            newest = self._storage.hand_edits.newest(self.path, self._filesystem_path)
            if newest is not None and newest > state[1]:
                logger.warning("A booking in %s was edited outside roomcal; rebuilding its index", self.path)
                self.reindex()
        return RoomView(self, index, self.path)

    def reindex(self, trust_stamps: bool = True) -> int:
        """Bring the room's rows up to date with its files: a file that kept its stamp keeps
        its row (a deleted Radicale cache changes the folder, not the bookings); the others
        (all of them without ``trust_stamps``: ``roomcal check``) are read again, and rows of
        files that are gone go."""
        index = self._storage.index
        fingerprint = self._fingerprint()
        known = index.rows(self.path)
        rows, stamps, present, newest, changed = [], [], set(), 0, []
        for href in self._list():   # (the room's stamps at hand meanwhile)
            path = os.path.join(self._filesystem_path, href)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            if not pathutils.file_check_size(path, self._storage._max_resource_size):
                continue
            newest = max(newest, stat.st_mtime_ns)
            if trust_stamps and href in known and matches(self._stamp(href), stat):
                present.add(href)
                continue
            before = self._stamp(href)
            item = self._get(href, verify_href=False)
            if item is None:
                continue
            present.add(href)
            rows.append(self._row(href, item))
            stamps.append(stamp_of(href, item, stat))
            if href not in known or before is None or before.etag != item.etag:
                changed.append(href)
        gone = [href for href in known if href not in present]
        index.change(self.path, fingerprint, put=rows, remove=gone, newest=newest, stamps=stamps)
        # Sync (JSON and CalDAV) answers from the journal: what changed behind our back too.
        self._storage.journal.record(self.path, changed + gone)
        logger.info("Rebuilt the booking index of %s (%d bookings, %d read again, %d gone)",
                    self.path, len(present), len(rows), len(gone))
        return len(present)

    def _stamp(self, href: str):
        """The stamp of one file: from the whole room's when a listing read them, else alone."""
        known = getattr(self, "_stamp_map", None)
        return known.get(href) if known is not None else self._storage.index.stamp(self.path, href)

    def _list(self):
        """The item files.  While a listing goes through a room's (get_all, a Depth-1
        discover), its stamps are at hand from one query, and each file's stat from the
        folder's scan, instead of a query and a stat per file.  A listing made under a read
        lock is kept while that lock is held: a PROPFIND lists the room for its items, and
        again for the collection's ETag."""
        if self.room_id is None:
            yield from super()._list()
            return
        period = context.lock_period()
        reading = period if period is not None and period.mode == "r" else None
        if self._listing is None or reading is None or reading is not self._listing_period:
            self._stamp_map = self._storage.index.stamps(self.path, context.etags_only())
            self._listing = self._scan(self._stamp_map)
            self._listing_period = reading
            self._listed_items = {}
            if reading is not None:
                reading.at_end.append(self._forget_listing)
        try:
            yield from self._listing
        finally:
            if self._listing_period is None:   # a write may change them next
                self._forget_listing()

    def _forget_listing(self) -> None:
        self._stamp_map = self._listing = self._listed_items = self._listing_period = None

    _listing = None   # href -> its Stamp or FileStat, while a listing holds them
    _listing_period = None   # the read lock's period it was made in (storage/context.py)
    _listed_items = None   # href -> item read from the listing (``_get``), as long as it holds

    def _scan(self, stamps: dict) -> dict:
        """Radicale's _list (the safe names of files, in the folder's order), with each
        file's stat: the file's stamp (of ``stamps``, by name) when it matches, its name
        and numbers then the stamp's (a room of 100 000 held them twice: 20 MB more at a
        listing's peak)."""
        listing = {}
        for entry in self._item_files():
            with contextlib.suppress(OSError):   # gone since the scan
                stat = entry.stat()
                stamp = stamps.get(entry.name)
                if matches(stamp, stat):
                    listing[stamp.href] = stamp
                else:
                    listing[entry.name] = FileStat(stat.st_size, stat.st_mtime_ns)
        return listing

    def _item_files(self):
        """The folder's entries Radicale's _list names: files of safe names."""
        with os.scandir(self._filesystem_path) as entries:
            for entry in entries:
                if entry.is_file() and (_PLAIN_NAME.fullmatch(entry.name) or
                                        pathutils.is_safe_filesystem_path_component(entry.name)):
                    yield entry

    def names_after(self, after: Optional[str], count: Optional[int]) -> List[str]:
        """The hrefs after ``after`` (None: from the first), sorted, at most ``count`` (None:
        all): a page of a JSON initial sync.  A room's are its files' names alone, without the
        stamps and stats a listing of its items reads (a page of 1 000 in a room of 100 000
        read them all: 1.5 s a page)."""
        names = (entry.name for entry in self._item_files()) if self.room_id is not None else self._list()
        names = (name for name in names if after is None or name > after)
        return sorted(names) if count is None else heapq.nsmallest(count, names)

    def get_all(self):
        """Radicale's get_all, without its two stats per file for the size check in a room:
        the listing has them."""
        if self.room_id is None:
            yield from super().get_all()
            return
        limit = self._storage._max_resource_size
        for href in self._list():
            item = self._get(href, verify_href=False)
            stat = (self._listing or {}).get(href)
            if item is not None and (stat is not None and stat.st_size <= limit or pathutils.file_check_size(
                    os.path.join(self._filesystem_path, href), limit)):   # (its warning)
                yield item

    @under_read_lock
    def sync(self, old_token: str = ""):
        """A room's CalDAV sync from the change journal, as JSON sync and the PostgreSQL store
        answer it: Radicale's keeps a history file per item and compares every item's ETag
        with it on every sync (a calendar app's first sync of a room of 10 000 wrote 10 000
        files, each fsynced: 9 s).  Files changed behind our back are journaled when the
        index is rebuilt (``view``).  Personal calendars keep Radicale's."""
        if self.room_id is None:
            return super().sync(old_token)
        self.view()
        return self._storage.journal.sync(self.path, old_token, lambda: list(self._list()))

    def get_multi(self, hrefs):
        """Radicale's, but without listing the whole folder to check the names asked for: a
        sync's few changes in a room of 10 000 paid for a listing of 10 000.  Each name is
        checked alone (``_get``'s path_to_filesystem: safe, no case collision)."""
        if self.room_id is None:
            yield from super().get_multi(hrefs)
            return
        hrefs = list(hrefs)
        # A good part of the room (a sync's first listing): one scan and the room's stamps at
        # once cost less than a stat and a stamp query each (~4x the cost per name asked).
        if len(hrefs) > SCAN_FROM and 4 * len(hrefs) > self._storage.index.count(self.path):
            yield from self._get_many(hrefs)
            return
        limit = self._storage._max_resource_size
        for href in hrefs:
            if pathutils.is_safe_filesystem_path_component(href) and not pathutils.file_check_size(
                    os.path.join(self._filesystem_path, href), limit):
                continue   # (as Radicale: too large an item is left out, with its warning)
            yield href, self._get(href)

    def _get_many(self, hrefs):
        limit, found, too_large = self._storage._max_resource_size, {}, object()
        wanted = set(hrefs)
        for href in self._list():
            if href in wanted:
                found[href] = too_large if self._listing[href].st_size > limit else \
                    self._get(href, verify_href=False)
        for href in hrefs:
            if href not in found:
                yield href, self._get(href)   # not a file of the listing: None, as Radicale's
            elif found[href] is too_large:   # (left out, with Radicale's warning)
                pathutils.file_check_size(os.path.join(self._filesystem_path, href), limit)
            else:
                yield href, found[href]

    def _get(self, href: str, verify_href: bool = True):
        """Radicale's read of one item, which skips an unreadable one with a WARNING
        (``skip_broken_item``); remembered, so that it is not parsed again by every request."""
        stat = self._listing.get(href) if self._listing is not None and not verify_href else None
        if stat is not None and href in self._listed_items:   # (listed again: for the ETag)
            return self._listed_items[href]
        item = self._read(href, stat, verify_href)
        if stat is not None:
            self._listed_items[href] = item
        return item

    def _read(self, href: str, stat, verify_href: bool):
        try:
            stat = stat or os.stat(os.path.join(self._filesystem_path, href))
        except (OSError, ValueError):
            return super()._get(href, verify_href)
        if self.room_id is not None:   # a file we wrote and nobody changed since: no read
            stamp = self._stamp(href)
            if matches(stamp, stat):
                item = StampedItem(stamp, stat, self)
                if context.texts_after_lock():
                    item.serialize()   # (now, while the file is surely there)
                return item
        key = (self._filesystem_path, href, stat.st_mtime_ns, stat.st_size)
        if _unreadable_files.get(key) is not None:
            return None
        item = super()._get(href, verify_href)
        if item is None and pathutils.is_safe_filesystem_path_component(href):
            _unreadable_files.add(key, "skipped")
        return item

    def modified(self, href: Optional[str] = None) -> Optional[float]:
        """When an item, or the collection (its list of items, its properties), last changed:
        seconds since the epoch, None when there is no such item."""
        paths = ([os.path.join(self._filesystem_path, href)] if href else
                 [self._filesystem_path, os.path.join(self._filesystem_path, ".Radicale.props")])
        times = []
        for path in paths:
            with contextlib.suppress(OSError):
                times.append(os.path.getmtime(path))
        return max(times) if times else None

    # -- the save step's writes (storage/commit.py) -----------------------------------------
    def _writes_together(self):
        return contextlib.nullcontext()   # (each SQLite statement is a call, not a round trip)

    def _before_write(self, hrefs: Sequence[str]) -> None:
        """The stamps of files about to change go first; the new ones come after."""
        self._storage.index.forget_stamps(self.path, hrefs)

    def _remove_item(self, href: str) -> None:
        multifilesystem.Collection.delete(self, href)   # the file itself: admission is done

    def _store_items(self, put: Sequence[Put], progress=None) -> list:
        if self.room_id is not None and len(put) > BATCH and not any(
                os.path.lexists(os.path.join(self._filesystem_path, p.href)) for p in put):
            return self._write_new_files(put, progress)
        results = []
        for number, p in enumerate(put, 1):
            if self.room_id is not None:
                results.append(self._write_item(p))
            else:
                results.append(multifilesystem.Collection.upload(self, p.href, p.item))
            if progress:
                progress(number, len(put))
        return results

    def _write_item(self, p: Put) -> tuple:
        """One file of a room, written as Radicale's upload writes it (whole, renamed into place,
        fsynced with its folder before the answer), without Radicale's item cache and sync
        history of it: the stamp written next (``_indexed``) answers what the cache would,
        and Radicale's sync brings an item's history up to date from the file when it next
        runs (as after ``_write_new_files``).  Two fsyncs instead of six, and no re-reading
        of the file.  Returns Radicale's (item as stored, item it replaced)."""
        if not pathutils.is_safe_filesystem_path_component(p.href):
            raise pathutils.UnsafePathError(p.href)
        path = pathutils.path_to_filesystem(self._filesystem_path, p.href, self._is_collision_free)
        replaced = None
        with contextlib.suppress(FileNotFoundError):
            with open(path, encoding=self._encoding, newline="") as f:
                replaced = radicale_item.Item(collection_path=self.path, href=p.href, text=f.read())
        try:
            self._replace_file(path, p.item.serialize())
        except Exception as e:   # as Radicale's: do_PUT answers by the errno (507 on ENOSPC)
            raise ValueError(f"Failed to store item {p.href!r} in collection {self.path!r}: {e}") from e
        self._clean_history()   # Radicale's housekeeping after an upload (throttled, below)
        return p.item, replaced

    def _replace_file(self, path: str, text: str) -> None:
        """Radicale's ``_atomic_write`` of one file (written whole, renamed into place, fsynced
        with its folder), through a temporary file of this thread's in the folder rather than a
        temporary folder made and removed for each write: 0.67 -> 0.44 ms a file.  Its name
        starts as Radicale's temporary folders' do: listings skip it, `roomcal check` removes
        a leftover, and the write lock keeps it this writer's."""
        folder = os.path.dirname(path)
        temporary = os.path.join(folder, f"{RADICALE_TMP}roomcal-{os.getpid()}-{threading.get_ident()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)   # (0o666: as open())
        try:
            with open(fd, "w", newline="", encoding=self._encoding) as f:
                f.write(text)
                f.flush()
                self._storage._fsync(f)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise
        self._storage._sync_directory(folder)

    def _write_new_files(self, put: Sequence[Put], progress) -> list:
        """Many new files of a room (an import): each written whole and renamed into place, then
        made durable by one sync instead of one fsync each (10 000 files: 0.3 s instead of 35 s).
        Radicale's item cache and sync history of them are filled when Radicale first needs
        them; listings are served from their stamps meanwhile (storage/stamps.py).

        WRITERS threads write them, each through a temporary folder of its own in the room's
        (Radicale's prefix: its clean-up and `roomcal check` know a leftover), one temporary
        name renamed away after each file: creating files goes no faster with more threads in
        one folder, but does in several (10 000 files: 3 s -> 1 s on a 2-CPU VM).  Writers hold
        the write lock."""
        folder = self._filesystem_path
        lock, done, failed = threading.Lock(), [0], []

        def write(number: int, part: Sequence[Put]) -> None:
            temporary_folder = os.path.join(folder, f"{RADICALE_TMP}roomcal-{os.getpid()}-{number}")
            os.makedirs(temporary_folder, exist_ok=True)   # a leftover of a crash: ours
            temporary = os.path.join(temporary_folder, "item")
            try:
                for p in part:
                    if failed:
                        return
                    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
                    with open(fd, "w", newline="", encoding=self._encoding) as f:
                        f.write(p.item.serialize())
                    os.replace(temporary, os.path.join(folder, p.href))
                    if progress:
                        with lock:
                            done[0] += 1
                            progress(done[0], len(put))
            except BaseException:
                failed.append(True)
                raise
            finally:
                with contextlib.suppress(OSError):
                    os.remove(temporary)
                with contextlib.suppress(OSError):
                    os.rmdir(temporary_folder)

        with ThreadPoolExecutor(WRITERS) as pool:
            written = [pool.submit(write, number, put[number::WRITERS]) for number in range(WRITERS)]
        for future in written:
            future.result()   # the first failure, once every writer has stopped
        if self._storage._filesystem_fsync:
            os.sync()
        return [(p.item, None) for p in put]

    def _indexed(self, put: Sequence[Put] = (), remove: Sequence[str] = ()) -> None:
        """The room's index after its files changed: the rows, the files' stamps, and the
        folder's new fingerprint."""
        stamps = []
        for p in put:
            with contextlib.suppress(OSError):   # p.item's text is the file's, byte for byte
                stamps.append(stamp_of(p.href, p.item, os.stat(os.path.join(self._filesystem_path, p.href))))
        newest = max((s.mtime_ns for s in stamps), default=0)
        self._storage.index.change(self.path, self._fingerprint(), put=[p.row for p in put], remove=remove,
                                   newest=newest, stamps=stamps)

    def _get_deleted_history_hrefs(self):
        """As multifilesystem's, but one listing of the folder instead of a stat per entry.

        Radicale runs it on every upload (``_clean_history``) and every sync: ~10 µs per
        stored item, ~100 ms per PUT at 10 000 items; this is ~1 µs per item.
        """
        history_folder = self._storage._get_collection_cache_subfolder(
            self._filesystem_path, ".Radicale.cache", "history")
        try:
            history = os.listdir(history_folder)
        except FileNotFoundError:
            return
        files = None  # few entries: a stat each is cheaper than listing the whole folder
        if len(history) > 64:
            with os.scandir(self._filesystem_path) as entries:
                files = {entry.name for entry in entries if entry.is_file()}
        for href in history:
            if files is not None and href in files:
                continue
            if not pathutils.is_safe_filesystem_path_component(href):
                continue
            if files is None and os.path.isfile(os.path.join(self._filesystem_path, href)):
                continue
            yield href

    def _clean_history(self):
        """Radicale runs this after every upload; it lists every history entry.

        An upload never makes an entry eligible (only a deletion older than
        max_sync_token_age does), so for rooms it runs at most every
        HISTORY_CLEAN_INTERVAL seconds per process: expired entries of deleted
        bookings linger a few minutes longer, nothing else changes.
        """
        if self.room_id is not None and not self._storage.history_clean_due(self.path):
            return
        super()._clean_history()
        self._storage.journal.prune(self.path)

class Storage(GuardedStorage, multifilesystem.Storage):
    _collection_class = Collection

    def __init__(self, configuration):
        super().__init__(configuration)
        self._open_stores(configuration)
        # Per process and room: looks for files edited by hand, Radicale's history cleaning.
        self.hand_edits = HandEdits(Throttle(float(_option(configuration, "storage",
                                                           "roomcal_index_verify_interval", "10"))))
        self.history_clean_due = Throttle(HISTORY_CLEAN_INTERVAL)

    def _open_registry(self, configuration) -> RoomRegistry:
        return registry_for(configuration)
