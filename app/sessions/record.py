"""What a session is, independent of where it is stored."""
from __future__ import annotations

from dataclasses import dataclass

from app.sessions.ids import handle_of


@dataclass(frozen=True, slots=True)
class SessionRecord:
    sid_hash: str
    user_id: str
    email: str
    roles: tuple[str, ...]
    created_at: float
    last_seen_at: float
    absolute_expires_at: float
    idle_timeout_s: int
    auth_time: float
    ip: str
    user_agent: str

    @property
    def handle(self) -> str:
        return handle_of(self.sid_hash)

    @property
    def idle_expires_at(self) -> float:
        return min(self.last_seen_at + self.idle_timeout_s, self.absolute_expires_at)

    def is_live(self, now: float) -> bool:
        return now < self.absolute_expires_at and now < self.last_seen_at + self.idle_timeout_s


@dataclass(frozen=True, slots=True)
class HeldCredential:
    """The session or token the caller of a change authenticated with, checked again at the
    change's commit, atomically with the epoch it sets (``revoke_everything_before``): a
    remedy that ended it before then must not be outlived by what the request does."""

    issued_at: float  # the session's created_at, or the token's iat: an epoch since ended it
    live_key: str | None = None  # a key that exists while it is held (the session's own)
    revoked_key: str | None = None  # a key that exists once it is revoked (the token's jti entry)
