"""A fake ``Existing`` (storage.booking.Existing) for testing the booking core without a
server: the rows as the index answers them, by brute force, and the stored bookings."""

from roomcal.storage.booking import EARLIEST, OWNER
from roomcal.storage.index import Row
from roomcal.storage.instances import INFINITY, Booking


class Fake:
    """An Existing as the index answers: exact singles, series by envelope."""

    def __init__(self, r, texts=()):
        self.room = r
        self.bookings, self.rows = {}, []
        for text in texts:
            self.add(text)
        self.queries = 0

    def add(self, text, href=None):
        booking = Booking(text, self.room.tz)
        start, end = booking.envelope(1000)
        href = href or booking.uid + ".ics"
        # a series may block (an override can, even when its main event does not)
        blocking = booking.recurring or booking.occurrences(EARLIEST, INFINITY, 1000)[0].blocking
        self.rows.append(Row(href, booking.uid, start, end, booking.recurring, blocking,
                             (booking.get("STATUS") or "").upper(),
                             "" if booking.get("CLASS") else booking.summary,
                             booking.get(OWNER) or ""))
        self.bookings[href] = booking

    def overlapping(self, start, end):
        self.queries += 1
        return [r for r in self.rows if r.blocking and r.start < end and (r.end > start or r.start == start)]

    def booking(self, href):
        return self.bookings.get(href)

    def owned(self, owner, start, end):
        return [r for r in self.rows if r.owner == owner and r.blocking
                and r.start < end and (r.end > start or r.start == start)]
