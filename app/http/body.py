"""Reading request bodies: size, media type, JSON depth and schema, each a clear 4xx."""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from app.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError
from app.http.appkeys import SETTINGS

M = TypeVar("M", bound=pydantic.BaseModel)


# NUL cannot be stored in Postgres text and unpaired surrogates cannot be encoded
# as UTF-8: either would fail deep inside a driver, so they are refused at the door.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _DuplicateKey(ValueError):
    pass


class _NotJsonConstant(ValueError):
    pass


def _no_constant(name: str) -> Any:
    """json.loads takes NaN, Infinity and -Infinity, which RFC 8259 does not: read as numbers
    they would reach the rule engine, where NaN is in no order and escapes a deny on $gt."""
    raise _NotJsonConstant(name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """json.loads would keep the last of two equal names; a proxy, WAF or logger in front that
    keeps the first would read another request than this service acts on (RFC 8259 4, I-JSON
    RFC 7493 2.3: names MUST be unique), as the form reader refuses repeated parameters."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey()
    return obj


class UndecodableBodyError(MalformedRequestError):
    """The rest of such a body cannot be read past either, so the connection cannot carry another
    request: the reply says Connection: close (request_pipeline), or a keep-alive client would
    send its next request into a connection the server drops."""

    close_connection = True


def _depth(value: Any, limit: int) -> None:
    """Refuse nesting deeper than ``limit`` and strings no store can hold."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise MalformedRequestError(f"JSON nested deeper than {limit} levels.")
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                raise ValidationError("Strings must not contain NUL characters or unpaired surrogates.")
        elif isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


async def read_body(request: web.Request, *, form_ok: bool = False) -> dict:
    """The body as a dict: JSON (or, where allowed, a urlencoded form)."""
    http = request.app[SETTINGS].http
    if request.content_length is not None and request.content_length > http.max_body_bytes:
        raise PayloadTooLargeError(f"Bodies are limited to {http.max_body_bytes} bytes.")
    ctype = request.content_type
    if form_ok and ctype == "application/x-www-form-urlencoded":
        raw = await _read(request, http.max_body_bytes)
        from urllib.parse import parse_qsl

        try:
            pairs = parse_qsl(raw.decode("utf-8", errors="strict"), keep_blank_values=True,
                              strict_parsing=False, errors="strict")
        except UnicodeDecodeError as e:
            raise MalformedRequestError("The form is not valid UTF-8.") from e
        form = dict(pairs)
        if len(form) != len(pairs):
            # RFC 6749 3.2: no parameter twice. Taking one of them would let a proxy or WAF
            # in front and this service read two different requests.
            repeated = sorted(name for name, n in Counter(name for name, _ in pairs).items() if n > 1)
            raise ValidationError("A form parameter is repeated.",
                                  errors=[{"field": name[:64], "message": "repeated"} for name in repeated[:20]])
        _depth(form, http.max_json_depth)
        return form
    if ctype != "application/json" and not (ctype == "application/octet-stream" and not request.body_exists):
        raise UnsupportedMediaTypeError("Send a JSON body with Content-Type: application/json.")
    raw = await _read(request, http.max_body_bytes)
    try:
        # RFC 8259: JSON between systems is UTF-8; other encodings json.loads would guess are refused.
        data = json.loads((raw or b"null").decode("utf-8"), object_pairs_hook=_unique_keys,
                          parse_constant=_no_constant)
    except _DuplicateKey as e:
        raise MalformedRequestError("A JSON object names a member twice.") from e
    except _NotJsonConstant as e:
        raise MalformedRequestError("NaN and Infinity are not JSON numbers.") from e
    except (ValueError, RecursionError) as e:
        raise MalformedRequestError("The body is not valid UTF-8 JSON.") from e
    _depth(data, http.max_json_depth)
    if not isinstance(data, dict):
        raise MalformedRequestError("The body must be a JSON object.")
    return data


async def _read(request: web.Request, limit: int) -> bytes:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise PayloadTooLargeError(f"Bodies are limited to {limit} bytes.") from e
    except web.RequestPayloadError as e:
        # aiohttp decodes a Content-Encoding (and chunked framing) as the body is read: bytes
        # that are not what the headers say are the client's error, not a 500.
        raise UndecodableBodyError("The body could not be decoded as its headers describe it.") from e
    if len(raw) > limit:
        raise PayloadTooLargeError(f"Bodies are limited to {limit} bytes.")
    return raw


def parse(model: type[M], data: dict) -> M:
    """Validate ``data``; errors name the fields but never echo the input (it may be a password)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        errors = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in e.errors()]
        raise ValidationError("The request body has invalid fields.", errors=errors) from e


async def read_model(request: web.Request, model: type[M], *, form_ok: bool = False) -> M:
    return parse(model, await read_body(request, form_ok=form_ok))
