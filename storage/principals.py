"""What a user's principal points at (RFC 6638): their default calendar.

``schedule-default-calendar-URL`` names the calendar that invitations for a user go
into: here the first calendar collection of their home ``/<user>/`` (by path) that
takes VEVENTs.  The rooms the home lists beside it (storage/store.py ``discover``)
are not theirs and never count.
"""

from typing import Optional

from roomcal.storage import addresses

COMPONENTS = "C:supported-calendar-component-set"


def takes_events(collection) -> bool:
    """A calendar collection that accepts VEVENTs (no component set: Radicale's default, all)."""
    if collection.tag != "VCALENDAR":
        return False
    components = collection.get_meta(COMPONENTS) or ""
    return not components.strip() or "VEVENT" in [c.strip().upper() for c in components.split(",")]


def default_calendar(storage, user: str) -> Optional[str]:
    """The path ``/<user>/<calendar>/`` of the user's first event calendar, or None."""
    home = addresses.user_principal(user)
    found = []
    with storage.acquire_lock("r", user):
        for item in storage.discover(home, depth="1"):
            path = "/" + (getattr(item, "path", "") or "").strip("/") + "/"
            if path == home or not path.startswith(home) or path.count("/") != 3:
                continue   # the home itself, a room it lists, an item
            if takes_events(item):
                found.append(path)
    return min(found) if found else None
