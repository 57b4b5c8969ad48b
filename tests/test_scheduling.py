"""Rooms invited to meetings (RFC 6638 implicit scheduling), through the real server.

The organizer writes the meeting into their own calendar with the room among its
attendees; the room's copy is admitted by the booking core in the same request, and
the organizer's copy carries the room's answer (PARTSTAT, SCHEDULE-STATUS, COMMENT).
"""

import concurrent.futures
import multiprocessing
import threading
import uuid

import caldav
import icalendar
import pytest
import requests

from conftest import book, new_room

MONDAY = "20271206"   # a Monday


def meeting(uid, start, end, organizer, *attendees, extra="", summary="Planning"):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//roomcal tests//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20261201T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
             f"SUMMARY:{summary}", f"ORGANIZER;CN=Organizer:mailto:{organizer}"]
    lines += [f"ATTENDEE;CN=Organizer;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{organizer}"]
    for attendee in attendees:
        lines.append(f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{attendee}")
    lines += [line for line in extra.strip().splitlines() if line.strip()]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


@pytest.fixture(scope="module")
def people(server):
    for name in ("sched-ann", "sched-bob"):
        server.add_user(name, email=f"{name}@example.org")
        assert server.request("MKCALENDAR", f"/{name}/calendar/", user=name).status_code == 201
    return "sched-ann", "sched-bob"


def room_address(room_id):
    return f"{room_id}@rooms.localhost"


def put_meeting(server, user, uid, body):
    return server.put_ics(f"/{user}/calendar/{uid}.ics", body, user=user)


def organizer_copy(server, user, uid):
    answer = server.request("GET", f"/{user}/calendar/{uid}.ics", user=user)
    assert answer.status_code == 200, answer.text
    return icalendar.Calendar.from_ical(answer.text)


def room_partstats(calendar, room_id):
    """{RECURRENCE-ID or None: PARTSTAT} of the room's ATTENDEE in each VEVENT."""
    found = {}
    for event in calendar.walk("VEVENT"):
        attendees = event.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees]
        for attendee in attendees:
            if str(attendee).lower() == f"mailto:{room_address(room_id)}":
                rid = event["RECURRENCE-ID"].dt if "RECURRENCE-ID" in event else None
                found[rid] = (str(attendee.params.get("PARTSTAT")), str(attendee.params.get("SCHEDULE-STATUS")))
    return found


def room_uids(server, room_id, user):
    answer = server.request("GET", f"/rooms/{room_id}/", user=user)
    assert answer.status_code == 200
    return [str(e["UID"]) for e in icalendar.Calendar.from_ical(answer.text).walk("VEVENT")
            if "RECURRENCE-ID" not in e]


def test_an_invited_free_room_accepts_and_holds_the_meeting(server, people):
    ann, _ = people
    room = new_room(server, "sched-free")
    uid = str(uuid.uuid4())
    answer = put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                                   f"{ann}@example.org", room_address(room)))
    assert answer.status_code == 201, answer.text
    assert "ETag" not in answer.headers   # the server changed the stored copy: clients refetch
    assert room_partstats(organizer_copy(server, ann, uid), room) == {None: ("ACCEPTED", "1.2")}
    assert room_uids(server, room, ann) == [uid]
    held = server.request("GET", f"/rooms/{room}/{uid}.ics", user=ann).text
    assert f"ORGANIZER;CN=Organizer:mailto:{ann}@example.org" in held.replace("\r\n ", "")
    assert "ATTENDEE" in held and "ATTENDEE;CN=Organizer" not in held   # the room only


def test_a_taken_room_declines_with_the_reason_and_the_organizer_write_succeeds(server, people):
    ann, bob = people
    room = new_room(server, "sched-taken")
    assert book(server, room, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", bob, summary="Board").status_code == 201
    uid = str(uuid.uuid4())
    answer = put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T093000Z", f"{MONDAY}T103000Z",
                                                   f"{ann}@example.org", room_address(room)))
    assert answer.status_code == 201, answer.text
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, room) == {None: ("DECLINED", "1.2")}
    comment = str(copy.walk("VEVENT")[0]["COMMENT"])
    assert "already booked" in comment and "Board" in comment
    assert uid not in room_uids(server, room, ann)


def test_moving_the_meeting_redecides_and_removing_the_room_releases_it(server, people):
    ann, bob = people
    room = new_room(server, "sched-move")
    book(server, room, f"{MONDAY}T140000Z", f"{MONDAY}T150000Z", bob)
    uid = str(uuid.uuid4())
    organizer = f"{ann}@example.org"
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", organizer,
                                          room_address(room)))
    assert uid in room_uids(server, room, ann)
    # into the other booking: declined, and the old time is given back
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T143000Z", f"{MONDAY}T153000Z", organizer,
                                          room_address(room)))
    assert room_partstats(organizer_copy(server, ann, uid), room)[None][0] == "DECLINED"
    assert uid not in room_uids(server, room, ann)
    # to a free time again: accepted
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", organizer,
                                          room_address(room)))
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, room)[None][0] == "ACCEPTED"
    assert "COMMENT" not in copy.walk("VEVENT")[0]
    assert uid in room_uids(server, room, ann)
    # the room taken off the invitation: its copy goes
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", organizer))
    assert uid not in room_uids(server, room, ann)


def test_deleting_the_meeting_frees_the_room(server, people):
    ann, bob = people
    room = new_room(server, "sched-delete")
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room)))
    assert server.request("DELETE", f"/{ann}/calendar/{uid}.ics", user=ann).status_code in (200, 204)
    assert room_uids(server, room, ann) == []
    assert book(server, room, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", bob).status_code == 201


def test_a_series_declines_only_its_conflicting_week(server, people):
    ann, bob = people
    room = new_room(server, "sched-series")
    book(server, room, "20271213T090000Z", "20271213T100000Z", bob, name="audit.ics", summary="Audit")  # week 2
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room),
                                          extra="RRULE:FREQ=WEEKLY;COUNT=4"))
    copy = organizer_copy(server, ann, uid)
    stats = room_partstats(copy, room)
    assert stats[None][0] == "ACCEPTED"
    declined = [rid for rid, (partstat, _) in stats.items() if rid is not None and partstat == "DECLINED"]
    assert [d.strftime("%Y%m%d") for d in declined] == ["20271213"]
    master = next(e for e in copy.walk("VEVENT") if "RECURRENCE-ID" not in e)
    assert "declined 1 occurrence" in str(master["COMMENT"]) and "Audit" in str(master["COMMENT"])
    # the room holds the three other weeks
    held = server.request("GET", f"/rooms/{room}/{uid}.ics", user=ann)
    assert held.status_code == 200 and "EXDATE" in held.text
    # the conflict gone, the next write of the meeting takes the week back
    assert server.request("DELETE", f"/rooms/{room}/audit.ics", user=bob).status_code in (200, 204)
    put_meeting(server, ann, uid, organizer_copy(server, ann, uid).to_ical().decode())
    stats = room_partstats(organizer_copy(server, ann, uid), room)
    assert stats == {None: ("ACCEPTED", "1.2")}


def test_an_approval_room_answers_tentative_until_a_manager_approves(server, people):
    ann, _ = people
    server.add_user("sched-boss", email="boss@example.org") if "sched-boss" not in server.passwords else None
    room = new_room(server, "sched-approve", "--approval", "--managers", "sched-boss")
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room)))
    assert room_partstats(organizer_copy(server, ann, uid), room)[None][0] == "TENTATIVE"
    held = server.request("GET", f"/rooms/{room}/{uid}.ics", user="sched-boss")
    assert "STATUS:TENTATIVE" in held.text
    approved = held.text.replace("STATUS:TENTATIVE", "STATUS:CONFIRMED")
    assert server.put_ics(f"/rooms/{room}/{uid}.ics", approved, user="sched-boss").status_code in (201, 204)
    assert room_partstats(organizer_copy(server, ann, uid), room)[None][0] == "ACCEPTED"
    # a manager's cancellation reaches the organizer as a decline
    cancelled = server.request("GET", f"/rooms/{room}/{uid}.ics", user="sched-boss").text.replace(
        "STATUS:CONFIRMED", "STATUS:CANCELLED")
    server.put_ics(f"/rooms/{room}/{uid}.ics", cancelled, user="sched-boss")
    assert room_partstats(organizer_copy(server, ann, uid), room)[None][0] == "DECLINED"


def test_schedule_agent_client_is_left_to_the_client(server, people):
    ann, _ = people
    room = new_room(server, "sched-client")
    uid = str(uuid.uuid4())
    body = meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", f"{ann}@example.org",
                   room_address(room)).replace("ATTENDEE;CUTYPE=ROOM;", "ATTENDEE;CUTYPE=ROOM;SCHEDULE-AGENT=CLIENT;")
    answer = put_meeting(server, ann, uid, body)
    assert answer.status_code == 201 and "ETag" in answer.headers
    assert room_uids(server, room, ann) == []


def _race(url, user, password, path, body, queue):
    answer = requests.put(url + path, data=body.encode(), auth=(user, password), timeout=60,
                          headers={"Content-Type": "text/calendar; charset=utf-8"})
    queue.put(answer.status_code)


def test_two_organizers_racing_for_one_room_from_two_processes_get_one_room(make_server):
    server = make_server(workers=2)
    for name in ("race-a", "race-b"):
        server.add_user(name, email=f"{name}@example.org")
        assert server.request("MKCALENDAR", f"/{name}/calendar/", user=name).status_code == 201
    room = new_room(server, "race")
    uids = {name: str(uuid.uuid4()) for name in ("race-a", "race-b")}
    queue = multiprocessing.get_context("spawn").Queue()
    runners = [multiprocessing.get_context("spawn").Process(
        target=_race, args=(server.url, name, server.passwords[name], f"/{name}/calendar/{uids[name]}.ics",
                            meeting(uids[name], f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                    f"{name}@example.org", room_address(room)), queue))
        for name in uids]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(60)
    assert sorted(queue.get(timeout=5) for _ in runners) == [201, 201]
    answers = [room_partstats(organizer_copy(server, name, uids[name]), room)[None][0] for name in uids]
    assert sorted(answers) == ["ACCEPTED", "DECLINED"]
    assert len(room_uids(server, room, "race-a")) == 1


def test_meetings_inviting_the_same_rooms_in_opposite_orders_all_get_them(server, people):
    """Each room's write lock (PostgreSQL: an advisory lock per room) is taken in one order
    whatever the order of the attendees: two meetings that invite rooms A, B and B, A at the
    same moment wait for each other instead of deadlocking (one of them a 503)."""
    ann, bob = people
    first, second = new_room(server, "sched-order"), new_room(server, "sched-order")
    sent = []
    for n in range(8):   # each organizer's meetings at times of its own: every room accepts
        for user, rooms, hour in ((ann, (first, second), 8), (bob, (second, first), 14)):
            uid = str(uuid.uuid4())
            day = f"202801{n + 10:02d}"
            sent.append((user, uid, rooms, meeting(uid, f"{day}T{hour:02d}0000Z", f"{day}T{hour + 1:02d}0000Z",
                                                   f"{user}@example.org", *map(room_address, rooms))))
    assert all_at_once(server, sent) == [201] * len(sent)
    for user, uid, rooms, _ in sent:
        copy = organizer_copy(server, user, uid)
        assert [room_partstats(copy, room)[None][0] for room in rooms] == ["ACCEPTED", "ACCEPTED"]
    # and all deleted at once: each releases both rooms
    assert all_at_once(server, sent, method="DELETE") == [200] * len(sent)
    assert room_uids(server, first, ann) == room_uids(server, second, ann) == []


def test_two_people_inviting_each_other_at_the_same_moment_both_get_their_meetings(server, people):
    """Each meeting writes the other's calendar and then the organizer's own: the people's
    calendars are locked first too, in one order, or the two would wait for each other."""
    ann, bob = people
    sent = []
    for n in range(8):
        for user, other, hour in ((ann, bob, 8), (bob, ann, 14)):
            uid, day = str(uuid.uuid4()), f"202802{n + 10:02d}"
            body = meeting(uid, f"{day}T{hour:02d}0000Z", f"{day}T{hour + 1:02d}0000Z", f"{user}@example.org")
            body = body.replace("END:VEVENT", f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{other}@example.org"
                                              "\r\nEND:VEVENT")
            sent.append((user, uid, other, body))
    assert all_at_once(server, sent) == [201] * len(sent)
    for user, uid, other, _ in sent:
        assert server.request("GET", f"/{other}/calendar/{uid}.ics", user=other).status_code == 200


def test_an_answer_and_the_organizers_change_at_the_same_moment_both_go_through(server, people):
    """An attendee's answer writes the organizer's copy, then their own; the organizer's
    change writes the attendee's copy, then their own: locked first, in one order."""
    ann, bob = people
    meetings = []
    for n in range(8):
        uid, day = str(uuid.uuid4()), f"202803{n + 10:02d}"
        body = meeting(uid, f"{day}T080000Z", f"{day}T090000Z", f"{ann}@example.org").replace(
            "END:VEVENT", f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{bob}@example.org\r\nEND:VEVENT")
        assert put_meeting(server, ann, uid, body).status_code == 201
        copy = server.request("GET", f"/{bob}/calendar/{uid}.ics", user=bob)
        assert copy.status_code == 200
        accepted = copy.text.replace(f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{bob}",
                                     f"PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:{bob}")
        assert accepted != copy.text
        meetings += [(ann, uid, None, body.replace("SUMMARY:Planning", "SUMMARY:Planning, moved")),
                     (bob, uid, None, accepted)]
    assert all_at_once(server, meetings) == [204] * len(meetings)


def all_at_once(server, sent, method="PUT"):
    """The statuses of PUTting (or DELETEing) each (user, uid, _, body) of ``sent`` at the
    same moment."""
    barrier = threading.Barrier(len(sent))

    def send(user, uid, _, body):
        barrier.wait(30)
        if method == "DELETE":
            return server.request("DELETE", f"/{user}/calendar/{uid}.ics", user=user).status_code
        return put_meeting(server, user, uid, body).status_code

    with concurrent.futures.ThreadPoolExecutor(len(sent)) as pool:
        return list(pool.map(lambda args: send(*args), sent))


def test_a_removed_room_declines_in_the_organizers_copy(server, people):
    ann, _ = people
    first, second = new_room(server, "sched-cleared"), new_room(server, "sched-removed")
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(first), room_address(second)))
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, first)[None][0] == room_partstats(copy, second)[None][0] == "ACCEPTED"
    server.cli("room", "remove", second, "--force")
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, second)[None][0] == "DECLINED"
    assert room_partstats(copy, first)[None][0] == "ACCEPTED"


def test_a_room_that_may_not_be_booked_by_the_organizer_declines_and_says_why(server, people):
    ann, _ = people
    room = new_room(server, "sched-reserved", "--bookers", "sched-bob")
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room)))
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, room)[None][0] == "DECLINED"
    assert "reserved for sched-bob" in str(copy.walk("VEVENT")[0]["COMMENT"])


def test_without_scheduling_a_meeting_is_only_stored(make_server):
    server = make_server(start=False)
    server.configure(("[scheduling]\nenabled = true", "[scheduling]\nenabled = false"))
    server.start()
    server.add_user("plain-ann", email="plain-ann@example.org")
    server.request("MKCALENDAR", "/plain-ann/calendar/", user="plain-ann")
    room = new_room(server, "plain")
    uid = str(uuid.uuid4())
    answer = put_meeting(server, "plain-ann", uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                                           "plain-ann@example.org", room_address(room)))
    assert answer.status_code == 201 and "ETag" in answer.headers
    assert room_uids(server, room, "plain-ann") == []
    assert room_partstats(organizer_copy(server, "plain-ann", uid), room)[None] == ("NEEDS-ACTION", "None")


def test_schedule_tag_survives_answers_and_guards_the_organizers_saves(server, people):
    ann, _ = people
    room = new_room(server, "sched-tag", "--approval", "--managers", "sched-bob")
    uid = str(uuid.uuid4())
    body = meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", f"{ann}@example.org", room_address(room))
    put = put_meeting(server, ann, uid, body)
    tag = put.headers["Schedule-Tag"]
    got = server.request("GET", f"/{ann}/calendar/{uid}.ics", user=ann)
    assert got.headers["Schedule-Tag"] == tag
    # the room's manager approves: the organizer's copy changes (PARTSTAT), its tag does not
    held = server.request("GET", f"/rooms/{room}/{uid}.ics", user="sched-bob").text
    server.put_ics(f"/rooms/{room}/{uid}.ics", held.replace("STATUS:TENTATIVE", "STATUS:CONFIRMED"),
                   user="sched-bob")
    after = server.request("GET", f"/{ann}/calendar/{uid}.ics", user=ann)
    assert after.headers["ETag"] != got.headers["ETag"] and after.headers["Schedule-Tag"] == tag
    # so a save with the tag read before the approval goes through …
    moved = after.text.replace(f"{MONDAY}T090000Z", f"{MONDAY}T080000Z")
    answer = server.put_ics(f"/{ann}/calendar/{uid}.ics", moved, user=ann, **{"If-Schedule-Tag-Match": tag})
    assert answer.status_code == 204, answer.text
    assert answer.headers["Schedule-Tag"] != tag
    # … and one with a tag from before the organizer's own change is refused
    stale = server.put_ics(f"/{ann}/calendar/{uid}.ics", body, user=ann, **{"If-Schedule-Tag-Match": tag})
    assert stale.status_code == 412 and "Schedule-Tag" in stale.text


def test_a_series_declines_a_blacked_out_week_and_holds_the_others(server, people):
    ann, _ = people
    room = new_room(server, "sched-blackout", "--blackout", "2027-12-20/2027-12-20")
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room),
                                          extra="RRULE:FREQ=WEEKLY;COUNT=3"))
    copy = organizer_copy(server, ann, uid)
    stats = room_partstats(copy, room)
    assert stats[None][0] == "ACCEPTED"
    assert [rid.strftime("%Y%m%d") for rid, (p, _) in stats.items() if rid and p == "DECLINED"] == ["20271220"]
    master = next(e for e in copy.walk("VEVENT") if "RECURRENCE-ID" not in e)
    assert "blackout" in str(master["COMMENT"]).lower() or "closed" in str(master["COMMENT"]).lower()
    held = server.request("GET", f"/rooms/{room}/{uid}.ics", user=ann).text
    assert "EXDATE" in held and "20271220T090000Z" in held


def test_a_series_the_room_cannot_take_at_all_is_declined_whole(server, people):
    ann, _ = people
    room = new_room(server, "sched-norec", "--no-recurring")
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room),
                                          extra="RRULE:FREQ=WEEKLY;COUNT=3"))
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, room) == {None: ("DECLINED", "1.2")}
    assert "recurring" in str(copy.walk("VEVENT")[0]["COMMENT"]).lower()


def test_python_caldav_invites_a_room_and_reads_its_answer(server, people):
    ann, _ = people
    room = new_room(server, "sched-pycaldav")
    client = caldav.DAVClient(url=server.url, username=ann, password=server.passwords[ann])
    principal = client.principal()
    assert f"mailto:{ann}@example.org" in [str(a) for a in principal.calendar_user_address_set()]
    calendar = principal.calendar(cal_url=f"/{ann}/calendar/")
    uid = str(uuid.uuid4())
    calendar.save_event(meeting(uid, f"{MONDAY}T160000Z", f"{MONDAY}T170000Z", f"{ann}@example.org",
                                room_address(room)))
    stored = calendar.event_by_uid(uid)
    stored.load()
    assert room_partstats(icalendar.Calendar.from_ical(stored.data), room)[None][0] == "ACCEPTED"
    assert uid in room_uids(server, room, ann)


def test_a_replaced_period_declines_the_meetings_it_took_away(server, people):
    ann, bob = people
    room = new_room(server, "sched-replace", "--managers", bob)
    uid = str(uuid.uuid4())
    put_meeting(server, ann, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                                          f"{ann}@example.org", room_address(room)))
    assert room_partstats(organizer_copy(server, ann, uid), room)[None][0] == "ACCEPTED"
    answer = server.request("POST", f"/api/rooms/{room}/bookings/replace", user=bob, json={
        "period": {"start": "2027-12-06T00:00:00Z", "end": "2027-12-07T00:00:00Z"},
        "bookings": [{"title": "Exams", "start": "2027-12-06T08:00:00Z", "end": "2027-12-06T12:00:00Z"}]})
    assert answer.status_code == 200, answer.text
    copy = organizer_copy(server, ann, uid)
    assert room_partstats(copy, room)[None][0] == "DECLINED"
    assert "cancelled" in str(copy.walk("VEVENT")[0]["COMMENT"])
