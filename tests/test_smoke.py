"""The five-minute tour of README, as a test."""

from conftest import event


def test_book_a_room_by_caldav_put_and_see_the_conflict(server):
    server.add_user("tour-admin", admin=True)
    server.add_user("tour-alice")
    server.add_user("tour-bob")
    server.add_room("tour", "--timezone", "Europe/Berlin", "--capacity", "6")

    first = server.put_ics("/rooms/tour/a.ics", event("20271206T090000Z", "20271206T100000Z", summary="Standup"),
                           user="tour-alice")
    assert first.status_code == 201

    clash = server.put_ics("/rooms/tour/b.ics", event("20271206T093000Z", "20271206T103000Z"), user="tour-bob")
    assert clash.status_code == 409
    assert "no-booking-conflict" in clash.text
    assert "/rooms/tour/a.ics" in clash.text

    room = server.request("GET", "/api/rooms/tour", user="tour-bob").json()
    assert room["name"] == "Room tour" and room["capacity"] == 6 and room["may"]["book"] is True
