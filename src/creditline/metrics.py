"""What creditline counts and times for Prometheus, in a registry of its own per process (a
test's application does not see another's): request latency by route, requests in progress,
holds and repayments, the policy's reviews after a change, the outbox's backlog and the
dispatcher's outcomes, and each background job's passes.

Under `serve --processes N` every process (the workers and the supervisor that runs the
background jobs) writes its counts to files in one directory, prometheus_client's multiprocess
mode, and a scrape of any worker sums them all: the whole server, whichever worker answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
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
    """The process's metrics and the registry `/metrics` exposes.

    With `shared_directory` (PROMETHEUS_MULTIPROC_DIR, which `serve --processes` sets for every
    process it runs), the counts are written there and the registry reads every process's
    files; the outbox's gauges are still read from the store at each scrape, once."""

    def __init__(self, shared_directory: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        self._shared_directory = shared_directory
        owner: CollectorRegistry | None = self.registry
        if shared_directory is not None:
            # prometheus_client picks files or memory when it is imported: memory here would
            # leave this process's counts out of every scrape, silently.
            if values.ValueClass is values.MutexValue:
                raise RuntimeError(
                    "PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported"
                )
            MultiProcessCollector(self.registry, str(shared_directory))  # type: ignore[no-untyped-call]
            owner = None  # this process's counts are in the files: not a second time
        self.request_seconds = Histogram(
            "creditline_http_request_duration_seconds",
            "Time to answer a request, by method, route template and status class",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=owner,
        )
        self.requests_in_progress = Gauge(
            "creditline_http_requests_in_progress",
            "Requests being answered now",
            registry=owner,
            # Summed over the living processes: a dead worker's requests are no one's now.
            multiprocess_mode="livesum",
        )
        self.holds = Counter(
            "creditline_holds",
            "Drawdown holds asked for over HTTP, by result (placed, refused, failed)",
            ["result"],
            registry=owner,
        )
        self.repayments = Counter(
            "creditline_repayments",
            "Repayments recorded over HTTP, by result (recorded, refused, failed)",
            ["result"],
            registry=owner,
        )
        self.review_seconds = Histogram(
            "creditline_review_duration_seconds",
            "A line's review by the policy after a drawdown or a settlement",
            buckets=LATENCY_BUCKETS,
            registry=owner,
        )
        self.dispatched = Counter(
            "creditline_dispatch_outcomes",
            "Outbox messages the dispatcher handled, by outcome (delivered, retry, dead, lost)",
            ["outcome"],
            registry=owner,
        )
        self.job_seconds = Histogram(
            "creditline_background_job_duration_seconds",
            "One pass of a background job (sweep, remind, activate-policies, dispatch)",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=owner,
        )
        self.job_failures = Counter(
            "creditline_background_job_failures",
            "Passes of a background job that failed (the next pass retries)",
            ["job"],
            registry=owner,
        )

    def watch_outbox(self, backlog: Callable[[], OutboxBacklog]) -> None:
        """Read the outbox's backlog at each scrape."""
        self.registry.register(_OutboxCollector(backlog))

    def forget_process(self, pid: int) -> None:
        """Process `pid`, which wrote to the shared directory, has ended: its live gauges leave
        the sums. Its counts stay in them: what it counted happened."""
        if self._shared_directory is not None:
            mark_process_dead(pid, str(self._shared_directory))  # type: ignore[no-untyped-call]

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
