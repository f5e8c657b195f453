"""Every operation of the API: what it takes, what it answers, and which problems.

A route added to the app without an entry here fails
tests/integration/openapi/test_document.py, so the document stays true.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from app.authz.manager import PAGE_MAX
from app.http.admin_authz_routes import OneRole, ParentsBody, PermissionsBody, PolicyCreate, RoleCreate, RolesBody
from app.http.admin_client_routes import ClientCreate, ClientRoles
from app.http.authz_routes import CheckRequest
from app.http.mfa_schemas import MfaCode, MfaDisable, MfaLogin, Reauthentication
from app.http.schemas import Credentials, PasswordChange
from app.http.token_schemas import IntrospectRequest, RevokeRequest, TokenRequest
from app.openapi import models as m

# Problem statuses by cause, combined per operation below.
BODY = (400, 413, 415, 422)  # malformed, too large, not JSON, invalid fields
OAUTH_BODY = (400,)  # OAuth endpoints: every body problem is an invalid_request (RFC 6749 §5.2)
SIGNED_IN = (401,)  # no, unknown, expired or revoked credential
CSRF = (403,)  # cookie callers: X-CSRF-Token / Origin
STEP_UP = (401,)  # reauthentication_required
THROTTLED = (429,)  # too_many_attempts, with Retry-After
STORES = (503,)  # Redis or Postgres unreachable: fail closed

USER = ("cookie", "bearer")
ANY_CALLER = ("cookie", "bearer", "basic")


@dataclass(frozen=True)
class Reply:
    description: str
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    media_type: str = "application/json"


@dataclass(frozen=True)
class Param:
    """An optional query parameter with its own schema (a bare name is an optional string)."""

    name: str
    schema: dict
    description: str = ""


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    ok: dict[int, Reply]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    auth: tuple[str, ...] = ()
    description: str = ""
    form: bool = False  # also accepts application/x-www-form-urlencoded
    query: tuple[str | Param, ...] = ()  # optional query parameters (a name: a string)
    extra_headers: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.errors) | set(STORES)))


NO_CONTENT = Reply("Done; no body.")
WITHIN_OWN_ROLES = ("Without the admin role, only on an account whose roles the caller holds itself "
                    "(403 `forbidden` naming the others).")

OPERATIONS: list[Op] = [
    # -- operations ---------------------------------------------------------
    Op("GET", "/healthz", "Liveness: the process is up", "operations", {200: Reply("Up", m.Health)}),
    Op("GET", "/readyz", "Readiness: Redis and Postgres reachable", "operations",
       {200: Reply("Ready", m.Ready)}, description="503 (problem+json with `checks`) when a store is unreachable."),
    Op("GET", "/metrics", "Prometheus metrics of this process", "operations",
       {200: Reply("Prometheus text exposition", None, "text/plain")}),
    Op("GET", "/openapi.json", "This document", "operations", {200: Reply("OpenAPI 3.1", m.OpenApiDocument)}),

    # -- cookie sessions -------------------------------------------------------
    Op("POST", "/auth/register", "Create an account", "sessions",
       {201: Reply("Created, or the same-shaped reply for a taken email (nothing changes)", m.Registered)},
       BODY + CSRF, body=Credentials,
       description="A taken email gets the same 201 reply and changes nothing (no enumeration). "
                   "422 `weak_password` names the reason."),
    Op("POST", "/auth/login", "Log in with email and password", "sessions",
       {200: Reply("A session (Set-Cookie) -- or, with MFA enrolled, an MFA challenge and no session",
                   (m.SessionReply, m.MfaChallenge))},
       BODY + (401,) + CSRF + THROTTLED, body=Credentials,
       description="401 `invalid_credentials` is identical for an unknown email, a wrong password and a "
                   "disabled account. 429 `too_many_attempts` (Retry-After) when throttled, whatever the "
                   "password. A foreign `Origin` is refused (403)."),
    Op("POST", "/auth/login/mfa", "Second login step: the MFA code", "mfa",
       {200: Reply("The session (Set-Cookie); the id is created only now", m.SessionReply)},
       BODY + (401,) + CSRF + THROTTLED, body=MfaLogin,
       description="`code` is a 6-digit TOTP code or a recovery code. 401 `mfa_token_invalid` (unknown, "
                   "expired, used, or 5 wrong codes) or `invalid_mfa_code` (wrong or already used)."),
    Op("GET", "/auth/session", "The current session", "sessions", {200: Reply("The session", m.SessionReply)},
       SIGNED_IN, auth=("cookie",)),
    Op("POST", "/auth/logout", "End the current session (or revoke the presented access token)", "sessions",
       {204: NO_CONTENT}, SIGNED_IN + CSRF, auth=USER),
    Op("GET", "/auth/sessions", "The user's live sessions", "sessions", {200: Reply("Sessions", m.SessionList)},
       SIGNED_IN, auth=USER),
    Op("DELETE", "/auth/sessions/{handle}", "End one session by its handle", "sessions", {204: NO_CONTENT},
       SIGNED_IN + CSRF + (404,), auth=USER),
    Op("DELETE", "/auth/sessions", "End every session but the current one", "sessions", {204: NO_CONTENT},
       SIGNED_IN + CSRF, auth=USER),
    Op("POST", "/auth/password", "Change the password", "sessions",
       {204: Reply("Changed; every other session and token ends; a cookie caller gets a new cookie")},
       BODY + SIGNED_IN + STEP_UP + CSRF + THROTTLED, body=PasswordChange, auth=USER,
       description="Needs a recent login (401 `reauthentication_required`)."),
    Op("POST", "/auth/reauthenticate", "Step up: confirm the password (and code) again", "sessions",
       {200: Reply("A fresh session (new id, auth_time now)", m.SessionReply)},
       BODY + SIGNED_IN + CSRF + THROTTLED, body=Reauthentication, auth=("cookie",),
       description="With MFA enrolled `code` is required. Token clients step up with a fresh password grant."),

    # -- tokens ----------------------------------------------------------------
    Op("POST", "/auth/token", "Issue tokens: password, refresh_token or MFA grant", "tokens",
       {200: Reply("Access and refresh token (or, with the browser transport, cookies and a CSRF token)",
                   (m.TokenReply, m.TokenCookieReply))},
       OAUTH_BODY + CSRF + THROTTLED, body=TokenRequest, form=True,
       description="OAuth2-shaped (RFC 6749 §5): errors are 400 with `error` (`invalid_request`, "
                   "`invalid_grant`, `unsupported_grant_type`, `mfa_required` with an `mfa_token`) beside the "
                   "problem+json fields. grant_type `urn:authsvc:grant-type:mfa` takes `mfa_token` and `code`. "
                   "Reusing a spent refresh token revokes its whole family."),
    Op("POST", "/auth/revoke", "Revoke a token (RFC 7009)", "tokens",
       {200: Reply("Revoked, or unknown (RFC 7009 answers 200 either way)")},
       OAUTH_BODY + CSRF, body=RevokeRequest, form=True,
       description="A refresh token revokes its whole family and the access tokens issued in it."),
    Op("POST", "/auth/introspect", "Introspect a token (RFC 7662), as an API client", "tokens",
       {200: Reply("The token's state; only `active: false` for anything not live", m.Introspection)},
       BODY + (401, 403) + THROTTLED, body=IntrospectRequest, form=True, auth=("basic",),
       description="HTTP Basic with an API client's credentials (401 `invalid_client` with a Basic challenge; "
                   "403 `insecure_transport` over plain http)."),
    Op("GET", "/auth/me", "Who the presented credential names (any method)", "tokens",
       {200: Reply("The caller", m.Caller)}, SIGNED_IN, auth=ANY_CALLER),
    Op("GET", "/.well-known/jwks.json", "Public keys that verify access tokens", "tokens",
       {200: Reply("JWK set", m.Jwks)}),

    # -- MFA -------------------------------------------------------------------
    Op("GET", "/auth/mfa/totp", "MFA status", "mfa", {200: Reply("Status", m.MfaStatus)}, SIGNED_IN, auth=USER),
    Op("POST", "/auth/mfa/totp/setup", "Start TOTP enrolment", "mfa",
       {201: Reply("The secret, its otpauth URI and a QR code (SVG)", m.TotpSetupReply)},
       SIGNED_IN + STEP_UP + CSRF + (409,), auth=USER,
       description="409 `mfa_already_enabled`; 503 `mfa_not_configured` without `security.data_key`."),
    Op("POST", "/auth/mfa/totp/confirm", "Enable TOTP with a first code", "mfa",
       {200: Reply("Enabled; recovery codes shown once; every other session and token ends; "
                   "a cookie caller gets a new cookie", m.TotpEnabled)},
       BODY + SIGNED_IN + STEP_UP + CSRF + (409,) + THROTTLED, body=MfaCode, auth=USER),
    Op("POST", "/auth/mfa/totp/disable", "Disable TOTP (password and code)", "mfa", {204: NO_CONTENT},
       BODY + SIGNED_IN + STEP_UP + CSRF + (409,) + THROTTLED, body=MfaDisable, auth=USER),
    Op("POST", "/auth/mfa/totp/recovery-codes", "Replace the recovery codes", "mfa",
       {200: Reply("New codes; the old ones stop working", m.RecoveryCodes)},
       BODY + SIGNED_IN + STEP_UP + CSRF + (409,) + THROTTLED, body=MfaCode, auth=USER),

    # -- authorization -----------------------------------------------------------
    Op("POST", "/authz/check", "May a subject do an action on a resource? (single or batch)", "authz",
       {200: Reply("The decision(s) and the rule that decided", (m.Decision, m.Decisions))},
       BODY + SIGNED_IN + CSRF + (404,), body=CheckRequest, auth=ANY_CALLER),

    # -- admin (every route: its permission or the admin role, and a recent login) --
    Op("GET", "/admin/roles", "List roles", "admin", {200: Reply("Roles", m.RoleList)},
       SIGNED_IN + STEP_UP + (403,), auth=ANY_CALLER),
    Op("POST", "/admin/roles", "Create a role", "admin", {201: Reply("Created", m.Role)},
       BODY + SIGNED_IN + STEP_UP + (403, 404, 409), body=RoleCreate, auth=ANY_CALLER),
    Op("GET", "/admin/roles/{name}", "A role with what it inherits", "admin", {200: Reply("Role", m.RoleDetail)},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
    Op("DELETE", "/admin/roles/{name}", "Delete a role", "admin", {204: NO_CONTENT},
       SIGNED_IN + STEP_UP + (403, 404, 409), auth=ANY_CALLER),
    Op("PUT", "/admin/roles/{name}/permissions", "Set a role's permissions", "admin", {200: Reply("Role", m.Role)},
       BODY + SIGNED_IN + STEP_UP + (403, 404), body=PermissionsBody, auth=ANY_CALLER),
    Op("PUT", "/admin/roles/{name}/parents", "Set a role's parents (a DAG)", "admin", {200: Reply("Role", m.Role)},
       BODY + SIGNED_IN + STEP_UP + (403, 404, 409), body=ParentsBody, auth=ANY_CALLER),
    Op("GET", "/admin/users/{id}/roles", "A user's roles", "admin", {200: Reply("Roles", m.UserRoles)},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
    Op("PUT", "/admin/users/{id}/roles", "Set a user's roles", "admin", {200: Reply("Roles", m.UserRoles)},
       BODY + SIGNED_IN + STEP_UP + (403, 404), body=RolesBody, auth=ANY_CALLER),
    Op("POST", "/admin/users/{id}/roles", "Grant a user a role", "admin", {200: Reply("Roles", m.UserRoles)},
       BODY + SIGNED_IN + STEP_UP + (403, 404), body=OneRole, auth=ANY_CALLER),
    Op("DELETE", "/admin/users/{id}/roles/{role}", "Revoke a role from a user", "admin", {204: NO_CONTENT},
       SIGNED_IN + STEP_UP + (403, 404, 422), auth=ANY_CALLER),
    Op("GET", "/admin/policies", "List policies (optionally of one role or user), a page at a time", "admin",
       {200: Reply("One page of policies in creation order, and the cursor of the next", m.PolicyList)},
       SIGNED_IN + STEP_UP + (403, 404, 422), auth=ANY_CALLER,
       query=("role", "user_id",
              Param("limit", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_MAX},
                    "Policies per page."),
              Param("after", {"type": "string", "minLength": 1}, "The `next` cursor of the previous page.")),
       description="Follow `next` (as `after`) until it is null to see every policy. 422 `invalid_request` for "
                   f"a `limit` outside 1..{PAGE_MAX} or an `after` no listing gave."),
    Op("POST", "/admin/policies", "Create a policy", "admin", {201: Reply("Created", m.PolicyReply)},
       BODY + SIGNED_IN + STEP_UP + (403, 404), body=PolicyCreate, auth=ANY_CALLER),
    Op("GET", "/admin/policies/{id}", "A policy", "admin", {200: Reply("Policy", m.PolicyReply)},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
    Op("DELETE", "/admin/policies/{id}", "Delete a policy", "admin", {204: NO_CONTENT},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
    Op("POST", "/admin/users/{id}/logout", "Force-logout a user everywhere", "admin",
       {202: Reply("Every session and token rejected already; the fan-out runs in a worker", m.TaskAccepted)},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER, description=WITHIN_OWN_ROLES),
    Op("POST", "/admin/users/{id}/disable", "Disable a user (and log them out)", "admin",
       {202: Reply("Disabled; fan-out queued", m.TaskAccepted)}, SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER,
       description=WITHIN_OWN_ROLES),
    Op("POST", "/admin/users/{id}/enable", "Enable a user again", "admin", {204: NO_CONTENT},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER, description=WITHIN_OWN_ROLES),
    Op("GET", "/admin/clients", "List API clients (never their secrets)", "admin",
       {200: Reply("API clients", m.ApiClientList)}, SIGNED_IN + STEP_UP + (403,), auth=ANY_CALLER),
    Op("POST", "/admin/clients", "Create an API client", "admin",
       {201: Reply("Created; the secret is shown this once", m.ApiClientCreated)},
       BODY + SIGNED_IN + STEP_UP + (403,), body=ClientCreate, auth=ANY_CALLER,
       description="422 `unknown_role` for a role that does not exist. Without the admin role, only roles "
                   "the caller holds may be granted (403)."),
    Op("GET", "/admin/clients/{client_id}", "An API client", "admin", {200: Reply("API client", m.ApiClient)},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
    Op("POST", "/admin/clients/{client_id}/secret", "Rotate an API client's secret", "admin",
       {200: Reply("The new secret, shown this once; the old one is refused everywhere", m.ApiClientSecret)},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
    Op("PUT", "/admin/clients/{client_id}/roles", "Set an API client's roles", "admin",
       {200: Reply("API client", m.ApiClient)}, BODY + SIGNED_IN + STEP_UP + (403, 404), body=ClientRoles,
       auth=ANY_CALLER, description="Holds from the client's next request, on every web process."),
    Op("DELETE", "/admin/clients/{client_id}", "Delete an API client", "admin", {204: NO_CONTENT},
       SIGNED_IN + STEP_UP + (403, 404), auth=ANY_CALLER),
]
