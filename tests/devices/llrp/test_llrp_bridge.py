"""The bridge against llrpkit's LLRP emulator over TCP, publishing to a private Mosquitto."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from llrp_helpers import (
    READER,
    BridgeFactory,
    EmulatorThread,
    ExtensionsRefusingEmulator,
    ReaderWatcher,
    aware_now,
    epc,
    hex_of,
    wait_for,
)
from llrpkit.emulator import EmulatedTag

from smartstore.kernel.contract.payloads import DeviceState, RssiUnit
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import StoreConfig
from smartstore.launcher.broker import free_port


def _reading(
    watcher: ReaderWatcher, tags: list[EmulatedTag], since: float = 0.0, timeout: float = 5.0
) -> bool:
    wanted = {hex_of(tag) for tag in tags}
    return wait_for(lambda: wanted <= watcher.epcs_since(since), timeout=timeout)


def test_population_appears_with_antenna_rssi_timestamps_and_rising_seq(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
) -> None:
    configured, elsewhere = population[:6], population[6]
    started = aware_now()
    start_bridge()

    assert _reading(watcher, configured)
    time.sleep(0.6)
    batches = watcher.batches_since(0.0)
    antenna_of = {hex_of(tag): tag.antennas[0] for tag in configured}
    rssi_of = {hex_of(tag): tag.rssi_dbm for tag in configured}
    reads = [read for batch in batches for read in batch.reads]
    assert hex_of(elsewhere) not in {read.epc for read in reads}, "port 3 is not in the ROSpec"
    for read in reads:
        assert read.antenna == antenna_of[read.epc]
        assert isinstance(read.rssi, float)
        assert abs(read.rssi - rssi_of[read.epc]) < 8.0
        assert started - timedelta(seconds=1) <= read.ts <= aware_now() + timedelta(seconds=1)
    # Impinj peak RSSI (the Octane extension llrpkit enables) has sub-dBm resolution.
    assert any(read.rssi != round(read.rssi) for read in reads)
    # Merged per interval: one read per tag and antenna in a batch, with the times it was seen.
    for batch in batches:
        assert len({(read.epc, read.antenna) for read in batch.reads}) == len(batch.reads)
    assert any(read.count > 1 for read in reads)
    seqs = [batch.seq for batch in batches]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {batch.rssi_unit for batch in batches} == {RssiUnit.DBM}
    assert len({batch.id for batch in batches}) == len(batches)
    assert wait_for(
        lambda: watcher.status_is(
            reader="inventorying",
            inventorying=True,
            llrp_connected=True,
            antennas_down="",
            model="700",
            firmware="llrpkit-emu 0.1",
            llrp_extensions="impinj",
        )
    )
    assert not watcher.rejected


def test_an_impinj_reader_refusing_the_extensions_is_read_with_standard_llrp(
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
) -> None:
    refusing = EmulatorThread(population, emulator_class=ExtensionsRefusingEmulator).start()
    try:
        bridge = start_bridge(port=refusing.port)

        assert _reading(watcher, population[:6])
        assert wait_for(
            lambda: watcher.status_is(reader="inventorying", inventorying=True, llrp_extensions="refused")
        )
        time.sleep(0.6)
        reads = [read for batch in watcher.batches_since(0.0) for read in batch.reads]
        # Standard LLRP's PeakRSSI is whole dBm: the Octane sub-dBm reports were really not asked for.
        assert reads
        assert all(read.rssi == round(read.rssi) for read in reads)
        assert bridge.bridge.state.llrp_sessions == 1, "one session: no reconnect loop"
    finally:
        refusing.close()


def test_a_tag_removed_from_the_population_stops_being_reported(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
) -> None:
    configured = population[:6]
    start_bridge()
    assert _reading(watcher, configured)

    gone, staying = configured[0], configured[1:]
    emulator.remove_tag(gone.epc)
    time.sleep(0.5)  # reads taken before the removal are flushed within one 200 ms interval
    mark = time.monotonic()
    assert _reading(watcher, staying, since=mark)
    time.sleep(1.0)

    assert hex_of(gone) not in watcher.epcs_since(mark)
    assert {hex_of(tag) for tag in staying} <= watcher.epcs_since(mark)

    # An empty field still reports, with empty batches: silence would not tell "nothing there" from "blind".
    for tag in population:
        emulator.remove_tag(tag.epc)
    time.sleep(0.5)
    emptied = time.monotonic()
    time.sleep(1.0)
    heartbeats = watcher.batches_since(emptied)
    assert len(heartbeats) >= 3
    assert all(batch.reads == [] for batch in heartbeats)


def test_a_dropped_reader_reconnects_with_backoff_and_says_it_is_not_inventorying(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
    mosquitto: Any,
    example_store: StoreConfig,
) -> None:
    configured = population[:6]
    bridge = start_bridge().bridge
    assert _reading(watcher, configured)
    assert wait_for(lambda: watcher.status_is(inventorying=True))

    emulator.stop_listening()
    dropped = time.monotonic()
    assert wait_for(lambda: watcher.first_status_since(dropped, inventorying=False) is not None, timeout=3)
    went_down = watcher.first_status_since(dropped, inventorying=False)
    assert went_down is not None
    down_at, down = went_down
    assert down_at - dropped < 1.5
    assert down.state is DeviceState.ONLINE
    assert down.info["llrp_connected"] is False

    time.sleep(1.2)  # the reader stays away; the bridge keeps retrying
    assert watcher.batches_since(down_at) == [], "no reads, and no empty batches, while the link is down"
    assert bridge.state.llrp_sessions == 1

    emulator.restart()
    restarted = time.monotonic()
    assert wait_for(lambda: watcher.first_status_since(restarted, inventorying=True) is not None, timeout=5)
    assert _reading(watcher, configured, since=restarted)
    assert bridge.state.llrp_sessions == 2
    seqs = [batch.seq for batch in watcher.batches_since(0.0)]
    assert seqs == list(range(1, len(seqs) + 1)), "seq carries on across reconnects"

    late = ReaderWatcher(mosquitto.settings, example_store.store.id, READER).start()
    try:
        assert wait_for(lambda: late.status_is(inventorying=True, llrp_connected=True))
    finally:
        late.stop()


def test_a_silent_link_without_keepalives_counts_as_a_disconnect(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
) -> None:
    proxy = emulator.start_proxy()
    start_bridge(port=proxy.port)  # keepalive every 300 ms, dead after 3 missed
    assert _reading(watcher, population[:6])

    proxy.frozen = True  # TCP stays open, nothing arrives: only the missing keepalives tell
    frozen = time.monotonic()
    assert wait_for(lambda: watcher.first_status_since(frozen, inventorying=False) is not None, timeout=3)
    went_down = watcher.first_status_since(frozen, inventorying=False)
    assert went_down is not None
    assert 0.8 <= went_down[0] - frozen < 2.5

    emulator.call(proxy.thaw())
    thawed = time.monotonic()
    assert wait_for(lambda: watcher.first_status_since(thawed, inventorying=True) is not None, timeout=8)
    assert _reading(watcher, population[:6], since=thawed)


def test_a_disconnected_antenna_shows_in_antennas_down(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
) -> None:
    on_port_2 = [tag for tag in population if tag.antennas == (2,)]
    start_bridge()
    assert _reading(watcher, population[:6])
    assert wait_for(lambda: watcher.status_is(inventorying=True, antennas_down=""))

    emulator.set_antenna(3, False)  # not a port of this reader in the store file: not reported
    emulator.set_antenna(2, False)
    assert wait_for(lambda: watcher.status_is(antennas_down="2", inventorying=True), timeout=3)
    time.sleep(0.4)
    mark = time.monotonic()
    time.sleep(0.8)
    assert watcher.batches_since(mark)
    assert all(read.antenna == 1 for batch in watcher.batches_since(mark) for read in batch.reads)

    emulator.set_antenna(2, True)
    assert wait_for(lambda: watcher.status_is(antennas_down=""), timeout=3)
    assert _reading(watcher, on_port_2, since=time.monotonic())


def test_bad_reads_are_rejected_and_counted_while_good_ones_flow(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
) -> None:
    # A 16-bit EPC is valid LLRP but below the contract's 32-bit minimum.
    emulator.call(_add_tag(emulator, EmulatedTag(epc=b"\x12\x34", antennas=(1,))))
    bridge = start_bridge(status_refresh_s=0.3).bridge

    assert _reading(watcher, population[:6])
    assert wait_for(lambda: bridge.rejections["invalid_read"] > 0)
    assert any(letter.epc == "1234" for letter in bridge.dead_letters)
    assert wait_for(lambda: int(watcher.latest_status().info["reads_rejected"]) > 0, timeout=3)  # type: ignore[union-attr]
    assert "1234" not in watcher.epcs_since(0.0)
    assert epc(0).hex().upper() in watcher.epcs_since(0.0)


async def _add_tag(emulator: EmulatorThread, tag: EmulatedTag) -> None:
    emulator.emulator.tags.append(tag)


def test_after_a_broker_restart_the_announced_status_still_carries_the_reader_facts(
    emulator: EmulatorThread,
    watcher: ReaderWatcher,
    start_bridge: BridgeFactory,
    population: list[EmulatedTag],
    mosquitto: Any,
) -> None:
    start_bridge()
    assert _reading(watcher, population[:6])
    assert wait_for(lambda: watcher.status_is(inventorying=True))
    before = watcher.latest_status()
    assert before is not None

    mosquitto.stop()
    mosquitto.start()
    restarted = time.monotonic()

    # The announce on reconnect is built from the live snapshot, not a bare 'online'.
    assert wait_for(
        lambda: (status := watcher.latest_status()) is not None and status.seq > before.seq, timeout=8
    )
    after = watcher.latest_status()
    assert after is not None
    assert after.state is DeviceState.ONLINE
    assert after.info["inventorying"] is True
    assert after.info["model"] == "700"
    assert _reading(watcher, population[:6], since=restarted)


def test_with_the_broker_unreachable_unconfirmed_batches_are_bounded_and_drops_counted(
    emulator: EmulatorThread, start_bridge: BridgeFactory
) -> None:
    nobody = MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}")
    bridge = start_bridge(mqtt=nobody, max_unacked_batches=3).bridge

    assert wait_for(lambda: bridge.state.batches_dropped >= 2, timeout=5)
    assert bridge.batches_published == 3
    assert bridge.state.inventorying, "a broker outage does not stop the reader"
