"""Which zones are watched right now: readers online, inventorying, reporting, with their antennas up."""

from __future__ import annotations

from dataclasses import dataclass, field

from smartstore.edge.rfid.zones import ZoneTable

# How fast a reader's learned report interval follows the gaps it really shows.
_GAP_SMOOTHING = 0.2


@dataclass(slots=True)
class ReaderHealth:
    # Online until a status says otherwise: a reader without a status topic must not freeze departures.
    online: bool = True
    inventorying: bool = True
    antennas_down: frozenset[int] = field(default_factory=frozenset)
    last_report: float | None = None
    gap_ema: float | None = None

    def reporting(self, now: float, read_interval_s: float, silent_reports: int) -> bool:
        if self.last_report is None:
            return False
        # A reader configured slower than `read_interval_s` is learned, not called silent every time.
        interval = max(read_interval_s, self.gap_ema or 0.0)
        return now - self.last_report <= silent_reports * interval


class Coverage:
    """A zone is covered while every (reader, antenna) of it is healthy; absence of reads is evidence then.

    `since(zone)` is when the zone last became covered (None while it is not): departure clocks and the
    mobility hold-off never count time before it, so a reader coming back does not drop every tag at once.
    """

    def __init__(self, table: ZoneTable, read_interval_s: float, silent_reports: int) -> None:
        self._read_interval_s = read_interval_s
        self._silent_reports = silent_reports
        self.readers: dict[str, ReaderHealth] = {}
        self._since: dict[str, float | None] = {}
        self.all_since: float | None = None  # when every reader-covered zone last became covered
        self.reload(table)

    def reload(self, table: ZoneTable) -> None:
        self._table = table
        self.readers = {reader: self.readers.get(reader, ReaderHealth()) for reader in table.antennas}
        self._since = {zone: self._since.get(zone) for zone in table.zone_sources}

    def knows(self, reader: str) -> bool:
        return reader in self.readers

    def report(self, reader: str, now: float) -> bool:
        """Note a batch; True when the reader was not reporting before it (coverage may have changed)."""
        health = self.readers[reader]
        was_reporting = health.reporting(now, self._read_interval_s, self._silent_reports)
        if health.last_report is not None:
            gap = max(0.0, now - health.last_report)
            health.gap_ema = (
                gap if health.gap_ema is None else health.gap_ema + _GAP_SMOOTHING * (gap - health.gap_ema)
            )
        health.last_report = now
        return not was_reporting

    def set_status(
        self, reader: str, *, online: bool, inventorying: bool, antennas_down: frozenset[int]
    ) -> None:
        health = self.readers[reader]
        if not online and health.online:
            # Back from an outage a reader must report afresh before its zones count as covered again.
            health.last_report = None
            health.gap_ema = None
        health.online = online
        health.inventorying = inventorying
        health.antennas_down = antennas_down

    def report_interval(self, reader: str) -> float:
        """The reader's report interval: configured, or the one it shows when that is longer."""
        return max(self._read_interval_s, self.readers[reader].gap_ema or 0.0)

    def healthy(self, reader: str, now: float) -> bool:
        health = self.readers[reader]
        return (
            health.online
            and health.inventorying
            and health.reporting(now, self._read_interval_s, self._silent_reports)
        )

    def update(self, now: float) -> None:
        """Re-judge every zone; call before asking `since` (the processor does, every tick and batch)."""
        for zone, sources in self._table.zone_sources.items():
            covered = all(
                self.healthy(reader, now) and port not in self.readers[reader].antennas_down
                for reader, port in sources
            )
            if not covered:
                self._since[zone] = None
            elif self._since[zone] is None:
                self._since[zone] = now
        if any(since is None for since in self._since.values()):
            self.all_since = None
        elif self.all_since is None:
            self.all_since = now

    def since(self, zone: str) -> float | None:
        return self._since.get(zone)
