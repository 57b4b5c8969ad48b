"""Releasing bookings nobody checked in: one thread per server process (each gunicorn worker).

Every ``[rooms] release_interval`` seconds the thread calls storage/release.py ``sweep``;
of all the processes' threads, the one holding the lease acts, so a booking is looked at
once per interval and released once (the release itself is decided under the write lock).
No cron job: the server does it as long as it runs.
"""

import logging
import os
import threading
import time
import uuid
from typing import Optional

from roomcal.storage import release

logger = logging.getLogger("roomcal.release")


class Releaser(threading.Thread):
    def __init__(self, storage, interval: float):
        super().__init__(name="roomcal-releaser", daemon=True)
        self.storage = storage
        self.interval = interval
        self.lease = release.Lease(storage.index.path, storage.configuration)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                release.sweep(self.storage, self.lease, self.owner, self.interval)
            except Exception:   # a locked database, a broken room: the next round tries again
                logger.exception("The release sweep failed; trying again in %.0f s", self.interval)
        try:
            self.lease.give_back(release.LEASE, self.owner)
        except Exception:
            pass


_started = {}
_lock = threading.Lock()


def start(storage) -> Optional[Releaser]:
    """The releaser of this process (started once per process and store)."""
    key = (os.getpid(), storage.index.path)
    with _lock:
        releaser = _started.get(key)
        if releaser is None or not releaser.is_alive():
            releaser = Releaser(storage, storage.check_in.release_interval)
            releaser.start()
            _started[key] = releaser
    return releaser


def stop_all(timeout: float = 10.0) -> None:
    """Stop this process's releasers (a worker that exits), handing back the lease."""
    with _lock:
        releasers = [r for (pid, _), r in _started.items() if pid == os.getpid()]
    for releaser in releasers:
        releaser.stop()
    deadline = time.monotonic() + timeout
    for releaser in releasers:
        releaser.join(max(0.0, deadline - time.monotonic()))
