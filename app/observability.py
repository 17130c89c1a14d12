"""Prometheus metrics (one registry per app) and the ASGI middleware that records requests and
enforces the request-body limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.models import JOB_STATUSES, Job
from app.db.session import Database
from app.errors import error_body
from app.jsonguard import check_json

log = logging.getLogger(__name__)


class AppMetrics:
    """The app's Prometheus registry and instruments."""

    def __init__(self, db: Database, pool_stats: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "molgfn_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "molgfn_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.registry.register(_JobCollector(db, pool_stats))


class _JobCollector(Collector):
    """Jobs by status, read at scrape time (skipped when the database is down)."""

    def __init__(self, db: Database, pool_stats: Callable[[], int]) -> None:
        self.db = db
        self.pool_stats = pool_stats

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        jobs = GaugeMetricFamily("molgfn_jobs", "Jobs by status.", labels=["status"])
        try:
            with self.db.read() as session:
                counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database is down
            log.warning("metrics: cannot count jobs: %s", exc)
            counts = None
        if counts is not None:
            for status in JOB_STATUSES:
                jobs.add_metric([status], float(counts.get(status, 0)))
            yield jobs
        tasks = GaugeMetricFamily("molgfn_sampling_pool_tasks_done", "Tasks completed by the sampling pool.")
        tasks.add_metric([], float(self.pool_stats()))
        yield tasks


class RequestMiddleware:
    """Counts and times requests per route template; refuses bodies above ``max_body`` bytes (413) and
    JSON bodies with non-finite numbers or nesting deeper than ``max_depth`` (422, naming the field),
    before any route runs."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics, max_body: int, max_depth: int = 32) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large(send)
            self._record(scope, 413, start)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413, f"request body larger than {self.max_body} bytes")
            return message

        inner_receive: Receive = limited_receive
        if scope.get("method") in ("POST", "PUT", "PATCH") and _is_json(headers.get(b"content-type", b"")):
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":  # client gone
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    await self._too_large(send)
                    self._record(scope, 413, start)
                    return
                chunks.append(chunk)
                more = bool(message.get("more_body", False))
            body = b"".join(chunks)
            problem = check_json(body, self.max_depth)
            if problem is not None:
                field, reason = problem
                await self._send_error(send, 422, error_body("invalid", f"{field}: {reason}", field, reason))
                self._record(scope, 422, start)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            inner_receive = replay

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, inner_receive, send_wrapper)
        finally:
            self._record(scope, status["code"], start)

    async def _too_large(self, send: Send) -> None:
        reason = f"request body larger than {self.max_body} bytes (max_upload_bytes)"
        await self._send_error(send, 413, error_body("too_large", reason, "body", reason))

    async def _send_error(self, send: Send, status: int, content: dict[str, Any]) -> None:
        import json

        body = json.dumps(content).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, status: int, start: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        method = scope.get("method", "GET")
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")
