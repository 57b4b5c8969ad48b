"""RFC 8984 §1.4.9 PatchObject, applied as the JSON Patch (RFC 6902) it is equivalent to.

Each key is a JSON pointer with an implicit leading "/"; null is ``remove`` (nothing when
the member is absent), any other value ``add`` (which replaces a member that exists).
jsonpointer reads the keys and jsonpatch applies the operations; what RFC 8984 forbids and
JSON Patch allows (a pointer into an array, a key inside another patched key) is refused
here first, so a PatchObject is applied whole or not at all.
"""

from __future__ import annotations

import copy

import jsonpatch
from jsonpointer import JsonPointer, JsonPointerException

from roomcal.server.jscalendar.values import InvalidEvent


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
    keys = {}      # key without its leading "/" -> (the key as sent, its JsonPointer)
    for raw in patch:
        if not isinstance(raw, str):
            problems.append(("", f"patch key {raw!r} is not a string"))
            continue
        key = raw[1:] if raw.startswith("/") else raw
        pointer = _pointer(key)
        if pointer is None:
            problems.append(("/" + key, f"{raw!r} is not a valid JSON pointer"))
            continue
        if key in keys:
            problems.append(("/" + key, f"{raw!r} is given twice"))
            continue
        keys[key] = (raw, pointer)
    for a, (_, outer) in keys.items():
        for b, (_, inner) in keys.items():
            if a != b and inner.contains(outer):  # RFC 8984: no key inside another
                problems.append(("/" + b, f"{a!r} is a prefix of {b!r}"))
    for key, (raw, pointer) in keys.items():
        problem = _unreachable(event, pointer.parts)
        if problem:
            problems.append(("/" + key, f"{raw!r}{problem}"))
    if problems:
        pointers = list(dict.fromkeys(p for p, _ in problems))
        raise InvalidEvent("Invalid patch: " + "; ".join(m for _, m in problems[:5]), pointers,
                           type="invalidPatch")
    operations = []
    for raw, pointer in keys.values():
        value = patch[raw]
        if value is not None:
            operations.append({"op": "add", "path": pointer.path, "value": copy.deepcopy(value)})
        else:
            parent, last = pointer.to_last(event)
            if last in parent:  # RFC 8984: removing what is absent is no error
                operations.append({"op": "remove", "path": pointer.path})
    return jsonpatch.JsonPatch(operations).apply(event)  # on a deep copy


def _pointer(key: str) -> JsonPointer | None:
    """The JSON pointer a PatchObject key names; None if it is none (or the whole event)."""
    if key == "":
        return None
    try:
        return JsonPointer("/" + key)
    except JsonPointerException:  # "~" not followed by 0 or 1
        return None


def _unreachable(event: dict, tokens: list) -> str:
    """Why a pointer cannot be patched in event (the rest of a sentence), or ""."""
    parent = event
    for i, token in enumerate(tokens):
        if isinstance(parent, list):
            return " points into an array"
        if i == len(tokens) - 1:
            return "" if isinstance(parent, dict) else ": the parent is not an object"
        if not isinstance(parent, dict) or token not in parent:
            return f": {JsonPointer.from_parts(tokens[:i + 1]).path[1:]!r} does not exist"
        parent = parent[token]
    return ""
