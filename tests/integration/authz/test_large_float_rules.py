"""A large float in a rule means the double the admin sent, stored and evaluated as such.

JSON carries 1e23 as ``1e+23``: JSONB keeps that as the exact decimal 10**23 and reads it back as
the int 100000000000000000000000, while the same number in an /authz/check body is the double
99999999999999991611392, below it. A rule's integral float past 2**53 is therefore kept as its
exact int value, so the stored rule, the reply and the decision name the same number."""
import json
import uuid

from tests.integration.authz.helpers import user

BIG = 1e23  # the double 99999999999999991611392
REF = 1.2345678901234567e+19  # the double 12345678901234567168


async def _role_with(admin, *rules):
    role = f"r-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    replies = []
    for rule in rules:
        r = await admin.request("POST", "/admin/policies", json={**rule, "role": role})
        assert r.status == 201
        replies.append(await r.json())
    return role, replies


async def _allowed(caller, attributes):
    r = await caller.request("POST", "/authz/check", json={
        "action": "read", "resource": {"type": "payment", "attributes": attributes}})
    assert r.status == 200
    return (await r.json())["allowed"]


RULES = ({"effect": "allow", "action": "read", "subject_type": "payment"},
         {"effect": "deny", "action": "read", "subject_type": "payment", "conditions": {"amount": {"$gte": BIG}}},
         {"effect": "deny", "action": "read", "subject_type": "payment", "conditions": {"ref": REF}})


async def test_a_deny_on_a_large_float_applies_to_that_float(client):
    admin, _ = await user(client, "admin")
    role, _ = await _role_with(admin, *RULES)
    caller, _ = await user(client, role)
    assert await _allowed(caller, {"amount": BIG}) is False
    assert await _allowed(caller, {"amount": 2e23}) is False
    assert await _allowed(caller, {"amount": 99999999999999991611392}) is False
    assert await _allowed(caller, {"amount": 99999999999999991611391}) is True
    assert await _allowed(caller, {"amount": 9.999999999999997e22}) is True  # the double below 1e23
    assert await _allowed(caller, {"ref": REF}) is False
    assert await _allowed(caller, {"ref": 12345678901234567168}) is False
    assert await _allowed(caller, {"ref": 12345678901234567000}) is True  # the decimal of REF's repr
    assert await _allowed(caller, {"amount": 5, "ref": 5}) is True


async def test_the_reply_and_the_stored_rule_name_the_double_exactly(client):
    admin, _ = await user(client, "admin")
    _, replies = await _role_with(admin, *RULES)
    # As JSON text: the float 1e23 == int(1e23) in Python, yet 1e+23 is another JSON number.
    assert json.dumps(replies[1]["conditions"]) == '{"amount": {"$gte": 99999999999999991611392}}'
    assert json.dumps(replies[2]["conditions"]) == '{"ref": 12345678901234567168}'
    for reply in replies[1:]:
        stored = await admin.request("GET", f"/admin/policies/{reply['id']}")
        assert json.dumps((await stored.json())["conditions"]) == json.dumps(reply["conditions"])


async def test_large_floats_in_lists_are_kept_exact(client):
    admin, _ = await user(client, "admin")
    role, replies = await _role_with(
        admin,
        {"effect": "allow", "action": "read", "subject_type": "payment"},
        {"effect": "deny", "action": "read", "subject_type": "payment",
         "conditions": {"$or": [{"ref": {"$in": [REF, 0.5]}}, {"refs": {"$any": [BIG]}}]}})
    caller, _ = await user(client, role)
    assert await _allowed(caller, {"ref": REF}) is False
    assert await _allowed(caller, {"refs": [1.0, BIG]}) is False
    assert await _allowed(caller, {"ref": 0.5}) is False
    assert await _allowed(caller, {"ref": 12345678901234567000, "refs": [10 ** 23]}) is True
    assert json.dumps(replies[1]["conditions"]) == (
        '{"$or": [{"ref": {"$in": [12345678901234567168, 0.5]}}, {"refs": {"$any": [99999999999999991611392]}}]}')
