"""${user.email} for callers whose credential carries no email (Bearer, subject tokens):
read from the account only when a rule refers to it, kept per process, dropped on the
user's invalidation message; access tokens still carry no email."""
import asyncio
import base64
import json
import uuid

from app.authz.engine import Subject
from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.integration.tokens.helpers import bearer, grant, new_user

FAST = {"password": {"time_cost": 1, "memory_kib": 1024}}


async def _role(admin, conditions=None):
    role = f"m-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    if conditions is not None:
        r = await admin.request("POST", "/admin/policies", json={
            "role": role, "effect": "allow", "action": "read", "subject_type": "mailbox", "conditions": conditions})
        assert r.status == 201, await r.text()
    return role


def _check(owner):
    return {"action": "read", "resource": {"type": "mailbox", "attributes": {"owner_email": owner}}}


async def test_a_bearer_caller_is_decided_with_its_email_read_once(serve, make_settings):
    client = await serve(make_settings(**FAST))
    emails = client.server.app[SERVICES].authz.emails
    admin, _ = await user(client, "admin")
    role = await _role(admin, {"owner_email": "${user.email}"})
    email, uid = await new_user(client, (role,))
    tokens = await (await grant(client, email)).json()
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert email not in json.dumps(claims) and "email" not in claims  # no personal data in the JWT

    before = emails.reads
    for _ in range(3):
        r = await client.post("/authz/check", json=_check(email), headers=bearer(tokens["access_token"]))
        assert (await r.json())["allowed"] is True
        r = await client.post("/authz/check", json=_check("someone@example.com"),
                              headers=bearer(tokens["access_token"]))
        assert (await r.json())["allowed"] is False
    assert emails.reads == before + 1  # once, then from the per-process cache

    # The user's invalidation message (here: a role change) drops it everywhere.
    other = await _role(admin)
    assert (await admin.request("POST", f"/admin/users/{uid}/roles", json={"role": other})).status == 200
    for _ in range(100):
        r = await client.post("/authz/check", json=_check(email), headers=bearer(tokens["access_token"]))
        assert (await r.json())["allowed"] is True
        if emails.reads > before + 1:
            break
        await asyncio.sleep(0.02)
    assert emails.reads == before + 2


async def test_no_email_is_read_when_no_rule_refers_to_it(serve, make_settings):
    client = await serve(make_settings(**FAST))
    emails = client.server.app[SERVICES].authz.emails
    admin, _ = await user(client, "admin")
    role = await _role(admin, {"owner_id": "${user.id}"})
    email, uid = await new_user(client, (role,))
    tokens = await (await grant(client, email)).json()
    before = emails.reads
    body = {"action": "read", "resource": {"type": "mailbox", "attributes": {"owner_id": uid}}}
    r = await client.post("/authz/check", json=body, headers=bearer(tokens["access_token"]))
    assert (await r.json())["allowed"] is True
    r = await admin.request("POST", "/authz/check", json={"subject": {"token": tokens["access_token"]}, **body})
    assert (await r.json())["allowed"] is True
    assert emails.reads == before


async def test_an_api_client_still_has_no_email(serve, make_settings):
    """A client is no user: its ${user.email} stays without a value (fail closed)."""
    client = await serve(make_settings(**FAST))
    services = client.server.app[SERVICES]
    admin, _ = await user(client, "admin")
    role = await _role(admin, {"owner_email": "${user.email}"})
    view = await services.authz.decision_view(Subject(kind="client", id="c1", email=None, roles=(role,)))
    assert view.context["user.email"] is None
    assert not view.check("read", "mailbox", {"owner_email": None}).allowed
