"""Ending sessions: once the call returns, the old cookie is refused (401)."""
from app.sessions.ids import hash_session_id
from tests.support.browser import Browser


def replay(client, session_id: str) -> Browser:
    b = Browser(client)
    b.session_id = session_id
    return b


async def _problem(response, status: int, code: str) -> None:
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == code


async def test_logout_then_replay_is_401(client, redis, prefix):
    browser = Browser(client)
    await browser.signed_up()
    old = browser.session_id
    assert (await browser.request("POST", "/auth/logout")).status == 204
    assert await redis.exists(f"{prefix}:s:{hash_session_id(old)}") == 0
    again = await replay(client, old).request("GET", "/auth/session")
    await _problem(again, 401, "unauthenticated")
    # Logging out twice is not possible either: the session is gone.
    await _problem(await replay(client, old).request("POST", "/auth/logout"), 401, "unauthenticated")


async def test_end_one_session_by_handle(client):
    laptop = Browser(client)
    email = await laptop.signed_up()
    phone = Browser(client)
    assert (await phone.login(email)).status == 200
    handle = (await (await phone.request("GET", "/auth/session")).json())["session"]["handle"]
    assert (await laptop.request("DELETE", f"/auth/sessions/{handle}")).status == 204
    await _problem(await phone.request("GET", "/auth/session"), 401, "unauthenticated")
    assert (await laptop.request("GET", "/auth/session")).status == 200
    # Already ended: 404, not a silent 204.
    await _problem(await laptop.request("DELETE", f"/auth/sessions/{handle}"), 404, "not_found")


async def test_end_own_current_session_by_handle_clears_cookie(client):
    browser = Browser(client)
    await browser.signed_up()
    old = browser.session_id
    handle = (await (await browser.request("GET", "/auth/session")).json())["session"]["handle"]
    reply = await browser.request("DELETE", f"/auth/sessions/{handle}")
    assert reply.status == 204 and browser.session_id is None
    await _problem(await replay(client, old).request("GET", "/auth/session"), 401, "unauthenticated")


async def test_end_all_other_sessions_keeps_the_current_one(client):
    main = Browser(client)
    email = await main.signed_up()
    others = [Browser(client) for _ in range(3)]
    for other in others:
        assert (await other.login(email)).status == 200
    assert (await main.request("DELETE", "/auth/sessions")).status == 204
    for other in others:
        await _problem(await other.request("GET", "/auth/session"), 401, "unauthenticated")
    assert (await main.request("GET", "/auth/session")).status == 200
    listed = (await (await main.request("GET", "/auth/sessions")).json())["sessions"]
    assert len(listed) == 1 and listed[0]["current"] is True


async def test_another_users_handle_is_404_and_changes_nothing(client, redis, prefix):
    alice, bob = Browser(client), Browser(client)
    await alice.signed_up()
    await bob.signed_up()
    bob_handle = (await (await bob.request("GET", "/auth/session")).json())["session"]["handle"]
    keys = [f"{prefix}:s:{hash_session_id(b.session_id)}" for b in (alice, bob)]
    assert await redis.exists(*keys) == 2
    await _problem(await alice.request("DELETE", f"/auth/sessions/{bob_handle}"), 404, "not_found")
    await _problem(await alice.request("DELETE", "/auth/sessions/not-a-handle"), 404, "not_found")
    assert await redis.exists(*keys) == 2
    assert (await bob.request("GET", "/auth/session")).status == 200
    assert (await alice.request("GET", "/auth/session")).status == 200


async def test_session_routes_need_a_session(client):
    for method, path in [("GET", "/auth/session"), ("GET", "/auth/sessions"), ("POST", "/auth/logout"),
                         ("DELETE", "/auth/sessions"), ("DELETE", "/auth/sessions/abcdefabcdefabcd")]:
        await _problem(await client.request(method, path), 401, "unauthenticated")


async def test_a_later_revocation_epoch_is_never_moved_back_by_an_earlier_one(client):
    """Two revocations racing (a password change and a forced logout): the one whose epoch was
    taken first may be written last. A plain SET then moved the epoch back, and whatever was
    issued between the two epochs outlived the later call, which had already returned."""
    from app.http.appkeys import SERVICES

    store = client.server.app[SERVICES].session_store
    user_id = "epoch-order-user"
    await store.set_epoch(user_id, 2000.0, 60, [])
    await store.set_epoch(user_id, 1000.0, 60, [])  # taken earlier, written later
    assert await store.epoch_of(user_id) == 2000.0
    await store.set_epoch(user_id, 3000.0, 60, [])
    assert await store.epoch_of(user_id) == 3000.0


async def test_the_process_that_logged_out_refuses_the_cookie_without_waiting_for_its_message(client):
    """The logging-out process must not serve the old cookie from its cache while its own
    invalidation is still on its way back (a full-suite run replayed it at once and got 200).
    Here that message never arrives: the link stays proven current, so only the process's own
    forgetting stands between the old cookie and a cache hit."""
    from app.http.appkeys import SERVICES

    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    browser = Browser(client)
    email = await browser.signed_up()
    for _ in range(3):
        assert (await browser.request("GET", "/auth/session")).status == 200  # cached here
    services.bus._handlers[:] = []  # messages are read (the PONGs still prove the link) but do nothing

    old = browser.session_id
    assert (await browser.request("POST", "/auth/logout")).status == 204
    await _problem(await replay(client, old).request("GET", "/auth/session"), 401, "unauthenticated")

    # Ending a session by handle, and all other sessions, forget them here as well.
    phone, tablet, laptop = Browser(client), Browser(client), Browser(client)
    for device in (phone, tablet, laptop):
        assert (await device.login(email)).status == 200
        assert (await device.request("GET", "/auth/session")).status == 200
    handle = (await (await phone.request("GET", "/auth/session")).json())["session"]["handle"]
    assert (await laptop.request("DELETE", f"/auth/sessions/{handle}")).status == 204
    await _problem(await phone.request("GET", "/auth/session"), 401, "unauthenticated")
    assert (await laptop.request("DELETE", "/auth/sessions")).status == 204
    await _problem(await tablet.request("GET", "/auth/session"), 401, "unauthenticated")
    assert (await laptop.request("GET", "/auth/session")).status == 200
