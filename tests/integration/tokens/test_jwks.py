"""JWKS as an outside resource server uses it (plain PyJWT), and key rotation."""
import asyncio

import jwt
from jwt import PyJWKClient

from app.http.appkeys import SERVICES
from app.tokens.cli import rotate_keys
from tests.integration.tokens.helpers import bearer, grant, new_user, token_settings, tokens_for


def _resource_server_verify(jwks_url: str, token: str, settings, algorithms=("EdDSA", "ES256")) -> dict:
    """Exactly what a third-party API would do: fetch the JWKS, pick the key by kid, verify."""
    signing_key = PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, signing_key.key, algorithms=list(algorithms), audience=settings.tokens.audience,
                      issuer=settings.tokens.issuer, options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})


async def test_an_outside_resource_server_verifies_with_pyjwkclient(serve, make_settings):
    settings = token_settings(make_settings)
    client = await serve(settings)
    body, user_id = await tokens_for(client, roles=("reader",))
    url = str(client.make_url("/.well-known/jwks.json"))
    claims = await asyncio.to_thread(_resource_server_verify, url, body["access_token"], settings)
    assert claims["sub"] == user_id and claims["roles"] == ["reader"]
    jwks = await client.get("/.well-known/jwks.json")
    assert "max-age" in jwks.headers["Cache-Control"]
    for key in (await jwks.json())["keys"]:
        assert key["use"] == "sig" and key["kid"] and key["alg"] in ("EdDSA", "ES256")
        assert "d" not in key  # never the private part


async def test_es256_by_setting(serve, make_settings):
    settings = token_settings(make_settings, tokens={"algorithm": "ES256"})
    client = await serve(settings)
    body, user_id = await tokens_for(client)
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"
    url = str(client.make_url("/.well-known/jwks.json"))
    claims = await asyncio.to_thread(_resource_server_verify, url, body["access_token"], settings, ("ES256",))
    assert claims["sub"] == user_id
    assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200


async def test_keys_rotate_keeps_old_keys_published_and_other_processes_switch(serve, make_settings):
    settings = token_settings(make_settings)
    a, b = await serve(settings), await serve(settings)
    for app_client in (a, b):
        await app_client.server.app[SERVICES].bus.connected.wait()
    old, _ = await tokens_for(a)
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    new_kid = await rotate_keys(settings)
    assert new_kid != old_kid
    await asyncio.sleep(0.1)  # the rotation message reaches both processes
    kids = [k["kid"] for k in (await (await b.get("/.well-known/jwks.json")).json())["keys"]]
    assert old_kid in kids and new_kid in kids
    # b signs with the new key at once; tokens signed with the old key still verify, in and out.
    fresh, _ = await tokens_for(b)
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_kid
    for token in (old["access_token"], fresh["access_token"]):
        assert (await a.get("/auth/sessions", headers=bearer(token))).status == 200
        url = str(b.make_url("/.well-known/jwks.json"))
        assert (await asyncio.to_thread(_resource_server_verify, url, token, settings))["iss"] == settings.tokens.issuer


async def test_retired_keys_leave_the_jwks_after_their_tokens_expired(serve, make_settings):
    # access_ttl 1 s + leeway 0 + reload 1 s: a superseded key is published for 2 s.
    settings = token_settings(make_settings, tokens={"access_ttl_s": 1, "leeway_s": 0, "keys_reload_s": 1})
    client = await serve(settings)
    old, _ = await tokens_for(client)
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    await rotate_keys(settings)
    await asyncio.sleep(0.1)
    assert old_kid in [k["kid"] for k in (await (await client.get("/.well-known/jwks.json")).json())["keys"]]
    await asyncio.sleep(2.5)
    assert old_kid not in [k["kid"] for k in (await (await client.get("/.well-known/jwks.json")).json())["keys"]]


async def test_private_keys_are_encrypted_at_rest(serve, make_settings, database_url):
    from tests.integration.sessions.helpers import pg_fetch

    await serve(token_settings(make_settings))
    rows = await pg_fetch(database_url, "SELECT private_pem, public_jwk FROM signing_keys")
    assert rows
    for row in rows:
        assert row["private_pem"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")


async def test_a_lost_passphrase_makes_a_new_key_and_old_tokens_still_verify(serve, make_settings, tmp_path):
    settings = token_settings(make_settings)
    client = await serve(settings)
    old, _ = await tokens_for(client)
    old_kid = jwt.get_unverified_header(old["access_token"])["kid"]
    # Another process whose passphrase differs (say the file was lost): it cannot sign with the key ...
    other = token_settings(make_settings, tokens={"keys_passphrase": "a different passphrase entirely"})
    other_client = await serve(other)
    fresh, _ = await tokens_for(other_client)
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] != old_kid
    # ... but the public half needs no passphrase: the old token still verifies there.
    assert (await other_client.get("/auth/sessions", headers=bearer(old["access_token"]))).status == 200


async def test_two_passphrases_do_not_flip_the_signing_key_back_and_forth(serve, make_settings):
    """Web processes configured with different passphrases (a typo on one host): each
    replaces a key it cannot open once, then the one that already did stops and says why,
    instead of both making a new key on every reload, forever."""
    first = await serve(token_settings(make_settings))
    await first.server.app[SERVICES].tokens.keyring.rotate()  # a current key this passphrase opens
    a, _ = await tokens_for(first)
    second = await serve(token_settings(make_settings, tokens={"keys_passphrase": "a different passphrase entirely"}))
    b, _ = await tokens_for(second)  # the second process replaces the key it cannot open (once)
    await first.server.app[SERVICES].tokens.keyring.reload()  # as the rotation's message would make it
    c, _ = await tokens_for(first)  # ... and so does the first
    kids = [jwt.get_unverified_header(t["access_token"])["kid"] for t in (a, b, c)]
    assert len(set(kids)) == 3
    published = {k["kid"] for k in (await (await first.get("/.well-known/jwks.json")).json())["keys"]}
    await second.server.app[SERVICES].tokens.keyring.reload()
    email, _ = await new_user(second)
    refused = await grant(second, email)
    assert refused.status == 503, await refused.text()
    problem = await refused.json()
    assert problem["code"] == "signing_key_unavailable" and "passphrase" in problem["detail"]
    ready = await second.get("/readyz")
    assert ready.status == 503 and (await ready.json())["checks"]["signing_key"] == "undecryptable"
    # The first process keeps signing with the key it made; no new key was added.
    d, _ = await tokens_for(first)
    assert jwt.get_unverified_header(d["access_token"])["kid"] == kids[2]
    assert (await first.get("/readyz")).status == 200
    await first.server.app[SERVICES].tokens.keyring.reload()
    assert {k["kid"] for k in (await (await first.get("/.well-known/jwks.json")).json())["keys"]} == published
    # Tokens either process signed still verify on both (public halves need no passphrase).
    for client in (first, second):
        for token in (a, b, c, d):
            assert (await client.get("/auth/sessions", headers=bearer(token["access_token"]))).status == 200
    # A key made by another process that shares the second's passphrase (a rotation run with
    # it) is one the second may sign with again: it is no longer locked out.
    third = await serve(token_settings(make_settings, tokens={"keys_passphrase": "a different passphrase entirely"}))
    await third.server.app[SERVICES].tokens.keyring.rotate()
    await second.server.app[SERVICES].tokens.keyring.reload()
    e, _ = await tokens_for(second)
    assert (await second.get("/readyz")).status == 200
    assert jwt.get_unverified_header(e["access_token"])["kid"] not in kids
