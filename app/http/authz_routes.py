"""POST /authz/check: may a subject do an action on a resource? (single and batch)

The subject's roles and claims come from what the service knows: the caller itself,
a user looked up by id in Postgres, or a verified access token; never from the body.
Checking someone else by id needs an API client, the admin role or ``authz:check``.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import BaseModel, ConfigDict, Field

from app.authz.engine import Subject, subject_of
from app.authz.errors import InvalidSubjectTokenError, UnknownActionError, UnknownSubjectError
from app.authz.guards import has_permission, require_authenticated
from app.authz.principal import UserPrincipal
from app.errors import AuthError, ForbiddenError, ServiceUnavailableError, ValidationError
from app.http.appkeys import AUTHENTICATORS, SERVICES, SETTINGS
from app.http.authn import principal_of
from app.http.body import parse, read_body

routes = web.RouteTableDef()
MAX_CHECKS = 100


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubjectRef(_Model):
    id: str | None = Field(default=None, min_length=1, max_length=128)
    token: str | None = Field(default=None, min_length=1, max_length=8192)


class Resource(_Model):
    type: str = Field(min_length=1, max_length=64)
    id: str | int | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class CheckItem(_Model):
    action: str = Field(min_length=1, max_length=64)
    resource: Resource
    field: str | None = Field(default=None, max_length=64)


class CheckRequest(_Model):
    subject: SubjectRef | None = None
    action: str | None = Field(default=None, min_length=1, max_length=64)
    resource: Resource | None = None
    field: str | None = Field(default=None, max_length=64)
    checks: list[CheckItem] | None = Field(default=None, min_length=1, max_length=MAX_CHECKS)


async def _subject(request: web.Request, ref: SubjectRef | None) -> Subject:
    caller = principal_of(request)
    if ref is None or (ref.id is None and ref.token is None):
        return subject_of(caller)
    if ref.id is not None and ref.token is not None:
        raise ValidationError("Name the subject by id or by token, not both.", field="subject")
    if ref.token is not None:
        return await _token_subject(request, ref.token)
    if isinstance(caller, UserPrincipal) and ref.id == caller.id:
        return subject_of(caller)
    if caller.kind != "client" and not await has_permission(request, caller, "authz:check"):
        raise ForbiddenError("Checking another subject needs an API client, the admin role or authz:check.")
    services = request.app[SERVICES]
    async with services.sessionmaker() as session:
        user = await services.users.by_id(session, ref.id)
    if user is None or user.disabled:
        raise UnknownSubjectError("No such subject.")
    return Subject(kind="user", id=user.id, email=user.email, roles=user.roles)


async def _token_subject(request: web.Request, token: str) -> Subject:
    # Verify the token exactly as a Bearer request would be: the app's own authenticators
    # on a copy of the request carrying only that header (no cookie, no Basic).
    probe = _TokenProbe(request, token)
    for authenticate in request.app[AUTHENTICATORS]:
        try:
            found = await authenticate(probe)
        except ServiceUnavailableError:
            raise
        except AuthError as e:
            raise InvalidSubjectTokenError("The subject token is not valid.") from e
        if found is not None:
            if isinstance(found, UserPrincipal) and found.method == "bearer":
                return subject_of(found)
            break
    raise InvalidSubjectTokenError("The subject token is not valid.")


class _TokenProbe:
    """The request as an authenticator sees it, but carrying only ``Authorization: Bearer``.

    (``Request.clone`` is not possible once the body has been read.)
    """

    def __init__(self, request: web.Request, token: str) -> None:
        self._request = request
        self.headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {token}"}))
        self.cookies: dict[str, str] = {}
        self._state: dict = {}

    def __getattr__(self, name: str):
        return getattr(self._request, name)

    def __getitem__(self, key):
        return self._state[key]

    def __setitem__(self, key, value) -> None:
        self._state[key] = value

    def __contains__(self, key) -> bool:
        return key in self._state

    def get(self, key, default=None):
        return self._state.get(key, default)


def _attributes(resource: Resource) -> dict[str, Any]:
    attrs = dict(resource.attributes)
    if resource.id is not None:
        attrs.setdefault("id", resource.id)
    return attrs


@routes.post("/authz/check")
@require_authenticated()
async def check(request: web.Request) -> web.Response:
    body = parse(CheckRequest, await read_body(request))
    single = body.action is not None or body.resource is not None
    if single == (body.checks is not None) or (single and (body.action is None or body.resource is None)):
        raise ValidationError("Send either action and resource, or checks.", field="checks")
    actions = request.app[SETTINGS].authz.action_set
    items = body.checks if body.checks is not None else [
        CheckItem(action=body.action, resource=body.resource, field=body.field)]
    for i, item in enumerate(items):
        if item.action not in actions:
            raise UnknownActionError(f"Unknown action {item.action!r}; use one of: {', '.join(sorted(actions))}.",
                                     index=i)
    subject = await _subject(request, body.subject)
    view = await request.app[SERVICES].authz.decision_view(subject)
    results = [view.check(i.action, i.resource.type, _attributes(i.resource), i.field).reply() for i in items]
    if body.checks is not None:
        return web.json_response({"results": results})
    return web.json_response(results[0])
