"""The `smartstore` console script: one subcommand per component, each configured in its own module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Protocol, cast

# subcommand -> (module with configure(parser) and run(args) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("smartstore.launcher.demo", "run a whole simulated store end to end on embedded defaults"),
    "gateway": ("smartstore.gateway.cli", "run the gateway: MQTT signal consumer, REST API, dashboard"),
    "edge": ("smartstore.edge.cli", "run an edge agent for one store"),
    "sim": ("smartstore.devices.sim.cli", "run the simulated store devices"),
    "keys": ("smartstore.gateway.keys_cli", "create, list and revoke API keys"),
    "store": ("smartstore.launcher.store_cli", "validate or inspect a store file"),
    "reader": ("smartstore.devices.llrp.cli", "bridge an LLRP RFID reader to MQTT"),
    "locker": ("smartstore.devices.locker.cli", "locker bank tools: type a pickup code on a bank's keypad"),
    "model": ("smartstore.models.cli", "synthetic data, training and evaluation of the shelf detector"),
    "vision": (
        "smartstore.edge.vision.cli",
        "run the shelf detector on images, draw a camera's planogram slots",
    ),
}


class CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, CommandModule | None]:
    parser = argparse.ArgumentParser(prog="smartstore", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen: CommandModule | None = None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        # Import only the command being run: the gateway should not pay for OpenCV and vice versa.
        if name in argv:
            module = cast(CommandModule, importlib.import_module(module_name))
            module.configure(command_parser)
            command_parser.set_defaults(_module=module)
            chosen = module
    return parser, chosen


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, _ = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 2
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
