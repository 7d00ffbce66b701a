"""Locker bank controller: the hardware-facing core, its MQTT service and the keypad CLI."""
