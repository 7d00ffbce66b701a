"""Unplugging a device: the broker publishes its retained offline Last Will; plugging back says online."""

from __future__ import annotations

import pytest
from sim_helpers import BrokerLike, CollectorFactory, SimFactory, wait_for

from smartstore.devices.sim import Outage, SimulatorError
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus
from smartstore.kernel.contract.validation import decode_as
from smartstore.kernel.mqtt import MqttSettings


def last_state(collector_messages: list[bytes]) -> DeviceState | None:
    return decode_as(DeviceStatus, collector_messages[-1]).state if collector_messages else None


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_unplugged_reader_goes_offline_by_last_will_and_comes_back(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory, protocol: str
) -> None:
    settings = MqttSettings(url=mosquitto.url, protocol=protocol)
    sim = make_sim(mqtt=settings, speed=0, read_interval_s=0.2, cameras=False, lockers=False)
    store = sim.store_id
    status = topics.status(store, topics.Kind.RFID, "reader-aisle-1")
    reads = topics.rfid_reads(store, "reader-aisle-1")
    watcher = collectors(
        mosquitto.settings, [topics.status_filter(store), *topics.device_data_filters(store)]
    )
    sim.start()
    assert wait_for(lambda: last_state(watcher.on(status)) is DeviceState.ONLINE)
    assert wait_for(lambda: len(watcher.on(reads)) >= 2)

    sim.unplug("reader-aisle-1")
    assert wait_for(lambda: last_state(watcher.on(status)) is DeviceState.OFFLINE, timeout=5.0)
    assert sim.truth_snapshot()["devices"] == {**sim.device_flags(), "reader-aisle-1": False}
    sold_before = sim.world.sold
    sim.step(1800)  # the world goes on while the reader is dark
    assert sim.world.sold > sold_before
    silent_from = len(watcher.on(reads))
    other = topics.rfid_reads(store, "reader-aisle-2")
    others_from = len(watcher.on(other))
    assert wait_for(lambda: len(watcher.on(other)) >= others_from + 3)
    assert len(watcher.on(reads)) == silent_from

    # Someone who subscribes now gets the retained Last Will.
    late = collectors(mosquitto.settings, [status])
    assert wait_for(lambda: last_state(late.on(status)) is DeviceState.OFFLINE)
    assert late.messages[0][2] is True, "status is retained"

    sim.replug("reader-aisle-1")
    assert wait_for(lambda: last_state(watcher.on(status)) is DeviceState.ONLINE, timeout=5.0)
    assert wait_for(lambda: len(watcher.on(reads)) > silent_from)


def test_clean_stop_publishes_offline_for_every_device(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory
) -> None:
    sim = make_sim(mqtt=mosquitto.settings, speed=0, read_interval_s=1.0)
    watcher = collectors(mosquitto.settings, [topics.status_filter(sim.store_id)])
    sim.start()
    assert sim.wait_online(5.0)
    sim.stop()
    device_ids = set(sim.devices)
    assert len(device_ids) == 7 + 8 + 1

    def all_offline() -> bool:
        latest = {topic.split("/")[4]: raw for topic, raw, _ in watcher.messages}
        return set(latest) == device_ids and all(
            decode_as(DeviceStatus, raw).state is DeviceState.OFFLINE for raw in latest.values()
        )

    assert wait_for(all_offline, timeout=5.0)


def test_scheduled_outage_follows_sim_time(
    mosquitto: BrokerLike, make_sim: SimFactory, collectors: CollectorFactory
) -> None:
    sim = make_sim(
        mqtt=mosquitto.settings,
        speed=0,
        cameras=False,
        lockers=False,
        outages=[Outage.parse("reader-exit@600+300")],
    )
    status = topics.status(sim.store_id, topics.Kind.RFID, "reader-exit")
    watcher = collectors(mosquitto.settings, [status])
    sim.start(clock=False)
    assert sim.wait_online(5.0)
    sim.step(599)
    assert sim.devices["reader-exit"].online
    sim.step(2)
    assert not sim.devices["reader-exit"].online
    assert wait_for(lambda: last_state(watcher.on(status)) is DeviceState.OFFLINE)
    sim.step(300)
    assert wait_for(lambda: last_state(watcher.on(status)) is DeviceState.ONLINE)


def test_outage_syntax_and_unknown_devices(make_sim: SimFactory) -> None:
    assert Outage.parse("cam-1l@60+30.5") == Outage(device="cam-1l", start_s=60, duration_s=30.5)
    for bad in ("cam-1l", "cam-1l@60", "cam-1l@x+1", "@1+1", "cam/1@1+1"):
        with pytest.raises(ValueError, match="DEVICE@START"):
            Outage.parse(bad)
    with pytest.raises(SimulatorError, match="no-such-reader"):
        make_sim(outages=[Outage.parse("no-such-reader@1+1")])
    with pytest.raises(SimulatorError, match="cam-1l"):
        make_sim(cameras=False, outages=[Outage.parse("cam-1l@1+1")])
    with pytest.raises(SimulatorError, match="locker-1/c99"):
        make_sim(cameras=False, locker={"jammed": ["locker-1/c99"]})
