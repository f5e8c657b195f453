"""The peers, each a small aiohttp server on 127.0.0.1 (same uvloop, same process count).

  bare             returns the JSON of GET /auth/session from constants: the floor of
                   what any aiohttp handler costs (routing, JSON, HTTP).
  aiohttp-session  aiohttp-session with its RedisStorage (redis.asyncio) reading a
                   session on every request: the natural aiohttp choice.
  one-script       POST /auth/token answered after one Redis script call (read and bump
                   one hash field) with a reply the size of a token grant's: the floor of
                   any refresh grant that checks rotation in a shared store (one atomic
                   round trip), with nothing else a grant does.

Usage: python bench/baseline_server.py KIND --port P [--procs N] [--redis URL] [--prefix P]
"""
from __future__ import annotations

import argparse
import multiprocessing

from aiohttp import web

SESSION_REPLY = {
    "user": {"id": "0b5c1f6e-8d2a-4c7e-9f3b-2a1d4e5f6a7b", "email": "bench@example.com", "roles": []},
    "session": {"handle": "q1w2e3r4t5y6u7i8", "expires_at": "2026-11-29T06:00:00Z",
                "idle_expires_at": "2026-11-28T19:30:00Z"},
    "csrf_token": "kJ3n5Vb0yQ8xR2tW6zP1aS4dF7gH9jL0mN3bV5cX8zQ",
}


def bare_app() -> web.Application:
    async def session(request: web.Request) -> web.Response:
        # The dict is rebuilt per request, as the service builds its reply.
        u, s = SESSION_REPLY["user"], SESSION_REPLY["session"]
        return web.json_response({"user": {"id": u["id"], "email": u["email"], "roles": list(u["roles"])},
                                  "session": dict(s), "csrf_token": SESSION_REPLY["csrf_token"]},
                                 headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/auth/session", session)
    app.router.add_get("/auth/sessions", session)
    app.router.add_get("/auth/me", session)
    app.router.add_get("/healthz", lambda r: web.Response(text="ok"))
    return app


def aiohttp_session_app(redis_url: str, prefix: str) -> web.Application:
    import aiohttp_session
    from aiohttp_session.redis_storage import RedisStorage
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    app = web.Application()
    aiohttp_session.setup(app, RedisStorage(redis, cookie_name=f"{prefix}_AIOHTTP_SESSION", httponly=True))

    async def login(request: web.Request) -> web.Response:
        session = await aiohttp_session.new_session(request)
        session.update({"uid": SESSION_REPLY["user"]["id"], "email": SESSION_REPLY["user"]["email"],
                        "roles": [], "csrf": SESSION_REPLY["csrf_token"]})
        return web.json_response({"ok": True})

    async def current(request: web.Request) -> web.Response:
        session = await aiohttp_session.get_session(request)
        if "uid" not in session:
            raise web.HTTPUnauthorized()
        return web.json_response({"user": {"id": session["uid"], "email": session["email"],
                                           "roles": session["roles"]},
                                  "session": dict(SESSION_REPLY["session"]), "csrf_token": session["csrf"]},
                                 headers={"Cache-Control": "no-store"})

    async def close(app: web.Application) -> None:
        await redis.aclose()

    app.router.add_post("/login", login)
    app.router.add_get("/auth/session", current)
    app.router.add_get("/healthz", lambda r: web.Response(text="ok"))
    app.on_cleanup.append(close)
    return app


# A grant reply's shape and size: a 480-character EdDSA access token (482 in the service) and a 43-character refresh token.
GRANT_REPLY = {"access_token": "a" * 480, "token_type": "Bearer", "expires_in": 900, "refresh_token": "r" * 43}
ONE_SCRIPT = "local n = redis.call('HGET', KEYS[1], 'n') redis.call('HINCRBY', KEYS[1], 'n', 1) return n"


def one_script_app(redis_url: str, prefix: str) -> web.Application:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    script = redis.register_script(ONE_SCRIPT)
    key = f"{prefix}:one-script"

    async def token(request: web.Request) -> web.Response:
        await request.json()  # a grant reads its body too
        await script(keys=[key])
        return web.json_response(dict(GRANT_REPLY), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def close(app: web.Application) -> None:
        await redis.aclose()

    app = web.Application()
    app.router.add_post("/auth/token", token)
    app.router.add_get("/healthz", lambda r: web.Response(text="ok"))
    app.on_cleanup.append(close)
    return app


def _run(kind: str, port: int, reuse: bool, redis_url: str, prefix: str) -> None:
    import uvloop

    uvloop.install()
    if kind == "bare":
        app = bare_app()
    elif kind == "one-script":
        app = one_script_app(redis_url, prefix)
    else:
        app = aiohttp_session_app(redis_url, prefix)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, reuse_port=reuse, print=None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["bare", "aiohttp-session", "one-script"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--prefix", default="bench")
    a = ap.parse_args()
    if a.procs == 1:
        _run(a.kind, a.port, False, a.redis, a.prefix)
        return
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_run, args=(a.kind, a.port, True, a.redis, a.prefix)) for _ in range(a.procs)]
    for c in children:
        c.start()
    for c in children:
        c.join()


if __name__ == "__main__":
    main()
