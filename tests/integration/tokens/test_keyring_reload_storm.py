"""The key set is reloaded by one load at a time, however many requests want it.

Forged tokens naming unknown kids cost nobody a Postgres read more than once a second, and a
``keys`` message costs one read, not one per request that notices it. Loads are counted as
the SELECTs on signing_keys that reach Postgres, so the test does not depend on which method
of the keyring does the reading.
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
import secrets
import time
from contextlib import asynccontextmanager

import jwt
import pytest
from sqlalchemy import event

from app.http.appkeys import SERVICES
from app.tokens.keyring import KEYS_MESSAGE
from tests.integration.tokens.helpers import bearer, token_settings, tokens_for


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged(kid: str | None = None) -> str:
    """Well-formed, EdDSA, a kid nobody published (fits KID_PATTERN), a zero signature."""
    kid = kid or secrets.token_urlsafe(16)
    header = _b64(json.dumps({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}).encode())
    return f"{header}.{_b64(b'{}')}.{_b64(bytes(64))}"


class KeyLoads:
    """Counts the key-set reads one process sends to Postgres."""

    def __init__(self, keyring) -> None:
        self.engine = keyring.sessionmaker.kw["bind"].sync_engine
        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM signing_keys" in statement:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def key_loads():
    made: list[KeyLoads] = []

    def count(keyring) -> KeyLoads:
        made.append(KeyLoads(keyring))
        return made[-1]

    yield count
    for loads in made:
        loads.close()


class HeldLoad:
    """Holds the keyring's next load after it has read its rows, until ``release()``: a load
    that is in flight, and has already missed whatever is committed meanwhile."""

    def __init__(self, keyring) -> None:
        self.keyring = keyring
        self.inner = keyring.sessionmaker
        self.holding = asyncio.Event()
        self._release = asyncio.Event()
        self._armed = True
        keyring.sessionmaker = self

    def __call__(self):
        return self._session()

    @asynccontextmanager
    async def _session(self):
        async with self.inner() as session:
            yield session
            if self._armed:
                self._armed = False
                self.holding.set()
                await self._release.wait()

    def release(self) -> None:
        self._release.set()
        self.keyring.sessionmaker = self.inner


async def _statuses(client, tokens: list[str]) -> list[int]:
    replies = await asyncio.gather(*(client.get("/auth/me", headers=bearer(t)) for t in tokens))
    return [r.status for r in replies]


async def test_concurrent_unknown_kids_cost_one_load_a_second(serve, make_settings, key_loads):
    client = await serve(token_settings(make_settings))
    loads = key_loads(client.server.app[SERVICES].tokens.keyring)
    await asyncio.sleep(1.1)  # the start-up load is over a second old
    started = time.monotonic()
    assert set(await _statuses(client, [forged() for _ in range(100)])) == {401}
    assert loads.count == 1, f"{loads.count} key-set loads for 100 concurrent forged tokens"
    assert set(await _statuses(client, [forged() for _ in range(100)])) == {401}
    # Within the same second nothing more (on a slow host, the second may have turned once).
    assert loads.count <= 1 + math.floor(time.monotonic() - started)
    await asyncio.sleep(1.1)
    before = loads.count
    assert set(await _statuses(client, [forged() for _ in range(100)])) == {401}
    assert loads.count == before + 1


async def test_a_keys_message_then_many_verifications_cost_one_load(serve, make_settings, key_loads):
    # No token cache: every verification asks the keyring.
    client = await serve(token_settings(make_settings, tokens={"cache_ttl_s": 0}))
    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    body, _ = await tokens_for(client)
    loads = key_loads(services.tokens.keyring)
    for round_ in (1, 2):
        await services.redis.publish(services.session_store.keys.channel, KEYS_MESSAGE)
        await asyncio.sleep(0.2)  # the message arrives; it reloads nothing by itself
        assert loads.count == round_ - 1
        statuses = await _statuses(client, [body["access_token"]] * 50 + [forged() for _ in range(50)])
        assert statuses == [200] * 50 + [401] * 50
        # Each message makes the next verification load once, shared by all that noticed.
        assert loads.count == round_, f"{loads.count} key-set loads after {round_} message(s)"


async def test_a_new_kid_from_another_process_is_found_within_a_second_under_a_storm(serve, make_settings,
                                                                                   key_loads):
    settings = token_settings(make_settings)
    a, b = await serve(settings), await serve(settings)
    ka, kb = a.server.app[SERVICES].tokens.keyring, b.server.app[SERVICES].tokens.keyring
    await asyncio.sleep(1.1)
    loads = key_loads(ka)
    storming = True

    async def storm() -> None:
        while storming:
            assert set(await _statuses(a, [forged() for _ in range(20)])) == {401}

    storm_task = asyncio.create_task(storm())
    started = time.monotonic()
    try:
        await asyncio.sleep(0.2)  # a has spent this second's load on forged kids
        # b rotates and signs with the new key; no message is published (lost, or late).
        await kb.rotate()
        await kb.reload()
        fresh, _ = await tokens_for(b)
        new_kid = jwt.get_unverified_header(fresh["access_token"])["kid"]
        assert new_kid not in ka.by_kid
        rotated = time.monotonic()
        while (await a.get("/auth/me", headers=bearer(fresh["access_token"]))).status != 200:
            assert time.monotonic() - rotated < 1.5, "a new kid was not found within about a second"
            await asyncio.sleep(0.05)
    finally:
        storming = False
        await storm_task
    assert loads.count <= 1 + math.floor(time.monotonic() - started), f"{loads.count} loads"


async def test_concurrent_callers_join_the_load_in_flight(serve, make_settings, key_loads):
    client = await serve(token_settings(make_settings))
    keyring = client.server.app[SERVICES].tokens.keyring
    loads = key_loads(keyring)
    held = HeldLoad(keyring)
    keyring.on_message(KEYS_MESSAGE)
    first = asyncio.create_task(keyring.refresh_if_due())
    await held.holding.wait()
    # Everyone who noticed the same message waits for the one load reading it.
    joined = [asyncio.create_task(keyring.refresh_if_due()) for _ in range(50)]
    joined += [asyncio.create_task(keyring.verifying_key(secrets.token_urlsafe(16))) for _ in range(50)]
    await asyncio.sleep(0.1)
    assert not any(t.done() for t in joined)
    held.release()
    await asyncio.gather(first, *joined)
    assert loads.count == 1


async def test_a_message_during_a_load_makes_the_next_caller_load_again(serve, make_settings, key_loads):
    """A load that read before a rotation committed must not count for its message."""
    settings = token_settings(make_settings)
    a, b = await serve(settings), await serve(settings)
    ka, kb = a.server.app[SERVICES].tokens.keyring, b.server.app[SERVICES].tokens.keyring
    loads = key_loads(ka)
    held = HeldLoad(ka)
    ka.on_message(KEYS_MESSAGE)
    first = asyncio.create_task(ka.refresh_if_due())
    await held.holding.wait()  # it has read the key set: the rotation below is not in it
    new_kid = await kb.rotate()
    ka.on_message(KEYS_MESSAGE)
    waiting = [asyncio.create_task(ka.refresh_if_due()) for _ in range(20)]
    held.release()
    await asyncio.gather(first, *waiting)
    assert new_kid in ka.by_kid
    assert loads.count == 2  # the held one, then one for all twenty

    # The same with nobody waiting while it is held: the message still holds for the next caller.
    held = HeldLoad(ka)
    ka.on_message(KEYS_MESSAGE)
    first = asyncio.create_task(ka.refresh_if_due())
    await held.holding.wait()
    newer_kid = await kb.rotate()
    ka.on_message(KEYS_MESSAGE)
    held.release()
    await first
    assert newer_kid not in ka.by_kid
    await ka.refresh_if_due()
    assert newer_kid in ka.by_kid and (await ka.current()).kid == newer_kid


async def test_an_explicit_reload_sees_what_was_committed_before_it(serve, make_settings):
    """reload() after a write (a rotation, a replaced key) does not settle for a load in flight
    that started before the write."""
    settings = token_settings(make_settings)
    a, b = await serve(settings), await serve(settings)
    ka, kb = a.server.app[SERVICES].tokens.keyring, b.server.app[SERVICES].tokens.keyring
    held = HeldLoad(ka)
    ka.on_message(KEYS_MESSAGE)
    first = asyncio.create_task(ka.refresh_if_due())
    await held.holding.wait()
    new_kid = await kb.rotate()
    second = asyncio.create_task(ka.reload())
    await asyncio.sleep(0.05)
    held.release()
    await asyncio.gather(first, second)
    assert new_kid in ka.by_kid and (await ka.current()).kid == new_kid


async def test_a_failed_load_is_shared_and_the_loaded_keys_kept(serve, make_settings, key_loads):
    client = await serve(token_settings(make_settings))
    keyring = client.server.app[SERVICES].tokens.keyring
    kids = set(keyring.by_kid)
    real = keyring.sessionmaker
    attempts = 0

    def broken():
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError("postgres is down")

    keyring.sessionmaker = broken
    try:
        keyring.on_message(KEYS_MESSAGE)
        await asyncio.gather(*(keyring.refresh_if_due() for _ in range(20)))
        assert attempts == 1 and set(keyring.by_kid) == kids
        # Still stale: the next caller tries again (the message was not honoured).
        await keyring.refresh_if_due()
        assert attempts == 2
    finally:
        keyring.sessionmaker = real
    await keyring.refresh_if_due()
    assert set(keyring.by_kid) >= kids
    loads = key_loads(keyring)
    await keyring.refresh_if_due()
    assert loads.count == 0  # the message was honoured by the load that worked
