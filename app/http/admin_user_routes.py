"""/admin/users/{id}/logout, /disable, /enable: ending what a user holds.

Logout and disable reply 202 once every session and token of the user is
rejected (the revocation epoch is set in the request); the clean-up fan-out
runs in a worker under the returned task id.
"""
from __future__ import annotations

import uuid

from aiohttp import web

from app.accounts.forced_logout import Actor
from app.authz.guards import require_permission
from app.errors import NotFoundError
from app.http.admin import account_check
from app.http.appkeys import SERVICES
from app.http.authn import principal_of
from app.http.clientinfo import client_info

routes = web.RouteTableDef()


def _actor(request: web.Request) -> Actor:
    return Actor(id=principal_of(request).id, client=client_info(request))


def path_user_id(request: web.Request) -> str:
    """The ``{id}`` path parameter, canonical: Postgres matches any spelling of a UUID
    (upper case, no hyphens, braces, urn:uuid:) but Redis keys and events match one.

    :raises NotFoundError: not a UUID, so no user has it.
    """
    try:
        return str(uuid.UUID(request.match_info["id"]))
    except ValueError:
        raise NotFoundError("No such user.") from None


@routes.post("/admin/users/{id}/logout")
@require_permission("users:logout")
async def force_logout(request: web.Request) -> web.Response:
    task_id = await request.app[SERVICES].forced_logout.force(
        path_user_id(request), _actor(request), may_act_on=await account_check(request))
    return web.json_response({"task_id": task_id}, status=202)


@routes.post("/admin/users/{id}/disable")
@require_permission("users:disable")
async def disable_user(request: web.Request) -> web.Response:
    task_id = await request.app[SERVICES].forced_logout.disable(
        path_user_id(request), _actor(request), may_act_on=await account_check(request))
    return web.json_response({"task_id": task_id}, status=202)


@routes.post("/admin/users/{id}/enable")
@require_permission("users:disable")
async def enable_user(request: web.Request) -> web.Response:
    await request.app[SERVICES].forced_logout.enable(
        path_user_id(request), _actor(request), may_act_on=await account_check(request))
    return web.Response(status=204)
