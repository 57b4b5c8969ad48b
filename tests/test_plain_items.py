"""storage/items.py's shortcut past vobject for plain calendar text gives exactly what Radicale's
own way gives (vobject's parse and serialization): the same items, text, ETags, UIDs and time
ranges, for the split of an imported calendar and for one stored object; text it cannot vouch
for goes Radicale's way.  Held to vobject itself on generated text, tricky values included."""

import datetime

import pytest
import radicale.item as radicale_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from radicale import config
from radicale.app.put import prepare

from roomcal.storage.errors import InvalidBooking
from roomcal.storage.items import plain_item, split_calendar

PATH = "/rooms/r1/"
CONFIGURATION = config.load()

# Values: mostly plain ones, else anything vobject escapes, folds, refuses or reads as something else.
PLAIN = st.text(alphabet=st.sampled_from(list("abcXYZ019-._:/@é") + [" "]), min_size=1, max_size=24)
LONG = st.text(alphabet=st.sampled_from(list("abé ")), min_size=60, max_size=72)   # around the fold
SPECIAL = st.sampled_from([",", ";", "\\", "\\n", "\\,", '"', "\t", " ", "\u00a0"])
TEXT = st.one_of(*[PLAIN] * 8, LONG, st.just(""), st.builds(lambda a, b, c: a + b + c, PLAIN, SPECIAL, PLAIN))
GOOD_UTC = st.builds(lambda moment, z: moment.strftime("%Y%m%dT%H%M%S") + z,
                     st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
                     st.sampled_from(["Z", "Z", "Z", ""]))   # floating too
BAD_UTC = st.sampled_from(["18991231T235959Z", "20270230T100000Z", "20271301T100000Z", "20270101T240000Z",
                           "20270101T100060Z", "20270101T100060", "2027-01-01T10:00:00Z", "20270101"])
UTC = st.one_of(GOOD_UTC, GOOD_UTC, GOOD_UTC, GOOD_UTC, GOOD_UTC, BAD_UTC)
RARELY = st.sampled_from([False] * 9 + [True])
DATE = st.sampled_from(["20270402", "20270230"])
NAMES = ["UID", "SUMMARY", "DESCRIPTION", "LOCATION", "CLASS", "STATUS", "TRANSP", "COMMENT",
         "SEQUENCE", "PRIORITY", "X-ROOMCAL-OWNER", "X-ROOMCAL-BOOKED-AT", "X-A", "URL", "CATEGORIES",
         "summary"]
TIMES = ["DTSTAMP", "DTSTART", "DTEND", "CREATED", "LAST-MODIFIED"]


@st.composite
def vevent(draw, uid=None):
    lines = {"UID": uid or draw(st.sampled_from(["a", "b", "c1", "x:y", "é"]))}
    for name in TIMES:
        if name in ("DTSTAMP", "DTSTART") or draw(st.booleans()):
            lines[name] = draw(UTC)
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=6)):
        lines[name] = draw(TEXT)
    if draw(RARELY):
        lines["DTSTART;VALUE=DATE"] = draw(DATE)
        lines.pop("DTSTART", None)
    if draw(RARELY):
        lines["RRULE"] = "FREQ=DAILY;COUNT=3"
    if draw(RARELY):
        lines["ATTENDEE;CN=Ann"] = "mailto:ann@example.org"
    body = [f"{name}:{value}" for name, value in lines.items()]
    if draw(RARELY):   # a property twice
        body.append(body[-1])
    if draw(RARELY):
        body.insert(draw(st.integers(0, len(body))), "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM")
    return ["BEGIN:VEVENT", *draw(st.permutations(body)), "END:VEVENT"]


@st.composite
def vcalendar(draw, events=st.integers(1, 4)):
    header = []
    if not draw(RARELY):
        header.append("VERSION:2.0")
    if not draw(RARELY):
        prodid = draw(st.sampled_from(["-//t//EN", "-//Radicale//NONSGML Version 3.9.0//EN"]))
        header.append("PRODID:" + (prodid if not draw(RARELY) else "a,b"))
    for line in ("CALSCALE:GREGORIAN", "METHOD:PUBLISH", "X-WR-CALNAME:" + draw(TEXT)):
        if draw(RARELY):
            header.append(line)
    uids = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "x:y"]), min_size=1, max_size=draw(events)))
    body = [line for uid in uids for line in draw(vevent(uid))]
    lines = ["BEGIN:VCALENDAR", *draw(st.permutations(header)), *body, "END:VCALENDAR"]
    newline = draw(st.sampled_from(["\r\n", "\r\n", "\n"]))
    return newline.join(lines) + draw(st.sampled_from([newline, "", newline + newline]))


def radicale_items(text):
    """What Radicale's whole-calendar PUT makes of ``text``: its items, or None if it refuses."""
    try:
        items, _, _, _, error = prepare(
            radicale_item.read_components(text), PATH, "text/calendar", True, False,
            CONFIGURATION.get("server", "max_resource_size"),
            CONFIGURATION.get("server", "max_vevent_rrule_occurrence"), "VCALENDAR", True)
        items = list(items)
    except Exception:
        return None
    return None if error else items


def radicale_item_of(text):
    """What Radicale prepares of one stored object's text (guarded.py's ``_item`` without the
    shortcut), or None if it cannot."""
    try:
        vobject_item, = radicale_item.read_components(text)
        item = radicale_item.Item(collection_path=PATH.strip("/"), vobject_item=vobject_item)
        item.prepare()
    except Exception:
        return None
    return item


def facts(item):
    return (item.serialize(), item.etag, item.uid, item.name, item.component_name, tuple(item.time_range))


SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(vcalendar())
def test_an_imported_calendar_splits_as_radicale_splits_it(text):
    expected = radicale_items(text)
    try:
        items = split_calendar(CONFIGURATION, PATH, text)
    except InvalidBooking:
        assert expected is None
        return
    assert expected is not None
    if any(item._vobject_item is not None for item in items):
        return   # Radicale's way itself (which gives a missing UID a random one)
    assert [facts(item) for item in items] == [facts(item) for item in expected]


@SETTINGS
@given(vcalendar(events=st.just(1)))
def test_a_stored_object_is_the_item_radicale_prepares(text):
    item = plain_item(PATH.strip("/"), text)
    if item is None:
        return   # Radicale's way (guarded.py)
    expected = radicale_item_of(text)
    assert expected is not None
    assert facts(item) == facts(expected)


def test_plain_text_takes_the_shortcut_and_the_rest_does_not():
    """The examples above would prove nothing if nothing were plain."""
    plain = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
             "DTSTAMP:20260101T000000Z\r\nDTSTART:20280101T010000Z\r\nDTEND:20280101T013000Z\r\n"
             "SUMMARY:Seed u1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    item = plain_item("rooms/r1", plain)
    assert item is not None and facts(item) == facts(radicale_item_of(plain))
    assert item.serialize().index("DTSTART") < item.serialize().index("DTSTAMP")   # vobject's order
    split, = split_calendar(CONFIGURATION, PATH, plain)
    assert split._vobject_item is None and facts(split) == facts(radicale_items(plain)[0])
    escaped = plain.replace("SUMMARY:Seed u1", "SUMMARY:Seed\\, u1")
    assert plain_item("rooms/r1", escaped) is None
    assert split_calendar(CONFIGURATION, PATH, escaped)[0]._vobject_item is not None


@pytest.mark.parametrize("summary", [
    "a,b",                      # vobject keeps "a" of it
    "a" * 66, "a" * 67,         # lines of 74 and 75 characters: vobject folds at 76 (ASCII)…
    "é" * 66, "é" * 67,         # …or at 75 octets once a line has 75 characters
    " a", "a\\b", "a\\nb", 'a"b', "a;b"])
def test_values_at_the_edge_of_plain_are_what_vobject_makes_of_them(summary):
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:20280101T010000Z\r\nSUMMARY:{summary}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    item = plain_item("rooms/r1", text)
    assert item is None or facts(item) == facts(radicale_item_of(text))
    split, = split_calendar(CONFIGURATION, PATH, text)
    assert facts(split) == facts(radicale_items(text)[0])
