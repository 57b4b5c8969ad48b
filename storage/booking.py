"""The booking core: the one place that decides whether a write into a room is allowed.

Every path — CalDAV item PUT, whole-collection PUT, MOVE, the JSON layer,
/api and ``roomcal import`` — ends in ``BookingCore.decide`` (dry run) or
``BookingCore.admit`` (decide, refuse or return what to store).

Conflicts: intervals are half-open; with buffer B two occurrences conflict
when the gap between them is shorter than B (``overlap.clash``); CANCELLED and
TRANSPARENT occurrences do not block, TENTATIVE (pending) ones do; with
quantity N a write is refused when more than N occurrences would be held at
one instant (each from its start until B after its end: ``overlap.blockers``).
Only the occurrences a write adds or moves are checked (against rules and
against other bookings), so editing or moving your own booking never
conflicts with itself.  Series are expanded up to the room's horizon
(max-advance, else the configured default) and never past a count.
"""

import contextlib
import contextvars
import dataclasses
import datetime
import time
from typing import Dict, List, Optional, Protocol, Tuple

from roomcal.storage import checkin, overlap, quotas, roles, rules
from roomcal.storage.context import Actor
from roomcal.storage.durations import Duration
from roomcal.storage.errors import AccessDenied, BookingRefused, InvalidBooking, UnsupportedComponent
from roomcal.storage.index import Row
from roomcal.storage.instances import (INFINITY, BadBooking, Booking, NotAnEvent, Occurrence,
                               TooManyOccurrences, instant, iso, utc)
from roomcal.storage.outline import Outline
from roomcal.storage.rooms import FIRST_YEAR, LAST, LAST_YEAR, Room

OWNER = roles.OWNER  # who booked (the roles ask for it too)
BOOKED_AT = "X-ROOMCAL-BOOKED-AT"
# What ``BookingCore._stamp`` writes on every admitted booking.  No client sets these
# (the core overwrites them, and JSON refuses them as members); views show only what
# the core wrote.  (STATUS in approval rooms is stamped too, but it is a standard member.)
STAMPED = (OWNER, BOOKED_AT, checkin.CHECKED_IN)
EARLIEST = -2208988800  # 1900-01-01: "from the first occurrence"


# Set around the check-in verb's write (storage/verbs.py), the one write whose check-ins
# are kept as sent: every other write gets the stored ones back (``_stamp``).
_checking_in: contextvars.ContextVar = contextvars.ContextVar("roomcal_checking_in", default=False)


@contextlib.contextmanager
def checking_in():
    token = _checking_in.set(True)
    try:
        yield
    finally:
        _checking_in.reset(token)


def is_stamped(name: str) -> bool:
    """``name`` (any case: a JSON member or an iCalendar property) is server-stamped."""
    return isinstance(name, str) and name.upper() in STAMPED


@dataclasses.dataclass(frozen=True)
class Conflict:
    href: Optional[str]   # href, uid and title are None for who sees free/busy only
    uid: Optional[str]
    start: int
    end: int
    title: Optional[str]  # also None for a private booking

    def to_json(self, room: Room) -> dict:
        body = {"start": iso(room, self.start), "end": iso(room, self.end)}
        if self.href is not None:
            body["href"] = room.url(self.href)
        for name in ("uid", "title"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body

    def busy_only(self) -> "Conflict":
        """Times only: a UID can say as much as a title ("board-layoffs")."""
        return dataclasses.replace(self, href=None, uid=None, title=None)


@dataclasses.dataclass
class Decision:
    room: Room
    violations: List[rules.Violation]
    conflicts: List[Conflict]
    moves: bool = False   # the write adds or moves occurrences (new times)
    skipped: list = dataclasses.field(default_factory=list)   # left out by skipConflicts (series.py)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.conflicts

    def message(self) -> str:
        sentences = [v.message[0].upper() + v.message[1:] + "." for v in self.violations]
        if self.conflicts:
            shown = []
            for c in self.conflicts[:3]:
                what = f"“{c.title}”" if c.title else "another booking"
                shown.append(f"{what} from {_human(self.room, c.start)} to {_human(self.room, c.end)}")
            more = f" and {len(self.conflicts) - 3} more" if len(self.conflicts) > 3 else ""
            limit = self.room.rules.quantity
            capacity = "" if limit == 1 else f" (it can be booked {limit} times at once)"
            sentences.append(f"{self.room.name} is already booked{capacity}: {'; '.join(shown)}{more}. "
                             "Choose another time or another room.")
        return " ".join(sentences) or "The booking is allowed."

    def details(self) -> dict:
        return {"violations": [v.to_json() for v in self.violations],
                "conflicts": [c.to_json(self.room) for c in self.conflicts]}


class Existing(Protocol):
    """The bookings already in a room, as the index and the store see them."""

    def overlapping(self, start: int, end: int) -> List[Row]: ...

    def booking(self, href: str) -> Optional[Booking]: ...

    def owned(self, owner: str, start: int, end: int) -> List[Row]:
        """The blocking rows of ``owner``'s bookings meeting [start, end) (quotas)."""
        ...


class BookingCore:
    def __init__(self, accounts, horizon: Duration, max_occurrences: int = 5000):
        self.accounts = accounts
        self.horizon = horizon
        self.max_occurrences = max_occurrences

    # -- who may do what: storage/roles.py (the rights plugin asks there too) ---------
    is_manager = staticmethod(roles.is_manager)
    may_book = staticmethod(roles.may_book)
    may_view = staticmethod(roles.may_view)
    may_see_details = staticmethod(roles.may_see_details)
    may_change = staticmethod(roles.may_change)
    check_change = staticmethod(roles.check_change)

    # -- the decision --------------------------------------------------------------
    def parse(self, room: Room, text: str) -> Booking:
        try:
            booking = Booking(text, room.tz)
        except NotAnEvent as e:
            raise UnsupportedComponent(room.name, e.component) from None
        except BadBooking as e:
            raise InvalidBooking(f"This booking cannot be read: {e}.") from None
        outside = _outside_years(booking)
        if outside:
            raise InvalidBooking(f"This booking cannot be taken: {outside}.")
        return booking

    def decide(self, room: Room, candidate: Booking, existing: Existing, *,
               previous: Optional[Booking] = None, now: Optional[int] = None,
               actor: Optional[Actor] = None) -> Decision:
        """``actor``: who writes, for the quotas (without one, none are checked)."""
        now = int(time.time()) if now is None else now
        horizon = self.horizon_of(room, now)
        return self._decide(room, candidate, existing, self._unchanged(previous, horizon),
                            previous is None, now, horizon, quota_booker(room, actor))

    def _unchanged(self, previous: Optional[Booking], horizon: int) -> set:
        """(start, end, blocking) of the occurrences a booking had before this write: the ones
        a new version keeps are not checked again."""
        if previous is None:
            return set()
        try:
            return {(o.start, o.end, o.blocking) for o in previous.occurrences(
                EARLIEST, until(previous, horizon), self.max_occurrences) if o.status != "CANCELLED"}
        except (BadBooking, TooManyOccurrences):
            return set()

    def _decide(self, room: Room, candidate: Booking, existing: Existing, before: set,
                is_new: bool, now: int, horizon: int, booker: Optional[str] = None) -> Decision:
        violations: List[rules.Violation] = []
        try:
            occurrences, count, capped, last_start = self._expand(room, candidate, horizon)
        except TooManyOccurrences as e:
            violations.append(rules.Violation(
                "too-many-occurrences", f"the series has more than {e.limit} occurrences before "
                f"{_human(room, horizon)}; this server checks at most {e.limit}"))
            return Decision(room, violations, [])
        except BadBooking as e:   # e.g. a recurrence that takes too much work to expand
            raise InvalidBooking(f"This booking cannot be checked: {e}.") from None
        if occurrences and max(o.end for o in occurrences) > LAST.timestamp():  # a COUNT runs on
            raise InvalidBooking(f"This booking cannot be taken: the series runs past the year "
                                 f"{LAST_YEAR}; bookings lie in the years {FIRST_YEAR} to {LAST_YEAR}.")
        new = [o for o in occurrences
               if o.status != "CANCELLED" and (o.start, o.end, o.blocking) not in before]
        facts = rules.Facts(room=room, new=new, instance_count=count, count_capped=capped,
                            recurring=candidate.recurring, infinite=candidate.infinite,
                            last_start=last_start, now=now)
        violations.extend(rules.check(facts))
        if is_new:
            violations.extend(unavailable(room))
        if booker and new:
            violations.extend(self._quotas(room, candidate.uid, occurrences, before, booker,
                                           existing, now, horizon))
        conflicts = self._conflicts(room, candidate.uid, [o for o in new if o.blocking], existing)
        return Decision(room, violations, conflicts, moves=bool(new))

    def decide_each(self, room: Room, candidate: Booking, existing: Existing, *,
                    previous: Optional[Booking] = None, now: Optional[int] = None,
                    limit: int = 1000, actor: Optional[Actor] = None
                    ) -> Optional[List[Tuple[Occurrence, Decision]]]:
        """A series decided occurrence by occurrence, each as a booking of its own with the
        series' UID (so it never conflicts with the series' earlier version): every
        occurrence that is not cancelled, with its decision.  What only a series can break
        (recurring at all, instance counts) is ``decide``'s.  None when there are more than
        ``limit`` occurrences."""
        now = int(time.time()) if now is None else now
        horizon = self.horizon_of(room, now)
        try:
            occurrences = candidate.occurrences(EARLIEST, until(candidate, horizon), limit)
        except (BadBooking, TooManyOccurrences):
            return None
        before = self._unchanged(previous, horizon)   # once, not per occurrence
        booker = quota_booker(room, actor)
        probe = Booking("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//roomcal//occurrence//EN\r\n"
                        f"BEGIN:VEVENT\r\nUID:{candidate.uid}\r\nDTSTAMP:19700101T000000Z\r\n"
                        "DTSTART:19700101T000000Z\r\nDTEND:19700101T000000Z\r\n"
                        "END:VEVENT\r\nEND:VCALENDAR\r\n", room.tz)
        decided = []
        for occurrence in occurrences:
            if occurrence.status == "CANCELLED":
                continue
            # One parse for all: the same probe, moved (stamp replaces the values).
            probe.stamp("DTSTART", utc(occurrence.start))
            probe.stamp("DTEND", utc(occurrence.end))
            probe.stamp("TRANSP", None if occurrence.blocking else "TRANSPARENT")
            decided.append((occurrence, self._decide(room, probe, existing, before, previous is None,
                                                     now, horizon, booker)))
        return decided

    def horizon_of(self, room: Room, now: int) -> int:
        """How far ahead an open series is checked: the room's max-advance, else the server's."""
        return int((room.max_advance or self.horizon).after(utc(now)).timestamp())

    def admit(self, room: Room, text: str, existing: Existing, actor: Actor, *,
              previous: Optional[Booking] = None, check: bool = True) -> tuple:
        """Refuse, or return (booking to store, whether it differs from what was sent).

        ``check=False`` is the admin import's --allow-conflicts: stored as it is.
        """
        candidate = self.parse(room, text)
        if previous is None and not self.may_book(room, actor):
            raise AccessDenied(f"You may not book {room.name}: it is reserved for "
                               f"{', '.join(room.bookers)}.")
        self.check_change(room, actor, previous, "change")
        if previous is None and unavailable(room):  # every path, --allow-conflicts too
            raise BookingRefused(Decision(room, unavailable(room), []))
        moves = False   # unknown without a check (imports that allow conflicts): status kept
        if check:
            decision = self.decide(room, candidate, existing, previous=previous, actor=actor)
            if not decision.ok:
                raise BookingRefused(decision)
            moves = decision.moves
        return candidate, self._stamp(room, candidate, previous, actor, moves)

    def _stamp(self, room: Room, candidate: Booking, previous: Optional[Booking],
               actor: Actor, moves: bool = False) -> bool:
        """Server-owned facts: who booked and when, check-ins, and approval status.

        In approval rooms only managers set the status; a booker who moves an approved
        booking (new times) asks again: a manager approved the old times, not the new
        ones, so it is pending until approved again.  Other edits (title, notes) keep
        the status."""
        changed = False
        owner = previous.get(OWNER) if previous else (actor.user or None)
        booked_at = (previous.get(BOOKED_AT) if previous else None) or \
            utc(int(time.time())).strftime("%Y%m%dT%H%M%SZ")
        for name, value in ((OWNER, owner), (BOOKED_AT, booked_at)):
            if any((str(e[name]) if name in e else None) != value for e in candidate.events):
                candidate.stamp(name, value)
                changed = True
        if not _checking_in.get() and checkin.keep(candidate, previous):
            changed = True
        if room.rules.approval:
            status = (candidate.get("STATUS") or "").upper()
            wanted = status
            if previous is None:
                wanted = "TENTATIVE" if status != "CANCELLED" else status
            elif not self.is_manager(room, actor) and status != "CANCELLED":
                wanted = (previous.get("STATUS") or "TENTATIVE").upper()
                if wanted == "CANCELLED" or moves:
                    wanted = "TENTATIVE"
            if wanted != status:
                candidate.set_status(wanted)
                changed = True
        return changed

    # -- internals ---------------------------------------------------------------------
    def _expand(self, room: Room, candidate: Booking, horizon: int):
        """(occurrences before the horizon, count, count capped?, last start)."""
        cap = self.max_occurrences
        if candidate.infinite:
            occurrences = candidate.occurrences(EARLIEST, until(candidate, horizon), cap)
            return occurrences, len(occurrences), True, INFINITY
        limit = max(cap, (room.rules.max_instances or 0) + 1)
        everything = candidate.occurrences(EARLIEST, INFINITY, limit)
        # A finite booking is bounded by its count: all of it is checked, also past the
        # horizon (else a booking past max-advance would escape every rule and conflict).
        within = everything
        if len(within) > cap:
            raise TooManyOccurrences(cap)
        last_start = max((o.start for o in everything), default=EARLIEST)
        return within, len(everything), len(everything) > limit - 1, last_start

    def _quotas(self, room: Room, uid: str, occurrences: List[Occurrence], before: set,
                booker: str, existing: Existing, now: int, horizon: int) -> List[rules.Violation]:
        """storage/quotas.py on the booker's other bookings, read only where it needs them
        (now to the horizon, the periods the write adds time to); the booking itself, by
        UID, is never one of the others."""
        mine = [(o.start, o.end) for o in occurrences if o.blocking]
        had = [(start, end) for start, end, blocking in before if blocking]
        upcoming, periods = quotas.windows(room, mine, had, now, horizon)
        held = set()
        if upcoming is not None:   # one upcoming occurrence of each booking
            for row in existing.owned(booker, *upcoming):
                first = self._first_upcoming(row, existing, uid, *upcoming)
                if first is not None:
                    held.add(quotas.Held(row.href, first.start, first.end))
        # Every occurrence in the periods: each booking expanded once, from the first to
        # the last window it meets (what lies between is not counted: quotas.check).
        reach: Dict[str, tuple] = {}
        for lo, hi in periods:
            for row in existing.owned(booker, lo, hi):
                first = reach.get(row.href, (row, lo, hi))[1]
                reach[row.href] = (row, first, hi)
        for row, lo, hi in reach.values():
            held.update(quotas.Held(row.href, o.start, o.end) for o in self._held(row, existing, uid, lo, hi))
        return quotas.check(room, mine, had, held, now)

    def _held(self, row: Row, existing: Existing, uid: str, lo: int, hi: int) -> List[Occurrence]:
        """The blocking occurrences of another booking (its index ``row``) meeting [lo, hi)."""
        if row.uid == uid or not row.blocking:
            return []
        if not row.recurring:
            return [Occurrence(row.start, row.end, row.status, False)]
        booking = existing.booking(row.href)
        return [] if booking is None else blocking_occurrences(row, booking, lo, hi, self.max_occurrences)

    def _first_upcoming(self, row: Row, existing: Existing, uid: str, now: int,
                        horizon: int) -> Optional[Occurrence]:
        """An occurrence of another booking that holds the room and ends after ``now``, or
        None; a series is looked at in the next month first (where one usually is)."""
        soon = min(horizon, now + 31 * 86400)
        for lo, hi in ((now, soon), (soon, horizon)):
            found = [o for o in self._held(row, existing, uid, lo, hi) if o.end > now] if lo < hi else []
            if found or not row.recurring:
                return found[0] if found else None
        return None

    def _conflicts(self, room: Room, uid: str, new: List[Occurrence], existing: Existing) -> List[Conflict]:
        if not new:
            return []
        buffer = room.buffer_seconds()
        quantity = room.rules.quantity
        lo = min(overlap.reach(o.start, o.end, buffer)[0] for o in new)
        hi = max(overlap.reach(o.start, o.end, buffer)[1] for o in new)
        # Each series in range is expanded once for the whole window, into a lookup of
        # its blocking occurrences: (start, end, (href, uid, title)).
        series: Dict[str, overlap.Spans] = {}
        rows = existing.overlapping(lo, hi)
        window = overlap.Rows(rows)   # each occurrence's reach lies inside: read once, not once each
        for row in rows:
            if row.uid == uid or not row.recurring or not row.blocking:
                continue   # (a series that cannot block is one the index could not read)
            booking = existing.booking(row.href)
            if booking is None:
                continue
            who = (row.href, row.uid, booking.public_title)
            series[row.href] = overlap.Spans(
                (o.start, o.end, who) for o in blocking_occurrences(row, booking, lo, hi, self.max_occurrences))
        found: Dict[tuple, Conflict] = {}
        for o in new:
            around = overlap.reach(o.start, o.end, buffer)
            others = []  # (start, end, (href, uid, title))
            for row in window.overlapping(*around):
                if row.uid == uid:
                    continue
                if row.recurring:
                    if row.href in series:
                        others += series[row.href].meeting(*around)
                elif row.blocking:
                    others.append((row.start, row.end, (row.href, row.uid, row.summary or None)))
            for s, e, (href, other_uid, title) in overlap.blockers((o.start, o.end), others, buffer, quantity):
                found.setdefault((href, s), Conflict(href, other_uid, s, e, title))
        return sorted(found.values(), key=lambda c: (c.start, c.href))


def blocking_occurrences(row: Row, booking: Booking, lo: int, hi: int, limit: int) -> List[Occurrence]:
    """The occurrences of a stored series (its index ``row``) that block [lo, hi), as the
    core counts them (availability shows the same): one that cannot be expanded blocks
    its whole span."""
    try:
        return [o for o in booking.occurrences(lo, hi, limit) if o.blocking]
    except (BadBooking, TooManyOccurrences):
        return [Occurrence(max(row.start, lo), min(row.end, hi), "", False)]


def quota_booker(room: Room, actor: Optional[Actor]) -> Optional[str]:
    """Whose quota a write counts against: the writer's (who may change only their own
    bookings, unless they manage the room); None when the room has no quota, nobody is
    named, or a manager or admin writes."""
    if actor is None or not quotas.applies(room) or roles.is_manager(room, actor):
        return None
    return actor.user or None


def unavailable(room: Room) -> List[rules.Violation]:
    """An unavailable room refuses new bookings; the ones it has stay."""
    if room.status != "unavailable":
        return []
    reason = f" ({room.status_reason})" if room.status_reason else ""
    return [rules.Violation("unavailable", f"{room.name} is unavailable{reason} and takes no new "
                                           "bookings; choose another room")]


def _outside_years(booking: Booking) -> Optional[str]:
    """Why a booking's times (as written) leave the years a person may name
    (storage/rooms.py), or None: past them, arithmetic on its times (local days,
    buffers, listings in a time zone) runs off the ends of Python's calendar.
    A series that runs past them is refused by ``decide``."""
    for event in booking.events:
        values = [(name, event[name].dt) for name in ("DTSTART", "DTEND", "RECURRENCE-ID")
                  if name in event]
        if "DURATION" in event:
            try:
                values.append(("the end", event["DTSTART"].dt + event["DURATION"].dt))
            except OverflowError:
                values.append(("the end", datetime.date.max))
        for name, value in values:
            if not FIRST_YEAR <= value.year <= LAST_YEAR:
                return (f"{name} {value.isoformat()} is outside the years {FIRST_YEAR} to "
                        f"{LAST_YEAR}")
    return None


def until(booking: Booking, horizon: int) -> int:
    """How far a booking is expanded: a finite one whole; an open series up to the
    horizon, or through its first occurrence when it starts past the horizon."""
    if not booking.infinite:
        return INFINITY
    first = min(instant(e["DTSTART"].dt, booking.tz) for e in booking.events)
    return max(horizon, first + 1)


def _human(room: Room, seconds: int) -> str:
    return utc(seconds).astimezone(room.tz).strftime("%Y-%m-%d %H:%M %Z")


def row_for(href: str, booking: Booking, max_occurrences: int) -> Row:
    """The index row of a booking.  Writers ask for it before they store anything: a booking
    that cannot be indexed (its series too much work to expand) is refused, not left behind."""
    try:
        start, end = booking.envelope(max_occurrences)
        if booking.recurring:
            blocking = True  # an override may block even when the master does not
        else:
            occurrence = booking.occurrences(EARLIEST, INFINITY, 1)
            blocking = bool(occurrence) and occurrence[0].blocking
    except BadBooking as e:
        raise InvalidBooking(f"This booking cannot be checked: {e}.") from None
    return Row(href, booking.uid, start, end, booking.recurring, blocking,
               (booking.get("STATUS") or "").upper(), booking.public_title or "",
               booking.get(OWNER) or "", Outline.of(booking).to_text())
