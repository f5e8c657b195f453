"""Liveness and readiness."""
from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from app.http.appkeys import SERVICES
from app.http.problem import problem_response

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _redis_ok(services) -> bool:
    try:
        return bool(await asyncio.wait_for(services.redis.ping(), 2))
    except Exception:  # any failure means not ready; the reason is in the reply
        return False


async def _postgres_ok(services) -> bool:
    try:
        async with asyncio.timeout(3):
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means not ready
        return False


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    redis_ok, pg_ok = await asyncio.gather(_redis_ok(services), _postgres_ok(services))
    checks = {"redis": "ok" if redis_ok else "unreachable", "postgres": "ok" if pg_ok else "unreachable"}
    key_ok = services.tokens is None or not services.tokens.keyring.locked_out
    if not key_ok:
        checks["signing_key"] = "undecryptable"
    if redis_ok and pg_ok and key_ok:
        return web.json_response({"status": "ok", "checks": checks})
    detail = ("A backing service is unreachable." if not (redis_ok and pg_ok) else
              "This process cannot decrypt the current signing key (another process uses a different "
              "key passphrase).")
    return problem_response(status=503, code="not_ready", title="Not ready", detail=detail, checks=checks,
                            headers={"Retry-After": "1"})
