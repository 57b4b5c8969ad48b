"""RFC 8984 §1.4.9 PatchObject, applied as the JSON Patch (RFC 6902) it is equivalent to.
"""

from __future__ import annotations

import copy
import re

from roomcal.server.jscalendar.values import InvalidEvent, _esc, _unesc


def apply_patch(event: dict, patch: dict) -> dict:
    """Apply an RFC 8984 §1.4.9 PatchObject; returns a new dict, event is left untouched.

    Keys are JSON pointers with an implicit leading "/" (one explicit leading "/" is
    tolerated).  null removes (a no-op when absent), any other value sets or replaces.
    Raises InvalidEvent(type="invalidPatch") listing the offending pointers for an invalid
    pointer, a missing parent, a pointer into an array, or one key being a prefix of another;
    nothing is applied then.  The result is not validated: call validate() on it.
    """
    if not isinstance(event, dict):
        raise InvalidEvent("Only an object can be patched.", [""], type="invalidPatch")
    if not isinstance(patch, dict):
        raise InvalidEvent("A PatchObject must be a JSON object.", [""], type="invalidPatch")
    problems = []  # (pointer, message)
    keys = {}
    for raw in patch:
        if not isinstance(raw, str):
            problems.append(("", f"patch key {raw!r} is not a string"))
            continue
        key = raw[1:] if raw.startswith("/") else raw
        if key == "" or re.search(r"~(?![01])", key):
            problems.append(("/" + key, f"{raw!r} is not a valid JSON pointer"))
            continue
        if key in keys:
            problems.append(("/" + key, f"{raw!r} is given twice"))
            continue
        keys[key] = (raw, [_unesc(t) for t in key.split("/")])
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "/"):
                problems.append(("/" + b, f"{a!r} is a prefix of {b!r}"))
    for key, (raw, tokens) in keys.items():
        parent = event
        for i, token in enumerate(tokens):
            if isinstance(parent, list):
                problems.append(("/" + key, f"{raw!r} points into an array"))
                break
            if i == len(tokens) - 1:
                if not isinstance(parent, dict):
                    problems.append(("/" + key, f"{raw!r}: the parent is not an object"))
                break
            if not isinstance(parent, dict) or token not in parent:
                where = "/".join(_esc(t) for t in tokens[:i + 1])
                problems.append(("/" + key, f"{raw!r}: {where!r} does not exist"))
                break
            parent = parent[token]
    if problems:
        pointers = list(dict.fromkeys(p for p, _ in problems))
        raise InvalidEvent("Invalid patch: " + "; ".join(m for _, m in problems[:5]), pointers,
                           type="invalidPatch")
    new = copy.deepcopy(event)
    for key, (raw, tokens) in keys.items():
        parent = new
        for token in tokens[:-1]:
            parent = parent[token]
        value = patch[raw]
        if value is None:
            parent.pop(tokens[-1], None)
        else:
            parent[tokens[-1]] = copy.deepcopy(value)
    return new
