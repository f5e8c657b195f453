"""Targeted hostile values for the spots that parse values themselves (admin rules,
permissions, role names, path parameters), each checked against invariant 5."""
from __future__ import annotations

import json

import pytest

from tests.integration.fuzz.test_openapi_hostile import World, fuzz_settings
from tests.integration.fuzz.wire import Served, problems_of, send


@pytest.fixture(scope="module")
def served_world(database_url):
    import uuid

    from app.settings import Settings
    from tests.conftest import REDIS_URL

    prefix = f"t{uuid.uuid4().hex[:10]}"

    def make_settings(**overrides):
        base = {"database": {"url": database_url}, "redis": {"url": REDIS_URL, "key_prefix": prefix},
                "events": {"stream": f"{prefix}:events"}}
        for section, values in overrides.items():
            base.setdefault(section, {}).update(values)
        return Settings(**base)

    with Served(fuzz_settings(make_settings)) as server:
        yield server, World(server)


def _admin(served_world, method: str, path: str, body) -> tuple:
    server, world = served_world
    admin = world.callers["admin"]
    admin.ensure()
    before = server.digest()
    server.unhandled.take()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = send(server.port, method.encode(), path.encode(), admin.headers() + [(b"Content-Type", b"application/json")],
                 raw)
    admin.after(reply)
    found = problems_of(reply, method.encode())
    if reply.status >= 400 and server.digest() != before:
        found.append("Postgres changed although the reply is an error")
    return reply, found, server.unhandled.take()


POLICY = {"effect": "allow", "action": "read", "subject_type": "post", "role": "fuzzrole"}


@pytest.mark.parametrize("change", [
    {"subject_type": "a" * 64 + "\n"},  # `$` in rules._NAME matches before a final newline: 65 chars in String(64)
    {"subject_type": "a" * 63 + "\n"},
    {"fields": ["a" * 64 + "\n"]},
    {"conditions": {"a" * 64 + "\n": 1}},
    {"conditions": {"x": {"$gt": 10 ** 300}}},
    {"conditions": {"x": {"$in": [1e308, -1e308, 5e-324]}}},
    {"conditions": {"x": "a" * 256}},
    {"description": "d" * 1000},
    {"role": None, "user_id": "{%s}"},
    {"role": None, "user_id": "urn:uuid:%s"},
    {"role": None, "user_id": "%S"},
])
def test_policy_values(served_world, change):
    server, world = served_world
    body = {**POLICY, **change}
    if body.get("user_id"):
        body["user_id"] = body["user_id"].replace("%s", world.victim_id).replace("%S", world.victim_id.upper())
    reply, found, causes = _admin(served_world, "POST", "/admin/policies", body)
    assert not found, (reply.status, reply.body[:400], causes)
    # A rule the service accepted must not break every later decision (the snapshot re-parses it).
    check = _admin(served_world, "POST", "/authz/check", {"action": "read", "resource": {"type": "post"}})
    assert not check[1], (check[0].status, check[0].body[:400], check[2])


@pytest.mark.parametrize("permissions", [["posts:read\n"], ["*\n"], ["a" * 64 + ":" + "b" * 64 + "\n"]])
def test_permission_values(served_world, permissions):
    reply, found, causes = _admin(served_world, "PUT", "/admin/roles/fuzzrole/permissions",
                                  {"permissions": permissions})
    assert not found, (reply.status, reply.body[:400], causes)


@pytest.mark.parametrize("path", [
    "/admin/roles/fuzzrole%0A", "/admin/roles/" + "a" * 64 + "%0A", "/admin/roles/%C3%A9",
    "/admin/users/%7B{v}%7D/roles", "/admin/users/{V}/roles", "/admin/policies?user_id=%7B{v}%7D",
    "/admin/policies?user_id=" + "1" * 32, "/admin/policies?role=" + "r" * 500,
    "/admin/clients/cl_" + "A" * 21 + "%0A",
])
def test_path_and_query_values(served_world, path):
    server, world = served_world
    path = path.replace("{v}", world.victim_id).replace("{V}", world.victim_id.upper())
    reply, found, causes = _admin(served_world, "GET", path, b"")
    assert not found, (reply.status, reply.body[:400], causes)


@pytest.mark.parametrize("body", [
    {"name": "x" * 200 + " "}, {"name": "\u2028" * 10}, {"name": "a", "roles": ["fuzzrole\n"]},
    {"name": "\ufdfa" * 200},
])
def test_client_values(served_world, body):
    reply, found, causes = _admin(served_world, "POST", "/admin/clients", body)
    assert not found, (reply.status, reply.body[:400], causes)


@pytest.mark.parametrize("body", [
    {"name": "r1", "description": "x" * 5000}, {"name": "r2", "parents": ["r2"]},
    {"name": "r3", "permissions": ["p:q"] * 200}, {"name": "R4", "parents": ["fuzzrole", "FUZZROLE"]},
])
def test_role_values(served_world, body):
    reply, found, causes = _admin(served_world, "POST", "/admin/roles", body)
    assert not found, (reply.status, reply.body[:400], causes)
