"""Builds the API client manager for the shared service graph."""
from __future__ import annotations

from app.clients.manager import ClientManager, VerifiedClients
from app.clients.repository import ClientRepository


def build_clients(settings, *, redis, sessionmaker, hasher, publisher, relay, throttle, channel: str,
                  bus) -> ClientManager:
    verified = None
    c = settings.clients
    if bus is not None and c.cache_ttl_s > 0:
        verified = VerifiedClients(ttl_s=c.cache_ttl_s, max_entries=c.cache_size, is_trusted=lambda: bus.trusted)
        bus.subscribe(verified.on_message, verified.reset)
    return ClientManager(sessionmaker=sessionmaker, repository=ClientRepository(), hasher=hasher,
                         publisher=publisher, relay=relay, redis=redis, channel=channel, throttle=throttle,
                         verified=verified)
