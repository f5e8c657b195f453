"""The one error middleware's mapping for what is not an AuthError."""
import json

from aiohttp.test_utils import make_mocked_request
from sqlalchemy.exc import DataError

from app.http.errors import problem_for


def test_a_value_postgres_refuses_is_the_callers_422_not_a_500():
    """A gap in validation (a value too long for its column) is still the request's fault."""
    refused = DataError("INSERT ...", {}, Exception("value too long for type character varying(64)"))
    reply = problem_for(make_mocked_request("POST", "/admin/policies"), refused)
    assert reply.status == 422 and reply.content_type == "application/problem+json"
    body = json.loads(reply.body)
    assert body["code"] == "invalid_request" and "character varying" not in body["detail"]


def test_anything_else_unexpected_is_a_500_without_details():
    reply = problem_for(make_mocked_request("GET", "/auth/session"), KeyError("secret detail"))
    assert reply.status == 500
    assert "secret detail" not in reply.body.decode()
