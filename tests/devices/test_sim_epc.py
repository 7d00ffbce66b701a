"""SGTIN-96 encoding: every simulated item's EPC decodes (epcpy) back to its product's GTIN."""

from __future__ import annotations

import random

import pytest
from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue
from epcpy.utils.parsers import hex_to_tag_encodable

from smartstore.devices.sim.epc import EpcError, sgtin96
from smartstore.devices.sim.scheduler import EventQueue
from smartstore.devices.sim.settings import WorldSettings
from smartstore.devices.sim.world import World
from smartstore.kernel.storeconfig import StoreConfig


def test_matches_epcpy_encoder_bit_for_bit() -> None:
    gtin = "09506000100005"
    for serial in (0, 1, 12345, 2**38 - 1):
        expected = SGTIN.from_gtin_plus_serial(gtin, str(serial), 7).hex(
            binary_coding_scheme=SGTIN.BinaryCodingScheme.SGTIN_96, filter_value=SGTINFilterValue.POS_ITEM
        )
        assert sgtin96(gtin, serial) == expected.zfill(24)


def test_header_filter_and_partition() -> None:
    value = int(sgtin96("09506000100005", 42), 16)
    assert value >> 88 == 0x30
    assert (value >> 85) & 0b111 == 1  # POS item
    assert (value >> 82) & 0b111 == 5  # 7-digit company prefix
    assert value & (2**38 - 1) == 42


def test_every_item_of_the_example_store_decodes_to_its_gtin(example_store: StoreConfig) -> None:
    world = World(example_store, WorldSettings(), random.Random(7), EventQueue())
    tagged = [item for item in world.items.values() if item.epc is not None]
    assert len(tagged) > 3000
    epcs = [item.epc for item in tagged]
    assert len(set(epcs)) == len(epcs), "EPCs must be unique"
    for item in tagged:
        assert item.epc is not None
        assert len(item.epc) == 24
        tag = hex_to_tag_encodable(item.epc)
        assert isinstance(tag, SGTIN)
        assert tag.gtin() == item.gtin
        assert tag.tag_uri(SGTIN.BinaryCodingScheme.SGTIN_96, SGTINFilterValue.POS_ITEM).startswith(
            "urn:epc:tag:sgtin-96:1.9506000."
        )


def test_untagged_products_carry_no_tag(example_store: StoreConfig) -> None:
    world = World(example_store, WorldSettings(), random.Random(7), EventQueue())
    untagged = {p.gtin for p in example_store.catalog if not p.rfid_tagged}
    assert untagged
    for item in world.items.values():
        assert (item.epc is None) == (item.gtin in untagged)


@pytest.mark.parametrize(
    ("gtin", "serial", "prefix_length"),
    [
        ("09506000100006", 1, 7),  # wrong check digit
        ("09506000100005", 2**38, 7),  # serial beyond 38 bits
        ("09506000100005", -1, 7),
        ("09506000100005", 1, 5),  # no such partition
    ],
)
def test_rejects_what_sgtin96_cannot_carry(gtin: str, serial: int, prefix_length: int) -> None:
    with pytest.raises(EpcError):
        sgtin96(gtin, serial, prefix_length)
