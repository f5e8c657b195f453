"""Path and query parameters no store can hold (NUL, unpaired surrogates) are
refused before any handler passes them to Postgres, where they would fail as a 500."""
from __future__ import annotations

import re

from aiohttp import web

from app.errors import NotFoundError, ValidationError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_url_params(request: web.Request) -> None:
    """:raises NotFoundError: a path parameter no resource can be named by.
    :raises ValidationError: such a query parameter."""
    match_info = request.match_info
    if match_info:
        for value in match_info.values():
            if _UNSTORABLE.search(value):
                raise NotFoundError("No such resource.")
    if request.query_string:
        for name, value in request.query.items():
            if _UNSTORABLE.search(name) or _UNSTORABLE.search(value):
                raise ValidationError("Query parameters must not contain NUL or unpaired surrogates.")
