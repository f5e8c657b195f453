"""Builds the MFA manager for build_services."""
from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.accounts.manager import AccountManager
from app.db.outbox import OutboxRelay
from app.db.users import UserRepository
from app.events.publisher import EventPublisher
from app.mfa.challenges import MfaChallengeStore
from app.mfa.manager import MfaManager
from app.mfa.repository import MfaRepository
from app.mfa.secretbox import SecretBox
from app.settings import Settings
from app.throttle import Throttle


def build_mfa(settings: Settings, *, redis: Redis, sessionmaker: async_sessionmaker, users: UserRepository,
              publisher: EventPublisher, relay: OutboxRelay, accounts: AccountManager,
              throttle: Throttle | None) -> MfaManager:
    sec = settings.security
    challenges = MfaChallengeStore(redis=redis, publisher=publisher, prefix=settings.redis.key_prefix,
                                   ttl_s=sec.mfa_challenge_ttl_s)
    mfa = MfaManager(sessionmaker=sessionmaker, repo=MfaRepository(), users=users,
                     box=SecretBox(sec.data_key), challenges=challenges, publisher=publisher, relay=relay,
                     issuer=sec.mfa_issuer, confirm_password=accounts.confirm_password, throttle=throttle)
    accounts.mfa = mfa  # login asks it whether a second step is due
    return mfa
