"""A booking given as JSON, turned into iCalendar for the booking core.

Takes the short form ``{title, start, end, description}`` (ISO 8601; without an
offset, in the room's time zone) and the core of a JSCalendar Event (``title``,
``description``, ``start`` + ``timeZone`` + ``duration``, ``showWithoutTime``,
``uid``).  The complete RFC 8984 mapping is a separate module; this one only
has to describe a slot.
"""

import datetime
import uuid
import zoneinfo

import icalendar

from storage import durations
from storage.errors import InvalidBooking
from storage.rooms import parse_local, zone
from storage.text import free_text, one_line


def to_ical(event: dict, room) -> str:
    if not isinstance(event, dict):
        raise InvalidBooking("A booking must be a JSON object.")
    title = event.get("title", event.get("name", ""))
    if not isinstance(title, str):
        raise InvalidBooking("'title' must be a string.")
    uid = str(event.get("uid") or uuid.uuid4())
    if not one_line(uid):  # it also names the file (storage/store.py free_href)
        raise InvalidBooking("'uid' must be one line, without control characters.")
    for name, value in (("title", title), ("description", str(event.get("description") or ""))):
        if not free_text(value):
            raise InvalidBooking(f"'{name}' must not contain control characters "
                                 "(line breaks and tabs are fine).")
    tz = room.tz
    if event.get("timeZone"):
        try:
            tz = zone(event["timeZone"])
        except ValueError as e:
            raise InvalidBooking(f"timeZone: {e}.") from None
    all_day = bool(event.get("showWithoutTime"))
    start = _moment(event, "start", tz)
    if "end" in event:
        end = _moment(event, "end", tz)
    elif "duration" in event:
        try:
            end = start + datetime.timedelta(seconds=durations.parse(str(event["duration"])).seconds)
        except ValueError as e:
            raise InvalidBooking(f"duration: {e}.") from None
    else:
        raise InvalidBooking("A booking needs 'end' or 'duration'.")
    if end < start:
        raise InvalidBooking("'end' is before 'start'.")
    vevent = icalendar.Event()
    vevent.add("UID", uid)
    vevent.add("DTSTAMP", datetime.datetime.now(datetime.timezone.utc))
    vevent.add("SUMMARY", title)
    if event.get("description"):
        vevent.add("DESCRIPTION", str(event["description"]))
    if all_day:
        vevent.add("DTSTART", start.date())
        vevent.add("DTEND", end.date() if end.date() > start.date() else start.date() + datetime.timedelta(days=1))
    else:
        vevent.add("DTSTART", start)
        vevent.add("DTEND", end)
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//roomcal//EN")
    calendar.add("VERSION", "2.0")
    calendar.add_component(vevent)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()


def _moment(event: dict, name: str, tz) -> datetime.datetime:
    value = event.get(name)
    if not isinstance(value, str):
        raise InvalidBooking(f"'{name}' must be an ISO 8601 date-time string.")
    try:
        moment = parse_local(value, tz)
    except ValueError as e:
        raise InvalidBooking(f"'{name}': {e}.") from None
    # A fixed offset ("+02:00") names no time zone: store the instant in UTC.
    if not isinstance(moment.tzinfo, zoneinfo.ZoneInfo):
        moment = moment.astimezone(datetime.timezone.utc)
    return moment
