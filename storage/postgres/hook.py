"""Radicale's ``[storage] hook`` on the PostgreSQL store: the command an admin sets to run
after each change (a ``git commit``, a notification), run by Radicale's own code.

On the file store Radicale runs it at the end of a write, inside its lock of the folder.
Here a write is a transaction, and the hook runs once it has committed a change
(``SqlStorage.acquire_lock``): it never sees what could still be rolled back, and one
that fails cannot undo a committed write (Radicale logs it and answers as it would have).
A request that changed nothing (refused, rolled back) runs none.

It runs in ``filesystem_folder``, this host's folder (made if missing), holding that
folder's ``.Radicale.lock`` as Radicale does: one hook at a time on a host, and scripts
that ``flock`` the folder are kept out meanwhile.  Other hosts' writes go on (they have
folders and hooks of their own).  ``%(path)s`` and ``%(to_path)s`` are what Radicale
gives on the file store, ``%(cwd)s/collection-root`` followed by the request's path, so
that a hook reads the same on both stores; no file is there.
"""

import os

from radicale.log import logger
from radicale.storage.multifilesystem.lock import StoragePartLock


class StorageHook(StoragePartLock):
    """Radicale's runner of ``[storage] hook``, multifilesystem's lock part and nothing else
    of that store: its placeholders, shell, process group, logging and failure handling."""

    def __init__(self, configuration):
        super().__init__(configuration)
        try:
            os.makedirs(self._filesystem_folder, exist_ok=True)
        except OSError as e:
            raise RuntimeError(f"[storage] hook runs in filesystem_folder {self._filesystem_folder!r}, "
                               f"which cannot be made: {e}") from None

    def run(self, user: str = "", **kwargs) -> None:
        """The command for a write that committed: ``kwargs`` as Radicale's ``acquire_lock``
        takes them (``path``, ``request``, ``to_path``, ``actor``).  The write stays whatever
        happens here: a folder removed meanwhile is made again, one that cannot be is logged."""
        try:
            os.makedirs(self._filesystem_folder, exist_ok=True)
            with self.acquire_lock("w", user, **kwargs):
                pass
        except (OSError, RuntimeError) as e:   # RuntimeError: Radicale's "Locking the storage failed"
            logger.error("Execution of storage hook not successful: %s", e)
