"""<C:expand> of events with floating times, read in the calendar's time zone.

Radicale 3.9 expands a recurring event with floating times (no TZID, no Z) by comparing
them with the request's UTC range, and answers 500 (stock Radicale too).  RFC 4791
§9.6.5: floating times are read in the calendar's time zone — for a room its own zone,
as the booking core reads them; elsewhere UTC.  Radicale's expansion is wrapped once per
process: it is handed a copy of such an item whose floating times carry that zone.  The
stored item is not touched.
"""

import datetime
import functools
from typing import Callable, Optional

from radicale import item as radicale_item
from radicale.app import report as radicale_report

from roomcal.storage.instances import floating

ZoneOf = Callable[[str], Optional[datetime.tzinfo]]   # collection path -> its zone, or None
_zone_of: ZoneOf = lambda path: None   # noqa: E731  (set by install)
ZONED = ("DTSTART", "DTEND", "RECURRENCE-ID")
ZONED_LISTS = ("EXDATE", "RDATE")


def install(zone_of: ZoneOf) -> None:
    global _zone_of
    _zone_of = zone_of
    if not getattr(radicale_report._expand, "reads_floating_times", False):
        radicale_report._expand = _reading_floating_times(radicale_report._expand)


def _reading_floating_times(expand):
    @functools.wraps(expand)
    def expand_zoned(element, item, *args, **kwargs):
        return expand(element, _zoned(item), *args, **kwargs)
    expand_zoned.reads_floating_times = True
    return expand_zoned


def _zoned(item: radicale_item.Item) -> radicale_item.Item:
    """``item``, or a copy whose floating times are in its calendar's zone."""
    events = [c for c in item.vobject_item.getChildren() if c.name == "VEVENT"]
    if not any(floating(getattr(getattr(e, "dtstart", None), "value", None)) for e in events):
        return item
    path = item.collection.path if item.collection is not None else item._collection_path
    # a zoneinfo zone: dateutil's rules step in wall-clock time with it (pytz zones,
    # which vobject makes of a TZID, would keep January's offset all year)
    tz = _zone_of(path) or datetime.timezone.utc
    calendar = item.vobject_item.duplicate(item.vobject_item)   # deep: the cached item stays
    for event in calendar.getChildren():
        if event.name != "VEVENT":
            continue
        for line in event.getChildren():
            if line.name in ZONED and floating(line.value):
                line.value = line.value.replace(tzinfo=tz)
            elif line.name in ZONED_LISTS and isinstance(line.value, list):
                # periods (RDATE;VALUE=PERIOD) are tuples: kept as they are
                line.value = [v.replace(tzinfo=tz) if floating(v) else v for v in line.value]
    return radicale_item.Item(collection_path=path, collection=item.collection, href=item.href,
                              vobject_item=calendar)
