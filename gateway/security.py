"""API keys (hashed, prefixed, revocable, optionally store-bound) and the role matrix of the REST API.

Keys look like ``ssk_<prefix>_<secret>``: the 8-character prefix finds the row, only the SHA-256 of the
secret is stored, and the plaintext is shown once, when the key is created.

Role matrix (what each role may do; a key bound to a store only sees that store):

=============================  =====  =======  ==========  =====
permission                     admin  manager  integrator  kiosk
=============================  =====  =======  ==========  =====
stores: list                   yes    yes      yes         no
inventory + availability: read yes    yes      yes         no
movements: post                yes    yes      yes         no
devices: read                  yes    yes      no          no
alerts: read                   yes    yes      no          no
alerts: acknowledge / clear    yes    yes      no          no
dead letters: read             yes    yes      no          no
live events (SSE): read        yes    yes      no          no
dashboard data: read           yes    yes      no          no
restock tasks: ack / resolve   yes    yes      no          no
pickup orders: read            yes    yes      yes         no
pickup orders: create          yes    no       yes         no
pickup orders: cancel          yes    yes      yes         no
lockers: read, load, service   yes    yes      no          no
lockers: pickup with a code    yes    no       no          yes
orders: pick, stage, hand over yes    yes      no          no
orders: report delivered       yes    no       yes         no
=============================  =====  =======  ==========  =====

A kiosk key may only enter pickup codes at its store's lockers, so it must be bound to one: creating a
kiosk key without a store is refused, and one made before that rule (store-less) is refused at use (403).
``/healthz``, ``/metrics`` and the static dashboard need no key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db.models import ApiKey
from smartstore.kernel.contract.topics import check_identifier

logger = logging.getLogger(__name__)

KEY_PREFIX = "ssk"
PREFIX_LENGTH = 8
SECRET_LENGTH = 40
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9]{{32,128}})$")
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    INTEGRATOR = "integrator"
    KIOSK = "kiosk"


class Permission(StrEnum):
    READ_STORES = "stores:read"
    READ_INVENTORY = "inventory:read"
    POST_MOVEMENTS = "movements:post"
    READ_DEVICES = "devices:read"
    READ_ALERTS = "alerts:read"
    MANAGE_ALERTS = "alerts:manage"
    READ_DEAD_LETTERS = "dead_letters:read"
    READ_EVENTS = "events:read"
    READ_DASHBOARD = "dashboard:read"  # KPIs, history, planogram, telemetry, restock tasks
    MANAGE_TASKS = "tasks:manage"
    READ_ORDERS = "orders:read"
    CREATE_ORDERS = "orders:create"
    CANCEL_ORDERS = "orders:cancel"
    MANAGE_LOCKERS = "lockers:manage"  # read the lockers, load orders, service compartments
    PICKUP_WITH_CODE = "lockers:pickup"
    FULFIL_ORDERS = "orders:fulfil"  # pick, stage, hand over at the counter or to a courier, ship
    REPORT_DELIVERY = "orders:deliver"  # the courier or carrier system: the order reached the customer


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # Orders come from the online shop's integration, codes from customers at the kiosk.
    Role.MANAGER: frozenset(Permission)
    - {Permission.CREATE_ORDERS, Permission.PICKUP_WITH_CODE, Permission.REPORT_DELIVERY},
    Role.INTEGRATOR: frozenset(
        {
            Permission.READ_STORES,
            Permission.READ_INVENTORY,
            Permission.POST_MOVEMENTS,
            Permission.READ_ORDERS,
            Permission.CREATE_ORDERS,
            Permission.CANCEL_ORDERS,
            Permission.REPORT_DELIVERY,
        }
    ),
    Role.KIOSK: frozenset({Permission.PICKUP_WITH_CODE}),
}


class ApiKeyError(ValueError):
    """A key that cannot be created: bad format, bad role or store, or a clash with an existing key."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, prefix, role, name and optional store restriction."""

    key_id: int
    prefix: str
    role: Role
    name: str
    store_id: str | None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def can_access(self, store: str) -> bool:
        if self.store_id is None:
            # A store-less kiosk key (made before kiosk keys had to name a store) opens no store's lockers.
            return self.role is not Role.KIOSK
        return self.store_id == store


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key: never its secret."""

    prefix: str
    role: str
    name: str
    store_id: str | None
    created_at: datetime
    revoked_at: datetime | None


def generate_key() -> str:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"{KEY_PREFIX}_{prefix}_{secret}"


def split_key(presented: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    match = KEY_PATTERN.match(presented)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    # Secrets carry ~238 random bits, so a fast unsalted hash is enough (as for GitHub tokens).
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_api_key(
    sessions: sessionmaker[Session],
    role: Role | str,
    name: str,
    *,
    store_id: str | None = None,
    key: str | None = None,
) -> str:
    """Store a new key and return its plaintext (shown once).

    A given `key` (e.g. from SMARTSTORE_ADMIN_KEY) must be well-formed; creating it again with the same
    role, name and store is a no-op, so a demo can fix its keys across restarts.
    """
    try:
        role = Role(role)
    except ValueError:
        raise ApiKeyError(f"unknown role {role!r}; choose one of {', '.join(Role)}") from None
    if not name.strip() or len(name) > 100:
        raise ApiKeyError("name must be 1 to 100 characters")
    if role is Role.KIOSK and store_id is None:
        raise ApiKeyError(
            "a kiosk key must be bound to a store (--store STORE_ID): it opens that store's lockers"
        )
    if store_id is not None:
        try:
            check_identifier(store_id, "store")
        except ValueError as error:
            raise ApiKeyError(str(error)) from None
    plaintext = key if key is not None else generate_key()
    parts = split_key(plaintext)
    if parts is None:
        raise ApiKeyError(f"a key must look like {KEY_PREFIX}_<8 of a-z0-9>_<32 to 128 of A-Za-z0-9>")
    prefix, secret = parts
    row = ApiKey(
        prefix=prefix,
        secret_hash=hash_secret(secret),
        role=role.value,
        name=name,
        store_id=store_id,
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    with sessions() as session:
        existing = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if existing is not None:
            if key is not None and _same_key(existing, row):
                return plaintext
            raise ApiKeyError(f"a key with prefix {prefix!r} already exists")
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            raise ApiKeyError(f"a key with prefix {prefix!r} already exists") from None
    logger.info("API key %s created: role %s, name %s, store %s", prefix, role, name, store_id or "*")
    return plaintext


def _same_key(existing: ApiKey, wanted: ApiKey) -> bool:
    return (
        existing.revoked_at is None
        and hmac.compare_digest(existing.secret_hash, wanted.secret_hash)
        and (existing.role, existing.name, existing.store_id) == (wanted.role, wanted.name, wanted.store_id)
    )


def revoke_api_key(sessions: sessionmaker[Session], prefix: str, *, at: datetime | None = None) -> bool:
    """Revoke the active key with this prefix; False when there is none (unknown or already revoked)."""
    with sessions() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = at or datetime.now(UTC)
        session.commit()
    logger.info("API key %s revoked", prefix)
    return True


def list_api_keys(sessions: sessionmaker[Session]) -> list[ApiKeyInfo]:
    with sessions() as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
        return [
            ApiKeyInfo(row.prefix, row.role, row.name, row.store_id, row.created_at, row.revoked_at)
            for row in rows
        ]


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal of a presented key, or None when it is malformed, unknown, revoked or wrong."""
    parts = split_key(presented.strip())
    if parts is None:
        return None
    prefix, secret = parts
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    presented_hash = hash_secret(secret)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(presented_hash, row.secret_hash):
        return None
    try:
        role = Role(row.role)
    except ValueError:
        logger.warning("API key %s has an unknown role %r; refusing it", prefix, row.role)
        return None
    return Principal(row.id, row.prefix, role, row.name, row.store_id)
