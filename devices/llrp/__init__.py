"""Bridge a real LLRP RFID reader (llrpkit) to the smartstore MQTT contract."""

from smartstore.devices.llrp.bridge import ReaderBridge
from smartstore.devices.llrp.settings import (
    BackoffSettings,
    ReaderBridgeSettings,
    UnknownReaderError,
    settings_for_reader,
)

__all__ = [
    "BackoffSettings",
    "ReaderBridge",
    "ReaderBridgeSettings",
    "UnknownReaderError",
    "settings_for_reader",
]
