"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "Request latency", ["route", "method", "status"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.batch_size = Histogram("model_batch_size", "Passages per model batch", registry=self.registry,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.passages = Counter("passages_classified_total", "Passages labelled", registry=self.registry)
        self.queue = Gauge("inference_queue_passages", "Passages waiting or running", registry=self.registry)
        self.model = Gauge("model_info", "The model being served (value 1)", ["name", "version", "source"],
                           registry=self.registry)
        self.reloads = Counter("model_reloads_total", "Reload attempts", ["outcome"], registry=self.registry)
        self.connections = Gauge("http_connections_open", "Open client connections", registry=self.registry)
        self.connections_refused = Counter("http_connections_refused_total", "Connections refused with 503: the "
                                           "connection cap was reached", registry=self.registry)
        self.header_timeouts = Counter("http_header_timeouts_total", "Connections closed because a request's "
                                       "line and headers did not arrive in time", registry=self.registry)

    def set_model(self, name: str, version: str, source: str) -> None:
        self.model.clear()
        self.model.labels(name=name, version=version, source=source).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
