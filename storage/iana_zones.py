"""Radicale's parser (vobject) takes the IANA definition of a zone that a TZID names.

vobject keeps one registry of time zones per process and fills it with the
first VTIMEZONE of each TZID it parses: a client that sends "Europe/Berlin"
with made-up rules first would define Berlin for every later object that
worker parses, other people's included.  icalendar (the booking core) already
prefers its IANA zones.  Here the IANA zone of a name is registered before
vobject would register an object's own VTIMEZONE under it, so an object's
definition only counts for names IANA does not know.

The zone registered is zoneinfo's, not pytz's (which vobject picks by itself): dateutil's
recurrence rules step in wall-clock time, and a pytz zone keeps the offset of the first
occurrence, so 10:00 in Berlin became 11:00 all summer in Radicale's expansion and
free-busy.
"""

import functools
import zoneinfo

from vobject import icalendar as vobject_icalendar


@functools.lru_cache(maxsize=1)
def iana_names() -> frozenset:
    return frozenset(zoneinfo.available_timezones())


class IanaZone(zoneinfo.ZoneInfo):
    """A zoneinfo zone that vobject can name (it reads a TZID from ``tzid``)."""

    @property
    def tzid(self) -> str:
        return self.key


def _register_iana(tzid) -> None:
    """Register zoneinfo's zone for an IANA name, unless vobject already has a zone of its
    own for it (its UTC: comparing another UTC with it costs vobject milliseconds per value)
    other than one pytz made."""
    if tzid not in iana_names():
        return
    known = vobject_icalendar.getTzid(tzid, False)
    if known is None or (hasattr(known, "zone") and not isinstance(known, IanaZone)):   # pytz's
        vobject_icalendar.registerTzid(tzid, IanaZone(tzid))


def install() -> None:
    """Once per process, before vobject parses anything (idempotent)."""
    component = vobject_icalendar.TimezoneComponent
    register = component.registerTzinfo.__func__
    if getattr(register, "roomcal_prefers_iana", False):
        return

    def register_preferring_iana(cls, tzinfo):
        _register_iana(getattr(tzinfo, "_tzid", None))   # tzical's zones: made from a VTIMEZONE
        return register(cls, tzinfo)
    register_preferring_iana.roomcal_prefers_iana = True
    component.registerTzinfo = classmethod(register_preferring_iana)

    get_tzid = vobject_icalendar.getTzid

    def get_tzid_preferring_iana(tzid, smart=True):   # a TZID without a VTIMEZONE
        if smart:
            _register_iana(tzid)
        return get_tzid(tzid, smart)
    vobject_icalendar.getTzid = get_tzid_preferring_iana

