"""/api/admin: rooms, users, groups and tokens for admins who script (LibreBooking-style).

Admins only (403 for everyone else; read-only tokens may only read).  Every change is
``server.admin``'s — the code behind ``roomcal room/user/group/token`` — so the
validation, the writes and the log line ("roomcal.admin", naming who) are the CLI's.
Bad input answers 422 ``invalidProperties`` with the offending ``properties`` and
changes nothing.
"""

import datetime

from werkzeug.routing import Rule

from roomcal.server import admin, errors
from roomcal.server.admin import InvalidChange
from roomcal.server.openapi import (NO_CONTENT, STRING, answer, body, content, describe,
                                    describe_by_path, error, operation, query, ref)
from roomcal.storage.errors import Forbidden, NotFound
from roomcal.storage.mail_templates import format_template

YES = frozenset({"1", "true", "yes", "on"})


def _admin(identity, write=True):
    if not identity.admin:
        raise Forbidden("Only admins may use /api/admin.")
    if write and identity.read_only:
        raise Forbidden("This token is read-only: it cannot change anything.")


def _object(api, request, allowed=None) -> dict:
    body = api.json_body(request)
    if not isinstance(body, dict):
        raise InvalidChange("Send a JSON object.", [])
    if allowed is not None:
        unknown = [key for key in body if key not in allowed]
        if unknown:
            raise InvalidChange(f"Unknown field(s) {', '.join(map(repr, unknown))}; this route takes "
                                f"{', '.join(allowed)}.", unknown)
    return body


def _created(body, location):
    return errors.json_response(201, body, [("Location", location)])


def _no_content():
    return 204, [], b""


# -- rooms -----------------------------------------------------------------------------------
@describe("List every room (admins)",
          responses={"200": answer("The rooms.", "RoomList")})
def list_rooms(api, request, identity):
    _admin(identity, write=False)
    return errors.json_response(200, {"rooms": [api.room_json(room, identity)
                                                for room in api.storage.registry.all()]})


@describe("Add a room", request=body("RoomChange"),
          responses={"201": answer("Added.", "Room")},
          errors={**error("409", "Conflict"), **error("422", "Unprocessable")})
def add_room(api, request, identity):
    _admin(identity)
    body = _object(api, request)
    room_id = body.pop("id", None)
    if not isinstance(room_id, str):
        raise InvalidChange("A room needs an id (text).", ["id"])
    room = admin.add_room(api.storage, room_id, body, identity.actor())
    return _created(api.room_json(room, identity), f"/api/rooms/{room.id}")


@describe("One room (admins)",
          responses={"200": answer("The room.", "Room")})
def get_room(api, request, identity, room_id):
    _admin(identity, write=False)
    return errors.json_response(200, api.room_json(api.room(room_id), identity))


@describe("Change a room", request=body("RoomChange"),
          responses={"200": answer("Changed.", "Room")},
          errors=error("422", "Unprocessable"))
def change_room(api, request, identity, room_id):
    _admin(identity)
    room = admin.update_room(api.storage, room_id, _object(api, request), identity.actor())
    return errors.json_response(200, api.room_json(room, identity))


@describe(
    "Remove a room", parameters=[query("force", "1: also when it has bookings")],
    responses=NO_CONTENT, errors=error("409", "Conflict"))
def remove_room(api, request, identity, room_id):
    _admin(identity)
    admin.remove_room(api.storage, room_id, identity.actor(),
                      force=(request.args.get("force") or "").lower() in YES,
                      hint="add ?force=1 to remove it with its bookings")
    return _no_content()


# -- users -----------------------------------------------------------------------------------
def _user_json(api, user) -> dict:
    return {"name": user.name, "admin": user.admin, "email": user.email,
            "groups": sorted(api.storage.accounts.groups_of(user.name))}


@describe("List users", responses={"200": answer("The users.", "UserList")})
def list_users(api, request, identity):
    _admin(identity, write=False)
    return errors.json_response(200, {"users": [_user_json(api, u)
                                                for u in api.storage.accounts.list_users()]})


@describe("Add a user", request=body("UserChange"),
          responses={"201": answer("Added.", "User")},
          errors={**error("409", "Conflict"), **error("422", "Unprocessable")})
def add_user(api, request, identity):
    _admin(identity)
    body = _object(api, request, ("name", "password", "admin", "email"))
    user = admin.add_user(api.storage.accounts, body.get("name"), body.get("password"), identity.actor(),
                          admin=body.get("admin", False), email=body.get("email", ""))
    return _created(_user_json(api, user), f"/api/admin/users/{user.name}")


@describe("One user", responses={"200": answer("The user.", "User")})
def get_user(api, request, identity, name):
    _admin(identity, write=False)
    return errors.json_response(200, _user_json(api, admin.require_user(api.storage.accounts, name)))


@describe("Change a user", request=body("UserChange"),
          responses={"200": answer("Changed.", "User")},
          errors=error("422", "Unprocessable"))
def change_user(api, request, identity, name):
    _admin(identity)
    body = _object(api, request, ("password", "admin", "email"))
    if name == identity.user and body.get("admin") is False:
        raise InvalidChange("You cannot take away your own admin rights; another admin can.", ["admin"])
    user = admin.change_user(api.storage.accounts, name, identity.actor(), password=body.get("password"),
                             admin=body.get("admin"), email=body.get("email"))
    return errors.json_response(200, _user_json(api, user))


@describe("Remove a user", responses=NO_CONTENT)
def remove_user(api, request, identity, name):
    _admin(identity)
    admin.require_user(api.storage.accounts, name)
    if name == identity.user:
        raise Forbidden("You cannot remove your own account; another admin can.")
    admin.remove_user(api.storage.accounts, name, identity.actor())
    return _no_content()


# -- groups ----------------------------------------------------------------------------------
def _group(api, name) -> dict:
    groups = api.storage.accounts.list_groups()
    if name not in groups:
        raise NotFound(f"There is no group {name!r}.")
    return {"name": name, "members": groups[name]}


@describe("List groups", responses={"200": answer("The groups.", "GroupList")})
def list_groups(api, request, identity):
    _admin(identity, write=False)
    return errors.json_response(200, {"groups": [{"name": name, "members": members} for name, members
                                                 in api.storage.accounts.list_groups().items()]})


@describe("Create a group and/or add members", request=body("Group"),
          responses={"201": answer("Created.", "Group"),
                     "200": answer("Members added.", "Group")})
def add_group(api, request, identity):
    _admin(identity)
    body = _object(api, request, ("name", "members"))
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidChange("A group needs a name (text).", ["name"])
    created = admin.add_to_group(api.storage.accounts, name, body.get("members"), identity.actor())
    if created:
        return _created(_group(api, name), f"/api/admin/groups/{name}")
    return errors.json_response(200, _group(api, name))


@describe("One group", responses={"200": answer("The group.", "Group")})
def get_group(api, request, identity, name):
    _admin(identity, write=False)
    return errors.json_response(200, _group(api, name))


@describe("Add members", request=body("Members"),
          responses={"200": answer("The group.", "Group")})
def add_members(api, request, identity, name):
    _admin(identity)
    _group(api, name)
    body = _object(api, request, ("members",))
    if not body.get("members"):
        raise InvalidChange("Name the users to add: {\"members\": [...]}.", ["members"])
    admin.add_to_group(api.storage.accounts, name, body["members"], identity.actor())
    return errors.json_response(200, _group(api, name))


@describe("Remove a member", responses=NO_CONTENT)
def remove_member(api, request, identity, name, user):
    _admin(identity)
    admin.remove_from_group(api.storage.accounts, name, [user], identity.actor())
    return _no_content()


# -- tokens ----------------------------------------------------------------------------------
def _token_json(token) -> dict:
    created = datetime.datetime.fromtimestamp(token.created, datetime.timezone.utc)
    return {"id": token.id, "user": token.user, "label": token.label, "readOnly": token.read_only,
            "created": created.isoformat(timespec="seconds")}


@describe("List tokens", parameters=[query("user", "only this user's")],
          responses={"200": answer("The tokens.", "TokenList")})
def list_tokens(api, request, identity):
    _admin(identity, write=False)
    user = request.args.get("user") or None
    if user is not None:
        admin.require_user(api.storage.accounts, user)
    return errors.json_response(200, {"tokens": [_token_json(t)
                                                 for t in api.storage.accounts.list_tokens(user)]})


@describe("Create a token", request=body("TokenChange"),
          responses={"201": answer("Created; the secret is shown only "
                                   "now.", "TokenCreated")})
def create_token(api, request, identity):
    _admin(identity)
    body = _object(api, request, ("user", "label", "readOnly"))
    token, secret = admin.create_token(api.storage.accounts, body.get("user"), identity.actor(),
                                       label=body.get("label", ""), read_only=body.get("readOnly", False))
    # The only time the secret is shown.
    return _created({**_token_json(token), "token": secret}, f"/api/admin/tokens/{token.id}")


@describe("Revoke a token", responses=NO_CONTENT)
def revoke_token(api, request, identity, token_id):
    _admin(identity)
    admin.revoke_token(api.storage.accounts, token_id, identity.actor())
    return _no_content()


# -- mail templates ----------------------------------------------------------------------------
# The file format of `roomcal template set`: the subject on the first line, then the body.
# PUT takes it as text/plain, or as JSON {"subject", "body"} (or {"text"}).
# Each endpoint serves the default template and every room's: the words differ by path.
WHOSE = {"/api/admin/templates/default": "rooms without their own",
         "/api/admin/rooms/{room_id}/template": "one room"}
# ?kind=: the template of one kind of mail that has its own (pending, received, booked, changed).
KIND = query("kind", "a kind of mail with a template of its own (pending, received, booked, "
                     "changed); default: the one approved, declined, cancelled and cleared share")


@describe_by_path(lambda path: operation(
    f"The mail template of {WHOSE[path]}", "Its own, else the default, else the "
    "built-in one (`whose` says which).", responses={"200": answer("The template.", "Template")},
    parameters=[KIND]))
def get_template(api, request, identity, room_id=None):
    _admin(identity, write=False)
    return errors.json_response(200, admin.template(api.storage, room_id, _kind(request)))


def _kind(request):
    return request.args.get("kind") or None


@describe_by_path(lambda path: operation(
    f"Set the mail template of {WHOSE[path]}",
    "Checked first: it must compile and render on sample data (sandboxed "
    "Jinja2), else 422 and the old one stays. text/plain: the subject on the "
    "first line, then the body.",
    {"required": True, "content": {**content(ref("TemplateChange")), "text/plain": {"schema": STRING}}},
    {"200": answer("Set.", "Template")}, [KIND], errors=error("422", "Unprocessable")))
def set_template(api, request, identity, room_id=None):
    _admin(identity)
    if request.mimetype.endswith("json"):
        body = _object(api, request, ("subject", "body", "text"))
        if "text" in body:
            text = body["text"]
        elif isinstance(body.get("subject"), str) and isinstance(body.get("body"), str):
            text = format_template(body["subject"], body["body"])
        else:
            raise InvalidChange("Send {\"subject\": ..., \"body\": ...} (text), or the template file "
                                "as text/plain.", [k for k in ("subject", "body") if k not in body])
    elif request.mimetype in ("text/plain", ""):
        try:
            text = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidChange("The template is not UTF-8 text.", ["text"]) from None
    else:
        return errors.json_error(415, "unsupportedMediaType",
                                 "Send the template as text/plain or application/json.")
    admin.set_template(api.storage, room_id, text, identity.actor(), _kind(request))
    return errors.json_response(200, admin.template(api.storage, room_id, _kind(request)))


@describe_by_path(lambda path: operation(f"Remove the mail template of {WHOSE[path]}",
                                         responses=NO_CONTENT, parameters=[KIND]))
def remove_template(api, request, identity, room_id=None):
    _admin(identity)
    admin.remove_template(api.storage, room_id, identity.actor(), _kind(request))
    return _no_content()


ROUTES = [
    Rule("/api/admin/rooms", endpoint=list_rooms, methods=["GET"]),
    Rule("/api/admin/rooms", endpoint=add_room, methods=["POST"]),
    Rule("/api/admin/rooms/<room_id>", endpoint=get_room, methods=["GET"]),
    Rule("/api/admin/rooms/<room_id>", endpoint=change_room, methods=["PATCH"]),
    Rule("/api/admin/rooms/<room_id>", endpoint=remove_room, methods=["DELETE"]),
    Rule("/api/admin/users", endpoint=list_users, methods=["GET"]),
    Rule("/api/admin/users", endpoint=add_user, methods=["POST"]),
    Rule("/api/admin/users/<name>", endpoint=get_user, methods=["GET"]),
    Rule("/api/admin/users/<name>", endpoint=change_user, methods=["PATCH"]),
    Rule("/api/admin/users/<name>", endpoint=remove_user, methods=["DELETE"]),
    Rule("/api/admin/groups", endpoint=list_groups, methods=["GET"]),
    Rule("/api/admin/groups", endpoint=add_group, methods=["POST"]),
    Rule("/api/admin/groups/<name>", endpoint=get_group, methods=["GET"]),
    Rule("/api/admin/groups/<name>/members", endpoint=add_members, methods=["POST"]),
    Rule("/api/admin/groups/<name>/members/<user>", endpoint=remove_member, methods=["DELETE"]),
    Rule("/api/admin/tokens", endpoint=list_tokens, methods=["GET"]),
    Rule("/api/admin/tokens", endpoint=create_token, methods=["POST"]),
    Rule("/api/admin/tokens/<token_id>", endpoint=revoke_token, methods=["DELETE"]),
    Rule("/api/admin/templates/default", endpoint=get_template, methods=["GET"]),
    Rule("/api/admin/templates/default", endpoint=set_template, methods=["PUT"]),
    Rule("/api/admin/templates/default", endpoint=remove_template, methods=["DELETE"]),
    Rule("/api/admin/rooms/<room_id>/template", endpoint=get_template, methods=["GET"]),
    Rule("/api/admin/rooms/<room_id>/template", endpoint=set_template, methods=["PUT"]),
    Rule("/api/admin/rooms/<room_id>/template", endpoint=remove_template, methods=["DELETE"]),
]
