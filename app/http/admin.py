"""What the /admin route modules share: who is acting, and what they may hand out."""
from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from app.authz.guards import ADMIN_ROLE, effective
from app.authz.names import RolesCheck
from app.authz.manager import Actor
from app.errors import ForbiddenError
from app.http.authn import principal_of
from app.http.clientinfo import client_info


def actor_of(request: web.Request) -> Actor:
    """The caller, as recorded in the events an admin change emits."""
    principal = principal_of(request)
    info = client_info(request)
    return Actor(kind=principal.kind, id=principal.id, ip=info.ip, user_agent=info.user_agent)


async def grant_check(request: web.Request) -> RolesCheck:
    """A permission to administer roles is not a way to gain more: a caller without
    the admin role may only grant or take away roles it holds itself (inherited included).
    Returns that check for the caller, to run on roles as often as needed (inside a change's
    transaction, too: see app.authz.names.RolesCheck).

    The check raises ForbiddenError naming the roles beyond the caller's own.
    """
    return await _within_own_roles(request, "You may only grant roles you hold yourself")


async def account_check(request: web.Request) -> RolesCheck:
    """Nor is a permission to log users out, disable or enable them a way to act on accounts
    more powerful than the caller: without the admin role, only on an account whose roles
    the caller holds itself (so a helpdesk role cannot disable the admins). Run it on the
    account's roles as the change commits (``RolesCheck``)."""
    return await _within_own_roles(request, "You may only act on accounts whose roles you hold yourself")


async def _within_own_roles(request: web.Request, refusal: str) -> RolesCheck:
    held, _ = await effective(request, principal_of(request))

    def check(roles: Iterable[str]) -> None:
        if ADMIN_ROLE in held:
            return
        beyond = sorted(set(roles) - held)
        if beyond:
            raise ForbiddenError(f"{refusal}: {', '.join(beyond)}.", roles=beyond)

    return check


async def ensure_may_grant(request: web.Request, roles: Iterable[str]) -> None:
    """:raises ForbiddenError: ``roles`` are beyond the caller's own (``grant_check``)."""
    (await grant_check(request))(roles)
