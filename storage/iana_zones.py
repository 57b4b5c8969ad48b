"""Radicale's parser (vobject) takes the IANA definition of a zone that a TZID names.

vobject keeps one registry of time zones per process and fills it with the
first VTIMEZONE of each TZID it parses: a client that sends "Europe/Berlin"
with made-up rules first would define Berlin for every later object that
worker parses, other people's included.  icalendar (the booking core) already
prefers its IANA zones.  Here the IANA zone of a name is registered before
vobject would register an object's own VTIMEZONE under it, so an object's
definition only counts for names IANA does not know.
"""

import functools
import zoneinfo

from vobject import icalendar as vobject_icalendar


@functools.lru_cache(maxsize=1)
def iana_names() -> frozenset:
    return frozenset(zoneinfo.available_timezones())


def install() -> None:
    """Once per process, before vobject parses anything (idempotent)."""
    component = vobject_icalendar.TimezoneComponent
    register = component.registerTzinfo.__func__
    if getattr(register, "roomcal_prefers_iana", False):
        return

    def register_preferring_iana(cls, tzinfo):
        tzid = getattr(tzinfo, "_tzid", None)   # tzical's zones: those made from a VTIMEZONE
        if tzid in iana_names():
            vobject_icalendar.getTzid(tzid, True)   # registers the IANA zone first
        return register(cls, tzinfo)
    register_preferring_iana.roomcal_prefers_iana = True
    component.registerTzinfo = classmethod(register_preferring_iana)

