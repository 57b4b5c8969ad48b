"""Who may do what in a room: pure answers from the room's lists and who asks.

A room lists its ``managers``, ``bookers`` and ``viewers`` (user names, or ``@group``);
an admin manages every room, an empty ``bookers`` list lets everyone book and an
empty ``viewers`` list lets everyone see the bookings (others get free/busy only).
Whether someone is an admin, and their groups, come from the accounts (``Actor``).
The booking core and the rights plugin both ask here, so a CalDAV request and a
JSON one are answered alike.
"""

from typing import TYPE_CHECKING, List, Optional

from roomcal.storage.context import Actor
from roomcal.storage.errors import AccessDenied
from roomcal.storage.rooms import Room

if TYPE_CHECKING:  # hints only: the roles need nothing of iCalendar
    from roomcal.storage.instances import Booking

OWNER = "X-ROOMCAL-BOOKED-BY"   # who booked: the booking's owner (stamped by the booking core)


def is_manager(room: Room, actor: Actor) -> bool:
    return actor.admin or _listed(room.managers, actor)


def is_listed(room: Room, actor: Optional[Actor]) -> bool:
    """Whether the room shows in listings (directory, board, calendar homes): a hidden
    room only to admins."""
    return room.status != "hidden" or (actor is not None and actor.admin)


def may_book(room: Room, actor: Actor) -> bool:
    return is_manager(room, actor) or not room.bookers or _listed(room.bookers, actor)


def may_view(room: Room, actor: Actor) -> bool:
    """May see bookings (titles, details); everyone else gets free/busy only."""
    return not room.viewers or may_book(room, actor) or _listed(room.viewers, actor)


def may_see_details(room: Room, actor: Actor, booking: "Booking") -> bool:
    """Title, notes, people of a booking: CLASS:PRIVATE/CONFIDENTIAL ones only for
    their booker and the room's managers (others who may view see when, not what)."""
    return may_see_details_of(room, actor, booking.private, booking.get(OWNER))


def may_see_details_of(room: Room, actor: Actor, private: bool, owner: Optional[str]) -> bool:
    """``may_see_details`` of a booking known by its outline (storage/outline.py)."""
    if not private:
        return may_view(room, actor)
    return bool(owner and owner == actor.user) or is_manager(room, actor)


def may_change(room: Room, actor: Actor, previous: Optional["Booking"]) -> bool:
    """Your own booking, while you may still book the room (the rights plugin gives
    CalDAV writes to bookers only; every other path asks here); any, if you manage it."""
    if previous is None or is_manager(room, actor):
        return True
    owner = previous.get(OWNER)
    return bool(owner) and owner == actor.user and may_book(room, actor)


def check_change(room: Room, actor: Actor, previous: Optional["Booking"], verb: str) -> None:
    """``AccessDenied``, saying why, unless ``may_change``."""
    if not may_change(room, actor, previous):
        owner = previous.get(OWNER) if previous else None
        if owner and owner == actor.user:
            raise AccessDenied(f"You may no longer book {room.name}, so you cannot {verb} your "
                               f"booking there; a manager of the room or an admin can.")
        whose = f"{owner}'s booking" if owner else "this booking"
        raise AccessDenied(f"You may not {verb} {whose}: only the person who booked it, "
                           f"a manager of {room.name} or an admin may.")


def _listed(entries: List[str], actor: Actor) -> bool:
    if not actor.user:
        return False
    for entry in entries:
        if entry.startswith("@"):
            if entry[1:] in actor.groups:
                return True
        elif entry == actor.user:
            return True
    return False
