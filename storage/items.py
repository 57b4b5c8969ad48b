"""Calendar text as Radicale's items: split into one item per UID, screened, given a free href.

Shared by every writer that takes iCalendar text from outside Radicale's own
PUT (write_item, ``roomcal import``, replace): a leaf, so that none of them
needs the storage plugin (guarded.py) to read its input.
"""

import datetime
import re
from typing import List, NamedTuple, Optional, Tuple

import radicale.item as radicale_item
from radicale import pathutils, utils

from roomcal.storage.errors import InvalidBooking, UnsafeCalendarData
from roomcal.storage.screen import UnsafeCalendar, screen
from roomcal.storage.text import one_line


class KnownItem(radicale_item.Item):
    """Radicale's item from what a store keeps of it (ETag, UID, component, time range), made
    without Radicale's ``__init__``: that checks the collection's path again for every item,
    a third to a half of a room's listing.  The attributes are the ones it sets; the text may
    be read later (a subclass's ``serialize``), the UID and time range too (None: Radicale's
    properties parse the text for them)."""

    def __init__(self, collection, href: str, etag: str, uid: Optional[str], component: Optional[str],
                 time_range: Optional[Tuple[int, int]], text: Optional[str] = None):
        self._collection_path = collection.path
        self.collection = collection
        self.href = href
        self._text = text
        self._vobject_item = None
        self._etag = etag
        self._uid = uid
        # Radicale's find_tag names a component only inside a VCALENDAR: so the item's name is
        # known without parsing its text (a Depth-1 PROPFIND asks each item's content type)
        self._name = "VCALENDAR" if component else None
        self._component_name = component
        self._time_range = time_range

    @property
    def vobject_item(self):
        self.serialize()   # (Radicale's parses ``_text``, which a subclass may read only now)
        return super().vobject_item


def split_calendar(configuration, path: str, text: str) -> List[radicale_item.Item]:
    """One prepared Item per UID, exactly as Radicale splits a whole-collection PUT."""
    from radicale.app.put import prepare
    screened(text)
    items = _plain_split(path, text, configuration.get("server", "max_resource_size"))
    if items is not None:
        return items
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


# -- plain calendar text, without vobject --------------------------------------------------------
# Radicale keeps an item as vobject writes it back (``read_components`` then ``serialize``):
# ~1 ms per event each way, three quarters of a 10 000-event import.  For "plain" text that
# round trip changes nothing but the order of the lines (vobject writes a component's
# properties in a fixed order), so it is done here by sorting: every line unfolded and
# shorter than vobject folds, no parameters, a value with no escapes or separators (or a
# valid UTC date-time; DTSTART and DTEND may float), one VEVENT per UID, no nested
# component, each property once.  Anything else goes the long way, through vobject.
# tests/test_plain_items.py holds this to vobject's own round trip.
PRODID = "-//Radicale//NONSGML Version " + utils.package_version("radicale") + "//EN"   # radicale.app.put's
_LINE = 75                    # vobject folds lines of this many characters or more
_TEXT = re.compile(r"[^\\;,\"\s](?:[^\\;,\"]*[^\\;,\"\s])?\Z")   # nothing vobject escapes, no edge blanks
_NAME = re.compile(r"[A-Z][A-Z0-9-]*\Z")
_DATE_TIME = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(Z?)\Z")
_TEXT_PROPERTIES = frozenset({"UID", "SUMMARY", "DESCRIPTION", "LOCATION", "CLASS", "STATUS", "TRANSP",
                              "COMMENT", "SEQUENCE", "PRIORITY"})   # and X- names
_UTC_PROPERTIES = frozenset({"DTSTAMP", "CREATED", "LAST-MODIFIED"})
_TIME_PROPERTIES = frozenset({"DTSTART", "DTEND"})   # UTC or floating (both the same)
_CALENDAR_PROPERTIES = frozenset({"VERSION", "PRODID", "CALSCALE", "METHOD"})   # and X- names
# vobject's order: these first (VCALENDAR and VEVENT behaviours' sortFirst), then the rest by name.
_CALENDAR_FIRST = ("VERSION", "CALSCALE", "METHOD", "PRODID")
_EVENT_FIRST = ("UID", "RECURRENCE-ID", "DTSTART", "DURATION", "DTEND")


class _Event(NamedTuple):
    lines: dict          # name -> value, in the text's order
    uid: str
    time_range: Tuple[int, int]   # Radicale's (find_time_range)


def _plain_calendar(text: str) -> Optional[Tuple[dict, List[_Event]]]:
    """(calendar properties, events) of a plain VCALENDAR (see above), else None."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) < 2 or lines[0].rstrip("\r") != "BEGIN:VCALENDAR" or lines[-1].rstrip("\r") != "END:VCALENDAR":
        return None
    calendar, events, event = {}, [], None
    for line in lines[1:-1]:
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) >= _LINE or not line.isprintable():
            return None
        name, colon, value = line.partition(":")
        if not colon:
            return None
        if event is None:
            if name == "BEGIN" and value == "VEVENT":
                event = {}
            elif name in calendar or not _property(name, value, _CALENDAR_PROPERTIES):
                return None
            else:
                calendar[name] = value
        elif name == "END" and value == "VEVENT":
            event = _event(event)
            if event is None:
                return None
            events.append(event)
            event = None
        elif name in event or not _property(name, value, _TEXT_PROPERTIES, _UTC_PROPERTIES, _TIME_PROPERTIES):
            return None
        else:
            event[name] = value
    if event is not None or calendar.get("VERSION") != "2.0":
        return None
    return calendar, events


def _property(name: str, value: str, text: frozenset, utc: frozenset = frozenset(),
              times: frozenset = frozenset()) -> bool:
    if not _NAME.match(name):
        return False
    if name in utc:
        return value.endswith("Z") and _instant(value) is not None
    if name in times:
        return _instant(value) is not None
    return (name in text or name.startswith("X-")) and bool(_TEXT.match(value))


def _instant(value: str) -> Optional[int]:
    """Epoch seconds of a DATE-TIME, a floating one read as UTC (as Radicale's time range does)."""
    match = _DATE_TIME.match(value)
    if match is None:
        return None
    try:
        moment = datetime.datetime(*map(int, match.groups()[:6]), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return int(moment.timestamp()) if moment.year >= 1900 else None


def _event(lines: dict) -> Optional[_Event]:
    if not {"UID", "DTSTAMP", "DTSTART"} <= lines.keys():
        return None
    if "DTEND" in lines and lines["DTSTART"].endswith("Z") != lines["DTEND"].endswith("Z"):
        return None   # (Radicale's time range would take the zone of the machine)
    start = _instant(lines["DTSTART"])
    end = _instant(lines["DTEND"]) if "DTEND" in lines else start + 1   # Radicale's: a second
    return _Event(lines, lines["UID"], (start, end))


def _serialized(calendar: dict, event: _Event) -> str:
    """vobject's text of a VCALENDAR of these properties and one VEVENT."""
    out = ["BEGIN:VCALENDAR"]
    out.extend(f"{name}:{value}" for name, value in _ordered(calendar, _CALENDAR_FIRST))
    out.append("BEGIN:VEVENT")
    out.extend(f"{name}:{value}" for name, value in _ordered(event.lines, _EVENT_FIRST))
    out += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(out)


def _ordered(lines: dict, first: tuple) -> list:
    return ([(name, lines[name]) for name in first if name in lines]
            + sorted(((name, value) for name, value in lines.items() if name not in first),
                     key=lambda line: line[0].lower()))


def _item(collection_path: str, calendar: dict, event: _Event) -> radicale_item.Item:
    text = _serialized(calendar, event)
    return radicale_item.Item(collection_path=collection_path, text=text, etag=radicale_item.get_etag(text),
                              uid=event.uid, name="VCALENDAR", component_name="VEVENT",
                              time_range=event.time_range)


def plain_item(collection_path: str, text: str) -> Optional[radicale_item.Item]:
    """The Radicale item of one stored object's text, as Radicale would prepare it from vobject,
    when the text is plain (one VEVENT); else None."""
    plain = _plain_calendar(text)
    if plain is None or len(plain[1]) != 1 or "PRODID" not in plain[0]:
        return None   # (without a PRODID vobject writes its own)
    return _item(collection_path, plain[0], plain[1][0])


def _plain_split(path: str, text: str, max_size: int) -> Optional[List[radicale_item.Item]]:
    """``split_calendar`` of a plain calendar: Radicale's items of it, in its order (by UID)."""
    plain = _plain_calendar(text)
    if plain is None:
        return None
    events = plain[1]
    if len({event.uid for event in events}) != len(events):
        return None
    collection_path = pathutils.strip_path(path)
    header = {"VERSION": "2.0", "PRODID": PRODID}
    items = [_item(collection_path, header, event) for event in sorted(events, key=lambda e: e.uid)]
    if any(len(item.serialize()) > max_size for item in items):
        return None   # Radicale's refusal, the long way
    return items
