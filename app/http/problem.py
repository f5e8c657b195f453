"""problem+json (RFC 9457) replies."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBLEM_TYPE_BASE = "https://authsvc.dev/problems/"
CONTENT_TYPE = "application/problem+json"


def problem_response(*, status: int, code: str, title: str, detail: str = "",
                     headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    body = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status,
            "detail": detail or title, "code": code, **extra}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type=CONTENT_TYPE, headers=headers)
