"""A user's copy of a scheduled event: found by UID in their calendars.

Scheduling writes an event into other collections than the one the client wrote
(a room's calendar, an attendee's, the organizer's back again).  Those copies
share the UID, and nothing else ties them together: this is the one lookup.
Call it under the storage lock.
"""

import uuid
from typing import Iterator, Optional, Tuple

from radicale import pathutils

from roomcal.storage import rooms


def calendars_of(storage, user: str) -> Iterator:
    """The user's calendar collections (``/<user>/<calendar>/``), in path order."""
    if not user or user.startswith(".") or user == rooms.ROOMS or "/" in user:
        return
    found = [c for c in storage.discover(f"/{user}/", depth="1")
             if getattr(c, "tag", None) == "VCALENDAR" and c.path.strip("/").count("/") == 1
             and c.path.strip("/").split("/")[0] == user]
    yield from sorted(found, key=lambda c: c.path)


def takes_events(collection) -> bool:
    """A calendar that accepts VEVENTs (no component set: Radicale's default, all)."""
    components = collection.get_meta("C:supported-calendar-component-set") or ""
    return not components.strip() or "VEVENT" in [c.strip().upper() for c in components.split(",")]


def find_copy(storage, user: str, uid: str) -> Optional[Tuple[object, str]]:
    """(collection, href) of the event ``uid`` in one of ``user``'s calendars, or None."""
    for collection in calendars_of(storage, user):
        guess = f"{uid}.ics"   # how clients and roomcal name items: no scan for the usual case
        item = collection._get(guess) if pathutils.is_safe_filesystem_path_component(guess) else None
        if item is not None and item.uid == uid:
            return collection, guess
        if collection.has_uid(uid):
            for item in collection.get_all():
                if item.uid == uid:
                    return collection, item.href
    return None


def default_calendar(storage, user: str, *, create: bool = False):
    """The calendar invitations are delivered to (``schedule-default-calendar-URL``): the
    user's first that takes events, by path, or None.  The rooms their home lists are
    not theirs and never count.  ``create`` (under the write lock): a user who has none
    gets ``/<user>/calendar/`` (an invitation must land somewhere their apps look)."""
    found = next((c for c in calendars_of(storage, user) if takes_events(c)), None)
    if found is not None or not create:
        return found
    taken = {c.path.strip("/").split("/")[-1] for c in storage.discover(f"/{user}/", depth="1")}
    name = next(n for n in ("calendar", *(f"calendar-{i}" for i in range(2, 100)), uuid.uuid4().hex)
                if n not in taken)
    storage.create_collection(f"/{user}/{name}/", props={
        "tag": "VCALENDAR", "D:displayname": "Calendar", "C:supported-calendar-component-set": "VEVENT"})
    return default_calendar(storage, user)


def default_calendar_path(storage, user: str) -> Optional[str]:
    """``default_calendar``'s path ``/<user>/<calendar>/``, under a read lock of its own."""
    with storage.acquire_lock("r", user):
        calendar = default_calendar(storage, user)
        return f"/{calendar.path.strip('/')}/" if calendar is not None else None

