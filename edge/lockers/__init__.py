"""Locker pickups at the edge: the gateway's manifest, keypad codes, door cycles and their state file."""
