"""POST /authz/check, single and batch, with roles and claims from the service's own records."""
import uuid

from aiohttp.test_utils import TestClient, TestServer

from app.authz.principal import UserPrincipal
from app.errors import UnauthenticatedError
from app.http.appkeys import AUTHENTICATORS
from app.server import create_app
from tests.integration.authz.helpers import user


async def _setup_author_rules(admin):
    role = f"author-{uuid.uuid4().hex[:6]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    for rule in ({"effect": "allow", "action": "update", "subject_type": "post",
                  "conditions": {"author_id": "${user.id}"}},
                 {"effect": "deny", "action": "update", "subject_type": "post", "conditions": {"locked": True}},
                 {"effect": "allow", "action": "read", "subject_type": "post"}):
        assert (await admin.request("POST", "/admin/policies", json={**rule, "role": role})).status == 201
    return role


async def test_single_and_batch_checks_for_the_caller(client):
    admin, _ = await user(client, "admin")
    role = await _setup_author_rules(admin)
    author, author_id = await user(client, role)
    r = await author.request("POST", "/authz/check", json={
        "action": "update", "resource": {"type": "post", "id": "17", "attributes": {"author_id": author_id}}})
    body = await r.json()
    assert r.status == 200 and body["allowed"] is True
    assert body["reason"]["effect"] == "allow" and body["reason"]["rule"]["action"] == "update"
    r = await author.request("POST", "/authz/check", json={"checks": [
        {"action": "update", "resource": {"type": "post", "attributes": {"author_id": "someone-else"}}},
        {"action": "update", "resource": {"type": "post", "attributes": {"author_id": author_id, "locked": True}}},
        {"action": "read", "resource": {"type": "post"}},
        {"action": "delete", "resource": {"type": "post"}},
    ]})
    results = (await r.json())["results"]
    assert [x["allowed"] for x in results] == [False, False, True, False]
    assert results[1]["reason"]["rule"]["effect"] == "deny"
    assert results[0]["reason"] == {"rule": None, "effect": "deny", "detail": "no rule allows this"}


async def test_roles_come_from_the_service_not_the_body(client):
    admin, _ = await user(client, "admin")
    role = await _setup_author_rules(admin)
    _, author_id = await user(client, role)
    nobody, nobody_id = await user(client)
    # Claims smuggled in the body are refused; the service's own record decides.
    r = await nobody.request("POST", "/authz/check", json={
        "subject": {"id": nobody_id, "roles": ["admin"]}, "action": "read", "resource": {"type": "post"}})
    assert r.status == 422
    r = await nobody.request("POST", "/authz/check", json={
        "subject": {"id": nobody_id}, "action": "read", "resource": {"type": "post"}})
    assert (await r.json())["allowed"] is False
    # Asking about someone else needs more than being logged in.
    r = await nobody.request("POST", "/authz/check", json={
        "subject": {"id": author_id}, "action": "read", "resource": {"type": "post"}})
    assert r.status == 403
    r = await admin.request("POST", "/authz/check", json={
        "subject": {"id": author_id}, "checks": [
            {"action": "read", "resource": {"type": "post"}},
            {"action": "update", "resource": {"type": "post", "attributes": {"author_id": author_id}}}]})
    assert [x["allowed"] for x in (await r.json())["results"]] == [True, True]
    r = await admin.request("POST", "/authz/check", json={
        "subject": {"id": str(uuid.uuid4())}, "action": "read", "resource": {"type": "post"}})
    assert r.status == 404 and (await r.json())["code"] == "unknown_subject"


async def test_bad_check_requests_get_problems(client):
    member, _ = await user(client)
    cases = [
        ({"action": "fly", "resource": {"type": "post"}}, 422, "unknown_action"),
        ({"action": "read"}, 422, "invalid_request"),
        ({"action": "read", "resource": {"type": "post"}, "checks": []}, 422, "invalid_request"),
        ({"checks": [{"action": "read"}]}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        r = await member.request("POST", "/authz/check", json=body)
        assert r.status == status, body
        assert (await r.json())["code"] == code, body
    anonymous = await client.post("/authz/check", json={"action": "read", "resource": {"type": "post"}})
    assert anonymous.status == 401


async def test_subject_token_is_verified_by_the_apps_authenticators(settings):
    app = create_app(settings)
    tokens: dict[str, UserPrincipal] = {}

    async def bearer(request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        found = tokens.get(header[7:])
        if found is None:
            raise UnauthenticatedError("bad token")
        return found

    app[AUTHENTICATORS].insert(0, bearer)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        admin, _ = await user(client, "admin")
        caller, _ = await user(client)
        role = f"token-{uuid.uuid4().hex[:6]}"
        assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
        tokens["good"] = UserPrincipal(id=str(uuid.uuid4()), email="t@example.com", roles=(role,),
                                       method="bearer", auth_time=0.0)
        r = await caller.request("POST", "/authz/check", json={
            "subject": {"token": "good"}, "action": "read", "resource": {"type": "roles"}})
        body = await r.json()
        assert r.status == 200 and body["allowed"] is False  # the role holds no rule or permission yet
        await admin.request("PUT", f"/admin/roles/{role}/permissions", json={"permissions": ["roles:read"]})
        r = await caller.request("POST", "/authz/check", json={
            "subject": {"token": "good"}, "action": "read", "resource": {"type": "roles"}})
        assert (await r.json())["reason"]["rule"] == {"permission": "roles:read"}
        r = await caller.request("POST", "/authz/check", json={
            "subject": {"token": "forged"}, "action": "read", "resource": {"type": "post"}})
        assert r.status == 422 and (await r.json())["code"] == "invalid_subject_token"
    finally:
        await client.close()


async def test_api_client_checks_any_user_and_holds_roles(settings):
    import base64

    from app.http.appkeys import SERVICES
    from app.sessions.manager import ClientInfo

    settings.http.allow_insecure_basic = True  # the test server speaks plain http
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    reader = f"svc-reader-{uuid.uuid4().hex[:6]}"
    try:
        admin, _ = await user(client, "admin")
        role = await _setup_author_rules(admin)
        await admin.request("POST", "/admin/roles", json={"name": reader, "parents": [role],
                                                          "permissions": ["roles:read"]})
        _, author_id = await user(client, role)
        api_client = await app[SERVICES].clients.create("svc", (reader,), ClientInfo())
        credentials = base64.b64encode(f"{api_client.client_id}:{api_client.secret}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
        r = await client.post("/authz/check", headers=headers, json={
            "subject": {"id": author_id}, "action": "update",
            "resource": {"type": "post", "attributes": {"author_id": author_id}}})
        assert r.status == 200 and (await r.json())["allowed"] is True
        # The client itself: its role inherits the author role's rules, and its permission opens a guard.
        r = await client.post("/authz/check", headers=headers, json={"action": "read", "resource": {"type": "post"}})
        assert (await r.json())["allowed"] is True
        assert (await client.get("/admin/roles", headers=headers)).status == 200
        assert (await client.get("/admin/policies", headers=headers)).status == 403
    finally:
        await client.close()
