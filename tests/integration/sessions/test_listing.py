"""Each user sees their own sessions (device, ip, user agent, times, current) by handle."""
import base64
import hashlib
from datetime import datetime, timezone

from tests.support.browser import Browser


async def test_user_lists_own_sessions_with_details(client):
    laptop = Browser(client)
    email = await laptop.signed_up()
    phone = Browser(client)
    reply = await phone.request("POST", "/auth/login", json={"email": email, "password": "correct horse battery staple 42"},
                                headers={"User-Agent": "PhoneBrowser/1.0"})
    assert reply.status == 200
    stranger = Browser(client)
    await stranger.signed_up()

    listing = await laptop.request("GET", "/auth/sessions")
    assert listing.status == 200 and listing.headers["Cache-Control"] == "no-store"
    sessions = (await listing.json())["sessions"]
    assert len(sessions) == 2
    for item in sessions:
        assert set(item) == {"handle", "created_at", "last_seen_at", "ip", "user_agent", "current"}
        assert item["ip"] == "127.0.0.1"
        created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        seen = datetime.fromisoformat(item["last_seen_at"].replace("Z", "+00:00"))
        assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 30 and seen >= created
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1
    assert [s["user_agent"] for s in sessions if not s["current"]] == ["PhoneBrowser/1.0"]
    phone_view = (await (await phone.request("GET", "/auth/sessions")).json())["sessions"]
    assert {s["handle"] for s in phone_view} == {s["handle"] for s in sessions}
    assert [s for s in phone_view if s["current"]][0]["handle"] != current[0]["handle"]


async def test_handles_are_neither_the_id_nor_its_hash(client):
    browser = Browser(client)
    await browser.signed_up()
    sid = browser.session_id
    sid_hash = base64.urlsafe_b64encode(hashlib.sha256(sid.encode()).digest()).rstrip(b"=").decode()
    [item] = (await (await browser.request("GET", "/auth/sessions")).json())["sessions"]
    handle = item["handle"]
    assert handle != sid and handle not in sid and sid not in handle
    assert handle != sid_hash and len(handle) < len(sid_hash)
    # Presenting the handle as a cookie opens nothing.
    thief = Browser(client)
    thief.session_id = handle
    assert (await thief.request("GET", "/auth/session")).status == 401


async def test_listing_skips_ended_sessions(client):
    main = Browser(client)
    email = await main.signed_up()
    other = Browser(client)
    await other.login(email)
    assert (await other.request("POST", "/auth/logout")).status == 204
    sessions = (await (await main.request("GET", "/auth/sessions")).json())["sessions"]
    assert len(sessions) == 1 and sessions[0]["current"]
