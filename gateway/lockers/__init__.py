"""Pickup lockers: order lifecycle, compartments, codes at the locker, the link to locker devices."""
