"""/my and /manage (issue 14): one real server (mail to a real SMTP server on loopback),
real Chromium through Playwright, and what the pages did checked over CalDAV and /api.

Times are in the rooms' zone, Europe/Berlin, some days from today.
"""

import datetime
import uuid
import zoneinfo

import pytest
import requests

from conftest import assert_no_500, event
from support.browser import screenshot, sign_in
from support.smtp import body, mailing_server
from test_web_signin import CSRF, _sign_in

ALICE, BOB, MGR = "my-alice", "my-bob", "my-mgr"
BOB_MAIL = "my-bob@example.org"
ROOM, APPROVAL, MANAGED = "my-room", "my-approval", "my-managed"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def site(make_server, smtp):
    server = mailing_server(make_server, smtp, ("roomcal_outbox_retry_min = 30", "roomcal_outbox_retry_min = 0.2"))
    server.add_user(ALICE, email="my-alice@example.org")
    server.add_user(BOB, email=BOB_MAIL)
    server.add_user(MGR, email="my-mgr@example.org")
    zone = ("--timezone", "Europe/Berlin")
    server.add_room(ROOM, *zone, name="Fjord")
    server.add_room(APPROVAL, *zone, "--approval", "--managers", MGR, name="Boardroom")
    server.add_room(MANAGED, *zone, "--managers", MGR, name="Studio")
    yield server
    assert_no_500(server)


def day(days: int) -> datetime.date:
    return datetime.datetime.now(BERLIN).date() + datetime.timedelta(days=days)


def local(days: int, hour: int, minute: int = 0) -> str:
    """A datetime-local value (and /api's naive time): the room's zone."""
    return f"{day(days).isoformat()}T{hour:02d}:{minute:02d}"


def create(site, room, title, days, start, end, user=ALICE, status=201) -> dict:
    answer = site.request("POST", f"/api/rooms/{room}/bookings", user=user, json={
        "title": title, "start": local(days, start), "end": local(days, end)})
    assert answer.status_code == status, answer.text
    return answer.json()


def by_caldav(site, room, title, days, start, end, user=ALICE) -> str:
    uid = f"my-{uuid.uuid4().hex[:10]}"
    stamp = day(days).strftime("%Y%m%d")
    answer = site.put_ics(f"/rooms/{room}/{uid}.ics", event(
        f"{stamp}T{start:02d}0000", f"{stamp}T{end:02d}0000", uid=uid, summary=title,
        tz="Europe/Berlin"), user=user)
    assert answer.status_code == 201, answer.text
    return uid


def status_over_api(site, room, uid, user=ALICE) -> str:
    answer = site.request("GET", f"/api/rooms/{room}/bookings/{uid}", user=user)
    assert answer.status_code == 200, answer.text
    return answer.json()["roomcal"]["status"]


def booking_item(page, title):
    return page.locator("li.booking").filter(has=page.get_by_role("heading", name=title, exact=True))


def submit(page, button):
    """Click a form's button; the status of the page it led to."""
    with page.expect_navigation() as navigation:
        button.click()
    return navigation.value.status


# -- /my ----------------------------------------------------------------------------------------
def test_cancel_from_my_frees_the_slot(site, page, tmp_path):
    uid = by_caldav(site, ROOM, "Retro", 3, 9, 10)
    create(site, ROOM, "Planning", 3, 11, 12)
    create(site, ROOM, "Someone else's", 3, 13, 14, user=BOB)
    sign_in(page, site, ALICE)
    page.goto(site.url + "/my")
    assert booking_item(page, "Retro").is_visible() and booking_item(page, "Planning").is_visible()
    assert booking_item(page, "Someone else's").count() == 0   # mine only
    link = booking_item(page, "Retro").get_by_role("link", name="Fjord")
    assert link.get_attribute("href") == f"/board/rooms/{ROOM}"
    assert f"{day(3).day} {day(3).strftime('%B %Y')}, 09:00–10:00" in booking_item(page, "Retro").inner_text()
    screenshot(page, tmp_path, "my")
    retro = booking_item(page, "Retro")
    retro.get_by_text("Cancel", exact=True).click()   # opens the folded form
    retro.get_by_label("Reason (optional)").fill("Moved online")
    assert submit(page, retro.get_by_role("button", name="Cancel the booking")) == 200
    assert "/my?done=cancelled" in page.url   # (the fragment of the form stays)
    assert page.get_by_role("status").filter(has_text="cancelled").is_visible()
    assert booking_item(page, "Retro").count() == 0   # cancelled ones are left out by default
    assert "STATUS:CANCELLED" in site.request("GET", f"/rooms/{ROOM}/{uid}.ics", user=ALICE).text
    create(site, ROOM, "Takes the slot", 3, 9, 10, user=BOB)   # free again
    page.goto(site.url + "/my?cancelled=1")
    assert "Cancelled" in booking_item(page, "Retro").inner_text()
    assert booking_item(page, "Retro").get_by_role("button").count() == 0


def test_reschedule_from_my_into_a_free_slot_and_into_a_taken_one(site, page, tmp_path):
    mine = create(site, ROOM, "Standup", 4, 10, 11)
    create(site, ROOM, "Bob's review", 4, 14, 15, user=BOB)
    sign_in(page, site, ALICE)
    page.goto(site.url + "/my")
    standup = booking_item(page, "Standup")
    standup.get_by_text("Reschedule", exact=True).click()
    assert standup.get_by_label("New start").input_value() == local(4, 10)   # the room's zone
    standup.get_by_label("New start").fill(local(4, 12))
    standup.get_by_label("New end").fill(local(4, 13, 30))
    assert submit(page, standup.get_by_role("button", name="Move the booking")) == 200
    assert "/my?done=moved" in page.url   # (the fragment of the form stays)
    text = site.request("GET", mine["href"], user=ALICE).text
    assert f"DTSTART;TZID=Europe/Berlin:{day(4).strftime('%Y%m%d')}T120000" in text
    assert f"DTEND;TZID=Europe/Berlin:{day(4).strftime('%Y%m%d')}T133000" in text

    standup = booking_item(page, "Standup")
    standup.get_by_text("Reschedule", exact=True).click()
    standup.get_by_label("New start").fill(local(4, 14, 30))
    standup.get_by_label("New end").fill(local(4, 15, 30))
    assert submit(page, standup.get_by_role("button", name="Move the booking")) == 409
    standup = booking_item(page, "Standup")
    refusal = standup.get_by_role("alert")
    assert "Fjord is already booked" in refusal.inner_text() and "Bob's review" in refusal.inner_text()
    assert standup.get_by_label("New start").input_value() == local(4, 14, 30)   # kept as typed
    assert standup.get_by_label("New end").input_value() == local(4, 15, 30)
    assert page.locator(".refusal").count() == 1   # next to that booking's form only
    screenshot(page, tmp_path, "my-refused")
    page.set_viewport_size({"width": 375, "height": 800})   # a phone
    screenshot(page, tmp_path, "my-refused-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert site.request("GET", mine["href"], user=ALICE).text == text   # unchanged
    # Times that are no times: the field's sentence, nothing stored.
    page.goto(site.url + "/my")
    standup = booking_item(page, "Standup")
    standup.get_by_text("Reschedule", exact=True).click()
    standup.get_by_label("New start").fill("")
    standup.get_by_label("New start").evaluate("input => input.removeAttribute('required')")
    assert submit(page, standup.get_by_role("button", name="Move the booking")) == 400
    assert "The new start is required." in booking_item(page, "Standup").get_by_role("alert").inner_text()
    assert site.request("GET", mine["href"], user=ALICE).text == text


def test_a_pending_booking_says_it_waits_for_approval(site, page):
    create(site, APPROVAL, "Offsite prep", 6, 9, 10)
    sign_in(page, site, ALICE)
    page.goto(site.url + "/my")
    assert "Waiting for approval" in booking_item(page, "Offsite prep").inner_text()
    # The keyboard alone: open the folded form, type a reason, send it.
    doomed = create(site, APPROVAL, "Keyboard only", 6, 11, 12)
    page.reload()
    booking_item(page, "Keyboard only").get_by_text("Cancel", exact=True).focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "reason"
    page.keyboard.type("Not needed")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Cancel the booking"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert status_over_api(site, APPROVAL, doomed["uid"]) == "cancelled"
    # Moved by its booker, an approval room's booking asks again.
    offsite = booking_item(page, "Offsite prep")
    offsite.get_by_text("Reschedule", exact=True).click()
    offsite.get_by_label("New start").fill(local(6, 15))
    offsite.get_by_label("New end").fill("")   # keeps the length
    assert submit(page, offsite.get_by_role("button", name="Move the booking")) == 200
    assert "/my?done=moved-pending" in page.url
    assert "15:00–16:00" in booking_item(page, "Offsite prep").inner_text()
    assert "Waiting for approval" in booking_item(page, "Offsite prep").inner_text()


def test_a_post_to_my_without_the_csrf_token_is_refused(site):
    mine = create(site, ROOM, "Keep me", 7, 9, 10)
    session, answer = _sign_in(site, ALICE)
    assert answer.status_code == 303
    form = {"room": ROOM, "uid": mine["uid"], "reason": "csrf"}
    refused = session.post(site.url + "/my/cancel", data=form, allow_redirects=False, timeout=30)
    assert refused.status_code == 403 and "did not come from this site" in refused.text
    forged = session.post(site.url + "/my/cancel", data={**form, "csrf": "0" * 64},
                          allow_redirects=False, timeout=30)
    assert forged.status_code == 403
    anonymous = requests.post(site.url + "/my/cancel", data=form, allow_redirects=False, timeout=30)
    assert anonymous.status_code == 403
    assert status_over_api(site, ROOM, mine["uid"]) == "confirmed"
    # With the page's token the same form works.
    token = CSRF.search(session.get(site.url + "/my", timeout=30).text).group(1)
    done = session.post(site.url + "/my/cancel", data={**form, "csrf": token},
                        allow_redirects=False, timeout=30)
    assert done.status_code == 303 and done.headers["Location"] == "/my?done=cancelled"
    assert status_over_api(site, ROOM, mine["uid"]) == "cancelled"


def test_a_title_with_markup_shows_as_text(site, page):
    title = "<script>alert('x')</script><b>bold</b>"
    create(site, ROOM, title, 8, 9, 10)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, site, ALICE)
    page.goto(site.url + "/my")
    assert booking_item(page, title).is_visible()
    assert page.locator("li.booking b").count() == 0 and not dialogs
    session, _ = _sign_in(site, ALICE)
    html = session.get(site.url + "/my", timeout=30).text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html and "<script>alert" not in html


def test_the_past_is_shown_on_request(site, page):
    create(site, ROOM, "Last week", -7, 9, 10)
    sign_in(page, site, ALICE)
    page.goto(site.url + "/my")
    assert booking_item(page, "Last week").count() == 0
    page.get_by_label("Past ones").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/my?past=1")
    past = page.locator("ul.past")
    assert past.get_by_role("heading", name="Last week").is_visible()


# -- /manage ------------------------------------------------------------------------------------
def test_approve_and_decline_from_manage(site, smtp, page, tmp_path):
    approve = create(site, APPROVAL, "Board lunch", 5, 12, 13, user=BOB)
    decline = create(site, APPROVAL, "Party", 5, 18, 20, user=BOB)
    create(site, MANAGED, "Early call", 0, 0, 1, user=ALICE)   # today in a room MGR manages
    assert status_over_api(site, APPROVAL, approve["uid"], user=BOB) == "pending"
    sign_in(page, site, MGR)
    page.goto(site.url + "/manage")
    today = page.locator("section.today")
    assert "Early call" in today.inner_text() and "00:00–01:00" in today.inner_text()
    assert "my-bob" in booking_item(page, "Board lunch").inner_text()
    screenshot(page, tmp_path, "manage")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, tmp_path, "manage-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert submit(page, booking_item(page, "Board lunch").get_by_role("button", name="Approve")) == 200
    assert "/manage?done=approved" in page.url   # (the fragment of the form stays)
    assert booking_item(page, "Board lunch").count() == 0
    assert status_over_api(site, APPROVAL, approve["uid"], user=BOB) == "confirmed"
    assert "STATUS:CONFIRMED" in site.request("GET", approve["href"], user=BOB).text

    party = booking_item(page, "Party")
    party.get_by_text("Decline", exact=True).click()
    party.get_by_label("Reason, mailed to my-bob").fill("The room is being painted that evening")
    assert submit(page, party.get_by_role("button", name="Decline the booking")) == 200
    assert "/manage?done=declined" in page.url   # (the fragment of the form stays)
    assert status_over_api(site, APPROVAL, decline["uid"], user=BOB) == "cancelled"
    mail, = smtp.wait_for(lambda m: m["Subject"].startswith("Declined: Party in Boardroom"))
    assert mail["To"] == BOB_MAIL and "The room is being painted that evening" in body(mail)
    assert page.get_by_text("Nothing waits for approval.").is_visible() or \
        booking_item(page, "Party").count() == 0


def test_a_non_manager_sees_no_approvals_and_cannot_approve(site, page, tmp_path):
    pending = create(site, APPROVAL, "Secret plan", 9, 9, 10, user=BOB)
    sign_in(page, site, ALICE)
    page.goto(site.url + "/manage")
    assert page.get_by_text("You manage no rooms").is_visible()
    assert page.get_by_text("Secret plan").count() == 0
    screenshot(page, tmp_path, "manage-none")
    session, _ = _sign_in(site, ALICE)
    token = CSRF.search(session.get(site.url + "/manage", timeout=30).text).group(1)
    refused = session.post(site.url + "/manage/approve", data={
        "csrf": token, "room": APPROVAL, "uid": pending["uid"]}, allow_redirects=False, timeout=30)
    assert refused.status_code == 403
    assert "Only managers of Boardroom and admins may approve its bookings." in refused.text
    assert status_over_api(site, APPROVAL, pending["uid"], user=BOB) == "pending"
    # A booking that is not there, or a form without one: a sentence too, no 500.
    gone = session.post(site.url + "/manage/decline", data={
        "csrf": token, "room": "no-such-room", "uid": "x"}, allow_redirects=False, timeout=30)
    assert gone.status_code == 404 and "There is no room" in gone.text
    empty = session.post(site.url + "/my/cancel", data={"csrf": token}, allow_redirects=False, timeout=30)
    assert empty.status_code == 400 and "names no booking" in empty.text


def test_anonymous_readers_are_sent_to_sign_in(site):
    for path in ("/my", "/manage"):
        answer = requests.get(site.url + path, allow_redirects=False, timeout=30)
        assert answer.status_code == 303 and answer.headers["Location"] == f"/?next={path}"


def test_a_long_user_name_still_finds_its_bookings(site):
    # "X-ROOMCAL-BOOKED-BY:" and 60 letters make a folded line in the stored item.
    long_name = "my-" + "l" * 57
    site.add_user(long_name)
    create(site, ROOM, "Long name's", 10, 9, 10, user=long_name)
    session, _ = _sign_in(site, long_name)
    assert "Long name&#39;s" in session.get(site.url + "/my", timeout=30).text
    listed = site.request("GET", f"/api/rooms/{ROOM}/bookings", user=long_name, params={"mine": "1"})
    assert [b["title"] for b in listed.json()["bookings"]] == ["Long name's"]


def test_a_series_is_cancelled_whole_and_moved_elsewhere_than_here(site):
    stamp = day(12).strftime("%Y%m%d")
    site.put_ics(f"/rooms/{ROOM}/weekly.ics", event(
        f"{stamp}T080000", f"{stamp}T083000", uid="my-weekly", summary="Weekly sync",
        tz="Europe/Berlin", extra="RRULE:FREQ=WEEKLY;COUNT=5"), user=ALICE)
    session, _ = _sign_in(site, ALICE)
    html = session.get(site.url + "/my", timeout=30).text
    item = html[html.index("<h3>Weekly sync</h3>"):]
    item = item[:item.index("</li>")]
    assert "repeats" in item and "Cancel the series" in item
    assert 'name="start"' not in item and "A series is moved in your calendar app" in item
    # Cancelled (the whole series); a second cancel: the core's sentence on top (no form for it).
    token = CSRF.search(html).group(1)
    form = {"csrf": token, "room": ROOM, "uid": "my-weekly"}
    done = session.post(site.url + "/my/cancel", data=form, allow_redirects=False, timeout=30)
    assert done.status_code == 303
    assert "STATUS:CANCELLED" in site.request("GET", f"/rooms/{ROOM}/weekly.ics", user=ALICE).text
    again = session.post(site.url + "/my/cancel", data=form, allow_redirects=False, timeout=30)
    assert again.status_code == 409 and "is already cancelled" in again.text
    assert again.text.count('class="refusal"') == 1
