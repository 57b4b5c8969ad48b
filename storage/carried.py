"""roomcal's own config sections as the storage reads them.

Radicale refuses sections it does not know, so server/config.py hands each of ours
([notify], [scheduling], [rooms]) to Radicale's configuration as ``[storage]
<prefix><option>``; a module that owns a section reads its options back here.
"""

import contextlib


def options_of(configuration, prefix: str, options) -> dict:
    """{option: text} of the section carried under ``prefix`` (only those set)."""
    values = {}
    for option in options:
        with contextlib.suppress(KeyError):
            values[option] = str(configuration.get("storage", prefix + option) or "")
    return values
