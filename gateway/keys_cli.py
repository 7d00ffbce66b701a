"""`smartstore keys`: create, list and revoke REST API keys in the gateway database."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.security import ApiKeyError, Role, create_api_key, list_api_keys, revoke_api_key

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db-url", help="SQLAlchemy URL; default SMARTSTORE_DB_URL or sqlite:///var/smartstore.db"
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", parents=[common], help="create a key and print it once")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--store", help="limit the key to this store (required for a kiosk key)")
    actions.add_parser("list", parents=[common], help="list keys (never their secrets)")
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a key by its prefix")
    revoke.add_argument("prefix", help="the 8 characters after ssk_")


def run(args: argparse.Namespace) -> int:
    db_url: str = args.db_url or GatewaySettings().db_url
    if db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        if args.keys_action == "create":
            try:
                key = create_api_key(sessions, args.role, args.name, store_id=args.store)
            except ApiKeyError as error:
                print(f"error: {error}")
                return 1
            print(key)
            print("Store this key now: it cannot be shown again.")
            return 0
        if args.keys_action == "list":
            _print_keys(sessions)
            return 0
        if revoke_api_key(sessions, args.prefix):
            print(f"revoked {args.prefix}")
            return 0
        print(f"error: no active key with prefix {args.prefix!r}")
        return 1
    finally:
        engine.dispose()


def provision_keys(
    db_url: str,
    names: Mapping[str, str],
    given: Mapping[str, str],
    stores: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """One key per role of `names` (role -> key name), its secret `given[role]` where set, else random,
    bound to `stores[role]` where set (a kiosk key must be).

    Returns role -> plaintext key. The demo calls it before it starts the gateway on the same database;
    a malformed given secret or a store-less kiosk key raises ApiKeyError (a ValueError).
    """
    stores = stores or {}
    engine = make_engine(db_url)
    try:
        sessions = make_sessionmaker(engine)
        return {
            role: create_api_key(sessions, role, name, key=given.get(role), store_id=stores.get(role))
            for role, name in names.items()
        }
    finally:
        engine.dispose()


def _print_keys(sessions: sessionmaker[Session]) -> None:
    keys = list_api_keys(sessions)
    rows = [("PREFIX", "ROLE", "NAME", "STORE", "CREATED", "REVOKED")]
    rows += [
        (k.prefix, k.role, k.name, k.store_id or "*", _time(k.created_at), _time(k.revoked_at) or "-")
        for k in keys
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
