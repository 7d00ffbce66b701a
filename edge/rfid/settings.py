"""Settings of the RFID pipeline (`EdgeSettings.rfid`, env SMARTSTORE_EDGE_RFID__*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RfidSettings(BaseModel):
    """The RFID pipeline (edge/rfid); zone settings (min RSSI, mobility, timeouts) are in the store file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stock_publish_interval_s: float = Field(
        2.0, gt=0, description="Changed counts go out at most this often."
    )
    snapshot_interval_s: float = Field(60.0, gt=0, description="Full count snapshot for gateway resync.")
    read_interval_s: float = Field(
        1.0, gt=0, description="Expected seconds between a reader's batches (learned upwards if slower)."
    )
    silent_reports: int = Field(
        3, ge=1, le=100, description="A reader silent this many intervals no longer covers its zones."
    )
    zone_window_s: float = Field(
        5.0, gt=0, description="Reads of a tag in a zone further apart than this restart its zone statistics."
    )
    rssi_average_reads: int = Field(
        10, ge=1, le=1000, description="A zone's mean RSSI (in mW) follows about this many latest reads."
    )
    clock_offset_batches: int = Field(
        15, ge=1, le=1000, description="Batches in the running median of a reader's clock offset."
    )
    clock_jump_s: float = Field(
        30.0, gt=0, description="A batch this far off the offset median restarts the estimate (clock set)."
    )
    departure_check_interval_s: float = Field(1.0, gt=0, description="How often absent tags are checked.")
    store_wide_hold: bool = Field(
        True,
        description="Timeout departures (no exit seen) also wait while any zone is not covered: the tag "
        "may have been carried into it.",
    )
    departed_retention_s: float = Field(
        86400.0, ge=0, description="Departed tags are remembered this long, to report their return."
    )
    max_tags: int = Field(
        2_000_000, ge=1000, description="Tags tracked at most; new ones beyond are dropped."
    )
    low_stock_settle_s: float = Field(
        60.0, ge=0, description="A zone must be covered this long before its low-stock alerts are judged."
    )
    low_stock_reraise_s: float = Field(
        300.0,
        ge=0,
        description="A cleared low-stock alert is raised again no sooner than this: a count flapping "
        "around the threshold sends one raise and one clear per interval at most (0: no hold).",
    )
    telemetry_interval_s: float = Field(10.0, gt=0, description="Per-reader summary for the dashboard.")
    persist_interval_s: float = Field(30.0, gt=0, description="How often tag state is saved to disk.")
    store_check_interval_s: float = Field(
        5.0, gt=0, description="How often the store file is checked for changes to reload zone settings."
    )
    epc_cache_max: int = Field(500_000, ge=1000, description="Decoded EPCs remembered (LRU).")
    recent_batch_ids: int = Field(20_000, ge=100, description="Batch ids remembered to drop duplicates.")
