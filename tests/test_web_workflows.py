"""Issue 18's workflows on the web pages: check in from /my (and whether it was, on /manage),
and a weekly series booked from a room's form that skips its taken weeks.  One real server,
raw HTTP with the session cookie, one Chromium test for the click; what the pages did is
checked over /api and CalDAV.  Times are in the rooms' zone, Europe/Berlin."""

import datetime
import re
import uuid
import zoneinfo

import pytest

from conftest import assert_no_500, event
from support.browser import screenshot, sign_in
from test_web_signin import CSRF, _sign_in

ALICE, BOB, MGR = "wf-alice", "wf-bob", "wf-mgr"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# A weekly series on five Mondays (2027-05-03 .. 05-31), 10:00-11:00 in Berlin.
FIRST, UNTIL = "2027-05-03", "2027-05-31"


@pytest.fixture(scope="module")
def site(server):
    for user in (ALICE, BOB, MGR):
        server.add_user(user)
    yield server
    assert_no_500(server)


def check_in_room(site, *options) -> str:
    room_id = f"wf-{uuid.uuid4().hex[:8]}"
    site.add_room(room_id, "--timezone", "Europe/Berlin", "--managers", MGR, *options, name=f"Room {room_id}")
    return room_id


def minutes_from_now(minutes: int) -> datetime.datetime:
    return (datetime.datetime.now(BERLIN) + datetime.timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def create(site, room_id, title, start: datetime.datetime, end: datetime.datetime, user=ALICE) -> str:
    answer = site.request("POST", f"/api/rooms/{room_id}/bookings", user=user, json={
        "title": title, "start": start.strftime("%Y-%m-%dT%H:%M"), "end": end.strftime("%Y-%m-%dT%H:%M")})
    assert answer.status_code == 201, answer.text
    return answer.json()["uid"]


def booking_over_api(site, room_id, uid, user=ALICE) -> dict:
    answer = site.request("GET", f"/api/rooms/{room_id}/bookings/{uid}", user=user)
    assert answer.status_code == 200, answer.text
    return answer.json()["roomcal"]


def item_of(html: str, title: str) -> str:
    """The <li> of the booking titled ``title`` on /my."""
    item = html[html.index(f"<h3>{title}</h3>"):]
    return item[:item.index("</li>")]


def clock(moment: datetime.datetime) -> str:
    """A moment as the pages say it: 09:45, with the date when it is not today (in Berlin)."""
    moment = moment.astimezone(BERLIN)
    today = datetime.datetime.now(BERLIN).date()
    return moment.strftime("%H:%M" if moment.date() == today else "%Y-%m-%d %H:%M")


# -- check in from /my ------------------------------------------------------------------------
def test_check_in_from_my_inside_the_window(site, page, tmp_path):
    room_id = check_in_room(site, "--check-in", "PT30M")
    start = minutes_from_now(5)
    uid = create(site, room_id, "Design crit", start, start + datetime.timedelta(hours=1))
    assert booking_over_api(site, room_id, uid)["checkedIn"] is False
    sign_in(page, site, ALICE)
    page.goto(site.url + "/my")
    item = page.locator("li.booking").filter(has=page.get_by_role("heading", name="Design crit"))
    button = item.get_by_role("button", name="Check in")
    assert button.is_visible()
    deadline = start + datetime.timedelta(minutes=30)
    assert f"Check in by {clock(deadline)} (Europe/Berlin), or the booking is released." in item.inner_text()
    screenshot(page, tmp_path, "my-check-in")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, tmp_path, "my-check-in-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 800})
    with page.expect_navigation() as navigation:
        button.click()
    assert navigation.value.status == 200 and "/my?done=checked-in" in page.url
    assert page.get_by_role("status").filter(has_text="Checked in: the room stays yours.").is_visible()
    assert re.search(r"Checked in at \d\d:\d\d\.", item.inner_text())
    assert item.get_by_role("button", name="Check in").count() == 0
    screenshot(page, tmp_path, "my-checked-in")
    assert booking_over_api(site, room_id, uid)["checkedIn"] is True
    # Checked in elsewhere (the API) while the page showed the button: its click says so.
    other_room = check_in_room(site, "--check-in", "PT30M")
    other = create(site, other_room, "Team lunch", start, start + datetime.timedelta(hours=1))
    page.reload()
    assert site.request("POST", f"/api/rooms/{other_room}/bookings/{other}/check-in", user=ALICE).status_code == 200
    lunch = page.locator("li.booking").filter(has=page.get_by_role("heading", name="Team lunch"))
    with page.expect_navigation() as navigation:
        lunch.get_by_role("button", name="Check in").click()
    assert navigation.value.status == 409
    assert lunch.get_by_role("alert").inner_text().startswith("This booking was checked in already, at")
    assert re.search(r"Checked in at \d\d:\d\d\.", lunch.inner_text())
    screenshot(page, tmp_path, "my-check-in-refused")
    # The same form again (a second tab): the core's sentence next to the booking, 409.
    session, _ = _sign_in(site, ALICE)
    token = CSRF.search(session.get(site.url + "/my", timeout=30).text).group(1)
    again = session.post(site.url + "/my/check-in", data={
        "csrf": token, "room": room_id, "uid": uid, "occurrence": start.isoformat()},
        allow_redirects=False, timeout=30)
    assert again.status_code == 409
    assert "This booking was checked in already, at" in item_of(again.text, "Design crit")
    assert again.text.count('class="refusal"') == 1


def test_outside_the_window_there_is_no_button_but_a_sentence(site):
    room_id = check_in_room(site, "--check-in", "PT30M")
    tomorrow = (datetime.datetime.now(BERLIN) + datetime.timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0)
    later = create(site, room_id, "Tomorrow's talk", tomorrow, tomorrow + datetime.timedelta(hours=1))
    begun = minutes_from_now(-60)   # under way, its window closed 30 min ago (too long ago to release)
    stamp = "%Y%m%dT%H%M%S"
    site.put_ics(f"/rooms/{room_id}/wf-begun.ics", event(
        begun.strftime(stamp), (begun + datetime.timedelta(hours=2)).strftime(stamp), uid="wf-begun",
        summary="Long workshop", tz="Europe/Berlin"), user=ALICE)
    plain = check_in_room(site)   # no check-in rule: nothing about it
    create(site, plain, "No rule here", tomorrow, tomorrow + datetime.timedelta(hours=1))
    session, _ = _sign_in(site, ALICE)
    html = session.get(site.url + "/my", timeout=30).text
    day = tomorrow.strftime("%Y-%m-%d")
    talk = item_of(html, "Tomorrow&#39;s talk")
    assert ">Check in</button>" not in talk
    assert (f"Check-in for this booking opens at {day} 09:45 (Europe/Berlin), 15 min before it starts. "
            f"Check in by {day} 10:30 (Europe/Berlin), or the booking is released.") in talk
    workshop = item_of(html, "Long workshop")
    closed = clock(begun + datetime.timedelta(minutes=30))
    assert ">Check in</button>" not in workshop
    assert f"Check-in for this booking closed at {closed} (Europe/Berlin), 30 min after it started." in workshop
    assert "Check-in" not in item_of(html, "No rule here") and "Check in" not in item_of(html, "No rule here")
    # A form sent anyway: the core refuses with its sentence, next to that booking.
    token = CSRF.search(html).group(1)
    early = session.post(site.url + "/my/check-in", data={
        "csrf": token, "room": room_id, "uid": later, "occurrence": tomorrow.isoformat()},
        allow_redirects=False, timeout=30)
    assert early.status_code == 409
    assert 'role="alert"' in item_of(early.text, "Tomorrow&#39;s talk")
    assert f"Check-in for this booking opens at {day} 09:45" in item_of(early.text, "Tomorrow&#39;s talk")
    assert booking_over_api(site, room_id, later)["checkedIn"] is False
    # Bob may not check in Alice's booking from his page either; no room: a sentence on top.
    bob, _ = _sign_in(site, BOB)
    bob_token = CSRF.search(bob.get(site.url + "/my", timeout=30).text).group(1)
    refused = bob.post(site.url + "/my/check-in", data={"csrf": bob_token, "room": room_id, "uid": later},
                       allow_redirects=False, timeout=30)
    assert refused.status_code == 403 and refused.text.count('class="refusal"') == 1
    gone = bob.post(site.url + "/my/check-in", data={"csrf": bob_token, "room": "wf-nowhere", "uid": "x"},
                    allow_redirects=False, timeout=30)
    assert gone.status_code == 404 and "There is no room" in gone.text


def test_the_listed_occurrence_of_a_series_is_the_one_checked_in(site):
    room_id = check_in_room(site, "--check-in", "PT30M")
    start = minutes_from_now(5)
    stamp = "%Y%m%dT%H%M%S"
    site.put_ics(f"/rooms/{room_id}/wf-daily.ics", event(
        start.strftime(stamp), (start + datetime.timedelta(minutes=30)).strftime(stamp), uid="wf-daily",
        summary="Daily standup", tz="Europe/Berlin", extra="RRULE:FREQ=DAILY;COUNT=3"), user=ALICE)
    session, _ = _sign_in(site, ALICE)
    html = session.get(site.url + "/my", timeout=30).text
    standup = item_of(html, "Daily standup")
    occurrence = re.search(r'name="occurrence" value="([^"]+)"', standup).group(1)
    assert occurrence == start.isoformat()
    done = session.post(site.url + "/my/check-in", data={
        "csrf": CSRF.search(html).group(1), "room": room_id, "uid": "wf-daily", "occurrence": occurrence},
        allow_redirects=False, timeout=30)
    assert done.status_code == 303 and done.headers["Location"] == "/my?done=checked-in"
    utc = start.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stored = site.request("GET", f"/rooms/{room_id}/wf-daily.ics", user=ALICE).text.replace("\r\n ", "")
    assert stored.count("X-ROOMCAL-CHECKED-IN") == 1 and f"X-ROOMCAL-START={utc}:" in stored
    assert "Checked in at" in item_of(session.get(site.url + "/my", timeout=30).text, "Daily standup")


def test_manage_shows_whether_todays_bookings_are_checked_in(site, page, tmp_path):
    checked, waiting = check_in_room(site, "--check-in", "PT30M"), check_in_room(site, "--check-in", "PT30M")
    plain = check_in_room(site)
    start = minutes_from_now(-5)   # under way: today, whatever the hour
    done = create(site, checked, "Checked in one", start, start + datetime.timedelta(minutes=50))
    assert site.request("POST", f"/api/rooms/{checked}/bookings/{done}/check-in", user=ALICE).status_code == 200
    create(site, waiting, "Not yet one", start, start + datetime.timedelta(minutes=50))
    create(site, plain, "No rule one", start, start + datetime.timedelta(minutes=50))
    session, _ = _sign_in(site, MGR)
    html = session.get(site.url + "/manage", timeout=30).text

    def table(room_id):
        section = html[html.index(f'id="today-{room_id}"'):]
        return section[:section.index("</section>")]
    assert re.search(r'<span class="check-in-state">Checked in at \d\d:\d\d</span>', table(checked))
    deadline = clock(start + datetime.timedelta(minutes=30))
    assert f'<span class="check-in-state">Not checked in yet (by {deadline})</span>' in table(waiting)
    assert "check-in-state" not in table(plain)
    # The extra column still fits a phone.
    sign_in(page, site, MGR)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site.url + "/manage")
    assert page.locator(f'[id="today-{checked}"]').is_visible()
    screenshot(page, tmp_path, "manage-check-in-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


# -- skip taken weeks on the booking form ------------------------------------------------------
def _book_form(session, site, room_id, **fields):
    token = CSRF.search(session.get(f"{site.url}/board/rooms/{room_id}?week={FIRST}", timeout=30).text).group(1)
    return session.post(f"{site.url}/board/rooms/{room_id}/book", data={"csrf": token, **fields},
                        allow_redirects=False, timeout=30)


def _series(title, **extra):
    return {"title": title, "start": f"{FIRST}T10:00", "end": f"{FIRST}T11:00", "until": UNTIL, **extra}


def test_a_series_from_the_form_skips_its_two_taken_weeks(site, page, tmp_path):
    room_id = check_in_room(site)
    taken = site.request("POST", f"/api/rooms/{room_id}/bookings", user=BOB, json={
        "title": "Bob's review", "start": "2027-05-10T10:30", "end": "2027-05-10T11:30"})
    assert taken.status_code == 201, taken.text
    private = site.put_ics(f"/rooms/{room_id}/wf-private.ics", event(
        "20270524T090000", "20270524T103000", uid="wf-private", summary="Secret interview",
        tz="Europe/Berlin", extra="CLASS:PRIVATE"), user=BOB)
    assert private.status_code == 201, private.text
    session, _ = _sign_in(site, ALICE)
    # Without the checkbox: the whole series is refused, the conflict said as today.
    refused = _book_form(session, site, room_id, **_series("Weekly planning"))
    assert refused.status_code == 409
    assert "is already booked: “Bob&#39;s review” from" in refused.text
    assert 'name="skip" value="1" aria-describedby="skip-hint">' in refused.text   # unticked, kept as it was
    assert "Weekly planning" not in site.request("GET", f"/rooms/{room_id}/", user=ALICE).text
    # With it: booked without the two taken weeks, and the notice says which and by what.
    answer = _book_form(session, site, room_id, **_series("Weekly planning", skip="1"))
    assert answer.status_code == 303, answer.text
    uid = re.search(r"booked=([^&#]+)", answer.headers["Location"]).group(1)
    notice = session.get(site.url + answer.headers["Location"], timeout=30).text
    assert "Booked: “Weekly planning”, Monday 3 May 2027, 10:00–11:00, every week." in notice
    assert "2 of 5 weeks were taken and left out:" in notice
    assert "<li>Monday 10 May 2027, 10:00–11:00: taken by “Bob&#39;s review”</li>" in notice
    # A private booking's title is not Alice's to see.
    assert "<li>Monday 24 May 2027, 10:00–11:00: taken by another booking</li>" in notice
    assert "Secret interview" not in notice
    # The stored item is the truth: two EXDATEs, over CalDAV.
    href = booking_over_api(site, room_id, uid)["href"]
    stored = site.request("GET", href, user=ALICE).text.replace("\r\n ", "")
    exdates = re.findall(r"^EXDATE[^:]*:(.*?)\r?$", stored, re.MULTILINE)
    assert sorted(exdates) == ["20270510T100000", "20270524T100000"], stored
    # In the browser: the notice as people see it.
    sign_in(page, site, ALICE)
    page.goto(site.url + answer.headers["Location"])
    left_out = page.get_by_role("status").filter(has_text="weeks were taken")
    assert left_out.is_visible()
    assert page.get_by_label("Skip weeks that are taken").is_visible()
    left_out.scroll_into_view_if_needed()
    screenshot(page, tmp_path, "skipped-notice")


def test_skipping_cannot_book_a_series_whose_every_week_is_taken_nor_break_a_rule(site):
    room_id = check_in_room(site, "--max-duration", "PT1H")
    for day in ("2027-05-03", "2027-05-10"):
        taken = site.request("POST", f"/api/rooms/{room_id}/bookings", user=BOB, json={
            "title": f"Bob on {day}", "start": f"{day}T10:00", "end": f"{day}T11:00"})
        assert taken.status_code == 201, taken.text
    session, _ = _sign_in(site, ALICE)
    every = _book_form(session, site, room_id, **_series("All taken", until="2027-05-10", skip="1"))
    assert every.status_code == 409 and "is already booked" in every.text
    assert 'name="skip" value="1" aria-describedby="skip-hint" checked>' in every.text   # kept as it was typed
    too_long = _book_form(session, site, room_id, **_series("Too long", end=f"{FIRST}T12:00", skip="1"))
    assert too_long.status_code == 422 and "longer than this room&#39;s maximum of 1 h" in too_long.text
    calendar = site.request("GET", f"/rooms/{room_id}/", user=ALICE).text
    assert "All taken" not in calendar and "Too long" not in calendar
