"""Items of a room served from their stamps: no file read, no parse, until needed.

Radicale fills its item cache by parsing every file with vobject: a calendar app's first
look at a room of 10 000 bookings (a Depth-1 PROPFIND of ETags) parsed and pickled every
one of them.  We wrote those files ourselves (storage/commit.py), so we know what
Radicale would read from each: its ETag, UID, component and time range, kept in the
index as a ``Stamp`` with the file's size and mtime.  While a file still has them, the
item is a ``StampedItem``: the same answers, its text read from the file (which is the
item's serialization, as Radicale wrote it) only when asked for, parsed only when a
caller needs the parsed object.
"""

import os
import time
from typing import Optional

import radicale.item as radicale_item

from roomcal.storage.index import Stamp
from roomcal.storage.items import KnownItem


class StampedItem(KnownItem):
    def __init__(self, stamp: Stamp, stat, collection):
        """``stat``: the file's (``st_size``, ``st_mtime_ns``), as it was when found to match."""
        super().__init__(collection, stamp.href, stamp.etag, stamp.uid, stamp.component, stamp.time_range)
        self._name = "VCALENDAR"   # (a room's file: a calendar's item)
        self._mtime_ns = stat.st_mtime_ns   # (the stat's own int: a float would be one more object)
        self._encoding = getattr(collection, "_encoding", "utf-8")

    @property
    def last_modified(self) -> str:   # (formatted when asked: a listing of ETags never does)
        return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime_seconds(self._mtime_ns)))

    def serialize(self) -> str:
        if self._text is None:
            with open(os.path.join(self.collection._filesystem_path, self.href), "rb") as f:
                self._text = f.read().decode(self._encoding)
        return self._text


def mtime_seconds(mtime_ns: int) -> float:
    """A file's ``st_mtime`` from its ``st_mtime_ns``, as os.stat works it out."""
    seconds, nanoseconds = divmod(mtime_ns, 1_000_000_000)
    return seconds + nanoseconds * 1e-9


def matches(stamp: Optional[Stamp], stat) -> bool:
    return stamp is not None and stamp.size == stat.st_size and stamp.mtime_ns == stat.st_mtime_ns


def stamp_of(href: str, item: radicale_item.Item, stat: os.stat_result) -> Stamp:
    """The stamp of a file just written (or just read) as ``item``."""
    return Stamp(href, stat.st_size, stat.st_mtime_ns, item.etag, item.uid, item.component_name,
                 tuple(item.time_range))
