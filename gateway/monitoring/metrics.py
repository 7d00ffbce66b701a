"""Prometheus metrics of the gateway, in a registry of its own (several gateways can live in one test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages_received = Counter(
            "smartstore_messages_received", "MQTT messages received", ["kind"], registry=self.registry
        )
        self.messages_rejected = Counter(
            "smartstore_messages_rejected",
            "Messages rejected into the dead-letter table, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.signals_applied = Counter(
            "smartstore_signals_applied", "Signals applied to the inventory", ["type"], registry=self.registry
        )
        self.signals_duplicate = Counter(
            "smartstore_signals_duplicate",
            "Signals skipped because their event id was already applied",
            registry=self.registry,
        )
        self.dead_letters_pruned = Counter(
            "smartstore_dead_letters_pruned",
            "Dead letters deleted by the retention policy (age, count)",
            registry=self.registry,
        )
        self.sequence_gaps = Counter(
            "smartstore_sequence_gaps",
            "Messages missing by per-source sequence numbers",
            registry=self.registry,
        )
        self.ingest_queue_depth = Gauge(
            "smartstore_ingest_queue_depth", "Messages waiting to be applied", registry=self.registry
        )
        self.ingest_batch_seconds = Histogram(
            "smartstore_ingest_batch_seconds",
            "Time to apply and commit one batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.pickup_code_refusals = Counter(
            "smartstore_pickup_code_refusals",
            "Pickup codes refused at a kiosk, by result (wrong, locked, used, ...)",
            ["result"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "smartstore_http_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
