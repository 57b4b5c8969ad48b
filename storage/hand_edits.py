"""Item files edited in place by hand, found without making a request wait (file store).

A file added, removed or replaced changes its room folder's mtime, which the index
compares on every use.  An editor that rewrites a file in place changes only that file's
mtime: every ``roomcal_index_verify_interval`` seconds a process looks through a room's
files for one newer than the newest its index has seen.  At 100 000 bookings that look is
100 000 stats (0.3 s), so a thread of its own takes it; requests use the room meanwhile,
and the first one after a find rebuilds the room's index.  With an interval of 0 the look
is taken before every use, by the request.
"""

import os
import threading
from typing import Optional


def newest_item(folder: str) -> int:
    """The newest mtime (ns) of the room's item files."""
    newest = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_file():
                newest = max(newest, entry.stat().st_mtime_ns)
    return newest


class HandEdits:
    def __init__(self, due):
        """``due(room path)``: whether a look at that room is due (storage/store.py's
        ``Throttle`` of the interval)."""
        self._due = due
        self._pid = None

    def _here(self) -> None:
        """This process's own state (a worker forked after the storage was made has none,
        nor the thread)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._guard = threading.Lock()
            self._waiting = {}    # room path -> folder: looks not taken yet
            self._found = {}      # room path -> the newest mtime a finished look found
            self._looking = False

    def newest(self, path: str, folder: str) -> Optional[int]:
        """The newest mtime of the room's files that a look found since the last call, or
        None; a new look is asked for when one is due."""
        if self._due.interval <= 0:
            return newest_item(folder)
        self._here()
        with self._guard:
            found = self._found.pop(path, None)
            if self._due(path):
                self._waiting[path] = folder
                if not self._looking:
                    self._looking = True
                    threading.Thread(target=self._look, name="roomcal-hand-edits", daemon=True).start()
        return found

    def _look(self) -> None:
        while True:
            with self._guard:
                if not self._waiting:
                    self._looking = False
                    return
                path, folder = self._waiting.popitem()
            try:
                newest = newest_item(folder)
            except OSError:   # (the room was deleted meanwhile)
                continue
            with self._guard:
                self._found[path] = newest
