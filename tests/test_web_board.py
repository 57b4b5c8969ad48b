"""The board (/board), a room's week (/board/rooms/<ID>) and its booking form: through a
real server, over raw HTTP and in a real browser (Chromium), checked against CalDAV."""

import os
import re

import pytest
import requests

from conftest import assert_no_500, book

DAY = "2027-03-01"          # a Monday
NEXT_WEEK = "2027-03-08"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def site(server):
    server.add_user("alice")
    server.add_user("bob")
    server.add_user("meg")
    server.add_user("root", admin=True)
    tz = ("--timezone", "Europe/Berlin")
    server.add_room("atrium", *tz, "--capacity", "12", "--feature", "projector", "--location", "Floor 1",
                    "--opening-hours", "Mo-Fr 08:00-18:00", "--buffer", "PT15M", "--managers", "meg",
                    "--blackout", "2027-03-01T16:00/2027-03-01T18:00", name="Atrium")
    server.add_room("booth", *tz, "--capacity", "2", "--max-duration", "PT1H",
                    "--opening-hours", "Mo-Fr 09:00-17:00", name="Booth")
    server.add_room("council", "--timezone", "America/New_York", "--capacity", "30", "--bookers", "meg",
                    "--viewers", "meg", name="Council")
    server.add_room("vault", *tz, "--status", "hidden", name="Vault")
    server.add_room("studio", *tz, "--capacity", "6", "--approval", "--quantity", "2", name="Studio")
    assert book(server, "atrium", "20270301T120000", "20270301T130000", "bob", summary="Standup",
                tz="Europe/Berlin").status_code == 201
    assert book(server, "atrium", "20270301T140000", "20270301T150000", "meg", summary="Secret merger",
                tz="Europe/Berlin", extra="CLASS:PRIVATE").status_code == 201
    assert book(server, "council", "20270301T090000", "20270301T100000", "meg", summary="Board meeting",
                tz="America/New_York").status_code == 201
    for start, end, title in (("0930", "1130", "Recording"), ("1000", "1045", "Podcast")):
        assert book(server, "studio", f"20270301T{start}00", f"20270301T{end}00", "bob", summary=title,
                    tz="Europe/Berlin").status_code == 201
    return server


def _session(site, user):
    session = requests.Session()
    token = CSRF.search(session.get(site.url + "/", timeout=30).text).group(1)
    answer = session.post(site.url + "/signin", data={"csrf": token, "username": user,
                                                       "password": site.passwords[user]},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    return session


def _token(session, site, path):
    return CSRF.search(session.get(site.url + path, timeout=30).text).group(1)


def _caldav_calendar(site, room, user="alice"):
    answer = site.request("GET", f"/rooms/{room}/", user=user)
    assert answer.status_code == 200
    return answer.text


@pytest.fixture(scope="module")
def alice(browser, site):
    """One signed-in browser context for the module's browser tests (fast)."""
    from support.browser import sign_in
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(15000)
    dialogs = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs
    sign_in(tab, site, "alice")
    yield tab
    context.close()


def _shot(tab, tmp_path, name, keep=None, top="body"):
    from support.browser import screenshot
    path = screenshot(tab, tmp_path, name)
    if keep:   # the README's pictures (docs/images): the viewport from ``top`` on
        tab.evaluate(f"window.scrollTo(0, document.querySelector({top!r}).offsetTop - 8)")
        tab.screenshot(path=os.path.join(ROOT, "docs", "images", keep))
    return path


# -- in the browser --------------------------------------------------------------------------
def test_book_from_a_free_cell_of_the_board_and_find_it_over_caldav(site, alice, tmp_path):
    alice.goto(f"{site.url}/board?date={DAY}")
    assert alice.get_by_role("heading", name="Rooms on Monday 1 March 2027").is_visible()
    row = alice.get_by_role("row", name=re.compile("^Atrium"))
    assert row.get_by_text("Standup").is_visible()
    assert row.get_by_text("Busy").first.is_visible()          # the private booking
    assert row.get_by_text("Blackout").first.is_visible()
    studio = alice.get_by_role("row", name=re.compile("^Studio"))   # waiting for approval; side by side
    assert studio.get_by_text("Podcast").is_visible() and studio.get_by_text("pending", exact=True).count() == 2
    _shot(alice, tmp_path, "board", keep="board.png" if os.environ.get("ROOMCAL_SCREENSHOTS") else None)
    alice.get_by_role("link", name="Free: book Atrium at 10:00").click()
    alice.wait_for_url(re.compile(r"/board/rooms/atrium\?"))
    assert alice.get_by_label("Start").input_value() == f"{DAY}T10:00"
    assert alice.get_by_label("End").input_value() == f"{DAY}T11:00"
    alice.get_by_label("Title").fill("Design review")
    alice.get_by_role("button", name="Book").click()
    alice.wait_for_url(re.compile(r"booked="))
    notice = alice.get_by_role("status").first
    assert notice.inner_text() == "Booked: “Design review”, Monday 1 March 2027, 10:00–11:00."
    assert alice.get_by_role("row", name=re.compile("^Monday")).get_by_text("Design review").is_visible()
    _shot(alice, tmp_path, "room-week", keep="room-week.png" if os.environ.get("ROOMCAL_SCREENSHOTS") else None,
          top="h1")
    calendar = _caldav_calendar(site, "atrium")
    assert "SUMMARY:Design review" in calendar and "X-ROOMCAL-BOOKED-BY:alice" in calendar


def test_a_conflict_is_said_next_to_the_form_which_keeps_what_was_typed(site, alice, tmp_path):
    alice.goto(f"{site.url}/board/rooms/atrium?week={DAY}")
    alice.get_by_label("Title").fill("Clash party")
    alice.get_by_label("Start").fill(f"{DAY}T12:30")
    alice.get_by_label("End").fill(f"{DAY}T13:30")
    alice.get_by_label("Notes").fill("bring cake")
    alice.get_by_role("button", name="Book").click()
    alert = alice.get_by_role("alert")
    assert "Atrium is already booked: “Standup” from" in alert.inner_text()
    assert alice.get_by_label("Title").input_value() == "Clash party"
    assert alice.get_by_label("Start").input_value() == f"{DAY}T12:30"
    assert alice.get_by_label("Notes").input_value() == "bring cake"
    _shot(alice, tmp_path, "refusal")
    assert "Clash party" not in _caldav_calendar(site, "atrium")


def test_a_title_with_markup_is_text_and_runs_nothing(site, alice):
    assert book(site, "atrium", "20270302T090000", "20270302T100000", "bob",
                summary="<script>alert(1)</script><img src=x onerror=alert(2)>",
                tz="Europe/Berlin").status_code == 201
    alice.goto(f"{site.url}/board?date=2027-03-02")
    assert alice.get_by_text("<script>alert(1)</script><img src=x onerror=alert(2)>").is_visible()
    alice.goto(f"{site.url}/board/rooms/atrium?week=2027-03-02")
    assert alice.get_by_text("<script>alert(1)</script>", exact=False).first.is_visible()
    assert alice.dialogs == []


def test_keyboard_only_booking(site, alice):
    # As from a free cell: the times are filled in, the title is typed; Tab and Enter only.
    alice.goto(f"{site.url}/board/rooms/atrium?week={DAY}&start={DAY}T08:00&end={DAY}T09:00")
    alice.locator("body").focus()
    for _ in range(40):
        if alice.evaluate("document.activeElement.id") == "title":
            break
        alice.keyboard.press("Tab")
    assert alice.evaluate("document.activeElement.id") == "title"
    alice.keyboard.type("Typed by keys")
    alice.keyboard.press("Tab")
    assert alice.evaluate("document.activeElement.id") == "start"
    alice.keyboard.press("Shift+Tab")
    alice.keyboard.press("Enter")
    alice.wait_for_url(re.compile(r"booked="))
    assert "Booked: “Typed by keys”, Monday 1 March 2027, 08:00–09:00." in alice.get_by_role("status").first.inner_text()
    assert "SUMMARY:Typed by keys" in _caldav_calendar(site, "atrium")


def test_a_booking_made_over_caldav_is_on_the_board_with_its_title(site, alice, tmp_path):
    assert book(site, "booth", "20270303T100000", "20270303T103000", "bob", summary="Phone call",
                tz="Europe/Berlin").status_code == 201
    alice.goto(f"{site.url}/board?date=2027-03-03")
    row = alice.get_by_role("row", name=re.compile("^Booth"))
    assert row.get_by_text("Phone call").is_visible()
    assert row.get_by_text("10:00–10:30").is_visible()
    alice.set_viewport_size({"width": 375, "height": 700})   # a phone: the grid scrolls, not the page
    try:
        assert alice.evaluate("document.documentElement.scrollWidth") <= 375
        _shot(alice, tmp_path, "board-phone")
    finally:
        alice.set_viewport_size({"width": 1280, "height": 800})
    assert_no_500(site)


# -- over raw HTTP ---------------------------------------------------------------------------
def test_each_broken_rule_is_listed_with_422(site):
    session = _session(site, "alice")
    token = _token(session, site, f"/board/rooms/booth?week={DAY}")
    answer = session.post(site.url + "/board/rooms/booth/book", data={
        "csrf": token, "title": "Too long, too early", "start": f"{DAY}T07:00", "end": f"{DAY}T09:00"},
        allow_redirects=False, timeout=30)
    assert answer.status_code == 422
    items = re.findall(r"<li>(.*?)</li>", answer.text.split('id="book-error"')[1].split("</div>")[0])
    assert items == ["2 h is longer than this room&#39;s maximum of 1 h.",
                     "Mon 2027-03-01 07:00–09:00 is outside this room&#39;s opening hours (Mo-Fr 09:00-17:00)."]
    assert 'value="Too long, too early"' in answer.text
    # the rules in words on the room's page
    assert "Bookings last at most 1 h." in answer.text and "Open Mo-Fr 09:00-17:00." in answer.text


def test_a_missing_title_and_a_bad_time_are_said(site):
    session = _session(site, "alice")
    token = _token(session, site, "/board/rooms/booth")
    answer = session.post(site.url + "/board/rooms/booth/book", data={
        "csrf": token, "title": " ", "start": f"{DAY}T10:00", "end": f"{DAY}T09:00"}, timeout=30)
    assert answer.status_code == 422
    assert "Title may not be blank." in answer.text and "End must occur after start." in answer.text
    answer = session.post(site.url + "/board/rooms/booth/book", data={
        "csrf": token, "title": "x", "start": "tomorrow", "end": f"{DAY}T09:00"}, timeout=30)
    assert answer.status_code == 400 and "Start &#39;tomorrow&#39; is not a date and time" in answer.text


def test_weekly_until_books_a_series(site):
    session = _session(site, "alice")
    token = _token(session, site, "/board/rooms/atrium")
    answer = session.post(site.url + "/board/rooms/atrium/book", data={
        "csrf": token, "title": "Weekly sync", "start": f"{DAY}T11:15", "end": f"{DAY}T11:30",
        "until": "2027-03-15", "notes": "agenda in the wiki"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert "Booked: “Weekly sync”, Monday 1 March 2027, 11:15–11:30, every week." in answer.text
    calendar = _caldav_calendar(site, "atrium")
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270315T225959Z" in calendar
    assert "DESCRIPTION:agenda in the wiki" in calendar
    for day in ("2027-03-08", "2027-03-15"):
        board = session.get(f"{site.url}/board?date={day}", timeout=30).text
        assert "Weekly sync" in board
    assert "Weekly sync" not in session.get(f"{site.url}/board?date=2027-03-22", timeout=30).text


def test_private_titles_show_busy_to_others(site):
    alice, meg = _session(site, "alice"), _session(site, "meg")
    seen = alice.get(f"{site.url}/board?date={DAY}", timeout=30).text
    assert "Secret merger" not in seen and "Board meeting" not in seen and "Busy" in seen
    managed = meg.get(f"{site.url}/board?date={DAY}", timeout=30).text
    assert "Secret merger" in managed and "Board meeting" in managed
    # Council is in New York: its row is its own day, and alice may not book it (no free links)
    council = alice.get(f"{site.url}/board/rooms/council?week={DAY}", timeout=30).text
    assert "America/New_York" in council and "Board meeting" not in council
    assert "book Council at" not in seen and "You may see this room" in council
    answer = alice.post(f"{site.url}/board/rooms/council/book", data={
        "csrf": _token(alice, site, "/board"), "title": "Sneak in", "start": f"{DAY}T11:00",
        "end": f"{DAY}T12:00"}, timeout=30)
    assert answer.status_code == 403 and "You may not book Council." in answer.text


def test_filters_are_the_finders(site):
    session = _session(site, "alice")
    page = session.get(f"{site.url}/board?date={DAY}&capacity=10", timeout=30).text
    assert ">Atrium</a>" in page and ">Booth</a>" not in page and ">Council</a>" in page
    page = session.get(f"{site.url}/board?date={DAY}&feature=Projector", timeout=30).text
    assert ">Atrium</a>" in page and ">Council</a>" not in page
    answer = session.get(f"{site.url}/board?date={DAY}&capacity=many", timeout=30)
    assert answer.status_code == 400 and "&#39;capacity&#39; must be a whole number" in answer.text
    # the day links keep the filters
    assert 'href="/board?date=2027-03-02&amp;feature=Projector"' in page


def test_hidden_rooms_are_for_admins_only(site):
    assert ">Vault</a>" not in _session(site, "alice").get(f"{site.url}/board?date={DAY}", timeout=30).text
    assert _session(site, "alice").get(f"{site.url}/board/rooms/vault", timeout=30).status_code == 404
    root = _session(site, "root")
    assert ">Vault</a>" in root.get(f"{site.url}/board?date={DAY}", timeout=30).text
    assert root.get(f"{site.url}/board/rooms/vault", timeout=30).status_code == 200


def test_bad_day_unknown_room_and_anonymous(site):
    session = _session(site, "alice")
    answer = session.get(f"{site.url}/board?date=2027-02-30", timeout=30)
    assert answer.status_code == 400 and "date=&#39;2027-02-30&#39; is not a date; use YYYY-MM-DD." in answer.text
    answer = session.get(f"{site.url}/board/rooms/atrium?week=soon", timeout=30)
    assert answer.status_code == 400 and "use YYYY-MM-DD" in answer.text
    for far in ("1900-01-01", "9000-12-31"):   # the ends of the years a page takes
        assert session.get(f"{site.url}/board?date={far}", timeout=30).status_code == 200
        assert session.get(f"{site.url}/board/rooms/atrium?week={far}", timeout=30).status_code == 200
    answer = session.get(f"{site.url}/board?date=10000-01-01", timeout=30)
    assert answer.status_code == 400
    answer = session.get(f"{site.url}/board/rooms/nowhere", timeout=30)
    assert answer.status_code == 404 and "There is no room &#39;nowhere&#39;." in answer.text
    answer = requests.get(f"{site.url}/board?date={DAY}", allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/?next=/board%3Fdate%3D{DAY}"


def test_a_post_without_csrf_books_nothing(site):
    session = _session(site, "alice")
    answer = session.post(site.url + "/board/rooms/atrium/book", data={
        "title": "Forged", "start": f"{DAY}T11:00", "end": f"{DAY}T11:30"}, timeout=30)
    assert answer.status_code == 403 and "did not come from this site" in answer.text
    assert "Forged" not in _caldav_calendar(site, "atrium")


def test_a_booking_flash_is_read_from_the_booking_not_the_url(site):
    session = _session(site, "alice")
    page = session.get(f"{site.url}/board/rooms/atrium?booked=%3Cscript%3Ex", timeout=30).text
    assert "<script>x" not in page and "Booked:" not in page


def test_managers_create_a_feed_and_see_its_link_once(site):
    meg, alice = _session(site, "meg"), _session(site, "alice")
    page = meg.get(f"{site.url}/board/rooms/atrium", timeout=30).text
    assert "Create a feed" in page
    answer = meg.post(f"{site.url}/board/rooms/atrium/feeds", data={
        "csrf": CSRF.search(page).group(1), "label": "door", "busy_only": "1"}, timeout=30)
    assert answer.status_code == 200
    link = re.search(r'id="feed-url" class="wide" readonly value="([^"]+)"', answer.text).group(1)
    feed = requests.get(link, timeout=30)
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text and "Standup" not in feed.text
    assert "Create a feed" not in alice.get(f"{site.url}/board/rooms/atrium", timeout=30).text
    answer = alice.post(f"{site.url}/board/rooms/atrium/feeds", data={
        "csrf": _token(alice, site, "/board")}, timeout=30)
    assert answer.status_code == 403 and "Only managers of Atrium" in answer.text
    assert_no_500(site)


def test_the_pages_use_no_inline_style_or_script(site):
    session = _session(site, "meg")
    for path in (f"/board?date={DAY}", f"/board/rooms/atrium?week={DAY}"):
        text = session.get(site.url + path, timeout=30).text
        assert " style=" not in text and "<style" not in text
        assert not re.search(r"<script(?![^>]*\bsrc=)", text)
        assert not re.search(r"\son[a-z]+=", text.replace("onerror=alert(2)", ""))
