"""Edge processors: one per device kind, pure logic behind the `Processor` interface."""
