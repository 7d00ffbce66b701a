"""The smartstore wire contract (MQTT topics, payloads, validation); edge, gateway and devices import it."""
