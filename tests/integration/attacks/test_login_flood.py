"""A flood of password (and API-client secret) checks is refused beyond what can be hashed
in time, not queued without bound: the excess gets 503 overloaded with Retry-After, at once,
and counts as nothing (no session, no throttle failure, no verdict on the credential)."""
from __future__ import annotations

import asyncio

from tests.integration.authz.helpers import user
from tests.integration.tokens.helpers import basic
from tests.support.browser import Browser, new_email

FLOOD = 12


async def test_logins_past_the_hashing_bound_get_503_overloaded_and_change_nothing(serve, make_settings):
    # One hashing thread and a bound below one hash: of a simultaneous flood, one is hashed. The
    # flood's requests share the test's event loop with the server, so they arrive spread over a
    # few ms each; a hash several times the default's keeps them all within the first one.
    client = await serve(make_settings(password={"hash_threads": 1, "hash_max_wait_s": 0.001, "time_cost": 10}))
    email = new_email()
    assert (await Browser(client).register(email)).status == 201

    async def attempt(password: str):
        response = await client.post("/auth/login", json={"email": email, "password": password})
        return response, await response.json()

    # Wrong passwords: had they been hashed and counted, the account would be throttled after 5.
    results = await asyncio.gather(*[attempt("wrong password, long enough") for _ in range(FLOOD)])
    statuses = sorted(r.status for r, _ in results)
    assert statuses.count(401) >= 1 and statuses.count(503) >= FLOOD - 2
    assert set(statuses) <= {401, 503}
    for response, body in results:
        if response.status == 503:
            assert body["code"] == "overloaded" and body["status"] == 503
            assert response.content_type == "application/problem+json"
            assert int(response.headers["Retry-After"]) >= 1
            assert "Set-Cookie" not in response.headers
    # The refused ones were not counted as failures: the owner still logs in at once.
    browser = Browser(client)
    assert (await browser.login(email)).status == 200
    assert (await browser.request("GET", "/auth/session")).status == 200


async def test_api_clients_past_the_bound_get_503_not_a_refused_credential(serve, make_settings):
    # A refusal is not a verdict on the secret: a client must not be told its right secret is wrong.
    client = await serve(make_settings(password={"hash_threads": 1, "hash_max_wait_s": 0.001},
                                       http={"allow_insecure_basic": True}))
    admin, _ = await user(client, "admin")
    created = await admin.request("POST", "/admin/clients", json={"name": "flooded"})
    assert created.status == 201
    credentials = await created.json()
    headers = basic(credentials["client_id"], credentials["client_secret"])

    async def introspect():
        response = await client.post("/auth/introspect", json={"token": "x"}, headers=headers)
        return response.status, await response.json()

    # The right secret, not yet verified (so not cached): each request needs a hash.
    results = await asyncio.gather(*[introspect() for _ in range(FLOOD)])
    assert {status for status, _ in results} <= {200, 503}
    assert any(status == 503 for status, _ in results)
    assert all(body["code"] == "overloaded" for status, body in results if status == 503)
