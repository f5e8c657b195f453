"""POST /authz/check: subjects named by token or id, and the claims placeholders see."""
import asyncio
import uuid

from tests.integration.authz.helpers import user
from tests.integration.tokens.helpers import bearer, grant, new_user

FAST = {"password": {"time_cost": 1, "memory_kib": 1024}}


def _name(stem):
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def _email_rule_role(admin):
    role = _name("mailer")
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    r = await admin.request("POST", "/admin/policies", json={
        "role": role, "effect": "allow", "action": "read", "subject_type": "mailbox",
        "conditions": {"owner_email": "${user.email}"}})
    assert r.status == 201, await r.text()
    return role


async def test_bad_subject_tokens_are_refused(serve, make_settings):
    # Lifetimes are whole seconds from a whole-second iat: a 1 s token issued late in a second
    # could expire before the first check; 2 s leaves at least one.
    settings = make_settings(**FAST, tokens={"access_ttl_s": 2, "leeway_s": 0})
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    caller, _ = await user(client)

    async def check(token):
        return await caller.request("POST", "/authz/check", json={
            "subject": {"token": token}, "action": "read", "resource": {"type": "post"}})

    # A live token works.
    email, uid = await new_user(client)
    live = await (await grant(client, email)).json()
    r = await check(live["access_token"])
    assert r.status == 200, await r.text()
    # Revoked (RFC 7009).
    assert (await client.post("/auth/revoke", json={"token": live["access_token"]})).status == 200
    r = await check(live["access_token"])
    assert r.status == 422, ("revoked", r.status)
    # A refresh token is not an access token.
    r = await check(live["refresh_token"])
    assert r.status == 422, ("refresh token", r.status)
    # Of a disabled user.
    email2, uid2 = await new_user(client)
    tok2 = await (await grant(client, email2)).json()
    assert (await check(tok2["access_token"])).status == 200
    assert (await admin.request("POST", f"/admin/users/{uid2}/disable")).status == 202
    r = await check(tok2["access_token"])
    assert r.status == 422, ("disabled", r.status)
    # Expired.
    email3, _ = await new_user(client)
    tok3 = await (await grant(client, email3)).json()
    await asyncio.sleep(3.2)
    r = await check(tok3["access_token"])
    assert r.status == 422, ("expired", r.status)


async def test_disabled_subject_by_id_is_unknown(client):
    admin, _ = await user(client, "admin")
    _, victim_id = await user(client)
    assert (await admin.request("POST", f"/admin/users/{victim_id}/disable")).status == 202
    r = await admin.request("POST", "/authz/check", json={
        "subject": {"id": victim_id}, "action": "read", "resource": {"type": "post"}})
    assert r.status == 404
    for bad in ("not-a-uuid", "x" * 128, "00000000-0000-0000-0000-00000000000g", "' OR 1=1 --"):
        r = await admin.request("POST", "/authz/check", json={
            "subject": {"id": bad}, "action": "read", "resource": {"type": "post"}})
        assert r.status in (404, 422), (bad, r.status)


async def test_email_placeholder_decides_the_same_for_session_bearer_and_subject_forms(serve, make_settings):
    """The service knows the user's email whatever the transport; ${user.email} must not
    depend on whether the caller came with a cookie or a Bearer token."""
    client = await serve(make_settings(**FAST))
    admin, _ = await user(client, "admin")
    role = await _email_rule_role(admin)
    email, uid = await new_user(client, (role,))
    body = {"action": "read", "resource": {"type": "mailbox", "attributes": {"owner_email": email}}}
    # By id (the service reads the account): allowed.
    r = await admin.request("POST", "/authz/check", json={"subject": {"id": uid}, **body})
    by_id = (await r.json())["allowed"]
    # The user itself with a Bearer token.
    tokens = await (await grant(client, email)).json()
    r = await client.post("/authz/check", json=body, headers=bearer(tokens["access_token"]))
    as_bearer = (await r.json())["allowed"]
    # Someone asking with the user's token as subject.
    r = await admin.request("POST", "/authz/check", json={"subject": {"token": tokens["access_token"]}, **body})
    by_token = (await r.json())["allowed"]
    print(by_id, as_bearer, by_token)
    assert by_id is True
    assert (by_id, as_bearer, by_token) == (True, True, True)


async def test_subject_token_of_a_forced_out_user_is_refused(serve, make_settings):
    client = await serve(make_settings(**FAST))
    admin, _ = await user(client, "admin")
    email, uid = await new_user(client)
    tok = await (await grant(client, email)).json()
    body = {"subject": {"token": tok["access_token"]}, "action": "read", "resource": {"type": "post"}}
    assert (await admin.request("POST", "/authz/check", json=body)).status == 200
    assert (await admin.request("POST", f"/admin/users/{uid}/logout")).status == 202
    r = await admin.request("POST", "/authz/check", json=body)
    assert r.status == 422, r.status
    # The subject token cannot be used to smuggle a different caller: the caller's own
    # identity is not replaced for the guard either.
    r = await client.post("/authz/check", json={"subject": {"token": tok["access_token"]}, "action": "read",
                                                "resource": {"type": "post"}})
    assert r.status == 401
