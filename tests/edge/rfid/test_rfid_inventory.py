"""The pure inventory, table-driven: arrivals, hand-over between zones, departures and their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rfid_helpers import BREAD, MILK, NOT_IN_CATALOG, OATS, Dataset, Read, epc, sgtin198

from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import TagEventKind

TAG = epc(MILK, 1)
YEAR_S = 365 * 86400.0


@dataclass(frozen=True)
class Seconds:
    """`n` seconds in which every reader reports, with `reads` per reader each second."""

    n: int
    reads: dict[str, list[Read]] = field(default_factory=dict)
    silent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    reader: str
    online: bool = True
    inventorying: bool = True
    down: tuple[int, ...] = ()


Step = Seconds | Status
Event = tuple[str, str, str | None, str | None]  # kind, zone, from zone, reason


def a1(rssi: float = -50.0, antenna: int = 1) -> list[Read]:
    return [(TAG, antenna, rssi)]


def at(reader: str, rssi: float = -50.0) -> dict[str, list[Read]]:
    return {reader: [(TAG, 1, rssi)]}


ARRIVED: Event = ("arrived", "aisle-1", None, None)

Case = tuple[str, list[Step], list[Event], str | None]
CASES: list[Case] = [
    ("arrives on its first read", [Seconds(1, {"reader-a1": a1()})], [ARRIVED], "aisle-1"),
    (
        "moves once the old zone has been silent past the hold-off",
        [Seconds(5, at("reader-a1")), Seconds(20, at("reader-a2"))],
        [ARRIVED, ("moved", "aisle-2", "aisle-1", None)],
        "aisle-2",
    ),
    (
        "weak crosstalk from a neighbour never takes a tag",
        [Seconds(90, {"reader-a1": a1(-50), "reader-a2": [(TAG, 1, -58.0)]})],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "a stronger neighbour inside the profile threshold does not take it",
        [Seconds(90, {"reader-a1": a1(-50), "reader-a2": [(TAG, 1, -46.0)]})],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "a neighbour stronger by more than the threshold takes it after min_reads reads",
        [
            Seconds(2, {"reader-a1": a1(-60), "reader-a2": [(TAG, 1, -45.0)]}),
            Seconds(1, {"reader-a1": a1(-60)}),
            Seconds(1, {"reader-a1": a1(-60), "reader-a2": [(TAG, 1, -45.0)]}),
        ],
        [ARRIVED, ("moved", "aisle-2", "aisle-1", None)],
        "aisle-2",
    ),
    (
        "antennas of one zone share statistics: no flip between them",
        [Seconds(30, {"reader-a1": [(TAG, 1, -70.0), (TAG, 2, -48.0)]})],
        [ARRIVED],
        "aisle-1",
    ),
    (
        # dBm-averaged, aisle-1 would be -60 and the -52 neighbour 8 dB stronger: it would move.
        "means are averaged in milliwatts: a fading strong zone keeps its tag",
        [
            Seconds(1, {"reader-a1": a1(rssi), "reader-a2": [(TAG, 1, -52.0)]})
            for _ in range(20)
            for rssi in (-45.0, -75.0)
        ],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "departs by the zone's timeout while its reader reports",
        [Seconds(1, at("reader-a1")), Seconds(59), Seconds(3)],
        [ARRIVED, ("departed", "aisle-1", None, "timeout")],
        None,
    ),
    (
        "exit: handed to the exit zone, then gone -> reason exit",
        [Seconds(3, at("reader-a1")), Seconds(4, at("reader-exit")), Seconds(15)],
        [ARRIVED, ("moved", "exit", "aisle-1", None), ("departed", "exit", None, "exit")],
        None,
    ),
    (
        "last seen at an exit it was not handed to -> departs by the exit's short timeout",
        [
            Seconds(3, {"reader-a1": a1(-45), "reader-exit": [(TAG, 1, -65.0)]}),
            Seconds(1, at("reader-exit", -65.0)),
            Seconds(12),
        ],
        [ARRIVED, ("departed", "aisle-1", None, "exit")],
        None,
    ),
    (
        "taken to the exit and brought back: handed back, not departed",
        [Seconds(3, at("reader-a1")), Seconds(4, at("reader-exit")), Seconds(30, at("reader-a1"))],
        [ARRIVED, ("moved", "exit", "aisle-1", None), ("moved", "aisle-1", "exit", None)],
        "aisle-1",
    ),
    (
        "through a point-of-sale zone -> reason point_of_sale",
        [Seconds(3, at("reader-a1")), Seconds(4, at("reader-pos")), Seconds(15)],
        [ARRIVED, ("moved", "pos", "aisle-1", None), ("departed", "pos", None, "point_of_sale")],
        None,
    ),
    (
        "from the locker bay out through the exit -> reason locker_pickup",
        [Seconds(3, at("reader-lockers")), Seconds(4, at("reader-exit")), Seconds(15)],
        [
            ("arrived", "lockers", None, None),
            ("moved", "exit", "lockers", None),
            ("departed", "exit", None, "locker_pickup"),
        ],
        None,
    ),
    (
        "a departed tag read again has returned",
        [Seconds(1, at("reader-a1")), Seconds(62), Seconds(1, at("reader-a2"))],
        [ARRIVED, ("departed", "aisle-1", None, "timeout"), ("returned", "aisle-2", "aisle-1", None)],
        "aisle-2",
    ),
    (
        "never departs while its reader is offline, and the timeout restarts when it is back",
        [
            Seconds(1, at("reader-a1")),
            Status("reader-a1", online=False),
            Seconds(180),
            Status("reader-a1"),
            Seconds(59),
        ],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "never departs while its reader is not inventorying",
        [Seconds(1, at("reader-a1")), Status("reader-a1", inventorying=False), Seconds(180)],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "never departs while an antenna of its zone is down",
        [Seconds(1, at("reader-a1")), Status("reader-a1", down=(2,)), Seconds(180)],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "a tag gone silent may sit in another zone whose reader is down: no timeout departure",
        [Seconds(1, at("reader-a1")), Status("reader-a2", online=False), Seconds(180)],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "with another zone down, a tag seen leaving through the exit still departs",
        [
            Status("reader-a2", down=(1,)),
            Seconds(3, at("reader-a1")),
            Seconds(4, at("reader-exit")),
            Seconds(15),
        ],
        [ARRIVED, ("moved", "exit", "aisle-1", None), ("departed", "exit", None, "exit")],
        None,
    ),
    (
        "never departs while its reader is silent",
        [Seconds(1, at("reader-a1")), Seconds(180, silent=("reader-a1",)), Seconds(59)],
        [ARRIVED],
        "aisle-1",
    ),
    (
        "an offline zone's silence is no evidence: crosstalk cannot take its tags",
        [
            Seconds(5, {"reader-a1": a1(-50), "reader-a2": [(TAG, 1, -57.0)]}),
            Status("reader-a1", online=False),
            Seconds(120, {"reader-a2": [(TAG, 1, -57.0)]}),
        ],
        [ARRIVED],
        "aisle-1",
    ),
]


def play(dataset: Dataset, steps: list[Step]) -> None:
    for step in steps:
        if isinstance(step, Status):
            dataset.status(step.reader, online=step.online, inventorying=step.inventorying, down=step.down)
        else:
            dataset.run(step.n, step.reads, silent=step.silent)


@pytest.mark.parametrize(
    ("steps", "expected", "final_zone"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_tag_life(dataset: Dataset, steps: list[Step], expected: list[Event], final_zone: str | None) -> None:
    play(dataset, steps)
    assert dataset.kinds() == expected
    assert dataset.zone_of(TAG) == final_zone
    assert dataset.inventory.counts == ({(final_zone, MILK): 1} if final_zone else {})


def test_the_hold_off_delays_a_move_and_the_slope_then_lowers_the_bar(dataset: Dataset) -> None:
    dataset.run(5, at("reader-a1"))
    last_aisle_read = dataset.now
    dataset.run(20, at("reader-a2"))
    [moved] = [e for e in dataset.events if e.kind is TagEventKind.MOVED]
    # Equal means: the 6 dB threshold holds for the 5 s hold-off, then falls 1 dB/s to below zero.
    assert moved.t - last_aisle_read == pytest.approx(12.0)


def test_offline_then_back_departs_only_a_full_timeout_after_the_return(dataset: Dataset) -> None:
    dataset.run(1, at("reader-a1"))
    dataset.status("reader-a1", online=False)
    dataset.run(100)
    dataset.status("reader-a1")
    back = dataset.now
    dataset.run(70)
    [departed] = [e for e in dataset.events if e.kind is TagEventKind.DEPARTED]
    assert 60.0 < departed.t - back <= 63.0


@pytest.mark.parametrize(
    ("tag_epc", "gtin", "scheme", "counted"),
    [
        (epc(OATS, 77), OATS, "sgtin-96", True),
        (sgtin198(BREAD, "AB-7x"), BREAD, "sgtin-198", True),
        ("340000000000000000000000", None, "giai", False),  # a GIAI-96 asset tag: tracked, never a product
        (epc(NOT_IN_CATALOG, 1), NOT_IN_CATALOG, "sgtin-96", False),
    ],
    ids=["sgtin-96", "sgtin-198", "other scheme", "not in catalog"],
)
def test_identities(dataset: Dataset, tag_epc: str, gtin: str | None, scheme: str, counted: bool) -> None:
    dataset.run(1, {"reader-a1": [(tag_epc.lower(), 1, -50.0)]})
    tag = dataset.inventory.tag(tag_epc)
    assert tag is not None
    assert tag.present
    assert tag.zone == "aisle-1"
    assert (tag.identity.gtin, tag.identity.scheme) == (gtin, scheme)
    assert dataset.inventory.counts == ({("aisle-1", gtin): 1} if counted and gtin else {})
    [arrived] = dataset.events
    assert arrived.gtin == (gtin if counted else None)
    if scheme == "sgtin-198":
        assert tag.identity.serial == "AB-7x"


def test_garbage_epcs_are_dropped_and_counted_by_reason(dataset: Dataset) -> None:
    reads: list[Read] = [
        ("DEADBEEF", 1, -50.0),
        ("NOT-HEX!", 1, -50.0),
        ("30FFFFFFFFFFFFFFFFFFFFFF", 1, -50.0),
    ]
    dataset.run(3, {"reader-a1": reads})
    assert dataset.events == []
    assert len(dataset.inventory) == 0
    assert dataset.counters["epc_unknown_header"] == 3
    assert dataset.counters["epc_not_hex"] == 3
    assert dataset.counters["epc_undecodable"] == 3


@pytest.mark.parametrize("skew_s", [-2 * YEAR_S, +2 * YEAR_S, -3600.0])
def test_reader_clock_offset_is_corrected(dataset: Dataset, skew_s: float) -> None:
    dataset.clock_skew["reader-a1"] = skew_s
    dataset.run(3, at("reader-a1"))
    tag = dataset.inventory.tag(TAG)
    assert tag is not None
    assert dataset.now - 1.0 <= tag.last_seen <= dataset.now  # in our clock, not the reader's
    offset = dataset.normalizer.clocks["reader-a1"].offset
    assert offset == pytest.approx(-skew_s, abs=1.0)
    dataset.run(59)
    assert dataset.zone_of(TAG) == "aisle-1"
    dataset.run(3)
    assert dataset.zone_of(TAG) is None


def test_departed_tags_age_out_after_the_retention() -> None:
    dataset = Dataset(settings=RfidSettings(departed_retention_s=100.0))
    dataset.run(1, at("reader-a1"))
    dataset.run(62)
    assert dataset.inventory.tag(TAG) is not None
    dataset.run(101)
    assert dataset.inventory.tag(TAG) is None
    dataset.run(1, at("reader-a1"))
    assert dataset.kinds()[-1] == ARRIVED  # forgotten: a new arrival, not a return


def test_without_the_store_wide_hold_only_the_tags_own_zone_counts() -> None:
    dataset = Dataset(settings=RfidSettings(store_wide_hold=False))
    dataset.run(1, at("reader-a1"))
    dataset.status("reader-a2", online=False)
    dataset.run(62)
    assert dataset.kinds() == [ARRIVED, ("departed", "aisle-1", None, "timeout")]
