"""The kernel every component imports: wire contract, store file, MQTT link, pickup codes, small helpers."""
