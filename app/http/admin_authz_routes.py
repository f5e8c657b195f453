"""/admin/roles, /admin/users/{id}/roles, /admin/policies: administering authorization.

Each route names its permission; the admin role passes all of them.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from app.authz.engine import Subject
from app.authz.manager import PAGE_MAX
from app.authz.models import Policy
from app.authz.repository import RoleRow
from app.authz.guards import require_permission
from app.clock import rfc3339
from app.errors import ValidationError
from app.http.admin import actor_of, ensure_may_grant, grant_check
from app.http.admin_user_routes import path_user_id
from app.http.appkeys import SERVICES
from app.http.body import read_model

routes = web.RouteTableDef()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleCreate(_Model):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=1000)
    permissions: list[str] = Field(default_factory=list, max_length=200)
    parents: list[str] = Field(default_factory=list, max_length=200)


class PermissionsBody(_Model):
    permissions: list[str] = Field(max_length=200)


class ParentsBody(_Model):
    parents: list[str] = Field(max_length=200)


class RolesBody(_Model):
    roles: list[str] = Field(max_length=200)


class OneRole(_Model):
    role: str = Field(min_length=1, max_length=64)


class PolicyCreate(_Model):
    effect: Any = None
    action: Any = None
    subject_type: Any = None
    conditions: Any = None
    fields: Any = None
    role: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=1000)


def _admin(request: web.Request):
    return request.app[SERVICES].authz_admin


def role_json(role: RoleRow) -> dict:
    return {"name": role.name, "description": role.description, "permissions": list(role.permissions),
            "parents": list(role.parents)}


def policy_json(p: Policy) -> dict:
    return {"id": str(p.id), "effect": p.effect, "action": p.action, "subject_type": p.subject_type,
            "conditions": p.conditions, "fields": p.fields, "role": p.role_name,
            "user_id": str(p.user_id) if p.user_id else None, "description": p.description,
            "created_at": rfc3339(p.created_at.timestamp()) if p.created_at else None}


@routes.get("/admin/roles")
@require_permission("roles:read")
async def list_roles(request: web.Request) -> web.Response:
    return web.json_response({"roles": [role_json(r) for r in await _admin(request).list_roles()]})


@routes.post("/admin/roles")
@require_permission("roles:write")
async def create_role(request: web.Request) -> web.Response:
    body = await read_model(request, RoleCreate)
    role = await _admin(request).create_role(body.name, description=body.description,
                                             permissions=body.permissions, parents=body.parents,
                                             actor=actor_of(request))
    return web.json_response(role_json(role), status=201)


@routes.get("/admin/roles/{name}")
@require_permission("roles:read")
async def get_role(request: web.Request) -> web.Response:
    role = await _admin(request).get_role(request.match_info["name"])
    view = await request.app[SERVICES].authz.view(Subject(kind="role", id="", email=None, roles=(role.name,)))
    return web.json_response({**role_json(role), "effective_roles": sorted(view.roles),
                              "effective_permissions": list(view.permissions)})


@routes.delete("/admin/roles/{name}")
@require_permission("roles:write")
async def delete_role(request: web.Request) -> web.Response:
    await _admin(request).delete_role(request.match_info["name"], actor_of(request))
    return web.Response(status=204)


@routes.put("/admin/roles/{name}/permissions")
@require_permission("roles:write")
async def set_permissions(request: web.Request) -> web.Response:
    body = await read_model(request, PermissionsBody)
    role = await _admin(request).set_permissions(request.match_info["name"], body.permissions, actor_of(request))
    return web.json_response(role_json(role))


@routes.put("/admin/roles/{name}/parents")
@require_permission("roles:write")
async def set_parents(request: web.Request) -> web.Response:
    body = await read_model(request, ParentsBody)
    role = await _admin(request).set_parents(request.match_info["name"], body.parents, actor_of(request))
    return web.json_response(role_json(role))


async def _user_roles_reply(request: web.Request, user_id: str, roles: tuple[str, ...]) -> web.Response:
    view = await request.app[SERVICES].authz.view(Subject(kind="user", id=user_id, email=None, roles=roles))
    return web.json_response({"user_id": user_id, "roles": list(roles), "effective_roles": sorted(view.roles),
                              "permissions": list(view.permissions)})


@routes.get("/admin/users/{id}/roles")
@require_permission("user_roles:read")
async def get_user_roles(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    return await _user_roles_reply(request, user_id, await _admin(request).user_roles(user_id))


@routes.put("/admin/users/{id}/roles")
@require_permission("user_roles:write")
async def put_user_roles(request: web.Request) -> web.Response:
    body = await read_model(request, RolesBody)
    user_id = path_user_id(request)
    current = await _admin(request).user_roles(user_id)
    check = await grant_check(request)
    check(set(body.roles) ^ set(current))  # again on the roles as they are at the commit
    roles = await _admin(request).set_user_roles(user_id, body.roles, actor_of(request), may_touch=check)
    return await _user_roles_reply(request, user_id, roles)


@routes.post("/admin/users/{id}/roles")
@require_permission("user_roles:write")
async def add_user_role(request: web.Request) -> web.Response:
    body = await read_model(request, OneRole)
    user_id = path_user_id(request)
    await ensure_may_grant(request, [body.role])
    roles = await _admin(request).set_user_roles(user_id, [body.role], actor_of(request), mode="add")
    return await _user_roles_reply(request, user_id, roles)


@routes.delete("/admin/users/{id}/roles/{role}")
@require_permission("user_roles:write")
async def remove_user_role(request: web.Request) -> web.Response:
    await ensure_may_grant(request, [request.match_info["role"]])
    await _admin(request).set_user_roles(path_user_id(request), [request.match_info["role"]],
                                         actor_of(request), mode="remove")
    return web.Response(status=204)


@routes.get("/admin/policies")
@require_permission("policies:read")
async def list_policies(request: web.Request) -> web.Response:
    page = await _admin(request).list_policies(role=request.query.get("role"), user_id=request.query.get("user_id"),
                                               limit=_limit(request), after=request.query.get("after"))
    return web.json_response({"policies": [policy_json(p) for p in page.policies], "next": page.next})


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return PAGE_MAX
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= PAGE_MAX:
        raise ValidationError(f"limit is a whole number from 1 to {PAGE_MAX}.", field="limit")
    return int(raw)


@routes.post("/admin/policies")
@require_permission("policies:write")
async def create_policy(request: web.Request) -> web.Response:
    body = await read_model(request, PolicyCreate)
    policy = await _admin(request).create_policy(
        effect=body.effect, action=body.action, subject_type=body.subject_type, conditions=body.conditions,
        fields=body.fields, role=body.role, user_id=body.user_id, description=body.description,
        actor=actor_of(request))
    return web.json_response(policy_json(policy), status=201)


@routes.get("/admin/policies/{id}")
@require_permission("policies:read")
async def get_policy(request: web.Request) -> web.Response:
    return web.json_response(policy_json(await _admin(request).get_policy(request.match_info["id"])))


@routes.delete("/admin/policies/{id}")
@require_permission("policies:write")
async def delete_policy(request: web.Request) -> web.Response:
    await _admin(request).delete_policy(request.match_info["id"], actor_of(request))
    return web.Response(status=204)
