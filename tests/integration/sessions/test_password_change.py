"""POST /auth/password: rotates the caller's id, ends everything else, sets the epoch."""
import time

from app.http.appkeys import SERVICES
from app.sessions.ids import hash_session_id
from tests.integration.sessions.helpers import cookie_attributes, set_cookie_headers
from tests.support.browser import STRONG_PASSWORD, Browser

NEW = "a completely new passphrase 2026"


async def test_change_rotates_and_ends_every_other_session(client, redis, prefix):
    main = Browser(client)
    email = await main.signed_up()
    others = [Browser(client) for _ in range(2)]
    for other in others:
        assert (await other.login(email)).status == 200
    old_cookie = main.session_id
    reply = await main.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                               "new_password": NEW})
    assert reply.status == 204
    [header] = set_cookie_headers(reply)
    new_cookie, attrs = cookie_attributes(header)
    assert new_cookie != old_cookie and len(new_cookie) == 43 and "httponly" in attrs and "secure" in attrs
    me = await main.request("GET", "/auth/session")
    assert me.status == 200
    for stale in [old_cookie] + [o.session_id for o in others]:
        b = Browser(client)
        b.session_id = stale
        assert (await b.request("GET", "/auth/session")).status == 401
    uid = (await me.json())["user"]["id"]
    live = await redis.zrange(f"{prefix}:u:{uid}:s", 0, -1)
    assert live == [hash_session_id(main.session_id)]
    stale_keys = [f"{prefix}:s:{hash_session_id(s)}" for s in [old_cookie] + [o.session_id for o in others]]
    assert await redis.exists(*stale_keys) == 0
    assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 401
    assert (await Browser(client).login(email, NEW)).status == 200


async def test_wrong_current_password_changes_nothing(client):
    main = Browser(client)
    email = await main.signed_up()
    cookie = main.session_id
    reply = await main.request("POST", "/auth/password", json={"current_password": "not my password 123",
                                                               "new_password": NEW})
    assert reply.status == 401 and (await reply.json())["code"] == "invalid_credentials"
    assert main.session_id == cookie and (await main.request("GET", "/auth/session")).status == 200
    assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 200


async def test_weak_new_password_is_422_and_changes_nothing(client):
    main = Browser(client)
    email = await main.signed_up()
    reply = await main.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                               "new_password": "short"})
    assert reply.status == 422
    body = await reply.json()
    assert body["code"] == "weak_password" and body["reason"] == "too_short"
    assert (await main.request("GET", "/auth/session")).status == 200
    assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 200


async def test_epoch_rejects_sessions_older_than_it(client, redis, prefix):
    # A session the index lost track of is still refused: the epoch check is in the read.
    first = Browser(client)
    email = await first.signed_up()
    uid = (await (await first.request("GET", "/auth/session")).json())["user"]["id"]
    second = Browser(client)
    assert (await second.login(email)).status == 200
    await client.server.app[SERVICES].sessions.revoke_everything_before(uid, time.time())
    assert float(await redis.get(f"{prefix}:u:{uid}:epoch")) <= time.time()
    for b in (first, second):
        reply = await b.request("GET", "/auth/session")
        assert reply.status == 401 and (await reply.json())["code"] == "unauthenticated"
    # Sessions started after the epoch are fine.
    assert (await Browser(client).login(email)).status == 200


async def test_password_change_sets_the_epoch(client, redis, prefix):
    main = Browser(client)
    await main.signed_up()
    uid = (await (await main.request("GET", "/auth/session")).json())["user"]["id"]
    before = time.time()
    assert (await main.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                               "new_password": NEW})).status == 204
    epoch = float(await redis.get(f"{prefix}:u:{uid}:epoch"))
    assert before - 1 <= epoch <= time.time()
    assert await redis.ttl(f"{prefix}:u:{uid}:epoch") > 0


async def test_password_change_needs_authentication(client):
    reply = await client.post("/auth/password", json={"current_password": STRONG_PASSWORD, "new_password": NEW})
    assert reply.status == 401 and (await reply.json())["code"] == "unauthenticated"
