"""Hostile requests against EVERY operation of GET /openapi.json, as an anonymous caller,
a signed-in cookie user (valid CSRF token) and an admin (cookie, recent login), with
hostile path parameters, query strings, bodies and header bytes (raw sockets: non-UTF-8
header bytes, duplicate keys, NaN/Infinity literals, 10**400, unpaired surrogates).

Invariant 5 (DESIGN.md): never a 500; every 4xx/5xx is application/problem+json with
type/title/status/detail/code; and an error reply leaves Postgres as it was.

Bounded and deterministic: hypothesis with derandomize=True, no database, no shrinking;
every failure is collected (with the server's traceback site) and reported at the end.
"""
from __future__ import annotations

import base64
import json
import math
import urllib.parse
import uuid

from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from app.authz.manager import Actor
from app.mfa.secretbox import new_data_key
from app.sessions.manager import ClientInfo
from tests.integration.fuzz.wire import Served, problems_of, send
from tests.support.browser import STRONG_PASSWORD, new_email

EXAMPLES = {"anonymous": 8, "user": 20, "admin": 30}
COOKIE = "__Host-id"
METHODS = ("get", "post", "put", "delete", "patch")


def fuzz_settings(make_settings):
    return make_settings(
        password={"time_cost": 1, "memory_kib": 1024},
        security={"data_key": new_data_key(), "reauth_window_s": 3600},
        throttle={"account_free_failures": 10**6, "ip_free_failures": 10**6},
        http={"allow_insecure_basic": True, "trusted_proxies": "127.0.0.1"})


# --- JSON text with what json.dumps will not write ---------------------------------------

class Raw:
    """A literal JSON token written as is (10**400 digits, NaN, -Infinity, 1e999...)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


class Dup:
    """An object with duplicate keys."""

    def __init__(self, pairs: list) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"Dup({self.pairs!r})"[:200]


def dump(value) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Dup):
        return "{" + ",".join(json.dumps(str(k)) + ":" + dump(v) for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)  # strings: ensure_ascii, so "\ud800" goes out as its escape


def form(value: dict) -> bytes:
    pairs = []
    for k, v in value.items():
        s = v if isinstance(v, str) else dump(v)
        pairs.append(urllib.parse.quote(str(k), safe="", errors="surrogatepass") + "="
                     + urllib.parse.quote(s, safe="", errors="surrogatepass"))
    return "&".join(pairs).encode()


class Doc(dict):
    """The OpenAPI document (a short repr: hypothesis prints its strategies' arguments)."""

    def __repr__(self) -> str:
        return "Doc(openapi.json)"


class Op(dict):
    def __repr__(self) -> str:
        return f"Op({self.get('operationId')})"


class World:
    """What exists on the server: fixture users, a role, a policy, clients, tokens."""

    def __repr__(self) -> str:
        return "World()"

    def __init__(self, server: Served) -> None:
        self.server = server
        s = server.services
        reg = lambda email, roles=(): server.run(s.accounts.register(email, STRONG_PASSWORD, ClientInfo(), roles=roles))
        self.victim_email = new_email()
        self.victim_id = reg(self.victim_email, ("fuzzrole",)).id
        self.policy_id = str(server.run(s.authz_admin.create_policy(
            effect="allow", action="read", subject_type="post", conditions={"owner": "${user.id}"}, fields=None,
            role="fuzzrole", user_id=None, description="", actor=Actor(kind="user", id="fixture"))).id)
        self.admin_client = server.run(s.clients.create("fuzz admin client", ("admin",), ClientInfo()))
        self.target_client = server.run(s.clients.create("fuzz target", ("fuzzrole",), ClientInfo()))
        self.callers = {"anonymous": Caller(server, None), "user": Caller(server, new_email()),
                        "admin": Caller(server, new_email(), roles=("admin",))}
        for caller in self.callers.values():
            caller.register()
        user = self.callers["user"]
        token = send(server.port, b"POST", b"/auth/token", [(b"Content-Type", b"application/json")], json.dumps(
            {"grant_type": "password", "username": user.email, "password": STRONG_PASSWORD}).encode())
        assert token.status == 200, token.body
        self.bearer = token.json()["access_token"].encode()
        self.refresh = token.json()["refresh_token"]
        self.basic = base64.b64encode(f"{self.admin_client.client_id}:{self.admin_client.secret}".encode())

    def heal(self) -> None:
        """Put back what a successful admin DELETE took away (the fixtures the templates name)."""
        from app.errors import NotFoundError

        s = self.server.services

        async def fix() -> None:
            async with s.sessionmaker() as session, session.begin():
                await s.users.grant_role(session, self.victim_id, "fuzzrole")
            try:
                await s.authz_admin.get_policy(self.policy_id)
            except NotFoundError:
                self.policy_id = str((await s.authz_admin.create_policy(
                    effect="allow", action="read", subject_type="post", conditions=None, fields=None,
                    role="fuzzrole", user_id=None, description="", actor=Actor(kind="user", id="fixture"))).id)
            try:
                await s.clients.get(self.target_client.client_id)
            except NotFoundError:
                self.target_client = await s.clients.create("fuzz target", ("fuzzrole",), ClientInfo())
        self.server.run(fix())

    # Path parameter values: hostile ones, and ones that name something real (never the
    # admin caller or its role, so the fuzz cannot lock itself out).
    def path_values(self, name: str) -> list[bytes]:
        hostile = [b"", b"%00", b"%ff%fe", b"%ed%a0%80", b"%0A", b"a%0A", b"..", b"%2e%2e%2f", b"a" * 300,
                   b"%C3%A9", b"%E2%80%AE", b"NaN", b"-1", b"1e400", b"9" * 400, b"%20", b"%25", b"*",
                   b"null", b"%7B%7D", b"x;y=1", b"fuzzrole%0A", b"a" * 64 + b"%0A"]
        real = {
            "id": [self.victim_id.encode(), self.victim_id.upper().encode(), self.victim_id.replace("-", "").encode(),
                   b"%7B" + self.victim_id.encode() + b"%7D", b"urn:uuid:" + self.victim_id.encode(),
                   self.policy_id.encode(), self.policy_id.upper().encode(), str(uuid.uuid4()).encode()],
            "name": [b"fuzzrole", b"FUZZROLE", b"fuzzrole.", b"nosuchrole", b"a" * 64, b"a" * 65],
            "role": [b"fuzzrole", b"nosuchrole", b"a" * 65, b"x%2Cy"],
            "client_id": [self.target_client.client_id.encode(), self.target_client.client_id.upper().encode(),
                          b"cl_" + b"A" * 22, b"cl_" + b"A" * 21 + b"%0A"],
            "handle": [b"A" * 16, b"A" * 15 + b"%0A", b"%ff" * 16],
        }.get(name, [])
        return hostile + real


class Caller:
    def __init__(self, server: Served, email: str | None, roles: tuple[str, ...] = ()) -> None:
        self.server, self.email, self.roles = server, email, roles
        self.sid: str | None = None
        self.csrf: str | None = None
        self.handle: str | None = None
        self.dirty = True

    def register(self) -> None:
        if self.email is not None:
            self.server.run(self.server.services.accounts.register(self.email, STRONG_PASSWORD, ClientInfo(),
                                                                   roles=self.roles))

    def ensure(self) -> None:
        if self.email is None or not self.dirty:
            return
        reply = send(self.server.port, b"POST", b"/auth/login", [(b"Content-Type", b"application/json")],
                     json.dumps({"email": self.email, "password": STRONG_PASSWORD}).encode())
        assert reply.status == 200, (self.email, reply.status, reply.body[:300])
        body = reply.json()
        self.csrf, self.handle = body["csrf_token"], body["session"]["handle"]
        self.sid = next(c.split(";")[0].split("=", 1)[1] for c in reply.set_cookies if c.startswith(COOKIE + "="))
        self.dirty = False

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self.email is None:
            return []
        return [(b"Cookie", f"{COOKIE}={self.sid}".encode()), (b"X-CSRF-Token", self.csrf.encode())]

    def after(self, reply) -> None:
        # A logout, a session ended by handle, a rotated id or a refused credential: log in again.
        if reply.status == 401 or reply.status < 0 or any(c.startswith(COOKIE + "=") for c in reply.set_cookies):
            self.dirty = True
        elif 200 <= reply.status < 300:
            self.dirty = True if reply.status == 204 else self.dirty


# --- strategies ---------------------------------------------------------------------------

def hostile_strings(world: World) -> st.SearchStrategy[str]:
    fixed = ["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\n", "a" * 70_000, "a" * 5000, "a" * 65,
             "a" * 64 + "\n", "post\n", "read\n", "fuzzrole\n", "é", "\u202e", "\ufdfa" * 300, "ß" * 320 + "@x.io",
             "ﬃ" * 200, "${user.id}", "${user.roles}", "${nope}", "$gt", "../../etc/passwd", "' OR 1=1 --",
             "%s%n", "NaN", "1e400", "-1", "true", "null", "admin", "fuzzrole", "nosuchrole", "*", "*:*",
             "posts:read\n", "read", "update", "manage", "allow", "deny", "post", "all", "password", "refresh_token",
             "urn:authsvc:grant-type:mfa", "123456", "abcd-efgh-jkmn-pqrs", "A" * 43, "a.b.c", world.refresh,
             world.bearer.decode(), world.victim_id, world.victim_id.upper(), "{" + world.victim_id + "}",
             "urn:uuid:" + world.victim_id, world.policy_id, world.target_client.client_id,
             world.victim_email, world.victim_email.upper() + " ", "access_token", "refresh_token"]
    return st.one_of(st.sampled_from(fixed), st.text(max_size=40))


def hostile_numbers() -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from([Raw("1" + "0" * 400), Raw("-" + "9" * 4000), Raw("1e400"), Raw("-1e999"), Raw("NaN"),
                         Raw("Infinity"), Raw("-Infinity"), Raw("1e-400"), Raw("-0"), Raw("0.0"), 2**63, -2**63 - 1,
                         2**64, 10**300, 1.7976931348623157e308, 5e-324, 0, -1, 1.5]),
        st.integers(), st.floats(allow_nan=True, allow_infinity=True))


def hostile_json(world: World, max_leaves: int = 12) -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), hostile_numbers(), hostile_strings(world))
    nested = st.sampled_from([Raw("[" * 3000 + "]" * 3000), Raw('{"a":' * 40 + "1" + "}" * 40),
                              [0] * 500, {f"k{i}": i for i in range(300)},
                              Dup([("a", 1), ("a", {"$ne": None})])])
    conditions = st.sampled_from([
        {"owner": "${user.id}"}, {"x": {"$gt": Raw("1" + "0" * 400)}}, {"x": {"$in": [Raw("NaN")]}},
        {"x": {"$in": list(range(101))}}, {"$or": []}, {"$and": [{}]}, {"$not": {"$not": {"a": 1}}},
        {"a\n": 1}, {"x": {"$eq": "${user.roles}"}}, {"x": {"$all": "${user.roles}"}}, {"x": {}},
        {"$where": "1"}, {"x": {"$gt": 10**300}}, {"x": "a" * 300}, {"x": {"$lt": True}}])
    return st.recursive(st.one_of(scalars, nested, conditions),
                        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                st.dictionaries(hostile_strings(world), inner, max_size=4)),
                        max_leaves=max_leaves)


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def shaped(doc: dict, schema: dict, world: World, depth: int = 0) -> st.SearchStrategy:
    """Values the schema's shape suggests (right keys, nested objects), hostile at the leaves."""
    schema = resolve(doc, schema)
    hostile = hostile_json(world, 6)
    if depth > 3:
        return hostile
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of(*[shaped(doc, s, world, depth + 1) for s in schema.get("anyOf", schema.get("oneOf"))])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        optional = {k: shaped(doc, v, world, depth + 1) for k, v in props.items()}
        base = st.fixed_dictionaries({}, optional=optional)
        extra = st.dictionaries(hostile_strings(world), hostile, max_size=2)
        return st.one_of(base, st.tuples(base, extra).map(lambda t: {**t[1], **t[0]}))
    if kind == "array":
        item = shaped(doc, schema.get("items", {}), world, depth + 1)
        return st.one_of(st.lists(item, max_size=4), st.just(["fuzzrole"] * 201), st.just(["a\n"] * 3), hostile)
    if kind == "string":
        return st.one_of(hostile_strings(world), hostile)
    return hostile


RAW_BODIES = [b"", b"{", b"{email: 1", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b'{"a":1}garbage', b"1e400", b"NaN",
              b"[]", b"null", b'"x"', b"{}" * 2, b'{"a":"\\ud800"}', b'{"a":"\\u0000"}', b'{"\\ud800":1}',
              b'{"a":"\xed\xa0\x80"}', b'{"a":' + b"9" * 5000 + b"}", b"[" * 100_000, b"a=%ff&b=%00",
              b"grant_type=password&username=%ed%a0%80&password=x", b"grant_type=refresh_token&refresh_token=%00",
              b"token=\xff", b"=&=&&", b"a=1&a=2", b"x" * 70_000,
              json.dumps({"a": "b"}).encode("utf-16")]
CONTENT_TYPES = [b"application/json", b"application/json; charset=utf-8", b"application/json; charset=\xff",
                 b"application/json;;;", b"APPLICATION/JSON", b"application/x-www-form-urlencoded",
                 b"application/x-www-form-urlencoded; charset=latin-1", b"multipart/form-data; boundary=x",
                 b"text/plain", b"\xff\xfe", b"application/problem+json", b"application/json, text/plain",
                 b"application/octet-stream", b""]


def header_options(world: World, port: int) -> dict[bytes, list[bytes]]:
    def b64(raw: bytes) -> bytes:
        return base64.b64encode(raw)
    own = b"http://127.0.0.1:%d" % port
    return {
        b"Authorization": [b"Bearer", b"Bearer ", b"Bearer \xff\xfe", b"Bearer a.b.c", b"Bearer " + b"A" * 9000,
                           b"bearer  " + world.bearer, b"Bearer " + world.bearer, b"Bearer " + world.bearer + b"=",
                           b"Basic " + world.basic, b"Basic \xff", b"Basic ===", b"Basic " + b64(b":"),
                           b"Basic " + b64(b"\xff:\xfe"), b"Basic " + b64(b"cl_x:\x00"),
                           b"Basic " + b64(world.admin_client.client_id.encode() + b":" + b"x" * 300),
                           b"Basic " + b64("cl_\u00e9\u00e9:x".encode()), b"Negotiate abc", b"\xff\xfe"],
        b"Cookie": [b"__Host-id=\xff\xfe", b"__Host-id=" + b"A" * 43, b"__Host-id=", b'__Host-id="', b";;;=;",
                    b"__Host-id-device=\xff", b"__Host-id-device=" + b"A" * 43, b"__Host-id=" + b"\xc3\xa9" * 22,
                    b"access_token=\xff; refresh_token=\xff"],
        b"Origin": [b"null", b"\xff", own, own + b"/", b"https://evil.example", b"*", own.upper()],
        b"X-CSRF-Token": [b"\xff" * 43, b"", b"A" * 43, b"A" * 5000, b"\xc3\xa9" * 20],
        b"User-Agent": [b"\xff\xfe", b"A" * 5000, b"\x7f", b"\xc3\xbc\xe2\x80\xae", b"\xed\xa0\x80"],
        b"Accept": [b"\xff", b"application/problem+json;q=0", b"text/html", b"*/*;q=NaN"],
        b"X-Forwarded-For": [b"\xff\xfe", b"1.2.3.4, \xff", b"::1", b"a" * 500, b"999.999.999.999", b", , ,",
                             b"fe80::1%eth0", b"\xed\xa0\x80"],
        b"X-Forwarded-Proto": [b"https", b"HTTPS, http", b"\xff", b"", b"http, https"],
        b"X-Forwarded-Host": [b"\xff", b"evil.example"],
        b"X-Request-ID": [b"\xff\xfe", b"a" * 200, b"\xed\xa0\x80"],
        b"Content-Length": [b"-1", b"abc"],
        b"Access-Control-Request-Method": [b"POST", b"\xff"],
    }


@st.composite
def requests(draw, doc: dict, path: str, method: str, op: dict, world: World, port: int):
    # path
    target = path
    for name in [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]:
        target = target.replace("{" + name + "}", "\x01" + name + "\x01")
    raw = target.encode()
    for name in [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]:
        values = world.path_values(name)
        real = values[23:]
        pick = st.sampled_from(real) if real and draw(st.integers(0, 2)) else st.sampled_from(values)
        raw = raw.replace(b"\x01" + name.encode() + b"\x01", draw(pick))
    # query
    query_names = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"] + ["x", "role", "user_id"]
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(st.sampled_from(query_names), st.one_of(
            st.sampled_from([b"%ff", b"%00", b"%ed%a0%80", b"", b"\xff", b"a" * 500, world.victim_id.upper().encode(),
                             b"%7B" + world.victim_id.encode() + b"%7D", b"fuzzrole", b"fuzzrole%0A", b"1e400"]),
            st.text(max_size=10).map(lambda s: urllib.parse.quote(s, errors="surrogatepass").encode()))),
            max_size=4))
        raw += b"?" + b"&".join(k.encode() + b"=" + v for k, v in pairs)
    # body
    body_schema = None
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body_schema = content["application/json"].get("schema", {})
    seeds = templates(world, f"{method} {path}")
    kind = draw(st.sampled_from(["shaped", "json", "raw", "none", "form"] + ["template"] * (6 if seeds else 0)
                                if body_schema is not None else ["none", "none", "json", "raw"]))
    ctype = b"application/json"
    if kind == "template":
        value = draw(mutated(draw(st.sampled_from(seeds)), world))
        if "form" in content.get("application/x-www-form-urlencoded", {}) or (
                "application/x-www-form-urlencoded" in content and draw(st.booleans())):
            body = form(value) if isinstance(value, dict) else dump(value).encode()
            ctype = b"application/x-www-form-urlencoded"
        else:
            body = dump(value).encode()
    elif kind == "shaped":
        value = draw(shaped(doc, body_schema, world))
        body = dump(value).encode()
    elif kind == "json":
        body = dump(draw(hostile_json(world))).encode()
    elif kind == "raw":
        body = draw(st.sampled_from(RAW_BODIES))
    elif kind == "form":
        value = draw(shaped(doc, body_schema, world))
        body = form(value) if isinstance(value, dict) else dump(value).encode()
        ctype = b"application/x-www-form-urlencoded"
    else:
        body = None
    if draw(st.integers(0, 4)) == 0:
        ctype = draw(st.sampled_from(CONTENT_TYPES))
    # headers
    options = header_options(world, port)
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=3)) if draw(st.booleans()) else []
    headers = [(name, draw(st.sampled_from(options[name]))) for name in chosen]
    if body is not None and b"Content-Length" not in chosen:
        headers.append((b"Content-Type", ctype))
    replace_creds = draw(st.booleans())  # hostile Cookie/X-CSRF-Token: instead of, or beside, the caller's
    host = draw(st.sampled_from([None, None, None, None, b"\xff", b"", b"evil:99999", b"[::1"]))
    chunked = body is not None and draw(st.integers(0, 5)) == 0
    return raw, body, headers, replace_creds, host, chunked


def templates(world: World, key: str) -> list[dict]:
    """Valid bodies per operation: mutated one or two fields at a time, they get past the
    schema to the code that parses values itself."""
    v, pw = world.victim_id, STRONG_PASSWORD
    return {
        "post /auth/register": [{"email": "fresh@example.com", "password": pw + " fresh"}],
        "post /auth/login": [{"email": world.victim_email, "password": "not the password 12345"}],
        "post /auth/login/mfa": [{"mfa_token": "A" * 43, "code": "123456"}],
        "post /auth/password": [{"current_password": "not the password 12345", "new_password": pw + " new"}],
        "post /auth/reauthenticate": [{"password": "not the password 12345"}, {"password": "x", "code": "123456"}],
        "post /auth/token": [{"grant_type": "password", "username": world.victim_email, "password": "wrong 1234567"},
                             {"grant_type": "refresh_token", "refresh_token": "A" * 43},
                             {"grant_type": "urn:authsvc:grant-type:mfa", "mfa_token": "A" * 43, "code": "123456"}],
        "post /auth/revoke": [{"token": "A" * 43, "token_type_hint": "refresh_token"}],
        "post /auth/introspect": [{"token": world.bearer.decode(), "token_type_hint": "access_token"}],
        "post /auth/mfa/totp/confirm": [{"code": "123456"}],
        "post /auth/mfa/totp/disable": [{"password": "not the password 12345", "code": "123456"}],
        "post /auth/mfa/totp/recovery-codes": [{"code": "abcd-efgh-jkmn-pqrs"}],
        "post /authz/check": [
            {"action": "read", "resource": {"type": "post", "id": "17", "attributes": {"owner": v}}, "field": "title"},
            {"subject": {"id": v}, "checks": [{"action": "read", "resource": {"type": "post", "id": 17}}]},
            {"subject": {"token": world.bearer.decode()}, "action": "read", "resource": {"type": "post"}}],
        "post /admin/roles": [{"name": "fresh-role", "description": "d", "permissions": ["posts:read"],
                               "parents": ["fuzzrole"]}],
        "put /admin/roles/{name}/permissions": [{"permissions": ["posts:read", "*"]}],
        "put /admin/roles/{name}/parents": [{"parents": ["fuzzrole"]}],
        "put /admin/users/{id}/roles": [{"roles": ["fuzzrole"]}],
        "post /admin/users/{id}/roles": [{"role": "fuzzrole"}],
        "post /admin/policies": [
            {"effect": "allow", "action": "read", "subject_type": "post", "conditions": {"owner": "${user.id}"},
             "fields": ["title"], "role": "fuzzrole", "description": "x"},
            {"effect": "deny", "action": "update", "subject_type": "all", "conditions": {"n": {"$gt": 3}},
             "user_id": v}],
        "post /admin/clients": [{"name": "a client", "roles": ["fuzzrole"]}],
        "put /admin/clients/{client_id}/roles": [{"roles": ["fuzzrole"]}],
    }.get(key, [])


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    if isinstance(value, dict):
        out = dict(value)
        if new is _DROP and len(path) == 1:
            out.pop(path[0], None)
            return out
        out[path[0]] = _replace(value[path[0]], path[1:], new)
        return out
    out = list(value)
    if new is _DROP and len(path) == 1:
        del out[path[0]]
        return out
    out[path[0]] = _replace(value[path[0]], path[1:], new)
    return out


_DROP = object()


@st.composite
def mutated(draw, template: dict, world: World):
    value = template
    for _ in range(draw(st.integers(1, 2))):
        paths = [p for p in _paths(value) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        old = value
        for part in path:
            old = old[part]
        if isinstance(old, str):
            new = draw(st.one_of(
                st.sampled_from([old + "\n", old + "\x00", old + "\ud800", old * 100, old.upper(), " " + old + " ",
                                 old + "\u0301", old + "\r\nX-Injected: 1", old[: len(old) // 2], old + "\n" * 2,
                                 (old + "a" * 64)[:64] + "\n", old.replace("-", "\u2010"), old + "\u200b"]),
                hostile_json(world, 4)))
        else:
            new = draw(st.one_of(st.just(_DROP), hostile_json(world, 4)))
        value = _replace(value, path, new)
    if isinstance(value, dict) and value and draw(st.integers(0, 5)) == 0:
        key = draw(st.sampled_from(sorted(value)))
        return Dup(list(value.items()) + [(key, draw(hostile_json(world, 3)))])
    return value


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, Op(op)) for path, item in sorted(doc["paths"].items())
            for method, op in item.items() if method in METHODS]


def test_every_operation_every_caller_hostile_input(make_settings):
    failures: dict[tuple, str] = {}
    counted = {"requests": 0}
    with Served(fuzz_settings(make_settings)) as server:
        world = World(server)
        doc = Doc(send(server.port, b"GET", b"/openapi.json", [], None).json())
        ops = operations(doc)
        assert len(ops) >= 45, len(ops)
        for path, method, op in ops:
            for who, caller in world.callers.items():
                _fuzz(server, world, doc, path, method, op, who, caller, failures, counted)
        server.unhandled.take()
    import os
    if os.environ.get("FUZZ_STATS"):
        for k, v in counted.items():
            if k != "requests":
                print(k, sorted(v))
    report = "\n".join(f"{k}: {v}" for k, v in failures.items())
    assert not failures, f"{len(failures)} distinct failures in {counted['requests']} requests:\n{report}"


def _fuzz(server, world, doc, path, method, op, who, caller, failures, counted) -> None:
    @hsettings(max_examples=EXAMPLES[who], deadline=None, database=None, derandomize=True,
               phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=requests(doc, path, method, op, world, server.port))
    def run(case) -> None:
        target, body, headers, replace_creds, host, chunked = case
        caller.ensure()
        creds = caller.headers()
        if replace_creds:
            names = {k.lower() for k, _ in headers}
            creds = [(k, v) for k, v in creds if k.lower() not in names]
        before = server.digest()
        server.unhandled.take()
        reply = send(server.port, method.upper().encode(), target, creds + headers, body, host=host, chunked=chunked)
        counted["requests"] += 1
        counted.setdefault((who, method.upper(), path), []).append(reply.status)
        caller.after(reply)
        if method == "delete" and 200 <= reply.status < 300:
            world.heal()
        found = problems_of(reply, method.upper().encode())
        if reply.status >= 400 and server.digest() != before:
            found.append("Postgres changed although the reply is an error")
        if found:
            causes = server.unhandled.take()
            key = (method.upper(), path, tuple(found), tuple(c.split(" at ")[-1] for c in causes))
            if key not in failures:
                failures[key] = (f"as {who}: {method.upper()} {target[:200]!r} headers={[(k, v[:80]) for k, v in headers]} "
                                 f"body={(body or b'')[:300]!r} -> {reply.status} {reply.body[:300]!r} "
                                 f"server: {causes}")

    run()
