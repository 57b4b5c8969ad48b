"""Occurrences left out of a series (EXDATE in the stored item): one way for every writer.

- clear-bookings (storage/clearing.py): a later series loses the occurrences that collide;
- a meeting that invites a room (storage/scheduling/implicit.py): the room's copy leaves out
  the occurrences the booking core refuses one by one (``BookingCore.decide_each``);
- a booking with skipConflicts (``skip_conflicts``: /api's bookings and its dry run): the
  occurrences the core finds taken, decided in the write (or dry run) that stores it.

Each names an occurrence by its start; ``without_occurrences`` writes the EXDATEs.
"""

import dataclasses
from typing import Dict, List, Optional, Tuple

import icalendar

from roomcal.storage.booking import Conflict
from roomcal.storage.instances import Booking, instant, iso, like, utc, values_of


def recurrence_ids(booking: Booking, starts: List[int]) -> list:
    """The RECURRENCE-ID value of each of ``booking``'s occurrences starting at ``starts``
    (UTC seconds): a moved occurrence's own, else the start written as DTSTART is."""
    master_start = booking.master["DTSTART"].dt
    overridden = {instant(e["DTSTART"].dt, booking.tz): e["RECURRENCE-ID"].dt
                  for e in booking.events if "RECURRENCE-ID" in e}
    return [overridden.get(start) or like(utc(start), master_start, booking.tz) for start in starts]


def without_occurrences(booking: Booking, starts) -> Optional[str]:
    """The series' text with its occurrences starting at ``starts`` (UTC seconds) left out:
    an EXDATE on the main event for each, and a moved occurrence's override removed (some
    clients would still show an override of an excluded occurrence).  ``booking`` itself
    stays as it is.  None when the series has no main event."""
    calendar = icalendar.Calendar.from_ical(booking.to_ical())
    events = calendar.walk("VEVENT")
    master = next((e for e in events if "RECURRENCE-ID" not in e), None)
    if master is None:
        return None
    starts = sorted(set(starts))
    left_out = set(starts)
    for event in events:
        if "RECURRENCE-ID" in event and instant(event["DTSTART"].dt, booking.tz) in left_out:
            _remove_component(calendar, event)
    for value in recurrence_ids(booking, starts):
        master.add("EXDATE", value)
    return calendar.to_ical().decode()


def left_out_starts(booking: Booking) -> List[int]:
    """The starts (UTC seconds) of the occurrences the series' main event leaves out
    (its EXDATEs), in order: what ``without_occurrences`` wrote, read back."""
    starts = set()
    for exdate in values_of(booking.master, "EXDATE"):
        for value in getattr(exdate, "dts", []):
            starts.add(instant(value.dt, booking.tz))
    return sorted(starts)


def _remove_component(calendar, event) -> None:
    for component in calendar.walk():
        for position, child in enumerate(component.subcomponents):
            if child is event:
                del component.subcomponents[position]
                return


@dataclasses.dataclass(frozen=True)
class Skipped:
    """One occurrence a booking with skipConflicts left out, and the booking in its way."""
    start: int       # UTC seconds
    end: int
    conflict: Conflict   # as the one who books may see it (busy-only where not)

    def to_json(self, room) -> dict:
        return {"start": iso(room, self.start), "end": iso(room, self.end),
                "conflict": self.conflict.to_json(room)}


def left_out(room, skipped: List[Skipped]) -> str:
    """The sentence for people of what skipConflicts leaves out ("" for nothing)."""
    if not skipped:
        return ""
    shown = ", ".join(iso(room, s.start)[:16].replace("T", " ") for s in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return f"{len(skipped)} occurrence(s) are left out: {room.name} is taken then ({shown}{more})."


def skip_conflicts(core, room, candidate: Booking, existing, actor, *,
                   previous: Optional[Booking] = None) -> Tuple[Optional[str], List[Skipped]]:
    """(the text of ``candidate`` without the occurrences of its series that only conflict,
    those occurrences), decided by the core occurrence by occurrence against ``existing``;
    (None, []) when nothing is left out: a single booking, a series none or every one of
    whose occurrences conflicts (refused as a whole, as without skipping), or one with more
    occurrences than ``decide_each`` takes.  An occurrence that breaks a rule stays (the
    write is refused for it, as without skipping).  Call it under the lock of the write
    (or dry run) that uses the text."""
    if not candidate.recurring:
        return None, []
    decided = core.decide_each(room, candidate, existing, previous=previous, actor=actor) or []
    taken = [(o, d) for o, d in decided if d.conflicts and not d.violations]
    if not taken or len(taken) == len(decided):
        return None, []
    kept = without_occurrences(candidate, [o.start for o, _ in taken])
    if kept is None:   # overrides without their series: nothing to exclude them from
        return None, []
    seen: Dict[str, bool] = {}

    def shown(conflict: Conflict) -> Conflict:
        """Busy-only unless the one who books may see the booking's details (a private
        booking's UID can say as much as its title)."""
        if conflict.href is not None and conflict.href not in seen:
            other = existing.booking(conflict.href)
            seen[conflict.href] = other is not None and core.may_see_details(room, actor, other)
        return conflict if seen.get(conflict.href) else conflict.busy_only()

    return kept, [Skipped(o.start, o.end, shown(d.conflicts[0])) for o, d in taken]
