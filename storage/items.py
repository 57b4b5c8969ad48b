"""Calendar text as Radicale's items: split into one item per UID, screened, given a free href.

Shared by every writer that takes iCalendar text from outside Radicale's own
PUT (write_item, ``roomcal import``, replace): a leaf, so that none of them
needs the storage plugin (guarded.py) to read its input.
"""

from typing import List

import radicale.item as radicale_item
from radicale import pathutils

from roomcal.storage.errors import InvalidBooking, UnsafeCalendarData
from roomcal.storage.screen import UnsafeCalendar, screen
from roomcal.storage.text import one_line


def split_calendar(configuration, path: str, text: str) -> List[radicale_item.Item]:
    """One prepared Item per UID, exactly as Radicale splits a whole-collection PUT."""
    from radicale.app.put import prepare
    screened(text)
    try:
        vobject_items = radicale_item.read_components(text)
        items, _, _, _, error = prepare(
            vobject_items, path, "text/calendar", True, False,
            configuration.get("server", "max_resource_size"),
            configuration.get("server", "max_vevent_rrule_occurrence"),
            "VCALENDAR", True)
        items = list(items)
    except Exception as e:
        raise InvalidBooking(f"The calendar data is not valid iCalendar: {e}") from None
    if error:
        raise InvalidBooking(f"The calendar data is not valid iCalendar: {error[1]}")
    return items


def screened(text: str) -> None:
    """Refuse (UnsafeCalendarData) what storage/screen.py does not let through to the parsers."""
    try:
        screen(text)
    except UnsafeCalendar as e:
        raise UnsafeCalendarData(str(e)) from None


def free_href(uid: str, taken) -> str:
    href = f"{uid}.ics"
    if pathutils.is_safe_filesystem_path_component(href) and one_line(href) and not taken(href):
        return href
    return radicale_item.find_available_uid(taken, ".ics")
