"""Builds the token service for the shared service graph."""
from __future__ import annotations

from app.tokens.cache import TokenCache
from app.tokens.keyring import KeyRing
from app.tokens.passphrase import load_passphrase
from app.tokens.service import TokenPolicy, TokenService
from app.tokens.store import RedisTokenStore
from app.tokens.verify import AccessTokenVerifier


def build_tokens(settings, *, redis, sessionmaker, users, publisher, accounts, channel: str, bus) -> TokenService:
    t = settings.tokens
    keyring = KeyRing(sessionmaker=sessionmaker, passphrase=load_passphrase(t.keys_passphrase, t.keys_dir),
                      algorithm=t.algorithm,
                      # A superseded key may have signed until every process heard of the rotation.
                      retain_s=t.access_ttl_s + t.leeway_s + t.keys_reload_s, reload_s=t.keys_reload_s,
                      publisher=publisher)
    store = RedisTokenStore(redis=redis, publisher=publisher, prefix=settings.redis.key_prefix, channel=channel,
                            leeway_s=t.leeway_s)
    cache = None
    if bus is not None:
        bus.subscribe(keyring.on_message, keyring.reset)
        if t.cache_ttl_s > 0:
            cache = TokenCache(ttl_s=t.cache_ttl_s, max_entries=t.cache_size, is_trusted=lambda: bus.trusted)
            bus.subscribe(cache.on_message, cache.reset)
    verifier = AccessTokenVerifier(keyring=keyring, store=store, issuer=t.issuer, audience=t.audience,
                                   leeway_s=t.leeway_s, max_bytes=t.max_token_bytes, cache=cache)
    policy = TokenPolicy(issuer=t.issuer, audience=t.audience, access_ttl_s=t.access_ttl_s,
                         refresh_ttl_s=t.refresh_ttl_s, family_ttl_s=t.refresh_family_ttl_s,
                         grace_s=t.refresh_grace_s, leeway_s=t.leeway_s)
    return TokenService(keyring=keyring, store=store, verifier=verifier, policy=policy, sessionmaker=sessionmaker,
                        users=users, accounts=accounts, cache=cache, throttle=accounts.throttle)
