"""What an admin can change — rooms, users, groups, tokens — for `roomcal` and /api/admin.

One implementation for both front ends: the same validation, the same writes
(rooms under Radicale's write lock, through the storage plugin) and one line per
change on the ``roomcal.admin`` logger naming who made it.  Secrets (passwords,
token values) are never logged.  Every check runs before anything is written, so
a refused change changes nothing.  Refusals are storage ``Refusal``s: the CLI
prints their message; /api answers JSON (422 ``invalidProperties`` listing the
offending ``properties``, 404, 409).

Room changes are a dict keyed like ``Room.to_json()`` (``name``, ``capacity``,
``features``, ``status``, ``statusReason``, ...; ``rules`` is a dict keyed by the
rules' public names).  ``None`` resets a field or rule to its default.  Each key may
come in any spelling of its words (``spelled``): ``maxDuration``, ``max-duration``,
``max_duration``; answers keep ``Room.to_json()``'s.
"""

import contextlib
import dataclasses
import json
import logging
import re
import typing
from typing import Dict, Iterable, List, Optional

from roomcal.storage import context, rooms
from roomcal.storage.accounts import RESERVED_USERS, AccountError, check_email, check_name
from roomcal.storage.context import Actor
from roomcal.storage.errors import NotFound, Refusal, RoomInUse
from roomcal.storage import notify
from roomcal.storage.mail_templates import TemplateError, check_kind, format_template

logger = logging.getLogger("roomcal.admin")
PEOPLE = ("bookers", "managers", "viewers")   # lists of users and @groups
READ_ONLY_KEYS = ("id", "href", "may")        # in a room's JSON, but not settable


class InvalidChange(Refusal):
    """Input that does not make a valid room, user, group or token."""
    caldav_status = 400
    json_status = 422
    precondition = "valid-room"
    json_type = "invalidProperties"

    def __init__(self, message: str, properties: Iterable[str]):
        super().__init__(message)
        self.properties = list(properties)

    def to_json(self) -> dict:
        return {**super().to_json(), "properties": self.properties}


class AlreadyExists(Refusal):
    caldav_status = json_status = 409
    precondition = json_type = "alreadyExists"


def who(actor: Actor) -> str:
    return actor.user or "the command line"


def _log(actor: Actor, message: str, *args) -> None:
    logger.info("%s " + message, who(actor), *args)


def _sentence(messages: Iterable[str]) -> str:
    text = "; ".join(m.rstrip(".") for m in messages)
    return text[:1].upper() + text[1:] + "."


@contextlib.contextmanager
def _writing(storage, actor: Actor, path: str, request: str):
    """Radicale's write lock, with ``actor`` as the author of what the storage writes."""
    with context.request(actor):
        with storage.acquire_lock("w", actor.user, path=path, request=request, actor=actor.user):
            yield


# -- member names ------------------------------------------------------------------------------
def words(name: str) -> List[str]:
    """The words of a member name in any spelling: ``maxDuration``, ``max-duration`` and
    ``max_duration`` are all ``["max", "duration"]``."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower().replace("-", " ").replace("_", " ").split()


def camel_case(name: str) -> str:
    """``status_reason``, ``status-reason`` -> ``statusReason`` (a Room field's JSON key)."""
    first, *rest = words(name) or [""]
    return first + "".join(part.title() for part in rest)


def spelled(members: dict, names: Iterable[str], where: str = "") -> tuple:
    """``members`` keyed by ``names`` whatever spelling each key came in, as
    ({name: (key as sent, value)}, {key: problem}).  Keys naming none of ``names`` stay
    as sent; two spellings of one name with different values are a problem of both."""
    by_words = {tuple(words(name)): name for name in names}
    found, problems = {}, {}
    for key, value in members.items():
        name = by_words.get(tuple(words(key)), key)
        if name in found and found[name][1] != value:
            first = found[name][0]
            message = (f"two spellings of {where}{name} with different values ({where}{first}, "
                       f"{where}{key}); send one of them")
            problems[f"{where}{first}"] = problems[f"{where}{key}"] = message
        found.setdefault(name, (key, value))
    return found, problems


# -- rooms ----------------------------------------------------------------------------------
def _room_fields() -> Dict[str, dataclasses.Field]:
    return {camel_case(f.name): f for f in dataclasses.fields(rooms.Room) if f.name not in ("id", "rules")}


def room_keys() -> List[str]:
    """Every key of a room's JSON a change may name (in its answer's spelling)."""
    return ["id", *_room_fields(), "rules", *READ_ONLY_KEYS[1:]]


def canonical_room(changes) -> dict:
    """A room change keyed as ``Room.to_json()`` (rules by their public names), whatever
    the spelling of each key; InvalidChange for two spellings of one with different values."""
    if not isinstance(changes, dict):
        raise InvalidChange("Send the room's settings as a JSON object.", [])
    found, problems = spelled(changes, room_keys())
    rules = found.get("rules", (None, None))[1]
    if isinstance(rules, dict):
        by_rule, rule_problems = spelled(rules, rooms.Rules.NAMES.values(), "rules.")
        problems.update(rule_problems)
        found["rules"] = ("rules", {name: value for name, (_, value) in by_rule.items()})
    if problems:
        raise InvalidChange(_sentence(dict.fromkeys(problems.values())), problems)
    return {name: value for name, (_, value) in found.items()}


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _coerce(key: str, value, annotation, default):
    """``value`` as the field's type; InvalidChange naming ``key`` otherwise."""
    optional = False
    if typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional, annotation = type(None) in typing.get_args(annotation), kinds[0]
    if value is None:
        if optional:
            return None
        if default is dataclasses.MISSING:
            raise InvalidChange(f"{key} cannot be empty.", [key])
        return default
    if annotation is bool:
        if not isinstance(value, bool):
            raise InvalidChange(f"{key} must be true or false, not {value!r}.", [key])
    elif annotation is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidChange(f"{key} must be a whole number, not {value!r}.", [key])
    elif annotation is str:
        if not isinstance(value, str):
            raise InvalidChange(f"{key} must be text, not {value!r}.", [key])
    elif annotation is list:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidChange(f"{key} must be a list of text, not {value!r}.", [key])
        value = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    return value


def _room_setters(changes: dict) -> tuple:
    """([(property, setter(room))], {property: type error}) for every change (keyed as
    ``canonical_room`` answers)."""
    fields, setters, problems = _room_fields(), [], {}

    def setter(target, name, value):
        return lambda room: setattr(target(room), name, value)
    for key, value in changes.items():
        try:
            if key == "rules":
                if not isinstance(value, dict):
                    raise InvalidChange("rules must be an object of rule names and values.", [key])
                by_public = {public: name for name, public in rooms.Rules.NAMES.items()}
                rule_fields = {f.name: f for f in dataclasses.fields(rooms.Rules)}
                for public, rule_value in value.items():
                    prop = f"rules.{public}"
                    try:
                        name = by_public.get(public)
                        if name is None:
                            raise InvalidChange(f"there is no rule {public!r} (rules are "
                                                f"{', '.join(by_public)})", [prop])
                        field = rule_fields[name]
                        coerced = _coerce(public, rule_value, field.type, _default(field))
                        setters.append((prop, setter(lambda room: room.rules, name, coerced)))
                    except InvalidChange as e:
                        problems[prop] = e.message
                continue
            field = fields.get(key)
            if field is None:
                raise InvalidChange(f"there is no room setting {key!r}", [key])
            setters.append((key, setter(lambda room: room, field.name,
                                        _coerce(key, value, field.type, _default(field)))))
        except InvalidChange as e:
            problems[key] = e.message
    if changes.get("status") == "available" and "statusReason" not in changes:
        setters.append(("statusReason", setter(lambda room: room, "status_reason", "")))
    return setters, problems


def _copy(room: rooms.Room) -> rooms.Room:
    """A fresh, unvalidated copy (dataclass fields only)."""
    import copy
    return type(room)(**{f.name: copy.deepcopy(getattr(room, f.name)) for f in dataclasses.fields(room)})


def build_room(base: rooms.Room, changes: dict) -> rooms.Room:
    """``base`` with ``changes`` (keyed as ``canonical_room`` answers), validated.  Each
    change is first tried on its own, so the error names exactly the settings that are wrong."""
    setters, problems = _room_setters(changes)
    for prop, set_value in setters:
        trial = _copy(base)
        set_value(trial)
        try:
            trial.validate()
        except (ValueError, TypeError) as e:
            problems[prop] = str(e)
    if problems:
        raise InvalidChange(_sentence(problems.values()), problems)
    def applied(skip=None):
        room = _copy(base)
        for prop, set_value in setters:
            if prop != skip:
                set_value(room)
        return room.validate()
    try:
        return applied()
    except (ValueError, TypeError) as e:  # settings that are only wrong together:
        involved = []                     # those without which the rest would do
        for prop, _ in setters:
            try:
                applied(skip=prop)
                involved.append(prop)
            except (ValueError, TypeError):
                pass
        raise InvalidChange(_sentence([str(e)]), involved or [p for p, _ in setters]) from None


def check_people(accounts, room: rooms.Room, base: Optional[rooms.Room] = None) -> None:
    """Every user and @group newly named in the room's lists exists."""
    groups, problems = None, {}
    for field in PEOPLE:
        before = set(getattr(base, field, None) or ()) if base else set()
        for entry in getattr(room, field, None) or ():
            if entry in before:
                continue
            if entry.startswith("@"):
                groups = accounts.list_groups() if groups is None else groups
                if entry[1:] not in groups:
                    problems.setdefault(camel_case(field), f"there is no group {entry[1:]!r} "
                                                         f"(in {field}); create it first")
            elif accounts.get_user(entry) is None:
                problems.setdefault(camel_case(field), f"there is no user {entry!r} (in {field})")
    if problems:
        raise InvalidChange(_sentence(problems.values()), problems)


def check_email_free(storage, room: rooms.Room) -> None:
    """A room's own address names no other room and no user: an invitation must reach one."""
    if not room.email:
        return
    other = storage.directory.room_for(room.email)
    if other is not None and other.id != room.id:
        raise InvalidChange(f"The address {room.email} is already room {other.id}'s.", ["email"])
    if storage.accounts.user_with_email(room.email) is not None:
        raise InvalidChange(f"The address {room.email} is already a user's.", ["email"])


def add_room(storage, room_id: str, changes: dict, actor: Actor) -> rooms.Room:
    changes = canonical_room(changes)
    try:
        rooms.check_id(room_id)
    except ValueError as e:
        raise InvalidChange(_sentence([str(e)]), ["id"]) from None
    name = changes.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidChange("A room needs a name.", ["name"])
    room = build_room(rooms.Room(id=room_id, name=name).validate(), changes)
    check_people(storage.accounts, room)
    check_email_free(storage, room)
    with _writing(storage, actor, room.path, "MKCALENDAR"):
        if room_id in storage.registry.ids():
            raise AlreadyExists(f"Room {room_id!r} already exists.")
        storage.create_collection(room.path, props=room.to_props())
    defaults = rooms.Room(id=room.id, name=room.name).to_json()
    _log(actor, "added room %s: %s", room.id,
         _settings({k: v for k, v in {**room.to_json(), "email": room.email}.items()
                    if k == "name" or defaults.get(k, "") != v}))
    return room


def update_room(storage, room_id: str, changes: dict, actor: Actor) -> rooms.Room:
    changes = {k: v for k, v in canonical_room(changes).items()
               if not (k in READ_ONLY_KEYS and (k != "id" or v == room_id))}
    if "id" in changes:
        raise InvalidChange("A room's id cannot change; add a new room instead.", ["id"])
    with _writing(storage, actor, f"/{rooms.ROOMS}/{room_id}/", "PROPPATCH"):
        collection = storage.room_collection(room_id)
        base = collection.room()
        if not base.email and isinstance(changes.get("email"), str) and \
                changes["email"].strip().lower() == storage.directory.room_email(base).lower():
            del changes["email"]   # the default address, as GET showed it: it stays the default
        room = build_room(base, changes)
        check_people(storage.accounts, room, base)
        if room.email != base.email:
            check_email_free(storage, room)
        collection.set_meta({**collection.get_meta(), **room.to_props()})
        if room.timezone != base.timezone:  # floating times and dates move: every item read again
            storage.room_collection(room_id).reindex(trust_stamps=False)
    before, after = {**base.to_json(), "email": base.email}, {**room.to_json(), "email": room.email}
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    _log(actor, "changed room %s: %s", room_id, _settings(changed) or "nothing")
    return room


def remove_room(storage, room_id: str, actor: Actor, *, force: bool = False,
                hint: str = "remove it with force to delete them too") -> int:
    """Remove a room; refused while it has bookings unless ``force``.  Returns their count."""
    with _writing(storage, actor, f"/{rooms.ROOMS}/{room_id}/", "DELETE"):
        collection = storage.room_collection(room_id)
        count = storage.index.count(collection.view().room_key)
        if count and not force:
            raise RoomInUse(f"Room {room_id!r} still has {count} booking(s); {hint}.")
        collection.delete()
    _log(actor, "removed room %s%s", room_id, f" and its {count} booking(s)" if count else "")
    return count


def _settings(data: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, sort_keys=True)}"
                     for k, v in data.items() if k not in ("href", "id"))


# -- users ----------------------------------------------------------------------------------
def _user_problems(name=None, password=None, admin=None, email=None, *, new=False) -> dict:
    problems = {}
    if new:
        try:
            check_name(name)
            if name.lower() in RESERVED_USERS:
                raise AccountError(f"user name {name!r} is reserved (it is a URL of the server)")
        except AccountError as e:
            problems["name"] = str(e)
    if password is not None and (not isinstance(password, str) or not password):
        problems["password"] = "the password must be non-empty text"
    if admin is not None and not isinstance(admin, bool):
        problems["admin"] = f"admin must be true or false, not {admin!r}"
    if email is not None:
        try:
            check_email(email)
        except AccountError as e:
            problems["email"] = str(e)
    return problems


def _refuse(problems: dict) -> None:
    if problems:
        raise InvalidChange(_sentence(problems.values()), problems)


def require_user(accounts, name: str):
    user = accounts.get_user(name) if isinstance(name, str) else None
    if user is None:
        raise NotFound(f"There is no user {name!r}.")
    return user


def add_user(accounts, name: str, password: str, actor: Actor, *, admin: bool = False,
             email: str = ""):
    _refuse(_user_problems(name, password if password is not None else "", admin, email, new=True))
    if accounts.get_user(name) is not None:
        raise AlreadyExists(f"User {name!r} already exists.")
    user = accounts.add_user(name, password, admin=admin, email=email or "")
    _log(actor, "added user %s%s%s", name, " (admin)" if admin else "",
         f" <{email}>" if email else "")
    return user


def change_user(accounts, name: str, actor: Actor, *, password: Optional[str] = None,
                admin: Optional[bool] = None, email: Optional[str] = None):
    """Password, admin flag and/or e-mail; all checked before any is changed."""
    require_user(accounts, name)
    _refuse(_user_problems(password=password, admin=admin, email=email))
    if password is not None:
        accounts.set_password(name, password)
        _log(actor, "changed the password of %s", name)
    if admin is not None or email is not None:
        accounts.update_user(name, admin=admin, email=email)
        if admin is not None:
            _log(actor, "%s admin rights of %s", "granted" if admin else "revoked", name)
        if email is not None:
            _log(actor, "set the e-mail of %s to %s", name, email or "(none)")
    return accounts.get_user(name)


def remove_user(accounts, name: str, actor: Actor) -> None:
    require_user(accounts, name)
    accounts.remove_user(name)
    _log(actor, "removed user %s (and their tokens and group memberships)", name)


# -- groups -----------------------------------------------------------------------------------
def _members(members, key="members") -> List[str]:
    if members is None:
        return []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise InvalidChange(f"{key} must be a list of user names.", [key])
    return list(dict.fromkeys(members))


def add_to_group(accounts, group: str, members, actor: Actor) -> bool:
    """Create ``group`` if needed and add ``members``; True when it was created."""
    problems = {}
    try:
        check_name(group, "group name")
    except AccountError as e:
        problems["name"] = str(e)
    try:
        members = _members(members)
        missing = [m for m in members if accounts.get_user(m) is None]
        if missing:
            problems["members"] = f"there is no user {', '.join(map(repr, missing))}"
    except InvalidChange as e:
        problems["members"] = e.message
    _refuse(problems)
    created = group not in accounts.list_groups()
    accounts.add_group(group)
    for member in members:
        accounts.add_member(group, member)
    if created:
        _log(actor, "added group %s", group)
    if members:
        _log(actor, "added %s to group %s", ", ".join(members), group)
    return created


def remove_from_group(accounts, group: str, members, actor: Actor) -> None:
    groups = accounts.list_groups()
    if group not in groups:
        raise NotFound(f"There is no group {group!r}.")
    members = _members(members)
    outside = [m for m in members if m not in groups[group]]
    if outside:
        raise NotFound(f"{', '.join(map(repr, outside))} {'is' if len(outside) == 1 else 'are'} "
                       f"not in group {group!r}.")
    for member in members:
        accounts.remove_member(group, member)
    _log(actor, "removed %s from group %s", ", ".join(members), group)


# -- tokens ----------------------------------------------------------------------------------
def create_token(accounts, user: str, actor: Actor, *, label: str = "", read_only: bool = False):
    """Returns (Token, secret); the secret is shown once and never logged."""
    problems = {}
    if not isinstance(user, str) or accounts.get_user(user) is None:
        problems["user"] = f"there is no user {user!r}"
    if not isinstance(label, str):
        problems["label"] = "label must be text"
    if not isinstance(read_only, bool):
        problems["readOnly"] = f"readOnly must be true or false, not {read_only!r}"
    _refuse(problems)
    token, secret = accounts.create_token(user, label, read_only)
    _log(actor, "created %stoken %s for %s%s", "read-only " if read_only else "", token.id, user,
         f" (label {label!r})" if label else "")
    return token, secret


def revoke_token(accounts, token_id: str, actor: Actor) -> None:
    if not any(t.id == token_id for t in accounts.list_tokens()):
        raise NotFound(f"There is no token {token_id!r}.")
    accounts.revoke_token(token_id)
    _log(actor, "revoked token %s", token_id)


# -- mail templates ----------------------------------------------------------------------------
# ``room_id`` None is the default template (rooms without their own).
def _template_owner(storage, room_id: Optional[str]) -> str:
    if room_id is not None and storage.registry.get(room_id) is None:
        raise NotFound(f"There is no room {room_id!r}.")
    return f"room {room_id}" if room_id else "rooms without their own"


def _template_kind(kind: Optional[str]) -> str:
    """`` (kind)`` for the log; InvalidChange for a kind without a template of its own."""
    try:
        check_kind(kind)
    except TemplateError as e:
        raise InvalidChange(f"{str(e)[:1].upper()}{str(e)[1:]}.", ["kind"]) from None
    return f" ({kind})" if kind else ""


def template(storage, room_id: Optional[str], kind: Optional[str] = None) -> dict:
    """The template a room's mails (of ``kind``; None: the shared one) use: its own, else
    the default, else the built-in one."""
    _template_owner(storage, room_id)
    _template_kind(kind)
    subject, body, whose = storage.notifier.templates.get(room_id, kind)
    return {"room": room_id, "whose": whose, "subject": subject, "body": body,
            "text": format_template(subject, body)}


def set_template(storage, room_id: Optional[str], text, actor: Actor, kind: Optional[str] = None) -> None:
    """Checked first (compiles, renders on sample data); the old one stays if refused."""
    owner = _template_owner(storage, room_id) + _template_kind(kind)
    if not isinstance(text, str) or not text.strip():
        raise InvalidChange("A template is text: the subject on the first line, then the body.", ["text"])
    try:
        storage.notifier.templates.set(room_id, text, kind)
    except TemplateError as e:
        raise InvalidChange(f"Template refused: {e}", ["text"]) from None
    _log(actor, "set the mail template of %s", owner)


def remove_template(storage, room_id: Optional[str], actor: Actor, kind: Optional[str] = None) -> None:
    owner = _template_owner(storage, room_id) + _template_kind(kind)
    if not storage.notifier.templates.remove(room_id, kind):
        raise NotFound(f"{'Room ' + room_id if room_id else 'The default'} has no template of its own"
                       f"{' for ' + kind + ' mails' if kind else ''}.")
    _log(actor, "removed the mail template of %s", owner)


# -- the outbox: mails that failed, sent again ---------------------------------------------------
def retry_mail(storage, ids: Optional[List[int]], actor: Actor) -> List[int]:
    """Send again the mails ``ids`` (None: every failed one): storage/outbox.py ``requeue``."""
    retried = storage.notifier.outbox.requeue(ids)
    if retried:
        notify.WAKE.set()   # this process's sender looks at once; the others within seconds
    _log(actor, "queued %d mail(s) to be sent again: %s", len(retried),
         ", ".join(map(str, retried)) or "none")
    return retried
