"""An operator listing rules sees every rule that is in force (or is told the list is partial)."""
import base64
import uuid

from tests.integration.authz.helpers import user


async def test_listing_shows_every_rule_in_force(client):
    admin, _ = await user(client, "admin")
    role = f"many-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    for i in range(501):
        r = await admin.request("POST", "/admin/policies", json={
            "role": role, "effect": "allow", "action": "read", "subject_type": "doc",
            "conditions": {"n": i}})
        assert r.status == 201
    # The 501st rule is in force...
    member, _ = await user(client, role)
    r = await member.request("POST", "/authz/check", json={
        "action": "read", "resource": {"type": "doc", "attributes": {"n": 500}}})
    assert (await r.json())["allowed"] is True
    # ...so the operator's listing must show it (or say the list is cut short).
    r = await admin.request("GET", f"/admin/policies?role={role}")
    body = await r.json()
    shown = len(body["policies"])
    assert shown == 501 or set(body) - {"policies"}, f"listing shows {shown} of 501 rules in force, with no hint"


async def _rules(admin, role, n):
    ids = []
    for i in range(n):
        r = await admin.request("POST", "/admin/policies", json={
            "role": role, "effect": "allow", "action": "read", "subject_type": "doc", "conditions": {"n": i}})
        assert r.status == 201
        ids.append((await r.json())["id"])
    return ids


async def test_pages_follow_next_to_the_end_in_creation_order(client):
    admin, _ = await user(client, "admin")
    role = f"paged-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    ids = await _rules(admin, role, 7)

    seen, after, pages = [], None, 0
    while True:
        query = f"/admin/policies?role={role}&limit=3" + (f"&after={after}" if after else "")
        r = await admin.request("GET", query)
        assert r.status == 200, await r.text()
        body = await r.json()
        seen += [p["id"] for p in body["policies"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
        if pages == 1:
            # The rule a cursor points past may go: the listing carries on from where it was.
            assert (await admin.request("DELETE", f"/admin/policies/{seen[-1]}")).status == 204
    assert pages == 3 and seen == ids
    # One page holding everything says so.
    body = await (await admin.request("GET", f"/admin/policies?role={role}&limit=6")).json()
    assert len(body["policies"]) == 6 and body["next"] is None


def _cursor(stamp: str) -> str:
    raw = f"{stamp}|1a0ea3d4-a2f1-4533-835b-56e05ad62d0d".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_bad_page_parameters_are_a_clear_422(client):
    admin, _ = await user(client, "admin")
    for query in ("limit=0", "limit=501", "limit=x", "limit=-1", "limit=1.5", "limit=", "limit=%EF%BC%91",
                  "after=", "after=nope", "after=MjAyNi0wMS0wMXxub3QtYS11dWlk", "after=" + "A" * 300,
                  # Timestamps whose UTC value is outside what a datetime (or Postgres) holds.
                  "after=" + _cursor("0001-01-01T00:00:00+01:00"), "after=" + _cursor("9999-12-31T23:59:59-01:00")):
        r = await admin.request("GET", f"/admin/policies?{query}")
        assert r.status == 422, (query, r.status)
        assert r.content_type == "application/problem+json"
        assert (await r.json())["code"] == "invalid_request"
