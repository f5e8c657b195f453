"""Reading the wire and the stores the way an auditor would."""
from __future__ import annotations

import json

import asyncpg


def set_cookie_headers(response, name: str = "__Host-id") -> list[str]:
    return [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(name + "=")]


def cookie_attributes(header: str) -> tuple[str, dict[str, str]]:
    """(value, {lower-cased attribute: value}) of one raw Set-Cookie header."""
    first, *attrs = [p.strip() for p in header.split(";")]
    value = first.split("=", 1)[1]
    parsed = {}
    for attr in attrs:
        key, _, val = attr.partition("=")
        parsed[key.lower()] = val
    return value, parsed


async def dump_prefix(redis, prefix: str) -> str:
    """Every byte Redis holds under ``prefix``, as text (types read natively, plus DUMP)."""
    parts: list[str] = []
    async for key in redis.scan_iter(f"{prefix}:*", count=20000):
        parts.append(key)
        kind = await redis.type(key)
        if kind == "hash":
            parts.append(json.dumps(await redis.hgetall(key)))
        elif kind == "zset":
            parts.append(json.dumps(await redis.zrange(key, 0, -1, withscores=True)))
        elif kind == "stream":
            parts.append(json.dumps(await redis.xrange(key)))
        elif kind == "string":  # sessions are msgpack: read raw, secrets are ASCII either way
            raw_value = await redis.execute_command("GET", key, NEVER_DECODE=True)
            parts.append(raw_value.decode("latin-1") if raw_value else "")
        elif kind == "set":
            parts.append(json.dumps(sorted(await redis.smembers(key))))
        elif kind == "list":
            parts.append(json.dumps(await redis.lrange(key, 0, -1)))
        raw = await redis.execute_command("DUMP", key, NEVER_DECODE=True)
        parts.append(raw.decode("latin-1") if raw else "")
    return "\n".join(parts)


async def events(redis, stream: str) -> list[dict]:
    return [json.loads(fields["event"]) for _, fields in await redis.xrange(stream)]


async def raw_events(redis, stream: str) -> str:
    return json.dumps(await redis.xrange(stream))


def pg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


async def pg_fetch(database_url: str, query: str, *args):
    conn = await asyncpg.connect(pg_dsn(database_url))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()
