"""POST /auth/token: the password grant, OAuth2-shaped replies and errors, Bearer use."""
import base64
import json

import jwt

from tests.integration.tokens.helpers import bearer, grant, new_user, token_settings, tokens_for


def _segment(token: str, i: int) -> dict:
    part = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_password_grant_returns_an_oauth2_reply_and_a_typed_jwt(serve, make_settings):
    settings = token_settings(make_settings)
    client = await serve(settings)
    email, user_id = await new_user(client, roles=("editor",))
    response = await grant(client, email)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == settings.tokens.access_ttl_s
    assert len(body["refresh_token"]) == 43 and "." not in body["refresh_token"]
    header, claims = _segment(body["access_token"], 0), _segment(body["access_token"], 1)
    assert header["typ"] == "at+jwt" and header["alg"] == "EdDSA" and header["kid"]
    assert {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "roles"} <= set(claims)
    assert claims["sub"] == user_id and claims["roles"] == ["editor"]
    assert claims["exp"] - claims["iat"] == settings.tokens.access_ttl_s
    assert claims["iss"] == settings.tokens.issuer and claims["aud"] == settings.tokens.audience
    assert email not in json.dumps(claims)  # no personal data in tokens
    assert "set-cookie" not in {k.lower() for k in response.headers}


async def test_bearer_token_authenticates_a_protected_route(serve, make_settings):
    client = await serve(token_settings(make_settings))
    body, user_id = await tokens_for(client)
    sessions = await client.get("/auth/sessions", headers=bearer(body["access_token"]))
    assert sessions.status == 200
    # Bearer requests need no CSRF token: an unsafe route works with the Bearer header alone.
    out = await client.delete("/auth/sessions", headers=bearer(body["access_token"]))
    assert out.status == 204


async def test_bad_bearer_token_gets_401_with_the_bearer_challenge(serve, make_settings):
    client = await serve(token_settings(make_settings))
    body, _ = await tokens_for(client)
    tampered = body["access_token"][:-4] + ("AAAA" if not body["access_token"].endswith("AAAA") else "BBBB")
    response = await client.get("/auth/sessions", headers=bearer(tampered))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "invalid_token"


async def test_wrong_password_is_invalid_grant_with_problem_fields(serve, make_settings):
    client = await serve(token_settings(make_settings))
    email, _ = await new_user(client)
    response = await grant(client, email, "not the password at all 123")
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_grant" and body["code"] == "invalid_grant" and body["status"] == 400
    assert response.headers["Cache-Control"] == "no-store"
    unknown = await grant(client, "nobody@example.com", "not the password at all 123")
    assert (await unknown.json())["error"] == "invalid_grant"


async def test_unsupported_grant_and_missing_fields_are_oauth_errors(serve, make_settings):
    client = await serve(token_settings(make_settings))
    r = await client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert r.status == 400 and (await r.json())["error"] == "unsupported_grant_type"
    r = await client.post("/auth/token", json={"grant_type": "password", "username": "a@b.c"})
    assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    r = await client.post("/auth/token", json={"grant_type": 7})
    assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    r = await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": "x" * 43})
    assert r.status == 400 and (await r.json())["error"] == "invalid_grant"


async def test_form_encoded_password_grant(serve, make_settings):
    client = await serve(token_settings(make_settings))
    email, _ = await new_user(client)
    from tests.support.browser import STRONG_PASSWORD

    response = await client.post("/auth/token", data={"grant_type": "password", "username": email,
                                                      "password": STRONG_PASSWORD})
    assert response.status == 200
    assert (await response.json())["token_type"] == "Bearer"


async def test_token_verifies_with_the_published_key(serve, make_settings):
    settings = token_settings(make_settings)
    client = await serve(settings)
    body, user_id = await tokens_for(client)
    keys = (await (await client.get("/.well-known/jwks.json")).json())["keys"]
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    jwk = next(k for k in keys if k["kid"] == kid)
    assert jwk["use"] == "sig" and jwk["alg"] == "EdDSA" and "d" not in jwk
    claims = jwt.decode(body["access_token"], jwt.PyJWK(jwk).key, algorithms=["EdDSA"],
                        audience=settings.tokens.audience, issuer=settings.tokens.issuer)
    assert claims["sub"] == user_id


async def test_me_echoes_the_principal_of_each_method(serve, make_settings):
    from app.http.appkeys import SERVICES
    from app.sessions.manager import ClientInfo
    from tests.integration.tokens.helpers import basic

    client = await serve(token_settings(make_settings, http={"allow_insecure_basic": True}))
    body, user_id = await tokens_for(client, roles=("reader",))
    me = await (await client.get("/auth/me", headers=bearer(body["access_token"]))).json()
    assert me == {"id": user_id, "kind": "user", "roles": ["reader"], "method": "bearer"}
    created = await client.server.app[SERVICES].clients.create("svc", ("svc-role",), ClientInfo())
    me = await (await client.get("/auth/me", headers=basic(created.client_id, created.secret))).json()
    assert me == {"id": created.client_id, "kind": "client", "roles": ["svc-role"], "method": "basic"}
    assert (await client.get("/auth/me")).status == 401


async def test_authz_check_accepts_a_real_access_token_as_subject(serve, make_settings):
    client = await serve(token_settings(make_settings))
    body, user_id = await tokens_for(client, roles=("admin",))
    check = {"action": "read", "resource": {"type": "post"}}
    r = await client.post("/authz/check", headers=bearer(body["access_token"]),
                          json={"subject": {"token": body["access_token"]}, **check})
    by_id = await client.post("/authz/check", headers=bearer(body["access_token"]),
                              json={"subject": {"id": user_id}, **check})
    assert r.status == 200 and by_id.status == 200
    assert await r.json() == await by_id.json()  # the token resolved to its user
    forged = body["access_token"].rsplit(".", 1)[0] + ".AAAA"
    r = await client.post("/authz/check", headers=bearer(body["access_token"]),
                          json={"subject": {"token": forged}, **check})
    assert r.status == 422 and (await r.json())["code"] == "invalid_subject_token"
