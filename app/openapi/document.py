"""Builds the OpenAPI 3.1 document from the catalogue; schemas come from pydantic."""
from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.openapi import models as m
from app.openapi.catalogue import OPERATIONS, Op, Param, Reply
from app.settings import Settings

REF = "#/components/schemas/{model}"
PROBLEM_TYPE = "application/problem+json"
_PARAM = re.compile(r"{([^}/]+)}")

PROBLEM_CODES = {
    400: "malformed_request, invalid_request, invalid_grant, unsupported_grant_type, mfa_required",
    401: "unauthenticated, session_expired, invalid_credentials, invalid_token, reauthentication_required, "
         "invalid_mfa_code, mfa_token_invalid, invalid_client",
    403: "csrf_failed, forbidden, cors_refused, insecure_transport",
    404: "not_found",
    409: "conflict, mfa_already_enabled, mfa_not_enabled, mfa_setup_not_started",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request, weak_password, unknown_role",
    429: "too_many_attempts",
    503: "service_unavailable, overloaded, mfa_not_configured",
}


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for op in OPERATIONS:
        if op.body is not None:
            found[op.body.__name__] = op.body
        for reply in op.ok.values():
            for model in _as_tuple(reply.model):
                found[model.__name__] = model
    found["Problem"] = m.Problem
    return list(found.values())


def _as_tuple(model) -> tuple:
    if model is None:
        return ()
    return model if isinstance(model, tuple) else (model,)


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def _content(reply: Reply) -> dict | None:
    models = _as_tuple(reply.model)
    if not models:
        if reply.media_type == "application/json":
            return None
        return {reply.media_type: {"schema": {"type": "string"}}}
    schema = _ref(models[0]) if len(models) == 1 else {"oneOf": [_ref(x) for x in models]}
    return {reply.media_type: {"schema": schema}}


def _operation(op: Op) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, reply in op.ok.items():
        entry: dict[str, Any] = {"description": reply.description}
        content = _content(reply)
        if content:
            entry["content"] = content
        responses[str(status)] = entry
    for status in op.statuses:
        entry = {"description": f"{HTTPStatus(status).phrase}: `code` one of {PROBLEM_CODES.get(status, '')}",
                 "content": {PROBLEM_TYPE: {"schema": _ref(m.Problem)}}}
        if status == 429 or status == 503:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
        responses[str(status)] = entry
    out: dict[str, Any] = {"operationId": _operation_id(op), "summary": op.summary, "tags": [op.tag],
                           "responses": responses}
    if op.description:
        out["description"] = op.description
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
              for name in _PARAM.findall(op.path)]
    params += [_query_param(q) for q in op.query]
    if params:
        out["parameters"] = params
    if op.body is not None:
        content = {"application/json": {"schema": _ref(op.body)}}
        if op.form:
            content["application/x-www-form-urlencoded"] = {"schema": _ref(op.body)}
        out["requestBody"] = {"required": True, "content": content}
    out["security"] = [{name: []} for name in op.auth] if op.auth else []
    return out


def _query_param(param: str | Param) -> dict[str, Any]:
    if isinstance(param, str):
        return {"name": param, "in": "query", "required": False, "schema": {"type": "string"}}
    out = {"name": param.name, "in": "query", "required": False, "schema": param.schema}
    if param.description:
        out["description"] = param.description
    return out


def _operation_id(op: Op) -> str:
    words = re.sub(r"[{}]", "", op.path).strip("/").replace("/", "_").replace("-", "_").replace(".", "_")
    return f"{op.method.lower()}_{words or 'root'}"


def build_document(settings: Settings) -> dict[str, Any]:
    _, defs = models_json_schema([(model, "validation") for model in _models()], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "authsvc", "version": "1",
                 "description": "Self-hosted authentication and session service. Errors are "
                                "application/problem+json (RFC 9457) with a stable `code`. Cookie-authenticated "
                                "unsafe requests need the session's `X-CSRF-Token` header."},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in ("sessions", "mfa", "tokens", "authz", "admin", "operations")],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": settings.cookie.name},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basic": {"type": "http", "scheme": "basic", "description": "API clients: client_id:secret"},
            },
        },
    }
