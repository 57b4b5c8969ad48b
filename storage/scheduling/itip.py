"""Reading scheduling objects (RFC 5546/6638): the VEVENTs of one UID, their ORGANIZER and ATTENDEEs.

Shared by the rooms' side (storage/scheduling/implicit.py) and the people's
(storage/scheduling/people.py).  Plain functions on ``icalendar`` objects: no storage.
"""

import datetime
from typing import List, Optional

import icalendar

from roomcal.storage.instances import values_of

# On the overrides (and comments) storage/scheduling/implicit.py writes into an organizer's copy.
GENERATED = "X-ROOMCAL-SCHEDULED"
TIMES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE")


def calendar(text: str) -> Optional[icalendar.Calendar]:
    """One scheduling object (VEVENTs of one UID), or None."""
    try:
        parsed = icalendar.Calendar.from_ical(text)
    except Exception:   # noqa: BLE001 — Radicale read it already; what we cannot read, we leave alone
        return None
    events = parsed.walk("VEVENT")
    return parsed if events and len({str(e.get("UID", "")) for e in events}) == 1 else None


def events(cal) -> List[icalendar.Event]:
    return [c for c in cal.subcomponents if c.name == "VEVENT"]


def master(cal):
    found = events(cal)
    return next((e for e in found if "RECURRENCE-ID" not in e), found[0])


def uid(cal) -> str:
    return str(events(cal)[0].get("UID", ""))


def organizer(cal) -> Optional[str]:
    value = master(cal).get("ORGANIZER")
    return str(value) if value else None


def attendees(event) -> list:
    return values_of(event, "ATTENDEE")


def scheduled(prop) -> bool:
    """The server schedules for this ATTENDEE (or ORGANIZER): SCHEDULE-AGENT=SERVER, the default."""
    return str(prop.params.get("SCHEDULE-AGENT", "SERVER")).upper() == "SERVER"


def key(value) -> object:
    """A RECURRENCE-ID compared as an instant (zones written differently are the same)."""
    if isinstance(value, datetime.datetime):
        return value.timestamp() if value.tzinfo else value
    return value


def rid(event) -> object:
    """The event's RECURRENCE-ID as ``key``, None for the master."""
    return key(event["RECURRENCE-ID"].dt) if "RECURRENCE-ID" in event else None


def status(cal) -> str:
    return str(master(cal).get("STATUS", "")).upper()
