"""Numbers in rule conditions beyond float range are refused as malformed (422), not a 500."""
import uuid

import pytest

from tests.integration.authz.helpers import user


@pytest.mark.parametrize("conditions", [
    {"views": 10 ** 400}, {"views": {"$ne": -10 ** 400}}, {"views": {"$gt": 10 ** 400}},
    {"views": {"$in": [1, 10 ** 400]}},
])
async def test_a_number_beyond_float_range_is_an_invalid_rule(client, conditions):
    admin, _ = await user(client, "admin")
    role = f"r-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    r = await admin.request("POST", "/admin/policies", json={
        "effect": "deny", "action": "read", "subject_type": "post", "role": role, "conditions": conditions})
    assert r.status == 422 and r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "invalid_rule"
