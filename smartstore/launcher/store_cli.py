"""`smartstore store validate FILE`: check a store file and print errors by location."""

from __future__ import annotations

import argparse
import sys

from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfigError, load_store


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="store_command", required=True)
    validate = sub.add_parser("validate", help="validate a store file")
    validate.add_argument("path", nargs="?", default=str(EXAMPLE_STORE))
    example = sub.add_parser("example-path", help="print the path of the embedded example store")
    example.set_defaults(path=str(EXAMPLE_STORE))


def run(args: argparse.Namespace) -> int:
    if args.store_command == "example-path":
        print(EXAMPLE_STORE)
        return 0
    try:
        config = load_store(args.path)
    except StoreConfigError as error:
        print(error, file=sys.stderr)
        return 1
    devices = config.devices
    print(
        f"{args.path}: ok — store {config.store.id}, {len(config.catalog)} products, "
        f"{len(config.zones)} zones, {len(devices.readers)} readers, {len(devices.cameras)} cameras, "
        f"{len(devices.lockers)} locker banks, {len(config.slots)} planogram slots"
    )
    return 0
