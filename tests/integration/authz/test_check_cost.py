"""One 64 KiB /authz/check must not hold the event loop for long (DESIGN invariant 6)."""
import asyncio
import json
import time
import uuid

from tests.integration.authz.helpers import user


async def test_a_list_attribute_against_an_any_rule_does_not_block_the_loop(client):
    admin, _ = await user(client, "admin")
    role = f"tagged-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    # An ordinary-looking rule: documents carrying any of these labels are readable.
    labels = [f"label-{i}" for i in range(100)]
    r = await admin.request("POST", "/admin/policies", json={
        "role": role, "effect": "allow", "action": "read", "subject_type": "doc",
        "conditions": {"labels": {"$any": labels}}})
    assert r.status == 201, await r.text()
    member, _ = await user(client, role)
    # As much list as fits in the body limit (64 KiB): short numbers that match nothing.
    items = [0] * 32000
    body = json.dumps(separators=(",", ":"), obj={"action": "read", "resource": {"type": "doc", "attributes": {"labels": items}}})
    assert len(body) < 64 * 1024

    # The test client and the app share this event loop: a ticker measures how long it stalls.
    stalls = []
    done = asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    r = await member.request("POST", "/authz/check", data=body, headers={"Content-Type": "application/json"})
    done.set()
    await tick
    stall = max(stalls)
    assert r.status in (200, 413, 422), r.status
    assert stall < 0.25, f"one 64 KiB check held the event loop for {stall:.2f}s"
