"""MFA use cases: enrol, confirm, the second login step, disable, new recovery codes.

Codes are throttled on their own per-user counter (``mfa:<user id>``), shared by
login, confirm and disable, so an attacker who has the password gets no more
than the throttle allows at guessing the 10^6 codes. A browser trusted for the
account is counted on its own device counter instead, so holding that counter
shut does not lock the owner out. Enrolment revokes every other trusted device:
those a password alone earned (a thief's among them) must not count once a code
is needed too. (Its caller, AccountManager.enable_mfa, ends the sessions and
tokens the same way.)
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.clock import now_s
from app.db import outbox
from app.db.outbox import OutboxRelay
from app.db.users import UserRecord, UserRepository
from app.errors import TooManyAttemptsError
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.mfa import recovery, totp
from app.mfa.challenges import MfaChallengeStore
from app.mfa.errors import (InvalidMfaCodeError, MfaAlreadyEnabledError, MfaNotConfiguredError,
                            MfaNotEnabledError, MfaSecretUnreadableError, MfaSetupNotStartedError,
                            MfaTokenInvalidError)
from app.mfa.qr import qr_svg
from app.mfa.repository import MfaRepository
from app.mfa.secretbox import SecretBox, UnsealError
from app.sessions.manager import ClientInfo
from app.throttle import Attempt, Throttle, account_key

class ConfirmPassword(Protocol):
    async def __call__(self, user: UserRecord, password: str, client: ClientInfo, *,
                       device: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str  # base32, for typing into an app that cannot scan
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class MfaPending:
    mfa_token: str
    expires_in: int


class MfaManager:
    def __init__(self, *, sessionmaker: async_sessionmaker, repo: MfaRepository, users: UserRepository,
                 box: SecretBox, challenges: MfaChallengeStore, publisher: EventPublisher,
                 relay: OutboxRelay, issuer: str, confirm_password: ConfirmPassword,
                 throttle: Throttle | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.repo = repo
        self.users = users
        self.box = box
        self.challenges = challenges
        self.publisher = publisher
        self.relay = relay
        self.issuer = issuer
        self.confirm_password = confirm_password
        self.throttle = throttle

    # -- enrolment ---------------------------------------------------------

    async def status(self, user_id: str) -> dict:
        async with self.sessionmaker() as session:
            row = await self.repo.totp_of(session, user_id)
            left = await self.repo.recovery_codes_left(session, user_id) if row and row.confirmed else 0
        return {"enabled": bool(row and row.confirmed), "pending": bool(row and not row.confirmed),
                "recovery_codes_left": left}

    async def begin_setup(self, user: UserRecord, client: ClientInfo) -> TotpSetup:
        """A new pending secret (replacing an unconfirmed one).

        :raises MfaNotConfiguredError: no data key to encrypt it with.
        :raises MfaAlreadyEnabledError: disable the current authenticator first.
        """
        if not self.box.configured:
            raise MfaNotConfiguredError()
        secret = totp.new_secret()
        sealed = self.box.seal(secret.encode(), owner=user.id)
        async with self.sessionmaker() as session, session.begin():
            if not await self.repo.start_setup(session, user.id, sealed):
                raise MfaAlreadyEnabledError("Disable the current authenticator before enrolling another.")
            event = Event("auth.mfa.setup_started", user.id, {"method": "totp", **client.context()})
            outbox.stage(session, self.publisher, event)
        await self.relay.relay([event.id])
        uri = totp.provisioning_uri(secret, account=user.email, issuer=self.issuer)
        return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))

    async def confirm_setup(self, user: UserRecord, code: str, client: ClientInfo, *,
                            device: str | None = None,
                            before_commit: Callable[[], Awaitable[None]] | None = None) -> list[str]:
        """Enable TOTP with a first code; returns the recovery codes (shown once). Every device
        trusted for the account but the caller's ``device`` stops being trusted. ``before_commit``
        runs inside the transaction that enables it, once the code and the gate passed and before
        the devices are revoked: raising there refuses the enrolment.

        :raises MfaSetupNotStartedError: no pending setup, or a newer setup replaced it meanwhile.
        :raises MfaAlreadyEnabledError: already enabled.
        :raises InvalidMfaCodeError: wrong code.
        :raises TooManyAttemptsError: throttled; nothing was enabled.
        """
        async with self.sessionmaker() as session:
            row = await self.repo.totp_of(session, user.id)
        if row is None:
            raise MfaSetupNotStartedError()
        if row.confirmed:
            raise MfaAlreadyEnabledError()
        attempt = await self._check(user, client, device)
        step = totp.matching_step(self._secret(user.id, row.secret_sealed), code, now_s())
        if step is None:
            await self._failed(attempt, user.id, client, "confirm")
        codes = recovery.new_codes()
        async with self.sessionmaker() as session, session.begin():
            # Only the secret the code was checked against: a setup started since then replaced it.
            if not await self.repo.confirm(session, user.id, step, row.secret_sealed):
                current = await self.repo.totp_of(session, user.id)
                if current is not None and current.confirmed:
                    raise MfaAlreadyEnabledError()
                raise MfaSetupNotStartedError("The setup was restarted after this code was checked; "
                                              "confirm with a code for the new secret.")
            await self.repo.replace_recovery_codes(session, user.id, [recovery.hash_code(c) for c in codes])
            event = Event("auth.mfa.enabled", user.id, {"method": "totp", **client.context()})
            outbox.stage(session, self.publisher, event)
            # Before the commit: if the gate shut meanwhile the reply is 429 and the rollback
            # leaves MFA off, rather than on with recovery codes the user never saw.
            await self._succeeded(attempt)
            if before_commit is not None:
                await before_commit()
            # Before the commit as well as after it: if Redis fails after the commit (503), the
            # devices a password alone earned must not outlive the enrolment.
            await self._revoke_devices(user, keep=device)
        # After it too: a password-only login that read the account before the commit may have
        # trusted its device since (and one that reads it after is asked for a code).
        await self._revoke_devices(user, keep=device)
        await self.relay.relay([event.id])
        return codes

    async def disable(self, user: UserRecord, password: str, code: str, client: ClientInfo, *,
                      device: str | None = None) -> None:
        """Remove TOTP and the recovery codes; needs the password and a code (TOTP or recovery).

        :raises InvalidCredentialsError: wrong password.
        :raises InvalidMfaCodeError: wrong code.
        :raises MfaNotEnabledError: nothing to disable.
        """
        await self.confirm_password(user, password, client, device=device)
        if not await self.enabled(user.id):
            raise MfaNotEnabledError()
        await self.verify_code(user, code, client, purpose="disable", device=device)
        async with self.sessionmaker() as session, session.begin():
            await self.repo.remove(session, user.id)
            event = Event("auth.mfa.disabled", user.id, {"method": "totp", **client.context()})
            outbox.stage(session, self.publisher, event)
        await self.relay.relay([event.id])

    async def regenerate_recovery_codes(self, user: UserRecord, code: str, client: ClientInfo, *,
                                        device: str | None = None) -> list[str]:
        """A fresh set of recovery codes (the old ones stop working); needs a current code."""
        if not await self.enabled(user.id):
            raise MfaNotEnabledError()
        await self.verify_code(user, code, client, purpose="recovery_codes", device=device)
        codes = recovery.new_codes()
        async with self.sessionmaker() as session, session.begin():
            await self.repo.replace_recovery_codes(session, user.id, [recovery.hash_code(c) for c in codes])
            event = Event("auth.mfa.recovery_codes_regenerated", user.id, client.context())
            outbox.stage(session, self.publisher, event)
        await self.relay.relay([event.id])
        return codes

    # -- login -------------------------------------------------------------

    async def enabled(self, user_id: str) -> bool:
        async with self.sessionmaker() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})  # one read, no BEGIN
            return await self.repo.enabled(session, user_id)

    async def challenge(self, user: UserRecord, client: ClientInfo) -> MfaPending:
        """The password was right and MFA is on: an MFA-pending token instead of a session."""
        token = await self.challenges.issue(
            user.id, Event("auth.mfa.challenge_issued", user.id, {"method": "totp", **client.context()}),
            credentials_at=user.read_at)
        return MfaPending(mfa_token=token, expires_in=self.challenges.ttl_s)

    async def complete_challenge(self, mfa_token: str, code: str, client: ClientInfo, *,
                                 device: str | None = None) -> tuple[UserRecord, str]:
        """The user behind a pending token whose second factor is ``code``; the token is spent.
        Returns (user, method) with method "totp" or "recovery_code". ``device``: the caller's
        trusted-device token, if it presented one (see ``_check``).

        :raises MfaTokenInvalidError: unknown, expired, used or exhausted token.
        :raises InvalidMfaCodeError: wrong or replayed code.
        :raises TooManyAttemptsError: throttled.
        """
        pending = await self.challenges.owner(mfa_token)
        if pending is None:
            raise MfaTokenInvalidError()
        user_id, credentials_at = pending
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
        if user is not None:
            # The session rests on the password checked at the first step: dated from then, a
            # password change or forced logout since then ends it (UserRecord.read_at).
            user = replace(user, read_at=min(user.read_at, credentials_at or user.read_at))
        if user is None or user.disabled:
            await self.challenges.consume(mfa_token)
            raise MfaTokenInvalidError()

        async def spend_token() -> None:
            if not await self.challenges.consume(mfa_token):
                # Another request with this token (a second tab, a retry) won, or it expired
                # meanwhile: refused, and the code stays unused (the transaction rolls back).
                raise MfaTokenInvalidError()

        try:
            method = await self.verify_code(user, code, client, purpose="login", device=device,
                                            claim=spend_token)
        except InvalidMfaCodeError:
            await self.challenges.failed(mfa_token)
            raise
        return user, method

    async def verify_code(self, user: UserRecord, code: str, client: ClientInfo, *, purpose: str,
                          device: str | None = None, claim: Callable[[], Awaitable[None]] | None = None) -> str:
        """Accept ``code`` once: a TOTP code for a step not used before, or an unused
        recovery code. Returns "totp" or "recovery_code". A refusal leaves the code unused.
        ``claim``: what the code is spent for, run inside the transaction that spends it; if it
        raises, the code stays unused and its error propagates.

        :raises InvalidMfaCodeError: wrong, replayed or used code.
        :raises TooManyAttemptsError: throttled.
        """
        attempt = await self._check(user, client, device)
        code = code.strip().replace(" ", "")
        # The success is recorded (and the gate checked again) inside the transaction that spends
        # the code: a gate that shut meanwhile rolls the use back. The conditional UPDATE holds the
        # row until then, so a concurrent use of the same code still waits and then loses.
        if totp.looks_like_totp(code):
            async with self.sessionmaker() as session:
                row = await self.repo.totp_of(session, user.id)
            step = (totp.matching_step(self._secret(user.id, row.secret_sealed), code, now_s())
                    if row and row.confirmed else None)
            if step is not None:
                async with self.sessionmaker() as session, session.begin():
                    fresh = await self.repo.use_step(session, user.id, step)
                    if fresh:
                        await self._succeeded(attempt)  # the gate first: shut, it keeps the claim unspent
                        if claim is not None:
                            await claim()
                if fresh:
                    return "totp"
            await self._failed(attempt, user.id, client, purpose, replay=step is not None)
        if recovery.looks_like_recovery_code(code):
            async with self.sessionmaker() as session, session.begin():
                used = await self.repo.use_recovery_code(session, user.id, recovery.hash_code(code))
                if used:
                    left = await self.repo.recovery_codes_left(session, user.id)
                    event = Event("auth.mfa.recovery_used", user.id,
                                  {"purpose": purpose, "recovery_codes_left": left, **client.context()})
                    outbox.stage(session, self.publisher, event)
                    await self._succeeded(attempt)
                    if claim is not None:
                        await claim()
            if used:
                await self.relay.relay([event.id])
                return "recovery_code"
        await self._failed(attempt, user.id, client, purpose)
        raise AssertionError("unreachable")  # _failed always raises

    # -- helpers -----------------------------------------------------------

    def _secret(self, user_id: str, sealed: str) -> str:
        try:
            return self.box.open(sealed, owner=user_id).decode()
        except UnsealError as e:
            raise MfaSecretUnreadableError() from e

    async def _check(self, user: UserRecord, client: ClientInfo, device: str | None) -> Attempt:
        """The attempt a code is counted as, once the gate lets it through: the per-user code
        counter, or, from a browser trusted for this account, that device's own counter.

        :raises TooManyAttemptsError: throttled; nothing was recorded.
        """
        attempt = Attempt(account=account_key("mfa", user.id), ip=client.ip)
        if self.throttle is None:
            return attempt
        if device is not None:
            # Devices are bound to the password step's account key, and the gate checks the binding
            # (at every call) against the attempt's own account, so the device is tried as the
            # password step's attempt. Trusted, it counts on the device's counter and the per-IP one,
            # never on the code counter a password thief may be holding shut.
            trusted = Attempt(account=account_key("user", user.email), ip=client.ip, device=device)
            try:
                if await self.throttle.check(trusted):
                    return trusted
            except TooManyAttemptsError:
                pass  # counted as without the cookie, which any caller may leave out anyway
        await self.throttle.check(attempt)
        return attempt

    async def _revoke_devices(self, user: UserRecord, keep: str | None) -> None:
        if self.throttle is not None:
            await self.throttle.revoke_devices(account_key("user", user.email), keep)

    async def _succeeded(self, attempt: Attempt) -> None:
        if self.throttle is not None:
            await self.throttle.succeeded(attempt)

    async def _failed(self, attempt: Attempt, user_id: str, client: ClientInfo, purpose: str,
                      replay: bool = False) -> None:
        await self.publisher.publish(Event(
            "auth.mfa.challenge_failed", user_id,
            {"purpose": purpose, "reason": "replayed" if replay else "wrong_code", **client.context()}))
        if self.throttle is not None:
            await self.throttle.failed(attempt)
        raise InvalidMfaCodeError()


