"""roomcal's storage layer: rooms, rules, the booking index and the booking core.

Radicale loads this package as ``[storage] type = roomcal.storage`` and instantiates
``Storage``.
"""


def __getattr__(name):
    # Lazy, so that the pure modules (rules, durations…) import without Radicale.
    if name == "Storage":
        from roomcal.storage.store import Storage
        return Storage
    raise AttributeError(name)
