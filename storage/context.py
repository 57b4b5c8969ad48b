"""What the storage knows about the request it serves.

Radicale never tells storage who is writing, except through the arguments of
``acquire_lock`` (user, actor, path, request).  The WSGI front opens a
``RequestState`` per request; the storage records the actor there and leaves
its refusal, so the front can turn Radicale's generic 400/403/500 into our
409/403 with a ``DAV:error`` body.
"""

import contextlib
import contextvars
import dataclasses
from typing import Optional


@dataclasses.dataclass
class Actor:
    user: str                 # "" for the command line
    groups: frozenset = frozenset()
    admin: bool = False

    @classmethod
    def command_line(cls) -> "Actor":
        return cls(user="", admin=True)


@dataclasses.dataclass
class RequestState:
    actor: Optional[Actor] = None
    refusal: Optional[Exception] = None   # a storage.errors.Refusal
    reason: Optional[str] = None          # why (decline, cancel, clear): told to the booker
    rewritten: bool = False               # the booking core changed what the client sent


_state: contextvars.ContextVar = contextvars.ContextVar("roomcal_request", default=None)


@contextlib.contextmanager
def request(actor: Optional[Actor] = None):
    """Open a request scope (front, CLI, tests)."""
    state = RequestState(actor=actor)
    token = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(token)


def current() -> Optional[RequestState]:
    return _state.get()


def current_actor() -> Optional[Actor]:
    state = _state.get()
    return state.actor if state else None


def record_refusal(refusal: Exception) -> None:
    state = _state.get()
    if state is not None:
        state.refusal = refusal


def note_rewritten() -> None:
    """What is stored is not what the client sent (owner stamps, approval status): the
    client's copy is stale, so its write is answered without an ETag (RFC 4791 §5.3.4)."""
    state = _state.get()
    if state is not None:
        state.rewritten = True


def set_reason(reason: Optional[str]) -> None:
    """Why the current request changes a booking (for the mail to its organizer)."""
    state = _state.get()
    if state is not None:
        state.reason = reason


def current_reason() -> Optional[str]:
    state = _state.get()
    return state.reason if state else None
