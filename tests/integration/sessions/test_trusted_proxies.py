"""http.trusted_proxies: entries are addresses or networks, matched as addresses. A value
that could never match is refused at load: silently ignored, every client behind the proxy
would appear as the proxy (a wrong audit trail, one per-address throttle for everyone)."""
import json

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from app.settings import Settings
from tests.support.browser import Browser

CHEAP = {"time_cost": 1, "memory_kib": 1024}


async def _recorded_ip(client, settings, redis, forwarded=None) -> str:
    browser = Browser(client)
    email = await browser.signed_up()
    # Straight through the client: the browser's header dict would merge repeated lines.
    r = await client.post("/auth/login", json={"email": email, "password": "wrong password 1234567"},
                          headers=forwarded or {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
    assert r.status == 401
    events = [json.loads(f["event"]) for _, f in await redis.xrange(settings.events.stream)]
    return [e for e in events if e["type"] == "auth.login.failed"][-1]["data"]["ip"]


@pytest.mark.parametrize("proxies", ["127.0.0.0/8", "10.0.0.0/8, 127.0.0.1", "::ffff:127.0.0.1"])
async def test_networks_and_other_spellings_of_the_proxy_are_honoured(make_settings, serve, redis, proxies):
    settings = make_settings(http={"trusted_proxies": proxies}, password=CHEAP)
    assert await _recorded_ip(await serve(settings), settings, redis) == "203.0.113.9"


async def test_a_forwarded_hop_inside_a_trusted_network_is_skipped(make_settings, serve, redis):
    settings = make_settings(http={"trusted_proxies": "127.0.0.1, 203.0.113.0/24"}, password=CHEAP)
    assert await _recorded_ip(await serve(settings), settings, redis) == "198.51.100.7"


async def test_an_untrusted_peer_is_the_client_whatever_it_forwards(make_settings, serve, redis):
    settings = make_settings(http={"trusted_proxies": "10.0.0.0/8"}, password=CHEAP)
    assert await _recorded_ip(await serve(settings), settings, redis) == "127.0.0.1"


@pytest.mark.parametrize("proxies", ["127.0.0.01", "proxy.internal", "10.0.0.0/33", "127.0.0.1,  nonsense"])
def test_an_entry_that_could_never_match_is_refused_at_load(proxies):
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(http={"trusted_proxies": proxies})


async def test_a_proxy_that_adds_its_own_forwarded_line_is_read_in_order(make_settings, serve, redis):
    """A proxy may append a separate X-Forwarded-For line rather than extend the client's
    (HAProxy's option forwardfor): the lines are one list in order (RFC 9110 5.3), so the
    client's own line, first, cannot name its address."""
    settings = make_settings(http={"trusted_proxies": "127.0.0.1"}, password=CHEAP)
    forwarded = CIMultiDict([("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.9")])
    assert await _recorded_ip(await serve(settings), settings, redis, forwarded) == "203.0.113.9"
