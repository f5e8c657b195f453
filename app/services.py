"""One graph of collaborators for the web app, the Celery worker and the CLI."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from redis.asyncio.retry import Retry  # the async one: the sync class never retries a coroutine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.accounts.forced_logout import ForcedLogout
from app.accounts.manager import AccountManager
from app.authz.wiring import Authorizer, AuthzManager, build_authz
from app.db.engine import make_engine, make_sessionmaker
from app.db.outbox import OutboxRelay
from app.db.users import UserRepository
from app.events.invalidation import InvalidationBus
from app.events.publisher import EventPublisher
from app.passwords.hasher import Argon2Hasher
from app.passwords.policy import PasswordPolicy
from app.redisconn import redis_from_url
from app.sessions.cache import SessionCache
from app.sessions.manager import SessionManager
from app.sessions.store import RedisSessionStore
from app.settings import Settings
from app.taskqueue import TaskQueue
from app.throttle import Backoff, RedisThrottle
from app.mfa.wiring import build_mfa
from app.clients.wiring import build_clients
from app.tokens.wiring import build_tokens

if TYPE_CHECKING:
    from app.clients.manager import ClientManager
    from app.mfa.manager import MfaManager
    from app.tokens.service import TokenService


@dataclass
class Services:
    settings: Settings
    redis: Redis
    engine: AsyncEngine
    sessionmaker: async_sessionmaker
    publisher: EventPublisher
    hasher: Argon2Hasher
    users: UserRepository
    session_store: RedisSessionStore
    sessions: SessionManager
    accounts: AccountManager
    relay: OutboxRelay
    bus: InvalidationBus | None = None
    authz: "Authorizer | None" = None
    authz_admin: "AuthzManager | None" = None
    tasks: "TaskQueue | None" = None
    forced_logout: "ForcedLogout | None" = None
    throttle: "RedisThrottle | None" = None
    mfa: "MfaManager | None" = None
    tokens: "TokenService | None" = None
    clients: "ClientManager | None" = None

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
        self.hasher.close()
        if self.tasks is not None:
            self.tasks.close()
        await self.redis.aclose()
        await self.engine.dispose()


def make_redis(settings: Settings) -> Redis:
    # Short timeouts and one quick retry: an outage becomes a fast 503, and the
    # pool reconnects by itself when Redis is back.
    return redis_from_url(
        settings.redis.url,
        socket_timeout=settings.redis.socket_timeout_s,
        socket_connect_timeout=settings.redis.socket_timeout_s,
        max_connections=settings.redis.max_connections,
        pool_timeout_s=settings.redis.pool_timeout_s,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def build_services(settings: Settings, *, web: bool = False) -> Services:
    """The service graph; ``web=True`` adds the in-process caches and the pub/sub
    bus that keeps them honest (only long-lived web processes want them)."""
    redis = make_redis(settings)
    engine = make_engine(settings.database.url, pool_size=settings.database.pool_size,
                         connect_timeout_s=settings.database.connect_timeout_s)
    sessionmaker = make_sessionmaker(engine)
    publisher = EventPublisher(redis=redis, stream=settings.events.stream, source=settings.events.source)
    pw = settings.password
    hash_threads = pw.hash_threads or max(1, (os.cpu_count() or 1) // settings.http.processes)
    hasher = Argon2Hasher(time_cost=pw.time_cost, memory_kib=pw.memory_kib, parallelism=pw.parallelism,
                          threads=hash_threads, nice=pw.hash_nice, max_wait_s=pw.hash_max_wait_s)
    policy = PasswordPolicy(min_length=pw.min_length, max_length=pw.max_length)
    users = UserRepository()
    s = settings.session
    store = RedisSessionStore(
        redis=redis, publisher=publisher, prefix=settings.redis.key_prefix,
        # Sliding-timeout writes at most once per 1/30 of the idle timeout (60 s at most).
        touch_granularity_s=min(60.0, s.idle_timeout_s / 30))
    epoch_ttl = max(s.absolute_timeout_s, settings.tokens.refresh_family_ttl_s,
                    settings.tokens.access_ttl_s) + 3600
    bus = InvalidationBus(redis=redis, channel=store.keys.channel) if web else None
    session_cache = None
    if bus is not None and s.cache_ttl_s > 0:
        session_cache = SessionCache(ttl_s=s.cache_ttl_s, max_entries=s.cache_size,
                                     is_trusted=lambda: bus.trusted)
        bus.subscribe(session_cache.on_message, session_cache.reset)
    sessions = SessionManager(store=store, idle_timeout_s=s.idle_timeout_s,
                              absolute_timeout_s=s.absolute_timeout_s, epoch_ttl_s=epoch_ttl,
                              max_per_user=s.max_per_user, cache=session_cache)
    relay = OutboxRelay(sessionmaker=sessionmaker, publisher=publisher)
    throttle = build_throttle(settings, redis)
    accounts = AccountManager(sessionmaker=sessionmaker, users=users, hasher=hasher, policy=policy,
                              publisher=publisher, relay=relay, sessions=sessions, throttle=throttle)
    mfa = build_mfa(settings, redis=redis, sessionmaker=sessionmaker, users=users, publisher=publisher,
                    relay=relay, accounts=accounts, throttle=throttle)
    authz, authz_admin = build_authz(settings, redis=redis, sessionmaker=sessionmaker, users=users,
                                     publisher=publisher, relay=relay, store=store, bus=bus)
    tasks = TaskQueue(settings)
    forced_logout = ForcedLogout(sessionmaker=sessionmaker, users=users, sessions=sessions,
                                 publisher=publisher, relay=relay, dispatch=tasks, throttle=throttle)
    tokens = build_tokens(settings, redis=redis, sessionmaker=sessionmaker, users=users, publisher=publisher,
                          accounts=accounts, channel=store.keys.channel, bus=bus)
    clients = build_clients(settings, redis=redis, sessionmaker=sessionmaker, hasher=hasher, publisher=publisher,
                            relay=relay, throttle=throttle, channel=store.keys.channel, bus=bus)
    return Services(settings=settings, redis=redis, engine=engine, sessionmaker=sessionmaker,
                    publisher=publisher, hasher=hasher, users=users, session_store=store,
                    sessions=sessions, accounts=accounts, relay=relay, bus=bus,
                    authz=authz, authz_admin=authz_admin, tasks=tasks, forced_logout=forced_logout, throttle=throttle,
                    mfa=mfa, tokens=tokens, clients=clients)


def build_throttle(settings: Settings, redis: Redis) -> RedisThrottle:
    t = settings.throttle
    account = Backoff(free=t.account_free_failures, base_delay_s=t.base_delay_s, max_delay_s=t.max_delay_s,
                      window_s=t.window_s, block_after=t.account_block_after)
    ip = Backoff(free=t.ip_free_failures, base_delay_s=t.base_delay_s, max_delay_s=t.max_delay_s,
                 window_s=t.window_s)
    return RedisThrottle(redis=redis, prefix=settings.redis.key_prefix, account=account, ip=ip,
                         device_ttl_s=t.device_ttl_s, max_devices=t.max_devices)
