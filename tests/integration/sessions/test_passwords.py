"""Passwords over HTTP: policy errors, long and Unicode passwords, cheap refusals of
over-long input, and replies that do not tell whether an account exists."""
import statistics
import time

import pytest

from app.passwords.hasher import Argon2Hasher
from app.passwords.policy import normalize
from tests.support.browser import STRONG_PASSWORD, Browser, new_email


async def _weak(response, reason: str) -> None:
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["code"] == "weak_password" and body["reason"] == reason and body["detail"]


async def test_policy_refusals_name_the_reason(client):
    email = new_email()
    b = Browser(client)
    await _weak(await b.register(email, "fourteen chars"), "too_short")
    await _weak(await b.register(email, "1qaz2wsx3edc4rfv"), "common")  # from the shipped list
    await _weak(await b.register(email, f"mine is {email} ok"), "context")
    await _weak(await b.register(email, "x9" * 200), "too_long")
    # None of them created the account.
    assert (await b.register(email, STRONG_PASSWORD)).status == 201
    assert (await b.login(email)).status == 200


@pytest.mark.parametrize("password", [
    "p" + "a long passphrase that keeps going and going " * 2,  # 90+ characters
    "🔐🦊🐙🌵🍉🚲🎻🧭🪁🦉🍄🌋🛶🧩🪐",  # 15 code points, 60 bytes
    "猫は静かに窓辺で眠っている午後です",
    "Ζεύς και Ἥρα στον Όλυμπο σήμερα",
])
async def test_long_and_unicode_passwords_work(client, password):
    b = Browser(client)
    email = new_email()
    assert (await b.register(email, password)).status == 201
    assert (await b.login(email, password)).status == 200
    assert (await Browser(client).login(email, password[:-1])).status == 401  # no truncation


async def test_nfkc_equivalent_spellings_log_in(client):
    email = new_email()
    composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e forever"
    decomposed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e forever"
    assert composed != decomposed
    assert (await Browser(client).register(email, composed)).status == 201
    assert (await Browser(client).login(email, decomposed)).status == 200
    email2 = new_email()
    assert (await Browser(client).register(email2, "ｆｕｌｌｗｉｄｔｈ ｐａｓｓｐｈｒａｓｅ")).status == 201
    assert (await Browser(client).login(email2, "fullwidth passphrase")).status == 200


async def test_a_password_longer_than_the_cap_only_before_nfkc_logs_in_both_ways(client):
    """The policy's max_length counts the normalized password: one typed decomposed (NFD),
    over the cap as typed and under it once composed, registers, so both logins take it."""
    email = new_email()
    typed = "a\u0301e\u0301i\u0301o\u0301u\u0301" * 26 + " 7x"
    assert len(typed) > 256 >= len(normalize(typed))
    assert (await Browser(client).register(email, typed)).status == 201
    assert (await Browser(client).login(email, typed)).status == 200
    grant = await client.post("/auth/token", json={"grant_type": "password", "username": email, "password": typed})
    assert grant.status == 200


async def _timed(coro_factory, n: int) -> tuple[list[float], list]:
    times, replies = [], []
    for _ in range(n):
        start = time.perf_counter()
        reply = await coro_factory()
        await reply.read()
        times.append(time.perf_counter() - start)
        replies.append(reply)
    return times, replies


async def test_over_long_input_is_refused_without_hashing(client):
    hasher = Argon2Hasher()
    encoded = hasher.hash_sync("x" * 20)
    verify = statistics.median(_t for _t in [_clock(lambda: hasher.verify_sync(encoded, "y" * 20))
                                              for _ in range(5)])
    hasher.close()
    email = new_email()
    assert (await Browser(client).register(email)).status == 201
    cases = {
        "long password login": lambda: client.post("/auth/login", json={"email": email, "password": "x" * 300}),
        "huge password field": lambda: client.post("/auth/register", json={"email": new_email(),
                                                                            "password": "x" * 5000}),
        "long password register": lambda: client.post("/auth/register", json={"email": new_email(),
                                                                               "password": "x9" * 200}),
        "huge body": lambda: client.post("/auth/login", data=b'{"email":"a@b.co","password":"' + b"x" * 200_000 + b'"}',
                                         headers={"Content-Type": "application/json"}),
    }
    for name, factory in cases.items():
        times, replies = await _timed(factory, 5)
        assert all(r.status in (401, 413, 422) for r in replies), name
        assert all(r.content_type == "application/problem+json" for r in replies), name
        assert statistics.median(times) < 0.5 * verify, (name, statistics.median(times), verify)
    big = await client.post("/auth/login", data=b"{" + b" " * 100_000 + b"}",
                            headers={"Content-Type": "application/json"})
    assert big.status == 413 and (await big.json())["code"] == "payload_too_large"


def _clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def test_unknown_email_and_wrong_password_look_the_same(serve, make_settings):
    # Repeated wrong passwords on one account: lift the throttle (tests/integration/throttle covers it).
    client = await serve(make_settings(throttle={"account_free_failures": 1000}))
    email = new_email()
    assert (await Browser(client).register(email)).status == 201
    unknown = lambda: client.post("/auth/login", json={"email": new_email(), "password": "some guess 12345"})
    wrong = lambda: client.post("/auth/login", json={"email": email, "password": "some guess 12345"})
    await (await unknown()).read()
    await (await wrong()).read()  # warm both paths
    t_unknown, t_wrong = [], []
    bodies = set()
    for _ in range(6):
        for factory, sink in ((unknown, t_unknown), (wrong, t_wrong)):
            times, [reply] = await _timed(factory, 1)
            sink.extend(times)
            assert reply.status == 401
            assert reply.content_type == "application/problem+json"
            assert "Basic" not in reply.headers.get("WWW-Authenticate", "")
            bodies.add(await reply.text())
    assert len(bodies) == 1, bodies
    ratio = statistics.median(t_unknown) / statistics.median(t_wrong)
    assert 0.6 < ratio < 1.6, ratio


async def test_register_with_a_taken_email_changes_nothing(client, database_url):
    from tests.integration.sessions.helpers import pg_fetch

    email = new_email()
    first = await Browser(client).register(email)
    again = await Browser(client).register(email.upper(), "an attackers chosen passphrase")
    assert first.status == again.status == 201
    a, b = await first.json(), await again.json()
    assert set(a) == set(b) == {"id", "email"} and a["email"] == b["email"] == email
    rows = await pg_fetch(database_url, "SELECT id, password_hash FROM users WHERE email = $1", email)
    assert len(rows) == 1 and str(rows[0]["id"]) == a["id"]
    assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 200
    assert (await Browser(client).login(email, "an attackers chosen passphrase")).status == 401
