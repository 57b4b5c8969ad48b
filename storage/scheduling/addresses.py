"""Calendar-user addresses (RFC 6638): who an ATTENDEE or ORGANIZER value names.

A user's addresses are ``mailto:`` their e-mail (``user add --email``) and their
principal URL ``/<name>/``; a room's are ``mailto:`` its ``email`` (else
``<id>@`` the ``[scheduling] room_domain``) and its principal URL
``/.rooms/<id>/``.  E-mail addresses compare case-insensitively; a principal URL
matches with or without scheme and host.

``[scheduling]`` in radicale.conf is carried to the storage as ``[storage]
roomcal_scheduling_<option>`` (Radicale refuses unknown sections), as ``[notify]`` is.
"""

import dataclasses
import urllib.parse
from typing import List, Optional

from roomcal.storage import carried, rooms
from roomcal.storage.text import is_email

SECTION = "scheduling"
OPTIONS = ("enabled", "room_domain")
CARRIED = "roomcal_scheduling_"
ROOM_PRINCIPALS = ".rooms"   # /.rooms/<id>/: a room's principal (answered by the front)


@dataclasses.dataclass(frozen=True)
class Settings:
    enabled: bool = True
    room_domain: str = "rooms.localhost"


def parse_settings(values: dict) -> Settings:
    enabled_text = (values.get("enabled") or "true").strip().lower()
    if enabled_text not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
        raise ValueError(f"[scheduling] enabled must be true or false, not {enabled_text!r}")
    domain = (values.get("room_domain") or Settings.room_domain).strip()
    if not is_email(f"room@{domain}"):
        raise ValueError(f"[scheduling] room_domain {domain!r} is not a mail domain")
    return Settings(enabled_text in ("true", "yes", "1", "on"), domain)


def settings_from(configuration) -> Settings:
    return parse_settings(carried.options_of(configuration, CARRIED, OPTIONS))


def room_principal(room_id: str) -> str:
    return f"/{ROOM_PRINCIPALS}/{room_id}/"


def user_principal(name: str) -> str:
    return f"/{name}/"


def normalized(address: str) -> str:
    """The comparable form of an address: an e-mail address without ``mailto:``, in lower
    case; a URL reduced to its path, with one slash at each end."""
    text = (address or "").strip()
    if text.lower().startswith("mailto:"):
        return urllib.parse.unquote(text[7:]).strip().lower()
    if "://" in text:
        text = urllib.parse.urlsplit(text).path
    if text.startswith("/"):
        return "/" + urllib.parse.unquote(text).strip("/") + "/"
    return text.lower()


class Directory:
    """Addresses of users and rooms, both ways."""

    def __init__(self, registry, accounts, settings: Settings):
        self.registry = registry
        self.accounts = accounts
        self.settings = settings

    # -- a principal's addresses --------------------------------------------------------
    def room_email(self, room: rooms.Room) -> str:
        return room.email or f"{room.id}@{self.settings.room_domain}"

    def room_addresses(self, room: rooms.Room) -> List[str]:
        return [f"mailto:{self.room_email(room)}", room_principal(room.id)]

    def user_addresses(self, name: str) -> List[str]:
        user = self.accounts.get_user(name)
        mail = [f"mailto:{user.email}"] if user is not None and user.email else []
        return mail + [user_principal(name)]

    # -- whom an address names -----------------------------------------------------------
    def room_for(self, address: str) -> Optional[rooms.Room]:
        key = normalized(address)
        if key.startswith("/"):
            parts = key.strip("/").split("/")
            if len(parts) == 2 and parts[0] == ROOM_PRINCIPALS:
                return self._room_by_id(parts[1])
            if len(parts) == 2 and parts[0] == rooms.ROOMS:   # its calendar's URL
                return self._room_by_id(parts[1])
            return None
        local, _, domain = key.partition("@")
        if domain == self.settings.room_domain.lower():
            room = self._room_by_id(local)
            if room is not None and not room.email:
                return room
        for room in self.registry.all():
            if room.email and room.email.lower() == key:
                return room
        return None

    def _room_by_id(self, room_id: str) -> Optional[rooms.Room]:
        room = self.registry.get(room_id)
        if room is None:   # ids are case-sensitive on disk, addresses are not
            room = next((r for r in self.registry.all() if r.id.lower() == room_id.lower()), None)
        return room

    def user_for(self, address: str) -> Optional[str]:
        key = normalized(address)
        if key.startswith("/"):
            parts = key.strip("/").split("/")
            if len(parts) != 1 or parts[0].startswith("."):
                return None
            return parts[0] if self.accounts.get_user(parts[0]) is not None else None
        if not is_email(key):
            return None
        user = self.accounts.user_with_email(key)
        return user.name if user else None
