"""Per-store, per-device MQTT credentials: usernames <store>/<kind>/<device>, random passwords.

The shipped broker ACL (deploy/mosquitto/acl) grants a device the topics under
``smartstore/v1/<its username>/``, so a credential made here opens one device of one store only.
Passwords go into the ``SMARTSTORE_MQTT_DEVICE_PASSWORDS`` line of an env file (compose's ``.env``), which
deploy/mosquitto/make-passwd.sh hashes into Mosquitto's password file. Run it again after adding a device:
passwords already in the file are kept, new devices get new ones.

    python -m smartstore.launcher.mqtt_credentials smartstore/kernel/data/example-store.yaml --env .env
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from smartstore.kernel.contract.topics import Kind
from smartstore.kernel.storeconfig import StoreConfig, StoreConfigError, load_store

VARIABLE = "SMARTSTORE_MQTT_DEVICE_PASSWORDS"
_LINE = re.compile(rf"^{VARIABLE}=(.*)$", re.M)


def device_usernames(store: StoreConfig) -> list[str]:
    """One username per reader, camera and locker bank of the store: <store>/<kind>/<device id>."""
    store_id = store.store.id
    devices = store.devices
    kinds = (
        (Kind.RFID, [reader.id for reader in devices.readers]),
        (Kind.CAMERA, [camera.id for camera in devices.cameras]),
        (Kind.LOCKER, [locker.id for locker in devices.lockers]),
    )
    return [f"{store_id}/{kind.value}/{device}" for kind, ids in kinds for device in ids]


def parse_pairs(value: str) -> dict[str, str]:
    """`user:password user:password` (quotes around the whole value allowed) -> {user: password}."""
    pairs: dict[str, str] = {}
    for pair in value.strip().strip("\"'").split():
        user, separator, password = pair.partition(":")
        if not separator or not user or not password:
            raise ValueError(f"{VARIABLE}: {pair!r} is not username:password")
        pairs[user] = password
    return pairs


def merge(existing: dict[str, str], usernames: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Existing passwords kept, a fresh 48-hex-digit one for each new username; returns (all, added)."""
    merged = dict(existing)
    added = [user for user in usernames if user not in merged]
    for user in added:
        merged[user] = secrets.token_hex(24)
    return merged, added


def update_env_file(path: Path, usernames: Iterable[str]) -> list[str]:
    """Write the merged credentials into `path`'s VARIABLE line (created if missing, mode 0600)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    found = _LINE.search(text)
    merged, added = merge(parse_pairs(found.group(1)) if found else {}, usernames)
    line = f'{VARIABLE}="' + " ".join(f"{user}:{password}" for user, password in merged.items()) + '"'
    if found:
        text = _LINE.sub(lambda _: line, text, count=1)
    else:
        text += ("\n" if text and not text.endswith("\n") else "") + line + "\n"
    fresh = path.with_name(path.name + ".new")
    descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(fresh, path)
    return added


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartstore.launcher.mqtt_credentials", description=__doc__
    )
    parser.add_argument("stores", nargs="+", type=Path, help="store files")
    parser.add_argument("--env", type=Path, default=Path(".env"), help="env file to update (default .env)")
    args = parser.parse_args(argv)
    usernames: list[str] = []
    try:
        for path in args.stores:
            usernames += device_usernames(load_store(path))
        added = update_env_file(args.env, usernames)
    except (StoreConfigError, ValueError, OSError) as error:
        print(f"mqtt_credentials: {error}", file=sys.stderr)
        return 1
    for user in added:
        print(f"added {user}")
    print(f"{args.env}: {len(usernames)} device credentials ({len(added)} new); give each device its own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
