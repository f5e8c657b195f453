"""Token use cases: grants, verification, revocation, introspection. Knows nothing of HTTP."""
from __future__ import annotations

import asyncio
import logging
import math
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.authz.names import ROLES_CLAIM_BUDGET, roles_claim_bytes
from app.clock import now_s
from app.db.users import UserRecord, UserRepository
from app.errors import ServiceUnavailableError
from app.events.envelope import Event
from app.sessions.manager import ClientInfo
from app.throttle import Attempt, Throttle
from app.tokens.cache import TokenCache
from app.tokens.claims import AccessClaims
from app.tokens.holders import active_roles
from app.tokens.errors import AccessTokenTooLargeError, InvalidGrantError, InvalidTokenError, MfaRequiredError
from app.tokens.keyring import KeyRing
from app.tokens.opaque import (hash_refresh_token, looks_like_refresh_token, new_family_id, new_refresh_token,
                               open_successor, seal_successor)
from app.tokens.signer import sign_access_token
from app.tokens.store import RedisTokenStore, Rotation
from app.tokens.verify import AccessTokenVerifier

security_log = logging.getLogger("app.security")
log = logging.getLogger("app.tokens")
SWEEP_BATCH = 500
HEADER_FIELD_MAX = 8190  # aiohttp's default max_field_size


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_ttl_s: int
    refresh_ttl_s: int
    family_ttl_s: int
    grace_s: float
    leeway_s: int


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: float
    user_id: str
    jti: str

    def reply(self) -> dict:
        """RFC 6749 §5.1."""
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in,
                "refresh_token": self.refresh_token}


def new_jti() -> str:
    return secrets.token_urlsafe(16)


class TokenService:
    def __init__(self, *, keyring: KeyRing, store: RedisTokenStore, verifier: AccessTokenVerifier,
                 policy: TokenPolicy, sessionmaker: async_sessionmaker, users: UserRepository, accounts,
                 cache: TokenCache | None = None, throttle: Throttle | None = None) -> None:
        self.keyring = keyring
        self.store = store
        self.verifier = verifier
        self.policy = policy
        self.sessionmaker = sessionmaker
        self.users = users
        self.accounts = accounts
        self.cache = cache
        self.throttle = throttle
        # What the verifier takes, and what fits "Authorization: Bearer <token>" in aiohttp's
        # 8190-byte header field (name and value).
        self._max_token_chars = min(verifier.max_bytes, HEADER_FIELD_MAX - len("AuthorizationBearer "))

    async def start(self) -> None:
        """Make sure a signing key exists and load the published set."""
        await self.keyring.ensure_signing_key()
        await self.keyring.reload()

    # -- grants ------------------------------------------------------------------

    async def password_grant(self, username: str, password: str, client: ClientInfo) -> IssuedTokens:
        """:raises InvalidGrantError: wrong credentials (the same reply for every reason).
        :raises MfaRequiredError: right password, MFA enrolled: carries an ``mfa_token``.
        :raises TooManyAttemptsError: throttled, as for cookie logins."""
        from app.errors import InvalidCredentialsError

        try:
            user = await self.accounts.check_credentials(username, password, client)
        except InvalidCredentialsError as e:
            raise InvalidGrantError("The username or password is not correct.") from e
        mfa = getattr(self.accounts, "mfa", None)
        if mfa is not None and user.mfa_enabled:
            pending = await mfa.challenge(user, client)
            raise MfaRequiredError(mfa_token=pending.mfa_token, expires_in=pending.expires_in)
        return await self._new_family(user, client, "password", method="password")

    async def mfa_grant(self, mfa_token: str, code: str, client: ClientInfo, *,
                        device: str | None = None) -> IssuedTokens:
        """The second step of a password grant for an account with MFA (``device``: a presented
        trusted-device token, counted as in ``MfaManager.complete_challenge``).

        :raises InvalidGrantError: unknown/expired mfa_token or wrong code."""
        from app.errors import AuthError, TooManyAttemptsError

        mfa = getattr(self.accounts, "mfa", None)
        if mfa is None:
            raise InvalidGrantError("No MFA challenge is pending.")
        try:
            user, method = await mfa.complete_challenge(mfa_token, code, client, device=device)
        except TooManyAttemptsError:
            raise
        except AuthError as e:
            raise InvalidGrantError("The mfa_token or code is not valid.") from e
        return await self._new_family(user, client, "mfa", method=f"password+{method}")

    async def _new_family(self, user: UserRecord, client: ClientInfo, grant: str, *, method: str) -> IssuedTokens:
        p = self.policy
        # Dated from when the credentials were read (UserRecord.read_at), so a password change or
        # forced logout that landed while the password hashed refuses the grant.
        now = min(now_s(), user.read_at or math.inf)
        key = await self.keyring.current()
        family, refresh = new_family_id(), new_refresh_token()
        absolute = now + p.family_ttl_s
        refresh_exp = min(now + p.refresh_ttl_s, absolute)
        jti = new_jti()
        context = client.context()
        events = [
            Event("auth.login.succeeded", user.id, {"method": method, "transport": "token", **context}, time=now),
            Event("auth.token.issued", user.id, {"grant_type": grant, "jti": jti, **context}, time=now),
        ]
        roles_user = user
        for _ in range(3):
            if roles_claim_bytes(roles_user.roles) > ROLES_CLAIM_BUDGET:
                # Before anything is written: no family whose every refresh fails, no login in
                # the audit trail that handed out nothing.
                raise AccessTokenTooLargeError()
            outcome, epoch = await self.store.create_family(
                family=family, user_id=user.id, now=now, absolute_expires_at=absolute, auth_time=now,
                token_hash=hash_refresh_token(refresh), token_expires_at=refresh_exp, jti=jti,
                jti_expires_at=math.floor(now) + 1 + p.access_ttl_s, roles_read_at=roles_user.read_at or now,
                events=events)
            if outcome == "revoked":
                # A forced logout or password change landed while this grant was in flight (the
                # script then wrote nothing).
                raise InvalidGrantError()
            if outcome == "ok":
                break
            # A role revoked while the password hashed must not ride in the first access token.
            async with self.sessionmaker() as session:
                roles_user = await self.users.by_id(session, user.id)
            if roles_user is None or roles_user.disabled:
                raise InvalidGrantError()
        else:
            raise ServiceUnavailableError("The account's roles are changing; try again.")
        access, expires_in = self._sign(key, user.id, roles_user.roles, jti, now, epoch, auth_time=now,
                                        family=family)
        return IssuedTokens(access, expires_in, refresh, refresh_exp, user.id, jti)

    async def refresh_grant(self, refresh_token: str, client: ClientInfo) -> IssuedTokens:
        """Rotate a refresh token: a new one and a new access token (roles read afresh).

        :raises InvalidGrantError: unknown, expired, revoked or reused (reuse ends the family).
        :raises TooManyAttemptsError: this address presented too many bad refresh tokens
            (the per-IP throttle counter; refresh tokens name no account)."""
        try:
            return await self._rotate(refresh_token, client)
        except InvalidGrantError:
            if self.throttle is not None:
                await self.throttle.failed(Attempt(account=None, ip=client.ip))
            raise

    async def _rotate(self, refresh_token: str, client: ClientInfo) -> IssuedTokens:
        if not looks_like_refresh_token(refresh_token):
            raise InvalidGrantError()  # the caller's throttle.failed() refuses it if the gate is shut
        # The per-IP gate is checked inside the rotation script (one round trip, not two).
        gate = self.throttle.ip_gate(client.ip) if self.throttle is not None else None
        p = self.policy
        now = now_s()
        key = await self.keyring.current()
        successor = new_refresh_token()
        jti = new_jti()
        context = client.context()
        rotation = await self.store.rotate(
            token_hash=hash_refresh_token(refresh_token), now=now, grace_s=p.grace_s,
            new_hash=hash_refresh_token(successor), sealed=seal_successor(refresh_token, successor),
            refresh_ttl_s=p.refresh_ttl_s, jti=jti, jti_expires_at=math.floor(now) + 1 + p.access_ttl_s,
            refreshed=Event("auth.token.refreshed", None,
                            {"grant_type": "refresh_token", "jti": jti, **context, "family": None}),
            gate=gate)
        if rotation.outcome == "throttled":
            raise self.throttle.refusal(rotation.wait_ms)
        if rotation.outcome == "grace":
            current = refresh_token
            for blob in rotation.blobs:
                current = open_successor(current, blob) or ""
                if not current:
                    raise InvalidGrantError()
            successor = current
        elif rotation.outcome != "rotated":
            if rotation.outcome == "reused":
                security_log.warning("refresh token reuse: family %s of user %s revoked",
                                     rotation.family, rotation.user_id)
                if self.cache is not None:
                    self.cache.on_message(f"u:{rotation.user_id}")
            raise InvalidGrantError()
        # The script has rotated (or handed out the current token): a failure from here to the
        # reply must not leave the presented token spent, or the client's retry after the grace
        # window would be taken for reuse and end the login.
        try:
            roles = await self._roles_of(rotation)
            signed = None if roles is None else self._sign(
                key, rotation.user_id, roles, jti, now, rotation.epoch, auth_time=rotation.auth_time,
                family=rotation.family)
        except (Exception, asyncio.CancelledError):
            await self._take_back(rotation, refresh_token, successor, jti, context)
            raise
        if signed is None:
            await self.store.revoke_family_of(hash_refresh_token(successor), now_s(), Event(
                "auth.token.revoked", None, {"reason": "account_unavailable", **context}))
            raise InvalidGrantError()
        access, expires_in = signed
        return IssuedTokens(access, expires_in, successor, rotation.refresh_expires_at, rotation.user_id, jti)

    async def _roles_of(self, rotation: Rotation) -> tuple[str, ...] | None:
        """The roles for the access token of a refresh; None if the account is gone or disabled."""
        if rotation.roles is not None:
            return rotation.roles
        # Not known in Redis, or changed since: a role change reaches token holders at their
        # next refresh. (Disabling moves the user's epoch, which the rotation script checks.)
        roles = await active_roles(self.sessionmaker.kw["bind"], rotation.user_id)
        if roles is not None:
            await self.store.remember_roles(rotation.user_id, rotation.roles_version, roles,
                                            self.policy.refresh_ttl_s)
        return roles

    async def _take_back(self, rotation: Rotation, presented: str, successor: str, jti: str,
                         context: dict) -> None:
        """A refresh failed after its script ran: put the presented token back as it was (a
        rotation is undone; a grace hand-out stops counting), so the retry is a plain refresh."""
        try:
            if rotation.outcome == "rotated":
                await self.store.undo_rotation(
                    token_hash=hash_refresh_token(presented), new_hash=hash_refresh_token(successor), jti=jti,
                    event=Event("auth.token.revoked", rotation.user_id,
                                {"reason": "refresh_failed", "token_type": "refresh_token", "jti": jti,
                                 **context, "family": rotation.family}))
            else:
                await self.store.release_grace(handed_hash=hash_refresh_token(successor), jti=jti)
        except Exception as e:
            # Most likely Redis itself failed, which the undo needs too. The successor stays
            # stored, so a retry within grace_s gets it (the grace path); a later one is reuse.
            log.warning("a refresh of family %s failed after its rotation, which could not be undone (%s); "
                        "a retry within %ss gets the successor", rotation.family, type(e).__name__,
                        self.policy.grace_s)

    def _sign(self, key, user_id: str, roles: tuple[str, ...], jti: str, now: float, epoch: float,
              *, auth_time: float, family: str) -> tuple[str, int]:
        p = self.policy
        iat = nbf = math.floor(now)
        exp = iat + p.access_ttl_s
        if iat <= epoch:
            # Issued after the user's revocation epoch but within its second: dated to the
            # millisecond past it, as epochs are not whole seconds. Then an epoch later in that
            # same second (a disable sets one before its commit and one after) ends it too, and
            # it is not dated in the future (refused until then without a leeway).
            iat = _millis_after(max(now, epoch))
            exp = math.floor(iat) + 1 + p.access_ttl_s  # no later than its jti's revocation entry
        claims = {"iss": p.issuer, "sub": user_id, "aud": p.audience, "exp": exp, "nbf": nbf, "iat": iat,
                  "jti": jti, "roles": list(roles), "auth_time": math.floor(auth_time),
                  # The refresh family (the login) the token belongs to, so that a logout made with
                  # the access token alone can end the login, not just this one token. Not a secret:
                  # the id names the family in events and cannot be refreshed with.
                  "sid": family}
        token = sign_access_token(key, claims)
        if len(token) > self._max_token_chars:
            # Never hand out a token that this service (or the HTTP header limit) refuses.
            raise AccessTokenTooLargeError()
        return token, p.access_ttl_s

    # -- verification, revocation, introspection -----------------------------------

    async def verify_access(self, token: str) -> AccessClaims:
        """:raises InvalidTokenError:"""
        return await self.verifier.verify(token)

    async def revoke(self, token: str, client: ClientInfo, *, reason: str = "client") -> None:
        """RFC 7009: revoke a refresh token's family or an access token; unknown tokens are ignored."""
        now = now_s()
        if looks_like_refresh_token(token):
            user_id = await self.store.revoke_family_of(hash_refresh_token(token), now, Event(
                "auth.token.revoked", None, {"reason": reason, "token_type": "refresh_token", **client.context()}))
            if user_id is not None:
                self._drop_cached(user_id)
            return
        try:
            claims = await self.verifier.verify_offline(token, now)
        except InvalidTokenError:
            return  # invalid or expired already: nothing to revoke
        await self.revoke_access(claims, client, reason=reason)

    async def end_login(self, claims: AccessClaims, client: ClientInfo, *, reason: str = "logout") -> None:
        """Logout with an access token: revoke it and its refresh family (the ``sid`` claim), so
        the login's refresh token stops working too (a Bearer client presents no refresh token
        at logout, and one left alive would mint new access tokens after the logout returned)."""
        await self.revoke_access(claims, client, reason=reason)
        family = claims.raw.get("sid")
        if isinstance(family, str) and family:
            if await self.store.revoke_family_by_id(family, claims.sub, now_s(), Event(
                    "auth.token.revoked", None, {"reason": reason, "token_type": "refresh_token",
                                                 **client.context()})):
                self._drop_cached(claims.sub)

    def _drop_cached(self, user_id: str) -> None:
        """After revoking a family: this process drops the user's cached tokens now (the script
        names the family's jtis only on the channel, and this process's own message may still be
        on its way back while the cache is trusted); the others drop them on that message."""
        if self.cache is not None:
            self.cache.on_message(f"u:{user_id}")

    async def revoke_access(self, claims: AccessClaims, client: ClientInfo, *, reason: str) -> None:
        await self.store.revoke_jti(jti=claims.jti, expires_at=claims.exp, user_id=claims.sub, now=now_s(),
                                    event=Event("auth.token.revoked", claims.sub,
                                                {"reason": reason, "token_type": "access_token", "jti": claims.jti,
                                                 **client.context()}))
        if self.cache is not None:
            # This process drops it now; the others on the published message.
            self.cache.on_message(f"j:{claims.jti}")

    async def introspect(self, token: str) -> dict:
        """RFC 7662: the token's state; ``{"active": false}`` for anything not live."""
        if looks_like_refresh_token(token):
            state = await self.store.refresh_state(hash_refresh_token(token))
            if state is None or not state.live or now_s() >= state.expires_at:
                return {"active": False}
            return {"active": True, "token_type": "refresh_token", "sub": state.user_id,
                    "exp": math.floor(state.expires_at), "iat": math.floor(state.issued_at)}
        try:
            claims = await self.verifier.verify(token)
        except InvalidTokenError:
            return {"active": False}
        return claims.introspection()

    async def revoke_all_for_user(self, user_id: str, *, reason: str = "revoke_all",
                                  cutoff: float | None = None) -> int:
        """Revoke every refresh family of the user (those created at or before ``cutoff``, if
        given) and every access token issued in them."""
        n = await self.store.revoke_user(user_id, now_s(), Event("auth.token.revoked", None, {"reason": reason}),
                                         cutoff=cutoff)
        if self.cache is not None:
            self.cache.on_message(f"u:{user_id}")
        return n

    async def sweep_revocations(self, now: float) -> int:
        """Drop expired families from the per-user indexes (revocation entries expire by TTL)."""
        total = 0
        while True:
            users, purged = await self.store.sweep(now, SWEEP_BATCH)
            total += purged
            if users < SWEEP_BATCH:
                return total

    @property
    def jwks_body(self) -> bytes:
        return self.keyring.jwks_body


def _millis_after(t: float) -> float:
    """The first whole millisecond after ``t``: a NumericDate (RFC 7519 allows fractions) that
    compares after ``t`` and prints in a few digits."""
    dated = math.floor(t * 1000 + 1) / 1000
    while dated <= t:  # float rounding
        dated = round(dated + 0.001, 3)
    return dated
