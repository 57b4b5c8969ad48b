"""What lists show of a booking (the JSON listing, the web pages), read from it once.

Parsing a booking's iCalendar text costs about a third of a millisecond: a week of a busy
room (168 bookings) spent three quarters of its listing there.  The booking core reads
each booking when it is written anyway (``row_for``), so its ``Outline`` goes into its
index row, and a listing of single bookings is served from the index alone.  A series
is still read (its first occurrence depends on the window asked), as is a row without
an outline (written before outlines were kept; ``roomcal check --repair`` fills them).
"""

import dataclasses
import datetime
import json
from typing import Optional, Tuple

from roomcal.storage import checkin
from roomcal.storage.instances import Booking
from roomcal.storage.roles import OWNER


def status_named(status: Optional[str]) -> str:
    """Our name of an iCalendar STATUS (the booking's, or its index row's)."""
    return {"CANCELLED": "cancelled", "TENTATIVE": "pending"}.get((status or "").upper(), "confirmed")


@dataclasses.dataclass(frozen=True)
class Outline:
    uid: str
    title: str                  # SUMMARY ("" when none), shown only to who may see details
    status: str                 # confirmed, pending or cancelled
    recurring: bool
    all_day: bool
    private: bool               # CLASS:PRIVATE or CONFIDENTIAL
    organizer: Optional[str]    # ORGANIZER as written
    owner: Optional[str]        # who booked
    check_ins: Tuple[Tuple[int, int], ...]   # (occurrence start, moment checked in), UTC seconds
    zone: str                   # the room's zone its times were read in when they depend on it
                                # (floating times, dates); "" when they do not

    @classmethod
    def of(cls, booking: Booking) -> "Outline":
        return cls(booking.uid, booking.summary, status_named(booking.get("STATUS")), booking.recurring,
                   booking.all_day, booking.private, booking.get("ORGANIZER"), booking.get(OWNER),
                   tuple(sorted(checkin.check_ins(booking).items())), _zone_read(booking))

    def holds_times_in(self, tz: datetime.tzinfo) -> bool:
        """Whether its index row's times are the booking's in a room of zone ``tz`` (a room
        whose zone changed since has rows of floating bookings read in the old one)."""
        return not self.zone or self.zone == str(tz)

    def checked_in(self, start: int) -> Optional[int]:
        """When the occurrence starting at ``start`` was checked in, or None."""
        return dict(self.check_ins).get(start)

    def to_text(self) -> str:
        """As the index keeps it (JSON)."""
        return json.dumps(dataclasses.astuple(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> Optional["Outline"]:
        """The outline an index row keeps; None when it has none (or one of another layout)."""
        if not text:
            return None
        try:
            uid, title, status, recurring, all_day, private, organizer, owner, check_ins, zone = json.loads(text)
            return cls(uid, title, status, recurring, all_day, private, organizer, owner,
                       tuple((start, moment) for start, moment in check_ins), zone)
        except (ValueError, TypeError):
            return None


def _zone_read(booking: Booking) -> str:
    """The zone the booking's times were read in when any is floating or a date, else ""."""
    for event in booking.events:
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            value = getattr(event.get(name), "dt", None)
            if value is not None and not (isinstance(value, datetime.datetime) and value.tzinfo is not None):
                return str(booking.tz)
    return ""
