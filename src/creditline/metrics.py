"""What creditline counts and times for Prometheus, in a registry of its own per process (a
test's application does not see another's): request latency by route, holds and repayments,
the policy's reviews after a change, the outbox's backlog and the dispatcher's outcomes, and
each background job's passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds: a hold is a few milliseconds, a page tens, a review of the book minutes.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)


class OutboxBacklog(Protocol):
    """What waits in the outbox (the dispatcher's `backlog()`)."""

    @property
    def undelivered(self) -> int: ...
    @property
    def oldest_age_seconds(self) -> float: ...
    @property
    def dead(self) -> int: ...


class Metrics:
    """The process's metrics and the registry `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "creditline_http_request_duration_seconds",
            "Time to answer a request, by method, route template and status class",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.holds = Counter(
            "creditline_holds",
            "Drawdown holds asked for over HTTP, by result (placed, refused, failed)",
            ["result"],
            registry=self.registry,
        )
        self.repayments = Counter(
            "creditline_repayments",
            "Repayments recorded over HTTP, by result (recorded, refused, failed)",
            ["result"],
            registry=self.registry,
        )
        self.review_seconds = Histogram(
            "creditline_review_duration_seconds",
            "A line's review by the policy after a drawdown or a settlement",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.dispatched = Counter(
            "creditline_dispatch_outcomes",
            "Outbox messages the dispatcher handled, by outcome (delivered, retry, dead, lost)",
            ["outcome"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "creditline_background_job_duration_seconds",
            "One pass of a background job (sweep, remind, activate-policies, dispatch)",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.job_failures = Counter(
            "creditline_background_job_failures",
            "Passes of a background job that failed (the next pass retries)",
            ["job"],
            registry=self.registry,
        )

    def watch_outbox(self, backlog: Callable[[], OutboxBacklog]) -> None:
        """Read the outbox's backlog at each scrape."""
        self.registry.register(_OutboxCollector(backlog))

    def count_dispatch(self, counts: dict[str, int]) -> None:
        """Add a dispatcher pass's counts by outcome (the claim count is not an outcome)."""
        for outcome, count in counts.items():
            if outcome != "claimed" and count:
                self.dispatched.labels(outcome).inc(count)


class _OutboxCollector(Collector):
    def __init__(self, backlog: Callable[[], OutboxBacklog]) -> None:
        self._backlog = backlog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The backlog as gauges, read now."""
        now = self._backlog()
        yield GaugeMetricFamily(
            "creditline_outbox_undelivered", "Outbox messages still to deliver", now.undelivered
        )
        yield GaugeMetricFamily(
            "creditline_outbox_oldest_age_seconds",
            "Age of the oldest message still to deliver (0 when none waits)",
            now.oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "creditline_outbox_dead_letters", "Messages given up after every attempt", now.dead
        )
