"""The signing keys every web process agrees on, read from Postgres.

The newest key of the configured algorithm that no newer key has superseded signs;
every key still within its publication window verifies and is published in the
JWKS. A superseded key stays published for ``retain_s`` (the access-token lifetime,
the leeway and the reload interval: the longest a token it signed can live), then
its row, private half included, is deleted by the next rotation.

Processes reload the set when a rotation is announced on the invalidation channel
(message ``keys``), every ``reload_s`` anyway, and when a token names a kid they
have not seen (at most once a second, so hostile kids cannot drive reloads). One load
runs at a time: requests that want one while it is in flight wait for it, unless it
started too early to serve them.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.clock import now_s
from app.db import outbox
from app.db.outbox import OutboxRelay
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.tokens.keys import (KID_PATTERN, KeyPassphraseError, SigningKey, decrypt_private_key, encrypt_private_key,
                             generate_private_key, public_jwk, public_key_from_jwk, thumbprint_kid)
from app.tokens.errors import SigningKeyUnavailableError
from app.tokens.models import SigningKeyRow

log = logging.getLogger("app.tokens")
KEYS_MESSAGE = "keys"
_KEYS_LOCK = 0x6B657973  # "keys": serialises key creation across processes
UNKNOWN_KID_RELOAD_S = 1.0


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(eq=False)
class _Load:
    """One read of the key set, shared by every caller it is recent enough for."""
    seq: int  # loads started before it, plus one
    messages: int  # ``keys`` messages (and resets) heard before it started: it reflects them all
    started_at: float
    task: asyncio.Task = field(init=False)


class KeyRing:
    def __init__(self, *, sessionmaker: async_sessionmaker, passphrase: bytes, algorithm: str,
                 retain_s: float, reload_s: float, publisher: EventPublisher | None = None) -> None:
        self.sessionmaker = sessionmaker
        # Each new key commits an ``auth.key.rotated`` event with it (through the outbox).
        self.publisher = publisher
        self.relay = OutboxRelay(sessionmaker=sessionmaker, publisher=publisher) if publisher else None
        self.passphrase = passphrase
        self.algorithm = algorithm
        self.retain_s = retain_s
        self.reload_s = reload_s
        self.signing: SigningKey | None = None
        self.by_kid: dict[str, SigningKey] = {}
        self.jwks_body: bytes = b'{"keys":[]}'
        # started_at of the last load that finished (or failed keeping the keys it had).
        self._loaded_at = 0.0
        # Staleness as counts, not a flag: a message heard while a load is in flight may
        # announce a key that load already missed, and must not be cleared by it.
        self._messages = 1  # nothing is loaded yet: as if a message had come
        self._covered = 0  # ``messages`` of the last load that succeeded
        self._started = 0  # loads started
        self._started_at = 0.0  # when the last one started: unknown kids wait a second from this
        self._loading: _Load | None = None
        # The newest key whose private half the passphrase does not open (lost or changed
        # passphrase): its public half still verifies; a new key takes over signing.
        self._undecryptable: str | None = None
        # The key this process made to replace one it could not open, while it signs with no
        # key another process made: replacing a second time would mean two passphrases in use,
        # each side replacing the other's key on every reload, forever.
        self._replaced: str | None = None

    # -- reading --------------------------------------------------------------

    async def current(self) -> SigningKey:
        """The key to sign with now (creating the first one if there is none, or replacing
        one this process cannot decrypt, once).

        :raises SigningKeyUnavailableError: the current key was made, after this process
            replaced one, by a process whose passphrase differs."""
        await self.refresh_if_due()
        if self.signing is None:
            if self.locked_out:
                log.error("signing key %s cannot be decrypted with this passphrase, and this process already "
                          "replaced key(s) it could not open with %s: another process uses a different "
                          "passphrase; not replacing again (the two would replace each other's keys forever). "
                          "Set the same tokens.keys_passphrase on every process.", self._undecryptable,
                          self._replaced)
                raise SigningKeyUnavailableError()
            await self.ensure_signing_key(replace=self._undecryptable)
            await self.reload()
        assert self.signing is not None
        return self.signing

    @property
    def locked_out(self) -> bool:
        """This process cannot sign: the current key is not its passphrase's, and it has
        replaced one such key already (readiness reports it, so a balancer drains it)."""
        return self.signing is None and self._undecryptable is not None and self._replaced is not None

    async def verifying_key(self, kid: str) -> SigningKey | None:
        """The published key named ``kid``, or None (unknown, retired or malformed)."""
        if not KID_PATTERN.fullmatch(kid):
            return None
        await self.refresh_if_due()
        if kid not in self.by_kid:
            # Maybe another process rotated a moment ago and its message is in flight. Any load
            # in flight may bring the key; starting one is what forged kids must not do freely.
            await self._load(accept=lambda load: True,
                             may_start=lambda: (kid not in self.by_kid
                                                and now_s() - self._started_at >= UNKNOWN_KID_RELOAD_S))
        return self.by_kid.get(kid)

    def on_message(self, message: str) -> None:
        if message == KEYS_MESSAGE:
            self._messages += 1

    def reset(self) -> None:
        # Rotation messages may have been missed while the link was down.
        self._messages += 1

    async def refresh_if_due(self) -> None:
        heard = self._messages

        def due() -> bool:
            return self._covered < heard or now_s() - self._loaded_at >= self.reload_s

        if due():
            await self._load(accept=lambda load: load.messages >= heard, may_start=due)

    async def reload(self) -> None:
        """Read the key set afresh: the result reflects every write committed before the call
        (a load already in flight may have read before it, so this waits for a newer one)."""
        before = self._started
        await self._load(accept=lambda load: load.seq > before, may_start=lambda: True)

    async def _load(self, *, accept: Callable[[_Load], bool], may_start: Callable[[], bool]) -> None:
        """Wait for a load that ``accept``s, starting one if none is in flight and ``may_start()``
        (asked again after each wait: another caller's load may have done the work).
        The accepted load's failure is each waiter's; the load survives a waiter's cancellation,
        so a client that hangs up cannot make the next caller start another."""
        while True:
            load = self._loading
            if load is None:
                if not may_start():
                    return
                load = self._start()
            elif not accept(load):
                await asyncio.wait([load.task])
                continue
            await asyncio.shield(load.task)
            return

    def _start(self) -> _Load:
        self._started += 1
        load = _Load(seq=self._started, messages=self._messages, started_at=now_s())
        self._started_at = load.started_at
        self._loading = load
        load.task = asyncio.create_task(self._read(load), name="keyring-load")
        load.task.add_done_callback(lambda task: self._finished(load))
        return load

    def _finished(self, load: _Load) -> None:
        if self._loading is load:
            self._loading = None
        if not load.task.cancelled():
            load.task.exception()  # its waiters got it; none left must not mean a warning at exit

    async def _read(self, load: _Load) -> None:
        try:
            now = load.started_at
            try:
                async with self.sessionmaker() as session:
                    rows = list(await session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at)))
            except Exception:
                if self.by_kid:
                    # Keep verifying with what we have; a store outage must not invalidate every token.
                    log.warning("signing key reload failed; keeping the loaded keys", exc_info=True)
                    self._loaded_at = now
                    return
                raise
            self._install(rows, now)
            self._loaded_at = now
            self._covered = max(self._covered, load.messages)
        finally:
            # Here as well as in the done callback: a waiter that wakes before that callback
            # has run must not find this finished load still "in flight".
            if self._loading is load:
                self._loading = None

    def _install(self, rows: list[SigningKeyRow], now: float) -> None:
        by_kid: dict[str, SigningKey] = {}
        signing = None
        self._undecryptable = None
        for row in rows:
            superseded = _ts(row.superseded_at)
            if superseded is not None and now >= superseded + self.retain_s:
                continue
            current = superseded is None and row.alg == self.algorithm
            try:
                key = self._key(row, with_private=current)
            except KeyPassphraseError:
                log.error("signing key %s cannot be decrypted with this passphrase; it only verifies "
                          "now and a new key will sign", row.kid)
                key = self._key(row, with_private=False)
                self._undecryptable = row.kid
                current = False
            by_kid[key.kid] = key
            if current:
                signing = key  # rows are oldest first: the newest wins
        self.by_kid = by_kid
        self.signing = signing
        if signing is not None and signing.kid != self._replaced:
            self._replaced = None  # another process with this passphrase made it: all agree again
        self.jwks_body = json.dumps({"keys": [self._published(k) for k in by_kid.values()]}).encode()

    def _key(self, row: SigningKeyRow, *, with_private: bool) -> SigningKey:
        private = decrypt_private_key(row.private_pem, self.passphrase) if with_private else None
        public = private.public_key() if private is not None else public_key_from_jwk(row.public_jwk, row.alg)
        return SigningKey(kid=row.kid, alg=row.alg, private_key=private, public_key=public,
                          public_jwk=dict(row.public_jwk), created_at=row.created_at.timestamp(),
                          superseded_at=_ts(row.superseded_at))

    @staticmethod
    def _published(key: SigningKey) -> dict:
        return {**key.public_jwk, "kid": key.kid, "alg": key.alg, "use": "sig"}

    # -- writing --------------------------------------------------------------

    async def ensure_signing_key(self, replace: str | None = None) -> str:
        """The kid of the current signing key, creating one if none exists (race-free), or
        if the current one is ``replace`` (a key this process cannot decrypt)."""
        async with self.sessionmaker() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
            current = await session.scalar(
                select(SigningKeyRow.kid).where(SigningKeyRow.alg == self.algorithm,
                                                SigningKeyRow.superseded_at.is_(None))
                .order_by(SigningKeyRow.created_at.desc()).limit(1))
            if current is not None and current != replace:
                return current
            kid, event = await self._add(session, reason="first_key" if current is None else "undecryptable")
        if current is not None:
            self._replaced = kid
        await self._relay(event)
        return kid

    async def rotate(self, context: dict | None = None) -> str:
        """Add a new signing key; older keys stay published until their tokens expired.
        Rows retired past that are deleted (their private halves with them). ``context``:
        who asked, for the event."""
        async with self.sessionmaker() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
            kid, event = await self._add(session, reason="rotated", context=context)
        await self._relay(event)
        return kid

    async def _relay(self, event: Event | None) -> None:
        if event is not None and self.relay is not None:
            await self.relay.relay([event.id])

    async def _add(self, session, *, reason: str, context: dict | None = None) -> tuple[str, Event | None]:
        now = datetime.now(UTC)
        superseded = (await session.scalars(
            update(SigningKeyRow).where(SigningKeyRow.superseded_at.is_(None))
            .values(superseded_at=now).returning(SigningKeyRow.kid))).all()
        cutoff = datetime.fromtimestamp(now.timestamp() - self.retain_s, UTC)
        await session.execute(delete(SigningKeyRow).where(SigningKeyRow.superseded_at < cutoff))
        private = generate_private_key(self.algorithm)
        jwk = public_jwk(private.public_key(), self.algorithm)
        kid = thumbprint_kid(jwk)
        session.add(SigningKeyRow(kid=kid, alg=self.algorithm, public_jwk=jwk,
                                  private_pem=encrypt_private_key(private, self.passphrase), created_at=now))
        await session.flush()
        log.info("new signing key %s (%s)", kid, self.algorithm)
        event = None
        if self.publisher is not None:
            event = Event("auth.key.rotated", None, {"kid": kid, "alg": self.algorithm, "reason": reason,
                                                     "superseded": sorted(superseded), **(context or {})})
            outbox.stage(session, self.publisher, event)
        return kid, event
