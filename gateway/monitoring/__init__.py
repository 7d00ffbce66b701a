"""Monitoring: alerts, device presence, RFID telemetry, camera snapshots, Prometheus metrics."""
