"""/healthz, /readyz and /metrics as an operator's probes see them."""


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"redis": "ok", "postgres": "ok"}


async def test_metrics_count_requests_by_route_template(client):
    await client.delete("/auth/sessions/abcdefabcdefabcd")
    await client.get("/auth/session")
    text = await (await client.get("/metrics")).text()
    assert 'authsvc_http_requests_total{method="GET",route="/auth/session",status="401"}' in text
    # Paths with ids are folded into their template, so labels stay bounded.
    assert 'route="/auth/sessions/{handle}"' in text
    assert "abcdefabcdefabcd" not in text
