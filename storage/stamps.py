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


class StampedItem(radicale_item.Item):
    def __init__(self, path: str, stamp: Stamp, stat: os.stat_result, collection):
        # Radicale's __init__ re-sanitizes the collection's path for every item (a third of
        # a 10 000-item listing): the same attributes, set directly.
        self._collection_path = collection.path
        self.collection = collection
        self.href = stamp.href
        self._mtime = stat.st_mtime
        self._text = None   # read on first use
        self._vobject_item = None
        self._etag = stamp.etag
        self._uid = stamp.uid
        self._name = "VCALENDAR"
        self._component_name = stamp.component
        self._time_range = stamp.time_range
        self._path = path
        self._encoding = getattr(collection, "_encoding", "utf-8")

    @property
    def last_modified(self) -> str:   # (formatted when asked: a listing of ETags never does)
        return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(self._mtime))

    def serialize(self) -> str:
        if self._text is None:
            with open(self._path, "rb") as f:
                self._text = f.read().decode(self._encoding)
        return self._text

    @property
    def vobject_item(self):
        self.serialize()
        return super().vobject_item


def matches(stamp: Optional[Stamp], stat: os.stat_result) -> bool:
    return stamp is not None and stamp.size == stat.st_size and stamp.mtime_ns == stat.st_mtime_ns


def stamp_of(href: str, item: radicale_item.Item, stat: os.stat_result) -> Stamp:
    """The stamp of a file just written (or just read) as ``item``."""
    return Stamp(href, stat.st_size, stat.st_mtime_ns, item.etag, item.uid, item.component_name,
                 tuple(item.time_range))
