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


async def test_latency_histogram_is_cumulative_and_counts_every_request(client):
    for _ in range(3):
        await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    lines = [line for line in text.splitlines()
             if line.startswith('authsvc_http_request_seconds_bucket{le=') or
             line.startswith('authsvc_http_request_seconds_bucket{route="/healthz"')]
    counts = [float(line.rsplit(" ", 1)[1]) for line in lines if 'route="/healthz"' in line]
    assert counts == sorted(counts) and counts[-1] >= 3  # le buckets only grow, +Inf holds them all
    assert 'le="+Inf"' in text
    total = next(line for line in text.splitlines()
                 if line.startswith('authsvc_http_request_seconds_count{route="/healthz"}'))
    assert float(total.rsplit(" ", 1)[1]) == counts[-1]


async def test_unknown_paths_are_one_label_and_leave_no_memory_behind(client):
    from app.http.metrics import STATS

    await client.get("/healthz")
    known = len(STATS._names)
    for i in range(20):
        assert (await client.get(f"/no/such/path/{i}")).status == 404
    text = await (await client.get("/metrics")).text()
    assert 'route="unmatched",status="404"' in text and "/no/such/path" not in text
    # Each 404 carries a route object of its own; remembering them would grow without bound.
    assert len(STATS._names) <= known + 1  # /metrics itself may be new
