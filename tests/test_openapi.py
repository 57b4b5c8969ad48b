"""GET /api/openapi.json and GET /api/docs (issue 5): a valid OpenAPI 3.1 document that
covers every /api route the server dispatches on and the JSON verbs on the CalDAV tree,
and a self-contained HTML page of it — real server, real HTTP."""

import fnmatch
import html
import importlib
import os
import re
import tomllib

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from werkzeug.routing import Map, Rule

from conftest import REPO, assert_no_500
from roomcal.server import openapi
from roomcal.server.api import ROUTE_MODULES
from roomcal.server.routes import docs

USER, ADMIN = "oa-user", "oa-admin"


@pytest.fixture(scope="module")
def world(server):
    server.add_user(USER)
    server.add_user(ADMIN, admin=True)
    yield server
    assert_no_500(server)


@pytest.fixture(scope="module")
def spec(world):
    r = world.request("GET", "/api/openapi.json", user=USER)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def api_rules():
    """The rules the server dispatches /api on (the same modules the Api loads)."""
    rules = []
    for name in ROUTE_MODULES:
        # unbound copies: a rule binds to one Map, and this runs once per store
        rules.extend(rule.empty() for rule in importlib.import_module(name).ROUTES)
    return list(Map(rules, strict_slashes=False).iter_rules())


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def test_login_required(world):
    for path in ("/api/openapi.json", "/api/docs"):
        r = world.request("GET", path)
        assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    # Read-only tokens may read them.
    token = world.token(USER, "--read-only")
    assert world.request("GET", "/api/openapi.json", token=token).status_code == 200
    assert world.request("GET", "/api/docs", token=token).status_code == 200


def test_valid_openapi_31(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # openapi-spec-validator: the 3.1 schema, $refs, path parameters
    assert spec["info"]["title"] == "roomcal" and spec["info"]["version"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert {"basicAuth": []} in spec["security"] and {"bearerAuth": []} in spec["security"]
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    # Every $ref points at something.
    text = str(spec)
    for kind, name in re.findall(r"#/components/(\w+)/([\w.-]+)", text):
        assert name in spec["components"][kind], (kind, name)


def test_every_api_rule_has_a_path_item(spec):
    rules = api_rules()
    assert len(rules) > 30
    for rule in rules:
        path = openapi.path_of(rule)
        assert path in spec["paths"], f"{rule.rule} is missing from the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path].get(method.lower())
            assert operation, f"{method} {rule.rule} is missing"
            assert operation["summary"] and operation["responses"]
        for name in rule.arguments:
            declared = spec["paths"][path].get("parameters", [])
            assert any(p["name"] == name and p["in"] == "path" for p in declared), (path, name)
    documented = {(path, method) for path, method, _ in operations(spec) if path.startswith("/api")}
    routed = {(openapi.path_of(r), m.lower()) for r in rules for m in r.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed  # nothing documented that does not exist


def test_documented_routes_are_routed(world, spec):
    """Each /api operation reaches a route on the real server (not the router's 404/405).
    A plain user's read-only token: nothing can change."""
    token = world.token(USER, "--read-only")
    for path, method, _ in operations(spec):
        if not path.startswith("/api"):
            continue
        url = re.sub(r"\{kind\}", "events", path)
        url = re.sub(r"\{[^}]+\}", "oa-nothing", url)
        r = world.request(method.upper(), url, token=token, json={})
        assert r.status_code != 405, (method, path, r.text)
        if r.status_code == 404:
            assert "There is no route" not in r.json()["message"], (method, path)


def test_main_bodies_have_schemas(spec):
    schemas = spec["components"]["schemas"]
    event = schemas["Event"]
    assert event["type"] == "object"
    assert {"@type", "uid", "title", "start", "timeZone", "duration", "recurrenceRules",
            "participants", "locations", "alerts", "status", "privacy"} <= set(event["properties"])
    error = schemas["Error"]
    assert {"error", "type", "message", "properties", "conflicts", "violations"} <= set(error["properties"])
    assert error["required"] == ["error", "type", "message"]
    replace = spec["paths"]["/api/rooms/{room_id}/bookings/replace"]["post"]
    assert replace["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReplaceRequest"}
    assert set(replace["responses"]) >= {"200", "400", "401", "403", "404"}
    assert replace["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ReplaceErrors")
    booking = spec["paths"]["/api/rooms/{room_id}/bookings"]["post"]
    assert "requestBody" in booking and "201" in booking["responses"]


def test_room_changes_document_both_spellings(spec):
    schemas = spec["components"]["schemas"]
    change = schemas["RoomChange"]
    assert {"statusReason", "status-reason", "busyTitle", "busy-title"} <= set(change["properties"])
    assert change["properties"]["rules"] == {"$ref": "#/components/schemas/RulesChange"}
    rules = schemas["RulesChange"]["properties"]
    for kebab, camel in (("max-duration", "maxDuration"), ("min-notice", "minNotice"),
                         ("opening-hours", "openingHours"), ("no-recurring", "noRecurring")):
        assert rules[kebab]["type"] == rules[camel]["type"] and kebab in rules[camel]["description"]
    assert set(schemas["Rules"]["properties"]) < set(rules)  # answers: one spelling
    assert "camelCase" in schemas["RulesChange"]["description"]


def test_booking_bodies_are_what_the_schema_says(world, spec):
    """The shape the OpenAPI document gives a booking body is the one the server takes:
    for bodies whose times are fine, valid by the schema exactly when the dry run reads it."""
    world.add_room("oa-room")
    schema = {"$ref": "#/components/schemas/SimpleBookingRequest", "components": spec["components"]}
    body_schema = spec["paths"]["/api/rooms/{room_id}/bookings"]["post"]["requestBody"]
    check_schema = spec["paths"]["/api/rooms/{room_id}/check"]["post"]["requestBody"]
    seed_schema = spec["paths"]["/api/{calendar}/{kind}/"]["post"]["requestBody"]
    assert body_schema == check_schema
    # Booking and its dry run take the seed's body, and skipConflicts beside it.
    schemas = spec["components"]["schemas"]
    assert [s["$ref"].split("/")[-1] for s in seed_schema["content"]["application/json"]["schema"]["anyOf"]] \
        == ["SimpleBooking", "Event"]
    assert [s["$ref"].split("/")[-1] for s in body_schema["content"]["application/json"]["schema"]["anyOf"]] \
        == ["SimpleBookingRequest", "Event"]
    assert schemas["SimpleBookingRequest"]["properties"] == {
        **schemas["SimpleBooking"]["properties"],
        "skipConflicts": schemas["SimpleBookingRequest"]["properties"]["skipConflicts"]}
    validator = Draft202012Validator(schema)
    slot = {"start": "2027-05-10T10:00:00", "end": "2027-05-10T11:00:00"}
    for body in ({"title": "x", **slot}, {"name": "x", **slot}, {"title": "x", "description": "d",
                                                                 "uid": "u", **slot},
                 {"title": "x", "description": None, "uid": None, **slot},
                 slot, {"title": "", **slot}, {"title": " ", **slot}, {"name": " ", **slot},
                 {"title": 1, **slot}, {"title": "x", "guests": 2, **slot}, {"title": "x", "uid": "", **slot},
                 {"title": "x", "start": slot["start"]}, {"title": "x", "timeZone": "UTC", **slot},
                 {"title": "x", "skipConflicts": True, **slot}, {"title": "x", "recurrenceRules": None, **slot},
                 {"title": "x", "recurrenceRules": [{"frequency": "weekly", "count": 2}], **slot},
                 {"title": "x", "recurrenceRules": [], **slot},
                 {"title": "x", "recurrenceRules": [{"frequency": "weekly", "count": 2}],
                  "excludedRecurrenceDates": [slot["start"]], **slot}):
        answer = world.request("POST", "/api/rooms/oa-room/check", user=USER, json=body)
        assert answer.status_code == (200 if validator.is_valid(body) else 422), (body, answer.text)


def test_caldav_json_verbs(spec):
    paths = spec["paths"]
    collection, item = paths["/rooms/{room_id}/"], paths["/rooms/{room_id}/{item}"]
    assert {"get", "post"} <= set(collection) and {"get", "put", "patch", "delete"} <= set(item)
    sync = {p["name"] for p in collection["get"]["parameters"]}
    assert {"sync-token", "nresults", "start", "end", "text", "props[]"} <= sync
    assert collection["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Event")
    assert "/{user}/{calendar}/" in paths and "/{user}/{calendar}/{item}" in paths


def test_docs_page(world, spec):
    r = world.request("GET", "/api/docs", user=USER)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    page = r.text
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for path, method, operation in operations(spec):
        assert html.escape(path) in page, path
        assert f"id='{operation['operationId']}'" in page
    for name in spec["components"]["schemas"]:
        assert f"id='schema-{name}'" in page
    # Self-contained: no scripts, no external resources, the stylesheet inline.
    assert "<script" not in page and "<link" not in page and " src=" not in page
    assert not re.search(r"(href|src)=['\"]?(https?:)?//", page)
    assert ".method.post" in page  # docs.css, from the package
    assert "/api/openapi.json" in page


def test_routes_can_describe_themselves():
    """An ``openapi`` attribute on an endpoint is merged over the generated operation."""
    def hello(api, request, identity, thing):
        """Say hello.

        To a thing."""
    hello.openapi = {"responses": {"200": {"description": "Hello."}}}
    spec = openapi.build(Map([Rule("/api/hello/<any(a, b):thing>", endpoint=hello, methods=["GET"])]))
    operation = spec["paths"]["/api/hello/{thing}"]["get"]
    assert operation["summary"] == "Say hello" and operation["description"] == "To a thing."
    assert operation["responses"]["200"] == {"description": "Hello."}
    assert spec["paths"]["/api/hello/{thing}"]["parameters"][0]["schema"]["enum"] == ["a", "b"]
    validate(spec)


def test_stylesheet_is_package_data():
    """What /api/docs reads from the package is declared as package data (so a wheel,
    a non-editable install, has it)."""
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    assert "roomcal.server.static" in setuptools["packages"]
    patterns = setuptools["package-data"]["roomcal.server.static"]
    static = os.path.join(REPO, "server", "static")
    files = os.listdir(static)
    assert files
    for name in files:
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
    assert docs.stylesheet().strip()


# -- real answers against the document ----------------------------------------------------------
def conforms(spec, method, path, answer):
    """The answer is one the document gives: its status is listed (an error may be the
    "default"), and a JSON body is valid by the schema of that status and media type."""
    responses = spec["paths"][path][method.lower()]["responses"]
    status = str(answer.status_code)
    assert status in responses or (answer.status_code >= 400 and "default" in responses), \
        (method, path, status, sorted(responses))
    documented = responses.get(status) or responses["default"]
    if "$ref" in documented:
        documented = spec["components"]["responses"][documented["$ref"].rsplit("/", 1)[-1]]
    media = answer.headers.get("Content-Type", "").split(";")[0]
    if not media.endswith("json"):
        return
    schemas = [v["schema"] for k, v in documented.get("content", {}).items() if k.split(";")[0] == media]
    assert schemas, (method, path, status, media, documented)
    validator = Draft202012Validator({**schemas[0], "components": spec["components"]})
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(answer.json())]
    assert not problems, (method, path, status, problems, answer.text)


def test_real_answers_validate_against_the_document(world, spec):
    """Rooms, bookings (list, read, create, the verbs), availability, the dry run, replace,
    the seed's create, admin lists and the errors on the way: each as the server answers it."""
    world.add_room("oa-shapes", "--timezone", "Europe/Berlin", "--max-duration", "PT4H")
    world.add_room("oa-closed", "--bookers", ADMIN, "--viewers", ADMIN)
    room, base = "/api/rooms/{room_id}", "/api/rooms/oa-shapes"
    seen = []

    def call(method, path, url, user=USER, **kwargs):
        answer = world.request(method, url, user=user, **kwargs)
        conforms(spec, method, path, answer)
        seen.append((method, path, answer.status_code))
        return answer

    slot = {"start": "2027-06-07T10:00:00", "end": "2027-06-07T11:00:00"}
    call("GET", "/api/rooms", "/api/rooms")
    call("GET", "/api/rooms", "/api/rooms?capacity=x")                                   # 400
    call("GET", room, base)
    call("GET", room, "/api/rooms/oa-none")                                            # 404
    created = call("POST", room + "/bookings", base + "/bookings", json={"title": "Plan", **slot})
    assert created.status_code == 201
    uid = created.json()["uid"]
    call("POST", room + "/bookings", base + "/bookings", json={"title": "Again", **slot})          # 409
    call("POST", room + "/bookings", base + "/bookings",
         json={"title": "Long", "start": "2027-06-08T08:00:00", "end": "2027-06-08T13:00:00"})    # 422
    call("POST", room + "/bookings", base + "/bookings", json={"title": " ", "start": "x"})        # 422
    call("POST", room + "/bookings", "/api/rooms/oa-closed/bookings", json={"title": "No", **slot})  # 403
    call("POST", room + "/bookings", base + "/bookings", data=b"{",
         headers={"Content-Type": "application/json"})                                          # 400
    untitled = call("POST", room + "/bookings", base + "/bookings",
                    json={"@type": "Event", "start": "2027-06-09T10:00:00", "duration": "PT1H",
                          "timeZone": "Europe/Berlin"})
    assert untitled.status_code == 201
    answer = world.request("POST", base + "/bookings", json={"title": "x", **slot})          # no login
    conforms(spec, "POST", room + "/bookings", answer)
    assert answer.status_code == 401
    call("GET", room + "/bookings", base + "/bookings")
    call("GET", room + "/bookings", base + "/bookings?from=x")                          # 400
    call("GET", room + "/bookings/{uid}", f"{base}/bookings/{uid}")
    call("GET", room + "/bookings/{uid}", f"{base}/bookings/{untitled.json()['uid']}")
    call("GET", room + "/bookings/{uid}", base + "/bookings/oa-none")                    # 404
    call("POST", room + "/check", base + "/check", json={"title": "Check", **slot})
    call("POST", room + "/check", base + "/check", json={"title": "Check"})              # 422
    series = {"title": "Series", **slot, "recurrenceRules": [{"frequency": "daily", "count": 2}],
              "skipConflicts": True}
    skipping = call("POST", room + "/check", base + "/check", json=series)
    assert skipping.json()["ok"] and len(skipping.json()["skipped"]) == 1
    later = {"start": "2027-06-21T10:00:00", "end": "2027-06-21T11:00:00"}
    call("POST", room + "/bookings", base + "/bookings", json={"title": "Taken", **later})
    skipped = call("POST", room + "/bookings", base + "/bookings", json={**series, **later})
    assert skipped.status_code == 201 and len(skipped.json()["skipped"]) == 1
    call("POST", room + "/bookings", "/api/rooms/oa-closed/bookings", user=ADMIN, json={"title": "Board", **slot})
    busy_only = call("POST", room + "/check", "/api/rooms/oa-closed/check", json={"title": "Mine", **slot})
    assert busy_only.json()["conflicts"] == [{"start": "2027-06-07T10:00:00+00:00",
                                              "end": "2027-06-07T11:00:00+00:00"}]
    call("GET", room + "/bookings", "/api/rooms/oa-closed/bookings")                   # free/busy only
    call("GET", room + "/availability", "/api/rooms/oa-closed/availability?start=2027-06-07&end=2027-06-08")
    private = call("POST", room + "/bookings", base + "/bookings", user=ADMIN,
                   json={"@type": "Event", "title": "Secret", "privacy": "private",
                         "start": "2027-06-12T10:00:00", "duration": "PT1H"})
    call("GET", room + "/bookings/{uid}", f"{base}/bookings/{private.json()['uid']}")
    call("GET", room + "/availability", f"{base}/availability?start=2027-06-07&end=2027-06-09&duration=PT1H")
    call("GET", room + "/availability", f"{base}/availability?start=2027-06-07")         # 400
    call("POST", room + "/bookings/{uid}/reschedule", f"{base}/bookings/{uid}/reschedule",
         json={"start": "2027-06-10T10:00:00"})
    call("POST", room + "/bookings/{uid}/cancel", f"{base}/bookings/{uid}/cancel", json={"reason": "off"})
    call("POST", room + "/bookings/{uid}/cancel", f"{base}/bookings/{uid}/cancel", json={})        # 409
    call("POST", room + "/bookings/{uid}/approve", f"{base}/bookings/{uid}/approve", user=ADMIN)    # 409
    call("POST", room + "/bookings/replace", base + "/bookings/replace", user=ADMIN,
         json={"period": {"start": "2027-07-01T00:00:00", "end": "2027-07-02T00:00:00"},
               "bookings": [{"title": "New", "start": "2027-07-01T10:00:00", "end": "2027-07-01T11:00:00"}]})
    replaced = call("POST", room + "/bookings/replace", base + "/bookings/replace", user=ADMIN,
                    json={"period": {"start": "2027-06-09T00:00:00", "end": "2027-06-10T00:00:00"},
                          "bookings": []})
    assert len(replaced.json()["removed"]) == 1  # the untitled Event
    call("POST", room + "/bookings/replace", base + "/bookings/replace", user=ADMIN,
         json={"period": {"start": "2027-07-02T00:00:00", "end": "2027-07-01T00:00:00"}, "bookings": []})  # 400
    call("POST", "/api/{calendar}/{kind}/", "/api/oa-shapes/events/", user=ADMIN,
         json={"name": "Seeded", "start": "2027-06-11T10:00:00", "end": "2027-06-11T11:00:00"})
    call("DELETE", "/api/clear-bookings", "/api/clear-bookings?calendar=oa-shapes&test=1", user=ADMIN)
    call("GET", "/api/admin/rooms", "/api/admin/rooms", user=ADMIN)
    call("GET", "/api/admin/rooms", "/api/admin/rooms")                                  # 403
    call("GET", "/api/admin/users", "/api/admin/users", user=ADMIN)
    call("GET", "/api/admin/tokens", "/api/admin/tokens", user=ADMIN)
    call("GET", "/api/admin/groups", "/api/admin/groups", user=ADMIN)
    call("GET", "/api/admin/templates/default", "/api/admin/templates/default", user=ADMIN)
    call("GET", "/api/openapi.json", "/api/openapi.json")
    statuses = {status for _, _, status in seen}
    assert {200, 201, 400, 403, 404, 409, 422} <= statuses, seen
