"""HTTP Basic for API clients: success, failure, throttling, plain-http refusal, no cookies."""
import base64

from app.clients.manager import credential_digest
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.sessions.helpers import pg_fetch
from tests.integration.tokens.helpers import basic, token_settings, tokens_for
from tests.support.browser import STRONG_PASSWORD

INSECURE_OK = {"http": {"allow_insecure_basic": True}}


async def _client_credentials(app_client, roles=()):
    return await app_client.server.app[SERVICES].clients.create("resource server", roles, ClientInfo())


async def _introspect(app_client, headers, token="garbage"):
    return await app_client.post("/auth/introspect", json={"token": token}, headers=headers)


async def test_basic_success_introspects_a_token(serve, make_settings):
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await _client_credentials(client)
    body, user_id = await tokens_for(client, roles=("reader",))
    r = await _introspect(client, basic(created.client_id, created.secret), body["access_token"])
    assert r.status == 200
    reply = await r.json()
    assert reply["active"] is True and reply["sub"] == user_id and reply["roles"] == ["reader"]
    assert "Set-Cookie" not in r.headers


async def test_wrong_secret_unknown_client_and_garbage_get_401_with_the_basic_challenge(serve, make_settings):
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await _client_credentials(client)
    attempts = [basic(created.client_id, created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")),
                basic("cl_" + "x" * 22, created.secret),
                basic("no-colon-here", ""),
                {"Authorization": "Basic !!!not-base64"},
                {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()}]
    for headers in attempts:
        r = await _introspect(client, headers)
        assert r.status == 401, headers
        assert r.headers["WWW-Authenticate"].startswith('Basic realm="authsvc"')
        assert (await r.json())["code"] == "invalid_client"
    anonymous = await _introspect(client, {})
    assert anonymous.status == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_a_user_bearer_token_cannot_introspect(serve, make_settings):
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    body, _ = await tokens_for(client)
    r = await _introspect(client, {"Authorization": f"Bearer {body['access_token']}"}, body["access_token"])
    assert r.status == 401 and (await r.json())["code"] == "invalid_client"


async def test_basic_over_plain_http_is_refused(serve, make_settings):
    client = await serve(token_settings(make_settings))  # allow_insecure_basic defaults to false
    created = await _client_credentials(client)
    r = await _introspect(client, basic(created.client_id, created.secret))
    assert r.status == 403 and (await r.json())["code"] == "insecure_transport"
    # X-Forwarded-Proto from an untrusted peer changes nothing.
    r = await _introspect(client, {**basic(created.client_id, created.secret), "X-Forwarded-Proto": "https"})
    assert r.status == 403


async def test_forwarded_https_from_a_trusted_proxy_is_accepted(serve, make_settings):
    client = await serve(token_settings(make_settings, http={"trusted_proxies": "127.0.0.1"}))
    created = await _client_credentials(client)
    r = await _introspect(client, {**basic(created.client_id, created.secret), "X-Forwarded-Proto": "https"})
    assert r.status == 200
    r = await _introspect(client, {**basic(created.client_id, created.secret), "X-Forwarded-Proto": "http"})
    assert r.status == 403
    # A proxy that appends to the header: the client's own "https" comes first and counts for nothing.
    r = await _introspect(client, {**basic(created.client_id, created.secret), "X-Forwarded-Proto": "https, http"})
    assert r.status == 403


async def test_no_cookie_is_ever_set_on_a_basic_request(serve, make_settings):
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await _client_credentials(client)
    from tests.integration.tokens.helpers import new_user

    email, _ = await new_user(client)
    # Even a login, which would set the session cookie, sets nothing when Basic is presented.
    r = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD},
                          headers=basic(created.client_id, created.secret))
    assert "Set-Cookie" not in r.headers
    r = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert "Set-Cookie" in r.headers  # the control: without Basic, the cookie is set


async def test_basic_failures_are_throttled(serve, make_settings):
    client = await serve(token_settings(make_settings, throttle={"account_free_failures": 2,
                                                                 "ip_free_failures": 1000}, **INSECURE_OK))
    created = await _client_credentials(client)
    wrong = basic(created.client_id, "w" * 43)
    statuses = [(await _introspect(client, wrong)).status for _ in range(3)]
    assert statuses == [401, 401, 429]
    blocked = await _introspect(client, basic(created.client_id, created.secret))
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) >= 1


async def test_client_secret_is_stored_as_argon2id(serve, make_settings, database_url):
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await _client_credentials(client, roles=("introspector",))
    rows = await pg_fetch(database_url, "SELECT secret_hash FROM api_clients WHERE client_id = $1",
                          created.client_id)
    assert rows[0]["secret_hash"].startswith("$argon2id$") and created.secret not in rows[0]["secret_hash"]
    roles = await pg_fetch(database_url, "SELECT r.role_name FROM api_client_roles r JOIN api_clients c "
                                         "ON c.id = r.client_pk WHERE c.client_id = $1", created.client_id)
    assert [r["role_name"] for r in roles] == ["introspector"]


async def test_verified_credentials_are_cached_and_dropped_on_rotation_everywhere(serve, make_settings):
    settings = token_settings(make_settings, **INSECURE_OK)
    a, b = await serve(settings), await serve(settings)
    for app_client in (a, b):
        await app_client.server.app[SERVICES].bus.connected.wait()
    created = await _client_credentials(a)
    auth = basic(created.client_id, created.secret)
    for app_client in (a, b):
        assert (await _introspect(app_client, auth)).status == 200
    verified = b.server.app[SERVICES].clients.verified
    assert verified.get(credential_digest(created.client_id, created.secret), 0) is not None
    hashes = 0
    hasher = b.server.app[SERVICES].clients.hasher
    original = hasher.verify

    async def counting(*args):
        nonlocal hashes
        hashes += 1
        return await original(*args)

    hasher.verify = counting
    for _ in range(5):
        assert (await _introspect(b, auth)).status == 200
    assert hashes == 0  # no argon2 per request
    new_secret = await a.server.app[SERVICES].clients.rotate_secret(created.client_id, ClientInfo())
    import asyncio

    for _ in range(50):
        if (await _introspect(b, auth)).status == 401:
            break
        await asyncio.sleep(0.002)
    else:
        raise AssertionError("the old secret still works on the second process")
    assert (await _introspect(b, basic(created.client_id, new_secret))).status == 200
    await a.server.app[SERVICES].clients.delete(created.client_id, ClientInfo())
    await asyncio.sleep(0.05)
    assert (await _introspect(b, basic(created.client_id, new_secret))).status == 401


async def test_api_client_holds_roles_for_guards(serve, make_settings):
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await _client_credentials(client, roles=("admin",))
    r = await client.get("/admin/roles", headers=basic(created.client_id, created.secret))
    assert r.status == 200
    plain = await _client_credentials(client)
    r = await client.get("/admin/roles", headers=basic(plain.client_id, plain.secret))
    assert r.status == 403
