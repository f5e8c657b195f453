"""Rule validation and odd attribute values in checks."""
import uuid

import pytest

from tests.integration.authz.helpers import user


def _name(stem):
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def _role(admin, *rules):
    role = _name("r")
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    for rule in rules:
        r = await admin.request("POST", "/admin/policies", json={**rule, "role": role})
        if r.status != 201:
            return role, r
    return role, None


@pytest.mark.parametrize("op", ["$in", "$nin", "$all", "$any"])
async def test_a_placeholder_inside_a_list_is_refused_not_stored_as_a_literal(client, op):
    """Placeholders are whole values; one inside a list is malformed (422) rather than
    silently compared as the literal text "${user.id}"."""
    admin, _ = await user(client, "admin")
    r = await admin.request("POST", "/admin/policies", json={
        "role": "admin", "effect": "deny", "action": "read", "subject_type": "doc",
        "conditions": {"blocked": {op: ["${user.id}"]}}})
    assert r.status == 422, (op, r.status, await r.text())


async def test_a_deny_written_with_a_placeholder_list_does_not_fail_open(client):
    admin, _ = await user(client, "admin")
    role = _name("reader")
    assert (await admin.request("POST", "/admin/roles", json={"name": role, "permissions": ["doc:read"]})).status == 201
    r = await admin.request("POST", "/admin/policies", json={
        "role": role, "effect": "deny", "action": "read", "subject_type": "doc",
        "conditions": {"blocked_users": {"$any": ["${user.id}"]}}})
    if r.status == 422:
        return  # refused as malformed: fine
    member, member_id = await user(client, role)
    r = await member.request("POST", "/authz/check", json={
        "action": "read", "resource": {"type": "doc", "attributes": {"blocked_users": [member_id]}}})
    body = await r.json()
    assert body["allowed"] is False, body


ODD = [
    {"n": 10 ** 30},
    {"n": -0.0},
    {"n": 1e308},
    {"n": [1, [2, [3]]]},
    {"n": {"a": {"b": None}}},
    {"n": None},
    {"n": True},
    {"n": "x" * 10000},
    {"id": {"nested": 1}},
]


@pytest.mark.parametrize("attrs", ODD, ids=range(len(ODD)))
async def test_odd_attribute_values_never_500(client, attrs):
    admin, _ = await user(client, "admin")
    role, failed = await _role(admin,
                               {"effect": "allow", "action": "read", "subject_type": "thing",
                                "conditions": {"n": {"$gt": 5}}},
                               {"effect": "deny", "action": "read", "subject_type": "thing",
                                "conditions": {"$or": [{"n": {"$in": [1, "a", True]}}, {"n": {"$all": [1]}},
                                                       {"id": "${user.id}"}, {"n": {"$any": "${user.roles}"}}]}})
    assert failed is None
    member, _ = await user(client, role)
    r = await member.request("POST", "/authz/check", json={"checks": [
        {"action": "read", "resource": {"type": "thing", "id": 5, "attributes": attrs}},
        {"action": "read", "resource": {"type": "thing", "attributes": attrs}, "field": "n"}]})
    assert r.status < 500, (attrs, r.status, await r.text())


async def test_raw_odd_json_never_500(client):
    admin, _ = await user(client, "admin")
    for raw in ('{"action": "read", "resource": {"type": "thing", "attributes": {"n": NaN}}}',
                '{"action": "read", "resource": {"type": "thing", "attributes": {"n": Infinity}}}',
                '{"action": "read", "resource": {"type": "thing", "attributes": {"n": ' + "9" * 5000 + '}}}',
                '{"action": "read", "resource": {"type": "thing", "id": 1e999}}',
                '{"action": "read", "resource": {"type": "thing", "id": true}}',
                '{"action": "read", "resource": {"type": "thing", "attributes": ' + '{"a":' * 200 + '1' + '}' * 200 + '}}',
                ):
        r = await admin.request("POST", "/authz/check", data=raw.encode(),
                                headers={"Content-Type": "application/json"})
        assert r.status < 500, (raw[:80], r.status, await r.text())
        if r.status >= 400:
            assert r.content_type == "application/problem+json"


async def test_huge_batch_is_a_clear_4xx(client):
    member, _ = await user(client)
    checks = [{"action": "read", "resource": {"type": "t"}}] * 101
    r = await member.request("POST", "/authz/check", json={"checks": checks})
    assert r.status in (413, 422) and r.content_type == "application/problem+json"
    checks = [{"action": "read", "resource": {"type": "t", "attributes": {f"a{i}": "x" * 100 for i in range(100)}}}] * 100
    r = await member.request("POST", "/authz/check", json={"checks": checks})
    assert r.status in (200, 413, 422), r.status
