"""API client use cases: create, authenticate (Basic), rotate the secret, delete.

Secrets are 256 random bits shown once and stored as argon2id. Verifying argon2
on every request would cap a process at ~60 requests/s, so a verified credential
is remembered in-process for a short while, keyed by the SHA-256 of the
credential pair (the pair itself is never kept). The memory is trusted only while
the invalidation link is up, and ``c:<client_id>`` (published on rotation,
deletion or a role change) drops it on every process.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.authz.errors import UnknownRoleError
from app.authz.manager import Actor
from app.authz.names import ROLE_NAME_RULE, RolesCheck, is_role_name
from app.authz.principal import ClientPrincipal
from app.clients.repository import ClientRecord, ClientRepository, ClientSummary
from app.clock import now_s
from app.db import outbox
from app.db.outbox import OutboxRelay
from app.events.revocable_cache import RevocableCache
from app.errors import NotFoundError, UnauthenticatedError, ValidationError
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.passwords.hasher import Argon2Hasher
from app.sessions.manager import ClientInfo
from app.throttle import Attempt, Throttle, account_key

CLIENT_ID_PREFIX = "cl_"
_CLIENT_ID = re.compile(r"cl_[A-Za-z0-9_-]{22}")
_SECRET_MAX = 256
NAME_MAX = 200
ROLES_MAX = 200
# Names show up in admin screens, logs and the CLI: no control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidClientError(UnauthenticatedError):
    """Unknown client, wrong secret or disabled client: one reply for all (RFC 6749 invalid_client)."""

    code, title = "invalid_client", "Client authentication failed"
    detail = "The client_id or secret is not correct."

    def __init__(self, realm: str = "authsvc", detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = f'Basic realm="{realm}", charset="UTF-8"'
        # RFC 6749 5.2 (which RFC 7662 2.3 points to): OAuth libraries read ``error``.
        self.extra["error"] = self.code


@dataclass(frozen=True, slots=True)
class NewClient:
    client_id: str
    secret: str  # shown once, never stored
    name: str
    roles: tuple[str, ...]


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(16)


def credential_digest(client_id: str, secret: str) -> bytes:
    return hashlib.sha256(f"{len(client_id)}:{client_id}:{secret}".encode()).digest()


class VerifiedClients(RevocableCache[ClientPrincipal]):
    """Credential digests verified recently (see module docstring)."""

    def __init__(self, *, ttl_s: float, max_entries: int, is_trusted: Callable[[], bool]) -> None:
        super().__init__(ttl_s=ttl_s, max_entries=max_entries, is_trusted=is_trusted, message_kind=None,
                         owner_kind="c")

    def put(self, digest: bytes, principal: ClientPrincipal, now: float, generation: int) -> None:
        self.store(digest, principal, owner=principal.id, name=digest.hex(), until=now + self.ttl_s, now=now,
                   generation=generation)

    def forget(self, digest: bytes) -> None:
        if digest in self._entries:
            # A lookup of this pair that read Postgres before the change may be storing it now.
            self.generation += 1
            self._drop(digest)

    def on_message(self, message: str) -> None:
        if message.startswith("authz:"):
            self.reset()  # roles or policies changed: role names a client holds may have gone
        else:
            super().on_message(message)


def _context(client: ClientInfo, actor: Actor | None) -> dict:
    """The 'who and from where' part of an event: the administrator when there is one."""
    return actor.context() if actor is not None else client.context()


def _known_id(client_id: str) -> str:
    """:raises NotFoundError: a string no client can be named by (nothing is looked up)."""
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise NotFoundError("No such client.")
    return client_id


def _role_names(roles) -> list[str]:
    """:raises ValidationError: too many or malformed role names."""
    if len(roles) > ROLES_MAX:
        raise ValidationError(f"At most {ROLES_MAX} roles.", field="roles")
    for role in roles:
        if not is_role_name(role):
            raise ValidationError(f"A role name is {ROLE_NAME_RULE}.", field="roles")
    return sorted(set(roles))


class ClientManager:
    def __init__(self, *, sessionmaker: async_sessionmaker, repository: ClientRepository, hasher: Argon2Hasher,
                 publisher: EventPublisher, relay: OutboxRelay, redis: Redis, channel: str,
                 throttle: Throttle | None = None, verified: VerifiedClients | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.repository = repository
        self.hasher = hasher
        self.publisher = publisher
        self.relay = relay
        self.redis = redis
        self.channel = channel
        self.throttle = throttle
        self.verified = verified

    async def create(self, name: str, roles: tuple[str, ...], client: ClientInfo, *, actor: Actor | None = None,
                     create_missing_roles: bool = True) -> NewClient:
        """A new client; its secret is in the result and nowhere else.

        The CLI creates roles it names that do not exist yet (``create_missing_roles``); the
        admin API refuses them instead.

        :raises ValidationError: empty, too long or control-character name; malformed role names.
        :raises UnknownRoleError: a role does not exist (only without ``create_missing_roles``).
        """
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > NAME_MAX or _CONTROL.search(name):
            raise ValidationError(f"A client needs a name of 1 to {NAME_MAX} printable characters.", field="name")
        roles = tuple(_role_names(roles))
        client_id, secret = new_client_id(), secrets.token_urlsafe(32)
        secret_hash = await self.hasher.hash(secret)
        async with self.sessionmaker() as session, session.begin():
            if not create_missing_roles:
                await self._require_roles(session, roles)
            await self.repository.insert(session, client_id=client_id, name=name, secret_hash=secret_hash,
                                         roles=roles)
            event = Event("auth.client.created", None, {"client_id": client_id, "name": name, "roles": list(roles),
                                                        **_context(client, actor)})
            outbox.stage(session, self.publisher, event)
        await self.relay.relay([event.id])
        return NewClient(client_id, secret, name, roles)

    async def rotate_secret(self, client_id: str, client: ClientInfo, *, actor: Actor | None = None,
                            may_touch: RolesCheck | None = None) -> str:
        """A new secret (returned once); the old one stops working on every process at once.
        ``may_touch``: the caller's check of the roles the secret will carry (``RolesCheck``).

        :raises NotFoundError: no such client."""
        _known_id(client_id)
        secret = secrets.token_urlsafe(32)
        secret_hash = await self.hasher.hash(secret)
        try:
            async with self.sessionmaker() as session, session.begin():
                await self._check_held(session, client_id, may_touch)
                if not await self.repository.set_secret_hash(session, client_id, secret_hash):
                    raise NotFoundError("No such client.")
                event = Event("auth.client.secret_rotated", None, {"client_id": client_id,
                                                                   **_context(client, actor)})
                outbox.stage(session, self.publisher, event)
        except NotFoundError:
            await self._announce_retry(client_id)
            raise
        await self._changed(client_id, event)
        return secret

    async def delete(self, client_id: str, client: ClientInfo, *, actor: Actor | None = None,
                     may_touch: RolesCheck | None = None) -> None:
        """``may_touch``: the caller's check of the roles deleted with it (``RolesCheck``).

        :raises NotFoundError: no such client."""
        _known_id(client_id)
        try:
            async with self.sessionmaker() as session, session.begin():
                await self._check_held(session, client_id, may_touch)
                if not await self.repository.delete(session, client_id):
                    raise NotFoundError("No such client.")
                event = Event("auth.client.deleted", None, {"client_id": client_id, **_context(client, actor)})
                outbox.stage(session, self.publisher, event)
        except NotFoundError:
            await self._announce_retry(client_id)
            raise
        await self._changed(client_id, event)

    async def list_clients(self) -> list[ClientSummary]:
        async with self.sessionmaker() as session:
            return await self.repository.summaries(session)

    async def get(self, client_id: str) -> ClientSummary:
        """:raises NotFoundError: no such client."""
        async with self.sessionmaker() as session:
            found = await self.repository.summaries(session, _known_id(client_id))
        if not found:
            raise NotFoundError("No such client.")
        return found[0]

    async def set_roles(self, client_id: str, roles: list[str], client: ClientInfo, *,
                        actor: Actor | None = None, may_touch: RolesCheck | None = None) -> ClientSummary:
        """Replace the client's roles; its next request on any process carries the new ones
        (the verified-credential memory, which holds the roles, is dropped everywhere).
        ``may_touch``: the caller's check of the roles granted or taken away (``RolesCheck``).

        :raises NotFoundError: no such client. :raises UnknownRoleError: a role does not exist.
        :raises ValidationError: malformed role names.
        """
        _known_id(client_id)
        wanted = _role_names(roles)
        async with self.sessionmaker() as session, session.begin():
            await self._require_roles(session, wanted)
            changed = await self.repository.set_roles(session, client_id, wanted)
            if changed is None:
                raise NotFoundError("No such client.")
            before, after = changed
            if may_touch is not None:
                may_touch(set(before) ^ set(after))  # as they were at the commit: raising rolls back
            event = None
            if before != after:
                event = Event("auth.client.roles_changed", None, {
                    "client_id": client_id, "granted": sorted(set(after) - set(before)),
                    "revoked": sorted(set(before) - set(after)), "roles": list(after), **_context(client, actor)})
                outbox.stage(session, self.publisher, event)
            summary = (await self.repository.summaries(session, client_id))[0]
        if event is not None:
            await self._changed(client_id, event)
        else:
            # Nothing changed here, but a first call may have committed and then failed to
            # reach the other processes (503): this retry is the one that tells them.
            await self._invalidate(client_id)
        return summary

    async def _check_held(self, session, client_id: str, may_touch: RolesCheck | None) -> None:
        """Run ``may_touch`` on the client's roles as they are now, its row locked until the
        commit: a grant that commits meanwhile (an admin making it an admin client) cannot slip
        between a caller's check and its change."""
        if may_touch is None:
            return
        roles = await self.repository.locked_roles(session, client_id)
        if roles is None:
            raise NotFoundError("No such client.")
        may_touch(roles)

    async def _require_roles(self, session, roles) -> None:
        missing = set(roles) - await self.repository.lock_existing_roles(session, list(roles))
        if missing:
            raise UnknownRoleError(f"No such role: {', '.join(sorted(missing))}.", roles=sorted(missing))

    async def _changed(self, client_id: str, event: Event) -> None:
        # The processes hear of the change first: the relay may fail on Redis or Postgres
        # (503) after the commit, and a retry would then find nothing to change.
        await self._invalidate(client_id)
        await self.relay.relay([event.id])

    async def _announce_retry(self, client_id: str) -> None:
        """A rotation or deletion that finds no client may be the retry of a deletion that
        committed and then failed to announce itself (503): announce anyway, or the other
        processes accept the deleted credential until their memory of it expires. (A spurious
        announcement only makes them check that client's credentials against Postgres again.)"""
        await self._invalidate(client_id)

    async def _invalidate(self, client_id: str) -> None:
        if self.verified is not None:
            self.verified.on_message(f"c:{client_id}")
        await self.redis.publish(self.channel, f"c:{client_id}")

    async def authenticate(self, client_id: str, secret: str, client: ClientInfo, *,
                           realm: str = "authsvc") -> ClientPrincipal:
        """The API client these Basic credentials name.

        :raises InvalidClientError: the same error, after the same argon2 work, for an unknown
            client, a wrong secret or a disabled client.
        :raises TooManyAttemptsError: throttled (checked before any hashing).
        """
        now = now_s()
        digest = credential_digest(client_id, secret)
        verified = self.verified
        if verified is not None:
            hit = verified.get(digest, now)
            if hit is not None:
                return hit
            generation = verified.generation
        # Client secrets are 256-bit: guessing is hopeless, so no account-wide lock that an
        # attacker could use to cut a service off; the per-IP counters still slow a scan.
        attempt = Attempt(account=account_key("client", client_id[:64]), ip=client.ip, lock_account=False)
        if self.throttle is not None:
            await self.throttle.check(attempt)
        record: ClientRecord | None = None
        if _CLIENT_ID.fullmatch(client_id) and len(secret) <= _SECRET_MAX:
            async with self.sessionmaker() as session:
                record = await self.repository.by_client_id(session, client_id)
        verdict = await self.hasher.verify(record.secret_hash if record else None, secret[:_SECRET_MAX])
        if not verdict.ok or record is None or record.disabled or not hmac.compare_digest(record.client_id, client_id):
            if verified is not None:
                # Remembered, yet refused by Postgres: a change whose announcement never
                # arrived. Kept, it would be served again as soon as the link is proven current.
                verified.forget(digest)
            if self.throttle is not None:
                await self.throttle.failed(attempt)
            raise InvalidClientError(realm)
        if self.throttle is not None:
            await self.throttle.succeeded(attempt)
        principal = ClientPrincipal(id=record.client_id, name=record.name, roles=record.roles)
        if verified is not None:
            verified.put(digest, principal, now, generation)
        return principal
