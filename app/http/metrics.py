"""Prometheus metrics: request counts and latency by route, per process.

Counted in plain dicts and turned into metric families only when scraped:
prometheus_client's metric children take a lock on every increment (three per
request here), a measurable share of a cached session check, and a web process
has one thread serving requests anyway.
"""
from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RequestStats:
    """Requests by (method, route template, status) and a latency histogram per route."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts: dict[tuple[str, str, int], int] = {}
        # route -> per-bucket counts (not cumulative), the +Inf overflow, then the sum of seconds
        self.latency: dict[str, list[float]] = {}
        # route object -> its template, looked up once per route instead of four attributes per request
        self._names: dict[object, str] = {}

    def record_route(self, method: str, route: object, status: int, seconds: float) -> None:
        name = self._names.get(route)
        if name is None:
            resource = getattr(route, "resource", None)
            if resource is None:
                # A 404/405 gets a new system route per request: name it, never keep it.
                name = "unmatched"
            else:
                # The route template, not the path: unbounded label values would exhaust memory.
                name = self._names[route] = resource.canonical
        self.record(method, name, status, seconds)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        slots = self.latency.get(route)
        if slots is None:
            slots = self.latency[route] = [0] * (len(self.buckets) + 1) + [0.0]
        slots[bisect_left(self.buckets, seconds)] += 1  # first bucket with le >= seconds
        slots[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("authsvc_http_requests", "HTTP requests by route and status",
                                       labels=["method", "route", "status"])
        for (method, route, status), n in list(self.counts.items()):
            requests.add_metric([method, route, str(status)], n)
        yield requests
        latency = HistogramMetricFamily("authsvc_http_request_seconds", "HTTP request latency by route",
                                        labels=["route"])
        for route, slots in list(self.latency.items()):
            cumulative, buckets = 0, []
            for le, n in zip(self.buckets, slots):
                cumulative += n
                buckets.append((str(le), cumulative))
            cumulative += slots[len(self.buckets)]
            buckets.append(("+Inf", cumulative))
            latency.add_metric([route], buckets, slots[-1])
        yield latency


STATS = RequestStats()
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(STATS)

routes = web.RouteTableDef()


def observe(request: web.Request, response: web.StreamResponse, started: float) -> None:
    """Count a finished request and its latency since ``started`` (a perf_counter reading)."""
    STATS.record_route(request.method, request.match_info.route, response.status, time.perf_counter() - started)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
