"""Persistence of the gateway: SQLAlchemy 2 models and engine set-up (SQLite WAL or PostgreSQL)."""

# Tables defined outside models.py register on the same Base when imported; importing them here
# means whoever builds the engine (create_all) creates them too.
from smartstore.gateway.db import lockers as lockers
from smartstore.gateway.db import orders as orders
from smartstore.gateway.db import restock as restock
