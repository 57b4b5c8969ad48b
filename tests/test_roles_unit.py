"""Who may do what in a room (storage/roles.py), without HTTP: the answers the booking
core and the rights plugin share."""

import zoneinfo

import pytest

from roomcal.storage import roles
from roomcal.storage.context import Actor
from roomcal.storage.errors import AccessDenied
from roomcal.storage.instances import Booking
from roomcal.storage.rooms import Room

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ALICE, BOB, CAROL = Actor("alice"), Actor("bob", frozenset({"staff"})), Actor("carol")


def room(**lists) -> Room:
    return Room(id="r", name="R", **lists).validate()


def test_roles_follow_the_rooms_lists():
    open_room = room()
    assert roles.may_book(open_room, CAROL) and roles.may_view(open_room, CAROL)
    assert not roles.is_manager(open_room, CAROL) and roles.is_manager(open_room, Actor("x", admin=True))
    listed = room(managers=["alice"], bookers=["@staff"], viewers=["carol"])
    assert roles.is_manager(listed, ALICE) and roles.may_book(listed, ALICE)
    assert roles.may_book(listed, BOB) and not roles.is_manager(listed, BOB)
    assert not roles.may_book(listed, CAROL) and roles.may_view(listed, CAROL)
    assert not roles.may_view(listed, Actor("dave"))
    assert not roles.may_view(listed, Actor("", frozenset({"staff"})))  # no name, no list


def test_roles_for_one_booking():
    listed = room(managers=["alice"], bookers=["@staff"])
    mine = Booking("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:t", "BEGIN:VEVENT", "UID:u",
        "DTSTAMP:20270101T000000Z", "DTSTART:20270720T090000Z", "CLASS:PRIVATE",
        f"{roles.OWNER}:bob", "END:VEVENT", "END:VCALENDAR", ""]), BERLIN)
    assert roles.may_see_details(listed, BOB, mine) and roles.may_see_details(listed, ALICE, mine)
    assert not roles.may_see_details(listed, Actor("eve", frozenset({"staff"})), mine)
    assert roles.may_change(listed, BOB, mine) and roles.may_change(listed, ALICE, mine)
    assert roles.may_change(listed, CAROL, None)  # a new booking: may_book decides
    with pytest.raises(AccessDenied, match="You may not cancel bob's booking"):
        roles.check_change(listed, Actor("eve", frozenset({"staff"})), mine, "cancel")
    with pytest.raises(AccessDenied, match="You may no longer book R"):
        roles.check_change(listed, Actor("bob"), mine, "move")  # left the group


def test_hidden_rooms_are_listed_to_admins_only():
    hidden, shown = Room(id="h", name="H", status="hidden"), Room(id="s", name="S", status="unavailable")
    admin, user = Actor("root", admin=True), Actor("ann")
    assert roles.is_listed(hidden, admin) and not roles.is_listed(hidden, user)
    assert not roles.is_listed(hidden, None)
    assert roles.is_listed(shown, user) and roles.is_listed(shown, None)
