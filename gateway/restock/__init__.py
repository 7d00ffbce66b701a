"""Restock: tasks opened and closed by shelf states, on-shelf availability and KPIs."""
