"""Series that skip conflicts (issue 18): ``skipConflicts`` on POST /api/rooms/<ID>/bookings
and …/check stores a series without its taken occurrences (EXDATE) and says which, and the
short booking body takes JSCalendar's ``recurrenceRules`` — through a real server."""

import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import assert_no_500, new_room

ALICE, BOB, MANAGER = "sk-alice", "sk-bob", "sk-manager"
BERLIN = "Europe/Berlin"
# Six Mondays 10:00-11:00 in Berlin, across the change to summer time (2027-03-28).
MONDAYS = ["2027-03-01", "2027-03-08", "2027-03-15", "2027-03-22", "2027-03-29", "2027-04-05"]
SERIES = {"title": "Weekly", "start": "2027-03-01T10:00:00", "end": "2027-03-01T11:00:00",
          "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "weekly", "count": 6}]}
ICS_SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
              "DTSTAMP:20270101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20270301T100000\r\n"
              "DTEND;TZID=Europe/Berlin:20270301T110000\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\n"
              "SUMMARY:Weekly by iCalendar\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
EXPAND = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
          '<D:prop><C:calendar-data><C:expand start="20270101T000000Z" end="20280101T000000Z"/>'
          '</C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
          '<C:time-range start="20270101T000000Z" end="20280101T000000Z"/></C:comp-filter></C:comp-filter>'
          '</C:filter></C:calendar-query>')


@pytest.fixture(scope="module", autouse=True)
def world(server):
    for user in (ALICE, BOB, MANAGER):
        server.add_user(user)
    yield server
    assert_no_500(server)


def room(server, *options):
    return new_room(server, "sk", "--managers", MANAGER, *options, tz=BERLIN)


def post(server, room_id, body, user=ALICE, route="bookings", **kwargs):
    return server.request("POST", f"/api/rooms/{room_id}/{route}", user=user, json=body, **kwargs)


def take(server, room_id, day, start="10:30", end="11:30", user=BOB, **members):
    """Bob books one slot on ``day`` (local times in Berlin)."""
    taken = post(server, room_id, {"title": f"Bob {day}", "start": f"{day}T{start}:00",
                                   "end": f"{day}T{end}:00", **members}, user=user)
    assert taken.status_code == 201, taken.text
    return taken.json()


def hrefs(server, room_id):
    listing = server.request("GET", f"/api/rooms/{room_id}/bookings", user=MANAGER)
    assert listing.status_code == 200
    return sorted(b["href"] for b in listing.json()["bookings"])


def expanded_starts(server, room_id, uid):
    """The starts of the booking's occurrences as a CalDAV REPORT with <C:expand> lists them."""
    r = server.request("REPORT", f"/rooms/{room_id}/", user=ALICE, data=EXPAND,
                       headers={"Depth": "1", "Content-Type": "application/xml"})
    assert r.status_code == 207, r.text
    data = "".join(e.text or "" for e in ET.fromstring(r.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data"))
    blocks = [b.split("END:VEVENT")[0] for b in data.split("BEGIN:VEVENT")[1:]]
    blocks = [b for b in blocks if f"UID:{uid}" in b]
    return sorted(line.split(":", 1)[1].strip() for b in blocks for line in b.splitlines()
                  if line.startswith("DTSTART"))


def exdates(text):
    """The EXDATE values of an item (unfolded)."""
    lines = text.replace("\r\n ", "").splitlines()
    return [value for line in lines if line.startswith("EXDATE")
            for value in line.split(":", 1)[1].split(",")]


# -- the series ----------------------------------------------------------------------------------
def test_a_series_over_two_taken_weeks_skips_exactly_those(world):
    r = room(world)
    second = take(world, r, MONDAYS[1])
    fourth = take(world, r, MONDAYS[3], "09:30", "10:30")
    refused = post(world, r, SERIES)   # without the flag: refused as a whole, as before
    assert refused.status_code == 409 and refused.json()["type"] == "conflict"
    assert len(refused.json()["conflicts"]) == 2
    assert hrefs(world, r) == sorted([second["href"], fourth["href"]])

    booked = post(world, r, {**SERIES, "skipConflicts": True})
    assert booked.status_code == 201, booked.text
    answer = booked.json()
    assert {"href", "uid", "etag", "skipped"} == set(answer)
    assert answer["skipped"] == [
        {"start": "2027-03-08T10:00:00+01:00", "end": "2027-03-08T11:00:00+01:00",
         "conflict": refused.json()["conflicts"][0]},
        {"start": "2027-03-22T10:00:00+01:00", "end": "2027-03-22T11:00:00+01:00",
         "conflict": refused.json()["conflicts"][1]}]   # the same conflict objects as the 409's
    assert answer["skipped"][0]["conflict"] == {
        "href": second["href"], "uid": second["uid"], "title": "Bob 2027-03-08",
        "start": "2027-03-08T10:30:00+01:00", "end": "2027-03-08T11:30:00+01:00"}
    stored = world.request("GET", answer["href"], user=ALICE)
    assert stored.status_code == 200 and stored.headers["ETag"] == answer["etag"]
    assert exdates(stored.text) == ["20270308T100000", "20270322T100000"]
    assert "skipConflicts" not in stored.text and "X-JSCALENDAR" not in stored.text
    assert expanded_starts(world, r, answer["uid"]) == [
        "20270301T090000Z", "20270315T090000Z", "20270329T080000Z", "20270405T080000Z"]
    # The room is still free exactly where it was: the kept occurrences are now taken.
    again = post(world, r, {**SERIES, "skipConflicts": True}, user=BOB)
    assert again.status_code == 409


def test_every_occurrence_taken_is_still_409(world):
    r = room(world)
    for day in MONDAYS[:2]:
        take(world, r, day)
    before = hrefs(world, r)
    refused = post(world, r, {**SERIES, "recurrenceRules": [{"frequency": "weekly", "count": 2}],
                              "skipConflicts": True})
    assert refused.status_code == 409 and len(refused.json()["conflicts"]) == 2
    assert hrefs(world, r) == before


def test_rules_still_refuse_the_whole_series(world):
    """Only conflicts are skipped: a blackout in one week refuses the booking (422), nothing stored."""
    r = room(world, "--blackout", "2027-03-15/2027-03-15")
    take(world, r, MONDAYS[1])
    before = hrefs(world, r)
    refused = post(world, r, {**SERIES, "skipConflicts": True})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["type"] == "ruleViolation" and [v["rule"] for v in body["violations"]] == ["blackout"]
    assert body["conflicts"] == []   # the taken week was left out; the rule speaks alone
    assert hrefs(world, r) == before


def test_a_single_booking_with_the_flag_is_decided_as_before(world):
    r = room(world)
    take(world, r, MONDAYS[0])
    single = {"title": "One", "start": "2027-03-01T10:00:00", "end": "2027-03-01T11:00:00"}
    assert post(world, r, {**single, "skipConflicts": True}).status_code == 409
    free = post(world, r, {**single, "start": "2027-03-02T10:00:00", "end": "2027-03-02T11:00:00",
                           "skipConflicts": True})
    assert free.status_code == 201 and free.json()["skipped"] == []
    plain = post(world, r, {**single, "start": "2027-03-03T10:00:00", "end": "2027-03-03T11:00:00"})
    assert plain.status_code == 201 and "skipped" not in plain.json()


def test_an_icalendar_body_takes_the_flag_in_the_query(world):
    r = room(world)
    take(world, r, MONDAYS[2])
    uid = f"ics-{uuid.uuid4().hex[:8]}"
    headers = {"Content-Type": "text/calendar"}
    url = f"/api/rooms/{r}/bookings"
    refused = world.request("POST", url, user=ALICE, data=ICS_SERIES.format(uid=uid), headers=headers)
    assert refused.status_code == 409
    unreadable = world.request("POST", url + "?skipConflicts=maybe", user=ALICE,
                               data=ICS_SERIES.format(uid=uid), headers=headers)
    assert unreadable.status_code == 400 and "skipConflicts=true" in unreadable.json()["message"]
    booked = world.request("POST", url + "?skipConflicts=true", user=ALICE,
                           data=ICS_SERIES.format(uid=uid), headers=headers)
    assert booked.status_code == 201, booked.text
    skipped, = booked.json()["skipped"]
    assert skipped["start"] == "2027-03-15T10:00:00+01:00" and skipped["conflict"]["title"] == "Bob 2027-03-15"
    assert exdates(world.request("GET", booked.json()["href"], user=ALICE).text) == ["20270315T100000"]
    assert len(expanded_starts(world, r, uid)) == 5


def test_the_dry_run_says_what_would_be_stored_and_stores_nothing(world):
    r = room(world)
    take(world, r, MONDAYS[1])
    before = hrefs(world, r)
    plain = post(world, r, SERIES, route="check")
    assert plain.status_code == 200 and plain.json()["ok"] is False and len(plain.json()["conflicts"]) == 1
    assert "skipped" not in plain.json()
    check = post(world, r, {**SERIES, "skipConflicts": True}, route="check")
    assert check.status_code == 200, check.text
    verdict = check.json()
    assert verdict["ok"] is True and verdict["conflicts"] == [] and verdict["violations"] == []
    assert [s["start"] for s in verdict["skipped"]] == ["2027-03-08T10:00:00+01:00"]
    assert verdict["message"] == (f"The booking is allowed. 1 occurrence(s) are left out: Room {r} is "
                                  "taken then (2027-03-08 10:00).")
    assert verdict["skipped"][0]["conflict"] == plain.json()["conflicts"][0]
    query = world.request("POST", f"/api/rooms/{r}/check?skipConflicts=true", user=ALICE,
                          data=ICS_SERIES.format(uid="dry"), headers={"Content-Type": "text/calendar"})
    assert query.status_code == 200 and query.json()["ok"] is True and len(query.json()["skipped"]) == 1
    assert hrefs(world, r) == before


def test_a_private_conflict_is_busy_only_for_others(world):
    r = room(world)
    private = take(world, r, MONDAYS[1])
    world.request("DELETE", private["href"], user=BOB)
    event = {"@type": "Event", "title": "Secret", "privacy": "private", "start": "2027-03-08T10:30:00",
             "timeZone": BERLIN, "duration": "PT1H"}
    secret = post(world, r, event, user=BOB)
    assert secret.status_code == 201, secret.text
    check = post(world, r, {**SERIES, "skipConflicts": True}, route="check")
    assert check.json()["skipped"][0]["conflict"] == {"start": "2027-03-08T10:30:00+01:00",
                                                      "end": "2027-03-08T11:30:00+01:00"}
    # Its managers get what a 409 says (href and uid; no booking's private title, as there).
    managed = post(world, r, {**SERIES, "skipConflicts": True}, user=MANAGER, route="check")
    assert managed.json()["skipped"][0]["conflict"] == {
        "href": secret.json()["href"], "uid": secret.json()["uid"],
        "start": "2027-03-08T10:30:00+01:00", "end": "2027-03-08T11:30:00+01:00"}
    booked = post(world, r, {**SERIES, "skipConflicts": True})
    assert booked.status_code == 201
    conflict = booked.json()["skipped"][0]["conflict"]
    assert conflict == {"start": "2027-03-08T10:30:00+01:00", "end": "2027-03-08T11:30:00+01:00"}
    assert "Secret" not in booked.text and secret.json()["uid"] not in booked.text


def test_the_flag_must_be_a_boolean(world):
    r = room(world)
    for value in ("yes", 1, None, []):
        answer = post(world, r, {**SERIES, "skipConflicts": value})
        assert answer.status_code == 400, (value, answer.text)
        assert answer.json()["message"].startswith("skipConflicts must be true or false")
    check = post(world, r, {**SERIES, "skipConflicts": "true"}, route="check")
    assert check.status_code == 400
    both = world.request("POST", f"/api/rooms/{r}/bookings?skipConflicts=false", user=ALICE,
                         json={**SERIES, "skipConflicts": True})
    assert both.status_code == 400 and "send it once" in both.json()["message"]
    # Routes without the flag take the member for what it is: no member of a booking.
    seed = world.request("POST", f"/api/{r}/events/", user=ALICE, json={**SERIES, "skipConflicts": True})
    assert seed.status_code == 422 and "/skipConflicts" in seed.json()["properties"]
    assert hrefs(world, r) == []


def test_a_jscalendar_event_takes_the_flag_too_and_does_not_keep_it(world):
    r = room(world)
    take(world, r, MONDAYS[1])
    event = {"@type": "Event", "title": "Event series", "start": "2027-03-01T10:00:00", "timeZone": BERLIN,
             "duration": "PT1H", "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "weekly",
                                                       "count": 3}], "skipConflicts": True}
    booked = post(world, r, event)
    assert booked.status_code == 201, booked.text
    assert [s["start"] for s in booked.json()["skipped"]] == ["2027-03-08T10:00:00+01:00"]
    stored = world.request("GET", booked.json()["href"], user=ALICE).text
    assert "skipConflicts" not in stored and "X-JSCALENDAR" not in stored


# -- the short form's recurrence ------------------------------------------------------------------
def test_the_short_form_books_a_series_with_count_until_and_exclusions(world):
    r = room(world)
    counted = post(world, r, SERIES)
    assert counted.status_code == 201, counted.text
    text = world.request("GET", counted.json()["href"], user=ALICE).text
    assert "RRULE:FREQ=WEEKLY;COUNT=6" in text and "DTSTART;TZID=Europe/Berlin:20270301T100000" in text
    assert len(expanded_starts(world, r, counted.json()["uid"])) == 6
    until = post(world, r, {"title": "Until", "start": "2027-03-02T10:00:00", "end": "2027-03-02T11:00:00",
                            "recurrenceRules": [{"frequency": "weekly", "until": "2027-03-30T23:59:59",
                                                 "byDay": [{"@type": "NDay", "day": "tu"}]}],
                            "excludedRecurrenceDates": ["2027-03-16T10:00:00"]})
    assert until.status_code == 201, until.text
    text = world.request("GET", until.json()["href"], user=ALICE).text
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270330T215959Z;BYDAY=TU" in text   # until in the room's zone
    assert exdates(text) == ["20270316T100000"]
    assert expanded_starts(world, r, until.json()["uid"]) == [
        "20270302T090000Z", "20270309T090000Z", "20270323T090000Z", "20270330T080000Z"]
    read = world.request("GET", f"/api/rooms/{r}/bookings/{until.json()['uid']}", user=ALICE).json()
    assert read["recurrenceRules"][0]["frequency"] == "weekly"
    assert read["recurrenceOverrides"] == {"2027-03-16T10:00:00": {"excluded": True}}


@pytest.mark.parametrize("members, pointer, words", [
    ({"recurrenceRules": [{"frequency": "fortnightly"}]}, "/recurrenceRules/0/frequency",
     "must be one of yearly, monthly, weekly"),
    ({"recurrenceRules": [{"frequency": "weekly", "until": "soon"}]}, "/recurrenceRules/0/until",
     "must be a LocalDateTime"),
    ({"recurrenceRules": [{"frequency": "weekly", "until": "2027-02-01T00:00:00"}]},
     "/recurrenceRules/0/until", "must not be before start"),
    ({"recurrenceRules": [{"frequency": "weekly", "count": 0}]}, "/recurrenceRules/0/count",
     "must be an integer from 1"),
    ({"recurrenceRules": [{"frequency": "weekly", "count": 2, "until": "2027-04-01T00:00:00"}]},
     "/recurrenceRules/0/until", "count and until must not both be set"),
    ({"recurrenceRules": {"frequency": "weekly"}}, "/recurrenceRules", "must be a non-empty array"),
    ({"recurrenceRules": [{"frequency": "weekly", "byDay": [{"day": "monday"}]}]},
     "/recurrenceRules/0/byDay/0/day", "must be one of mo, tu"),
    ({"excludedRecurrenceDates": ["2027-03-08T10:00:00"]}, "/excludedRecurrenceDates",
     "needs recurrenceRules"),
    ({"recurrenceRules": [{"frequency": "weekly", "count": 3}], "excludedRecurrenceDates": ["2027-03-08"]},
     "/excludedRecurrenceDates/0", "as an ISO 8601 date-time"),
    ({"recurrenceRules": [{"frequency": "weekly", "count": 3}], "excludedRecurrenceDates": "2027-03-08T10:00:00"},
     "/excludedRecurrenceDates", "must be a list"),
])
def test_a_bad_recurrence_is_refused_with_a_sentence(world, members, pointer, words):
    r = room(world)
    body = {"title": "Bad", "start": "2027-03-01T10:00:00", "end": "2027-03-01T11:00:00", **members}
    for route in ("bookings", "check"):
        refused = post(world, r, body, route=route)
        assert refused.status_code == 422, (route, refused.text)
        answer = refused.json()
        assert answer["type"] == "invalidProperties" and pointer in answer["properties"], answer
        assert words in answer["message"] and answer["message"].startswith("This booking is not valid: ")
    assert hrefs(world, r) == []
