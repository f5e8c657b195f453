"""/admin/clients: administering API clients (service accounts).

A secret appears in exactly two replies, creation and rotation, and nowhere else
(not in listings, not in events). Rotation, role changes and deletion take effect
on every web process at the client's next request (ClientManager publishes
``c:<client_id>``). Guards: ``clients:read`` / ``clients:write``; the admin role
passes both, and /admin routes need a recent login (checked centrally).

A caller without the admin role may only hand a client roles it holds itself
(inherited ones included), and may only rotate, strip or delete a client whose
roles it holds: ``clients:write`` must not be a way to mint or take over an API
client more powerful than its holder, nor to cut one off.
"""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from app.authz.guards import require_permission
from app.clients.manager import NAME_MAX, ROLES_MAX
from app.clients.repository import ClientSummary
from app.clock import rfc3339
from app.http.admin import actor_of, ensure_may_grant, grant_check
from app.http.appkeys import SERVICES
from app.http.body import read_model
from app.http.clientinfo import client_info

routes = web.RouteTableDef()


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX)
    roles: list[str] = Field(default_factory=list, max_length=ROLES_MAX)


class ClientRoles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(max_length=ROLES_MAX)


def client_json(c: ClientSummary) -> dict:
    return {"client_id": c.client_id, "name": c.name, "roles": list(c.roles), "disabled": c.disabled,
            "created_at": rfc3339(c.created_at.timestamp()),
            "secret_rotated_at": rfc3339(c.secret_rotated_at.timestamp())}


def _clients(request: web.Request):
    return request.app[SERVICES].clients


@routes.get("/admin/clients")
@require_permission("clients:read")
async def list_clients(request: web.Request) -> web.Response:
    return web.json_response({"clients": [client_json(c) for c in await _clients(request).list_clients()]})


@routes.post("/admin/clients")
@require_permission("clients:write")
async def create_client(request: web.Request) -> web.Response:
    body = await read_model(request, ClientCreate)
    await ensure_may_grant(request, body.roles)
    actor = actor_of(request)
    created = await _clients(request).create(body.name, tuple(body.roles), client_info(request), actor=actor,
                                             create_missing_roles=False)
    return web.json_response({"client_id": created.client_id, "name": created.name, "roles": list(created.roles),
                              "client_secret": created.secret}, status=201,
                             headers={"Cache-Control": "no-store"})


@routes.get("/admin/clients/{client_id}")
@require_permission("clients:read")
async def get_client(request: web.Request) -> web.Response:
    return web.json_response(client_json(await _clients(request).get(request.match_info["client_id"])))


@routes.post("/admin/clients/{client_id}/secret")
@require_permission("clients:write")
async def rotate_secret(request: web.Request) -> web.Response:
    client_id = request.match_info["client_id"]
    # No lookup first, as for DELETE: a 404 must come from the manager, which announces it.
    # The new secret carries the client's roles: the caller's hold on them is checked at the commit.
    secret = await _clients(request).rotate_secret(client_id, client_info(request), actor=actor_of(request),
                                                   may_touch=await grant_check(request))
    return web.json_response({"client_id": client_id, "client_secret": secret},
                             headers={"Cache-Control": "no-store"})


@routes.put("/admin/clients/{client_id}/roles")
@require_permission("clients:write")
async def set_roles(request: web.Request) -> web.Response:
    body = await read_model(request, ClientRoles)
    clients = _clients(request)
    current = await clients.get(request.match_info["client_id"])
    check = await grant_check(request)
    check(set(body.roles) ^ set(current.roles))  # added or taken away; again as they are at the commit
    updated = await clients.set_roles(current.client_id, body.roles, client_info(request), actor=actor_of(request),
                                      may_touch=check)
    return web.json_response(client_json(updated))


@routes.delete("/admin/clients/{client_id}")
@require_permission("clients:write")
async def delete_client(request: web.Request) -> web.Response:
    # No lookup first: the admin's retry of a delete that committed and then failed (503)
    # finds no client, and only ClientManager.delete announces that 404 to every process.
    # The caller's hold on the client's roles is checked at the commit.
    await _clients(request).delete(request.match_info["client_id"], client_info(request), actor=actor_of(request),
                                   may_touch=await grant_check(request))
    return web.Response(status=204)
