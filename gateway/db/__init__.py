"""Persistence of the gateway: SQLAlchemy 2 models and engine set-up (SQLite WAL or PostgreSQL)."""
