"""Small accessors of icalendar components that reading and writing share.
"""

from __future__ import annotations

import warnings

from icalendar import Calendar

from roomcal.storage import ical_text

ical_text.install()   # (icalendar's writing of TEXT loses a literal backslash-N)


def _parse_ical(text) -> Calendar:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Calendar.from_ical(text)


def _all(comp, name) -> list:
    value = comp.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _first(comp, name):
    values = _all(comp, name)
    return values[0] if values else None


def _dt(prop):
    try:
        return prop.dt
    except Exception:
        return None


def _text(prop):
    if prop is None:
        return None
    try:
        return str(prop)
    except Exception:
        return None


def _param(prop, name):
    if prop is None:
        return None
    value = prop.params.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return str(value)
