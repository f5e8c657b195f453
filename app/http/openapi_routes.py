"""GET /openapi.json: the OpenAPI 3.1 document, encoded once per app."""
from __future__ import annotations

import json

from aiohttp import web

from app.openapi.document import build_document
from app.settings import Settings

routes = web.RouteTableDef()
OPENAPI_BODY = web.AppKey("openapi_body", bytes)


def encoded_document(settings: Settings) -> bytes:
    return json.dumps(build_document(settings)).encode()


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_BODY], content_type="application/json")
