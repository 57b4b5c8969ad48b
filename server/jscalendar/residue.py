"""The JSON-only remainder (``X-JSCALENDAR-PROP``): what the mapping cannot express.

Each entry is a JSON pointer, the value, and a fingerprint of the value the iCalendar part
gave at that pointer when it was written; ``_apply_residue`` applies an entry only while
the iCalendar still gives that value (a later CalDAV edit wins), ``_diff`` finds the
entries a write must store.
"""

from __future__ import annotations

import copy
import json
import urllib.parse

from roomcal.server.jscalendar.ical import _all
from roomcal.server.jscalendar.values import RESIDUE_PROP, _esc, _fingerprint, _same, _unesc
from roomcal.storage.booking import is_stamped


_RESIDUE_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) not in ",;\\%")


def _residue_entries(comp) -> list:
    entries = []
    for prop in _all(comp, RESIDUE_PROP):
        try:
            entry = json.loads(urllib.parse.unquote(str(prop)))
        except Exception:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("p"), str):
            entries.append(entry)
    return entries


def _encode_residue(entry) -> str:
    text = json.dumps(entry, ensure_ascii=True, separators=(",", ":"))
    return urllib.parse.quote(text, safe=_RESIDUE_SAFE)


def _apply_residue(js, entries):
    for entry in entries:
        tokens = [_unesc(t) for t in entry["p"].split("/")[1:]]
        if not tokens or is_stamped(tokens[-1]):  # only the booking core says who booked
            continue
        parent = js
        for token in tokens[:-1]:
            if isinstance(parent, dict) and token in parent:
                parent = parent[token]
            elif isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
                parent = parent[int(token)]
            else:
                parent = None
                break
        last = tokens[-1]
        if isinstance(parent, dict):
            present, current = last in parent, parent.get(last)
        elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            last = int(last)
            present, current = True, parent[last]
        else:
            continue
        if (_fingerprint(current) if present else None) != entry.get("b"):
            continue  # the iCalendar side changed since: it wins
        value = entry.get("v")
        if value is None:
            if isinstance(parent, dict):
                parent.pop(last, None)
        else:
            parent[last] = copy.deepcopy(value)


def _diff(target, actual, pointer, out):
    if isinstance(target, dict) and isinstance(actual, dict):
        for k, v in target.items():
            if k not in actual:
                out.append({"p": pointer + "/" + _esc(k), "b": None, "v": v})
            else:
                _diff(v, actual[k], pointer + "/" + _esc(k), out)
        for k, v in actual.items():
            if k not in target:
                out.append({"p": pointer + "/" + _esc(k), "b": _fingerprint(v), "v": None})
    elif isinstance(target, list) and isinstance(actual, list) and len(target) == len(actual):
        for i, (t, a) in enumerate(zip(target, actual)):
            _diff(t, a, f"{pointer}/{i}", out)
    elif not _same(target, actual):
        out.append({"p": pointer, "b": _fingerprint(actual), "v": target})
