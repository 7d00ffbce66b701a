"""Pure core of the bridge: check LLRP tag reports, merge them per tag and antenna, emit contract TagReads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from llrpkit import TagReport
from pydantic import ValidationError

from smartstore.kernel.contract.payloads import MAX_READS_PER_BATCH, RssiUnit, TagRead, rssi_to_dbm
from smartstore.kernel.contract.validation import describe

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReadRejectReason(StrEnum):
    """Why a tag report from the reader was not forwarded; a counter label, so the set is fixed."""

    NO_ANTENNA = "no_antenna"
    UNKNOWN_ANTENNA = "unknown_antenna"
    NO_RSSI = "no_rssi"
    RSSI_OUT_OF_RANGE = "rssi_out_of_range"
    NO_TIMESTAMP = "no_timestamp"
    INVALID_READ = "invalid_read"


@dataclass(frozen=True, slots=True)
class RejectedRead:
    reason: ReadRejectReason
    epc: str
    detail: str


def reader_time(microseconds: int) -> datetime:
    """An LLRP UTC timestamp (microseconds since the Unix epoch) as an aware datetime, exactly."""
    return _EPOCH + timedelta(microseconds=microseconds)


def check_report(report: TagReport, antennas: frozenset[int]) -> RejectedRead | None:
    """The cheap per-report checks; the full contract validation runs once per merged read."""
    if report.antenna is None:
        reason, detail = ReadRejectReason.NO_ANTENNA, "report has no AntennaID"
    elif report.antenna not in antennas:
        reason, detail = ReadRejectReason.UNKNOWN_ANTENNA, f"antenna {report.antenna} is not configured"
    elif report.rssi_dbm is None:
        reason, detail = ReadRejectReason.NO_RSSI, "report has no peak RSSI"
    elif rssi_to_dbm(report.rssi_dbm, RssiUnit.DBM) is None:
        # One such read would make the contract refuse the whole batch.
        reason, detail = ReadRejectReason.RSSI_OUT_OF_RANGE, f"{report.rssi_dbm} dBm"
    elif report.first_seen_us is None:
        reason, detail = ReadRejectReason.NO_TIMESTAMP, "report has no first-seen timestamp"
    else:
        return None
    return RejectedRead(reason, report.epc.hex().upper(), detail)


@dataclass(slots=True)
class _Merged:
    first_seen_us: int
    peak_rssi: float
    count: int


class ReadAggregator:
    """Reads of one report interval, merged per (EPC, antenna): earliest first-seen, peak RSSI, summed count.

    Bounded by the contract's batch size: `add` says when the caller must drain early.
    """

    def __init__(self, antennas: frozenset[int], max_reads: int = MAX_READS_PER_BATCH) -> None:
        self.antennas = antennas
        self.max_reads = max_reads
        self._merged: dict[tuple[bytes, int], _Merged] = {}

    def __len__(self) -> int:
        return len(self._merged)

    def add(self, report: TagReport) -> RejectedRead | None:
        """Merge one report, or say why it was rejected."""
        rejected = check_report(report, self.antennas)
        if rejected is not None:
            return rejected
        # check_report guarantees these; the asserts narrow the types for mypy.
        assert report.antenna is not None
        assert report.rssi_dbm is not None
        assert report.first_seen_us is not None
        count = max(1, report.seen_count or 1)
        key = (report.epc, report.antenna)
        merged = self._merged.get(key)
        if merged is None:
            self._merged[key] = _Merged(report.first_seen_us, report.rssi_dbm, count)
        else:
            merged.first_seen_us = min(merged.first_seen_us, report.first_seen_us)
            merged.peak_rssi = max(merged.peak_rssi, report.rssi_dbm)
            merged.count += count
        return None

    @property
    def full(self) -> bool:
        return len(self._merged) >= self.max_reads

    def drain(self) -> tuple[list[TagRead], list[RejectedRead]]:
        """Everything merged so far as contract reads (oldest first); reads the contract refuses come back."""
        merged, self._merged = self._merged, {}
        reads: list[TagRead] = []
        rejected: list[RejectedRead] = []
        for (epc, antenna), value in sorted(merged.items(), key=lambda item: item[1].first_seen_us):
            epc_hex = epc.hex().upper()
            try:
                reads.append(
                    TagRead(
                        epc=epc_hex,
                        antenna=antenna,
                        rssi=value.peak_rssi,
                        ts=reader_time(value.first_seen_us),
                        count=value.count,
                    )
                )
            except ValidationError as error:
                rejected.append(RejectedRead(ReadRejectReason.INVALID_READ, epc_hex, describe(error)))
            except OverflowError as error:
                rejected.append(RejectedRead(ReadRejectReason.INVALID_READ, epc_hex, f"ts: {error}"))
        return reads, rejected
