"""Orders from every channel: sourcing, channel allocation, fulfilment lifecycles, domain events."""
