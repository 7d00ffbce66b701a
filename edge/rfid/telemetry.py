"""Per-reader summary for the dashboard: reads/s, distinct tags, tag read ages, clock offset, health."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from smartstore.edge.rfid.inventory import TagInventory
from smartstore.edge.rfid.normalize import ReadNormalizer
from smartstore.kernel.contract.payloads import ReadAges, ReaderSummary, RfidTelemetry, envelope

AGE_LIMITS_S = (5.0, 30.0, 300.0)  # under 5 s, under 30 s, under 5 min, older


def _zone_ages(inventory: TagInventory, now: float) -> dict[str, list[int]]:
    ages: dict[str, list[int]] = {}
    under_5s, under_30s, under_5min = AGE_LIMITS_S
    for tag in inventory.present_tags():
        buckets = ages.get(tag.zone)
        if buckets is None:
            buckets = ages[tag.zone] = [0, 0, 0, 0]
        age = now - tag.last_seen
        buckets[0 if age < under_5s else 1 if age < under_30s else 2 if age < under_5min else 3] += 1
    return ages


class TelemetryBuilder:
    """Builds an `RfidTelemetry` every `interval_s`; its own `seq`, since it bypasses the outbox."""

    def __init__(self, interval_s: float, now: float) -> None:
        self._interval_s = interval_s
        self._last = now
        self._seq = 0

    def due(self, now: float) -> bool:
        return now - self._last >= self._interval_s

    def build(
        self, now: float, inventory: TagInventory, normalizer: ReadNormalizer, rejected: Counter[str]
    ) -> RfidTelemetry:
        elapsed = max(now - self._last, 1e-9)
        self._last = now
        self._seq += 1
        ages = _zone_ages(inventory, now)
        coverage = inventory.coverage
        readers: list[ReaderSummary] = []
        for reader, ports in sorted(inventory.table.antennas.items()):
            zones = sorted({zone.id for zone in ports.values()})
            buckets = [sum(ages.get(zone, [0, 0, 0, 0])[i] for zone in zones) for i in range(4)]
            health = coverage.readers[reader]
            clock = normalizer.clocks.get(reader)
            readers.append(
                ReaderSummary(
                    reader=reader,
                    online=coverage.healthy(reader, now) and not (health.antennas_down & set(ports)),
                    reads_per_s=round(normalizer.accepted.pop(reader, 0) / elapsed, 2),
                    unique_tags=len(normalizer.unique.pop(reader, ())),
                    tags_in_zones=sum(buckets),
                    read_ages=ReadAges(
                        under_5s=buckets[0], under_30s=buckets[1], under_5min=buckets[2], older=buckets[3]
                    ),
                    clock_offset_s=round(clock.offset, 3) if clock and clock.offset is not None else None,
                    antennas_down=sorted(health.antennas_down),
                )
            )
        return RfidTelemetry(
            **envelope(self._seq, datetime.fromtimestamp(now, UTC)),
            interval_s=round(elapsed, 3),
            readers=readers,
            rejected_reads=dict(sorted(rejected.items())),
        )
