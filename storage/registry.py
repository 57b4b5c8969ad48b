"""Reads rooms from the collection tree, cached by file modification time.

The rights plugin asks for a room on every access check, several times per
PROPFIND, so the parsed ``Room`` is kept until its ``.Radicale.props`` changes.
"""

import json
import os
import threading
from typing import List, Optional

from roomcal.storage import rooms
from roomcal.storage.rooms import Room


class RoomRegistry:
    def __init__(self, filesystem_folder: str):
        self.rooms_dir = os.path.join(filesystem_folder, "collection-root", rooms.ROOMS)
        self._cache = {}
        self._lock = threading.Lock()

    def ask_ahead(self, room_id: str) -> None:
        """(The database's registry reads a room with the sign-in; files are read when asked.)"""

    def forget_ahead(self) -> None:
        pass

    def props_path(self, room_id: str) -> str:
        return os.path.join(self.rooms_dir, room_id, ".Radicale.props")

    def get(self, room_id: str) -> Optional[Room]:
        if not rooms.ID_PATTERN.fullmatch(room_id or ""):
            return None
        path = self.props_path(room_id)
        try:
            stat = os.stat(path)
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            cached = self._cache.get(room_id)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            with open(path, encoding="utf-8") as f:
                props = json.load(f)
            room = Room.from_props(room_id, props) if props.get("tag") == "VCALENDAR" else None
        except (OSError, ValueError):
            room = None
        with self._lock:
            self._cache[room_id] = (stamp, room)
        return room

    def ids(self) -> List[str]:
        try:
            names = os.listdir(self.rooms_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith("."))

    def all(self) -> List[Room]:
        return [room for room in map(self.get, self.ids()) if room is not None]


def registry_for(configuration):
    """The rooms of a configuration: its collection folders, or the shared database's rows."""
    from roomcal.storage.database import database_url
    url = database_url(configuration)
    if url:
        from roomcal.storage.postgres.database import shared
        from roomcal.storage.postgres.rooms import DatabaseRoomRegistry
        return DatabaseRoomRegistry(shared(url))
    return RoomRegistry(configuration.get("storage", "filesystem_folder"))
