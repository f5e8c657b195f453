"""Account use cases: register, check credentials, change password."""
from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.authz.names import ROLE_NAME_RULE, ROLES_CLAIM_BUDGET, is_role_name, roles_claim_bytes
from app.clock import now_s
from app.db import outbox
from app.db.outbox import OutboxRelay
from app.db.users import UserRecord, UserRepository, fold_email
from app.errors import (InvalidCredentialsError, NotFoundError, OverloadedError, ServiceUnavailableError,
                        UnauthenticatedError, ValidationError)
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.passwords.hasher import Argon2Hasher
from app.passwords.policy import PasswordPolicy, normalize
from app.sessions.manager import (ClientInfo, RevokedMeanwhileError, RolesChangedError, SessionManager,
                                  StartedSession)
from app.sessions.record import HeldCredential, SessionRecord
from app.throttle import Attempt, SuccessCommit, Throttle, account_key

if TYPE_CHECKING:
    from app.mfa.manager import MfaManager, MfaPending

security_log = logging.getLogger("app.security")


@dataclass(frozen=True, slots=True)
class Registered:
    id: str
    email: str


def valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(at and local and "." in domain and len(email) <= 320 and not any(c.isspace() for c in email))


def _check_role_name(role: str) -> None:
    if not is_role_name(role):
        raise ValidationError(f"A role name is {ROLE_NAME_RULE}.", field="role")


class AccountManager:
    def __init__(self, *, sessionmaker: async_sessionmaker, users: UserRepository, hasher: Argon2Hasher,
                 policy: PasswordPolicy, publisher: EventPublisher, relay: OutboxRelay,
                 sessions: SessionManager, throttle: Throttle | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.users = users
        self.hasher = hasher
        self.policy = policy
        self.publisher = publisher
        self.relay = relay
        self.sessions = sessions
        self.throttle = throttle
        # Set by build_services once the MFA manager (which needs confirm_password) exists.
        self.mfa: MfaManager | None = None

    async def register(self, email: str, password: str, client: ClientInfo,
                       roles: tuple[str, ...] = ()) -> Registered:
        """Create an account. A taken email gets the same-shaped reply and changes nothing,
        so registration cannot be used to learn who has an account: it does the same work too
        (a row attempt, one event through the outbox), so the reply's timing does not tell either.

        :raises WeakPasswordError: the policy refuses the password.
        """
        email = fold_email(email)
        if not valid_email(email):
            raise ValidationError("Enter a valid email address.", field="email")
        for role in roles:
            _check_role_name(role)
        password = normalize(password)
        self.policy.check(password, email=email)
        password_hash = await self.hasher.hash(password)
        async with self.sessionmaker() as session, session.begin():
            user_id = await self.users.insert(session, email, password_hash)
            if user_id is None:
                security_log.info("registration for an existing account refused silently")
                event = Event("auth.user.registration_refused", None,
                              {"reason": "email_taken", **client.context()})
                registered = Registered(id=str(uuid.uuid4()), email=email)
            else:
                for role in roles:
                    await self.users.grant_role(session, user_id, role)
                event = Event("auth.user.registered", user_id, {"roles": list(roles), **client.context()})
                registered = Registered(id=user_id, email=email)
            outbox.stage(session, self.publisher, event)
        await self.relay.relay([event.id])
        return registered

    async def check_credentials(self, email: str, password: str, client: ClientInfo, *,
                                device: str | None = None) -> UserRecord:
        """The account these credentials open.

        :raises InvalidCredentialsError: the same error, after the same work, whether
            the email is unknown, the password wrong or the account disabled.
        :raises TooManyAttemptsError: throttled (before any check, so a right and a
            wrong password get the same reply).
        """
        user, attempt = await self._verify(email, password, client, device)
        if self.throttle is not None:
            await self.throttle.succeeded(attempt)
        return user

    async def _verify(self, email: str, password: str, client: ClientInfo,
                      device: str | None) -> tuple[UserRecord, Attempt]:
        """check_credentials up to, not including, recording the success: the caller records
        it (``throttle.succeeded``, or a SuccessCommit written with the session)."""
        attempt = Attempt(account=account_key("user", email), ip=client.ip, device=device)
        if self.throttle is not None:
            await self.throttle.check(attempt)
        password = normalize(password)
        user = None
        if len(password) <= self.policy.max_length:
            user = await self.users.for_login(self.sessionmaker.kw["bind"], email)
        verdict = await self.hasher.verify(user.password_hash if user else None, password)
        if not verdict.ok or user is None or user.disabled:
            await self.publisher.publish(Event(
                "auth.login.failed", user.id if user else None,
                {"reason": "invalid_credentials", **client.context()}))
            if self.throttle is not None:
                await self.throttle.failed(attempt)
            raise InvalidCredentialsError()
        if verdict.needs_rehash:
            await self._upgrade_hash(user, password)
        return user, attempt

    async def _upgrade_hash(self, user: UserRecord, password: str) -> None:
        """Parameters were raised since this hash was made: upgrade it now that we know the password.
        Best effort: with the hashing queue full it waits for a later login, not this one."""
        try:
            new_hash = await self.hasher.hash(password)
        except OverloadedError:
            return
        async with self.sessionmaker() as session, session.begin():
            # Only over the hash just checked: a password change that committed meanwhile stands.
            await self.users.rehash_password(session, user.id, new_hash, replacing=user.password_hash)

    async def login(self, email: str, password: str, client: ClientInfo,
                    previous: SessionRecord | None = None,
                    device: str | None = None) -> tuple[UserRecord, StartedSession | MfaPending]:
        """Check credentials and start a session under a new id; with MFA enrolled, no
        session yet but an MFA-pending token for ``login_second_factor``.

        :raises InvalidCredentialsError: see ``check_credentials``.
        """
        user, attempt = await self._verify(email, password, client, device)
        if self.mfa is not None and user.mfa_enabled:
            if self.throttle is not None:
                await self.throttle.succeeded(attempt)
            return user, await self.mfa.challenge(user, client)
        # The success, the session and the trusted device in one atomic step (one round trip):
        # the session exists only if no parallel guess shut the gate while the password hashed.
        # The device is trusted only if no revocation came after the read of the credentials (an
        # MFA enrolment that committed while this password-only login hashed).
        commit = None if self.throttle is None else self.throttle.success_commit(
            attempt, trust_account=account_key("user", user.email), presented_device=device,
            since=user.read_at or None)
        return user, await self._start(user, client, previous, method="password", commit=commit)

    async def login_second_factor(self, mfa_token: str, code: str, client: ClientInfo,
                                  previous: SessionRecord | None = None,
                                  device: str | None = None) -> tuple[UserRecord, StartedSession]:
        """The second step: a session only once the code is right (the id is new here). A
        ``device`` trusted for the account is counted on its own counter, as in ``login``.

        :raises MfaTokenInvalidError, InvalidMfaCodeError, TooManyAttemptsError:
        """
        if self.mfa is None:
            from app.mfa.errors import MfaTokenInvalidError

            raise MfaTokenInvalidError()
        user, method = await self.mfa.complete_challenge(mfa_token, code, client, device=device)
        return user, await self._start(user, client, previous, method=f"password+{method}")

    async def _start(self, user: UserRecord, client: ClientInfo, previous: SessionRecord | None, *,
                     method: str, commit: SuccessCommit | None = None) -> StartedSession:
        # The session ended below makes room for the new one: the cap (session.max_per_user) must
        # not also end another of the user's sessions for it.
        replacing = previous.sid_hash if previous is not None and previous.user_id == user.id else None
        started = await self._open_session(
            user, client=client, commit=commit, credentials_at=user.read_at, replacing=replacing,
            events=[Event("auth.login.succeeded", user.id, {"method": method, **client.context()})])
        if previous is not None:
            # Login always rotates: whatever session the browser had is ended (after the new
            # one exists, so a refused login leaves the browser's session alone).
            await self.sessions.end(previous, client, reason="login")
        return started

    async def active_user(self, user_id: str) -> UserRecord:
        """The signed-in user's account row.

        :raises UnauthenticatedError: gone or disabled since the session began.
        """
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
        if user is None or user.disabled:
            raise UnauthenticatedError()
        return user

    async def confirm_password(self, user: UserRecord, password: str, client: ClientInfo, *,
                               device: str | None = None) -> None:
        """Check the signed-in user's password again (password change, step-up, MFA changes),
        throttled on the same account counter as login so a stolen session cannot guess it.
        A ``device`` trusted for the account counts on its own counter, as at login, so an
        attacker holding the account at its block does not lock the owner out of securing it.

        :raises InvalidCredentialsError: wrong password.
        :raises TooManyAttemptsError: throttled.
        """
        attempt = Attempt(account=account_key("user", user.email), ip=client.ip, device=device)
        if self.throttle is not None:
            await self.throttle.check(attempt)
        verdict = await self.hasher.verify(user.password_hash, normalize(password))
        if not verdict.ok:
            await self.publisher.publish(Event("auth.login.failed", user.id,
                                               {"reason": "wrong_current_password", **client.context()}))
            if self.throttle is not None:
                await self.throttle.failed(attempt)
            raise InvalidCredentialsError("The current password is not correct.")
        if self.throttle is not None:
            await self.throttle.succeeded(attempt)

    async def reauthenticate(self, user_id: str, password: str, code: str | None, client: ClientInfo,
                             current: SessionRecord,
                             device: str | None = None) -> tuple[UserRecord, StartedSession]:
        """Step-up: the password again (and a code with MFA on) moves the session's
        auth_time to now. The session id rotates, as at every privilege change. Returns the
        account as read for the password check (a device trusted for this step is dated from
        that read, as at login) and the new session.

        :raises InvalidCredentialsError: wrong password.
        :raises InvalidMfaCodeError: MFA is on and the code is missing or wrong.
        :raises TooManyAttemptsError: throttled (the login counters).
        """
        user = await self.active_user(user_id)
        mfa_on = self.mfa is not None and user.mfa_enabled
        if mfa_on and not code:
            # Refused before the password is checked: otherwise "wrong password" and "no code"
            # would answer apart, and a stolen session could test password guesses here.
            from app.mfa.errors import InvalidMfaCodeError

            raise InvalidMfaCodeError("MFA is on: send a code with the password.")
        await self.confirm_password(user, password, client, device=device)
        if mfa_on:
            await self.mfa.verify_code(user, code, client, purpose="reauthenticate", device=device)
        # The new session first, then the old one ends (as at login): a refusal in between
        # leaves the caller logged in. The cap does not count the one being replaced.
        started = await self._open_session(
            user, client=client, credentials_at=user.read_at, replacing=current.sid_hash,
            events=[Event("auth.reauthenticated", user.id, {"handle_before": current.handle,
                                                             **client.context()})])
        await self.sessions.end(current, client, reason="reauthenticated")
        return user, started

    async def remember_device(self, email: str, current: str | None = None,
                              since: float | None = None) -> str | None:
        """A trusted-device token for the account just logged in to (None: no throttle);
        ``since``: when the credentials of that login were read (default now)."""
        if self.throttle is None:
            return None
        return await self.throttle.trust_device(account_key("user", email), current, since)

    async def _revoke_devices(self, user: UserRecord, keep: str | None = None) -> None:
        """Every device trusted for the user stops counting on its own, but ``keep`` (the
        caller's, if trusted): they were earned with credentials that no longer suffice."""
        if self.throttle is not None:
            await self.throttle.revoke_devices(account_key("user", user.email), keep)

    async def change_password(self, user_id: str, current: str, new: str, client: ClientInfo, *,
                              held: HeldCredential | None, caller_session: SessionRecord | None,
                              device: str | None = None) -> StartedSession | None:
        """Set a new password, end every session and token of the user, stop trusting every
        device but the caller's ``device``, and (for a cookie caller, ``caller_session``) start
        a fresh session so the caller stays logged in under a new id. ``held``: the caller's credential,
        which must still be held when the change lands.

        :raises InvalidCredentialsError: the current password is wrong.
        :raises WeakPasswordError: the policy refuses the new password.
        :raises CredentialGoneError: the caller's session or token ended meanwhile.
        """
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
            # The hash checked below and when the password last changed, read together: the
            # commit replaces the password only if no other change (nor a disable) came since.
            state = await self.users.password_state(session, user_id) if user is not None else None
        if user is None or user.disabled or state is None:
            raise InvalidCredentialsError()
        stored_hash, changed_at = state
        user = replace(user, password_hash=stored_hash)
        await self.confirm_password(user, current, client, device=device)
        new = normalize(new)
        self.policy.check(new, email=user.email)
        new_hash = await self.hasher.hash(new)
        # Revoked before the commit as well as after it: if Redis fails after the commit (503),
        # what the old password opened must not live on, and the owner's retry cannot help
        # (their current password is the new one). A failed commit just logs the user out. And
        # only while the caller's own credential stands, checked in the same atomic step.
        await self.sessions.revoke_everything_before(user.id, now_s(), held=held)
        await self._revoke_devices(user, keep=device)
        async with self.sessionmaker() as session, session.begin():
            if not await self.users.change_password(session, user.id, new_hash, changed_at=changed_at):
                # A concurrent change won (the password checked above is no longer the current
                # one), or the account was disabled meanwhile. A login's rehash is no change.
                raise InvalidCredentialsError("The password was changed, or the account disabled, meanwhile.")
            event = Event("auth.password.changed", user.id, client.context())
            outbox.stage(session, self.publisher, event)
        await self.relay.relay([event.id])
        # Again after the commit: a device trusted meanwhile was earned with the old password.
        await self._revoke_devices(user, keep=device)
        return await self._logins_ended(user, client, caller_session=caller_session,
                                        reason="password_changed")

    async def enable_mfa(self, user_id: str, code: str, client: ClientInfo, *, held: HeldCredential,
                         caller_session: SessionRecord | None,
                         device: str | None = None) -> tuple[list[str], StartedSession | None]:
        """Confirm TOTP enrolment with a first code; returns the recovery codes and, for a
        cookie caller (``caller_session``), its fresh session. Every session and token of the
        user ends, as at a password change: what the password alone opened (a thief's login among
        them) must not outlive the moment a code is needed too. ``held``: the caller's
        credential, which must still be held when the enrolment lands.

        :raises MfaNotConfiguredError, MfaSetupNotStartedError, MfaAlreadyEnabledError,
            InvalidMfaCodeError, TooManyAttemptsError: nothing was enabled and nothing ended.
        :raises CredentialGoneError: the caller's session or token ended meanwhile (the
            owner's remedy against a thief enrolling an authenticator of their own);
            nothing was enabled.
        """
        user = await self.active_user(user_id)
        if self.mfa is None:
            from app.mfa.errors import MfaNotConfiguredError

            raise MfaNotConfiguredError()

        async def end_logins_before_commit() -> None:
            # Before the commit as well as after it: if Redis fails after the commit (503), the
            # retry finds MFA on already, and the thief's session would live on. The caller's
            # credential is checked in the same atomic step: the request may have been
            # authenticated long ago (its body can come whenever its sender likes), and a
            # remedy that landed since must win, or the thief's authenticator would lock the
            # owner out.
            await self.sessions.revoke_everything_before(user.id, now_s(), held=held)

        codes = await self.mfa.confirm_setup(user, code, client, device=device,
                                             before_commit=end_logins_before_commit)
        # A code from a secret made moments ago proves no password: the caller's session
        # carries on with its login's auth_time (step-up) and absolute deadline.
        return codes, await self._logins_ended(user, client, caller_session=caller_session,
                                               reason="mfa_enabled", carry_over=True)

    async def _logins_ended(self, user: UserRecord, client: ClientInfo, *,
                            caller_session: SessionRecord | None, reason: str,
                            carry_over: bool = False) -> StartedSession | None:
        """After a commit that raised what a login needs: every session and token of the user
        ends, and a cookie caller (``caller_session``) gets a fresh session under a new id; with
        ``carry_over``, one with that session's auth_time and absolute deadline."""
        # Taken after the commit: a login that read the old account read it before now, so its
        # session or token (dated from that read, UserRecord.read_at) falls under the epoch.
        epoch = now_s()
        # The epoch rejects every token and session at once; the revocations below
        # then remove the state and tell the audit trail which sessions ended.
        await self.sessions.revoke_everything_before(user.id, epoch)
        await self.sessions.end_all(user.id, client, reason=reason)
        if caller_session is None:
            return None
        # The caller's new session rests on the account as read after the epoch: a disable
        # that committed since leaves none (its own epoch, set at or after this read, would
        # refuse the session, which nothing else would end: the session check reads no
        # account row).
        async with self.sessionmaker() as db:
            fresh = await self.users.by_id(db, user.id)
        if fresh is None or fresh.disabled:
            return None
        kept = {} if not carry_over else {"auth_time": caller_session.auth_time,
                                          "absolute_expires_at": caller_session.absolute_expires_at}
        try:
            # Dated just past this epoch, not from the read above: any epoch set after this one
            # (an admin's forced logout, the owner's own password change) refuses it.
            return await self._open_session(fresh, client=client, not_before=epoch,
                                            credentials_at=math.nextafter(epoch, math.inf), **kept)
        except RevokedMeanwhileError:
            return None

    async def _open_session(self, user: UserRecord, **start) -> StartedSession:
        """``sessions.start`` with the profile read in ``user``; read again when the roles
        changed after that read (a session must not carry a role revoked while it was opened).

        :raises ServiceUnavailableError: the roles kept changing (three reads in a row).
        """
        for _ in range(3):
            try:
                return await self.sessions.start(user_id=user.id, email=user.email, roles=user.roles,
                                                 roles_read_at=user.read_at, **start)
            except RolesChangedError:
                async with self.sessionmaker() as session:
                    fresh = await self.users.by_id(session, user.id)
                if fresh is None or fresh.disabled:
                    raise InvalidCredentialsError() from None
                user = fresh
        raise ServiceUnavailableError("The account's roles are changing; try again.")

    async def grant_role_by_email(self, email: str, role: str, client: ClientInfo) -> bool:
        """Grant ``role``; live sessions see it on their next request.

        :raises NotFoundError: no such user.
        :raises ValidationError: not a role name (``app.authz.names``), or one more than the
            user's access tokens have room for.
        """
        _check_role_name(role)
        async with self.sessionmaker() as session, session.begin():
            user = await self.users.by_email(session, email)
            if user is None:
                raise NotFoundError("No such user.")
            granted = await self.users.grant_role(session, user.id, role)
            roles = await self.users.roles_of(session, uuid.UUID(user.id))
            if granted and roles_claim_bytes(roles) > ROLES_CLAIM_BUDGET:
                # Rolled back with the transaction: the roles must fit in an access token.
                raise ValidationError(f"A user's roles must fit in an access token: {ROLES_CLAIM_BUDGET} "
                                      f"bytes of names (each name plus 3); these would take "
                                      f"{roles_claim_bytes(roles)}.", field="role")
            event = Event("auth.role.changed", user.id, {"granted": [role] if granted else [],
                                                         "roles": list(roles), **client.context()})
            if granted:
                outbox.stage(session, self.publisher, event)
        if granted:
            await self.relay.relay([event.id])
            await self.sessions.store.update_profile(user.id, email=user.email, roles=roles)
        return granted

