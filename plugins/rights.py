"""Radicale rights plugin: personal calendars as ``owner_only``, rooms by role.

With ``[auth] type = none`` personal calendars are open to everyone, anonymous
requests included, exactly as Radicale's ``owner_only`` then leaves them; rooms
keep their roles, and nobody anonymous may book (a booking needs an author).

Letters (radicale/rights): R/W non-leaf collections, r/w calendars and items;
``d`` no collection DELETE, ``o`` no whole-collection PUT, ``l`` no PROPPATCH,
``f`` free/busy only (a room's ``viewers`` list leaves everyone else just that).
The roles are ``storage/roles.py``, the same the booking core asks; who may change
which booking inside a room is decided by the core, since rights never see items.
"""

from radicale import pathutils, rights

from roomcal.storage import context, roles, rooms
from roomcal.storage.context import Actor
from roomcal.storage.registry import registry_for
from roomcal.storage.guarded import accounts_from

BOOKER = "rwdol"   # read, book; never delete, replace or re-configure the room
READER = "rdol"
FREE_BUSY = "fdol"  # free-busy-query only: no GET, calendar-query or Depth-1 listing
ADMIN = "rw"


class Rights(rights.BaseRights):
    def __init__(self, configuration):
        super().__init__(configuration)
        self._accounts = accounts_from(configuration)
        self._registry = registry_for(configuration)
        # As radicale/rights/owner_only.py: no authentication, no owners to verify.
        self._verify_user = configuration.get("auth", "type") != "none"

    def authorization(self, user: str, user_groups: set, path: str) -> str:
        """Radicale asks once per item of a listing (for the item's collection): the answer
        is kept for the rest of the request."""
        state = context.current()
        if state is None:
            return self._authorization(user, user_groups, path)
        key = ("rights", user, frozenset(user_groups or ()), path)
        if key not in state.memo:
            state.memo[key] = self._authorization(user, user_groups, path)
        return state.memo[key]

    def _authorization(self, user: str, user_groups: set, path: str) -> str:
        if not user and self._verify_user:
            return ""
        parts = pathutils.strip_path(path).split("/") if pathutils.strip_path(path) else []
        if not parts:
            return "R"
        if parts[0] == rooms.ROOMS:
            return self._room_rights(user, user_groups, parts[1:])
        if self._verify_user and parts[0] != user:
            return ""
        return {1: "RW", 2: "rw"}.get(len(parts), "")

    def _room_rights(self, user: str, user_groups: set, rest: list) -> str:
        known = context.signed_in(user)
        admin = known.admin if known else bool(user) and self._accounts.is_admin(user)
        if not rest:
            return "RW" if admin else "R"
        if len(rest) > 1:
            return ""
        room = self._registry.get(rest[0])
        if admin:
            return ADMIN
        if room is None:
            return ""
        # Radicale passes no groups when it checks a MOVE's destination: look them up.
        groups = user_groups or (known.groups if known else self._accounts.groups_of(user))
        actor = Actor(user, frozenset(groups), False)
        if user and roles.may_book(room, actor):  # anonymous ([auth] type = none) reads only
            return BOOKER
        return READER if roles.may_view(room, actor) else FREE_BUSY
