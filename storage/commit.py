"""The one way an item reaches a collection: admit it, then commit it.

``admit`` asks the booking core about one item for a room and turns the verdict
into a ``Put`` — the item as it will be stored (with what the core stamped) and
its index row.  The row is computed here, before anything is written: a
booking that cannot be indexed is refused and nothing is left behind.
``admit_batch`` admits several, each against the room and the ones before it.

``commit`` then writes puts and removals, in this order:

1. the change journal (storage/journal.py), before any item, so a crash can only
   announce a change that did not happen, never hide one;
2. the items, removals first, by the collection's backend (``_remove_item``,
   ``_store_items``: Radicale's files in storage/store.py, rows in storage/postgres/store.py);
3. the booking index of a room, once (``_indexed``);
4. the mail to the organizers (storage/notify.py decides whether and what; never raises),
   on the paths that mail (``MAILED``), and on the same paths the organizer's copy of a
   meeting that invited the room (storage/scheduling/implicit.py ``reflect``, via ``Storage.reflect``).

With PostgreSQL all of it is one transaction, the request's; with files each step
is durable before the next.  Every write of an item uses it: CalDAV and JSON PUT
and DELETE (guarded.py ``GuardedCollection.upload``/``delete``, also clear-bookings'
writes), a MOVE into a room, ``roomcal import`` and replace (storage/replace.py).  A
MOVE out of a room is the backend's move, journaled and unindexed in guarded.py.
Whole collections are not written item by item: a whole-calendar PUT (admitted with
``admit_batch``) and a room's removal are one swap by the backend, after which
guarded.py resets the journal and rebuilds or drops the index; they mail nobody.
"""

import dataclasses
from typing import Callable, List, Optional, Sequence

import radicale.item as radicale_item

from roomcal.storage import context
from roomcal.storage.booking import Decision, row_for
from roomcal.storage.errors import BookingRefused, Refusal
from roomcal.storage.index import Row
from roomcal.storage.instances import Booking

# Why a write happens; it decides who hears of it.  Organizers are told what someone
# else did to their booking after a PUT, a DELETE (clear-bookings' too) or a replace.
# An import only adds bookings (nobody to tell); a MOVE has never mailed.  A copy written
# by scheduling (storage/scheduling/implicit.py) is the organizer's own doing: told in PARTSTAT;
# only a room's managers hear of it, when it waits for their approval (given ``before``).
PUT, DELETE, MOVE, IMPORT, REPLACE, SCHEDULED = "put", "delete", "move", "import", "replace", "scheduled"
MAILED = frozenset({PUT, DELETE, REPLACE})
HELD_MARGIN = 86400   # Radicale reads floating times and dates as UTC, the booking core in the room's zone


def held_reach(room) -> int:
    """How far around a span the booking core may look for the room's rows: a day for
    floating times, and the room's buffer (``RoomView.hold``)."""
    return HELD_MARGIN + room.buffer_seconds()


@dataclasses.dataclass(frozen=True)
class Put:
    """One item to write: as it will be stored and, in a room, as admitted and indexed."""
    href: str
    item: radicale_item.Item
    booking: Optional[Booking] = None   # None outside rooms
    row: Optional[Row] = None           # None outside rooms
    checked: bool = True                # False: an admin's import --allow-conflicts


# -- admitting -------------------------------------------------------------------------------------
def admit(collection, room, view, href: Optional[str], item: radicale_item.Item, actor, *,
          previous: Optional[Booking] = None, check: bool = True) -> Put:
    """The booking core's verdict on one item for ``room``: a refusal (raised), or the Put.
    Without ``href`` the item's own, else ``<uid>.ics``."""
    core = collection._storage.core
    booking, changed = core.admit(room, item.serialize(), view, actor, previous=previous, check=check)
    item = _as_stored(collection, item, booking, changed)
    href = href or item.href or (item.uid + ".ics")
    return Put(href, item, booking, row_for(href, booking, core.max_occurrences), check)   # may refuse


def admit_batch(collection, room, view, items, actor, check: bool) -> List[Put]:
    """Admit ``[(href, item)]`` one after another, each against the room and the ones before
    it (``view.extra``): every Put, or one refusal that combines the refusals of all."""
    if check and len(items) > 1:
        # The stored rows around them, read once: their items' time ranges (Radicale's), widened.
        spans = [item.time_range for _, item in items]
        reach = held_reach(room)
        view.hold(min(s for s, _ in spans) - reach, max(e for _, e in spans) + reach)
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
def commit(collection, *, put: Sequence[Put] = (), remove: Sequence[str] = (), reason: str,
           actor=None, before: Optional[Callable[[str], Optional[Booking]]] = None,
           progress=None) -> list:
    """Write ``put`` and remove the hrefs ``remove`` (admitted and checked: nothing here
    refuses).  ``before(href)`` reads a booking as it was, for the mails: called before
    anything is written, and only when a mail may go out.  ``progress(done, total)``
    after each item written.  Returns Radicale's upload results, one per put."""
    storage = collection._storage
    in_room = collection.room_id is not None
    told = in_room and reason in MAILED and before is not None
    mailing = told and storage.notifier.settings.enabled
    reflecting = told and storage.scheduling.enabled
    scheduled = in_room and reason == SCHEDULED and before is not None and storage.notifier.settings.enabled
    hrefs = [*remove, *(p.href for p in put)]
    previous = {href: before(href) for href in hrefs} if mailing or reflecting or scheduled else {}
    with collection._writes_together():
        if in_room:
            collection._before_write(hrefs)
        storage.journal.record(collection.path, hrefs)
        for href in remove:
            collection._remove_item(href)
        results = collection._store_items(put, progress)
        if in_room:
            collection._indexed(put, remove)
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
