"""Session use cases: start, resolve, end. Knows nothing of HTTP."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.clock import now_s
from app.errors import InvalidCredentialsError, NotFoundError, SessionExpiredError, UnauthenticatedError
from app.events.envelope import Event, request_context
from app.sessions.ids import hash_session_id, looks_like_session_id, new_session_id
from app.sessions.cache import SessionCache
from app.sessions.record import HeldCredential, SessionRecord
from app.sessions.store import GUARD_REVOKED, GUARD_ROLES_CHANGED, REVOKE_BATCH, RedisSessionStore, SessionCap

if TYPE_CHECKING:
    from app.throttle import SuccessCommit


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str = ""
    user_agent: str = ""

    def context(self) -> dict:
        return request_context(self.ip, self.user_agent)


class RevokedMeanwhileError(InvalidCredentialsError):
    """A password change or forced logout landed between the read of the credentials and the
    session's write: what they would have opened is refused (401 invalid_credentials)."""


class RolesChangedError(Exception):
    """The user's roles changed after they were read for a new session: read them again."""


class CredentialGoneError(UnauthenticatedError):
    """The credential a change was asked with was revoked or ended while the request was in
    flight (the owner changed the password, ended the other sessions): the change is refused."""


@dataclass(frozen=True, slots=True)
class StartedSession:
    session_id: str  # the secret; goes to the cookie and nowhere else
    record: SessionRecord
    device_token: str | None = None  # trusted in the same step (a login's SuccessCommit asked for it)


class SessionManager:
    def __init__(self, *, store: RedisSessionStore, idle_timeout_s: int, absolute_timeout_s: int,
                 epoch_ttl_s: int, max_per_user: int, cache: SessionCache | None = None) -> None:
        if max_per_user < 1:
            raise ValueError("max_per_user must be positive")
        self.store = store
        self.cache = cache
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        # Sessions one user holds at most: a new one past it ends their least recently used.
        self.max_per_user = max_per_user
        # How long a revocation epoch must outlive the things it revokes.
        self.epoch_ttl_s = epoch_ttl_s

    async def start(self, *, user_id: str, email: str, roles: tuple[str, ...], client: ClientInfo,
                    events: list[Event] = (), auth_time: float | None = None,
                    not_before: float = 0.0, credentials_at: float | None = None,
                    roles_read_at: float | None = None, commit: SuccessCommit | None = None,
                    replacing: str | None = None, absolute_expires_at: float | None = None) -> StartedSession:
        """Create a fresh session (a new id every time: no fixation); with ``commit``, only
        if that login's throttle gate is still open when the session is written. If the user
        then holds more than ``max_per_user``, their least recently used sessions end (an
        ``auth.session.revoked`` each, reason ``session_limit``) in the same atomic step.

        ``credentials_at``: when the account row the credentials were checked against was read
        (UserRecord.read_at). The session is not written if a revocation epoch (a password
        change, a forced logout) came at or after it, and is issued (``created_at``) as of
        then, so an epoch taken after that read but set after the write still covers it
        (the epoch check and the fan-out's ``created_at <= cutoff``). Its clocks (last seen,
        the idle and absolute deadlines) start now: the second MFA step may come minutes
        after the password step, and the session it opens must not be born timed out.
        ``roles_read_at``: when ``roles`` were read; the session is not written if they
        changed since. ``replacing``: the sid hash of a session the caller ends right after (a
        login's previous one), which the cap neither counts nor ends. ``absolute_expires_at``:
        an earlier absolute deadline, for a session that carries on one opened before.

        :raises RevokedMeanwhileError: an epoch at or after ``credentials_at`` (nothing was written).
        :raises RolesChangedError: read ``roles`` again and retry (nothing was written).
        :raises TooManyAttemptsError: ``commit``'s gate shut meanwhile (nothing was written).
        """
        now = max(now_s(), not_before + 0.001)
        issued = min(now, credentials_at) if credentials_at else now
        session_id = new_session_id()
        record = SessionRecord(
            sid_hash=hash_session_id(session_id), user_id=user_id, email=email, roles=roles,
            created_at=issued, last_seen_at=now,
            absolute_expires_at=min(now + self.absolute_timeout_s, absolute_expires_at or math.inf),
            idle_timeout_s=self.idle_timeout_s, auth_time=auth_time or issued,
            ip=client.ip[:64], user_agent=client.user_agent[:256])
        created = Event("auth.session.created", user_id,
                        {"handle": record.handle, **client.context()}, time=now)
        cap = SessionCap(self.max_per_user, self._revoked(user_id, record.sid_hash, client, "session_limit"),
                         replacing=replacing or "")
        outcome = await self.store.create(record, [*events, created], commit, roles_read_at=roles_read_at, cap=cap)
        if outcome.guard == GUARD_REVOKED:
            raise RevokedMeanwhileError()
        if outcome.guard == GUARD_ROLES_CHANGED:
            raise RolesChangedError()
        if outcome.wait_ms > 0:
            raise commit.refusal(outcome.wait_ms)
        if outcome.over > 0:
            await self._trim(record, cap)
        return StartedSession(session_id, record, commit.device_token(outcome.device_kept) if commit else None)

    async def _trim(self, record: SessionRecord, cap: SessionCap) -> None:
        """The rest of what the cap ends beyond one script's worth (the cap was lowered, or the
        sessions predate it), a script at a time so Redis serves others in between."""
        over = 1
        while over > 0:
            over, ended = await self.store.trim(record.user_id, cap, now=now_s(), keep=record.sid_hash)
            if not ended:
                return  # what is left there is not the user's any more (the sweep and fan-out's)

    async def resolve(self, session_id: str) -> SessionRecord:
        """The live session behind a cookie value.

        :raises UnauthenticatedError: unknown, malformed or revoked id.
        :raises SessionExpiredError: idle or absolute timeout passed (state is destroyed).
        """
        now = now_s()
        cache = self.cache
        if cache is not None:
            # Keyed by the id itself, so a hit costs no hashing; only well-formed ids are ever stored.
            cached = cache.get(session_id, now)
            if cached is not None and cached.is_live(now):
                return cached
            generation = cache.generation
        if not looks_like_session_id(session_id):
            raise UnauthenticatedError()
        lookup = await self.store.read(hash_session_id(session_id), now)
        if lookup is None:
            raise UnauthenticatedError()
        if lookup.status == "ok":
            if cache is not None:
                cache.put(session_id, lookup.record, now, generation)
            return lookup.record
        record = lookup.record
        event_type = "auth.session.expired" if lookup.status == "expired" else "auth.session.revoked"
        await self._revoke(record.user_id, {
            record.sid_hash: Event(event_type, record.user_id, {"handle": record.handle})})
        if lookup.status == "expired":
            raise SessionExpiredError("The session has expired; log in again.")
        raise UnauthenticatedError()

    async def logout(self, record: SessionRecord, client: ClientInfo) -> None:
        await self._revoke(record.user_id, {
            record.sid_hash: Event("auth.logout", record.user_id,
                                   {"handle": record.handle, **client.context()})})

    async def end(self, record: SessionRecord, client: ClientInfo, *, reason: str) -> None:
        await self._revoke(record.user_id, {
            record.sid_hash: self._revoked(record.user_id, record.sid_hash, client, reason)})

    async def end_by_handle(self, user_id: str, handle: str, client: ClientInfo) -> None:
        """:raises NotFoundError: the user has no live session with that handle."""
        sid_hash = await self.store.find_by_handle(user_id, handle)
        ended = 0
        if sid_hash is not None:
            # One a forced logout ended already is gone (not listed either), not ended twice.
            ended = await self._revoke(user_id, {sid_hash: self._revoked(user_id, sid_hash, client, "user")},
                                            held_only=True)
        if not ended:
            raise NotFoundError("No such session.")

    async def end_all(self, user_id: str, client: ClientInfo, *, reason: str,
                      keep: str | None = None) -> int:
        """End every session of the user except ``keep`` (a sid hash); all have ended when
        this returns. A batch at a time (the index read a page at a time, REVOKE_BATCH sessions
        to a script, events built per batch), so a user with many sessions holds neither Redis
        nor this process's loop for long."""
        ended, seen = 0, set()
        async for page in self.store.pages_for_user(user_id):
            targets = [sh for sh in page if sh != keep and sh not in seen]
            seen.update(targets)
            for start in range(0, len(targets), REVOKE_BATCH):
                ended += await self._revoke(user_id, {
                    sh: self._revoked(user_id, sh, client, reason) for sh in targets[start:start + REVOKE_BATCH]})
        return ended

    def held(self, record: SessionRecord) -> HeldCredential:
        """The session ``record`` as a credential to check again at a change's commit."""
        return HeldCredential(issued_at=record.created_at, live_key=self.store.keys.session(record.sid_hash))

    async def revoke_everything_before(self, user_id: str, epoch: float, events: list[Event] = (), *,
                                       held: HeldCredential | None = None) -> None:
        """Make every session and token of the user issued until ``epoch`` invalid at once.
        With ``held``: only if that credential is still held, in the same atomic step.

        :raises CredentialGoneError: ``held`` was revoked or ended (nothing was set).
        """
        if not await self.store.set_epoch(user_id, epoch, self.epoch_ttl_s, list(events), held=held):
            raise CredentialGoneError()
        self._forget(f"u:{user_id}")

    async def _revoke(self, user_id: str, ended: dict[str, Event], **options) -> int:
        """``store.revoke``, then this process's cache forgets the ended sessions at once: the
        others drop them when the invalidation arrives, but this one must not serve the cookie
        it just logged out to the very next request while its own message is on its way back."""
        count = await self.store.revoke(user_id, ended, **options)
        for sid_hash in ended:
            self._forget(f"s:{sid_hash}")
        return count

    def _forget(self, message: str) -> None:
        if self.cache is not None:
            self.cache.on_message(message)

    async def list(self, user_id: str) -> list[SessionRecord]:
        """The sessions the user holds, the newest first."""
        records = await self.store.live_for_user(user_id, limit=self.max_per_user)
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    @staticmethod
    def _revoked(user_id: str, sid_hash: str, client: ClientInfo, reason: str) -> Event:
        return Event("auth.session.revoked", user_id,
                     {"handle": sid_hash[:16], "reason": reason, **client.context()})
