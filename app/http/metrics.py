"""Prometheus metrics: request counts and latency by route, per process."""
from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("authsvc_http_requests_total", "HTTP requests by route and status",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("authsvc_http_request_seconds", "HTTP request latency by route", ["route"],
                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                    registry=REGISTRY)

routes = web.RouteTableDef()


def _route_name(request: web.Request) -> str:
    # The route template, not the path: unbounded label values would exhaust memory.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# labels() costs microseconds per call; the label space is small, so keep the children.
_latency_children: dict[str, Histogram] = {}
_request_children: dict[tuple[str, str, int], Counter] = {}


def observe(request: web.Request, response: web.StreamResponse, started: float) -> None:
    """Count a finished request and its latency since ``started`` (a perf_counter reading)."""
    route = _route_name(request)
    latency = _latency_children.get(route)
    if latency is None:
        latency = _latency_children[route] = LATENCY.labels(route)
    latency.observe(time.perf_counter() - started)
    key = (request.method, route, response.status)
    counter = _request_children.get(key)
    if counter is None:
        counter = _request_children[key] = REQUESTS.labels(request.method, route, str(response.status))
    counter.inc()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
