"""The PostgreSQL store: every host on one database.

Radicale loads it as ``[storage] type = roomcal.storage.postgres`` with
``roomcal_database = postgresql://…`` and instantiates ``Storage``.
"""


def __getattr__(name):
    if name == "Storage":
        from roomcal.storage.postgres.store import Storage
        return Storage
    raise AttributeError(name)
