"""The properties of principals as roomcal answers them: users ``/<user>/`` and rooms
``/.rooms/<id>/`` (RFC 3744, RFC 4791, RFC 6638, and Apple's calendarserver names
clients ask for), for PROPFIND answers and principal searches alike.

Each principal is a ``{Clark tag: builder}`` dict (server/scheduling/davxml.py ``response``);
a builder answering None leaves the property out (404).  Who asks is a ``Asker``:
it carries the request's base prefix (SCRIPT_NAME) for every href.
"""

import dataclasses
from typing import Dict, List, Optional

from roomcal.server.scheduling import davxml
from roomcal.server.scheduling.davxml import c, cs, d, element, hrefs, rc
from roomcal.storage.context import Actor
from roomcal.storage.scheduling import addresses
from roomcal.storage.scheduling.copies import default_calendar_path

INBOX, OUTBOX = ".schedule-inbox", ".schedule-outbox"
# CS:record-type: Apple Calendar Server's names of its record types
USERS, LOCATIONS = "users", "locations"


@dataclasses.dataclass
class Asker:
    """Who asks, and where the server is mounted."""
    storage: object
    user: str        # "" when anonymous ([auth] type = none)
    actor: Actor
    prefix: str      # SCRIPT_NAME without its trailing slash

    def href(self, path: str) -> str:
        return davxml.href(self.prefix, path)

    def address(self, address: str) -> str:
        """A calendar-user address as an href: a principal path gets the prefix."""
        return self.href(address) if address.startswith("/") else address

    def sees_room(self, room) -> bool:
        """A room's principal exists for this asker: hidden rooms for admins only, and
        only rooms whose bookings they may see (storage/roles.py)."""
        if self.actor.admin:
            return True
        return room.status != "hidden" and self.storage.core.may_view(room, self.actor)


def asker(storage, identity, environ) -> Asker:
    user = identity.user if identity is not None else ""
    actor = storage.actor_named(user) if user else Actor("")
    return Asker(storage, user, actor, base_prefix(environ))


def base_prefix(environ) -> str:
    """Where the server is mounted, as Radicale reads it for its own hrefs: X-Script-Name
    from a reverse proxy, else SCRIPT_NAME (radicale/app/__init__.py)."""
    prefix = environ.get("HTTP_X_SCRIPT_NAME", environ.get("SCRIPT_NAME", "")) or ""
    return prefix.rstrip("/") if prefix.startswith("/") else ""


def common_props(who: Asker) -> dict:
    def current_user_principal(tag):
        if who.user:
            return hrefs(tag, [who.href(addresses.user_principal(who.user))])
        return element(tag, children=[element(d("unauthenticated"))])
    return {
        d("current-user-principal"): current_user_principal,
        d("principal-collection-set"): lambda tag: hrefs(tag, [who.href("/")]),
        d("supported-report-set"): lambda tag: element(tag, children=[
            element(d("supported-report"), children=[element(d("report"), children=[element(report)])])
            for report in (d("principal-property-search"), d("principal-search-property-set"),
                           cs("calendarserver-principal-search"))]),
    }


def _text(value: Optional[str]):
    return lambda tag: None if value is None else element(tag, value)


def _emails(emails: List[str]):
    return lambda tag: element(tag, children=[element(cs("email-address"), e) for e in emails]) \
        if emails else None


def principal_type(tag):
    return element(tag, children=[element(d("collection")), element(d("principal"))])


# -- users ------------------------------------------------------------------------------
def user_addresses(who: Asker, name: str) -> List[str]:
    """mailto: first (Thunderbird reads only that one), then the principal URL."""
    return [who.address(a) for a in who.storage.directory.user_addresses(name)]


def user_scheduling(who: Asker, name: str) -> Dict[str, davxml.Builder]:
    """The scheduling properties of a user's principal: what Radicale does not answer."""
    home = addresses.user_principal(name)
    user = who.storage.accounts.get_user(name)
    email = user.email if user is not None and user.email else ""

    def default(tag):
        if who.user != name and not who.actor.admin:   # where someone else's invitations go
            return None
        path = default_calendar_path(who.storage, name)
        return hrefs(tag, [who.href(path)]) if path else None
    return {
        c("calendar-user-address-set"): lambda tag: hrefs(tag, user_addresses(who, name)),
        c("schedule-inbox-URL"): lambda tag: hrefs(tag, [who.href(f"{home}{INBOX}/")]),
        c("schedule-outbox-URL"): lambda tag: hrefs(tag, [who.href(f"{home}{OUTBOX}/")]),
        c("schedule-default-calendar-URL"): default,
        c("calendar-user-type"): _text("INDIVIDUAL"),
        cs("record-type"): _text(USERS),
        cs("email-address-set"): _emails([email] if email else []),
        d("displayname"): _text(name),
    }


def user_principal(who: Asker, name: str) -> Dict[str, davxml.Builder]:
    """Every property of a user's principal, for principal searches."""
    home = addresses.user_principal(name)
    return {
        d("resourcetype"): principal_type,
        d("principal-URL"): lambda tag: hrefs(tag, [who.href(home)]),
        c("calendar-home-set"): lambda tag: hrefs(tag, [who.href(home)]),
        **user_scheduling(who, name),
        **common_props(who),
    }


# -- rooms ------------------------------------------------------------------------------
def room_addresses(who: Asker, room) -> List[str]:
    return [who.address(a) for a in who.storage.directory.room_addresses(room)]


def room_principal(who: Asker, room) -> Dict[str, davxml.Builder]:
    """A room's principal: CUTYPE ROOM, its name and address, its calendar home (itself,
    holding /rooms/<id>/), and capacity and location in our namespace (no client
    standard has them; CS:record-type "locations" is how Apple's server marks rooms)."""
    here = addresses.room_principal(room.id)
    return {
        d("resourcetype"): principal_type,
        d("displayname"): _text(room.name),
        d("principal-URL"): lambda tag: hrefs(tag, [who.href(here)]),
        c("calendar-home-set"): lambda tag: hrefs(tag, [who.href(here)]),
        c("calendar-user-address-set"): lambda tag: hrefs(tag, room_addresses(who, room)),
        c("calendar-user-type"): _text("ROOM"),
        cs("record-type"): _text(LOCATIONS),
        cs("email-address-set"): _emails([who.storage.directory.room_email(room)]),
        rc("capacity"): _text(None if room.capacity is None else str(room.capacity)),
        rc("location"): _text(room.location or None),
        d("current-user-privilege-set"): lambda tag: element(tag, children=[
            element(d("privilege"), children=[element(d("read"))])]),
        **common_props(who),
    }


# What a search may compare, per principal: the values of each searchable property.
def user_values(who: Asker, user) -> Dict[str, List[str]]:
    """``user``: an accounts.User (a listing has them all: no lookup per user)."""
    email = user.email or ""
    home = who.href(addresses.user_principal(user.name))
    mail = [f"mailto:{email}", email] if email else []
    return {d("displayname"): [user.name],
            c("calendar-user-address-set"): [*mail, home],
            c("calendar-user-type"): ["INDIVIDUAL"],
            c("calendar-home-set"): [home],
            cs("email-address-set"): [email] if email else []}


def room_values(who: Asker, room) -> Dict[str, List[str]]:
    email = who.storage.directory.room_email(room)
    return {d("displayname"): [room.name],
            c("calendar-user-address-set"): [*room_addresses(who, room), email],
            c("calendar-user-type"): ["ROOM"],
            c("calendar-home-set"): [who.href(addresses.room_principal(room.id))],
            cs("email-address-set"): [email]}


SEARCHABLE = {d("displayname"): "Display name",
              c("calendar-user-address-set"): "Calendar user addresses (mailto: and principal URL)",
              c("calendar-user-type"): "Calendar user type (INDIVIDUAL or ROOM)"}
