"""Prometheus metrics: what happened (counters and histograms, counted where it happens) and what
is (the queue and the workers, read from the database and the cache when /metrics is scraped).

With PROMETHEUS_MULTIPROC_DIR set (`make run`, the systemd units, the container), every process
(each gunicorn worker, each qcluster process) writes its counts to files there, and a scrape of
any web process adds them all up: prometheus_client's multiprocess mode. The directory must be
emptied before the processes start. Without it, counts are this process's own.

Label values come from small fixed sets only: statuses, tasks, tiers and providers from the
settings, failure classes, outcomes, URL names. Never a user, a prompt or an id.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
import tomllib

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

PREFIX = "travelfit"
# Seconds, from a demo's fraction of one to a cold Space's minutes.
SECONDS_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, float("inf"))

SUBMITTED = Counter(
    f"{PREFIX}_generations_submitted",
    "Generations queued (each image of a batch counts), by task and tier.",
    ["task", "tier"],
)
FINISHED = Counter(
    f"{PREFIX}_generations_finished",
    "Generations that ended, by status, task, tier and the provider last asked.",
    ["status", "task", "tier", "provider"],
)
FAILURES = Counter(
    f"{PREFIX}_generation_failures",
    "Failed generations by failure class and the provider last asked.",
    ["failure_class", "provider"],
)
END_TO_END = Histogram(
    f"{PREFIX}_generation_seconds",
    "From submission to success, in seconds (queue wait included), by tier.",
    ["tier"],
    buckets=SECONDS_BUCKETS,
)
PROVIDER_SECONDS = Histogram(
    f"{PREFIX}_provider_seconds",
    "One provider call (retries included), in seconds, by provider and outcome.",
    ["provider", "outcome"],
    buckets=SECONDS_BUCKETS,
)
WEBHOOKS = Counter(
    f"{PREFIX}_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, failed, gave_up).",
    ["outcome"],
)
TRANSLATION_CACHE = Counter(
    f"{PREFIX}_translation_cache_lookups",
    "Prompt translation cache lookups by result (hit, miss).",
    ["result"],
)
SAFETY_CHECKS = Counter(
    f"{PREFIX}_safety_checks",
    "Image safety checks by what was checked (result, upload) and outcome (passed, flagged, "
    "error).",
    ["subject", "outcome"],
)
QUOTA_REFUSALS = Counter(
    f"{PREFIX}_quota_refusals",
    "Submissions refused for quota, by the period that bound (day, month).",
    ["period"],
)
TRIP_WEATHER_LOOKUPS = Counter(
    f"{PREFIX}_trip_weather_lookups",
    "Trip lookbook questions to Open-Meteo (geocoding, forecast, history) by outcome (hit, "
    "fetched, unavailable, malformed, rate_limited, refused, skipped, off).",
    ["outcome"],
)
TRIP_PLANS = Counter(
    f"{PREFIX}_trip_plans",
    "Trip lookbooks planned, by the planner that chose the outfits (rules, hf_inference).",
    ["planner"],
)
HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests by URL name, method and status code.",
    ["view", "method", "status"],
)
HTTP_SECONDS = Histogram(
    f"{PREFIX}_http_request_seconds",
    "Time to answer an HTTP request, by URL name.",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_finished(generation) -> None:
    """Count a generation that just ended (call once, where its final status is written)."""
    provider = generation.provider or "none"
    FINISHED.labels(generation.status, generation.task, generation.tier, provider).inc()
    if generation.status == "failed":
        FAILURES.labels(generation.failure_class or "unexpected", provider).inc()
    if generation.status == "succeeded" and generation.finished_at and generation.created_at:
        seconds = (generation.finished_at - generation.created_at).total_seconds()
        END_TO_END.labels(generation.tier).observe(max(0.0, seconds))


class StateCollector:
    """Gauges read at scrape time: generations queued and running now, the oldest queued one's
    age, and the workers seen in the cache's heartbeats (what /health reads too)."""

    def collect(self):
        from .selectors import queue_now

        queue = queue_now()
        now_active = GaugeMetricFamily(
            f"{PREFIX}_generations_active",
            "Generations queued or running now.",
            labels=["status"],
        )
        now_active.add_metric(["queued"], queue.queued)
        now_active.add_metric(["running"], queue.running)
        yield now_active
        yield GaugeMetricFamily(
            f"{PREFIX}_oldest_queued_seconds",
            "How long the oldest queued generation has waited (0 when none waits).",
            value=queue.oldest_wait or 0.0,
        )
        from .selectors import workers_seen

        clusters, workers = workers_seen()
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_clusters",
            "Task clusters (qcluster) seen in the last heartbeats.",
            value=clusters,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_workers",
            "Worker processes of those clusters seen in the last heartbeats.",
            value=workers,
        )


def build() -> tuple[str, str]:
    """(version, commit) of the code running: pyproject.toml's version; TRAVELFIT_COMMIT, else
    `git rev-parse HEAD` in a checkout, else "unknown"."""
    return _version(), settings.TRAVELFIT_COMMIT or _checkout_commit() or "unknown"


@functools.cache
def _version() -> str:
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as file:
            return tomllib.load(file)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


@functools.cache
def _checkout_commit() -> str:
    if not (settings.BASE_DIR / ".git").exists():
        return ""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class BuildInfoCollector:
    """travelfit_build_info{version, commit} 1: which release a process runs."""

    def collect(self):
        info = GaugeMetricFamily(
            f"{PREFIX}_build_info",
            "The running release: version and commit in the labels, always 1.",
            labels=["version", "commit"],
        )
        info.add_metric(list(build()), 1)
        yield info


OWN = (
    SUBMITTED,
    FINISHED,
    FAILURES,
    END_TO_END,
    PROVIDER_SECONDS,
    WEBHOOKS,
    TRANSLATION_CACHE,
    SAFETY_CHECKS,
    QUOTA_REFUSALS,
    HTTP_REQUESTS,
    HTTP_SECONDS,
)


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: every process's counts, and the state now."""
    registry = CollectorRegistry()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        for collector in OWN:
            registry.register(collector)
    registry.register(StateCollector())
    registry.register(BuildInfoCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class HttpMetricsMiddleware:
    """Counts each request by its URL's name (namespaced, e.g. `api:create_generation`; never
    the path, which holds ids), method and status, and times it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match is not None else "") or "unmatched"
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_SECONDS.labels(view).observe(time.monotonic() - started)
        return response
