"""Prometheus metrics of the daemon, in a registry of its own (never the global one).

Thread rules: the counters are thread-safe (prometheus_client locks); the daemon
updates them from the main hub. Cache hits and misses are read from the cook
cache's counters at scrape time; queue depth and watched files through callbacks.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "DaemonMetrics"]


class _CacheCollector:
    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def collect(self) -> Iterator[CounterMetricFamily]:
        snap = self.cache.counters.snapshot() if self.cache is not None else {}
        hits = CounterMetricFamily("oxy_daemon_cache_hits", "cook cache hits since start", labels=["tier"])
        hits.add_metric(["local"], snap.get("hits_local", 0))
        hits.add_metric(["remote"], snap.get("hits_remote", 0))
        yield hits
        yield CounterMetricFamily("oxy_daemon_cache_misses", "cook cache misses since start",
                                  value=snap.get("misses", 0))


class DaemonMetrics:
    def __init__(self, cache: Any, queue_depth: Callable[[], float], watched_files: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter("oxy_daemon_jobs", "finished jobs by outcome", ["outcome"], registry=self.registry)
        self.cook_seconds = Histogram("oxy_daemon_cook_seconds", "wall time of a job from start to end",
                                      registry=self.registry,
                                      buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))
        depth = Gauge("oxy_daemon_queue_depth", "jobs waiting to run", registry=self.registry)
        depth.set_function(queue_depth)
        files = Gauge("oxy_daemon_watched_files", "source files in the watched folders", registry=self.registry)
        files.set_function(watched_files)
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        self.registry.register(_CacheCollector(cache))

    def job_finished(self, outcome: str, seconds: float | None) -> None:
        self.jobs.labels(outcome).inc()
        if seconds is not None:
            self.cook_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
