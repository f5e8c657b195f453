"""Route guards: handlers declare what they need; one middleware enforces it.

A route under /admin/ without guard metadata is refused (403), so forgetting a
guard closes the door instead of opening it. Roles are checked with inheritance
(an ``ops`` role inheriting ``admin`` passes ``@require_roles("admin")``), and a
permission guard passes for the admin role or a matching permission (wildcards).
"""
from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from app.authz.engine import subject_of
from app.authz.permissions import PermissionSet
from app.authz.principal import ANONYMOUS
from app.errors import ForbiddenError, UnauthenticatedError
from app.http.appkeys import AUTH_FAILURE, PRINCIPAL, SERVICES
from app.http.stepup import ensure_recent_auth

GUARD_ATTR = "__auth_guard__"
PROTECTED_PREFIXES = ("/admin/",)
ADMIN_ROLE = "admin"


class Guard:
    def __init__(self, *, roles: frozenset[str] = frozenset(), permission: str | None = None) -> None:
        self.roles = roles
        self.permission = permission

    async def check(self, request: web.Request) -> None:
        principal = request.get(PRINCIPAL, ANONYMOUS)
        if not principal.is_authenticated:
            failure = request.get(AUTH_FAILURE)
            raise failure if isinstance(failure, UnauthenticatedError) else UnauthenticatedError()
        if not self.roles and not self.permission:
            return
        roles, permissions = await effective(request, principal)
        if self.roles and not self.roles.intersection(roles):
            raise ForbiddenError("This route needs one of the roles: " + ", ".join(sorted(self.roles)))
        # The admin role may use every route; anyone else needs the named permission.
        if self.permission and ADMIN_ROLE not in roles and not permissions.allows(self.permission):
            raise ForbiddenError(f"This route needs the permission {self.permission}.")


async def effective(request: web.Request, principal) -> tuple[frozenset[str], PermissionSet]:
    """The caller's roles, inherited ones included, and their permissions (current policy version)."""
    services = request.app.get(SERVICES)
    authorizer = services.authz if services is not None else None
    if authorizer is None:
        return frozenset(principal.roles), PermissionSet()
    view = await authorizer.view(subject_of(principal))
    return view.roles, view.permissions


async def has_permission(request: web.Request, principal, permission: str) -> bool:
    roles, permissions = await effective(request, principal)
    return ADMIN_ROLE in roles or permissions.allows(permission)


def _mark(guard: Guard) -> Callable:
    def decorate(handler: Callable) -> Callable:
        setattr(handler, GUARD_ATTR, guard)
        return handler
    return decorate


def require_roles(*roles: str) -> Callable:
    return _mark(Guard(roles=frozenset(roles)))


def require_permission(permission: str) -> Callable:
    return _mark(Guard(permission=permission))


def require_authenticated() -> Callable:
    return _mark(Guard())


async def check_guard(request: web.Request) -> None:
    """Enforce the matched route's guard; an unguarded protected route is refused."""
    route_handler = request.match_info.handler
    guard = getattr(route_handler, GUARD_ATTR, None)
    if guard is not None:
        await guard.check(request)
    elif request.path.startswith(PROTECTED_PREFIXES) and request.match_info.http_exception is None:
        raise ForbiddenError("This route has no guard; refusing by default.")
    if request.path.startswith(PROTECTED_PREFIXES) and request.match_info.http_exception is None:
        # Admin actions need a recent login too (step-up), whoever added the route.
        ensure_recent_auth(request)
