"""Rights matrix (issue "Hardening"): actors x rooms x verbs x paths over real HTTP.

Against a running ``roomcal serve``: ``seed`` sets up a cast through the CLI (users, a group,
six rooms of different kinds, tokens, feed links), ``Matrix`` runs every cell of the matrix
and compares the answer with an independent oracle
(``expected``, below: a small pure function written from README's "Who may do what",
"Subscription feeds", "Booking API", "Admin API" and the room status rules — it never
imports the project's code).

- Actors: anonymous, a wrong password, a plain user, a booker (through a @group or by
  name), a viewer, a room manager, an admin, read-only tokens of the booker and of the
  admin, a full token of the booker, that token as a Basic password, a feed secret as
  Bearer token, as Basic password and as the link itself (a full and a busy-only feed).
- Rooms: open, restricted (--bookers @group, --managers; the plain user booked before the
  restriction), approval, --viewers (free/busy for others), hidden, unavailable (bookings
  made before); a personal calendar ``/rm-booker/cal/``; global targets (``/rooms/``,
  ``/api/rooms``, ``/api/admin/*``, clear-bookings, ``/.feeds/``).
- Verbs: CalDAV (PROPFIND 0/1, REPORT query/multiget/sync/free-busy, GET item and
  collection, PUT new, PUT with someone else's UID, PUT/DELETE someone else's item and one's
  own, MOVE in and out, PROPPATCH, MKCALENDAR, MKCOL, whole-collection PUT, DELETE of the
  collection), JSCalendar on the same URLs (GET, POST, PUT, PATCH, DELETE), ``/api`` (rooms,
  bookings, one booking, availability, check, book, cancel/reschedule/approve/decline,
  replace, feeds, the seed routes, clear-bookings, admin) and feed links (GET, HEAD, PUT,
  guessed links of other rooms).

Every write is bracketed by a fingerprint of what it could change, read by someone who may
(the admin's getetag of the room collection, which hashes every item and the room's
properties; the owner's of the personal calendar; admin listings for global state): a
refused write must leave it unchanged, an allowed one must change it.  Every answer
(allowed or not) is searched for markers planted in other people's bookings: the title
``SECRET-<kind>-…``, the title ``PRIVATE-<kind>-…`` of a CLASS:PRIVATE booking and the UIDs
``uidsecret-<kind>-…``; an actor the policy does not let see them must never get them, and
listings must not name the hidden room to non-admins.  Allowed reads must contain what they
read (the marker, the href...), so a server that refuses everything fails.

``bench/rights_matrix.py`` runs it and prints the table; ``tests/test_rights_matrix.py`` runs the
whole matrix in the normal suite.  Mismatches that are reported but not fixed are listed in
``KNOWN``.
"""

import collections
import concurrent.futures
import dataclasses
import datetime
import itertools
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Optional, Tuple

import requests

# ==========================================================================================
# The oracle: who may do what, written from README alone (no project code is imported).
# ==========================================================================================
OWNER = "booker"          # whose personal calendar /<user>/cal/ is probed
GROUPS = {"team": ("booker", "victim")}
ROOM_KINDS = ("open", "restricted", "approval", "viewers", "hidden", "unavailable")
KINDS = ROOM_KINDS + ("personal", "global")
PATHS = ("caldav", "json", "api", "feeds")


@dataclasses.dataclass(frozen=True)
class RoomSpec:
    """A room as set up with ``roomcal room add`` (empty bookers/viewers: every user)."""
    bookers: Tuple[str, ...] = ()
    managers: Tuple[str, ...] = ()
    viewers: Tuple[str, ...] = ()
    approval: bool = False
    status: str = "available"


ROOMS = {
    "open": RoomSpec(),
    "restricted": RoomSpec(bookers=("@team",), managers=("manager",)),
    "approval": RoomSpec(managers=("manager",), approval=True),
    "viewers": RoomSpec(bookers=("booker", "victim"), viewers=("viewer",), managers=("manager",)),
    "hidden": RoomSpec(status="hidden"),
    "unavailable": RoomSpec(managers=("manager",), status="unavailable"),
}
FEEDS = {"restricted": False, "viewers": True}  # room kind -> busy-only?
# Setup fact: the restricted room is opened to everyone first, the plain user books, and
# only then --bookers is set: the user keeps bookings in a room they may no longer book.
EX_BOOKERS = {"restricted": ("user",)}


@dataclasses.dataclass(frozen=True)
class Actor:
    name: str
    identity: Optional[str]    # whose rights the credential carries; None: not a valid login
    credential: str            # none, password, wrong-password, token, feed-bearer, feed-basic, feed-link
    read_only: bool = False
    feed: Optional[str] = None  # room kind of the feed whose secret the actor holds


ACTORS = {a.name: a for a in (
    Actor("anonymous", None, "none"),
    Actor("wrong-password", None, "wrong-password"),
    Actor("user", "user", "password"),
    Actor("booker", "booker", "password"),
    Actor("viewer", "viewer", "password"),
    Actor("manager", "manager", "password"),
    Actor("admin", "admin", "password"),
    Actor("booker-ro-token", "booker", "token", read_only=True),
    Actor("admin-ro-token", "admin", "token", read_only=True),
    Actor("booker-token", "booker", "token"),
    Actor("token-as-basic", None, "token-basic"),
    Actor("feed-as-bearer", None, "feed-bearer", feed="restricted"),
    Actor("feed-as-basic", None, "feed-basic", feed="restricted"),
    Actor("feed-link-full", None, "feed-link", feed="restricted"),
    Actor("feed-link-busy", None, "feed-link", feed="viewers"),
)}


def _listed(entries, who: str) -> bool:
    return any(e == who or (e.startswith("@") and who in GROUPS.get(e[1:], ())) for e in entries)


def manages(who: str, room: RoomSpec) -> bool:
    """README: room managers (--managers) and admins change or delete any booking."""
    return who == "admin" or _listed(room.managers, who)


def books(who: str, room: RoomSpec) -> bool:
    """README: bookers (--bookers, default every user) create bookings; managers book too."""
    return manages(who, room) or not room.bookers or _listed(room.bookers, who)


def views(who: str, room: RoomSpec) -> bool:
    """README: with --viewers set, users who are not viewers, bookers, managers or admins
    get free/busy only; without it every user reads every room."""
    return books(who, room) or not room.viewers or _listed(room.viewers, who)


# Per verb, the rule it falls under (rooms; personal calendars are owner-only, see expected).
RULES = {
    # reading: every logged-in user reads every room's metadata, free/busy, /api listings
    # (titles only for those who may view), availability and the dry run
    "propfind0": "any", "report-freebusy": "any", "api-room": "any", "api-list-bookings": "any",
    "api-availability": "any", "api-check": "any",
    # reading bookings themselves: viewers (README: GET, calendar-query, multiget,
    # sync-collection, Depth-1 PROPFIND are 403 for free/busy-only users; /api one booking 403)
    "propfind1": "view", "report-query": "view", "report-multiget": "view", "report-sync": "view",
    "get-item": "view", "get-collection": "view", "json-list": "view", "json-get": "view",
    "api-get-booking": "view", "api-get-private": "view",
    # new bookings: bookers; an unavailable room refuses every new booking (also admins)
    "put-new": "book", "json-post": "book", "api-book": "book", "seed-post": "book",
    "move-in": "book",  # README: MOVE into a room is one of the booking paths
    # taking over someone else's booking by sending its UID as a new booking: never
    # (README: an existing UID -> 409; a new href cannot carry another item's UID)
    "put-new-uid-other": "never", "json-post-uid-other": "never", "api-book-uid-other": "never",
    # one's own booking: README "booker ... create bookings; change or delete their own"
    # (also in an unavailable room, whose bookings "can still be changed, cancelled or deleted")
    "put-own": "own", "delete-own": "own", "json-patch-own": "own", "api-cancel-own": "own",
    "api-reschedule-own": "own", "seed-delete-own": "own",
    # someone else's booking: managers and admins only
    "put-other": "manage", "delete-other": "manage", "move-other": "manage",
    "json-put-other": "manage", "json-patch-other": "manage", "json-delete-other": "manage",
    "api-cancel-other": "manage", "api-reschedule-other": "manage", "seed-delete-other": "manage",
    "api-approve-other": "manage", "api-decline-other": "manage",
    # replace: admins and managers; it stores new bookings, so not in an unavailable room
    "api-replace": "manage-new",
    # feeds over /api and clear-bookings: managers and admins (read-only: list / test mode)
    "api-feeds-list": "manage", "api-feeds-create": "manage", "api-clear": "manage",
    "api-clear-test": "manage",
    # the room collection itself and /api/admin: admins only
    "proppatch": "admin", "delete-room": "admin", "admin-room-get": "admin",
    "admin-room-patch": "admin", "admin-room-delete": "admin",
    "put-collection": "admin-new",  # the uploaded events are new bookings
    # personal calendar only
    "propfind-home": "owner", "mkcalendar-home": "owner",
    # global
    "propfind-rooms": "any", "propfind-own-home": "any", "api-rooms-list": "any", "api-openapi": "any",
    "mkcalendar-room": "admin", "proppatch-rooms": "admin",
    # a plain WebDAV collection under /rooms/ is no room (rooms are calendars: MKCALENDAR,
    # `room add`, /api/admin/rooms), so nobody makes one
    "mkcol-room": "never",
    "delete-rooms-collection": "admin",
    "admin-rooms-list": "admin", "admin-users-list": "admin", "admin-tokens-list": "admin",
    "admin-groups-list": "admin", "admin-rooms-create": "admin", "admin-users-create": "admin",
    "admin-tokens-create": "admin", "admin-group-join": "admin", "admin-self-promote": "admin",
    "api-clear-all": "manage-any",
    # feed links: the link grants its own feed only (GET/HEAD); anything else 404/405
    "feed-get": "own-feed", "feed-head": "own-feed", "feed-put": "never", "feed-index": "never",
}
# Verbs that change state (read-only tokens never may; README "Read-only tokens ... never write").
WRITES = frozenset({
    "put-new", "json-post", "api-book", "seed-post", "move-in", "put-new-uid-other",
    "json-post-uid-other", "api-book-uid-other", "put-own", "delete-own", "json-patch-own",
    "api-cancel-own", "api-reschedule-own", "seed-delete-own", "put-other", "delete-other",
    "move-other", "json-put-other", "json-patch-other", "json-delete-other", "api-cancel-other",
    "api-reschedule-other", "seed-delete-other", "api-approve-other", "api-decline-other",
    "api-replace", "api-feeds-create", "api-clear", "proppatch", "delete-room", "admin-room-patch",
    "admin-room-delete", "put-collection", "mkcalendar-home", "mkcalendar-room", "mkcol-room",
    "proppatch-rooms", "delete-rooms-collection", "admin-rooms-create", "admin-users-create",
    "admin-tokens-create", "admin-group-join", "admin-self-promote", "api-clear-all", "feed-put"})


def expected(actor: str, room_kind: str, verb: str, path: str) -> bool:
    """True when the documented policy allows ``actor`` to do ``verb`` on ``room_kind``
    through ``path``.  Pure: depends only on the tables above."""
    a = ACTORS[actor]
    rule = RULES[verb]
    if rule == "never":
        return False
    if path == "feeds":  # README: the link is the only credential and grants that feed only
        return rule == "own-feed" and a.credential == "feed-link" and a.feed == room_kind
    who = a.identity
    if who is None:      # anonymous, wrong password, a feed secret as credential: 401
        return False
    if verb in WRITES and a.read_only:
        return False
    if room_kind == "personal":  # plain Radicale, owner only (admins included); no /api route
        return path != "api" and who == OWNER
    if room_kind == "global":
        if rule == "any":
            return True
        if rule == "admin":
            return who == "admin"
        if rule == "manage-any":  # clear-bookings without calendar: every room the caller manages
            return any(manages(who, room) for room in ROOMS.values())
        return False
    room = ROOMS[room_kind]
    new_allowed = room.status != "unavailable"
    return {
        "any": True,
        "view": views(who, room),
        "book": books(who, room) and new_allowed,
        "own": books(who, room),  # asked only of actors with a booking of their own there
        "manage": manages(who, room),
        "manage-new": manages(who, room) and new_allowed,
        "admin": who == "admin",
        "admin-new": who == "admin" and new_allowed,
    }.get(rule, False)


def may_see(actor: str, kind: str) -> bool:
    """May the actor ever receive the details (titles) of other people's bookings in ``kind``?"""
    a = ACTORS[actor]
    if a.credential == "feed-link":
        return a.feed == kind and not FEEDS.get(kind, True)  # full feeds carry titles
    if a.identity is None:
        return False
    if kind == "personal":
        return a.identity == OWNER
    if kind in ROOMS:
        return views(a.identity, ROOMS[kind])
    return False


def may_see_private(actor: str, kind: str, verb: str, path: str) -> bool:
    """The title of a CLASS:PRIVATE booking of someone else.  README: /api lists show it to
    the booker and the room's managers only; availability never; the dry run's conflicts
    only "when the booking is not private"; feeds (full ones too) are busy-only for it.
    CalDAV and JSON on the CalDAV URLs: README says nothing, Radicale serves items as they
    are stored, so whoever reads the room's bookings reads it (a policy doubt, reported)."""
    a = ACTORS[actor]
    if a.identity is None or kind not in ROOMS:
        return False
    room = ROOMS[kind]
    if path in ("caldav", "json"):
        return views(a.identity, room)
    if verb in ("api-availability", "api-check"):
        return False
    return manages(a.identity, room)


def may_see_uid(actor: str, kind: str) -> bool:
    """Someone else's UID (and href, which carries it).  README: availability gives uid and
    href "only for those who may read the room's bookings", lists give free/busy callers
    times only, busy-only feeds replace UIDs by an HMAC because UIDs such as ``ceo-1on1``
    "say what a booking is"; full feeds carry bookings as stored."""
    a = ACTORS[actor]
    if a.credential == "feed-link":
        return a.feed == kind and not FEEDS.get(kind, True)
    if a.identity is None:
        return False
    if kind in ROOMS:
        return views(a.identity, ROOMS[kind])
    return kind == "personal" and a.identity == OWNER


def sees_hidden(actor: str) -> bool:
    """README: hidden rooms are left out of listings for everyone but admins."""
    return ACTORS[actor].identity == "admin"


# ==========================================================================================
# The matrix: verbs, which cells exist, and the cast
# ==========================================================================================
@dataclasses.dataclass(frozen=True)
class Verb:
    name: str
    path: str                    # caldav, json, api, feeds
    kinds: Tuple[str, ...]
    target: Optional[str] = None  # victim (someone else's), own, private, loot, cancelled
    proof: Optional[str] = None   # what an allowed read must contain: marker, href, room, ...
    scope: str = "room"           # what a write may change: room, room+feeds, personal, home, global
    final: bool = False           # destroys its target: run after everything else
    unsafe: bool = False          # a read sent with an unsafe method: must change nothing either
    listing: bool = False         # lists rooms: must not name the hidden room to non-admins


RK = ROOM_KINDS
RP = ROOM_KINDS + ("personal",)
VERBS = {v.name: v for v in (
    # -- CalDAV ------------------------------------------------------------------------------
    Verb("propfind0", "caldav", RP, proof="collection"),
    Verb("propfind1", "caldav", RP, "victim", proof="href"),
    Verb("report-query", "caldav", RP, "victim", proof="marker"),
    Verb("report-multiget", "caldav", RP, "victim", proof="marker"),
    Verb("report-sync", "caldav", RP, "victim", proof="marker"),
    Verb("report-freebusy", "caldav", RP, "victim", proof="freebusy"),
    Verb("get-item", "caldav", RP, "victim", proof="marker"),
    Verb("get-collection", "caldav", RP, "victim", proof="marker"),
    Verb("propfind-home", "caldav", ("personal",), "victim", proof="collection"),
    Verb("put-new", "caldav", RP),
    Verb("put-new-uid-other", "caldav", RP, "victim"),
    Verb("move-in", "caldav", RP, "loot"),
    Verb("put-own", "caldav", RK, "own"),
    Verb("put-other", "caldav", RP, "victim"),
    Verb("delete-own", "caldav", RK, "own"),
    Verb("delete-other", "caldav", RP, "victim"),
    Verb("move-other", "caldav", RP, "victim"),
    Verb("proppatch", "caldav", RP),
    Verb("mkcalendar-home", "caldav", ("personal",), scope="home"),
    Verb("put-collection", "caldav", RP, final=True),
    Verb("delete-room", "caldav", RP, final=True),
    # -- JSCalendar on the CalDAV URLs -------------------------------------------------------
    Verb("json-list", "json", RP, "victim", proof="marker"),
    Verb("json-get", "json", RP, "victim", proof="marker"),
    Verb("json-post", "json", RP),
    Verb("json-post-uid-other", "json", RP, "victim"),
    Verb("json-put-other", "json", RP, "victim"),
    Verb("json-patch-other", "json", RP, "victim"),
    Verb("json-patch-own", "json", RK, "own"),
    Verb("json-delete-other", "json", RP, "victim"),
    # -- /api --------------------------------------------------------------------------------
    Verb("api-room", "api", RP, proof="room"),
    Verb("api-list-bookings", "api", RK, "victim", proof="marker-if-visible"),
    Verb("api-get-booking", "api", RK, "victim", proof="marker"),
    Verb("api-get-private", "api", RK, "private", proof="private-if-visible"),
    Verb("api-availability", "api", RK, "victim", proof="marker-if-visible"),
    Verb("api-check", "api", RK, "victim", proof="marker-if-visible", unsafe=True),
    Verb("api-book", "api", RK),
    Verb("api-book-uid-other", "api", RK, "victim"),
    Verb("api-cancel-other", "api", RK, "victim"),
    Verb("api-cancel-own", "api", RK, "own"),
    Verb("api-reschedule-other", "api", RK, "victim"),
    Verb("api-reschedule-own", "api", RK, "own"),
    Verb("api-approve-other", "api", ("approval",), "victim"),
    Verb("api-decline-other", "api", ("approval",), "victim"),
    Verb("api-replace", "api", RK),
    Verb("api-feeds-list", "api", RK, proof="feeds"),
    Verb("api-feeds-create", "api", RK, scope="room+feeds"),
    Verb("seed-post", "api", RP),
    Verb("seed-delete-other", "api", RK, "victim"),
    Verb("seed-delete-own", "api", RK, "own"),
    Verb("api-clear", "api", RK, "cancelled"),
    Verb("api-clear-test", "api", RK, "cancelled", unsafe=True),
    Verb("admin-room-get", "api", RK, proof="room"),
    Verb("admin-room-patch", "api", RK),
    Verb("admin-room-delete", "api", RK, final=True),
    # -- global ------------------------------------------------------------------------------
    Verb("propfind-rooms", "caldav", ("global",), proof="rooms", listing=True),
    Verb("propfind-own-home", "caldav", ("global",), listing=True),
    Verb("mkcalendar-room", "caldav", ("global",), scope="global"),
    Verb("mkcol-room", "caldav", ("global",), scope="global"),
    Verb("proppatch-rooms", "caldav", ("global",), scope="global"),
    Verb("delete-rooms-collection", "caldav", ("global",), scope="global", final=True),
    Verb("api-rooms-list", "api", ("global",), proof="rooms", listing=True),
    Verb("api-openapi", "api", ("global",), proof="openapi"),
    Verb("admin-rooms-list", "api", ("global",), proof="rooms"),
    Verb("admin-users-list", "api", ("global",), proof="users"),
    Verb("admin-tokens-list", "api", ("global",), proof="tokens"),
    Verb("admin-groups-list", "api", ("global",), proof="groups"),
    Verb("admin-rooms-create", "api", ("global",), scope="global"),
    Verb("admin-users-create", "api", ("global",), scope="global"),
    Verb("admin-tokens-create", "api", ("global",), scope="global"),
    Verb("admin-group-join", "api", ("global",), scope="global"),
    Verb("admin-self-promote", "api", ("global",), scope="global"),
    Verb("api-clear-all", "api", ("global",), "cancelled", scope="global"),
    # -- feed links --------------------------------------------------------------------------
    Verb("feed-get", "feeds", RK, "victim", proof="feed"),
    Verb("feed-head", "feeds", RK),
    Verb("feed-put", "feeds", RK),
    Verb("feed-index", "feeds", ("global",)),
)}
assert set(VERBS) == set(RULES), set(VERBS) ^ set(RULES)

USERNAMES = {"user": "rm-user", "booker": "rm-booker", "viewer": "rm-viewer", "manager": "rm-mgr",
             "admin": "rm-admin", "victim": "rm-victim"}
IDENTITIES = ("user", "booker", "viewer", "manager", "admin")
PERSONAL = f"/{USERNAMES[OWNER]}/cal/"


def room_id(kind: str) -> str:
    return f"rm-{kind}"


def password(identity: str) -> str:
    return f"pw-{USERNAMES[identity]}-matrix"


def has_own(identity: str, kind: str) -> bool:
    """Setup, not policy: who gets bookings of their own (made while the room was open to
    them: the unavailable room is made unavailable, the restricted one restricted, later)."""
    return kind in ROOMS and (books(identity, ROOMS[kind]) or identity in EX_BOOKERS.get(kind, ()))


def applicable(actor: str, kind: str, verb: str) -> bool:
    """Which (actor, kind, verb) combinations are cells of the matrix."""
    a, v = ACTORS[actor], VERBS[verb]
    if kind not in v.kinds:
        return False
    if a.credential == "feed-link":  # no credentials but the link: only the feed paths
        return v.path == "feeds"
    if v.path == "feeds":  # everyone else only guesses links (credentials do not matter there)
        return verb in ("feed-get", "feed-index") and a.credential in ("none", "password")
    if v.target == "own":
        return a.identity is not None and has_own(a.identity, kind)
    if verb == "delete-rooms-collection" and a.identity == "admin" and not a.read_only:
        return False  # an admin may; the matrix would lose every room
    return True


# -- the cast, through the real CLI ------------------------------------------------------------
@dataclasses.dataclass
class Cast:
    tokens: Dict[str, str]                    # actor name -> API token
    feeds: Dict[str, Tuple[str, str]]         # room kind -> (feed id, secret)


def _names(entries) -> str:
    return ",".join(e if e.startswith("@") else USERNAMES[e] for e in entries)


def room_options(kind: str) -> List[str]:
    """``roomcal room add`` options of a room kind.  Left for later (``Matrix.prepare``):
    --bookers of rooms with ex-bookers and the unavailable status."""
    spec = ROOMS[kind]
    options = ["--name", f"Matrix {kind}", "--timezone", "UTC"]
    if spec.bookers and kind not in EX_BOOKERS:
        options += ["--bookers", _names(spec.bookers)]
    if spec.managers:
        options += ["--managers", _names(spec.managers)]
    if spec.viewers:
        options += ["--viewers", _names(spec.viewers)]
    if spec.approval:
        options.append("--approval")
    if spec.status == "hidden":
        options += ["--status", "hidden"]
    return options


def seed(cli: Callable[..., str]) -> Cast:
    """Users, group, rooms, tokens and feeds through ``roomcal`` (``cli(*args) -> stdout``)."""
    for identity, name in USERNAMES.items():
        cli("user", "add", name, "--password", password(identity), *(["--admin"] if identity == "admin" else []))
    for group, members in GROUPS.items():
        cli("group", "add", group, *[USERNAMES[m] for m in members])
    for kind in ROOM_KINDS:
        cli("room", "add", room_id(kind), *room_options(kind))
    tokens = {}
    for actor in ACTORS.values():
        if actor.credential == "token":
            extra = ["--read-only"] if actor.read_only else []
            tokens[actor.name] = cli("token", "create", USERNAMES[actor.identity], "--label", actor.name,
                                     *extra).strip().splitlines()[-1]
    feeds = {}
    for kind, busy in FEEDS.items():
        url = cli("feed", "create", room_id(kind), *(["--busy-only"] if busy else []),
                  "--label", f"matrix {kind}").strip().splitlines()[-1]
        secret = url.rsplit("/", 1)[1][:-len(".ics")]
        feeds[kind] = (secret.split("_")[1], secret)
    return Cast(tokens, feeds)


# ==========================================================================================
# Running the cells
# ==========================================================================================
SLOT = datetime.timedelta(minutes=30)  # every booking is one slot; slots are back to back
BASE = (datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0,
                                                              tzinfo=None) + datetime.timedelta(days=40))
DAV = "{DAV:}"
XML = {"Content-Type": "application/xml; charset=utf-8"}
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}
PROPFIND = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '<D:displayname/><D:resourcetype/></D:prop></D:propfind>')
QUERY = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
         '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>'
         '</C:filter></C:calendar-query>')
MULTIGET = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
            '<D:href>{href}</D:href></C:calendar-multiget>')
SYNC = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/><D:sync-level>1</D:sync-level>'
        '<D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>')
FREEBUSY = ('<?xml version="1.0" encoding="utf-8"?><C:free-busy-query '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="{start}" end="{end}"/>'
            '</C:free-busy-query>')
PROPPATCH = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             '<D:displayname>{name}</D:displayname></D:prop></D:set></D:propertyupdate>')
MKCALENDAR = ('<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>{name}'
              '</D:displayname></D:prop></D:set></C:mkcalendar>')
PROBLEMS = ("server-error", "unauthorised-write", "unauthorised-read", "wrongly-refused")


@dataclasses.dataclass
class Item:
    href: str        # full path
    uid: str
    slot: int


@dataclasses.dataclass
class Cell:
    actor: str
    kind: str
    verb: str
    path: str
    write: bool
    expected: bool
    status: int = 0
    allowed: bool = False           # what the server did: 2xx (and, for a write, state changed)
    changed: Optional[bool] = None  # state before != after (writes and unsafe reads)
    problem: str = ""               # the worst of problems, "" when the cell agrees with the policy
    problems: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    known: str = ""                 # name of the KNOWN discrepancy covering every problem

    def to_json(self) -> dict:
        body = dataclasses.asdict(self)
        body["problems"] = [list(p) for p in self.problems]
        return body


def slot_start(slot: int) -> datetime.datetime:
    return BASE + slot * SLOT


def ical_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def ics(uid: str, slot: int, summary: str, extra: str = "") -> str:
    start = slot_start(slot)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//roomcal rights matrix//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{ical_time(start)}",
             f"DTEND:{ical_time(start + SLOT)}", f"SUMMARY:{summary}"]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def local(slot: int, slots: int = 0) -> str:
    """A slot's start (plus ``slots`` slots) as a naive ISO time: the rooms are in UTC."""
    return (slot_start(slot) + slots * SLOT).strftime("%Y-%m-%dT%H:%M:%S")


class SetupError(RuntimeError):
    pass


class Matrix:
    """One server, one cast: ``prepare()`` then ``run()``; ``cells`` holds the answers."""

    def __init__(self, url: str, cast: Cast, cli: Callable[..., str]):
        self.url = url.rstrip("/")
        self.cast = cast
        self.cli = cli
        tag = uuid.uuid4().hex[:10]
        self.titles = {k: f"SECRET-{k}-{tag}" for k in RP}           # summaries of others' bookings
        self.privates = {k: f"PRIVATE-{k}-{tag}" for k in ROOM_KINDS}  # summary of a CLASS:PRIVATE one
        self.uids = {k: f"uidsecret-{k}-{tag}" for k in ROOM_KINDS}   # in the UIDs of others' bookings
        self.slots = itertools.count()
        self.counter = itertools.count()
        self.requests = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self.victims: Dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.current: Dict[str, Optional[Item]] = {}
        self.own: Dict[tuple, collections.deque] = collections.defaultdict(collections.deque)
        self.private: Dict[str, Item] = {}
        self.cancelled: Dict[str, bool] = {}
        self.room_json: Dict[str, dict] = {}
        self.fingerprints: Dict[str, dict] = {}  # kind -> {scope: state}; one thread per kind
        self.cells: List[Cell] = []

    # -- sessions (one per actor and thread) ---------------------------------------------------
    def session(self, who: str) -> requests.Session:
        """``who``: an actor's name, or ``as:<identity>`` for setup and fingerprints."""
        sessions = self._local.__dict__.setdefault("sessions", {})
        if who not in sessions:
            s = requests.Session()
            if who.startswith("as:"):
                identity = who[3:]
                s.auth = (USERNAMES[identity], password(identity))
            else:
                a = ACTORS[who]
                if a.credential == "password":
                    s.auth = (USERNAMES[a.identity], password(a.identity))
                elif a.credential == "wrong-password":
                    s.auth = (USERNAMES["booker"], "not-the-password")
                elif a.credential == "token":
                    s.headers["Authorization"] = f"Bearer {self.cast.tokens[a.name]}"
                elif a.credential == "token-basic":
                    s.auth = (USERNAMES["booker"], self.cast.tokens["booker-token"])
                elif a.credential == "feed-bearer":
                    s.headers["Authorization"] = f"Bearer {self.cast.feeds[a.feed][1]}"
                elif a.credential == "feed-basic":
                    s.auth = (USERNAMES["manager"], self.cast.feeds[a.feed][1])
            sessions[who] = s
        return sessions[who]

    def http(self, who: str, method: str, path: str, **kwargs) -> requests.Response:
        with self._lock:
            self.requests += 1
        session, used = self.session(who), self._local.__dict__.setdefault("used", {})
        if time.monotonic() - used.get(who, 0) > 3:
            # gunicorn closes a connection idle for 5 s (keepalive); a request sent on it just
            # then fails without reaching the server (as in support/fuzz.py): start afresh
            session.close()
        response = session.request(method, self.url + path, timeout=120, allow_redirects=False, **kwargs)
        used[who] = time.monotonic()
        _ = response.content
        return response

    @staticmethod
    def must(response, *codes):
        if response.status_code not in codes:
            raise SetupError(f"{response.request.method} {response.request.url} -> "
                             f"{response.status_code}: {response.text[:300]}")
        return response

    # -- setup over HTTP ----------------------------------------------------------------------
    def prepare(self, pool: int = 40):
        """Loot calendars (MOVE targets and sources), the personal calendar, a private booking
        per room; bookings of ex-bookers and of the unavailable room while they may still be
        made; then ``roomcal room set`` restricts and disables those rooms."""
        for identity in IDENTITIES:
            self.must(self.http(f"as:{identity}", "MKCALENDAR", f"/{USERNAMES[identity]}/loot/",
                                data=MKCALENDAR.format(name="loot"), headers=XML), 201)
        self.must(self.http(f"as:{OWNER}", "MKCALENDAR", PERSONAL, data=MKCALENDAR.format(name="Private"),
                            headers=XML), 201)
        for n, kind in enumerate(ROOM_KINDS):
            body = self.must(self.http("as:admin", "GET", f"/api/admin/rooms/{room_id(kind)}"), 200).json()
            self.room_json[kind] = {k: v for k, v in body.items() if k not in ("may", "href")}
            uid = str(uuid.uuid4())
            item = Item(f"{self.base(kind)}{uid}.ics", uid, -1 - n)  # the slots before BASE
            self.must(self.http("as:victim", "PUT", item.href, headers=ICAL, data=ics(
                uid, item.slot, f"{self.privates[kind]} private talk", "CLASS:PRIVATE")), 201)
            self.private[kind] = item
        for kind, identities in EX_BOOKERS.items():
            for identity in identities:
                for _ in range(10):
                    self.own[(identity, kind)].append(self._new_own(identity, kind))
            self.cli("room", "set", room_id(kind), "--bookers", _names(ROOMS[kind].bookers))
            self.room_json[kind]["bookers"] = [e if e.startswith("@") else USERNAMES[e]
                                               for e in ROOMS[kind].bookers]
        for kind, spec in ROOMS.items():
            if spec.status != "unavailable":
                continue
            for _ in range(pool):
                self.victims[kind].append(self._new_victim(kind))
            for identity in IDENTITIES:
                if has_own(identity, kind):
                    for _ in range(15 if identity == OWNER else 10):
                        self.own[(identity, kind)].append(self._new_own(identity, kind))
            self.cli("room", "set", room_id(kind), "--status", "unavailable", "--status-reason", "matrix")
            self.room_json[kind]["status"] = "unavailable"

    def base(self, kind: str) -> str:
        return PERSONAL if kind == "personal" else f"/rooms/{room_id(kind)}/"

    def _dirty(self, kind: str):
        self.fingerprints.pop(kind, None)

    def _new_victim(self, kind: str) -> Item:
        slot = next(self.slots)
        uid = f"{self.uids[kind]}-{slot}" if kind in self.uids else str(uuid.uuid4())
        href = f"{self.base(kind)}{uid}.ics"
        self.must(self.http(f"as:{OWNER}" if kind == "personal" else "as:victim", "PUT", href, headers=ICAL,
                            data=ics(uid, slot, f"{self.titles[kind]} someone else's")), 201)
        self._dirty(kind)
        return Item(href, uid, slot)

    def _new_own(self, identity: str, kind: str) -> Item:
        uid, slot = str(uuid.uuid4()), next(self.slots)
        href = f"{self.base(kind)}{uid}.ics"
        self.must(self.http(f"as:{identity}", "PUT", href, headers=ICAL,
                            data=ics(uid, slot, f"Own booking of {identity}")), 201)
        self._dirty(kind)
        return Item(href, uid, slot)

    def _creatable(self, kind: str, identity: str = "victim") -> bool:
        if kind == "personal":
            return True
        spec = ROOMS[kind]
        return spec.status != "unavailable" and books(identity, spec)

    def victim(self, kind: str) -> Optional[Item]:
        if self.current.get(kind) is None:
            if self.victims[kind]:
                self.current[kind] = self.victims[kind].popleft()
            elif not self._creatable(kind):
                return None  # pool used up (only when writes were let through that should not be)
            else:
                self._ensure_exists(kind)
                self.current[kind] = self._new_victim(kind)
        return self.current[kind]

    def own_item(self, identity: str, kind: str) -> Optional[Item]:
        pool = self.own[(identity, kind)]
        if not pool:
            if not self._creatable(kind, identity):
                return None
            pool.append(self._new_own(identity, kind))
        return pool[0]

    def loot_item(self, actor: str) -> Item:
        """A booking in the actor's own (loot) calendar, for MOVE into a room."""
        identity = ACTORS[actor].identity or "user"
        uid, slot = str(uuid.uuid4()), next(self.slots)
        href = f"/{USERNAMES[identity]}/loot/{uid}.ics"
        self.must(self.http(f"as:{identity}", "PUT", href, headers=ICAL,
                            data=ics(uid, slot, f"Moved in by {actor}")), 201)
        return Item(href, uid, slot)

    def ensure_cancelled(self, kind: str) -> bool:
        """A cancelled booking in the room (clear-bookings deletes those), as the admin."""
        k = kind if kind in ROOMS else "approval"
        if not self.cancelled.get(k):
            item = self.victim(k)
            if item is None:
                return False
            self.must(self.http("as:admin", "POST", f"/api/rooms/{room_id(k)}/bookings/{item.uid}/cancel",
                                json={}), 200)
            self._dirty(k)
            self.current[k] = None
            self.cancelled[k] = True
        return True

    def _ensure_exists(self, kind: str):
        """Bring back a room or the personal calendar that an allowed destructive cell removed."""
        if kind == "personal":
            if self.http(f"as:{OWNER}", "PROPFIND", PERSONAL, data=PROPFIND,
                         headers={**XML, "Depth": "0"}).status_code == 404:
                self.must(self.http(f"as:{OWNER}", "MKCALENDAR", PERSONAL,
                                    data=MKCALENDAR.format(name="Private"), headers=XML), 201)
                self._dirty(kind)
        elif kind in ROOMS:
            if self.http("as:admin", "GET", f"/api/rooms/{room_id(kind)}").status_code == 404:
                self.must(self.http("as:admin", "POST", "/api/admin/rooms", json=self.room_json[kind]), 201)
                self._dirty(kind)

    # -- fingerprints: what a write may change, read by someone who may read it ----------------
    def _listing(self, who: str, path: str, depth: str, etags: bool = True):
        response = self.http(who, "PROPFIND", path, data=PROPFIND, headers={**XML, "Depth": depth})
        if response.status_code == 404:
            return "absent"
        if response.status_code != 207:
            raise SetupError(f"fingerprint PROPFIND {path} -> {response.status_code}")
        found = []
        for node in ET.fromstring(response.content).iter(f"{DAV}response"):
            href = node.findtext(f"{DAV}href")
            etag = next((e.text for e in node.iter(f"{DAV}getetag")), None) if etags else None
            name = next((e.text for e in node.iter(f"{DAV}displayname")), None) if etags else None
            found.append((href, etag, name))
        return tuple(sorted(found, key=str))

    def state(self, kind: str, scope: str):
        if scope == "global" or kind == "global":
            return (self._listing("as:admin", "/rooms/", "1"),
                    *(self.must(self.http("as:admin", "GET", f"/api/admin/{what}"), 200).text
                      for what in ("users", "tokens", "groups")))
        if scope == "home":  # the calendars in the owner's home (not their contents: loot changes)
            return self._listing(f"as:{OWNER}", f"/{USERNAMES[OWNER]}/", "1", etags=False)
        if kind == "personal":  # the calendar's getetag hashes its items and properties
            return self._listing(f"as:{OWNER}", PERSONAL, "0")
        room = self._listing("as:admin", self.base(kind), "0")
        if scope == "room+feeds":
            feeds = self.http("as:admin", "GET", f"/api/rooms/{room_id(kind)}/feeds")
            return room, feeds.text if feeds.status_code == 200 else feeds.status_code
        return room

    def _scope(self, kind: str, verb: Verb) -> str:
        if kind == "personal" and verb.scope != "home":
            return "personal"
        return verb.scope

    # -- one cell ---------------------------------------------------------------------------
    def target(self, actor: str, kind: str, verb: str):
        v = VERBS[verb]
        if v.target == "victim":
            return self.victim(kind) if kind != "global" else True
        if v.target == "own":
            return self.own_item(ACTORS[actor].identity, kind)
        if v.target == "private":
            return self.private[kind]
        if v.target == "loot":
            return self.loot_item(actor)
        if v.target == "cancelled":
            return self.ensure_cancelled(kind) or None
        return True

    def request(self, actor: str, kind: str, verb: str, item) -> Tuple[str, str, dict]:
        """(method, path, requests keyword arguments) of one cell."""
        a = ACTORS[actor]
        n = next(self.counter)
        base, rid = self.base(kind), room_id(kind)
        calendar = "cal" if kind == "personal" else rid  # what a seed-route script would name
        accept_json = {"Accept": "application/json"}
        new_uid = f"matrix-{n}-{uuid.uuid4().hex[:8]}"
        who = a.identity
        me = USERNAMES[who] if who else USERNAMES["user"]
        depth1 = {**XML, "Depth": "1"}

        def event(uid=None, title=None, slot=None):
            body = {"@type": "Event", "title": title or f"New by {actor} {n}",
                    "start": local(next(self.slots) if slot is None else slot),
                    "timeZone": "Etc/UTC", "duration": "PT30M"}
            if uid:
                body["uid"] = uid
            return body

        def span(slot):
            return {"start": local(slot), "end": local(slot, 1)}
        if verb == "propfind0":
            return "PROPFIND", base, {"data": PROPFIND, "headers": {**XML, "Depth": "0"}}
        if verb == "propfind1":
            return "PROPFIND", base, {"data": PROPFIND, "headers": depth1}
        if verb == "propfind-home":
            return "PROPFIND", f"/{USERNAMES[OWNER]}/", {"data": PROPFIND, "headers": depth1}
        if verb == "report-query":
            return "REPORT", base, {"data": QUERY, "headers": depth1}
        if verb == "report-multiget":
            return "REPORT", base, {"data": MULTIGET.format(href=item.href), "headers": depth1}
        if verb == "report-sync":
            return "REPORT", base, {"data": SYNC, "headers": depth1}
        if verb == "report-freebusy":
            start = slot_start(item.slot) - datetime.timedelta(days=1)
            body = FREEBUSY.format(start=ical_time(start), end=ical_time(start + datetime.timedelta(days=3)))
            return "REPORT", base, {"data": body, "headers": depth1}
        if verb == "get-item":
            return "GET", item.href, {}
        if verb == "get-collection":
            return "GET", base, {"headers": {"Accept": "text/calendar"}}
        if verb == "put-new":
            return "PUT", f"{base}{new_uid}.ics", {"data": ics(new_uid, next(self.slots), f"New by {actor}"),
                                                     "headers": {**ICAL, "If-None-Match": "*"}}
        if verb == "put-new-uid-other":
            return "PUT", f"{base}{new_uid}.ics", {"data": ics(item.uid, item.slot, f"Taken over by {actor}"),
                                                     "headers": ICAL}
        if verb == "move-in":
            return "MOVE", item.href, {"headers": {"Destination": f"{self.url}{base}{new_uid}.ics",
                                                   "Overwrite": "F"}}
        if verb in ("put-own", "put-other"):
            return "PUT", item.href, {"data": ics(item.uid, item.slot, f"Changed by {actor} {n}"),
                                      "headers": ICAL}
        if verb in ("delete-own", "delete-other"):
            return "DELETE", item.href, {}
        if verb == "move-other":
            return "MOVE", item.href, {"headers": {"Destination": f"{self.url}/{me}/loot/{new_uid}.ics",
                                                   "Overwrite": "F"}}
        if verb == "proppatch":
            return "PROPPATCH", base, {"data": PROPPATCH.format(name=f"Renamed by {actor} {n}"), "headers": XML}
        if verb == "mkcalendar-home":
            return "MKCALENDAR", f"/{USERNAMES[OWNER]}/made-{n}/", {"data": MKCALENDAR.format(name=actor),
                                                                     "headers": XML}
        if verb == "put-collection":
            return "PUT", base, {"data": ics(new_uid, next(self.slots), f"Replaced by {actor}"), "headers": ICAL}
        if verb == "delete-room":
            return "DELETE", base, {}
        # -- JSON ------------------------------------------------------------------------------
        if verb == "json-list":
            return "GET", base, {"headers": accept_json}
        if verb == "json-get":
            return "GET", item.href, {"headers": accept_json}
        if verb == "json-post":
            return "POST", base, {"json": event()}
        if verb == "json-post-uid-other":
            return "POST", base, {"json": event(uid=item.uid, slot=item.slot, title=f"Taken over by {actor}")}
        if verb == "json-put-other":
            return "PUT", item.href, {"json": event(uid=item.uid, slot=item.slot, title=f"Put by {actor} {n}")}
        if verb in ("json-patch-other", "json-patch-own"):
            return "PATCH", item.href, {"json": {"title": f"Patched by {actor} {n}"}}
        if verb == "json-delete-other":
            return "DELETE", item.href, {"headers": accept_json}
        # -- /api ------------------------------------------------------------------------------
        if verb == "api-room":
            return "GET", f"/api/rooms/{calendar}", {}
        if verb == "api-list-bookings":
            return "GET", f"/api/rooms/{rid}/bookings", {}
        if verb in ("api-get-booking", "api-get-private"):
            return "GET", f"/api/rooms/{rid}/bookings/{item.uid}", {}
        if verb == "api-availability":  # from the private booking's day to the victim's
            return "GET", f"/api/rooms/{rid}/availability", {"params": {
                "start": slot_start(self.private[kind].slot).date().isoformat(),
                "end": slot_start(item.slot).date().isoformat()}}
        if verb == "api-check":  # one long candidate over the private booking and the victim
            return "POST", f"/api/rooms/{rid}/check", {"json": {
                "title": "probe", "start": local(self.private[kind].slot), "end": local(item.slot, 1)}}
        if verb == "api-book":
            return "POST", f"/api/rooms/{rid}/bookings", {"json": {"title": f"Booked by {actor} {n}",
                                                                    **span(next(self.slots))}}
        if verb == "api-book-uid-other":
            return "POST", f"/api/rooms/{rid}/bookings", {
                "json": event(uid=item.uid, slot=item.slot, title=f"Taken over by {actor}")}
        if verb in ("api-cancel-other", "api-cancel-own"):
            return "POST", f"/api/rooms/{rid}/bookings/{item.uid}/cancel", {"json": {"reason": "matrix"}}
        if verb in ("api-reschedule-other", "api-reschedule-own"):
            return "POST", f"/api/rooms/{rid}/bookings/{item.uid}/reschedule", {
                "json": {"start": local(next(self.slots))}}
        if verb == "api-approve-other":
            return "POST", f"/api/rooms/{rid}/bookings/{item.uid}/approve", {"json": {}}
        if verb == "api-decline-other":
            return "POST", f"/api/rooms/{rid}/bookings/{item.uid}/decline", {"json": {"reason": "matrix"}}
        if verb == "api-replace":
            slot = next(self.slots)
            return "POST", f"/api/rooms/{rid}/bookings/replace", {"json": {
                "period": span(slot), "bookings": [{"title": f"Replaced by {actor} {n}", **span(slot)}]}}
        if verb == "api-feeds-list":
            return "GET", f"/api/rooms/{rid}/feeds", {}
        if verb == "api-feeds-create":
            return "POST", f"/api/rooms/{rid}/feeds", {"json": {"busyOnly": True, "label": f"by {actor}"}}
        if verb == "seed-post":
            return "POST", f"/api/{calendar}/events/", {"json": {"name": f"Seeded by {actor} {n}",
                                                                 **span(next(self.slots))}}
        if verb in ("seed-delete-other", "seed-delete-own"):
            return "DELETE", f"/api/{rid}/events/{item.uid}", {}
        if verb == "api-clear":
            return "DELETE", "/api/clear-bookings", {"params": {"calendar": rid}}
        if verb == "api-clear-test":
            return "DELETE", "/api/clear-bookings", {"params": {"calendar": rid, "test": "1"}}
        if verb == "admin-room-get":
            return "GET", f"/api/admin/rooms/{rid}", {}
        if verb == "admin-room-patch":
            # a harmless change for the admin; everyone else tries to make themselves manager
            body = ({"location": f"Moved by {actor} {n}"} if who == "admin" and not a.read_only
                    else {"managers": [me], "location": f"By {actor} {n}"})
            return "PATCH", f"/api/admin/rooms/{rid}", {"json": body}
        if verb == "admin-room-delete":
            return "DELETE", f"/api/admin/rooms/{rid}", {"params": {"force": "1"}}
        # -- global ----------------------------------------------------------------------------
        if verb == "propfind-rooms":
            return "PROPFIND", "/rooms/", {"data": PROPFIND, "headers": depth1}
        if verb == "propfind-own-home":
            return "PROPFIND", f"/{me}/", {"data": PROPFIND, "headers": depth1}
        if verb == "mkcalendar-room":
            return "MKCALENDAR", f"/rooms/rm-made-{n}/", {"data": MKCALENDAR.format(name=actor), "headers": XML}
        if verb == "mkcol-room":
            return "MKCOL", f"/rooms/rm-col-{n}/", {}
        if verb == "proppatch-rooms":
            return "PROPPATCH", "/rooms/", {"data": PROPPATCH.format(name=f"Rooms by {actor} {n}"), "headers": XML}
        if verb == "delete-rooms-collection":
            return "DELETE", "/rooms/", {}
        if verb == "api-rooms-list":
            return "GET", "/api/rooms", {}
        if verb == "api-openapi":
            return "GET", "/api/openapi.json", {}
        if verb in ("admin-rooms-list", "admin-users-list", "admin-tokens-list", "admin-groups-list"):
            return "GET", f"/api/admin/{verb.split('-')[1]}", {}
        if verb == "admin-rooms-create":
            return "POST", "/api/admin/rooms", {"json": {"id": f"rm-new-{n}", "name": f"By {actor}"}}
        if verb == "admin-users-create":
            return "POST", "/api/admin/users", {"json": {"name": f"rm-new-{n}", "password": "new-pw",
                                                         "admin": True}}
        if verb == "admin-tokens-create":  # a token of the admin: the shortest way up
            return "POST", "/api/admin/tokens", {"json": {"user": USERNAMES["admin"], "label": f"by {actor} {n}"}}
        if verb == "admin-group-join":
            return "POST", f"/api/admin/groups/{next(iter(GROUPS))}/members", {"json": {"members": [me]}}
        if verb == "admin-self-promote":
            return "PATCH", f"/api/admin/users/{me}", {"json": {"admin": True, "email": f"up-{n}@example.org"}}
        if verb == "api-clear-all":
            return "DELETE", "/api/clear-bookings", {}
        # -- feeds -----------------------------------------------------------------------------
        if verb == "feed-index":
            return "GET", "/.feeds/", {}
        if verb in ("feed-get", "feed-head", "feed-put"):
            method = {"feed-get": "GET", "feed-head": "HEAD", "feed-put": "PUT"}[verb]
            kwargs = {"data": ics(new_uid, next(self.slots), "Pushed into a feed"), "headers": ICAL} \
                if verb == "feed-put" else {}
            return method, self.feed_link(actor, kind), kwargs
        raise AssertionError(verb)

    def feed_link(self, actor: str, kind: str) -> str:
        """The link the actor would use for ``kind``: its own, else a guess (the room's real
        feed id, which is public, with the random part the actor knows, or made up)."""
        a = ACTORS[actor]
        if a.feed is not None:
            secret = self.cast.feeds[a.feed][1]
            if a.feed == kind:
                return f"/.feeds/{secret}.ics"
            random_part = secret[len("rcf_") + 13:]
        else:
            random_part = (uuid.uuid4().hex + uuid.uuid4().hex)[:43]
        feed_id = self.cast.feeds[kind][0] if kind in self.cast.feeds else uuid.uuid4().hex[:12]
        return f"/.feeds/rcf_{feed_id}_{random_part}.ics"

    def run_cell(self, actor: str, kind: str, verb: str) -> Cell:
        v = VERBS[verb]
        write = verb in WRITES
        cell = Cell(actor, kind, verb, v.path, write, expected(actor, kind, verb, v.path))
        item = self.target(actor, kind, verb)
        if item is None:
            cell.problem, cell.problems = "skipped", [("skipped", "no target left")]
            self._add(cell)
            return cell
        if v.final:  # a room (or calendar) a previous destructive cell removed comes back
            self._ensure_exists(kind)
        scope = self._scope(kind, v)
        check_state = write or v.unsafe
        cacheable = scope in ("room", "personal")
        if check_state:
            before = self.fingerprints.get(kind, {}).get(scope) if cacheable else None
            if before is None:
                before = self.state(kind, scope)
        method, path, kwargs = self.request(actor, kind, verb, item)
        response = self.http(actor, method, path, **kwargs)
        cell.status = response.status_code
        ok = 200 <= response.status_code < 300
        if check_state:
            after = self.state(kind, scope)
            cell.changed = after != before
            if cacheable:
                self.fingerprints[kind] = {scope: after}
            elif scope == "global":  # clear-bookings, new rooms...: any room may have changed
                self.fingerprints.clear()
            else:
                self._dirty(kind)
        if cell.changed:  # whatever the cell touched is used up
            if v.target == "victim" or kind == "personal":
                self.current[kind] = None
            if v.target == "own":
                pool = self.own[(ACTORS[actor].identity, kind)]
                if pool and pool[0] is item:
                    pool.popleft()
            if v.target == "cancelled":
                self.cancelled.pop(kind if kind in ROOMS else "approval", None)
            if v.final:
                self.current.pop(kind, None)
                self.cancelled.pop(kind, None)
        cell.allowed = ok and (cell.changed is not False or not write)
        self._judge(cell, v, response, item, f"{path} {kwargs!r}")
        self._add(cell)
        return cell

    def _add(self, cell: Cell):
        with self._lock:
            self.cells.append(cell)

    def _judge(self, cell: Cell, v: Verb, response, item, sent: str):
        text = response.text + "\n" + "\n".join(f"{k}: {val}" for k, val in response.headers.items())
        problems = []
        if response.status_code >= 500:
            problems.append(("server-error", f"{response.status_code}: {response.text[:200]}"))
        for k, marker in self.titles.items():
            if marker in text and not may_see(cell.actor, k):
                problems.append(("unauthorised-read", f"title of {k}"))
        for k, marker in self.privates.items():
            if marker in text and not may_see_private(cell.actor, k, cell.verb, cell.path):
                problems.append(("unauthorised-read", f"private title of {k}"))
        for k, marker in self.uids.items():  # an echo of the actor's own request is no leak
            if marker in text and marker not in sent and not may_see_uid(cell.actor, k):
                problems.append(("unauthorised-read", f"uid of {k}"))
        if v.listing and not sees_hidden(cell.actor) and room_id("hidden") in response.text:
            problems.append(("unauthorised-read", "hidden room listed"))
        ok = 200 <= response.status_code < 300
        state = "" if cell.changed is None else f", state {'changed' if cell.changed else 'unchanged'}"
        if cell.write:
            if not cell.expected and (ok or cell.changed):
                problems.append(("unauthorised-write", f"{response.status_code}{state}"))
            elif cell.expected and not (ok and cell.changed):
                problems.append(("wrongly-refused", f"{response.status_code}{state}: {response.text[:160]}"))
        else:
            if v.unsafe and cell.changed:
                problems.append(("unauthorised-write", f"a read ({cell.verb}) changed state"))
            if not cell.expected and ok:
                problems.append(("unauthorised-read", f"{response.status_code}"))
            elif cell.expected and not ok:
                problems.append(("wrongly-refused", f"{response.status_code}: {response.text[:160]}"))
            elif cell.expected:
                missing = self._missing_proof(cell, v, response, item)
                if missing:
                    problems.append(("wrongly-refused", f"{response.status_code} without {missing}"))
        problems.sort(key=lambda p: PROBLEMS.index(p[0]))
        cell.problems = problems
        cell.problem = problems[0][0] if problems else ""
        cell.known = known_name(cell)

    def _missing_proof(self, cell: Cell, v: Verb, response, item) -> Optional[str]:
        """An allowed read must really have read something."""
        proof = v.proof
        if proof == "feed":
            proof = "marker" if may_see(cell.actor, cell.kind) else "vevent"
        elif proof == "marker-if-visible":
            proof = "marker" if may_see(cell.actor, cell.kind) else None
        elif proof == "private-if-visible":
            proof = "private" if may_see_private(cell.actor, cell.kind, cell.verb, cell.path) else None
        wanted = {"marker": self.titles.get(cell.kind), "private": self.privates.get(cell.kind),
                  "href": getattr(item, "href", None), "freebusy": "VFREEBUSY", "vevent": "BEGIN:VEVENT",
                  "collection": PERSONAL if cell.kind == "personal" else self.base(cell.kind),
                  "room": room_id(cell.kind), "feeds": '"feeds"', "rooms": room_id("open"),
                  "openapi": '"openapi"', "users": USERNAMES["victim"], "tokens": '"tokens"',
                  "groups": f'"{next(iter(GROUPS))}"'}.get(proof)
        if wanted and wanted not in response.text:
            return repr(wanted)
        return None

    # -- the whole matrix ---------------------------------------------------------------------
    def plan(self, actors=None, kinds=None, verbs=None) -> List[Tuple[str, str, str]]:
        actors, kinds, verbs = list(actors or ACTORS), list(kinds or KINDS), list(verbs or VERBS)
        return [(a, k, v) for k in kinds for v in verbs for a in actors if applicable(a, k, v)]

    def run(self, actors=None, kinds=None, verbs=None, parallel: int = 1, progress=None) -> List[Cell]:
        """Every applicable cell.  Rooms and the personal calendar run side by side (``parallel``
        threads; each touches only its own collection), global cells after them, and the
        destructive cells last, per verb the refused actors before the allowed ones."""
        cells = self.plan(actors, kinds, verbs)
        t0 = time.time()
        by_kind = collections.OrderedDict()
        for a, k, v in cells:
            if not VERBS[v].final:
                by_kind.setdefault(k, []).append((a, k, v))

        def run_kind(kind):
            for cell in by_kind.get(kind, ()):
                self.run_cell(*cell)
        local_kinds = [k for k in by_kind if k != "global"]
        if parallel > 1:
            with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
                for future in [pool.submit(run_kind, k) for k in local_kinds]:
                    future.result()
        else:
            for kind in local_kinds:
                run_kind(kind)
        run_kind("global")
        self.fingerprints.clear()
        for k in KINDS:
            for v in VERBS:
                if not VERBS[v].final:
                    continue
                cast = [a for a, k2, v2 in cells if k2 == k and v2 == v]
                for a in sorted(cast, key=lambda a: expected(a, k, v, VERBS[v].path)):
                    self.run_cell(a, k, v)
        if progress:
            progress(f"{len(self.cells)} cells in {time.time() - t0:.1f} s ({self.requests} requests, "
                     f"{next(self.slots)} time slots)")
        order = {(a, k, v): n for n, (a, k, v) in enumerate(cells)}
        self.cells.sort(key=lambda c: order.get((c.actor, c.kind, c.verb), 0))
        return self.cells


# ==========================================================================================
# Known discrepancies between the server and the oracle (reported; not fixed here)
# ==========================================================================================
@dataclasses.dataclass(frozen=True)
class Known:
    name: str
    problem: str
    verbs: Tuple[str, ...]
    detail: str = ""               # every problem's detail must contain this
    kinds: Optional[Tuple[str, ...]] = None
    actors: Optional[Tuple[str, ...]] = None
    why: str = ""

    def covers(self, cell: Cell, problem: Tuple[str, str]) -> bool:
        return (problem[0] == self.problem and cell.verb in self.verbs and self.detail in problem[1]
                and (self.kinds is None or cell.kind in self.kinds)
                and (self.actors is None or cell.actor in self.actors))


# Discrepancies reported but not fixed yet (none now; the four the matrix found first were
# fixed with it: see git log).  A Known entry excuses exactly its cells, nothing else.
KNOWN = ()


def known_name(cell: Cell) -> str:
    """The KNOWN entry covering every problem of the cell, or ""."""
    if not cell.problems:
        return ""
    for known in KNOWN:
        if all(known.covers(cell, p) for p in cell.problems):
            return known.name
    return ""


# ==========================================================================================
# Reporting
# ==========================================================================================
def summary(cells: List[Cell]) -> dict:
    counted = [c for c in cells if c.problem != "skipped"]
    return {
        "cells": len(counted),
        "expected_allowed": sum(c.expected for c in counted),
        "expected_denied": sum(not c.expected for c in counted),
        "allowed": sum(c.allowed for c in counted),
        "denied": sum(not c.allowed for c in counted),
        "unauthorised_reads": sum(c.problem == "unauthorised-read" for c in counted),
        "unauthorised_writes": sum(c.problem == "unauthorised-write" for c in counted),
        "wrongly_refused": sum(c.problem == "wrongly-refused" for c in counted),
        "server_errors": sum(c.problem == "server-error" for c in counted),
        "known": sum(bool(c.known) for c in counted),
        "skipped": len(cells) - len(counted),
    }


def table(cells: List[Cell]) -> str:
    """Per (actor, path): cells, what the server allowed and denied, and the mismatches."""
    groups = {}
    for c in cells:
        if c.problem != "skipped":
            groups.setdefault((c.actor, c.path), []).append(c)
    keys = sorted(groups, key=lambda k: (PATHS.index(k[1]), list(ACTORS).index(k[0])))
    rows = [("actor", "path", "cells", "allowed", "denied", "mismatches", "unauth-R", "unauth-W",
             "refused", "5xx", "known")]
    for actor, path in keys:
        group = groups[(actor, path)]
        rows.append((actor, path, len(group), sum(c.allowed for c in group), sum(not c.allowed for c in group),
                     sum(bool(c.problem) for c in group),
                     *(sum(c.problem == p for c in group) for p in
                       ("unauthorised-read", "unauthorised-write", "wrongly-refused", "server-error")),
                     sum(bool(c.known) for c in group)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def final_line(cells: List[Cell]) -> str:
    s = summary(cells)
    return (f"cells: {s['cells']}, allowed: {s['allowed']}, denied: {s['denied']}, "
            f"unauthorised reads: {s['unauthorised_reads']}, unauthorised writes: {s['unauthorised_writes']}, "
            f"wrongly refused: {s['wrongly_refused']}, 5xx: {s['server_errors']} "
            f"({s['known']} of the mismatches known)")


def mismatches(cells: List[Cell], known: Optional[bool] = None) -> List[Cell]:
    """Cells that disagree with the policy (``known``: only known / only unknown ones)."""
    return [c for c in cells if c.problem and c.problem != "skipped"
            and (known is None or bool(c.known) == known)]


def describe(cell: Cell) -> str:
    return (f"{cell.problem}: {cell.actor} {cell.verb} on {cell.kind} ({cell.path}) -> {cell.status}, "
            f"expected {'allowed' if cell.expected else 'denied'}: "
            + "; ".join(f"{p}: {d}" for p, d in cell.problems)
            + (f" [known: {cell.known}]" if cell.known else ""))
