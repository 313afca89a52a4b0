"""Prometheus metrics: requests and latency by operation and outcome, errors by code,
database pool connections in use. With PROMETHEUS_MULTIPROC_DIR set (several workers),
`/metrics` aggregates every worker."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,63}$")
MAX_OPERATION_LABELS = 200


class Metrics:
    def __init__(
        self, database: Callable[[], Any], realtime: Callable[[], Any] = lambda: None
    ) -> None:
        self._database = database
        self._realtime = realtime
        self.registry = CollectorRegistry(auto_describe=True)
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Counter(
            "caregraph_requests_total",
            "GraphQL HTTP requests by operation name and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "caregraph_request_duration_seconds",
            "GraphQL HTTP request latency by operation name and outcome.",
            ["operation", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.errors = Counter(
            "caregraph_errors_total",
            "GraphQL errors returned, by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.pool_in_use = Gauge(
            "caregraph_db_pool_connections_in_use",
            "Database connections checked out of this process's pool.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_in_use.set_function(self._pool_in_use)
        for name, help_text, attribute in (
            ("events", "Realtime events this process read from the outbox.", "events"),
            ("deliveries", "Realtime events put on subscribers' queues.", "delivered"),
            ("statements", "Statements run to decide realtime deliveries.", "statements"),
            ("subscribers", "Subscriptions open on this process.", "subscriber_count"),
            (
                "payloads_resolved",
                "Subscription event payloads resolved (one per distinct answer).",
                "payloads_resolved",
            ),
            (
                "payloads_shared",
                "Subscription event payloads taken from another subscriber's resolution.",
                "payloads_shared",
            ),
            (
                "payload_statements",
                "Statements run by subscription operations (setup and payloads).",
                "payload_statement_count",
            ),
        ):
            gauge = Gauge(
                f"caregraph_realtime_{name}",
                help_text,
                registry=self.registry,
                multiprocess_mode="livesum",
            )
            gauge.set_function(functools.partial(self._hub_value, attribute))
        self._operations: set[str] = set()
        self._series: dict[tuple[str, str], tuple[Any, Any]] = {}
        """The request counter and latency histogram of each (operation, outcome),
        looked up once (`labels` takes a lock and checks the values on every call)."""

    def _hub_value(self, attribute: str) -> float:
        hub = self._realtime()
        return float(getattr(hub, attribute, 0)) if hub is not None else 0.0

    def _pool_in_use(self) -> float:
        db = self._database()
        if db is None:
            return 0.0
        checked_out = getattr(db.engine.pool, "checkedout", None)
        return float(checked_out()) if callable(checked_out) else 0.0

    def _operation_label(self, operation: str | None) -> str:
        if not operation or not _OPERATION_NAME.match(operation):
            return "unnamed"
        if operation in self._operations:
            return operation
        if len(self._operations) >= MAX_OPERATION_LABELS:
            return "other"
        self._operations.add(operation)
        return operation

    def observe(
        self, operation: str | None, status: int, duration: float, error_codes: list[str]
    ) -> None:
        label = self._operation_label(operation)
        if status >= 500:
            outcome = "server_error"
        elif status >= 400:
            outcome = "client_error"
        elif error_codes:
            outcome = "partial"
        else:
            outcome = "success"
        series = self._series.get((label, outcome))
        if series is None:
            series = (self.requests.labels(label, outcome), self.latency.labels(label, outcome))
            self._series[(label, outcome)] = series
        series[0].inc()
        series[1].observe(duration)
        for code in error_codes:
            self.errors.labels(code or "UNKNOWN").inc()

    def render_replicas(self, db: Any) -> bytes:
        """Read replicas as this process's monitor last saw them (each process polls them
        on its own); nothing without replicas."""
        replicas = getattr(db, "replicas", None)
        if replicas is None:
            return b""
        registry = CollectorRegistry()
        up = Gauge(
            "caregraph_replica_up",
            "1 when the read replica answers and is not too far behind, else 0.",
            ["replica"],
            registry=registry,
        )
        lag = Gauge(
            "caregraph_replica_lag_seconds",
            "How far the read replica's replay is behind the primary (+Inf: unknown).",
            ["replica"],
            registry=registry,
        )
        operations = Gauge(
            "caregraph_replica_operations",
            "Operations of this process whose reads went to the replica.",
            ["replica"],
            registry=registry,
        )
        for replica in replicas.replicas:
            usable = replica.up and replica.lag_seconds <= replicas.max_lag
            up.labels(replica.name).set(1 if usable else 0)
            lag.labels(replica.name).set(replica.lag_seconds)
            operations.labels(replica.name).set(replica.operations)
        Gauge(
            "caregraph_replica_primary_operations",
            "Queries of this process that read on the primary: no replica was usable, or "
            "none had replayed the viewer's last write.",
            registry=registry,
        ).set(replicas.primary_operations)
        Gauge(
            "caregraph_replica_fallbacks",
            "Reads that failed on a replica and ran again on the primary.",
            registry=registry,
        ).set(replicas.fallbacks)
        return generate_latest(registry)

    async def render_jobs(self, db: Any) -> bytes:
        """The job queue's health, read from Postgres (the same for every process): jobs
        by kind and state, the oldest due job's wait, failures in the last day."""
        if db is None:
            return b""
        from resolvers.core.jobs import queue_health

        try:
            health = await queue_health(db, failed_limit=0)
        except Exception:  # the database is down: the other metrics still answer
            return b""
        registry = CollectorRegistry()
        jobs = Gauge(
            "caregraph_jobs",
            "Jobs in the queue by kind and state (scheduled, waiting, running, failed).",
            ["kind", "state"],
            registry=registry,
        )
        for count in health.counts:
            jobs.labels(count.kind, count.state).set(count.count)
        Gauge(
            "caregraph_jobs_oldest_waiting_seconds",
            "How long the longest-waiting due job has waited (0: none waits).",
            registry=registry,
        ).set(health.oldest_waiting_seconds or 0)
        Gauge(
            "caregraph_job_failures_last_day",
            "Job runs that raised in the last 24 hours (retried or kept as failed).",
            registry=registry,
        ).set(health.failures_last_day)
        return generate_latest(registry)

    def render(self) -> tuple[bytes, str]:
        if self._multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
