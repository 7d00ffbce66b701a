"""Import Ultralytics so it never reaches for the network: offline flag, no font fetch, sockets refused."""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

_INTERNET_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_LOOPBACK = (None, "localhost", "127.0.0.1", "::1")


def import_ultralytics() -> ModuleType:
    """Set the offline switches, then import; only train/export call this, so the edge never loads torch."""
    # Ultralytics reads these once at import time; set later they do nothing.
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    ultralytics = importlib.import_module("ultralytics")
    data_utils = importlib.import_module("ultralytics.data.utils")

    # check_det_dataset() looks for Arial.ttf and, if missing, probes its download URL (a 3 s hang offline);
    # with plots=False no font is ever drawn.
    setattr(data_utils, "check_font", _no_font)  # noqa: B010 - a module attribute mypy cannot see
    return ultralytics


def _no_font(font: str = "Arial.ttf") -> None:
    logger.debug("font %s not fetched: training runs offline without plots", font)


@contextmanager
def refuse_network() -> Iterator[list[str]]:
    """Refuse every non-loopback connection and name lookup inside the block; yields the attempts made."""
    attempts: list[str] = []
    original_connect = socket.socket.connect
    original_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in _INTERNET_FAMILIES and address[0] not in _LOOPBACK:
            attempts.append(f"connect {address}")
            logger.warning("refused a network connection to %s: training runs offline", address)
            raise OSError(f"network access refused (offline training): {address}")
        original_connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            attempts.append(f"lookup {host}")
            logger.warning("refused a name lookup of %s: training runs offline", host)
            raise socket.gaierror(f"network access refused (offline training): {host}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = guarded_getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo
