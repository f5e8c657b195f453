"""Who is calling. Handlers always get a principal; anonymous callers get the null object."""
from __future__ import annotations

from dataclasses import dataclass, field

from app.sessions.record import SessionRecord


@dataclass(frozen=True, slots=True)
class Anonymous:
    is_authenticated: bool = False
    kind: str = "anonymous"
    id: str = ""
    roles: tuple[str, ...] = ()
    method: str = "none"


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    id: str
    email: str
    roles: tuple[str, ...]
    method: str  # "session", "bearer" or "basic"
    auth_time: float
    session: SessionRecord | None = None
    # The secret cookie value: needed to derive the CSRF token; never logged.
    session_id: str | None = field(default=None, repr=False)
    token_claims: dict | None = None
    is_authenticated: bool = True
    kind: str = "user"


@dataclass(frozen=True, slots=True)
class ClientPrincipal:
    id: str  # client_id
    name: str
    roles: tuple[str, ...]
    method: str = "basic"
    is_authenticated: bool = True
    kind: str = "client"


Principal = Anonymous | UserPrincipal | ClientPrincipal
ANONYMOUS = Anonymous()
