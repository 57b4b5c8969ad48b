"""The one way an item reaches a collection's folder: admit it, then commit it.

``admit`` asks the booking core about one item for a room and turns the verdict
into a ``Put`` — the item as it will be stored (with what the core stamped) and
its index row.  The row is computed here, before anything is written: a
booking that cannot be indexed is refused and nothing is left behind.
``admit_batch`` admits several, each against the room and the ones before it.

``commit`` then writes puts and removals, in this order:

1. the change journal (storage/journal.py), each href just before its file, so a
   crash can only announce a change that did not happen, never hide one;
2. the files, removals first (Radicale's own upload/delete: its cache and sync history);
3. the booking index of a room, once, with the folder's new fingerprint;
4. the mail to the organizers (storage/notify.py decides whether and what; never raises),
   on the paths that mail (``MAILED``), and on the same paths the organizer's copy of a
   meeting that invited the room (storage/scheduling/implicit.py ``reflect``, via ``Storage.reflect``).

Every write of an item uses it: CalDAV and JSON PUT and DELETE (store.py
``Collection.upload``/``delete``, also clear-bookings' writes), a MOVE into a
room, ``roomcal import`` and replace (storage/replace.py).  A MOVE out of a room
is Radicale's rename of the file, journaled and unindexed (``index_changes``) in
store.py.  Whole collections are not written item by item: a whole-calendar PUT
(admitted with ``admit_batch``) and a room's removal are one folder swap by
Radicale, after which store.py resets the journal and rebuilds or drops the
index; they mail nobody.
"""

import contextlib
import dataclasses
import os
from typing import Callable, List, Optional, Sequence

import radicale.item as radicale_item
from radicale.storage import multifilesystem

from roomcal.storage import context
from roomcal.storage.booking import Decision, row_for
from roomcal.storage.errors import BookingRefused, Refusal
from roomcal.storage.index import Row, Stamp
from roomcal.storage.stamps import stamp_of
from roomcal.storage.instances import Booking

# Why a write happens; it decides who hears of it.  Organizers are told what someone
# else did to their booking after a PUT, a DELETE (clear-bookings' too) or a replace.
# An import only adds bookings (nobody to tell); a MOVE has never mailed.  A copy written
# by scheduling (storage/scheduling/implicit.py) is the organizer's own doing: told in PARTSTAT;
# only a room's managers hear of it, when it waits for their approval (given ``before``).
PUT, DELETE, MOVE, IMPORT, REPLACE, SCHEDULED = "put", "delete", "move", "import", "replace", "scheduled"
MAILED = frozenset({PUT, DELETE, REPLACE})


@dataclasses.dataclass(frozen=True)
class Put:
    """One item to write: as it will be stored and, in a room, as admitted and indexed."""
    href: str
    item: radicale_item.Item
    booking: Optional[Booking] = None   # None outside rooms
    row: Optional[Row] = None           # None outside rooms


# -- admitting -------------------------------------------------------------------------------------
def admit(collection, room, view, href: Optional[str], item: radicale_item.Item, actor, *,
          previous: Optional[Booking] = None, check: bool = True) -> Put:
    """The booking core's verdict on one item for ``room``: a refusal (raised), or the Put.
    Without ``href`` the item's own, else ``<uid>.ics``."""
    core = collection._storage.core
    booking, changed = core.admit(room, item.serialize(), view, actor, previous=previous, check=check)
    item = _as_stored(collection, item, booking, changed)
    href = href or item.href or (item.uid + ".ics")
    return Put(href, item, booking, row_for(href, booking, core.max_occurrences))   # may refuse


def admit_batch(collection, room, view, items, actor, check: bool) -> List[Put]:
    """Admit ``[(href, item)]`` one after another, each against the room and the ones before
    it (``view.extra``): every Put, or one refusal that combines the refusals of all."""
    stored, refusals = [], []
    for href, item in items:
        try:
            put = admit(collection, room, view, href, item, actor, check=check)
        except Refusal as refusal:
            refusals.append(refusal)
            continue
        view.extra.append((put.row, put.booking))
        stored.append(put)
    if refusals:
        raise _combine(room, refusals)
    return stored


def _as_stored(collection, item: radicale_item.Item, booking: Booking, changed: bool) -> radicale_item.Item:
    """What is stored of an admitted booking: the client's item, or the one the core
    stamped (then the client is not given an ETag: RFC 4791 5.3.4)."""
    if not changed:
        return item
    context.note_rewritten()
    return collection._item(booking.to_ical())


def _combine(room, refusals: List[Refusal]) -> Refusal:
    refused = [r for r in refusals if isinstance(r, BookingRefused)]
    if len(refused) != len(refusals):
        return next(r for r in refusals if not isinstance(r, BookingRefused))
    decision = Decision(room, [v for r in refused for v in r.decision.violations],
                        [c for r in refused for c in r.decision.conflicts])
    return BookingRefused(decision)


# -- committing ------------------------------------------------------------------------------------
BATCH = 32   # more new files than this in one commit are written together (_write_new_files)

def commit(collection, *, put: Sequence[Put] = (), remove: Sequence[str] = (), reason: str,
           actor=None, before: Optional[Callable[[str], Optional[Booking]]] = None,
           progress=None) -> list:
    """Write ``put`` and remove the hrefs ``remove`` (admitted and checked: nothing here
    refuses).  ``before(href)`` reads a booking as it was, for the mails: called before
    anything is written, and only when a mail may go out.  ``progress(done, total)``
    after each file written.  Returns Radicale's upload results, one per put."""
    storage = collection._storage
    in_room = collection.room_id is not None
    told = in_room and reason in MAILED and before is not None
    mailing = told and storage.notifier.settings.enabled
    reflecting = told and storage.scheduling.enabled
    scheduled = in_room and reason == SCHEDULED and before is not None and storage.notifier.settings.enabled
    previous = {href: before(href) for href in [*remove, *(p.href for p in put)]} \
        if mailing or reflecting or scheduled else {}
    results = []
    if in_room:   # their stamps go before the files change, the new ones come after
        storage.index.forget_stamps(collection.path, [*remove, *(p.href for p in put)])
    for href in remove:
        storage.journal.record(collection.path, [href])
        multifilesystem.Collection.delete(collection, href)  # the file itself: admission is done
    stamps = []
    batch = in_room and len(put) > BATCH and not any(
        os.path.lexists(os.path.join(collection._filesystem_path, p.href)) for p in put)
    if batch:
        storage.journal.record(collection.path, [p.href for p in put])
        results = _write_new_files(collection, put, progress)
    for number, p in enumerate(put if not batch else (), 1):
        storage.journal.record(collection.path, [p.href])
        results.append(multifilesystem.Collection.upload(collection, p.href, p.item))
        if progress:
            progress(number, len(put))
    for p in put if in_room else ():
        with contextlib.suppress(OSError):   # p.item's text is the file's, byte for byte
            stamps.append(stamp_of(p.href, p.item, os.stat(os.path.join(collection._filesystem_path, p.href))))
    if in_room:
        index_changes(collection, put=[p.row for p in put], remove=remove, stamps=stamps)
    if mailing:
        room = collection.room()
        for href in remove:
            storage.notifier.after_write(room, href, previous[href], None, actor)
        for p in put:
            storage.notifier.after_write(room, p.href, previous[p.href], p.booking, actor)
    if scheduled:
        room = collection.room()
        for p in put:
            storage.notifier.after_write(room, p.href, previous[p.href], p.booking, actor, scheduled=True)
    if reflecting:
        room = collection.room()
        for href in remove:
            storage.reflect(room, previous[href], None)
        for p in put:
            storage.reflect(room, previous[p.href], p.booking)
    return results


def _write_new_files(collection, put: Sequence[Put], progress) -> list:
    """Many new files of a room (an import): each written whole and renamed into place, then
    made durable by one sync instead of one fsync each (10 000 files: 0.3 s instead of 35 s).
    Radicale's item cache and sync history of them are filled when Radicale first needs
    them; listings are served from their stamps meanwhile (storage/stamps.py)."""
    folder = collection._filesystem_path
    results = []
    for number, p in enumerate(put, 1):
        # (Radicale's prefix, so its clean-up and `roomcal check` know a leftover; mkstemp's
        # random names cost more than writing the file)
        temporary = os.path.join(folder, f".Radicale.tmp-roomcal-{os.getpid()}-{number}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)   # a leftover of a crash: ours
        try:
            with open(fd, "w", newline="", encoding=collection._encoding) as f:
                f.write(p.item.serialize())
            os.replace(temporary, os.path.join(folder, p.href))
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise
        results.append((p.item, None))
        if progress:
            progress(number, len(put))
    if collection._storage._filesystem_fsync:
        os.sync()
    return results


def index_changes(collection, put: Sequence[Row] = (), remove: Sequence[str] = (),
                  stamps: Sequence[Stamp] = ()) -> None:
    """The room's index after its files changed: the rows, the files' stamps, and the
    folder's new fingerprint."""
    newest = max((s.mtime_ns for s in stamps), default=0)
    collection._storage.index.change(collection.path, collection._fingerprint(), put=put, remove=remove,
                                     newest=newest, stamps=stamps)
