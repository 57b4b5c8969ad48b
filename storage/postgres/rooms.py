"""The rooms, read from the shared database's collections (what storage/registry.py reads
from the collection folders on one host).  No cache beyond one request's lookups before
its transaction: another host may have changed a room a moment ago, and the row is one
primary-key lookup, sent with the request's sign-in (``ask_ahead``)."""

import json
from typing import List, Optional

from roomcal.storage import context, rooms
from roomcal.storage.rooms import Room


ROOM_ROW = "SELECT props FROM collections WHERE path = ?"


class DatabaseRoomRegistry:
    def __init__(self, db):
        self._db = db

    def get(self, room_id: str) -> Optional[Room]:
        if not rooms.ID_PATTERN.fullmatch(room_id or ""):
            return None
        # Before its transaction a request asks once (the front, then the rights for the
        # same request); inside a transaction, its own view, and after a write, again.
        state = context.current() if not self._db.in_transaction() else None
        key = ("room", room_id, self._db.writes_ended())
        if state is not None and key in state.memo:
            return state.memo[key]
        row = self._db.execute(ROOM_ROW, (f"{rooms.ROOMS}/{room_id}",)).fetchone()
        room = _room(room_id, row[0]) if row else None
        if state is not None:
            state.memo[key] = room
        return room

    def ask_ahead(self, room_id: str) -> None:
        """The front's request is about ``room_id``: its row is read with the request's next
        statement, its sign-in's (storage/postgres/database.py ``send_ahead``)."""
        if rooms.ID_PATTERN.fullmatch(room_id or "") and not self._db.in_transaction():
            self._db.send_ahead(ROOM_ROW, (f"{rooms.ROOMS}/{room_id}",))

    def forget_ahead(self) -> None:
        self._db.drop_ahead()

    def ids(self) -> List[str]:
        return [path.split("/", 1)[1] for (path,) in self._db.execute(
            "SELECT path FROM collections WHERE path LIKE ? AND strpos(substr(path, ?), '/') = 0 ORDER BY path",
            (f"{rooms.ROOMS}/%", len(rooms.ROOMS) + 2))]

    def all(self) -> List[Room]:
        found = []
        for path, props in self._db.execute(
                "SELECT path, props FROM collections WHERE path LIKE ? AND strpos(substr(path, ?), '/') = 0 "
                "ORDER BY path", (f"{rooms.ROOMS}/%", len(rooms.ROOMS) + 2)):
            room = _room(path.split("/", 1)[1], props)
            if room is not None:
                found.append(room)
        return found


def _room(room_id: str, props_text: str) -> Optional[Room]:
    try:
        props = json.loads(props_text)
        return Room.from_props(room_id, props) if props.get("tag") == "VCALENDAR" else None
    except (ValueError, TypeError):
        return None
