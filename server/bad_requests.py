"""Why Radicale refused a PUT body with a bare "400 Bad Request".

Radicale tells why only in its log ("Bad PUT request on '/…' (prepare): Too many
recurrence rule entries …"), and only while [logging] lets warnings through.  The
two places where PUT's reasons arise, ``radicale.item.read_components`` (the body is
not iCalendar) and ``radicale.app.put.prepare`` (its items break Radicale's checks),
are wrapped once per process: the reason is kept for the request (storage/context.py)
and the front answers it in a DAV:error body, whatever [logging] says.  The one item a
PUT creates is noted too, its UID and time range (before the lock: the PostgreSQL store
sends the reads of a new booking with the lock's statements).
"""

import contextlib
import functools

from radicale import item as radicale_item
from radicale.app import put as radicale_put

from roomcal.storage import context


def install() -> None:
    if getattr(radicale_put.prepare, "keeps_reasons", False):
        return
    radicale_item.read_components = _keeping_reason_of(radicale_item.read_components)
    radicale_put.prepare = _keeping_reason_of_prepare(radicale_put.prepare)


def _keeping_reason_of(read_components):
    @functools.wraps(read_components)
    def read(*args, **kwargs):
        try:
            return read_components(*args, **kwargs)
        except Exception as e:
            context.note_unreadable(str(e))
            raise
    return read


def _keeping_reason_of_prepare(prepare):
    @functools.wraps(prepare)
    def prepared(*args, **kwargs):
        result = prepare(*args, **kwargs)
        items, _, whole, _, exc_info = result
        # OverflowError is Radicale's flag for max_resource_size: a 412, not a 400
        if exc_info and exc_info[0] is not OverflowError:
            context.note_unreadable(str(exc_info[1]))
        if exc_info or whole:   # (a whole calendar's items are left to Radicale's iterator)
            return result
        items = list(items)
        if len(items) == 1:
            with contextlib.suppress(Exception):   # (Radicale answers what it cannot read)
                context.note_new_item(items[0].uid, tuple(items[0].time_range))
        return (iter(items), *result[1:])
    prepared.keeps_reasons = True
    return prepared
