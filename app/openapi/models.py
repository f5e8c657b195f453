"""Reply shapes, for the document only (handlers build plain dicts; the tests and
schemathesis hold the two together). Unknown extra fields are allowed: clients
must ignore what they do not know, and the service may add fields."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Reply(BaseModel):
    model_config = ConfigDict(extra="allow")


class Problem(Reply):
    """RFC 9457 problem details; ``code`` is the stable machine-readable part."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None
    request_id: str | None = None


class User(Reply):
    id: str
    email: str
    roles: list[str]


class SessionInfo(Reply):
    handle: str
    expires_at: str = Field(description="RFC 3339, absolute expiry")
    idle_expires_at: str = Field(description="RFC 3339, when idleness would end it")


class SessionReply(Reply):
    user: User
    session: SessionInfo
    csrf_token: str


class MfaChallenge(Reply):
    mfa_required: Literal[True]
    mfa_token: str = Field(description="Opaque, single use, short-lived; only POST /auth/login/mfa accepts it")
    expires_in: int
    methods: list[str]


class Registered(Reply):
    id: str
    email: str


class SessionItem(Reply):
    handle: str
    created_at: str
    last_seen_at: str
    ip: str
    user_agent: str
    current: bool


class SessionList(Reply):
    sessions: list[SessionItem]


class MfaStatus(Reply):
    enabled: bool
    pending: bool
    recovery_codes_left: int


class TotpSetupReply(Reply):
    secret: str = Field(description="base32, for apps that cannot scan")
    otpauth_uri: str
    qr_svg: str = Field(description="the otpauth URI as an SVG QR code")


class TotpEnabled(Reply):
    enabled: Literal[True]
    recovery_codes: list[str] = Field(description="shown once; each works once")
    csrf_token: str | None = Field(None, description="a session caller's new session's; absent for a token caller")


class RecoveryCodes(Reply):
    recovery_codes: list[str]


class Decision(Reply):
    allowed: bool
    reason: dict[str, Any] | None = None


class Decisions(Reply):
    results: list[Decision]


class Role(Reply):
    name: str
    description: str
    permissions: list[str]
    parents: list[str]


class RoleDetail(Role):
    effective_roles: list[str]
    effective_permissions: list[Any]


class RoleList(Reply):
    roles: list[Role]


class UserRoles(Reply):
    user_id: str
    roles: list[str]
    effective_roles: list[str]
    permissions: list[Any]


class PolicyReply(Reply):
    id: str
    effect: str
    action: str
    subject_type: str
    conditions: Any = None
    fields: Any = None
    role: str | None = None
    user_id: str | None = None
    description: str | None = None
    created_at: str | None = None


class PolicyList(Reply):
    policies: list[PolicyReply]
    next: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class ApiClient(Reply):
    client_id: str
    name: str
    roles: list[str]
    disabled: bool
    created_at: str
    secret_rotated_at: str


class ApiClientList(Reply):
    clients: list[ApiClient]


class ApiClientCreated(Reply):
    client_id: str
    name: str
    roles: list[str]
    client_secret: str = Field(description="shown once; only its argon2id hash is kept")


class ApiClientSecret(Reply):
    client_id: str
    client_secret: str = Field(description="shown once; the previous secret stops working at once")


class TaskAccepted(Reply):
    task_id: str


class Health(Reply):
    status: str


class Ready(Reply):
    status: str
    checks: dict[str, str]


class OpenApiDocument(Reply):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class TokenReply(Reply):
    """RFC 6749 §5.1."""

    access_token: str = Field(description="JWT (typ at+jwt), verify with /.well-known/jwks.json")
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str = Field(description="Opaque; rotated on every use")


class TokenCookieReply(Reply):
    """Browser transport: the tokens are in HttpOnly cookies."""

    token_type: Literal["Bearer"]
    expires_in: int
    csrf_token: str = Field(description="Send as X-CSRF-Token on unsafe requests made with the access cookie")


class Introspection(Reply):
    """RFC 7662 §2.2: only ``active`` when the token is not active."""

    active: bool
    token_type: str | None = None
    sub: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    jti: str | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    roles: list[str] | None = None


class Jwks(Reply):
    """RFC 7517 key set: each key has kid, alg, use "sig"."""

    keys: list[dict[str, Any]]


class Caller(Reply):
    id: str
    kind: Literal["user", "client"]
    roles: list[str]
    method: str = Field(description="session, bearer, token-cookie or basic")
