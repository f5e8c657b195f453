"""GET /openapi.json is OpenAPI 3.1 and covers exactly the routes the app serves.

A route someone adds without documenting it (in app/openapi/catalogue.py) fails
here, and so does a documented operation the app no longer serves."""
import json

from aiohttp import web

from app.openapi.document import PROBLEM_TYPE, build_document
from app.server import create_app


def served_operations(app: web.Application) -> set[tuple[str, str]]:
    ops = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        ops.add((route.method, path))
    # aiohttp adds HEAD to every GET; it is not a separate operation.
    return {(m, p) for m, p in ops if not (m == "HEAD" and ("GET", p) in ops)}


def documented_operations(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item}


def test_every_route_is_documented_and_every_documented_route_exists(make_settings):
    settings = make_settings()
    served = served_operations(create_app(settings))
    documented = documented_operations(build_document(settings))
    assert served - documented == set(), "routes missing from app/openapi/catalogue.py"
    assert documented - served == set(), "documented operations the app does not serve"


def test_every_operation_documents_its_problems(make_settings):
    doc = build_document(make_settings())
    schemas = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert "503" in responses, (method, path)  # fail closed, everywhere
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"][PROBLEM_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas
                body_statuses = {"400"} if path in ("/auth/token", "/auth/revoke") else {"400", "413", "415", "422"}
                assert body_statuses <= set(responses), (method, path)
            for param in op.get("parameters", []):
                assert param["in"] == "query" or "{" + param["name"] + "}" in path
            if op["security"]:
                assert "401" in responses, (method, path)
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}


async def test_served_document_is_the_built_one(client, settings):
    reply = await client.get("/openapi.json")
    assert reply.status == 200 and reply.content_type == "application/json"
    doc = await reply.json()
    assert doc["openapi"].startswith("3.1") and doc == json.loads(json.dumps(build_document(settings)))


def test_document_is_valid_openapi_31(make_settings):
    from jsonschema import Draft202012Validator

    import schemathesis

    schemathesis.experimental.OPEN_API_3_1.enable()
    doc = build_document(make_settings())
    # validate_schema: checked against the OpenAPI 3.1 meta-schema.
    schema = schemathesis.from_dict(doc, base_url="http://127.0.0.1:1", validate_schema=True)
    assert len(list(schema.get_all_operations())) == len(documented_operations(doc))
    for result in schema.get_all_operations():
        result.ok()  # raises if an operation cannot be parsed
    for name, sub in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(sub)


def test_an_undocumented_route_is_caught(make_settings):
    settings = make_settings()
    app = create_app(settings)

    async def extra(request):  # what someone adds next month
        return web.json_response({})

    app.router.add_post("/auth/something-new", extra)
    missing = served_operations(app) - documented_operations(build_document(settings))
    assert missing == {("POST", "/auth/something-new")}
