"""Bridge a real LLRP RFID reader (llrpkit) to the smartstore MQTT contract."""

from devices.llrp.bridge import ReaderBridge
from devices.llrp.settings import (
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
