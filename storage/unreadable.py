"""What this process found unreadable, so that it is not read again by every request.

A stored object that cannot be read (a hand edit, a disk fault, an object that
takes too much work to expand and was stored before the screen existed) costs its
reading once per process, not once per request that meets it.  Keys say which
version of an object failed (its text's hash, or its file's size and mtime), so a
fixed object is read again.
"""

import collections
import threading
from typing import Hashable, Optional


class Unreadable:
    """The last ``size`` objects found unreadable, and why."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._reasons = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Optional[str]:
        with self._lock:
            return self._reasons.get(key)

    def add(self, key: Hashable, reason: str) -> None:
        with self._lock:
            self._reasons[key] = reason
            while len(self._reasons) > self.size:
                self._reasons.popitem(last=False)
