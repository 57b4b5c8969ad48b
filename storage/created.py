"""When a booking was made: what clear-bookings orders by and the mails tell.

A leaf of its own, so that storage/notify.py need not import storage/clearing.py,
which imports notify to announce its removals (no cycle).
"""

import datetime
from typing import Optional

from roomcal.storage.booking import BOOKED_AT
from roomcal.storage.instances import Booking, instant


def created_at(booking: Booking, stored_at: Optional[float]) -> Optional[int]:
    """When a booking was made: CREATED, else DTSTAMP, else X-ROOMCAL-BOOKED-AT, else stored."""
    for name in ("CREATED", "DTSTAMP"):
        value = booking.master.get(name)
        moment = getattr(value, "dt", None)
        if isinstance(moment, (datetime.datetime, datetime.date)):
            return instant(moment, datetime.timezone.utc)
    booked_at = booking.get(BOOKED_AT)
    if booked_at:
        try:
            return int(datetime.datetime.strptime(booked_at, "%Y%m%dT%H%M%SZ")
                       .replace(tzinfo=datetime.timezone.utc).timestamp())
        except ValueError:
            pass
    return int(stored_at) if stored_at is not None else None
