"""Builds the authorizer and the admin manager for the shared service graph."""
from __future__ import annotations

from app.authz.emails import TTL_S, UserEmails
from app.authz.engine import Authorizer
from app.authz.manager import AuthzManager
from app.authz.repository import AuthzRepository

__all__ = ["Authorizer", "AuthzManager", "build_authz"]


def build_authz(settings, *, redis, sessionmaker, users, publisher, relay, store, bus):
    """(Authorizer, AuthzManager); with a pub/sub ``bus`` the authorizer caches between changes."""
    repository = AuthzRepository()
    version_key = f"{settings.redis.key_prefix}:authz:version"
    is_trusted = (lambda: bus.trusted) if bus is not None else (lambda: False)
    # Without a bus (worker, CLI) nothing is cached: each decision needing an email reads it.
    size = settings.authz.cache_size
    emails = UserEmails(sessionmaker=sessionmaker, users=users, max_entries=max(size, 1),
                        ttl_s=TTL_S if size else 0, is_trusted=is_trusted)
    authorizer = Authorizer(sessionmaker=sessionmaker, repository=repository, redis=redis,
                            version_key=version_key, cache_size=size,
                            is_trusted=is_trusted, emails=emails)
    if bus is not None:
        bus.subscribe(authorizer.on_message, authorizer.reset)
        bus.subscribe(emails.on_message, emails.reset)
    manager = AuthzManager(sessionmaker=sessionmaker, repository=repository, users=users, publisher=publisher,
                           relay=relay, session_store=store, redis=redis, version_key=version_key,
                           channel=store.keys.channel, actions=settings.authz.action_set)
    return authorizer, manager
