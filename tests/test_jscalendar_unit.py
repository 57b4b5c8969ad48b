"""server/jscalendar/: iCalendar <-> JSCalendar (RFC 8984), pure unit tests.

Fixtures: real Thunderbird 153 output (reference/clients/thunderbird-153-traffic.log), the
RFC 8984 §6 examples re-expressed as our own, and the test vectors of the reference notes.
"""

import copy
import datetime
import os
import zoneinfo

import icalendar
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import THUNDERBIRD_EVENT
from roomcal.server.jscalendar import canonical, normalize, read, zones
from roomcal.server.jscalendar import values as J
from roomcal.server.jscalendar import InvalidEvent, apply_patch, from_jscalendar, to_jscalendar, validate

UTC = datetime.timezone.utc
# JSCALENDAR_EXAMPLES=2000 for a longer hunt; the default keeps the file at a few seconds.
EXAMPLES = int(os.environ.get("JSCALENDAR_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Thunderbird 153, PUT /alice/rooms/919fb295-....ics (verbatim from the traffic log)
THUNDERBIRD = THUNDERBIRD_EVENT.format(uid="919fb295-65a9-4869-b367-91e1c134270e",
                                       summary="Booked via Thunderbird",
                                       start="20261206T090000Z", end="20261206T100000Z")

# What a CalDAV client typically stores beyond the mapping: X- properties and parameters,
# VALARM extras, an unknown subcomponent, a Mozilla-style TZID with its VTIMEZONE.
RICH = """BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
X-WR-CALNAME:Board room
BEGIN:VTIMEZONE
TZID:/mozilla.org/20050126_1/Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
CREATED:20261121T053943Z
LAST-MODIFIED:20261121T053944Z
DTSTAMP:20261121T053944Z
UID:rich-1
SUMMARY;LANGUAGE=en:Board meeting\\, quarterly
DESCRIPTION:Agenda:\\n1. Budget\\; 2. Rooms
DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin;X-ORIGIN=tb:20261207T100000
DTEND;TZID=/mozilla.org/20050126_1/Europe/Berlin:20261207T113000
STATUS:CONFIRMED
TRANSP:OPAQUE
CLASS:PUBLIC
SEQUENCE:2
CATEGORIES:Business,Quarterly
LOCATION;ALTREP="http://example.org/board":Board room\\, 2nd floor
ORGANIZER;CN=Alice Example;X-ORG-TAG=7:mailto:alice@example.org
ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.org
ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;X-NUM-GUESTS=2:mailto:bob@example.org
ATTENDEE;CN=Board room;CUTYPE=ROOM;PARTSTAT=ACCEPTED;ROLE=NON-PARTICIPANT:mailto:board@rooms.example.org
X-MOZ-GENERATION:3
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
X-CUSTOM;X-P=1:keep me\\, please
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER;VALUE=DURATION:-PT15M
DESCRIPTION:Default Mozilla Description
X-MOZ-LASTACK:20261207T084600Z
END:VALARM
BEGIN:VALARM
ACTION:AUDIO
TRIGGER;RELATED=END:PT5M
ATTACH;VALUE=URI:Basso
UID:E3D4F2C1-0000-4000-8000-000000000001
X-APPLE-DEFAULT-ALARM:TRUE
END:VALARM
BEGIN:X-VENDOR-THING
X-FOO:bar
END:X-VENDOR-THING
END:VEVENT
END:VCALENDAR
"""


def ical(*lines, calendar_lines=()):
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *calendar_lines,
                        "BEGIN:VEVENT", "UID:t-1", "DTSTAMP:20240101T000000Z", *lines,
                        "END:VEVENT", "END:VCALENDAR", ""])


def vevents(text):
    return [c for c in icalendar.Calendar.from_ical(text).subcomponents if c.name == "VEVENT"]


def master(text):
    return next(e for e in vevents(text) if "RECURRENCE-ID" not in e)


def prop_lines(comp, skip=()):
    """A component's content lines as a sorted list (order-insensitive comparison)."""
    out = []
    for name, value in comp.property_items(recursive=False):
        if name in ("BEGIN", "END") or name in skip:
            continue
        params = sorted((k.upper(), str(v)) for k, v in getattr(value, "params", {}).items())
        out.append((name, tuple(params), value.to_ical() if hasattr(value, "to_ical") else value))
    return sorted(out, key=repr)


def subcomponent_lines(comp):
    return sorted((sub.to_ical() for sub in comp.subcomponents), key=repr)


def all_of(comp, name):
    value = comp.get(name)
    return [] if value is None else value if isinstance(value, list) else [value]


def residue(text):
    """The JSON-only remainder (X-JSCALENDAR-PROP) the conversion had to store."""
    return [str(p) for e in vevents(text) for p in all_of(e, J.RESIDUE_PROP)]


def roundtrip(event, previous=None):
    text = from_jscalendar(event, previous)
    return text, to_jscalendar(text)


def without(js, *keys):
    return {k: v for k, v in js.items() if k not in keys}


# --------------------------------------------------------------------------- Thunderbird

def test_thunderbird_event_reads_as_rfc8984():
    assert to_jscalendar(THUNDERBIRD) == {
        "@type": "Event",
        "uid": "919fb295-65a9-4869-b367-91e1c134270e",
        "prodId": "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
        "created": "2026-11-21T05:39:43Z",
        "updated": "2026-11-21T05:39:44Z",
        "title": "Booked via Thunderbird",
        "start": "2026-12-06T09:00:00",
        "timeZone": "Etc/UTC",
        "duration": "PT1H",
    }


@pytest.mark.parametrize("text", [THUNDERBIRD, RICH], ids=["thunderbird", "rich"])
def test_unchanged_put_keeps_every_line(text):
    event = to_jscalendar(text)
    out = from_jscalendar(event, text)
    assert to_jscalendar(out) == event
    assert prop_lines(master(out)) == prop_lines(master(text))
    assert subcomponent_lines(master(out)) == subcomponent_lines(master(text))
    before, after = icalendar.Calendar.from_ical(text), icalendar.Calendar.from_ical(out)
    assert prop_lines(after) == prop_lines(before)
    assert [tz.to_ical() for tz in after.walk("VTIMEZONE")][:1] == [tz.to_ical() for tz in before.walk("VTIMEZONE")][:1]
    assert not residue(out)


def test_rich_event_mapping():
    event = to_jscalendar(RICH)
    alice = read._uuid5("mailto:alice@example.org")
    bob = read._uuid5("mailto:bob@example.org")
    room = read._uuid5("mailto:board@rooms.example.org")
    assert event["title"] == "Board meeting, quarterly"
    assert event["description"] == "Agenda:\n1. Budget; 2. Rooms"
    assert (event["start"], event["timeZone"], event["duration"]) == ("2026-12-07T10:00:00", "Europe/Berlin", "PT1H30M")
    assert (event["status"], event["freeBusyStatus"], event["privacy"], event["sequence"]) == ("confirmed", "busy", "public", 2)
    assert event["keywords"] == {"Business": True, "Quarterly": True}
    assert list(event["locations"].values()) == [{"@type": "Location", "name": "Board room, 2nd floor"}]
    assert event["replyTo"] == {"imip": "mailto:alice@example.org"}
    assert event["participants"] == {
        alice: {"@type": "Participant", "name": "Alice Example", "email": "alice@example.org",
                "sendTo": {"imip": "mailto:alice@example.org"},
                "roles": {"owner": True, "attendee": True, "chair": True}, "participationStatus": "accepted"},
        bob: {"@type": "Participant", "name": "Bob", "email": "bob@example.org",
              "sendTo": {"imip": "mailto:bob@example.org"}, "roles": {"attendee": True},
              "participationStatus": "needs-action", "expectReply": True},
        room: {"@type": "Participant", "name": "Board room", "email": "board@rooms.example.org",
               "sendTo": {"imip": "mailto:board@rooms.example.org"}, "kind": "location",
               "roles": {"informational": True}, "participationStatus": "accepted"},
    }
    alerts = list(event["alerts"].items())
    assert alerts[0][1] == {"@type": "Alert", "trigger": {"@type": "OffsetTrigger", "offset": "-PT15M", "relativeTo": "start"}}
    # the Apple alarm's UID is its id; AUDIO has no JSCalendar action
    assert alerts[1] == ("E3D4F2C1-0000-4000-8000-000000000001",
                         {"@type": "Alert", "trigger": {"@type": "OffsetTrigger", "offset": "PT5M", "relativeTo": "end"}})


def test_edit_keeps_x_properties_parameters_alarm_extras_and_unknown_components():
    event = to_jscalendar(RICH)
    bob = read._uuid5("mailto:bob@example.org")
    event = apply_patch(event, {
        "title": "Board meeting (moved)",
        "start": "2026-12-08T14:00:00",
        f"participants/{bob}/participationStatus": "accepted",
        "participants/carol": {"@type": "Participant", "name": "Carol", "email": "carol@example.org",
                               "roles": {"optional": True}},
        "keywords/Quarterly": None,
    })
    validate(event)
    out = from_jscalendar(event, RICH)
    ev = master(out)
    lines = out.replace("\r\n ", "")
    # untouched unknowns survive verbatim
    for kept in ("X-MOZ-GENERATION:3", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "X-CUSTOM;X-P=1:keep me\\, please",
                 "LAST-MODIFIED:20261121T053944Z", "X-WR-CALNAME:Board room", "X-ORG-TAG=7",
                 "X-NUM-GUESTS=2", "X-MOZ-LASTACK:20261207T084600Z", "DESCRIPTION:Default Mozilla Description",
                 "ATTACH;VALUE=URI:Basso", "X-APPLE-DEFAULT-ALARM:TRUE", "BEGIN:X-VENDOR-THING", "X-FOO:bar",
                 "TZID:/mozilla.org/20050126_1/Europe/Berlin", "ALTREP=\"http://example.org/board\"",
                 "SUMMARY;LANGUAGE=en:Board meeting (moved)", "X-ORIGIN=tb"):
        assert kept in lines, kept
    assert str(ev["DTSTART"].params["TZID"]) == "/mozilla.org/20050126_1/Europe/Berlin"
    assert ev["DTSTART"].dt.replace(tzinfo=None) == datetime.datetime(2026, 12, 8, 14, 0)
    assert ev["DTEND"].dt.replace(tzinfo=None) == datetime.datetime(2026, 12, 8, 15, 30)
    bob_line = next(a for a in ev["ATTENDEE"] if "bob" in str(a))
    assert bob_line.params["PARTSTAT"] == "ACCEPTED" and bob_line.params["X-NUM-GUESTS"] == "2"
    carol = next(a for a in ev["ATTENDEE"] if "carol" in str(a))
    assert carol.params["ROLE"] == "OPT-PARTICIPANT" and carol.params[J.ID_PARAM] == "carol"
    assert [str(c) for c in ev["CATEGORIES"].cats] == ["Business"]
    back = to_jscalendar(out)
    event["participants"]["carol"]["sendTo"] = {"imip": "mailto:carol@example.org"}  # the address it got
    assert back == event
    assert not residue(out)


def test_removing_everything_mapped_keeps_the_unmapped():
    event = to_jscalendar(RICH)
    for key in ("participants", "replyTo", "alerts", "locations", "keywords", "description", "status"):
        event.pop(key)
    out = from_jscalendar(event, RICH)
    ev = master(out)
    for gone in ("ATTENDEE", "ORGANIZER", "LOCATION", "CATEGORIES", "DESCRIPTION", "STATUS"):
        assert gone not in ev
    assert [s.name for s in ev.subcomponents] == ["X-VENDOR-THING"]
    assert "X-CUSTOM" in ev and "X-MOZ-GENERATION" in ev
    assert to_jscalendar(out) == event


# --------------------------------------------------------------------------- RFC 8984 §6 examples

RFC_SIMPLE = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fea", "updated": "2020-01-02T18:23:04Z",
              "title": "Some event", "start": "2020-01-15T13:00:00", "timeZone": "America/New_York",
              "duration": "PT1H"}
RFC_ALL_DAY = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fe1", "updated": "2020-01-02T18:23:04Z",
               "title": "April Fool's Day", "showWithoutTime": True, "start": "1900-04-01T00:00:00",
               "duration": "P1D", "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "yearly"}]}
RFC_END_ZONE = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fe2", "updated": "2020-01-02T18:23:04Z",
                "title": "Flight XY51 to Tokyo", "start": "2020-04-01T09:00:00", "timeZone": "Europe/Berlin",
                "duration": "PT10H30M",
                "locations": {"1": {"@type": "Location", "relativeTo": "start", "name": "Frankfurt Airport (FRA)"},
                              "2": {"@type": "Location", "relativeTo": "end", "name": "Narita International Airport (NRT)",
                                    "timeZone": "Asia/Tokyo"}}}
RFC_FLOATING = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fe3", "updated": "2020-01-02T18:23:04Z",
                "title": "Yoga", "start": "2020-01-01T07:00:00", "duration": "PT30M",
                "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "daily"}]}
RFC_LOCALIZED = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fe4", "updated": "2020-01-02T18:23:04Z",
                 "title": "Live from Music Bowl: The Band", "description": "Go see the biggest music event ever!",
                 "locale": "en", "start": "2020-07-04T17:00:00", "timeZone": "America/New_York", "duration": "PT3H",
                 "locations": {"c0503d30-8c50-4372-87b5-7657e8e0fedd": {
                     "@type": "Location", "name": "The Music Bowl", "description": "Music Bowl, Central Park, New York",
                     "coordinates": "geo:40.7829,-73.9654"}},
                 "virtualLocations": {"vloc1": {"@type": "VirtualLocation", "name": "Free live Stream from Music Bowl",
                                                "uri": "https://stream.example.com/the_band_2020"}},
                 "localizations": {"de": {"title": "Live von der Music Bowl: The Band!",
                                          "description": "Schau dir das größte Musikereignis an!",
                                          "virtualLocations/vloc1/name": "Gratis Live-Stream aus der Music Bowl"}}}
RFC_OVERRIDES = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fe5", "updated": "2020-01-02T18:23:04Z",
                 "title": "Calculus I", "start": "2020-01-08T09:00:00", "timeZone": "Europe/London",
                 "duration": "PT1H30M",
                 "locations": {"mlab": {"@type": "Location", "name": "Math lab room 1",
                                        "description": "Math Lab I, Department of Mathematics"}},
                 "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "weekly", "until": "2020-06-24T09:00:00"}],
                 "recurrenceOverrides": {
                     "2020-01-07T14:00:00": {"title": "Introduction to Calculus I (optional)"},
                     "2020-04-01T09:00:00": {"excluded": True},
                     "2020-06-25T09:00:00": {"title": "Calculus I Exam", "start": "2020-06-25T10:00:00",
                                             "duration": "PT2H",
                                             "locations": {"auditorium": {"@type": "Location", "name": "Big Auditorium",
                                                                          "description": "Big Auditorium, Other Road"}}}}}
RFC_PARTICIPANTS = {"@type": "Event", "uid": "a8df6573-0474-496d-8496-033ad45d7fe6", "updated": "2020-01-02T18:23:04Z",
                    "title": "FooBar team meeting", "start": "2020-01-08T09:00:00", "timeZone": "Africa/Johannesburg",
                    "duration": "PT1H",
                    "virtualLocations": {"0": {"@type": "VirtualLocation", "name": "ChatMe meeting room",
                                               "uri": "https://chatme.example.com?id=1234567&pw=a8a24627b63d"}},
                    "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "weekly"}],
                    "recurrenceOverrides": {"2020-03-04T09:00:00": {
                        "participants/dG9tQGZvb2Jhci5xlLmNvbQ/participationStatus": "declined"}},
                    "replyTo": {"imip": "mailto:f245f875-7f63-4a5e-a2c8@schedule.example.com"},
                    "participants": {
                        "dG9tQGZvb2Jhci5xlLmNvbQ": {"@type": "Participant", "name": "Tom Tool",
                                                    "email": "tom@foobar.example.com",
                                                    "sendTo": {"imip": "mailto:tom@calendar.example.com"},
                                                    "roles": {"attendee": True}, "participationStatus": "accepted"},
                        "em9lQGZvb2GFtcGxlLmNvbQ": {"@type": "Participant", "name": "Zoe Zelda",
                                                    "email": "zoe@foobar.example.com",
                                                    "sendTo": {"imip": "mailto:zoe@calendar.example.com"},
                                                    "roles": {"owner": True, "attendee": True, "chair": True},
                                                    "participationStatus": "accepted"}}}
RFC_EXAMPLES = {"6.1 simple": RFC_SIMPLE, "6.4 all-day": RFC_ALL_DAY, "6.6 end time zone": RFC_END_ZONE,
                "6.7 floating": RFC_FLOATING, "6.8 localized": RFC_LOCALIZED, "6.9 overrides": RFC_OVERRIDES,
                "6.10 participants": RFC_PARTICIPANTS}


@pytest.mark.parametrize("example", RFC_EXAMPLES.values(), ids=RFC_EXAMPLES.keys())
def test_rfc8984_examples_survive_json_ical_json(example):
    validate(example)
    text, back = roundtrip(example)
    back.pop("prodId")
    if "recurrenceOverrides" not in example:
        assert back == example
    # a second write of what we read changes nothing
    again = from_jscalendar(to_jscalendar(text), text)
    assert to_jscalendar(again) == to_jscalendar(text)
    assert prop_lines(master(again)) == prop_lines(master(text))


def test_rfc_simple_event_as_icalendar():
    ev = master(from_jscalendar(RFC_SIMPLE))
    assert ev["DTSTART"].to_ical() == b"20200115T130000" and ev["DTSTART"].params["TZID"] == "America/New_York"
    assert ev["DTEND"].to_ical() == b"20200115T140000"
    assert str(ev["SUMMARY"]) == "Some event" and ev["DTSTAMP"].to_ical() == b"20200102T182304Z"
    assert "X-JSCALENDAR-PROP" not in ev
    cal = icalendar.Calendar.from_ical(from_jscalendar(RFC_SIMPLE))
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/New_York"]


def test_rfc_all_day_event_as_icalendar():
    ev = master(from_jscalendar(RFC_ALL_DAY))
    assert ev["DTSTART"].dt == datetime.date(1900, 4, 1) and ev["DTEND"].dt == datetime.date(1900, 4, 2)
    assert ev["RRULE"].to_ical() == b"FREQ=YEARLY"


def test_rfc_floating_event_as_icalendar():
    ev = master(from_jscalendar(RFC_FLOATING))
    assert ev["DTSTART"].dt == datetime.datetime(2020, 1, 1, 7) and "TZID" not in ev["DTSTART"].params
    cal = icalendar.Calendar.from_ical(from_jscalendar(RFC_FLOATING))
    assert not cal.walk("VTIMEZONE")


def test_rfc_event_with_end_time_zone_keeps_both_locations():
    text, back = roundtrip(RFC_END_ZONE)
    assert str(master(text)["LOCATION"]) == "Frankfurt Airport (FRA)"  # one LOCATION, RFC 5545
    assert back["locations"] == RFC_END_ZONE["locations"]


def test_rfc_recurring_event_with_overrides():
    text, back = roundtrip(RFC_OVERRIDES)
    events = vevents(text)
    ev = master(text)
    # 2020-01-07 is a Tuesday and 2020-06-25 after UNTIL: additional instances (RDATE)
    assert sorted(d.dt.replace(tzinfo=None) for d in ev["RDATE"].dts) == [
        datetime.datetime(2020, 1, 7, 14), datetime.datetime(2020, 6, 25, 9)]
    assert [d.dt.replace(tzinfo=None) for d in ev["EXDATE"].dts] == [datetime.datetime(2020, 4, 1, 9)]
    assert ev["RRULE"].to_ical() == b"FREQ=WEEKLY;UNTIL=20200624T080000Z"  # 09:00 BST
    assert {str(e["SUMMARY"]) for e in events} == {"Calculus I", "Introduction to Calculus I (optional)",
                                                   "Calculus I Exam"}
    exam = next(e for e in events if str(e["SUMMARY"]) == "Calculus I Exam")
    assert exam["RECURRENCE-ID"].dt.replace(tzinfo=None) == datetime.datetime(2020, 6, 25, 9)
    assert str(exam["LOCATION"]) == "Big Auditorium"
    overrides = back["recurrenceOverrides"]
    assert overrides["2020-01-07T14:00:00"] == {"title": "Introduction to Calculus I (optional)"}
    assert overrides["2020-04-01T09:00:00"] == {"excluded": True}
    # same instance, expressed as a finer patch
    exam_js = apply_patch(without(back, "recurrenceOverrides", "recurrenceRules"),
                          dict(overrides["2020-06-25T09:00:00"], start=overrides["2020-06-25T09:00:00"]["start"]))
    assert exam_js["locations"] == RFC_OVERRIDES["recurrenceOverrides"]["2020-06-25T09:00:00"]["locations"]
    assert (exam_js["title"], exam_js["duration"]) == ("Calculus I Exam", "PT2H")


def test_rfc_recurring_event_with_participants():
    text, back = roundtrip(RFC_PARTICIPANTS)
    assert back["recurrenceOverrides"] == RFC_PARTICIPANTS["recurrenceOverrides"]
    assert back["participants"] == RFC_PARTICIPANTS["participants"]
    assert back["replyTo"] == RFC_PARTICIPANTS["replyTo"]
    ev = master(text)
    tom = next(a for a in ev["ATTENDEE"] if "tom@" in str(a))
    assert str(tom) == "mailto:tom@calendar.example.com"
    assert tom.params["EMAIL"] == "tom@foobar.example.com" and tom.params["PARTSTAT"] == "ACCEPTED"
    assert str(ev["ORGANIZER"]) == "mailto:f245f875-7f63-4a5e-a2c8@schedule.example.com"
    instance = next(e for e in vevents(text) if "RECURRENCE-ID" in e)
    tom_then = next(a for a in instance["ATTENDEE"] if "tom@" in str(a))
    assert tom_then.params["PARTSTAT"] == "DECLINED"


def test_unknown_and_vendor_properties_are_kept():
    event = dict(RFC_SIMPLE, **{
        "example.com:flag": True, "example.com:nested": {"a": [1, {"b": None, "c": "x,y;z\\"}]},
        "links": {"l1": {"@type": "Link", "href": "https://example.com/agenda.pdf", "rel": "describedby"}},
        "color": "navy", "locale": "de",
        "participants": {"p": {"@type": "Participant", "name": "Ann", "email": "ann@example.com",
                               "roles": {"attendee": True}, "example.com:seat": 12, "locationId": "L"}},
        "locations": {"L": {"@type": "Location", "name": "Room 3", "coordinates": "geo:1,2"}},
    })
    validate(event)
    text, back = roundtrip(event)
    assert without(back, "prodId") == without(canonical._canonical(normalize._normalize(event), zones._Zones(), event["uid"]), "prodId")
    assert back["example.com:nested"] == {"a": [1, {"c": "x,y;z\\"}]}  # null means "absent"
    assert back["participants"]["p"]["example.com:seat"] == 12
    assert back["locations"]["L"]["coordinates"] == "geo:1,2"
    assert back["links"] == event["links"] and back["color"] == "navy"


# --------------------------------------------------------------------------- ids

def test_participant_ids_follow_the_draft_uuid5_vectors():
    text = ical("DTSTART:20240101T100000Z", "ORGANIZER:mailto:organizer@example.com",
                "ATTENDEE:mailto:hcabot@example.com")
    assert set(to_jscalendar(text)["participants"]) == {"251d3e9f-d83f-534c-8c45-c2896c75670c",
                                                        "0b235cc4-f04d-5fc4-98a3-c066650b3fbf"}


def test_ids_are_stable_and_patch_paths_keep_working():
    first, second = to_jscalendar(RICH), to_jscalendar(RICH)
    assert first == second
    bob = read._uuid5("mailto:bob@example.org")
    [(alarm_id, _), _] = first["alerts"].items()
    text = RICH
    for status, offset in (("accepted", "-PT30M"), ("declined", "-PT1H"), ("tentative", "-P1D")):
        event = apply_patch(to_jscalendar(text), {f"participants/{bob}/participationStatus": status,
                                                  f"alerts/{alarm_id}/trigger/offset": offset})
        text = from_jscalendar(event, text)
        back = to_jscalendar(text)
        assert back["participants"][bob]["participationStatus"] == status
        assert back["alerts"][alarm_id]["trigger"]["offset"] == offset
        assert set(back["participants"]) == set(first["participants"])
        assert set(back["alerts"]) == set(first["alerts"])
    # the changed alarm keeps its id by writing it down; the attendees need no id parameter
    assert "X-JSCALENDAR-ID:" + alarm_id in text
    assert J.ID_PARAM not in str(master(text)["ATTENDEE"][1].params)


def test_client_chosen_ids_survive_and_are_only_written_when_needed():
    derived = read._uuid5("mailto:ann@example.com")
    event = {"uid": "x", "start": "2024-03-01T10:00:00", "timeZone": "Europe/Berlin", "duration": "PT1H",
             "participants": {"room-1-01": {"name": "Room 1.01", "email": "room101@example.org", "kind": "location",
                                            "roles": {"attendee": True}},
                              derived: {"name": "Ann", "email": "ann@example.com", "roles": {"attendee": True}}},
             "locations": {"1": {"name": "Room 1.01"}},
             "alerts": {"a1": {"trigger": {"offset": "-PT15M"}}}}
    text, back = roundtrip(event)
    assert set(back["participants"]) == {"room-1-01", derived}
    assert set(back["locations"]) == {"1"} and set(back["alerts"]) == {"a1"}
    ev = master(text)
    params = {str(a): a.params.get(J.ID_PARAM) for a in ev["ATTENDEE"]}
    assert params == {"mailto:room101@example.org": "room-1-01", "mailto:ann@example.com": None}
    assert ev["ATTENDEE"][0].params["CUTYPE"] == "ROOM"


def test_duplicate_addresses_get_distinct_stable_ids():
    text = ical("DTSTART:20240101T100000Z", "ATTENDEE;CN=A:mailto:a@x", "ATTENDEE;CN=B:mailto:a@x",
                "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:x", "TRIGGER:-PT5M", "END:VALARM",
                "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:y", "TRIGGER:-PT5M", "END:VALARM")
    event = to_jscalendar(text)
    base = read._uuid5("mailto:a@x")
    assert list(event["participants"]) == [base, base + "-2"]
    assert len(event["alerts"]) == 2
    swapped = apply_patch(event, {f"participants/{base}/name": "A2"})
    out = from_jscalendar(swapped, text)
    assert to_jscalendar(out) == swapped


# --------------------------------------------------------------------------- time

@pytest.mark.parametrize("lines, expected", [
    (("DTSTART;VALUE=DATE:20240102", "DTEND;VALUE=DATE:20240107"),
     {"start": "2024-01-02T00:00:00", "duration": "P5D", "showWithoutTime": True}),
    (("DTSTART;TZID=Australia/Melbourne:20240101T130000", "DTEND;TZID=Australia/Melbourne:20240101T140000"),
     {"start": "2024-01-01T13:00:00", "timeZone": "Australia/Melbourne", "duration": "PT1H"}),
    (("DTSTART;TZID=Europe/Berlin:20240101T130000", "DTEND;TZID=Asia/Bangkok:20240102T040000"),
     {"start": "2024-01-01T13:00:00", "timeZone": "Europe/Berlin", "duration": "PT9H"}),
    (("DTSTART;TZID=Europe/Berlin:20240701T130000", "DTEND;TZID=Asia/Bangkok:20240702T040000"),
     {"start": "2024-07-01T13:00:00", "timeZone": "Europe/Berlin", "duration": "PT10H"}),
    (("DTSTART;TZID=Europe/Berlin:20240330T120000", "DTEND;TZID=Europe/Berlin:20240331T120000"),
     {"start": "2024-03-30T12:00:00", "timeZone": "Europe/Berlin", "duration": "P1D"}),  # 23 h, one day
    # icalendar reads DURATION:PT24H and P1D alike (timedelta): taken as one nominal day
    (("DTSTART;TZID=Europe/Berlin:20240330T120000", "DURATION:PT24H"),
     {"start": "2024-03-30T12:00:00", "timeZone": "Europe/Berlin", "duration": "P1D"}),
    (("DTSTART;TZID=Europe/Berlin:20240101T100000", "DTEND;TZID=Europe/Berlin:20240102T120000"),
     {"start": "2024-01-01T10:00:00", "timeZone": "Europe/Berlin", "duration": "PT26H"}),
    (("DTSTART:20240101T100000",), {"start": "2024-01-01T10:00:00", "duration": "PT0S"}),
    (("DTSTART;VALUE=DATE:20240101",), {"start": "2024-01-01T00:00:00", "duration": "P1D", "showWithoutTime": True}),
    (("DTSTART;TZID=W. Europe Standard Time:20240101T100000", "DURATION:PT45M"),
     {"start": "2024-01-01T10:00:00", "timeZone": "Europe/Berlin", "duration": "PT45M"}),
    (("DTSTART;TZID=UTC:20240101T100000", "DURATION:P1D"),
     {"start": "2024-01-01T10:00:00", "timeZone": "Etc/UTC", "duration": "P1D"}),
])
def test_start_time_zone_and_duration(lines, expected):
    text = ical(*lines)
    event = to_jscalendar(text)
    assert {k: event[k] for k in expected} == expected
    assert "timeZone" in event or "timeZone" not in expected
    out = from_jscalendar(event, text)
    if "TZID=UTC" not in text:  # icalendar itself writes TZID=UTC as ...Z
        assert prop_lines(master(out)) == prop_lines(master(text))  # TZID spelling, DURATION vs DTEND kept
    assert to_jscalendar(out) == event


def test_json_durations_become_dtend_and_read_back():
    event = {"uid": "d", "start": "2024-03-30T12:00:00", "timeZone": "Europe/Berlin", "duration": "P1D",
             "updated": "2024-01-01T00:00:00Z"}
    ev = master(from_jscalendar(event))
    assert ev["DTEND"].dt.replace(tzinfo=None) == datetime.datetime(2024, 3, 31, 12)  # nominal day over DST
    exact = master(from_jscalendar(dict(event, duration="PT24H")))
    assert exact["DTEND"].dt.replace(tzinfo=None) == datetime.datetime(2024, 3, 31, 13)
    assert to_jscalendar(from_jscalendar(dict(event, duration="PT24H")))["duration"] == "PT24H"
    assert to_jscalendar(from_jscalendar(dict(event, duration="P1DT2H")))["duration"] == "PT25H"  # 23 h day + 2 h


def test_egroupware_all_day_with_time_zone_is_accepted_and_stays_all_day():
    event = {"uid": "ad", "title": "Di und Do", "start": "2023-07-25T00:00:00", "timeZone": "Europe/Berlin",
             "showWithoutTime": True, "duration": "P1D", "sequence": "1"}
    text, back = roundtrip(event)
    ev = master(text)
    assert ev["DTSTART"].dt == datetime.date(2023, 7, 25) and ev["DTEND"].dt == datetime.date(2023, 7, 26)
    assert back["showWithoutTime"] is True and "timeZone" not in back and back["sequence"] == 1
    for patch in ({"title": "renamed"}, {"start": "2023-07-27T00:00:00"}, {"duration": "P3D"}):
        event = apply_patch(to_jscalendar(text), patch)
        text = from_jscalendar(event, text)
        assert isinstance(master(text)["DTSTART"].dt, datetime.date)
        assert not isinstance(master(text)["DTSTART"].dt, datetime.datetime)
    assert to_jscalendar(text)["duration"] == "P3D"
    with pytest.raises(InvalidEvent) as e:
        from_jscalendar(apply_patch(to_jscalendar(text), {"duration": "PT2H", "start": "2023-07-27T10:00:00"}), text)
    assert set(e.value.properties) == {"/start", "/duration"}


def test_all_day_survives_a_put_that_leaves_the_flag_out_but_not_an_explicit_false():
    text = ical("DTSTART;VALUE=DATE:20240510", "DTEND;VALUE=DATE:20240511", "SUMMARY:holiday")
    bare = {"uid": "t-1", "title": "holiday", "start": "2024-05-10T00:00:00", "timeZone": "Europe/Berlin"}
    out = from_jscalendar(bare, text)
    assert master(out)["DTSTART"].dt == datetime.date(2024, 5, 10) and to_jscalendar(out)["duration"] == "P1D"
    out = from_jscalendar(dict(bare, showWithoutTime=False, duration="PT1H"), text)
    assert master(out)["DTSTART"].dt == datetime.datetime(2024, 5, 10, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert to_jscalendar(out)["duration"] == "PT1H"


def test_changing_start_keeps_duration_kind_and_end_zone():
    text = ical("DTSTART;TZID=Europe/Berlin:20240101T130000", "DTEND;TZID=Asia/Bangkok:20240102T040000")
    out = from_jscalendar(apply_patch(to_jscalendar(text), {"start": "2024-01-05T13:00:00"}), text)
    assert master(out)["DTEND"].params["TZID"] == "Asia/Bangkok"
    assert master(out)["DTEND"].dt.replace(tzinfo=None) == datetime.datetime(2024, 1, 6, 4)
    text = ical("DTSTART:20240101T100000Z", "DURATION:PT90M")
    out = from_jscalendar(apply_patch(to_jscalendar(text), {"start": "2024-01-05T10:00:00", "duration": "PT2H"}), text)
    assert "DTEND" not in master(out) and master(out)["DURATION"].to_ical() == b"PT2H"


def test_unknown_tzid_with_vtimezone_is_a_custom_zone():
    text = ical("DTSTART;TZID=My Office:20240101T100000", "DTEND;TZID=My Office:20240101T110000",
                calendar_lines=["BEGIN:VTIMEZONE", "TZID:My Office", "BEGIN:STANDARD", "DTSTART:19700101T000000",
                                "TZOFFSETFROM:+0300", "TZOFFSETTO:+0300", "END:STANDARD", "END:VTIMEZONE"])
    event = to_jscalendar(text)
    assert event["timeZone"] == "/My Office" and event["duration"] == "PT1H"
    out = from_jscalendar(apply_patch(event, {"start": "2024-01-02T09:00:00"}), text)
    assert master(out)["DTSTART"].params["TZID"] == "My Office"
    with pytest.raises(InvalidEvent) as e:
        from_jscalendar(dict(event, timeZone="/Elsewhere"), text)
    assert e.value.properties == ["/timeZone"]


# --------------------------------------------------------------------------- recurrence

def test_rrule_mapping_and_until_in_the_event_zone():
    text = ical("DTSTART;TZID=Europe/Berlin:20240101T010000", "DTEND;TZID=Europe/Berlin:20240101T020000",
                "RRULE:FREQ=MONTHLY;INTERVAL=2;UNTIL=20240930T120000Z;BYDAY=MO,-1FR,2TU;BYMONTH=1,3;BYHOUR=8,9;WKST=SU")
    [rule] = to_jscalendar(text)["recurrenceRules"]
    assert rule == {"@type": "RecurrenceRule", "frequency": "monthly", "interval": 2, "firstDayOfWeek": "su",
                    "byDay": [{"@type": "NDay", "day": "mo"}, {"@type": "NDay", "day": "fr", "nthOfPeriod": -1},
                              {"@type": "NDay", "day": "tu", "nthOfPeriod": 2}],
                    "byMonth": ["1", "3"], "byHour": [8, 9], "until": "2024-09-30T14:00:00"}
    out = from_jscalendar(apply_patch(to_jscalendar(text), {"title": "x"}), text)
    assert master(out)["RRULE"].to_ical() == master(text)["RRULE"].to_ical()
    event = apply_patch(to_jscalendar(text), {"start": "2024-01-02T01:00:00"})
    event["recurrenceRules"][0]["count"] = 5
    del event["recurrenceRules"][0]["until"]
    out = from_jscalendar(event, text)
    assert b"COUNT=5" in master(out)["RRULE"].to_ical() and b"UNTIL" not in master(out)["RRULE"].to_ical()
    assert to_jscalendar(out)["recurrenceRules"] == event["recurrenceRules"]


def test_egroupware_byday_and_lenient_rule_spellings_are_normalised():
    event = {"uid": "eg", "start": "2023-07-24T13:00:00", "timeZone": "Europe/Berlin", "duration": "PT1H",
             "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "WEEKLY", "until": "2023-08-30T13:00:00",
                                  "byDay": {"@type": "NDay", "day": "mo,we"}, "byMonth": [7, 8]}]}
    validate(event)
    text, back = roundtrip(event)
    assert back["recurrenceRules"][0]["byDay"] == [{"@type": "NDay", "day": "mo"}, {"@type": "NDay", "day": "we"}]
    assert back["recurrenceRules"][0]["byMonth"] == ["7", "8"]
    assert master(text)["RRULE"].to_ical() == b"FREQ=WEEKLY;UNTIL=20230830T110000Z;BYDAY=MO,WE;BYMONTH=7,8"
    bis = {"uid": "bis", "start": "2024-01-01T10:00:00", "duration": "PT1H",
           "recurrenceRule": {"frequency": "daily", "count": 3},
           "participants": {"p": {"calendarAddress": "mailto:p@x", "roles": {"required": True}}},
           "organizerCalendarAddress": "mailto:p@x"}
    assert roundtrip(bis)[1]["recurrenceRules"] == [{"@type": "RecurrenceRule", "frequency": "daily", "count": 3}]
    assert roundtrip(bis)[1]["participants"]["p"]["sendTo"] == {"imip": "mailto:p@x"}


def test_exdate_rdate_and_moved_instance():
    text = ical("DTSTART;TZID=Europe/Berlin:20240201T140000", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=5",
                "EXDATE:20240203T130000Z", "RDATE;TZID=Europe/Berlin:20240210T090000",
                "END:VEVENT", "BEGIN:VEVENT", "UID:t-1", "DTSTAMP:20240101T000000Z",
                "RECURRENCE-ID;TZID=Europe/Berlin:20240202T140000",
                "DTSTART;TZID=Europe/Berlin:20240202T160000", "DURATION:PT1H", "X-INSTANCE-ONLY:1")
    event = to_jscalendar(text)
    assert event["recurrenceOverrides"] == {"2024-02-02T14:00:00": {"start": "2024-02-02T16:00:00"},
                                            "2024-02-03T14:00:00": {"excluded": True},
                                            "2024-02-10T09:00:00": {}}
    out = from_jscalendar(event, text)
    assert sorted(map(prop_lines, vevents(out))) == sorted(map(prop_lines, vevents(text)))
    event = apply_patch(event, {"recurrenceOverrides/2024-02-02T14:00:00/title": "moved",
                                "recurrenceOverrides/2024-02-04T14:00:00": {"excluded": True},
                                "recurrenceOverrides/2024-02-10T09:00:00": None})
    out = from_jscalendar(event, text)
    instance = next(e for e in vevents(out) if "RECURRENCE-ID" in e)
    assert str(instance["SUMMARY"]) == "moved" and "X-INSTANCE-ONLY" in instance
    assert "RDATE" not in master(out)
    assert to_jscalendar(out)["recurrenceOverrides"] == event["recurrenceOverrides"]


def test_utc_exdate_on_utc_master():
    text = ical("DTSTART:20230725T130000Z", "RRULE:FREQ=WEEKLY", "EXDATE:20230801T130000Z")
    assert to_jscalendar(text)["recurrenceOverrides"] == {"2023-08-01T13:00:00": {"excluded": True}}


def test_stand_alone_instance_has_a_recurrence_id():
    text = ical("RECURRENCE-ID;TZID=Europe/Berlin:20240202T140000", "DTSTART;TZID=Europe/Berlin:20240202T150000",
                "DURATION:PT1H", "SUMMARY:only this one")
    event = to_jscalendar(text)
    assert (event["recurrenceId"], event["recurrenceIdTimeZone"]) == ("2024-02-02T14:00:00", "Europe/Berlin")
    out = from_jscalendar(apply_patch(event, {"title": "renamed"}), text)
    [only] = vevents(out)
    assert str(only["SUMMARY"]) == "renamed" and only["RECURRENCE-ID"].to_ical() == b"20240202T140000"


# --------------------------------------------------------------------------- alerts, keywords, participants

def test_alerts_both_ways():
    event = {"uid": "al", "title": "T", "start": "2024-01-01T10:00:00", "timeZone": "Europe/Berlin", "duration": "PT1H",
             "alerts": {"before": {"@type": "Alert", "trigger": {"@type": "OffsetTrigger", "offset": "-PT15M"}},
                        "after-end": {"trigger": {"offset": "PT5M", "relativeTo": "end"}, "action": "email"},
                        "at": {"trigger": {"@type": "AbsoluteTrigger", "when": "2024-01-01T08:00:00Z"},
                               "acknowledged": "2024-01-01T08:01:00Z"},
                        "egw": {"trigger": {"offset": 900}}}}  # EGroupware: seconds before
    text, back = roundtrip(event)
    assert back["alerts"] == {
        "before": {"@type": "Alert", "trigger": {"@type": "OffsetTrigger", "offset": "-PT15M", "relativeTo": "start"}},
        "after-end": {"@type": "Alert", "trigger": {"@type": "OffsetTrigger", "offset": "PT5M", "relativeTo": "end"},
                      "action": "email"},
        "at": {"@type": "Alert", "trigger": {"@type": "AbsoluteTrigger", "when": "2024-01-01T08:00:00Z"},
               "acknowledged": "2024-01-01T08:01:00Z"},
        "egw": {"@type": "Alert", "trigger": {"@type": "OffsetTrigger", "offset": "-PT15M", "relativeTo": "start"}}}
    alarms = {str(a["X-JSCALENDAR-ID"]): a for a in master(text).walk("VALARM")}
    assert alarms["at"]["TRIGGER"].params["VALUE"] == "DATE-TIME"
    assert alarms["after-end"]["TRIGGER"].params["RELATED"] == "END" and str(alarms["after-end"]["ACTION"]) == "EMAIL"
    assert str(alarms["before"]["DESCRIPTION"]) == "T"


def test_audio_alarm_keeps_its_action_unless_told():
    event = to_jscalendar(RICH)
    audio = "E3D4F2C1-0000-4000-8000-000000000001"
    out = from_jscalendar(apply_patch(event, {f"alerts/{audio}/trigger/offset": "PT10M"}), RICH)
    alarm = next(a for a in master(out).walk("VALARM") if "UID" in a)
    assert str(alarm["ACTION"]) == "AUDIO" and alarm["TRIGGER"].to_ical() == b"PT10M"
    assert alarm["TRIGGER"].params["RELATED"] == "END"
    out = from_jscalendar(apply_patch(event, {f"alerts/{audio}/action": "display"}), RICH)
    alarm = next(a for a in master(out).walk("VALARM") if "UID" in a)
    assert str(alarm["ACTION"]) == "DISPLAY" and "DESCRIPTION" in alarm


def test_keywords_and_categories():
    text = ical("DTSTART:20240101T100000Z", "CATEGORIES:a\\,b,c", "CATEGORIES;X-P=1:d")
    event = to_jscalendar(text)
    assert event["keywords"] == {"a,b": True, "c": True, "d": True}
    assert prop_lines(master(from_jscalendar(event, text))) == prop_lines(master(text))
    out = from_jscalendar(apply_patch(event, {"keywords/e~1f": True}), text)
    assert to_jscalendar(out)["keywords"] == {"a,b": True, "c": True, "d": True, "e/f": True}


def test_participant_kinds_roles_and_bare_email():
    event = {"uid": "pk", "start": "2024-01-01T10:00:00", "duration": "PT1H",
             "participants": {"r": {"kind": "location", "name": "Room", "email": "room@x", "roles": {"attendee": True},
                                    "participationStatus": "accepted"},
                              "b": {"kind": "resource", "email": "beamer@x", "roles": {"optional": True}},
                              "g": {"kind": "group", "email": "team@x", "roles": {"informational": True}},
                              "o": {"name": "Owner", "email": "o@x", "roles": {"owner": True}},
                              "e": "eve@x"}}
    text, back = roundtrip(event)
    ev = master(text)
    atts = {str(a): a.params for a in ev["ATTENDEE"]}
    assert atts["mailto:room@x"]["CUTYPE"] == "ROOM" and atts["mailto:room@x"]["PARTSTAT"] == "ACCEPTED"
    assert atts["mailto:beamer@x"]["CUTYPE"] == "RESOURCE" and atts["mailto:beamer@x"]["ROLE"] == "OPT-PARTICIPANT"
    assert atts["mailto:team@x"]["ROLE"] == "NON-PARTICIPANT"
    assert "mailto:o@x" not in atts and str(ev["ORGANIZER"]) == "mailto:o@x"  # owner only: ORGANIZER only
    assert back["participants"]["o"]["roles"] == {"owner": True} and back["replyTo"] == {"imip": "mailto:o@x"}
    assert back["participants"]["e"] == {"@type": "Participant", "email": "eve@x", "sendTo": {"imip": "mailto:eve@x"},
                                         "roles": {"attendee": True}}
    assert back["participants"]["r"]["kind"] == "location"


def test_stale_json_remainder_never_overrides_a_caldav_edit():
    # roles {owner, chair} has no iCalendar form: ROLE=CHAIR reads {chair, attendee}; the remainder fixes that
    event = {"uid": "st", "start": "2024-01-01T10:00:00", "duration": "PT1H",
             "participants": {"z": {"name": "Zoe", "email": "z@x", "roles": {"owner": True, "chair": True}},
                              "a": {"email": "a@x", "locationId": "L"}},
             "locations": {"L": {"name": "Hall", "description": "big"}}}
    text, back = roundtrip(event)
    assert back["participants"]["z"]["roles"] == {"owner": True, "chair": True}
    assert back["locations"]["L"]["description"] == "big"
    # a CalDAV client now makes Zoe optional and removes the location
    edited = text.replace("ROLE=CHAIR", "ROLE=OPT-PARTICIPANT").replace("LOCATION;X-JSCALENDAR-ID=L:Hall\r\n", "")
    assert edited != text
    after = to_jscalendar(edited)
    assert after["participants"]["z"]["roles"] == {"owner": True, "optional": True}
    assert "locations" not in after
    assert after["participants"]["a"]["locationId"] == "L"  # pure additions stay


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("change, pointers", [
    ({"@type": "Task"}, ["/@type"]),
    ({"start": "2024-01-01 10:00"}, ["/start"]),
    ({"start": None}, ["/start"]),
    ({"timeZone": "Mars/Olympus"}, ["/timeZone"]),
    ({"duration": "1h"}, ["/duration"]),
    ({"duration": "P1Y"}, ["/duration"]),
    ({"duration": "PT"}, ["/duration"]),
    ({"priority": 10}, ["/priority"]),
    ({"priority": True}, ["/priority"]),
    ({"sequence": -1}, ["/sequence"]),
    ({"status": "maybe"}, ["/status"]),
    ({"freeBusyStatus": "busy-unavailable"}, ["/freeBusyStatus"]),
    ({"privacy": "home"}, ["/privacy"]),
    ({"created": "2024-01-01T00:00:00"}, ["/created"]),
    ({"updated": "2024-01-01T00:00:00.000Z"}, ["/updated"]),
    ({"showWithoutTime": True}, ["/start", "/duration"]),
    ({"keywords": {"a": False, "b": 1}}, ["/keywords"]),
    ({"participants": {"bad id": {"roles": {"attendee": True}}}}, ["/participants/bad id"]),
    ({"participants": {"p": {"roles": {}, "kind": "robot", "participationStatus": "maybe", "sendTo": "x"}}},
     ["/participants/p/roles", "/participants/p/kind", "/participants/p/participationStatus",
      "/participants/p/sendTo"]),
    ({"locations": {"l": {"@type": "Place"}}}, ["/locations/l/@type"]),
    ({"alerts": {"a": {"trigger": {"offset": "15 minutes"}}}}, ["/alerts/a/trigger/offset"]),
    ({"alerts": {"a": {"trigger": {"@type": "AbsoluteTrigger", "when": "2024-01-01T10:00:00"}, "action": "sms"}}},
     ["/alerts/a/trigger/when", "/alerts/a/action"]),
    ({"alerts": {"a": {}}}, ["/alerts/a/trigger"]),
    ({"recurrenceRules": [{"frequency": "fortnightly"}]}, ["/recurrenceRules/0/frequency"]),
    ({"recurrenceRules": [{"frequency": "daily", "count": 2, "until": "2024-02-01T00:00:00",
                           "byDay": [{"day": "xx"}], "byMonth": ["13x"], "byHour": [24]}]},
     ["/recurrenceRules/0/until", "/recurrenceRules/0/byDay/0/day", "/recurrenceRules/0/byMonth/0",
      "/recurrenceRules/0/byHour/0"]),
    ({"recurrenceOverrides": {"tomorrow": {}}}, ["/recurrenceOverrides/tomorrow"]),
    ({"recurrenceOverrides": {"2024-01-08T10:00:00": {"priority": 11}}}, ["/recurrenceOverrides/2024-01-08T10:00:00/priority"]),
    ({"recurrenceOverrides": {"2024-01-08T10:00:00": {"participants/nobody/name": "x"}}},
     ["/recurrenceOverrides/2024-01-08T10:00:00/participants~1nobody~1name"]),
])
def test_validation_reports_every_invalid_property(change, pointers):
    event = dict({"@type": "Event", "uid": "v", "start": "2024-01-01T10:00:00", "timeZone": "Europe/Berlin",
                  "duration": "PT1H"}, **change)
    with pytest.raises(InvalidEvent) as e:
        validate(event)
    assert sorted(e.value.properties) == sorted(pointers)
    assert e.value.type == "invalidProperties" and isinstance(e.value, ValueError) and e.value.message
    with pytest.raises(InvalidEvent):
        from_jscalendar(event)


def test_validation_collects_all_errors_at_once():
    with pytest.raises(InvalidEvent) as e:
        validate({"@type": "Event", "start": "x", "priority": 12, "privacy": "open", "example.com:any": object})
    assert e.value.properties == ["/start", "/priority", "/privacy"]


def test_validation_accepts_lenient_spellings_and_vendor_values():
    validate({"start": "2024-01-01T10:00:00", "duration": "P1DT2H", "timeZone": "UTC",
              "participants": {"p": "p@example.com"}, "example.com:x": {"anything": [None]},
              "alerts": {"a": {"trigger": {"offset": 0}}}, "sequence": "3"})
    with pytest.raises(InvalidEvent) as e:
        validate(["not", "an", "object"])
    assert e.value.properties == [""]


def test_not_an_event():
    with pytest.raises(ValueError):
        to_jscalendar("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    with pytest.raises(ValueError):
        to_jscalendar("this is not iCalendar")
    error = InvalidEvent("m", ["/a"])
    assert (error.message, error.properties, error.type, str(error)) == ("m", ["/a"], "invalidProperties", "m")


def test_server_filled_members():
    text = from_jscalendar({"title": "minimal", "start": "2024-05-01T10:00:00", "timeZone": "Europe/Berlin",
                            "duration": "PT1H"})
    event = to_jscalendar(text)
    assert len(event["uid"]) == 36 and event["prodId"] == J.DEFAULT_PRODID
    assert abs(datetime.datetime.fromisoformat(event["updated"][:-1]).replace(tzinfo=UTC)
               - datetime.datetime.now(UTC)) < datetime.timedelta(minutes=1)
    # a PUT without uid keeps the stored one
    assert to_jscalendar(from_jscalendar(without(event, "uid"), text))["uid"] == event["uid"]


# --------------------------------------------------------------------------- PatchObject

BASE = {"@type": "Event", "title": "a", "alerts": {"1": {"trigger": {"offset": "-PT5M"}}},
        "recurrenceRules": [{"frequency": "daily"}], "keywords": {"x/y": True}}


def test_patch_sets_replaces_and_removes():
    before = copy.deepcopy(BASE)
    out = apply_patch(BASE, {"title": "b", "alerts/1/trigger/offset": "-PT10M", "keywords/x~1y": None,
                             "description": None, "/duration": "PT1H", "locations": {"l": {"name": "n"}}})
    assert BASE == before  # untouched
    assert out == {"@type": "Event", "title": "b", "alerts": {"1": {"trigger": {"offset": "-PT10M"}}},
                   "recurrenceRules": [{"frequency": "daily"}], "keywords": {}, "duration": "PT1H",
                   "locations": {"l": {"name": "n"}}}
    value = {"name": "n"}
    out = apply_patch(BASE, {"locations": {"l": value}})
    value["name"] = "changed later"
    assert out["locations"]["l"]["name"] == "n"


@pytest.mark.parametrize("patch, pointers", [
    ({"missing/child": 1}, ["/missing/child"]),
    ({"alerts/2/trigger": {}}, ["/alerts/2/trigger"]),
    ({"recurrenceRules/0/frequency": "weekly"}, ["/recurrenceRules/0/frequency"]),
    ({"recurrenceRules/0": {"frequency": "weekly"}}, ["/recurrenceRules/0"]),
    ({"title/x": 1}, ["/title/x"]),
    ({"alerts": {}, "alerts/1/trigger": {}}, ["/alerts/1/trigger"]),
    ({"alerts/1": None, "alerts/1/trigger/offset": "PT0S"}, ["/alerts/1/trigger/offset"]),
    ({"bad~2escape": 1}, ["/bad~2escape"]),
    ({"": 1}, ["/"]),
    ({"title": "ok", "nope/x": 1, "recurrenceRules/0/x": 2}, ["/nope/x", "/recurrenceRules/0/x"]),
])
def test_invalid_patches_change_nothing(patch, pointers):
    before = copy.deepcopy(BASE)
    with pytest.raises(InvalidEvent) as e:
        apply_patch(BASE, patch)
    assert e.value.type == "invalidPatch"
    assert sorted(e.value.properties) == sorted(pointers)
    assert BASE == before


def test_patch_must_be_an_object():
    with pytest.raises(InvalidEvent) as e:
        apply_patch(BASE, [("title", "x")])
    assert e.value.type == "invalidPatch"


def test_patch_similar_names_are_not_prefixes():
    out = apply_patch({"a": {"b": 1}, "ab": 1}, {"a/b": 2, "ab": 3, "a-b": 4})
    assert out == {"a": {"b": 2}, "ab": 3, "a-b": 4}


# --------------------------------------------------------------------------- property-based

TIME_ZONES = [None, "Etc/UTC", "Europe/Berlin", "America/New_York", "Australia/Melbourne", "Asia/Kolkata"]
ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=30) | \
    st.sampled_from(["", "a, b; c", "line\nbreak", "back\\slash", "Größe ☃", "x:y"])
words = st.text("abcdefghijklmnopqrstuvwxyz ,;/~:", min_size=1, max_size=10)
emails = st.builds(lambda a, b: f"{a}@{b}.example", ids, ids)
locals_ = st.datetimes(datetime.datetime(1990, 1, 1), datetime.datetime(2036, 12, 31)).map(
    lambda d: d.replace(microsecond=0))
utcs = locals_.map(lambda d: J._fmt_local(d) + "Z")


def durations(all_day):
    if all_day:
        return st.integers(1, 30).map(lambda d: f"P{d}D")
    return st.one_of(st.integers(0, 5 * 86400).map(J._fmt_exact), st.integers(1, 9).map(lambda d: f"P{d}D"),
                     st.tuples(st.integers(0, 3), st.integers(0, 23), st.integers(0, 59)).map(
                         lambda t: f"P{t[0]}DT{t[1]}H{t[2]}M" if t[0] else f"PT{t[1]}H{t[2]}M" if t[1] or t[2] else "PT0S"))


@st.composite
def participants(draw):
    out = {}
    for _ in range(draw(st.integers(0, 4))):
        pid = draw(ids)
        p = {"@type": "Participant"}
        email = draw(emails)
        choice = draw(st.integers(0, 2))
        if choice in (0, 2):
            p["email"] = email
        if choice in (1, 2):
            p["sendTo"] = {"imip": "mailto:" + (email if choice == 1 or draw(st.booleans()) else draw(emails))}
        if draw(st.booleans()):
            p["name"] = draw(texts)
        if draw(st.booleans()):
            p["kind"] = draw(st.sampled_from(list(J.KINDS)))
        p["roles"] = draw(st.sampled_from([{"attendee": True}, {"optional": True}, {"informational": True},
                                           {"chair": True, "attendee": True}]))
        if draw(st.booleans()):
            p["participationStatus"] = draw(st.sampled_from(J.PARTSTATS))
        if draw(st.booleans()):
            p["expectReply"] = draw(st.booleans())
        out[pid] = p
    if out and draw(st.booleans()):
        owner = draw(st.sampled_from(sorted(out)))
        out[owner]["roles"] = dict(out[owner]["roles"], owner=True) if draw(st.booleans()) else {"owner": True}
        if out[owner]["roles"] == {"owner": True}:
            out[owner].pop("expectReply", None)  # RSVP exists on ATTENDEE only (kept, but as a remainder)
        # distinct addresses keep ORGANIZER/ATTENDEE merging unambiguous
    seen = set()
    for pid in list(out):
        address = canonical._address(out[pid], pid, "").casefold()
        if address in seen:
            del out[pid]
        seen.add(address)
    return out


@st.composite
def events(draw, vendor=False):
    all_day = draw(st.booleans())
    start = draw(locals_)
    if all_day:
        start = start.replace(hour=0, minute=0, second=0)
    ev = {"@type": "Event", "uid": draw(ids), "updated": draw(utcs), "start": J._fmt_local(start),
          "duration": draw(durations(all_day))}
    if all_day:
        ev["showWithoutTime"] = True
    else:
        zone = draw(st.sampled_from(TIME_ZONES))
        if zone:
            ev["timeZone"] = zone
    for key, strategy in (("title", texts), ("description", texts), ("created", utcs),
                          ("status", st.sampled_from(J.STATUS)), ("freeBusyStatus", st.sampled_from(J.FREE_BUSY)),
                          ("privacy", st.sampled_from(list(J.PRIVACY))), ("priority", st.integers(0, 9)),
                          ("sequence", st.integers(0, 1000)),
                          ("keywords", st.dictionaries(words, st.just(True), min_size=1, max_size=3)),
                          ("locations", st.dictionaries(ids, st.builds(lambda n: {"@type": "Location", "name": n},
                                                                       texts.filter(bool)), min_size=1, max_size=1)),
                          ("participants", participants()),
                          ("alerts", st.dictionaries(ids, st.one_of(
                              st.builds(lambda o, r: {"@type": "Alert", "trigger": {
                                  "@type": "OffsetTrigger", "offset": J._fmt_signed(datetime.timedelta(minutes=o)),
                                  "relativeTo": r}}, st.integers(-3000, 3000), st.sampled_from(["start", "end"])),
                              st.builds(lambda w, a: {"@type": "Alert", "trigger": {"@type": "AbsoluteTrigger", "when": w},
                                                      "action": a}, utcs, st.just("email"))), max_size=2))):
        if draw(st.booleans()):
            value = draw(strategy)
            if value or key not in ("participants", "alerts"):
                ev[key] = value
    if draw(st.booleans()):
        rule = {"@type": "RecurrenceRule", "frequency": draw(st.sampled_from(["daily", "weekly", "monthly"]))}
        if draw(st.booleans()):
            rule["interval"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            rule["count"] = draw(st.integers(1, 20))
        elif draw(st.booleans()):
            until = start + datetime.timedelta(days=draw(st.integers(1, 200)))
            rule["until"] = J._fmt_local(until)
        if rule["frequency"] == "weekly" and draw(st.booleans()):
            rule["byDay"] = [{"@type": "NDay", "day": d} for d in draw(st.lists(st.sampled_from(J.DAYS),
                                                                                min_size=1, max_size=3, unique=True))]
        if rule["frequency"] == "monthly" and draw(st.booleans()):
            rule["byDay"] = [{"@type": "NDay", "day": draw(st.sampled_from(J.DAYS)),
                              "nthOfPeriod": draw(st.sampled_from([1, 2, -1]))}]
        ev["recurrenceRules"] = [rule]
        overrides = {}
        for n in draw(st.lists(st.integers(1, 6), max_size=3, unique=True)):
            key = J._fmt_local(start + datetime.timedelta(days=n * (1 if rule["frequency"] == "daily" else 7)))
            kind = draw(st.integers(0, 3))
            if kind == 0:
                overrides[key] = {"excluded": True}
            elif kind == 1:
                overrides[key] = {"title": draw(texts)}
            elif kind == 2:
                overrides[key] = {}
            else:
                moved = J._parse_local(key) + datetime.timedelta(hours=0 if all_day else 2, days=1 if all_day else 0)
                overrides[key] = {"start": J._fmt_local(moved), "priority": draw(st.integers(0, 9))}
            if ev.get("participants") and kind == 1 and draw(st.booleans()):
                pid = sorted(ev["participants"])[0]
                overrides[key][f"participants/{pid}/participationStatus"] = "declined"
        if overrides:
            ev["recurrenceOverrides"] = overrides
    if vendor:
        json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | texts,
                                   lambda c: st.lists(c, max_size=3) | st.dictionaries(words, c, max_size=3),
                                   max_leaves=6)
        ev["example.com:" + draw(ids)] = draw(json_values.filter(lambda v: v is not None))
        ev["links"] = {draw(ids): {"@type": "Link", "href": "https://example.com/" + draw(ids)}}
        if ev.get("participants"):
            pid = sorted(ev["participants"])[0]
            ev["participants"][pid]["example.com:seat"] = draw(st.integers(0, 99))
        if ev.get("alerts"):
            aid = sorted(ev["alerts"])[0]
            ev["alerts"][aid]["example.com:snooze"] = draw(texts)
        extra = draw(st.sets(st.sampled_from(["reply", "no-address", "two-locations", "owner-chair", "sendto"])))
        parts = ev.setdefault("participants", {})
        if "reply" in extra:
            ev["replyTo"] = {"imip": "mailto:" + draw(emails)}
        if "no-address" in extra:
            parts["anon"] = {"@type": "Participant", "name": "Somebody", "roles": {"attendee": True}}
        if "owner-chair" in extra:
            parts["boss"] = {"@type": "Participant", "email": "boss@example.org", "roles": {"owner": True, "chair": True}}
        if "sendto" in extra:
            parts["multi"] = {"@type": "Participant", "email": "m@example.org",
                              "sendTo": {"imip": "mailto:m@example.org", "other": "https://example.org/m"},
                              "roles": {"attendee": True, "optional": True}}
        if not parts:
            del ev["participants"]
        if "two-locations" in extra:
            ev["locations"] = {"one": {"@type": "Location", "name": "First"},
                               "two": {"@type": "Location", "name": "Second", "description": "d"}}
    return ev


def end_instant(event):
    """The end of the event as an instant (or a naive/date value), independent of the module."""
    start = datetime.datetime.fromisoformat(event["start"])
    days, seconds = J._parse_duration(event["duration"])
    if event.get("showWithoutTime"):
        return start.date() + datetime.timedelta(days=max(days, 1))
    zone = event.get("timeZone")
    if zone is None:
        return start + datetime.timedelta(days=days, seconds=seconds)
    tz = zoneinfo.ZoneInfo(zone)
    wall = (start + datetime.timedelta(days=days)).replace(tzinfo=tz)
    return wall.astimezone(UTC) + datetime.timedelta(seconds=seconds)


@FAST
@given(events())
@example({"@type": "Event", "uid": "0", "updated": "2000-01-01T00:00:00Z", "start": "2000-01-01T00:00:00",
          "duration": "PT0S", "participants": {"0": {   # a name ending in a backslash: CN="\"
              "@type": "Participant", "email": "0@0.example", "name": "\\", "roles": {"attendee": True}}}})
@example({"@type": "Event", "uid": "0", "updated": "2000-01-01T00:00:00Z", "start": "2000-01-01T00:00:00",
          "duration": "PT0S", "title": "C:\\New, one;", "description": "\\N\nline",   # a literal backslash-N
          "locations": {"l": {"@type": "Location", "name": "\\N"}}})
def test_json_to_ical_to_json_preserves_every_mapped_field(event):
    validate(event)
    text, back = roundtrip(event)
    assert not residue(text), residue(text)  # everything here is mapped: nothing left over
    for key in ("uid", "updated", "title", "description", "created", "status", "freeBusyStatus", "privacy",
                "priority", "sequence", "keywords", "start", "timeZone", "showWithoutTime"):
        assert back.get(key) == event.get(key), key
    assert end_instant(back) == end_instant(event)
    assert back.get("locations") == event.get("locations")
    assert set(back.get("participants", {})) == set(event.get("participants", {}))
    for pid, p in event.get("participants", {}).items():
        got = back["participants"][pid]
        for member, value in p.items():
            if member == "roles" and "chair" in value and "attendee" not in value:
                continue
            assert got[member] == value, (pid, member)
    assert set(back.get("alerts", {})) == set(event.get("alerts", {}))
    for aid, alert in event.get("alerts", {}).items():
        got = back["alerts"][aid]
        assert got.get("action") == alert.get("action")
        if alert["trigger"]["@type"] == "OffsetTrigger":
            assert J._parse_signed(got["trigger"]["offset"]) == J._parse_signed(alert["trigger"]["offset"])
            assert got["trigger"]["relativeTo"] == alert["trigger"]["relativeTo"]
        else:
            assert got["trigger"] == alert["trigger"]
    assert back.get("recurrenceRules") == event.get("recurrenceRules")
    overrides, got = event.get("recurrenceOverrides", {}), back.get("recurrenceOverrides", {})
    assert set(got) == set(overrides)
    base = without(back, "recurrenceOverrides", "recurrenceRules")
    for key, patch in overrides.items():
        if patch.get("excluded"):
            assert got[key] == {"excluded": True}
            continue
        want = apply_patch(dict(without(event, "recurrenceOverrides", "recurrenceRules"), start=key), patch)
        have = apply_patch(dict(base, start=key), got[key])
        for member in ("title", "start", "priority", "participants"):
            if member in want and member != "participants":
                assert have[member] == want[member], (key, member)
        for pid, p in want.get("participants", {}).items():
            assert have["participants"][pid].get("participationStatus") == p.get("participationStatus")
    # stable: reading and writing again changes nothing
    again = from_jscalendar(back, text)
    assert to_jscalendar(again) == back
    assert prop_lines(master(again)) == prop_lines(master(text))


@FAST
@given(events(vendor=True))
def test_json_to_ical_to_json_keeps_unknown_and_vendor_members(event):
    validate(event)
    text, back = roundtrip(event)
    expected = canonical._canonical(normalize._normalize(event), zones._Zones(), event["uid"])
    assert without(back, "prodId") == expected
    assert to_jscalendar(from_jscalendar(back, text)) == back


TRIGGERS = ["-PT15M", "PT0S", "-P1D", ";RELATED=END:PT5M", ";VALUE=DATE-TIME:20240101T080000Z", "-PT1H30M"]


@st.composite
def icalendars(draw):
    """VEVENTs as CalDAV clients write them, with extras the mapping does not know."""
    form = draw(st.sampled_from(["date", "utc", "floating", "Europe/Berlin", "America/New_York", "win"]))
    start = draw(locals_)
    def stamp(moment):
        if form == "date":
            return ";VALUE=DATE:" + moment.strftime("%Y%m%d")
        text = moment.strftime("%Y%m%dT%H%M%S")
        if form == "utc":
            return ":" + text + "Z"
        if form == "floating":
            return ":" + text
        return f";TZID={'W. Europe Standard Time' if form == 'win' else form}:" + text
    end = start + datetime.timedelta(days=draw(st.integers(1, 3))) if form == "date" else \
        start + datetime.timedelta(minutes=draw(st.integers(0, 3000)))
    lines = ["DTSTART" + stamp(start)]
    end_form = draw(st.sampled_from(["dtend", "duration", "none"]))
    if end_form == "dtend":
        lines.append("DTEND" + stamp(end))
    elif end_form == "duration":
        lines.append("DURATION:" + (f"P{(end - start).days}D" if form == "date" else J._fmt_exact((end - start).total_seconds())))
    esc = lambda s: s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    for name, strategy in (("SUMMARY", texts), ("DESCRIPTION", texts), ("LOCATION", texts.filter(bool)),
                           ("X-CUSTOM;X-P=1", texts), ("X-MOZ-GENERATION", st.integers(0, 9).map(str)),
                           ("STATUS", st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED", "X-ODD"])),
                           ("TRANSP", st.sampled_from(["OPAQUE", "TRANSPARENT"])),
                           ("CLASS", st.sampled_from(["PUBLIC", "PRIVATE", "CONFIDENTIAL", "X-OWN"])),
                           ("PRIORITY", st.integers(0, 9).map(str)), ("SEQUENCE", st.integers(0, 9).map(str)),
                           ("CREATED", utcs.map(lambda u: u.replace("-", "").replace(":", ""))),
                           ("CATEGORIES", st.lists(words, min_size=1, max_size=3).map(lambda ws: ",".join(map(esc, ws)))),
                           ("URL", st.just("https://example.com/x")), ("GEO", st.just("48.1;11.5"))):
        if draw(st.booleans()):
            value = draw(strategy)
            lines.append(f"{name}:{esc(value) if strategy is texts or name == 'LOCATION' else value}")
    addresses = draw(st.lists(emails, max_size=3, unique=True))
    if addresses and draw(st.booleans()):
        lines.append(f"ORGANIZER;CN=Org;X-ORG=1:mailto:{draw(st.sampled_from(addresses))}")
    for address in addresses:
        params = ""
        for param, values in (("CN", ['"Doe, J"', "Ann"]), ("ROLE", ["CHAIR", "REQ-PARTICIPANT", "OPT-PARTICIPANT",
                                                                      "NON-PARTICIPANT", "X-ODD"]),
                              ("PARTSTAT", ["ACCEPTED", "DECLINED", "NEEDS-ACTION", "X-ODD"]),
                              ("CUTYPE", ["ROOM", "RESOURCE", "INDIVIDUAL", "UNKNOWN"]), ("RSVP", ["TRUE", "FALSE"]),
                              ("X-NUM-GUESTS", ["0", "2"]), ("SCHEDULE-STATUS", ['"2.0;Success"']),
                              ("EMAIL", ["other@example.org"])):
            if draw(st.booleans()):
                params += f";{param}={draw(st.sampled_from(values))}"
        lines.append(f"ATTENDEE{params}:mailto:{address}")
    def alarms():
        out = []
        for _ in range(draw(st.integers(0, 2))):
            out += ["BEGIN:VALARM", f"ACTION:{draw(st.sampled_from(['DISPLAY', 'AUDIO', 'EMAIL']))}",
                    "TRIGGER" + (lambda t: t if t.startswith(";") else ":" + t)(draw(st.sampled_from(TRIGGERS))),
                    "DESCRIPTION:remind", "X-MOZ-LASTACK:20240101T000000Z"]
            if draw(st.booleans()):
                out.append("UID:" + draw(st.sampled_from(["A1B2-C3", "not an id!", "x"])))
            out.append("END:VALARM")
        return out
    lines += alarms()
    if draw(st.booleans()):
        lines += ["BEGIN:X-THING", "X-A:1", "END:X-THING"]
    instance = []
    if form != "win" and draw(st.booleans()):
        lines.append("RRULE:FREQ=DAILY;COUNT=10" + draw(st.sampled_from(["", ";INTERVAL=2", ";X-NAME=keep"])))
        step = 2 if "INTERVAL" in lines[-1] else 1
        if draw(st.booleans()):
            lines.append("EXDATE" + stamp(start + datetime.timedelta(days=step)))
        if draw(st.booleans()):
            lines.append("RDATE" + stamp(start + datetime.timedelta(days=30, hours=0 if form == "date" else 5)))
        if draw(st.booleans()):
            rid = start + datetime.timedelta(days=2 * step)
            instance = ["END:VEVENT", "BEGIN:VEVENT", "UID:t-1", "DTSTAMP:20240101T000000Z", "RECURRENCE-ID" + stamp(rid),
                        "DTSTART" + stamp(rid + datetime.timedelta(hours=0 if form == "date" else 1)),
                        "SUMMARY:moved", "X-INSTANCE:1"]
            if addresses and draw(st.booleans()):
                instance.append(f"ATTENDEE;PARTSTAT=DECLINED:mailto:{addresses[0]}")
            instance += alarms()
    return ical(*lines, *instance)


@FAST
@given(icalendars())
def test_ical_to_json_to_ical_is_lossless_and_stable(text):
    first = to_jscalendar(text)
    validate(first)
    out = from_jscalendar(first, text)
    assert to_jscalendar(out) == first
    assert not residue(out), residue(out)
    assert sorted(map(prop_lines, vevents(out))) == sorted(map(prop_lines, vevents(text)))
    assert sorted(map(subcomponent_lines, vevents(out))) == sorted(map(subcomponent_lines, vevents(text)))


def without_no_op_overrides(event: dict) -> dict:
    """``event`` less the override patches that set what the master already says: an edit of
    the master can make one of them a no-op (a participant declined on the master too), and
    the conversion does not write what changes nothing."""
    event = copy.deepcopy(event)
    for override in (event.get("recurrenceOverrides") or {}).values():
        for path in list(override):
            value, found = event, True
            for part in path.split("/"):
                if isinstance(value, dict) and part in value:
                    value = value[part]
                else:
                    found = False
                    break
            if found and value == override[path]:
                del override[path]
    return event


@FAST
@given(icalendars(), st.data())
def test_ical_edit_through_json_keeps_unmapped_lines(text, data):
    event = to_jscalendar(text)
    patch = {"title": data.draw(texts), "priority": data.draw(st.integers(0, 9))}
    if event.get("participants") and data.draw(st.booleans()):
        pid = data.draw(st.sampled_from(sorted(event["participants"])))
        patch[f"participants/{pid}/participationStatus"] = data.draw(st.sampled_from(J.PARTSTATS))
    edited = apply_patch(event, patch)
    out = from_jscalendar(edited, text)
    assert to_jscalendar(out) == without_no_op_overrides(edited)
    mapped = {"SUMMARY", "PRIORITY", "ATTENDEE", "ORGANIZER", "DTSTAMP"}
    for before, after in zip(sorted(vevents(text), key=lambda e: "RECURRENCE-ID" in e),
                             sorted(vevents(out), key=lambda e: "RECURRENCE-ID" in e)):
        assert prop_lines(after, skip=mapped) == prop_lines(before, skip=mapped)
        assert subcomponent_lines(after) == subcomponent_lines(before)
        for att in all_of(after, "ATTENDEE"):
            original = next(a for a in all_of(before, "ATTENDEE") if str(a) == str(att))
            for key in ("X-NUM-GUESTS", "SCHEDULE-STATUS", "CN", "CUTYPE", "RSVP"):
                assert att.params.get(key) == original.params.get(key)


@FAST
@given(st.dictionaries(st.sampled_from(["a", "a/b", "a/b/c", "ab", "c", "c/d", "/c", "e~1f", "x/y"]),
                       st.none() | st.integers(), max_size=4))
def test_patch_is_atomic_and_follows_the_rules(patch):
    doc = {"a": {"b": {"c": 1}}, "ab": 2, "c": {"d": [1, 2]}, "e/f": 3}
    before = copy.deepcopy(doc)
    keys = [k.lstrip("/") for k in patch]
    invalid = (len(set(keys)) != len(keys) or any(a != b and b.startswith(a + "/") for a in keys for b in keys)
               or "x/y" in keys)
    try:
        out = apply_patch(doc, patch)
    except InvalidEvent as e:
        assert invalid and e.type == "invalidPatch"
    else:
        assert not invalid
        for key, value in patch.items():
            tokens = [t.replace("~1", "/") for t in key.lstrip("/").split("/")]
            node = out
            for t in tokens[:-1]:
                node = node[t]
            assert node.get(tokens[-1]) == value
    assert doc == before


def test_output_is_readable_by_radicale_vobject():
    import vobject
    event = dict(RFC_OVERRIDES, **{"example.com:x": {"a,b;c": "d\\e"}})
    for text in (from_jscalendar(event), from_jscalendar(to_jscalendar(RICH), RICH)):
        parsed = vobject.readOne(text)
        assert parsed.vevent.uid.value
        assert to_jscalendar(parsed.serialize()) == to_jscalendar(text)
