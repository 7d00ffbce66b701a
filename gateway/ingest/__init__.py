"""Ingest: MQTT signals in, applied to the database in batches, acknowledged after commit."""
