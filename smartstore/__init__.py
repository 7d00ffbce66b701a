"""smartstore: shared kernel (wire contract, store configuration, MQTT client) and the CLI."""

__version__ = "0.1.0"
