"""Whether the RFID readers of a zone are online and reporting, so an absent tag can be trusted as gone."""

from __future__ import annotations

from dataclasses import dataclass

from smartstore.storeconfig import StoreConfig

MISSED_REPORTS_FOR_STALE = 3


@dataclass(slots=True)
class _Reader:
    online: bool = True  # until a status says otherwise; a missing status must not freeze departures
    last_report: float | None = None
    gap_ema: float | None = None


class ReaderHealth:
    """Tracks reader status and report times; a zone is covered when every reader of it is healthy.

    `covered_since(zone)` is when the zone last became covered: a tag's departure clock never starts
    before it, so tags are not dropped the moment a reader comes back from an outage.
    """

    def __init__(self, store: StoreConfig, read_interval_s: float) -> None:
        self._read_interval_s = read_interval_s
        self._readers = {reader.id: _Reader() for reader in store.devices.readers}
        self.zone_readers: dict[str, list[str]] = {}
        for reader in store.devices.readers:
            for antenna in reader.antennas:
                readers = self.zone_readers.setdefault(antenna.zone, [])
                if reader.id not in readers:
                    readers.append(reader.id)
        self._covered_since: dict[str, float | None] = dict.fromkeys(self.zone_readers)

    def knows(self, reader_id: str) -> bool:
        return reader_id in self._readers

    def report(self, reader_id: str, now: float) -> None:
        reader = self._readers[reader_id]
        if reader.last_report is not None:
            gap = max(0.0, now - reader.last_report)
            reader.gap_ema = gap if reader.gap_ema is None else reader.gap_ema + 0.2 * (gap - reader.gap_ema)
        reader.last_report = now

    def set_online(self, reader_id: str, online: bool) -> None:
        reader = self._readers[reader_id]
        reader.online = online
        if not online:
            # A reader back from an outage must report afresh before its zones count as covered.
            reader.last_report = None

    def is_healthy(self, reader_id: str, now: float) -> bool:
        reader = self._readers[reader_id]
        if not reader.online or reader.last_report is None:
            return False
        # Learn slower-than-configured readers so a 5 s reader is not called stale every 3 s.
        interval = max(self._read_interval_s, reader.gap_ema or 0.0)
        return now - reader.last_report <= MISSED_REPORTS_FOR_STALE * interval

    def update(self, now: float) -> None:
        """Re-evaluate zone coverage; call once per tick before asking `covered_since`."""
        for zone, readers in self.zone_readers.items():
            healthy = all(self.is_healthy(reader, now) for reader in readers)
            if not healthy:
                self._covered_since[zone] = None
            elif self._covered_since[zone] is None:
                self._covered_since[zone] = now

    def covered_since(self, zone: str) -> float | None:
        """When the zone's readers all became healthy; None while any of them is not."""
        return self._covered_since.get(zone)

    @property
    def zones(self) -> list[str]:
        return sorted(self.zone_readers)
