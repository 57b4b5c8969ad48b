"""JSCalendar (RFC 8984) <-> iCalendar (RFC 5545) for one stored calendar object.

Pure conversion: no HTTP, no Radicale.  The iCalendar text stays the source of truth;
JSCalendar is a second representation of it.

to_jscalendar(ical)                 -> Event (all VEVENTs of one UID)
from_jscalendar(event, previous)    -> iCalendar text (previous: the stored item on PUT/PATCH)
validate(event)                     -> raises InvalidEvent with JSON pointers
apply_patch(event, patch)           -> new Event (RFC 8984 §1.4.9 PatchObject)
recurrence_rules(rules, zone, tz)   -> RRULE values of recurrenceRules (the short booking body's)

One module a step: ``values`` (the JSCalendar value types, InvalidEvent), ``zones`` (time
zones), ``ical`` (icalendar accessors), ``read`` (iCalendar -> JSCalendar), ``residue``
(what only JSON can say), ``normalize`` and ``validation`` (input), ``canonical`` and
``write`` (JSCalendar -> iCalendar), ``patch`` (PatchObject).  Names with an underscore are
shared between these modules only.

How nothing gets lost
---------------------
*iCalendar -> JSON -> iCalendar.*  A write starts from the previous VEVENT (when there is
one) and changes only what the JSON says differently: for every mapped property, parameter
and alarm member the value the previous item *reads as* is compared with the JSON, and only
a difference rewrites it.  So X- properties, unknown properties and parameters, VALARM extras
(DESCRIPTION, X-MOZ-*, REPEAT, ...), unknown subcomponents, VTIMEZONEs, calendar properties and
even the exact spelling of mapped values (``TZID=/mozilla.org/.../Europe/Berlin``, ``ROLE``
left out, DTEND versus DURATION) survive a GET + PUT of the unchanged Event.

*JSON -> iCalendar -> JSON.*  Whatever the mapping cannot express (vendor ``example.com:x``
members, ``links``, ``virtualLocations``, ``locale``, a second location, a participant's
``locationId``, role combinations iCalendar has no ROLE for, ...) is stored as
``X-JSCALENDAR-PROP`` properties on the VEVENT: a JSON pointer, the value, and a fingerprint
of the value the iCalendar part gave at that pointer when it was written.  On reading, an
entry is applied only while the iCalendar still gives that same value, so a later CalDAV edit
of the same thing wins over a stale JSON-only remainder instead of being overwritten.

Stable ids
----------
Participant, location and alert ids are derived, not stored, whenever possible:
participants ``uuid5(NS, <calendar address>)`` (NS and results as in
draft-ietf-calext-jscalendar-icalendar, so ``mailto:hcabot@example.com`` ->
``0b235cc4-f04d-5fc4-98a3-c066650b3fbf``), locations ``uuid5(NS, <name>)``, alerts the VALARM's
UID (or X-WR-ALARMUID) if it is a valid Id, else ``uuid5`` of the alert's content.  Only when a
client chose another id (or two items would collide) is it written down: an
``X-JSCALENDAR-ID`` parameter on ATTENDEE/ORGANIZER/LOCATION, an ``X-JSCALENDAR-ID`` property
in the VALARM (``JSID`` is read too).  Ids therefore stay the same on every read, and a PATCH
of ``participants/<id>/participationStatus`` keeps its path across writes.
"""


from roomcal.server.jscalendar.patch import apply_patch
from roomcal.server.jscalendar.read import to_jscalendar
from roomcal.server.jscalendar.validation import validate
from roomcal.server.jscalendar.values import InvalidEvent
from roomcal.server.jscalendar.write import from_jscalendar, recurrence_rules

__all__ = ["InvalidEvent", "to_jscalendar", "from_jscalendar", "validate", "apply_patch",
           "recurrence_rules"]
