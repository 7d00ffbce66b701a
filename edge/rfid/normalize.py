"""Wire reads -> normalized reads, once each: zone, RSSI in dBm, decoded EPC, reader time in our clock."""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from smartstore.edge.rfid.epc import EpcCache, EpcGarbage, EpcIdentity
from smartstore.edge.rfid.zones import ZoneRules, ZoneTable
from smartstore.kernel.contract.payloads import RSSI_DBM_MAX, RSSI_DBM_MIN, RSSI_SCALE, RssiUnit, rssi_to_dbm

# (identity, zone, RSSI dBm, read time in agent seconds, seen count, antenna port): a plain tuple because
# hundreds of thousands are made per second.
NormalizedRead = tuple[EpcIdentity, ZoneRules, float, float, int, int]

_MINUTE_CACHE_MAX = 4096


class ReadReject(StrEnum):
    """Why a single read was dropped (the rest of its batch is kept); counter names."""

    MALFORMED = "read_malformed"
    UNKNOWN_ANTENNA = "unknown_antenna"
    RSSI_OUT_OF_RANGE = "rssi_out_of_range"
    BELOW_MIN_RSSI = "below_min_rssi"


class ReaderTimes:
    """RFC 3339 text -> epoch seconds, fast for the 'YYYY-MM-DDTHH:MM:SS.ffffffZ' every reader sends.

    The minute prefix is parsed once and cached; only the seconds are converted per read. Anything else
    goes through `datetime.fromisoformat`; a time without an offset is rejected as the contract says.
    """

    def __init__(self) -> None:
        self._minutes: dict[str, float] = {}
        self.minute = self._minutes.get  # for hot loops that inline the fast path of `seconds`

    def seconds(self, text: str) -> float:
        base = self._minutes.get(text[:16])
        if base is not None and text[-1] == "Z" and text[16] == ":":
            second = float(text[17:-1])
            if 0.0 <= second < 61.0:
                return base + second
            raise ValueError(f"second out of range in {text!r}")
        return self._parse(text)

    def _parse(self, text: str) -> float:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"reader time without offset: {text!r}")
        if text[-1] == "Z" and len(text) > 17 and text[16] == ":":
            if len(self._minutes) >= _MINUTE_CACHE_MAX:
                self._minutes.clear()
            self._minutes[text[:16]] = datetime.fromisoformat(text[:16] + ":00+00:00").timestamp()
        return moment.timestamp()


class ReaderClock:
    """Offset of one reader's clock: running median of (receive time - newest read time) per batch.

    Field readers report clocks off by minutes or years; the median ignores a few delayed batches. A batch
    further than `jump_s` from the median means the clock was set: the estimate restarts from it, and is
    used from the next batch on (that one batch keeps the old offset; times are clamped to receipt).
    """

    def __init__(self, window: int, jump_s: float) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self._jump_s = jump_s
        self.offset: float | None = None
        self.jumps = 0

    def observe(self, received: float, newest_read: float) -> None:
        sample = received - newest_read
        if self.offset is not None and abs(sample - self.offset) > self._jump_s:
            self._samples.clear()
            self.jumps += 1
        self._samples.append(sample)
        ordered = sorted(self._samples)
        middle = len(ordered) // 2
        self.offset = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(slots=True)
class NormalizedBatch:
    reader: str
    received: float
    reads: list[NormalizedRead]


class ReadNormalizer:
    """One reader's raw JSON reads -> `NormalizedRead`s; bad reads are counted by reason, not fatal."""

    def __init__(
        self,
        table: ZoneTable,
        epcs: EpcCache,
        counters: Counter[str],
        *,
        clock_window: int,
        clock_jump_s: float,
    ) -> None:
        self._table = table
        self._epcs = epcs
        self._counters = counters
        self._times = ReaderTimes()
        self._clock_window = clock_window
        self._clock_jump_s = clock_jump_s
        self.clocks: dict[str, ReaderClock] = {}
        self.accepted: Counter[str] = Counter()  # reads per reader since the telemetry last took them
        self.unique: dict[str, set[str]] = {}  # EPCs per reader since the telemetry last took them

    def reload(self, table: ZoneTable) -> None:
        self._table = table

    def clock(self, reader: str) -> ReaderClock:
        clock = self.clocks.get(reader)
        if clock is None:
            clock = self.clocks[reader] = ReaderClock(self._clock_window, self._clock_jump_s)
        return clock

    def normalize(
        self, reader: str, raw_reads: list[Any], unit: RssiUnit | None, received: float
    ) -> NormalizedBatch:
        ports = self._table.antennas[reader]
        clock = self.clock(reader)
        first = clock.offset is None
        if first:
            self._first_offset(clock, raw_reads, received)
        offset = clock.offset if clock.offset is not None else 0.0
        scale = RSSI_SCALE[unit] if unit is not None else 0.0
        lookup = self._epcs.lookup
        recent = self._epcs.get_recent
        seconds = self._times.seconds
        minute = self._times.minute
        counters = self._counters
        seen = self.unique.setdefault(reader, set())
        reads: list[NormalizedRead] = []
        append = reads.append
        newest = -math.inf
        for read in raw_reads:
            try:
                antenna = read["antenna"]
                zone = ports.get(antenna)
                if zone is None:
                    counters[ReadReject.UNKNOWN_ANTENNA.value] += 1
                    continue
                rssi = read["rssi"]
                if scale:
                    rssi = rssi / scale
                    if not RSSI_DBM_MIN <= rssi <= RSSI_DBM_MAX:
                        counters[ReadReject.RSSI_OUT_OF_RANGE.value] += 1
                        continue
                elif not RSSI_DBM_MIN <= rssi <= RSSI_DBM_MAX:
                    rssi = rssi_to_dbm(rssi)
                    if rssi is None:
                        counters[ReadReject.RSSI_OUT_OF_RANGE.value] += 1
                        continue
                if rssi < zone.min_rssi:
                    counters[ReadReject.BELOW_MIN_RSSI.value] += 1
                    continue
                raw_epc = read["epc"]
                identity = recent(raw_epc) or lookup(raw_epc)
                if isinstance(identity, EpcGarbage):
                    counters[identity.value] += 1
                    continue
                text = read["ts"]
                base = minute(text[:16])
                if base is not None and text[-1] == "Z" and text[16] == ":":
                    # Inlined fast path of ReaderTimes.seconds: the same minute, seconds as a float.
                    second = float(text[17:-1])
                    if not 0.0 <= second < 61.0:
                        raise ValueError(text)
                    reader_time = base + second
                else:
                    reader_time = seconds(text)
                count = read.get("count", 1)
                size = len(read)
                if (
                    (size != 4 and (size != 5 or "count" not in read))
                    or count.__class__ is not int
                    or count < 1
                ):
                    counters[ReadReject.MALFORMED.value] += 1
                    continue
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                counters[ReadReject.MALFORMED.value] += 1
                continue
            if reader_time > newest:
                newest = reader_time
            moment = reader_time + offset
            seen.add(raw_epc)
            append((identity, zone, rssi, moment if moment < received else received, count, antenna))
        if newest > -math.inf and not first:
            clock.observe(received, newest)
        self.accepted[reader] += len(reads)
        return NormalizedBatch(reader, received, reads)

    def _first_offset(self, clock: ReaderClock, raw_reads: list[Any], received: float) -> None:
        """A reader's first batch: estimate the offset from it before correcting its own reads."""
        newest = -math.inf
        for read in raw_reads:
            try:
                newest = max(newest, self._times.seconds(read["ts"]))
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                continue
        if newest > -math.inf:
            clock.observe(received, newest)
