"""Inventory: the pure definitions of on hand / on shelf / reserved / available, and their rows."""
